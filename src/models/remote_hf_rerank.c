/* Reranker "huggingface_api": hf-inference text-classification with a cross-encoder,
 * POST {base}/hf-inference/models/{model}
 * {"inputs":[{"text":q,"text_pair":p},...],"parameters":{"function_to_apply":"none"}}
 * -> [[{"label","score"}],...] (a list per input) or [{"label","score"},...] (flat); both accepted.
 * Scores are raw logits ("none"), in input order. Also the batched rerank call shared with TEI. */
#include "models/models_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct rerank_ud {
    const mdl_backend *b;
    const mdl_rerank_proto *proto;
    const char *query;
    const char *const *passages;
    double *scores; /* n, filled batch by batch */
} rerank_ud;

static rag_status build_body(void *ud, size_t start, size_t count, json_t **body, rag_err *err)
{
    rerank_ud *u = ud;
    return u->proto->build(u->b, u->query, u->passages, start, count, body, err);
}

static rag_status take_scores(void *ud, const json_t *json, size_t start, size_t count, rag_call_stats *stats,
                              rag_err *err)
{
    (void)stats;
    rerank_ud *u = ud;
    return u->proto->scores(u->b, json, start, count, u->scores, err);
}

rag_status mdl_rerank_run(const mdl_backend *b, const mdl_rerank_proto *proto, const char *url,
                          rag_models_request *rq, const char *query, const char *const *passages, size_t n,
                          double *scores, rag_call_stats *stats, rag_err *err)
{
    if (n == 0)
        return RAG_OK;
    if (!url)
        return mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory");
    if (!query || !rag_utf8_valid(query, strlen(query), NULL))
        return mdl_fail(b, NULL, err, RAG_E_BAD_INPUT, "the query is %s", query ? "not valid UTF-8" : "NULL");
    double *tmp = calloc(n, sizeof *tmp);
    if (!tmp)
        return mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory");
    rerank_ud u = {b, proto, query, passages, tmp};
    rag_status st = mdl_run_batches(b, rq, url, n, proto->max_batch, build_body, take_scores, &u, stats, err);
    if (st == RAG_OK)
        memcpy(scores, tmp, n * sizeof *tmp);
    free(tmp);
    return st;
}

/* ---- hf-inference text-classification ---- */

typedef mdl_url_backend hf_rerank;

static rag_status hf_create(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err)
{
    return mdl_url_backend_create("reranker", "huggingface_api", cfg, env, RAG_MODELS_HF_BASE, RAG_MODELS_HF_MAX_BATCH,
                                  "/hf-inference/models/", "", ctx, err);
}

static rag_status hf_build(const mdl_backend *b, const char *query, const char *const *passages, size_t start,
                           size_t count, json_t **body, rag_err *err)
{
    json_t *texts;
    rag_status st = mdl_texts_json(b, "passage", passages, start, count, &texts, err);
    if (st != RAG_OK)
        return st;
    json_t *inputs = json_array();
    for (size_t i = 0; inputs && i < count; i++) {
        json_t *pair = json_pack("{s:s, s:O}", "text", query, "text_pair", json_array_get(texts, i));
        if (!pair || json_array_append_new(inputs, pair) != 0) {
            json_decref(inputs);
            inputs = NULL;
        }
    }
    json_decref(texts);
    if (!inputs)
        return mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory");
    *body = json_pack("{s:o, s:{s:s}}", "inputs", inputs, "parameters", "function_to_apply", "none");
    return *body ? RAG_OK : mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory");
}

/* The score of one input's element: {"label","score"} or a list of them (one label: its score;
 * several: the one labelled LABEL_1, else the first). */
static bool element_score(const json_t *el, double *out)
{
    const json_t *obj = el;
    if (json_is_array(el)) {
        size_t k = json_array_size(el);
        if (k == 0)
            return false;
        obj = json_array_get(el, 0);
        for (size_t i = 0; k > 1 && i < k; i++) {
            const char *label = json_string_value(json_object_get(json_array_get(el, i), "label"));
            if (label && !strcmp(label, "LABEL_1"))
                obj = json_array_get(el, i);
        }
    }
    const json_t *s = json_object_get(obj, "score");
    if (!json_is_number(s) || !isfinite(json_number_value(s)))
        return false;
    *out = json_number_value(s);
    return true;
}

static rag_status hf_scores(const mdl_backend *b, const json_t *resp, size_t start, size_t count, double *scores,
                            rag_err *err)
{
    if (!json_is_array(resp))
        return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "classification response is not an array");
    if (json_array_size(resp) != count)
        return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "classification returned %zu results for %zu pairs",
                        json_array_size(resp), count);
    for (size_t i = 0; i < count; i++)
        if (!element_score(json_array_get(resp, i), &scores[start + i]))
            return mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "classification result %zu has no numeric score", start + i);
    return RAG_OK;
}

const mdl_rerank_proto mdl_hf_rerank_proto = {hf_build, hf_scores, RAG_MODELS_HF_MAX_BATCH};

static rag_status hf_rerank_fn(void *ctx, rag_models_request *rq, const char *query, const char *const *passages,
                               size_t n, double *scores, rag_call_stats *stats, rag_err *err)
{
    hf_rerank *h = ctx;
    return mdl_rerank_run(&h->b, &mdl_hf_rerank_proto, h->url, rq, query, passages, n, scores, stats, err);
}

const rag_reranker_vtable mdl_hf_rerank_vtable = {
    .name = "huggingface_api", .create = hf_create, .destroy = mdl_url_backend_destroy, .rerank = hf_rerank_fn};
