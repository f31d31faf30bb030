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
};

/* Analyzes text into query terms, repeated by their frequency (Anserini's bag-of-words
 * weighting). *terms is a NULL-free array of n strings; caller frees with query_terms_free. */
rag_status pipeline_query_terms(rag_engine *e, const char *text, char ***terms, size_t *n, rag_err *err);
void pipeline_query_terms_free(char **terms, size_t n);

/* BM25 top-k chunks for already-analyzed terms (repeats weigh by count), with their chunk and
 * document records. Caller frees out with rag_search_result_clear. */
rag_status pipeline_search_terms(rag_engine *e, const char *const *terms, size_t n_terms, size_t k,
                                 rag_search_result *out, rag_err *err);

#endif
