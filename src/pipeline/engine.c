/* rag_engine: owns the store and the analyzer for one configuration. */
#include "pipeline_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rag_engine_params rag_engine_default_params(void)
{
    rag_engine_params p = {.store_path = NULL, .read_only = false, .backends = NULL};
    return p;
}

void rag_index_settings_str(const rag_config *cfg, char *buf, size_t cap)
{
    snprintf(buf, cap, "stemmer=%s stopwords=%s chunk_size=%d chunk_overlap=%d",
             rag_config_stemmer_str(cfg->retriever.bm25.stemmer),
             rag_config_stopwords_str(cfg->retriever.bm25.stopwords),
             cfg->document_processor.chunk_size, cfg->document_processor.chunk_overlap);
}

/* The index is only valid for the analyzer and chunker settings it was built with: a store
 * remembers them, and a configuration that differs is refused with the way out. */
static rag_status check_index_settings(rag_engine *e, bool read_only, rag_err *err)
{
    char want[256];
    rag_index_settings_str(e->cfg, want, sizeof want);
    char *have = NULL;
    rag_status st = rag_store_meta_get(e->store, "index_settings", &have, NULL);
    if (st == RAG_E_NOT_FOUND || (st == RAG_OK && !have)) {
        free(have);
        return read_only ? RAG_OK : rag_store_meta_set(e->store, "index_settings", want, err);
    }
    if (st != RAG_OK)
        return rag_err_set(err, st, "%s: cannot read the index settings", e->store_path);
    if (strcmp(have, want) != 0)
        st = rag_err_set(err, RAG_E_CONFIG,
                         "%s was indexed with %s but the configuration says %s: use another --data-dir "
                         "(or delete the store and ingest again)",
                         e->store_path, have, want);
    free(have);
    return st;
}

rag_status rag_engine_open(const rag_config *cfg, const rag_engine_params *p, rag_engine **out, rag_err *err)
{
    *out = NULL;
    rag_engine_params dp = rag_engine_default_params();
    if (!p)
        p = &dp;
    rag_engine *e = calloc(1, sizeof *e);
    if (!e)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    e->cfg = cfg;
    if (p->store_path) {
        e->store_path = rag_strdup(p->store_path);
    } else {
        rag_buf b;
        rag_buf_init(&b, 4096);
        if (rag_buf_appendf(&b, "%s/ragc.db", cfg->global_settings.data_dir) != RAG_OK) {
            rag_buf_free(&b);
            free(e);
            return rag_err_set(err, RAG_E_CONFIG, "global_settings.data_dir is too long");
        }
        e->store_path = rag_buf_steal(&b);
    }
    if (!e->store_path) {
        free(e);
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    }
    rag_store_params sp = rag_store_default_params();
    sp.read_only = p->read_only;
    rag_status st = rag_store_open(e->store_path, &sp, &e->store, err);
    if (st != RAG_OK) {
        rag_engine_close(e);
        return st;
    }
    rag_analyzer_params ap = rag_analyzer_default_params();
    ap.stemmer = rag_config_stemmer_str(cfg->retriever.bm25.stemmer);
    ap.stopwords = rag_config_stopwords_str(cfg->retriever.bm25.stopwords);
    st = rag_analyzer_create(&ap, &e->analyzer, err);
    if (st != RAG_OK) {
        rag_engine_close(e);
        return st;
    }
    st = check_index_settings(e, p->read_only, err);
    if (st != RAG_OK) {
        rag_engine_close(e);
        return st;
    }
    if (p->backends) {
        e->backends = p->backends;
    } else {
        st = rag_backends_create(cfg, &e->backends, err);
        if (st != RAG_OK) {
            rag_engine_close(e);
            return st;
        }
        e->owns_backends = true;
    }
    e->bm25 = rag_bm25_default_params();
    e->bm25.k1 = cfg->retriever.bm25.k1;
    e->bm25.b = cfg->retriever.bm25.b;
    *out = e;
    return RAG_OK;
}

void rag_engine_close(rag_engine *e)
{
    if (!e)
        return;
    if (e->owns_backends)
        rag_backends_free(e->backends);
    rag_dense_index_free(e->dense);
    rag_analyzer_free(e->analyzer);
    rag_store_close(e->store);
    free(e->store_path);
    free(e);
}

rag_store *rag_engine_store(rag_engine *e)
{
    return e->store;
}

const char *rag_engine_store_path(const rag_engine *e)
{
    return e->store_path;
}
