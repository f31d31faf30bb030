/* ragc metrics: a thread-safe registry of counters, gauges and histograms with label sets,
 * rendered in the Prometheus text exposition format 0.0.4.
 *
 * A registry owns its families; a family (rag_metric_t) owns its series, one per distinct
 * tuple of label values. Every operation locks the registry, so any thread may update any
 * family while another renders. Families render in registration order, series in the order
 * they were first touched. Family names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* (not starting with "__"; "le" is reserved for histograms).
 *
 * Untrusted label values are capped: at most RAG_METRICS_MAX_LABEL_VALUE bytes of valid UTF-8,
 * and a family holds at most RAG_METRICS_MAX_SERIES series (RAG_E_TOO_LARGE beyond), so a
 * caller that labels by request data cannot grow the registry without bound.
 */
#ifndef RAGC_METRICS_H
#define RAGC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RAG_METRICS_MAX_LABELS 8          /* label names per family */
#define RAG_METRICS_MAX_BUCKETS 64        /* histogram upper bounds (besides +Inf) */
#define RAG_METRICS_MAX_SERIES 4096       /* label-value tuples per family */
#define RAG_METRICS_MAX_LABEL_VALUE 256   /* bytes of one label value */
#define RAG_METRICS_MAX_HELP 1024         /* bytes of a family's help text */

typedef struct rag_metrics rag_metrics_t; /* the registry */
typedef struct rag_metric rag_metric_t;   /* one family, owned by its registry */

typedef enum rag_metric_type {
    RAG_METRIC_COUNTER = 0, /* monotonically increasing; rendered as TYPE counter */
    RAG_METRIC_GAUGE,       /* any value; TYPE gauge */
    RAG_METRIC_HISTOGRAM    /* cumulative buckets + _sum + _count; TYPE histogram */
} rag_metric_type;

/* Default histogram upper bounds, in seconds, for latencies: 0.001 .. 30 (14 bounds). */
extern const double rag_metrics_default_buckets[];
extern const size_t rag_metrics_n_default_buckets;

/* Creates an empty registry. Caller frees with rag_metrics_free. */
rag_status rag_metrics_create(rag_metrics_t **out, rag_err *err);
/* Frees the registry and every family in it. NULL is a no-op. */
void rag_metrics_free(rag_metrics_t *m);

/* Registers a family. name, help, labels[0..n_labels): copies. *out (may be NULL): borrowed,
 * valid until rag_metrics_free. A family without labels has its one series from the start
 * (value 0), so it renders before its first update. Registering a name again with the same type
 * and label names returns the existing family; a different type or labels -> RAG_E_BAD_INPUT.
 * Errors: RAG_E_BAD_INPUT naming the bad name/label/help, RAG_E_NOMEM. */
rag_status rag_metrics_counter(rag_metrics_t *m, const char *name, const char *help,
                               const char *const *labels, size_t n_labels, rag_metric_t **out,
                               rag_err *err);
rag_status rag_metrics_gauge(rag_metrics_t *m, const char *name, const char *help,
                             const char *const *labels, size_t n_labels, rag_metric_t **out,
                             rag_err *err);
/* buckets[0..n_buckets): finite, strictly increasing upper bounds (copies); NULL with
 * n_buckets 0 = rag_metrics_default_buckets. The +Inf bucket is implicit. */
rag_status rag_metrics_histogram(rag_metrics_t *m, const char *name, const char *help,
                                 const char *const *labels, size_t n_labels,
                                 const double *buckets, size_t n_buckets, rag_metric_t **out,
                                 rag_err *err);

/* The family registered under name, or NULL. Borrowed, valid until rag_metrics_free. */
rag_metric_t *rag_metrics_find(rag_metrics_t *m, const char *name);

/* Updates take values[0..n_labels): the label values in the family's label order (borrowed for
 * the call; NULL when the family has no labels). The series is created on first use.
 * Errors: RAG_E_BAD_INPUT (wrong family type, NULL or invalid UTF-8 value, negative or NaN
 * counter delta, NaN observation), RAG_E_TOO_LARGE (value too long, too many series),
 * RAG_E_NOMEM. f == NULL -> RAG_E_BAD_INPUT. */
/* Counter or gauge: adds delta (a counter's delta must be >= 0). */
rag_status rag_metrics_inc(rag_metric_t *f, const char *const *values, double delta);
/* Gauge: sets the value. */
rag_status rag_metrics_set(rag_metric_t *f, const char *const *values, double v);
/* Counter: raises the value to v when v is larger, else leaves it (a counter mirrored from a
 * monotonic total read at scrape time; concurrent scrapes cannot double-count). NaN or a
 * non-counter family -> RAG_E_BAD_INPUT. */
rag_status rag_metrics_raise(rag_metric_t *f, const char *const *values, double v);
/* Histogram: records one observation of v. */
rag_status rag_metrics_observe(rag_metric_t *f, const char *const *values, double v);
/* Any type: creates the series at zero if it does not exist, so it renders before first use. */
rag_status rag_metrics_touch(rag_metric_t *f, const char *const *values);
/* Reads a series: *value = counter/gauge value or histogram sum; *count (may be NULL) =
 * histogram observations (0 for counters and gauges). Absent series -> RAG_E_NOT_FOUND. */
rag_status rag_metrics_get(rag_metric_t *f, const char *const *values, double *value,
                           uint64_t *count);

/* Appends the whole registry in Prometheus text format 0.0.4 to out:
 *   # HELP <name> <help, with \ and newline escaped>
 *   # TYPE <name> counter|gauge|histogram
 *   <name>{l1="v1",l2="v2"} <value>            (no braces without labels)
 * histograms: <name>_bucket{...,le="<bound>"} cumulative counts ending with le="+Inf", then
 * <name>_sum{...} and <name>_count{...}. Label values escape \ " and newline. Numbers use the
 * shortest of %.15g / %.17g that reads back exactly; +Inf, -Inf, NaN spelled so.
 * Errors: RAG_E_TOO_LARGE / RAG_E_NOMEM from the buffer (out then holds a partial rendering). */
rag_status rag_metrics_render(rag_metrics_t *m, rag_buf *out);

/* Formats v as the renderer does into buf[cap] (cap >= 32). Returns buf. */
const char *rag_metrics_format_value(double v, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_METRICS_H */
