/* Qrels (BEIR TSV or TREC) and BEIR queries.jsonl: containers and loaders. */
#include "eval/eval_internal.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/eval.h"

/* ---- qrels ---- */

typedef struct qrels_query {
    char *id;
    int *pos;       /* grades > 0, kept sorted descending */
    size_t n_pos, cap_pos;
    size_t n_relevant; /* grades >= 1 */
} qrels_query;

typedef struct judgment {
    char *doc;
    int rel;
    size_t line; /* 1-based source line, 0 when added by the API */
} judgment;

struct rag_qrels {
    qrels_query *q;
    size_t n_q, cap_q;
    judgment *j;
    size_t n_j, cap_j;
    emap qmap; /* ns 0: query id -> index into q */
    emap jmap; /* ns = query index: doc id -> index into j */
};

rag_status rag_qrels_create(rag_qrels **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return RAG_E_NOMEM;
    emap_init(&(*out)->qmap);
    emap_init(&(*out)->jmap);
    return RAG_OK;
}

void rag_qrels_free(rag_qrels *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n_q; i++) {
        free(q->q[i].id);
        free(q->q[i].pos);
    }
    for (size_t i = 0; i < q->n_j; i++)
        free(q->j[i].doc);
    free(q->q);
    free(q->j);
    emap_free(&q->qmap);
    emap_free(&q->jmap);
    free(q);
}

static rag_status qrels_add(rag_qrels *q, const char *qid, const char *doc, int rel, size_t line, rag_err *err)
{
    rag_status st;
    if ((st = eval_check_id("query id", qid, err)) != RAG_OK || (st = eval_check_id("doc id", doc, err)) != RAG_OK)
        return st;
    size_t qi;
    if (!emap_get(&q->qmap, 0, qid, &qi)) {
        if (!eval_grow((void **)&q->q, &q->cap_q, q->n_q + 1, sizeof *q->q))
            return rag_err_set(err, RAG_E_NOMEM, "out of memory");
        qrels_query *nq = &q->q[q->n_q];
        memset(nq, 0, sizeof *nq);
        if (!(nq->id = rag_strdup(qid)))
            return rag_err_set(err, RAG_E_NOMEM, "out of memory");
        if (emap_put(&q->qmap, 0, nq->id, q->n_q) != RAG_OK) {
            free(nq->id);
            return rag_err_set(err, RAG_E_NOMEM, "out of memory");
        }
        qi = q->n_q++;
    }
    size_t ji;
    if (emap_get(&q->jmap, qi, doc, &ji)) {
        if (q->j[ji].line)
            return rag_err_set(err, RAG_E_BAD_INPUT, "duplicate judgment for query '%s', doc '%s' (first on line %zu)",
                               qid, doc, q->j[ji].line);
        return rag_err_set(err, RAG_E_BAD_INPUT, "duplicate judgment for query '%s', doc '%s'", qid, doc);
    }
    qrels_query *qq = &q->q[qi];
    if (!eval_grow((void **)&q->j, &q->cap_j, q->n_j + 1, sizeof *q->j) ||
        (rel > 0 && !eval_grow((void **)&qq->pos, &qq->cap_pos, qq->n_pos + 1, sizeof *qq->pos)))
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    judgment *j = &q->j[q->n_j];
    if (!(j->doc = rag_strdup(doc)))
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    if (emap_put(&q->jmap, qi, j->doc, q->n_j) != RAG_OK) {
        free(j->doc);
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    }
    j->rel = rel;
    j->line = line;
    q->n_j++;
    if (rel > 0) { /* insertion keeps the ideal ranking ready; queries have few judgments */
        size_t k = qq->n_pos;
        while (k > 0 && qq->pos[k - 1] < rel)
            k--;
        memmove(qq->pos + k + 1, qq->pos + k, (qq->n_pos - k) * sizeof *qq->pos);
        qq->pos[k] = rel;
        qq->n_pos++;
    }
    if (rel >= 1)
        qq->n_relevant++;
    return RAG_OK;
}

rag_status rag_qrels_add(rag_qrels *q, const char *query_id, const char *doc_id, int relevance, rag_err *err)
{
    return qrels_add(q, query_id, doc_id, relevance, 0, err);
}

size_t rag_qrels_n_rows(const rag_qrels *q)
{
    return q->n_j;
}

size_t rag_qrels_n_queries(const rag_qrels *q)
{
    return q->n_q;
}

const char *rag_qrels_query_id(const rag_qrels *q, size_t i)
{
    return i < q->n_q ? q->q[i].id : NULL;
}

bool eval_qrels_grade(const rag_qrels *q, size_t qi, const char *doc_id, int *grade)
{
    size_t ji;
    if (!emap_get(&q->jmap, qi, doc_id, &ji))
        return false;
    *grade = q->j[ji].rel;
    return true;
}

bool rag_qrels_get(const rag_qrels *q, const char *query_id, const char *doc_id, int *relevance)
{
    size_t qi;
    return emap_get(&q->qmap, 0, query_id, &qi) && eval_qrels_grade(q, qi, doc_id, relevance);
}

size_t rag_qrels_n_relevant(const rag_qrels *q, const char *query_id)
{
    size_t qi;
    return emap_get(&q->qmap, 0, query_id, &qi) ? q->q[qi].n_relevant : 0;
}

size_t eval_qrels_positive(const rag_qrels *q, size_t qi, const int **grades)
{
    *grades = q->q[qi].pos;
    return q->q[qi].n_pos;
}

static bool parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || end == s || *end || errno == ERANGE || v < INT_MIN || v > INT_MAX || s[0] == ' ' || s[0] == '\t')
        return false;
    *out = (int)v;
    return true;
}

/* True if s parses completely as a number (integer or not): a grade, valid or not. */
static bool looks_numeric(const char *s)
{
    char *end;
    strtod(s, &end);
    return end != s && *end == '\0';
}

/* Splits line in place into at most max fields: on tabs when the line has one, else on runs of
 * spaces. Returns the number of fields (max + 1 means "more than max"). */
static size_t split_fields(char *line, char **f, size_t max)
{
    bool tabs = strchr(line, '\t') != NULL;
    size_t n = 0;
    char *p = line;
    if (tabs) {
        for (;;) {
            if (n == max)
                return max + 1;
            f[n++] = p;
            char *t = strchr(p, '\t');
            if (!t)
                break;
            *t = '\0';
            p = t + 1;
        }
        return n;
    }
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (n == max)
            return max + 1;
        f[n++] = p;
        while (*p && *p != ' ')
            p++;
        if (*p)
            *p++ = '\0';
    }
    return n;
}

rag_status rag_qrels_load(const char *path, rag_qrels **out, rag_err *err)
{
    *out = NULL;
    line_reader lr;
    rag_status st = lr_open(&lr, path, err);
    if (st != RAG_OK)
        return st;
    rag_qrels *q;
    if (rag_qrels_create(&q) != RAG_OK) {
        lr_close(&lr);
        return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", path);
    }
    bool first = true;
    while ((st = lr_next(&lr, err)) == RAG_OK) {
        if (lr.len == 0)
            continue;
        char *f[5];
        size_t n = split_fields(lr.buf, f, 4);
        int rel;
        if (first) {
            first = false;
            if ((n == 3 || n == 4) && !looks_numeric(f[n - 1]))
                continue; /* header, e.g. "query-id\tcorpus-id\tscore" */
        }
        const char *qid, *doc, *grade;
        if (n == 3) {
            qid = f[0], doc = f[1], grade = f[2];
        } else if (n == 4) {
            qid = f[0], doc = f[2], grade = f[3];
        } else {
            st = rag_err_set(err, RAG_E_BAD_INPUT,
                             "%s:%zu: expected 3 tab-separated fields (query-id, corpus-id, score) or 4 TREC fields, "
                             "got %s%zu",
                             path, lr.lineno, n > 4 ? "more than " : "", n > 4 ? (size_t)4 : n);
            break;
        }
        if (!parse_int(grade, &rel)) {
            st = rag_err_set(err, RAG_E_BAD_INPUT, "%s:%zu: relevance '%.40s' is not an integer", path, lr.lineno,
                             grade);
            break;
        }
        if ((st = qrels_add(q, qid, doc, rel, lr.lineno, err)) != RAG_OK) {
            rag_err_prefix(err, "%s:%zu: ", path, lr.lineno);
            break;
        }
    }
    lr_close(&lr);
    if (st != RAG_E_EMPTY) {
        rag_qrels_free(q);
        return st;
    }
    *out = q;
    return RAG_OK;
}

/* ---- queries ---- */

typedef struct query_entry {
    char *id, *text;
    size_t line; /* 1-based source line */
} query_entry;

struct rag_queries {
    query_entry *e;
    size_t n, cap;
    emap map; /* ns 0: id -> index */
};

void rag_queries_free(rag_queries *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++) {
        free(q->e[i].id);
        free(q->e[i].text);
    }
    free(q->e);
    emap_free(&q->map);
    free(q);
}

size_t rag_queries_count(const rag_queries *q)
{
    return q->n;
}

const char *rag_queries_id(const rag_queries *q, size_t i)
{
    return i < q->n ? q->e[i].id : NULL;
}

const char *rag_queries_text(const rag_queries *q, size_t i)
{
    return i < q->n ? q->e[i].text : NULL;
}

/* Parses one queries.jsonl line into a new entry of q; messages without the path:line prefix. */
static rag_status queries_line(rag_queries *q, const char *line, size_t len, size_t lineno, rag_err *err)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return rag_err_set(err, RAG_E_BAD_INPUT, "invalid JSON at column %d: %s", jerr.column, jerr.text);
    rag_status st = RAG_OK;
    char num[32];
    const char *id = NULL;
    json_t *jid = json_is_object(o) ? json_object_get(o, "_id") : NULL;
    json_t *jtext = json_is_object(o) ? json_object_get(o, "text") : NULL;
    if (!json_is_object(o))
        st = rag_err_set(err, RAG_E_BAD_INPUT, "expected a JSON object");
    else if (json_is_string(jid))
        id = json_string_value(jid);
    else if (json_is_integer(jid)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(jid));
        id = num;
    } else
        st = rag_err_set(err, RAG_E_BAD_INPUT, "missing string field \"_id\"");
    if (st == RAG_OK && !json_is_string(jtext))
        st = rag_err_set(err, RAG_E_BAD_INPUT, "missing string field \"text\"");
    if (st == RAG_OK)
        st = eval_check_id("\"_id\"", id, err);
    size_t prev;
    if (st == RAG_OK && emap_get(&q->map, 0, id, &prev))
        st = rag_err_set(err, RAG_E_BAD_INPUT, "duplicate _id '%.100s' (first on line %zu)", id, q->e[prev].line);
    if (st == RAG_OK) {
        query_entry e = {.line = lineno};
        if (!eval_grow((void **)&q->e, &q->cap, q->n + 1, sizeof *q->e) || !(e.id = rag_strdup(id)) ||
            !(e.text = rag_strndup(json_string_value(jtext), json_string_length(jtext))) ||
            emap_put(&q->map, 0, e.id, q->n) != RAG_OK) {
            free(e.id);
            free(e.text);
            st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
        } else {
            q->e[q->n++] = e;
        }
    }
    json_decref(o);
    return st;
}

rag_status rag_queries_load(const char *path, rag_queries **out, rag_err *err)
{
    *out = NULL;
    line_reader lr;
    rag_status st = lr_open(&lr, path, err);
    if (st != RAG_OK)
        return st;
    rag_queries *q = calloc(1, sizeof *q);
    if (!q) {
        lr_close(&lr);
        return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", path);
    }
    emap_init(&q->map);
    while ((st = lr_next(&lr, err)) == RAG_OK) {
        size_t i = 0;
        while (i < lr.len && (lr.buf[i] == ' ' || lr.buf[i] == '\t'))
            i++;
        if (i == lr.len)
            continue; /* blank line */
        if ((st = queries_line(q, lr.buf, lr.len, lr.lineno, err)) != RAG_OK) {
            rag_err_prefix(err, "%s:%zu: ", path, lr.lineno);
            break;
        }
    }
    lr_close(&lr);
    if (st != RAG_E_EMPTY) {
        rag_queries_free(q);
        return st;
    }
    *out = q;
    return RAG_OK;
}
