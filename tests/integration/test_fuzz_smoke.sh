#!/usr/bin/env bash
# Fuzz smoke test: builds every libFuzzer target (fuzz/fuzz_*.c, clang) and runs each for
# RAGC_FUZZ_SECONDS seconds (default 10) through scripts/fuzz.sh; fails if any target crashes,
# leaks, times out or breaks one of its invariants, or does not build.
#
# It runs ONLY when RAGC_RUN_FUZZ=1 (CI sets it in a separate step, since a full pass takes
# about 17 x RAGC_FUZZ_SECONDS seconds plus a clang build). Otherwise it prints that it is
# skipped and exits 0, so a plain `ctest` stays fast.
#   RAGC_RUN_FUZZ=1 RAGC_FUZZ_SECONDS=10 ctest -R integration.test_fuzz_smoke --output-on-failure
# The build goes to $RAGC_FUZZ_BUILD (default <repo>/build-fuzz, shared with scripts/fuzz.sh).
set -uo pipefail
SRC=${RAGC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ "${RAGC_RUN_FUZZ:-0}" != "1" ]; then
  echo "skipped: fuzz smoke test runs only with RAGC_RUN_FUZZ=1 (see tests/integration/test_fuzz_smoke.sh)"
  exit 0
fi
if ! command -v clang >/dev/null 2>&1; then
  echo "not ok - clang not found: the fuzz targets need clang and libclang-rt (RAGC_RUN_FUZZ=1 was set)"
  exit 1
fi
SECS=${RAGC_FUZZ_SECONDS:-10}
export RAGC_SHARED_DIR=${RAGC_SHARED_DIR:-$SRC/../shared}
"$SRC/scripts/fuzz.sh" "$SECS"
rc=$?
case $rc in
  0) echo "ok - every fuzz target ran ${SECS}s without a crash" ;;
  1) echo "not ok - a fuzz target crashed (reproducers under ${RAGC_FUZZ_BUILD:-$SRC/build-fuzz}/fuzz-artifacts/)" ;;
  *) echo "not ok - scripts/fuzz.sh failed to build or run (exit $rc)" ;;
esac
exit $rc
