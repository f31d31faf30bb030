/* Test harness shared by the test_models_*.c files (header-only: each test is one translation
 * unit): starts the in-repo fake HF server (tests/fakehf/fakehf.py, from $RAGC_SOURCE_DIR) once per
 * binary with --token TOKEN, drives its control plane, and builds a net client + models env with a
 * fast retry policy. python3 missing is a test failure with a clear message, not a skip. */
#ifndef TEST_MODELS_FAKE_H
#define TEST_MODELS_FAKE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ragc/models.h"

#define TOKEN "hf_test_token"
#define ANSWER "The pump must be primed before use. [1] Filters are cleaned monthly! [2]"
#define PROMPT                                                                                     \
    "[1] The pump must be primed before use. Then open the valve.\n[2] Filters are cleaned "       \
    "monthly! Replace them yearly.\n\nQuestion: how do I start the pump?"

static pid_t g_pid = -1;
static char g_dir[64];
static char g_base[64];
static char g_base_v1[80];
static rag_net_client *g_ctl; /* control-plane client */

static __attribute__((unused)) bool fake_in_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    char buf[4096];
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, prog);
        if (access(buf, X_OK) == 0)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

static __attribute__((unused)) int fake_start(void **state)
{
    (void)state;
    if (!fake_in_path("python3")) {
        fprintf(stderr, "FAIL: python3 is not in PATH; the fake HF server (tests/fakehf/fakehf.py) needs it. "
                        "Install python3.\n");
        return -1;
    }
    const char *src = getenv("RAGC_SOURCE_DIR");
    char script[1024];
    snprintf(script, sizeof script, "%s/tests/fakehf/fakehf.py", src && *src ? src : ".");
    if (access(script, R_OK) != 0) {
        fprintf(stderr, "FAIL: %s not found (set RAGC_SOURCE_DIR to the source tree)\n", script);
        return -1;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/ragc-models-fake-XXXXXX");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "FAIL: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    char portfile[128];
    snprintf(portfile, sizeof portfile, "%s/port", g_dir);
    pid_t parent = getpid();
    g_pid = fork();
    if (g_pid < 0)
        return -1;
    if (g_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
        if (getppid() != parent)
            _exit(1);
        execlp("python3", "python3", "-S", script, "--port", "0", "--port-file", portfile, "--token", TOKEN,
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) { /* up to 10 s */
        FILE *f = fopen(portfile, "r");
        int port = 0;
        if (f) {
            if (fscanf(f, "%d", &port) != 1)
                port = 0;
            fclose(f);
        }
        if (port > 0) {
            snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", port);
            snprintf(g_base_v1, sizeof g_base_v1, "%s/v1", g_base);
            return rag_net_client_create(NULL, &g_ctl, NULL) == RAG_OK ? 0 : -1;
        }
        int wst;
        if (waitpid(g_pid, &wst, WNOHANG) == g_pid) {
            fprintf(stderr, "FAIL: fakehf.py exited (status %d) before listening\n", wst);
            g_pid = -1;
            return -1;
        }
        usleep(50000);
    }
    fprintf(stderr, "FAIL: fakehf.py did not write its port file in 10 s\n");
    return -1;
}

static __attribute__((unused)) int fake_stop(void **state)
{
    (void)state;
    rag_net_client_free(g_ctl);
    g_ctl = NULL;
    if (g_pid > 0) {
        kill(g_pid, SIGTERM);
        int wst;
        waitpid(g_pid, &wst, 0);
        g_pid = -1;
    }
    char path[160];
    snprintf(path, sizeof path, "%s/port", g_dir);
    unlink(path);
    rmdir(g_dir);
    return 0;
}

/* Control plane: POST path with a JSON body (or GET when body is NULL); returns the reply. */
static __attribute__((unused)) json_t *fake_control(const char *path, const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    rag_net_request req;
    memset(&req, 0, sizeof req);
    req.method = body ? RAG_HTTP_POST : RAG_HTTP_GET;
    req.url = url;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.expect_json = true;
    req.backend = "fake-control";
    rag_net_response resp;
    rag_net_response_init(&resp);
    rag_err err;
    rag_status st = rag_net_call(g_ctl, &req, &resp, NULL, &err);
    if (st != RAG_OK)
        fail_msg("control %s: %s", path, err.msg);
    json_t *v = json_incref(resp.json);
    rag_net_response_free(&resp);
    return v;
}

static __attribute__((unused)) void fake_reset(void)
{
    json_decref(fake_control("/_fake/reset", "{}"));
}

/* Queues faults (a JSON list, e.g. "[\"429_retry_after\"]") for requests matching match. */
static __attribute__((unused)) void fake_faults(const char *match, const char *list, bool sticky)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"match\":\"%s\",\"faults\":%s,\"sticky\":%s}", match, list,
             sticky ? "true" : "false");
    json_decref(fake_control("/_fake/faults", body));
}

static __attribute__((unused)) json_t *fake_stats(void)
{
    return fake_control("/_fake/stats", NULL);
}

/* Requests of a kind ("chat", "feature_extraction", ...); "total" = requests_total. */
static __attribute__((unused)) long fake_requests(const char *kind)
{
    json_t *s = fake_stats();
    json_int_t n = !strcmp(kind, "total") ? json_integer_value(json_object_get(s, "requests_total"))
                                          : json_integer_value(json_object_get(json_object_get(s, "requests"), kind));
    json_decref(s);
    return (long)n;
}

/* The last model request's body (caller json_decref's). */
static __attribute__((unused)) json_t *fake_last_body(void)
{
    json_t *s = fake_stats();
    json_t *b = json_incref(json_object_get(s, "last_body"));
    json_decref(s);
    return b;
}

/* A net client and models env with a fast retry policy (base 20 ms, cap 50 ms). */
typedef struct fx {
    rag_net_client *net;
    rag_net_retry_params retry;
    rag_models_env env;
} fx;

static __attribute__((unused)) fx *fx_new_breaker(int breaker_threshold)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    rag_net_client_params p = rag_net_client_default_params();
    p.retry.base_ms = 20;
    p.retry.cap_ms = 50;
    p.breaker.failure_threshold = breaker_threshold;
    rag_err err;
    if (rag_net_client_create(&p, &f->net, &err) != RAG_OK)
        fail_msg("net client: %s", err.msg);
    f->retry = p.retry;
    f->env.net = f->net;
    f->env.default_timeout_ms = 10000;
    f->env.retry = &f->retry;
    return f;
}

static __attribute__((unused)) fx *fx_new(void)
{
    return fx_new_breaker(5);
}

static __attribute__((unused)) void fx_free(fx *f)
{
    if (!f)
        return;
    rag_net_client_free(f->net);
    free(f);
}

/* A backend entry pointing at the fake server with the test token; every number unset. */
static __attribute__((unused)) rag_backend_config fake_backend(const char *type, const char *model)
{
    rag_backend_config c;
    memset(&c, 0, sizeof c);
    c.type = type;
    c.model = model;
    c.base_url = g_base;
    c.api_key = TOKEN;
    c.timeout_ms = -1;
    c.max_retries = -1;
    c.batch_size = -1;
    c.normalize = -1;
    c.max_tokens = -1;
    c.temperature = -1;
    c.num_ctx = -1;
    c.price_input_per_mtok = -1;
    c.price_output_per_mtok = -1;
    c.price_per_call = -1;
    return c;
}

/* Fails when s contains the test token. */
static __attribute__((unused)) void assert_no_token(const char *s)
{
    if (s && strstr(s, TOKEN))
        fail_msg("the token leaked into: %s", s);
}

/* Fails when the JSON rendering of a chain report contains the token. */
static __attribute__((unused)) void assert_report_clean(const rag_chain_report *r)
{
    json_t *j = NULL;
    assert_int_equal(rag_chain_report_to_json(r, &j, NULL), RAG_OK);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(s);
    assert_no_token(s);
    free(s);
    json_decref(j);
}

#endif /* TEST_MODELS_FAKE_H */
