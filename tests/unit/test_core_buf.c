/* Unit tests for src/core: buffers, errors, hashing, UTF-8 validation, file reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ragc/core.h"

static void test_buf_append_and_cap(void **state)
{
    (void)state;
    rag_buf b;
    rag_buf_init(&b, 8);
    assert_int_equal(rag_buf_append_str(&b, "abcd"), RAG_OK);
    assert_int_equal(rag_buf_appendf(&b, "%d", 123), RAG_OK);
    assert_string_equal(b.data, "abcd123");
    assert_int_equal(rag_buf_append_str(&b, "xy"), RAG_E_TOO_LARGE);
    assert_int_equal(b.len, 7); /* a refused append leaves the buffer unchanged */
    assert_int_equal(rag_buf_append_char(&b, 'z'), RAG_OK);
    assert_int_equal(rag_buf_append_char(&b, 'z'), RAG_E_TOO_LARGE);
    char *s = rag_buf_steal(&b);
    assert_string_equal(s, "abcd123z");
    assert_null(b.data);
    free(s);
    rag_buf_free(&b);
}

static void test_buf_appendf_long(void **state)
{
    (void)state;
    rag_buf b;
    rag_buf_init(&b, 0);
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(rag_buf_appendf(&b, "<%s>", big), RAG_OK);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[1000], '>');
    rag_buf_free(&b);
}

static void test_err_set_and_prefix(void **state)
{
    (void)state;
    rag_err e;
    rag_err_clear(&e);
    assert_int_equal(rag_err_set(&e, RAG_E_IO, "read %s", "x"), RAG_E_IO);
    rag_err_prefix(&e, "%s: ", "file.pdf");
    assert_string_equal(e.msg, "file.pdf: read x");
    assert_int_equal(rag_err_set(NULL, RAG_E_NOMEM, "ignored"), RAG_E_NOMEM);
    assert_string_equal(rag_status_str(RAG_E_BUDGET), "budget exceeded");
}

static void test_hash(void **state)
{
    (void)state;
    char a[33], b[33];
    rag_hash128_hex("hello", 5, a);
    rag_hash128_hex("hellp", 5, b);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
    assert_true(rag_hash64("x", 1) != rag_hash64("y", 1));
}

static void test_utf8(void **state)
{
    (void)state;
    size_t off = 99;
    assert_true(rag_utf8_valid("h\xc3\xa9llo", 6, &off));
    assert_false(rag_utf8_valid("ab\xff", 3, &off));
    assert_int_equal(off, 2);
    assert_false(rag_utf8_valid("a\xc0\xaf", 3, &off)); /* overlong */
    assert_int_equal(off, 1);
    assert_false(rag_utf8_valid("\xed\xa0\x80", 3, &off)); /* surrogate */
    assert_false(rag_utf8_valid("\xe2\x82", 2, &off)); /* truncated */
    assert_true(rag_utf8_valid("\xf0\x9f\x98\x80", 4, &off));
}

static void test_read_file(void **state)
{
    (void)state;
    char path[] = "/tmp/ragc_test_core_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("0123456789", f);
    fclose(f);
    char *data = NULL;
    size_t n = 0;
    rag_err e;
    assert_int_equal(rag_read_file(path, 100, &data, &n, &e), RAG_OK);
    assert_int_equal(n, 10);
    assert_string_equal(data, "0123456789");
    free(data);
    assert_int_equal(rag_read_file(path, 5, &data, &n, &e), RAG_E_TOO_LARGE);
    assert_non_null(strstr(e.msg, "limit"));
    unlink(path);
    assert_int_equal(rag_read_file(path, 5, &data, &n, &e), RAG_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_and_cap),  cmocka_unit_test(test_buf_appendf_long),
        cmocka_unit_test(test_err_set_and_prefix),  cmocka_unit_test(test_hash),
        cmocka_unit_test(test_utf8),                cmocka_unit_test(test_read_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
