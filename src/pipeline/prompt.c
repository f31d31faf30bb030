/* Prompt assembly for LLM generators: numbered sources within a token budget, then the question.
 *
 * Source block format (one per source, separated by a blank line), which the fake HF server in
 * tests/fakehf reads the same way a model does:
 *     [n] (<document name>, p. <page>) <passage text on one line>
 */
#include "pipeline_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ragc/chunker.h"

static const char SYSTEM_PROMPT[] =
    "You answer questions using only the numbered sources provided. After every sentence, cite the "
    "source(s) it comes from as [n], for example [1] or [1][3]. If the sources do not contain the "
    "answer, say that you don't know. Be concise; do not invent facts, page numbers or sources.";

const char *rag_prompt_system(void)
{
    return SYSTEM_PROMPT;
}

/* True if hit b repeats text of an earlier hit a: same document, overlapping byte ranges. */
static bool overlaps(const rag_search_hit *a, const rag_search_hit *b)
{
    return a->doc.id == b->doc.id && a->chunk.byte_start < b->chunk.byte_end &&
           b->chunk.byte_start < a->chunk.byte_end;
}

static const char *doc_name(const rag_doc_record *d)
{
    if (d->title && *d->title)
        return d->title;
    if (d->ext_id && *d->ext_id)
        return d->ext_id;
    const char *s = d->source ? strrchr(d->source, '/') : NULL;
    return s ? s + 1 : (d->source ? d->source : "?");
}

/* Appends text with newlines flattened to spaces (a source stays on one line). */
static rag_status append_flat(rag_buf *b, const char *t, size_t n)
{
    rag_status st = RAG_OK;
    for (size_t i = 0; i < n && st == RAG_OK; i++)
        st = rag_buf_append_char(b, t[i] == '\n' || t[i] == '\r' ? ' ' : t[i]);
    return st;
}

rag_status rag_prompt_build(const rag_search_result *res, const char *question, size_t context_tokens,
                            rag_buf *user, size_t *used, size_t *n_used, rag_err *err)
{
    *n_used = 0;
    size_t budget = context_tokens;
    rag_status st = rag_buf_append_str(user, "Sources:\n\n");
    for (size_t i = 0; st == RAG_OK && i < res->n_hits; i++) {
        const rag_search_hit *h = &res->hits[i];
        bool dup = false;
        for (size_t j = 0; j < *n_used && !dup; j++)
            dup = overlaps(&res->hits[used[j]], h);
        if (dup)
            continue;
        size_t len = strlen(h->chunk.text);
        size_t tokens = rag_token_estimate(h->chunk.text, len);
        if (tokens > budget) {
            if (*n_used > 0)
                continue; /* a later, shorter source may still fit */
            /* The best source alone is over the budget: keep its start, cut at a space. */
            size_t cut = len * budget / (tokens ? tokens : 1);
            while (cut > 0 && h->chunk.text[cut] != ' ')
                cut--;
            len = cut;
            tokens = budget;
            if (len == 0)
                continue;
        }
        budget -= tokens;
        used[(*n_used)++] = i;
        char head[320];
        if (h->chunk.page_start > 0)
            snprintf(head, sizeof head, "[%zu] (%s, p. %d) ", *n_used, doc_name(&h->doc), h->chunk.page_start);
        else
            snprintf(head, sizeof head, "[%zu] (%s) ", *n_used, doc_name(&h->doc));
        st = rag_buf_append_str(user, head);
        if (st == RAG_OK)
            st = append_flat(user, h->chunk.text, len);
        if (st == RAG_OK)
            st = rag_buf_append_str(user, "\n\n");
    }
    if (st == RAG_OK)
        st = rag_buf_appendf(user, "Question: %s\n", question);
    return st == RAG_OK ? RAG_OK : rag_err_set(err, st, "building the prompt: %s", rag_status_str(st));
}
