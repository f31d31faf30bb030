/* BEIR evaluation run: ingest the corpus, embed it when a dense retriever needs vectors, retrieve
 * for each judged query with bm25 / dense / hybrid / hybrid-rerank, score with trec_eval's
 * definitions (src/eval) and optionally write the TREC run. */
#include "pipeline_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/fusion.h"

#define DEFAULT_EMBED_BATCH 64 /* as pipeline_fill_space's default */
#define MAX_EMBED_BATCH 4096
#define MAX_RERANK_CANDIDATES 1000

static const char *const RETRIEVER_NAMES[] = {"bm25", "dense", "hybrid", "hybrid-rerank"};
#define N_RETRIEVERS (sizeof RETRIEVER_NAMES / sizeof RETRIEVER_NAMES[0])

const char *rag_beir_retriever_str(rag_beir_retriever r)
{
    return (unsigned)r < N_RETRIEVERS ? RETRIEVER_NAMES[r] : "?";
}

rag_status rag_beir_retriever_parse(const char *name, rag_beir_retriever *out, rag_err *err)
{
    for (size_t i = 0; name && i < N_RETRIEVERS; i++)
        if (strcmp(name, RETRIEVER_NAMES[i]) == 0) {
            *out = (rag_beir_retriever)i;
            return RAG_OK;
        }
    return rag_err_set(err, RAG_E_BAD_INPUT, "retriever '%s' is not one of: bm25, dense, hybrid, hybrid-rerank",
                       name ? name : "(null)");
}

rag_beir_params rag_beir_default_params(void)
{
    rag_beir_params p;
    memset(&p, 0, sizeof p);
    p.depth = 100;
    p.retriever = RAG_BEIR_BM25;
    p.embed_batch = DEFAULT_EMBED_BATCH;
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

static bool uses_bm25(rag_beir_retriever r)
{
    return r != RAG_BEIR_DENSE;
}

static bool uses_dense(rag_beir_retriever r)
{
    return r != RAG_BEIR_BM25;
}

/* ---- document rankings ---- */

/* One ranked document. Strings are borrowed from the chunk records of the doc_list(s) the entry
 * came from, valid while those lists live. */
typedef struct doc_hit {
    int64_t doc_id;
    const char *ext;     /* the id the qrels use: ext_id, else source */
    const char *passage; /* text of the document's best chunk */
    double score;
} doc_hit;

/* trec_eval's order: score descending, equal scores by doc id descending. */
static int doc_hit_cmp(const void *pa, const void *pb)
{
    const doc_hit *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return strcmp(b->ext, a->ext);
}

typedef struct doc_list {
    rag_search_result res; /* owned: the chunk hits and their records */
    doc_hit *d;            /* owned: n documents, ranked */
    size_t n;
} doc_list;

static void doc_list_clear(doc_list *l)
{
    rag_search_result_clear(&l->res);
    free(l->d);
    memset(l, 0, sizeof *l);
}

/* Loads the n chunk hits (ids, scores) and ranks their documents, each scored as its best chunk,
 * cut to depth. */
static rag_status doc_list_build(rag_engine *e, const int64_t *ids, const double *scores, size_t n, size_t depth,
                                 doc_list *l, rag_err *err)
{
    memset(l, 0, sizeof *l);
    rag_status st = pipeline_load_hits(e, ids, scores, n, &l->res, err);
    if (st != RAG_OK)
        return st;
    if (n > 0 && !(l->d = malloc(n * sizeof *l->d))) {
        doc_list_clear(l);
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < l->res.n_hits; i++) {
        const rag_search_hit *h = &l->res.hits[i];
        size_t j = 0;
        while (j < l->n && l->d[j].doc_id != h->doc.id)
            j++;
        if (j == l->n)
            l->d[l->n++] = (doc_hit){.doc_id = h->doc.id, .ext = h->doc.ext_id ? h->doc.ext_id : h->doc.source,
                                     .passage = h->chunk.text, .score = h->score};
        else if (h->score > l->d[j].score) {
            l->d[j].score = h->score;
            l->d[j].passage = h->chunk.text;
        }
    }
    qsort(l->d, l->n, sizeof *l->d, doc_hit_cmp);
    if (l->n > depth)
        l->n = depth;
    return RAG_OK;
}

/* Fuses the bm25 and dense document rankings with retriever.fusion into *out (caller frees with
 * free(); entries borrow from b and d), ranked and cut to depth. */
static rag_status fuse_docs(const rag_config *cfg, const doc_list *b, const doc_list *d, size_t depth, doc_hit **out,
                            size_t *n_out, rag_err *err)
{
    *out = NULL;
    *n_out = 0;
    size_t cap = b->n + d->n;
    int64_t *bids = malloc((b->n ? b->n : 1) * sizeof *bids), *dids = malloc((d->n ? d->n : 1) * sizeof *dids);
    double *bsc = malloc((b->n ? b->n : 1) * sizeof *bsc), *dsc = malloc((d->n ? d->n : 1) * sizeof *dsc);
    rag_fused *f = malloc((cap ? cap : 1) * sizeof *f);
    doc_hit *h = malloc((cap ? cap : 1) * sizeof *h);
    rag_status st = RAG_OK;
    if (!bids || !dids || !bsc || !dsc || !f || !h)
        st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
    for (size_t i = 0; st == RAG_OK && i < b->n; i++) {
        bids[i] = b->d[i].doc_id;
        bsc[i] = b->d[i].score;
    }
    for (size_t i = 0; st == RAG_OK && i < d->n; i++) {
        dids[i] = d->d[i].doc_id;
        dsc[i] = d->d[i].score;
    }
    size_t nf = 0;
    if (st == RAG_OK) {
        rag_config_fusion m = cfg->retriever.fusion.method;
        st = m == RAG_CONFIG_FUSION_WEIGHTED
                 ? rag_fuse_weighted(bids, bsc, b->n, dids, dsc, d->n, cfg->retriever.fusion.dense_weight, f, cap, &nf)
                 : rag_fuse_rrf(bids, b->n, dids, d->n, cfg->retriever.fusion.rrf_k, f, cap, &nf);
        if (st != RAG_OK)
            rag_err_set(err, st, "fusing the bm25 and dense rankings: %s", rag_status_str(st));
    }
    for (size_t i = 0; st == RAG_OK && i < nf; i++) {
        /* The document's strings and passage come from the list where it ranks better. */
        bool from_b = f[i].bm25_rank && (!f[i].dense_rank || f[i].bm25_rank <= f[i].dense_rank);
        const doc_hit *src = from_b ? &b->d[f[i].bm25_rank - 1] : &d->d[f[i].dense_rank - 1];
        h[i] = *src;
        h[i].score = f[i].score;
    }
    free(bids);
    free(dids);
    free(bsc);
    free(dsc);
    free(f);
    if (st != RAG_OK) {
        free(h);
        return st;
    }
    qsort(h, nf, sizeof *h, doc_hit_cmp);
    *out = h;
    *n_out = nf < depth ? nf : depth;
    return RAG_OK;
}

/* ---- corpus embedding ---- */

/* Embeds texts[0..n) with the embedder chain into *vecs (caller frees) and checks the space they
 * belong to is want_space (when set) or records it into space. what names the input in errors. */
static rag_status embed_checked(rag_engine *e, const char *const *texts, size_t n, const char *want_space,
                                char *space, size_t space_cap, float **vecs, int *dim, const char *what, rag_err *err)
{
    rag_models_request rq;
    memset(&rq, 0, sizeof rq);
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    rag_err eerr;
    rag_err_clear(&eerr);
    char got[PIPELINE_SPACE_CAP] = "";
    rag_status st = pipeline_embed(e, &rq, texts, n, vecs, dim, got, sizeof got, NULL, 0, &rep, &eerr);
    rag_chain_report_free(&rep);
    if (st == RAG_E_CANCELLED || st == RAG_E_NOMEM)
        return rag_err_set(err, st, "embedding %s: %s", what, eerr.msg);
    if (st != RAG_OK)
        return rag_err_set(err, RAG_E_UPSTREAM, "embedding %s: the embedder chain served no embedding: %s", what,
                           eerr.msg[0] ? eerr.msg : "it reached 'none'");
    if (want_space && strcmp(got, want_space) != 0) {
        free(*vecs);
        *vecs = NULL;
        return rag_err_set(err, RAG_E_UPSTREAM,
                           "embedding %s: served by space '%.200s', not the corpus's '%.200s' (a chain member failed "
                           "and the next one, of another model, answered): vectors of different models cannot be "
                           "compared", what, got, want_space);
    }
    if (!want_space)
        snprintf(space, space_cap, "%s", got);
    return RAG_OK;
}

/* Finds the embedder's space (one probe embedding, from the content cache after the first run),
 * then embeds every chunk without a vector in it, embed_batch chunks per call, committing each
 * batch (pipeline_fill_space). A batch served by another space fails the run. */
static rag_status embed_corpus(rag_engine *e, const rag_beir_params *p, const rag_ingest_params *ip,
                               rag_beir_report *out, rag_err *err)
{
    const char *probe = "ragc embedding space probe";
    float *vecs = NULL;
    rag_status st = embed_checked(e, &probe, 1, NULL, out->space, sizeof out->space, &vecs, &out->dim,
                                  "a probe text", err);
    free(vecs);
    if (st != RAG_OK)
        return st;
    pipeline_fill f;
    memset(&f, 0, sizeof f);
    f.batch = p->embed_batch;
    f.cancel = ip ? ip->cancel : NULL;
    f.on_progress = p->on_embed;
    f.ud = p->ud;
    st = pipeline_fill_space(e, out->space, "corpus chunks", &f, err);
    out->chunks_reused = f.present;
    out->chunks_embedded = f.done;
    out->embed_cache_hits = f.cache_hits;
    out->embed_ms = f.ms;
    return st;
}

/* ---- one query ---- */

typedef struct query_ctx {
    rag_engine *e;
    const rag_beir_params *p;
    rag_beir_report *out;
    rag_reranker_chain *reranker;
    size_t rerank_n;
    double embed_ms, rerank_ms; /* of the last query */
} query_ctx;

static rag_status bm25_docs(query_ctx *q, const char *text, doc_list *l, rag_err *err)
{
    char **terms = NULL;
    size_t n_terms = 0;
    int64_t *ids = NULL;
    double *scores = NULL;
    size_t n = 0;
    rag_status st = pipeline_query_terms(q->e, text, &terms, &n_terms, err);
    if (st == RAG_OK)
        st = pipeline_bm25_ids(q->e, (const char *const *)terms, n_terms, q->p->depth * 2, &ids, &scores, &n, err);
    if (st == RAG_OK)
        st = doc_list_build(q->e, ids, scores, n, q->p->depth, l, err);
    pipeline_query_terms_free(terms, n_terms);
    free(ids);
    free(scores);
    return st;
}

static rag_status dense_docs(query_ctx *q, const char *qid, const char *text, doc_list *l, rag_err *err)
{
    double t0 = rag_now_ms();
    float *qv = NULL;
    int dim = 0;
    char what[96];
    snprintf(what, sizeof what, "query %.64s", qid);
    rag_status st = embed_checked(q->e, &text, 1, q->out->space, NULL, 0, &qv, &dim, what, err);
    q->embed_ms = rag_now_ms() - t0;
    size_t k = q->p->depth * 2, n = 0;
    rag_dense_hit *hits = NULL;
    int64_t *ids = NULL;
    double *scores = NULL;
    if (st == RAG_OK) {
        hits = malloc(k * sizeof *hits);
        ids = malloc(k * sizeof *ids);
        scores = malloc(k * sizeof *scores);
        if (!hits || !ids || !scores)
            st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
    }
    if (st == RAG_OK)
        st = pipeline_dense_search(q->e, q->out->space, qv, dim, NULL, 0, k, hits, &n, err);
    for (size_t i = 0; st == RAG_OK && i < n; i++) {
        ids[i] = hits[i].chunk_id;
        scores[i] = hits[i].score;
    }
    if (st == RAG_OK)
        st = doc_list_build(q->e, ids, scores, n, q->p->depth, l, err);
    free(qv);
    free(hits);
    free(ids);
    free(scores);
    return st;
}

/* Reorders r[0..min(rerank_n, n)) by the reranker's score of (text, passage); the rest follow in
 * their order with scores below the lowest reranked one, so the trec_eval order is this order. */
static rag_status rerank_docs(query_ctx *q, const char *qid, const char *text, doc_hit *r, size_t n, rag_err *err)
{
    size_t m = n < q->rerank_n ? n : q->rerank_n;
    if (m == 0)
        return RAG_OK;
    double t0 = rag_now_ms();
    const char **passages = malloc(m * sizeof *passages);
    double *scores = malloc(m * sizeof *scores);
    rag_status st = passages && scores ? RAG_OK : rag_err_set(err, RAG_E_NOMEM, "out of memory");
    for (size_t i = 0; st == RAG_OK && i < m; i++)
        passages[i] = r[i].passage;
    rag_models_request rq;
    memset(&rq, 0, sizeof rq);
    rag_chain_report rep;
    rag_chain_report_init(&rep);
    rag_err rerr;
    rag_err_clear(&rerr);
    if (st == RAG_OK) {
        st = rag_reranker_chain_rerank(q->reranker, &rq, text, passages, m, scores, &rep, &rerr);
        if (st != RAG_OK)
            rag_err_set(err, st == RAG_E_CANCELLED || st == RAG_E_NOMEM ? st : RAG_E_UPSTREAM,
                        "reranking query %.64s: %s", qid, rerr.msg[0] ? rerr.msg : rag_status_str(st));
        else if (!q->out->reranker[0])
            snprintf(q->out->reranker, sizeof q->out->reranker, "%s:%s", rep.served_by ? rep.served_by : "?",
                     rep.served_model ? rep.served_model : "");
    }
    rag_chain_report_free(&rep);
    if (st == RAG_OK) {
        double lowest = 0;
        for (size_t i = 0; i < m; i++) {
            r[i].score = scores[i];
            lowest = i == 0 || scores[i] < lowest ? scores[i] : lowest;
        }
        qsort(r, m, sizeof *r, doc_hit_cmp);
        for (size_t i = m; i < n; i++)
            r[i].score = lowest - (double)(i - m + 1);
    }
    free(passages);
    free(scores);
    q->rerank_ms = rag_now_ms() - t0;
    return st;
}

/* Retrieves the ranked documents of one query and adds them to the run (and run_out). */
static rag_status run_query(query_ctx *q, rag_eval_run *run, const char *qid, const char *text, rag_err *err)
{
    const rag_beir_retriever r = q->p->retriever;
    doc_list b, d;
    memset(&b, 0, sizeof b);
    memset(&d, 0, sizeof d);
    doc_hit *fused = NULL;
    const doc_hit *ranked = NULL;
    size_t n = 0;
    q->embed_ms = q->rerank_ms = 0;
    rag_status st = RAG_OK;
    if (uses_bm25(r))
        st = bm25_docs(q, text, &b, err);
    if (st == RAG_OK && uses_dense(r))
        st = dense_docs(q, qid, text, &d, err);
    if (st == RAG_OK && r == RAG_BEIR_BM25) {
        ranked = b.d;
        n = b.n;
    } else if (st == RAG_OK && r == RAG_BEIR_DENSE) {
        ranked = d.d;
        n = d.n;
    } else if (st == RAG_OK) {
        st = fuse_docs(q->e->cfg, &b, &d, q->p->depth, &fused, &n, err);
        if (st == RAG_OK && r == RAG_BEIR_HYBRID_RERANK)
            st = rerank_docs(q, qid, text, fused, n, err);
        ranked = fused;
    }
    for (size_t i = 0; st == RAG_OK && i < n; i++) {
        st = rag_eval_run_add(run, qid, ranked[i].ext, ranked[i].score, err);
        if (st == RAG_OK && q->p->run_out &&
            fprintf(q->p->run_out, "%s Q0 %s %zu %.9g ragc-%s\n", qid, ranked[i].ext, i + 1, ranked[i].score,
                    rag_beir_retriever_str(r)) < 0)
            st = rag_err_set(err, RAG_E_IO, "writing the run file: %s", strerror(errno));
    }
    free(fused);
    doc_list_clear(&b);
    doc_list_clear(&d);
    return st;
}

/* Checks that e's configuration can serve retriever r; *reranker receives the reranker chain. */
static rag_status check_retriever(rag_engine *e, rag_beir_retriever r, rag_reranker_chain **reranker, rag_err *err)
{
    *reranker = NULL;
    const char *name = rag_beir_retriever_str(r);
    if ((unsigned)r >= N_RETRIEVERS)
        return rag_err_set(err, RAG_E_BAD_INPUT, "unknown retriever %d", (int)r);
    if (uses_dense(r) && !pipeline_embedder_chain(e->backends))
        return rag_err_set(err, RAG_E_CONFIG,
                           "retriever '%s' needs an embedder, and embedder.chain has none (only 'none')", name);
    rag_config_fusion m = e->cfg->retriever.fusion.method;
    if ((r == RAG_BEIR_HYBRID || r == RAG_BEIR_HYBRID_RERANK) && m != RAG_CONFIG_FUSION_RRF &&
        m != RAG_CONFIG_FUSION_WEIGHTED)
        return rag_err_set(err, RAG_E_CONFIG, "retriever '%s' fuses two rankings, but retriever.fusion.method is %s "
                           "(use rrf or weighted)", name, rag_config_fusion_str(m));
    if (r == RAG_BEIR_HYBRID_RERANK && !(*reranker = pipeline_reranker_chain(e->backends)))
        return rag_err_set(err, RAG_E_CONFIG,
                           "retriever '%s' needs a reranker: reranker.chain is empty or "
                           "retriever.neural_reranking.enabled is false", name);
    return RAG_OK;
}

rag_status rag_beir_eval(rag_engine *e, const rag_beir_params *p, const rag_ingest_params *ip,
                         rag_beir_report *out, rag_err *err)
{
    memset(out, 0, sizeof *out);
    rag_beir_params pp = *p;
    if (!pp.depth)
        pp.depth = 100;
    if (pp.embed_batch > MAX_EMBED_BATCH || pp.rerank_candidates > MAX_RERANK_CANDIDATES)
        return rag_err_set(err, RAG_E_BAD_INPUT, "eval: embed_batch must be at most %d and rerank_candidates at "
                           "most %d", MAX_EMBED_BATCH, MAX_RERANK_CANDIDATES);
    query_ctx q = {.e = e, .p = &pp, .out = out};
    const uint64_t loads_before = e->dense_loads;
    rag_status st = check_retriever(e, pp.retriever, &q.reranker, err);
    if (st != RAG_OK)
        return st;
    q.rerank_n = pp.rerank_candidates ? pp.rerank_candidates
                                      : (size_t)e->cfg->retriever.neural_reranking.max_candidates;
    if (pp.retriever == RAG_BEIR_HYBRID_RERANK)
        out->rerank_candidates = q.rerank_n;

    rag_queries *queries = NULL;
    rag_qrels *qrels = NULL;
    rag_eval_run *run = NULL;
    double *times = NULL, *embed_times = NULL, *rerank_times = NULL;

    /* Load the small files first so a typo fails before a long ingest. */
    st = rag_queries_load(pp.queries_path, &queries, err);
    if (st == RAG_OK)
        st = rag_qrels_load(pp.qrels_path, &qrels, err);
    if (st == RAG_OK) {
        /* Ingest without embedding: embed_corpus embeds in batches, with progress, and only what
         * the space still lacks (ingest would skip unchanged documents that were never embedded). */
        rag_backends *saved = e->backends;
        e->backends = NULL;
        st = rag_ingest_paths(e, &pp.corpus_path, 1, ip, &out->ingest, err);
        e->backends = saved;
    }
    if (st == RAG_OK && out->ingest.cancelled)
        st = rag_err_set(err, RAG_E_CANCELLED, "interrupted while ingesting %s", pp.corpus_path);
    if (st == RAG_OK && uses_dense(pp.retriever))
        st = embed_corpus(e, &pp, ip, out, err);
    if (st == RAG_OK)
        st = rag_eval_run_create(&run);
    size_t nq = qrels ? rag_qrels_n_queries(qrels) : 0;
    if (st == RAG_OK && nq) {
        times = calloc(nq, sizeof *times);
        embed_times = calloc(nq, sizeof *embed_times);
        rerank_times = calloc(nq, sizeof *rerank_times);
        if (!times || !embed_times || !rerank_times)
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
        double t0 = rag_now_ms();
        st = run_query(&q, run, qid, text, err);
        times[n_timed] = rag_now_ms() - t0;
        embed_times[n_timed] = q.embed_ms;
        rerank_times[n_timed] = q.rerank_ms;
        n_timed++;
        if (pp.on_query)
            pp.on_query(pp.ud, i + 1, nq);
    }
    if (st == RAG_OK && pp.run_out && fflush(pp.run_out) != 0)
        st = rag_err_set(err, RAG_E_IO, "writing the run file: %s", strerror(errno));
    if (st == RAG_OK)
        st = rag_eval_run_compute(run, qrels, &out->metrics, err);
    if (st == RAG_OK && n_timed) {
        qsort(times, n_timed, sizeof *times, cmp_double);
        qsort(embed_times, n_timed, sizeof *embed_times, cmp_double);
        qsort(rerank_times, n_timed, sizeof *rerank_times, cmp_double);
        out->query_ms_p50 = times[n_timed / 2];
        size_t i99 = (size_t)((double)n_timed * 0.99);
        out->query_ms_p99 = times[i99 < n_timed ? i99 : n_timed - 1];
        out->query_embed_ms_p50 = embed_times[n_timed / 2];
        out->rerank_ms_p50 = rerank_times[n_timed / 2];
    }
    if (st == RAG_OK && e->dense && uses_dense(pp.retriever)) {
        out->dense_kernel = rag_dense_index_kernel(e->dense);
        out->dense_index_bytes = rag_dense_index_bytes(e->dense);
        out->dense_index_loads = e->dense_loads - loads_before;
    }
    free(times);
    free(embed_times);
    free(rerank_times);
    rag_eval_run_free(run);
    rag_qrels_free(qrels);
    rag_queries_free(queries);
    if (st != RAG_OK)
        rag_beir_report_clear(out);
    return st;
}
