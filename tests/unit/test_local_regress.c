/* Regression tests for inputs found by the hardening work (fuzz/fuzz_local_tokenizer_json.c),
 * held in tests/fixtures/regress/local/.
 *
 * tokenizer.json special ids were taken from the file unchecked: a TemplateProcessing
 * special_tokens id or BertProcessing cls/sep id outside the vocabulary made encode emit ids >=
 * rag_tokenizer_vocab_size (the embedding lookup indexes its matrix with them), a 64-bit id
 * wrapped to another token (4294967296 + 3 -> 3), and padding.pad_id was unchecked. Such files
 * are now RAG_E_BAD_INPUT naming the file. tokenizer_ok.json is the same vocabulary with
 * correct ids (control). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/tokenizer.h"

static void fixture(const char *name, char *path, size_t cap)
{
    const char *src = getenv("RAGC_SOURCE_DIR");
    snprintf(path, cap, "%s/tests/fixtures/regress/local/%s", src && *src ? src : ".", name);
}

static void test_control_loads(void **state)
{
    (void)state;
    char path[4096];
    fixture("tokenizer_ok.json", path, sizeof path);
    rag_tokenizer *t = NULL;
    rag_err err;
    if (rag_tokenizer_load(path, &t, &err) != RAG_OK)
        fail_msg("%s", err.msg);
    rag_encoding e = {0};
    assert_int_equal(rag_tokenizer_encode(t, "the pump", 8, 0, &e, &err), RAG_OK);
    for (size_t i = 0; i < e.len; i++)
        assert_true(e.ids[i] >= 0 && (size_t)e.ids[i] < rag_tokenizer_vocab_size(t));
    assert_int_equal(e.ids[0], rag_tokenizer_token_id(t, "[CLS]"));
    assert_int_equal(e.ids[e.len - 1], rag_tokenizer_token_id(t, "[SEP]"));
    rag_encoding_clear(&e);
    rag_tokenizer_free(t);
}

static void expect_refused(const char *name, const char *what)
{
    char path[4096];
    fixture(name, path, sizeof path);
    rag_tokenizer *t = NULL;
    rag_err err;
    rag_status st = rag_tokenizer_load(path, &t, &err);
    if (st != RAG_E_BAD_INPUT)
        fail_msg("%s: status %s (%s)", name, rag_status_str(st), st == RAG_OK ? "loaded" : err.msg);
    assert_null(t);
    assert_non_null(strstr(err.msg, path));
    if (!strstr(err.msg, what))
        fail_msg("%s: message <%s> lacks <%s>", name, err.msg, what);
}

static void test_template_cls_out_of_range(void **state)
{
    (void)state;
    expect_refused("tokenizer_template_cls_id_out_of_range.json", "are not vocabulary entries");
}

static void test_bert_sep_id_wraps(void **state)
{
    (void)state;
    expect_refused("tokenizer_bert_sep_id_wraps.json", "are not vocabulary entries");
}

static void test_pad_out_of_range(void **state)
{
    (void)state;
    expect_refused("tokenizer_pad_id_out_of_range.json", "pad id 123456 is outside the vocabulary");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_loads),
        cmocka_unit_test(test_template_cls_out_of_range),
        cmocka_unit_test(test_bert_sep_id_wraps),
        cmocka_unit_test(test_pad_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
