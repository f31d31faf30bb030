/* Rank fusion of a BM25 and a dense ranking (RRF and min-max weighted). */
#include "ragc/fusion.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

/* One input entry: list 0 = bm25, 1 = dense; rank 1-based. */
typedef struct entry {
    int64_t id;
    int list, rank;
    double score;
} entry;

/* One distinct id with its best entry per list. */
typedef struct merged {
    rag_fused f;
    double raw[2]; /* score of the kept entry per list (weighted fusion) */
} merged;

static int entry_cmp(const void *pa, const void *pb)
{
    const entry *a = pa, *b = pb;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    if (a->list != b->list)
        return a->list - b->list;
    return a->rank - b->rank;
}

static int best_rank(const rag_fused *f)
{
    if (f->bm25_rank == 0)
        return f->dense_rank;
    if (f->dense_rank == 0)
        return f->bm25_rank;
    return f->bm25_rank < f->dense_rank ? f->bm25_rank : f->dense_rank;
}

static int merged_cmp(const void *pa, const void *pb)
{
    const rag_fused *a = &((const merged *)pa)->f, *b = &((const merged *)pb)->f;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    int ra = best_rank(a), rb = best_rank(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    return (a->chunk_id > b->chunk_id) - (a->chunk_id < b->chunk_id);
}

static rag_status check_args(const int64_t *b_ids, size_t n_b, const int64_t *d_ids, size_t n_d,
                             const rag_fused *out, size_t cap, const size_t *n_out)
{
    if (!n_out || (cap > 0 && !out) || (n_b > 0 && !b_ids) || (n_d > 0 && !d_ids))
        return RAG_E_BAD_INPUT;
    if (n_b > (size_t)INT_MAX || n_d > (size_t)INT_MAX)
        return RAG_E_BAD_INPUT;
    return RAG_OK;
}

/* Groups the two lists by id into *m_out (caller frees with free()), *n_m distinct ids, with
 * ranks and kept raw scores (scores may be NULL). Scores are left 0. */
static rag_status merge_lists(const int64_t *b_ids, const double *b_sc, size_t n_b,
                              const int64_t *d_ids, const double *d_sc, size_t n_d,
                              merged **m_out, size_t *n_m)
{
    *m_out = NULL;
    *n_m = 0;
    size_t n = n_b + n_d;
    if (n == 0)
        return RAG_OK;
    entry *e = malloc(n * sizeof *e);
    merged *m = malloc(n * sizeof *m);
    if (!e || !m) {
        free(e);
        free(m);
        return RAG_E_NOMEM;
    }
    for (size_t i = 0; i < n_b; i++)
        e[i] = (entry){b_ids[i], 0, (int)i + 1, b_sc ? b_sc[i] : 0.0};
    for (size_t i = 0; i < n_d; i++)
        e[n_b + i] = (entry){d_ids[i], 1, (int)i + 1, d_sc ? d_sc[i] : 0.0};
    qsort(e, n, sizeof *e, entry_cmp);
    size_t nm = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || e[i].id != e[i - 1].id) {
            m[nm] = (merged){{e[i].id, 0.0, 0, 0}, {0.0, 0.0}};
            nm++;
        }
        rag_fused *f = &m[nm - 1].f;
        int *rank = e[i].list == 0 ? &f->bm25_rank : &f->dense_rank;
        if (*rank == 0) { /* the first entry of this list for this id is its best rank */
            *rank = e[i].rank;
            m[nm - 1].raw[e[i].list] = e[i].score;
        }
    }
    free(e);
    *m_out = m;
    *n_m = nm;
    return RAG_OK;
}

static void emit(merged *m, size_t nm, rag_fused *out, size_t cap, size_t *n_out)
{
    if (nm > 0)
        qsort(m, nm, sizeof *m, merged_cmp);
    size_t n = nm < cap ? nm : cap;
    for (size_t i = 0; i < n; i++)
        out[i] = m[i].f;
    *n_out = n;
}

rag_status rag_fuse_rrf(const int64_t *bm25_ids, size_t n_bm25, const int64_t *dense_ids,
                        size_t n_dense, int rrf_k, rag_fused *out, size_t cap, size_t *n_out)
{
    if (n_out)
        *n_out = 0;
    rag_status rs = check_args(bm25_ids, n_bm25, dense_ids, n_dense, out, cap, n_out);
    if (rs != RAG_OK)
        return rs;
    if (rrf_k < 0)
        return RAG_E_BAD_INPUT;
    merged *m;
    size_t nm;
    if ((rs = merge_lists(bm25_ids, NULL, n_bm25, dense_ids, NULL, n_dense, &m, &nm)) != RAG_OK)
        return rs;
    for (size_t i = 0; i < nm; i++) {
        rag_fused *f = &m[i].f;
        double sb = f->bm25_rank ? 1.0 / ((double)rrf_k + f->bm25_rank) : 0.0;
        double sd = f->dense_rank ? 1.0 / ((double)rrf_k + f->dense_rank) : 0.0;
        f->score = sb + sd;
    }
    emit(m, nm, out, cap, n_out);
    free(m);
    return RAG_OK;
}

rag_status rag_fuse_weighted(const int64_t *bm25_ids, const double *bm25_scores, size_t n_bm25,
                             const int64_t *dense_ids, const double *dense_scores, size_t n_dense,
                             double dense_weight, rag_fused *out, size_t cap, size_t *n_out)
{
    if (n_out)
        *n_out = 0;
    rag_status rs = check_args(bm25_ids, n_bm25, dense_ids, n_dense, out, cap, n_out);
    if (rs != RAG_OK)
        return rs;
    if ((n_bm25 > 0 && !bm25_scores) || (n_dense > 0 && !dense_scores))
        return RAG_E_BAD_INPUT;
    if (!(dense_weight >= 0.0 && dense_weight <= 1.0))
        return RAG_E_BAD_INPUT;
    for (size_t i = 0; i < n_bm25; i++)
        if (!isfinite(bm25_scores[i]))
            return RAG_E_BAD_INPUT;
    for (size_t i = 0; i < n_dense; i++)
        if (!isfinite(dense_scores[i]))
            return RAG_E_BAD_INPUT;
    merged *m;
    size_t nm;
    rs = merge_lists(bm25_ids, bm25_scores, n_bm25, dense_ids, dense_scores, n_dense, &m, &nm);
    if (rs != RAG_OK)
        return rs;
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (size_t i = 0; i < nm; i++) {
        int present[2] = {m[i].f.bm25_rank != 0, m[i].f.dense_rank != 0};
        for (int l = 0; l < 2; l++) {
            if (!present[l])
                continue;
            if (m[i].raw[l] < lo[l])
                lo[l] = m[i].raw[l];
            if (m[i].raw[l] > hi[l])
                hi[l] = m[i].raw[l];
        }
    }
    const double w[2] = {1.0 - dense_weight, dense_weight};
    for (size_t i = 0; i < nm; i++) {
        int present[2] = {m[i].f.bm25_rank != 0, m[i].f.dense_rank != 0};
        double score = 0.0;
        for (int l = 0; l < 2; l++) {
            if (!present[l])
                continue;
            /* halved so that hi - lo cannot overflow to infinity */
            double range = hi[l] * 0.5 - lo[l] * 0.5;
            double norm = range > 0.0 ? (m[i].raw[l] * 0.5 - lo[l] * 0.5) / range : 1.0;
            score += w[l] * norm;
        }
        m[i].f.score = score;
    }
    emit(m, nm, out, cap, n_out);
    free(m);
    return RAG_OK;
}
