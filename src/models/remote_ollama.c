/* Ollama:
 *   embedder "ollama":  POST {base}/api/embed {"model","input":[...]} -> {"embeddings":[[...]],
 *                       "prompt_eval_count"}
 *   generator "ollama": POST {base}/api/chat {"model","messages","stream","options":{"num_ctx",
 *                       "temperature","num_predict"}} -> NDJSON lines {"message":{"content"},"done":false}
 *                       ... {"done":true,"done_reason","prompt_eval_count","eval_count"}; a line
 *                       {"error":...} is a mid-stream error. num_ctx is always sent (config num_ctx,
 *                       else RAG_MODELS_OLLAMA_NUM_CTX): Ollama silently truncates prompts beyond
 *                       its default context. */
#include "models/models_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef mdl_url_backend ollama;

static rag_status ollama_create(const char *kind, const char *path, const rag_backend_config *cfg,
                                const rag_models_env *env, void **ctx, rag_err *err)
{
    return mdl_url_backend_create(kind, "ollama", cfg, env, RAG_MODELS_OLLAMA_BASE, 0, path, NULL, ctx, err);
}

/* ---- /api/embed ---- */

static rag_status embed_create(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err)
{
    return ollama_create("embedder", "/api/embed", cfg, env, ctx, err);
}

static rag_status embed_build(const mdl_backend *b, const char *const *texts, size_t start, size_t count,
                              json_t **body, rag_err *err)
{
    json_t *input;
    rag_status st = mdl_texts_json(b, "text", texts, start, count, &input, err);
    if (st != RAG_OK)
        return st;
    *body = json_pack("{s:s, s:o}", "model", b->model, "input", input);
    return *body ? RAG_OK : mdl_fail(b, NULL, err, RAG_E_NOMEM, "out of memory");
}

static const json_t *embed_rows(const json_t *resp, int64_t *tokens)
{
    const json_t *n = json_object_get(resp, "prompt_eval_count");
    if (json_is_integer(n) && json_integer_value(n) > 0)
        *tokens += (int64_t)json_integer_value(n);
    const json_t *rows = json_object_get(resp, "embeddings");
    return json_is_array(rows) ? rows : NULL;
}

const mdl_embed_proto mdl_ollama_embed_proto = {embed_build, embed_rows, 0};

static rag_status embed_fn(void *ctx, rag_models_request *rq, const char *const *texts, size_t n, float **vecs,
                           int *dim, rag_call_stats *stats, rag_err *err)
{
    ollama *o = ctx;
    return mdl_embed_run(&o->b, &mdl_ollama_embed_proto, o->url, rq, texts, n, vecs, dim, stats, err);
}

const rag_embedder_vtable mdl_ollama_embed_vtable = {
    .name = "ollama", .create = embed_create, .destroy = mdl_url_backend_destroy, .embed = embed_fn};

/* ---- /api/chat ---- */

typedef mdl_chat_acc chat_state;

static int64_t count_field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : 0;
}

/* One NDJSON object (or the whole non-stream response). */
static rag_status on_value(void *ud, json_t *v, size_t line_no, rag_err *err)
{
    chat_state *s = ud;
    char msg[RAG_NET_ERRMSG_MAX];
    if (rag_net_stream_error(v, s->b->api_key, msg, sizeof msg))
        return rag_err_set(err, RAG_E_UPSTREAM, "%s error (line %zu): %s", s->stream ? "mid-stream" : "response",
                           line_no, msg);
    if (!json_is_object(v))
        return rag_err_set(err, RAG_E_UPSTREAM, "line %zu is not a JSON object", line_no);
    const json_t *content = json_object_get(json_object_get(v, "message"), "content");
    if (json_is_string(content) && json_string_length(content) > 0) {
        if (rag_buf_append(&s->text, json_string_value(content), json_string_length(content)) != RAG_OK)
            return rag_err_set(err, RAG_E_TOO_LARGE, "generated text exceeds %d bytes", RAG_MODELS_MAX_TEXT);
        if (s->stream && s->on_token)
            s->on_token(s->ud, json_string_value(content), json_string_length(content));
    }
    if (json_is_true(json_object_get(v, "done"))) {
        const char *fr = json_string_value(json_object_get(v, "done_reason"));
        snprintf(s->finish, sizeof s->finish, "%s", fr ? fr : "stop");
        size_t bad; /* a cut inside a UTF-8 sequence: end before it */
        if (!rag_utf8_valid(s->finish, strlen(s->finish), &bad))
            s->finish[bad] = '\0';
        s->prompt_tokens = count_field(v, "prompt_eval_count");
        s->completion_tokens = count_field(v, "eval_count");
    }
    return RAG_OK;
}

/* A complete (non-stream) /api/chat response: one value that must say "done": true. */
static rag_status take_response(chat_state *s, const json_t *v, rag_err *err)
{
    rag_status st = on_value(s, (json_t *)v, 1, err);
    if (st == RAG_OK && !json_is_true(json_object_get(v, "done")))
        st = rag_err_set(err, RAG_E_UPSTREAM, "response lacks \"done\": true");
    return st;
}

rag_status mdl_ollama_chat_parse_response(const mdl_backend *b, const json_t *v, rag_gen_result *result, rag_err *err)
{
    return mdl_chat_parse_with(b, v, take_response, result, err);
}

static rag_status chat_create(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err)
{
    return ollama_create("generator", "/api/chat", cfg, env, ctx, err);
}

static rag_status chat_generate(void *ctx, rag_models_request *rq, const char *model, const rag_chat_message *msgs,
                                size_t n, const rag_gen_params *p, rag_gen_token_fn on_token, void *ud,
                                rag_gen_result *result, rag_call_stats *stats, rag_err *err)
{
    ollama *o = ctx;
    const mdl_backend *b = &o->b;
    json_t *jm;
    rag_status st = mdl_messages_json(b, model, msgs, n, &jm, err);
    if (st != RAG_OK)
        return st;
    json_t *opts = json_pack("{s:i}", "num_ctx", b->num_ctx);
    if (opts && p->temperature >= 0)
        json_object_set_new(opts, "temperature", json_real(p->temperature));
    if (opts && p->max_tokens > 0)
        json_object_set_new(opts, "num_predict", json_integer(p->max_tokens));
    json_t *body = opts ? json_pack("{s:s, s:o, s:b, s:o}", "model", model, "messages", jm, "stream", p->stream,
                                    "options", opts)
                        : NULL;
    if (!opts)
        json_decref(jm);
    size_t len = 0;
    char *s_body = body ? mdl_dump(body, &len) : NULL;
    json_decref(body);
    if (!s_body)
        return mdl_fail(b, model, err, RAG_E_NOMEM, "out of memory building the request");

    chat_state cs;
    mdl_chat_acc_init(&cs, b, on_token, ud, p->stream);
    rag_ndjson_parser *nd = NULL;
    rag_net_request req;
    memset(&req, 0, sizeof req);
    req.method = RAG_HTTP_POST;
    req.url = o->url;
    req.body = s_body;
    req.body_len = len;
    if (p->stream) {
        st = rag_ndjson_parser_create(0, on_value, &cs, &nd, err);
        if (st != RAG_OK) {
            free(s_body);
            mdl_chat_acc_free(&cs);
            return st;
        }
        req.on_line = rag_ndjson_on_line;
        req.on_end = rag_ndjson_on_end;
        req.stream_ud = nd;
    } else {
        req.expect_json = true;
    }
    rag_net_response resp;
    rag_net_response_init(&resp);
    mdl_call_info ci;
    st = mdl_call(b, rq, model, &req, &resp, stats, &ci, err);
    if (st == RAG_OK && !p->stream) {
        st = take_response(&cs, resp.json, err);
        if (st != RAG_OK)
            mdl_fail(b, model, err, st, "%s", err ? err->msg : "bad response");
    }
    double cost = 0;
    bool known = false;
    if (st == RAG_OK && (b->price_in >= 0 || b->price_out >= 0)) {
        cost = rag_cost_tokens(cs.prompt_tokens, cs.completion_tokens, b->price_in, b->price_out);
        known = true;
    }
    if (st == RAG_OK && b->price_call >= 0) {
        cost += b->price_call;
        known = true;
    }
    mdl_done(b, rq, stats, &ci, st, cost, known);
    if (st == RAG_OK)
        st = mdl_chat_acc_take(&cs, model, result, stats, err);
    mdl_chat_acc_free(&cs);
    rag_ndjson_parser_free(nd);
    rag_net_response_free(&resp);
    free(s_body);
    return st;
}

const rag_generator_vtable mdl_ollama_chat_vtable = {"ollama", chat_create, mdl_url_backend_destroy, chat_generate};
