/* Cost accounting without a server: token pricing, catalogue lookups, the budget tracker
 * (usage.json persistence, month rollover, refusals, alerts, threads). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ragc/models.h"

static const char *CATALOG =
    "{\"object\":\"list\",\"data\":["
    "{\"id\":\"meta-llama/Llama-3.1-8B-Instruct\",\"providers\":["
    "{\"provider\":\"cerebras\",\"status\":\"live\",\"pricing\":{\"input\":0.10,\"output\":0.10}},"
    "{\"provider\":\"novita\",\"status\":\"live\",\"pricing\":{\"input\":0.02,\"output\":0.05}},"
    "{\"provider\":\"cheapdead\",\"status\":\"staging\",\"pricing\":{\"input\":0.0,\"output\":0.0}}]},"
    "{\"id\":\"no/prices\",\"providers\":[{\"provider\":\"x\",\"status\":\"live\"}]}]}";

static void test_cost_tokens(void **state)
{
    (void)state;
    assert_true(fabs(rag_cost_tokens(1000000, 500000, 0.2, 0.4) - 0.4) < 1e-12);
    assert_true(rag_cost_tokens(100, 100, -1, -1) == 0);
    assert_true(rag_cost_tokens(-5, 10, 1, 1) == 10 / 1e6);
    assert_true(rag_cost_tokens(10, 0, INFINITY, 1) == 0);
}

static void test_price_from_catalog(void **state)
{
    (void)state;
    json_t *doc = json_loads(CATALOG, 0, NULL);
    assert_non_null(doc);
    double in = -1, out = -1;
    char used[64];
    rag_err err;
    /* the provider that served */
    assert_int_equal(rag_price_from_catalog(doc, "meta-llama/Llama-3.1-8B-Instruct:cerebras", "cerebras", &in, &out,
                                            used, sizeof used, &err),
                     RAG_OK);
    assert_true(in == 0.10 && out == 0.10);
    assert_string_equal(used, "cerebras");
    /* unknown provider: cheapest live one (the free "staging" one is not live) */
    assert_int_equal(rag_price_from_catalog(doc, "meta-llama/Llama-3.1-8B-Instruct:cheapest", "fake-provider", &in,
                                            &out, used, sizeof used, &err),
                     RAG_OK);
    assert_true(in == 0.02 && out == 0.05);
    assert_string_equal(used, "novita");
    assert_int_equal(rag_price_from_catalog(doc, "meta-llama/Llama-3.1-8B-Instruct", NULL, &in, &out, NULL, 0, &err),
                     RAG_OK);
    /* missing model, no priced provider, not a catalogue */
    assert_int_equal(rag_price_from_catalog(doc, "x/unknown:fastest", NULL, &in, &out, NULL, 0, &err), RAG_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "'x/unknown'"));
    assert_int_equal(rag_price_from_catalog(doc, "no/prices", NULL, &in, &out, NULL, 0, &err), RAG_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "no priced live provider"));
    json_t *bad = json_pack("{s:i}", "data", 3);
    assert_int_equal(rag_price_from_catalog(bad, "a", NULL, &in, &out, NULL, 0, &err), RAG_E_UPSTREAM);
    json_decref(bad);
    /* the in-memory catalogue: put, then lookups without any network */
    rag_price_catalog *cat = NULL;
    assert_int_equal(rag_price_catalog_create(&cat, &err), RAG_OK);
    assert_int_equal(rag_price_catalog_put(cat, "https://router.example", doc, &err), RAG_OK);
    bool fetched = true;
    assert_int_equal(rag_price_catalog_lookup(cat, NULL, "https://router.example", 0,
                                              "meta-llama/Llama-3.1-8B-Instruct", "novita", &in, &out, used,
                                              sizeof used, &fetched, &err),
                     RAG_OK);
    assert_false(fetched);
    assert_true(in == 0.02);
    /* another base needs a fetch, and there is no client */
    assert_int_equal(rag_price_catalog_lookup(cat, NULL, "https://other.example", 0, "a", NULL, &in, &out, NULL, 0,
                                              &fetched, &err),
                     RAG_E_CONFIG);
    rag_price_catalog_free(cat);
    json_decref(doc);
}

/* A settable wall clock. */
static time_t fake_now;
static time_t wall(void *ud)
{
    (void)ud;
    return fake_now;
}

static char g_dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/ragc-models-cost-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof p, "%s/usage.json", g_dir);
    unlink(p);
    rmdir(g_dir);
    return 0;
}

static rag_budget_params params(double monthly, double request)
{
    rag_budget_params p = rag_budget_default_params();
    p.monthly_budget_usd = monthly;
    p.request_budget_usd = request;
    p.data_dir = g_dir;
    p.wall_now = wall;
    return p;
}

static void write_usage(const char *text)
{
    char p[128];
    snprintf(p, sizeof p, "%s/usage.json", g_dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static json_t *read_usage(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/usage.json", g_dir);
    return json_load_file(p, 0, NULL);
}

static void test_budget_persist_and_rollover(void **state)
{
    (void)state;
    fake_now = 1793491200; /* 2026-11-01T00:00:00Z */
    write_usage("{\"month\":\"2026-11\",\"spent_usd\":0.25,\"calls\":4}");
    rag_budget_params p = params(1.0, 0);
    rag_budget_t *b = NULL;
    rag_err err;
    assert_int_equal(rag_budget_create(&p, &b, &err), RAG_OK);
    rag_budget_snapshot s;
    rag_budget_get(b, &s);
    assert_string_equal(s.month, "2026-11");
    assert_true(s.spent_usd == 0.25);
    assert_int_equal(s.calls, 4);
    rag_budget_record(b, false, 120, 0.5);
    json_t *u = read_usage();
    assert_non_null(u);
    assert_string_equal(json_string_value(json_object_get(u, "month")), "2026-11");
    assert_true(fabs(json_number_value(json_object_get(u, "spent_usd")) - 0.75) < 1e-12);
    assert_int_equal(json_integer_value(json_object_get(u, "calls")), 5);
    json_decref(u);
    rag_budget_record(b, false, 120, 0.25); /* 1.00: the cap */
    assert_int_equal(rag_budget_check(b, 0, &err), RAG_E_BUDGET);
    assert_non_null(strstr(err.msg, "monthly budget $1.0000 reached"));
    assert_non_null(strstr(err.msg, "2026-11"));
    rag_budget_free(b);
    /* a restart keeps the spend: still refused */
    assert_int_equal(rag_budget_create(&p, &b, &err), RAG_OK);
    assert_int_equal(rag_budget_check(b, 0, &err), RAG_E_BUDGET);
    /* next month starts from zero */
    fake_now += 31 * 86400; /* 2026-12-02 */
    assert_int_equal(rag_budget_check(b, 0, &err), RAG_OK);
    rag_budget_get(b, &s);
    assert_string_equal(s.month, "2026-12");
    assert_true(s.spent_usd == 0);
    assert_int_equal(s.calls, 0);
    rag_budget_record(b, false, 10, 0.1);
    u = read_usage();
    assert_string_equal(json_string_value(json_object_get(u, "month")), "2026-12");
    assert_int_equal(json_integer_value(json_object_get(u, "calls")), 1);
    json_decref(u);
    rag_budget_free(b);
    /* a file from an older month is not loaded */
    write_usage("{\"month\":\"2025-01\",\"spent_usd\":99,\"calls\":1}");
    assert_int_equal(rag_budget_create(&p, &b, &err), RAG_OK);
    assert_int_equal(rag_budget_check(b, 0, &err), RAG_OK);
    rag_budget_free(b);
    /* no tmp files left behind */
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            files++;
    closedir(d);
    assert_int_equal(files, 1);
}

static void test_budget_bad_inputs(void **state)
{
    (void)state;
    fake_now = 1793491200;
    rag_budget_t *b = NULL;
    rag_err err;
    const char *bad[] = {
        "not json",
        "[1,2]",
        "{\"month\":\"2026-13\",\"spent_usd\":1,\"calls\":1}",
        "{\"month\":\"2026-11\",\"spent_usd\":-1,\"calls\":1}",
        "{\"month\":\"2026-11\",\"spent_usd\":1,\"calls\":1.5}",
        "{\"month\":\"26-11\",\"spent_usd\":1,\"calls\":1}",
    };
    const char *why[] = {"usage.json: line 1", "not a JSON object", "\"month\"", "\"spent_usd\"", "\"calls\"",
                         "\"month\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_usage(bad[i]);
        rag_budget_params p = params(1, 0);
        rag_status st = rag_budget_create(&p, &b, &err);
        if (st != RAG_E_BAD_INPUT || !strstr(err.msg, why[i]) || !strstr(err.msg, "usage file"))
            fail_msg("case %zu (%s): %s: %s", i, bad[i], rag_status_str(st), err.msg);
        assert_null(b);
    }
    write_usage("{\"month\":\"2026-11\",\"spent_usd\":0,\"calls\":0}");
    rag_budget_params p = params(-1, 0);
    assert_int_equal(rag_budget_create(&p, &b, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "monthly_budget_usd"));
    p = params(0, NAN);
    assert_int_equal(rag_budget_create(&p, &b, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "request_budget_usd"));
    /* an unwritable data_dir path is an error naming it */
    p = params(0, 0);
    p.data_dir = "/proc/ragc-no-such-dir/x";
    assert_int_equal(rag_budget_create(&p, &b, &err), RAG_E_IO);
    assert_non_null(strstr(err.msg, "/proc/ragc-no-such-dir/x"));
    /* NULL tracker: no limits, no-ops */
    assert_int_equal(rag_budget_check(NULL, 1e9, &err), RAG_OK);
    rag_budget_record(NULL, true, 1, 1);
}

static void test_request_budget(void **state)
{
    (void)state;
    fake_now = 1793491200;
    write_usage("{\"month\":\"2026-11\",\"spent_usd\":0,\"calls\":0}");
    rag_budget_params p = params(0, 0.05);
    p.data_dir = NULL; /* in memory only */
    rag_budget_t *b = NULL;
    rag_err err;
    assert_int_equal(rag_budget_create(&p, &b, &err), RAG_OK);
    assert_int_equal(rag_budget_check(b, 0.049, &err), RAG_OK);
    assert_int_equal(rag_budget_check(b, 0.05, &err), RAG_E_BUDGET);
    assert_non_null(strstr(err.msg, "request budget $0.0500 reached"));
    rag_budget_record(b, false, 1, 1000); /* no monthly cap */
    assert_int_equal(rag_budget_check(b, 0, &err), RAG_OK);
    rag_budget_free(b);
}

static void test_alerts(void **state)
{
    (void)state;
    fake_now = 1793491200;
    write_usage("{\"month\":\"2026-11\",\"spent_usd\":0.6,\"calls\":1}");
    rag_budget_params p = params(1.0, 0);
    rag_budget_t *b = NULL;
    assert_int_equal(rag_budget_create(&p, &b, NULL), RAG_OK);
    rag_budget_snapshot s;
    rag_budget_get(b, &s);
    assert_int_equal(s.alerts, RAG_BUDGET_ALERT_50); /* crossed before: set, not logged again */
    assert_int_equal(s.alerts_logged, 0);
    rag_budget_record(b, false, 100, 0.1); /* 0.7 */
    rag_budget_get(b, &s);
    assert_int_equal(s.alerts_logged, 0);
    rag_budget_record(b, false, 100, 0.15); /* 0.85 -> 80 % */
    rag_budget_record(b, false, 100, 0.01); /* still 80 %: logged once */
    rag_budget_get(b, &s);
    assert_int_equal(s.alerts, RAG_BUDGET_ALERT_50 | RAG_BUDGET_ALERT_80);
    assert_int_equal(s.alerts_logged, 1);
    rag_budget_record(b, false, 100, 0.2); /* 100 % */
    rag_budget_get(b, &s);
    assert_true(s.alerts & RAG_BUDGET_ALERT_100);
    assert_int_equal(s.alerts_logged, 2);
    rag_budget_free(b);

    /* error rate and p95 latency over the window */
    p = params(0, 0);
    p.data_dir = NULL;
    assert_int_equal(rag_budget_create(&p, &b, NULL), RAG_OK);
    for (int i = 0; i < 9; i++)
        rag_budget_record(b, i < 3, 100, 0);
    rag_budget_get(b, &s);
    assert_int_equal(s.alerts, 0); /* fewer than RAG_BUDGET_MIN_CALLS calls */
    assert_true(fabs(s.error_rate - 3.0 / 9) < 1e-12);
    rag_budget_record(b, false, 100, 0); /* 3 / 10 = 30 % > 20 % */
    rag_budget_get(b, &s);
    assert_int_equal(s.alerts, RAG_BUDGET_ALERT_ERROR_RATE);
    assert_int_equal(s.alerts_logged, 1);
    for (int i = 0; i < 40; i++)
        rag_budget_record(b, false, 100, 0); /* 3 / 50 = 6 % */
    rag_budget_get(b, &s);
    assert_int_equal(s.window_calls, RAG_BUDGET_WINDOW);
    assert_int_equal(s.alerts, 0);
    assert_true(fabs(s.p95_ms - 100) < 1e-9);
    for (int i = 0; i < 3; i++)
        rag_budget_record(b, false, 20000, 0); /* 3 of 50 slow: p95 = 20 s */
    rag_budget_get(b, &s);
    assert_int_equal(s.alerts, RAG_BUDGET_ALERT_LATENCY);
    assert_true(s.p95_ms == 20000);
    assert_int_equal(s.alerts_logged, 2);
    rag_budget_free(b);
}

typedef struct targ {
    rag_budget_t *b;
} targ;

static void *spender(void *p)
{
    targ *a = p;
    for (int i = 0; i < 250; i++) {
        rag_budget_check(a->b, 0, NULL);
        rag_budget_record(a->b, false, 1, 0.001);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    fake_now = 1793491200;
    write_usage("{\"month\":\"2026-11\",\"spent_usd\":0,\"calls\":0}");
    rag_budget_params p = params(0, 0);
    rag_budget_t *b = NULL;
    assert_int_equal(rag_budget_create(&p, &b, NULL), RAG_OK);
    pthread_t th[4];
    targ a = {b};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, spender, &a), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    rag_budget_snapshot s;
    rag_budget_get(b, &s);
    assert_int_equal(s.calls, 1000);
    assert_true(fabs(s.spent_usd - 1.0) < 1e-9);
    json_t *u = read_usage();
    assert_non_null(u);
    assert_int_equal(json_integer_value(json_object_get(u, "calls")), 1000);
    json_decref(u);
    rag_budget_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_tokens),
        cmocka_unit_test(test_price_from_catalog),
        cmocka_unit_test(test_budget_persist_and_rollover),
        cmocka_unit_test(test_budget_bad_inputs),
        cmocka_unit_test(test_request_budget),
        cmocka_unit_test(test_alerts),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
