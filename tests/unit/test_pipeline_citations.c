/* Citation validation against adversarial model outputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "ragc/pipeline.h"

/* Validates text against n sources and checks the rewritten text and the counts. */
static void check(const char *in, size_t n_sources, const char *want_text, size_t want_cited,
                  size_t want_invalid)
{
    rag_citations c;
    assert_int_equal(rag_citations_validate(in, n_sources, &c), RAG_OK);
    if (strcmp(c.text, want_text) != 0)
        fail_msg("input   <%s>\ngot     <%s>\nwanted  <%s>", in, c.text, want_text);
    assert_int_equal(c.n_cited, want_cited);
    assert_int_equal(c.n_invalid, want_invalid);
    rag_citations_clear(&c);
}

static void test_plain_and_valid(void **state)
{
    (void)state;
    check("Pumps need priming [1].", 3, "Pumps need priming [1].", 1, 0);
    check("A [2]. B [1].", 2, "A [2]. B [1].", 2, 0);
}

static void test_out_of_range_removed(void **state)
{
    (void)state;
    check("Zero is not a source [0].", 3, "Zero is not a source.", 0, 1);
    check("Far away [99] but true [2].", 3, "Far away but true [2].", 1, 1);
    rag_citations c;
    assert_int_equal(rag_citations_validate("x [99] y [0] z [99]", 2, &c), RAG_OK);
    assert_int_equal(c.n_invalid, 2); /* distinct invalid numbers */
    assert_int_equal(c.invalid[0], 99);
    assert_int_equal(c.invalid[1], 0);
    rag_citations_clear(&c);
}

static void test_lists_and_adjacent(void **state)
{
    (void)state;
    check("Both say so [1,2].", 3, "Both say so [1][2].", 2, 0);
    check("Both say so [1, 2].", 3, "Both say so [1][2].", 2, 0);
    check("Both say so [1][2].", 3, "Both say so [1][2].", 2, 0);
    check("Mixed [1, 7].", 3, "Mixed [1].", 1, 1);
    check("Range [1-3].", 3, "Range [1][2][3].", 3, 0);
    check("En dash [2\xe2\x80\x93" "3].", 3, "En dash [2][3].", 2, 0);
}

static void test_source_words(void **state)
{
    (void)state;
    check("As stated [source 1].", 2, "As stated [1].", 1, 0);
    check("As stated [Source 2].", 2, "As stated [2].", 1, 0);
    check("As stated [sources 1, 2].", 2, "As stated [1][2].", 2, 0);
    check("As stated [doc 3].", 2, "As stated.", 0, 1);
}

static void test_not_citations(void **state)
{
    (void)state;
    check("No citations at all.", 3, "No citations at all.", 0, 0);
    check("An array a[i] and a year [2024].", 3, "An array a[i] and a year [2024].", 0, 0);
    check("Brackets [see below] stay.", 3, "Brackets [see below] stay.", 0, 0);
    check("Unclosed [1 bracket.", 3, "Unclosed [1 bracket.", 0, 0);
    check("Huge range [1-99].", 3, "Huge range [1-99].", 0, 0);
    check("", 3, "", 0, 0);
}

static void test_code_is_left_alone(void **state)
{
    (void)state;
    check("Use `x[1]` here [2].", 3, "Use `x[1]` here [2].", 1, 0);
    check("```\nint a[1];\nb[0] = 2;\n```\nDone [1].", 2, "```\nint a[1];\nb[0] = 2;\n```\nDone [1].", 1, 0);
    /* an unterminated fence: everything after it is code */
    check("Text [1] ```code [2]", 3, "Text [1] ```code [2]", 1, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_valid),     cmocka_unit_test(test_out_of_range_removed),
        cmocka_unit_test(test_lists_and_adjacent),  cmocka_unit_test(test_source_words),
        cmocka_unit_test(test_not_citations),       cmocka_unit_test(test_code_is_left_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
