/* Dense vectors: storage in dense_vectors / dense_spaces (schema in src/store/store.c, migration
 * 2 -> 3) and exact top-k search, streamed (rag_dense_search) or over an in-memory f32 or int8
 * copy of a space (rag_dense_index), optionally restricted to a set of documents. */
#include "ragc/dense.h"

#include <math.h>
#include <stdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define RAG_DENSE_HAVE_AVX2_KERNEL 1
#endif

/* ---- input checks ---- */

static rag_status check_space(const char *space, rag_err *err)
{
    if (!space)
        return rag_err_set(err, RAG_E_BAD_INPUT, "dense space: missing (NULL)");
    size_t n = strlen(space);
    if (n == 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "dense space: empty");
    if (n > RAG_DENSE_MAX_SPACE_BYTES)
        return rag_err_set(err, RAG_E_TOO_LARGE, "dense space: %zu bytes exceeds the cap of %u", n,
                           RAG_DENSE_MAX_SPACE_BYTES);
    size_t bad = 0;
    if (!rag_utf8_valid(space, n, &bad))
        return rag_err_set(err, RAG_E_BAD_INPUT, "dense space: invalid UTF-8 at byte %zu", bad);
    return RAG_OK;
}

/* Writes the L2-normalized vec[0..dim) into out[0..dim). what names the vector in messages. */
static rag_status normalize_vec(const char *space, const char *what, const float *vec, int dim,
                                float *out, rag_err *err)
{
    if (dim < 1 || dim > RAG_DENSE_MAX_DIM)
        return rag_err_set(err, RAG_E_BAD_INPUT, "space '%s': %s: dim %d is outside 1..%d", space,
                           what, dim, RAG_DENSE_MAX_DIM);
    if (!vec)
        return rag_err_set(err, RAG_E_BAD_INPUT, "space '%s': %s: vector is NULL", space, what);
    double ss = 0.0;
    for (int i = 0; i < dim; i++) {
        if (!isfinite(vec[i]))
            return rag_err_set(err, RAG_E_BAD_INPUT, "space '%s': %s: value %d is not finite",
                               space, what, i);
        ss += (double)vec[i] * (double)vec[i];
    }
    if (!(ss > 0.0))
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "space '%s': %s: all-zero vector cannot be normalized", space, what);
    double inv = 1.0 / sqrt(ss);
    for (int i = 0; i < dim; i++)
        out[i] = (float)((double)vec[i] * inv);
    return RAG_OK;
}

/* ---- blob format: dim f32 values, little-endian ---- */

static void f32_to_le(const float *v, int dim, unsigned char *out)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(out, v, (size_t)dim * 4);
#else
    for (int i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int b = 0; b < 4; b++)
            out[4 * i + b] = (unsigned char)(u >> (8 * b));
    }
#endif
}

static void le_to_f32(const unsigned char *p, int dim, float *out)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(out, p, (size_t)dim * 4);
#else
    for (int i = 0; i < dim; i++) {
        uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                     (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
        memcpy(&out[i], &u, 4);
    }
#endif
}

/* ---- kernels ---- */

/* Dot product of a[0..n) and b[0..n), 8 independent accumulators (vectorizable). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static float dot_f32(const float *restrict a, const float *restrict b, size_t n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float tail = 0.0f;
    for (; i < n; i++)
        tail += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) +
           tail;
}

/* Integer dot of two int8 vectors whose values lie in [-127, 127]; exact in int32 for
 * n <= RAG_DENSE_MAX_DIM (|sum| <= 8192 * 127^2 < 2^31). */
typedef int32_t (*dot_i8_fn)(const int8_t *a, const int8_t *b, size_t n);

/* Plain C in blocks of 16 independent lanes: the compiler vectorizes the fixed-count inner loop
 * at -O2 for the baseline ISA (SSE2 on x86-64, NEON on arm64). */
static int32_t dot_i8_portable(const int8_t *a, const int8_t *b, size_t n)
{
    int32_t acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (size_t j = 0; j < 16; j++)
            acc[j] += (int32_t)a[i + j] * (int32_t)b[i + j];
    int32_t r = 0;
    for (size_t j = 0; j < 16; j++)
        r += acc[j];
    for (; i < n; i++)
        r += (int32_t)a[i] * (int32_t)b[i];
    return r;
}

#ifdef RAG_DENSE_HAVE_AVX2_KERNEL

/* 32 bytes per step: maddubs multiplies |a| (unsigned) by b carrying a's sign, summing pairs into
 * int16 (at most 2 * 127 * 127 = 32258: no saturation since values exclude -128), then madd with
 * ones widens pairs into int32. */
__attribute__((target("avx2"))) static int32_t dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i acc = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(const void *)(a + i));
        __m256i vb = _mm256_loadu_si256((const __m256i *)(const void *)(b + i));
        __m256i prod16 = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va), _mm256_sign_epi8(vb, va));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(prod16, ones));
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    int32_t r = _mm_cvtsi128_si32(s);
    for (; i < n; i++)
        r += (int32_t)a[i] * (int32_t)b[i];
    return r;
}
#endif

/* Quantizes the unit vector x[0..n) into q with scale *scale (x ~ scale * q). An all-zero x
 * gives scale 0 and q = 0. */
static void quantize_i8(const float *x, size_t n, int8_t *q, float *scale)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
    if (!(m > 0.0f)) {
        memset(q, 0, n);
        *scale = 0.0f;
        return;
    }
    float inv = 127.0f / m;
    for (size_t i = 0; i < n; i++) {
        long v = lrintf(x[i] * inv);
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    *scale = m / 127.0f;
}

/* ---- top-k collector ---- */

/* Over a caller array: while collecting, hits[0..n) is a heap whose root is the worst hit kept
 * (lowest score; among equal scores the highest chunk_id). */
typedef struct topk {
    rag_dense_hit *hits;
    size_t k, n;
} topk;

static int hit_worse(const rag_dense_hit *a, const rag_dense_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->chunk_id > b->chunk_id);
}

static void topk_sift_down(topk *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < t->n && hit_worse(&t->hits[l], &t->hits[w]))
            w = l;
        if (r < t->n && hit_worse(&t->hits[r], &t->hits[w]))
            w = r;
        if (w == i)
            return;
        rag_dense_hit tmp = t->hits[i];
        t->hits[i] = t->hits[w];
        t->hits[w] = tmp;
        i = w;
    }
}

static void topk_push(topk *t, int64_t id, int64_t doc, double score)
{
    rag_dense_hit h = {id, doc, score};
    if (t->n < t->k) {
        size_t i = t->n++;
        t->hits[i] = h;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!hit_worse(&t->hits[i], &t->hits[p]))
                break;
            rag_dense_hit tmp = t->hits[i];
            t->hits[i] = t->hits[p];
            t->hits[p] = tmp;
            i = p;
        }
    } else if (t->k > 0 && hit_worse(&t->hits[0], &h)) {
        t->hits[0] = h;
        topk_sift_down(t, 0);
    }
}

static int hit_cmp_best_first(const void *pa, const void *pb)
{
    const rag_dense_hit *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->chunk_id > b->chunk_id) - (a->chunk_id < b->chunk_id);
}

static void topk_finish(topk *t, size_t *n_hits)
{
    qsort(t->hits, t->n, sizeof *t->hits, hit_cmp_best_first);
    *n_hits = t->n;
}

/* ---- document filter: a sorted, de-duplicated copy of the caller's doc ids ---- */

typedef struct doc_filter {
    bool active;  /* false: every row passes */
    int64_t *ids; /* owned; n ascending distinct ids */
    size_t n;
} doc_filter;

static int cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

static rag_status filter_init(doc_filter *f, const char *space, bool active, const int64_t *ids,
                              size_t n, rag_err *err)
{
    memset(f, 0, sizeof *f);
    f->active = active;
    if (!active || n == 0)
        return RAG_OK;
    if (!ids)
        return rag_err_set(err, RAG_E_BAD_INPUT, "space '%s': document filter: %zu ids but the "
                           "array is NULL", space, n);
    if (n > RAG_DENSE_MAX_FILTER_DOCS)
        return rag_err_set(err, RAG_E_TOO_LARGE, "space '%s': document filter: %zu ids exceed "
                           "the cap of %u", space, n, RAG_DENSE_MAX_FILTER_DOCS);
    if (!(f->ids = malloc(n * sizeof *f->ids)))
        return rag_err_set(err, RAG_E_NOMEM, "space '%s': document filter: out of memory", space);
    memcpy(f->ids, ids, n * sizeof *ids);
    qsort(f->ids, n, sizeof *f->ids, cmp_i64);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || f->ids[i] != f->ids[m - 1])
            f->ids[m++] = f->ids[i];
    f->n = m;
    return RAG_OK;
}

static bool filter_pass(const doc_filter *f, int64_t doc)
{
    return !f->active || (f->n > 0 && bsearch(&doc, f->ids, f->n, sizeof doc, cmp_i64));
}

static void filter_free(doc_filter *f)
{
    free(f->ids);
    f->ids = NULL;
}

/* ---- put / delete / count ---- */

static const char SQL_FIRST_OTHERS[] =
    "SELECT chunk_id, dim FROM dense_vectors WHERE space = ?1 LIMIT 2";
static const char SQL_PUT[] =
    "INSERT INTO dense_vectors(chunk_id, space, dim, vec) VALUES(?1, ?2, ?3, ?4) "
    "ON CONFLICT(space, chunk_id) DO UPDATE SET dim = excluded.dim, vec = excluded.vec";
static const char SQL_DELETE[] = "DELETE FROM dense_vectors WHERE space = ?1 AND chunk_id = ?2";
static const char SQL_COUNT[] = "SELECT count(*) FROM dense_vectors WHERE space = ?1";
static const char SQL_SPACE_STATE[] = "SELECT n, gen FROM dense_spaces WHERE space = ?1";
static const char SQL_ROWS[] =
    "SELECT v.chunk_id, v.dim, v.vec, c.doc_id FROM dense_vectors v "
    "JOIN chunks c ON c.id = v.chunk_id WHERE v.space = ?1 ORDER BY v.chunk_id";
static const char SQL_MISSING[] =
    "SELECT c.id FROM chunks c WHERE NOT EXISTS "
    "(SELECT 1 FROM dense_vectors v WHERE v.space = ?1 AND v.chunk_id = c.id) ORDER BY c.id";

/* Fails if the space holds a vector (of a chunk other than chunk_id) whose dim is not dim. */
static rag_status check_space_dim(rag_store *s, const char *space, int64_t chunk_id, int dim,
                                  rag_err *err)
{
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(s, SQL_FIRST_OTHERS, &st, err);
    if (rs != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, space, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t other = sqlite3_column_int64(st, 0);
        int other_dim = sqlite3_column_int(st, 1);
        if (other == chunk_id)
            continue;
        if (other_dim != dim)
            rs = rag_err_set(err, RAG_E_BAD_INPUT,
                             "space '%s': chunk %lld: dim %d differs from the space's dim %d "
                             "(chunk %lld)", space, (long long)chunk_id, dim, other_dim,
                             (long long)other);
        break;
    }
    if (rs == RAG_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        rs = rag_store_sqlite_error(s, rc, "dense put", err);
    sqlite3_reset(st);
    return rs;
}

rag_status rag_dense_put(rag_store *s, const char *space, int64_t chunk_id, const float *vec,
                         int dim, rag_err *err)
{
    rag_status rs = check_space(space, err);
    if (rs != RAG_OK)
        return rs;
    char what[48];
    snprintf(what, sizeof what, "chunk %lld", (long long)chunk_id);
    if (dim < 1 || dim > RAG_DENSE_MAX_DIM)
        return normalize_vec(space, what, vec, dim, NULL, err);
    float *norm = malloc((size_t)dim * sizeof *norm);
    unsigned char *blob = malloc((size_t)dim * 4);
    if (!norm || !blob) {
        rs = rag_err_set(err, RAG_E_NOMEM, "space '%s': %s: out of memory", space, what);
        goto out;
    }
    if ((rs = normalize_vec(space, what, vec, dim, norm, err)) != RAG_OK)
        goto out;
    if ((rs = check_space_dim(s, space, chunk_id, dim, err)) != RAG_OK)
        goto out;
    f32_to_le(norm, dim, blob);
    sqlite3_stmt *st;
    if ((rs = rag_store_stmt(s, SQL_PUT, &st, err)) != RAG_OK)
        goto out;
    sqlite3_bind_int64(st, 1, chunk_id);
    sqlite3_bind_text(st, 2, space, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, dim);
    sqlite3_bind_blob(st, 4, blob, dim * 4, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        rs = rag_err_set(err, RAG_E_NOT_FOUND, "space '%s': chunk id %lld not in store", space,
                         (long long)chunk_id);
    else if (rc != SQLITE_DONE)
        rs = rag_store_sqlite_error(s, rc, "dense put", err);
    sqlite3_reset(st);
out:
    free(norm);
    free(blob);
    return rs;
}

rag_status rag_dense_delete(rag_store *s, const char *space, int64_t chunk_id, rag_err *err)
{
    rag_status rs = check_space(space, err);
    sqlite3_stmt *st;
    if (rs != RAG_OK || (rs = rag_store_stmt(s, SQL_DELETE, &st, err)) != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, space, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, chunk_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        rs = rag_store_sqlite_error(s, rc, "dense delete", err);
    else if (sqlite3_changes(rag_store_db(s)) == 0)
        rs = rag_err_set(err, RAG_E_NOT_FOUND, "space '%s': chunk %lld has no vector", space,
                         (long long)chunk_id);
    sqlite3_reset(st);
    return rs;
}

rag_status rag_dense_count(rag_store *s, const char *space, int64_t *n, rag_err *err)
{
    *n = 0;
    rag_status rs = check_space(space, err);
    sqlite3_stmt *st;
    if (rs != RAG_OK || (rs = rag_store_stmt(s, SQL_COUNT, &st, err)) != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, space, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        rs = rag_store_sqlite_error(s, rc, "dense count", err);
    sqlite3_reset(st);
    return rs;
}

rag_status rag_dense_missing_chunks(rag_store *s, const char *space, int64_t **ids, size_t *n,
                                    rag_err *err)
{
    *ids = NULL;
    *n = 0;
    rag_status rs = check_space(space, err);
    sqlite3_stmt *st;
    if (rs != RAG_OK || (rs = rag_store_stmt(s, SQL_MISSING, &st, err)) != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, space, -1, SQLITE_STATIC);
    int64_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            int64_t *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rs = rag_err_set(err, RAG_E_NOMEM, "space '%s': missing chunks: out of memory",
                                 space);
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[len++] = sqlite3_column_int64(st, 0);
    }
    if (rs == RAG_OK && rc != SQLITE_DONE)
        rs = rag_store_sqlite_error(s, rc, "dense missing chunks", err);
    sqlite3_reset(st);
    if (rs != RAG_OK) {
        free(v);
        return rs;
    }
    *ids = v;
    *n = len;
    return RAG_OK;
}

/* ---- row reading shared by both searches ---- */

static rag_status dim_mismatch(const char *space, int64_t chunk_id, int dim, int qdim,
                               rag_err *err)
{
    return rag_err_set(err, RAG_E_BAD_INPUT,
                       "space '%s': chunk %lld has a vector of dim %d, the query has dim %d",
                       space, (long long)chunk_id, dim, qdim);
}

/* Reads the current row of SQL_ROWS: *id, *dim, *doc and (when *dim is in range) the vector's
 * bytes. */
static rag_status read_row(sqlite3_stmt *st, const char *space, int64_t *id, int *dim,
                           int64_t *doc, const unsigned char **bytes, rag_err *err)
{
    *id = sqlite3_column_int64(st, 0);
    *dim = sqlite3_column_int(st, 1);
    *bytes = sqlite3_column_blob(st, 2);
    int nb = sqlite3_column_bytes(st, 2);
    *doc = sqlite3_column_int64(st, 3);
    if (*dim < 1 || *dim > RAG_DENSE_MAX_DIM || nb != *dim * 4 || !*bytes)
        return rag_err_set(err, RAG_E_STORE,
                           "space '%s': chunk %lld: corrupt vector (dim %d, %d bytes)", space,
                           (long long)*id, *dim, nb);
    return RAG_OK;
}

/* Decodes a stored vector into row[0..dim) and checks its values are finite. */
static rag_status decode_row(const char *space, int64_t id, const unsigned char *bytes, int dim,
                             float *row, rag_err *err)
{
    le_to_f32(bytes, dim, row);
    for (int i = 0; i < dim; i++)
        if (!isfinite(row[i]))
            return rag_err_set(err, RAG_E_STORE,
                               "space '%s': chunk %lld: corrupt vector (value %d is not finite)",
                               space, (long long)id, i);
    return RAG_OK;
}

/* Normalized copy of the query (caller frees with free()). */
static rag_status prepare_query(const char *space, const float *query, int dim, float **out,
                                rag_err *err)
{
    *out = NULL;
    if (dim < 1 || dim > RAG_DENSE_MAX_DIM)
        return normalize_vec(space, "query", query, dim, NULL, err);
    float *q = malloc((size_t)dim * sizeof *q);
    if (!q)
        return rag_err_set(err, RAG_E_NOMEM, "space '%s': query: out of memory", space);
    rag_status rs = normalize_vec(space, "query", query, dim, q, err);
    if (rs != RAG_OK) {
        free(q);
        return rs;
    }
    *out = q;
    return RAG_OK;
}

static rag_status search_streamed(rag_store *s, const char *space, const float *query, int dim,
                                  bool filtered, const int64_t *doc_ids, size_t n_doc_ids,
                                  size_t k, rag_dense_hit *hits, size_t *n_hits, rag_err *err)
{
    *n_hits = 0;
    rag_status rs = check_space(space, err);
    if (rs != RAG_OK)
        return rs;
    if (k > 0 && !hits)
        return rag_err_set(err, RAG_E_BAD_INPUT, "space '%s': hits is NULL", space);
    doc_filter f;
    if ((rs = filter_init(&f, space, filtered, doc_ids, n_doc_ids, err)) != RAG_OK)
        return rs;
    float *q = NULL, *row = NULL;
    if ((rs = prepare_query(space, query, dim, &q, err)) != RAG_OK) {
        filter_free(&f);
        return rs;
    }
    if (!(row = malloc((size_t)dim * sizeof *row))) {
        free(q);
        filter_free(&f);
        return rag_err_set(err, RAG_E_NOMEM, "space '%s': search: out of memory", space);
    }
    sqlite3_stmt *st;
    topk t = {hits, k, 0};
    if ((rs = rag_store_stmt(s, SQL_ROWS, &st, err)) == RAG_OK) {
        sqlite3_bind_text(st, 1, space, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t id, doc;
            int rdim;
            const unsigned char *bytes;
            if ((rs = read_row(st, space, &id, &rdim, &doc, &bytes, err)) != RAG_OK)
                break;
            if (rdim != dim) {
                rs = dim_mismatch(space, id, rdim, dim, err);
                break;
            }
            if (!filter_pass(&f, doc))
                continue;
            if ((rs = decode_row(space, id, bytes, dim, row, err)) != RAG_OK)
                break;
            topk_push(&t, id, doc, (double)dot_f32(row, q, (size_t)dim));
        }
        if (rs == RAG_OK && rc != SQLITE_DONE)
            rs = rag_store_sqlite_error(s, rc, "dense search", err);
        sqlite3_reset(st);
    }
    free(q);
    free(row);
    filter_free(&f);
    if (rs == RAG_OK)
        topk_finish(&t, n_hits);
    return rs;
}

rag_status rag_dense_search(rag_store *s, const char *space, const float *query, int dim,
                            size_t k, rag_dense_hit *hits, size_t *n_hits, rag_err *err)
{
    return search_streamed(s, space, query, dim, false, NULL, 0, k, hits, n_hits, err);
}

rag_status rag_dense_search_docs(rag_store *s, const char *space, const float *query, int dim,
                                 const int64_t *doc_ids, size_t n_doc_ids, size_t k,
                                 rag_dense_hit *hits, size_t *n_hits, rag_err *err)
{
    return search_streamed(s, space, query, dim, true, doc_ids, n_doc_ids, k, hits, n_hits, err);
}

/* ---- in-memory index ---- */

struct rag_dense_index {
    rag_store *store;   /* borrowed */
    char *space;        /* owned copy */
    rag_dense_precision precision;
    dot_i8_fn dot_i8;   /* int8 kernel chosen at open */
    const char *kernel; /* static name of the kernel */
    float *mat;         /* owned, F32: (n, dim) row-major, rows L2-normalized */
    int8_t *qmat;       /* owned, INT8: (n, dim) row-major quantized rows */
    float *scale;       /* owned, INT8: (n) row scales (row ~ scale * qrow) */
    int64_t *ids;       /* owned; ids[i] is the chunk of row i, ascending */
    int64_t *docs;      /* owned; docs[i] is the document of row i */
    float *tmp;         /* owned; one decoded row (dim floats) while loading INT8 */
    size_t n, cap;      /* rows loaded, rows allocated */
    int dim;            /* dim of every loaded row (that of the first row; 0 when n == 0) */
    int64_t odd_chunk;  /* a chunk whose dim differs from dim (not loaded), or -1 */
    int odd_dim;
    int64_t state_n, state_gen; /* dense_spaces (n, gen) read just before the last load */
    bool loaded;        /* the matrix reflects (state_n, state_gen) */
    bool provisional;   /* loaded inside a transaction: reload on the next search */
    uint64_t loads;
};

rag_dense_index_params rag_dense_index_default_params(void)
{
    rag_dense_index_params p;
    memset(&p, 0, sizeof p);
    p.precision = RAG_DENSE_F32;
    return p;
}

rag_status rag_dense_index_open(rag_store *s, const char *space, const rag_dense_index_params *p,
                                rag_dense_index **out, rag_err *err)
{
    *out = NULL;
    rag_dense_index_params dp = rag_dense_index_default_params();
    if (!p)
        p = &dp;
    rag_status rs = check_space(space, err);
    if (rs != RAG_OK)
        return rs;
    if (p->precision != RAG_DENSE_F32 && p->precision != RAG_DENSE_INT8)
        return rag_err_set(err, RAG_E_BAD_INPUT, "space '%s': index: unknown precision %d", space,
                           (int)p->precision);
    rag_dense_index *idx = calloc(1, sizeof *idx);
    if (!idx || !(idx->space = rag_strdup(space))) {
        free(idx);
        return rag_err_set(err, RAG_E_NOMEM, "space '%s': index: out of memory", space);
    }
    idx->store = s;
    idx->odd_chunk = -1;
    idx->precision = p->precision;
    idx->dot_i8 = dot_i8_portable;
    idx->kernel = p->precision == RAG_DENSE_F32 ? "f32" : "int8-portable";
#ifdef RAG_DENSE_HAVE_AVX2_KERNEL
    if (p->precision == RAG_DENSE_INT8 && !p->portable_kernel && __builtin_cpu_supports("avx2")) {
        idx->dot_i8 = dot_i8_avx2;
        idx->kernel = "int8-avx2";
    }
#endif
    *out = idx;
    return RAG_OK;
}

static void index_drop_rows(rag_dense_index *idx)
{
    free(idx->mat);
    free(idx->qmat);
    free(idx->scale);
    free(idx->ids);
    free(idx->docs);
    free(idx->tmp);
    idx->mat = NULL;
    idx->qmat = NULL;
    idx->scale = NULL;
    idx->ids = NULL;
    idx->docs = NULL;
    idx->tmp = NULL;
    idx->cap = 0;
}

void rag_dense_index_free(rag_dense_index *idx)
{
    if (!idx)
        return;
    index_drop_rows(idx);
    free(idx->space);
    free(idx);
}

size_t rag_dense_index_size(const rag_dense_index *idx)
{
    return idx->n;
}

uint64_t rag_dense_index_loads(const rag_dense_index *idx)
{
    return idx->loads;
}

size_t rag_dense_index_bytes(const rag_dense_index *idx)
{
    size_t per_row = idx->precision == RAG_DENSE_INT8 ? (size_t)idx->dim + sizeof(float)
                                                      : (size_t)idx->dim * sizeof(float);
    return idx->n * (per_row + 2 * sizeof(int64_t));
}

const char *rag_dense_index_space(const rag_dense_index *idx)
{
    return idx->space;
}

rag_dense_precision rag_dense_index_precision(const rag_dense_index *idx)
{
    return idx->precision;
}

const char *rag_dense_index_kernel(const rag_dense_index *idx)
{
    return idx->kernel;
}

static rag_status space_state(rag_dense_index *idx, int64_t *n, int64_t *gen, rag_err *err)
{
    *n = 0;
    *gen = 0;
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(idx->store, SQL_SPACE_STATE, &st, err);
    if (rs != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, idx->space, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
        *gen = sqlite3_column_int64(st, 1);
    } else if (rc != SQLITE_DONE) {
        rs = rag_store_sqlite_error(idx->store, rc, "dense space state", err);
    }
    sqlite3_reset(st);
    return rs;
}

/* Grows the row arrays to hold at least want rows of idx->dim values. */
static rag_status index_reserve(rag_dense_index *idx, size_t want, rag_err *err)
{
    if (want <= idx->cap)
        return RAG_OK;
    size_t cap = idx->cap ? idx->cap : 64;
    while (cap < want)
        cap *= 2;
    size_t dim = (size_t)idx->dim;
    if (cap > SIZE_MAX / sizeof(float) / dim)
        return rag_err_set(err, RAG_E_NOMEM, "space '%s': index of %zu vectors is too large",
                           idx->space, cap);
    bool ok = true;
    if (idx->precision == RAG_DENSE_F32) {
        float *mat = realloc(idx->mat, cap * dim * sizeof *mat);
        ok = ok && mat;
        idx->mat = mat ? mat : idx->mat;
    } else {
        int8_t *qmat = realloc(idx->qmat, cap * dim);
        ok = ok && qmat;
        idx->qmat = qmat ? qmat : idx->qmat;
        float *scale = realloc(idx->scale, cap * sizeof *scale);
        ok = ok && scale;
        idx->scale = scale ? scale : idx->scale;
        if (!idx->tmp) {
            idx->tmp = malloc(dim * sizeof *idx->tmp);
            ok = ok && idx->tmp;
        }
    }
    int64_t *ids = realloc(idx->ids, cap * sizeof *ids);
    ok = ok && ids;
    idx->ids = ids ? ids : idx->ids;
    int64_t *docs = realloc(idx->docs, cap * sizeof *docs);
    ok = ok && docs;
    idx->docs = docs ? docs : idx->docs;
    if (!ok)
        return rag_err_set(err, RAG_E_NOMEM, "space '%s': index of %zu vectors: out of memory",
                           idx->space, cap);
    idx->cap = cap;
    return RAG_OK;
}

/* Appends one stored row (bytes of idx->dim f32 values) in the index's precision. */
static rag_status index_append(rag_dense_index *idx, int64_t id, int64_t doc,
                               const unsigned char *bytes, rag_err *err)
{
    const size_t d = (size_t)idx->dim;
    float *row = idx->precision == RAG_DENSE_F32 ? idx->mat + idx->n * d : idx->tmp;
    rag_status rs = decode_row(idx->space, id, bytes, idx->dim, row, err);
    if (rs != RAG_OK)
        return rs;
    if (idx->precision == RAG_DENSE_INT8)
        quantize_i8(row, d, idx->qmat + idx->n * d, &idx->scale[idx->n]);
    idx->ids[idx->n] = id;
    idx->docs[idx->n] = doc;
    idx->n++;
    return RAG_OK;
}

static rag_status index_load(rag_dense_index *idx, int64_t state_n, int64_t state_gen,
                             rag_err *err)
{
    idx->loaded = false;
    idx->n = 0;
    idx->odd_chunk = -1;
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(idx->store, SQL_ROWS, &st, err);
    if (rs != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, idx->space, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id, doc;
        int rdim;
        const unsigned char *bytes;
        if ((rs = read_row(st, idx->space, &id, &rdim, &doc, &bytes, err)) != RAG_OK)
            break;
        if (idx->n == 0 && rdim != idx->dim) { /* first row sets the dim; drop the old arrays */
            index_drop_rows(idx);
            idx->dim = rdim;
        }
        if (rdim != idx->dim) {
            if (idx->odd_chunk < 0) {
                idx->odd_chunk = id;
                idx->odd_dim = rdim;
            }
            continue;
        }
        size_t hint = state_n > 0 ? (size_t)state_n : 0;
        if ((rs = index_reserve(idx, idx->n + 1 > hint ? idx->n + 1 : hint, err)) != RAG_OK)
            break;
        if ((rs = index_append(idx, id, doc, bytes, err)) != RAG_OK)
            break;
    }
    if (rs == RAG_OK && rc != SQLITE_DONE)
        rs = rag_store_sqlite_error(idx->store, rc, "dense index load", err);
    sqlite3_reset(st);
    if (rs != RAG_OK) {
        idx->n = 0;
        return rs;
    }
    if (idx->n == 0)
        idx->dim = 0;
    idx->state_n = state_n;
    idx->state_gen = state_gen;
    idx->loaded = true;
    idx->provisional = !sqlite3_get_autocommit(rag_store_db(idx->store));
    idx->loads++;
    return RAG_OK;
}

/* Scores every loaded row that passes f against the normalized query q. */
static rag_status index_scan(rag_dense_index *idx, const float *q, const doc_filter *f, topk *t,
                             rag_err *err)
{
    const size_t d = (size_t)idx->dim;
    if (idx->precision == RAG_DENSE_F32) {
        for (size_t i = 0; i < idx->n; i++)
            if (filter_pass(f, idx->docs[i]))
                topk_push(t, idx->ids[i], idx->docs[i], (double)dot_f32(idx->mat + i * d, q, d));
        return RAG_OK;
    }
    int8_t *qq = malloc(d);
    if (!qq)
        return rag_err_set(err, RAG_E_NOMEM, "space '%s': search: out of memory", idx->space);
    float qs;
    quantize_i8(q, d, qq, &qs);
    for (size_t i = 0; i < idx->n; i++)
        if (filter_pass(f, idx->docs[i])) {
            int32_t dot = idx->dot_i8(idx->qmat + i * d, qq, d);
            topk_push(t, idx->ids[i], idx->docs[i], (double)qs * (double)idx->scale[i] * dot);
        }
    free(qq);
    return RAG_OK;
}

static rag_status index_search(rag_dense_index *idx, const float *query, int dim, bool filtered,
                               const int64_t *doc_ids, size_t n_doc_ids, size_t k,
                               rag_dense_hit *hits, size_t *n_hits, rag_err *err)
{
    *n_hits = 0;
    if (k > 0 && !hits)
        return rag_err_set(err, RAG_E_BAD_INPUT, "space '%s': hits is NULL", idx->space);
    doc_filter f;
    rag_status rs = filter_init(&f, idx->space, filtered, doc_ids, n_doc_ids, err);
    if (rs != RAG_OK)
        return rs;
    float *q = NULL;
    if ((rs = prepare_query(idx->space, query, dim, &q, err)) != RAG_OK) {
        filter_free(&f);
        return rs;
    }
    /* State first, rows second: a change committed in between makes the state stale, never the
     * rows, so the next search reloads. */
    int64_t state_n, state_gen;
    rs = space_state(idx, &state_n, &state_gen, err);
    if (rs == RAG_OK && (!idx->loaded || idx->provisional || state_n != idx->state_n ||
                         state_gen != idx->state_gen))
        rs = index_load(idx, state_n, state_gen, err);
    if (rs == RAG_OK && idx->n > 0 && idx->dim != dim)
        rs = dim_mismatch(idx->space, idx->ids[0], idx->dim, dim, err);
    if (rs == RAG_OK && idx->odd_chunk >= 0)
        rs = dim_mismatch(idx->space, idx->odd_chunk, idx->odd_dim, dim, err);
    topk t = {hits, k, 0};
    if (rs == RAG_OK)
        rs = index_scan(idx, q, &f, &t, err);
    if (rs == RAG_OK)
        topk_finish(&t, n_hits);
    free(q);
    filter_free(&f);
    return rs;
}

rag_status rag_dense_index_search(rag_dense_index *idx, const float *query, int dim, size_t k,
                                  rag_dense_hit *hits, size_t *n_hits, rag_err *err)
{
    return index_search(idx, query, dim, false, NULL, 0, k, hits, n_hits, err);
}

rag_status rag_dense_index_search_docs(rag_dense_index *idx, const float *query, int dim,
                                       const int64_t *doc_ids, size_t n_doc_ids, size_t k,
                                       rag_dense_hit *hits, size_t *n_hits, rag_err *err)
{
    return index_search(idx, query, dim, true, doc_ids, n_doc_ids, k, hits, n_hits, err);
}
