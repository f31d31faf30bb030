/* Regression tests for inputs found by the hardening work (fuzz/fuzz_net_stream.c), held in
 * tests/fixtures/regress/net/.
 *
 * After the end of a stream (SSE `data: [DONE]`, NDJSON {"done":true}) everything is ignored
 * (include/ragc/net_stream.h), but a line over the parser's cap that followed the end in the
 * same chunk (rag_*_feed) or as a later line (rag_*_feed_line, the HTTP stream path) failed the
 * whole stream with RAG_E_TOO_LARGE, so the outcome depended on how the bytes were split.
 *
 * x_error_message_*token_cut.txt: an error message longer than the 320-byte message field is cut
 * before redaction, so a configured token straddling the cut left its first 17 bytes in the
 * message ("... sk-proj-AbCdEfGhIj"), and an hf_ token cut to "hf_" + 1..5 characters escaped
 * the hf_ rule. rag_net_redact now hides a trailing token prefix and a trailing short hf_ word. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/net_policy.h"
#include "ragc/net_stream.h"

static char *load(const char *name, size_t *len)
{
    const char *src = getenv("RAGC_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/regress/net/%s", src && *src ? src : ".", name);
    char *data = NULL;
    rag_err err;
    if (rag_read_file(path, 1 << 20, &data, len, &err) != RAG_OK)
        fail_msg("%s", err.msg);
    return data;
}

static rag_status count_event(void *ud, const rag_sse_event *ev, rag_err *err)
{
    (void)ev;
    (void)err;
    (*(size_t *)ud)++;
    return RAG_OK;
}

static rag_status count_value(void *ud, json_t *v, size_t line_no, rag_err *err)
{
    (void)v;
    (void)line_no;
    (void)err;
    (*(size_t *)ud)++;
    return RAG_OK;
}

static rag_status refuse_final(void *ud, json_t *v, size_t line_no, rag_err *err)
{
    (void)ud;
    (void)line_no;
    if (json_is_true(json_object_get(v, "done")))
        return rag_err_set(err, RAG_E_UPSTREAM, "final value refused");
    return RAG_OK;
}

/* Feeds s[0..n) to a new SSE parser (cap bytes) whole, or line by line when by_line. */
static rag_status sse_run(const char *s, size_t n, size_t cap, bool by_line, size_t *events, bool *done)
{
    rag_sse_parser *p = NULL;
    rag_err err;
    *events = 0;
    assert_int_equal(rag_sse_parser_create(cap, count_event, events, &p, &err), RAG_OK);
    rag_status st = RAG_OK;
    if (!by_line) {
        st = rag_sse_feed(p, s, n, &err);
    } else {
        for (size_t i = 0; i < n && st == RAG_OK;) {
            const char *nl = memchr(s + i, '\n', n - i);
            size_t len = nl ? (size_t)(nl - (s + i)) : n - i;
            st = rag_sse_feed_line(p, s + i, len, &err);
            i += len + 1;
        }
    }
    if (st == RAG_OK)
        st = rag_sse_finish(p, &err);
    *done = rag_sse_done(p);
    rag_sse_parser_free(p);
    return st;
}

static void test_sse_fuzz_input(void **state)
{
    (void)state;
    size_t n, events;
    bool done;
    char *s = load("sse_fuzz_line_after_done.bin", &n);
    /* byte 0 is the fuzzer's mode byte: SSE parser with a 100-byte cap */
    assert_int_equal(sse_run(s + 1, n - 1, 100, false, &events, &done), RAG_OK);
    assert_true(done);
    assert_int_equal(events, 1);
    free(s);
}

static void test_sse_oversized_line_after_done(void **state)
{
    (void)state;
    size_t n, events;
    bool done;
    char *s = load("sse_oversized_line_after_done.txt", &n);
    for (int by_line = 0; by_line < 2; by_line++) {
        assert_int_equal(sse_run(s, n, 64, by_line, &events, &done), RAG_OK);
        assert_true(done);
        assert_int_equal(events, 1);
    }
    free(s);
}

/* The fix must not hide an oversized line before the end. */
static void test_sse_oversized_line_before_done_still_fails(void **state)
{
    (void)state;
    char s[400];
    memset(s, 'x', 200);
    snprintf(s + 200, sizeof s - 200, "\ndata: [DONE]\n\n");
    size_t events;
    bool done;
    assert_int_equal(sse_run(s, strlen(s), 64, false, &events, &done), RAG_E_TOO_LARGE);
    assert_int_equal(sse_run(s, strlen(s), 64, true, &events, &done), RAG_E_TOO_LARGE);
    assert_false(done);
}

static void test_ndjson_oversized_line_after_done(void **state)
{
    (void)state;
    size_t n;
    char *s = load("ndjson_oversized_line_after_done.txt", &n);
    for (int by_line = 0; by_line < 2; by_line++) {
        size_t values = 0;
        rag_ndjson_parser *p = NULL;
        rag_err err;
        assert_int_equal(rag_ndjson_parser_create(64, count_value, &values, &p, &err), RAG_OK);
        rag_status st = RAG_OK;
        if (!by_line) {
            st = rag_ndjson_feed(p, s, n, &err);
        } else {
            for (size_t i = 0; i < n && st == RAG_OK;) {
                const char *nl = memchr(s + i, '\n', n - i);
                size_t len = nl ? (size_t)(nl - (s + i)) : n - i;
                st = rag_ndjson_feed_line(p, s + i, len, &err);
                i += len + 1;
            }
        }
        if (st == RAG_OK)
            st = rag_ndjson_finish(p, &err);
        if (st != RAG_OK)
            fail_msg("by_line %d: %s", by_line, err.msg);
        assert_true(rag_ndjson_done(p));
        assert_int_equal(values, 2);
        rag_ndjson_parser_free(p);
    }
    free(s);
}

/* A callback error on the final {"done":true} value is still reported. */
static void test_ndjson_final_value_error_kept(void **state)
{
    (void)state;
    const char *s = "{\"done\":false}\n{\"done\":true}\n" "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\n";
    rag_ndjson_parser *p = NULL;
    rag_err err;
    assert_int_equal(rag_ndjson_parser_create(64, refuse_final, NULL, &p, &err), RAG_OK);
    assert_int_equal(rag_ndjson_feed(p, s, strlen(s), &err), RAG_E_UPSTREAM);
    assert_non_null(strstr(err.msg, "final value refused"));
    assert_false(rag_ndjson_done(p));
    assert_int_equal(rag_ndjson_finish(p, &err), RAG_E_UPSTREAM); /* sticky */
    rag_ndjson_parser_free(p);
}

static void test_token_cut_at_the_cap(void **state)
{
    (void)state;
    const char *token = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    size_t n;
    char *x = load("x_error_message_token_cut.txt", &n);
    rag_net_error_info info;
    rag_net_parse_error(x, NULL, 0, token, &info);
    size_t len = strlen(info.message);
    for (size_t k = 4; k < strlen(token) && k <= len; k++)
        if (!memcmp(info.message + len - k, token, k))
            fail_msg("message ends with %zu bytes of the token: ...%s", k, info.message + len - k);
    assert_non_null(strstr(info.message, " ***"));
    free(x);

    x = load("x_error_message_hf_token_cut.txt", &n);
    rag_net_parse_error(x, NULL, 0, NULL, &info);
    len = strlen(info.message);
    assert_true(len > 10);
    assert_null(strstr(info.message, "hf_A"));
    const char *hf = strstr(info.message, " hf_");
    assert_non_null(hf);
    assert_true(hf[4] == '*');
    assert_int_equal(strspn(hf + 4, "*"), strlen(hf + 4)); /* only stars after "hf_" */
    free(x);
}

static void test_redact_tail_rules(void **state)
{
    (void)state;
    char a[] = "see hf_ab";
    assert_string_equal(rag_net_redact(a, NULL), "see hf_**");
    char b[] = "cut here: s3cr";
    assert_string_equal(rag_net_redact(b, "s3cr3t-t0ken"), "cut here: ***");
    char c[] = "not a secret: my_hf_ab, the hf_ prefix, /hf-inference and s3c";
    assert_string_equal(rag_net_redact(c, "s3cr3t-t0ken"), "not a secret: my_hf_ab, the hf_ prefix, /hf-inference and s3c");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_fuzz_input),
        cmocka_unit_test(test_sse_oversized_line_after_done),
        cmocka_unit_test(test_sse_oversized_line_before_done_still_fails),
        cmocka_unit_test(test_ndjson_oversized_line_after_done),
        cmocka_unit_test(test_ndjson_final_value_error_kept),
        cmocka_unit_test(test_token_cut_at_the_cap),
        cmocka_unit_test(test_redact_tail_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
