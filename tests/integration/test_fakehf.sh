#!/usr/bin/env bash
# The fake HF / TEI / Ollama server (tests/fakehf/fakehf.py) speaks the wire formats of
# ../shared/reference/hf-api.md: endpoint shapes, auth, every fault's status/headers/framing,
# fault queues, counters, keep-alive and clean shutdown. Driven with curl; needs python3 + curl.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
FAKE="${RAGC_SOURCE_DIR:-$HERE/../..}/tests/fakehf/fakehf.py"
TMP_ROOT="${RAGC_TMP:-${TMPDIR:-/tmp}}"
mkdir -p "$TMP_ROOT"
WORK=$(mktemp -d "$TMP_ROOT/fakehf-it.XXXXXX")
TOKEN=hf_test_token
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

PASSES=0
FAILS=0
ok() { PASSES=$((PASSES + 1)); echo "ok - $*"; }
not_ok() { FAILS=$((FAILS + 1)); echo "not ok - $*"; }
finish() { echo "$PASSES passed, $FAILS failed"; [ "$FAILS" -eq 0 ]; }

# start_server NAME [ARGS...]: starts fakehf, waits for its port file; sets PORT and SPID.
start_server() {
  local name=$1
  shift
  python3 -S "$FAKE" --port 0 --port-file "$WORK/$name.port" --log "$WORK/$name.log" "$@" \
    2>"$WORK/$name.stderr" &
  SPID=$!
  PIDS+=("$SPID")
  local i
  for i in $(seq 1 200); do
    [ -s "$WORK/$name.port" ] && break
    sleep 0.05
  done
  PORT=$(cat "$WORK/$name.port" 2>/dev/null || echo 0)
}

AUTH=(-H "Authorization: Bearer $TOKEN")
# req METHOD PATH [JSON] [CURL ARGS...]: sets ST (HTTP status), CRC (curl exit code), BODY (if
# under 1 MiB), HDRS (headers, CR stripped), CERR (curl stderr), TIME (seconds). The body is in
# $WORK/body, the headers in $WORK/hdrs.
req() {
  local m=$1 p=$2 d=${3-}
  shift 2
  [ $# -gt 0 ] && shift
  local args=(-sS -X "$m" -o "$WORK/body" -D "$WORK/hdrs" -w '%{http_code} %{time_total}'
              --max-time 10 "${AUTH[@]}")
  [ -n "$d" ] && args+=(-H 'Content-Type: application/json' --data-binary "$d")
  local out
  out=$(curl "${args[@]}" "$@" "$BASE$p" 2>"$WORK/cerr")
  CRC=$?
  ST=${out%% *}
  TIME=${out#* }
  BODY=""
  [ "$(stat -c %s "$WORK/body" 2>/dev/null || echo 0)" -lt 1048576 ] && BODY=$(cat "$WORK/body" 2>/dev/null)
  HDRS=$(tr -d '\r' < "$WORK/hdrs" 2>/dev/null)
  CERR=$(cat "$WORK/cerr")
}

# expect_status NAME CODE
expect_status() {
  if [ "$ST" = "$2" ]; then ok "$1 (HTTP $ST)"; else not_ok "$1: HTTP $ST (curl $CRC), expected $2; body: ${BODY:0:300}"; fi
}
# expect_header NAME REGEX: a response header line matches the extended regex (case-insensitive).
expect_header() {
  if grep -qiE -- "$2" <<<"$HDRS"; then ok "$1"; else not_ok "$1: no header /$2/ in: $HDRS"; fi
}
# One python3 evaluates every check (starting one per check is slow on a busy machine): it
# reads a mode line ("j" = JSON body, "p" = raw body), evaluates $WORK/expr with d (parsed body),
# b (body text) and h ({lower-case header: value}) bound, and answers "1" or "0 <reason>".
coproc CHECKER { python3 -S -u -c '
import json, sys
work = sys.argv[1]
def parses(s):
    try:
        json.loads(s)
        return True
    except ValueError:
        return False
for mode in sys.stdin:
    try:
        b = open(work + "/body", encoding="utf-8", errors="replace").read()
        h = {}
        for line in open(work + "/hdrs", encoding="utf-8", errors="replace"):
            k, sep, v = line.partition(":")
            if sep:
                h[k.strip().lower()] = v.strip()
        d = json.loads(b) if mode.strip() == "j" else None
        expr = open(work + "/expr", encoding="utf-8").read()
        print("1" if eval(expr) else "0 false", flush=True)
    except Exception as e:
        print("0 %s: %s" % (type(e).__name__, str(e).replace("\n", " ")[:200]), flush=True)
' "$WORK"; }
PIDS+=("$CHECKER_PID")
check_with() { # check_with MODE NAME EXPR
  local res
  printf '%s' "$3" > "$WORK/expr"
  echo "$1" >&"${CHECKER[1]}"
  read -r res <&"${CHECKER[0]}"
  if [ "$res" = 1 ]; then ok "$2"; else not_ok "$2: ($3) -> ${res#0 } for: ${BODY:0:400}"; fi
}
# jcheck NAME PYTHON_EXPR: true with d = parsed body, h = headers.
jcheck() { check_with j "$1" "$2"; }
# pycheck NAME PYTHON_EXPR: true with b = body text, h = headers; parses(s) tells if s is JSON.
pycheck() { check_with p "$1" "$2"; }
expect_crc() {
  if [ "$CRC" = "$2" ]; then ok "$1 (curl exit $CRC)"; else not_ok "$1: curl exit $CRC, expected $2: $CERR"; fi
}
fault() { # fault MATCH FAULT... : queues faults
  local m=$1
  shift
  local list
  list=$(printf '"%s",' "$@")
  curl -sS -o /dev/null -w '%{http_code}' --data-binary "{\"match\":\"$m\",\"faults\":[${list%,}]}" \
    "$BASE/_fake/faults" | grep -q '^200$' || not_ok "queueing faults $* failed"
}
reset() { curl -sS -o /dev/null -X POST "$BASE/_fake/reset"; }

start_server main --token "$TOKEN"
BASE="http://127.0.0.1:$PORT"
if [ "$PORT" -gt 0 ] 2>/dev/null; then ok "server wrote its port ($PORT)"; else not_ok "no port file"; finish; exit 1; fi

SRC='Context:\n[1] (manual.pdf, p. 3) The pump must be primed before use. Then open the valve.\nIt runs quietly.\n[2] Filters are cleaned monthly! Replace them yearly.\n\nQuestion: how do I start the pump?'
CHAT="{\"model\":\"Qwen/Qwen2.5-7B-Instruct:groq\",\"messages\":[{\"role\":\"system\",\"content\":\"Answer from the sources.\"},{\"role\":\"user\",\"content\":\"$SRC\"}]}"
ANSWER='The pump must be primed before use. [1] Filters are cleaned monthly! [2]'

# --- auth ---------------------------------------------------------------------------------
AUTH=()
req POST /v1/chat/completions "$CHAT"
expect_status "no token -> 401" 401
expect_header "401 has X-Error-Message" '^x-error-message: Invalid credentials in Authorization header$'
jcheck "401 body" 'd == {"error": "Invalid credentials in Authorization header"}'
AUTH=(-H "Authorization: Bearer hf_wrong")
req POST /api/chat '{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]}'
expect_status "wrong token -> 401" 401
req GET /_fake/stats
expect_status "control plane needs no token" 200
jcheck "auth failures counted" 'd["auth_failures"] == 2 and d["requests"]["chat"] == 1 and d["requests"]["ollama_chat"] == 1'
AUTH=(-H "Authorization: Bearer $TOKEN")
reset

# --- chat (router) ------------------------------------------------------------------------
req POST /v1/chat/completions "$CHAT"
expect_status "chat ok" 200
jcheck "chat shape" 'd["object"] == "chat.completion" and d["id"] and isinstance(d["created"], int) and d["model"] == "Qwen/Qwen2.5-7B-Instruct" and d["choices"][0]["index"] == 0 and d["choices"][0]["finish_reason"] == "stop" and d["choices"][0]["message"]["role"] == "assistant"'
jcheck "chat grounded answer" "d['choices'][0]['message']['content'] == '$ANSWER'"
jcheck "chat usage = word counts" 'd["usage"] == {"prompt_tokens": 38, "completion_tokens": 13, "total_tokens": 51}'
jcheck "x-inference-provider from :groq" 'h["x-inference-provider"] == "groq"'
expect_header "x-request-id is a uuid" '^x-request-id: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
jcheck "Content-Length is exact" "int(h['content-length']) == $(stat -c %s "$WORK/body")"
req POST /v1/chat/completions '{"model":"m:cheapest","messages":[{"role":"user","content":"What is it?"}],"max_tokens":16}'
jcheck "no sources -> I don't know; policy suffix -> fake-provider" "d['choices'][0]['message']['content'] == \"I don't know.\" and h['x-inference-provider'] == 'fake-provider'"
req POST /v1/chat/completions "{\"model\":\"m\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"$SRC\"}]}"
jcheck "max_tokens truncates, finish_reason length" 'd["choices"][0]["message"]["content"] == "The pump must" and d["choices"][0]["finish_reason"] == "length"'
req POST /hf-inference/models/HuggingFaceTB/SmolLM3-3B/v1/chat/completions '{"messages":[{"role":"user","content":[{"type":"text","text":"[1] Only one source here. More."}]}]}'
expect_status "hf-inference chat route (model from path)" 200
jcheck "hf-inference route: provider, model, content parts" 'h["x-inference-provider"] == "hf-inference" and d["model"] == "HuggingFaceTB/SmolLM3-3B" and d["choices"][0]["message"]["content"] == "Only one source here. [1]"'
req POST /v1/chat/completions '{"model":"m"}'
expect_status "chat without messages -> 422" 422
jcheck "422 names messages" '"messages" in d["error"] and d["error_type"] == "Validation"'
req POST /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}]}'
expect_status "chat without model -> 422" 422
jcheck "422 names model" '"model" in d["error"]'
req POST /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]}'
expect_status "5 stop sequences -> 422" 422
req POST /v1/chat/completions '{"model":"m","messages":[{"content":"hi"}]}'
expect_status "message without role -> 422" 422
req POST /v1/chat/completions '{"model":"m","messages":['
expect_status "invalid JSON -> 400" 400
jcheck "invalid JSON error says so" '"Invalid JSON" in d["error"]'

# --- chat streaming (SSE) -----------------------------------------------------------------
STREAM="{\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"$SRC\"}]}"
req POST /v1/chat/completions "$STREAM" -N
expect_status "stream ok" 200
expect_header "stream is text/event-stream" '^content-type: text/event-stream'
expect_header "stream is chunked" '^transfer-encoding: chunked$'
pycheck "SSE framing: data: events, blank-line separated, ends with [DONE]" \
  'b.endswith("data: [DONE]\n\n") and all(e.startswith("data: ") and "\n" not in e for e in b[:-2].split("\n\n"))'
pycheck "SSE chunks: role first, deltas join to the answer, stop, usage chunk" "$(cat <<EOF
(lambda ev: ev[0]["choices"][0]["delta"]["role"] == "assistant"
 and all(e["object"] == "chat.completion.chunk" for e in ev)
 and "".join(e["choices"][0]["delta"].get("content", "") for e in ev if e["choices"]) == "$ANSWER"
 and all(e["choices"][0]["finish_reason"] is None for e in ev[:-2])
 and ev[-2]["choices"][0]["finish_reason"] == "stop" and ev[-2]["choices"][0]["delta"] == {}
 and ev[-1]["choices"] == [] and ev[-1]["usage"]["completion_tokens"] == 13
 and len(ev) == 15)([json.loads(e[6:]) for e in b.split("\n\n")[:-2]])
EOF
)"
req POST /v1/chat/completions '{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}' -N
pycheck "no include_usage -> no usage chunk" '"usage" not in b and b.count("data: ") == 5'

# --- catalogue ----------------------------------------------------------------------------
AUTH=()
req GET /v1/models
AUTH=(-H "Authorization: Bearer $TOKEN")
expect_status "models ok (catalogue needs no token)" 200
jcheck "models catalogue shape" 'd["object"] == "list" and len(d["data"]) >= 3 and all(p["status"] == "live" and p["context_length"] > 0 and set(p["pricing"]) == {"input", "output"} and isinstance(p["is_free"], bool) for m in d["data"] for p in m["providers"]) and any(p["is_free"] for m in d["data"] for p in m["providers"])'

# --- feature extraction -------------------------------------------------------------------
FE=/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction
req POST $FE '{"inputs":["the cat sat on the mat","a cat on a mat","quantum field theory"],"normalize":true}'
expect_status "feature-extraction list" 200
jcheck "list -> 2-D 384, L2-normalized" 'len(d) == 3 and all(len(v) == 384 and abs(sum(x*x for x in v) - 1) < 1e-4 for v in d)'
jcheck "shared words -> higher cosine" '(lambda c: c(d[0], d[1]) > 0.3 and c(d[0], d[1]) > c(d[0], d[2]) + 0.3)(lambda a, b: sum(x*y for x, y in zip(a, b)))'
cp "$WORK/body" "$WORK/fe1"
req POST $FE '{"inputs":"the cat sat on the mat","normalize":true}'
jcheck "string -> 1-D, deterministic" "len(d) == 384 and isinstance(d[0], float) and d == json.load(open('$WORK/fe1'))[0]"
req POST $FE '{"inputs":["the cat sat on the mat"],"normalize":false}'
jcheck "normalize false -> not unit norm" 'abs(sum(x*x for x in d[0]) - 1) > 0.5'
req POST $FE "{\"inputs\":[$(printf '"t%d",' $(seq 1 33) | sed 's/,$//')]}"
expect_status "33 inputs -> 422" 422
jcheck "batch 422 is TEI style" 'd["error_type"] == "Validation" and "32" in d["error"]'
req POST $FE '{"inputs":[]}'
expect_status "empty inputs -> 400" 400
req POST /hf-inference/models/bert/token-level-bert/pipeline/feature-extraction '{"inputs":["one two three","four"]}'
jcheck "token-level model -> 3-D" 'len(d) == 2 and len(d[0]) == 3 and len(d[1]) == 1 and len(d[0][0]) == 384'

# --- cross-encoder via text-classification ------------------------------------------------
CE=/hf-inference/models/cross-encoder/ms-marco-MiniLM-L6-v2
PAIRS='[{"text":"cat mat","text_pair":"the cat"},{"text":"cat mat","text_pair":"a cat on a mat"},{"text":"cat mat","text_pair":"dogs"}]'
req POST $CE "{\"inputs\":$PAIRS,\"parameters\":{\"function_to_apply\":\"none\"}}"
expect_status "classification ok" 200
jcheck "raw logits, a list per input" 'd == [[{"label": "LABEL_0", "score": 0.0}], [{"label": "LABEL_0", "score": 5.0}], [{"label": "LABEL_0", "score": -5.0}]]'
req POST $CE "{\"inputs\":$PAIRS}"
jcheck "sigmoid by default" '[x[0]["score"] for x in d] == [0.5, 0.993307, 0.006693]'
req POST /hf-inference/models/fake/flat-reranker "{\"inputs\":$PAIRS,\"parameters\":{\"function_to_apply\":\"sigmoid\"}}"
jcheck "flat model -> flat list" 'len(d) == 3 and d[1] == {"label": "LABEL_0", "score": 0.993307}'
req POST $CE "{\"inputs\":$PAIRS,\"parameters\":{\"function_to_apply\":\"tanh\"}}"
expect_status "bad function_to_apply -> 422" 422

# --- TEI ----------------------------------------------------------------------------------
req POST /embed '{"inputs":["a b","c"],"normalize":true}'
jcheck "TEI embed -> 2-D normalized" 'len(d) == 2 and all(len(v) == 384 and abs(sum(x*x for x in v) - 1) < 1e-4 for v in d)'
req POST /embed "{\"inputs\":[$(printf '"t%d",' $(seq 1 33) | sed 's/,$//')]}"
expect_status "TEI embed batch 33 -> 422" 422
jcheck "TEI 422 body" 'set(d) == {"error", "error_type"} and d["error_type"] == "Validation"'
req POST /rerank '{"query":"cat mat","texts":["dogs","the cat","a cat on a mat"],"raw_scores":false,"return_text":false,"truncate":true}'
jcheck "TEI rerank sorted by score" 'd == [{"index": 2, "score": 0.993307}, {"index": 1, "score": 0.5}, {"index": 0, "score": 0.006693}]'
req POST /rerank '{"query":"cat mat","texts":["dogs","a cat on a mat"],"raw_scores":true,"return_text":true}'
jcheck "TEI rerank raw_scores + return_text" 'd == [{"index": 1, "score": 5.0, "text": "a cat on a mat"}, {"index": 0, "score": -5.0, "text": "dogs"}]'
req POST /v1/embeddings '{"model":"m","input":["a","b"]}'
jcheck "OpenAI embeddings shape" 'd["object"] == "list" and [e["index"] for e in d["data"]] == [0, 1] and len(d["data"][0]["embedding"]) == 384'

# --- Ollama -------------------------------------------------------------------------------
req POST /api/chat '{"model":"llama3.2","messages":[{"role":"user","content":"[1] Hello world. Bye."}],"options":{"num_ctx":8192,"temperature":0.2}}' -N
expect_status "ollama chat stream ok" 200
expect_header "ollama stream is NDJSON" '^content-type: application/x-ndjson$'
pycheck "NDJSON lines: words then done with counts (ns durations)" "$(cat <<'EOF'
(lambda ls: all(not x["done"] and x["model"] == "llama3.2" and x["created_at"] for x in ls[:-1])
 and "".join(x["message"]["content"] for x in ls) == "Hello world. [1]"
 and ls[-1]["done"] is True and ls[-1]["done_reason"] == "stop" and ls[-1]["eval_count"] == 3
 and ls[-1]["prompt_eval_count"] == 4
 and all(isinstance(ls[-1][k], int) for k in ("total_duration", "eval_duration")))(
 [json.loads(l) for l in b.split("\n")[:-1]]) and b.endswith("}\n")
EOF
)"
req POST /api/chat '{"model":"llama3.2","stream":false,"messages":[{"role":"user","content":"[1] Alpha beta gamma.\n[2] Delta epsilon."}],"options":{"num_ctx":3}}'
jcheck "ollama non-stream: one object; small num_ctx truncates the front" 'd["done"] is True and d["message"]["content"] == "Delta epsilon. [2]" and d["prompt_eval_count"] == 3'
req POST /api/chat '{"model":"llama3.2","stream":false,"messages":[{"role":"user","content":"[1] Alpha beta gamma.\n[2] Delta epsilon."}]}'
jcheck "ollama non-stream default context keeps both" 'd["message"]["content"] == "Alpha beta gamma. [1] Delta epsilon. [2]"'
req POST /api/chat '{"messages":[]}'
expect_status "ollama chat without model -> 400" 400
jcheck "ollama error shape" 'd == {"error": "model is required"}'
req POST /api/embed '{"model":"all-minilm","input":["a b","c"]}'
jcheck "ollama embed shape" 'd["model"] == "all-minilm" and len(d["embeddings"]) == 2 and len(d["embeddings"][0]) == 384'
req GET /_fake/stats
jcheck "num_ctx recorded (null when absent)" 'd["num_ctx_seen"] == [8192, 3, None, None]'

# --- stats --------------------------------------------------------------------------------
reset
req GET /_fake/stats
jcheck "reset zeroes counters" 'd["requests_total"] == 0 and set(d["requests"].values()) == {0} and d["faults_pending"] == 0'
req POST /v1/chat/completions '{"model":"a/b","messages":[{"role":"user","content":"x"}]}' -H 'X-HF-Bill-To: acme'
req POST /v1/chat/completions '{"model":"a/b","stream":true,"messages":[{"role":"user","content":"x"}]}'
req POST $FE '{"inputs":["x"]}'
req POST $CE '{"inputs":[{"text":"x","text_pair":"y"}]}'
req POST /embed '{"inputs":["x"]}'
req POST /rerank '{"query":"x","texts":["y"]}'
req POST /api/chat '{"model":"llama3.2","messages":[{"role":"user","content":"x"}]}'
req POST /api/embed '{"model":"all-minilm","input":"x"}'
req GET /v1/models
req GET /_fake/stats
jcheck "one request per endpoint kind" 'all(d["requests"][k] == 1 for k in ("chat", "chat_stream", "feature_extraction", "classification", "tei_embed", "tei_rerank", "ollama_chat", "ollama_embed", "models"))'
jcheck "by_model counts" 'd["by_model"]["a/b"] == 2 and d["by_model"]["llama3.2"] == 1 and d["by_model"]["cross-encoder/ms-marco-MiniLM-L6-v2"] == 1'
req POST /v1/chat/completions '{"model":"a/b","messages":[{"role":"user","content":"x"}]}' -H 'X-HF-Bill-To: acme'
req GET /_fake/stats
jcheck "last_headers and last_body" 'd["last_headers"]["authorization"] == "Bearer hf_test_token" and d["last_headers"]["x-hf-bill-to"] == "acme" and d["last_body"]["model"] == "a/b"'

# --- fault queue --------------------------------------------------------------------------
reset
fault Qwen 429_retry_after 503_loading ok
Q='{"model":"Qwen/Qwen2.5-7B-Instruct","messages":[{"role":"user","content":"x"}]}'
req POST /v1/chat/completions '{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[{"role":"user","content":"x"}]}'
expect_status "faults do not hit other models" 200
req POST /v1/chat/completions "$Q"
expect_status "fault 1: 429_retry_after" 429
expect_header "Retry-After: 1" '^retry-after: 1$'
jcheck "429 body" 'd == {"error": "Rate limit reached"}'
req POST /v1/chat/completions "$Q"
expect_status "fault 2: 503_loading" 503
jcheck "503 loading body" 'd == {"error": "Model Qwen/Qwen2.5-7B-Instruct is currently loading", "estimated_time": 0.5}'
req POST /v1/chat/completions "$Q"
expect_status "fault 3: ok" 200
req POST /v1/chat/completions "$Q"
expect_status "queue empty: normal" 200
req GET /_fake/stats
jcheck "faults served in order" 'd["faults_served"] == ["429_retry_after", "503_loading", "ok"] and d["faults_pending"] == 0'
grep -q 'POST /v1/chat/completions 429 fault=429_retry_after rid=' "$WORK/main.log" && ok "log line per request" || not_ok "log lacks the 429 line: $(head -c 400 "$WORK/main.log")"

fault /v1/chat 429_ratelimit
req POST /v1/chat/completions "$Q"
expect_status "429_ratelimit" 429
expect_header "RateLimit header" '^ratelimit: "api";r=0;t=1$'
expect_header "RateLimit-Policy header" '^ratelimit-policy: "fixed window";"api";q=1000;w=300$'

fault x/err 500 502 504 500:message 500:detail 402 401 403 404 422 400
X='{"model":"x/err","messages":[{"role":"user","content":"x"}]}'
req POST /v1/chat/completions "$X"; expect_status "500" 500; jcheck "500: plain string" 'isinstance(d["error"], str)'
req POST /v1/chat/completions "$X"; expect_status "502" 502; jcheck "502: list of strings" 'isinstance(d["error"], list) and all(isinstance(s, str) for s in d["error"])'
req POST /v1/chat/completions "$X"; expect_status "504" 504; jcheck "504: error.message" 'isinstance(d["error"]["message"], str)'
req POST /v1/chat/completions "$X"; jcheck "500:message" 'list(d) == ["message"] and h["content-type"] == "application/json"'
req POST /v1/chat/completions "$X"; jcheck "500:detail" 'list(d) == ["detail"]'
req POST /v1/chat/completions "$X"; expect_status "402" 402; jcheck "402 credits" '"exceeded your monthly included credits" in d["error"]'
req POST /v1/chat/completions "$X"; expect_status "401 fault" 401; expect_header "401 fault X-Error-Message" '^x-error-message: .+'
req POST /v1/chat/completions "$X"; expect_status "403" 403
req POST /v1/chat/completions "$X"; expect_status "404" 404; jcheck "404 body" 'd == {"error": "Model not found"}'
req POST /v1/chat/completions "$X"; expect_status "422" 422; jcheck "422 TEI style" 'd["error_type"] == "Validation" and d["error"]'
req POST /v1/chat/completions "$X"; expect_status "400" 400; jcheck "400 names the model" '"x/err" in d["error"]'

fault x/text 500:text
req POST /v1/chat/completions '{"model":"x/text","messages":[{"role":"user","content":"x"}]}'
expect_status "500:text" 500
pycheck "500:text is a plain-text body" 'h["content-type"].startswith("text/plain") and not parses(b) and "500" in b'

fault /rerank 422
req POST /embed '{"inputs":["a"]}'
expect_status "path match: /embed unaffected" 200
req POST /rerank '{"query":"a","texts":["b"]}'
expect_status "path match: /rerank faulted" 422

fault x/slow slow:1 slow:1
S='{"model":"x/slow","messages":[{"role":"user","content":"x"}]}'
req POST /v1/chat/completions "$S" --max-time 0.3
expect_crc "slow:1 beyond the client deadline -> timeout" 28
req POST /v1/chat/completions "$S"
if [ "$ST" = 200 ] && awk -v t="$TIME" 'BEGIN{exit !(t >= 1.0)}'; then ok "slow:1 answers after >= 1 s ($TIME s)"; else not_ok "slow:1: HTTP $ST after $TIME s"; fi

fault x/bad malformed_json truncated_body close oversize oversize_chunked
B='{"model":"x/bad","messages":[{"role":"user","content":"x"}]}'
req POST /v1/chat/completions "$B"
expect_status "malformed_json is a 200" 200
pycheck "malformed_json starts like a chat body" 'b.startswith("{\"choices\": [")'
pycheck "malformed_json is rejected by a JSON parser" 'not parses(b)'
req POST /v1/chat/completions "$B"
expect_crc "truncated_body: curl reports the short body" 18
req POST /v1/chat/completions "$B"
expect_crc "close: empty reply" 52
req POST /v1/chat/completions "$B"
size=$(stat -c %s "$WORK/body")
if [ "$ST" = 200 ] && [ "$size" -ge 12582912 ]; then ok "oversize: 200 with $size bytes"; else not_ok "oversize: HTTP $ST, $size bytes"; fi
expect_header "oversize has a Content-Length" '^content-length: 12582912$'
jcheck "oversize body is valid JSON numbers" 'isinstance(d, list) and all(isinstance(x, (int, float)) for x in d)'
req POST /v1/chat/completions "$B"
size=$(stat -c %s "$WORK/body")
if [ "$size" -ge 12582912 ] && grep -qi '^transfer-encoding: chunked' <<<"$HDRS"; then ok "oversize_chunked: chunked, $size bytes"; else not_ok "oversize_chunked: $size bytes; $HDRS"; fi

fault x/sse sse_cut sse_error sse_error_flat
SS='{"model":"x/sse","stream":true,"messages":[{"role":"user","content":"[1] One two three four five six."}]}'
req POST /v1/chat/completions "$SS" -N
expect_crc "sse_cut: curl sees the unterminated chunked body" 18
pycheck "sse_cut: 3 events, no [DONE]" 'b.count("data: ") == 3 and "[DONE]" not in b'
req POST /v1/chat/completions "$SS" -N
expect_crc "sse_error: stream ends cleanly" 0
pycheck "sse_error: 2 chunks then {error:{message}}, no [DONE]" '(lambda ev: len(ev) == 3 and "choices" in ev[1] and ev[2] == {"error": {"message": "Internal error"}})([json.loads(e[6:]) for e in b.split("\n\n") if e]) and "[DONE]" not in b'
req POST /v1/chat/completions "$SS" -N
pycheck "sse_error_flat: {error, error_type}" '(lambda ev: set(ev[-1]) == {"error", "error_type"} and len(ev) == 3)([json.loads(e[6:]) for e in b.split("\n\n") if e])'

fault x/noise sse_noise
req POST /v1/chat/completions '{"model":"x/noise","stream":true,"messages":[{"role":"user","content":"[1] One two."}]}' -N
pycheck "sse_noise: comments and event: lines around the same data events" '": ping" in b and "event: message" in b and "".join(json.loads(l[6:])["choices"][0]["delta"].get("content", "") for l in b.split("\n") if l.startswith("data: {")) == "One two. [1]" and b.rstrip().endswith("data: [DONE]")'

fault llama ndjson_error sse_cut
OL='{"model":"llama3.2","messages":[{"role":"user","content":"[1] One two three four five six."}]}'
req POST /api/chat "$OL" -N
pycheck "ndjson_error: 2 lines then {error}" '(lambda ls: len(ls) == 3 and not ls[1]["done"] and list(ls[2]) == ["error"])([json.loads(l) for l in b.split("\n") if l])'
req POST /api/chat "$OL" -N
expect_crc "ollama sse_cut: unterminated body" 18
pycheck "ollama cut: 3 lines, no done" 'b.count("\n") == 3 and "\"done\":true" not in b'

req POST /_fake/faults '{"match":"x","faults":["503_loadin"]}'
expect_status "unknown fault name -> 400" 400
jcheck "unknown fault named" '"503_loadin" in d["error"]'
req POST /_fake/faults '{"match":"x/sticky","faults":["ok","404"],"sticky":true}'
X='{"model":"x/sticky","messages":[{"role":"user","content":"x"}]}'
req POST /v1/chat/completions "$X"; expect_status "sticky queue: first fault" 200
req POST /v1/chat/completions "$X"; expect_status "sticky queue: last fault" 404
req POST /v1/chat/completions "$X"; expect_status "sticky queue: last fault repeats" 404
reset
req POST /v1/chat/completions "$X"; expect_status "reset clears faults" 200

# --- fault queue: clear ----------------------------------------------------------------------
fault x/clear 500 500 500
req POST /_fake/faults '{"match":"x/clear","faults":[],"clear":true}'
jcheck "clear drops the pending faults of that match" 'd == {"queued": 0, "pending": 0, "cleared": 3}'
req POST /v1/chat/completions '{"model":"x/clear","messages":[{"role":"user","content":"x"}]}'
expect_status "cleared queue: normal" 200

# --- chaos mode -------------------------------------------------------------------------------
for bad in '{"rate":1.5}' '{"rate":0.3,"faults":["503_loadin"]}' '{"rate":0.3,"rates":1}' \
           '{"rate":0.3,"faults":[]}' '{"rate":0.3,"faults":{"500":-1}}' '{"rate":"0.3"}' '{"rate":0.3,"seed":1.5}' \
           '{"rate":0.3,"faults":[["500"]]}' '[0.3]'; do
  req POST /_fake/chaos "$bad"
  expect_status "chaos $bad -> 400" 400
done
req POST /_fake/chaos '{"rate":0.3,"faults":["503_loadin"]}'
jcheck "bad chaos fault named" '"503_loadin" in d["error"]'
req POST /_fake/chaos '{"rate":0.3,"rates":1}'
jcheck "unknown chaos key named" '"rates" in d["error"]'
req POST /_fake/faults '{"match":"x","faults":["429_retry_after:x"]}'
expect_status "429_retry_after:x -> 400" 400

reset
req POST /_fake/chaos '{"rate":0.3}'
expect_status "chaos on with the default mix" 200
jcheck "default mix: the 429s ask for 0 s, 402 is rare" 'd["chaos"]["seed"] == 0 and d["chaos"]["faults"]["429_retry_after:0"] == 1 and d["chaos"]["faults"]["402"] < 1 and {"429_ratelimit:0", "503_loading", "500", "502", "504", "slow:0.2", "malformed_json", "truncated_body", "sse_cut", "sse_error", "close"} < set(d["chaos"]["faults"])'
req POST /_fake/chaos '{"rate":1,"seed":7,"match":"x/chaos","faults":["503_loading"]}'
jcheck "chaos config echoed" 'd["chaos"] == {"rate": 1.0, "seed": 7, "match": "x/chaos", "faults": {"503_loading": 1}}'
XC='{"model":"x/chaos","messages":[{"role":"user","content":"x"}]}'
req POST /v1/chat/completions '{"model":"x/calm","messages":[{"role":"user","content":"x"}]}'
expect_status "chaos: a non-matching model is not faulted" 200
fault x/chaos 404
req POST /v1/chat/completions "$XC"
expect_status "chaos: a queued fault takes precedence" 404
req POST /v1/chat/completions "$XC"
expect_status "chaos rate 1: every matching call faulted" 503
grep -q 'POST /v1/chat/completions 503 fault=chaos/503_loading rid=' "$WORK/main.log" && ok "chaos faults logged as fault=chaos/<name>" || not_ok "no chaos log line"
req GET /_fake/stats
jcheck "stats: chaos faults by name and endpoint, queued faults apart" 'd["chaos"]["faults_served"] == {"503_loading": 1} and d["chaos"]["by_kind"] == {"chat": {"503_loading": 1}} and d["chaos"]["requests"] == 1 and d["chaos"]["faults_total"] == 1 and d["faults_served"] == ["404"]'

# the 0 s variants of the rate-limit faults
req POST /_fake/chaos '{"rate":1,"match":"x/chaos","faults":{"429_retry_after:0":1}}'
req POST /v1/chat/completions "$XC"
expect_status "429_retry_after:0" 429
expect_header "Retry-After: 0" '^retry-after: 0$'
req POST /_fake/chaos '{"rate":1,"match":"x/chaos","faults":["429_ratelimit:0"]}'
req POST /v1/chat/completions "$XC"
expect_header "429_ratelimit:0: RateLimit t=0" '^ratelimit: "api";r=0;t=0$'

# deterministic under a seed: the same requests get the same faults, whatever came before
chaos_run() { # chaos_run SEED: statuses of 30 distinct requests, each sent twice
  curl -sS -o /dev/null --data-binary "{\"rate\":0.5,\"seed\":$1,\"match\":\"x/det\",\"faults\":[\"500\",\"502\"]}" "$BASE/_fake/chaos"
  local i out=""
  for i in $(seq 1 30); do
    for _ in 1 2; do
      out+=$(curl -sS -o /dev/null -w '%{http_code} ' "${AUTH[@]}" -H 'Content-Type: application/json' \
        --data-binary "{\"model\":\"x/det\",\"messages\":[{\"role\":\"user\",\"content\":\"q$i\"}]}" \
        "$BASE/v1/chat/completions")
    done
  done
  echo "$out"
}
RUN1=$(chaos_run 11)
RUN2=$(chaos_run 11)
RUN3=$(chaos_run 12)
[ "$RUN1" = "$RUN2" ] && ok "same seed, same requests -> same faults" || not_ok "seed 11 gave $RUN1 then $RUN2"
[ "$RUN1" != "$RUN3" ] && ok "another seed -> other faults" || not_ok "seeds 11 and 12 gave the same: $RUN1"
NF=$(printf '%s' "$RUN1" | tr ' ' '\n' | grep -c '^50[02]$' || true)
if [ "$NF" -ge 15 ] && [ "$NF" -le 45 ]; then ok "rate 0.5: $NF of 60 calls faulted"; else not_ok "rate 0.5: $NF of 60 calls faulted"; fi
pairs=$(printf '%s' "$RUN1" | awk '{for (i = 1; i < NF; i += 2) if ($i != $(i + 1)) n++; print n + 0}')
[ "$pairs" -gt 0 ] && ok "a repeated request draws again (retries are not doomed)" || not_ok "repeats always got the same status: $RUN1"
req POST /_fake/chaos '{"rate":0}'
jcheck "rate 0 turns chaos off" 'd["chaos"]["rate"] == 0'
req POST /v1/chat/completions '{"model":"x/det","messages":[{"role":"user","content":"q1"}]}'
expect_status "chaos off: normal" 200
req GET /_fake/stats
jcheck "counters survive rate 0" 'd["chaos"]["rate"] == 0 and d["chaos"]["requests"] == 183 and d["chaos"]["faults_total"] >= 40'
reset
req GET /_fake/stats
jcheck "reset clears chaos counters" 'd["chaos"]["requests"] == 0 and d["chaos"]["faults_served"] == {} and d["chaos"]["rate"] == 0'

# --- request framing: chunked request bodies, size cap --------------------------------------
req POST /embed '{"inputs":["a"]}' -H 'Transfer-Encoding: chunked'
expect_status "chunked request body accepted" 200
head -c 9000000 /dev/zero | tr '\0' 'a' > "$WORK/big"
req POST /embed "" --data-binary @"$WORK/big"
expect_status "request body over 8 MiB -> 413" 413
jcheck "413 names the sizes" '"9000000" in d["error"]'
rm -f "$WORK/big"

# --- plumbing: unknown paths, keep-alive --------------------------------------------------
req GET /nope
expect_status "unknown path -> 404" 404
expect_header "404 has x-request-id" '^x-request-id: '
req GET /v1/chat/completions
expect_status "wrong method -> 405" 405

curl -sv -o /dev/null -o /dev/null "$BASE/v1/models" "$BASE/v1/models" 2>"$WORK/v"
grep -q "Re-using existing connection" "$WORK/v" && ok "keep-alive: GET reuses the connection" || not_ok "keep-alive: no reuse: $(grep '^[*<>]' "$WORK/v" | head -20)"
curl -sv -o /dev/null -N "${AUTH[@]}" --data-binary "$STREAM" "$BASE/v1/chat/completions" \
  --next -o /dev/null -H "Authorization: Bearer bad" --data-binary "$Q" "$BASE/v1/chat/completions" \
  --next -o /dev/null "$BASE/v1/models" 2>"$WORK/v"
[ "$(grep -c 'Re-using existing connection' "$WORK/v")" -eq 2 ] && ok "keep-alive after a chunked stream and a 401" || not_ok "keep-alive after stream/401: $(grep -E '^\* (Re-using|Connected|Closing)' "$WORK/v")"

# --- a server without --token; SIGTERM exits 0 --------------------------------------------
MAIN_PID=$SPID
start_server open
BASE="http://127.0.0.1:$PORT"
AUTH=()
req POST /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"hi"}]}'
expect_status "no --token: no auth needed" 200
AUTH=(-H "Authorization: Bearer $TOKEN")
for p in "$MAIN_PID" "$SPID"; do
  kill -TERM "$p"
  rc=0
  for i in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  wait "$p"; rc=$?
  [ "$rc" -eq 0 ] && ok "SIGTERM: clean exit 0" || not_ok "SIGTERM: exit $rc; $(tail -5 "$WORK"/*.stderr)"
done
[ ! -s "$WORK/main.stderr" ] && ok "no server errors on stderr" || not_ok "server stderr: $(head -c 600 "$WORK/main.stderr")"

finish
