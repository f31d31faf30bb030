/* Internal to src/index: BM25 blob encodings and the chunk-id hash map.
 *
 * Forward list (bm25_docs.terms, bm25_deleted.terms): one chunk's distinct terms, sorted by
 * bytes (strcmp order), each unique:
 *     varint n_terms, then n_terms x { varint term_bytes, term bytes (no NUL), varint tf }
 * Postings (bm25_terms.postings): one term's chunks, chunk ids strictly ascending, df entries:
 *     df x { varint (chunk_id - previous chunk_id, previous 0), varint tf, varint len }
 * Varints are unsigned LEB128 (7 bits per byte, low group first), at most 10 bytes. */
#ifndef RAGC_BM25_INTERNAL_H
#define RAGC_BM25_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"

/* ---- growable byte buffer for encoding (no cap: sizes are bounded by the caller's input) ---- */
typedef struct bytes {
    uint8_t *p;  /* owned */
    size_t n, cap;
} bytes;

bool bytes_put_varint(bytes *b, uint64_t v);
bool bytes_put(bytes *b, const void *p, size_t n);
void bytes_free(bytes *b);

/* Reads a varint from [*p, end); false (and *p unchanged) if truncated or over 10 bytes. */
bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);

/* ---- forward-list reader ---- */
typedef struct fwd_iter {
    const uint8_t *p, *end;   /* borrowed blob */
    uint64_t left;            /* entries not yet read */
    const uint8_t *term;      /* current entry: term bytes (borrowed, not NUL-terminated) */
    uint32_t term_len, tf;
} fwd_iter;

/* Starts reading blob[0..n). false if the header is corrupt. */
bool fwd_begin(fwd_iter *it, const void *blob, size_t n);
/* Advances to the next entry: 1 = entry read, 0 = end, -1 = corrupt. */
int fwd_next(fwd_iter *it);

/* ---- postings reader ---- */
typedef struct post_iter {
    const uint8_t *p, *end;   /* borrowed blob */
    int64_t left;             /* entries not yet read (df - read) */
    int64_t chunk_id;         /* current entry */
    uint32_t tf, len;
} post_iter;

void post_begin(post_iter *it, const void *blob, size_t n, int64_t df);
/* 1 = entry read, 0 = end (exactly df entries, blob fully consumed), -1 = corrupt. */
int post_next(post_iter *it);

/* Compares term bytes in strcmp order (shorter prefix first). */
int term_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);

/* ---- chunk-id map: open addressing, linear probing ---- */
#define ID_MAP_EMPTY INT64_MIN

typedef struct id_map {
    int64_t *keys; /* owned; ID_MAP_EMPTY marks a free slot */
    double *vals;  /* owned; NULL for a set */
    size_t cap, n;
} id_map;

bool id_map_init(id_map *m, size_t expect, bool with_vals);
void id_map_free(id_map *m);
/* Slot of key, inserted with value 0 if absent; SIZE_MAX on allocation failure. */
size_t id_map_upsert(id_map *m, int64_t key);
bool id_map_has(const id_map *m, int64_t key);

#endif /* RAGC_BM25_INTERNAL_H */
