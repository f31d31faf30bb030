#!/usr/bin/env bash
# Embedding spaces name the model, not the backend, and `ragc ingest` backfills vectors:
# - documents ingested with embedder none get vectors when `ragc ingest` runs again with an
#   embedder, although every file is unchanged; a run with nothing missing makes no embedder call
#   (the fake server's counters, content cache off);
# - an embedder that fails during ingest leaves a warning with the count of chunks still without a
#   vector, not an ingest failure (and is not called again by the backfill of that run); the next
#   run fills them; SIGINT stops the backfill between batches, keeping the batches done;
# - the huggingface_api member and the `local` member of the same model (a repo id resolved
#   through a huggingface_hub cache, or the snapshot directory itself, f32 or int8) share one space:
#   the local member finds nothing to backfill after the HF member embedded everything, and a
#   question embedded by `local` (HF member failing, as in the hf_spaces profile) searches the
#   vectors HF made. What this cannot show: that the two backends' vectors agree numerically (the
#   fake's vectors are hashes, the local model has random weights); test_local_torch.sh and the
#   encoder tests check local against PyTorch. A plain model directory is a space of its own.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import numpy' 2>/dev/null || { not_ok "python3-numpy is missing (scripts/install-deps.sh installs it)"; finish; exit 1; }
TOKEN=hf_backfill_test_token_42
python3 -S "$RAGC_SOURCE_DIR/tests/fakehf/fakehf.py" --port 0 --port-file "$WORK/fake.port" --token "$TOKEN" &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do [ -s "$WORK/fake.port" ] && break; sleep 0.05; done
[ -s "$WORK/fake.port" ] || { echo "fake server did not start"; exit 1; }
BASE="http://127.0.0.1:$(cat "$WORK/fake.port")"
export HF_TOKEN=$TOKEN
reset() { curl -sf -X POST "$BASE/_fake/reset" >/dev/null; }
calls() { curl -sf "$BASE/_fake/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['requests']['feature_extraction'])"; }
fault() { curl -sf -X POST "$BASE/_fake/faults" -d "{\"match\":\"feature-extraction\",\"faults\":[\"$1\"],\"sticky\":true}" >/dev/null; }

# A random-weight model of all-MiniLM-L6-v2's shapes, as a plain directory and as the snapshot of
# sentence-transformers/all-MiniLM-L6-v2 in a huggingface_hub cache (offline: nothing downloaded).
"$PY" "$RAGC_SOURCE_DIR/tests/reference/make_model.py" --out "$WORK/st" >/dev/null || { not_ok "make_model.py failed"; finish; exit 1; }
SHA=0123456789abcdef0123456789abcdef01234567
REPO_DIR="$WORK/hub/models--sentence-transformers--all-MiniLM-L6-v2"
SNAP="$REPO_DIR/snapshots/$SHA"
mkdir -p "$SNAP" "$REPO_DIR/refs"
cp -r "$WORK/st/." "$SNAP/"
printf '%s' "$SHA" > "$REPO_DIR/refs/main"
export HF_HUB_CACHE="$WORK/hub" HF_HUB_OFFLINE=1
MODEL=sentence-transformers/all-MiniLM-L6-v2

hf_member() { # hf_member API_KEY
  cat <<YAML
    - type: huggingface_api
      base_url: $BASE
      model: $MODEL
      api_key: $1
      max_retries: 0
      timeout_ms: 20000
YAML
}
local_member() { # local_member MODEL [PRECISION]
  printf '    - type: local\n      model: %s\n      threads: 1\n' "$1"
  [ -z "${2:-}" ] || printf '      precision: %s\n' "$2"
}
write_config() { # write_config FILE MEMBER_YAML...
  local f=$1; shift
  { echo "embedder:"; echo "  chain:"; printf '%s\n' "$@"; echo "    - type: none"
    echo "cache:"; echo "  enabled: false   # every embedding reaches the fake server's counters"; } > "$f"
}
write_config "$WORK/none.yaml"
write_config "$WORK/hf.yaml" "$(hf_member "\${HF_TOKEN}")"
write_config "$WORK/local.yaml" "$(local_member "$MODEL")"
write_config "$WORK/int8.yaml" "$(local_member "$MODEL" int8)"
write_config "$WORK/snap.yaml" "$(local_member "$SNAP")"
write_config "$WORK/plain.yaml" "$(local_member "$WORK/st")"
# The hf_spaces profile's chain with the HF member failing (a wrong token: 401).
write_config "$WORK/spaces.yaml" "$(hf_member wrong-token)" "$(local_member "$MODEL")"

mkdir -p "$WORK/docs"
cat > "$WORK/docs/pumps.md" <<'EOF'
# Pumps
The pump must be primed before use. Open the intake valve, fill the housing with water and close
the bleed screw once water comes out without air.
EOF
cat > "$WORK/docs/filters.md" <<'EOF'
# Filters
Filters are cleaned monthly and replaced every year. A clogged filter lowers the flow rate.
EOF
cat > "$WORK/docs/valves.txt" <<'EOF'
Valves: the pressure relief valve opens at six bar. Check it every spring.
EOF
Q="How do I prime the pump?"
dense_ok="d['report']['stages']['retriever']['backend'] == 'bm25+dense (rrf)' and not d['report']['stages']['embedder'].get('note')"

# ---- embedder none, then an embedder: the unchanged documents get vectors ----
run_ragc ingest --config "$WORK/none.yaml" --json "$WORK/docs"
expect_rc "ingest with embedder none" 0
json_check "none: nothing embedded, nothing to backfill, no space" "$OUT" \
  "d['added'] == 3 and d['embedded'] == 0 and d['backfilled'] == 0 and d['unembedded'] == 0 and d['space'] == ''"
N=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])')
run_ragc ask --config "$WORK/hf.yaml" --json "$Q"
json_check "before the backfill: BM25 only, the embedder stage says why" "$OUT" \
  "d['report']['stages']['retriever']['backend'] == 'bm25' and 'no document vectors' in d['report']['stages']['embedder']['note']"

reset
run_ragc ingest --config "$WORK/hf.yaml" --json "$WORK/docs"
expect_rc "re-ingest with the HF embedder" 0
json_check "every unchanged document's chunks backfilled into the model's space" "$OUT" \
  "d['unchanged'] == 3 and d['embedded'] == 0 and d['backfilled'] == $N and d['unembedded'] == 0 and d['space'] == '$MODEL'"
n=$(calls)
[ "$n" -ge 1 ] && ok "the backfill called the embedder ($n requests)" || not_ok "the backfill made no embedder call"
run_ragc ingest --config "$WORK/hf.yaml" "$WORK/docs"
expect_in "text summary: nothing more to add" "$OUT" "3 unchanged"
run_ragc ask --config "$WORK/hf.yaml" --json "$Q"
expect_rc "ask after the backfill" 0
json_check "dense retrieval works; the embedder stage keeps its '<type>:<model>' label" "$OUT" \
  "$dense_ok and d['report']['stages']['embedder']['backend'] == 'huggingface_api:$MODEL'"

reset
run_ragc ingest --config "$WORK/hf.yaml" --json "$WORK/docs"
json_check "second re-ingest: nothing missing" "$OUT" "d['backfilled'] == 0 and d['unembedded'] == 0"
n=$(calls)
[ "$n" -eq 0 ] && ok "second re-ingest made zero embedder calls (no probe, cache off)" \
  || not_ok "second re-ingest made $n embedder calls"

# ---- one space per model, whichever backend serves it ----
run_ragc ingest --config "$WORK/local.yaml" --json "$WORK/docs"
expect_rc "ingest with the local member (repo id through the hub cache)" 0
json_check "local, same model: same space, nothing to backfill" "$OUT" \
  "d['space'] == '$MODEL' and d['backfilled'] == 0 and d['unembedded'] == 0"
run_ragc ingest --config "$WORK/snap.yaml" --json "$WORK/docs"
json_check "local, the snapshot directory itself: same space" "$OUT" "d['space'] == '$MODEL' and d['backfilled'] == 0"
run_ragc ask --config "$WORK/int8.yaml" --json "$Q"
expect_rc "ask with the local member in int8" 0
json_check "int8: searches the same space; the report still names int8" "$OUT" \
  "$dense_ok and d['report']['stages']['embedder']['backend'] == 'local:$MODEL [int8]'"
reset
run_ragc ask --config "$WORK/spaces.yaml" --json "$Q"
expect_rc "ask with the HF member failing (hf_spaces chain)" 0
json_check "local embedded the question and dense search ran over the HF-made vectors" "$OUT" \
  "$dense_ok and d['report']['stages']['embedder']['chain']['served_by'] == 'local' and d['report']['stages']['embedder']['chain']['members'][0]['status'] != 'ok'"

REAL_ST=$(realpath "$WORK/st")
run_ragc ingest --config "$WORK/plain.yaml" --json "$WORK/docs"
json_check "a plain model directory is a space of its own (its real path)" "$OUT" \
  "d['space'] == '$REAL_ST' and d['backfilled'] == $N"
run_ragc ingest --config "$WORK/plain.yaml" --json "$WORK/docs"
json_check "plain directory, again: nothing missing" "$OUT" "d['backfilled'] == 0"

# ---- the embedder down during ingest: a warning, filled by the next run ----
cat > "$WORK/docs/seals.md" <<'EOF'
# Seals
Replace the shaft seal when water drips from the pump housing.
EOF
reset
fault 500
run_ragc ingest --config "$WORK/hf.yaml" --json "$WORK/docs"
expect_rc "embedder down: the ingest still succeeds" 0
json_check "embedder down: the document is added for BM25, its chunks counted as without a vector" "$OUT" \
  "d['added'] == 1 and d['embedded'] == 0 and d['backfilled'] == 0 and d['unembedded'] >= 1"
M=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["unembedded"])')
expect_in "embedder down: the warning names how many chunks remain" "$ERR" "warning: $M chunks still have no vector in embedding space $MODEL"
expect_in "embedder down: the warning gives the member's failure" "$ERR" "huggingface_api"
n=$(calls)
[ "$n" -eq 1 ] && ok "embedder down: one call (the document's), not repeated by the backfill" \
  || not_ok "embedder down: $n embedder calls, expected 1"
reset
fault 500
run_ragc ingest --config "$WORK/hf.yaml" --json "$WORK/docs"
expect_rc "still down, every file unchanged: the ingest still succeeds" 0
json_check "still down: the backfill tried and left the same chunks without a vector" "$OUT" \
  "d['unchanged'] == 4 and d['backfilled'] == 0 and d['unembedded'] == $M"
expect_in "still down: the warning says the chain served no embedding" "$ERR" "the embedder chain served no embedding"
n=$(calls)
[ "$n" -eq 1 ] && ok "still down: the backfill stopped at its first failed batch (1 call)" \
  || not_ok "still down: $n embedder calls, expected 1"
reset
run_ragc ingest --config "$WORK/hf.yaml" --json "$WORK/docs"
json_check "embedder back: the next run fills them" "$OUT" \
  "d['unchanged'] == 4 and d['backfilled'] == $M and d['unembedded'] == 0"

# ---- SIGINT during the backfill: stops between batches, keeps what was committed ----
head -n 150 "$RAGC_SHARED_DIR/data/scifact/corpus.jsonl" > "$WORK/corpus.jsonl"
export RAGC_DATA_DIR="$WORK/data2"
run_ragc ingest --config "$WORK/none.yaml" --json "$WORK/corpus.jsonl"
expect_rc "corpus ingested without vectors" 0
C=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])')
[ "$C" -gt 128 ] && ok "more than two backfill batches to do ($C chunks)" || not_ok "only $C chunks"
reset
fault slow:1
"$RAGC_BIN" ingest --config "$WORK/hf.yaml" --json "$WORK/corpus.jsonl" >"$WORK/int.out" 2>"$WORK/int.err" &
pid=$!
# SIGINT once the first batch is in flight (the fake has its first request)
for _ in $(seq 200); do [ "$(calls)" -ge 1 ] && break; sleep 0.05; done
kill -INT "$pid"
set +e; wait "$pid"; rc=$?; set -e
[ "$rc" -eq 130 ] && ok "SIGINT during the backfill exits 130" || not_ok "SIGINT: exit $rc: $(cat "$WORK/int.err")"
json_check "interrupted: whole batches kept, the rest counted" "$(cat "$WORK/int.out")" \
  "d['interrupted'] and d['backfilled'] == 64 and d['backfilled'] + d['unembedded'] == $C"
B=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["backfilled"])' "$WORK/int.out" 2>/dev/null || echo 0)
reset
run_ragc ingest --config "$WORK/hf.yaml" --json "$WORK/corpus.jsonl"
json_check "after the interrupt: the next run embeds only the rest" "$OUT" \
  "d['backfilled'] == $C - $B and d['unembedded'] == 0"
finish
