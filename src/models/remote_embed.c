/* The batched embedding call shared by the HF feature-extraction, TEI and Ollama embedders. */
#include "models/models_internal.h"

#include <stdlib.h>
#include <string.h>

rag_status mdl_texts_json(const mdl_backend *b, const char *what, const char *const *texts, size_t start,
                          size_t count, json_t **out, rag_err *err)
{
    *out = NULL;
    json_t *a = json_array();
    if (!a)
        return mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory");
    for (size_t i = start; i < start + count; i++) {
        if (!texts[i]) {
            json_decref(a);
            return mdl_fail(b, NULL, err, RAG_E_BAD_INPUT, "%s %zu is NULL", what, i);
        }
        json_t *s = mdl_json_text(texts[i]);
        if (!s) {
            json_decref(a);
            size_t bad = 0;
            rag_utf8_valid(texts[i], strlen(texts[i]), &bad);
            return mdl_fail(b, NULL, err, RAG_E_BAD_INPUT, "%s %zu is not valid UTF-8 (byte %zu)", what, i, bad);
        }
        if (json_array_append_new(a, s) != 0) {
            json_decref(a);
            return mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory");
        }
    }
    *out = a;
    return RAG_OK;
}

typedef struct embed_ud {
    const mdl_backend *b;
    const mdl_embed_proto *proto;
    const char *const *texts;
    size_t n;
    float **vecs;
    int *dim;
} embed_ud;

static rag_status build_body(void *ud, size_t start, size_t count, json_t **body, rag_err *err)
{
    embed_ud *u = ud;
    return u->proto->build(u->b, u->texts, start, count, body, err);
}

static rag_status take_rows(void *ud, const json_t *json, size_t start, size_t count, rag_call_stats *stats,
                            rag_err *err)
{
    embed_ud *u = ud;
    int64_t tokens = 0;
    const json_t *rows = u->proto->rows(json, &tokens);
    if (stats)
        stats->tokens_in += tokens;
    if (!rows)
        return mdl_fail(u->b, NULL, err, RAG_E_UPSTREAM, "embedding response has an unexpected shape");
    return mdl_embed_rows(u->b, rows, start, count, u->n, u->vecs, u->dim, err);
}

rag_status mdl_embed_run(const mdl_backend *b, const mdl_embed_proto *proto, const char *url, rag_models_request *rq,
                         const char *const *texts, size_t n, float **vecs, int *dim, rag_call_stats *stats,
                         rag_err *err)
{
    *vecs = NULL;
    *dim = 0;
    if (n == 0)
        return RAG_OK;
    if (!url)
        return mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory");
    embed_ud u = {b, proto, texts, n, vecs, dim};
    rag_status st = mdl_run_batches(b, rq, url, n, proto->max_batch, build_body, take_rows, &u, stats, err);
    if (st != RAG_OK) {
        free(*vecs);
        *vecs = NULL;
        *dim = 0;
        return st;
    }
    if (b->normalize)
        mdl_l2_normalize(*vecs, n, *dim);
    return RAG_OK;
}
