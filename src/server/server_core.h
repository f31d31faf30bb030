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
