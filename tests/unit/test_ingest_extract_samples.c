/* Sweep: rag_extract_file over every PDF under $RAGC_SHARED_DIR/data/pdf-samples (found with
 * rag_walk). Each must succeed or fail with a clear, non-internal status and a message naming
 * the file; page counts are checked against files.json. Prints one outcome line per file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/extract.h"
#include "ragc/walk.h"

typedef struct outcome {
    int docs;
    int pages_total;
    int pages_failed;
    size_t pages_with_text;
    size_t text_bytes;
    char title[80];
} outcome;

static rag_status on_doc(void *ud, rag_document *doc, rag_err *err)
{
    (void)err;
    outcome *o = ud;
    o->docs++;
    o->pages_total = doc->n_pages_total;
    o->pages_failed = doc->n_pages_failed;
    o->pages_with_text = doc->n_pages;
    for (size_t i = 0; i < doc->n_pages; i++) {
        assert_true(doc->pages[i].len > 0);
        assert_int_equal(doc->pages[i].len, strlen(doc->pages[i].text));
        assert_true(rag_utf8_valid(doc->pages[i].text, doc->pages[i].len, NULL));
        assert_true(doc->pages[i].number >= 1 && doc->pages[i].number <= doc->n_pages_total);
        if (i > 0)
            assert_true(doc->pages[i].number > doc->pages[i - 1].number);
        o->text_bytes += doc->pages[i].len;
    }
    snprintf(o->title, sizeof o->title, "%s", doc->title ? doc->title : "");
    rag_document_free(doc);
    return RAG_OK;
}

/* Expected page count for path from files.json (matched by the "<dir>/<file>" suffix), or -1. */
static int expected_pages(json_t *files, const char *path)
{
    size_t i;
    json_t *e;
    json_array_foreach(files, i, e) {
        const char *rel = json_string_value(json_object_get(e, "path"));
        json_t *pages = json_object_get(e, "pages");
        size_t pl = strlen(path), rl = rel ? strlen(rel) : 0;
        if (rel && json_is_integer(pages) && pl > rl && path[pl - rl - 1] == '/' &&
            !strcmp(path + pl - rl, rel))
            return (int)json_integer_value(pages);
    }
    return -1;
}

static void test_all_sample_pdfs(void **state)
{
    (void)state;
    const char *shared = getenv("RAGC_SHARED_DIR");
    char dir[512], meta[600];
    snprintf(dir, sizeof dir, "%s/data/pdf-samples", shared ? shared : "../shared");
    snprintf(meta, sizeof meta, "%s/files.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(meta, 0, &jerr);
    if (!root)
        fail_msg("%s: %s", meta, jerr.text);
    json_t *files = json_object_get(root, "data");
    assert_true(json_is_array(files));

    rag_file_list l;
    rag_file_list_init(&l);
    rag_err err = {0};
    const char *paths[] = {dir};
    assert_int_equal(rag_walk(paths, 1, &l, &err), RAG_OK);

    rag_extract_params p = rag_extract_default_params();
    int n_pdf = 0, n_ok = 0, n_checked_pages = 0;
    for (size_t i = 0; i < l.n_files; i++) {
        const char *path = l.files[i].path;
        if (l.files[i].format != RAG_FORMAT_PDF)
            continue;
        n_pdf++;
        outcome o = {0};
        rag_err_clear(&err);
        double t0 = rag_now_ms();
        rag_status st = rag_extract_file(path, &p, on_doc, &o, &err);
        double ms = rag_now_ms() - t0;
        const char *rel = path + strlen(dir) + 1;
        int want = expected_pages(files, path);
        if (st == RAG_OK) {
            n_ok++;
            printf("[pdf-sweep] ok        %-62s pages %d/%d (files.json %d) failed %d, %zu bytes, "
                   "%.0f ms%s%s%s\n", rel, (int)o.pages_with_text, o.pages_total, want,
                   o.pages_failed, o.text_bytes, ms, o.title[0] ? ", title \"" : "", o.title,
                   o.title[0] ? "\"" : "");
            assert_int_equal(o.docs, 1);
            assert_true(o.pages_with_text > 0);
            if (want >= 0) {
                assert_int_equal(o.pages_total, want);
                n_checked_pages++;
            }
        } else {
            printf("[pdf-sweep] %-9s %-62s %s (%.0f ms)\n", rag_status_str(st), rel, err.msg, ms);
            assert_int_equal(o.docs, 0);
            assert_int_equal(err.status, st);
            /* clear, non-internal outcomes only, and the message names the file */
            assert_true(st == RAG_E_BAD_INPUT || st == RAG_E_ENCRYPTED || st == RAG_E_EMPTY);
            assert_int_equal(strncmp(err.msg, path, strlen(path)), 0);
            assert_true(strlen(err.msg) > strlen(path) + 4);
        }
        if (st == RAG_E_ENCRYPTED) { /* the only encrypted sample opens with its password */
            rag_extract_params pw = p;
            pw.password = "openpassword";
            outcome o2 = {0};
            assert_int_equal(rag_extract_file(path, &pw, on_doc, &o2, &err), RAG_OK);
            printf("[pdf-sweep] ok        %-62s with password: pages %d/%d (files.json %d)\n", rel,
                   (int)o2.pages_with_text, o2.pages_total, want);
            if (want >= 0)
                assert_int_equal(o2.pages_total, want);
        }
    }
    printf("[pdf-sweep] %d PDFs: %d extracted, %d with page counts checked against files.json\n",
           n_pdf, n_ok, n_checked_pages);
    assert_true(n_pdf >= 30);
    assert_true(n_ok >= 20); /* the sweep fails if extraction broke across the board */
    rag_file_list_clear(&l);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_sample_pdfs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
