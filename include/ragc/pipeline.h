/* ragc pipeline: the engine that ties config, store, analyzer and index together, and the
 * ingest, search, ask (extractive answer) and eval orchestrations the CLI and server call.
 *
 * An engine is used by one thread at a time (its store and analyzer are not thread-safe).
 */
#ifndef RAGC_PIPELINE_H
#define RAGC_PIPELINE_H

#include <signal.h>
#include <stdio.h>

#include "ragc/config.h"
#include "ragc/core.h"
#include "ragc/eval.h"
#include "ragc/models.h"
#include "ragc/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rag_engine rag_engine;

/* The model-backed stages of a process: the remote-call client, the budget, the price
 * catalogue and the embedder / reranker / generator chains of the configuration. Thread-safe;
 * one per process, shared by its engines. A configuration whose chains hold only built-ins
 * (none / extractive) creates no network client. Needs rag_net_global_init() first.
 * cfg borrowed, valid until rag_backends_free. */
typedef struct rag_backends rag_backends;
rag_status rag_backends_create(const rag_config *cfg, rag_backends **out, rag_err *err);
void rag_backends_free(rag_backends *b); /* NULL is a no-op */
/* The remote-call client of b, for its breaker states and counts (metrics): borrowed, valid until
 * rag_backends_free; NULL when b is NULL or no chain has a remote member. */
rag_net_client *rag_backends_net(rag_backends *b);
/* The directory holding a local model: model is a Hugging Face repo id (resolved through the
 * huggingface_hub cache, files downloaded when missing unless HF_HUB_OFFLINE is set) or a local
 * directory. *dir_out: caller frees with free(). */
rag_status rag_local_model_dir(const char *model, char **dir_out, rag_err *err);

/* The content cache file of cfg (cache.path, or <data_dir>/cache.db; see ragc/cache.h). Caller
 * frees with free(); NULL when out of memory. The embedder and reranker chains of rag_backends use
 * it when cache.enabled. */
char *rag_cache_file(const rag_config *cfg);

typedef struct rag_engine_params {
    const char *store_path; /* NULL: <global_settings.data_dir>/ragc.db */
    bool read_only;         /* open the store read-only (it must exist) */
    rag_backends *backends; /* borrowed, shared; NULL: the engine creates its own */
} rag_engine_params;
rag_engine_params rag_engine_default_params(void);

/* Opens the store (creating it unless read_only) and the analyzer configured by cfg.
 * cfg is borrowed, valid until rag_engine_close. Caller frees with rag_engine_close. */
rag_status rag_engine_open(const rag_config *cfg, const rag_engine_params *p, rag_engine **out, rag_err *err);
void rag_engine_close(rag_engine *e);
/* The settings a store's index depends on, as one line ("stemmer=porter stopwords=lucene
 * chunk_size=512 chunk_overlap=64") into buf[cap]. A store remembers the settings it was built
 * with and rag_engine_open refuses a configuration that differs (RAG_E_CONFIG). */
void rag_index_settings_str(const rag_config *cfg, char *buf, size_t cap);
rag_store *rag_engine_store(rag_engine *e);        /* borrowed, valid until rag_engine_close */
const char *rag_engine_store_path(const rag_engine *e); /* borrowed, valid until rag_engine_close */

/* ---- ingest ---- */
typedef enum {
    RAG_INGEST_ADDED,     /* new document committed */
    RAG_INGEST_UPDATED,   /* changed document replaced */
    RAG_INGEST_UNCHANGED, /* same content hash: nothing done */
    RAG_INGEST_SKIPPED    /* not ingested; reason given */
} rag_ingest_outcome;

typedef struct rag_ingest_progress {
    size_t files_done, files_total;  /* files finished / to do */
    uint64_t bytes_done, bytes_total;/* file bytes finished / to do */
    size_t chunks;                   /* chunks committed so far */
    const char *current;             /* borrowed: file being processed */
} rag_ingest_progress;

typedef struct rag_ingest_params {
    const char *password;  /* for encrypted PDFs; NULL = none */
    bool force;            /* re-ingest even when the content hash is unchanged */
    volatile sig_atomic_t *cancel; /* when it becomes non-zero, stop after the current document */
    void (*on_progress)(void *ud, const rag_ingest_progress *pr);
    /* Called once per document (or per file when a file fails before yielding documents). */
    void (*on_outcome)(void *ud, const char *source, rag_ingest_outcome o, const char *reason);
    /* Called while embedding the chunks of earlier documents that have no vector (see
     * rag_ingest_paths): chunks done so far and to do, once with 0 first and after each batch. */
    void (*on_backfill)(void *ud, size_t done, size_t total);
    void *ud;
} rag_ingest_params;
rag_ingest_params rag_ingest_default_params(void);

typedef struct rag_ingest_summary {
    size_t files;          /* files considered */
    size_t files_ignored;  /* unsupported files seen while walking directories */
    size_t docs_added, docs_updated, docs_unchanged, docs_skipped;
    size_t pages, pages_failed, chunks; /* of the documents added or updated */
    size_t docs_embedded;  /* documents whose chunks got vectors from the embedder chain */
    size_t embed_cache_hits, embed_cache_misses; /* chunk embeddings found in / missing from the cache */
    /* Backfill: chunks already in the store (documents unchanged, or embedded in none or a failed
     * run) that got their vector in this run, and those still without one when it failed or was
     * interrupted (backfill_note says why; "" when none remain or no embedder is configured). */
    size_t chunks_backfilled, chunks_unembedded;
    size_t backfill_cache_hits;  /* of chunks_backfilled, answered by the content cache */
    char backfill_space[1025];   /* the embedding space filled ("" when no embedder is configured) */
    char backfill_note[320];
    double ms;
    bool cancelled;
} rag_ingest_summary;

/* Walks paths, extracts, normalizes, chunks and indexes every document, one store transaction
 * per document. Per-document failures are reported through on_outcome and counted in
 * docs_skipped; the call itself fails only for errors that stop the run (a path that does not
 * exist, a store error).
 * Then, unless cancelled, when an embedder chain other than none is configured (the backfill):
 * every chunk of the store without a vector in the current embedding space (that of the first
 * embedding made in this run, else the one the chain's first member serves; see
 * docs/architecture.md, "Embedding spaces") is embedded, 64 chunks per call, each batch committed
 * in its own transaction, p->cancel checked before each (interrupted: sum->cancelled). With
 * nothing missing this makes no embedder call. An embedder failure is not an ingest failure: it
 * leaves chunks_unembedded and backfill_note set. */
rag_status rag_ingest_paths(rag_engine *e, const char *const *paths, size_t n_paths,
                            const rag_ingest_params *p, rag_ingest_summary *sum, rag_err *err);

/* ---- search ---- */
typedef struct rag_search_hit {
    double score;
    rag_chunk_record chunk; /* owned */
    rag_doc_record doc;     /* owned */
} rag_search_hit;

typedef struct rag_search_result {
    rag_search_hit *hits; /* n_hits, best first */
    size_t n_hits;
    double ms;            /* time spent searching */
} rag_search_result;

/* BM25 top-k chunks for query. Caller frees with rag_search_result_clear. An empty store or a
 * query with no indexable terms yields zero hits, not an error. */
rag_status rag_search(rag_engine *e, const char *query, size_t k, rag_search_result *out, rag_err *err);
void rag_search_result_clear(rag_search_result *r);
/* The page of the chunk text at byte offset (from chunk->page_map; page_start when none). */
int rag_chunk_page_at(const rag_chunk_record *chunk, size_t offset);
/* JSON: {"query","results":[{"rank","score","document","ext_id"?,"title","page","page_end",
 * "chunk_id","doc_id","text"}],"ms"}. Appends to out. */
rag_status rag_search_result_to_json(const char *query, const rag_search_result *res, rag_buf *out);

/* ---- citations in generated answers ---- */
#define RAG_CITATIONS_MAX 64
typedef struct rag_citations {
    char *text;               /* owned: the answer with valid markers as "[n]", invalid ones removed */
    int cited[RAG_CITATIONS_MAX];   /* distinct valid source numbers, in order of first citation */
    size_t n_cited;
    int invalid[RAG_CITATIONS_MAX]; /* distinct numbers that named no source (removed) */
    size_t n_invalid;
    size_t n_valid_markers;   /* valid [n] markers kept in text */
} rag_citations;

/* Parses and validates the citations of a generated answer against n_sources numbered sources
 * (see src/pipeline/citations.c for the accepted marker forms). Caller frees with
 * rag_citations_clear. An answer with n_cited == 0 has no valid citation: the caller attaches
 * the retrieved sources and flags the answer. */
rag_status rag_citations_validate(const char *text, size_t n_sources, rag_citations *out);
void rag_citations_clear(rag_citations *c);

/* ---- ask (retrieve + answer) ---- */
typedef struct rag_source {
    int n;                /* citation number [n], 1-based */
    rag_search_hit hit;   /* owned */
    char *snippet;        /* owned: the cited sentences of this source */
    int page, page_end;   /* pages of the cited sentences (first, last); 0 for formats without
                             pages. Narrower than the passage's hit.chunk page range when the
                             passage crosses pages */
} rag_source;

typedef struct rag_stage_report {
    const char *stage;    /* static: "retriever", "embedder", "reranker", "generator" */
    char backend[128];    /* the backend that served it ("bm25", "none", "off", "extractive",
                             "huggingface (org/model:cheapest)", ...) */
    double ms;
    char note[256];       /* why earlier members were skipped or the stage did not run; "" if none */
} rag_stage_report;

typedef struct rag_answer {
    char *question;       /* owned */
    char *text;           /* owned: answer text, each sentence followed by a [n] citation */
    bool found;           /* false: nothing relevant was retrieved (text says so) */
    rag_source *sources;  /* n_sources, numbered 1..n in order of first citation */
    size_t n_sources;
    rag_stage_report stages[4];
    size_t n_stages;
    double total_ms;
    /* Generated answers: citations checked against the sources given to the model. */
    bool citations_valid;     /* every sentence's source exists and at least one is cited (always
                                 true for extractive answers) */
    int invalid_citations[RAG_CITATIONS_MAX]; /* numbers the model cited that named no source */
    size_t n_invalid_citations;
    int64_t tokens_in, tokens_out;
    double cost_usd;          /* estimated, over every remote call of this answer */
    rag_chain_report embedder_report; /* owned; n_members 0 when no remote embedder ran */
    rag_chain_report rerank_report;   /* owned; n_members 0 when no remote reranker ran */
    rag_chain_report generator_report;/* owned; n_members 0 when no remote generator ran */
} rag_answer;

typedef struct rag_ask_params {
    size_t k;               /* sources to retrieve; 0 = config retriever.top_k */
    size_t max_sentences;   /* 0 = config answer_generator.max_sentences */
    /* Optional streaming: answer text as it is produced (model deltas, or the extractive
     * answer's sentences: one call per sentence with its citation, the calls concatenating to
     * the answer text), and a reset when text already passed is void (the model failed and
     * the next chain member starts over). The final rag_answer.text is authoritative: citations
     * are validated after generation. */
    void (*on_token)(void *ud, const char *text, size_t len);
    void (*on_discard)(void *ud);
    void *ud;
    /* Optional, borrowed for the call: once *cancel is non-zero, model calls stop (a streaming
     * generation within about a second: libcurl's progress callback) and rag_ask returns
     * RAG_E_CANCELLED. */
    const atomic_int *cancel;
} rag_ask_params;
rag_ask_params rag_ask_default_params(void);

rag_status rag_ask(rag_engine *e, const char *question, const rag_ask_params *p, rag_answer *out, rag_err *err);
void rag_answer_clear(rag_answer *a);
/* Milliseconds spent inside model backends (remote calls and local inference) for this answer:
 * the sum over the chain members called. total_ms minus this is ragc's own overhead. */
double rag_answer_model_ms(const rag_answer *a);
/* Human-readable answer + sources list. */
void rag_answer_print(const rag_answer *a, FILE *f);
/* JSON: {"question","answer","found","sources":[...],"report":{"stages":{<stage>:{"backend","ms",
 * "note"?,"cache_hits"?,"cache_misses"?,"chain"?}},"total_ms","model_ms","overhead_ms",
 * "cache":{"hits","misses"},"cost_usd","tokens_in","tokens_out","citations_valid",
 * "invalid_citations"}}. Appends to out. */
rag_status rag_answer_to_json(const rag_answer *a, rag_buf *out);

/* ---- prompts for LLM generators ---- */
/* The system prompt asking for [n] citations (static). */
const char *rag_prompt_system(void);
/* Appends the user message to user: the retrieved passages as numbered sources, best first,
 * within context_tokens (rag_token_estimate), skipping passages that overlap a better one of the
 * same document, then the question. used (res->n_hits entries, caller-provided) receives the
 * index into res->hits of source 1, 2, ...; *n_used their count. */
rag_status rag_prompt_build(const rag_search_result *res, const char *question, size_t context_tokens,
                            rag_buf *user, size_t *used, size_t *n_used, rag_err *err);

/* ---- eval ---- */
/* What retrieves the documents of an evaluation run. In every case a document scores as its best
 * chunk (chunk rankings of 2 x depth are mapped to document rankings of depth), and a ranking is
 * ordered as trec_eval orders it: score descending, equal scores by doc id descending. */
typedef enum rag_beir_retriever {
    RAG_BEIR_BM25 = 0,     /* "bm25" */
    RAG_BEIR_DENSE,        /* "dense": the embedder chain and the engine's dense index
                              (retriever.dense.precision) */
    RAG_BEIR_HYBRID,       /* "hybrid": the bm25 and dense document rankings fused by
                              retriever.fusion (rrf: 1/(rrf_k + rank) summed; weighted) */
    RAG_BEIR_HYBRID_RERANK /* "hybrid-rerank": the hybrid ranking whose first rerank_candidates
                              documents (their best chunk) are reordered by the reranker chain */
} rag_beir_retriever;

/* "bm25", "dense", "hybrid", "hybrid-rerank"; "?" out of range. Static. */
const char *rag_beir_retriever_str(rag_beir_retriever r);
/* Parses one of those names into *out; RAG_E_BAD_INPUT naming the accepted ones otherwise. */
rag_status rag_beir_retriever_parse(const char *name, rag_beir_retriever *out, rag_err *err);

typedef struct rag_beir_params {
    const char *corpus_path;   /* BEIR corpus.jsonl (ingested into the engine's store) */
    const char *queries_path;  /* BEIR queries.jsonl */
    const char *qrels_path;    /* qrels TSV */
    size_t depth;              /* documents retrieved per query (default 100) */
    rag_beir_retriever retriever; /* default RAG_BEIR_BM25 */
    size_t rerank_candidates;  /* hybrid-rerank: documents reranked per query, 1..1000;
                                  0 = retriever.neural_reranking.max_candidates */
    size_t embed_batch;        /* corpus chunks per embedder chain call, 1..4096 (default 64) */
    FILE *run_out;             /* borrowed; when set the run is written to it in TREC format,
                                  one line per document: "qid Q0 docid rank score ragc-<retriever>" */
    void (*on_query)(void *ud, size_t done, size_t total); /* progress; may be NULL */
    /* Corpus embedding progress (dense retrievers): chunks embedded so far and to embed in this
     * run; called after each batch. May be NULL. */
    void (*on_embed)(void *ud, size_t done, size_t total);
    void *ud;
} rag_beir_params;
rag_beir_params rag_beir_default_params(void);

typedef struct rag_beir_report {
    rag_eval_result metrics;    /* owned: means and per-query figures */
    double query_ms_p50, query_ms_p99; /* whole retrieval per query (query embedding, searches,
                                          fusion, reranking, loading the chunks), ms */
    double query_embed_ms_p50;  /* the query embedding alone, ms (0 for bm25) */
    double rerank_ms_p50;       /* the reranker call alone, ms (0 unless hybrid-rerank) */
    size_t queries_without_text;/* judged query ids absent from queries.jsonl (scored 0) */
    rag_ingest_summary ingest;  /* the corpus ingest (unchanged documents are not re-indexed) */
    /* Dense retrievers: the eval ingests without embedding, then embeds the chunks that have no
     * vector in the embedder's space yet (so a re-run embeds nothing) in batches. */
    char space[1025];           /* the embedding space: the model's key, e.g. "org/name" (docs/architecture.md,
                                   "Embedding spaces"); "" for bm25 */
    int dim;                    /* its dimension */
    size_t chunks_embedded;     /* corpus chunks embedded by this run */
    size_t chunks_reused;       /* corpus chunks whose vector was already in the store */
    size_t embed_cache_hits;    /* of chunks_embedded, answered by the content cache */
    double embed_ms;            /* time spent embedding and storing the corpus chunks, ms */
    const char *dense_kernel;   /* static: "f32", "int8-avx2", "int8-portable"; NULL for bm25 */
    size_t dense_index_bytes;   /* memory of the in-memory dense index */
    uint64_t dense_index_loads; /* times the engine (re)loaded a dense index from the store during
                                   the run (1: every query searched the same in-memory copy) */
    size_t rerank_candidates;   /* documents reranked per query (hybrid-rerank) */
    char reranker[320];         /* "<type>:<model>" that reranked ("" unless hybrid-rerank) */
} rag_beir_report;

/* Ingests the corpus into e's store (without embedding), embeds the chunks the retriever needs,
 * retrieves the top depth documents for every judged query and computes the metrics. ip may be
 * NULL. A model failure fails the run (an evaluation never falls back silently).
 * Errors: those of loading the files and of ingest; RAG_E_CONFIG (a dense retriever without an
 * embedder in e's configuration, hybrid-rerank without a reranker, hybrid with fusion method
 * bm25_only / dense_only); model errors, prefixed with what was being embedded or reranked;
 * RAG_E_IO (writing run_out); RAG_E_CANCELLED (ip->cancel; corpus vectors embedded so far are
 * kept). Caller frees out with rag_beir_report_clear. */
rag_status rag_beir_eval(rag_engine *e, const rag_beir_params *p, const rag_ingest_params *ip,
                         rag_beir_report *out, rag_err *err);
void rag_beir_report_clear(rag_beir_report *r);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_PIPELINE_H */
