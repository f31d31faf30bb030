/* Unit tests for src/eval metrics: nDCG@10, Recall@100 and MRR@10 on hand-computed cases
 * (graded relevance, trec_eval tie-breaking, duplicates, empty and unjudged queries, cutoffs),
 * and the table / JSON output. Expected values were computed by hand from the trec_eval formulas
 * (gain / log2(rank + 1)); no libm is needed here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "ragc/eval.h"

#define EPS 1e-12

static void add_j(rag_qrels *q, const char *qid, const char *doc, int rel)
{
    rag_err err;
    if (rag_qrels_add(q, qid, doc, rel, &err) != RAG_OK)
        fail_msg("qrels_add: %s", err.msg);
}

static void add_r(rag_eval_run *r, const char *qid, const char *doc, double score)
{
    rag_err err;
    if (rag_eval_run_add(r, qid, doc, score, &err) != RAG_OK)
        fail_msg("run_add: %s", err.msg);
}

static const rag_eval_query_result *find_q(const rag_eval_result *res, const char *qid)
{
    for (size_t i = 0; i < res->n_queries; i++)
        if (!strcmp(res->per_query[i].query_id, qid))
            return &res->per_query[i];
    return NULL;
}

/* q1 graded; q2 ties; q3 duplicates; q4 judged without results; q5 not in qrels; q6 only rel 0. */
static void build_mixed(rag_qrels **qo, rag_eval_run **ro)
{
    rag_qrels *q;
    rag_eval_run *r;
    assert_int_equal(rag_qrels_create(&q), RAG_OK);
    assert_int_equal(rag_eval_run_create(&r), RAG_OK);
    add_j(q, "q1", "d1", 2);
    add_j(q, "q1", "d2", 1);
    add_j(q, "q1", "d3", 0);
    add_j(q, "q1", "d4", 3);
    add_j(q, "q2", "a", 1);
    add_j(q, "q3", "x", 1);
    add_j(q, "q3", "y", 1);
    add_j(q, "q4", "k", 1);
    add_j(q, "q6", "m", 0);

    /* ranking d1(2) d5(-) d2(1) d4(3) d3(0) */
    add_r(r, "q1", "d3", 0.5);
    add_r(r, "q1", "d1", 0.9);
    add_r(r, "q1", "d5", 0.8);
    add_r(r, "q1", "d4", 0.6);
    add_r(r, "q1", "d2", 0.7);
    /* equal scores: doc id descending, so c, b, a, then the lower-scored z */
    add_r(r, "q2", "a", 1.0);
    add_r(r, "q2", "z", 0.5);
    add_r(r, "q2", "c", 1.0);
    add_r(r, "q2", "b", 1.0);
    /* duplicates count once, with the first score: n1 (5.0) then x (1.0) */
    add_r(r, "q3", "n1", 5.0);
    add_r(r, "q3", "x", 1.0);
    add_r(r, "q3", "n1", 0.1);
    add_r(r, "q3", "x", 9.0);
    /* not judged / only non-relevant judgments: excluded from the means */
    add_r(r, "q5", "d1", 1.0);
    add_r(r, "q6", "m", 1.0);
    *qo = q;
    *ro = r;
}

static void test_mixed_cases(void **state)
{
    (void)state;
    rag_qrels *q;
    rag_eval_run *r;
    build_mixed(&q, &r);
    rag_eval_result res;
    rag_err err;
    assert_int_equal(rag_eval_run_compute(r, q, &res, &err), RAG_OK);
    assert_int_equal(res.n_queries, 4);
    assert_string_equal(res.per_query[0].query_id, "q1"); /* qrels order */
    assert_string_equal(res.per_query[3].query_id, "q4");
    assert_null(find_q(&res, "q5"));
    assert_null(find_q(&res, "q6"));

    /* q1: DCG = 2/1 + 1/log2(4) + 3/log2(5); IDCG = 3/1 + 2/log2(3) + 1/log2(4) */
    const rag_eval_query_result *q1 = find_q(&res, "q1");
    assert_float_equal(q1->ndcg10, 0.7963337995444919, EPS);
    assert_float_equal(q1->recall100, 1.0, EPS);
    assert_float_equal(q1->mrr10, 1.0, EPS);
    assert_int_equal(q1->n_retrieved, 5);
    assert_int_equal(q1->n_relevant, 3);

    /* q2: 'a' is third among the three ties -> DCG = 1/log2(4) = 0.5, RR = 1/3 */
    const rag_eval_query_result *q2 = find_q(&res, "q2");
    assert_float_equal(q2->ndcg10, 0.5, EPS);
    assert_float_equal(q2->mrr10, 1.0 / 3.0, EPS);
    assert_float_equal(q2->recall100, 1.0, EPS);

    /* q3: x at rank 2 -> nDCG = (1/log2(3)) / (1 + 1/log2(3)), RR = 1/2, recall 1/2 */
    const rag_eval_query_result *q3 = find_q(&res, "q3");
    assert_float_equal(q3->ndcg10, 0.38685280723454163, EPS);
    assert_float_equal(q3->mrr10, 0.5, EPS);
    assert_float_equal(q3->recall100, 0.5, EPS);
    assert_int_equal(q3->n_retrieved, 2);

    /* q4: judged but absent from the run: zeros, still averaged */
    const rag_eval_query_result *q4 = find_q(&res, "q4");
    assert_float_equal(q4->ndcg10, 0.0, EPS);
    assert_float_equal(q4->recall100, 0.0, EPS);
    assert_float_equal(q4->mrr10, 0.0, EPS);
    assert_int_equal(q4->n_retrieved, 0);

    assert_float_equal(res.ndcg10, 0.4207966516947584, EPS);
    assert_float_equal(res.recall100, 0.625, EPS);
    assert_float_equal(res.mrr10, 0.4583333333333333, EPS);
    rag_eval_result_free(&res);
    rag_eval_result_free(NULL);
    rag_eval_run_free(r);
    rag_qrels_free(q);
}

/* Cutoffs: nDCG and MRR look at the top 10, recall at the top 100; IDCG is cut at 10. */
static void test_cutoffs(void **state)
{
    (void)state;
    rag_qrels *q;
    rag_eval_run *r;
    assert_int_equal(rag_qrels_create(&q), RAG_OK);
    assert_int_equal(rag_eval_run_create(&r), RAG_OK);
    char doc[32];
    /* query "far": 150 results with scores 150..1, relevant docs at ranks 11, 50 and 101 */
    add_j(q, "far", "r11", 1);
    add_j(q, "far", "r50", 2);
    add_j(q, "far", "r101", 1);
    for (int rank = 1; rank <= 150; rank++) {
        snprintf(doc, sizeof doc, "r%d", rank);
        add_r(r, "far", doc, 151.0 - rank);
    }
    /* query "many": 12 relevant docs, all retrieved first -> perfect despite the cut at 10 */
    for (int i = 0; i < 12; i++) {
        snprintf(doc, sizeof doc, "m%02d", i);
        add_j(q, "many", doc, 1);
        add_r(r, "many", doc, 100.0 - i);
    }
    /* query "neg": a negative grade (judged "unjudged in pool") gives no gain and is not relevant */
    add_j(q, "neg", "d", -1);
    add_j(q, "neg", "e", 1);
    add_r(r, "neg", "d", 2.0);
    add_r(r, "neg", "e", 1.0);

    rag_eval_result res;
    rag_err err;
    assert_int_equal(rag_eval_run_compute(r, q, &res, &err), RAG_OK);
    assert_int_equal(res.n_queries, 3);
    const rag_eval_query_result *far = find_q(&res, "far");
    assert_float_equal(far->ndcg10, 0.0, EPS);
    assert_float_equal(far->mrr10, 0.0, EPS);
    assert_float_equal(far->recall100, 2.0 / 3.0, EPS);
    assert_int_equal(far->n_retrieved, 150);
    const rag_eval_query_result *many = find_q(&res, "many");
    assert_float_equal(many->ndcg10, 1.0, EPS);
    assert_float_equal(many->recall100, 1.0, EPS);
    assert_float_equal(many->mrr10, 1.0, EPS);
    const rag_eval_query_result *neg = find_q(&res, "neg");
    assert_int_equal(neg->n_relevant, 1);
    assert_float_equal(neg->mrr10, 0.5, EPS);
    assert_float_equal(neg->ndcg10, 0.6309297535714574, EPS); /* 1/log2(3) */
    rag_eval_result_free(&res);
    rag_eval_run_free(r);
    rag_qrels_free(q);
}

static void test_run_errors_and_empty(void **state)
{
    (void)state;
    rag_qrels *q;
    rag_eval_run *r;
    assert_int_equal(rag_qrels_create(&q), RAG_OK);
    assert_int_equal(rag_eval_run_create(&r), RAG_OK);
    rag_err err;
    assert_int_equal(rag_eval_run_add(r, "q", "d", NAN, &err), RAG_E_BAD_INPUT);
    assert_string_equal(err.msg, "query 'q', doc 'd': score is NaN");
    assert_int_equal(rag_eval_run_add(r, "", "d", 1, &err), RAG_E_BAD_INPUT);
    assert_string_equal(err.msg, "empty query id");
    assert_int_equal(rag_eval_run_add(r, "q", NULL, 1, &err), RAG_E_BAD_INPUT);
    assert_string_equal(err.msg, "empty doc id");
    assert_int_equal(rag_eval_run_add(r, "q", "\xff", 1, &err), RAG_E_BAD_INPUT);
    assert_string_equal(err.msg, "doc id is not valid UTF-8 (byte 0)");
    char *long_id = malloc(RAG_EVAL_MAX_ID + 2);
    assert_non_null(long_id);
    memset(long_id, 'x', RAG_EVAL_MAX_ID + 1);
    long_id[RAG_EVAL_MAX_ID + 1] = '\0';
    assert_int_equal(rag_eval_run_add(r, long_id, "d", 1, &err), RAG_E_BAD_INPUT);
    assert_int_equal(rag_qrels_add(q, "q", long_id, 1, &err), RAG_E_BAD_INPUT);
    free(long_id);
    add_j(q, "q", "d", 1);
    assert_int_equal(rag_qrels_add(q, "q", "d", 2, &err), RAG_E_BAD_INPUT);
    assert_string_equal(err.msg, "duplicate judgment for query 'q', doc 'd'");

    /* no judged query at all: zero means, no per-query rows */
    rag_qrels *q0;
    assert_int_equal(rag_qrels_create(&q0), RAG_OK);
    add_j(q0, "z", "d", 0);
    rag_eval_result res;
    assert_int_equal(rag_eval_run_compute(r, q0, &res, &err), RAG_OK);
    assert_int_equal(res.n_queries, 0);
    assert_float_equal(res.ndcg10, 0.0, EPS);
    rag_eval_result_free(&res);
    assert_int_equal(rag_eval_run_compute(NULL, q0, &res, &err), RAG_E_BAD_INPUT);
    rag_qrels_free(q0);

    /* infinite scores are ordered like any other */
    add_r(r, "q", "other", INFINITY);
    add_r(r, "q", "d", -INFINITY);
    assert_int_equal(rag_eval_run_compute(r, q, &res, &err), RAG_OK);
    assert_float_equal(res.mrr10, 0.5, EPS);
    rag_eval_result_free(&res);
    rag_eval_run_free(r);
    rag_qrels_free(q);
    rag_eval_run_free(NULL);
    rag_qrels_free(NULL);
}

static void test_lookup(void **state)
{
    (void)state;
    rag_qrels *q;
    rag_eval_run *r;
    build_mixed(&q, &r);
    int rel = -99;
    assert_true(rag_qrels_get(q, "q1", "d4", &rel));
    assert_int_equal(rel, 3);
    assert_true(rag_qrels_get(q, "q1", "d3", &rel));
    assert_int_equal(rel, 0);
    assert_false(rag_qrels_get(q, "q1", "d5", &rel));
    assert_false(rag_qrels_get(q, "q2", "d1", &rel)); /* judged for q1 only */
    assert_false(rag_qrels_get(q, "nope", "d1", &rel));
    assert_int_equal(rag_qrels_n_rows(q), 9);
    assert_int_equal(rag_qrels_n_queries(q), 5);
    assert_string_equal(rag_qrels_query_id(q, 4), "q6");
    assert_null(rag_qrels_query_id(q, 5));
    assert_int_equal(rag_qrels_n_relevant(q, "q1"), 3);
    assert_int_equal(rag_qrels_n_relevant(q, "q6"), 0);
    assert_int_equal(rag_qrels_n_relevant(q, "nope"), 0);
    rag_eval_run_free(r);
    rag_qrels_free(q);
}

static void test_print_and_json(void **state)
{
    (void)state;
    rag_qrels *q;
    rag_eval_run *r;
    build_mixed(&q, &r);
    rag_eval_result res;
    rag_err err;
    assert_int_equal(rag_eval_run_compute(r, q, &res, &err), RAG_OK);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(rag_eval_result_print(&res, f, false), RAG_OK);
    fclose(f);
    assert_string_equal(text, "nDCG@10     0.4208\nRecall@100  0.6250\nMRR@10      0.4583\nqueries     4\n");
    free(text);

    f = open_memstream(&text, &len);
    assert_int_equal(rag_eval_result_print(&res, f, true), RAG_OK);
    fclose(f);
    assert_non_null(strstr(text, "q2                         0.5000      1.0000   0.3333          4         1\n"));
    assert_non_null(strstr(text, "queries     4\n"));
    free(text);

    rag_buf b;
    rag_buf_init(&b, 0);
    assert_int_equal(rag_eval_result_json(&res, &b, false), RAG_OK);
    assert_string_equal(b.data, "{\"queries\":4,\"ndcg@10\":0.4207966517,\"recall@100\":0.625,\"mrr@10\":0.4583333333}");
    rag_buf_reset(&b);
    assert_int_equal(rag_eval_result_json(&res, &b, true), RAG_OK);
    assert_non_null(strstr(b.data, "\"per_query\":[{\"query_id\":\"q1\",\"ndcg@10\":0.7963337995,\"recall@100\":1.0,"
                                   "\"mrr@10\":1.0,\"retrieved\":5,\"relevant\":3},"));
    rag_buf_free(&b);
    rag_buf capped;
    rag_buf_init(&capped, 10);
    assert_int_equal(rag_eval_result_json(&res, &capped, true), RAG_E_TOO_LARGE);
    rag_buf_free(&capped);
    rag_eval_result_free(&res);
    rag_eval_run_free(r);
    rag_qrels_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_cases),
        cmocka_unit_test(test_cutoffs),
        cmocka_unit_test(test_run_errors_and_empty),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_print_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
