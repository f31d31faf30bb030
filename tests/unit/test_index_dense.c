/* Unit tests for src/index/dense.c: put/count/delete, exact search order and ties, normalization,
 * space isolation, dim checks, cascades, the cached index's reloads (insert, replace, delete,
 * rollback, another connection), k beyond the count, corrupt rows; the int8 index (agreement
 * with f32 on random data within the derived quantization bound, the exact integer dot of both
 * kernels), document filters and the chunks missing a vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ragc/dense.h"
#include "ragc/store.h"

#define SPACE "test:model-a"

static rag_store *open_store(const char *path)
{
    rag_store *s = NULL;
    rag_err e;
    rag_err_clear(&e);
    if (rag_store_open(path, NULL, &s, &e) != RAG_OK)
        fail_msg("open %s: %s", path, e.msg);
    return s;
}

static int setup_mem(void **state)
{
    *state = open_store(":memory:");
    return 0;
}

static int teardown_mem(void **state)
{
    rag_store_close(*state);
    return 0;
}

static int64_t put_doc(rag_store *s, const char *source)
{
    rag_doc_record d;
    memset(&d, 0, sizeof d);
    d.source = (char *)source;
    d.format = (char *)"text";
    snprintf(d.content_hash, sizeof d.content_hash, "%s", "0123456789abcdef0123456789abcdef");
    int64_t id = 0;
    rag_err e;
    if (rag_store_doc_put(s, &d, &id, &e) != RAG_OK)
        fail_msg("doc put %s: %s", source, e.msg);
    return id;
}

static int64_t put_chunk(rag_store *s, int64_t doc_id, int seq)
{
    rag_chunk_record c;
    memset(&c, 0, sizeof c);
    c.doc_id = doc_id;
    c.seq = seq;
    c.text = (char *)"chunk text";
    c.byte_end = 10;
    rag_err e;
    if (rag_store_chunk_put(s, &c, &e) != RAG_OK)
        fail_msg("chunk put: %s", e.msg);
    return c.id;
}

static void put_vec(rag_store *s, const char *space, int64_t chunk, const float *v, int dim)
{
    rag_err e;
    rag_err_clear(&e);
    if (rag_dense_put(s, space, chunk, v, dim, &e) != RAG_OK)
        fail_msg("dense put chunk %lld: %s", (long long)chunk, e.msg);
}

static int64_t sql_int(rag_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(rag_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t count(rag_store *s, const char *space)
{
    int64_t n = -1;
    rag_err e;
    assert_int_equal(rag_dense_count(s, space, &n, &e), RAG_OK);
    return n;
}

/* Searches both ways (streamed and a fresh index) and checks they agree; returns n_hits. */
static size_t search_both(rag_store *s, const char *space, const float *q, int dim, size_t k,
                          rag_dense_hit *hits)
{
    rag_err e;
    rag_err_clear(&e);
    size_t n = 99;
    if (rag_dense_search(s, space, q, dim, k, hits, &n, &e) != RAG_OK)
        fail_msg("search: %s", e.msg);
    rag_dense_index *idx = NULL;
    assert_int_equal(rag_dense_index_open(s, space, NULL, &idx, &e), RAG_OK);
    rag_dense_hit h2[16];
    size_t n2 = 99;
    assert_true(k <= 16);
    if (rag_dense_index_search(idx, q, dim, k, h2, &n2, &e) != RAG_OK)
        fail_msg("index search: %s", e.msg);
    assert_int_equal(n2, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(h2[i].chunk_id, hits[i].chunk_id);
        assert_true(h2[i].score == hits[i].score);
    }
    rag_dense_index_free(idx);
    return n;
}

/* Five chunks of one document: returns their ids in ids[0..5). */
static int64_t make_chunks(rag_store *s, int64_t ids[5])
{
    int64_t doc = put_doc(s, "a.txt");
    for (int i = 0; i < 5; i++)
        ids[i] = put_chunk(s, doc, i);
    return doc;
}

static void test_search_order_and_ties(void **state)
{
    rag_store *s = *state;
    int64_t c[5];
    make_chunks(s, c);
    const float v[5][3] = {{1, 0, 0}, {0, 1, 0}, {1, 1, 0}, {2, 0, 0}, {-1, 0, 0}};
    for (int i = 0; i < 5; i++)
        put_vec(s, SPACE, c[i], v[i], 3);
    assert_int_equal(count(s, SPACE), 5);

    rag_dense_hit h[16];
    const float q1[3] = {3, 0, 0};
    assert_int_equal(search_both(s, SPACE, q1, 3, 5, h), 5);
    /* c0 and c3 both normalize to (1,0,0): a tie, broken by chunk id. */
    const int64_t want1[5] = {c[0], c[3], c[2], c[1], c[4]};
    for (int i = 0; i < 5; i++)
        assert_int_equal(h[i].chunk_id, want1[i]);
    assert_float_equal(h[0].score, 1.0, 1e-6);
    assert_true(h[0].score == h[1].score);
    assert_float_equal(h[2].score, sqrt(0.5), 1e-6);
    assert_float_equal(h[3].score, 0.0, 1e-6);
    assert_float_equal(h[4].score, -1.0, 1e-6);

    /* (1,1,0): c2 first, then c0, c1, c3 tied at cos 45 degrees, by id. */
    const float q2[3] = {1, 1, 0};
    assert_int_equal(search_both(s, SPACE, q2, 3, 4, h), 4);
    const int64_t want2[4] = {c[2], c[0], c[1], c[3]};
    for (int i = 0; i < 4; i++)
        assert_int_equal(h[i].chunk_id, want2[i]);
    assert_true(h[1].score == h[2].score && h[2].score == h[3].score);

    /* top-2 through the heap keeps the best two. */
    assert_int_equal(search_both(s, SPACE, q1, 3, 2, h), 2);
    assert_int_equal(h[0].chunk_id, c[0]);
    assert_int_equal(h[1].chunk_id, c[3]);
}

static void test_k_beyond_count_and_zero(void **state)
{
    rag_store *s = *state;
    int64_t c[5];
    make_chunks(s, c);
    const float v[3][2] = {{1, 0}, {0, 1}, {1, 2}};
    for (int i = 0; i < 3; i++)
        put_vec(s, SPACE, c[i], v[i], 2);
    rag_dense_hit h[16];
    const float q[2] = {0, 1};
    assert_int_equal(search_both(s, SPACE, q, 2, 10, h), 3);
    assert_int_equal(h[0].chunk_id, c[1]);
    assert_int_equal(h[1].chunk_id, c[2]);
    assert_int_equal(h[2].chunk_id, c[0]);
    assert_int_equal(search_both(s, SPACE, q, 2, 0, h), 0);
    /* unknown space: no hits, no error */
    assert_int_equal(search_both(s, "test:nothing", q, 2, 5, h), 0);
    assert_int_equal(count(s, "test:nothing"), 0);
}

static void test_normalization(void **state)
{
    rag_store *s = *state;
    int64_t c[5];
    make_chunks(s, c);
    const float v[2] = {3, 4};
    put_vec(s, SPACE, c[0], v, 2);
    /* the stored blob is the unit vector (0.6, 0.8) as little-endian f32 */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(rag_store_db(s), "SELECT dim, vec FROM dense_vectors",
                                        -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    assert_int_equal(sqlite3_column_bytes(st, 1), 8);
    float stored[2];
    memcpy(stored, sqlite3_column_blob(st, 1), 8);
    sqlite3_finalize(st);
    assert_float_equal(stored[0], 0.6, 1e-7);
    assert_float_equal(stored[1], 0.8, 1e-7);
    /* the query's scale does not matter; the score is the cosine */
    rag_dense_hit h[4];
    const float q_small[2] = {0.03f, 0.04f}, q_big[2] = {300, 400}, q_orth[2] = {-4, 3};
    assert_int_equal(search_both(s, SPACE, q_small, 2, 4, h), 1);
    assert_float_equal(h[0].score, 1.0, 1e-6);
    assert_int_equal(search_both(s, SPACE, q_big, 2, 4, h), 1);
    assert_float_equal(h[0].score, 1.0, 1e-6);
    assert_int_equal(search_both(s, SPACE, q_orth, 2, 4, h), 1);
    assert_float_equal(h[0].score, 0.0, 1e-6);
    /* a long vector exercises the 8-wide loop and its tail */
    float big[37], q37[37];
    for (int i = 0; i < 37; i++) {
        big[i] = (float)(i + 1);
        q37[i] = (float)(37 - i);
    }
    put_vec(s, "test:37", c[1], big, 37);
    double dot = 0, na = 0, nb = 0;
    for (int i = 0; i < 37; i++) {
        dot += (double)big[i] * q37[i];
        na += (double)big[i] * big[i];
        nb += (double)q37[i] * q37[i];
    }
    assert_int_equal(search_both(s, "test:37", q37, 37, 4, h), 1);
    assert_float_equal(h[0].score, dot / sqrt(na * nb), 1e-5);
}

static void test_space_isolation(void **state)
{
    rag_store *s = *state;
    int64_t c[5];
    make_chunks(s, c);
    const float a0[3] = {1, 0, 0}, a1[3] = {0, 1, 0}, b0[2] = {0, 1}, b2[2] = {1, 0};
    put_vec(s, "space:a", c[0], a0, 3);
    put_vec(s, "space:a", c[1], a1, 3);
    put_vec(s, "space:b", c[0], b0, 2); /* same chunk, other space, other dim */
    put_vec(s, "space:b", c[2], b2, 2);
    assert_int_equal(count(s, "space:a"), 2);
    assert_int_equal(count(s, "space:b"), 2);
    rag_dense_hit h[8];
    const float qb[2] = {1, 0};
    assert_int_equal(search_both(s, "space:b", qb, 2, 8, h), 2);
    assert_int_equal(h[0].chunk_id, c[2]);
    assert_int_equal(h[1].chunk_id, c[0]);
    assert_float_equal(h[1].score, 0.0, 1e-6);
    const float qa[3] = {1, 0, 0};
    assert_int_equal(search_both(s, "space:a", qa, 3, 8, h), 2);
    assert_int_equal(h[0].chunk_id, c[0]);
    assert_float_equal(h[0].score, 1.0, 1e-6);
    /* delete in one space leaves the other */
    rag_err e;
    assert_int_equal(rag_dense_delete(s, "space:b", c[0], &e), RAG_OK);
    assert_int_equal(count(s, "space:b"), 1);
    assert_int_equal(count(s, "space:a"), 2);
    assert_int_equal(rag_dense_delete(s, "space:b", c[0], &e), RAG_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, "has no vector"));
}

static void test_dim_mismatch(void **state)
{
    rag_store *s = *state;
    int64_t c[5];
    make_chunks(s, c);
    const float v3[3] = {1, 2, 3}, v4[4] = {1, 2, 3, 4};
    put_vec(s, SPACE, c[0], v3, 3);
    rag_err e;
    rag_err_clear(&e);
    assert_int_equal(rag_dense_put(s, SPACE, c[1], v4, 4, &e), RAG_E_BAD_INPUT);
    char want[256];
    snprintf(want, sizeof want, "chunk %lld: dim 4 differs from the space's dim 3 (chunk %lld)",
             (long long)c[1], (long long)c[0]);
    assert_non_null(strstr(e.msg, want));
    /* replacing the only vector with another dim is allowed (same chunk) */
    put_vec(s, SPACE, c[0], v4, 4);
    put_vec(s, SPACE, c[0], v3, 3);
    assert_int_equal(count(s, SPACE), 1);

    /* query of another dim: both searches name the chunk */
    rag_dense_hit h[4];
    size_t n = 7;
    const float q2[2] = {1, 1};
    assert_int_equal(rag_dense_search(s, SPACE, q2, 2, 4, h, &n, &e), RAG_E_BAD_INPUT);
    assert_int_equal(n, 0);
    snprintf(want, sizeof want, "space '%s': chunk %lld has a vector of dim 3, the query has dim 2",
             SPACE, (long long)c[0]);
    assert_string_equal(e.msg, want);
    rag_dense_index *idx = NULL;
    assert_int_equal(rag_dense_index_open(s, SPACE, NULL, &idx, &e), RAG_OK);
    assert_int_equal(rag_dense_index_search(idx, q2, 2, 4, h, &n, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, want);

    /* a row of another dim written behind the API's back is named by both searches */
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO dense_vectors VALUES(%lld, '%s', 2, x'0000803f00000000')",
             (long long)c[3], SPACE);
    assert_int_equal(sqlite3_exec(rag_store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
    snprintf(want, sizeof want, "chunk %lld has a vector of dim 2, the query has dim 3",
             (long long)c[3]);
    assert_int_equal(rag_dense_search(s, SPACE, v3, 3, 4, h, &n, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, want));
    assert_int_equal(rag_dense_index_search(idx, v3, 3, 4, h, &n, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, want));
    rag_dense_index_free(idx);
}

static void test_bad_input(void **state)
{
    rag_store *s = *state;
    int64_t c[5];
    make_chunks(s, c);
    const float v[3] = {1, 2, 3}, zero[3] = {0, 0, 0};
    const float nan3[3] = {1, NAN, 3}, inf3[3] = {1, 2, INFINITY};
    rag_err e;
    assert_int_equal(rag_dense_put(s, SPACE, c[0], v, 0, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "dim 0 is outside 1..8192"));
    assert_int_equal(rag_dense_put(s, SPACE, c[0], v, RAG_DENSE_MAX_DIM + 1, &e),
                     RAG_E_BAD_INPUT);
    assert_int_equal(rag_dense_put(s, SPACE, c[0], NULL, 3, &e), RAG_E_BAD_INPUT);
    assert_int_equal(rag_dense_put(s, SPACE, c[0], zero, 3, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "all-zero vector"));
    assert_int_equal(rag_dense_put(s, SPACE, c[0], nan3, 3, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "value 1 is not finite"));
    assert_int_equal(rag_dense_put(s, SPACE, c[0], inf3, 3, &e), RAG_E_BAD_INPUT);
    assert_int_equal(rag_dense_put(s, NULL, c[0], v, 3, &e), RAG_E_BAD_INPUT);
    assert_int_equal(rag_dense_put(s, "", c[0], v, 3, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "dense space: empty");
    assert_int_equal(rag_dense_put(s, "bad\xff", c[0], v, 3, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "invalid UTF-8 at byte 3"));
    char *longsp = malloc(RAG_DENSE_MAX_SPACE_BYTES + 2);
    memset(longsp, 'x', RAG_DENSE_MAX_SPACE_BYTES + 1);
    longsp[RAG_DENSE_MAX_SPACE_BYTES + 1] = '\0';
    assert_int_equal(rag_dense_put(s, longsp, c[0], v, 3, &e), RAG_E_TOO_LARGE);
    rag_dense_index *idx = (rag_dense_index *)1;
    assert_int_equal(rag_dense_index_open(s, longsp, NULL, &idx, &e), RAG_E_TOO_LARGE);
    assert_null(idx);
    free(longsp);
    assert_int_equal(rag_dense_put(s, SPACE, 987654, v, 3, &e), RAG_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, "chunk id 987654 not in store"));
    assert_int_equal(count(s, SPACE), 0); /* nothing stored by the failures */

    put_vec(s, SPACE, c[0], v, 3);
    rag_dense_hit h[2];
    size_t n;
    assert_int_equal(rag_dense_search(s, SPACE, zero, 3, 2, h, &n, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "query: all-zero vector"));
    assert_int_equal(rag_dense_search(s, SPACE, nan3, 3, 2, h, &n, &e), RAG_E_BAD_INPUT);
    assert_int_equal(rag_dense_search(s, SPACE, v, 0, 2, h, &n, &e), RAG_E_BAD_INPUT);
    assert_int_equal(rag_dense_search(s, SPACE, v, 3, 2, NULL, &n, &e), RAG_E_BAD_INPUT);
    assert_int_equal(rag_dense_index_open(s, SPACE, NULL, &idx, &e), RAG_OK);
    assert_int_equal(rag_dense_index_search(idx, zero, 3, 2, h, &n, &e), RAG_E_BAD_INPUT);
    assert_int_equal(rag_dense_index_search(idx, v, 3, 2, NULL, &n, &e), RAG_E_BAD_INPUT);
    rag_dense_index_free(idx);
    rag_dense_index_free(NULL);
}

static void test_corrupt_row(void **state)
{
    rag_store *s = *state;
    int64_t c[5];
    make_chunks(s, c);
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO dense_vectors VALUES(%lld, '%s', 3, x'0000803f')",
             (long long)c[2], SPACE);
    assert_int_equal(sqlite3_exec(rag_store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
    rag_dense_hit h[2];
    size_t n;
    rag_err e;
    const float q[3] = {1, 0, 0};
    assert_int_equal(rag_dense_search(s, SPACE, q, 3, 2, h, &n, &e), RAG_E_STORE);
    char want[128];
    snprintf(want, sizeof want, "chunk %lld: corrupt vector (dim 3, 4 bytes)", (long long)c[2]);
    assert_non_null(strstr(e.msg, want));
    rag_dense_index *idx = NULL;
    assert_int_equal(rag_dense_index_open(s, SPACE, NULL, &idx, &e), RAG_OK);
    assert_int_equal(rag_dense_index_search(idx, q, 3, 2, h, &n, &e), RAG_E_STORE);
    assert_non_null(strstr(e.msg, want));
    rag_dense_index_free(idx);
}

static void test_cascade_delete(void **state)
{
    rag_store *s = *state;
    int64_t c[5];
    int64_t doc = make_chunks(s, c);
    int64_t doc2 = put_doc(s, "b.txt");
    int64_t other = put_chunk(s, doc2, 0);
    const float v[2] = {1, 0}, w[2] = {0, 1};
    for (int i = 0; i < 5; i++)
        put_vec(s, SPACE, c[i], v, 2);
    put_vec(s, "space:b", c[0], v, 2);
    put_vec(s, SPACE, other, w, 2);
    assert_int_equal(count(s, SPACE), 6);

    rag_dense_index *idx = NULL;
    rag_err e;
    assert_int_equal(rag_dense_index_open(s, SPACE, NULL, &idx, &e), RAG_OK);
    rag_dense_hit h[8];
    size_t n;
    assert_int_equal(rag_dense_index_search(idx, w, 2, 8, h, &n, &e), RAG_OK);
    assert_int_equal(n, 6);

    assert_int_equal(rag_store_doc_delete(s, doc, &e), RAG_OK);
    assert_int_equal(count(s, SPACE), 1);
    assert_int_equal(count(s, "space:b"), 0);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM dense_vectors"), 1);
    assert_int_equal(sql_int(s, "SELECT n FROM dense_spaces WHERE space = '" SPACE "'"), 1);
    assert_int_equal(rag_dense_index_search(idx, w, 2, 8, h, &n, &e), RAG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].chunk_id, other);
    assert_int_equal(rag_dense_index_loads(idx), 2);

    /* replacing a document (doc_put with the same source) drops its vectors too */
    rag_doc_record d;
    memset(&d, 0, sizeof d);
    d.source = (char *)"b.txt";
    d.format = (char *)"text";
    snprintf(d.content_hash, sizeof d.content_hash, "%s", "fedcba9876543210fedcba9876543210");
    assert_int_equal(rag_store_doc_put(s, &d, NULL, &e), RAG_OK);
    assert_int_equal(count(s, SPACE), 0);
    assert_int_equal(rag_dense_index_search(idx, w, 2, 8, h, &n, &e), RAG_OK);
    assert_int_equal(n, 0);
    assert_int_equal(rag_dense_index_size(idx), 0);
    rag_dense_index_free(idx);
}

static void test_index_reloads(void **state)
{
    rag_store *s = *state;
    int64_t c[5];
    make_chunks(s, c);
    const float x[2] = {1, 0}, y[2] = {0, 1}, xy[2] = {1, 1};
    put_vec(s, SPACE, c[0], x, 2);
    put_vec(s, SPACE, c[1], y, 2);
    rag_dense_index *idx = NULL;
    rag_err e;
    assert_int_equal(rag_dense_index_open(s, SPACE, NULL, &idx, &e), RAG_OK);
    assert_int_equal(rag_dense_index_loads(idx), 0);
    rag_dense_hit h[8];
    size_t n;
    assert_int_equal(rag_dense_index_search(idx, xy, 2, 8, h, &n, &e), RAG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(rag_dense_index_search(idx, y, 2, 8, h, &n, &e), RAG_OK);
    assert_int_equal(rag_dense_index_loads(idx), 1); /* unchanged: cached */
    assert_int_equal(rag_dense_index_size(idx), 2);

    /* insert -> reload, new vector found */
    put_vec(s, SPACE, c[2], xy, 2);
    assert_int_equal(rag_dense_index_search(idx, xy, 2, 8, h, &n, &e), RAG_OK);
    assert_int_equal(rag_dense_index_loads(idx), 2);
    assert_int_equal(n, 3);
    assert_int_equal(h[0].chunk_id, c[2]);

    /* a change in another space does not reload */
    put_vec(s, "space:other", c[0], x, 2);
    assert_int_equal(rag_dense_index_search(idx, xy, 2, 8, h, &n, &e), RAG_OK);
    assert_int_equal(rag_dense_index_loads(idx), 2);

    /* delete one + insert one (same count) -> reload by generation */
    assert_int_equal(rag_dense_delete(s, SPACE, c[2], &e), RAG_OK);
    put_vec(s, SPACE, c[3], y, 2);
    assert_int_equal(rag_dense_index_search(idx, y, 2, 8, h, &n, &e), RAG_OK);
    assert_int_equal(rag_dense_index_loads(idx), 3);
    assert_int_equal(n, 3);
    assert_int_equal(h[0].chunk_id, c[1]);
    assert_int_equal(h[1].chunk_id, c[3]);
    assert_int_equal(h[2].chunk_id, c[0]);

    /* replacing a vector in place (same count) -> reload, new score */
    put_vec(s, SPACE, c[0], y, 2);
    assert_int_equal(count(s, SPACE), 3);
    assert_int_equal(rag_dense_index_search(idx, y, 2, 1, h, &n, &e), RAG_OK);
    assert_int_equal(rag_dense_index_loads(idx), 4);
    assert_int_equal(h[0].chunk_id, c[0]); /* three-way tie at 1.0: smallest id */
    assert_float_equal(h[0].score, 1.0, 1e-6);

    /* a load inside a transaction that rolls back is not trusted afterwards */
    assert_int_equal(rag_store_begin(s, &e), RAG_OK);
    put_vec(s, SPACE, c[4], xy, 2);
    assert_int_equal(rag_dense_index_search(idx, xy, 2, 8, h, &n, &e), RAG_OK);
    assert_int_equal(n, 4);
    assert_int_equal(h[0].chunk_id, c[4]);
    assert_int_equal(rag_store_rollback(s, &e), RAG_OK);
    assert_int_equal(rag_dense_index_search(idx, xy, 2, 8, h, &n, &e), RAG_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_true(h[i].chunk_id != c[4]);
    /* same (count, generation) as the rolled-back load, other contents: must not be reused */
    assert_int_equal(rag_store_begin(s, &e), RAG_OK);
    put_vec(s, SPACE, c[4], xy, 2);
    assert_int_equal(rag_dense_index_search(idx, xy, 2, 8, h, &n, &e), RAG_OK);
    assert_int_equal(h[0].chunk_id, c[4]);
    assert_int_equal(rag_store_rollback(s, &e), RAG_OK);
    const float negxy[2] = {-1, -1};
    put_vec(s, SPACE, c[4], negxy, 2); /* outside a transaction: the same count and gen again */
    assert_int_equal(rag_dense_index_search(idx, xy, 2, 8, h, &n, &e), RAG_OK);
    assert_int_equal(n, 4);
    assert_int_equal(h[3].chunk_id, c[4]);
    assert_float_equal(h[3].score, -1.0, 1e-6);
    rag_dense_index_free(idx);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

/* A change committed by another connection (a second handle on the same file) reloads. */
static void test_index_sees_other_connection(void **state)
{
    (void)state;
    char dir[64] = "/tmp/ragc_test_dense_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/ragc.db", dir);
    rag_store *a = open_store(path), *b = open_store(path);
    int64_t doc = put_doc(b, "x.txt");
    int64_t c0 = put_chunk(b, doc, 0), c1 = put_chunk(b, doc, 1);
    const float x[2] = {1, 0}, y[2] = {0, 1};
    put_vec(b, SPACE, c0, x, 2);
    rag_dense_index *idx = NULL;
    rag_err e;
    assert_int_equal(rag_dense_index_open(a, SPACE, NULL, &idx, &e), RAG_OK);
    rag_dense_hit h[4];
    size_t n;
    assert_int_equal(rag_dense_index_search(idx, y, 2, 4, h, &n, &e), RAG_OK);
    assert_int_equal(n, 1);
    put_vec(b, SPACE, c1, y, 2);
    assert_int_equal(rag_dense_index_search(idx, y, 2, 4, h, &n, &e), RAG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(h[0].chunk_id, c1);
    assert_int_equal(rag_dense_index_loads(idx), 2);
    rag_dense_index_free(idx);
    rag_store_close(a);
    rag_store_close(b);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Many vectors: the heap's top-k equals a full sort (checked against brute force). */
static void test_topk_matches_brute_force(void **state)
{
    rag_store *s = *state;
    int64_t doc = put_doc(s, "many.txt");
    enum { N = 300, D = 19, K = 16 };
    static float vecs[N][D];
    int64_t ids[N];
    unsigned seed = 12345;
    rag_err e;
    assert_int_equal(rag_store_begin(s, &e), RAG_OK);
    for (int i = 0; i < N; i++) {
        ids[i] = put_chunk(s, doc, i);
        for (int j = 0; j < D; j++) {
            seed = seed * 1103515245u + 12345u;
            vecs[i][j] = (float)((int)(seed >> 16 & 0x7fff) - 16384) / 16384.0f;
        }
        vecs[i][0] += 0.01f; /* never all zero */
        put_vec(s, SPACE, ids[i], vecs[i], D);
    }
    assert_int_equal(rag_store_commit(s, &e), RAG_OK);
    float q[D];
    for (int j = 0; j < D; j++)
        q[j] = (float)(j % 5) - 2.0f;
    rag_dense_hit h[K];
    assert_int_equal(search_both(s, SPACE, q, D, K, h), K);
    /* brute force in double: each hit's cosine, ordering, and nothing better left out */
    double cos_all[N];
    double qn = 0;
    for (int j = 0; j < D; j++)
        qn += (double)q[j] * q[j];
    for (int i = 0; i < N; i++) {
        double d = 0, vn = 0;
        for (int j = 0; j < D; j++) {
            d += (double)vecs[i][j] * q[j];
            vn += (double)vecs[i][j] * vecs[i][j];
        }
        cos_all[i] = d / sqrt(vn * qn);
    }
    for (int i = 0; i < K; i++) {
        assert_float_equal(h[i].score, cos_all[h[i].chunk_id - ids[0]], 1e-5);
        if (i > 0)
            assert_true(h[i - 1].score >= h[i].score);
    }
    int better = 0;
    for (int i = 0; i < N; i++)
        if (cos_all[i] > h[K - 1].score + 1e-5)
            better++;
    assert_true(better <= K - 1);
    assert_true(better >= K - 3); /* near-ties at the cutoff only */
}


/* ---- int8 ---- */

static unsigned lcg_next(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8 & 0xffffff;
}

/* Approximately normal (sum of 4 uniforms, centred), never exactly zero as a vector. */
static float rnd_normal(unsigned *seed)
{
    float s = 0;
    for (int i = 0; i < 4; i++)
        s += (float)lcg_next(seed) / 16777216.0f;
    return s - 2.0f;
}

/* The normalization rag_dense_put and the searches apply: out = (float)(v / |v|). */
static void unit_f32(const float *v, int dim, float *out)
{
    double ss = 0;
    for (int i = 0; i < dim; i++)
        ss += (double)v[i] * v[i];
    double inv = 1.0 / sqrt(ss);
    for (int i = 0; i < dim; i++)
        out[i] = (float)((double)v[i] * inv);
}

/* The quantization of the header, written out independently: s = max|x| / 127, q = round(x / s). */
static float quant(const float *x, int dim, int *q)
{
    float m = 0;
    for (int i = 0; i < dim; i++)
        if (fabsf(x[i]) > m)
            m = fabsf(x[i]);
    for (int i = 0; i < dim; i++)
        q[i] = (int)lrintf(x[i] * (127.0f / m));
    return m / 127.0f;
}

static double l1(const float *x, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += fabs((double)x[i]);
    return s;
}

static rag_dense_index *open_index(rag_store *s, const char *space, rag_dense_precision p, bool portable)
{
    rag_dense_index_params ip = rag_dense_index_default_params();
    ip.precision = p;
    ip.portable_kernel = portable;
    rag_dense_index *idx = NULL;
    rag_err e;
    rag_err_clear(&e);
    if (rag_dense_index_open(s, space, &ip, &idx, &e) != RAG_OK)
        fail_msg("index open: %s", e.msg);
    return idx;
}

static size_t isearch(rag_dense_index *idx, const float *q, int dim, size_t k, rag_dense_hit *h)
{
    size_t n = 0;
    rag_err e;
    rag_err_clear(&e);
    if (rag_dense_index_search(idx, q, dim, k, h, &n, &e) != RAG_OK)
        fail_msg("index search: %s", e.msg);
    return n;
}

/* 2,000 random 384-dim vectors, 30 random queries: int8 top-10 overlaps f32 top-10 by >= 0.9 on
 * average, and every int8 score is within the header's bound of the exact cosine. */
static void test_int8_agrees_with_f32(void **state)
{
    rag_store *s = *state;
    enum { N = 2000, D = 384, Q = 30, K = 10 };
    float *raw = malloc(sizeof(float) * N * D), *unit = malloc(sizeof(float) * N * D);
    int64_t *ids = malloc(sizeof(int64_t) * N);
    assert_non_null(raw);
    assert_non_null(unit);
    assert_non_null(ids);
    unsigned seed = 4242;
    rag_err e;
    int64_t doc = put_doc(s, "random.txt");
    assert_int_equal(rag_store_begin(s, &e), RAG_OK);
    for (int i = 0; i < N; i++) {
        ids[i] = put_chunk(s, doc, i);
        for (int j = 0; j < D; j++)
            raw[i * D + j] = rnd_normal(&seed);
        unit_f32(raw + i * D, D, unit + i * D);
        put_vec(s, SPACE, ids[i], raw + i * D, D);
    }
    assert_int_equal(rag_store_commit(s, &e), RAG_OK);
    assert_int_equal(ids[N - 1] - ids[0], N - 1); /* row of chunk c is c - ids[0] */

    rag_dense_index *f32 = open_index(s, SPACE, RAG_DENSE_F32, false);
    rag_dense_index *i8 = open_index(s, SPACE, RAG_DENSE_INT8, false);
    rag_dense_hit hf[K], hq[K];
    double overlap = 0, worst_err = 0, worst_ratio = 0;
    float qraw[D], qu[D];
    for (int t = 0; t < Q; t++) {
        for (int j = 0; j < D; j++)
            qraw[j] = rnd_normal(&seed);
        unit_f32(qraw, D, qu);
        int qq[D];
        float sq = quant(qu, D, qq);
        assert_int_equal(isearch(f32, qraw, D, K, hf), K);
        assert_int_equal(isearch(i8, qraw, D, K, hq), K);
        int common = 0;
        for (int a = 0; a < K; a++)
            for (int b = 0; b < K; b++)
                common += hf[a].chunk_id == hq[b].chunk_id;
        overlap += (double)common / K;
        for (int a = 0; a < K; a++) {
            const float *r = unit + (hq[a].chunk_id - ids[0]) * D;
            int qr[D];
            float sr = quant(r, D, qr);
            double cos = 0;
            for (int j = 0; j < D; j++)
                cos += (double)r[j] * qu[j];
            double bound = (sq * l1(r, D) + sr * l1(qu, D)) / 2 + D * (double)sq * sr / 4;
            double err = fabs(hq[a].score - cos);
            if (err > bound + 1e-6)
                fail_msg("query %d hit %d: int8 score %.6f vs cosine %.6f: error %.6f over the bound %.6f", t,
                         a, hq[a].score, cos, err, bound);
            worst_err = err > worst_err ? err : worst_err;
            worst_ratio = err / bound > worst_ratio ? err / bound : worst_ratio;
            assert_int_equal(hq[a].doc_id, doc);
        }
    }
    overlap /= Q;
    print_message("int8 vs f32: mean overlap@10 %.3f, worst |score error| %.5f (%.0f%% of its bound)\n", overlap,
                  worst_err, 100 * worst_ratio);
    assert_true(overlap >= 0.9);
    /* the int8 form holds about a quarter of the f32 bytes */
    assert_int_equal(rag_dense_index_bytes(f32), (size_t)N * (4 * D + 16));
    assert_int_equal(rag_dense_index_bytes(i8), (size_t)N * (D + 4 + 16));
    rag_dense_index_free(f32);
    rag_dense_index_free(i8);
    free(raw);
    free(unit);
    free(ids);
}

/* The int8 score is exactly s_q * s_r * (integer dot), for dims that exercise the 32-byte AVX2
 * steps and their tails; the portable and the dispatched kernels give the same numbers. */
static void test_int8_exact_dot_both_kernels(void **state)
{
    rag_store *s = *state;
    static const int dims[] = {1, 7, 32, 37, 100, 384};
    int64_t doc = put_doc(s, "k.txt");
    enum { N = 12 };
    int64_t c[N];
    for (int i = 0; i < N; i++)
        c[i] = put_chunk(s, doc, i);
    unsigned seed = 99;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        const int D = dims[di];
        char space[32];
        snprintf(space, sizeof space, "test:dim%d", D);
        float raw[N][384], unit[N][384];
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < D; j++)
                raw[i][j] = rnd_normal(&seed);
            raw[i][0] += 0.001f;
            unit_f32(raw[i], D, unit[i]);
            put_vec(s, space, c[i], raw[i], D);
        }
        float qraw[384], qu[384];
        for (int j = 0; j < D; j++)
            qraw[j] = rnd_normal(&seed) * 10.0f; /* scale does not matter */
        qraw[0] += 0.001f;
        unit_f32(qraw, D, qu);
        int qq[384], qr[384];
        float sq = quant(qu, D, qq);
        rag_dense_index *fast = open_index(s, space, RAG_DENSE_INT8, false);
        rag_dense_index *port = open_index(s, space, RAG_DENSE_INT8, true);
        assert_string_equal(rag_dense_index_kernel(port), "int8-portable");
        if (__builtin_cpu_supports("avx2"))
            assert_string_equal(rag_dense_index_kernel(fast), "int8-avx2");
        rag_dense_hit hf[N], hp[N];
        assert_int_equal(isearch(fast, qraw, D, N, hf), N);
        assert_int_equal(isearch(port, qraw, D, N, hp), N);
        for (int a = 0; a < N; a++) {
            assert_int_equal(hf[a].chunk_id, hp[a].chunk_id);
            assert_true(hf[a].score == hp[a].score);
            float sr = quant(unit[hf[a].chunk_id - c[0]], D, qr);
            long dot = 0;
            for (int j = 0; j < D; j++)
                dot += (long)qr[j] * qq[j];
            double want = (double)sq * (double)sr * (double)dot;
            if (fabs(hf[a].score - want) > 1e-12)
                fail_msg("dim %d: score %.17g, want %.17g (integer dot %ld)", D, hf[a].score, want, dot);
        }
        rag_dense_index_free(fast);
        rag_dense_index_free(port);
    }
    /* dim 1: every vector is +-1 and quantizes to +-127: scores are +-1 (up to the float scales) */
    rag_dense_index *one = open_index(s, "test:dim1", RAG_DENSE_INT8, false);
    rag_dense_hit h[N];
    const float q1 = -3.0f;
    assert_int_equal(isearch(one, &q1, 1, N, h), N);
    for (int a = 0; a < N; a++)
        assert_float_equal(fabs(h[a].score), 1.0, 1e-6);
    rag_dense_index_free(one);
}

static void test_int8_index_reloads_and_params(void **state)
{
    rag_store *s = *state;
    int64_t c[5];
    make_chunks(s, c);
    const float x[2] = {1, 0}, y[2] = {0, 1}, xy[2] = {1, 1};
    put_vec(s, SPACE, c[0], x, 2);
    put_vec(s, SPACE, c[1], y, 2);
    rag_dense_index *idx = open_index(s, SPACE, RAG_DENSE_INT8, false);
    assert_int_equal(rag_dense_index_precision(idx), RAG_DENSE_INT8);
    assert_string_equal(rag_dense_index_space(idx), SPACE);
    rag_dense_hit h[8];
    assert_int_equal(isearch(idx, x, 2, 8, h), 2);
    assert_int_equal(h[0].chunk_id, c[0]);
    assert_float_equal(h[0].score, 1.0, 1e-6);
    put_vec(s, SPACE, c[2], xy, 2);
    assert_int_equal(isearch(idx, xy, 2, 8, h), 3);
    assert_int_equal(rag_dense_index_loads(idx), 2);
    assert_int_equal(h[0].chunk_id, c[2]);
    assert_float_equal(h[0].score, 1.0, 1e-6);
    assert_float_equal(h[1].score, sqrt(0.5), 0.01);
    rag_dense_index_free(idx);

    rag_dense_index_params p = rag_dense_index_default_params();
    assert_int_equal(p.precision, RAG_DENSE_F32);
    assert_false(p.portable_kernel);
    p.precision = (rag_dense_precision)5;
    rag_err e;
    idx = (rag_dense_index *)1;
    assert_int_equal(rag_dense_index_open(s, SPACE, &p, &idx, &e), RAG_E_BAD_INPUT);
    assert_null(idx);
    assert_non_null(strstr(e.msg, "unknown precision 5"));
    idx = open_index(s, SPACE, RAG_DENSE_F32, false);
    assert_string_equal(rag_dense_index_kernel(idx), "f32");
    rag_dense_index_free(idx);
}

/* A non-finite value in a stored vector is named, in every search and precision. */
static void test_non_finite_row(void **state)
{
    rag_store *s = *state;
    int64_t c[5];
    make_chunks(s, c);
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO dense_vectors VALUES(%lld, '%s', 2, x'0000803f0000c07f')",
             (long long)c[1], SPACE); /* (1, NaN) */
    assert_int_equal(sqlite3_exec(rag_store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
    char want[128];
    snprintf(want, sizeof want, "chunk %lld: corrupt vector (value 1 is not finite)", (long long)c[1]);
    const float q[2] = {1, 0};
    rag_dense_hit h[2];
    size_t n;
    rag_err e;
    assert_int_equal(rag_dense_search(s, SPACE, q, 2, 2, h, &n, &e), RAG_E_STORE);
    assert_non_null(strstr(e.msg, want));
    for (int p = 0; p < 2; p++) {
        rag_dense_index *idx = open_index(s, SPACE, p ? RAG_DENSE_INT8 : RAG_DENSE_F32, false);
        assert_int_equal(rag_dense_index_search(idx, q, 2, 2, h, &n, &e), RAG_E_STORE);
        assert_non_null(strstr(e.msg, want));
        rag_dense_index_free(idx);
    }
}

/* ---- document filter ---- */

/* Searches the streamed way and with an f32 and an int8 index, restricted to docs; checks the
 * three agree on the chunks (and the f32 ones on the scores); returns n_hits. */
static size_t search_docs_all(rag_store *s, const float *q, int dim, const int64_t *docs, size_t n_docs,
                              size_t k, rag_dense_hit *hits)
{
    rag_err e;
    rag_err_clear(&e);
    size_t n = 99;
    if (rag_dense_search_docs(s, SPACE, q, dim, docs, n_docs, k, hits, &n, &e) != RAG_OK)
        fail_msg("search docs: %s", e.msg);
    for (int p = 0; p < 2; p++) {
        rag_dense_index *idx = open_index(s, SPACE, p ? RAG_DENSE_INT8 : RAG_DENSE_F32, false);
        rag_dense_hit h2[16];
        size_t n2 = 99;
        assert_true(k <= 16);
        if (rag_dense_index_search_docs(idx, q, dim, docs, n_docs, k, h2, &n2, &e) != RAG_OK)
            fail_msg("index search docs: %s", e.msg);
        assert_int_equal(n2, n);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(h2[i].chunk_id, hits[i].chunk_id);
            assert_int_equal(h2[i].doc_id, hits[i].doc_id);
            if (p == 0)
                assert_true(h2[i].score == hits[i].score);
        }
        rag_dense_index_free(idx);
    }
    return n;
}

static void test_doc_filter(void **state)
{
    rag_store *s = *state;
    int64_t d[3], c[3][2];
    const char *names[3] = {"d0.txt", "d1.txt", "d2.txt"};
    for (int i = 0; i < 3; i++) {
        d[i] = put_doc(s, names[i]);
        for (int j = 0; j < 2; j++) {
            c[i][j] = put_chunk(s, d[i], j);
            const float v[2] = {(float)(3 * i + j + 1), 1.0f}; /* later chunks point closer to x */
            put_vec(s, SPACE, c[i][j], v, 2);
        }
    }
    const float q[2] = {1, 0};
    rag_dense_hit h[16];
    /* unfiltered: all six, best first, each with its document */
    assert_int_equal(search_both(s, SPACE, q, 2, 16, h), 6);
    assert_int_equal(h[0].chunk_id, c[2][1]);
    assert_int_equal(h[0].doc_id, d[2]);
    assert_int_equal(h[5].chunk_id, c[0][0]);
    assert_int_equal(h[5].doc_id, d[0]);
    /* one document */
    const int64_t only1[1] = {d[1]};
    assert_int_equal(search_docs_all(s, q, 2, only1, 1, 16, h), 2);
    assert_int_equal(h[0].chunk_id, c[1][1]);
    assert_int_equal(h[1].chunk_id, c[1][0]);
    assert_int_equal(h[0].doc_id, d[1]);
    /* any order, repeats and unknown ids; k cuts */
    const int64_t some[5] = {d[2], 987654, d[0], d[2], -1};
    assert_int_equal(search_docs_all(s, q, 2, some, 5, 3, h), 3);
    assert_int_equal(h[0].chunk_id, c[2][1]);
    assert_int_equal(h[1].chunk_id, c[2][0]);
    assert_int_equal(h[2].chunk_id, c[0][1]);
    /* only unknown ids, or the empty set: nothing */
    const int64_t none[1] = {987654};
    assert_int_equal(search_docs_all(s, q, 2, none, 1, 16, h), 0);
    assert_int_equal(search_docs_all(s, q, 2, NULL, 0, 16, h), 0);

    /* bad filters */
    size_t n = 7;
    rag_err e;
    assert_int_equal(rag_dense_search_docs(s, SPACE, q, 2, NULL, 2, 16, h, &n, &e), RAG_E_BAD_INPUT);
    assert_int_equal(n, 0);
    assert_non_null(strstr(e.msg, "document filter: 2 ids but the array is NULL"));
    assert_int_equal(rag_dense_search_docs(s, SPACE, q, 2, only1, RAG_DENSE_MAX_FILTER_DOCS + 1, 16, h, &n, &e),
                     RAG_E_TOO_LARGE);
    assert_non_null(strstr(e.msg, "exceed the cap of 1000000"));
    rag_dense_index *idx = open_index(s, SPACE, RAG_DENSE_F32, false);
    assert_int_equal(rag_dense_index_search_docs(idx, q, 2, NULL, 1, 16, h, &n, &e), RAG_E_BAD_INPUT);
    assert_int_equal(rag_dense_index_search_docs(idx, q, 2, only1, RAG_DENSE_MAX_FILTER_DOCS + 1, 16, h, &n, &e),
                     RAG_E_TOO_LARGE);
    /* a deleted document leaves the filtered results too */
    assert_int_equal(rag_store_doc_delete(s, d[1], &e), RAG_OK);
    assert_int_equal(rag_dense_index_search_docs(idx, q, 2, only1, 1, 16, h, &n, &e), RAG_OK);
    assert_int_equal(n, 0);
    rag_dense_index_free(idx);
}

static void test_missing_chunks(void **state)
{
    rag_store *s = *state;
    int64_t c[5];
    make_chunks(s, c);
    int64_t *ids = (int64_t *)1;
    size_t n = 99;
    rag_err e;
    assert_int_equal(rag_dense_missing_chunks(s, SPACE, &ids, &n, &e), RAG_OK);
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ids[i], c[i]);
    free(ids);
    const float v[2] = {1, 2};
    put_vec(s, SPACE, c[1], v, 2);
    put_vec(s, SPACE, c[3], v, 2);
    put_vec(s, "space:other", c[0], v, 2);
    assert_int_equal(rag_dense_missing_chunks(s, SPACE, &ids, &n, &e), RAG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], c[0]);
    assert_int_equal(ids[1], c[2]);
    assert_int_equal(ids[2], c[4]);
    free(ids);
    for (int i = 0; i < 5; i++)
        put_vec(s, SPACE, c[i], v, 2);
    assert_int_equal(rag_dense_missing_chunks(s, SPACE, &ids, &n, &e), RAG_OK);
    assert_int_equal(n, 0);
    assert_null(ids);
    assert_int_equal(rag_dense_missing_chunks(s, "", &ids, &n, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "dense space: empty");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_search_order_and_ties, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_k_beyond_count_and_zero, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_normalization, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_space_isolation, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_dim_mismatch, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_bad_input, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_corrupt_row, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_cascade_delete, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_index_reloads, setup_mem, teardown_mem),
        cmocka_unit_test(test_index_sees_other_connection),
        cmocka_unit_test_setup_teardown(test_topk_matches_brute_force, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_int8_agrees_with_f32, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_int8_exact_dot_both_kernels, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_int8_index_reloads_and_params, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_non_finite_row, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_doc_filter, setup_mem, teardown_mem),
        cmocka_unit_test_setup_teardown(test_missing_chunks, setup_mem, teardown_mem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
