/* The backend registry (built-in vtables + the env's extras) and the generic backend handles:
 * per-call statistics, redaction of every returned message, and the generator's fallback models. */
#include "models/models_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rag_embedder_vtable *const builtin_embedders[] = {&mdl_hf_embed_vtable, &mdl_tei_embed_vtable,
                                                               &mdl_ollama_embed_vtable};
static const rag_reranker_vtable *const builtin_rerankers[] = {&mdl_hf_rerank_vtable, &mdl_tei_rerank_vtable};
static const rag_generator_vtable *const builtin_generators[] = {&mdl_router_chat_vtable, &mdl_openai_chat_vtable,
                                                                 &mdl_ollama_chat_vtable};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Finds name among n vtables whose first member is the name. */
#define FIND(list, n, name)                                                                        \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (n); i_++)                                                        \
            if ((list)[i_] && (list)[i_]->name && !strcmp((list)[i_]->name, (name)))              \
                return (list)[i_];                                                                 \
    } while (0)

const rag_embedder_vtable *rag_embedder_find(const char *name)
{
    if (name)
        FIND(builtin_embedders, COUNT(builtin_embedders), name);
    return NULL;
}

const rag_reranker_vtable *rag_reranker_find(const char *name)
{
    if (name)
        FIND(builtin_rerankers, COUNT(builtin_rerankers), name);
    return NULL;
}

const rag_generator_vtable *rag_generator_find(const char *name)
{
    if (name)
        FIND(builtin_generators, COUNT(builtin_generators), name);
    return NULL;
}

static const rag_embedder_vtable *find_embedder(const rag_models_env *env, const char *name)
{
    if (env && env->embedders && name)
        FIND(env->embedders, env->n_embedders, name);
    return rag_embedder_find(name);
}

static const rag_reranker_vtable *find_reranker(const rag_models_env *env, const char *name)
{
    if (env && env->rerankers && name)
        FIND(env->rerankers, env->n_rerankers, name);
    return rag_reranker_find(name);
}

static const rag_generator_vtable *find_generator(const rag_models_env *env, const char *name)
{
    if (env && env->generators && name)
        FIND(env->generators, env->n_generators, name);
    return rag_generator_find(name);
}

/* Lookup helpers for chain.c (declared there). */
bool mdl_registered(const rag_models_env *env, int stage, const char *name)
{
    switch (stage) {
    case 0: return find_embedder(env, name) != NULL;
    case 1: return find_reranker(env, name) != NULL;
    default: return find_generator(env, name) != NULL;
    }
}

rag_models_env rag_models_env_from_config(const rag_config *cfg, rag_net_client *net, rag_budget_t *budget,
                                          rag_price_catalog *catalog)
{
    rag_models_env env;
    memset(&env, 0, sizeof env);
    env.net = net;
    env.default_timeout_ms = cfg ? cfg->global_settings.request_timeout_ms : 30000;
    env.budget = budget;
    env.catalog = catalog;
    return env;
}

rag_budget_params rag_budget_params_from_config(const rag_config *cfg)
{
    rag_budget_params p = rag_budget_default_params();
    if (cfg) {
        p.monthly_budget_usd = cfg->global_settings.monthly_budget_usd;
        p.request_budget_usd = cfg->global_settings.request_budget_usd;
        p.data_dir = cfg->global_settings.data_dir;
    }
    return p;
}

rag_gen_params rag_gen_default_params(void)
{
    rag_gen_params p = {512, 0.2, false, NULL};
    return p;
}

rag_gen_params rag_gen_params_from_config(const rag_config *cfg)
{
    rag_gen_params p = rag_gen_default_params();
    if (cfg) {
        p.max_tokens = cfg->answer_generator.max_tokens;
        p.temperature = cfg->answer_generator.temperature;
        p.stream = cfg->answer_generator.stream;
    }
    return p;
}

void rag_gen_result_free(rag_gen_result *r)
{
    if (!r)
        return;
    free(r->text);
    free(r->model_used);
    free(r->provider);
    memset(r, 0, sizeof *r);
}

/* ---- common handle state ---- */

typedef struct handle {
    void *ctx;
    char *type;     /* owned */
    char *api_key;  /* owned copy for redaction, may be NULL */
    char **models;  /* owned: model then fallbacks ("" = none) */
    size_t n_models;
    int max_tokens; /* config override, -1 = none */
    double temperature;
    const rag_models_env *env;
} handle;

static void handle_fini(handle *h)
{
    free(h->type);
    if (h->api_key) {
        memset(h->api_key, 0, strlen(h->api_key));
        free(h->api_key);
    }
    for (size_t i = 0; i < h->n_models; i++)
        free(h->models[i]);
    free(h->models);
}

static rag_status handle_init(handle *h, const char *kind, const rag_backend_config *cfg, const rag_models_env *env,
                              bool with_fallbacks, rag_err *err)
{
    memset(h, 0, sizeof *h);
    h->env = env;
    h->max_tokens = cfg->max_tokens > 0 ? cfg->max_tokens : -1;
    h->temperature = cfg->temperature >= 0 ? cfg->temperature : -1;
    size_t nf = with_fallbacks ? cfg->n_fallback_models : 0;
    if (nf + 1 > RAG_MODELS_MAX_TRIES)
        return rag_err_set(err, RAG_E_CONFIG, "%s %s: %zu fallback_models (at most %d)", kind, cfg->type, nf,
                           RAG_MODELS_MAX_TRIES - 1);
    const char *m0 = cfg->model ? cfg->model : mdl_default_model(kind, cfg->type);
    h->type = rag_strdup(cfg->type);
    h->api_key = cfg->api_key && *cfg->api_key ? rag_strdup(cfg->api_key) : NULL;
    h->models = calloc(nf + 1, sizeof *h->models);
    bool ok = h->type && h->models && (!(cfg->api_key && *cfg->api_key) || h->api_key);
    if (ok) {
        h->n_models = nf + 1;
        h->models[0] = rag_strdup(m0 ? m0 : "");
        ok = h->models[0] != NULL;
        for (size_t i = 0; ok && i < nf; i++) {
            if (!cfg->fallback_models || !cfg->fallback_models[i]) {
                handle_fini(h);
                return rag_err_set(err, RAG_E_CONFIG, "%s %s: fallback_models[%zu] is NULL", kind, cfg->type, i);
            }
            ok = (h->models[i + 1] = rag_strdup(cfg->fallback_models[i])) != NULL;
        }
    }
    if (!ok) {
        handle_fini(h);
        return rag_err_set(err, RAG_E_NOMEM, "%s %s: out of memory", kind, cfg->type);
    }
    return RAG_OK;
}

static void stats_reset(rag_call_stats *s)
{
    memset(s, 0, sizeof *s);
}

/* Fills the next tries[] entry. */
static void add_try(rag_call_stats *s, const char *api_key, const char *model, rag_status st, const rag_err *e,
                    double ms, int attempts, int http_status, const char *request_id)
{
    if (s->n_tries >= RAG_MODELS_MAX_TRIES)
        return;
    rag_model_try *t = &s->tries[s->n_tries++];
    memset(t, 0, sizeof *t);
    snprintf(t->model, sizeof t->model, "%s", model ? model : "");
    rag_net_redact(t->model, api_key);
    t->status = st;
    if (st != RAG_OK && e) {
        snprintf(t->reason, sizeof t->reason, "%s", e->msg);
        rag_net_redact(t->reason, api_key);
    }
    t->ms = ms;
    t->attempts = attempts;
    t->http_status = http_status;
    snprintf(t->request_id, sizeof t->request_id, "%s", request_id ? request_id : "");
}

/* Common epilogue of embed / rerank: timing, redaction, and the one try unless the backend
 * described its tries itself (the local models name the model they resolved). */
static void finish_single(const handle *h, rag_call_stats *s, double t0, rag_status st, rag_err *err)
{
    s->ms = mdl_now(h->env) - t0;
    if (st != RAG_OK && err) {
        rag_net_redact(err->msg, h->api_key);
        if (!err->msg[0])
            rag_err_set(err, st, "%s: %s", h->type, rag_status_str(st));
    }
    if (s->n_tries == 0)
        add_try(s, h->api_key, h->models[0], st, err, s->ms, s->attempts, s->http_status, s->request_id);
}

/* ---- embedder ---- */

struct rag_embedder {
    handle h;
    const rag_embedder_vtable *vt;
};

rag_status rag_embedder_create(const rag_backend_config *cfg, const rag_models_env *env, rag_embedder_t **out,
                               rag_err *err)
{
    if (!out || !cfg || !cfg->type)
        return rag_err_set(err, RAG_E_BAD_INPUT, "embedder: NULL %s", !out ? "out" : "config or type");
    *out = NULL;
    const rag_embedder_vtable *vt = find_embedder(env, cfg->type);
    if (!vt)
        return rag_err_set(err, RAG_E_NOT_FOUND, "embedder: no backend named '%s'", cfg->type);
    rag_embedder_t *e = calloc(1, sizeof *e);
    if (!e)
        return rag_err_set(err, RAG_E_NOMEM, "embedder %s: out of memory", cfg->type);
    rag_status st = handle_init(&e->h, "embedder", cfg, env, false, err);
    if (st == RAG_OK && (st = vt->create(cfg, env, &e->h.ctx, err)) != RAG_OK)
        handle_fini(&e->h);
    if (st != RAG_OK) {
        if (err)
            rag_net_redact(err->msg, cfg->api_key);
        free(e);
        return st;
    }
    e->vt = vt;
    *out = e;
    return RAG_OK;
}

void rag_embedder_free(rag_embedder_t *e)
{
    if (!e)
        return;
    e->vt->destroy(e->h.ctx);
    handle_fini(&e->h);
    free(e);
}

rag_status rag_embedder_embed(rag_embedder_t *e, rag_models_request *rq, const char *const *texts, size_t n,
                              float **vecs, int *dim, rag_call_stats *stats, rag_err *err)
{
    if (vecs)
        *vecs = NULL;
    if (dim)
        *dim = 0;
    if (!e || !vecs || !dim || (n > 0 && !texts))
        return rag_err_set(err, RAG_E_BAD_INPUT, "embed: NULL %s", !e ? "embedder" : !texts ? "texts" : "output");
    rag_call_stats local;
    if (!stats)
        stats = &local;
    stats_reset(stats);
    rag_err_clear(err);
    double t0 = mdl_now(e->h.env);
    rag_status st = e->vt->embed(e->h.ctx, rq, texts, n, vecs, dim, stats, err);
    if (st != RAG_OK) {
        free(*vecs);
        *vecs = NULL;
        *dim = 0;
    }
    finish_single(&e->h, stats, t0, st, err);
    return st;
}

rag_status rag_embedder_revision(rag_embedder_t *e, char *buf, size_t cap, rag_err *err)
{
    if (!e || !buf || cap == 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "embedder revision: NULL argument");
    buf[0] = '\0';
    return e->vt->revision ? e->vt->revision(e->h.ctx, buf, cap, err) : RAG_OK;
}

/* ---- reranker ---- */

struct rag_reranker {
    handle h;
    const rag_reranker_vtable *vt;
};

rag_status rag_reranker_create(const rag_backend_config *cfg, const rag_models_env *env, rag_reranker_t **out,
                               rag_err *err)
{
    if (!out || !cfg || !cfg->type)
        return rag_err_set(err, RAG_E_BAD_INPUT, "reranker: NULL %s", !out ? "out" : "config or type");
    *out = NULL;
    const rag_reranker_vtable *vt = find_reranker(env, cfg->type);
    if (!vt)
        return rag_err_set(err, RAG_E_NOT_FOUND, "reranker: no backend named '%s'", cfg->type);
    rag_reranker_t *r = calloc(1, sizeof *r);
    if (!r)
        return rag_err_set(err, RAG_E_NOMEM, "reranker %s: out of memory", cfg->type);
    rag_status st = handle_init(&r->h, "reranker", cfg, env, false, err);
    if (st == RAG_OK && (st = vt->create(cfg, env, &r->h.ctx, err)) != RAG_OK)
        handle_fini(&r->h);
    if (st != RAG_OK) {
        if (err)
            rag_net_redact(err->msg, cfg->api_key);
        free(r);
        return st;
    }
    r->vt = vt;
    *out = r;
    return RAG_OK;
}

void rag_reranker_free(rag_reranker_t *r)
{
    if (!r)
        return;
    r->vt->destroy(r->h.ctx);
    handle_fini(&r->h);
    free(r);
}

rag_status rag_reranker_rerank(rag_reranker_t *r, rag_models_request *rq, const char *query,
                               const char *const *passages, size_t n, double *scores, rag_call_stats *stats,
                               rag_err *err)
{
    if (!r || !query || (n > 0 && (!passages || !scores)))
        return rag_err_set(err, RAG_E_BAD_INPUT, "rerank: NULL %s",
                           !r ? "reranker" : !query ? "query" : !passages ? "passages" : "scores");
    rag_call_stats local;
    if (!stats)
        stats = &local;
    stats_reset(stats);
    rag_err_clear(err);
    double t0 = mdl_now(r->h.env);
    rag_status st = r->vt->rerank(r->h.ctx, rq, query, passages, n, scores, stats, err);
    finish_single(&r->h, stats, t0, st, err);
    return st;
}

rag_status rag_reranker_revision(rag_reranker_t *r, char *buf, size_t cap, rag_err *err)
{
    if (!r || !buf || cap == 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "reranker revision: NULL argument");
    buf[0] = '\0';
    return r->vt->revision ? r->vt->revision(r->h.ctx, buf, cap, err) : RAG_OK;
}

/* ---- generator ---- */

struct rag_generator {
    handle h;
    const rag_generator_vtable *vt;
};

rag_status rag_generator_create(const rag_backend_config *cfg, const rag_models_env *env, rag_generator_t **out,
                                rag_err *err)
{
    if (!out || !cfg || !cfg->type)
        return rag_err_set(err, RAG_E_BAD_INPUT, "generator: NULL %s", !out ? "out" : "config or type");
    *out = NULL;
    const rag_generator_vtable *vt = find_generator(env, cfg->type);
    if (!vt)
        return rag_err_set(err, RAG_E_NOT_FOUND, "generator: no backend named '%s'", cfg->type);
    rag_generator_t *g = calloc(1, sizeof *g);
    if (!g)
        return rag_err_set(err, RAG_E_NOMEM, "generator %s: out of memory", cfg->type);
    rag_status st = handle_init(&g->h, "generator", cfg, env, true, err);
    if (st == RAG_OK && (st = vt->create(cfg, env, &g->h.ctx, err)) != RAG_OK)
        handle_fini(&g->h);
    if (st != RAG_OK) {
        if (err)
            rag_net_redact(err->msg, cfg->api_key);
        free(g);
        return st;
    }
    g->vt = vt;
    *out = g;
    return RAG_OK;
}

void rag_generator_free(rag_generator_t *g)
{
    if (!g)
        return;
    g->vt->destroy(g->h.ctx);
    handle_fini(&g->h);
    free(g);
}

/* Counts what a model streamed, so a failed model's text can be voided. */
typedef struct token_tap {
    rag_gen_token_fn fn;
    void *ud;
    size_t delivered;
} token_tap;

static void tap(void *ud, const char *text, size_t len)
{
    token_tap *t = ud;
    t->delivered += len;
    t->fn(t->ud, text, len);
}

/* A failure after which the next fallback model may succeed. */
static bool model_failed_for_good(rag_status st, const char *msg)
{
    switch (st) {
    case RAG_E_NOT_FOUND:
    case RAG_E_UPSTREAM:
    case RAG_E_RATE_LIMITED:
    case RAG_E_TIMEOUT:
    case RAG_E_IO:
    case RAG_E_CIRCUIT_OPEN:
    case RAG_E_TOO_LARGE:
        return true;
    case RAG_E_BAD_INPUT:
        return msg && strcasestr(msg, "not supported") != NULL;
    default:
        return false;
    }
}

rag_status rag_generator_generate(rag_generator_t *g, rag_models_request *rq, const rag_chat_message *msgs,
                                  size_t n, const rag_gen_params *p, rag_gen_token_fn on_token, void *ud,
                                  rag_gen_result *result, rag_call_stats *stats, rag_err *err)
{
    if (!g || !result || !msgs || n == 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "generate: %s",
                           !g ? "NULL generator" : !result ? "NULL result" : "no messages");
    memset(result, 0, sizeof *result);
    rag_call_stats local;
    if (!stats)
        stats = &local;
    stats_reset(stats);
    rag_err_clear(err);
    rag_gen_params ep = p ? *p : rag_gen_default_params();
    if (g->h.max_tokens > 0)
        ep.max_tokens = g->h.max_tokens;
    if (g->h.temperature >= 0)
        ep.temperature = g->h.temperature;
    double t0 = mdl_now(g->h.env);
    rag_status st = RAG_E_INTERNAL;
    rag_err e;
    rag_err_clear(&e);
    for (size_t i = 0; i < g->h.n_models; i++) {
        const char *model = g->h.models[i];
        rag_call_stats ms;
        stats_reset(&ms);
        rag_gen_result r;
        memset(&r, 0, sizeof r);
        token_tap tt = {on_token, ud, 0};
        rag_err_clear(&e);
        double t1 = mdl_now(g->h.env);
        st = g->vt->generate(g->h.ctx, rq, model, msgs, n, &ep, on_token && ep.stream ? tap : NULL, &tt, &r, &ms,
                             &e);
        rag_net_redact(e.msg, g->h.api_key);
        if (st != RAG_OK && !e.msg[0])
            rag_err_set(&e, st, "%s %s: %s", g->h.type, model, rag_status_str(st));
        stats->requests += ms.requests;
        stats->attempts += ms.attempts;
        stats->retries += ms.retries;
        if (ms.requests > 0) {
            stats->http_status = ms.http_status;
            memcpy(stats->request_id, ms.request_id, sizeof stats->request_id);
        }
        if (ms.provider[0])
            memcpy(stats->provider, ms.provider, sizeof stats->provider);
        stats->tokens_in += ms.tokens_in;
        stats->tokens_out += ms.tokens_out;
        stats->cost_usd += ms.cost_usd;
        stats->cost_known = stats->cost_known || ms.cost_known;
        add_try(stats, g->h.api_key, model, st, &e, mdl_now(g->h.env) - t1, ms.attempts, ms.http_status, ms.request_id);
        if (st == RAG_OK) {
            r.model_used = rag_strdup(model);
            rag_net_redact(r.model_used, g->h.api_key);
            if (!r.model_used) {
                rag_gen_result_free(&r);
                st = rag_err_set(&e, RAG_E_NOMEM, "%s %s: out of memory", g->h.type, model);
                break;
            }
            if (!ep.stream && on_token && r.text && r.text[0])
                on_token(ud, r.text, strlen(r.text));
            *result = r;
            stats->ms = mdl_now(g->h.env) - t0;
            return RAG_OK;
        }
        rag_gen_result_free(&r);
        if (tt.delivered > 0 && ep.on_discard)
            ep.on_discard(ud);
        if (i + 1 >= g->h.n_models || !model_failed_for_good(st, e.msg))
            break;
        rag_log(RAG_LOG_INFO, "%s: model %s failed (%s); trying fallback model %s", g->h.type, model,
                rag_status_str(st), g->h.models[i + 1]);
    }
    stats->ms = mdl_now(g->h.env) - t0;
    if (err) {
        if (stats->n_tries > 1)
            rag_err_set(err, st, "%s: %zu models failed; last: %s", g->h.type, stats->n_tries, e.msg);
        else
            *err = e;
        rag_net_redact(err->msg, g->h.api_key);
    }
    return st;
}
