#!/usr/bin/env bash
# Ingest is transactional per document: killing it mid-run loses nothing already committed,
# leaves no half document behind, and a second run picks up where it stopped.
. "$(dirname "$0")/lib.sh"
CORPUS="$RAGC_SHARED_DIR/data/scifact/corpus.jsonl"
total=$(wc -l < "$CORPUS")

"$RAGC_BIN" ingest -q "$CORPUS" >/dev/null 2>&1 &
pid=$!
sleep 0.5
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true

run_ragc stats --json
expect_rc "store opens after a kill -9" 0
json_check "no half-ingested document: every document has its chunks" "$OUT" "d['chunks'] >= d['documents']"
before=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])')

run_ragc ingest "$CORPUS"
expect_rc "second run completes" 0
expect_in "second run keeps what the first committed" "$OUT" "$before unchanged"
run_ragc stats --json
json_check "all $total records present exactly once" "$OUT" "d['documents'] == $total"

# SIGINT: stops after the current document, reports, exits 130.
rm -rf "$RAGC_DATA_DIR"
"$RAGC_BIN" ingest "$CORPUS" >"$WORK/int.out" 2>&1 &
pid=$!
sleep 0.5
kill -INT "$pid"
set +e; wait "$pid"; rc=$?; set -e
if [ "$rc" -eq 130 ] || [ "$rc" -eq 0 ]; then ok "SIGINT exits 130 (or finished first: $rc)"; else not_ok "SIGINT exit $rc: $(cat "$WORK/int.out")"; fi
if [ "$rc" -eq 130 ]; then expect_in "SIGINT summary says interrupted" "$(cat "$WORK/int.out")" "interrupted"; fi
finish
