/* ragc serve: the HTTP API, the web UI and /metrics (src/server). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ragc/server.h"

enum { OPT_HOST = OPT_FIRST_LOCAL, OPT_PORT };

static void serve_help(FILE *f)
{
    fprintf(f, "Usage: ragc serve [--host ADDR] [--port N] [options]\n"
               "\n"
               "Serves the HTTP API (/v1/ask, /v1/chat/completions, /v1/search, /v1/documents, /metrics,\n"
               "/healthz, /readyz) and the web UI at http://ADDR:PORT/. Prints\n"
               "\"ragc: listening on http://ADDR:PORT\" on stderr when ready; SIGTERM or SIGINT stops accepting\n"
               "connections, finishes the requests in flight and exits 0.\n"
               "\n"
               "Options:\n"
               "  --host ADDR        address to bind (default 127.0.0.1; 0.0.0.0 for every interface)\n"
               "  --port N           TCP port, 0 = any free port (default 7860)\n"
               "\n"
               "Environment:\n"
               "  RAGC_API_KEY       when set, the API needs 'Authorization: Bearer <key>' (not /healthz,\n"
               "                     /readyz or the web page itself)\n"
               "  RAGC_CORS_ORIGIN   allowed browser origin for cross-origin calls (default: none)\n"
               "\n" CLI_COMMON_HELP);
}

int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS,
                                             {"host", required_argument, NULL, OPT_HOST},
                                             {"port", required_argument, NULL, OPT_PORT},
                                             {NULL, 0, NULL, 0}};
    cli_common common;
    memset(&common, 0, sizeof common);
    rag_server_params sp = rag_server_default_params();
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
        case 'h': serve_help(stdout); return EXIT_OK;
        default: serve_help(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ragc serve: unexpected argument '%s'\n\n", argv[optind]);
        serve_help(stderr);
        return EXIT_USAGE;
    }
    rag_config *cfg = cli_load_config(&common);
    if (!cfg)
        return EXIT_ERROR;
    sp.data_dir = common.data_dir;
    sp.api_key = getenv("RAGC_API_KEY");
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
    if (sp.api_key && *sp.api_key)
        fprintf(stderr, "ragc: API key required (RAGC_API_KEY is set)\n");
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
