/* ragc configuration: YAML profiles, ${VAR} interpolation, environment detection, validation.
 *
 * Layers, applied in order (later layers override earlier ones):
 *   1. the built-in schema defaults (identical to config/default.yaml),
 *   2. default.yaml,
 *   3. the profile (local, hf_spaces, railway, ...) unless it is "default",
 *   4. the user file (params.config_path, else env RAGC_CONFIG), if any.
 * Without a user file the profile is rag_config_detect_profile(params.profile, ...). With a user
 * file only an EXPLICIT profile (params.profile or env RAGC_PROFILE) is layered under it.
 * Profiles are embedded in the library; when env RAGC_CONFIG_DIR is set, <dir>/<profile>.yaml is
 * read from disk instead (the embedded copy is used when that file does not exist; a profile name
 * that only exists on disk is accepted too). Profile names are [A-Za-z0-9_-]{1,64}.
 *
 * Overlay semantics: mappings merge key by key; lists (chain, fallback_models) replace the whole
 * list. Scalar values are interpolated before type conversion: ${VAR} (error if VAR is unset),
 * ${VAR:-default} (default when VAR is unset or empty; the default extends to the matching '}' and
 * may itself use ${...}, expanded only when used), "$$" -> "$", any other "$" is literal. Interpolated values are capped at RAG_CONFIG_MAX_VALUE bytes, YAML
 * input at RAG_CONFIG_MAX_INPUT bytes. Every error is reported as
 * "<file>:<line>: <key.path>: <reason>"; all of them are collected (see params.diagnostics).
 */
#ifndef RAGC_CONFIG_H
#define RAGC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RAG_CONFIG_MAX_INPUT (1024 * 1024) /* bytes of YAML per file or string */
#define RAG_CONFIG_MAX_VALUE (64 * 1024)   /* bytes of one scalar after interpolation */
#define RAG_CONFIG_MAX_CHAIN 16            /* backends per chain */
#define RAG_CONFIG_MAX_FALLBACKS 16        /* entries in fallback_models */

/* Environment lookup: returns the value of name or NULL when unset; the string is borrowed and
 * must stay valid until the call that received the callback returns. */
typedef const char *(*rag_config_getenv_fn)(void *ud, const char *name);

typedef enum rag_config_stemmer {
    RAG_CONFIG_STEMMER_PORTER = 0, /* "porter": Snowball porter (Lucene/Anserini default) */
    RAG_CONFIG_STEMMER_ENGLISH,    /* "english": Snowball english (Porter2) */
    RAG_CONFIG_STEMMER_NONE        /* "none" */
} rag_config_stemmer;

typedef enum rag_config_stopwords {
    RAG_CONFIG_STOPWORDS_LUCENE = 0, /* "lucene": Lucene's English stopword set */
    RAG_CONFIG_STOPWORDS_NONE        /* "none" */
} rag_config_stopwords;

typedef enum rag_config_fusion {
    RAG_CONFIG_FUSION_RRF = 0,    /* "rrf": reciprocal rank fusion, 1/(rrf_k + rank) */
    RAG_CONFIG_FUSION_WEIGHTED,   /* "weighted": dense_weight*dense + (1-dense_weight)*bm25, min-max normalized */
    RAG_CONFIG_FUSION_BM25_ONLY,  /* "bm25_only" */
    RAG_CONFIG_FUSION_DENSE_ONLY  /* "dense_only" */
} rag_config_fusion;

/* In-memory form of the dense index (vectors are always stored as f32; see ragc/dense.h). */
typedef enum rag_config_dense_precision {
    RAG_CONFIG_DENSE_F32 = 0, /* "f32": exact cosine scores */
    RAG_CONFIG_DENSE_INT8     /* "int8": per-vector symmetric int8, 4x less memory, approximate scores */
} rag_config_dense_precision;

/* One member of a backend chain (embedder, reranker or answer generator). Strings are owned by
 * the rag_config. Unset numeric fields hold -1 ("use the stage default"). */
typedef struct rag_backend_config {
    const char *type;      /* registry name, never NULL. embedder: none|huggingface_api|tei|ollama|local;
                              reranker: huggingface_api|tei|local; generator: huggingface|openai|ollama|extractive */
    const char *model;     /* model id (e.g. "org/name:cheapest"); NULL = backend default */
    const char *base_url;  /* endpoint; NULL = backend default */
    const char *api_key;   /* secret; NULL when unset or empty. Never log it; rag_config_dump prints "***" */
    int timeout_ms;        /* per-call deadline in ms, 1..3600000; -1 = global_settings.request_timeout_ms */
    int max_retries;       /* retries after the first attempt, 0..10; -1 = backend default */
    int batch_size;        /* inputs per request, 1..1024; -1 = backend default */
    int normalize;         /* L2-normalize embeddings: 1 yes, 0 no, -1 backend default */
    const char **fallback_models; /* n_fallback_models model ids tried in order after model; owned */
    size_t n_fallback_models;
    int max_tokens;        /* generated tokens, 1..1048576; -1 = answer_generator.max_tokens */
    double temperature;    /* 0..2; -1 = answer_generator.temperature */
    int num_ctx;           /* context window in tokens (Ollama), 1..1048576; -1 = backend default */
    double price_input_per_mtok;  /* USD per 1,000,000 input tokens, >= 0; -1 = unknown */
    double price_output_per_mtok; /* USD per 1,000,000 output tokens, >= 0; -1 = unknown */
    double price_per_call;        /* USD per call, >= 0; -1 = unknown */
    int threads;           /* local: worker threads of one forward pass, 0..256, 0 = every CPU this
                              process may use; -1 = unset (0) */
    int precision;         /* local: linear layers in 0 "f32" (matches PyTorch) or 1 "int8" (faster,
                              approximate: embeddings within cosine ~0.999 of f32); -1 = unset (f32) */
} rag_backend_config;

typedef struct rag_config_priv rag_config_priv;

/* The effective configuration. All strings and arrays are owned by the config and valid until
 * rag_config_free. Treat it as read-only. */
typedef struct rag_config {
    const char *profile; /* profile used: "default", "local", "hf_spaces", "railway", or a RAGC_CONFIG_DIR name */
    const char *sources; /* the layers applied, e.g. "<embedded>/default.yaml, <embedded>/local.yaml, my.yaml" */

    struct {
        int chunk_size;    /* target chunk length in tokens, 16..8192 (512) */
        int chunk_overlap; /* tokens shared by consecutive chunks, 0..4096, < chunk_size (64) */
        int max_file_mb;   /* input files larger than this many MiB are skipped, 1..4096 (256) */
        int max_text_mb;   /* cap on extracted text per document in MiB, 1..1024 (64) */
    } document_processor;

    struct {
        rag_backend_config *chain; /* n_chain backends tried in order; 0 ("chain: []" or "chain:") or
                                      type "none" = no dense retrieval (BM25 only) */
        size_t n_chain;
    } embedder;

    struct {
        rag_backend_config *chain; /* n_chain backends tried in order; 0 = reranking off */
        size_t n_chain;
    } reranker;

    struct {
        int top_k;      /* sources used for an answer, 1..1000 (5) */
        int candidates; /* candidates per retriever before fusion/reranking, 1..10000, >= top_k (100) */
        struct {
            double k1;                      /* term-frequency saturation, 0..10 (0.9) */
            double b;                       /* length normalization, 0..1 (0.4) */
            rag_config_stemmer stemmer;     /* (porter) */
            rag_config_stopwords stopwords; /* (lucene) */
        } bm25;
        struct {
            rag_config_fusion method; /* (rrf) */
            int rrf_k;                /* RRF constant k in 1/(k + rank), 1..1000 (60) */
            double dense_weight;      /* weight of the dense score for "weighted", 0..1 (0.5) */
        } fusion;
        struct {
            rag_config_dense_precision precision; /* (f32) */
        } dense;
        struct {
            bool enabled;       /* rerank fused candidates with the reranker chain (false) */
            const char *model;  /* default cross-encoder for reranker backends without model */
            int max_candidates; /* candidates sent to the reranker, 1..1000 (50) */
            int batch_size;     /* pairs per reranker call, 1..256 (16) */
        } neural_reranking;
    } retriever;

    struct {
        rag_backend_config *chain; /* n_chain backends tried in order; 0 ("chain: []" or "chain:") =
                                      extractive answers only; "extractive" needs no LLM */
        size_t n_chain;
        int max_sentences;  /* sentences in an extractive answer, 1..50 (4) */
        int context_tokens; /* token budget of the retrieved context in a prompt, 64..131072 (3000) */
        int max_tokens;     /* generated tokens per answer, 1..32768 (512) */
        double temperature; /* sampling temperature, 0..2 (0.2) */
        bool stream;        /* stream tokens to the client as they are generated (false) */
    } answer_generator;

    struct {
        bool enabled;     /* cache embeddings and rerank scores by content (true) */
        const char *path; /* cache file; "" = <data_dir>/cache.db */
        int max_mb;       /* cap on the cached values, MiB, 1..1048576 (512); least recently used go first */
    } cache;

    struct {
        const char *data_dir;        /* directory of the store and caches ("${RAGC_DATA_DIR:-.ragc}") */
        rag_log_level log_level;     /* ("${RAGC_LOG:-warn}") */
        int max_concurrent_requests; /* server requests in flight, 1..256 (4) */
        int request_timeout_ms;      /* default deadline of a remote call in ms, 100..600000 (30000) */
        double monthly_budget_usd;   /* spend cap per calendar month in USD, >= 0; 0 = no limit */
        double request_budget_usd;   /* spend cap per request in USD, >= 0; 0 = no limit */
        int breaker_failures;        /* failed remote calls in a row that open a (backend, model)
                                        circuit breaker, 1..1000 (5) */
        int breaker_cooldown_ms;     /* time a breaker stays open before one probe call, ms,
                                        100..3600000 (30000) */
    } global_settings;

    rag_config_priv *priv; /* internal */
} rag_config;

typedef struct rag_config_params {
    const char *profile;     /* explicit profile; NULL = detect (RAGC_PROFILE, SPACE_ID, ...). Borrowed for the call */
    const char *config_path; /* user YAML file; NULL = env RAGC_CONFIG (unset or empty = none). Borrowed for the call */
    rag_config_getenv_fn getenv_fn; /* NULL = getenv(3). Used for every variable read, including RAGC_* */
    void *getenv_ud;         /* passed to getenv_fn */
    rag_buf *diagnostics;    /* borrowed; if non-NULL, every error is appended to it, one per line */
} rag_config_params;

rag_config_params rag_config_default_params(void);

/* Loads the layered configuration (see the top of this file). p may be NULL (defaults).
 * On success *out is set; caller frees with rag_config_free. On failure *out is NULL and err holds
 * the first error plus " (and N more)": RAG_E_NOT_FOUND (unknown profile, missing user file),
 * RAG_E_TOO_LARGE (file over the cap), RAG_E_IO, RAG_E_CONFIG (syntax, unknown key, type, range). */
rag_status rag_config_load(const rag_config_params *p, rag_config **out, rag_err *err);

/* Like rag_config_load but the user layer is the YAML text yaml (copied; reported as name, e.g.
 * "test.yaml"), and params.config_path / RAGC_CONFIG are ignored. The profile layer is used only
 * when p->profile is set explicitly. For tests and for configs received over an API. */
rag_status rag_config_load_string(const char *name, const char *yaml, const rag_config_params *p,
                                  rag_config **out, rag_err *err);

/* NULL is a no-op. */
void rag_config_free(rag_config *c);

/* Profile selection, a pure function of its arguments: explicit_profile (if non-empty) >
 * RAGC_PROFILE > "hf_spaces" if SPACE_ID is set > "railway" if RAILWAY_ENVIRONMENT is set > "local".
 * Variables set to "" count as unset. getenv_fn NULL = getenv(3). Never NULL; the result is
 * borrowed: explicit_profile, the getenv_fn string, or a static string. */
const char *rag_config_detect_profile(const char *explicit_profile, rag_config_getenv_fn getenv_fn,
                                      void *ud);

/* Appends the effective configuration as YAML (every key, in schema order; backend entries list
 * only the keys that are set) to out. Set api_key
 * values are written as "***"; '$' in strings is written as "$$" so the dump loads back to the
 * same values. Returns RAG_E_TOO_LARGE/RAG_E_NOMEM from the buffer. */
rag_status rag_config_dump(const rag_config *c, rag_buf *out);

/* Embedded profile names in order ("default", "local", "hf_spaces", "railway"); NULL past the end. */
const char *rag_config_profile_name(size_t i);

/* Static YAML spellings of the enum values ("porter", "lucene", "rrf"); "?" for out-of-range values. */
const char *rag_config_stemmer_str(rag_config_stemmer s);
const char *rag_config_stopwords_str(rag_config_stopwords s);
const char *rag_config_fusion_str(rag_config_fusion f);
const char *rag_config_dense_precision_str(rag_config_dense_precision p);

/* A chain entry of `type` for `model` (both borrowed, model may be NULL) with every optional
 * field unset, as a config file entry naming only those two keys would load. */
rag_backend_config rag_backend_config_unset(const char *type, const char *model);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_CONFIG_H */
