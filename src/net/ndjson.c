/* Incremental NDJSON parser: one JSON value per line (Ollama streaming). */
#include "net_internal.h"

#include <stdlib.h>
#include <string.h>

#define NDJSON_DEFAULT_MAX ((size_t)1 << 20)

struct rag_ndjson_parser {
    rag_net_lines lines;
    size_t max;
    rag_ndjson_value_fn cb;
    void *ud;
    size_t line_no, values;
    bool done, truncated;
    rag_err failed; /* sticky error */
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
    p->max = max_line_bytes ? max_line_bytes : NDJSON_DEFAULT_MAX;
    rag_net_lines_init(&p->lines, p->max);
    p->cb = cb;
    p->ud = ud;
    rag_err_clear(&p->failed);
    *out = p;
    return RAG_OK;
}

void rag_ndjson_parser_free(rag_ndjson_parser *p)
{
    if (!p)
        return;
    rag_net_lines_free(&p->lines);
    free(p);
}

/* err is never NULL here (see the public entry points). */
static rag_status fail(rag_ndjson_parser *p, rag_status st, rag_err *err)
{
    if (err->status != st)
        rag_err_set(err, st, "NDJSON stream: %s", rag_status_str(st));
    p->failed = *err;
    return st;
}

static rag_status sticky(rag_ndjson_parser *p, rag_err *err)
{
    if (err)
        *err = p->failed;
    return p->failed.status;
}

static rag_status process_line(void *ud, const char *line, size_t len, rag_err *err)
{
    rag_ndjson_parser *p = ud;
    p->line_no++;
    if (p->done)
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
        p->done = true; /* set after the callback: an error of the final value is not swallowed */
    if (st != RAG_OK && (!err || err->status != st))
        rag_err_set(err, st, "NDJSON value handler stopped the stream at line %zu: %s", p->line_no,
                    rag_status_str(st));
    return st;
}

rag_status rag_ndjson_feed(rag_ndjson_parser *p, const char *chunk, size_t n, rag_err *err)
{
    rag_err local_err;
    if (!err)
        err = &local_err;
    rag_err_clear(err);
    if (!p || (!chunk && n > 0))
        return rag_err_set(err, RAG_E_BAD_INPUT, "NDJSON feed: NULL argument");
    if (p->failed.status != RAG_OK)
        return sticky(p, err);
    if (p->done)
        return RAG_OK;
    rag_status st = rag_net_lines_feed(&p->lines, chunk, n, process_line, p, "NDJSON stream", err);
    if (st != RAG_OK && p->done) { /* a later line of this chunk (e.g. too long): ignored after the end */
        rag_err_clear(err);
        return RAG_OK;
    }
    return st == RAG_OK ? RAG_OK : fail(p, st, err);
}

rag_status rag_ndjson_feed_line(rag_ndjson_parser *p, const char *line, size_t len, rag_err *err)
{
    rag_err local_err;
    if (!err)
        err = &local_err;
    rag_err_clear(err);
    if (!p || (!line && len > 0))
        return rag_err_set(err, RAG_E_BAD_INPUT, "NDJSON feed: NULL argument");
    if (p->failed.status != RAG_OK)
        return sticky(p, err);
    if (p->done)
        return RAG_OK; /* everything after the end of the stream is ignored, even an oversized line */
    if (len > p->max) {
        rag_err_set(err, RAG_E_TOO_LARGE, "NDJSON stream: line longer than %zu bytes", p->max);
        return fail(p, RAG_E_TOO_LARGE, err);
    }
    rag_status st = process_line(p, line ? line : "", len, err);
    return st == RAG_OK ? RAG_OK : fail(p, st, err);
}

rag_status rag_ndjson_finish(rag_ndjson_parser *p, rag_err *err)
{
    rag_err local_err;
    if (!err)
        err = &local_err;
    rag_err_clear(err);
    if (!p)
        return rag_err_set(err, RAG_E_BAD_INPUT, "NDJSON finish: NULL parser");
    if (p->failed.status != RAG_OK)
        return sticky(p, err);
    if (!p->done) {
        rag_status st = rag_net_lines_flush(&p->lines, process_line, p, err);
        if (st != RAG_OK)
            return fail(p, st, err);
    }
    if (p->done) {
        p->truncated = false;
        return RAG_OK;
    }
    p->truncated = true;
    return rag_err_set(err, RAG_E_UPSTREAM,
                       "NDJSON stream truncated: ended without a final {\"done\":true} after %zu values",
                       p->values);
}

bool rag_ndjson_done(const rag_ndjson_parser *p) { return p && p->done; }
bool rag_ndjson_truncated(const rag_ndjson_parser *p) { return p && p->truncated; }
size_t rag_ndjson_value_count(const rag_ndjson_parser *p) { return p ? p->values : 0; }

rag_status rag_ndjson_on_line(void *parser, const char *line, size_t len, rag_err *err)
{
    return rag_ndjson_feed_line(parser, line, len, err);
}

rag_status rag_ndjson_on_end(void *parser, rag_err *err)
{
    return rag_ndjson_finish(parser, err);
}
