/* Retry policy: which failures retry, how long to wait (backoff, Retry-After, RateLimit,
 * estimated_time) and the deadline cut. Also the default timer. */
#include "net_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double default_now(void *ud)
{
    (void)ud;
    return rag_now_ms();
}

static void default_sleep(void *ud, double ms)
{
    (void)ud;
    if (!(ms > 0))
        return;
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000.0);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000.0) * 1e6);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

rag_net_timer rag_net_default_timer(void)
{
    rag_net_timer t = {default_now, default_sleep, NULL};
    return t;
}

rag_net_retry_params rag_net_retry_default_params(void)
{
    rag_net_retry_params p = {5, 1000.0, 8000.0, true, 60000.0};
    return p;
}

rag_status rag_net_retry_params_check(const rag_net_retry_params *p, rag_err *err)
{
    if (!p)
        return rag_err_set(err, RAG_E_CONFIG, "retry params: NULL");
    if (p->max_retries < 0 || p->max_retries > 10)
        return rag_err_set(err, RAG_E_CONFIG, "retry params: max_retries %d not in 0..10", p->max_retries);
    if (!(p->base_ms >= 0) || !isfinite(p->base_ms))
        return rag_err_set(err, RAG_E_CONFIG, "retry params: base_ms %g must be >= 0", p->base_ms);
    if (!(p->cap_ms >= p->base_ms) || !isfinite(p->cap_ms))
        return rag_err_set(err, RAG_E_CONFIG, "retry params: cap_ms %g must be >= base_ms %g", p->cap_ms,
                           p->base_ms);
    if (!(p->max_server_wait_ms >= 0) || !isfinite(p->max_server_wait_ms))
        return rag_err_set(err, RAG_E_CONFIG, "retry params: max_server_wait_ms %g must be >= 0",
                           p->max_server_wait_ms);
    return RAG_OK;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

bool rag_net_parse_retry_after(const char *value, time_t now_wall, double *ms)
{
    if (!value)
        return false;
    const char *s = skip_ws(value);
    if (!*s)
        return false;
    if (*s >= '0' && *s <= '9') {
        char *end;
        double v = strtod(s, &end);
        end = (char *)skip_ws(end);
        if (*end == '\0' && isfinite(v) && v >= 0) {
            *ms = v * 1000.0;
            return true;
        }
        /* fall through: may still be a date starting with a digit ("1 Jan 2030 ...") */
    }
    time_t t = curl_getdate(s, NULL);
    if (t == (time_t)-1)
        return false;
    double d = difftime(t, now_wall);
    *ms = d > 0 ? d * 1000.0 : 0.0;
    return true;
}

/* Parses a non-negative integer parameter value (optionally quoted); false if not one. */
static bool param_long(const char *v, size_t n, long *out)
{
    while (n > 0 && (*v == ' ' || *v == '"')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '"'))
        n--;
    if (n == 0 || n > 18)
        return false;
    long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return true;
}

bool rag_net_parse_ratelimit(const char *value, long *remaining, long *reset_s)
{
    if (!value)
        return false;
    long best_r = -1, best_t = -1;     /* structured form */
    long old_r = -1, old_t = -1;       /* limit=, remaining=, reset= form */
    bool any_t_only = false;
    long t_only = -1;
    const char *item = value;
    while (*item) {
        const char *item_end = strchr(item, ',');
        if (!item_end)
            item_end = item + strlen(item);
        long r = -1, t = -1;
        const char *p = item;
        while (p < item_end) {
            const char *pe = memchr(p, ';', (size_t)(item_end - p));
            if (!pe)
                pe = item_end;
            p = skip_ws(p);
            const char *eq = memchr(p, '=', (size_t)(pe > p ? pe - p : 0));
            if (eq) {
                size_t klen = (size_t)(eq - p);
                while (klen > 0 && p[klen - 1] == ' ')
                    klen--;
                long v;
                if (param_long(eq + 1, (size_t)(pe - eq - 1), &v)) {
                    if (klen == 1 && p[0] == 'r')
                        r = v;
                    else if (klen == 1 && p[0] == 't')
                        t = v;
                    else if (klen == 9 && !strncmp(p, "remaining", 9))
                        old_r = v;
                    else if (klen == 5 && !strncmp(p, "reset", 5))
                        old_t = v;
                }
            }
            p = pe < item_end ? pe + 1 : item_end;
        }
        if (r >= 0) {
            if (best_r < 0 || r < best_r) {
                best_r = r;
                best_t = t;
            } else if (r == best_r && t > best_t) {
                best_t = t;
            }
        } else if (t >= 0) {
            any_t_only = true;
            if (t > t_only)
                t_only = t;
        }
        item = *item_end ? item_end + 1 : item_end;
    }
    if (best_r >= 0) {
        *remaining = best_r;
        *reset_s = best_t;
        return true;
    }
    if (old_r >= 0 || old_t >= 0) {
        *remaining = old_r;
        *reset_s = old_t;
        return true;
    }
    if (any_t_only) {
        *remaining = -1;
        *reset_s = t_only;
        return true;
    }
    return false;
}

rag_net_retry_verdict rag_net_retry_decide(const rag_net_retry_params *p, int retries_done,
                                           const rag_net_attempt *a, double now_ms,
                                           double deadline_ms, double rand01, double *wait_ms)
{
    if (!p || !a || a->status == RAG_OK || !a->retryable || retries_done >= p->max_retries)
        return RAG_NET_RETRY_STOP;
    double wait;
    if (a->http_status == 429 && a->ratelimit_reset_ms >= 0)
        wait = fmin(a->ratelimit_reset_ms + 1000.0, p->max_server_wait_ms);
    else if (a->retry_after_ms >= 0)
        wait = fmin(a->retry_after_ms, p->max_server_wait_ms);
    else if (a->http_status == 503 && a->estimated_time_ms >= 0)
        wait = fmin(a->estimated_time_ms, p->max_server_wait_ms);
    else {
        double ceiling = p->base_ms * ldexp(1.0, retries_done < 30 ? retries_done : 30);
        if (ceiling > p->cap_ms)
            ceiling = p->cap_ms;
        if (p->jitter) {
            if (!(rand01 >= 0) || rand01 >= 1)
                rand01 = rand01 >= 1 ? 0.999999 : 0.0;
            wait = ceiling * rand01;
        } else {
            wait = ceiling;
        }
    }
    if (wait_ms)
        *wait_ms = wait;
    if (now_ms + wait >= deadline_ms)
        return RAG_NET_RETRY_DEADLINE;
    return RAG_NET_RETRY_AGAIN;
}
