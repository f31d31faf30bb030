/* Regression tests for inputs found by the hardening work (fuzz/fuzz_models_responses.c), held in
 * tests/fixtures/regress/models/.
 *
 * *_finish_reason_utf8_cut.*: a finish_reason / done_reason longer than rag_gen_result's 16-byte
 * field was cut with snprintf inside a UTF-8 sequence ("aaaaaaaaaaaaaa" + "é" -> 14 a's + a lone
 * 0xC3), so the result held invalid UTF-8 (json_string() of it fails). The chat (HF router /
 * OpenAI), streamed chat and Ollama parsers now end the field before a cut sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/models_internal.h"

static char *load(const char *name, size_t *len)
{
    const char *src = getenv("RAGC_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/regress/models/%s", src && *src ? src : ".", name);
    char *data = NULL;
    rag_err err;
    if (rag_read_file(path, 1 << 20, &data, len, &err) != RAG_OK)
        fail_msg("%s", err.msg);
    return data;
}

static json_t *load_json(const char *name)
{
    size_t len = 0;
    char *data = load(name, &len);
    json_error_t je;
    json_t *v = json_loadb(data, len, JSON_DECODE_ANY, &je);
    free(data);
    if (!v)
        fail_msg("%s: %s", name, je.text);
    return v;
}

static mdl_backend backend(const char *kind, const char *type, const char *model)
{
    rag_backend_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.type = type;
    cfg.model = model;
    cfg.api_key = "sk-test";
    mdl_backend b;
    rag_err err;
    if (mdl_backend_init(&b, kind, &cfg, NULL, "http://127.0.0.1:1", 0, &err) != RAG_OK)
        fail_msg("%s", err.msg);
    return b;
}

/* The parsed result: text "Hello!", finish reason cut before the 2-byte "é". */
static void check_cut(const rag_gen_result *r)
{
    assert_string_equal(r->text, "Hello!");
    assert_true(rag_utf8_valid(r->finish_reason, strlen(r->finish_reason), NULL));
    assert_string_equal(r->finish_reason, "aaaaaaaaaaaaaa");
}

static void test_chat_finish_reason_cut(void **state)
{
    (void)state;
    mdl_backend b = backend("generator", "huggingface", NULL);
    json_t *v = load_json("chat_finish_reason_utf8_cut.json");
    rag_gen_result r;
    rag_err err;
    assert_int_equal(mdl_chat_parse_response(&b, v, &r, &err), RAG_OK);
    check_cut(&r);
    assert_int_equal(r.prompt_tokens, 20);
    assert_int_equal(r.completion_tokens, 3);
    rag_gen_result_free(&r);
    json_decref(v);
    mdl_backend_fini(&b);
}

static void on_token(void *ud, const char *text, size_t len)
{
    assert_int_equal(rag_buf_append(ud, text, len), RAG_OK);
}

static void test_sse_finish_reason_cut(void **state)
{
    (void)state;
    mdl_backend b = backend("generator", "openai", "gpt-4o-mini");
    size_t len = 0;
    char *body = load("sse_finish_reason_utf8_cut.txt", &len);
    rag_buf got;
    rag_buf_init(&got, 0);
    rag_gen_result r;
    rag_err err;
    assert_int_equal(mdl_chat_parse_sse(&b, body, len, on_token, &got, &r, &err), RAG_OK);
    check_cut(&r);
    assert_string_equal(got.data, "Hello!");
    assert_int_equal(r.prompt_tokens, 20);
    rag_gen_result_free(&r);
    rag_buf_free(&got);
    /* the same stream without [DONE] is an error naming the backend */
    char *cut = strstr(body, "data: [DONE]");
    assert_non_null(cut);
    assert_int_equal(mdl_chat_parse_sse(&b, body, (size_t)(cut - body), NULL, NULL, &r, &err), RAG_E_UPSTREAM);
    assert_null(r.text);
    assert_non_null(strstr(err.msg, "openai"));
    free(body);
    mdl_backend_fini(&b);
}

static void test_ollama_done_reason_cut(void **state)
{
    (void)state;
    mdl_backend b = backend("generator", "ollama", NULL);
    json_t *v = load_json("ollama_done_reason_utf8_cut.json");
    rag_gen_result r;
    rag_err err;
    assert_int_equal(mdl_ollama_chat_parse_response(&b, v, &r, &err), RAG_OK);
    check_cut(&r);
    assert_int_equal(r.prompt_tokens, 12);
    assert_int_equal(r.completion_tokens, 1);
    rag_gen_result_free(&r);
    /* without "done": true the response is refused */
    json_object_del(v, "done");
    assert_int_equal(mdl_ollama_chat_parse_response(&b, v, &r, &err), RAG_E_UPSTREAM);
    assert_non_null(strstr(err.msg, "done"));
    json_decref(v);
    mdl_backend_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_finish_reason_cut),
        cmocka_unit_test(test_sse_finish_reason_cut),
        cmocka_unit_test(test_ollama_done_reason_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
