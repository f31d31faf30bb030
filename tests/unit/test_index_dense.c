/* Unit tests for src/index/dense.c: put/count/delete, exact search order and ties, normalization,
 * space isolation, dim checks, cascades, the cached index's reloads (insert, replace, delete,
 * rollback, another connection), k beyond the count, corrupt rows. */
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
    assert_int_equal(rag_dense_index_open(s, space, &idx, &e), RAG_OK);
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
    assert_int_equal(rag_dense_index_open(s, SPACE, &idx, &e), RAG_OK);
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
    assert_int_equal(rag_dense_index_open(s, longsp, &idx, &e), RAG_E_TOO_LARGE);
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
    assert_int_equal(rag_dense_index_open(s, SPACE, &idx, &e), RAG_OK);
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
    assert_int_equal(rag_dense_index_open(s, SPACE, &idx, &e), RAG_OK);
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
    assert_int_equal(rag_dense_index_open(s, SPACE, &idx, &e), RAG_OK);
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
    assert_int_equal(rag_dense_index_open(s, SPACE, &idx, &e), RAG_OK);
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
    assert_int_equal(rag_dense_index_open(a, SPACE, &idx, &e), RAG_OK);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
