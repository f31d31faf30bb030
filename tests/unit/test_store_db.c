/* Unit tests for src/store: open/create, migrations, refusals, documents, chunks, cascades,
 * transactions, read-only mode, meta, stats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <sqlite3.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ragc/store.h"

#define HASH_A "0123456789abcdef0123456789abcdef"
#define HASH_B "fedcba9876543210fedcba9876543210"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ragc_test_store_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/ragc.db", f->dir);
    *state = f;
    return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static rag_store *open_rw(const char *path)
{
    rag_store *s = NULL;
    rag_err e;
    rag_err_clear(&e);
    rag_status st = rag_store_open(path, NULL, &s, &e);
    if (st != RAG_OK)
        fail_msg("open %s: %s", path, e.msg);
    return s;
}

static int64_t sql_int(rag_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(rag_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void sql_exec(rag_store *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(rag_store_db(s), sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

static rag_doc_record make_doc(const char *source, const char *hash)
{
    rag_doc_record d;
    memset(&d, 0, sizeof d);
    d.source = (char *)source;
    d.ext_id = (char *)"ext-1";
    d.title = (char *)"A title";
    d.format = (char *)"text";
    snprintf(d.content_hash, sizeof d.content_hash, "%s", hash);
    d.n_pages = 3;
    d.n_pages_failed = 1;
    d.mtime = 1700000000;
    d.ingested_at = 1700000100;
    return d;
}

static int64_t put_doc(rag_store *s, const char *source, const char *hash)
{
    rag_doc_record d = make_doc(source, hash);
    int64_t id = 0;
    rag_err e;
    rag_status st = rag_store_doc_put(s, &d, &id, &e);
    if (st != RAG_OK)
        fail_msg("doc put %s: %s", source, e.msg);
    return id;
}

static int64_t put_chunk(rag_store *s, int64_t doc_id, int seq, const char *text)
{
    rag_chunk_record c;
    memset(&c, 0, sizeof c);
    c.doc_id = doc_id;
    c.seq = seq;
    c.page_start = 1;
    c.page_end = 2;
    c.byte_start = 10 * seq;
    c.byte_end = 10 * seq + (int64_t)strlen(text);
    c.n_tokens = 5;
    c.text = (char *)text;
    c.page_map = seq == 1 ? "2:2" : NULL; /* chunk 1 moves to page 2 at byte 2 */
    rag_err e;
    rag_status st = rag_store_chunk_put(s, &c, &e);
    if (st != RAG_OK)
        fail_msg("chunk put: %s", e.msg);
    assert_true(c.id > 0);
    return c.id;
}

static void test_open_creates_dirs_and_pragmas(void **state)
{
    fixture *f = *state;
    char path[256];
    snprintf(path, sizeof path, "%s/a/b/c/store.db", f->dir);
    rag_store *s = open_rw(path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_string_equal(rag_store_path(s), path);
    assert_int_equal(rag_store_schema_version(s), RAG_STORE_SCHEMA_VERSION);
    assert_int_equal(sql_int(s, "PRAGMA user_version"), RAG_STORE_SCHEMA_VERSION);
    assert_int_equal(sql_int(s, "PRAGMA application_id"), RAG_STORE_APPLICATION_ID);
    assert_int_equal(sql_int(s, "PRAGMA foreign_keys"), 1);
    assert_int_equal(sql_int(s, "PRAGMA synchronous"), 1); /* NORMAL */
    assert_int_equal(sql_int(s, "PRAGMA busy_timeout"), 5000);
    sqlite3_stmt *jm = NULL;
    assert_int_equal(sqlite3_prepare_v2(rag_store_db(s), "PRAGMA journal_mode", -1, &jm, NULL), 0);
    assert_int_equal(sqlite3_step(jm), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(jm, 0), "wal");
    sqlite3_finalize(jm);
    char *created = NULL;
    assert_int_equal(rag_store_meta_get(s, "created_at", &created, NULL), RAG_OK);
    assert_true(atoll(created) > 1600000000);
    free(created);
    rag_store_close(s);
    rag_store_close(NULL); /* no-op */
    /* The store was built under a temporary name and linked into place: none is left. */
    char dirpath[256];
    snprintf(dirpath, sizeof dirpath, "%s/a/b/c", f->dir);
    DIR *d = opendir(dirpath);
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        assert_null(strstr(de->d_name, ".creating-"));
    closedir(d);

    /* Leftovers of a process killed while creating a store are removed by the next creation;
     * those of a live process are not. */
    pid_t dead = fork();
    assert_true(dead >= 0);
    if (dead == 0)
        _exit(0);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    char stale[300], stale_wal[310], live[300], other[300];
    snprintf(dirpath, sizeof dirpath, "%s/x", f->dir);
    assert_int_equal(mkdir(dirpath, 0700), 0);
    snprintf(stale, sizeof stale, "%s/store.db.creating-%ld", dirpath, (long)dead);
    snprintf(stale_wal, sizeof stale_wal, "%s-wal", stale);
    snprintf(live, sizeof live, "%s/store.db.creating-%ld", dirpath, (long)getppid());
    snprintf(other, sizeof other, "%s/other.db.creating-%ld", dirpath, (long)dead);
    const char *const files[] = {stale, stale_wal, live, other};
    for (size_t i = 0; i < 4; i++) {
        FILE *fp = fopen(files[i], "w");
        assert_non_null(fp);
        fclose(fp);
    }
    char path2[300];
    snprintf(path2, sizeof path2, "%s/store.db", dirpath);
    rag_store_close(open_rw(path2));
    assert_int_not_equal(access(stale, F_OK), 0);
    assert_int_not_equal(access(stale_wal, F_OK), 0);
    assert_int_equal(access(live, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0); /* another store's name: not touched */

    /* A parent path component that is a file is refused with a clear message. */
    char bad[256];
    snprintf(bad, sizeof bad, "%s/a/b/c/store.db/x/y.db", f->dir);
    rag_err e;
    rag_store *s2 = (rag_store *)1;
    assert_int_equal(rag_store_open(bad, NULL, &s2, &e), RAG_E_IO);
    assert_null(s2);
    assert_non_null(strstr(e.msg, "not a directory"));
    assert_int_equal(rag_store_open("", NULL, &s2, &e), RAG_E_BAD_INPUT);
}

static void test_migrates_empty_db_once(void **state)
{
    fixture *f = *state;
    /* An existing zero-length file is an empty SQLite database. */
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fclose(fp);
    rag_store *s = open_rw(f->path);
    const char *tables[] = {"meta", "documents", "chunks", "bm25_docs", "bm25_terms",
                            "bm25_deleted", "bm25_stats"};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sqlite_schema WHERE type='table' AND name='%s'", tables[i]);
        assert_int_equal(sql_int(s, sql), 1);
    }
    assert_int_equal(sql_int(s, "SELECT count(*) FROM sqlite_schema WHERE type='index' AND "
                                "name IN ('chunks_doc_id', 'documents_ext_id')"), 2);
    assert_int_equal(rag_store_meta_set(s, "created_at", "42", NULL), RAG_OK);
    rag_store_close(s);
    /* Reopening runs no migration again: meta keeps the caller's value. */
    s = open_rw(f->path);
    char *v = NULL;
    assert_int_equal(rag_store_meta_get(s, "created_at", &v, NULL), RAG_OK);
    assert_string_equal(v, "42");
    free(v);
    rag_store_close(s);
}

static void test_refuses_newer_schema(void **state)
{
    fixture *f = *state;
    rag_store *s = open_rw(f->path);
    sql_exec(s, "PRAGMA user_version = 99");
    rag_store_close(s);
    rag_err e;
    rag_store *s2 = NULL;
    assert_int_equal(rag_store_open(f->path, NULL, &s2, &e), RAG_E_STORE);
    assert_null(s2);
    char want[256];
    snprintf(want, sizeof want, "%s: store schema version 99 is newer than this ragc (%d)",
             f->path, RAG_STORE_SCHEMA_VERSION);
    assert_string_equal(e.msg, want);
}

static void test_refuses_non_database(void **state)
{
    fixture *f = *state;
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is a text file, not SQLite\n", fp);
    fclose(fp);
    struct stat before, after;
    assert_int_equal(stat(f->path, &before), 0);
    rag_err e;
    rag_store *s = NULL;
    assert_int_equal(rag_store_open(f->path, NULL, &s, &e), RAG_E_STORE);
    assert_null(s);
    char want[256];
    snprintf(want, sizeof want, "%s: not a ragc store (file is not a database)", f->path);
    assert_string_equal(e.msg, want);
    assert_int_equal(stat(f->path, &after), 0);
    assert_int_equal(before.st_size, after.st_size); /* untouched */

    /* A SQLite database of something else is not adopted either. */
    char other[256];
    snprintf(other, sizeof other, "%s/other.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(rag_store_open(other, NULL, &s, &e), RAG_E_STORE);
    assert_non_null(strstr(e.msg, "not a ragc store"));
}

static void test_doc_put_get_lookup(void **state)
{
    fixture *f = *state;
    rag_store *s = open_rw(f->path);
    int64_t id = put_doc(s, "docs/a.txt", HASH_A);
    int64_t got = 0;
    char hash[33] = "";
    assert_int_equal(rag_store_doc_lookup(s, "docs/a.txt", &got, hash, NULL), RAG_OK);
    assert_int_equal(got, id);
    assert_string_equal(hash, HASH_A);

    rag_doc_record r;
    assert_int_equal(rag_store_doc_get(s, id, &r, NULL), RAG_OK);
    assert_int_equal(r.id, id);
    assert_string_equal(r.source, "docs/a.txt");
    assert_string_equal(r.ext_id, "ext-1");
    assert_string_equal(r.title, "A title");
    assert_string_equal(r.format, "text");
    assert_string_equal(r.content_hash, HASH_A);
    assert_int_equal(r.n_pages, 3);
    assert_int_equal(r.n_pages_failed, 1);
    assert_int_equal(r.mtime, 1700000000);
    assert_int_equal(r.ingested_at, 1700000100);
    assert_int_equal(r.n_chunks, 0);
    rag_doc_record_clear(&r);
    assert_null(r.source);

    /* NULL ext_id/title round-trip as NULL; ingested_at 0 becomes now. */
    rag_doc_record d = make_doc("docs/b.txt", HASH_B);
    d.ext_id = NULL;
    d.title = NULL;
    d.ingested_at = 0;
    int64_t idb;
    assert_int_equal(rag_store_doc_put(s, &d, &idb, NULL), RAG_OK);
    assert_int_equal(rag_store_doc_get(s, idb, &r, NULL), RAG_OK);
    assert_null(r.ext_id);
    assert_null(r.title);
    assert_true(r.ingested_at > 1600000000);
    rag_doc_record_clear(&r);

    rag_err e;
    assert_int_equal(rag_store_doc_lookup(s, "docs/missing.txt", &got, hash, &e), RAG_E_NOT_FOUND);
    assert_string_equal(e.msg, "docs/missing.txt: document not in store");
    assert_int_equal(rag_store_doc_get(s, 12345, &r, &e), RAG_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, "document id 12345 not in store"));
    rag_store_close(s);
}

static void test_doc_put_bad_input(void **state)
{
    fixture *f = *state;
    rag_store *s = open_rw(f->path);
    rag_err e;
    rag_doc_record d = make_doc("x.txt", HASH_A);
    d.source = (char *)"";
    assert_int_equal(rag_store_doc_put(s, &d, NULL, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "document source: empty");

    d = make_doc("x.txt", "not-a-hash");
    assert_int_equal(rag_store_doc_put(s, &d, NULL, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "x.txt: content_hash is not 32 hex characters");

    d = make_doc("x.txt", HASH_A);
    d.title = (char *)"bad \xff title";
    assert_int_equal(rag_store_doc_put(s, &d, NULL, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "x.txt: document title: invalid UTF-8 at byte 4");

    d = make_doc("x.txt", HASH_A);
    d.format = NULL;
    assert_int_equal(rag_store_doc_put(s, &d, NULL, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "x.txt: document format: missing (NULL)");

    assert_int_equal(rag_store_doc_put(s, NULL, NULL, &e), RAG_E_BAD_INPUT);
    rag_store_stats_t st;
    assert_int_equal(rag_store_stats(s, &st, NULL), RAG_OK);
    assert_int_equal(st.documents, 0);
    rag_store_close(s);
}

/* Adds a bm25_docs row for a chunk (the index module owns the real writer and the blob format;
 * the store owns the schema and its triggers, which this exercises). */
static void fake_bm25(rag_store *s, int64_t chunk_id, int len, int pending)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO bm25_docs(chunk_id, len, n_terms, terms, pending)"
             " VALUES(%lld, %d, 2, x'00', %d)", (long long)chunk_id, len, pending);
    sql_exec(s, sql);
}

static void expect_bm25_stats(rag_store *s, int n_docs, int sum_len, int n_postings,
                              int n_pending, int n_deleted)
{
    assert_int_equal(sql_int(s, "SELECT n_docs FROM bm25_stats"), n_docs);
    assert_int_equal(sql_int(s, "SELECT sum_len FROM bm25_stats"), sum_len);
    assert_int_equal(sql_int(s, "SELECT n_postings FROM bm25_stats"), n_postings);
    assert_int_equal(sql_int(s, "SELECT n_pending FROM bm25_stats"), n_pending);
    assert_int_equal(sql_int(s, "SELECT n_deleted FROM bm25_stats"), n_deleted);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM bm25_docs"), n_docs);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM bm25_deleted"), n_deleted);
}

static void test_replace_and_delete_cascade(void **state)
{
    fixture *f = *state;
    rag_store *s = open_rw(f->path);
    int64_t keep = put_doc(s, "keep.txt", HASH_A);
    int64_t kc = put_chunk(s, keep, 0, "kept chunk");
    fake_bm25(s, kc, 3, 0);

    int64_t old = put_doc(s, "doc.txt", HASH_A);
    int64_t c0 = put_chunk(s, old, 0, "first chunk");
    int64_t c1 = put_chunk(s, old, 1, "second chunk");
    fake_bm25(s, c0, 4, 0); /* merged */
    fake_bm25(s, c1, 6, 1); /* pending */
    rag_doc_record r;
    assert_int_equal(rag_store_doc_get(s, old, &r, NULL), RAG_OK);
    assert_int_equal(r.n_chunks, 2);
    rag_doc_record_clear(&r);
    expect_bm25_stats(s, 3, 13, 6, 1, 0);

    /* Replacing by source removes the old row and its chunks; their BM25 rows go too, a merged
     * chunk leaving a tombstone, with the statistics kept exact. */
    int64_t fresh = put_doc(s, "doc.txt", HASH_B);
    rag_err e;
    assert_int_equal(rag_store_doc_get(s, fresh, &r, &e), RAG_OK);
    assert_int_equal(r.n_chunks, 0);
    assert_string_equal(r.content_hash, HASH_B);
    rag_doc_record_clear(&r);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM documents"), 2);
    rag_chunk_record c;
    assert_int_equal(rag_store_chunk_get(s, c0, &c, &e), RAG_E_NOT_FOUND);
    assert_int_equal(rag_store_chunk_get(s, c1, &c, &e), RAG_E_NOT_FOUND);
    expect_bm25_stats(s, 1, 3, 2, 0, 1);
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM bm25_deleted WHERE chunk_id = %lld",
             (long long)c0);
    assert_int_equal(sql_int(s, sql), 1);
    char hash[33];
    assert_int_equal(rag_store_doc_lookup(s, "doc.txt", NULL, hash, NULL), RAG_OK);
    assert_string_equal(hash, HASH_B);

    /* Delete cascades the same way; deleting again is NOT_FOUND. */
    assert_int_equal(rag_store_doc_delete(s, keep, NULL), RAG_OK);
    assert_int_equal(rag_store_chunk_get(s, kc, &c, NULL), RAG_E_NOT_FOUND);
    expect_bm25_stats(s, 0, 0, 0, 0, 2);
    assert_int_equal(rag_store_doc_delete(s, keep, &e), RAG_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, "not in store"));
    rag_store_close(s);
}

static void test_chunks(void **state)
{
    fixture *f = *state;
    rag_store *s = open_rw(f->path);
    int64_t d = put_doc(s, "c.txt", HASH_A);
    int64_t ids[3];
    ids[0] = put_chunk(s, d, 0, "zero");
    ids[1] = put_chunk(s, d, 1, "one \xc3\xa9");
    ids[2] = put_chunk(s, d, 2, "two");

    rag_chunk_record c;
    assert_int_equal(rag_store_chunk_get(s, ids[1], &c, NULL), RAG_OK);
    assert_int_equal(c.id, ids[1]);
    assert_int_equal(c.doc_id, d);
    assert_int_equal(c.seq, 1);
    assert_int_equal(c.page_start, 1);
    assert_int_equal(c.page_end, 2);
    assert_int_equal(c.byte_start, 10);
    assert_int_equal(c.byte_end, 16);
    assert_int_equal(c.n_tokens, 5);
    assert_string_equal(c.text, "one \xc3\xa9");
    assert_string_equal(c.page_map, "2:2");
    rag_chunk_record_clear(&c);
    assert_int_equal(rag_store_chunk_get(s, ids[0], &c, NULL), RAG_OK);
    assert_null(c.page_map); /* one page: no map */
    rag_chunk_record_clear(&c);

    rag_chunk_record many[3];
    int64_t order[3] = {ids[2], ids[0], ids[1]};
    assert_int_equal(rag_store_chunk_get_many(s, order, 3, many, NULL), RAG_OK);
    assert_string_equal(many[0].text, "two");
    assert_string_equal(many[1].text, "zero");
    assert_string_equal(many[2].text, "one \xc3\xa9");
    for (int i = 0; i < 3; i++)
        rag_chunk_record_clear(&many[i]);
    int64_t with_missing[3] = {ids[0], 999999, ids[2]};
    rag_err e;
    assert_int_equal(rag_store_chunk_get_many(s, with_missing, 3, many, &e), RAG_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, "chunk id 999999 not in store"));
    assert_null(many[0].text); /* cleared on failure */

    /* Error paths: unknown document, invalid UTF-8, NULL text, inverted range. */
    rag_chunk_record bad;
    memset(&bad, 0, sizeof bad);
    bad.doc_id = 4242;
    bad.text = (char *)"orphan";
    assert_int_equal(rag_store_chunk_put(s, &bad, &e), RAG_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, "document id 4242 not in store"));
    bad.doc_id = d;
    bad.seq = 7;
    bad.text = (char *)"bad \xc3";
    assert_int_equal(rag_store_chunk_put(s, &bad, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "chunk 7 of document 1: text: invalid UTF-8 at byte 4");
    bad.text = NULL;
    assert_int_equal(rag_store_chunk_put(s, &bad, &e), RAG_E_BAD_INPUT);
    bad.text = (char *)"ok";
    bad.byte_start = 10;
    bad.byte_end = 5;
    assert_int_equal(rag_store_chunk_put(s, &bad, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "inverted range"));

    rag_doc_record r;
    assert_int_equal(rag_store_doc_get(s, d, &r, NULL), RAG_OK);
    assert_int_equal(r.n_chunks, 3); /* failed puts did not count */
    rag_doc_record_clear(&r);
    rag_store_close(s);
}

static void test_transactions(void **state)
{
    fixture *f = *state;
    rag_store *s = open_rw(f->path);
    rag_err e;
    assert_int_equal(rag_store_commit(s, &e), RAG_E_STORE);
    assert_non_null(strstr(e.msg, "no transaction is open"));
    assert_int_equal(rag_store_rollback(s, NULL), RAG_OK); /* no-op */

    /* Committed document survives close/reopen. */
    assert_int_equal(rag_store_begin(s, NULL), RAG_OK);
    assert_true(rag_store_in_transaction(s));
    int64_t d1 = put_doc(s, "committed.txt", HASH_A);
    put_chunk(s, d1, 0, "committed text");
    assert_int_equal(rag_store_commit(s, NULL), RAG_OK);
    assert_false(rag_store_in_transaction(s));

    /* Rollback leaves nothing. */
    assert_int_equal(rag_store_begin(s, NULL), RAG_OK);
    assert_int_equal(rag_store_begin(s, &e), RAG_E_STORE);
    assert_non_null(strstr(e.msg, "already open"));
    int64_t d2 = put_doc(s, "rolled.txt", HASH_A);
    put_chunk(s, d2, 0, "rolled text");
    assert_int_equal(rag_store_rollback(s, NULL), RAG_OK);
    assert_int_equal(rag_store_doc_lookup(s, "rolled.txt", NULL, NULL, NULL), RAG_E_NOT_FOUND);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM chunks"), 1);

    /* An interrupted ingest (closed mid-transaction) loses only the open transaction. */
    assert_int_equal(rag_store_begin(s, NULL), RAG_OK);
    put_doc(s, "interrupted.txt", HASH_A);
    rag_store_close(s);
    s = open_rw(f->path);
    assert_int_equal(rag_store_doc_lookup(s, "committed.txt", NULL, NULL, NULL), RAG_OK);
    assert_int_equal(rag_store_doc_lookup(s, "interrupted.txt", NULL, NULL, NULL),
                     RAG_E_NOT_FOUND);
    rag_store_stats_t st;
    assert_int_equal(rag_store_stats(s, &st, NULL), RAG_OK);
    assert_int_equal(st.documents, 1);
    assert_int_equal(st.chunks, 1);
    rag_store_close(s);
}

static void test_two_handles_wal(void **state)
{
    fixture *f = *state;
    rag_store *w = open_rw(f->path);
    rag_store *r = open_rw(f->path);
    assert_int_equal(rag_store_begin(w, NULL), RAG_OK);
    put_doc(w, "shared.txt", HASH_A);
    /* The reader does not see uncommitted rows and is not blocked by the writer. */
    assert_int_equal(rag_store_doc_lookup(r, "shared.txt", NULL, NULL, NULL), RAG_E_NOT_FOUND);
    assert_int_equal(rag_store_commit(w, NULL), RAG_OK);
    assert_int_equal(rag_store_doc_lookup(r, "shared.txt", NULL, NULL, NULL), RAG_OK);
    rag_store_close(w);
    rag_store_close(r);
}

static void test_read_only(void **state)
{
    fixture *f = *state;
    rag_store_params p = rag_store_default_params();
    p.read_only = true;
    rag_store *s = NULL;
    rag_err e;
    assert_int_equal(rag_store_open(f->path, &p, &s, &e), RAG_E_NOT_FOUND);
    assert_null(s);
    assert_non_null(strstr(e.msg, f->path));
    struct stat st;
    assert_int_equal(stat(f->path, &st), -1); /* not created */

    s = open_rw(f->path);
    put_doc(s, "ro.txt", HASH_A);
    rag_store_close(s);

    assert_int_equal(rag_store_open(f->path, &p, &s, &e), RAG_OK);
    assert_int_equal(rag_store_doc_lookup(s, "ro.txt", NULL, NULL, NULL), RAG_OK);
    rag_doc_record d = make_doc("new.txt", HASH_B);
    assert_int_equal(rag_store_doc_put(s, &d, NULL, &e), RAG_E_STORE);
    assert_non_null(strstr(e.msg, "read-only"));
    assert_int_equal(rag_store_meta_set(s, "k", "v", &e), RAG_E_STORE);
    rag_store_close(s);
}

static void test_meta_and_stmt_cache(void **state)
{
    fixture *f = *state;
    rag_store *s = open_rw(f->path);
    rag_err e;
    char *v = NULL;
    assert_int_equal(rag_store_meta_get(s, "analyzer", &v, &e), RAG_E_NOT_FOUND);
    assert_null(v);
    assert_non_null(strstr(e.msg, "meta key 'analyzer' not set"));
    assert_int_equal(rag_store_meta_set(s, "analyzer", "porter", NULL), RAG_OK);
    assert_int_equal(rag_store_meta_set(s, "analyzer", "porter+stop", NULL), RAG_OK);
    assert_int_equal(rag_store_meta_get(s, "analyzer", &v, NULL), RAG_OK);
    assert_string_equal(v, "porter+stop");
    free(v);
    assert_int_equal(rag_store_meta_set(s, "", "x", &e), RAG_E_BAD_INPUT);
    assert_int_equal(rag_store_meta_set(s, "k", "\xff", &e), RAG_E_BAD_INPUT);

    static const char sql[] = "SELECT 1";
    struct sqlite3_stmt *a = NULL, *b = NULL;
    assert_int_equal(rag_store_stmt(s, sql, &a, NULL), RAG_OK);
    assert_int_equal(rag_store_stmt(s, sql, &b, NULL), RAG_OK);
    assert_ptr_equal(a, b); /* prepared once */
    assert_int_equal(rag_store_stmt(s, "SELEC nonsense", &a, &e), RAG_E_STORE);
    assert_non_null(strstr(e.msg, "syntax error"));
    rag_store_close(s);
}

typedef struct list_ctx {
    int n;
    int stop_after;
    char seen[4][32];
} list_ctx;

static rag_status list_cb(const rag_doc_record *rec, void *ud)
{
    list_ctx *c = ud;
    snprintf(c->seen[c->n], sizeof c->seen[c->n], "%s", rec->source);
    c->n++;
    return c->n == c->stop_after ? RAG_E_CANCELLED : RAG_OK;
}

static void test_list_and_stats(void **state)
{
    fixture *f = *state;
    rag_store *s = open_rw(f->path);
    int64_t a = put_doc(s, "a.txt", HASH_A);
    int64_t b = put_doc(s, "b.txt", HASH_B);
    put_doc(s, "c.txt", HASH_B);
    put_chunk(s, a, 0, "12345");
    put_chunk(s, a, 1, "\xc3\xa9\xc3\xa9"); /* 4 bytes, 2 characters */
    put_chunk(s, b, 0, "xyz");

    list_ctx c = {0, 0, {{0}}};
    assert_int_equal(rag_store_doc_list(s, list_cb, &c, NULL), RAG_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.seen[0], "a.txt");
    assert_string_equal(c.seen[2], "c.txt");
    list_ctx stop = {0, 2, {{0}}};
    assert_int_equal(rag_store_doc_list(s, list_cb, &stop, NULL), RAG_E_CANCELLED);
    assert_int_equal(stop.n, 2);

    rag_store_stats_t st;
    assert_int_equal(rag_store_stats(s, &st, NULL), RAG_OK);
    assert_int_equal(st.documents, 3);
    assert_int_equal(st.chunks, 3);
    assert_int_equal(st.pages, 9);
    assert_int_equal(st.pages_failed, 3);
    assert_int_equal(st.text_bytes, 12);
    assert_true(st.db_file_bytes + st.wal_file_bytes > 0);
    rag_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_dirs_and_pragmas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrates_empty_db_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_non_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_doc_put_get_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_doc_put_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_and_delete_cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_handles_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_and_stmt_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_and_stats, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
