#!/usr/bin/env bash
# ragc serve: who may read and write (the access matrix of docs/security.md), and every server
# limit with a request that crosses it: per-file upload cap (413), uploads-directory cap (507),
# question length, query-term cap, request-header size (431), connection limit, idle timeout,
# header and body deadlines (slowloris), the post-error discard cap; and that remote calls verify
# TLS certificates (a self-signed HTTPS model server is refused).
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "curl is required"; exit 1; }

SERVER_PID=""
kill_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
TLS_PID=""
trap 'kill_server; [ -n "$TLS_PID" ] && kill "$TLS_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

# start_server DATA_DIR ARGS...: `ragc serve --port 0 ARGS` (env from the caller); waits for the
# "listening on" line; sets SERVER_PID, PORT, BASE (always reached through 127.0.0.1).
start_server() {
  local data=$1
  shift
  : >"$WORK/serve.err"
  "$RAGC_BIN" serve --port 0 --data-dir "$data" "$@" 2>"$WORK/serve.err" &
  SERVER_PID=$!
  local i
  for i in $(seq 300); do
    grep -q "listening on http://" "$WORK/serve.err" && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  PORT=$(sed -n 's|.*listening on http://.*:\([0-9]*\)$|\1|p' "$WORK/serve.err")
  if [ -z "$PORT" ]; then
    not_ok "server did not start ($*): $(cat "$WORK/serve.err")"
    finish
    exit 1
  fi
  BASE="http://127.0.0.1:$PORT"
}

stop_server() {
  kill -TERM "$SERVER_PID"
  set +e; wait "$SERVER_PID"; local rc=$?; set -e
  SERVER_PID=""
  if [ "$rc" -ne 0 ]; then not_ok "server exit $rc after SIGTERM: $(tail -c 1000 "$WORK/serve.err")"; fi
}

req() {
  set +e
  CODE=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@" 2>"$WORK/curl.err")
  set -e
  BODY=$(cat "$WORK/body" 2>/dev/null || true)
}
expect_code() { if [ "$CODE" = "$2" ]; then ok "$1 ($CODE)"; else not_ok "$1: HTTP $CODE, expected $2: ${BODY:0:400} $(cat "$WORK/curl.err")"; fi; }
# expect_error NAME CODE ERROR_CODE [MESSAGE_PART]
expect_error() {
  expect_code "$1" "$2"
  json_check "$1: error $3" "$BODY" "d['error']['code'] == '$3' and '${4:-}' in d['error']['message']"
}
doc_id() { printf '%s' "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"][0]["id"])'; }

# Text files with distinct content (the uploads are keyed by content hash).
python3 - "$WORK" <<'PY'
import random, sys
w = sys.argv[1]
random.seed(11)
words = ["alpha", "beta", "gamma", "delta", "signal", "filter", "kernel", "matrix", "vector", "tensor"]
def text(n, extra=""):
    out, size = [], 0
    while size < n:
        s = " ".join(random.choice(words) for _ in range(10)) + ".\n"
        out.append(s)
        size += len(s)
    return extra + "".join(out)
open(f"{w}/a.txt", "w").write(text(700 * 1024, "The zebrafinch sings at dawn.\n"))
open(f"{w}/b.txt", "w").write(text(700 * 1024))
open(f"{w}/c.txt", "w").write(text(700 * 1024))
open(f"{w}/big.txt", "w").write(text(1536 * 1024))
open(f"{w}/small.txt", "w").write("The zebrafinch sings at dawn. Finches are small birds.\n")
PY
SMALL="$WORK/small.txt"

# ================================================================== access matrix
# 1. public address, no key: reads open, writes refused with a message that says how to enable them
# (the store holds a document the operator ingested with the CLI)
run_ragc ingest -q --data-dir "$WORK/pub" "$SMALL"
expect_rc "operator ingests a document with the CLI" 0
start_server "$WORK/pub" --host 0.0.0.0
expect_in "public, no key: start-up says writes are off" "$(cat "$WORK/serve.err")" "uploads and deletions are turned off"
req "$BASE/readyz"
json_check "public, no key: /readyz reports reads open, writes disabled" "$BODY" "d['access'] == {'reads': 'open', 'writes': 'disabled'}"
req -F "file=@$SMALL" "$BASE/v1/documents"
expect_error "public, no key: upload -> 403" 403 writes_disabled "set RAGC_API_KEY"
req -X DELETE "$BASE/v1/documents/1"
expect_error "public, no key: delete -> 403" 403 writes_disabled "RAGC_API_KEY"
if [ -z "$(ls -A "$WORK/pub/uploads" 2>/dev/null)" ]; then ok "public, no key: the refused upload left no file"; else not_ok "files after a refused upload: $(ls -A "$WORK/pub/uploads")"; fi
for path in /v1/documents "/v1/search?q=finch" /metrics /v1/models /; do
  req "$BASE$path"
  expect_code "public, no key: GET $path is open" 200
done
req -X POST -d '{"question":"What sings at dawn?"}' "$BASE/v1/ask"
expect_code "public, no key: a question is answered" 200
json_check "public, no key: the answer cites the document" "$BODY" "d['found'] and d['sources'][0]['document']"
stop_server

# 2. public address, no key, --allow-open-writes: a loud warning, writes open
start_server "$WORK/pub" --host 0.0.0.0 --allow-open-writes
expect_in "--allow-open-writes: warning at start" "$(cat "$WORK/serve.err")" "WARNING: uploads and deletions are open to anyone"
req -F "file=@$SMALL" "$BASE/v1/documents"
expect_code "--allow-open-writes: upload without a key" 201
stop_server

# 3. public address with RAGC_API_KEY (the Space): reads open, writes need the key
export RAGC_API_KEY="space-secret-42"
start_server "$WORK/space" --host 0.0.0.0
unset RAGC_API_KEY
expect_in "key set: start-up says writes need the key" "$(cat "$WORK/serve.err")" "uploads and deletions need the API key"
req "$BASE/readyz"
json_check "key set: /readyz reports reads open, writes key" "$BODY" "d['access'] == {'reads': 'open', 'writes': 'key'}"
req -F "file=@$SMALL" "$BASE/v1/documents"
expect_error "key set: upload without the key -> 401" 401 unauthorized "uploading and deleting documents needs the API key"
req -H "Authorization: Bearer wrong-secret-42" -F "file=@$SMALL" "$BASE/v1/documents"
expect_error "key set: upload with a wrong key -> 401" 401 unauthorized "wrong"
req -H "Authorization: Bearer space-secret-42" -F "file=@$SMALL" "$BASE/v1/documents"
expect_code "key set: upload with the key" 201
ID=$(doc_id)
req -X POST -d '{"question":"What sings at dawn?","k":3}' "$BASE/v1/ask"
expect_code "key set: ask without a key" 200
json_check "key set: the answer cites the uploaded document" "$BODY" "d['found'] and d['sources'][0]['doc_id'] == $ID"
req "$BASE/v1/documents/$ID/file"
expect_code "key set: the cited file downloads without a key" 200
req "$BASE/v1/documents"
expect_code "key set: document list without a key" 200
req -X DELETE "$BASE/v1/documents/$ID"
expect_error "key set: delete without the key -> 401" 401 unauthorized
req -X DELETE -H "Authorization: Bearer space-secret-42" "$BASE/v1/documents/$ID"
expect_code "key set: delete with the key" 200
if grep -q "space-secret-42" "$WORK/serve.err"; then not_ok "the API key appears in the server log"; else ok "the API key is not in the server log"; fi
stop_server

# 4. --private: reads need the key too; health, readiness and the page stay open
export RAGC_API_KEY="space-secret-42"
start_server "$WORK/space" --private
unset RAGC_API_KEY
for path in /v1/documents "/v1/search?q=finch" /metrics; do
  req "$BASE$path"
  expect_error "--private: GET $path without the key -> 401" 401 unauthorized "needs the API key"
done
req -X POST -d '{"question":"x"}' "$BASE/v1/ask"
expect_error "--private: ask without the key -> 401" 401 unauthorized
for path in /healthz /readyz /; do
  req "$BASE$path"
  expect_code "--private: GET $path stays open" 200
done
req -H "Authorization: Bearer space-secret-42" "$BASE/v1/documents"
expect_code "--private: list with the key" 200
stop_server
export RAGC_API_KEY="space-secret-42" RAGC_PRIVATE=1
start_server "$WORK/space"
unset RAGC_API_KEY RAGC_PRIVATE
req "$BASE/v1/documents"
expect_error "RAGC_PRIVATE=1: list without the key -> 401" 401 unauthorized
stop_server

# 5. --private without a key is refused at start
run_ragc serve --port 0 --data-dir "$WORK/space" --private
expect_rc "--private without RAGC_API_KEY is a usage error" 2
expect_in "... naming RAGC_API_KEY" "$ERR" "needs an API key: set RAGC_API_KEY"

# ================================================================== limits
# max_file_mb 1 (per-file upload cap), 1 MiB for the whole uploads directory, 4 connections,
# 2 s for headers (and the body grace).
cat >"$WORK/limits.yaml" <<'YAML'
document_processor:
  max_file_mb: 1
YAML
start_server "$WORK/lim" --config "$WORK/limits.yaml" --max-uploads-mb 1 --max-connections 4 --header-timeout 2

# ---- per-file cap: 413 from Content-Length and while streaming (chunked)
req --data-binary @"$WORK/big.txt" -H "Content-Type: application/octet-stream" "$BASE/v1/documents?filename=big.txt"
expect_error "1.5 MiB upload over max_file_mb 1 -> 413" 413 payload_too_large "max_file_mb"
req --data-binary @"$WORK/big.txt" -H "Transfer-Encoding: chunked" -H "Content-Type: application/octet-stream" \
  "$BASE/v1/documents?filename=big.txt"
expect_error "1.5 MiB chunked upload -> 413 while streaming" 413 payload_too_large "max_file_mb"
req -F "file=@$WORK/big.txt" "$BASE/v1/documents"
expect_error "1.5 MiB multipart upload -> 413" 413 payload_too_large

# ---- uploads directory cap: 507, from Content-Length and while streaming; a delete frees room
req --data-binary @"$WORK/a.txt" -H "Content-Type: application/octet-stream" "$BASE/v1/documents?filename=a.txt"
expect_code "700 KiB upload under the 1 MiB directory cap" 201
A_ID=$(doc_id)
req --data-binary @"$WORK/b.txt" -H "Content-Type: application/octet-stream" "$BASE/v1/documents?filename=b.txt"
expect_error "second 700 KiB upload -> 507" 507 insufficient_storage "--max-uploads-mb"
req --data-binary @"$WORK/c.txt" -H "Transfer-Encoding: chunked" -H "Content-Type: application/octet-stream" \
  "$BASE/v1/documents?filename=c.txt"
expect_error "second 700 KiB chunked upload -> 507 while streaming" 507 insufficient_storage "uploads directory is full"
if ls -A "$WORK/lim/uploads" | grep -c -e '^\.upload-' -e 'b\.txt' -e 'c\.txt' -e 'big\.txt' >/dev/null; then
  not_ok "refused uploads left files: $(ls -A "$WORK/lim/uploads")"
else ok "refused uploads leave no file behind"; fi
req -X DELETE "$BASE/v1/documents/$A_ID"
expect_code "delete the first upload" 200
req --data-binary @"$WORK/b.txt" -H "Content-Type: application/octet-stream" "$BASE/v1/documents?filename=b.txt"
expect_code "after the delete the second upload fits" 201

# ---- question length cap (8,192 bytes) and query-term cap (1,024 terms; the rest ignored)
req -F "file=@$SMALL" "$BASE/v1/documents"
python3 -c 'import json; print(json.dumps({"question": "finch " * 1365 + "abc"}))' >"$WORK/q8193.json"
python3 -c 'import json; print(json.dumps({"question": "finch " * 1365 + "ab"}))' >"$WORK/q8192.json"
req -X POST --data-binary @"$WORK/q8193.json" "$BASE/v1/ask"
expect_error "8,193-byte question -> 400" 400 invalid_field "is 8193 bytes; the limit is 8192"
req -X POST --data-binary @"$WORK/q8192.json" "$BASE/v1/ask"
expect_code "8,192-byte question is answered" 200
q_last=$(python3 -c 'print("+".join(["qqq"] * 1024 + ["zebrafinch"]))')
q_in=$(python3 -c 'print("+".join(["qqq"] * 1023 + ["zebrafinch"]))')
req "$BASE/v1/search?q=$q_in&k=3"
json_check "query term 1,024 is used" "$BODY" "len(d['results']) >= 1"
req "$BASE/v1/search?q=$q_last&k=3"
json_check "query term 1,025 is ignored (1,024-term cap)" "$BODY" "d['results'] == []"

# ---- request headers over the 32 KiB connection pool -> 431; the server keeps serving
req -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)" "$BASE/healthz"
expect_code "40 KB request header -> 431" 431
req "$BASE/healthz"
expect_code "server answers after the 431" 200

# ---- slow clients: python sockets against the deadlines (2 s headers, body at 8 KiB/s after 2 s)
python3 - "$PORT" >"$WORK/slow.out" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def closed_after(send, limit=8.0):
    """Seconds until the server closes a connection fed by send(sock) (None if not within limit)."""
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.time()
    s.settimeout(0.2)
    step = 0
    while time.time() - t0 < limit:
        try:
            send(s, step)
        except OSError:
            return round(time.time() - t0, 2)
        step += 1
        try:
            if s.recv(4096) == b"":
                return round(time.time() - t0, 2)
        except socket.timeout:
            pass
        except OSError:
            return round(time.time() - t0, 2)
    return None
def idle(s, step): pass
def slow_headers(s, step):
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" if step == 0 else b"X")
def slow_body(s, step):
    s.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" if step == 0 else b" ")
print("idle", closed_after(idle))
print("headers", closed_after(slow_headers))
print("body", closed_after(slow_body))
# connection limit 4: four idle connections hold every slot; libmicrohttpd stops accepting, so a
# fifth connection's request waits (in the listen backlog) until a slot is free
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
time.sleep(0.2)
fifth = socket.create_connection(("127.0.0.1", port))
fifth.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
fifth.settimeout(0.8)
try:
    early = fifth.recv(4096)
except socket.timeout:
    early = b""
for s in socks:
    s.close()
fifth.settimeout(5)
try:
    late = fifth.recv(4096)
except OSError:
    late = b""
print("limit", "waited" if not early else "served-early", "served" if late.startswith(b"HTTP/1.1 200") else "not-served")
PY
cat "$WORK/slow.out" | sed 's/^/# /'
in_window() { python3 -c "import sys; v=sys.argv[1]; sys.exit(0 if v != 'None' and $2 <= float(v) <= $3 else 1)" "$1"; }
v=$(sed -n 's/^idle //p' "$WORK/slow.out")
if in_window "$v" 1.5 4.5; then ok "a connection that sends nothing is closed after the 2 s header deadline (${v}s)"; else not_ok "idle connection closed after: $v"; fi
v=$(sed -n 's/^headers //p' "$WORK/slow.out")
if in_window "$v" 1.5 4.5; then ok "headers sent a byte every 0.2 s: closed at the 2 s header deadline (${v}s)"; else not_ok "slow headers closed after: $v"; fi
v=$(sed -n 's/^body //p' "$WORK/slow.out")
if in_window "$v" 1.5 4.5; then ok "a body sent at 5 bytes/s: closed at the 2 s grace (${v}s)"; else not_ok "slow body closed after: $v"; fi
v=$(sed -n 's/^limit //p' "$WORK/slow.out")
if [ "$v" = "waited served" ]; then ok "--max-connections 4: a fifth connection waits until a slot is free, then is served"
else not_ok "connection limit: fifth connection: $v"; fi
sleep 0.3
req "$BASE/healthz"
expect_code "server answers after the slow clients" 200
req "$BASE/metrics"
for phase in headers body; do
  n=$(printf '%s\n' "$BODY" | sed -n "s/^ragc_http_connections_timed_out_total{phase=\"$phase\"} \([0-9]*\)$/\1/p")
  if [ "${n:-0}" -ge 1 ]; then ok "metrics count connections timed out in phase $phase ($n)"; else not_ok "no $phase timeout counted: ${n:-missing}"; fi
done

# ---- after an early error the body is read and dropped up to 16 MiB past the cap, then the
# connection is closed: an endless chunked JSON body stops being accepted
python3 - "$PORT" >"$WORK/discard.out" <<'PY'
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
sent = 0
s.settimeout(10)
try:
    while sent < (128 << 20):
        s.sendall(chunk)
        sent += 0x10000
except OSError:
    pass
print(sent >> 20)
PY
mib=$(cat "$WORK/discard.out")
if [ "${mib:-999}" -ge 16 ] && [ "${mib:-999}" -lt 40 ]; then ok "endless body after a 413: connection closed after ${mib} MiB (cap 1 MiB + 16 MiB discard)"
else not_ok "endless body: connection accepted ${mib:-?} MiB"; fi
req "$BASE/healthz"
expect_code "server answers after the endless body" 200
stop_server

# ---- idle timeout (libmicrohttpd's, 1 s here; the header deadline is 30 s): a connection that
# sends nothing, and one that stops in the middle of its headers
start_server "$WORK/lim" --idle-timeout 1 --header-timeout 30
python3 - "$PORT" >"$WORK/idle.out" <<'PY'
import socket, sys, time
def closed_after(first):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    t0 = time.time()
    if first:
        s.sendall(first)
    s.settimeout(10)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    return round(time.time() - t0, 2)
print(closed_after(b""), closed_after(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"))
PY
read -r v1 v2 <"$WORK/idle.out"
if in_window "$v1" 0.5 3.5; then ok "--idle-timeout 1: a silent connection is closed (${v1}s)"; else not_ok "idle timeout, silent: closed after $v1 s"; fi
if in_window "$v2" 0.5 3.5; then ok "--idle-timeout 1: a connection idle in its headers is closed (${v2}s)"; else not_ok "idle timeout, mid-headers: closed after $v2 s"; fi
stop_server

# ================================================================== TLS verification
# A model server with a self-signed certificate must be refused by certificate verification (the
# generator chain then falls back to extractive). If verification were off, its answer would win.
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$WORK/tls.key" -out "$WORK/tls.crt" >/dev/null 2>&1
  python3 - "$WORK" >"$WORK/tls.port" 2>"$WORK/tls.err" <<'PY' &
import http.server, json, ssl, sys, threading
w = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps({"id": "x", "object": "chat.completion", "model": "m", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "INSECURE ANSWER [1]"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(f"{w}/tls.crt", f"{w}/tls.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
  TLS_PID=$!
  for _ in $(seq 50); do [ -s "$WORK/tls.port" ] && break; sleep 0.1; done
  TLS_PORT=$(cat "$WORK/tls.port")
  cat >"$WORK/tls.yaml" <<YAML
answer_generator:
  chain:
    - type: openai
      model: m
      base_url: https://127.0.0.1:$TLS_PORT/v1
      max_retries: 0
    - type: extractive
YAML
  start_server "$WORK/tls" --config "$WORK/tls.yaml"
  req -F "file=@$SMALL" "$BASE/v1/documents"
  req -X POST -d '{"question":"What sings at dawn?","k":3}' "$BASE/v1/ask"
  expect_code "ask with a self-signed HTTPS generator" 200
  json_check "the self-signed server's answer is not used (TLS verification is on)" "$BODY" \
    "'INSECURE' not in d['answer'] and d['report']['stages']['generator']['backend'] == 'extractive'"
  if grep -qi -e certificate -e "SSL" <<<"$BODY"; then ok "the report names the certificate problem"
  else not_ok "no certificate error in the report: ${BODY:0:800}"; fi
  stop_server
  kill "$TLS_PID" 2>/dev/null || true
  TLS_PID=""
else
  not_ok "openssl is needed for the TLS verification check"
fi

finish
