/* Text Embeddings Inference (self-hosted TEI):
 *   embedder "tei": POST {base}/embed {"inputs":[...],"normalize":b,"truncate":true} -> [[f...],...]
 *   reranker "tei": POST {base}/rerank {"query","texts":[...],"raw_scores":true,"return_text":false,
 *                   "truncate":true} -> [{"index","score"},...] sorted by score; mapped back by index.
 * TEI serves one model; the configured model (may be "") only names the breaker and the report. */
#include "models/models_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef mdl_url_backend tei;

static rag_status tei_create(const char *kind, const char *path, const rag_backend_config *cfg,
                             const rag_models_env *env, void **ctx, rag_err *err)
{
    return mdl_url_backend_create(kind, "tei", cfg, env, RAG_MODELS_TEI_BASE, 0, path, NULL, ctx, err);
}

/* ---- /embed ---- */

static rag_status embed_create(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err)
{
    return tei_create("embedder", "/embed", cfg, env, ctx, err);
}

static rag_status embed_build(const mdl_backend *b, const char *const *texts, size_t start, size_t count,
                              json_t **body, rag_err *err)
{
    json_t *inputs;
    rag_status st = mdl_texts_json(b, "text", texts, start, count, &inputs, err);
    if (st != RAG_OK)
        return st;
    *body = json_pack("{s:o, s:b, s:b}", "inputs", inputs, "normalize", b->normalize, "truncate", 1);
    return *body ? RAG_OK : mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory");
}

static const json_t *embed_rows(const json_t *resp, int64_t *tokens)
{
    (void)tokens;
    return json_is_array(resp) ? resp : NULL;
}

const mdl_embed_proto mdl_tei_embed_proto = {embed_build, embed_rows, 0};

static rag_status embed_fn(void *ctx, rag_models_request *rq, const char *const *texts, size_t n, float **vecs,
                           int *dim, rag_call_stats *stats, rag_err *err)
{
    tei *t = ctx;
    return mdl_embed_run(&t->b, &mdl_tei_embed_proto, t->url, rq, texts, n, vecs, dim, stats, err);
}

const rag_embedder_vtable mdl_tei_embed_vtable = {
    .name = "tei", .create = embed_create, .destroy = mdl_url_backend_destroy, .embed = embed_fn};

/* ---- /rerank ---- */

static rag_status rerank_create(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err)
{
    return tei_create("reranker", "/rerank", cfg, env, ctx, err);
}

static rag_status rerank_build(const mdl_backend *b, const char *query, const char *const *passages, size_t start,
                               size_t count, json_t **body, rag_err *err)
{
    json_t *texts;
    rag_status st = mdl_texts_json(b, "passage", passages, start, count, &texts, err);
    if (st != RAG_OK)
        return st;
    *body = json_pack("{s:s, s:o, s:b, s:b, s:b}", "query", query, "texts", texts, "raw_scores", 1, "return_text", 0,
                      "truncate", 1);
    return *body ? RAG_OK : mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory");
}

static rag_status rerank_scores(const mdl_backend *b, const json_t *resp, size_t start, size_t count,
                                double *scores, rag_err *err)
{
    if (!json_is_array(resp))
        return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "rerank response is not an array");
    if (json_array_size(resp) != count)
        return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "rerank returned %zu results for %zu texts",
                        json_array_size(resp), count);
    bool *seen = calloc(count, sizeof *seen);
    if (!seen)
        return mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory");
    rag_status st = RAG_OK;
    for (size_t i = 0; i < count && st == RAG_OK; i++) {
        const json_t *r = json_array_get(resp, i);
        const json_t *ix = json_object_get(r, "index"), *sc = json_object_get(r, "score");
        if (!json_is_integer(ix) || !json_is_number(sc) || !isfinite(json_number_value(sc))) {
            st = mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "rerank result %zu lacks an integer index or a numeric score", i);
            break;
        }
        json_int_t k = json_integer_value(ix);
        if (k < 0 || (size_t)k >= count || seen[k]) {
            st = mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "rerank result %zu has index %lld (%s)", i, (long long)k,
                          k < 0 || (size_t)k >= count ? "out of range" : "repeated");
            break;
        }
        seen[k] = true;
        scores[start + (size_t)k] = json_number_value(sc);
    }
    free(seen);
    return st;
}

const mdl_rerank_proto mdl_tei_rerank_proto = {rerank_build, rerank_scores, 0};

static rag_status rerank_fn(void *ctx, rag_models_request *rq, const char *query, const char *const *passages,
                            size_t n, double *scores, rag_call_stats *stats, rag_err *err)
{
    tei *t = ctx;
    return mdl_rerank_run(&t->b, &mdl_tei_rerank_proto, t->url, rq, query, passages, n, scores, stats, err);
}

const rag_reranker_vtable mdl_tei_rerank_vtable = {
    .name = "tei", .create = rerank_create, .destroy = mdl_url_backend_destroy, .rerank = rerank_fn};
