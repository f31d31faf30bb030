/* Unit tests for the sentence splitter (src/text/sentence.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/sentence.h"

/* Splits text and returns the sentences as "[s1][s2]..." (static buffer). */
static const char *split(const char *text)
{
    static char out[4096];
    rag_span *sp = NULL;
    size_t n = 0;
    assert_int_equal(rag_sentences_split(text, strlen(text), &sp, &n), RAG_OK);
    size_t o = 0;
    out[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        assert_true(sp[k].start < sp[k].end);
        o += (size_t)snprintf(out + o, sizeof out - o, "[%.*s]", (int)(sp[k].end - sp[k].start),
                              text + sp[k].start);
    }
    if (n == 0)
        assert_null(sp);
    free(sp);
    return out;
}

static void test_basic(void **state)
{
    (void)state;
    assert_string_equal(split("One sentence. Another one! A third? Yes."),
                        "[One sentence.][Another one!][A third?][Yes.]");
    assert_string_equal(split("No terminator at the end"), "[No terminator at the end]");
    assert_string_equal(split("Numbers start sentences. 42 is one."),
                        "[Numbers start sentences.][42 is one.]");
    assert_string_equal(split("lowercase after a period. does not split."),
                        "[lowercase after a period. does not split.]");
    assert_string_equal(split("Multiple!!! Marks?! Work."), "[Multiple!!!][Marks?!][Work.]");
}

static void test_abbreviations(void **state)
{
    (void)state;
    assert_string_equal(split("Dr. Smith went home. He slept."), "[Dr. Smith went home.][He slept.]");
    assert_string_equal(split("See Fig. 3 and Eq. 2 in Ref. 5. Then stop."),
                        "[See Fig. 3 and Eq. 2 in Ref. 5.][Then stop.]");
    assert_string_equal(split("Smith et al. (2019) showed this. Others disagree."),
                        "[Smith et al. (2019) showed this.][Others disagree.]");
    assert_string_equal(split("Use e.g. Apples or i.e. Fruit. Done."),
                        "[Use e.g. Apples or i.e. Fruit.][Done.]");
    assert_string_equal(split("Mr. and Mrs. Jones met Prof. Lee vs. Team Blue. Fine."),
                        "[Mr. and Mrs. Jones met Prof. Lee vs. Team Blue.][Fine.]");
    assert_string_equal(split("It costs approx. 5 dollars, cf. Table 2. Next."),
                        "[It costs approx. 5 dollars, cf. Table 2.][Next.]");
    /* etc. before lowercase continues, before uppercase ends */
    assert_string_equal(split("Apples, pears, etc. are fruit. Pears etc. The end."),
                        "[Apples, pears, etc. are fruit.][Pears etc.][The end.]");
    /* case matters for title-like abbreviations: "no." is a word */
    assert_string_equal(split("It is no. The end. See No. 5 here."),
                        "[It is no.][The end.][See No. 5 here.]");
}

static void test_initials_and_decimals(void **state)
{
    (void)state;
    assert_string_equal(split("J. Smith and A. B. Jones wrote it. Later work followed."),
                        "[J. Smith and A. B. Jones wrote it.][Later work followed.]");
    assert_string_equal(split("In the U.S. Army. Not split above."),
                        "[In the U.S. Army.][Not split above.]");
    assert_string_equal(split("The value was 3.5 mg. The next is 0.25. Done."),
                        "[The value was 3.5 mg.][The next is 0.25.][Done.]");
    assert_string_equal(split("Version 1.2.3 shipped. Good."), "[Version 1.2.3 shipped.][Good.]");
}

static void test_quotes_and_ellipsis(void **state)
{
    (void)state;
    assert_string_equal(split("He said \"Stop.\" She left."), "[He said \"Stop.\"][She left.]");
    assert_string_equal(split("(This is in parens.) Next one."), "[(This is in parens.)][Next one.]");
    assert_string_equal(split("She asked \xE2\x80\x9CWhy?\xE2\x80\x9D Nobody knew."),
                        "[She asked \xE2\x80\x9CWhy?\xE2\x80\x9D][Nobody knew.]");
    assert_string_equal(split("End. \"Quoted start\" follows."), "[End.][\"Quoted start\" follows.]");
    assert_string_equal(split("Wait... what? Really... Yes."), "[Wait... what?][Really...][Yes.]");
    assert_string_equal(split("Ends with ellipsis\xE2\x80\xA6 and continues. Then\xE2\x80\xA6 Another."),
                        "[Ends with ellipsis\xE2\x80\xA6 and continues.][Then\xE2\x80\xA6][Another.]");
}

static void test_paragraphs(void **state)
{
    (void)state;
    assert_string_equal(split("First para\n\nsecond para lowercase"),
                        "[First para][second para lowercase]");
    assert_string_equal(split("Line one\ncontinues here. Next.\r\n\r\nPara two"),
                        "[Line one\ncontinues here.][Next.][Para two]");
    assert_string_equal(split("a\n \t\nb"), "[a][b]");
    assert_string_equal(split("Title\xE2\x80\xA9" "body text"), "[Title][body text]");
    assert_string_equal(split("One.\n\n\n\nTwo."), "[One.][Two.]");
    assert_true(rag_text_has_paragraph_break("x\n\ny", 4));
    assert_true(rag_text_has_paragraph_break(" \r\n \r\n", 7));
    assert_true(rag_text_has_paragraph_break("\xE2\x80\xA9", 3));
    assert_false(rag_text_has_paragraph_break("x\ny z", 5));
    assert_false(rag_text_has_paragraph_break("", 0));
    assert_false(rag_text_has_paragraph_break(NULL, 3));
}

static void test_unicode(void **state)
{
    (void)state;
    assert_string_equal(split("Caf\xC3\xA9 est ferm\xC3\xA9. \xC3\x89lise arrive."),
                        "[Caf\xC3\xA9 est ferm\xC3\xA9.][\xC3\x89lise arrive.]");
    /* CJK full stops need no space */
    assert_string_equal(split("\xE4\xB8\xAD\xE6\x96\x87\xE3\x80\x82\xE7\xAC\xAC\xE4\xBA\x8C\xEF\xBC\x81"),
                        "[\xE4\xB8\xAD\xE6\x96\x87\xE3\x80\x82][\xE7\xAC\xAC\xE4\xBA\x8C\xEF\xBC\x81]");
    /* Greek uppercase starts a sentence; no-break space counts as whitespace */
    assert_string_equal(split("Alpha.\xC2\xA0\xCE\x92\xCE\xB7\xCF\x84\xCE\xB1 two."),
                        "[Alpha.][\xCE\x92\xCE\xB7\xCF\x84\xCE\xB1 two.]");
}

static void test_whitespace_and_empty(void **state)
{
    (void)state;
    assert_string_equal(split("  leading and trailing  "), "[leading and trailing]");
    assert_string_equal(split(""), "");
    assert_string_equal(split(" \n\t \r\n "), "");
    rag_span *sp = (rag_span *)1;
    size_t n = 7;
    assert_int_equal(rag_sentences_split(NULL, 0, &sp, &n), RAG_OK);
    assert_null(sp);
    assert_int_equal(n, 0);
    assert_int_equal(rag_sentences_split(NULL, 4, &sp, &n), RAG_E_BAD_INPUT);
    assert_int_equal(rag_sentences_split("x", 1, NULL, &n), RAG_E_BAD_INPUT);
    assert_int_equal(rag_sentences_split("x", 1, &sp, NULL), RAG_E_BAD_INPUT);
    /* not NUL-terminated: only n bytes are read */
    char buf[8] = {'H', 'i', '.', ' ', 'Y', 'o', '.', 'X'};
    assert_int_equal(rag_sentences_split(buf, 7, &sp, &n), RAG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(sp[1].end, 7);
    free(sp);
}

static bool is_ascii_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* Random text (including invalid UTF-8): spans are ordered, non-empty, trimmed, and every
 * non-whitespace byte belongs to exactly one span. */
static void test_random_invariants(void **state)
{
    (void)state;
    static const char *const pieces[] = {"word", "Word", " ", "  ", ".", "!", "?", "\n", "\n\n",
                                         "Dr.", "3.5", "\"", ")", "\xE2\x80\xA6", "\xC3\x89",
                                         "\xFF", "\xE3\x80\x82", "e.g.", "J.", "\xC2"};
    unsigned seed = 99;
    char text[512];
    for (int round = 0; round < 3000; round++) {
        size_t len = 0;
        seed = seed * 1103515245u + 12345u;
        int count = (int)((seed >> 16) % 40);
        for (int i = 0; i < count; i++) {
            seed = seed * 1103515245u + 12345u;
            const char *p = pieces[(seed >> 16) % (sizeof pieces / sizeof *pieces)];
            size_t pl = strlen(p);
            if (len + pl >= sizeof text)
                break;
            memcpy(text + len, p, pl);
            len += pl;
        }
        rag_span *sp = NULL;
        size_t n = 0;
        assert_int_equal(rag_sentences_split(text, len, &sp, &n), RAG_OK);
        size_t prev = 0;
        for (size_t k = 0; k < n; k++) {
            assert_true(sp[k].start >= prev);
            assert_true(sp[k].start < sp[k].end);
            assert_true(sp[k].end <= len);
            assert_false(is_ascii_space(text[sp[k].start]));
            assert_false(is_ascii_space(text[sp[k].end - 1]));
            for (size_t i = prev; i < sp[k].start; i++) /* gaps hold only whitespace */
                assert_true(is_ascii_space(text[i]));
            prev = sp[k].end;
        }
        for (size_t i = prev; i < len; i++)
            assert_true(is_ascii_space(text[i]));
        free(sp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_abbreviations),
        cmocka_unit_test(test_initials_and_decimals),
        cmocka_unit_test(test_quotes_and_ellipsis),
        cmocka_unit_test(test_paragraphs),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_whitespace_and_empty),
        cmocka_unit_test(test_random_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
