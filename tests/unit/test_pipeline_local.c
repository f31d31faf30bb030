/* The `local` embedder / reranker backends (src/pipeline/local_backends.c) when the model cannot
 * be loaded: the first call reports why, later calls within the retry window fail at once with
 * the same reason (no new download attempt), and the cache revision gives the same error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_internal.h"

static rag_backend_config missing_model(void)
{
    return rag_backend_config_unset("local", "/nonexistent/ragc-test-model");
}

static void test_failed_load_is_remembered(void **state)
{
    (void)state;
    rag_backend_config cfg = missing_model();
    rag_models_env env;
    memset(&env, 0, sizeof env);
    void *ctx = NULL;
    rag_err err;
    assert_int_equal(pipeline_local_embedder.create(&cfg, &env, &ctx, &err), RAG_OK);

    const char *texts[] = {"a question"};
    float *vecs = NULL;
    int dim = -1;
    rag_call_stats stats;
    rag_status st = pipeline_local_embedder.embed(ctx, NULL, texts, 1, &vecs, &dim, &stats, &err);
    assert_int_not_equal(st, RAG_OK);
    assert_null(vecs);
    assert_int_equal(dim, 0);
    assert_non_null(strstr(err.msg, "local model /nonexistent/ragc-test-model"));
    assert_null(strstr(err.msg, "load retried in"));
    assert_int_equal(stats.n_tries, 1);
    assert_int_equal(stats.tries[0].status, st);
    char first[sizeof err.msg];
    snprintf(first, sizeof first, "%s", err.msg);

    /* the second call does not try again: same status, same reason, marked as remembered */
    rag_status st2 = pipeline_local_embedder.embed(ctx, NULL, texts, 1, &vecs, &dim, &stats, &err);
    assert_int_equal(st2, st);
    assert_non_null(strstr(err.msg, "(load retried in "));
    assert_non_null(strstr(err.msg, first));
    assert_string_equal(stats.tries[0].model, "/nonexistent/ragc-test-model");

    /* the cache revision reports the remembered failure too */
    char rev[256];
    assert_int_equal(pipeline_local_embedder.revision(ctx, rev, sizeof rev, &err), st);
    assert_string_equal(err.msg, first);
    pipeline_local_embedder.destroy(ctx);
}

static void test_int8_named_in_the_try(void **state)
{
    (void)state;
    rag_backend_config cfg = missing_model();
    cfg.precision = 1;
    rag_models_env env;
    memset(&env, 0, sizeof env);
    void *ctx = NULL;
    rag_err err;
    assert_int_equal(pipeline_local_reranker.create(&cfg, &env, &ctx, &err), RAG_OK);
    const char *passages[] = {"p"};
    double score = 0;
    rag_call_stats stats;
    assert_int_not_equal(pipeline_local_reranker.rerank(ctx, NULL, "q", passages, 1, &score, &stats, &err), RAG_OK);
    assert_string_equal(stats.tries[0].model, "/nonexistent/ragc-test-model [int8]");
    pipeline_local_reranker.destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_load_is_remembered),
        cmocka_unit_test(test_int8_named_in_the_try),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
