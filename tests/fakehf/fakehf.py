#!/usr/bin/env python3
"""fakehf: an HTTP test server standing in for Hugging Face's hosted APIs, TEI and Ollama.

Python 3 standard library only. The wire formats follow ../shared/reference/hf-api.md; the full
contract (endpoints, deterministic outputs, faults, fault queue and seeded chaos mode) is in
tests/fakehf/README.md.

    python3 tests/fakehf/fakehf.py --port 0 --port-file FILE [--token T] [--log FILE]

Binds 127.0.0.1 only, writes the chosen port to FILE (atomically, once listening) and serves
until SIGTERM/SIGINT, then exits 0.
"""

import argparse
import datetime
import functools
import hashlib
import http.server
import json
import math
import operator
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid

DIM = 384                      # embedding dimension (all-MiniLM-L6-v2 / bge-small shape)
MAX_BATCH = 32                 # TEI's default max_client_batch_size
MAX_REQUEST_BODY = 8 << 20     # request bodies above this get 413 and the connection is closed
OVERSIZE_BYTES = 12 << 20      # size of the "oversize" fault body
OLLAMA_DEFAULT_NUM_CTX = 4096  # words kept by /api/chat when options.num_ctx is absent
MAX_SENTENCE_WORDS = 40        # an unpunctuated source contributes at most this many words

KINDS = ("chat", "chat_stream", "feature_extraction", "classification", "tei_embed",
         "tei_rerank", "openai_embed", "ollama_chat", "ollama_embed", "models")

AUTH_MESSAGE = "Invalid credentials in Authorization header"

# Default message and body shape of each "<status>" fault; ":shape" in the fault name overrides.
STATUS_FAULTS = {
    400: ("The requested model '{model}' is not supported by any provider you have enabled.", "string"),
    401: (AUTH_MESSAGE, "string"),
    402: ("You have exceeded your monthly included credits for Inference Providers. "
          "Subscribe to PRO to get 20x more monthly included credits.", "string"),
    403: ("This authentication method does not have sufficient permissions to call "
          "Inference Providers on behalf of user fake-user", "string"),
    404: ("Model not found", "string"),
    408: ("Request timeout", "string"),
    410: ("https://api-inference.huggingface.co is no longer supported. "
          "Please use https://router.huggingface.co instead.", "string"),
    422: ("Input validation error: batch size 64 > maximum allowed batch size 32", "tei"),
    424: ("Backend error: inference failed", "tei"),
    429: ("Rate limit reached", "string"),
    500: ("Internal Server Error", "string"),
    502: ("Bad Gateway", "list"),
    503: ("Service Unavailable", "string"),
    504: ("Gateway Timeout", "nested"),
}
TEI_ERROR_TYPES = {400: "Empty", 413: "Validation", 422: "Validation", 424: "Backend",
                   429: "Overloaded", 503: "Unhealthy"}
SHAPES = ("string", "list", "nested", "message", "detail", "tei", "text", "empty")
BODY_FAULTS = ("malformed_json", "truncated_body", "sse_cut", "sse_error", "sse_error_flat",
               "ndjson_error", "sse_noise", "oversize", "oversize_chunked")
MAX_DRIP_SECONDS = 10          # drip:N, the pause before each stream frame, at most


def is_body_fault(name):
    """Faults that shape a successful response instead of replacing it."""
    return name in BODY_FAULTS or name.startswith("drip:")

CATALOGUE = [
    ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama", [
        ("cerebras", 32768, 0.10, 0.10), ("novita", 16384, 0.02, 0.05)]),
    ("Qwen/Qwen2.5-7B-Instruct", "Qwen", [
        ("together", 32768, 0.30, 0.30), ("featherless-ai", 16384, 0.10, 0.10)]),
    ("mistralai/Mistral-7B-Instruct-v0.3", "mistralai", [
        ("together", 32768, 0.20, 0.20)]),
    ("HuggingFaceTB/SmolLM3-3B", "HuggingFaceTB", [
        ("hf-inference", 65536, 0.0, 0.0)]),
]


class BadRequest(Exception):
    """A request the real API would reject: status + JSON body."""

    def __init__(self, status, body):
        super().__init__(str(body))
        self.status = status
        self.body = body


def validation(msg, status=422):
    return BadRequest(status, {"error": msg, "error_type": "Validation"})


# ---------------------------------------------------------------------------------------------
# Deterministic model behaviour
# ---------------------------------------------------------------------------------------------

WORD_RE = re.compile(r"\w+")
SOURCE_RE = re.compile(r"^\s*\[(\d{1,6})\]\s?(.*)$")
HEADER_RE = re.compile(r"^\([^()]*\)\s*:?\s*")
SENTENCE_END_RE = re.compile(r"[.!?][\"')\]]*(?=\s|$)")


def words_of(text):
    """Lowercase \\w+ tokens: the vocabulary of embeddings and overlap scores."""
    return WORD_RE.findall(text.lower())


@functools.lru_cache(maxsize=65536)
def token_vector(tok):
    """Pseudo-random direction of one token: DIM values in [-1, 1] from SHAKE-256(token)."""
    raw = hashlib.shake_256(tok.encode("utf-8")).digest(DIM)
    return tuple((b - 127.5) / 127.5 for b in raw)


def l2_normalize(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n > 0 else list(v)


def embed_text(text, normalize):
    """Bag-of-words hashed projection: sum of token vectors (texts sharing words get higher
    cosine). A text without words embeds as the token "<empty>"."""
    toks = words_of(text) or ["<empty>"]
    acc = [0.0] * DIM
    for t in toks:  # component-wise, in token order (the same floats as a per-index loop)
        acc = list(map(operator.add, acc, token_vector(t)))
    if normalize:
        acc = l2_normalize(acc)
    return [round(x, 6) for x in acc]


def embed_tokens(text, normalize):
    """Token-level output of a plain transformers model: one vector per token."""
    toks = words_of(text) or ["<empty>"]
    out = []
    for t in toks:
        v = list(token_vector(t))
        out.append([round(x, 6) for x in (l2_normalize(v) if normalize else v)])
    return out


def overlap_logit(query, passage):
    """Raw cross-encoder logit in [-5, 5]: 10 * |Q & P| / max(1, |Q|) - 5 over word sets."""
    q, p = set(words_of(query)), set(words_of(passage))
    return round(10.0 * len(q & p) / max(1, len(q)) - 5.0, 6)


def sigmoid(x):
    return round(1.0 / (1.0 + math.exp(-x)), 6)


def content_text(content):
    """Text of a message content: a string, or a list of {"type":"text","text":...} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content
                         if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def parse_sources(text):
    """Numbered sources in a prompt: {n: passage}. A source starts on a line "[n] passage";
    following lines continue it until a blank line or the next "[m]" line. A leading "(...)"
    header (with an optional ":") after the label is dropped. The first "[n]" wins."""
    sources, order = {}, []
    cur = None
    for line in text.split("\n"):
        m = SOURCE_RE.match(line)
        if m:
            n = int(m.group(1))
            cur = None
            if n not in sources:
                sources[n] = [m.group(2)]
                order.append(n)
                cur = n
        elif not line.strip():
            cur = None
        elif cur is not None:
            sources[cur].append(line)
    out = {}
    for n in order:
        body = " ".join(" ".join(sources[n]).split())
        out[n] = HEADER_RE.sub("", body, count=1).strip()
    return out


def first_sentence(text):
    m = SENTENCE_END_RE.search(text)
    s = text[:m.end()] if m else text
    return " ".join(s.split()[:MAX_SENTENCE_WORDS])


def grounded_answer(messages):
    """First sentence of the two lowest-numbered sources of the last user message, each
    followed by " [n]"; "I don't know." when that message has no sources."""
    last_user = ""
    for m in messages:
        if m.get("role") == "user":
            last_user = content_text(m.get("content"))
    sources = parse_sources(last_user)
    parts = []
    for n in sorted(sources)[:2]:
        s = first_sentence(sources[n])
        if s:
            parts.append("%s [%d]" % (s, n))
    return " ".join(parts) if parts else "I don't know."


def prompt_word_count(messages):
    return sum(len(content_text(m.get("content")).split()) for m in messages)


def truncate_front(messages, budget):
    """Ollama's silent context truncation, in words: drops whole lines from the front of the
    conversation (oldest message first) until at most `budget` words remain."""
    msgs = [dict(m, content=content_text(m.get("content"))) for m in messages]
    excess = prompt_word_count(msgs) - budget
    for m in msgs:
        if excess <= 0:
            break
        lines = m["content"].split("\n")
        while lines and excess > 0:
            excess -= len(lines.pop(0).split())
        m["content"] = "\n".join(lines)
    return msgs


def split_model(model):
    """"org/model:suffix" -> ("org/model", provider). Policy suffixes map to fake-provider."""
    base, _, suffix = model.partition(":")
    if suffix in ("", "fastest", "cheapest", "preferred"):
        return base, "fake-provider"
    return base, suffix


def validate_messages(msgs, roles):
    if msgs is None:
        raise validation("messages is required")
    if not isinstance(msgs, list) or not msgs:
        raise validation("messages must be a non-empty list of {role, content}")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise validation("messages[%d] must be an object {role, content}" % i)
        if m.get("role") not in roles:
            raise validation("messages[%d].role must be one of %s" % (i, ", ".join(roles)))
        c = m.get("content")
        if not (isinstance(c, (str, list)) or (c is None and m["role"] == "assistant")):
            raise validation("messages[%d].content must be a string or a list of parts" % i)


def positive_int(obj, key):
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise validation("%s must be a positive integer" % key)
    return v


def utc_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Shared state: fault queue and counters (one per server, guarded by a lock)
# ---------------------------------------------------------------------------------------------

def parse_fault(name):
    """Validates a fault name; returns it unchanged or raises ValueError."""
    if not isinstance(name, str):
        raise ValueError("fault names are strings")
    if name in ("ok", "429_retry_after", "429_ratelimit", "503_loading", "slow", "close") \
            or name in BODY_FAULTS:
        return name
    if name.startswith("slow:"):
        try:
            secs = float(name[5:])
        except ValueError:
            raise ValueError("unknown fault %r (slow:N needs a number of seconds)" % name) from None
        if not 0 <= secs <= 60:
            raise ValueError("slow:N needs 0 <= N <= 60")
        return name
    if name.startswith("drip:"):
        try:
            secs = float(name[5:])
        except ValueError:
            raise ValueError("unknown fault %r (drip:N needs a number of seconds)" % name) from None
        if not 0 <= secs <= MAX_DRIP_SECONDS:
            raise ValueError("drip:N needs 0 <= N <= %d" % MAX_DRIP_SECONDS)
        return name
    base, sep, arg = name.partition(":")
    if sep and base in ("429_retry_after", "429_ratelimit"):
        if not (arg.isdigit() and int(arg) <= 60):
            raise ValueError("unknown fault %r (%s:N needs whole seconds 0..60)" % (name, base))
        return name
    code, _, shape = name.partition(":")
    if len(code) == 3 and code.isdigit() and 400 <= int(code) <= 599 and (not shape or shape in SHAPES):
        return name
    raise ValueError("unknown fault %r" % name)


# Default fault mix of chaos mode: fault -> relative weight. The 429s ask for a 0 s wait (valid
# delay-seconds / reset values) so a long soak is not dominated by rate-limit sleeps.
CHAOS_DEFAULT_MIX = {
    "429_retry_after:0": 1, "429_ratelimit:0": 1, "503_loading": 1, "500": 1, "502": 1, "504": 1,
    "slow:0.2": 1, "malformed_json": 1, "truncated_body": 1, "sse_cut": 1, "sse_error": 1, "close": 1,
    "402": 0.1,
}
CHAOS_MAX_KEYS = 1 << 20  # distinct requests remembered for occurrence counting


def parse_chaos(body):
    """Validates a POST /_fake/chaos body; returns the config dict or raises ValueError."""
    if not isinstance(body, dict):
        raise ValueError('expected {"rate": 0..1, "seed": int, "match": "<substring>", "faults": [...]}')
    unknown = sorted(set(body) - {"rate", "seed", "match", "faults"})
    if unknown:
        raise ValueError("unknown chaos key %r (expected rate, seed, match, faults)" % unknown[0])
    rate = body.get("rate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise ValueError("rate must be a number in [0, 1], got %s" % json.dumps(rate))
    seed = body.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError("seed must be an integer, got %s" % json.dumps(seed))
    match = body.get("match", "")
    if not isinstance(match, str):
        raise ValueError("match must be a string")
    faults = body.get("faults")
    if faults is None:
        mix = dict(CHAOS_DEFAULT_MIX)
    elif isinstance(faults, list):
        mix = {}
        for f in faults:
            name = parse_fault(f)
            mix[name] = mix.get(name, 0) + 1
    elif isinstance(faults, dict):
        mix = {}
        for f, w in faults.items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < 1e9:
                raise ValueError("weight of fault %r must be a number >= 0" % f)
            mix[parse_fault(f)] = float(w)
    else:
        raise ValueError("faults must be a list of fault names or an object {fault: weight}")
    if not mix or sum(mix.values()) <= 0:
        raise ValueError("faults must name at least one fault with a weight > 0")
    return {"rate": float(rate), "seed": seed, "match": match, "faults": mix}


class State:
    def __init__(self, token):
        self.token = token
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.chaos = None          # parse_chaos() config while chaos mode is on
        self.chaos_seen = {}       # request key -> times seen since chaos was last set
        self.chaos_requests = 0    # requests that chaos mode drew for
        self.chaos_served = {}     # fault -> times served by chaos mode
        self.chaos_by_kind = {}    # endpoint kind -> {fault: times}
        self.faults = []  # [match, fault, sticky] in arrival order
        self.requests = {k: 0 for k in KINDS}
        self.by_model = {}
        self.last_headers = {}
        self.last_body = None
        self.num_ctx_seen = []
        self.faults_served = []
        self.auth_failures = 0
        self.total = 0
        self.streams_completed = 0  # streamed responses written to the end
        self.streams_aborted = 0    # streamed responses whose client closed before the end

    def set_chaos(self, cfg):
        """Turns chaos mode on with cfg (rate > 0) or off (rate 0). Counters are kept."""
        with self.lock:
            self.chaos = cfg if cfg["rate"] > 0 else None
            self.chaos_seen = {}

    def take_fault(self, path, model, kind=None, key=None):
        """(fault, from_chaos): the first queued fault whose match is a substring of the path or
        the model name; else, in chaos mode, a drawn fault or None; else (None, False).

        Chaos draws are a function of the seed, the request (key: method, path, model and body)
        and how many times that same request was seen since chaos was set, so a seed gives the
        same faults for the same requests whatever the order and concurrency of the client."""
        with self.lock:
            for i, (match, fault, sticky) in enumerate(self.faults):
                if match in path or (model and match in model):
                    if not sticky:
                        del self.faults[i]
                    self.faults_served.append(fault)
                    return fault, False
            c = self.chaos
            if c is None or key is None or not (c["match"] in path or (model and c["match"] in model)):
                return None, False
            occ = self.chaos_seen.get(key, 0)
            if occ or len(self.chaos_seen) < CHAOS_MAX_KEYS:
                self.chaos_seen[key] = occ + 1
            self.chaos_requests += 1
            h = hashlib.blake2b(b"%d:%d:" % (c["seed"], occ) + key, digest_size=16).digest()
            if int.from_bytes(h[:8], "big") / 2.0 ** 64 >= c["rate"]:
                return None, False
            weighted = [(name, w) for name, w in c["faults"].items() if w > 0]
            pick = int.from_bytes(h[8:], "big") / 2.0 ** 64 * sum(w for _, w in weighted)
            fault = weighted[-1][0]  # if rounding leaves pick at the very top
            for name, w in weighted:
                if pick < w:
                    fault = name
                    break
                pick -= w
            self.chaos_served[fault] = self.chaos_served.get(fault, 0) + 1
            per = self.chaos_by_kind.setdefault(kind or "-", {})
            per[fault] = per.get(fault, 0) + 1
            return fault, True

    def record(self, kind, model, headers, body):
        with self.lock:
            self.total += 1
            self.requests[kind] += 1
            if model:
                self.by_model[model] = self.by_model.get(model, 0) + 1
            self.last_headers = {k.lower(): v for k, v in headers.items()}
            self.last_body = body
            if kind == "ollama_chat":
                opts = body.get("options") if isinstance(body, dict) else None
                self.num_ctx_seen.append(opts.get("num_ctx") if isinstance(opts, dict) else None)

    def stats(self):
        with self.lock:
            return {"requests": dict(self.requests), "requests_total": self.total,
                    "by_model": dict(self.by_model), "last_headers": dict(self.last_headers),
                    "last_body": self.last_body, "num_ctx_seen": list(self.num_ctx_seen),
                    "faults_served": list(self.faults_served),
                    "faults_pending": len(self.faults), "auth_failures": self.auth_failures,
                    "streams": {"completed": self.streams_completed, "aborted": self.streams_aborted},
                    "chaos": self.chaos_stats()}

    def chaos_stats(self):
        """Chaos configuration and counters (called with the lock held)."""
        c = self.chaos or {"rate": 0, "seed": None, "match": "", "faults": {}}
        return {"rate": c["rate"], "seed": c["seed"], "match": c["match"], "faults": dict(c["faults"]),
                "requests": self.chaos_requests, "faults_served": dict(self.chaos_served),
                "faults_total": sum(self.chaos_served.values()),
                "by_kind": {k: dict(v) for k, v in self.chaos_by_kind.items()}}


# ---------------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------------

class Resp:
    """A complete response: `obj` is JSON-encoded unless `raw` bytes are given."""

    def __init__(self, status, obj=None, headers=None, raw=None, ctype="application/json"):
        self.status, self.obj, self.raw, self.ctype = status, obj, raw, ctype
        self.headers = headers or {}

    def body(self):
        return self.raw if self.raw is not None else dumps(self.obj)


class Stream:
    """A streamed 200 response: `events` are complete frames (bytes); framing "sse" or "ndjson".
    `done` is the terminating frame ("data: [DONE]") or None."""

    def __init__(self, framing, events, done=None, headers=None):
        self.framing, self.events, self.done = framing, events, done
        self.headers = headers or {}


def sse(obj):
    return b"data: " + dumps(obj) + b"\n\n"


def ndjson(obj):
    return dumps(obj) + b"\n"


def status_fault_resp(fault, model):
    """Response of a "<status>[:shape]" fault (and 429_*/503_loading)."""
    name, _, secs = fault.partition(":")
    if name == "429_retry_after":
        return Resp(429, {"error": "Rate limit reached"}, {"Retry-After": secs or "1"})
    if name == "429_ratelimit":
        return Resp(429, {"error": "Rate limit reached"},
                    {"RateLimit": '"api";r=0;t=%s' % (secs or "1"),
                     "RateLimit-Policy": '"fixed window";"api";q=1000;w=300'})
    if fault == "503_loading":
        return Resp(503, {"error": "Model %s is currently loading" % (model or "unknown"),
                          "estimated_time": 0.5})
    code_s, _, shape = fault.partition(":")
    code = int(code_s)
    msg, default_shape = STATUS_FAULTS.get(code, ("Fake error %d" % code, "string"))
    msg = msg.replace("{model}", model or "unknown")
    shape = shape or default_shape
    headers = {"X-Error-Message": AUTH_MESSAGE} if code == 401 else {}
    if shape == "text":
        return Resp(code, raw=("%d %s\n" % (code, msg)).encode(), headers=headers,
                    ctype="text/plain; charset=utf-8")
    if shape == "empty":
        return Resp(code, raw=b"", headers=headers)
    body = {"string": {"error": msg},
            "list": {"error": [msg, "upstream provider returned an error"]},
            "nested": {"error": {"message": msg}},
            "message": {"message": msg},
            "detail": {"detail": msg},
            "tei": {"error": msg, "error_type": TEI_ERROR_TYPES.get(code, "Backend")}}[shape]
    return Resp(code, body, headers)


def oversize_json():
    """OVERSIZE_BYTES of valid JSON: an array of zeros, padded with whitespace."""
    n = (OVERSIZE_BYTES - 3) // 2
    body = b"[" + b"0," * n + b"0"
    return body + b" " * (OVERSIZE_BYTES - len(body) - 1) + b"]"


# ---------------------------------------------------------------------------------------------
# HTTP handler
# ---------------------------------------------------------------------------------------------

MODEL_RE = r"(?P<model>[^/]+(?:/[^/]+)?)"
ROUTES = [
    ("POST", re.compile(r"^/v1/chat/completions$"), "chat", "h_chat"),
    ("POST", re.compile(r"^/hf-inference/models/" + MODEL_RE + r"/v1/chat/completions$"), "chat", "h_chat"),
    ("GET", re.compile(r"^/v1/models$"), "models", "h_models"),
    ("POST", re.compile(r"^/hf-inference/models/" + MODEL_RE + r"/pipeline/feature-extraction$"),
     "feature_extraction", "h_feature_extraction"),
    ("POST", re.compile(r"^/hf-inference/models/" + MODEL_RE + r"$"), "classification", "h_classification"),
    ("POST", re.compile(r"^/embed$"), "tei_embed", "h_tei_embed"),
    ("POST", re.compile(r"^/rerank$"), "tei_rerank", "h_tei_rerank"),
    ("POST", re.compile(r"^/v1/embeddings$"), "openai_embed", "h_openai_embed"),
    ("POST", re.compile(r"^/api/chat$"), "ollama_chat", "h_ollama_chat"),
    ("POST", re.compile(r"^/api/embed$"), "ollama_embed", "h_ollama_embed"),
    ("GET", re.compile(r"^/health$"), None, "h_health"),
    ("GET", re.compile(r"^/info$"), None, "h_info"),
    ("GET", re.compile(r"^/api/tags$"), None, "h_tags"),
    ("POST", re.compile(r"^/_fake/faults$"), "_control", "h_fake_faults"),
    ("POST", re.compile(r"^/_fake/reset$"), "_control", "h_fake_reset"),
    ("POST", re.compile(r"^/_fake/chaos$"), "_control", "h_fake_chaos"),
    ("GET", re.compile(r"^/_fake/stats$"), "_control", "h_fake_stats"),
]


class Req:
    def __init__(self, path, kind, params, body, model):
        self.path, self.kind, self.params, self.body, self.model = path, kind, params, body, model


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakehf/1.0"
    # TCP_NODELAY: headers and body are separate writes; with Nagle + delayed ACK each response
    # would stall about 40 ms.
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections are dropped after this many seconds

    def version_string(self):
        return self.server_version

    # -- plumbing --------------------------------------------------------------------------

    def log_message(self, fmt, *args):  # silence BaseHTTPRequestHandler's stderr log
        pass

    def send_response(self, code, message=None):
        self._status = code
        super().send_response(code, message)
        self.send_header("x-request-id", self._rid)

    def handle_one_request(self):
        self._rid = str(uuid.uuid4())
        self._status = 0
        self._fault = None
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    def _log(self):
        log = self.server.log_file
        if log is None:
            return
        line = "%s %s %s %03d fault=%s rid=%s\n" % (
            utc_iso(), self.command, self.path, self._status, self._fault or "-", self._rid)
        with self.server.log_lock:
            log.write(line)
            log.flush()

    def _read_body(self):
        """Request body (bytes); None after a 4xx was sent (connection then closed)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                try:
                    size = int(self.rfile.readline(64).split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self._send(Resp(400, {"error": "Invalid chunked request body"}), close=True)
                    return None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                if len(data) + size > MAX_REQUEST_BODY:
                    self._send(Resp(413, {"error": "Payload too large"}), close=True)
                    return None
                data += self.rfile.read(size)
                self.rfile.readline(8)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            self._send(Resp(400, {"error": "Invalid Content-Length header"}), close=True)
            return None
        if n > MAX_REQUEST_BODY:
            # Drain a moderately oversized body first (up to 64 MiB): answering while the client
            # is still sending makes it see a broken pipe instead of the 413.
            left = n if n <= 8 * MAX_REQUEST_BODY else 0
            while left > 0:
                got = self.rfile.read(min(left, 1 << 16))
                if not got:
                    break
                left -= len(got)
            self._send(Resp(413, {"error": "Payload too large: %d bytes > %d" % (n, MAX_REQUEST_BODY)}),
                       close=True)
            return None
        return self.rfile.read(n)

    def _headers(self, status, ctype, extra, length=None, chunked=False):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in extra.items():
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", str(length))
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _send(self, resp, close=False):
        if close:
            self.close_connection = True
        body = resp.body()
        self._headers(resp.status, resp.ctype, resp.headers, length=len(body))
        self.wfile.write(body)

    def _write_frame(self, data, chunked):
        if chunked:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.wfile.write(data)

    def _send_stream(self, st, fault):
        """Streams `st` and counts it in the stats as completed, or aborted when the client
        closed the connection before the end."""
        state = self.server.state
        try:
            self._send_stream_frames(st, fault)
        except (BrokenPipeError, ConnectionResetError):
            with state.lock:
                state.streams_aborted += 1
            raise
        with state.lock:
            state.streams_completed += 1

    def _send_stream_frames(self, st, fault):
        """Streams `st`, applying a body fault: sse_cut (3 frames, then close), sse_error /
        sse_error_flat / ndjson_error (2 frames, an error frame, end without [DONE]), sse_noise
        (comments, event: lines, frames split across writes), oversize (one 12 MiB frame),
        drip:N (a pause of N seconds before each frame)."""
        drip = float(fault[5:]) if fault and fault.startswith("drip:") else 0.0
        chunked = self.request_version == "HTTP/1.1"
        if not chunked:
            self.close_connection = True
        ctype = "text/event-stream" if st.framing == "sse" else "application/x-ndjson"
        extra = dict(st.headers)
        if st.framing == "sse":
            extra["Cache-Control"] = "no-cache"
        self._headers(200, ctype, extra, chunked=chunked)
        frames = list(st.events) + ([st.done] if st.done else [])
        fault = {"truncated_body": "sse_cut", "oversize_chunked": "oversize"}.get(fault, fault)
        if fault == "malformed_json":
            bad = b'data: {"choices": [{"delta":\n\n' if st.framing == "sse" else b'{"message": {"content":\n'
            frames = frames[:1] + [bad] + frames[1:]
        if fault == "sse_cut":
            for f in frames[:min(3, len(frames) - 1)]:
                self._write_frame(f, chunked)
            self.close_connection = True
            return
        if fault in ("sse_error", "sse_error_flat", "ndjson_error"):
            if st.framing == "ndjson":
                err = ndjson({"error": "an error was encountered while running the model: unexpected EOF"})
            elif fault == "sse_error_flat":
                err = sse({"error": "Internal error", "error_type": "generation"})
            else:
                err = sse({"error": {"message": "Internal error"}})
            frames = frames[:2] + [err]
        elif fault == "oversize":
            prefix = b"data: " if st.framing == "sse" else b""
            frames = [prefix + oversize_json() + (b"\n\n" if st.framing == "sse" else b"\n")]
        if fault == "sse_noise" and st.framing == "sse":
            self._write_frame(b": ping\n\n", chunked)
            for i, f in enumerate(frames):
                half = len(f) // 2
                self._write_frame(b"event: message\n" + f[:half], chunked)
                time.sleep(0.01)
                self._write_frame(f[half:], chunked)
                if i < len(frames) - 1:
                    self._write_frame(b": keep-alive\n\n", chunked)
        else:
            for f in frames:
                if drip:
                    time.sleep(drip)
                for i in range(0, len(f), 1 << 20):
                    self._write_frame(f[i:i + (1 << 20)], chunked)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _send_with_fault(self, resp, fault):
        """Sends a successful complete response, applying a body fault."""
        if fault in ("sse_error", "sse_error_flat", "ndjson_error"):
            body = {"error": "Internal error", "error_type": "generation"} if fault == "sse_error_flat" \
                else {"error": {"message": "Internal error"}}
            return self._send(Resp(500, body))
        if fault == "malformed_json":
            return self._send(Resp(200, raw=b'{"choices": [{"index":0,"message":{"role":"assistant",'
                                            b'"content":"garb\x01age<html>', headers=resp.headers))
        if fault in ("truncated_body", "sse_cut"):
            body = resp.body()
            self.close_connection = True
            self._headers(resp.status, resp.ctype, resp.headers, length=len(body) + 4096)
            self.wfile.write(body[:max(1, len(body) // 2)])
            return None
        if fault == "oversize":
            return self._send(Resp(200, raw=oversize_json(), headers=resp.headers))
        if fault == "oversize_chunked":
            st = Stream("raw", [oversize_json()], headers=resp.headers)
            self._headers(200, "application/json", st.headers, chunked=True)
            data = st.events[0]
            for i in range(0, len(data), 1 << 20):
                self._write_frame(data[i:i + (1 << 20)], True)
            self.wfile.write(b"0\r\n\r\n")
            return None
        return self._send(resp)

    # -- dispatch --------------------------------------------------------------------------

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        try:
            self._dispatch_inner(method)
        finally:
            self._log()

    def _dispatch_inner(self, method):
        raw = self._read_body()
        if raw is None:
            return
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        route, params, wrong_method = None, {}, False
        for m, rx, kind, name in ROUTES:
            mt = rx.match(path)
            if mt:
                if m == method:
                    route, params = (kind, name), mt.groupdict()
                    break
                wrong_method = True
        if route is None:
            if wrong_method:
                return self._send(Resp(405, {"error": "Method %s not allowed on %s" % (method, path)}))
            return self._send(Resp(404, {"error": "Not found: %s" % path}))
        kind, name = route

        body, body_error = None, None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                body_error = "request body is not valid UTF-8"
            except ValueError as e:
                body_error = "Invalid JSON body: %s" % e
        if kind == "_control":
            if body_error:
                return self._send(Resp(400, {"error": body_error}))
            return self._send(getattr(self, name)(body))
        if kind is None:  # health / info / tags: no auth, no counters, no faults
            return self._send(getattr(self, name)())

        model = params.get("model")
        if isinstance(body, dict) and isinstance(body.get("model"), str) and body["model"]:
            model = body["model"]
        if kind == "chat" and isinstance(body, dict) and body.get("stream") is True:
            kind = "chat_stream"
        state = self.server.state
        state.record(kind, model, self.headers, body if body_error is None else raw.decode("utf-8", "replace"))

        if state.token is not None and kind != "models" \
                and self.headers.get("Authorization") != "Bearer " + state.token:
            with state.lock:
                state.auth_failures += 1
            return self._send(Resp(401, {"error": AUTH_MESSAGE}, {"X-Error-Message": AUTH_MESSAGE}))

        key = b"\0".join([method.encode(), path.encode("utf-8", "replace"),
                          (model or "").encode("utf-8", "replace"), hashlib.sha256(raw).digest()])
        fault, from_chaos = state.take_fault(path, model, kind, key)
        self._fault = ("chaos/" + fault) if from_chaos else fault
        if fault == "close":
            self.close_connection = True
            return None
        if fault is not None and fault.startswith("slow"):
            time.sleep(float(fault[5:]) if fault.startswith("slow:") else 5.0)
            fault = None
        if fault is not None and fault != "ok" and not is_body_fault(fault):
            return self._send(status_fault_resp(fault, model))

        if body_error:
            return self._send(Resp(400, {"error": body_error}))
        if raw == b"" and method == "POST":
            return self._send(Resp(400, {"error": "request body is empty: a JSON object is required"}))
        try:
            out = getattr(self, name)(Req(path, kind, params, body, model))
        except BadRequest as e:
            return self._send(Resp(e.status, e.body))
        if isinstance(out, Stream):
            return self._send_stream(out, fault)
        return self._send_with_fault(out, fault)

    # -- control plane ---------------------------------------------------------------------

    def h_fake_faults(self, body):
        if not isinstance(body, dict) or not isinstance(body.get("match"), str) \
                or not isinstance(body.get("faults"), list):
            return Resp(400, {"error": 'expected {"match": "<substring>", "faults": ["<fault>", ...]}'})
        try:
            faults = [parse_fault(f) for f in body["faults"]]
        except ValueError as e:
            return Resp(400, {"error": str(e)})
        sticky = body.get("sticky") is True
        st = self.server.state
        cleared = 0
        with st.lock:
            if body.get("clear") is True:  # drop the pending faults queued with this match first
                kept = [f for f in st.faults if f[0] != body["match"]]
                cleared = len(st.faults) - len(kept)
                st.faults = kept
            for i, f in enumerate(faults):
                st.faults.append([body["match"], f, sticky and i == len(faults) - 1])
            pending = len(st.faults)
        out = {"queued": len(faults), "pending": pending}
        if body.get("clear") is True:
            out["cleared"] = cleared
        return Resp(200, out)

    def h_fake_chaos(self, body):
        try:
            cfg = parse_chaos(body)
        except ValueError as e:
            return Resp(400, {"error": str(e)})
        self.server.state.set_chaos(cfg)
        return Resp(200, {"chaos": {"rate": cfg["rate"], "seed": cfg["seed"], "match": cfg["match"],
                                    "faults": cfg["faults"]}})

    def h_fake_reset(self, body):
        st = self.server.state
        with st.lock:
            st.reset()
        return Resp(200, {"reset": True})

    def h_fake_stats(self, body):
        return Resp(200, self.server.state.stats())

    # -- misc ------------------------------------------------------------------------------

    def h_health(self):
        return Resp(200, raw=b"", ctype=None)

    def h_info(self):
        return Resp(200, {"model_id": "fake/tei-model", "model_type": {"embedding": {"pooling": "mean"}},
                          "max_client_batch_size": MAX_BATCH, "max_input_length": 512,
                          "version": "fakehf"})

    def h_tags(self):
        return Resp(200, {"models": [{"name": n, "model": n, "size": 0} for n in
                                     ("llama3.2:latest", "all-minilm:latest")]})

    # -- HF router: chat -------------------------------------------------------------------

    def h_chat(self, req):
        b = req.body
        if not isinstance(b, dict):
            raise validation("request body must be a JSON object")
        model = b.get("model")
        if model is None:
            model = req.params.get("model")
        if not isinstance(model, str) or not model:
            raise validation("model is required")
        validate_messages(b.get("messages"), ("system", "user", "assistant", "tool", "developer"))
        stop = b.get("stop")
        if stop is not None:
            if isinstance(stop, str):
                stop = [stop]
            if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
                raise validation("stop must be a string or a list of strings")
            if len(stop) > 4:
                raise validation("stop: at most 4 sequences are allowed, got %d" % len(stop))
        max_tokens = positive_int(b, "max_tokens")
        t = b.get("temperature")
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 2):
            raise validation("temperature must be a number in [0, 2]")
        stream = b.get("stream", False)
        if not isinstance(stream, bool):
            raise validation("stream must be a boolean")
        so = b.get("stream_options")
        include_usage = isinstance(so, dict) and so.get("include_usage") is True

        base, provider = split_model(model)
        if req.params.get("model"):
            provider = "hf-inference"
        words = grounded_answer(b["messages"]).split()
        finish = "stop"
        if max_tokens is not None and len(words) > max_tokens:
            words, finish = words[:max_tokens], "length"
        content = " ".join(words)
        usage = {"prompt_tokens": prompt_word_count(b["messages"]), "completion_tokens": len(words)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        cid, created = "chatcmpl-" + uuid.uuid4().hex, int(time.time())
        headers = {"x-inference-provider": provider}
        if not stream:
            return Resp(200, {"id": cid, "object": "chat.completion", "created": created, "model": base,
                              "choices": [{"index": 0, "finish_reason": finish,
                                           "message": {"role": "assistant", "content": content}}],
                              "usage": usage}, headers)

        def chunk(delta, finish_reason):
            return sse({"id": cid, "object": "chat.completion.chunk", "created": created, "model": base,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]})
        events = []
        for i, w in enumerate(words):
            delta = {"content": w + (" " if i < len(words) - 1 else "")}
            if i == 0:
                delta = {"role": "assistant", **delta}
            events.append(chunk(delta, None))
        events.append(chunk({}, finish))
        if include_usage:
            events.append(sse({"id": cid, "object": "chat.completion.chunk", "created": created,
                               "model": base, "choices": [], "usage": usage}))
        return Stream("sse", events, done=b"data: [DONE]\n\n", headers=headers)

    def h_models(self, req):
        data = []
        for mid, owner, provs in CATALOGUE:
            data.append({"id": mid, "object": "model", "created": 1730000000, "owned_by": owner,
                         "providers": [{"provider": p, "status": "live", "context_length": ctx,
                                        "pricing": {"input": pin, "output": pout},
                                        "is_free": pin == 0 and pout == 0}
                                       for p, ctx, pin, pout in provs]})
        return Resp(200, {"object": "list", "data": data})

    # -- embeddings and rerank -------------------------------------------------------------

    @staticmethod
    def _inputs(b, key, allow_str=True):
        """Validated text inputs: (list of str, was_a_single_string)."""
        if not isinstance(b, dict) or key not in b:
            raise validation("%s is required" % key)
        v = b[key]
        if isinstance(v, str) and allow_str:
            return [v], True
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise validation("%s must be a string or a list of strings" % key)
        if not v:
            raise BadRequest(400, {"error": "`%s` cannot be empty" % key, "error_type": "Empty"})
        if len(v) > MAX_BATCH:
            raise validation("batch size %d > maximum allowed batch size %d" % (len(v), MAX_BATCH))
        return v, False

    @staticmethod
    def _flag(b, key, default):
        v = b.get(key, default)
        if not isinstance(v, bool):
            raise validation("%s must be a boolean" % key)
        return v

    def h_feature_extraction(self, req):
        texts, single = self._inputs(req.body, "inputs")
        normalize = self._flag(req.body, "normalize", True)
        self._flag(req.body, "truncate", True)
        model = req.params["model"]
        if "token-level" in model:
            out = [embed_tokens(t, normalize) for t in texts]
            if "4d" in model and not single:
                out = [[x] for x in out]
            return Resp(200, out)
        out = [embed_text(t, normalize) for t in texts]
        return Resp(200, out[0] if single else out)

    def h_classification(self, req):
        b = req.body
        if not isinstance(b, dict) or "inputs" not in b:
            raise validation("inputs is required")
        pairs = b["inputs"]
        if isinstance(pairs, dict):
            pairs = [pairs]
        if not isinstance(pairs, list) or not pairs:
            raise validation("inputs must be a non-empty list of {text, text_pair}")
        if len(pairs) > MAX_BATCH:
            raise validation("batch size %d > maximum allowed batch size %d" % (len(pairs), MAX_BATCH))
        for i, p in enumerate(pairs):
            if not isinstance(p, dict) or not isinstance(p.get("text"), str) \
                    or not isinstance(p.get("text_pair"), str):
                raise validation("inputs[%d] must be {\"text\": str, \"text_pair\": str}" % i)
        params = b.get("parameters") or {}
        if not isinstance(params, dict):
            raise validation("parameters must be an object")
        fn = params.get("function_to_apply", "sigmoid")
        if fn not in ("none", "sigmoid", "softmax"):
            raise validation("function_to_apply must be one of none, sigmoid, softmax")
        out = []
        for p in pairs:
            raw = overlap_logit(p["text"], p["text_pair"])
            score = raw if fn == "none" else (sigmoid(raw) if fn == "sigmoid" else 1.0)
            out.append({"label": "LABEL_0", "score": score})
        if "flat" in req.params["model"]:
            return Resp(200, out)
        return Resp(200, [[x] for x in out])

    def h_tei_embed(self, req):
        texts, _ = self._inputs(req.body, "inputs")
        normalize = self._flag(req.body, "normalize", True)
        return Resp(200, [embed_text(t, normalize) for t in texts])

    def h_tei_rerank(self, req):
        b = req.body
        if not isinstance(b, dict) or not isinstance(b.get("query"), str):
            raise validation("query is required and must be a string")
        texts, _ = self._inputs(b, "texts", allow_str=False)
        raw_scores = self._flag(b, "raw_scores", False)
        return_text = self._flag(b, "return_text", False)
        self._flag(b, "truncate", False)
        out = []
        for i, t in enumerate(texts):
            raw = overlap_logit(b["query"], t)
            r = {"index": i, "score": raw if raw_scores else sigmoid(raw)}
            if return_text:
                r["text"] = t
            out.append(r)
        out.sort(key=lambda r: (-r["score"], r["index"]))
        return Resp(200, out)

    def h_openai_embed(self, req):
        texts, _ = self._inputs(req.body, "input")
        model = req.body.get("model") or "fake/tei-model"
        data = [{"object": "embedding", "index": i, "embedding": embed_text(t, True)}
                for i, t in enumerate(texts)]
        n = sum(len(t.split()) for t in texts)
        return Resp(200, {"object": "list", "data": data, "model": model,
                          "usage": {"prompt_tokens": n, "total_tokens": n}})

    # -- Ollama ----------------------------------------------------------------------------

    def h_ollama_chat(self, req):
        b = req.body
        if not isinstance(b, dict):
            raise BadRequest(400, {"error": "request body must be a JSON object"})
        if not isinstance(b.get("model"), str) or not b["model"]:
            raise BadRequest(400, {"error": "model is required"})
        try:
            validate_messages(b.get("messages"), ("system", "user", "assistant", "tool"))
        except BadRequest as e:
            raise BadRequest(400, {"error": e.body["error"]})
        stream = b.get("stream", True)
        opts = b.get("options") or {}
        if not isinstance(stream, bool) or not isinstance(opts, dict):
            raise BadRequest(400, {"error": "stream must be a boolean and options an object"})
        try:
            num_ctx = positive_int(opts, "num_ctx") or OLLAMA_DEFAULT_NUM_CTX
            num_predict = opts.get("num_predict")
            if num_predict is not None and (not isinstance(num_predict, int) or isinstance(num_predict, bool)):
                raise validation("num_predict must be an integer")
        except BadRequest as e:
            raise BadRequest(400, {"error": "options." + e.body["error"]})
        msgs = truncate_front(b["messages"], num_ctx)
        words = grounded_answer(msgs).split()
        reason = "stop"
        if num_predict is not None and 0 <= num_predict < len(words):
            words, reason = words[:num_predict], "length"
        prompt_n = prompt_word_count(msgs)
        final = {"done": True, "done_reason": reason,
                 "total_duration": 1_000_000 + 10_000_000 * (prompt_n + len(words)),
                 "load_duration": 1_000_000, "prompt_eval_count": prompt_n,
                 "prompt_eval_duration": 10_000_000 * prompt_n, "eval_count": len(words),
                 "eval_duration": 10_000_000 * len(words)}
        model = b["model"]
        if not stream:
            return Resp(200, {"model": model, "created_at": utc_iso(),
                              "message": {"role": "assistant", "content": " ".join(words)}, **final})
        events = [ndjson({"model": model, "created_at": utc_iso(),
                          "message": {"role": "assistant",
                                      "content": w + (" " if i < len(words) - 1 else "")},
                          "done": False}) for i, w in enumerate(words)]
        events.append(ndjson({"model": model, "created_at": utc_iso(),
                              "message": {"role": "assistant", "content": ""}, **final}))
        return Stream("ndjson", events)

    def h_ollama_embed(self, req):
        b = req.body
        if not isinstance(b, dict) or not isinstance(b.get("model"), str) or not b["model"]:
            raise BadRequest(400, {"error": "model is required"})
        try:
            texts, _ = self._inputs(b, "input")
        except BadRequest as e:
            raise BadRequest(400, {"error": e.body["error"]})
        n = sum(len(t.split()) for t in texts)
        return Resp(200, {"model": b["model"], "embeddings": [embed_text(t, True) for t in texts],
                          "total_duration": 1_000_000 + 1_000_000 * n, "load_duration": 1_000_000,
                          "prompt_eval_count": n})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Hugging Face / TEI / Ollama API server for tests")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--token", help="require 'Authorization: Bearer TOKEN' on model endpoints")
    ap.add_argument("--log", help="append one line per request to this file")
    args = ap.parse_args(argv)

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args.token)
    srv.log_lock = threading.Lock()
    srv.log_file = open(args.log, "a", encoding="utf-8") if args.log else None

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()
        if srv.log_file:
            srv.log_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
