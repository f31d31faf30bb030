/* ragc server core: the rag_server handle, the per-request state and the response helpers shared
 * by server.c (daemon, dispatch), routes_query.c (ask, chat, search), routes_docs.c (documents,
 * uploads) and routes_ops.c (health, readiness, metrics, web assets, models). */
#ifndef RAGC_SERVER_CORE_H
#define RAGC_SERVER_CORE_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "ragc/metrics.h"
#include "ragc/pipeline.h"
#include "ragc/server.h"
#include "server/server_internal.h"

/* Read engines: one per worker thread, borrowed for one request at a time. */
typedef struct srv_engine_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rag_engine **all;  /* n engines, owned */
    rag_engine **idle; /* n_idle of them, available */
    size_t n, n_idle;
} srv_engine_pool;

typedef struct srv_stream srv_stream; /* stream.c: one streamed (SSE) response and its worker */

/* One TCP connection, tracked from libmicrohttpd's STARTED to CLOSED notification (MHD closes
 * the socket only after CLOSED, so fd stays valid while the entry is listed). The watchdog shuts
 * the socket down (shutdown(2), not close) once deadline_ms passes; MHD then sees the end of the
 * stream and closes the connection itself. All fields under rag_server.conns_mu. */
typedef struct srv_conn {
    struct srv_conn *prev, *next;
    int fd;
    double deadline_ms; /* rag_now_ms() after which the connection is shut; 0 = no deadline */
    const char *phase;  /* static: what the deadline waits for ("request headers", ...) */
    const char *reason; /* static metric label for a shut connection */
    bool shut;          /* already shut by the watchdog */
    srv_stream *stream; /* the stream being answered on it, or NULL: the watchdog cancels it when
                           the client hangs up (borrowed; the request holds a reference and
                           clears this before dropping it) */
} srv_conn;

/* Metric families the server updates (borrowed from srv->metrics). */
typedef struct srv_metric_set {
    rag_metric_t *requests;   /* ragc_http_requests_total{route,method,status} */
    rag_metric_t *duration;   /* ragc_http_request_duration_seconds{route} */
    rag_metric_t *stage;      /* ragc_stage_duration_seconds{stage} */
    rag_metric_t *answers;    /* ragc_answers_total{generator} */
    rag_metric_t *documents;  /* ragc_documents */
    rag_metric_t *chunks;     /* ragc_chunks */
    rag_metric_t *rss;        /* ragc_process_resident_memory_bytes */
    rag_metric_t *in_flight;  /* ragc_http_requests_in_flight */
    rag_metric_t *timeouts;   /* ragc_http_connections_timed_out_total{phase} */
    rag_metric_t *calls;      /* ragc_remote_calls_total{backend,status} */
    rag_metric_t *retries;    /* ragc_remote_retries_total{backend} */
    rag_metric_t *fallbacks;  /* ragc_fallbacks_total{stage} */
    rag_metric_t *cache_hits, *cache_misses; /* ragc_cache_{hits,misses}_total{kind} */
    rag_metric_t *tokens;     /* ragc_tokens_total{backend,direction} */
    rag_metric_t *cost;       /* ragc_cost_usd_total{backend} */
    rag_metric_t *streams;    /* ragc_http_streams_total{outcome} (stream.c) */
} srv_metric_set;

struct rag_server {
    const rag_config *cfg;        /* borrowed */
    rag_server_params p;          /* strings point at the owned copies below */
    char *host, *api_key, *cors_origin;
    char *data_dir, *store_path, *uploads_dir; /* owned */
    int port;                     /* bound port */
    srv_engine_pool pool;
    rag_engine *writer;           /* owned; used only under write_mu */
    rag_backends *backends;       /* owned; the model chains shared by every engine (thread-safe) */
    pthread_mutex_t write_mu;
    struct MHD_Daemon *daemon;
    MHD_socket quiesced_fd;       /* listen socket returned by MHD_quiesce_daemon, closed after stop */
    atomic_int in_flight;         /* requests between URI log and completion */
    atomic_bool draining;         /* rag_server_stop began: new requests get 503 */
    atomic_uint_fast64_t seq;     /* request counter (ids for chat completions, temp files) */
    bool stopped;
    rag_metrics_t *metrics;       /* owned */
    srv_metric_set m;
    const char *chain_embedder, *chain_reranker, *chain_generator; /* static backend names */
    srv_policy policy;            /* who may read and write (fixed at start) */
    rag_server_guard guard_reads, guard_writes;
    /* uploads quota: bytes kept in uploads_dir (rescanned at each upload start) and bytes written
     * by uploads in flight; under quota_mu */
    pthread_mutex_t quota_mu;
    uint64_t uploads_stored, uploads_reserved;
    /* connections and the watchdog thread that enforces their deadlines */
    pthread_mutex_t conns_mu;
    pthread_cond_t conns_cv;      /* wakes the watchdog to stop (CLOCK_MONOTONIC) */
    srv_conn *conns;              /* list of open connections, owned */
    pthread_t watchdog;
    bool watchdog_running, watchdog_stop;
    /* streamed answers (stream.c): the streams whose worker thread still runs, under streams_mu;
     * streams_cv is signalled when a worker ends */
    pthread_mutex_t streams_mu;
    pthread_cond_t streams_cv;
    srv_stream *streams;          /* list of streams with a running worker (each holds a reference) */
    size_t n_workers;             /* worker threads not yet finished */
    bool streams_closed;          /* rag_server_stop began cancelling: no new stream starts */
};

typedef enum { SRV_BODY_NONE = 0, SRV_BODY_JSON, SRV_BODY_UPLOAD } srv_body_kind;

typedef struct srv_upload srv_upload; /* routes_docs.c */

/* One HTTP request: created by the URI log callback, freed by the completion callback. */
typedef struct srv_request {
    rag_server_t *srv;
    struct MHD_Connection *conn;
    double t0;                /* rag_now_ms() at the request line */
    char *uri;                /* raw request target, owned */
    bool started;             /* the access handler has seen the headers */
    unsigned method;          /* SRV_* bit, 0 for other methods */
    char method_label[12];    /* "GET", ..., or "OTHER" (metrics) */
    char method_name[24];     /* the method as sent (cut), for messages */
    char *path;               /* decoded path, owned */
    const char *query;        /* raw query string: borrowed from uri, or NULL */
    srv_match match;
    srv_body_kind body_kind;
    rag_buf body;             /* JSON body (capped) */
    uint64_t body_bytes;      /* body bytes received */
    uint64_t body_cap;        /* body cap for this request */
    rag_status body_st;       /* an error met while receiving the body, answered at the end */
    rag_err body_err;
    srv_upload *upload;       /* owned */
    int status;               /* HTTP status queued, 0 until then */
    int body_http;            /* HTTP status for body_st when not the usual mapping (507), else 0 */
    const char *body_code;    /* static error code that goes with body_http */
    srv_conn *cs;             /* the connection's entry (borrowed; valid until CLOSED), or NULL */
    double t_body;            /* rag_now_ms() when the headers were complete */
    srv_stream *stream;       /* a streamed response: one reference, released on completion */
} srv_request;

/* ---- responses (server.c) ---- */
/* Queues resp with the common headers (CORS, nosniff, Connection: close while draining) and
 * records the status. Destroys resp. */
enum MHD_Result srv_queue(srv_request *r, int status, struct MHD_Response *resp);
/* body: takes ownership (malloc'd, freed by MHD); len bytes; content_type static or copied. */
enum MHD_Result srv_respond(srv_request *r, int status, const char *content_type, char *body, size_t len);
/* JSON body (takes ownership of json; NULL means allocation failed -> 500). */
enum MHD_Result srv_respond_json(srv_request *r, int status, char *json);
/* Error body {"error":{"code","message"}} with a formatted message. */
enum MHD_Result srv_respond_error(srv_request *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Error from a rag_status and its message (status and code by srv_http_status). */
enum MHD_Result srv_respond_rag_error(srv_request *r, rag_status st, const rag_err *err);
/* Serializes a jansson value compactly (steals the reference) and responds with it. */
struct json_t;
enum MHD_Result srv_respond_jansson(srv_request *r, int status, struct json_t *value);

/* ---- connection deadlines (server.c) ---- */
/* Sets r's connection deadline (0 = none) and what it waits for (static strings). */
void srv_conn_deadline(srv_request *r, double deadline_ms, const char *phase, const char *reason);

/* ---- engines (server.c) ---- */
/* Borrows a read engine (waits if all are busy). Give it back with srv_engine_release. */
rag_engine *srv_engine_acquire(rag_server_t *s);
void srv_engine_release(rag_server_t *s, rag_engine *e);

/* ---- streamed responses (stream.c) ----
 * A stream runs fn(st, ctx) on a worker thread of its own while the response, 200
 * text/event-stream (chunked), sends what fn pushes. The content reader never blocks a
 * libmicrohttpd thread: with nothing queued it suspends the connection (MHD_suspend_connection,
 * the documented pattern for a reader without data) and a push resumes it. The connection is not
 * subject to the request deadlines while streaming, and a suspended connection does not time out.
 * When the client goes away (the response is destroyed before the end, the request completes
 * abnormally, or the watchdog sees the peer hang up) or the server stops, the stream is
 * cancelled: srv_stream_cancel_flag becomes non-zero and pushes are dropped. */
#define SRV_STREAM_QUEUE_MAX (1u << 20) /* bytes queued and not yet sent; a non-final push over
                                           it cancels the stream (client not reading) */
typedef enum srv_stream_end {
    SRV_STREAM_RUNNING = 0,
    SRV_STREAM_GONE,      /* the client closed the connection */
    SRV_STREAM_OVERFLOW,  /* the client did not read: SRV_STREAM_QUEUE_MAX bytes pending */
    SRV_STREAM_STOPPING   /* the server is stopping */
} srv_stream_end;
typedef void (*srv_stream_fn)(srv_stream *st, void *ctx);
/* Registers the streams metric family; called once by rag_server_start. */
rag_status srv_streams_init(rag_server_t *s, rag_err *err);
/* Queues the streamed response on r and starts fn(st, ctx) on a new thread. ctx: takes
 * ownership, freed with free_ctx (may be NULL) on the worker thread after fn returns, or before
 * this returns when no worker could start. Responds 503 when the server is stopping. */
enum MHD_Result srv_stream_start(srv_request *r, srv_stream_fn fn, void *ctx, void (*free_ctx)(void *));
/* Worker side: appends one complete SSE event (data[0..len), copied). final: the last event(s)
 * (done, error), accepted past SRV_STREAM_QUEUE_MAX. Returns false when nothing was queued: the
 * stream is cancelled (see srv_stream_end_reason) or out of memory. */
bool srv_stream_push(srv_stream *st, const char *data, size_t len, bool final);
/* The stream's cancel flag (non-zero once cancelled), for rag_ask_params.cancel. Borrowed, valid
 * while fn runs. */
const atomic_int *srv_stream_cancel_flag(srv_stream *st);
srv_stream_end srv_stream_end_reason(srv_stream *st);
rag_server_t *srv_stream_server(srv_stream *st);
/* Worker side: records how the stream ended for ragc_http_streams_total{outcome}
 * ("completed", "failed", "cancelled") and the log. Static string. Default "completed". */
void srv_stream_set_outcome(srv_stream *st, const char *outcome);
/* Cancels the stream (first reason wins) and resumes its connection so that it closes. */
void srv_stream_cancel(srv_stream *st, srv_stream_end why);
/* References: the request, the response and the worker each hold one. */
void srv_stream_ref(srv_stream *st);
void srv_stream_release(srv_stream *st);
/* rag_server_stop, after the drain: refuses new streams, cancels the running ones and resumes
 * their connections (libmicrohttpd must not be stopped with a suspended connection). */
void srv_streams_cancel_all(rag_server_t *s);
/* Waits until every worker thread has finished (after MHD_stop_daemon, before engines close). */
void srv_streams_wait(rag_server_t *s);

/* ---- routes ---- */
enum MHD_Result srv_route_ask(srv_request *r);            /* routes_query.c, body in r->body */
enum MHD_Result srv_route_chat(srv_request *r);
enum MHD_Result srv_route_search(srv_request *r);
enum MHD_Result srv_route_docs_list(srv_request *r);      /* routes_docs.c */
enum MHD_Result srv_route_doc_get(srv_request *r);
enum MHD_Result srv_route_doc_delete(srv_request *r);
enum MHD_Result srv_route_doc_file(srv_request *r);
/* Upload: begin (headers seen; sets r->body_cap; may respond with an error), data (an error is
 * returned and answered once the body has ended), finish (ingests and responds). */
enum MHD_Result srv_upload_begin(srv_request *r);
rag_status srv_upload_data(srv_request *r, const char *data, size_t n, rag_err *err);
enum MHD_Result srv_upload_finish(srv_request *r);
void srv_upload_free(srv_upload *u);
enum MHD_Result srv_route_healthz(srv_request *r);        /* routes_ops.c */
enum MHD_Result srv_route_readyz(srv_request *r);
enum MHD_Result srv_route_metrics(srv_request *r);
enum MHD_Result srv_route_models(srv_request *r);
enum MHD_Result srv_route_asset(srv_request *r);

/* ---- metrics (routes_ops.c) ---- */
/* Registers every family /metrics shows (remote-call families at zero). */
rag_status srv_metrics_init(rag_server_t *s, rag_err *err);
/* Counts an answer and observes its stage durations. */
void srv_metrics_answer(rag_server_t *s, const rag_answer *a);

#endif /* RAGC_SERVER_CORE_H */
