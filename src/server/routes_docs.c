/* Document routes: upload (POST /v1/documents), list, get, delete, and the original file. Uploads
 * are streamed to a temporary file in <data_dir>/uploads, renamed to <hash>-<name> and ingested
 * under the write lock; the hash (XXH3-64 of the bytes) makes a re-upload of the same file land
 * on the same path, which the ingest then reports as unchanged. */
#include "server/server_core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "ragc/walk.h"

#define MULTIPART_OVERHEAD (1u << 20) /* bytes allowed on top of the file in a multipart body */

struct srv_upload {
    rag_server_t *srv;               /* borrowed */
    bool multipart;
    srv_multipart *mp;
    char name[SRV_MAX_FILENAME + 1]; /* sanitized file name */
    bool have_file;                  /* multipart: the "file" part was seen */
    bool in_file;                    /* multipart: inside the "file" part */
    int fd;                          /* temporary file, -1 when closed */
    char *tmp_path;                  /* owned; unlinked by srv_upload_free while set */
    XXH3_state_t *hash;
    uint64_t file_bytes, file_cap, body_cap;
    uint64_t reserved;               /* bytes counted in srv->uploads_reserved for this upload */
    bool quota_hit;                  /* the uploads directory's cap stopped this upload (507) */
};

#define MIB(x) ((double)(x) / (1024.0 * 1024.0))

/* Bytes of the regular files in dir, not counting upload temporaries (".upload-*": those are in
 * uploads_reserved). A missing directory holds 0 bytes. */
static uint64_t uploads_scan(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
                                    !strncmp(e->d_name, ".upload-", 8)))
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
            total += (uint64_t)sb.st_size;
    }
    closedir(d);
    return total;
}

/* Gives back the bytes this upload reserved (when it failed or its file was not kept). */
static void quota_release(srv_upload *u)
{
    if (!u->reserved)
        return;
    pthread_mutex_lock(&u->srv->quota_mu);
    u->srv->uploads_reserved -= u->reserved;
    pthread_mutex_unlock(&u->srv->quota_mu);
    u->reserved = 0;
}

/* Moves this upload's reservation into the stored bytes (its file was kept). */
static void quota_commit(srv_upload *u, bool new_file)
{
    pthread_mutex_lock(&u->srv->quota_mu);
    u->srv->uploads_reserved -= u->reserved;
    if (new_file)
        u->srv->uploads_stored += u->file_bytes;
    pthread_mutex_unlock(&u->srv->quota_mu);
    u->reserved = 0;
}

/* Reserves n more bytes for u; RAG_E_TOO_LARGE (quota_hit) when the directory would exceed its cap. */
static rag_status quota_reserve(srv_upload *u, uint64_t n, rag_err *err)
{
    rag_server_t *s = u->srv;
    uint64_t cap = s->p.max_uploads_total_bytes;
    pthread_mutex_lock(&s->quota_mu);
    uint64_t used = s->uploads_stored + s->uploads_reserved;
    bool ok = used <= cap && n <= cap - used;
    if (ok) {
        s->uploads_reserved += n;
        u->reserved += n;
    }
    pthread_mutex_unlock(&s->quota_mu);
    if (ok)
        return RAG_OK;
    u->quota_hit = true;
    return rag_err_set(err, RAG_E_TOO_LARGE,
                       "%s: the uploads directory is full: %.1f MiB of %.1f MiB used (uploads in progress included); "
                       "delete documents, or raise the limit (ragc serve --max-uploads-mb, RAGC_MAX_UPLOADS_MB)",
                       u->name[0] ? u->name : "upload", MIB(used), MIB(cap));
}

void srv_upload_free(srv_upload *u)
{
    if (!u)
        return;
    quota_release(u);
    if (u->fd >= 0)
        close(u->fd);
    if (u->tmp_path) {
        unlink(u->tmp_path);
        free(u->tmp_path);
    }
    srv_multipart_free(u->mp);
    if (u->hash)
        XXH3_freeState(u->hash);
    free(u);
}

/* Checks a sanitized name's extension. */
static rag_status check_name(srv_upload *u, const char *raw, size_t len, rag_err *err)
{
    rag_status st = srv_sanitize_filename(raw, len, u->name, sizeof u->name, err);
    if (st != RAG_OK)
        return st;
    if (rag_format_from_path(u->name) == RAG_FORMAT_UNKNOWN)
        return rag_err_set(err, RAG_E_UNSUPPORTED, "%s: unsupported file type; supported: %s", u->name,
                           RAG_FORMAT_EXTENSIONS);
    return RAG_OK;
}

static rag_status write_file(srv_upload *u, const char *data, size_t n, rag_err *err)
{
    u->file_bytes += n;
    if (u->file_bytes > u->file_cap)
        return rag_err_set(err, RAG_E_TOO_LARGE, "%s is larger than the upload limit of %llu MiB "
                                                 "(document_processor.max_file_mb)",
                           u->name, (unsigned long long)(u->file_cap >> 20));
    rag_status st = quota_reserve(u, n, err);
    if (st != RAG_OK)
        return st;
    XXH3_64bits_update(u->hash, data, n);
    while (n > 0) {
        ssize_t w = write(u->fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return rag_err_set(err, RAG_E_IO, "cannot write the upload to %s: %s", u->tmp_path,
                               w < 0 ? strerror(errno) : "short write");
        data += w;
        n -= (size_t)w;
    }
    return RAG_OK;
}

static rag_status mp_begin(void *ud, const srv_part *part, rag_err *err)
{
    srv_upload *u = ud;
    if (strcmp(part->name, "file") != 0)
        return RAG_OK; /* other form fields are ignored */
    if (u->have_file)
        return rag_err_set(err, RAG_E_BAD_INPUT, "multipart body: more than one \"file\" field (one file per request)");
    if (!part->has_filename)
        return rag_err_set(err, RAG_E_BAD_INPUT, "multipart body: field \"file\" has no filename");
    rag_status st = check_name(u, part->filename, strlen(part->filename), err);
    if (st != RAG_OK)
        return st;
    u->have_file = u->in_file = true;
    return RAG_OK;
}

static rag_status mp_data(void *ud, const char *data, size_t n, rag_err *err)
{
    srv_upload *u = ud;
    return u->in_file ? write_file(u, data, n, err) : RAG_OK;
}

static rag_status mp_end(void *ud, rag_err *err)
{
    (void)err;
    srv_upload *u = ud;
    u->in_file = false;
    return RAG_OK;
}

enum MHD_Result srv_upload_begin(srv_request *r)
{
    rag_server_t *s = r->srv;
    srv_upload *u = calloc(1, sizeof *u);
    if (!u)
        return srv_respond_error(r, 500, "internal", "out of memory");
    u->fd = -1;
    u->srv = s;
    r->upload = u;
    u->file_cap = s->p.max_upload_bytes;
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    char mime[128], boundary[SRV_MULTIPART_MAX_BOUNDARY + 1];
    rag_err err;
    rag_err_clear(&err);
    if (srv_parse_content_type(ct, mime, sizeof mime, boundary, sizeof boundary, &err) != RAG_OK)
        return srv_respond_error(r, 400, "bad_request", "Content-Type: %s", err.msg);
    if (!strcmp(mime, "multipart/form-data")) {
        if (!boundary[0])
            return srv_respond_error(r, 400, "bad_request", "multipart/form-data without a boundary parameter");
        srv_multipart_callbacks cb = {mp_begin, mp_data, mp_end, u};
        if (srv_multipart_create(boundary, &cb, &u->mp, &err) != RAG_OK)
            return srv_respond_rag_error(r, RAG_E_BAD_INPUT, &err);
        u->multipart = true;
        u->body_cap = u->file_cap + MULTIPART_OVERHEAD;
    } else if (!strncmp(mime, "multipart/", 10)) {
        return srv_respond_error(r, 415, "unsupported_media_type",
                                 "cannot upload a %s body: send multipart/form-data with a \"file\" field, or the "
                                 "raw file with ?filename=NAME or an X-Filename header",
                                 mime);
    } else {
        /* a raw body: the file name says what it is, whatever Content-Type the client sent */
        char *name = NULL;
        rag_status st = srv_query_get(r->query, "filename", &name, &err);
        if (st == RAG_E_NOT_FOUND) {
            const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Filename");
            if (h) {
                name = rag_strdup(h);
                st = name ? RAG_OK : RAG_E_NOMEM;
            }
        }
        if (st == RAG_E_NOT_FOUND && (!strcmp(mime, "application/json") ||
                                      !strcmp(mime, "application/x-www-form-urlencoded")))
            return srv_respond_error(r, 415, "unsupported_media_type",
                                     "cannot upload a %s body: send multipart/form-data with a \"file\" field, or "
                                     "the raw file with ?filename=NAME or an X-Filename header",
                                     mime);
        if (st == RAG_E_NOT_FOUND)
            return srv_respond_error(r, 400, "missing_field",
                                     "missing file name: give ?filename=NAME or an X-Filename header (or upload "
                                     "multipart/form-data with a \"file\" field)");
        if (st == RAG_OK)
            st = check_name(u, name, strlen(name), &err);
        free(name);
        if (st != RAG_OK)
            return srv_respond_rag_error(r, st, &err);
        u->body_cap = u->file_cap;
    }
    r->body_cap = u->body_cap;
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long announced = 0;
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (!errno && *end == '\0' && n > u->body_cap)
            return srv_respond_error(r, 413, "payload_too_large",
                                     "upload is %llu bytes; the limit is %llu MiB (document_processor.max_file_mb)", n,
                                     (unsigned long long)(u->file_cap >> 20));
        if (!errno && *end == '\0') /* a lower bound of the file's size */
            announced = !u->multipart ? n : n > MULTIPART_OVERHEAD ? n - MULTIPART_OVERHEAD : 0;
    }
    /* The directory's total: rescanned here (so deletions and files removed by hand count), then
     * the announced size is checked against what is left. Bytes are reserved as they arrive. */
    pthread_mutex_lock(&s->quota_mu);
    s->uploads_stored = uploads_scan(s->uploads_dir);
    uint64_t used = s->uploads_stored + s->uploads_reserved, cap = s->p.max_uploads_total_bytes;
    pthread_mutex_unlock(&s->quota_mu);
    if (used > cap || announced > cap - used)
        return srv_respond_error(r, 507, "insufficient_storage",
                                 "%s: the uploads directory is full: %.1f MiB of %.1f MiB used, and this upload is "
                                 "%.1f MiB; delete documents, or raise the limit (ragc serve --max-uploads-mb, "
                                 "RAGC_MAX_UPLOADS_MB)",
                                 u->name[0] ? u->name : "upload", MIB(used), MIB(cap), MIB(announced));
    if (mkdir(s->uploads_dir, 0755) != 0 && errno != EEXIST)
        return srv_respond_error(r, 500, "internal", "%s: cannot create the uploads directory: %s", s->uploads_dir,
                                 strerror(errno));
    rag_buf tmp;
    rag_buf_init(&tmp, 8192);
    if (rag_buf_appendf(&tmp, "%s/.upload-XXXXXX", s->uploads_dir) != RAG_OK || !(u->tmp_path = rag_buf_steal(&tmp))) {
        rag_buf_free(&tmp);
        return srv_respond_error(r, 500, "internal", "out of memory");
    }
    u->fd = mkostemp(u->tmp_path, O_CLOEXEC);
    if (u->fd < 0) {
        int e = errno;
        free(u->tmp_path);
        u->tmp_path = NULL;
        return srv_respond_error(r, 500, "internal", "cannot create a file in %s: %s", s->uploads_dir, strerror(e));
    }
    u->hash = XXH3_createState();
    if (!u->hash || XXH3_64bits_reset(u->hash) != XXH_OK)
        return srv_respond_error(r, 500, "internal", "out of memory");
    return MHD_YES;
}

rag_status srv_upload_data(srv_request *r, const char *data, size_t n, rag_err *err)
{
    srv_upload *u = r->upload;
    rag_status st;
    if (r->body_bytes > u->body_cap)
        st = rag_err_set(err, RAG_E_TOO_LARGE, "upload is larger than the limit of %llu MiB "
                                               "(document_processor.max_file_mb)",
                         (unsigned long long)(u->file_cap >> 20));
    else if (u->multipart)
        st = srv_multipart_feed(u->mp, data, n, err);
    else
        st = write_file(u, data, n, err);
    if (st != RAG_OK && u->quota_hit) {
        r->body_http = 507;
        r->body_code = "insufficient_storage";
    }
    if (st != RAG_OK && u->fd >= 0) { /* stop writing; free the disk space now */
        close(u->fd);
        u->fd = -1;
        unlink(u->tmp_path);
        free(u->tmp_path);
        u->tmp_path = NULL;
    }
    return st;
}

/* ---- ingest of the uploaded file ---- */

typedef struct outcome_ctx {
    json_t *docs, *skipped;
    const char *path;      /* the ingested file; stripped from the front of reasons */
    char first_reason[256];
} outcome_ctx;

static void on_outcome(void *ud, const char *source, rag_ingest_outcome o, const char *reason)
{
    outcome_ctx *c = ud;
    static const char *const names[] = {"added", "updated", "unchanged", "skipped"};
    if (o == RAG_INGEST_SKIPPED) {
        json_array_append_new(c->skipped, json_pack("{ss ss}", "source", source, "reason", reason ? reason : "skipped"));
        size_t n = strlen(c->path);
        if (!c->first_reason[0] && reason)
            snprintf(c->first_reason, sizeof c->first_reason, "%s",
                     !strncmp(reason, c->path, n) && !strncmp(reason + n, ": ", 2) ? reason + n + 2 : reason);
    } else {
        json_t *d = json_pack("{ss ss}", "source", source, "outcome", names[o]);
        if (d && reason)
            json_object_set_new(d, "reason", json_string(reason));
        json_array_append_new(c->docs, d);
    }
}

enum MHD_Result srv_upload_finish(srv_request *r)
{
    rag_server_t *s = r->srv;
    srv_upload *u = r->upload;
    rag_err err;
    rag_err_clear(&err);
    rag_status st = u->multipart ? srv_multipart_finish(u->mp, &err) : RAG_OK;
    if (st == RAG_OK && u->multipart && !u->have_file)
        st = rag_err_set(&err, RAG_E_BAD_INPUT, "multipart body has no field \"file\" with a filename");
    if (st != RAG_OK)
        return srv_respond_rag_error(r, st, &err);
    int fd = u->fd;
    u->fd = -1;
    if (close(fd) != 0)
        return srv_respond_error(r, 500, "internal", "cannot write the upload to %s: %s", u->tmp_path, strerror(errno));

    char *final_path = NULL;
    rag_buf b;
    rag_buf_init(&b, 8192);
    if (rag_buf_appendf(&b, "%s/%016llx-%s", s->uploads_dir, (unsigned long long)XXH3_64bits_digest(u->hash), u->name) ==
        RAG_OK)
        final_path = rag_buf_steal(&b);
    rag_buf_free(&b);
    if (!final_path)
        return srv_respond_error(r, 500, "internal", "upload path is too long");
    bool existed = access(final_path, F_OK) == 0; /* the same bytes under the same name, uploaded before */
    if (rename(u->tmp_path, final_path) != 0) {
        int e = errno;
        free(final_path);
        return srv_respond_error(r, 500, "internal", "cannot store the upload in %s: %s", s->uploads_dir, strerror(e));
    }
    free(u->tmp_path);
    u->tmp_path = NULL;

    outcome_ctx oc = {json_array(), json_array(), final_path, ""};
    rag_ingest_params ip = rag_ingest_default_params();
    ip.on_outcome = on_outcome;
    ip.ud = &oc;
    rag_ingest_summary sum;
    const char *paths[] = {final_path};
    pthread_mutex_lock(&s->write_mu);
    double t0 = rag_now_ms();
    st = rag_ingest_paths(s->writer, paths, 1, &ip, &sum, &err);
    size_t i;
    json_t *d;
    json_array_foreach(oc.docs, i, d)
    {
        int64_t id;
        if (rag_store_doc_lookup(rag_engine_store(s->writer), json_string_value(json_object_get(d, "source")), &id, NULL,
                                 NULL) == RAG_OK)
            json_object_set_new(d, "id", json_integer(id));
    }
    pthread_mutex_unlock(&s->write_mu);
    const char *stage[] = {"ingest"};
    rag_metrics_observe(s->m.stage, stage, (rag_now_ms() - t0) / 1000.0);

    bool kept = st == RAG_OK && json_array_size(oc.docs) > 0;
    if (kept)
        quota_commit(u, !existed);
    else
        quota_release(u);
    enum MHD_Result ret;
    if (st != RAG_OK) {
        if (!existed)
            unlink(final_path);
        ret = srv_respond_rag_error(r, st, &err);
        json_decref(oc.docs);
        json_decref(oc.skipped);
    } else if (json_array_size(oc.docs) == 0) {
        if (!existed)
            unlink(final_path);
        char msg[RAG_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s: nothing could be ingested: %s", u->name,
                 oc.first_reason[0] ? oc.first_reason : "no document could be extracted");
        char clean[RAG_ERR_MSG_MAX];
        srv_utf8_sanitize(msg, clean, sizeof clean);
        json_t *body = json_pack("{s{ssss}so}", "error", "code", "nothing_ingestible", "message", clean, "skipped",
                                 oc.skipped);
        ret = body ? srv_respond_jansson(r, 422, body) : srv_respond_json(r, 422, srv_error_json("nothing_ingestible", clean));
        json_decref(oc.docs);
    } else {
        ret = srv_respond_jansson(r, 201, json_pack("{soso}", "documents", oc.docs, "skipped", oc.skipped));
    }
    free(final_path);
    return ret;
}

/* ---- list, get, delete ---- */

static json_t *doc_json(const rag_doc_record *d)
{
    return json_pack("{sI ss so ss si si si sI}", "id", (json_int_t)d->id, "source", d->source, "title",
                     d->title ? json_string(d->title) : json_null(), "format", d->format, "pages", d->n_pages,
                     "pages_failed", d->n_pages_failed, "chunks", d->n_chunks, "ingested_at",
                     (json_int_t)d->ingested_at);
}

static rag_status list_one(const rag_doc_record *d, void *ud)
{
    json_t *o = doc_json(d);
    if (!o || json_array_append_new(ud, o) != 0)
        return RAG_E_NOMEM;
    return RAG_OK;
}

enum MHD_Result srv_route_docs_list(srv_request *r)
{
    json_t *arr = json_array();
    rag_err err;
    rag_err_clear(&err);
    rag_engine *e = srv_engine_acquire(r->srv);
    rag_status st = arr ? rag_store_doc_list(rag_engine_store(e), list_one, arr, &err) : RAG_E_NOMEM;
    srv_engine_release(r->srv, e);
    if (st != RAG_OK) {
        json_decref(arr);
        return srv_respond_rag_error(r, st, &err);
    }
    return srv_respond_jansson(r, 200, json_pack("{so}", "documents", arr));
}

static enum MHD_Result bad_id(srv_request *r)
{
    const char *seg = r->path + strlen("/v1/documents/");
    return srv_respond_error(r, 404, "not_found", "no document '%.*s': ids are positive integers", (int)strcspn(seg, "/"),
                             seg);
}

enum MHD_Result srv_route_doc_get(srv_request *r)
{
    if (!r->match.id_valid)
        return bad_id(r);
    rag_doc_record d;
    rag_err err;
    rag_err_clear(&err);
    rag_engine *e = srv_engine_acquire(r->srv);
    rag_status st = rag_store_doc_get(rag_engine_store(e), r->match.id, &d, &err);
    srv_engine_release(r->srv, e);
    if (st == RAG_E_NOT_FOUND)
        return srv_respond_error(r, 404, "not_found", "no document with id %lld", (long long)r->match.id);
    if (st != RAG_OK)
        return srv_respond_rag_error(r, st, &err);
    json_t *o = doc_json(&d);
    rag_doc_record_clear(&d);
    return srv_respond_jansson(r, 200, o);
}

/* True if path is a file directly inside dir (as the upload code names them). */
static bool inside_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/' && !strchr(path + n + 1, '/') && !strstr(path + n + 1, "..");
}

enum MHD_Result srv_route_doc_delete(srv_request *r)
{
    rag_server_t *s = r->srv;
    if (!r->match.id_valid)
        return bad_id(r);
    rag_doc_record d;
    memset(&d, 0, sizeof d);
    rag_err err;
    rag_err_clear(&err);
    pthread_mutex_lock(&s->write_mu);
    rag_store *store = rag_engine_store(s->writer);
    rag_status st = rag_store_doc_get(store, r->match.id, &d, &err);
    if (st == RAG_OK)
        st = rag_store_doc_delete(store, r->match.id, &err);
    /* a BEIR record's source is "<corpus file>#<id>": the corpus file stays for the other records */
    bool shared = st == RAG_OK && d.format && strcmp(d.format, "beir") == 0;
    pthread_mutex_unlock(&s->write_mu);
    if (st == RAG_E_NOT_FOUND) {
        rag_doc_record_clear(&d);
        return srv_respond_error(r, 404, "not_found", "no document with id %lld", (long long)r->match.id);
    }
    if (st != RAG_OK) {
        rag_doc_record_clear(&d);
        return srv_respond_rag_error(r, st, &err);
    }
    if (!shared && d.source && inside_dir(d.source, s->uploads_dir) && unlink(d.source) != 0 && errno != ENOENT)
        rag_log(RAG_LOG_WARN, "server: %s: cannot remove the uploaded file: %s", d.source, strerror(errno));
    rag_doc_record_clear(&d);
    return srv_respond_jansson(r, 200, json_pack("{sI}", "deleted", (json_int_t)r->match.id));
}

/* ---- the original file ---- */

static const char *format_content_type(const char *format)
{
    if (!strcmp(format, "pdf"))
        return "application/pdf";
    if (!strcmp(format, "html"))
        return "text/html; charset=utf-8";
    if (!strcmp(format, "markdown"))
        return "text/markdown; charset=utf-8";
    if (!strcmp(format, "text"))
        return "text/plain; charset=utf-8";
    return "application/octet-stream";
}

enum MHD_Result srv_route_doc_file(srv_request *r)
{
    if (!r->match.id_valid)
        return bad_id(r);
    rag_doc_record d;
    rag_err err;
    rag_err_clear(&err);
    rag_engine *e = srv_engine_acquire(r->srv);
    rag_status st = rag_store_doc_get(rag_engine_store(e), r->match.id, &d, &err);
    srv_engine_release(r->srv, e);
    if (st == RAG_E_NOT_FOUND)
        return srv_respond_error(r, 404, "not_found", "no document with id %lld", (long long)r->match.id);
    if (st != RAG_OK)
        return srv_respond_rag_error(r, st, &err);
    enum MHD_Result ret;
    if (!strcmp(d.format, "beir")) {
        ret = srv_respond_error(r, 404, "not_found",
                                "document %lld is a record of a BEIR corpus and has no file of its own",
                                (long long)d.id);
        rag_doc_record_clear(&d);
        return ret;
    }
    int fd = open(d.source, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e2 = errno;
        if (fd >= 0)
            close(fd);
        ret = srv_respond_error(r, 404, "not_found", "the file of document %lld is no longer available (%s)",
                                (long long)d.id, fd < 0 ? strerror(e2) : "not a regular file");
        rag_doc_record_clear(&d);
        return ret;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64((uint64_t)sb.st_size, fd, 0);
    if (!resp) {
        close(fd);
        rag_doc_record_clear(&d);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, format_content_type(d.format));
    /* an ASCII-safe name for "Save as" */
    const char *slash = strrchr(d.source, '/');
    char name[SRV_MAX_FILENAME + 1], disp[SRV_MAX_FILENAME + 64];
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : d.source);
    for (char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("._-", *p)))
            *p = '_';
    snprintf(disp, sizeof disp, "inline; filename=\"%s\"", name);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
    if (strcmp(d.format, "pdf") != 0) /* uploaded HTML must not run script on this origin */
        MHD_add_response_header(resp, "Content-Security-Policy", "sandbox");
    rag_doc_record_clear(&d);
    return srv_queue(r, 200, resp);
}
