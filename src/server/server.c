/* The HTTP daemon: lifecycle, engine pool, request dispatch and response helpers. */
#include "server/server_core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

rag_server_params rag_server_default_params(void)
{
    rag_server_params p;
    memset(&p, 0, sizeof p);
    p.host = "127.0.0.1";
    p.port = 7860;
    p.connection_limit = 128;
    p.connection_timeout_s = 30;
    p.max_json_bytes = SRV_MAX_JSON_BODY;
    p.drain_timeout_ms = 30000;
    p.max_uploads_total_bytes = SRV_DEFAULT_UPLOADS_TOTAL;
    p.header_timeout_s = SRV_DEFAULT_HEADER_TIMEOUT_S;
    p.min_body_rate = SRV_DEFAULT_MIN_BODY_RATE;
    p.connection_memory_bytes = SRV_DEFAULT_CONN_MEMORY;
    return p;
}

/* ---- engines ---- */

rag_engine *srv_engine_acquire(rag_server_t *s)
{
    pthread_mutex_lock(&s->pool.mu);
    while (s->pool.n_idle == 0)
        pthread_cond_wait(&s->pool.cv, &s->pool.mu);
    rag_engine *e = s->pool.idle[--s->pool.n_idle];
    pthread_mutex_unlock(&s->pool.mu);
    return e;
}

void srv_engine_release(rag_server_t *s, rag_engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&s->pool.mu);
    s->pool.idle[s->pool.n_idle++] = e;
    pthread_cond_signal(&s->pool.cv);
    pthread_mutex_unlock(&s->pool.mu);
}

/* ---- responses ---- */

enum MHD_Result srv_queue(srv_request *r, int status, struct MHD_Response *resp)
{
    rag_server_t *s = r->srv;
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (s->cors_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", s->cors_origin);
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    if (atomic_load(&s->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES)
        r->status = status;
    return ret;
}

enum MHD_Result srv_respond(srv_request *r, int status, const char *content_type, char *body, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    return srv_queue(r, status, resp);
}

enum MHD_Result srv_respond_json(srv_request *r, int status, char *json)
{
    if (!json) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        return srv_queue(r, 500, resp);
    }
    size_t len = strlen(json);
    return srv_respond(r, status, "application/json", json, len);
}

enum MHD_Result srv_respond_jansson(srv_request *r, int status, json_t *value)
{
    char *s = value ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    return srv_respond_json(r, status, s);
}

enum MHD_Result srv_respond_error(srv_request *r, int status, const char *code, const char *fmt, ...)
{
    char msg[RAG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rag_log(status >= 500 ? RAG_LOG_ERROR : RAG_LOG_INFO, "server: %s %s -> %d %s: %s", r->method_label,
            r->path ? r->path : "?", status, code, msg);
    return srv_respond_json(r, status, srv_error_json(code, msg));
}

enum MHD_Result srv_respond_rag_error(srv_request *r, rag_status st, const rag_err *err)
{
    const char *code;
    int http = srv_http_status(st, &code);
    return srv_respond_error(r, http, code, "%s", err && err->msg[0] ? err->msg : rag_status_str(st));
}

/* ---- request lifecycle ---- */

/* MHD_OPTION_URI_LOG_CALLBACK: the request line arrived; its result becomes *req_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    rag_server_t *s = cls;
    srv_request *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->srv = s;
    r->t0 = rag_now_ms();
    r->uri = rag_strdup(uri ? uri : "");
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->cs = ci ? ci->socket_context : NULL;
    snprintf(r->method_label, sizeof r->method_label, "OTHER");
    rag_buf_init(&r->body, s->p.max_json_bytes);
    atomic_fetch_add(&s->in_flight, 1);
    return r;
}

/* MHD_OPTION_NOTIFY_COMPLETED: the response was sent (or the connection died). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    rag_server_t *s = cls;
    srv_request *r = *req_cls;
    *req_cls = NULL;
    if (!r)
        return;
    if (r->status) {
        char status[8];
        snprintf(status, sizeof status, "%d", r->status);
        const char *labels[] = {r->match.label ? r->match.label : "other", r->method_label, status};
        rag_metrics_inc(s->m.requests, labels, 1);
        const char *route[] = {labels[0]};
        double secs = (rag_now_ms() - r->t0) / 1000.0;
        rag_metrics_observe(s->m.duration, route, secs);
        rag_log(RAG_LOG_INFO, "server: %s %s -> %d (%.1f ms)%s", r->method_label, r->path ? r->path : "?", r->status,
                secs * 1000.0, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
    }
    if (r->stream) {
        /* a stream whose request ended abnormally lost its client: stop the generation */
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            srv_stream_cancel(r->stream, SRV_STREAM_GONE);
        if (r->cs) {
            pthread_mutex_lock(&s->conns_mu);
            if (r->cs->stream == r->stream)
                r->cs->stream = NULL;
            pthread_mutex_unlock(&s->conns_mu);
        }
        srv_stream_release(r->stream);
        r->stream = NULL;
    }
    /* a kept-alive connection has header_timeout_s for its next request */
    srv_conn_deadline(r, rag_now_ms() + 1000.0 * s->p.header_timeout_s, "the next request", "keepalive");
    srv_upload_free(r->upload);
    rag_buf_free(&r->body);
    free(r->path);
    free(r->uri);
    free(r);
    atomic_fetch_sub(&s->in_flight, 1);
}

/* ---- connection deadlines ---- */

void srv_conn_deadline(srv_request *r, double deadline_ms, const char *phase, const char *reason)
{
    if (!r->cs)
        return;
    rag_server_t *s = r->srv;
    pthread_mutex_lock(&s->conns_mu);
    r->cs->deadline_ms = deadline_ms;
    r->cs->phase = phase;
    r->cs->reason = reason;
    pthread_mutex_unlock(&s->conns_mu);
}

/* MHD_OPTION_NOTIFY_CONNECTION: tracks each connection for the watchdog. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    rag_server_t *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        srv_conn *c = ci ? calloc(1, sizeof *c) : NULL;
        *socket_context = c;
        if (!c)
            return; /* not tracked: only libmicrohttpd's idle timeout applies */
        c->fd = ci->connect_fd;
        c->deadline_ms = rag_now_ms() + 1000.0 * s->p.header_timeout_s;
        c->phase = "the request headers";
        c->reason = "headers";
        pthread_mutex_lock(&s->conns_mu);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->conns_mu);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        srv_conn *c = *socket_context;
        *socket_context = NULL;
        if (!c)
            return;
        pthread_mutex_lock(&s->conns_mu);
        if (c->prev)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&s->conns_mu);
        free(c);
    }
}

#define WATCHDOG_TICK_MS 200
#define WATCHDOG_MAX_HANGUPS 32 /* streams cancelled per tick, at most (the rest on the next one) */

/* True if the peer of fd closed the connection or it failed (poll without waiting). A streaming
 * connection is suspended between events, and libmicrohttpd does not notice a client leaving
 * until it writes again: this lets a generation stop before its next token. */
static bool peer_gone(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Shuts down the sockets of connections past their deadline, and cancels the streams whose
 * client hung up, every WATCHDOG_TICK_MS. */
static void *watchdog_main(void *arg)
{
    rag_server_t *s = arg;
    pthread_mutex_lock(&s->conns_mu);
    while (!s->watchdog_stop) {
        double now = rag_now_ms();
        srv_stream *gone[WATCHDOG_MAX_HANGUPS];
        size_t n_gone = 0;
        for (srv_conn *c = s->conns; c; c = c->next) {
            if (c->stream && n_gone < WATCHDOG_MAX_HANGUPS && peer_gone(c->fd)) {
                gone[n_gone++] = c->stream;
                srv_stream_ref(c->stream);
                c->stream = NULL;
            }
            if (c->shut || c->deadline_ms <= 0 || now <= c->deadline_ms)
                continue;
            c->shut = true;
            shutdown(c->fd, SHUT_RDWR);
            const char *labels[] = {c->reason};
            rag_metrics_inc(s->m.timeouts, labels, 1);
            rag_log(RAG_LOG_INFO, "server: closed a connection: %s did not arrive in time", c->phase);
        }
        if (n_gone) { /* cancelled without conns_mu: cancelling resumes the connection in libmicrohttpd */
            pthread_mutex_unlock(&s->conns_mu);
            for (size_t i = 0; i < n_gone; i++) {
                srv_stream_cancel(gone[i], SRV_STREAM_GONE);
                srv_stream_release(gone[i]);
            }
            pthread_mutex_lock(&s->conns_mu);
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += WATCHDOG_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->conns_cv, &s->conns_mu, &ts);
    }
    pthread_mutex_unlock(&s->conns_mu);
    return NULL;
}

static void watchdog_stop(rag_server_t *s)
{
    if (!s->watchdog_running)
        return;
    pthread_mutex_lock(&s->conns_mu);
    s->watchdog_stop = true;
    pthread_cond_signal(&s->conns_cv);
    pthread_mutex_unlock(&s->conns_mu);
    pthread_join(s->watchdog, NULL);
    s->watchdog_running = false;
}

/* True if the request announces a body (Content-Length > 0 or any Transfer-Encoding). */
static bool has_body(struct MHD_Connection *conn)
{
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return true;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl && strspn(cl, "0") != strlen(cl);
}

static enum MHD_Result respond_options(srv_request *r)
{
    char allow[64];
    srv_allow_header(r->match.allowed, allow, sizeof allow);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Allow", allow);
    if (r->srv->cors_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", allow);
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type, X-Filename");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
    return srv_queue(r, 204, resp);
}

static enum MHD_Result respond_405(srv_request *r)
{
    char allow[64];
    srv_allow_header(r->match.allowed, allow, sizeof allow);
    char msg[256];
    snprintf(msg, sizeof msg, "%s is not allowed on %s (allowed: %s)", r->method_name, r->match.label, allow);
    char *body = srv_error_json("method_not_allowed", msg);
    if (!body)
        return srv_respond_json(r, 500, NULL);
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, "Allow", allow);
    return srv_queue(r, 405, resp);
}

static enum MHD_Result respond_401(srv_request *r, bool had_header, srv_route_class cls)
{
    const char *what = cls == SRV_CLASS_WRITE ? "uploading and deleting documents needs the API key"
                                              : "this server needs the API key";
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what,
             had_header ? "the key in the Authorization header is wrong"
                        : "send 'Authorization: Bearer <key>' (the key is the server's RAGC_API_KEY)");
    rag_log(RAG_LOG_INFO, "server: %s %s -> 401: %s", r->method_label, r->path ? r->path : "?",
            had_header ? "wrong API key" : "no API key");
    char *body = srv_error_json("unauthorized", msg);
    if (!body)
        return srv_respond_json(r, 500, NULL);
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"ragc\"");
    return srv_queue(r, 401, resp);
}

static enum MHD_Result respond_writes_disabled(srv_request *r)
{
    return srv_respond_error(r, 403, "writes_disabled",
                             "uploading and deleting documents is turned off: this server listens on %s, which is "
                             "not a loopback address, and has no API key. To enable it, set RAGC_API_KEY (on a "
                             "Hugging Face Space: a secret in the Space settings) and send 'Authorization: Bearer "
                             "<key>'; or start ragc serve with --allow-open-writes to let anyone upload and delete",
                             r->srv->host);
}

/* Routes a request whose body (if any) is complete. */
static enum MHD_Result dispatch(srv_request *r)
{
    switch (r->match.route) {
    case SRV_ROUTE_INDEX:
    case SRV_ROUTE_ASSET: return srv_route_asset(r);
    case SRV_ROUTE_HEALTHZ: return srv_route_healthz(r);
    case SRV_ROUTE_READYZ: return srv_route_readyz(r);
    case SRV_ROUTE_METRICS: return srv_route_metrics(r);
    case SRV_ROUTE_MODELS: return srv_route_models(r);
    case SRV_ROUTE_ASK: return srv_route_ask(r);
    case SRV_ROUTE_CHAT: return srv_route_chat(r);
    case SRV_ROUTE_SEARCH: return srv_route_search(r);
    case SRV_ROUTE_DOCS: return r->method == SRV_POST ? srv_upload_finish(r) : srv_route_docs_list(r);
    case SRV_ROUTE_DOC: return r->method == SRV_DELETE ? srv_route_doc_delete(r) : srv_route_doc_get(r);
    case SRV_ROUTE_DOC_FILE: return srv_route_doc_file(r);
    case SRV_ROUTE_NONE: break;
    }
    return srv_respond_error(r, 404, "not_found", "no route for %s", r->path);
}

/* Headers are in: validate the request line, route, auth and body size; start the body. */
static enum MHD_Result start_request(srv_request *r, const char *method)
{
    rag_server_t *s = r->srv;
    r->method = srv_method_bit(method);
    if (r->method)
        snprintf(r->method_label, sizeof r->method_label, "%s", method);
    snprintf(r->method_name, sizeof r->method_name, "%s", method ? method : "?");
    if (atomic_load(&s->draining))
        return srv_respond_error(r, 503, "unavailable", "the server is shutting down");
    rag_err err;
    rag_err_clear(&err);
    rag_status st = srv_split_uri(r->uri, &r->path, &r->query, &err);
    if (st != RAG_OK)
        return srv_respond_error(r, st == RAG_E_TOO_LARGE ? 414 : 400, "bad_request", "%s", err.msg);
    srv_route_match(method, r->path, srv_web_assets, srv_web_n_assets, &r->match);
    if (r->match.route == SRV_ROUTE_NONE)
        return srv_respond_error(r, 404, "not_found", "no route for %s %s", r->method_name, r->path);
    if (r->method == SRV_OPTIONS)
        return respond_options(r);
    if (!r->match.method_ok)
        return respond_405(r);
    srv_route_class cls = srv_route_class_of(&r->match, r->method);
    rag_server_guard guard = srv_policy_guard(&s->policy, cls);
    if (guard == RAG_SERVER_DISABLED)
        return respond_writes_disabled(r);
    if (guard == RAG_SERVER_NEEDS_KEY) {
        const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!srv_bearer_ok(auth, s->api_key))
            return respond_401(r, auth != NULL, cls);
    }
    if (r->method != SRV_POST)
        return dispatch(r);

    r->body_kind = r->match.route == SRV_ROUTE_DOCS ? SRV_BODY_UPLOAD : SRV_BODY_JSON;
    r->body_cap = r->body_kind == SRV_BODY_JSON ? s->p.max_json_bytes : s->p.max_upload_bytes;
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (r->body_kind == SRV_BODY_UPLOAD)
        return srv_upload_begin(r); /* checks Content-Length against the upload cap itself */
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (!errno && *end == '\0' && n > r->body_cap)
            return srv_respond_error(r, 413, "payload_too_large", "request body is %llu bytes; the limit is %llu",
                                     n, (unsigned long long)r->body_cap);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    srv_request *r = *req_cls;
    if (!r)
        return MHD_NO; /* the URI callback could not allocate: drop the connection */
    rag_server_t *s = r->srv;
    if (!r->started) {
        r->started = true;
        r->conn = conn;
        r->t_body = rag_now_ms();
        /* a body (also one read and dropped after an early answer) must keep min_body_rate after
         * a header_timeout_s grace; without a body the request is processed now: no deadline */
        if (has_body(conn))
            srv_conn_deadline(r, r->t_body + 1000.0 * s->p.header_timeout_s, "the request body at the minimum rate",
                              "body");
        else
            srv_conn_deadline(r, 0, NULL, NULL);
        return start_request(r, method);
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->body_bytes += n;
        double allowed_ms = 1000.0 * s->p.header_timeout_s + 1000.0 * (double)r->body_bytes / s->p.min_body_rate;
        srv_conn_deadline(r, r->t_body + allowed_ms, "the request body at the minimum rate", "body");
        if (r->status || r->body_st != RAG_OK) {
            /* Answered or failed: the rest of the body is read and dropped (libmicrohttpd cannot
             * answer in the middle of a body), up to SRV_MAX_DISCARD bytes past the cap; a client
             * that keeps sending after that loses the connection without an answer. */
            return r->body_bytes > r->body_cap + SRV_MAX_DISCARD ? MHD_NO : MHD_YES;
        }
        if (r->body_kind == SRV_BODY_UPLOAD) {
            r->body_st = srv_upload_data(r, upload_data, n, &r->body_err);
        } else if (r->body_bytes > r->body_cap || rag_buf_append(&r->body, upload_data, n) != RAG_OK) {
            r->body_st = rag_err_set(&r->body_err, RAG_E_TOO_LARGE, "request body is larger than %llu bytes",
                                     (unsigned long long)r->body_cap);
            rag_buf_free(&r->body);
        }
        return MHD_YES;
    }
    srv_conn_deadline(r, 0, NULL, NULL); /* the body is complete: processing and the response */
    if (r->status)
        return MHD_YES;
    if (r->body_st != RAG_OK && r->body_http)
        return srv_respond_error(r, r->body_http, r->body_code, "%s", r->body_err.msg);
    if (r->body_st != RAG_OK)
        return srv_respond_rag_error(r, r->body_st, &r->body_err);
    return dispatch(r);
}

/* libmicrohttpd's messages: a client going away is routine (info); anything else is a warning. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* routine: clients going away (also in the middle of a streamed answer, whose reader then
     * ends the response with an error), connections the watchdog shut, answers MHD itself gave to
     * bad requests (431 for oversized headers), the connection limit */
    bool routine = strstr(msg, "closed by remote side") || strstr(msg, "Application reported internal error") ||
                   strstr(msg, "detected connection closure") || strstr(msg, "Request too big") ||
                   strstr(msg, "reached connection limit") || strstr(msg, "no longer available for sending") ||
                   strstr(msg, "application error generating response");
    rag_log_level level = routine ? RAG_LOG_INFO : RAG_LOG_WARN;
    if (rag_log_enabled(level))
        rag_log(level, "server: libmicrohttpd: %s", msg);
}

/* ---- lifecycle ---- */

static char *path_join(const char *a, const char *b)
{
    rag_buf buf;
    rag_buf_init(&buf, 8192);
    if (rag_buf_appendf(&buf, "%s/%s", a, b) != RAG_OK) {
        rag_buf_free(&buf);
        return NULL;
    }
    return rag_buf_steal(&buf);
}

/* Which backend of a chain this build serves: the first member of type builtin, else off. */
static const char *chain_backend(const rag_backend_config *chain, size_t n, const char *builtin, const char *off)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(chain[i].type, builtin) == 0)
            return builtin;
    return off;
}

static rag_status copy_params(rag_server_t *s, const rag_server_params *p, rag_err *err)
{
    rag_server_params d = rag_server_default_params();
    s->p = p ? *p : d;
    if (!s->p.host || !*s->p.host)
        s->p.host = d.host;
    if (s->p.port < 0 || s->p.port > 65535)
        return rag_err_set(err, RAG_E_BAD_INPUT, "port %d is out of range 0..65535", s->p.port);
    if (s->p.threads <= 0)
        s->p.threads = s->cfg->global_settings.max_concurrent_requests;
    if (s->p.threads < 2)
        s->p.threads = 2;
    if (s->p.threads > 256)
        return rag_err_set(err, RAG_E_BAD_INPUT, "threads %d is more than 256", s->p.threads);
    if (!s->p.connection_limit)
        s->p.connection_limit = d.connection_limit;
    if (!s->p.connection_timeout_s)
        s->p.connection_timeout_s = d.connection_timeout_s;
    if (!s->p.max_json_bytes)
        s->p.max_json_bytes = d.max_json_bytes;
    if (!s->p.max_upload_bytes)
        s->p.max_upload_bytes = (uint64_t)s->cfg->document_processor.max_file_mb << 20;
    if (s->p.drain_timeout_ms <= 0)
        s->p.drain_timeout_ms = d.drain_timeout_ms;
    if (!s->p.max_uploads_total_bytes)
        s->p.max_uploads_total_bytes = d.max_uploads_total_bytes;
    if (!s->p.header_timeout_s)
        s->p.header_timeout_s = d.header_timeout_s;
    if (!s->p.min_body_rate)
        s->p.min_body_rate = d.min_body_rate;
    if (!s->p.connection_memory_bytes)
        s->p.connection_memory_bytes = d.connection_memory_bytes;
    if (s->p.connection_memory_bytes < SRV_MIN_CONN_MEMORY)
        return rag_err_set(err, RAG_E_BAD_INPUT, "connection_memory_bytes %zu is below the minimum of %u",
                           s->p.connection_memory_bytes, SRV_MIN_CONN_MEMORY);
    if (s->p.private_reads && !(p && p->api_key && *p->api_key))
        return rag_err_set(err, RAG_E_CONFIG,
                           "private reads need an API key: set RAGC_API_KEY (reads cannot be private without it)");
    s->host = rag_strdup(s->p.host);
    s->api_key = p && p->api_key && *p->api_key ? rag_strdup(p->api_key) : NULL;
    s->cors_origin = p && p->cors_origin && *p->cors_origin ? rag_strdup(p->cors_origin) : NULL;
    const char *dd = p && p->data_dir && *p->data_dir ? p->data_dir : s->cfg->global_settings.data_dir;
    s->data_dir = rag_strdup(dd);
    if (!s->host || (p && p->api_key && *p->api_key && !s->api_key) ||
        (p && p->cors_origin && *p->cors_origin && !s->cors_origin) || !s->data_dir)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    s->store_path = path_join(s->data_dir, "ragc.db");
    s->uploads_dir = path_join(s->data_dir, "uploads");
    if (!s->store_path || !s->uploads_dir)
        return rag_err_set(err, RAG_E_BAD_INPUT, "data directory path is too long");
    s->p.host = s->host;
    s->p.api_key = s->api_key;
    s->p.cors_origin = s->cors_origin;
    s->p.data_dir = s->data_dir;
    return RAG_OK;
}

static rag_status open_engines(rag_server_t *s, rag_err *err)
{
    rag_status st = rag_backends_create(s->cfg, &s->backends, err);
    if (st != RAG_OK)
        return st;
    rag_engine_params ep = rag_engine_default_params();
    ep.store_path = s->store_path;
    ep.backends = s->backends;
    st = rag_engine_open(s->cfg, &ep, &s->writer, err); /* creates the store */
    if (st != RAG_OK)
        return st;
    size_t n = (size_t)s->p.threads;
    s->pool.all = calloc(n, sizeof *s->pool.all);
    s->pool.idle = calloc(n, sizeof *s->pool.idle);
    if (!s->pool.all || !s->pool.idle)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    ep.read_only = true;
    for (size_t i = 0; i < n; i++) {
        st = rag_engine_open(s->cfg, &ep, &s->pool.all[i], err);
        if (st != RAG_OK)
            return st;
        s->pool.idle[i] = s->pool.all[i];
        s->pool.n = s->pool.n_idle = i + 1;
    }
    return RAG_OK;
}

/* Resolves host:port into a socket address. */
static rag_status resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len, rag_err *err)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || !res)
        return rag_err_set(err, RAG_E_BAD_INPUT, "cannot resolve host '%s': %s", host, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return RAG_OK;
}

rag_status rag_server_start(const rag_config *cfg, const rag_server_params *p, rag_server_t **out, rag_err *err)
{
    *out = NULL;
    if (!cfg)
        return rag_err_set(err, RAG_E_BAD_INPUT, "server: no configuration");
    rag_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    s->cfg = cfg;
    s->quiesced_fd = MHD_INVALID_SOCKET;
    atomic_init(&s->in_flight, 0);
    atomic_init(&s->draining, false);
    atomic_init(&s->seq, 0);
    pthread_mutex_init(&s->pool.mu, NULL);
    pthread_cond_init(&s->pool.cv, NULL);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_init(&s->quota_mu, NULL);
    pthread_mutex_init(&s->conns_mu, NULL);
    pthread_mutex_init(&s->streams_mu, NULL);
    pthread_cond_init(&s->streams_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->conns_cv, &ca);
    pthread_condattr_destroy(&ca);
    s->stopped = true;
    s->chain_embedder = chain_backend(cfg->embedder.chain, cfg->embedder.n_chain, "none", "none");
    s->chain_reranker = "off";
    s->chain_generator =
        chain_backend(cfg->answer_generator.chain, cfg->answer_generator.n_chain, "extractive", "extractive");

    rag_status st = copy_params(s, p, err);
    if (st == RAG_OK)
        st = rag_metrics_create(&s->metrics, err);
    if (st == RAG_OK)
        st = srv_metrics_init(s, err);
    if (st == RAG_OK)
        st = srv_streams_init(s, err);
    if (st == RAG_OK)
        st = open_engines(s, err);
    if (st == RAG_OK && mkdir(s->uploads_dir, 0755) != 0 && errno != EEXIST)
        st = rag_err_set(err, RAG_E_IO, "%s: cannot create the uploads directory: %s", s->uploads_dir, strerror(errno));
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    if (st == RAG_OK)
        st = resolve(s->host, s->p.port, &ss, &sslen, err);
    if (st != RAG_OK) {
        rag_server_free(s);
        return st;
    }
    s->policy.has_key = s->api_key != NULL;
    s->policy.private_reads = s->p.private_reads;
    s->policy.loopback = srv_addr_is_loopback((const struct sockaddr *)&ss);
    s->policy.allow_open_writes = s->p.allow_open_writes;
    s->guard_reads = srv_policy_guard(&s->policy, SRV_CLASS_READ);
    s->guard_writes = srv_policy_guard(&s->policy, SRV_CLASS_WRITE);
    /* suspend/resume: streamed answers park their connection between events (stream.c) */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->p.threads, MHD_OPTION_CONNECTION_LIMIT, s->p.connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, s->p.connection_timeout_s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)s->p.connection_memory_bytes,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
    if (!s->daemon) {
        int e = errno;
        st = rag_err_set(err, RAG_E_IO, "cannot listen on %s:%d: %s", s->host, s->p.port,
                         e ? strerror(e) : "libmicrohttpd refused to start");
        rag_server_free(s);
        return st;
    }
    s->stopped = false;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? (int)info->port : s->p.port;
    int rc = pthread_create(&s->watchdog, NULL, watchdog_main, s);
    if (rc != 0) {
        st = rag_err_set(err, RAG_E_NOMEM, "cannot start the connection watchdog thread: %s", strerror(rc));
        rag_server_free(s);
        return st;
    }
    s->watchdog_running = true;
    if (s->guard_writes == RAG_SERVER_OPEN && !s->policy.loopback)
        rag_log(RAG_LOG_WARN,
                "server: WARNING: uploads and deletions are open to anyone who can reach %s:%d (no API key, "
                "allow_open_writes): anyone can fill the disk (up to %llu MiB of uploads) and delete every "
                "document; set RAGC_API_KEY instead",
                s->host, s->port, (unsigned long long)(s->p.max_uploads_total_bytes >> 20));
    else if (s->p.allow_open_writes && s->api_key)
        rag_log(RAG_LOG_INFO, "server: allow_open_writes is ignored: an API key is set, writes need it");
    *out = s;
    return RAG_OK;
}

void rag_server_guards(const rag_server_t *s, rag_server_guard *reads, rag_server_guard *writes)
{
    if (reads)
        *reads = s ? s->guard_reads : RAG_SERVER_DISABLED;
    if (writes)
        *writes = s ? s->guard_writes : RAG_SERVER_DISABLED;
}

bool rag_server_is_loopback(const rag_server_t *s)
{
    return s && s->policy.loopback;
}

int rag_server_port(const rag_server_t *s)
{
    return s ? s->port : 0;
}

const char *rag_server_host(const rag_server_t *s)
{
    return s ? s->host : NULL;
}

rag_status rag_server_stop(rag_server_t *s)
{
    if (!s || s->stopped)
        return RAG_OK;
    atomic_store(&s->draining, true);
    s->quiesced_fd = MHD_quiesce_daemon(s->daemon);
    double deadline = rag_now_ms() + s->p.drain_timeout_ms;
    while (atomic_load(&s->in_flight) > 0 && rag_now_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int left = atomic_load(&s->in_flight);
    /* streams still running are cancelled and their connections resumed: libmicrohttpd must not
     * be stopped with a suspended connection; their workers are waited for before engines close */
    srv_streams_cancel_all(s);
    watchdog_stop(s);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    srv_streams_wait(s);
    if (s->quiesced_fd != MHD_INVALID_SOCKET)
        close(s->quiesced_fd);
    s->quiesced_fd = MHD_INVALID_SOCKET;
    s->stopped = true;
    if (left > 0)
        rag_log(RAG_LOG_WARN, "server: stopped with %d request(s) still running after %d ms", left,
                s->p.drain_timeout_ms);
    return left > 0 ? RAG_E_TIMEOUT : RAG_OK;
}

void rag_server_free(rag_server_t *s)
{
    if (!s)
        return;
    if (s->daemon)
        rag_server_stop(s);
    watchdog_stop(s);
    for (size_t i = 0; i < s->pool.n; i++)
        rag_engine_close(s->pool.all[i]);
    free(s->pool.all);
    free(s->pool.idle);
    rag_engine_close(s->writer);
    rag_backends_free(s->backends);
    rag_metrics_free(s->metrics);
    pthread_mutex_destroy(&s->pool.mu);
    pthread_cond_destroy(&s->pool.cv);
    pthread_mutex_destroy(&s->write_mu);
    pthread_mutex_destroy(&s->quota_mu);
    pthread_mutex_destroy(&s->conns_mu);
    pthread_cond_destroy(&s->conns_cv);
    pthread_mutex_destroy(&s->streams_mu);
    pthread_cond_destroy(&s->streams_cv);
    free(s->host);
    free(s->api_key);
    free(s->cors_origin);
    free(s->data_dir);
    free(s->store_path);
    free(s->uploads_dir);
    free(s);
}
