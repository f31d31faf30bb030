/* Circuit breaker: closed -> open after N consecutive failed calls -> half-open after a
 * cool-down (one probe) -> closed on success / open on failure. */
#include "net_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct rag_net_breaker {
    pthread_mutex_t mu;
    rag_net_breaker_params p;
    rag_net_breaker_state state;
    int failures;             /* consecutive failures while closed */
    double opened_at;         /* when the breaker last opened, ms */
    bool probe_out;           /* half-open: a probe is in flight */
    double probe_at;          /* when that probe was admitted, ms */
    unsigned long generation; /* bumps on every state change; tickets from older ones are ignored */
    rag_net_breaker_transitions moves; /* state changes since creation, by target state */
};

rag_net_breaker_params rag_net_breaker_default_params(void)
{
    rag_net_breaker_params p = {5, 30000.0};
    return p;
}

rag_status rag_net_breaker_create(const rag_net_breaker_params *p, rag_net_breaker **out, rag_err *err)
{
    rag_net_breaker_params bp = p ? *p : rag_net_breaker_default_params();
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "breaker: out is NULL");
    *out = NULL;
    if (bp.failure_threshold < 1 || bp.failure_threshold > 1000)
        return rag_err_set(err, RAG_E_CONFIG, "breaker: failure_threshold %d not in 1..1000", bp.failure_threshold);
    if (!(bp.cooldown_ms > 0) || !isfinite(bp.cooldown_ms))
        return rag_err_set(err, RAG_E_CONFIG, "breaker: cooldown_ms %g must be > 0", bp.cooldown_ms);
    rag_net_breaker *b = calloc(1, sizeof *b);
    if (!b)
        return rag_err_set(err, RAG_E_NOMEM, "breaker: out of memory");
    if (pthread_mutex_init(&b->mu, NULL) != 0) {
        free(b);
        return rag_err_set(err, RAG_E_INTERNAL, "breaker: pthread_mutex_init failed");
    }
    b->p = bp;
    b->state = RAG_NET_BREAKER_CLOSED;
    *out = b;
    return RAG_OK;
}

void rag_net_breaker_free(rag_net_breaker *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static void set_state(rag_net_breaker *b, rag_net_breaker_state s, double now_ms)
{
    if (s == RAG_NET_BREAKER_OPEN)
        b->moves.opened++;
    else if (s == RAG_NET_BREAKER_HALF_OPEN)
        b->moves.half_opened++;
    else
        b->moves.closed++;
    b->state = s;
    b->generation++;
    b->probe_out = false;
    if (s == RAG_NET_BREAKER_OPEN)
        b->opened_at = now_ms;
    if (s == RAG_NET_BREAKER_CLOSED)
        b->failures = 0;
}

rag_status rag_net_breaker_allow(rag_net_breaker *b, double now_ms, unsigned long *ticket, rag_err *err)
{
    if (!b)
        return rag_err_set(err, RAG_E_BAD_INPUT, "breaker: NULL");
    rag_status st = RAG_OK;
    double left = 0;
    pthread_mutex_lock(&b->mu);
    if (b->state == RAG_NET_BREAKER_OPEN) {
        if (now_ms - b->opened_at >= b->p.cooldown_ms)
            set_state(b, RAG_NET_BREAKER_HALF_OPEN, now_ms);
        else {
            st = RAG_E_CIRCUIT_OPEN;
            left = b->p.cooldown_ms - (now_ms - b->opened_at);
        }
    }
    if (st == RAG_OK && b->state == RAG_NET_BREAKER_HALF_OPEN) {
        if (b->probe_out && now_ms - b->probe_at < b->p.cooldown_ms) {
            st = RAG_E_CIRCUIT_OPEN;
            left = -1;
        } else {
            b->probe_out = true;
            b->probe_at = now_ms;
        }
    }
    if (ticket)
        *ticket = b->generation;
    pthread_mutex_unlock(&b->mu);
    if (st == RAG_E_CIRCUIT_OPEN) {
        if (left >= 0)
            rag_err_set(err, st, "circuit open after repeated failures; next probe in %.1f s", left / 1000.0);
        else
            rag_err_set(err, st, "circuit half-open; a probe call is already in flight");
    }
    return st;
}

bool rag_net_breaker_is_failure(rag_status s)
{
    switch (s) {
    case RAG_E_TIMEOUT: case RAG_E_IO: case RAG_E_UPSTREAM:
    case RAG_E_RATE_LIMITED: case RAG_E_AUTH: case RAG_E_BUDGET:
        return true;
    default:
        return false;
    }
}

void rag_net_breaker_record(rag_net_breaker *b, unsigned long ticket, rag_status final, double now_ms)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    if (ticket != b->generation) {
        pthread_mutex_unlock(&b->mu);
        return;
    }
    if (final == RAG_E_CANCELLED) {
        b->probe_out = false;
    } else if (rag_net_breaker_is_failure(final)) {
        if (b->state == RAG_NET_BREAKER_HALF_OPEN) {
            set_state(b, RAG_NET_BREAKER_OPEN, now_ms);
        } else if (b->state == RAG_NET_BREAKER_CLOSED) {
            if (++b->failures >= b->p.failure_threshold)
                set_state(b, RAG_NET_BREAKER_OPEN, now_ms);
        }
    } else {
        if (b->state == RAG_NET_BREAKER_HALF_OPEN)
            set_state(b, RAG_NET_BREAKER_CLOSED, now_ms);
        else if (b->state == RAG_NET_BREAKER_CLOSED)
            b->failures = 0;
    }
    pthread_mutex_unlock(&b->mu);
}

rag_net_breaker_state rag_net_breaker_get_state(rag_net_breaker *b)
{
    if (!b)
        return RAG_NET_BREAKER_CLOSED;
    pthread_mutex_lock(&b->mu);
    rag_net_breaker_state s = b->state;
    pthread_mutex_unlock(&b->mu);
    return s;
}

int rag_net_breaker_failures(rag_net_breaker *b)
{
    if (!b)
        return 0;
    pthread_mutex_lock(&b->mu);
    int f = b->failures;
    pthread_mutex_unlock(&b->mu);
    return f;
}

void rag_net_breaker_get_transitions(rag_net_breaker *b, rag_net_breaker_transitions *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    *out = b->moves;
    pthread_mutex_unlock(&b->mu);
}
