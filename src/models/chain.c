/* Fallback chains: members tried in order, each failure recorded, built-ins reported to the
 * caller (RAG_E_UNSUPPORTED + served_by). Embedder and reranker members sit behind the content
 * cache (env->cache) when there is one. */
#include "models/models_internal.h"

#include <pthread.h>
#include <stdio.h>
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
    char *model;  /* owned: config model ("" when unset) */
    char *config_id; /* owned: "type|base_url|model|normalize", the configured part of the cache identity */
    char *identity;  /* owned, set once under chain.mu: config_id + "|" + the backend's revision */
    double identity_failed_at; /* when the revision could not be read (0 = never): the member is
                                  not cached, and the revision is read again after
                                  IDENTITY_RETRY_MS (a local model downloaded later) */
    char served_label[sizeof(((rag_model_try *)0)->model)]; /* under chain.mu: the model name the
                                  backend reported for its last computed call (e.g. a local
                                  model's " [int8]"), so calls served from the cache say the same */
} member;

typedef struct chain {
    stage st;
    member *m;
    size_t n;
    const rag_models_env *env; /* borrowed */
    pthread_mutex_t mu;        /* guards member.identity / identity_failed_at */
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
        free(c->m[i].model);
        free(c->m[i].config_id);
        free(c->m[i].identity);
    }
    free(c->m);
    pthread_mutex_destroy(&c->mu);
    memset(c, 0, sizeof *c);
}

static rag_status chain_init(chain *c, stage s, const rag_backend_config *members, size_t n,
                             const rag_models_env *env, rag_err *err)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
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
        char idbuf[2048];
        snprintf(idbuf, sizeof idbuf, "%s|%s|%s|%d", cfg->type, cfg->base_url ? cfg->base_url : "",
                 cfg->model ? cfg->model : "", cfg->normalize);
        if (!(c->m[i].type = rag_strdup(cfg->type)) || !(c->m[i].model = rag_strdup(cfg->model ? cfg->model : "")) ||
            !(c->m[i].config_id = rag_strdup(idbuf))) {
            chain_fini(c);
            return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", chain_keys[s]);
        }
        /* Until a computed call names it, a cached call names the model as the backend will: a
         * local model in int8 carries " [int8]" (src/pipeline/local_backends.c). */
        if (cfg->model && !strcmp(cfg->type, "local") && cfg->precision == 1)
            snprintf(c->m[i].served_label, sizeof c->m[i].served_label, "%s [int8]", cfg->model);
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

/* Calls member m with the stage's arguments; may record cache hits / misses in mr. */
typedef rag_status (*invoke_fn)(chain *c, member *m, void *args, rag_call_stats *s, rag_chain_member_report *mr,
                                rag_err *err);

static rag_status chain_run(chain *c, invoke_fn fn, void *args, rag_chain_report *report, rag_err *err)
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
        member *m = &c->m[i];
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
        rag_status st = fn(c, m, args, s, mr, &e);
        if (st != RAG_OK && !e.msg[0])
            rag_err_set(&e, st, "%s: %s", m->type, rag_status_str(st));
        rag_status fs = mdl_report_fill(mr, st, e.msg, s);
        report->cache_hits += mr->cache_hits;
        report->cache_misses += mr->cache_misses;
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

/* ---- content cache ---- */

#define IDENTITY_RETRY_MS 60000.0

/* The cache identity of m (config + backend revision), or NULL when m is not cached (no cache,
 * or its revision could not be read: logged once, read again after IDENTITY_RETRY_MS). */
static const char *member_identity(chain *c, member *m)
{
    if (!c->env || !c->env->cache || c->st == STAGE_GEN)
        return NULL;
    pthread_mutex_lock(&c->mu);
    double now = mdl_now(c->env);
    if (!m->identity && (m->identity_failed_at == 0 || now - m->identity_failed_at >= IDENTITY_RETRY_MS)) {
        bool first = m->identity_failed_at == 0;
        char rev[512] = "";
        rag_err e;
        rag_err_clear(&e);
        rag_status st = c->st == STAGE_EMBED ? rag_embedder_revision(m->h, rev, sizeof rev, &e)
                                             : rag_reranker_revision(m->h, rev, sizeof rev, &e);
        size_t n = strlen(m->config_id) + strlen(rev) + 2;
        if (st == RAG_OK && (m->identity = malloc(n)) != NULL) {
            snprintf(m->identity, n, "%s|%s", m->config_id, rev);
        } else {
            m->identity_failed_at = now > 0 ? now : 1;
            if (first) /* the member's own call reports the same problem, if it has one */
                rag_log(RAG_LOG_INFO, "%s: %s results are not cached for now: %s", chain_keys[c->st], m->type,
                        st != RAG_OK ? e.msg : "out of memory");
        }
    }
    const char *id = m->identity;
    pthread_mutex_unlock(&c->mu);
    return id;
}

/* Remembers the model name a successful computed call of m reported (see member.served_label). */
static void remember_label(chain *c, member *m, rag_status st, const rag_call_stats *s)
{
    if (st != RAG_OK || s->n_tries == 0)
        return;
    pthread_mutex_lock(&c->mu);
    snprintf(m->served_label, sizeof m->served_label, "%s", s->tries[s->n_tries - 1].model);
    pthread_mutex_unlock(&c->mu);
}

/* Stats of a member call answered wholly from the cache: no request, one "try" naming the model
 * (as the member's last computed call named it, else as configured). */
static void stats_from_cache(chain *c, rag_call_stats *s, const member *m)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&c->mu);
    snprintf(s->tries[0].model, sizeof s->tries[0].model, "%s", m->served_label[0] ? m->served_label : m->model);
    pthread_mutex_unlock(&c->mu);
    s->tries[0].status = RAG_OK;
    s->n_tries = 1;
}

/* Scratch of one cached call: keys, lookup results and the inputs to compute. */
typedef struct cache_batch {
    rag_cache_key *keys;
    bool *hit;
    void **vals;
    size_t *lens;
    size_t *miss;     /* indices of the inputs not found */
    size_t n, n_miss;
} cache_batch;

static void batch_free(cache_batch *b)
{
    for (size_t i = 0; b->vals && i < b->n; i++)
        free(b->vals[i]);
    free(b->keys);
    free(b->hit);
    free(b->vals);
    free(b->lens);
    free(b->miss);
    memset(b, 0, sizeof *b);
}

/* Forgets every hit (values of another shape than the member now returns). */
static void batch_drop_hits(cache_batch *b)
{
    b->n_miss = 0;
    for (size_t i = 0; i < b->n; i++) {
        free(b->vals[i]);
        b->vals[i] = NULL;
        b->hit[i] = false;
        b->miss[b->n_miss++] = i;
    }
}

/* Looks the n inputs up; key i is key_of(i). Hits whose value is not value_len bytes (0: any
 * length that is a multiple of 4, the same for all) are dropped. A cache error counts as all
 * misses. RAG_E_NOMEM only. */
static rag_status batch_lookup(rag_cache *cache, rag_cache_kind kind, const char *id, const char *pair_query,
                               const char *const *inputs, size_t n, size_t value_len, cache_batch *b)
{
    memset(b, 0, sizeof *b);
    b->n = n;
    b->keys = malloc(n * sizeof *b->keys);
    b->hit = calloc(n, sizeof *b->hit);
    b->vals = calloc(n, sizeof *b->vals);
    b->lens = calloc(n, sizeof *b->lens);
    b->miss = malloc(n * sizeof *b->miss);
    if (!b->keys || !b->hit || !b->vals || !b->lens || !b->miss) {
        batch_free(b);
        return RAG_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        b->keys[i] = pair_query ? rag_cache_key_of(kind, id, pair_query, inputs[i])
                                : rag_cache_key_of(kind, id, inputs[i], NULL);
    rag_err e;
    rag_err_clear(&e);
    if (rag_cache_get(cache, kind, b->keys, n, b->hit, b->vals, b->lens, &e) != RAG_OK)
        rag_log(RAG_LOG_WARN, "%s (carrying on without it)", e.msg);
    size_t want = value_len;
    bool consistent = true;
    for (size_t i = 0; i < n; i++) {
        if (!b->hit[i])
            continue;
        if (!want && b->lens[i] % sizeof(float) == 0)
            want = b->lens[i];
        if (b->lens[i] != want)
            consistent = false;
    }
    if (!consistent) {
        batch_drop_hits(b);
        return RAG_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (!b->hit[i])
            b->miss[b->n_miss++] = i;
    return RAG_OK;
}

/* Stores values[j] (len bytes each) of the inputs b->miss[j]; errors are logged. */
static void batch_store(rag_cache *cache, rag_cache_kind kind, const cache_batch *b, const char *values, size_t len)
{
    if (b->n_miss == 0)
        return;
    rag_cache_key *keys = malloc(b->n_miss * sizeof *keys);
    const void **vals = malloc(b->n_miss * sizeof *vals);
    size_t *lens = malloc(b->n_miss * sizeof *lens);
    rag_err e;
    if (keys && vals && lens) {
        for (size_t j = 0; j < b->n_miss; j++) {
            keys[j] = b->keys[b->miss[j]];
            vals[j] = values + j * len;
            lens[j] = len;
        }
        if (rag_cache_put(cache, kind, keys, vals, lens, b->n_miss, &e) != RAG_OK)
            rag_log(RAG_LOG_WARN, "%s (result not cached)", e.msg);
    }
    free(keys);
    free(vals);
    free(lens);
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

/* Embeds the inputs of b not found in the cache (all of them when b is NULL). */
static rag_status embed_missing(member *m, embed_args *a, const cache_batch *b, float **vecs, int *dim,
                                rag_call_stats *s, rag_err *err)
{
    if (!b)
        return rag_embedder_embed(m->h, a->rq, a->texts, a->n, vecs, dim, s, err);
    const char **texts = malloc(b->n_miss * sizeof *texts);
    if (!texts)
        return rag_err_set(err, RAG_E_NOMEM, "embedder chain: out of memory");
    for (size_t j = 0; j < b->n_miss; j++)
        texts[j] = a->texts[b->miss[j]];
    rag_status st = rag_embedder_embed(m->h, a->rq, texts, b->n_miss, vecs, dim, s, err);
    free(texts);
    return st;
}

static rag_status invoke_embed(chain *c, member *m, void *args, rag_call_stats *s, rag_chain_member_report *mr,
                               rag_err *err)
{
    embed_args *a = args;
    const char *id = a->n ? member_identity(c, m) : NULL;
    if (!id)
        return embed_missing(m, a, NULL, a->vecs, a->dim, s, err);
    rag_cache *cache = c->env->cache;
    cache_batch b;
    if (batch_lookup(cache, RAG_CACHE_EMBEDDING, id, NULL, a->texts, a->n, 0, &b) != RAG_OK)
        return rag_err_set(err, RAG_E_NOMEM, "embedder chain: out of memory");
    size_t cached_len = 0;
    for (size_t i = 0; i < b.n && !cached_len; i++)
        if (b.hit[i])
            cached_len = b.lens[i];
    float *fresh = NULL;
    int fdim = 0;
    rag_status st = RAG_OK;
    if (b.n_miss == 0) {
        stats_from_cache(c, s, m);
        fdim = (int)(cached_len / sizeof(float));
    } else {
        st = embed_missing(m, a, &b, &fresh, &fdim, s, err);
        if (st == RAG_OK && cached_len && (size_t)fdim * sizeof(float) != cached_len) {
            /* The cached vectors have another dimension than the model gives now: recompute all. */
            rag_log(RAG_LOG_WARN, "embedder %s: cached vectors have %zu dimensions, the model gives %d; "
                    "recomputing", m->type, cached_len / sizeof(float), fdim);
            free(fresh);
            fresh = NULL;
            batch_drop_hits(&b);
            st = embed_missing(m, a, &b, &fresh, &fdim, s, err);
        }
        remember_label(c, m, st, s);
    }
    float *out = NULL;
    if (st == RAG_OK && fdim > 0 && !(out = malloc(a->n * (size_t)fdim * sizeof *out)))
        st = rag_err_set(err, RAG_E_NOMEM, "embedder chain: out of memory");
    if (st == RAG_OK && fdim <= 0)
        st = rag_err_set(err, RAG_E_UPSTREAM, "embedder %s: no vectors returned", m->type);
    if (st == RAG_OK) {
        size_t d = (size_t)fdim, j = 0;
        for (size_t i = 0; i < a->n; i++) {
            if (b.hit[i])
                memcpy(out + i * d, b.vals[i], d * sizeof *out);
            else
                memcpy(out + i * d, fresh + (j++) * d, d * sizeof *out);
        }
        batch_store(cache, RAG_CACHE_EMBEDDING, &b, (const char *)fresh, d * sizeof *out);
        *a->vecs = out;
        *a->dim = fdim;
    }
    mr->cache_hits = b.n - b.n_miss;
    mr->cache_misses = b.n_miss;
    free(fresh);
    batch_free(&b);
    return st;
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

static rag_status invoke_rerank(chain *c, member *m, void *args, rag_call_stats *s, rag_chain_member_report *mr,
                                rag_err *err)
{
    rerank_args *a = args;
    const char *id = a->n ? member_identity(c, m) : NULL;
    if (!id)
        return rag_reranker_rerank(m->h, a->rq, a->query, a->passages, a->n, a->scores, s, err);
    rag_cache *cache = c->env->cache;
    cache_batch b;
    if (batch_lookup(cache, RAG_CACHE_RERANK, id, a->query, a->passages, a->n, sizeof(double), &b) != RAG_OK)
        return rag_err_set(err, RAG_E_NOMEM, "reranker chain: out of memory");
    rag_status st = RAG_OK;
    double *fresh = NULL;
    const char **passages = NULL;
    if (b.n_miss == 0) {
        stats_from_cache(c, s, m);
    } else if (!(fresh = malloc(b.n_miss * sizeof *fresh)) || !(passages = malloc(b.n_miss * sizeof *passages))) {
        st = rag_err_set(err, RAG_E_NOMEM, "reranker chain: out of memory");
    } else {
        for (size_t j = 0; j < b.n_miss; j++)
            passages[j] = a->passages[b.miss[j]];
        st = rag_reranker_rerank(m->h, a->rq, a->query, passages, b.n_miss, fresh, s, err);
        remember_label(c, m, st, s);
    }
    if (st == RAG_OK) {
        size_t j = 0;
        for (size_t i = 0; i < a->n; i++) {
            if (b.hit[i])
                memcpy(&a->scores[i], b.vals[i], sizeof(double));
            else
                a->scores[i] = fresh[j++];
        }
        batch_store(cache, RAG_CACHE_RERANK, &b, (const char *)fresh, sizeof(double));
    }
    mr->cache_hits = b.n - b.n_miss;
    mr->cache_misses = b.n_miss;
    free(fresh);
    free(passages);
    batch_free(&b);
    return st;
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

static rag_status invoke_gen(chain *c, member *m, void *args, rag_call_stats *s, rag_chain_member_report *mr,
                             rag_err *err)
{
    (void)c;
    (void)mr;
    gen_args *a = args;
    return rag_generator_generate(m->h, a->rq, a->msgs, a->n, a->p, a->on_token, a->ud, a->result, s, err);
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
