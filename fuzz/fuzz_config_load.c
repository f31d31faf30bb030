/* libFuzzer target: YAML configuration loading and ${VAR} interpolation
 * (rag_config_load_string, include/ragc/config.h).
 *
 * Input: YAML text, optionally followed by a NUL byte and an environment block of
 * "NAME=VALUE" lines that the getenv callback serves. RAGC_CONFIG_DIR and RAGC_CONFIG are never
 * served (no file system access). A line "PROFILE=<name>" is passed as params.profile instead,
 * so profile-name validation and profile layering are fuzzed too.
 * Invariants: a loaded config dumps (rag_config_dump), the dump loads back, and dumping that
 * gives the same text (the documented round trip; api_key is "***" in both).
 */
#include "fuzz_common.h"

#include "ragc/config.h"

#define MAX_ENV 32

typedef struct fuzz_env {
    const char *names[MAX_ENV];
    const char *values[MAX_ENV];
    size_t n;
} fuzz_env;

static const char *env_get(void *ud, const char *name)
{
    const fuzz_env *e = ud;
    if (!strcmp(name, "RAGC_CONFIG_DIR") || !strcmp(name, "RAGC_CONFIG"))
        return NULL;
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->names[i], name))
            return e->values[i];
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *yaml = fuzz_strndup(data, size);
    size_t ylen = strlen(yaml);
    /* The environment block is a second copy whose lines are cut in place. */
    char *envtext = ylen < size ? fuzz_strndup(data + ylen + 1, size - ylen - 1) : NULL;
    fuzz_env env = {.n = 0};
    const char *profile = NULL;
    for (char *line = envtext, *next; line && *line && env.n < MAX_ENV; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (!strcmp(line, "PROFILE")) {
            profile = eq + 1;
            continue;
        }
        env.names[env.n] = line;
        env.values[env.n] = eq + 1;
        env.n++;
    }

    rag_config_params p = rag_config_default_params();
    p.getenv_fn = env_get;
    p.getenv_ud = &env;
    p.profile = profile;
    rag_buf diag;
    rag_buf_init(&diag, 1 << 20);
    p.diagnostics = &diag;

    rag_config *cfg = NULL;
    rag_err err;
    rag_status st = rag_config_load_string("fuzz.yaml", yaml, &p, &cfg, &err);
    if (st != RAG_OK) {
        FUZZ_CHECK(cfg == NULL);
        FUZZ_CHECK(err.status == st && err.msg[0] != '\0');
    } else {
        FUZZ_CHECK(cfg != NULL && cfg->profile && cfg->sources);
        FUZZ_CHECK(cfg->document_processor.chunk_overlap < cfg->document_processor.chunk_size);
        rag_buf d1, d2;
        rag_buf_init(&d1, 0);
        rag_buf_init(&d2, 0);
        FUZZ_CHECK(rag_config_dump(cfg, &d1) == RAG_OK && d1.data);
        rag_config_params p2 = p;
        p2.diagnostics = NULL;
        rag_config *cfg2 = NULL;
        rag_err err2;
        rag_status st2 = rag_config_load_string("dump.yaml", d1.data, &p2, &cfg2, &err2);
        if (st2 != RAG_OK)
            fprintf(stderr, "dump does not load back: %s\n--- dump ---\n%s\n", err2.msg, d1.data);
        FUZZ_CHECK(st2 == RAG_OK);
        FUZZ_CHECK(rag_config_dump(cfg2, &d2) == RAG_OK && d2.data);
        if (d1.len != d2.len || memcmp(d1.data, d2.data, d1.len) != 0)
            fprintf(stderr, "--- dump 1 ---\n%s\n--- dump 2 ---\n%s\n", d1.data, d2.data);
        FUZZ_CHECK(d1.len == d2.len && memcmp(d1.data, d2.data, d1.len) == 0);
        rag_config_free(cfg2);
        rag_buf_free(&d1);
        rag_buf_free(&d2);
    }
    rag_config_free(cfg);
    rag_buf_free(&diag);
    free(envtext);
    free(yaml);
    return 0;
}
