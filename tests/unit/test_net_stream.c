/* Unit tests for src/net SSE and NDJSON parsers: every input is also fed byte by byte and in
 * every two-way split, so CRLF pairs and UTF-8 sequences get cut everywhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/net.h"

/* ---- SSE ---- */

typedef struct sse_log {
    char text[4096]; /* "type|data|id\n" per event */
    int n;
    int stop_after; /* return RAG_E_CANCELLED on this event number (1-based); 0 = never */
} sse_log;

static rag_status on_event(void *ud, const rag_sse_event *ev, rag_err *err)
{
    sse_log *l = ud;
    l->n++;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, "%s|%s|%s\n", ev->type, ev->data, ev->id);
    assert_int_equal(strlen(ev->data), ev->data_len);
    if (l->stop_after && l->n == l->stop_after)
        return rag_err_set(err, RAG_E_CANCELLED, "client went away");
    return RAG_OK;
}

typedef enum { WHOLE, BYTES, SPLIT } feed_mode;

/* Feeds s to a fresh parser in the given mode (split at position at), runs finish; returns the
 * finish (or first feed) status and the log. */
static rag_status sse_run(const char *s, size_t n, feed_mode mode, size_t at, size_t max, sse_log *log,
                          bool *done, bool *truncated, rag_err *err)
{
    memset(log, 0, sizeof *log);
    rag_sse_parser *p = NULL;
    assert_int_equal(rag_sse_parser_create(max, on_event, log, &p, err), RAG_OK);
    rag_status st = RAG_OK;
    if (mode == WHOLE) {
        st = rag_sse_feed(p, s, n, err);
    } else if (mode == BYTES) {
        for (size_t i = 0; i < n && st == RAG_OK; i++)
            st = rag_sse_feed(p, s + i, 1, err);
    } else {
        st = rag_sse_feed(p, s, at, err);
        if (st == RAG_OK)
            st = rag_sse_feed(p, s + at, n - at, err);
    }
    if (st == RAG_OK)
        st = rag_sse_finish(p, err);
    *done = rag_sse_done(p);
    *truncated = rag_sse_truncated(p);
    rag_sse_parser_free(p);
    return st;
}

/* Checks that every way of feeding s gives the same result. */
static void sse_expect(const char *s, rag_status want, const char *want_log, bool want_done)
{
    size_t n = strlen(s);
    sse_log log;
    bool done, trunc;
    rag_err err;
    for (size_t at = 0; at <= n; at++) {
        for (int mode = WHOLE; mode <= SPLIT; mode++) {
            if (mode != SPLIT && at > 0)
                continue;
            rag_err_clear(&err);
            rag_status st = sse_run(s, n, (feed_mode)mode, at, 0, &log, &done, &trunc, &err);
            if (st != want || strcmp(log.text, want_log) != 0 || done != want_done)
                fail_msg("mode %d split %zu: status %s (%s), log [%s], done %d; want %s [%s] done %d", mode, at,
                         rag_status_str(st), err.msg, log.text, done, rag_status_str(want), want_log, want_done);
        }
    }
}

static void test_sse_basic_events(void **state)
{
    (void)state;
    sse_expect("data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n", RAG_OK,
               "message|{\"a\":1}|\nmessage|{\"b\":2}|\n", true);
    /* multi-line data joined with \n; event names; ids persist; comments and unknown fields ignored */
    sse_expect(": keep-alive\nevent: delta\nid: 7\ndata: line1\ndata:line2\nretry: 10\nfoo: bar\n\n"
               "data: x\n\ndata: [DONE]\n",
               RAG_OK, "delta|line1\nline2|7\nmessage|x|7\n", true);
    /* "data" without a colon is an empty data line; a blank line with no data dispatches nothing */
    sse_expect("data\n\n\n\nevent: e\n\ndata: [DONE]\n\n", RAG_OK, "message||\n", true);
    /* only one leading space is removed from a value */
    sse_expect("data:  two spaces\n\ndata: [DONE]\n\n", RAG_OK, "message| two spaces|\n", true);
}

static void test_sse_line_endings_and_utf8(void **state)
{
    (void)state;
    /* CRLF, lone CR and LF, mixed; UTF-8 (é, 日本, emoji) split across chunks in sse_expect */
    sse_expect("data: caf\xC3\xA9\r\n\r\ndata: \xE6\x97\xA5\xE6\x9C\xAC\r\rdata: \xF0\x9F\x98\x80\n\r\ndata: [DONE]\r\n\r\n",
               RAG_OK, "message|caf\xC3\xA9|\nmessage|\xE6\x97\xA5\xE6\x9C\xAC|\nmessage|\xF0\x9F\x98\x80|\n", true);
    /* a CRLF inside an event split between CR and LF must not dispatch early */
    sse_expect("data: a\r\ndata: b\r\n\r\ndata: [DONE]\r\n\r\n", RAG_OK, "message|a\nb|\n", true);
    /* a UTF-8 BOM at the start is skipped */
    sse_expect("\xEF\xBB\xBF" "data: a\n\ndata: [DONE]\n\n", RAG_OK, "message|a|\n", true);
    /* a CR at the end of a chunk followed by a blank line made of LF is two terminators, not one:
       "data: a\r" + "\n" is one line end; "data: a\r" + "\r" is two (dispatch) */
    sse_expect("data: a\r\rdata: [DONE]\r", RAG_OK, "message|a|\n", true);
}

static void test_sse_done_and_truncation(void **state)
{
    (void)state;
    /* [DONE] without a trailing blank line or newline still ends the stream */
    sse_expect("data: a\n\ndata: [DONE]", RAG_OK, "message|a|\n", true);
    /* everything after [DONE] is ignored */
    sse_expect("data: [DONE]\n\ndata: late\n\n", RAG_OK, "", true);
    /* cut after two events: truncated, events before the cut were delivered */
    sse_expect("data: a\n\ndata: b\n\n", RAG_E_UPSTREAM, "message|a|\nmessage|b|\n", false);
    /* cut inside an event: the incomplete event is discarded */
    sse_expect("data: a\n\ndata: partial", RAG_E_UPSTREAM, "message|a|\n", false);
    sse_expect("", RAG_E_UPSTREAM, "", false);

    sse_log log;
    bool done, trunc;
    rag_err err;
    const char *s = "data: a\n\ndata: b";
    assert_int_equal(sse_run(s, strlen(s), WHOLE, 0, 0, &log, &done, &trunc, &err), RAG_E_UPSTREAM);
    assert_true(trunc);
    assert_false(done);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_non_null(strstr(err.msg, "[DONE]"));
    /* a data line equal to [DONE] after other data lines of the same event is data */
    s = "data: x\ndata: [DONE]\n\ndata: [DONE]\n\n";
    assert_int_equal(sse_run(s, strlen(s), WHOLE, 0, 0, &log, &done, &trunc, &err), RAG_OK);
    assert_string_equal(log.text, "message|x\n[DONE]|\n");
}

static void test_sse_caps_and_abort(void **state)
{
    (void)state;
    sse_log log;
    bool done, trunc;
    rag_err err;
    /* event data cap: 3 lines of 10 bytes joined = 32 bytes with newlines > 24 */
    const char *s = "data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n";
    for (int mode = WHOLE; mode <= BYTES; mode++) {
        rag_err_clear(&err);
        assert_int_equal(sse_run(s, strlen(s), (feed_mode)mode, 0, 24, &log, &done, &trunc, &err), RAG_E_TOO_LARGE);
        assert_non_null(strstr(err.msg, "24 bytes"));
        assert_int_equal(log.n, 0);
    }
    /* line cap: one line longer than the cap, never terminated */
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(sse_run(big, strlen(big), BYTES, 0, 64, &log, &done, &trunc, &err), RAG_E_TOO_LARGE);
    assert_non_null(strstr(err.msg, "line longer than 64"));

    /* the callback aborts: its status and message come back; the parser stays failed */
    rag_sse_parser *p;
    memset(&log, 0, sizeof log);
    log.stop_after = 1;
    assert_int_equal(rag_sse_parser_create(0, on_event, &log, &p, &err), RAG_OK);
    assert_int_equal(rag_sse_feed(p, "data: a\n\ndata: b\n\n", 18, &err), RAG_E_CANCELLED);
    assert_string_equal(err.msg, "client went away");
    assert_int_equal(log.n, 1);
    rag_err_clear(&err);
    assert_int_equal(rag_sse_feed(p, "data: c\n\n", 9, &err), RAG_E_CANCELLED);
    assert_string_equal(err.msg, "client went away");
    assert_int_equal(rag_sse_finish(p, NULL), RAG_E_CANCELLED);
    assert_false(rag_sse_truncated(p));
    rag_sse_parser_free(p);

    /* bad arguments */
    assert_int_equal(rag_sse_parser_create(0, NULL, NULL, &p, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "callback"));
    assert_int_equal(rag_sse_feed(NULL, "x", 1, &err), RAG_E_BAD_INPUT);
    rag_sse_parser_free(NULL);
}

static void test_sse_feed_line(void **state)
{
    (void)state;
    sse_log log;
    memset(&log, 0, sizeof log);
    rag_sse_parser *p;
    rag_err err;
    assert_int_equal(rag_sse_parser_create(16, on_event, &log, &p, &err), RAG_OK);
    assert_int_equal(rag_sse_on_line(p, "event: t", 8, &err), RAG_OK);
    assert_int_equal(rag_sse_on_line(p, "data: hi", 8, &err), RAG_OK);
    assert_int_equal(rag_sse_on_line(p, "", 0, &err), RAG_OK);
    assert_string_equal(log.text, "t|hi|\n");
    assert_int_equal(rag_sse_event_count(p), 1);
    assert_int_equal(rag_sse_on_end(p, &err), RAG_E_UPSTREAM);
    assert_true(rag_sse_truncated(p));
    rag_sse_parser_free(p);

    assert_int_equal(rag_sse_parser_create(16, on_event, &log, &p, &err), RAG_OK);
    assert_int_equal(rag_sse_on_line(p, "data: 0123456789abcdef", 22, &err), RAG_E_TOO_LARGE);
    rag_sse_parser_free(p);
    assert_int_equal(rag_sse_parser_create(16, on_event, &log, &p, &err), RAG_OK);
    assert_int_equal(rag_sse_on_line(p, "data: [DONE]", 12, &err), RAG_OK);
    assert_int_equal(rag_sse_on_end(p, &err), RAG_OK);
    assert_true(rag_sse_done(p));
    rag_sse_parser_free(p);
}

/* ---- NDJSON ---- */

typedef struct nd_log {
    char text[4096]; /* compact JSON per value, one per line, prefixed by the line number */
    int n;
    int stop_after;
} nd_log;

static rag_status on_value(void *ud, json_t *v, size_t line_no, rag_err *err)
{
    nd_log *l = ud;
    l->n++;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, "%zu:%s\n", line_no, s);
    free(s);
    if (l->stop_after && l->n == l->stop_after)
        return rag_err_set(err, RAG_E_BAD_INPUT, "handler refused value %d", l->n);
    return RAG_OK;
}

static rag_status nd_run(const char *s, size_t n, feed_mode mode, size_t at, size_t max, nd_log *log,
                         bool *done, bool *trunc, rag_err *err)
{
    memset(log, 0, sizeof *log);
    rag_ndjson_parser *p = NULL;
    assert_int_equal(rag_ndjson_parser_create(max, on_value, log, &p, err), RAG_OK);
    rag_status st = RAG_OK;
    if (mode == WHOLE) {
        st = rag_ndjson_feed(p, s, n, err);
    } else if (mode == BYTES) {
        for (size_t i = 0; i < n && st == RAG_OK; i++)
            st = rag_ndjson_feed(p, s + i, 1, err);
    } else {
        st = rag_ndjson_feed(p, s, at, err);
        if (st == RAG_OK)
            st = rag_ndjson_feed(p, s + at, n - at, err);
    }
    if (st == RAG_OK)
        st = rag_ndjson_finish(p, err);
    *done = rag_ndjson_done(p);
    *trunc = rag_ndjson_truncated(p);
    rag_ndjson_parser_free(p);
    return st;
}

static void nd_expect(const char *s, rag_status want, const char *want_log, bool want_done)
{
    size_t n = strlen(s);
    nd_log log;
    bool done, trunc;
    rag_err err;
    for (size_t at = 0; at <= n; at++) {
        for (int mode = WHOLE; mode <= SPLIT; mode++) {
            if (mode != SPLIT && at > 0)
                continue;
            rag_err_clear(&err);
            rag_status st = nd_run(s, n, (feed_mode)mode, at, 0, &log, &done, &trunc, &err);
            if (st != want || strcmp(log.text, want_log) != 0 || done != want_done)
                fail_msg("mode %d split %zu: status %s (%s), log [%s]; want %s [%s]", mode, at, rag_status_str(st),
                         err.msg, log.text, rag_status_str(want), want_log);
        }
    }
}

static void test_ndjson_stream(void **state)
{
    (void)state;
    /* Ollama-like stream with CRLF, a blank line, UTF-8 content, and a final line without newline */
    nd_expect("{\"message\":{\"content\":\"caf\xC3\xA9\"},\"done\":false}\r\n\n"
              "{\"message\":{\"content\":\"!\"},\"done\":false}\n"
              "{\"done\":true,\"eval_count\":2}",
              RAG_OK,
              "1:{\"done\":false,\"message\":{\"content\":\"caf\xC3\xA9\"}}\n"
              "3:{\"done\":false,\"message\":{\"content\":\"!\"}}\n"
              "4:{\"done\":true,\"eval_count\":2}\n",
              true);
    /* any JSON value per line; lines after done are ignored */
    nd_expect("1\n\"s\"\n[1,2]\n{\"done\":true}\n{\"late\":1}\n", RAG_OK,
              "1:1\n2:\"s\"\n3:[1,2]\n4:{\"done\":true}\n", true);
    /* cut before done: truncated, values before the cut delivered */
    nd_expect("{\"done\":false}\n{\"done\":false}\n", RAG_E_UPSTREAM, "1:{\"done\":false}\n2:{\"done\":false}\n", false);
    /* garbage line */
    nd_expect("{\"a\":1}\n{\"choices\": [\n", RAG_E_UPSTREAM, "1:{\"a\":1}\n", false);

    nd_log log;
    bool done, trunc;
    rag_err err;
    const char *s = "{\"a\":1}\nnot json\n";
    assert_int_equal(nd_run(s, strlen(s), WHOLE, 0, 0, &log, &done, &trunc, &err), RAG_E_UPSTREAM);
    assert_false(trunc); /* malformed, not truncated */
    assert_non_null(strstr(err.msg, "line 2"));
    assert_non_null(strstr(err.msg, "invalid JSON"));
    s = "{\"done\":false}\n";
    assert_int_equal(nd_run(s, strlen(s), BYTES, 0, 0, &log, &done, &trunc, &err), RAG_E_UPSTREAM);
    assert_true(trunc);
    assert_non_null(strstr(err.msg, "truncated"));
    /* two values on one line are not one JSON value */
    s = "{\"a\":1} {\"b\":2}\n{\"done\":true}\n";
    assert_int_equal(nd_run(s, strlen(s), WHOLE, 0, 0, &log, &done, &trunc, &err), RAG_E_UPSTREAM);
    assert_non_null(strstr(err.msg, "line 1"));
}

static void test_ndjson_caps_and_abort(void **state)
{
    (void)state;
    nd_log log;
    bool done, trunc;
    rag_err err;
    const char *s = "{\"content\":\"0123456789012345678901234567890123456789\"}\n";
    assert_int_equal(nd_run(s, strlen(s), BYTES, 0, 32, &log, &done, &trunc, &err), RAG_E_TOO_LARGE);
    assert_non_null(strstr(err.msg, "32 bytes"));
    assert_int_equal(log.n, 0);

    rag_ndjson_parser *p;
    memset(&log, 0, sizeof log);
    log.stop_after = 2;
    assert_int_equal(rag_ndjson_parser_create(0, on_value, &log, &p, &err), RAG_OK);
    assert_int_equal(rag_ndjson_feed(p, "1\n2\n3\n", 6, &err), RAG_E_BAD_INPUT);
    assert_string_equal(err.msg, "handler refused value 2");
    assert_int_equal(log.n, 2);
    assert_int_equal(rag_ndjson_finish(p, &err), RAG_E_BAD_INPUT);
    rag_ndjson_parser_free(p);

    assert_int_equal(rag_ndjson_parser_create(8, on_value, &log, &p, &err), RAG_OK);
    assert_int_equal(rag_ndjson_on_line(p, "{\"done\":true}", 13, &err), RAG_E_TOO_LARGE);
    rag_ndjson_parser_free(p);
    memset(&log, 0, sizeof log);
    assert_int_equal(rag_ndjson_parser_create(0, on_value, &log, &p, &err), RAG_OK);
    assert_int_equal(rag_ndjson_on_line(p, "{\"done\":true}", 13, &err), RAG_OK);
    assert_int_equal(rag_ndjson_on_end(p, &err), RAG_OK);
    assert_int_equal(rag_ndjson_value_count(p), 1);
    rag_ndjson_parser_free(p);
    assert_int_equal(rag_ndjson_parser_create(0, NULL, NULL, &p, &err), RAG_E_BAD_INPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_basic_events),
        cmocka_unit_test(test_sse_line_endings_and_utf8),
        cmocka_unit_test(test_sse_done_and_truncation),
        cmocka_unit_test(test_sse_caps_and_abort),
        cmocka_unit_test(test_sse_feed_line),
        cmocka_unit_test(test_ndjson_stream),
        cmocka_unit_test(test_ndjson_caps_and_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
