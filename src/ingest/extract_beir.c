/* BEIR corpus.jsonl: streamed line by line (memory bounded by RAG_EXTRACT_BEIR_LINE_MAX), one
 * document per valid record; bad lines go to on_skip and the file continues. */
#include "ingest/extract_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct beir_job {
    const char *path;
    int64_t mtime;
    const rag_extract_params *p;
    rag_document_cb cb;
    void *ud;
    size_t n_ok, n_unchanged, n_bad;
} beir_job;

/* Reports a skipped line: why carries the status and a message starting with "<path>:<line>". */
static void beir_skip(beir_job *j, size_t lineno, rag_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void beir_skip(beir_job *j, size_t lineno, rag_status st, const char *fmt, ...)
{
    char source[RAG_ERR_MSG_MAX];
    snprintf(source, sizeof source, "%s:%zu", j->path, lineno);
    char reason[RAG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    rag_err why;
    rag_err_set(&why, st, "%s: %s", source, reason);
    j->n_bad++;
    if (j->p->on_skip)
        j->p->on_skip(j->ud, source, &why);
    else
        rag_log(RAG_LOG_WARN, "%s (line skipped)", why.msg);
}

/* String member key of obj: *out = value or NULL if absent/null. False if present with another type. */
static bool get_string(json_t *obj, const char *key, const char **out, size_t *len)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    *len = 0;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v))
        return false;
    *out = json_string_value(v);
    *len = json_string_length(v);
    return true;
}

static const char *json_type_name(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

/* Builds and hands over the document of one record; non-OK only for errors that stop the file. */
static rag_status beir_record(beir_job *j, size_t lineno, const char *line, size_t len,
                              json_t *obj, rag_err *err)
{
    const char *id, *title, *text;
    size_t id_len, title_len, text_len;
    if (!get_string(obj, "_id", &id, &id_len) || !id) {
        json_t *v = json_object_get(obj, "_id");
        beir_skip(j, lineno, RAG_E_BAD_INPUT, v && !json_is_null(v)
                  ? "field \"_id\" must be a string, got %s" : "missing field \"_id\"%s",
                  v && !json_is_null(v) ? json_type_name(v) : "");
        return RAG_OK;
    }
    if (id_len == 0 || memchr(id, '\0', id_len)) {
        beir_skip(j, lineno, RAG_E_BAD_INPUT, "field \"_id\" is empty");
        return RAG_OK;
    }
    if (!get_string(obj, "text", &text, &text_len) || !text) {
        json_t *v = json_object_get(obj, "text");
        beir_skip(j, lineno, RAG_E_BAD_INPUT, v && !json_is_null(v)
                  ? "record \"%s\": field \"text\" must be a string, got %s"
                  : "record \"%s\": missing field \"text\"%s",
                  id, v && !json_is_null(v) ? json_type_name(v) : "");
        return RAG_OK;
    }
    if (!get_string(obj, "title", &title, &title_len)) {
        beir_skip(j, lineno, RAG_E_BAD_INPUT, "record \"%s\": field \"title\" must be a string, got %s",
                  id, json_type_name(json_object_get(obj, "title")));
        return RAG_OK;
    }

    size_t slen = strlen(j->path) + 1 + id_len + 1;
    char *source = malloc(slen);
    if (!source)
        return rag_err_set(err, RAG_E_NOMEM, "%s:%zu: out of memory", j->path, lineno);
    snprintf(source, slen, "%s#%s", j->path, id);
    char hash[33];
    rag_hash128_hex(line, len, hash);
    if (j->p->is_unchanged && j->p->is_unchanged(j->ud, source, hash)) {
        free(source);
        j->n_unchanged++;
        return RAG_OK;
    }

    rag_ingest_doc d;
    rag_status st = rag_ingest_doc_init(&d, j->path, source, "beir", hash, j->mtime,
                                        j->p->max_text_bytes, err);
    free(source);
    if (st != RAG_OK)
        return st;
    rag_buf raw;
    rag_buf_init(&raw, 0);
    if (title_len)
        st = rag_buf_append(&raw, title, title_len);
    if (st == RAG_OK && title_len)
        st = rag_buf_append(&raw, "\n\n", 2);
    if (st == RAG_OK)
        st = rag_buf_append(&raw, text, text_len);
    if (st != RAG_OK) {
        rag_buf_free(&raw);
        rag_ingest_doc_discard(&d);
        return rag_err_set(err, st, "%s:%zu: out of memory", j->path, lineno);
    }
    rag_err perr;
    st = rag_ingest_doc_add_page(&d, raw.data, raw.len, 0, &perr);
    rag_buf_free(&raw);
    if (st == RAG_OK && d.doc->n_pages == 0) {
        st = RAG_E_EMPTY;
        rag_err_set(&perr, st, "%s: record \"%s\" has no text", j->path, id);
    }
    if (st == RAG_E_NOMEM) {
        rag_ingest_doc_discard(&d);
        return rag_err_set(err, st, "%s:%zu: out of memory", j->path, lineno);
    }
    if (st != RAG_OK) { /* too large / empty record: skip the line */
        rag_ingest_doc_discard(&d);
        const char *reason = perr.msg;
        size_t plen = strlen(j->path);
        if (!strncmp(reason, j->path, plen) && reason[plen] == ':')
            reason += plen + (reason[plen + 1] == ' ' ? 2 : 1);
        beir_skip(j, lineno, st, "%s", reason);
        return RAG_OK;
    }
    if (!(d.doc->ext_id = strdup(id))) {
        rag_ingest_doc_discard(&d);
        return rag_err_set(err, RAG_E_NOMEM, "%s:%zu: out of memory", j->path, lineno);
    }
    if (title_len) /* NULL when the title normalizes to nothing */
        d.doc->title = rag_ingest_clean_title(title, title_len);
    rag_document *doc = d.doc;
    d.doc = NULL;
    rag_ingest_doc_discard(&d);
    j->n_ok++;
    rag_err_clear(err);
    st = j->cb(j->ud, doc, err);
    if (st != RAG_OK && err->msg[0] == '\0')
        rag_err_set(err, st, "%s:%zu: document callback failed: %s", j->path, lineno,
                    rag_status_str(st));
    return st;
}

/* One line (without "\n"); non-OK only for errors that stop the file. */
static rag_status beir_line(beir_job *j, size_t lineno, const char *line, size_t len,
                            bool too_long, rag_err *err)
{
    if (too_long) {
        beir_skip(j, lineno, RAG_E_TOO_LARGE, "line longer than the %zu-byte limit",
                  RAG_EXTRACT_BEIR_LINE_MAX);
        return RAG_OK;
    }
    if (len && line[len - 1] == '\r')
        len--;
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t'))
        k++;
    if (k == len)
        return RAG_OK; /* blank line */
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        beir_skip(j, lineno, RAG_E_BAD_INPUT, "invalid JSON at column %d: %s", jerr.column,
                  jerr.text);
        return RAG_OK;
    }
    rag_status st = RAG_OK;
    if (!json_is_object(obj))
        beir_skip(j, lineno, RAG_E_BAD_INPUT, "expected a JSON object, got %s", json_type_name(obj));
    else
        st = beir_record(j, lineno, line, len, obj, err);
    json_decref(obj);
    return st;
}

rag_status rag_ingest_beir(const char *path, int64_t mtime, const rag_extract_params *p,
                           rag_document_cb cb, void *ud, rag_err *err)
{
    rag_err local;
    if (!err)
        err = &local;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return rag_err_set(err, e == ENOENT ? RAG_E_NOT_FOUND : RAG_E_IO, "%s: %s", path, strerror(e));
    }
    beir_job j = {.path = path, .mtime = mtime, .p = p, .cb = cb, .ud = ud};
    rag_buf line;
    rag_buf_init(&line, RAG_EXTRACT_BEIR_LINE_MAX);
    enum { CHUNK = 64 * 1024 };
    char *chunk = malloc(CHUNK);
    rag_status st = chunk ? RAG_OK : rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", path);
    size_t lineno = 1, got;
    bool too_long = false;
    uint64_t total = 0;
    while (st == RAG_OK && (got = fread(chunk, 1, CHUNK, f)) > 0) {
        total += got;
        size_t i = 0;
        while (i < got && st == RAG_OK) {
            const char *nl = memchr(chunk + i, '\n', got - i);
            size_t seg = nl ? (size_t)(nl - (chunk + i)) : got - i;
            if (!too_long) {
                rag_status a = rag_buf_append(&line, chunk + i, seg);
                if (a == RAG_E_TOO_LARGE) {
                    too_long = true;
                    rag_buf_free(&line); /* release up to 16 MiB while skipping */
                    rag_buf_init(&line, RAG_EXTRACT_BEIR_LINE_MAX);
                } else if (a != RAG_OK) {
                    st = rag_err_set(err, a, "%s:%zu: out of memory", path, lineno);
                    break;
                }
            }
            i += seg;
            if (nl) {
                st = beir_line(&j, lineno, line.data ? line.data : "", line.len, too_long, err);
                rag_buf_reset(&line);
                too_long = false;
                lineno++;
                i++;
            }
        }
        if (total > (uint64_t)p->max_file_bytes && st == RAG_OK)
            st = rag_err_set(err, RAG_E_TOO_LARGE, "%s: file grew above the %zu-byte limit "
                             "(max_file_bytes) while reading", path, p->max_file_bytes);
    }
    if (st == RAG_OK && ferror(f))
        st = rag_err_set(err, RAG_E_IO, "%s: read error: %s", path, strerror(errno));
    if (st == RAG_OK && (line.len > 0 || too_long)) /* last line without "\n" */
        st = beir_line(&j, lineno, line.data ? line.data : "", line.len, too_long, err);
    fclose(f);
    free(chunk);
    rag_buf_free(&line);
    if (st != RAG_OK)
        return st;
    if (total == 0)
        return rag_err_set(err, RAG_E_EMPTY, "%s: empty file", path);
    if (j.n_ok == 0 && j.n_unchanged == 0) {
        if (j.n_bad == 0)
            return rag_err_set(err, RAG_E_EMPTY, "%s: empty file (blank lines only)", path);
        return rag_err_set(err, RAG_E_EMPTY, "%s: no valid BEIR record (%zu lines skipped)", path,
                           j.n_bad);
    }
    rag_log(RAG_LOG_DEBUG, "%s: %zu records, %zu unchanged, %zu lines skipped", path, j.n_ok,
            j.n_unchanged, j.n_bad);
    return RAG_OK;
}
