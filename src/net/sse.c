/* Incremental Server-Sent Events parser (see include/ragc/net_stream.h for the subset). */
#include "net_internal.h"

#include <stdlib.h>
#include <string.h>

#define SSE_DEFAULT_MAX ((size_t)1 << 20)

struct rag_sse_parser {
    rag_net_stream_base s; /* done: data: [DONE] was seen */
    rag_buf data; /* data lines of the current event, each followed by '\n' */
    rag_buf type; /* event type of the current event ("" = "message") */
    rag_buf id;   /* last event id; persists across events */
    rag_sse_event_fn cb;
    void *ud;
    bool first_line_seen; /* the BOM check is done */
    size_t events;
};

rag_status rag_sse_parser_create(size_t max_event_bytes, rag_sse_event_fn cb, void *ud,
                                 rag_sse_parser **out, rag_err *err)
{
    if (!out || !cb)
        return rag_err_set(err, RAG_E_BAD_INPUT, "SSE parser: %s is NULL", out ? "callback" : "out");
    *out = NULL;
    rag_sse_parser *p = calloc(1, sizeof *p);
    if (!p)
        return rag_err_set(err, RAG_E_NOMEM, "SSE parser: out of memory");
    rag_net_stream_init(&p->s, max_event_bytes ? max_event_bytes : SSE_DEFAULT_MAX, "SSE");
    rag_buf_init(&p->data, 0);
    rag_buf_init(&p->type, 0);
    rag_buf_init(&p->id, 0);
    p->cb = cb;
    p->ud = ud;
    *out = p;
    return RAG_OK;
}

void rag_sse_parser_free(rag_sse_parser *p)
{
    if (!p)
        return;
    rag_net_stream_free(&p->s);
    rag_buf_free(&p->data);
    rag_buf_free(&p->type);
    rag_buf_free(&p->id);
    free(p);
}

static rag_status dispatch(rag_sse_parser *p, rag_err *err)
{
    if (p->data.len == 0) {
        rag_buf_reset(&p->type);
        return RAG_OK;
    }
    p->data.data[--p->data.len] = '\0'; /* the last '\n' */
    rag_sse_event ev;
    ev.type = p->type.len ? p->type.data : "message";
    ev.data = p->data.data;
    ev.data_len = p->data.len;
    ev.id = p->id.len ? p->id.data : "";
    p->events++;
    rag_status st = p->cb(p->ud, &ev, err);
    rag_buf_reset(&p->data);
    rag_buf_reset(&p->type);
    if (st != RAG_OK && (!err || err->status != st))
        rag_err_set(err, st, "SSE event handler stopped the stream: %s", rag_status_str(st));
    return st;
}

static rag_status set_buf(rag_buf *b, const char *v, size_t n, rag_err *err)
{
    rag_buf_reset(b);
    if (rag_buf_append(b, v, n) != RAG_OK)
        return rag_err_set(err, RAG_E_NOMEM, "SSE stream: out of memory");
    if (b->data)
        b->data[b->len] = '\0';
    return RAG_OK;
}

static rag_status process_line(void *ud, const char *line, size_t len, rag_err *err)
{
    rag_sse_parser *p = ud;
    if (p->s.done)
        return RAG_OK;
    if (!p->first_line_seen) {
        p->first_line_seen = true;
        if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            len -= 3;
        }
    }
    if (len == 0)
        return dispatch(p, err);
    if (line[0] == ':')
        return RAG_OK;
    const char *colon = memchr(line, ':', len);
    size_t flen = colon ? (size_t)(colon - line) : len;
    const char *v = colon ? colon + 1 : line + len;
    size_t vlen = colon ? len - flen - 1 : 0;
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        if (p->data.len == 0 && vlen == 6 && memcmp(v, "[DONE]", 6) == 0) {
            p->s.done = true;
            rag_buf_reset(&p->type);
            return RAG_OK;
        }
        if (vlen + 1 > p->s.max || p->data.len > p->s.max - vlen - 1)
            return rag_err_set(err, RAG_E_TOO_LARGE, "SSE stream: event data larger than %zu bytes", p->s.max);
        if (rag_buf_append(&p->data, v, vlen) != RAG_OK || rag_buf_append_char(&p->data, '\n') != RAG_OK)
            return rag_err_set(err, RAG_E_NOMEM, "SSE stream: out of memory");
    } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
        return set_buf(&p->type, v, vlen, err);
    } else if (flen == 2 && memcmp(line, "id", 2) == 0) {
        if (!memchr(v, '\0', vlen))
            return set_buf(&p->id, v, vlen, err);
    }
    /* "retry" and unknown fields are ignored */
    return RAG_OK;
}

rag_status rag_sse_feed(rag_sse_parser *p, const char *chunk, size_t n, rag_err *err)
{
    if (!p)
        return rag_err_set(err, RAG_E_BAD_INPUT, "SSE feed: NULL argument");
    return rag_net_stream_feed(&p->s, chunk, n, process_line, p, err);
}

rag_status rag_sse_feed_line(rag_sse_parser *p, const char *line, size_t len, rag_err *err)
{
    if (!p)
        return rag_err_set(err, RAG_E_BAD_INPUT, "SSE feed: NULL argument");
    return rag_net_stream_feed_line(&p->s, line, len, process_line, p, err);
}

rag_status rag_sse_finish(rag_sse_parser *p, rag_err *err)
{
    rag_err local_err;
    if (!err)
        err = &local_err;
    rag_err_clear(err);
    if (!p)
        return rag_err_set(err, RAG_E_BAD_INPUT, "SSE finish: NULL parser");
    /* an unfinished event (no blank line after it) is dropped */
    rag_status st = rag_net_stream_finish(&p->s, process_line, p, err);
    if (st == RAG_E_UPSTREAM && p->s.truncated)
        return rag_err_set(err, RAG_E_UPSTREAM, "SSE stream truncated: ended without data: [DONE] after %zu events",
                           p->events);
    return st;
}

bool rag_sse_done(const rag_sse_parser *p) { return p && p->s.done; }
bool rag_sse_truncated(const rag_sse_parser *p) { return p && p->s.truncated; }
size_t rag_sse_event_count(const rag_sse_parser *p) { return p ? p->events : 0; }

rag_status rag_sse_on_line(void *parser, const char *line, size_t len, rag_err *err)
{
    return rag_sse_feed_line(parser, line, len, err);
}

rag_status rag_sse_on_end(void *parser, rag_err *err)
{
    return rag_sse_finish(parser, err);
}
