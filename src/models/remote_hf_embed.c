/* Embedder "huggingface_api": hf-inference feature-extraction,
 * POST {base}/hf-inference/models/{model}/pipeline/feature-extraction
 * {"inputs":[...],"normalize":b,"truncate":true} -> [[f...],...] (always an array input; at most
 * RAG_MODELS_HF_MAX_BATCH inputs and < 2 MB per request). */
#include "models/models_internal.h"

#include <stdlib.h>

typedef mdl_url_backend hf_embed;

static rag_status hf_create(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err)
{
    return mdl_url_backend_create("embedder", "huggingface_api", cfg, env, RAG_MODELS_HF_BASE, RAG_MODELS_HF_MAX_BATCH,
                                  "/hf-inference/models/", "/pipeline/feature-extraction", ctx, err);
}

static rag_status hf_build(const mdl_backend *b, const char *const *texts, size_t start, size_t count, json_t **body,
                           rag_err *err)
{
    json_t *inputs;
    rag_status st = mdl_texts_json(b, "text", texts, start, count, &inputs, err);
    if (st != RAG_OK)
        return st;
    *body = json_pack("{s:o, s:b, s:b}", "inputs", inputs, "normalize", b->normalize, "truncate", 1);
    return *body ? RAG_OK : mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory");
}

static const json_t *hf_rows(const json_t *resp, int64_t *tokens)
{
    (void)tokens;
    return json_is_array(resp) ? resp : NULL;
}

const mdl_embed_proto mdl_hf_embed_proto = {hf_build, hf_rows, RAG_MODELS_HF_MAX_BATCH};

static rag_status hf_embed_fn(void *ctx, rag_models_request *rq, const char *const *texts, size_t n, float **vecs,
                              int *dim, rag_call_stats *stats, rag_err *err)
{
    hf_embed *h = ctx;
    return mdl_embed_run(&h->b, &mdl_hf_embed_proto, h->url, rq, texts, n, vecs, dim, stats, err);
}

const rag_embedder_vtable mdl_hf_embed_vtable = {
    .name = "huggingface_api", .create = hf_create, .destroy = mdl_url_backend_destroy, .embed = hf_embed_fn};
