/* Error bodies of remote APIs, status mapping and secret redaction (hf-api.md section 4). */
#include "net_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ERROR_JSON_MAX ((size_t)1 << 20) /* bodies larger than this are quoted, not parsed */

static void set_msg(char *dst, size_t cap, const char *src)
{
    rag_net_copy_line(dst, cap, src, cap * 4);
}

/* Renders v compactly (strings as-is) into dst. */
static void render(char *dst, size_t cap, const json_t *v)
{
    if (json_is_string(v)) {
        set_msg(dst, cap, json_string_value(v));
        return;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    set_msg(dst, cap, s ? s : "");
    free(s);
}

/* Joins the elements of a list with "; ". */
static void render_list(char *dst, size_t cap, const json_t *arr)
{
    size_t o = 0;
    dst[0] = '\0';
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v) {
        if (o + 3 >= cap)
            break;
        if (i > 0) {
            memcpy(dst + o, "; ", 2);
            o += 2;
            dst[o] = '\0';
        }
        render(dst + o, cap - o, v);
        o += strlen(dst + o);
    }
}

/* Message of an "error" member: string, list of strings, or object with "message". */
static void render_error_member(char *dst, size_t cap, const json_t *e)
{
    if (json_is_array(e)) {
        render_list(dst, cap, e);
    } else if (json_is_object(e)) {
        const json_t *m = json_object_get(e, "message");
        render(dst, cap, m ? m : e);
    } else {
        render(dst, cap, e);
    }
}

static void lower_copy(char *dst, size_t cap, const char *src)
{
    char tmp[64];
    size_t i = 0;
    for (; src[i] && i + 1 < sizeof tmp; i++)
        tmp[i] = (char)tolower((unsigned char)src[i]);
    tmp[i] = '\0';
    rag_net_copy_line(dst, cap, tmp, sizeof tmp); /* keep it one clean line */
}

void rag_net_parse_error(const char *x_error_message, const char *body, size_t body_len,
                         const char *token, rag_net_error_info *out)
{
    if (!out)
        return;
    out->message[0] = '\0';
    out->error_type[0] = '\0';
    out->estimated_time_s = -1;
    if (!body)
        body_len = 0;

    json_t *root = NULL;
    if (body_len > 0 && body_len <= ERROR_JSON_MAX) {
        json_error_t je;
        root = json_loadb(body, body_len, JSON_DECODE_ANY, &je);
    }
    if (json_is_object(root)) {
        const json_t *et = json_object_get(root, "estimated_time");
        if (json_is_number(et) && json_number_value(et) >= 0)
            out->estimated_time_s = json_number_value(et);
        const json_t *ty = json_object_get(root, "error_type");
        const json_t *e = json_object_get(root, "error");
        if (!json_is_string(ty) && json_is_object(e))
            ty = json_object_get(e, "type");
        if (json_is_string(ty))
            lower_copy(out->error_type, sizeof out->error_type, json_string_value(ty));
    }

    if (x_error_message && *x_error_message) {
        set_msg(out->message, sizeof out->message, x_error_message);
    } else if (json_is_object(root)) {
        const json_t *v;
        if ((v = json_object_get(root, "error")) && !json_is_null(v))
            render_error_member(out->message, sizeof out->message, v);
        else if ((v = json_object_get(root, "message")) && !json_is_null(v))
            render(out->message, sizeof out->message, v);
        else if ((v = json_object_get(root, "detail")) && !json_is_null(v))
            render(out->message, sizeof out->message, v);
    }
    if (!out->message[0] && body_len > 0) {
        size_t n = body_len < RAG_NET_SNIPPET_MAX ? body_len : RAG_NET_SNIPPET_MAX;
        char snippet[RAG_NET_SNIPPET_MAX + 1];
        memcpy(snippet, body, n);
        snippet[n] = '\0';
        /* an embedded NUL ends the snippet; the copy maps control bytes and bad UTF-8 */
        rag_net_copy_line(out->message, sizeof out->message, snippet, n);
        /* cut at a character boundary may leave a partial sequence replaced by '?': fine */
    }
    json_decref(root);

    /* trim surrounding spaces */
    char *m = out->message;
    size_t len = strlen(m);
    while (len > 0 && m[len - 1] == ' ')
        m[--len] = '\0';
    size_t lead = 0;
    while (m[lead] == ' ')
        lead++;
    if (lead)
        memmove(m, m + lead, len - lead + 1);
    rag_net_redact(out->message, token);
}

bool rag_net_stream_error(const json_t *value, const char *token, char *msg, size_t cap)
{
    if (!json_is_object(value) || !msg || cap == 0)
        return false;
    const json_t *e = json_object_get(value, "error");
    if (!e || json_is_null(e))
        return false;
    render_error_member(msg, cap, e);
    if (!msg[0])
        set_msg(msg, cap, "(empty error)");
    rag_net_redact(msg, token);
    return true;
}

rag_status rag_net_status_from_http(int http_status, const char *error_type)
{
    if (http_status >= 200 && http_status < 300)
        return RAG_OK;
    switch (http_status) {
    case 401:
    case 403: return RAG_E_AUTH;
    case 402: return RAG_E_BUDGET;
    case 404:
    case 410: return RAG_E_NOT_FOUND;
    case 408: return RAG_E_TIMEOUT;
    case 413: return RAG_E_TOO_LARGE;
    case 429: return RAG_E_RATE_LIMITED;
    case 400:
    case 422: return RAG_E_BAD_INPUT;
    default: break;
    }
    if (http_status >= 400 && http_status < 500) {
        if (error_type && !strcasecmp(error_type, "overloaded"))
            return RAG_E_RATE_LIMITED;
        if (error_type && (!strcasecmp(error_type, "backend") || !strcasecmp(error_type, "unhealthy")))
            return RAG_E_UPSTREAM;
        if (http_status == 424)
            return RAG_E_UPSTREAM;
        return RAG_E_BAD_INPUT;
    }
    return RAG_E_UPSTREAM;
}

bool rag_net_http_retryable(int http_status)
{
    switch (http_status) {
    case 408: case 429: case 500: case 502: case 503: case 504: return true;
    default: return false;
    }
}

static bool word_char(unsigned char c)
{
    return isalnum(c) || c == '_';
}

char *rag_net_redact(char *s, const char *token)
{
    if (!s)
        return NULL;
    size_t r, w;
    /* pass 1: the configured token */
    size_t tlen = token ? strlen(token) : 0;
    if (tlen > 0 && strstr(s, token)) {
        size_t rep = tlen < 3 ? tlen : 3;
        for (r = 0, w = 0; s[r];) {
            if (strncmp(s + r, token, tlen) == 0) {
                memset(s + w, '*', rep);
                w += rep;
                r += tlen;
            } else {
                s[w++] = s[r++];
            }
        }
        s[w] = '\0';
    }
    /* pass 2: hf_ tokens and bearer credentials */
    unsigned char prev = 0; /* previous byte of the original text */
    for (r = 0, w = 0; s[r];) {
        if (s[r] == 'h' && s[r + 1] == 'f' && s[r + 2] == '_' && !word_char(prev)) {
            size_t k = r + 3;
            while (word_char((unsigned char)s[k]))
                k++;
            if (k - (r + 3) >= 6) {
                memcpy(s + w, "hf_***", 6);
                w += 6;
                prev = (unsigned char)s[k - 1];
                r = k;
                continue;
            }
        }
        if (!word_char(prev) && strncasecmp(s + r, "bearer ", 7) == 0) {
            size_t k = r + 7;
            while (s[k] == ' ')
                k++;
            size_t e = k;
            while (s[e] && s[e] != ' ' && s[e] != ',' && s[e] != ';' && s[e] != '"' && s[e] != '\'')
                e++;
            if (e > k) {
                size_t rep = e - k < 3 ? e - k : 3; /* never longer than the original */
                memmove(s + w, s + r, k - r);        /* "Bearer " and spaces, unchanged */
                w += k - r;
                memset(s + w, '*', rep);
                w += rep;
                prev = '*';
                r = e;
                continue;
            }
        }
        prev = (unsigned char)s[r];
        s[w++] = s[r++];
    }
    s[w] = '\0';
    /* pass 3: a message cut at its cap (rag_net_parse_error, header fields) may end inside a
     * secret: hide a trailing prefix of 4+ bytes of the token, and the characters of a trailing
     * "hf_" word too short for pass 2 */
    size_t n = w;
    for (size_t k = tlen > 1 ? tlen - 1 : 0; k >= 4; k--)
        if (k <= n && memcmp(s + n - k, token, k) == 0) {
            memcpy(s + n - k, "***", 4);
            return s;
        }
    size_t k = n; /* s[k..n): the trailing word, if at most 8 bytes ("hf_" + up to 5) */
    while (k > 0 && word_char((unsigned char)s[k - 1]) && n - k < 9)
        k--;
    if (n - k >= 3 && n - k <= 8 && (k == 0 || !word_char((unsigned char)s[k - 1])) &&
        !memcmp(s + k, "hf_", 3))
        memset(s + k + 3, '*', n - k - 3);
    return s;
}
