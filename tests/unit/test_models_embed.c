/* Embedders (huggingface_api, tei, ollama) and rerankers (huggingface_api, tei) against the fake
 * HF server: values, request bodies, batching, payload splitting, response shapes, errors. */
#include "test_models_fake.h"

#include "models/models_internal.h"

static double dot(const float *a, const float *b, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++)
        s += (double)a[i] * b[i];
    return s;
}

static double norm(const float *a, int d)
{
    return sqrt(dot(a, a, d));
}

static const char *const CAT_TEXTS[] = {"the cat sat on the mat", "a cat on a mat", "quantum chromodynamics lattice",
                                        "the cat sat on the mat"};

static void embed_ok(fx *f, const rag_backend_config *cfg, const char *const *texts, size_t n, float **vecs,
                     int *dim, rag_call_stats *stats)
{
    rag_embedder_t *e = NULL;
    rag_err err;
    if (rag_embedder_create(cfg, &f->env, &e, &err) != RAG_OK)
        fail_msg("create %s: %s", cfg->type, err.msg);
    if (rag_embedder_embed(e, NULL, texts, n, vecs, dim, stats, &err) != RAG_OK)
        fail_msg("embed %s: %s", cfg->type, err.msg);
    rag_embedder_free(e);
}

static void test_hf_embed_values(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    rag_backend_config cfg = fake_backend("huggingface_api", "sentence-transformers/all-MiniLM-L6-v2");
    float *v = NULL;
    int dim = 0;
    rag_call_stats st;
    embed_ok(f, &cfg, CAT_TEXTS, 4, &v, &dim, &st);
    assert_int_equal(dim, 384);
    for (int i = 0; i < 4; i++)
        assert_true(fabs(norm(v + i * dim, dim) - 1.0) < 1e-4);
    assert_memory_equal(v, v + 3 * dim, (size_t)dim * sizeof(float)); /* same text, same vector */
    double c01 = dot(v, v + dim, dim), c02 = dot(v, v + 2 * dim, dim);
    assert_true(c01 > 0.25 && c01 < 0.7);
    assert_true(fabs(c02) < 0.25);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.attempts, 1);
    assert_int_equal(st.http_status, 200);
    assert_int_equal(strlen(st.request_id), 36);
    assert_int_equal(st.n_tries, 1);
    assert_string_equal(st.tries[0].model, "sentence-transformers/all-MiniLM-L6-v2");
    json_t *b = fake_last_body();
    assert_true(json_is_array(json_object_get(b, "inputs")));
    assert_int_equal(json_array_size(json_object_get(b, "inputs")), 4);
    assert_true(json_is_true(json_object_get(b, "normalize")));
    assert_true(json_is_true(json_object_get(b, "truncate")));
    json_decref(b);
    free(v);

    /* one text is still sent as an array (2-D answer) */
    embed_ok(f, &cfg, CAT_TEXTS, 1, &v, &dim, NULL);
    b = fake_last_body();
    assert_true(json_is_array(json_object_get(b, "inputs")));
    json_decref(b);
    assert_int_equal(dim, 384);
    free(v);

    /* normalize: false -> the raw sum of word vectors (norm well above 1) */
    cfg.normalize = 0;
    embed_ok(f, &cfg, CAT_TEXTS, 1, &v, &dim, NULL);
    assert_true(norm(v, dim) > 2.0);
    b = fake_last_body();
    assert_true(json_is_false(json_object_get(b, "normalize")));
    json_decref(b);
    free(v);
    assert_int_equal(fake_requests("feature_extraction"), 3);
    fx_free(f);
}

static void test_backends_agree(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    rag_backend_config hf = fake_backend("huggingface_api", NULL);
    rag_backend_config tei = fake_backend("tei", NULL);
    rag_backend_config ol = fake_backend("ollama", "all-minilm");
    float *a = NULL, *b = NULL, *c = NULL;
    int da = 0, db = 0, dc = 0;
    rag_call_stats st;
    embed_ok(f, &hf, CAT_TEXTS, 3, &a, &da, NULL);
    embed_ok(f, &tei, CAT_TEXTS, 3, &b, &db, NULL);
    embed_ok(f, &ol, CAT_TEXTS, 3, &c, &dc, &st);
    assert_int_equal(da, 384);
    assert_int_equal(db, 384);
    assert_int_equal(dc, 384);
    for (int i = 0; i < 3 * 384; i++) {
        assert_true(fabsf(a[i] - b[i]) < 1e-5f);
        assert_true(fabsf(a[i] - c[i]) < 1e-5f);
    }
    assert_int_equal(st.tokens_in, 6 + 5 + 3); /* Ollama prompt_eval_count: words */
    assert_int_equal(fake_requests("tei_embed"), 1);
    assert_int_equal(fake_requests("ollama_embed"), 1);
    json_t *body = fake_last_body();
    assert_string_equal(json_string_value(json_object_get(body, "model")), "all-minilm");
    assert_true(json_is_array(json_object_get(body, "input")));
    json_decref(body);
    free(a);
    free(b);
    free(c);
    fx_free(f);
}

static void test_batch_split(void **state)
{
    (void)state;
    fx *f = fx_new();
    enum { N = 70 };
    char buf[N][32];
    const char *texts[N];
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "text number w%d", i);
        texts[i] = buf[i];
    }
    rag_backend_config cfg = fake_backend("huggingface_api", NULL);
    float *v = NULL, *one = NULL;
    int dim = 0, d1 = 0;
    rag_call_stats st;
    fake_reset();
    embed_ok(f, &cfg, texts, N, &v, &dim, &st);
    assert_int_equal(fake_requests("feature_extraction"), 3); /* 32 + 32 + 6 */
    assert_int_equal(st.requests, 3);
    /* rows stay in input order across batches */
    for (int i = 0; i < N; i += 23) {
        embed_ok(f, &cfg, &texts[i], 1, &one, &d1, NULL);
        assert_memory_equal(one, v + (size_t)i * dim, (size_t)dim * sizeof(float));
        free(one);
    }
    free(v);
    /* batch_size 10 -> 7 requests; 100 is capped at 32 for hf-inference */
    cfg.batch_size = 10;
    fake_reset();
    embed_ok(f, &cfg, texts, N, &v, &dim, NULL);
    free(v);
    assert_int_equal(fake_requests("feature_extraction"), 7);
    cfg.batch_size = 100;
    fake_reset();
    embed_ok(f, &cfg, texts, N, &v, &dim, NULL);
    free(v);
    assert_int_equal(fake_requests("feature_extraction"), 3);
    /* TEI: default batch 32 too */
    rag_backend_config tei = fake_backend("tei", NULL);
    fake_reset();
    embed_ok(f, &tei, texts, N, &v, &dim, NULL);
    free(v);
    assert_int_equal(fake_requests("tei_embed"), 3);
    fx_free(f);
}

static char *filler(size_t n, const char *word)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, '.', n);
    memcpy(s, word, strlen(word));
    s[n] = '\0';
    return s;
}

static void test_payload_split(void **state)
{
    (void)state;
    fx *f = fx_new();
    char *big[4];
    const char *texts[4];
    const char *words[] = {"alpha ", "beta ", "gamma ", "delta "};
    for (int i = 0; i < 4; i++)
        texts[i] = big[i] = filler(600 * 1024, words[i]);
    rag_backend_config cfg = fake_backend("huggingface_api", NULL);
    float *v = NULL;
    int dim = 0;
    fake_reset();
    embed_ok(f, &cfg, texts, 4, &v, &dim, NULL);
    assert_int_equal(fake_requests("feature_extraction"), 2); /* 2.4 MB -> two halves of 1.2 MB */
    free(v);
    /* one text over the cap: refused before sending, naming it */
    char *huge = filler(2 * 1024 * 1024 + 10, "omega ");
    const char *two[] = {"small", huge};
    rag_embedder_t *e = NULL;
    assert_int_equal(rag_embedder_create(&cfg, &f->env, &e, NULL), RAG_OK);
    fake_reset();
    rag_err err;
    rag_call_stats st;
    assert_int_equal(rag_embedder_embed(e, NULL, two, 2, &v, &dim, &st, &err), RAG_E_TOO_LARGE);
    assert_null(v);
    assert_int_equal(dim, 0);
    assert_non_null(strstr(err.msg, "input 1"));
    assert_int_equal(fake_requests("feature_extraction"), 1); /* only "small" went out */
    rag_embedder_free(e);
    free(huge);
    for (int i = 0; i < 4; i++)
        free(big[i]);
    fx_free(f);
}

static void test_token_level_rejected(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    rag_backend_config cfg = fake_backend("huggingface_api", "bert/token-level-base");
    rag_embedder_t *e = NULL;
    assert_int_equal(rag_embedder_create(&cfg, &f->env, &e, NULL), RAG_OK);
    float *v = NULL;
    int dim = 0;
    rag_err err;
    assert_int_equal(rag_embedder_embed(e, NULL, CAT_TEXTS, 2, &v, &dim, NULL, &err), RAG_E_CONFIG);
    assert_null(v);
    assert_non_null(strstr(err.msg, "bert/token-level-base"));
    assert_non_null(strstr(err.msg, "returns token-level embeddings"));
    assert_non_null(strstr(err.msg, "use a sentence-transformers model"));
    assert_non_null(strstr(err.msg, "3-D"));
    rag_embedder_free(e);
    cfg.model = "bert/token-level-4d";
    assert_int_equal(rag_embedder_create(&cfg, &f->env, &e, NULL), RAG_OK);
    assert_int_equal(rag_embedder_embed(e, NULL, CAT_TEXTS, 2, &v, &dim, NULL, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "4-D"));
    rag_embedder_free(e);
    /* a model id carrying the token: every message is redacted */
    cfg.model = "bert/token-level-" TOKEN;
    assert_int_equal(rag_embedder_create(&cfg, &f->env, &e, NULL), RAG_OK);
    rag_call_stats st;
    assert_int_equal(rag_embedder_embed(e, NULL, CAT_TEXTS, 2, &v, &dim, &st, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "token-level embeddings"));
    assert_no_token(err.msg);
    assert_no_token(st.tries[0].model);
    assert_no_token(st.tries[0].reason);
    rag_embedder_free(e);
    fx_free(f);
}

static void test_embed_bad_input(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    rag_backend_config cfg = fake_backend("tei", NULL);
    rag_embedder_t *e = NULL;
    assert_int_equal(rag_embedder_create(&cfg, &f->env, &e, NULL), RAG_OK);
    const char *bad[] = {"fine", "caf\xc3", "also fine"};
    float *v = NULL;
    int dim = 0;
    rag_err err;
    rag_call_stats st;
    assert_int_equal(rag_embedder_embed(e, NULL, bad, 3, &v, &dim, &st, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "text 1 is not valid UTF-8"));
    assert_int_equal(st.requests, 0);
    const char *null_text[] = {"fine", NULL};
    assert_int_equal(rag_embedder_embed(e, NULL, null_text, 2, &v, &dim, NULL, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "text 1 is NULL"));
    assert_int_equal(fake_requests("total"), 0);
    /* n == 0: nothing to do, nothing sent */
    assert_int_equal(rag_embedder_embed(e, NULL, bad, 0, &v, &dim, NULL, &err), RAG_OK);
    assert_null(v);
    rag_embedder_free(e);
    /* unknown backend name, bad model id, bad base URL */
    cfg.type = "nope";
    assert_int_equal(rag_embedder_create(&cfg, &f->env, &e, &err), RAG_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "nope"));
    cfg = fake_backend("huggingface_api", "bad model id?");
    assert_int_equal(rag_embedder_create(&cfg, &f->env, &e, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "bad model id?"));
    cfg = fake_backend("tei", NULL);
    cfg.base_url = "ftp://example.org";
    assert_int_equal(rag_embedder_create(&cfg, &f->env, &e, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "base_url"));
    fx_free(f);
}

static void test_hf_host_needs_key(void **state)
{
    (void)state;
    fx *f = fx_new();
    rag_backend_config cfg = fake_backend("huggingface_api", NULL);
    cfg.base_url = NULL; /* https://router.huggingface.co */
    cfg.api_key = NULL;
    rag_embedder_t *e = NULL;
    assert_int_equal(rag_embedder_create(&cfg, &f->env, &e, NULL), RAG_OK);
    float *v = NULL;
    int dim = 0;
    rag_err err;
    rag_call_stats st;
    assert_int_equal(rag_embedder_embed(e, NULL, CAT_TEXTS, 1, &v, &dim, &st, &err), RAG_E_AUTH);
    assert_non_null(strstr(err.msg, "no api_key"));
    assert_non_null(strstr(err.msg, "HF_TOKEN"));
    assert_int_equal(st.requests, 0);
    assert_int_equal(st.attempts, 0);
    rag_embedder_free(e);
    fx_free(f);
}

/* mdl_embed_rows on crafted responses: the shape checks without a server. */
static void test_embed_rows_shapes(void **state)
{
    (void)state;
    mdl_backend b;
    rag_backend_config cfg = fake_backend("tei", "m");
    assert_int_equal(mdl_backend_init(&b, "embedder", &cfg, NULL, "http://x", 0, NULL), RAG_OK);
    struct {
        const char *json;
        size_t count;
        rag_status want;
        const char *msg;
    } cases[] = {
        {"[[1,2,3],[4,5,6]]", 2, RAG_OK, NULL},
        {"[1,2,3]", 1, RAG_OK, NULL},
        {"[1,2,3]", 2, RAG_E_UPSTREAM, "1-D embedding for 2 inputs"},
        {"[[1,2,3],[4,5]]", 2, RAG_E_UPSTREAM, "embedding 1 has 2 dimensions, expected 3"},
        {"[[1,2,3]]", 2, RAG_E_UPSTREAM, "returned 1 embeddings for 2 inputs"},
        {"[[1,\"x\",3],[4,5,6]]", 2, RAG_E_UPSTREAM, "embedding 0 value 1 is a string"},
        {"[[],[1]]", 2, RAG_E_UPSTREAM, "embedding 0 is empty"},
        {"[[[1,2],[3,4]]]", 1, RAG_E_CONFIG, "3-D"},
        {"{\"a\":1}", 1, RAG_E_UPSTREAM, "an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        float *v = NULL;
        int dim = 0;
        rag_err err;
        rag_err_clear(&err);
        rag_status st = mdl_embed_rows(&b, j, 0, cases[i].count, cases[i].count, &v, &dim, &err);
        if (st != cases[i].want)
            fail_msg("case %zu (%s): got %s: %s", i, cases[i].json, rag_status_str(st), err.msg);
        if (cases[i].msg && !strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].msg);
        if (st == RAG_OK) {
            assert_int_equal(dim, 3);
            assert_true(v[0] == 1.0f && v[dim - 1] == 3.0f);
        }
        free(v);
        json_decref(j);
    }
    mdl_backend_fini(&b);
}

static void rerank_ok(fx *f, const rag_backend_config *cfg, const char *q, const char *const *p, size_t n,
                      double *scores, rag_call_stats *st)
{
    rag_reranker_t *r = NULL;
    rag_err err;
    if (rag_reranker_create(cfg, &f->env, &r, &err) != RAG_OK)
        fail_msg("create %s: %s", cfg->type, err.msg);
    if (rag_reranker_rerank(r, NULL, q, p, n, scores, st, &err) != RAG_OK)
        fail_msg("rerank %s: %s", cfg->type, err.msg);
    rag_reranker_free(r);
}

static const char *const PASSAGES[] = {"dogs", "a cat on a mat", "the cat"};

static void test_hf_rerank_both_shapes(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    double s[3] = {0};
    rag_backend_config cfg = fake_backend("huggingface_api", "cross-encoder/ms-marco-MiniLM-L6-v2");
    rerank_ok(f, &cfg, "cat mat", PASSAGES, 3, s, NULL);
    assert_true(s[0] == -5.0 && s[1] == 5.0 && s[2] == 0.0); /* raw logits, input order */
    json_t *b = fake_last_body();
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "parameters"), "function_to_apply")),
                        "none");
    const json_t *pair = json_array_get(json_object_get(b, "inputs"), 1);
    assert_string_equal(json_string_value(json_object_get(pair, "text")), "cat mat");
    assert_string_equal(json_string_value(json_object_get(pair, "text_pair")), "a cat on a mat");
    json_decref(b);
    /* the flat shape [{label,score},...] */
    cfg.model = "cross-encoder/flat-reranker";
    double t[3] = {0};
    rerank_ok(f, &cfg, "cat mat", PASSAGES, 3, t, NULL);
    assert_memory_equal(s, t, sizeof s);
    /* 40 pairs -> 2 requests, scores in order */
    enum { N = 40 };
    const char *many[N];
    double ms[N];
    for (int i = 0; i < N; i++)
        many[i] = PASSAGES[i % 3];
    fake_reset();
    rag_call_stats st;
    rerank_ok(f, &cfg, "cat mat", many, N, ms, &st);
    assert_int_equal(fake_requests("classification"), 2);
    assert_int_equal(st.requests, 2);
    for (int i = 0; i < N; i++)
        assert_true(ms[i] == s[i % 3]);
    fx_free(f);
}

static void test_tei_rerank(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    double s[3] = {0};
    rag_backend_config cfg = fake_backend("tei", NULL);
    rerank_ok(f, &cfg, "cat mat", PASSAGES, 3, s, NULL);
    assert_true(s[0] == -5.0 && s[1] == 5.0 && s[2] == 0.0); /* mapped back from score order */
    json_t *b = fake_last_body();
    assert_true(json_is_true(json_object_get(b, "raw_scores")));
    assert_string_equal(json_string_value(json_object_get(b, "query")), "cat mat");
    json_decref(b);
    assert_int_equal(fake_requests("tei_rerank"), 1);
    /* bad query -> refused before sending */
    rag_reranker_t *r = NULL;
    assert_int_equal(rag_reranker_create(&cfg, &f->env, &r, NULL), RAG_OK);
    rag_err err;
    double keep[3] = {7, 7, 7};
    assert_int_equal(rag_reranker_rerank(r, NULL, "bad \xff", PASSAGES, 3, keep, NULL, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "query is not valid UTF-8"));
    assert_true(keep[0] == 7 && keep[2] == 7); /* untouched on failure */
    rag_reranker_free(r);
    assert_int_equal(fake_requests("tei_rerank"), 1);
    fx_free(f);
}

static void test_price_per_call(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    enum { N = 40 };
    const char *many[N];
    for (int i = 0; i < N; i++)
        many[i] = CAT_TEXTS[i % 3];
    rag_backend_config cfg = fake_backend("tei", NULL);
    cfg.price_per_call = 0.25;
    float *v = NULL;
    int dim = 0;
    rag_call_stats st;
    rag_models_request rq = {0};
    rag_embedder_t *e = NULL;
    assert_int_equal(rag_embedder_create(&cfg, &f->env, &e, NULL), RAG_OK);
    assert_int_equal(rag_embedder_embed(e, &rq, many, N, &v, &dim, &st, NULL), RAG_OK);
    assert_true(st.cost_known);
    assert_true(fabs(st.cost_usd - 0.5) < 1e-12); /* two requests */
    assert_true(fabs(rq.spent_usd - 0.5) < 1e-12);
    free(v);
    rag_embedder_free(e);
    fx_free(f);
}

int main(void)
{
    if (rag_net_global_init(NULL) != RAG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hf_embed_values),       cmocka_unit_test(test_backends_agree),
        cmocka_unit_test(test_batch_split),           cmocka_unit_test(test_payload_split),
        cmocka_unit_test(test_token_level_rejected),  cmocka_unit_test(test_embed_bad_input),
        cmocka_unit_test(test_hf_host_needs_key),     cmocka_unit_test(test_embed_rows_shapes),
        cmocka_unit_test(test_hf_rerank_both_shapes), cmocka_unit_test(test_tei_rerank),
        cmocka_unit_test(test_price_per_call),
    };
    int rc = cmocka_run_group_tests(tests, fake_start, fake_stop);
    rag_net_global_cleanup();
    return rc;
}
