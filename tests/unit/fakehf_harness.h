/* Fake-server harness shared by test_net_fakehf.c and (through test_models_fake.h) the
 * test_models_*.c files (header-only: each test is one translation unit; needs only ragc_net):
 * starts the in-repo fake HF server (tests/fakehf/fakehf.py, from $RAGC_SOURCE_DIR) once per
 * binary with --token TOKEN and drives its control plane. python3 missing is a test failure with a clear message, not a skip. */
#ifndef FAKEHF_HARNESS_H
#define FAKEHF_HARNESS_H

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

#include <jansson.h>

#include "ragc/net.h"

#define TOKEN "hf_test_token"
#define ANSWER "The pump must be primed before use. [1] Filters are cleaned monthly! [2]"

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
    snprintf(g_dir, sizeof g_dir, "/tmp/ragc-fakehf-XXXXXX");
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

#endif /* FAKEHF_HARNESS_H */
