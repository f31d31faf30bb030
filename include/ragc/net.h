/* ragc net: the one path every remote call goes through.
 *
 *   rag_net_call: rate limiter -> circuit breaker -> concurrency slot -> HTTP (libcurl, deadline,
 *                 body cap) -> error parsing -> retry with backoff / Retry-After -> outcome + hook
 *
 * Process setup: call rag_net_global_init() once from main() before any thread starts and
 * rag_net_global_cleanup() at exit. It wraps curl_global_init, the one process-wide state ragc
 * has (libcurl forces it); nothing else here is global.
 *
 * Secrets: the bearer token of a request is sent only in the Authorization header. It is never
 * logged, and every message this module produces (rag_err, logs, outcome fields) is passed
 * through rag_net_redact, which also hides any "hf_..." token.
 *
 * Adapters (HF feature-extraction, TEI, cross-encoder, router chat, Ollama) build a
 * rag_net_request, call rag_net_call and parse resp->json (expect_json) or their stream parser.
 */
#ifndef RAGC_NET_H
#define RAGC_NET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ragc/core.h"
#include "ragc/net_policy.h"
#include "ragc/net_stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* curl_global_init(CURL_GLOBAL_DEFAULT). Call once from main() before threads start.
 * RAG_E_INTERNAL with curl's reason on failure. */
rag_status rag_net_global_init(rag_err *err);
/* curl_global_cleanup(). Call once at exit, after every client is freed. */
void rag_net_global_cleanup(void);

/* ---- request and response ---- */

typedef enum rag_http_method { RAG_HTTP_GET = 0, RAG_HTTP_POST } rag_http_method;

/* Receives one line of a streamed 2xx body: terminator (LF, CRLF or CR) removed, NUL-terminated,
 * borrowed, valid during the call. Return RAG_OK to continue; anything else aborts the transfer
 * and becomes the attempt's status (fill err to explain). */
typedef rag_status (*rag_net_line_fn)(void *ud, const char *line, size_t len, rag_err *err);
/* Called once at the end of a streamed 2xx body (e.g. rag_sse_on_end: checks [DONE]). After a
 * clean end its status becomes the attempt's; after a cut (network error, timeout) the transport
 * status stays and its message is appended, so the parser still records the truncation. Not
 * called on cancellation or when a cap or on_line stopped the transfer. */
typedef rag_status (*rag_net_end_fn)(void *ud, rag_err *err);

/* One remote call. Zero-initialise, then set method and url at least. Every pointer is borrowed
 * for the duration of the call. */
typedef struct rag_net_request {
    rag_http_method method;
    const char *url;             /* http:// or https:// (other schemes refused); no redirects followed
                                    unless the client params allow them */
    const char *body;            /* POST body, body_len bytes (may be NULL when body_len == 0) */
    size_t body_len;
    const char *content_type;    /* NULL = "application/json" when method is POST */
    const char *bearer_token;    /* NULL or "" = no Authorization header; redacted from every message */
    const char *const *headers;  /* n_headers extra "Name: value" lines, e.g. "X-HF-Bill-To: org" */
    size_t n_headers;

    double deadline_ms;          /* absolute deadline on the client's timer clock; 0 = now + default_timeout_ms.
                                    Bounds every attempt, every wait and every retry */
    size_t max_body_bytes;       /* cap on the response body; 0 = client default. Over it -> RAG_E_TOO_LARGE */
    bool expect_json;            /* a 2xx body must be one JSON value: parsed into resp->json, else
                                    RAG_E_UPSTREAM (not retried) */

    rag_net_line_fn on_line;     /* non-NULL = stream mode: a 2xx body goes line by line to on_line
                                    (resp->body stays empty); error bodies are still buffered */
    rag_net_end_fn on_end;       /* optional, stream mode only */
    void *stream_ud;             /* passed to on_line and on_end */
    size_t max_line_bytes;       /* cap on one streamed line; 0 = client default (1 MiB) */
    size_t max_stream_bytes;     /* cap on a streamed body; 0 = client default (64 MiB) */

    const char *backend;         /* names the rate limiter and, with model, the breaker; NULL = "default" */
    const char *model;           /* NULL = "" */
    const rag_net_retry_params *retry; /* NULL = the client's */
    const atomic_int *cancel;    /* optional; when it becomes non-zero the call stops with RAG_E_CANCELLED */
} rag_net_request;

#define RAG_NET_HDR_SMALL 128
#define RAG_NET_HDR_LARGE 512

/* Result of one HTTP attempt (rag_net_call leaves the last attempt's here). Header values are
 * truncated to their field size. Initialise with rag_net_response_init; free with
 * rag_net_response_free (reusable after it). */
typedef struct rag_net_response {
    int http_status;        /* 0 = no HTTP response */
    rag_buf body;           /* owned: the 2xx body (non-stream), or an error body (first 64 KiB) */
    json_t *json;           /* owned: the parsed 2xx body when expect_json; else NULL */
    char content_type[RAG_NET_HDR_SMALL];
    char request_id[RAG_NET_HDR_SMALL];        /* x-request-id */
    char provider[RAG_NET_HDR_SMALL];          /* x-inference-provider */
    char retry_after[RAG_NET_HDR_SMALL];       /* Retry-After */
    char ratelimit[RAG_NET_HDR_LARGE];         /* RateLimit */
    char ratelimit_policy[RAG_NET_HDR_LARGE];  /* RateLimit-Policy */
    char x_error_message[RAG_NET_HDR_LARGE];   /* X-Error-Message */
    char location[RAG_NET_HDR_LARGE];          /* Location (of an unfollowed redirect) */
    size_t bytes_received;  /* body bytes received (streamed or buffered) */
    size_t lines_delivered; /* lines passed to on_line */
    long num_connects;      /* new connections this attempt made (CURLINFO_NUM_CONNECTS) */
    double elapsed_ms;      /* wall time of the attempt */
    int curl_code;          /* CURLcode of the transfer; 0 = CURLE_OK */
    bool retryable;         /* the attempt failed in a way another attempt may fix */
    rag_net_error_info error; /* parsed error body / X-Error-Message of a non-2xx response */
} rag_net_response;

void rag_net_response_init(rag_net_response *r);
void rag_net_response_free(rag_net_response *r); /* NULL is a no-op */

/* ---- HTTP client: a pool of libcurl easy handles ---- */

typedef struct rag_http_params {
    const char *user_agent;      /* copied; NULL = "ragc/0.1.0" */
    double connect_timeout_ms;   /* cap on connection setup, ms (10000); never beyond the deadline */
    size_t max_body_bytes;       /* default response body cap, bytes (8 MiB) */
    size_t max_line_bytes;       /* default streamed line cap (1 MiB) */
    size_t max_stream_bytes;     /* default streamed body cap (64 MiB) */
    bool follow_redirects;       /* (false); when true at most 5, http(s) only */
    int max_idle_handles;        /* easy handles (each with its live connections) kept for reuse, 1..64 (8) */
} rag_http_params;

rag_http_params rag_http_default_params(void);

/* Threading: a rag_http_client is thread-safe. Each transfer takes an idle CURL easy handle from
 * the client's pool (or creates one) and returns it afterwards, most recently used first, so
 * sequential calls from one thread reuse the same handle and its kept-alive connections.
 * Concurrent transfers use different handles. TLS peer and host verification are always on.
 * libcurl's usual proxy environment variables (https_proxy, no_proxy, ...) apply. */
typedef struct rag_http_client rag_http_client;

/* p may be NULL (defaults). *out: caller frees with rag_http_client_free. */
rag_status rag_http_client_create(const rag_http_params *p, rag_http_client **out, rag_err *err);
/* NULL is a no-op; no transfer may be running. */
void rag_http_client_free(rag_http_client *c);

/* One HTTP attempt, no policy: timeout_ms (> 0) bounds the whole transfer, req->deadline_ms is
 * ignored. Fills resp (call rag_net_response_init first; it is reset here). Returns the attempt's
 * status: RAG_OK for a 2xx (and valid JSON when expect_json), the rag_net_status_from_http status
 * of an error response (resp->body holds its first 64 KiB, resp->error what it says; err names
 * method, URL without query string, status and message), RAG_E_TIMEOUT, RAG_E_IO (network),
 * RAG_E_UPSTREAM (truncated body, malformed JSON), RAG_E_TOO_LARGE, RAG_E_CANCELLED, or the
 * status an on_line/on_end callback returned. resp->retryable tells whether a retry may help. */
rag_status rag_http_perform(rag_http_client *c, const rag_net_request *req, double timeout_ms,
                            rag_net_response *resp, rag_err *err);

/* Totals since creation (thread-safe reads). */
typedef struct rag_http_stats {
    unsigned long transfers;   /* rag_http_perform calls that reached libcurl */
    unsigned long connections; /* new connections opened (sum of CURLINFO_NUM_CONNECTS) */
    int handles;               /* easy handles alive (in use + idle) */
} rag_http_stats;
void rag_http_client_stats(rag_http_client *c, rag_http_stats *out);

/* ---- the combined call ---- */

#define RAG_NET_MAX_SLEEPS 16

/* What a rag_net_call did: filled on success and on failure. */
typedef struct rag_net_outcome {
    rag_status status;          /* final status (== the return value) */
    int http_status;            /* HTTP status of the last attempt; 0 = none */
    int attempts;               /* HTTP attempts made; 0 when refused before the first */
    int retries;                /* attempts after the first */
    double total_ms;            /* wall time of the call on the client's clock, waits included */
    double slept_ms;            /* total backoff sleep between attempts */
    double sleeps_ms[RAG_NET_MAX_SLEEPS]; /* each backoff sleep, in order */
    int n_sleeps;
    double limiter_wait_ms;     /* time waited for rate-limiter tokens */
    bool deadline_cut;          /* stopped because the next wait would reach the deadline */
    bool breaker_refused;       /* RAG_E_CIRCUIT_OPEN: no attempt made */
    rag_net_breaker_state breaker_state; /* state of the (backend, model) breaker after the call */
    long connections;           /* new connections opened over all attempts */
    size_t bytes_received;      /* body bytes of the last attempt */
    char request_id[RAG_NET_HDR_SMALL]; /* x-request-id of the last response ("" if none) */
    char provider[RAG_NET_HDR_SMALL];   /* x-inference-provider of the last response ("" if none) */
    char message[RAG_ERR_MSG_MAX];      /* redacted one-line error ("" on success) */
    rag_net_error_info error;   /* parsed error body of the last error response */
} rag_net_outcome;

typedef enum rag_net_event_kind {
    RAG_NET_EVENT_ATTEMPT = 0, /* after every HTTP attempt */
    RAG_NET_EVENT_FINAL        /* once per call, after the outcome is complete (also when refused) */
} rag_net_event_kind;

/* Passed to the hook; every pointer is borrowed, valid only during the hook. */
typedef struct rag_net_event {
    rag_net_event_kind kind;
    const char *backend;             /* never NULL */
    const char *model;               /* never NULL */
    const rag_net_request *req;
    const rag_net_response *resp;    /* the attempt's response (for FINAL: the last one) */
    const rag_net_outcome *outcome;  /* running totals for ATTEMPT, final for FINAL */
    int attempt;                     /* 1-based attempt number (FINAL: attempts made) */
    rag_status attempt_status;       /* ATTEMPT: that attempt's status; FINAL: the final status */
    double attempt_ms;               /* ATTEMPT: wall time of the attempt */
} rag_net_event;

/* Metrics / cost-accounting hook. Called on the calling thread; must be thread-safe when the
 * client is shared; must not call back into the same client. */
typedef void (*rag_net_hook_fn)(void *ud, const rag_net_event *ev);

typedef struct rag_net_client_params {
    rag_http_params http;
    rag_net_retry_params retry;     /* default retry policy of requests */
    rag_net_breaker_params breaker; /* every (backend, model) breaker */
    int max_concurrent_requests;    /* HTTP attempts in flight over the client, 0 = unlimited (16) */
    double default_timeout_ms;      /* deadline of a request without one, ms (30000) */
    rag_net_timer timer;            /* clock and sleeper (rag_net_default_timer()); copied */
    double (*rand01)(void *ud);     /* jitter source in [0,1); NULL = internal PRNG */
    void *rand_ud;
    rag_net_hook_fn hook;           /* optional */
    void *hook_ud;                  /* borrowed, must outlive the client */
} rag_net_client_params;

rag_net_client_params rag_net_client_default_params(void);

/* Thread-safe: one client is meant to be shared by every remote backend of a process. */
typedef struct rag_net_client rag_net_client;

/* p may be NULL (defaults). *out: caller frees with rag_net_client_free. Bad params -> RAG_E_CONFIG. */
rag_status rag_net_client_create(const rag_net_client_params *p, rag_net_client **out, rag_err *err);
void rag_net_client_free(rag_net_client *c); /* NULL is a no-op; no call may be running */

/* Sets (or replaces) the token bucket of a backend: rate_per_s tokens per second, burst tokens.
 * Every HTTP attempt to that backend takes a token. backend: copied. */
rag_status rag_net_client_set_rate_limit(rag_net_client *c, const char *backend, double rate_per_s,
                                         double burst, rag_err *err);

/* State of the (backend, model) breaker, or -1 if no call has created it yet. */
int rag_net_client_breaker_state(rag_net_client *c, const char *backend, const char *model);

/* Receives one breaker of a client: backend, model and t borrowed, valid during the call. */
typedef void (*rag_net_breaker_visit_fn)(void *ud, const char *backend, const char *model,
                                         rag_net_breaker_state state, const rag_net_breaker_transitions *t);
/* Calls fn once per (backend, model) breaker the client has created, in creation order, with
 * its current state and transition counts (for metrics). Holds the client's registry lock
 * meanwhile: fn must not call into c. NULL c or fn: no-op. */
void rag_net_client_breakers(rag_net_client *c, rag_net_breaker_visit_fn fn, void *ud);

/* The underlying HTTP client (borrowed, valid until rag_net_client_free). */
rag_http_client *rag_net_client_http(rag_net_client *c);

/* Makes the call with the whole policy. resp: initialised by the caller (rag_net_response_init),
 * reset here, then holds the last attempt's response (empty when no attempt was made); caller
 * frees with rag_net_response_free even on error. May be reused for the next call.
 * out (may be NULL) receives the outcome. Returns the final status; err gets a one-line,
 * redacted message naming backend, model, method + URL, HTTP status, the server's error text,
 * attempts and request id.
 * Retried: 408, 429, 500, 502, 503, 504, timeouts, network errors and truncated bodies; never
 * other statuses, JSON errors, caps, cancellation, or a stream that already delivered a line.
 * When the next wait would reach the deadline the call stops at once with the last attempt's
 * status (outcome.deadline_cut). Refused before any attempt: RAG_E_RATE_LIMITED (rate limiter,
 * deadline too close), RAG_E_CIRCUIT_OPEN (breaker), RAG_E_TIMEOUT (no concurrency slot before
 * the deadline or the deadline already passed), RAG_E_BAD_INPUT (bad request). */
rag_status rag_net_call(rag_net_client *c, const rag_net_request *req, rag_net_response *resp,
                        rag_net_outcome *out, rag_err *err);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_NET_H */
