/* Store handle: open/close, schema migrations, transactions, meta, statement cache, stats. */
#include "store/store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Migrations: MIGRATIONS[i] takes the schema from version i to i + 1, in one transaction.
 * Append only; never edit a migration that has shipped. */
static const char *const MIGRATIONS[] = {
    /* 0 -> 1: meta, documents, chunks, BM25 tables. */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
    "INSERT INTO meta(key, value) VALUES('created_at', strftime('%s', 'now'));"
    "CREATE TABLE documents("
    "  id INTEGER PRIMARY KEY, source TEXT UNIQUE NOT NULL, ext_id TEXT, title TEXT,"
    "  format TEXT NOT NULL, content_hash TEXT NOT NULL, n_pages INTEGER, n_pages_failed INTEGER,"
    "  mtime INTEGER, n_chunks INTEGER, ingested_at INTEGER);"
    "CREATE INDEX documents_ext_id ON documents(ext_id);"
    "CREATE TABLE chunks("
    "  id INTEGER PRIMARY KEY,"
    "  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL, page_start INTEGER, page_end INTEGER, byte_start INTEGER,"
    "  byte_end INTEGER, n_tokens INTEGER, text TEXT NOT NULL);"
    "CREATE INDEX chunks_doc_id ON chunks(doc_id);"
    /* documents.n_chunks follows chunk inserts and deletes in the same statement. */
    "CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN"
    "  UPDATE documents SET n_chunks = n_chunks + 1 WHERE id = NEW.doc_id; END;"
    "CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN"
    "  UPDATE documents SET n_chunks = n_chunks - 1 WHERE id = OLD.doc_id; END;"
    /* BM25 (read and written by src/index/bm25.c; blob formats in src/index/bm25_internal.h).
     * A log-structured inverted index, so that a one-chunk transaction writes a few pages:
     * - bm25_docs: one row per indexed chunk: field length, distinct-term count, forward list
     *   (its terms and tf); pending = 1 until the chunk is merged into bm25_terms.
     * - bm25_terms: merged postings, one row per term (df and a postings blob).
     * - bm25_deleted: tombstones of merged chunks deleted since the last merge (with their
     *   forward lists, so search can correct df and skip them, and merge can remove them).
     * - bm25_stats: exact corpus statistics, kept by the triggers in the same transaction.
     * Deleting a chunk cascades to bm25_docs, whose trigger writes the tombstone. */
    "CREATE TABLE bm25_docs("
    "  chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,"
    "  len INTEGER NOT NULL, n_terms INTEGER NOT NULL, terms BLOB NOT NULL,"
    "  pending INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX bm25_docs_pending ON bm25_docs(chunk_id) WHERE pending = 1;"
    "CREATE TABLE bm25_terms("
    "  term TEXT PRIMARY KEY, df INTEGER NOT NULL, postings BLOB NOT NULL);"
    "CREATE TABLE bm25_deleted("
    "  chunk_id INTEGER PRIMARY KEY, n_terms INTEGER NOT NULL, terms BLOB NOT NULL);"
    "CREATE TABLE bm25_stats("
    "  id INTEGER PRIMARY KEY CHECK(id = 1), n_docs INTEGER NOT NULL, sum_len INTEGER NOT NULL,"
    "  n_postings INTEGER NOT NULL, n_pending INTEGER NOT NULL, n_deleted INTEGER NOT NULL);"
    "INSERT INTO bm25_stats VALUES(1, 0, 0, 0, 0, 0);"
    "CREATE TRIGGER bm25_docs_ai AFTER INSERT ON bm25_docs BEGIN"
    "  UPDATE bm25_stats SET n_docs = n_docs + 1, sum_len = sum_len + NEW.len,"
    "    n_postings = n_postings + NEW.n_terms, n_pending = n_pending + NEW.pending"
    "  WHERE id = 1; END;"
    "CREATE TRIGGER bm25_docs_ad AFTER DELETE ON bm25_docs BEGIN"
    "  INSERT INTO bm25_deleted(chunk_id, n_terms, terms)"
    "    SELECT OLD.chunk_id, OLD.n_terms, OLD.terms WHERE OLD.pending = 0;"
    "  UPDATE bm25_stats SET n_docs = n_docs - 1, sum_len = sum_len - OLD.len,"
    "    n_postings = n_postings - OLD.n_terms, n_pending = n_pending - OLD.pending,"
    "    n_deleted = n_deleted + (OLD.pending = 0)"
    "  WHERE id = 1; END;",
    /* 1 -> 2: where a chunk crosses pages, the offsets at which its text changes page, so a
     * cited sentence names its own page (rag_chunk_record.page_map). */
    "ALTER TABLE chunks ADD COLUMN page_map TEXT;",
    /* 2 -> 3: dense vectors (read and written by src/index/dense.c). One row per (embedding
     * space, chunk): dim f32 values, little-endian, L2-normalized. dense_spaces keeps, per space,
     * the row count n and a generation gen bumped by every insert, update and delete (cascades
     * included), so an in-memory copy of a space can tell whether it is stale. */
    "CREATE TABLE dense_vectors("
    "  chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,"
    "  space TEXT NOT NULL, dim INTEGER NOT NULL, vec BLOB NOT NULL,"
    "  PRIMARY KEY(space, chunk_id)) WITHOUT ROWID;"
    "CREATE INDEX dense_vectors_chunk_id ON dense_vectors(chunk_id);"
    "CREATE TABLE dense_spaces("
    "  space TEXT PRIMARY KEY, n INTEGER NOT NULL, gen INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TRIGGER dense_vectors_ai AFTER INSERT ON dense_vectors BEGIN"
    "  INSERT INTO dense_spaces(space, n, gen) VALUES(NEW.space, 1, 1)"
    "    ON CONFLICT(space) DO UPDATE SET n = n + 1, gen = gen + 1; END;"
    "CREATE TRIGGER dense_vectors_ad AFTER DELETE ON dense_vectors BEGIN"
    "  UPDATE dense_spaces SET n = n - 1, gen = gen + 1 WHERE space = OLD.space; END;"
    "CREATE TRIGGER dense_vectors_au AFTER UPDATE ON dense_vectors BEGIN"
    "  UPDATE dense_spaces SET n = n - 1, gen = gen + 1 WHERE space = OLD.space;"
    "  INSERT INTO dense_spaces(space, n, gen) VALUES(NEW.space, 1, 1)"
    "    ON CONFLICT(space) DO UPDATE SET n = n + 1, gen = gen + 1; END;",
};
#define N_MIGRATIONS ((int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]))

_Static_assert(N_MIGRATIONS == RAG_STORE_SCHEMA_VERSION,
               "RAG_STORE_SCHEMA_VERSION must equal the number of migrations");

rag_store_params rag_store_default_params(void)
{
    rag_store_params p;
    memset(&p, 0, sizeof p);
    p.read_only = false;
    p.busy_timeout_ms = 5000;
    p.cache_size_kib = 16384;
    return p;
}

rag_status rag_store_sqlite_error(rag_store *s, int rc, const char *what, rag_err *err)
{
    const char *path = s && s->path ? s->path : "store";
    const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    int prim = rc & 0xff;
    if (prim == SQLITE_NOMEM)
        return rag_err_set(err, RAG_E_NOMEM, "%s: %s: out of memory", path, what);
    if (prim == SQLITE_NOTADB)
        return rag_err_set(err, RAG_E_STORE, "%s: not a ragc store (file is not a database)", path);
    if (prim == SQLITE_READONLY && s && s->read_only)
        return rag_err_set(err, RAG_E_STORE, "%s: %s: store opened read-only", path, what);
    return rag_err_set(err, RAG_E_STORE, "%s: %s: %s", path, what, msg);
}

rag_status store_check_text(const char *s, bool allow_null, bool non_empty, size_t max,
                            const char *what, rag_err *err)
{
    if (!s) {
        if (allow_null)
            return RAG_OK;
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: missing (NULL)", what);
    }
    size_t n = strlen(s);
    if (non_empty && n == 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: empty", what);
    if (n > max)
        return rag_err_set(err, RAG_E_TOO_LARGE, "%s: %zu bytes exceeds the cap of %zu", what, n,
                           max);
    size_t bad = 0;
    if (!rag_utf8_valid(s, n, &bad))
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: invalid UTF-8 at byte %zu", what, bad);
    return RAG_OK;
}

/* ---- statement cache ---- */

rag_status rag_store_stmt(rag_store *s, const char *sql, sqlite3_stmt **out, rag_err *err)
{
    *out = NULL;
    for (size_t i = 0; i < s->n_stmts; i++) {
        if (s->stmts[i].sql == sql) {
            sqlite3_stmt *st = s->stmts[i].stmt;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            *out = st;
            return RAG_OK;
        }
    }
    if (s->n_stmts == s->cap_stmts) {
        size_t cap = s->cap_stmts ? s->cap_stmts * 2 : 32;
        store_stmt *p = realloc(s->stmts, cap * sizeof *p);
        if (!p)
            return rag_err_set(err, RAG_E_NOMEM, "%s: statement cache: out of memory", s->path);
        s->stmts = p;
        s->cap_stmts = cap;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return rag_store_sqlite_error(s, rc, "prepare", err);
    }
    s->stmts[s->n_stmts].sql = sql;
    s->stmts[s->n_stmts].stmt = st;
    s->n_stmts++;
    *out = st;
    return RAG_OK;
}

rag_status rag_store_exec(rag_store *s, const char *sql, const char *what, rag_err *err)
{
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(s, sql, &st, err);
    if (rs != RAG_OK)
        return rs;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ; /* e.g. a pragma echoing its value */
    rag_status out = rc == SQLITE_DONE ? RAG_OK : rag_store_sqlite_error(s, rc, what, err);
    sqlite3_reset(st);
    return out;
}

static const char SQL_SAVEPOINT[] = "SAVEPOINT rag_store";
static const char SQL_RELEASE[] = "RELEASE rag_store";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO rag_store";

rag_status rag_store_savepoint(rag_store *s, rag_err *err)
{
    return rag_store_exec(s, SQL_SAVEPOINT, "savepoint", err);
}

rag_status rag_store_savepoint_end(rag_store *s, rag_status rs)
{
    if (rs != RAG_OK)
        rag_store_exec(s, SQL_ROLLBACK_TO, "rollback to savepoint", NULL);
    rag_store_exec(s, SQL_RELEASE, "release savepoint", NULL);
    return rs;
}

/* ---- open / close ---- */

/* Runs a one-row one-column integer query (a pragma or count). */
static rag_status query_int(rag_store *s, const char *sql, int64_t *out, rag_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    rag_status rs = rc == SQLITE_OK ? RAG_OK : rag_store_sqlite_error(s, rc, sql, err);
    sqlite3_finalize(st);
    return rs;
}

static rag_status exec_sql(rag_store *s, const char *sql, const char *what, rag_err *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? RAG_OK : rag_store_sqlite_error(s, rc, what, err);
}

static rag_status migrate(rag_store *s, rag_err *err)
{
    int64_t version = s->schema_version;
    while (version < N_MIGRATIONS) {
        rag_status rs = exec_sql(s, "BEGIN IMMEDIATE", "begin migration", err);
        if (rs != RAG_OK)
            return rs;
        /* Another connection may have migrated while we waited for the write lock. */
        rs = query_int(s, "PRAGMA user_version", &version, err);
        if (rs == RAG_OK && version < N_MIGRATIONS) {
            char what[64];
            snprintf(what, sizeof what, "migration to schema version %d", (int)version + 1);
            rs = exec_sql(s, MIGRATIONS[version], what, err);
            char pragma[96];
            if (rs == RAG_OK && version == 0) {
                snprintf(pragma, sizeof pragma, "PRAGMA application_id = %d",
                         (int)RAG_STORE_APPLICATION_ID);
                rs = exec_sql(s, pragma, what, err);
            }
            if (rs == RAG_OK) {
                snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", (int)version + 1);
                rs = exec_sql(s, pragma, what, err);
            }
            if (rs == RAG_OK)
                version++;
        }
        if (rs == RAG_OK)
            rs = exec_sql(s, "COMMIT", "commit migration", err);
        if (rs != RAG_OK) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rs;
        }
    }
    s->schema_version = (int)version;
    return RAG_OK;
}

/* Switches to WAL; a file system without shared memory keeps the old journal (logged). */
static rag_status set_wal(rag_store *s, rag_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        if (!mode || strcmp((const char *)mode, "wal") != 0)
            rag_log(RAG_LOG_WARN, "%s: journal mode is %s, not wal: readers may wait for writers",
                    s->path, mode ? (const char *)mode : "unknown");
        rc = SQLITE_OK;
    }
    rag_status rs = rc == SQLITE_OK ? RAG_OK : rag_store_sqlite_error(s, rc, "set WAL", err);
    sqlite3_finalize(st);
    return rs;
}

/* Refuses files that are not ragc stores and schemas newer than this build. */
static rag_status check_identity(rag_store *s, rag_err *err)
{
    int64_t n_objects = 0, app_id = 0, version = 0;
    /* The first read of the header: fails with SQLITE_NOTADB for a non-database file. */
    rag_status rs = query_int(s, "SELECT count(*) FROM sqlite_schema", &n_objects, err);
    if (rs == RAG_OK)
        rs = query_int(s, "PRAGMA application_id", &app_id, err);
    if (rs == RAG_OK)
        rs = query_int(s, "PRAGMA user_version", &version, err);
    if (rs != RAG_OK)
        return rs;
    if (app_id != 0 && app_id != RAG_STORE_APPLICATION_ID)
        return rag_err_set(err, RAG_E_STORE,
                           "%s: not a ragc store (SQLite database of another application, "
                           "application_id 0x%08llx)", s->path, (unsigned long long)app_id);
    if (app_id == 0 && (version != 0 || n_objects != 0))
        return rag_err_set(err, RAG_E_STORE,
                           "%s: not a ragc store (SQLite database with other tables)", s->path);
    if (version > N_MIGRATIONS)
        return rag_err_set(err, RAG_E_STORE, "%s: store schema version %lld is newer than this "
                           "ragc (%d)", s->path, (long long)version, N_MIGRATIONS);
    s->schema_version = (int)version;
    return RAG_OK;
}

static rag_status store_open(const char *path, const rag_store_params *p, rag_store **out, rag_err *err);

/* Removes <path>.creating-<pid>[-wal|-shm|-journal] files of processes that no longer exist
 * (killed while creating the store). Best effort: errors are ignored. */
static void remove_stale_creations(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    const char *base = slash ? slash + 1 : path;
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) > 0 ? (int)(slash - path) : 1, path);
    else
        snprintf(dir, sizeof dir, ".");
    char prefix[512];
    int np = snprintf(prefix, sizeof prefix, "%s.creating-", base);
    if (np <= 0 || (size_t)np >= sizeof prefix)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, (size_t)np) != 0)
            continue;
        char *end;
        long pid = strtol(de->d_name + np, &end, 10);
        if (end == de->d_name + np || pid <= 0 || pid == (long)getpid())
            continue;
        if (*end && strcmp(end, "-wal") != 0 && strcmp(end, "-shm") != 0 && strcmp(end, "-journal") != 0)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (or not ours to judge): it may still be creating */
        char full[4096 + 256];
        snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
        unlink(full);
    }
    closedir(d);
}

/* A new store appears at its path only with its schema complete: it is built under a temporary
 * name and hard-linked into place (link fails if another process created the store meanwhile:
 * then that one is used), so a process killed while creating the store leaves no half-made
 * ragc.db behind (at most a stale <path>.creating-<pid>, removed by the next creation). */
static rag_status create_atomically(const char *path, const rag_store_params *p, rag_err *err)
{
    size_t n = strlen(path) + 40;
    char *tmp = malloc(n);
    if (!tmp)
        return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.creating-%ld", path, (long)getpid());
    remove_stale_creations(path);
    unlink(tmp);
    rag_store *s = NULL;
    rag_status rs = store_open(tmp, p, &s, err);
    rag_store_close(s);
    if (rs == RAG_OK && link(tmp, path) != 0 && errno != EEXIST)
        rs = rag_err_set(err, RAG_E_IO, "%s: cannot create store: %s", path, strerror(errno));
    unlink(tmp);
    free(tmp);
    return rs;
}

rag_status rag_store_open(const char *path, const rag_store_params *p, rag_store **out,
                          rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "rag_store_open: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return rag_err_set(err, RAG_E_BAD_INPUT, "store path: empty");
    struct stat sb;
    if ((!p || !p->read_only) && strcmp(path, ":memory:") != 0 && stat(path, &sb) != 0 && errno == ENOENT) {
        rag_status rs = rag_mkdir_parents(path, err);
        if (rs == RAG_OK)
            rs = create_atomically(path, p, err);
        if (rs != RAG_OK)
            return rs;
    }
    return store_open(path, p, out, err);
}

static rag_status store_open(const char *path, const rag_store_params *p, rag_store **out, rag_err *err)
{
    rag_store_params prm = p ? *p : rag_store_default_params();
    if (prm.busy_timeout_ms < 0)
        return rag_err_set(err, RAG_E_CONFIG, "%s: busy_timeout_ms %d is negative", path,
                           prm.busy_timeout_ms);
    bool memory = strcmp(path, ":memory:") == 0;
    if (!memory) {
        if (prm.read_only) {
            struct stat st;
            if (stat(path, &st) != 0)
                return rag_err_set(err, errno == ENOENT ? RAG_E_NOT_FOUND : RAG_E_IO,
                                   "%s: cannot open store: %s", path, strerror(errno));
        } else {
            rag_status rs = rag_mkdir_parents(path, err);
            if (rs != RAG_OK)
                return rs;
        }
    }

    rag_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = rag_strdup(path))) {
        free(s);
        return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", path);
    }
    s->read_only = prm.read_only;
    int flags = (prm.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
                | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    rag_status rs = RAG_OK;
    if (rc != SQLITE_OK) {
        rs = rag_err_set(err, rc == SQLITE_NOMEM ? RAG_E_NOMEM : RAG_E_STORE,
                         "%s: cannot open store: %s", path,
                         s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, prm.busy_timeout_ms);

    if ((rs = check_identity(s, err)) != RAG_OK)
        goto fail;
    if (!prm.read_only && !memory && (rs = set_wal(s, err)) != RAG_OK)
        goto fail;
    char pragma[128];
    snprintf(pragma, sizeof pragma,
             "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = %d",
             prm.cache_size_kib > 0 ? -prm.cache_size_kib : -2000);
    if ((rs = exec_sql(s, pragma, "set pragmas", err)) != RAG_OK)
        goto fail;
    if (s->schema_version < N_MIGRATIONS) {
        if (prm.read_only) {
            rs = rag_err_set(err, RAG_E_STORE,
                             s->schema_version == 0
                                 ? "%s: store is empty (schema version %d); open it read-write "
                                   "to create it"
                                 : "%s: store schema version %d is older than this ragc; open it "
                                   "read-write once to migrate it",
                             path, s->schema_version);
            goto fail;
        }
        if ((rs = migrate(s, err)) != RAG_OK)
            goto fail;
    }
    *out = s;
    return RAG_OK;
fail:
    rag_store_close(s);
    return rs;
}

void rag_store_close(rag_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_stmts; i++)
        sqlite3_finalize(s->stmts[i].stmt);
    free(s->stmts);
    if (s->db) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close_v2(s->db);
    }
    free(s->path);
    free(s);
}

const char *rag_store_path(const rag_store *s)
{
    return s->path;
}

int rag_store_schema_version(const rag_store *s)
{
    return s->schema_version;
}

struct sqlite3 *rag_store_db(rag_store *s)
{
    return s->db;
}

/* ---- transactions ---- */

rag_status rag_store_begin(rag_store *s, rag_err *err)
{
    if (s->in_txn || !sqlite3_get_autocommit(s->db))
        return rag_err_set(err, RAG_E_STORE, "%s: begin: a transaction is already open", s->path);
    rag_status rs = rag_store_exec(s, "BEGIN IMMEDIATE", "begin", err);
    if (rs == RAG_OK)
        s->in_txn = true;
    return rs;
}

rag_status rag_store_commit(rag_store *s, rag_err *err)
{
    if (!s->in_txn)
        return rag_err_set(err, RAG_E_STORE, "%s: commit: no transaction is open", s->path);
    rag_status rs = rag_store_exec(s, "COMMIT", "commit", err);
    if (rs != RAG_OK && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_txn = false;
    return rs;
}

rag_status rag_store_rollback(rag_store *s, rag_err *err)
{
    s->in_txn = false;
    if (sqlite3_get_autocommit(s->db))
        return RAG_OK; /* nothing open (or SQLite already rolled back after an error) */
    return rag_store_exec(s, "ROLLBACK", "rollback", err);
}

bool rag_store_in_transaction(const rag_store *s)
{
    return s->in_txn;
}

/* ---- meta ---- */

rag_status rag_store_meta_get(rag_store *s, const char *key, char **value_out, rag_err *err)
{
    *value_out = NULL;
    rag_status rs = store_check_text(key, false, true, 1024, "meta key", err);
    if (rs != RAG_OK)
        return rs;
    sqlite3_stmt *st;
    if ((rs = rag_store_stmt(s, "SELECT value FROM meta WHERE key = ?1", &st, err)) != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        *value_out = rag_strdup(v ? (const char *)v : "");
        if (!*value_out)
            rs = rag_err_set(err, RAG_E_NOMEM, "%s: meta %s: out of memory", s->path, key);
    } else if (rc == SQLITE_DONE) {
        rs = rag_err_set(err, RAG_E_NOT_FOUND, "%s: meta key '%s' not set", s->path, key);
    } else {
        rs = rag_store_sqlite_error(s, rc, "meta get", err);
    }
    sqlite3_reset(st);
    return rs;
}

rag_status rag_store_meta_set(rag_store *s, const char *key, const char *value, rag_err *err)
{
    rag_status rs = store_check_text(key, false, true, 1024, "meta key", err);
    if (rs == RAG_OK)
        rs = store_check_text(value, false, false, RAG_STORE_MAX_TEXT_BYTES, "meta value", err);
    if (rs != RAG_OK)
        return rs;
    sqlite3_stmt *st;
    rs = rag_store_stmt(s, "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value", &st, err);
    if (rs != RAG_OK)
        return rs;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        rs = rag_store_sqlite_error(s, rc, "meta set", err);
    sqlite3_reset(st);
    return rs;
}

/* ---- stats ---- */

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

rag_status rag_store_stats(rag_store *s, rag_store_stats_t *out, rag_err *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    rag_status rs = rag_store_stmt(s,
        "SELECT (SELECT count(*) FROM documents),"
        " (SELECT coalesce(sum(n_pages), 0) FROM documents),"
        " (SELECT coalesce(sum(n_pages_failed), 0) FROM documents),"
        " (SELECT count(*) FROM chunks),"
        " (SELECT coalesce(sum(length(CAST(text AS BLOB))), 0) FROM chunks)", &st, err);
    if (rs != RAG_OK)
        return rs;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->documents = sqlite3_column_int64(st, 0);
        out->pages = sqlite3_column_int64(st, 1);
        out->pages_failed = sqlite3_column_int64(st, 2);
        out->chunks = sqlite3_column_int64(st, 3);
        out->text_bytes = sqlite3_column_int64(st, 4);
    } else {
        rs = rag_store_sqlite_error(s, rc, "stats", err);
    }
    sqlite3_reset(st);
    if (rs == RAG_OK && strcmp(s->path, ":memory:") != 0) {
        out->db_file_bytes = file_size(s->path);
        size_t n = strlen(s->path);
        char *wal = malloc(n + 5);
        if (!wal)
            return rag_err_set(err, RAG_E_NOMEM, "%s: stats: out of memory", s->path);
        memcpy(wal, s->path, n);
        memcpy(wal + n, "-wal", 5);
        out->wal_file_bytes = file_size(wal);
        free(wal);
    }
    return rs;
}
