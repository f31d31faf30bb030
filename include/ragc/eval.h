/* ragc retrieval evaluation: BEIR queries and qrels, runs, and nDCG@10 / Recall@100 / MRR@10
 * computed exactly as trec_eval 9.0.x (and pytrec_eval, which embeds it) computes
 * ndcg_cut.10, recall.100 and recip_rank.
 *
 * Ranking of one query's results (trec_eval form_res_rels.c): score descending; equal scores are
 * ordered by doc id DEScending (strcmp), so for a tie "b" ranks before "a". A doc id added more
 * than once to a query counts once, with its first score (trec_eval refuses duplicates;
 * pytrec_eval's dict keeps one).
 * Grades: the qrels relevance; a retrieved doc absent from the qrels has no gain. Grades <= 0
 * never contribute gain, and a doc is "relevant" when its grade is >= 1 (trec_eval's default
 * relevance level).
 *   nDCG@10    = DCG@10 / IDCG@10 with DCG@10 = sum over ranks r = 1..10 of grade_r / log2(r + 1)
 *                (grades > 0 only); IDCG@10 = the same sum over the query's qrels grades > 0
 *                sorted descending, cut at 10.
 *   Recall@100 = relevant docs in the top 100 / relevant docs in the qrels.
 *   MRR@10     = 1 / rank of the first relevant doc within the top 10, else 0.
 * Means are over the JUDGED queries: queries with at least one qrels grade > 0. A judged query
 * with no results in the run scores 0 on every metric (like trec_eval -c; note that BEIR's
 * evaluate() instead drops queries missing from the run). Run queries absent from the qrels, or
 * judged only with grades <= 0, are excluded.
 */
#ifndef RAGC_EVAL_H
#define RAGC_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RAG_EVAL_MAX_LINE (1024 * 1024) /* bytes of one queries.jsonl / qrels line, excluding the newline */
#define RAG_EVAL_MAX_ID 1024            /* bytes of a query id or doc id */

/* ---- qrels: relevance judgments (query id, doc id) -> integer grade ---- */
typedef struct rag_qrels rag_qrels;

/* Empty qrels (caller frees with rag_qrels_free). RAG_E_NOMEM only. */
rag_status rag_qrels_create(rag_qrels **out);

/* Adds one judgment (ids copied). RAG_E_BAD_INPUT for an empty or over-long id or a pair judged
 * twice. */
rag_status rag_qrels_add(rag_qrels *q, const char *query_id, const char *doc_id, int relevance, rag_err *err);

/* Reads a qrels file (caller frees *out with rag_qrels_free). Accepted rows:
 *   BEIR TSV   "query-id<TAB>corpus-id<TAB>score"
 *   TREC       "query-id iteration doc-id relevance" (whitespace separated)
 * The first non-empty line is skipped as a header when its last field is not a number (BEIR's
 * "query-id\tcorpus-id\tscore"). Empty lines and a trailing '\r' are ignored. A bad row fails
 * with RAG_E_BAD_INPUT "<path>:<line>: <reason>"; a line over RAG_EVAL_MAX_LINE with
 * RAG_E_TOO_LARGE; a missing file with RAG_E_NOT_FOUND. */
rag_status rag_qrels_load(const char *path, rag_qrels **out, rag_err *err);

void rag_qrels_free(rag_qrels *q); /* NULL is a no-op */

size_t rag_qrels_n_rows(const rag_qrels *q);    /* judgments */
size_t rag_qrels_n_queries(const rag_qrels *q); /* distinct query ids */
/* i-th distinct query id in order of first appearance; borrowed, valid until rag_qrels_free. */
const char *rag_qrels_query_id(const rag_qrels *q, size_t i);
/* Looks up a judgment: true and *relevance set if (query_id, doc_id) is judged. */
bool rag_qrels_get(const rag_qrels *q, const char *query_id, const char *doc_id, int *relevance);
/* Number of docs with grade >= 1 for query_id (0 if the query is unknown). */
size_t rag_qrels_n_relevant(const rag_qrels *q, const char *query_id);

/* ---- queries: BEIR queries.jsonl ---- */
typedef struct rag_queries rag_queries;

/* Reads queries.jsonl: one JSON object per line with string "_id" (an integer is accepted and
 * converted) and string "text"; other fields are ignored; empty lines are skipped. A bad line
 * fails with RAG_E_BAD_INPUT "<path>:<line>: <reason>" (invalid JSON, missing field, duplicate
 * _id). Caller frees *out with rag_queries_free. */
rag_status rag_queries_load(const char *path, rag_queries **out, rag_err *err);
void rag_queries_free(rag_queries *q); /* NULL is a no-op */
size_t rag_queries_count(const rag_queries *q);
/* i < count; borrowed, valid until rag_queries_free. */
const char *rag_queries_id(const rag_queries *q, size_t i);
const char *rag_queries_text(const rag_queries *q, size_t i);

/* ---- runs and metrics ---- */
typedef struct rag_eval_run rag_eval_run;

/* Empty run (caller frees with rag_eval_run_free). RAG_E_NOMEM only. */
rag_status rag_eval_run_create(rag_eval_run **out);
void rag_eval_run_free(rag_eval_run *r); /* NULL is a no-op */

/* Adds a retrieved doc with its score for a query (ids copied; any order). RAG_E_BAD_INPUT for a
 * NaN score or an empty / over-long id. */
rag_status rag_eval_run_add(rag_eval_run *r, const char *query_id, const char *doc_id, double score, rag_err *err);

typedef struct rag_eval_query_result {
    char *query_id;     /* owned by the result */
    double ndcg10, recall100, mrr10;
    size_t n_retrieved; /* distinct docs in the run for this query */
    size_t n_relevant;  /* qrels docs with grade >= 1 */
} rag_eval_query_result;

typedef struct rag_eval_result {
    double ndcg10;    /* mean nDCG@10 over the judged queries, 0..1 */
    double recall100; /* mean Recall@100 */
    double mrr10;     /* mean MRR@10 */
    size_t n_queries; /* judged queries averaged over */
    rag_eval_query_result *per_query; /* n_queries entries in qrels order; owned by the result */
} rag_eval_result;

/* Scores run against qrels (both borrowed for the call). On success *out holds the means and the
 * per-query values; caller frees with rag_eval_result_free. With no judged query the means are 0
 * and n_queries is 0. */
rag_status rag_eval_run_compute(const rag_eval_run *run, const rag_qrels *qrels, rag_eval_result *out,
                                rag_err *err);
/* Frees what the result owns and zeroes it. NULL is a no-op. */
void rag_eval_result_free(rag_eval_result *r);

/* Writes a table of the means (and one row per query when per_query) to f. RAG_E_IO on a
 * write error. */
rag_status rag_eval_result_print(const rag_eval_result *r, FILE *f, bool per_query);

/* Appends the result as one JSON object to out:
 * {"queries":N,"ndcg@10":x,"recall@100":x,"mrr@10":x[,"per_query":[{"query_id":..,"ndcg@10":..,
 *  "recall@100":..,"mrr@10":..,"retrieved":n,"relevant":n},...]]}. */
rag_status rag_eval_result_json(const rag_eval_result *r, rag_buf *out, bool per_query);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_EVAL_H */
