#!/usr/bin/env bash
# BM25 on BEIR SciFact (train queries): nDCG@10 within 0.01 of Lucene BM25 (~0.696, DESIGN.md).
. "$(dirname "$0")/lib.sh"
D="$RAGC_SHARED_DIR/data/scifact"
run_ragc eval --json --corpus "$D/corpus.jsonl" --queries "$D/queries.jsonl" --qrels "$D/qrels/train.tsv"
expect_rc "eval runs" 0
json_check "809 judged train queries evaluated" "$OUT" "d['queries'] == 809"
json_check "nDCG@10 within 0.01 of Lucene's 0.696" "$OUT" "d['ndcg@10'] >= 0.686"
json_check "recall@100 sane" "$OUT" "0.85 <= d['recall@100'] <= 1.0"
json_check "MRR@10 sane" "$OUT" "0.5 <= d['mrr@10'] <= 1.0"
echo "$OUT"
finish
