/* libFuzzer target: the SSE and NDJSON stream parsers (include/ragc/net_stream.h) and the
 * mid-stream error reader (rag_net_stream_error).
 *
 * Input: byte 0 picks the parser (bit 0: SSE or NDJSON) and the cap (bits 1-3: the 1 MiB
 * default or a small cap so the caps are reached); the rest is the stream.
 * The stream is parsed three ways: fed whole, fed in pseudo-random splits (a function of the
 * input: inside CRLF, UTF-8 sequences, field names), and line by line through the same line
 * splitter the HTTP stream mode uses (rag_net_lines with its 1 MiB default cap -> *_feed_line,
 * then flush + finish).
 * Invariants: the three runs see the same events/values in the same order and end with the same
 * status; an event's data is NUL-terminated at data_len; error messages are non-empty; every
 * rag_net_stream_error message is valid UTF-8 without control characters and without the token.
 * A data line "STOP" makes the callback fail, to exercise callback-error propagation.
 */
#include "fuzz_common.h"

#include "net/net_internal.h"
#include "ragc/net_policy.h"
#include "ragc/net_stream.h"

#define TOKEN "hf_FuzzSecretToken123"

typedef struct record {
    uint64_t h;   /* rolling hash of everything delivered, in order */
    size_t n;     /* deliveries */
} record;

static void mix(record *r, const void *p, size_t n)
{
    uint64_t x = rag_hash64(p, n);
    r->h = (r->h ^ x) * 0x100000001B3ull + n;
}

static void check_stream_error(const json_t *v)
{
    char msg[RAG_NET_ERRMSG_MAX];
    if (!rag_net_stream_error(v, TOKEN, msg, sizeof msg))
        return;
    size_t n = strnlen(msg, sizeof msg);
    FUZZ_CHECK(n < sizeof msg);
    FUZZ_CHECK(fuzz_utf8_ok(msg, n));
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f);
    FUZZ_CHECK(strstr(msg, TOKEN) == NULL);
}

static rag_status on_event(void *ud, const rag_sse_event *ev, rag_err *err)
{
    record *r = ud;
    FUZZ_CHECK(ev->type && ev->data && ev->id);
    FUZZ_CHECK(ev->data[ev->data_len] == '\0');
    mix(r, ev->type, strlen(ev->type) + 1);
    mix(r, ev->data, ev->data_len);
    mix(r, ev->id, strlen(ev->id) + 1);
    r->n++;
    if (ev->data_len == 4 && !memcmp(ev->data, "STOP", 4))
        return rag_err_set(err, RAG_E_CANCELLED, "fuzz: callback stop");
    json_t *v = json_loadb(ev->data, ev->data_len, JSON_DECODE_ANY, NULL);
    if (v) {
        check_stream_error(v);
        json_decref(v);
    }
    return RAG_OK;
}

static rag_status on_value(void *ud, json_t *value, size_t line_no, rag_err *err)
{
    record *r = ud;
    FUZZ_CHECK(value != NULL && line_no >= 1);
    char *s = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
    if (s) {
        mix(r, s, strlen(s));
        if (!strcmp(s, "\"STOP\"")) {
            free(s);
            return rag_err_set(err, RAG_E_CANCELLED, "fuzz: callback stop");
        }
        free(s);
    }
    mix(r, &line_no, sizeof line_no);
    r->n++;
    check_stream_error(value);
    return RAG_OK;
}

typedef struct outcome {
    record rec;
    rag_status st; /* first failing status, or finish's */
    bool done, truncated;
} outcome;

/* mode 0: whole; 1: random splits; 2: line by line through rag_net_lines. */
static outcome run(bool sse, size_t cap, const uint8_t *s, size_t n, int mode, fuzz_rng *rng)
{
    outcome o;
    memset(&o, 0, sizeof o);
    rag_err err;
    rag_sse_parser *sp = NULL;
    rag_ndjson_parser *np = NULL;
    if (sse)
        FUZZ_CHECK(rag_sse_parser_create(cap, on_event, &o.rec, &sp, &err) == RAG_OK);
    else
        FUZZ_CHECK(rag_ndjson_parser_create(cap, on_value, &o.rec, &np, &err) == RAG_OK);
    /* the HTTP layer's splitter has its own cap (1 MiB by default): the parser's cap is what
     * this run tests, so the splitter gets the default */
    rag_net_lines lines;
    rag_net_lines_init(&lines, (size_t)1 << 20);
    rag_net_line_fn line_cb = sse ? rag_sse_on_line : rag_ndjson_on_line;
    void *parser = sse ? (void *)sp : (void *)np;

    rag_status st = RAG_OK;
    size_t off = 0;
    while (off < n && st == RAG_OK) {
        size_t k = mode == 0 ? n : fuzz_chunk_len(rng, n - off);
        const char *c = (const char *)s + off;
        if (mode == 2)
            st = rag_net_lines_feed(&lines, c, k, line_cb, parser, "fuzz stream", &err);
        else
            st = sse ? rag_sse_feed(sp, c, k, &err) : rag_ndjson_feed(np, c, k, &err);
        off += k;
    }
    if (st == RAG_OK && mode == 2)
        st = rag_net_lines_flush(&lines, line_cb, parser, &err);
    if (st == RAG_OK)
        st = sse ? rag_sse_finish(sp, &err) : rag_ndjson_finish(np, &err);
    if (st != RAG_OK)
        FUZZ_CHECK(err.status == st && err.msg[0] != '\0');
    o.st = st;
    o.done = sse ? rag_sse_done(sp) : rag_ndjson_done(np);
    o.truncated = sse ? rag_sse_truncated(sp) : rag_ndjson_truncated(np);
    FUZZ_CHECK(!(o.done && o.truncated));
    if (st == RAG_OK)
        FUZZ_CHECK(o.done);
    rag_net_lines_free(&lines);
    rag_sse_parser_free(sp);
    rag_ndjson_parser_free(np);
    return o;
}

static const char *mode_name[] = {"whole", "splits", "lines"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool sse = !(data[0] & 1);
    static const size_t caps[8] = {0, 0, 0, 0, 8, 32, 100, 1000};
    size_t cap = caps[(data[0] >> 1) & 7];
    fuzz_rng rng = fuzz_rng_from(data, size);
    outcome o[3];
    for (int m = 0; m < 3; m++)
        o[m] = run(sse, cap, data + 1, size - 1, m, &rng);
    for (int m = 1; m < 3; m++) {
        bool same = o[m].st == o[0].st && o[m].rec.h == o[0].rec.h && o[m].rec.n == o[0].rec.n &&
                    o[m].done == o[0].done;
        if (!same)
            fprintf(stderr, "%s parser, cap %zu: %s run: status %s, %zu deliveries, done %d; "
                    "whole run: status %s, %zu deliveries, done %d\n",
                    sse ? "SSE" : "NDJSON", cap, mode_name[m], rag_status_str(o[m].st), o[m].rec.n,
                    o[m].done, rag_status_str(o[0].st), o[0].rec.n, o[0].done);
        FUZZ_CHECK(same);
    }
    return 0;
}
