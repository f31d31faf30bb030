/* Benchmark: store + BM25 ingest and query timing on BEIR SciFact (not built by CMake).
 *
 * Build (after building ragc_index in build-<name>):
 *   gcc -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/bench_store_bm25.c \
 *       build-<name>/libragc_index.a build-<name>/libragc_store.a build-<name>/libragc_core.a \
 *       -lsqlite3 -ljansson -lxxhash -lm -o /tmp/bench_store_bm25
 * Run: /tmp/bench_store_bm25 [scifact dir] [db path]
 *   defaults: ../shared/data/scifact, /tmp/bench_store_bm25.db (deleted first).
 *
 * Terms come from a crude ASCII tokenizer (lowercase alphanumeric runs, a few stopwords removed),
 * not ragc's analyzer: this measures the store and the index, not analysis. One transaction per
 * abstract (begin, doc_put, chunk_put, bm25_add, commit), as the ingest pipeline does. */
#include <ctype.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ragc/bm25.h"
#include "ragc/store.h"

#define MAX_TOKENS 8192

static const char *const STOP[] = {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from",
                                   "in", "is", "it", "of", "on", "or", "that", "the", "to",
                                   "was", "were", "with", NULL};

static bool is_stop(const char *w)
{
    for (int i = 0; STOP[i]; i++)
        if (!strcmp(STOP[i], w))
            return true;
    return false;
}

/* Splits text into lowercase tokens (pointers into *arena, caller frees with free()). */
static size_t tokenize(const char *text, char **arena, char **tok, size_t max)
{
    size_t n = strlen(text);
    char *a = malloc(n + 1);
    *arena = a;
    size_t nt = 0, j = 0;
    for (size_t i = 0; i <= n && nt < max; i++) {
        unsigned char c = (unsigned char)text[i];
        if (i < n && isalnum(c)) {
            a[j++] = (char)tolower(c);
            continue;
        }
        if (j > 0) {
            a[j] = '\0';
            if (!is_stop(a))
                tok[nt++] = a;
            a += j + 1;
            j = 0;
        }
    }
    return nt;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Times every query of queries.jsonl (k = 1000), after one warm-up pass. min_terms > 0 pads each
 * query with the next queries' terms up to exactly min_terms terms. Returns non-zero on error. */
static int run_queries(rag_store *s, const char *path, const char *label, size_t min_terms)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        perror(path);
        return 1;
    }
    static char *tok[MAX_TOKENS];
    static char *qt[MAX_TOKENS];
    char *arenas[4096];
    size_t n_arenas = 0;
    size_t n_lines = 0;
    char *line = NULL;
    size_t cap = 0;
    /* Load every query's tokens (arenas kept alive until the end). */
    static char *all[200000];
    size_t n_all = 0, starts[4096], counts[4096];
    while (getline(&line, &cap, fp) > 0 && n_lines < 4096) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o)
            continue;
        const char *text = json_string_value(json_object_get(o, "text"));
        size_t nt = tokenize(text ? text : "", &arenas[n_arenas++], tok, MAX_TOKENS);
        starts[n_lines] = n_all;
        counts[n_lines] = nt;
        for (size_t i = 0; i < nt && n_all < 200000; i++)
            all[n_all++] = tok[i];
        n_lines++;
        json_decref(o);
    }
    free(line);
    fclose(fp);
    double *times = malloc(n_lines * sizeof *times);
    static rag_bm25_hit hits[1000];
    rag_bm25_params p = rag_bm25_default_params();
    size_t total_terms = 0;
    rag_err e;
    for (int pass = 0; pass < 2; pass++) {
        total_terms = 0;
        for (size_t qi = 0; qi < n_lines; qi++) {
            size_t nt = 0;
            for (size_t k = qi; k < n_lines && (nt < min_terms || k == qi); k++)
                for (size_t i = 0; i < counts[k] && nt < (min_terms ? min_terms : MAX_TOKENS);
                     i++)
                    qt[nt++] = all[starts[k] + i];
            size_t n_hits;
            double t0 = rag_now_ms();
            if (rag_bm25_search(s, &p, (const char *const *)qt, nt, 1000, hits, &n_hits, &e)) {
                fprintf(stderr, "query: %s\n", e.msg);
                return 1;
            }
            times[qi] = rag_now_ms() - t0;
            total_terms += nt;
        }
    }
    qsort(times, n_lines, sizeof *times, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n_lines; i++)
        sum += times[i];
    printf("query (%s, k=1000): %zu queries, %.1f terms avg, p50 %.3f ms, p95 %.3f ms, "
           "max %.3f ms, mean %.3f ms\n", label, n_lines, (double)total_terms / (double)n_lines,
           times[n_lines / 2], times[n_lines * 95 / 100], times[n_lines - 1],
           sum / (double)n_lines);
    free(times);
    for (size_t i = 0; i < n_arenas; i++)
        free(arenas[i]);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../shared/data/scifact";
    const char *db = argc > 2 ? argv[2] : "/tmp/bench_store_bm25.db";
    char path[1024];
    unlink(db);
    char side[1100];
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);

    rag_err e;
    rag_store *s;
    if (rag_store_open(db, NULL, &s, &e) != RAG_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const char *extra = getenv("BENCH_SQL");
    if (extra && sqlite3_exec(rag_store_db(s), extra, NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "BENCH_SQL: %s\n", sqlite3_errmsg(rag_store_db(s)));
        return 1;
    }
    snprintf(path, sizeof path, "%s/corpus.jsonl", dir);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        perror(path);
        return 1;
    }
    static char *tok[MAX_TOKENS];
    static rag_bm25_term terms[MAX_TOKENS];
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t n_docs = 0, n_postings = 0, n_tokens = 0;
    double t_ingest = 0, t_bm25 = 0, t_commit = 0, t_put = 0;
    const char *limit_env = getenv("BENCH_LIMIT");
    size_t limit = limit_env ? (size_t)atol(limit_env) : SIZE_MAX;
    double t_max = 0;
    while (n_docs < limit && (len = getline(&line, &cap, fp)) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o)
            continue;
        const char *id = json_string_value(json_object_get(o, "_id"));
        const char *title = json_string_value(json_object_get(o, "title"));
        const char *text = json_string_value(json_object_get(o, "text"));
        char *full = NULL;
        if (asprintf(&full, "%s\n%s", title ? title : "", text ? text : "") < 0)
            return 1;
        char *arena = NULL;
        size_t nt = tokenize(full, &arena, tok, MAX_TOKENS);
        char **sorted = malloc((nt ? nt : 1) * sizeof *sorted);
        memcpy(sorted, tok, nt * sizeof *sorted);
        qsort(sorted, nt, sizeof *sorted, cmp_str);
        size_t nu = 0;
        for (size_t i = 0; i < nt; i++) {
            if (nu && !strcmp(terms[nu - 1].term, sorted[i])) {
                terms[nu - 1].tf++;
            } else {
                terms[nu].term = sorted[i];
                terms[nu].tf = 1;
                nu++;
            }
        }
        char src[256];
        snprintf(src, sizeof src, "corpus.jsonl#%s", id);
        rag_doc_record d;
        memset(&d, 0, sizeof d);
        d.source = src;
        d.ext_id = (char *)id;
        d.title = (char *)title;
        d.format = (char *)"beir";
        rag_hash128_hex(line, (size_t)len, d.content_hash);
        d.n_pages = 1;
        rag_chunk_record c;
        memset(&c, 0, sizeof c);
        c.text = full;
        c.n_tokens = (int)nt;
        c.byte_end = (int64_t)strlen(full);

        double t0 = rag_now_ms();
        int64_t doc_id;
        bool one = getenv("BENCH_ONE_TXN") != NULL;
        if ((!one || n_docs == 0) && rag_store_begin(s, &e))
            goto fail;
        if (rag_store_doc_put(s, &d, &doc_id, &e))
            goto fail;
        c.doc_id = doc_id;
        if (rag_store_chunk_put(s, &c, &e))
            goto fail;
        double t1 = rag_now_ms();
        if (rag_bm25_add(s, c.id, terms, nu, (uint32_t)nt, &e))
            goto fail;
        double t2 = rag_now_ms();
        if ((!one || n_docs == 5182) && rag_store_commit(s, &e))
            goto fail;
        double t3 = rag_now_ms();
        t_ingest += t3 - t0;
        if (t3 - t0 > t_max)
            t_max = t3 - t0;
        t_bm25 += t2 - t1;
        t_commit += t3 - t2;
        t_put += t1 - t0;
        n_docs++;
        n_postings += nu;
        n_tokens += nt;
        free(sorted);
        free(arena);
        free(full);
        json_decref(o);
        continue;
    fail:
        fprintf(stderr, "%s: %s\n", src, e.msg);
        return 1;
    }
    fclose(fp);
    printf("ingest: %zu abstracts, %zu postings (%.1f distinct terms/abstract, %.1f tokens), "
           "%.0f ms total (begin+doc_put+chunk_put %.0f ms, rag_bm25_add %.0f ms, commit %.0f ms), "
           "%.3f ms/abstract, slowest %.1f ms\n",
           n_docs, n_postings, (double)n_postings / (double)n_docs,
           (double)n_tokens / (double)n_docs, t_ingest, t_put, t_bm25, t_commit,
           t_ingest / (double)n_docs, t_max);

    rag_bm25_stats bs;
    rag_bm25_get_stats(s, &bs, NULL);
    snprintf(path, sizeof path, "%s/queries.jsonl", dir);
    char label[64];
    snprintf(label, sizeof label, "%lld pending", (long long)bs.n_pending);
    if (run_queries(s, path, label, 0) || run_queries(s, path, label, 15))
        return 1;
    double t0 = rag_now_ms();
    if (rag_bm25_merge(s, &e) != RAG_OK) {
        fprintf(stderr, "merge: %s\n", e.msg);
        return 1;
    }
    printf("merge of %lld pending chunks: %.1f ms\n", (long long)bs.n_pending, rag_now_ms() - t0);
    if (run_queries(s, path, "merged", 0) || run_queries(s, path, "merged", 15))
        return 1;
    rag_store_stats_t st;
    if (rag_store_stats(s, &st, &e) == RAG_OK)
        printf("store: %lld docs, %lld chunks, %.1f MB text, db %.1f MB + wal %.1f MB\n",
               (long long)st.documents, (long long)st.chunks, (double)st.text_bytes / 1e6,
               (double)st.db_file_bytes / 1e6, (double)st.wal_file_bytes / 1e6);
    free(line);
    rag_store_close(s);
    return 0;
}
