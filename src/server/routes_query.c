/* Query routes: POST /v1/ask, POST /v1/chat/completions (OpenAI-compatible), GET /v1/search, and
 * the server-sent-event streams of the first two. */
#include "server/server_core.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PIECES 256  /* SSE token events per answer */
#define MAX_K_ASK 100
#define MAX_K_SEARCH 1000

/* ---- SSE: a list of prepared events sent one after the other (chunked) ---- */

typedef struct sse_stream {
    char **events; /* n owned strings, each a complete event ("...\n\n") */
    size_t n, cap;
    size_t i, off;  /* next byte to send: events[i] + off */
} sse_stream;

static void sse_free(void *cls)
{
    sse_stream *s = cls;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->events[i]);
    free(s->events);
    free(s);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sse_stream *s = cls;
    if (s->i >= s->n)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t len = strlen(s->events[s->i]) - s->off;
    size_t take = len < max ? len : max;
    memcpy(buf, s->events[s->i] + s->off, take);
    s->off += take;
    if (s->off == strlen(s->events[s->i])) {
        s->i++;
        s->off = 0;
    }
    return (ssize_t)take;
}

/* Appends "[event: <event>\n]data: <data>\n\n". data: one line (compact JSON). */
static bool sse_add(sse_stream *s, const char *event, const char *data)
{
    if (!data)
        return false;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **p = realloc(s->events, cap * sizeof *p);
        if (!p)
            return false;
        s->events = p;
        s->cap = cap;
    }
    rag_buf b;
    rag_buf_init(&b, 0);
    rag_status st = event ? rag_buf_appendf(&b, "event: %s\n", event) : RAG_OK;
    if (st == RAG_OK)
        st = rag_buf_appendf(&b, "data: %s\n\n", data);
    char *e = st == RAG_OK ? rag_buf_steal(&b) : NULL;
    rag_buf_free(&b);
    if (!e)
        return false;
    s->events[s->n++] = e;
    return true;
}

/* Adds a compact dump of v (reference stolen). */
static bool sse_add_json(sse_stream *s, const char *event, json_t *v)
{
    char *d = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    bool ok = sse_add(s, event, d);
    free(d);
    return ok;
}

static enum MHD_Result sse_respond(srv_request *r, sse_stream *s)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, s, sse_free);
    if (!resp) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return srv_queue(r, 200, resp);
}

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

/* ---- POST /v1/ask ---- */

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

/* Event stream for an answer: token events per cited sentence, then done with the answer. */
static enum MHD_Result stream_answer(srv_request *r, const rag_answer *a)
{
    sse_stream *s = calloc(1, sizeof *s);
    if (!s)
        return srv_respond_error(r, 500, "internal", "out of memory");
    size_t ends[MAX_PIECES];
    size_t n = srv_split_answer(a->text, a->n_sources, ends, MAX_PIECES);
    bool ok = true;
    for (size_t i = 0, start = 0; ok && i < n; start = ends[i++])
        ok = sse_add_json(s, "token", json_pack("{ss%}", "text", a->text + start, ends[i] - start));
    char *full = ok ? answer_json(a) : NULL;
    json_t *doc = full ? json_loads(full, 0, NULL) : NULL;
    free(full);
    ok = ok && doc && sse_add_json(s, "done", doc);
    if (!ok) {
        sse_free(s);
        return srv_respond_error(r, 500, "internal", "out of memory");
    }
    return sse_respond(r, s);
}

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
        rag_answer ans;
        rag_err err;
        rag_err_clear(&err);
        rag_status st = run_ask(r, json_string_value(q), k, &ans, &err);
        if (st != RAG_OK && stream) {
            const char *code;
            srv_http_status(st, &code);
            sse_stream *s = calloc(1, sizeof *s);
            char *ej = srv_error_json(code, err.msg);
            if (s && ej && sse_add(s, "error", ej))
                ret = sse_respond(r, s);
            else {
                sse_free(s);
                ret = srv_respond_rag_error(r, st, &err);
            }
            free(ej);
        } else if (st != RAG_OK) {
            ret = srv_respond_rag_error(r, st, &err);
        } else {
            ret = stream ? stream_answer(r, &ans) : srv_respond_json(r, 200, answer_json(&ans));
            rag_answer_clear(&ans);
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

/* The "ragc" extension object: sources and report of the answer JSON (reference returned). */
static json_t *ragc_extension(const rag_answer *a)
{
    char *full = answer_json(a);
    json_t *doc = full ? json_loads(full, 0, NULL) : NULL;
    free(full);
    if (!doc)
        return NULL;
    json_t *ext = json_object();
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

static json_t *chunk_obj(const char *id, json_int_t created, const char *model, json_t *delta, const char *finish)
{
    return json_pack("{ss ss sI ss s[{si so so}]}", "id", id, "object", "chat.completion.chunk", "created", created,
                     "model", model, "choices", "index", 0, "delta", delta, "finish_reason",
                     finish ? json_string(finish) : json_null());
}

static enum MHD_Result chat_answer(srv_request *r, const rag_answer *a, const char *model, bool stream)
{
    rag_server_t *s = r->srv;
    char id[48];
    unsigned long long seq = (unsigned long long)atomic_fetch_add(&s->seq, 1);
    char seed[64];
    snprintf(seed, sizeof seed, "%p-%llu-%.3f", (void *)s, seq, rag_now_ms());
    snprintf(id, sizeof id, "chatcmpl-%016llx", (unsigned long long)rag_hash64(seed, strlen(seed)));
    json_int_t created = (json_int_t)time(NULL);
    char *content = chat_content(a);
    json_t *ext = ragc_extension(a);
    if (!content || !ext) {
        free(content);
        json_decref(ext);
        return srv_respond_error(r, 500, "internal", "out of memory");
    }
    if (!stream) {
        json_t *o = json_pack("{ss ss sI ss s[{si s{ssss} ss}] s{sisisi} so}", "id", id, "object", "chat.completion",
                              "created", created, "model", model, "choices", "index", 0, "message", "role",
                              "assistant", "content", content, "finish_reason", "stop", "usage", "prompt_tokens", 0,
                              "completion_tokens", 0, "total_tokens", 0, "ragc", ext);
        free(content);
        return srv_respond_jansson(r, 200, o);
    }
    sse_stream *ss = calloc(1, sizeof *ss);
    bool ok = ss != NULL;
    ok = ok && sse_add_json(ss, NULL, chunk_obj(id, created, model, json_pack("{ssss}", "role", "assistant", "content", ""), NULL));
    size_t ends[MAX_PIECES];
    size_t n = srv_split_answer(a->text, a->n_sources, ends, MAX_PIECES);
    size_t text_len = strlen(a->text);
    for (size_t i = 0, start = 0; ok && i < n; start = ends[i++])
        ok = sse_add_json(ss, NULL,
                          chunk_obj(id, created, model, json_pack("{ss%}", "content", a->text + start, ends[i] - start),
                                    NULL));
    /* the sources list: the rest of the printed content after the answer text */
    if (ok && strlen(content) > text_len && strncmp(content, a->text, text_len) == 0)
        ok = sse_add_json(ss, NULL, chunk_obj(id, created, model, json_pack("{ss}", "content", content + text_len), NULL));
    json_t *last = ok ? chunk_obj(id, created, model, json_object(), "stop") : NULL;
    if (last) {
        json_object_set_new(last, "ragc", ext);
        ext = NULL;
    }
    ok = ok && last && sse_add_json(ss, NULL, last);
    ok = ok && sse_add(ss, NULL, "[DONE]");
    json_decref(ext);
    free(content);
    if (!ok) {
        sse_free(ss);
        return srv_respond_error(r, 500, "internal", "out of memory");
    }
    return sse_respond(r, ss);
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
        if (!bad && !question)
            ret = srv_respond_error(r, 400, "missing_field", "\"messages\" has no message with role \"user\"");
        else if (!bad && check_question(r, "the last user message", question, strlen(question), &ret)) {
            rag_answer ans;
            rag_err err;
            rag_err_clear(&err);
            rag_status st = run_ask(r, question, 0, &ans, &err);
            if (st != RAG_OK) {
                ret = srv_respond_rag_error(r, st, &err);
            } else {
                ret = chat_answer(r, &ans, model && json_is_string(model) ? json_string_value(model) : "ragc", stream);
                rag_answer_clear(&ans);
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
