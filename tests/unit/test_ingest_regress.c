/* Regression tests for inputs found by the hardening work (fuzz/, docs/security.md), each held in
 * tests/fixtures/regress/ingest/.
 *
 * html_depth_*.html: HTML whose real nesting (gumbo's tree) is over 10,000 elements but which
 * the depth pre-scan of extract_html.c under-counted, so gumbo's quadratic tree construction ran
 * on it (100,000 levels of one of these patterns in a 0.9 MB file took 80 s of CPU; the server
 * ingests uploads under its write lock). Each must now be refused as "nested too deeply", fast:
 * stray end tags, an upper-case </SCRIPT>, the abrupt comment "<!-->", "<q/>" (HTML ignores
 * the '/'), "</q>" across a <div> (ignored by HTML5), and elements inside an SVG <title>.
 *
 * pdf_page_count_bomb.pdf: a 600-byte PDF whose page tree claims 2,000,000,000 pages (one real
 * page): every missing page was tried and logged (5,000,000 took 9.5 s and 5 million warning
 * lines; 2e9 would take over an hour). Now refused above RAG_EXTRACT_PDF_MAX_PAGES.
 * pdf_missing_pages.pdf: /Count 50 with one real page: still extracted (49 pages failed), with
 * at most 10 per-page warnings plus one summary line.
 *
 * Generated here (write_fanout_pdf): form XObjects that draw each other a thousand times per level
 * (a few hundred bytes, billions of operations), the PDF form of "billion laughs". With text in the
 * last form, MuPDF's structured-text page grows without bound: stopped by the per-document memory
 * cap (RAGC_PDF_MAX_MEMORY_MB, RAG_E_TOO_LARGE). With only "q Q" in it, MuPDF allocates nothing
 * new and would run for hours: stopped by the time budget (RAGC_PDF_TIMEOUT_MS, RAG_E_TIMEOUT)
 * through the cookie's abort flag. Neither hands a document over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ragc/extract.h"

static char g_path[4096];

static const char *fixture(const char *dir, const char *name)
{
    const char *src = getenv("RAGC_SOURCE_DIR");
    snprintf(g_path, sizeof g_path, "%s/tests/fixtures/%s/%s", src && *src ? src : ".", dir, name);
    return g_path;
}

static rag_status keep_count(void *ud, rag_document *doc, rag_err *err)
{
    (void)err;
    (*(size_t *)ud)++;
    rag_document_free(doc);
    return RAG_OK;
}

static rag_status keep_doc(void *ud, rag_document *doc, rag_err *err);

static void expect_too_deep(const char *name)
{
    const char *path = fixture("regress/ingest", name);
    size_t docs = 0;
    rag_err err;
    rag_err_clear(&err);
    double t0 = rag_now_ms();
    rag_status st = rag_extract_file(path, NULL, keep_count, &docs, &err);
    double ms = rag_now_ms() - t0;
    if (st != RAG_E_BAD_INPUT)
        fail_msg("%s: status %s (%s), expected bad input \"nested too deeply\"", name, rag_status_str(st), err.msg);
    assert_int_equal(docs, 0);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    assert_non_null(strstr(err.msg, path)); /* the message names the file */
    assert_true(ms < 2000.0);              /* refused by the pre-scan, not after parsing */
}

static void test_html_stray_end_tags(void **state)
{
    (void)state;
    expect_too_deep("html_depth_stray_end_tags.html");
}

static void test_html_uppercase_rawtext_end(void **state)
{
    (void)state;
    expect_too_deep("html_depth_uppercase_rawtext_end.html");
}

static void test_html_abrupt_comment(void **state)
{
    (void)state;
    expect_too_deep("html_depth_abrupt_comment.html");
}

static void test_html_self_closing(void **state)
{
    (void)state;
    expect_too_deep("html_depth_self_closing.html");
}

static void test_html_end_tag_across_block(void **state)
{
    (void)state;
    expect_too_deep("html_depth_end_tag_across_block.html");
}

static void test_html_svg_title(void **state)
{
    (void)state;
    expect_too_deep("html_depth_svg_title.html");
}

/* The stricter pre-scan still accepts ordinary and sloppy pages. */
static void test_html_ordinary_pages_still_extract(void **state)
{
    (void)state;
    const char *names[] = {"page.html", "notitle.html", "latin1.html"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t docs = 0;
        rag_err err;
        rag_err_clear(&err);
        rag_status st = rag_extract_file(fixture("ingest", names[i]), NULL, keep_count, &docs, &err);
        if (st != RAG_OK)
            fail_msg("%s: %s", names[i], err.msg);
        assert_int_equal(docs, 1);
    }
    /* 2,000 levels of sloppy but legal nesting, well under the limit */
    char tmp[] = "/tmp/ragc-regress-XXXXXX.html";
    int fd = mkstemps(tmp, 5);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    for (int i = 0; i < 2000; i++)
        fputs("<div><span><b><i>text</b></i><p>para<li>item<table><tr><td>cell</td></table><br/></span>", f);
    fputs("<SCRIPT>if (a < b) x = '<div>';</SCRIPT><!-- <div> --><svg><path/><title>t</title></svg>", f);
    fclose(f);
    size_t docs = 0;
    rag_err err;
    rag_err_clear(&err);
    rag_status st = rag_extract_file(tmp, NULL, keep_count, &docs, &err);
    remove(tmp);
    if (st != RAG_OK)
        fail_msg("sloppy page: %s", err.msg);
    assert_int_equal(docs, 1);
}

static void test_pdf_page_count_bomb(void **state)
{
    (void)state;
    const char *path = fixture("regress/ingest", "pdf_page_count_bomb.pdf");
    size_t docs = 0;
    rag_err err;
    rag_err_clear(&err);
    double t0 = rag_now_ms();
    rag_status st = rag_extract_file(path, NULL, keep_count, &docs, &err);
    double ms = rag_now_ms() - t0;
    if (st != RAG_E_TOO_LARGE)
        fail_msg("status %s (%s), expected too large", rag_status_str(st), err.msg);
    assert_non_null(strstr(err.msg, "claims 2000000000 pages"));
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(docs, 0);
    assert_true(ms < 2000.0);
}

/* Writes a one-page PDF to a temporary file (path in out[cap]): the page draws form /X1 once,
 * form k draws form k+1 fanout times (levels forms), the last form runs payload (content stream
 * text). Font /F1 is Helvetica. */
static void write_fanout_pdf(char *out, size_t cap, int levels, int fanout, const char *payload)
{
    snprintf(out, cap, "/tmp/ragc-regress-XXXXXX.pdf");
    int fd = mkstemps(out, 4);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    long off[64];
    int n = 0;
    fputs("%PDF-1.4\n", f);
    off[++n] = ftell(f); /* 1 */
    fputs("1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n", f);
    off[++n] = ftell(f); /* 2 */
    fputs("2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n", f);
    off[++n] = ftell(f); /* 3 */
    fputs("3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
          "/Resources << /XObject << /X1 6 0 R >> /Font << /F1 4 0 R >> >> >> endobj\n", f);
    off[++n] = ftell(f); /* 4 */
    fputs("4 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj\n", f);
    off[++n] = ftell(f); /* 5 */
    fprintf(f, "5 0 obj << /Length 7 >> stream\n/X1 Do\nendstream endobj\n");
    for (int k = 1; k <= levels; k++) {
        char *body;
        size_t len;
        FILE *m = open_memstream(&body, &len);
        assert_non_null(m);
        if (k < levels)
            for (int i = 0; i < fanout; i++)
                fprintf(m, "/X%d Do\n", k + 1);
        else
            fputs(payload, m);
        fclose(m);
        off[++n] = ftell(f); /* 5 + k */
        fprintf(f, "%d 0 obj << /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << ", 5 + k);
        if (k < levels)
            fprintf(f, "/XObject << /X%d %d 0 R >> ", k + 1, 6 + k);
        fprintf(f, "/Font << /F1 4 0 R >> >> /Length %zu >> stream\n%s\nendstream endobj\n", len, body);
        free(body);
    }
    long xref = ftell(f);
    fprintf(f, "xref\n0 %d\n0000000000 65535 f \n", n + 1);
    for (int i = 1; i <= n; i++)
        fprintf(f, "%010ld 00000 n \n", off[i]);
    fprintf(f, "trailer << /Size %d /Root 1 0 R >>\nstartxref\n%ld\n%%%%EOF\n", n + 1, xref);
    assert_int_equal(fclose(f), 0);
}

/* Extracts path with the environment variable name=value set; returns the status, the documents
 * handed over in *docs and the time taken in *ms. */
static rag_status extract_with_env(const char *path, const char *name, const char *value, size_t *docs, double *ms,
                                   rag_err *err)
{
    setenv(name, value, 1);
    *docs = 0;
    rag_err_clear(err);
    double t0 = rag_now_ms();
    rag_status st = rag_extract_file(path, NULL, keep_count, docs, err);
    *ms = rag_now_ms() - t0;
    unsetenv(name);
    return st;
}

static void test_pdf_memory_cap(void **state)
{
    (void)state;
    char path[64];
    write_fanout_pdf(path, sizeof path, 3, 1000, "BT /F1 12 Tf 10 10 Td (AAAAAAAAAAAAAAAAAAAA) Tj ET");
    size_t docs;
    double ms;
    rag_err err;
    rag_status st = extract_with_env(path, "RAGC_PDF_MAX_MEMORY_MB", "64", &docs, &ms, &err);
    remove(path);
    if (st != RAG_E_TOO_LARGE)
        fail_msg("status %s (%s), expected too large (memory cap)", rag_status_str(st), err.msg);
    assert_int_equal(docs, 0);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "more than 64 MiB of memory"));
    assert_non_null(strstr(err.msg, "skipped"));
}

static void test_pdf_time_budget(void **state)
{
    (void)state;
    char path[64];
    write_fanout_pdf(path, sizeof path, 4, 1000, "q Q q Q q Q q Q");
    size_t docs;
    double ms;
    rag_err err;
    rag_status st = extract_with_env(path, "RAGC_PDF_TIMEOUT_MS", "300", &docs, &ms, &err);
    remove(path);
    if (st != RAG_E_TIMEOUT)
        fail_msg("status %s (%s) after %.0f ms, expected a timeout", rag_status_str(st), err.msg, ms);
    assert_int_equal(docs, 0);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "longer than 0.3 s"));
    assert_true(ms >= 300.0);
    assert_true(ms < 3000.0); /* the interpreter saw the abort flag promptly */
}

/* The caps leave ordinary PDFs alone: the 4-page sample under a 64 MiB cap and a 5 s budget, and a
 * small fan-out (1,000 short texts) that finishes well inside both. */
static void test_pdf_limits_spare_ordinary_files(void **state)
{
    (void)state;
    const char *shared = getenv("RAGC_SHARED_DIR");
    char sample[4096];
    snprintf(sample, sizeof sample, "%s/data/pdf-samples/004-pdflatex-4-pages/pdflatex-4-pages.pdf",
             shared && *shared ? shared : "../shared");
    setenv("RAGC_PDF_MAX_MEMORY_MB", "64", 1);
    setenv("RAGC_PDF_TIMEOUT_MS", "5000", 1);
    rag_document *doc = NULL;
    rag_err err;
    rag_err_clear(&err);
    rag_status st = rag_extract_file(sample, NULL, keep_doc, &doc, &err);
    if (st != RAG_OK)
        fail_msg("%s: %s", sample, err.msg);
    assert_int_equal(doc->n_pages, 4);
    rag_document_free(doc);

    char path[64];
    write_fanout_pdf(path, sizeof path, 2, 1000, "BT /F1 12 Tf 10 10 Td (zebra) Tj ET");
    doc = NULL;
    st = rag_extract_file(path, NULL, keep_doc, &doc, &err);
    remove(path);
    unsetenv("RAGC_PDF_MAX_MEMORY_MB");
    unsetenv("RAGC_PDF_TIMEOUT_MS");
    if (st != RAG_OK)
        fail_msg("small fan-out: %s", err.msg);
    assert_int_equal(doc->n_pages, 1);
    assert_non_null(strstr(doc->pages[0].text, "zebra"));
    rag_document_free(doc);
}

static rag_status keep_doc(void *ud, rag_document *doc, rag_err *err)
{
    (void)err;
    *(rag_document **)ud = doc;
    return RAG_OK;
}

/* Counts the lines of file f that contain needle. */
static size_t count_lines(FILE *f, const char *needle)
{
    char line[1024];
    size_t n = 0;
    rewind(f);
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    return n;
}

static void test_pdf_missing_pages_logged_briefly(void **state)
{
    (void)state;
    const char *path = fixture("regress/ingest", "pdf_missing_pages.pdf");
    FILE *log = tmpfile();
    assert_non_null(log);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(log), STDERR_FILENO) >= 0);
    setenv("RAGC_LOG", "warn", 1);
    rag_document *doc = NULL;
    rag_err err;
    rag_err_clear(&err);
    rag_status st = rag_extract_file(path, NULL, keep_doc, &doc, &err);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    setenv("RAGC_LOG", "error", 1);
    if (st != RAG_OK)
        fail_msg("%s", err.msg);
    assert_non_null(doc);
    assert_int_equal(doc->n_pages_total, 50);
    assert_int_equal(doc->n_pages_failed, 49);
    assert_int_equal(doc->n_pages, 1);
    assert_int_equal(count_lines(log, "text extraction failed"), 10);
    assert_int_equal(count_lines(log, "49 pages failed in all"), 1);
    fclose(log);
    rag_document_free(doc);
}

int main(void)
{
    setenv("RAGC_LOG", "error", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_stray_end_tags),
        cmocka_unit_test(test_html_uppercase_rawtext_end),
        cmocka_unit_test(test_html_abrupt_comment),
        cmocka_unit_test(test_html_self_closing),
        cmocka_unit_test(test_html_end_tag_across_block),
        cmocka_unit_test(test_html_svg_title),
        cmocka_unit_test(test_html_ordinary_pages_still_extract),
        cmocka_unit_test(test_pdf_page_count_bomb),
        cmocka_unit_test(test_pdf_missing_pages_logged_briefly),
        cmocka_unit_test(test_pdf_memory_cap),
        cmocka_unit_test(test_pdf_time_budget),
        cmocka_unit_test(test_pdf_limits_spare_ordinary_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
