/* libFuzzer target: citation parsing and validation of generated answers
 * (rag_citations_validate, include/ragc/pipeline.h; marker forms in src/pipeline/citations.c).
 *
 * Input: byte 0 = n_sources (0..255); the rest is the answer text (up to the first NUL, as the
 * function reads a C string).
 * Invariants: the call succeeds; every cited number is in 1..n_sources, distinct, and
 * n_cited <= RAG_CITATIONS_MAX (likewise invalid numbers are outside 1..n_sources); the output
 * is valid UTF-8 when the input is; no marker with an invalid number is left: validating the
 * output again finds no invalid number and cites the same sources in the same order; with
 * n_sources 0 no marker survives.
 * Suggested -max_len: 8192.
 */
#include "fuzz_common.h"

#include "ragc/pipeline.h"

static void check_lists(const rag_citations *c, size_t n_sources)
{
    FUZZ_CHECK(c->text != NULL);
    FUZZ_CHECK(c->n_cited <= RAG_CITATIONS_MAX && c->n_invalid <= RAG_CITATIONS_MAX);
    FUZZ_CHECK(c->n_valid_markers >= c->n_cited);
    for (size_t i = 0; i < c->n_cited; i++) {
        FUZZ_CHECK(c->cited[i] >= 1 && (size_t)c->cited[i] <= n_sources);
        for (size_t k = 0; k < i; k++)
            FUZZ_CHECK(c->cited[k] != c->cited[i]);
    }
    for (size_t i = 0; i < c->n_invalid; i++) {
        FUZZ_CHECK(c->invalid[i] < 1 || (size_t)c->invalid[i] > n_sources);
        for (size_t k = 0; k < i; k++)
            FUZZ_CHECK(c->invalid[k] != c->invalid[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n_sources = data[0];
    char *text = fuzz_strndup(data + 1, size - 1);
    rag_citations c;
    FUZZ_CHECK(rag_citations_validate(text, n_sources, &c) == RAG_OK);
    check_lists(&c, n_sources);
    size_t in_len = strlen(text), out_len = strlen(c.text);
    if (fuzz_utf8_ok(text, in_len))
        FUZZ_CHECK(fuzz_utf8_ok(c.text, out_len));
    if (n_sources == 0)
        FUZZ_CHECK(c.n_cited == 0 && c.n_valid_markers == 0);

    /* the output holds only valid markers: a second pass removes nothing and cites the same */
    rag_citations again;
    FUZZ_CHECK(rag_citations_validate(c.text, n_sources, &again) == RAG_OK);
    check_lists(&again, n_sources);
    FUZZ_CHECK(again.n_invalid == 0);
    FUZZ_CHECK(again.n_cited == c.n_cited && !memcmp(again.cited, c.cited, c.n_cited * sizeof c.cited[0]));
    rag_citations_clear(&again);
    rag_citations_clear(&c);
    free(text);
    return 0;
}
