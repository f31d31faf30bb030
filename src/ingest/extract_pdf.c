/* PDF extraction with MuPDF: one fz_context per call, every MuPDF call inside fz_try.
 * Variables assigned inside fz_try and read after it are declared with fz_var (setjmp rules). */
#include "ingest/extract_internal.h"

#include <mupdf/fitz.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PDF_MSG_MAX 256
#define PDF_TITLE_MAX 2048
#define PDF_LOGGED_FAILURES 10 /* page failures logged one by one per document; then a summary */

/* MuPDF's warnings and error messages go to rag_log at debug level; user = file path. */
static void pdf_warning_cb(void *user, const char *message)
{
    rag_log(RAG_LOG_DEBUG, "mupdf warning: %s: %s", (const char *)user, message);
}

static void pdf_error_cb(void *user, const char *message)
{
    rag_log(RAG_LOG_DEBUG, "mupdf error: %s: %s", (const char *)user, message);
}

static void caught(fz_context *ctx, char msg[PDF_MSG_MAX])
{
    snprintf(msg, PDF_MSG_MAX, "%s", fz_caught_message(ctx));
}

/* Opens the PDF in data[0..n) (borrowed; must outlive *out). */
static rag_status pdf_open(fz_context *ctx, const char *data, size_t n, fz_document **out,
                           char msg[PDF_MSG_MAX])
{
    fz_stream *stm = NULL;
    fz_document *doc = NULL;
    fz_var(stm);
    fz_var(doc);
    fz_try(ctx) {
        fz_register_document_handlers(ctx);
        stm = fz_open_memory(ctx, (const unsigned char *)data, n);
        doc = fz_open_document_with_stream(ctx, "application/pdf", stm);
    }
    fz_always(ctx) {
        fz_drop_stream(ctx, stm);
    }
    fz_catch(ctx) {
        caught(ctx, msg);
        return fz_caught(ctx) == FZ_ERROR_MEMORY ? RAG_E_NOMEM : RAG_E_BAD_INPUT;
    }
    *out = doc;
    return RAG_OK;
}

/* Checks encryption and authenticates with password if needed. */
static rag_status pdf_unlock(fz_context *ctx, fz_document *doc, const char *password,
                             const char *path, rag_err *err)
{
    int needs = 0, ok = 0;
    fz_var(needs);
    fz_var(ok);
    fz_try(ctx) {
        needs = fz_needs_password(ctx, doc);
        if (needs && password && *password)
            ok = fz_authenticate_password(ctx, doc, password);
    }
    fz_catch(ctx) {
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: not a readable PDF: %s", path,
                           fz_caught_message(ctx));
    }
    if (!needs)
        return RAG_OK;
    if (!password || !*password)
        return rag_err_set(err, RAG_E_ENCRYPTED, "%s: encrypted PDF: pass --password", path);
    if (!ok)
        return rag_err_set(err, RAG_E_ENCRYPTED, "%s: wrong password", path);
    return RAG_OK;
}

static rag_status pdf_count(fz_context *ctx, fz_document *doc, int *n, char msg[PDF_MSG_MAX])
{
    int count = 0;
    fz_var(count);
    fz_try(ctx) {
        count = fz_count_pages(ctx, doc);
    }
    fz_catch(ctx) {
        caught(ctx, msg);
        return fz_caught(ctx) == FZ_ERROR_MEMORY ? RAG_E_NOMEM : RAG_E_BAD_INPUT;
    }
    *n = count;
    return RAG_OK;
}

/* Title from the Info dictionary, or NULL (missing, empty, "untitled", not valid UTF-8, or the
 * lookup failed). */
static char *pdf_title(fz_context *ctx, fz_document *doc)
{
    char buf[PDF_TITLE_MAX];
    int len = -1;
    fz_var(len);
    buf[0] = '\0';
    fz_try(ctx) {
        len = fz_lookup_metadata(ctx, doc, FZ_META_INFO_TITLE, buf, (int)sizeof buf);
    }
    fz_catch(ctx) {
        rag_log(RAG_LOG_DEBUG, "pdf title lookup failed: %s", fz_caught_message(ctx));
        return NULL;
    }
    if (len <= 1)
        return NULL;
    buf[sizeof buf - 1] = '\0';
    /* A truncated value may end inside a UTF-8 sequence: rag_ingest_clean_title only looks at
     * the first 4 KiB and validates, so cut a possibly partial tail here first. */
    size_t n = strlen(buf);
    if ((size_t)len > sizeof buf)
        while (n > 0 && ((unsigned char)buf[n - 1] & 0x80))
            n--;
    char *t = rag_ingest_clean_title(buf, n);
    if (t && !strcasecmp(t, "untitled")) { /* producer placeholder (ReportLab, Word) */
        free(t);
        t = NULL;
    }
    return t;
}

/* Structured text of page i (0-based) into *out (caller drops with fz_drop_stext_page). */
static rag_status pdf_load_text(fz_context *ctx, fz_document *doc, int i, fz_stext_page **out,
                                char msg[PDF_MSG_MAX])
{
    fz_page *page = NULL;
    fz_stext_page *text = NULL;
    fz_var(page);
    fz_var(text);
    fz_stext_options opts;
    memset(&opts, 0, sizeof opts);
    opts.flags = FZ_STEXT_MEDIABOX_CLIP; /* ignore text placed outside the page */
    fz_try(ctx) {
        page = fz_load_page(ctx, doc, i);
        text = fz_new_stext_page_from_page(ctx, page, &opts);
    }
    fz_always(ctx) {
        fz_drop_page(ctx, page);
    }
    fz_catch(ctx) {
        caught(ctx, msg);
        return fz_caught(ctx) == FZ_ERROR_MEMORY ? RAG_E_NOMEM : RAG_E_BAD_INPUT;
    }
    *out = text;
    return RAG_OK;
}

/* Lines of a block end with '\n' and blocks with a blank line, so the normalizer joins the
 * lines of a block into one paragraph (with de-hyphenation) and keeps blocks apart. */
static rag_status stext_to_utf8(const fz_stext_page *text, rag_buf *raw)
{
    rag_status st = RAG_OK;
    for (const fz_stext_block *b = text->first_block; b && st == RAG_OK; b = b->next) {
        if (b->type != FZ_STEXT_BLOCK_TEXT)
            continue;
        for (const fz_stext_line *l = b->u.t.first_line; l && st == RAG_OK; l = l->next) {
            for (const fz_stext_char *c = l->first_char; c && st == RAG_OK; c = c->next)
                st = rag_ingest_append_cp(raw, c->c);
            if (st == RAG_OK)
                st = rag_buf_append_char(raw, '\n');
        }
        if (st == RAG_OK)
            st = rag_buf_append_char(raw, '\n');
    }
    return st;
}

static rag_status pdf_pages(fz_context *ctx, fz_document *doc, rag_ingest_doc *d, int count,
                            rag_err *err)
{
    char msg[PDF_MSG_MAX] = "";
    char last[PDF_MSG_MAX] = "";
    rag_buf raw;
    rag_buf_init(&raw, d->max_text_bytes);
    rag_status st = RAG_OK;
    for (int i = 0; i < count && st == RAG_OK; i++) {
        fz_stext_page *text = NULL;
        rag_status ps = pdf_load_text(ctx, doc, i, &text, msg);
        if (ps == RAG_E_NOMEM) {
            st = rag_err_set(err, ps, "%s: page %d: out of memory in MuPDF: %s", d->path, i + 1, msg);
            break;
        }
        if (ps != RAG_OK) {
            d->doc->n_pages_failed++;
            memcpy(last, msg, sizeof last);
            if (d->doc->n_pages_failed <= PDF_LOGGED_FAILURES)
                rag_log(RAG_LOG_WARN, "%s: page %d: text extraction failed: %s", d->path, i + 1, msg);
            continue;
        }
        rag_buf_reset(&raw);
        ps = stext_to_utf8(text, &raw);
        fz_drop_stext_page(ctx, text);
        if (ps == RAG_E_TOO_LARGE)
            st = rag_err_set(err, ps, "%s: page %d: extracted text exceeds the %zu-byte limit "
                             "(max_text_bytes)", d->path, i + 1, d->max_text_bytes);
        else if (ps != RAG_OK)
            st = rag_err_set(err, ps, "%s: page %d: %s", d->path, i + 1, rag_status_str(ps));
        else
            st = rag_ingest_doc_add_page(d, raw.data ? raw.data : "", raw.len, i + 1, err);
    }
    rag_buf_free(&raw);
    if (d->doc->n_pages_failed > PDF_LOGGED_FAILURES)
        rag_log(RAG_LOG_WARN, "%s: %d pages failed in all (the first %d are listed above; last error: %s)",
                d->path, d->doc->n_pages_failed, PDF_LOGGED_FAILURES, last);
    if (st == RAG_OK && count > 0 && d->doc->n_pages_failed == count)
        st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: not a readable PDF: all %d pages failed (%s)",
                         d->path, count, last);
    return st;
}

rag_status rag_ingest_pdf(rag_ingest_doc *d, const char *data, size_t n, const char *password,
                          rag_err *err)
{
    fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
    if (!ctx)
        return rag_err_set(err, RAG_E_NOMEM, "%s: cannot create a MuPDF context", d->path);
    fz_set_warning_callback(ctx, pdf_warning_cb, (void *)d->path);
    fz_set_error_callback(ctx, pdf_error_cb, (void *)d->path);

    char msg[PDF_MSG_MAX] = "";
    fz_document *doc = NULL;
    rag_status st = pdf_open(ctx, data, n, &doc, msg);
    if (st != RAG_OK) {
        rag_err_set(err, st, "%s: not a readable PDF: %s", d->path, msg);
        goto done;
    }
    st = pdf_unlock(ctx, doc, password, d->path, err);
    if (st != RAG_OK)
        goto done;
    int count = 0;
    st = pdf_count(ctx, doc, &count, msg);
    if (st != RAG_OK) {
        rag_err_set(err, st, "%s: not a readable PDF: %s", d->path, msg);
        goto done;
    }
    if (count <= 0) {
        st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: not a readable PDF: no pages", d->path);
        goto done;
    }
    if (count > RAG_EXTRACT_PDF_MAX_PAGES) { /* a page tree's /Count is whatever the file says */
        st = rag_err_set(err, RAG_E_TOO_LARGE, "%s: PDF claims %d pages, above the limit of %d",
                         d->path, count, RAG_EXTRACT_PDF_MAX_PAGES);
        goto done;
    }
    d->doc->n_pages_total = count;
    d->doc->title = pdf_title(ctx, doc);
    st = pdf_pages(ctx, doc, d, count, err);
done:
    fz_drop_document(ctx, doc);
    fz_flush_warnings(ctx);
    fz_drop_context(ctx);
    return st;
}
