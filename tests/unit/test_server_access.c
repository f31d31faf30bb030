/* Server access rules: route classes, the guard matrix, loopback detection of the bound address,
 * and rag_server_start deciding the guards (docs/security.md, "Access"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ragc/server.h"
#include "server/server_internal.h"

static const unsigned char idx_html[] = "<html></html>";
static const srv_asset assets[] = {{"/index.html", idx_html, 13}};

static srv_route_class class_of(const char *method, const char *path)
{
    srv_match m;
    srv_route_match(method, path, assets, 1, &m);
    return srv_route_class_of(&m, srv_method_bit(method));
}

static void test_route_classes(void **state)
{
    (void)state;
    assert_int_equal(class_of("POST", "/v1/documents"), SRV_CLASS_WRITE);
    assert_int_equal(class_of("DELETE", "/v1/documents/3"), SRV_CLASS_WRITE);
    assert_int_equal(class_of("DELETE", "/v1/documents/abc"), SRV_CLASS_WRITE); /* a bad id is still a write */
    assert_int_equal(class_of("GET", "/v1/documents"), SRV_CLASS_READ);
    assert_int_equal(class_of("HEAD", "/v1/documents"), SRV_CLASS_READ);
    assert_int_equal(class_of("GET", "/v1/documents/3"), SRV_CLASS_READ);
    assert_int_equal(class_of("GET", "/v1/documents/3/file"), SRV_CLASS_READ);
    assert_int_equal(class_of("POST", "/v1/ask"), SRV_CLASS_READ);
    assert_int_equal(class_of("POST", "/v1/chat/completions"), SRV_CLASS_READ);
    assert_int_equal(class_of("GET", "/v1/search"), SRV_CLASS_READ);
    assert_int_equal(class_of("GET", "/v1/models"), SRV_CLASS_READ);
    assert_int_equal(class_of("GET", "/metrics"), SRV_CLASS_READ);
    assert_int_equal(class_of("GET", "/healthz"), SRV_CLASS_PUBLIC);
    assert_int_equal(class_of("GET", "/readyz"), SRV_CLASS_PUBLIC);
    assert_int_equal(class_of("GET", "/"), SRV_CLASS_PUBLIC);
    assert_int_equal(class_of("OPTIONS", "/v1/documents"), SRV_CLASS_PUBLIC); /* CORS preflight */
    assert_int_equal(class_of("GET", "/nothing"), SRV_CLASS_PUBLIC);           /* answered 404 */
}

static void test_guard_matrix(void **state)
{
    (void)state;
    /* {has_key, private_reads, loopback, allow_open_writes} -> reads, writes */
    static const struct {
        srv_policy p;
        rag_server_guard reads, writes;
    } rows[] = {
        {{false, false, true, false}, RAG_SERVER_OPEN, RAG_SERVER_OPEN},          /* local use */
        {{false, false, false, false}, RAG_SERVER_OPEN, RAG_SERVER_DISABLED},     /* public, no key */
        {{false, false, false, true}, RAG_SERVER_OPEN, RAG_SERVER_OPEN},          /* opted in */
        {{true, false, false, false}, RAG_SERVER_OPEN, RAG_SERVER_NEEDS_KEY},     /* the Space */
        {{true, false, true, false}, RAG_SERVER_OPEN, RAG_SERVER_NEEDS_KEY},      /* loopback with a key */
        {{true, false, false, true}, RAG_SERVER_OPEN, RAG_SERVER_NEEDS_KEY},      /* key beats the opt-in */
        {{true, true, false, false}, RAG_SERVER_NEEDS_KEY, RAG_SERVER_NEEDS_KEY}, /* private */
        {{true, true, true, false}, RAG_SERVER_NEEDS_KEY, RAG_SERVER_NEEDS_KEY},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        assert_int_equal(srv_policy_guard(&rows[i].p, SRV_CLASS_PUBLIC), RAG_SERVER_OPEN);
        if (srv_policy_guard(&rows[i].p, SRV_CLASS_READ) != rows[i].reads ||
            srv_policy_guard(&rows[i].p, SRV_CLASS_WRITE) != rows[i].writes)
            fail_msg("row %zu: reads %s writes %s", i, srv_guard_name(srv_policy_guard(&rows[i].p, SRV_CLASS_READ)),
                     srv_guard_name(srv_policy_guard(&rows[i].p, SRV_CLASS_WRITE)));
    }
    assert_string_equal(srv_guard_name(RAG_SERVER_OPEN), "open");
    assert_string_equal(srv_guard_name(RAG_SERVER_NEEDS_KEY), "key");
    assert_string_equal(srv_guard_name(RAG_SERVER_DISABLED), "disabled");
}

static bool loopback4(const char *ip)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return srv_addr_is_loopback((const struct sockaddr *)&a);
}

static bool loopback6(const char *ip)
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    return srv_addr_is_loopback((const struct sockaddr *)&a);
}

static void test_loopback(void **state)
{
    (void)state;
    assert_true(loopback4("127.0.0.1"));
    assert_true(loopback4("127.255.3.4"));
    assert_false(loopback4("0.0.0.0"));
    assert_false(loopback4("10.0.0.1"));
    assert_false(loopback4("128.0.0.1"));
    assert_false(loopback4("126.255.255.255"));
    assert_true(loopback6("::1"));
    assert_true(loopback6("::ffff:127.0.0.1"));
    assert_false(loopback6("::"));
    assert_false(loopback6("::2"));
    assert_false(loopback6("::ffff:10.0.0.1"));
    assert_false(loopback6("fe80::1"));
    assert_false(srv_addr_is_loopback(NULL));
}

static void test_defaults(void **state)
{
    (void)state;
    rag_server_params p = rag_server_default_params();
    assert_false(p.private_reads);
    assert_false(p.allow_open_writes);
    assert_true(p.max_uploads_total_bytes == (1ull << 30));
    assert_int_equal(p.header_timeout_s, 15);
    assert_int_equal(p.min_body_rate, 8192);
    assert_int_equal(p.connection_memory_bytes, 32 * 1024);
}

/* rag_server_start on a temporary data dir with a default configuration. */
typedef struct fixture {
    char dir[256];
    rag_config *cfg;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ragc-server-access-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    rag_config_params cp = rag_config_default_params();
    cp.profile = "default";
    rag_err err;
    if (rag_config_load_string("t.yaml", "", &cp, &f->cfg, &err) != RAG_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    rag_config_free(f->cfg);
    free(f);
    return 0;
}

static void start_expect(fixture *f, const char *host, const char *key, bool priv, bool open_writes,
                         rag_server_guard reads, rag_server_guard writes, bool loopback)
{
    rag_server_params p = rag_server_default_params();
    p.host = host;
    p.port = 0;
    p.data_dir = f->dir;
    p.api_key = key;
    p.private_reads = priv;
    p.allow_open_writes = open_writes;
    rag_server_t *s = NULL;
    rag_err err;
    rag_err_clear(&err);
    rag_status st = rag_server_start(f->cfg, &p, &s, &err);
    if (st != RAG_OK)
        fail_msg("start on %s: %s", host, err.msg);
    rag_server_guard r, w;
    rag_server_guards(s, &r, &w);
    assert_int_equal(r, reads);
    assert_int_equal(w, writes);
    assert_int_equal(rag_server_is_loopback(s), loopback);
    assert_int_equal(rag_server_stop(s), RAG_OK);
    rag_server_free(s);
}

static void test_start_decides_guards(void **state)
{
    fixture *f = *state;
    start_expect(f, "127.0.0.1", NULL, false, false, RAG_SERVER_OPEN, RAG_SERVER_OPEN, true);
    start_expect(f, "0.0.0.0", NULL, false, false, RAG_SERVER_OPEN, RAG_SERVER_DISABLED, false);
    start_expect(f, "0.0.0.0", "", false, false, RAG_SERVER_OPEN, RAG_SERVER_DISABLED, false); /* "" = no key */
    start_expect(f, "0.0.0.0", NULL, false, true, RAG_SERVER_OPEN, RAG_SERVER_OPEN, false);
    start_expect(f, "0.0.0.0", "k3y", false, false, RAG_SERVER_OPEN, RAG_SERVER_NEEDS_KEY, false);
    start_expect(f, "localhost", "k3y", true, false, RAG_SERVER_NEEDS_KEY, RAG_SERVER_NEEDS_KEY, true);
}

static void test_private_without_key_refused(void **state)
{
    fixture *f = *state;
    rag_server_params p = rag_server_default_params();
    p.port = 0;
    p.data_dir = f->dir;
    p.private_reads = true;
    rag_server_t *s = NULL;
    rag_err err;
    rag_err_clear(&err);
    assert_int_equal(rag_server_start(f->cfg, &p, &s, &err), RAG_E_CONFIG);
    assert_null(s);
    assert_non_null(strstr(err.msg, "RAGC_API_KEY"));

    p.private_reads = false;
    p.connection_memory_bytes = 1024; /* below the minimum */
    assert_int_equal(rag_server_start(f->cfg, &p, &s, &err), RAG_E_BAD_INPUT);
    assert_null(s);
    assert_non_null(strstr(err.msg, "connection_memory_bytes"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_classes),
        cmocka_unit_test(test_guard_matrix),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test_setup_teardown(test_start_decides_guards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_without_key_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
