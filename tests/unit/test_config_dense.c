/* Unit tests for retriever.dense.precision (src/config): default, every profile, values from a
 * user file, validation messages, dump round trip and the enum spelling. The process environment
 * is never read (params.getenv_fn). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/config.h"

static const char *no_env(void *ud, const char *name)
{
    (void)ud;
    (void)name;
    return NULL;
}

static rag_config_params params(void)
{
    rag_config_params p = rag_config_default_params();
    p.getenv_fn = no_env;
    return p;
}

/* Loads yaml as "my.yaml" over the default profile; fails the test on error. */
static rag_config *load_yaml(const char *yaml)
{
    rag_config_params p = params();
    rag_config *c = NULL;
    rag_err err;
    rag_err_clear(&err);
    if (rag_config_load_string("my.yaml", yaml, &p, &c, &err) != RAG_OK)
        fail_msg("unexpected error: %s\nfor:\n%s", err.msg, yaml);
    return c;
}

/* Asserts that yaml fails with RAG_E_CONFIG and exactly the one diagnostic msg. */
static void expect_error(const char *yaml, const char *msg)
{
    rag_config_params p = params();
    rag_buf diag;
    rag_buf_init(&diag, 0);
    p.diagnostics = &diag;
    rag_config *c = NULL;
    rag_err err;
    rag_err_clear(&err);
    assert_int_equal(rag_config_load_string("my.yaml", yaml, &p, &c, &err), RAG_E_CONFIG);
    assert_null(c);
    assert_string_equal(err.msg, msg);
    char line[1100];
    snprintf(line, sizeof line, "%s\n", msg);
    assert_string_equal(diag.data, line);
    rag_buf_free(&diag);
}

static void test_default_is_f32_in_every_profile(void **state)
{
    (void)state;
    for (size_t i = 0; rag_config_profile_name(i); i++) {
        rag_config_params p = params();
        p.profile = rag_config_profile_name(i);
        rag_config *c = NULL;
        rag_err err;
        rag_err_clear(&err);
        if (rag_config_load(&p, &c, &err) != RAG_OK)
            fail_msg("profile %s: %s", p.profile, err.msg);
        assert_int_equal(c->retriever.dense.precision, RAG_CONFIG_DENSE_F32);
        rag_config_free(c);
    }
}

static void test_int8_from_user_file(void **state)
{
    (void)state;
    rag_config *c = load_yaml("retriever:\n  dense:\n    precision: int8\n");
    assert_int_equal(c->retriever.dense.precision, RAG_CONFIG_DENSE_INT8);
    /* the section merges key by key: siblings keep their defaults */
    assert_int_equal(c->retriever.fusion.rrf_k, 60);
    rag_config_free(c);
    c = load_yaml("retriever:\n  dense:\n    precision: f32\n");
    assert_int_equal(c->retriever.dense.precision, RAG_CONFIG_DENSE_F32);
    rag_config_free(c);
    c = load_yaml("retriever:\n  dense:\n    precision: INT8\n"); /* enums ignore case */
    assert_int_equal(c->retriever.dense.precision, RAG_CONFIG_DENSE_INT8);
    rag_config_free(c);
    c = load_yaml("retriever:\n  dense: {}\n");
    assert_int_equal(c->retriever.dense.precision, RAG_CONFIG_DENSE_F32);
    rag_config_free(c);
}

static void test_validation_messages(void **state)
{
    (void)state;
    expect_error("retriever:\n  dense:\n    precision: int4\n",
                 "my.yaml:3: retriever.dense.precision: 'int4' is not one of: f32, int8");
    expect_error("retriever:\n  dense:\n    precision: 8\n",
                 "my.yaml:3: retriever.dense.precision: '8' is not one of: f32, int8");
    expect_error("retriever:\n  dense:\n    precision: [int8]\n",
                 "my.yaml:3: retriever.dense.precision: expected one of: f32, int8, got a list");
    expect_error("retriever:\n  dense: int8\n",
                 "my.yaml:2: retriever.dense: expected a mapping, got 'int8'");
    expect_error("retriever:\n  dense:\n    precison: int8\n",
                 "my.yaml:3: retriever.dense.precison: unknown key (expected one of: precision)");
}

static void test_dump_round_trips(void **state)
{
    (void)state;
    rag_config *c = load_yaml("retriever:\n  dense:\n    precision: int8\n");
    rag_buf b;
    rag_buf_init(&b, 0);
    assert_int_equal(rag_config_dump(c, &b), RAG_OK);
    assert_non_null(strstr(b.data, "\n  dense:\n    precision: int8\n"));
    rag_config *c2 = load_yaml(b.data);
    assert_int_equal(c2->retriever.dense.precision, RAG_CONFIG_DENSE_INT8);
    rag_buf_free(&b);
    rag_config_free(c);
    rag_config_free(c2);
}

static void test_precision_str(void **state)
{
    (void)state;
    assert_string_equal(rag_config_dense_precision_str(RAG_CONFIG_DENSE_F32), "f32");
    assert_string_equal(rag_config_dense_precision_str(RAG_CONFIG_DENSE_INT8), "int8");
    assert_string_equal(rag_config_dense_precision_str((rag_config_dense_precision)7), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_f32_in_every_profile),
        cmocka_unit_test(test_int8_from_user_file),
        cmocka_unit_test(test_validation_messages),
        cmocka_unit_test(test_dump_round_trips),
        cmocka_unit_test(test_precision_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
