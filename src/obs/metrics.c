/* Metrics registry: families of series keyed by label values, rendered as Prometheus text. */
#include "ragc/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double rag_metrics_default_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1,     2.5,  5,     10,   30};
const size_t rag_metrics_n_default_buckets =
    sizeof rag_metrics_default_buckets / sizeof rag_metrics_default_buckets[0];

typedef struct series {
    char **values;     /* n_labels owned strings */
    uint64_t hash;     /* of the joined values, to skip most string compares */
    double value;      /* counter/gauge value; histogram sum */
    uint64_t count;    /* histogram observations */
    uint64_t *buckets; /* histogram: n_buckets counts, NOT cumulative (bucket i: v <= bound i) */
} series;

struct rag_metric {
    rag_metrics_t *reg;
    rag_metric_type type;
    char *name;
    char *help;
    char **labels;   /* n_labels owned */
    size_t n_labels;
    double *bounds;  /* histogram: n_bounds upper bounds */
    size_t n_bounds;
    series *series;  /* n_series, in first-touch order */
    size_t n_series, cap_series;
};

struct rag_metrics {
    pthread_mutex_t mu;
    rag_metric_t **fams; /* n_fams, in registration order; owned */
    size_t n_fams, cap_fams;
};

rag_status rag_metrics_create(rag_metrics_t **out, rag_err *err)
{
    *out = NULL;
    rag_metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return rag_err_set(err, RAG_E_NOMEM, "metrics: out of memory");
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return rag_err_set(err, RAG_E_INTERNAL, "metrics: cannot create a mutex");
    }
    *out = m;
    return RAG_OK;
}

static void family_free(rag_metric_t *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_series; i++) {
        for (size_t j = 0; j < f->n_labels; j++)
            free(f->series[i].values[j]);
        free(f->series[i].values);
        free(f->series[i].buckets);
    }
    free(f->series);
    for (size_t j = 0; j < f->n_labels; j++)
        free(f->labels[j]);
    free(f->labels);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

void rag_metrics_free(rag_metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_fams; i++)
        family_free(m->fams[i]);
    free(m->fams);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static bool valid_name(const char *s, bool colon_ok)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
        bool digit = c >= '0' && c <= '9';
        if (!alpha && !(digit && i > 0))
            return false;
    }
    return true;
}

static rag_metric_t *find_locked(rag_metrics_t *m, const char *name)
{
    for (size_t i = 0; i < m->n_fams; i++)
        if (strcmp(m->fams[i]->name, name) == 0)
            return m->fams[i];
    return NULL;
}

rag_metric_t *rag_metrics_find(rag_metrics_t *m, const char *name)
{
    if (!m || !name)
        return NULL;
    pthread_mutex_lock(&m->mu);
    rag_metric_t *f = find_locked(m, name);
    pthread_mutex_unlock(&m->mu);
    return f;
}

/* True if f was registered with exactly this type and these label names (and bounds). */
static bool same_shape(const rag_metric_t *f, rag_metric_type type, const char *const *labels, size_t n,
                       const double *bounds, size_t nb)
{
    if (f->type != type || f->n_labels != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(f->labels[i], labels[i]) != 0)
            return false;
    if (type == RAG_METRIC_HISTOGRAM) {
        if (f->n_bounds != nb)
            return false;
        for (size_t i = 0; i < nb; i++)
            if (f->bounds[i] != bounds[i])
                return false;
    }
    return true;
}

static rag_status series_add_locked(rag_metric_t *f, const char *const *values, uint64_t hash, series **out);
static rag_status check_values(const rag_metric_t *f, const char *const *values, uint64_t *hash);

static rag_status do_register(rag_metrics_t *m, rag_metric_type type, const char *name, const char *help,
                              const char *const *labels, size_t n_labels, const double *bounds, size_t nb,
                              rag_metric_t **out, rag_err *err)
{
    if (out)
        *out = NULL;
    if (!m)
        return rag_err_set(err, RAG_E_BAD_INPUT, "metrics: no registry");
    if (!valid_name(name, true))
        return rag_err_set(err, RAG_E_BAD_INPUT, "metrics: invalid metric name '%s'", name ? name : "(null)");
    if (!help || strlen(help) > RAG_METRICS_MAX_HELP || !rag_utf8_valid(help, strlen(help), NULL))
        return rag_err_set(err, RAG_E_BAD_INPUT, "metrics: %s: help must be valid UTF-8 of at most %d bytes",
                           name, RAG_METRICS_MAX_HELP);
    if (n_labels > RAG_METRICS_MAX_LABELS || (n_labels && !labels))
        return rag_err_set(err, RAG_E_BAD_INPUT, "metrics: %s: at most %d label names", name,
                           RAG_METRICS_MAX_LABELS);
    for (size_t i = 0; i < n_labels; i++) {
        if (!valid_name(labels[i], false) || strncmp(labels[i], "__", 2) == 0 ||
            (type == RAG_METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0))
            return rag_err_set(err, RAG_E_BAD_INPUT, "metrics: %s: invalid label name '%s'", name,
                               labels[i] ? labels[i] : "(null)");
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0)
                return rag_err_set(err, RAG_E_BAD_INPUT, "metrics: %s: label '%s' given twice", name, labels[i]);
    }
    if (type == RAG_METRIC_HISTOGRAM) {
        if (!bounds && nb == 0) {
            bounds = rag_metrics_default_buckets;
            nb = rag_metrics_n_default_buckets;
        }
        if (nb == 0 || nb > RAG_METRICS_MAX_BUCKETS || !bounds)
            return rag_err_set(err, RAG_E_BAD_INPUT, "metrics: %s: a histogram needs 1..%d buckets", name,
                               RAG_METRICS_MAX_BUCKETS);
        for (size_t i = 0; i < nb; i++)
            if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
                return rag_err_set(err, RAG_E_BAD_INPUT,
                                   "metrics: %s: bucket bounds must be finite and strictly increasing", name);
    }

    pthread_mutex_lock(&m->mu);
    rag_status st = RAG_OK;
    rag_metric_t *f = find_locked(m, name);
    if (f) {
        if (!same_shape(f, type, labels, n_labels, bounds, nb))
            st = rag_err_set(err, RAG_E_BAD_INPUT,
                             "metrics: %s is already registered with another type or label names", name);
        else if (out)
            *out = f;
        pthread_mutex_unlock(&m->mu);
        return st;
    }
    if (m->n_fams == m->cap_fams) {
        size_t cap = m->cap_fams ? m->cap_fams * 2 : 16;
        rag_metric_t **p = realloc(m->fams, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&m->mu);
            return rag_err_set(err, RAG_E_NOMEM, "metrics: out of memory");
        }
        m->fams = p;
        m->cap_fams = cap;
    }
    f = calloc(1, sizeof *f);
    st = f ? RAG_OK : RAG_E_NOMEM;
    if (st == RAG_OK) {
        f->reg = m;
        f->type = type;
        f->name = rag_strdup(name);
        f->help = rag_strdup(help);
        f->n_labels = n_labels;
        f->labels = calloc(n_labels ? n_labels : 1, sizeof *f->labels);
        if (!f->name || !f->help || !f->labels)
            st = RAG_E_NOMEM;
        for (size_t i = 0; st == RAG_OK && i < n_labels; i++)
            if (!(f->labels[i] = rag_strdup(labels[i])))
                st = RAG_E_NOMEM;
        if (st == RAG_OK && type == RAG_METRIC_HISTOGRAM) {
            f->bounds = malloc(nb * sizeof *f->bounds);
            if (!f->bounds)
                st = RAG_E_NOMEM;
            else {
                memcpy(f->bounds, bounds, nb * sizeof *bounds);
                f->n_bounds = nb;
            }
        }
        series *unused;
        uint64_t hash;
        if (st == RAG_OK && n_labels == 0 && (st = check_values(f, NULL, &hash)) == RAG_OK)
            st = series_add_locked(f, NULL, hash, &unused);
    }
    if (st != RAG_OK) {
        family_free(f);
        pthread_mutex_unlock(&m->mu);
        return rag_err_set(err, st, "metrics: out of memory");
    }
    m->fams[m->n_fams++] = f;
    if (out)
        *out = f;
    pthread_mutex_unlock(&m->mu);
    return RAG_OK;
}

rag_status rag_metrics_counter(rag_metrics_t *m, const char *name, const char *help, const char *const *labels,
                               size_t n_labels, rag_metric_t **out, rag_err *err)
{
    return do_register(m, RAG_METRIC_COUNTER, name, help, labels, n_labels, NULL, 0, out, err);
}

rag_status rag_metrics_gauge(rag_metrics_t *m, const char *name, const char *help, const char *const *labels,
                             size_t n_labels, rag_metric_t **out, rag_err *err)
{
    return do_register(m, RAG_METRIC_GAUGE, name, help, labels, n_labels, NULL, 0, out, err);
}

rag_status rag_metrics_histogram(rag_metrics_t *m, const char *name, const char *help, const char *const *labels,
                                 size_t n_labels, const double *buckets, size_t n_buckets, rag_metric_t **out,
                                 rag_err *err)
{
    return do_register(m, RAG_METRIC_HISTOGRAM, name, help, labels, n_labels, buckets, n_buckets, out, err);
}

/* ---- series ---- */

static rag_status check_values(const rag_metric_t *f, const char *const *values, uint64_t *hash)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    if (f->n_labels && !values)
        return RAG_E_BAD_INPUT;
    for (size_t i = 0; i < f->n_labels; i++) {
        if (!values[i])
            return RAG_E_BAD_INPUT;
        size_t n = strlen(values[i]);
        if (n > RAG_METRICS_MAX_LABEL_VALUE)
            return RAG_E_TOO_LARGE;
        if (!rag_utf8_valid(values[i], n, NULL))
            return RAG_E_BAD_INPUT;
        h = (h ^ rag_hash64(values[i], n)) * 0x100000001b3ull;
    }
    *hash = h;
    return RAG_OK;
}

static series *series_find_locked(rag_metric_t *f, const char *const *values, uint64_t hash)
{
    for (size_t i = 0; i < f->n_series; i++) {
        series *s = &f->series[i];
        if (s->hash != hash)
            continue;
        size_t j = 0;
        while (j < f->n_labels && strcmp(s->values[j], values[j]) == 0)
            j++;
        if (j == f->n_labels)
            return s;
    }
    return NULL;
}

static rag_status series_add_locked(rag_metric_t *f, const char *const *values, uint64_t hash, series **out)
{
    if (f->n_series >= RAG_METRICS_MAX_SERIES)
        return RAG_E_TOO_LARGE;
    if (f->n_series == f->cap_series) {
        size_t cap = f->cap_series ? f->cap_series * 2 : 4;
        series *p = realloc(f->series, cap * sizeof *p);
        if (!p)
            return RAG_E_NOMEM;
        f->series = p;
        f->cap_series = cap;
    }
    series s;
    memset(&s, 0, sizeof s);
    s.hash = hash;
    s.values = calloc(f->n_labels ? f->n_labels : 1, sizeof *s.values);
    if (!s.values)
        return RAG_E_NOMEM;
    for (size_t j = 0; j < f->n_labels; j++) {
        if (!(s.values[j] = rag_strdup(values[j]))) {
            for (size_t k = 0; k < j; k++)
                free(s.values[k]);
            free(s.values);
            return RAG_E_NOMEM;
        }
    }
    if (f->type == RAG_METRIC_HISTOGRAM) {
        s.buckets = calloc(f->n_bounds, sizeof *s.buckets);
        if (!s.buckets) {
            for (size_t j = 0; j < f->n_labels; j++)
                free(s.values[j]);
            free(s.values);
            return RAG_E_NOMEM;
        }
    }
    f->series[f->n_series] = s;
    *out = &f->series[f->n_series++];
    return RAG_OK;
}

typedef enum { OP_INC, OP_SET, OP_RAISE, OP_OBSERVE, OP_TOUCH } op_kind;

static rag_status update(rag_metric_t *f, const char *const *values, op_kind op, double v)
{
    if (!f)
        return RAG_E_BAD_INPUT;
    switch (op) {
    case OP_INC:
        if (f->type == RAG_METRIC_HISTOGRAM || isnan(v) || (f->type == RAG_METRIC_COUNTER && v < 0))
            return RAG_E_BAD_INPUT;
        break;
    case OP_SET:
        if (f->type != RAG_METRIC_GAUGE)
            return RAG_E_BAD_INPUT;
        break;
    case OP_RAISE:
        if (f->type != RAG_METRIC_COUNTER || isnan(v))
            return RAG_E_BAD_INPUT;
        break;
    case OP_OBSERVE:
        if (f->type != RAG_METRIC_HISTOGRAM || isnan(v))
            return RAG_E_BAD_INPUT;
        break;
    case OP_TOUCH: break;
    }
    uint64_t hash;
    rag_status st = check_values(f, values, &hash);
    if (st != RAG_OK)
        return st;
    pthread_mutex_lock(&f->reg->mu);
    series *s = series_find_locked(f, values, hash);
    if (!s)
        st = series_add_locked(f, values, hash, &s);
    if (st == RAG_OK) {
        switch (op) {
        case OP_INC: s->value += v; break;
        case OP_SET: s->value = v; break;
        case OP_RAISE:
            if (v > s->value)
                s->value = v;
            break;
        case OP_OBSERVE:
            s->value += v;
            s->count++;
            for (size_t i = 0; i < f->n_bounds; i++)
                if (v <= f->bounds[i]) {
                    s->buckets[i]++;
                    break;
                }
            break;
        case OP_TOUCH: break;
        }
    }
    pthread_mutex_unlock(&f->reg->mu);
    return st;
}

rag_status rag_metrics_inc(rag_metric_t *f, const char *const *values, double delta)
{
    return update(f, values, OP_INC, delta);
}

rag_status rag_metrics_set(rag_metric_t *f, const char *const *values, double v)
{
    return update(f, values, OP_SET, v);
}

rag_status rag_metrics_raise(rag_metric_t *f, const char *const *values, double v)
{
    return update(f, values, OP_RAISE, v);
}

rag_status rag_metrics_observe(rag_metric_t *f, const char *const *values, double v)
{
    return update(f, values, OP_OBSERVE, v);
}

rag_status rag_metrics_touch(rag_metric_t *f, const char *const *values)
{
    return update(f, values, OP_TOUCH, 0);
}

rag_status rag_metrics_get(rag_metric_t *f, const char *const *values, double *value, uint64_t *count)
{
    if (!f || !value)
        return RAG_E_BAD_INPUT;
    uint64_t hash;
    rag_status st = check_values(f, values, &hash);
    if (st != RAG_OK)
        return st;
    pthread_mutex_lock(&f->reg->mu);
    series *s = series_find_locked(f, values, hash);
    if (s) {
        *value = s->value;
        if (count)
            *count = s->count;
    }
    pthread_mutex_unlock(&f->reg->mu);
    return s ? RAG_OK : RAG_E_NOT_FOUND;
}

/* ---- rendering ---- */

const char *rag_metrics_format_value(double v, char *buf, size_t cap)
{
    if (isnan(v))
        snprintf(buf, cap, "NaN");
    else if (isinf(v))
        snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
    else {
        snprintf(buf, cap, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, cap, "%.17g", v);
    }
    return buf;
}

/* Appends s with the given characters escaped: \ always, newline as \n, " if quote. */
static rag_status append_escaped(rag_buf *out, const char *s, bool quote)
{
    rag_status st = RAG_OK;
    for (; *s && st == RAG_OK; s++) {
        if (*s == '\\')
            st = rag_buf_append(out, "\\\\", 2);
        else if (*s == '\n')
            st = rag_buf_append(out, "\\n", 2);
        else if (quote && *s == '"')
            st = rag_buf_append(out, "\\\"", 2);
        else
            st = rag_buf_append_char(out, *s);
    }
    return st;
}

/* Appends {l1="v1",...[,le="bound"]} (nothing when there are no labels and no le). */
static rag_status append_labels(rag_buf *out, const rag_metric_t *f, const series *s, const char *le)
{
    if (f->n_labels == 0 && !le)
        return RAG_OK;
    rag_status st = rag_buf_append_char(out, '{');
    for (size_t i = 0; st == RAG_OK && i < f->n_labels; i++) {
        st = rag_buf_appendf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
        if (st == RAG_OK)
            st = append_escaped(out, s->values[i], true);
        if (st == RAG_OK)
            st = rag_buf_append_char(out, '"');
    }
    if (st == RAG_OK && le)
        st = rag_buf_appendf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    if (st == RAG_OK)
        st = rag_buf_append_char(out, '}');
    return st;
}

static rag_status render_family(rag_buf *out, const rag_metric_t *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    char num[64], le[64];
    rag_status st = rag_buf_appendf(out, "# HELP %s ", f->name);
    if (st == RAG_OK)
        st = append_escaped(out, f->help, false);
    if (st == RAG_OK)
        st = rag_buf_appendf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    for (size_t i = 0; st == RAG_OK && i < f->n_series; i++) {
        const series *s = &f->series[i];
        if (f->type != RAG_METRIC_HISTOGRAM) {
            st = rag_buf_append_str(out, f->name);
            if (st == RAG_OK)
                st = append_labels(out, f, s, NULL);
            if (st == RAG_OK)
                st = rag_buf_appendf(out, " %s\n", rag_metrics_format_value(s->value, num, sizeof num));
            continue;
        }
        uint64_t cum = 0;
        for (size_t b = 0; st == RAG_OK && b <= f->n_bounds; b++) {
            if (b < f->n_bounds) {
                cum += s->buckets[b];
                rag_metrics_format_value(f->bounds[b], le, sizeof le);
            } else {
                cum = s->count;
                snprintf(le, sizeof le, "+Inf");
            }
            st = rag_buf_appendf(out, "%s_bucket", f->name);
            if (st == RAG_OK)
                st = append_labels(out, f, s, le);
            if (st == RAG_OK)
                st = rag_buf_appendf(out, " %llu\n", (unsigned long long)cum);
        }
        if (st == RAG_OK)
            st = rag_buf_appendf(out, "%s_sum", f->name);
        if (st == RAG_OK)
            st = append_labels(out, f, s, NULL);
        if (st == RAG_OK)
            st = rag_buf_appendf(out, " %s\n%s_count", rag_metrics_format_value(s->value, num, sizeof num), f->name);
        if (st == RAG_OK)
            st = append_labels(out, f, s, NULL);
        if (st == RAG_OK)
            st = rag_buf_appendf(out, " %llu\n", (unsigned long long)s->count);
    }
    return st;
}

rag_status rag_metrics_render(rag_metrics_t *m, rag_buf *out)
{
    if (!m || !out)
        return RAG_E_BAD_INPUT;
    pthread_mutex_lock(&m->mu);
    rag_status st = RAG_OK;
    for (size_t i = 0; st == RAG_OK && i < m->n_fams; i++)
        st = render_family(out, m->fams[i]);
    pthread_mutex_unlock(&m->mu);
    return st;
}
