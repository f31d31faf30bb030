/* Internal helpers shared by src/models: the common backend state built from a
 * rag_backend_config, the one guarded call path (budget -> rag_net_call -> budget record), the
 * embedding batch planner and matrix parser, the chat-completions protocol, and the built-in
 * vtables. */
#ifndef RAGC_MODELS_INTERNAL_H
#define RAGC_MODELS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ragc/models.h"

/* State every remote backend shares; built by mdl_backend_init from a rag_backend_config.
 * Immutable after init, so backends are safe to call from several threads. */
typedef struct mdl_backend {
    const rag_models_env *env; /* borrowed */
    const char *kind;          /* static: "embedder", "reranker", "generator" */
    char *type;                /* owned: config type = net backend name */
    char *model;               /* owned: model id, "" when the backend has none */
    char *base;                /* owned: base URL without trailing '/' */
    char *api_key;             /* owned, NULL = none. Never logged */
    bool needs_key;            /* base is a huggingface.co host: refuse to call without api_key */
    double timeout_ms;         /* per-request deadline */
    int max_retries;           /* -1 = policy default */
    int batch_size;            /* inputs per request, >= 1 */
    bool normalize;
    int max_tokens;            /* -1 = unset */
    double temperature;        /* -1 = unset */
    int num_ctx;               /* resolved (Ollama) */
    double price_in, price_out, price_call; /* -1 = unknown */
} mdl_backend;

/* Default model of a built-in backend type for a stage (NULL = none: the config must name one;
 * "" = the server decides, e.g. TEI). kind: "embedder" | "reranker" | "generator". */
const char *mdl_default_model(const char *kind, const char *type);

/* Copies cfg into b. default_base: base URL when cfg->base_url is NULL. max_batch: cap on
 * batch_size (0 = none). Model: cfg->model, else mdl_default_model, else RAG_E_CONFIG.
 * Validates base URL scheme and model characters. On failure b is cleaned up. */
rag_status mdl_backend_init(mdl_backend *b, const char *kind, const rag_backend_config *cfg,
                            const rag_models_env *env, const char *default_base, int max_batch, rag_err *err);
void mdl_backend_fini(mdl_backend *b);

/* A backend that posts every request to one URL: {base}{path_head}{model}{path_tail}, or
 * {base}{path_head} when path_tail is NULL (the model is not in the path). */
typedef struct mdl_url_backend {
    mdl_backend b;
    char *url; /* owned */
} mdl_url_backend;

/* Allocates and initialises one (mdl_backend_init with kind, default_base and max_batch), sets
 * *ctx; type names the backend in the out-of-memory message. Free with mdl_url_backend_destroy. */
rag_status mdl_url_backend_create(const char *kind, const char *type, const rag_backend_config *cfg,
                                  const rag_models_env *env, const char *default_base, int max_batch,
                                  const char *path_head, const char *path_tail, void **ctx, rag_err *err);
void mdl_url_backend_destroy(void *ctx); /* NULL is a no-op */

/* malloc'ed "<base><path printf>", or NULL on allocation failure. */
char *mdl_url(const mdl_backend *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Now on the env's timer (the net client's clock). */
double mdl_now(const rag_models_env *env);

/* Sets err to "<type> <model>: <message>" (redacted). Returns status. */
rag_status mdl_fail(const mdl_backend *b, const char *model, rag_err *err, rag_status status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* What one mdl_call did, for mdl_done. */
typedef struct mdl_call_info {
    double ms;    /* wall time of the rag_net_call */
    int attempts; /* HTTP attempts made (0 = refused before calling) */
} mdl_call_info;

/* The guarded call: no net client -> RAG_E_CONFIG; needs_key without key -> RAG_E_AUTH; budget
 * check (RAG_E_BUDGET, nothing sent); then fills req->backend/model/bearer_token/deadline/retry/
 * cancel and runs rag_net_call, adding its outcome to stats (requests, attempts, retries, status,
 * request id, provider). model: borrowed. resp: initialised by the caller. Always fills *ci.
 * Every path must be followed by mdl_done(…, ci, final status, cost). */
rag_status mdl_call(const mdl_backend *b, rag_models_request *rq, const char *model, rag_net_request *req,
                    rag_net_response *resp, rag_call_stats *stats, mdl_call_info *ci, rag_err *err);

/* Records a finished call in the budget tracker (when it reached the network) and charges cost
 * (>= 0) to the month, rq and stats. known: a price applied. */
void mdl_done(const mdl_backend *b, rag_models_request *rq, rag_call_stats *stats, const mdl_call_info *ci,
              rag_status final, double cost, bool known);

/* Serialises v compactly into a malloc'ed string (caller frees); NULL on failure. */
char *mdl_dump(const json_t *v, size_t *len);

/* ---- chat answers (router chat completions, Ollama /api/chat) ---- */

/* What one chat call accumulates while its response or stream is parsed. */
typedef struct mdl_chat_acc {
    const mdl_backend *b;
    rag_buf text;              /* the answer so far, capped at RAG_MODELS_MAX_TEXT */
    rag_gen_token_fn on_token; /* may be NULL */
    void *ud;
    bool stream;               /* the response is a stream (for messages) */
    char finish[16];
    int64_t prompt_tokens, completion_tokens;
} mdl_chat_acc;

void mdl_chat_acc_init(mdl_chat_acc *a, const mdl_backend *b, rag_gen_token_fn on_token, void *ud, bool stream);
void mdl_chat_acc_free(mdl_chat_acc *a); /* a partial answer of a failed call is discarded */
/* Moves the answer into result (text, tokens, finish_reason) and, when stats is not NULL, adds
 * the tokens to it. RAG_E_NOMEM (reported through mdl_fail naming model, which may be NULL). */
rag_status mdl_chat_acc_take(mdl_chat_acc *a, const char *model, rag_gen_result *result, rag_call_stats *stats,
                             rag_err *err);
/* Parses one complete (non-stream) chat response v with take (the protocol's reader) into result;
 * a parse failure is reported through mdl_fail. For the adapters' parse_response entry points. */
rag_status mdl_chat_parse_with(const mdl_backend *b, const json_t *v,
                               rag_status (*take)(mdl_chat_acc *a, const json_t *v, rag_err *err),
                               rag_gen_result *result, rag_err *err);

/* ---- embeddings and rerank batches ---- */

/* Builds the JSON body of items[start .. start+count) (global indexes, for messages). */
typedef rag_status (*mdl_body_fn)(void *ud, size_t start, size_t count, json_t **body, rag_err *err);

/* Plans the batch starting at start: at most max_batch items (and n - start), halved until the
 * serialised body is < RAG_MODELS_MAX_PAYLOAD bytes. *body (caller frees with free()), *body_len,
 * *count. A single item over the cap -> RAG_E_TOO_LARGE naming it. */
rag_status mdl_plan_batch(const mdl_backend *b, size_t n, size_t start, size_t max_batch, mdl_body_fn build,
                          void *ud, char **body, size_t *body_len, size_t *count, rag_err *err);

/* Takes the parsed response (borrowed) of the batch items[start .. start+count). */
typedef rag_status (*mdl_batch_fn)(void *ud, const json_t *json, size_t start, size_t count, rag_call_stats *stats,
                                   rag_err *err);

/* POSTs items 0..n in batches to url (at most batch_size, and proto_max_batch when > 0, items per
 * request, planned by mdl_plan_batch), one mdl_call + mdl_done each (priced per call), handing
 * each response to take. Stops at the first failure and returns it. */
rag_status mdl_run_batches(const mdl_backend *b, rag_models_request *rq, const char *url, size_t n,
                           size_t proto_max_batch, mdl_body_fn build, mdl_batch_fn take, void *ud,
                           rag_call_stats *stats, rag_err *err);

/* Copies the embedding rows of one response (rows: borrowed JSON) for items row0 .. row0+count
 * into *vecs (allocated on the first batch as n_total * dim floats, caller frees). Accepts 2-D
 * [[f..]..] and, when count == 1, 1-D [f..]; 3-D / 4-D token-level output -> RAG_E_CONFIG naming
 * the model; a row count, dimension or number problem -> RAG_E_UPSTREAM. *dim: 0 before the
 * first batch, then fixed. */
rag_status mdl_embed_rows(const mdl_backend *b, const json_t *rows, size_t row0, size_t count, size_t n_total,
                          float **vecs, int *dim, rag_err *err);

/* L2-normalises each of the n rows of dim floats in place (zero rows unchanged). */
void mdl_l2_normalize(float *vecs, size_t n, int dim);

/* A json string of text, or NULL when text is not valid UTF-8 (or allocation failed). */
json_t *mdl_json_text(const char *text);

/* A JSON array of texts[start .. start+count) (borrowed); RAG_E_BAD_INPUT naming the first
 * NULL or invalid-UTF-8 text (what = "text" or "passage"). *out: caller json_decref's. */
rag_status mdl_texts_json(const mdl_backend *b, const char *what, const char *const *texts, size_t start,
                          size_t count, json_t **out, rag_err *err);

/* One embedding wire protocol. */
typedef struct mdl_embed_proto {
    /* Request body for texts[start .. start+count). */
    rag_status (*build)(const mdl_backend *b, const char *const *texts, size_t start, size_t count, json_t **body,
                        rag_err *err);
    /* The rows array of a 2xx response (borrowed from resp), NULL when the shape is wrong;
     * *tokens += input tokens the response reports. */
    const json_t *(*rows)(const json_t *resp, int64_t *tokens);
    size_t max_batch; /* cap on inputs per request (0 = b->batch_size only) */
} mdl_embed_proto;

/* Embeds texts in batches through proto at url (borrowed): see rag_embedder_vtable.embed.
 * L2-normalises the result when b->normalize. Charges price_per_call per successful request. */
rag_status mdl_embed_run(const mdl_backend *b, const mdl_embed_proto *proto, const char *url, rag_models_request *rq,
                         const char *const *texts, size_t n, float **vecs, int *dim, rag_call_stats *stats,
                         rag_err *err);

/* One rerank wire protocol. */
typedef struct mdl_rerank_proto {
    /* Request body for (query, passages[start .. start+count)); query is valid UTF-8. */
    rag_status (*build)(const mdl_backend *b, const char *query, const char *const *passages, size_t start,
                        size_t count, json_t **body, rag_err *err);
    /* Writes scores[start .. start+count) from a 2xx response (borrowed). */
    rag_status (*scores)(const mdl_backend *b, const json_t *resp, size_t start, size_t count, double *scores,
                         rag_err *err);
    size_t max_batch;
} mdl_rerank_proto;

/* Scores passages in batches through proto at url: see rag_reranker_vtable.rerank. scores is
 * written only on success. Charges price_per_call per successful request. */
rag_status mdl_rerank_run(const mdl_backend *b, const mdl_rerank_proto *proto, const char *url,
                          rag_models_request *rq, const char *query, const char *const *passages, size_t n,
                          double *scores, rag_call_stats *stats, rag_err *err);

/* ---- chat completions (OpenAI protocol; router and openai backends) ---- */

/* POST url with the chat body; stream via SSE when p->stream. Fills result (not model_used) and
 * stats tokens on success; charges the cost: config prices, else (catalog != NULL) the HF
 * catalogue price at catalog_base, plus price_per_call. */
rag_status mdl_chat_completions(const mdl_backend *b, rag_models_request *rq, const char *model, const char *url,
                                const rag_chat_message *msgs, size_t n, const rag_gen_params *p,
                                rag_gen_token_fn on_token, void *ud, rag_price_catalog *catalog,
                                const char *catalog_base, rag_gen_result *result, rag_call_stats *stats,
                                rag_err *err);

/* "{base}/chat/completions" when base ends with /v1, else "{base}/v1/chat/completions";
 * malloc'ed, NULL on allocation failure. */
char *mdl_chat_url(const mdl_backend *b);

/* Appends msgs as [{"role","content"}] to a new array; RAG_E_BAD_INPUT for a NULL field or bad
 * UTF-8 (naming the message index). *out: caller json_decref's. */
rag_status mdl_messages_json(const mdl_backend *b, const char *model, const rag_chat_message *msgs, size_t n,
                             json_t **out, rag_err *err);

/* ---- response parsers, callable without a network call (fuzz/fuzz_models_responses.c) ----
 * The backends' wire protocols: rows() / scores() of these are what the embedders and rerankers
 * apply to a 2xx JSON response. */
extern const mdl_embed_proto mdl_hf_embed_proto;     /* hf-inference feature-extraction: [[f..]..] */
extern const mdl_embed_proto mdl_tei_embed_proto;    /* TEI /embed: [[f..]..] */
extern const mdl_embed_proto mdl_ollama_embed_proto; /* Ollama /api/embed: {"embeddings":[[..]],"prompt_eval_count"} */
extern const mdl_rerank_proto mdl_hf_rerank_proto;   /* hf-inference text-classification */
extern const mdl_rerank_proto mdl_tei_rerank_proto;  /* TEI /rerank: [{"index","score"}..] */

/* Parses a complete (non-stream) chat.completion v (borrowed) as mdl_chat_completions does:
 * choices[0].message.content (capped at RAG_MODELS_MAX_TEXT), finish_reason and usage into result
 * (text, tokens, finish_reason; model_used and provider NULL; caller frees with
 * rag_gen_result_free). An error object, or no content string -> RAG_E_UPSTREAM; on failure
 * result is empty and err names b. */
rag_status mdl_chat_parse_response(const mdl_backend *b, const json_t *v, rag_gen_result *result, rag_err *err);
/* Same for a whole text/event-stream body[0..len) (borrowed) of chat.completion.chunk events, a
 * usage chunk and "data: [DONE]", as the streaming path decodes it; on_token (may be NULL) gets
 * each delta. A stream without [DONE] or a mid-stream error -> RAG_E_UPSTREAM. */
rag_status mdl_chat_parse_sse(const mdl_backend *b, const char *body, size_t len, rag_gen_token_fn on_token, void *ud,
                              rag_gen_result *result, rag_err *err);
/* Ollama /api/chat non-stream response v (borrowed): message.content, done_reason,
 * prompt_eval_count / eval_count into result (as mdl_chat_parse_response); an error object or a
 * value without "done": true -> RAG_E_UPSTREAM. */
rag_status mdl_ollama_chat_parse_response(const mdl_backend *b, const json_t *v, rag_gen_result *result,
                                          rag_err *err);

/* True when name is a registered backend (env extras or built-in) of stage 0 embedder,
 * 1 reranker, 2 generator. */
bool mdl_registered(const rag_models_env *env, int stage, const char *name);

/* ---- chain report building (report.c) ---- */

/* Appends a member entry (copies type) and returns it, or NULL on allocation failure. */
rag_chain_member_report *mdl_report_add(rag_chain_report *r, size_t index, const char *type);
/* Fills m from a backend call's stats and final status/message (copied). RAG_E_NOMEM on failure. */
rag_status mdl_report_fill(rag_chain_member_report *m, rag_status st, const char *reason, const rag_call_stats *s);

/* ---- built-in vtables ---- */
extern const rag_embedder_vtable mdl_hf_embed_vtable;
extern const rag_embedder_vtable mdl_tei_embed_vtable;
extern const rag_embedder_vtable mdl_ollama_embed_vtable;
extern const rag_reranker_vtable mdl_hf_rerank_vtable;
extern const rag_reranker_vtable mdl_tei_rerank_vtable;
extern const rag_generator_vtable mdl_router_chat_vtable;
extern const rag_generator_vtable mdl_openai_chat_vtable;
extern const rag_generator_vtable mdl_ollama_chat_vtable;

#endif /* RAGC_MODELS_INTERNAL_H */
