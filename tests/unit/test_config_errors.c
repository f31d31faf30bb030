/* Unit tests for src/config: validation messages ("<file>:<line>: <key>: <reason>"), error
 * collection, YAML syntax errors, ${VAR} interpolation, caps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "ragc/config.h"

typedef struct fake_env {
    const char *vars[16];
} fake_env;

static const char *fake_getenv(void *ud, const char *name)
{
    const fake_env *e = ud;
    size_t n = strlen(name);
    for (size_t i = 0; e && i < 16 && e->vars[i]; i++)
        if (!strncmp(e->vars[i], name, n) && e->vars[i][n] == '=')
            return e->vars[i] + n + 1;
    return NULL;
}

static const char *fixture(const char *name)
{
    static char buf[8][1024];
    static int slot;
    const char *src = getenv("RAGC_SOURCE_DIR");
    char *b = buf[slot++ % 8];
    snprintf(b, sizeof buf[0], "%s%stests/fixtures/config/%s", src ? src : "", src ? "/" : "", name);
    return b;
}

/* Loads yaml (as "my.yaml", profile default) in the given environment; expects failure and
 * returns the diagnostics (caller frees). */
typedef struct result {
    rag_status st;
    rag_err err;
    char *diag;
} result;

static result load_bad(const char *yaml, fake_env *env)
{
    rag_config_params p = rag_config_default_params();
    p.getenv_fn = fake_getenv;
    p.getenv_ud = env;
    rag_buf diag;
    rag_buf_init(&diag, 0);
    p.diagnostics = &diag;
    rag_config *c = NULL;
    result r;
    rag_err_clear(&r.err);
    r.st = rag_config_load_string("my.yaml", yaml, &p, &c, &r.err);
    if (r.st == RAG_OK)
        fail_msg("expected an error for:\n%s", yaml);
    assert_null(c);
    r.diag = rag_buf_steal(&diag);
    return r;
}

static rag_config *load_good(const char *yaml, fake_env *env)
{
    rag_config_params p = rag_config_default_params();
    p.getenv_fn = fake_getenv;
    p.getenv_ud = env;
    rag_config *c = NULL;
    rag_err err;
    rag_err_clear(&err);
    if (rag_config_load_string("my.yaml", yaml, &p, &c, &err) != RAG_OK)
        fail_msg("unexpected error: %s\nfor:\n%s", err.msg, yaml);
    return c;
}

/* Asserts that yaml fails with exactly one error, msg. */
static void expect_one(const char *yaml, const char *msg)
{
    fake_env env = {{NULL}};
    result r = load_bad(yaml, &env);
    assert_int_equal(r.st, RAG_E_CONFIG);
    assert_string_equal(r.err.msg, msg);
    char line[1100];
    snprintf(line, sizeof line, "%s\n", msg);
    assert_string_equal(r.diag, line);
    free(r.diag);
}

static void test_messages_from_the_spec(void **state)
{
    (void)state;
    expect_one("# comment\n"
               "retriever:\n"
               "  top_k: 5\n"
               "  bm25:\n"
               "    k1: 0.9\n"
               "    b: 0.4\n"
               "    k3: 1\n",
               "my.yaml:7: retriever.bm25.k3: unknown key (expected one of: k1, b, stemmer, stopwords)");
    expect_one("# c\nretriever:\n  top_k: ten\n", "my.yaml:3: retriever.top_k: expected an integer, got 'ten'");
    expect_one("# c\nretriever:\n  top_k: 0\n", "my.yaml:3: retriever.top_k: 0 is out of range 1..1000");
}

static void test_type_and_range_messages(void **state)
{
    (void)state;
    expect_one("retriever:\n  top_k: 1001\n", "my.yaml:2: retriever.top_k: 1001 is out of range 1..1000");
    expect_one("retriever:\n  top_k: 99999999999999999999\n",
               "my.yaml:2: retriever.top_k: 99999999999999999999 is out of range 1..1000");
    expect_one("retriever:\n  top_k: 5.0\n", "my.yaml:2: retriever.top_k: expected an integer, got '5.0'");
    expect_one("retriever:\n  top_k:\n", "my.yaml:2: retriever.top_k: expected an integer, got an empty value");
    expect_one("retriever:\n  top_k: [1]\n", "my.yaml:2: retriever.top_k: expected an integer, got a list");
    expect_one("retriever:\n  bm25:\n    b: 1.5\n", "my.yaml:3: retriever.bm25.b: 1.5 is out of range 0..1");
    expect_one("retriever:\n  bm25:\n    k1: fast\n", "my.yaml:3: retriever.bm25.k1: expected a number, got 'fast'");
    expect_one("retriever:\n  bm25:\n    k1: .inf\n", "my.yaml:3: retriever.bm25.k1: expected a number, got '.inf'");
    expect_one("retriever:\n  bm25:\n    stemmer: snowball\n",
               "my.yaml:3: retriever.bm25.stemmer: 'snowball' is not one of: porter, english, none");
    expect_one("retriever:\n  fusion:\n    method: max\n",
               "my.yaml:3: retriever.fusion.method: 'max' is not one of: rrf, weighted, bm25_only, dense_only");
    expect_one("retriever:\n  neural_reranking:\n    enabled: maybe\n",
               "my.yaml:3: retriever.neural_reranking.enabled: expected a boolean (true or false), got 'maybe'");
    expect_one("retriever:\n  neural_reranking:\n    model: \"\"\n",
               "my.yaml:3: retriever.neural_reranking.model: must not be empty");
    expect_one("retriever: 5\n", "my.yaml:1: retriever: expected a mapping, got '5'");
    expect_one("global_settings:\n  breaker_cooldown_ms: 50\n",
               "my.yaml:2: global_settings.breaker_cooldown_ms: 50 is out of range 100..3600000");
    expect_one("global_settings:\n  request_budget_usd: -0.5\n",
               "my.yaml:2: global_settings.request_budget_usd: -0.5 is out of range (must be >= 0)");
    expect_one("global_settings:\n  log_level: verbose\n",
               "my.yaml:2: global_settings.log_level: 'verbose' is not one of: error, warn, info, debug");
    expect_one("retrievr:\n  top_k: 5\n",
               "my.yaml:1: retrievr: unknown key (expected one of: profile, document_processor, embedder, reranker, "
               "retriever, answer_generator, cache, global_settings)");
    expect_one("retriever:\n  bm25.k1: 1\n",
               "my.yaml:2: retriever.bm25.k1: unknown key (expected one of: top_k, candidates, bm25, fusion, "
               "dense, neural_reranking)");
    expect_one("retriever:\n  top_k: 5\n  top_k: 6\n", "my.yaml:3: retriever.top_k: duplicate key (first set on line 2)");
    expect_one("- a\n- b\n", "my.yaml:1: expected a mapping of sections at the top level, got a list");
    expect_one("profile: [x]\n", "my.yaml:1: profile: expected a string, got a list");
}

static void test_chain_messages(void **state)
{
    (void)state;
    expect_one("embedder:\n  chain:\n    - type: bert\n",
               "my.yaml:3: embedder.chain[0].type: 'bert' is not a valid embedder backend (allowed: none, "
               "huggingface_api, tei, ollama, local)");
    expect_one("reranker:\n  chain:\n    - type: tei\n    - type: none\n",
               "my.yaml:4: reranker.chain[1].type: 'none' is not a valid reranker backend (allowed: huggingface_api, "
               "tei, local)");
    expect_one("answer_generator:\n  chain:\n    - type: extractive\n    - type: tei\n",
               "my.yaml:4: answer_generator.chain[1].type: 'tei' is not a valid generator backend (allowed: "
               "huggingface, openai, ollama, extractive)");
    expect_one("answer_generator:\n  chain:\n    - model: x\n",
               "my.yaml:3: answer_generator.chain[0]: missing required key 'type' (one of: huggingface, openai, "
               "ollama, extractive)");
    expect_one("answer_generator:\n  chain:\n    - type: openai\n      temprature: 1\n",
               "my.yaml:4: answer_generator.chain[0].temprature: unknown key (expected one of: type, model, "
               "base_url, api_key, timeout_ms, max_retries, batch_size, normalize, fallback_models, max_tokens, "
               "temperature, num_ctx, price_input_per_mtok, price_output_per_mtok, price_per_call, threads, "
               "precision)");
    expect_one("embedder:\n  chain:\n    - type: local\n      precision: fp16\n",
               "my.yaml:4: embedder.chain[0].precision: 'fp16' is not one of: f32, int8");
    expect_one("embedder:\n  chain:\n    - type: local\n      threads: 300\n",
               "my.yaml:4: embedder.chain[0].threads: 300 is out of range 0..256");
    expect_one("answer_generator:\n  chain:\n    - type: openai\n      max_retries: 11\n",
               "my.yaml:4: answer_generator.chain[0].max_retries: 11 is out of range 0..10");
    expect_one("answer_generator:\n  chain:\n    - type: openai\n      fallback_models: gpt\n",
               "my.yaml:4: answer_generator.chain[0].fallback_models: expected a list of strings, got 'gpt'");
    expect_one("answer_generator:\n  chain:\n    - type: openai\n      fallback_models: [a, {b: 1}]\n",
               "my.yaml:4: answer_generator.chain[0].fallback_models[1]: expected a string, got a mapping");
    expect_one("answer_generator:\n  chain: extractive\n",
               "my.yaml:2: answer_generator.chain: expected a list of backends, got 'extractive'");
    expect_one("answer_generator:\n  chain:\n    - extractive\n",
               "my.yaml:3: answer_generator.chain[0]: expected a mapping with a 'type' key, got 'extractive'");
    expect_one("embedder:\n  chain:\n    - type: \"\"\n", "my.yaml:3: embedder.chain[0].type: must not be empty");

    char yaml[2048] = "reranker:\n  chain:\n";
    for (int i = 0; i < RAG_CONFIG_MAX_CHAIN + 1; i++)
        strcat(yaml, "    - type: tei\n");
    char want[256];
    snprintf(want, sizeof want, "my.yaml:3: reranker.chain: %d entries, more than the limit of %d",
             RAG_CONFIG_MAX_CHAIN + 1, RAG_CONFIG_MAX_CHAIN);
    expect_one(yaml, want);
}

static void test_cross_field_checks(void **state)
{
    (void)state;
    expect_one("document_processor:\n  chunk_size: 100\n  chunk_overlap: 100\n",
               "my.yaml:3: document_processor.chunk_overlap: 100 must be less than document_processor.chunk_size (100)");
    /* the location is where the overlap was last set, here default.yaml */
    fake_env env = {{NULL}};
    result r = load_bad("document_processor:\n  chunk_size: 64\n", &env);
    assert_non_null(strstr(r.err.msg, "<embedded>/default.yaml:"));
    assert_non_null(strstr(r.err.msg, ": document_processor.chunk_overlap: 64 must be less than"));
    free(r.diag);
    expect_one("retriever:\n  top_k: 50\n  candidates: 20\n",
               "my.yaml:2: retriever.top_k: 50 must not exceed retriever.candidates (20)");
}

/* Every problem of a file is collected, in order, and err says how many more there are. */
static void test_all_errors_collected(void **state)
{
    (void)state;
    const char *path = fixture("bad_keys.yaml");
    rag_config_params p = rag_config_default_params();
    fake_env env = {{NULL}};
    p.getenv_fn = fake_getenv;
    p.getenv_ud = &env;
    p.config_path = path;
    rag_buf diag;
    rag_buf_init(&diag, 0);
    p.diagnostics = &diag;
    rag_config *c = NULL;
    rag_err err;
    assert_int_equal(rag_config_load(&p, &c, &err), RAG_E_CONFIG);
    assert_null(c);
    static const char *const want[] = {
        "3: document_processor.chunk_size: 10 is out of range 16..8192",
        "4: document_processor.chunk_overlap: expected an integer, got 'lots'",
        "6: retriever.top_k: 0 is out of range 1..1000",
        "8: retriever.bm25.k3: unknown key (expected one of: k1, b, stemmer, stopwords)",
        "9: retriever.bm25.b: 1.5 is out of range 0..1",
        "10: retriever.bm25.stemmer: 'snowball' is not one of: porter, english, none",
        "11: retriever.fusion: expected a mapping, got 'rrf'",
        "13: retriever.neural_reranking.enabled: expected a boolean (true or false), got 'maybe'",
        "17: embedder.chain[0].batch_size: 0 is out of range 1..1024",
        "19: embedder.chain[1]: missing required key 'type' (one of: none, huggingface_api, tei, ollama, local)",
        "22: reranker.chain[0].type: 'none' is not a valid reranker backend (allowed: huggingface_api, tei, local)",
        "24: answer_generator.chain: expected a list of backends, got 'extractive'",
        "26: global_settings.monthly_budget_usd: -5 is out of range (must be >= 0)",
        "27: global_settings.log_level: 'verbose' is not one of: error, warn, info, debug",
        "28: global_settings.colour: unknown key (expected one of: data_dir, log_level, max_concurrent_requests, "
        "request_timeout_ms, monthly_budget_usd, request_budget_usd, breaker_failures, breaker_cooldown_ms)",
    };
    size_t n = sizeof want / sizeof want[0];
    rag_buf exp;
    rag_buf_init(&exp, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rag_buf_appendf(&exp, "%s:%s\n", path, want[i]), RAG_OK);
    assert_string_equal(diag.data, exp.data);
    char first[1200];
    snprintf(first, sizeof first, "%s:%s (and %zu more)", path, want[0], n - 1);
    assert_string_equal(err.msg, first);
    rag_buf_free(&exp);
    rag_buf_free(&diag);
}

static void test_yaml_syntax_error(void **state)
{
    (void)state;
    const char *path = fixture("syntax.yaml");
    rag_config_params p = rag_config_default_params();
    fake_env env = {{NULL}};
    p.getenv_fn = fake_getenv;
    p.getenv_ud = &env;
    p.config_path = path;
    rag_config *c = NULL;
    rag_err err;
    assert_int_equal(rag_config_load(&p, &c, &err), RAG_E_CONFIG);
    char want[1200];
    snprintf(want, sizeof want, "%s:3:14: YAML syntax error: mapping values are not allowed in this context", path);
    assert_string_equal(err.msg, want);

    result r = load_bad("a: [1, 2\nb: 3\n", &env);
    assert_non_null(strstr(r.err.msg, "my.yaml:2:"));
    assert_non_null(strstr(r.err.msg, "YAML syntax error: did not find expected ',' or ']'"));
    free(r.diag);
    r = load_bad("retriever:\n  top_k: \"5\n", &env);
    assert_non_null(strstr(r.err.msg, "YAML syntax error: found unexpected end of stream"));
    free(r.diag);
    expect_one("base: &a\n  x: 1\nretriever: *a\n", "my.yaml:3: YAML aliases (*a) are not supported");
    expect_one("retriever:\n  top_k: 5\n---\nretriever:\n  top_k: 6\n",
               "my.yaml:3: more than one YAML document ('---') is not supported");
    r = load_bad("retriever:\n  top_k: \"\x01\"\n", &env);
    assert_non_null(strstr(r.err.msg, "YAML syntax error: control characters are not allowed"));
    free(r.diag);
    r = load_bad("retriever:\n  top_k: \xff\xfe\n", &env);
    assert_non_null(strstr(r.err.msg, "YAML syntax error: invalid"));
    free(r.diag);

    /* nesting is capped */
    char deep[400] = "";
    for (int i = 0; i < CFG_MAX_DEPTH + 2; i++)
        strcat(deep, "[");
    r = load_bad(deep, &env);
    assert_non_null(strstr(r.err.msg, "nesting deeper than"));
    free(r.diag);
}

static void test_empty_and_null_sections(void **state)
{
    (void)state;
    fake_env env = {{NULL}};
    rag_config *c = load_good("", &env);
    assert_int_equal(c->retriever.top_k, 5);
    rag_config_free(c);
    c = load_good("# only a comment\n", &env);
    rag_config_free(c);
    c = load_good("retriever:\n  # top_k: 6\nembedder:\n  chain:\n", &env);
    assert_int_equal(c->retriever.top_k, 5);
    assert_int_equal(c->embedder.n_chain, 0); /* "chain:" with no value = empty list */
    rag_config_free(c);
    c = load_good("profile: mine\nanswer_generator:\n  stream: yes\n  chain:\n    - type: ollama\n"
                  "      model: ''\n      normalize: off\n",
                  &env);
    assert_true(c->answer_generator.stream);
    assert_string_equal(c->profile, "default"); /* the profile: key is informational */
    assert_null(c->answer_generator.chain[0].model); /* empty = unset */
    assert_int_equal(c->answer_generator.chain[0].normalize, 0);
    rag_config_free(c);
}

static void test_interpolation(void **state)
{
    (void)state;
    fake_env env = {{"RAGC_TEST_TOPK=7", "RAGC_TEST_EMPTY=", "RAGC_TEST_KEY=abc"}};
    rag_config_params p = rag_config_default_params();
    p.getenv_fn = fake_getenv;
    p.getenv_ud = &env;
    p.config_path = fixture("interp.yaml");
    rag_config *c = NULL;
    rag_err err;
    rag_err_clear(&err);
    if (rag_config_load(&p, &c, &err) != RAG_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(c->retriever.top_k, 7);              /* set */
    assert_true(c->retriever.bm25.k1 == 0.9);             /* unset, default; converted after interpolation */
    assert_true(c->retriever.bm25.b == 0.25);             /* empty with :- takes the default */
    const rag_backend_config *g = &c->answer_generator.chain[0];
    assert_string_equal(g->model, "meta-llama/Llama-3.1-8B-Instruct");
    assert_string_equal(g->api_key, "pa$word-$HOME-abc"); /* $$ and a lone $ */
    assert_string_equal(c->global_settings.data_dir, "/srv/ragc"); /* nested default */
    rag_config_free(c);

    fake_env env2 = {{"RAGC_TEST_TOPK=7", "RAGC_TEST_BASE=/opt", "RAGC_TEST_EMPTY=0.5"}};
    p.getenv_ud = &env2;
    assert_int_equal(rag_config_load(&p, &c, &err), RAG_OK);
    assert_string_equal(c->global_settings.data_dir, "/opt/ragc");
    assert_true(c->retriever.bm25.b == 0.5);
    assert_string_equal(c->answer_generator.chain[0].api_key, "pa$word-$HOME-");
    rag_config_free(c);

    /* unset without a default: file:line: key */
    fake_env none = {{NULL}};
    p.getenv_ud = &none;
    assert_int_equal(rag_config_load(&p, &c, &err), RAG_E_CONFIG);
    char want[1200];
    snprintf(want, sizeof want,
             "%s:2: retriever.top_k: environment variable RAGC_TEST_TOPK is not set and has no default",
             fixture("interp.yaml"));
    assert_string_equal(err.msg, want);

    p.config_path = fixture("missing_var.yaml");
    assert_int_equal(rag_config_load(&p, &c, &err), RAG_E_CONFIG);
    snprintf(want, sizeof want,
             "%s:4: retriever.neural_reranking.model: environment variable RAGC_TEST_NOT_SET is not set and has "
             "no default",
             fixture("missing_var.yaml"));
    assert_string_equal(err.msg, want);

    /* ${VAR} set to "" is used as is (only :- treats empty as unset) */
    fake_env empty = {{"E="}};
    expect_one("retriever:\n  neural_reranking:\n    model: \"${NOPE_X}\"\n",
               "my.yaml:3: retriever.neural_reranking.model: environment variable NOPE_X is not set and has no "
               "default");
    result r = load_bad("retriever:\n  top_k: \"${E}\"\n", &empty);
    assert_string_equal(r.err.msg, "my.yaml:2: retriever.top_k: expected an integer, got ''");
    free(r.diag);
}

static void test_interpolation_syntax(void **state)
{
    (void)state;
    expect_one("retriever:\n  top_k: \"${1X}\"\n",
               "my.yaml:2: retriever.top_k: invalid variable reference at '${1X}' (expected ${NAME} or "
               "${NAME:-default})");
    expect_one("retriever:\n  top_k: \"${X\"\n", "my.yaml:2: retriever.top_k: unterminated ${X (missing '}')");
    expect_one("retriever:\n  top_k: \"${X:-5\"\n",
               "my.yaml:2: retriever.top_k: unterminated ${...:-default} (missing '}')");
    expect_one("retriever:\n  top_k: \"${X-5}\"\n",
               "my.yaml:2: retriever.top_k: invalid variable reference '${X-' (expected ${NAME} or ${NAME:-default})");

    /* unused defaults are not evaluated, used ones are */
    fake_env env = {{"A=3"}};
    rag_config *c = load_good("retriever:\n  top_k: \"${A:-${UNSET_B}}\"\n", &env);
    assert_int_equal(c->retriever.top_k, 3);
    rag_config_free(c);
    result r = load_bad("retriever:\n  top_k: \"${Z:-${UNSET_B}}\"\n", &env);
    assert_string_equal(r.err.msg,
                        "my.yaml:2: retriever.top_k: environment variable UNSET_B is not set and has no default");
    free(r.diag);

    /* the interpolated value is capped */
    size_t n = RAG_CONFIG_MAX_VALUE + 1;
    char *big = malloc(n + 6);
    assert_non_null(big);
    memcpy(big, "BIG=", 4);
    memset(big + 4, 'x', n);
    big[4 + n] = '\0';
    fake_env benv = {{big}};
    r = load_bad("global_settings:\n  data_dir: \"${BIG}\"\n", &benv);
    assert_int_equal(r.st, RAG_E_TOO_LARGE);
    char want[256];
    snprintf(want, sizeof want, "my.yaml:2: global_settings.data_dir: value longer than %d bytes after interpolation",
             RAG_CONFIG_MAX_VALUE);
    assert_string_equal(r.err.msg, want);
    free(r.diag);
    free(big);

    /* invalid UTF-8 arriving through the environment */
    fake_env u = {{"U=\xc3("}};
    r = load_bad("global_settings:\n  data_dir: \"${U}\"\n", &u);
    assert_string_equal(r.err.msg, "my.yaml:2: global_settings.data_dir: value is not valid UTF-8 (byte 0)");
    free(r.diag);
}

/* Direct checks of the interpolation function. */
static void test_interpolate_unit(void **state)
{
    (void)state;
    fake_env env = {{"A=x", "EMPTY="}};
    cfg_env ce = {fake_getenv, &env};
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},           {"${A}", "x"},           {"<${A}>", "<x>"},
        {"${EMPTY}", ""},             {"${EMPTY:-d}", "d"},     {"${UNSET:-d e f}", "d e f"},
        {"${A:-d}", "x"},             {"$$", "$"},              {"$${A}", "${A}"},
        {"$", "$"},                   {"a$b", "a$b"},           {"$$$$", "$$"},
        {"${UNSET:-}", ""},           {"${UNSET:-${A}y}", "xy"}, {"${A}${A}", "xx"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL, why[256] = "";
        size_t len = 0;
        rag_status st = cfg_interpolate(cases[i].in, strlen(cases[i].in), &ce, &out, &len, why, sizeof why);
        if (st != RAG_OK)
            fail_msg("'%s': %s", cases[i].in, why);
        assert_string_equal(out, cases[i].out);
        assert_int_equal(len, strlen(cases[i].out));
        free(out);
    }
    char *out = NULL, why[256];
    assert_int_equal(cfg_interpolate("${NOPE}", 7, &ce, &out, NULL, why, sizeof why), RAG_E_CONFIG);
    assert_null(out);
    assert_string_equal(why, "environment variable NOPE is not set and has no default");
}

/* The parser's node cap (CFG_MAX_NODES) and the interpolation's nesting cap: one past each is
 * refused with a message naming the cap, one at each is accepted. */
static void test_node_and_nesting_caps(void **state)
{
    (void)state;
    fake_env env = {{NULL}};
    /* the root mapping, its key "x", a flow sequence and k scalars: k + 3 nodes */
    for (int over = 0; over <= 1; over++) {
        size_t k = (size_t)CFG_MAX_NODES - 3 + (size_t)over;
        rag_buf y;
        rag_buf_init(&y, 0);
        assert_int_equal(rag_buf_append_str(&y, "x: ["), RAG_OK);
        for (size_t i = 0; i < k; i++)
            assert_int_equal(rag_buf_append_str(&y, i ? ",1" : "1"), RAG_OK);
        assert_int_equal(rag_buf_append_str(&y, "]\n"), RAG_OK);
        result r = load_bad(y.data, &env);
        if (over) {
            assert_int_equal(r.st, RAG_E_TOO_LARGE);
            char want[128];
            snprintf(want, sizeof want, "more than %d YAML nodes", CFG_MAX_NODES);
            if (!strstr(r.err.msg, want) || strncmp(r.err.msg, "my.yaml:1: ", 11) != 0)
                fail_msg("%zu nodes: %s", k + 3, r.err.msg);
        } else { /* parsed; refused by the schema instead */
            assert_int_equal(r.st, RAG_E_CONFIG);
            assert_non_null(strstr(r.err.msg, "x: unknown key"));
        }
        free(r.diag);
        rag_buf_free(&y);
    }

    /* ${UNSET:-${UNSET:-...v...}}: 7 nested defaults expand, 8 are refused */
    cfg_env ce = {fake_getenv, &env};
    for (int levels = 7; levels <= 8; levels++) {
        char in[512] = "";
        for (int i = 0; i < levels; i++)
            strcat(in, "${UNSET:-");
        strcat(in, "v");
        for (int i = 0; i < levels; i++)
            strcat(in, "}");
        char *out = NULL, why[256] = "";
        rag_status st = cfg_interpolate(in, strlen(in), &ce, &out, NULL, why, sizeof why);
        if (levels == 7) {
            if (st != RAG_OK)
                fail_msg("7 levels: %s", why);
            assert_string_equal(out, "v");
            free(out);
        } else {
            assert_int_equal(st, RAG_E_CONFIG);
            assert_null(out);
            assert_string_equal(why, "${...} nested more than 8 levels deep");
            char yaml[640];
            snprintf(yaml, sizeof yaml, "global_settings:\n  data_dir: \"%s\"\n", in);
            result r = load_bad(yaml, &env);
            assert_string_equal(r.err.msg,
                                "my.yaml:2: global_settings.data_dir: ${...} nested more than 8 levels deep");
            free(r.diag);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_from_the_spec),
        cmocka_unit_test(test_type_and_range_messages),
        cmocka_unit_test(test_chain_messages),
        cmocka_unit_test(test_cross_field_checks),
        cmocka_unit_test(test_all_errors_collected),
        cmocka_unit_test(test_yaml_syntax_error),
        cmocka_unit_test(test_empty_and_null_sections),
        cmocka_unit_test(test_interpolation),
        cmocka_unit_test(test_interpolation_syntax),
        cmocka_unit_test(test_interpolate_unit),
        cmocka_unit_test(test_node_and_nesting_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
