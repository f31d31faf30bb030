/* Fallback chains against the fake HF server: every injected fault moves the chain to the next
 * member with the right status recorded; retry success on the same member; open circuit;
 * built-ins reported to the caller; budget refusals with nothing sent; the JSON report; config
 * helpers; no token in any message. */
#include "test_models_fake.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "ragc/config.h"

#define MAIN_MODEL "Qwen/Qwen2.5-7B-Instruct:fastest" /* faults match "fastest" */
#define NEXT_MODEL "mistralai/Mistral-7B-Instruct-v0.3"

static const rag_chat_message MSGS[] = {{"user", PROMPT}};

typedef struct rec {
    char text[4096];
    int calls, discards;
} rec;

static void rec_token(void *ud, const char *t, size_t n)
{
    rec *r = ud;
    size_t l = strlen(r->text);
    assert_true(l + n < sizeof r->text);
    memcpy(r->text + l, t, n);
    r->text[l + n] = '\0';
    r->calls++;
}

static void rec_discard(void *ud)
{
    rec *r = ud;
    r->text[0] = '\0';
    r->discards++;
}

static rag_generator_chain *gen_chain(fx *f, const rag_backend_config *m, size_t n)
{
    rag_generator_chain *c = NULL;
    rag_err err;
    if (rag_generator_chain_create(m, n, &f->env, &c, &err) != RAG_OK)
        fail_msg("chain: %s", err.msg);
    return c;
}

static void check_reasons_clean(const rag_chain_report *r, const rag_err *err)
{
    assert_no_token(err->msg);
    for (size_t i = 0; i < r->n_members; i++) {
        assert_no_token(r->members[i].reason);
        for (size_t j = 0; j < r->members[i].n_models; j++)
            assert_no_token(r->members[i].models[j].reason);
    }
    assert_report_clean(r);
}

typedef struct fault_case {
    const char *faults; /* JSON list */
    int max_retries;    /* -1 = env default (5, fast) */
    int timeout_ms;     /* -1 = env default */
    bool stream;
    rag_status want;
    int attempts;       /* attempts expected on member 0 */
} fault_case;

static void test_chain_moves_on_each_fault(void **state)
{
    (void)state;
    const fault_case cases[] = {
        {"[\"429_retry_after\"]", 0, -1, false, RAG_E_RATE_LIMITED, 1},
        {"[\"429_retry_after\",\"429_retry_after\"]", 1, -1, false, RAG_E_RATE_LIMITED, 2},
        {"[\"429_ratelimit\"]", 0, -1, false, RAG_E_RATE_LIMITED, 1},
        {"[\"500\"]", 0, -1, false, RAG_E_UPSTREAM, 1},
        {"[\"502\",\"502\"]", 1, -1, false, RAG_E_UPSTREAM, 2},
        {"[\"503\"]", 0, -1, false, RAG_E_UPSTREAM, 1},
        {"[\"504\"]", 0, -1, true, RAG_E_UPSTREAM, 1},
        {"[\"402\"]", -1, -1, false, RAG_E_BUDGET, 1},
        {"[\"401\"]", -1, -1, false, RAG_E_AUTH, 1},
        {"[\"403\"]", -1, -1, true, RAG_E_AUTH, 1},
        {"[\"404\"]", -1, -1, false, RAG_E_NOT_FOUND, 1},
        {"[\"400\"]", -1, -1, false, RAG_E_BAD_INPUT, 1},
        {"[\"422\"]", -1, -1, false, RAG_E_BAD_INPUT, 1},
        {"[\"slow:1\"]", 0, 500, false, RAG_E_TIMEOUT, 1},
        {"[\"malformed_json\"]", -1, -1, false, RAG_E_UPSTREAM, 1},
        {"[\"truncated_body\"]", 0, -1, false, RAG_E_UPSTREAM, 1},
        {"[\"close\"]", 0, -1, false, RAG_E_IO, 1},
        {"[\"sse_cut\"]", -1, -1, true, RAG_E_UPSTREAM, 1},
        {"[\"sse_error\"]", -1, -1, true, RAG_E_UPSTREAM, 1},
        {"[\"malformed_json\"]", -1, -1, true, RAG_E_UPSTREAM, 1},
        {"[\"oversize\"]", -1, -1, false, RAG_E_TOO_LARGE, 1},
        {"[\"oversize\"]", -1, -1, true, RAG_E_TOO_LARGE, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const fault_case *fc = &cases[i];
        fx *f = fx_new(); /* a fresh breaker per case */
        rag_backend_config m[2] = {fake_backend("huggingface", MAIN_MODEL), fake_backend("openai", NEXT_MODEL)};
        m[0].max_retries = fc->max_retries;
        m[0].timeout_ms = fc->timeout_ms;
        rag_generator_chain *c = gen_chain(f, m, 2);
        fake_reset();
        fake_faults("fastest", fc->faults, false);
        rag_gen_params p = rag_gen_default_params();
        p.stream = fc->stream;
        p.on_discard = rec_discard;
        rec r = {0};
        rag_gen_result res = {0};
        rag_chain_report rep;
        rag_chain_report_init(&rep);
        rag_err err;
        rag_status st = rag_generator_chain_generate(c, NULL, MSGS, 1, &p, rec_token, &r, &res, &rep, &err);
        if (st != RAG_OK)
            fail_msg("case %zu %s: %s", i, fc->faults, err.msg);
        if (rep.n_members != 2 || rep.members[0].status != fc->want)
            fail_msg("case %zu %s%s: member 0 %s (want %s): %s", i, fc->faults, fc->stream ? " stream" : "",
                     rep.n_members ? rag_status_str(rep.members[0].status) : "-", rag_status_str(fc->want),
                     rep.n_members ? rep.members[0].reason : "");
        assert_int_equal(rep.members[0].attempts, fc->attempts);
        assert_true(strlen(rep.members[0].reason) > 0);
        assert_int_equal(rep.members[0].n_models, 1);
        assert_string_equal(rep.members[0].models[0].model, MAIN_MODEL);
        assert_int_equal(rep.members[0].models[0].status, fc->want);
        assert_int_equal(rep.members[1].status, RAG_OK);
        assert_int_equal(rep.served, 1);
        assert_string_equal(rep.served_by, "openai");
        assert_string_equal(rep.served_model, NEXT_MODEL);
        assert_string_equal(res.text, ANSWER);
        assert_string_equal(res.model_used, NEXT_MODEL);
        if (fc->stream) {
            assert_string_equal(r.text, ANSWER); /* voided text of member 0 was discarded */
            assert_int_equal(r.discards, r.calls > 13 ? 1 : 0); /* 13 deltas came from member 1 */
        }
        check_reasons_clean(&rep, &err);
        rag_gen_result_free(&res);
        rag_chain_report_free(&rep);
        rag_generator_chain_free(c);
        fx_free(f);
    }
}

static void test_retry_success_same_member(void **state)
{
    (void)state;
    fx *f = fx_new();
    rag_backend_config m[2] = {fake_backend("huggingface", MAIN_MODEL), fake_backend("openai", NEXT_MODEL)};
    m[0].max_retries = 1;
    m[0].price_input_per_mtok = 0.1; /* no catalogue fetch */
    rag_generator_chain *c = gen_chain(f, m, 2);
    fake_reset();
    fake_faults("fastest", "[\"503_loading\"]", false);
    rag_gen_result res = {0};
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    rag_err err;
    if (rag_generator_chain_generate(c, NULL, MSGS, 1, NULL, NULL, NULL, &res, &rep, &err) != RAG_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(rep.n_members, 1);
    assert_int_equal(rep.served, 0);
    assert_string_equal(rep.served_by, "huggingface");
    assert_int_equal(rep.members[0].status, RAG_OK);
    assert_int_equal(rep.members[0].attempts, 2); /* 503 loading, then ok after estimated_time */
    assert_int_equal(fake_requests("chat"), 2);
    rag_gen_result_free(&res);
    rag_chain_report_free(&rep);
    rag_generator_chain_free(c);
    fx_free(f);
}

static void test_circuit_open(void **state)
{
    (void)state;
    fx *f = fx_new_breaker(1);
    rag_backend_config m[2] = {fake_backend("huggingface", MAIN_MODEL), fake_backend("openai", NEXT_MODEL)};
    m[0].max_retries = 0;
    rag_generator_chain *c = gen_chain(f, m, 2);
    fake_reset();
    fake_faults("fastest", "[\"500\"]", false);
    rag_gen_result res = {0};
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    assert_int_equal(rag_generator_chain_generate(c, NULL, MSGS, 1, NULL, NULL, NULL, &res, &rep, NULL), RAG_OK);
    assert_int_equal(rep.members[0].status, RAG_E_UPSTREAM);
    rag_gen_result_free(&res);
    fake_reset();
    rag_err err;
    assert_int_equal(rag_generator_chain_generate(c, NULL, MSGS, 1, NULL, NULL, NULL, &res, &rep, &err), RAG_OK);
    assert_int_equal(rep.members[0].status, RAG_E_CIRCUIT_OPEN);
    assert_int_equal(rep.members[0].attempts, 0);
    assert_int_equal(rep.served, 1);
    assert_int_equal(fake_requests("chat"), 1); /* only the openai member reached the server */
    rag_gen_result_free(&res);
    rag_chain_report_free(&rep);
    rag_generator_chain_free(c);
    fx_free(f);
}

static void test_ollama_member_ndjson_error(void **state)
{
    (void)state;
    fx *f = fx_new();
    rag_backend_config m[2] = {fake_backend("ollama", "llama3.2"), fake_backend("openai", NEXT_MODEL)};
    rag_generator_chain *c = gen_chain(f, m, 2);
    fake_reset();
    fake_faults("llama3.2", "[\"ndjson_error\"]", false);
    rag_gen_params p = rag_gen_default_params();
    p.stream = true;
    p.on_discard = rec_discard;
    rec r = {0};
    rag_gen_result res = {0};
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    rag_err err;
    assert_int_equal(rag_generator_chain_generate(c, NULL, MSGS, 1, &p, rec_token, &r, &res, &rep, &err), RAG_OK);
    assert_int_equal(rep.members[0].status, RAG_E_UPSTREAM);
    assert_non_null(strstr(rep.members[0].reason, "unexpected EOF"));
    assert_int_equal(r.discards, 1);
    assert_string_equal(r.text, ANSWER);
    rag_gen_result_free(&res);
    rag_chain_report_free(&rep);
    rag_generator_chain_free(c);
    fx_free(f);
}

/* A "local" embedder registered through the env: two constant dimensions. */
static rag_status local_create(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err)
{
    (void)cfg, (void)env, (void)err;
    *ctx = NULL;
    return RAG_OK;
}
static void local_destroy(void *ctx)
{
    (void)ctx;
}
static rag_status local_embed(void *ctx, rag_models_request *rq, const char *const *texts, size_t n, float **vecs,
                              int *dim, rag_call_stats *stats, rag_err *err)
{
    (void)ctx, (void)rq, (void)texts, (void)stats, (void)err;
    *vecs = calloc(n * 2, sizeof **vecs);
    for (size_t i = 0; i < n * 2; i++)
        (*vecs)[i] = 0.5f;
    *dim = 2;
    return RAG_OK;
}
static const rag_embedder_vtable local_vt = {
    .name = "local", .create = local_create, .destroy = local_destroy, .embed = local_embed};

static void test_embedder_chain(void **state)
{
    (void)state;
    fx *f = fx_new();
    const char *texts[] = {"the cat sat", "a dog"};
    rag_backend_config m[3] = {fake_backend("huggingface_api", NULL), fake_backend("tei", NULL),
                               fake_backend("none", NULL)};
    m[0].max_retries = 0;
    rag_embedder_chain *c = NULL;
    rag_err err;
    assert_int_equal(rag_embedder_chain_create(m, 3, &f->env, &c, &err), RAG_OK);
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    float *v = NULL;
    int dim = 0;
    fake_reset();
    fake_faults("feature-extraction", "[\"500\"]", false);
    assert_int_equal(rag_embedder_chain_embed(c, NULL, texts, 2, &v, &dim, &rep, &err), RAG_OK);
    assert_int_equal(dim, 384);
    assert_non_null(v);
    free(v);
    assert_int_equal(rep.members[0].status, RAG_E_UPSTREAM);
    assert_string_equal(rep.served_by, "tei");
    assert_string_equal(rep.stage, "embedder");
    /* both remote members fail: the built-in "none" is reported to the caller */
    fake_reset();
    fake_faults("", "[\"402\",\"401\"]", false);
    assert_int_equal(rag_embedder_chain_embed(c, NULL, texts, 2, &v, &dim, &rep, &err), RAG_E_UNSUPPORTED);
    assert_null(v);
    assert_int_equal(rep.n_members, 3);
    assert_int_equal(rep.members[0].status, RAG_E_BUDGET);
    assert_int_equal(rep.members[1].status, RAG_E_AUTH);
    assert_true(rep.members[2].builtin);
    assert_int_equal(rep.served, 2);
    assert_string_equal(rep.served_by, "none");
    assert_non_null(strstr(err.msg, "built-in 'none'"));
    check_reasons_clean(&rep, &err);
    rag_embedder_chain_free(c);
    /* a "local" backend registered in the env serves like any other member */
    const rag_embedder_vtable *extras[] = {&local_vt};
    f->env.embedders = extras;
    f->env.n_embedders = 1;
    rag_backend_config m2[2] = {fake_backend("huggingface_api", NULL), fake_backend("local", NULL)};
    assert_int_equal(rag_embedder_chain_create(m2, 2, &f->env, &c, &err), RAG_OK);
    fake_reset();
    fake_faults("", "[\"401\"]", false);
    assert_int_equal(rag_embedder_chain_embed(c, NULL, texts, 2, &v, &dim, &rep, &err), RAG_OK);
    assert_int_equal(dim, 2);
    assert_true(v[3] == 0.5f);
    free(v);
    assert_string_equal(rep.served_by, "local");
    assert_false(rep.members[1].builtin);
    rag_embedder_chain_free(c);
    /* without the extra, "local" is a built-in */
    f->env.embedders = NULL;
    f->env.n_embedders = 0;
    assert_int_equal(rag_embedder_chain_create(&m2[1], 1, &f->env, &c, &err), RAG_OK);
    assert_int_equal(rag_embedder_chain_embed(c, NULL, texts, 2, &v, &dim, &rep, &err), RAG_E_UNSUPPORTED);
    assert_string_equal(rep.served_by, "local");
    rag_embedder_chain_free(c);
    rag_chain_report_free(&rep);
    fx_free(f);
}

static char *yaml_config(void)
{
    char *y = malloc(2048);
    assert_non_null(y);
    snprintf(y, 2048,
             "reranker:\n"
             "  chain:\n"
             "    - type: huggingface_api\n"
             "      base_url: %s\n"
             "      api_key: %s\n"
             "      max_retries: 0\n"
             "    - type: tei\n"
             "      base_url: %s\n"
             "      api_key: %s\n"
             "answer_generator:\n"
             "  chain:\n"
             "    - type: huggingface\n"
             "      model: " MAIN_MODEL "\n"
             "      base_url: %s\n"
             "      api_key: %s\n"
             "    - type: extractive\n"
             "  max_tokens: 7\n"
             "global_settings:\n"
             "  request_timeout_ms: 4000\n",
             g_base, TOKEN, g_base, TOKEN, g_base, TOKEN);
    return y;
}

static void test_from_config(void **state)
{
    (void)state;
    fx *f = fx_new();
    char *yaml = yaml_config();
    rag_config *cfg = NULL;
    rag_err err;
    if (rag_config_load_string("chain.yaml", yaml, NULL, &cfg, &err) != RAG_OK)
        fail_msg("config: %s", err.msg);
    free(yaml);
    rag_models_env env = rag_models_env_from_config(cfg, f->net, NULL, NULL);
    assert_true(env.default_timeout_ms == 4000);
    rag_gen_params gp = rag_gen_params_from_config(cfg);
    assert_int_equal(gp.max_tokens, 7);
    /* reranker: the member without model gets retriever.neural_reranking.model */
    rag_reranker_chain *rc = NULL;
    assert_int_equal(rag_reranker_chain_from_config(cfg, &env, &rc, &err), RAG_OK);
    const char *passages[] = {"dogs", "a cat on a mat", "the cat"};
    double scores[3];
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    fake_reset();
    fake_faults("ms-marco", "[\"404\"]", false);
    assert_int_equal(rag_reranker_chain_rerank(rc, NULL, "cat mat", passages, 3, scores, &rep, &err), RAG_OK);
    assert_true(scores[0] == -5.0 && scores[1] == 5.0 && scores[2] == 0.0);
    assert_string_equal(rep.members[0].models[0].model, "cross-encoder/ms-marco-MiniLM-L6-v2");
    assert_int_equal(rep.members[0].status, RAG_E_NOT_FOUND);
    assert_string_equal(rep.served_by, "tei");
    rag_reranker_chain_free(rc);
    /* generator: huggingface refused for a budget reason -> the built-in extractive */
    rag_generator_chain *gc = NULL;
    assert_int_equal(rag_generator_chain_from_config(cfg, &env, &gc, &err), RAG_OK);
    fake_reset();
    fake_faults("", "[\"402\"]", false);
    rag_gen_result res = {0};
    assert_int_equal(rag_generator_chain_generate(gc, NULL, MSGS, 1, &gp, NULL, NULL, &res, &rep, &err),
                     RAG_E_UNSUPPORTED);
    assert_string_equal(rep.served_by, "extractive");
    assert_int_equal(rep.members[0].status, RAG_E_BUDGET);
    assert_null(res.text);
    rag_generator_chain_free(gc);
    rag_chain_report_free(&rep);
    rag_config_free(cfg);
    fx_free(f);
}

static void test_chain_config_errors(void **state)
{
    (void)state;
    fx *f = fx_new();
    rag_err err;
    rag_generator_chain *gc = NULL;
    rag_backend_config m[2] = {fake_backend("openai", NEXT_MODEL), fake_backend("bogus", NULL)};
    assert_int_equal(rag_generator_chain_create(m, 2, &f->env, &gc, &err), RAG_E_CONFIG);
    assert_null(gc);
    assert_non_null(strstr(err.msg, "answer_generator.chain[1]"));
    assert_non_null(strstr(err.msg, "'bogus'"));
    m[0].model = NULL;
    assert_int_equal(rag_generator_chain_create(m, 1, &f->env, &gc, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "answer_generator.chain[0] (openai)"));
    assert_non_null(strstr(err.msg, "'model' is required"));
    /* "none" is not a reranker; an empty reranker chain answers RAG_E_EMPTY */
    rag_reranker_chain *rc = NULL;
    rag_backend_config none = fake_backend("none", NULL);
    assert_int_equal(rag_reranker_chain_create(&none, 1, &f->env, &rc, &err), RAG_E_CONFIG);
    assert_int_equal(rag_reranker_chain_create(NULL, 0, &f->env, &rc, &err), RAG_OK);
    double s[1];
    const char *p[] = {"x"};
    assert_int_equal(rag_reranker_chain_rerank(rc, NULL, "q", p, 1, s, NULL, &err), RAG_E_EMPTY);
    assert_non_null(strstr(err.msg, "no reranker configured"));
    rag_reranker_chain_free(rc);
    fx_free(f);
}

static void current_month(char out[8])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    snprintf(buf, sizeof buf, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    memcpy(out, buf, 8);
    out[7] = '\0';
}

static void test_budget_refusals(void **state)
{
    (void)state;
    char dir[] = "/tmp/ragc-models-budget-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], month[8];
    snprintf(path, sizeof path, "%s/usage.json", dir);
    current_month(month);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "{\"month\":\"%s\",\"spent_usd\":5.0,\"calls\":2}", month);
    fclose(fp);

    fx *f = fx_new();
    rag_budget_params bp = rag_budget_default_params();
    bp.monthly_budget_usd = 1.0;
    bp.data_dir = dir;
    rag_budget_t *b = NULL;
    rag_err err;
    assert_int_equal(rag_budget_create(&bp, &b, &err), RAG_OK);
    f->env.budget = b;
    rag_backend_config m[2] = {fake_backend("huggingface", MAIN_MODEL), fake_backend("extractive", NULL)};
    rag_generator_chain *c = gen_chain(f, m, 2);
    fake_reset();
    rag_gen_result res = {0};
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    assert_int_equal(rag_generator_chain_generate(c, NULL, MSGS, 1, NULL, NULL, NULL, &res, &rep, &err),
                     RAG_E_UNSUPPORTED);
    assert_int_equal(rep.members[0].status, RAG_E_BUDGET);
    assert_int_equal(rep.members[0].attempts, 0);
    assert_int_equal(rep.members[0].requests, 0);
    assert_non_null(strstr(rep.members[0].reason, "monthly budget"));
    assert_string_equal(rep.served_by, "extractive");
    assert_int_equal(fake_requests("total"), 0); /* nothing was sent */
    rag_generator_chain_free(c);
    rag_budget_free(b);

    /* request budget: the first call is charged, the second refused */
    unlink(path);
    bp.monthly_budget_usd = 0;
    bp.request_budget_usd = 0.001;
    assert_int_equal(rag_budget_create(&bp, &b, &err), RAG_OK);
    f->env.budget = b;
    rag_backend_config o[2] = {fake_backend("openai", NEXT_MODEL), fake_backend("extractive", NULL)};
    o[0].price_input_per_mtok = 1000; /* 27 prompt words -> $0.027 */
    c = gen_chain(f, o, 2);
    rag_models_request rq = {0};
    assert_int_equal(rag_generator_chain_generate(c, &rq, MSGS, 1, NULL, NULL, NULL, &res, &rep, &err), RAG_OK);
    assert_true(rep.cost_usd > 0.001);
    assert_true(fabs(rq.spent_usd - rep.cost_usd) < 1e-12);
    rag_gen_result_free(&res);
    long sent = fake_requests("total");
    assert_int_equal(rag_generator_chain_generate(c, &rq, MSGS, 1, NULL, NULL, NULL, &res, &rep, &err),
                     RAG_E_UNSUPPORTED);
    assert_int_equal(rep.members[0].status, RAG_E_BUDGET);
    assert_non_null(strstr(rep.members[0].reason, "request budget"));
    assert_int_equal(fake_requests("total"), sent);
    /* a new request starts from zero */
    rag_models_request rq2 = {0};
    assert_int_equal(rag_generator_chain_generate(c, &rq2, MSGS, 1, NULL, NULL, NULL, &res, &rep, &err), RAG_OK);
    rag_gen_result_free(&res);
    rag_budget_snapshot snap;
    rag_budget_get(b, &snap);
    assert_int_equal(snap.calls, 2);
    assert_true(fabs(snap.spent_usd - 2 * rep.cost_usd) < 1e-9);
    /* persisted */
    json_t *u = json_load_file(path, 0, NULL);
    assert_non_null(u);
    assert_string_equal(json_string_value(json_object_get(u, "month")), month);
    assert_int_equal(json_integer_value(json_object_get(u, "calls")), 2);
    assert_true(fabs(json_number_value(json_object_get(u, "spent_usd")) - snap.spent_usd) < 1e-9);
    json_decref(u);
    rag_generator_chain_free(c);
    rag_budget_free(b);
    rag_chain_report_free(&rep);
    unlink(path);
    rmdir(dir);
    fx_free(f);
}

static void test_report_json(void **state)
{
    (void)state;
    fx *f = fx_new();
    const char *fallbacks[] = {"Qwen/Qwen2.5-7B-Instruct"};
    rag_backend_config m[1] = {fake_backend("huggingface", "Bad/Missing-model")};
    m[0].fallback_models = fallbacks;
    m[0].n_fallback_models = 1;
    m[0].price_input_per_mtok = 1;
    m[0].price_output_per_mtok = 1;
    rag_generator_chain *c = gen_chain(f, m, 1);
    fake_reset();
    fake_faults("Bad/Missing", "[\"404\"]", true);
    rag_gen_result res = {0};
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    rag_err err;
    assert_int_equal(rag_generator_chain_generate(c, NULL, MSGS, 1, NULL, NULL, NULL, &res, &rep, &err), RAG_OK);
    json_t *j = NULL;
    assert_int_equal(rag_chain_report_to_json(&rep, &j, &err), RAG_OK);
    assert_string_equal(json_string_value(json_object_get(j, "stage")), "generator");
    assert_string_equal(json_string_value(json_object_get(j, "served_by")), "huggingface");
    assert_int_equal(json_integer_value(json_object_get(j, "served_index")), 0);
    assert_string_equal(json_string_value(json_object_get(j, "served_model")), "Qwen/Qwen2.5-7B-Instruct");
    assert_true(json_is_false(json_object_get(j, "builtin")));
    assert_int_equal(json_integer_value(json_object_get(j, "tokens_in")), 27);
    assert_int_equal(json_integer_value(json_object_get(j, "tokens_out")), 13);
    assert_true(fabs(json_number_value(json_object_get(j, "cost_usd")) - 40 / 1e6) < 1e-12);
    const json_t *mem = json_array_get(json_object_get(j, "members"), 0);
    assert_string_equal(json_string_value(json_object_get(mem, "type")), "huggingface");
    assert_string_equal(json_string_value(json_object_get(mem, "status")), rag_status_str(RAG_OK));
    assert_string_equal(json_string_value(json_object_get(mem, "provider")), "fake-provider");
    assert_true(json_is_true(json_object_get(mem, "cost_known")));
    assert_int_equal(json_integer_value(json_object_get(mem, "requests")), 2);
    const json_t *models = json_object_get(mem, "models");
    assert_int_equal(json_array_size(models), 2);
    const json_t *m0 = json_array_get(models, 0), *m1 = json_array_get(models, 1);
    assert_string_equal(json_string_value(json_object_get(m0, "model")), "Bad/Missing-model");
    assert_string_equal(json_string_value(json_object_get(m0, "status")), rag_status_str(RAG_E_NOT_FOUND));
    assert_int_equal(json_integer_value(json_object_get(m0, "http_status")), 404);
    assert_non_null(strstr(json_string_value(json_object_get(m0, "reason")), "Model not found"));
    assert_int_equal(strlen(json_string_value(json_object_get(m0, "request_id"))), 36);
    assert_string_equal(json_string_value(json_object_get(m1, "model")), "Qwen/Qwen2.5-7B-Instruct");
    assert_string_equal(json_string_value(json_object_get(m1, "reason")), "");
    json_decref(j);
    /* an empty report renders too; a NULL one is refused */
    rag_chain_report_free(&rep);
    assert_int_equal(rag_chain_report_to_json(&rep, &j, &err), RAG_OK);
    assert_true(json_is_null(json_object_get(j, "served_by")));
    json_decref(j);
    assert_int_equal(rag_chain_report_to_json(NULL, &j, &err), RAG_E_BAD_INPUT);
    rag_gen_result_free(&res);
    rag_generator_chain_free(c);
    fx_free(f);
}

static void test_cancel_stops_chain(void **state)
{
    (void)state;
    fx *f = fx_new();
    rag_backend_config m[2] = {fake_backend("huggingface", MAIN_MODEL), fake_backend("openai", NEXT_MODEL)};
    rag_generator_chain *c = gen_chain(f, m, 2);
    atomic_int cancel = 1;
    rag_models_request rq = {0};
    rq.cancel = &cancel;
    fake_reset();
    rag_gen_result res = {0};
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    rag_err err;
    assert_int_equal(rag_generator_chain_generate(c, &rq, MSGS, 1, NULL, NULL, NULL, &res, &rep, &err),
                     RAG_E_CANCELLED);
    assert_int_equal(rep.n_members, 1);
    assert_int_equal(rep.served, -1);
    assert_null(rep.served_by);
    assert_non_null(strstr(err.msg, "stopped at member 0"));
    assert_int_equal(fake_requests("total"), 0);
    rag_chain_report_free(&rep);
    rag_generator_chain_free(c);
    fx_free(f);
}

typedef struct thread_arg {
    rag_generator_chain *c;
    int ok;
} thread_arg;

static void *worker(void *p)
{
    thread_arg *a = p;
    for (int i = 0; i < 5; i++) {
        rag_gen_result res = {0};
        rag_chain_report rep;
        rag_chain_report_init(&rep);
        if (rag_generator_chain_generate(a->c, NULL, MSGS, 1, NULL, NULL, NULL, &res, &rep, NULL) == RAG_OK &&
            res.text && !strcmp(res.text, ANSWER))
            a->ok++;
        rag_gen_result_free(&res);
        rag_chain_report_free(&rep);
    }
    return NULL;
}

static void test_concurrent_requests(void **state)
{
    (void)state;
    fx *f = fx_new();
    rag_backend_config m[1] = {fake_backend("openai", NEXT_MODEL)};
    rag_generator_chain *c = gen_chain(f, m, 1);
    fake_reset();
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].c = c;
        args[i].ok = 0;
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 5);
    }
    assert_int_equal(fake_requests("chat"), 20);
    rag_generator_chain_free(c);
    fx_free(f);
}

int main(void)
{
    if (rag_net_global_init(NULL) != RAG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_moves_on_each_fault),
        cmocka_unit_test(test_retry_success_same_member),
        cmocka_unit_test(test_circuit_open),
        cmocka_unit_test(test_ollama_member_ndjson_error),
        cmocka_unit_test(test_embedder_chain),
        cmocka_unit_test(test_from_config),
        cmocka_unit_test(test_chain_config_errors),
        cmocka_unit_test(test_budget_refusals),
        cmocka_unit_test(test_report_json),
        cmocka_unit_test(test_cancel_stops_chain),
        cmocka_unit_test(test_concurrent_requests),
    };
    int rc = cmocka_run_group_tests(tests, fake_start, fake_stop);
    rag_net_global_cleanup();
    return rc;
}
