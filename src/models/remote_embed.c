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
} embed_ud;

static rag_status build_body(void *ud, size_t start, size_t count, json_t **body, rag_err *err)
{
    embed_ud *u = ud;
    return u->proto->build(u->b, u->texts, start, count, body, err);
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
    size_t max_batch = (size_t)b->batch_size;
    if (proto->max_batch > 0 && max_batch > proto->max_batch)
        max_batch = proto->max_batch;
    embed_ud u = {b, proto, texts};
    rag_net_response resp;
    rag_net_response_init(&resp);
    rag_status st = RAG_OK;
    for (size_t start = 0; start < n && st == RAG_OK;) {
        char *body = NULL;
        size_t len = 0, count = 0;
        st = mdl_plan_batch(b, n, start, max_batch, build_body, &u, &body, &len, &count, err);
        if (st != RAG_OK)
            break;
        rag_net_request req;
        memset(&req, 0, sizeof req);
        req.method = RAG_HTTP_POST;
        req.url = url;
        req.body = body;
        req.body_len = len;
        req.expect_json = true;
        mdl_call_info ci;
        st = mdl_call(b, rq, b->model, &req, &resp, stats, &ci, err);
        if (st == RAG_OK) {
            int64_t tokens = 0;
            const json_t *rows = proto->rows(resp.json, &tokens);
            if (!rows)
                st = mdl_fail(b, NULL, err, RAG_E_UPSTREAM, "embedding response has an unexpected shape");
            else
                st = mdl_embed_rows(b, rows, start, count, n, vecs, dim, err);
            if (stats)
                stats->tokens_in += tokens;
        }
        bool priced = b->price_call >= 0;
        mdl_done(b, rq, stats, &ci, st, st == RAG_OK && priced ? b->price_call : 0, st == RAG_OK && priced);
        free(body);
        start += count;
    }
    rag_net_response_free(&resp);
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
