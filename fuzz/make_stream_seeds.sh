#!/usr/bin/env bash
# Regenerates the wire-format seeds of fuzz/corpus/net_stream and fuzz/corpus/net_errors from the
# in-repo API test server (tests/fakehf/fakehf.py): real SSE (HF router chat) and NDJSON (Ollama
# chat) streams, normal and with faults, and real error responses (X-Error-Message + body).
# Run from anywhere; needs python3 and curl. The seeds are committed, so this is only needed when
# fakehf's wire formats change.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT_S="$SRC/fuzz/corpus/net_stream"
OUT_E="$SRC/fuzz/corpus/net_errors"
mkdir -p "$OUT_S" "$OUT_E"
TMP=$(mktemp -d)
python3 -S "$SRC/tests/fakehf/fakehf.py" --port 0 --port-file "$TMP/port" &
FAKE=$!
trap 'kill $FAKE 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
BASE="http://127.0.0.1:$(cat "$TMP/port")"
MSG='[1] The pump must be primed before use. Then open the valve.\n\nQuestion: how do I start the pump?'
CHAT="{\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"$MSG\"}]}"
OLLAMA="{\"model\":\"llama3\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"$MSG\"}]}"
fault() { curl -s -X POST "$BASE/_fake/faults" -d "{\"match\":\"\",\"faults\":[\"$1\"]}" >/dev/null; }

# Stream seeds: byte 0 selects the parser in fuzz_net_stream.c ('B' = SSE, 'A' = NDJSON, both
# with the default cap).
for f in ok sse_noise sse_error sse_error_flat malformed_json sse_cut; do
  fault "$f"
  { printf 'B'; curl -s -N "$BASE/v1/chat/completions" -d "$CHAT" || true; } > "$OUT_S/sse_$f"
done
for f in ok ndjson_error sse_cut malformed_json; do
  fault "$f"
  { printf 'A'; curl -s -N "$BASE/api/chat" -d "$OLLAMA" || true; } > "$OUT_S/ndjson_$f"
done

# Error seeds for fuzz_net_errors.c: flags byte (bit 0: X-Error-Message present, bit 1: token),
# then "<x-error-message>\0<Retry-After or RateLimit value>\0<body>".
for f in 429_retry_after 429_ratelimit 503_loading 500 502 504 402 401 403 404 422 424 \
         500:list 500:nested 500:message 500:detail 500:tei 500:text; do
  fault "$f"
  curl -s -D "$TMP/h" -o "$TMP/b" "$BASE/v1/chat/completions" -d "$CHAT" || true
  xmsg=$(grep -i '^x-error-message:' "$TMP/h" | cut -d' ' -f2- | tr -d '\r' || true)
  hval=$(grep -iE '^(retry-after|ratelimit):' "$TMP/h" | head -1 | cut -d' ' -f2- | tr -d '\r' || true)
  flags=$'\x02'; [ -n "$xmsg" ] && flags=$'\x03'
  { printf '%s' "$flags"; printf '%s\0%s\0' "$xmsg" "$hval"; cat "$TMP/b"; } > "$OUT_E/err_${f//:/_}"
done
ls "$OUT_S" "$OUT_E" | wc -l
