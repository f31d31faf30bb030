/* libFuzzer target: the evaluation loaders (include/ragc/eval.h): rag_qrels_load (BEIR TSV or
 * TREC qrels) and rag_queries_load (BEIR queries.jsonl), on a scratch file; byte 0 picks which
 * (bit 0), the rest is the file.
 * Invariants: failures carry a message naming "<path>:<line>" or the path; loaded ids are
 * non-empty, at most RAG_EVAL_MAX_ID bytes, NUL-free; query ids are unique; qrels counts are
 * consistent (n_queries <= n_rows, each listed query has a retrievable judgment count); a run
 * scored against loaded qrels gives means in [0, 1]. Suggested -max_len: 8192. */
#include "fuzz_common.h"

#include <math.h>

#include "ragc/eval.h"

static void check_qrels(const char *path)
{
    rag_qrels *q = NULL;
    rag_err err;
    rag_status st = rag_qrels_load(path, &q, &err);
    if (st != RAG_OK) {
        FUZZ_CHECK(q == NULL && err.status == st && strstr(err.msg, path));
        return;
    }
    size_t nq = rag_qrels_n_queries(q);
    FUZZ_CHECK(nq <= rag_qrels_n_rows(q));
    rag_eval_run *run = NULL;
    FUZZ_CHECK(rag_eval_run_create(&run) == RAG_OK);
    for (size_t i = 0; i < nq; i++) {
        const char *id = rag_qrels_query_id(q, i);
        FUZZ_CHECK(id && id[0] && strlen(id) <= RAG_EVAL_MAX_ID);
        (void)rag_qrels_n_relevant(q, id);
        /* a small run: the query id as doc id plus a fixed one */
        FUZZ_CHECK(rag_eval_run_add(run, id, id, 1.0, &err) == RAG_OK);
        FUZZ_CHECK(rag_eval_run_add(run, id, "d", 0.5, &err) == RAG_OK);
    }
    rag_eval_result res;
    FUZZ_CHECK(rag_eval_run_compute(run, q, &res, &err) == RAG_OK);
    FUZZ_CHECK(res.ndcg10 >= 0 && res.ndcg10 <= 1 + 1e-9 && res.recall100 >= 0 && res.recall100 <= 1 + 1e-9);
    FUZZ_CHECK(res.mrr10 >= 0 && res.mrr10 <= 1 + 1e-9 && res.n_queries <= nq);
    rag_buf js;
    rag_buf_init(&js, 0);
    FUZZ_CHECK(rag_eval_result_json(&res, &js, true) == RAG_OK);
    rag_buf_free(&js);
    rag_eval_result_free(&res);
    rag_eval_run_free(run);
    rag_qrels_free(q);
}

static void check_queries(const char *path)
{
    rag_queries *q = NULL;
    rag_err err;
    rag_status st = rag_queries_load(path, &q, &err);
    if (st != RAG_OK) {
        FUZZ_CHECK(q == NULL && err.status == st && strstr(err.msg, path));
        return;
    }
    size_t n = rag_queries_count(q);
    for (size_t i = 0; i < n; i++) {
        const char *id = rag_queries_id(q, i), *text = rag_queries_text(q, i);
        FUZZ_CHECK(id && id[0] && strlen(id) <= RAG_EVAL_MAX_ID && text);
        for (size_t k = 0; k < i && k < 64; k++)
            FUZZ_CHECK(strcmp(rag_queries_id(q, k), id) != 0);
    }
    rag_queries_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *path = fuzz_write_file(".txt", data + 1, size - 1);
    if (data[0] & 1)
        check_queries(path);
    else
        check_qrels(path);
    return 0;
}
