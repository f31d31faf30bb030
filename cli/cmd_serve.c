/* ragc serve: the HTTP API, the web UI and /metrics (src/server). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "ragc/server.h"

enum {
    OPT_HOST = OPT_FIRST_LOCAL,
    OPT_PORT,
    OPT_PRIVATE,
    OPT_ALLOW_OPEN_WRITES,
    OPT_MAX_UPLOADS_MB,
    OPT_MAX_CONNECTIONS,
    OPT_IDLE_TIMEOUT,
    OPT_HEADER_TIMEOUT
};

/* Parses an unsigned integer option in [lo, hi]; prints a usage error naming it otherwise. */
static bool parse_uint(const char *name, const char *arg, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(arg, &end, 10);
    if (errno || !*arg || *end || arg[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "ragc serve: %s must be an integer in %lu..%lu, got '%s'\n", name, lo, hi, arg);
        return false;
    }
    *out = v;
    return true;
}

/* "1", "true", "yes", "on" (any case) -> true; "", "0", "false", "no", "off" -> false; else -1. */
static int env_bool(const char *v)
{
    if (!v || !*v || !strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
        return 0;
    if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        return 1;
    return -1;
}

static void serve_help(FILE *f)
{
    fprintf(f, "Usage: ragc serve [--host ADDR] [--port N] [options]\n"
               "\n"
               "Serves the HTTP API (/v1/ask, /v1/chat/completions, /v1/search, /v1/documents, /metrics,\n"
               "/healthz, /readyz) and the web UI at http://ADDR:PORT/. Prints\n"
               "\"ragc: listening on http://ADDR:PORT\" on stderr when ready; SIGTERM or SIGINT stops accepting\n"
               "connections, finishes the requests in flight and exits 0.\n"
               "\n"
               "Access: reads (ask, search, the document list and files, /metrics) are open; writes\n"
               "(uploads, deletions) need RAGC_API_KEY as 'Authorization: Bearer <key>' when it is set. Without\n"
               "a key, writes are open on a loopback address (127.0.0.1, ::1) and refused (403) on any other\n"
               "address. /healthz, /readyz and the web page are always open.\n"
               "\n"
               "Options:\n"
               "  --host ADDR           address to bind (default 127.0.0.1; 0.0.0.0 for every interface)\n"
               "  --port N              TCP port, 0 = any free port (default 7860)\n"
               "  --private             reads need the API key too (needs RAGC_API_KEY; env RAGC_PRIVATE=1)\n"
               "  --allow-open-writes   let anyone upload and delete on a non-loopback address without a key\n"
               "                        (logged as a warning; prefer RAGC_API_KEY)\n"
               "  --max-uploads-mb N    cap on the total size of <data_dir>/uploads, MiB (default 1024; env\n"
               "                        RAGC_MAX_UPLOADS_MB); an upload over it gets 507\n"
               "  --max-connections N   simultaneous connections (default 128)\n"
               "  --idle-timeout S      close a connection idle for S seconds (default 30)\n"
               "  --header-timeout S    a request's line and headers must arrive within S seconds, and a body\n"
               "                        at 8 KiB/s on average after that grace (default 15)\n"
               "\n"
               "Environment:\n"
               "  RAGC_API_KEY         the key for writes (and for reads with --private); on a Hugging Face\n"
               "                       Space, set it as a secret\n"
               "  RAGC_PRIVATE         1 = --private\n"
               "  RAGC_MAX_UPLOADS_MB  default for --max-uploads-mb\n"
               "  RAGC_CORS_ORIGIN     allowed browser origin for cross-origin calls (default: none)\n"
               "\n" CLI_COMMON_HELP);
}

int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS,
                                             {"host", required_argument, NULL, OPT_HOST},
                                             {"port", required_argument, NULL, OPT_PORT},
                                             {"private", no_argument, NULL, OPT_PRIVATE},
                                             {"allow-open-writes", no_argument, NULL, OPT_ALLOW_OPEN_WRITES},
                                             {"max-uploads-mb", required_argument, NULL, OPT_MAX_UPLOADS_MB},
                                             {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
                                             {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
                                             {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
                                             {NULL, 0, NULL, 0}};
    cli_common common;
    memset(&common, 0, sizeof common);
    rag_server_params sp = rag_server_default_params();
    const char *uploads_mb = getenv("RAGC_MAX_UPLOADS_MB");
    const char *uploads_mb_from = "RAGC_MAX_UPLOADS_MB";
    int private_env = env_bool(getenv("RAGC_PRIVATE"));
    if (private_env < 0) {
        fprintf(stderr, "ragc serve: RAGC_PRIVATE must be 1/true/yes/on or 0/false/no/off, got '%s'\n",
                getenv("RAGC_PRIVATE"));
        return EXIT_USAGE;
    }
    sp.private_reads = private_env == 1;
    unsigned long v;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg))
            continue;
        switch (opt) {
        case OPT_HOST:
            if (!*optarg) {
                fprintf(stderr, "ragc serve: --host must not be empty\n");
                return EXIT_USAGE;
            }
            sp.host = optarg;
            break;
        case OPT_PORT: {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || !*optarg || *end || v < 0 || v > 65535) {
                fprintf(stderr, "ragc serve: --port must be an integer in 0..65535, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            sp.port = (int)v;
            break;
        }
        case OPT_PRIVATE: sp.private_reads = true; break;
        case OPT_ALLOW_OPEN_WRITES: sp.allow_open_writes = true; break;
        case OPT_MAX_UPLOADS_MB:
            uploads_mb = optarg;
            uploads_mb_from = "--max-uploads-mb";
            break;
        case OPT_MAX_CONNECTIONS:
            if (!parse_uint("--max-connections", optarg, 1, 100000, &v))
                return EXIT_USAGE;
            sp.connection_limit = (unsigned)v;
            break;
        case OPT_IDLE_TIMEOUT:
            if (!parse_uint("--idle-timeout", optarg, 1, 86400, &v))
                return EXIT_USAGE;
            sp.connection_timeout_s = (unsigned)v;
            break;
        case OPT_HEADER_TIMEOUT:
            if (!parse_uint("--header-timeout", optarg, 1, 3600, &v))
                return EXIT_USAGE;
            sp.header_timeout_s = (unsigned)v;
            break;
        case 'h': serve_help(stdout); return EXIT_OK;
        default: serve_help(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ragc serve: unexpected argument '%s'\n\n", argv[optind]);
        serve_help(stderr);
        return EXIT_USAGE;
    }
    if (uploads_mb) {
        if (!parse_uint(uploads_mb_from, uploads_mb, 1, 1ul << 24, &v))
            return EXIT_USAGE;
        sp.max_uploads_total_bytes = (uint64_t)v << 20;
    }
    sp.api_key = getenv("RAGC_API_KEY");
    bool has_key = sp.api_key && *sp.api_key;
    if (sp.private_reads && !has_key) {
        fprintf(stderr, "ragc serve: --private (RAGC_PRIVATE) needs an API key: set RAGC_API_KEY (on a Hugging "
                        "Face Space, as a secret)\n");
        return EXIT_USAGE;
    }
    rag_config *cfg = cli_load_config(&common);
    if (!cfg)
        return EXIT_ERROR;
    sp.data_dir = common.data_dir;
    sp.cors_origin = getenv("RAGC_CORS_ORIGIN");

    /* Signals are taken synchronously by this thread (sigwait); the server's threads inherit the
     * blocked mask. A client that goes away must not kill the process. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    rag_server_t *srv = NULL;
    rag_err err;
    rag_err_clear(&err);
    if (rag_server_start(cfg, &sp, &srv, &err) != RAG_OK) {
        fprintf(stderr, "ragc serve: %s\n", err.msg);
        rag_config_free(cfg);
        return EXIT_ERROR;
    }
    const char *host = rag_server_host(srv);
    bool v6 = strchr(host, ':') != NULL;
    fprintf(stderr, "ragc: listening on http://%s%s%s:%d\n", v6 ? "[" : "", host, v6 ? "]" : "", rag_server_port(srv));
    rag_server_guard reads, writes;
    rag_server_guards(srv, &reads, &writes);
    fprintf(stderr, "ragc: access: reads %s; uploads and deletions %s\n",
            reads == RAG_SERVER_NEEDS_KEY ? "need the API key (--private)" : "are open",
            writes == RAG_SERVER_NEEDS_KEY ? "need the API key (RAGC_API_KEY is set)"
            : writes == RAG_SERVER_DISABLED
                ? "are turned off (not a loopback address and no RAGC_API_KEY: set RAGC_API_KEY to enable them)"
            : rag_server_is_loopback(srv) ? "are open (loopback address)"
                                          : "are OPEN TO ANYONE (--allow-open-writes)");
    fflush(stderr);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    fprintf(stderr, "ragc: %s received, finishing requests in flight\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rag_status st = rag_server_stop(srv);
    rag_server_free(srv);
    rag_config_free(cfg);
    if (st != RAG_OK) {
        fprintf(stderr, "ragc: stopped with requests still running\n");
        return EXIT_ERROR;
    }
    fprintf(stderr, "ragc: stopped\n");
    return EXIT_OK;
}
