/* ragc models: embedder / reranker / generator backends, their registry and fallback chains.
 *
 * Backends are a const vtable + context, registered by name (the config `type:` strings):
 *   embedders  huggingface_api (HF feature-extraction), tei (/embed), ollama (/api/embed)
 *   rerankers  huggingface_api (HF text-classification), tei (/rerank)
 *   generators huggingface (HF router /v1/chat/completions), openai (any OpenAI-compatible base),
 *              ollama (/api/chat)
 * Built-ins handled by the caller (the pipeline): embedder "none" and "local", reranker "local",
 * generator "extractive". A chain that reaches one returns RAG_E_UNSUPPORTED with
 * report.served_by = that name, so the pipeline falls through to it. A "local" backend
 * registered through rag_models_env (extra vtables) is used like any remote one.
 *
 * Every remote call goes through rag_net_call (backend = the config type, model = the model id)
 * after the budget check; every error message and report string is redacted (the api_key never
 * appears). Wire formats: shared/reference/hf-api.md.
 *
 * Typical use (the pipeline):
 *   rag_models_env env = rag_models_env_from_config(cfg, net, budget, catalog);
 *   rag_generator_chain *gc; rag_generator_chain_from_config(cfg, &env, &gc, &err);
 *   rag_models_request rq = {0};                 // one per user request
 *   rag_chain_report rep; rag_chain_report_init(&rep);
 *   rag_gen_params gp = rag_gen_params_from_config(cfg);
 *   st = rag_generator_chain_generate(gc, &rq, msgs, n, &gp, on_token, ud, &res, &rep, &err);
 *   if (st == RAG_E_UNSUPPORTED) -> run the built-in named rep.served_by
 *   rag_chain_report_to_json(&rep, &json, &err); rag_chain_report_free(&rep); rag_gen_result_free(&res);
 */
#ifndef RAGC_MODELS_H
#define RAGC_MODELS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ragc/cache.h"
#include "ragc/config.h"
#include "ragc/core.h"
#include "ragc/models_cost.h"
#include "ragc/net.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RAG_MODELS_HF_BASE "https://router.huggingface.co" /* huggingface / huggingface_api default */
#define RAG_MODELS_TEI_BASE "http://127.0.0.1:8080"
#define RAG_MODELS_OLLAMA_BASE "http://127.0.0.1:11434"
#define RAG_MODELS_OPENAI_BASE "https://api.openai.com/v1"
#define RAG_MODELS_HF_MAX_BATCH 32              /* inputs per HF feature-extraction / classification request */
#define RAG_MODELS_DEFAULT_BATCH 32             /* batch_size when the config leaves it unset */
#define RAG_MODELS_MAX_PAYLOAD (2 * 1024 * 1024) /* bytes of one embedding / rerank request body (strictly less) */
#define RAG_MODELS_OLLAMA_NUM_CTX 8192          /* options.num_ctx when the config leaves it unset */
#define RAG_MODELS_MAX_TEXT (1024 * 1024)       /* bytes of generated text kept */
#define RAG_MODELS_MAX_TRIES (1 + RAG_CONFIG_MAX_FALLBACKS) /* models one backend call may try */

/* ---- shared environment ---- */

typedef struct rag_embedder_vtable rag_embedder_vtable;
typedef struct rag_reranker_vtable rag_reranker_vtable;
typedef struct rag_generator_vtable rag_generator_vtable;

/* What every backend of a process shares. Backends keep a pointer to it: borrowed, must outlive
 * every backend and chain created with it. Zero-initialise or use rag_models_env_from_config. */
typedef struct rag_models_env {
    rag_net_client *net;            /* borrowed; required by remote backends (calls fail with RAG_E_CONFIG without it) */
    double default_timeout_ms;      /* deadline of a call whose backend sets no timeout_ms; <= 0 = 30000 */
    const rag_net_retry_params *retry; /* borrowed; retry policy of every call, whose max_retries a
                                          backend's max_retries replaces; NULL = the net client's
                                          (when the backend sets none) or rag_net_retry_default_params() */
    const rag_net_timer *timer;     /* borrowed; MUST be the net client's clock (deadlines are absolute on it);
                                       NULL = rag_net_default_timer() */
    rag_budget_t *budget;           /* borrowed, optional: checked before and charged after each call */
    rag_price_catalog *catalog;     /* borrowed, optional: shared HF catalogue cache; NULL = each
                                       huggingface generator keeps its own */
    const atomic_int *cancel;       /* borrowed, optional: non-zero stops calls with RAG_E_CANCELLED */
    rag_cache *cache;               /* borrowed, optional: embedder and reranker chains look results up here
                                       first and store what they compute (see "chains" below) */
    /* extra backends (e.g. "local"), looked up by name before the built-in ones; borrowed */
    const rag_embedder_vtable *const *embedders;
    size_t n_embedders;
    const rag_reranker_vtable *const *rerankers;
    size_t n_rerankers;
    const rag_generator_vtable *const *generators;
    size_t n_generators;
} rag_models_env;

/* {net, global_settings.request_timeout_ms, NULL retry, NULL timer, budget, catalog, NULL cancel,
 * no extras}. Every pointer borrowed. */
rag_models_env rag_models_env_from_config(const rag_config *cfg, rag_net_client *net, rag_budget_t *budget,
                                          rag_price_catalog *catalog);

/* {monthly/request budgets of global_settings, data_dir = global_settings.data_dir (borrowed from cfg)}. */
rag_budget_params rag_budget_params_from_config(const rag_config *cfg);

/* One user request (one question): its spend, checked against request_budget_usd. Not
 * thread-safe: one request's calls run one at a time. Zero-initialise per request. */
typedef struct rag_models_request {
    double spent_usd;          /* in/out: USD spent by this request so far; every call adds its cost */
    const atomic_int *cancel;  /* borrowed, optional; used instead of env->cancel when set */
} rag_models_request;

/* ---- per-call statistics ---- */

/* One model tried by a backend call (generators try model then fallback_models). */
typedef struct rag_model_try {
    char model[256];          /* model id as sent ("" when the backend has none, e.g. TEI) */
    rag_status status;
    char reason[RAG_ERR_MSG_MAX]; /* one line, redacted; "" on success */
    double ms;                /* wall time spent on this model */
    int attempts;             /* HTTP attempts */
    int http_status;          /* of the last attempt; 0 = none */
    char request_id[RAG_NET_HDR_SMALL];
} rag_model_try;

/* Filled by every backend call, on success and on failure (zero it first or let the call do it:
 * calls reset it). Totals over every HTTP request the call made (batches, fallback models). */
typedef struct rag_call_stats {
    int requests;             /* rag_net_call calls made (refused by the budget: not counted) */
    int attempts;             /* HTTP attempts */
    int retries;              /* attempts after the first of each request */
    double ms;                /* wall time of the whole backend call */
    int http_status;          /* of the last attempt; 0 = none */
    char request_id[RAG_NET_HDR_SMALL]; /* x-request-id of the last response */
    char provider[RAG_NET_HDR_SMALL];   /* x-inference-provider of the last response ("" if none) */
    int64_t tokens_in;        /* prompt / input tokens reported by the server (0 if none) */
    int64_t tokens_out;       /* completion tokens */
    double cost_usd;          /* charged for this call */
    bool cost_known;          /* a price applied (config price, catalogue, per-call price) */
    rag_model_try tries[RAG_MODELS_MAX_TRIES];
    size_t n_tries;
} rag_call_stats;

/* ---- embedders ---- */

/* Vtable of an embedder backend. ctx is the backend's own state. */
struct rag_embedder_vtable {
    const char *name; /* registry name = config type */
    /* cfg and env: cfg is copied (strings too); env is borrowed. RAG_E_CONFIG for an unusable config. */
    rag_status (*create)(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err);
    void (*destroy)(void *ctx); /* NULL is a no-op */
    /* Embeds texts[0..n) (borrowed, valid UTF-8, NUL-terminated). *vecs: n * *dim floats, row i =
     * texts[i], caller frees with free(); NULL and *dim 0 on failure or when n == 0. rq may be NULL. */
    rag_status (*embed)(void *ctx, rag_models_request *rq, const char *const *texts, size_t n, float **vecs,
                        int *dim, rag_call_stats *stats, rag_err *err);
    /* Optional: writes to buf[cap] a string that changes whenever the model's outputs may change
     * (e.g. the Hub commit of its weights); part of the cache key. NULL: the configuration (type,
     * base_url, model) identifies the model (hosted models). */
    rag_status (*revision)(void *ctx, char *buf, size_t cap, rag_err *err);
};

/* Built-in vtable by name ("huggingface_api", "tei", "ollama"); NULL if none. Static, never freed. */
const rag_embedder_vtable *rag_embedder_find(const char *name);

typedef struct rag_embedder rag_embedder_t;

/* Creates the backend named cfg->type (env extras first). cfg: copied; env: borrowed.
 * RAG_E_NOT_FOUND for an unknown type. *out: caller frees with rag_embedder_free. */
rag_status rag_embedder_create(const rag_backend_config *cfg, const rag_models_env *env, rag_embedder_t **out,
                               rag_err *err);
void rag_embedder_free(rag_embedder_t *e); /* NULL is a no-op */
/* See rag_embedder_vtable.embed. stats may be NULL. The error message is redacted. */
rag_status rag_embedder_embed(rag_embedder_t *e, rag_models_request *rq, const char *const *texts, size_t n,
                              float **vecs, int *dim, rag_call_stats *stats, rag_err *err);
/* The backend's revision string (see the vtable) into buf[cap]; "" when it has none. */
rag_status rag_embedder_revision(rag_embedder_t *e, char *buf, size_t cap, rag_err *err);

/* ---- rerankers ---- */

struct rag_reranker_vtable {
    const char *name;
    rag_status (*create)(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err);
    void (*destroy)(void *ctx);
    /* Scores (query, passages[i]) into scores[i] (caller's array of n), raw relevance (higher =
     * more relevant; logits, not probabilities), in input order. query, passages: borrowed. */
    rag_status (*rerank)(void *ctx, rag_models_request *rq, const char *query, const char *const *passages,
                         size_t n, double *scores, rag_call_stats *stats, rag_err *err);
    rag_status (*revision)(void *ctx, char *buf, size_t cap, rag_err *err); /* as the embedder's */
};

const rag_reranker_vtable *rag_reranker_find(const char *name); /* "huggingface_api", "tei" */

typedef struct rag_reranker rag_reranker_t;
rag_status rag_reranker_create(const rag_backend_config *cfg, const rag_models_env *env, rag_reranker_t **out,
                               rag_err *err);
void rag_reranker_free(rag_reranker_t *r);
rag_status rag_reranker_rerank(rag_reranker_t *r, rag_models_request *rq, const char *query,
                               const char *const *passages, size_t n, double *scores, rag_call_stats *stats,
                               rag_err *err);
rag_status rag_reranker_revision(rag_reranker_t *r, char *buf, size_t cap, rag_err *err);

/* ---- generators ---- */

typedef struct rag_chat_message {
    const char *role;    /* "system", "user", "assistant"; borrowed */
    const char *content; /* UTF-8; borrowed */
} rag_chat_message;

/* Receives generated text as it arrives: len bytes at text (not NUL-terminated; borrowed, valid
 * during the call). Called on the calling thread. */
typedef void (*rag_gen_token_fn)(void *ud, const char *text, size_t len);

typedef struct rag_gen_params {
    int max_tokens;     /* completion cap, > 0; a backend's own max_tokens (config) takes precedence */
    double temperature; /* 0..2; a backend's own temperature takes precedence */
    bool stream;        /* stream from the server; on_token gets each delta. When false, on_token
                           (if any) gets the whole text once, after success */
    /* Optional. Called with the on_token ud when text already passed to on_token is void: the
     * model or chain member that produced it failed and the next one starts over. on_token is
     * never called by a model after its error. */
    void (*on_discard)(void *ud);
} rag_gen_params;

/* {512, 0.2, false, NULL}. */
rag_gen_params rag_gen_default_params(void);
/* {answer_generator.max_tokens, .temperature, .stream, NULL}. */
rag_gen_params rag_gen_params_from_config(const rag_config *cfg);

typedef struct rag_gen_result {
    char *text;          /* the answer (complete, never partial); owned */
    char *model_used;    /* model id that answered, as configured (suffix kept); owned */
    char *provider;      /* x-inference-provider, or NULL when the server named none; owned */
    int64_t prompt_tokens;     /* from usage / prompt_eval_count; 0 if the server reported none */
    int64_t completion_tokens; /* from usage / eval_count */
    char finish_reason[16];    /* "stop", "length", ... ("" if none) */
} rag_gen_result;

/* Frees the strings and zeroes r (reusable). NULL is a no-op. */
void rag_gen_result_free(rag_gen_result *r);

struct rag_generator_vtable {
    const char *name;
    rag_status (*create)(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err);
    void (*destroy)(void *ctx);
    /* One model (borrowed; the configured model or one of its fallbacks). On success fills result
     * (text, provider, tokens, finish_reason; model_used is set by the caller) and stats tokens;
     * on failure result is left empty. on_token may be NULL. */
    rag_status (*generate)(void *ctx, rag_models_request *rq, const char *model, const rag_chat_message *msgs,
                           size_t n, const rag_gen_params *p, rag_gen_token_fn on_token, void *ud,
                           rag_gen_result *result, rag_call_stats *stats, rag_err *err);
};

const rag_generator_vtable *rag_generator_find(const char *name); /* "huggingface", "openai", "ollama" */

typedef struct rag_generator rag_generator_t;
rag_status rag_generator_create(const rag_backend_config *cfg, const rag_models_env *env,
                                rag_generator_t **out, rag_err *err);
void rag_generator_free(rag_generator_t *g);

/* Generates with the configured model, then each fallback_model in order while a model fails
 * for good: RAG_E_NOT_FOUND (404 not served), RAG_E_BAD_INPUT whose message says "not supported"
 * (400 "not supported by any provider"), RAG_E_UPSTREAM / RAG_E_RATE_LIMITED / RAG_E_TIMEOUT /
 * RAG_E_IO (retries exhausted), RAG_E_CIRCUIT_OPEN, RAG_E_TOO_LARGE. Other failures (auth, budget,
 * other bad input, cancellation) end the call. stats->tries lists each model tried. result:
 * zero-initialised by the caller; on success caller frees with rag_gen_result_free. p NULL =
 * rag_gen_default_params(). */
rag_status rag_generator_generate(rag_generator_t *g, rag_models_request *rq, const rag_chat_message *msgs,
                                  size_t n, const rag_gen_params *p, rag_gen_token_fn on_token, void *ud,
                                  rag_gen_result *result, rag_call_stats *stats, rag_err *err);

/* ---- chain report ---- */

/* One member of a chain that was tried (or reached, for a built-in). Strings owned by the report. */
typedef struct rag_chain_member_report {
    size_t index;         /* position in the chain */
    char *type;           /* config type */
    bool builtin;         /* handled by the caller (status RAG_E_UNSUPPORTED, nothing was called) */
    rag_status status;    /* final status of the member */
    char *reason;         /* one line, redacted; "" on success */
    double ms;
    int attempts;         /* HTTP attempts over all its requests */
    int requests;         /* rag_net_call calls */
    int http_status;      /* of the last attempt */
    char *provider;       /* x-inference-provider of the last response, or NULL */
    int64_t tokens_in, tokens_out;
    double cost_usd;
    bool cost_known;
    rag_model_try *models; /* n_models models tried, in order; owned */
    size_t n_models;
    size_t cache_hits;    /* inputs answered from the cache (env.cache) instead of the backend */
    size_t cache_misses;  /* inputs looked up and not found (sent to the backend) */
} rag_chain_member_report;

typedef struct rag_chain_report {
    const char *stage;    /* static: "embedder", "reranker", "generator" ("" until a chain call) */
    rag_chain_member_report *members; /* n_members, in the order tried; owned */
    size_t n_members;
    int served;           /* index into members of the member that served, or -1 */
    char *served_by;      /* its type ("none", "local", "extractive" for a built-in), or NULL; owned */
    char *served_model;   /* model that answered, or NULL; owned */
    double total_ms;      /* over all members */
    int64_t tokens_in, tokens_out;
    double cost_usd;
    size_t cache_hits, cache_misses; /* over all members */
} rag_chain_report;

void rag_chain_report_init(rag_chain_report *r);
/* Frees the owned strings and arrays and re-initialises r. NULL is a no-op. */
void rag_chain_report_free(rag_chain_report *r);

/* Renders the report: {"stage","served_by","served_index","served_model","builtin","ms",
 * "tokens_in","tokens_out","cost_usd","cache_hits","cache_misses","members":[{"index","type",
 * "builtin","status","reason","ms","attempts","requests","http_status","provider","tokens_in",
 * "tokens_out","cost_usd","cost_known","cache_hits","cache_misses","models":[{"model","status","reason","ms","attempts","http_status","request_id"}]}]}
 * Status strings are rag_status_str. *out: caller frees with json_decref. */
rag_status rag_chain_report_to_json(const rag_chain_report *r, json_t **out, rag_err *err);

/* ---- chains ---- */

/* Each chain: members are created from the config list (members and env: members copied, env
 * borrowed); an unknown type -> RAG_E_CONFIG naming the stage, index and type; a member whose
 * backend refuses its config -> that error, prefixed with the stage and index. *out: caller frees
 * with the matching _free (NULL is a no-op).
 *
 * A chain call resets *report (it must have been initialised), then tries members in order:
 * - a built-in member ends the call: RAG_E_UNSUPPORTED, report->served_by = its type;
 * - a member that succeeds ends it: RAG_OK, report->served / served_by / served_model set;
 * - a failure moves on to the next member (retries exhausted, circuit open, auth, budget, not
 *   found, bad input, too large, config), except RAG_E_CANCELLED and RAG_E_NOMEM, which end it.
 * When every member failed, the last member's status is returned and err lists each member's
 * status. report may be NULL.
 *
 * Cache (embedder and reranker chains, when env->cache is set): before calling a member, the
 * chain looks every input up under that member's identity (type, base_url, model, normalize,
 * revision); inputs found are not sent, and a member whose inputs are all cached serves without
 * a call (even when its circuit is open). What a member computes is stored. Cache errors are
 * logged and ignored. The report counts hits and misses per member. Chains are thread-safe when the env's net client is (it is) and
 * each request uses its own rag_models_request and report. */

typedef struct rag_embedder_chain rag_embedder_chain;
rag_status rag_embedder_chain_create(const rag_backend_config *members, size_t n, const rag_models_env *env,
                                     rag_embedder_chain **out, rag_err *err);
/* cfg->embedder.chain. */
rag_status rag_embedder_chain_from_config(const rag_config *cfg, const rag_models_env *env,
                                          rag_embedder_chain **out, rag_err *err);
void rag_embedder_chain_free(rag_embedder_chain *c);
/* *vecs: n * *dim floats (row-major), caller frees with free(); NULL when not served remotely.
 * Vectors of different members differ in dimension and meaning: key stored vectors by
 * report->served_by + served_model. */
rag_status rag_embedder_chain_embed(rag_embedder_chain *c, rag_models_request *rq, const char *const *texts,
                                    size_t n, float **vecs, int *dim, rag_chain_report *report, rag_err *err);

typedef struct rag_reranker_chain rag_reranker_chain;
rag_status rag_reranker_chain_create(const rag_backend_config *members, size_t n, const rag_models_env *env,
                                     rag_reranker_chain **out, rag_err *err);
/* cfg->reranker.chain; a member without model uses retriever.neural_reranking.model, without
 * batch_size retriever.neural_reranking.batch_size. n_chain 0 = a chain with no member (every
 * call returns RAG_E_EMPTY "no reranker configured"). */
rag_status rag_reranker_chain_from_config(const rag_config *cfg, const rag_models_env *env,
                                          rag_reranker_chain **out, rag_err *err);
void rag_reranker_chain_free(rag_reranker_chain *c);
/* scores: caller's array of n; written only on RAG_OK. */
rag_status rag_reranker_chain_rerank(rag_reranker_chain *c, rag_models_request *rq, const char *query,
                                     const char *const *passages, size_t n, double *scores,
                                     rag_chain_report *report, rag_err *err);

typedef struct rag_generator_chain rag_generator_chain;
rag_status rag_generator_chain_create(const rag_backend_config *members, size_t n, const rag_models_env *env,
                                      rag_generator_chain **out, rag_err *err);
/* cfg->answer_generator.chain. */
rag_status rag_generator_chain_from_config(const rag_config *cfg, const rag_models_env *env,
                                           rag_generator_chain **out, rag_err *err);
void rag_generator_chain_free(rag_generator_chain *c);
/* result: zero-initialised by the caller; filled only on RAG_OK (caller frees with
 * rag_gen_result_free). Text streamed by a member that then failed is voided through
 * p->on_discard before the next member starts. */
rag_status rag_generator_chain_generate(rag_generator_chain *c, rag_models_request *rq,
                                        const rag_chat_message *msgs, size_t n, const rag_gen_params *p,
                                        rag_gen_token_fn on_token, void *ud, rag_gen_result *result,
                                        rag_chain_report *report, rag_err *err);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_MODELS_H */
