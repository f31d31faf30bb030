/* ragc net streams: incremental Server-Sent Events and NDJSON parsers.
 *
 * Both parsers accept bytes split anywhere (inside a UTF-8 sequence, between CR and LF) through
 * *_feed, or complete lines (terminator removed) through *_feed_line, which is what
 * rag_net_request.on_line delivers; use one style per parser. Lines end with LF, CRLF or a lone
 * CR. Both cap what they buffer, and *_finish at end of stream reports a truncated stream
 * (no `data: [DONE]` / no final {"done":true}) as RAG_E_UPSTREAM with *_truncated() true, distinct
 * from a malformed or oversized stream.
 *
 * Plug into rag_net_call: req.on_line = rag_sse_on_line, req.on_end = rag_sse_on_end,
 * req.stream_ud = parser (same for ndjson).
 */
#ifndef RAGC_NET_STREAM_H
#define RAGC_NET_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- SSE (HTML Living Standard, "Interpreting an event stream", the subset APIs use) ----
 * - a UTF-8 BOM at the start is skipped;
 * - "field: value" (one leading space of value removed), "field" alone = empty value;
 * - "data" lines are joined with "\n"; "event" sets the event type (default "message");
 *   "id" sets the last event id (ignored if it contains NUL); "retry" and unknown fields ignored;
 * - lines starting with ':' are comments; a blank line dispatches the event (none if no data);
 * - `data: [DONE]` as the first data line of an event ends the stream: no event is dispatched
 *   for it and everything after it is ignored;
 * - at end of stream an event without its blank line is discarded (as the standard says). */

typedef struct rag_sse_event {
    const char *type; /* event type, "message" by default; borrowed, valid during the callback */
    const char *data; /* data lines joined with '\n', NUL-terminated; borrowed, valid during the callback */
    size_t data_len;  /* bytes of data, excluding the NUL */
    const char *id;   /* last event id, "" if none; borrowed, valid during the callback */
} rag_sse_event;

/* Receives one event. Returning anything but RAG_OK stops the parser: feed returns that status
 * (set err to explain it). */
typedef rag_status (*rag_sse_event_fn)(void *ud, const rag_sse_event *ev, rag_err *err);

typedef struct rag_sse_parser rag_sse_parser;

/* max_event_bytes: cap on one line and on one event's joined data (0 = 1 MiB); exceeding it ->
 * RAG_E_TOO_LARGE. cb: required. *out: caller frees with rag_sse_parser_free. */
rag_status rag_sse_parser_create(size_t max_event_bytes, rag_sse_event_fn cb, void *ud,
                                 rag_sse_parser **out, rag_err *err);
void rag_sse_parser_free(rag_sse_parser *p); /* NULL is a no-op */

/* Feeds n bytes (borrowed for the call). After an error the parser stays failed and returns it. */
rag_status rag_sse_feed(rag_sse_parser *p, const char *chunk, size_t n, rag_err *err);
/* Feeds one complete line, terminator removed (borrowed for the call). */
rag_status rag_sse_feed_line(rag_sse_parser *p, const char *line, size_t len, rag_err *err);
/* End of stream: RAG_OK if [DONE] was seen; otherwise RAG_E_UPSTREAM "SSE stream truncated"
 * and rag_sse_truncated() becomes true. Returns an earlier feed error unchanged. */
rag_status rag_sse_finish(rag_sse_parser *p, rag_err *err);

bool rag_sse_done(const rag_sse_parser *p);      /* `data: [DONE]` seen */
bool rag_sse_truncated(const rag_sse_parser *p); /* finish ran without [DONE] */
size_t rag_sse_event_count(const rag_sse_parser *p); /* events dispatched */

/* rag_net_request callbacks; ud is the rag_sse_parser. */
rag_status rag_sse_on_line(void *parser, const char *line, size_t len, rag_err *err);
rag_status rag_sse_on_end(void *parser, rag_err *err);

/* ---- NDJSON: one JSON value per line (Ollama streaming) ----
 * Blank (whitespace-only) lines are skipped; a line that is not exactly one JSON value ->
 * RAG_E_UPSTREAM naming the line number and jansson's reason. An object with "done": true is
 * the end of the stream (Ollama's final line): it is delivered, and later lines are ignored.
 * A last line without a newline is parsed at finish. */

/* Receives one value (borrowed, valid during the callback: json_incref to keep it) from line
 * line_no (1-based). Returning anything but RAG_OK stops the parser with that status. */
typedef rag_status (*rag_ndjson_value_fn)(void *ud, json_t *value, size_t line_no, rag_err *err);

typedef struct rag_ndjson_parser rag_ndjson_parser;

/* max_line_bytes: cap on one line (0 = 1 MiB) -> RAG_E_TOO_LARGE. cb: required.
 * *out: caller frees with rag_ndjson_parser_free. */
rag_status rag_ndjson_parser_create(size_t max_line_bytes, rag_ndjson_value_fn cb, void *ud,
                                    rag_ndjson_parser **out, rag_err *err);
void rag_ndjson_parser_free(rag_ndjson_parser *p); /* NULL is a no-op */

rag_status rag_ndjson_feed(rag_ndjson_parser *p, const char *chunk, size_t n, rag_err *err);
rag_status rag_ndjson_feed_line(rag_ndjson_parser *p, const char *line, size_t len, rag_err *err);
/* End of stream: RAG_OK if a {"done":true} object was seen; otherwise RAG_E_UPSTREAM
 * "NDJSON stream truncated" and rag_ndjson_truncated() becomes true. */
rag_status rag_ndjson_finish(rag_ndjson_parser *p, rag_err *err);

bool rag_ndjson_done(const rag_ndjson_parser *p);
bool rag_ndjson_truncated(const rag_ndjson_parser *p);
size_t rag_ndjson_value_count(const rag_ndjson_parser *p);

rag_status rag_ndjson_on_line(void *parser, const char *line, size_t len, rag_err *err);
rag_status rag_ndjson_on_end(void *parser, rag_err *err);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_NET_STREAM_H */
