/* The embedder stage: chunk embeddings at ingest, the query embedding at ask, dense top-k over the
 * engine's in-memory index and its fusion with BM25 (RRF or weighted, retriever.fusion). */
#include "pipeline_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ragc/dense.h"
#include "ragc/fusion.h"

rag_status pipeline_embed(rag_engine *e, rag_models_request *rq, const char *const *texts, size_t n, float **vecs,
                          int *dim, char *space, size_t space_cap, rag_chain_report *report, rag_err *err)
{
    *vecs = NULL;
    *dim = 0;
    rag_embedder_chain *chain = pipeline_embedder_chain(e->backends);
    if (!chain || n == 0)
        return RAG_E_UNSUPPORTED;
    rag_err eerr;
    rag_err_clear(&eerr);
    rag_status st = rag_embedder_chain_embed(chain, rq, texts, n, vecs, dim, report, &eerr);
    if (st == RAG_E_CANCELLED || st == RAG_E_NOMEM)
        return rag_err_set(err, st, "%s", eerr.msg);
    if (st != RAG_OK || !*vecs || *dim <= 0) {
        free(*vecs);
        *vecs = NULL;
        if (err && st != RAG_E_UNSUPPORTED)
            *err = eerr;
        return RAG_E_UNSUPPORTED;
    }
    snprintf(space, space_cap, "%s:%s", report->served_by ? report->served_by : "?",
             report->served_model ? report->served_model : "");
    return RAG_OK;
}

rag_status pipeline_dense_search(rag_engine *e, const char *space, const float *query, int dim,
                                 const int64_t *doc_ids, size_t n_doc_ids, size_t k, rag_dense_hit *hits,
                                 size_t *n_hits, rag_err *err)
{
    *n_hits = 0;
    rag_dense_precision want =
        e->cfg->retriever.dense.precision == RAG_CONFIG_DENSE_INT8 ? RAG_DENSE_INT8 : RAG_DENSE_F32;
    if (e->dense && (strcmp(rag_dense_index_space(e->dense), space) != 0 ||
                     rag_dense_index_precision(e->dense) != want)) {
        rag_dense_index_free(e->dense);
        e->dense = NULL;
    }
    if (!e->dense) {
        rag_dense_index_params ip = rag_dense_index_default_params();
        ip.precision = want;
        rag_status st = rag_dense_index_open(e->store, space, &ip, &e->dense, err);
        if (st != RAG_OK)
            return st;
    }
    uint64_t before = rag_dense_index_loads(e->dense);
    rag_status st = doc_ids ? rag_dense_index_search_docs(e->dense, query, dim, doc_ids, n_doc_ids, k, hits, n_hits, err)
                            : rag_dense_index_search(e->dense, query, dim, k, hits, n_hits, err);
    e->dense_loads += rag_dense_index_loads(e->dense) - before;
    return st;
}

rag_status pipeline_hybrid_ids(rag_engine *e, rag_models_request *rq, const char *question,
                               const char *const *terms, size_t n_terms, size_t k, int64_t **ids, double **scores,
                               size_t *n, rag_answer *out, rag_err *err)
{
    const rag_config *cfg = e->cfg;
    double t0 = rag_now_ms();
    size_t cand = (size_t)cfg->retriever.candidates > k ? (size_t)cfg->retriever.candidates : k;
    rag_config_fusion method = cfg->retriever.fusion.method;
    int64_t *bids = NULL;
    double *bscores = NULL;
    size_t nb = 0;
    /* BM25 always runs: it is the answer when no dense list is available (even for dense_only). */
    rag_status st = pipeline_bm25_ids(e, terms, n_terms, cand, &bids, &bscores, &nb, err);
    out->stages[0].ms = rag_now_ms() - t0;

    /* The query embedding and dense search. */
    rag_stage_report *es = &out->stages[1];
    int64_t *dids = NULL;
    double *dscores = NULL;
    size_t nd = 0;
    bool dense = false;
    if (st == RAG_OK && method != RAG_CONFIG_FUSION_BM25_ONLY && pipeline_embedder_chain(e->backends)) {
        double te = rag_now_ms();
        float *qv = NULL;
        int dim = 0;
        char space[320];
        rag_err eerr;
        rag_err_clear(&eerr);
        rag_status est = pipeline_embed(e, rq, &question, 1, &qv, &dim, space, sizeof space,
                                        &out->embedder_report, &eerr);
        if (est == RAG_OK) {
            snprintf(es->backend, sizeof es->backend, "%.127s", space);
            rag_dense_hit *dh = calloc(cand, sizeof *dh);
            dids = malloc(cand * sizeof *dids);
            dscores = malloc(cand * sizeof *dscores);
            if (!dh || !dids || !dscores)
                est = rag_err_set(&eerr, RAG_E_NOMEM, "out of memory");
            if (est == RAG_OK)
                est = pipeline_dense_search(e, space, qv, dim, NULL, 0, cand, dh, &nd, &eerr);
            for (size_t i = 0; est == RAG_OK && i < nd; i++) {
                dids[i] = dh[i].chunk_id;
                dscores[i] = dh[i].score;
            }
            free(dh);
            if (est == RAG_OK && nd == 0)
                snprintf(es->note, sizeof es->note, "no document vectors in this embedding space yet: "
                                                    "ingest again with the embedder available");
            dense = est == RAG_OK && nd > 0;
            if (est == RAG_E_NOMEM)
                st = rag_err_set(err, est, "%s", eerr.msg);
            else if (est != RAG_OK)
                snprintf(es->note, sizeof es->note, "dense search failed: %.200s", eerr.msg);
        } else if (est == RAG_E_CANCELLED || est == RAG_E_NOMEM) {
            st = rag_err_set(err, est, "%s", eerr.msg);
        } else {
            snprintf(es->backend, sizeof es->backend, "none");
            snprintf(es->note, sizeof es->note, "BM25 only: %.200s",
                     eerr.msg[0] ? eerr.msg : "the embedder chain reached none");
        }
        free(qv);
        es->ms = rag_now_ms() - te;
    }

    if (st == RAG_OK && dense) {
        size_t capn = nb + nd;
        rag_fused *f = calloc(capn ? capn : 1, sizeof *f);
        size_t nf = 0;
        if (!f)
            st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
        else if (method == RAG_CONFIG_FUSION_WEIGHTED)
            st = rag_fuse_weighted(bids, bscores, nb, dids, dscores, nd, cfg->retriever.fusion.dense_weight, f, capn,
                                   &nf);
        else if (method == RAG_CONFIG_FUSION_DENSE_ONLY)
            st = rag_fuse_weighted(NULL, NULL, 0, dids, dscores, nd, 1.0, f, capn, &nf);
        else
            st = rag_fuse_rrf(bids, nb, dids, nd, cfg->retriever.fusion.rrf_k, f, capn, &nf);
        if (st == RAG_OK) {
            size_t m = nf < k ? nf : k;
            *ids = malloc((m ? m : 1) * sizeof **ids);
            *scores = malloc((m ? m : 1) * sizeof **scores);
            if (!*ids || !*scores)
                st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
            for (size_t i = 0; st == RAG_OK && i < m; i++) {
                (*ids)[i] = f[i].chunk_id;
                (*scores)[i] = f[i].score;
            }
            *n = st == RAG_OK ? m : 0;
            snprintf(out->stages[0].backend, sizeof out->stages[0].backend, "bm25+dense (%s)",
                     rag_config_fusion_str(method));
        }
        free(f);
        free(bids);
        free(bscores);
    } else if (st == RAG_OK) {
        *ids = bids;
        *scores = bscores;
        *n = nb < k ? nb : k;
        bids = NULL;
        bscores = NULL;
    } else {
        free(bids);
        free(bscores);
    }
    free(dids);
    free(dscores);
    out->stages[0].ms = rag_now_ms() - t0 - es->ms;
    return st;
}
