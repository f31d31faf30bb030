/* Unit tests for src/net policy: retry schedule, circuit breaker, token bucket, semaphore.
 * Time is a fake clock: sleeps advance it and are recorded, so waits are checked exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/net.h"

typedef struct fake_time {
    double now;
    double sleeps[64];
    int n_sleeps;
} fake_time;

static double fake_now(void *ud) { return ((fake_time *)ud)->now; }

static void fake_sleep(void *ud, double ms)
{
    fake_time *t = ud;
    if (t->n_sleeps < 64)
        t->sleeps[t->n_sleeps++] = ms;
    t->now += ms;
}

static rag_net_timer fake_timer(fake_time *t)
{
    rag_net_timer tm = {fake_now, fake_sleep, t};
    return tm;
}

static rag_net_attempt failed(int http, rag_status st)
{
    rag_net_attempt a = {st, http, true, -1, -1, -1};
    return a;
}

static void test_backoff_schedule(void **state)
{
    (void)state;
    rag_net_retry_params p = rag_net_retry_default_params();
    assert_int_equal(p.max_retries, 5);
    p.jitter = false;
    rag_net_attempt a = failed(500, RAG_E_UPSTREAM);
    double want[] = {1000, 2000, 4000, 8000, 8000};
    double w;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(rag_net_retry_decide(&p, i, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_AGAIN);
        assert_true(w == want[i]);
    }
    assert_int_equal(rag_net_retry_decide(&p, 5, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_STOP);
    /* full jitter: uniform in [0, ceiling) */
    p.jitter = true;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(rag_net_retry_decide(&p, i, &a, 0, 1e9, 0.25, &w), RAG_NET_RETRY_AGAIN);
        assert_true(w == want[i] * 0.25);
    }
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 0, 1e9, 0.0, &w), RAG_NET_RETRY_AGAIN);
    assert_true(w == 0.0);
    /* configurable base and cap */
    p.jitter = false;
    p.base_ms = 100;
    p.cap_ms = 300;
    assert_int_equal(rag_net_retry_decide(&p, 3, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_AGAIN);
    assert_true(w == 300);
    p.max_retries = 0;
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_STOP);
}

static void test_retry_which_statuses(void **state)
{
    (void)state;
    rag_net_retry_params p = rag_net_retry_default_params();
    double w;
    /* the attempt's retryable flag decides (set from the HTTP status / transport) */
    rag_net_attempt a = failed(402, RAG_E_BUDGET);
    a.retryable = rag_net_http_retryable(402);
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_STOP);
    a = failed(0, RAG_E_TIMEOUT); /* network timeout */
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_AGAIN);
    a = failed(200, RAG_OK);
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_STOP);
    assert_int_equal(rag_net_retry_decide(NULL, 0, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_STOP);

    rag_err err;
    p.max_retries = 11;
    assert_int_equal(rag_net_retry_params_check(&p, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "max_retries"));
    p = rag_net_retry_default_params();
    p.cap_ms = 10;
    assert_int_equal(rag_net_retry_params_check(&p, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "cap_ms"));
}

static void test_server_waits(void **state)
{
    (void)state;
    rag_net_retry_params p = rag_net_retry_default_params();
    double w;
    /* 429 with RateLimit r=0;t=3: t + 1 s, ahead of Retry-After */
    rag_net_attempt a = failed(429, RAG_E_RATE_LIMITED);
    a.ratelimit_reset_ms = 3000;
    a.retry_after_ms = 1000;
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_AGAIN);
    assert_true(w == 4000);
    /* else Retry-After, exactly (no jitter), on any retryable status */
    a.ratelimit_reset_ms = -1;
    assert_int_equal(rag_net_retry_decide(&p, 3, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_AGAIN);
    assert_true(w == 1000);
    a = failed(503, RAG_E_UPSTREAM);
    a.retry_after_ms = 2000;
    a.estimated_time_ms = 20000;
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_AGAIN);
    assert_true(w == 2000);
    /* 503 loading: estimated_time, capped by max_server_wait_ms */
    a.retry_after_ms = -1;
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_AGAIN);
    assert_true(w == 20000);
    p.max_server_wait_ms = 5000;
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_AGAIN);
    assert_true(w == 5000);
    /* estimated_time only counts on a 503 */
    a.http_status = 500;
    p.jitter = false;
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 0, 1e9, 0.5, &w), RAG_NET_RETRY_AGAIN);
    assert_true(w == 1000);
}

static void test_deadline_cut(void **state)
{
    (void)state;
    rag_net_retry_params p = rag_net_retry_default_params();
    double w = -1;
    rag_net_attempt a = failed(429, RAG_E_RATE_LIMITED);
    a.ratelimit_reset_ms = 55000;
    /* now 1000, deadline 30000: a 56 s wait would cross it */
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 1000, 30000, 0.5, &w), RAG_NET_RETRY_DEADLINE);
    assert_true(w == 56000);
    /* a wait that ends exactly at the deadline leaves no time for the attempt */
    a = failed(500, RAG_E_UPSTREAM);
    p.jitter = false;
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 1000, 2000, 0.5, &w), RAG_NET_RETRY_DEADLINE);
    assert_int_equal(rag_net_retry_decide(&p, 0, &a, 1000, 2001, 0.5, &w), RAG_NET_RETRY_AGAIN);
}

static void test_breaker_transitions(void **state)
{
    (void)state;
    rag_net_breaker_params bp = {3, 1000};
    rag_net_breaker *b;
    rag_err err;
    unsigned long tk;
    assert_int_equal(rag_net_breaker_create(&bp, &b, &err), RAG_OK);
    assert_int_equal(rag_net_breaker_get_state(b), RAG_NET_BREAKER_CLOSED);
    /* two failures, then a success resets the count */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rag_net_breaker_allow(b, 0, &tk, &err), RAG_OK);
        rag_net_breaker_record(b, tk, RAG_E_UPSTREAM, 0);
    }
    assert_int_equal(rag_net_breaker_failures(b), 2);
    assert_int_equal(rag_net_breaker_allow(b, 0, &tk, &err), RAG_OK);
    rag_net_breaker_record(b, tk, RAG_OK, 0);
    assert_int_equal(rag_net_breaker_failures(b), 0);
    /* bad input means the backend answered: not a failure */
    assert_int_equal(rag_net_breaker_allow(b, 0, &tk, &err), RAG_OK);
    rag_net_breaker_record(b, tk, RAG_E_BAD_INPUT, 0);
    assert_int_equal(rag_net_breaker_failures(b), 0);
    /* three consecutive failures open it */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rag_net_breaker_allow(b, 100, &tk, &err), RAG_OK);
        rag_net_breaker_record(b, tk, i == 1 ? RAG_E_BUDGET : RAG_E_TIMEOUT, 100);
    }
    assert_int_equal(rag_net_breaker_get_state(b), RAG_NET_BREAKER_OPEN);
    assert_int_equal(rag_net_breaker_allow(b, 600, &tk, &err), RAG_E_CIRCUIT_OPEN);
    assert_non_null(strstr(err.msg, "next probe in 0.5 s"));
    /* after the cool-down: half-open, exactly one probe */
    unsigned long probe;
    assert_int_equal(rag_net_breaker_allow(b, 1100, &probe, &err), RAG_OK);
    assert_int_equal(rag_net_breaker_get_state(b), RAG_NET_BREAKER_HALF_OPEN);
    assert_int_equal(rag_net_breaker_allow(b, 1101, &tk, &err), RAG_E_CIRCUIT_OPEN);
    assert_non_null(strstr(err.msg, "probe"));
    /* the probe fails: open again, cool-down restarts */
    rag_net_breaker_record(b, probe, RAG_E_UPSTREAM, 1200);
    assert_int_equal(rag_net_breaker_get_state(b), RAG_NET_BREAKER_OPEN);
    assert_int_equal(rag_net_breaker_allow(b, 2100, &tk, &err), RAG_E_CIRCUIT_OPEN);
    /* next probe succeeds: closed */
    assert_int_equal(rag_net_breaker_allow(b, 2200, &probe, &err), RAG_OK);
    rag_net_breaker_record(b, probe, RAG_OK, 2250);
    assert_int_equal(rag_net_breaker_get_state(b), RAG_NET_BREAKER_CLOSED);
    assert_int_equal(rag_net_breaker_failures(b), 0);
    /* transition counts: opened twice (threshold, failed probe), half-opened twice, closed once */
    rag_net_breaker_transitions t;
    rag_net_breaker_get_transitions(b, &t);
    assert_int_equal(t.opened, 2);
    assert_int_equal(t.half_opened, 2);
    assert_int_equal(t.closed, 1);
    rag_net_breaker_get_transitions(NULL, &t);
    assert_int_equal(t.opened + t.half_opened + t.closed, 0);
    rag_net_breaker_get_transitions(b, NULL); /* no-op */
    rag_net_breaker_free(b);
}

static void test_breaker_tickets_and_probes(void **state)
{
    (void)state;
    rag_net_breaker_params bp = {1, 1000};
    rag_net_breaker *b;
    rag_err err;
    unsigned long old_tk, tk, probe;
    assert_int_equal(rag_net_breaker_create(&bp, &b, &err), RAG_OK);
    assert_int_equal(rag_net_breaker_allow(b, 0, &old_tk, &err), RAG_OK); /* slow call admitted while closed */
    assert_int_equal(rag_net_breaker_allow(b, 0, &tk, &err), RAG_OK);
    rag_net_breaker_record(b, tk, RAG_E_IO, 10); /* threshold 1: open */
    assert_int_equal(rag_net_breaker_get_state(b), RAG_NET_BREAKER_OPEN);
    /* the slow call's success from before the opening is ignored */
    rag_net_breaker_record(b, old_tk, RAG_OK, 20);
    assert_int_equal(rag_net_breaker_get_state(b), RAG_NET_BREAKER_OPEN);
    /* a cancelled probe frees the slot without changing state */
    assert_int_equal(rag_net_breaker_allow(b, 1010, &probe, &err), RAG_OK);
    rag_net_breaker_record(b, probe, RAG_E_CANCELLED, 1020);
    assert_int_equal(rag_net_breaker_get_state(b), RAG_NET_BREAKER_HALF_OPEN);
    assert_int_equal(rag_net_breaker_allow(b, 1030, &probe, &err), RAG_OK);
    /* a probe that never reports is replaced after another cool-down */
    assert_int_equal(rag_net_breaker_allow(b, 1500, &tk, &err), RAG_E_CIRCUIT_OPEN);
    assert_int_equal(rag_net_breaker_allow(b, 2030, &tk, &err), RAG_OK);
    rag_net_breaker_free(b);

    bp.failure_threshold = 0;
    assert_int_equal(rag_net_breaker_create(&bp, &b, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "failure_threshold"));
    bp.failure_threshold = 1;
    bp.cooldown_ms = 0;
    assert_int_equal(rag_net_breaker_create(&bp, &b, &err), RAG_E_CONFIG);
    rag_net_breaker_free(NULL);
    assert_true(rag_net_breaker_is_failure(RAG_E_RATE_LIMITED));
    assert_false(rag_net_breaker_is_failure(RAG_E_NOT_FOUND));
}

typedef struct hammer_arg {
    rag_net_breaker *b;
    int id;
} hammer_arg;

static void *hammer(void *p)
{
    hammer_arg *h = p;
    for (int i = 0; i < 2000; i++) {
        unsigned long tk;
        double t = (double)i;
        if (rag_net_breaker_allow(h->b, t, &tk, NULL) == RAG_OK)
            rag_net_breaker_record(h->b, tk, (i + h->id) % 3 ? RAG_OK : RAG_E_UPSTREAM, t);
        (void)rag_net_breaker_get_state(h->b);
    }
    return NULL;
}

static void test_breaker_threads(void **state)
{
    (void)state;
    rag_net_breaker_params bp = {2, 5};
    rag_net_breaker *b;
    assert_int_equal(rag_net_breaker_create(&bp, &b, NULL), RAG_OK);
    pthread_t th[4];
    hammer_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].b = b;
        args[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    int s = rag_net_breaker_get_state(b);
    assert_true(s >= 0 && s <= 2);
    rag_net_breaker_free(b);
}

static void test_token_bucket(void **state)
{
    (void)state;
    fake_time ft = {1000, {0}, 0};
    rag_net_timer tm = fake_timer(&ft);
    rag_net_limiter_params lp = {2.0, 2.0}; /* 2 per second, burst 2 */
    rag_net_limiter *l;
    rag_err err;
    double waited;
    assert_int_equal(rag_net_limiter_create(&lp, &tm, &l, &err), RAG_OK);
    assert_int_equal(rag_net_limiter_acquire(l, 1e9, &waited, &err), RAG_OK);
    assert_int_equal(rag_net_limiter_acquire(l, 1e9, &waited, &err), RAG_OK);
    assert_true(waited == 0);
    assert_int_equal(ft.n_sleeps, 0);
    /* the bucket is empty: the next token comes in 500 ms */
    assert_int_equal(rag_net_limiter_acquire(l, 1e9, &waited, &err), RAG_OK);
    assert_int_equal(ft.n_sleeps, 1);
    assert_true(ft.sleeps[0] == 500);
    assert_true(waited == 500);
    /* not available before the deadline: refused at once, no sleep, no token taken */
    double before = rag_net_limiter_tokens(l);
    assert_int_equal(rag_net_limiter_acquire(l, ft.now + 100, &waited, &err), RAG_E_RATE_LIMITED);
    assert_non_null(strstr(err.msg, "deadline"));
    assert_int_equal(ft.n_sleeps, 1);
    assert_true(rag_net_limiter_tokens(l) == before);
    /* refill is capped at the burst */
    ft.now += 60000;
    assert_true(rag_net_limiter_tokens(l) == 2.0);
    /* reconfigure: burst 1 drops the extra token */
    lp.burst = 1;
    assert_int_equal(rag_net_limiter_reconfigure(l, &lp, &err), RAG_OK);
    assert_true(rag_net_limiter_tokens(l) == 1.0);
    lp.rate_per_s = 0;
    assert_int_equal(rag_net_limiter_reconfigure(l, &lp, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "rate_per_s"));
    rag_net_limiter_free(l);
    lp.rate_per_s = 1;
    lp.burst = 0.5;
    assert_int_equal(rag_net_limiter_create(&lp, &tm, &l, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "burst"));
}

static void test_token_bucket_queue(void **state)
{
    (void)state;
    /* waiters reserve in order: with rate 10/s and an empty bucket the 2nd and 3rd waits are
       100 and 200 ms (tokens go negative while reserved) */
    fake_time ft = {0, {0}, 0};
    rag_net_timer tm = fake_timer(&ft);
    rag_net_limiter_params lp = {10.0, 1.0};
    rag_net_limiter *l;
    assert_int_equal(rag_net_limiter_create(&lp, &tm, &l, NULL), RAG_OK);
    assert_int_equal(rag_net_limiter_acquire(l, 1e9, NULL, NULL), RAG_OK);
    assert_true(rag_net_limiter_tokens(l) == 0);
    assert_int_equal(rag_net_limiter_acquire(l, 1e9, NULL, NULL), RAG_OK);
    assert_true(ft.sleeps[0] == 100);
    ft.now = 0; /* the fake sleep moved the clock: rewind to reserve at the same instant */
    double waited;
    assert_int_equal(rag_net_limiter_acquire(l, 1e9, &waited, NULL), RAG_OK);
    assert_true(waited == 200);
    rag_net_limiter_free(l);
}

typedef struct sem_arg {
    rag_net_sem *s;
    int hold_ms;
} sem_arg;

static void *sem_holder(void *p)
{
    sem_arg *a = p;
    rag_net_timer tm = rag_net_default_timer();
    tm.sleep_ms(NULL, a->hold_ms);
    rag_net_sem_release(a->s);
    return NULL;
}

static void test_semaphore(void **state)
{
    (void)state;
    rag_net_sem *s;
    rag_err err;
    assert_int_equal(rag_net_sem_create(0, NULL, &s, &err), RAG_E_CONFIG);
    assert_int_equal(rag_net_sem_create(1, NULL, &s, &err), RAG_OK);
    assert_int_equal(rag_net_sem_acquire(s, rag_now_ms() + 1000, &err), RAG_OK);
    assert_int_equal(rag_net_sem_in_use(s), 1);
    /* full: a short deadline times out */
    double t0 = rag_now_ms();
    assert_int_equal(rag_net_sem_acquire(s, t0 + 50, &err), RAG_E_TIMEOUT);
    double dt = rag_now_ms() - t0;
    assert_true(dt >= 45 && dt < 1000);
    assert_non_null(strstr(err.msg, "slots"));
    /* a holder releases after 30 ms: a waiter with a long deadline gets the slot */
    sem_arg a = {s, 30};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sem_holder, &a), 0);
    t0 = rag_now_ms();
    assert_int_equal(rag_net_sem_acquire(s, t0 + 5000, &err), RAG_OK);
    assert_true(rag_now_ms() - t0 < 2000);
    pthread_join(th, NULL);
    rag_net_sem_release(s);
    assert_int_equal(rag_net_sem_in_use(s), 0);
    /* a fake clock that never moves still ends the wait (real time bounds it) */
    fake_time ft = {0, {0}, 0};
    rag_net_timer tm = fake_timer(&ft);
    rag_net_sem *s2;
    assert_int_equal(rag_net_sem_create(1, &tm, &s2, &err), RAG_OK);
    assert_int_equal(rag_net_sem_acquire(s2, 20, &err), RAG_OK);
    t0 = rag_now_ms();
    assert_int_equal(rag_net_sem_acquire(s2, 20, &err), RAG_E_TIMEOUT);
    assert_true(rag_now_ms() - t0 < 1000);
    rag_net_sem_free(s2);
    rag_net_sem_free(s);
    rag_net_sem_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_retry_which_statuses),
        cmocka_unit_test(test_server_waits),
        cmocka_unit_test(test_deadline_cut),
        cmocka_unit_test(test_breaker_transitions),
        cmocka_unit_test(test_breaker_tickets_and_probes),
        cmocka_unit_test(test_breaker_threads),
        cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_token_bucket_queue),
        cmocka_unit_test(test_semaphore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
