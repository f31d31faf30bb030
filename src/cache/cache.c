/* Content-addressed persistent cache in SQLite (see include/ragc/cache.h).
 *
 * Schema (version 1):
 *   entries(key BLOB PK, kind, value BLOB, used)  -- used: unix seconds of the last put / hit
 *   counters(kind PK, hits, misses, puts, evictions, entries, bytes)
 * The triggers keep counters.entries / bytes equal to the entries table, so the size check after
 * a put is one row read. */
#include "ragc/cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#define CACHE_SCHEMA_VERSION "1"
#define CACHE_DEFAULT_MAX (512ull * 1024 * 1024)
#define CACHE_TOUCH_SECONDS 60   /* a hit rewrites `used` only when it is older than this */
#define CACHE_EVICT_BATCH 256
#define CACHE_BUSY_MS 5000

struct rag_cache {
    sqlite3 *db;
    char *path;
    uint64_t max_bytes;
    bool read_only;
    pthread_mutex_t mu;
    rag_cache_counts session[RAG_CACHE_KINDS];
};

static const char *const kind_names[RAG_CACHE_KINDS] = {"embedding", "rerank"};

const char *rag_cache_kind_str(rag_cache_kind k)
{
    return (unsigned)k < RAG_CACHE_KINDS ? kind_names[k] : "?";
}

double rag_cache_hit_rate(const rag_cache_counts *k)
{
    uint64_t n = k->hits + k->misses;
    return n ? (double)k->hits / (double)n : -1.0;
}

/* ---- keys ---- */

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Feeds s, normalized (trimmed, inner white-space runs as one space), then a 0xFF terminator
 * (a byte no UTF-8 text contains, so ("ab","c") and ("a","bc") differ). */
static void feed_normalized(XXH3_state_t *h, const char *s)
{
    char buf[256];
    size_t n = 0;
    bool pending_space = false, started = false;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (is_space(*p)) {
            pending_space = started;
            continue;
        }
        if (pending_space) {
            buf[n++] = ' ';
            pending_space = false;
            if (n == sizeof buf) {
                XXH3_128bits_update(h, buf, n);
                n = 0;
            }
        }
        buf[n++] = (char)*p;
        started = true;
        if (n == sizeof buf) {
            XXH3_128bits_update(h, buf, n);
            n = 0;
        }
    }
    buf[n++] = (char)0xFF;
    XXH3_128bits_update(h, buf, n);
}

rag_cache_key rag_cache_key_of(rag_cache_kind kind, const char *identity, const char *input, const char *input2)
{
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    unsigned char k = (unsigned char)kind;
    XXH3_128bits_update(&st, &k, 1);
    const char *id = identity ? identity : "";
    XXH3_128bits_update(&st, id, strlen(id));
    XXH3_128bits_update(&st, "\xff", 1);
    feed_normalized(&st, input);
    unsigned char has2 = input2 != NULL;
    XXH3_128bits_update(&st, &has2, 1);
    if (input2)
        feed_normalized(&st, input2);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
    rag_cache_key key;
    memcpy(key.b, c.digest, sizeof key.b);
    return key;
}

/* ---- open / close ---- */

static rag_status db_err(rag_cache *c, rag_err *err, const char *what)
{
    return rag_err_set(err, RAG_E_STORE, "cache %s: %s: %s", c->path, what, sqlite3_errmsg(c->db));
}

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS entries(key BLOB PRIMARY KEY, kind INTEGER NOT NULL,"
    "  value BLOB NOT NULL, used INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS entries_used ON entries(used);"
    "CREATE TABLE IF NOT EXISTS counters(kind INTEGER PRIMARY KEY, hits INTEGER NOT NULL DEFAULT 0,"
    "  misses INTEGER NOT NULL DEFAULT 0, puts INTEGER NOT NULL DEFAULT 0,"
    "  evictions INTEGER NOT NULL DEFAULT 0, entries INTEGER NOT NULL DEFAULT 0,"
    "  bytes INTEGER NOT NULL DEFAULT 0);"
    "INSERT OR IGNORE INTO counters(kind) VALUES (0), (1);"
    "CREATE TRIGGER IF NOT EXISTS entries_ins AFTER INSERT ON entries BEGIN"
    "  UPDATE counters SET entries = entries + 1, bytes = bytes + length(new.value) WHERE kind = new.kind; END;"
    "CREATE TRIGGER IF NOT EXISTS entries_del AFTER DELETE ON entries BEGIN"
    "  UPDATE counters SET entries = entries - 1, bytes = bytes - length(old.value) WHERE kind = old.kind; END;"
    "CREATE TRIGGER IF NOT EXISTS entries_upd AFTER UPDATE OF value, kind ON entries BEGIN"
    "  UPDATE counters SET entries = entries - 1, bytes = bytes - length(old.value) WHERE kind = old.kind;"
    "  UPDATE counters SET entries = entries + 1, bytes = bytes + length(new.value) WHERE kind = new.kind; END;"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '" CACHE_SCHEMA_VERSION "');";

static int open_db(rag_cache *c)
{
    int flags = c->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(c->path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_busy_timeout(c->db, CACHE_BUSY_MS);
    if (c->read_only)
        return sqlite3_exec(c->db, "SELECT count(*) FROM counters", NULL, NULL, NULL);
    rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(c->db, SCHEMA, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
        else
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK)
        return rc;
    /* A file of another schema version is refused (not overwritten). */
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(st, 0), CACHE_SCHEMA_VERSION) != 0)
        rc = SQLITE_MISMATCH;
    sqlite3_finalize(st);
    return rc;
}

rag_status rag_cache_open(const rag_cache_params *p, rag_cache **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "cache: out is NULL");
    *out = NULL;
    if (!p || !p->path || !*p->path)
        return rag_err_set(err, RAG_E_BAD_INPUT, "cache: no path");
    struct stat sb;
    if (p->read_only && stat(p->path, &sb) != 0)
        return rag_err_set(err, RAG_E_NOT_FOUND, "cache %s: %s", p->path, strerror(errno));
    if (!p->read_only) {
        rag_status ds = rag_mkdir_parents(p->path, err);
        if (ds != RAG_OK)
            return ds == RAG_E_IO ? rag_err_set(err, RAG_E_STORE, "cache: %s", err ? err->msg : "") : ds;
    }
    rag_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(p->path))) {
        free(c);
        return rag_err_set(err, RAG_E_NOMEM, "cache: out of memory");
    }
    c->max_bytes = p->max_bytes ? p->max_bytes : CACHE_DEFAULT_MAX;
    c->read_only = p->read_only;
    pthread_mutex_init(&c->mu, NULL);
    int rc = open_db(c);
    if ((rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) && !c->read_only) {
        /* Not a cache we can read: keep it for inspection and start empty. */
        sqlite3_close(c->db);
        c->db = NULL;
        size_t n = strlen(c->path) + 16;
        char *aside = malloc(n);
        if (aside) {
            snprintf(aside, n, "%s.corrupt", c->path);
            rag_log(RAG_LOG_WARN, "cache %s is not a readable SQLite cache; moved to %s, starting empty", c->path,
                    aside);
            if (rename(c->path, aside) == 0) {
                static const char *const sides[] = {"-wal", "-shm"};
                for (size_t i = 0; i < 2; i++) {
                    char side[4096];
                    snprintf(side, sizeof side, "%s%s", c->path, sides[i]);
                    unlink(side);
                }
                rc = open_db(c);
            }
            free(aside);
        }
    }
    if (rc != SQLITE_OK) {
        rag_status st = rc == SQLITE_MISMATCH
                            ? rag_err_set(err, RAG_E_STORE, "cache %s: schema version differs from %s", c->path,
                                          CACHE_SCHEMA_VERSION)
                            : rag_err_set(err, RAG_E_STORE, "cache %s: %s", c->path,
                                          c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        rag_cache_close(c);
        return st;
    }
    *out = c;
    return RAG_OK;
}

void rag_cache_close(rag_cache *c)
{
    if (!c)
        return;
    sqlite3_close(c->db);
    pthread_mutex_destroy(&c->mu);
    free(c->path);
    free(c);
}

const char *rag_cache_path(const rag_cache *c)
{
    return c ? c->path : NULL;
}

/* ---- get / put ---- */

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static rag_status check_kind(rag_cache_kind kind, rag_err *err)
{
    if ((unsigned)kind >= RAG_CACHE_KINDS)
        return rag_err_set(err, RAG_E_BAD_INPUT, "cache: unknown kind %d", (int)kind);
    return RAG_OK;
}

/* Adds hits/misses (and refreshes `used` of the stale hit keys) in one write transaction.
 * Called with the mutex held. A busy or read-only file only loses the persistent counts. */
static void record_lookup(rag_cache *c, rag_cache_kind kind, const rag_cache_key *stale, size_t n_stale,
                          uint64_t hits, uint64_t misses)
{
    if (c->read_only)
        return;
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return;
    sqlite3_stmt *u = NULL, *t = NULL;
    int rc = sqlite3_prepare_v2(c->db, "UPDATE counters SET hits = hits + ?1, misses = misses + ?2 WHERE kind = ?3",
                                -1, &u, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(u, 1, (sqlite3_int64)hits);
        sqlite3_bind_int64(u, 2, (sqlite3_int64)misses);
        sqlite3_bind_int(u, 3, (int)kind);
        rc = sqlite3_step(u) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc == SQLITE_OK && n_stale)
        rc = sqlite3_prepare_v2(c->db, "UPDATE entries SET used = ?1 WHERE key = ?2", -1, &t, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n_stale; i++) {
        sqlite3_bind_int64(t, 1, now_s());
        sqlite3_bind_blob(t, 2, stale[i].b, sizeof stale[i].b, SQLITE_STATIC);
        rc = sqlite3_step(t) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(t);
    }
    sqlite3_finalize(u);
    sqlite3_finalize(t);
    sqlite3_exec(c->db, rc == SQLITE_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
}

rag_status rag_cache_get(rag_cache *c, rag_cache_kind kind, const rag_cache_key *keys, size_t n, bool *hit,
                         void **vals, size_t *lens, rag_err *err)
{
    if (!c || (n && (!keys || !hit || !vals || !lens)))
        return rag_err_set(err, RAG_E_BAD_INPUT, "cache get: NULL argument");
    if (check_kind(kind, err) != RAG_OK)
        return RAG_E_BAD_INPUT;
    for (size_t i = 0; i < n; i++) {
        hit[i] = false;
        vals[i] = NULL;
        lens[i] = 0;
    }
    if (n == 0)
        return RAG_OK;
    rag_cache_key *stale = malloc(n * sizeof *stale);
    if (!stale)
        return rag_err_set(err, RAG_E_NOMEM, "cache get: out of memory");
    size_t n_stale = 0;
    uint64_t hits = 0;
    rag_status rs = RAG_OK;
    pthread_mutex_lock(&c->mu);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(c->db, "SELECT value, used FROM entries WHERE key = ?1 AND kind = ?2", -1, &q, NULL) !=
        SQLITE_OK)
        rs = db_err(c, err, "lookup");
    /* One read transaction: every key sees the same snapshot. */
    if (rs == RAG_OK && sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        rs = db_err(c, err, "lookup");
    int64_t now = now_s();
    for (size_t i = 0; rs == RAG_OK && i < n; i++) {
        sqlite3_bind_blob(q, 1, keys[i].b, sizeof keys[i].b, SQLITE_STATIC);
        sqlite3_bind_int(q, 2, (int)kind);
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            size_t len = (size_t)sqlite3_column_bytes(q, 0);
            const void *v = sqlite3_column_blob(q, 0);
            if (len > 0 && len <= RAG_CACHE_MAX_VALUE && v) {
                if (!(vals[i] = malloc(len))) {
                    rs = rag_err_set(err, RAG_E_NOMEM, "cache get: out of memory");
                } else {
                    memcpy(vals[i], v, len);
                    lens[i] = len;
                    hit[i] = true;
                    hits++;
                    if (sqlite3_column_int64(q, 1) < now - CACHE_TOUCH_SECONDS)
                        stale[n_stale++] = keys[i];
                }
            }
        } else if (rc != SQLITE_DONE) {
            rs = db_err(c, err, "lookup");
        }
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rs == RAG_OK) {
        c->session[kind].hits += hits;
        c->session[kind].misses += n - hits;
        record_lookup(c, kind, stale, n_stale, hits, n - hits);
    }
    pthread_mutex_unlock(&c->mu);
    free(stale);
    if (rs != RAG_OK) {
        for (size_t i = 0; i < n; i++) {
            free(vals[i]);
            vals[i] = NULL;
            lens[i] = 0;
            hit[i] = false;
        }
    }
    return rs;
}

/* Deletes least recently used entries until bytes <= 90 % of the cap. Mutex held, inside the
 * put's transaction. */
static rag_status evict(rag_cache *c, rag_err *err)
{
    sqlite3_stmt *sum = NULL, *pick = NULL, *del = NULL, *cnt = NULL;
    rag_status rs = RAG_OK;
    if (sqlite3_prepare_v2(c->db, "SELECT coalesce(sum(bytes), 0) FROM counters", -1, &sum, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, "SELECT key, kind, length(value) FROM entries ORDER BY used, key LIMIT ?1", -1,
                           &pick, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, "DELETE FROM entries WHERE key = ?1", -1, &del, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, "UPDATE counters SET evictions = evictions + ?1 WHERE kind = ?2", -1, &cnt,
                           NULL) != SQLITE_OK)
        rs = db_err(c, err, "evict");
    uint64_t target = c->max_bytes / 10 * 9;
    while (rs == RAG_OK) {
        uint64_t bytes = 0;
        if (sqlite3_step(sum) == SQLITE_ROW)
            bytes = (uint64_t)sqlite3_column_int64(sum, 0);
        sqlite3_reset(sum);
        if (bytes <= c->max_bytes && bytes <= target)
            break;
        uint64_t evicted[RAG_CACHE_KINDS] = {0};
        size_t picked = 0;
        sqlite3_bind_int(pick, 1, CACHE_EVICT_BATCH);
        while (rs == RAG_OK && bytes > target && sqlite3_step(pick) == SQLITE_ROW) {
            int kind = sqlite3_column_int(pick, 1);
            uint64_t len = (uint64_t)sqlite3_column_int64(pick, 2);
            sqlite3_bind_blob(del, 1, sqlite3_column_blob(pick, 0), sqlite3_column_bytes(pick, 0), SQLITE_TRANSIENT);
            if (sqlite3_step(del) != SQLITE_DONE)
                rs = db_err(c, err, "evict");
            sqlite3_reset(del);
            bytes = bytes > len ? bytes - len : 0;
            if (kind >= 0 && kind < RAG_CACHE_KINDS)
                evicted[kind]++;
            picked++;
        }
        sqlite3_reset(pick);
        for (int k = 0; rs == RAG_OK && k < RAG_CACHE_KINDS; k++) {
            if (!evicted[k])
                continue;
            c->session[k].evictions += evicted[k];
            sqlite3_bind_int64(cnt, 1, (sqlite3_int64)evicted[k]);
            sqlite3_bind_int(cnt, 2, k);
            if (sqlite3_step(cnt) != SQLITE_DONE)
                rs = db_err(c, err, "evict");
            sqlite3_reset(cnt);
        }
        if (picked == 0)
            break;
    }
    sqlite3_finalize(sum);
    sqlite3_finalize(pick);
    sqlite3_finalize(del);
    sqlite3_finalize(cnt);
    return rs;
}

rag_status rag_cache_put(rag_cache *c, rag_cache_kind kind, const rag_cache_key *keys, const void *const *vals,
                         const size_t *lens, size_t n, rag_err *err)
{
    if (!c || (n && (!keys || !vals || !lens)))
        return rag_err_set(err, RAG_E_BAD_INPUT, "cache put: NULL argument");
    if (check_kind(kind, err) != RAG_OK)
        return RAG_E_BAD_INPUT;
    if (c->read_only)
        return rag_err_set(err, RAG_E_BAD_INPUT, "cache %s: opened read-only", c->path);
    for (size_t i = 0; i < n; i++)
        if (!vals[i] || lens[i] == 0 || lens[i] > RAG_CACHE_MAX_VALUE)
            return rag_err_set(err, RAG_E_TOO_LARGE, "cache put: value %zu has %zu bytes (1..%u)", i, lens[i],
                               RAG_CACHE_MAX_VALUE);
    if (n == 0)
        return RAG_OK;
    rag_status rs = RAG_OK;
    pthread_mutex_lock(&c->mu);
    sqlite3_stmt *ins = NULL, *cnt = NULL;
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rs = db_err(c, err, "begin");
    } else {
        if (sqlite3_prepare_v2(c->db,
                               "INSERT INTO entries(key, kind, value, used) VALUES (?1, ?2, ?3, ?4) "
                               "ON CONFLICT(key) DO UPDATE SET kind = excluded.kind, value = excluded.value, "
                               "used = excluded.used",
                               -1, &ins, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(c->db, "UPDATE counters SET puts = puts + ?1 WHERE kind = ?2", -1, &cnt, NULL) !=
                SQLITE_OK)
            rs = db_err(c, err, "put");
        int64_t now = now_s();
        for (size_t i = 0; rs == RAG_OK && i < n; i++) {
            sqlite3_bind_blob(ins, 1, keys[i].b, sizeof keys[i].b, SQLITE_STATIC);
            sqlite3_bind_int(ins, 2, (int)kind);
            sqlite3_bind_blob(ins, 3, vals[i], (int)lens[i], SQLITE_STATIC);
            sqlite3_bind_int64(ins, 4, now);
            if (sqlite3_step(ins) != SQLITE_DONE)
                rs = db_err(c, err, "put");
            sqlite3_reset(ins);
        }
        if (rs == RAG_OK) {
            sqlite3_bind_int64(cnt, 1, (sqlite3_int64)n);
            sqlite3_bind_int(cnt, 2, (int)kind);
            if (sqlite3_step(cnt) != SQLITE_DONE)
                rs = db_err(c, err, "put");
        }
        sqlite3_finalize(ins);
        sqlite3_finalize(cnt);
        if (rs == RAG_OK)
            rs = evict(c, err);
        if (rs == RAG_OK && sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            rs = db_err(c, err, "commit");
        if (rs != RAG_OK)
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        else
            c->session[kind].puts += n;
    }
    pthread_mutex_unlock(&c->mu);
    return rs;
}

rag_status rag_cache_stats_get(rag_cache *c, rag_cache_stats *out, rag_err *err)
{
    if (!c || !out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "cache stats: NULL argument");
    memset(out, 0, sizeof *out);
    rag_status rs = RAG_OK;
    pthread_mutex_lock(&c->mu);
    out->max_bytes = c->max_bytes;
    memcpy(out->session, c->session, sizeof out->session);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(c->db, "SELECT kind, hits, misses, puts, evictions, entries, bytes FROM counters", -1, &q,
                           NULL) != SQLITE_OK) {
        rs = db_err(c, err, "stats");
    } else {
        int rc;
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            int k = sqlite3_column_int(q, 0);
            if (k < 0 || k >= RAG_CACHE_KINDS)
                continue;
            out->total[k].hits = (uint64_t)sqlite3_column_int64(q, 1);
            out->total[k].misses = (uint64_t)sqlite3_column_int64(q, 2);
            out->total[k].puts = (uint64_t)sqlite3_column_int64(q, 3);
            out->total[k].evictions = (uint64_t)sqlite3_column_int64(q, 4);
            out->entries[k] = (uint64_t)sqlite3_column_int64(q, 5);
            out->bytes += (uint64_t)sqlite3_column_int64(q, 6);
        }
        if (rc != SQLITE_DONE)
            rs = db_err(c, err, "stats");
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&c->mu);
    return rs;
}
