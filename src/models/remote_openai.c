/* Generator "openai": any OpenAI-compatible chat-completions server (vLLM, llama.cpp server,
 * TGI, OpenAI, ...) at base_url: POST {base}/v1/chat/completions, or {base}/chat/completions when
 * base_url already ends with /v1. Same protocol as the HF router (remote_router_chat.c); priced
 * only from the config (price_*). model is required. */
#include "models/models_internal.h"

#include <stdlib.h>

typedef struct openai {
    mdl_backend b;
    char *url; /* owned */
} openai;

static void openai_destroy(void *ctx)
{
    openai *o = ctx;
    if (!o)
        return;
    mdl_backend_fini(&o->b);
    free(o->url);
    free(o);
}

static rag_status openai_create(const rag_backend_config *cfg, const rag_models_env *env, void **ctx, rag_err *err)
{
    *ctx = NULL;
    openai *o = calloc(1, sizeof *o);
    if (!o)
        return rag_err_set(err, RAG_E_NOMEM, "generator openai: out of memory");
    rag_status st = mdl_backend_init(&o->b, "generator", cfg, env, RAG_MODELS_OPENAI_BASE, 0, err);
    if (st != RAG_OK) {
        free(o);
        return st;
    }
    o->url = mdl_chat_url(&o->b);
    if (!o->url) {
        openai_destroy(o);
        return rag_err_set(err, RAG_E_NOMEM, "generator openai: out of memory");
    }
    *ctx = o;
    return RAG_OK;
}

static rag_status openai_generate(void *ctx, rag_models_request *rq, const char *model, const rag_chat_message *msgs,
                                  size_t n, const rag_gen_params *p, rag_gen_token_fn on_token, void *ud,
                                  rag_gen_result *result, rag_call_stats *stats, rag_err *err)
{
    openai *o = ctx;
    return mdl_chat_completions(&o->b, rq, model, o->url, msgs, n, p, on_token, ud, NULL, NULL, result, stats, err);
}

const rag_generator_vtable mdl_openai_chat_vtable = {"openai", openai_create, openai_destroy, openai_generate};
