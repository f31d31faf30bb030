/* Runs and the trec_eval metrics nDCG@10 (ndcg_cut.10), Recall@100 (recall.100) and MRR@10
 * (recip_rank within the top 10); see include/ragc/eval.h for the exact definitions. */
#include "eval/eval_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/eval.h"

#define NDCG_CUT 10
#define RECALL_CUT 100
#define MRR_CUT 10

/* log2(r + 1) for ranks r = 1..10, i.e. LOG2_RANK[i] = log2(i + 2): the correctly rounded values
 * libm's log2 returns for these integers (written out so the module needs no libm). */
static const double LOG2_RANK[NDCG_CUT] = {
    0x1p+0,                /* log2(2) */
    0x1.95c01a39fbd68p+0,  /* log2(3) */
    0x1p+1,                /* log2(4) */
    0x1.2934f0979a371p+1,  /* log2(5) */
    0x1.4ae00d1cfdeb4p+1,  /* log2(6) */
    0x1.675767f54042dp+1,  /* log2(7) */
    0x1.8p+1,              /* log2(8) */
    0x1.95c01a39fbd68p+1,  /* log2(9) */
    0x1.a934f0979a371p+1,  /* log2(10) */
    0x1.bacea7c065d42p+1,  /* log2(11) */
};

typedef struct run_entry {
    char *doc;
    double score;
} run_entry;

typedef struct run_query {
    char *id;
    run_entry *e; /* in the order added */
    size_t n, cap;
} run_query;

struct rag_eval_run {
    run_query *q;
    size_t n_q, cap_q;
    emap qmap; /* ns 0: query id -> index into q */
};

rag_status rag_eval_run_create(rag_eval_run **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return RAG_E_NOMEM;
    emap_init(&(*out)->qmap);
    return RAG_OK;
}

void rag_eval_run_free(rag_eval_run *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_q; i++) {
        for (size_t k = 0; k < r->q[i].n; k++)
            free(r->q[i].e[k].doc);
        free(r->q[i].e);
        free(r->q[i].id);
    }
    free(r->q);
    emap_free(&r->qmap);
    free(r);
}

rag_status rag_eval_run_add(rag_eval_run *r, const char *query_id, const char *doc_id, double score, rag_err *err)
{
    rag_status st;
    if ((st = eval_check_id("query id", query_id, err)) != RAG_OK || (st = eval_check_id("doc id", doc_id, err)) != RAG_OK)
        return st;
    if (isnan(score))
        return rag_err_set(err, RAG_E_BAD_INPUT, "query '%s', doc '%s': score is NaN", query_id, doc_id);
    size_t qi;
    if (!emap_get(&r->qmap, 0, query_id, &qi)) {
        if (!eval_grow((void **)&r->q, &r->cap_q, r->n_q + 1, sizeof *r->q))
            return rag_err_set(err, RAG_E_NOMEM, "out of memory");
        run_query *nq = &r->q[r->n_q];
        memset(nq, 0, sizeof *nq);
        if (!(nq->id = rag_strdup(query_id)) || emap_put(&r->qmap, 0, nq->id, r->n_q) != RAG_OK) {
            free(nq->id);
            return rag_err_set(err, RAG_E_NOMEM, "out of memory");
        }
        qi = r->n_q++;
    }
    run_query *q = &r->q[qi];
    if (!eval_grow((void **)&q->e, &q->cap, q->n + 1, sizeof *q->e))
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    if (!(q->e[q->n].doc = rag_strdup(doc_id)))
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    q->e[q->n++].score = score;
    return RAG_OK;
}

typedef struct ranked {
    const char *doc;
    double score;
    size_t seq; /* position in the run: the first occurrence of a doc wins */
} ranked;

static int cmp_doc_seq(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    int c = strcmp(x->doc, y->doc);
    if (c)
        return c;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* trec_eval's comp_sim_docno: score descending, then doc id descending. */
static int cmp_trec(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score > y->score)
        return -1;
    if (x->score < y->score)
        return 1;
    return strcmp(y->doc, x->doc);
}

/* Ranks the distinct docs of rq into *out (caller frees); returns their number. */
static rag_status rank_query(const run_query *rq, ranked **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!rq || rq->n == 0)
        return RAG_OK;
    ranked *v = malloc(rq->n * sizeof *v);
    if (!v)
        return RAG_E_NOMEM;
    for (size_t i = 0; i < rq->n; i++)
        v[i] = (ranked){rq->e[i].doc, rq->e[i].score, i};
    qsort(v, rq->n, sizeof *v, cmp_doc_seq);
    size_t n = 0;
    for (size_t i = 0; i < rq->n; i++)
        if (i == 0 || strcmp(v[i].doc, v[i - 1].doc) != 0)
            v[n++] = v[i];
    qsort(v, n, sizeof *v, cmp_trec);
    *out = v;
    *n_out = n;
    return RAG_OK;
}

void rag_eval_result_free(rag_eval_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->per_query && i < r->n_queries; i++)
        free(r->per_query[i].query_id);
    free(r->per_query);
    memset(r, 0, sizeof *r);
}

rag_status rag_eval_run_compute(const rag_eval_run *run, const rag_qrels *qrels, rag_eval_result *out, rag_err *err)
{
    memset(out, 0, sizeof *out);
    if (!run || !qrels)
        return rag_err_set(err, RAG_E_BAD_INPUT, "rag_eval_run_compute: run or qrels is NULL");
    size_t nq = rag_qrels_n_queries(qrels);
    if (nq && !(out->per_query = calloc(nq, sizeof *out->per_query)))
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    double sum_ndcg = 0, sum_recall = 0, sum_mrr = 0;
    for (size_t qi = 0; qi < nq; qi++) {
        const int *pos;
        size_t n_pos = eval_qrels_positive(qrels, qi, &pos);
        if (n_pos == 0)
            continue; /* not a judged query */
        const char *qid = rag_qrels_query_id(qrels, qi);
        size_t ri;
        const run_query *rq = emap_get(&run->qmap, 0, qid, &ri) ? &run->q[ri] : NULL;
        ranked *v;
        size_t n;
        if (rank_query(rq, &v, &n) != RAG_OK) {
            rag_eval_result_free(out);
            return rag_err_set(err, RAG_E_NOMEM, "out of memory");
        }
        double dcg = 0, idcg = 0, rr = 0;
        size_t rel_ret = 0;
        for (size_t k = 0; k < n && k < RECALL_CUT; k++) {
            int g = 0;
            if (!eval_qrels_grade(qrels, qi, v[k].doc, &g))
                g = 0; /* not judged: no gain, not relevant */
            if (k < NDCG_CUT && g > 0)
                dcg += g / LOG2_RANK[k];
            if (g >= 1) {
                rel_ret++;
                if (k < MRR_CUT && rr == 0)
                    rr = 1.0 / (double)(k + 1);
            }
        }
        free(v);
        for (size_t k = 0; k < n_pos && k < NDCG_CUT; k++)
            idcg += pos[k] / LOG2_RANK[k];
        size_t n_rel = rag_qrels_n_relevant(qrels, qid);
        rag_eval_query_result *pq = &out->per_query[out->n_queries];
        if (!(pq->query_id = rag_strdup(qid))) {
            rag_eval_result_free(out);
            return rag_err_set(err, RAG_E_NOMEM, "out of memory");
        }
        pq->ndcg10 = idcg > 0 ? dcg / idcg : 0;
        pq->recall100 = n_rel ? (double)rel_ret / (double)n_rel : 0;
        pq->mrr10 = rr;
        pq->n_retrieved = n;
        pq->n_relevant = n_rel;
        out->n_queries++;
        sum_ndcg += pq->ndcg10;
        sum_recall += pq->recall100;
        sum_mrr += pq->mrr10;
    }
    if (out->n_queries) {
        out->ndcg10 = sum_ndcg / (double)out->n_queries;
        out->recall100 = sum_recall / (double)out->n_queries;
        out->mrr10 = sum_mrr / (double)out->n_queries;
    }
    return RAG_OK;
}

rag_status rag_eval_result_print(const rag_eval_result *r, FILE *f, bool per_query)
{
    if (per_query) {
        fprintf(f, "%-24s %8s %11s %8s %10s %9s\n", "query", "nDCG@10", "Recall@100", "MRR@10", "retrieved",
                "relevant");
        for (size_t i = 0; i < r->n_queries; i++) {
            const rag_eval_query_result *q = &r->per_query[i];
            fprintf(f, "%-24s %8.4f %11.4f %8.4f %10zu %9zu\n", q->query_id, q->ndcg10, q->recall100, q->mrr10,
                    q->n_retrieved, q->n_relevant);
        }
        fputc('\n', f);
    }
    fprintf(f, "nDCG@10     %.4f\nRecall@100  %.4f\nMRR@10      %.4f\nqueries     %zu\n", r->ndcg10, r->recall100,
            r->mrr10, r->n_queries);
    if (fflush(f) != 0 || ferror(f))
        return RAG_E_IO;
    return RAG_OK;
}

rag_status rag_eval_result_json(const rag_eval_result *r, rag_buf *out, bool per_query)
{
    json_t *o = json_pack("{sI sf sf sf}", "queries", (json_int_t)r->n_queries, "ndcg@10", r->ndcg10, "recall@100",
                          r->recall100, "mrr@10", r->mrr10);
    if (!o)
        return RAG_E_NOMEM;
    if (per_query) {
        json_t *a = json_array();
        if (!a || json_object_set_new(o, "per_query", a) != 0) {
            json_decref(o);
            return RAG_E_NOMEM;
        }
        for (size_t i = 0; i < r->n_queries; i++) {
            const rag_eval_query_result *q = &r->per_query[i];
            json_t *e = json_pack("{ss sf sf sf sI sI}", "query_id", q->query_id, "ndcg@10", q->ndcg10, "recall@100",
                                  q->recall100, "mrr@10", q->mrr10, "retrieved", (json_int_t)q->n_retrieved,
                                  "relevant", (json_int_t)q->n_relevant);
            if (!e || json_array_append_new(a, e) != 0) {
                json_decref(o);
                return RAG_E_NOMEM;
            }
        }
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (!s)
        return RAG_E_NOMEM;
    rag_status st = rag_buf_append_str(out, s);
    free(s);
    return st;
}
