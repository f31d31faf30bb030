/* Unit tests for src/local/hub.c: cache resolution (refs, snapshots, .no_exist, offline, local
 * directories, environment) and downloads against an in-process HTTP server with two origins
 * (a "Hub" and a "CDN" on another port) serving canned Hub responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "ragc/hub.h"
#include "ragc/net.h"

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define CONFIG_ETAG "0123456789abcdef0123456789abcdef01234567"
#define CONFIG_BODY "{\"hidden_size\": 384}"
#define WEIGHTS_LEN 3000

/* ---------------------------------------------------------------- test server */

typedef struct route {
    int origin;          /* 0 = hub, 1 = cdn */
    char method[8];      /* "" = any */
    char path[256];      /* exact request target */
    int status;
    char headers[1024];  /* extra header lines, each ending in \r\n */
    const char *body;
    size_t body_len;
} route;

typedef struct logged {
    int origin;
    char method[8];
    char path[256];
    char auth[128]; /* Authorization header value, "" if absent */
} logged;

typedef struct server {
    int lfd[2];
    int port[2];
    int stop_pipe[2];
    pthread_t thread;
    route routes[32];
    int n_routes;
    pthread_mutex_t mu;
    logged log[128];
    int n_log;
} server;

static server g_srv;
static char g_tmp[256];
static unsigned char g_weights[WEIGHTS_LEN];
static char g_weights_sha[65];

static void serve_one(server *s, int origin, int fd) {
    char req[16384];
    size_t n = 0;
    while (n < sizeof req - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 2000) <= 0) break;
        ssize_t k = read(fd, req + n, sizeof req - 1 - n);
        if (k <= 0) break;
        n += (size_t)k;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n")) break;
    }
    req[n] = '\0';
    logged l = {.origin = origin};
    sscanf(req, "%7s %255s", l.method, l.path);
    const char *a = strcasestr(req, "\r\nAuthorization: ");
    if (a) sscanf(a + 17, "%127[^\r\n]", l.auth);
    pthread_mutex_lock(&s->mu);
    if (s->n_log < 128) s->log[s->n_log++] = l;
    pthread_mutex_unlock(&s->mu);
    const route *r = NULL;
    for (int i = 0; i < s->n_routes; i++)
        if (s->routes[i].origin == origin && strcmp(s->routes[i].path, l.path) == 0 &&
            (!s->routes[i].method[0] || strcmp(s->routes[i].method, l.method) == 0))
            r = &s->routes[i];
    char head[2048];
    int status = r ? r->status : 404;
    size_t blen = r ? r->body_len : 9;
    int hl = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                      blen, r ? r->headers : "");
    if (write(fd, head, (size_t)hl) < 0) goto out;
    if (strcmp(l.method, "HEAD") != 0 && blen) {
        const char *b = r ? r->body : "not found";
        if (write(fd, b, blen) < 0) goto out;
    }
out:
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void *server_main(void *ud) {
    server *s = ud;
    for (;;) {
        struct pollfd p[3] = {{s->lfd[0], POLLIN, 0}, {s->lfd[1], POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 3, -1) < 0 && errno != EINTR) break;
        if (p[2].revents) break;
        for (int o = 0; o < 2; o++) {
            if (!(p[o].revents & POLLIN)) continue;
            int fd = accept(s->lfd[o], NULL, NULL);
            if (fd >= 0) serve_one(s, o, fd);
        }
    }
    return NULL;
}

static int listen_any(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static void add_route(int origin, const char *path, int status, const char *headers, const char *body,
                      size_t body_len) {
    route *r = &g_srv.routes[g_srv.n_routes++];
    r->origin = origin;
    snprintf(r->path, sizeof r->path, "%s", path);
    r->status = status;
    snprintf(r->headers, sizeof r->headers, "%s", headers);
    r->body = body;
    r->body_len = body_len;
}

static void sha256_hex(const void *p, size_t n, char out[65]) {
    struct sha256_ctx c;
    uint8_t d[32];
    sha256_init(&c);
    sha256_update(&c, n, p);
    sha256_digest(&c, 32, d);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int server_start(void) {
    memset(&g_srv, 0, sizeof g_srv);
    pthread_mutex_init(&g_srv.mu, NULL);
    for (int i = 0; i < 2; i++)
        if ((g_srv.lfd[i] = listen_any(&g_srv.port[i])) < 0) return -1;
    if (pipe(g_srv.stop_pipe) != 0) return -1;
    for (int i = 0; i < WEIGHTS_LEN; i++) g_weights[i] = (unsigned char)(i * 7 + 3);
    sha256_hex(g_weights, WEIGHTS_LEN, g_weights_sha);
    char h[1024];
    int cdn = g_srv.port[1];
    add_route(0, "/org/model/resolve/main/config.json", 200,
              "X-Repo-Commit: " C1 "\r\nETag: W/\"" CONFIG_ETAG "\"\r\n", CONFIG_BODY, strlen(CONFIG_BODY));
    snprintf(h, sizeof h,
             "Location: http://127.0.0.1:%d/blobs/w1?X-Amz-Signature=secret\r\nX-Repo-Commit: " C1
             "\r\nX-Linked-Etag: \"%s\"\r\nX-Linked-Size: %d\r\nETag: \"hub-etag-not-used\"\r\n",
             cdn, g_weights_sha, WEIGHTS_LEN);
    add_route(0, "/org/model/resolve/main/model.safetensors", 302, h, "redirect", 8);
    add_route(1, "/blobs/w1?X-Amz-Signature=secret", 200, "ETag: \"cdn-etag\"\r\n", (const char *)g_weights,
              WEIGHTS_LEN);
    add_route(0, "/org/model/resolve/main/sub/dir/nested.txt", 200,
              "X-Repo-Commit: " C1 "\r\nETag: \"nestedetag1\"\r\n", "nested", 6);
    add_route(0, "/org/model/resolve/main/missing.txt", 404,
              "X-Repo-Commit: " C1 "\r\nX-Error-Code: EntryNotFound\r\nX-Error-Message: Entry not found\r\n", "{}", 2);
    add_route(0, "/org/model/resolve/nope/config.json", 404, "X-Error-Code: RevisionNotFound\r\n", "{}", 2);
    add_route(0, "/org/private/resolve/main/config.json", 401,
              "X-Error-Code: RepoNotFound\r\nX-Error-Message: Repository not found\r\n", "{}", 2);
    add_route(0, "/org/gated/resolve/main/config.json", 403,
              "X-Error-Code: GatedRepo\r\nX-Error-Message: Access to model org/gated is restricted\r\n", "{}", 2);
    snprintf(h, sizeof h,
             "Location: http://127.0.0.1:%d/blobs/bad\r\nX-Repo-Commit: " C1
             "\r\nX-Linked-Etag: \"%064d\"\r\nX-Linked-Size: 5\r\n", cdn, 7);
    add_route(0, "/org/model/resolve/main/bad.bin", 302, h, "", 0);
    add_route(1, "/blobs/bad", 200, "", "hello", 5);
    /* metadata on the Hub (HEAD 200), but the GET itself is redirected to the CDN */
    add_route(0, "/org/model/resolve/main/redir.bin", 200, "X-Repo-Commit: " C1 "\r\nETag: \"rediretag\"\r\n",
              "hello", 5);
    snprintf(g_srv.routes[g_srv.n_routes - 1].method, 8, "HEAD");
    snprintf(h, sizeof h, "Location: http://127.0.0.1:%d/blobs/bad\r\n", cdn);
    add_route(0, "/org/model/resolve/main/redir.bin", 302, h, "", 0);
    snprintf(g_srv.routes[g_srv.n_routes - 1].method, 8, "GET");
    add_route(0, "/org/model/resolve/main/short.bin", 200,
              "X-Repo-Commit: " C1 "\r\nETag: \"shortetag\"\r\nX-Linked-Size: 100\r\n", "0123456789", 10);
    add_route(0, "/org/model/resolve/refs%2Fpr%2F1/config.json", 200,
              "X-Repo-Commit: " C2 "\r\nETag: \"" CONFIG_ETAG "\"\r\n", CONFIG_BODY, strlen(CONFIG_BODY));
    add_route(0, "/org/renamed/resolve/main/config.json", 307, "Location: /org/model/resolve/main/config.json\r\n",
              "", 0);
    add_route(0, "/org/evil/resolve/main/config.json", 200, "X-Repo-Commit: ../../../etc\r\nETag: \"x\"\r\n", "x", 1);
    add_route(0, "/org/plain/resolve/main/config.json", 200, "ETag: \"x\"\r\n", "x", 1);
    add_route(0, "/org/busy/resolve/main/config.json", 429, "", "slow down", 9);
    add_route(0, "/org/broken/resolve/main/config.json", 500, "", "oops", 4);
    if (pthread_create(&g_srv.thread, NULL, server_main, &g_srv) != 0) return -1;
    return 0;
}

static void server_stop(void) {
    if (write(g_srv.stop_pipe[1], "x", 1) != 1) return;
    pthread_join(g_srv.thread, NULL);
    for (int i = 0; i < 2; i++) close(g_srv.lfd[i]);
    close(g_srv.stop_pipe[0]);
    close(g_srv.stop_pipe[1]);
    pthread_mutex_destroy(&g_srv.mu);
}

static int log_count(void) {
    pthread_mutex_lock(&g_srv.mu);
    int n = g_srv.n_log;
    pthread_mutex_unlock(&g_srv.mu);
    return n;
}

static logged log_at(int i) {
    pthread_mutex_lock(&g_srv.mu);
    logged l = g_srv.log[i];
    pthread_mutex_unlock(&g_srv.mu);
    return l;
}

/* ---------------------------------------------------------------- helpers */

static void write_file(const char *path, const char *text) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *path, size_t *len) {
    char *t = NULL;
    assert_int_equal(rag_read_file(path, 1 << 20, &t, len, NULL), RAG_OK);
    return t;
}

static rag_hub_params params(const char *repo, const char *file, const char *cache) {
    rag_hub_params p = rag_hub_default_params();
    p.repo_id = repo;
    p.filename = file;
    p.cache_dir = cache;
    p.offline = 0;
    p.token = "";
    return p;
}

static rag_status resolve(const rag_hub_params *p, char **out, rag_err *e) {
    rag_err_clear(e);
    return rag_hub_resolve(p, out, e);
}

static void expect_fail(const rag_hub_params *p, rag_status want, const char *needle) {
    char *out = (char *)0x1;
    rag_err e;
    rag_status st = resolve(p, &out, &e);
    if (st != want || !strstr(e.msg, needle))
        fail_msg("%s/%s: status %d '%s', want %d with '%s'", p->repo_id, p->filename, st, e.msg, want, needle);
    assert_null(out);
}

/* ---------------------------------------------------------------- cache-only tests */

static void test_cache_tree(void **state) {
    (void)state;
    char cache[512], p[1024];
    snprintf(cache, sizeof cache, "%s/cache1", g_tmp);
    snprintf(p, sizeof p, "%s/models--org--name/refs/main", cache);
    write_file(p, C1); /* Python writes no newline */
    snprintf(p, sizeof p, "%s/models--org--name/refs/v1.0", cache);
    write_file(p, C2 "\n"); /* tolerated */
    snprintf(p, sizeof p, "%s/models--org--name/blobs/abc", cache);
    write_file(p, "blob-content");
    snprintf(p, sizeof p, "%s/models--org--name/snapshots/" C1 "/config.json", cache);
    write_file(p, "x");
    unlink(p);
    assert_int_equal(symlink("../../blobs/abc", p), 0);
    snprintf(p, sizeof p, "%s/models--org--name/snapshots/" C2 "/1_Pooling/config.json", cache);
    write_file(p, "pooling");
    snprintf(p, sizeof p, "%s/models--org--name/.no_exist/" C1 "/absent.json", cache);
    write_file(p, "");

    rag_hub_params hp = params("org/name", "config.json", cache);
    hp.offline = 1; /* the cache alone must answer */
    char *out = NULL;
    rag_err e;
    assert_int_equal(resolve(&hp, &out, &e), RAG_OK);
    snprintf(p, sizeof p, "%s/models--org--name/snapshots/" C1 "/config.json", cache);
    assert_string_equal(out, p);
    size_t len;
    char *t = slurp(out, &len);
    assert_string_equal(t, "blob-content");
    free(t);
    free(out);

    /* tag through refs/v1.0, nested file */
    hp.revision = "v1.0";
    hp.filename = "1_Pooling/config.json";
    assert_int_equal(resolve(&hp, &out, &e), RAG_OK);
    assert_non_null(strstr(out, "/snapshots/" C2 "/1_Pooling/config.json"));
    free(out);
    /* commit revision, no ref needed */
    hp.revision = C2;
    assert_int_equal(resolve(&hp, &out, &e), RAG_OK);
    free(out);

    /* .no_exist marker: known missing, even online (no network attempted: the endpoint is bogus) */
    hp.revision = NULL;
    hp.filename = "absent.json";
    hp.offline = 0;
    hp.endpoint = "http://127.0.0.1:1";
    expect_fail(&hp, RAG_E_NOT_FOUND, ".no_exist");

    /* offline and not cached */
    hp.offline = 1;
    hp.filename = "tokenizer.json";
    expect_fail(&hp, RAG_E_NOT_FOUND, "not in the cache");
    expect_fail(&hp, RAG_E_NOT_FOUND, "HF_HUB_OFFLINE is set");
    hp.repo_id = "org/unknown";
    expect_fail(&hp, RAG_E_NOT_FOUND, "org/unknown/tokenizer.json@main");

    /* offline from the environment */
    hp.offline = -1;
    setenv("HF_HUB_OFFLINE", "yes", 1);
    expect_fail(&hp, RAG_E_NOT_FOUND, "HF_HUB_OFFLINE is set");
    setenv("HF_HUB_OFFLINE", "TRUE", 1);
    expect_fail(&hp, RAG_E_NOT_FOUND, "HF_HUB_OFFLINE is set");
    setenv("HF_HUB_OFFLINE", "0", 1); /* not offline: tries the (refused) endpoint */
    rag_status st = resolve(&hp, &out, &e);
    assert_int_equal(st, RAG_E_IO);
    assert_non_null(strstr(e.msg, "HEAD http://127.0.0.1:1/org/unknown/resolve/main/tokenizer.json"));
    unsetenv("HF_HUB_OFFLINE");
}

static void test_local_dir_and_validation(void **state) {
    (void)state;
    char dir[512], p[1024];
    snprintf(dir, sizeof dir, "%s/localmodel", g_tmp);
    snprintf(p, sizeof p, "%s/sub/vocab.txt", dir);
    write_file(p, "[PAD]\n");
    rag_hub_params hp = params(dir, "sub/vocab.txt", NULL);
    char *out = NULL;
    rag_err e;
    assert_int_equal(resolve(&hp, &out, &e), RAG_OK);
    assert_string_equal(out, p);
    free(out);
    hp.filename = "model.safetensors";
    expect_fail(&hp, RAG_E_NOT_FOUND, "no such file in the local model directory");

    rag_hub_params bad = params("org/name", "config.json", g_tmp);
    const char *bad_ids[] = {"../etc", "org/../x", "org/name/extra", "org--x/y", "-org/x", "org/x.", "a b/c", "/abs/x"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        bad.repo_id = bad_ids[i];
        expect_fail(&bad, RAG_E_BAD_INPUT, "neither a local directory nor a valid Hub repo id");
    }
    bad.repo_id = "org/name";
    const char *bad_files[] = {"../x", "a/../../x", "/etc/passwd", "a//b", "a/", "", "./x", "a\\b"};
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        bad.filename = bad_files[i];
        expect_fail(&bad, RAG_E_BAD_INPUT, "invalid filename");
    }
    bad.filename = "config.json";
    bad.revision = "../../x";
    expect_fail(&bad, RAG_E_BAD_INPUT, "invalid revision");
    bad.revision = NULL;
    bad.repo_id = NULL;
    expect_fail(&bad, RAG_E_BAD_INPUT, "required");

    char *f = rag_hub_repo_folder("sentence-transformers/all-MiniLM-L6-v2");
    assert_string_equal(f, "models--sentence-transformers--all-MiniLM-L6-v2");
    free(f);
    f = rag_hub_repo_folder("gpt2");
    assert_string_equal(f, "models--gpt2");
    free(f);
    assert_null(rag_hub_repo_folder("a/b/c"));
}

static void test_cache_dir_env(void **state) {
    (void)state;
    const char *names[] = {"HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HOME"};
    char *saved[4];
    for (int i = 0; i < 4; i++) saved[i] = getenv(names[i]) ? strdup(getenv(names[i])) : NULL;
    char *out = NULL;
    rag_err e;
    setenv("HOME", "/h", 1);
    setenv("XDG_CACHE_HOME", "/x", 1);
    setenv("HF_HOME", "/hf", 1);
    setenv("HF_HUB_CACHE", "/hub", 1);
    assert_int_equal(rag_hub_cache_dir(&out, &e), RAG_OK);
    assert_string_equal(out, "/hub");
    free(out);
    unsetenv("HF_HUB_CACHE");
    assert_int_equal(rag_hub_cache_dir(&out, &e), RAG_OK);
    assert_string_equal(out, "/hf/hub");
    free(out);
    unsetenv("HF_HOME");
    assert_int_equal(rag_hub_cache_dir(&out, &e), RAG_OK);
    assert_string_equal(out, "/x/huggingface/hub");
    free(out);
    unsetenv("XDG_CACHE_HOME");
    assert_int_equal(rag_hub_cache_dir(&out, &e), RAG_OK);
    assert_string_equal(out, "/h/.cache/huggingface/hub");
    free(out);
    unsetenv("HOME");
    assert_int_equal(rag_hub_cache_dir(&out, &e), RAG_E_CONFIG);
    assert_non_null(strstr(e.msg, "HF_HUB_CACHE"));
    for (int i = 0; i < 4; i++) {
        if (saved[i]) setenv(names[i], saved[i], 1);
        else unsetenv(names[i]);
        free(saved[i]);
    }
}

/* ---------------------------------------------------------------- downloads */

static char g_endpoint[64];

static bool any_incomplete(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *de;
    bool found = false;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".incomplete")) found = true;
    closedir(d);
    return found;
}

static void test_download_lfs_via_cdn(void **state) {
    (void)state;
    char cache[512], p[1024], link[512];
    snprintf(cache, sizeof cache, "%s/dl1", g_tmp);
    rag_hub_params hp = params("org/model", "model.safetensors", cache);
    hp.endpoint = g_endpoint;
    hp.token = "hf_testtoken";
    int before = log_count();
    char *out = NULL;
    rag_err e;
    if (resolve(&hp, &out, &e) != RAG_OK) fail_msg("%s", e.msg);
    snprintf(p, sizeof p, "%s/models--org--model/snapshots/" C1 "/model.safetensors", cache);
    assert_string_equal(out, p);
    size_t len;
    char *t = slurp(out, &len);
    assert_int_equal(len, WEIGHTS_LEN);
    assert_memory_equal(t, g_weights, WEIGHTS_LEN);
    free(t);
    /* relative symlink to the blob named by X-Linked-Etag (the sha256) */
    ssize_t ll = readlink(p, link, sizeof link - 1);
    assert_true(ll > 0);
    link[ll] = '\0';
    char want[256];
    snprintf(want, sizeof want, "../../blobs/%s", g_weights_sha);
    assert_string_equal(link, want);
    /* refs/main = commit, no newline */
    snprintf(p, sizeof p, "%s/models--org--model/refs/main", cache);
    t = slurp(p, &len);
    assert_string_equal(t, C1);
    free(t);
    /* the lock file, and no .incomplete left behind */
    snprintf(p, sizeof p, "%s/.locks/models--org--model/%s.lock", cache, g_weights_sha);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/models--org--model/blobs", cache);
    assert_false(any_incomplete(p));
    free(out);

    /* requests: HEAD on the Hub (token), whose 302 names the CDN; GET on the CDN (token dropped:
     * another port is another origin) */
    assert_int_equal(log_count() - before, 2);
    logged l0 = log_at(before), l1 = log_at(before + 1);
    assert_string_equal(l0.method, "HEAD");
    assert_int_equal(l0.origin, 0);
    assert_string_equal(l0.path, "/org/model/resolve/main/model.safetensors");
    assert_string_equal(l0.auth, "Bearer hf_testtoken");
    assert_string_equal(l1.method, "GET");
    assert_int_equal(l1.origin, 1);
    assert_string_equal(l1.path, "/blobs/w1?X-Amz-Signature=secret");
    assert_string_equal(l1.auth, "");

    /* a redirect met by the GET itself: followed, and the token is not sent to the CDN */
    hp.filename = "redir.bin";
    before = log_count();
    if (resolve(&hp, &out, &e) != RAG_OK) fail_msg("%s", e.msg);
    t = slurp(out, &len);
    assert_string_equal(t, "hello");
    free(t);
    free(out);
    assert_int_equal(log_count() - before, 3);
    assert_string_equal(log_at(before + 1).method, "GET");
    assert_int_equal(log_at(before + 1).origin, 0);
    assert_string_equal(log_at(before + 1).auth, "Bearer hf_testtoken");
    assert_int_equal(log_at(before + 2).origin, 1);
    assert_string_equal(log_at(before + 2).auth, "");
    hp.filename = "model.safetensors";

    /* second resolve: from the cache, no request */
    before = log_count();
    assert_int_equal(resolve(&hp, &out, &e), RAG_OK);
    free(out);
    assert_int_equal(log_count(), before);
}

static void test_download_small_files(void **state) {
    (void)state;
    char cache[512], p[1024], link[512];
    snprintf(cache, sizeof cache, "%s/dl2", g_tmp);
    rag_hub_params hp = params("org/model", "config.json", cache);
    hp.endpoint = g_endpoint;
    hp.token = "hf_testtoken";
    int before = log_count();
    char *out = NULL;
    rag_err e;
    if (resolve(&hp, &out, &e) != RAG_OK) fail_msg("%s", e.msg);
    size_t len;
    char *t = slurp(out, &len);
    assert_string_equal(t, CONFIG_BODY);
    free(t);
    ssize_t ll = readlink(out, link, sizeof link - 1);
    assert_true(ll > 0);
    link[ll] = '\0';
    assert_string_equal(link, "../../blobs/" CONFIG_ETAG); /* W/ and quotes stripped */
    free(out);
    /* HEAD + GET both on the Hub origin, both with the token */
    assert_int_equal(log_count() - before, 2);
    assert_string_equal(log_at(before + 1).method, "GET");
    assert_string_equal(log_at(before + 1).auth, "Bearer hf_testtoken");

    /* nested path: one more ../ per directory */
    hp.filename = "sub/dir/nested.txt";
    assert_int_equal(resolve(&hp, &out, &e), RAG_OK);
    ll = readlink(out, link, sizeof link - 1);
    link[ll > 0 ? ll : 0] = '\0';
    assert_string_equal(link, "../../../../blobs/nestedetag1");
    t = slurp(out, &len);
    assert_string_equal(t, "nested");
    free(t);
    free(out);

    /* a revision with '/' is percent-encoded in the URL and kept as nested refs */
    hp.filename = "config.json";
    hp.revision = "refs/pr/1";
    if (resolve(&hp, &out, &e) != RAG_OK) fail_msg("%s", e.msg);
    assert_non_null(strstr(out, "/snapshots/" C2 "/config.json"));
    free(out);
    snprintf(p, sizeof p, "%s/models--org--model/refs/refs/pr/1", cache);
    t = slurp(p, &len);
    assert_string_equal(t, C2);
    free(t);
    /* the same blob for both commits: downloaded once per lock, reused */

    /* a commit revision writes no ref */
    hp.revision = C1;
    hp.filename = "config.json";
    assert_int_equal(resolve(&hp, &out, &e), RAG_OK); /* cached from the first download */
    free(out);
    snprintf(p, sizeof p, "%s/models--org--model/refs/" C1, cache);
    assert_int_not_equal(access(p, F_OK), 0);

    /* relative same-origin redirect (renamed repo) is followed for the metadata */
    hp.repo_id = "org/renamed";
    hp.revision = NULL;
    if (resolve(&hp, &out, &e) != RAG_OK) fail_msg("%s", e.msg);
    assert_non_null(strstr(out, "/models--org--renamed/snapshots/" C1 "/config.json"));
    free(out);
}

static void test_download_errors(void **state) {
    (void)state;
    char cache[512], p[1024];
    snprintf(cache, sizeof cache, "%s/dl3", g_tmp);
    rag_hub_params hp = params("org/model", "missing.txt", cache);
    hp.endpoint = g_endpoint;
    expect_fail(&hp, RAG_E_NOT_FOUND, "EntryNotFound");
    snprintf(p, sizeof p, "%s/models--org--model/.no_exist/" C1 "/missing.txt", cache);
    assert_int_equal(access(p, F_OK), 0); /* marker written */
    /* the marker now answers without a request (ref not known: we wrote none, so write it) */
    snprintf(p, sizeof p, "%s/models--org--model/refs/main", cache);
    write_file(p, C1);
    int before = log_count();
    expect_fail(&hp, RAG_E_NOT_FOUND, ".no_exist");
    assert_int_equal(log_count(), before);

    hp.filename = "config.json";
    hp.revision = "nope";
    expect_fail(&hp, RAG_E_NOT_FOUND, "RevisionNotFound");
    hp.revision = NULL;
    hp.repo_id = "org/private";
    expect_fail(&hp, RAG_E_NOT_FOUND, "RepoNotFound");
    expect_fail(&hp, RAG_E_NOT_FOUND, "HF_TOKEN");
    hp.repo_id = "org/gated";
    expect_fail(&hp, RAG_E_AUTH, "GatedRepo");
    expect_fail(&hp, RAG_E_AUTH, "Access to model org/gated is restricted");
    hp.repo_id = "org/evil";
    expect_fail(&hp, RAG_E_BAD_INPUT, "unsafe commit");
    hp.repo_id = "org/plain";
    expect_fail(&hp, RAG_E_UPSTREAM, "X-Repo-Commit");
    hp.repo_id = "org/busy";
    expect_fail(&hp, RAG_E_RATE_LIMITED, "HTTP 429");
    hp.repo_id = "org/broken";
    expect_fail(&hp, RAG_E_UPSTREAM, "HTTP 500");
    hp.repo_id = "org/absent"; /* no route: plain 404 */
    expect_fail(&hp, RAG_E_NOT_FOUND, "HTTP 404");

    /* corrupted LFS blob: sha256 mismatch, nothing left behind */
    hp.repo_id = "org/model";
    hp.filename = "bad.bin";
    expect_fail(&hp, RAG_E_UPSTREAM, "sha256 mismatch");
    /* truncated body: size mismatch */
    hp.filename = "short.bin";
    expect_fail(&hp, RAG_E_UPSTREAM, "downloaded 10 bytes, expected 100");
    /* over the cap */
    hp.filename = "model.safetensors";
    hp.max_file_bytes = 100;
    expect_fail(&hp, RAG_E_TOO_LARGE, "exceeds the cap");
    snprintf(p, sizeof p, "%s/models--org--model/blobs", cache);
    assert_false(any_incomplete(p));
    snprintf(p, sizeof p, "%s/models--org--model/snapshots/" C1 "/bad.bin", cache);
    assert_int_not_equal(access(p, F_OK), 0);

    /* an endpoint that is not a URL */
    hp.max_file_bytes = 1 << 20;
    hp.filename = "other.json";
    hp.endpoint = "not a url";
    expect_fail(&hp, RAG_E_CONFIG, "not a valid http(s) URL");
}

static void test_token_sources(void **state) {
    (void)state;
    char cache[512], home[512], p[1024];
    snprintf(cache, sizeof cache, "%s/dl4", g_tmp);
    snprintf(home, sizeof home, "%s/hfhome", g_tmp);
    snprintf(p, sizeof p, "%s/token", home);
    write_file(p, "  hf_fromfile  \n");
    char *saved = getenv("HF_TOKEN") ? strdup(getenv("HF_TOKEN")) : NULL;
    char *saved_home = getenv("HF_HOME") ? strdup(getenv("HF_HOME")) : NULL;
    setenv("HF_HOME", home, 1);
    unsetenv("HF_TOKEN");
    rag_hub_params hp = params("org/model", "config.json", cache);
    hp.endpoint = g_endpoint;
    hp.token = NULL;
    int before = log_count();
    char *out = NULL;
    rag_err e;
    assert_int_equal(resolve(&hp, &out, &e), RAG_OK);
    free(out);
    assert_string_equal(log_at(before).auth, "Bearer hf_fromfile");
    /* HF_TOKEN wins over the file */
    setenv("HF_TOKEN", "hf_fromenv", 1);
    hp.filename = "sub/dir/nested.txt";
    before = log_count();
    assert_int_equal(resolve(&hp, &out, &e), RAG_OK);
    free(out);
    assert_string_equal(log_at(before).auth, "Bearer hf_fromenv");
    /* "" = no token at all */
    hp.token = "";
    hp.revision = "refs/pr/1";
    hp.filename = "config.json";
    before = log_count();
    assert_int_equal(resolve(&hp, &out, &e), RAG_OK);
    free(out);
    assert_string_equal(log_at(before).auth, "");
    if (saved) setenv("HF_TOKEN", saved, 1);
    else unsetenv("HF_TOKEN");
    if (saved_home) setenv("HF_HOME", saved_home, 1);
    else unsetenv("HF_HOME");
    free(saved);
    free(saved_home);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/ragc_hub_XXXXXX");
    if (!mkdtemp(g_tmp)) return -1;
    if (rag_net_global_init(NULL) != RAG_OK) return -1;
    if (server_start() != 0) return -1;
    snprintf(g_endpoint, sizeof g_endpoint, "http://127.0.0.1:%d/", g_srv.port[0]); /* trailing '/' on purpose */
    unsetenv("HF_HUB_OFFLINE");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    server_stop();
    rag_net_global_cleanup();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_tree),
        cmocka_unit_test(test_local_dir_and_validation),
        cmocka_unit_test(test_cache_dir_env),
        cmocka_unit_test(test_download_lfs_via_cdn),
        cmocka_unit_test(test_download_small_files),
        cmocka_unit_test(test_download_errors),
        cmocka_unit_test(test_token_sources),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
