/* The model-backed steps of an answer: reranking the retrieved passages with the reranker chain
 * and generating a cited answer with the generator chain. Neither ever fails a question because a
 * remote service misbehaved: the caller keeps BM25 order or answers extractively, and the
 * answer's report says which member served and why earlier ones were skipped. */
#include "pipeline_internal.h"

#include <stdlib.h>
#include <string.h>

/* "type: reason; type: reason" for the members tried before the one that served (or all of
 * them when none served) into buf[cap]. */
static void skipped_note(const rag_chain_report *r, const char *prefix, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "%s", prefix);
    for (size_t i = 0; i < r->n_members && o < cap; i++) {
        const rag_chain_member_report *m = &r->members[i];
        if ((int)i == r->served || m->builtin)
            continue;
        o += (size_t)snprintf(buf + o, cap - o, "%s%s: %s", o > strlen(prefix) ? "; " : "", m->type,
                              m->reason && *m->reason ? m->reason : rag_status_str(m->status));
    }
    if (o == strlen(prefix))
        buf[0] = '\0';
}

/* Copies src into dst[cap], cut to fit (at a byte; callers pass one-line ASCII-safe text). */
static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void served_label(const rag_chain_report *r, char *buf, size_t cap)
{
    if (r->served_model && *r->served_model)
        snprintf(buf, cap, "%s (%s)", r->served_by ? r->served_by : "?", r->served_model);
    else
        snprintf(buf, cap, "%s", r->served_by ? r->served_by : "?");
}

static void drop_hits_after(rag_search_result *res, size_t k)
{
    for (size_t i = k; i < res->n_hits; i++) {
        rag_chunk_record_clear(&res->hits[i].chunk);
        rag_doc_record_clear(&res->hits[i].doc);
    }
    if (res->n_hits > k)
        res->n_hits = k;
}

typedef struct scored {
    double score;
    size_t index;
} scored;

static int by_score(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->index < y->index ? -1 : (x->index > y->index); /* stable: BM25 order breaks ties */
}

rag_status pipeline_rerank(rag_engine *e, rag_models_request *rq, const char *question, rag_search_result *res,
                           size_t k, rag_answer *out, rag_err *err)
{
    rag_stage_report *stage = &out->stages[2];
    rag_reranker_chain *chain = pipeline_reranker_chain(e->backends);
    double t0 = rag_now_ms();
    if (!chain || res->n_hits < 2) {
        snprintf(stage->backend, sizeof stage->backend, "off");
        snprintf(stage->note, sizeof stage->note, "%s",
                 !e->cfg->retriever.neural_reranking.enabled ? "reranking is off in the configuration (retriever.neural_reranking)"
                 : !chain ? "no reranker in the chain"
                          : "fewer than two passages");
        drop_hits_after(res, k);
        return RAG_OK;
    }
    size_t n = res->n_hits;
    const char **passages = calloc(n, sizeof *passages);
    double *scores = calloc(n, sizeof *scores);
    scored *order = calloc(n, sizeof *order);
    rag_search_hit *sorted = calloc(n, sizeof *sorted);
    if (!passages || !scores || !order || !sorted) {
        free(passages);
        free(scores);
        free(order);
        free(sorted);
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        passages[i] = res->hits[i].chunk.text;
    rag_err rerr;
    rag_err_clear(&rerr);
    rag_status st = rag_reranker_chain_rerank(chain, rq, question, passages, n, scores, &out->rerank_report, &rerr);
    if (st == RAG_OK) {
        for (size_t i = 0; i < n; i++)
            order[i] = (scored){.score = scores[i], .index = i};
        qsort(order, n, sizeof *order, by_score);
        for (size_t i = 0; i < n; i++) {
            sorted[i] = res->hits[order[i].index];
            sorted[i].score = order[i].score;
        }
        memcpy(res->hits, sorted, n * sizeof *sorted);
        served_label(&out->rerank_report, stage->backend, sizeof stage->backend);
        skipped_note(&out->rerank_report, "skipped: ", stage->note, sizeof stage->note);
    } else if (st == RAG_E_CANCELLED || st == RAG_E_NOMEM) {
        rag_err_set(err, st, "%s", rerr.msg);
    } else {
        /* Every member failed, or the chain reached a built-in this build lacks: keep BM25 order. */
        snprintf(stage->backend, sizeof stage->backend, "off");
        skipped_note(&out->rerank_report, "BM25 order kept; ", stage->note, sizeof stage->note);
        if (!stage->note[0])
            copy_cut(stage->note, sizeof stage->note,
                     st == RAG_E_UNSUPPORTED ? "BM25 order kept (the reranker chain reached its end)"
                                             : rerr.msg);
        st = RAG_OK;
    }
    free(passages);
    free(scores);
    free(order);
    free(sorted);
    stage->ms = rag_now_ms() - t0;
    if (st == RAG_OK)
        drop_hits_after(res, k);
    return st;
}

/* Passes model text through to the caller's stream. */
typedef struct stream_ctx {
    const rag_ask_params *p;
} stream_ctx;

static void on_token(void *ud, const char *text, size_t len)
{
    stream_ctx *s = ud;
    if (s->p->on_token)
        s->p->on_token(s->p->ud, text, len);
}

static void on_discard(void *ud)
{
    stream_ctx *s = ud;
    if (s->p->on_discard)
        s->p->on_discard(s->p->ud);
}

/* A source snippet: the start of the passage, cut at a word boundary. Caller frees. */
static char *snippet_of(const char *t)
{
    size_t len = strlen(t), cut = len > 300 ? 300 : len;
    if (cut < len) {
        while (cut > 0 && t[cut] != ' ')
            cut--;
        if (cut == 0)
            cut = 300;
        while (cut > 0 && ((unsigned char)t[cut] & 0xC0) == 0x80)
            cut--;
    }
    rag_buf b;
    rag_buf_init(&b, 0);
    if (rag_buf_append(&b, t, cut) != RAG_OK || (cut < len && rag_buf_append_str(&b, " \xe2\x80\xa6") != RAG_OK)) {
        rag_buf_free(&b);
        return NULL;
    }
    return rag_buf_steal(&b);
}

rag_status pipeline_generate(rag_engine *e, rag_models_request *rq, const char *question, rag_search_result *res,
                             const rag_ask_params *p, rag_answer *out, rag_err *err)
{
    rag_stage_report *stage = &out->stages[3];
    rag_generator_chain *chain = pipeline_generator_chain(e->backends);
    if (!chain || res->n_hits == 0)
        return RAG_E_UNSUPPORTED; /* extractive: nothing to send, or no remote generator */
    double t0 = rag_now_ms();
    size_t *used = calloc(res->n_hits, sizeof *used);
    if (!used)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    size_t n_used = 0;
    rag_buf user;
    rag_buf_init(&user, 0);
    rag_status st = rag_prompt_build(res, question, (size_t)e->cfg->answer_generator.context_tokens, &user, used,
                                     &n_used, err);
    if (st != RAG_OK) {
        free(used);
        rag_buf_free(&user);
        return st;
    }
    rag_chat_message msgs[2] = {{.role = "system", .content = rag_prompt_system()},
                                {.role = "user", .content = user.data}};
    rag_gen_params gp = rag_gen_params_from_config(e->cfg);
    if (p->on_token)
        gp.stream = true;
    gp.on_discard = on_discard;
    stream_ctx sc = {.p = p};
    rag_gen_result gr;
    memset(&gr, 0, sizeof gr);
    rag_err gerr;
    rag_err_clear(&gerr);
    st = rag_generator_chain_generate(chain, rq, msgs, 2, &gp, p->on_token ? on_token : NULL, &sc, &gr,
                                      &out->generator_report, &gerr);
    rag_buf_free(&user);
    stage->ms = rag_now_ms() - t0;
    if (st == RAG_E_CANCELLED || st == RAG_E_NOMEM) {
        free(used);
        return rag_err_set(err, st, "%s", gerr.msg);
    }
    if (st != RAG_OK) {
        /* The chain reached the extractive built-in, or every member failed: answer extractively. */
        free(used);
        skipped_note(&out->generator_report, "skipped: ", stage->note, sizeof stage->note);
        if (st != RAG_E_UNSUPPORTED && !stage->note[0])
            copy_cut(stage->note, sizeof stage->note, gerr.msg);
        if (p->on_discard && p->on_token)
            p->on_discard(p->ud);
        return RAG_E_UNSUPPORTED;
    }
    served_label(&out->generator_report, stage->backend, sizeof stage->backend);
    skipped_note(&out->generator_report, "skipped: ", stage->note, sizeof stage->note);

    rag_citations cit;
    st = rag_citations_validate(gr.text ? gr.text : "", n_used, &cit);
    rag_gen_result_free(&gr);
    if (st != RAG_OK) {
        free(used);
        return rag_err_set(err, st, "validating citations: %s", rag_status_str(st));
    }
    out->text = cit.text;
    cit.text = NULL;
    out->found = true;
    out->n_invalid_citations = cit.n_invalid;
    memcpy(out->invalid_citations, cit.invalid, cit.n_invalid * sizeof cit.invalid[0]);
    out->citations_valid = cit.n_cited > 0 && cit.n_invalid == 0;
    /* Sources: the cited ones, keeping the numbers the model saw. */
    out->sources = calloc(cit.n_cited ? cit.n_cited : 1, sizeof *out->sources);
    if (!out->sources)
        st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
    for (size_t i = 0; st == RAG_OK && i < cit.n_cited; i++) {
        int n = cit.cited[i];
        rag_search_hit *h = &res->hits[used[n - 1]];
        rag_source *s = &out->sources[out->n_sources];
        s->snippet = snippet_of(h->chunk.text);
        if (!s->snippet) {
            st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
            break;
        }
        s->n = n;
        s->hit = *h;
        s->page = h->chunk.page_start;
        s->page_end = h->chunk.page_end;
        memset(h, 0, sizeof *h);
        out->n_sources++;
    }
    rag_citations_clear(&cit);
    free(used);
    return st;
}
