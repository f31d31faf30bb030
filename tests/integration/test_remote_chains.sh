#!/usr/bin/env bash
# `ragc ask` through the hosted-model path (HF router generator + HF cross-encoder reranker) against
# the in-repo fake server, with every fault injected: the question is always answered, the report
# names the backend that served each stage and the status of each member tried, time is bounded,
# and the token never appears in any output.
. "$(dirname "$0")/lib.sh"
TOKEN=hf_test_secret_token_1234
python3 -S "$RAGC_SOURCE_DIR/tests/fakehf/fakehf.py" --port 0 --port-file "$WORK/fake.port" \
  --token "$TOKEN" --log "$WORK/fake.log" &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do [ -s "$WORK/fake.port" ] && break; sleep 0.05; done
[ -s "$WORK/fake.port" ] || { echo "fake server did not start"; exit 1; }
BASE="http://127.0.0.1:$(cat "$WORK/fake.port")"
export HF_TOKEN=$TOKEN

cat > "$WORK/remote.yaml" <<YAML
embedder:
  chain:
    - type: huggingface_api
      base_url: $BASE
      model: sentence-transformers/all-MiniLM-L6-v2
      api_key: \${HF_TOKEN}
      max_retries: 1
      timeout_ms: 1500
    - type: none
answer_generator:
  chain:
    - type: huggingface
      base_url: $BASE
      model: meta-llama/Llama-3.1-8B-Instruct
      fallback_models: [Qwen/Qwen2.5-7B-Instruct]
      api_key: \${HF_TOKEN}
      max_retries: 1
      timeout_ms: 1500
      price_input_per_mtok: 0.2
      price_output_per_mtok: 0.6
    - type: extractive
reranker:
  chain:
    - type: huggingface_api
      base_url: $BASE
      model: cross-encoder/ms-marco-MiniLM-L6-v2
      api_key: \${HF_TOKEN}
      max_retries: 1
      timeout_ms: 1500
retriever:
  neural_reranking:
    enabled: true
    max_candidates: 20
cache:
  enabled: false   # every ask must reach the fake server's faults (test_cache.sh tests the cache)
YAML
Q="Was ist ein topologischer Raum?"
ALL_OUT="$WORK/all-output.txt"
: > "$ALL_OUT"

run_ragc ingest --config "$WORK/remote.yaml" --json "$RAGC_SHARED_DIR/data/pdf-samples/009-pdflatex-geotopo"
expect_rc "ingest with the remote embedder" 0
json_check "every document embedded" "$OUT" "d['embedded'] == d['added'] == 1"

fault() { # fault MATCH STICKY FAULT...
  local match=$1 sticky=$2; shift 2
  local list; list=$(printf '"%s",' "$@"); list="[${list%,}]"
  curl -sf -X POST "$BASE/_fake/reset" >/dev/null
  curl -sf -X POST "$BASE/_fake/faults" -d "{\"match\":\"$match\",\"faults\":$list,\"sticky\":$sticky}" >/dev/null
}

# ask_case NAME EXPECTED_GENERATOR_BACKEND_PREFIX EXPECTED_FIRST_STATUS(or "-")
ask_case() {
  local name=$1 want_backend=$2 want_status=$3
  local t0 t1
  t0=$(date +%s%N)
  run_ragc ask --config "$WORK/remote.yaml" --json "$Q"
  t1=$(date +%s%N)
  printf '%s\n%s\n' "$OUT" "$ERR" >> "$ALL_OUT"
  expect_rc "$name: answered" 0
  json_check "$name: a cited answer with sources" "$OUT" \
    "d['found'] and '[' in d['answer'] and len(d['sources']) >= 1"
  json_check "$name: generator served by $want_backend" "$OUT" \
    "d['report']['stages']['generator']['backend'].startswith('$want_backend')"
  if [ "$want_status" != "-" ]; then
    json_check "$name: first model's status is '$want_status'" "$OUT" \
      "d['report']['stages']['generator']['chain']['members'][0]['models'][0]['status'] == '$want_status'"
  fi
  local ms=$(( (t1 - t0) / 1000000 ))
  if [ "$ms" -lt 12000 ]; then ok "$name: bounded time (${ms} ms)"; else not_ok "$name: took ${ms} ms"; fi
}

curl -sf -X POST "$BASE/_fake/reset" >/dev/null
ask_case "no fault" "huggingface (meta-llama/Llama-3.1-8B-Instruct)" "ok"
json_check "no fault: citations valid, tokens and cost counted" "$OUT" \
  "d['report']['citations_valid'] and d['report']['tokens_in'] > 0 and d['report']['cost_usd'] > 0"
json_check "no fault: reranker served by the HF cross-encoder" "$OUT" \
  "d['report']['stages']['reranker']['backend'].startswith('huggingface_api')"
json_check "no fault: hybrid retrieval with the HF embedder" "$OUT" \
  "d['report']['stages']['retriever']['backend'] == 'bm25+dense (rrf)' and d['report']['stages']['embedder']['backend'].startswith('huggingface_api:')"

# Embedder faults at question time: BM25 alone answers, the embedder stage says why.
for f in 500 402 malformed_json slow:3 oversize; do
  fault "feature-extraction" true "$f"
  run_ragc ask --config "$WORK/remote.yaml" --json "$Q"
  printf '%s\n%s\n' "$OUT" "$ERR" >> "$ALL_OUT"
  expect_rc "embedder $f: answered" 0
  json_check "embedder $f: BM25 only, with the reason" "$OUT" \
    "d['report']['stages']['embedder']['backend'] == 'none' and 'BM25 only' in d['report']['stages']['embedder']['note'] and d['report']['stages']['retriever']['backend'] == 'bm25' and d['found']"
done
curl -sf -X POST "$BASE/_fake/reset" >/dev/null

# Transient faults: a retry on the same model serves.
for f in 429_retry_after 503_loading 500 502 504 truncated_body close; do
  fault "chat/completions" false "$f"
  ask_case "$f once" "huggingface (meta-llama/Llama-3.1-8B-Instruct)" "ok"
done
# Model-level failures: the fallback model serves. (429 with RateLimit t=1 asks for a 2 s wait,
# past the 1.5 s deadline: no sleep, the next model is tried at once.)
for f in 404 400 malformed_json oversize 429_ratelimit; do
  fault "chat/completions" false "$f"
  ask_case "$f on the first model" "huggingface (Qwen/Qwen2.5-7B-Instruct)" "-"
done
# Failures for good on every call: the chain moves on to the extractive answerer.
for spec in "429_retry_after:rate limited" "503_loading:upstream error" "500:upstream error" \
            "402:budget exceeded" "401:authentication error" "403:authentication error" \
            "404:not found" "422:bad input" "slow:3:timeout" "malformed_json:upstream error" \
            "truncated_body:upstream error" "oversize:too large" "close:-"; do
  f=${spec%:*}; want=${spec##*:}
  fault "chat/completions" true "$f"
  ask_case "$f always" "extractive" "$want"
done

# Streaming: a stream cut mid-answer is discarded and the fallback model answers.
for f in sse_cut sse_error sse_error_flat; do
  fault "chat/completions" false "$f"
  run_ragc ask --config "$WORK/remote.yaml" --stream "$Q"
  printf '%s\n%s\n' "$OUT" "$ERR" >> "$ALL_OUT"
  expect_rc "stream $f: answered" 0
  expect_in "stream $f: the void text is announced" "$OUT" "starts over"
  expect_in "stream $f: cited" "$OUT" "[1]"
  expect_in "stream $f: sources" "$OUT" "Sources:"
done

# Reranker faults: BM25 order is kept, the question is still answered by the generator.
for f in 500 401 malformed_json slow:3; do
  fault "cross-encoder" true "$f"
  run_ragc ask --config "$WORK/remote.yaml" --json "$Q"
  printf '%s\n%s\n' "$OUT" "$ERR" >> "$ALL_OUT"
  expect_rc "reranker $f: answered" 0
  json_check "reranker $f: off with the reason, generator still served" "$OUT" \
    "d['report']['stages']['reranker']['backend'] == 'off' and 'BM25 order kept' in d['report']['stages']['reranker']['note'] and d['report']['stages']['generator']['backend'].startswith('huggingface')"
done

if grep -q "$TOKEN" "$ALL_OUT" "$WORK/fake.log"; then not_ok "the token appears in an output"; else ok "the token never appears in outputs, errors or reports"; fi
finish
