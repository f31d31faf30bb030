/* libFuzzer target: the JSON response parsers of every remote adapter in src/models, called
 * directly (no network): what each backend applies to a 2xx response body.
 *
 * Input: byte 0 = selector: bits 0-3 pick the parser (modulo N_PARSERS), bits 4-7 are a
 * parameter p; the rest is the response body (parsed with json_loadb(JSON_DECODE_ANY) as
 * rag_net_call does; the SSE parser gets the raw bytes).
 *   0 hf_embed     hf-inference feature-extraction rows (2-D, 1-D, 3-D/4-D token level) -> mdl_embed_rows
 *   1 tei_embed    TEI /embed rows
 *   2 ollama_embed Ollama /api/embed {"embeddings","prompt_eval_count"}
 *   3 hf_rerank    hf-inference text-classification scores (nested or flat lists)
 *   4 tei_rerank   TEI /rerank [{"index","score"}]
 *   5 chat         OpenAI-compatible / HF router chat.completion (non-stream) incl. usage
 *   6 chat_sse     the same protocol streamed: chat.completion.chunk events, usage chunk, [DONE]
 *   7 ollama_chat  Ollama /api/chat non-stream response
 *   8 catalog      HF router /v1/models catalogue -> rag_price_from_catalog
 * p: embeddings: bits 0-1 = inputs in the batch (0 = as many as the response has, at most 64),
 * bit 2 = a second batch at row0 = count (the dimension must stay fixed), bit 3 = L2-normalise;
 * rerank: bits 0-1 = pairs (0 = the response's length), bits 2-3 = start offset; chat: bit 0 =
 * openai instead of huggingface; catalog: bits 0-1 = which data[] entry names the model, bit 2 =
 * ":cheapest" suffix, bit 3 = ask for that entry's last provider.
 *
 * Invariants: a failure has a status the backend documents, a one-line message of valid UTF-8
 * naming the backend, without the configured api_key (or a 4+ byte tail of it; the catalogue
 * lookup holds no key: its messages may quote a model id from the document); a success
 * has: embeddings = the JSON numbers as floats, dim in 1..65536, unit rows after normalising;
 * every requested score finite and nothing outside start..start+count written; chat text =
 * the content string (or the concatenated deltas, which on_token received in full), valid
 * UTF-8, token counts >= 0, finish_reason valid UTF-8; catalogue prices finite >= 0, the served
 * provider when it is listed with a price, else the cheapest live one. Suggested -max_len: 16384.
 */
#include "fuzz_common.h"

#include <math.h>

#include "models/models_internal.h"

#define KEY "sk-FuzzSecretKey0123456789"

enum { P_HF_EMBED, P_TEI_EMBED, P_OLLAMA_EMBED, P_HF_RERANK, P_TEI_RERANK, P_CHAT, P_CHAT_SSE, P_OLLAMA_CHAT,
       P_CATALOG, N_PARSERS };

/* Backends built once (harness state; freed at exit by the OS). */
static mdl_backend g_hf_embed, g_tei, g_ollama_embed, g_hf_rerank, g_router, g_openai, g_ollama_chat;

static void init_backend(mdl_backend *b, const char *kind, const char *type, const char *model, const char *base)
{
    rag_backend_config cfg = rag_backend_config_unset(type, model);
    cfg.base_url = base;
    cfg.api_key = KEY;
    rag_err err;
    if (mdl_backend_init(b, kind, &cfg, NULL, base, 0, &err) != RAG_OK) {
        fprintf(stderr, "fuzz_models_responses: %s\n", err.msg);
        abort(); /* harness failure */
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    init_backend(&g_hf_embed, "embedder", "huggingface_api", NULL, RAG_MODELS_HF_BASE);
    init_backend(&g_tei, "embedder", "tei", NULL, RAG_MODELS_TEI_BASE);
    init_backend(&g_ollama_embed, "embedder", "ollama", NULL, RAG_MODELS_OLLAMA_BASE);
    init_backend(&g_hf_rerank, "reranker", "huggingface_api", NULL, RAG_MODELS_HF_BASE);
    init_backend(&g_router, "generator", "huggingface", NULL, RAG_MODELS_HF_BASE);
    init_backend(&g_openai, "generator", "openai", "gpt-4o-mini", RAG_MODELS_OPENAI_BASE);
    init_backend(&g_ollama_chat, "generator", "ollama", NULL, RAG_MODELS_OLLAMA_BASE);
    return 0;
}

/* s does not end with 4+ bytes of KEY (what a cut at a cap would leave of it). */
static bool no_key_tail(const char *s)
{
    size_t n = strlen(s), t = strlen(KEY);
    for (size_t k = 4; k < t && k <= n; k++)
        if (!memcmp(s + n - k, KEY, k))
            return false;
    return true;
}

/* One line of valid UTF-8, NUL-terminated inside cap. */
static void check_msg(const char *msg, size_t cap)
{
    size_t n = strnlen(msg, cap);
    FUZZ_CHECK(n > 0 && n < cap);
    FUZZ_CHECK(fuzz_utf8_ok(msg, n));
    FUZZ_CHECK(!memchr(msg, '\n', n));
}

/* A backend failure: documented status, message "<type> <model>: ..." (see mdl_fail), redacted. */
static void check_fail(const mdl_backend *b, rag_status st, const rag_err *err)
{
    FUZZ_CHECK(st != RAG_OK && err->status == st);
    check_msg(err->msg, sizeof err->msg);
    FUZZ_CHECK(!strncmp(err->msg, b->type, strlen(b->type)));
    FUZZ_CHECK(!strstr(err->msg, KEY) && no_key_tail(err->msg));
}

static size_t clamp_count(size_t n)
{
    return n == 0 ? 1 : n > 64 ? 64 : n;
}

/* ---- embeddings ---- */

static void check_rows(const json_t *rows, size_t row0, size_t count, const float *vecs, int dim)
{
    bool one_d = json_is_number(json_array_get(rows, 0));
    for (size_t i = 0; i < count; i++) {
        const json_t *row = one_d ? rows : json_array_get(rows, i);
        FUZZ_CHECK(json_array_size(row) == (size_t)dim);
        for (size_t j = 0; j < (size_t)dim; j++) {
            float want = (float)json_number_value(json_array_get(row, j));
            FUZZ_CHECK(isfinite(want) && vecs[(row0 + i) * (size_t)dim + j] == want);
        }
    }
}

static void fuzz_embed(const mdl_embed_proto *proto, const mdl_backend *b, const json_t *v, unsigned p)
{
    int64_t tokens = 0;
    const json_t *rows = proto->rows(v, &tokens);
    FUZZ_CHECK(tokens >= 0);
    if (!rows) /* mdl_embed_run: "embedding response has an unexpected shape" */
        return;
    FUZZ_CHECK(json_is_array(rows));
    size_t count = (p & 3) ? (p & 3) : clamp_count(json_array_size(rows));
    bool two = p & 4;
    size_t n_total = two ? 2 * count : count;
    float *vecs = NULL;
    int dim = 0;
    rag_err err;
    rag_status st = mdl_embed_rows(b, rows, 0, count, n_total, &vecs, &dim, &err);
    if (st == RAG_OK && two) {
        int dim0 = dim;
        st = mdl_embed_rows(b, rows, count, count, n_total, &vecs, &dim, &err);
        FUZZ_CHECK(dim == dim0);
    }
    if (st != RAG_OK) {
        check_fail(b, st, &err);
        FUZZ_CHECK(st == RAG_E_UPSTREAM || st == RAG_E_CONFIG || st == RAG_E_NOMEM);
        if (st == RAG_E_CONFIG) /* 3-D / 4-D output names the problem */
            FUZZ_CHECK(strstr(err.msg, "token-level") != NULL);
        free(vecs);
        return;
    }
    FUZZ_CHECK(vecs && dim >= 1 && dim <= 65536);
    check_rows(rows, 0, count, vecs, dim);
    if (two)
        check_rows(rows, count, count, vecs, dim);
    if (p & 8) {
        mdl_l2_normalize(vecs, n_total, dim);
        for (size_t i = 0; i < n_total; i++) {
            double s = 0;
            for (int j = 0; j < dim; j++) {
                double x = vecs[i * (size_t)dim + (size_t)j];
                FUZZ_CHECK(isfinite(x));
                s += x * x;
            }
            FUZZ_CHECK(s == 0 || fabs(sqrt(s) - 1.0) < 1e-3);
        }
    }
    free(vecs);
}

/* ---- rerank ---- */

static void fuzz_rerank(const mdl_rerank_proto *proto, const mdl_backend *b, const json_t *v, unsigned p)
{
    size_t count = (p & 3) ? (p & 3) : clamp_count(json_is_array(v) ? json_array_size(v) : 1);
    size_t start = (p >> 2) & 3;
    double scores[64 + 3 + 1];
    for (size_t i = 0; i < sizeof scores / sizeof scores[0]; i++)
        scores[i] = NAN;
    rag_err err;
    rag_status st = proto->scores(b, v, start, count, scores, &err);
    if (st != RAG_OK) {
        check_fail(b, st, &err);
        FUZZ_CHECK(st == RAG_E_UPSTREAM || st == RAG_E_NOMEM);
        return;
    }
    for (size_t i = 0; i < sizeof scores / sizeof scores[0]; i++)
        FUZZ_CHECK((i >= start && i < start + count) ? isfinite(scores[i]) : isnan(scores[i]));
}

/* ---- chat ---- */

static void check_result(const rag_gen_result *r)
{
    FUZZ_CHECK(r->text != NULL);
    size_t n = strlen(r->text);
    FUZZ_CHECK(n <= RAG_MODELS_MAX_TEXT && fuzz_utf8_ok(r->text, n));
    FUZZ_CHECK(r->prompt_tokens >= 0 && r->completion_tokens >= 0);
    size_t f = strnlen(r->finish_reason, sizeof r->finish_reason);
    FUZZ_CHECK(f < sizeof r->finish_reason && fuzz_utf8_ok(r->finish_reason, f));
    FUZZ_CHECK(r->model_used == NULL && r->provider == NULL);
}

static void check_content(const rag_gen_result *r, const json_t *content)
{
    FUZZ_CHECK(json_is_string(content));
    FUZZ_CHECK(strlen(r->text) == json_string_length(content) && !strcmp(r->text, json_string_value(content)));
}

static void fuzz_chat(const mdl_backend *b, const json_t *v)
{
    rag_gen_result r;
    rag_err err;
    rag_status st = mdl_chat_parse_response(b, v, &r, &err);
    if (st != RAG_OK) {
        check_fail(b, st, &err);
        FUZZ_CHECK(st == RAG_E_UPSTREAM || st == RAG_E_TOO_LARGE || st == RAG_E_NOMEM);
        FUZZ_CHECK(r.text == NULL);
        return;
    }
    check_result(&r);
    check_content(&r, json_object_get(json_object_get(json_array_get(json_object_get(v, "choices"), 0), "message"),
                                      "content"));
    rag_gen_result_free(&r);
}

static void on_token(void *ud, const char *text, size_t len)
{
    FUZZ_CHECK(len > 0);
    FUZZ_CHECK(rag_buf_append(ud, text, len) == RAG_OK);
}

static void fuzz_chat_sse(const mdl_backend *b, const uint8_t *body, size_t len)
{
    /* in its own allocation, so an overread past the body is caught */
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    if (len)
        memcpy(copy, body, len);
    rag_buf got;
    rag_buf_init(&got, 0);
    rag_gen_result r;
    rag_err err;
    rag_status st = mdl_chat_parse_sse(b, copy, len, on_token, &got, &r, &err);
    if (st != RAG_OK) {
        check_fail(b, st, &err);
        FUZZ_CHECK(st == RAG_E_UPSTREAM || st == RAG_E_TOO_LARGE || st == RAG_E_NOMEM);
        FUZZ_CHECK(r.text == NULL);
    } else {
        check_result(&r);
        /* on_token received exactly the answer */
        FUZZ_CHECK(got.len == strlen(r.text) && (got.len == 0 || !memcmp(got.data, r.text, got.len)));
        rag_gen_result_free(&r);
    }
    rag_buf_free(&got);
    free(copy);
}

static void fuzz_ollama_chat(const mdl_backend *b, const json_t *v)
{
    rag_gen_result r;
    rag_err err;
    rag_status st = mdl_ollama_chat_parse_response(b, v, &r, &err);
    if (st != RAG_OK) {
        check_fail(b, st, &err);
        FUZZ_CHECK(st == RAG_E_UPSTREAM || st == RAG_E_TOO_LARGE || st == RAG_E_NOMEM);
        FUZZ_CHECK(r.text == NULL);
        return;
    }
    check_result(&r);
    FUZZ_CHECK(json_is_true(json_object_get(v, "done")));
    const json_t *content = json_object_get(json_object_get(v, "message"), "content");
    if (json_is_string(content))
        check_content(&r, content);
    else
        FUZZ_CHECK(r.text[0] == '\0');
    rag_gen_result_free(&r);
}

/* ---- catalogue ---- */

/* The price of provider object p as the catalogue contract defines it (both numbers finite >= 0). */
static bool priced(const json_t *p, double *sum)
{
    const json_t *pr = json_object_get(p, "pricing");
    const json_t *i = json_object_get(pr, "input"), *o = json_object_get(pr, "output");
    if (!json_is_string(json_object_get(p, "provider")) || !json_is_number(i) || !json_is_number(o))
        return false;
    double a = json_number_value(i), c = json_number_value(o);
    *sum = a + c;
    return isfinite(a) && isfinite(c) && a >= 0 && c >= 0;
}

static void fuzz_catalog(const json_t *doc, unsigned p)
{
    const json_t *data = json_object_get(doc, "data");
    const json_t *pick = json_array_get(data, p & 3);
    const char *id = json_string_value(json_object_get(pick, "id"));
    char model[512];
    snprintf(model, sizeof model, "%s%s", id && strlen(id) < 256 ? id : "absent/model", (p & 4) ? ":cheapest" : "");
    size_t ml = strcspn(model, ":");
    /* the entry the lookup must use: the first whose id is the model without its suffix */
    const json_t *entry = NULL;
    for (size_t i = 0; i < json_array_size(data) && !entry; i++) {
        const char *e = json_string_value(json_object_get(json_array_get(data, i), "id"));
        if (e && strlen(e) == ml && !strncmp(e, model, ml))
            entry = json_array_get(data, i);
    }
    const json_t *provs = json_object_get(entry, "providers");
    const char *provider = NULL;
    if ((p & 8) && json_array_size(provs) > 0)
        provider = json_string_value(json_object_get(json_array_get(provs, json_array_size(provs) - 1), "provider"));
    double in = -1, out = -1;
    char used[24];
    memset(used, 'x', sizeof used);
    rag_err err;
    rag_status st = rag_price_from_catalog(doc, model, provider, &in, &out, used, sizeof used, &err);
    if (st != RAG_OK) {
        FUZZ_CHECK(err.status == st && (st == RAG_E_NOT_FOUND || st == RAG_E_UPSTREAM));
        check_msg(err.msg, sizeof err.msg);
        FUZZ_CHECK(st == RAG_E_UPSTREAM ? !json_is_array(data) : true);
        return;
    }
    FUZZ_CHECK(entry != NULL);
    FUZZ_CHECK(isfinite(in) && isfinite(out) && in >= 0 && out >= 0);
    size_t ul = strnlen(used, sizeof used);
    FUZZ_CHECK(ul < sizeof used);
    /* the provider taken: the named one when it is listed with a price, else the cheapest live one */
    bool named = false;
    double best = INFINITY;
    for (size_t i = 0; i < json_array_size(provs); i++) {
        const json_t *pv = json_array_get(provs, i);
        double sum;
        if (!priced(pv, &sum))
            continue;
        const char *name = json_string_value(json_object_get(pv, "provider"));
        if (provider && *provider && !strcmp(name, provider))
            named = true;
        const json_t *status = json_object_get(pv, "status");
        if (!json_is_string(status) || !strcmp(json_string_value(status), "live"))
            best = sum < best ? sum : best;
    }
    if (named)
        FUZZ_CHECK(!strncmp(used, provider, ul) && (ul == sizeof used - 1 || provider[ul] == '\0'));
    else
        FUZZ_CHECK(in + out <= best);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned which = (data[0] & 15u) % N_PARSERS, p = data[0] >> 4;
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    if (which == P_CHAT_SSE) {
        fuzz_chat_sse(&g_router, body, len);
        return 0;
    }
    json_error_t je;
    json_t *v = json_loadb((const char *)body, len, JSON_DECODE_ANY, &je);
    if (!v) /* rag_net_call fails a 2xx body that is not JSON before any parser sees it */
        return 0;
    switch (which) {
    case P_HF_EMBED: fuzz_embed(&mdl_hf_embed_proto, &g_hf_embed, v, p); break;
    case P_TEI_EMBED: fuzz_embed(&mdl_tei_embed_proto, &g_tei, v, p); break;
    case P_OLLAMA_EMBED: fuzz_embed(&mdl_ollama_embed_proto, &g_ollama_embed, v, p); break;
    case P_HF_RERANK: fuzz_rerank(&mdl_hf_rerank_proto, &g_hf_rerank, v, p); break;
    case P_TEI_RERANK: fuzz_rerank(&mdl_tei_rerank_proto, &g_tei, v, p); break;
    case P_CHAT: fuzz_chat((p & 1) ? &g_openai : &g_router, v); break;
    case P_OLLAMA_CHAT: fuzz_ollama_chat(&g_ollama_chat, v); break;
    case P_CATALOG: fuzz_catalog(v, p); break;
    default: break;
    }
    json_decref(v);
    return 0;
}
