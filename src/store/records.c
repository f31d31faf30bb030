/* Store records: documents and chunks (rows of the documents and chunks tables). */
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SOURCE_MAX_BYTES 65536u /* cap on source, ext_id, title, format strings */

static const char SQL_DOC_LOOKUP[] = "SELECT id, content_hash FROM documents WHERE source = ?1";
static const char SQL_DOC_DELETE_SOURCE[] = "DELETE FROM documents WHERE source = ?1";
static const char SQL_DOC_DELETE_ID[] = "DELETE FROM documents WHERE id = ?1";
static const char SQL_DOC_INSERT[] =
    "INSERT INTO documents(source, ext_id, title, format, content_hash, n_pages, n_pages_failed,"
    " mtime, n_chunks, ingested_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)";
#define DOC_COLUMNS \
    "id, source, ext_id, title, format, content_hash, n_pages, n_pages_failed, mtime," \
    " ingested_at, n_chunks"
static const char SQL_DOC_GET[] = "SELECT " DOC_COLUMNS " FROM documents WHERE id = ?1";
static const char SQL_DOC_LIST[] = "SELECT " DOC_COLUMNS " FROM documents ORDER BY id";
static const char SQL_CHUNK_INSERT[] =
    "INSERT INTO chunks(doc_id, seq, page_start, page_end, byte_start, byte_end, n_tokens, text,"
    " page_map) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_CHUNK_GET[] =
    "SELECT id, doc_id, seq, page_start, page_end, byte_start, byte_end, n_tokens, text, page_map"
    " FROM chunks WHERE id = ?1";

void rag_doc_record_clear(rag_doc_record *r)
{
    if (!r)
        return;
    free(r->source);
    free(r->ext_id);
    free(r->title);
    free(r->format);
    memset(r, 0, sizeof *r);
}

void rag_chunk_record_clear(rag_chunk_record *c)
{
    if (!c)
        return;
    free(c->text);
    free(c->page_map);
    memset(c, 0, sizeof *c);
}

/* Copies column i (TEXT or NULL) into *dst; false on allocation failure. */
static bool dup_column(sqlite3_stmt *st, int i, char **dst)
{
    *dst = NULL;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return true;
    const unsigned char *v = sqlite3_column_text(st, i);
    if (v)
        *dst = rag_strdup((const char *)v);
    return *dst != NULL;
}

/* Fills r from a row of DOC_COLUMNS. */
static rag_status doc_from_row(rag_store *s, sqlite3_stmt *st, rag_doc_record *r, rag_err *err)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    bool ok = dup_column(st, 1, &r->source) && dup_column(st, 2, &r->ext_id) &&
              dup_column(st, 3, &r->title) && dup_column(st, 4, &r->format);
    const unsigned char *h = sqlite3_column_text(st, 5);
    if (h)
        snprintf(r->content_hash, sizeof r->content_hash, "%s", (const char *)h);
    r->n_pages = sqlite3_column_int(st, 6);
    r->n_pages_failed = sqlite3_column_int(st, 7);
    r->mtime = sqlite3_column_int64(st, 8);
    r->ingested_at = sqlite3_column_int64(st, 9);
    r->n_chunks = sqlite3_column_int(st, 10);
    if (!ok) {
        rag_doc_record_clear(r);
        return rag_err_set(err, RAG_E_NOMEM, "%s: document %lld: out of memory", s->path,
                           (long long)sqlite3_column_int64(st, 0));
    }
    return RAG_OK;
}

static bool is_hex32(const char *h)
{
    for (int i = 0; i < 32; i++) {
        char c = h[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return h[32] == '\0';
}

rag_status rag_store_doc_lookup(rag_store *s, const char *source, int64_t *id, char hash_out[33],
                                rag_err *err)
{
    rag_status rs = store_check_text(source, false, true, SOURCE_MAX_BYTES, "document source", err);
    if (rs != RAG_OK)
        return rs;
    sqlite3_stmt *st;
    if ((rs = rag_store_stmt(s, SQL_DOC_LOOKUP, &st, err)) != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (id)
            *id = sqlite3_column_int64(st, 0);
        if (hash_out) {
            const unsigned char *h = sqlite3_column_text(st, 1);
            snprintf(hash_out, 33, "%s", h ? (const char *)h : "");
        }
    } else if (rc == SQLITE_DONE) {
        rs = rag_err_set(err, RAG_E_NOT_FOUND, "%s: document not in store", source);
    } else {
        rs = rag_store_sqlite_error(s, rc, "document lookup", err);
    }
    sqlite3_reset(st);
    return rs;
}

/* Runs a cached one-parameter DELETE/UPDATE; *changes receives the rows changed (incl. none). */
static rag_status exec_bound(rag_store *s, const char *sql, const char *text, int64_t num,
                             int *changes, const char *what, rag_err *err)
{
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(s, sql, &st, err);
    if (rs != RAG_OK)
        return rs;
    if (text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, num);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        rs = rag_store_sqlite_error(s, rc, what, err);
    else if (changes)
        *changes = sqlite3_changes(s->db);
    sqlite3_reset(st);
    return rs;
}

static rag_status doc_insert(rag_store *s, const rag_doc_record *in, int64_t *id_out,
                             rag_err *err)
{
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(s, SQL_DOC_INSERT, &st, err);
    if (rs != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, in->source, -1, SQLITE_STATIC);
    if (in->ext_id)
        sqlite3_bind_text(st, 2, in->ext_id, -1, SQLITE_STATIC);
    if (in->title)
        sqlite3_bind_text(st, 3, in->title, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, in->format, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, in->content_hash, 32, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, in->n_pages);
    sqlite3_bind_int(st, 7, in->n_pages_failed);
    sqlite3_bind_int64(st, 8, in->mtime);
    sqlite3_bind_int64(st, 9, in->ingested_at ? in->ingested_at : (int64_t)time(NULL));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        if (id_out)
            *id_out = sqlite3_last_insert_rowid(s->db);
    } else {
        rs = rag_store_sqlite_error(s, rc, "document insert", err);
        rag_err_prefix(err, "%s: ", in->source);
    }
    sqlite3_reset(st);
    return rs;
}

rag_status rag_store_doc_put(rag_store *s, const rag_doc_record *in, int64_t *id_out,
                             rag_err *err)
{
    if (!in)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: document put: record is NULL", s->path);
    rag_status rs = store_check_text(in->source, false, true, SOURCE_MAX_BYTES, "document source",
                                     err);
    if (rs != RAG_OK)
        return rs;
    const char *src = in->source;
    if ((rs = store_check_text(in->format, false, true, 64, "document format", err)) != RAG_OK ||
        (rs = store_check_text(in->ext_id, true, false, SOURCE_MAX_BYTES, "document ext_id",
                               err)) != RAG_OK ||
        (rs = store_check_text(in->title, true, false, SOURCE_MAX_BYTES, "document title",
                               err)) != RAG_OK) {
        rag_err_prefix(err, "%s: ", src);
        return rs;
    }
    if (!is_hex32(in->content_hash))
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "%s: content_hash is not 32 hex characters", src);
    if (in->n_pages < 0 || in->n_pages_failed < 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: negative page count (%d pages, %d failed)",
                           src, in->n_pages, in->n_pages_failed);

    if ((rs = rag_store_savepoint(s, err)) != RAG_OK)
        return rs;
    rs = exec_bound(s, SQL_DOC_DELETE_SOURCE, src, 0, NULL, "replace document", err);
    if (rs == RAG_OK)
        rs = doc_insert(s, in, id_out, err);
    return rag_store_savepoint_end(s, rs);
}

rag_status rag_store_doc_get(rag_store *s, int64_t id, rag_doc_record *out, rag_err *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(s, SQL_DOC_GET, &st, err);
    if (rs != RAG_OK)
        return rs;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rs = doc_from_row(s, st, out, err);
    else if (rc == SQLITE_DONE)
        rs = rag_err_set(err, RAG_E_NOT_FOUND, "%s: document id %lld not in store", s->path,
                         (long long)id);
    else
        rs = rag_store_sqlite_error(s, rc, "document get", err);
    sqlite3_reset(st);
    return rs;
}

rag_status rag_store_doc_delete(rag_store *s, int64_t id, rag_err *err)
{
    rag_status rs = rag_store_savepoint(s, err);
    if (rs != RAG_OK)
        return rs;
    int changes = 0;
    rs = exec_bound(s, SQL_DOC_DELETE_ID, NULL, id, &changes, "document delete", err);
    if (rs == RAG_OK && changes == 0)
        rs = rag_err_set(err, RAG_E_NOT_FOUND, "%s: document id %lld not in store", s->path,
                         (long long)id);
    return rag_store_savepoint_end(s, rs);
}

rag_status rag_store_doc_list(rag_store *s, rag_store_doc_fn fn, void *ud, rag_err *err)
{
    if (!fn)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: document list: callback is NULL", s->path);
    /* Prepared per call (not cached) so the callback may use every other store function. */
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, SQL_DOC_LIST, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return rag_store_sqlite_error(s, rc, "document list", err);
    }
    rag_status rs = RAG_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rag_doc_record r;
        if ((rs = doc_from_row(s, st, &r, err)) != RAG_OK)
            break;
        rs = fn(&r, ud);
        rag_doc_record_clear(&r);
        if (rs != RAG_OK)
            break;
    }
    if (rs == RAG_OK && rc != SQLITE_DONE)
        rs = rag_store_sqlite_error(s, rc, "document list", err);
    sqlite3_finalize(st);
    return rs;
}

/* ---- chunks ---- */

rag_status rag_store_chunk_put(rag_store *s, rag_chunk_record *c, rag_err *err)
{
    if (!c)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: chunk put: record is NULL", s->path);
    char what[96];
    snprintf(what, sizeof what, "chunk %d of document %lld: text", c->seq, (long long)c->doc_id);
    rag_status rs = store_check_text(c->text, false, false, RAG_STORE_MAX_TEXT_BYTES, what, err);
    if (rs != RAG_OK)
        return rs;
    if (c->byte_end < c->byte_start || c->page_end < c->page_start)
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "chunk %d of document %lld: inverted range (bytes %lld..%lld, "
                           "pages %d..%d)", c->seq, (long long)c->doc_id,
                           (long long)c->byte_start, (long long)c->byte_end, c->page_start,
                           c->page_end);
    sqlite3_stmt *st;
    if ((rs = rag_store_stmt(s, SQL_CHUNK_INSERT, &st, err)) != RAG_OK)
        return rs;
    sqlite3_bind_int64(st, 1, c->doc_id);
    sqlite3_bind_int(st, 2, c->seq);
    sqlite3_bind_int(st, 3, c->page_start);
    sqlite3_bind_int(st, 4, c->page_end);
    sqlite3_bind_int64(st, 5, c->byte_start);
    sqlite3_bind_int64(st, 6, c->byte_end);
    sqlite3_bind_int(st, 7, c->n_tokens);
    sqlite3_bind_text(st, 8, c->text, -1, SQLITE_STATIC);
    if (c->page_map)
        sqlite3_bind_text(st, 9, c->page_map, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 9);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        c->id = sqlite3_last_insert_rowid(s->db);
    } else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        rs = rag_err_set(err, RAG_E_NOT_FOUND, "%s: chunk %d: document id %lld not in store",
                         s->path, c->seq, (long long)c->doc_id);
    } else {
        rs = rag_store_sqlite_error(s, rc, "chunk insert", err);
    }
    sqlite3_reset(st);
    return rs;
}

rag_status rag_store_chunk_get(rag_store *s, int64_t id, rag_chunk_record *out, rag_err *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(s, SQL_CHUNK_GET, &st, err);
    if (rs != RAG_OK)
        return rs;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        out->doc_id = sqlite3_column_int64(st, 1);
        out->seq = sqlite3_column_int(st, 2);
        out->page_start = sqlite3_column_int(st, 3);
        out->page_end = sqlite3_column_int(st, 4);
        out->byte_start = sqlite3_column_int64(st, 5);
        out->byte_end = sqlite3_column_int64(st, 6);
        out->n_tokens = sqlite3_column_int(st, 7);
        if (!dup_column(st, 8, &out->text) || !out->text || !dup_column(st, 9, &out->page_map)) {
            rag_chunk_record_clear(out);
            rs = rag_err_set(err, RAG_E_NOMEM, "%s: chunk %lld: out of memory", s->path,
                             (long long)id);
        }
    } else if (rc == SQLITE_DONE) {
        rs = rag_err_set(err, RAG_E_NOT_FOUND, "%s: chunk id %lld not in store", s->path,
                         (long long)id);
    } else {
        rs = rag_store_sqlite_error(s, rc, "chunk get", err);
    }
    sqlite3_reset(st);
    return rs;
}

rag_status rag_store_chunk_get_many(rag_store *s, const int64_t *ids, size_t n,
                                    rag_chunk_record *out, rag_err *err)
{
    if (n > 0 && (!ids || !out))
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: chunk get_many: NULL ids or out", s->path);
    for (size_t i = 0; i < n; i++) {
        rag_status rs = rag_store_chunk_get(s, ids[i], &out[i], err);
        if (rs != RAG_OK) {
            for (size_t j = 0; j < i; j++)
                rag_chunk_record_clear(&out[j]);
            return rs;
        }
    }
    return RAG_OK;
}
