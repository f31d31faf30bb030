/* Query routes: POST /v1/ask, POST /v1/chat/completions (OpenAI-compatible), GET /v1/search, and
 * the server-sent-event streams of the first two: the answer runs on a stream worker (stream.c)
 * and each token the generator produces becomes an event as it arrives. */
#include "server/server_core.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_K_ASK 100
#define MAX_K_SEARCH 1000

/* ---- request parsing ---- */

/* Parses the JSON body into an object. Responds 400 and returns NULL on failure. */
static json_t *parse_body(srv_request *r, enum MHD_Result *ret)
{
    json_error_t je;
    const char *data = r->body.data ? r->body.data : "";
    json_t *root = json_loadb(data, r->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        *ret = srv_respond_error(r, 400, "bad_json", "request body is not valid JSON: %s (line %d, column %d)",
                                 je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *ret = srv_respond_error(r, 400, "bad_json", "request body must be a JSON object");
        return NULL;
    }
    return root;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

/* Checks a question: non-empty, no NUL, at most SRV_MAX_QUESTION bytes. Responds 400 if not. */
static bool check_question(srv_request *r, const char *field, const char *q, size_t len, enum MHD_Result *ret)
{
    if (strlen(q) != len)
        *ret = srv_respond_error(r, 400, "invalid_field", "%s contains a NUL character", field);
    else if (len > SRV_MAX_QUESTION)
        *ret = srv_respond_error(r, 400, "invalid_field", "%s is %zu bytes; the limit is %d", field, len,
                                 SRV_MAX_QUESTION);
    else if (blank(q))
        *ret = srv_respond_error(r, 400, "invalid_field", "%s is empty", field);
    else
        return true;
    return false;
}

/* Optional boolean "stream". Responds 400 if present and not a boolean. */
static bool get_stream(srv_request *r, json_t *root, bool *stream, enum MHD_Result *ret)
{
    json_t *v = json_object_get(root, "stream");
    *stream = false;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        *ret = srv_respond_error(r, 400, "invalid_field", "\"stream\" must be true or false");
        return false;
    }
    *stream = json_is_true(v);
    return true;
}

/* Runs rag_ask on a pooled engine and counts the answer. */
static rag_status run_ask(srv_request *r, const char *question, size_t k, rag_answer *ans, rag_err *err)
{
    rag_server_t *s = r->srv;
    rag_ask_params ap = rag_ask_default_params();
    ap.k = k;
    rag_engine *e = srv_engine_acquire(s);
    rag_status st = rag_ask(e, question, &ap, ans, err);
    srv_engine_release(s, e);
    if (st == RAG_OK)
        srv_metrics_answer(s, ans);
    return st;
}

/* ---- answers as JSON and as OpenAI chat objects ---- */

/* The answer JSON exactly as `ragc ask --json` prints it (rag_answer_to_json). */
static char *answer_json(const rag_answer *a)
{
    rag_buf b;
    rag_buf_init(&b, 0);
    if (rag_answer_to_json(a, &b) != RAG_OK) {
        rag_buf_free(&b);
        return NULL;
    }
    return rag_buf_steal(&b);
}

/* The answer JSON as a jansson object (reference returned), NULL when out of memory. */
static json_t *answer_doc(const rag_answer *a)
{
    char *full = answer_json(a);
    json_t *doc = full ? json_loads(full, 0, NULL) : NULL;
    free(full);
    return doc;
}

/* The "ragc" extension object: the validated answer, its sources and report (reference
 * returned). */
static json_t *ragc_extension(const rag_answer *a)
{
    json_t *doc = answer_doc(a);
    if (!doc)
        return NULL;
    json_t *ext = json_object();
    json_object_set(ext, "answer", json_object_get(doc, "answer"));
    json_object_set(ext, "sources", json_object_get(doc, "sources"));
    json_object_set(ext, "report", json_object_get(doc, "report"));
    json_object_set(ext, "found", json_object_get(doc, "found"));
    json_decref(doc);
    return ext;
}

/* The answer followed by the sources list, as `ragc ask` prints it (trailing newline removed). */
static char *chat_content(const rag_answer *a)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    rag_answer_print(a, f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    while (len > 0 && text[len - 1] == '\n')
        text[--len] = '\0';
    return text;
}

/* A chat completion id "chatcmpl-<16 hex>" into id[48]. */
static void chat_id(rag_server_t *s, char *id, size_t cap)
{
    unsigned long long seq = (unsigned long long)atomic_fetch_add(&s->seq, 1);
    char seed[64];
    snprintf(seed, sizeof seed, "%p-%llu-%.3f", (void *)s, seq, rag_now_ms());
    snprintf(id, cap, "chatcmpl-%016llx", (unsigned long long)rag_hash64(seed, strlen(seed)));
}

/* delta: stolen. */
static json_t *chunk_obj(const char *id, json_int_t created, const char *model, json_t *delta, const char *finish)
{
    return json_pack("{ss ss sI ss s[{si so so}]}", "id", id, "object", "chat.completion.chunk", "created", created,
                     "model", model, "choices", "index", 0, "delta", delta, "finish_reason",
                     finish ? json_string(finish) : json_null());
}

/* ---- streamed answers: rag_ask on a stream worker, one event per generator token ----
 *
 * POST /v1/ask: "token" {"text"} per token (per cited sentence for an extractive answer),
 * "reset" {} when the tokens so far are void (a generator failed mid-answer and the next chain
 * member starts over), then "done" with the answer JSON, or "error" {"error":{code,message}}.
 * POST /v1/chat/completions: a role chunk, a content chunk per token, a chunk with the sources
 * list, a last chunk (finish_reason "stop", "ragc": {answer, sources, report, found}), then
 * "data: [DONE]"; an error is an "error" event followed by [DONE]. Citations are validated after
 * generation: the final event's answer is authoritative. */

typedef struct ask_job {
    srv_stream *st;        /* borrowed: the stream this job runs on */
    bool chat;             /* OpenAI chat chunks instead of token/done events */
    char *question;        /* owned */
    size_t k;              /* 0 = retriever.top_k */
    char *model;           /* chat: model name echoed in the chunks (owned) */
    char id[48];           /* chat: completion id */
    json_int_t created;    /* chat: unix seconds */
    size_t n_tokens;       /* token events since the start or the last reset */
} ask_job;

static void ask_job_free(void *p)
{
    ask_job *j = p;
    if (!j)
        return;
    free(j->question);
    free(j->model);
    free(j);
}

/* Queues "[event: <event>\n]data: <compact v>\n\n" (v stolen). */
static bool push_json(srv_stream *st, const char *event, json_t *v, bool final)
{
    char *d = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!d)
        return false;
    rag_buf b;
    rag_buf_init(&b, 0);
    rag_status rs = event ? rag_buf_appendf(&b, "event: %s\n", event) : RAG_OK;
    if (rs == RAG_OK)
        rs = rag_buf_append_str(&b, "data: ");
    if (rs == RAG_OK)
        rs = rag_buf_append_str(&b, d);
    if (rs == RAG_OK)
        rs = rag_buf_append_str(&b, "\n\n");
    free(d);
    bool ok = rs == RAG_OK && srv_stream_push(st, b.data, b.len, final);
    rag_buf_free(&b);
    return ok;
}

/* A JSON string of text[0..len); invalid UTF-8 bytes (a model that split a character) become
 * '?'. NULL when out of memory. */
static json_t *text_value(const char *text, size_t len)
{
    json_t *v = json_stringn(text, len);
    if (v)
        return v;
    char *tmp = rag_strndup(text, len), *clean = malloc(len + 1);
    if (tmp && clean) {
        srv_utf8_sanitize(tmp, clean, len + 1);
        v = json_string(clean);
    }
    free(tmp);
    free(clean);
    return v;
}

static void job_token(void *ud, const char *text, size_t len)
{
    ask_job *j = ud;
    json_t *t = len ? text_value(text, len) : NULL;
    if (!t)
        return;
    if (j->chat)
        push_json(j->st, NULL, chunk_obj(j->id, j->created, j->model, json_pack("{so}", "content", t), NULL), false);
    else
        push_json(j->st, "token", json_pack("{so}", "text", t), false);
    j->n_tokens++;
}

/* The tokens streamed so far are void. A chat stream cannot take text back: its last chunk's
 * ragc.answer is the answer then. */
static void job_discard(void *ud)
{
    ask_job *j = ud;
    if (!j->chat && j->n_tokens)
        push_json(j->st, "reset", json_object(), false);
    j->n_tokens = 0;
}

/* The end of a chat stream: the sources list (the printed content after the answer text), the
 * last chunk with the ragc extension, [DONE]. */
static bool chat_tail(ask_job *j, const rag_answer *a)
{
    char *content = chat_content(a);
    json_t *ext = ragc_extension(a);
    const char *text = a->text ? a->text : "";
    size_t text_len = strlen(text);
    bool ok = content && ext;
    if (ok && strlen(content) > text_len && strncmp(content, text, text_len) == 0)
        ok = push_json(j->st, NULL,
                       chunk_obj(j->id, j->created, j->model, json_pack("{ss}", "content", content + text_len), NULL),
                       true);
    json_t *last = ok ? chunk_obj(j->id, j->created, j->model, json_object(), "stop") : NULL;
    if (last) {
        json_object_set_new(last, "ragc", ext);
        ext = NULL;
    }
    ok = ok && last && push_json(j->st, NULL, last, true);
    static const char done[] = "data: [DONE]\n\n";
    ok = ok && srv_stream_push(j->st, done, sizeof done - 1, true);
    json_decref(ext);
    free(content);
    return ok;
}

/* Worker: retrieval, generation (tokens pushed as they come), then the final event. */
static void ask_worker(srv_stream *st, void *ctx)
{
    ask_job *j = ctx;
    j->st = st;
    rag_server_t *s = srv_stream_server(st);
    if (j->chat)
        push_json(st, NULL,
                  chunk_obj(j->id, j->created, j->model, json_pack("{ssss}", "role", "assistant", "content", ""), NULL),
                  false);
    rag_ask_params ap = rag_ask_default_params();
    ap.k = j->k;
    ap.on_token = job_token;
    ap.on_discard = job_discard;
    ap.ud = j;
    ap.cancel = srv_stream_cancel_flag(st);
    rag_answer ans;
    memset(&ans, 0, sizeof ans);
    rag_err err;
    rag_err_clear(&err);
    rag_status rs;
    rag_engine *e = srv_engine_acquire(s); /* the concurrency limit, as for every answer */
    if (atomic_load(ap.cancel))
        rs = rag_err_set(&err, RAG_E_CANCELLED, "cancelled"); /* the client left while it waited */
    else
        rs = rag_ask(e, j->question, &ap, &ans, &err);
    srv_engine_release(s, e);
    if (rs == RAG_OK) {
        srv_metrics_answer(s, &ans);
        json_t *doc = j->chat ? NULL : answer_doc(&ans);
        bool ok = j->chat ? chat_tail(j, &ans) : (doc && push_json(st, "done", doc, true));
        rag_answer_clear(&ans);
        if (ok)
            return;
        rs = rag_err_set(&err, RAG_E_NOMEM, "out of memory sending the answer");
    }
    srv_stream_end why = srv_stream_end_reason(st);
    if (why == SRV_STREAM_GONE || why == SRV_STREAM_STOPPING)
        return; /* nobody to tell; counted as cancelled */
    const char *code;
    srv_http_status(rs, &code);
    char msg[RAG_ERR_MSG_MAX];
    if (why == SRV_STREAM_OVERFLOW) {
        code = "too_slow";
        snprintf(msg, sizeof msg, "the client read the answer stream too slowly (over %u bytes were waiting)",
                 SRV_STREAM_QUEUE_MAX);
    } else {
        snprintf(msg, sizeof msg, "%s", err.msg[0] ? err.msg : rag_status_str(rs));
        srv_stream_set_outcome(st, "failed");
    }
    rag_log(RAG_LOG_INFO, "server: answer stream error %s: %s", code, msg);
    char *ej = srv_error_json(code, msg);
    if (ej) {
        rag_buf b;
        rag_buf_init(&b, 0);
        if (rag_buf_appendf(&b, "event: error\ndata: %s\n\n%s", ej, j->chat ? "data: [DONE]\n\n" : "") == RAG_OK)
            srv_stream_push(st, b.data, b.len, true);
        rag_buf_free(&b);
        free(ej);
    }
}

/* Starts the streamed answer of question (copied). model: chat only (copied). */
static enum MHD_Result start_stream(srv_request *r, const char *question, size_t k, bool chat, const char *model)
{
    ask_job *j = calloc(1, sizeof *j);
    if (j) {
        j->chat = chat;
        j->k = k;
        j->question = rag_strdup(question);
        j->model = chat ? rag_strdup(model) : NULL;
        if (chat) {
            chat_id(r->srv, j->id, sizeof j->id);
            j->created = (json_int_t)time(NULL);
        }
    }
    if (!j || !j->question || (chat && !j->model)) {
        ask_job_free(j);
        return srv_respond_error(r, 500, "internal", "out of memory");
    }
    return srv_stream_start(r, ask_worker, j, ask_job_free);
}

/* ---- POST /v1/ask ---- */

enum MHD_Result srv_route_ask(srv_request *r)
{
    enum MHD_Result ret = MHD_NO;
    json_t *root = parse_body(r, &ret);
    if (!root)
        return ret;
    json_t *q = json_object_get(root, "question");
    json_t *kv = json_object_get(root, "k");
    bool stream = false;
    size_t k = 0;
    if (!q) {
        ret = srv_respond_error(r, 400, "missing_field", "missing field \"question\" (a string)");
    } else if (!json_is_string(q)) {
        ret = srv_respond_error(r, 400, "invalid_field", "\"question\" must be a string");
    } else if (kv && !json_is_null(kv) &&
               (!json_is_integer(kv) || json_integer_value(kv) < 1 || json_integer_value(kv) > MAX_K_ASK)) {
        ret = srv_respond_error(r, 400, "invalid_field", "\"k\" must be an integer in 1..%d", MAX_K_ASK);
    } else if (get_stream(r, root, &stream, &ret) &&
               check_question(r, "\"question\"", json_string_value(q), json_string_length(q), &ret)) {
        if (kv && json_is_integer(kv))
            k = (size_t)json_integer_value(kv);
        if (stream) {
            ret = start_stream(r, json_string_value(q), k, false, NULL);
        } else {
            rag_answer ans;
            rag_err err;
            rag_err_clear(&err);
            rag_status st = run_ask(r, json_string_value(q), k, &ans, &err);
            if (st != RAG_OK) {
                ret = srv_respond_rag_error(r, st, &err);
            } else {
                ret = srv_respond_json(r, 200, answer_json(&ans));
                rag_answer_clear(&ans);
            }
        }
    }
    json_decref(root);
    return ret;
}

/* ---- POST /v1/chat/completions ---- */

/* Text of a message's content: a string, or an array of parts whose "text" fields are joined. */
static char *message_text(json_t *content)
{
    if (json_is_string(content))
        return rag_strndup(json_string_value(content), json_string_length(content));
    if (!json_is_array(content))
        return NULL;
    rag_buf b;
    rag_buf_init(&b, SRV_MAX_QUESTION + 1);
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        json_t *t = json_object_get(part, "text");
        if (!json_is_string(t))
            continue;
        if ((b.len && rag_buf_append_char(&b, '\n') != RAG_OK) ||
            rag_buf_append(&b, json_string_value(t), json_string_length(t)) != RAG_OK)
            break; /* over the cap: check_question rejects it by length */
    }
    if (!b.data)
        return rag_strdup("");
    return rag_buf_steal(&b);
}

/* The non-streamed chat.completion object. */
static enum MHD_Result chat_answer(srv_request *r, const rag_answer *a, const char *model)
{
    char id[48];
    chat_id(r->srv, id, sizeof id);
    json_int_t created = (json_int_t)time(NULL);
    char *content = chat_content(a);
    json_t *ext = ragc_extension(a);
    if (!content || !ext) {
        free(content);
        json_decref(ext);
        return srv_respond_error(r, 500, "internal", "out of memory");
    }
    json_t *o = json_pack("{ss ss sI ss s[{si s{ssss} ss}] s{sisisi} so}", "id", id, "object", "chat.completion",
                          "created", created, "model", model, "choices", "index", 0, "message", "role", "assistant",
                          "content", content, "finish_reason", "stop", "usage", "prompt_tokens", 0,
                          "completion_tokens", 0, "total_tokens", 0, "ragc", ext);
    free(content);
    return srv_respond_jansson(r, 200, o);
}

enum MHD_Result srv_route_chat(srv_request *r)
{
    enum MHD_Result ret = MHD_NO;
    json_t *root = parse_body(r, &ret);
    if (!root)
        return ret;
    json_t *msgs = json_object_get(root, "messages");
    json_t *model = json_object_get(root, "model");
    bool stream = false;
    char *question = NULL;
    if (!msgs) {
        ret = srv_respond_error(r, 400, "missing_field", "missing field \"messages\" (an array of {role, content})");
    } else if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        ret = srv_respond_error(r, 400, "invalid_field", "\"messages\" must be a non-empty array");
    } else if (model && !json_is_null(model) && !json_is_string(model)) {
        ret = srv_respond_error(r, 400, "invalid_field", "\"model\" must be a string");
    } else if (get_stream(r, root, &stream, &ret)) {
        size_t i;
        json_t *m;
        bool bad = false;
        json_array_foreach(msgs, i, m)
        {
            json_t *role = json_object_get(m, "role");
            if (!json_is_object(m) || !json_is_string(role)) {
                ret = srv_respond_error(r, 400, "invalid_field", "messages[%zu] must be an object with a string \"role\"",
                                        i);
                bad = true;
                break;
            }
            if (strcmp(json_string_value(role), "user") == 0) {
                free(question);
                question = message_text(json_object_get(m, "content"));
                if (!question) {
                    ret = srv_respond_error(r, 400, "invalid_field",
                                            "messages[%zu].content must be a string or an array of text parts", i);
                    bad = true;
                    break;
                }
            }
        }
        const char *model_name = model && json_is_string(model) ? json_string_value(model) : "ragc";
        if (!bad && !question) {
            ret = srv_respond_error(r, 400, "missing_field", "\"messages\" has no message with role \"user\"");
        } else if (!bad && check_question(r, "the last user message", question, strlen(question), &ret)) {
            if (stream) {
                ret = start_stream(r, question, 0, true, model_name);
            } else {
                rag_answer ans;
                rag_err err;
                rag_err_clear(&err);
                rag_status st = run_ask(r, question, 0, &ans, &err);
                if (st != RAG_OK) {
                    ret = srv_respond_rag_error(r, st, &err);
                } else {
                    ret = chat_answer(r, &ans, model_name);
                    rag_answer_clear(&ans);
                }
            }
        }
    }
    free(question);
    json_decref(root);
    return ret;
}

/* ---- GET /v1/search ---- */

/* Same JSON as `ragc search --json`. Caller frees with free(); NULL on failure. */
static char *search_json(const char *query, const rag_search_result *res)
{
    rag_buf b;
    rag_buf_init(&b, 0);
    if (rag_search_result_to_json(query, res, &b) != RAG_OK) {
        rag_buf_free(&b);
        return NULL;
    }
    return rag_buf_steal(&b);
}

enum MHD_Result srv_route_search(srv_request *r)
{
    rag_err err;
    rag_err_clear(&err);
    char *q = NULL, *ks = NULL;
    enum MHD_Result ret;
    rag_status st = srv_query_get(r->query, "q", &q, &err);
    if (st == RAG_E_NOT_FOUND)
        return srv_respond_error(r, 400, "missing_field", "missing query parameter 'q' (GET /v1/search?q=...&k=10)");
    if (st != RAG_OK)
        return srv_respond_rag_error(r, st, &err);
    size_t k = 10;
    st = srv_query_get(r->query, "k", &ks, &err);
    if (st == RAG_OK) {
        char *end;
        errno = 0;
        long v = strtol(ks, &end, 10);
        if (errno || !*ks || *end || v < 1 || v > MAX_K_SEARCH) {
            ret = srv_respond_error(r, 400, "invalid_field", "query parameter 'k' must be an integer in 1..%d",
                                    MAX_K_SEARCH);
            free(q);
            free(ks);
            return ret;
        }
        k = (size_t)v;
    } else if (st != RAG_E_NOT_FOUND) {
        free(q);
        return srv_respond_rag_error(r, st, &err);
    }
    free(ks);
    if (!check_question(r, "query parameter 'q'", q, strlen(q), &ret)) {
        free(q);
        return ret;
    }
    rag_search_result res;
    rag_engine *e = srv_engine_acquire(r->srv);
    st = rag_search(e, q, k, &res, &err);
    srv_engine_release(r->srv, e);
    if (st != RAG_OK) {
        free(q);
        return srv_respond_rag_error(r, st, &err);
    }
    const char *v[] = {"retriever"};
    rag_metrics_observe(r->srv->m.stage, v, res.ms / 1000.0);
    ret = srv_respond_json(r, 200, search_json(q, &res));
    rag_search_result_clear(&res);
    free(q);
    return ret;
}
