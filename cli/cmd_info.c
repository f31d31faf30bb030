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

int cmd_stats(int argc, char **argv)
{
    cli_common c = {0};
    int rc = parse_common(&c, argc, argv, "ragc stats [options]   (documents, chunks, pages, store size)");
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
        char *js = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        printf("%s\n", js ? js : "null");
        free(js);
        json_decref(o);
    } else {
        printf("store      %s\ndocuments  %lld\nchunks     %lld\npages      %lld\ntext       %.1f MB\n"
               "file       %.1f MB\n",
               rag_engine_store_path(e), (long long)s.documents, (long long)s.chunks, (long long)s.pages,
               (double)s.text_bytes / 1e6, (double)(s.db_file_bytes + s.wal_file_bytes) / 1e6);
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
