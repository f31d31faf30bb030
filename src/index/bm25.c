/* BM25 over the store's SQLite tables (schema: src/store/store.c migration 1; blob formats:
 * bm25_internal.h). The index is log-structured so that the caller's one-chunk transactions stay
 * small (a term-major B-tree would dirty one page per distinct term per commit):
 *   add    -> one bm25_docs row holding the chunk's forward list, pending = 1;
 *   delete -> (trigger) a bm25_deleted tombstone if the chunk was merged;
 *   merge  -> folds pending chunks and tombstones into bm25_terms, one postings blob per term
 *             (automatic every BM25_MERGE_AT pending chunks or tombstones, or rag_bm25_merge).
 * Search reads the merged postings of each query term and overlays pending chunks (added) and
 * tombstones (removed from df, skipped when scoring), so scores are always exact. */
#include "ragc/bm25.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "index/bm25_internal.h"

/* Pending chunks or tombstones that trigger a merge from rag_bm25_add. Bounds the per-query
 * overlay scan; larger means fewer, bigger merges. */
#define BM25_MERGE_AT 1024

static const char SQL_DOC_INSERT[] =
    "INSERT INTO bm25_docs(chunk_id, len, n_terms, terms) VALUES(?1, ?2, ?3, ?4)";
static const char SQL_STATS[] =
    "SELECT n_docs, sum_len, n_postings, n_pending, n_deleted FROM bm25_stats WHERE id = 1";
static const char SQL_TERM_GET[] = "SELECT df, postings FROM bm25_terms WHERE term = ?1";
static const char SQL_TERM_PUT[] =
    "INSERT INTO bm25_terms(term, df, postings) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(term) DO UPDATE SET df = excluded.df, postings = excluded.postings";
static const char SQL_TERM_DELETE[] = "DELETE FROM bm25_terms WHERE term = ?1";
static const char SQL_PENDING[] =
    "SELECT chunk_id, len, terms FROM bm25_docs WHERE pending = 1 ORDER BY chunk_id";
static const char SQL_TOMBSTONES[] = "SELECT chunk_id, 0, terms FROM bm25_deleted";
static const char SQL_MARK_MERGED[] = "UPDATE bm25_docs SET pending = 0 WHERE pending = 1";
static const char SQL_CLEAR_TOMBSTONES[] = "DELETE FROM bm25_deleted";
static const char SQL_STATS_MERGED[] =
    "UPDATE bm25_stats SET n_pending = 0, n_deleted = 0 WHERE id = 1";
static const char SQL_DOC_CHUNKS[] = "SELECT id FROM chunks WHERE doc_id = ?1";
static const char SQL_BEGIN_READ[] = "BEGIN";
static const char SQL_END_READ[] = "COMMIT";

/* ---- Lucene SmallFloat (org.apache.lucene.util.SmallFloat), written from its definition ---- */

/* Float-like encoding of a non-negative integer keeping its 4 most significant bits:
 * values below 8 are stored as is; otherwise 3 mantissa bits (the leading 1 implied) and the
 * exponent (shift + 1) in the bits above. */
static uint32_t long_to_int4(uint64_t v)
{
    int bits = v ? 64 - __builtin_clzll(v) : 0;
    if (bits < 4)
        return (uint32_t)v;
    int shift = bits - 4;
    return (uint32_t)((v >> shift) & 0x07) | (uint32_t)(shift + 1) << 3;
}

static uint64_t int4_to_long(uint32_t e)
{
    uint64_t mantissa = e & 0x07;
    int shift = (int)(e >> 3) - 1;
    return shift < 0 ? mantissa : (mantissa | 0x08) << shift;
}

/* Lengths below this are encoded exactly: 255 - long_to_int4(INT32_MAX) = 24. */
#define NUM_FREE_VALUES 24u

uint8_t rag_bm25_int_to_byte4(uint32_t len)
{
    if (len > (uint32_t)INT32_MAX)
        len = (uint32_t)INT32_MAX;
    if (len < NUM_FREE_VALUES)
        return (uint8_t)len;
    return (uint8_t)(NUM_FREE_VALUES + long_to_int4(len - NUM_FREE_VALUES));
}

uint32_t rag_bm25_byte4_to_int(uint8_t b)
{
    if (b < NUM_FREE_VALUES)
        return b;
    return (uint32_t)(NUM_FREE_VALUES + int4_to_long(b - NUM_FREE_VALUES));
}

uint32_t rag_bm25_quantize_length(uint32_t len)
{
    return rag_bm25_byte4_to_int(rag_bm25_int_to_byte4(len));
}

rag_bm25_params rag_bm25_default_params(void)
{
    rag_bm25_params p;
    memset(&p, 0, sizeof p);
    p.k1 = 0.9;
    p.b = 0.4;
    p.lucene_length_quantization = true;
    return p;
}

/* ---- small SQL helpers ---- */

typedef struct bm25_counts {
    int64_t n_docs, sum_len, n_postings, n_pending, n_deleted;
} bm25_counts;

static rag_status read_counts(rag_store *s, bm25_counts *c, rag_err *err)
{
    memset(c, 0, sizeof *c);
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(s, SQL_STATS, &st, err);
    if (rs != RAG_OK)
        return rs;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        c->n_docs = sqlite3_column_int64(st, 0);
        c->sum_len = sqlite3_column_int64(st, 1);
        c->n_postings = sqlite3_column_int64(st, 2);
        c->n_pending = sqlite3_column_int64(st, 3);
        c->n_deleted = sqlite3_column_int64(st, 4);
    } else {
        rs = rc == SQLITE_DONE
                 ? rag_err_set(err, RAG_E_STORE, "%s: bm25_stats row missing", rag_store_path(s))
                 : rag_store_sqlite_error(s, rc, "bm25 stats", err);
    }
    sqlite3_reset(st);
    return rs;
}

/* Search reads several statements; outside a caller's transaction they run in one read
 * transaction so a concurrent writer (another connection) cannot be seen half-way. */
static bool begin_read(rag_store *s)
{
    if (!sqlite3_get_autocommit(rag_store_db(s)))
        return false;
    return rag_store_exec(s, SQL_BEGIN_READ, "bm25 read", NULL) == RAG_OK;
}

static void end_read(rag_store *s, bool began)
{
    if (began && !sqlite3_get_autocommit(rag_store_db(s)))
        rag_store_exec(s, SQL_END_READ, "bm25 read", NULL);
}

static rag_status corrupt(rag_store *s, const char *what, rag_err *err)
{
    return rag_err_set(err, RAG_E_STORE, "%s: bm25 index corrupt: %s", rag_store_path(s), what);
}

/* ---- add ---- */

static rag_status check_term(const rag_bm25_term *t, size_t i, int64_t chunk_id, rag_err *err)
{
    if (!t->term)
        return rag_err_set(err, RAG_E_BAD_INPUT, "bm25 add: chunk %lld: term %zu is NULL",
                           (long long)chunk_id, i);
    size_t n = strlen(t->term);
    if (n == 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "bm25 add: chunk %lld: term %zu is empty",
                           (long long)chunk_id, i);
    if (n > RAG_BM25_MAX_TERM_BYTES)
        return rag_err_set(err, RAG_E_TOO_LARGE,
                           "bm25 add: chunk %lld: term %zu is %zu bytes (cap %u)",
                           (long long)chunk_id, i, n, RAG_BM25_MAX_TERM_BYTES);
    size_t bad;
    if (!rag_utf8_valid(t->term, n, &bad))
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "bm25 add: chunk %lld: term %zu: invalid UTF-8 at byte %zu",
                           (long long)chunk_id, i, bad);
    if (t->tf == 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "bm25 add: chunk %lld: term '%s' has tf 0",
                           (long long)chunk_id, t->term);
    return RAG_OK;
}

static int cmp_term_ptr(const void *a, const void *b)
{
    return strcmp((*(const rag_bm25_term *const *)a)->term,
                  (*(const rag_bm25_term *const *)b)->term);
}

/* Validates the chunk's terms and encodes its forward list into *out. */
static rag_status encode_forward(int64_t chunk_id, const rag_bm25_term *terms, size_t n,
                                 bytes *out, rag_err *err)
{
    for (size_t i = 0; i < n; i++) {
        rag_status rs = check_term(&terms[i], i, chunk_id, err);
        if (rs != RAG_OK)
            return rs;
    }
    const rag_bm25_term **sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return rag_err_set(err, RAG_E_NOMEM, "bm25 add: out of memory");
    for (size_t i = 0; i < n; i++)
        sorted[i] = &terms[i];
    qsort(sorted, n, sizeof *sorted, cmp_term_ptr);
    rag_status rs = RAG_OK;
    bool ok = bytes_put_varint(out, n);
    for (size_t i = 0; ok && i < n; i++) {
        if (i > 0 && strcmp(sorted[i - 1]->term, sorted[i]->term) == 0) {
            rs = rag_err_set(err, RAG_E_BAD_INPUT,
                             "bm25 add: chunk %lld: term '%s' given more than once",
                             (long long)chunk_id, sorted[i]->term);
            break;
        }
        size_t len = strlen(sorted[i]->term);
        ok = bytes_put_varint(out, len) && bytes_put(out, sorted[i]->term, len) &&
             bytes_put_varint(out, sorted[i]->tf);
    }
    free(sorted);
    if (rs == RAG_OK && !ok)
        rs = rag_err_set(err, RAG_E_NOMEM, "bm25 add: out of memory");
    return rs;
}

rag_status rag_bm25_add(rag_store *s, int64_t chunk_id, const rag_bm25_term *terms,
                        size_t n_terms, uint32_t doc_len, rag_err *err)
{
    if (n_terms == 0)
        return RAG_OK;
    if (!terms)
        return rag_err_set(err, RAG_E_BAD_INPUT, "bm25 add: chunk %lld: terms is NULL",
                           (long long)chunk_id);
    if (chunk_id <= 0)
        return rag_err_set(err, RAG_E_NOT_FOUND, "bm25 add: chunk id %lld not in store",
                           (long long)chunk_id);
    bytes fwd = {0};
    rag_status rs = encode_forward(chunk_id, terms, n_terms, &fwd, err);
    if (rs != RAG_OK) {
        bytes_free(&fwd);
        return rs;
    }
    if (fwd.n > (size_t)INT32_MAX / 2) {
        bytes_free(&fwd);
        return rag_err_set(err, RAG_E_TOO_LARGE, "bm25 add: chunk %lld: %zu terms is too many",
                           (long long)chunk_id, n_terms);
    }
    sqlite3_stmt *st;
    if ((rs = rag_store_stmt(s, SQL_DOC_INSERT, &st, err)) != RAG_OK) {
        bytes_free(&fwd);
        return rs;
    }
    sqlite3_bind_int64(st, 1, chunk_id);
    sqlite3_bind_int64(st, 2, doc_len);
    sqlite3_bind_int64(st, 3, (int64_t)n_terms);
    sqlite3_bind_blob(st, 4, fwd.p, (int)fwd.n, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    bytes_free(&fwd);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return rag_err_set(err, RAG_E_NOT_FOUND, "bm25 add: chunk id %lld not in store",
                           (long long)chunk_id);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return rag_err_set(err, RAG_E_BAD_INPUT, "bm25 add: chunk id %lld is already indexed",
                           (long long)chunk_id);
    if (rc != SQLITE_DONE)
        return rag_store_sqlite_error(s, rc, "bm25 add", err);

    bm25_counts c;
    if ((rs = read_counts(s, &c, err)) != RAG_OK)
        return rs;
    if (c.n_pending >= BM25_MERGE_AT || c.n_deleted >= BM25_MERGE_AT)
        rs = rag_bm25_merge(s, err);
    return rs;
}

/* ---- merge ---- */

/* One change to a term's postings: a pending chunk to add, or a tombstoned chunk to remove. */
typedef struct change {
    const uint8_t *term; /* borrowed from a blob copy in the merge's arena */
    uint32_t term_len;
    uint32_t tf, len;    /* additions only */
    int64_t chunk_id;
    int remove;          /* 1 = tombstone */
} change;

typedef struct merge_ctx {
    rag_store *s;
    change *ch;
    size_t n_ch, cap_ch;
    uint8_t **arena; /* owned blob copies that ch[].term points into */
    size_t n_arena, cap_arena;
    bytes out;       /* encoded postings of the term being merged */
} merge_ctx;

static void merge_ctx_free(merge_ctx *m)
{
    for (size_t i = 0; i < m->n_arena; i++)
        free(m->arena[i]);
    free(m->arena);
    free(m->ch);
    bytes_free(&m->out);
}

static int cmp_change(const void *pa, const void *pb)
{
    const change *a = pa, *b = pb;
    int c = term_cmp(a->term, a->term_len, b->term, b->term_len);
    if (c)
        return c;
    if (a->remove != b->remove)
        return b->remove - a->remove; /* removals first */
    return a->chunk_id < b->chunk_id ? -1 : a->chunk_id > b->chunk_id;
}

/* Loads every row of sql (chunk_id, len, forward list) as changes. */
static rag_status load_changes(merge_ctx *m, const char *sql, int remove, rag_err *err)
{
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(m->s, sql, &st, err);
    if (rs != RAG_OK)
        return rs;
    int rc;
    while (rs == RAG_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t chunk_id = sqlite3_column_int64(st, 0);
        int64_t len = sqlite3_column_int64(st, 1);
        const void *blob = sqlite3_column_blob(st, 2);
        size_t n = (size_t)sqlite3_column_bytes(st, 2);
        if (m->n_arena == m->cap_arena) {
            size_t cap = m->cap_arena ? m->cap_arena * 2 : 256;
            uint8_t **a = realloc(m->arena, cap * sizeof *a);
            if (!a) {
                rs = rag_err_set(err, RAG_E_NOMEM, "bm25 merge: out of memory");
                break;
            }
            m->arena = a;
            m->cap_arena = cap;
        }
        uint8_t *copy = malloc(n ? n : 1);
        if (!copy) {
            rs = rag_err_set(err, RAG_E_NOMEM, "bm25 merge: out of memory");
            break;
        }
        if (n)
            memcpy(copy, blob, n);
        m->arena[m->n_arena++] = copy;
        fwd_iter it;
        int r = fwd_begin(&it, copy, n) ? 1 : -1;
        while (r > 0 && (r = fwd_next(&it)) > 0) {
            if (m->n_ch == m->cap_ch) {
                size_t cap = m->cap_ch ? m->cap_ch * 2 : 4096;
                change *c = realloc(m->ch, cap * sizeof *c);
                if (!c) {
                    rs = rag_err_set(err, RAG_E_NOMEM, "bm25 merge: out of memory");
                    break;
                }
                m->ch = c;
                m->cap_ch = cap;
            }
            m->ch[m->n_ch++] = (change){it.term, it.term_len, it.tf,
                                        len < 0 ? 0 : len > UINT32_MAX ? UINT32_MAX : (uint32_t)len,
                                        chunk_id, remove};
        }
        if (rs == RAG_OK && r < 0)
            rs = corrupt(m->s, "forward list", err);
    }
    if (rs == RAG_OK && rc != SQLITE_DONE)
        rs = rag_store_sqlite_error(m->s, rc, "bm25 merge", err);
    sqlite3_reset(st);
    return rs;
}

static bool emit(bytes *out, int64_t *prev, int64_t chunk_id, uint32_t tf, uint32_t len)
{
    bool ok = bytes_put_varint(out, (uint64_t)(chunk_id - *prev)) && bytes_put_varint(out, tf) &&
              bytes_put_varint(out, len);
    *prev = chunk_id;
    return ok;
}

/* Applies changes g[0..n) (one term: removals then additions, each by chunk id) to the term's
 * postings and writes the result back. */
static rag_status merge_term(merge_ctx *m, const change *g, size_t n, rag_err *err)
{
    size_t n_rem = 0;
    while (n_rem < n && g[n_rem].remove)
        n_rem++;
    const change *rem = g, *add = g + n_rem;
    size_t n_add = n - n_rem, r = 0, a = 0;
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(m->s, SQL_TERM_GET, &st, err);
    if (rs != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, (const char *)g->term, (int)g->term_len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    post_iter it;
    if (rc == SQLITE_ROW)
        post_begin(&it, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
                   sqlite3_column_int64(st, 0));
    else
        post_begin(&it, NULL, 0, 0);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rs = rag_store_sqlite_error(m->s, rc, "bm25 merge", err);
        sqlite3_reset(st);
        return rs;
    }
    m->out.n = 0;
    int64_t prev = 0, df = 0;
    bool ok = true;
    int p = 0;
    while (ok && (p = post_next(&it)) > 0) {
        while (ok && a < n_add && add[a].chunk_id < it.chunk_id) {
            ok = emit(&m->out, &prev, add[a].chunk_id, add[a].tf, add[a].len);
            a++, df++;
        }
        if (r < n_rem && rem[r].chunk_id == it.chunk_id) {
            r++;
            continue;
        }
        if ((r < n_rem && rem[r].chunk_id < it.chunk_id) ||
            (a < n_add && add[a].chunk_id == it.chunk_id)) {
            p = -2; /* a tombstone without posting, or a chunk indexed twice */
            break;
        }
        ok = ok && emit(&m->out, &prev, it.chunk_id, it.tf, it.len);
        df++;
    }
    sqlite3_reset(st);
    for (; ok && a < n_add; a++, df++)
        ok = emit(&m->out, &prev, add[a].chunk_id, add[a].tf, add[a].len);
    if (!ok)
        return rag_err_set(err, RAG_E_NOMEM, "bm25 merge: out of memory");
    if (m->out.n > (size_t)INT32_MAX)
        return rag_err_set(err, RAG_E_TOO_LARGE, "bm25 merge: postings of term '%.*s' exceed "
                           "2 GB", (int)g->term_len, (const char *)g->term);
    if (p < 0 || r < n_rem)
        return corrupt(m->s, p == -1 ? "postings blob" : "postings disagree with bm25_docs",
                       err);

    if ((rs = rag_store_stmt(m->s, df ? SQL_TERM_PUT : SQL_TERM_DELETE, &st, err)) != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, (const char *)g->term, (int)g->term_len, SQLITE_STATIC);
    if (df) {
        sqlite3_bind_int64(st, 2, df);
        sqlite3_bind_blob(st, 3, m->out.p, (int)m->out.n, SQLITE_STATIC);
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        rs = rag_store_sqlite_error(m->s, rc, "bm25 merge write", err);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rs;
}

static rag_status merge_all(merge_ctx *m, rag_err *err)
{
    rag_status rs = load_changes(m, SQL_TOMBSTONES, 1, err);
    if (rs == RAG_OK)
        rs = load_changes(m, SQL_PENDING, 0, err);
    if (rs != RAG_OK)
        return rs;
    qsort(m->ch, m->n_ch, sizeof *m->ch, cmp_change);
    for (size_t i = 0; i < m->n_ch && rs == RAG_OK;) {
        size_t j = i + 1;
        while (j < m->n_ch && term_cmp(m->ch[i].term, m->ch[i].term_len, m->ch[j].term,
                                       m->ch[j].term_len) == 0)
            j++;
        rs = merge_term(m, &m->ch[i], j - i, err);
        i = j;
    }
    if (rs == RAG_OK)
        rs = rag_store_exec(m->s, SQL_MARK_MERGED, "bm25 merge", err);
    if (rs == RAG_OK)
        rs = rag_store_exec(m->s, SQL_CLEAR_TOMBSTONES, "bm25 merge", err);
    if (rs == RAG_OK)
        rs = rag_store_exec(m->s, SQL_STATS_MERGED, "bm25 merge", err);
    return rs;
}

rag_status rag_bm25_merge(rag_store *s, rag_err *err)
{
    bm25_counts c;
    rag_status rs = read_counts(s, &c, err);
    if (rs != RAG_OK || (c.n_pending == 0 && c.n_deleted == 0))
        return rs;
    if ((rs = rag_store_savepoint(s, err)) != RAG_OK)
        return rs;
    merge_ctx m;
    memset(&m, 0, sizeof m);
    m.s = s;
    rs = merge_all(&m, err);
    merge_ctx_free(&m);
    return rag_store_savepoint_end(s, rs);
}

/* ---- top-k ---- */

/* True if a ranks below b: lower score, or equal score and larger chunk id. */
static bool hit_worse(const rag_bm25_hit *a, const rag_bm25_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->chunk_id > b->chunk_id);
}

/* Min-heap on rank: h[0] is the worst kept hit. */
static void heap_sift_down(rag_bm25_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && hit_worse(&h[l], &h[w]))
            w = l;
        if (r < n && hit_worse(&h[r], &h[w]))
            w = r;
        if (w == i)
            return;
        rag_bm25_hit t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void heap_sift_up(rag_bm25_hit *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!hit_worse(&h[i], &h[parent]))
            return;
        rag_bm25_hit t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

static int hit_cmp_best_first(const void *pa, const void *pb)
{
    const rag_bm25_hit *a = pa, *b = pb;
    return hit_worse(a, b) ? 1 : hit_worse(b, a) ? -1 : 0;
}

/* Selects the best k entries of acc into hits[0..*n_hits), sorted best first. */
static void select_top_k(const id_map *acc, size_t k, rag_bm25_hit *hits, size_t *n_hits)
{
    size_t n = 0;
    for (size_t i = 0; i < acc->cap && k > 0; i++) {
        if (acc->keys[i] == ID_MAP_EMPTY)
            continue;
        rag_bm25_hit c = {acc->keys[i], acc->vals[i]};
        if (n < k) {
            hits[n] = c;
            heap_sift_up(hits, n++);
        } else if (hit_worse(&hits[0], &c)) {
            hits[0] = c;
            heap_sift_down(hits, n, 0);
        }
    }
    qsort(hits, n, sizeof *hits, hit_cmp_best_first);
    *n_hits = n;
}

/* ---- search ---- */

typedef struct qterm {
    const char *term; /* borrowed from the caller */
    size_t len;
    unsigned count;   /* occurrences in the query */
    int64_t df;       /* merged df + pending - tombstoned */
    double weight;    /* count * idf */
} qterm;

/* A pending chunk's posting for query term j. */
typedef struct pmatch {
    size_t j;
    int64_t chunk_id;
    uint32_t tf, len;
} pmatch;

typedef struct search_ctx {
    rag_store *s;
    const rag_bm25_params *p;
    bm25_counts counts;
    double avgdl;
    double norm_cache[256]; /* k1 * (1 - b + b * byte4ToInt(i) / avgdl) */
    qterm *q;               /* unique query terms in strcmp order; owned */
    size_t n_q;
    id_map filter;          /* chunk ids allowed; keys NULL = no filter */
    id_map dead;            /* tombstoned chunk ids (merged postings to skip) */
    pmatch *pm;             /* owned */
    size_t n_pm, cap_pm;
    id_map acc;             /* chunk id -> score */
} search_ctx;

static void search_ctx_free(search_ctx *c)
{
    free(c->q);
    free(c->pm);
    id_map_free(&c->filter);
    id_map_free(&c->dead);
    id_map_free(&c->acc);
}

static int cmp_qterm(const void *a, const void *b)
{
    return strcmp(((const qterm *)a)->term, ((const qterm *)b)->term);
}

/* Unique query terms with counts, sorted. */
static rag_status bag_of_terms(search_ctx *c, const char *const *terms, size_t n, rag_err *err)
{
    c->q = malloc(n * sizeof *c->q);
    if (!c->q)
        return rag_err_set(err, RAG_E_NOMEM, "bm25 search: out of memory");
    for (size_t i = 0; i < n; i++)
        c->q[i] = (qterm){terms[i], strlen(terms[i]), 1, 0, 0};
    qsort(c->q, n, sizeof *c->q, cmp_qterm);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && strcmp(c->q[m - 1].term, c->q[i].term) == 0)
            c->q[m - 1].count++;
        else
            c->q[m++] = c->q[i];
    }
    c->n_q = m;
    return RAG_OK;
}

static rag_status build_filter(search_ctx *c, rag_err *err)
{
    if (!id_map_init(&c->filter, 64, false))
        return rag_err_set(err, RAG_E_NOMEM, "bm25 search: filter: out of memory");
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(c->s, SQL_DOC_CHUNKS, &st, err);
    for (size_t i = 0; rs == RAG_OK && i < c->p->n_doc_ids; i++) {
        sqlite3_bind_int64(st, 1, c->p->doc_ids[i]);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (id_map_upsert(&c->filter, sqlite3_column_int64(st, 0)) == SIZE_MAX) {
                rs = rag_err_set(err, RAG_E_NOMEM, "bm25 search: filter: out of memory");
                break;
            }
        }
        if (rs == RAG_OK && rc != SQLITE_DONE)
            rs = rag_store_sqlite_error(c->s, rc, "bm25 search filter", err);
        sqlite3_reset(st);
    }
    return rs;
}

static bool push_match(search_ctx *c, size_t j, int64_t chunk_id, uint32_t tf, int64_t len)
{
    if (c->n_pm == c->cap_pm) {
        size_t cap = c->cap_pm ? c->cap_pm * 2 : 256;
        pmatch *p = realloc(c->pm, cap * sizeof *p);
        if (!p)
            return false;
        c->pm = p;
        c->cap_pm = cap;
    }
    c->pm[c->n_pm++] = (pmatch){j, chunk_id, tf,
                                len < 0 ? 0 : len > UINT32_MAX ? UINT32_MAX : (uint32_t)len};
    return true;
}

/* Overlays pending chunks (pending = true: df + 1, postings recorded) or tombstones (df - 1,
 * chunk id marked dead) onto the query terms, by merge-joining each forward list with c->q. */
static rag_status overlay(search_ctx *c, bool pending, rag_err *err)
{
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(c->s, pending ? SQL_PENDING : SQL_TOMBSTONES, &st, err);
    if (rs != RAG_OK)
        return rs;
    int rc;
    while (rs == RAG_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t chunk_id = sqlite3_column_int64(st, 0);
        int64_t len = sqlite3_column_int64(st, 1);
        fwd_iter it;
        if (!fwd_begin(&it, sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2))) {
            rs = corrupt(c->s, "forward list", err);
            break;
        }
        if (!pending && id_map_upsert(&c->dead, chunk_id) == SIZE_MAX) {
            rs = rag_err_set(err, RAG_E_NOMEM, "bm25 search: out of memory");
            break;
        }
        size_t j = 0;
        int r = 0;
        while (j < c->n_q && (r = fwd_next(&it)) > 0) {
            int cmp = -1;
            while (j < c->n_q && (cmp = term_cmp((const uint8_t *)c->q[j].term, c->q[j].len,
                                                 it.term, it.term_len)) < 0)
                j++;
            if (j == c->n_q || cmp != 0)
                continue;
            if (!pending) {
                c->q[j].df--;
            } else {
                c->q[j].df++;
                if (!push_match(c, j, chunk_id, it.tf, len)) {
                    rs = rag_err_set(err, RAG_E_NOMEM, "bm25 search: out of memory");
                    break;
                }
            }
        }
        if (rs == RAG_OK && j < c->n_q && r < 0)
            rs = corrupt(c->s, "forward list", err);
    }
    if (rs == RAG_OK && rc != SQLITE_DONE)
        rs = rag_store_sqlite_error(c->s, rc, "bm25 search", err);
    sqlite3_reset(st);
    return rs;
}

static double idf(double n_docs, int64_t df)
{
    double d = (double)df;
    return log(1.0 + (n_docs - d + 0.5) / (d + 0.5));
}

static double norm(const search_ctx *c, uint32_t len)
{
    if (c->p->lucene_length_quantization)
        return c->norm_cache[rag_bm25_int_to_byte4(len)];
    return c->p->k1 * (1.0 - c->p->b + c->p->b * (double)len / c->avgdl);
}

static rag_status add_score(search_ctx *c, int64_t chunk_id, double weight, uint32_t tf,
                            uint32_t len, rag_err *err)
{
    if (c->filter.keys && !id_map_has(&c->filter, chunk_id))
        return RAG_OK;
    size_t slot = id_map_upsert(&c->acc, chunk_id);
    if (slot == SIZE_MAX)
        return rag_err_set(err, RAG_E_NOMEM, "bm25 search: out of memory");
    double t = tf;
    c->acc.vals[slot] += weight * t / (t + norm(c, len));
    return RAG_OK;
}

/* Scores query term j's merged postings (df already holds the overlay corrections). */
static rag_status score_merged(search_ctx *c, size_t j, rag_err *err)
{
    qterm *qt = &c->q[j];
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(c->s, SQL_TERM_GET, &st, err);
    if (rs != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, qt->term, (int)qt->len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        qt->weight = qt->count * idf((double)c->counts.n_docs, qt->df);
        return RAG_OK;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rag_store_sqlite_error(c->s, rc, "bm25 search", err);
    }
    int64_t merged_df = sqlite3_column_int64(st, 0);
    qt->df += merged_df;
    qt->weight = qt->count * idf((double)c->counts.n_docs, qt->df);
    post_iter it;
    post_begin(&it, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), merged_df);
    int r = 0;
    bool check_dead = c->dead.n > 0;
    while (rs == RAG_OK && (r = post_next(&it)) > 0) {
        if (check_dead && id_map_has(&c->dead, it.chunk_id))
            continue;
        rs = add_score(c, it.chunk_id, qt->weight, it.tf, it.len, err);
    }
    if (rs == RAG_OK && r < 0)
        rs = corrupt(c->s, "postings blob", err);
    sqlite3_reset(st);
    return rs;
}

static rag_status check_search_args(const rag_bm25_params *p, const char *const *terms, size_t n,
                                    size_t k, const rag_bm25_hit *hits, rag_err *err)
{
    if (!isfinite(p->k1) || p->k1 < 0)
        return rag_err_set(err, RAG_E_CONFIG, "bm25 k1 %g: must be finite and >= 0", p->k1);
    if (!(p->b >= 0 && p->b <= 1))
        return rag_err_set(err, RAG_E_CONFIG, "bm25 b %g: must be within [0, 1]", p->b);
    if (n > RAG_BM25_MAX_QUERY_TERMS)
        return rag_err_set(err, RAG_E_TOO_LARGE, "bm25 query: %zu terms exceeds the cap of %u", n,
                           RAG_BM25_MAX_QUERY_TERMS);
    if (n > 0 && !terms)
        return rag_err_set(err, RAG_E_BAD_INPUT, "bm25 query: terms is NULL");
    for (size_t i = 0; i < n; i++)
        if (!terms[i])
            return rag_err_set(err, RAG_E_BAD_INPUT, "bm25 query: term %zu is NULL", i);
    if (k > 0 && !hits)
        return rag_err_set(err, RAG_E_BAD_INPUT, "bm25 search: hits is NULL with k %zu", k);
    if (p->n_doc_ids > 0 && !p->doc_ids)
        return rag_err_set(err, RAG_E_BAD_INPUT, "bm25 search: doc_ids is NULL with %zu ids",
                           p->n_doc_ids);
    return RAG_OK;
}

/* Fills c->q (with df) and c->dead / c->pm from the overlays. */
static rag_status prepare_terms(search_ctx *c, const char *const *terms, size_t n, rag_err *err)
{
    rag_status rs = read_counts(c->s, &c->counts, err);
    if (rs == RAG_OK)
        rs = bag_of_terms(c, terms, n, err);
    if (rs == RAG_OK && c->counts.n_deleted > 0) {
        if (!id_map_init(&c->dead, (size_t)c->counts.n_deleted, false))
            return rag_err_set(err, RAG_E_NOMEM, "bm25 search: out of memory");
        rs = overlay(c, false, err);
    }
    if (rs == RAG_OK && c->counts.n_pending > 0)
        rs = overlay(c, true, err);
    return rs;
}

rag_status rag_bm25_search(rag_store *s, const rag_bm25_params *p,
                           const char *const *query_terms, size_t n_query_terms, size_t k,
                           rag_bm25_hit *hits, size_t *n_hits, rag_err *err)
{
    if (!n_hits)
        return rag_err_set(err, RAG_E_BAD_INPUT, "bm25 search: n_hits is NULL");
    *n_hits = 0;
    rag_bm25_params prm = p ? *p : rag_bm25_default_params();
    rag_status rs = check_search_args(&prm, query_terms, n_query_terms, k, hits, err);
    if (rs != RAG_OK || k == 0 || n_query_terms == 0)
        return rs;

    search_ctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.p = &prm;
    bool began = begin_read(s);
    if ((rs = prepare_terms(&c, query_terms, n_query_terms, err)) != RAG_OK ||
        c.counts.n_docs <= 0)
        goto done;
    /* Lucene: avgdl = sumTotalTermFreq / docCount; guard the all-zero-length case. */
    c.avgdl = c.counts.sum_len > 0 ? (double)c.counts.sum_len / (double)c.counts.n_docs : 1.0;
    for (int i = 0; i < 256; i++)
        c.norm_cache[i] = prm.k1 * (1.0 - prm.b + prm.b * (double)rag_bm25_byte4_to_int(
                                                               (uint8_t)i) / c.avgdl);
    if (prm.n_doc_ids > 0 && (rs = build_filter(&c, err)) != RAG_OK)
        goto done;
    if (!id_map_init(&c.acc, 1024, true)) {
        rs = rag_err_set(err, RAG_E_NOMEM, "bm25 search: out of memory");
        goto done;
    }
    for (size_t j = 0; j < c.n_q && rs == RAG_OK; j++)
        rs = score_merged(&c, j, err);
    for (size_t i = 0; i < c.n_pm && rs == RAG_OK; i++) {
        const pmatch *m = &c.pm[i];
        rs = add_score(&c, m->chunk_id, c.q[m->j].weight, m->tf, m->len, err);
    }
    if (rs == RAG_OK)
        select_top_k(&c.acc, k, hits, n_hits);
done:
    end_read(s, began);
    search_ctx_free(&c);
    return rs;
}

/* ---- introspection ---- */

rag_status rag_bm25_get_stats(rag_store *s, rag_bm25_stats *out, rag_err *err)
{
    memset(out, 0, sizeof *out);
    bm25_counts c;
    rag_status rs = read_counts(s, &c, err);
    if (rs == RAG_OK) {
        out->n_docs = c.n_docs;
        out->sum_len = c.sum_len;
        out->n_postings = c.n_postings;
        out->n_pending = c.n_pending;
        out->n_deleted = c.n_deleted;
    }
    return rs;
}

rag_status rag_bm25_df(rag_store *s, const char *term, int64_t *df, rag_err *err)
{
    *df = 0;
    if (!term)
        return rag_err_set(err, RAG_E_BAD_INPUT, "bm25 df: term is NULL");
    search_ctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    bool began = begin_read(s);
    rag_status rs = prepare_terms(&c, &term, 1, err);
    sqlite3_stmt *st = NULL;
    if (rs == RAG_OK)
        rs = rag_store_stmt(s, SQL_TERM_GET, &st, err);
    if (rs == RAG_OK) {
        sqlite3_bind_text(st, 1, term, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            c.q[0].df += sqlite3_column_int64(st, 0);
        else if (rc != SQLITE_DONE)
            rs = rag_store_sqlite_error(s, rc, "bm25 df", err);
        sqlite3_reset(st);
        *df = c.q[0].df;
    }
    end_read(s, began);
    search_ctx_free(&c);
    return rs;
}
