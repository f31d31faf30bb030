/* An api_key never goes over plain http:// to a host that is not loopback (docs/security.md,
 * finding 4): mdl_backend_init refuses it with RAG_E_CONFIG naming the stage, the backend and the
 * URL, and the chains built from a configuration prefix that with the chain key and index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/models_internal.h"
#include "ragc/config.h"
#include "ragc/models.h"

#define SECRET "hf_secretTokenForTheHttpCheck123"

static rag_backend_config backend(const char *base_url, const char *api_key)
{
    rag_backend_config c = rag_backend_config_unset("tei", "m");
    c.base_url = base_url;
    c.api_key = api_key;
    return c;
}

static rag_status init(const char *url, const char *key, rag_err *err)
{
    mdl_backend b;
    rag_backend_config cfg = backend(url, key);
    rag_err_clear(err);
    rag_status st = mdl_backend_init(&b, "embedder", &cfg, NULL, NULL, 0, err);
    if (st == RAG_OK)
        mdl_backend_fini(&b);
    return st;
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "http://gpu-box:8080",
        "http://10.0.0.5:11434/v1",
        "HTTP://example.com",
        "http://127.0.0.1.evil.example/",   /* a name that starts like a loopback address */
        "http://127.0.0.1@evil.example/",   /* userinfo: the host is evil.example */
        "http://localhost.evil.example/",
        "http://localhost@evil.example:80/",
        "http://[::2]:8080/",
        "http://[::ffff:10.0.0.1]/",
        "http://2130706433/",               /* 127.0.0.1 as one number: not taken as loopback */
        "http://0.0.0.0:8080",
        "http://[::1",                      /* unterminated IPv6 literal */
        "http://",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        rag_err err;
        rag_status st = init(urls[i], SECRET, &err);
        if (st != RAG_E_CONFIG)
            fail_msg("%s with an api_key: %s (%s), expected a config error", urls[i], rag_status_str(st), err.msg);
        if (!strstr(err.msg, "embedder tei: api_key is set but base_url") || !strstr(err.msg, urls[i]) ||
            !strstr(err.msg, "plain http://") || !strstr(err.msg, "https://"))
            fail_msg("%s: message does not name the stage, backend, URL and fix: %s", urls[i], err.msg);
        if (strstr(err.msg, SECRET))
            fail_msg("the key leaked into: %s", err.msg);
    }
}

static void test_accepted(void **state)
{
    (void)state;
    static const char *const with_key[] = {
        "http://127.0.0.1:8080",
        "http://127.8.9.10/",
        "http://localhost:11434/v1",
        "http://LOCALHOST",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]:80",
        "http://user:pw@127.0.0.1:80/",
        "http://evil.example@127.0.0.1/", /* userinfo: the host is 127.0.0.1 */
        "https://example.com",
        "https://10.0.0.5:8443/v1",
    };
    for (size_t i = 0; i < sizeof with_key / sizeof with_key[0]; i++) {
        rag_err err;
        if (init(with_key[i], SECRET, &err) != RAG_OK)
            fail_msg("%s with an api_key refused: %s", with_key[i], err.msg);
    }
    rag_err err;
    if (init("http://gpu-box:8080", NULL, &err) != RAG_OK) /* no key: nothing to protect */
        fail_msg("http without a key refused: %s", err.msg);
    if (init("http://gpu-box:8080", "", &err) != RAG_OK) /* "" = no key (an unset ${HF_TOKEN:-}) */
        fail_msg("http with an empty key refused: %s", err.msg);
}

/* From a configuration: the chain names its key and the member's index. */
static void test_chain_names_stage_and_index(void **state)
{
    (void)state;
    static const char yaml[] = "embedder:\n"
                               "  chain:\n"
                               "    - type: tei\n"
                               "      base_url: http://gpu-box:8080\n"
                               "      api_key: " SECRET "\n"
                               "answer_generator:\n"
                               "  chain:\n"
                               "    - type: ollama\n"
                               "      base_url: http://127.0.0.1:11434\n"
                               "      api_key: " SECRET "\n"
                               "    - type: openai\n"
                               "      model: m\n"
                               "      base_url: http://llm.internal.example:8000/v1\n"
                               "      api_key: " SECRET "\n"
                               "    - type: extractive\n";
    rag_config_params p = rag_config_default_params();
    p.profile = "default";
    rag_config *cfg = NULL;
    rag_err err;
    rag_err_clear(&err);
    if (rag_config_load_string("my.yaml", yaml, &p, &cfg, &err) != RAG_OK)
        fail_msg("config: %s", err.msg);
    rag_models_env env;
    memset(&env, 0, sizeof env);

    rag_embedder_chain *ec = NULL;
    assert_int_equal(rag_embedder_chain_from_config(cfg, &env, &ec, &err), RAG_E_CONFIG);
    assert_null(ec);
    if (!strstr(err.msg, "embedder.chain[0] (tei): ") || !strstr(err.msg, "'http://gpu-box:8080'"))
        fail_msg("embedder chain message: %s", err.msg);
    assert_null(strstr(err.msg, SECRET));

    rag_generator_chain *gc = NULL;
    rag_err_clear(&err);
    assert_int_equal(rag_generator_chain_from_config(cfg, &env, &gc, &err), RAG_E_CONFIG);
    assert_null(gc);
    if (!strstr(err.msg, "answer_generator.chain[1] (openai): ") ||
        !strstr(err.msg, "'http://llm.internal.example:8000/v1'"))
        fail_msg("generator chain message (member 0 is loopback and fine): %s", err.msg);
    assert_null(strstr(err.msg, SECRET));
    rag_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_chain_names_stage_and_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
