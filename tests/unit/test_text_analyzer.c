/* Unit tests for the BM25 analyzer (src/text/analyzer.c). Expected outputs were checked
 * against Lucene 8.7's StandardTokenizer / EnglishAnalyzer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/analyzer.h"

typedef struct collect {
    char out[8192];
    size_t len;
    size_t n_terms;
    size_t max_term_len;
} collect;

static void collect_cb(void *ud, const char *term, size_t len)
{
    collect *c = ud;
    assert_int_equal(strlen(term), len); /* NUL-terminated, len matches */
    if (c->len && c->len + 1 < sizeof c->out)
        c->out[c->len++] = '|';
    if (c->len + len < sizeof c->out) {
        memcpy(c->out + c->len, term, len);
        c->len += len;
    }
    c->out[c->len] = '\0';
    c->n_terms++;
    if (len > c->max_term_len)
        c->max_term_len = len;
}

static rag_analyzer *make(const char *stemmer, const char *stop)
{
    rag_analyzer_params p = {stemmer, stop};
    rag_analyzer *a = NULL;
    rag_err e;
    assert_int_equal(rag_analyzer_create(&p, &a, &e), RAG_OK);
    assert_non_null(a);
    return a;
}

/* Analyzes text and returns the terms joined by '|' (static buffer). */
static const char *run(rag_analyzer *a, const char *text)
{
    static collect c;
    memset(&c, 0, sizeof c);
    assert_int_equal(rag_analyzer_run(a, text, strlen(text), collect_cb, &c), RAG_OK);
    return c.out;
}

static void test_tokenizer_words(void **state)
{
    (void)state;
    rag_analyzer *a = make("none", "none");
    assert_string_equal(run(a, "Hello, World!"), "hello|world");
    assert_string_equal(run(a, "don't stop"), "don't|stop");
    assert_string_equal(run(a, "state-of-the-art"), "state|of|the|art");
    assert_string_equal(run(a, "snake_case __init__ ___"), "snake_case|__init__");
    assert_string_equal(run(a, "p53 3.5mg covid19 IL-6"), "p53|3.5mg|covid19|il|6");
    assert_string_equal(run(a, "mg/kg (n=17) [a]"), "mg|kg|n|17|a");
    assert_string_equal(run(a, "a:b x.y"), "a:b|x.y");
    assert_string_equal(run(a, "trailing. 'quoted' end..."), "trailing|quoted|end");
    assert_string_equal(run(a, ""), "");
    assert_string_equal(run(a, "  \t\n "), "");
    rag_analyzer_free(a);
}

static void test_tokenizer_numbers_and_acronyms(void **state)
{
    (void)state;
    rag_analyzer *a = make("none", "none");
    assert_string_equal(run(a, "3.5 1,000 10:30 1;2"), "3.5|1,000|10|30|1;2");
    assert_string_equal(run(a, "U.S.A. e.g. i.e."), "u.s.a|e.g|i.e");
    assert_string_equal(run(a, "a.1 1.a 1,a a,b"), "a|1|1|a|1|a|a|b");
    assert_string_equal(run(a, "version 2.0.1-rc"), "version|2.0.1|rc");
    rag_analyzer_free(a);
}

static void test_possessives(void **state)
{
    (void)state;
    rag_analyzer *a = make("none", "none");
    assert_string_equal(run(a, "John's book"), "john|book");
    assert_string_equal(run(a, "JOHN'S John\xE2\x80\x99s Jane\xEF\xBC\x87s"), "john|john|jane");
    assert_string_equal(run(a, "the dogs' bowl"), "the|dogs|bowl");
    assert_string_equal(run(a, "it's"), "it");
    rag_analyzer_free(a);
}

static void test_unicode(void **state)
{
    (void)state;
    rag_analyzer *a = make("none", "none");
    assert_string_equal(run(a, "CAF\xC3\x89 Caf\xC3\xA9"), "caf\xC3\xA9|caf\xC3\xA9");
    /* decomposed e + U+0301 stays one token, marks kept */
    assert_string_equal(run(a, "Cafe\xCC\x81"), "cafe\xCC\x81");
    /* Greek lowercasing, U+0130 -> i as Java's Character.toLowerCase */
    assert_string_equal(run(a, "\xCE\x91\xCE\x92\xCE\x93 \xC4\xB0stanbul"), "\xCE\xB1\xCE\xB2\xCE\xB3|istanbul");
    /* Han ideographs and Hiragana: one token each; a Katakana run is one token */
    assert_string_equal(run(a, "\xE4\xB8\xAD\xE6\x96\x87"), "\xE4\xB8\xAD|\xE6\x96\x87");
    assert_string_equal(run(a, "\xE3\x81\xB2\xE3\x82\x89"), "\xE3\x81\xB2|\xE3\x82\x89");
    assert_string_equal(run(a, "\xE3\x82\xAB\xE3\x82\xBF\xE3\x82\xAB\xE3\x83\x8A"),
                        "\xE3\x82\xAB\xE3\x82\xBF\xE3\x82\xAB\xE3\x83\x8A");
    /* Thai: one token per run */
    assert_string_equal(run(a, "\xE0\xB8\xA0\xE0\xB8\xB2\xE0\xB8\xA9\xE0\xB8\xB2 x"),
                        "\xE0\xB8\xA0\xE0\xB8\xB2\xE0\xB8\xA9\xE0\xB8\xB2|x");
    /* superscripts/subscripts are not word characters: x², IC₅₀ */
    assert_string_equal(run(a, "x\xC2\xB2 IC\xE2\x82\x85\xE2\x82\x80"), "x|ic");
    /* soft hyphen (format char) stays inside the word */
    assert_string_equal(run(a, "co\xC2\xADoperate"), "co\xC2\xADoperate");
    /* emoji sequences are tokens (Lucene's EMOJI type): thumbs up + skin tone, © */
    assert_string_equal(run(a, "ok \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD \xC2\xA9 2020"),
                        "ok|\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD|\xC2\xA9|2020");
    rag_analyzer_free(a);
}

static void test_invalid_utf8_is_separator(void **state)
{
    (void)state;
    rag_analyzer *a = make("porter", "lucene");
    assert_string_equal(run(a, "ab\xFF" "cd\xC3"), "ab|cd");
    assert_string_equal(run(a, "x\xC0\xAFy \xED\xA0\x80z \xF4\x90\x80\x80w"), "x|y|z|w");
    /* random bytes: must not crash, every term is valid and bounded */
    unsigned seed = 12345;
    char buf[4096];
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (char)(seed >> 16);
        }
        collect c;
        memset(&c, 0, sizeof c);
        assert_int_equal(rag_analyzer_run(a, buf, sizeof buf, collect_cb, &c), RAG_OK);
        assert_true(c.max_term_len <= RAG_ANALYZER_MAX_TOKEN_UNITS * 4);
    }
    rag_analyzer_free(a);
}

static void test_max_token_length(void **state)
{
    (void)state;
    rag_analyzer *a = make("none", "none");
    char text[700];
    memset(text, 'a', 300);
    text[300] = '\0';
    collect c;
    memset(&c, 0, sizeof c);
    assert_int_equal(rag_analyzer_run(a, text, 300, collect_cb, &c), RAG_OK);
    assert_int_equal(c.n_terms, 2); /* 255 + 45, as Lucene's StandardTokenizer */
    assert_int_equal(c.max_term_len, 255);
    assert_int_equal(c.len, 300 + 1);
    /* 255 UTF-16 units: a supplementary character counts 2 */
    memset(text, 'b', 254);
    memcpy(text + 254, "\xF0\x90\x90\x80" "cc", 6); /* U+10400 DESERET CAPITAL LONG I */
    memset(&c, 0, sizeof c);
    assert_int_equal(rag_analyzer_run(a, text, 260, collect_cb, &c), RAG_OK);
    assert_int_equal(c.n_terms, 2);
    assert_int_equal(c.max_term_len, 254);
    rag_analyzer_free(a);
}

static void test_stopwords(void **state)
{
    (void)state;
    rag_analyzer *a = make("none", "lucene");
    assert_string_equal(run(a, "The cat is on the mat"), "cat|mat");
    assert_string_equal(run(a, "a an and are as at be but by for if in into is it no not of on or "
                               "such that the their then there these they this to was will with"),
                        "");
    assert_string_equal(run(a, "THEY WILL NOT"), ""); /* after lowercasing */
    assert_string_equal(run(a, "there's theirs"), "theirs"); /* possessive then stop */
    rag_analyzer_free(a);
    a = make("none", "none");
    assert_string_equal(run(a, "The cat"), "the|cat");
    rag_analyzer_free(a);
}

static void test_porter_stemmer(void **state)
{
    (void)state;
    rag_analyzer *a = make("porter", "lucene");
    assert_string_equal(run(a, "running caresses ponies relational cats"), "run|caress|poni|relat|cat");
    /* Lucene's PorterStemmer departures from the paper: -bli -> -ble, -logi -> -log, every
     * double consonant undoubled in step 1b, terms <= 2 chars unchanged */
    assert_string_equal(run(a, "visibly immunology immunological trekking us"),
                        "visibl|immunolog|immunolog|trek|us");
    assert_string_equal(run(a, "biology"), "biologi"); /* m("bio") == 0: no departure */
    assert_string_equal(run(a, "generously happily"), "gener|happili");
    /* non-ASCII terms are stemmed like Lucene (non-ASCII letters are consonants) */
    assert_string_equal(run(a, "caf\xC3\xA9s"), "caf\xC3\xA9");
    rag_analyzer_free(a);
}

static void test_english_vs_porter(void **state)
{
    (void)state;
    rag_analyzer *p = make("porter", "lucene");
    rag_analyzer *e = make("english", "lucene");
    assert_string_equal(run(p, "generously"), "gener");
    assert_string_equal(run(e, "generously"), "generous");
    assert_string_equal(run(p, "biology"), "biologi");
    assert_string_equal(run(e, "biology"), "biolog");
    assert_string_equal(run(e, "running caresses"), "run|caress");
    rag_analyzer_free(p);
    rag_analyzer_free(e);
    rag_analyzer *n = make("none", "lucene");
    assert_string_equal(run(n, "running"), "running");
    rag_analyzer_free(n);
}

static void test_create_errors(void **state)
{
    (void)state;
    rag_analyzer *a = (rag_analyzer *)1;
    rag_err e;
    rag_analyzer_params p = rag_analyzer_default_params();
    assert_string_equal(p.stemmer, "porter");
    assert_string_equal(p.stopwords, "lucene");
    p.stemmer = "krovetz";
    assert_int_equal(rag_analyzer_create(&p, &a, &e), RAG_E_CONFIG);
    assert_null(a);
    assert_non_null(strstr(e.msg, "krovetz"));
    assert_non_null(strstr(e.msg, "stemmer"));
    p = rag_analyzer_default_params();
    p.stopwords = "smart";
    assert_int_equal(rag_analyzer_create(&p, &a, &e), RAG_E_CONFIG);
    assert_non_null(strstr(e.msg, "smart"));
    assert_int_equal(rag_analyzer_create(&p, NULL, NULL), RAG_E_BAD_INPUT);
    /* NULL params = defaults; NULL fields = defaults */
    assert_int_equal(rag_analyzer_create(NULL, &a, &e), RAG_OK);
    assert_string_equal(run(a, "The running"), "run");
    rag_analyzer_free(a);
    rag_analyzer_params q = {NULL, NULL};
    assert_int_equal(rag_analyzer_create(&q, &a, &e), RAG_OK);
    assert_string_equal(run(a, "The running"), "run");
    /* bad arguments to run / term_freqs */
    collect c;
    assert_int_equal(rag_analyzer_run(a, NULL, 5, collect_cb, &c), RAG_E_BAD_INPUT);
    assert_int_equal(rag_analyzer_run(a, "x", 1, NULL, &c), RAG_E_BAD_INPUT);
    assert_int_equal(rag_analyzer_run(NULL, "x", 1, collect_cb, &c), RAG_E_BAD_INPUT);
    rag_term_freq *tf;
    size_t n;
    assert_int_equal(rag_analyzer_term_freqs(a, NULL, 3, &tf, &n, NULL), RAG_E_BAD_INPUT);
    assert_int_equal(rag_analyzer_term_freqs(a, "x", 1, NULL, &n, NULL), RAG_E_BAD_INPUT);
    rag_analyzer_free(a);
    rag_analyzer_free(NULL);
    rag_term_freqs_free(NULL, 0);
}

static void test_term_freqs(void **state)
{
    (void)state;
    rag_analyzer *a = make("porter", "lucene");
    const char *text = "The cats sat. The cat sat on the mat; a cat!";
    rag_term_freq *tf = NULL;
    size_t n = 0;
    uint32_t dl = 0;
    assert_int_equal(rag_analyzer_term_freqs(a, text, strlen(text), &tf, &n, &dl), RAG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(dl, 6); /* cat sat cat sat mat cat: stopwords not counted */
    assert_string_equal(tf[0].term, "cat");
    assert_int_equal(tf[0].tf, 3);
    assert_string_equal(tf[1].term, "mat");
    assert_int_equal(tf[1].tf, 1);
    assert_string_equal(tf[2].term, "sat");
    assert_int_equal(tf[2].tf, 2);
    rag_term_freqs_free(tf, n);
    /* empty and stopword-only text */
    assert_int_equal(rag_analyzer_term_freqs(a, "the a an", 8, &tf, &n, &dl), RAG_OK);
    assert_null(tf);
    assert_int_equal(n, 0);
    assert_int_equal(dl, 0);
    assert_int_equal(rag_analyzer_term_freqs(a, NULL, 0, &tf, &n, NULL), RAG_OK);
    assert_int_equal(n, 0);
    rag_analyzer_free(a);
}

static void test_term_freqs_many_terms(void **state)
{
    (void)state;
    rag_analyzer *a = make("none", "none");
    /* 20000 distinct words (forces the table to grow), each twice, plus reuse of scratch */
    size_t cap = 20000 * 2 * 8 + 1;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = 0;
    for (int rep = 0; rep < 2; rep++)
        for (int i = 0; i < 20000; i++) {
            char w[8];
            int x = i;
            for (int k = 0; k < 4; k++) {
                w[k] = (char)('a' + x % 26);
                x /= 26;
            }
            w[4] = 'z';
            w[5] = ' ';
            memcpy(text + len, w, 6);
            len += 6;
        }
    text[len] = '\0';
    for (int round = 0; round < 2; round++) {
        rag_term_freq *tf;
        size_t n;
        uint32_t dl;
        assert_int_equal(rag_analyzer_term_freqs(a, text, len, &tf, &n, &dl), RAG_OK);
        assert_int_equal(n, 20000);
        assert_int_equal(dl, 40000);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(tf[i].tf, 2);
            assert_int_equal(strlen(tf[i].term), 5);
            if (i > 0)
                assert_true(strcmp(tf[i - 1].term, tf[i].term) < 0);
        }
        rag_term_freqs_free(tf, n);
        /* a small document after a big one: no leftovers from the previous call */
        assert_int_equal(rag_analyzer_term_freqs(a, "q q r", 5, &tf, &n, &dl), RAG_OK);
        assert_int_equal(n, 2);
        assert_string_equal(tf[0].term, "q");
        assert_int_equal(tf[0].tf, 2);
        assert_int_equal(dl, 3);
        rag_term_freqs_free(tf, n);
    }
    free(text);
    rag_analyzer_free(a);
}

/* Throughput on SciFact (if the shared data is present): 8 MB must take well under a second
 * in an optimized build; the bound here is loose so sanitizer builds and busy machines pass. */
static void test_scifact_throughput(void **state)
{
    (void)state;
    const char *dir = getenv("RAGC_SHARED_DIR");
    if (!dir)
        skip();
    char path[1024];
    snprintf(path, sizeof path, "%s/data/scifact/corpus.jsonl", dir);
    char *buf;
    size_t n;
    rag_err e;
    if (rag_read_file(path, 64u << 20, &buf, &n, &e) != RAG_OK)
        skip();
    rag_analyzer *a = make("porter", "lucene");
    double t0 = rag_now_ms();
    size_t docs = 0, terms = 0;
    for (char *p = buf, *end = buf + n; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        rag_term_freq *tf;
        size_t k;
        uint32_t dl;
        assert_int_equal(rag_analyzer_term_freqs(a, p, (size_t)(nl - p), &tf, &k, &dl), RAG_OK);
        rag_term_freqs_free(tf, k);
        terms += dl;
        docs++;
        p = nl + 1;
    }
    double ms = rag_now_ms() - t0;
    print_message("scifact: %zu docs, %zu bytes, %zu terms in %.0f ms\n", docs, n, terms, ms);
    assert_int_equal(docs, 5183);
    assert_true(ms < 5000.0);
    rag_analyzer_free(a);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenizer_words),
        cmocka_unit_test(test_tokenizer_numbers_and_acronyms),
        cmocka_unit_test(test_possessives),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_invalid_utf8_is_separator),
        cmocka_unit_test(test_max_token_length),
        cmocka_unit_test(test_stopwords),
        cmocka_unit_test(test_porter_stemmer),
        cmocka_unit_test(test_english_vs_porter),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_term_freqs),
        cmocka_unit_test(test_term_freqs_many_terms),
        cmocka_unit_test(test_scifact_throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
