#!/usr/bin/env bash
# Crash safety of ingest: `ragc ingest` is killed with SIGKILL at random points (SciFact corpus.jsonl:
# 6 rounds, 50-800 ms after start; the PDF samples: 3 rounds, 20-300 ms), each round resuming the
# same store. After every kill:
#   - the store opens (`ragc stats`) and PRAGMA integrity_check / foreign_key_check are clean;
#   - every document is complete or absent: documents.n_chunks == its chunks rows, n_chunks >= 1,
#     chunk seq is 0..n-1, every chunk has its bm25_docs entry, nothing is orphaned;
#   - the BM25 statistics row agrees with bm25_docs, and merged postings agree with the merged
#     forward lists (sum of df == sum of n_terms of merged chunks when there are no tombstones).
# Then a final run completes the rest: 5,183 SciFact records (every line of corpus.jsonl) and the
# same documents as an uninterrupted PDF ingest, and BM25 search gives exactly the results of an
# uninterrupted ingest. RAGC_CRASH_SEED=<n> replays a run's kill points (the seed is printed).
. "$(dirname "$0")/lib.sh"
CORPUS="$RAGC_SHARED_DIR/data/scifact/corpus.jsonl"
PDFS="$RAGC_SHARED_DIR/data/pdf-samples"
SEED=${RAGC_CRASH_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$SEED
echo "# kill-point seed: $SEED (replay with RAGC_CRASH_SEED=$SEED)"
T_START=$(date +%s)

cat >"$WORK/check.py" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
problems = []
def q(sql):
    return db.execute(sql).fetchall()
ic = q("PRAGMA integrity_check")
if ic != [("ok",)]:
    problems.append("integrity_check: %r" % (ic[:5],))
fk = q("PRAGMA foreign_key_check")
if fk:
    problems.append("foreign_key_check: %d violations, e.g. %r" % (len(fk), fk[:3]))
bad = q("""SELECT d.id, d.source, d.n_chunks, COUNT(c.id), MIN(c.seq), MAX(c.seq)
           FROM documents d LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.id
           HAVING d.n_chunks IS NULL OR d.n_chunks < 1 OR d.n_chunks != COUNT(c.id)
               OR MIN(c.seq) != 0 OR MAX(c.seq) != COUNT(c.id) - 1""")
if bad:
    problems.append("%d half-present documents, e.g. %r" % (len(bad), bad[:3]))
orphans = q("SELECT COUNT(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)")[0][0]
if orphans:
    problems.append("%d chunks without a document" % orphans)
unindexed = q("SELECT COUNT(*) FROM chunks WHERE id NOT IN (SELECT chunk_id FROM bm25_docs)")[0][0]
if unindexed:
    problems.append("%d chunks without a BM25 entry" % unindexed)
stray = q("SELECT COUNT(*) FROM bm25_docs WHERE chunk_id NOT IN (SELECT id FROM chunks)")[0][0]
if stray:
    problems.append("%d BM25 entries without a chunk" % stray)
stats = q("SELECT n_docs, sum_len, n_postings, n_pending, n_deleted FROM bm25_stats WHERE id = 1")
real = q("""SELECT COUNT(*), COALESCE(SUM(len), 0), COALESCE(SUM(n_terms), 0),
                   COALESCE(SUM(pending = 1), 0), (SELECT COUNT(*) FROM bm25_deleted) FROM bm25_docs""")
if stats != real:
    problems.append("bm25_stats %r disagrees with bm25_docs %r" % (stats, real))
if real[0][4] == 0:
    df = q("SELECT COALESCE(SUM(df), 0) FROM bm25_terms")[0][0]
    merged = q("SELECT COALESCE(SUM(n_terms), 0) FROM bm25_docs WHERE pending = 0")[0][0]
    if df != merged:
        problems.append("merged postings: sum(df) %d != sum(n_terms) of merged chunks %d" % (df, merged))
n_docs = q("SELECT COUNT(*) FROM documents")[0][0]
n_chunks = q("SELECT COUNT(*) FROM chunks")[0][0]
print("documents=%d chunks=%d pending=%d" % (n_docs, n_chunks, real[0][3]))
for p in problems:
    print("PROBLEM: " + p)
sys.exit(1 if problems else 0)
PY

# check_store NAME DATA_DIR: the store opens and is consistent.
check_store() {
  local name=$1 dir=$2
  RAGC_DATA_DIR=$dir run_ragc stats --json
  if [ "$RC" -ne 0 ] && [ ! -e "$dir/ragc.db" ] && [[ "$ERR" == *"no store yet"* ]]; then
    # killed before the store was created: it appears only complete (built under a temporary
    # name), so nothing half-made is left
    ok "$name: killed before the store existed; no partial store"
    return
  fi
  if [ "$RC" -ne 0 ]; then not_ok "$name: store does not open: $ERR"; return; fi
  if python3 "$WORK/check.py" "$dir/ragc.db" >"$WORK/check.out" 2>&1; then
    ok "$name: consistent ($(head -1 "$WORK/check.out"))"
  else
    not_ok "$name: $(tr '\n' ' ' <"$WORK/check.out" | cut -c1-600)"
  fi
}

# kill_rounds NAME DATA_DIR ROUNDS MIN_MS MAX_MS PATH: SIGKILL ingest at random points.
kill_rounds() {
  local name=$1 dir=$2 rounds=$3 lo=$4 hi=$5 path=$6
  for r in $(seq "$rounds"); do
    local ms=$(( lo + RANDOM % (hi - lo + 1) ))
    RAGC_DATA_DIR=$dir "$RAGC_BIN" ingest -q "$path" >"$WORK/kill.out" 2>&1 &
    local pid=$!
    sleep "$(printf '0.%03d' "$ms")"
    local when=killed
    kill -9 "$pid" 2>/dev/null || when="finished before the kill"
    wait "$pid" 2>/dev/null || true
    echo "# $name round $r: $when at ${ms} ms"
    check_store "$name round $r (${ms} ms)" "$dir"
  done
}

# search_sig DATA_DIR QUERY: the top 10 (ext_id or document, score) of a BM25 search.
search_sig() {
  RAGC_DATA_DIR=$1 "$RAGC_BIN" search --json -k 10 "$2" |
    python3 -c 'import json,sys; print([(r.get("ext_id") or r["document"], round(r["score"], 9)) for r in json.load(sys.stdin)["results"]])'
}

# ---- SciFact corpus.jsonl ----
total=$(wc -l <"$CORPUS")
kill_rounds scifact "$WORK/sci" 6 50 800 "$CORPUS"
RAGC_DATA_DIR="$WORK/sci" run_ragc ingest -q "$CORPUS"
expect_rc "scifact: the re-run completes" 0
check_store "scifact: after the final run" "$WORK/sci"
RAGC_DATA_DIR="$WORK/sci" run_ragc stats --json
json_check "scifact: all $total records present exactly once" "$OUT" "d['documents'] == $total"

# Reference: one uninterrupted ingest; BM25 results must be identical.
RAGC_DATA_DIR="$WORK/ref" run_ragc ingest -q "$CORPUS"
expect_rc "scifact: reference ingest" 0
for query in "cerebral white matter development in newborns" "myeloid-derived suppressor cells" \
             "0-dimensional biomaterials show inductive properties"; do
  a=$(search_sig "$WORK/sci" "$query")
  b=$(search_sig "$WORK/ref" "$query")
  if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "[]" ]; then ok "scifact: search '$query' equals the uninterrupted ingest"
  else not_ok "scifact: search '$query' differs: killed $a vs reference $b"; fi
done

# ---- PDF samples ----
kill_rounds pdf "$WORK/pdf" 3 20 300 "$PDFS"
RAGC_DATA_DIR="$WORK/pdf" run_ragc ingest -q "$PDFS"
expect_rc "pdf: the re-run completes (exit 3: the samples include unreadable and encrypted PDFs)" 3
check_store "pdf: after the final run" "$WORK/pdf"
RAGC_DATA_DIR="$WORK/pdfref" run_ragc ingest -q "$PDFS"
RAGC_DATA_DIR="$WORK/pdfref" run_ragc stats --json
want=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])')
RAGC_DATA_DIR="$WORK/pdf" run_ragc stats --json
json_check "pdf: same $want documents as an uninterrupted ingest" "$OUT" "d['documents'] == $want and $want > 0"

echo "# total time: $(( $(date +%s) - T_START )) s"
finish
