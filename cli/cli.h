/* Shared by the ragc subcommands. */
#ifndef RAGC_CLI_H
#define RAGC_CLI_H

#include <signal.h>
#include <stdbool.h>

#include "ragc/config.h"
#include "ragc/pipeline.h"

/* Exit codes (also in `ragc --help`). */
enum {
    EXIT_OK = 0,
    EXIT_ERROR = 1,      /* the command failed: bad input, missing file, store error */
    EXIT_USAGE = 2,      /* bad command line */
    EXIT_PARTIAL = 3,    /* ingest finished but some documents were skipped */
    EXIT_INTERRUPTED = 130
};

/* Options every subcommand accepts. */
typedef struct cli_common {
    const char *config_path; /* --config FILE */
    const char *profile;     /* --profile NAME */
    const char *data_dir;    /* --data-dir DIR (overrides global_settings.data_dir) */
    bool quiet;              /* -q: no progress */
    bool verbose;            /* -v: per-document lines */
    bool json;               /* --json */
} cli_common;

/* Long-option ids for the common options (above any single-letter option). */
enum { OPT_CONFIG = 1000, OPT_PROFILE, OPT_DATA_DIR, OPT_JSON, OPT_HELP, OPT_FIRST_LOCAL = 1100 };

/* Handles a common option parsed by getopt_long; returns true if it was one. */
bool cli_common_option(cli_common *c, int opt, const char *arg);
/* getopt_long entries for the common options, terminated by a zero entry when used alone. */
#define CLI_COMMON_LONGOPTS                                                                        \
    {"config", required_argument, NULL, OPT_CONFIG}, {"profile", required_argument, NULL, OPT_PROFILE}, \
        {"data-dir", required_argument, NULL, OPT_DATA_DIR}, {"json", no_argument, NULL, OPT_JSON},       \
        {"quiet", no_argument, NULL, 'q'}, {"verbose", no_argument, NULL, 'v'},                          \
        {"help", no_argument, NULL, 'h'}
#define CLI_COMMON_OPTSTRING "+qvh"
#define CLI_COMMON_HELP                                                                                 \
    "Common options:\n"                                                                                 \
    "  --config FILE      YAML file overlaid on the defaults (env RAGC_CONFIG)\n"                          \
    "  --profile NAME     default | local | hf_spaces | railway (env RAGC_PROFILE; else detected)\n"     \
    "  --data-dir DIR     where the store lives (default: global_settings.data_dir, .ragc)\n"           \
    "  --json             machine-readable output\n"                                                    \
    "  -q, --quiet        no progress output;  -v, --verbose  more detail\n"                            \
    "  -h, --help         this help\n"

/* Loads the configuration the common options select. Prints errors; returns NULL on failure. */
rag_config *cli_load_config(const cli_common *c);
/* Opens the engine on cfg (store under data_dir). Prints errors; returns NULL on failure. */
rag_engine *cli_open_engine(const rag_config *cfg, const cli_common *c, bool read_only);

/* Set by SIGINT/SIGTERM; long commands stop cleanly when it becomes non-zero. */
extern volatile sig_atomic_t cli_interrupted;
void cli_install_signal_handlers(void);

int cmd_ingest(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_docs(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_model(int argc, char **argv);

#endif
