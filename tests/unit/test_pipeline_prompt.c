/* Prompt assembly: numbered sources, overlap dedupe, token budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "ragc/pipeline.h"

static rag_search_hit hit(int64_t doc, const char *title, int page, int64_t b0, int64_t b1, const char *text)
{
    rag_search_hit h;
    memset(&h, 0, sizeof h);
    h.doc.id = doc;
    h.doc.title = (char *)title;
    h.doc.source = (char *)"/x/manual.pdf";
    h.chunk.doc_id = doc;
    h.chunk.page_start = h.chunk.page_end = page;
    h.chunk.byte_start = b0;
    h.chunk.byte_end = b1;
    h.chunk.text = (char *)text;
    return h;
}

static void test_sources_numbered_and_deduped(void **state)
{
    (void)state;
    rag_search_hit hits[3] = {
        hit(1, "Pump Manual", 3, 0, 100, "Prime the pump before use.\nThen start it."),
        hit(1, "Pump Manual", 3, 50, 150, "Then start it. It hums."),  /* overlaps hit 0 */
        hit(2, NULL, 0, 0, 40, "Valves open clockwise."),
    };
    rag_search_result res = {.hits = hits, .n_hits = 3, .ms = 0};
    rag_buf b;
    rag_buf_init(&b, 0);
    size_t used[3], n_used = 0;
    assert_int_equal(rag_prompt_build(&res, "How do I start the pump?", 1000, &b, used, &n_used, NULL), RAG_OK);
    assert_int_equal(n_used, 2);
    assert_int_equal(used[0], 0);
    assert_int_equal(used[1], 2);
    assert_string_equal(b.data, "Sources:\n\n"
                                "[1] (Pump Manual, p. 3) Prime the pump before use. Then start it.\n\n"
                                "[2] (manual.pdf) Valves open clockwise.\n\n"
                                "Question: How do I start the pump?\n");
    rag_buf_free(&b);
    assert_non_null(strstr(rag_prompt_system(), "[n]"));
}

static void test_budget(void **state)
{
    (void)state;
    rag_search_hit hits[2] = {
        hit(1, "A", 1, 0, 10, "one two three four five six seven eight nine ten"),
        hit(2, "B", 1, 0, 10, "alpha beta"),
    };
    rag_search_result res = {.hits = hits, .n_hits = 2, .ms = 0};
    rag_buf b;
    rag_buf_init(&b, 0);
    size_t used[2], n_used = 0;
    /* 4 tokens: the first source is cut at a word boundary, the second no longer fits */
    assert_int_equal(rag_prompt_build(&res, "q", 4, &b, used, &n_used, NULL), RAG_OK);
    assert_int_equal(n_used, 1);
    assert_non_null(strstr(b.data, "[1] (A, p. 1) one two"));
    assert_null(strstr(b.data, "ten"));
    assert_null(strstr(b.data, "[2]"));
    rag_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sources_numbered_and_deduped),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
