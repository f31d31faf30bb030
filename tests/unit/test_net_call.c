/* Unit tests for rag_net_call and rag_http_perform against an in-process HTTP/1.1 server that
 * plays a script of canned responses (keep-alive, truncation, early close, slow answers).
 * The client runs on a fake clock, so retry waits are checked exactly and cost no time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ragc/net.h"

/* ---- canned server ---- */

typedef enum { R_NORMAL = 0, R_TRUNCATE, R_NO_RESPONSE, R_STREAM_CLOSE } reply_mode;

typedef struct canned {
    int status;
    const char *headers; /* extra header lines, each ending "\r\n" */
    const char *body;
    reply_mode mode;
    int slow_ms;
} canned;

typedef struct server {
    int lfd, port;
    pthread_t th;
    pthread_mutex_t mu;
    canned script[16];
    int n, next;
    int requests, connections, active; /* active: connection threads running */
    char last_request[8192];
    int stop;
} server;

static int stopping(server *s)
{
    pthread_mutex_lock(&s->mu);
    int v = s->stop;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* Waits for fd to be readable; 1 readable, 0 stop requested, -1 error. */
static int wait_readable(server *s, int fd)
{
    for (;;) {
        if (stopping(s))
            return 0;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, 20);
        if (r > 0)
            return 1;
        if (r < 0)
            return -1;
    }
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Serves requests on one connection until the client closes it or a reply closes it. */
static void serve_conn(server *s, int fd)
{
    char buf[65536];
    for (;;) {
        size_t len = 0;
        char *end = NULL;
        buf[0] = '\0';
        while (!(end = strstr(buf, "\r\n\r\n"))) {
            if (len + 1 >= sizeof buf || wait_readable(s, fd) != 1)
                return;
            ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
            if (r <= 0)
                return;
            len += (size_t)r;
            buf[len] = '\0';
        }
        size_t head = (size_t)(end - buf) + 4, clen = 0;
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl && cl < end)
            clen = strtoul(cl + 17, NULL, 10);
        while (len < head + clen && len + 1 < sizeof buf) {
            if (wait_readable(s, fd) != 1)
                return;
            ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
            if (r <= 0)
                return;
            len += (size_t)r;
            buf[len] = '\0';
        }
        canned c = {200, "", "{\"ok\":true}", R_NORMAL, 0};
        pthread_mutex_lock(&s->mu);
        size_t keep = len < sizeof s->last_request - 1 ? len : sizeof s->last_request - 1;
        memcpy(s->last_request, buf, keep); /* the request, cut to fit */
        s->last_request[keep] = '\0';
        s->requests++;
        if (s->next < s->n)
            c = s->script[s->next++];
        pthread_mutex_unlock(&s->mu);
        for (int waited = 0; waited < c.slow_ms && !stopping(s); waited += 10)
            usleep(10000);
        if (c.mode == R_NO_RESPONSE)
            return;
        char hdr[2048];
        size_t blen = strlen(c.body);
        if (c.mode == R_STREAM_CLOSE)
            snprintf(hdr, sizeof hdr, "HTTP/1.1 %d X\r\nConnection: close\r\n%s\r\n", c.status, c.headers);
        else
            snprintf(hdr, sizeof hdr, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", c.status,
                     blen + (c.mode == R_TRUNCATE ? 100 : 0), c.headers);
        send_all(fd, hdr, strlen(hdr));
        send_all(fd, c.body, blen);
        if (c.mode != R_NORMAL)
            return;
    }
}

typedef struct conn_arg {
    server *s;
    int fd;
} conn_arg;

static void *conn_main(void *p)
{
    conn_arg *a = p;
    serve_conn(a->s, a->fd);
    close(a->fd);
    pthread_mutex_lock(&a->s->mu);
    a->s->active--;
    pthread_mutex_unlock(&a->s->mu);
    free(a);
    return NULL;
}

/* Accepts connections; each is served by its own detached thread. */
static void *server_main(void *p)
{
    server *s = p;
    while (wait_readable(s, s->lfd) == 1) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        conn_arg *a = malloc(sizeof *a);
        assert_non_null(a);
        a->s = s;
        a->fd = fd;
        pthread_mutex_lock(&s->mu);
        s->connections++;
        s->active++;
        pthread_mutex_unlock(&s->mu);
        pthread_t th;
        if (pthread_create(&th, NULL, conn_main, a) != 0) {
            close(fd);
            free(a);
            pthread_mutex_lock(&s->mu);
            s->active--;
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        pthread_detach(th);
    }
    return NULL;
}

static server *server_start(const canned *script, int n)
{
    server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    pthread_mutex_init(&s->mu, NULL);
    assert_true(n <= 16);
    for (int i = 0; i < n; i++)
        s->script[i] = script[i];
    s->n = n;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    socklen_t al = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
    return s;
}

static void server_stop(server *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    for (;;) { /* connection threads notice stop within a poll period */
        pthread_mutex_lock(&s->mu);
        int active = s->active;
        pthread_mutex_unlock(&s->mu);
        if (!active)
            break;
        usleep(5000);
    }
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int server_requests(server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->requests;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- fake clock, fixed jitter, hook ---- */

typedef struct fake_time {
    double now;
    double sleeps[64];
    int n_sleeps;
} fake_time;

static double fake_now(void *ud) { return ((fake_time *)ud)->now; }

static void fake_sleep(void *ud, double ms)
{
    fake_time *t = ud;
    if (t->n_sleeps < 64)
        t->sleeps[t->n_sleeps++] = ms;
    t->now += ms;
}

static double half(void *ud)
{
    (void)ud;
    return 0.5;
}

typedef struct hook_log {
    int attempts, finals;
    rag_status attempt_status[16];
    rag_status final_status;
    int final_attempts;
    char backend[32], model[64];
} hook_log;

static void hook(void *ud, const rag_net_event *ev)
{
    hook_log *h = ud;
    if (ev->kind == RAG_NET_EVENT_ATTEMPT) {
        if (h->attempts < 16)
            h->attempt_status[h->attempts] = ev->attempt_status;
        h->attempts++;
        assert_int_equal(ev->attempt, h->attempts);
        assert_non_null(ev->resp);
    } else {
        h->finals++;
        h->final_status = ev->outcome->status;
        h->final_attempts = ev->outcome->attempts;
        snprintf(h->backend, sizeof h->backend, "%s", ev->backend);
        snprintf(h->model, sizeof h->model, "%s", ev->model);
    }
}

typedef struct fixture {
    fake_time ft;
    hook_log hl;
    rag_net_client *c;
    server *s;
    char url[128];
    rag_net_request req;
    rag_net_response resp;
    rag_net_outcome out;
    rag_err err;
} fixture;

static fixture *setup(const canned *script, int n, int breaker_threshold)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->ft.now = 1000;
    rag_net_client_params p = rag_net_client_default_params();
    p.timer.now_ms = fake_now;
    p.timer.sleep_ms = fake_sleep;
    p.timer.ud = &f->ft;
    p.rand01 = half;
    p.hook = hook;
    p.hook_ud = &f->hl;
    if (breaker_threshold)
        p.breaker.failure_threshold = breaker_threshold;
    p.breaker.cooldown_ms = 10000;
    assert_int_equal(rag_net_client_create(&p, &f->c, &f->err), RAG_OK);
    f->s = server_start(script, n);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d/v1/chat/completions?x=1", f->s->port);
    f->req.method = RAG_HTTP_POST;
    f->req.url = f->url;
    f->req.body = "{\"q\":1}";
    f->req.body_len = 7;
    f->req.expect_json = true;
    f->req.backend = "huggingface_api";
    f->req.model = "org/model";
    rag_net_response_init(&f->resp);
    return f;
}

static rag_status call(fixture *f)
{
    memset(&f->hl, 0, sizeof f->hl);
    f->ft.n_sleeps = 0;
    rag_status st = rag_net_call(f->c, &f->req, &f->resp, &f->out, &f->err);
    if (getenv("NET_TEST_VERBOSE"))
        fprintf(stderr, "call: %s attempts %d: %s\n", rag_status_str(st), f->out.attempts, f->err.msg);
    return st;
}

static void teardown(fixture *f)
{
    rag_net_response_free(&f->resp);
    rag_net_client_free(f->c);
    server_stop(f->s);
    free(f);
}

/* ---- tests ---- */

static void test_429_retry_after_then_ok(void **state)
{
    (void)state;
    canned script[] = {
        {429, "Retry-After: 1\r\nx-request-id: req-1\r\n", "{\"error\":\"Rate limit reached\"}", R_NORMAL, 0},
        {200, "x-request-id: req-2\r\nx-inference-provider: together\r\nContent-Type: application/json\r\n",
         "{\"choices\":[]}", R_NORMAL, 0},
    };
    fixture *f = setup(script, 2, 0);
    assert_int_equal(call(f), RAG_OK);
    assert_int_equal(f->out.status, RAG_OK);
    assert_int_equal(f->out.attempts, 2);
    assert_int_equal(f->out.retries, 1);
    assert_int_equal(f->out.n_sleeps, 1);
    assert_true(f->out.sleeps_ms[0] == 1000);
    assert_int_equal(f->ft.n_sleeps, 1);
    assert_true(f->ft.sleeps[0] == 1000);
    assert_true(f->out.total_ms == 1000);
    assert_int_equal(f->out.http_status, 200);
    assert_string_equal(f->out.request_id, "req-2");
    assert_string_equal(f->out.provider, "together");
    assert_string_equal(f->resp.content_type, "application/json");
    assert_true(json_is_array(json_object_get(f->resp.json, "choices")));
    assert_string_equal(f->out.message, "");
    /* hook: one event per attempt and one final */
    assert_int_equal(f->hl.attempts, 2);
    assert_int_equal(f->hl.attempt_status[0], RAG_E_RATE_LIMITED);
    assert_int_equal(f->hl.attempt_status[1], RAG_OK);
    assert_int_equal(f->hl.finals, 1);
    assert_int_equal(f->hl.final_attempts, 2);
    assert_string_equal(f->hl.backend, "huggingface_api");
    assert_string_equal(f->hl.model, "org/model");
    /* the request went out as a POST with the JSON content type and body */
    assert_non_null(strstr(f->s->last_request, "POST /v1/chat/completions?x=1 HTTP/1.1"));
    assert_non_null(strstr(f->s->last_request, "Content-Type: application/json"));
    assert_non_null(strstr(f->s->last_request, "{\"q\":1}"));
    assert_int_equal(rag_net_client_breaker_state(f->c, "huggingface_api", "org/model"), 0);
    teardown(f);
}

static void test_server_wait_headers(void **state)
{
    (void)state;
    canned script[] = {
        {429, "RateLimit: \"api\";r=0;t=2\r\nRateLimit-Policy: \"fixed window\";\"api\";q=1000;w=300\r\n",
         "{\"error\":\"Rate limit reached\"}", R_NORMAL, 0},
        {503, "", "{\"error\":\"Model X is currently loading\",\"estimated_time\":2.5}", R_NORMAL, 0},
        {200, "", "{}", R_NORMAL, 0},
    };
    fixture *f = setup(script, 3, 0);
    assert_int_equal(call(f), RAG_OK);
    assert_int_equal(f->out.attempts, 3);
    assert_int_equal(f->out.n_sleeps, 2);
    assert_true(f->out.sleeps_ms[0] == 3000); /* t + 1 s */
    assert_true(f->out.sleeps_ms[1] == 2500); /* estimated_time */
    assert_true(f->out.slept_ms == 5500);
    teardown(f);
}

static void test_5xx_exhausts_retries(void **state)
{
    (void)state;
    canned script[] = {
        {500, "", "{\"error\":\"boom\"}", R_NORMAL, 0},
        {502, "", "{\"error\":[\"bad\",\"gateway\"]}", R_NORMAL, 0},
        {504, "", "{\"error\":{\"message\":\"gateway timeout\"}}", R_NORMAL, 0},
        {500, "", "{\"message\":\"m\"}", R_NORMAL, 0},
        {500, "", "{\"detail\":\"d\"}", R_NORMAL, 0},
        {503, "x-request-id: last-one\r\n", "<html>Service Unavailable</html>", R_NORMAL, 0},
        {200, "", "{}", R_NORMAL, 0},
    };
    fixture *f = setup(script, 7, 0);
    assert_int_equal(call(f), RAG_E_UPSTREAM);
    assert_int_equal(f->out.attempts, 6); /* 1 + 5 retries */
    assert_int_equal(f->out.retries, 5);
    double want[] = {500, 1000, 2000, 4000, 4000}; /* full jitter at 0.5 of 1,2,4,8,8 s */
    assert_int_equal(f->out.n_sleeps, 5);
    for (int i = 0; i < 5; i++)
        assert_true(f->out.sleeps_ms[i] == want[i]);
    assert_int_equal(f->out.http_status, 503);
    assert_non_null(strstr(f->err.msg, "huggingface_api org/model: POST http://127.0.0.1:"));
    assert_null(strstr(f->err.msg, "?x=1")); /* query strings are not quoted */
    assert_non_null(strstr(f->err.msg, "HTTP 503"));
    assert_non_null(strstr(f->err.msg, "<html>Service Unavailable</html>"));
    assert_non_null(strstr(f->err.msg, "6 attempts"));
    assert_non_null(strstr(f->err.msg, "request id last-one"));
    assert_string_equal(f->out.message, f->err.msg);
    assert_int_equal(f->hl.attempts, 6);
    assert_int_equal(f->hl.final_status, RAG_E_UPSTREAM);
    assert_int_equal(server_requests(f->s), 6);
    teardown(f);
}

static void test_no_retry_statuses(void **state)
{
    (void)state;
    struct {
        int status;
        const char *hdr, *body;
        rag_status want;
        const char *text;
    } cases[] = {
        {402, "", "{\"error\":\"You have exceeded your monthly included credits\"}", RAG_E_BUDGET, "monthly included credits"},
        {401, "X-Error-Message: Invalid credentials in Authorization header\r\n", "{\"error\":\"x\"}", RAG_E_AUTH,
         "Invalid credentials"},
        {403, "", "{\"error\":\"no permission\"}", RAG_E_AUTH, "no permission"},
        {404, "", "{\"error\":\"Model not found\"}", RAG_E_NOT_FOUND, "Model not found"},
        {400, "", "{\"error\":\"not supported by any provider\"}", RAG_E_BAD_INPUT, "not supported"},
        {422, "", "{\"error\":\"batch too large\",\"error_type\":\"Validation\"}", RAG_E_BAD_INPUT, "[validation]"},
        {302, "Location: https://elsewhere.example/x\r\n", "", RAG_E_UPSTREAM, "redirect to https://elsewhere.example/x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        canned script[] = {{cases[i].status, cases[i].hdr, cases[i].body, R_NORMAL, 0}, {200, "", "{}", R_NORMAL, 0}};
        fixture *f = setup(script, 2, 0);
        assert_int_equal(call(f), cases[i].want);
        assert_int_equal(f->out.attempts, 1);
        assert_int_equal(f->out.n_sleeps, 0);
        assert_int_equal(f->out.http_status, cases[i].status);
        if (!strstr(f->err.msg, cases[i].text))
            fail_msg("HTTP %d: message \"%s\" lacks \"%s\"", cases[i].status, f->err.msg, cases[i].text);
        assert_non_null(strstr(f->err.msg, "1 attempt"));
        assert_int_equal(server_requests(f->s), 1);
        teardown(f);
    }
}

static void test_token_never_leaks(void **state)
{
    (void)state;
    const char *token = "hf_SeCrEtToKeN1234567890";
    canned script[] = {
        {401, "X-Error-Message: token hf_SeCrEtToKeN1234567890 is invalid\r\n", "{}", R_NORMAL, 0},
        {500, "", "{\"error\":\"upstream saw Bearer hf_SeCrEtToKeN1234567890 and abc-plain-secret\"}", R_NORMAL, 0},
    };
    fixture *f = setup(script, 2, 0);
    f->req.bearer_token = token;
    assert_int_equal(call(f), RAG_E_AUTH);
    /* the token was sent ... */
    assert_non_null(strstr(f->s->last_request, "Authorization: Bearer hf_SeCrEtToKeN1234567890"));
    /* ... and appears in no message */
    assert_null(strstr(f->err.msg, "SeCrEt"));
    assert_null(strstr(f->out.message, "SeCrEt"));
    assert_null(strstr(f->resp.error.message, "SeCrEt"));
    assert_non_null(strstr(f->err.msg, "token *** is invalid"));
    /* a configured token without the hf_ prefix is redacted too */
    f->req.bearer_token = "abc-plain-secret";
    f->req.retry = &(rag_net_retry_params){0, 1000, 8000, true, 60000};
    assert_int_equal(call(f), RAG_E_UPSTREAM);
    assert_null(strstr(f->err.msg, "abc-plain-secret"));
    assert_null(strstr(f->err.msg, "SeCrEt"));
    assert_non_null(strstr(f->err.msg, "Bearer ***"));
    /* a token with a line break is refused before anything is sent */
    int before = server_requests(f->s);
    f->req.bearer_token = "abc\r\nX-Evil: 1";
    assert_int_equal(call(f), RAG_E_CONFIG);
    assert_int_equal(server_requests(f->s), before);
    teardown(f);
}

static void test_deadline_cut_and_timeout(void **state)
{
    (void)state;
    canned script[] = {
        {429, "Retry-After: 10\r\n", "{\"error\":\"Rate limit reached\"}", R_NORMAL, 0},
        {200, "", "{}", R_NORMAL, 0},
    };
    fixture *f = setup(script, 2, 0);
    f->req.deadline_ms = f->ft.now + 5000;
    assert_int_equal(call(f), RAG_E_RATE_LIMITED);
    assert_true(f->out.deadline_cut);
    assert_int_equal(f->out.attempts, 1);
    assert_int_equal(f->ft.n_sleeps, 0); /* stopped at once, no sleep */
    assert_non_null(strstr(f->err.msg, "next retry in 10.0 s would pass the deadline"));
    /* a deadline already passed: no attempt at all */
    f->req.deadline_ms = f->ft.now - 1;
    assert_int_equal(call(f), RAG_E_TIMEOUT);
    assert_int_equal(f->out.attempts, 0);
    assert_int_equal(server_requests(f->s), 1);
    teardown(f);
}

static void test_slow_server_real_deadline(void **state)
{
    (void)state;
    /* real clock: the server answers after 1.5 s, the deadline is 300 ms away */
    canned script[] = {{200, "", "{}", R_NORMAL, 1500}, {200, "", "{}", R_NORMAL, 1500},
                       {200, "", "{}", R_NORMAL, 1500}, {200, "", "{}", R_NORMAL, 1500}};
    server *s = server_start(script, 4);
    rag_net_client *c;
    assert_int_equal(rag_net_client_create(NULL, &c, NULL), RAG_OK);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", s->port);
    rag_net_request req = {0};
    req.url = url;
    double t0 = rag_now_ms();
    req.deadline_ms = t0 + 300;
    rag_net_response resp;
    rag_net_response_init(&resp);
    rag_net_outcome out;
    rag_err err;
    assert_int_equal(rag_net_call(c, &req, &resp, &out, &err), RAG_E_TIMEOUT);
    double dt = rag_now_ms() - t0;
    assert_true(dt >= 250 && dt < 500);
    assert_non_null(strstr(err.msg, "timed out"));
    assert_true(out.attempts >= 1);
    rag_net_response_free(&resp);
    rag_net_client_free(c);
    server_stop(s);
}

static void test_transport_failures_retry(void **state)
{
    (void)state;
    canned script[] = {
        {200, "", "{\"choices\":[1,2,3]}", R_TRUNCATE, 0}, /* Content-Length 100 more than sent */
        {200, "", "", R_NO_RESPONSE, 0},                     /* connection closed, no reply */
        {200, "", "{\"ok\":1}", R_NORMAL, 0},
    };
    fixture *f = setup(script, 3, 0);
    assert_int_equal(call(f), RAG_OK);
    assert_int_equal(f->out.attempts, 3);
    assert_int_equal(f->hl.attempt_status[0], RAG_E_UPSTREAM); /* truncated body */
    assert_int_equal(f->hl.attempt_status[1], RAG_E_IO);       /* empty reply */
    assert_int_equal(json_integer_value(json_object_get(f->resp.json, "ok")), 1);
    teardown(f);

    /* nobody listening: network error, retried, then IO */
    canned none[] = {{200, "", "{}", R_NORMAL, 0}};
    f = setup(none, 1, 0);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:1/nothing");
    f->req.retry = &(rag_net_retry_params){2, 1000, 8000, false, 60000};
    assert_int_equal(call(f), RAG_E_IO);
    assert_int_equal(f->out.attempts, 3);
    assert_true(f->out.sleeps_ms[0] == 1000 && f->out.sleeps_ms[1] == 2000);
    assert_non_null(strstr(f->err.msg, "3 attempts"));
    teardown(f);
}

static void test_malformed_and_oversize(void **state)
{
    (void)state;
    static char big[3000];
    memset(big, ' ', sizeof big - 1);
    big[0] = '[';
    big[sizeof big - 2] = ']';
    canned script[] = {
        {200, "", "{\"choices\": [", R_NORMAL, 0},
        {200, "", big, R_NORMAL, 0},       /* Content-Length over the cap: refused up front */
        {200, "", big, R_STREAM_CLOSE, 0}, /* no Content-Length: cut while reading */
        {200, "", "", R_NORMAL, 0},
    };
    fixture *f = setup(script, 4, 0);
    assert_int_equal(call(f), RAG_E_UPSTREAM);
    assert_int_equal(f->out.attempts, 1); /* malformed JSON is not retried */
    assert_non_null(strstr(f->err.msg, "malformed JSON"));
    assert_null(f->resp.json);
    f->req.max_body_bytes = 1000;
    assert_int_equal(call(f), RAG_E_TOO_LARGE);
    assert_int_equal(f->out.attempts, 1);
    assert_non_null(strstr(f->err.msg, "1000 bytes"));
    assert_int_equal(call(f), RAG_E_TOO_LARGE);
    assert_int_equal(f->out.attempts, 1);
    assert_true(f->resp.body.len <= 1000);
    /* an empty 2xx body is not JSON */
    assert_int_equal(call(f), RAG_E_UPSTREAM);
    assert_non_null(strstr(f->err.msg, "empty body"));
    /* without expect_json the body is returned as is */
    f->req.expect_json = false;
    f->req.max_body_bytes = 0;
    assert_int_equal(call(f), RAG_OK);
    assert_string_equal(f->resp.body.data, "{\"ok\":true}");
    assert_null(f->resp.json);
    teardown(f);
}

typedef struct sse_sink {
    rag_sse_parser *p;
    char text[256];
} sse_sink;

static rag_status sink_event(void *ud, const rag_sse_event *ev, rag_err *err)
{
    (void)err;
    sse_sink *s = ud;
    strncat(s->text, ev->data, sizeof s->text - strlen(s->text) - 2);
    strcat(s->text, ";");
    return RAG_OK;
}

static void test_streaming(void **state)
{
    (void)state;
    canned script[] = {
        {500, "", "{\"error\":\"warming up\"}", R_NORMAL, 0}, /* error body buffered, not streamed; retried */
        {200, "Content-Type: text/event-stream\r\n", "data: {\"a\":1}\r\n\r\n: ping\r\ndata: {\"b\":2}\n\ndata: [DONE]\n\n",
         R_STREAM_CLOSE, 0},
        {200, "", "data: {\"a\":1}\n\ndata: {\"b\"", R_STREAM_CLOSE, 0}, /* cut */
        {200, "", "", R_STREAM_CLOSE, 0},                                  /* nothing at all: retried */
        {200, "", "data: x\n\ndata: [DONE]\n\n", R_STREAM_CLOSE, 0},
        {200, "", "data: y\n\ndata: z\n\n", R_TRUNCATE, 0}, /* connection dropped mid-stream */
    };
    fixture *f = setup(script, 6, 0);
    sse_sink sink;
    memset(&sink, 0, sizeof sink);
    assert_int_equal(rag_sse_parser_create(0, sink_event, &sink, &sink.p, NULL), RAG_OK);
    f->req.on_line = rag_sse_on_line;
    f->req.on_end = rag_sse_on_end;
    f->req.stream_ud = sink.p;
    f->req.expect_json = false;
    assert_int_equal(call(f), RAG_OK);
    assert_int_equal(f->out.attempts, 2);
    assert_string_equal(sink.text, "{\"a\":1};{\"b\":2};");
    assert_int_equal(f->resp.lines_delivered, 7);
    assert_int_equal(f->resp.body.len, 0);
    assert_true(rag_sse_done(sink.p));
    rag_sse_parser_free(sink.p);

    /* cut mid-stream: truncated, and not retried because lines were delivered */
    memset(&sink, 0, sizeof sink);
    assert_int_equal(rag_sse_parser_create(0, sink_event, &sink, &sink.p, NULL), RAG_OK);
    f->req.stream_ud = sink.p;
    assert_int_equal(call(f), RAG_E_UPSTREAM);
    assert_int_equal(f->out.attempts, 1);
    assert_true(rag_sse_truncated(sink.p));
    assert_non_null(strstr(f->err.msg, "truncated"));
    assert_string_equal(sink.text, "{\"a\":1};");
    rag_sse_parser_free(sink.p);

    /* an empty stream delivered no line: retried, and the same parser takes the next attempt */
    memset(&sink, 0, sizeof sink);
    assert_int_equal(rag_sse_parser_create(0, sink_event, &sink, &sink.p, NULL), RAG_OK);
    f->req.stream_ud = sink.p;
    assert_int_equal(call(f), RAG_OK);
    assert_int_equal(f->out.attempts, 2);
    assert_int_equal(f->hl.attempt_status[0], RAG_E_UPSTREAM);
    assert_string_equal(sink.text, "x;");
    assert_true(rag_sse_done(sink.p));
    assert_false(rag_sse_truncated(sink.p));
    rag_sse_parser_free(sink.p);

    /* a transport cut after events: the transport status, and the parser still saw the end */
    memset(&sink, 0, sizeof sink);
    assert_int_equal(rag_sse_parser_create(0, sink_event, &sink, &sink.p, NULL), RAG_OK);
    f->req.stream_ud = sink.p;
    assert_int_equal(call(f), RAG_E_UPSTREAM);
    assert_int_equal(f->out.attempts, 1);
    assert_string_equal(sink.text, "y;z;");
    assert_true(rag_sse_truncated(sink.p));
    assert_non_null(strstr(f->err.msg, "after streaming started"));
    assert_non_null(strstr(f->err.msg, "SSE stream truncated"));
    rag_sse_parser_free(sink.p);
    teardown(f);
}

static void test_stream_caps(void **state)
{
    (void)state;
    canned script[] = {
        {200, "", "data: 0123456789012345678901234567890123456789\n\n", R_STREAM_CLOSE, 0},
        {200, "", "data: a\n\ndata: b\n\ndata: c\n\ndata: [DONE]\n\n", R_STREAM_CLOSE, 0},
    };
    fixture *f = setup(script, 2, 0);
    sse_sink sink;
    memset(&sink, 0, sizeof sink);
    assert_int_equal(rag_sse_parser_create(0, sink_event, &sink, &sink.p, NULL), RAG_OK);
    f->req.on_line = rag_sse_on_line;
    f->req.stream_ud = sink.p;
    f->req.expect_json = false;
    f->req.max_line_bytes = 16;
    assert_int_equal(call(f), RAG_E_TOO_LARGE);
    assert_non_null(strstr(f->err.msg, "16 bytes"));
    assert_int_equal(f->out.attempts, 1);
    f->req.max_line_bytes = 0;
    f->req.max_stream_bytes = 20;
    assert_int_equal(call(f), RAG_E_TOO_LARGE);
    assert_non_null(strstr(f->err.msg, "20 bytes"));
    rag_sse_parser_free(sink.p);
    teardown(f);
}

typedef struct breaker_seen {
    int n;
    char backend[4][64], model[4][64];
    rag_net_breaker_state state[4];
    rag_net_breaker_transitions t[4];
} breaker_seen;

static void visit_breaker(void *ud, const char *backend, const char *model, rag_net_breaker_state st,
                          const rag_net_breaker_transitions *t)
{
    breaker_seen *s = ud;
    if (s->n >= 4)
        return;
    snprintf(s->backend[s->n], sizeof s->backend[0], "%s", backend);
    snprintf(s->model[s->n], sizeof s->model[0], "%s", model);
    s->state[s->n] = st;
    s->t[s->n++] = *t;
}

static void test_breaker_in_call(void **state)
{
    (void)state;
    canned script[] = {
        {402, "", "{\"error\":\"credits\"}", R_NORMAL, 0},
        {402, "", "{\"error\":\"credits\"}", R_NORMAL, 0},
        {200, "", "{}", R_NORMAL, 0},
    };
    fixture *f = setup(script, 3, 2);
    assert_int_equal(rag_net_client_breaker_state(f->c, "huggingface_api", "org/model"), -1);
    assert_int_equal(call(f), RAG_E_BUDGET);
    assert_int_equal(f->out.breaker_state, RAG_NET_BREAKER_CLOSED);
    assert_int_equal(call(f), RAG_E_BUDGET);
    assert_int_equal(f->out.breaker_state, RAG_NET_BREAKER_OPEN);
    assert_int_equal(rag_net_client_breaker_state(f->c, "huggingface_api", "org/model"), 1);
    /* refused without a request; the hook still sees a final event */
    assert_int_equal(call(f), RAG_E_CIRCUIT_OPEN);
    assert_true(f->out.breaker_refused);
    assert_int_equal(f->resp.http_status, 0); /* no stale response from the previous call */
    assert_int_equal(f->out.http_status, 0);
    assert_int_equal(f->out.attempts, 0);
    assert_int_equal(f->hl.finals, 1);
    assert_int_equal(f->hl.final_status, RAG_E_CIRCUIT_OPEN);
    assert_int_equal(server_requests(f->s), 2);
    assert_non_null(strstr(f->err.msg, "huggingface_api org/model: POST"));
    assert_non_null(strstr(f->err.msg, "circuit open"));
    /* another model of the same backend has its own breaker */
    f->req.model = "org/other";
    assert_int_equal(call(f), RAG_OK);
    /* after the cool-down the probe succeeds and closes it */
    f->req.model = "org/model";
    f->ft.now += 10000;
    assert_int_equal(call(f), RAG_OK);
    assert_int_equal(f->out.breaker_state, RAG_NET_BREAKER_CLOSED);
    /* the visitor sees both breakers with their transitions: open, half-open, closed once */
    breaker_seen seen;
    memset(&seen, 0, sizeof seen);
    rag_net_client_breakers(f->c, visit_breaker, &seen);
    rag_net_client_breakers(NULL, visit_breaker, &seen); /* no-op */
    rag_net_client_breakers(f->c, NULL, NULL);           /* no-op */
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.model[0], "org/model");
    assert_string_equal(seen.model[1], "org/other");
    assert_string_equal(seen.backend[0], "huggingface_api");
    assert_int_equal(seen.state[0], RAG_NET_BREAKER_CLOSED);
    assert_int_equal(seen.t[0].opened, 1);
    assert_int_equal(seen.t[0].half_opened, 1);
    assert_int_equal(seen.t[0].closed, 1);
    assert_int_equal(seen.t[1].opened + seen.t[1].half_opened + seen.t[1].closed, 0);
    teardown(f);
}

static void test_rate_limit_in_call(void **state)
{
    (void)state;
    fixture *f = setup(NULL, 0, 0);
    rag_err err;
    assert_int_equal(rag_net_client_set_rate_limit(f->c, "huggingface_api", 1.0, 1.0, &err), RAG_OK);
    assert_int_equal(call(f), RAG_OK);
    assert_true(f->out.limiter_wait_ms == 0);
    /* next token in 1 s, deadline in 0.5 s: refused without calling */
    f->req.deadline_ms = f->ft.now + 500;
    assert_int_equal(call(f), RAG_E_RATE_LIMITED);
    assert_int_equal(f->out.attempts, 0);
    assert_int_equal(server_requests(f->s), 1);
    assert_non_null(strstr(f->err.msg, "rate limit"));
    /* with time to wait: sleeps 1 s on the limiter, then calls */
    f->req.deadline_ms = 0;
    assert_int_equal(call(f), RAG_OK);
    assert_true(f->out.limiter_wait_ms == 1000);
    assert_int_equal(server_requests(f->s), 2);
    /* other backends are not limited */
    f->req.backend = "tei";
    assert_int_equal(call(f), RAG_OK);
    assert_true(f->out.limiter_wait_ms == 0);
    assert_int_equal(rag_net_client_set_rate_limit(f->c, "tei", -1, 1, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "rate_per_s"));
    assert_int_equal(rag_net_client_set_rate_limit(f->c, "huggingface_api", 5, 0, &err), RAG_E_CONFIG);
    teardown(f);
}

static void test_keep_alive_and_bad_requests(void **state)
{
    (void)state;
    fixture *f = setup(NULL, 0, 0);
    long conns = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(call(f), RAG_OK);
        conns += f->out.connections;
    }
    assert_int_equal(conns, 1);
    pthread_mutex_lock(&f->s->mu);
    assert_int_equal(f->s->connections, 1);
    pthread_mutex_unlock(&f->s->mu);
    rag_http_stats st;
    rag_http_client_stats(rag_net_client_http(f->c), &st);
    assert_int_equal(st.transfers, 3);
    assert_int_equal(st.connections, 1);
    assert_int_equal(st.handles, 1);

    /* GET without body or content type */
    f->req.method = RAG_HTTP_GET;
    f->req.body = NULL;
    f->req.body_len = 0;
    const char *hdrs[] = {"X-HF-Bill-To: my-org"};
    f->req.headers = hdrs;
    f->req.n_headers = 1;
    assert_int_equal(call(f), RAG_OK);
    assert_non_null(strstr(f->s->last_request, "GET /v1/chat/completions"));
    assert_non_null(strstr(f->s->last_request, "X-HF-Bill-To: my-org"));
    assert_null(strstr(f->s->last_request, "Content-Type"));

    int before = server_requests(f->s);
    const char *evil[] = {"X-A: 1\r\nX-B: 2"};
    f->req.headers = evil;
    assert_int_equal(call(f), RAG_E_BAD_INPUT);
    assert_non_null(strstr(f->err.msg, "extra header 0"));
    f->req.headers = NULL;
    f->req.n_headers = 0;
    f->req.url = "ftp://127.0.0.1/x";
    assert_int_equal(call(f), RAG_E_BAD_INPUT);
    assert_non_null(strstr(f->err.msg, "http:// or https://"));
    f->req.url = NULL;
    assert_int_equal(call(f), RAG_E_BAD_INPUT);
    assert_int_equal(f->hl.finals, 1);
    assert_int_equal(server_requests(f->s), before);
    atomic_int cancel = 1;
    f->req.url = f->url;
    f->req.cancel = &cancel;
    assert_int_equal(call(f), RAG_E_CANCELLED);
    assert_int_equal(server_requests(f->s), before);
    assert_int_equal(rag_net_call(NULL, &f->req, &f->resp, &f->out, &f->err), RAG_E_BAD_INPUT);
    rag_net_client_params p = rag_net_client_default_params();
    p.retry.max_retries = 99;
    rag_net_client *c2 = NULL;
    assert_int_equal(rag_net_client_create(&p, &c2, &f->err), RAG_E_CONFIG);
    assert_null(c2);
    rag_net_client_free(NULL);
    teardown(f);
}

typedef struct worker {
    rag_net_client *c;
    const char *url;
    int ok;
} worker;

static void *worker_main(void *p)
{
    worker *w = p;
    for (int i = 0; i < 5; i++) {
        rag_net_request req = {0};
        req.url = w->url;
        req.expect_json = true;
        req.backend = "tei";
        req.model = i % 2 ? "a" : "b";
        rag_net_response resp;
        rag_net_response_init(&resp);
        if (rag_net_call(w->c, &req, &resp, NULL, NULL) == RAG_OK && json_is_true(json_object_get(resp.json, "ok")))
            w->ok++;
        rag_net_response_free(&resp);
    }
    return NULL;
}

static void test_shared_client_threads(void **state)
{
    (void)state;
    canned script[] = {{200, "", "{\"ok\":true}", R_NORMAL, 20}, {200, "", "{\"ok\":true}", R_NORMAL, 20},
                       {200, "", "{\"ok\":true}", R_NORMAL, 20}, {200, "", "{\"ok\":true}", R_NORMAL, 20}};
    server *s = server_start(script, 4);
    rag_net_client_params p = rag_net_client_default_params();
    p.max_concurrent_requests = 2;
    p.http.max_idle_handles = 2;
    rag_net_client *c;
    assert_int_equal(rag_net_client_create(&p, &c, NULL), RAG_OK);
    assert_int_equal(rag_net_client_set_rate_limit(c, "tei", 1000, 100, NULL), RAG_OK);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/embed", s->port);
    worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){c, url, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, 5);
    }
    rag_http_stats st;
    rag_http_client_stats(rag_net_client_http(c), &st);
    assert_int_equal(st.transfers, 20);
    assert_true(st.handles <= 2);      /* idle pool capped; at most 2 in flight */
    assert_true(st.connections <= 4);  /* connections were reused */
    assert_int_equal(rag_net_client_breaker_state(c, "tei", "a"), 0);
    assert_int_equal(rag_net_client_breaker_state(c, "tei", "b"), 0);
    rag_net_client_free(c);
    server_stop(s);
}

int main(void)
{
    rag_net_global_init(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_429_retry_after_then_ok),
        cmocka_unit_test(test_server_wait_headers),
        cmocka_unit_test(test_5xx_exhausts_retries),
        cmocka_unit_test(test_no_retry_statuses),
        cmocka_unit_test(test_token_never_leaks),
        cmocka_unit_test(test_deadline_cut_and_timeout),
        cmocka_unit_test(test_slow_server_real_deadline),
        cmocka_unit_test(test_transport_failures_retry),
        cmocka_unit_test(test_malformed_and_oversize),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_stream_caps),
        cmocka_unit_test(test_breaker_in_call),
        cmocka_unit_test(test_rate_limit_in_call),
        cmocka_unit_test(test_keep_alive_and_bad_requests),
        cmocka_unit_test(test_shared_client_threads),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rag_net_global_cleanup();
    return rc;
}
