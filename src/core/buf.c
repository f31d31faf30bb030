/* Bounded growable byte buffer and whole-file reading. */
#include "ragc/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RAG_BUF_DEFAULT_MAX (SIZE_MAX / 2)

void rag_buf_init(rag_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : RAG_BUF_DEFAULT_MAX;
}

static rag_status buf_reserve(rag_buf *b, size_t extra)
{
    size_t max = b->max ? b->max : RAG_BUF_DEFAULT_MAX;
    if (extra > max || b->len > max - extra)
        return RAG_E_TOO_LARGE;
    size_t need = b->len + extra + 1; /* + NUL */
    if (need <= b->cap)
        return RAG_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return RAG_E_NOMEM;
    b->data = p;
    b->cap = cap;
    return RAG_OK;
}

rag_status rag_buf_append(rag_buf *b, const void *p, size_t n)
{
    rag_status st = buf_reserve(b, n);
    if (st != RAG_OK)
        return st;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return RAG_OK;
}

rag_status rag_buf_append_str(rag_buf *b, const char *s)
{
    return rag_buf_append(b, s, strlen(s));
}

rag_status rag_buf_append_char(rag_buf *b, char c)
{
    return rag_buf_append(b, &c, 1);
}

rag_status rag_buf_appendf(rag_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return RAG_E_INTERNAL;
    if ((size_t)n < sizeof small)
        return rag_buf_append(b, small, (size_t)n);
    rag_status st = buf_reserve(b, (size_t)n);
    if (st != RAG_OK)
        return st;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return RAG_OK;
}

void rag_buf_reset(rag_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *rag_buf_steal(rag_buf *b)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void rag_buf_free(rag_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

rag_status rag_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len, rag_err *err)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return rag_err_set(err, e == ENOENT ? RAG_E_NOT_FOUND : RAG_E_IO, "%s: %s", path, strerror(e));
    }
    struct stat stt;
    if (fstat(fileno(f), &stt) == 0 && S_ISDIR(stt.st_mode)) {
        fclose(f);
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: is a directory", path);
    }
    rag_buf b;
    rag_buf_init(&b, max_bytes);
    char chunk[65536];
    size_t n;
    rag_status st = RAG_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        st = rag_buf_append(&b, chunk, n);
        if (st != RAG_OK)
            break;
    }
    if (st == RAG_OK && ferror(f))
        st = rag_err_set(err, RAG_E_IO, "%s: read error: %s", path, strerror(errno));
    else if (st == RAG_E_TOO_LARGE)
        rag_err_set(err, st, "%s: larger than the %zu-byte limit", path, max_bytes);
    else if (st != RAG_OK)
        rag_err_set(err, st, "%s: %s", path, rag_status_str(st));
    fclose(f);
    if (st != RAG_OK) {
        rag_buf_free(&b);
        return st;
    }
    if (out_len)
        *out_len = b.len;
    *out = rag_buf_steal(&b);
    return *out ? RAG_OK : rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", path);
}
