/* Server pure functions: routing, URL decoding, query strings, Content-Type, file names, bearer
 * auth, answer splitting, error bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

static const unsigned char idx_html[] = "<html></html>";
static const unsigned char app_js[] = "1;";
static const srv_asset assets[] = {{"/app.js", app_js, 2}, {"/index.html", idx_html, 13}};

static void test_routes(void **state)
{
    (void)state;
    srv_match m;
    srv_route_match("POST", "/v1/ask", assets, 2, &m);
    assert_int_equal(m.route, SRV_ROUTE_ASK);
    assert_true(m.method_ok);
    assert_string_equal(m.label, "/v1/ask");

    srv_route_match("GET", "/v1/ask", assets, 2, &m);
    assert_int_equal(m.route, SRV_ROUTE_ASK);
    assert_false(m.method_ok);
    char allow[64];
    assert_string_equal(srv_allow_header(m.allowed, allow, sizeof allow), "POST, OPTIONS");

    srv_route_match("OPTIONS", "/v1/ask", assets, 2, &m);
    assert_true(m.method_ok);

    srv_route_match("GET", "/v1/documents/", assets, 2, &m); /* one trailing slash is ignored */
    assert_int_equal(m.route, SRV_ROUTE_DOCS);
    assert_string_equal(srv_allow_header(m.allowed, allow, sizeof allow), "GET, HEAD, POST, OPTIONS");

    srv_route_match("DELETE", "/v1/documents/42", assets, 2, &m);
    assert_int_equal(m.route, SRV_ROUTE_DOC);
    assert_true(m.method_ok && m.id_valid);
    assert_int_equal(m.id, 42);
    assert_string_equal(m.label, "/v1/documents/{id}");

    srv_route_match("GET", "/v1/documents/7/file", assets, 2, &m);
    assert_int_equal(m.route, SRV_ROUTE_DOC_FILE);
    assert_true(m.id_valid);
    assert_int_equal(m.id, 7);
    srv_route_match("POST", "/v1/documents/7/file", assets, 2, &m);
    assert_false(m.method_ok);

    /* ids: positive decimal only; the route still matches so the handler can say why */
    const char *bad_ids[] = {"/v1/documents/abc", "/v1/documents/0", "/v1/documents/-1", "/v1/documents/1e3",
                             "/v1/documents/9999999999999999999"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        srv_route_match("DELETE", bad_ids[i], assets, 2, &m);
        assert_int_equal(m.route, SRV_ROUTE_DOC);
        assert_false(m.id_valid);
    }
    srv_route_match("GET", "/v1/documents/7/other", assets, 2, &m);
    assert_int_equal(m.route, SRV_ROUTE_NONE);
    srv_route_match("GET", "/v1/documents/7/file/x", assets, 2, &m);
    assert_int_equal(m.route, SRV_ROUTE_NONE);

    /* assets and unknown paths */
    srv_route_match("GET", "/", assets, 2, &m);
    assert_int_equal(m.route, SRV_ROUTE_INDEX);
    assert_ptr_equal(m.asset, &assets[1]);
    srv_route_match("HEAD", "/app.js", assets, 2, &m);
    assert_int_equal(m.route, SRV_ROUTE_ASSET);
    assert_true(m.method_ok);
    assert_string_equal(m.label, "/static");
    srv_route_match("POST", "/app.js", assets, 2, &m);
    assert_false(m.method_ok);
    srv_route_match("GET", "/", assets, 0, &m); /* no web UI embedded */
    assert_int_equal(m.route, SRV_ROUTE_NONE);
    srv_route_match("GET", "/nope", assets, 2, &m);
    assert_int_equal(m.route, SRV_ROUTE_NONE);
    assert_string_equal(m.label, "other");
    assert_int_equal(m.allowed, 0);
    srv_route_match("GET", "/V1/ASK", assets, 2, &m); /* paths are case-sensitive */
    assert_int_equal(m.route, SRV_ROUTE_NONE);
    srv_route_match("GET", "/../index.html", assets, 2, &m);
    assert_int_equal(m.route, SRV_ROUTE_NONE);
    srv_route_match("GET", "", assets, 2, &m);
    assert_int_equal(m.route, SRV_ROUTE_NONE);

    srv_route_match("BREW", "/healthz", assets, 2, &m);
    assert_int_equal(m.route, SRV_ROUTE_HEALTHZ);
    assert_false(m.method_ok);
    assert_int_equal(srv_method_bit("get"), 0); /* methods are case-sensitive */
    assert_int_equal(srv_method_bit("DELETE"), SRV_DELETE);
}

static void test_url_decode(void **state)
{
    (void)state;
    char *out;
    size_t n;
    rag_err err;
    assert_int_equal(srv_url_decode("a%20b+c%2Bd", 11, true, &out, &n, NULL), RAG_OK);
    assert_string_equal(out, "a b c+d");
    assert_int_equal(n, 7);
    free(out);
    assert_int_equal(srv_url_decode("a+b", 3, false, &out, NULL, NULL), RAG_OK);
    assert_string_equal(out, "a+b"); /* '+' is literal in paths */
    free(out);
    assert_int_equal(srv_url_decode("%C3%A9t%c3%a9", 13, false, &out, NULL, NULL), RAG_OK);
    assert_string_equal(out, "\xc3\xa9t\xc3\xa9");
    free(out);
    assert_int_equal(srv_url_decode("", 0, true, &out, &n, NULL), RAG_OK);
    assert_string_equal(out, "");
    free(out);

    const char *bad[] = {"%", "%4", "ab%zz", "%g0", "x%0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(srv_url_decode(bad[i], strlen(bad[i]), true, &out, NULL, &err), RAG_E_BAD_INPUT);
        assert_null(out);
        assert_non_null(strstr(err.msg, "malformed percent-escape"));
    }
    assert_int_equal(srv_url_decode("a%00b", 5, true, &out, NULL, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "NUL"));
    /* decoding stops at n, not at the string's end */
    assert_int_equal(srv_url_decode("ab%41", 2, true, &out, NULL, NULL), RAG_OK);
    assert_string_equal(out, "ab");
    free(out);
}

static void test_split_uri_and_query(void **state)
{
    (void)state;
    char *path, *v;
    const char *q;
    rag_err err;
    assert_int_equal(srv_split_uri("/v1/search?q=a+b%26c&k=3", &path, &q, NULL), RAG_OK);
    assert_string_equal(path, "/v1/search");
    assert_string_equal(q, "q=a+b%26c&k=3");
    assert_int_equal(srv_query_get(q, "q", &v, NULL), RAG_OK);
    assert_string_equal(v, "a b&c");
    free(v);
    assert_int_equal(srv_query_get(q, "k", &v, NULL), RAG_OK);
    assert_string_equal(v, "3");
    free(v);
    assert_int_equal(srv_query_get(q, "x", &v, &err), RAG_E_NOT_FOUND);
    assert_null(v);
    assert_non_null(strstr(err.msg, "'x'"));
    free(path);

    assert_int_equal(srv_split_uri("/v1/documents/%31/file", &path, &q, NULL), RAG_OK);
    assert_string_equal(path, "/v1/documents/1/file");
    assert_null(q);
    free(path);
    assert_int_equal(srv_split_uri("http://example.com:80/healthz?x", &path, &q, NULL), RAG_OK);
    assert_string_equal(path, "/healthz");
    assert_string_equal(q, "x");
    free(path);

    assert_int_equal(srv_split_uri("healthz", &path, &q, &err), RAG_E_BAD_INPUT);
    assert_null(path);
    assert_int_equal(srv_split_uri("/a%2", &path, &q, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "request path"));
    assert_int_equal(srv_split_uri("/a%00", &path, &q, &err), RAG_E_BAD_INPUT);
    assert_int_equal(srv_split_uri("/%ff", &path, &q, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "UTF-8"));
    char *huge = malloc(SRV_MAX_URI + 2);
    memset(huge, 'a', SRV_MAX_URI + 1);
    huge[0] = '/';
    huge[SRV_MAX_URI + 1] = '\0';
    assert_int_equal(srv_split_uri(huge, &path, &q, &err), RAG_E_TOO_LARGE);
    free(huge);

    /* query details: empty values, keys without '=', first occurrence wins, encoded keys */
    assert_int_equal(srv_query_get("a&b=&c=1&c=2&%6B=9", "a", &v, NULL), RAG_OK);
    assert_string_equal(v, "");
    free(v);
    assert_int_equal(srv_query_get("a&b=&c=1&c=2&%6B=9", "b", &v, NULL), RAG_OK);
    assert_string_equal(v, "");
    free(v);
    assert_int_equal(srv_query_get("a&b=&c=1&c=2&%6B=9", "c", &v, NULL), RAG_OK);
    assert_string_equal(v, "1");
    free(v);
    assert_int_equal(srv_query_get("a&b=&c=1&c=2&%6B=9", "k", &v, NULL), RAG_OK);
    assert_string_equal(v, "9");
    free(v);
    assert_int_equal(srv_query_get(NULL, "q", &v, NULL), RAG_E_NOT_FOUND);
    assert_int_equal(srv_query_get("q=%ff", "q", &v, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "UTF-8"));
    assert_int_equal(srv_query_get("q=%0", "q", &v, &err), RAG_E_BAD_INPUT);
    assert_int_equal(srv_query_get("q=a%00b", "q", &v, &err), RAG_E_BAD_INPUT);
}

static void test_content_type(void **state)
{
    (void)state;
    char mime[64], b[80];
    rag_err err;
    assert_int_equal(srv_parse_content_type("multipart/form-data; boundary=----abc123", mime, sizeof mime, b, sizeof b,
                                            NULL),
                     RAG_OK);
    assert_string_equal(mime, "multipart/form-data");
    assert_string_equal(b, "----abc123");
    assert_int_equal(srv_parse_content_type("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b:c\"", mime, sizeof mime,
                                            b, sizeof b, NULL),
                     RAG_OK);
    assert_string_equal(mime, "multipart/form-data");
    assert_string_equal(b, "a b:c");
    assert_int_equal(srv_parse_content_type("application/json", mime, sizeof mime, b, sizeof b, NULL), RAG_OK);
    assert_string_equal(mime, "application/json");
    assert_string_equal(b, "");
    assert_int_equal(srv_parse_content_type(NULL, mime, sizeof mime, b, sizeof b, NULL), RAG_OK);
    assert_string_equal(mime, "");

    assert_int_equal(srv_parse_content_type("multipart/form-data; boundary=", mime, sizeof mime, b, sizeof b, &err),
                     RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "boundary"));
    assert_int_equal(srv_parse_content_type("multipart/form-data; boundary=a\"b", mime, sizeof mime, b, sizeof b, &err),
                     RAG_E_BAD_INPUT);
    assert_int_equal(srv_parse_content_type("multipart/form-data; boundary=\"abc", mime, sizeof mime, b, sizeof b, &err),
                     RAG_E_BAD_INPUT);
    assert_int_equal(srv_parse_content_type("multipart/form-data; boundary", mime, sizeof mime, b, sizeof b, &err),
                     RAG_E_BAD_INPUT);
    char longb[200] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'x', 71);
    assert_int_equal(srv_parse_content_type(longb, mime, sizeof mime, b, sizeof b, &err), RAG_E_BAD_INPUT);

    assert_string_equal(srv_content_type_for("/index.html"), "text/html; charset=utf-8");
    assert_string_equal(srv_content_type_for("/js/app.JS"), "text/javascript; charset=utf-8");
    assert_string_equal(srv_content_type_for("/style.css"), "text/css; charset=utf-8");
    assert_string_equal(srv_content_type_for("x.pdf"), "application/pdf");
    assert_string_equal(srv_content_type_for("/favicon.svg"), "image/svg+xml");
    assert_string_equal(srv_content_type_for("/LICENSE"), "application/octet-stream");
    assert_string_equal(srv_content_type_for("/dir.v2/noext"), "application/octet-stream");
    assert_string_equal(srv_content_type_for("/.hidden"), "application/octet-stream");
}

static void test_auth(void **state)
{
    (void)state;
    assert_true(srv_bearer_ok("Bearer s3cret", "s3cret"));
    assert_true(srv_bearer_ok("bearer   s3cret  ", "s3cret"));
    assert_false(srv_bearer_ok("Bearer s3cre", "s3cret"));
    assert_false(srv_bearer_ok("Bearer s3cretX", "s3cret"));
    assert_false(srv_bearer_ok("Bearer S3CRET", "s3cret"));
    assert_false(srv_bearer_ok("Basic s3cret", "s3cret"));
    assert_false(srv_bearer_ok("Bearers3cret", "s3cret"));
    assert_false(srv_bearer_ok("Bearer ", "s3cret"));
    assert_false(srv_bearer_ok(NULL, "s3cret"));
    assert_false(srv_bearer_ok("Bearer ", ""));
    assert_false(srv_bearer_ok("Bearer x", NULL));
    assert_true(srv_ct_equal("abc", 3, "abc", 3));
    assert_false(srv_ct_equal("abd", 3, "abc", 3));
    assert_false(srv_ct_equal("ab", 2, "abc", 3));
    assert_false(srv_ct_equal("abcd", 4, "abc", 3));
    assert_false(srv_ct_equal("", 0, "abc", 3));
}

static void test_filenames(void **state)
{
    (void)state;
    char out[SRV_MAX_FILENAME + 1];
    rag_err err;
#define SAN(s) srv_sanitize_filename((s), strlen(s), out, sizeof out, &err)
    assert_int_equal(SAN("report.pdf"), RAG_OK);
    assert_string_equal(out, "report.pdf");
    assert_int_equal(SAN("C:\\Users\\me\\My Report.pdf"), RAG_OK);
    assert_string_equal(out, "My Report.pdf");
    assert_int_equal(SAN("/etc/passwd.txt"), RAG_OK);
    assert_string_equal(out, "passwd.txt");
    assert_int_equal(SAN("a:b*c?\"d<e>|f\x01.md"), RAG_OK);
    assert_string_equal(out, "a_b_c__d_e__f_.md");
    assert_int_equal(SAN(".bashrc.txt"), RAG_OK);
    assert_string_equal(out, "_bashrc.txt");
    assert_int_equal(SAN("\xc3\xa9t\xc3\xa9.txt"), RAG_OK);
    assert_string_equal(out, "\xc3\xa9t\xc3\xa9.txt");

    assert_int_equal(SAN("../../etc/x.pdf"), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "'..'"));
    assert_int_equal(SAN(".."), RAG_E_BAD_INPUT);
    assert_int_equal(SAN("dir/"), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "no base name"));
    assert_int_equal(SAN(""), RAG_E_BAD_INPUT);
    assert_int_equal(SAN("bad\xff.pdf"), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "UTF-8"));
    assert_int_equal(srv_sanitize_filename("a\0b.pdf", 7, out, sizeof out, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "NUL"));

    /* long names are cut to SRV_MAX_FILENAME bytes, keeping the extension and whole code points */
    char longname[400];
    size_t n = 0;
    for (int i = 0; i < 150; i++) {
        memcpy(longname + n, "\xc3\xa9", 2);
        n += 2;
    }
    memcpy(longname + n, ".pdf", 5);
    assert_int_equal(srv_sanitize_filename(longname, n + 4, out, sizeof out, &err), RAG_OK);
    assert_true(strlen(out) <= SRV_MAX_FILENAME);
    assert_true(rag_utf8_valid(out, strlen(out), NULL));
    assert_string_equal(out + strlen(out) - 4, ".pdf");
    assert_int_equal(srv_sanitize_filename("x.pdf", 5, out, SRV_MAX_FILENAME, &err), RAG_E_INTERNAL);
#undef SAN
}

static void test_split_answer(void **state)
{
    (void)state;
    size_t ends[8];
    const char *a = "First sentence. [1] Second one [2] and see [7] here. [1]";
    size_t n = srv_split_answer(a, 2, ends, 8);
    assert_int_equal(n, 3);
    assert_int_equal(ends[0], strlen("First sentence. [1]"));
    assert_int_equal(ends[1], strlen("First sentence. [1] Second one [2]"));
    assert_int_equal(ends[2], strlen(a)); /* "[7]" is no citation: only 2 sources */

    n = srv_split_answer("No passage matches.", 0, ends, 8);
    assert_int_equal(n, 1);
    assert_int_equal(ends[0], strlen("No passage matches."));
    assert_int_equal(srv_split_answer("", 3, ends, 8), 0);
    n = srv_split_answer("a [1] b [1] c [1] d [1]", 1, ends, 2); /* capped: last piece runs to the end */
    assert_int_equal(n, 2);
    assert_int_equal(ends[0], 5);
    assert_int_equal(ends[1], strlen("a [1] b [1] c [1] d [1]"));
    n = srv_split_answer("x [1]y [1]", 1, ends, 8); /* a citation must end at a space or the end */
    assert_int_equal(n, 1);
}

static void test_errors(void **state)
{
    (void)state;
    const char *code;
    assert_int_equal(srv_http_status(RAG_E_BAD_INPUT, &code), 400);
    assert_string_equal(code, "bad_request");
    assert_int_equal(srv_http_status(RAG_E_NOT_FOUND, &code), 404);
    assert_int_equal(srv_http_status(RAG_E_TOO_LARGE, &code), 413);
    assert_string_equal(code, "payload_too_large");
    assert_int_equal(srv_http_status(RAG_E_UNSUPPORTED, &code), 415);
    assert_int_equal(srv_http_status(RAG_E_EMPTY, &code), 422);
    assert_int_equal(srv_http_status(RAG_E_STORE, &code), 500);
    assert_string_equal(code, "internal");

    char *j = srv_error_json("bad_json", "line 1: \"quote\" and \xff byte");
    assert_non_null(j);
    json_t *o = json_loads(j, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "code")), "bad_json");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "message")),
                        "line 1: \"quote\" and ? byte");
    json_decref(o);
    free(j);

    char out[8];
    srv_utf8_sanitize("ab\xc3\xa9\xc3\xa9\xc3\xa9", out, sizeof out); /* never cuts a code point */
    assert_string_equal(out, "ab\xc3\xa9\xc3\xa9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),     cmocka_unit_test(test_url_decode), cmocka_unit_test(test_split_uri_and_query),
        cmocka_unit_test(test_content_type), cmocka_unit_test(test_auth),    cmocka_unit_test(test_filenames),
        cmocka_unit_test(test_split_answer), cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
