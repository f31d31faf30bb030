/* The combined remote call: rate limiter -> circuit breaker -> concurrency slot -> HTTP attempt
 * -> error parsing -> retry decision and wait -> outcome + hook. */
#include "net_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BREAKERS 1024 /* (backend, model) pairs per client */
#define MAX_LIMITERS 256  /* backends per client */
#define CANCEL_SLICE_MS 50.0

typedef struct breaker_entry {
    char *backend, *model; /* owned */
    rag_net_breaker *b;    /* owned */
} breaker_entry;

typedef struct limiter_entry {
    char *backend;         /* owned */
    rag_net_limiter *l;    /* owned */
} limiter_entry;

struct rag_net_client {
    rag_net_client_params p;
    rag_http_client *http;  /* owned */
    rag_net_sem *sem;       /* owned; NULL = unlimited */
    pthread_mutex_t mu;     /* guards the registries and rng */
    breaker_entry *breakers;
    size_t n_breakers;
    limiter_entry *limiters;
    size_t n_limiters;
    uint64_t rng;           /* xorshift64* state of the default jitter source */
};

rag_net_client_params rag_net_client_default_params(void)
{
    rag_net_client_params p;
    memset(&p, 0, sizeof p);
    p.http = rag_http_default_params();
    p.retry = rag_net_retry_default_params();
    p.breaker = rag_net_breaker_default_params();
    p.max_concurrent_requests = 16;
    p.default_timeout_ms = 30000;
    p.timer = rag_net_default_timer();
    return p;
}

rag_status rag_net_client_create(const rag_net_client_params *p, rag_net_client **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "net client: out is NULL");
    *out = NULL;
    rag_net_client_params cp = p ? *p : rag_net_client_default_params();
    rag_status st = rag_net_retry_params_check(&cp.retry, err);
    if (st != RAG_OK)
        return st;
    if (cp.breaker.failure_threshold < 1 || cp.breaker.failure_threshold > 1000 || !(cp.breaker.cooldown_ms > 0))
        return rag_err_set(err, RAG_E_CONFIG, "net client: breaker needs failure_threshold 1..1000 and cooldown_ms > 0");
    if (cp.max_concurrent_requests < 0 || cp.max_concurrent_requests > 4096)
        return rag_err_set(err, RAG_E_CONFIG, "net client: max_concurrent_requests %d not in 0..4096",
                           cp.max_concurrent_requests);
    if (!(cp.default_timeout_ms > 0) || !isfinite(cp.default_timeout_ms))
        return rag_err_set(err, RAG_E_CONFIG, "net client: default_timeout_ms %g must be > 0", cp.default_timeout_ms);
    if (!cp.timer.now_ms || !cp.timer.sleep_ms)
        return rag_err_set(err, RAG_E_CONFIG, "net client: timer needs now_ms and sleep_ms");
    rag_net_client *c = calloc(1, sizeof *c);
    if (!c)
        return rag_err_set(err, RAG_E_NOMEM, "net client: out of memory");
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return rag_err_set(err, RAG_E_INTERNAL, "net client: pthread_mutex_init failed");
    }
    c->p = cp;
    st = rag_http_client_create(&cp.http, &c->http, err);
    if (st == RAG_OK && cp.max_concurrent_requests > 0)
        st = rag_net_sem_create(cp.max_concurrent_requests, &cp.timer, &c->sem, err);
    if (st != RAG_OK) {
        rag_net_client_free(c);
        return st;
    }
    c->p.http.user_agent = NULL; /* the copy lives in the http client */
    c->rng = (uint64_t)(rag_now_ms() * 1000.0) ^ (uint64_t)(uintptr_t)c ^ 0x9E3779B97F4A7C15ull;
    if (!c->rng)
        c->rng = 1;
    *out = c;
    return RAG_OK;
}

void rag_net_client_free(rag_net_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_breakers; i++) {
        free(c->breakers[i].backend);
        free(c->breakers[i].model);
        rag_net_breaker_free(c->breakers[i].b);
    }
    for (size_t i = 0; i < c->n_limiters; i++) {
        free(c->limiters[i].backend);
        rag_net_limiter_free(c->limiters[i].l);
    }
    free(c->breakers);
    free(c->limiters);
    rag_net_sem_free(c->sem);
    rag_http_client_free(c->http);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

rag_http_client *rag_net_client_http(rag_net_client *c)
{
    return c ? c->http : NULL;
}

rag_status rag_net_client_set_rate_limit(rag_net_client *c, const char *backend, double rate_per_s,
                                         double burst, rag_err *err)
{
    if (!c || !backend)
        return rag_err_set(err, RAG_E_BAD_INPUT, "net client: set_rate_limit needs a client and a backend");
    rag_net_limiter_params lp = {rate_per_s, burst};
    rag_status st = RAG_OK;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_limiters; i++) {
        if (!strcmp(c->limiters[i].backend, backend)) {
            st = rag_net_limiter_reconfigure(c->limiters[i].l, &lp, err);
            pthread_mutex_unlock(&c->mu);
            if (st != RAG_OK)
                rag_err_prefix(err, "backend %s: ", backend);
            return st;
        }
    }
    if (c->n_limiters >= MAX_LIMITERS) {
        pthread_mutex_unlock(&c->mu);
        return rag_err_set(err, RAG_E_CONFIG, "net client: more than %d rate-limited backends", MAX_LIMITERS);
    }
    limiter_entry e = {rag_strdup(backend), NULL};
    limiter_entry *grown = realloc(c->limiters, (c->n_limiters + 1) * sizeof *grown);
    if (grown)
        c->limiters = grown;
    if (!e.backend || !grown) {
        st = rag_err_set(err, RAG_E_NOMEM, "net client: out of memory");
    } else {
        st = rag_net_limiter_create(&lp, &c->p.timer, &e.l, err);
        if (st != RAG_OK)
            rag_err_prefix(err, "backend %s: ", backend);
    }
    if (st == RAG_OK)
        c->limiters[c->n_limiters++] = e;
    else
        free(e.backend);
    pthread_mutex_unlock(&c->mu);
    return st;
}

static rag_net_limiter *find_limiter(rag_net_client *c, const char *backend)
{
    rag_net_limiter *l = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_limiters && !l; i++)
        if (!strcmp(c->limiters[i].backend, backend))
            l = c->limiters[i].l;
    pthread_mutex_unlock(&c->mu);
    return l;
}

/* Finds or creates the breaker of (backend, model). Caller does not own it. */
static rag_status get_breaker(rag_net_client *c, const char *backend, const char *model, bool create,
                              rag_net_breaker **out, rag_err *err)
{
    *out = NULL;
    rag_status st = RAG_OK;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_breakers; i++) {
        if (!strcmp(c->breakers[i].backend, backend) && !strcmp(c->breakers[i].model, model)) {
            *out = c->breakers[i].b;
            pthread_mutex_unlock(&c->mu);
            return RAG_OK;
        }
    }
    if (!create) {
        pthread_mutex_unlock(&c->mu);
        return RAG_E_NOT_FOUND;
    }
    if (c->n_breakers >= MAX_BREAKERS) {
        pthread_mutex_unlock(&c->mu);
        return rag_err_set(err, RAG_E_CONFIG, "net client: more than %d (backend, model) pairs", MAX_BREAKERS);
    }
    breaker_entry e = {rag_strdup(backend), rag_strdup(model), NULL};
    breaker_entry *grown = realloc(c->breakers, (c->n_breakers + 1) * sizeof *grown);
    if (grown)
        c->breakers = grown;
    if (!e.backend || !e.model || !grown)
        st = rag_err_set(err, RAG_E_NOMEM, "net client: out of memory");
    else
        st = rag_net_breaker_create(&c->p.breaker, &e.b, err);
    if (st == RAG_OK) {
        c->breakers[c->n_breakers++] = e;
        *out = e.b;
    } else {
        free(e.backend);
        free(e.model);
    }
    pthread_mutex_unlock(&c->mu);
    return st;
}

int rag_net_client_breaker_state(rag_net_client *c, const char *backend, const char *model)
{
    if (!c)
        return -1;
    rag_net_breaker *b;
    if (get_breaker(c, backend ? backend : "default", model ? model : "", false, &b, NULL) != RAG_OK)
        return -1;
    return (int)rag_net_breaker_get_state(b);
}

void rag_net_client_breakers(rag_net_client *c, rag_net_breaker_visit_fn fn, void *ud)
{
    if (!c || !fn)
        return;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_breakers; i++) {
        rag_net_breaker_transitions t;
        rag_net_breaker_get_transitions(c->breakers[i].b, &t);
        fn(ud, c->breakers[i].backend, c->breakers[i].model, rag_net_breaker_get_state(c->breakers[i].b), &t);
    }
    pthread_mutex_unlock(&c->mu);
}

static double next_rand(rag_net_client *c)
{
    if (c->p.rand01)
        return c->p.rand01(c->p.rand_ud);
    pthread_mutex_lock(&c->mu);
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    pthread_mutex_unlock(&c->mu);
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0; /* [0,1) */
}

static bool cancelled(const rag_net_request *req)
{
    return req->cancel && atomic_load(req->cancel);
}

/* Sleeps ms on the client's timer; in slices when the request can be cancelled.
 * Returns false if cancelled. */
static bool pause_ms(rag_net_client *c, const rag_net_request *req, double ms)
{
    if (!req->cancel) {
        c->p.timer.sleep_ms(c->p.timer.ud, ms);
        return true;
    }
    while (ms > 0) {
        if (cancelled(req))
            return false;
        double s = ms < CANCEL_SLICE_MS ? ms : CANCEL_SLICE_MS;
        c->p.timer.sleep_ms(c->p.timer.ud, s);
        ms -= s;
    }
    return !cancelled(req);
}

static double now(rag_net_client *c)
{
    return c->p.timer.now_ms(c->p.timer.ud);
}

static void emit(rag_net_client *c, rag_net_event_kind kind, const char *backend, const char *model,
                 const rag_net_request *req, const rag_net_response *resp, const rag_net_outcome *o,
                 int attempt, rag_status st, double attempt_ms)
{
    if (!c->p.hook)
        return;
    rag_net_event ev = {kind, backend, model, req, resp, o, attempt, st, attempt_ms};
    c->p.hook(c->p.hook_ud, &ev);
}

/* Fills a policy view of a failed attempt. */
static void attempt_view(const rag_net_response *resp, rag_status st, rag_net_attempt *a)
{
    a->status = st;
    a->http_status = resp->http_status;
    a->retryable = resp->retryable;
    a->retry_after_ms = -1;
    a->ratelimit_reset_ms = -1;
    a->estimated_time_ms = -1;
    double ms;
    if (rag_net_parse_retry_after(resp->retry_after, time(NULL), &ms))
        a->retry_after_ms = ms;
    long remaining, reset_s;
    if (rag_net_parse_ratelimit(resp->ratelimit, &remaining, &reset_s) && remaining == 0 && reset_s >= 0)
        a->ratelimit_reset_ms = (double)reset_s * 1000.0;
    if (resp->error.estimated_time_s >= 0)
        a->estimated_time_ms = resp->error.estimated_time_s * 1000.0;
}

rag_status rag_net_call(rag_net_client *c, const rag_net_request *req, rag_net_response *resp,
                        rag_net_outcome *out, rag_err *err)
{
    rag_err local_err;
    if (!err)
        err = &local_err;
    rag_err_clear(err);
    rag_net_outcome local_out;
    rag_net_outcome *o = out ? out : &local_out;
    memset(o, 0, sizeof *o);
    o->error.estimated_time_s = -1;
    if (!c || !req || !resp) {
        o->status = rag_err_set(err, RAG_E_BAD_INPUT, "net call: NULL %s",
                                !c ? "client" : !req ? "request" : "response");
        return o->status;
    }
    rag_net_response_reset(resp); /* a call refused before any attempt leaves no stale response */
    const char *backend = req->backend ? req->backend : "default";
    const char *model = req->model ? req->model : "";
    char what[RAG_NET_WHAT_MAX];
    rag_net_describe(what, sizeof what, req);
    rag_net_redact(what, req->bearer_token); /* it goes into log lines */
    rag_net_retry_params rp = req->retry ? *req->retry : c->p.retry;
    double t0 = now(c);
    double deadline = req->deadline_ms > 0 ? req->deadline_ms : t0 + c->p.default_timeout_ms;

    rag_err e;
    rag_err_clear(&e);
    rag_status st = RAG_OK;
    rag_net_breaker *breaker = NULL;
    unsigned long ticket = 0;
    bool admitted = false, called = false;
    double wait = 0;

    if (!req->url || !*req->url)
        st = rag_err_set(&e, RAG_E_BAD_INPUT, "request has no URL");
    else if (req->retry && (st = rag_net_retry_params_check(&rp, &e)) != RAG_OK)
        ;
    else
        st = get_breaker(c, backend, model, true, &breaker, &e);

    /* attempts: every break ends the call with st; the loop only repeats after a retry wait */
    for (bool go = st == RAG_OK; go;) {
        rag_net_limiter *lim = find_limiter(c, backend);
        if (lim) {
            double waited = 0;
            st = rag_net_limiter_acquire(lim, deadline, &waited, &e);
            o->limiter_wait_ms += waited;
            if (st != RAG_OK)
                break;
        }
        if (!admitted) {
            st = rag_net_breaker_allow(breaker, now(c), &ticket, &e);
            if (st != RAG_OK) {
                o->breaker_refused = true;
                break;
            }
            admitted = true;
        }
        if (cancelled(req)) {
            st = rag_err_set(&e, RAG_E_CANCELLED, "cancelled");
            break;
        }
        if (c->sem && (st = rag_net_sem_acquire(c->sem, deadline, &e)) != RAG_OK)
            break;
        double left = deadline - now(c);
        if (left < 1) {
            if (c->sem)
                rag_net_sem_release(c->sem);
            st = rag_err_set(&e, RAG_E_TIMEOUT, "deadline passed before attempt %d", o->attempts + 1);
            break;
        }
        st = rag_http_perform(c->http, req, left, resp, &e);
        if (c->sem)
            rag_net_sem_release(c->sem);
        called = true;
        o->attempts++;
        o->retries = o->attempts - 1;
        o->http_status = resp->http_status;
        o->connections += resp->num_connects;
        o->bytes_received = resp->bytes_received;
        snprintf(o->request_id, sizeof o->request_id, "%s", resp->request_id);
        snprintf(o->provider, sizeof o->provider, "%s", resp->provider);
        if (rag_log_enabled(RAG_LOG_DEBUG))
            rag_log(RAG_LOG_DEBUG, "net: %s %s: %s attempt %d: HTTP %d, %s, %.0f ms, x-request-id %s", backend,
                    model, what, o->attempts, resp->http_status, rag_status_str(st), resp->elapsed_ms,
                    resp->request_id[0] ? resp->request_id : "-");
        emit(c, RAG_NET_EVENT_ATTEMPT, backend, model, req, resp, o, o->attempts, st, resp->elapsed_ms);
        if (st == RAG_OK)
            break;
        if (cancelled(req)) {
            st = rag_err_set(&e, RAG_E_CANCELLED, "cancelled");
            break;
        }
        rag_net_attempt a;
        attempt_view(resp, st, &a);
        rag_net_retry_verdict v = rag_net_retry_decide(&rp, o->retries, &a, now(c), deadline, next_rand(c), &wait);
        if (v == RAG_NET_RETRY_STOP)
            break;
        if (v == RAG_NET_RETRY_DEADLINE) {
            o->deadline_cut = true;
            break;
        }
        if (o->n_sleeps < RAG_NET_MAX_SLEEPS)
            o->sleeps_ms[o->n_sleeps++] = wait;
        o->slept_ms += wait;
        rag_log(RAG_LOG_INFO, "net: %s %s: %s failed (%s, HTTP %d); retry %d in %.0f ms", backend, model, what,
                rag_status_str(st), resp->http_status, o->retries + 1, wait);
        if (!pause_ms(c, req, wait)) {
            st = rag_err_set(&e, RAG_E_CANCELLED, "cancelled while waiting to retry");
            break;
        }
    }

    if (admitted)
        rag_net_breaker_record(breaker, ticket, called ? st : RAG_E_CANCELLED, now(c));
    o->breaker_state = breaker ? rag_net_breaker_get_state(breaker) : RAG_NET_BREAKER_CLOSED;
    o->status = st;
    o->total_ms = now(c) - t0;
    o->error = resp->error;
    if (st != RAG_OK) {
        char tail[RAG_NET_HDR_SMALL + 160];
        int n = snprintf(tail, sizeof tail, " (%d attempt%s", o->attempts, o->attempts == 1 ? "" : "s");
        if (o->deadline_cut && n > 0 && (size_t)n < sizeof tail)
            n += snprintf(tail + n, sizeof tail - (size_t)n, "; gave up: the next retry in %.1f s would pass the deadline",
                          wait / 1000.0);
        if (o->request_id[0] && n > 0 && (size_t)n < sizeof tail)
            n += snprintf(tail + n, sizeof tail - (size_t)n, "; request id %s", o->request_id);
        if (n > 0 && (size_t)n < sizeof tail)
            snprintf(tail + n, sizeof tail - (size_t)n, ")");
        /* e.msg names the method and URL when it comes from an attempt */
        bool named = strncmp(e.msg, what, strlen(what)) == 0;
        rag_err_set(err, st, "%s%s%s: %s%s%s", backend, model[0] ? " " : "", model, named ? "" : what,
                    named ? "" : ": ", e.msg);
        /* keep the tail even when the message was long */
        size_t len = strlen(err->msg), tl = strlen(tail);
        if (len + tl >= sizeof err->msg)
            len = sizeof err->msg - 1 - tl;
        memcpy(err->msg + len, tail, tl + 1);
        rag_net_redact(err->msg, req->bearer_token);
        snprintf(o->message, sizeof o->message, "%s", err->msg);
        rag_log(RAG_LOG_INFO, "net: %s", err->msg);
    } else {
        rag_log(RAG_LOG_DEBUG, "net: %s %s: %s ok after %d attempt%s, %.0f ms, x-request-id %s", backend, model,
                what, o->attempts, o->attempts == 1 ? "" : "s", o->total_ms,
                o->request_id[0] ? o->request_id : "-");
    }
    emit(c, RAG_NET_EVENT_FINAL, backend, model, req, resp, o, o->attempts, st, 0);
    return st;
}
