#!/usr/bin/env python3
"""Builds shape-faithful random-weight BERT models for the encoder correctness test and the bench.

Reads the tensor names, shapes and dtypes of a real model from its safetensors header (by default
../shared/data/fixtures/hf/sentence-transformers/all-MiniLM-L6-v2/model.safetensors.header, which
holds only the header, no weights) and writes:

  --out DIR     a sentence-transformers model directory: model.safetensors with seeded random
                weights + copies of config.json, modules.json, 1_Pooling/config.json,
                sentence_bert_config.json and the tokenizer files.
  --ids DIR     (optional) the test batches: DIR/ids_embed.json (single sequences of lengths
                --lengths) and DIR/ids_cross.json ((query, passage) pairs with token type ids,
                total lengths --pair-lengths); [CLS]=101 ... [SEP]=102, other ids random.
  --cross DIR   (optional) a cross-encoder (BertForSequenceClassification) of the same shapes:
                the same tensors under the "bert." prefix, the pooler, and a classifier with
                --num-labels outputs (1 by default).

Weights are scaled like BERT's initializer (normal, std 0.02) so activations stay sane. Unlike
BERT's init, biases and LayerNorm parameters are random too (small), so a C implementation that
drops a bias or a LayerNorm parameter cannot match the reference. Only numpy is needed.

usage: make_model.py --out DIR [--cross DIR] [--ids DIR] [--seed N] [--src FIXTURE_DIR]
                     [--num-labels N] [--lengths 3,17,64,128] [--pair-lengths 5,40,128,77]
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SRC = os.path.normpath(os.path.join(
    HERE, "..", "..", "..", "shared", "data", "fixtures", "hf", "sentence-transformers",
    "all-MiniLM-L6-v2"))
COPY_FILES = ["config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json",
              "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
              os.path.join("1_Pooling", "config.json")]
NP_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_header(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        sys.exit(f"make_model: {path}: shorter than the 8-byte length prefix")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        sys.exit(f"make_model: {path}: header length {n} exceeds the file ({len(raw)} bytes)")
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    # Keep the file's data order (by begin offset) so the written layout matches the original.
    return sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])


def random_tensor(rng, name, shape, dtype):
    if dtype == "I64":  # embeddings.position_ids: [1, max_positions] = arange
        return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    if dtype not in NP_DTYPES:
        sys.exit(f"make_model: tensor {name}: unsupported dtype {dtype}")
    if name.endswith("LayerNorm.weight"):
        a = 1.0 + 0.05 * rng.standard_normal(shape)
    elif name.endswith(".bias"):
        a = 0.02 * rng.standard_normal(shape)
    elif name == "classifier.weight":
        # std 0.5 instead of 0.02 so the logits are O(1) and a 1e-4 tolerance means something
        a = 0.5 * rng.standard_normal(shape)
    else:
        a = 0.02 * rng.standard_normal(shape)
    return a.astype(NP_DTYPES[dtype])


def write_safetensors(path, tensors):
    """tensors: list of (name, np.ndarray). Writes the safetensors layout (8-byte LE header
    length, JSON header padded with spaces to a multiple of 8, then the data)."""
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    inv = {np.dtype(v): k for k, v in NP_DTYPES.items()}
    for name, a in tensors:
        nb = a.nbytes
        header[name] = {"dtype": inv[a.dtype], "shape": list(a.shape),
                        "data_offsets": [off, off + nb]}
        off += nb
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for _, a in tensors:
            f.write(np.ascontiguousarray(a).tobytes())


def copy_side_files(src, dst):
    for rel in COPY_FILES:
        s = os.path.join(src, rel)
        if os.path.exists(s):
            os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
            shutil.copyfile(s, os.path.join(dst, rel))


def write_ids(dirname, rng, vocab, lengths, pair_lengths):
    """ids_embed.json: [CLS] x [SEP]; ids_cross.json: [CLS] q [SEP] p [SEP] with type ids."""
    os.makedirs(dirname, exist_ok=True)
    rand = lambda n: [int(v) for v in rng.integers(1000, vocab, size=n)]
    embed = {"ids": [[101] + rand(n - 2) + [102] for n in lengths]}
    ids, types = [], []
    for n in pair_lengths:
        q = max(1, min(12, (n - 3) // 3))
        p = n - 3 - q
        ids.append([101] + rand(q) + [102] + rand(p) + [102])
        types.append([0] * (q + 2) + [1] * (p + 1))
    with open(os.path.join(dirname, "ids_embed.json"), "w") as f:
        json.dump(embed, f)
    with open(os.path.join(dirname, "ids_cross.json"), "w") as f:
        json.dump({"ids": ids, "type_ids": types}, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=DEFAULT_SRC)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cross")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--num-labels", type=int, default=1)
    ap.add_argument("--ids")
    ap.add_argument("--lengths", default="3,17,64,128")
    ap.add_argument("--pair-lengths", default="5,40,128,77")
    a = ap.parse_args()

    entries = read_header(os.path.join(a.src, "model.safetensors.header"))
    rng = np.random.default_rng(a.seed)
    tensors = [(name, random_tensor(rng, name, e["shape"], e["dtype"])) for name, e in entries]

    os.makedirs(a.out, exist_ok=True)
    copy_side_files(a.src, a.out)
    write_safetensors(os.path.join(a.out, "model.safetensors"), tensors)

    if a.ids:
        with open(os.path.join(a.src, "config.json")) as f:
            vocab = json.load(f)["vocab_size"]
        ids_rng = np.random.default_rng(a.seed + 1)
        write_ids(a.ids, ids_rng, vocab, [int(x) for x in a.lengths.split(",")],
                  [int(x) for x in a.pair_lengths.split(",")])

    if a.cross:
        with open(os.path.join(a.src, "config.json")) as f:
            cfg = json.load(f)
        hidden = cfg["hidden_size"]
        names = {n for n, _ in tensors}
        cross = [("bert." + n, t) for n, t in tensors]
        if "pooler.dense.weight" not in names:
            cross.append(("bert.pooler.dense.weight",
                          random_tensor(rng, "pooler.dense.weight", [hidden, hidden], "F32")))
            cross.append(("bert.pooler.dense.bias",
                          random_tensor(rng, "pooler.dense.bias", [hidden], "F32")))
        cross.append(("classifier.weight",
                      random_tensor(rng, "classifier.weight", [a.num_labels, hidden], "F32")))
        cross.append(("classifier.bias",
                      random_tensor(rng, "classifier.bias", [a.num_labels], "F32")))
        os.makedirs(a.cross, exist_ok=True)
        copy_side_files(a.src, a.cross)
        for rel in ("modules.json", "sentence_bert_config.json",
                    os.path.join("1_Pooling", "config.json")):
            p = os.path.join(a.cross, rel)
            if os.path.exists(p):
                os.remove(p)
        pooling_dir = os.path.join(a.cross, "1_Pooling")
        if os.path.isdir(pooling_dir):
            os.rmdir(pooling_dir)
        cfg["architectures"] = ["BertForSequenceClassification"]
        cfg["id2label"] = {str(i): f"LABEL_{i}" for i in range(a.num_labels)}
        cfg["label2id"] = {f"LABEL_{i}": i for i in range(a.num_labels)}
        with open(os.path.join(a.cross, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        write_safetensors(os.path.join(a.cross, "model.safetensors"), cross)


if __name__ == "__main__":
    main()
