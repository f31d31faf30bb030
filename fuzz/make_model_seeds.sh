#!/usr/bin/env bash
# Regenerates the seeds of fuzz/corpus/models_responses (real response bodies captured from the
# in-repo API test server tests/fakehf/fakehf.py, plus the example bodies of
# shared/reference/hf-api.md), fuzz/corpus/local_safetensors (tiny valid files) and
# fuzz/corpus/local_tokenizer_json (all-MiniLM-L6-v2's tokenizer.json cut down to a small
# vocabulary, and variants). Needs python3 and curl; RAGC_SHARED_DIR (default <repo>/../shared)
# for the tokenizer. The seeds are committed, so this is only needed when a wire format changes.
#
# models_responses seeds start with the selector byte of fuzz_models_responses.c: low nibble =
# parser (0 hf_embed, 1 tei_embed, 2 ollama_embed, 3 hf_rerank, 4 tei_rerank, 5 chat,
# 6 chat_sse, 7 ollama_chat, 8 catalog), high nibble = its parameter.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${RAGC_SHARED_DIR:-$SRC/../shared}
OUT_M="$SRC/fuzz/corpus/models_responses"
OUT_S="$SRC/fuzz/corpus/local_safetensors"
OUT_T="$SRC/fuzz/corpus/local_tokenizer_json"
mkdir -p "$OUT_M" "$OUT_S" "$OUT_T"
TMP=$(mktemp -d)
python3 -S "$SRC/tests/fakehf/fakehf.py" --port 0 --port-file "$TMP/port" &
FAKE=$!
trap 'kill $FAKE 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
BASE="http://127.0.0.1:$(cat "$TMP/port")"
fault() { curl -s -X POST "$BASE/_fake/faults" -d "{\"match\":\"\",\"faults\":[\"$1\"]}" >/dev/null; }

# seed NAME SELECTOR-HEX METHOD PATH [BODY]: one captured response body with its selector byte
seed() {
  local name=$1 sel=$2 method=$3 path=$4 body=${5:-}
  { printf "\\x$sel"
    if [ "$method" = GET ]; then curl -s "$BASE$path"; else curl -s -N -X POST "$BASE$path" -d "$body"; fi
  } > "$OUT_M/$name"
}
MSG='[1] The pump must be primed before use. Then open the valve.\n\nQuestion: how do I start the pump?'
FE=/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction
seed hf_embed_2d 00 POST "$FE" '{"inputs":["pump","valve"],"normalize":true,"truncate":true}'
seed hf_embed_1d 10 POST "$FE" '{"inputs":"pump","normalize":false}'
seed hf_embed_3d 00 POST /hf-inference/models/fake/token-level/pipeline/feature-extraction '{"inputs":["pump"]}'
seed hf_embed_4d 00 POST /hf-inference/models/fake/token-level-4d/pipeline/feature-extraction '{"inputs":["pump"]}'
seed tei_embed 01 POST /embed '{"inputs":["pump"],"normalize":true,"truncate":true}'
seed tei_embed_two_norm c1 POST /embed '{"inputs":["valve"],"normalize":false}'
seed ollama_embed 02 POST /api/embed '{"model":"all-minilm","input":["pump"]}'
seed ollama_embed_norm 82 POST /api/embed '{"model":"all-minilm","input":["valve"]}'
PAIRS='[{"text":"start the pump","text_pair":"The pump must be primed."},{"text":"start the pump","text_pair":"Filters are cleaned monthly."}]'
seed hf_rerank_nested 03 POST /hf-inference/models/cross-encoder/ms-marco-MiniLM-L6-v2 \
  "{\"inputs\":$PAIRS,\"parameters\":{\"function_to_apply\":\"none\"}}"
seed hf_rerank_flat 43 POST /hf-inference/models/fake/flat-classifier \
  "{\"inputs\":$PAIRS,\"parameters\":{\"function_to_apply\":\"none\"}}"
TEXTS='"texts":["Filters are cleaned monthly.","The pump must be primed.","Open the valve."]'
seed tei_rerank 04 POST /rerank "{\"query\":\"start the pump\",$TEXTS,\"raw_scores\":true,\"return_text\":false}"
seed tei_rerank_offset 44 POST /rerank "{\"query\":\"pump\",$TEXTS,\"raw_scores\":false}"
CHAT="{\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"messages\":[{\"role\":\"user\",\"content\":\"$MSG\"}]"
seed chat 05 POST /v1/chat/completions "$CHAT,\"max_tokens\":256}"
seed chat_length 15 POST /v1/chat/completions "$CHAT,\"max_tokens\":3}"
seed chat_sse 06 POST /v1/chat/completions "$CHAT,\"stream\":true,\"stream_options\":{\"include_usage\":true}}"
fault sse_error
seed chat_sse_error 06 POST /v1/chat/completions "$CHAT,\"stream\":true}"
OLLAMA="{\"model\":\"llama3.2\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":\"$MSG\"}]"
seed ollama_chat 07 POST /api/chat "$OLLAMA}"
seed ollama_chat_length 07 POST /api/chat "$OLLAMA,\"options\":{\"num_predict\":2}}"
seed catalog 08 GET /v1/models
seed catalog_provider 88 GET /v1/models
seed catalog_cheapest 58 GET /v1/models

# The example bodies of shared/reference/hf-api.md (and the error shapes a 2xx may carry).
w() { printf "\\x$2%s" "$3" > "$OUT_M/$1"; }
w ref_chat 05 '{"id":"...","created":1760000000,"model":"...","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Hello!"}}],"usage":{"prompt_tokens":20,"completion_tokens":3,"total_tokens":23}}'
w ref_chat_error_key 05 '{"error":{"message":"bad key sk-FuzzSecretKey0123456789 for hf_abcdefghijkl"}}'
w ref_sse_usage 06 $'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\ndata: {"choices":[{"index":0,"delta":{"content":"lo!"},"finish_reason":"stop"}]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":3,"total_tokens":23}}\n\ndata: [DONE]\n\n'
w ref_sse_error 06 $'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: {"error":"Internal error","error_type":"generation"}\n\n'
w ref_embed_2d 00 '[[0.1,-0.2,0.3],[0.4,0.5,-0.6]]'
w ref_embed_1d 10 '[0.1,-0.2,0.3]'
w ref_embed_3d 00 '[[[0.1,0.2],[0.3,0.4]],[[0.5,0.6],[0.7,0.8]]]'
w ref_rerank_nested 03 '[[{"label":"LABEL_0","score":2.2}],[{"label":"LABEL_0","score":-1.5}]]'
w ref_rerank_two_labels 13 '[[{"label":"LABEL_0","score":0.1},{"label":"LABEL_1","score":0.9}]]'
w ref_rerank_flat 03 '[{"label":"LABEL_0","score":2.2},{"label":"LABEL_0","score":-1.5}]'
w ref_tei_rerank 04 '[{"index":1,"score":0.98},{"index":0,"score":0.01}]'
w ref_ollama_embed 02 '{"embeddings":[[0.1,0.2],[0.3,0.4]],"prompt_eval_count":4}'
w ref_ollama_chat 07 '{"model":"llama3.2","message":{"role":"assistant","content":"The"},"done":true,"done_reason":"stop","prompt_eval_count":12,"eval_count":1}'
w ref_ollama_error 07 '{"error":"model \"llama3.2\" not found, try pulling it first"}'
# a finish reason longer than the 16-byte field, cut inside "é" (tests/fixtures/regress/models)
w ref_chat_finish_cut 05 $'{"choices":[{"message":{"content":"x"},"finish_reason":"aaaaaaaaaaaaaa\xc3\xa9"}]}'
w ref_ollama_done_cut 07 $'{"message":{"content":"x"},"done":true,"done_reason":"aaaaaaaaaaaaaa\xc3\xa9"}'
w ref_catalog 88 '{"object":"list","data":[{"id":"Qwen/Qwen2.5-7B-Instruct","providers":[{"provider":"together","status":"live","context_length":32768,"pricing":{"input":0.3,"output":0.3},"is_free":false},{"provider":"featherless-ai","status":"staging","pricing":{"input":0.1,"output":0.1}}]}]}'

# safetensors: tiny valid files (8-byte little-endian header length, JSON header, data).
python3 - "$OUT_S" <<'PY'
import json, struct, sys
out = sys.argv[1]
def st(name, tensors, meta=None):
    hdr, data = {}, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for tname, dtype, shape, raw in tensors:
        hdr[tname] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    open(f"{out}/{name}", "wb").write(struct.pack("<Q", len(h)) + h + data)
f32 = struct.pack("<6f", 1.0, -2.0, 0.5, 3.25, -0.0, 1e-3)
st("tiny_f32.safetensors", [("w", "F32", [2, 3], f32), ("b", "F32", [3], struct.pack("<3f", 0.1, 0.2, 0.3))],
   {"format": "pt"})
st("dtypes.safetensors", [("h", "F16", [2], struct.pack("<2e", 1.5, -2.0)), ("bf", "BF16", [2], b"\x80\x3f\x00\xc0"),
                         ("d", "F64", [1], struct.pack("<d", 2.5)), ("i", "I64", [2], struct.pack("<2q", 0, 1)),
                         ("s", "F32", [], struct.pack("<f", 7.0)), ("e", "F32", [0, 4], b""),
                         ("m", "BOOL", [2], b"\x01\x00"), ("q", "I8", [1], b"\x7f"), ("u", "U8", [1], b"\xff"),
                         ("i32", "I32", [1], struct.pack("<i", -5))])
st("empty_header.safetensors", [])
PY

# tokenizer.json: the real all-MiniLM-L6-v2 file with its vocabulary cut to the special tokens,
# the first letters / digits / punctuation and some words and ## pieces (ids renumbered), and
# two variants (TemplateProcessing post-processor; no normalizer and single_word added token).
python3 - "$SHARED/data/fixtures/hf/sentence-transformers/all-MiniLM-L6-v2/tokenizer.json" "$OUT_T" <<'PY'
import json, sys
src, out = sys.argv[1], sys.argv[2]
tok = json.load(open(src, encoding="utf-8"))
vocab = tok["model"]["vocab"]
keep = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
words = ["the", "pump", "must", "be", "primed", "before", "use", "open", "valve", "un", "##am", "##big", "##uous",
         "##ing", "##s", "na", "##ive", "cafe", "hello", "world", "end"]
by_id = sorted(vocab.items(), key=lambda kv: kv[1])
keep += [t for t, i in by_id if len(t) == 1 and (t.isascii() or i < 2000)][:120]
keep += [t for t, i in by_id if t.startswith("##") and len(t) == 3][:60]
keep += [w for w in words if w in vocab]
seen, small = set(), {}
for t in keep:
    if t not in seen:
        seen.add(t)
        small[t] = len(small)
tok["model"]["vocab"] = small
ids = {t: i for t, i in small.items()}
for a in tok.get("added_tokens", []):
    if a["content"] in ids:
        a["id"] = ids[a["content"]]
pp = tok.get("post_processor") or {}
for k in ("cls", "sep"):
    if isinstance(pp.get(k), list):
        pp[k][1] = ids[pp[k][0]]
for k, v in (pp.get("special_tokens") or {}).items():
    v["ids"] = [ids[t] for t in v["tokens"]]
if isinstance(tok.get("padding"), dict):
    tok["padding"]["pad_id"] = ids[tok["padding"]["pad_token"]]
def dump(name, obj):
    open(f"{out}/{name}", "w", encoding="utf-8").write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
dump("minilm_cut.json", tok)
t2 = json.loads(json.dumps(tok))
t2["post_processor"] = {"type": "TemplateProcessing",
                        "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                   {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                        "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [ids["[CLS]"]], "tokens": ["[CLS]"]},
                                           "[SEP]": {"id": "[SEP]", "ids": [ids["[SEP]"]], "tokens": ["[SEP]"]}}}
t2["padding"] = {"pad_id": ids["[PAD]"], "pad_token": "[PAD]"}
dump("template.json", t2)
t3 = json.loads(json.dumps(tok))
t3["normalizer"] = None
t3["model"]["max_input_chars_per_word"] = 8
t3["added_tokens"].append({"id": ids["pump"], "content": "pump", "single_word": True, "lstrip": False,
                           "rstrip": False, "normalized": False, "special": False})
dump("cased_single_word.json", t3)
PY
ls "$OUT_M" "$OUT_S" "$OUT_T" | wc -l
