/* Tests for rag_extract_file: every format from small fixtures (tests/fixtures/ingest/), BEIR
 * bad-line reporting, UTF-8 / empty / garbage / truncated / encrypted inputs, caps, is_unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ragc/extract.h"

/* ---- helpers ---- */

#define MAX_DOCS 16
#define MAX_SKIPS 16

typedef struct collect {
    rag_document *docs[MAX_DOCS];
    size_t n_docs;
    char skip_source[MAX_SKIPS][256];
    rag_err skip_err[MAX_SKIPS];
    size_t n_skips;
    rag_status fail_with; /* the callback returns this (after taking the doc) */
    const char *unchanged_source; /* is_unchanged returns true for this source */
    char seen_hash[33];
    size_t n_unchanged_calls;
} collect;

static rag_status on_doc(void *ud, rag_document *doc, rag_err *err)
{
    collect *c = ud;
    assert_non_null(err);
    if (c->n_docs < MAX_DOCS)
        c->docs[c->n_docs++] = doc;
    else
        rag_document_free(doc);
    if (c->fail_with != RAG_OK)
        return rag_err_set(err, c->fail_with, "test callback refused %s", doc->source);
    return RAG_OK;
}

static void on_skip(void *ud, const char *source, const rag_err *why)
{
    collect *c = ud;
    if (c->n_skips < MAX_SKIPS) {
        snprintf(c->skip_source[c->n_skips], sizeof c->skip_source[0], "%s", source);
        c->skip_err[c->n_skips] = *why;
        c->n_skips++;
    }
}

static bool is_unchanged(void *ud, const char *source, const char *hash)
{
    collect *c = ud;
    c->n_unchanged_calls++;
    assert_int_equal(strlen(hash), 32);
    if (c->unchanged_source && !strcmp(source, c->unchanged_source)) {
        memcpy(c->seen_hash, hash, 33);
        return true;
    }
    return false;
}

static void collect_free(collect *c)
{
    for (size_t i = 0; i < c->n_docs; i++)
        rag_document_free(c->docs[i]);
    memset(c, 0, sizeof *c);
}

static rag_extract_params params(void)
{
    rag_extract_params p = rag_extract_default_params();
    p.on_skip = on_skip;
    p.is_unchanged = is_unchanged;
    return p;
}

static const char *fixture(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    const char *src = getenv("RAGC_SOURCE_DIR");
    snprintf(p[k], sizeof p[k], "%s/tests/fixtures/ingest/%s", src ? src : ".", name);
    return p[k];
}

static const char *sample_pdf(const char *rel)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    const char *shared = getenv("RAGC_SHARED_DIR");
    snprintf(p[k], sizeof p[k], "%s/data/pdf-samples/%s", shared ? shared : "../shared", rel);
    return p[k];
}

/* Runs extraction of path into c with p; returns the status; err receives the message. */
static rag_status run(const char *path, const rag_extract_params *p, collect *c, rag_err *err)
{
    rag_extract_params q = *p;
    q.ud = c;
    rag_err_clear(err);
    return rag_extract_file(path, &q, on_doc, c, err);
}

static void assert_starts_with(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

static void assert_contains(const char *s, const char *needle)
{
    if (!strstr(s, needle))
        fail_msg("\"%s\" does not contain \"%s\"", s, needle);
}

static void assert_not_contains(const char *s, const char *needle)
{
    if (strstr(s, needle))
        fail_msg("\"%s\" contains \"%s\"", s, needle);
}

static char *tmp_path(const char *name)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/ragc-extract-XXXXXX");
        assert_non_null(mkdtemp(dir));
    }
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* ---- plain text ---- */

static void test_text(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    const char *path = fixture("plain.txt");
    assert_int_equal(run(path, &p, &c, &err), RAG_OK);
    assert_int_equal(c.n_docs, 1);
    rag_document *d = c.docs[0];
    assert_string_equal(d->source, path);
    assert_string_equal(d->format, "text");
    assert_string_equal(d->title, "plain");
    assert_null(d->ext_id);
    assert_int_equal(d->n_pages, 1);
    assert_int_equal(d->n_pages_total, 1);
    assert_int_equal(d->n_pages_failed, 0);
    assert_int_equal(d->pages[0].number, 0);
    assert_string_equal(d->pages[0].text,
                        "Plain text caf\xC3\xA9 file.\n\nSecond paragraph with spaces and tab.");
    assert_int_equal(d->pages[0].len, strlen(d->pages[0].text));
    /* content hash of the raw bytes, mtime from stat */
    char *raw;
    size_t n;
    assert_int_equal(rag_read_file(path, 1 << 20, &raw, &n, NULL), RAG_OK);
    char hash[33];
    rag_hash128_hex(raw, n, hash);
    free(raw);
    assert_string_equal(d->content_hash, hash);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(d->mtime, (int64_t)sb.st_mtim.tv_sec);
    assert_int_equal(c.n_unchanged_calls, 1);
    collect_free(&c);

    /* NULL params = defaults */
    assert_int_equal(rag_extract_file(path, NULL, on_doc, &c, NULL), RAG_OK);
    assert_int_equal(c.n_docs, 1);
    collect_free(&c);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    const char *path = fixture("invalid_utf8.txt");
    assert_int_equal(run(path, &p, &c, &err), RAG_E_BAD_INPUT);
    assert_starts_with(err.msg, path);
    assert_contains(err.msg, "invalid UTF-8 at byte 23 (not a UTF-8 text file)");
    path = fixture("invalid_utf8.md");
    assert_int_equal(run(path, &p, &c, &err), RAG_E_BAD_INPUT);
    assert_starts_with(err.msg, path);
    assert_contains(err.msg, "invalid UTF-8 at byte 13");
    assert_int_equal(c.n_docs, 0);
}

static void test_empty(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    const char *path = fixture("empty.txt");
    assert_int_equal(run(path, &p, &c, &err), RAG_E_EMPTY);
    assert_starts_with(err.msg, path);
    assert_contains(err.msg, "empty file");
    path = fixture("blank.txt"); /* whitespace only */
    assert_int_equal(run(path, &p, &c, &err), RAG_E_EMPTY);
    assert_starts_with(err.msg, path);
    path = fixture("scriptonly.html");
    assert_int_equal(run(path, &p, &c, &err), RAG_E_EMPTY);
    assert_starts_with(err.msg, path);
    assert_int_equal(c.n_docs, 0);
}

/* ---- markdown ---- */

static void test_markdown(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    assert_int_equal(run(fixture("notes.md"), &p, &c, &err), RAG_OK);
    assert_int_equal(c.n_docs, 1);
    rag_document *d = c.docs[0];
    assert_string_equal(d->format, "markdown");
    assert_string_equal(d->title, "Setext Main Title");
    assert_int_equal(d->n_pages, 1);
    const char *t = d->pages[0].text;
    assert_starts_with(t, "Setext Main Title\n\nIntro with emphasis, strong, struck and inline "
                          "code plus a link text and here.");
    assert_contains(t, "Snake_case_name stays, 2*3 stays, and an inline tag goes.");
    assert_contains(t, "\n\nSecond Section\n\n");
    assert_contains(t, "first item task item numbered item");
    assert_contains(t, "quoted text with *escaped* stars");
    assert_contains(t, "int main(void) { return *p; }"); /* fenced code kept verbatim */
    assert_contains(t, "Col A Col B a1 b1");
    assert_contains(t, "Reference ref link and autolink https://auto.example.org.");
    assert_contains(t, "Fish & chips");
    assert_contains(t, "\n\nSub heading\n\nLast para.");
    const char *gone[] = {"front matter", "tags:", "===", "](", "img.png", "an image", "<span",
                          "</span>", "hidden", "comment", "r1]", "example.com/ref", "```", "##",
                          "~~", "__", "> ", "- [", "|", "***", "`"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        assert_not_contains(t, gone[i]);
    collect_free(&c);

    /* ATX title with inline markup; title = first heading even when it is not first */
    char *md = tmp_path("atx.md");
    const char *src = "Some intro line.\n\n# Hello *World* #\n\ntext with [a](b) link\n";
    write_bytes(md, src, strlen(src));
    assert_int_equal(run(md, &p, &c, &err), RAG_OK);
    assert_string_equal(c.docs[0]->title, "Hello World");
    assert_string_equal(c.docs[0]->pages[0].text,
                        "Some intro line.\n\nHello World\n\ntext with a link");
    collect_free(&c);
    unlink(md);
    free(md);
}

/* ---- HTML ---- */

static void test_html(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    assert_int_equal(run(fixture("page.html"), &p, &c, &err), RAG_OK);
    rag_document *d = c.docs[0];
    assert_string_equal(d->format, "html");
    assert_string_equal(d->title, "Caf\xC3\xA9 Guide 2024");
    assert_string_equal(d->pages[0].text,
                        "Home\n\nThe Best Coffee\n\nEspresso is strong and rich. It comes from "
                        "Italy.\n\nLatte Cappuccino\n\nSize Price Small 2 \xE2\x82\xAC\n\n"
                        "line one line two\n\nna\xC3\xAFve caf\xC3\xA9 & cr\xC3\xA8me");
    const char *hidden[] = {"SCRIPT", "NOSCRIPT", "TEMPLATE", "HIDDEN", "SVG", "COMMENT",
                            "color", "Guide"};
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
        assert_not_contains(d->pages[0].text, hidden[i]);
    collect_free(&c);

    assert_int_equal(run(fixture("notitle.html"), &p, &c, &err), RAG_OK);
    assert_string_equal(c.docs[0]->title, "Fallback Heading");
    assert_string_equal(c.docs[0]->pages[0].text, "Fallback Heading\n\nBody text here.");
    collect_free(&c);

    assert_int_equal(run(fixture("latin1.html"), &p, &c, &err), RAG_OK);
    assert_string_equal(c.docs[0]->pages[0].text, "Caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9" "e");
    collect_free(&c);
}

static void test_html_too_deep(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    char *path = tmp_path("deep.html");
    size_t n = 50000;
    char *buf = malloc(5 * n + 2);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + 5 * i, "<div>", 5);
    memcpy(buf + 5 * n, "x", 2);
    write_bytes(path, buf, 5 * n + 1);
    free(buf);
    assert_int_equal(run(path, &p, &c, &err), RAG_E_BAD_INPUT);
    assert_starts_with(err.msg, path);
    assert_contains(err.msg, "nested too deeply");
    unlink(path);
    free(path);
}

/* ---- BEIR ---- */

static void test_beir(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    const char *path = fixture("corpus.jsonl");
    assert_int_equal(run(path, &p, &c, &err), RAG_OK);
    assert_int_equal(c.n_docs, 3);
    char src[600];
    snprintf(src, sizeof src, "%s#d1", path);
    rag_document *d = c.docs[0];
    assert_string_equal(d->source, src);
    assert_string_equal(d->ext_id, "d1");
    assert_string_equal(d->format, "beir");
    assert_string_equal(d->title, "First Title");
    assert_int_equal(d->n_pages, 1);
    assert_int_equal(d->pages[0].number, 0);
    assert_string_equal(d->pages[0].text, "First Title\n\nAlpha text about caf\xC3\xA9.");
    const char *line1 = "{\"_id\": \"d1\", \"title\": \"First Title\", \"text\": \"Alpha text "
                        "about caf\\u00e9.\", \"metadata\": {}}";
    char hash[33];
    rag_hash128_hex(line1, strlen(line1), hash);
    assert_string_equal(d->content_hash, hash);
    assert_null(c.docs[1]->title); /* empty title */
    assert_string_equal(c.docs[1]->pages[0].text, "Second doc without title.");
    assert_string_equal(c.docs[2]->ext_id, "d11");
    assert_null(c.docs[2]->title); /* null title */
    assert_string_equal(c.docs[2]->pages[0].text, "Null title is fine.");

    /* lines 4..11 are bad, each reported with its line number */
    const struct { int line; rag_status st; const char *why; } bad[] = {
        {4, RAG_E_BAD_INPUT, "invalid JSON"},
        {5, RAG_E_BAD_INPUT, "missing field \"_id\""},
        {6, RAG_E_BAD_INPUT, "missing field \"text\""},
        {7, RAG_E_BAD_INPUT, "\"_id\" must be a string"},
        {8, RAG_E_BAD_INPUT, "\"text\" must be a string"},
        {9, RAG_E_BAD_INPUT, "expected a JSON object"},
        {10, RAG_E_BAD_INPUT, "\"title\" must be a string"},
        {11, RAG_E_EMPTY, "has no text"},
    };
    assert_int_equal(c.n_skips, 8);
    for (size_t i = 0; i < 8; i++) {
        char want[600];
        snprintf(want, sizeof want, "%s:%d", path, bad[i].line);
        assert_string_equal(c.skip_source[i], want);
        assert_int_equal(c.skip_err[i].status, bad[i].st);
        strcat(want, ": ");
        assert_starts_with(c.skip_err[i].msg, want);
        assert_contains(c.skip_err[i].msg, bad[i].why);
    }
    collect_free(&c);
}

static void test_beir_unchanged_and_callback_error(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    const char *path = fixture("corpus.jsonl");
    char src[600];
    snprintf(src, sizeof src, "%s#d1", path);
    c.unchanged_source = src;
    assert_int_equal(run(path, &p, &c, &err), RAG_OK);
    assert_int_equal(c.n_docs, 2); /* d1 skipped as unchanged */
    assert_string_equal(c.docs[0]->ext_id, "d2");
    assert_int_equal(c.n_unchanged_calls, 4); /* d1, d2, d10 (empty text, skipped later), d11 */
    collect_free(&c);

    /* a callback error stops the file and is returned */
    c.fail_with = RAG_E_STORE;
    assert_int_equal(run(path, &p, &c, &err), RAG_E_STORE);
    assert_int_equal(c.n_docs, 1);
    assert_contains(err.msg, "test callback refused");
    assert_int_equal(c.n_skips, 0); /* stopped before the bad lines */
    collect_free(&c);
}

static void test_beir_long_line_and_all_bad(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    char *path = tmp_path("long.jsonl");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("{\"_id\": \"big\", \"text\": \"", f);
    char chunk[4096];
    memset(chunk, 'a', sizeof chunk);
    for (size_t w = 0; w <= RAG_EXTRACT_BEIR_LINE_MAX; w += sizeof chunk)
        fwrite(chunk, 1, sizeof chunk, f);
    fputs("\"}\n{\"_id\": \"small\", \"text\": \"after the long line\"}", f); /* no final \n */
    fclose(f);
    assert_int_equal(run(path, &p, &c, &err), RAG_OK);
    assert_int_equal(c.n_skips, 1);
    assert_int_equal(c.skip_err[0].status, RAG_E_TOO_LARGE);
    assert_contains(c.skip_source[0], ":1");
    assert_contains(c.skip_err[0].msg, "line longer than");
    assert_int_equal(c.n_docs, 1);
    assert_string_equal(c.docs[0]->ext_id, "small");
    collect_free(&c);
    unlink(path);

    const char *bad = "not json\n[1]\n\n";
    write_bytes(path, bad, strlen(bad));
    assert_int_equal(run(path, &p, &c, &err), RAG_E_EMPTY);
    assert_starts_with(err.msg, path);
    assert_contains(err.msg, "no valid BEIR record (2 lines skipped)");
    assert_int_equal(c.n_skips, 2);
    collect_free(&c);
    unlink(path);
    free(path);
}

/* ---- PDF ---- */

static void test_pdf_pages(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    assert_int_equal(run(sample_pdf("004-pdflatex-4-pages/pdflatex-4-pages.pdf"), &p, &c, &err),
                     RAG_OK);
    rag_document *d = c.docs[0];
    assert_string_equal(d->format, "pdf");
    assert_int_equal(d->n_pages_total, 4);
    assert_int_equal(d->n_pages_failed, 0);
    assert_int_equal(d->n_pages, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(d->pages[i].number, i + 1);
        assert_true(d->pages[i].len > 1000);
        assert_true(rag_utf8_valid(d->pages[i].text, d->pages[i].len, NULL));
    }
    assert_contains(d->pages[0].text, "Hello, here is some text without a meaning.");
    collect_free(&c);

    assert_int_equal(run(sample_pdf("011-google-doc-document/google-doc-document.pdf"), &p, &c, &err),
                     RAG_OK);
    assert_string_equal(c.docs[0]->title, "PDF Example Document");
    collect_free(&c);
}

static void test_pdf_garbage_and_truncated(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    const char *path = fixture("garbage.pdf");
    assert_int_equal(run(path, &p, &c, &err), RAG_E_BAD_INPUT);
    assert_starts_with(err.msg, path);
    assert_contains(err.msg, "not a readable PDF: ");

    /* the first 30% of a real PDF */
    char *raw;
    size_t n;
    assert_int_equal(rag_read_file(sample_pdf("001-trivial/minimal-document.pdf"), 1 << 24, &raw,
                                   &n, NULL), RAG_OK);
    char *tpath = tmp_path("truncated.pdf");
    write_bytes(tpath, raw, n * 3 / 10);
    free(raw);
    assert_int_equal(run(tpath, &p, &c, &err), RAG_E_BAD_INPUT);
    assert_starts_with(err.msg, tpath);
    assert_contains(err.msg, "not a readable PDF");
    assert_int_equal(c.n_docs, 0);
    unlink(tpath);
    free(tpath);
}

/* Hand-made PDFs whose page tree claims 2 pages: one lists only page 1, one lists none. */
static void test_pdf_failed_pages(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    assert_int_equal(run(fixture("page_missing.pdf"), &p, &c, &err), RAG_OK);
    rag_document *d = c.docs[0];
    assert_int_equal(d->n_pages_total, 2);
    assert_int_equal(d->n_pages_failed, 1); /* counted, not silently dropped */
    assert_int_equal(d->n_pages, 1);
    assert_int_equal(d->pages[0].number, 1);
    assert_string_equal(d->pages[0].text, "Hello page one");
    collect_free(&c);

    const char *path = fixture("pages_all_missing.pdf");
    assert_int_equal(run(path, &p, &c, &err), RAG_E_BAD_INPUT);
    assert_starts_with(err.msg, path);
    assert_contains(err.msg, "not a readable PDF: all 2 pages failed");
    assert_int_equal(c.n_docs, 0);
}

static void test_pdf_encrypted(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    const char *path = sample_pdf("005-libreoffice-writer-password/libreoffice-writer-password.pdf");
    assert_int_equal(run(path, &p, &c, &err), RAG_E_ENCRYPTED);
    assert_starts_with(err.msg, path);
    assert_contains(err.msg, "encrypted PDF: pass --password");
    p.password = "not-the-password";
    assert_int_equal(run(path, &p, &c, &err), RAG_E_ENCRYPTED);
    assert_contains(err.msg, "wrong password");
    assert_int_equal(c.n_docs, 0);
    p.password = "openpassword";
    assert_int_equal(run(path, &p, &c, &err), RAG_OK);
    assert_int_equal(c.n_docs, 1);
    assert_int_equal(c.docs[0]->pages[0].number, 1);
    assert_contains(c.docs[0]->pages[0].text, "Lorem ipsum dolor sit amet");
    collect_free(&c);
}

static void test_pdf_image_only(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    const char *path = sample_pdf("007-imagemagick-images/imagemagick-images.pdf");
    assert_int_equal(run(path, &p, &c, &err), RAG_E_EMPTY);
    assert_starts_with(err.msg, path);
    assert_contains(err.msg, "no extractable text: image-only or scanned PDF?");
}

/* ---- generic checks ---- */

static void test_unchanged_skips(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    const char *path = fixture("page.html");
    c.unchanged_source = path;
    assert_int_equal(run(path, &p, &c, &err), RAG_OK);
    assert_int_equal(c.n_docs, 0);
    assert_int_equal(c.n_unchanged_calls, 1);
    char *raw;
    size_t n;
    assert_int_equal(rag_read_file(path, 1 << 20, &raw, &n, NULL), RAG_OK);
    char hash[33];
    rag_hash128_hex(raw, n, hash);
    free(raw);
    assert_string_equal(c.seen_hash, hash);
    /* also for a PDF: skipped before MuPDF sees it (an encrypted file would otherwise fail) */
    c.unchanged_source = sample_pdf("005-libreoffice-writer-password/libreoffice-writer-password.pdf");
    assert_int_equal(run(c.unchanged_source, &p, &c, &err), RAG_OK);
    assert_int_equal(c.n_docs, 0);
}

static void test_caps_and_bad_paths(void **state)
{
    (void)state;
    collect c = {0};
    rag_extract_params p = params();
    rag_err err;
    const char *path = fixture("page.html");
    p.max_file_bytes = 100;
    assert_int_equal(run(path, &p, &c, &err), RAG_E_TOO_LARGE);
    assert_starts_with(err.msg, path);
    assert_contains(err.msg, "100-byte limit");
    p = params();
    p.max_text_bytes = 20;
    assert_int_equal(run(path, &p, &c, &err), RAG_E_TOO_LARGE);
    assert_starts_with(err.msg, path);
    assert_contains(err.msg, "max_text_bytes");
    p.max_text_bytes = 1000;
    const char *pdf = sample_pdf("004-pdflatex-4-pages/pdflatex-4-pages.pdf");
    assert_int_equal(run(pdf, &p, &c, &err), RAG_E_TOO_LARGE);
    assert_contains(err.msg, "page 1");
    assert_int_equal(c.n_docs, 0);

    p = params();
    char missing[600];
    snprintf(missing, sizeof missing, "%s", fixture("missing.txt"));
    assert_int_equal(run(missing, &p, &c, &err), RAG_E_NOT_FOUND);
    assert_starts_with(err.msg, missing);
    char src_c[600];
    snprintf(src_c, sizeof src_c, "%s", fixture("../../unit/test_ingest_extract.c"));
    assert_int_equal(run(src_c, &p, &c, &err), RAG_E_UNSUPPORTED);
    assert_starts_with(err.msg, src_c);
    assert_contains(err.msg, ".pdf");
    char dir[600];
    snprintf(dir, sizeof dir, "%s", fixture(""));
    assert_int_equal(run(dir, &p, &c, &err), RAG_E_UNSUPPORTED);
    assert_int_equal(rag_extract_file(fixture("plain.txt"), &p, NULL, NULL, &err), RAG_E_BAD_INPUT);
    assert_int_equal(rag_extract_file("", &p, on_doc, &c, &err), RAG_E_BAD_INPUT);
    assert_int_equal(c.n_docs, 0);
}

static void test_callback_error(void **state)
{
    (void)state;
    collect c = {.fail_with = RAG_E_CANCELLED};
    rag_extract_params p = params();
    rag_err err;
    assert_int_equal(run(fixture("plain.txt"), &p, &c, &err), RAG_E_CANCELLED);
    assert_int_equal(c.n_docs, 1); /* the callback took the document */
    assert_contains(err.msg, "test callback refused");
    collect_free(&c);
}

static void test_default_params(void **state)
{
    (void)state;
    rag_extract_params p = rag_extract_default_params();
    assert_int_equal(p.max_file_bytes, (size_t)256 << 20);
    assert_int_equal(p.max_text_bytes, (size_t)64 << 20);
    assert_null(p.password);
    assert_null(p.is_unchanged);
    assert_null(p.on_skip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_html_too_deep),
        cmocka_unit_test(test_beir),
        cmocka_unit_test(test_beir_unchanged_and_callback_error),
        cmocka_unit_test(test_beir_long_line_and_all_bad),
        cmocka_unit_test(test_pdf_pages),
        cmocka_unit_test(test_pdf_garbage_and_truncated),
        cmocka_unit_test(test_pdf_failed_pages),
        cmocka_unit_test(test_pdf_encrypted),
        cmocka_unit_test(test_pdf_image_only),
        cmocka_unit_test(test_unchanged_skips),
        cmocka_unit_test(test_caps_and_bad_paths),
        cmocka_unit_test(test_callback_error),
        cmocka_unit_test(test_default_params),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char *dir = tmp_path("");
    rmdir(dir);
    free(dir);
    return rc;
}
