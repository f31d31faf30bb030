/* Internal helpers shared by src/net: the line splitter used by the HTTP stream mode and the
 * SSE / NDJSON parsers. */
#ifndef RAGC_NET_INTERNAL_H
#define RAGC_NET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "ragc/net.h"

/* Splits a byte stream into lines ended by LF, CRLF or a lone CR (a CR at the end of one chunk
 * and an LF at the start of the next are one terminator). */
typedef struct rag_net_lines {
    rag_buf cur;    /* the pending partial line; owned */
    size_t max;     /* cap on one line in bytes (without terminator) */
    bool after_cr;  /* the previous byte was a CR ending a line */
} rag_net_lines;

void rag_net_lines_init(rag_net_lines *ls, size_t max_line);
void rag_net_lines_free(rag_net_lines *ls);
/* Feeds n bytes; calls cb(ud, line, len, err) for each complete line (NUL-terminated, borrowed
 * during the call). A callback status other than RAG_OK stops and is returned. A line longer than
 * max -> RAG_E_TOO_LARGE naming `what` (e.g. "SSE stream"). */
rag_status rag_net_lines_feed(rag_net_lines *ls, const char *p, size_t n, rag_net_line_fn cb, void *ud,
                              const char *what, rag_err *err);
/* True if a partial line (without terminator) is pending. */
bool rag_net_lines_pending(const rag_net_lines *ls);
/* Delivers the pending partial line, if any, as a line. */
rag_status rag_net_lines_flush(rag_net_lines *ls, rag_net_line_fn cb, void *ud, rag_err *err);

/* The state the SSE and NDJSON parsers share: the line splitter, the end of the stream, a sticky
 * error. `name` ("SSE", "NDJSON") prefixes the messages. */
typedef struct rag_net_stream_base {
    rag_net_lines lines;
    size_t max;       /* cap on one line (and, for SSE, one event's data), bytes */
    const char *name; /* static */
    bool done;        /* the end marker was seen: later input is ignored */
    bool truncated;   /* finish saw no end marker */
    rag_err failed;   /* sticky error: status != RAG_OK after a failure */
} rag_net_stream_base;

void rag_net_stream_init(rag_net_stream_base *b, size_t max, const char *name);
void rag_net_stream_free(rag_net_stream_base *b);
/* Records a failure (err gets "<name> stream: <status>" when it holds no message of st) and
 * returns st; every later call returns it again. err is never NULL. */
rag_status rag_net_stream_fail(rag_net_stream_base *b, rag_status st, rag_err *err);
/* Feeds n bytes of a stream, calling line(ud, ...) per complete line. err may be NULL. After the
 * end marker everything is ignored (even a later too-long line of the same chunk). */
rag_status rag_net_stream_feed(rag_net_stream_base *b, const char *chunk, size_t n, rag_net_line_fn line,
                               void *ud, rag_err *err);
/* Feeds one line without its terminator (lines longer than max fail). err may be NULL. */
rag_status rag_net_stream_feed_line(rag_net_stream_base *b, const char *text, size_t len, rag_net_line_fn line,
                                    void *ud, rag_err *err);
/* Ends the stream: an unterminated last line is delivered; RAG_OK when the end marker was seen,
 * else RAG_E_UPSTREAM with b->truncated set and err left for the caller to word. err is never
 * NULL. */
rag_status rag_net_stream_finish(rag_net_stream_base *b, rag_net_line_fn line, void *ud, rag_err *err);

/* Copies src into dst[0..cap) as one line: control characters become spaces, invalid UTF-8 bytes
 * become '?', cut at a character boundary; at most max_src bytes of src are read. */
void rag_net_copy_line(char *dst, size_t cap, const char *src, size_t max_src);

/* Clears every field of r (json freed) but keeps the body's memory. */
void rag_net_response_reset(rag_net_response *r);

#define RAG_NET_WHAT_MAX 224 /* "POST " + a URL cut at 200 bytes */

/* Writes "POST https://host/path" (query string and fragment dropped, cut at 200 bytes, cleaned
 * to one line) into dst[0..cap), for messages. */
void rag_net_describe(char *dst, size_t cap, const rag_net_request *req);

#endif /* RAGC_NET_INTERNAL_H */
