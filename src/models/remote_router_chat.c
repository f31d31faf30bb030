/* The OpenAI chat-completions protocol (HF router and any OpenAI-compatible server) and the
 * generator "huggingface" (the HF Inference Providers router):
 *   POST {base}/v1/chat/completions {"model","messages","max_tokens","temperature","stream",
 *   "stream_options":{"include_usage":true}} -> choices[0].message.content + usage, or an SSE stream
 *   of choices[0].delta.content chunks, a usage chunk and [DONE]. x-inference-provider names the
 *   provider that served. Router calls without a configured price are priced from the router's
 *   /v1/models catalogue. */
#include "models/models_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_TIMEOUT_MS 10000.0

rag_status mdl_messages_json(const mdl_backend *b, const char *model, const rag_chat_message *msgs, size_t n,
                             json_t **out, rag_err *err)
{
    *out = NULL;
    if (n == 0 || !msgs)
        return mdl_fail(b, model, err, RAG_E_BAD_INPUT, "no messages to send");
    json_t *a = json_array();
    if (!a)
        return mdl_fail(b, model, err, RAG_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].role || !*msgs[i].role || !msgs[i].content) {
            json_decref(a);
            return mdl_fail(b, model, err, RAG_E_BAD_INPUT, "message %zu has no %s", i,
                            !msgs[i].role || !*msgs[i].role ? "role" : "content");
        }
        json_t *role = mdl_json_text(msgs[i].role), *content = mdl_json_text(msgs[i].content);
        json_t *m = role && content ? json_pack("{s:o, s:o}", "role", role, "content", content) : NULL;
        if (!m) {
            if (!role || !content) {
                json_decref(role);
                json_decref(content);
            }
            json_decref(a);
            return mdl_fail(b, model, err, RAG_E_BAD_INPUT, "message %zu %s is not valid UTF-8", i,
                            !role ? "role" : "content");
        }
        if (json_array_append_new(a, m) != 0) {
            json_decref(a);
            return mdl_fail(b, model, err, RAG_E_NOMEM, "out of memory");
        }
    }
    *out = a;
    return RAG_OK;
}

typedef mdl_chat_acc chat_state;

static int64_t int_field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : 0;
}

static void take_usage(chat_state *s, const json_t *usage)
{
    if (!json_is_object(usage))
        return;
    s->prompt_tokens = int_field(usage, "prompt_tokens");
    s->completion_tokens = int_field(usage, "completion_tokens");
}

static void take_finish(chat_state *s, const json_t *choice)
{
    const char *fr = json_string_value(json_object_get(choice, "finish_reason"));
    if (!fr)
        return;
    snprintf(s->finish, sizeof s->finish, "%s", fr);
    size_t bad; /* a cut inside a UTF-8 sequence: end before it */
    if (!rag_utf8_valid(s->finish, strlen(s->finish), &bad))
        s->finish[bad] = '\0';
}

static rag_status append_text(chat_state *s, const char *t, size_t len, bool deliver, rag_err *err)
{
    if (rag_buf_append(&s->text, t, len) != RAG_OK)
        return rag_err_set(err, RAG_E_TOO_LARGE, "generated text exceeds %d bytes", RAG_MODELS_MAX_TEXT);
    if (deliver && s->on_token && len > 0)
        s->on_token(s->ud, t, len);
    return RAG_OK;
}

/* One SSE event: a chat.completion.chunk, a usage chunk or a mid-stream error. */
static rag_status on_event(void *ud, const rag_sse_event *ev, rag_err *err)
{
    chat_state *s = ud;
    json_error_t je;
    json_t *v = json_loadb(ev->data, ev->data_len, 0, &je);
    if (!v)
        return rag_err_set(err, RAG_E_UPSTREAM, "malformed stream chunk: %s", je.text);
    char msg[RAG_NET_ERRMSG_MAX];
    rag_status st = RAG_OK;
    if (rag_net_stream_error(v, s->b->api_key, msg, sizeof msg)) {
        st = rag_err_set(err, RAG_E_UPSTREAM, "mid-stream error: %s", msg);
    } else if (!json_is_object(v)) {
        st = rag_err_set(err, RAG_E_UPSTREAM, "stream chunk is not a JSON object");
    } else {
        const json_t *choice = json_array_get(json_object_get(v, "choices"), 0);
        const json_t *content = json_object_get(json_object_get(choice, "delta"), "content");
        if (json_is_string(content))
            st = append_text(s, json_string_value(content), json_string_length(content), true, err);
        take_finish(s, choice);
        take_usage(s, json_object_get(v, "usage"));
    }
    json_decref(v);
    return st;
}

/* A complete (non-stream) chat.completion. */
static rag_status take_response(chat_state *s, const json_t *v, rag_err *err)
{
    char msg[RAG_NET_ERRMSG_MAX];
    if (rag_net_stream_error(v, s->b->api_key, msg, sizeof msg))
        return rag_err_set(err, RAG_E_UPSTREAM, "error in a 2xx response: %s", msg);
    const json_t *choice = json_array_get(json_object_get(v, "choices"), 0);
    const json_t *content = json_object_get(json_object_get(choice, "message"), "content");
    if (!json_is_string(content))
        return rag_err_set(err, RAG_E_UPSTREAM, "response has no choices[0].message.content string");
    rag_status st = append_text(s, json_string_value(content), json_string_length(content), false, err);
    take_finish(s, choice);
    take_usage(s, json_object_get(v, "usage"));
    return st;
}

rag_status mdl_chat_parse_response(const mdl_backend *b, const json_t *v, rag_gen_result *result, rag_err *err)
{
    return mdl_chat_parse_with(b, v, take_response, result, err);
}

rag_status mdl_chat_parse_sse(const mdl_backend *b, const char *body, size_t len, rag_gen_token_fn on_token, void *ud,
                              rag_gen_result *result, rag_err *err)
{
    memset(result, 0, sizeof *result);
    chat_state cs;
    mdl_chat_acc_init(&cs, b, on_token, ud, true);
    rag_sse_parser *sse = NULL;
    rag_status st = rag_sse_parser_create(0, on_event, &cs, &sse, err);
    if (st == RAG_OK)
        st = rag_sse_feed(sse, body, len, err);
    if (st == RAG_OK)
        st = rag_sse_finish(sse, err);
    if (st != RAG_OK)
        mdl_fail(b, NULL, err, st, "%s", err ? err->msg : "bad stream");
    else
        st = mdl_chat_acc_take(&cs, NULL, result, NULL, err);
    rag_sse_parser_free(sse);
    mdl_chat_acc_free(&cs);
    return st;
}

rag_status mdl_chat_completions(const mdl_backend *b, rag_models_request *rq, const char *model, const char *url,
                                const rag_chat_message *msgs, size_t n, const rag_gen_params *p,
                                rag_gen_token_fn on_token, void *ud, rag_price_catalog *catalog,
                                const char *catalog_base, rag_gen_result *result, rag_call_stats *stats,
                                rag_err *err)
{
    json_t *jm;
    rag_status st = mdl_messages_json(b, model, msgs, n, &jm, err);
    if (st != RAG_OK)
        return st;
    json_t *body = json_pack("{s:s, s:o, s:b}", "model", model, "messages", jm, "stream", p->stream);
    if (body && p->max_tokens > 0)
        json_object_set_new(body, "max_tokens", json_integer(p->max_tokens));
    if (body && p->temperature >= 0)
        json_object_set_new(body, "temperature", json_real(p->temperature));
    if (body && p->stream)
        json_object_set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1));
    size_t len = 0;
    char *s_body = body ? mdl_dump(body, &len) : NULL;
    json_decref(body);
    if (!s_body)
        return mdl_fail(b, model, err, RAG_E_NOMEM, "out of memory building the request");

    chat_state cs;
    mdl_chat_acc_init(&cs, b, on_token, ud, p->stream);
    rag_sse_parser *sse = NULL;
    rag_net_request req;
    memset(&req, 0, sizeof req);
    req.method = RAG_HTTP_POST;
    req.url = url;
    req.body = s_body;
    req.body_len = len;
    if (p->stream) {
        st = rag_sse_parser_create(0, on_event, &cs, &sse, err);
        if (st != RAG_OK) {
            free(s_body);
            mdl_chat_acc_free(&cs);
            return st;
        }
        req.on_line = rag_sse_on_line;
        req.on_end = rag_sse_on_end;
        req.stream_ud = sse;
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
    if (st == RAG_OK) {
        if (b->price_in >= 0 || b->price_out >= 0) {
            cost = rag_cost_tokens(cs.prompt_tokens, cs.completion_tokens, b->price_in, b->price_out);
            known = true;
        } else if (catalog && catalog_base) {
            double pin = 0, pout = 0;
            rag_err ce;
            double dl = mdl_now(b->env) + (b->timeout_ms < CATALOG_TIMEOUT_MS ? b->timeout_ms : CATALOG_TIMEOUT_MS);
            if (rag_price_catalog_lookup(catalog, b->env->net, catalog_base, dl, model, resp.provider, &pin, &pout,
                                         NULL, 0, NULL, &ce) == RAG_OK) {
                cost = rag_cost_tokens(cs.prompt_tokens, cs.completion_tokens, pin, pout);
                known = true;
            } else {
                rag_net_redact(ce.msg, b->api_key);
                rag_log(RAG_LOG_INFO, "%s %s: cost unknown: %s", b->type, model, ce.msg);
            }
        }
        if (b->price_call >= 0) {
            cost += b->price_call;
            known = true;
        }
    }
    mdl_done(b, rq, stats, &ci, st, cost, known);

    if (st == RAG_OK)
        st = mdl_chat_acc_take(&cs, model, result, stats, err);
    if (st == RAG_OK && resp.provider[0] && !(result->provider = rag_strdup(resp.provider))) {
        rag_gen_result_free(result);
        st = mdl_fail(b, model, err, RAG_E_NOMEM, "out of memory");
    }
    mdl_chat_acc_free(&cs); /* a partial answer of a failed call is discarded */
    rag_sse_parser_free(sse);
    rag_net_response_free(&resp);
    free(s_body);
    return st;
}

/* "{base}/chat/completions" when base ends with /v1, else "{base}/v1/chat/completions". */
char *mdl_chat_url(const mdl_backend *b)
{
    size_t n = strlen(b->base);
    bool v1 = n >= 3 && !strcmp(b->base + n - 3, "/v1");
    return mdl_url(b, "%s", v1 ? "/chat/completions" : "/v1/chat/completions");
}

/* ---- generator "huggingface" ---- */

typedef struct router {
    mdl_backend b;
    char *url;                   /* owned */
    char *catalog_base;          /* owned: base without a trailing /v1 */
    rag_price_catalog *own;      /* owned when env->catalog is NULL */
} router;

static void router_destroy(void *ctx)
{
    router *r = ctx;
    if (!r)
        return;
    mdl_backend_fini(&r->b);
    free(r->url);
    free(r->catalog_base);
    rag_price_catalog_free(r->own);
    free(r);
}

static rag_status router_create(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err)
{
    *ctx = NULL;
    router *r = calloc(1, sizeof *r);
    if (!r)
        return rag_err_set(err, RAG_E_NOMEM, "generator huggingface: out of memory");
    rag_status st = mdl_backend_init(&r->b, "generator", cfg, env, RAG_MODELS_HF_BASE, 0, err);
    if (st != RAG_OK) {
        free(r);
        return st;
    }
    size_t n = strlen(r->b.base);
    r->url = mdl_chat_url(&r->b);
    r->catalog_base = rag_strndup(r->b.base, n >= 3 && !strcmp(r->b.base + n - 3, "/v1") ? n - 3 : n);
    if (!r->url || !r->catalog_base) {
        router_destroy(r);
        return rag_err_set(err, RAG_E_NOMEM, "generator huggingface: out of memory");
    }
    if (!env || !env->catalog) {
        st = rag_price_catalog_create(&r->own, err);
        if (st != RAG_OK) {
            router_destroy(r);
            return st;
        }
    }
    *ctx = r;
    return RAG_OK;
}

static rag_status router_generate(void *ctx, rag_models_request *rq, const char *model, const rag_chat_message *msgs,
                                  size_t n, const rag_gen_params *p, rag_gen_token_fn on_token, void *ud,
                                  rag_gen_result *result, rag_call_stats *stats, rag_err *err)
{
    router *r = ctx;
    rag_price_catalog *cat = r->b.env && r->b.env->catalog ? r->b.env->catalog : r->own;
    return mdl_chat_completions(&r->b, rq, model, r->url, msgs, n, p, on_token, ud, cat, r->catalog_base, result,
                                stats, err);
}

const rag_generator_vtable mdl_router_chat_vtable = {"huggingface", router_create, router_destroy, router_generate};
