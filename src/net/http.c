/* HTTP client on libcurl: a pool of easy handles (keep-alive), deadline, body caps, captured
 * response headers, and a line-streaming mode. One attempt per rag_http_perform; the policy
 * (retries, breaker, limiter) lives in call.c. */
#include "net_internal.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ERROR_BODY_MAX ((size_t)64 << 10) /* bytes of an error body kept for parsing */

struct rag_http_client {
    pthread_mutex_t mu;
    rag_http_params p;
    char *user_agent;      /* owned */
    CURL **idle;           /* p.max_idle_handles slots, n_idle used (most recent last) */
    int n_idle;
    int handles;           /* alive: idle + in use */
    unsigned long transfers, connections;
};

rag_status rag_net_global_init(rag_err *err)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        return rag_err_set(err, RAG_E_INTERNAL, "curl_global_init: %s", curl_easy_strerror(rc));
    return RAG_OK;
}

void rag_net_global_cleanup(void)
{
    curl_global_cleanup();
}

void rag_net_response_init(rag_net_response *r)
{
    if (!r)
        return;
    memset(r, 0, sizeof *r);
    rag_buf_init(&r->body, 0);
    r->error.estimated_time_s = -1;
}

void rag_net_response_free(rag_net_response *r)
{
    if (!r)
        return;
    rag_buf_free(&r->body);
    json_decref(r->json);
    r->json = NULL;
}

void rag_net_response_reset(rag_net_response *r)
{
    rag_buf body = r->body;
    json_decref(r->json);
    memset(r, 0, sizeof *r);
    r->body = body;
    rag_buf_reset(&r->body);
    if (r->body.data)
        r->body.data[0] = '\0';
    r->body.max = 0;
    r->error.estimated_time_s = -1;
}

rag_http_params rag_http_default_params(void)
{
    rag_http_params p;
    memset(&p, 0, sizeof p);
    p.user_agent = NULL;
    p.connect_timeout_ms = 10000;
    p.max_body_bytes = (size_t)8 << 20;
    p.max_line_bytes = (size_t)1 << 20;
    p.max_stream_bytes = (size_t)64 << 20;
    p.follow_redirects = false;
    p.max_idle_handles = 8;
    return p;
}

rag_status rag_http_client_create(const rag_http_params *p, rag_http_client **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "http client: out is NULL");
    *out = NULL;
    rag_http_params hp = p ? *p : rag_http_default_params();
    if (hp.max_idle_handles < 1 || hp.max_idle_handles > 64)
        return rag_err_set(err, RAG_E_CONFIG, "http client: max_idle_handles %d not in 1..64", hp.max_idle_handles);
    if (!(hp.connect_timeout_ms > 0) || !isfinite(hp.connect_timeout_ms))
        return rag_err_set(err, RAG_E_CONFIG, "http client: connect_timeout_ms %g must be > 0", hp.connect_timeout_ms);
    if (hp.max_body_bytes == 0 || hp.max_line_bytes == 0 || hp.max_stream_bytes == 0)
        return rag_err_set(err, RAG_E_CONFIG, "http client: body, line and stream caps must be > 0");
    rag_http_client *c = calloc(1, sizeof *c);
    if (!c)
        return rag_err_set(err, RAG_E_NOMEM, "http client: out of memory");
    char ua[64];
    snprintf(ua, sizeof ua, "ragc/%s", "0.1.0");
    c->user_agent = rag_strdup(hp.user_agent ? hp.user_agent : ua);
    c->idle = calloc((size_t)hp.max_idle_handles, sizeof *c->idle);
    if (!c->user_agent || !c->idle || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c->user_agent);
        free(c->idle);
        free(c);
        return rag_err_set(err, RAG_E_NOMEM, "http client: out of memory");
    }
    hp.user_agent = c->user_agent;
    c->p = hp;
    *out = c;
    return RAG_OK;
}

void rag_http_client_free(rag_http_client *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_idle; i++)
        curl_easy_cleanup(c->idle[i]);
    pthread_mutex_destroy(&c->mu);
    free(c->idle);
    free(c->user_agent);
    free(c);
}

void rag_http_client_stats(rag_http_client *c, rag_http_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    out->transfers = c->transfers;
    out->connections = c->connections;
    out->handles = c->handles;
    pthread_mutex_unlock(&c->mu);
}

static CURL *take_handle(rag_http_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->n_idle > 0)
        h = c->idle[--c->n_idle];
    pthread_mutex_unlock(&c->mu);
    if (h)
        return h;
    h = curl_easy_init();
    if (h) {
        pthread_mutex_lock(&c->mu);
        c->handles++;
        pthread_mutex_unlock(&c->mu);
    }
    return h;
}

/* Resets the options (dropping pointers into the finished call) and keeps the connections. */
static void give_handle(rag_http_client *c, CURL *h)
{
    curl_easy_reset(h);
    pthread_mutex_lock(&c->mu);
    if (c->n_idle < c->p.max_idle_handles) {
        c->idle[c->n_idle++] = h;
        h = NULL;
    } else {
        c->handles--;
    }
    pthread_mutex_unlock(&c->mu);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- one transfer ---- */

typedef struct xfer {
    const rag_net_request *req;
    rag_net_response *resp;
    CURL *h;
    size_t max_body, max_line, max_stream;
    bool decided;        /* the first body byte arrived: streaming decided */
    bool streaming;      /* 2xx in stream mode: lines go to req->on_line */
    bool error_body_full;
    rag_net_lines lines;
    rag_status abort_status; /* why a callback stopped the transfer */
    rag_err abort_err;
} xfer;

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    rag_net_response *r = x->resp;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) { /* a new response (after 1xx or a redirect) */
        r->content_type[0] = r->request_id[0] = r->provider[0] = r->retry_after[0] = '\0';
        r->ratelimit[0] = r->ratelimit_policy[0] = r->x_error_message[0] = r->location[0] = '\0';
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return n;
    size_t klen = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = n - klen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    static const struct {
        const char *name;
        size_t off, cap;
    } fields[] = {
        {"content-type", offsetof(rag_net_response, content_type), RAG_NET_HDR_SMALL},
        {"x-request-id", offsetof(rag_net_response, request_id), RAG_NET_HDR_SMALL},
        {"x-inference-provider", offsetof(rag_net_response, provider), RAG_NET_HDR_SMALL},
        {"retry-after", offsetof(rag_net_response, retry_after), RAG_NET_HDR_SMALL},
        {"ratelimit", offsetof(rag_net_response, ratelimit), RAG_NET_HDR_LARGE},
        {"ratelimit-policy", offsetof(rag_net_response, ratelimit_policy), RAG_NET_HDR_LARGE},
        {"x-error-message", offsetof(rag_net_response, x_error_message), RAG_NET_HDR_LARGE},
        {"location", offsetof(rag_net_response, location), RAG_NET_HDR_LARGE},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (strlen(fields[i].name) == klen && strncasecmp(data, fields[i].name, klen) == 0) {
            char *dst = (char *)r + fields[i].off;
            rag_net_copy_line(dst, fields[i].cap, v, vlen); /* reads at most vlen bytes */
            break;
        }
    }
    return n;
}

static rag_status deliver_line(void *ud, const char *line, size_t len, rag_err *err)
{
    xfer *x = ud;
    rag_status st = x->req->on_line(x->req->stream_ud, line, len, err);
    x->resp->lines_delivered++;
    if (st != RAG_OK && err->status != st)
        rag_err_set(err, st, "stream handler stopped at line %zu: %s", x->resp->lines_delivered,
                    rag_status_str(st));
    return st;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    rag_net_response *r = x->resp;
    if (!x->decided) {
        long code = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
        x->streaming = x->req->on_line && code >= 200 && code < 300;
        r->http_status = (int)code;
        x->decided = true;
    }
    bool ok2xx = r->http_status >= 200 && r->http_status < 300;
    if (x->streaming) {
        if (n > x->max_stream - r->bytes_received) {
            x->abort_status = rag_err_set(&x->abort_err, RAG_E_TOO_LARGE,
                                          "streamed body larger than %zu bytes", x->max_stream);
            return 0;
        }
        r->bytes_received += n;
        rag_status st = rag_net_lines_feed(&x->lines, data, n, deliver_line, x, "streamed body", &x->abort_err);
        if (st != RAG_OK) {
            x->abort_status = st;
            return 0;
        }
        return n;
    }
    if (ok2xx) {
        if (n > x->max_body - r->body.len) {
            x->abort_status = rag_err_set(&x->abort_err, RAG_E_TOO_LARGE, "response body larger than %zu bytes",
                                          x->max_body);
            return 0;
        }
        r->bytes_received += n;
        if (rag_buf_append(&r->body, data, n) != RAG_OK) {
            x->abort_status = rag_err_set(&x->abort_err, RAG_E_NOMEM, "out of memory buffering the response");
            return 0;
        }
        return n;
    }
    /* an error response: keep its first ERROR_BODY_MAX bytes, then stop reading */
    r->bytes_received += n;
    size_t room = ERROR_BODY_MAX - r->body.len;
    size_t take = n < room ? n : room;
    if (take && rag_buf_append(&r->body, data, take) != RAG_OK) {
        x->abort_status = rag_err_set(&x->abort_err, RAG_E_NOMEM, "out of memory buffering the response");
        return 0;
    }
    if (take < n) {
        x->error_body_full = true;
        return 0;
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
    xfer *x = ud;
    if (x->req->cancel && atomic_load(x->req->cancel)) {
        x->abort_status = rag_err_set(&x->abort_err, RAG_E_CANCELLED, "cancelled");
        return 1;
    }
    return 0;
}

/* Status and retryability of a transfer that libcurl reports as failed. */
static rag_status map_curl(CURLcode rc, bool *retryable, const char **what)
{
    *retryable = false;
    *what = NULL;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        *retryable = true;
        *what = "timed out";
        return RAG_E_TIMEOUT;
    case CURLE_PARTIAL_FILE:
        *retryable = true;
        *what = "truncated response body (connection closed early)";
        return RAG_E_UPSTREAM;
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY: case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2: case CURLE_HTTP2_STREAM: case CURLE_HTTP3: case CURLE_QUIC_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
        *retryable = true;
        return RAG_E_IO;
    case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH: case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_CRL_BADFILE:
        *what = "TLS verification failed";
        return RAG_E_IO;
    case CURLE_FILESIZE_EXCEEDED:
        return RAG_E_TOO_LARGE;
    case CURLE_URL_MALFORMAT: case CURLE_UNSUPPORTED_PROTOCOL:
        return RAG_E_BAD_INPUT;
    case CURLE_TOO_MANY_REDIRECTS:
        return RAG_E_UPSTREAM;
    case CURLE_ABORTED_BY_CALLBACK:
        return RAG_E_CANCELLED;
    case CURLE_OUT_OF_MEMORY:
        return RAG_E_NOMEM;
    case CURLE_BAD_CONTENT_ENCODING:
        *what = "bad content encoding";
        return RAG_E_UPSTREAM;
    default:
        return RAG_E_IO;
    }
}

static bool header_ok(const char *h)
{
    return h && !strpbrk(h, "\r\n") && strchr(h, ':') && h[0] != ':';
}

static rag_status build_headers(const rag_net_request *req, struct curl_slist **out, const char *what, rag_err *err)
{
    struct curl_slist *l = NULL, *t;
    rag_status st = RAG_OK;
    char line[1024];
#define ADD(s)                                                           \
    do {                                                                 \
        if (!(t = curl_slist_append(l, (s)))) {                          \
            st = rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", what); \
            goto done;                                                   \
        }                                                                \
        l = t;                                                           \
    } while (0)
    if (req->bearer_token && *req->bearer_token) {
        if (strpbrk(req->bearer_token, "\r\n ") || strlen(req->bearer_token) > sizeof line - 32) {
            st = rag_err_set(err, RAG_E_CONFIG, "%s: the API token contains spaces or line breaks, or is too long",
                             what);
            goto done;
        }
        snprintf(line, sizeof line, "Authorization: Bearer %s", req->bearer_token);
        ADD(line);
        memset(line, 0, sizeof line); /* do not leave the token on the stack */
    }
    if (req->method == RAG_HTTP_POST) {
        const char *ct = req->content_type ? req->content_type : "application/json";
        if (strpbrk(ct, "\r\n") || strlen(ct) > 200) {
            st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: bad Content-Type", what);
            goto done;
        }
        snprintf(line, sizeof line, "Content-Type: %s", ct);
        ADD(line);
        ADD("Expect:"); /* no 100-continue round trip */
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        if (!header_ok(req->headers[i])) {
            st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: extra header %zu is not one \"Name: value\" line", what, i);
            goto done;
        }
        ADD(req->headers[i]);
    }
#undef ADD
done:
    if (st != RAG_OK) {
        curl_slist_free_all(l);
        l = NULL;
    }
    *out = l;
    return st;
}

/* Parses the JSON body of a 2xx response into resp->json. */
static rag_status check_json(rag_net_response *resp, const char *what, rag_err *err)
{
    json_error_t je;
    json_t *v = NULL;
    if (resp->body.len > 0)
        v = json_loadb(resp->body.data, resp->body.len, JSON_DECODE_ANY, &je);
    if (!v && resp->body.len == 0)
        return rag_err_set(err, RAG_E_UPSTREAM, "%s: HTTP %d: empty body where JSON was expected", what,
                           resp->http_status);
    if (!v) {
        char text[JSON_ERROR_TEXT_LENGTH];
        rag_net_copy_line(text, sizeof text, je.text, sizeof text);
        return rag_err_set(err, RAG_E_UPSTREAM, "%s: HTTP %d: malformed JSON response (%s at line %d column %d)",
                           what, resp->http_status, text, je.line, je.column);
    }
    resp->json = v;
    return RAG_OK;
}

rag_status rag_http_perform(rag_http_client *c, const rag_net_request *req, double timeout_ms,
                            rag_net_response *resp, rag_err *err)
{
    rag_err local_err;
    if (!err)
        err = &local_err;
    rag_err_clear(err);
    if (!c || !req || !resp)
        return rag_err_set(err, RAG_E_BAD_INPUT, "http: NULL %s", !c ? "client" : !req ? "request" : "response");
    rag_net_response_reset(resp);
    char what[RAG_NET_WHAT_MAX];
    rag_net_describe(what, sizeof what, req);
    rag_net_redact(what, req->bearer_token);
    if (!req->url || (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0))
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: URL must start with http:// or https://", what);
    if (req->body_len > 0 && !req->body)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: body is NULL but body_len is %zu", what, req->body_len);
    if (req->n_headers > 0 && !req->headers)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: headers is NULL but n_headers is %zu", what, req->n_headers);
    if (req->cancel && atomic_load(req->cancel))
        return rag_err_set(err, RAG_E_CANCELLED, "%s: cancelled", what);
    if (!(timeout_ms >= 1))
        return rag_err_set(err, RAG_E_TIMEOUT, "%s: no time left before the deadline", what);

    struct curl_slist *hdrs = NULL;
    rag_status st = build_headers(req, &hdrs, what, err);
    if (st != RAG_OK)
        return st;
    CURL *h = take_handle(c);
    if (!h) {
        curl_slist_free_all(hdrs);
        return rag_err_set(err, RAG_E_NOMEM, "%s: curl_easy_init failed", what);
    }

    xfer x;
    memset(&x, 0, sizeof x);
    x.req = req;
    x.resp = resp;
    x.h = h;
    x.max_body = req->max_body_bytes ? req->max_body_bytes : c->p.max_body_bytes;
    x.max_line = req->max_line_bytes ? req->max_line_bytes : c->p.max_line_bytes;
    x.max_stream = req->max_stream_bytes ? req->max_stream_bytes : c->p.max_stream_bytes;
    rag_net_lines_init(&x.lines, x.max_line);
    rag_err_clear(&x.abort_err);
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';

    long tmo = (long)ceil(timeout_ms);
    long ctmo = (long)ceil(fmin(c->p.connect_timeout_ms, timeout_ms));
    bool ok = true;
#define SET(opt, val) ok = ok && curl_easy_setopt(h, opt, val) == CURLE_OK
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, c->p.follow_redirects ? 1L : 0L);
    SET(CURLOPT_MAXREDIRS, 5L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_TIMEOUT_MS, tmo);
    SET(CURLOPT_CONNECTTIMEOUT_MS, ctmo);
    SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_HTTPHEADER, hdrs);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, &x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, &x);
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(req->on_line ? x.max_stream : x.max_body));
    if (req->cancel) {
        SET(CURLOPT_XFERINFOFUNCTION, on_progress);
        SET(CURLOPT_XFERINFODATA, &x);
        SET(CURLOPT_NOPROGRESS, 0L);
    }
    if (req->method == RAG_HTTP_POST) {
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
#undef SET
    if (!ok) {
        st = rag_err_set(err, RAG_E_INTERNAL, "%s: curl_easy_setopt failed", what);
        goto out;
    }

    double t0 = rag_now_ms();
    CURLcode rc = curl_easy_perform(h);
    resp->elapsed_ms = rag_now_ms() - t0;
    resp->curl_code = (int)rc;
    long code = 0, nconn = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn);
    resp->http_status = (int)code;
    resp->num_connects = nconn;
    pthread_mutex_lock(&c->mu);
    c->transfers++;
    c->connections += (unsigned long)nconn;
    pthread_mutex_unlock(&c->mu);

    if (rc == CURLE_OK && code == 0 && x.abort_status == RAG_OK) {
        st = rag_err_set(err, RAG_E_UPSTREAM, "%s: the reply had no HTTP status", what);
        goto out;
    }
    bool error_response = code != 0 && (code < 200 || code >= 300);
    if (x.abort_status != RAG_OK) {
        /* a cap, a stream handler or cancellation stopped the transfer */
        st = rag_err_set(err, x.abort_status, "%s: %s", what, x.abort_err.msg);
        resp->retryable = false;
        goto out;
    }
    if (rc != CURLE_OK && !(error_response && (x.error_body_full || rc == CURLE_FILESIZE_EXCEEDED))) {
        const char *why;
        bool retry;
        st = map_curl(rc, &retry, &why);
        resp->retryable = retry && resp->lines_delivered == 0; /* never replay a stream */
        char detail[CURL_ERROR_SIZE + 1];
        rag_net_copy_line(detail, sizeof detail, errbuf[0] ? errbuf : curl_easy_strerror(rc), sizeof detail);
        if (st == RAG_E_TIMEOUT)
            rag_err_set(err, st, "%s: timed out after %.0f ms (%s)", what, resp->elapsed_ms, detail);
        else if (st == RAG_E_TOO_LARGE)
            rag_err_set(err, st, "%s: response body larger than %zu bytes", what,
                        req->on_line ? x.max_stream : x.max_body);
        else if (why)
            rag_err_set(err, st, "%s: %s%s (%s)", what, why,
                        resp->lines_delivered ? " after streaming started" : "", detail);
        else
            rag_err_set(err, st, "%s: %s", what, detail);
        if (x.streaming && req->on_end && st != RAG_E_CANCELLED) {
            /* the stream was cut: let the parser see the end (it reports the truncation) */
            rag_err end_err;
            rag_err_clear(&end_err);
            if (req->on_end(req->stream_ud, &end_err) != RAG_OK && end_err.msg[0]) {
                size_t used = strlen(err->msg);
                snprintf(err->msg + used, sizeof err->msg - used, "; %s", end_err.msg);
            }
        }
        goto out;
    }
    if (error_response) {
        rag_net_parse_error(resp->x_error_message, resp->body.data, resp->body.len, req->bearer_token,
                            &resp->error);
        st = rag_net_status_from_http((int)code, resp->error.error_type);
        resp->retryable = rag_net_http_retryable((int)code);
        char extra[RAG_NET_HDR_LARGE + 64] = "";
        if (code >= 300 && code < 400)
            snprintf(extra, sizeof extra, " redirect to %s not followed", resp->location[0] ? resp->location : "?");
        rag_err_set(err, st, "%s: HTTP %ld (%s)%s%s%s%s%s%s", what, code, rag_status_str(st), extra,
                    resp->error.message[0] ? ": " : "", resp->error.message,
                    resp->error.error_type[0] ? " [" : "", resp->error.error_type,
                    resp->error.error_type[0] ? "]" : "");
        goto out;
    }
    /* 2xx, complete */
    st = RAG_OK;
    if (req->on_line) {
        st = rag_net_lines_flush(&x.lines, deliver_line, &x, err);
        if (st == RAG_OK && req->on_end)
            st = req->on_end(req->stream_ud, err);
        if (st != RAG_OK) {
            rag_err_prefix(err, "%s: ", what);
            resp->retryable = st == RAG_E_UPSTREAM && resp->lines_delivered == 0;
        }
    } else if (req->expect_json) {
        st = check_json(resp, what, err);
    }

out:
    if (st != RAG_OK)
        rag_net_redact(err->msg, req->bearer_token);
    rag_net_lines_free(&x.lines);
    curl_slist_free_all(hdrs);
    give_handle(c, h);
    return st;
}
