/* Unit tests for src/config: embedded profiles, profile detection, RAGC_CONFIG_DIR, overlay
 * semantics, user files, dump (redaction, round trip). The environment is faked through
 * params.getenv_fn; the process environment is never read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "ragc/config.h"

/* ---- fake environment: NULL-terminated "NAME=value" list ---- */
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

static rag_config_params params_with(fake_env *env)
{
    rag_config_params p = rag_config_default_params();
    p.getenv_fn = fake_getenv;
    p.getenv_ud = env;
    return p;
}

/* Path of a fixture: $RAGC_SOURCE_DIR/tests/fixtures/config/<name>, or relative to the cwd. */
static const char *fixture(const char *name)
{
    static char buf[8][1024];
    static int slot;
    const char *src = getenv("RAGC_SOURCE_DIR");
    char *b = buf[slot++ % 8];
    snprintf(b, sizeof buf[0], "%s%stests/fixtures/config/%s", src ? src : "", src ? "/" : "", name);
    return b;
}

static rag_config *load_ok(rag_config_params *p)
{
    rag_config *c = NULL;
    rag_err err;
    rag_err_clear(&err);
    rag_status st = rag_config_load(p, &c, &err);
    if (st != RAG_OK)
        fail_msg("load failed: %s", err.msg);
    assert_non_null(c);
    return c;
}

static char *dump(const rag_config *c)
{
    rag_buf b;
    rag_buf_init(&b, 0);
    assert_int_equal(rag_config_dump(c, &b), RAG_OK);
    return rag_buf_steal(&b);
}

/* ---- tests ---- */

static void test_every_profile_loads(void **state)
{
    (void)state;
    fake_env env = {{NULL}};
    assert_string_equal(rag_config_profile_name(0), "default");
    assert_string_equal(rag_config_profile_name(3), "railway");
    assert_null(rag_config_profile_name(4));
    for (size_t i = 0; rag_config_profile_name(i); i++) {
        const char *name = rag_config_profile_name(i);
        rag_config_params p = params_with(&env);
        p.profile = name;
        rag_config *c = load_ok(&p);
        assert_string_equal(c->profile, name);
        char want[128];
        if (!strcmp(name, "default"))
            snprintf(want, sizeof want, "<embedded>/default.yaml");
        else
            snprintf(want, sizeof want, "<embedded>/default.yaml, <embedded>/%s.yaml", name);
        assert_string_equal(c->sources, want);
        /* every profile is runnable: a generator chain ending in the extractive fallback */
        assert_true(c->answer_generator.n_chain >= 1);
        assert_string_equal(c->answer_generator.chain[c->answer_generator.n_chain - 1].type, "extractive");
        assert_true(c->embedder.n_chain >= 1);
        assert_string_equal(c->embedder.chain[c->embedder.n_chain - 1].type, "none");
        rag_config_free(c);
    }
}

static void test_default_values(void **state)
{
    (void)state;
    fake_env env = {{NULL}};
    rag_config_params p = params_with(&env);
    p.profile = "default";
    rag_config *c = load_ok(&p);
    assert_int_equal(c->document_processor.chunk_size, 512);
    assert_int_equal(c->document_processor.chunk_overlap, 64);
    assert_int_equal(c->document_processor.max_file_mb, 256);
    assert_int_equal(c->document_processor.max_text_mb, 64);
    assert_int_equal(c->embedder.n_chain, 1);
    assert_string_equal(c->embedder.chain[0].type, "none");
    assert_null(c->embedder.chain[0].model);
    assert_int_equal(c->embedder.chain[0].timeout_ms, -1);
    assert_true(c->embedder.chain[0].temperature == -1.0);
    assert_int_equal(c->embedder.chain[0].normalize, -1);
    assert_int_equal(c->reranker.n_chain, 0);
    assert_null(c->reranker.chain);
    assert_int_equal(c->retriever.top_k, 5);
    assert_int_equal(c->retriever.candidates, 100);
    assert_true(c->retriever.bm25.k1 == 0.9);
    assert_true(c->retriever.bm25.b == 0.4);
    assert_int_equal(c->retriever.bm25.stemmer, RAG_CONFIG_STEMMER_PORTER);
    assert_int_equal(c->retriever.bm25.stopwords, RAG_CONFIG_STOPWORDS_LUCENE);
    assert_int_equal(c->retriever.fusion.method, RAG_CONFIG_FUSION_RRF);
    assert_int_equal(c->retriever.fusion.rrf_k, 60);
    assert_true(c->retriever.fusion.dense_weight == 0.5);
    assert_false(c->retriever.neural_reranking.enabled);
    assert_string_equal(c->retriever.neural_reranking.model, "cross-encoder/ms-marco-MiniLM-L6-v2");
    assert_int_equal(c->retriever.neural_reranking.max_candidates, 50);
    assert_int_equal(c->retriever.neural_reranking.batch_size, 16);
    assert_int_equal(c->answer_generator.n_chain, 1);
    assert_string_equal(c->answer_generator.chain[0].type, "extractive");
    assert_int_equal(c->answer_generator.max_sentences, 4);
    assert_int_equal(c->answer_generator.context_tokens, 3000);
    assert_int_equal(c->answer_generator.max_tokens, 512);
    assert_true(c->answer_generator.temperature == 0.2);
    assert_false(c->answer_generator.stream);
    assert_string_equal(c->global_settings.data_dir, ".ragc");
    assert_int_equal(c->global_settings.log_level, RAG_LOG_WARN);
    assert_int_equal(c->global_settings.max_concurrent_requests, 4);
    assert_int_equal(c->global_settings.request_timeout_ms, 30000);
    assert_true(c->global_settings.monthly_budget_usd == 0.0);
    assert_true(c->global_settings.request_budget_usd == 0.0);
    assert_int_equal(c->global_settings.breaker_failures, 5);
    assert_int_equal(c->global_settings.breaker_cooldown_ms, 30000);
    assert_string_equal(rag_config_stemmer_str(c->retriever.bm25.stemmer), "porter");
    assert_string_equal(rag_config_stopwords_str(RAG_CONFIG_STOPWORDS_NONE), "none");
    assert_string_equal(rag_config_fusion_str(RAG_CONFIG_FUSION_DENSE_ONLY), "dense_only");
    assert_string_equal(rag_config_fusion_str((rag_config_fusion)99), "?");
    rag_config_free(c);
}

/* default.yaml and the schema table must agree on every default. */
static void test_default_yaml_matches_schema(void **state)
{
    (void)state;
    fake_env env = {{NULL}};
    rag_config_params p = params_with(&env);
    p.profile = "default";
    rag_config *from_yaml = load_ok(&p);
    rag_config *from_schema = NULL;
    cfg_env ce = {fake_getenv, &env};
    rag_err err;
    assert_int_equal(cfg_load_schema_defaults(&ce, &from_schema, &err), RAG_OK);
    char *a = dump(from_yaml), *b = dump(from_schema);
    assert_string_equal(a, b);
    free(a);
    free(b);
    rag_config_free(from_yaml);
    rag_config_free(from_schema);
}

static void test_profile_values(void **state)
{
    (void)state;
    fake_env env = {{NULL}};
    rag_config_params p = params_with(&env);
    p.profile = "hf_spaces";
    rag_config *c = load_ok(&p);
    assert_string_equal(c->global_settings.data_dir, "/data/ragc");
    assert_int_equal(c->embedder.n_chain, 3);
    assert_string_equal(c->embedder.chain[0].type, "huggingface_api");
    assert_string_equal(c->embedder.chain[0].model, "sentence-transformers/all-MiniLM-L6-v2");
    assert_string_equal(c->embedder.chain[1].type, "local");
    assert_string_equal(c->embedder.chain[1].model, "sentence-transformers/all-MiniLM-L6-v2");
    assert_null(c->embedder.chain[0].api_key); /* HF_TOKEN unset: empty = not set */
    assert_int_equal(c->answer_generator.n_chain, 2);
    const rag_backend_config *g = &c->answer_generator.chain[0];
    assert_string_equal(g->type, "huggingface");
    assert_string_equal(g->model, "meta-llama/Llama-3.1-8B-Instruct:cheapest");
    assert_int_equal(g->n_fallback_models, 2);
    assert_non_null(g->fallback_models[0]);
    /* unchanged keys keep default.yaml's values */
    assert_int_equal(c->retriever.top_k, 5);
    rag_config_free(c);

    fake_env tok = {{"HF_TOKEN=hf_abc", "RAGC_DATA_DIR=/mnt/x", "RAGC_LOG=DEBUG"}};
    p = params_with(&tok);
    p.profile = "hf_spaces";
    c = load_ok(&p);
    assert_string_equal(c->embedder.chain[0].api_key, "hf_abc");
    assert_string_equal(c->answer_generator.chain[0].api_key, "hf_abc");
    assert_string_equal(c->global_settings.data_dir, "/mnt/x");
    assert_int_equal(c->global_settings.log_level, RAG_LOG_DEBUG);
    rag_config_free(c);

    p = params_with(&env);
    p.profile = "local";
    c = load_ok(&p);
    assert_string_equal(c->global_settings.data_dir, ".ragc");
    assert_int_equal(c->embedder.n_chain, 1);
    assert_string_equal(c->embedder.chain[0].type, "none");
    rag_config_free(c);

    /* railway: volume mount path via a nested default, RAGC_DATA_DIR still wins */
    p.profile = "railway";
    c = load_ok(&p);
    assert_string_equal(c->global_settings.data_dir, "/data/ragc");
    rag_config_free(c);
    fake_env vol = {{"RAILWAY_VOLUME_MOUNT_PATH=/vol"}};
    p = params_with(&vol);
    p.profile = "railway";
    c = load_ok(&p);
    assert_string_equal(c->global_settings.data_dir, "/vol/ragc");
    rag_config_free(c);
    fake_env both = {{"RAILWAY_VOLUME_MOUNT_PATH=/vol", "RAGC_DATA_DIR=/explicit"}};
    p = params_with(&both);
    p.profile = "railway";
    c = load_ok(&p);
    assert_string_equal(c->global_settings.data_dir, "/explicit");
    rag_config_free(c);
}

static void test_detect_profile_order(void **state)
{
    (void)state;
    fake_env none = {{NULL}};
    assert_string_equal(rag_config_detect_profile(NULL, fake_getenv, &none), "local");
    assert_string_equal(rag_config_detect_profile("", fake_getenv, &none), "local");
    fake_env rw = {{"RAILWAY_ENVIRONMENT=production"}};
    assert_string_equal(rag_config_detect_profile(NULL, fake_getenv, &rw), "railway");
    fake_env sp = {{"RAILWAY_ENVIRONMENT=production", "SPACE_ID=user/space"}};
    assert_string_equal(rag_config_detect_profile(NULL, fake_getenv, &sp), "hf_spaces");
    fake_env rp = {{"RAILWAY_ENVIRONMENT=production", "SPACE_ID=user/space", "RAGC_PROFILE=default"}};
    assert_string_equal(rag_config_detect_profile(NULL, fake_getenv, &rp), "default");
    assert_string_equal(rag_config_detect_profile("local", fake_getenv, &rp), "local");
    /* empty variables count as unset */
    fake_env empty = {{"RAGC_PROFILE=", "SPACE_ID=", "RAILWAY_ENVIRONMENT=x"}};
    assert_string_equal(rag_config_detect_profile(NULL, fake_getenv, &empty), "railway");
}

static void test_load_uses_detection(void **state)
{
    (void)state;
    fake_env sp = {{"SPACE_ID=user/space"}};
    rag_config_params p = params_with(&sp);
    rag_config *c = load_ok(&p);
    assert_string_equal(c->profile, "hf_spaces");
    rag_config_free(c);

    fake_env none = {{NULL}};
    p = params_with(&none);
    c = load_ok(&p);
    assert_string_equal(c->profile, "local");
    rag_config_free(c);

    /* with a user file, auto-detection does not apply ... */
    p = params_with(&sp);
    p.config_path = fixture("secret.yaml");
    c = load_ok(&p);
    assert_string_equal(c->profile, "default");
    assert_int_equal(c->answer_generator.n_chain, 1);
    rag_config_free(c);

    /* ... but an explicit profile (RAGC_PROFILE or params.profile) is layered under the file */
    fake_env rp = {{"RAGC_PROFILE=hf_spaces"}};
    p = params_with(&rp);
    p.config_path = fixture("secret.yaml");
    c = load_ok(&p);
    assert_string_equal(c->profile, "hf_spaces");
    assert_int_equal(c->answer_generator.n_chain, 2);
    assert_string_equal(c->embedder.chain[0].type, "tei"); /* the user file's chain replaced it */
    char want[1200];
    snprintf(want, sizeof want, "<embedded>/default.yaml, <embedded>/hf_spaces.yaml, %s", fixture("secret.yaml"));
    assert_string_equal(c->sources, want);
    rag_config_free(c);
}

static void test_unknown_profile(void **state)
{
    (void)state;
    fake_env env = {{NULL}};
    rag_config_params p = params_with(&env);
    rag_buf diag;
    rag_buf_init(&diag, 0);
    p.diagnostics = &diag;
    p.profile = "x";
    rag_config *c = (rag_config *)&p; /* must be reset to NULL */
    rag_err err;
    assert_int_equal(rag_config_load(&p, &c, &err), RAG_E_NOT_FOUND);
    assert_null(c);
    assert_string_equal(err.msg, "unknown profile 'x' (known: default, local, hf_spaces, railway)");
    assert_string_equal(diag.data, "unknown profile 'x' (known: default, local, hf_spaces, railway)\n");
    rag_buf_free(&diag);

    p.diagnostics = NULL;
    p.profile = "../../etc/passwd";
    assert_int_equal(rag_config_load(&p, &c, &err), RAG_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "unknown profile"));

    fake_env rp = {{"RAGC_PROFILE=nope"}};
    p = params_with(&rp);
    assert_int_equal(rag_config_load(&p, &c, &err), RAG_E_NOT_FOUND);
    assert_string_equal(err.msg, "unknown profile 'nope' (known: default, local, hf_spaces, railway)");
}

static void test_config_dir_override(void **state)
{
    (void)state;
    char dir[1100];
    snprintf(dir, sizeof dir, "RAGC_CONFIG_DIR=%s", fixture("profiles"));
    fake_env env = {{dir}};
    rag_config_params p = params_with(&env);
    p.profile = "local";
    rag_config *c = load_ok(&p);
    assert_int_equal(c->document_processor.chunk_size, 300); /* from the directory */
    char want[1200];
    snprintf(want, sizeof want, "<embedded>/default.yaml, %s/local.yaml", fixture("profiles"));
    assert_string_equal(c->sources, want);
    rag_config_free(c);

    /* not in the directory: the embedded copy */
    p.profile = "hf_spaces";
    c = load_ok(&p);
    assert_string_equal(c->sources, "<embedded>/default.yaml, <embedded>/hf_spaces.yaml");
    assert_int_equal(c->document_processor.chunk_size, 512);
    rag_config_free(c);

    /* a profile that only exists in the directory */
    p.profile = "custom";
    c = load_ok(&p);
    assert_string_equal(c->profile, "custom");
    assert_int_equal(c->retriever.top_k, 9);
    rag_config_free(c);

    rag_err err;
    p.profile = "zzz";
    assert_int_equal(rag_config_load(&p, &c, &err), RAG_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "unknown profile 'zzz' (known: default, local, hf_spaces, railway; no "));
}

static void test_overlay_semantics(void **state)
{
    (void)state;
    fake_env env = {{"OPENAI_API_KEY=sk-test"}};
    rag_config_params p = params_with(&env);
    p.profile = "hf_spaces";
    p.config_path = fixture("user_overlay.yaml");
    rag_config *c = load_ok(&p);
    /* mapping merged: k1 changed, b and the rest of bm25 kept */
    assert_true(c->retriever.bm25.k1 == 1.2);
    assert_true(c->retriever.bm25.b == 0.4);
    assert_int_equal(c->retriever.bm25.stemmer, RAG_CONFIG_STEMMER_PORTER);
    /* list replaced: hf_spaces had [huggingface, extractive]; the user file has one entry */
    assert_int_equal(c->answer_generator.n_chain, 1);
    const rag_backend_config *g = &c->answer_generator.chain[0];
    assert_string_equal(g->type, "openai");
    assert_string_equal(g->model, "gpt-4o-mini");
    assert_string_equal(g->base_url, "https://api.openai.com/v1");
    assert_string_equal(g->api_key, "sk-test");
    assert_int_equal(g->timeout_ms, 20000);
    assert_int_equal(g->max_retries, 3);
    assert_true(g->temperature == 0.7);
    assert_int_equal(g->n_fallback_models, 1); /* replaced, not appended */
    assert_string_equal(g->fallback_models[0], "gpt-4o");
    assert_true(g->price_input_per_mtok == 0.15);
    assert_true(g->price_output_per_mtok == 0.6);
    assert_true(g->price_per_call == -1.0);
    assert_int_equal(g->batch_size, -1);
    assert_int_equal(g->num_ctx, -1);
    /* the profile's embedder chain is untouched */
    assert_string_equal(c->embedder.chain[0].type, "huggingface_api");
    /* the rest of answer_generator merged */
    assert_int_equal(c->answer_generator.max_sentences, 4);
    rag_config_free(c);

    /* a list can be emptied, and a later layer's mapping keeps earlier keys */
    rag_err err;
    p = params_with(&env);
    p.profile = "hf_spaces";
    assert_int_equal(rag_config_load_string("t.yaml", "embedder:\n  chain: []\nanswer_generator:\n  stream: true\n",
                                            &p, &c, &err),
                     RAG_OK);
    assert_int_equal(c->embedder.n_chain, 0);
    assert_true(c->answer_generator.stream);
    assert_int_equal(c->answer_generator.n_chain, 2);
    rag_config_free(c);
}

static void test_user_file_from_env_and_missing(void **state)
{
    (void)state;
    char var[1100];
    snprintf(var, sizeof var, "RAGC_CONFIG=%s", fixture("secret.yaml"));
    fake_env env = {{var}};
    rag_config_params p = params_with(&env);
    rag_config *c = load_ok(&p);
    assert_string_equal(c->embedder.chain[0].type, "tei");
    assert_int_equal(c->embedder.chain[0].normalize, 1);
    rag_config_free(c);

    fake_env none = {{NULL}};
    p = params_with(&none);
    p.config_path = fixture("does-not-exist.yaml");
    rag_err err;
    assert_int_equal(rag_config_load(&p, &c, &err), RAG_E_NOT_FOUND);
    assert_null(c);
    assert_non_null(strstr(err.msg, "does-not-exist.yaml"));

    p.config_path = fixture("profiles"); /* a directory */
    assert_int_equal(rag_config_load(&p, &c, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "directory"));
}

static void test_too_large(void **state)
{
    (void)state;
    size_t n = RAG_CONFIG_MAX_INPUT + 10;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, '#', n);
    big[n] = '\0';
    rag_config *c;
    rag_err err;
    assert_int_equal(rag_config_load_string("big.yaml", big, NULL, &c, &err), RAG_E_TOO_LARGE);
    assert_non_null(strstr(err.msg, "big.yaml"));
    free(big);
    assert_int_equal(rag_config_load_string("x.yaml", NULL, NULL, &c, &err), RAG_E_BAD_INPUT);
}

static void test_dump_redacts_and_round_trips(void **state)
{
    (void)state;
    fake_env env = {{"HF_TOKEN=hf_SECRET_value"}};
    rag_config_params p = params_with(&env);
    p.profile = "hf_spaces";
    p.config_path = fixture("secret.yaml");
    rag_config *c = load_ok(&p);
    assert_string_equal(c->embedder.chain[0].api_key, "s3cr3t-t0ken");
    assert_string_equal(c->answer_generator.chain[0].api_key, "hf_SECRET_value");
    char *y = dump(c);
    assert_null(strstr(y, "s3cr3t"));
    assert_null(strstr(y, "hf_SECRET"));
    assert_non_null(strstr(y, "api_key: \"***\""));
    assert_non_null(strstr(y, "profile: \"hf_spaces\""));
    assert_non_null(strstr(y, "    k1: 0.9\n"));
    assert_non_null(strstr(y, "  chain: []\n")); /* reranker */
    rag_config_free(c);
    free(y);

    /* no key set: no api_key line at all */
    fake_env none = {{NULL}};
    p = params_with(&none);
    p.profile = "hf_spaces";
    c = load_ok(&p);
    y = dump(c);
    assert_null(strstr(y, "api_key"));
    rag_config_free(c);
    free(y);

    /* round trip, including '$' (dumped as "$$") and odd characters */
    rag_err err;
    p = params_with(&none);
    const char *yaml = "global_settings:\n  data_dir: \"/tmp/a$$b ${X:-c}: \\\"q\\\" #x\"\n"
                       "retriever:\n  bm25:\n    k1: 1.2345678901234567\n    b: 0.1\n"
                       "answer_generator:\n  chain:\n    - type: ollama\n      num_ctx: 8192\n"
                       "      fallback_models: [a, b]\n    - type: extractive\n";
    assert_int_equal(rag_config_load_string("rt.yaml", yaml, &p, &c, &err), RAG_OK);
    assert_string_equal(c->global_settings.data_dir, "/tmp/a$b c: \"q\" #x");
    char *first = dump(c);
    rag_config *c2 = NULL;
    if (rag_config_load_string("dump.yaml", first, &p, &c2, &err) != RAG_OK)
        fail_msg("dump does not load back: %s\n%s", err.msg, first);
    char *second = dump(c2);
    assert_string_equal(first, second);
    assert_string_equal(c2->global_settings.data_dir, "/tmp/a$b c: \"q\" #x");
    assert_true(c2->retriever.bm25.k1 == 1.2345678901234567);
    assert_int_equal(c2->answer_generator.chain[0].num_ctx, 8192);
    free(first);
    free(second);
    rag_config_free(c);
    rag_config_free(c2);

    /* a buffer cap is reported */
    p.profile = "default";
    c = load_ok(&p);
    rag_buf small;
    rag_buf_init(&small, 64);
    assert_int_equal(rag_config_dump(c, &small), RAG_E_TOO_LARGE);
    rag_buf_free(&small);
    rag_config_free(c);
    rag_config_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_profile_loads),
        cmocka_unit_test(test_default_values),
        cmocka_unit_test(test_default_yaml_matches_schema),
        cmocka_unit_test(test_profile_values),
        cmocka_unit_test(test_detect_profile_order),
        cmocka_unit_test(test_load_uses_detection),
        cmocka_unit_test(test_unknown_profile),
        cmocka_unit_test(test_config_dir_override),
        cmocka_unit_test(test_overlay_semantics),
        cmocka_unit_test(test_user_file_from_env_and_missing),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_dump_redacts_and_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
