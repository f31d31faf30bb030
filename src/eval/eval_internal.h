/* Internal interfaces of src/eval: a string-keyed hash index and a capped line reader. */
#ifndef RAGC_EVAL_INTERNAL_H
#define RAGC_EVAL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ragc/core.h"

/* Open-addressing index from (namespace, string key) to a size_t value. Keys are borrowed: they
 * must outlive the index (the containers own them). */
typedef struct emap_slot {
    const char *key; /* NULL = empty slot */
    uint64_t hash;
    size_t ns;
    size_t val;
} emap_slot;

typedef struct emap {
    emap_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;
} emap;

void emap_init(emap *m);
void emap_free(emap *m);
/* Finds (ns, key): true and *val set when present. */
bool emap_get(const emap *m, size_t ns, const char *key, size_t *val);
/* Inserts (ns, key) -> val; the key must not be present. RAG_E_NOMEM on growth failure. */
rag_status emap_put(emap *m, size_t ns, const char *key, size_t val);

/* Reads lines up to RAG_EVAL_MAX_LINE bytes, without the '\n' and a trailing '\r'. */
typedef struct line_reader {
    FILE *f;
    const char *path; /* borrowed, for messages */
    char *buf;        /* owned; the current line, NUL-terminated */
    size_t len;       /* bytes of the current line */
    size_t cap;
    size_t lineno;    /* 1-based number of the current line */
} line_reader;

rag_status lr_open(line_reader *lr, const char *path, rag_err *err);
/* Next line into lr->buf/len: RAG_OK, RAG_E_EMPTY at end of file, RAG_E_TOO_LARGE for a line over
 * the cap, RAG_E_BAD_INPUT for a NUL byte, RAG_E_IO on a read error (err names path:line). */
rag_status lr_next(line_reader *lr, rag_err *err);
void lr_close(line_reader *lr);

/* Grows the array *p of *cap elements of elem bytes (doubling, from 16) to hold need; false on
 * allocation failure (*p and *cap unchanged). */
bool eval_grow(void **p, size_t *cap, size_t need, size_t elem);
/* A query or document id: non-empty, at most RAG_EVAL_MAX_ID bytes, valid UTF-8; RAG_E_BAD_INPUT
 * naming what otherwise. */
rag_status eval_check_id(const char *what, const char *id, rag_err *err);

/* Qrels access for the metrics, by query index (0 <= qi < rag_qrels_n_queries). */
typedef struct rag_qrels rag_qrels;
/* Grades > 0 of query qi, sorted descending; *grades borrowed until the qrels change. */
size_t eval_qrels_positive(const rag_qrels *q, size_t qi, const int **grades);
/* Grade of doc_id for query qi: true if judged. */
bool eval_qrels_grade(const rag_qrels *q, size_t qi, const char *doc_id, int *grade);

#endif /* RAGC_EVAL_INTERNAL_H */
