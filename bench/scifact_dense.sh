#!/usr/bin/env bash
# BM25, dense (f32 and int8 index), hybrid RRF and hybrid + rerank on BEIR SciFact train (809
# queries, 5,183 abstracts) with `ragc eval`, one table.
#
# usage: bench/scifact_dense.sh [--model DIR_OR_ID] [--reranker-model DIR_OR_ID]
#                               [--rerank-candidates N] [--ragc PATH]
#
# Without --model / --reranker-model the models are random-weight copies of all-MiniLM-L6-v2 and
# a MiniLM-L6 cross-encoder (tests/reference/make_model.py, needs /usr/bin/python3 + numpy): the
# timings are real, the dense / hybrid / rerank quality figures MEAN NOTHING. To measure quality,
# pass real weights, e.g. --model sentence-transformers/all-MiniLM-L6-v2 (about 0.65 nDCG@10 on
# SciFact in the MTEB/BEIR tables) and --reranker-model cross-encoder/ms-marco-MiniLM-L6-v2, as Hugging
# Face repo ids (downloaded into the huggingface_hub cache) or local directories.
# The content cache is disabled so every embedding is computed; the corpus is embedded once (in
# the dense run) and reused by the later runs. Reranking costs one cross-encoder pass per
# (query, candidate): --rerank-candidates (default 20) keeps the run within minutes on 2 cores.
# Last, bench_dense.c times the exact scan alone (f32, int8 AVX2, int8 portable) on a random
# space of the same size; it is compiled against the static libraries beside the ragc binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RAGC=$here/../build/ragc
MODEL=""
RERANKER=""
CAND=20
while [ $# -gt 0 ]; do
  case $1 in
    --model) MODEL=$2; shift 2 ;;
    --reranker-model) RERANKER=$2; shift 2 ;;
    --rerank-candidates) CAND=$2; shift 2 ;;
    --ragc) RAGC=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scifact_dense.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
D=${RAGC_SHARED_DIR:-$here/../../shared}/data/scifact
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

random_st=no
random_ce=no
BUILD=$(cd "$(dirname "$RAGC")" && pwd)
gcc -O2 -std=c11 -D_GNU_SOURCE -I"$here/../include" "$here/bench_dense.c" "$BUILD/libragc_index.a" \
  "$BUILD/libragc_store.a" "$BUILD/libragc_core.a" $(pkg-config --libs sqlite3 libxxhash) -lm -o "$tmp/bench_dense"
if [ -z "$MODEL" ] || [ -z "$RERANKER" ]; then
  args=(--out "$tmp/st")
  [ -z "$RERANKER" ] && args+=(--cross "$tmp/ce")
  /usr/bin/python3 "$here/../tests/reference/make_model.py" "${args[@]}" >/dev/null
  [ -z "$MODEL" ] && { MODEL=$tmp/st; random_st=yes; }
  [ -z "$RERANKER" ] && { RERANKER=$tmp/ce; random_ce=yes; }
fi
printf 'cache:\n  enabled: false\n' > "$tmp/bench.yaml"
common=(eval --json --config "$tmp/bench.yaml" --data-dir "$tmp/data" --corpus "$D/corpus.jsonl"
        --queries "$D/queries.jsonl" --qrels "$D/qrels/train.tsv")

run() { # NAME ARGS...: one eval, its JSON in $tmp/NAME.json and its wall time in $tmp/NAME.wall
  local name=$1
  shift
  echo "== $name: ragc eval $*" >&2
  local t0 t1
  t0=$(date +%s.%N)
  "$RAGC" "${common[@]}" "$@" > "$tmp/$name.json"
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.1f\n", $2 - $1}' > "$tmp/$name.wall"
}
run bm25 --retriever bm25
run dense-f32 --retriever dense --model "$MODEL"
run dense-int8 --retriever dense --model "$MODEL" --dense-precision int8
run hybrid-f32 --retriever hybrid --model "$MODEL"
run hybrid-int8 --retriever hybrid --model "$MODEL" --dense-precision int8
run rerank --retriever hybrid-rerank --model "$MODEL" --reranker-model "$RERANKER" --rerank-candidates "$CAND"

n_chunks=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chunks_embedded"] or json.load(open(sys.argv[1]))["chunks_reused"])' "$tmp/dense-f32.json")
dim=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dim"])' "$tmp/dense-f32.json")
"$tmp/bench_dense" "$n_chunks" "$dim" > "$tmp/scan.txt"

python3 - "$tmp" "$random_st" "$random_ce" "$CAND" <<'PY'
import json, sys
tmp, random_st, random_ce, cand = sys.argv[1], sys.argv[2] == "yes", sys.argv[3] == "yes", sys.argv[4]
rows = [("bm25", "BM25"), ("dense-f32", "dense, f32 index"), ("dense-int8", "dense, int8 index"),
        ("hybrid-f32", "hybrid RRF (k=60), f32"), ("hybrid-int8", "hybrid RRF (k=60), int8"),
        ("rerank", f"hybrid RRF + rerank top {cand}, f32")]
r = {k: json.load(open(f"{tmp}/{k}.json")) for k, _ in rows}
wall = {k: float(open(f"{tmp}/{k}.wall").read()) for k, _ in rows}
d = r["dense-f32"]
print(f"embedder: {d['space']} ({d['dim']}-d){' RANDOM WEIGHTS' if random_st else ''}")
print(f"reranker: {r['rerank']['reranker']}{' RANDOM WEIGHTS' if random_ce else ''}")
print(f"corpus embedding: {d['chunks_embedded']} chunks in {d['embed_ms']/1000:.1f} s "
      f"({d['chunks_embedded']/(d['embed_ms']/1000):.1f} chunks/s); BM25 ingest {r['bm25']['ingest_ms']/1000:.1f} s")
print()
print("| retriever | nDCG@10 | recall@100 | MRR@10 | query p50 (ms) | query p99 (ms) | of which query embedding p50 (ms) | of which rerank p50 (ms) | dense index (MiB) | run wall (s) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for k, label in rows:
    x = r[k]
    emb = f"{x['query_embed_ms_p50']:.2f}" if "query_embed_ms_p50" in x else ""
    rr = f"{x['rerank_ms_p50']:.1f}" if "rerank_ms_p50" in x else ""
    mib = f"{x['dense_index_bytes']/2**20:.2f} ({x['dense_kernel']})" if "dense_index_bytes" in x else ""
    print(f"| {label} | {x['ndcg@10']:.4f} | {x['recall@100']:.4f} | {x['mrr@10']:.4f} | {x['query_ms_p50']:.2f} | "
          f"{x['query_ms_p99']:.2f} | {emb} | {rr} | {mib} | {wall[k]:.1f} |")
print()
print(f"exact scan alone, {d['chunks_embedded'] or d['chunks_reused']} x {d['dim']} random vectors, top 200 (bench_dense.c):")
print("| kernel | ms per query | index MiB |")
print("|---|---|---|")
for line in open(f"{tmp}/scan.txt"):
    k, ms, mib = line.rstrip("\n").split("\t")
    print(f"| {k} | {ms.split()[0]} | {mib.split()[0]} |")
if random_st or random_ce:
    print()
    print("Random weights: the dense, hybrid and rerank quality figures above mean nothing (timings are real).")
PY
