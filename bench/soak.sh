#!/usr/bin/env bash
# Fault soak of `ragc serve`, full form (the suite runs a 300-question form in
# tests/integration/test_soak.sh). bench/soak_client.py starts the fake HF server
# (tests/fakehf/fakehf.py) in chaos mode and `ragc serve` with all three model chains on it,
# ingests the 565 SciFact documents judged for the train queries, then sends SOAK_QUESTIONS
# distinct questions (the 809 train queries, then again with " (variant k)") from
# SOAK_CONCURRENCY clients while about SOAK_RATE of the model calls get a random fault, and
# SOAK_STORMS times a sticky 500 for one model (generator, reranker, embedder in turn) until its
# circuit breaker opens. It prints a table: questions, answered, served-by counts per stage,
# faults injected by kind, breaker transitions, wall time, p50/p99 latency, RSS samples, and the
# checks (every question answered, breaker opened and closed, memory flat, clean SIGTERM).
#
# Usage: bench/soak.sh [path/to/ragc]     (default: $RAGC_BIN, else build/ragc)
# Env:   SOAK_QUESTIONS (10000), SOAK_CONCURRENCY (16), SOAK_RATE (0.3), SOAK_SEED (1),
#        SOAK_STORMS (3), RAGC_SHARED_DIR (../shared), SOAK_OUT (also write the table and the
#        JSON summary to SOAK_OUT and SOAK_OUT.json).
# Exit status: 0 when every check passed, 1 when one failed, 2 on a setup error.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$(readlink -f "${1:-${RAGC_BIN:-$SRC/build/ragc}}")
SHARED=${RAGC_SHARED_DIR:-$SRC/../shared}
N=${SOAK_QUESTIONS:-10000}
C=${SOAK_CONCURRENCY:-16}
RATE=${SOAK_RATE:-0.3}
SEED=${SOAK_SEED:-1}
STORMS=${SOAK_STORMS:-3}

fail() { echo "soak.sh: $*" >&2; exit 2; }
[ -x "$BIN" ] || fail "ragc binary $BIN not found (build it, or pass its path)"
[ -d "$SHARED/data/scifact" ] || fail "$SHARED/data/scifact not found (set RAGC_SHARED_DIR)"
command -v python3 >/dev/null || fail "python3 not found"
[[ "$N" =~ ^[0-9]+$ && "$C" =~ ^[0-9]+$ && "$SEED" =~ ^[0-9]+$ && "$STORMS" =~ ^[0-9]+$ ]] ||
  fail "SOAK_QUESTIONS, SOAK_CONCURRENCY, SOAK_SEED and SOAK_STORMS must be integers"

WORK=$(mktemp -d "${RAGC_TMP:-/tmp}/ragc-soak.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "# ragc fault soak: $N questions, $C clients, chaos rate $RATE, seed $SEED, $STORMS storms"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
set +e
python3 "$SRC/bench/soak_client.py" --ragc "$BIN" --fake "$SRC/tests/fakehf/fakehf.py" --shared "$SHARED" \
  --work "$WORK" --questions "$N" --concurrency "$C" --rate "$RATE" --seed "$SEED" --storms "$STORMS" \
  --json "$WORK/summary.json" --table | tee "$WORK/table.md"
rc=${PIPESTATUS[0]}
set -e
if [ -n "${SOAK_OUT:-}" ]; then
  cp "$WORK/table.md" "$SOAK_OUT"
  [ -s "$WORK/summary.json" ] && cp "$WORK/summary.json" "$SOAK_OUT.json"
fi
exit "$rc"
