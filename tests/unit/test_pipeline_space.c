/* Embedding spaces (src/pipeline/dense_stage.c pipeline_space_key): the key names the model, not
 * the backend. The huggingface_api and local members of one model share a key (int8 included, a
 * repo id or its huggingface_hub snapshot directory); a plain directory is its real path; backends
 * without a model id are keyed by their URL; keys are never truncated. The embedder defaults the
 * mapping assumes are those of the backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/models_internal.h"
#include "pipeline/pipeline_internal.h"

#define MODEL "sentence-transformers/all-MiniLM-L6-v2"

static char tmp[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/ragc-space-XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    char real[PATH_MAX];
    if (!realpath(tmp, real)) /* /tmp may itself be a symlink */
        return -1;
    snprintf(tmp, sizeof tmp, "%s", real);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* mkdir -p tmp/rel; the full path into out. */
static void make_dir(const char *rel, char *out, size_t cap)
{
    char cmd[PATH_MAX * 2];
    int n = snprintf(out, cap, "%s/%s", tmp, rel);
    assert_true(n > 0 && (size_t)n < cap);
    n = snprintf(cmd, sizeof cmd, "mkdir -p '%s'", out);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    assert_int_equal(system(cmd), 0);
}

/* The key of (type, model, base_url), asserting success. Two calls in one expression get two
 * buffers. */
static const char *key(const char *type, const char *model, const char *base_url)
{
    static char bufs[2][PIPELINE_SPACE_CAP];
    static int next;
    char *buf = bufs[next];
    next ^= 1;
    rag_err err;
    rag_err_clear(&err);
    rag_status st = pipeline_space_key(type, model, base_url, buf, PIPELINE_SPACE_CAP, &err);
    if (st != RAG_OK)
        fail_msg("pipeline_space_key(%s, %s): %s", type, model ? model : "(null)", err.msg);
    return buf;
}

static void test_remote_and_local_repo_id_share_the_model(void **state)
{
    (void)state;
    char hf[PIPELINE_SPACE_CAP];
    snprintf(hf, sizeof hf, "%s", key("huggingface_api", MODEL, "https://router.huggingface.co"));
    assert_string_equal(hf, MODEL);
    /* the base URL does not matter when there is a model: the fake server, a proxy, the real API */
    assert_string_equal(key("huggingface_api", MODEL, "http://127.0.0.1:9"), hf);
    /* the local backend with the repo id (not a directory here), f32 or int8 */
    assert_string_equal(key("local", MODEL, NULL), hf);
    assert_string_equal(key("local", MODEL " [int8]", NULL), hf);
    /* TEI when the config says which model it serves */
    assert_string_equal(key("tei", MODEL, "http://tei:8080"), hf);
    /* another model is another space */
    assert_string_equal(key("huggingface_api", "BAAI/bge-small-en-v1.5", NULL), "BAAI/bge-small-en-v1.5");
    /* only a trailing " [int8]" is a marker */
    assert_string_equal(key("local", "org/m [int8] x", NULL), "org/m [int8] x");
}

static void test_hub_snapshot_directory_is_its_repo(void **state)
{
    (void)state;
    char snap[PATH_MAX], noorg[PATH_MAX], link[PATH_MAX + 8];
    make_dir("hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/0123abc", snap, sizeof snap);
    assert_string_equal(key("local", snap, NULL), MODEL);
    assert_string_equal(key("local", snap, NULL), key("huggingface_api", MODEL, NULL));
    /* int8 and a trailing slash change nothing */
    char s2[PATH_MAX + 16];
    snprintf(s2, sizeof s2, "%s/ [int8]", snap);
    assert_string_equal(key("local", s2, NULL), MODEL);
    /* a repo without an org */
    make_dir("hub/models--bert-base-uncased/snapshots/r1", noorg, sizeof noorg);
    assert_string_equal(key("local", noorg, NULL), "bert-base-uncased");
    /* a symlink to a snapshot resolves to it */
    assert_true(snprintf(link, sizeof link, "%s/link", tmp) < (int)sizeof link);
    assert_int_equal(symlink(snap, link), 0);
    assert_string_equal(key("local", link, NULL), MODEL);
}

static void test_other_directories_are_their_real_path(void **state)
{
    (void)state;
    char plain[PATH_MAX], sub[PATH_MAX], bad[PATH_MAX], nosnap[PATH_MAX], link[PATH_MAX + 8];
    make_dir("models/all-MiniLM-L6-v2", plain, sizeof plain);
    assert_string_equal(key("local", plain, NULL), plain);
    /* int8 shares the f32 directory's space */
    char p8[PATH_MAX + 16];
    snprintf(p8, sizeof p8, "%s [int8]", plain);
    assert_string_equal(key("local", p8, NULL), plain);
    /* reached through a symlink, or with "..": the real path */
    assert_true(snprintf(link, sizeof link, "%s/plainlink", tmp) < (int)sizeof link);
    assert_int_equal(symlink(plain, link), 0);
    assert_string_equal(key("local", link, NULL), plain);
    char dotdot[PATH_MAX * 2];
    snprintf(dotdot, sizeof dotdot, "%s/models/../models/all-MiniLM-L6-v2", tmp);
    assert_string_equal(key("local", dotdot, NULL), plain);
    /* a folder inside a snapshot is not the repo's model */
    make_dir("hub/models--org--name/snapshots/rev/sub", sub, sizeof sub);
    assert_string_equal(key("local", sub, NULL), sub);
    /* not a valid cache folder name: three parts, or "snapshots" under another folder */
    make_dir("hub/models--a--b--c/snapshots/rev", bad, sizeof bad);
    assert_string_equal(key("local", bad, NULL), bad);
    make_dir("hub/org-name/snapshots/rev", nosnap, sizeof nosnap);
    assert_string_equal(key("local", nosnap, NULL), nosnap);
    char empty[PATH_MAX];
    make_dir("hub/models--/snapshots/rev", empty, sizeof empty);
    assert_string_equal(key("local", empty, NULL), empty);
    /* the key of a directory is never equal to a repo id's (an absolute path starts with '/') */
    assert_int_equal(key("local", plain, NULL)[0], '/');
    /* the directory rule is the local backend's only: for another type a path is a model id */
    assert_string_equal(key("tei", plain, NULL), plain);
}

static void test_backends_without_a_model_and_ollama(void **state)
{
    (void)state;
    assert_string_equal(key("tei", NULL, "http://tei:8080"), "tei:http://tei:8080");
    assert_string_equal(key("tei", "", "http://tei:8080"), "tei:http://tei:8080");
    assert_string_equal(key("tei", NULL, NULL), "tei:");
    assert_string_equal(key("ollama", "all-minilm", NULL), "ollama:all-minilm");
    assert_string_equal(key("ollama", "all-minilm:latest", "http://localhost:11434"), "ollama:all-minilm");
    assert_string_equal(key("ollama", "nomic-embed-text:v1.5", NULL), "ollama:nomic-embed-text:v1.5");
    /* Ollama's names are not Hub ids: a same-looking name is another space */
    assert_string_not_equal(key("ollama", MODEL, NULL), key("huggingface_api", MODEL, NULL));
}

static void test_errors_never_truncate(void **state)
{
    (void)state;
    char buf[16];
    rag_err err;
    rag_err_clear(&err);
    assert_int_equal(pipeline_space_key(NULL, MODEL, NULL, buf, sizeof buf, &err), RAG_E_BAD_INPUT);
    assert_int_equal(pipeline_space_key("", MODEL, NULL, buf, sizeof buf, &err), RAG_E_BAD_INPUT);
    /* too long for the buffer: an error and an empty key, never a prefix */
    assert_int_equal(pipeline_space_key("huggingface_api", MODEL, NULL, buf, sizeof buf, &err), RAG_E_TOO_LARGE);
    assert_string_equal(buf, "");
    assert_non_null(strstr(err.msg, "over 15 bytes"));
    assert_int_equal(pipeline_space_key("tei", NULL, "http://a-long-host-name:8080", buf, sizeof buf, &err),
                     RAG_E_TOO_LARGE);
    assert_string_equal(buf, "");
    /* what fits exactly fits */
    assert_int_equal(pipeline_space_key("huggingface_api", "org/fifteen-byt", NULL, buf, sizeof buf, &err), RAG_OK);
    assert_string_equal(buf, "org/fifteen-byt");
    /* over the store's cap even with a larger buffer */
    char big[RAG_DENSE_MAX_SPACE_BYTES + 64], huge[RAG_DENSE_MAX_SPACE_BYTES + 2];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(pipeline_space_key("huggingface_api", huge, NULL, big, sizeof big, &err), RAG_E_TOO_LARGE);
    huge[RAG_DENSE_MAX_SPACE_BYTES] = '\0';
    assert_int_equal(pipeline_space_key("huggingface_api", huge, NULL, big, sizeof big, &err), RAG_OK);
    assert_int_equal(strlen(big), RAG_DENSE_MAX_SPACE_BYTES);
}

/* The defaults pipeline_member_space uses for a member without `model` are the backends' own. */
static void test_defaults_match_the_backends(void **state)
{
    (void)state;
    const char *types[] = {"huggingface_api", "tei", "ollama"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const char *backend = mdl_default_model("embedder", types[i]);
        const char *ours = pipeline_embedder_default_model(types[i]);
        assert_non_null(backend);
        if (!*backend)
            assert_null(ours); /* tei: no model id */
        else
            assert_string_equal(ours, backend);
    }
    assert_null(pipeline_embedder_default_model("none"));
    assert_null(pipeline_embedder_default_model(NULL));

    /* local: the model its one try names when the config has none (the load fails offline in an
     * empty hub cache, which is all this needs) */
    char hub[PATH_MAX];
    make_dir("empty-hub", hub, sizeof hub);
    setenv("HF_HUB_CACHE", hub, 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    rag_backend_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.type = "local";
    cfg.threads = -1;
    cfg.precision = -1;
    rag_models_env env;
    memset(&env, 0, sizeof env);
    void *ctx = NULL;
    rag_err err;
    assert_int_equal(pipeline_local_embedder.create(&cfg, &env, &ctx, &err), RAG_OK);
    const char *texts[] = {"x"};
    float *vecs = NULL;
    int dim = 0;
    rag_call_stats stats;
    assert_int_not_equal(pipeline_local_embedder.embed(ctx, NULL, texts, 1, &vecs, &dim, &stats, &err), RAG_OK);
    assert_int_equal(stats.n_tries, 1);
    assert_string_equal(stats.tries[0].model, pipeline_embedder_default_model("local"));
    pipeline_local_embedder.destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remote_and_local_repo_id_share_the_model),
        cmocka_unit_test(test_hub_snapshot_directory_is_its_repo),
        cmocka_unit_test(test_other_directories_are_their_real_path),
        cmocka_unit_test(test_backends_without_a_model_and_ollama),
        cmocka_unit_test(test_errors_never_truncate),
        cmocka_unit_test(test_defaults_match_the_backends),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
