#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/fuzz_*.c) with clang in build-fuzz and runs each for
# SECONDS (default 60), then prints a table: target, runs, coverage, crashes.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 30 net_stream server_multipart
#
# Exit status: 0 when no target crashed (crash, leak, timeout, OOM or harness invariant), 1 when
# one did (its reproducer is in build-fuzz/fuzz-artifacts/<target>/; replay it with
# `build-fuzz/fuzz_<target> <file>`), 2 on a usage error or when a target did not build (the
# others still run).
# Environment: RAGC_FUZZ_BUILD (build dir, default <repo>/build-fuzz), RAGC_SHARED_DIR (default
# <repo>/../shared: its data/ adds real PDFs, SciFact and qrels as extra seeds), RAGC_FUZZ_JOBS
# (build parallelism, default 2). Targets run one after another on one core.
# Corpora: <build>/fuzz-corpus/<target>/ collects what libFuzzer finds (kept between runs, never
# written into the source tree); fuzz/corpus/<target>/ and the extra seed dirs are read-only.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-60}
shift || true
case "$SECS" in ''|*[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;; esac
BUILD=${RAGC_FUZZ_BUILD:-$SRC/build-fuzz}
SHARED=${RAGC_SHARED_DIR:-$SRC/../shared}
export RAGC_SHARED_DIR=$SHARED # fuzz_local_wordpiece loads its vocabulary from there
DATA="$SHARED/data"

if [ $# -gt 0 ]; then
  TARGETS=("$@")
else
  TARGETS=()
  for f in "$SRC"/fuzz/fuzz_*.c; do
    b=$(basename "$f" .c)
    TARGETS+=("${b#fuzz_}")
  done
fi

# Per target: -max_len, per-input -timeout (s), and extra read-only seed dirs (missing ones skipped);
# fuzz/<target>.dict, when present, is passed as -dict.
max_len() {
  case "$1" in
    ingest_pdf|ingest_html) echo 65536 ;;
    local_tokenizer_json) echo 32768 ;;
    ingest_markdown|ingest_beir|config_load|net_stream|server_multipart) echo 16384 ;;
    models_responses|local_safetensors) echo 16384 ;;
    *) echo 8192 ;;
  esac
}
timeout_s() {
  case "$1" in ingest_pdf) echo 30 ;; *) echo 10 ;; esac
}
extra_dirs() {
  case "$1" in
    config_load) echo "$SRC/config $SRC/tests/fixtures/config" ;;
    ingest_pdf) echo "$SRC/tests/fixtures/ingest $DATA/pdf-samples" ;;
    ingest_html) echo "$SRC/tests/fixtures/ingest $SRC/web" ;;
    ingest_markdown) echo "$SRC/tests/fixtures/ingest $SRC/docs" ;;
    ingest_beir|eval_load) echo "$SRC/tests/fixtures/ingest $DATA/scifact" ;;
    ingest_normalize|text_pipeline|local_wordpiece) echo "$SRC/tests/fixtures/ingest $DATA/scifact" ;;
    local_safetensors|local_tokenizer_json) echo "$DATA/fixtures/hf" ;;
    pipeline_citations) echo "$SRC/tests/fixtures/ingest" ;;
    *) echo "" ;;
  esac
}

echo "== building ${#TARGETS[@]} fuzz targets in $BUILD (clang, RAGC_FUZZ=ON)"
mkdir -p "$BUILD"
if ! CC=clang cmake -B "$BUILD" -S "$SRC" -DRAGC_FUZZ=ON >"$BUILD/fuzz-configure.log" 2>&1; then
  cat "$BUILD/fuzz-configure.log" >&2
  exit 2
fi
# One target at a time, so a module that does not compile (mid-edit) only costs its own targets.
declare -A BUILT
build_failed=0
: >"$BUILD/fuzz-build.log"
for t in "${TARGETS[@]}"; do
  if cmake --build "$BUILD" -j"${RAGC_FUZZ_JOBS:-2}" --target "fuzz_$t" >>"$BUILD/fuzz-build.log" 2>&1; then
    BUILT[$t]=1
  else
    build_failed=1
    echo "   fuzz_$t: build failed (see $BUILD/fuzz-build.log)" >&2
  fi
done

export RAGC_LOG=error
# halt on the first report; leaks count as crashes; no core dumps
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:disable_coredump=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

rows=()
failed=0
for t in "${TARGETS[@]}"; do
  if [ -z "${BUILT[$t]:-}" ]; then
    rows+=("$(printf '%-22s %10s %6s %7s %7s  %s' "$t" - - - - "BUILD FAILED")")
    continue
  fi
  bin="$BUILD/fuzz_$t"
  corpus="$BUILD/fuzz-corpus/$t"
  art="$BUILD/fuzz-artifacts/$t"
  log="$BUILD/fuzz-logs/$t.log"
  mkdir -p "$corpus" "$art" "$(dirname "$log")"
  dirs=("$corpus")
  [ -d "$SRC/fuzz/corpus/$t" ] && dirs+=("$SRC/fuzz/corpus/$t")
  for d in $(extra_dirs "$t"); do [ -d "$d" ] && dirs+=("$d"); done
  before=$(find "$art" -type f | wc -l)
  echo "== fuzz_$t: ${SECS}s, -max_len=$(max_len "$t") (log: $log)"
  dict=()
  [ -f "$SRC/fuzz/$t.dict" ] && dict=(-dict="$SRC/fuzz/$t.dict")
  "$bin" -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout="$(timeout_s "$t")" \
         -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  after=$(find "$art" -type f | wc -l)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  crashes=$((after - before))
  [ $rc -ne 0 ] && [ $crashes -eq 0 ] && crashes=1
  status=ok
  if [ $crashes -gt 0 ]; then
    failed=1
    status="CRASH: $(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|fuzz invariant failed|Timeout|out-of-memory' "$log" | cut -c1-90)"
    ls -t "$art" | head -3 | sed "s|^|   reproducer: $art/|"
  fi
  rows+=("$(printf '%-22s %10s %6s %7s %7s  %s' "$t" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$crashes" "$status")")
done

echo
printf '%-22s %10s %6s %7s %7s  %s\n' target runs cov ft crashes status
for r in "${rows[@]}"; do echo "$r"; done
[ $failed -ne 0 ] && exit 1
[ $build_failed -ne 0 ] && exit 2
exit 0
