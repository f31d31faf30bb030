/* Unit tests for src/eval loaders: BEIR qrels TSV (and TREC qrels), queries.jsonl, their error
 * messages (file:line: reason), caps, and the real SciFact train split from RAGC_SHARED_DIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ragc/eval.h"

/* Writes n bytes to a fresh temporary file; returns its path (static buffer per slot). */
static const char *tmpfile_with(const void *data, size_t n)
{
    static char paths[8][64];
    static int slot;
    char *p = paths[slot++ % 8];
    snprintf(p, sizeof paths[0], "/tmp/ragc_eval_test_XXXXXX");
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    return p;
}

static const char *tmp_text(const char *s)
{
    return tmpfile_with(s, strlen(s));
}

static void expect_qrels_error(const char *content, rag_status want_st, const char *want_suffix)
{
    const char *path = tmp_text(content);
    rag_qrels *q = (rag_qrels *)&q;
    rag_err err;
    assert_int_equal(rag_qrels_load(path, &q, &err), want_st);
    assert_null(q);
    char want[1024];
    snprintf(want, sizeof want, "%s:%s", path, want_suffix);
    assert_string_equal(err.msg, want);
    unlink(path);
}

static void expect_queries_error(const char *content, rag_status want_st, const char *want_suffix)
{
    const char *path = tmp_text(content);
    rag_queries *q = (rag_queries *)&q;
    rag_err err;
    assert_int_equal(rag_queries_load(path, &q, &err), want_st);
    assert_null(q);
    char want[1024];
    snprintf(want, sizeof want, "%s:%s", path, want_suffix);
    assert_string_equal(err.msg, want);
    unlink(path);
}

static void test_qrels_tsv(void **state)
{
    (void)state;
    const char *path = tmp_text("query-id\tcorpus-id\tscore\r\n"
                                "q1\td1\t1\r\n"
                                "q1\td2\t2\r\n"
                                "\r\n"
                                "q2\td1\t0\r\n"
                                "q3\td9\t-1\n");
    rag_qrels *q = NULL;
    rag_err err;
    if (rag_qrels_load(path, &q, &err) != RAG_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(rag_qrels_n_rows(q), 4);
    assert_int_equal(rag_qrels_n_queries(q), 3);
    int rel;
    assert_true(rag_qrels_get(q, "q1", "d2", &rel));
    assert_int_equal(rel, 2);
    assert_true(rag_qrels_get(q, "q3", "d9", &rel));
    assert_int_equal(rel, -1);
    assert_false(rag_qrels_get(q, "query-id", "corpus-id", &rel)); /* the header was skipped */
    assert_int_equal(rag_qrels_n_relevant(q, "q1"), 2);
    rag_qrels_free(q);
    unlink(path);

    /* no header, TREC format "qid iter doc rel" */
    path = tmp_text("301 0 FBIS3-10082 1\n301  0  FBIS3-10169 0\n302 Q0 d 2");
    assert_int_equal(rag_qrels_load(path, &q, &err), RAG_OK);
    assert_int_equal(rag_qrels_n_rows(q), 3);
    assert_true(rag_qrels_get(q, "301", "FBIS3-10169", &rel));
    assert_int_equal(rel, 0);
    assert_true(rag_qrels_get(q, "302", "d", &rel)); /* last line without a newline */
    assert_int_equal(rel, 2);
    rag_qrels_free(q);
    unlink(path);

    /* an empty file is an empty qrels */
    path = tmp_text("");
    assert_int_equal(rag_qrels_load(path, &q, &err), RAG_OK);
    assert_int_equal(rag_qrels_n_rows(q), 0);
    rag_qrels_free(q);
    unlink(path);
}

static void test_qrels_errors(void **state)
{
    (void)state;
    expect_qrels_error("query-id\tcorpus-id\tscore\nq1\td1\tyes\n", RAG_E_BAD_INPUT,
                       "2: relevance 'yes' is not an integer");
    expect_qrels_error("q1\td1\t1\nq1\td1\n", RAG_E_BAD_INPUT,
                       "2: expected 3 tab-separated fields (query-id, corpus-id, score) or 4 TREC fields, got 2");
    expect_qrels_error("q1\td1\t1\nq1\td1\t1\t0\t7\n", RAG_E_BAD_INPUT,
                       "2: expected 3 tab-separated fields (query-id, corpus-id, score) or 4 TREC fields, got more "
                       "than 4");
    expect_qrels_error("q1\td1\t1\nq2\td1\t1\nq1\td1\t0\n", RAG_E_BAD_INPUT,
                       "3: duplicate judgment for query 'q1', doc 'd1' (first on line 1)");
    expect_qrels_error("q1\t\t1\n", RAG_E_BAD_INPUT, "1: empty doc id");
    expect_qrels_error("q1\td1\t1.5\n", RAG_E_BAD_INPUT, "1: relevance '1.5' is not an integer");
    expect_qrels_error("qid\tdoc\trel\nq1\td1\tscore\n", RAG_E_BAD_INPUT, "2: relevance 'score' is not an integer");
    expect_qrels_error("q1\td1\t99999999999\n", RAG_E_BAD_INPUT, "1: relevance '99999999999' is not an integer");

    /* a NUL byte (written with its real length: strlen would cut it) */
    static const char nul[] = "q1\td1\t1\nq1\td\0x\t1\n";
    const char *path = tmpfile_with(nul, sizeof nul - 1);
    rag_qrels *q;
    rag_err err;
    assert_int_equal(rag_qrels_load(path, &q, &err), RAG_E_BAD_INPUT);
    char want[256];
    snprintf(want, sizeof want, "%s:2: NUL byte in a text line", path);
    assert_string_equal(err.msg, want);
    unlink(path);

    /* a line over the cap */
    size_t n = RAG_EVAL_MAX_LINE + 16;
    char *big = malloc(n);
    assert_non_null(big);
    memcpy(big, "q1\td1\t1\n", 8);
    memset(big + 8, 'x', n - 8);
    path = tmpfile_with(big, n);
    free(big);
    assert_int_equal(rag_qrels_load(path, &q, &err), RAG_E_TOO_LARGE);
    snprintf(want, sizeof want, "%s:2: line longer than %d bytes", path, RAG_EVAL_MAX_LINE);
    assert_string_equal(err.msg, want);
    unlink(path);

    assert_int_equal(rag_qrels_load("/nonexistent/qrels.tsv", &q, &err), RAG_E_NOT_FOUND);
    assert_string_equal(err.msg, "/nonexistent/qrels.tsv: No such file or directory");
}

static void test_queries(void **state)
{
    (void)state;
    const char *path = tmp_text("{\"_id\": \"0\", \"text\": \"0-dimensional biomaterials\", \"metadata\": {}}\n"
                                "\n"
                                "{\"_id\": 17, \"text\": \"caf\\u00e9 \\\"quoted\\\"\"}\r\n"
                                "   \n"
                                "{\"text\": \"order does not matter\", \"_id\": \"x-1\"}");
    rag_queries *q = NULL;
    rag_err err;
    if (rag_queries_load(path, &q, &err) != RAG_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(rag_queries_count(q), 3);
    assert_string_equal(rag_queries_id(q, 0), "0");
    assert_string_equal(rag_queries_text(q, 0), "0-dimensional biomaterials");
    assert_string_equal(rag_queries_id(q, 1), "17");
    assert_string_equal(rag_queries_text(q, 1), "caf\xc3\xa9 \"quoted\"");
    assert_string_equal(rag_queries_id(q, 2), "x-1");
    assert_null(rag_queries_id(q, 3));
    assert_null(rag_queries_text(q, 3));
    rag_queries_free(q);
    rag_queries_free(NULL);
    unlink(path);
}

static void test_queries_errors(void **state)
{
    (void)state;
    expect_queries_error("{\"_id\": \"1\", \"text\": \"a\"}\n{\"_id\": \"2\", \"text\": \"b\"\n", RAG_E_BAD_INPUT,
                         "2: invalid JSON at column 24: '}' expected near end of file");
    expect_queries_error("{\"_id\": \"1\", \"text\": \"a\"}\n[1, 2]\n", RAG_E_BAD_INPUT, "2: expected a JSON object");
    expect_queries_error("{\"text\": \"a\"}\n", RAG_E_BAD_INPUT, "1: missing string field \"_id\"");
    expect_queries_error("{\"_id\": \"1\", \"text\": 5}\n", RAG_E_BAD_INPUT, "1: missing string field \"text\"");
    expect_queries_error("{\"_id\": \"\", \"text\": \"a\"}\n", RAG_E_BAD_INPUT, "1: empty \"_id\"");
    expect_queries_error("{\"_id\": \"1\", \"text\": \"a\"}\n\n{\"_id\": \"1\", \"text\": \"b\"}\n", RAG_E_BAD_INPUT,
                         "3: duplicate _id '1' (first on line 1)");
    expect_queries_error("{\"_id\": \"1\", \"_id\": \"2\", \"text\": \"a\"}\n", RAG_E_BAD_INPUT,
                         "1: invalid JSON at column 18: duplicate object key near '\"_id\"'");
    expect_queries_error("{\"_id\": \"1\", \"text\": \"\xff\"}\n", RAG_E_BAD_INPUT,
                         "1: invalid JSON at column 22: unable to decode byte 0xff near '\"'");
    rag_queries *q;
    rag_err err;
    assert_int_equal(rag_queries_load("/nonexistent/queries.jsonl", &q, &err), RAG_E_NOT_FOUND);
    assert_null(q);
}

/* The real BEIR SciFact train split: 809 queries, 919 judgments over 809 queries. */
static void test_scifact(void **state)
{
    (void)state;
    const char *shared = getenv("RAGC_SHARED_DIR");
    char qpath[1024], rpath[1024];
    snprintf(qpath, sizeof qpath, "%s/data/scifact/queries.jsonl", shared ? shared : "../shared");
    snprintf(rpath, sizeof rpath, "%s/data/scifact/qrels/train.tsv", shared ? shared : "../shared");
    if (access(qpath, R_OK) != 0 || access(rpath, R_OK) != 0) {
        print_message("skipping: %s or %s not found (set RAGC_SHARED_DIR)\n", qpath, rpath);
        skip();
    }
    rag_queries *q = NULL;
    rag_qrels *r = NULL;
    rag_err err;
    if (rag_queries_load(qpath, &q, &err) != RAG_OK)
        fail_msg("%s", err.msg);
    if (rag_qrels_load(rpath, &r, &err) != RAG_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(rag_queries_count(q), 809);
    assert_string_equal(rag_queries_id(q, 0), "0");
    assert_string_equal(rag_queries_text(q, 0), "0-dimensional biomaterials lack inductive properties.");
    assert_int_equal(rag_qrels_n_rows(r), 919);
    assert_int_equal(rag_qrels_n_queries(r), 809);
    int rel;
    assert_true(rag_qrels_get(r, "0", "31715818", &rel));
    assert_int_equal(rel, 1);
    /* every judged query is one of the queries */
    size_t found = 0;
    for (size_t i = 0; i < rag_qrels_n_queries(r); i++)
        for (size_t k = 0; k < rag_queries_count(q); k++)
            if (!strcmp(rag_qrels_query_id(r, i), rag_queries_id(q, k))) {
                found++;
                break;
            }
    assert_int_equal(found, 809);

    /* a perfect run (the judged docs themselves) scores 1 on every metric */
    rag_eval_run *run;
    assert_int_equal(rag_eval_run_create(&run), RAG_OK);
    FILE *f = fopen(rpath, "r");
    assert_non_null(f);
    char line[256];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        if (lineno++ == 0)
            continue;
        char qid[64], doc[64];
        if (sscanf(line, "%63s %63s", qid, doc) == 2)
            assert_int_equal(rag_eval_run_add(run, qid, doc, 1.0, &err), RAG_OK);
    }
    fclose(f);
    rag_eval_result res;
    assert_int_equal(rag_eval_run_compute(run, r, &res, &err), RAG_OK);
    assert_int_equal(res.n_queries, 809);
    assert_float_equal(res.ndcg10, 1.0, 1e-12);
    assert_float_equal(res.recall100, 1.0, 1e-12);
    assert_float_equal(res.mrr10, 1.0, 1e-12);
    rag_eval_result_free(&res);
    rag_eval_run_free(run);
    rag_queries_free(q);
    rag_qrels_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qrels_tsv),
        cmocka_unit_test(test_qrels_errors),
        cmocka_unit_test(test_queries),
        cmocka_unit_test(test_queries_errors),
        cmocka_unit_test(test_scifact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
