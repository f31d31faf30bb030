#!/usr/bin/env bash
# Smoke test of the Hugging Face Space start-up without Docker: runs the Dockerfile's CMD (parsed
# from the Dockerfile, so it is the same command) as an unprivileged user with SPACE_ID set, on a
# temporary data dir and a free loopback-reachable port, then checks /healthz, /readyz, the page,
# /metrics, the process's UID and a clean exit on SIGTERM; that without RAGC_API_KEY an upload is
# refused (the CMD binds 0.0.0.0) while questions are answered; that with RAGC_API_KEY set (as a
# Space secret) the owner uploads with the key, visitors ask without it and get a cited answer;
# and the fallback to $HOME/data when RAGC_DATA_DIR is not writable.
#
# Usage: scripts/space-smoke.sh [path/to/ragc]   (default: $RAGC_BIN, else build/ragc)
# Env:   RAGC_SHARED_DIR (default ../shared), RAGC_TMP (default /tmp),
#        SMOKE_USER (default ragc-smoke: created with useradd when running as root).
# Exit status 0 when every check passed; prints "N passed, N failed" last.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-${RAGC_BIN:-$SRC/build/ragc}}
SHARED=${RAGC_SHARED_DIR:-$SRC/../shared}
PDF="$SHARED/data/pdf-samples/004-pdflatex-4-pages/pdflatex-4-pages.pdf"
SMOKE_USER=${SMOKE_USER:-ragc-smoke}

PASSES=0
FAILS=0
ok() { PASSES=$((PASSES + 1)); echo "ok - $*"; }
not_ok() { FAILS=$((FAILS + 1)); echo "not ok - $*"; }
finish() { echo "$PASSES passed, $FAILS failed"; [ "$FAILS" -eq 0 ]; }
die() { not_ok "$*"; finish || exit 1; }

[ -x "$BIN" ] || die "ragc binary $BIN not found or not executable (build it, or pass its path)"
[ -f "$PDF" ] || die "sample PDF $PDF not found (set RAGC_SHARED_DIR)"
for t in curl python3 setpriv; do command -v "$t" >/dev/null || die "$t is needed"; done
BIN=$(readlink -f "$BIN")

# The container's start command, exactly as the Dockerfile's CMD (JSON exec form) says.
mapfile -d '' -t CMD < <(python3 - "$SRC/Dockerfile" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith('CMD ')]
if len(lines) != 1:
    sys.exit(f'expected one CMD line in {sys.argv[1]}, found {len(lines)}')
cmd = json.loads(lines[0][4:])
sys.stdout.write(''.join(a + '\0' for a in cmd))
PY
)
[ "${#CMD[@]}" -gt 0 ] || die "could not read the CMD of $SRC/Dockerfile"
ok "start command from the Dockerfile: ${CMD[*]:0:2} ..."

# Who runs it: as root, an unprivileged user (created when missing); otherwise ourselves.
if [ "$(id -u)" -eq 0 ]; then
  if ! id -u "$SMOKE_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$SMOKE_USER"
  fi
  RUN_UID=$(id -u "$SMOKE_USER")
  RUN_GID=$(id -g "$SMOKE_USER")
  AS_USER=(setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups --)
else
  RUN_UID=$(id -u)
  RUN_GID=$(id -g)
  AS_USER=()
fi

TMP_ROOT=${RAGC_TMP:-/tmp}
mkdir -p "$TMP_ROOT"
WORK=$(mktemp -d "$TMP_ROOT/ragc-space-smoke.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# The user needs to reach the binary (a copy under $WORK/bin named ragc, as in the image) and
# its home; WORK itself is private to us otherwise.
mkdir -p "$WORK/bin" "$WORK/home"
cp "$BIN" "$WORK/bin/ragc"
chmod 755 "$WORK" "$WORK/bin" "$WORK/bin/ragc"
chown "$RUN_UID:$RUN_GID" "$WORK/home"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_server DATA_DIR [API_KEY]: runs the CMD in the image's environment (ENV lines of the
# Dockerfile, SPACE_ID as a Space sets it, no HF_TOKEN; RAGC_API_KEY as a Space secret sets it when
# API_KEY is given). Remote model calls are pointed at a closed loopback port through the proxy
# variables, so nothing leaves the machine.
start_server() {
  PORT=$(free_port)
  BASE="http://127.0.0.1:$PORT"
  LOG="$WORK/server-$PORT.log"
  env -i PATH="$WORK/bin:/usr/local/bin:/usr/bin:/bin" HOME="$WORK/home" LANG=C.UTF-8 \
    SPACE_ID=test/ragc SPACE_HOST=test-ragc.hf.space RAGC_DATA_DIR="$1" PORT="$PORT" ${2:+RAGC_API_KEY="$2"} \
    https_proxy=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
    no_proxy=127.0.0.1,localhost \
    ${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} ${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} \
    "${AS_USER[@]}" "${CMD[@]}" >"$LOG" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    if curl -fsS --noproxy '*' -o /dev/null "$BASE/healthz" 2>/dev/null; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  return 1
}

# stop_server NAME: SIGTERM, expect exit status 0 within 10 s.
stop_server() {
  kill -TERM "$SERVER_PID"
  local rc=0 waited=0
  while kill -0 "$SERVER_PID" 2>/dev/null && [ "$waited" -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    not_ok "$1: still running 10 s after SIGTERM"
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    return
  fi
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  if [ "$rc" -eq 0 ]; then ok "$1: clean exit on SIGTERM"; else not_ok "$1: exit status $rc after SIGTERM; log: $(tail -c 1500 "$LOG")"; fi
}

req() { curl -sS --noproxy '*' --max-time 30 "$@"; }
json_check() { # NAME JSON PYTHON_EXPR (d = parsed JSON)
  if printf '%s' "$2" | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($3) else 1)" 2>/dev/null; then
    ok "$1"
  else
    not_ok "$1: ($3) is false for: ${2:0:600}"
  fi
}

# ---- the Space with its data dir
DATA="$WORK/data/ragc"
mkdir -p "$WORK/data"
chown "$RUN_UID:$RUN_GID" "$WORK/data"
if start_server "$DATA"; then ok "healthz answers at $BASE"; else die "server did not answer /healthz within 30 s; log: $(tail -c 2000 "$LOG")"; fi

uid=$(awk '/^Uid:/ {print $2}' "/proc/$SERVER_PID/status")
if [ "$uid" != 0 ] && [ "$uid" = "$RUN_UID" ]; then ok "server runs as UID $uid (not root)"; else not_ok "server runs as UID $uid"; fi

code=$(req -o "$WORK/readyz" -w '%{http_code}' "$BASE/readyz")
if [ "$code" = 200 ]; then ok "readyz 200"; else not_ok "readyz answered $code: $(cat "$WORK/readyz")"; fi

code=$(req -o "$WORK/index.html" -w '%{http_code}' "$BASE/")
if [ "$code" = 200 ] && grep -q 'app.js' "$WORK/index.html"; then ok "web page served at /"; else not_ok "GET / answered $code"; fi

code=$(req -o "$WORK/metrics" -w '%{http_code}' "$BASE/metrics")
if [ "$code" = 200 ] && grep -q '^# TYPE' "$WORK/metrics"; then ok "metrics in Prometheus text format"; else not_ok "GET /metrics answered $code: $(head -c 300 "$WORK/metrics")"; fi

# Without RAGC_API_KEY: the CMD listens on 0.0.0.0, so uploads are refused and say how to enable them.
body=$(req "$BASE/readyz")
json_check "no key: readyz reports reads open, writes disabled" "$body" "d['access'] == {'reads': 'open', 'writes': 'disabled'}"
code=$(req -o "$WORK/upload0.json" -w '%{http_code}' -F "file=@$PDF;type=application/pdf" "$BASE/v1/documents")
body=$(cat "$WORK/upload0.json")
if [ "$code" = 403 ]; then ok "no key: upload refused with 403"; else not_ok "no key: upload answered $code: ${body:0:500}"; fi
json_check "no key: the refusal says to set RAGC_API_KEY" "$body" "d['error']['code'] == 'writes_disabled' and 'RAGC_API_KEY' in d['error']['message']"
stop_server "space without a key"

# With RAGC_API_KEY set as a Space secret: the owner uploads with the key; visitors ask without it.
KEY="smoke-owner-key-$$"
if start_server "$DATA" "$KEY"; then ok "healthz answers with RAGC_API_KEY set"; else die "server with RAGC_API_KEY did not answer /healthz; log: $(tail -c 2000 "$LOG")"; fi
code=$(req -o "$WORK/upload1.json" -w '%{http_code}' -F "file=@$PDF;type=application/pdf" "$BASE/v1/documents")
if [ "$code" = 401 ]; then ok "key set: upload without the key refused with 401"; else not_ok "key set: keyless upload answered $code: $(head -c 500 "$WORK/upload1.json")"; fi
code=$(req -o "$WORK/upload.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" -F "file=@$PDF;type=application/pdf" "$BASE/v1/documents")
body=$(cat "$WORK/upload.json")
if [ "$code" = 201 ]; then ok "key set: upload with the key answered 201"; else not_ok "upload answered $code: ${body:0:500}"; fi
json_check "upload added the PDF" "$body" "len(d['documents']) == 1 and not d.get('skipped')"

body=$(req -H 'Content-Type: application/json' \
  -d '{"question":"What does a blind text give you information about?","k":3}' "$BASE/v1/ask")
json_check "answer (asked without a key) cites a source" "$body" "d['found'] and '[1]' in d['answer'] and len(d['sources']) >= 1"
json_check "source is the PDF at a page" "$body" "'pdflatex-4-pages' in (d['sources'][0]['document'] or '') and isinstance(d['sources'][0]['page'], int)"
json_check "without a token: bm25 retrieval, extractive answer" "$body" \
  "d['report']['stages']['retriever']['backend'].startswith('bm25') and d['report']['stages']['generator']['backend'] == 'extractive'"
if grep -q "$KEY" "$LOG"; then not_ok "the API key appears in the server log"; else ok "the API key is not in the server log"; fi

profile=$(env -i PATH="$WORK/bin:/usr/bin:/bin" HOME="$WORK/home" SPACE_ID=test/ragc RAGC_DATA_DIR="$DATA" \
  "${AS_USER[@]}" ragc config 2>&1 || true)
if printf '%s' "$profile" | grep -q 'hf_spaces'; then ok "SPACE_ID selects the hf_spaces profile"; else not_ok "profile is not hf_spaces: ${profile:0:400}"; fi
if [ -n "$(find "$DATA" -maxdepth 1 -name '*.db' 2>/dev/null)" ]; then ok "store written under RAGC_DATA_DIR"; else not_ok "no store in $DATA: $(ls -la "$DATA" 2>&1)"; fi
stop_server "space"

# Without the key again (the secret removed): the owner's documents still answer visitors'
# questions; uploads are refused again.
if start_server "$DATA"; then ok "restarts without RAGC_API_KEY"; else die "restart without a key failed; log: $(tail -c 2000 "$LOG")"; fi
code=$(req -o "$WORK/upload3.json" -w '%{http_code}' -F "file=@$PDF;type=application/pdf" "$BASE/v1/documents")
if [ "$code" = 403 ]; then ok "no key: upload refused again (403)"; else not_ok "no key: upload answered $code: $(head -c 500 "$WORK/upload3.json")"; fi
code=$(req -o "$WORK/ask3.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"question":"What does a blind text give you information about?","k":3}' "$BASE/v1/ask")
body=$(cat "$WORK/ask3.json")
if [ "$code" = 200 ]; then ok "no key: a question is answered (200)"; else not_ok "no key: ask answered $code: ${body:0:500}"; fi
json_check "no key: the answer cites the PDF" "$body" "d['found'] and '[1]' in d['answer'] and 'pdflatex-4-pages' in (d['sources'][0]['document'] or '')"
stop_server "space without a key, with documents"

# ---- /data not writable: the start command falls back to $HOME/data
if start_server "/proc/ragc-not-writable/ragc" "$KEY"; then
  ok "starts when RAGC_DATA_DIR is not writable"
  code=$(req -o "$WORK/upload2.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" -F "file=@$PDF;type=application/pdf" "$BASE/v1/documents")
  if [ "$code" = 201 ] && [ -d "$WORK/home/data" ] && [ -n "$(find "$WORK/home/data" -maxdepth 1 -name '*.db')" ]; then
    ok "falls back to \$HOME/data"
  else
    not_ok "fallback: upload answered $code; \$HOME/data: $(ls -la "$WORK/home/data" 2>&1)"
  fi
  if grep -q 'not writable' "$LOG"; then ok "fallback is logged"; else not_ok "no log line about the fallback: $(head -c 500 "$LOG")"; fi
  stop_server "fallback"
else
  not_ok "server did not start with an unwritable RAGC_DATA_DIR; log: $(tail -c 1500 "$LOG")"
fi

finish
