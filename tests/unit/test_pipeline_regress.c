/* Regression tests for inputs found by the hardening work (fuzz/fuzz_pipeline_citations.c), held
 * in tests/fixtures/regress/pipeline/. Invariant: validating the output again finds no invalid
 * marker and cites the same sources.
 *
 * citations_rejoined_marker.txt: dropping an invalid marker joined the text around it into a new
 * marker that was never checked ("[[0]7]" -> "[7]" with 3 sources; "[[9]2]" -> "[2]" uncounted),
 * and two backticks around a dropped marker merged into a code fence ("``[0]`" -> "```").
 * citations_code_indent.txt: the tidy pass after dropping collapsed every double space and " ."
 * of the whole answer, so code blocks and Markdown indentation were rewritten.
 * citations_long_bracket.txt: that collapse also shrank a bracket longer than a marker can be
 * ("[9" + 70 spaces + "]") into the invalid marker "[9 ]". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/pipeline.h"

static char *load(const char *name)
{
    const char *src = getenv("RAGC_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/regress/pipeline/%s", src && *src ? src : ".", name);
    char *data = NULL;
    size_t len = 0;
    rag_err err;
    if (rag_read_file(path, 1 << 20, &data, &len, &err) != RAG_OK)
        fail_msg("%s", err.msg);
    return data;
}

/* Validates the fixture against n sources; checks the text, the cited and invalid lists, and
 * that a second pass over the output changes nothing. */
static void check(const char *name, size_t n, const char *want, const int *cited, size_t n_cited,
                  const int *invalid, size_t n_invalid)
{
    char *in = load(name);
    rag_citations c, again;
    assert_int_equal(rag_citations_validate(in, n, &c), RAG_OK);
    if (strcmp(c.text, want) != 0)
        fail_msg("%s\ngot    <%s>\nwanted <%s>", name, c.text, want);
    assert_int_equal(c.n_cited, n_cited);
    assert_memory_equal(c.cited, cited, n_cited * sizeof *cited);
    assert_int_equal(c.n_invalid, n_invalid);
    assert_memory_equal(c.invalid, invalid, n_invalid * sizeof *invalid);
    assert_int_equal(rag_citations_validate(c.text, n, &again), RAG_OK);
    assert_string_equal(again.text, c.text);
    assert_int_equal(again.n_invalid, 0);
    assert_int_equal(again.n_cited, c.n_cited);
    assert_memory_equal(again.cited, c.cited, c.n_cited * sizeof *c.cited);
    rag_citations_clear(&again);
    rag_citations_clear(&c);
    free(in);
}

static void test_rejoined_marker(void **state)
{
    (void)state;
    static const int cited[] = {1, 2}, invalid[] = {0, 7, 9, 5};
    check("citations_rejoined_marker.txt", 3, "[[1]] [2] [1]]] `` ` [9]` [source  0x] [\xe2\x80\x93]", cited, 2,
          invalid, 4);
}

static void test_code_indent_kept(void **state)
{
    (void)state;
    static const int cited[] = {1}, invalid[] = {9, 0};
    check("citations_code_indent.txt", 1,
          "Run it:\n```python\ndef f(x):\n    return x  # two  spaces\n```\nAs a list:\n  - step  one [1] .\n"
          "  - step two.\n",
          cited, 1, invalid, 2);
}

static void test_long_bracket_kept(void **state)
{
    (void)state;
    static const int cited[] = {1};
    char want[256];
    snprintf(want, sizeof want, "Not a marker [9%70s] and a valid one [1].", "");
    check("citations_long_bracket.txt", 2, want, cited, 1, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejoined_marker),
        cmocka_unit_test(test_code_indent_kept),
        cmocka_unit_test(test_long_bracket_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
