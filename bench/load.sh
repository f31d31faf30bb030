#!/usr/bin/env bash
# Load test of `ragc serve` on loopback with wrk: ingests the PDF samples into a temporary store,
# starts the server on 127.0.0.1, then runs C connections for D seconds against
#   GET  /v1/search?q=...        (BM25 retrieval)
#   POST /v1/ask {"question"}    (default profile: BM25 + extractive answer, no network)
# and reports requests/s, p50/p99/max latency, non-2xx responses and socket errors (both must be
# zero), and the server's resident memory (VmRSS from /proc/PID/status): idle after start,
# before load (after a warm-up), after each run, and the peak (VmHWM).
#
# Usage: bench/load.sh [path/to/ragc]     (default: $RAGC_BIN, else build/ragc)
# Env:   LOAD_CONNECTIONS (100), LOAD_DURATION seconds (30), LOAD_THREADS (2),
#        RAGC_SHARED_DIR (../shared), LOAD_OUT (also write the report to this file).
# Bounded: each wrk run is killed after DURATION+30 s; the server is stopped on exit.
# Exit status: 0 when both runs had no errors, 1 otherwise.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$(readlink -f "${1:-${RAGC_BIN:-$SRC/build/ragc}}")
SHARED=${RAGC_SHARED_DIR:-$SRC/../shared}
CONNS=${LOAD_CONNECTIONS:-100}
DUR=${LOAD_DURATION:-30}
THREADS=${LOAD_THREADS:-2}

fail() { echo "load.sh: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "ragc binary $BIN not found (build it, or pass its path)"
[ -d "$SHARED/data/pdf-samples" ] || fail "$SHARED/data/pdf-samples not found (set RAGC_SHARED_DIR)"
command -v wrk >/dev/null || fail "wrk not found: install the Debian package wrk (scripts/install-deps.sh)"
command -v curl >/dev/null || fail "curl not found"
[[ "$CONNS" =~ ^[0-9]+$ && "$DUR" =~ ^[0-9]+$ && "$THREADS" =~ ^[0-9]+$ ]] || fail "LOAD_CONNECTIONS, LOAD_DURATION and LOAD_THREADS must be integers"
[ "$DUR" -le 300 ] || fail "LOAD_DURATION is capped at 300 s"

WORK=$(mktemp -d "${RAGC_TMP:-/tmp}/ragc-load.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
export RAGC_DATA_DIR="$WORK/data"
unset RAGC_CONFIG RAGC_PROFILE SPACE_ID RAILWAY_ENVIRONMENT HF_TOKEN RAGC_API_KEY || true
export RAGC_PROFILE=default  # BM25 + extractive: no model, no network

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }

# ---- ingest the samples (CLI, same store the server opens); exit 3 = some files skipped
set +e
"$BIN" ingest -q "$SHARED/data/pdf-samples" >"$WORK/ingest.out" 2>"$WORK/ingest.err"
rc=$?
set -e
[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || fail "ingest failed ($rc): $(tail -5 "$WORK/ingest.err")"
DOCS=$("$BIN" docs 2>/dev/null | grep -c . || true)

# ---- server on a free loopback port
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
"$BIN" serve --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 200); do
  curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited: $(tail -5 "$WORK/server.log")"
  sleep 0.1
done
curl -fsS -o /dev/null "$BASE/healthz" || fail "server did not answer /healthz in 20 s"
sleep 1
RSS_IDLE=$(rss)

# Warm-up, and a check that both endpoints answer 200 before loading them.
for q in outline font table; do
  curl -fsS -o /dev/null "$BASE/v1/search?q=$q&k=5" || fail "GET /v1/search failed"
  curl -fsS -o /dev/null -H 'Content-Type: application/json' -d "{\"question\":\"what is a $q?\"}" "$BASE/v1/ask" || fail "POST /v1/ask failed"
done
RSS_BEFORE=$(rss)
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- wrk scripts: rotate queries; done() prints one machine-readable line
cat >"$WORK/common.lua" <<'LUA'
queries = { "outline", "font size", "how are the letters written", "pdf forms", "annotations",
            "table of contents", "image compression", "encrypted document", "arabic text", "metadata" }
counter = 0
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect, e.read, e.write, e.timeout))
end
LUA
cat "$WORK/common.lua" - >"$WORK/search.lua" <<'LUA'
function request()
  counter = counter + 1
  local q = queries[(counter % #queries) + 1]:gsub(" ", "+")
  return wrk.format("GET", "/v1/search?q=" .. q .. "&k=10")
end
LUA
cat "$WORK/common.lua" - >"$WORK/ask.lua" <<'LUA'
function request()
  counter = counter + 1
  local q = queries[(counter % #queries) + 1]
  return wrk.format("POST", "/v1/ask", { ["Content-Type"] = "application/json" },
                    '{"question":"What does the document say about ' .. q .. '?","k":5}')
end
LUA

declare -A RES RSS_AFTER
run() { # NAME SCRIPT PATH
  timeout $((DUR + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --timeout 10s -s "$2" "$BASE$3" >"$WORK/$1.out" 2>&1 \
    || fail "wrk ($1) failed: $(tail -5 "$WORK/$1.out")"
  RES[$1]=$(grep '^RESULT' "$WORK/$1.out" | sed 's/^RESULT //')
  [ -n "${RES[$1]}" ] || fail "wrk ($1) printed no result: $(tail -5 "$WORK/$1.out")"
  kill -0 "$SERVER_PID" 2>/dev/null || fail "server died during the $1 run: $(tail -5 "$WORK/server.log")"
  RSS_AFTER[$1]=$(rss)
}
run search "$WORK/search.lua" "/v1/search"
run ask "$WORK/ask.lua" "/v1/ask"
curl -fsS -o /dev/null "$BASE/healthz" || fail "server stopped answering /healthz after the load"
RSS_PEAK=$(hwm)

field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
errors() { local r=$1; echo $(( $(field "$r" non2xx) + $(field "$r" connect) + $(field "$r" read) + $(field "$r" write) + $(field "$r" timeout) )); }

{
  echo "ragc serve load test ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m))"
  echo "binary: $BIN ($("$BIN" version 2>/dev/null || echo '?'))"
  echo "store: $DOCS documents from $SHARED/data/pdf-samples; profile default (BM25 + extractive)"
  echo "wrk: $THREADS threads, $CONNS connections, ${DUR} s per endpoint, loopback $BASE"
  echo "load average before the runs: $LOADAVG (wrk and the server share the cores)"
  echo
  printf '%-28s %10s %9s %9s %9s %9s %10s %8s\n' endpoint requests req/s p50_ms p99_ms max_ms non-2xx errors
  for n in search ask; do
    r=${RES[$n]}
    path=$([ "$n" = search ] && echo "GET /v1/search?q=..&k=10" || echo "POST /v1/ask (extractive)")
    sock=$(( $(field "$r" connect) + $(field "$r" read) + $(field "$r" write) + $(field "$r" timeout) ))
    printf '%-28s %10s %9s %9s %9s %9s %10s %8s\n' "$path" "$(field "$r" requests)" "$(field "$r" rps)" \
      "$(field "$r" p50_ms)" "$(field "$r" p99_ms)" "$(field "$r" max_ms)" "$(field "$r" non2xx)" "$sock"
  done
  echo
  echo "server RSS: idle $(mib "$RSS_IDLE"), before load $(mib "$RSS_BEFORE"), after search $(mib "${RSS_AFTER[search]}"), after ask $(mib "${RSS_AFTER[ask]}"), peak (VmHWM) $(mib "$RSS_PEAK")"
} | tee "$WORK/report.txt"
[ -z "${LOAD_OUT:-}" ] || cp "$WORK/report.txt" "$LOAD_OUT"

total=$(( $(errors "${RES[search]}") + $(errors "${RES[ask]}") ))
if [ "$total" -ne 0 ]; then echo "load.sh: $total failed requests (non-2xx or socket errors)" >&2; exit 1; fi
echo "load.sh: no errors"
