#!/usr/bin/env python3
"""Fault soak of `ragc serve` against the fake HF server (tests/fakehf) in chaos mode.

Starts fakehf and `ragc serve` with a configuration whose three model chains all go to the fake
(embedder huggingface_api -> none, reranker huggingface_api, generator huggingface with a fallback
model -> extractive; the generator streams, so stream faults cut real SSE streams), ingests SciFact
documents, turns chaos on (a seeded share of every model call
gets a random fault), sends N distinct questions from a few client threads, and checks:

- every question got HTTP 200 with a non-empty answer and at least one source;
- every answer's report names the backend that served each stage, and the chain reports agree
  with it (the served member is the first that did not fail);
- the server's VmRSS, sampled every N/20 questions, is flat after warm-up: the last sample is at
  most the first post-warm-up sample + --rss-slack-mib (not checked under a sanitizer);
- the circuit breaker opened and closed again (ragc_circuit_transitions_total on /metrics) and
  every breaker is closed at the end. Random faults at 30 % rarely fail five calls in a row, so
  the driver also raises "storms": a sticky 500 for one model until its breaker opens;
- SIGTERM stops the server with exit status 0 and no sanitizer report.

Python 3 standard library only. Prints a JSON summary (--json FILE) and/or a table (--table).
Exit status 0 when every check passed, 1 when one failed, 2 on a setup error.
"""

import argparse
import http.client
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

STAGES = ("retriever", "embedder", "reranker", "generator")
EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
RERANK_MODEL = "cross-encoder/ms-marco-MiniLM-L6-v2"
GEN_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
GEN_FALLBACK = "Qwen/Qwen2.5-7B-Instruct"
TOKEN = "hf_soak_token_0123456789"
MAX_RETRIES = 1                # per backend in the soak config
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class SetupError(Exception):
    pass


def log(msg):
    print("# soak: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Processes and HTTP helpers
# ---------------------------------------------------------------------------------------------

def http_json(url, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode())


def http_text(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_for(pred, timeout, what, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            raise SetupError("%s: the process exited with status %d" % (what, proc.returncode))
        time.sleep(0.05)
    raise SetupError("%s: not ready after %.0f s" % (what, timeout))


def read_file(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def vm_rss_kib(pid):
    for line in read_file("/proc/%d/status" % pid).splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def is_sanitized(binary):
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "libasan" in out or "libubsan" in out


# ---------------------------------------------------------------------------------------------
# Corpus, questions, configuration
# ---------------------------------------------------------------------------------------------

def load_queries(scifact):
    """[(query id, text)] of the SciFact train queries (809)."""
    with open(os.path.join(scifact, "queries.jsonl"), encoding="utf-8") as f:
        return [(d["_id"], d["text"]) for d in (json.loads(line) for line in f if line.strip())]


def make_corpus(scifact, out_path, query_ids, max_docs):
    """The SciFact documents judged for the given train queries (565 for all of them), at most
    max_docs: every question then has its relevant document in the store."""
    rel = set()
    with open(os.path.join(scifact, "qrels", "train.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 2 and parts[0] in query_ids:
                rel.add(parts[1])
    n = 0
    with open(os.path.join(scifact, "corpus.jsonl"), encoding="utf-8") as f, \
            open(out_path, "w", encoding="utf-8") as out:
        for line in f:
            if n >= max_docs:
                break
            if json.loads(line)["_id"] in rel:
                out.write(line)
                n += 1
    return n


def make_questions(queries, n):
    """n distinct questions: the queries in order, then again with " (variant k)" appended."""
    out = []
    for i in range(n):
        q, k = queries[i % len(queries)][1], i // len(queries)
        out.append(q if k == 0 else "%s (variant %d)" % (q, k))
    return out


def write_config(path, fake_base, timeout_ms, stream, breaker_cooldown_ms):
    member = ("      base_url: %s\n      api_key: ${HF_TOKEN}\n      max_retries: %d\n"
              "      timeout_ms: %d\n" % (fake_base, MAX_RETRIES, timeout_ms))
    with open(path, "w", encoding="utf-8") as f:
        f.write("embedder:\n  chain:\n    - type: huggingface_api\n      model: %s\n%s    - type: none\n"
                % (EMBED_MODEL, member))
        f.write("reranker:\n  chain:\n    - type: huggingface_api\n      model: %s\n%s" % (RERANK_MODEL, member))
        f.write("answer_generator:\n  chain:\n    - type: huggingface\n      model: %s\n"
                "      fallback_models: [%s]\n%s"
                "      price_input_per_mtok: 0.2\n      price_output_per_mtok: 0.6\n"
                "    - type: extractive\n  stream: %s\n" % (GEN_MODEL, GEN_FALLBACK, member,
                                                        "true" if stream else "false"))
        f.write("retriever:\n  neural_reranking:\n    enabled: true\n    max_candidates: 20\n")
        f.write("global_settings:\n  max_concurrent_requests: 32\n")
        if breaker_cooldown_ms:
            f.write("  breaker_cooldown_ms: %d\n" % breaker_cooldown_ms)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, float)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        m = METRIC_RE.match(line)
        if m:
            out.append((m.group(1), dict(LABEL_RE.findall(m.group(2) or "")), float(m.group(3))))
    return out


def breaker_view(metrics):
    """{(backend, model): {"open": n, "half_open": n, "closed": n}} and {backend: state gauge}."""
    moves, states = {}, {}
    for name, labels, v in metrics:
        if name == "ragc_circuit_transitions_total":
            moves.setdefault((labels.get("backend"), labels.get("model")), {})[labels.get("to")] = int(v)
        elif name == "ragc_circuit_state":
            states[labels.get("backend")] = int(v)
    return moves, states


def metric_sum(metrics, name, **want):
    """Sum of the series of family name whose labels include want."""
    return sum(v for n, labels, v in metrics
               if n == name and all(labels.get(k) == w for k, w in want.items()))


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

class Soak:
    def __init__(self, args):
        self.a = args
        self.lock = threading.Lock()
        self.results = []        # per question: dict
        self.done = 0
        self.next_q = 0
        self.rss = []            # [(questions done, KiB)]
        self.storm_log = []      # [{"model", "at", "opened_after_s", "rounds"}]
        self.stop_storms = threading.Event()

    # -- one question ------------------------------------------------------------------------

    def ask(self, conn_box, q):
        body = json.dumps({"question": q}).encode()
        t0 = time.monotonic()
        status, data, err = 0, b"", ""
        for attempt in range(2):  # one reconnect if a kept-alive connection was closed
            try:
                if conn_box[0] is None:
                    conn_box[0] = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                conn_box[0].request("POST", "/v1/ask", body, {"Content-Type": "application/json"})
                r = conn_box[0].getresponse()
                status, data = r.status, r.read()
                break
            except (OSError, http.client.HTTPException) as e:
                err = "%s: %s" % (type(e).__name__, e)
                if conn_box[0] is not None:
                    conn_box[0].close()
                conn_box[0] = None
        ms = (time.monotonic() - t0) * 1000.0
        return self.judge(q, status, data, err, ms)

    @staticmethod
    def judge(q, status, data, err, ms):
        r = {"q": q, "status": status, "ms": ms, "ok": False, "problems": [], "backends": {}, "calls": []}
        if status != 200:
            r["problems"].append("HTTP %d %s %s" % (status, err, data[:200].decode("utf-8", "replace")))
            return r
        try:
            d = json.loads(data.decode("utf-8"))
        except ValueError as e:
            r["problems"].append("response is not JSON: %s" % e)
            return r
        if not isinstance(d.get("answer"), str) or not d["answer"].strip():
            r["problems"].append("empty answer")
        if not isinstance(d.get("sources"), list) or len(d["sources"]) < 1:
            r["problems"].append("no source")
        stages = (d.get("report") or {}).get("stages") or {}
        for s in STAGES:
            b = (stages.get(s) or {}).get("backend")
            if not isinstance(b, str) or not b:
                r["problems"].append("the report does not say which backend served the %s" % s)
                continue
            r["backends"][s] = b
            chain = stages[s].get("chain")
            if isinstance(chain, dict):
                r["problems"].extend(Soak.chain_problems(s, b, chain))
                for m in chain.get("members") or []:
                    for md in m.get("models") or []:
                        r["calls"].append("%s %s %s: %s" % (s, m.get("type"), md.get("model"), md.get("status")))
        r["ok"] = not r["problems"]
        return r

    @staticmethod
    def chain_problems(stage, backend, chain):
        """The chain report must agree with the stage backend: members before the served one
        failed, the served one is ok (or a built-in), the stage names it."""
        out = []
        members = chain.get("members") or []
        idx = chain.get("served_index")
        served = chain.get("served_by")
        if served is None:  # nothing served: every member failed (reranker "off")
            if any(m.get("status") == "ok" for m in members):
                out.append("%s: no member served but one is ok" % stage)
            if backend != "off":
                out.append("%s: no member served, yet backend %r" % (stage, backend))
            return out
        if not isinstance(idx, int) or not 0 <= idx < len(members):
            return ["%s: served_index %r out of range" % (stage, idx)]
        for m in members[:idx]:
            if m.get("status") == "ok":
                out.append("%s: member %s was ok but %s served" % (stage, m.get("type"), served))
        if not backend.startswith(served):
            out.append("%s: backend %r but the chain says %r served" % (stage, backend, served))
        m = members[idx]
        if not m.get("builtin") and m.get("status") != "ok":
            out.append("%s: served member %s has status %r" % (stage, served, m.get("status")))
        return out

    def worker(self):
        conn_box = [None]
        while True:
            with self.lock:
                if self.next_q >= len(self.questions):
                    break
                i = self.next_q
                self.next_q += 1
            r = self.ask(conn_box, self.questions[i])
            with self.lock:
                self.results.append(r)
                self.done += 1
                sample = self.done % self.sample_every == 0
                done = self.done
            if sample:
                kib = vm_rss_kib(self.server.pid)
                with self.lock:
                    self.rss.append((done, kib))
        if conn_box[0] is not None:
            conn_box[0].close()

    # -- storms: bursts of 500s for one model until its breaker opens --------------------------

    def breakers(self):
        return breaker_view(parse_metrics(http_text(self.base + "/metrics")))

    def storm(self, target, model):
        """A sticky 500 for model until its breaker opens (threshold failed calls in a row),
        then the fault is cleared so the half-open probe meets ordinary chaos."""
        moves0, _ = self.breakers()
        opened0 = moves0.get((target, model), {}).get("open", 0)
        t0 = time.monotonic()
        http_json(self.fake + "/_fake/faults", {"match": model, "faults": ["500"], "sticky": True})
        opened_after = gauge = None
        try:
            end = time.monotonic() + 30
            while time.monotonic() < end and not self.stop_storms.is_set():
                moves, states = self.breakers()
                if moves.get((target, model), {}).get("open", 0) > opened0:
                    opened_after = round(time.monotonic() - t0, 2)
                    gauge = states.get(target)  # ragc_circuit_state: 2 while open
                    break
                time.sleep(0.05)
        finally:
            http_json(self.fake + "/_fake/faults", {"match": model, "faults": [], "clear": True})
        self.storm_log.append({"model": model, "opened_after_s": opened_after, "state_gauge_when_open": gauge})

    def storm_thread(self):
        targets = [("huggingface", GEN_MODEL), ("huggingface_api", RERANK_MODEL),
                   ("huggingface_api", EMBED_MODEL)]
        n = len(self.questions)
        for k in range(self.a.storms):
            at = max(1, int(n * (k + 1) / (self.a.storms + 1) * self.a.storm_span))
            while not self.stop_storms.is_set():
                with self.lock:
                    if self.done >= at:
                        break
                time.sleep(0.02)
            if self.stop_storms.is_set():
                return
            backend, model = targets[k % len(targets)]
            log("storm %d at question %d: 500s for %s until its breaker opens" % (k + 1, at, model))
            self.storm(backend, model)

    # -- recovery: light traffic until every breaker is closed again --------------------------

    def recover(self):
        """Chaos is off: light traffic until every breaker has closed again (or the timeout)."""
        end = time.monotonic() + self.a.recovery_timeout
        conn_box = [None]
        extra = []
        i = 0
        while time.monotonic() < end:
            _, states = self.breakers()
            if all(v == 0 for v in states.values()):
                break
            if i % 10 == 0:
                log("waiting for the breakers to close: %s" % states)
            if states.get("huggingface", 0) != 0 and i % 3 == 2:
                # The fallback model only gets traffic when the first model refuses: a one-shot
                # 400 "model not supported" (not a breaker failure) sends this question to it,
                # so an open fallback breaker can be probed and close.
                http_json(self.fake + "/_fake/faults", {"match": GEN_MODEL, "faults": ["400"]})
            q = "%s (recovery %d)" % (self.questions[i % len(self.questions)], i)
            extra.append(self.ask(conn_box, q))
            i += 1
            time.sleep(0.25)
        if conn_box[0] is not None:
            conn_box[0].close()
        return extra

    # -- main --------------------------------------------------------------------------------

    def run(self):
        a = self.a
        self.sanitized = is_sanitized(a.ragc)
        work = a.work or tempfile.mkdtemp(prefix="ragc-soak.")
        os.makedirs(work, exist_ok=True)
        scifact = os.path.join(a.shared, "data", "scifact")
        queries = load_queries(scifact)
        self.questions = make_questions(queries, a.questions)
        self.sample_every = max(1, a.questions // 20)
        env = dict(os.environ, HF_TOKEN=TOKEN, RAGC_DATA_DIR=os.path.join(work, "data"))
        for k in ("RAGC_CONFIG", "RAGC_PROFILE", "SPACE_ID", "RAILWAY_ENVIRONMENT", "RAGC_API_KEY"):
            env.pop(k, None)
        fake_proc = self.server = None
        summary = {"questions_planned": a.questions, "sanitized": self.sanitized}
        try:
            fake_port = os.path.join(work, "fake.port")
            fake_proc = subprocess.Popen(
                [sys.executable, "-S", a.fake, "--port", "0", "--port-file", fake_port, "--token", TOKEN],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "fake.err"), "w"))
            port = wait_for(lambda: read_file(fake_port).strip(), 10, "fakehf", fake_proc)
            self.fake = "http://127.0.0.1:" + port
            cfg = os.path.join(work, "soak.yaml")
            write_config(cfg, self.fake, a.timeout_ms, not a.no_stream, a.breaker_cooldown_ms)
            corpus = os.path.join(work, "corpus.jsonl")
            ndocs = make_corpus(scifact, corpus, {qid for qid, _ in queries[:a.questions]}, a.docs)
            t0 = time.monotonic()
            ing = subprocess.run([a.ragc, "ingest", "--config", cfg, "--json", corpus], env=env,
                                 capture_output=True, text=True, timeout=600)
            if ing.returncode != 0:
                raise SetupError("ingest failed (%d): %s" % (ing.returncode, ing.stderr[-600:]))
            ingest = json.loads(ing.stdout)
            summary["ingest"] = {"docs": ndocs, "added": ingest.get("added"), "chunks": ingest.get("chunks"),
                                 "embedded": ingest.get("embedded"),
                                 "s": round(time.monotonic() - t0, 1)}
            log("ingested %d documents (%s chunks) in %.1f s" % (ndocs, ingest.get("chunks"),
                                                                   time.monotonic() - t0))

            serve_err = os.path.join(work, "serve.err")
            self.server = subprocess.Popen([a.ragc, "serve", "--port", "0", "--config", cfg], env=env,
                                           stdout=subprocess.DEVNULL, stderr=open(serve_err, "w"))
            m = wait_for(lambda: re.search(r"listening on http://127\.0\.0\.1:(\d+)", read_file(serve_err)),
                         60, "ragc serve", self.server)
            self.port = int(m.group(1))
            self.base = "http://127.0.0.1:%d" % self.port
            summary["rss_idle_kib"] = vm_rss_kib(self.server.pid)

            http_json(self.fake + "/_fake/reset", {})
            http_json(self.fake + "/_fake/chaos", {"rate": a.rate, "seed": a.seed})
            log("chaos on: rate %.2f, seed %d; %d questions, %d clients" % (a.rate, a.seed, a.questions,
                                                                              a.concurrency))
            t0 = time.monotonic()
            storms = threading.Thread(target=self.storm_thread, daemon=True)
            storms.start()
            workers = [threading.Thread(target=self.worker) for _ in range(a.concurrency)]
            for w in workers:
                w.start()
            last = 0
            while any(w.is_alive() for w in workers):
                time.sleep(0.5)
                if time.monotonic() - last > a.progress:
                    last = time.monotonic()
                    with self.lock:
                        log("%d/%d answered, %.0f s" % (self.done, a.questions, time.monotonic() - t0))
            wall = time.monotonic() - t0
            storms.join(timeout=60)
            self.stop_storms.set()
            http_json(self.fake + "/_fake/chaos", {"rate": 0})  # the faults stop: every breaker must recover
            extra = self.recover()
            metrics = parse_metrics(http_text(self.base + "/metrics"))
            fake_stats = http_json(self.fake + "/_fake/stats")

            # SIGTERM: drain and exit 0; a sanitizer report (leaks) makes the exit status non-zero
            self.server.send_signal(signal.SIGTERM)
            try:
                rc = self.server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.server.kill()
                rc = "hung"
            serve_log = read_file(serve_err)
            summary.update(self.summarize(wall, extra, metrics, fake_stats, rc, serve_log))
        finally:
            for p in (self.server, fake_proc):
                if p is not None and p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        p.kill()
        return summary

    def summarize(self, wall, extra, metrics, fake_stats, rc, serve_log):
        a = self.a
        res = self.results
        every = res + extra
        answered = sum(1 for r in every if r["ok"])
        served = {s: {} for s in STAGES}
        for r in every:
            for s, b in r["backends"].items():
                served[s][b] = served[s].get(b, 0) + 1
        lat = sorted(r["ms"] for r in res)
        calls = {}
        for r in every:
            for c in r["calls"]:
                calls[c] = calls.get(c, 0) + 1

        def pct(p):
            return round(lat[min(len(lat) - 1, int(math.ceil(p / 100.0 * len(lat))) - 1)], 1) if lat else None
        moves, states = breaker_view(metrics)
        opened = sum(v.get("open", 0) for v in moves.values())
        closed = sum(v.get("closed", 0) for v in moves.values())
        half = sum(v.get("half_open", 0) for v in moves.values())
        rss = sorted(self.rss)
        warm = max(1, len(rss) // 4)  # the first quarter of the samples is warm-up
        rss_check = None
        if len(rss) > warm:
            first, lastv = rss[warm][1], rss[-1][1]
            rss_check = {"warmup_samples": warm, "first_after_warmup_kib": first, "last_kib": lastv,
                         "growth_kib": lastv - first, "slack_kib": a.rss_slack_mib * 1024,
                         "flat": lastv <= first + a.rss_slack_mib * 1024}
        chaos = fake_stats.get("chaos", {})
        problems = {}
        for r in every:
            for p in r["problems"]:
                key = re.sub(r"\d+", "N", p)[:120]
                problems[key] = problems.get(key, 0) + 1
        sanitizer = [m for m in SANITIZER_MARKERS if m in serve_log]
        checks = {
            "every question answered (HTTP 200, answer, >= 1 source, stages reported)": answered == len(every),
            "chaos injected faults on every stage": all(
                sum(sum((chaos.get("by_kind") or {}).get(k, {}).values()) for k in kinds) > 0
                for kinds in (("feature_extraction",), ("classification",), ("chat", "chat_stream"))),
            "breaker opened at least once": opened >= 1,
            "breaker closed again (recovered)": closed >= 1,
            "every breaker closed at the end": bool(states) and all(v == 0 for v in states.values()),
            "server exit 0 on SIGTERM": rc == 0,
            "no sanitizer report": not sanitizer,
            "metrics count remote calls, failures, retries and tokens": all(
                metric_sum(metrics, n, **l) > 0 for n, l in (
                    ("ragc_remote_calls_total", {"status": "ok"}),
                    ("ragc_remote_calls_total", {"status": "error"}),
                    ("ragc_remote_retries_total", {}),
                    ("ragc_tokens_total", {"direction": "input"}))),
            "metrics count fallbacks and cache lookups": all(
                metric_sum(metrics, n, **l) > 0 for n, l in (
                    ("ragc_fallbacks_total", {"stage": "generator"}),
                    ("ragc_cache_misses_total", {"kind": "embedding"}),
                    ("ragc_cache_misses_total", {"kind": "rerank"}))),
        }
        if rss_check is not None and not self.sanitized:
            checks["memory flat after warm-up (last <= first + %d MiB)" % a.rss_slack_mib] = rss_check["flat"]
        return {
            "questions": len(res), "recovery_questions": len(extra), "answered": answered,
            "failed": len(every) - answered, "problems": problems,
            "failures": [{"q": r["q"][:120], "problems": r["problems"]} for r in every if not r["ok"]][:10],
            "served_by": served, "model_call_outcomes": dict(sorted(calls.items())), "wall_s": round(wall, 1),
            "questions_per_s": round(len(res) / wall, 1) if wall > 0 else None,
            "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": round(lat[-1], 1) if lat else None},
            "rss_kib": rss, "rss_check": rss_check,
            "breaker": {"opened": opened, "half_opened": half, "closed": closed,
                        "by_model": {"%s %s" % k: v for k, v in moves.items() if sum(v.values())},
                        "final_state": states, "storms": self.storm_log},
            "fake": {"requests": fake_stats.get("requests"), "requests_total": fake_stats.get("requests_total"),
                     "chaos_requests": chaos.get("requests"), "chaos_faults": chaos.get("faults_total"),
                     "chaos_faults_by_kind": chaos.get("faults_served"),
                     "chaos_faults_by_endpoint": chaos.get("by_kind"),
                     "queued_faults_served": len(fake_stats.get("faults_served") or []),
                     "faults_pending": fake_stats.get("faults_pending"),
                     "auth_failures": fake_stats.get("auth_failures")},
            "server_exit": rc, "sanitizer_report": sanitizer,
            "checks": checks, "passed": all(checks.values()),
        }


# ---------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------

def table(s):
    out = []
    row = lambda k, v: out.append("| %s | %s |" % (k, v))  # noqa: E731
    out.append("| measure | value |")
    out.append("|---|---|")
    row("questions (+ recovery questions)", "%d (+%d)" % (s["questions"], s["recovery_questions"]))
    row("answered (HTTP 200, answer, >= 1 source)", "%d / %d" % (s["answered"], s["questions"] + s["recovery_questions"]))
    for st in STAGES:
        row("%s served by" % st, "; ".join("%s: %d" % kv for kv in sorted(s["served_by"][st].items(),
                                                                             key=lambda kv: -kv[1])))
    f = s["fake"]
    row("model requests to the fake", "%s (%s)" % (f["requests_total"], ", ".join(
        "%s %d" % kv for kv in sorted((f["requests"] or {}).items()) if kv[1])))
    share = f["chaos_faults"] / f["chaos_requests"] if f["chaos_requests"] else 0
    row("chaos faults injected", "%s of %s requests (%.1f %%)" % (f["chaos_faults"], f["chaos_requests"], 100 * share))
    row("faults by kind", ", ".join("%s %d" % kv for kv in sorted((f["chaos_faults_by_kind"] or {}).items(),
                                                                   key=lambda kv: -kv[1])))
    row("storm faults (sticky 500s served)", f["queued_faults_served"])
    row("model call outcomes (stage, member, model: status)", "; ".join(
        "%s %d" % kv for kv in s["model_call_outcomes"].items()))
    b = s["breaker"]
    row("breaker transitions", "opened %d, half-opened %d, closed %d" % (b["opened"], b["half_opened"], b["closed"]))
    row("breaker transitions by model", "; ".join("%s: %s" % (k, ", ".join("%s %d" % kv for kv in sorted(v.items())))
                                                  for k, v in b["by_model"].items()) or "-")
    row("final breaker states", ", ".join("%s %d" % kv for kv in sorted(b["final_state"].items())))
    row("wall time", "%.1f s (%.1f questions/s)" % (s["wall_s"], s["questions_per_s"] or 0))
    lat = s["latency_ms"]
    row("latency p50 / p90 / p99 / max", "%s / %s / %s / %s ms" % (lat["p50"], lat["p90"], lat["p99"], lat["max"]))
    row("server RSS idle", "%.1f MiB" % (s["rss_idle_kib"] / 1024.0))
    row("server RSS every %d questions" % max(1, s["questions_planned"] // 20),
        " ".join("%.1f" % (k / 1024.0) for _, k in s["rss_kib"]) + " MiB")
    rc = s["rss_check"]
    if rc:
        row("RSS after warm-up", "%.1f -> %.1f MiB (%+.1f MiB; allowed +%d)" % (
            rc["first_after_warmup_kib"] / 1024.0, rc["last_kib"] / 1024.0, rc["growth_kib"] / 1024.0,
            rc["slack_kib"] // 1024))
    row("server exit on SIGTERM", s["server_exit"])
    for name, ok in s["checks"].items():
        row("check: " + name, "pass" if ok else "FAIL")
    return "\n".join(out)


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.dirname(here)
    ap = argparse.ArgumentParser(description="Fault soak of ragc serve against fakehf in chaos mode")
    ap.add_argument("--ragc", default=os.environ.get("RAGC_BIN", os.path.join(src, "build", "ragc")))
    ap.add_argument("--fake", default=os.path.join(src, "tests", "fakehf", "fakehf.py"))
    ap.add_argument("--shared", default=os.environ.get("RAGC_SHARED_DIR", os.path.join(src, "..", "shared")))
    ap.add_argument("--work", help="working directory (default: a new temporary one, kept)")
    ap.add_argument("--questions", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--docs", type=int, default=565,
                    help="at most this many SciFact documents: those judged for the queries asked")
    ap.add_argument("--rate", type=float, default=0.3, help="share of model calls given a fault")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--storms", type=int, default=1, help="bursts of 500s that open a breaker")
    ap.add_argument("--storm-span", type=float, default=1.0,
                    help="storms are spread over this fraction of the run (a short run: early)")
    ap.add_argument("--timeout-ms", type=int, default=3000, help="per-call deadline of every backend")
    ap.add_argument("--recovery-timeout", type=float, default=75, help="seconds to wait for breakers to close")
    ap.add_argument("--breaker-cooldown-ms", type=int, default=0,
                    help="global_settings.breaker_cooldown_ms of the server (0: the default, 30 s)")
    ap.add_argument("--no-stream", action="store_true",
                    help="the generator asks for whole answers (default: SSE streams, so the sse_* faults cut them)")
    ap.add_argument("--rss-slack-mib", type=int, default=5)
    ap.add_argument("--progress", type=float, default=30, help="seconds between progress lines")
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--table", action="store_true", help="print the table on stdout")
    a = ap.parse_args(argv)
    if a.questions < 1 or a.concurrency < 1 or not 0 <= a.rate <= 1 or a.storms < 0:
        ap.error("--questions and --concurrency must be >= 1, --rate in [0, 1], --storms >= 0")
    if not os.access(a.ragc, os.X_OK):
        ap.error("ragc binary %s not found (build it, or pass --ragc / RAGC_BIN)" % a.ragc)
    try:
        s = Soak(a).run()
    except (SetupError, OSError, ValueError, subprocess.SubprocessError) as e:
        print("soak: setup failed: %s" % e, file=sys.stderr)
        return 2
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(s, f, indent=1)
    if a.table:
        print(table(s))
    for name, ok in s["checks"].items():
        if not ok:
            log("FAILED: " + name)
    for f in s["failures"]:
        log("failure: %s" % json.dumps(f))
    return 0 if s["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
