/* Internal to src/pipeline: the engine's fields and helpers shared by its files. */
#ifndef RAGC_PIPELINE_INTERNAL_H
#define RAGC_PIPELINE_INTERNAL_H

#include "ragc/analyzer.h"
#include "ragc/bm25.h"
#include "ragc/pipeline.h"

struct rag_engine {
    const rag_config *cfg;   /* borrowed */
    rag_store *store;        /* owned */
    rag_analyzer *analyzer;  /* owned */
    char *store_path;        /* owned */
    rag_bm25_params bm25;
    rag_backends *backends;  /* borrowed or owned (owns_backends) */
    bool owns_backends;
};

/* The chains to call, or NULL when the configuration has no remote member for that stage. */
rag_generator_chain *pipeline_generator_chain(rag_backends *b);
rag_reranker_chain *pipeline_reranker_chain(rag_backends *b);

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

/* BM25 top-k chunks for already-analyzed terms (repeats weigh by count), with their chunk and
 * document records. Caller frees out with rag_search_result_clear. */
rag_status pipeline_search_terms(rag_engine *e, const char *const *terms, size_t n_terms, size_t k,
                                 rag_search_result *out, rag_err *err);

#endif
