/* The content cache: keys, get/put round trip, counters, LRU eviction under the cap, restart,
 * corrupt files, and concurrent readers and writers (threads with their own handles). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ragc/cache.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ragc-cache-test-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static rag_cache *open_cache(const char *name, uint64_t max_bytes)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rag_cache_params p = {path, max_bytes, false};
    rag_cache *c = NULL;
    rag_err err;
    rag_status st = rag_cache_open(&p, &c, &err);
    if (st != RAG_OK)
        fail_msg("open %s: %s", path, err.msg);
    return c;
}

static void test_keys(void **state)
{
    (void)state;
    rag_cache_key a = rag_cache_key_of(RAG_CACHE_EMBEDDING, "m1", "hello  world", NULL);
    rag_cache_key b = rag_cache_key_of(RAG_CACHE_EMBEDDING, "m1", "  hello world\n", NULL);
    rag_cache_key c = rag_cache_key_of(RAG_CACHE_EMBEDDING, "m2", "hello world", NULL);
    rag_cache_key d = rag_cache_key_of(RAG_CACHE_RERANK, "m1", "hello world", NULL);
    rag_cache_key e = rag_cache_key_of(RAG_CACHE_EMBEDDING, "m1", "Hello world", NULL);
    rag_cache_key f = rag_cache_key_of(RAG_CACHE_RERANK, "m1", "ab", "c");
    rag_cache_key g = rag_cache_key_of(RAG_CACHE_RERANK, "m1", "a", "bc");
    rag_cache_key h = rag_cache_key_of(RAG_CACHE_RERANK, "m1", "ab c", NULL);
    rag_cache_key i = rag_cache_key_of(RAG_CACHE_EMBEDDING, "m1", "helloworld", NULL);
    /* white space is normalized, everything else is part of the key */
    assert_memory_equal(a.b, b.b, 16);
    assert_memory_not_equal(a.b, c.b, 16);
    assert_memory_not_equal(a.b, d.b, 16);
    assert_memory_not_equal(a.b, e.b, 16);
    assert_memory_not_equal(f.b, g.b, 16);
    assert_memory_not_equal(f.b, h.b, 16);
    assert_memory_not_equal(a.b, i.b, 16);
}

static void test_round_trip_and_restart(void **state)
{
    (void)state;
    rag_cache *c = open_cache("rt.db", 0);
    rag_cache_key k[3];
    float v0[4] = {1, 2, 3, 4}, v1[4] = {-1, 0.5f, 0, 9};
    for (int i = 0; i < 3; i++) {
        char t[16];
        snprintf(t, sizeof t, "text %d", i);
        k[i] = rag_cache_key_of(RAG_CACHE_EMBEDDING, "m", t, NULL);
    }
    const void *vals[2] = {v0, v1};
    size_t lens[2] = {sizeof v0, sizeof v1};
    rag_err err;
    assert_int_equal(rag_cache_put(c, RAG_CACHE_EMBEDDING, k, vals, lens, 2, &err), RAG_OK);

    bool hit[3];
    void *got[3];
    size_t glen[3];
    assert_int_equal(rag_cache_get(c, RAG_CACHE_EMBEDDING, k, 3, hit, got, glen, &err), RAG_OK);
    assert_true(hit[0] && hit[1] && !hit[2]);
    assert_int_equal(glen[0], sizeof v0);
    assert_memory_equal(got[0], v0, sizeof v0);
    assert_memory_equal(got[1], v1, sizeof v1);
    assert_null(got[2]);
    free(got[0]);
    free(got[1]);
    /* the same key under another kind is a miss */
    assert_int_equal(rag_cache_get(c, RAG_CACHE_RERANK, k, 1, hit, got, glen, &err), RAG_OK);
    assert_false(hit[0]);

    rag_cache_stats s;
    assert_int_equal(rag_cache_stats_get(c, &s, &err), RAG_OK);
    assert_int_equal(s.entries[RAG_CACHE_EMBEDDING], 2);
    assert_int_equal(s.bytes, sizeof v0 + sizeof v1);
    assert_int_equal(s.session[RAG_CACHE_EMBEDDING].hits, 2);
    assert_int_equal(s.session[RAG_CACHE_EMBEDDING].misses, 1);
    assert_int_equal(s.session[RAG_CACHE_RERANK].misses, 1);
    assert_int_equal(s.total[RAG_CACHE_EMBEDDING].puts, 2);
    rag_cache_close(c);

    /* survives a restart: entries and persistent counters are still there */
    c = open_cache("rt.db", 0);
    assert_int_equal(rag_cache_get(c, RAG_CACHE_EMBEDDING, k, 2, hit, got, glen, &err), RAG_OK);
    assert_true(hit[0] && hit[1]);
    assert_memory_equal(got[1], v1, sizeof v1);
    free(got[0]);
    free(got[1]);
    assert_int_equal(rag_cache_stats_get(c, &s, &err), RAG_OK);
    assert_int_equal(s.total[RAG_CACHE_EMBEDDING].hits, 4);
    assert_int_equal(s.total[RAG_CACHE_EMBEDDING].misses, 1);
    assert_int_equal(s.session[RAG_CACHE_EMBEDDING].hits, 2);
    assert_true(rag_cache_hit_rate(&s.total[RAG_CACHE_EMBEDDING]) > 0.79);

    /* replacing a value keeps the byte count exact */
    float v2[8] = {0};
    v2[3] = 1;
    const void *rv[1] = {v2};
    size_t rl[1] = {sizeof v2};
    assert_int_equal(rag_cache_put(c, RAG_CACHE_EMBEDDING, k, rv, rl, 1, &err), RAG_OK);
    assert_int_equal(rag_cache_stats_get(c, &s, &err), RAG_OK);
    assert_int_equal(s.entries[RAG_CACHE_EMBEDDING], 2);
    assert_int_equal(s.bytes, sizeof v2 + sizeof v1);
    rag_cache_close(c);
}

static void test_bad_input(void **state)
{
    (void)state;
    rag_cache *c = open_cache("bad.db", 0);
    rag_err err;
    rag_cache_key k = rag_cache_key_of(RAG_CACHE_EMBEDDING, "m", "x", NULL);
    static char big[RAG_CACHE_MAX_VALUE + 1];
    const void *v[1] = {big};
    size_t l[1] = {sizeof big};
    assert_int_equal(rag_cache_put(c, RAG_CACHE_EMBEDDING, &k, v, l, 1, &err), RAG_E_TOO_LARGE);
    assert_non_null(strstr(err.msg, "bytes"));
    l[0] = 0;
    assert_int_equal(rag_cache_put(c, RAG_CACHE_EMBEDDING, &k, v, l, 1, &err), RAG_E_TOO_LARGE);
    l[0] = 4;
    assert_int_equal(rag_cache_put(c, (rag_cache_kind)7, &k, v, l, 1, &err), RAG_E_BAD_INPUT);
    rag_cache_close(c);

    rag_cache_params p = {NULL, 0, false};
    rag_cache *out = NULL;
    assert_int_equal(rag_cache_open(&p, &out, &err), RAG_E_BAD_INPUT);
    char path[512];
    snprintf(path, sizeof path, "%s/missing.db", dir);
    p.path = path;
    p.read_only = true;
    assert_int_equal(rag_cache_open(&p, &out, &err), RAG_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "missing.db"));
    /* missing directories are created; a file in the way is an error naming it */
    snprintf(path, sizeof path, "%s/new/sub/dir/c.db", dir);
    p.read_only = false;
    assert_int_equal(rag_cache_open(&p, &out, &err), RAG_OK);
    rag_cache_close(out);
    char file[512];
    snprintf(file, sizeof file, "%s/afile", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/afile/c.db", dir);
    out = NULL;
    assert_int_equal(rag_cache_open(&p, &out, &err), RAG_E_STORE);
    assert_non_null(strstr(err.msg, "afile"));
    assert_null(out);
}

static void test_lru_eviction(void **state)
{
    (void)state;
    /* cap 40 KiB, 1 KiB values: at most 40 fit; eviction goes down to 36 */
    rag_cache *c = open_cache("lru.db", 40 * 1024);
    static char val[1024];
    rag_err err;
    rag_cache_key keys[60];
    for (int i = 0; i < 60; i++) {
        char t[16];
        snprintf(t, sizeof t, "v%d", i);
        keys[i] = rag_cache_key_of(RAG_CACHE_EMBEDDING, "m", t, NULL);
    }
    /* the first 30 are written, then made old by hand (time granularity is a second) */
    for (int i = 0; i < 30; i++) {
        const void *v[1] = {val};
        size_t l[1] = {sizeof val};
        assert_int_equal(rag_cache_put(c, RAG_CACHE_EMBEDDING, &keys[i], v, l, 1, &err), RAG_OK);
    }
    rag_cache_close(c);
    char path[512];
    snprintf(path, sizeof path, "%s/lru.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE entries SET used = used - 1000", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    c = open_cache("lru.db", 40 * 1024);
    /* touch keys 0..4: a hit refreshes entries older than a minute */
    bool hit[5];
    void *got[5];
    size_t gl[5];
    assert_int_equal(rag_cache_get(c, RAG_CACHE_EMBEDDING, keys, 5, hit, got, gl, &err), RAG_OK);
    for (int i = 0; i < 5; i++) {
        assert_true(hit[i]);
        free(got[i]);
    }
    for (int i = 30; i < 60; i++) {
        const void *v[1] = {val};
        size_t l[1] = {sizeof val};
        assert_int_equal(rag_cache_put(c, RAG_CACHE_EMBEDDING, &keys[i], v, l, 1, &err), RAG_OK);
    }
    rag_cache_stats s;
    assert_int_equal(rag_cache_stats_get(c, &s, &err), RAG_OK);
    assert_true(s.bytes <= 40 * 1024);
    assert_true(s.session[RAG_CACHE_EMBEDDING].evictions >= 20);
    assert_int_equal(s.entries[RAG_CACHE_EMBEDDING] * 1024, s.bytes);
    {
        /* the refreshed 0..4 and the newest survive; 5..29 (old, untouched) went first */
        assert_int_equal(rag_cache_get(c, RAG_CACHE_EMBEDDING, keys, 5, hit, got, gl, &err), RAG_OK);
        for (int i = 0; i < 5; i++) {
            assert_true(hit[i]);
            free(got[i]);
        }
        assert_int_equal(rag_cache_get(c, RAG_CACHE_EMBEDDING, &keys[5], 1, hit, got, gl, &err), RAG_OK);
        assert_false(hit[0]);
    }
    assert_int_equal(rag_cache_get(c, RAG_CACHE_EMBEDDING, &keys[59], 1, hit, got, gl, &err), RAG_OK);
    assert_true(hit[0]);
    free(got[0]);
    rag_cache_close(c);
}

static void test_corrupt_file_moved_aside(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/corrupt.db", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database file at all ", f);
    fclose(f);
    rag_cache *c = open_cache("corrupt.db", 0);
    assert_non_null(c);
    char aside[600];
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    assert_int_equal(access(aside, F_OK), 0);
    rag_cache_key k = rag_cache_key_of(RAG_CACHE_RERANK, "m", "q", "p");
    double score = 1.5;
    const void *v[1] = {&score};
    size_t l[1] = {sizeof score};
    rag_err err;
    assert_int_equal(rag_cache_put(c, RAG_CACHE_RERANK, &k, v, l, 1, &err), RAG_OK);
    rag_cache_close(c);
}

/* Several threads, each with its own handle on one file (as separate processes would be), plus
 * threads sharing one handle: every value read back is the one written for its key. */
typedef struct worker {
    const char *path;
    rag_cache *shared;
    int id;
    int bad;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    rag_cache *c = w->shared;
    rag_err err;
    if (!c) {
        rag_cache_params p = {w->path, 0, false};
        if (rag_cache_open(&p, &c, &err) != RAG_OK) {
            w->bad++;
            return NULL;
        }
    }
    for (int round = 0; round < 40; round++) {
        rag_cache_key k[8];
        double vals[8];
        const void *pv[8];
        size_t pl[8];
        for (int i = 0; i < 8; i++) {
            char t[32];
            snprintf(t, sizeof t, "key %d", (round * 8 + i) % 64);
            k[i] = rag_cache_key_of(RAG_CACHE_RERANK, "m", "q", t);
            vals[i] = (double)((round * 8 + i) % 64);
            pv[i] = &vals[i];
            pl[i] = sizeof vals[i];
        }
        if (rag_cache_put(c, RAG_CACHE_RERANK, k, pv, pl, 8, &err) != RAG_OK)
            w->bad++;
        bool hit[8];
        void *got[8];
        size_t gl[8];
        if (rag_cache_get(c, RAG_CACHE_RERANK, k, 8, hit, got, gl, &err) != RAG_OK) {
            w->bad++;
            continue;
        }
        for (int i = 0; i < 8; i++) {
            if (!hit[i] || gl[i] != sizeof(double) || *(double *)got[i] != vals[i])
                w->bad++;
            free(got[i]);
        }
    }
    if (!w->shared)
        rag_cache_close(c);
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/conc.db", dir);
    rag_cache *shared = open_cache("conc.db", 0);
    pthread_t th[6];
    worker w[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (worker){path, i < 3 ? shared : NULL, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    rag_cache_stats s;
    rag_err err;
    assert_int_equal(rag_cache_stats_get(shared, &s, &err), RAG_OK);
    assert_int_equal(s.entries[RAG_CACHE_RERANK], 64);
    assert_int_equal(s.total[RAG_CACHE_RERANK].puts, 6 * 40 * 8);
    assert_int_equal(s.total[RAG_CACHE_RERANK].hits, 6 * 40 * 8);
    rag_cache_close(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_round_trip_and_restart),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_corrupt_file_moved_aside),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
