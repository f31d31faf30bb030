/* Cost accounting: token pricing, the HF router price catalogue, and the budget tracker with its
 * persisted month spend (usage.json) and alert thresholds. */
#include "models/models_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USAGE_FILE "usage.json"
#define USAGE_MAX_BYTES (64 * 1024)
#define CATALOG_RETRY_MS 300000.0
#define CATALOG_MAX_BYTES (16u << 20)

double rag_cost_tokens(int64_t tokens_in, int64_t tokens_out, double in_per_mtok, double out_per_mtok)
{
    double c = 0;
    if (tokens_in > 0 && in_per_mtok > 0 && isfinite(in_per_mtok))
        c += (double)tokens_in * in_per_mtok / 1e6;
    if (tokens_out > 0 && out_per_mtok > 0 && isfinite(out_per_mtok))
        c += (double)tokens_out * out_per_mtok / 1e6;
    return c;
}

/* ---- catalogue pricing ---- */

static bool provider_price(const json_t *p, double *in, double *out)
{
    const json_t *pr = json_object_get(p, "pricing");
    const json_t *i = json_object_get(pr, "input"), *o = json_object_get(pr, "output");
    if (!json_is_number(i) || !json_is_number(o))
        return false;
    *in = json_number_value(i);
    *out = json_number_value(o);
    return isfinite(*in) && isfinite(*out) && *in >= 0 && *out >= 0;
}

rag_status rag_price_from_catalog(const json_t *doc, const char *model, const char *provider, double *in_per_mtok,
                                  double *out_per_mtok, char *provider_used, size_t cap, rag_err *err)
{
    if (!model || !in_per_mtok || !out_per_mtok)
        return rag_err_set(err, RAG_E_BAD_INPUT, "price lookup: NULL model or output");
    const json_t *data = json_object_get(doc, "data");
    if (!json_is_array(data))
        return rag_err_set(err, RAG_E_UPSTREAM, "price catalogue has no \"data\" array");
    size_t ml = strcspn(model, ":");
    const json_t *entry = NULL;
    for (size_t i = 0; i < json_array_size(data) && !entry; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(data, i), "id"));
        if (id && strlen(id) == ml && !strncmp(id, model, ml))
            entry = json_array_get(data, i);
    }
    if (!entry)
        return rag_err_set(err, RAG_E_NOT_FOUND, "price catalogue lists no model '%.*s'", (int)(ml > 200 ? 200 : ml),
                           model);
    const json_t *provs = json_object_get(entry, "providers");
    const json_t *best = NULL;
    double bi = 0, bo = 0;
    for (size_t i = 0; i < json_array_size(provs); i++) {
        const json_t *p = json_array_get(provs, i);
        const char *name = json_string_value(json_object_get(p, "provider"));
        double pi, po;
        if (!name || !provider_price(p, &pi, &po))
            continue;
        if (provider && *provider && !strcmp(name, provider)) { /* the provider that served */
            best = p;
            bi = pi;
            bo = po;
            break;
        }
        const char *status = json_string_value(json_object_get(p, "status"));
        if (status && strcmp(status, "live") != 0)
            continue;
        if (!best || pi + po < bi + bo) {
            best = p;
            bi = pi;
            bo = po;
        }
    }
    if (!best)
        return rag_err_set(err, RAG_E_NOT_FOUND, "price catalogue has no priced live provider for '%.*s'",
                           (int)(ml > 200 ? 200 : ml), model);
    *in_per_mtok = bi;
    *out_per_mtok = bo;
    if (provider_used && cap)
        snprintf(provider_used, cap, "%s", json_string_value(json_object_get(best, "provider")));
    return RAG_OK;
}

typedef struct catalog_entry {
    char *base;       /* owned */
    json_t *doc;      /* owned; NULL until fetched */
    double failed_at; /* rag_now_ms() of the last failed fetch; 0 = none */
} catalog_entry;

struct rag_price_catalog {
    pthread_mutex_t mu; /* guards entries; held during a fetch so concurrent lookups wait */
    catalog_entry *e;
    size_t n;
};

rag_status rag_price_catalog_create(rag_price_catalog **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "price catalogue: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return rag_err_set(err, RAG_E_NOMEM, "price catalogue: out of memory");
    if (pthread_mutex_init(&(*out)->mu, NULL) != 0) {
        free(*out);
        *out = NULL;
        return rag_err_set(err, RAG_E_INTERNAL, "price catalogue: pthread_mutex_init failed");
    }
    return RAG_OK;
}

void rag_price_catalog_free(rag_price_catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].base);
        json_decref(c->e[i].doc);
    }
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* The entry of base, created if missing. Caller holds the mutex. */
static catalog_entry *entry_for(rag_price_catalog *c, const char *base)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].base, base))
            return &c->e[i];
    catalog_entry *grown = realloc(c->e, (c->n + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    c->e = grown;
    catalog_entry *e = &c->e[c->n];
    memset(e, 0, sizeof *e);
    if (!(e->base = rag_strdup(base)))
        return NULL;
    c->n++;
    return e;
}

rag_status rag_price_catalog_put(rag_price_catalog *c, const char *base_url, const json_t *doc, rag_err *err)
{
    if (!c || !base_url || !doc)
        return rag_err_set(err, RAG_E_BAD_INPUT, "price catalogue: NULL argument");
    json_t *copy = json_deep_copy(doc);
    if (!copy)
        return rag_err_set(err, RAG_E_NOMEM, "price catalogue: out of memory");
    pthread_mutex_lock(&c->mu);
    catalog_entry *e = entry_for(c, base_url);
    if (e) {
        json_decref(e->doc);
        e->doc = copy;
        e->failed_at = 0;
    }
    pthread_mutex_unlock(&c->mu);
    if (!e) {
        json_decref(copy);
        return rag_err_set(err, RAG_E_NOMEM, "price catalogue: out of memory");
    }
    return RAG_OK;
}

rag_status rag_price_catalog_lookup(rag_price_catalog *c, rag_net_client *net, const char *base_url,
                                    double deadline_ms, const char *model, const char *provider,
                                    double *in_per_mtok, double *out_per_mtok, char *provider_used, size_t cap,
                                    bool *fetched, rag_err *err)
{
    if (fetched)
        *fetched = false;
    if (!c || !base_url || !model)
        return rag_err_set(err, RAG_E_BAD_INPUT, "price catalogue: NULL argument");
    pthread_mutex_lock(&c->mu);
    rag_status st = RAG_OK;
    catalog_entry *e = entry_for(c, base_url);
    if (!e) {
        st = rag_err_set(err, RAG_E_NOMEM, "price catalogue: out of memory");
    } else if (!e->doc) {
        double now = rag_now_ms();
        if (e->failed_at > 0 && now - e->failed_at < CATALOG_RETRY_MS) {
            st = rag_err_set(err, RAG_E_UPSTREAM, "price catalogue of %.200s unavailable (fetch failed %.0f s ago)",
                             base_url, (now - e->failed_at) / 1000.0);
        } else if (!net) {
            st = rag_err_set(err, RAG_E_CONFIG, "price catalogue: no net client to fetch %.200s/v1/models", base_url);
        } else {
            char url[1200];
            snprintf(url, sizeof url, "%s/v1/models", base_url);
            rag_net_request req;
            memset(&req, 0, sizeof req);
            req.method = RAG_HTTP_GET;
            req.url = url;
            req.expect_json = true;
            req.deadline_ms = deadline_ms;
            req.max_body_bytes = CATALOG_MAX_BYTES;
            req.backend = "catalog";
            rag_net_response resp;
            rag_net_response_init(&resp);
            st = rag_net_call(net, &req, &resp, NULL, err);
            if (fetched)
                *fetched = true;
            if (st == RAG_OK && !json_is_array(json_object_get(resp.json, "data")))
                st = rag_err_set(err, RAG_E_UPSTREAM, "GET %.200s: not a model catalogue (no \"data\" array)", url);
            if (st == RAG_OK) {
                e->doc = json_incref(resp.json);
                e->failed_at = 0;
            } else {
                e->failed_at = rag_now_ms();
                rag_log(RAG_LOG_WARN, "price catalogue: %s; routed calls stay unpriced for %.0f s", err ? err->msg : "",
                        CATALOG_RETRY_MS / 1000.0);
            }
            rag_net_response_free(&resp);
        }
    }
    if (st == RAG_OK)
        st = rag_price_from_catalog(e->doc, model, provider, in_per_mtok, out_per_mtok, provider_used, cap, err);
    pthread_mutex_unlock(&c->mu);
    return st;
}

/* ---- budget tracker ---- */

struct rag_budget {
    pthread_mutex_t mu;
    double monthly, per_request;
    char *path;                 /* owned; NULL = not persisted */
    time_t (*wall_now)(void *);
    void *wall_ud;
    char month[8];
    double spent;
    unsigned long calls;
    bool win_failed[RAG_BUDGET_WINDOW];
    double win_ms[RAG_BUDGET_WINDOW];
    size_t win_n, win_pos;
    unsigned alerts;
    unsigned long alerts_logged;
    bool write_failing;         /* a write failure was logged; next success logs recovery */
};

rag_budget_params rag_budget_default_params(void)
{
    rag_budget_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static void month_of(rag_budget_t *b, char out[8])
{
    time_t t = b->wall_now ? b->wall_now(b->wall_ud) : time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof tm);
    char buf[32];
    snprintf(buf, sizeof buf, "%04d-%02d", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100);
    memcpy(out, buf, 7);
    out[7] = '\0';
}

static const unsigned pct_bits[] = {RAG_BUDGET_ALERT_50, RAG_BUDGET_ALERT_80, RAG_BUDGET_ALERT_100};
static const double pct_levels[] = {0.5, 0.8, 1.0};

/* Sets the spend-threshold bits that hold; logs the new ones when log is true. Caller holds mu. */
static void spend_alerts(rag_budget_t *b, bool log)
{
    if (!(b->monthly > 0))
        return;
    for (size_t i = 0; i < 3; i++) {
        if (b->spent >= pct_levels[i] * b->monthly && !(b->alerts & pct_bits[i])) {
            b->alerts |= pct_bits[i];
            if (log) {
                b->alerts_logged++;
                rag_log(RAG_LOG_WARN, "budget: spend in %s is $%.4f, %.0f%% of the monthly budget $%.4f%s", b->month,
                        b->spent, pct_levels[i] * 100, b->monthly,
                        pct_levels[i] >= 1.0 ? "; remote calls are refused until next month" : "");
            }
        }
    }
}

/* Starts a new month when the calendar month changed. Caller holds mu. */
static void rollover(rag_budget_t *b)
{
    char m[8];
    month_of(b, m);
    if (strcmp(m, b->month) != 0) {
        memcpy(b->month, m, sizeof m);
        b->spent = 0;
        b->calls = 0;
        b->alerts &= ~(unsigned)(RAG_BUDGET_ALERT_50 | RAG_BUDGET_ALERT_80 | RAG_BUDGET_ALERT_100);
    }
}

/* "YYYY-MM" with a month 01..12. */
static bool month_ok(const char *m)
{
    if (!m || strlen(m) != 7 || m[4] != '-')
        return false;
    for (int i = 0; i < 7; i++)
        if (i != 4 && (m[i] < '0' || m[i] > '9'))
            return false;
    int mo = (m[5] - '0') * 10 + (m[6] - '0');
    return mo >= 1 && mo <= 12;
}

static rag_status load_usage(rag_budget_t *b, rag_err *err)
{
    char *text = NULL;
    size_t len = 0;
    rag_err e;
    rag_status st = rag_read_file(b->path, USAGE_MAX_BYTES, &text, &len, &e);
    if (st == RAG_E_NOT_FOUND)
        return RAG_OK;
    if (st != RAG_OK)
        return rag_err_set(err, st, "usage file %s: %s", b->path, e.msg);
    json_error_t je;
    json_t *v = json_loadb(text, len, 0, &je);
    free(text);
    if (!v)
        return rag_err_set(err, RAG_E_BAD_INPUT, "usage file %s: line %d: %s", b->path, je.line, je.text);
    const char *month = json_string_value(json_object_get(v, "month"));
    const json_t *spent = json_object_get(v, "spent_usd"), *calls = json_object_get(v, "calls");
    const char *why = NULL;
    if (!json_is_object(v))
        why = "not a JSON object";
    else if (!month_ok(month))
        why = "\"month\" must be a \"YYYY-MM\" string";
    else if (!json_is_number(spent) || !isfinite(json_number_value(spent)) || json_number_value(spent) < 0)
        why = "\"spent_usd\" must be a number >= 0";
    else if (!json_is_integer(calls) || json_integer_value(calls) < 0)
        why = "\"calls\" must be an integer >= 0";
    if (why) {
        json_decref(v);
        return rag_err_set(err, RAG_E_BAD_INPUT, "usage file %s: %s (fix or delete it)", b->path, why);
    }
    if (!strcmp(month, b->month)) {
        b->spent = json_number_value(spent);
        b->calls = (unsigned long)json_integer_value(calls);
    }
    json_decref(v);
    return RAG_OK;
}

/* Writes usage.json atomically (unique tmp file + rename). Caller holds mu. */
static void save_usage(rag_budget_t *b)
{
    if (!b->path)
        return;
    char text[160];
    int n = snprintf(text, sizeof text, "{\"month\":\"%s\",\"spent_usd\":%.10g,\"calls\":%lu}\n", b->month, b->spent,
                     b->calls);
    size_t pl = strlen(b->path);
    char *tmp = malloc(pl + 8);
    const char *why = NULL;
    int fd = -1;
    if (!tmp) {
        why = "out of memory";
    } else {
        memcpy(tmp, b->path, pl);
        memcpy(tmp + pl, ".XXXXXX", 8);
        fd = mkstemp(tmp);
        if (fd < 0)
            why = strerror(errno);
    }
    if (!why) {
        ssize_t w = write(fd, text, (size_t)n);
        if (w != n)
            why = w < 0 ? strerror(errno) : "short write";
        if (close(fd) != 0 && !why)
            why = strerror(errno);
        if (!why && chmod(tmp, 0644) != 0)
            why = strerror(errno);
        if (!why && rename(tmp, b->path) != 0)
            why = strerror(errno);
        if (why)
            unlink(tmp);
    }
    free(tmp);
    if (why && !b->write_failing) {
        b->write_failing = true;
        rag_log(RAG_LOG_WARN, "budget: cannot write %s: %s (spend is tracked in memory only)", b->path, why);
    } else if (!why && b->write_failing) {
        b->write_failing = false;
        rag_log(RAG_LOG_WARN, "budget: %s written again", b->path);
    }
}

rag_status rag_budget_create(const rag_budget_params *p, rag_budget_t **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "budget: out is NULL");
    *out = NULL;
    rag_budget_params bp = p ? *p : rag_budget_default_params();
    if (!isfinite(bp.monthly_budget_usd) || bp.monthly_budget_usd < 0)
        return rag_err_set(err, RAG_E_CONFIG, "budget: monthly_budget_usd %g must be >= 0", bp.monthly_budget_usd);
    if (!isfinite(bp.request_budget_usd) || bp.request_budget_usd < 0)
        return rag_err_set(err, RAG_E_CONFIG, "budget: request_budget_usd %g must be >= 0", bp.request_budget_usd);
    rag_budget_t *b = calloc(1, sizeof *b);
    if (!b)
        return rag_err_set(err, RAG_E_NOMEM, "budget: out of memory");
    b->monthly = bp.monthly_budget_usd;
    b->per_request = bp.request_budget_usd;
    b->wall_now = bp.wall_now;
    b->wall_ud = bp.wall_ud;
    month_of(b, b->month);
    rag_status st = RAG_OK;
    if (bp.data_dir && *bp.data_dir) {
        if (mkdir(bp.data_dir, 0755) != 0 && errno != EEXIST)
            st = rag_err_set(err, RAG_E_IO, "budget: cannot create data_dir %s: %s", bp.data_dir, strerror(errno));
        size_t n = strlen(bp.data_dir) + sizeof "/" USAGE_FILE;
        if (st == RAG_OK && !(b->path = malloc(n)))
            st = rag_err_set(err, RAG_E_NOMEM, "budget: out of memory");
        if (st == RAG_OK) {
            snprintf(b->path, n, "%s/%s", bp.data_dir, USAGE_FILE);
            st = load_usage(b, err);
        }
    }
    if (st == RAG_OK && pthread_mutex_init(&b->mu, NULL) != 0)
        st = rag_err_set(err, RAG_E_INTERNAL, "budget: pthread_mutex_init failed");
    if (st != RAG_OK) {
        free(b->path);
        free(b);
        return st;
    }
    spend_alerts(b, false); /* already crossed before this process: not logged again */
    *out = b;
    return RAG_OK;
}

void rag_budget_free(rag_budget_t *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b->path);
    free(b);
}

rag_status rag_budget_check(rag_budget_t *b, double request_spent_usd, rag_err *err)
{
    if (!b)
        return RAG_OK;
    pthread_mutex_lock(&b->mu);
    rollover(b);
    rag_status st = RAG_OK;
    if (b->monthly > 0 && b->spent >= b->monthly)
        st = rag_err_set(err, RAG_E_BUDGET, "monthly budget $%.4f reached ($%.4f spent in %s)", b->monthly, b->spent,
                         b->month);
    else if (b->per_request > 0 && request_spent_usd >= b->per_request)
        st = rag_err_set(err, RAG_E_BUDGET, "request budget $%.4f reached ($%.4f spent by this request)",
                         b->per_request, request_spent_usd);
    pthread_mutex_unlock(&b->mu);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Error rate and p95 of the window. Caller holds mu. */
static void window_stats(const rag_budget_t *b, double *rate, double *p95)
{
    *rate = 0;
    *p95 = 0;
    if (b->win_n == 0)
        return;
    double ms[RAG_BUDGET_WINDOW];
    size_t failed = 0;
    for (size_t i = 0; i < b->win_n; i++) {
        failed += b->win_failed[i];
        ms[i] = b->win_ms[i];
    }
    qsort(ms, b->win_n, sizeof ms[0], cmp_double);
    size_t k = (size_t)ceil(0.95 * (double)b->win_n);
    *p95 = ms[k > 0 ? k - 1 : 0];
    *rate = (double)failed / (double)b->win_n;
}

/* Sets or clears a window alert bit; logs when it becomes set. */
static void window_alert(rag_budget_t *b, unsigned bit, bool holds, const char *what)
{
    if (holds && !(b->alerts & bit)) {
        b->alerts |= bit;
        b->alerts_logged++;
        rag_log(RAG_LOG_WARN, "budget: %s over the last %zu remote calls", what, b->win_n);
    } else if (!holds) {
        b->alerts &= ~bit;
    }
}

void rag_budget_record(rag_budget_t *b, bool failed, double ms, double cost_usd)
{
    if (!b)
        return;
    if (!(cost_usd > 0) || !isfinite(cost_usd))
        cost_usd = 0;
    pthread_mutex_lock(&b->mu);
    rollover(b);
    b->win_failed[b->win_pos] = failed;
    b->win_ms[b->win_pos] = ms > 0 && isfinite(ms) ? ms : 0;
    b->win_pos = (b->win_pos + 1) % RAG_BUDGET_WINDOW;
    if (b->win_n < RAG_BUDGET_WINDOW)
        b->win_n++;
    b->calls++;
    b->spent += cost_usd;
    save_usage(b);
    spend_alerts(b, true);
    if (b->win_n >= RAG_BUDGET_MIN_CALLS) {
        double rate, p95;
        window_stats(b, &rate, &p95);
        char what[96];
        snprintf(what, sizeof what, "error rate %.0f%% (> %.0f%%)", rate * 100, RAG_BUDGET_ERROR_RATE * 100);
        window_alert(b, RAG_BUDGET_ALERT_ERROR_RATE, rate > RAG_BUDGET_ERROR_RATE, what);
        snprintf(what, sizeof what, "p95 latency %.0f ms (> %.0f ms)", p95, RAG_BUDGET_P95_MS);
        window_alert(b, RAG_BUDGET_ALERT_LATENCY, p95 > RAG_BUDGET_P95_MS, what);
    }
    pthread_mutex_unlock(&b->mu);
}

void rag_budget_get(rag_budget_t *b, rag_budget_snapshot *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    rollover(b);
    memcpy(out->month, b->month, sizeof out->month);
    out->spent_usd = b->spent;
    out->calls = b->calls;
    out->monthly_budget_usd = b->monthly;
    out->request_budget_usd = b->per_request;
    out->window_calls = b->win_n;
    window_stats(b, &out->error_rate, &out->p95_ms);
    out->alerts = b->alerts;
    out->alerts_logged = b->alerts_logged;
    pthread_mutex_unlock(&b->mu);
}
