/* ragc dense: embedding vectors in the store (table dense_vectors) and exact top-k search.
 *
 * A vector belongs to a chunk and an embedding space: a string naming the model that produced it
 * (e.g. "huggingface_api:sentence-transformers/all-MiniLM-L6-v2"). Vectors of different spaces
 * are never compared; all vectors of one space must have the same dimension.
 * Vectors are stored L2-normalized (f32, little-endian), so the dot product with a normalized
 * query is the cosine similarity, in [-1, 1]. A chunk's vectors go away with the chunk (when its
 * document is deleted or replaced).
 *
 * Search is exact (a dot product with every vector of the space):
 * - rag_dense_search streams the space's rows from SQLite on every call (no state; for one-off
 *   queries and small spaces);
 * - a rag_dense_index keeps the space as a contiguous (n, dim) f32 matrix in memory and reloads it
 *   only when the space changed (any insert, update or delete, by any connection) since it was
 *   loaded.
 * Results: best first; equal scores by chunk_id ascending.
 * Threading: as the store handle (one thread at a time); a rag_dense_index likewise.
 */
#ifndef RAGC_DENSE_H
#define RAGC_DENSE_H

#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"
#include "ragc/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds on a vector's dimension and on a space name's bytes. */
#define RAG_DENSE_MAX_DIM 8192
#define RAG_DENSE_MAX_SPACE_BYTES 1024u

typedef struct rag_dense_hit {
    int64_t chunk_id;
    double score; /* cosine similarity of the chunk's vector and the query */
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

/* ---- in-memory index of one space ---- */
typedef struct rag_dense_index rag_dense_index;
typedef struct rag_dense_index rag_dense_index_t;

/* Opens an index of space over s. s: borrowed, must outlive the index. space: copies.
 * Loads nothing yet: the first search loads the space. *out: caller frees with
 * rag_dense_index_free. Errors: RAG_E_BAD_INPUT / RAG_E_TOO_LARGE (space), RAG_E_NOMEM. */
rag_status rag_dense_index_open(rag_store *s, const char *space, rag_dense_index **out,
                                rag_err *err);

/* As rag_dense_search, over the in-memory matrix. Before searching it reads the space's row count
 * and generation (one indexed row) and reloads the matrix if either changed since the last load,
 * or if the last load happened inside a transaction (which may since have rolled back). */
rag_status rag_dense_index_search(rag_dense_index *idx, const float *query, int dim, size_t k,
                                  rag_dense_hit *hits, size_t *n_hits, rag_err *err);

/* Number of vectors in the loaded matrix, and how many times it has been (re)loaded (for tests
 * and metrics). */
size_t rag_dense_index_size(const rag_dense_index *idx);
uint64_t rag_dense_index_loads(const rag_dense_index *idx);

/* Frees the matrix and the handle. NULL is a no-op. */
void rag_dense_index_free(rag_dense_index *idx);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_DENSE_H */
