/* Harness of the test_models_*.c files: the fake HF server (fakehf_harness.h) plus a net client
 * and models env with a fast retry policy, backend entries pointing at the fake, and token
 * checks. Header-only: each test is one translation unit. */
#ifndef TEST_MODELS_FAKE_H
#define TEST_MODELS_FAKE_H

#include "fakehf_harness.h"
#include "ragc/models.h"

#define PROMPT                                                                                     \
    "[1] The pump must be primed before use. Then open the valve.\n[2] Filters are cleaned "       \
    "monthly! Replace them yearly.\n\nQuestion: how do I start the pump?"

/* A net client and models env with a fast retry policy (base 20 ms, cap 50 ms). */
typedef struct fx {
    rag_net_client *net;
    rag_net_retry_params retry;
    rag_models_env env;
} fx;

static __attribute__((unused)) fx *fx_new_breaker(int breaker_threshold)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    rag_net_client_params p = rag_net_client_default_params();
    p.retry.base_ms = 20;
    p.retry.cap_ms = 50;
    p.breaker.failure_threshold = breaker_threshold;
    rag_err err;
    if (rag_net_client_create(&p, &f->net, &err) != RAG_OK)
        fail_msg("net client: %s", err.msg);
    f->retry = p.retry;
    f->env.net = f->net;
    f->env.default_timeout_ms = 10000;
    f->env.retry = &f->retry;
    return f;
}

static __attribute__((unused)) fx *fx_new(void)
{
    return fx_new_breaker(5);
}

static __attribute__((unused)) void fx_free(fx *f)
{
    if (!f)
        return;
    rag_net_client_free(f->net);
    free(f);
}

/* A backend entry pointing at the fake server with the test token; every number unset. */
static __attribute__((unused)) rag_backend_config fake_backend(const char *type, const char *model)
{
    rag_backend_config c = rag_backend_config_unset(type, model);
    c.base_url = g_base;
    c.api_key = TOKEN;
    return c;
}

/* Fails when s contains the test token. */
static __attribute__((unused)) void assert_no_token(const char *s)
{
    if (s && strstr(s, TOKEN))
        fail_msg("the token leaked into: %s", s);
}

/* Fails when the JSON rendering of a chain report contains the token. */
static __attribute__((unused)) void assert_report_clean(const rag_chain_report *r)
{
    json_t *j = NULL;
    assert_int_equal(rag_chain_report_to_json(r, &j, NULL), RAG_OK);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(s);
    assert_no_token(s);
    free(s);
    json_decref(j);
}

#endif /* TEST_MODELS_FAKE_H */
