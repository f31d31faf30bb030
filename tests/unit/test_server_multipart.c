/* Streaming multipart/form-data parser: every split point, binary data that looks like a
 * delimiter, filename*, and malformed bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

typedef struct collected {
    srv_part parts[8];
    rag_buf data[8];
    size_t n;
    bool open;
    int fail_on_data; /* return an error from on_data when non-zero */
} collected;

static rag_status on_begin(void *ud, const srv_part *p, rag_err *err)
{
    (void)err;
    collected *c = ud;
    assert_false(c->open);
    assert_true(c->n < 8);
    c->parts[c->n] = *p;
    rag_buf_init(&c->data[c->n], 0);
    c->open = true;
    return RAG_OK;
}

static rag_status on_data(void *ud, const char *d, size_t n, rag_err *err)
{
    collected *c = ud;
    assert_true(c->open);
    assert_true(n > 0);
    if (c->fail_on_data)
        return rag_err_set(err, RAG_E_TOO_LARGE, "file too large (test)");
    return rag_buf_append(&c->data[c->n], d, n);
}

static rag_status on_end(void *ud, rag_err *err)
{
    (void)err;
    collected *c = ud;
    assert_true(c->open);
    c->open = false;
    c->n++;
    return RAG_OK;
}

static void collected_free(collected *c)
{
    for (size_t i = 0; i < c->n + (c->open ? 1 : 0) && i < 8; i++)
        rag_buf_free(&c->data[i]);
}

/* Parses body[0..len) fed in two pieces split at `split` (and byte by byte when split == SIZE_MAX). */
static rag_status parse(const char *boundary, const char *body, size_t len, size_t split, collected *c, rag_err *err)
{
    memset(c, 0, sizeof *c);
    srv_multipart_callbacks cb = {on_begin, on_data, on_end, c};
    srv_multipart *mp;
    rag_status st = srv_multipart_create(boundary, &cb, &mp, err);
    if (st != RAG_OK)
        return st;
    if (split == SIZE_MAX) {
        for (size_t i = 0; i < len && st == RAG_OK; i++)
            st = srv_multipart_feed(mp, body + i, 1, err);
    } else {
        st = srv_multipart_feed(mp, body, split, err);
        if (st == RAG_OK)
            st = srv_multipart_feed(mp, body + split, len - split, err);
    }
    if (st == RAG_OK)
        st = srv_multipart_finish(mp, err);
    srv_multipart_free(mp);
    return st;
}

/* The file content contains CR, LF, "--", and prefixes of the delimiter "\r\n--XYZ". */
static const char FILE_BYTES[] = "line1\r\n--XYz not it\r\n--XY\r\r\n\r\n-\0binary\xff\r\r\n-";
#define FILE_LEN (sizeof FILE_BYTES - 1)

static size_t build_body(char *out)
{
    size_t n = 0;
#define PUT(s) (memcpy(out + n, (s), strlen(s)), n += strlen(s))
    PUT("preamble to ignore\r\n");
    PUT("--XYZ\r\n");
    PUT("Content-Disposition: form-data; name=\"title\"\r\n\r\n");
    PUT("My title");
    PUT("\r\n--XYZ  \r\n"); /* transport padding after the boundary */
    PUT("content-disposition: form-data; name=\"file\"; filename=\"C:\\\\dir\\\\re\\\"port.pdf\"\r\n");
    PUT("Content-Type: application/pdf\r\n\r\n");
    memcpy(out + n, FILE_BYTES, FILE_LEN);
    n += FILE_LEN;
    PUT("\r\n--XYZ--\r\nepilogue ignored --XYZ\r\n");
#undef PUT
    return n;
}

static void check_body(collected *c)
{
    assert_int_equal(c->n, 2);
    assert_string_equal(c->parts[0].name, "title");
    assert_false(c->parts[0].has_filename);
    assert_int_equal(c->data[0].len, 8);
    assert_memory_equal(c->data[0].data, "My title", 8);
    assert_string_equal(c->parts[1].name, "file");
    assert_true(c->parts[1].has_filename);
    assert_string_equal(c->parts[1].filename, "C:\\dir\\re\"port.pdf");
    assert_string_equal(c->parts[1].content_type, "application/pdf");
    assert_int_equal(c->data[1].len, FILE_LEN);
    assert_memory_equal(c->data[1].data, FILE_BYTES, FILE_LEN);
}

static void test_every_split_point(void **state)
{
    (void)state;
    char body[1024];
    size_t len = build_body(body);
    collected c;
    for (size_t split = 0; split <= len; split++) {
        rag_err err;
        rag_err_clear(&err);
        rag_status st = parse("XYZ", body, len, split, &c, &err);
        if (st != RAG_OK)
            fail_msg("split at %zu: %s", split, err.msg);
        check_body(&c);
        collected_free(&c);
    }
    assert_int_equal(parse("XYZ", body, len, SIZE_MAX, &c, NULL), RAG_OK);
    check_body(&c);
    collected_free(&c);
}

static void test_filename_star_and_empty(void **state)
{
    (void)state;
    const char body[] = "--b\r\n"
                        "Content-Disposition: form-data; name=file; filename=\"fallback.txt\"; "
                        "filename*=UTF-8''%C3%A9t%C3%A9.txt\r\n\r\n"
                        "\r\n--b--";
    collected c;
    assert_int_equal(parse("b", body, sizeof body - 1, 10, &c, NULL), RAG_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.parts[0].name, "file");
    assert_string_equal(c.parts[0].filename, "\xc3\xa9t\xc3\xa9.txt");
    assert_int_equal(c.data[0].len, 0); /* an empty file has no data callback */
    collected_free(&c);
}

static void test_malformed(void **state)
{
    (void)state;
    collected c;
    rag_err err;
    const struct {
        const char *body;
        rag_status st;
        const char *msg;
    } cases[] = {
        {"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\ndata without end", RAG_E_BAD_INPUT,
         "closing boundary"},
        {"no delimiter at all", RAG_E_BAD_INPUT, "closing boundary"},
        {"", RAG_E_BAD_INPUT, "closing boundary"},
        {"--bX\r\n", RAG_E_BAD_INPUT, "delimiter line"},
        {"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", RAG_E_BAD_INPUT, "no Content-Disposition"},
        {"--b\r\nContent-Disposition: attachment; filename=x\r\n\r\nx\r\n--b--", RAG_E_BAD_INPUT, "not form-data"},
        {"--b\r\nno colon here\r\n\r\nx\r\n--b--", RAG_E_BAD_INPUT, "malformed part header"},
        {"--b\r\nContent-Disposition: form-data; name=\"unterminated\r\n\r\nx\r\n--b--", RAG_E_BAD_INPUT,
         "malformed or too long"},
        {"--b\r\nContent-Disposition: form-data; filename*=latin1''x\r\n\r\nx\r\n--b--", RAG_E_BAD_INPUT,
         "filename*"},
        {"--b\r\nContent-Disposition: form-data; filename*=UTF-8''a%00b\r\n\r\nx\r\n--b--", RAG_E_BAD_INPUT, "NUL"},
        {"--b\rX", RAG_E_BAD_INPUT, "CR without LF"},
        {"--b-X", RAG_E_BAD_INPUT, "closing delimiter"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rag_err_clear(&err);
        rag_status st = parse("b", cases[i].body, strlen(cases[i].body), 3 < strlen(cases[i].body) ? 3 : 0, &c, &err);
        if (st != cases[i].st || !strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: status %d, message '%s'", i, st, err.msg);
        collected_free(&c);
    }
    /* a NUL byte in the headers */
    const char nul[] = "--b\r\nContent-Disposition: form-data; name=\"a\0b\"\r\n\r\nx\r\n--b--";
    assert_int_equal(parse("b", nul, sizeof nul - 1, 0, &c, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "NUL"));
    collected_free(&c);
}

static void test_caps_and_callback_errors(void **state)
{
    (void)state;
    collected c;
    rag_err err;
    /* part headers over the cap */
    size_t big = SRV_MULTIPART_MAX_HEADERS + 100;
    char *body = malloc(big + 64);
    size_t n = (size_t)sprintf(body, "--b\r\nX-Long: ");
    memset(body + n, 'a', big);
    n += big;
    assert_int_equal(parse("b", body, n, 0, &c, &err), RAG_E_TOO_LARGE);
    assert_non_null(strstr(err.msg, "8192"));
    collected_free(&c);
    free(body);

    /* more parts than allowed */
    rag_buf b;
    rag_buf_init(&b, 0);
    for (int i = 0; i < SRV_MULTIPART_MAX_PARTS + 1; i++)
        rag_buf_appendf(&b, "--b\r\nContent-Disposition: form-data; name=\"p%d\"\r\n\r\nx\r\n", i);
    rag_buf_append_str(&b, "--b--");
    memset(&c, 0, sizeof c);
    srv_multipart_callbacks cb = {NULL, NULL, NULL, NULL}; /* callbacks are optional */
    srv_multipart *mp;
    assert_int_equal(srv_multipart_create("b", &cb, &mp, NULL), RAG_OK);
    assert_int_equal(srv_multipart_feed(mp, b.data, b.len, &err), RAG_E_TOO_LARGE);
    assert_non_null(strstr(err.msg, "more than 32 parts"));
    /* the error is sticky */
    assert_int_equal(srv_multipart_feed(mp, "x", 1, &err), RAG_E_TOO_LARGE);
    assert_int_equal(srv_multipart_finish(mp, &err), RAG_E_TOO_LARGE);
    srv_multipart_free(mp);
    rag_buf_free(&b);

    /* a callback error stops the parser with the callback's message */
    const char ok[] = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--b--";
    memset(&c, 0, sizeof c);
    c.fail_on_data = 1;
    srv_multipart_callbacks cb2 = {on_begin, on_data, on_end, &c};
    assert_int_equal(srv_multipart_create("b", &cb2, &mp, NULL), RAG_OK);
    assert_int_equal(srv_multipart_feed(mp, ok, sizeof ok - 1, &err), RAG_E_TOO_LARGE);
    assert_non_null(strstr(err.msg, "file too large (test)"));
    srv_multipart_free(mp);
    collected_free(&c);

    /* bad boundaries */
    assert_int_equal(srv_multipart_create("", &cb, &mp, &err), RAG_E_BAD_INPUT);
    assert_int_equal(srv_multipart_create("a\r\nb", &cb, &mp, &err), RAG_E_BAD_INPUT);
    char longb[80];
    memset(longb, 'x', 71);
    longb[71] = '\0';
    assert_int_equal(srv_multipart_create(longb, &cb, &mp, &err), RAG_E_BAD_INPUT);
    srv_multipart_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_filename_star_and_empty),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_caps_and_callback_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
