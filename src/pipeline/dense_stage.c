/* The embedder stage: embedding spaces (which model's vectors), chunk embeddings at ingest and the
 * filling of a space in batches, the query embedding at ask, dense top-k over the engine's
 * in-memory index and its fusion with BM25 (RRF or weighted, retriever.fusion). */
#include "pipeline_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ragc/dense.h"
#include "ragc/fusion.h"

/* ---- embedding spaces ---- */

/* Appends src to buf[cap] at *o; false (buf unchanged past *o) when it does not fit. */
static bool put(char *buf, size_t cap, size_t *o, const char *src, size_t n)
{
    if (n >= cap - *o)
        return false;
    memcpy(buf + *o, src, n);
    *o += n;
    buf[*o] = '\0';
    return true;
}

/* A Hub repo id component: [A-Za-z0-9._-]+ without "--" or "..", as huggingface_hub names cache
 * folders (src/local/hub.c accepts the same). */
static bool repo_part_ok(const char *s, size_t n)
{
    if (n == 0 || n > 96)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
        if (!ok || (i + 1 < n && ((c == '-' && s[i + 1] == '-') || (c == '.' && s[i + 1] == '.'))))
            return false;
    }
    return true;
}

/* If real (an absolute real path) is a huggingface_hub snapshot ".../models--ORG--NAME/snapshots/REV",
 * writes "ORG/NAME" (or "NAME") into out[cap] and returns true. */
static bool hub_snapshot_repo(const char *real, char *out, size_t cap)
{
    /* the last three components: models--..., "snapshots", REV */
    const char *rev = strrchr(real, '/');
    if (!rev || rev == real || !rev[1])
        return false;
    const char *snap = rev;
    do
        snap--;
    while (snap > real && *snap != '/');
    if (snap == real || *snap != '/' || (size_t)(rev - snap) != sizeof "/snapshots" - 1 ||
        strncmp(snap, "/snapshots", 10) != 0)
        return false;
    const char *folder = snap;
    do
        folder--;
    while (folder > real && *folder != '/');
    if (*folder != '/')
        return false;
    folder++;
    size_t flen = (size_t)(snap - folder);
    if (flen <= 8 || strncmp(folder, "models--", 8) != 0)
        return false;
    const char *id = folder + 8;
    size_t idlen = flen - 8;
    const char *sep = NULL;
    for (size_t i = 0; i + 1 < idlen; i++)
        if (id[i] == '-' && id[i + 1] == '-') {
            sep = id + i;
            break;
        }
    size_t o = 0;
    out[0] = '\0';
    if (!sep)
        return repo_part_ok(id, idlen) && put(out, cap, &o, id, idlen);
    size_t olen = (size_t)(sep - id), nlen = idlen - olen - 2;
    return repo_part_ok(id, olen) && repo_part_ok(sep + 2, nlen) && put(out, cap, &o, id, olen) &&
           put(out, cap, &o, "/", 1) && put(out, cap, &o, sep + 2, nlen);
}

rag_status pipeline_space_key(const char *type, const char *model, const char *base_url, char *buf, size_t cap,
                              rag_err *err)
{
    if (cap)
        buf[0] = '\0';
    if (!type || !*type)
        return rag_err_set(err, RAG_E_BAD_INPUT, "embedding space: no backend type");
    if (cap > RAG_DENSE_MAX_SPACE_BYTES + 1)
        cap = RAG_DENSE_MAX_SPACE_BYTES + 1;
    size_t mlen = model ? strlen(model) : 0;
    static const char INT8[] = " [int8]";
    if (mlen >= sizeof INT8 - 1 && strcmp(model + mlen - (sizeof INT8 - 1), INT8) == 0)
        mlen -= sizeof INT8 - 1;
    size_t o = 0;
    bool ok;
    if (mlen == 0) {
        const char *b = base_url ? base_url : "";
        ok = put(buf, cap, &o, type, strlen(type)) && put(buf, cap, &o, ":", 1) && put(buf, cap, &o, b, strlen(b));
    } else if (strcmp(type, "ollama") == 0) {
        static const char LATEST[] = ":latest";
        if (mlen > sizeof LATEST - 1 && strncmp(model + mlen - (sizeof LATEST - 1), LATEST, sizeof LATEST - 1) == 0)
            mlen -= sizeof LATEST - 1;
        ok = put(buf, cap, &o, "ollama:", 7) && put(buf, cap, &o, model, mlen);
    } else if (strcmp(type, "local") == 0) {
        /* As the local backend decides (rag_hub_resolve): an existing directory, else a repo id. */
        char dir[PATH_MAX], real[PATH_MAX];
        struct stat sb;
        ok = true;
        if (mlen < sizeof dir) {
            memcpy(dir, model, mlen);
            dir[mlen] = '\0';
            if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && realpath(dir, real)) {
                char repo[256];
                if (hub_snapshot_repo(real, repo, sizeof repo))
                    ok = put(buf, cap, &o, repo, strlen(repo));
                else
                    ok = put(buf, cap, &o, real, strlen(real));
                if (!ok)
                    return rag_err_set(err, RAG_E_TOO_LARGE, "embedding space: the model directory's path '%.200s' "
                                       "is over %zu bytes", real, cap - 1);
                return RAG_OK;
            }
        }
        ok = put(buf, cap, &o, model, mlen);
    } else {
        ok = put(buf, cap, &o, model, mlen);
    }
    if (!ok) {
        if (cap)
            buf[0] = '\0';
        return rag_err_set(err, RAG_E_TOO_LARGE, "embedding space of %s model '%.200s': over %zu bytes", type,
                           model ? model : "", cap ? cap - 1 : 0);
    }
    return RAG_OK;
}

const char *pipeline_embedder_default_model(const char *type)
{
    /* Keep in step with mdl_default_model("embedder", type) and LOCAL_DEFAULT_EMBED_MODEL
     * (tests/unit/test_pipeline_space.c checks both). */
    if (!type)
        return NULL;
    if (strcmp(type, "huggingface_api") == 0 || strcmp(type, "local") == 0)
        return "sentence-transformers/all-MiniLM-L6-v2";
    if (strcmp(type, "ollama") == 0)
        return "all-minilm";
    return NULL;
}

rag_status pipeline_member_space(rag_engine *e, size_t i, const char *served_model, char *buf, size_t cap,
                                 rag_err *err)
{
    if (i >= e->cfg->embedder.n_chain) {
        if (cap)
            buf[0] = '\0';
        return rag_err_set(err, RAG_E_INTERNAL, "embedding space: no embedder member %zu", i);
    }
    /* The configured model first: an embedder backend serves exactly that model (or its type's
     * default), while the reported one may be altered (an api_key occurring in it is redacted). */
    const rag_backend_config *m = &e->cfg->embedder.chain[i];
    const char *model = m->model && *m->model ? m->model : pipeline_embedder_default_model(m->type);
    if (!model)
        model = served_model;
    return pipeline_space_key(m->type, model, m->base_url, buf, cap, err);
}

bool pipeline_predicted_space(rag_engine *e, char *buf, size_t cap)
{
    if (cap)
        buf[0] = '\0';
    for (size_t i = 0; i < e->cfg->embedder.n_chain; i++) {
        if (strcmp(e->cfg->embedder.chain[i].type, "none") == 0)
            return false;
        rag_err ignored;
        return pipeline_member_space(e, i, NULL, buf, cap, &ignored) == RAG_OK;
    }
    return false;
}

rag_status pipeline_embed(rag_engine *e, rag_models_request *rq, const char *const *texts, size_t n, float **vecs,
                          int *dim, char *space, size_t space_cap, char *backend, size_t backend_cap,
                          rag_chain_report *report, rag_err *err)
{
    *vecs = NULL;
    *dim = 0;
    if (space_cap)
        space[0] = '\0';
    if (backend && backend_cap)
        backend[0] = '\0';
    rag_embedder_chain *chain = pipeline_embedder_chain(e->backends);
    if (!chain || n == 0)
        return RAG_E_UNSUPPORTED;
    rag_err eerr;
    rag_err_clear(&eerr);
    rag_status st = rag_embedder_chain_embed(chain, rq, texts, n, vecs, dim, report, &eerr);
    if (st == RAG_E_CANCELLED || st == RAG_E_NOMEM)
        return rag_err_set(err, st, "%s", eerr.msg);
    if (st == RAG_OK && *vecs && *dim > 0) {
        /* The chain's members are the configured ones, in order (rag_embedder_chain_from_config). */
        st = report->served >= 0
                 ? pipeline_member_space(e, (size_t)report->served, report->served_model, space, space_cap, &eerr)
                 : pipeline_space_key(report->served_by ? report->served_by : "?", report->served_model, NULL, space,
                                      space_cap, &eerr);
        if (st == RAG_OK) {
            if (backend && backend_cap)
                snprintf(backend, backend_cap, "%s:%s", report->served_by ? report->served_by : "?",
                         report->served_model ? report->served_model : "");
            return RAG_OK;
        }
    }
    free(*vecs);
    *vecs = NULL;
    *dim = 0;
    if (st == RAG_E_UNSUPPORTED) {
        /* The chain reached "none": say why the members before it did not serve. */
        rag_err_clear(&eerr);
        for (size_t i = report->n_members; i-- > 0;) {
            const rag_chain_member_report *m = &report->members[i];
            if (!m->builtin && m->status != RAG_OK) {
                rag_err_set(&eerr, m->status, "the embedder chain reached none; %s failed: %.300s", m->type,
                            m->reason && *m->reason ? m->reason : rag_status_str(m->status));
                if (m->reason && !strncmp(m->reason, m->type, strlen(m->type))) /* it names itself */
                    rag_err_set(&eerr, m->status, "the embedder chain reached none; %.300s", m->reason);
                break;
            }
        }
    }
    if (err && eerr.msg[0])
        *err = eerr;
    return RAG_E_UNSUPPORTED;
}

/* Stores the vectors of chunks ids[0..n) (vecs: n x dim) in one transaction. */
static rag_status put_vectors(rag_engine *e, const char *space, const int64_t *ids, size_t n, const float *vecs,
                              int dim, rag_err *err)
{
    rag_status st = rag_store_begin(e->store, err);
    for (size_t i = 0; st == RAG_OK && i < n; i++)
        st = rag_dense_put(e->store, space, ids[i], vecs + i * (size_t)dim, dim, err);
    if (st == RAG_OK)
        return rag_store_commit(e->store, err);
    rag_err ignored;
    rag_store_rollback(e->store, &ignored);
    return st;
}

#define DEFAULT_FILL_BATCH 64

rag_status pipeline_fill_space(rag_engine *e, const char *space, const char *what, pipeline_fill *f,
                               rag_err *err)
{
    f->missing = f->present = f->done = f->cache_hits = 0;
    f->dim = 0;
    f->served[0] = '\0';
    f->ms = 0;
    int64_t *ids = NULL, total = 0;
    size_t n = 0;
    rag_status st = rag_dense_missing_chunks(e->store, space, &ids, &n, err);
    if (st == RAG_OK)
        st = rag_dense_count(e->store, space, &total, err);
    if (st != RAG_OK) {
        free(ids);
        return st;
    }
    f->missing = n;
    f->present = (size_t)total;
    if (n == 0)
        return RAG_OK;
    size_t batch = f->batch ? f->batch : DEFAULT_FILL_BATCH;
    rag_chunk_record *recs = calloc(batch, sizeof *recs);
    const char **texts = calloc(batch, sizeof *texts);
    if (!recs || !texts)
        st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
    double t0 = rag_now_ms();
    if (st == RAG_OK && f->on_progress)
        f->on_progress(f->ud, 0, n);
    char got[PIPELINE_SPACE_CAP];
    while (st == RAG_OK && f->done < n) {
        if (f->cancel && *f->cancel) {
            st = rag_err_set(err, RAG_E_CANCELLED, "interrupted while embedding %s (%zu of %zu chunks embedded "
                             "and kept)", what, f->done, n);
            break;
        }
        size_t m = n - f->done < batch ? n - f->done : batch;
        if ((st = rag_store_chunk_get_many(e->store, ids + f->done, m, recs, err)) != RAG_OK)
            break;
        for (size_t i = 0; i < m; i++)
            texts[i] = recs[i].text;
        rag_models_request rq;
        memset(&rq, 0, sizeof rq);
        rag_chain_report rep;
        rag_chain_report_init(&rep);
        rag_err eerr;
        rag_err_clear(&eerr);
        float *vecs = NULL;
        int dim = 0;
        st = pipeline_embed(e, &rq, texts, m, &vecs, &dim, got, sizeof got, NULL, 0, &rep, &eerr);
        size_t hits = rep.cache_hits;
        rag_chain_report_free(&rep);
        for (size_t i = 0; i < m; i++)
            rag_chunk_record_clear(&recs[i]);
        if (st == RAG_E_CANCELLED || st == RAG_E_NOMEM)
            rag_err_set(err, st, "embedding %s %zu..%zu of %zu: %s", what, f->done + 1, f->done + m, n, eerr.msg);
        else if (st != RAG_OK)
            st = rag_err_set(err, RAG_E_UPSTREAM, "embedding %s %zu..%zu of %zu: the embedder chain served no "
                             "embedding: %s", what, f->done + 1, f->done + m, n,
                             eerr.msg[0] ? eerr.msg : "it reached 'none'");
        else if (strcmp(got, space) != 0) {
            snprintf(f->served, sizeof f->served, "%s", got);
            st = rag_err_set(err, RAG_E_UPSTREAM, "embedding %s %zu..%zu of %zu: served by space '%.200s', not "
                             "'%.200s' (a chain member failed and the next one, of another model, answered): vectors "
                             "of different models cannot be compared", what, f->done + 1, f->done + m, n, got, space);
        }
        if (st == RAG_OK)
            st = put_vectors(e, space, ids + f->done, m, vecs, dim, err);
        free(vecs);
        if (st != RAG_OK)
            break;
        f->done += m;
        f->cache_hits += hits;
        f->dim = dim;
        if (f->on_progress)
            f->on_progress(f->ud, f->done, n);
    }
    f->ms = rag_now_ms() - t0;
    free(recs);
    free(texts);
    free(ids);
    return st;
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
        char space[PIPELINE_SPACE_CAP];
        rag_err eerr;
        rag_err_clear(&eerr);
        rag_status est = pipeline_embed(e, rq, &question, 1, &qv, &dim, space, sizeof space, es->backend,
                                        sizeof es->backend, &out->embedder_report, &eerr);
        if (est == RAG_OK) {
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
