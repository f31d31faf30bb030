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
 * at most 10 per-page warnings plus one summary line. */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
