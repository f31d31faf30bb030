/* Streamed (SSE) responses: one worker thread per stream produces events into a bounded byte
 * queue; libmicrohttpd's content reader drains it and, when it is empty, suspends the connection
 * instead of blocking a pool thread (microhttpd.h: a reader returning 0 must be paired with
 * MHD_suspend_connection). Every push resumes the connection.
 *
 * Locks, always taken in this order: rag_server.streams_mu -> srv_stream.mu -> libmicrohttpd's
 * own (MHD_suspend_connection / MHD_resume_connection). rag_server.conns_mu is never held while
 * taking srv_stream.mu (the watchdog collects streams under conns_mu and cancels them after).
 *
 * Suspension state: `suspended` is set by the reader (a pool thread, inside the reader callback,
 * the one place besides the access handler where suspending is allowed) and cleared by whoever
 * resumes, both under srv_stream.mu, so MHD_resume_connection is only ever called on a suspended
 * connection. A suspended connection cannot be closed by libmicrohttpd (it does not poll it), so
 * `conn` stays valid while `suspended` is true. */
#include "server/server_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STREAM_BLOCK (16u * 1024u) /* bytes libmicrohttpd asks the reader for at most */

struct srv_stream {
    struct srv_stream *prev, *next; /* in rag_server.streams while the worker runs (streams_mu) */
    rag_server_t *srv;
    atomic_int refs;
    atomic_int cancel;              /* non-zero once cancelled: rag_ask_params.cancel */
    const char *label;              /* static route label, for the log */
    char method[12];                /* the request's method label (copied: the request may go first) */
    double t0;                      /* rag_now_ms() at the start */
    srv_stream_fn fn;
    void *ctx;                      /* owned until freed with free_ctx */
    void (*free_ctx)(void *);
    const char *outcome;            /* static; set by the worker */
    pthread_mutex_t mu;             /* guards the fields below */
    srv_stream_end why;             /* first reason the stream was cancelled, RUNNING if not */
    struct MHD_Connection *conn;    /* NULL once the response is destroyed */
    bool suspended;                 /* the reader suspended conn and nobody resumed it yet */
    bool finished;                  /* the worker pushed its last event */
    bool no_suspend;                /* the server is stopping: the reader must not suspend */
    char *q;                        /* queued bytes q[q_off..q_len), capacity q_cap */
    size_t q_len, q_off, q_cap;
};

rag_status srv_streams_init(rag_server_t *s, rag_err *err)
{
    static const char *const outcome_l[] = {"outcome"};
    rag_status st = rag_metrics_counter(s->metrics, "ragc_http_streams_total",
                                        "Streamed answers (SSE) by how they ended: completed, failed (an error "
                                        "event), cancelled (the client went away, read too slowly, or the "
                                        "server stopped).",
                                        outcome_l, 1, &s->m.streams, err);
    static const char *const outcomes[] = {"completed", "failed", "cancelled"};
    for (size_t i = 0; st == RAG_OK && i < 3; i++)
        st = rag_metrics_inc(s->m.streams, &outcomes[i], 0);
    return st;
}

void srv_stream_ref(srv_stream *st)
{
    atomic_fetch_add(&st->refs, 1);
}

void srv_stream_release(srv_stream *st)
{
    if (!st || atomic_fetch_sub(&st->refs, 1) != 1)
        return;
    if (st->ctx && st->free_ctx)
        st->free_ctx(st->ctx);
    pthread_mutex_destroy(&st->mu);
    free(st->q);
    free(st);
}

const atomic_int *srv_stream_cancel_flag(srv_stream *st)
{
    return &st->cancel;
}

rag_server_t *srv_stream_server(srv_stream *st)
{
    return st->srv;
}

srv_stream_end srv_stream_end_reason(srv_stream *st)
{
    pthread_mutex_lock(&st->mu);
    srv_stream_end why = st->why;
    pthread_mutex_unlock(&st->mu);
    return why;
}

void srv_stream_set_outcome(srv_stream *st, const char *outcome)
{
    st->outcome = outcome; /* only the worker writes it, and reads it after fn returns */
}

/* Resumes the connection if the reader suspended it. Under st->mu. */
static void resume_locked(srv_stream *st)
{
    if (st->suspended && st->conn) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
    }
}

void srv_stream_cancel(srv_stream *st, srv_stream_end why)
{
    pthread_mutex_lock(&st->mu);
    if (st->why == SRV_STREAM_RUNNING && !st->finished) {
        st->why = why;
        atomic_store(&st->cancel, 1);
    }
    if (why == SRV_STREAM_STOPPING)
        st->no_suspend = true;
    resume_locked(st); /* the reader then ends the response (or sends what is left) */
    pthread_mutex_unlock(&st->mu);
}

bool srv_stream_push(srv_stream *st, const char *data, size_t len, bool final)
{
    bool ok = false;
    pthread_mutex_lock(&st->mu);
    bool open = st->conn && !st->finished &&
                (st->why == SRV_STREAM_RUNNING || (final && st->why == SRV_STREAM_OVERFLOW));
    if (open && !final && st->q_len - st->q_off + len > SRV_STREAM_QUEUE_MAX) {
        st->why = SRV_STREAM_OVERFLOW;
        atomic_store(&st->cancel, 1);
        open = false;
    }
    if (open) {
        if (st->q_off && st->q_len + len > st->q_cap) { /* compact before growing */
            memmove(st->q, st->q + st->q_off, st->q_len - st->q_off);
            st->q_len -= st->q_off;
            st->q_off = 0;
        }
        if (st->q_len + len > st->q_cap) {
            size_t cap = st->q_cap ? st->q_cap : 4096;
            while (cap < st->q_len + len)
                cap *= 2;
            char *q = realloc(st->q, cap);
            if (q) {
                st->q = q;
                st->q_cap = cap;
            }
        }
        if (st->q_len + len <= st->q_cap) {
            memcpy(st->q + st->q_len, data, len);
            st->q_len += len;
            ok = true;
        }
        resume_locked(st);
    }
    pthread_mutex_unlock(&st->mu);
    return ok;
}

/* libmicrohttpd content reader: queued bytes, else the end, else suspend and return 0. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    srv_stream *st = cls;
    ssize_t ret;
    pthread_mutex_lock(&st->mu);
    size_t avail = st->q_len - st->q_off;
    if (avail) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, st->q + st->q_off, n);
        st->q_off += n;
        if (st->q_off == st->q_len)
            st->q_off = st->q_len = 0;
        ret = (ssize_t)n;
    } else if (st->finished) {
        ret = MHD_CONTENT_READER_END_OF_STREAM;
    } else if (st->no_suspend || st->why == SRV_STREAM_GONE || st->why == SRV_STREAM_STOPPING) {
        ret = MHD_CONTENT_READER_END_WITH_ERROR; /* closes the connection */
    } else {
        st->suspended = true;
        MHD_suspend_connection(st->conn);
        ret = 0;
    }
    pthread_mutex_unlock(&st->mu);
    return ret;
}

/* libmicrohttpd destroyed the response: sent, or the connection died before the end. */
static void stream_response_free(void *cls)
{
    srv_stream *st = cls;
    pthread_mutex_lock(&st->mu);
    st->conn = NULL;
    st->suspended = false;
    pthread_mutex_unlock(&st->mu);
    srv_stream_cancel(st, SRV_STREAM_GONE); /* no effect once finished */
    srv_stream_release(st);
}

/* The worker is done (or never started): the last event is queued, the stream leaves the
 * server's list and the worker's reference is dropped. */
static void worker_end(srv_stream *st, bool counted)
{
    rag_server_t *s = st->srv;
    if (st->ctx && st->free_ctx)
        st->free_ctx(st->ctx);
    st->ctx = NULL;
    pthread_mutex_lock(&st->mu);
    st->finished = true;
    srv_stream_end why = st->why;
    resume_locked(st);
    pthread_mutex_unlock(&st->mu);
    if (counted) {
        const char *outcome = why != SRV_STREAM_RUNNING ? "cancelled" : st->outcome;
        rag_metrics_inc(s->m.streams, &outcome, 1);
        static const char *const reasons[] = {"", "the client went away", "the client read too slowly",
                                              "the server is stopping"};
        rag_log(why == SRV_STREAM_RUNNING ? RAG_LOG_DEBUG : RAG_LOG_INFO, "server: %s %s stream %s%s%s after %.1f ms",
                st->method, st->label, outcome, why != SRV_STREAM_RUNNING ? ": " : "", reasons[why],
                rag_now_ms() - st->t0);
    }
    pthread_mutex_lock(&s->streams_mu);
    if (st->prev)
        st->prev->next = st->next;
    else if (s->streams == st)
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
    s->n_workers--;
    pthread_cond_broadcast(&s->streams_cv);
    pthread_mutex_unlock(&s->streams_mu);
    srv_stream_release(st); /* touches nothing of s: the server may be gone once streams_mu is free */
}

static void *worker_main(void *arg)
{
    srv_stream *st = arg;
    st->fn(st, st->ctx);
    worker_end(st, true);
    return NULL;
}

enum MHD_Result srv_stream_start(srv_request *r, srv_stream_fn fn, void *ctx, void (*free_ctx)(void *))
{
    rag_server_t *s = r->srv;
    srv_stream *st = calloc(1, sizeof *st);
    if (!st) {
        if (free_ctx)
            free_ctx(ctx);
        return srv_respond_error(r, 500, "internal", "out of memory");
    }
    st->srv = s;
    atomic_init(&st->refs, 1); /* the request's */
    atomic_init(&st->cancel, 0);
    st->label = r->match.label ? r->match.label : "other";
    snprintf(st->method, sizeof st->method, "%s", r->method_label);
    st->t0 = rag_now_ms();
    st->fn = fn;
    st->ctx = ctx;
    st->free_ctx = free_ctx;
    st->outcome = "completed";
    st->conn = r->conn;
    pthread_mutex_init(&st->mu, NULL);

    /* Registered as running before anything can suspend, so that srv_streams_cancel_all sees it. */
    pthread_mutex_lock(&s->streams_mu);
    bool closed = s->streams_closed;
    if (!closed) {
        srv_stream_ref(st); /* the worker's */
        st->next = s->streams;
        if (s->streams)
            s->streams->prev = st;
        s->streams = st;
        s->n_workers++;
    }
    pthread_mutex_unlock(&s->streams_mu);
    if (closed) {
        srv_stream_release(st); /* frees ctx */
        return srv_respond_error(r, 503, "unavailable", "the server is shutting down");
    }

    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, st, stream_response_free);
    if (!resp) {
        worker_end(st, false);
        srv_stream_release(st);
        return srv_respond_error(r, 500, "internal", "out of memory");
    }
    srv_stream_ref(st); /* the response's, dropped by stream_response_free */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    enum MHD_Result ret = srv_queue(r, 200, resp); /* on failure the response is destroyed here */
    if (ret != MHD_YES) {
        worker_end(st, false);
        srv_stream_release(st);
        return ret;
    }

    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t tid;
        rc = pthread_create(&tid, &attr, worker_main, st);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "cannot start a thread for the answer: %s", strerror(rc));
        rag_log(RAG_LOG_ERROR, "server: %s %s: %s", st->method, st->label, msg);
        char *ej = srv_error_json("internal", msg);
        rag_buf b;
        rag_buf_init(&b, 0);
        if (ej && rag_buf_appendf(&b, "event: error\ndata: %s\n\n", ej) == RAG_OK)
            srv_stream_push(st, b.data, b.len, true);
        rag_buf_free(&b);
        free(ej);
        srv_stream_set_outcome(st, "failed");
        worker_end(st, true);
    }
    r->stream = st; /* the request's reference */
    if (r->cs) {
        pthread_mutex_lock(&s->conns_mu);
        r->cs->stream = st;
        pthread_mutex_unlock(&s->conns_mu);
    }
    return MHD_YES;
}

void srv_streams_cancel_all(rag_server_t *s)
{
    pthread_mutex_lock(&s->streams_mu);
    s->streams_closed = true;
    for (srv_stream *st = s->streams; st; st = st->next)
        srv_stream_cancel(st, SRV_STREAM_STOPPING);
    pthread_mutex_unlock(&s->streams_mu);
}

void srv_streams_wait(rag_server_t *s)
{
    pthread_mutex_lock(&s->streams_mu);
    double t0 = rag_now_ms();
    bool logged = false;
    while (s->n_workers > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->streams_cv, &s->streams_mu, &ts);
        if (!logged && s->n_workers > 0 && rag_now_ms() - t0 > 5000) {
            rag_log(RAG_LOG_WARN, "server: waiting for %zu cancelled answer(s) to stop", s->n_workers);
            logged = true;
        }
    }
    pthread_mutex_unlock(&s->streams_mu);
}
