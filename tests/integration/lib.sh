# Helpers sourced by the integration tests (not a test itself: CTest runs *.sh except lib.sh).
set -euo pipefail
: "${RAGC_BIN:?RAGC_BIN must point at the ragc binary}"
: "${RAGC_SHARED_DIR:?RAGC_SHARED_DIR must point at ../shared}"
TMP_ROOT="${RAGC_TMP:-/tmp}"
mkdir -p "$TMP_ROOT"
WORK=$(mktemp -d "$TMP_ROOT/ragc-it.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export RAGC_DATA_DIR="$WORK/data"
unset RAGC_CONFIG RAGC_PROFILE SPACE_ID RAILWAY_ENVIRONMENT RAGC_CONFIG_DIR || true
FAILS=0
PASSES=0

ok() { PASSES=$((PASSES + 1)); echo "ok - $*"; }
not_ok() { FAILS=$((FAILS + 1)); echo "not ok - $*"; }

# run_ragc: runs ragc with the given args, capturing stdout/stderr/exit code in OUT, ERR, RC.
run_ragc() {
  set +e
  "$RAGC_BIN" "$@" >"$WORK/out" 2>"$WORK/err"
  RC=$?
  set -e
  OUT=$(cat "$WORK/out")
  ERR=$(cat "$WORK/err")
}

# expect_rc NAME CODE: the last run exited with CODE.
expect_rc() {
  if [ "$RC" -eq "$2" ]; then ok "$1 (exit $RC)"; else not_ok "$1: exit $RC, expected $2; stderr: $ERR; stdout: ${OUT:0:400}"; fi
}

# expect_in NAME HAYSTACK NEEDLE
expect_in() {
  # a here-string, not a pipe: grep -q stops reading early, which fails the pipe under pipefail
  if grep -qF -- "$3" <<<"$2"; then ok "$1"; else not_ok "$1: '$3' not in: ${2:0:600}"; fi
}

# json_check NAME JSON PYTHON_EXPR: evaluates the expression with `d` bound to the parsed JSON.
json_check() {
  if printf '%s' "$2" | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($3) else 1)"; then
    ok "$1"
  else
    not_ok "$1: ($3) false for: ${2:0:600}"
  fi
}

finish() {
  echo "$PASSES passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
}
