#!/usr/bin/env bash
# The README's main job: ingest the 31 real-world PDFs, ask a question, get a cited answer.
. "$(dirname "$0")/lib.sh"
PDFS="$RAGC_SHARED_DIR/data/pdf-samples"

run_ragc ingest "$PDFS"
# Some samples are encrypted or image-only: they are skipped with a reason (exit 3), none crash.
expect_rc "ingest pdf-samples finishes, some skipped" 3
expect_in "summary line" "$OUT" "documents added"
expect_in "encrypted PDF named with its reason" "$ERR" "005-libreoffice-writer-password"
expect_in "encrypted PDF reason" "$ERR" "password"
# The folder holds the 31 PDFs and a README.md (LICENSE and files.json are not ingestible).
n_files=$(find "$PDFS" -name '*.pdf' -o -name '*.md' | wc -l)
counts=$(printf '%s' "$OUT" | sed -n 's/^ingested \([0-9]*\) files: \([0-9]*\) documents added, .*, \([0-9]*\) skipped.*/\1 \2 \3/p')
set -- $counts
if [ "$1" -eq "$n_files" ] && [ "$(( $2 + $3 ))" -eq "$n_files" ]; then
  ok "every file ingested or skipped with a reason ($2 + $3 = $n_files)"
else
  not_ok "files/added/skipped ($counts) do not account for $n_files files"
fi
n_skip_lines=$(printf '%s\n' "$ERR" | grep -c '^skipped: ')
if [ "$n_skip_lines" -eq "$3" ]; then ok "each skipped file has a reason line"; else not_ok "$n_skip_lines reason lines for $3 skipped"; fi
shift 1

run_ragc ingest "$PDFS"
expect_in "re-ingest: nothing added" "$OUT" "0 documents added, 0 updated, $1 unchanged"

run_ragc ingest "$PDFS/005-libreoffice-writer-password" --password openpassword
expect_rc "encrypted PDF with --password" 0
expect_in "encrypted PDF added with the password" "$OUT" "1 documents added"

run_ragc ask "Was ist ein topologischer Raum?"
expect_rc "ask answers" 0
expect_in "answer cites [1]" "$OUT" "[1]"
expect_in "answer lists sources" "$OUT" "Sources:"
expect_in "sources have pages" "$OUT" "p. "

run_ragc ask --json "How are outlines used in the PDF?"
expect_rc "ask --json" 0
json_check "json has answer, sources with page, report stages" "$OUT" \
  "d['answer'] and d['sources'] and all(s['page'] >= 1 for s in d['sources'] if s['document'].endswith('.pdf')) and d['report']['stages']['retriever']['backend']=='bm25' and d['report']['stages']['generator']['backend']=='extractive' and d['report']['stages']['embedder']['backend']=='none'"
json_check "each source's cited page lies within its passage's pages" "$OUT" \
  "all(s['passage_pages'][0] <= s['page'] <= s['page_end'] <= s['passage_pages'][1] for s in d['sources'] if s['page'])"
json_check "every answer sentence cites a listed source" "$OUT" \
  "all(int(n) in [s['n'] for s in d['sources']] for n in __import__('re').findall(r'\[(\d+)\]', d['answer'])) and len(__import__('re').findall(r'\[(\d+)\]', d['answer']))>=1"

run_ragc search -k 3 --json "multi column latex"
expect_rc "search --json" 0
json_check "search returns <= 3 ranked results with pages" "$OUT" "1 <= len(d['results']) <= 3 and d['results'][0]['rank']==1"

run_ragc docs
expect_rc "docs lists documents" 0
expect_in "docs shows a pdf" "$OUT" "pdf"
run_ragc docs --json
expect_rc "docs --json" 0
json_check "docs --json lists every document with pages and chunks" "$OUT" "len(d) >= 20 and all(x['chunks'] >= 1 and x['pages'] >= 1 for x in d)"
run_ragc stats --json
json_check "stats counts documents" "$OUT" "d['documents'] >= 20 and d['chunks'] >= d['documents']"
finish
