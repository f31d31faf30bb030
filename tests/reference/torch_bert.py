#!/usr/bin/python3
"""Independent PyTorch reference for ragc's C encoder (src/local/bert.c, st_pipeline.c).

Written from the BERT paper / Hugging Face BertModel semantics with torch.nn modules; it shares no
code with the C version. Needs Debian python3-torch (1.13) and numpy; no transformers package.

Subcommands (all print JSON on stdout):
  embed --model DIR --ids FILE    sentence-transformers embeddings: BERT -> pooling from
                                  1_Pooling/config.json -> Normalize if modules.json lists it.
  cross --model DIR --ids FILE    BertForSequenceClassification logits (pooler tanh on [CLS],
                                  then the classifier); raw logits.
  refs --st DIR --ce DIR --case DIR   both of the above in one process (torch imports once):
                                  CASE/ids_embed.json -> CASE/ref_embed.json and
                                  CASE/ids_cross.json -> CASE/ref_cross.json.
  bench --model DIR [--threads N] throughput at batch x seq tokens and single-query latency
                                  (torch.inference_mode, torch.set_num_threads(N)).
  rss --model DIR --passages N    peak RSS (KiB) of loading the model and embedding N random
                                  passages of 100-200 tokens in batches of 32.

FILE is JSON {"ids": [[int, ...], ...], "type_ids": [[int, ...], ...] (optional)}; sequences may
have different lengths: they are right-padded with 0 to the longest and masked, as the tokenizer
would pad a batch.
"""
import argparse
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ST_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def load_safetensors(path):
    """Returns {name: torch.Tensor (float32 for float dtypes)} from a .safetensors file."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        if e["dtype"] == "BF16":
            u16 = np.frombuffer(data[b:end].tobytes(), dtype=np.uint16).astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(data[b:end].tobytes(), dtype=ST_DTYPES[e["dtype"]])
        arr = arr.reshape(e["shape"])
        t = torch.from_numpy(arr.copy())
        out[name] = t.float() if t.is_floating_point() else t
    return out


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def split(self, x):  # (B, T, H) -> (B, heads, T, head_dim)
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x, additive_mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        probs = torch.softmax(scores + additive_mask, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(x.shape)


class Layer(nn.Module):
    def __init__(self, hidden, heads, inter, eps):
        super().__init__()
        self.attn = SelfAttention(hidden, heads)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=eps)
        self.ffn_in = nn.Linear(hidden, inter)
        self.ffn_out = nn.Linear(inter, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x, additive_mask):
        x = self.attn_norm(x + self.attn_out(self.attn(x, additive_mask)))
        return self.ffn_norm(x + self.ffn_out(F.gelu(self.ffn_in(x))))  # exact (erf) GELU


class Bert(nn.Module):
    def __init__(self, cfg, num_labels=0):
        super().__init__()
        h = cfg["hidden_size"]
        eps = cfg.get("layer_norm_eps", 1e-12)
        self.word = nn.Embedding(cfg["vocab_size"], h)
        self.pos = nn.Embedding(cfg["max_position_embeddings"], h)
        self.typ = nn.Embedding(cfg.get("type_vocab_size", 2), h)
        self.emb_norm = nn.LayerNorm(h, eps=eps)
        self.layers = nn.ModuleList(
            Layer(h, cfg["num_attention_heads"], cfg["intermediate_size"], eps)
            for _ in range(cfg["num_hidden_layers"]))
        self.num_labels = num_labels
        if num_labels:
            self.pooler = nn.Linear(h, h)
            self.classifier = nn.Linear(h, num_labels)

    def load(self, sd):
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in sd else ""

        def put(param, name):
            t = sd[prefix + name] if (prefix + name) in sd else sd[name]
            if tuple(t.shape) != tuple(param.shape):
                raise ValueError(f"{name}: shape {tuple(t.shape)} != {tuple(param.shape)}")
            param.data.copy_(t)

        put(self.word.weight, "embeddings.word_embeddings.weight")
        put(self.pos.weight, "embeddings.position_embeddings.weight")
        put(self.typ.weight, "embeddings.token_type_embeddings.weight")
        put(self.emb_norm.weight, "embeddings.LayerNorm.weight")
        put(self.emb_norm.bias, "embeddings.LayerNorm.bias")
        for i, L in enumerate(self.layers):
            p = f"encoder.layer.{i}."
            for mod, n in ((L.attn.query, "attention.self.query"), (L.attn.key, "attention.self.key"),
                           (L.attn.value, "attention.self.value"),
                           (L.attn_out, "attention.output.dense"),
                           (L.attn_norm, "attention.output.LayerNorm"),
                           (L.ffn_in, "intermediate.dense"), (L.ffn_out, "output.dense"),
                           (L.ffn_norm, "output.LayerNorm")):
                put(mod.weight, p + n + ".weight")
                put(mod.bias, p + n + ".bias")
        if self.num_labels:
            put(self.pooler.weight, "pooler.dense.weight")
            put(self.pooler.bias, "pooler.dense.bias")
            put(self.classifier.weight, "classifier.weight")
            put(self.classifier.bias, "classifier.bias")

    def forward(self, ids, type_ids, mask):
        t = ids.shape[1]
        pos = torch.arange(t).unsqueeze(0)
        x = self.emb_norm(self.word(ids) + self.pos(pos) + self.typ(type_ids))
        # HF extended attention mask: 0 for keys to attend, finfo(float32).min for padding.
        additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for L in self.layers:
            x = L(x, additive)
        return x

    def logits(self, hidden):
        return self.classifier(torch.tanh(self.pooler(hidden[:, 0])))


def read_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


def pooling_modes(model_dir):
    modules = read_json(os.path.join(model_dir, "modules.json"), [])
    pool_path, normalize = "1_Pooling", False
    for m in modules:
        if m["type"].endswith("Pooling"):
            pool_path = m["path"]
        if m["type"].endswith("Normalize"):
            normalize = True
    pc = read_json(os.path.join(model_dir, pool_path, "config.json"), {})
    modes = [k for k in ("cls", "max", "mean") if pc.get(f"pooling_mode_{k}" +
                                                          ("_token" if k == "cls" else "_tokens"))]
    return modes or ["mean"], normalize


def pool(hidden, mask, modes, normalize):
    m = mask.unsqueeze(-1).float()
    parts = []
    for mode in modes:
        if mode == "cls":
            parts.append(hidden[:, 0])
        elif mode == "max":
            parts.append(hidden.masked_fill(m == 0, -1e9).max(dim=1).values)
        else:
            parts.append((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9))
    e = torch.cat(parts, dim=-1)
    return F.normalize(e, p=2, dim=1) if normalize else e


def batch_tensors(spec):
    ids = spec["ids"]
    types = spec.get("type_ids") or [[0] * len(s) for s in ids]
    t = max(len(s) for s in ids)
    pad = lambda rows: torch.tensor([r + [0] * (t - len(r)) for r in rows], dtype=torch.long)
    mask = torch.tensor([[1] * len(s) + [0] * (t - len(s)) for s in ids], dtype=torch.long)
    return pad(ids), pad(types), mask


def load_model(model_dir, cross):
    cfg = read_json(os.path.join(model_dir, "config.json"))
    sd = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    num_labels = sd["classifier.weight"].shape[0] if cross else 0
    model = Bert(cfg, num_labels)
    model.load(sd)
    model.eval()
    return model


def embed_ref(model_dir, ids_file):
    model = load_model(model_dir, False)
    modes, normalize = pooling_modes(model_dir)
    ids, types, mask = batch_tensors(read_json(ids_file))
    with torch.inference_mode():
        e = pool(model(ids, types, mask), mask, modes, normalize)
    return {"embeddings": e.tolist(), "pooling": modes, "normalize": normalize}


def cross_ref(model_dir, ids_file):
    model = load_model(model_dir, True)
    ids, types, mask = batch_tensors(read_json(ids_file))
    with torch.inference_mode():
        logits = model.logits(model(ids, types, mask))
    return {"logits": logits.tolist()}


def cmd_embed(a):
    json.dump(embed_ref(a.model, a.ids), sys.stdout)


def cmd_cross(a):
    json.dump(cross_ref(a.model, a.ids), sys.stdout)


def cmd_refs(a):
    with open(os.path.join(a.case, "ref_embed.json"), "w") as f:
        json.dump(embed_ref(a.st, os.path.join(a.case, "ids_embed.json")), f)
    with open(os.path.join(a.case, "ref_cross.json"), "w") as f:
        json.dump(cross_ref(a.ce, os.path.join(a.case, "ids_cross.json")), f)


def random_batch(rng, vocab, b, t):
    ids = torch.from_numpy(rng.integers(1000, vocab, size=(b, t))).long()
    ids[:, 0], ids[:, -1] = 101, 102
    return ids, torch.zeros_like(ids), torch.ones_like(ids)


def cmd_bench(a):
    torch.set_num_threads(a.threads)
    model = load_model(a.model, False)
    vocab = model.word.weight.shape[0]
    rng = np.random.default_rng(7)
    ids, types, mask = random_batch(rng, vocab, a.batch, a.seq)
    qids, qtypes, qmask = random_batch(rng, vocab, 1, a.query)
    with torch.inference_mode():
        model(ids, types, mask)  # warm-up
        best = float("inf")
        for _ in range(a.reps):
            t0 = time.perf_counter()
            model(ids, types, mask)
            best = min(best, time.perf_counter() - t0)
        for _ in range(5):
            model(qids, qtypes, qmask)
        lat = []
        for _ in range(a.query_reps):
            t0 = time.perf_counter()
            model(qids, qtypes, qmask)
            lat.append(time.perf_counter() - t0)
    lat.sort()
    json.dump({"threads": a.threads, "seq_per_s": a.batch / best,
               "batch_ms": best * 1e3, "query_ms_median": lat[len(lat) // 2] * 1e3,
               "query_ms_min": lat[0] * 1e3}, sys.stdout)


def cmd_rss(a):
    torch.set_num_threads(a.threads)
    model = load_model(a.model, False)
    modes, normalize = pooling_modes(a.model)
    vocab = model.word.weight.shape[0]
    rng = np.random.default_rng(11)
    lens = rng.integers(100, 201, size=a.passages)
    order = np.argsort(-lens)  # length-sorted batches, as sentence-transformers does
    with torch.inference_mode():
        for i in range(0, a.passages, 32):
            batch = [lens[j] for j in order[i:i + 32]]
            spec = {"ids": [[101] + rng.integers(1000, vocab, size=n - 2).tolist() + [102]
                            for n in batch]}
            ids, types, mask = batch_tensors(spec)
            pool(model(ids, types, mask), mask, modes, normalize)
    json.dump({"peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, sys.stdout)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("embed", "cross"):
        p = sub.add_parser(name)
        p.add_argument("--model", required=True)
        p.add_argument("--ids", required=True)
    p = sub.add_parser("refs")
    p.add_argument("--st", required=True)
    p.add_argument("--ce", required=True)
    p.add_argument("--case", required=True)
    p = sub.add_parser("bench")
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--query", type=int, default=16)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--query-reps", type=int, default=30)
    p = sub.add_parser("rss")
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--passages", type=int, default=1000)
    a = ap.parse_args()
    {"embed": cmd_embed, "cross": cmd_cross, "refs": cmd_refs, "bench": cmd_bench,
     "rss": cmd_rss}[a.cmd](a)


if __name__ == "__main__":
    main()
