/* Unit tests for src/local/safetensors.c: header validation, lookup, dtype conversion, hostile files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ragc/safetensors.h"

/* Builds "<u64 LE header length><header><data>" in a malloc'd buffer (caller frees). */
static unsigned char *build(const char *header, const void *data, size_t data_len, size_t *out_len) {
    size_t hl = strlen(header);
    unsigned char *b = malloc(8 + hl + data_len + 1);
    assert_non_null(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    if (data_len) memcpy(b + 8 + hl, data, data_len);
    *out_len = 8 + hl + data_len;
    return b;
}

/* Opens header+data from memory and expects status want; err message must contain needle. */
static void expect_bad(const char *header, size_t data_len, rag_status want, const char *needle) {
    unsigned char zeros[256] = {0};
    assert_true(data_len <= sizeof zeros);
    size_t len;
    unsigned char *b = build(header, zeros, data_len, &len);
    rag_st_file *f = (rag_st_file *)0x1;
    rag_err e;
    rag_err_clear(&e);
    rag_status st = rag_st_open_memory(b, len, &f, &e);
    if (st != want || !strstr(e.msg, needle))
        fail_msg("header %s: got status %d msg '%s', want %d containing '%s'", header, st, e.msg, want, needle);
    assert_null(f);
    free(b);
}

static const char k_good_header[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[24,34]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[34,38]},"
    "\"ids\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[38,54]},"
    "\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[54,62]},"
    "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[62,62]}}";

static unsigned char *good_file(size_t *len) {
    unsigned char data[62];
    float w[6] = {1.f, -2.5f, 3.f, 0.f, 1e-3f, 100.f};
    memcpy(data, w, 24);
    /* F16: 1.0, -2.0, 0.5, smallest subnormal 2^-24, +inf */
    uint16_t h[5] = {0x3C00, 0xC000, 0x3800, 0x0001, 0x7C00};
    memcpy(data + 24, h, 10);
    uint16_t bf[2] = {0x3F80, 0xC040}; /* 1.0, -3.0 */
    memcpy(data + 34, bf, 4);
    int64_t ids[2] = {7, -1};
    memcpy(data + 38, ids, 16);
    double d = 0.25;
    memcpy(data + 54, &d, 8);
    return build(k_good_header, data, sizeof data, len);
}

static void check_good(rag_st_file *f) {
    assert_int_equal(rag_st_count(f), 6);
    assert_string_equal(rag_st_at(f, 0)->name, "w"); /* header order */
    assert_null(rag_st_at(f, 6));
    assert_string_equal(rag_st_metadata(f, "format"), "pt");
    assert_null(rag_st_metadata(f, "nope"));
    assert_null(rag_st_find(f, "missing"));

    const rag_st_tensor *w = rag_st_find(f, "w");
    assert_non_null(w);
    assert_int_equal(w->dtype, RAG_ST_F32);
    assert_int_equal(w->n_dims, 2);
    assert_int_equal(w->shape[0], 2);
    assert_int_equal(w->shape[1], 3);
    assert_int_equal(w->nbytes, 24);
    float out[6];
    rag_err e;
    assert_int_equal(rag_st_read_f32(w, out, 6, &e), RAG_OK);
    assert_true(out[1] == -2.5f && out[5] == 100.f);
    /* wrong element count */
    assert_int_equal(rag_st_read_f32(w, out, 5, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "'w'"));

    const rag_st_tensor *h = rag_st_find(f, "h");
    assert_non_null(h);
    assert_int_equal(h->dtype, RAG_ST_F16);
    assert_int_equal(rag_st_read_f32(h, out, 5, &e), RAG_OK);
    assert_true(out[0] == 1.f && out[1] == -2.f && out[2] == 0.5f);
    assert_true(out[3] == ldexpf(1.f, -24));
    assert_true(isinf(out[4]) && out[4] > 0);

    const rag_st_tensor *b = rag_st_find(f, "b");
    assert_int_equal(rag_st_read_f32(b, out, 2, &e), RAG_OK);
    assert_true(out[0] == 1.f && out[1] == -3.f);

    const rag_st_tensor *s = rag_st_find(f, "s");
    assert_int_equal(s->n_dims, 0);
    assert_int_equal(rag_st_read_f32(s, out, 1, &e), RAG_OK);
    assert_true(out[0] == 0.25f);

    const rag_st_tensor *ids = rag_st_find(f, "ids");
    assert_int_equal(ids->dtype, RAG_ST_I64);
    int64_t iv[2];
    memcpy(iv, ids->data, 16);
    assert_true(iv[0] == 7 && iv[1] == -1);
    assert_int_equal(rag_st_read_f32(ids, out, 2, &e), RAG_E_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "I64"));

    const rag_st_tensor *em = rag_st_find(f, "empty");
    assert_int_equal(em->nbytes, 0);
    assert_int_equal(rag_st_read_f32(em, NULL, 0, &e), RAG_OK);
}

static void test_memory_happy(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = good_file(&len);
    rag_st_file *f = NULL;
    rag_err e;
    assert_int_equal(rag_st_open_memory(b, len, &f, &e), RAG_OK);
    check_good(f);
    rag_st_close(f);
    rag_st_close(NULL);
    free(b);
}

static void test_file_happy_and_missing(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = good_file(&len);
    char path[] = "/tmp/ragc_st_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, len), (ssize_t)len);
    close(fd);
    free(b);
    rag_st_file *f = NULL;
    rag_err e;
    assert_int_equal(rag_st_open(path, &f, &e), RAG_OK);
    check_good(f);
    rag_st_close(f);

    /* truncated file on disk: cut inside the data section */
    assert_int_equal(truncate(path, (off_t)(len - 10)), 0);
    assert_int_equal(rag_st_open(path, &f, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "out of range"));
    /* truncated inside the 8-byte length */
    assert_int_equal(truncate(path, 5), 0);
    assert_int_equal(rag_st_open(path, &f, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "shorter than the 8-byte header length"));
    unlink(path);

    assert_int_equal(rag_st_open(path, &f, &e), RAG_E_NOT_FOUND);
    assert_null(f);
    assert_int_equal(rag_st_open("/tmp", &f, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "not a regular file"));
}

/* The real MiniLM header without its 90 MB of data: every offset is past the (empty) data section. */
static void test_real_header_without_data(void **state) {
    (void)state;
    const char *shared = getenv("RAGC_SHARED_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/data/fixtures/hf/sentence-transformers/all-MiniLM-L6-v2/model.safetensors.header",
             shared ? shared : "../shared");
    if (access(path, R_OK) != 0) skip();
    rag_st_file *f = NULL;
    rag_err e;
    assert_int_equal(rag_st_open(path, &f, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "out of range (data section is 0 bytes)"));
    assert_null(f);
}

static void test_hostile_lengths(void **state) {
    (void)state;
    rag_st_file *f = NULL;
    rag_err e;
    /* fewer than 8 bytes */
    assert_int_equal(rag_st_open_memory("abc", 3, &f, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "<memory>"));
    /* header length longer than the file */
    unsigned char b[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    assert_int_equal(rag_st_open_memory(b, 10, &f, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "longer than the file"));
    /* huge header length (over the 100 MB cap) */
    unsigned char h[10] = {0, 0, 0, 0, 0, 1, 0, 0, '{', '}'};
    assert_int_equal(rag_st_open_memory(h, 10, &f, &e), RAG_E_TOO_LARGE);
    assert_non_null(strstr(e.msg, "cap"));
    /* all-ones length must not overflow */
    unsigned char m[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
    assert_int_equal(rag_st_open_memory(m, 10, &f, &e), RAG_E_TOO_LARGE);
    /* empty object is a valid file with no tensors */
    unsigned char z[10] = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    assert_int_equal(rag_st_open_memory(z, 10, &f, &e), RAG_OK);
    assert_int_equal(rag_st_count(f), 0);
    assert_null(rag_st_find(f, "x"));
    rag_st_close(f);
}

static void test_hostile_headers(void **state) {
    (void)state;
    expect_bad("{\"a\":", 0, RAG_E_BAD_INPUT, "not valid JSON");
    expect_bad("not json at all", 0, RAG_E_BAD_INPUT, "not valid JSON");
    expect_bad("[1,2,3]", 0, RAG_E_BAD_INPUT, "not a JSON object");
    expect_bad("{\"a\":1}", 0, RAG_E_BAD_INPUT, "tensor 'a' is not an object");
    expect_bad("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, RAG_E_BAD_INPUT, "needs string dtype");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, RAG_E_BAD_INPUT, "array shape");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, RAG_E_BAD_INPUT, "data_offsets");
    expect_bad("{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, RAG_E_UNSUPPORTED,
               "unsupported dtype 'Q4'");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, RAG_E_BAD_INPUT,
               "shape[0] is not a non-negative integer");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
               RAG_E_BAD_INPUT, "9 dims");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, RAG_E_BAD_INPUT,
               "[begin, end]");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, RAG_E_BAD_INPUT,
               "non-negative");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, RAG_E_BAD_INPUT,
               "begin > end");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 3, RAG_E_BAD_INPUT,
               "out of range (data section is 3 bytes)");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,9223372036854775807]}}", 4,
               RAG_E_BAD_INPUT, "out of range");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8, RAG_E_BAD_INPUT,
               "has 4 bytes but its shape and dtype F32 need 8");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 8,
               RAG_E_BAD_INPUT, "need more than");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               8, RAG_E_BAD_INPUT, "overlap");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               8, RAG_E_BAD_INPUT, "duplicate");
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, RAG_E_BAD_INPUT, "__metadata__ value of 'k' is not a string");
    expect_bad("{\"__metadata__\":[]}", 0, RAG_E_BAD_INPUT, "__metadata__ is not an object");
}

/* Every prefix of a valid file must be refused cleanly (no crash, no ASan report). */
static void test_every_truncation(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = good_file(&len);
    for (size_t cut = 0; cut < len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1); /* exact-size copy so ASan sees over-reads */
        assert_non_null(copy);
        memcpy(copy, b, cut);
        rag_st_file *f = NULL;
        rag_err e;
        assert_int_not_equal(rag_st_open_memory(copy, cut, &f, &e), RAG_OK);
        assert_null(f);
        assert_true(strlen(e.msg) > 0);
        free(copy);
    }
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_happy),
        cmocka_unit_test(test_file_happy_and_missing),
        cmocka_unit_test(test_real_header_without_data),
        cmocka_unit_test(test_hostile_lengths),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_every_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
