/* Rendering answers for people (text) and programs (JSON). */
#include "pipeline_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* "p. 3", "pp. 3-4", or "" for formats without pages. Writes into buf[cap]. */
static const char *pages_label(int first, int last, char *buf, size_t cap)
{
    if (first <= 0)
        buf[0] = '\0';
    else if (last > first)
        snprintf(buf, cap, "pp. %d-%d", first, last);
    else
        snprintf(buf, cap, "p. %d", first);
    return buf;
}

static const char *display_name(const rag_doc_record *d)
{
    if (d->ext_id && *d->ext_id)
        return d->ext_id;
    const char *slash = d->source ? strrchr(d->source, '/') : NULL;
    return slash ? slash + 1 : (d->source ? d->source : "?");
}

void rag_answer_print(const rag_answer *a, FILE *f)
{
    fprintf(f, "%s\n", a->text ? a->text : "");
    if (a->n_sources == 0)
        return;
    fprintf(f, "\nSources:\n");
    for (size_t i = 0; i < a->n_sources; i++) {
        const rag_source *s = &a->sources[i];
        char pages[64];
        pages_label(s->page, s->page_end, pages, sizeof pages);
        fprintf(f, "[%d] %s", s->n, display_name(&s->hit.doc));
        if (s->hit.doc.title && *s->hit.doc.title)
            fprintf(f, " \"%s\"", s->hit.doc.title);
        if (pages[0])
            fprintf(f, ", %s", pages);
        fprintf(f, "\n    %s\n", s->hit.doc.source ? s->hit.doc.source : "");
    }
}

static json_t *source_json(const rag_source *s)
{
    const rag_chunk_record *c = &s->hit.chunk;
    const rag_doc_record *d = &s->hit.doc;
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer(s->n));
    json_object_set_new(o, "document", json_string(d->source ? d->source : ""));
    json_object_set_new(o, "title", d->title ? json_string(d->title) : json_null());
    json_object_set_new(o, "doc_id", json_integer(d->id));
    if (d->ext_id)
        json_object_set_new(o, "ext_id", json_string(d->ext_id));
    if (s->page > 0) {
        json_object_set_new(o, "page", json_integer(s->page));
        json_object_set_new(o, "page_end", json_integer(s->page_end));
        json_object_set_new(o, "passage_pages", json_pack("[ii]", c->page_start, c->page_end));
    } else {
        json_object_set_new(o, "page", json_null());
    }
    json_object_set_new(o, "chunk_id", json_integer(c->id));
    json_object_set_new(o, "score", json_real(s->hit.score));
    json_object_set_new(o, "snippet", json_string(s->snippet ? s->snippet : ""));
    return o;
}

rag_status rag_answer_to_json(const rag_answer *a, rag_buf *out)
{
    json_t *root = json_object();
    json_object_set_new(root, "question", json_string(a->question ? a->question : ""));
    json_object_set_new(root, "answer", json_string(a->text ? a->text : ""));
    json_object_set_new(root, "found", json_boolean(a->found));
    json_t *sources = json_array();
    for (size_t i = 0; i < a->n_sources; i++)
        json_array_append_new(sources, source_json(&a->sources[i]));
    json_object_set_new(root, "sources", sources);
    json_t *report = json_object();
    json_t *stages = json_object();
    for (size_t i = 0; i < a->n_stages; i++) {
        const rag_stage_report *r = &a->stages[i];
        json_t *s = json_object();
        json_object_set_new(s, "backend", json_string(r->backend));
        json_object_set_new(s, "ms", json_real(r->ms));
        if (r->note)
            json_object_set_new(s, "note", json_string(r->note));
        json_object_set_new(stages, r->stage, s);
    }
    json_object_set_new(report, "stages", stages);
    json_object_set_new(report, "total_ms", json_real(a->total_ms));
    json_object_set_new(report, "cost_usd", json_real(0.0));
    json_object_set_new(root, "report", report);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(root);
    if (!s)
        return RAG_E_NOMEM;
    rag_status st = rag_buf_append_str(out, s);
    free(s);
    return st;
}

rag_status rag_search_result_to_json(const char *query, const rag_search_result *res, rag_buf *out)
{
    json_t *root = json_object(), *arr = json_array();
    json_object_set_new(root, "query", json_string(query));
    for (size_t i = 0; i < res->n_hits; i++) {
        const rag_search_hit *h = &res->hits[i];
        json_t *o = json_object();
        json_object_set_new(o, "rank", json_integer((json_int_t)i + 1));
        json_object_set_new(o, "score", json_real(h->score));
        json_object_set_new(o, "document", json_string(h->doc.source));
        if (h->doc.ext_id)
            json_object_set_new(o, "ext_id", json_string(h->doc.ext_id));
        json_object_set_new(o, "title", h->doc.title ? json_string(h->doc.title) : json_null());
        json_object_set_new(o, "page", h->chunk.page_start > 0 ? json_integer(h->chunk.page_start) : json_null());
        json_object_set_new(o, "page_end", h->chunk.page_end > 0 ? json_integer(h->chunk.page_end) : json_null());
        json_object_set_new(o, "chunk_id", json_integer(h->chunk.id));
        json_object_set_new(o, "doc_id", json_integer(h->doc.id));
        json_object_set_new(o, "text", json_string(h->chunk.text));
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "results", arr);
    json_object_set_new(root, "ms", json_real(res->ms));
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(root);
    if (!s)
        return RAG_E_NOMEM;
    rag_status st = rag_buf_append_str(out, s);
    free(s);
    return st;
}
