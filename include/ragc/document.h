/* The extracted document: what every extractor produces and the chunker and store consume. */
#ifndef RAGC_DOCUMENT_H
#define RAGC_DOCUMENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One page of text. For formats without pages (HTML, Markdown, text, BEIR) a document has one
 * page with number 0. Text is valid UTF-8, NUL-terminated, owned by the page. */
typedef struct rag_page {
    char *text;
    size_t len;   /* bytes, excluding NUL */
    int number;   /* 1-based page number; 0 when the format has no pages */
} rag_page;

/* An extracted document. All strings are owned by the document and freed by rag_document_free. */
typedef struct rag_document {
    char *source;        /* file path as walked, or "<path>#<_id>" for a BEIR record; unique key */
    char *ext_id;        /* external id (BEIR _id), or NULL */
    char *title;         /* from metadata / <title> / first heading, or NULL */
    const char *format;  /* static: "pdf", "html", "markdown", "text", "beir" */
    char content_hash[33]; /* XXH3-128 hex of the raw bytes (file) or of the record (BEIR) */
    int64_t mtime;       /* file modification time, seconds since the epoch; 0 if unknown */
    int n_pages_total;   /* pages in the source (PDF page count; 1 otherwise) */
    int n_pages_failed;  /* pages whose extraction failed (reported, never silently dropped) */
    rag_page *pages;     /* n_pages entries, in order; pages with no text are omitted */
    size_t n_pages;
} rag_document;

/* Frees the document's strings and pages, then the document itself. NULL is a no-op. */
void rag_document_free(rag_document *doc);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_DOCUMENT_H */
