/* Unit tests for rag_chunk_page_at: the page of a cited sentence inside a chunk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "ragc/pipeline.h"

static rag_chunk_record chunk(int first, int last, const char *map)
{
    rag_chunk_record c;
    memset(&c, 0, sizeof c);
    c.page_start = first;
    c.page_end = last;
    c.page_map = (char *)map;
    return c;
}

static void test_single_page(void **state)
{
    (void)state;
    rag_chunk_record c = chunk(7, 7, NULL);
    assert_int_equal(rag_chunk_page_at(&c, 0), 7);
    assert_int_equal(rag_chunk_page_at(&c, 100000), 7);
    rag_chunk_record none = chunk(0, 0, NULL); /* formats without pages */
    assert_int_equal(rag_chunk_page_at(&none, 5), 0);
}

static void test_page_changes(void **state)
{
    (void)state;
    rag_chunk_record c = chunk(3, 5, "120:4 900:5");
    assert_int_equal(rag_chunk_page_at(&c, 0), 3);
    assert_int_equal(rag_chunk_page_at(&c, 119), 3);
    assert_int_equal(rag_chunk_page_at(&c, 120), 4); /* the mark's byte is on the new page */
    assert_int_equal(rag_chunk_page_at(&c, 899), 4);
    assert_int_equal(rag_chunk_page_at(&c, 900), 5);
    assert_int_equal(rag_chunk_page_at(&c, 5000), 5);
}

static void test_malformed_map_keeps_what_was_read(void **state)
{
    (void)state;
    rag_chunk_record c = chunk(1, 3, "10:2 junk");
    assert_int_equal(rag_chunk_page_at(&c, 50), 2);
    rag_chunk_record d = chunk(1, 3, "");
    assert_int_equal(rag_chunk_page_at(&d, 50), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_page),
        cmocka_unit_test(test_page_changes),
        cmocka_unit_test(test_malformed_map_keeps_what_was_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
