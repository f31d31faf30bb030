/* Pure HTTP helpers of the server: routing, URL decoding, query strings, headers, file names,
 * bearer auth, answer splitting and error bodies (contracts in server_internal.h). */
#include "server/server_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

unsigned srv_method_bit(const char *method)
{
    if (!method)
        return 0;
    if (!strcmp(method, "GET"))
        return SRV_GET;
    if (!strcmp(method, "HEAD"))
        return SRV_HEAD;
    if (!strcmp(method, "POST"))
        return SRV_POST;
    if (!strcmp(method, "DELETE"))
        return SRV_DELETE;
    if (!strcmp(method, "OPTIONS"))
        return SRV_OPTIONS;
    return 0;
}

static const srv_asset *find_asset(const srv_asset *assets, size_t n, const char *path, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(assets[i].path) == len && memcmp(assets[i].path, path, len) == 0)
            return &assets[i];
    return NULL;
}

/* Parses a {id} path segment seg[0..len). */
static void parse_id(const char *seg, size_t len, srv_match *m)
{
    m->id_valid = false;
    m->id = 0;
    if (len == 0 || len > 18)
        return;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (seg[i] < '0' || seg[i] > '9')
            return;
        v = v * 10 + (seg[i] - '0');
    }
    if (v > 0) {
        m->id = v;
        m->id_valid = true;
    }
}

void srv_route_match(const char *method, const char *path, const srv_asset *assets, size_t n_assets,
                     srv_match *out)
{
    static const struct {
        const char *path;
        srv_route_id route;
        unsigned allowed;
    } fixed[] = {
        {"/healthz", SRV_ROUTE_HEALTHZ, SRV_GET | SRV_HEAD},
        {"/readyz", SRV_ROUTE_READYZ, SRV_GET | SRV_HEAD},
        {"/metrics", SRV_ROUTE_METRICS, SRV_GET | SRV_HEAD},
        {"/v1/ask", SRV_ROUTE_ASK, SRV_POST},
        {"/v1/chat/completions", SRV_ROUTE_CHAT, SRV_POST},
        {"/v1/models", SRV_ROUTE_MODELS, SRV_GET | SRV_HEAD},
        {"/v1/documents", SRV_ROUTE_DOCS, SRV_GET | SRV_HEAD | SRV_POST},
        {"/v1/search", SRV_ROUTE_SEARCH, SRV_GET | SRV_HEAD},
    };
    memset(out, 0, sizeof *out);
    out->label = "other";
    if (!path || path[0] != '/')
        return;
    size_t len = strlen(path);
    if (len > 1 && path[len - 1] == '/')
        len--;
    if (len == 1) {
        out->asset = find_asset(assets, n_assets, "/index.html", strlen("/index.html"));
        if (out->asset) {
            out->route = SRV_ROUTE_INDEX;
            out->label = "/";
            out->allowed = SRV_GET | SRV_HEAD;
        }
    } else {
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            if (strlen(fixed[i].path) == len && memcmp(fixed[i].path, path, len) == 0) {
                out->route = fixed[i].route;
                out->label = fixed[i].path;
                out->allowed = fixed[i].allowed;
                break;
            }
        static const char docs[] = "/v1/documents/";
        if (out->route == SRV_ROUTE_NONE && len > sizeof docs - 1 && memcmp(path, docs, sizeof docs - 1) == 0) {
            const char *seg = path + sizeof docs - 1;
            size_t seg_len = len - (sizeof docs - 1);
            const char *slash = memchr(seg, '/', seg_len);
            if (!slash) {
                out->route = SRV_ROUTE_DOC;
                out->label = "/v1/documents/{id}";
                out->allowed = SRV_GET | SRV_HEAD | SRV_DELETE;
                parse_id(seg, seg_len, out);
            } else if ((size_t)(seg + seg_len - slash) == 5 && memcmp(slash, "/file", 5) == 0) {
                out->route = SRV_ROUTE_DOC_FILE;
                out->label = "/v1/documents/{id}/file";
                out->allowed = SRV_GET | SRV_HEAD;
                parse_id(seg, (size_t)(slash - seg), out);
            }
        }
        if (out->route == SRV_ROUTE_NONE) {
            out->asset = find_asset(assets, n_assets, path, len);
            if (out->asset) {
                out->route = SRV_ROUTE_ASSET;
                out->label = "/static";
                out->allowed = SRV_GET | SRV_HEAD;
            }
        }
    }
    if (out->route != SRV_ROUTE_NONE) {
        out->allowed |= SRV_OPTIONS;
        out->method_ok = (srv_method_bit(method) & out->allowed) != 0;
    }
}

const char *srv_allow_header(unsigned allowed, char *buf, size_t cap)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{SRV_GET, "GET"}, {SRV_HEAD, "HEAD"}, {SRV_POST, "POST"}, {SRV_DELETE, "DELETE"},
                 {SRV_OPTIONS, "OPTIONS"}};
    size_t used = 0;
    if (cap)
        buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(allowed & names[i].bit))
            continue;
        int n = snprintf(buf + used, cap > used ? cap - used : 0, "%s%s", used ? ", " : "", names[i].name);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* ---- URLs ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

rag_status srv_url_decode(const char *in, size_t n, bool plus_is_space, char **out, size_t *out_len, rag_err *err)
{
    *out = NULL;
    char *o = malloc(n + 1);
    if (!o)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= n || hexval(in[i + 1]) < 0 || hexval(in[i + 2]) < 0) {
                free(o);
                return rag_err_set(err, RAG_E_BAD_INPUT, "malformed percent-escape at byte %zu", i);
            }
            int v = hexval(in[i + 1]) * 16 + hexval(in[i + 2]);
            if (v == 0) {
                free(o);
                return rag_err_set(err, RAG_E_BAD_INPUT, "encoded NUL byte (%%00) at byte %zu", i);
            }
            o[j++] = (char)v;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            o[j++] = ' ';
        } else if (c == '\0') {
            free(o);
            return rag_err_set(err, RAG_E_BAD_INPUT, "NUL byte at byte %zu", i);
        } else {
            o[j++] = c;
        }
    }
    o[j] = '\0';
    *out = o;
    if (out_len)
        *out_len = j;
    return RAG_OK;
}

rag_status srv_split_uri(const char *uri, char **path, const char **query, rag_err *err)
{
    *path = NULL;
    *query = NULL;
    if (!uri || !*uri)
        return rag_err_set(err, RAG_E_BAD_INPUT, "empty request target");
    size_t total = strlen(uri);
    if (total > SRV_MAX_URI)
        return rag_err_set(err, RAG_E_TOO_LARGE, "request target is %zu bytes, more than %d", total, SRV_MAX_URI);
    const char *p = uri;
    if (!strncasecmp(p, "http://", 7) || !strncasecmp(p, "https://", 8)) {
        p = strchr(p + (p[4] == ':' ? 7 : 8), '/');
        if (!p)
            p = "/";
    }
    if (*p != '/')
        return rag_err_set(err, RAG_E_BAD_INPUT, "request target must start with '/'");
    const char *q = strchr(p, '?');
    const char *hash = strchr(p, '#');
    size_t plen = q ? (size_t)(q - p) : hash ? (size_t)(hash - p) : strlen(p);
    size_t dlen;
    rag_status st = srv_url_decode(p, plen, false, path, &dlen, err);
    if (st != RAG_OK) {
        rag_err_prefix(err, "request path: ");
        return st;
    }
    size_t bad;
    if (!rag_utf8_valid(*path, dlen, &bad)) {
        free(*path);
        *path = NULL;
        return rag_err_set(err, RAG_E_BAD_INPUT, "request path is not valid UTF-8 (byte %zu)", bad);
    }
    *query = q ? q + 1 : NULL;
    return RAG_OK;
}

rag_status srv_query_get(const char *query, const char *key, char **value, rag_err *err)
{
    *value = NULL;
    if (!query || !key)
        return rag_err_set(err, RAG_E_NOT_FOUND, "no query parameter '%s'", key ? key : "");
    const char *p = query;
    while (*p && *p != '#') {
        const char *end = p + strcspn(p, "&#");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *kend = eq ? eq : end;
        char *k = NULL;
        rag_status st = srv_url_decode(p, (size_t)(kend - p), true, &k, NULL, err);
        if (st != RAG_OK) {
            rag_err_prefix(err, "query string: ");
            return st;
        }
        bool match = strcmp(k, key) == 0;
        free(k);
        if (match) {
            size_t vlen = 0;
            const char *v = eq ? eq + 1 : end;
            st = srv_url_decode(v, (size_t)(end - v), true, value, &vlen, err);
            if (st != RAG_OK) {
                rag_err_prefix(err, "query parameter '%s': ", key);
                return st;
            }
            size_t bad;
            if (!rag_utf8_valid(*value, vlen, &bad)) {
                free(*value);
                *value = NULL;
                return rag_err_set(err, RAG_E_BAD_INPUT, "query parameter '%s' is not valid UTF-8 (byte %zu)",
                                   key, bad);
            }
            return RAG_OK;
        }
        p = *end == '&' ? end + 1 : end;
    }
    return rag_err_set(err, RAG_E_NOT_FOUND, "no query parameter '%s'", key);
}

/* ---- headers ---- */

static bool is_bchar(char c)
{
    return isalnum((unsigned char)c) || strchr("'()+_,-./:=? ", c) != NULL;
}

static bool is_tchar(char c)
{
    return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

rag_status srv_parse_content_type(const char *header, char *mime, size_t mime_cap, char *boundary, size_t bcap,
                                  rag_err *err)
{
    if (mime_cap)
        mime[0] = '\0';
    if (bcap)
        boundary[0] = '\0';
    if (!header)
        return RAG_OK;
    const char *p = header;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = 0;
    while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t')
        n++;
    if (n + 1 > mime_cap)
        return rag_err_set(err, RAG_E_BAD_INPUT, "Content-Type media type is too long");
    for (size_t i = 0; i < n; i++)
        mime[i] = (char)tolower((unsigned char)p[i]);
    mime[n] = '\0';
    p += n;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        if (!*p)
            break;
        const char *name = p;
        while (*p && is_tchar(*p))
            p++;
        size_t name_len = (size_t)(p - name);
        while (*p == ' ' || *p == '\t')
            p++;
        if (name_len == 0 || *p != '=')
            return rag_err_set(err, RAG_E_BAD_INPUT, "malformed Content-Type parameter near '%.20s'", name);
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        char val[256];
        size_t vlen = 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                if (vlen + 1 >= sizeof val)
                    return rag_err_set(err, RAG_E_BAD_INPUT, "Content-Type parameter value is too long");
                val[vlen++] = *p++;
            }
            if (*p != '"')
                return rag_err_set(err, RAG_E_BAD_INPUT, "unterminated quoted string in Content-Type");
            p++;
        } else {
            while (*p && *p != ';' && *p != ' ' && *p != '\t') {
                if (vlen + 1 >= sizeof val)
                    return rag_err_set(err, RAG_E_BAD_INPUT, "Content-Type parameter value is too long");
                val[vlen++] = *p++;
            }
        }
        val[vlen] = '\0';
        if (name_len == 8 && !strncasecmp(name, "boundary", 8)) {
            if (vlen == 0 || vlen > SRV_MULTIPART_MAX_BOUNDARY || val[vlen - 1] == ' ')
                return rag_err_set(err, RAG_E_BAD_INPUT, "multipart boundary must be 1..%d characters",
                                   SRV_MULTIPART_MAX_BOUNDARY);
            for (size_t i = 0; i < vlen; i++)
                if (!is_bchar(val[i]))
                    return rag_err_set(err, RAG_E_BAD_INPUT, "multipart boundary has an invalid character (0x%02x)",
                                       (unsigned char)val[i]);
            if (vlen + 1 > bcap)
                return rag_err_set(err, RAG_E_BAD_INPUT, "multipart boundary is too long");
            memcpy(boundary, val, vlen + 1);
        }
    }
    return RAG_OK;
}

bool srv_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const unsigned char *x = a, *y = b;
    unsigned diff = (unsigned)((alen ^ blen) != 0);
    for (size_t i = 0; i < blen; i++) {
        unsigned char xa = i < alen ? x[i] : (unsigned char)~y[i];
        diff |= (unsigned)(xa ^ y[i]);
    }
    return diff == 0;
}

bool srv_bearer_ok(const char *authorization, const char *key)
{
    if (!key || !*key || !authorization)
        return false;
    const char *p = authorization;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return false;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return srv_ct_equal(p, n, key, strlen(key));
}

srv_route_class srv_route_class_of(const srv_match *m, unsigned method)
{
    if (method == SRV_OPTIONS)
        return SRV_CLASS_PUBLIC;
    switch (m->route) {
    case SRV_ROUTE_NONE:
    case SRV_ROUTE_INDEX:
    case SRV_ROUTE_ASSET:
    case SRV_ROUTE_HEALTHZ:
    case SRV_ROUTE_READYZ: return SRV_CLASS_PUBLIC;
    case SRV_ROUTE_DOCS: return method == SRV_POST ? SRV_CLASS_WRITE : SRV_CLASS_READ;
    case SRV_ROUTE_DOC: return method == SRV_DELETE ? SRV_CLASS_WRITE : SRV_CLASS_READ;
    default: return SRV_CLASS_READ;
    }
}

rag_server_guard srv_policy_guard(const srv_policy *p, srv_route_class c)
{
    switch (c) {
    case SRV_CLASS_PUBLIC: return RAG_SERVER_OPEN;
    case SRV_CLASS_READ: return p->has_key && p->private_reads ? RAG_SERVER_NEEDS_KEY : RAG_SERVER_OPEN;
    case SRV_CLASS_WRITE:
        if (p->has_key)
            return RAG_SERVER_NEEDS_KEY;
        return p->loopback || p->allow_open_writes ? RAG_SERVER_OPEN : RAG_SERVER_DISABLED;
    }
    return RAG_SERVER_DISABLED;
}

const char *srv_guard_name(rag_server_guard g)
{
    switch (g) {
    case RAG_SERVER_OPEN: return "open";
    case RAG_SERVER_NEEDS_KEY: return "key";
    case RAG_SERVER_DISABLED: return "disabled";
    }
    return "disabled";
}

bool srv_addr_is_loopback(const struct sockaddr *sa)
{
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in4;
        memcpy(&in4, sa, sizeof in4);
        return (ntohl(in4.sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        const unsigned char *a = in6.sin6_addr.s6_addr;
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr))
            return true;
        return memcmp(a, v4mapped, sizeof v4mapped) == 0 && a[12] == 127;
    }
    return false;
}

const char *srv_content_type_for(const char *path)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},  {"htm", "text/html; charset=utf-8"},
        {"xhtml", "text/html; charset=utf-8"}, {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"}, {"css", "text/css; charset=utf-8"},
        {"json", "application/json"},          {"map", "application/json"},
        {"webmanifest", "application/manifest+json"}, {"svg", "image/svg+xml"},
        {"png", "image/png"},                  {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},                {"gif", "image/gif"},
        {"webp", "image/webp"},                {"ico", "image/x-icon"},
        {"woff", "font/woff"},                 {"woff2", "font/woff2"},
        {"txt", "text/plain; charset=utf-8"},  {"text", "text/plain; charset=utf-8"},
        {"md", "text/markdown; charset=utf-8"}, {"markdown", "text/markdown; charset=utf-8"},
        {"jsonl", "application/x-ndjson"},     {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},
    };
    const char *slash = path ? strrchr(path, '/') : NULL;
    const char *base = slash ? slash + 1 : path;
    const char *dot = base ? strrchr(base, '.') : NULL;
    if (!dot || dot == base)
        return "application/octet-stream";
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcasecmp(dot + 1, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

/* ---- uploads ---- */

rag_status srv_sanitize_filename(const char *name, size_t len, char *out, size_t cap, rag_err *err)
{
    if (cap)
        out[0] = '\0';
    if (cap <= SRV_MAX_FILENAME)
        return rag_err_set(err, RAG_E_INTERNAL, "file name buffer too small");
    if (!name || len == 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "empty file name");
    if (memchr(name, '\0', len))
        return rag_err_set(err, RAG_E_BAD_INPUT, "file name contains a NUL byte");
    for (size_t i = 0; i + 1 < len; i++)
        if (name[i] == '.' && name[i + 1] == '.')
            return rag_err_set(err, RAG_E_BAD_INPUT, "file name '%.*s' contains '..'", (int)(len > 100 ? 100 : len),
                               name);
    size_t bad;
    if (!rag_utf8_valid(name, len, &bad))
        return rag_err_set(err, RAG_E_BAD_INPUT, "file name is not valid UTF-8 (byte %zu)", bad);
    size_t start = 0;
    for (size_t i = 0; i < len; i++)
        if (name[i] == '/' || name[i] == '\\')
            start = i + 1;
    const char *b = name + start;
    size_t n = len - start;
    while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t'))
        n--;
    while (n > 0 && (*b == ' ' || *b == '\t')) {
        b++;
        n--;
    }
    if (n == 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "file name has no base name after removing directories");
    if (n > SRV_MAX_FILENAME) {
        const char *dot = NULL;
        for (size_t i = n; i > 0 && n - i < 16; i--)
            if (b[i - 1] == '.') {
                dot = b + i - 1;
                break;
            }
        size_t ext_len = dot ? (size_t)(b + n - dot) : 0;
        size_t keep = SRV_MAX_FILENAME - ext_len;
        while (keep > 0 && ((unsigned char)b[keep] & 0xC0) == 0x80)
            keep--; /* cut on a code point boundary */
        memcpy(out, b, keep);
        if (ext_len)
            memcpy(out + keep, dot, ext_len);
        n = keep + ext_len;
    } else {
        memcpy(out, b, n);
    }
    out[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c < 0x20 || c == 0x7f || strchr("*:?<>|\"", (char)c))
            out[i] = '_';
    }
    if (out[0] == '.')
        out[0] = '_';
    return RAG_OK;
}

/* ---- answers ---- */

size_t srv_split_answer(const char *text, size_t n_sources, size_t *ends, size_t max)
{
    if (!text || !*text || max == 0)
        return 0;
    size_t len = strlen(text), n = 0;
    for (size_t i = 0; i + 2 < len && n + 1 < max; i++) {
        if (text[i] != ' ' || text[i + 1] != '[')
            continue;
        size_t j = i + 2;
        size_t num = 0;
        while (j < len && text[j] >= '0' && text[j] <= '9' && j - i < 8)
            num = num * 10 + (size_t)(text[j++] - '0');
        if (j == i + 2 || j >= len || text[j] != ']' || num < 1 || num > n_sources)
            continue;
        j++;
        if (j < len && text[j] != ' ')
            continue;
        if (j == len)
            break; /* the final piece ends at the text's end anyway */
        ends[n++] = j;
        i = j - 1;
    }
    ends[n++] = len;
    return n;
}

/* ---- errors ---- */

int srv_http_status(rag_status st, const char **code)
{
    const char *c;
    int http;
    switch (st) {
    case RAG_OK: http = 200, c = "ok"; break;
    case RAG_E_BAD_INPUT: http = 400, c = "bad_request"; break;
    case RAG_E_AUTH: http = 401, c = "unauthorized"; break;
    case RAG_E_BUDGET: http = 402, c = "budget_exceeded"; break;
    case RAG_E_NOT_FOUND: http = 404, c = "not_found"; break;
    case RAG_E_TOO_LARGE: http = 413, c = "payload_too_large"; break;
    case RAG_E_UNSUPPORTED: http = 415, c = "unsupported_media_type"; break;
    case RAG_E_EMPTY:
    case RAG_E_ENCRYPTED: http = 422, c = "unprocessable"; break;
    case RAG_E_RATE_LIMITED: http = 429, c = "rate_limited"; break;
    case RAG_E_UPSTREAM:
    case RAG_E_CIRCUIT_OPEN: http = 502, c = "upstream_error"; break;
    case RAG_E_CANCELLED: http = 503, c = "unavailable"; break;
    case RAG_E_TIMEOUT: http = 504, c = "timeout"; break;
    default: http = 500, c = "internal"; break;
    }
    if (code)
        *code = c;
    return http;
}

void srv_utf8_sanitize(const char *s, char *out, size_t cap)
{
    if (!cap)
        return;
    size_t j = 0, n = s ? strlen(s) : 0, i = 0;
    while (i < n && j + 1 < cap) {
        unsigned char c = (unsigned char)s[i];
        size_t seq = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        size_t bad;
        if (seq == 0 || seq > n - i || !rag_utf8_valid(s + i, seq, &bad)) {
            out[j++] = '?';
            i++;
            continue;
        }
        if (j + seq >= cap)
            break; /* a valid sequence that does not fit */
        memcpy(out + j, s + i, seq);
        j += seq;
        i += seq;
    }
    out[j] = '\0';
}

char *srv_error_json(const char *code, const char *message)
{
    char clean[1024];
    srv_utf8_sanitize(message ? message : "", clean, sizeof clean);
    json_t *o = json_pack("{s{ssss}}", "error", "code", code ? code : "internal", "message", clean);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}
