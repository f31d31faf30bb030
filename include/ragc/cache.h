/* ragc cache: a content-addressed persistent cache of model outputs (embeddings, rerank scores).
 *
 * An entry maps a 128-bit key to a value (bytes). The key is the XXH3-128 hash of the entry's
 * kind, the identity of the model that computed it (backend type, endpoint, model id, revision,
 * options) and its normalized input, so the same text sent to the same model is computed once,
 * across restarts and processes. Values are opaque to the cache: the model chains store an
 * embedding as its floats (little-endian f32) and a rerank score as one f64.
 *
 * Storage: one SQLite file (WAL, so readers never block; other processes may use the same file).
 * The sum of the stored values is capped (max_bytes): a put that goes over it evicts the least
 * recently used entries down to 90 % of the cap. "Recently used" has a granularity of a minute:
 * a hit refreshes an entry's time only when it is older than that, so hits rarely write.
 * Hit / miss / put / eviction counters are kept per kind, both for this handle (since it was
 * opened) and persistently in the file (since it was created).
 *
 * A cache is an optimisation: a corrupt file is moved aside (<path>.corrupt) and a new one
 * created; errors while reading or writing are returned to the caller, which should carry on
 * without the cache.
 *
 * Threading: a handle is thread-safe (one connection behind a mutex).
 */
#ifndef RAGC_CACHE_H
#define RAGC_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rag_cache_kind {
    RAG_CACHE_EMBEDDING = 0, /* value: dim little-endian f32 */
    RAG_CACHE_RERANK = 1,    /* value: one f64 (raw score) */
    RAG_CACHE_KINDS = 2
} rag_cache_kind;

/* Static name of a kind: "embedding", "rerank". */
const char *rag_cache_kind_str(rag_cache_kind k);

/* Largest value accepted by rag_cache_put, bytes (a 8,192-dim f32 vector is 32 KiB). */
#define RAG_CACHE_MAX_VALUE (64u * 1024u)

typedef struct rag_cache_key {
    uint8_t b[16];
} rag_cache_key;

/* Key of input (and input2, for pairs such as (query, passage); NULL when none) as computed by
 * the model named identity (e.g. "huggingface_api|https://router.huggingface.co|org/model|rev").
 * Inputs are normalized first: leading and trailing white space removed and every run of white
 * space inside made one space (models that tokenize on white space give the same output).
 * All strings borrowed for the call; NULL identity or input counts as "". */
rag_cache_key rag_cache_key_of(rag_cache_kind kind, const char *identity, const char *input, const char *input2);

typedef struct rag_cache_params {
    const char *path;   /* SQLite file; created (and its directories) when missing */
    uint64_t max_bytes; /* cap on the sum of value sizes; 0 = 512 MiB */
    bool read_only;     /* open for rag_cache_stats only (the file must exist) */
} rag_cache_params;

typedef struct rag_cache rag_cache;

/* Opens (creating when needed) the cache at p->path. *out: caller frees with rag_cache_close.
 * Errors: RAG_E_BAD_INPUT (no path), RAG_E_NOT_FOUND (read_only and no file), RAG_E_STORE
 * (SQLite error, naming the path), RAG_E_NOMEM. */
rag_status rag_cache_open(const rag_cache_params *p, rag_cache **out, rag_err *err);
void rag_cache_close(rag_cache *c); /* NULL is a no-op */
const char *rag_cache_path(const rag_cache *c); /* borrowed, valid until close */

/* Looks up n keys of kind. For each key i: hit[i] = whether it was found; when it was,
 * vals[i] = a copy of the value (caller frees each with free()) and lens[i] = its bytes; when
 * not, vals[i] = NULL, lens[i] = 0. Counts hits and misses. On error nothing is returned
 * (every hit[i] false, vals[i] NULL). */
rag_status rag_cache_get(rag_cache *c, rag_cache_kind kind, const rag_cache_key *keys, size_t n, bool *hit,
                         void **vals, size_t *lens, rag_err *err);

/* Stores n values (vals[i]: lens[i] bytes, borrowed for the call; 1..RAG_CACHE_MAX_VALUE) in one
 * transaction, replacing entries with the same key, then evicts down to the cap if it is
 * exceeded. RAG_E_TOO_LARGE for a value over the limit (nothing stored). */
rag_status rag_cache_put(rag_cache *c, rag_cache_kind kind, const rag_cache_key *keys, const void *const *vals,
                         const size_t *lens, size_t n, rag_err *err);

typedef struct rag_cache_counts {
    uint64_t hits, misses, puts, evictions;
} rag_cache_counts;

typedef struct rag_cache_stats {
    uint64_t entries[RAG_CACHE_KINDS]; /* entries in the file now */
    uint64_t bytes;                    /* sum of value sizes now */
    uint64_t max_bytes;                /* the cap of this handle */
    rag_cache_counts total[RAG_CACHE_KINDS];   /* persistent: since the file was created */
    rag_cache_counts session[RAG_CACHE_KINDS]; /* this handle, since it was opened */
} rag_cache_stats;

rag_status rag_cache_stats_get(rag_cache *c, rag_cache_stats *out, rag_err *err);

/* hits / (hits + misses), or -1 when there were no lookups. */
double rag_cache_hit_rate(const rag_cache_counts *k);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_CACHE_H */
