/* Extraction dispatcher: checks and reads the file, hashes it, asks is_unchanged, runs the
 * per-format extractor and hands the document to the callback. Also the shared helpers for
 * building documents (extract_internal.h). */
#include "ingest/extract_internal.h"

#include "ragc/normalize.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#define DEFAULT_MAX_FILE_BYTES ((size_t)256 << 20)
#define DEFAULT_MAX_TEXT_BYTES ((size_t)64 << 20)
#define TITLE_MAX_BYTES 1024
#define TITLE_SCAN_BYTES 4096 /* raw title bytes looked at */

rag_extract_params rag_extract_default_params(void)
{
    return (rag_extract_params){
        .max_file_bytes = DEFAULT_MAX_FILE_BYTES,
        .max_text_bytes = DEFAULT_MAX_TEXT_BYTES,
    };
}

/* ---- document building helpers ---- */

rag_status rag_ingest_doc_init(rag_ingest_doc *d, const char *path, const char *source,
                               const char *format, const char *hash, int64_t mtime,
                               size_t max_text_bytes, rag_err *err)
{
    memset(d, 0, sizeof *d);
    d->path = path;
    d->max_text_bytes = max_text_bytes;
    rag_buf_init(&d->scratch, 0);
    d->doc = calloc(1, sizeof *d->doc);
    if (!d->doc || !(d->doc->source = strdup(source))) {
        rag_document_free(d->doc);
        d->doc = NULL;
        return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", path);
    }
    d->doc->format = format;
    memcpy(d->doc->content_hash, hash, 32);
    d->doc->content_hash[32] = '\0';
    d->doc->mtime = mtime;
    d->doc->n_pages_total = 1;
    return RAG_OK;
}

void rag_ingest_doc_discard(rag_ingest_doc *d)
{
    rag_document_free(d->doc);
    d->doc = NULL;
    rag_buf_free(&d->scratch);
}

rag_status rag_ingest_doc_add_page(rag_ingest_doc *d, const char *raw, size_t n, int number,
                                   rag_err *err)
{
    size_t remaining = d->max_text_bytes - d->text_bytes;
    /* max is remaining + 1 so that a 0-byte budget still has a non-zero (= bounded) cap. */
    d->scratch.max = remaining + 1;
    rag_status st = rag_normalize(raw, n, &d->scratch, err);
    if (st == RAG_OK && d->scratch.len > remaining)
        st = RAG_E_TOO_LARGE;
    if (st == RAG_E_TOO_LARGE) {
        if (number > 0)
            return rag_err_set(err, st, "%s: extracted text exceeds the %zu-byte limit "
                               "(max_text_bytes) at page %d", d->path, d->max_text_bytes, number);
        return rag_err_set(err, st, "%s: extracted text exceeds the %zu-byte limit (max_text_bytes)",
                           d->path, d->max_text_bytes);
    }
    if (st != RAG_OK) {
        if (number > 0)
            rag_err_prefix(err, "%s: page %d: ", d->path, number);
        else
            rag_err_prefix(err, "%s: ", d->path);
        return st;
    }
    if (d->scratch.len == 0)
        return RAG_OK;
    rag_document *doc = d->doc;
    if (doc->n_pages == d->pages_cap) {
        size_t cap = d->pages_cap ? d->pages_cap * 2 : 4;
        rag_page *p = realloc(doc->pages, cap * sizeof *p);
        if (!p)
            return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", d->path);
        doc->pages = p;
        d->pages_cap = cap;
    }
    char *text = malloc(d->scratch.len + 1);
    if (!text)
        return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", d->path);
    memcpy(text, d->scratch.data, d->scratch.len + 1);
    doc->pages[doc->n_pages++] = (rag_page){.text = text, .len = d->scratch.len, .number = number};
    d->text_bytes += d->scratch.len;
    return RAG_OK;
}

/* Largest prefix length <= n of s that does not end inside a UTF-8 sequence. */
static size_t utf8_prefix(const char *s, size_t len, size_t n)
{
    if (n >= len)
        return len;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

char *rag_ingest_clean_title(const char *s, size_t n)
{
    if (!s)
        return NULL;
    n = utf8_prefix(s, n, TITLE_SCAN_BYTES);
    if (!rag_utf8_valid(s, n, NULL))
        return NULL;
    rag_buf b;
    rag_buf_init(&b, 0);
    if (rag_normalize(s, n, &b, NULL) != RAG_OK) {
        rag_buf_free(&b);
        return NULL;
    }
    size_t w = 0; /* paragraph breaks -> one space */
    for (size_t r = 0; r < b.len; r++) {
        if (b.data[r] == '\n') {
            if (r + 1 < b.len && b.data[r + 1] == '\n')
                r++;
            b.data[w++] = ' ';
        } else {
            b.data[w++] = b.data[r];
        }
    }
    w = utf8_prefix(b.data, w, TITLE_MAX_BYTES);
    while (w > 0 && b.data[w - 1] == ' ')
        w--;
    b.data[w] = '\0';
    if (w == 0) {
        rag_buf_free(&b);
        return NULL;
    }
    return rag_buf_steal(&b);
}

rag_status rag_ingest_append_cp(rag_buf *b, int32_t cp)
{
    if (cp == 0)
        return RAG_OK;
    if (!utf8proc_codepoint_valid(cp))
        cp = 0xFFFD;
    utf8proc_uint8_t enc[4];
    utf8proc_ssize_t k = utf8proc_encode_char(cp, enc);
    return rag_buf_append(b, enc, (size_t)k);
}

/* ---- dispatcher ---- */

static size_t bom_len(const char *data, size_t n)
{
    return n >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3) ? 3 : 0;
}

/* Title for a text file: the file name without directory and extension. */
static char *text_title(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return rag_ingest_clean_title(base, n);
}

static rag_status check_utf8(const char *path, const char *data, size_t n, rag_err *err)
{
    size_t bad = 0;
    if (!rag_utf8_valid(data, n, &bad))
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "%s: invalid UTF-8 at byte %zu (not a UTF-8 text file)", path, bad);
    return RAG_OK;
}

static rag_status extract_text(rag_ingest_doc *d, const char *data, size_t n, rag_err *err)
{
    size_t skip = bom_len(data, n);
    rag_status st = check_utf8(d->path, data, n, err);
    if (st != RAG_OK)
        return st;
    d->doc->title = text_title(d->path);
    return rag_ingest_doc_add_page(d, data + skip, n - skip, 0, err);
}

static rag_status extract_markdown(rag_ingest_doc *d, const char *data, size_t n, rag_err *err)
{
    rag_status st = check_utf8(d->path, data, n, err);
    if (st != RAG_OK)
        return st;
    size_t skip = bom_len(data, n);
    return rag_ingest_markdown(d, data + skip, n - skip, err);
}

/* Runs the extractor for format f over data[0..n); on success *out is the document
 * (caller frees with rag_document_free). */
static rag_status extract_bytes(const char *path, rag_format f, const char *data, size_t n,
                                const char *hash, int64_t mtime, const rag_extract_params *p,
                                rag_document **out, rag_err *err)
{
    *out = NULL;
    rag_ingest_doc d;
    rag_status st = rag_ingest_doc_init(&d, path, path, rag_format_name(f), hash, mtime,
                                        p->max_text_bytes, err);
    if (st != RAG_OK)
        return st;
    switch (f) {
    case RAG_FORMAT_PDF: st = rag_ingest_pdf(&d, data, n, p->password, err); break;
    case RAG_FORMAT_HTML: st = rag_ingest_html(&d, data, n, err); break;
    case RAG_FORMAT_MARKDOWN: st = extract_markdown(&d, data, n, err); break;
    case RAG_FORMAT_TEXT: st = extract_text(&d, data, n, err); break;
    default: st = rag_err_set(err, RAG_E_INTERNAL, "%s: no extractor for this format", path);
    }
    if (st == RAG_OK && d.doc->n_pages == 0) {
        if (f == RAG_FORMAT_PDF)
            st = rag_err_set(err, RAG_E_EMPTY,
                             "%s: no extractable text: image-only or scanned PDF? (%d pages)", path,
                             d.doc->n_pages_total);
        else
            st = rag_err_set(err, RAG_E_EMPTY, "%s: no extractable text (only whitespace or markup)",
                             path);
    }
    if (st == RAG_OK) {
        *out = d.doc;
        d.doc = NULL;
    }
    rag_ingest_doc_discard(&d);
    return st;
}

rag_status rag_extract_file(const char *path, const rag_extract_params *p, rag_document_cb cb,
                            void *ud, rag_err *err)
{
    if (!path || !*path)
        return rag_err_set(err, RAG_E_BAD_INPUT, "extract: empty file path");
    if (!cb)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: no document callback given", path);
    rag_extract_params prm = p ? *p : rag_extract_default_params();
    if (!prm.max_file_bytes)
        prm.max_file_bytes = DEFAULT_MAX_FILE_BYTES;
    if (!prm.max_text_bytes)
        prm.max_text_bytes = DEFAULT_MAX_TEXT_BYTES;

    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        return rag_err_set(err, e == ENOENT || e == ENOTDIR ? RAG_E_NOT_FOUND : RAG_E_IO, "%s: %s",
                           path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode))
        return rag_err_set(err, RAG_E_UNSUPPORTED, "%s: not a regular file", path);
    rag_format f = rag_format_from_path(path);
    if (f == RAG_FORMAT_UNKNOWN)
        return rag_err_set(err, RAG_E_UNSUPPORTED,
                           "%s: unsupported file type (supported extensions: %s)", path,
                           RAG_FORMAT_EXTENSIONS);
    if ((uint64_t)sb.st_size > (uint64_t)prm.max_file_bytes)
        return rag_err_set(err, RAG_E_TOO_LARGE,
                           "%s: file is %lld bytes, above the %zu-byte limit (max_file_bytes)",
                           path, (long long)sb.st_size, prm.max_file_bytes);
    if (sb.st_size == 0)
        return rag_err_set(err, RAG_E_EMPTY, "%s: empty file", path);
    int64_t mtime = (int64_t)sb.st_mtim.tv_sec;

    if (f == RAG_FORMAT_BEIR)
        return rag_ingest_beir(path, mtime, &prm, cb, ud, err);

    char *data = NULL;
    size_t n = 0;
    rag_status st = rag_read_file(path, prm.max_file_bytes, &data, &n, err);
    if (st != RAG_OK)
        return st;
    if (n == 0) {
        free(data);
        return rag_err_set(err, RAG_E_EMPTY, "%s: empty file", path);
    }
    char hash[33];
    rag_hash128_hex(data, n, hash);
    if (prm.is_unchanged && prm.is_unchanged(ud, path, hash)) {
        free(data);
        return RAG_OK;
    }
    rag_document *doc = NULL;
    st = extract_bytes(path, f, data, n, hash, mtime, &prm, &doc, err);
    free(data);
    if (st != RAG_OK)
        return st;

    rag_err local;
    rag_err *e = err ? err : &local;
    rag_err_clear(e);
    st = cb(ud, doc, e);
    if (st != RAG_OK && e->msg[0] == '\0')
        rag_err_set(e, st, "%s: document callback failed: %s", path, rag_status_str(st));
    return st;
}
