/* ragc net policy: error parsing and status mapping, secret redaction, retry/backoff, circuit
 * breaker, token-bucket rate limiter and the concurrency semaphore.
 *
 * Everything here is pure policy: no sockets. Time is read and slept through a rag_net_timer so
 * tests inject a fake clock and check the exact waits. All times are milliseconds (double) on the
 * timer's monotonic clock; "deadline" is always an absolute time on that clock.
 *
 * Wire facts follow shared/reference/hf-api.md section 4 (errors and retries).
 */
#ifndef RAGC_NET_POLICY_H
#define RAGC_NET_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- injectable time ---- */

/* A clock and a sleeper. now_ms returns monotonic milliseconds; sleep_ms blocks for ms
 * milliseconds (ms >= 0). Both must be thread-safe if the object using them is shared. */
typedef struct rag_net_timer {
    double (*now_ms)(void *ud);
    void (*sleep_ms)(void *ud, double ms);
    void *ud; /* passed to both; borrowed, must outlive every object holding the timer */
} rag_net_timer;

/* {rag_now_ms, nanosleep (restarted on EINTR), NULL}. */
rag_net_timer rag_net_default_timer(void);

/* ---- error bodies and status mapping ---- */

#define RAG_NET_ERRMSG_MAX 320   /* bytes of a parsed error message, including the NUL */
#define RAG_NET_SNIPPET_MAX 200  /* bytes of a non-JSON body quoted in a message */

/* What an error response says. */
typedef struct rag_net_error_info {
    char message[RAG_NET_ERRMSG_MAX]; /* one line, valid UTF-8, redacted; "" if the response said nothing */
    double estimated_time_s;          /* "estimated_time" of a 503 loading body, seconds; -1 if absent */
    char error_type[32];              /* TEI "error_type" (or OpenAI error.type), lowercased; "" if absent */
} rag_net_error_info;

/* Extracts the error message of a response, in this order: the X-Error-Message header,
 * {"error":"s"}, {"error":["a","b"]} (joined with "; "), {"error":{"message":...}},
 * {"message":...}, {"detail":...} (a string, or a list/object rendered as compact JSON), else a
 * snippet of at most RAG_NET_SNIPPET_MAX bytes of the body (control characters become spaces,
 * invalid UTF-8 becomes '?'). Also reads estimated_time and error_type from a JSON object body.
 * x_error_message, body: borrowed for the call, may be NULL; body need not be NUL-terminated.
 * token: borrowed, may be NULL; redacted from the message (see rag_net_redact). Never fails. */
void rag_net_parse_error(const char *x_error_message, const char *body, size_t body_len,
                         const char *token, rag_net_error_info *out);

/* If value is a mid-stream error object (a JSON object with an "error" member, SSE or NDJSON),
 * renders its message like rag_net_parse_error into msg[0..cap) (redacting token, may be NULL)
 * and returns true; otherwise returns false and leaves msg untouched. value: borrowed. */
bool rag_net_stream_error(const json_t *value, const char *token, char *msg, size_t cap);

/* Maps an HTTP status (and TEI error_type, may be NULL) to a rag_status:
 * 2xx -> RAG_OK; 401/403 -> RAG_E_AUTH; 402 -> RAG_E_BUDGET; 404/410 -> RAG_E_NOT_FOUND;
 * 408 -> RAG_E_TIMEOUT; 413 -> RAG_E_TOO_LARGE; 429 -> RAG_E_RATE_LIMITED; 400/422 and other 4xx
 * -> RAG_E_BAD_INPUT, except 424 and error_type "backend"/"unhealthy" -> RAG_E_UPSTREAM and
 * error_type "overloaded" -> RAG_E_RATE_LIMITED; 5xx, 1xx, 3xx (redirects are not followed) and
 * anything else -> RAG_E_UPSTREAM. */
rag_status rag_net_status_from_http(int http_status, const char *error_type);

/* True for the HTTP statuses the retry policy retries: 408, 429, 500, 502, 503, 504. */
bool rag_net_http_retryable(int http_status);

/* Redacts secrets in s in place (NUL-terminated; the result is never longer than the input):
 * every occurrence of token (if non-NULL and non-empty) becomes "***" (or as many '*' as the
 * token has bytes when it is shorter than 3), every "hf_" that starts a word and is followed by at
 * least 6 of [A-Za-z0-9_] becomes "hf_***", and the word after "Bearer " becomes "***". A text
 * cut at a cap may end inside a secret: a trailing prefix (4 bytes or more) of token becomes
 * "***", and the characters after a trailing "hf_" become '*'. Returns s (NULL-safe). */
char *rag_net_redact(char *s, const char *token);

/* ---- response headers that drive waiting ---- */

/* Parses a Retry-After value: delay-seconds (a non-negative number) or an HTTP-date, relative to
 * now_wall (seconds since the epoch). *ms = the delay in ms (0 for a date in the past).
 * Returns false (and leaves *ms) when value is NULL, empty or unparseable. */
bool rag_net_parse_retry_after(const char *value, time_t now_wall, double *ms);

/* Parses a RateLimit header: IETF structured form `"api";r=0;t=55` (items separated by ','), or
 * the older `limit=100, remaining=0, reset=55`. *remaining = the smallest r seen, *reset_s = the
 * largest t among items with that r. Returns false when neither r/remaining nor t/reset is found. */
bool rag_net_parse_ratelimit(const char *value, long *remaining, long *reset_s);

/* ---- retry policy ---- */

typedef struct rag_net_retry_params {
    int max_retries;           /* retries after the first attempt, 0..10 (5) */
    double base_ms;            /* backoff ceiling of the first retry, ms (1000) */
    double cap_ms;             /* largest backoff ceiling, ms (8000); ceilings go base, 2*base, ... cap */
    bool jitter;               /* full jitter: wait uniform in [0, ceiling) (true); false = the ceiling */
    double max_server_wait_ms; /* cap on a wait the server asks for (Retry-After, RateLimit t+1 s,
                                  503 estimated_time), ms (60000) */
} rag_net_retry_params;

/* {5, 1000, 8000, true, 60000}. */
rag_net_retry_params rag_net_retry_default_params(void);

/* Checks ranges; RAG_E_CONFIG with a message naming the field otherwise. */
rag_status rag_net_retry_params_check(const rag_net_retry_params *p, rag_err *err);

/* What one failed attempt reported, as the policy needs it. */
typedef struct rag_net_attempt {
    rag_status status;          /* the attempt's status (RAG_OK never retries) */
    int http_status;            /* 0 = no HTTP response (network error, timeout) */
    bool retryable;             /* status/transport says another attempt may succeed (see rag_net_call) */
    double retry_after_ms;      /* parsed Retry-After; < 0 = absent */
    double ratelimit_reset_ms;  /* RateLimit t in ms when r == 0; < 0 = absent */
    double estimated_time_ms;   /* 503 loading estimated_time in ms; < 0 = absent */
} rag_net_attempt;

typedef enum rag_net_retry_verdict {
    RAG_NET_RETRY_STOP = 0, /* do not retry: success, not retryable, or retries exhausted */
    RAG_NET_RETRY_AGAIN,    /* sleep *wait_ms, then attempt again */
    RAG_NET_RETRY_DEADLINE  /* retryable, but the wait would reach the deadline: stop now */
} rag_net_retry_verdict;

/* Decides what follows a failed attempt. retries_done: retries already made (0 after the first
 * attempt). The wait is, in order: 429 with a RateLimit reset -> reset + 1000 ms; a Retry-After
 * -> that; 503 with estimated_time -> that (each capped at max_server_wait_ms); else exponential
 * backoff min(cap_ms, base_ms * 2^retries_done), times rand01 (in [0,1)) when jitter is on.
 * *wait_ms (may be NULL) receives the wait for AGAIN and DEADLINE (now + wait >= deadline_ms). */
rag_net_retry_verdict rag_net_retry_decide(const rag_net_retry_params *p, int retries_done,
                                           const rag_net_attempt *a, double now_ms,
                                           double deadline_ms, double rand01, double *wait_ms);

/* ---- circuit breaker (one per backend + model) ---- */

typedef enum rag_net_breaker_state {
    RAG_NET_BREAKER_CLOSED = 0,   /* calls flow */
    RAG_NET_BREAKER_OPEN = 1,     /* calls refused until the cool-down has passed */
    RAG_NET_BREAKER_HALF_OPEN = 2 /* one probe call allowed; its result closes or re-opens */
} rag_net_breaker_state;

typedef struct rag_net_breaker_params {
    int failure_threshold; /* consecutive failed calls that open the breaker, 1..1000 (5) */
    double cooldown_ms;    /* time open before one probe is allowed, ms, > 0 (30000) */
} rag_net_breaker_params;

/* {5, 30000}. */
rag_net_breaker_params rag_net_breaker_default_params(void);

/* Opaque breaker. Thread-safe (internal mutex). */
typedef struct rag_net_breaker rag_net_breaker;

/* p may be NULL (defaults). *out: caller frees with rag_net_breaker_free. Out-of-range params
 * -> RAG_E_CONFIG. */
rag_status rag_net_breaker_create(const rag_net_breaker_params *p, rag_net_breaker **out, rag_err *err);
void rag_net_breaker_free(rag_net_breaker *b); /* NULL is a no-op */

/* Asks to make a call at now_ms. RAG_OK: go ahead and later report the result with
 * rag_net_breaker_record(b, *ticket, ...). RAG_E_CIRCUIT_OPEN (with a message giving the time
 * left): do not call. An open breaker whose cool-down has passed becomes half-open and admits
 * exactly one probe; a probe that never reports is replaced after another cool-down. */
rag_status rag_net_breaker_allow(rag_net_breaker *b, double now_ms, unsigned long *ticket, rag_err *err);

/* Reports the final status of an admitted call (retries exhausted counts once). Failures are
 * RAG_E_TIMEOUT, RAG_E_IO, RAG_E_UPSTREAM, RAG_E_RATE_LIMITED, RAG_E_AUTH and RAG_E_BUDGET; any
 * other status means the backend answered (success). RAG_E_CANCELLED changes nothing (a probe
 * slot is released). A ticket from before the last state change is ignored. */
void rag_net_breaker_record(rag_net_breaker *b, unsigned long ticket, rag_status final, double now_ms);

/* True if the status counts as a backend failure for the breaker (see above). */
bool rag_net_breaker_is_failure(rag_status s);

/* Current state for metrics: 0 closed, 1 open, 2 half-open. */
rag_net_breaker_state rag_net_breaker_get_state(rag_net_breaker *b);

/* Consecutive failures counted in the closed state (for tests and metrics). */
int rag_net_breaker_failures(rag_net_breaker *b);

/* State changes of a breaker since its creation, by the state entered. Every state change is
 * exactly one of these (closed -> open and half-open -> open both count as opened). */
typedef struct rag_net_breaker_transitions {
    unsigned long opened;      /* -> open: failure_threshold failures in a row, or a failed probe */
    unsigned long half_opened; /* open -> half-open: the cool-down passed and a call came */
    unsigned long closed;      /* half-open -> closed: a probe succeeded */
} rag_net_breaker_transitions;

/* *out = the counts (all zero for b == NULL). Thread-safe. */
void rag_net_breaker_get_transitions(rag_net_breaker *b, rag_net_breaker_transitions *out);

/* ---- token-bucket rate limiter (one per backend) ---- */

typedef struct rag_net_limiter_params {
    double rate_per_s; /* tokens added per second, > 0 */
    double burst;      /* bucket size (tokens available at once), >= 1; the bucket starts full */
} rag_net_limiter_params;

/* Opaque limiter. Thread-safe (internal mutex). */
typedef struct rag_net_limiter rag_net_limiter;

/* timer: copied (NULL = rag_net_default_timer()). *out: caller frees with rag_net_limiter_free.
 * rate_per_s <= 0 or burst < 1 -> RAG_E_CONFIG. */
rag_status rag_net_limiter_create(const rag_net_limiter_params *p, const rag_net_timer *timer,
                                  rag_net_limiter **out, rag_err *err);
void rag_net_limiter_free(rag_net_limiter *l); /* NULL is a no-op */

/* Changes rate and burst of a live limiter (tokens above the new burst are dropped).
 * Same checks as create. */
rag_status rag_net_limiter_reconfigure(rag_net_limiter *l, const rag_net_limiter_params *p, rag_err *err);

/* Takes one token, sleeping (on the timer) until it is available. If it would not be available
 * before deadline_ms, returns RAG_E_RATE_LIMITED at once without sleeping and without taking it.
 * Waiters are served in arrival order (a token is reserved before sleeping).
 * *waited_ms (may be NULL) receives the time slept. */
rag_status rag_net_limiter_acquire(rag_net_limiter *l, double deadline_ms, double *waited_ms, rag_err *err);

/* Tokens in the bucket at the timer's current time (negative while reserved by waiters). */
double rag_net_limiter_tokens(rag_net_limiter *l);

/* ---- counting semaphore (max concurrent remote requests) ---- */

typedef struct rag_net_sem rag_net_sem;

/* max_concurrent >= 1. timer: copied (NULL = default); its clock measures the deadline, the wait
 * itself is a real condition-variable wait. *out: caller frees with rag_net_sem_free. */
rag_status rag_net_sem_create(int max_concurrent, const rag_net_timer *timer, rag_net_sem **out, rag_err *err);
void rag_net_sem_free(rag_net_sem *s); /* NULL is a no-op; no thread may be inside acquire */

/* Takes a slot, waiting until deadline_ms at most; RAG_E_TIMEOUT (without a slot) after that. */
rag_status rag_net_sem_acquire(rag_net_sem *s, double deadline_ms, rag_err *err);
void rag_net_sem_release(rag_net_sem *s);
int rag_net_sem_in_use(rag_net_sem *s); /* slots taken now */

#ifdef __cplusplus
}
#endif
#endif /* RAGC_NET_POLICY_H */
