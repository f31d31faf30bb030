/* Query analysis and BM25 retrieval of chunks with their documents. */
#include "pipeline_internal.h"

#include <stdlib.h>
#include <string.h>

/* Cap on query terms: a question longer than this is cut (the first terms are kept). */
#define MAX_QUERY_TERMS 1024

typedef struct term_list {
    char **terms;
    size_t n, cap;
    rag_status st;
} term_list;

static void collect_term(void *ud, const char *term, size_t len)
{
    term_list *l = ud;
    if (l->st != RAG_OK || l->n >= MAX_QUERY_TERMS)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **t = realloc(l->terms, cap * sizeof *t);
        if (!t) {
            l->st = RAG_E_NOMEM;
            return;
        }
        l->terms = t;
        l->cap = cap;
    }
    char *s = rag_strndup(term, len);
    if (!s) {
        l->st = RAG_E_NOMEM;
        return;
    }
    l->terms[l->n++] = s;
}

rag_status pipeline_query_terms(rag_engine *e, const char *text, char ***terms, size_t *n, rag_err *err)
{
    term_list l = {0};
    rag_status st = rag_analyzer_run(e->analyzer, text, strlen(text), collect_term, &l);
    if (st == RAG_OK)
        st = l.st;
    if (st != RAG_OK) {
        pipeline_query_terms_free(l.terms, l.n);
        return rag_err_set(err, st, "analyzing query: %s", rag_status_str(st));
    }
    *terms = l.terms;
    *n = l.n;
    return RAG_OK;
}

void pipeline_query_terms_free(char **terms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(terms[i]);
    free(terms);
}

int rag_chunk_page_at(const rag_chunk_record *chunk, size_t offset)
{
    int page = chunk->page_start;
    const char *p = chunk->page_map;
    while (p && *p) {
        char *end;
        unsigned long long off = strtoull(p, &end, 10);
        if (end == p || *end != ':')
            break; /* malformed map: keep what was read (the store writes it, so never expected) */
        long pg = strtol(end + 1, &end, 10);
        if (off > offset)
            break;
        page = (int)pg;
        p = *end == ' ' ? end + 1 : end;
    }
    return page;
}

void rag_search_result_clear(rag_search_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_hits; i++) {
        rag_chunk_record_clear(&r->hits[i].chunk);
        rag_doc_record_clear(&r->hits[i].doc);
    }
    free(r->hits);
    memset(r, 0, sizeof *r);
}

rag_status pipeline_load_hits(rag_engine *e, const int64_t *chunk_ids, const double *scores, size_t n,
                              rag_search_result *out, rag_err *err)
{
    rag_status st = RAG_OK;
    if (n > 0) {
        out->hits = calloc(n, sizeof *out->hits);
        if (!out->hits)
            return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; st == RAG_OK && i < n; i++) {
        rag_search_hit *h = &out->hits[i];
        h->score = scores[i];
        st = rag_store_chunk_get(e->store, chunk_ids[i], &h->chunk, err);
        if (st == RAG_OK) {
            out->n_hits = i + 1;
            st = rag_store_doc_get(e->store, h->chunk.doc_id, &h->doc, err);
        }
    }
    if (st != RAG_OK)
        rag_search_result_clear(out);
    return st;
}

rag_status pipeline_bm25_ids(rag_engine *e, const char *const *terms, size_t n_terms, size_t k, int64_t **ids,
                             double **scores, size_t *n, rag_err *err)
{
    *ids = NULL;
    *scores = NULL;
    *n = 0;
    if (k == 0 || n_terms == 0)
        return RAG_OK;
    if (k > 10000)
        k = 10000;
    rag_bm25_hit *bh = calloc(k, sizeof *bh);
    if (!bh)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    size_t n_hits = 0;
    rag_status st = rag_bm25_search(e->store, &e->bm25, terms, n_terms, k, bh, &n_hits, err);
    if (st == RAG_OK && n_hits) {
        *ids = malloc(n_hits * sizeof **ids);
        *scores = malloc(n_hits * sizeof **scores);
        if (!*ids || !*scores) {
            free(*ids);
            free(*scores);
            *ids = NULL;
            *scores = NULL;
            st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
        }
    }
    for (size_t i = 0; st == RAG_OK && i < n_hits; i++) {
        (*ids)[i] = bh[i].chunk_id;
        (*scores)[i] = bh[i].score;
    }
    if (st == RAG_OK)
        *n = n_hits;
    free(bh);
    return st;
}

rag_status pipeline_search_terms(rag_engine *e, const char *const *terms, size_t n_terms, size_t k,
                                 rag_search_result *out, rag_err *err)
{
    memset(out, 0, sizeof *out);
    double t0 = rag_now_ms();
    int64_t *ids = NULL;
    double *scores = NULL;
    size_t n = 0;
    rag_status st = pipeline_bm25_ids(e, terms, n_terms, k, &ids, &scores, &n, err);
    if (st == RAG_OK)
        st = pipeline_load_hits(e, ids, scores, n, out, err);
    free(ids);
    free(scores);
    out->ms = rag_now_ms() - t0;
    return st;
}

rag_status rag_search(rag_engine *e, const char *query, size_t k, rag_search_result *out, rag_err *err)
{
    memset(out, 0, sizeof *out);
    double t0 = rag_now_ms();
    char **terms = NULL;
    size_t n_terms = 0;
    rag_status st = pipeline_query_terms(e, query, &terms, &n_terms, err);
    if (st != RAG_OK)
        return st;
    st = pipeline_search_terms(e, (const char *const *)terms, n_terms, k, out, err);
    pipeline_query_terms_free(terms, n_terms);
    out->ms = rag_now_ms() - t0;
    return st;
}
