/* Unit tests for the chunker (src/text/chunker.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/chunker.h"
#include "ragc/sentence.h"

/* ---- helpers ---- */

static rag_page page(const char *text, int number)
{
    rag_page p = {(char *)text, strlen(text), number};
    return p;
}

/* The document's virtual text: pages joined with "\n\n" (caller frees). */
static char *virtual_text(const rag_page *pages, size_t n, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += pages[i].len + 2;
    char *v = malloc(total + 1);
    assert_non_null(v);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            memcpy(v + o, "\n\n", 2);
            o += 2;
        }
        memcpy(v + o, pages[i].text, pages[i].len);
        o += pages[i].len;
    }
    v[o] = '\0';
    *len = o;
    return v;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* s[0..n) with every whitespace run collapsed to one space (into out, NUL-terminated). */
static void squash(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (is_ws(s[i])) {
            out[o++] = ' ';
            while (i < n && is_ws(s[i]))
                i++;
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = '\0';
}

/* Checks the invariants every chunking must satisfy. */
static void check_chunks(const rag_page *pages, size_t n_pages, const rag_chunker_params *p,
                         const rag_chunk *c, size_t n)
{
    size_t vlen;
    char *v = virtual_text(pages, n_pages, &vlen);
    char *a = malloc(vlen + 1), *b = malloc(vlen * 2 + 1);
    assert_non_null(a);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++) {
        /* budget, and n_tokens is the text's estimate */
        assert_int_equal(c[i].n_tokens, rag_token_estimate(c[i].text, c[i].len));
        assert_true(c[i].n_tokens <= p->chunk_size);
        assert_int_equal(strlen(c[i].text), c[i].len);
        assert_true(c[i].len > 0);
        assert_true(rag_utf8_valid(c[i].text, c[i].len, NULL));
        /* byte offsets delimit the same text in the virtual document */
        assert_true(c[i].byte_start < c[i].byte_end);
        assert_true(c[i].byte_end <= vlen);
        assert_false(is_ws(v[c[i].byte_start]));
        assert_false(is_ws(v[c[i].byte_end - 1]));
        squash(v + c[i].byte_start, c[i].byte_end - c[i].byte_start, a);
        squash(c[i].text, c[i].len, b);
        assert_string_equal(a, b);
        assert_true(c[i].page_start <= c[i].page_end);
        if (i == 0)
            continue;
        /* progress: both ends strictly advance; nothing is skipped between chunks */
        assert_true(c[i].byte_start > c[i - 1].byte_start);
        assert_true(c[i].byte_end > c[i - 1].byte_end);
        for (size_t k = c[i - 1].byte_end; k < c[i].byte_start; k++)
            assert_true(is_ws(v[k]));
        /* overlap: what the chunk repeats of the previous one fits chunk_overlap */
        if (c[i].byte_start < c[i - 1].byte_end)
            assert_true(rag_token_estimate(v + c[i].byte_start, c[i - 1].byte_end - c[i].byte_start) <=
                        p->chunk_overlap);
    }
    /* all text is covered */
    if (n > 0) {
        for (size_t k = 0; k < c[0].byte_start; k++)
            assert_true(is_ws(v[k]));
        for (size_t k = c[n - 1].byte_end; k < vlen; k++)
            assert_true(is_ws(v[k]));
    }
    free(a);
    free(b);
    free(v);
}

/* A document of n sentences "Sentence <i> has" + 1..7 Greek letter names + "." (at most
 * 2 + 1 + 1 + 7 * 2 + 1 = 19 tokens each). */
static char *make_sentences(size_t n, unsigned seed, bool paragraphs)
{
    static const char *const words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta",
                                        "eta", "theta", "iota", "kappa", "lambda", "mu"};
    size_t cap = n * 160 + 1;
    char *t = malloc(cap);
    assert_non_null(t);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        o += (size_t)snprintf(t + o, cap - o, "Sentence %zu has", i);
        seed = seed * 1103515245u + 12345u;
        int nw = 1 + (int)((seed >> 16) % 7);
        for (int w = 0; w < nw; w++) {
            seed = seed * 1103515245u + 12345u;
            o += (size_t)snprintf(t + o, cap - o, " %s", words[(seed >> 16) % 12]);
        }
        o += (size_t)snprintf(t + o, cap - o, "%s", paragraphs && i % 5 == 4 ? ".\n\n" : ". ");
    }
    return t;
}

/* ---- tests ---- */

static void test_params_and_errors(void **state)
{
    (void)state;
    rag_chunker_params d = rag_chunker_default_params();
    assert_int_equal(d.chunk_size, 512);
    assert_int_equal(d.chunk_overlap, 64);
    rag_page pg = page("Hello world.", 1);
    rag_chunk *c = (rag_chunk *)1;
    size_t n = 9;
    rag_err e;
    rag_chunker_params p = {100, 100};
    assert_int_equal(rag_chunk_document(&pg, 1, &p, &c, &n, &e), RAG_E_CONFIG);
    assert_non_null(strstr(e.msg, "chunk_overlap"));
    assert_null(c);
    assert_int_equal(n, 0);
    p = (rag_chunker_params){0, 0};
    assert_int_equal(rag_chunk_document(&pg, 1, &p, &c, &n, &e), RAG_E_CONFIG);
    assert_non_null(strstr(e.msg, "chunk_size"));
    assert_int_equal(rag_chunk_document(NULL, 2, NULL, &c, &n, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "pages"));
    assert_int_equal(rag_chunk_document(&pg, 1, NULL, NULL, &n, &e), RAG_E_BAD_INPUT);
    rag_page bad[2] = {page("Fine.", 1), page("Bad \xC3( byte.", 2)};
    assert_int_equal(rag_chunk_document(bad, 2, NULL, &c, &n, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "page 1 (number 2)"));
    assert_non_null(strstr(e.msg, "UTF-8"));
    rag_page nul = {NULL, 5, 3};
    assert_int_equal(rag_chunk_document(&nul, 1, NULL, &c, &n, &e), RAG_E_BAD_INPUT);
    assert_non_null(strstr(e.msg, "NULL text"));
    rag_chunks_free(NULL, 0);
}

static void test_empty_input(void **state)
{
    (void)state;
    rag_chunk *c = (rag_chunk *)1;
    size_t n = 5;
    rag_err e;
    assert_int_equal(rag_chunk_document(NULL, 0, NULL, &c, &n, &e), RAG_OK);
    assert_null(c);
    assert_int_equal(n, 0);
    rag_page blank[3] = {page("", 1), page("  \n\n \t", 2), {NULL, 0, 3}};
    assert_int_equal(rag_chunk_document(blank, 3, NULL, &c, &n, &e), RAG_OK);
    assert_null(c);
    assert_int_equal(n, 0);
}

static void test_single_page(void **state)
{
    (void)state;
    rag_page pg = page("  First sentence here.   Second one follows.\nSame paragraph.\n\nNew para.  ", 0);
    rag_chunk *c;
    size_t n;
    rag_err e;
    assert_int_equal(rag_chunk_document(&pg, 1, NULL, &c, &n, &e), RAG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].text,
                        "First sentence here. Second one follows. Same paragraph.\n\nNew para.");
    assert_int_equal(c[0].byte_start, 2);
    assert_int_equal(c[0].byte_end, pg.len - 2);
    assert_int_equal(c[0].page_start, 0);
    assert_int_equal(c[0].page_end, 0);
    assert_int_equal(c[0].n_tokens, rag_token_estimate(c[0].text, c[0].len));
    rag_chunker_params p = rag_chunker_default_params();
    check_chunks(&pg, 1, &p, c, n);
    rag_chunks_free(c, n);
}

static void test_budget_and_overlap(void **state)
{
    (void)state;
    char *text = make_sentences(400, 1, true);
    rag_page pg = page(text, 1);
    rag_chunker_params p = {60, 20};
    rag_chunk *c;
    size_t n;
    rag_err e;
    assert_int_equal(rag_chunk_document(&pg, 1, &p, &c, &n, &e), RAG_OK);
    assert_true(n > 20);
    check_chunks(&pg, 1, &p, c, n);
    /* sentences are at most 19 tokens here, so every chunk repeats at least one sentence */
    for (size_t i = 1; i < n; i++)
        assert_true(c[i].byte_start < c[i - 1].byte_end);
    /* chunks are reasonably full: more than half the budget except the last one */
    for (size_t i = 0; i + 1 < n; i++)
        assert_true(c[i].n_tokens > p.chunk_size / 2);
    /* paragraph breaks survive as "\n\n" inside chunk text */
    bool para = false;
    for (size_t i = 0; i < n; i++)
        para = para || strstr(c[i].text, ".\n\nSentence") != NULL;
    assert_true(para);
    rag_chunks_free(c, n);
    /* zero overlap: chunks tile the text without repeating */
    p.chunk_overlap = 0;
    assert_int_equal(rag_chunk_document(&pg, 1, &p, &c, &n, &e), RAG_OK);
    check_chunks(&pg, 1, &p, c, n);
    for (size_t i = 1; i < n; i++)
        assert_true(c[i].byte_start >= c[i - 1].byte_end);
    rag_chunks_free(c, n);
    free(text);
}

/* A sentence running across a page end (no terminal punctuation, next page starts in lowercase)
 * is joined by a space and stays one sentence; a finished sentence or a capitalised next page
 * still gets the paragraph break. */
static void test_sentence_across_pages(void **state)
{
    (void)state;
    rag_page pages[4] = {page("Intro here. The quick brown fox jumps over", 1),
                         page("the lazy dog. Then it rests", 2),
                         page("Next page starts anew. It ends.", 3),
                         page("lowercase start after a full stop.", 4)};
    rag_chunker_params p = {512, 0};
    rag_chunk *c;
    size_t n;
    rag_err e;
    assert_int_equal(rag_chunk_document(pages, 4, &p, &c, &n, &e), RAG_OK);
    check_chunks(pages, 4, &p, c, n);
    assert_int_equal(n, 1);
    const char *j = strstr(c[0].text, "jumps over the lazy dog.");
    assert_non_null(j);
    assert_non_null(strstr(c[0].text, "Then it rests\n\nNext page"));
    assert_non_null(strstr(c[0].text, "It ends.\n\nlowercase start"));
    /* page 2 begins at "the lazy", inside the joined sentence */
    assert_int_equal(c[0].n_page_marks, 3);
    assert_int_equal(c[0].page_marks[0].page, 2);
    assert_int_equal(c[0].page_marks[0].offset, (size_t)(j - c[0].text) + strlen("jumps over "));
    /* the splitter sees one sentence from "The quick" to "dog." */
    rag_span *sp;
    size_t ns;
    assert_int_equal(rag_sentences_split(c[0].text, c[0].len, &sp, &ns), RAG_OK);
    bool whole = false;
    for (size_t i = 0; i < ns; i++)
        whole = whole || (sp[i].end - sp[i].start == strlen("The quick brown fox jumps over the lazy dog.") &&
                          memcmp(c[0].text + sp[i].start, "The quick", 9) == 0);
    assert_true(whole);
    free(sp);
    rag_chunks_free(c, n);
}

static void test_pages_tracked(void **state)
{
    (void)state;
    rag_page pages[3] = {page("Page one starts. Page one ends", 1),
                         page("Page two has a sentence. And another one.", 2),
                         page("\n  Page three.  ", 3)};
    rag_chunker_params p = {12, 4};
    rag_chunk *c;
    size_t n;
    rag_err e;
    assert_int_equal(rag_chunk_document(pages, 3, &p, &c, &n, &e), RAG_OK);
    check_chunks(pages, 3, &p, c, n);
    assert_int_equal(c[0].page_start, 1);
    assert_int_equal(c[n - 1].page_end, 3);
    /* some chunk spans the page 1 / page 2 boundary, joined by "\n\n" (a page end ends a
     * sentence even without a period) */
    bool spans = false;
    for (size_t i = 0; i < n; i++) {
        if (c[i].page_start == 1 && c[i].page_end == 2) {
            spans = true;
            const char *p2 = strstr(c[i].text, "Page one ends\n\nPage two");
            assert_non_null(p2);
            /* the page mark points at the first byte of page 2's text inside the chunk */
            assert_int_equal(c[i].n_page_marks, 1);
            assert_int_equal(c[i].page_marks[0].page, 2);
            assert_int_equal(c[i].page_marks[0].offset, (size_t)(p2 - c[i].text) + strlen("Page one ends\n\n"));
        }
        assert_true(c[i].page_start >= 1 && c[i].page_end <= 3);
        /* marks: one per page change, ascending, inside the text, ending on page_end */
        assert_int_equal(c[i].n_page_marks, (size_t)(c[i].page_end - c[i].page_start));
        for (size_t m = 0; m < c[i].n_page_marks; m++) {
            assert_true(c[i].page_marks[m].offset > 0 && c[i].page_marks[m].offset < c[i].len);
            assert_true(m == 0 || c[i].page_marks[m].offset > c[i].page_marks[m - 1].offset);
        }
        if (c[i].n_page_marks)
            assert_int_equal(c[i].page_marks[c[i].n_page_marks - 1].page, c[i].page_end);
        else
            assert_null(c[i].page_marks);
    }
    assert_true(spans);
    /* byte offsets address the virtual text: page 3 starts after "p1\n\np2\n\n" */
    size_t p3 = pages[0].len + 2 + pages[1].len + 2;
    assert_int_equal(c[n - 1].byte_end, p3 + 3 + strlen("Page three."));
    rag_chunks_free(c, n);
}

static void test_long_sentence_split_at_words(void **state)
{
    (void)state;
    char text[4000];
    size_t o = 0;
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "%sw%03d", i ? " " : "", i);
    memcpy(text + o, ".", 2);
    rag_page pg = page(text, 7);
    rag_chunker_params p = {20, 5};
    rag_chunk *c;
    size_t n;
    rag_err e;
    assert_int_equal(rag_chunk_document(&pg, 1, &p, &c, &n, &e), RAG_OK);
    check_chunks(&pg, 1, &p, c, n);
    assert_true(n >= 15);
    for (size_t i = 0; i < n; i++) {
        /* whole words only: the text is space-separated "wNNN" words */
        const char *t = c[i].text;
        for (const char *w = t; *w;) {
            assert_int_equal(w[0], 'w');
            size_t wl = strcspn(w, " ");
            assert_true(wl == 4 || (wl == 5 && w[4] == '.'));
            w += wl;
            if (*w == ' ')
                w++;
        }
        assert_int_equal(c[i].page_start, 7);
    }
    rag_chunks_free(c, n);
}

static void test_giant_word_cut_at_code_points(void **state)
{
    (void)state;
    /* 3000 x "é" (2 bytes) without spaces: counts 500 tokens, budget 10 */
    size_t len = 6000;
    char *text = malloc(len + 1);
    assert_non_null(text);
    for (size_t i = 0; i < len; i += 2)
        memcpy(text + i, "\xC3\xA9", 2);
    text[len] = '\0';
    rag_page pg = page(text, 1);
    rag_chunker_params p = {10, 3};
    rag_chunk *c;
    size_t n;
    rag_err e;
    assert_int_equal(rag_chunk_document(&pg, 1, &p, &c, &n, &e), RAG_OK);
    check_chunks(&pg, 1, &p, c, n);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n)
            assert_int_equal(c[i].n_tokens, 10); /* greedy: each piece fills the budget */
        assert_int_equal(c[i].len % 2, 0); /* never inside a 2-byte character */
        assert_int_equal(c[i].byte_start, total);
        total += c[i].len;
    }
    assert_int_equal(total, len); /* pieces of one word do not overlap and cover it */
    rag_chunks_free(c, n);
    free(text);
}

static void test_progress_with_large_overlap(void **state)
{
    (void)state;
    char *text = make_sentences(200, 5, false);
    rag_page pg = page(text, 1);
    size_t sizes[] = {1, 2, 5, 13, 20, 40};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        rag_chunker_params p = {sizes[s], sizes[s] - 1};
        rag_chunk *c;
        size_t n;
        rag_err e;
        assert_int_equal(rag_chunk_document(&pg, 1, &p, &c, &n, &e), RAG_OK);
        check_chunks(&pg, 1, &p, c, n); /* includes strict progress of both ends */
        for (size_t i = 1; i < n; i++) /* never the same region twice */
            assert_false(c[i].byte_start == c[i - 1].byte_start && c[i].byte_end == c[i - 1].byte_end);
        assert_true(n <= pg.len); /* bounded: every chunk adds at least one new byte */
        rag_chunks_free(c, n);
    }
    free(text);
}

/* Real text: 300 SciFact abstracts (raw JSON lines) as pages, default parameters. */
static void test_scifact_pages(void **state)
{
    (void)state;
    const char *dir = getenv("RAGC_SHARED_DIR");
    if (!dir)
        skip();
    char path[1024];
    snprintf(path, sizeof path, "%s/data/scifact/corpus.jsonl", dir);
    char *buf;
    size_t len;
    rag_err e;
    if (rag_read_file(path, 64u << 20, &buf, &len, &e) != RAG_OK)
        skip();
    rag_page pages[300];
    size_t np = 0;
    for (char *p = buf, *end = buf + len; p < end && np < 300;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        pages[np] = (rag_page){p, (size_t)(nl - p), (int)np + 1};
        *nl = '\0';
        np++;
        p = nl + 1;
    }
    rag_chunker_params p = rag_chunker_default_params();
    rag_chunk *c;
    size_t n;
    assert_int_equal(rag_chunk_document(pages, np, &p, &c, &n, &e), RAG_OK);
    assert_true(n > 50);
    check_chunks(pages, np, &p, c, n);
    rag_chunks_free(c, n);
    p = (rag_chunker_params){128, 32};
    assert_int_equal(rag_chunk_document(pages, np, &p, &c, &n, &e), RAG_OK);
    check_chunks(pages, np, &p, c, n);
    rag_chunks_free(c, n);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_and_errors),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_single_page),
        cmocka_unit_test(test_budget_and_overlap),
        cmocka_unit_test(test_pages_tracked),
        cmocka_unit_test(test_sentence_across_pages),
        cmocka_unit_test(test_long_sentence_split_at_words),
        cmocka_unit_test(test_giant_word_cut_at_code_points),
        cmocka_unit_test(test_progress_with_large_overlap),
        cmocka_unit_test(test_scifact_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
