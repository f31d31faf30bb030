/* The content cache in front of embedder and reranker chain members: only misses are sent, hits
 * come back in input order, identities (model, revision) separate entries, a fully cached member
 * serves without a call even when it would fail, another member's results are kept under its own
 * identity, and a changed dimension recomputes. In-process backends count what they receive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ragc/models.h"

/* ---- counting backends (state is per test, reset by setup) ---- */
static int calls, inputs_seen;
static char last_inputs[16][64];
static bool fail_now;
static int out_dim = 3;
static char revision[32] = "rev1";

static rag_status cnt_create(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err)
{
    (void)cfg, (void)env, (void)err;
    *ctx = NULL;
    return RAG_OK;
}
static void cnt_destroy(void *ctx)
{
    (void)ctx;
}
static void seen(const char *const *t, size_t n)
{
    calls++;
    inputs_seen += (int)n;
    for (size_t i = 0; i < n && i < 16; i++)
        snprintf(last_inputs[i], sizeof last_inputs[i], "%s", t[i]);
}
/* Row of text t: (strlen, first byte, dim marker, 0...). */
static float cell(const char *t, int j)
{
    return j == 0 ? (float)strlen(t) : j == 1 ? (float)(unsigned char)t[0] : j == 2 ? (float)out_dim : 0.0f;
}
static rag_status cnt_embed(void *ctx, rag_models_request *rq, const char *const *texts, size_t n, float **vecs,
                            int *dim, rag_call_stats *stats, rag_err *err)
{
    (void)ctx, (void)rq, (void)stats;
    seen(texts, n);
    if (fail_now)
        return rag_err_set(err, RAG_E_UPSTREAM, "cnt: failing on purpose");
    *vecs = malloc(n * (size_t)out_dim * sizeof **vecs);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < out_dim; j++)
            (*vecs)[i * (size_t)out_dim + (size_t)j] = cell(texts[i], j);
    *dim = out_dim;
    return RAG_OK;
}
static rag_status cnt_revision(void *ctx, char *buf, size_t cap, rag_err *err)
{
    (void)ctx, (void)err;
    snprintf(buf, cap, "%s", revision);
    return RAG_OK;
}
static rag_status bad_embed(void *ctx, rag_models_request *rq, const char *const *texts, size_t n, float **vecs,
                            int *dim, rag_call_stats *stats, rag_err *err)
{
    (void)ctx, (void)rq, (void)texts, (void)n, (void)vecs, (void)dim, (void)stats;
    return rag_err_set(err, RAG_E_AUTH, "bad: always 401");
}
static rag_status cnt_rerank(void *ctx, rag_models_request *rq, const char *query, const char *const *passages,
                             size_t n, double *scores, rag_call_stats *stats, rag_err *err)
{
    (void)ctx, (void)rq, (void)stats, (void)err;
    seen(passages, n);
    for (size_t i = 0; i < n; i++)
        scores[i] = (double)strlen(passages[i]) * 10 + (double)strlen(query);
    return RAG_OK;
}

static const rag_embedder_vtable cnt_vt = {.name = "cnt",
                                           .create = cnt_create,
                                           .destroy = cnt_destroy,
                                           .embed = cnt_embed,
                                           .revision = cnt_revision};
static const rag_embedder_vtable bad_vt = {
    .name = "bad", .create = cnt_create, .destroy = cnt_destroy, .embed = bad_embed};
static const rag_reranker_vtable cntr_vt = {
    .name = "cnt", .create = cnt_create, .destroy = cnt_destroy, .rerank = cnt_rerank};
static const rag_embedder_vtable *const EMB[] = {&cnt_vt, &bad_vt};
static const rag_reranker_vtable *const RER[] = {&cntr_vt};

typedef struct fx {
    char dir[64];
    rag_cache *cache;
    rag_models_env env;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ragc-mcache-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/cache.db", f->dir);
    rag_cache_params p = {path, 0, false};
    rag_err err;
    if (rag_cache_open(&p, &f->cache, &err) != RAG_OK)
        return -1;
    f->env.cache = f->cache;
    f->env.embedders = EMB;
    f->env.n_embedders = 2;
    f->env.rerankers = RER;
    f->env.n_rerankers = 1;
    calls = inputs_seen = 0;
    fail_now = false;
    out_dim = 3;
    snprintf(revision, sizeof revision, "rev1");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    rag_cache_close(f->cache);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static rag_backend_config member(const char *type, const char *model)
{
    return rag_backend_config_unset(type, model);
}

/* Embeds texts and checks every row is the backend's row for its text. Returns the report. */
static void embed_check(rag_embedder_chain *c, const char *const *texts, size_t n, rag_chain_report *rep)
{
    float *v = NULL;
    int dim = 0;
    rag_err err;
    assert_int_equal(rag_embedder_chain_embed(c, NULL, texts, n, &v, &dim, rep, &err), RAG_OK);
    assert_int_equal(dim, out_dim);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < dim; j++)
            assert_true(v[i * (size_t)dim + (size_t)j] == cell(texts[i], j));
    free(v);
}

static void test_only_misses_are_sent(void **state)
{
    fx *f = *state;
    rag_backend_config m[1] = {member("cnt", "org/model-a")};
    rag_embedder_chain *c = NULL;
    rag_err err;
    assert_int_equal(rag_embedder_chain_create(m, 1, &f->env, &c, &err), RAG_OK);
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    const char *ab[] = {"alpha", "bravo"};
    embed_check(c, ab, 2, &rep);
    assert_int_equal(calls, 1);
    assert_int_equal(rep.cache_misses, 2);
    assert_int_equal(rep.cache_hits, 0);
    /* same texts: no call, served by the member from the cache */
    calls = 0;
    embed_check(c, ab, 2, &rep);
    assert_int_equal(calls, 0);
    /* white space is normalized in the key: "  bravo " is "bravo" */
    const char *ws[] = {"  bravo\n"};
    float *v = NULL;
    int dim = 0;
    assert_int_equal(rag_embedder_chain_embed(c, NULL, ws, 1, &v, &dim, &rep, &err), RAG_OK);
    assert_int_equal(calls, 0);
    assert_true(v[0] == 5.0f && v[1] == (float)'b');
    free(v);
    assert_int_equal(rep.cache_hits, 1);
    assert_int_equal(rep.members[0].cache_hits, 1);
    assert_int_equal(rep.members[0].requests, 0);
    assert_string_equal(rep.served_by, "cnt");
    assert_string_equal(rep.served_model, "org/model-a");
    /* a mix: only the new text is sent; rows come back in input order */
    const char *mix[] = {"charlie", "alpha", "delta-x", "bravo"};
    calls = inputs_seen = 0;
    embed_check(c, mix, 4, &rep);
    assert_int_equal(calls, 1);
    assert_int_equal(inputs_seen, 2);
    assert_string_equal(last_inputs[0], "charlie");
    assert_string_equal(last_inputs[1], "delta-x");
    assert_int_equal(rep.cache_hits, 2);
    assert_int_equal(rep.cache_misses, 2);
    rag_chain_report_free(&rep);
    rag_embedder_chain_free(c);
}

static void test_identity_separates(void **state)
{
    fx *f = *state;
    rag_backend_config m1[1] = {member("cnt", "org/model-a")};
    rag_backend_config m2[1] = {member("cnt", "org/model-b")};
    rag_embedder_chain *a = NULL, *b = NULL;
    rag_err err;
    assert_int_equal(rag_embedder_chain_create(m1, 1, &f->env, &a, &err), RAG_OK);
    assert_int_equal(rag_embedder_chain_create(m2, 1, &f->env, &b, &err), RAG_OK);
    const char *t[] = {"same text"};
    embed_check(a, t, 1, NULL);
    embed_check(b, t, 1, NULL);
    assert_int_equal(calls, 2); /* another model: another key */
    embed_check(a, t, 1, NULL);
    embed_check(b, t, 1, NULL);
    assert_int_equal(calls, 2);
    rag_embedder_chain_free(a);
    /* another revision of the same model (read when a chain first uses a member): computed again */
    snprintf(revision, sizeof revision, "rev2");
    assert_int_equal(rag_embedder_chain_create(m1, 1, &f->env, &a, &err), RAG_OK);
    embed_check(a, t, 1, NULL);
    assert_int_equal(calls, 3);
    rag_embedder_chain_free(a);
    rag_embedder_chain_free(b);
}

static void test_cached_member_serves_while_failing(void **state)
{
    fx *f = *state;
    rag_backend_config m[2] = {member("cnt", "org/model-a"), member("none", NULL)};
    rag_embedder_chain *c = NULL;
    rag_err err;
    assert_int_equal(rag_embedder_chain_create(m, 2, &f->env, &c, &err), RAG_OK);
    const char *t[] = {"kept", "also kept"};
    embed_check(c, t, 2, NULL);
    fail_now = true;
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    calls = inputs_seen = 0;
    embed_check(c, t, 2, &rep);
    assert_int_equal(calls, 0);
    assert_string_equal(rep.served_by, "cnt");
    /* one new text: the member is called, fails, and the chain moves on to "none" */
    const char *t2[] = {"kept", "new one"};
    float *v = NULL;
    int dim = 0;
    assert_int_equal(rag_embedder_chain_embed(c, NULL, t2, 2, &v, &dim, &rep, &err), RAG_E_UNSUPPORTED);
    assert_null(v);
    assert_int_equal(calls, 1);
    assert_int_equal(inputs_seen, 1);
    assert_int_equal(rep.members[0].status, RAG_E_UPSTREAM);
    assert_int_equal(rep.members[0].cache_hits, 1);
    assert_string_equal(rep.served_by, "none");
    rag_chain_report_free(&rep);
    rag_embedder_chain_free(c);
}

static void test_fallback_member_has_its_own_entries(void **state)
{
    fx *f = *state;
    rag_backend_config m[2] = {member("bad", "org/model-a"), member("cnt", "org/model-a")};
    rag_embedder_chain *c = NULL;
    rag_err err;
    assert_int_equal(rag_embedder_chain_create(m, 2, &f->env, &c, &err), RAG_OK);
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    const char *t[] = {"fallback text"};
    embed_check(c, t, 1, &rep);
    assert_string_equal(rep.served_by, "cnt");
    assert_int_equal(rep.members[0].status, RAG_E_AUTH);
    assert_int_equal(rep.members[0].cache_misses, 1);
    /* the second time: "bad" misses again (nothing stored under its identity), "cnt" hits */
    calls = 0;
    embed_check(c, t, 1, &rep);
    assert_int_equal(calls, 0);
    assert_int_equal(rep.members[0].cache_misses, 1);
    assert_int_equal(rep.members[1].cache_hits, 1);
    rag_chain_report_free(&rep);
    rag_embedder_chain_free(c);
}

static void test_dimension_change_recomputes(void **state)
{
    fx *f = *state;
    rag_backend_config m[1] = {member("cnt", "org/model-a")};
    rag_embedder_chain *c = NULL;
    rag_err err;
    assert_int_equal(rag_embedder_chain_create(m, 1, &f->env, &c, &err), RAG_OK);
    const char *one[] = {"first"};
    embed_check(c, one, 1, NULL);
    out_dim = 5; /* the served model changed shape under the same identity */
    const char *two[] = {"first", "second"};
    calls = inputs_seen = 0;
    embed_check(c, two, 2, NULL); /* checks every row has 5 dims and its own values */
    assert_int_equal(calls, 2);   /* the miss, then everything again */
    assert_int_equal(inputs_seen, 3);
    calls = 0;
    embed_check(c, two, 2, NULL);
    assert_int_equal(calls, 0);
    rag_embedder_chain_free(c);
}

static void test_rerank_scores_cached(void **state)
{
    fx *f = *state;
    rag_backend_config m[1] = {member("cnt", "cross/enc")};
    rag_reranker_chain *c = NULL;
    rag_err err;
    assert_int_equal(rag_reranker_chain_create(m, 1, &f->env, &c, &err), RAG_OK);
    const char *p[] = {"p one", "passage two", "3"};
    double s[3], want[3];
    for (int i = 0; i < 3; i++)
        want[i] = (double)strlen(p[i]) * 10 + 5;
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    assert_int_equal(rag_reranker_chain_rerank(c, NULL, "query", p, 3, s, &rep, &err), RAG_OK);
    assert_memory_equal(s, want, sizeof want);
    calls = 0;
    memset(s, 0, sizeof s);
    assert_int_equal(rag_reranker_chain_rerank(c, NULL, "query", p, 3, s, &rep, &err), RAG_OK);
    assert_int_equal(calls, 0);
    assert_memory_equal(s, want, sizeof want);
    assert_int_equal(rep.cache_hits, 3);
    /* the pair is the key: another query is computed */
    assert_int_equal(rag_reranker_chain_rerank(c, NULL, "query 2", p, 2, s, &rep, &err), RAG_OK);
    assert_int_equal(calls, 1);
    assert_true(s[0] == (double)strlen(p[0]) * 10 + 7);
    rag_chain_report_free(&rep);
    rag_reranker_chain_free(c);
}

static void test_no_cache_always_calls(void **state)
{
    fx *f = *state;
    f->env.cache = NULL;
    rag_backend_config m[1] = {member("cnt", "org/model-a")};
    rag_embedder_chain *c = NULL;
    rag_err err;
    assert_int_equal(rag_embedder_chain_create(m, 1, &f->env, &c, &err), RAG_OK);
    const char *t[] = {"x"};
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    embed_check(c, t, 1, &rep);
    embed_check(c, t, 1, &rep);
    assert_int_equal(calls, 2);
    assert_int_equal(rep.cache_hits + rep.cache_misses, 0);
    rag_chain_report_free(&rep);
    rag_embedder_chain_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_only_misses_are_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_separates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cached_member_serves_while_failing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback_member_has_its_own_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dimension_change_recomputes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rerank_scores_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cache_always_calls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
