/* The "local" embedder and reranker: sentence-transformers encoders and cross-encoders run in C
 * (src/local), registered into the model chains next to the remote backends. The model is
 * config `model`: a Hugging Face repo id resolved through the huggingface_hub cache (downloaded
 * when missing unless HF_HUB_OFFLINE is set) or a local directory. It is loaded on first use, so
 * a missing model fails the call (the chain moves on) instead of the process start. */
#include "pipeline_internal.h"

#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ragc/encoder.h"
#include "ragc/hub.h"

#define LOCAL_DEFAULT_EMBED_MODEL "sentence-transformers/all-MiniLM-L6-v2"
#define LOCAL_DEFAULT_RERANK_MODEL "cross-encoder/ms-marco-MiniLM-L6-v2"
#define LOCAL_RETRY_LOAD_MS 60000.0 /* a failed load (e.g. no network for the download) is not
                                       retried before this many ms: calls fail at once meanwhile */

typedef struct local_ctx {
    char *model;            /* repo id or directory; owned */
    bool cross;             /* reranker */
    int threads;            /* config threads: 0 = every CPU */
    bool int8;              /* config precision int8 (runs on every CPU: VNNI, AVX2 or portable C
                               kernels); fixed at create */
    pthread_mutex_t mu;     /* guards loading and every forward pass (one model, one workspace) */
    rag_encoder_t *enc;
    rag_cross_encoder_t *ce;
    double failed_at;       /* rag_now_ms() of the last failed load; 0 = none */
    rag_err failed;         /* its error, returned again until LOCAL_RETRY_LOAD_MS have passed */
} local_ctx;

/* Files a sentence-transformers / cross-encoder directory needs; the optional ones may be absent. */
static const char *const REQUIRED[] = {"config.json", "model.safetensors"};
static const char *const OPTIONAL[] = {"tokenizer.json", "vocab.txt", "tokenizer_config.json", "modules.json",
                                       "1_Pooling/config.json", "sentence_bert_config.json"};

rag_status rag_local_model_dir(const char *model, char **dir_out, rag_err *err)
{
    *dir_out = NULL;
    rag_hub_params hp = rag_hub_default_params();
    hp.repo_id = model;
    char *path = NULL;
    rag_status st = RAG_OK;
    for (size_t i = 0; st == RAG_OK && i < sizeof REQUIRED / sizeof REQUIRED[0]; i++) {
        hp.filename = REQUIRED[i];
        free(path);
        path = NULL;
        st = rag_hub_resolve(&hp, &path, err);
    }
    for (size_t i = 0; st == RAG_OK && i < sizeof OPTIONAL / sizeof OPTIONAL[0]; i++) {
        hp.filename = OPTIONAL[i];
        char *p = NULL;
        rag_err ignored;
        if (rag_hub_resolve(&hp, &p, &ignored) == RAG_OK)
            free(p);
    }
    if (st == RAG_OK) {
        /* path is <dir>/model.safetensors */
        char *slash = strrchr(path, '/');
        if (slash)
            *slash = '\0';
        *dir_out = path;
        return RAG_OK;
    }
    free(path);
    return st;
}

static rag_status local_create(const rag_backend_config *cfg, bool cross, void **ctx, rag_err *err)
{
    local_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    c->cross = cross;
    c->threads = cfg->threads > 0 ? cfg->threads : 0;
    c->int8 = cfg->precision == 1;
    c->model = rag_strdup(cfg->model ? cfg->model : cross ? LOCAL_DEFAULT_RERANK_MODEL : LOCAL_DEFAULT_EMBED_MODEL);
    if (!c->model) {
        free(c);
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    *ctx = c;
    return RAG_OK;
}

static void local_destroy(void *ctx)
{
    local_ctx *c = ctx;
    if (!c)
        return;
    rag_encoder_free(c->enc);
    rag_cross_encoder_free(c->ce);
    pthread_mutex_destroy(&c->mu);
    free(c->model);
    free(c);
}

/* Loads the model on first use; called with c->mu held. A failure is remembered for
 * LOCAL_RETRY_LOAD_MS so a chain with an unavailable local model moves on at once instead of
 * retrying the download (up to its connect timeout) on every call. */
static rag_status local_load(local_ctx *c, rag_err *err)
{
    if (c->enc || c->ce)
        return RAG_OK;
    double now = rag_now_ms();
    if (c->failed_at > 0 && now - c->failed_at < LOCAL_RETRY_LOAD_MS) {
        *err = c->failed;
        rag_err_prefix(err, "(load retried in %.0f s) ", (LOCAL_RETRY_LOAD_MS - (now - c->failed_at)) / 1000);
        return c->failed.status;
    }
    char *dir = NULL;
    rag_status st = rag_local_model_dir(c->model, &dir, err);
    if (st == RAG_OK) {
        rag_encoder_params ep = rag_encoder_default_params();
        ep.threads = c->threads;
        ep.precision = c->int8 ? RAG_BERT_PRECISION_INT8 : RAG_BERT_PRECISION_F32;
        st = c->cross ? rag_cross_encoder_load(dir, ep, &c->ce, err) : rag_encoder_load(dir, ep, &c->enc, err);
    }
    free(dir);
    if (st != RAG_OK) {
        rag_err_prefix(err, "local model %s: ", c->model);
        c->failed = *err;
        c->failed_at = now;
    }
    return st;
}

static rag_status local_create_embed(const rag_backend_config *cfg, const rag_models_env *env, void **ctx,
                                     rag_err *err)
{
    (void)env;
    return local_create(cfg, false, ctx, err);
}

static rag_status local_create_rerank(const rag_backend_config *cfg, const rag_models_env *env, void **ctx,
                                      rag_err *err)
{
    (void)env;
    return local_create(cfg, true, ctx, err);
}

/* The one try of a call: the model as configured, marked " [int8]" when it ran in int8. */
static void local_try(const local_ctx *c, rag_call_stats *stats, rag_status st, const rag_err *err)
{
    rag_model_try *t = &stats->tries[0];
    snprintf(t->model, sizeof t->model, "%s%s", c->model, c->int8 ? " [int8]" : "");
    t->status = st;
    if (st != RAG_OK)
        snprintf(t->reason, sizeof t->reason, "%s", err->msg);
    t->ms = stats->ms;
    stats->n_tries = 1;
}

static rag_status local_embed(void *ctx, rag_models_request *rq, const char *const *texts, size_t n, float **vecs,
                              int *dim, rag_call_stats *stats, rag_err *err)
{
    (void)rq;
    local_ctx *c = ctx;
    double t0 = rag_now_ms();
    *vecs = NULL;
    *dim = 0;
    memset(stats, 0, sizeof *stats);
    pthread_mutex_lock(&c->mu);
    rag_status st = local_load(c, err);
    float *out = NULL;
    size_t d = 0;
    if (st == RAG_OK && n > 0) {
        out = malloc(n * rag_encoder_dim(c->enc) * sizeof *out);
        st = out ? rag_encoder_embed(c->enc, texts, n, out, &d, err) : rag_err_set(err, RAG_E_NOMEM, "out of memory");
    }
    pthread_mutex_unlock(&c->mu);
    stats->ms = rag_now_ms() - t0;
    local_try(c, stats, st, err);
    if (st != RAG_OK) {
        free(out);
        return st;
    }
    *vecs = out;
    *dim = (int)d;
    return RAG_OK;
}

static rag_status local_rerank(void *ctx, rag_models_request *rq, const char *query, const char *const *passages,
                               size_t n, double *scores, rag_call_stats *stats, rag_err *err)
{
    (void)rq;
    local_ctx *c = ctx;
    double t0 = rag_now_ms();
    memset(stats, 0, sizeof *stats);
    float *logits = n ? malloc(n * sizeof *logits) : NULL;
    rag_status st = n && !logits ? rag_err_set(err, RAG_E_NOMEM, "out of memory") : RAG_OK;
    pthread_mutex_lock(&c->mu);
    if (st == RAG_OK)
        st = local_load(c, err);
    if (st == RAG_OK && n > 0) {
        if (rag_cross_encoder_num_labels(c->ce) != 1)
            st = rag_err_set(err, RAG_E_CONFIG, "local model %s has %zu labels; a reranker needs 1", c->model,
                             rag_cross_encoder_num_labels(c->ce));
        else
            st = rag_cross_encoder_score(c->ce, query, passages, n, logits, err);
    }
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; st == RAG_OK && i < n; i++)
        scores[i] = logits[i];
    free(logits);
    stats->ms = rag_now_ms() - t0;
    local_try(c, stats, st, err);
    return st;
}

/* The cache revision of a local model: the real path of its directory (a Hub snapshot path holds
 * the commit), the size and modification time of its weights, so replaced weights are new cache
 * keys, and "|int8" when the linear layers run in int8 (approximate results never mix with f32
 * ones). */
static rag_status local_revision(void *ctx, char *buf, size_t cap, rag_err *err)
{
    local_ctx *c = ctx;
    pthread_mutex_lock(&c->mu);
    bool recent_failure = c->failed_at > 0 && rag_now_ms() - c->failed_at < LOCAL_RETRY_LOAD_MS;
    rag_err failed = c->failed;
    pthread_mutex_unlock(&c->mu);
    if (recent_failure) {
        *err = failed;
        return failed.status;
    }
    char *dir = NULL;
    rag_status st = rag_local_model_dir(c->model, &dir, err);
    if (st != RAG_OK)
        return st;
    char real[PATH_MAX], weights[PATH_MAX + 32];
    if (!realpath(dir, real))
        snprintf(real, sizeof real, "%s", dir);
    snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
    free(dir);
    struct stat sb;
    if (stat(weights, &sb) != 0)
        return rag_err_set(err, RAG_E_NOT_FOUND, "local model %s: no model.safetensors", c->model);
    snprintf(buf, cap, "%s|%lld|%lld.%09ld%s", real, (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
             sb.st_mtim.tv_nsec, c->int8 ? "|int8" : "");
    return RAG_OK;
}

const rag_embedder_vtable pipeline_local_embedder = {.name = "local",
                                                     .create = local_create_embed,
                                                     .destroy = local_destroy,
                                                     .embed = local_embed,
                                                     .revision = local_revision};
const rag_reranker_vtable pipeline_local_reranker = {.name = "local",
                                                     .create = local_create_rerank,
                                                     .destroy = local_destroy,
                                                     .rerank = local_rerank,
                                                     .revision = local_revision};
