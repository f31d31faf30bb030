/* Private interface between the extractor dispatcher (extract.c) and the per-format
 * extractors (extract_pdf.c, extract_html.c, extract_markdown.c, extract_beir.c). */
#ifndef RAGC_INGEST_EXTRACT_INTERNAL_H
#define RAGC_INGEST_EXTRACT_INTERNAL_H

#include "ragc/core.h"
#include "ragc/document.h"
#include "ragc/extract.h"

#include <sys/types.h>

/* A document under construction: pages are normalized on the way in. */
typedef struct rag_ingest_doc {
    rag_document *doc;       /* owned until handed to the callback */
    const char *path;        /* borrowed: the file path, prefix of every message */
    size_t max_text_bytes;   /* cap on the sum of normalized page text */
    size_t text_bytes;       /* normalized bytes so far */
    size_t pages_cap;        /* allocated slots in doc->pages */
    rag_buf scratch;         /* normalizer output, reused across pages */
} rag_ingest_doc;

/* Allocates d->doc with source = source (copied), format, content_hash (copied), mtime.
 * On success the caller frees with rag_ingest_doc_discard or hands d->doc over and calls
 * rag_ingest_doc_discard (which then only releases the scratch buffer). */
rag_status rag_ingest_doc_init(rag_ingest_doc *d, const char *path, const char *source,
                               const char *format, const char *hash, int64_t mtime,
                               size_t max_text_bytes, rag_err *err);
void rag_ingest_doc_discard(rag_ingest_doc *d);

/* Normalizes raw[0..n) (must be valid UTF-8) and appends it as page `number` if any text
 * remains; empty pages are not appended. raw: borrowed for the call. */
rag_status rag_ingest_doc_add_page(rag_ingest_doc *d, const char *raw, size_t n, int number,
                                   rag_err *err);

/* Normalized one-line title from s[0..n) (valid UTF-8 required), at most 1 KiB, or NULL if it
 * is empty or invalid. Caller frees with free(). */
char *rag_ingest_clean_title(const char *s, size_t n);

/* Appends code point cp as UTF-8; invalid code points (surrogates, > U+10FFFF, negative) become
 * U+FFFD, NUL is skipped. */
rag_status rag_ingest_append_cp(rag_buf *b, int32_t cp);

/* Per-format extractors: fill d->doc (title, pages, n_pages_total, n_pages_failed) from the
 * file bytes data[0..n) (borrowed; NUL-terminated at data[n]). They return RAG_OK even when no
 * page has text (the dispatcher reports RAG_E_EMPTY). Messages start with d->path. */
rag_status rag_ingest_pdf(rag_ingest_doc *d, const char *data, size_t n, const char *password,
                          rag_err *err);
rag_status rag_ingest_html(rag_ingest_doc *d, const char *data, size_t n, rag_err *err);
rag_status rag_ingest_markdown(rag_ingest_doc *d, const char *data, size_t n, rag_err *err);

/* BEIR corpus: streams the file line by line, calling cb for each valid record. */
rag_status rag_ingest_beir(const char *path, int64_t mtime, const rag_extract_params *p,
                           rag_document_cb cb, void *ud, rag_err *err);

#endif /* RAGC_INGEST_EXTRACT_INTERNAL_H */
