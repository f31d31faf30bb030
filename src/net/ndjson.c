/* Incremental NDJSON parser: one JSON value per line (Ollama streaming). */
#include "net_internal.h"

#include <stdlib.h>
#include <string.h>

#define NDJSON_DEFAULT_MAX ((size_t)1 << 20)

struct rag_ndjson_parser {
    rag_net_stream_base s; /* done: a {"done": true} value was handled */
    rag_ndjson_value_fn cb;
    void *ud;
    size_t line_no, values;
};

rag_status rag_ndjson_parser_create(size_t max_line_bytes, rag_ndjson_value_fn cb, void *ud,
                                    rag_ndjson_parser **out, rag_err *err)
{
    if (!out || !cb)
        return rag_err_set(err, RAG_E_BAD_INPUT, "NDJSON parser: %s is NULL", out ? "callback" : "out");
    *out = NULL;
    rag_ndjson_parser *p = calloc(1, sizeof *p);
    if (!p)
        return rag_err_set(err, RAG_E_NOMEM, "NDJSON parser: out of memory");
    rag_net_stream_init(&p->s, max_line_bytes ? max_line_bytes : NDJSON_DEFAULT_MAX, "NDJSON");
    p->cb = cb;
    p->ud = ud;
    *out = p;
    return RAG_OK;
}

void rag_ndjson_parser_free(rag_ndjson_parser *p)
{
    if (!p)
        return;
    rag_net_stream_free(&p->s);
    free(p);
}

static rag_status process_line(void *ud, const char *line, size_t len, rag_err *err)
{
    rag_ndjson_parser *p = ud;
    p->line_no++;
    if (p->s.done)
        return RAG_OK;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == len)
        return RAG_OK;
    json_error_t je;
    json_t *v = json_loadb(line, len, JSON_DECODE_ANY, &je);
    if (!v) {
        char text[JSON_ERROR_TEXT_LENGTH];
        rag_net_copy_line(text, sizeof text, je.text, sizeof text);
        rag_err_set(err, RAG_E_UPSTREAM, "NDJSON stream line %zu: invalid JSON at column %d: %s", p->line_no,
                    je.column, text);
        rag_net_redact(err->msg, NULL); /* jansson may quote the line */
        return RAG_E_UPSTREAM;
    }
    p->values++;
    bool last = json_is_object(v) && json_is_true(json_object_get(v, "done"));
    rag_status st = p->cb(p->ud, v, p->line_no, err);
    json_decref(v);
    if (last && st == RAG_OK)
        p->s.done = true; /* set after the callback: an error of the final value is not swallowed */
    if (st != RAG_OK && (!err || err->status != st))
        rag_err_set(err, st, "NDJSON value handler stopped the stream at line %zu: %s", p->line_no,
                    rag_status_str(st));
    return st;
}

rag_status rag_ndjson_feed(rag_ndjson_parser *p, const char *chunk, size_t n, rag_err *err)
{
    if (!p)
        return rag_err_set(err, RAG_E_BAD_INPUT, "NDJSON feed: NULL argument");
    return rag_net_stream_feed(&p->s, chunk, n, process_line, p, err);
}

rag_status rag_ndjson_feed_line(rag_ndjson_parser *p, const char *line, size_t len, rag_err *err)
{
    if (!p)
        return rag_err_set(err, RAG_E_BAD_INPUT, "NDJSON feed: NULL argument");
    return rag_net_stream_feed_line(&p->s, line, len, process_line, p, err);
}

rag_status rag_ndjson_finish(rag_ndjson_parser *p, rag_err *err)
{
    rag_err local_err;
    if (!err)
        err = &local_err;
    rag_err_clear(err);
    if (!p)
        return rag_err_set(err, RAG_E_BAD_INPUT, "NDJSON finish: NULL parser");
    rag_status st = rag_net_stream_finish(&p->s, process_line, p, err);
    if (st == RAG_E_UPSTREAM && p->s.truncated)
        return rag_err_set(err, RAG_E_UPSTREAM,
                           "NDJSON stream truncated: ended without a final {\"done\":true} after %zu values",
                           p->values);
    return st;
}

bool rag_ndjson_done(const rag_ndjson_parser *p) { return p && p->s.done; }
bool rag_ndjson_truncated(const rag_ndjson_parser *p) { return p && p->s.truncated; }
size_t rag_ndjson_value_count(const rag_ndjson_parser *p) { return p ? p->values : 0; }

rag_status rag_ndjson_on_line(void *parser, const char *line, size_t len, rag_err *err)
{
    return rag_ndjson_feed_line(parser, line, len, err);
}

rag_status rag_ndjson_on_end(void *parser, rag_err *err)
{
    return rag_ndjson_finish(parser, err);
}
