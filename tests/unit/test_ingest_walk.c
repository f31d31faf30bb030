/* Tests for the walker: temporary directory trees with hidden entries, unsupported files,
 * symlinks (to files, to directories, loops), explicit paths and their errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "ragc/walk.h"

typedef struct tree {
    char root[256];
} tree;

static void write_file(const char *root, const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void make_dir(const char *root, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void make_link(const char *root, const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    assert_int_equal(symlink(target, p), 0);
}

static char *path_in(const tree *t, const char *rel)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", t->root, rel);
    return p;
}

/* root/
 *   a.txt  B.MD  notes.csv  noext  .hidden.txt  .git/config.md  link_file.txt -> a.txt
 *   link_dir -> sub  dangling.md -> missing
 *   sub/c.pdf  sub/data.jsonl  sub/loop -> ..  sub/deeper/d.HTML  sub/deeper/e.xhtml */
static int setup(void **state)
{
    tree *t = calloc(1, sizeof *t);
    snprintf(t->root, sizeof t->root, "/tmp/ragc-walk-XXXXXX");
    if (!mkdtemp(t->root))
        return -1;
    write_file(t->root, "a.txt", "hello");
    write_file(t->root, "B.MD", "# b");
    write_file(t->root, "notes.csv", "x,y");
    write_file(t->root, "noext", "x");
    write_file(t->root, ".hidden.txt", "hidden");
    make_dir(t->root, ".git");
    write_file(t->root, ".git/config.md", "hidden dir");
    make_link(t->root, "a.txt", "link_file.txt");
    make_dir(t->root, "sub");
    make_link(t->root, "sub", "link_dir");
    make_link(t->root, "missing", "dangling.md");
    write_file(t->root, "sub/c.pdf", "%PDF-1.4 not really");
    write_file(t->root, "sub/data.jsonl", "{}\n");
    make_link(t->root, "..", "sub/loop");
    make_dir(t->root, "sub/deeper");
    write_file(t->root, "sub/deeper/d.HTML", "<p>d</p>");
    write_file(t->root, "sub/deeper/e.xhtml", "<p>e</p>");
    /* a known mtime for a.txt */
    struct timeval tv[2] = {{1600000000, 0}, {1600000000, 0}};
    utimes(path_in(t, "a.txt"), tv);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tree *t = *state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->root);
    int rc = system(cmd);
    free(t);
    return rc == 0 ? 0 : -1;
}

static void test_tree(void **state)
{
    tree *t = *state;
    const char *paths[] = {t->root};
    rag_file_list l;
    rag_file_list_init(&l);
    rag_err err = {0};
    assert_int_equal(rag_walk(paths, 1, &l, &err), RAG_OK);

    const char *want[] = {"B.MD", "a.txt", "link_file.txt", "sub/c.pdf", "sub/data.jsonl",
                          "sub/deeper/d.HTML", "sub/deeper/e.xhtml"};
    const rag_format fmt[] = {RAG_FORMAT_MARKDOWN, RAG_FORMAT_TEXT, RAG_FORMAT_TEXT, RAG_FORMAT_PDF,
                              RAG_FORMAT_BEIR, RAG_FORMAT_HTML, RAG_FORMAT_HTML};
    assert_int_equal(l.n_files, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(l.files[i].path, path_in(t, want[i]));
        assert_int_equal(l.files[i].format, fmt[i]);
    }
    assert_int_equal(l.files[1].size, 5);
    assert_int_equal(l.files[1].mtime, 1600000000);
    assert_int_equal(l.files[2].size, 5); /* symlink to a file: followed */

    /* ignored: unsupported types, the dangling link, symlinked directories (incl. the loop) */
    const char *ign[] = {"dangling.md", "link_dir", "noext", "notes.csv", "sub/loop"};
    assert_int_equal(l.n_ignored, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(l.ignored[i], path_in(t, ign[i]));
    for (size_t i = 0; i < l.n_files; i++)
        assert_null(strstr(l.files[i].path, "/."));
    rag_file_list_clear(&l);
    assert_int_equal(l.n_files, 0);
    assert_null(l.files);
    rag_file_list_clear(&l); /* twice is fine */
    rag_file_list_clear(NULL);
}

static void test_deterministic_and_dedup(void **state)
{
    tree *t = *state;
    char sub[1024], a[1024], slash[1024];
    snprintf(sub, sizeof sub, "%s/sub", t->root);
    snprintf(a, sizeof a, "%s/a.txt", t->root);
    snprintf(slash, sizeof slash, "%s/sub/", t->root);
    const char *paths[] = {sub, a, sub, a};
    rag_file_list l;
    rag_file_list_init(&l);
    assert_int_equal(rag_walk(paths, 4, &l, NULL), RAG_OK);
    assert_int_equal(l.n_files, 5);
    assert_string_equal(l.files[0].path, a);
    for (size_t i = 1; i < l.n_files; i++)
        assert_true(strcmp(l.files[i - 1].path, l.files[i].path) < 0);
    rag_file_list_clear(&l);

    /* a trailing slash does not produce "//" */
    const char *p2[] = {slash};
    assert_int_equal(rag_walk(p2, 1, &l, NULL), RAG_OK);
    assert_int_equal(l.n_files, 4);
    for (size_t i = 0; i < l.n_files; i++)
        assert_null(strstr(l.files[i].path, "//"));
    rag_file_list_clear(&l);
}

static void test_explicit_paths(void **state)
{
    tree *t = *state;
    rag_file_list l;
    rag_file_list_init(&l);
    rag_err err = {0};
    /* an explicit hidden file and an explicit symlinked directory are taken as given */
    char hidden[1024], link_dir[1024];
    snprintf(hidden, sizeof hidden, "%s/.hidden.txt", t->root);
    snprintf(link_dir, sizeof link_dir, "%s/link_dir", t->root);
    const char *paths[] = {hidden, link_dir};
    assert_int_equal(rag_walk(paths, 2, &l, &err), RAG_OK);
    assert_int_equal(l.n_files, 1 + 4);
    assert_string_equal(l.files[0].path, hidden);
    rag_file_list_clear(&l);

    assert_int_equal(rag_walk(NULL, 0, &l, &err), RAG_OK);
    assert_int_equal(l.n_files, 0);
}

static void test_missing_path(void **state)
{
    tree *t = *state;
    rag_file_list l;
    rag_file_list_init(&l);
    rag_err err = {0};
    char missing[1024];
    snprintf(missing, sizeof missing, "%s/nope/nothing.pdf", t->root);
    const char *paths[] = {t->root, missing};
    assert_int_equal(rag_walk(paths, 2, &l, &err), RAG_E_NOT_FOUND);
    assert_int_equal(err.status, RAG_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, missing));
    assert_int_equal(l.n_files, 0); /* cleared on error */
    assert_null(l.files);
}

static void test_unsupported_explicit(void **state)
{
    tree *t = *state;
    rag_file_list l;
    rag_file_list_init(&l);
    rag_err err = {0};
    const char *paths[] = {path_in(t, "notes.csv")};
    char csv[1024];
    snprintf(csv, sizeof csv, "%s", paths[0]);
    paths[0] = csv;
    assert_int_equal(rag_walk(paths, 1, &l, &err), RAG_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, csv));
    assert_non_null(strstr(err.msg, ".pdf"));
    assert_non_null(strstr(err.msg, ".jsonl"));

    char fifo[1024];
    snprintf(fifo, sizeof fifo, "%s/pipe.txt", t->root);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    paths[0] = fifo;
    assert_int_equal(rag_walk(paths, 1, &l, &err), RAG_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "not a regular file"));
    /* inside a directory the fifo is only ignored */
    paths[0] = t->root;
    assert_int_equal(rag_walk(paths, 1, &l, &err), RAG_OK);
    bool seen = false;
    for (size_t i = 0; i < l.n_ignored; i++)
        seen |= strcmp(l.ignored[i], fifo) == 0;
    assert_true(seen);
    rag_file_list_clear(&l);
    unlink(fifo);

    const char *bad[] = {""};
    assert_int_equal(rag_walk(bad, 1, &l, &err), RAG_E_BAD_INPUT);
    const char *nullp[] = {NULL};
    assert_int_equal(rag_walk(nullp, 1, &l, &err), RAG_E_BAD_INPUT);
}

static void test_format_from_path(void **state)
{
    (void)state;
    assert_int_equal(rag_format_from_path("x.PDF"), RAG_FORMAT_PDF);
    assert_int_equal(rag_format_from_path("dir/a.b.Htm"), RAG_FORMAT_HTML);
    assert_int_equal(rag_format_from_path("r.markdown"), RAG_FORMAT_MARKDOWN);
    assert_int_equal(rag_format_from_path("r.TEXT"), RAG_FORMAT_TEXT);
    assert_int_equal(rag_format_from_path("corpus.jsonl"), RAG_FORMAT_BEIR);
    assert_int_equal(rag_format_from_path(".md"), RAG_FORMAT_UNKNOWN);
    assert_int_equal(rag_format_from_path("noext"), RAG_FORMAT_UNKNOWN);
    assert_int_equal(rag_format_from_path("dir.md/file"), RAG_FORMAT_UNKNOWN);
    assert_int_equal(rag_format_from_path("x.json"), RAG_FORMAT_UNKNOWN);
    assert_int_equal(rag_format_from_path("x.pdf.bak"), RAG_FORMAT_UNKNOWN);
    assert_int_equal(rag_format_from_path(NULL), RAG_FORMAT_UNKNOWN);
    assert_string_equal(rag_format_name(RAG_FORMAT_BEIR), "beir");
    assert_string_equal(rag_format_name(RAG_FORMAT_MARKDOWN), "markdown");
    assert_string_equal(rag_format_name(RAG_FORMAT_UNKNOWN), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deterministic_and_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explicit_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsupported_explicit, setup, teardown),
        cmocka_unit_test(test_format_from_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
