/* Common state and the guarded call path of every remote backend; embedding batch planning and
 * response parsing shared by the embedders and rerankers. */
#include "models/models_internal.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_BASE_URL 1024
#define MAX_MODEL_ID 200
#define MAX_DIM 65536

const char *mdl_default_model(const char *kind, const char *type)
{
    static const struct {
        const char *kind, *type, *model;
    } defaults[] = {
        {"embedder", "huggingface_api", "sentence-transformers/all-MiniLM-L6-v2"},
        {"embedder", "tei", ""},
        {"embedder", "ollama", "all-minilm"},
        {"reranker", "huggingface_api", "cross-encoder/ms-marco-MiniLM-L6-v2"},
        {"reranker", "tei", ""},
        {"generator", "huggingface", "meta-llama/Llama-3.1-8B-Instruct"},
        {"generator", "ollama", "llama3.2"},
    };
    if (!kind || !type)
        return NULL;
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (!strcmp(defaults[i].kind, kind) && !strcmp(defaults[i].type, type))
            return defaults[i].model;
    return NULL;
}

double mdl_now(const rag_models_env *env)
{
    if (env && env->timer && env->timer->now_ms)
        return env->timer->now_ms(env->timer->ud);
    return rag_now_ms();
}

/* Model ids go into URL paths and messages: letters, digits and ._-/:@+ only. */
static bool model_id_ok(const char *m)
{
    size_t n = strlen(m);
    if (n > MAX_MODEL_ID)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)m[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._-/:@+", c)))
            return false;
    }
    return !strstr(m, "..");
}

/* True when the URL's host is huggingface.co or a subdomain of it. */
static bool hf_host(const char *url)
{
    const char *h = strstr(url, "://");
    if (!h)
        return false;
    h += 3;
    size_t n = strcspn(h, "/:?#");
    const char *suffix = "huggingface.co";
    size_t sl = strlen(suffix);
    if (n < sl || strncasecmp(h + n - sl, suffix, sl) != 0)
        return false;
    return n == sl || h[n - sl - 1] == '.';
}

/* True when url's host is loopback: "localhost", 127.0.0.0/8 as a dotted quad, [::1] or
 * [::ffff:127.x.y.z]. Anything else, or an unparsable authority, is not. */
static bool url_host_is_loopback(const char *url)
{
    const char *h = url ? strstr(url, "://") : NULL;
    if (!h)
        return false;
    h += 3;
    size_t alen = strcspn(h, "/?#"); /* the authority: [userinfo@]host[:port] */
    for (size_t i = alen; i > 0; i--)
        if (h[i - 1] == '@') { /* the host follows the last '@' */
            alen -= i;
            h += i;
            break;
        }
    char host[256];
    size_t hlen;
    if (alen > 0 && h[0] == '[') {
        const char *close = memchr(h, ']', alen);
        if (!close)
            return false;
        hlen = (size_t)(close - h - 1);
        h++;
    } else {
        const char *colon = memchr(h, ':', alen);
        hlen = colon ? (size_t)(colon - h) : alen;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (!strcasecmp(host, "localhost"))
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1) /* dotted quads only: "127.1" or "2130706433" are not loopback here */
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return IN6_IS_ADDR_LOOPBACK(&a6) || (!memcmp(a6.s6_addr, v4mapped, sizeof v4mapped) && a6.s6_addr[12] == 127);
    }
    return false;
}

void mdl_backend_fini(mdl_backend *b)
{
    if (!b)
        return;
    free(b->type);
    free(b->model);
    free(b->base);
    if (b->api_key) { /* do not leave the secret in freed memory */
        memset(b->api_key, 0, strlen(b->api_key));
        free(b->api_key);
    }
    memset(b, 0, sizeof *b);
}

rag_status mdl_backend_init(mdl_backend *b, const char *kind, const rag_backend_config *cfg,
                            const rag_models_env *env, const char *default_base, int max_batch, rag_err *err)
{
    memset(b, 0, sizeof *b);
    if (!cfg || !cfg->type)
        return rag_err_set(err, RAG_E_CONFIG, "%s backend: no config or type", kind);
    b->env = env;
    b->kind = kind;
    const char *model = cfg->model ? cfg->model : mdl_default_model(kind, cfg->type);
    if (!model)
        return rag_err_set(err, RAG_E_CONFIG, "%s %s: 'model' is required", kind, cfg->type);
    if (!model_id_ok(model))
        return rag_err_set(err, RAG_E_CONFIG,
                           "%s %s: model id '%.80s' has characters other than letters, digits and ._-/:@+ "
                           "(or is longer than %d bytes)",
                           kind, cfg->type, model, MAX_MODEL_ID);
    const char *base = cfg->base_url && *cfg->base_url ? cfg->base_url : default_base;
    if (!base)
        return rag_err_set(err, RAG_E_CONFIG, "%s %s: 'base_url' is required", kind, cfg->type);
    size_t bl = strlen(base);
    if (bl > MAX_BASE_URL || (strncasecmp(base, "http://", 7) != 0 && strncasecmp(base, "https://", 8) != 0))
        return rag_err_set(err, RAG_E_CONFIG, "%s %s: base_url '%.80s' must be an http:// or https:// URL of at most %d bytes",
                           kind, cfg->type, base, MAX_BASE_URL);
    if (cfg->api_key && *cfg->api_key && strncasecmp(base, "http://", 7) == 0 && !url_host_is_loopback(base))
        return rag_err_set(err, RAG_E_CONFIG,
                           "%s %s: api_key is set but base_url '%.200s' is plain http:// to a host that is not "
                           "loopback (localhost, 127.0.0.0/8, ::1): the key would cross the network unencrypted; "
                           "use https://, or remove the api_key",
                           kind, cfg->type, base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    b->type = rag_strdup(cfg->type);
    b->model = rag_strdup(model);
    b->base = rag_strndup(base, bl);
    b->api_key = cfg->api_key && *cfg->api_key ? rag_strdup(cfg->api_key) : NULL;
    if (!b->type || !b->model || !b->base || (cfg->api_key && *cfg->api_key && !b->api_key)) {
        mdl_backend_fini(b);
        return rag_err_set(err, RAG_E_NOMEM, "%s %s: out of memory", kind, cfg->type);
    }
    b->needs_key = hf_host(b->base);
    double dt = env && env->default_timeout_ms > 0 ? env->default_timeout_ms : 30000.0;
    b->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : dt;
    b->max_retries = cfg->max_retries >= 0 ? cfg->max_retries : -1;
    b->batch_size = cfg->batch_size > 0 ? cfg->batch_size : RAG_MODELS_DEFAULT_BATCH;
    if (max_batch > 0 && b->batch_size > max_batch) {
        rag_log(RAG_LOG_INFO, "%s %s: batch_size %d capped at %d", kind, cfg->type, b->batch_size, max_batch);
        b->batch_size = max_batch;
    }
    b->normalize = cfg->normalize != 0; /* -1 (unset) = true */
    b->max_tokens = cfg->max_tokens > 0 ? cfg->max_tokens : -1;
    b->temperature = cfg->temperature >= 0 ? cfg->temperature : -1;
    b->num_ctx = cfg->num_ctx > 0 ? cfg->num_ctx : RAG_MODELS_OLLAMA_NUM_CTX;
    b->price_in = cfg->price_input_per_mtok >= 0 ? cfg->price_input_per_mtok : -1;
    b->price_out = cfg->price_output_per_mtok >= 0 ? cfg->price_output_per_mtok : -1;
    b->price_call = cfg->price_per_call >= 0 ? cfg->price_per_call : -1;
    return RAG_OK;
}

char *mdl_url(const mdl_backend *b, const char *fmt, ...)
{
    rag_buf u;
    rag_buf_init(&u, MAX_BASE_URL + 1024);
    va_list ap;
    va_start(ap, fmt);
    char path[1024];
    int n = vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof path || rag_buf_append_str(&u, b->base) != RAG_OK ||
        rag_buf_append_str(&u, path) != RAG_OK) {
        rag_buf_free(&u);
        return NULL;
    }
    return rag_buf_steal(&u);
}

rag_status mdl_fail(const mdl_backend *b, const char *model, rag_err *err, rag_status status, const char *fmt, ...)
{
    if (!err)
        return status;
    char msg[RAG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!model)
        model = b->model;
    rag_err_set(err, status, "%s%s%s: %s", b->type, *model ? " " : "", model, msg);
    rag_net_redact(err->msg, b->api_key);
    return status;
}

rag_status mdl_call(const mdl_backend *b, rag_models_request *rq, const char *model, rag_net_request *req,
                    rag_net_response *resp, rag_call_stats *stats, mdl_call_info *ci, rag_err *err)
{
    ci->ms = 0;
    ci->attempts = 0;
    const rag_models_env *env = b->env;
    if (!env || !env->net)
        return mdl_fail(b, model, err, RAG_E_CONFIG, "no net client in the models environment");
    if (b->needs_key && !b->api_key)
        return mdl_fail(b, model, err, RAG_E_AUTH, "no api_key configured for %s (set HF_TOKEN); not calling",
                        b->base);
    rag_status st = rag_budget_check(env->budget, rq ? rq->spent_usd : 0.0, err);
    if (st != RAG_OK) {
        char msg[RAG_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "budget reached");
        return mdl_fail(b, model, err, st, "%s; not calling", msg);
    }
    rag_net_retry_params rp;
    req->retry = NULL;
    if (b->max_retries >= 0 || env->retry) {
        rp = env->retry ? *env->retry : rag_net_retry_default_params();
        if (b->max_retries >= 0)
            rp.max_retries = b->max_retries;
        req->retry = &rp;
    }
    req->backend = b->type;
    req->model = model;
    req->bearer_token = b->api_key;
    req->deadline_ms = mdl_now(env) + b->timeout_ms;
    req->cancel = rq && rq->cancel ? rq->cancel : env->cancel;
    rag_net_outcome out;
    st = rag_net_call(env->net, req, resp, &out, err);
    req->retry = NULL; /* rp is local */
    ci->ms = out.total_ms;
    ci->attempts = out.attempts;
    if (stats) {
        stats->requests++;
        stats->attempts += out.attempts;
        stats->retries += out.retries;
        if (out.attempts > 0) {
            stats->http_status = out.http_status;
            snprintf(stats->request_id, sizeof stats->request_id, "%s", out.request_id);
            if (out.provider[0])
                snprintf(stats->provider, sizeof stats->provider, "%s", out.provider);
        }
    }
    if (st != RAG_OK && err)
        rag_net_redact(err->msg, b->api_key);
    return st;
}

void mdl_done(const mdl_backend *b, rag_models_request *rq, rag_call_stats *stats, const mdl_call_info *ci,
              rag_status final, double cost, bool known)
{
    if (!(cost > 0) || !isfinite(cost))
        cost = 0;
    if (ci && ci->attempts > 0)
        rag_budget_record(b->env ? b->env->budget : NULL, final != RAG_OK && final != RAG_E_CANCELLED, ci->ms,
                          cost);
    if (rq)
        rq->spent_usd += cost;
    if (stats) {
        stats->cost_usd += cost;
        stats->cost_known = stats->cost_known || known;
    }
}

char *mdl_dump(const json_t *v, size_t *len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && len)
        *len = strlen(s);
    return s;
}

json_t *mdl_json_text(const char *text)
{
    if (!text || !rag_utf8_valid(text, strlen(text), NULL))
        return NULL;
    return json_string(text);
}

rag_status mdl_plan_batch(const mdl_backend *b, size_t n, size_t start, size_t max_batch, mdl_body_fn build,
                          void *ud, char **body, size_t *body_len, size_t *count, rag_err *err)
{
    *body = NULL;
    *body_len = 0;
    *count = 0;
    size_t c = n - start < max_batch ? n - start : max_batch;
    if (c == 0)
        c = 1;
    for (;;) {
        json_t *j = NULL;
        rag_status st = build(ud, start, c, &j, err);
        if (st != RAG_OK)
            return st;
        size_t len = 0;
        char *s = mdl_dump(j, &len);
        json_decref(j);
        if (!s)
            return mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory serialising the request");
        if (len < RAG_MODELS_MAX_PAYLOAD) {
            *body = s;
            *body_len = len;
            *count = c;
            return RAG_OK;
        }
        free(s);
        if (c == 1)
            return mdl_fail(b, NULL, err, RAG_E_TOO_LARGE,
                            "input %zu makes a %zu-byte request body; one request must stay under %d bytes", start,
                            len, RAG_MODELS_MAX_PAYLOAD);
        c /= 2;
    }
}

void mdl_chat_acc_init(mdl_chat_acc *a, const mdl_backend *b, rag_gen_token_fn on_token, void *ud, bool stream)
{
    memset(a, 0, sizeof *a);
    a->b = b;
    rag_buf_init(&a->text, RAG_MODELS_MAX_TEXT);
    a->on_token = on_token;
    a->ud = ud;
    a->stream = stream;
}

void mdl_chat_acc_free(mdl_chat_acc *a)
{
    rag_buf_free(&a->text);
}

rag_status mdl_chat_acc_take(mdl_chat_acc *a, const char *model, rag_gen_result *result, rag_call_stats *stats,
                             rag_err *err)
{
    if (!(result->text = rag_buf_steal(&a->text)))
        return mdl_fail(a->b, model, err, RAG_E_NOMEM, "out of memory");
    result->prompt_tokens = a->prompt_tokens;
    result->completion_tokens = a->completion_tokens;
    snprintf(result->finish_reason, sizeof result->finish_reason, "%s", a->finish);
    if (stats) {
        stats->tokens_in += a->prompt_tokens;
        stats->tokens_out += a->completion_tokens;
    }
    return RAG_OK;
}

rag_status mdl_chat_parse_with(const mdl_backend *b, const json_t *v,
                               rag_status (*take)(mdl_chat_acc *a, const json_t *v, rag_err *err),
                               rag_gen_result *result, rag_err *err)
{
    memset(result, 0, sizeof *result);
    mdl_chat_acc a;
    mdl_chat_acc_init(&a, b, NULL, NULL, false);
    rag_status st = take(&a, v, err);
    if (st != RAG_OK)
        mdl_fail(b, NULL, err, st, "%s", err ? err->msg : "bad response");
    else
        st = mdl_chat_acc_take(&a, NULL, result, NULL, err);
    mdl_chat_acc_free(&a);
    return st;
}

rag_status mdl_run_batches(const mdl_backend *b, rag_models_request *rq, const char *url, size_t n,
                           size_t proto_max_batch, mdl_body_fn build, mdl_batch_fn take, void *ud,
                           rag_call_stats *stats, rag_err *err)
{
    size_t max_batch = (size_t)b->batch_size;
    if (proto_max_batch > 0 && max_batch > proto_max_batch)
        max_batch = proto_max_batch;
    rag_net_response resp;
    rag_net_response_init(&resp);
    rag_status st = RAG_OK;
    for (size_t start = 0; start < n && st == RAG_OK;) {
        char *body = NULL;
        size_t len = 0, count = 0;
        st = mdl_plan_batch(b, n, start, max_batch, build, ud, &body, &len, &count, err);
        if (st != RAG_OK)
            break;
        rag_net_request req;
        memset(&req, 0, sizeof req);
        req.method = RAG_HTTP_POST;
        req.url = url;
        req.body = body;
        req.body_len = len;
        req.expect_json = true;
        mdl_call_info ci;
        st = mdl_call(b, rq, b->model, &req, &resp, stats, &ci, err);
        if (st == RAG_OK)
            st = take(ud, resp.json, start, count, stats, err);
        bool priced = b->price_call >= 0;
        mdl_done(b, rq, stats, &ci, st, st == RAG_OK && priced ? b->price_call : 0, st == RAG_OK && priced);
        free(body);
        start += count;
    }
    rag_net_response_free(&resp);
    return st;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

rag_status mdl_embed_rows(const mdl_backend *b, const json_t *rows, size_t row0, size_t count, size_t n_total,
                          float **vecs, int *dim, rag_err *err)
{
    if (!rows || !json_is_array(rows))
        return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "embedding response is %s, expected an array",
                        rows ? json_kind(rows) : "missing");
    size_t nr = json_array_size(rows);
    const json_t *first = json_array_get(rows, 0);
    bool one_d = false;
    if (nr > 0 && json_is_number(first)) {
        if (count != 1)
            return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "got one 1-D embedding for %zu inputs", count);
        one_d = true;
    } else if (nr > 0 && json_is_array(first) && json_is_array(json_array_get(first, 0))) {
        int depth = json_is_array(json_array_get(json_array_get(first, 0), 0)) ? 4 : 3;
        return mdl_fail(b, NULL, err, RAG_E_CONFIG,
                        "returns token-level embeddings (%d-D output); use a sentence-transformers model", depth);
    }
    size_t got = one_d ? 1 : nr;
    if (got != count)
        return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "returned %zu embeddings for %zu inputs", got, count);
    for (size_t i = 0; i < count; i++) {
        const json_t *row = one_d ? rows : json_array_get(rows, i);
        size_t g = row0 + i;
        if (!json_is_array(row))
            return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "embedding %zu is %s, expected an array of numbers", g,
                            json_kind(row));
        size_t d = json_array_size(row);
        if (d == 0)
            return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "embedding %zu is empty", g);
        if (*dim == 0) {
            if (d > MAX_DIM || n_total > SIZE_MAX / sizeof(float) / d)
                return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "embedding %zu has %zu dimensions (more than %d)", g,
                                d, MAX_DIM);
            float *v = calloc(n_total * d, sizeof *v);
            if (!v)
                return mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory for %zu x %zu floats", n_total, d);
            free(*vecs);
            *vecs = v;
            *dim = (int)d;
        } else if (d != (size_t)*dim) {
            return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "embedding %zu has %zu dimensions, expected %d", g, d, *dim);
        }
        float *out = *vecs + g * (size_t)*dim;
        for (size_t j = 0; j < d; j++) {
            const json_t *x = json_array_get(row, j);
            if (!json_is_number(x))
                return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "embedding %zu value %zu is %s, expected a number", g,
                                j, json_kind(x));
            double f = json_number_value(x);
            if (!isfinite(f) || fabs(f) > 3.0e38)
                return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "embedding %zu value %zu is not a finite float", g, j);
            out[j] = (float)f;
        }
    }
    return RAG_OK;
}

void mdl_l2_normalize(float *vecs, size_t n, int dim)
{
    for (size_t i = 0; i < n; i++) {
        float *v = vecs + i * (size_t)dim;
        double s = 0;
        for (int j = 0; j < dim; j++)
            s += (double)v[j] * v[j];
        if (s > 0) {
            double inv = 1.0 / sqrt(s);
            for (int j = 0; j < dim; j++)
                v[j] = (float)(v[j] * inv);
        }
    }
}

rag_status mdl_url_backend_create(const char *kind, const char *type, const rag_backend_config *cfg,
                                  const rag_models_env *env, const char *default_base, int max_batch,
                                  const char *path_head, const char *path_tail, void **ctx, rag_err *err)
{
    *ctx = NULL;
    mdl_url_backend *u = calloc(1, sizeof *u);
    if (!u)
        return rag_err_set(err, RAG_E_NOMEM, "%s %s: out of memory", kind, type);
    rag_status st = mdl_backend_init(&u->b, kind, cfg, env, default_base, max_batch, err);
    if (st != RAG_OK) {
        free(u);
        return st;
    }
    u->url = path_tail ? mdl_url(&u->b, "%s%s%s", path_head, u->b.model, path_tail) : mdl_url(&u->b, "%s", path_head);
    if (!u->url) {
        mdl_url_backend_destroy(u);
        return rag_err_set(err, RAG_E_NOMEM, "%s %s: out of memory", kind, type);
    }
    *ctx = u;
    return RAG_OK;
}

void mdl_url_backend_destroy(void *ctx)
{
    mdl_url_backend *u = ctx;
    if (!u)
        return;
    mdl_backend_fini(&u->b);
    free(u->url);
    free(u);
}
