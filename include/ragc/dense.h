/* ragc dense: embedding vectors in the store (table dense_vectors) and exact top-k search.
 *
 * A vector belongs to a chunk and an embedding space: a string naming the model that produced it
 * (e.g. "sentence-transformers/all-MiniLM-L6-v2"; src/pipeline builds it, pipeline_space_key).
 * Vectors of different spaces are never compared; all vectors of one space must have the same
 * dimension.
 * Vectors are stored L2-normalized (f32, little-endian), so the dot product with a normalized
 * query is the cosine similarity, in [-1, 1]. A chunk's vectors go away with the chunk (when its
 * document is deleted or replaced).
 *
 * Search is exact (a dot product with every vector of the space, or of the chunks of the given
 * documents when filtered):
 * - rag_dense_search streams the space's rows from SQLite on every call (no state; for one-off
 *   queries and small spaces);
 * - a rag_dense_index keeps the space in memory and reloads it only when the space changed (any
 *   insert, update or delete, by any connection) since it was loaded. Its precision is f32 (the
 *   stored vectors, exact scores) or int8 (below).
 *
 * int8 is an in-memory form of the index, built from the stored f32 vectors at load; the store
 * always keeps f32, so it stays the exact record and the precision can change without
 * re-embedding anything. Each unit row r is quantized symmetrically with its own scale
 * s_r = max_i |r_i| / 127, q_i = round(r_i / s_r) in [-127, 127]; the unit query likewise (s_q).
 * score = s_q * s_r * sum_i q_i q'_i, the integer dot computed exactly in int32 (AVX2 when the CPU
 * has it, checked at run time; portable C otherwise; both give the same integer). Since
 * |r_i - s_r q_i| <= s_r / 2, the score differs from the f32 cosine by at most
 *     (s_q * |r|_1 + s_r * |q|_1) / 2 + dim * s_q * s_r / 4
 * (|.|_1: L1 norm of the unit vectors, <= sqrt(dim)); about 0.01-0.03 for typical 384-dim
 * embeddings, whose largest component is 0.1-0.2. Memory per row: dim + 20 bytes instead of
 * 4 * dim + 16.
 *
 * Results: best first; equal scores by chunk_id ascending.
 * Threading: as the store handle (one thread at a time); a rag_dense_index likewise.
 */
#ifndef RAGC_DENSE_H
#define RAGC_DENSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"
#include "ragc/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds on a vector's dimension, on a space name's bytes and on the documents of a filter. */
#define RAG_DENSE_MAX_DIM 8192
#define RAG_DENSE_MAX_SPACE_BYTES 1024u
#define RAG_DENSE_MAX_FILTER_DOCS 1000000u

typedef struct rag_dense_hit {
    int64_t chunk_id;
    int64_t doc_id; /* the chunk's document (documents.id) */
    double score;   /* cosine similarity of the chunk's vector and the query (approximate for int8) */
} rag_dense_hit;

/* Stores (or replaces) the vector of chunk_id in space: vec[0..dim) is borrowed for the call and an
 * L2-normalized copy is stored. Atomic on its own; inside the caller's transaction if one is open.
 * Errors: RAG_E_BAD_INPUT (space NULL / empty / not UTF-8, dim outside 1..RAG_DENSE_MAX_DIM,
 * a non-finite value, an all-zero vector, dim differs from the vectors already in the space,
 * naming one of them), RAG_E_TOO_LARGE (space over RAG_DENSE_MAX_SPACE_BYTES),
 * RAG_E_NOT_FOUND (no such chunk), RAG_E_STORE. */
rag_status rag_dense_put(rag_store *s, const char *space, int64_t chunk_id, const float *vec,
                         int dim, rag_err *err);

/* Deletes the vector of chunk_id in space. Absent -> RAG_E_NOT_FOUND. */
rag_status rag_dense_delete(rag_store *s, const char *space, int64_t chunk_id, rag_err *err);

/* *n = number of vectors in space (0 for an unknown space). */
rag_status rag_dense_count(rag_store *s, const char *space, int64_t *n, rag_err *err);

/* Exact top-k of space by cosine similarity with query[0..dim) (borrowed for the call; normalized
 * internally, so its scale does not matter). hits: caller-provided array of k entries;
 * *n_hits receives min(k, vectors in space). An empty or unknown space gives 0 hits.
 * Errors: RAG_E_BAD_INPUT (bad space, dim outside 1..RAG_DENSE_MAX_DIM, non-finite or all-zero
 * query, a vector of the space whose dim differs from the query's: the message names the chunk),
 * RAG_E_STORE (a stored vector is corrupt: names the chunk), RAG_E_NOMEM. */
rag_status rag_dense_search(rag_store *s, const char *space, const float *query, int dim,
                            size_t k, rag_dense_hit *hits, size_t *n_hits, rag_err *err);

/* As rag_dense_search, restricted to the chunks of the documents doc_ids[0..n_doc_ids) (borrowed
 * for the call; any order, repeats allowed; ids of no document match nothing). n_doc_ids 0 gives
 * 0 hits. Errors as rag_dense_search, plus RAG_E_BAD_INPUT (doc_ids NULL with n_doc_ids > 0) and
 * RAG_E_TOO_LARGE (n_doc_ids over RAG_DENSE_MAX_FILTER_DOCS). */
rag_status rag_dense_search_docs(rag_store *s, const char *space, const float *query, int dim,
                                 const int64_t *doc_ids, size_t n_doc_ids, size_t k,
                                 rag_dense_hit *hits, size_t *n_hits, rag_err *err);

/* The chunks of the store that have no vector in space, ascending by id: *ids (caller frees with
 * free(); NULL when *n is 0). For filling a space in batches. Errors: bad space, RAG_E_STORE,
 * RAG_E_NOMEM. */
rag_status rag_dense_missing_chunks(rag_store *s, const char *space, int64_t **ids, size_t *n,
                                    rag_err *err);

/* ---- in-memory index of one space ---- */
typedef struct rag_dense_index rag_dense_index;
typedef struct rag_dense_index rag_dense_index_t;

typedef enum rag_dense_precision {
    RAG_DENSE_F32 = 0, /* the stored vectors: exact cosine scores */
    RAG_DENSE_INT8     /* per-vector symmetric int8 (see the top of this file) */
} rag_dense_precision;

typedef struct rag_dense_index_params {
    rag_dense_precision precision; /* default RAG_DENSE_F32 */
    bool portable_kernel;          /* int8: the portable C dot even on an AVX2 CPU (tests,
                                      comparisons); same results. Default false */
} rag_dense_index_params;

rag_dense_index_params rag_dense_index_default_params(void);

/* Opens an index of space over s. s: borrowed, must outlive the index. space: copies. p: borrowed
 * for the call; NULL = rag_dense_index_default_params(). Loads nothing yet: the first search
 * loads the space. *out: caller frees with rag_dense_index_free.
 * Errors: RAG_E_BAD_INPUT / RAG_E_TOO_LARGE (space), RAG_E_BAD_INPUT (unknown precision),
 * RAG_E_NOMEM. */
rag_status rag_dense_index_open(rag_store *s, const char *space, const rag_dense_index_params *p,
                                rag_dense_index **out, rag_err *err);

/* As rag_dense_search, over the in-memory matrix. Before searching it reads the space's row count
 * and generation (one indexed row) and reloads the matrix if either changed since the last load,
 * or if the last load happened inside a transaction (which may since have rolled back). */
rag_status rag_dense_index_search(rag_dense_index *idx, const float *query, int dim, size_t k,
                                  rag_dense_hit *hits, size_t *n_hits, rag_err *err);

/* As rag_dense_index_search, restricted to the chunks of doc_ids[0..n_doc_ids) (as
 * rag_dense_search_docs). */
rag_status rag_dense_index_search_docs(rag_dense_index *idx, const float *query, int dim,
                                       const int64_t *doc_ids, size_t n_doc_ids, size_t k,
                                       rag_dense_hit *hits, size_t *n_hits, rag_err *err);

/* Number of vectors in the loaded matrix, and how many times it has been (re)loaded (for tests
 * and metrics). */
size_t rag_dense_index_size(const rag_dense_index *idx);
uint64_t rag_dense_index_loads(const rag_dense_index *idx);
/* Bytes held by the loaded index (rows, scales, ids). */
size_t rag_dense_index_bytes(const rag_dense_index *idx);
/* The space (borrowed, valid until rag_dense_index_free) and the precision it was opened with. */
const char *rag_dense_index_space(const rag_dense_index *idx);
rag_dense_precision rag_dense_index_precision(const rag_dense_index *idx);
/* The dot-product kernel in use: "f32", "int8-avx2" or "int8-portable" (static string). */
const char *rag_dense_index_kernel(const rag_dense_index *idx);

/* Frees the matrix and the handle. NULL is a no-op. */
void rag_dense_index_free(rag_dense_index *idx);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_DENSE_H */
