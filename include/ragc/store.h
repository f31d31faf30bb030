/* ragc store: the SQLite system of record (documents, chunks, meta; the BM25 tables' schema).
 *
 * Threading: a rag_store handle is used by one thread at a time (the connection is opened
 * SQLITE_OPEN_NOMUTEX). Several handles, in one process or several, may open the same file:
 * the journal is WAL, so readers never block the writer; writers wait up to busy_timeout_ms.
 *
 * Transactions: the caller's pattern for one document is
 *     rag_store_begin; rag_store_doc_put; rag_store_chunk_put...; rag_bm25_add...; rag_store_commit
 * and rag_store_rollback on any error, so an interrupted ingest loses nothing already committed.
 * Functions that write several rows (doc_put, doc_delete) are atomic on their own too (savepoint).
 * documents.n_chunks and the BM25 statistics are kept by triggers in the same statement.
 *
 * Ids: documents.id and chunks.id are SQLite rowids (INTEGER PRIMARY KEY without AUTOINCREMENT),
 * so the id of a deleted row may be given to a later insert; do not keep ids across deletions.
 *
 * Schema: versioned with PRAGMA user_version and applied by ordered migrations, one transaction
 * each. Tables: meta, documents, chunks, the BM25 tables (bm25_docs, bm25_terms,
 * bm25_deleted, bm25_stats) and the dense tables (dense_vectors, dense_spaces), created here but
 * read and written only by src/index/bm25.c and src/index/dense.c.
 */
#ifndef RAGC_STORE_H
#define RAGC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sqlite3;
struct sqlite3_stmt;

typedef struct rag_store rag_store;
typedef struct rag_store rag_store_t; /* the same opaque handle, by the rag_<module>_t convention */

/* Schema version this build writes (PRAGMA user_version after migrations). */
#define RAG_STORE_SCHEMA_VERSION 3
/* PRAGMA application_id of a ragc store ("ragc" in ASCII). */
#define RAG_STORE_APPLICATION_ID 0x72616763
/* Cap on one chunk's text and on one meta value, bytes. */
#define RAG_STORE_MAX_TEXT_BYTES (64u * 1024u * 1024u)

typedef struct rag_store_params {
    bool read_only;      /* open an existing store without writing; missing -> RAG_E_NOT_FOUND */
    int busy_timeout_ms; /* wait for another connection's lock, ms; default 5000 */
    int cache_size_kib;  /* SQLite page cache per connection, KiB; default 16384 */
} rag_store_params;

rag_store_params rag_store_default_params(void);

/* Opens (creating unless read_only: the file and, mkdir -p style, its parent directories) the
 * store at path and migrates its schema to RAG_STORE_SCHEMA_VERSION.
 * path: copies. p: borrowed for the call; NULL means rag_store_default_params().
 * *out: caller frees with rag_store_close. ":memory:" opens a private in-memory store.
 * Errors: RAG_E_BAD_INPUT (NULL/empty path), RAG_E_NOT_FOUND (read_only and missing),
 * RAG_E_IO (cannot create the directory), RAG_E_STORE ("<path>: not a ragc store (file is not a
 * database)", "<path>: store schema version N is newer than this ragc (M)", SQLite errors). */
rag_status rag_store_open(const char *path, const rag_store_params *p, rag_store **out,
                          rag_err *err);
/* Finalizes cached statements and closes the connection. An open transaction is rolled back.
 * NULL is a no-op. */
void rag_store_close(rag_store *s);

/* Path the store was opened with. Borrowed, valid until rag_store_close. */
const char *rag_store_path(const rag_store *s);
/* Schema version of the open store (RAG_STORE_SCHEMA_VERSION once migrated). */
int rag_store_schema_version(const rag_store *s);

/* ---- transactions ---- */
/* BEGIN IMMEDIATE (takes the write lock now). A transaction already open -> RAG_E_STORE. */
rag_status rag_store_begin(rag_store *s, rag_err *err);
/* COMMIT. No open transaction -> RAG_E_STORE. On failure the transaction is rolled back. */
rag_status rag_store_commit(rag_store *s, rag_err *err);
/* ROLLBACK. No-op (RAG_OK) if no transaction is open, so it is safe in every error path. */
rag_status rag_store_rollback(rag_store *s, rag_err *err);
/* True while a transaction opened by rag_store_begin is open. */
bool rag_store_in_transaction(const rag_store *s);

/* ---- meta: small key/value settings (created_at, settings a caller wants to remember) ---- */
/* *value_out: caller frees with free(). Missing key -> RAG_E_NOT_FOUND. */
rag_status rag_store_meta_get(rag_store *s, const char *key, char **value_out, rag_err *err);
/* Inserts or replaces. key, value: copies (valid UTF-8; value at most RAG_STORE_MAX_TEXT_BYTES). */
rag_status rag_store_meta_set(rag_store *s, const char *key, const char *value, rag_err *err);

/* ---- documents ---- */
typedef struct rag_doc_record {
    int64_t id;            /* rowid; assigned by rag_store_doc_put */
    char *source;          /* unique key (file path, or "<path>#<_id>" for BEIR); owned */
    char *ext_id;          /* external id or NULL; owned */
    char *title;           /* or NULL; owned */
    char *format;          /* "pdf", "html", "markdown", "text", "beir"; owned */
    char content_hash[33]; /* 32 lowercase hex chars + NUL */
    int n_pages;           /* pages in the source */
    int n_pages_failed;    /* pages whose extraction failed */
    int64_t mtime;         /* source modification time, seconds since the epoch; 0 if unknown */
    int64_t ingested_at;   /* seconds since the epoch; doc_put sets now when 0 */
    int n_chunks;          /* maintained by rag_store_chunk_put; ignored by doc_put */
} rag_doc_record;

/* Frees the record's strings and zeroes it. NULL is a no-op. */
void rag_doc_record_clear(rag_doc_record *r);

/* Looks up a document by source. id, hash_out: may be NULL. Absent -> RAG_E_NOT_FOUND. */
rag_status rag_store_doc_lookup(rag_store *s, const char *source, int64_t *id,
                                char hash_out[33], rag_err *err);
/* Inserts the document (in: borrowed, copies its strings; in->id and in->n_chunks are ignored).
 * If a document with the same source exists it is deleted first, with its chunks and BM25 postings,
 * atomically and inside the caller's transaction if one is open. *id_out: may be NULL.
 * source and format must be non-empty valid UTF-8; content_hash must be 32 hex chars. */
rag_status rag_store_doc_put(rag_store *s, const rag_doc_record *in, int64_t *id_out, rag_err *err);
/* Fills *out (caller clears with rag_doc_record_clear). Absent -> RAG_E_NOT_FOUND. */
rag_status rag_store_doc_get(rag_store *s, int64_t id, rag_doc_record *out, rag_err *err);
/* Deletes the document, its chunks and their BM25 postings. Absent -> RAG_E_NOT_FOUND. */
rag_status rag_store_doc_delete(rag_store *s, int64_t id, rag_err *err);

/* Called once per document in id order. rec: borrowed, valid during the call. A non-OK return
 * stops the listing and is returned by rag_store_doc_list. The callback may read the store but
 * must not add or delete documents. */
typedef rag_status (*rag_store_doc_fn)(const rag_doc_record *rec, void *ud);
rag_status rag_store_doc_list(rag_store *s, rag_store_doc_fn fn, void *ud, rag_err *err);

/* ---- chunks ---- */
typedef struct rag_chunk_record {
    int64_t id;          /* rowid; assigned by rag_store_chunk_put */
    int64_t doc_id;      /* documents.id */
    int seq;             /* 0-based order within the document */
    int page_start;      /* first page (1-based; 0 for formats without pages) */
    int page_end;        /* last page, inclusive */
    int64_t byte_start;  /* offsets into the document's normalized text, bytes, [start, end) */
    int64_t byte_end;
    int n_tokens;        /* chunker's token count */
    char *text;          /* valid UTF-8; owned when filled by the store */
    char *page_map;      /* NULL when the chunk is on one page; else the page changes inside text:
                            "OFFSET:PAGE" pairs separated by ' ' (text from byte OFFSET on is on
                            PAGE), ascending. Owned when filled by the store */
} rag_chunk_record;

/* Frees the record's text and zeroes it. NULL is a no-op. */
void rag_chunk_record_clear(rag_chunk_record *c);

/* Inserts the chunk (c->text: copies) and sets c->id; increments the document's n_chunks.
 * Unknown doc_id -> RAG_E_NOT_FOUND; NULL / invalid UTF-8 / oversized text -> RAG_E_BAD_INPUT /
 * RAG_E_TOO_LARGE. */
rag_status rag_store_chunk_put(rag_store *s, rag_chunk_record *c, rag_err *err);
/* Fills *out (caller clears with rag_chunk_record_clear). Absent -> RAG_E_NOT_FOUND. */
rag_status rag_store_chunk_get(rag_store *s, int64_t id, rag_chunk_record *out, rag_err *err);
/* Fills out[0..n) for ids[0..n) (ids, out: borrowed; caller clears each out[i]). If any id is
 * absent, returns RAG_E_NOT_FOUND naming it and leaves every out[i] cleared. */
rag_status rag_store_chunk_get_many(rag_store *s, const int64_t *ids, size_t n,
                                    rag_chunk_record *out, rag_err *err);

/* ---- counts ---- */
typedef struct rag_store_stats_t {
    int64_t documents;
    int64_t chunks;
    int64_t pages;          /* sum of documents.n_pages */
    int64_t pages_failed;   /* sum of documents.n_pages_failed */
    int64_t text_bytes;     /* sum of chunk text sizes, bytes */
    int64_t db_file_bytes;  /* size of the database file on disk (0 for ":memory:") */
    int64_t wal_file_bytes; /* size of the -wal file (0 if none) */
} rag_store_stats_t;

rag_status rag_store_stats(rag_store *s, rag_store_stats_t *out, rag_err *err);

/* ---- for other ragc modules (index) ---- */
/* The connection. Borrowed, valid until rag_store_close; do not close it or change its pragmas. */
struct sqlite3 *rag_store_db(rag_store *s);
/* A prepared statement for sql, prepared on first use and cached in the handle (keyed by the sql
 * text). sql: a string literal or otherwise immutable for the handle's life (the pointer is kept).
 * *out: borrowed, valid until rag_store_close; it is reset with bindings cleared when returned,
 * and the caller calls sqlite3_reset on it when done (before the next rag_store_stmt for it). */
rag_status rag_store_stmt(rag_store *s, const char *sql, struct sqlite3_stmt **out, rag_err *err);
/* Runs the cached statement for sql (as rag_store_stmt) to completion, discarding rows.
 * what names the operation in an error message ("<path>: <what>: <sqlite message>"). */
rag_status rag_store_exec(rag_store *s, const char *sql, const char *what, rag_err *err);
/* Opens a savepoint: a nested, atomic unit inside the caller's transaction (or its own
 * transaction when none is open). Pair every successful call with rag_store_savepoint_end. */
rag_status rag_store_savepoint(rag_store *s, rag_err *err);
/* Ends the innermost savepoint: released if rs == RAG_OK, otherwise its changes are rolled back
 * first. Returns rs. */
rag_status rag_store_savepoint_end(rag_store *s, rag_status rs);
/* Sets err from the connection's last SQLite error: RAG_E_STORE "<path>: <what>: <sqlite message>"
 * (RAG_E_NOMEM for SQLITE_NOMEM). Returns the status. */
rag_status rag_store_sqlite_error(rag_store *s, int rc, const char *what, rag_err *err);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_STORE_H */
