#!/usr/bin/env bash
# Fault soak, small form (the full one is bench/soak.sh): `ragc serve` with all three model chains
# on the fake HF server in chaos mode (30 % of model calls get a random fault), 300 distinct
# SciFact questions from 16 clients, one breaker storm, breakers cooling down for 2 s (not 30)
# so they open and close within the run; chaos stops before the recovery phase. Every question
# is answered with a source and a per-stage report, the breaker opens and closes again, memory
# is flat after warm-up (normal build), and SIGTERM ends the server with exit 0 and no sanitizer report (leaks make
# LeakSanitizer fail the exit status in the ASan build). Driven by bench/soak_client.py.
. "$(dirname "$0")/lib.sh"
N=${RAGC_SOAK_QUESTIONS:-300}
SUMMARY="$WORK/soak.json"
set +e
python3 "$RAGC_SOURCE_DIR/bench/soak_client.py" --ragc "$RAGC_BIN" \
  --fake "$RAGC_SOURCE_DIR/tests/fakehf/fakehf.py" --shared "$RAGC_SHARED_DIR" --work "$WORK/soak" \
  --questions "$N" --concurrency 16 --rate 0.3 --seed 1 --storms 1 --storm-span 0.2 \
  --breaker-cooldown-ms 2000 --recovery-timeout 45 --progress 15 --json "$SUMMARY" --table
RC=$?
set -e
if [ ! -s "$SUMMARY" ]; then
  not_ok "the soak did not complete (exit $RC)"
  tail -20 "$WORK/soak/serve.err" 2>/dev/null || true
  finish
  exit 1
fi
S=$(cat "$SUMMARY")
json_check "all $N questions and the recovery questions answered with an answer, a source and a per-stage report" "$S" \
  "d['questions'] == $N and d['failed'] == 0 and d['answered'] == d['questions'] + d['recovery_questions']"
json_check "chaos faulted about 30 % of model calls" "$S" \
  "0.2 <= d['fake']['chaos_faults'] / d['fake']['chaos_requests'] <= 0.4"
json_check "chaos faults hit every stage (embedder, reranker, generator)" "$S" \
  "d['checks']['chaos injected faults on every stage']"
json_check "the chains fell back (embedder none, reranker off, generator fallback model and extractive)" "$S" \
  "d['served_by']['embedder'].get('none', 0) > 0 and d['served_by']['reranker'].get('off', 0) > 0 and d['served_by']['generator'].get('extractive', 0) > 0 and d['served_by']['generator'].get('huggingface (Qwen/Qwen2.5-7B-Instruct)', 0) > 0"
json_check "the remote backends served most stages" "$S" \
  "all(sum(v for k, v in d['served_by'][s].items() if k.startswith('huggingface')) > d['questions'] // 2 for s in ('embedder', 'reranker', 'generator'))"
json_check "the storm opened the generator's breaker; ragc_circuit_state said open (2)" "$S" \
  "d['breaker']['opened'] >= 1 and d['breaker']['storms'][0]['opened_after_s'] is not None and d['breaker']['storms'][0]['state_gauge_when_open'] == 2"
json_check "the breaker closed again after a probe (half-open -> closed)" "$S" \
  "d['breaker']['half_opened'] >= 1 and d['breaker']['closed'] >= 1"
json_check "every breaker is closed at the end" "$S" "d['checks']['every breaker closed at the end']"
json_check "/metrics counted remote calls (ok and error), retries and tokens" "$S" \
  "d['checks']['metrics count remote calls, failures, retries and tokens']"
json_check "/metrics counted fallbacks and cache lookups" "$S" "d['checks']['metrics count fallbacks and cache lookups']"
if [ "$(printf '%s' "$S" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sanitized"])')" = True ]; then
  ok "memory flatness not checked under a sanitizer (LeakSanitizer checks leaks at exit)"
else
  json_check "server RSS flat after warm-up (last sample <= first post-warm-up sample + 5 MiB)" "$S" \
    "d['rss_check']['flat']"
fi
json_check "the server exits 0 on SIGTERM" "$S" "d['server_exit'] == 0"
json_check "no sanitizer report from the server" "$S" "d['sanitizer_report'] == []"
json_check "the token never reached the fake without auth" "$S" "d['fake']['auth_failures'] == 0"
if [ "$RC" -ne 0 ]; then
  not_ok "soak_client.py exit $RC"
  tail -20 "$WORK/soak/serve.err" || true
fi
finish
