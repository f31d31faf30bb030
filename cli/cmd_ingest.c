/* ragc ingest PATH...: add documents, with a progress bar on a terminal and a summary line. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct ingest_ui {
    bool bar;        /* stderr is a terminal and not --quiet */
    bool quiet;
    bool verbose;
    bool json;
    size_t skipped_shown;
    double last_draw_ms;
    double backfill_start_ms; /* when the backfill started */
} ingest_ui;

static const char *basename_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void clear_bar(ingest_ui *ui)
{
    if (ui->bar)
        fputs("\r\033[K", stderr);
}

static void on_progress(void *ud, const rag_ingest_progress *pr)
{
    ingest_ui *ui = ud;
    if (!ui->bar)
        return;
    double now = rag_now_ms();
    if (pr->current && now - ui->last_draw_ms < 100)
        return; /* redraw at most 10 times a second */
    ui->last_draw_ms = now;
    double frac = pr->bytes_total ? (double)pr->bytes_done / (double)pr->bytes_total : 1.0;
    int width = 30, fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = '\0';
    fprintf(stderr, "\r\033[K[%s] %3d%% %zu/%zu files, %zu chunks %.40s", bar, (int)(frac * 100),
            pr->files_done, pr->files_total, pr->chunks, pr->current ? basename_of(pr->current) : "");
    fflush(stderr);
}

/* Backfill progress: a line when it starts, then a bar on a terminal (else a line every 10 s). */
static void on_backfill(void *ud, size_t done, size_t total)
{
    ingest_ui *ui = ud;
    if (ui->quiet)
        return;
    double now = rag_now_ms();
    if (done == 0) {
        ui->backfill_start_ms = ui->last_draw_ms = now;
        clear_bar(ui);
        fprintf(stderr, "ragc ingest: embedding %zu chunks of earlier documents that have no vector yet\n", total);
        return;
    }
    if (done < total && now - ui->last_draw_ms < (ui->bar ? 100 : 10000))
        return;
    ui->last_draw_ms = now;
    double rate = (double)done / ((now - ui->backfill_start_ms) / 1000.0 + 1e-9);
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "%sembedded %zu/%zu chunks, %.1f chunks/s, %d:%02d left%s", ui->bar ? "\r\033[K" : "", done,
            total, rate, (int)(eta / 60), (int)eta % 60, ui->bar ? "" : "\n");
    if (ui->bar && done == total)
        fputs("\n", stderr);
    fflush(stderr);
}

static void on_outcome(void *ud, const char *source, rag_ingest_outcome o, const char *reason)
{
    ingest_ui *ui = ud;
    if (o == RAG_INGEST_SKIPPED) {
        clear_bar(ui);
        fprintf(stderr, "skipped: %s%s%s\n", reason && strstr(reason, source) == reason ? "" : source,
                reason && strstr(reason, source) == reason ? "" : ": ", reason ? reason : "");
    } else if (ui->verbose && !ui->json) {
        static const char *names[] = {"added", "updated", "unchanged", "skipped"};
        clear_bar(ui);
        printf("%-9s %s%s%s%s\n", names[o], source, reason ? " (" : "", reason ? reason : "",
               reason ? ")" : "");
    } else if (reason && o != RAG_INGEST_UNCHANGED) {
        clear_bar(ui);
        fprintf(stderr, "warning: %s: %s\n", source, reason);
    }
}

static void help(FILE *f)
{
    fprintf(f, "Usage: ragc ingest [options] PATH...\n"
               "\n"
               "Adds files and folders to the store: PDF (text per page), HTML, Markdown, plain text and\n"
               "BEIR corpus.jsonl (one document per line). Folders are walked recursively; hidden files\n"
               "and unsupported types inside folders are ignored. Each document is committed in its own\n"
               "transaction: an interrupted run keeps what it finished. Unchanged files (same content\n"
               "hash) are not processed again. With an embedder configured, chunks already in the store\n"
               "that have no vector for its model (ingested with embedder none, or while the embedder was\n"
               "down) are embedded afterwards, even when every file is unchanged; an embedder failure\n"
               "there is a warning, not an error.\n"
               "\n"
               "Options:\n"
               "  --password PW      password for encrypted PDFs\n"
               "  --force            re-ingest documents even when unchanged\n"
               "\n" CLI_COMMON_HELP
               "\nExit status: 0 all documents ingested or unchanged; 3 some were skipped (reasons on\n"
               "stderr); 1 error (missing path, store error); 130 interrupted.\n");
}

int cmd_ingest(int argc, char **argv)
{
    enum { OPT_PASSWORD = OPT_FIRST_LOCAL, OPT_FORCE };
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"password", required_argument, NULL, OPT_PASSWORD},
        {"force", no_argument, NULL, OPT_FORCE},
        {NULL, 0, NULL, 0},
    };
    cli_common common = {0};
    rag_ingest_params ip = rag_ingest_default_params();
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg))
            continue;
        switch (opt) {
        case OPT_PASSWORD: ip.password = optarg; break;
        case OPT_FORCE: ip.force = true; break;
        case 'h': help(stdout); return EXIT_OK;
        default: help(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "ragc ingest: no PATH given\n\n");
        help(stderr);
        return EXIT_USAGE;
    }
    rag_config *cfg = cli_load_config(&common);
    if (!cfg)
        return EXIT_ERROR;
    rag_engine *e = cli_open_engine(cfg, &common, false);
    if (!e) {
        rag_config_free(cfg);
        return EXIT_ERROR;
    }
    cli_install_signal_handlers();
    ingest_ui ui = {.bar = !common.quiet && !common.json && isatty(STDERR_FILENO), .quiet = common.quiet,
                    .verbose = common.verbose, .json = common.json};
    ip.cancel = &cli_interrupted;
    ip.on_progress = on_progress;
    ip.on_outcome = on_outcome;
    ip.on_backfill = on_backfill;
    ip.ud = &ui;
    rag_ingest_summary sum;
    rag_err err;
    rag_err_clear(&err);
    rag_status st = rag_ingest_paths(e, (const char *const *)argv + optind, (size_t)(argc - optind), &ip, &sum, &err);
    clear_bar(&ui);
    int rc = EXIT_OK;
    if (st != RAG_OK) {
        fprintf(stderr, "ragc ingest: %s\n", err.msg);
        rc = EXIT_ERROR;
    } else {
        if (sum.chunks_unembedded)
            fprintf(stderr, "warning: %zu chunks still have no vector%s%s (dense retrieval skips them; run ragc "
                    "ingest again when the embedder is available): %s\n", sum.chunks_unembedded,
                    sum.backfill_space[0] ? " in embedding space " : "", sum.backfill_space, sum.backfill_note);
        if (common.json) {
            json_t *space = json_string(sum.backfill_space);
            char *space_s = space ? json_dumps(space, JSON_ENCODE_ANY) : NULL;
            json_decref(space);
            printf("{\"files\":%zu,\"ignored\":%zu,\"added\":%zu,\"updated\":%zu,\"unchanged\":%zu,"
                   "\"skipped\":%zu,\"pages\":%zu,\"pages_failed\":%zu,\"chunks\":%zu,\"embedded\":%zu,"
                   "\"embed_cache_hits\":%zu,\"embed_cache_misses\":%zu,\"backfilled\":%zu,"
                   "\"backfill_cache_hits\":%zu,\"unembedded\":%zu,\"space\":%s,\"ms\":%.1f,\"interrupted\":%s}\n",
                   sum.files, sum.files_ignored, sum.docs_added, sum.docs_updated, sum.docs_unchanged,
                   sum.docs_skipped, sum.pages, sum.pages_failed, sum.chunks, sum.docs_embedded,
                   sum.embed_cache_hits, sum.embed_cache_misses, sum.chunks_backfilled, sum.backfill_cache_hits,
                   sum.chunks_unembedded, space_s ? space_s : "\"\"", sum.ms, sum.cancelled ? "true" : "false");
            free(space_s);
        } else {
            printf("%s %zu files: %zu documents added, %zu updated, %zu unchanged, %zu skipped; "
                   "%zu pages, %zu chunks in %.1f s",
                   sum.cancelled ? "interrupted after" : "ingested", sum.files, sum.docs_added,
                   sum.docs_updated, sum.docs_unchanged, sum.docs_skipped, sum.pages, sum.chunks,
                   sum.ms / 1000.0);
            if (sum.docs_embedded)
                printf("; %zu documents embedded (%zu chunk vectors from the cache, %zu computed)",
                       sum.docs_embedded, sum.embed_cache_hits, sum.embed_cache_misses);
            if (sum.chunks_backfilled)
                printf("; vectors added for %zu chunks of earlier documents", sum.chunks_backfilled);
            if (sum.files_ignored)
                printf(" (%zu unsupported files ignored)", sum.files_ignored);
            printf("\n");
        }
        if (sum.cancelled)
            rc = EXIT_INTERRUPTED;
        else if (sum.docs_skipped)
            rc = EXIT_PARTIAL;
    }
    rag_engine_close(e);
    rag_config_free(cfg);
    return rc;
}
