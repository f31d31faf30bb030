/* Tests for rag_normalize: one group per rule, each with multi-byte characters around it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ragc/normalize.h"

/* Normalizes n bytes of in (n == (size_t)-1: strlen) and checks the result equals want. */
static void check_len(const char *in, size_t n, const char *want)
{
    rag_buf out;
    rag_buf_init(&out, 0);
    rag_err err = {0};
    if (n == (size_t)-1)
        n = strlen(in);
    rag_status st = rag_normalize(in, n, &out, &err);
    if (st != RAG_OK)
        fail_msg("normalize failed: %s", err.msg);
    assert_non_null(out.data);
    assert_int_equal(out.len, strlen(out.data));
    if (strcmp(out.data, want) != 0)
        fail_msg("normalize(\"%s\") = \"%s\", want \"%s\"", in, out.data, want);
    rag_buf_free(&out);
}

static void check(const char *in, const char *want) { check_len(in, (size_t)-1, want); }

static void test_invalid_utf8(void **state)
{
    (void)state;
    rag_buf out;
    rag_buf_init(&out, 0);
    rag_err err = {0};
    assert_int_equal(rag_normalize("ab\xC3\xA9\xFFz", 6, &out, &err), RAG_E_BAD_INPUT);
    assert_int_equal(err.status, RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "invalid UTF-8 at byte 4"));
    /* truncated multi-byte sequence at the end */
    assert_int_equal(rag_normalize("caf\xC3", 4, &out, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "byte 3"));
    /* encoded surrogate and overlong form */
    assert_int_equal(rag_normalize("\xED\xA0\x80", 3, &out, &err), RAG_E_BAD_INPUT);
    assert_int_equal(rag_normalize("a\xC0\xAF", 3, &out, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "byte 1"));
    rag_buf_free(&out);
}

static void test_nfc(void **state)
{
    (void)state;
    check("Cafe\xCC\x81", "Caf\xC3\xA9");                  /* e + U+0301 -> U+00E9 */
    check("A\xCC\x8Angstr\xC3\xB6m", "\xC3\x85ngstr\xC3\xB6m"); /* A + ring -> U+00C5 */
    check("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", "\xED\x95\x9C"); /* Hangul jamo -> syllable */
    check("\xEF\xAC\x81le", "\xEF\xAC\x81le");             /* ligature fi kept: NFC, not NFKC */
    check("x\xC2\xB2", "x\xC2\xB2");                       /* superscript two kept */
}

static void test_controls_dropped(void **state)
{
    (void)state;
    check("a\x01" "b\x7F" "c\x1B" "d", "abcd");
    check("\xC3\xA9\x07\xC3\xBC", "\xC3\xA9\xC3\xBC");     /* BEL between é and ü */
    check_len("na\0\xC3\xAFve", 7, "na\xC3\xAFve");        /* NUL dropped */
    check("\xC2\x9F\xE2\x82\xAC", "\xE2\x82\xAC");         /* C1 control U+009F before € */
    check("\xEF\xBB\xBF" "Bom", "Bom");                    /* BOM dropped */
    check("tab\there", "tab here");                        /* \t kept as a space */
}

static void test_unicode_spaces(void **state)
{
    (void)state;
    check("a\xC2\xA0" "b", "a b");                         /* NBSP */
    check("\xC3\xA9\xE2\x80\x89\xC3\xA8", "\xC3\xA9 \xC3\xA8"); /* thin space */
    check("\xE6\x97\xA5\xE3\x80\x80\xE6\x9C\xAC", "\xE6\x97\xA5 \xE6\x9C\xAC"); /* ideographic */
    check("x\xE2\x80\xAF" "y\xE2\x81\x9F" "z", "x y z");   /* narrow NBSP, medium math space */
    check("\xCE\xB1\t\t\xCE\xB2", "\xCE\xB1 \xCE\xB2");    /* tabs between Greek letters */
    check("a\xE2\x80\x8B" "b", "a\xE2\x80\x8B" "b");       /* zero width space is not a space (Cf) */
}

static void test_soft_hyphen(void **state)
{
    (void)state;
    check("infor\xC2\xAD" "mation", "information");
    check("\xC3\xA9t\xC3\xA9\xC2\xAD\xC3\xA9t\xC3\xA9", "\xC3\xA9t\xC3\xA9\xC3\xA9t\xC3\xA9");
    check("Stra\xC3\x9F" "en\xC2\xAD\nbahn", "Stra\xC3\x9F" "enbahn");   /* at line end: joins */
    check("Stra\xC3\x9F" "en\xC2\xAD  \n  Bahn", "Stra\xC3\x9F" "enBahn"); /* even before capital */
    check("\xC2\xAD" "lead", "lead");
    check("word\xC2\xAD\n\nnext", "word\n\nnext");         /* paragraph break stays */
}

static void test_dehyphenation(void **state)
{
    (void)state;
    check("infor-\nmation", "information");
    check("infor-   \n   mation", "information");         /* trailing/leading spaces */
    check("caf\xC3\xA9-\n\xC3\xA9t\xC3\xA9", "caf\xC3\xA9\xC3\xA9t\xC3\xA9"); /* é-\né */
    check("\xCE\xBB\xCF\x8C\xCE\xB3-\n\xCE\xBF\xCF\x82", "\xCE\xBB\xCF\x8C\xCE\xB3\xCE\xBF\xCF\x82");
    check("ver\xE2\x80\x90\nbinden", "verbinden");          /* U+2010 HYPHEN */
    /* hyphen kept: next line starts with a capital / digit, or no letter before the hyphen */
    check("Jean-\nPaul", "Jean-Paul");
    check("Stra\xC3\x9F" "e-\n\xC3\x9C" "bung", "Stra\xC3\x9F" "e-\xC3\x9C" "bung");
    check("COVID-\n19", "COVID-19");
    check("pages 1-\n10", "pages 1- 10");
    check("word -\nnext", "word - next");
    check("\xC3\xA9 -\n\xC3\xA9", "\xC3\xA9 - \xC3\xA9");
    /* not across a paragraph break, not within a line */
    check("infor-\n\nmation", "infor-\n\nmation");
    check("well-known and state-of-the-art", "well-known and state-of-the-art");
    check("x- y", "x- y");
}

static void test_collapse_spaces(void **state)
{
    (void)state;
    check("a    b", "a b");
    check("\xC3\xA9  \t  \xC3\xBC", "\xC3\xA9 \xC3\xBC");
    check("\xE2\x82\xAC \xC2\xA0 \xE2\x80\x89 5", "\xE2\x82\xAC 5");
}

static void test_line_ends_and_breaks(void **state)
{
    (void)state;
    check("abc   \ndef", "abc def");                          /* trailing spaces stripped */
    check("line one\nline two\nline three", "line one line two line three");
    check("\xE6\x97\xA5\xE6\x9C\xAC\n\xE8\xAA\x9E", "\xE6\x97\xA5\xE6\x9C\xAC \xE8\xAA\x9E");
    check("caf\xC3\xA9 \n   cr\xC3\xA8me", "caf\xC3\xA9 cr\xC3\xA8me"); /* leading spaces of a line */
    check("a\r\nb", "a b");                                   /* CRLF is one line break */
    check("a\rb", "a b");                                     /* lone CR is a line break */
    check("a\vb\fc", "a b c");                                /* VT/FF are line breaks */
    check("\xC3\xA9\xE2\x80\xA8\xC3\xA8", "\xC3\xA9 \xC3\xA8"); /* U+2028 */
}

static void test_paragraphs(void **state)
{
    (void)state;
    check("p1\n\np2", "p1\n\np2");
    check("p1\n\n\n\n\np2", "p1\n\np2");
    check("p1\n  \t \n p2", "p1\n\np2");                     /* blank line with spaces */
    check("p1\r\n\r\np2", "p1\n\np2");
    check("\xC3\xA9\n\xC2\xA0\n\xC3\xA8", "\xC3\xA9\n\n\xC3\xA8"); /* NBSP-only line is blank */
    check("p1\n\x01\np2", "p1\n\np2");                       /* control-only line is blank */
    check("\xC3\xA9\xE2\x80\xA9\xC3\xA8", "\xC3\xA9\n\n\xC3\xA8"); /* U+2029 */
    check("one\ntwo\n\nthree\nfour", "one two\n\nthree four");
}

static void test_trim(void **state)
{
    (void)state;
    check("  \n\n  h\xC3\xA9llo  \n\n ", "h\xC3\xA9llo");
    check("\xC2\xA0\xE3\x80\x80x\xE3\x80\x80\xC2\xA0", "x");
    check("", "");
    check(" \n\t\n\r\n ", "");
    check_len(NULL, 0, "");
}

static void test_output_cap(void **state)
{
    (void)state;
    rag_buf out;
    rag_buf_init(&out, 5);
    rag_err err = {0};
    assert_int_equal(rag_normalize("hello world", 11, &out, &err), RAG_E_TOO_LARGE);
    assert_non_null(strstr(err.msg, "5-byte limit"));
    assert_int_equal(rag_normalize("  hi   \n", 8, &out, &err), RAG_OK); /* fits once trimmed */
    assert_string_equal(out.data, "hi");
    /* the buffer is reset on each call */
    assert_int_equal(rag_normalize("yo", 2, &out, &err), RAG_OK);
    assert_string_equal(out.data, "yo");
    rag_buf_free(&out);
}

/* Random mixes of every character class the rules care about: the output must always be valid
 * UTF-8 with no leading/trailing whitespace, no double spaces, no ' ' next to '\n', and '\n'
 * only as exactly "\n\n". */
static void test_invariants_random(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "a", "Z", "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F\x98\x80", " ", "  ", "\t", "\n", "\n\n",
        "\r\n", "\r", "-", "-\n", "\xC2\xAD", "\xC2\xA0", "\xE3\x80\x80", "\x01", "\xEF\xBB\xBF",
        "e\xCC\x81", "\xE2\x80\x90", "\xE2\x80\xA9", "\xE2\x80\xA8", "x-", "\f",
    };
    const size_t np = sizeof pieces / sizeof pieces[0];
    unsigned seed = 12345;
    rag_buf in, out;
    rag_buf_init(&in, 0);
    rag_buf_init(&out, 0);
    for (int iter = 0; iter < 3000; iter++) {
        rag_buf_reset(&in);
        int len = (int)(rand_r(&seed) % 24);
        for (int k = 0; k < len; k++)
            assert_int_equal(rag_buf_append_str(&in, pieces[rand_r(&seed) % np]), RAG_OK);
        rag_err err = {0};
        assert_int_equal(rag_normalize(in.data ? in.data : "", in.len, &out, &err), RAG_OK);
        const char *s = out.data;
        size_t n = out.len;
        assert_true(rag_utf8_valid(s, n, NULL));
        if (n == 0)
            continue;
        assert_true(s[0] != ' ' && s[0] != '\n' && s[n - 1] != ' ' && s[n - 1] != '\n');
        for (size_t i = 0; i + 1 < n; i++) {
            assert_false(s[i] == ' ' && s[i + 1] == ' ');
            assert_false(s[i] == ' ' && s[i + 1] == '\n');
            assert_false(s[i] == '\n' && s[i + 1] == ' ');
            assert_true(s[i] != '\t' && s[i] != '\r' && s[i] != '\x01');
            if (s[i] == '\n') { /* exactly two */
                assert_true(s[i + 1] == '\n');
                assert_true(i + 2 < n && s[i + 2] != '\n');
                i++;
            }
        }
        assert_null(strstr(s, "\xC2\xAD"));
        assert_null(strstr(s, "\xC2\xA0"));
    }
    rag_buf_free(&in);
    rag_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_nfc),
        cmocka_unit_test(test_controls_dropped),
        cmocka_unit_test(test_unicode_spaces),
        cmocka_unit_test(test_soft_hyphen),
        cmocka_unit_test(test_dehyphenation),
        cmocka_unit_test(test_collapse_spaces),
        cmocka_unit_test(test_line_ends_and_breaks),
        cmocka_unit_test(test_paragraphs),
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_output_cap),
        cmocka_unit_test(test_invariants_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
