/* Unit tests for src/index/fusion.c: RRF and weighted fusion on hand-computed cases, ties,
 * disjoint lists, duplicates within a list, caps, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "ragc/fusion.h"

typedef struct want {
    int64_t id;
    double score;
    int bm25_rank, dense_rank;
} want;

static void expect(const rag_fused *out, size_t n, const want *w, size_t nw)
{
    assert_int_equal(n, nw);
    for (size_t i = 0; i < nw; i++) {
        if (out[i].chunk_id != w[i].id)
            fail_msg("position %zu: chunk %lld, want %lld", i, (long long)out[i].chunk_id,
                     (long long)w[i].id);
        assert_float_equal(out[i].score, w[i].score, 1e-12);
        assert_int_equal(out[i].bm25_rank, w[i].bm25_rank);
        assert_int_equal(out[i].dense_rank, w[i].dense_rank);
    }
}

static void test_rrf_basic(void **state)
{
    (void)state;
    const int64_t b[] = {10, 20, 30}, d[] = {30, 40};
    rag_fused out[8];
    size_t n = 99;
    assert_int_equal(rag_fuse_rrf(b, 3, d, 2, 60, out, 8, &n), RAG_OK);
    /* 20 and 40 tie at 1/62 with best rank 2: by chunk id */
    const want w[] = {{30, 1.0 / 63 + 1.0 / 61, 3, 1},
                      {10, 1.0 / 61, 1, 0},
                      {20, 1.0 / 62, 2, 0},
                      {40, 1.0 / 62, 0, 2}};
    expect(out, n, w, 4);
    /* cap keeps the top entries */
    assert_int_equal(rag_fuse_rrf(b, 3, d, 2, 60, out, 2, &n), RAG_OK);
    expect(out, n, w, 2);
    assert_int_equal(rag_fuse_rrf(b, 3, d, 2, 60, NULL, 0, &n), RAG_OK);
    assert_int_equal(n, 0);
}

static void test_rrf_ties_by_best_rank(void **state)
{
    (void)state;
    /* rrf_k = 0 makes exact ties: 1/2 (rank 2 alone) == 1/4 + 1/4 (rank 4 in both). */
    const int64_t b[] = {1, 100, 3, 5}, d[] = {2, 50, 4, 5};
    rag_fused out[8];
    size_t n;
    assert_int_equal(rag_fuse_rrf(b, 4, d, 4, 0, out, 8, &n), RAG_OK);
    const want w[] = {{1, 1.0, 1, 0},        {2, 1.0, 0, 1},         /* best rank 1: by id */
                      {50, 0.5, 0, 2},       {100, 0.5, 2, 0},       /* best rank 2: by id */
                      {5, 0.5, 4, 4},                                /* best rank 4 after */
                      {3, 1.0 / 3, 3, 0},    {4, 1.0 / 3, 0, 3}};
    expect(out, n, w, 7);
    /* symmetric ranks give equal scores exactly: ids order them */
    const int64_t b2[] = {8, 9}, d2[] = {9, 8};
    assert_int_equal(rag_fuse_rrf(b2, 2, d2, 2, 60, out, 8, &n), RAG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].chunk_id, 8);
    assert_int_equal(out[1].chunk_id, 9);
    assert_true(out[0].score == out[1].score);
}

static void test_rrf_disjoint_and_empty(void **state)
{
    (void)state;
    const int64_t b[] = {4, 2}, d[] = {3, 1};
    rag_fused out[8];
    size_t n;
    assert_int_equal(rag_fuse_rrf(b, 2, d, 2, 60, out, 8, &n), RAG_OK);
    const want w[] = {{3, 1.0 / 61, 0, 1}, {4, 1.0 / 61, 1, 0},
                      {1, 1.0 / 62, 0, 2}, {2, 1.0 / 62, 2, 0}};
    expect(out, n, w, 4);
    /* one list empty (NULL with count 0) */
    assert_int_equal(rag_fuse_rrf(NULL, 0, d, 2, 60, out, 8, &n), RAG_OK);
    const want w2[] = {{3, 1.0 / 61, 0, 1}, {1, 1.0 / 62, 0, 2}};
    expect(out, n, w2, 2);
    assert_int_equal(rag_fuse_rrf(NULL, 0, NULL, 0, 60, out, 8, &n), RAG_OK);
    assert_int_equal(n, 0);
}

static void test_rrf_duplicates_keep_best_rank(void **state)
{
    (void)state;
    const int64_t b[] = {7, 8, 7, 7}, d[] = {8, 8, 9};
    rag_fused out[8];
    size_t n;
    assert_int_equal(rag_fuse_rrf(b, 4, d, 3, 10, out, 8, &n), RAG_OK);
    const want w[] = {{8, 1.0 / 12 + 1.0 / 11, 2, 1}, {7, 1.0 / 11, 1, 0}, {9, 1.0 / 13, 0, 3}};
    expect(out, n, w, 3);
}

static void test_rrf_bad_input(void **state)
{
    (void)state;
    const int64_t b[] = {1};
    rag_fused out[2];
    size_t n = 5;
    assert_int_equal(rag_fuse_rrf(b, 1, b, 1, -1, out, 2, &n), RAG_E_BAD_INPUT);
    assert_int_equal(n, 0);
    assert_int_equal(rag_fuse_rrf(NULL, 1, b, 1, 60, out, 2, &n), RAG_E_BAD_INPUT);
    assert_int_equal(rag_fuse_rrf(b, 1, NULL, 3, 60, out, 2, &n), RAG_E_BAD_INPUT);
    assert_int_equal(rag_fuse_rrf(b, 1, b, 1, 60, NULL, 2, &n), RAG_E_BAD_INPUT);
    assert_int_equal(rag_fuse_rrf(b, 1, b, 1, 60, out, 2, NULL), RAG_E_BAD_INPUT);
    /* rrf_k = 0 is allowed */
    assert_int_equal(rag_fuse_rrf(b, 1, b, 1, 0, out, 2, &n), RAG_OK);
    assert_int_equal(n, 1);
    assert_float_equal(out[0].score, 2.0, 1e-12);
}

static void test_weighted_basic(void **state)
{
    (void)state;
    const int64_t b[] = {1, 2, 3}, d[] = {3, 4};
    const double bs[] = {10, 5, 0}, ds[] = {0.9, 0.5};
    rag_fused out[8];
    size_t n;
    /* bm25 norm: 1 -> 1, 2 -> 0.5, 3 -> 0; dense norm: 3 -> 1, 4 -> 0 */
    assert_int_equal(rag_fuse_weighted(b, bs, 3, d, ds, 2, 0.5, out, 8, &n), RAG_OK);
    const want w[] = {{1, 0.5, 1, 0}, {3, 0.5, 3, 1}, {2, 0.25, 2, 0}, {4, 0.0, 0, 2}};
    expect(out, n, w, 4);
    assert_int_equal(rag_fuse_weighted(b, bs, 3, d, ds, 2, 0.8, out, 8, &n), RAG_OK);
    const want w8[] = {{3, 0.8, 3, 1}, {1, 0.2, 1, 0}, {2, 0.1, 2, 0}, {4, 0.0, 0, 2}};
    expect(out, n, w8, 4);
    /* weight 0: dense does not count (3 and 4 tie at 0: best rank 1 for 3) */
    assert_int_equal(rag_fuse_weighted(b, bs, 3, d, ds, 2, 0.0, out, 8, &n), RAG_OK);
    const want w0[] = {{1, 1.0, 1, 0}, {2, 0.5, 2, 0}, {3, 0.0, 3, 1}, {4, 0.0, 0, 2}};
    expect(out, n, w0, 4);
    /* negative scores normalize the same way */
    const double neg[] = {-1, -3, -5};
    assert_int_equal(rag_fuse_weighted(b, neg, 3, NULL, NULL, 0, 0.25, out, 2, &n), RAG_OK);
    const want wn[] = {{1, 0.75, 1, 0}, {2, 0.375, 2, 0}};
    expect(out, n, wn, 2);
}

static void test_weighted_single_constant_disjoint(void **state)
{
    (void)state;
    rag_fused out[8];
    size_t n;
    const int64_t b[] = {9}, d[] = {5, 6};
    const double bs[] = {3.3}, ds[] = {0.4, 0.4};
    /* single-element bm25 list -> 1; constant dense list -> 1 each; disjoint ids */
    assert_int_equal(rag_fuse_weighted(b, bs, 1, d, ds, 2, 0.3, out, 8, &n), RAG_OK);
    const want w[] = {{9, 0.7, 1, 0}, {5, 0.3, 0, 1}, {6, 0.3, 0, 2}};
    expect(out, n, w, 3);
    /* huge spread does not overflow to NaN */
    const int64_t b2[] = {1, 2};
    const double huge[] = {1.5e308, -1.5e308};
    assert_int_equal(rag_fuse_weighted(b2, huge, 2, NULL, NULL, 0, 0.0, out, 8, &n), RAG_OK);
    const want wh[] = {{1, 1.0, 1, 0}, {2, 0.0, 2, 0}};
    expect(out, n, wh, 2);
}

static void test_weighted_duplicates(void **state)
{
    (void)state;
    /* the second 1 (score 100) is ignored, also for min-max: the range is {3, 2} */
    const int64_t b[] = {1, 2, 1}, d[] = {2, 2};
    const double bs[] = {3, 2, 100}, ds[] = {0.7, 0.1};
    rag_fused out[8];
    size_t n;
    assert_int_equal(rag_fuse_weighted(b, bs, 3, d, ds, 2, 0.5, out, 8, &n), RAG_OK);
    /* 1: bm25 1 -> 0.5; 2: bm25 0 + dense 1 (single distinct entry) -> 0.5; tie on best rank 1 */
    const want w[] = {{1, 0.5, 1, 0}, {2, 0.5, 2, 1}};
    expect(out, n, w, 2);
}

static void test_weighted_bad_input(void **state)
{
    (void)state;
    const int64_t b[] = {1};
    const double ok[] = {1.0}, nan1[] = {NAN}, inf1[] = {-INFINITY};
    rag_fused out[2];
    size_t n = 3;
    assert_int_equal(rag_fuse_weighted(b, ok, 1, b, ok, 1, 1.5, out, 2, &n), RAG_E_BAD_INPUT);
    assert_int_equal(n, 0);
    assert_int_equal(rag_fuse_weighted(b, ok, 1, b, ok, 1, -0.1, out, 2, &n), RAG_E_BAD_INPUT);
    assert_int_equal(rag_fuse_weighted(b, ok, 1, b, ok, 1, NAN, out, 2, &n), RAG_E_BAD_INPUT);
    assert_int_equal(rag_fuse_weighted(b, nan1, 1, b, ok, 1, 0.5, out, 2, &n), RAG_E_BAD_INPUT);
    assert_int_equal(rag_fuse_weighted(b, ok, 1, b, inf1, 1, 0.5, out, 2, &n), RAG_E_BAD_INPUT);
    assert_int_equal(rag_fuse_weighted(b, NULL, 1, b, ok, 1, 0.5, out, 2, &n), RAG_E_BAD_INPUT);
    assert_int_equal(rag_fuse_weighted(b, ok, 1, NULL, ok, 1, 0.5, out, 2, &n), RAG_E_BAD_INPUT);
    assert_int_equal(rag_fuse_weighted(b, ok, 1, b, ok, 1, 0.5, NULL, 2, &n), RAG_E_BAD_INPUT);
    assert_int_equal(rag_fuse_weighted(b, ok, 1, b, ok, 1, 0.5, out, 2, NULL), RAG_E_BAD_INPUT);
    assert_int_equal(rag_fuse_weighted(b, ok, 1, b, ok, 1, 1.0, out, 2, &n), RAG_OK);
    assert_int_equal(n, 1);
    assert_float_equal(out[0].score, 1.0, 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rrf_basic),
        cmocka_unit_test(test_rrf_ties_by_best_rank),
        cmocka_unit_test(test_rrf_disjoint_and_empty),
        cmocka_unit_test(test_rrf_duplicates_keep_best_rank),
        cmocka_unit_test(test_rrf_bad_input),
        cmocka_unit_test(test_weighted_basic),
        cmocka_unit_test(test_weighted_single_constant_disjoint),
        cmocka_unit_test(test_weighted_duplicates),
        cmocka_unit_test(test_weighted_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
