/* Hugging Face Hub cache resolution and downloads (see include/ragc/hub.h).
 *
 * libcurl is driven directly rather than through rag_http_perform (net.h): a download needs HEAD,
 * the metadata response headers (X-Repo-Commit, X-Linked-Etag, ...), a binary body streamed to a
 * file (model weights are hundreds of MB) and per-hop control of the Authorization header. */
#include "ragc/hub.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <nettle/sha2.h>

#define HUB_DEFAULT_ENDPOINT "https://huggingface.co"
#define HUB_USER_AGENT "ragc/0.1.0; hf_hub/compatible"
#define HUB_MAX_REDIRECTS 10
#define HUB_HDR 512 /* bytes kept of each captured header value */
#define HUB_MAX_NAME 1024

rag_hub_params rag_hub_default_params(void) {
    rag_hub_params p = {0};
    p.offline = -1;
    p.connect_timeout_ms = 10000;
    p.metadata_timeout_ms = 30000;
    p.stall_timeout_ms = 60000;
    p.lock_timeout_ms = 600000;
    p.max_file_bytes = (uint64_t)16 << 30;
    return p;
}

/* ---------------------------------------------------------------- small helpers */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    int n = vasprintf(&s, f, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool exists(const char *p) {
    struct stat sb;
    return lstat(p, &sb) == 0;
}

/* stat() follows the snapshot symlink: true only if the blob behind it is there. */
static bool is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* mkdir -p of the directory part of path (everything before the last '/'). */
static rag_status mkdirs_for(const char *path, rag_err *err) {
    char *d = rag_strdup(path);
    if (!d) return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    char *slash = strrchr(d, '/');
    if (!slash) {
        free(d);
        return RAG_OK;
    }
    *slash = '\0';
    for (char *p = d + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(d, 0755) != 0 && errno != EEXIST) goto fail;
        *p = '/';
    }
    if (mkdir(d, 0755) != 0 && errno != EEXIST) goto fail;
    free(d);
    return RAG_OK;
fail:;
    rag_status st = rag_err_set(err, RAG_E_IO, "%s: cannot create directory: %s", d, strerror(errno));
    free(d);
    return st;
}

static void rand_hex(char out[17]) {
    unsigned char b[8];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)out;
        memcpy(b, &x, 8);
    }
    for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static bool is_hex(const char *s, size_t n) {
    if (strlen(s) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return true;
}

/* One repo-id part: [A-Za-z0-9._-]+, not starting/ending with '.' or '-', no "--" or "..". */
static bool valid_repo_part(const char *s, size_t n) {
    if (n == 0 || n > 96) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-')) return false;
        if (i && (c == '-' || c == '.') && s[i - 1] == c) return false;
    }
    return !(s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-');
}

static bool valid_repo_id(const char *id) {
    const char *slash = strchr(id, '/');
    if (!slash) return valid_repo_part(id, strlen(id));
    if (strchr(slash + 1, '/')) return false;
    return valid_repo_part(id, (size_t)(slash - id)) && valid_repo_part(slash + 1, strlen(slash + 1));
}

/* A relative '/'-separated path with no empty, "." or ".." component, no backslash or control char. */
static bool valid_rel_path(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > HUB_MAX_NAME || s[0] == '/' || s[n - 1] == '/') return false;
    const char *c = s;
    while (*c) {
        const char *e = strchr(c, '/');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) return false;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)c[i] < 0x20 || c[i] == '\\' || c[i] == 0x7f) return false;
        c += len + (e ? 1 : 0);
    }
    return true;
}

/* A name used as one path component (commit sha, etag): [A-Za-z0-9._-]+, not "." / "..". */
static bool valid_component(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 256 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-')) return false;
    return true;
}

char *rag_hub_repo_folder(const char *repo_id) {
    if (!repo_id || !valid_repo_id(repo_id)) return NULL;
    const char *slash = strchr(repo_id, '/');
    if (!slash) return fmt("models--%s", repo_id);
    return fmt("models--%.*s--%s", (int)(slash - repo_id), repo_id, slash + 1);
}

rag_status rag_hub_cache_dir(char **out, rag_err *err) {
    *out = NULL;
    const char *v;
    if ((v = env("HF_HUB_CACHE"))) *out = rag_strdup(v);
    else if ((v = env("HF_HOME"))) *out = fmt("%s/hub", v);
    else if ((v = env("XDG_CACHE_HOME"))) *out = fmt("%s/huggingface/hub", v);
    else if ((v = env("HOME"))) *out = fmt("%s/.cache/huggingface/hub", v);
    else return rag_err_set(err, RAG_E_CONFIG, "no Hub cache directory: set HF_HUB_CACHE, HF_HOME or HOME");
    return *out ? RAG_OK : rag_err_set(err, RAG_E_NOMEM, "out of memory");
}

static bool env_offline(void) {
    const char *v = env("HF_HUB_OFFLINE");
    return v && (strcasecmp(v, "1") == 0 || strcasecmp(v, "ON") == 0 || strcasecmp(v, "YES") == 0 ||
                 strcasecmp(v, "TRUE") == 0);
}

/* Token: params, else $HF_TOKEN, else the first line of $HF_HOME/token. NULL = none.
 * Returned string: caller frees with free(). */
static char *find_token(const rag_hub_params *p) {
    if (p->token) return *p->token ? rag_strdup(p->token) : NULL;
    const char *v = env("HF_TOKEN");
    if (v) return rag_strdup(v);
    char *home = NULL;
    if ((v = env("HF_HOME"))) home = rag_strdup(v);
    else if ((v = env("XDG_CACHE_HOME"))) home = fmt("%s/huggingface", v);
    else if ((v = env("HOME"))) home = fmt("%s/.cache/huggingface", v);
    if (!home) return NULL;
    char *path = fmt("%s/token", home);
    free(home);
    if (!path) return NULL;
    char *text = NULL;
    size_t len = 0;
    rag_status st = rag_read_file(path, 4096, &text, &len, NULL);
    free(path);
    if (st != RAG_OK) return NULL;
    size_t b = 0, e = strcspn(text, "\r\n");
    while (b < e && isspace((unsigned char)text[b])) b++;
    while (e > b && isspace((unsigned char)text[e - 1])) e--;
    char *tok = e > b ? rag_strndup(text + b, e - b) : NULL;
    free(text);
    return tok;
}

/* Percent-encodes s; keep_slash keeps '/' (file paths). Caller frees. */
static char *pct_encode(const char *s, bool keep_slash) {
    size_t n = strlen(s);
    char *o = malloc(3 * n + 1), *q = o;
    if (!o) return NULL;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (isalnum(*c) || *c == '-' || *c == '.' || *c == '_' || *c == '~' || (keep_slash && *c == '/')) {
            *q++ = (char)*c;
        } else {
            snprintf(q, 4, "%%%02X", *c);
            q += 3;
        }
    }
    *q = '\0';
    return o;
}

/* ---------------------------------------------------------------- HTTP */

typedef struct hop {
    long status;               /* from the status line while receiving, then CURLINFO_RESPONSE_CODE */
    char commit[HUB_HDR];      /* X-Repo-Commit */
    char linked_etag[HUB_HDR]; /* X-Linked-Etag */
    char etag[HUB_HDR];        /* ETag */
    char linked_size[HUB_HDR]; /* X-Linked-Size */
    char length[HUB_HDR];      /* Content-Length */
    char error_code[HUB_HDR];  /* X-Error-Code */
    char error_msg[HUB_HDR];   /* X-Error-Message */
} hop;

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud) {
    hop *h = ud;
    size_t n = size * nitems;
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) { /* a new response (e.g. after 100 Continue) */
        memset(h, 0, sizeof *h);
        const char *sp = memchr(buf, ' ', n);
        if (sp && sp + 4 <= buf + n && isdigit((unsigned char)sp[1]) && isdigit((unsigned char)sp[2]) &&
            isdigit((unsigned char)sp[3]))
            h->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
        return n;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon) return n;
    size_t klen = (size_t)(colon - buf);
    static const struct {
        const char *name;
        size_t off;
    } want[] = {
        {"x-repo-commit", offsetof(hop, commit)},     {"x-linked-etag", offsetof(hop, linked_etag)},
        {"etag", offsetof(hop, etag)},                {"x-linked-size", offsetof(hop, linked_size)},
        {"content-length", offsetof(hop, length)},    {"x-error-code", offsetof(hop, error_code)},
        {"x-error-message", offsetof(hop, error_msg)},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (strlen(want[i].name) != klen || strncasecmp(buf, want[i].name, klen) != 0) continue;
        const char *v = colon + 1, *e = buf + n;
        while (v < e && (*v == ' ' || *v == '\t')) v++;
        while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t')) e--;
        size_t vl = (size_t)(e - v);
        if (vl >= HUB_HDR) vl = HUB_HDR - 1;
        char *dst = (char *)h + want[i].off;
        memcpy(dst, v, vl);
        dst[vl] = '\0';
    }
    return n;
}

/* "scheme://host:port" of url into out (lowercase host, default port filled in). */
static bool url_origin(const char *url, char *out, size_t cap) {
    CURLU *u = curl_url();
    if (!u) return false;
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (ok) {
        for (char *c = host; *c; c++) *c = (char)tolower((unsigned char)*c);
        snprintf(out, cap, "%s://%s:%s", scheme, host, port);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

/* URL without its query string (signed CDN URLs carry credentials there), for messages. */
static void url_for_msg(const char *url, char *out, size_t cap) {
    size_t n = strcspn(url, "?#");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), url);
}

typedef struct sink {
    FILE *f;
    const hop *h;      /* the response being received: only a 200 body is written */
    uint64_t written;
    uint64_t cap;      /* abort beyond this many bytes */
    bool over;
    struct sha256_ctx sha;
} sink;

static size_t on_body(char *buf, size_t size, size_t nitems, void *ud) {
    sink *s = ud;
    size_t n = size * nitems;
    if (!s->f || !s->h || s->h->status != 200) return n; /* redirect or error body: ignored */
    if (s->written + n > s->cap) {
        s->over = true;
        return 0;
    }
    if (fwrite(buf, 1, n, s->f) != n) return 0;
    sha256_update(&s->sha, n, (const uint8_t *)buf);
    s->written += n;
    return n;
}

typedef struct xfer {
    CURL *curl;
    const rag_hub_params *p;
    const char *token;       /* NULL = none */
    char origin[512];        /* the endpoint's origin: the only one that gets the token */
} xfer;

/* One request without following redirects. body: NULL for HEAD. *location receives the absolute
 * redirect target of a 3xx (caller frees with free()). */
static rag_status request(xfer *x, const char *url, bool head, sink *body, double timeout_ms, hop *h,
                          char **location, rag_err *err) {
    CURL *c = x->curl;
    curl_easy_reset(c);
    memset(h, 0, sizeof *h);
    *location = NULL;
    char origin[512];
    struct curl_slist *hdrs = NULL, *tmp;
    if (x->token && url_origin(url, origin, sizeof origin) && strcmp(origin, x->origin) == 0) {
        char *auth = fmt("Authorization: Bearer %s", x->token);
        tmp = auth ? curl_slist_append(hdrs, auth) : NULL;
        if (auth) {
            memset(auth, 0, strlen(auth));
            free(auth);
        }
        if (!tmp) goto nomem;
        hdrs = tmp;
    }
    if (!(tmp = curl_slist_append(hdrs, "Accept-Encoding: identity"))) goto nomem;
    hdrs = tmp;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, HUB_USER_AGENT);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    sink none = {0};
    if (body) body->h = h;
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body ? body : &none);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)x->p->connect_timeout_ms);
    if (head) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    } else {
        long stall_s = (long)(x->p->stall_timeout_ms / 1000);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_s > 0 ? stall_s : 1L);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    char shown[1024];
    url_for_msg(url, shown, sizeof shown);
    if (rc != CURLE_OK) {
        if (body && body->over)
            return rag_err_set(err, RAG_E_TOO_LARGE, "GET %s: body exceeds the expected size or cap of %llu bytes", shown,
                               (unsigned long long)body->cap);
        rag_status st = (rc == CURLE_OPERATION_TIMEDOUT) ? RAG_E_TIMEOUT : RAG_E_IO;
        return rag_err_set(err, st, "%s %s: %s", head ? "HEAD" : "GET", shown, curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    if (h->status >= 300 && h->status < 400) {
        char *loc = NULL;
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
        if (!loc || !*loc)
            return rag_err_set(err, RAG_E_UPSTREAM, "%s %s: HTTP %ld redirect without Location", head ? "HEAD" : "GET",
                               shown, h->status);
        if (!(*location = rag_strdup(loc))) return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    }
    return RAG_OK;
nomem:
    curl_slist_free_all(hdrs);
    return rag_err_set(err, RAG_E_NOMEM, "out of memory");
}

/* Maps an error response of the Hub to a status + message. what = "org/name/file@revision". */
static rag_status http_error(const hop *h, const char *what, rag_err *err) {
    const char *code = h->error_code, *msg = h->error_msg[0] ? h->error_msg : "";
    const char *sep = msg[0] ? ": " : "";
    if (strcmp(code, "EntryNotFound") == 0)
        return rag_err_set(err, RAG_E_NOT_FOUND, "%s: no such file in the repository (EntryNotFound)%s%s", what, sep,
                           msg);
    if (strcmp(code, "RevisionNotFound") == 0)
        return rag_err_set(err, RAG_E_NOT_FOUND, "%s: revision not found (RevisionNotFound)%s%s", what, sep, msg);
    if (strcmp(code, "RepoNotFound") == 0)
        return rag_err_set(err, RAG_E_NOT_FOUND,
                           "%s: repository not found, or private and HF_TOKEN is missing or has no access "
                           "(RepoNotFound, HTTP %ld)%s%s", what, h->status, sep, msg);
    if (strcmp(code, "GatedRepo") == 0)
        return rag_err_set(err, RAG_E_AUTH,
                           "%s: gated repository: accept its conditions on the Hub and set HF_TOKEN (GatedRepo, "
                           "HTTP %ld)%s%s", what, h->status, sep, msg);
    rag_status st = h->status == 401 || h->status == 403 ? RAG_E_AUTH
                    : h->status == 404                    ? RAG_E_NOT_FOUND
                    : h->status == 429                    ? RAG_E_RATE_LIMITED
                                                          : RAG_E_UPSTREAM; /* 5xx and anything else */
    return rag_err_set(err, st, "%s: HTTP %ld%s%s%s%s", what, h->status, code[0] ? " " : "", code, sep, msg);
}

/* Strips W/ and quotes from an ETag value, in place. */
static void clean_etag(char *e) {
    char *s = e;
    if (strncmp(s, "W/", 2) == 0) s += 2;
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
    }
    memmove(e, s, n);
    e[n] = '\0';
}

/* ---------------------------------------------------------------- resolution */

typedef struct ctx {
    const rag_hub_params *p;
    const char *revision;
    char *cache;   /* cache dir */
    char *repo;    /* <cache>/models--org--name */
    char *folder;  /* models--org--name */
    char what[1600]; /* "org/name/file@revision" for messages */
} ctx;

static rag_status write_small(const char *path, const char *data, rag_err *err) {
    rag_status st = mkdirs_for(path, err);
    if (st != RAG_OK) return st;
    char r[17];
    rand_hex(r);
    char *tmp = fmt("%s.%s.tmp", path, r);
    if (!tmp) return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    FILE *f = fopen(tmp, "wb");
    if (!f || fputs(data, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        st = rag_err_set(err, RAG_E_IO, "%s: cannot write: %s", path, strerror(errno));
        if (f) unlink(tmp);
    }
    free(tmp);
    return st;
}

/* snapshots/<commit>/<filename> -> ../../blobs/<etag> (one more ../ per directory in filename). */
static rag_status link_snapshot(ctx *c, const char *commit, const char *etag, char **path_out, rag_err *err) {
    char *snap = fmt("%s/snapshots/%s/%s", c->repo, commit, c->p->filename);
    rag_buf target;
    rag_buf_init(&target, 0);
    rag_status st = snap ? rag_buf_append_str(&target, "../../") : RAG_E_NOMEM;
    for (const char *s = c->p->filename; st == RAG_OK && *s; s++)
        if (*s == '/') st = rag_buf_append_str(&target, "../");
    if (st == RAG_OK) st = rag_buf_appendf(&target, "blobs/%s", etag);
    if (st != RAG_OK) {
        free(snap);
        rag_buf_free(&target);
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    }
    if ((st = mkdirs_for(snap, err)) == RAG_OK) {
        char r[17];
        rand_hex(r);
        char *tmp = fmt("%s.%s.tmp", snap, r);
        if (!tmp) st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
        else if (symlink(target.data, tmp) != 0 || rename(tmp, snap) != 0) {
            st = rag_err_set(err, RAG_E_IO, "%s: cannot create the snapshot symlink: %s", snap, strerror(errno));
            unlink(tmp);
        }
        free(tmp);
    }
    rag_buf_free(&target);
    if (st != RAG_OK) {
        free(snap);
        return st;
    }
    *path_out = snap;
    return RAG_OK;
}

/* Takes an exclusive flock on path, polling until timeout_ms. *fd_out: close to release. */
static rag_status take_lock(const char *path, double timeout_ms, int *fd_out, rag_err *err) {
    rag_status st = mkdirs_for(path, err);
    if (st != RAG_OK) return st;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return rag_err_set(err, RAG_E_IO, "%s: cannot open lock file: %s", path, strerror(errno));
    double until = rag_now_ms() + timeout_ms;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;
            close(fd);
            return rag_err_set(err, RAG_E_IO, "%s: flock: %s", path, strerror(e));
        }
        if (rag_now_ms() >= until) {
            close(fd);
            return rag_err_set(err, RAG_E_TIMEOUT, "%s: another download still holds the lock after %.0f ms", path,
                               timeout_ms);
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    *fd_out = fd;
    return RAG_OK;
}

/* Downloads url into blobs/<etag> (under the lock), checking size and sha256. */
static rag_status fetch_blob(ctx *c, xfer *x, const char *url, const char *etag, int64_t size, rag_err *err) {
    char *blob = fmt("%s/blobs/%s", c->repo, etag);
    char *lock = fmt("%s/.locks/%s/%s.lock", c->cache, c->folder, etag);
    char r[17];
    rand_hex(r);
    char *inc = fmt("%s/blobs/%s.%s.incomplete", c->repo, etag, r);
    rag_status st = RAG_OK;
    int lfd = -1;
    FILE *f = NULL;
    char *cur = NULL;
    if (!blob || !lock || !inc) {
        st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
        goto out;
    }
    if ((st = take_lock(lock, c->p->lock_timeout_ms, &lfd, err)) != RAG_OK) goto out;
    struct stat sb;
    if (stat(blob, &sb) == 0 && S_ISREG(sb.st_mode) && (size < 0 || sb.st_size == size)) goto out; /* have it */
    if ((st = mkdirs_for(inc, err)) != RAG_OK) goto out;
    if (!(f = fopen(inc, "wb"))) {
        st = rag_err_set(err, RAG_E_IO, "%s: cannot create: %s", inc, strerror(errno));
        goto out;
    }
    sink s = {.f = f, .cap = size >= 0 ? (uint64_t)size : c->p->max_file_bytes};
    sha256_init(&s.sha);
    if (!(cur = rag_strdup(url))) {
        st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
        goto out;
    }
    for (int hops = 0;; hops++) {
        hop h;
        char *loc = NULL;
        if ((st = request(x, cur, false, &s, 0, &h, &loc, err)) != RAG_OK) goto out;
        if (loc) {
            free(cur);
            cur = loc;
            if (hops >= HUB_MAX_REDIRECTS) {
                st = rag_err_set(err, RAG_E_UPSTREAM, "%s: more than %d redirects", c->what, HUB_MAX_REDIRECTS);
                goto out;
            }
            continue;
        }
        if (h.status != 200) {
            st = http_error(&h, c->what, err);
            rag_err_prefix(err, "download: ");
            goto out;
        }
        break;
    }
    if (fclose(f) != 0) {
        f = NULL;
        st = rag_err_set(err, RAG_E_IO, "%s: write failed: %s", inc, strerror(errno));
        goto out;
    }
    f = NULL;
    if (size >= 0 && s.written != (uint64_t)size) {
        st = rag_err_set(err, RAG_E_UPSTREAM, "%s: downloaded %llu bytes, expected %lld", c->what,
                         (unsigned long long)s.written, (long long)size);
        goto out;
    }
    if (is_hex(etag, 64)) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[65];
        sha256_digest(&s.sha, sizeof d, d);
        for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
        if (strcasecmp(hex, etag) != 0) {
            st = rag_err_set(err, RAG_E_UPSTREAM, "%s: sha256 mismatch: got %s, expected %s", c->what, hex, etag);
            goto out;
        }
    }
    if (rename(inc, blob) != 0) st = rag_err_set(err, RAG_E_IO, "%s: rename failed: %s", blob, strerror(errno));
out:
    if (f) fclose(f);
    if (inc) unlink(inc); /* no-op after a successful rename */
    if (lfd >= 0) close(lfd);
    free(cur);
    free(blob);
    free(lock);
    free(inc);
    return st;
}

/* HEAD chain (same-origin redirects only) -> metadata; then the blob, the symlink and the ref. */
static rag_status download(ctx *c, char **path_out, rag_err *err) {
    const rag_hub_params *p = c->p;
    const char *ep = p->endpoint ? p->endpoint : env("HF_ENDPOINT");
    if (!ep) ep = HUB_DEFAULT_ENDPOINT;
    size_t eplen = strlen(ep);
    while (eplen && ep[eplen - 1] == '/') eplen--;
    char *rev = pct_encode(c->revision, false), *file = pct_encode(p->filename, true);
    char *url = (rev && file) ? fmt("%.*s/%s/resolve/%s/%s", (int)eplen, ep, p->repo_id, rev, file) : NULL;
    free(rev);
    free(file);
    if (!url) return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    xfer x = {.p = p, .token = NULL};
    char *token = find_token(p);
    x.token = token;
    rag_status st = RAG_OK;
    char *cur = NULL, *loc = NULL;
    if (!url_origin(url, x.origin, sizeof x.origin)) {
        st = rag_err_set(err, RAG_E_CONFIG, "Hub endpoint '%.*s' is not a valid http(s) URL", (int)eplen, ep);
        goto out;
    }
    if (!(x.curl = curl_easy_init())) {
        st = rag_err_set(err, RAG_E_INTERNAL, "curl_easy_init failed (is libcurl initialised?)");
        goto out;
    }
    hop h = {0};
    cur = url;
    url = NULL;
    double until = rag_now_ms() + p->metadata_timeout_ms;
    for (int hops = 0;; hops++) {
        double left = until - rag_now_ms();
        if (left <= 0) {
            st = rag_err_set(err, RAG_E_TIMEOUT, "%s: metadata request timed out", c->what);
            goto out;
        }
        if ((st = request(&x, cur, true, NULL, left, &h, &loc, err)) != RAG_OK) goto out;
        if (!loc) break;
        char o1[512], o2[512];
        if (hops >= HUB_MAX_REDIRECTS || !url_origin(cur, o1, sizeof o1) || !url_origin(loc, o2, sizeof o2) ||
            strcmp(o1, o2) != 0)
            break; /* cross-origin (CDN): loc is where the content is */
        free(cur);
        cur = loc;
        loc = NULL;
    }
    if (h.status >= 400) {
        if (strcmp(h.error_code, "EntryNotFound") == 0 && valid_component(h.commit)) {
            char *marker = fmt("%s/.no_exist/%s/%s", c->repo, h.commit, p->filename);
            if (marker && mkdirs_for(marker, NULL) == RAG_OK) {
                int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                if (fd >= 0) close(fd);
            }
            free(marker);
        }
        st = http_error(&h, c->what, err);
        goto out;
    }
    if (!loc && (h.status < 200 || h.status >= 300)) {
        st = rag_err_set(err, RAG_E_UPSTREAM, "%s: unexpected HTTP %ld", c->what, h.status);
        goto out;
    }
    /* metadata of the last Hub response */
    char etag[HUB_HDR];
    snprintf(etag, sizeof etag, "%s", h.linked_etag[0] ? h.linked_etag : h.etag);
    clean_etag(etag);
    const char *size_s = h.linked_size[0] ? h.linked_size : (loc ? "" : h.length);
    if (!h.commit[0] || !etag[0]) {
        st = rag_err_set(err, RAG_E_UPSTREAM, "%s: the server sent no %s header; is %.*s a Hugging Face Hub endpoint?",
                         c->what, h.commit[0] ? "ETag" : "X-Repo-Commit", (int)eplen, ep);
        goto out;
    }
    if (!valid_component(h.commit) || !valid_component(etag)) {
        st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: refusing unsafe commit '%.64s' or etag '%.64s' from the server",
                         c->what, h.commit, etag);
        goto out;
    }
    int64_t size = -1;
    if (size_s[0]) {
        char *e = NULL;
        errno = 0;
        long long v = strtoll(size_s, &e, 10);
        if (errno || *e || v < 0) {
            st = rag_err_set(err, RAG_E_UPSTREAM, "%s: bad file size '%.32s' from the server", c->what, size_s);
            goto out;
        }
        size = v;
    }
    if (size > 0 && (uint64_t)size > p->max_file_bytes) {
        st = rag_err_set(err, RAG_E_TOO_LARGE, "%s: %lld bytes exceeds the cap of %llu bytes", c->what, (long long)size,
                         (unsigned long long)p->max_file_bytes);
        goto out;
    }
    if ((st = fetch_blob(c, &x, loc ? loc : cur, etag, size, err)) != RAG_OK) goto out;
    if ((st = link_snapshot(c, h.commit, etag, path_out, err)) != RAG_OK) goto out;
    if (strcmp(c->revision, h.commit) != 0) {
        char *ref = fmt("%s/refs/%s", c->repo, c->revision);
        st = ref ? write_small(ref, h.commit, err) : rag_err_set(err, RAG_E_NOMEM, "out of memory");
        free(ref);
        if (st != RAG_OK) {
            free(*path_out);
            *path_out = NULL;
        }
    }
out:
    if (x.curl) curl_easy_cleanup(x.curl);
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    free(url);
    free(cur);
    free(loc);
    return st;
}

rag_status rag_hub_resolve(const rag_hub_params *p, char **path_out, rag_err *err) {
    if (!path_out) return rag_err_set(err, RAG_E_INTERNAL, "rag_hub_resolve: path_out is NULL");
    *path_out = NULL;
    if (!p || !p->repo_id || !*p->repo_id || !p->filename)
        return rag_err_set(err, RAG_E_BAD_INPUT, "rag_hub_resolve: repo_id and filename are required");
    if (!valid_rel_path(p->filename))
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "%s: invalid filename '%.256s' (relative '/'-separated path without '.' or '..')",
                           p->repo_id, p->filename);
    if (is_dir(p->repo_id)) {
        char *path = fmt("%s/%s", p->repo_id, p->filename);
        if (!path) return rag_err_set(err, RAG_E_NOMEM, "out of memory");
        if (!is_file(path)) {
            rag_status st = rag_err_set(err, RAG_E_NOT_FOUND, "%s: no such file in the local model directory", path);
            free(path);
            return st;
        }
        *path_out = path;
        return RAG_OK;
    }
    if (!valid_repo_id(p->repo_id))
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "'%.256s' is neither a local directory nor a valid Hub repo id (org/name)", p->repo_id);
    ctx c = {.p = p, .revision = p->revision && *p->revision ? p->revision : "main"};
    if (!valid_rel_path(c.revision) || strlen(c.revision) > 256)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: invalid revision '%.256s'", p->repo_id, c.revision);
    snprintf(c.what, sizeof c.what, "%s/%s@%s", p->repo_id, p->filename, c.revision);
    rag_status st;
    if (p->cache_dir && *p->cache_dir) {
        if (!(c.cache = rag_strdup(p->cache_dir))) return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    } else if ((st = rag_hub_cache_dir(&c.cache, err)) != RAG_OK) {
        return st;
    }
    c.folder = rag_hub_repo_folder(p->repo_id);
    c.repo = c.folder ? fmt("%s/%s", c.cache, c.folder) : NULL;
    char *commit = NULL, *path = NULL;
    if (!c.repo) {
        st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
        goto out;
    }
    /* the cache: a commit revision is used as is, a branch or tag through refs/<revision> */
    if (is_hex(c.revision, 40)) {
        commit = rag_strdup(c.revision);
    } else {
        char *ref = fmt("%s/refs/%s", c.repo, c.revision);
        char *text = NULL;
        size_t len = 0;
        if (ref && rag_read_file(ref, 256, &text, &len, NULL) == RAG_OK) {
            size_t n = strcspn(text, " \t\r\n");
            text[n] = '\0';
            if (valid_component(text)) commit = rag_strdup(text);
        }
        free(text);
        free(ref);
    }
    if (commit) {
        path = fmt("%s/snapshots/%s/%s", c.repo, commit, p->filename);
        if (path && is_file(path)) {
            *path_out = path;
            path = NULL;
            st = RAG_OK;
            goto out;
        }
        free(path);
        path = fmt("%s/.no_exist/%s/%s", c.repo, commit, p->filename);
        if (path && exists(path)) {
            st = rag_err_set(err, RAG_E_NOT_FOUND, "%s: no such file in the repository (cached .no_exist marker, commit %s)",
                             c.what, commit);
            goto out;
        }
    }
    int offline = p->offline < 0 ? env_offline() : p->offline;
    if (offline) {
        st = rag_err_set(err, RAG_E_NOT_FOUND, "%s: not in the cache (%s) and HF_HUB_OFFLINE is set", c.what, c.cache);
        goto out;
    }
    st = download(&c, path_out, err);
out:
    free(commit);
    free(path);
    free(c.cache);
    free(c.repo);
    free(c.folder);
    return st;
}
