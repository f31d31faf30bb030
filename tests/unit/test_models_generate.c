/* Generators (huggingface router, openai-compatible, ollama) against the fake HF server: the
 * grounded answer, streaming, usage and cost (config prices, router catalogue), fallback models,
 * stream failures (partial text discarded), request bodies. */
#include "test_models_fake.h"

#include <stdatomic.h>

#define SYSTEM "Answer from the sources."
#define PROMPT_WORDS 31 /* words in SYSTEM + PROMPT: the fake's prompt_tokens */
#define ANSWER_WORDS 13

static const rag_chat_message MSGS[] = {{"system", SYSTEM}, {"user", PROMPT}};

/* Records what a generation streamed. */
typedef struct rec {
    char text[4096];       /* text since the last discard */
    char voided[4096];     /* text voided by the last discard */
    int calls;
    int discards;
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
    memcpy(r->voided, r->text, sizeof r->voided);
    r->text[0] = '\0';
    r->discards++;
}

static rag_generator_t *gen_new(fx *f, const rag_backend_config *cfg)
{
    rag_generator_t *g = NULL;
    rag_err err;
    if (rag_generator_create(cfg, &f->env, &g, &err) != RAG_OK)
        fail_msg("create %s: %s", cfg->type, err.msg);
    return g;
}

static rag_gen_params params(bool stream)
{
    rag_gen_params p = rag_gen_default_params();
    p.stream = stream;
    p.on_discard = rec_discard;
    return p;
}

static void test_router_chat(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    rag_backend_config cfg = fake_backend("huggingface", "Qwen/Qwen2.5-7B-Instruct:cheapest");
    rag_generator_t *g = gen_new(f, &cfg);
    rag_gen_result res = {0};
    rag_call_stats st;
    rag_err err;
    rag_models_request rq = {0};
    rag_gen_params p = params(false);
    rec r = {0};
    if (rag_generator_generate(g, &rq, MSGS, 2, &p, rec_token, &r, &res, &st, &err) != RAG_OK)
        fail_msg("generate: %s", err.msg);
    assert_string_equal(res.text, ANSWER);
    assert_string_equal(r.text, ANSWER); /* non-stream: whole text once */
    assert_int_equal(r.calls, 1);
    assert_string_equal(res.model_used, "Qwen/Qwen2.5-7B-Instruct:cheapest");
    assert_string_equal(res.provider, "fake-provider");
    assert_string_equal(res.finish_reason, "stop");
    assert_int_equal(res.prompt_tokens, PROMPT_WORDS);
    assert_int_equal(res.completion_tokens, ANSWER_WORDS);
    assert_int_equal(st.tokens_in, PROMPT_WORDS);
    assert_int_equal(st.tokens_out, ANSWER_WORDS);
    assert_string_equal(st.provider, "fake-provider");
    assert_int_equal(st.http_status, 200);
    assert_int_equal(st.n_tries, 1);
    assert_int_equal(st.tries[0].status, RAG_OK);
    /* priced from the catalogue: fake-provider is not listed, so the cheapest live provider
     * (featherless-ai, 0.10 / 0.10 per Mtok) */
    assert_true(st.cost_known);
    double want = (PROMPT_WORDS + ANSWER_WORDS) * 0.10 / 1e6;
    assert_true(fabs(st.cost_usd - want) < 1e-15);
    assert_true(fabs(rq.spent_usd - want) < 1e-15);
    /* the last request was the catalogue fetch: public, sent without the token */
    json_t *s = fake_stats();
    assert_null(json_object_get(json_object_get(s, "last_headers"), "authorization"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "requests"), "models")), 1);
    json_decref(s);
    rag_gen_result_free(&res);
    /* a second call does not fetch the catalogue again */
    assert_int_equal(rag_generator_generate(g, NULL, MSGS, 2, NULL, NULL, NULL, &res, &st, NULL), RAG_OK);
    assert_int_equal(fake_requests("models"), 1);
    assert_int_equal(fake_requests("chat"), 2);
    json_t *b = fake_last_body();
    assert_string_equal(json_string_value(json_object_get(b, "model")), "Qwen/Qwen2.5-7B-Instruct:cheapest");
    assert_int_equal(json_integer_value(json_object_get(b, "max_tokens")), 512);
    assert_true(fabs(json_number_value(json_object_get(b, "temperature")) - 0.2) < 1e-9);
    assert_true(json_is_false(json_object_get(b, "stream")));
    assert_int_equal(json_array_size(json_object_get(b, "messages")), 2);
    json_decref(b);
    s = fake_stats();
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "last_headers"), "authorization")),
                        "Bearer " TOKEN);
    json_decref(s);
    rag_gen_result_free(&res);
    rag_generator_free(g);
    fx_free(f);
}

static void test_pricing_sources(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    rag_price_catalog *cat = NULL;
    assert_int_equal(rag_price_catalog_create(&cat, NULL), RAG_OK);
    f->env.catalog = cat; /* shared by both generators below */
    /* the provider that served is in the catalogue: its price */
    rag_backend_config cfg = fake_backend("huggingface", "Qwen/Qwen2.5-7B-Instruct:together");
    rag_generator_t *g1 = gen_new(f, &cfg), *g2 = gen_new(f, &cfg);
    rag_gen_result res = {0};
    rag_call_stats st;
    assert_int_equal(rag_generator_generate(g1, NULL, MSGS, 2, NULL, NULL, NULL, &res, &st, NULL), RAG_OK);
    assert_string_equal(res.provider, "together");
    assert_true(fabs(st.cost_usd - (PROMPT_WORDS + ANSWER_WORDS) * 0.30 / 1e6) < 1e-15);
    rag_gen_result_free(&res);
    assert_int_equal(rag_generator_generate(g2, NULL, MSGS, 2, NULL, NULL, NULL, &res, &st, NULL), RAG_OK);
    rag_gen_result_free(&res);
    assert_int_equal(fake_requests("models"), 1); /* one fetch for the shared catalogue */
    rag_generator_free(g1);
    rag_generator_free(g2);
    /* config prices win (no catalogue needed) */
    cfg.price_input_per_mtok = 1.0;
    cfg.price_output_per_mtok = 2.0;
    cfg.price_per_call = 0.001;
    rag_generator_t *g3 = gen_new(f, &cfg);
    assert_int_equal(rag_generator_generate(g3, NULL, MSGS, 2, NULL, NULL, NULL, &res, &st, NULL), RAG_OK);
    assert_true(fabs(st.cost_usd - (PROMPT_WORDS * 1.0 / 1e6 + ANSWER_WORDS * 2.0 / 1e6 + 0.001)) < 1e-15);
    rag_gen_result_free(&res);
    rag_generator_free(g3);
    /* a model missing from the catalogue: cost unknown, the call still succeeds */
    cfg = fake_backend("huggingface", "someone/unlisted-model");
    rag_generator_t *g4 = gen_new(f, &cfg);
    assert_int_equal(rag_generator_generate(g4, NULL, MSGS, 2, NULL, NULL, NULL, &res, &st, NULL), RAG_OK);
    assert_false(st.cost_known);
    assert_true(st.cost_usd == 0);
    rag_gen_result_free(&res);
    rag_generator_free(g4);
    /* openai: never priced from a catalogue */
    cfg = fake_backend("openai", "Qwen/Qwen2.5-7B-Instruct");
    rag_generator_t *g5 = gen_new(f, &cfg);
    assert_int_equal(rag_generator_generate(g5, NULL, MSGS, 2, NULL, NULL, NULL, &res, &st, NULL), RAG_OK);
    assert_false(st.cost_known);
    rag_gen_result_free(&res);
    rag_generator_free(g5);
    assert_int_equal(fake_requests("models"), 1);
    rag_price_catalog_free(cat);
    fx_free(f);
}

static void test_stream_equals_nonstream(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    rag_backend_config cfg = fake_backend("huggingface", "Qwen/Qwen2.5-7B-Instruct");
    cfg.price_input_per_mtok = 0.5;
    cfg.price_output_per_mtok = 0.5;
    rag_generator_t *g = gen_new(f, &cfg);
    rag_gen_result res = {0};
    rag_call_stats st;
    rag_gen_params p = params(true);
    rec r = {0};
    rag_err err;
    if (rag_generator_generate(g, NULL, MSGS, 2, &p, rec_token, &r, &res, &st, &err) != RAG_OK)
        fail_msg("stream: %s", err.msg);
    assert_string_equal(r.text, ANSWER);
    assert_string_equal(res.text, ANSWER);
    assert_int_equal(r.calls, ANSWER_WORDS); /* one delta per word */
    assert_int_equal(r.discards, 0);
    assert_string_equal(res.finish_reason, "stop");
    assert_int_equal(res.prompt_tokens, PROMPT_WORDS); /* from the usage chunk */
    assert_int_equal(res.completion_tokens, ANSWER_WORDS);
    assert_true(fabs(st.cost_usd - (PROMPT_WORDS + ANSWER_WORDS) * 0.5 / 1e6) < 1e-15);
    assert_string_equal(res.provider, "fake-provider");
    json_t *b = fake_last_body();
    assert_true(json_is_true(json_object_get(b, "stream")));
    assert_true(json_is_true(json_object_get(json_object_get(b, "stream_options"), "include_usage")));
    json_decref(b);
    assert_int_equal(fake_requests("chat_stream"), 1);
    rag_gen_result_free(&res);
    /* the same text without streaming */
    assert_int_equal(rag_generator_generate(g, NULL, MSGS, 2, NULL, NULL, NULL, &res, NULL, NULL), RAG_OK);
    assert_string_equal(res.text, r.text);
    rag_gen_result_free(&res);
    rag_generator_free(g);
    fx_free(f);
}

static void test_openai_base_url(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    rag_backend_config cfg = fake_backend("openai", "mistralai/Mistral-7B-Instruct-v0.3");
    cfg.api_key = TOKEN;
    const char *bases[] = {g_base, g_base_v1};
    for (int i = 0; i < 2; i++) {
        cfg.base_url = bases[i];
        rag_generator_t *g = gen_new(f, &cfg);
        rag_gen_result res = {0};
        rag_err err;
        if (rag_generator_generate(g, NULL, MSGS, 2, NULL, NULL, NULL, &res, NULL, &err) != RAG_OK)
            fail_msg("openai at %s: %s", bases[i], err.msg);
        assert_string_equal(res.text, ANSWER);
        rag_gen_result_free(&res);
        rag_generator_free(g);
    }
    assert_int_equal(fake_requests("chat"), 2);
    /* model is required */
    cfg.model = NULL;
    rag_generator_t *g = NULL;
    rag_err err;
    assert_int_equal(rag_generator_create(&cfg, &f->env, &g, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "'model' is required"));
    assert_null(g);
    fx_free(f);
}

static void test_ollama_chat(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    rag_backend_config cfg = fake_backend("ollama", "llama3.2");
    rag_generator_t *g = gen_new(f, &cfg);
    rag_gen_result res = {0};
    rag_call_stats st;
    rag_gen_params p = params(true);
    rec r = {0};
    rag_err err;
    if (rag_generator_generate(g, NULL, MSGS, 2, &p, rec_token, &r, &res, &st, &err) != RAG_OK)
        fail_msg("ollama: %s", err.msg);
    assert_string_equal(res.text, ANSWER);
    assert_string_equal(r.text, ANSWER);
    assert_int_equal(res.prompt_tokens, PROMPT_WORDS); /* prompt_eval_count */
    assert_int_equal(res.completion_tokens, ANSWER_WORDS); /* eval_count */
    assert_string_equal(res.finish_reason, "stop");
    assert_null(res.provider);
    rag_gen_result_free(&res);
    json_t *b = fake_last_body();
    const json_t *opts = json_object_get(b, "options");
    assert_int_equal(json_integer_value(json_object_get(opts, "num_ctx")), 8192);
    assert_int_equal(json_integer_value(json_object_get(opts, "num_predict")), 512);
    assert_true(fabs(json_number_value(json_object_get(opts, "temperature")) - 0.2) < 1e-9);
    json_decref(b);
    rag_generator_free(g);
    /* configured num_ctx, non-stream */
    cfg.num_ctx = 2048;
    g = gen_new(f, &cfg);
    assert_int_equal(rag_generator_generate(g, NULL, MSGS, 2, NULL, NULL, NULL, &res, NULL, &err), RAG_OK);
    assert_string_equal(res.text, ANSWER);
    rag_gen_result_free(&res);
    rag_generator_free(g);
    json_t *s = fake_stats();
    const json_t *seen = json_object_get(s, "num_ctx_seen");
    assert_int_equal(json_array_size(seen), 2);
    assert_int_equal(json_integer_value(json_array_get(seen, 0)), 8192);
    assert_int_equal(json_integer_value(json_array_get(seen, 1)), 2048);
    json_decref(s);
    /* a small num_ctx loses the first source, as Ollama's silent truncation does */
    cfg.num_ctx = 12;
    g = gen_new(f, &cfg);
    assert_int_equal(rag_generator_generate(g, NULL, MSGS, 2, NULL, NULL, NULL, &res, NULL, &err), RAG_OK);
    assert_string_not_equal(res.text, ANSWER);
    rag_gen_result_free(&res);
    rag_generator_free(g);
    fx_free(f);
}

static void test_fallback_models(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    const char *fallbacks[] = {"Also/Unsupported-model", "Qwen/Qwen2.5-7B-Instruct"};
    rag_backend_config cfg = fake_backend("huggingface", "Bad/Missing-model");
    cfg.fallback_models = fallbacks;
    cfg.n_fallback_models = 2;
    fake_faults("Bad/Missing", "[\"404\"]", true);
    fake_faults("Also/Unsupported", "[\"400\"]", true);
    rag_generator_t *g = gen_new(f, &cfg);
    rag_gen_result res = {0};
    rag_call_stats st;
    rag_err err;
    if (rag_generator_generate(g, NULL, MSGS, 2, NULL, NULL, NULL, &res, &st, &err) != RAG_OK)
        fail_msg("fallback: %s", err.msg);
    assert_string_equal(res.text, ANSWER);
    assert_string_equal(res.model_used, "Qwen/Qwen2.5-7B-Instruct");
    assert_int_equal(st.n_tries, 3);
    assert_string_equal(st.tries[0].model, "Bad/Missing-model");
    assert_int_equal(st.tries[0].status, RAG_E_NOT_FOUND);
    assert_int_equal(st.tries[0].http_status, 404);
    assert_non_null(strstr(st.tries[0].reason, "Model not found"));
    assert_string_equal(st.tries[1].model, "Also/Unsupported-model");
    assert_int_equal(st.tries[1].status, RAG_E_BAD_INPUT);
    assert_non_null(strstr(st.tries[1].reason, "not supported by any provider"));
    assert_int_equal(st.tries[2].status, RAG_OK);
    assert_int_equal(st.requests, 3);
    assert_int_equal(fake_requests("chat"), 3);
    rag_gen_result_free(&res);
    /* streamed: the voided text of a failed model is announced, the next model starts over */
    fake_reset();
    fake_faults("Bad/Missing", "[\"sse_cut\"]", false);
    cfg.n_fallback_models = 0;
    cfg.model = "Bad/Missing-model";
    const char *one[] = {"Qwen/Qwen2.5-7B-Instruct"};
    cfg.fallback_models = one;
    cfg.n_fallback_models = 1;
    rag_generator_free(g);
    g = gen_new(f, &cfg);
    rag_gen_params p = params(true);
    rec r = {0};
    if (rag_generator_generate(g, NULL, MSGS, 2, &p, rec_token, &r, &res, &st, &err) != RAG_OK)
        fail_msg("stream fallback: %s", err.msg);
    assert_int_equal(r.discards, 1);
    assert_true(strlen(r.voided) > 0 && !strncmp(ANSWER, r.voided, strlen(r.voided)));
    assert_string_equal(r.text, ANSWER);
    assert_string_equal(res.text, ANSWER);
    assert_int_equal(st.tries[0].status, RAG_E_UPSTREAM);
    rag_gen_result_free(&res);
    rag_generator_free(g);
    /* auth and budget failures end the call: no fallback model is tried */
    fake_reset();
    fake_faults("", "[\"401\"]", false);
    cfg = fake_backend("huggingface", "Bad/Missing-model");
    cfg.fallback_models = fallbacks;
    cfg.n_fallback_models = 2;
    g = gen_new(f, &cfg);
    assert_int_equal(rag_generator_generate(g, NULL, MSGS, 2, NULL, NULL, NULL, &res, &st, &err), RAG_E_AUTH);
    assert_int_equal(st.n_tries, 1);
    assert_null(res.text);
    assert_no_token(err.msg);
    assert_int_equal(fake_requests("chat"), 1);
    rag_generator_free(g);
    fx_free(f);
}

static void test_stream_failures(void **state)
{
    (void)state;
    fx *f = fx_new();
    rag_backend_config cfg = fake_backend("huggingface", "Qwen/Qwen2.5-7B-Instruct");
    cfg.max_retries = 0;
    rag_generator_t *g = gen_new(f, &cfg);
    struct {
        const char *fault;
        rag_status want;
        const char *msg;
        int min_tokens;
    } cases[] = {
        {"sse_cut", RAG_E_UPSTREAM, "truncated", 1},
        {"sse_error", RAG_E_UPSTREAM, "mid-stream error: Internal error", 2},
        {"sse_error_flat", RAG_E_UPSTREAM, "mid-stream error: Internal error", 2},
        {"malformed_json", RAG_E_UPSTREAM, "malformed stream chunk", 1},
        {"oversize", RAG_E_TOO_LARGE, "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_reset();
        char list[64];
        snprintf(list, sizeof list, "[\"%s\"]", cases[i].fault);
        fake_faults("", list, false);
        rag_gen_result res = {0};
        rag_gen_params p = params(true);
        rec r = {0};
        rag_err err;
        rag_call_stats st;
        rag_status s = rag_generator_generate(g, NULL, MSGS, 2, &p, rec_token, &r, &res, &st, &err);
        if (s != cases[i].want)
            fail_msg("%s: got %s: %s", cases[i].fault, rag_status_str(s), err.msg);
        assert_non_null(strstr(err.msg, cases[i].msg));
        assert_null(res.text); /* the partial answer is discarded */
        assert_int_equal(st.attempts, 1);
        assert_true(r.calls >= cases[i].min_tokens);
        if (r.calls > 0) { /* what was streamed is voided, and nothing streamed after the error */
            assert_int_equal(r.discards, 1);
            assert_string_equal(r.text, "");
            assert_true(!strncmp(ANSWER, r.voided, strlen(r.voided)));
        }
        assert_no_token(err.msg);
    }
    /* Ollama: a mid-stream {"error"} line and a cut stream */
    cfg = fake_backend("ollama", "llama3.2");
    cfg.max_retries = 0;
    rag_generator_t *o = gen_new(f, &cfg);
    const char *faults[] = {"ndjson_error", "sse_cut"};
    const char *msgs[] = {"unexpected EOF", "truncated"};
    for (int i = 0; i < 2; i++) {
        fake_reset();
        char list[64];
        snprintf(list, sizeof list, "[\"%s\"]", faults[i]);
        fake_faults("", list, false);
        rag_gen_result res = {0};
        rag_gen_params p = params(true);
        rec r = {0};
        rag_err err;
        assert_int_equal(rag_generator_generate(o, NULL, MSGS, 2, &p, rec_token, &r, &res, NULL, &err), RAG_E_UPSTREAM);
        assert_non_null(strstr(err.msg, msgs[i]));
        assert_null(res.text);
        assert_true(r.calls >= 1);
        assert_int_equal(r.discards, 1);
    }
    rag_generator_free(o);
    rag_generator_free(g);
    fx_free(f);
}

static void test_params_and_bad_input(void **state)
{
    (void)state;
    fake_reset();
    fx *f = fx_new();
    rag_backend_config cfg = fake_backend("openai", "Qwen/Qwen2.5-7B-Instruct");
    cfg.max_tokens = 5; /* the member's own setting beats the request's */
    cfg.temperature = 0.7;
    rag_generator_t *g = gen_new(f, &cfg);
    rag_gen_result res = {0};
    rag_gen_params p = rag_gen_default_params();
    p.max_tokens = 100;
    assert_int_equal(rag_generator_generate(g, NULL, MSGS, 2, &p, NULL, NULL, &res, NULL, NULL), RAG_OK);
    assert_string_equal(res.finish_reason, "length");
    assert_int_equal(res.completion_tokens, 5);
    assert_string_equal(res.text, "The pump must be primed");
    json_t *b = fake_last_body();
    assert_int_equal(json_integer_value(json_object_get(b, "max_tokens")), 5);
    assert_true(fabs(json_number_value(json_object_get(b, "temperature")) - 0.7) < 1e-9);
    json_decref(b);
    rag_gen_result_free(&res);
    long before = fake_requests("total");
    /* bad messages: refused before sending */
    rag_chat_message bad[] = {{"user", "caf\xc3"}};
    rag_err err;
    assert_int_equal(rag_generator_generate(g, NULL, bad, 1, NULL, NULL, NULL, &res, NULL, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "message 0 content is not valid UTF-8"));
    rag_chat_message norole[] = {{NULL, "hi"}};
    assert_int_equal(rag_generator_generate(g, NULL, norole, 1, NULL, NULL, NULL, &res, NULL, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "has no role"));
    assert_int_equal(rag_generator_generate(g, NULL, MSGS, 0, NULL, NULL, NULL, &res, NULL, &err), RAG_E_BAD_INPUT);
    /* cancelled request: nothing sent */
    atomic_int cancel = 1;
    rag_models_request rq = {0};
    rq.cancel = &cancel;
    assert_int_equal(rag_generator_generate(g, &rq, MSGS, 2, NULL, NULL, NULL, &res, NULL, &err), RAG_E_CANCELLED);
    assert_null(res.text);
    assert_int_equal(fake_requests("total"), before);
    rag_generator_free(g);
    fx_free(f);
}

int main(void)
{
    if (rag_net_global_init(NULL) != RAG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_chat),       cmocka_unit_test(test_pricing_sources),
        cmocka_unit_test(test_stream_equals_nonstream), cmocka_unit_test(test_openai_base_url),
        cmocka_unit_test(test_ollama_chat),       cmocka_unit_test(test_fallback_models),
        cmocka_unit_test(test_stream_failures),   cmocka_unit_test(test_params_and_bad_input),
    };
    int rc = cmocka_run_group_tests(tests, fake_start, fake_stop);
    rag_net_global_cleanup();
    return rc;
}
