/* PDF extraction with MuPDF: one fz_context per call, every MuPDF call inside fz_try.
 * Variables assigned inside fz_try and read after it are declared with fz_var (setjmp rules).
 *
 * Resource limits per document (a hostile PDF can make MuPDF allocate or loop without bound, e.g.
 * a content stream that inflates to gigabytes of operators, or form XObjects drawing each other
 * thousands of times):
 * - memory: every allocation of the document's fz_context goes through a counting allocator;
 *   one that would take the total over PDF_MEMORY_MAX_DEFAULT (env RAGC_PDF_MAX_MEMORY_MB) is
 *   refused, MuPDF fails, and the document is skipped with RAG_E_TOO_LARGE naming the cap.
 *   MuPDF's resource cache (the store) is PDF_STORE_MAX, inside the cap.
 * - time: a timer thread sets the fz_cookie abort flag at the deadline, PDF_TIME_BUDGET_DEFAULT_MS
 *   after the start (env RAGC_PDF_TIMEOUT_MS); the content-stream interpreter polls it per token,
 *   and the page loop checks it and the clock between pages. The document is skipped with
 *   RAG_E_TIMEOUT. A skipped document hands nothing to the caller (nothing half-stored).
 * The environment variables are operator settings (trusted) read once per document. */
#include "ingest/extract_internal.h"

#include <errno.h>
#include <mupdf/fitz.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PDF_MSG_MAX 256
#define PDF_TITLE_MAX 2048
#define PDF_LOGGED_FAILURES 10 /* page failures logged one by one per document; then a summary */
#define PDF_MEMORY_MAX_DEFAULT ((size_t)1 << 30) /* bytes MuPDF may hold for one document (1 GiB) */
#define PDF_STORE_MAX ((size_t)64 << 20)          /* MuPDF's resource cache, counted in the cap */
#define PDF_TIME_BUDGET_DEFAULT_MS 120000.0       /* wall time to extract one document (2 min) */
#define PDF_ALLOC_HEADER 16                       /* bytes before each block: its size (keeps 16-byte alignment) */

/* ---- counting allocator ---- */

typedef struct pdf_alloc {
    size_t used;  /* bytes handed out and not freed */
    size_t cap;   /* refuse allocations beyond this total */
    bool refused; /* an allocation was refused for the cap */
} pdf_alloc;

static void *pdf_malloc(void *user, size_t size)
{
    pdf_alloc *a = user;
    if (size > a->cap || a->used > a->cap - size) {
        a->refused = true;
        return NULL;
    }
    unsigned char *b = malloc(size + PDF_ALLOC_HEADER);
    if (!b)
        return NULL;
    memcpy(b, &size, sizeof size);
    a->used += size;
    return b + PDF_ALLOC_HEADER;
}

static void pdf_free(void *user, void *p)
{
    if (!p)
        return;
    pdf_alloc *a = user;
    unsigned char *b = (unsigned char *)p - PDF_ALLOC_HEADER;
    size_t size;
    memcpy(&size, b, sizeof size);
    a->used -= size;
    free(b);
}

static void *pdf_realloc(void *user, void *old, size_t size)
{
    if (!old)
        return pdf_malloc(user, size);
    if (size == 0) {
        pdf_free(user, old);
        return NULL;
    }
    pdf_alloc *a = user;
    unsigned char *b = (unsigned char *)old - PDF_ALLOC_HEADER;
    size_t old_size;
    memcpy(&old_size, b, sizeof old_size);
    if (size > old_size && (size - old_size > a->cap || a->used > a->cap - (size - old_size))) {
        a->refused = true;
        return NULL;
    }
    unsigned char *nb = realloc(b, size + PDF_ALLOC_HEADER);
    if (!nb)
        return NULL;
    memcpy(nb, &size, sizeof size);
    a->used = a->used - old_size + size;
    return nb + PDF_ALLOC_HEADER;
}

/* ---- time budget ---- */

typedef struct pdf_timer {
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* CLOCK_MONOTONIC */
    bool done;          /* extraction finished: the thread exits */
    bool fired;         /* the deadline passed and abort was set */
    struct timespec deadline;
    fz_cookie *cookie;  /* borrowed; abort is set with an atomic store */
    pthread_t thread;
    bool running;
} pdf_timer;

static void *pdf_timer_main(void *arg)
{
    pdf_timer *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->done) {
        if (pthread_cond_timedwait(&t->cv, &t->mu, &t->deadline) == ETIMEDOUT && !t->done) {
            __atomic_store_n(&t->cookie->abort, 1, __ATOMIC_RELAXED);
            t->fired = true;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* Starts the timer; without a thread (creation failed) only the checks between pages apply. */
static void pdf_timer_start(pdf_timer *t, fz_cookie *cookie, double budget_ms)
{
    memset(t, 0, sizeof *t);
    t->cookie = cookie;
    clock_gettime(CLOCK_MONOTONIC, &t->deadline);
    long long ns = (long long)t->deadline.tv_nsec + (long long)(budget_ms * 1e6);
    t->deadline.tv_sec += (time_t)(ns / 1000000000LL);
    t->deadline.tv_nsec = (long)(ns % 1000000000LL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    t->running = pthread_create(&t->thread, NULL, pdf_timer_main, t) == 0;
}

static void pdf_timer_stop(pdf_timer *t)
{
    pthread_mutex_lock(&t->mu);
    t->done = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (t->running)
        pthread_join(t->thread, NULL);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
}

/* A positive number from the environment variable name, else def. */
static double env_positive(const char *name, double def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || !(x > 0)) {
        rag_log(RAG_LOG_WARN, "%s='%s' is not a positive number; using %.0f", name, v, def);
        return def;
    }
    return x;
}

/* Limits and progress of one document's extraction. */
typedef struct pdf_limits {
    pdf_alloc alloc;
    fz_cookie cookie;
    double t0, budget_ms; /* rag_now_ms() at the start; the time budget */
} pdf_limits;

/* True when the time budget is spent (the timer fired or the clock says so). */
static bool pdf_over_time(pdf_limits *l)
{
    return __atomic_load_n(&l->cookie.abort, __ATOMIC_RELAXED) || rag_now_ms() - l->t0 > l->budget_ms;
}

/* The error for a document stopped by a limit, or RAG_OK when no limit was hit. */
static rag_status pdf_limit_error(pdf_limits *l, const char *path, rag_err *err)
{
    if (l->alloc.refused)
        return rag_err_set(err, RAG_E_TOO_LARGE,
                           "%s: PDF needs more than %zu MiB of memory in MuPDF (the per-document cap, "
                           "RAGC_PDF_MAX_MEMORY_MB); skipped",
                           path, l->alloc.cap >> 20);
    if (pdf_over_time(l))
        return rag_err_set(err, RAG_E_TIMEOUT,
                           "%s: PDF extraction took longer than %.1f s (the per-document time budget, "
                           "RAGC_PDF_TIMEOUT_MS); skipped",
                           path, l->budget_ms / 1000.0);
    return RAG_OK;
}

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

/* Structured text of page i (0-based) into *out (caller drops with fz_drop_stext_page). The
 * page runs with cookie, so an abort stops it early (the caller checks the cookie). */
static rag_status pdf_load_text(fz_context *ctx, fz_document *doc, int i, fz_cookie *cookie,
                                fz_stext_page **out, char msg[PDF_MSG_MAX])
{
    fz_page *page = NULL;
    fz_stext_page *text = NULL;
    fz_device *dev = NULL;
    fz_var(page);
    fz_var(text);
    fz_var(dev);
    fz_stext_options opts;
    memset(&opts, 0, sizeof opts);
    opts.flags = FZ_STEXT_MEDIABOX_CLIP; /* ignore text placed outside the page */
    fz_try(ctx) {
        page = fz_load_page(ctx, doc, i);
        text = fz_new_stext_page(ctx, fz_bound_page(ctx, page));
        dev = fz_new_stext_device(ctx, text, &opts);
        fz_run_page(ctx, page, dev, fz_identity, cookie);
        fz_close_device(ctx, dev);
    }
    fz_always(ctx) {
        fz_drop_device(ctx, dev);
        fz_drop_page(ctx, page);
    }
    fz_catch(ctx) {
        fz_drop_stext_page(ctx, text);
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
                            pdf_limits *lim, rag_err *err)
{
    char msg[PDF_MSG_MAX] = "";
    char last[PDF_MSG_MAX] = "";
    rag_buf raw;
    rag_buf_init(&raw, d->max_text_bytes);
    rag_status st = RAG_OK;
    for (int i = 0; i < count && st == RAG_OK; i++) {
        fz_stext_page *text = NULL;
        rag_status ps = pdf_load_text(ctx, doc, i, &lim->cookie, &text, msg);
        if (lim->alloc.refused || pdf_over_time(lim)) { /* the page may be cut short: drop the document */
            fz_drop_stext_page(ctx, text);
            st = pdf_limit_error(lim, d->path, err);
            break;
        }
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
    pdf_limits lim;
    memset(&lim, 0, sizeof lim);
    double mb = env_positive("RAGC_PDF_MAX_MEMORY_MB", (double)(PDF_MEMORY_MAX_DEFAULT >> 20));
    lim.alloc.cap = mb >= (double)(SIZE_MAX >> 21) ? SIZE_MAX / 2 : (size_t)(mb * 1048576.0);
    lim.budget_ms = env_positive("RAGC_PDF_TIMEOUT_MS", PDF_TIME_BUDGET_DEFAULT_MS);
    lim.t0 = rag_now_ms();
    fz_alloc_context alloc = {&lim.alloc, pdf_malloc, pdf_realloc, pdf_free};
    size_t store = PDF_STORE_MAX < lim.alloc.cap / 4 ? PDF_STORE_MAX : lim.alloc.cap / 4;
    fz_context *ctx = fz_new_context(&alloc, NULL, store);
    if (!ctx && lim.alloc.refused)
        return rag_err_set(err, RAG_E_TOO_LARGE, "%s: the MuPDF memory cap of %zu bytes is too small for a context",
                           d->path, lim.alloc.cap);
    if (!ctx)
        return rag_err_set(err, RAG_E_NOMEM, "%s: cannot create a MuPDF context", d->path);
    pdf_timer timer;
    pdf_timer_start(&timer, &lim.cookie, lim.budget_ms);
    fz_set_warning_callback(ctx, pdf_warning_cb, (void *)d->path);
    fz_set_error_callback(ctx, pdf_error_cb, (void *)d->path);

    char msg[PDF_MSG_MAX] = "";
    fz_document *doc = NULL;
    rag_status st = pdf_open(ctx, data, n, &doc, msg);
    if (st != RAG_OK) {
        rag_status lst = pdf_limit_error(&lim, d->path, err);
        st = lst != RAG_OK ? lst : rag_err_set(err, st, "%s: not a readable PDF: %s", d->path, msg);
        goto done;
    }
    st = pdf_unlock(ctx, doc, password, d->path, err);
    if (st != RAG_OK)
        goto done;
    int count = 0;
    st = pdf_count(ctx, doc, &count, msg);
    if (st != RAG_OK) {
        rag_status lst = pdf_limit_error(&lim, d->path, err);
        st = lst != RAG_OK ? lst : rag_err_set(err, st, "%s: not a readable PDF: %s", d->path, msg);
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
    st = pdf_pages(ctx, doc, d, count, &lim, err);
done:
    pdf_timer_stop(&timer);
    fz_drop_document(ctx, doc);
    fz_flush_warnings(ctx);
    fz_drop_context(ctx);
    return st;
}
