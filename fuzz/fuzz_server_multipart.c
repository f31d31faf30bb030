/* libFuzzer target: the streaming multipart/form-data parser (srv_multipart_*,
 * src/server/server_internal.h) that receives uploads from untrusted HTTP clients.
 *
 * Input: "<boundary>\n<body>" (a boundary longer than 70 bytes or with CR is rejected at create,
 * which is checked too; an empty one becomes "B").
 * The body is parsed fed whole and fed in pseudo-random splits (a function of the input).
 * Invariants: both runs give the same events (part headers, each part's data, part ends) and the
 * same final status; events nest (begin, data*, end); at most SRV_MULTIPART_MAX_PARTS parts;
 * part names and content types are NUL-terminated inside their fields; no part's data contains
 * the delimiter "\r\n--<boundary>"; a failed parser stays failed. A part named "stop" makes
 * on_begin fail, to exercise callback-error propagation. Suggested -max_len: 16384. */
#include "fuzz_common.h"

#include "server/server_internal.h"

typedef struct events {
    uint64_t h;
    size_t parts, ends;
    bool in_part;
    rag_buf data; /* the current part's data, to look for the delimiter */
    const char *delim;
} events;

static void mix(events *e, const void *p, size_t n)
{
    e->h = (e->h ^ rag_hash64(p, n)) * 0x100000001B3ull + n;
}

static rag_status on_begin(void *ud, const srv_part *part, rag_err *err)
{
    events *e = ud;
    FUZZ_CHECK(!e->in_part);
    FUZZ_CHECK(memchr(part->name, '\0', sizeof part->name) && memchr(part->filename, '\0', sizeof part->filename));
    FUZZ_CHECK(memchr(part->content_type, '\0', sizeof part->content_type));
    FUZZ_CHECK(part->has_filename || part->filename[0] == '\0');
    mix(e, part->name, strlen(part->name) + 1);
    mix(e, part->filename, strlen(part->filename) + 1);
    mix(e, part->content_type, strlen(part->content_type) + 1);
    e->parts++;
    FUZZ_CHECK(e->parts <= SRV_MULTIPART_MAX_PARTS);
    if (!strcmp(part->name, "stop"))
        return rag_err_set(err, RAG_E_CANCELLED, "fuzz: stop");
    e->in_part = true;
    rag_buf_reset(&e->data);
    return RAG_OK;
}

static rag_status on_data(void *ud, const char *data, size_t n, rag_err *err)
{
    (void)err;
    events *e = ud;
    FUZZ_CHECK(e->in_part && n > 0);
    FUZZ_CHECK(rag_buf_append(&e->data, data, n) == RAG_OK);
    return RAG_OK;
}

static rag_status on_end(void *ud, rag_err *err)
{
    (void)err;
    events *e = ud;
    FUZZ_CHECK(e->in_part);
    const char *d = e->data.data ? e->data.data : "";
    FUZZ_CHECK(!memmem(d, e->data.len, e->delim, strlen(e->delim)));
    mix(e, d, e->data.len);
    e->ends++;
    e->in_part = false;
    return RAG_OK;
}

static rag_status run(const char *boundary, const char *delim, const uint8_t *body, size_t n, bool split,
                      fuzz_rng *rng, events *e)
{
    memset(e, 0, sizeof *e);
    rag_buf_init(&e->data, 0);
    e->delim = delim;
    srv_multipart_callbacks cb = {on_begin, on_data, on_end, e};
    srv_multipart *mp = NULL;
    rag_err err;
    FUZZ_CHECK(srv_multipart_create(boundary, &cb, &mp, &err) == RAG_OK);
    rag_status st = RAG_OK;
    size_t off = 0;
    while (off < n && st == RAG_OK) {
        size_t k = split ? fuzz_chunk_len(rng, n - off) : n - off;
        st = srv_multipart_feed(mp, (const char *)body + off, k, &err);
        off += k;
    }
    if (st == RAG_OK)
        st = srv_multipart_finish(mp, &err);
    if (st != RAG_OK) {
        FUZZ_CHECK(err.status == st && err.msg[0]);
        rag_err again;
        FUZZ_CHECK(srv_multipart_feed(mp, "x", 1, &again) == st); /* sticky */
    } else {
        FUZZ_CHECK(!e->in_part && e->parts == e->ends);
    }
    srv_multipart_free(mp);
    rag_buf_free(&e->data);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t blen = nl ? (size_t)(nl - data) : 0;
    const uint8_t *body = nl ? nl + 1 : data;
    size_t n = (size_t)(data + size - body);
    char boundary[128];
    if (blen == 0 || memchr(data, '\0', blen)) {
        strcpy(boundary, "B");
    } else {
        size_t k = blen < sizeof boundary - 1 ? blen : sizeof boundary - 1;
        memcpy(boundary, data, k);
        boundary[k] = '\0';
    }
    srv_multipart_callbacks none = {0};
    srv_multipart *probe = NULL;
    rag_err err;
    if (srv_multipart_create(boundary, &none, &probe, &err) != RAG_OK) {
        FUZZ_CHECK(probe == NULL && (strlen(boundary) > SRV_MULTIPART_MAX_BOUNDARY || strpbrk(boundary, "\r\n")));
        return 0;
    }
    srv_multipart_free(probe);
    char delim[4 + 128];
    snprintf(delim, sizeof delim, "\r\n--%s", boundary);

    fuzz_rng rng = fuzz_rng_from(data, size);
    events a, b;
    rag_status sa = run(boundary, delim, body, n, false, &rng, &a);
    rag_status sb = run(boundary, delim, body, n, true, &rng, &b);
    if (sa != sb || a.h != b.h || a.parts != b.parts || a.ends != b.ends)
        fprintf(stderr, "whole: %s, %zu parts, %zu ends; split: %s, %zu parts, %zu ends\n", rag_status_str(sa),
                a.parts, a.ends, rag_status_str(sb), b.parts, b.ends);
    FUZZ_CHECK(sa == sb && a.h == b.h && a.parts == b.parts && a.ends == b.ends);
    return 0;
}
