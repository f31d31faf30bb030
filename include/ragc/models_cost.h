/* ragc models: cost accounting and budgets.
 *
 * - rag_budget_t: the month's spend (persisted in <data_dir>/usage.json, written atomically by
 *   tmp file + rename) and the per-request / monthly caps of global_settings; a window of the
 *   last RAG_BUDGET_WINDOW remote calls for the error-rate and latency alerts. Thread-safe.
 * - rag_price_catalog_t: the HF router's GET {base}/v1/models catalogue, fetched once per base URL
 *   through rag_net_call and cached in memory, to price routed chat calls. Thread-safe.
 *
 * Money is in USD (double); prices are USD per 1,000,000 tokens ("per mtok") or USD per call.
 */
#ifndef RAGC_MODELS_COST_H
#define RAGC_MODELS_COST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "ragc/core.h"
#include "ragc/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- pricing ---- */

/* USD of a call: tokens_in * in_per_mtok / 1e6 + tokens_out * out_per_mtok / 1e6. Negative
 * prices or token counts count as 0. */
double rag_cost_tokens(int64_t tokens_in, int64_t tokens_out, double in_per_mtok, double out_per_mtok);

/* Finds the price of model in a /v1/models catalogue document (borrowed): the entry whose "id"
 * equals model without its ":suffix"; among its providers, the one named provider (may be NULL or
 * "") if it is listed, else the cheapest provider whose status is "live" (by input + output
 * price). *in_per_mtok / *out_per_mtok receive the price; provider_used (may be NULL, cap bytes)
 * the provider whose price was taken. RAG_E_NOT_FOUND (with a message naming the model) when the
 * model or a priced live provider is missing; RAG_E_UPSTREAM when doc is not a catalogue. */
rag_status rag_price_from_catalog(const json_t *doc, const char *model, const char *provider, double *in_per_mtok,
                                  double *out_per_mtok, char *provider_used, size_t cap, rag_err *err);

typedef struct rag_price_catalog rag_price_catalog;

/* *out: caller frees with rag_price_catalog_free. */
rag_status rag_price_catalog_create(rag_price_catalog **out, rag_err *err);
void rag_price_catalog_free(rag_price_catalog *c); /* NULL is a no-op */

/* Stores doc (copied: json_deep_copy) as the catalogue of base_url (copied), replacing any.
 * For tests and offline use; lookups then never fetch for that base. */
rag_status rag_price_catalog_put(rag_price_catalog *c, const char *base_url, const json_t *doc, rag_err *err);

/* Prices model/provider from the catalogue of base_url (no trailing '/'). The first lookup of a
 * base fetches GET {base_url}/v1/models with net (borrowed) before deadline_ms (absolute, on the
 * net client's clock; 0 = the client's default timeout), without any Authorization header (the
 * catalogue is public), through rag_net_call with backend "catalog"; the document is kept for the
 * life of the catalogue. A failed fetch is not repeated for 300 s (lookups fail fast meanwhile).
 * Concurrent first lookups wait for one fetch. Returns as rag_price_from_catalog, or the fetch's
 * status. *fetched (may be NULL) is set to true when this call made the HTTP request. */
rag_status rag_price_catalog_lookup(rag_price_catalog *c, rag_net_client *net, const char *base_url,
                                    double deadline_ms, const char *model, const char *provider,
                                    double *in_per_mtok, double *out_per_mtok, char *provider_used, size_t cap,
                                    bool *fetched, rag_err *err);

/* ---- budget tracker ---- */

#define RAG_BUDGET_WINDOW 50        /* calls in the error-rate / latency window */
#define RAG_BUDGET_MIN_CALLS 10     /* calls in the window before rate / latency alerts can fire */
#define RAG_BUDGET_ERROR_RATE 0.20  /* alert when the window's error rate exceeds this */
#define RAG_BUDGET_P95_MS 10000.0   /* alert when the window's p95 latency exceeds this */

/* Alert bits (rag_budget_snapshot.alerts): set while the condition holds. */
enum {
    RAG_BUDGET_ALERT_50 = 1,          /* month's spend >= 50 % of monthly_budget_usd */
    RAG_BUDGET_ALERT_80 = 2,          /* >= 80 % */
    RAG_BUDGET_ALERT_100 = 4,         /* >= 100 % */
    RAG_BUDGET_ALERT_ERROR_RATE = 8,  /* error rate of the window > RAG_BUDGET_ERROR_RATE */
    RAG_BUDGET_ALERT_LATENCY = 16     /* p95 latency of the window > RAG_BUDGET_P95_MS */
};

typedef struct rag_budget_params {
    double monthly_budget_usd; /* cap on the calendar month's (UTC) spend, >= 0; 0 = no limit */
    double request_budget_usd; /* cap on one request's spend, >= 0; 0 = no limit */
    const char *data_dir;      /* copied; usage.json lives here (created if missing, one level);
                                  NULL or "" = nothing persisted */
    time_t (*wall_now)(void *ud); /* wall clock in seconds since the epoch (month key); NULL = time(NULL) */
    void *wall_ud;             /* borrowed, passed to wall_now */
} rag_budget_params;

/* {0, 0, NULL, NULL, NULL}. */
rag_budget_params rag_budget_default_params(void);

typedef struct rag_budget rag_budget_t;

/* Loads <data_dir>/usage.json when it exists: {"month":"YYYY-MM","spent_usd":x,"calls":n}; a
 * different month starts at 0. A file that is not that shape -> RAG_E_BAD_INPUT naming the file
 * and the reason (never silently reset: it would lift the cap). Negative or non-finite budgets
 * -> RAG_E_CONFIG. Thresholds already crossed by the loaded spend are not logged again.
 * *out: caller frees with rag_budget_free. */
rag_status rag_budget_create(const rag_budget_params *p, rag_budget_t **out, rag_err *err);
void rag_budget_free(rag_budget_t *b); /* NULL is a no-op */

/* Before a remote call: RAG_E_BUDGET (message naming which budget, its limit and the spend) if
 * the month's spend has reached monthly_budget_usd or request_spent_usd has reached
 * request_budget_usd; else RAG_OK. b NULL = RAG_OK. */
rag_status rag_budget_check(rag_budget_t *b, double request_spent_usd, rag_err *err);

/* After a remote call (one rag_net_call that made at least one attempt): adds it to the window
 * (failed = its final status was an error other than cancellation; ms = its wall time), counts it
 * in the month's calls, adds cost_usd (>= 0) to the month's spend, persists usage.json, and logs
 * (rag_log warn) each alert the first time its condition becomes true (again after it cleared).
 * A failed write is logged, not returned. b NULL = no-op. */
void rag_budget_record(rag_budget_t *b, bool failed, double ms, double cost_usd);

typedef struct rag_budget_snapshot {
    char month[8];             /* "YYYY-MM" (UTC) */
    double spent_usd;          /* month's spend */
    unsigned long calls;       /* month's remote calls */
    double monthly_budget_usd; /* as configured (0 = none) */
    double request_budget_usd;
    size_t window_calls;       /* calls in the window (<= RAG_BUDGET_WINDOW) */
    double error_rate;         /* failed / window_calls; 0 when empty */
    double p95_ms;             /* 95th percentile of the window's latencies; 0 when empty */
    unsigned alerts;           /* RAG_BUDGET_ALERT_* bits currently set */
    unsigned long alerts_logged; /* alert log lines written since creation */
} rag_budget_snapshot;

/* Copies the current state (after rolling over to the current month). b NULL = zeros. */
void rag_budget_get(rag_budget_t *b, rag_budget_snapshot *out);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_MODELS_COST_H */
