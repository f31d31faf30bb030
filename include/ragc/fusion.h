/* ragc fusion: merges a BM25 ranking and a dense ranking of chunks into one list.
 *
 * Inputs are rankings: ids[i] is the chunk at rank i + 1 (best first). An id listed twice in one
 * list keeps its first (best) rank and, for weighted fusion, that entry's score; later copies are
 * ignored. Both functions are pure (no allocation visible to the caller; scratch is freed).
 * Output order: score descending; equal scores by best rank (the smaller of the two 1-based
 * ranks, absent ranks ignored) ascending, then chunk_id ascending.
 * out: caller-provided array of cap entries; *n_out receives min(cap, distinct ids).
 */
#ifndef RAGC_FUSION_H
#define RAGC_FUSION_H

#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rag_fused {
    int64_t chunk_id;
    double score;
    int bm25_rank, dense_rank; /* 1-based, 0 = absent */
} rag_fused;

/* Reciprocal rank fusion (Cormack et al. 2009): score = sum over lists of 1 / (rrf_k + rank).
 * bm25_ids, dense_ids: borrowed for the call (may be NULL when their count is 0).
 * Errors: RAG_E_BAD_INPUT (rrf_k < 0, NULL array with a non-zero count, out NULL with cap > 0,
 * n_out NULL, a list longer than INT_MAX), RAG_E_NOMEM. */
rag_status rag_fuse_rrf(const int64_t *bm25_ids, size_t n_bm25, const int64_t *dense_ids,
                        size_t n_dense, int rrf_k, rag_fused *out, size_t cap, size_t *n_out);

/* Weighted score fusion: each list's scores are min-max normalized to [0, 1] over its distinct
 * ids (a one-element or constant list normalizes to 1); an id missing from a list gets 0 there;
 * score = dense_weight * dense + (1 - dense_weight) * bm25.
 * *_ids, *_scores: borrowed for the call, n entries each (may be NULL when n is 0).
 * Errors: RAG_E_BAD_INPUT (dense_weight outside [0, 1] or NaN, a non-finite score, NULL arrays
 * with a non-zero count, out NULL with cap > 0, n_out NULL), RAG_E_NOMEM. */
rag_status rag_fuse_weighted(const int64_t *bm25_ids, const double *bm25_scores, size_t n_bm25,
                             const int64_t *dense_ids, const double *dense_scores, size_t n_dense,
                             double dense_weight, rag_fused *out, size_t cap, size_t *n_out);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_FUSION_H */
