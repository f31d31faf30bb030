#!/usr/bin/env bash
# ragc's C encoder vs an independent PyTorch reference at MiniLM-L6 shape.
#
# Builds shape-faithful random weights from the real all-MiniLM-L6-v2 safetensors header
# (tests/reference/make_model.py: a sentence-transformers model and a 1-logit cross-encoder of the
# same shapes) in a temporary directory, runs the PyTorch reference (tests/reference/torch_bert.py)
# on a batch of mixed lengths (3, 17, 64, 128 tokens; pairs of 5, 40, 128, 77), runs the C side
# (the unit-test binary test_local_encoder_torch next to ragc, on the same case directory, packed
# and right-padded with masks, 1 and 2 threads) and checks max abs error <= 1e-4 for the
# embeddings and the logits, in C and again here from the C output.
# Needs /usr/bin/python3 with python3-torch (Debian); fails clearly without it.
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
SRC=${RAGC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=$(dirname "$RAGC_BIN")/test_local_encoder_torch

if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  not_ok "python3-torch is missing: $PY cannot import torch and numpy (apt-get install python3-torch)"
  finish
  exit 1
fi
if [ ! -x "$BIN" ]; then
  not_ok "C side missing: $BIN (build the target test_local_encoder_torch)"
  finish
  exit 1
fi

CASE="$WORK/case"
mkdir -p "$CASE"
if "$PY" "$SRC/tests/reference/make_model.py" --out "$CASE/st" --cross "$CASE/ce" --ids "$CASE" \
     --src "$RAGC_SHARED_DIR/data/fixtures/hf/sentence-transformers/all-MiniLM-L6-v2"; then
  ok "random-weight MiniLM-L6 models built from the real safetensors header"
else
  not_ok "make_model.py failed"; finish; exit 1
fi
if "$PY" "$SRC/tests/reference/torch_bert.py" refs --st "$CASE/st" --ce "$CASE/ce" --case "$CASE"; then
  ok "PyTorch reference computed"
else
  not_ok "torch_bert.py failed"; finish; exit 1
fi

set +e
RAGC_TORCH_CASE="$CASE" RAGC_TORCH_REQUIRED=1 RAGC_TORCH_OUT="$CASE/c.json" "$BIN" > "$WORK/c.log" 2>&1
RC=$?
set -e
cat "$WORK/c.log" | grep -E 'max abs error|FAILED|ERROR' || true
if [ "$RC" -eq 0 ]; then ok "C encoder matches PyTorch in C (test_local_encoder_torch)"
else not_ok "test_local_encoder_torch exited $RC: $(tail -5 "$WORK/c.log")"; fi

# Independent check of the comparison itself, from the C output.
check() { # name key ref_file
  local res
  res=$("$PY" - "$CASE/c.json" "$CASE/$3" "$2" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))[sys.argv[3]]
r = json.load(open(sys.argv[2]))[sys.argv[3]]
assert len(c) == len(r), (len(c), len(r))
err = max(abs(a - b) for ca, ra in zip(c, r) for a, b in zip(ca, ra))
print(f"{err:.3g}")
sys.exit(0 if err <= 1e-4 else 1)
PY
)
  if [ $? -eq 0 ]; then ok "$1: max abs error $res <= 1e-4"; else not_ok "$1: max abs error $res > 1e-4"; fi
}
set +e
check "embeddings (4 sequences of 3..128 tokens, padded)" embeddings ref_embed.json
check "cross-encoder logits (4 pairs, padded)" logits ref_cross.json
set -e
finish
