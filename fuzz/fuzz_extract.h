/* Shared body of the extraction targets (fuzz_ingest_pdf.c, fuzz_ingest_html.c,
 * fuzz_ingest_markdown.c, fuzz_ingest_beir.c): writes the input to a scratch file with the
 * format's extension, runs rag_extract_file on it and checks every document handed over.
 *
 * Invariants (include/ragc/extract.h, document.h, normalize.h): source is the path (BEIR:
 * "<path>#<ext_id>"); format is the expected static name; content_hash is 32 lowercase hex
 * digits; at least one page; each page's text is non-empty, NUL-terminated at len, valid UTF-8,
 * normalized (no surrounding whitespace, '\n' only in "\n\n" paragraph breaks); page numbers are
 * 0 for page-less formats and strictly increasing in 1..n_pages_total for PDF; the text total
 * stays within max_text_bytes; a title is valid UTF-8, one line, at most 1 KiB; on failure the
 * message starts with the path.
 */
#ifndef RAGC_FUZZ_EXTRACT_H
#define RAGC_FUZZ_EXTRACT_H

#include "fuzz_common.h"

#include "ragc/extract.h"

typedef struct fuzz_extract_job {
    const char *path;
    const char *format;
    size_t max_text;
    size_t docs;
} fuzz_extract_job;

static inline void fuzz_check_normalized(const char *t, size_t n)
{
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(t[0] != ' ' && t[0] != '\n' && t[n - 1] != ' ' && t[n - 1] != '\n');
    for (size_t i = 0; i < n; i++) {
        if (t[i] != '\n')
            continue;
        /* a '\n' is one half of exactly "\n\n" */
        FUZZ_CHECK(i + 1 < n && t[i + 1] == '\n');
        FUZZ_CHECK(i + 2 < n && t[i + 2] != '\n');
        i++;
    }
}

static rag_status fuzz_extract_cb(void *ud, rag_document *doc, rag_err *err)
{
    (void)err;
    fuzz_extract_job *j = ud;
    FUZZ_CHECK(doc && doc->source && doc->format);
    FUZZ_CHECK(!strcmp(doc->format, j->format));
    size_t plen = strlen(j->path);
    if (!strcmp(j->format, "beir")) {
        FUZZ_CHECK(doc->ext_id && doc->ext_id[0]);
        FUZZ_CHECK(!strncmp(doc->source, j->path, plen) && doc->source[plen] == '#');
        FUZZ_CHECK(!strcmp(doc->source + plen + 1, doc->ext_id));
    } else {
        FUZZ_CHECK(!strcmp(doc->source, j->path));
    }
    FUZZ_CHECK(strlen(doc->content_hash) == 32);
    for (int i = 0; i < 32; i++)
        FUZZ_CHECK((doc->content_hash[i] >= '0' && doc->content_hash[i] <= '9') ||
                   (doc->content_hash[i] >= 'a' && doc->content_hash[i] <= 'f'));
    FUZZ_CHECK(doc->n_pages >= 1 && doc->pages);
    FUZZ_CHECK(doc->n_pages_failed >= 0 && doc->n_pages_failed <= doc->n_pages_total);
    size_t total = 0;
    int last = 0;
    bool paged = !strcmp(j->format, "pdf");
    for (size_t i = 0; i < doc->n_pages; i++) {
        const rag_page *pg = &doc->pages[i];
        FUZZ_CHECK(pg->text && strlen(pg->text) == pg->len);
        FUZZ_CHECK(fuzz_utf8_ok(pg->text, pg->len));
        fuzz_check_normalized(pg->text, pg->len);
        if (paged) {
            FUZZ_CHECK(pg->number > last && pg->number <= doc->n_pages_total);
            last = pg->number;
        } else {
            FUZZ_CHECK(pg->number == 0 && doc->n_pages == 1);
        }
        total += pg->len;
    }
    FUZZ_CHECK(total <= j->max_text);
    if (doc->title) {
        size_t tl = strlen(doc->title);
        FUZZ_CHECK(tl > 0 && tl <= 1024 && fuzz_utf8_ok(doc->title, tl));
        FUZZ_CHECK(!strchr(doc->title, '\n'));
    }
    j->docs++;
    rag_document_free(doc);
    return RAG_OK;
}

/* Runs the extractor on data[0..size) saved as "<scratch><ext>"; max_text 0 = default. */
static inline void fuzz_extract(const char *ext, const char *format, const uint8_t *data, size_t size,
                                const char *password, size_t max_text)
{
    const char *path = fuzz_write_file(ext, data, size);
    rag_extract_params p = rag_extract_default_params();
    p.password = password;
    if (max_text)
        p.max_text_bytes = max_text;
    fuzz_extract_job j = {.path = path, .format = format, .max_text = p.max_text_bytes};
    rag_err err;
    rag_err_clear(&err);
    rag_status st = rag_extract_file(path, &p, fuzz_extract_cb, &j, &err);
    if (st != RAG_OK) {
        FUZZ_CHECK(err.status == st);
        FUZZ_CHECK(!strncmp(err.msg, path, strlen(path)));
    } else {
        FUZZ_CHECK(j.docs >= 1);
    }
    FUZZ_CHECK(st != RAG_E_INTERNAL);
}

#endif /* RAGC_FUZZ_EXTRACT_H */
