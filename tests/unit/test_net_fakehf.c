/* rag_net_call against the in-repo fake Hugging Face server (tests/fakehf/fakehf.py): real
 * sockets, real clock, the fault queue of the server's control plane. The server is started once
 * (python3 -S fakehf.py --port 0 --port-file F --token T) from $RAGC_SOURCE_DIR and killed at the
 * end. python3 missing is a test failure with a clear message, not a skip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakehf_harness.h"

#define CHAT_BODY                                                                              \
    "{\"model\":\"Qwen/Qwen2.5-7B-Instruct:cheapest\",\"messages\":[{\"role\":\"user\",\"content\":" \
    "\"[1] The pump must be primed before use. Then open the valve.\\n[2] Filters are cleaned "     \
    "monthly! Replace them yearly.\\n\\nQuestion: how do I start the pump?\"}]%s}"

/* Resets the server and queues faults (a JSON list, e.g. "[\"429_retry_after\"]"). */
static void faults(const char *list)
{
    json_decref(fake_control("/_fake/reset", "{}"));
    if (list) {
        char body[512];
        snprintf(body, sizeof body, "{\"match\":\"\",\"faults\":%s}", list);
        json_decref(fake_control("/_fake/faults", body));
    }
}

static json_int_t stat_requests(const char *kind)
{
    json_t *s = fake_control("/_fake/stats", NULL);
    json_int_t n = json_integer_value(json_object_get(json_object_get(s, "requests"), kind));
    json_decref(s);
    return n;
}

typedef struct call_ctx {
    rag_net_client *c;
    char url[256];
    char body[2048];
    rag_net_request req;
    rag_net_response resp;
    rag_net_outcome out;
    rag_err err;
    rag_status attempt_status[16];
    int n_attempts;
} call_ctx;

static void on_hook(void *ud, const rag_net_event *ev)
{
    call_ctx *x = ud;
    if (ev->kind == RAG_NET_EVENT_ATTEMPT && x->n_attempts < 16)
        x->attempt_status[x->n_attempts++] = ev->attempt_status;
}

static call_ctx *ctx_new(const char *path, const char *extra_body_fields)
{
    call_ctx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    rag_net_client_params p = rag_net_client_default_params();
    p.hook = on_hook;
    p.hook_ud = x;
    assert_int_equal(rag_net_client_create(&p, &x->c, NULL), RAG_OK);
    snprintf(x->url, sizeof x->url, "%s%s", g_base, path);
    snprintf(x->body, sizeof x->body, CHAT_BODY, extra_body_fields ? extra_body_fields : "");
    x->req.method = RAG_HTTP_POST;
    x->req.url = x->url;
    x->req.body = x->body;
    x->req.body_len = strlen(x->body);
    x->req.bearer_token = TOKEN;
    x->req.expect_json = true;
    x->req.backend = "huggingface_api";
    x->req.model = "Qwen/Qwen2.5-7B-Instruct:cheapest";
    rag_net_response_init(&x->resp);
    return x;
}

static rag_status ctx_call(call_ctx *x)
{
    x->n_attempts = 0;
    return rag_net_call(x->c, &x->req, &x->resp, &x->out, &x->err);
}

static void ctx_free(call_ctx *x)
{
    rag_net_response_free(&x->resp);
    rag_net_client_free(x->c);
    free(x);
}

static const char *answer_of(const json_t *chat)
{
    const json_t *ch = json_array_get(json_object_get(chat, "choices"), 0);
    return json_string_value(json_object_get(json_object_get(ch, "message"), "content"));
}

static void test_chat_ok_and_keep_alive(void **state)
{
    (void)state;
    faults(NULL);
    call_ctx *x = ctx_new("/v1/chat/completions", NULL);
    long conns = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ctx_call(x), RAG_OK);
        conns += x->out.connections;
        assert_string_equal(answer_of(x->resp.json), ANSWER);
    }
    assert_int_equal(conns, 1); /* one connection, reused by the next two calls */
    assert_string_equal(x->out.provider, "fake-provider");
    assert_int_equal(strlen(x->out.request_id), 36); /* uuid4 */
    assert_int_equal(stat_requests("chat"), 3);
    ctx_free(x);
}

static void test_429_then_ok(void **state)
{
    (void)state;
    faults("[\"429_retry_after\"]");
    call_ctx *x = ctx_new("/v1/chat/completions", NULL);
    double t0 = rag_now_ms();
    assert_int_equal(ctx_call(x), RAG_OK);
    double dt = rag_now_ms() - t0;
    assert_int_equal(x->out.retries, 1);
    assert_true(x->out.sleeps_ms[0] == 1000);
    assert_true(dt >= 1000 && dt < 3000);
    assert_int_equal(x->attempt_status[0], RAG_E_RATE_LIMITED);
    assert_string_equal(answer_of(x->resp.json), ANSWER);

    /* RateLimit "api";r=0;t=1: waits t + 1 = 2 s */
    faults("[\"429_ratelimit\"]");
    t0 = rag_now_ms();
    assert_int_equal(ctx_call(x), RAG_OK);
    assert_true(x->out.sleeps_ms[0] == 2000);
    assert_true(rag_now_ms() - t0 >= 2000);
    ctx_free(x);
}

static void test_503_loading_then_ok(void **state)
{
    (void)state;
    faults("[\"503_loading\"]");
    call_ctx *x = ctx_new("/v1/chat/completions", NULL);
    assert_int_equal(ctx_call(x), RAG_OK);
    assert_int_equal(x->out.attempts, 2);
    assert_true(x->out.sleeps_ms[0] == 500); /* estimated_time 0.5 s */
    ctx_free(x);
}

static void test_no_retry_errors(void **state)
{
    (void)state;
    call_ctx *x = ctx_new("/v1/chat/completions", NULL);
    faults("[\"402\"]");
    assert_int_equal(ctx_call(x), RAG_E_BUDGET);
    assert_int_equal(x->out.attempts, 1);
    assert_non_null(strstr(x->err.msg, "monthly included credits"));
    faults("[\"401\"]");
    assert_int_equal(ctx_call(x), RAG_E_AUTH);
    assert_int_equal(x->out.attempts, 1);
    assert_non_null(strstr(x->err.msg, "Invalid credentials"));
    /* a real bad token: the server's 401; the token is in no message */
    faults(NULL);
    x->req.bearer_token = "hf_WrongTokenValue12345";
    assert_int_equal(ctx_call(x), RAG_E_AUTH);
    assert_null(strstr(x->err.msg, "WrongToken"));
    json_t *s = fake_control("/_fake/stats", NULL);
    const char *auth = json_string_value(json_object_get(json_object_get(s, "last_headers"), "authorization"));
    assert_non_null(auth);
    assert_string_equal(auth, "Bearer hf_WrongTokenValue12345"); /* it was sent */
    json_decref(s);
    x->req.bearer_token = TOKEN;
    faults("[\"422\"]");
    assert_int_equal(ctx_call(x), RAG_E_BAD_INPUT);
    assert_non_null(strstr(x->err.msg, "[validation]"));
    faults("[\"404\"]");
    assert_int_equal(ctx_call(x), RAG_E_NOT_FOUND);
    assert_int_equal(stat_requests("chat"), 1);
    ctx_free(x);
}

static void test_5xx_shapes_then_ok(void **state)
{
    (void)state;
    faults("[\"500\",\"502\",\"504\"]");
    call_ctx *x = ctx_new("/v1/chat/completions", NULL);
    rag_net_retry_params rp = rag_net_retry_default_params();
    rp.base_ms = 50;
    rp.cap_ms = 100;
    x->req.retry = &rp;
    assert_int_equal(ctx_call(x), RAG_OK);
    assert_int_equal(x->out.attempts, 4);
    /* and with retries exhausted, the last error's message is reported */
    faults("[\"500\",\"502\",\"504\"]");
    rp.max_retries = 2;
    assert_int_equal(ctx_call(x), RAG_E_UPSTREAM);
    assert_int_equal(x->out.attempts, 3);
    assert_non_null(strstr(x->err.msg, "HTTP 504"));
    assert_non_null(strstr(x->err.msg, "Gateway Timeout"));
    ctx_free(x);
}

static void test_slow_beyond_deadline(void **state)
{
    (void)state;
    faults("[\"slow:3\",\"slow:3\",\"slow:3\"]");
    call_ctx *x = ctx_new("/v1/chat/completions", NULL);
    double t0 = rag_now_ms();
    x->req.deadline_ms = t0 + 1000;
    assert_int_equal(ctx_call(x), RAG_E_TIMEOUT);
    double dt = rag_now_ms() - t0;
    assert_true(dt >= 950 && dt < 1300);
    assert_non_null(strstr(x->err.msg, "timed out"));
    ctx_free(x);
}

static void test_body_faults(void **state)
{
    (void)state;
    call_ctx *x = ctx_new("/v1/chat/completions", NULL);
    rag_net_retry_params rp = rag_net_retry_default_params();
    rp.base_ms = 50;
    rp.cap_ms = 100;
    x->req.retry = &rp;
    faults("[\"malformed_json\"]");
    assert_int_equal(ctx_call(x), RAG_E_UPSTREAM);
    assert_int_equal(x->out.attempts, 1);
    assert_non_null(strstr(x->err.msg, "malformed JSON"));
    /* truncated body: UPSTREAM, retried */
    faults("[\"truncated_body\"]");
    assert_int_equal(ctx_call(x), RAG_OK);
    assert_int_equal(x->out.attempts, 2);
    assert_int_equal(x->attempt_status[0], RAG_E_UPSTREAM);
    faults("[\"truncated_body\",\"truncated_body\"]");
    rp.max_retries = 1;
    assert_int_equal(ctx_call(x), RAG_E_UPSTREAM);
    assert_non_null(strstr(x->err.msg, "truncated"));
    /* connection closed without a response: IO, retried */
    faults("[\"close\"]");
    assert_int_equal(ctx_call(x), RAG_OK);
    assert_int_equal(x->attempt_status[0], RAG_E_IO);
    /* 12 MiB bodies against the default 8 MiB cap, with and without Content-Length */
    faults("[\"oversize\"]");
    assert_int_equal(ctx_call(x), RAG_E_TOO_LARGE);
    assert_int_equal(x->out.attempts, 1);
    faults("[\"oversize_chunked\"]");
    assert_int_equal(ctx_call(x), RAG_E_TOO_LARGE);
    assert_true(x->resp.body.len <= ((size_t)8 << 20));
    ctx_free(x);
}

typedef struct stream_sink {
    rag_sse_parser *sse;
    rag_ndjson_parser *nd;
    char text[1024];
} stream_sink;

static rag_status sse_event(void *ud, const rag_sse_event *ev, rag_err *err)
{
    stream_sink *s = ud;
    json_error_t je;
    json_t *v = json_loads(ev->data, 0, &je);
    if (!v)
        return rag_err_set(err, RAG_E_UPSTREAM, "bad chunk: %s", je.text);
    char msg[256];
    if (rag_net_stream_error(v, TOKEN, msg, sizeof msg)) {
        json_decref(v);
        return rag_err_set(err, RAG_E_UPSTREAM, "mid-stream error: %s", msg);
    }
    const json_t *ch = json_array_get(json_object_get(v, "choices"), 0);
    const char *d = json_string_value(json_object_get(json_object_get(ch, "delta"), "content"));
    if (d)
        strncat(s->text, d, sizeof s->text - strlen(s->text) - 1);
    json_decref(v);
    return RAG_OK;
}

static rag_status nd_value(void *ud, json_t *v, size_t line_no, rag_err *err)
{
    (void)line_no;
    stream_sink *s = ud;
    char msg[256];
    if (rag_net_stream_error(v, TOKEN, msg, sizeof msg))
        return rag_err_set(err, RAG_E_UPSTREAM, "mid-stream error: %s", msg);
    const char *d = json_string_value(json_object_get(json_object_get(v, "message"), "content"));
    if (d)
        strncat(s->text, d, sizeof s->text - strlen(s->text) - 1);
    return RAG_OK;
}

static void sse_setup(call_ctx *x, stream_sink *s)
{
    rag_sse_parser_free(s->sse);
    memset(s, 0, sizeof *s);
    assert_int_equal(rag_sse_parser_create(0, sse_event, s, &s->sse, NULL), RAG_OK);
    x->req.on_line = rag_sse_on_line;
    x->req.on_end = rag_sse_on_end;
    x->req.stream_ud = s->sse;
    x->req.expect_json = false;
}

static void test_sse_streams(void **state)
{
    (void)state;
    call_ctx *x = ctx_new("/v1/chat/completions", ",\"stream\":true");
    stream_sink s = {0};
    faults("[\"sse_noise\"]");
    sse_setup(x, &s);
    assert_int_equal(ctx_call(x), RAG_OK);
    assert_string_equal(s.text, ANSWER);
    assert_true(rag_sse_done(s.sse));
    assert_int_equal(stat_requests("chat_stream"), 1);
    /* cut after 3 frames: truncated reported, not retried (events were delivered) */
    faults("[\"sse_cut\"]");
    sse_setup(x, &s);
    assert_int_equal(ctx_call(x), RAG_E_UPSTREAM);
    assert_int_equal(x->out.attempts, 1);
    assert_true(rag_sse_truncated(s.sse));
    assert_non_null(strstr(x->err.msg, "truncated"));
    /* mid-stream error chunks of both shapes */
    faults("[\"sse_error\"]");
    sse_setup(x, &s);
    assert_int_equal(ctx_call(x), RAG_E_UPSTREAM);
    assert_non_null(strstr(x->err.msg, "mid-stream error: Internal error"));
    faults("[\"sse_error_flat\"]");
    sse_setup(x, &s);
    assert_int_equal(ctx_call(x), RAG_E_UPSTREAM);
    assert_non_null(strstr(x->err.msg, "mid-stream error: Internal error"));
    /* a 429 before the stream starts is retried */
    faults("[\"429_retry_after\"]");
    sse_setup(x, &s);
    assert_int_equal(ctx_call(x), RAG_OK);
    assert_int_equal(x->out.attempts, 2);
    assert_string_equal(s.text, ANSWER);
    /* an oversize event hits the line cap */
    faults("[\"oversize\"]");
    sse_setup(x, &s);
    assert_int_equal(ctx_call(x), RAG_E_TOO_LARGE);
    rag_sse_parser_free(s.sse);
    ctx_free(x);
}

static void test_ollama_ndjson(void **state)
{
    (void)state;
    call_ctx *x = ctx_new("/api/chat", ",\"stream\":true,\"options\":{\"num_ctx\":8192}");
    x->req.backend = "ollama";
    x->req.bearer_token = TOKEN;
    stream_sink s = {0};
    for (int round = 0; round < 3; round++) {
        faults(round == 0 ? NULL : round == 1 ? "[\"sse_cut\"]" : "[\"ndjson_error\"]");
        memset(&s, 0, sizeof s);
        assert_int_equal(rag_ndjson_parser_create(0, nd_value, &s, &s.nd, NULL), RAG_OK);
        x->req.on_line = rag_ndjson_on_line;
        x->req.on_end = rag_ndjson_on_end;
        x->req.stream_ud = s.nd;
        x->req.expect_json = false;
        rag_status st = ctx_call(x);
        if (round == 0) {
            assert_int_equal(st, RAG_OK);
            assert_string_equal(s.text, ANSWER);
            assert_true(rag_ndjson_done(s.nd));
        } else if (round == 1) {
            assert_int_equal(st, RAG_E_UPSTREAM);
            assert_true(rag_ndjson_truncated(s.nd));
        } else {
            assert_int_equal(st, RAG_E_UPSTREAM);
            assert_non_null(strstr(x->err.msg, "unexpected EOF"));
        }
        rag_ndjson_parser_free(s.nd);
    }
    ctx_free(x);
}

static void test_embeddings_json(void **state)
{
    (void)state;
    faults(NULL);
    call_ctx *x = ctx_new("/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction",
                          NULL);
    const char *body = "{\"inputs\":[\"the cat sat on the mat\",\"a cat on a mat\"],\"normalize\":true}";
    x->req.body = body;
    x->req.body_len = strlen(body);
    assert_int_equal(ctx_call(x), RAG_OK);
    assert_int_equal(json_array_size(x->resp.json), 2);
    assert_int_equal(json_array_size(json_array_get(x->resp.json, 0)), 384);
    ctx_free(x);
}

int main(void)
{
    if (rag_net_global_init(NULL) != RAG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_ok_and_keep_alive),
        cmocka_unit_test(test_429_then_ok),
        cmocka_unit_test(test_503_loading_then_ok),
        cmocka_unit_test(test_no_retry_errors),
        cmocka_unit_test(test_5xx_shapes_then_ok),
        cmocka_unit_test(test_slow_beyond_deadline),
        cmocka_unit_test(test_body_faults),
        cmocka_unit_test(test_sse_streams),
        cmocka_unit_test(test_ollama_ndjson),
        cmocka_unit_test(test_embeddings_json),
    };
    int rc = cmocka_run_group_tests(tests, fake_start, fake_stop);
    rag_net_global_cleanup();
    return rc;
}
