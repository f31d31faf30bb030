/* Metrics registry: exact Prometheus text format, label escaping, histograms, caps, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/metrics.h"

static char *render(rag_metrics_t *m)
{
    rag_buf b;
    rag_buf_init(&b, 0);
    assert_int_equal(rag_metrics_render(m, &b), RAG_OK);
    return rag_buf_steal(&b);
}

static void test_counter_and_gauge_text(void **state)
{
    (void)state;
    rag_metrics_t *m;
    assert_int_equal(rag_metrics_create(&m, NULL), RAG_OK);
    static const char *const req_labels[] = {"route", "method", "status"};
    rag_metric_t *req, *docs, *mem;
    assert_int_equal(rag_metrics_counter(m, "ragc_http_requests_total", "HTTP requests.", req_labels, 3, &req, NULL),
                     RAG_OK);
    assert_int_equal(rag_metrics_gauge(m, "ragc_documents", "Documents in the store.", NULL, 0, &docs, NULL), RAG_OK);
    assert_int_equal(rag_metrics_gauge(m, "mem_bytes", "Memory.\nSecond line \\ slash", NULL, 0, &mem, NULL), RAG_OK);

    const char *v1[] = {"/v1/ask", "POST", "200"};
    const char *v2[] = {"/healthz", "GET", "200"};
    assert_int_equal(rag_metrics_inc(req, v1, 1), RAG_OK);
    assert_int_equal(rag_metrics_inc(req, v2, 1), RAG_OK);
    assert_int_equal(rag_metrics_inc(req, v1, 2), RAG_OK);
    assert_int_equal(rag_metrics_set(docs, NULL, 42), RAG_OK);
    assert_int_equal(rag_metrics_set(mem, NULL, 0.1), RAG_OK);

    char *text = render(m);
    assert_string_equal(text, "# HELP ragc_http_requests_total HTTP requests.\n"
                              "# TYPE ragc_http_requests_total counter\n"
                              "ragc_http_requests_total{route=\"/v1/ask\",method=\"POST\",status=\"200\"} 3\n"
                              "ragc_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1\n"
                              "# HELP ragc_documents Documents in the store.\n"
                              "# TYPE ragc_documents gauge\n"
                              "ragc_documents 42\n"
                              "# HELP mem_bytes Memory.\\nSecond line \\\\ slash\n"
                              "# TYPE mem_bytes gauge\n"
                              "mem_bytes 0.1\n");
    free(text);

    double v;
    assert_int_equal(rag_metrics_get(req, v1, &v, NULL), RAG_OK);
    assert_true(v == 3);
    const char *absent[] = {"/x", "GET", "500"};
    assert_int_equal(rag_metrics_get(req, absent, &v, NULL), RAG_E_NOT_FOUND);
    rag_metrics_free(m);
}

static void test_histogram_text(void **state)
{
    (void)state;
    rag_metrics_t *m;
    assert_int_equal(rag_metrics_create(&m, NULL), RAG_OK);
    static const char *const labels[] = {"stage"};
    const double bounds[] = {0.25, 0.5, 1};
    rag_metric_t *h;
    assert_int_equal(rag_metrics_histogram(m, "stage_seconds", "Stage time.", labels, 1, bounds, 3, &h, NULL), RAG_OK);
    const char *r[] = {"retriever"};
    assert_int_equal(rag_metrics_observe(h, r, 0.125), RAG_OK);
    assert_int_equal(rag_metrics_observe(h, r, 0.5), RAG_OK); /* on a bound: counted in le="0.5" */
    assert_int_equal(rag_metrics_observe(h, r, 2.5), RAG_OK); /* only in +Inf */
    char *text = render(m);
    assert_string_equal(text, "# HELP stage_seconds Stage time.\n"
                              "# TYPE stage_seconds histogram\n"
                              "stage_seconds_bucket{stage=\"retriever\",le=\"0.25\"} 1\n"
                              "stage_seconds_bucket{stage=\"retriever\",le=\"0.5\"} 2\n"
                              "stage_seconds_bucket{stage=\"retriever\",le=\"1\"} 2\n"
                              "stage_seconds_bucket{stage=\"retriever\",le=\"+Inf\"} 3\n"
                              "stage_seconds_sum{stage=\"retriever\"} 3.125\n"
                              "stage_seconds_count{stage=\"retriever\"} 3\n");
    free(text);
    uint64_t count;
    double sum;
    assert_int_equal(rag_metrics_get(h, r, &sum, &count), RAG_OK);
    assert_int_equal(count, 3);

    /* unlabeled histogram: le is the only label */
    rag_metric_t *u;
    assert_int_equal(rag_metrics_histogram(m, "u_seconds", "U.", NULL, 0, NULL, 0, &u, NULL), RAG_OK);
    rag_buf b;
    rag_buf_init(&b, 0);
    assert_int_equal(rag_metrics_render(m, &b), RAG_OK);
    assert_non_null(strstr(b.data, "u_seconds_bucket{le=\"0.001\"} 0\n"));
    assert_non_null(strstr(b.data, "u_seconds_bucket{le=\"+Inf\"} 0\nu_seconds_sum 0\nu_seconds_count 0\n"));
    rag_buf_free(&b);
    rag_metrics_free(m);
}

static void test_label_escaping_and_touch(void **state)
{
    (void)state;
    rag_metrics_t *m;
    assert_int_equal(rag_metrics_create(&m, NULL), RAG_OK);
    static const char *const labels[] = {"backend"};
    rag_metric_t *c, *empty;
    assert_int_equal(rag_metrics_counter(m, "calls_total", "Calls.", labels, 1, &c, NULL), RAG_OK);
    assert_int_equal(rag_metrics_counter(m, "never_total", "Never used.", labels, 1, &empty, NULL), RAG_OK);
    const char *v[] = {"a\"b\\c\nd"};
    assert_int_equal(rag_metrics_touch(c, v), RAG_OK);
    char *text = render(m);
    assert_string_equal(text, "# HELP calls_total Calls.\n"
                              "# TYPE calls_total counter\n"
                              "calls_total{backend=\"a\\\"b\\\\c\\nd\"} 0\n"
                              "# HELP never_total Never used.\n"
                              "# TYPE never_total counter\n");
    free(text);
    rag_metrics_free(m);
}

static void test_bad_input(void **state)
{
    (void)state;
    rag_metrics_t *m;
    rag_err err;
    assert_int_equal(rag_metrics_create(&m, NULL), RAG_OK);
    assert_int_equal(rag_metrics_counter(m, "1bad", "x", NULL, 0, NULL, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "invalid metric name '1bad'"));
    assert_int_equal(rag_metrics_counter(m, "bad-name", "x", NULL, 0, NULL, &err), RAG_E_BAD_INPUT);
    static const char *const bad_label[] = {"__reserved"};
    assert_int_equal(rag_metrics_counter(m, "ok_total", "x", bad_label, 1, NULL, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "invalid label name '__reserved'"));
    static const char *const le[] = {"le"};
    assert_int_equal(rag_metrics_histogram(m, "h", "x", le, 1, NULL, 0, NULL, &err), RAG_E_BAD_INPUT);
    const double unsorted[] = {1, 0.5};
    assert_int_equal(rag_metrics_histogram(m, "h", "x", NULL, 0, unsorted, 2, NULL, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "strictly increasing"));
    static const char *const dup[] = {"a", "a"};
    assert_int_equal(rag_metrics_counter(m, "dup_total", "x", dup, 2, NULL, &err), RAG_E_BAD_INPUT);

    /* same name again: same shape returns the family, another shape fails */
    rag_metric_t *c1, *c2;
    static const char *const l[] = {"kind"};
    assert_int_equal(rag_metrics_counter(m, "hits_total", "Hits.", l, 1, &c1, NULL), RAG_OK);
    assert_int_equal(rag_metrics_counter(m, "hits_total", "Hits.", l, 1, &c2, NULL), RAG_OK);
    assert_ptr_equal(c1, c2);
    assert_ptr_equal(rag_metrics_find(m, "hits_total"), c1);
    assert_null(rag_metrics_find(m, "nope"));
    assert_int_equal(rag_metrics_gauge(m, "hits_total", "Hits.", l, 1, NULL, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "already registered"));

    /* updates */
    const char *ok[] = {"embedding"};
    assert_int_equal(rag_metrics_inc(c1, ok, -1), RAG_E_BAD_INPUT);     /* counters only go up */
    assert_int_equal(rag_metrics_inc(c1, ok, NAN), RAG_E_BAD_INPUT);
    assert_int_equal(rag_metrics_set(c1, ok, 3), RAG_E_BAD_INPUT);      /* set is for gauges */
    assert_int_equal(rag_metrics_observe(c1, ok, 3), RAG_E_BAD_INPUT);  /* observe is for histograms */
    assert_int_equal(rag_metrics_inc(c1, NULL, 1), RAG_E_BAD_INPUT);    /* labels required */
    const char *null_value[] = {NULL};
    assert_int_equal(rag_metrics_inc(c1, null_value, 1), RAG_E_BAD_INPUT);
    const char *bad_utf8[] = {"\xff\xfe"};
    assert_int_equal(rag_metrics_inc(c1, bad_utf8, 1), RAG_E_BAD_INPUT);
    char longv[RAG_METRICS_MAX_LABEL_VALUE + 2];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    const char *too_long[] = {longv};
    assert_int_equal(rag_metrics_inc(c1, too_long, 1), RAG_E_TOO_LARGE);
    assert_int_equal(rag_metrics_inc(NULL, ok, 1), RAG_E_BAD_INPUT);

    /* the series cap bounds a family labelled by untrusted data */
    char name[32];
    const char *vals[] = {name};
    rag_status st = RAG_OK;
    size_t i;
    for (i = 0; i <= RAG_METRICS_MAX_SERIES && st == RAG_OK; i++) {
        snprintf(name, sizeof name, "k%zu", i);
        st = rag_metrics_inc(c1, vals, 1);
    }
    assert_int_equal(st, RAG_E_TOO_LARGE);
    assert_int_equal(i, RAG_METRICS_MAX_SERIES + 1);
    rag_metrics_free(m);
    rag_metrics_free(NULL);
}

static void test_format_value(void **state)
{
    (void)state;
    char b[64];
    assert_string_equal(rag_metrics_format_value(0, b, sizeof b), "0");
    assert_string_equal(rag_metrics_format_value(12345678, b, sizeof b), "12345678");
    assert_string_equal(rag_metrics_format_value(0.25, b, sizeof b), "0.25");
    assert_string_equal(rag_metrics_format_value(1e-3, b, sizeof b), "0.001");
    assert_string_equal(rag_metrics_format_value(INFINITY, b, sizeof b), "+Inf");
    assert_string_equal(rag_metrics_format_value(-INFINITY, b, sizeof b), "-Inf");
    assert_string_equal(rag_metrics_format_value(NAN, b, sizeof b), "NaN");
    double third = 1.0 / 3.0;
    rag_metrics_format_value(third, b, sizeof b);
    assert_true(strtod(b, NULL) == third); /* round-trips exactly */
}

typedef struct thread_arg {
    rag_metric_t *c, *h;
    int id;
} thread_arg;

static void *hammer(void *p)
{
    thread_arg *a = p;
    char label[16];
    snprintf(label, sizeof label, "t%d", a->id % 2);
    const char *v[] = {label};
    for (int i = 0; i < 5000; i++) {
        rag_metrics_inc(a->c, v, 1);
        rag_metrics_observe(a->h, v, 0.002);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    rag_metrics_t *m;
    assert_int_equal(rag_metrics_create(&m, NULL), RAG_OK);
    static const char *const labels[] = {"t"};
    rag_metric_t *c, *h;
    assert_int_equal(rag_metrics_counter(m, "n_total", "N.", labels, 1, &c, NULL), RAG_OK);
    assert_int_equal(rag_metrics_histogram(m, "d_seconds", "D.", labels, 1, NULL, 0, &h, NULL), RAG_OK);
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){c, h, i};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 2; i++) { /* render while updating */
        char *t = render(m);
        free(t);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    double v;
    uint64_t n;
    const char *t0[] = {"t0"}, *t1[] = {"t1"};
    assert_int_equal(rag_metrics_get(c, t0, &v, NULL), RAG_OK);
    assert_true(v == 10000);
    assert_int_equal(rag_metrics_get(h, t1, &v, &n), RAG_OK);
    assert_int_equal(n, 10000);
    rag_metrics_free(m);
}

static void test_render_cap(void **state)
{
    (void)state;
    rag_metrics_t *m;
    assert_int_equal(rag_metrics_create(&m, NULL), RAG_OK);
    assert_int_equal(rag_metrics_gauge(m, "g", "A gauge with a long help text.", NULL, 0, NULL, NULL), RAG_OK);
    rag_buf b;
    rag_buf_init(&b, 16);
    assert_int_equal(rag_metrics_render(m, &b), RAG_E_TOO_LARGE);
    rag_buf_free(&b);
    rag_metrics_free(m);
}

/* rag_metrics_raise: a counter mirrored from a monotonic total only moves up; wrong uses fail. */
static void test_counter_raise(void **state)
{
    (void)state;
    rag_metrics_t *m;
    assert_int_equal(rag_metrics_create(&m, NULL), RAG_OK);
    static const char *const labels[] = {"to"};
    rag_metric_t *c, *g, *h;
    assert_int_equal(rag_metrics_counter(m, "moves_total", "Moves.", labels, 1, &c, NULL), RAG_OK);
    assert_int_equal(rag_metrics_gauge(m, "g", "G.", NULL, 0, &g, NULL), RAG_OK);
    assert_int_equal(rag_metrics_histogram(m, "h", "H.", NULL, 0, NULL, 0, &h, NULL), RAG_OK);
    const char *open_l[] = {"open"};
    double v;
    assert_int_equal(rag_metrics_raise(c, open_l, 3), RAG_OK); /* creates the series */
    assert_int_equal(rag_metrics_get(c, open_l, &v, NULL), RAG_OK);
    assert_true(v == 3);
    assert_int_equal(rag_metrics_raise(c, open_l, 2), RAG_OK); /* lower: unchanged */
    assert_int_equal(rag_metrics_raise(c, open_l, 3), RAG_OK);
    assert_int_equal(rag_metrics_get(c, open_l, &v, NULL), RAG_OK);
    assert_true(v == 3);
    assert_int_equal(rag_metrics_raise(c, open_l, 7), RAG_OK);
    assert_int_equal(rag_metrics_get(c, open_l, &v, NULL), RAG_OK);
    assert_true(v == 7);
    char *text = render(m);
    assert_non_null(strstr(text, "moves_total{to=\"open\"} 7\n"));
    free(text);
    assert_int_equal(rag_metrics_raise(c, open_l, NAN), RAG_E_BAD_INPUT);
    assert_int_equal(rag_metrics_raise(g, NULL, 1), RAG_E_BAD_INPUT);
    assert_int_equal(rag_metrics_raise(h, NULL, 1), RAG_E_BAD_INPUT);
    assert_int_equal(rag_metrics_raise(NULL, open_l, 1), RAG_E_BAD_INPUT);
    assert_int_equal(rag_metrics_raise(c, NULL, 1), RAG_E_BAD_INPUT); /* the label value is missing */
    assert_int_equal(rag_metrics_get(c, open_l, &v, NULL), RAG_OK);
    assert_true(v == 7);
    rag_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge_text), cmocka_unit_test(test_histogram_text),
        cmocka_unit_test(test_label_escaping_and_touch), cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_format_value), cmocka_unit_test(test_threads), cmocka_unit_test(test_render_cap),
        cmocka_unit_test(test_counter_raise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
