/* Unit tests for rag_token_estimate (src/text/chunker.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/chunker.h"

static size_t est(const char *s)
{
    return rag_token_estimate(s, strlen(s));
}

static void test_words(void **state)
{
    (void)state;
    assert_int_equal(est(""), 0);
    assert_int_equal(est(" \t\r\n "), 0);
    assert_int_equal(rag_token_estimate(NULL, 10), 0);
    assert_int_equal(est("a"), 1);
    assert_int_equal(est("hello"), 1);
    assert_int_equal(est("abcdef"), 1);              /* 6 code points */
    assert_int_equal(est("abcdefg"), 2);             /* 7 */
    assert_int_equal(est("abcdefghijkl"), 2);        /* 12 */
    assert_int_equal(est("abcdefghijklm"), 3);       /* 13 */
    assert_int_equal(est("internationalization"), 4); /* 20: 1 + 19 / 6 */
    assert_int_equal(est("the quick brown fox"), 4);
    assert_int_equal(est("p53 cov19"), 2);            /* digits belong to words */
    assert_int_equal(est("p53 covid19"), 3);          /* "covid19" has 7 code points */
}

static void test_punctuation_and_symbols(void **state)
{
    (void)state;
    assert_int_equal(est("Hello, world!"), 4);
    assert_int_equal(est("state-of-the-art"), 7);
    assert_int_equal(est("3.5"), 3);
    assert_int_equal(est("(a)"), 3);
    assert_int_equal(est("x\xC2\xB1y"), 3);           /* ± is a symbol */
    assert_int_equal(est("\xE2\x80\x9Cq\xE2\x80\x9D"), 3); /* curly quotes */
    assert_int_equal(est("\xF0\x9F\x98\x80"), 1);      /* emoji (So) */
}

static void test_unicode(void **state)
{
    (void)state;
    assert_int_equal(est("caf\xC3\xA9"), 1);            /* 4 code points, 5 bytes */
    assert_int_equal(est("cafe\xCC\x81"), 1);           /* combining mark stays in the word */
    assert_int_equal(est("\xCE\xB1\xCE\xB2\xCE\xB3\xCE\xB4\xCE\xB5\xCE\xB6\xCE\xB7"), 2); /* 7 Greek letters */
    assert_int_equal(est("\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97"), 3); /* each ideograph counts 1 */
    assert_int_equal(est("\xE4\xB8\xAD" "abc"), 2);
    assert_int_equal(est("\xC2\xA0\xE2\x80\x83"), 0);   /* no-break space, em space */
    assert_int_equal(est("a\xC2\xA0" "b"), 2);          /* ... which end words */
    assert_int_equal(est("ab\x01" "cd\x7F"), 1);         /* controls are deleted, not separators */
    assert_int_equal(est("a\xC2\xAD" "b"), 1);          /* soft hyphen (Cf) counts 0, joins */
    assert_int_equal(est("\xFF\xFE"), 2);               /* invalid bytes count 1 each */
    assert_int_equal(est("ab\xFF" "cd"), 3);
}

/* Additive over whitespace splits; never decreases; grows by at most 1 per code point. */
static void test_properties(void **state)
{
    (void)state;
    static const char *const pieces[] = {"word", "a", "longerwordhere", ".", ",", "-", "\xC3\xA9",
                                         "\xE4\xB8\xAD", "7", "\xFF", "\xCC\x81", "\xF0\x9F\x98\x80"};
    unsigned seed = 7;
    char a[256], b[256], ab[520];
    for (int round = 0; round < 2000; round++) {
        size_t la = 0, lb = 0;
        for (int i = 0; i < 10; i++) {
            seed = seed * 1103515245u + 12345u;
            const char *p = pieces[(seed >> 16) % (sizeof pieces / sizeof *pieces)];
            memcpy(a + la, p, strlen(p));
            la += strlen(p);
            seed = seed * 1103515245u + 12345u;
            p = pieces[(seed >> 16) % (sizeof pieces / sizeof *pieces)];
            memcpy(b + lb, p, strlen(p));
            lb += strlen(p);
        }
        memcpy(ab, a, la);
        ab[la] = ' ';
        memcpy(ab + la + 1, b, lb);
        size_t ea = rag_token_estimate(a, la), eb = rag_token_estimate(b, lb);
        assert_int_equal(rag_token_estimate(ab, la + 1 + lb), ea + eb);
        size_t prev = 0;
        for (size_t k = 1; k <= la; k++) {
            if (k < la && ((unsigned char)a[k] & 0xC0) == 0x80)
                continue; /* only whole code points */
            size_t e = rag_token_estimate(a, k);
            assert_true(e >= prev);
            assert_true(e <= prev + 1);
            prev = e;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_punctuation_and_symbols),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
