/* ragc stats / docs / config: what is in the store and which configuration is in force. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

/* Parses the common options only; returns -1 to continue, else an exit code. */
static int parse_common(cli_common *c, int argc, char **argv, const char *usage_line)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
        if (cli_common_option(c, opt, optarg))
            continue;
        FILE *f = opt == 'h' ? stdout : stderr;
        fprintf(f, "Usage: %s\n\n" CLI_COMMON_HELP, usage_line);
        return opt == 'h' ? EXIT_OK : EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "ragc: unexpected argument '%s'\nUsage: %s\n", argv[optind], usage_line);
        return EXIT_USAGE;
    }
    return -1;
}

/* The content cache's figures (read-only; absent file: "none yet"), as text or into o. */
static void cache_stats(const rag_config *cfg, json_t *o)
{
    char *path = rag_cache_file(cfg);
    if (!path)
        return;
    rag_cache_params p = {path, (uint64_t)cfg->cache.max_mb * 1024 * 1024, true};
    rag_cache *c = NULL;
    rag_cache_stats s;
    rag_err err;
    rag_err_clear(&err);
    rag_status st = rag_cache_open(&p, &c, &err);
    if (st == RAG_OK)
        st = rag_cache_stats_get(c, &s, &err);
    rag_cache_close(c);
    if (o) {
        json_t *cj = json_pack("{ss sb}", "path", path, "enabled", cfg->cache.enabled);
        if (cj && st == RAG_OK) {
            json_object_set_new(cj, "bytes", json_integer((json_int_t)s.bytes));
            json_object_set_new(cj, "max_bytes", json_integer((json_int_t)s.max_bytes));
            for (int k = 0; k < RAG_CACHE_KINDS; k++) {
                double rate = rag_cache_hit_rate(&s.total[k]);
                json_t *kj = json_pack("{sI sI sI sI sI so}", "entries", (json_int_t)s.entries[k], "hits",
                                       (json_int_t)s.total[k].hits, "misses", (json_int_t)s.total[k].misses, "puts",
                                       (json_int_t)s.total[k].puts, "evictions", (json_int_t)s.total[k].evictions,
                                       "hit_rate", rate < 0 ? json_null() : json_real(rate));
                json_object_set_new(cj, rag_cache_kind_str((rag_cache_kind)k), kj);
            }
        } else if (cj && st != RAG_E_NOT_FOUND) {
            json_object_set_new(cj, "error", json_string(err.msg));
        }
        json_object_set_new(o, "cache", cj);
    } else if (st == RAG_E_NOT_FOUND) {
        printf("cache      %s (none yet%s)\n", path, cfg->cache.enabled ? "" : "; disabled in the configuration");
    } else if (st != RAG_OK) {
        printf("cache      %s: %s\n", path, err.msg);
    } else {
        printf("cache      %s%s, %.1f of %.0f MB\n", path, cfg->cache.enabled ? "" : " (disabled)",
               (double)s.bytes / 1e6, (double)s.max_bytes / 1e6);
        for (int k = 0; k < RAG_CACHE_KINDS; k++) {
            double rate = rag_cache_hit_rate(&s.total[k]);
            char pct[16] = "-";
            if (rate >= 0)
                snprintf(pct, sizeof pct, "%.1f%%", rate * 100);
            printf("  %-10s %llu entries, %llu hits, %llu misses, hit rate %s, %llu evicted\n",
                   rag_cache_kind_str((rag_cache_kind)k), (unsigned long long)s.entries[k],
                   (unsigned long long)s.total[k].hits, (unsigned long long)s.total[k].misses, pct,
                   (unsigned long long)s.total[k].evictions);
        }
    }
    free(path);
}

int cmd_stats(int argc, char **argv)
{
    cli_common c = {0};
    int rc = parse_common(&c, argc, argv,
                          "ragc stats [options]   (documents, chunks, pages, store size, cache hit rate)");
    if (rc >= 0)
        return rc;
    rag_config *cfg = cli_load_config(&c);
    if (!cfg)
        return EXIT_ERROR;
    rag_engine *e = cli_open_engine(cfg, &c, true);
    if (!e) {
        rag_config_free(cfg);
        return EXIT_ERROR;
    }
    rag_store_stats_t s;
    rag_err err;
    rag_err_clear(&err);
    rc = EXIT_OK;
    if (rag_store_stats(rag_engine_store(e), &s, &err) != RAG_OK) {
        fprintf(stderr, "ragc stats: %s\n", err.msg);
        rc = EXIT_ERROR;
    } else if (c.json) {
        json_t *o = json_pack("{ss sI sI sI sI sI sI}", "store", rag_engine_store_path(e), "documents",
                              (json_int_t)s.documents, "chunks", (json_int_t)s.chunks, "pages", (json_int_t)s.pages,
                              "pages_failed", (json_int_t)s.pages_failed, "text_bytes", (json_int_t)s.text_bytes,
                              "file_bytes", (json_int_t)(s.db_file_bytes + s.wal_file_bytes));
        if (o)
            cache_stats(cfg, o);
        char *js = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        printf("%s\n", js ? js : "null");
        free(js);
        json_decref(o);
    } else {
        printf("store      %s\ndocuments  %lld\nchunks     %lld\npages      %lld\ntext       %.1f MB\n"
               "file       %.1f MB\n",
               rag_engine_store_path(e), (long long)s.documents, (long long)s.chunks, (long long)s.pages,
               (double)s.text_bytes / 1e6, (double)(s.db_file_bytes + s.wal_file_bytes) / 1e6);
        cache_stats(cfg, NULL);
    }
    rag_engine_close(e);
    rag_config_free(cfg);
    return rc;
}

typedef struct docs_ctx {
    bool json;
    size_t n;
} docs_ctx;

static rag_status print_doc(const rag_doc_record *d, void *ud)
{
    docs_ctx *c = ud;
    if (c->json) {
        json_t *o = json_pack("{sI ss ss ss? si si si}", "id", (json_int_t)d->id, "source", d->source, "format",
                              d->format, "title", d->title, "pages",
                              d->n_pages, "pages_failed", d->n_pages_failed, "chunks", d->n_chunks);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        printf("%s%s", c->n ? ",\n " : "", s ? s : "null");
        free(s);
        json_decref(o);
    } else
        printf("%6lld  %-8s %5d pages %5d chunks  %s\n", (long long)d->id, d->format, d->n_pages, d->n_chunks,
               d->source);
    c->n++;
    return RAG_OK;
}

int cmd_docs(int argc, char **argv)
{
    cli_common c = {0};
    int rc = parse_common(&c, argc, argv, "ragc docs [options]   (list ingested documents)");
    if (rc >= 0)
        return rc;
    rag_config *cfg = cli_load_config(&c);
    if (!cfg)
        return EXIT_ERROR;
    rag_engine *e = cli_open_engine(cfg, &c, true);
    if (!e) {
        rag_config_free(cfg);
        return EXIT_ERROR;
    }
    docs_ctx dc = {.json = c.json, .n = 0};
    if (c.json)
        printf("[");
    rag_err err;
    rag_err_clear(&err);
    rc = EXIT_OK;
    if (rag_store_doc_list(rag_engine_store(e), print_doc, &dc, &err) != RAG_OK) {
        fprintf(stderr, "ragc docs: %s\n", err.msg);
        rc = EXIT_ERROR;
    }
    if (c.json)
        printf("]\n");
    rag_engine_close(e);
    rag_config_free(cfg);
    return rc;
}

int cmd_config(int argc, char **argv)
{
    cli_common c = {0};
    int rc = parse_common(&c, argc, argv, "ragc config [options]   (print the effective configuration)");
    if (rc >= 0)
        return rc;
    rag_config *cfg = cli_load_config(&c);
    if (!cfg)
        return EXIT_ERROR;
    rag_buf b;
    rag_buf_init(&b, 0);
    if (rag_config_dump(cfg, &b) == RAG_OK) {
        fputs(b.data ? b.data : "", stdout);
    } else {
        fprintf(stderr, "ragc config: could not render the configuration\n");
        rc = EXIT_ERROR;
    }
    rag_buf_free(&b);
    rag_config_free(cfg);
    return rc < 0 ? EXIT_OK : rc;
}
