/* Token-bucket rate limiter per backend and the counting semaphore for concurrent requests. */
#include "net_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct rag_net_limiter {
    pthread_mutex_t mu;
    rag_net_limiter_params p;
    rag_net_timer timer;
    double tokens;  /* may go negative: tokens reserved by sleeping waiters */
    double last_ms; /* time of the last refill */
};

static rag_status check_params(const rag_net_limiter_params *p, rag_err *err)
{
    if (!(p->rate_per_s > 0) || !isfinite(p->rate_per_s))
        return rag_err_set(err, RAG_E_CONFIG, "rate limiter: rate_per_s %g must be > 0", p->rate_per_s);
    if (!(p->burst >= 1) || !isfinite(p->burst))
        return rag_err_set(err, RAG_E_CONFIG, "rate limiter: burst %g must be >= 1", p->burst);
    return RAG_OK;
}

rag_status rag_net_limiter_create(const rag_net_limiter_params *p, const rag_net_timer *timer,
                                  rag_net_limiter **out, rag_err *err)
{
    if (!out || !p)
        return rag_err_set(err, RAG_E_BAD_INPUT, "rate limiter: NULL argument");
    *out = NULL;
    rag_status st = check_params(p, err);
    if (st != RAG_OK)
        return st;
    rag_net_limiter *l = calloc(1, sizeof *l);
    if (!l)
        return rag_err_set(err, RAG_E_NOMEM, "rate limiter: out of memory");
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return rag_err_set(err, RAG_E_INTERNAL, "rate limiter: pthread_mutex_init failed");
    }
    l->p = *p;
    l->timer = timer ? *timer : rag_net_default_timer();
    l->tokens = p->burst;
    l->last_ms = l->timer.now_ms(l->timer.ud);
    *out = l;
    return RAG_OK;
}

void rag_net_limiter_free(rag_net_limiter *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* Caller holds l->mu. */
static void refill(rag_net_limiter *l, double now)
{
    if (now > l->last_ms) {
        l->tokens += (now - l->last_ms) / 1000.0 * l->p.rate_per_s;
        if (l->tokens > l->p.burst)
            l->tokens = l->p.burst;
        l->last_ms = now;
    }
}

rag_status rag_net_limiter_reconfigure(rag_net_limiter *l, const rag_net_limiter_params *p, rag_err *err)
{
    if (!l || !p)
        return rag_err_set(err, RAG_E_BAD_INPUT, "rate limiter: NULL argument");
    rag_status st = check_params(p, err);
    if (st != RAG_OK)
        return st;
    pthread_mutex_lock(&l->mu);
    refill(l, l->timer.now_ms(l->timer.ud));
    l->p = *p;
    if (l->tokens > p->burst)
        l->tokens = p->burst;
    pthread_mutex_unlock(&l->mu);
    return RAG_OK;
}

rag_status rag_net_limiter_acquire(rag_net_limiter *l, double deadline_ms, double *waited_ms, rag_err *err)
{
    if (waited_ms)
        *waited_ms = 0;
    if (!l)
        return rag_err_set(err, RAG_E_BAD_INPUT, "rate limiter: NULL");
    pthread_mutex_lock(&l->mu);
    double now = l->timer.now_ms(l->timer.ud);
    refill(l, now);
    double wait = 0;
    if (l->tokens < 1.0)
        wait = (1.0 - l->tokens) / l->p.rate_per_s * 1000.0;
    if (wait > 0 && now + wait > deadline_ms) {
        pthread_mutex_unlock(&l->mu);
        return rag_err_set(err, RAG_E_RATE_LIMITED,
                           "rate limit (%g/s, burst %g): next slot in %.0f ms, after the deadline",
                           l->p.rate_per_s, l->p.burst, wait);
    }
    l->tokens -= 1.0; /* reserved now, so later waiters queue behind this one */
    pthread_mutex_unlock(&l->mu);
    if (wait > 0) {
        l->timer.sleep_ms(l->timer.ud, wait);
        if (waited_ms)
            *waited_ms = wait;
    }
    return RAG_OK;
}

double rag_net_limiter_tokens(rag_net_limiter *l)
{
    if (!l)
        return 0;
    pthread_mutex_lock(&l->mu);
    refill(l, l->timer.now_ms(l->timer.ud));
    double t = l->tokens;
    pthread_mutex_unlock(&l->mu);
    return t;
}

struct rag_net_sem {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    int max, in_use;
    rag_net_timer timer;
};

rag_status rag_net_sem_create(int max_concurrent, const rag_net_timer *timer, rag_net_sem **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "semaphore: out is NULL");
    *out = NULL;
    if (max_concurrent < 1)
        return rag_err_set(err, RAG_E_CONFIG, "semaphore: max_concurrent %d must be >= 1", max_concurrent);
    rag_net_sem *s = calloc(1, sizeof *s);
    if (!s)
        return rag_err_set(err, RAG_E_NOMEM, "semaphore: out of memory");
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0;
    ok = ok && pthread_cond_init(&s->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok || pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return rag_err_set(err, RAG_E_INTERNAL, "semaphore: pthread init failed");
    }
    s->max = max_concurrent;
    s->timer = timer ? *timer : rag_net_default_timer();
    *out = s;
    return RAG_OK;
}

void rag_net_sem_free(rag_net_sem *s)
{
    if (!s)
        return;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

rag_status rag_net_sem_acquire(rag_net_sem *s, double deadline_ms, rag_err *err)
{
    if (!s)
        return rag_err_set(err, RAG_E_BAD_INPUT, "semaphore: NULL");
    /* the deadline is on the timer's clock; the wait is real time, computed once */
    double left = deadline_ms - s->timer.now_ms(s->timer.ud);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double ns = (double)ts.tv_nsec + fmin(fmax(left, 0), 3600e3) * 1e6;
    ts.tv_sec += (time_t)(ns / 1e9);
    ts.tv_nsec = (long)fmod(ns, 1e9);
    pthread_mutex_lock(&s->mu);
    while (s->in_use >= s->max) {
        int rc = left > 0 ? pthread_cond_timedwait(&s->cv, &s->mu, &ts) : ETIMEDOUT;
        if (rc == ETIMEDOUT && s->in_use >= s->max) {
            int max = s->max;
            pthread_mutex_unlock(&s->mu);
            return rag_err_set(err, RAG_E_TIMEOUT,
                               "all %d concurrent request slots stayed busy until the deadline", max);
        }
        if (rc != 0 && rc != ETIMEDOUT && rc != EINTR) {
            pthread_mutex_unlock(&s->mu);
            return rag_err_set(err, RAG_E_INTERNAL, "semaphore: pthread_cond_timedwait failed (%d)", rc);
        }
    }
    s->in_use++;
    pthread_mutex_unlock(&s->mu);
    return RAG_OK;
}

void rag_net_sem_release(rag_net_sem *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    if (s->in_use > 0)
        s->in_use--;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int rag_net_sem_in_use(rag_net_sem *s)
{
    if (!s)
        return 0;
    pthread_mutex_lock(&s->mu);
    int n = s->in_use;
    pthread_mutex_unlock(&s->mu);
    return n;
}
