/* Shared by the eval loaders and runs: a string-keyed hash index, a capped line reader, array
 * growth and id checks. */
#include "eval/eval_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/eval.h"

static uint64_t key_hash(size_t ns, const char *key)
{
    return rag_hash64(key, strlen(key)) ^ ((uint64_t)ns * 0x9E3779B97F4A7C15ull);
}

void emap_init(emap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->n = 0;
}

void emap_free(emap *m)
{
    free(m->slots);
    emap_init(m);
}

bool emap_get(const emap *m, size_t ns, const char *key, size_t *val)
{
    if (!m->cap)
        return false;
    uint64_t h = key_hash(ns, key);
    for (size_t i = (size_t)h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const emap_slot *s = &m->slots[i];
        if (!s->key)
            return false;
        if (s->hash == h && s->ns == ns && !strcmp(s->key, key)) {
            *val = s->val;
            return true;
        }
    }
}

static void place(emap_slot *slots, size_t cap, const emap_slot *e)
{
    size_t i = (size_t)e->hash & (cap - 1);
    while (slots[i].key)
        i = (i + 1) & (cap - 1);
    slots[i] = *e;
}

rag_status emap_put(emap *m, size_t ns, const char *key, size_t val)
{
    if ((m->n + 1) * 4 > m->cap * 3) { /* keep the load factor under 3/4 */
        size_t cap = m->cap ? m->cap * 2 : 64;
        emap_slot *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return RAG_E_NOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].key)
                place(slots, cap, &m->slots[i]);
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    emap_slot e = {.key = key, .hash = key_hash(ns, key), .ns = ns, .val = val};
    place(m->slots, m->cap, &e);
    m->n++;
    return RAG_OK;
}

rag_status lr_open(line_reader *lr, const char *path, rag_err *err)
{
    memset(lr, 0, sizeof *lr);
    lr->path = path;
    lr->f = fopen(path, "rb");
    if (!lr->f) {
        int e = errno;
        return rag_err_set(err, e == ENOENT ? RAG_E_NOT_FOUND : RAG_E_IO, "%s: %s", path, strerror(e));
    }
    return RAG_OK;
}

rag_status lr_next(line_reader *lr, rag_err *err)
{
    lr->len = 0;
    int c = getc_unlocked(lr->f);
    if (c == EOF) {
        if (ferror(lr->f))
            return rag_err_set(err, RAG_E_IO, "%s:%zu: read error", lr->path, lr->lineno + 1);
        return RAG_E_EMPTY;
    }
    lr->lineno++;
    for (; c != EOF && c != '\n'; c = getc_unlocked(lr->f)) {
        if (c == '\0')
            return rag_err_set(err, RAG_E_BAD_INPUT, "%s:%zu: NUL byte in a text line", lr->path, lr->lineno);
        if (lr->len >= RAG_EVAL_MAX_LINE)
            return rag_err_set(err, RAG_E_TOO_LARGE, "%s:%zu: line longer than %d bytes", lr->path, lr->lineno,
                               RAG_EVAL_MAX_LINE);
        if (lr->len + 2 > lr->cap) {
            size_t cap = lr->cap ? lr->cap * 2 : 256;
            char *b = realloc(lr->buf, cap);
            if (!b)
                return rag_err_set(err, RAG_E_NOMEM, "%s:%zu: out of memory", lr->path, lr->lineno);
            lr->buf = b;
            lr->cap = cap;
        }
        lr->buf[lr->len++] = (char)c;
    }
    if (c == EOF && ferror(lr->f))
        return rag_err_set(err, RAG_E_IO, "%s:%zu: read error", lr->path, lr->lineno);
    if (lr->len && lr->buf[lr->len - 1] == '\r')
        lr->len--;
    if (!lr->buf) {
        lr->buf = malloc(1);
        if (!lr->buf)
            return rag_err_set(err, RAG_E_NOMEM, "%s:%zu: out of memory", lr->path, lr->lineno);
        lr->cap = 1;
    }
    lr->buf[lr->len] = '\0';
    return RAG_OK;
}

void lr_close(line_reader *lr)
{
    if (lr->f)
        fclose(lr->f);
    free(lr->buf);
    memset(lr, 0, sizeof *lr);
}

bool eval_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *n = realloc(*p, c * elem);
    if (!n)
        return false;
    *p = n;
    *cap = c;
    return true;
}

rag_status eval_check_id(const char *what, const char *id, rag_err *err)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "empty %s", what);
    if (n > RAG_EVAL_MAX_ID)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s longer than %d bytes", what, RAG_EVAL_MAX_ID);
    size_t bad;
    if (!rag_utf8_valid(id, n, &bad))
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s is not valid UTF-8 (byte %zu)", what, bad);
    return RAG_OK;
}
