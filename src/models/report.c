/* The chain report: what each member of a chain did, and its JSON rendering. */
#include "models/models_internal.h"

#include <stdlib.h>
#include <string.h>

void rag_chain_report_init(rag_chain_report *r)
{
    if (!r)
        return;
    memset(r, 0, sizeof *r);
    r->stage = "";
    r->served = -1;
}

void rag_chain_report_free(rag_chain_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_members; i++) {
        rag_chain_member_report *m = &r->members[i];
        free(m->type);
        free(m->reason);
        free(m->provider);
        free(m->models);
    }
    free(r->members);
    free(r->served_by);
    free(r->served_model);
    rag_chain_report_init(r);
}

rag_chain_member_report *mdl_report_add(rag_chain_report *r, size_t index, const char *type)
{
    rag_chain_member_report *grown = realloc(r->members, (r->n_members + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    r->members = grown;
    rag_chain_member_report *m = &grown[r->n_members];
    memset(m, 0, sizeof *m);
    m->index = index;
    m->type = rag_strdup(type ? type : "");
    if (!m->type)
        return NULL;
    r->n_members++;
    return m;
}

rag_status mdl_report_fill(rag_chain_member_report *m, rag_status st, const char *reason, const rag_call_stats *s)
{
    m->status = st;
    free(m->reason);
    m->reason = rag_strdup(st == RAG_OK || !reason ? "" : reason);
    if (!m->reason)
        return RAG_E_NOMEM;
    if (!s)
        return RAG_OK;
    m->ms = s->ms;
    m->attempts = s->attempts;
    m->requests = s->requests;
    m->http_status = s->http_status;
    free(m->provider);
    m->provider = s->provider[0] ? rag_strdup(s->provider) : NULL;
    m->tokens_in = s->tokens_in;
    m->tokens_out = s->tokens_out;
    m->cost_usd = s->cost_usd;
    m->cost_known = s->cost_known;
    free(m->models);
    m->models = NULL;
    m->n_models = 0;
    if (s->n_tries > 0) {
        m->models = malloc(s->n_tries * sizeof *m->models);
        if (!m->models)
            return RAG_E_NOMEM;
        memcpy(m->models, s->tries, s->n_tries * sizeof *m->models);
        m->n_models = s->n_tries;
    }
    return (s->provider[0] && !m->provider) ? RAG_E_NOMEM : RAG_OK;
}

/* json_object_set_new that tracks failure. */
static void put(json_t *o, const char *k, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(o, k, v) != 0)
        *ok = false;
}

/* A JSON string of s; bytes of invalid UTF-8 (header values, say) become '?'. */
static json_t *text(const char *s)
{
    size_t n = strlen(s);
    if (rag_utf8_valid(s, n, NULL))
        return json_stringn(s, n);
    char *c = rag_strdup(s);
    if (!c)
        return NULL;
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    json_t *v = json_string(c);
    free(c);
    return v;
}

static json_t *str_or_null(const char *s)
{
    return s ? text(s) : json_null();
}

static json_t *model_json(const rag_model_try *t, bool *ok)
{
    json_t *o = json_object();
    if (!o) {
        *ok = false;
        return NULL;
    }
    put(o, "model", t->model[0] ? text(t->model) : json_null(), ok);
    put(o, "status", json_string(rag_status_str(t->status)), ok);
    put(o, "reason", text(t->reason), ok);
    put(o, "ms", json_real(t->ms), ok);
    put(o, "attempts", json_integer(t->attempts), ok);
    put(o, "http_status", json_integer(t->http_status), ok);
    put(o, "request_id", t->request_id[0] ? text(t->request_id) : json_null(), ok);
    return o;
}

static json_t *member_json(const rag_chain_member_report *m, bool *ok)
{
    json_t *o = json_object(), *models = json_array();
    if (!o || !models) {
        json_decref(o);
        json_decref(models);
        *ok = false;
        return NULL;
    }
    put(o, "index", json_integer((json_int_t)m->index), ok);
    put(o, "type", text(m->type ? m->type : ""), ok);
    put(o, "builtin", json_boolean(m->builtin), ok);
    put(o, "status", json_string(rag_status_str(m->status)), ok);
    put(o, "reason", text(m->reason ? m->reason : ""), ok);
    put(o, "ms", json_real(m->ms), ok);
    put(o, "attempts", json_integer(m->attempts), ok);
    put(o, "requests", json_integer(m->requests), ok);
    put(o, "http_status", json_integer(m->http_status), ok);
    put(o, "provider", str_or_null(m->provider), ok);
    put(o, "tokens_in", json_integer(m->tokens_in), ok);
    put(o, "tokens_out", json_integer(m->tokens_out), ok);
    put(o, "cost_usd", json_real(m->cost_usd), ok);
    put(o, "cost_known", json_boolean(m->cost_known), ok);
    put(o, "cache_hits", json_integer((json_int_t)m->cache_hits), ok);
    put(o, "cache_misses", json_integer((json_int_t)m->cache_misses), ok);
    for (size_t i = 0; i < m->n_models; i++) {
        json_t *mj = model_json(&m->models[i], ok);
        if (!mj || json_array_append_new(models, mj) != 0)
            *ok = false;
    }
    put(o, "models", models, ok);
    return o;
}

rag_status rag_chain_report_to_json(const rag_chain_report *r, json_t **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "chain report: out is NULL");
    *out = NULL;
    if (!r)
        return rag_err_set(err, RAG_E_BAD_INPUT, "chain report: report is NULL");
    bool ok = true;
    json_t *o = json_object(), *members = json_array();
    if (!o || !members) {
        json_decref(o);
        json_decref(members);
        return rag_err_set(err, RAG_E_NOMEM, "chain report: out of memory");
    }
    bool builtin = r->served >= 0 && (size_t)r->served < r->n_members && r->members[r->served].builtin;
    put(o, "stage", json_string(r->stage ? r->stage : ""), &ok);
    put(o, "served_by", str_or_null(r->served_by), &ok);
    put(o, "served_index", r->served >= 0 ? json_integer(r->served) : json_null(), &ok);
    put(o, "served_model", str_or_null(r->served_model), &ok);
    put(o, "builtin", json_boolean(builtin), &ok);
    put(o, "ms", json_real(r->total_ms), &ok);
    put(o, "tokens_in", json_integer(r->tokens_in), &ok);
    put(o, "tokens_out", json_integer(r->tokens_out), &ok);
    put(o, "cost_usd", json_real(r->cost_usd), &ok);
    put(o, "cache_hits", json_integer((json_int_t)r->cache_hits), &ok);
    put(o, "cache_misses", json_integer((json_int_t)r->cache_misses), &ok);
    for (size_t i = 0; i < r->n_members; i++) {
        json_t *mj = member_json(&r->members[i], &ok);
        if (!mj || json_array_append_new(members, mj) != 0)
            ok = false;
    }
    put(o, "members", members, &ok);
    if (!ok) {
        json_decref(o);
        return rag_err_set(err, RAG_E_NOMEM, "chain report: out of memory rendering JSON");
    }
    *out = o;
    return RAG_OK;
}
