/* Internal to src/pipeline: the engine's fields and helpers shared by its files. */
#ifndef RAGC_PIPELINE_INTERNAL_H
#define RAGC_PIPELINE_INTERNAL_H

#include "ragc/analyzer.h"
#include "ragc/bm25.h"
#include "ragc/dense.h"
#include "ragc/pipeline.h"

struct rag_engine {
    const rag_config *cfg;   /* borrowed */
    rag_store *store;        /* owned */
    rag_analyzer *analyzer;  /* owned */
    char *store_path;        /* owned */
    rag_bm25_params bm25;
    rag_backends *backends;  /* borrowed or owned (owns_backends) */
    bool owns_backends;
    rag_dense_index *dense;  /* owned, NULL until the first dense search: the in-memory index of the
                                last embedding space searched (pipeline_dense_search) */
    uint64_t dense_loads;    /* loads from the store by every dense index this engine opened */
};

/* The chains to call, or NULL when the configuration has no remote member for that stage. */
rag_generator_chain *pipeline_generator_chain(rag_backends *b);
rag_reranker_chain *pipeline_reranker_chain(rag_backends *b);
rag_embedder_chain *pipeline_embedder_chain(rag_backends *b);

/* The process's open cache, or NULL (disabled, not needed, or it could not be opened). */
rag_cache *pipeline_cache(rag_backends *b);

/* The "local" embedder and reranker (src/pipeline/local_backends.c). */
extern const rag_embedder_vtable pipeline_local_embedder;
extern const rag_reranker_vtable pipeline_local_reranker;

/* Embeds texts with the embedder chain. On RAG_OK *vecs (n x *dim, caller frees) and space
 * ("<type>:<model>", the embedding space the vectors belong to) are set. RAG_E_UNSUPPORTED: no
 * remote embedder, or the chain reached "none"/"local" or every member failed (report says why):
 * BM25 only. Other errors: cancellation, out of memory. */
rag_status pipeline_embed(rag_engine *e, rag_models_request *rq, const char *const *texts, size_t n, float **vecs,
                          int *dim, char *space, size_t space_cap, rag_chain_report *report, rag_err *err);

/* Exact dense top-k of space through the engine's in-memory index (retriever.dense.precision),
 * reopened when space differs from the last one searched and reloaded by the index itself when
 * the space changed in the store. doc_ids: NULL = every document, else only the chunks of
 * doc_ids[0..n_doc_ids). Errors as rag_dense_index_search_docs. */
rag_status pipeline_dense_search(rag_engine *e, const char *space, const float *query, int dim,
                                 const int64_t *doc_ids, size_t n_doc_ids, size_t k, rag_dense_hit *hits,
                                 size_t *n_hits, rag_err *err);

/* Dense + BM25 retrieval for an answer: fills ids and scores (caller frees) with up to k fused
 * chunk ids and out->stages[0..1] (retriever and embedder). Falls back to BM25 alone when no
 * embedder serves or the store holds no vectors of the served space. */
rag_status pipeline_hybrid_ids(rag_engine *e, rag_models_request *rq, const char *question,
                               const char *const *terms, size_t n_terms, size_t k, int64_t **ids, double **scores,
                               size_t *n, rag_answer *out, rag_err *err);

/* Reorders res by the reranker chain (when one is configured and serves) and keeps the best k;
 * fills out->stages[2] and out->rerank_report. Fails only on RAG_E_CANCELLED / RAG_E_NOMEM. */
rag_status pipeline_rerank(rag_engine *e, rag_models_request *rq, const char *question, rag_search_result *res,
                           size_t k, rag_answer *out, rag_err *err);

/* Generates a cited answer from res with the generator chain: on RAG_OK out->text, sources (cited
 * hits moved out of res), citation flags and out->stages[3] are set. RAG_E_UNSUPPORTED: answer
 * extractively (no remote generator, nothing retrieved, the chain reached "extractive" or every
 * member failed; stages[3].note says why). Other errors: cancellation, out of memory. */
rag_status pipeline_generate(rag_engine *e, rag_models_request *rq, const char *question, rag_search_result *res,
                             const rag_ask_params *p, rag_answer *out, rag_err *err);

/* Analyzes text into query terms, repeated by their frequency (Anserini's bag-of-words
 * weighting). *terms is a NULL-free array of n strings; caller frees with query_terms_free. */
rag_status pipeline_query_terms(rag_engine *e, const char *text, char ***terms, size_t *n, rag_err *err);
void pipeline_query_terms_free(char **terms, size_t n);

/* BM25 top-k chunk ids and scores for analyzed terms; *ids, *scores: caller frees with free(). */
rag_status pipeline_bm25_ids(rag_engine *e, const char *const *terms, size_t n_terms, size_t k, int64_t **ids,
                             double **scores, size_t *n, rag_err *err);
/* Loads the chunk and document records of n chunk ids into out (appending nothing on error). */
rag_status pipeline_load_hits(rag_engine *e, const int64_t *chunk_ids, const double *scores, size_t n,
                              rag_search_result *out, rag_err *err);

/* BM25 top-k chunks for already-analyzed terms (repeats weigh by count), with their chunk and
 * document records. Caller frees out with rag_search_result_clear. */
rag_status pipeline_search_terms(rag_engine *e, const char *const *terms, size_t n_terms, size_t k,
                                 rag_search_result *out, rag_err *err);

#endif
