/* Unit tests for src/net error parsing, status mapping, redaction and wait headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ragc/net.h"

static rag_net_error_info parse(const char *hdr, const char *body)
{
    rag_net_error_info e;
    rag_net_parse_error(hdr, body, body ? strlen(body) : 0, NULL, &e);
    return e;
}

static void test_error_shapes_in_order(void **state)
{
    (void)state;
    rag_net_error_info e;
    /* X-Error-Message wins over the body */
    e = parse("Invalid credentials in Authorization header", "{\"error\":\"body text\"}");
    assert_string_equal(e.message, "Invalid credentials in Authorization header");
    e = parse("", "{\"error\":\"Rate limit reached\"}");
    assert_string_equal(e.message, "Rate limit reached");
    e = parse(NULL, "{\"error\":[\"input too long\",\"batch too large\"]}");
    assert_string_equal(e.message, "input too long; batch too large");
    e = parse(NULL, "{\"error\":[\"a\",{\"k\":1},2]}");
    assert_string_equal(e.message, "a; {\"k\":1}; 2");
    e = parse(NULL, "{\"error\":{\"message\":\"Internal error\",\"type\":\"server_error\"}}");
    assert_string_equal(e.message, "Internal error");
    assert_string_equal(e.error_type, "server_error");
    e = parse(NULL, "{\"error\":{\"code\":42}}"); /* object without message: compact JSON */
    assert_string_equal(e.message, "{\"code\":42}");
    e = parse(NULL, "{\"message\":\"Model not loaded\"}");
    assert_string_equal(e.message, "Model not loaded");
    e = parse(NULL, "{\"detail\":\"Not Found\"}");
    assert_string_equal(e.message, "Not Found");
    e = parse(NULL, "{\"detail\":[{\"loc\":[\"body\",\"inputs\"],\"msg\":\"field required\"}]}");
    assert_string_equal(e.message, "[{\"loc\":[\"body\",\"inputs\"],\"msg\":\"field required\"}]");
    /* error before message before detail */
    e = parse(NULL, "{\"detail\":\"d\",\"message\":\"m\",\"error\":\"e\"}");
    assert_string_equal(e.message, "e");
    e = parse(NULL, "{\"detail\":\"d\",\"message\":\"m\"}");
    assert_string_equal(e.message, "m");
    /* null error falls through */
    e = parse(NULL, "{\"error\":null,\"detail\":\"d\"}");
    assert_string_equal(e.message, "d");
}

static void test_error_extras_and_snippets(void **state)
{
    (void)state;
    rag_net_error_info e;
    e = parse(NULL, "{\"error\":\"Model X is currently loading\",\"estimated_time\":20.5}");
    assert_string_equal(e.message, "Model X is currently loading");
    assert_true(e.estimated_time_s > 20.49 && e.estimated_time_s < 20.51);
    e = parse(NULL, "{\"error\":\"batch size 64 > 32\",\"error_type\":\"Validation\"}");
    assert_string_equal(e.error_type, "validation");
    assert_true(e.estimated_time_s < 0);
    /* not JSON: a one-line snippet, control characters become spaces, bad UTF-8 becomes '?' */
    e = parse(NULL, "<html>\r\n<body>Bad Gateway\x01\xFF</body></html>");
    assert_string_equal(e.message, "<html>  <body>Bad Gateway ?</body></html>");
    /* a long body is cut at RAG_NET_SNIPPET_MAX bytes, never inside a UTF-8 sequence */
    char body[1000];
    size_t o = 0;
    while (o + 2 < sizeof body - 1) {
        body[o++] = '\xC3';
        body[o++] = '\xA9';
    }
    body[o] = '\0';
    e = parse(NULL, body);
    size_t bad;
    assert_true(strlen(e.message) <= RAG_NET_SNIPPET_MAX);
    assert_true(strlen(e.message) >= RAG_NET_SNIPPET_MAX - 4);
    assert_true(rag_utf8_valid(e.message, strlen(e.message), &bad) || e.message[strlen(e.message) - 1] == '?');
    /* multi-line messages become one line; a huge X-Error-Message is capped */
    e = parse(NULL, "{\"error\":\"line1\\nline2\"}");
    assert_string_equal(e.message, "line1 line2");
    char hdr[2000];
    memset(hdr, 'h', sizeof hdr - 1);
    hdr[sizeof hdr - 1] = '\0';
    e = parse(hdr, NULL);
    assert_int_equal(strlen(e.message), RAG_NET_ERRMSG_MAX - 1);
    /* empty everything */
    e = parse(NULL, NULL);
    assert_string_equal(e.message, "");
    e = parse(NULL, "{}");
    assert_string_equal(e.message, "{}");
    /* a JSON array body with no object keys is quoted */
    e = parse(NULL, "[1,2]");
    assert_string_equal(e.message, "[1,2]");
}

static void test_stream_error(void **state)
{
    (void)state;
    char msg[128];
    json_t *v = json_loads("{\"error\":{\"message\":\"Internal error\"}}", 0, NULL);
    assert_true(rag_net_stream_error(v, NULL, msg, sizeof msg));
    assert_string_equal(msg, "Internal error");
    json_decref(v);
    v = json_loads("{\"error\":\"overloaded\",\"error_type\":\"Overloaded\"}", 0, NULL);
    assert_true(rag_net_stream_error(v, NULL, msg, sizeof msg));
    assert_string_equal(msg, "overloaded");
    json_decref(v);
    v = json_loads("{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}", 0, NULL);
    strcpy(msg, "untouched");
    assert_false(rag_net_stream_error(v, NULL, msg, sizeof msg));
    assert_string_equal(msg, "untouched");
    json_decref(v);
    v = json_loads("{\"error\":\"key hf_AbCdEfGhIjKlMnOp rejected\"}", 0, NULL);
    assert_true(rag_net_stream_error(v, NULL, msg, sizeof msg));
    assert_string_equal(msg, "key hf_*** rejected");
    json_decref(v);
}

static void test_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(rag_net_status_from_http(200, NULL), RAG_OK);
    assert_int_equal(rag_net_status_from_http(204, NULL), RAG_OK);
    assert_int_equal(rag_net_status_from_http(401, NULL), RAG_E_AUTH);
    assert_int_equal(rag_net_status_from_http(403, NULL), RAG_E_AUTH);
    assert_int_equal(rag_net_status_from_http(402, NULL), RAG_E_BUDGET);
    assert_int_equal(rag_net_status_from_http(404, NULL), RAG_E_NOT_FOUND);
    assert_int_equal(rag_net_status_from_http(410, NULL), RAG_E_NOT_FOUND);
    assert_int_equal(rag_net_status_from_http(400, NULL), RAG_E_BAD_INPUT);
    assert_int_equal(rag_net_status_from_http(422, "validation"), RAG_E_BAD_INPUT);
    assert_int_equal(rag_net_status_from_http(408, NULL), RAG_E_TIMEOUT);
    assert_int_equal(rag_net_status_from_http(413, NULL), RAG_E_TOO_LARGE);
    assert_int_equal(rag_net_status_from_http(429, NULL), RAG_E_RATE_LIMITED);
    assert_int_equal(rag_net_status_from_http(500, NULL), RAG_E_UPSTREAM);
    assert_int_equal(rag_net_status_from_http(502, NULL), RAG_E_UPSTREAM);
    assert_int_equal(rag_net_status_from_http(503, "Unhealthy"), RAG_E_UPSTREAM);
    assert_int_equal(rag_net_status_from_http(504, NULL), RAG_E_UPSTREAM);
    assert_int_equal(rag_net_status_from_http(424, "Backend"), RAG_E_UPSTREAM);
    assert_int_equal(rag_net_status_from_http(424, NULL), RAG_E_UPSTREAM);
    assert_int_equal(rag_net_status_from_http(409, "OVERLOADED"), RAG_E_RATE_LIMITED);
    assert_int_equal(rag_net_status_from_http(418, NULL), RAG_E_BAD_INPUT);
    assert_int_equal(rag_net_status_from_http(302, NULL), RAG_E_UPSTREAM);
    assert_int_equal(rag_net_status_from_http(0, NULL), RAG_E_UPSTREAM);

    int retry[] = {408, 429, 500, 502, 503, 504};
    int never[] = {200, 400, 401, 402, 403, 404, 410, 413, 422, 424, 501};
    for (size_t i = 0; i < sizeof retry / sizeof *retry; i++)
        assert_true(rag_net_http_retryable(retry[i]));
    for (size_t i = 0; i < sizeof never / sizeof *never; i++)
        assert_false(rag_net_http_retryable(never[i]));
}

static void redact_eq(const char *in, const char *token, const char *want)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", in);
    rag_net_redact(buf, token);
    if (strcmp(buf, want) != 0)
        fail_msg("redact(\"%s\", \"%s\") = \"%s\", want \"%s\"", in, token ? token : "(null)", buf, want);
}

static void test_redaction(void **state)
{
    (void)state;
    redact_eq("token hf_abcDEF1234567890xyz is invalid", NULL, "token hf_*** is invalid");
    redact_eq("hf_abcdef,hf_ABCDEFGH", NULL, "hf_***,hf_***");
    redact_eq("(hf_test_token)", NULL, "(hf_***)");
    redact_eq("Authorization: Bearer sk-secret-123", NULL, "Authorization: Bearer ***");
    redact_eq("bearer abc; next", NULL, "bearer ***; next");
    /* the configured token anywhere, even without an hf_ prefix or inside a word */
    redact_eq("key=mysecretvalue&x=1 mysecretvalue", "mysecretvalue", "key=***&x=1 ***");
    redact_eq("prefixmysecretvaluesuffix", "mysecretvalue", "prefix***suffix");
    /* short tokens are starred byte for byte (never longer than the input) */
    redact_eq("a ab b", "ab", "a ** b");
    /* not secrets: short hf_ words, hf_ inside a word, the hf-inference route */
    redact_eq("hf_hub and my_hf_abcdefgh and /hf-inference/models", NULL,
              "hf_hub and my_hf_abcdefgh and /hf-inference/models");
    redact_eq("", "tok", "");
    assert_null(rag_net_redact(NULL, "x"));
    /* parse_error redacts the configured token from body and header text */
    rag_net_error_info e;
    const char *body = "{\"error\":\"token s3cr3t-t0ken not valid\"}";
    rag_net_parse_error(NULL, body, strlen(body), "s3cr3t-t0ken", &e);
    assert_string_equal(e.message, "token *** not valid");
    rag_net_parse_error("bad hf_ABCDEFGHIJKLMNOP", NULL, 0, NULL, &e);
    assert_string_equal(e.message, "bad hf_***");
}

static void test_retry_after_and_ratelimit(void **state)
{
    (void)state;
    double ms = -1;
    assert_true(rag_net_parse_retry_after("1", 0, &ms));
    assert_true(ms == 1000.0);
    assert_true(rag_net_parse_retry_after(" 2.5 ", 0, &ms));
    assert_true(ms == 2500.0);
    /* HTTP-date relative to the wall clock given */
    time_t t = curl_getdate("Wed, 21 Oct 2015 07:28:00 GMT", NULL);
    assert_true(t > 0);
    assert_true(rag_net_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", t - 30, &ms));
    assert_true(ms == 30000.0);
    assert_true(rag_net_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", t + 30, &ms));
    assert_true(ms == 0.0); /* in the past */
    ms = -7;
    assert_false(rag_net_parse_retry_after("soon", 0, &ms));
    assert_false(rag_net_parse_retry_after("-5", 0, &ms));
    assert_false(rag_net_parse_retry_after("", 0, &ms));
    assert_false(rag_net_parse_retry_after(NULL, 0, &ms));
    assert_true(ms == -7);

    long r = -9, tt = -9;
    assert_true(rag_net_parse_ratelimit("\"api\";r=0;t=55", &r, &tt));
    assert_int_equal(r, 0);
    assert_int_equal(tt, 55);
    assert_true(rag_net_parse_ratelimit("\"api\";r=10;t=5, \"burst\";r=0;t=3, \"x\";r=0;t=9", &r, &tt));
    assert_int_equal(r, 0);
    assert_int_equal(tt, 9);
    assert_true(rag_net_parse_ratelimit("limit=100, remaining=0, reset=17", &r, &tt));
    assert_int_equal(r, 0);
    assert_int_equal(tt, 17);
    assert_true(rag_net_parse_ratelimit("\"api\";t=4", &r, &tt));
    assert_int_equal(r, -1);
    assert_int_equal(tt, 4);
    assert_false(rag_net_parse_ratelimit("\"api\";q=100;w=300", &r, &tt));
    assert_false(rag_net_parse_ratelimit("", &r, &tt));
    assert_false(rag_net_parse_ratelimit("r=abc;t=", &r, &tt));
    assert_false(rag_net_parse_ratelimit(NULL, &r, &tt));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_shapes_in_order),
        cmocka_unit_test(test_error_extras_and_snippets),
        cmocka_unit_test(test_stream_error),
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_retry_after_and_ratelimit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
