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

/* Bytes of a space key buffer: the longest key rag_dense_put accepts, plus the terminator. */
#define PIPELINE_SPACE_CAP (RAG_DENSE_MAX_SPACE_BYTES + 1)

/* The embedding space of the vectors an embedder chain member makes: the key rag_dense_put stores
 * them under and dense search reads. One model gives the same vectors (to ~1e-5) whichever backend
 * runs it, so the key names the model, not the backend:
 *  - model: the model the member serves (see pipeline_member_space); a trailing " [int8]" (the
 *    local backend's precision marker in reports) is dropped: int8 embeddings are within cosine
 *    ~1e-4 of f32 and share the space;
 *  - type "local" and model an existing directory: "ORG/NAME" ("NAME" for a repo without an org)
 *    when its real path is a huggingface_hub snapshot ".../models--ORG--NAME/snapshots/REV", else
 *    the real path (a plain directory is its own model);
 *  - type "ollama": "ollama:<model>", a ":latest" tag dropped (Ollama names its own GGUF builds;
 *    they are not Hub repo ids);
 *  - any other type with a model (huggingface_api, tei with `model`, local with a repo id): the
 *    model id as given (the Hub's "org/name");
 *  - no model (NULL or "", e.g. tei without `model`): "<type>:<base_url>" ("<type>:" without one).
 * type: never NULL. Writes the key into buf[cap]. Errors: RAG_E_BAD_INPUT (type NULL or empty),
 * RAG_E_TOO_LARGE (the key does not fit cap or exceeds RAG_DENSE_MAX_SPACE_BYTES: never
 * truncated, two models must not share a key). */
rag_status pipeline_space_key(const char *type, const char *model, const char *base_url, char *buf, size_t cap,
                              rag_err *err);

/* The model an embedder member of type uses when the config gives none (the backends' defaults:
 * src/models/backend.c mdl_default_model and src/pipeline/local_backends.c), or NULL when the type
 * has none (tei) or is unknown. Static string. */
const char *pipeline_embedder_default_model(const char *type);

/* The space of member i of the configured embedder chain (e->cfg->embedder.chain[i]): of its
 * configured model, else its type's default, else served_model (what the member reported serving;
 * NULL or "" = none). The configuration comes first because an embedder backend serves exactly
 * that model, while the reported name can be altered (an api_key occurring in it is redacted), and
 * so that pipeline_predicted_space gives the key a call would. */
rag_status pipeline_member_space(rag_engine *e, size_t i, const char *served_model, char *buf, size_t cap,
                                 rag_err *err);

/* The space the embedder chain would embed into if its first member served: the first member
 * other than "none", as pipeline_member_space. false when the chain reaches "none" first or has no
 * member; buf is then "". Makes no call. */
bool pipeline_predicted_space(rag_engine *e, char *buf, size_t cap);

/* Embeds texts with the embedder chain. On RAG_OK *vecs (n x *dim, caller frees), space (the
 * embedding space the vectors belong to, pipeline_space_key; buffer of PIPELINE_SPACE_CAP bytes is
 * always enough) and, when backend is not NULL, backend ("<type>:<served model>", the label
 * reports show) are set. RAG_E_UNSUPPORTED: no remote embedder, or the chain reached "none" or
 * every member failed (report says why): BM25 only. Other errors: cancellation, out of memory. */
rag_status pipeline_embed(rag_engine *e, rag_models_request *rq, const char *const *texts, size_t n, float **vecs,
                          int *dim, char *space, size_t space_cap, char *backend, size_t backend_cap,
                          rag_chain_report *report, rag_err *err);

/* Filling a space: embedding, in batches, the chunks of the store that have no vector in it. */
typedef struct pipeline_fill {
    /* in */
    size_t batch;                   /* chunks per embedder chain call and per transaction (0 = 64) */
    volatile sig_atomic_t *cancel;  /* borrowed, optional: checked before each batch */
    void (*on_progress)(void *ud, size_t done, size_t total); /* after each batch (and once with 0
                                                                 first); may be NULL */
    void *ud;
    /* out */
    size_t missing;     /* chunks without a vector in the space when the fill started */
    size_t present;     /* vectors already in the space then */
    size_t done;        /* chunks embedded and committed by this fill */
    size_t cache_hits;  /* of those, answered by the content cache */
    int dim;            /* of the vectors embedded (0 when none was) */
    char served[PIPELINE_SPACE_CAP]; /* on a space mismatch: the space the chain served instead */
    double ms;          /* spent embedding and storing */
} pipeline_fill;

/* Embeds every chunk without a vector in space, f->batch at a time, each batch committed in its
 * own transaction (an interrupted or failed fill keeps the batches done). what names the work in
 * error messages ("corpus chunks", "chunks of earlier documents").
 * Errors: RAG_E_UPSTREAM (the chain served no embedding: message says why; or served another
 * space: f->served names it, nothing of that batch stored), RAG_E_CANCELLED (*f->cancel set),
 * store errors, RAG_E_NOMEM. */
rag_status pipeline_fill_space(rag_engine *e, const char *space, const char *what, pipeline_fill *f,
                               rag_err *err);

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
