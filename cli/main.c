/* ragc: command-line entry point and subcommand dispatch. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ragc/net.h"

volatile sig_atomic_t cli_interrupted = 0;

static void on_signal(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void cli_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool cli_common_option(cli_common *c, int opt, const char *arg)
{
    switch (opt) {
    case OPT_CONFIG: c->config_path = arg; return true;
    case OPT_PROFILE: c->profile = arg; return true;
    case OPT_DATA_DIR: c->data_dir = arg; return true;
    case OPT_JSON: c->json = true; return true;
    case 'q': c->quiet = true; return true;
    case 'v': c->verbose = true; return true;
    default: return false;
    }
}

rag_config *cli_load_config(const cli_common *c)
{
    rag_config_params p = rag_config_default_params();
    p.profile = c->profile;
    p.config_path = c->config_path ? c->config_path : getenv("RAGC_CONFIG");
    if (p.config_path && !*p.config_path)
        p.config_path = NULL;
    rag_buf diag;
    rag_buf_init(&diag, 1 << 16);
    p.diagnostics = &diag;
    rag_config *cfg = NULL;
    rag_err err;
    rag_err_clear(&err);
    if (rag_config_load(&p, &cfg, &err) != RAG_OK) {
        if (diag.len)
            fprintf(stderr, "ragc: invalid configuration:\n%s%s", diag.data,
                    diag.data[diag.len - 1] == '\n' ? "" : "\n");
        else
            fprintf(stderr, "ragc: %s\n", err.msg);
        rag_buf_free(&diag);
        return NULL;
    }
    rag_buf_free(&diag);
    return cfg;
}

rag_engine *cli_open_engine(const rag_config *cfg, const cli_common *c, bool read_only)
{
    rag_engine_params ep = rag_engine_default_params();
    char *path = NULL;
    if (c->data_dir) {
        size_t n = strlen(c->data_dir) + sizeof "/ragc.db";
        path = malloc(n);
        if (!path) {
            fprintf(stderr, "ragc: out of memory\n");
            return NULL;
        }
        snprintf(path, n, "%s/ragc.db", c->data_dir);
        ep.store_path = path;
    }
    ep.read_only = read_only;
    rag_engine *e = NULL;
    rag_err err;
    rag_err_clear(&err);
    rag_status st = rag_engine_open(cfg, &ep, &e, &err);
    if (st != RAG_OK) {
        if (read_only && st == RAG_E_NOT_FOUND)
            fprintf(stderr, "ragc: no store yet (%s): run `ragc ingest PATH...` first\n", err.msg);
        else
            fprintf(stderr, "ragc: %s\n", err.msg);
    }
    free(path);
    return st == RAG_OK ? e : NULL;
}

static void usage(FILE *f)
{
    fprintf(f,
            "ragc %s: answers questions about your documents, citing document and page.\n"
            "\n"
            "Usage: ragc COMMAND [options] [args]\n"
            "\n"
            "Commands:\n"
            "  ingest PATH...       add files and folders (PDF, HTML, Markdown, text, BEIR corpus.jsonl)\n"
            "  ask \"QUESTION\"       answer with citations [n] and a sources list\n"
            "  search \"QUERY\"       ranked passages (BM25)\n"
            "  eval --corpus C --queries Q --qrels R   nDCG@10, recall@100, MRR@10 (BEIR)\n"
            "  docs                 list ingested documents\n"
            "  stats                store statistics\n"
            "  config               print the effective configuration (secrets redacted)\n"
            "  serve [--host H] [--port N]   HTTP API, web UI and /metrics (default 127.0.0.1:7860)\n"
            "  model info MODEL     a local model (HF repo id or directory): where it is, its shape\n"
            "  help [COMMAND]       help for a command;  version  print the version\n"
            "\n"
            "The default needs no token and no network: BM25 retrieval and extractive answers.\n"
            "The store lives in .ragc/ragc.db under the current directory unless --data-dir or\n"
            "global_settings.data_dir (env RAGC_DATA_DIR) says otherwise.\n"
            "\n"
            "Exit status: 0 ok, 1 error, 2 bad usage, 3 ingest finished with skipped documents,\n"
            "130 interrupted.\n"
            "\n" CLI_COMMON_HELP,
            "0.1.0");
}

int main(int argc, char **argv)
{
    rag_err gerr;
    if (rag_net_global_init(&gerr) != RAG_OK) { /* libcurl's one process-wide init */
        fprintf(stderr, "ragc: %s\n", gerr.msg);
        return EXIT_ERROR;
    }
    atexit(rag_net_global_cleanup);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"ingest", cmd_ingest}, {"ask", cmd_ask},   {"search", cmd_search}, {"eval", cmd_eval},
        {"stats", cmd_stats},   {"docs", cmd_docs}, {"config", cmd_config},
        {"serve", cmd_serve},   {"model", cmd_model},
    };
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            usage(stdout);
            return EXIT_OK;
        }
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
            if (!strcmp(argv[2], cmds[i].name)) {
                char *hargv[] = {argv[2], "--help", NULL};
                return cmds[i].fn(2, hargv);
            }
        fprintf(stderr, "ragc: unknown command '%s'\n", argv[2]);
        return EXIT_USAGE;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("ragc 0.1.0\n");
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmd, cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ragc: unknown command '%s' (try `ragc --help`)\n", cmd);
    return EXIT_USAGE;
}
