#!/usr/bin/env bash
# The `local` embedder and reranker in the chains: a random-weight model of all-MiniLM-L6-v2's
# shapes (tests/reference/make_model.py) serves dense retrieval and reranking in C; a missing
# local model makes the chain move on, and the question is still answered.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import numpy' 2>/dev/null || { not_ok "python3-numpy is missing (scripts/install-deps.sh installs it)"; finish; exit 1; }
"$PY" "$RAGC_SOURCE_DIR/tests/reference/make_model.py" --out "$WORK/st" --cross "$WORK/ce" >/dev/null \
  || { not_ok "make_model.py failed"; finish; exit 1; }

run_ragc model info "$WORK/st"
expect_rc "model info (encoder)" 0
expect_in "model info: dimension" "$OUT" "dimension    384"
expect_in "model info: pooling" "$OUT" "pooling      mean"
expect_in "model info: int8 kernel named" "$OUT" "int8 kernel  "
RAGC_Q8_KERNEL=scalar run_ragc model info "$WORK/st"
expect_in "model info: RAGC_Q8_KERNEL=scalar is the kernel used" "$OUT" "int8 kernel  scalar"
run_ragc model info "$WORK/ce"
expect_in "model info (cross-encoder)" "$OUT" "cross-encoder (local reranker), 1 label"
HF_HUB_OFFLINE=1 HF_HOME="$WORK/hf" run_ragc model info org/not-cached
expect_rc "model info: missing model offline" 1
expect_in "model info: says offline" "$ERR" "HF_HUB_OFFLINE"

cat > "$WORK/local.yaml" <<YAML
embedder:
  chain:
    - type: local
      model: $WORK/st
    - type: none
reranker:
  chain:
    - type: local
      model: $WORK/ce
retriever:
  neural_reranking:
    enabled: true
    max_candidates: 10
YAML
run_ragc ingest --config "$WORK/local.yaml" --json "$RAGC_SHARED_DIR/data/pdf-samples/004-pdflatex-4-pages"
expect_rc "ingest with the local embedder" 0
json_check "document embedded locally" "$OUT" "d['embedded'] == 1"
run_ragc ask --config "$WORK/local.yaml" --json "What does a blind text give you information about?"
expect_rc "ask with local models" 0
json_check "embedder, fusion and reranker served locally" "$OUT" \
  "d['report']['stages']['embedder']['backend'].startswith('local:') and d['report']['stages']['retriever']['backend'] == 'bm25+dense (rrf)' and d['report']['stages']['reranker']['backend'].startswith('local') and d['found'] and d['sources']"

json_check "one model try per local call (no duplicate)" "$OUT" \
  "len(d['report']['stages']['embedder']['chain']['members'][0]['models']) == 1 and d['report']['stages']['embedder']['chain']['served_model'] == '$WORK/st'"

# precision int8 and threads 1: the report names int8, and f32 cache entries are not reused.
sed "s#model: $WORK/st#model: $WORK/st\n      precision: int8\n      threads: 1#" "$WORK/local.yaml" > "$WORK/int8.yaml"
run_ragc ask --config "$WORK/int8.yaml" --json "What does a blind text give you information about?"
expect_rc "ask with an int8 local embedder" 0
json_check "int8: named in the report, query embedded anew (f32 entry not reused), answered" "$OUT" \
  "d['report']['stages']['embedder']['chain']['served_model'] == '$WORK/st [int8]' and d['report']['stages']['embedder']['cache_misses'] == 1 and d['found']"
run_ragc ask --config "$WORK/int8.yaml" --json "What does a blind text give you information about?"
json_check "int8 again: served from the cache, still named int8" "$OUT" \
  "d['report']['stages']['embedder']['cache_hits'] == 1 and d['report']['stages']['embedder']['chain']['served_model'] == '$WORK/st [int8]'"
run_ragc ask --config "$WORK/local.yaml" --json "What does a blind text give you information about?"
json_check "f32 again: served from its own cache entry" "$OUT" \
  "d['report']['stages']['embedder']['cache_hits'] == 1 and d['report']['stages']['embedder']['cache_misses'] == 0"

sed "s#model: $WORK/st#model: $WORK/missing#" "$WORK/local.yaml" > "$WORK/missing.yaml"
run_ragc ask --config "$WORK/missing.yaml" --json "What does a blind text give you information about?"
expect_rc "missing local model: still answered" 0
json_check "missing local model: BM25 only, the reason given" "$OUT" \
  "d['report']['stages']['embedder']['backend'] == 'none' and 'BM25 only' in d['report']['stages']['embedder']['note'] and d['found']"
finish
