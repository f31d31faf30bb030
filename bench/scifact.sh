#!/usr/bin/env bash
# BM25 on BEIR SciFact (train queries): ragc vs the Python reference (bench/ref_bm25.py, same
# recipe) measured in the same run, and vs the Lucene figure in DESIGN.md.
# usage: bench/scifact.sh [path/to/ragc]   (needs /usr/bin/python3 with python3-stemmer)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RAGC=${1:-$here/../build/ragc}
D=${RAGC_SHARED_DIR:-$here/../../shared}/data/scifact
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Cold: a fresh store, so the time includes extract + normalize + chunk + index of 5,183 abstracts.
t0=$(date +%s.%N)
"$RAGC" eval -q --json --data-dir "$tmp" --corpus "$D/corpus.jsonl" --queries "$D/queries.jsonl" \
  --qrels "$D/qrels/train.tsv" > "$tmp/ragc.json"
t1=$(date +%s.%N)
# Warm: the store exists, every document is unchanged (content hash), only the queries run.
"$RAGC" eval -q --json --data-dir "$tmp" --corpus "$D/corpus.jsonl" --queries "$D/queries.jsonl" \
  --qrels "$D/qrels/train.tsv" > "$tmp/ragc-warm.json"
t2=$(date +%s.%N)
/usr/bin/python3 "$here/ref_bm25.py" "$D/corpus.jsonl" "$D/queries.jsonl" "$D/qrels/train.tsv" > "$tmp/ref.json"

python3 - "$tmp/ragc.json" "$tmp/ragc-warm.json" "$tmp/ref.json" "$t0" "$t1" "$t2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); w = json.load(open(sys.argv[2])); p = json.load(open(sys.argv[3]))
t0, t1, t2 = map(float, sys.argv[4:7])
lucene = 0.696  # DESIGN.md: Lucene-style BM25 on SciFact train, 809 queries
print("| measure | ragc | Python reference (same run) | ratio |")
print("|---|---|---|---|")
print(f"| nDCG@10 (809 train queries) | {r['ndcg@10']:.4f} | {p['ndcg@10']:.4f} | {r['ndcg@10']-p['ndcg@10']:+.4f} (vs Lucene 0.696: {r['ndcg@10']-lucene:+.4f}) |")
print(f"| recall@100 | {r['recall@100']:.4f} | {p['recall@100']:.4f} | {r['recall@100']-p['recall@100']:+.4f} |")
print(f"| MRR@10 | {r['mrr@10']:.4f} | {p['mrr@10']:.4f} | {r['mrr@10']-p['mrr@10']:+.4f} |")
print(f"| ingest + index, 5,183 abstracts (s) | {r['ingest_ms']/1000:.2f} | {p['index_s']:.2f} (in memory, no store) | {p['index_s']/(r['ingest_ms']/1000):.2f}x |")
print(f"| whole cold eval run, wall (s) | {t1-t0:.2f} | | |")
print(f"| warm re-run (all unchanged), wall (s) | {t2-t1:.2f} | | |")
print(f"| query p50 (ms) | {r['query_ms_p50']:.2f} | {p['query_ms_p50']:.2f} | {p['query_ms_p50']/r['query_ms_p50']:.2f}x faster |")
print(f"| query p99 (ms) | {r['query_ms_p99']:.2f} | {p['query_ms_p99']:.2f} | {p['query_ms_p99']/r['query_ms_p99']:.2f}x faster |")
PY
