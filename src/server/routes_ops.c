/* Operational routes: /healthz, /readyz, /metrics, /v1/models and the embedded web assets; the
 * metric families the server exposes. */
#include "server/server_core.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum MHD_Result srv_route_healthz(srv_request *r)
{
    return srv_respond_json(r, 200, rag_strdup("{\"status\":\"ok\"}"));
}

enum MHD_Result srv_route_readyz(srv_request *r)
{
    rag_server_t *s = r->srv;
    rag_engine *e = srv_engine_acquire(s);
    rag_store_stats_t st;
    rag_err err;
    rag_err_clear(&err);
    rag_status rs = rag_store_stats(rag_engine_store(e), &st, &err);
    srv_engine_release(s, e);
    if (rs != RAG_OK)
        return srv_respond_jansson(r, 503,
                                   json_pack("{sss{ssss}}", "status", "not ready", "error", "code", "store_unavailable",
                                             "message", err.msg));
    return srv_respond_jansson(r, 200,
                               json_pack("{sssIs{ssssss}s{ssss}}", "status", "ready", "documents",
                                         (json_int_t)st.documents, "chains", "embedder", s->chain_embedder, "reranker",
                                         s->chain_reranker, "generator", s->chain_generator, "access", "reads",
                                         srv_guard_name(s->guard_reads), "writes", srv_guard_name(s->guard_writes)));
}

enum MHD_Result srv_route_models(srv_request *r)
{
    return srv_respond_jansson(
        r, 200, json_pack("{ss s[{ss ss ss sI}]}", "object", "list", "data", "id", "ragc", "object", "model",
                          "owned_by", "ragc", "created", (json_int_t)0));
}

/* Resident set size in bytes from /proc/self/statm (second field, in pages); -1 if unknown. */
static double resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (double)resident * (double)page : -1;
}

/* Breaker states and transitions, read from the net client at scrape time. */
#define SRV_CIRCUIT_BACKENDS 32
typedef struct circuit_scrape {
    rag_metric_t *moves; /* ragc_circuit_transitions_total{backend,model,to} */
    char backend[SRV_CIRCUIT_BACKENDS][64];
    int worst[SRV_CIRCUIT_BACKENDS]; /* 0 closed, 1 half-open, 2 open (the gauge's scale) */
    size_t n;
} circuit_scrape;

static void circuit_visit(void *ud, const char *backend, const char *model, rag_net_breaker_state state,
                          const rag_net_breaker_transitions *t)
{
    circuit_scrape *cs = ud;
    const char *to_open[] = {backend, model, "open"}, *to_half[] = {backend, model, "half_open"},
               *to_closed[] = {backend, model, "closed"};
    rag_metrics_raise(cs->moves, to_open, (double)t->opened);
    rag_metrics_raise(cs->moves, to_half, (double)t->half_opened);
    rag_metrics_raise(cs->moves, to_closed, (double)t->closed);
    int v = state == RAG_NET_BREAKER_OPEN ? 2 : state == RAG_NET_BREAKER_HALF_OPEN ? 1 : 0;
    size_t i = 0;
    while (i < cs->n && strcmp(cs->backend[i], backend) != 0)
        i++;
    if (i == cs->n) {
        if (cs->n == SRV_CIRCUIT_BACKENDS)
            return;
        snprintf(cs->backend[cs->n], sizeof cs->backend[0], "%s", backend);
        cs->worst[cs->n++] = v;
    } else if (v > cs->worst[i]) {
        cs->worst[i] = v;
    }
}

static void circuit_scrape_all(rag_server_t *s)
{
    circuit_scrape cs;
    cs.moves = rag_metrics_find(s->metrics, "ragc_circuit_transitions_total");
    cs.n = 0;
    rag_metric_t *state = rag_metrics_find(s->metrics, "ragc_circuit_state");
    rag_net_client_breakers(rag_backends_net(s->backends), circuit_visit, &cs);
    for (size_t i = 0; i < cs.n; i++) {
        const char *b[] = {cs.backend[i]};
        rag_metrics_set(state, b, cs.worst[i]);
    }
}

enum MHD_Result srv_route_metrics(srv_request *r)
{
    rag_server_t *s = r->srv;
    circuit_scrape_all(s);
    rag_engine *e = srv_engine_acquire(s);
    rag_store_stats_t st;
    if (rag_store_stats(rag_engine_store(e), &st, NULL) == RAG_OK) {
        rag_metrics_set(s->m.documents, NULL, (double)st.documents);
        rag_metrics_set(s->m.chunks, NULL, (double)st.chunks);
    }
    srv_engine_release(s, e);
    double rss = resident_bytes();
    if (rss >= 0)
        rag_metrics_set(s->m.rss, NULL, rss);
    rag_metrics_set(s->m.in_flight, NULL, (double)atomic_load(&s->in_flight));
    rag_buf b;
    rag_buf_init(&b, 64u << 20);
    if (rag_metrics_render(s->metrics, &b) != RAG_OK) {
        rag_buf_free(&b);
        return srv_respond_error(r, 500, "internal", "cannot render the metrics");
    }
    size_t len = b.len;
    char *body = rag_buf_steal(&b);
    if (!body)
        return srv_respond_error(r, 500, "internal", "out of memory");
    return srv_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
}

enum MHD_Result srv_route_asset(srv_request *r)
{
    const srv_asset *a = r->match.asset;
    char etag[24];
    snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)rag_hash64(a->data, a->len));
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool not_modified = inm && strstr(inm, etag) != NULL;
    struct MHD_Response *resp = MHD_create_response_from_buffer(not_modified ? 0 : a->len, (void *)a->data,
                                                                MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, srv_content_type_for(a->path));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    return srv_queue(r, not_modified ? 304 : 200, resp);
}

/* ---- metric families ---- */

rag_status srv_metrics_init(rag_server_t *s, rag_err *err)
{
    rag_metrics_t *m = s->metrics;
    static const char *const req_l[] = {"route", "method", "status"};
    static const char *const route_l[] = {"route"};
    static const char *const stage_l[] = {"stage"};
    static const char *const gen_l[] = {"generator"};
    static const char *const backend_status_l[] = {"backend", "status"};
    static const char *const backend_l[] = {"backend"};
    static const char *const kind_l[] = {"kind"};
    static const char *const tokens_l[] = {"backend", "direction"};
    rag_metric_t *circuit;
    rag_metric_t **calls = &s->m.calls, **retries = &s->m.retries, **fallbacks = &s->m.fallbacks;
    rag_metric_t **hits = &s->m.cache_hits, **misses = &s->m.cache_misses, **tokens = &s->m.tokens;
    rag_metric_t **cost = &s->m.cost;
    rag_status st = RAG_OK;
#define REG(call)                                                                                                      \
    do {                                                                                                               \
        if (st == RAG_OK)                                                                                              \
            st = (call);                                                                                               \
    } while (0)
    REG(rag_metrics_counter(m, "ragc_http_requests_total", "HTTP requests by route pattern, method and status.", req_l,
                            3, &s->m.requests, err));
    REG(rag_metrics_histogram(m, "ragc_http_request_duration_seconds",
                              "Time from the request line to the end of the response, seconds.", route_l, 1, NULL, 0,
                              &s->m.duration, err));
    REG(rag_metrics_gauge(m, "ragc_http_requests_in_flight", "Requests being served.", NULL, 0, &s->m.in_flight, err));
    static const char *const phase_l[] = {"phase"};
    REG(rag_metrics_counter(m, "ragc_http_connections_timed_out_total",
                            "Connections closed by the server's deadlines, by what did not arrive in time "
                            "(headers, body, keepalive).",
                            phase_l, 1, &s->m.timeouts, err));
    REG(rag_metrics_histogram(m, "ragc_stage_duration_seconds",
                              "Time per pipeline stage of an answer (retriever, embedder, reranker, generator), seconds.",
                              stage_l, 1, NULL, 0, &s->m.stage, err));
    REG(rag_metrics_counter(m, "ragc_answers_total", "Answers produced, by the generator that served them.", gen_l, 1,
                            &s->m.answers, err));
    REG(rag_metrics_gauge(m, "ragc_documents", "Documents in the store.", NULL, 0, &s->m.documents, err));
    REG(rag_metrics_gauge(m, "ragc_chunks", "Chunks in the store.", NULL, 0, &s->m.chunks, err));
    REG(rag_metrics_gauge(m, "ragc_process_resident_memory_bytes", "Resident set size of the process, bytes.", NULL, 0,
                          &s->m.rss, err));
    REG(rag_metrics_counter(m, "ragc_remote_calls_total", "Calls to remote model backends, by backend and outcome.",
                            backend_status_l, 2, calls, err));
    REG(rag_metrics_counter(m, "ragc_remote_retries_total", "Retried remote calls, by backend.", backend_l, 1, retries,
                            err));
    REG(rag_metrics_gauge(m, "ragc_circuit_state", "Circuit breaker state per backend: 0 closed, 1 half-open, 2 open.",
                          backend_l, 1, &circuit, err));
    static const char *const moves_l[] = {"backend", "model", "to"};
    REG(rag_metrics_counter(m, "ragc_circuit_transitions_total",
                            "Circuit breaker state changes per backend and model, by the state entered "
                            "(open, half_open, closed).",
                            moves_l, 3, NULL, err));
    REG(rag_metrics_counter(m, "ragc_fallbacks_total", "Times a chain moved to its next backend, by stage.", stage_l, 1,
                            fallbacks, err));
    REG(rag_metrics_counter(m, "ragc_cache_hits_total", "Content cache hits, by kind.", kind_l, 1, hits, err));
    REG(rag_metrics_counter(m, "ragc_cache_misses_total", "Content cache misses, by kind.", kind_l, 1, misses, err));
    REG(rag_metrics_counter(m, "ragc_tokens_total", "Tokens sent to and received from remote models.", tokens_l, 2,
                            tokens, err));
    REG(rag_metrics_counter(m, "ragc_cost_usd_total", "Estimated spend on remote models, USD.", backend_l, 1, cost,
                            err));
#undef REG
    if (st != RAG_OK)
        return st;
    /* Zero series so dashboards see every family before the first remote call: the stages, the
     * cache kinds, and every remote backend the configuration names. */
    static const char *const phases[] = {"headers", "body", "keepalive"};
    for (size_t i = 0; i < 3; i++) {
        const char *v[] = {phases[i]};
        rag_metrics_touch(s->m.timeouts, v);
    }
    static const char *const stages[] = {"retriever", "embedder", "reranker", "generator"};
    for (size_t i = 0; i < 4; i++) {
        const char *v[] = {stages[i]};
        rag_metrics_touch(s->m.stage, v);
        if (i > 0)
            rag_metrics_touch(*fallbacks, v);
    }
    for (int k = 0; k < RAG_CACHE_KINDS; k++) {
        const char *v[] = {rag_cache_kind_str((rag_cache_kind)k)};
        rag_metrics_touch(*hits, v);
        rag_metrics_touch(*misses, v);
    }
    const char *gen[] = {s->chain_generator};
    rag_metrics_touch(s->m.answers, gen);
    const rag_config *c = s->cfg;
    const struct {
        const rag_backend_config *chain;
        size_t n;
    } chains[] = {{c->embedder.chain, c->embedder.n_chain},
                  {c->reranker.chain, c->reranker.n_chain},
                  {c->answer_generator.chain, c->answer_generator.n_chain}};
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < chains[k].n; i++) {
            const char *type = chains[k].chain[i].type;
            if (!strcmp(type, "none") || !strcmp(type, "extractive"))
                continue;
            const char *b[] = {type};
            const char *ok[] = {type, "ok"}, *failed[] = {type, "error"};
            const char *in[] = {type, "input"}, *outd[] = {type, "output"};
            rag_metrics_touch(*calls, ok);
            rag_metrics_touch(*calls, failed);
            rag_metrics_touch(*retries, b);
            rag_metrics_touch(circuit, b);
            rag_metrics_touch(*tokens, in);
            rag_metrics_touch(*tokens, outd);
            rag_metrics_touch(*cost, b);
        }
    return RAG_OK;
}

/* Counts one chain's remote calls, retries, fallbacks, cache lookups, tokens and cost. */
static void metrics_chain(rag_server_t *s, const rag_chain_report *r, const char *stage, rag_cache_kind kind,
                          bool cached_stage)
{
    if (r->n_members == 0)
        return;
    for (size_t i = 0; i < r->n_members; i++) {
        const rag_chain_member_report *m = &r->members[i];
        if (m->builtin)
            continue;
        const char *b[] = {m->type};
        if (m->requests > 0) {
            const char *v[] = {m->type, m->status == RAG_OK ? "ok" : "error"};
            rag_metrics_inc(s->m.calls, v, m->requests);
        }
        if (m->attempts > m->requests)
            rag_metrics_inc(s->m.retries, b, m->attempts - m->requests);
        const char *in[] = {m->type, "input"}, *out[] = {m->type, "output"};
        if (m->tokens_in > 0)
            rag_metrics_inc(s->m.tokens, in, (double)m->tokens_in);
        if (m->tokens_out > 0)
            rag_metrics_inc(s->m.tokens, out, (double)m->tokens_out);
        if (m->cost_usd > 0)
            rag_metrics_inc(s->m.cost, b, m->cost_usd);
    }
    /* Members tried before the one that served (or all of them, when none did) fell back. */
    size_t moved = r->served >= 0 ? (size_t)r->served : r->n_members;
    if (moved > 0) {
        const char *v[] = {stage};
        rag_metrics_inc(s->m.fallbacks, v, (double)moved);
    }
    if (cached_stage) {
        const char *k[] = {rag_cache_kind_str(kind)};
        if (r->cache_hits)
            rag_metrics_inc(s->m.cache_hits, k, (double)r->cache_hits);
        if (r->cache_misses)
            rag_metrics_inc(s->m.cache_misses, k, (double)r->cache_misses);
    }
}

void srv_metrics_answer(rag_server_t *s, const rag_answer *a)
{
    metrics_chain(s, &a->embedder_report, "embedder", RAG_CACHE_EMBEDDING, true);
    metrics_chain(s, &a->rerank_report, "reranker", RAG_CACHE_RERANK, true);
    metrics_chain(s, &a->generator_report, "generator", RAG_CACHE_EMBEDDING, false);
    for (size_t i = 0; i < a->n_stages; i++) {
        const rag_stage_report *st = &a->stages[i];
        if (!strcmp(st->backend, "none") || !strcmp(st->backend, "off"))
            continue; /* a stage that did not run */
        const char *v[] = {st->stage};
        rag_metrics_observe(s->m.stage, v, st->ms / 1000.0);
        if (!strcmp(st->stage, "generator")) {
            const char *g[] = {st->backend};
            rag_metrics_inc(s->m.answers, g, 1);
        }
    }
}
