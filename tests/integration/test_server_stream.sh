#!/usr/bin/env bash
# ragc serve streams an LLM answer token by token: POST /v1/ask and POST /v1/chat/completions with
# "stream": true against the in-repo fake HF router (tests/fakehf) dripping one word every 100 ms.
# Checks that the first token reaches the client long before the last, that the final event holds
# the validated answer, its sources and report, that a generator failing mid-answer gives a
# "reset" event, that a client leaving after the first token stops the upstream generation (the
# fake server sees its stream closed early, /metrics counts the stream cancelled) while the
# server keeps serving, and that neither the request deadlines (--header-timeout) nor the idle
# timeout cut a stream in progress.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "curl is required"; exit 1; }

TOKEN=hf_stream_test_token_5678
python3 -S "$RAGC_SOURCE_DIR/tests/fakehf/fakehf.py" --port 0 --port-file "$WORK/fake.port" \
  --token "$TOKEN" --log "$WORK/fake.log" &
FAKE_PID=$!
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
  kill "$FAKE_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -s "$WORK/fake.port" ] && break; sleep 0.05; done
[ -s "$WORK/fake.port" ] || { echo "fake server did not start"; exit 1; }
FAKE="http://127.0.0.1:$(cat "$WORK/fake.port")"
export HF_TOKEN=$TOKEN

cat >"$WORK/stream.yaml" <<YAML
embedder:
  chain:
    - type: none
answer_generator:
  chain:
    - type: huggingface
      base_url: $FAKE
      model: meta-llama/Llama-3.1-8B-Instruct
      fallback_models: [Qwen/Qwen2.5-7B-Instruct]
      api_key: \${HF_TOKEN}
      max_retries: 0
      timeout_ms: 20000
    - type: extractive
cache:
  enabled: false
YAML

# One document whose first sentence is 24 words long: the fake model answers with it and "[1]",
# 25 words, one stream frame each.
mkdir -p "$WORK/docs"
cat >"$WORK/docs/pumps.txt" <<'MD'
The centrifugal pump in the north building must be primed with clean water before every start, otherwise the seals run dry and fail quickly.
Filters are cleaned every month and replaced every year by the maintenance team.
MD
run_ragc ingest --config "$WORK/stream.yaml" --data-dir "$WORK/data" "$WORK/docs"
expect_rc "ingest the document" 0

# Short request deadlines: a stream of 2.5 s must outlive them (it is not waiting for a request).
: >"$WORK/serve.err"
RAGC_LOG=info "$RAGC_BIN" serve --port 0 --config "$WORK/stream.yaml" --data-dir "$WORK/data" \
  --header-timeout 1 --idle-timeout 1 2>"$WORK/serve.err" &
SERVER_PID=$!
for _ in $(seq 300); do
  grep -q "listening on http://" "$WORK/serve.err" && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$WORK/serve.err")
if [ -z "$PORT" ]; then not_ok "server did not start: $(cat "$WORK/serve.err")"; finish; exit 1; fi
BASE="http://127.0.0.1:$PORT"
ok "server listening at $BASE"

# sse_client.py PATH BODY [--leave-after-first | --leave-after SECONDS]: POSTs BODY, reads the SSE
# response as it arrives (leaving after the first token, or after SECONDS) and prints {"status","ctype","events":[[seconds since the request, event name, data], ...],
# "end": seconds at the end of the stream (or when it left)}.
cat >"$WORK/sse_client.py" <<'PY'
import http.client, json, socket, sys, time
port, path, body = int(sys.argv[1]), sys.argv[2], sys.argv[3]
leave = "--leave-after-first" in sys.argv
leave_at = float(sys.argv[sys.argv.index("--leave-after") + 1]) if "--leave-after" in sys.argv else None
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=leave_at or 30)
t0 = time.monotonic()
conn.request("POST", path, body=body.encode(), headers={"Content-Type": "application/json"})
resp = conn.getresponse()
out = {"status": resp.status, "ctype": resp.getheader("Content-Type", ""), "events": []}
buf, name, data, first_content = b"", None, [], False
while True:
    try:
        chunk = resp.read1(65536)
    except socket.timeout:
        chunk = None
    if leave_at is not None and time.monotonic() - t0 >= leave_at:
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        break
    if not chunk:
        break
    buf += chunk
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        line = line.decode("utf-8").rstrip("\r")
        if line == "":
            if data:
                d = "\n".join(data)
                out["events"].append([time.monotonic() - t0, name or "message", d])
                if (name == "token") or (name is None and '"content":"' in d and '"content":""' not in d):
                    first_content = True
            name, data = None, []
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
    if leave and first_content:
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        break
out["end"] = time.monotonic() - t0
print(json.dumps(out))
PY
# (a failed client prints nothing: the checks on its output fail, the script goes on)
sse() { python3 "$WORK/sse_client.py" "$PORT" "$@" || true; }
fault() { # fault MATCH STICKY FAULT...
  local match=$1 sticky=$2; shift 2
  local list; list=$(printf '"%s",' "$@"); list="[${list%,}]"
  curl -sf -X POST "$FAKE/_fake/reset" >/dev/null
  curl -sf -X POST "$FAKE/_fake/faults" -d "{\"match\":\"$match\",\"faults\":$list,\"sticky\":$sticky}" >/dev/null
}
Q='How is the centrifugal pump primed before every start?'
ASK_BODY="{\"question\":\"$Q\",\"stream\":true}"
CHAT_BODY="{\"model\":\"ragc\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"$Q\"}]}"

# ---- /v1/ask: tokens as they are generated, then done ----
fault "chat/completions" true "drip:0.1"
OUT=$(sse /v1/ask "$ASK_BODY")
json_check "ask stream: 200 text/event-stream" "$OUT" "d['status'] == 200 and d['ctype'].startswith('text/event-stream')"
json_check "ask stream: token events, then done" "$OUT" \
  "[e[1] for e in d['events']][-1] == 'done' and set(e[1] for e in d['events'][:-1]) == {'token'} and len(d['events']) >= 21"
json_check "ask stream: the first token arrives in under 1 s, the stream takes over 1.5 s" "$OUT" \
  "d['events'][0][0] < 1.0 and d['end'] > 1.5 and d['events'][-1][0] - d['events'][0][0] > 1.5"
echo "# ask stream: first token at $(printf '%s' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f s, done at %.3f s, %d events" % (d["events"][0][0], d["events"][-1][0], len(d["events"])))' || true)"
json_check "ask stream: the tokens are the model's words, concatenating to the validated answer" "$OUT" \
  "(lambda ev, done: ''.join(json.loads(e[2])['text'] for e in ev if e[1] == 'token') == done['answer'] and done['answer'].startswith('The centrifugal pump') and done['answer'].endswith('[1]'))(d['events'], json.loads(d['events'][-1][2]))"
json_check "ask stream: done has the cited sources and the report of the generator" "$OUT" \
  "(lambda a: a['found'] and a['sources'][0]['n'] == 1 and a['report']['citations_valid'] and a['report']['stages']['generator']['backend'].startswith('huggingface (meta-llama/Llama-3.1-8B-Instruct') and a['report']['tokens_out'] > 0)(json.loads(d['events'][-1][2]))"
STATS=$(curl -sf "$FAKE/_fake/stats") || true
json_check "ask stream: the fake streamed one chat completion to its end" "$STATS" \
  "d['requests']['chat_stream'] == 1 and d['streams'] == {'completed': 1, 'aborted': 0}"

# ---- a generator failing mid-answer: reset, then the fallback model's tokens ----
fault "chat/completions" false "sse_cut"
OUT=$(sse /v1/ask "$ASK_BODY")
json_check "ask stream, model cut mid-answer: token, reset, the fallback's tokens, done" "$OUT" \
  "(lambda names, ev: 'reset' in names and names[-1] == 'done' and ''.join(json.loads(e[2])['text'] for e in ev[names.index('reset') + 1:] if e[1] == 'token') == json.loads(ev[-1][2])['answer'] and 'Qwen' in json.loads(ev[-1][2])['report']['stages']['generator']['backend'])([e[1] for e in d['events']], d['events'])"

# ---- the model failing for good: the extractive answer, one token event per cited sentence ----
fault "chat/completions" true "500"
OUT=$(sse /v1/ask '{"question":"How is the pump primed, and when are the filters cleaned and replaced?","stream":true}')
json_check "ask stream, extractive fallback: one token event per cited sentence, then done" "$OUT" \
  "(lambda ev, done: done['report']['stages']['generator']['backend'] == 'extractive' and len(ev) == done['answer'].count(' [') >= 2 and all(__import__('re').search(r' \[\d+\]$', json.loads(e[2])['text']) for e in ev) and ''.join(json.loads(e[2])['text'] for e in ev) == done['answer'])([e for e in d['events'] if e[1] == 'token'], json.loads(d['events'][-1][2]))"

# ---- a client leaving after the first token stops the generation ----
fault "chat/completions" true "drip:0.1"
T0=$(date +%s%N)
OUT=$(sse /v1/ask "$ASK_BODY" --leave-after-first)
json_check "ask stream: the client left after its first token" "$OUT" \
  "len(d['events']) == 1 and d['events'][0][1] == 'token' and d['end'] < 1.0"
aborted=""
for _ in $(seq 60); do
  STATS=$(curl -sf "$FAKE/_fake/stats") || true
  aborted=$(printf '%s' "$STATS" | python3 -c 'import json,sys; s=json.load(sys.stdin)["streams"]; print(s["aborted"], s["completed"])') || true
  [ "${aborted%% *}" = 1 ] && break
  sleep 0.05
done
T1=$(date +%s%N)
if [ "$aborted" = "1 0" ] && [ $(( (T1 - T0) / 1000000 )) -lt 2000 ]; then
  ok "ask stream: the fake saw the upstream stream closed early ($(( (T1 - T0) / 1000000 )) ms after the request; the whole answer takes 2.5 s)"
else not_ok "ask stream: upstream not closed early: streams aborted/completed = '$aborted' after $(( (T1 - T0) / 1000000 )) ms"; fi

# ---- a client leaving before the first token (the model is slow to start): the server notices
# the hang-up although it has nothing to write, and cancels the generation at once ----
fault "chat/completions" false "slow:4"
T0=$(date +%s%N)
OUT=$(sse /v1/ask "$ASK_BODY" --leave-after 0.5)
json_check "ask stream: the client left before any event" "$OUT" "d['events'] == [] and d['end'] < 1.5"
cancelled=""
for _ in $(seq 100); do
  cancelled=$(curl -sf "$BASE/metrics" | sed -n 's/^ragc_http_streams_total{outcome="cancelled"} \([0-9]*\)$/\1/p') || true
  [ "$cancelled" = 2 ] && break
  sleep 0.05
done
T1=$(date +%s%N)
if [ "$cancelled" = 2 ] && [ $(( (T1 - T0) / 1000000 )) -lt 3000 ]; then
  ok "ask stream: cancelled $(( (T1 - T0) / 1000000 )) ms after the request, before the model's first token (at 4 s)"
else not_ok "ask stream: not cancelled in time: cancelled=$cancelled after $(( (T1 - T0) / 1000000 )) ms"; fi

# ---- OpenAI-compatible chat: role chunk, content chunks as generated, sources, last chunk, [DONE] ----
fault "chat/completions" true "drip:0.1"
OUT=$(sse /v1/chat/completions "$CHAT_BODY")
json_check "chat stream: 200 text/event-stream ending with [DONE]" "$OUT" \
  "d['status'] == 200 and d['ctype'].startswith('text/event-stream') and d['events'][-1][2] == '[DONE]'"
json_check "chat stream: the first content chunk arrives in under 1 s, the last after 1.5 s" "$OUT" \
  "(lambda c: c[0][0] < 1.0 and c[-1][0] > 1.5 and len(c) >= 20)([e for e in d['events'][:-1] if json.loads(e[2])['choices'][0]['delta'].get('content')])"
json_check "chat stream: chunks concatenate to the answer then the sources; the last has ragc.answer and the report" "$OUT" \
  "(lambda ch: ch[0]['choices'][0]['delta']['role'] == 'assistant' and all(c['object'] == 'chat.completion.chunk' for c in ch) and ch[-1]['choices'][0]['finish_reason'] == 'stop' and ''.join(c['choices'][0]['delta'].get('content', '') for c in ch).startswith(ch[-1]['ragc']['answer'] + '\n') and '\nSources:\n[1] ' in ''.join(c['choices'][0]['delta'].get('content', '') for c in ch) and ch[-1]['ragc']['answer'].endswith('[1]') and ch[-1]['ragc']['report']['stages']['generator']['backend'].startswith('huggingface'))([json.loads(e[2]) for e in d['events'][:-1]])"

fault "chat/completions" true "drip:0.1"
OUT=$(sse /v1/chat/completions "$CHAT_BODY" --leave-after-first)
aborted=""
for _ in $(seq 60); do
  aborted=$(curl -sf "$FAKE/_fake/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin)["streams"]; print(s["aborted"], s["completed"])') || true
  [ "${aborted%% *}" = 1 ] && break
  sleep 0.05
done
if [ "$aborted" = "1 0" ]; then ok "chat stream: a client leaving after the first content chunk closes the upstream stream early"
else not_ok "chat stream: upstream not closed early: streams aborted/completed = '$aborted'"; fi

# ---- a stream whose first token takes longer than --idle-timeout (the connection is parked) ----
fault "chat/completions" false "slow:1.6"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0; }
C0=$(cpu_ticks)
OUT=$(sse /v1/ask "$ASK_BODY")
C1=$(cpu_ticks)
json_check "ask stream: a 1.6 s wait for the model outlives --idle-timeout 1 and ends with done" "$OUT" \
  "d['events'][-1][1] == 'done' and d['events'][0][0] > 1.5 and json.loads(d['events'][-1][2])['answer'].endswith('[1]')"
# a parked (suspended) connection costs no CPU; a content reader returning 0 without suspending
# would spin a server thread for the whole wait
CPU_MS=$(( (C1 - C0) * 1000 / $(getconf CLK_TCK) ))
if [ "$CPU_MS" -lt 400 ]; then ok "the server used ${CPU_MS} ms of CPU during the 1.6 s wait (no busy loop)"
else not_ok "the server used ${CPU_MS} ms of CPU while the stream waited 1.6 s: busy loop?"; fi

# ---- concurrent streams, half of the clients leaving after their first token ----
fault "chat/completions" true "drip:0.05"
PIDS=""
for i in 1 2 3 4 5 6 7 8; do
  if [ $((i % 2)) = 0 ]; then sse /v1/ask "$ASK_BODY" --leave-after-first >"$WORK/conc$i.json" &
  else sse /v1/chat/completions "$CHAT_BODY" >"$WORK/conc$i.json" & fi
  PIDS="$PIDS $!"
done
for p in $PIDS; do wait "$p" || true; done
CONC=$(python3 - "$WORK" <<'PY'
import json, sys
ok = True
for i in range(1, 9):
    try:
        d = json.load(open("%s/conc%d.json" % (sys.argv[1], i)))
        if i % 2 == 0:
            ok = ok and d["events"][0][1] == "token"
        else:
            ok = ok and d["events"][-1][2] == "[DONE]" and "ragc" in json.loads(d["events"][-2][2])
    except (ValueError, IndexError, KeyError):
        ok = False
print("yes" if ok else "no")
PY
) || true
if [ "$CONC" = yes ]; then ok "8 concurrent streams: the 4 that stayed got the whole answer, 4 left after a token"
else not_ok "concurrent streams: $(cat "$WORK"/conc*.json | head -c 800)"; fi

# ---- the server kept serving; metrics ----
H=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz") || true
if [ "$H" = 200 ]; then ok "/healthz still answers after the clients left"; else not_ok "/healthz gave $H"; fi
curl -sf -X POST "$FAKE/_fake/reset" >/dev/null
BODY=$(curl -sf -X POST -d "{\"question\":\"$Q\"}" "$BASE/v1/ask") || true
json_check "a plain ask after the streams is answered by the model" "$BODY" \
  "d['answer'].endswith('[1]') and d['report']['stages']['generator']['backend'].startswith('huggingface')"
METRICS=$(curl -sf "$BASE/metrics") || true
for want in 'ragc_http_streams_total{outcome="completed"} 9' 'ragc_http_streams_total{outcome="cancelled"} 7' \
  'ragc_http_streams_total{outcome="failed"} 0'; do
  if grep -qxF -- "$want" <<<"$METRICS"; then ok "metrics: $want"
  else not_ok "metrics: no line '$want' in: $(grep ragc_http_streams <<<"$METRICS")"; fi
done
if grep -qE '^ragc_http_connections_timed_out_total\{.*\} [1-9]' <<<"$METRICS"; then
  not_ok "the watchdog cut a connection: $(grep timed_out <<<"$METRICS")"
else ok "no connection was cut by the request deadlines"; fi

# ---- SIGTERM during a stream: the stream finishes, then the process exits 0 ----
fault "chat/completions" true "drip:0.1"
sse /v1/ask "$ASK_BODY" >"$WORK/term.json" &
CLIENT=$!
sleep 0.8
kill -TERM "$SERVER_PID" 2>/dev/null || true
set +e
wait "$CLIENT"
wait "$SERVER_PID"
RC=$?
set -e
SERVER_PID=""
json_check "SIGTERM: the stream in flight ends with done" "$(cat "$WORK/term.json")" "d['events'][-1][1] == 'done'"
if [ "$RC" -eq 0 ]; then ok "server exits 0 after SIGTERM"; else not_ok "server exit $RC: $(tail -5 "$WORK/serve.err")"; fi
expect_in "the log names the cancelled streams" "$(cat "$WORK/serve.err")" "stream cancelled: the client went away"
if grep -q "warn: server" "$WORK/serve.err"; then not_ok "server warnings in the log: $(grep "warn: server" "$WORK/serve.err" | head -3)"
else ok "no server warning in the log (clients leaving are routine)"; fi
if grep -q "$TOKEN" "$WORK/serve.err" "$WORK/fake.log"; then not_ok "the token appears in a log"; else ok "the token appears in no log"; fi
finish
