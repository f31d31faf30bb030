/* ragc BM25: an inverted index in the store's SQLite tables, scored like Lucene's BM25Similarity
 * as Anserini uses it (k1 0.9, b 0.4, bag-of-words queries boosted by term count).
 *
 * Per query term t with count q_t, over chunks d containing t:
 *     score(d) += q_t * idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl))
 *     idf(t)    = ln(1 + (N - df + 0.5) / (df + 0.5))
 * N = chunks indexed with at least one term (Lucene docCount), df = chunks containing t,
 * avgdl = sum of exact lengths / N (Lucene sumTotalTermFreq / docCount), and dl = the chunk's
 * length, by default after Lucene's one-byte norm encoding (SmallFloat.intToByte4 then byte4ToInt:
 * exact below 24, then 4 significant bits). Lucene >= 8 dropped the constant (k1 + 1) factor, and
 * so does this.
 * Scores are computed in double precision (Lucene uses float), so near-ties may order differently.
 *
 * Storage is log-structured so a one-chunk transaction stays a few pages: rag_bm25_add stores the
 * chunk's forward list as "pending"; deleting a chunk (with its document) leaves a tombstone;
 * a merge folds both into per-term postings lists. Merges run inside rag_bm25_add every 1,024
 * pending chunks or tombstones, or on demand (rag_bm25_merge, e.g. after a bulk ingest). Search
 * overlays pending chunks and tombstones, so scores and statistics are exact at every point.
 *
 * Text analysis (tokenizing, stopwords, stemming) is the caller's: both functions take terms.
 * Threading: as the store handle (one thread at a time).
 */
#ifndef RAGC_BM25_H
#define RAGC_BM25_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"
#include "ragc/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caps on untrusted input: a term's bytes (Lucene IndexWriter.MAX_TERM_LENGTH) and query terms. */
#define RAG_BM25_MAX_TERM_BYTES 32766u
#define RAG_BM25_MAX_QUERY_TERMS 4096u

typedef struct rag_bm25_term {
    const char *term; /* borrowed for the call; non-empty valid UTF-8 */
    uint32_t tf;      /* occurrences in the chunk, >= 1 */
} rag_bm25_term;

typedef struct rag_bm25_hit {
    int64_t chunk_id;
    double score;
} rag_bm25_hit;

typedef struct rag_bm25_params {
    double k1;                       /* term-frequency saturation, finite >= 0; default 0.9 */
    double b;                        /* length normalization, [0, 1]; default 0.4 */
    bool lucene_length_quantization; /* dl through SmallFloat intToByte4/byte4ToInt; default true */
    /* Optional filter: only chunks of these documents (documents.id) are returned. Corpus
     * statistics (N, df, avgdl) stay those of the whole index, as with a Lucene filter clause.
     * doc_ids: borrowed for the call; n_doc_ids == 0 means no filter. */
    const int64_t *doc_ids;
    size_t n_doc_ids;
} rag_bm25_params;

rag_bm25_params rag_bm25_default_params(void);

/* Indexes one chunk: terms[0..n_terms) are its distinct analyzed terms with their frequencies
 * (borrowed for the call), doc_len its field length (the number of analyzed tokens, normally the
 * sum of tf). Call inside the caller's transaction (rag_store_begin); on error nothing of this
 * chunk is indexed. A chunk with no terms is not indexed (and not counted in N, as in Lucene).
 * The chunk's postings go away with it when its document is deleted or replaced.
 * Errors: RAG_E_NOT_FOUND (no such chunk), RAG_E_BAD_INPUT (chunk already indexed, a term twice,
 * empty / non-UTF-8 term, tf 0), RAG_E_TOO_LARGE (term over RAG_BM25_MAX_TERM_BYTES). */
rag_status rag_bm25_add(rag_store *s, int64_t chunk_id, const rag_bm25_term *terms,
                        size_t n_terms, uint32_t doc_len, rag_err *err);

/* Folds pending chunks and tombstones into the postings lists (atomic; inside the caller's
 * transaction if one is open). Changes no score. No-op when nothing is pending. */
rag_status rag_bm25_merge(rag_store *s, rag_err *err);

/* Top-k chunks for the bag of query terms (borrowed for the call; a term repeated c times weighs
 * c times; terms absent from the index contribute nothing). p: borrowed; NULL = defaults.
 * hits: caller-provided array of k entries; *n_hits receives min(k, matching chunks). Hits are
 * sorted by score descending, ties by chunk_id ascending.
 * Errors: RAG_E_CONFIG (bad k1/b), RAG_E_BAD_INPUT (NULL term/hits), RAG_E_TOO_LARGE (more than
 * RAG_BM25_MAX_QUERY_TERMS query terms), RAG_E_STORE. */
rag_status rag_bm25_search(rag_store *s, const rag_bm25_params *p,
                           const char *const *query_terms, size_t n_query_terms, size_t k,
                           rag_bm25_hit *hits, size_t *n_hits, rag_err *err);

typedef struct rag_bm25_stats {
    int64_t n_docs;     /* indexed chunks (N) */
    int64_t sum_len;    /* sum of their lengths */
    int64_t n_postings; /* (term, chunk) pairs */
    int64_t n_pending;  /* chunks added since the last merge */
    int64_t n_deleted;  /* merged chunks deleted since the last merge (tombstones) */
} rag_bm25_stats;

rag_status rag_bm25_get_stats(rag_store *s, rag_bm25_stats *out, rag_err *err);
/* Document frequency of one term (0 if absent), exact like the statistics above. */
rag_status rag_bm25_df(rag_store *s, const char *term, int64_t *df, rag_err *err);

/* Lucene's SmallFloat.intToByte4 (lengths above INT32_MAX clamp to it) and byte4ToInt. */
uint8_t rag_bm25_int_to_byte4(uint32_t len);
uint32_t rag_bm25_byte4_to_int(uint8_t b);
/* byte4ToInt(intToByte4(len)): the length Lucene's BM25 sees. */
uint32_t rag_bm25_quantize_length(uint32_t len);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_BM25_H */
