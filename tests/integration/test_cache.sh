#!/usr/bin/env bash
# The content cache (issue 5): with a remote embedder and reranker (the in-repo fake server), a
# second ingest of the same corpus and a second run of the same 100 questions make zero embedder
# and reranker calls (counted by the fake server); `ragc stats` prints the hit rate; the answer
# report counts cache hits; another model or a disabled cache computes again.
. "$(dirname "$0")/lib.sh"
TOKEN=hf_cache_test_token_5678
python3 -S "$RAGC_SOURCE_DIR/tests/fakehf/fakehf.py" --port 0 --port-file "$WORK/fake.port" --token "$TOKEN" &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do [ -s "$WORK/fake.port" ] && break; sleep 0.05; done
[ -s "$WORK/fake.port" ] || { echo "fake server did not start"; exit 1; }
BASE="http://127.0.0.1:$(cat "$WORK/fake.port")"
export HF_TOKEN=$TOKEN

write_config() { # write_config FILE EMBED_MODEL CACHE_ENABLED
  cat > "$1" <<YAML
embedder:
  chain:
    - type: huggingface_api
      base_url: $BASE
      model: $2
      api_key: \${HF_TOKEN}
      max_retries: 0
    - type: none
reranker:
  chain:
    - type: huggingface_api
      base_url: $BASE
      model: cross-encoder/ms-marco-MiniLM-L6-v2
      api_key: \${HF_TOKEN}
      max_retries: 0
retriever:
  neural_reranking:
    enabled: true
    max_candidates: 10
cache:
  enabled: $3
YAML
}
write_config "$WORK/c.yaml" sentence-transformers/all-MiniLM-L6-v2 true
write_config "$WORK/other-model.yaml" BAAI/bge-small-en-v1.5 true
write_config "$WORK/nocache.yaml" sentence-transformers/all-MiniLM-L6-v2 false

SCIFACT="$RAGC_SHARED_DIR/data/scifact"
head -n 150 "$SCIFACT/corpus.jsonl" > "$WORK/corpus.jsonl"
python3 - "$SCIFACT/queries.jsonl" > "$WORK/questions.txt" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    print(json.loads(line)["text"])
    n += 1
    if n == 100:
        break
EOF
[ "$(wc -l < "$WORK/questions.txt")" -eq 100 ] || { echo "could not read 100 questions"; exit 1; }
# Two of these 100 questions repeat an earlier one: the first round computes each distinct one once.
DISTINCT=$(python3 -c "import sys; print(len({' '.join(l.split()) for l in open(sys.argv[1])}))" "$WORK/questions.txt")

reset() { curl -sf -X POST "$BASE/_fake/reset" >/dev/null; }
calls() { # calls KIND -> requests of that kind since the last reset
  curl -sf "$BASE/_fake/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['requests']['$1'])"
}

# ---- ingest twice ----
reset
run_ragc ingest --config "$WORK/c.yaml" --json "$WORK/corpus.jsonl"
expect_rc "first ingest" 0
json_check "first ingest: every document embedded, every vector computed" "$OUT" \
  "d['added'] == 150 and d['embedded'] == 150 and d['embed_cache_hits'] == 0 and d['embed_cache_misses'] == d['chunks'] > 0"
first_calls=$(calls feature_extraction)
[ "$first_calls" -gt 0 ] && ok "first ingest called the embedder ($first_calls requests)" \
  || not_ok "first ingest made no embedder call"
[ -s "$RAGC_DATA_DIR/cache.db" ] && ok "cache file created in the data dir" || not_ok "no $RAGC_DATA_DIR/cache.db"

# A new store (the cache stays): the same corpus again.
rm -f "$RAGC_DATA_DIR"/ragc.db*
reset
run_ragc ingest --config "$WORK/c.yaml" --json "$WORK/corpus.jsonl"
expect_rc "second ingest into a new store" 0
json_check "second ingest: every vector from the cache" "$OUT" \
  "d['added'] == 150 and d['embedded'] == 150 and d['embed_cache_misses'] == 0 and d['embed_cache_hits'] == d['chunks']"
n=$(calls feature_extraction)
[ "$n" -eq 0 ] && ok "second ingest made zero embedder calls" || not_ok "second ingest made $n embedder calls"

reset
run_ragc ingest --config "$WORK/c.yaml" --force --json "$WORK/corpus.jsonl"
expect_rc "forced re-ingest" 0
n=$(calls feature_extraction)
[ "$n" -eq 0 ] && ok "forced re-ingest made zero embedder calls" || not_ok "forced re-ingest made $n embedder calls"

# ---- 100 questions, twice ----
ask_all() { # ask_all ROUND: asks every question, keeps the last JSON answer in $WORK/last-ROUND.json
  local i=0 failed=0
  while IFS= read -r q; do
    i=$((i + 1))
    if ! "$RAGC_BIN" ask --config "$WORK/c.yaml" --json "$q" > "$WORK/ans-$1-$i.json" 2>"$WORK/ans.err"; then
      failed=$((failed + 1))
    fi
  done < "$WORK/questions.txt"
  [ "$failed" -eq 0 ] && ok "round $1: 100 questions answered" || not_ok "round $1: $failed questions failed: $(cat "$WORK/ans.err")"
}
reset
ask_all 1
e1=$(calls feature_extraction)
r1=$(calls classification)
[ "$e1" -eq "$DISTINCT" ] && [ "$r1" -eq "$DISTINCT" ] \
  && ok "round 1 called the embedder and the reranker once per distinct question ($DISTINCT)" \
  || not_ok "round 1: embedder $e1, reranker $r1 calls (expected $DISTINCT each: one per distinct question)"
json_check "round 1: the report counts cache misses" "$(cat "$WORK/ans-1-1.json")" \
  "d['report']['cache']['misses'] > 0 and d['report']['stages']['embedder']['cache_misses'] == 1"

reset
ask_all 2
e2=$(calls feature_extraction)
r2=$(calls classification)
[ "$e2" -eq 0 ] && ok "round 2: zero embedder calls" || not_ok "round 2: $e2 embedder calls"
[ "$r2" -eq 0 ] && ok "round 2: zero reranker calls" || not_ok "round 2: $r2 reranker calls"
json_check "round 2: every lookup a hit, same backends" "$(cat "$WORK/ans-2-1.json")" \
  "d['report']['cache']['misses'] == 0 and d['report']['cache']['hits'] > 1 and d['report']['stages']['embedder']['chain']['served_by'] == 'huggingface_api' and d['report']['stages']['reranker']['chain']['members'][0]['requests'] == 0"
same=0
for i in $(seq 100); do
  if python3 - "$WORK/ans-1-$i.json" "$WORK/ans-2-$i.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
ids = lambda d: [(s["document"], s.get("chunk_id")) for s in d["sources"]]
sys.exit(0 if a["answer"] == b["answer"] and ids(a) == ids(b) else 1)
EOF
  then same=$((same + 1)); fi
done
[ "$same" -eq 100 ] && ok "round 2 answers and sources equal round 1's" || not_ok "only $same of 100 answers equal"

# ---- a cached question is answered the same while the embedder and reranker are down ----
reset
curl -sf -X POST "$BASE/_fake/faults" -d '{"match":"","faults":["500"],"sticky":true}' >/dev/null
run_ragc ask --config "$WORK/c.yaml" --json "$(sed -n 5p "$WORK/questions.txt")"
expect_rc "ask while the remote models fail" 0
json_check "served from the cache while the remote fails" "$OUT" \
  "d['report']['stages']['embedder']['chain']['served_by'] == 'huggingface_api' and d['report']['stages']['reranker']['backend'] != 'off' and d['report']['cache']['misses'] == 0"
n=$(calls feature_extraction)
[ "$n" -eq 0 ] && ok "no call reached the failing server" || not_ok "$n calls reached the failing server"
reset

# ---- stats ----
run_ragc stats --config "$WORK/c.yaml"
expect_rc "stats" 0
expect_in "stats prints the cache hit rate" "$OUT" "hit rate"
run_ragc stats --config "$WORK/c.yaml" --json
json_check "stats --json: embedding and rerank hit rates" "$OUT" \
  "d['cache']['embedding']['hits'] >= 300 and 0 < d['cache']['embedding']['hit_rate'] < 1 and d['cache']['rerank']['hits'] >= 100 and d['cache']['rerank']['entries'] > 0"

# ---- what must not hit ----
reset
run_ragc ask --config "$WORK/other-model.yaml" --json "$(head -n 1 "$WORK/questions.txt")"
expect_rc "ask with another embedding model" 0
n=$(calls feature_extraction)
[ "$n" -ge 1 ] && ok "another model is another cache key ($n calls)" || not_ok "another model was served from the cache"
reset
run_ragc ask --config "$WORK/nocache.yaml" --json "$(head -n 1 "$WORK/questions.txt")"
expect_rc "ask with the cache disabled" 0
n=$(calls feature_extraction)
[ "$n" -ge 1 ] && ok "cache.enabled false computes again ($n calls)" || not_ok "the disabled cache was used"

# ---- a broken cache file never fails a request ----
rm -f "$RAGC_DATA_DIR"/cache.db-wal "$RAGC_DATA_DIR"/cache.db-shm
head -c 4096 /dev/urandom > "$RAGC_DATA_DIR/cache.db"
run_ragc ask --config "$WORK/c.yaml" --json "$(head -n 1 "$WORK/questions.txt")"
expect_rc "ask with a corrupt cache file" 0
[ -f "$RAGC_DATA_DIR/cache.db.corrupt" ] && ok "the corrupt cache was moved aside" || not_ok "no cache.db.corrupt"
finish
