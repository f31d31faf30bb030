/* Streaming multipart/form-data parser (RFC 7578 / RFC 2046): bytes in, part events out, with caps
 * on header size and part count. The delimiter is "\r\n--" + boundary; the body is treated as if
 * preceded by "\r\n" so the first delimiter line needs no special case. A boundary cannot contain
 * CR (RFC 2046 bchars), so after a partial delimiter match fails, the only place a new match can
 * start is the current byte: the matcher never has to back up. */
#include "server/server_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum {
    MP_PREAMBLE,    /* before the first delimiter: discarded */
    MP_AFTER_DELIM, /* after a delimiter: "--" (close), or padding then CRLF */
    MP_DASH2,       /* saw one '-' after a delimiter */
    MP_AFTER_CR,    /* saw CR after a delimiter */
    MP_HEADERS,     /* part header block, until CRLFCRLF */
    MP_BODY,        /* part body, until the next delimiter */
    MP_EPILOGUE,    /* after the closing delimiter: discarded */
    MP_FAILED
} mp_state;

struct srv_multipart {
    srv_multipart_callbacks cb;
    char delim[4 + SRV_MULTIPART_MAX_BOUNDARY + 1]; /* "\r\n--" + boundary */
    size_t dlen;
    size_t match;    /* bytes of delim matched so far (held back, not yet emitted) */
    mp_state state;
    char hdr[SRV_MULTIPART_MAX_HEADERS + 1];
    size_t hdr_len;
    size_t parts;
    rag_status failed; /* sticky error */
    rag_err failed_err;
};

rag_status srv_multipart_create(const char *boundary, const srv_multipart_callbacks *cb, srv_multipart **out,
                                rag_err *err)
{
    *out = NULL;
    size_t blen = boundary ? strlen(boundary) : 0;
    if (blen == 0 || blen > SRV_MULTIPART_MAX_BOUNDARY || strpbrk(boundary, "\r\n"))
        return rag_err_set(err, RAG_E_BAD_INPUT, "multipart boundary must be 1..%d characters without CR/LF",
                           SRV_MULTIPART_MAX_BOUNDARY);
    srv_multipart *mp = calloc(1, sizeof *mp);
    if (!mp)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    mp->cb = *cb;
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, blen + 1);
    mp->dlen = 4 + blen;
    mp->match = 2; /* the body is read as if preceded by CRLF */
    mp->state = MP_PREAMBLE;
    *out = mp;
    return RAG_OK;
}

void srv_multipart_free(srv_multipart *mp)
{
    free(mp);
}

/* Stops the parser with st: the message is msg ("multipart body: <msg>") or, when msg is NULL, the
 * cause's (a header or callback error). Copies it to err. */
static rag_status fail(srv_multipart *mp, rag_err *err, rag_status st, const char *msg, const rag_err *cause)
{
    if (msg)
        rag_err_set(&mp->failed_err, st, "multipart body: %s", msg);
    else if (cause && cause->msg[0])
        mp->failed_err = *cause;
    else
        rag_err_set(&mp->failed_err, st, "multipart body: %s", rag_status_str(st));
    mp->failed_err.status = st;
    mp->failed = st;
    mp->state = MP_FAILED;
    if (err)
        *err = mp->failed_err;
    return st;
}

/* Copies a header parameter value (quoted-string with backslash escapes, or token) from *pp into
 * out[cap]; advances *pp. Returns false if it does not fit or the quote is unterminated. */
static bool param_value(const char **pp, char *out, size_t cap)
{
    const char *p = *pp;
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\' && p[1])
                p++;
            if (n + 1 >= cap)
                return false;
            out[n++] = *p++;
        }
        if (*p != '"')
            return false;
        p++;
    } else {
        while (*p && *p != ';' && *p != ' ' && *p != '\t') {
            if (n + 1 >= cap)
                return false;
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    *pp = p;
    return true;
}

/* Parses `form-data; name="x"; filename="y"; filename*=UTF-8''z` into part. */
static rag_status parse_disposition(const char *v, srv_part *part, rag_err *err)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (strncasecmp(v, "form-data", 9) != 0 || (v[9] && v[9] != ';' && v[9] != ' ' && v[9] != '\t'))
        return rag_err_set(err, RAG_E_BAD_INPUT, "multipart body: a part's Content-Disposition is not form-data");
    v += 9;
    bool have_star = false;
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ';')
            v++;
        if (!*v)
            break;
        const char *name = v;
        while (*v && *v != '=' && *v != ';' && *v != ' ' && *v != '\t')
            v++;
        size_t nlen = (size_t)(v - name);
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v != '=') {
            continue; /* a parameter without value: ignored */
        }
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        char val[1024];
        if (!param_value(&v, val, sizeof val))
            return rag_err_set(err, RAG_E_BAD_INPUT,
                               "multipart body: Content-Disposition parameter '%.*s' is malformed or too long",
                               (int)(nlen > 40 ? 40 : nlen), name);
        if (nlen == 4 && !strncasecmp(name, "name", 4)) {
            if (strlen(val) >= sizeof part->name)
                return rag_err_set(err, RAG_E_BAD_INPUT, "multipart body: field name is too long");
            strcpy(part->name, val);
        } else if (nlen == 8 && !strncasecmp(name, "filename", 8) && !have_star) {
            strcpy(part->filename, val);
            part->has_filename = true;
        } else if (nlen == 9 && !strncasecmp(name, "filename*", 9)) {
            /* RFC 5987: charset'language'percent-encoded; only UTF-8 is understood */
            const char *q1 = strchr(val, '\'');
            const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
            if (!q2 || (size_t)(q1 - val) != 5 || strncasecmp(val, "utf-8", 5) != 0)
                return rag_err_set(err, RAG_E_BAD_INPUT, "multipart body: filename* must be UTF-8''<percent-encoded>");
            char *dec = NULL;
            size_t dlen = 0;
            rag_status st = srv_url_decode(q2 + 1, strlen(q2 + 1), false, &dec, &dlen, err);
            if (st != RAG_OK) {
                rag_err_prefix(err, "multipart body: filename*: ");
                return st;
            }
            if (dlen >= sizeof part->filename) {
                free(dec);
                return rag_err_set(err, RAG_E_BAD_INPUT, "multipart body: filename* is too long");
            }
            memcpy(part->filename, dec, dlen + 1);
            free(dec);
            part->has_filename = true;
            have_star = true;
        }
    }
    return RAG_OK;
}

/* Parses the header block hdr[0..len) (lines ending in CRLF, the last one empty). */
static rag_status parse_headers(const char *hdr, size_t len, srv_part *part, rag_err *err)
{
    memset(part, 0, sizeof *part);
    if (memchr(hdr, '\0', len))
        return rag_err_set(err, RAG_E_BAD_INPUT, "multipart body: part headers contain a NUL byte");
    bool disposition = false;
    const char *p = hdr, *end = hdr + len;
    while (p < end) {
        const char *eol = p;
        while (eol + 1 < end && !(eol[0] == '\r' && eol[1] == '\n'))
            eol++;
        if (eol + 1 >= end)
            break;
        size_t line_len = (size_t)(eol - p);
        if (line_len == 0)
            break;
        char line[SRV_MULTIPART_MAX_HEADERS + 1];
        memcpy(line, p, line_len);
        line[line_len] = '\0';
        char *colon = strchr(line, ':');
        if (!colon)
            return rag_err_set(err, RAG_E_BAD_INPUT, "multipart body: malformed part header line '%.40s'", line);
        *colon = '\0';
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        size_t vlen = strlen(value);
        while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
            value[--vlen] = '\0';
        if (!strcasecmp(line, "Content-Disposition")) {
            rag_status st = parse_disposition(value, part, err);
            if (st != RAG_OK)
                return st;
            disposition = true;
        } else if (!strcasecmp(line, "Content-Type")) {
            size_t n = strlen(value);
            if (n >= sizeof part->content_type)
                n = sizeof part->content_type - 1;
            memcpy(part->content_type, value, n);
            part->content_type[n] = '\0';
        }
        p = eol + 2;
    }
    if (!disposition)
        return rag_err_set(err, RAG_E_BAD_INPUT, "multipart body: a part has no Content-Disposition header");
    return RAG_OK;
}

/* Body or preamble bytes: emitted to on_data in BODY, dropped in PREAMBLE. */
static rag_status emit(srv_multipart *mp, const char *p, size_t n, rag_err *err)
{
    if (n == 0 || mp->state != MP_BODY || !mp->cb.on_data)
        return RAG_OK;
    return mp->cb.on_data(mp->cb.ud, p, n, err);
}

/* Scans data[*i..n) for the delimiter in PREAMBLE/BODY. Returns RAG_OK with *found set when the
 * delimiter completed (at *i, just past it) or the input ran out. */
static rag_status scan(srv_multipart *mp, const char *data, size_t n, size_t *i, bool *found, rag_err *err)
{
    *found = false;
    size_t k = *i;
    rag_status st = RAG_OK;
    while (k < n && st == RAG_OK) {
        if (mp->match == 0) {
            const char *cr = memchr(data + k, '\r', n - k);
            size_t stop = cr ? (size_t)(cr - data) : n;
            st = emit(mp, data + k, stop - k, err);
            k = stop;
            if (k < n) {
                mp->match = 1;
                k++;
            }
            continue;
        }
        if (data[k] == mp->delim[mp->match]) {
            mp->match++;
            k++;
            if (mp->match == mp->dlen) {
                mp->match = 0;
                *found = true;
                break;
            }
            continue;
        }
        /* mismatch: the held bytes were data; data[k] is examined again with match 0 */
        st = emit(mp, mp->delim, mp->match, err);
        mp->match = 0;
    }
    *i = k;
    return st;
}

rag_status srv_multipart_feed(srv_multipart *mp, const char *data, size_t n, rag_err *err)
{
    if (mp->state == MP_FAILED) {
        if (err)
            *err = mp->failed_err;
        return mp->failed;
    }
    size_t i = 0;
    rag_status st = RAG_OK;
    while (i < n) {
        switch (mp->state) {
        case MP_PREAMBLE:
        case MP_BODY: {
            bool found;
            rag_err cb_err;
            rag_err_clear(&cb_err);
            st = scan(mp, data, n, &i, &found, &cb_err);
            if (st != RAG_OK)
                return fail(mp, err, st, NULL, &cb_err);
            if (found) {
                if (mp->state == MP_BODY && mp->cb.on_end && (st = mp->cb.on_end(mp->cb.ud, &cb_err)) != RAG_OK)
                    return fail(mp, err, st, NULL, &cb_err);
                mp->state = MP_AFTER_DELIM;
            }
            break;
        }
        case MP_AFTER_DELIM: {
            char c = data[i++];
            if (c == '-')
                mp->state = MP_DASH2;
            else if (c == '\r')
                mp->state = MP_AFTER_CR;
            else if (c != ' ' && c != '\t')
                return fail(mp, err, RAG_E_BAD_INPUT, "malformed delimiter line (expected CRLF or \"--\")", NULL);
            break;
        }
        case MP_DASH2:
            if (data[i++] != '-')
                return fail(mp, err, RAG_E_BAD_INPUT, "malformed closing delimiter", NULL);
            mp->state = MP_EPILOGUE;
            break;
        case MP_AFTER_CR:
            if (data[i++] != '\n')
                return fail(mp, err, RAG_E_BAD_INPUT, "malformed delimiter line (CR without LF)", NULL);
            if (++mp->parts > SRV_MULTIPART_MAX_PARTS)
                return fail(mp, err, RAG_E_TOO_LARGE, "more than 32 parts", NULL);
            mp->state = MP_HEADERS;
            mp->hdr_len = 0;
            break;
        case MP_HEADERS: {
            char c = data[i++];
            if (mp->hdr_len >= SRV_MULTIPART_MAX_HEADERS)
                return fail(mp, err, RAG_E_TOO_LARGE, "part headers are longer than 8192 bytes", NULL);
            mp->hdr[mp->hdr_len++] = c;
            size_t h = mp->hdr_len;
            bool done = (h == 2 && mp->hdr[0] == '\r' && mp->hdr[1] == '\n') ||
                        (h >= 4 && !memcmp(mp->hdr + h - 4, "\r\n\r\n", 4));
            if (done) {
                srv_part part;
                rag_err perr;
                rag_err_clear(&perr);
                st = parse_headers(mp->hdr, mp->hdr_len, &part, &perr);
                if (st == RAG_OK && mp->cb.on_begin)
                    st = mp->cb.on_begin(mp->cb.ud, &part, &perr);
                if (st != RAG_OK)
                    return fail(mp, err, st, NULL, &perr);
                mp->state = MP_BODY;
                mp->match = 0;
            }
            break;
        }
        case MP_EPILOGUE: i = n; break;
        case MP_FAILED: return mp->failed;
        }
    }
    return RAG_OK;
}

rag_status srv_multipart_finish(srv_multipart *mp, rag_err *err)
{
    if (mp->state == MP_FAILED) {
        if (err)
            *err = mp->failed_err;
        return mp->failed;
    }
    if (mp->state != MP_EPILOGUE)
        return fail(mp, err, RAG_E_BAD_INPUT, "ends before its closing boundary", NULL);
    return RAG_OK;
}
