/* BEIR evaluation run: ingest the corpus, retrieve for each judged query, score with trec_eval's
 * definitions (src/eval). */
#include "pipeline_internal.h"

#include <stdlib.h>
#include <string.h>

rag_beir_params rag_beir_default_params(void)
{
    rag_beir_params p;
    memset(&p, 0, sizeof p);
    p.depth = 100;
    return p;
}

void rag_beir_report_clear(rag_beir_report *r)
{
    if (!r)
        return;
    rag_eval_result_free(&r->metrics);
    memset(r, 0, sizeof *r);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Adds the best-scoring chunk of each of the first depth documents of res to the run. */
static rag_status add_ranking(rag_eval_run *run, const char *qid, const rag_search_result *res, size_t depth,
                              rag_err *err)
{
    size_t added = 0;
    for (size_t i = 0; i < res->n_hits && added < depth; i++) {
        const rag_doc_record *d = &res->hits[i].doc;
        bool seen = false; /* hits are best first: a document's first hit is its best chunk */
        for (size_t j = 0; j < i && !seen; j++)
            seen = res->hits[j].doc.id == d->id;
        if (seen)
            continue;
        rag_status st = rag_eval_run_add(run, qid, d->ext_id ? d->ext_id : d->source, res->hits[i].score, err);
        if (st != RAG_OK)
            return st;
        added++;
    }
    return RAG_OK;
}

rag_status rag_beir_eval(rag_engine *e, const rag_beir_params *p, const rag_ingest_params *ip,
                         rag_beir_report *out, rag_err *err)
{
    memset(out, 0, sizeof *out);
    rag_queries *queries = NULL;
    rag_qrels *qrels = NULL;
    rag_eval_run *run = NULL;
    double *times = NULL;
    size_t depth = p->depth ? p->depth : 100;

    /* Load the small files first so a typo fails before a long ingest. */
    rag_status st = rag_queries_load(p->queries_path, &queries, err);
    if (st == RAG_OK)
        st = rag_qrels_load(p->qrels_path, &qrels, err);
    if (st == RAG_OK)
        st = rag_ingest_paths(e, &p->corpus_path, 1, ip, &out->ingest, err);
    if (st == RAG_OK && out->ingest.cancelled)
        st = rag_err_set(err, RAG_E_CANCELLED, "interrupted while ingesting %s", p->corpus_path);
    if (st == RAG_OK)
        st = rag_eval_run_create(&run);
    size_t nq = qrels ? rag_qrels_n_queries(qrels) : 0;
    if (st == RAG_OK && nq) {
        times = calloc(nq, sizeof *times);
        if (!times)
            st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
    }
    size_t n_timed = 0;
    for (size_t i = 0; st == RAG_OK && i < nq; i++) {
        if (ip && ip->cancel && *ip->cancel) {
            st = rag_err_set(err, RAG_E_CANCELLED, "interrupted");
            break;
        }
        const char *qid = rag_qrels_query_id(qrels, i);
        if (rag_qrels_n_relevant(qrels, qid) == 0)
            continue;
        const char *text = NULL;
        for (size_t j = 0; j < rag_queries_count(queries) && !text; j++)
            if (strcmp(rag_queries_id(queries, j), qid) == 0)
                text = rag_queries_text(queries, j);
        if (!text) {
            out->queries_without_text++;
            continue;
        }
        rag_search_result res;
        /* Twice the depth in chunks, so documents split into several chunks still fill it. */
        st = rag_search(e, text, depth * 2, &res, err);
        if (st != RAG_OK)
            break;
        times[n_timed++] = res.ms;
        st = add_ranking(run, qid, &res, depth, err);
        rag_search_result_clear(&res);
        if (p->on_query)
            p->on_query(p->ud, i + 1, nq);
    }
    if (st == RAG_OK)
        st = rag_eval_run_compute(run, qrels, &out->metrics, err);
    if (st == RAG_OK && n_timed) {
        qsort(times, n_timed, sizeof *times, cmp_double);
        out->query_ms_p50 = times[n_timed / 2];
        size_t i99 = (size_t)((double)n_timed * 0.99);
        out->query_ms_p99 = times[i99 < n_timed ? i99 : n_timed - 1];
    }
    free(times);
    rag_eval_run_free(run);
    rag_qrels_free(qrels);
    rag_queries_free(queries);
    if (st != RAG_OK)
        rag_beir_report_clear(out);
    return st;
}
