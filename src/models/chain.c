/* Fallback chains: members tried in order, each failure recorded, built-ins reported to the
 * caller (RAG_E_UNSUPPORTED + served_by). */
#include "models/models_internal.h"

#include <stdlib.h>
#include <string.h>

typedef enum stage { STAGE_EMBED = 0, STAGE_RERANK = 1, STAGE_GEN = 2 } stage;

static const char *const stage_names[] = {"embedder", "reranker", "generator"};
static const char *const chain_keys[] = {"embedder.chain", "reranker.chain", "answer_generator.chain"};

/* Types the caller (pipeline) handles itself, unless a backend of that name is registered. */
static bool is_builtin(stage s, const char *type)
{
    switch (s) {
    case STAGE_EMBED: return !strcmp(type, "none") || !strcmp(type, "local");
    case STAGE_RERANK: return !strcmp(type, "local");
    default: return !strcmp(type, "extractive");
    }
}

typedef struct member {
    char *type;   /* owned */
    bool builtin;
    void *h;      /* rag_embedder_t / rag_reranker_t / rag_generator_t, NULL for a built-in */
} member;

typedef struct chain {
    stage st;
    member *m;
    size_t n;
    const rag_models_env *env; /* borrowed */
} chain;

struct rag_embedder_chain {
    chain c;
};
struct rag_reranker_chain {
    chain c;
};
struct rag_generator_chain {
    chain c;
};

static void chain_fini(chain *c)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->m[i].h) {
            if (c->st == STAGE_EMBED)
                rag_embedder_free(c->m[i].h);
            else if (c->st == STAGE_RERANK)
                rag_reranker_free(c->m[i].h);
            else
                rag_generator_free(c->m[i].h);
        }
        free(c->m[i].type);
    }
    free(c->m);
    memset(c, 0, sizeof *c);
}

static rag_status chain_init(chain *c, stage s, const rag_backend_config *members, size_t n,
                             const rag_models_env *env, rag_err *err)
{
    memset(c, 0, sizeof *c);
    c->st = s;
    c->env = env;
    if (n > 0 && !members)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: members is NULL", chain_keys[s]);
    if (n > RAG_CONFIG_MAX_CHAIN)
        return rag_err_set(err, RAG_E_CONFIG, "%s: %zu members (at most %d)", chain_keys[s], n, RAG_CONFIG_MAX_CHAIN);
    if (n == 0)
        return RAG_OK;
    c->m = calloc(n, sizeof *c->m);
    if (!c->m)
        return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", chain_keys[s]);
    for (size_t i = 0; i < n; i++) {
        const rag_backend_config *cfg = &members[i];
        c->n = i + 1;
        if (!cfg->type || !*cfg->type) {
            chain_fini(c);
            return rag_err_set(err, RAG_E_CONFIG, "%s[%zu]: missing type", chain_keys[s], i);
        }
        if (!(c->m[i].type = rag_strdup(cfg->type))) {
            chain_fini(c);
            return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", chain_keys[s]);
        }
        rag_status st = RAG_OK;
        if (mdl_registered(env, (int)s, cfg->type)) {
            if (s == STAGE_EMBED)
                st = rag_embedder_create(cfg, env, (rag_embedder_t **)&c->m[i].h, err);
            else if (s == STAGE_RERANK)
                st = rag_reranker_create(cfg, env, (rag_reranker_t **)&c->m[i].h, err);
            else
                st = rag_generator_create(cfg, env, (rag_generator_t **)&c->m[i].h, err);
            if (st != RAG_OK)
                rag_err_prefix(err, "%s[%zu] (%s): ", chain_keys[s], i, cfg->type);
        } else if (is_builtin(s, cfg->type)) {
            c->m[i].builtin = true;
        } else {
            st = rag_err_set(err, RAG_E_CONFIG, "%s[%zu]: unknown %s type '%.64s'", chain_keys[s], i, stage_names[s],
                             cfg->type);
        }
        if (st != RAG_OK) {
            chain_fini(c);
            return st;
        }
    }
    return RAG_OK;
}

/* Calls member handle h with the stage's arguments. */
typedef rag_status (*invoke_fn)(void *h, void *args, rag_call_stats *s, rag_err *err);

static rag_status chain_run(const chain *c, invoke_fn fn, void *args, rag_chain_report *report, rag_err *err)
{
    rag_chain_report local;
    if (!report) {
        rag_chain_report_init(&local);
        report = &local;
    } else {
        rag_chain_report_free(report); /* re-initialises */
    }
    report->stage = stage_names[c->st];
    rag_err_clear(err);
    if (c->n == 0) {
        if (report == &local)
            rag_chain_report_free(&local);
        return rag_err_set(err, RAG_E_EMPTY, "no %s configured (%s is empty)", stage_names[c->st], chain_keys[c->st]);
    }
    rag_call_stats *s = malloc(sizeof *s);
    if (!s)
        return rag_err_set(err, RAG_E_NOMEM, "%s chain: out of memory", stage_names[c->st]);
    double t0 = mdl_now(c->env);
    rag_status last = RAG_E_INTERNAL;
    rag_err e;
    rag_err_clear(&e);
    bool stopped = false;
    size_t i = 0;
    for (; i < c->n; i++) {
        const member *m = &c->m[i];
        rag_chain_member_report *mr = mdl_report_add(report, i, m->type);
        if (!mr) {
            last = rag_err_set(&e, RAG_E_NOMEM, "%s chain: out of memory for the report", stage_names[c->st]);
            stopped = true;
            break;
        }
        if (m->builtin) {
            mr->builtin = true;
            report->served = (int)(report->n_members - 1);
            report->served_by = rag_strdup(m->type);
            report->total_ms = mdl_now(c->env) - t0;
            rag_status fs = mdl_report_fill(mr, RAG_E_UNSUPPORTED, "built-in: served by the caller", NULL);
            free(s);
            if (report == &local)
                rag_chain_report_free(&local);
            else if (fs != RAG_OK || !report->served_by)
                return rag_err_set(err, RAG_E_NOMEM, "%s chain: out of memory for the report", stage_names[c->st]);
            return rag_err_set(err, RAG_E_UNSUPPORTED, "%s chain: member %zu is the built-in '%s' (run it)",
                               stage_names[c->st], i, m->type);
        }
        rag_err_clear(&e);
        rag_status st = fn(m->h, args, s, &e);
        if (st != RAG_OK && !e.msg[0])
            rag_err_set(&e, st, "%s: %s", m->type, rag_status_str(st));
        rag_status fs = mdl_report_fill(mr, st, e.msg, s);
        report->tokens_in += s->tokens_in;
        report->tokens_out += s->tokens_out;
        report->cost_usd += s->cost_usd;
        if (fs != RAG_OK) {
            last = rag_err_set(&e, RAG_E_NOMEM, "%s chain: out of memory for the report", stage_names[c->st]);
            stopped = true;
            break;
        }
        if (st == RAG_OK) {
            report->served = (int)i;
            report->served_by = rag_strdup(m->type);
            const char *model = s->n_tries > 0 ? s->tries[s->n_tries - 1].model : "";
            report->served_model = model[0] ? rag_strdup(model) : NULL;
            report->total_ms = mdl_now(c->env) - t0;
            bool oom = !report->served_by || (model[0] && !report->served_model);
            free(s);
            if (report == &local)
                rag_chain_report_free(&local);
            else if (oom)
                return rag_err_set(err, RAG_E_NOMEM, "%s chain: out of memory for the report", stage_names[c->st]);
            return RAG_OK;
        }
        last = st;
        if (st == RAG_E_CANCELLED || st == RAG_E_NOMEM) {
            stopped = true;
            break;
        }
        rag_log(RAG_LOG_INFO, "%s chain: member %zu (%s) failed: %s%s", stage_names[c->st], i, m->type, e.msg,
                i + 1 < c->n ? "; trying the next member" : "");
    }
    free(s);
    report->total_ms = mdl_now(c->env) - t0;
    if (stopped)
        rag_err_set(err, last, "%s chain stopped at member %zu: %s", stage_names[c->st], i, e.msg);
    else
        rag_err_set(err, last, "%s chain: all %zu members failed; last: %s", stage_names[c->st], c->n, e.msg);
    if (report == &local)
        rag_chain_report_free(&local);
    return last;
}

/* ---- embedder chain ---- */

rag_status rag_embedder_chain_create(const rag_backend_config *members, size_t n, const rag_models_env *env,
                                     rag_embedder_chain **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "embedder chain: out is NULL");
    *out = NULL;
    rag_embedder_chain *c = calloc(1, sizeof *c);
    if (!c)
        return rag_err_set(err, RAG_E_NOMEM, "embedder chain: out of memory");
    rag_status st = chain_init(&c->c, STAGE_EMBED, members, n, env, err);
    if (st != RAG_OK) {
        free(c);
        return st;
    }
    *out = c;
    return RAG_OK;
}

rag_status rag_embedder_chain_from_config(const rag_config *cfg, const rag_models_env *env,
                                          rag_embedder_chain **out, rag_err *err)
{
    if (!cfg)
        return rag_err_set(err, RAG_E_BAD_INPUT, "embedder chain: config is NULL");
    return rag_embedder_chain_create(cfg->embedder.chain, cfg->embedder.n_chain, env, out, err);
}

void rag_embedder_chain_free(rag_embedder_chain *c)
{
    if (!c)
        return;
    chain_fini(&c->c);
    free(c);
}

typedef struct embed_args {
    rag_models_request *rq;
    const char *const *texts;
    size_t n;
    float **vecs;
    int *dim;
} embed_args;

static rag_status invoke_embed(void *h, void *args, rag_call_stats *s, rag_err *err)
{
    embed_args *a = args;
    return rag_embedder_embed(h, a->rq, a->texts, a->n, a->vecs, a->dim, s, err);
}

rag_status rag_embedder_chain_embed(rag_embedder_chain *c, rag_models_request *rq, const char *const *texts,
                                    size_t n, float **vecs, int *dim, rag_chain_report *report, rag_err *err)
{
    if (vecs)
        *vecs = NULL;
    if (dim)
        *dim = 0;
    if (!c || !vecs || !dim || (n > 0 && !texts))
        return rag_err_set(err, RAG_E_BAD_INPUT, "embedder chain: NULL %s", !c ? "chain" : !texts ? "texts" : "output");
    embed_args a = {rq, texts, n, vecs, dim};
    return chain_run(&c->c, invoke_embed, &a, report, err);
}

/* ---- reranker chain ---- */

rag_status rag_reranker_chain_create(const rag_backend_config *members, size_t n, const rag_models_env *env,
                                     rag_reranker_chain **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "reranker chain: out is NULL");
    *out = NULL;
    rag_reranker_chain *c = calloc(1, sizeof *c);
    if (!c)
        return rag_err_set(err, RAG_E_NOMEM, "reranker chain: out of memory");
    rag_status st = chain_init(&c->c, STAGE_RERANK, members, n, env, err);
    if (st != RAG_OK) {
        free(c);
        return st;
    }
    *out = c;
    return RAG_OK;
}

rag_status rag_reranker_chain_from_config(const rag_config *cfg, const rag_models_env *env,
                                          rag_reranker_chain **out, rag_err *err)
{
    if (!cfg)
        return rag_err_set(err, RAG_E_BAD_INPUT, "reranker chain: config is NULL");
    size_t n = cfg->reranker.n_chain;
    rag_backend_config *m = n ? calloc(n, sizeof *m) : NULL;
    if (n && !m)
        return rag_err_set(err, RAG_E_NOMEM, "reranker chain: out of memory");
    for (size_t i = 0; i < n; i++) {
        m[i] = cfg->reranker.chain[i]; /* shallow: the members copy what they keep */
        if (!m[i].model && m[i].type && strcmp(m[i].type, "tei") != 0)
            m[i].model = cfg->retriever.neural_reranking.model;
        if (m[i].batch_size <= 0 && cfg->retriever.neural_reranking.batch_size > 0)
            m[i].batch_size = cfg->retriever.neural_reranking.batch_size;
    }
    rag_status st = rag_reranker_chain_create(m, n, env, out, err);
    free(m);
    return st;
}

void rag_reranker_chain_free(rag_reranker_chain *c)
{
    if (!c)
        return;
    chain_fini(&c->c);
    free(c);
}

typedef struct rerank_args {
    rag_models_request *rq;
    const char *query;
    const char *const *passages;
    size_t n;
    double *scores;
} rerank_args;

static rag_status invoke_rerank(void *h, void *args, rag_call_stats *s, rag_err *err)
{
    rerank_args *a = args;
    return rag_reranker_rerank(h, a->rq, a->query, a->passages, a->n, a->scores, s, err);
}

rag_status rag_reranker_chain_rerank(rag_reranker_chain *c, rag_models_request *rq, const char *query,
                                     const char *const *passages, size_t n, double *scores,
                                     rag_chain_report *report, rag_err *err)
{
    if (!c || !query || (n > 0 && (!passages || !scores)))
        return rag_err_set(err, RAG_E_BAD_INPUT, "reranker chain: NULL %s",
                           !c ? "chain" : !query ? "query" : !passages ? "passages" : "scores");
    rerank_args a = {rq, query, passages, n, scores};
    return chain_run(&c->c, invoke_rerank, &a, report, err);
}

/* ---- generator chain ---- */

rag_status rag_generator_chain_create(const rag_backend_config *members, size_t n, const rag_models_env *env,
                                      rag_generator_chain **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "generator chain: out is NULL");
    *out = NULL;
    rag_generator_chain *c = calloc(1, sizeof *c);
    if (!c)
        return rag_err_set(err, RAG_E_NOMEM, "generator chain: out of memory");
    rag_status st = chain_init(&c->c, STAGE_GEN, members, n, env, err);
    if (st != RAG_OK) {
        free(c);
        return st;
    }
    *out = c;
    return RAG_OK;
}

rag_status rag_generator_chain_from_config(const rag_config *cfg, const rag_models_env *env,
                                           rag_generator_chain **out, rag_err *err)
{
    if (!cfg)
        return rag_err_set(err, RAG_E_BAD_INPUT, "generator chain: config is NULL");
    return rag_generator_chain_create(cfg->answer_generator.chain, cfg->answer_generator.n_chain, env, out, err);
}

void rag_generator_chain_free(rag_generator_chain *c)
{
    if (!c)
        return;
    chain_fini(&c->c);
    free(c);
}

typedef struct gen_args {
    rag_models_request *rq;
    const rag_chat_message *msgs;
    size_t n;
    const rag_gen_params *p;
    rag_gen_token_fn on_token;
    void *ud;
    rag_gen_result *result;
} gen_args;

static rag_status invoke_gen(void *h, void *args, rag_call_stats *s, rag_err *err)
{
    gen_args *a = args;
    return rag_generator_generate(h, a->rq, a->msgs, a->n, a->p, a->on_token, a->ud, a->result, s, err);
}

rag_status rag_generator_chain_generate(rag_generator_chain *c, rag_models_request *rq,
                                        const rag_chat_message *msgs, size_t n, const rag_gen_params *p,
                                        rag_gen_token_fn on_token, void *ud, rag_gen_result *result,
                                        rag_chain_report *report, rag_err *err)
{
    if (!c || !result || !msgs || n == 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "generator chain: %s",
                           !c ? "NULL chain" : !result ? "NULL result" : "no messages");
    memset(result, 0, sizeof *result);
    gen_args a = {rq, msgs, n, p, on_token, ud, result};
    return chain_run(&c->c, invoke_gen, &a, report, err);
}
