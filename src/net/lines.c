/* Line splitting for streamed bodies and safe one-line copies of untrusted text. */
#include "net_internal.h"

#include <stdio.h>
#include <string.h>

void rag_net_lines_init(rag_net_lines *ls, size_t max_line)
{
    rag_buf_init(&ls->cur, 0);
    ls->max = max_line ? max_line : (size_t)1 << 20;
    ls->after_cr = false;
}

void rag_net_lines_free(rag_net_lines *ls)
{
    if (ls)
        rag_buf_free(&ls->cur);
}

bool rag_net_lines_pending(const rag_net_lines *ls)
{
    return ls->cur.len > 0;
}

static rag_status deliver(rag_net_lines *ls, rag_net_line_fn cb, void *ud, rag_err *err)
{
    /* an empty line has data == NULL until the first append: pass "" */
    const char *line = ls->cur.data ? ls->cur.data : "";
    size_t len = ls->cur.len;
    rag_status st = cb(ud, line, len, err);
    rag_buf_reset(&ls->cur);
    if (ls->cur.data)
        ls->cur.data[0] = '\0';
    return st;
}

static rag_status append(rag_net_lines *ls, const char *p, size_t n, const char *what, rag_err *err)
{
    if (n == 0)
        return RAG_OK;
    if (n > ls->max || ls->cur.len > ls->max - n)
        return rag_err_set(err, RAG_E_TOO_LARGE, "%s: line longer than %zu bytes", what, ls->max);
    if (rag_buf_append(&ls->cur, p, n) != RAG_OK)
        return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory buffering a line", what);
    return RAG_OK;
}

rag_status rag_net_lines_feed(rag_net_lines *ls, const char *p, size_t n, rag_net_line_fn cb, void *ud,
                              const char *what, rag_err *err)
{
    size_t i = 0;
    while (i < n) {
        if (ls->after_cr) {
            ls->after_cr = false;
            if (p[i] == '\n') { /* second half of a CRLF split across chunks */
                i++;
                continue;
            }
        }
        /* find the next terminator */
        size_t j = i;
        while (j < n && p[j] != '\n' && p[j] != '\r')
            j++;
        rag_status st = append(ls, p + i, j - i, what, err);
        if (st != RAG_OK)
            return st;
        if (j == n)
            break;
        if (p[j] == '\r') {
            if (j + 1 < n && p[j + 1] == '\n')
                j++;
            else if (j + 1 == n)
                ls->after_cr = true;
        }
        st = deliver(ls, cb, ud, err);
        if (st != RAG_OK)
            return st;
        i = j + 1;
    }
    return RAG_OK;
}

rag_status rag_net_lines_flush(rag_net_lines *ls, rag_net_line_fn cb, void *ud, rag_err *err)
{
    if (ls->cur.len == 0)
        return RAG_OK;
    return deliver(ls, cb, ud, err);
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t bad;
    size_t len = s[0] < 0xC0 ? 1 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
    if (s[0] >= 0x80 && s[0] < 0xC0)
        return 0;
    if (len > n)
        return 0;
    return rag_utf8_valid((const char *)s, len, &bad) ? len : 0;
}

void rag_net_copy_line(char *dst, size_t cap, const char *src, size_t max_src)
{
    if (!dst || cap == 0)
        return;
    size_t o = 0, i = 0;
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    size_t n = src ? strnlen(src, max_src) : 0;
    while (i < n) {
        size_t k = utf8_seq(s + i, n - i);
        if (k == 0) {
            if (o + 1 >= cap)
                break;
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + k >= cap)
            break;
        if (k == 1 && (s[i] < 0x20 || s[i] == 0x7F)) {
            dst[o++] = ' ';
        } else {
            memcpy(dst + o, s + i, k);
            o += k;
        }
        i += k;
    }
    dst[o] = '\0';
}

void rag_net_describe(char *dst, size_t cap, const rag_net_request *req)
{
    const char *url = req && req->url ? req->url : "(no URL)";
    size_t n = strcspn(url, "?#");
    if (n > 200)
        n = 200;
    char clean[201];
    rag_net_copy_line(clean, sizeof clean, url, n);
    snprintf(dst, cap, "%s %s", req && req->method == RAG_HTTP_POST ? "POST" : "GET", clean);
}

/* ---- the shared state of the SSE and NDJSON parsers ---- */

void rag_net_stream_init(rag_net_stream_base *b, size_t max, const char *name)
{
    memset(b, 0, sizeof *b);
    b->max = max;
    b->name = name;
    rag_net_lines_init(&b->lines, max);
    rag_err_clear(&b->failed);
}

void rag_net_stream_free(rag_net_stream_base *b)
{
    rag_net_lines_free(&b->lines);
}

rag_status rag_net_stream_fail(rag_net_stream_base *b, rag_status st, rag_err *err)
{
    if (err->status != st)
        rag_err_set(err, st, "%s stream: %s", b->name, rag_status_str(st));
    b->failed = *err;
    return st;
}

static rag_status stream_sticky(const rag_net_stream_base *b, rag_err *err)
{
    *err = b->failed;
    return b->failed.status;
}

rag_status rag_net_stream_feed(rag_net_stream_base *b, const char *chunk, size_t n, rag_net_line_fn line,
                               void *ud, rag_err *err)
{
    rag_err local_err;
    if (!err)
        err = &local_err;
    rag_err_clear(err);
    if (!chunk && n > 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s feed: NULL argument", b->name);
    if (b->failed.status != RAG_OK)
        return stream_sticky(b, err);
    if (b->done)
        return RAG_OK;
    char what[32];
    snprintf(what, sizeof what, "%s stream", b->name);
    rag_status st = rag_net_lines_feed(&b->lines, chunk, n, line, ud, what, err);
    if (st != RAG_OK && b->done) { /* a later line of this chunk (e.g. too long): ignored after the end */
        rag_err_clear(err);
        return RAG_OK;
    }
    return st == RAG_OK ? RAG_OK : rag_net_stream_fail(b, st, err);
}

rag_status rag_net_stream_feed_line(rag_net_stream_base *b, const char *text, size_t len, rag_net_line_fn line,
                                    void *ud, rag_err *err)
{
    rag_err local_err;
    if (!err)
        err = &local_err;
    rag_err_clear(err);
    if (!text && len > 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s feed: NULL argument", b->name);
    if (b->failed.status != RAG_OK)
        return stream_sticky(b, err);
    if (b->done)
        return RAG_OK; /* everything after the end of the stream is ignored, even an oversized line */
    if (len > b->max) {
        rag_err_set(err, RAG_E_TOO_LARGE, "%s stream: line longer than %zu bytes", b->name, b->max);
        return rag_net_stream_fail(b, RAG_E_TOO_LARGE, err);
    }
    rag_status st = line(ud, text ? text : "", len, err);
    return st == RAG_OK ? RAG_OK : rag_net_stream_fail(b, st, err);
}

rag_status rag_net_stream_finish(rag_net_stream_base *b, rag_net_line_fn line, void *ud, rag_err *err)
{
    if (b->failed.status != RAG_OK)
        return stream_sticky(b, err);
    if (!b->done && rag_net_lines_pending(&b->lines)) {
        /* an unterminated last line can still be the end marker */
        rag_status st = rag_net_lines_flush(&b->lines, line, ud, err);
        if (st != RAG_OK)
            return rag_net_stream_fail(b, st, err);
    }
    b->truncated = !b->done;
    return b->done ? RAG_OK : RAG_E_UPSTREAM;
}
