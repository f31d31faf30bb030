/* Extractive answers: retrieve chunks with BM25, score their sentences against the question and
 * return the best few, each carrying the citation [n] of its source. No LLM, always works. */
#include "pipeline_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/sentence.h"

/* Sentences shorter than this many terms are not answers on their own ("See Fig. 3."). */
#define MIN_SENTENCE_TERMS 3
/* Sentences longer than this (bytes) are not quoted: a table or run-on extraction artifact. */
#define MAX_SENTENCE_BYTES 1200
/* Sentences scored per question, at most (bounds work on huge chunks). */
#define MAX_CANDIDATES 4096

rag_ask_params rag_ask_default_params(void)
{
    rag_ask_params p;
    memset(&p, 0, sizeof p);
    return p;
}

typedef struct qterm {
    char *term;    /* owned */
    double weight; /* idf of the term in the store */
} qterm;

typedef struct candidate {
    size_t hit;        /* index into the search result */
    size_t start, end; /* byte span in the hit's chunk text */
    const char *text;  /* borrowed: the sentence (chunk text + start), valid while the hits live */
    double score;
    uint64_t terms;    /* bit i set: query term i occurs (first 64 query terms) */
    int n_terms;       /* terms in the sentence after analysis */
} candidate;

typedef struct sentence_scan {
    const qterm *q;
    size_t n_q;
    uint64_t seen;
    int n_terms;
} sentence_scan;

static void scan_term(void *ud, const char *term, size_t len)
{
    sentence_scan *s = ud;
    s->n_terms++;
    for (size_t i = 0; i < s->n_q && i < 64; i++)
        if (strlen(s->q[i].term) == len && memcmp(s->q[i].term, term, len) == 0)
            s->seen |= (uint64_t)1 << i;
}

/* Words that carry the form of a question, not its subject. BM25 keeps them (Lucene's stop set
 * is small and retrieval quality is measured with it), but a sentence that shares only these
 * with the question is no answer. Compared after analysis, so they are stemmed like the text. */
static const char QUESTION_WORDS[] =
    "how what why when where which who whom whose do does did done doing can could would should shall "
    "may might must i me my we our you your he she him her his its them us am been being has have had "
    "having about also any all some from than so very just more most other only own same too over "
    "under up down out off again further once here s t don now tell explain describe give show list "
    "mean means use used using";

static bool is_question_word(char *const *words, size_t n, const char *term)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(words[i], term) == 0)
            return true;
    return false;
}

/* Distinct query terms with idf weights from the BM25 statistics. Question words are dropped
 * unless nothing else is left. */
static rag_status build_qterms(rag_engine *e, const char *question, qterm **out, size_t *n_out, rag_err *err)
{
    char **terms = NULL;
    size_t n = 0;
    rag_status st = pipeline_query_terms(e, question, &terms, &n, err);
    if (st != RAG_OK)
        return st;
    char **qwords = NULL;
    size_t n_qwords = 0;
    if (st == RAG_OK)
        st = pipeline_query_terms(e, QUESTION_WORDS, &qwords, &n_qwords, err);
    size_t n_content = 0;
    for (size_t i = 0; st == RAG_OK && i < n; i++)
        n_content += !is_question_word(qwords, n_qwords, terms[i]);
    qterm *q = n ? calloc(n, sizeof *q) : NULL;
    size_t nq = 0;
    rag_bm25_stats stats = {0};
    if (n && !q)
        st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
    else if (n)
        st = rag_bm25_get_stats(e->store, &stats, err);
    for (size_t i = 0; st == RAG_OK && i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < nq && !dup; j++)
            dup = strcmp(q[j].term, terms[i]) == 0;
        if (dup || (n_content > 0 && is_question_word(qwords, n_qwords, terms[i])))
            continue;
        int64_t df = 0;
        st = rag_bm25_df(e->store, terms[i], &df, err);
        if (st != RAG_OK)
            break;
        q[nq].weight = log(1.0 + ((double)stats.n_docs - (double)df + 0.5) / ((double)df + 0.5));
        q[nq].term = terms[i];
        terms[i] = NULL;
        nq++;
    }
    pipeline_query_terms_free(terms, n);
    pipeline_query_terms_free(qwords, n_qwords);
    if (st != RAG_OK) {
        for (size_t j = 0; j < nq; j++)
            free(q[j].term);
        free(q);
        return st;
    }
    *out = q;
    *n_out = nq;
    return RAG_OK;
}

/* Collects and scores the sentences of every hit. */
static rag_status score_sentences(rag_engine *e, const rag_search_result *res, const qterm *q, size_t nq,
                                  candidate **out, size_t *n_out, rag_err *err)
{
    candidate *c = NULL;
    size_t n = 0, cap = 0;
    for (size_t h = 0; h < res->n_hits; h++) {
        const char *text = res->hits[h].chunk.text;
        size_t len = strlen(text);
        rag_span *spans = NULL;
        size_t n_spans = 0;
        rag_status st = rag_sentences_split(text, len, &spans, &n_spans);
        if (st != RAG_OK) {
            free(c);
            return rag_err_set(err, st, "splitting sentences: %s", rag_status_str(st));
        }
        for (size_t i = 0; i < n_spans && n < MAX_CANDIDATES; i++) {
            size_t slen = spans[i].end - spans[i].start;
            if (slen == 0 || slen > MAX_SENTENCE_BYTES)
                continue;
            sentence_scan sc = {.q = q, .n_q = nq, .seen = 0, .n_terms = 0};
            rag_analyzer_run(e->analyzer, text + spans[i].start, slen, scan_term, &sc);
            if (sc.n_terms < MIN_SENTENCE_TERMS || sc.seen == 0)
                continue;
            double s = 0;
            for (size_t t = 0; t < nq && t < 64; t++)
                if (sc.seen & ((uint64_t)1 << t))
                    s += q[t].weight;
            /* Prefer concise sentences: past 40 terms each extra term dilutes the score. */
            if (sc.n_terms > 40)
                s *= 40.0 / (double)sc.n_terms;
            /* Earlier (better ranked) sources win ties. */
            s *= 1.0 - 0.03 * (double)h;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                candidate *nc = realloc(c, ncap * sizeof *nc);
                if (!nc) {
                    free(spans);
                    free(c);
                    return rag_err_set(err, RAG_E_NOMEM, "out of memory");
                }
                c = nc;
                cap = ncap;
            }
            c[n++] = (candidate){.hit = h, .start = spans[i].start, .end = spans[i].end,
                                 .text = text + spans[i].start, .score = s, .terms = sc.seen,
                                 .n_terms = sc.n_terms};
        }
        free(spans);
    }
    *out = c;
    *n_out = n;
    return RAG_OK;
}

static int by_score_desc(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    if (x->hit != y->hit)
        return x->hit < y->hit ? -1 : 1;
    return x->start < y->start ? -1 : (x->start > y->start);
}

static int by_position(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->hit != y->hit)
        return x->hit < y->hit ? -1 : 1;
    return x->start < y->start ? -1 : (x->start > y->start);
}

/* Picks up to max sentences by score, skipping repeats (the same sentence from overlapping
 * chunks) and sentences that add no query term beyond a better one of the same source.
 * Returns the count; the picked ones are c[0..k) sorted by source rank, then position. */
static size_t pick(candidate *c, size_t n, size_t max)
{
    if (n == 0)
        return 0; /* c may be NULL: qsort(NULL, 0, ...) is undefined */
    qsort(c, n, sizeof *c, by_score_desc);
    size_t k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        bool redundant = false;
        for (size_t j = 0; j < k && !redundant; j++) {
            uint64_t extra = c[i].terms & ~c[j].terms;
            size_t len = c[i].end - c[i].start;
            bool same_text = len == c[j].end - c[j].start && memcmp(c[i].text, c[j].text, len) == 0;
            redundant = same_text || (c[i].hit == c[j].hit && extra == 0);
        }
        if (!redundant)
            c[k++] = c[i];
    }
    qsort(c, k, sizeof *c, by_position);
    return k;
}

void rag_answer_clear(rag_answer *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_sources; i++) {
        rag_chunk_record_clear(&a->sources[i].hit.chunk);
        rag_doc_record_clear(&a->sources[i].hit.doc);
        free(a->sources[i].snippet);
    }
    free(a->sources);
    free(a->question);
    free(a->text);
    rag_chain_report_free(&a->embedder_report);
    rag_chain_report_free(&a->rerank_report);
    rag_chain_report_free(&a->generator_report);
    memset(a, 0, sizeof *a);
}

/* Builds answer text, sources and snippets from the picked sentences. Moves the cited hits out
 * of res (their records become owned by the answer). */
static rag_status compose(rag_answer *a, rag_search_result *res, const candidate *c, size_t k, rag_err *err)
{
    int *source_of_hit = calloc(res->n_hits ? res->n_hits : 1, sizeof *source_of_hit);
    a->sources = calloc(k ? k : 1, sizeof *a->sources);
    rag_buf text, *snips = calloc(k ? k : 1, sizeof *snips);
    rag_buf_init(&text, 1 << 20);
    rag_status st = (source_of_hit && a->sources && snips) ? RAG_OK : RAG_E_NOMEM;
    for (size_t i = 0; st == RAG_OK && i < k; i++) {
        size_t h = c[i].hit;
        if (source_of_hit[h] == 0) {
            rag_source *s = &a->sources[a->n_sources];
            s->n = (int)a->n_sources + 1;
            s->hit = res->hits[h];
            memset(&res->hits[h].chunk, 0, sizeof res->hits[h].chunk);
            memset(&res->hits[h].doc, 0, sizeof res->hits[h].doc);
            rag_buf_init(&snips[a->n_sources], 1 << 16);
            source_of_hit[h] = s->n;
            a->n_sources++;
        }
        int n = source_of_hit[h];
        rag_source *src = &a->sources[n - 1];
        const char *chunk_text = src->hit.chunk.text;
        int page = rag_chunk_page_at(&src->hit.chunk, c[i].start);
        if (src->page == 0 || page < src->page)
            src->page = page;
        if (page > src->page_end)
            src->page_end = page;
        size_t len = c[i].end - c[i].start;
        if (text.len)
            st = rag_buf_append_char(&text, ' ');
        if (st == RAG_OK)
            st = rag_buf_append(&text, chunk_text + c[i].start, len);
        if (st == RAG_OK)
            st = rag_buf_appendf(&text, " [%d]", n);
        rag_buf *sn = &snips[n - 1];
        if (st == RAG_OK && sn->len)
            st = rag_buf_append_str(sn, " \xe2\x80\xa6 ");
        if (st == RAG_OK)
            st = rag_buf_append(sn, chunk_text + c[i].start, len);
    }
    for (size_t i = 0; snips && i < a->n_sources; i++) {
        if (st == RAG_OK) {
            a->sources[i].snippet = rag_buf_steal(&snips[i]);
            if (!a->sources[i].snippet)
                st = RAG_E_NOMEM;
        }
        rag_buf_free(&snips[i]);
    }
    free(snips);
    free(source_of_hit);
    if (st == RAG_OK) {
        a->text = rag_buf_steal(&text);
        if (!a->text)
            st = RAG_E_NOMEM;
    }
    rag_buf_free(&text);
    return st == RAG_OK ? RAG_OK : rag_err_set(err, st, "composing answer: %s", rag_status_str(st));
}

/* The embedder stage before retrieval fills it: "none" (BM25 only). */
static void embedder_stage(rag_stage_report *r)
{
    r->stage = "embedder";
    snprintf(r->backend, sizeof r->backend, "none");
    r->note[0] = '\0';
}

/* Extractive answer over res (hits are moved into out->sources). */
static rag_status extractive(rag_engine *e, rag_search_result *res, const qterm *q, size_t nq, size_t max_sent,
                             rag_answer *out, rag_err *err)
{
    candidate *c = NULL;
    size_t nc = 0;
    rag_status st = score_sentences(e, res, q, nq, &c, &nc, err);
    if (st == RAG_OK && nc == 0 && res->n_hits > 0 && nq > 0) {
        /* No quotable sentence (all too long or too short) although the best passage holds a
         * key term of the question: quote its start, cut at a word boundary. */
        const char *t = res->hits[0].chunk.text;
        size_t len = strlen(t);
        sentence_scan sc = {.q = q, .n_q = nq, .seen = 0, .n_terms = 0};
        rag_analyzer_run(e->analyzer, t, len, scan_term, &sc);
        if (sc.seen != 0) {
            size_t end = len > 400 ? 400 : len;
            if (end < len) {
                while (end > 0 && t[end] != ' ')
                    end--; /* a space is always a code point boundary */
                if (end == 0)
                    end = len > 400 ? 400 : len;
                while (end < len && end > 0 && ((unsigned char)t[end] & 0xC0) == 0x80)
                    end--;
            }
            c = malloc(sizeof *c);
            if (!c)
                st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
            else {
                c[0] = (candidate){.hit = 0, .start = 0, .end = end, .text = t, .score = 0};
                nc = 1;
            }
        }
    }
    if (st == RAG_OK) {
        size_t kpick = pick(c, nc, max_sent);
        out->found = kpick > 0;
        if (kpick > 0) {
            st = compose(out, res, c, kpick, err);
        } else {
            out->text = rag_strdup("No passage in the indexed documents contains the key terms of this "
                                   "question.");
            if (!out->text)
                st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
        }
    }
    free(c);
    return st;
}

/* Passes an extractive answer to p->on_token one sentence at a time: each piece ends after a
 * citation " [n]" (1 <= n <= n_sources) followed by a space or the end; the next piece keeps its
 * leading space, so the pieces concatenate to text. */
static void stream_sentences(const rag_ask_params *p, const char *text, size_t n_sources)
{
    size_t len = strlen(text), start = 0;
    for (size_t i = 0; i + 2 < len; i++) {
        if (text[i] != ' ' || text[i + 1] != '[')
            continue;
        size_t j = i + 2, num = 0;
        while (j < len && j - i < 8 && text[j] >= '0' && text[j] <= '9')
            num = num * 10 + (size_t)(text[j++] - '0');
        if (j == i + 2 || j >= len || text[j] != ']' || num < 1 || num > n_sources)
            continue;
        j++;
        if (j < len && text[j] != ' ')
            continue;
        p->on_token(p->ud, text + start, j - start);
        start = j;
        i = j - 1;
    }
    if (start < len)
        p->on_token(p->ud, text + start, len - start);
}

rag_status rag_ask(rag_engine *e, const char *question, const rag_ask_params *p, rag_answer *out, rag_err *err)
{
    memset(out, 0, sizeof *out);
    rag_chain_report_init(&out->embedder_report);
    rag_chain_report_init(&out->rerank_report);
    rag_chain_report_init(&out->generator_report);
    out->citations_valid = true;
    rag_ask_params dp = rag_ask_default_params();
    if (!p)
        p = &dp;
    double t0 = rag_now_ms();
    size_t k = p->k ? p->k : (size_t)e->cfg->retriever.top_k;
    size_t max_sent = p->max_sentences ? p->max_sentences : (size_t)e->cfg->answer_generator.max_sentences;
    out->question = rag_strdup(question);
    if (!out->question)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    out->stages[0] = (rag_stage_report){.stage = "retriever", .backend = "bm25"};
    embedder_stage(&out->stages[1]);
    out->stages[2] = (rag_stage_report){.stage = "reranker", .backend = "off"};
    out->stages[3] = (rag_stage_report){.stage = "generator", .backend = "extractive"};
    out->n_stages = 4;

    /* Retrieval for an answer uses the question's key terms: question words ("what", "how",
     * "does") would otherwise pull in passages that share only the form of the question. */
    qterm *q = NULL;
    size_t nq = 0;
    rag_status st = build_qterms(e, question, &q, &nq, err);
    const char **qt = st == RAG_OK && nq ? calloc(nq, sizeof *qt) : NULL;
    if (st == RAG_OK && nq && !qt)
        st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
    for (size_t i = 0; qt && i < nq; i++)
        qt[i] = q[i].term;
    size_t k_retrieve = k;
    if (pipeline_reranker_chain(e->backends) &&
        (size_t)e->cfg->retriever.neural_reranking.max_candidates > k_retrieve)
        k_retrieve = (size_t)e->cfg->retriever.neural_reranking.max_candidates;
    rag_search_result res;
    memset(&res, 0, sizeof res);
    rag_models_request rq;
    memset(&rq, 0, sizeof rq);
    rq.cancel = p->cancel;
    int64_t *ids = NULL;
    double *scores = NULL;
    size_t n_ids = 0;
    if (st == RAG_OK)
        st = pipeline_hybrid_ids(e, &rq, question, qt, nq, k_retrieve, &ids, &scores, &n_ids, out, err);
    if (st == RAG_OK)
        st = pipeline_load_hits(e, ids, scores, n_ids, &res, err);
    free(ids);
    free(scores);
    free(qt);

    if (st == RAG_OK)
        st = pipeline_rerank(e, &rq, question, &res, k, out, err);
    bool generated = false;
    if (st == RAG_OK && p->cancel && atomic_load(p->cancel))
        st = rag_err_set(err, RAG_E_CANCELLED, "cancelled");
    if (st == RAG_OK) {
        st = pipeline_generate(e, &rq, question, &res, p, out, err);
        generated = st == RAG_OK;
        if (st == RAG_E_UNSUPPORTED)
            st = RAG_OK;
    }
    if (st == RAG_OK && !generated) {
        double tg = rag_now_ms();
        snprintf(out->stages[3].backend, sizeof out->stages[3].backend, "extractive");
        st = extractive(e, &res, q, nq, max_sent, out, err);
        out->stages[3].ms += rag_now_ms() - tg;
        if (st == RAG_OK && p->on_token && out->text)
            stream_sentences(p, out->text, out->n_sources);
    } else if (st == RAG_OK && out->n_sources == 0) {
        /* The model cited no valid source: keep its text, attach the sources the extractive
         * answerer would cite, and flag the answer (citations_valid is false). */
        rag_answer ex;
        memset(&ex, 0, sizeof ex);
        st = extractive(e, &res, q, nq, max_sent, &ex, err);
        if (st == RAG_OK) {
            free(out->sources);
            out->sources = ex.sources;
            out->n_sources = ex.n_sources;
            ex.sources = NULL;
            ex.n_sources = 0;
        }
        rag_answer_clear(&ex);
    }
    out->tokens_in = out->embedder_report.tokens_in + out->rerank_report.tokens_in + out->generator_report.tokens_in;
    out->tokens_out =
        out->embedder_report.tokens_out + out->rerank_report.tokens_out + out->generator_report.tokens_out;
    out->cost_usd = rq.spent_usd;
    for (size_t i = 0; i < nq; i++)
        free(q[i].term);
    free(q);
    rag_search_result_clear(&res);
    out->total_ms = rag_now_ms() - t0;
    if (st != RAG_OK)
        rag_answer_clear(out);
    return st;
}
