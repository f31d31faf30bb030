#!/usr/bin/env bash
# ragc serve: every endpoint through curl, the error statuses (each a JSON error, the server still
# answering /healthz after it), API-key auth, CORS, idle memory, and a graceful SIGTERM that lets
# an in-flight upload finish.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "curl is required"; exit 1; }

PDF="$RAGC_SHARED_DIR/data/pdf-samples/004-pdflatex-4-pages/pdflatex-4-pages.pdf"
SERVER_PID=""
kill_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap 'kill_server; rm -rf "$WORK"' EXIT

# start_server [ARGS...]: runs `ragc serve --port 0 ARGS` in the background (extra env from the
# caller) and waits for "listening on http://HOST:PORT" on stderr; sets SERVER_PID and BASE.
start_server() {
  : >"$WORK/serve.err"
  "$RAGC_BIN" serve --port 0 --data-dir "$WORK/data" "$@" 2>"$WORK/serve.err" &
  SERVER_PID=$!
  local i
  for i in $(seq 300); do
    grep -q "listening on http://" "$WORK/serve.err" && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  local port
  port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$WORK/serve.err")
  if [ -z "$port" ]; then
    not_ok "server did not start: $(cat "$WORK/serve.err")"
    finish
    exit 1
  fi
  BASE="http://127.0.0.1:$port"
}

# req ARGS...: curl with the status in CODE, the body in BODY, the headers in HDRS.
req() {
  set +e
  CODE=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@" 2>"$WORK/curl.err")
  set -e
  BODY=$(cat "$WORK/body")
  HDRS=$(tr -d '\r' <"$WORK/headers")
}

expect_code() { if [ "$CODE" = "$2" ]; then ok "$1 ($CODE)"; else not_ok "$1: HTTP $CODE, expected $2: ${BODY:0:400} $(cat "$WORK/curl.err")"; fi; }
header() { printf '%s\n' "$HDRS" | grep -i "^$1:" | tail -1 | cut -d' ' -f2- ; }

# expect_error NAME CODE ERROR_CODE: the last response is HTTP CODE with {"error":{"code":ERROR_CODE,"message":...}}
# and the server still answers /healthz.
expect_error() {
  expect_code "$1" "$2"
  json_check "$1: JSON error body" "$BODY" "d['error']['code'] == '$3' and len(d['error']['message']) > 0"
  local h
  h=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz" || true)
  if [ "$h" = 200 ]; then ok "$1: /healthz still answers"; else not_ok "$1: /healthz gave $h afterwards"; fi
}

start_server
ok "server listening at $BASE"

# ---- idle memory (not meaningful under AddressSanitizer) ----
rss=$(ps -o rss= -p "$SERVER_PID" | tr -d ' ')
echo "# idle RSS after start: ${rss} KB"
if ldd "$RAGC_BIN" 2>/dev/null | grep -c libasan >/dev/null; then # -c reads all: no SIGPIPE under pipefail
  ok "idle RSS ${rss} KB (sanitizer build: not checked)"
elif [ "$rss" -lt 20480 ]; then ok "idle RSS ${rss} KB < 20 MB"; else not_ok "idle RSS ${rss} KB >= 20 MB"; fi

# ---- health, readiness, models, web page ----
req "$BASE/healthz"
expect_code "GET /healthz" 200
json_check "/healthz says ok" "$BODY" "d == {'status': 'ok'}"
req "$BASE/readyz"
expect_code "GET /readyz" 200
json_check "/readyz: ready, 0 documents, chains" "$BODY" \
  "d['status'] == 'ready' and d['documents'] == 0 and d['chains'] == {'embedder': 'none', 'reranker': 'off', 'generator': 'extractive'}"
req "$BASE/v1/models"
expect_code "GET /v1/models" 200
json_check "/v1/models lists ragc" "$BODY" "d['object'] == 'list' and d['data'][0]['id'] == 'ragc' and d['data'][0]['owned_by'] == 'ragc'"
req "$BASE/"
expect_code "GET / (web page)" 200
expect_in "GET / is HTML" "$(header Content-Type)" "text/html"
if [ -z "$(header Access-Control-Allow-Origin)" ]; then ok "no CORS header by default"; else not_ok "CORS header without RAGC_CORS_ORIGIN"; fi

# ---- upload, list, search, ask ----
req -F "file=@$PDF;type=application/pdf" "$BASE/v1/documents"
expect_code "POST /v1/documents (multipart PDF)" 201
json_check "upload: one document added" "$BODY" \
  "len(d['documents']) == 1 and d['documents'][0]['outcome'] == 'added' and d['documents'][0]['source'].endswith('-pdflatex-4-pages.pdf') and d['skipped'] == []"
DOC_ID=$(printf '%s' "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"][0]["id"])')
req -F "file=@$PDF;type=application/pdf" "$BASE/v1/documents"
json_check "the same upload again is unchanged" "$BODY" "d['documents'][0]['outcome'] == 'unchanged' and d['documents'][0]['id'] == $DOC_ID"
req --data-binary @"$RAGC_SOURCE_DIR/tests/fixtures/ingest/notes.md" -H "Content-Type: application/octet-stream" \
  "$BASE/v1/documents?filename=dir%2Fmy%20notes.md"
expect_code "POST /v1/documents (raw body, ?filename=)" 201
json_check "raw upload: directories stripped from the name" "$BODY" \
  "d['documents'][0]['outcome'] == 'added' and d['documents'][0]['source'].endswith('-my notes.md') and '/dir' not in d['documents'][0]['source']"
NOTES_ID=$(printf '%s' "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"][0]["id"])')

req "$BASE/v1/documents"
expect_code "GET /v1/documents" 200
json_check "list: both documents with their fields" "$BODY" \
  "len(d['documents']) == 2 and all(set(['id','source','title','format','pages','chunks','ingested_at']) <= set(x) for x in d['documents']) and [x for x in d['documents'] if x['id'] == $DOC_ID][0]['pages'] == 4"
req "$BASE/v1/documents/$DOC_ID"
expect_code "GET /v1/documents/{id}" 200
json_check "one document record" "$BODY" "d['id'] == $DOC_ID and d['format'] == 'pdf'"

req "$BASE/v1/search?q=blind+text&k=3"
expect_code "GET /v1/search" 200
json_check "search: ragc search --json shape" "$BODY" \
  "d['query'] == 'blind text' and 1 <= len(d['results']) <= 3 and d['results'][0]['rank'] == 1 and d['results'][0]['page'] >= 1 and 'ms' in d"
req "$BASE/v1/search?q=%22blind%22%20text"
json_check "search: the query is URL-decoded" "$BODY" "d['query'] == '\"blind\" text'"

req -X POST -H "Content-Type: application/json" -d '{"question":"What does a blind text give you?","k":3}' "$BASE/v1/ask"
expect_code "POST /v1/ask" 200
expect_in "ask: application/json" "$(header Content-Type)" "application/json"
json_check "ask: ragc ask --json shape with a cited PDF page" "$BODY" \
  "d['found'] and '[1]' in d['answer'] and d['sources'][0]['doc_id'] == $DOC_ID and d['sources'][0]['page'] >= 1 and d['report']['stages']['generator']['backend'] == 'extractive'"
ANSWER=$(printf '%s' "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["answer"])')

req -N -X POST -d '{"question":"What does a blind text give you?","k":3,"stream":true}' "$BASE/v1/ask"
expect_code "POST /v1/ask stream" 200
expect_in "stream: text/event-stream" "$(header Content-Type)" "text/event-stream"
if printf '%s' "$BODY" | python3 -c '
import json, sys
events, ev, data = [], None, []
for line in sys.stdin.read().split("\n"):
    if line == "":
        if data: events.append((ev or "message", "\n".join(data)))
        ev, data = None, []
    elif line.startswith("event: "): ev = line[7:]
    elif line.startswith("data: "): data.append(line[6:])
if data: events.append((ev or "message", "\n".join(data)))  # $(...) dropped the final blank line
names = [e for e, _ in events]
tokens = "".join(json.loads(d)["text"] for e, d in events if e == "token")
done = json.loads(events[-1][1])
ok = names[-1] == "done" and names.count("token") >= 1 and set(names[:-1]) == {"token"} and tokens == done["answer"] and done["answer"] == sys.argv[1]
sys.exit(0 if ok else 1)' "$ANSWER"; then ok "stream: token events concatenate to the answer, then done with the answer JSON"
else not_ok "stream events wrong: ${BODY:0:600}"; fi

# ---- OpenAI-compatible chat ----
req -X POST -d '{"model":"ragc","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"What does a blind text give you?"}]}' \
  "$BASE/v1/chat/completions"
expect_code "POST /v1/chat/completions" 200
json_check "chat.completion with the answer, a Sources list and the ragc extension" "$BODY" \
  "d['object'] == 'chat.completion' and d['choices'][0]['message']['role'] == 'assistant' and d['choices'][0]['finish_reason'] == 'stop' and '\nSources:\n[1] ' in d['choices'][0]['message']['content'] and d['ragc']['sources'][0]['doc_id'] == $DOC_ID and 'report' in d['ragc']"
req -N -X POST -d '{"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"What does a blind text give you?"}]}]}' \
  "$BASE/v1/chat/completions"
expect_code "POST /v1/chat/completions stream" 200
if printf '%s' "$BODY" | python3 -c '
import json, sys
lines = [l[6:] for l in sys.stdin.read().split("\n") if l.startswith("data: ")]
chunks = [json.loads(l) for l in lines[:-1]]
content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
ok = lines[-1] == "[DONE]" and all(c["object"] == "chat.completion.chunk" for c in chunks) \
     and chunks[0]["choices"][0]["delta"]["role"] == "assistant" and chunks[-1]["choices"][0]["finish_reason"] == "stop" \
     and "\nSources:\n[1] " in content and "ragc" in chunks[-1]
sys.exit(0 if ok else 1)'; then ok "chat stream: chunks ending with data: [DONE]"; else not_ok "chat stream wrong: ${BODY:0:600}"; fi

# ---- the original file ----
req -o "$WORK/download.pdf" "$BASE/v1/documents/$DOC_ID/file"
CODE=$(curl -s -o "$WORK/download.pdf" -w '%{http_code} %{content_type}' "$BASE/v1/documents/$DOC_ID/file")
if [ "$CODE" = "200 application/pdf" ] && cmp -s "$WORK/download.pdf" "$PDF"; then ok "GET /v1/documents/{id}/file: the PDF bytes, application/pdf"
else not_ok "file download: $CODE"; fi

# ---- metrics ----
req "$BASE/metrics"
expect_code "GET /metrics" 200
expect_in "metrics: Prometheus text 0.0.4" "$(header Content-Type)" "text/plain; version=0.0.4"
for fam in ragc_http_requests_total ragc_http_request_duration_seconds_bucket ragc_stage_duration_seconds_bucket \
  ragc_answers_total ragc_documents ragc_chunks ragc_process_resident_memory_bytes ragc_remote_calls_total \
  ragc_remote_retries_total ragc_circuit_state ragc_fallbacks_total ragc_cache_hits_total ragc_cache_misses_total \
  ragc_tokens_total ragc_cost_usd_total; do
  # grep the saved body: `printf | grep -q` under pipefail fails when grep exits before printf is done
  if grep -qF -- "$fam" "$WORK/body"; then ok "metrics has $fam"; else not_ok "metrics has $fam: not in ${BODY:0:600}"; fi
done
for want in 'ragc_http_requests_total{route="/v1/ask",method="POST",status="200"} 2' \
  'ragc_answers_total{generator="extractive"} 4' 'ragc_documents 2'; do
  if grep -qxF -- "$want" "$WORK/body"; then ok "metrics: $want"; else not_ok "metrics: no line '$want' in ${BODY:0:600}"; fi
done

# ---- errors: each a JSON error with the right status; the server keeps serving ----
req -X POST -d '{"question": "unterminated' "$BASE/v1/ask"
expect_error "bad JSON -> 400" 400 bad_json
req -X POST -d '{"k": 3}' "$BASE/v1/ask"
expect_error "missing question -> 400" 400 missing_field
req -X POST -d '{"question": "x", "k": 1000}' "$BASE/v1/ask"
expect_error "k out of range -> 400" 400 invalid_field
python3 -c 'import json; print(json.dumps({"question": "x" * (1100 * 1024)}))' >"$WORK/big.json"
req -X POST --data-binary @"$WORK/big.json" "$BASE/v1/ask"
expect_error "1.1 MB JSON body -> 413" 413 payload_too_large
req -X POST -H "Transfer-Encoding: chunked" --data-binary @"$WORK/big.json" "$BASE/v1/ask"
expect_error "1.1 MB chunked JSON body -> 413" 413 payload_too_large
req -X GET "$BASE/v1/ask"
expect_error "GET /v1/ask -> 405" 405 method_not_allowed
expect_in "405 has an Allow header" "$(header Allow)" "POST"
req -X DELETE "$BASE/v1/documents"
expect_error "DELETE /v1/documents -> 405" 405 method_not_allowed
req "$BASE/v1/nothing-here"
expect_error "unknown route -> 404" 404 not_found
req "$BASE/v1/search"
expect_error "search without q -> 400" 400 missing_field
req "$BASE/v1/search?q=%zz"
expect_error "search with a bad escape -> 400" 400 bad_request
req -X DELETE "$BASE/v1/documents/999999"
expect_error "delete an unknown id -> 404" 404 not_found
req "$BASE/v1/documents/abc/file"
expect_error "file of a non-numeric id -> 404" 404 not_found
req -X POST -H "Content-Type: application/json" -d '{"file": "x"}' "$BASE/v1/documents"
expect_error "upload as JSON -> 415" 415 unsupported_media_type
req -F "file=@$RAGC_SOURCE_DIR/tests/fixtures/ingest/plain.txt;filename=report.docx" "$BASE/v1/documents"
expect_error "upload of a .docx -> 415" 415 unsupported_media_type
req -F "file=@$RAGC_SOURCE_DIR/tests/fixtures/ingest/plain.txt;filename=../../etc/x.txt" "$BASE/v1/documents"
expect_error "upload named ../../etc/x.txt -> 400" 400 bad_request
req -F "title=no file here" "$BASE/v1/documents"
expect_error "multipart without a file field -> 400" 400 bad_request
req --data-binary @"$RAGC_SOURCE_DIR/tests/fixtures/ingest/plain.txt" -H "Content-Type: application/octet-stream" "$BASE/v1/documents"
expect_error "raw upload without a file name -> 400" 400 missing_field
req -F "file=@$RAGC_SOURCE_DIR/tests/fixtures/ingest/garbage.pdf" "$BASE/v1/documents"
expect_error "garbage PDF -> 422" 422 nothing_ingestible
json_check "422 names the reason" "$BODY" "'garbage.pdf' in d['error']['message'] and len(d['skipped']) == 1"
req -X POST -d '{"messages":[{"role":"assistant","content":"hi"}]}' "$BASE/v1/chat/completions"
expect_error "chat without a user message -> 400" 400 missing_field
if ls -A "$WORK/data/uploads" | grep -c -e garbage -e '^\.upload-' >/dev/null; then not_ok "rejected uploads left files: $(ls -A "$WORK/data/uploads")"
else ok "rejected uploads leave no file behind"; fi
req -X OPTIONS "$BASE/v1/documents"
expect_code "OPTIONS /v1/documents" 204
expect_in "OPTIONS lists the methods" "$(header Allow)" "GET, HEAD, POST, OPTIONS"

# ---- delete ----
req -X DELETE "$BASE/v1/documents/$NOTES_ID"
expect_code "DELETE /v1/documents/{id}" 200
json_check "delete answers the id" "$BODY" "d == {'deleted': $NOTES_ID}"
req -X DELETE "$BASE/v1/documents/$NOTES_ID"
expect_error "delete twice -> 404" 404 not_found
if ls "$WORK/data/uploads" | grep -c "my notes.md" >/dev/null; then not_ok "the deleted upload's file remains"; else ok "delete removes the uploaded file"; fi
req "$BASE/v1/documents"
json_check "list after delete: only the PDF" "$BODY" "[x['id'] for x in d['documents']] == [$DOC_ID]"

# ---- SIGTERM: the in-flight request finishes, then the process exits 0 ----
python3 -c '
import random
random.seed(7)
words = ["alpha","beta","gamma","delta","signal","server","graceful","shutdown","request","finish"]
with open("'"$WORK"'/slow.txt", "w") as f:
    for i in range(8000):
        f.write(" ".join(random.choice(words) for _ in range(8)) + ".\n")'
curl -s -o "$WORK/slow.body" -w '%{http_code}' --limit-rate 150k -H "Content-Type: application/octet-stream" \
  --data-binary @"$WORK/slow.txt" "$BASE/v1/documents?filename=slow.txt" >"$WORK/slow.code" &
CURL_PID=$!
for i in $(seq 100); do # wait until the upload is in flight (the metrics request itself is one more)
  n=$(curl -s "$BASE/metrics" | sed -n 's/^ragc_http_requests_in_flight \([0-9]*\)$/\1/p')
  [ "${n:-0}" -ge 2 ] && break
  sleep 0.05
done
if [ "${n:-0}" -ge 2 ] && kill -0 "$CURL_PID" 2>/dev/null; then ok "an upload is in flight when SIGTERM is sent"
else not_ok "the slow upload was not in flight (in_flight=${n:-?})"; fi
kill -TERM "$SERVER_PID"
set +e
wait "$CURL_PID"
wait "$SERVER_PID"
SERVER_RC=$?
set -e
SERVER_PID=""
if [ "$(cat "$WORK/slow.code")" = 201 ]; then ok "the upload in flight at SIGTERM finished (201)"
else not_ok "in-flight upload got $(cat "$WORK/slow.code"): $(cat "$WORK/slow.body")"; fi
if [ "$SERVER_RC" -eq 0 ]; then ok "server exits 0 after SIGTERM"; else not_ok "server exit $SERVER_RC: $(cat "$WORK/serve.err")"; fi
expect_in "server says it drained" "$(cat "$WORK/serve.err")" "SIGTERM received"

# ---- API key (with --private: reads need it too; the full access matrix is in
# test_server_limits.sh) and CORS ----
export RAGC_API_KEY="test-key-123" RAGC_CORS_ORIGIN="https://example.org"
start_server --private
unset RAGC_API_KEY RAGC_CORS_ORIGIN
req "$BASE/v1/documents"
expect_error "no API key -> 401" 401 unauthorized
expect_in "401 asks for a bearer token" "$(header WWW-Authenticate)" "Bearer"
req -H "Authorization: Bearer wrong-key-123" "$BASE/v1/documents"
expect_error "wrong API key -> 401" 401 unauthorized
req -X POST -d '{"question":"blind text"}' "$BASE/v1/ask"
expect_error "ask without the key -> 401" 401 unauthorized
req "$BASE/metrics"
expect_error "metrics without the key -> 401" 401 unauthorized
req -H "Authorization: Bearer test-key-123" "$BASE/v1/documents"
expect_code "right API key -> 200" 200
json_check "the store survived the restart" "$BODY" "[x['id'] for x in d['documents']][0] == $DOC_ID"
req "$BASE/healthz"
expect_code "/healthz needs no key" 200
req "$BASE/readyz"
expect_code "/readyz needs no key" 200
req "$BASE/"
expect_code "the web page needs no key (it asks for one)" 200
expect_in "CORS origin when RAGC_CORS_ORIGIN is set" "$(header Access-Control-Allow-Origin)" "https://example.org"
req -X OPTIONS -H "Origin: https://example.org" -H "Access-Control-Request-Method: POST" "$BASE/v1/ask"
expect_code "CORS preflight needs no key" 204
expect_in "preflight allows the Authorization header" "$(header Access-Control-Allow-Headers)" "Authorization"
kill -TERM "$SERVER_PID"
set +e; wait "$SERVER_PID"; SERVER_RC=$?; set -e
SERVER_PID=""
if [ "$SERVER_RC" -eq 0 ]; then ok "idle server exits 0 on SIGTERM"; else not_ok "idle server exit $SERVER_RC"; fi

finish
