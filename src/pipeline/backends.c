/* rag_backends: the model-backed stages of a process (net client, budget, price catalogue and the
 * embedder / reranker / generator chains), shared by every engine of the process. */
#include "pipeline_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rag_backends {
    rag_net_client *net;        /* owned; NULL when no chain has a remote member */
    rag_budget_t *budget;       /* owned */
    rag_price_catalog *catalog; /* owned */
    rag_cache *cache;           /* owned; NULL when disabled or no embedder / reranker is called */
    rag_models_env env;
    rag_embedder_chain *embedder;
    rag_reranker_chain *reranker;
    rag_generator_chain *generator;
    bool remote_embedder, remote_reranker, remote_generator;
};

static const rag_embedder_vtable *const LOCAL_EMBEDDERS[] = {&pipeline_local_embedder};
static const rag_reranker_vtable *const LOCAL_RERANKERS[] = {&pipeline_local_reranker};

/* True if a chain has a member that this process must call (not a built-in). */
static bool has_remote(const rag_backend_config *chain, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *t = chain[i].type;
        if (strcmp(t, "none") && strcmp(t, "extractive") && strcmp(t, "off"))
            return true;
    }
    return false;
}

rag_status rag_backends_create(const rag_config *cfg, rag_backends **out, rag_err *err)
{
    *out = NULL;
    rag_backends *b = calloc(1, sizeof *b);
    if (!b)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    b->remote_embedder = has_remote(cfg->embedder.chain, cfg->embedder.n_chain);
    b->remote_reranker = cfg->retriever.neural_reranking.enabled &&
                         has_remote(cfg->reranker.chain, cfg->reranker.n_chain);
    b->remote_generator = has_remote(cfg->answer_generator.chain, cfg->answer_generator.n_chain);
    rag_status st = RAG_OK;
    if (b->remote_embedder || b->remote_reranker || b->remote_generator) {
        rag_net_client_params np = rag_net_client_default_params();
        np.max_concurrent_requests = cfg->global_settings.max_concurrent_requests;
        np.default_timeout_ms = cfg->global_settings.request_timeout_ms;
        np.breaker.failure_threshold = cfg->global_settings.breaker_failures;
        np.breaker.cooldown_ms = cfg->global_settings.breaker_cooldown_ms;
        st = rag_net_client_create(&np, &b->net, err);
        rag_budget_params bp = rag_budget_params_from_config(cfg);
        if (st == RAG_OK)
            st = rag_budget_create(&bp, &b->budget, err);
        if (st == RAG_OK)
            st = rag_price_catalog_create(&b->catalog, err);
    }
    if (st == RAG_OK && cfg->cache.enabled && (b->remote_embedder || b->remote_reranker)) {
        /* The cache only saves work: when it cannot be opened, say so and run without it. */
        char *path = rag_cache_file(cfg);
        rag_cache_params cp = {path, (uint64_t)cfg->cache.max_mb * 1024 * 1024, false};
        rag_err cerr;
        if (!path)
            st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
        else if (rag_cache_open(&cp, &b->cache, &cerr) != RAG_OK)
            rag_log(RAG_LOG_WARN, "%s; running without the cache", cerr.msg);
        free(path);
    }
    if (st == RAG_OK) {
        b->env = rag_models_env_from_config(cfg, b->net, b->budget, b->catalog);
        b->env.cache = b->cache;
        b->env.embedders = LOCAL_EMBEDDERS;
        b->env.n_embedders = 1;
        b->env.rerankers = LOCAL_RERANKERS;
        b->env.n_rerankers = 1;
        st = rag_embedder_chain_from_config(cfg, &b->env, &b->embedder, err);
    }
    if (st == RAG_OK)
        st = rag_reranker_chain_from_config(cfg, &b->env, &b->reranker, err);
    if (st == RAG_OK)
        st = rag_generator_chain_from_config(cfg, &b->env, &b->generator, err);
    if (st != RAG_OK) {
        rag_backends_free(b);
        return st;
    }
    *out = b;
    return RAG_OK;
}

void rag_backends_free(rag_backends *b)
{
    if (!b)
        return;
    rag_generator_chain_free(b->generator);
    rag_reranker_chain_free(b->reranker);
    rag_embedder_chain_free(b->embedder);
    rag_price_catalog_free(b->catalog);
    rag_budget_free(b->budget);
    rag_net_client_free(b->net);
    rag_cache_close(b->cache);
    free(b);
}

rag_net_client *rag_backends_net(rag_backends *b)
{
    return b ? b->net : NULL;
}

rag_generator_chain *pipeline_generator_chain(rag_backends *b)
{
    return b && b->remote_generator ? b->generator : NULL;
}

rag_reranker_chain *pipeline_reranker_chain(rag_backends *b)
{
    return b && b->remote_reranker ? b->reranker : NULL;
}

rag_embedder_chain *pipeline_embedder_chain(rag_backends *b)
{
    return b && b->remote_embedder ? b->embedder : NULL;
}

char *rag_cache_file(const rag_config *cfg)
{
    if (cfg->cache.path && *cfg->cache.path)
        return rag_strdup(cfg->cache.path);
    const char *dir = cfg->global_settings.data_dir;
    size_t n = strlen(dir) + sizeof "/cache.db";
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/cache.db", dir);
    return p;
}

rag_cache *pipeline_cache(rag_backends *b)
{
    return b ? b->cache : NULL;
}
