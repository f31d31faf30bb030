#!/usr/bin/env bash
# Bad input gets a clear error naming the input and a non-zero exit, never a crash.
. "$(dirname "$0")/lib.sh"
F="$WORK/files"
mkdir -p "$F"

run_ragc ask "anything"
expect_rc "ask before any ingest" 1
expect_in "ask before ingest says what to do" "$ERR" "ragc ingest"

run_ragc ingest "$F/does-not-exist.pdf"
expect_rc "missing file" 1
expect_in "missing file is named" "$ERR" "does-not-exist.pdf"

: > "$F/empty.txt"
run_ragc ingest "$F/empty.txt"
expect_rc "empty file skipped" 3
expect_in "empty file reason" "$ERR" "empty.txt"

head -c 3000 /dev/urandom > "$F/garbage.pdf"
run_ragc ingest "$F/garbage.pdf"
expect_rc "garbage PDF skipped" 3
expect_in "garbage PDF named" "$ERR" "garbage.pdf"

pdf="$RAGC_SHARED_DIR/data/pdf-samples/004-pdflatex-4-pages/pdflatex-4-pages.pdf"
size=$(stat -c %s "$pdf")
head -c $((size / 3)) "$pdf" > "$F/truncated.pdf"
run_ragc ingest "$F/truncated.pdf"
if [ "$RC" -eq 0 ] || [ "$RC" -eq 3 ]; then ok "truncated PDF: ingested what is readable or skipped (exit $RC)"; else not_ok "truncated PDF exit $RC: $ERR"; fi

printf 'valid start \xff\xfe then garbage\n' > "$F/latin.txt"
run_ragc ingest "$F/latin.txt"
expect_rc "invalid UTF-8 skipped" 3
expect_in "invalid UTF-8 reason names the byte" "$ERR" "invalid UTF-8 at byte"

printf '{"_id":"a","title":"T","text":"fine record about zebras"}\n{"_id": 5, "text": "bad id"}\nnot json\n{"_id":"b","text":"another record about lions"}\n' > "$F/corpus.jsonl"
run_ragc ingest "$F/corpus.jsonl"
expect_rc "BEIR with bad lines: good records in, bad lines skipped" 3
expect_in "bad line named with its number" "$ERR" "corpus.jsonl:2"
expect_in "bad json line named" "$ERR" "corpus.jsonl:3"
expect_in "two records added" "$OUT" "2 documents added"

echo "x" > "$F/file.xyz"
run_ragc ingest "$F/file.xyz"
expect_rc "unsupported explicit file" 1
expect_in "unsupported type named" "$ERR" "file.xyz"

printf 'retriever:\n  top_k: [oops\n' > "$WORK/bad.yaml"
run_ragc ask --config "$WORK/bad.yaml" "zebras"
expect_rc "invalid YAML" 1
expect_in "invalid YAML names the file and line" "$ERR" "bad.yaml:"

printf 'retriever:\n  top_kk: 3\n  bm25:\n    k1: lots\n' > "$WORK/badkey.yaml"
run_ragc ask --config "$WORK/badkey.yaml" "zebras"
expect_rc "unknown key / wrong type" 1
expect_in "unknown key named with line" "$ERR" "badkey.yaml:2: retriever.top_kk"
expect_in "wrong type named with line" "$ERR" "badkey.yaml:4: retriever.bm25.k1"

run_ragc ask --profile nosuch "zebras"
expect_rc "unknown profile" 1
expect_in "unknown profile named" "$ERR" "nosuch"

printf 'global_settings:\n  data_dir: ${RAGC_TEST_UNSET_VAR}\n' > "$WORK/unset.yaml"
run_ragc stats --config "$WORK/unset.yaml"
expect_rc "unset variable without default" 1
expect_in "unset variable named" "$ERR" "RAGC_TEST_UNSET_VAR"

run_ragc ask "zebras"
expect_rc "ask after partial ingest" 0
expect_in "answer cites the BEIR record" "$OUT" "[1]"

run_ragc search -k 0 "zebras"
expect_rc "bad -k" 2
run_ragc frobnicate
expect_rc "unknown command" 2
run_ragc ask ""
expect_rc "empty question" 2
finish
