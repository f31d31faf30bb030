#!/usr/bin/env bash
# `ragc eval --retriever bm25|dense|hybrid|hybrid-rerank` on a small SciFact subset (300 short
# abstracts, 20 train queries whose relevant abstracts are in it) with the random-weight MiniLM-L6
# encoder and cross-encoder of tests/reference/make_model.py. Random weights make the dense
# metrics meaningless; what is checked is the plumbing:
# - every variant runs and prints metrics; the corpus is embedded once and reused;
# - the hybrid run equals RRF(k=60) of the bm25 and dense runs, recomputed here in Python from the
#   run files (document lists identical, in trec_eval order: score desc, doc id desc);
# - the hybrid-rerank run is hybrid's top N reordered by the cross-encoder: a permutation of it,
#   the tail unchanged, and its scores equal the logits that tests/reference/torch_bert.py (an
#   independent PyTorch BERT) computes from the stored passages with an independent WordPiece
#   tokenizer written below;
# - int8 agrees with f32; every query searches one in-memory copy of the space (loaded once);
#   bad usage fails with a clear message.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import numpy' 2>/dev/null || { not_ok "python3-numpy is missing (scripts/install-deps.sh installs it)"; finish; exit 1; }
"$PY" "$RAGC_SOURCE_DIR/tests/reference/make_model.py" --out "$WORK/st" --cross "$WORK/ce" >/dev/null \
  || { not_ok "make_model.py failed"; finish; exit 1; }

# The subset: 20 train queries whose relevant abstracts have at most 160 words, those abstracts,
# and the shortest other abstracts up to 300 (short passages keep the encoders fast).
S="$WORK/sub"
mkdir -p "$S"
"$PY" - "$RAGC_SHARED_DIR/data/scifact" "$S" <<'PY'
import json, sys
src, out = sys.argv[1], sys.argv[2]
docs = {}
order = []
for line in open(f"{src}/corpus.jsonl"):
    d = json.loads(line)
    docs[d["_id"]] = (len((d["title"] + " " + d["text"]).split()), line)
    order.append(d["_id"])
qrels = {}
with open(f"{src}/qrels/train.tsv") as f:
    next(f)
    for line in f:
        q, d, s = line.rstrip("\n").split("\t")
        qrels.setdefault(q, []).append((d, s))
keep = [q for q in qrels if all(docs[d][0] <= 160 for d, _ in qrels[q])][:20]
rel = {d for q in keep for d, _ in qrels[q]}
fill = sorted((n, i) for i, (n, _) in docs.items() if i not in rel)[: 300 - len(rel)]
chosen = rel | {i for _, i in fill}
with open(f"{out}/corpus.jsonl", "w") as f:
    f.writelines(docs[i][1] for i in order if i in chosen)
with open(f"{out}/qrels.tsv", "w") as f:
    f.write("query-id\tcorpus-id\tscore\n")
    f.writelines(f"{q}\t{d}\t{s}\n" for q in keep for d, s in qrels[q])
with open(f"{src}/queries.jsonl") as fi, open(f"{out}/queries.jsonl", "w") as fo:
    fo.writelines(l for l in fi if json.loads(l)["_id"] in set(keep))
PY
EVAL=(eval --json --corpus "$S/corpus.jsonl" --queries "$S/queries.jsonl" --qrels "$S/qrels.tsv")
metrics_ok="d['queries'] == 20 and all(0 <= d[m] <= 1 for m in ('ndcg@10', 'recall@100', 'mrr@10'))"

# ---- usage errors first (fast) ----
run_ragc "${EVAL[@]}" --retriever dense
expect_rc "dense without an embedder: usage error" 2
expect_in "dense without an embedder: says what to do" "$ERR" "--retriever dense needs an embedder, and embedder.chain has none: pass --model DIR_OR_ID"
run_ragc "${EVAL[@]}" --retriever sparse
expect_rc "unknown retriever" 2
expect_in "unknown retriever: lists the names" "$ERR" "retriever 'sparse' is not one of: bm25, dense, hybrid, hybrid-rerank"
run_ragc "${EVAL[@]}" --retriever hybrid --model "$WORK/st" --reranker-model "$WORK/ce"
expect_rc "--reranker-model without hybrid-rerank" 2
expect_in "--reranker-model without hybrid-rerank: says so" "$ERR" "--reranker-model has no effect with --retriever hybrid"
run_ragc "${EVAL[@]}" --model "$WORK/st"
expect_rc "--model with bm25" 2
run_ragc "${EVAL[@]}" --retriever dense --model "$WORK/st" --dense-precision int4
expect_rc "bad --dense-precision" 2
expect_in "bad --dense-precision: says so" "$ERR" "--dense-precision must be f32 or int8, got 'int4'"
run_ragc "${EVAL[@]}" --retriever hybrid-rerank --model "$WORK/st" --reranker-model "$WORK/ce" --rerank-candidates 0
expect_rc "bad --rerank-candidates" 2
run_ragc "${EVAL[@]}" --retriever dense --model "$WORK/no-such-model"
expect_rc "missing model directory: error" 1
expect_in "missing model directory: named" "$ERR" "no-such-model"
run_ragc "${EVAL[@]}" --run "$WORK/no/such/dir/run.txt"
expect_rc "unwritable --run" 1
expect_in "unwritable --run: named" "$ERR" "--run $WORK/no/such/dir/run.txt: cannot write"

# ---- the four variants (dense embeds the corpus; the others reuse its vectors) ----
run_ragc "${EVAL[@]}" --retriever bm25 --run "$WORK/bm25.run"
expect_rc "bm25 runs" 0
json_check "bm25 metrics" "$OUT" "$metrics_ok and d['retriever'] == 'bm25' and 'space' not in d"
run_ragc "${EVAL[@]}" --retriever dense --model "$WORK/st" --run "$WORK/dense.run"
expect_rc "dense runs" 0
json_check "dense metrics, corpus embedded" "$OUT" \
  "$metrics_ok and d['space'] == '$(realpath "$WORK/st")' and d['dim'] == 384 and d['chunks_embedded'] >= 300 and d['chunks_reused'] == 0 and d['precision'] == 'f32'"
expect_in "dense: embedding progress on stderr" "$ERR" "ragc eval: embedding"
n_chunks=$(printf '%s' "$OUT" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["chunks_embedded"])' || echo 0)
run_ragc "${EVAL[@]}" --retriever hybrid --model "$WORK/st" --run "$WORK/hybrid.run"
expect_rc "hybrid runs" 0
json_check "hybrid metrics, vectors reused" "$OUT" \
  "$metrics_ok and d['chunks_embedded'] == 0 and d['chunks_reused'] == $n_chunks and d['fusion'] == 'rrf' and d['rrf_k'] == 60 and d['dense_index_loads'] == 1"
run_ragc "${EVAL[@]}" --retriever hybrid-rerank --model "$WORK/st" --reranker-model "$WORK/ce" \
  --rerank-candidates 10 --run "$WORK/rerank.run"
expect_rc "hybrid-rerank runs" 0
json_check "hybrid-rerank metrics" "$OUT" \
  "$metrics_ok and d['rerank_candidates'] == 10 and d['reranker'] == 'local:$WORK/ce' and d['rerank_ms_p50'] > 0"
STORE=$(printf '%s' "$OUT" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["store"])' || echo none)
run_ragc "${EVAL[@]}" --retriever dense --model "$WORK/st" --dense-precision int8 --run "$WORK/int8.run"
expect_rc "dense int8 runs" 0
json_check "dense int8: int8 index, a quarter of the bytes" "$OUT" \
  "$metrics_ok and d['precision'] == 'int8' and d['dense_kernel'].startswith('int8') and d['dense_index_bytes'] == $n_chunks * (384 + 20)"

# ---- hybrid == RRF(k=60) of the bm25 and dense runs, recomputed independently ----
check() { # NAME PYTHON-SCRIPT ARGS...: the script prints "ok" or the reason
  local name=$1 script=$2
  shift 2
  local res
  res=$("$PY" -c "$script" "$@" 2>&1) || true
  if [ "$res" = ok ]; then ok "$name"; else not_ok "$name: ${res:0:800}"; fi
}
READ_RUN='
def read_run(path):
    runs = {}
    for line in open(path):
        q, q0, d, rank, score, tag = line.split()
        runs.setdefault(q, []).append((int(rank), d, float(score)))
    return {q: [(d, s) for _, d, s in sorted(v)] for q, v in runs.items()}
'
check "hybrid run == RRF(k=60) of the bm25 and dense run files" "$READ_RUN"'
import sys
bm, de, hy = (read_run(p) for p in sys.argv[1:4])
assert set(hy) == set(bm) and len(hy) == 20, "queries differ"
for q in hy:
    score = {}
    for run in (bm, de):
        for rank, (d, _) in enumerate(run.get(q, []), 1):
            score[d] = score.get(d, 0.0) + 1.0 / (60 + rank)
    want = [d for d, s in sorted(score.items(), key=lambda x: (x[1], x[0]), reverse=True)][:100]
    got = [d for d, _ in hy[q]]
    assert got == want, f"query {q}: first difference at rank {next(i for i, (a, b) in enumerate(zip(got + [None], want + [None])) if a != b) + 1}"
print("ok")' "$WORK/bm25.run" "$WORK/dense.run" "$WORK/hybrid.run"

check "hybrid-rerank: top 10 a permutation of hybrid's, tail unchanged, scores non-increasing, order changed" "$READ_RUN"'
import sys
hy, rr = read_run(sys.argv[1]), read_run(sys.argv[2])
changed = 0
for q in hy:
    h, r = [d for d, _ in hy[q]], [d for d, _ in rr[q]]
    assert sorted(h[:10]) == sorted(r[:10]), f"query {q}: reranked top 10 is not hybrid top 10"
    assert h[10:] == r[10:], f"query {q}: the tail moved"
    s = [x for _, x in rr[q]]
    assert all(a >= b for a, b in zip(s, s[1:])), f"query {q}: scores not sorted"
    changed += h[:10] != r[:10]
assert changed >= 10, f"only {changed} of 20 queries reordered"
print("ok")' "$WORK/hybrid.run" "$WORK/rerank.run"

check "dense int8 top-10 overlaps f32 top-10 by >= 0.8" "$READ_RUN"'
import sys
f, i = read_run(sys.argv[1]), read_run(sys.argv[2])
ov = sum(len({d for d, _ in f[q][:10]} & {d for d, _ in i[q][:10]}) for q in f) / (10 * len(f))
assert ov >= 0.8, f"overlap {ov:.2f}"
print("ok")' "$WORK/dense.run" "$WORK/int8.run"

# ---- the reranked scores are the cross-encoder logits, recomputed with PyTorch ----
if "$PY" -c 'import torch' 2>/dev/null; then
  "$PY" - "$STORE" "$S/queries.jsonl" "$WORK/rerank.run" "$WORK/ce" "$WORK/pairs.json" "$WORK/pairs_meta.json" <<'PY' || true
# An independent BERT WordPiece tokenizer (BertNormalizer + BertPreTokenizer + WordPiece, as the
# model's tokenizer.json says): clean text, pad CJK, strip accents, lowercase, split on whitespace
# and punctuation, greedy longest-match subwords with "##".
import json, sqlite3, sys, unicodedata
store, queries, run, ce, pairs_out, meta_out = sys.argv[1:7]
vocab = {w.rstrip("\n"): i for i, w in enumerate(open(f"{ce}/vocab.txt", encoding="utf-8"))}
def is_cjk(cp):
    return any(a <= cp <= b for a, b in ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))
def is_punct(ch):
    cp = ord(ch)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or unicodedata.category(ch).startswith("P")
def words(text):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\t\n\r"):
            continue
        if ch in "\t\n\r " or unicodedata.category(ch) == "Zs":
            out.append(" ")
        elif is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    text = "".join(c for c in unicodedata.normalize("NFD", "".join(out)) if unicodedata.category(c) != "Mn").lower()
    toks = []
    for w in text.split():
        cur = ""
        for ch in w:
            if is_punct(ch):
                if cur:
                    toks.append(cur)
                toks.append(ch)
                cur = ""
            else:
                cur += ch
        if cur:
            toks.append(cur)
    return toks
def wordpiece(text):
    ids = []
    for w in words(text):
        if len(w) > 100:
            ids.append(vocab["[UNK]"])
            continue
        pieces, start = [], 0
        while start < len(w):
            end = len(w)
            while end > start:
                sub = ("##" if start else "") + w[start:end]
                if sub in vocab:
                    break
                end -= 1
            if end == start:
                pieces = [vocab["[UNK]"]]
                break
            pieces.append(vocab[sub])
            start = end
        ids.extend(pieces)
    return ids
qtext = {json.loads(l)["_id"]: json.loads(l)["text"] for l in open(queries)}
db = sqlite3.connect(store)
runs = {}
for line in open(run):
    q, _, d, rank, score, _ = line.split()
    if int(rank) <= 10:
        runs.setdefault(q, []).append((d, float(score)))
ids, types, meta, skipped = [], [], [], 0
for q in sorted(runs)[:5]:
    qi = wordpiece(qtext[q])
    for d, score in runs[q]:
        rows = db.execute("SELECT c.text FROM chunks c JOIN documents x ON x.id = c.doc_id WHERE x.ext_id = ?", (d,)).fetchall()
        pi = wordpiece(rows[0][0]) if len(rows) == 1 else None
        if pi is None or len(qi) + len(pi) + 3 > 256:  # multi-chunk or truncated: not compared
            skipped += 1
            continue
        ids.append([101] + qi + [102] + pi + [102])
        types.append([0] * (len(qi) + 2) + [1] * (len(pi) + 1))
        meta.append((q, d, score))
json.dump({"ids": ids, "type_ids": types}, open(pairs_out, "w"))
json.dump({"pairs": meta, "skipped": skipped}, open(meta_out, "w"))
PY
  if [ -s "$WORK/pairs.json" ]; then
    OMP_NUM_THREADS=1 "$PY" "$RAGC_SOURCE_DIR/tests/reference/torch_bert.py" cross --model "$WORK/ce" \
      --ids "$WORK/pairs.json" > "$WORK/torch.json" 2>"$WORK/torch.err" || true
    check "hybrid-rerank scores == PyTorch cross-encoder logits (5 queries x top 10)" '
import json, sys
meta = json.load(open(sys.argv[1]))
logits = json.load(open(sys.argv[2]))["logits"]
pairs, skipped = meta["pairs"], meta["skipped"]
assert len(pairs) >= 40, f"only {len(pairs)} pairs compared ({skipped} skipped)"
for (q, d, score), l in zip(pairs, logits):
    l = l[0] if isinstance(l, list) else l
    assert abs(score - l) < 1e-3, f"query {q} doc {d}: ragc {score} vs torch {l}"
print("ok")' "$WORK/pairs_meta.json" "$WORK/torch.json"
  else
    not_ok "could not build the cross-encoder inputs from $STORE"
  fi
else
  echo "# python3-torch not installed: the logits are not recomputed"
fi
finish
