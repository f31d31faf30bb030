#!/usr/bin/python3
"""Reference BM25 in Python for the SciFact benchmark: an independent implementation of the
same recipe (Lucene BM25 k1=0.9 b=0.4 with SmallFloat length quantization, Lucene English
stopwords, Porter stemmer via PyStemmer, title + text as one field) and of nDCG@10 /
recall@100 / MRR@10, timed in the same run as ragc. Tokenization is a regex approximation
of Lucene's StandardTokenizer, so small differences from ragc are expected.

usage: ref_bm25.py CORPUS.jsonl QUERIES.jsonl QRELS.tsv  -> one JSON line on stdout
"""
import json
import math
import re
import sys
import time
from collections import Counter, defaultdict

import Stemmer

STOP = set("a an and are as at be but by for if in into is it no not of on or such that the their "
           "then there these they this to was will with".split())
TOKEN = re.compile(r"\w+(?:['’.,]\w+)*", re.UNICODE)
stem = Stemmer.Stemmer("porter").stemWord


def analyze(text):
    out = []
    for t in TOKEN.findall(text):
        t = t.lower()
        if t.endswith("'s") or t.endswith("’s"):
            t = t[:-2]
        if t and t not in STOP:
            out.append(stem(t))
    return out


def length_table():
    # byte4ToInt(intToByte4(len)) via Lucene's long-based encoding (SmallFloat.longToInt4/int4ToLong)
    def long_to_int4(i):
        num_bits = i.bit_length()
        if num_bits < 4:
            return i
        shift = num_bits - 4
        encoded = (i >> shift) & 0x07
        encoded |= (shift + 1) << 3
        return encoded

    def int4_to_long(i):
        bits = i & 0x07
        shift = (i >> 3) - 1
        if shift == -1:
            return bits
        return (bits | 0x08) << shift

    max_int4 = long_to_int4(2**31 - 1)
    num_free = 255 - max_int4

    def encode(i):
        return i if i < num_free else num_free + long_to_int4(i - num_free)

    def decode(b):
        return b if b < num_free else num_free + int4_to_long(b - num_free)

    return encode, decode


def main():
    corpus_path, queries_path, qrels_path = sys.argv[1:4]
    encode, decode = length_table()
    t0 = time.perf_counter()
    postings = defaultdict(list)
    doc_ids, lens = [], []
    for line in open(corpus_path, encoding="utf-8"):
        d = json.loads(line)
        text = (d.get("title") or "") + "\n\n" + d["text"] if d.get("title") else d["text"]
        terms = analyze(text)
        idx = len(doc_ids)
        doc_ids.append(d["_id"])
        lens.append(len(terms))
        for t, tf in Counter(terms).items():
            postings[t].append((idx, tf))
    index_s = time.perf_counter() - t0
    n = len(doc_ids)
    avgdl = sum(lens) / n
    qlens = [decode(encode(length)) for length in lens]
    k1, b = 0.9, 0.4

    qrels = defaultdict(dict)
    with open(qrels_path) as f:
        next(f)
        for row in f:
            q, d, r = row.rstrip("\n").split("\t")
            qrels[q][d] = int(r)
    queries = {}
    for line in open(queries_path, encoding="utf-8"):
        o = json.loads(line)
        queries[o["_id"]] = o["text"]

    ndcg = rec = mrr = 0.0
    times = []
    judged = [q for q in qrels if any(r > 0 for r in qrels[q].values())]
    for q in judged:
        t1 = time.perf_counter()
        scores = defaultdict(float)
        for t, w in Counter(analyze(queries[q])).items():
            plist = postings.get(t)
            if not plist:
                continue
            idf = math.log(1 + (n - len(plist) + 0.5) / (len(plist) + 0.5))
            for idx, tf in plist:
                norm = k1 * (1 - b + b * qlens[idx] / avgdl)
                scores[idx] += w * idf * tf / (tf + norm)
        # trec_eval order: score descending, ties by docno descending
        ranked = sorted(scores.items(), key=lambda x: (-x[1], [-ord(c) for c in doc_ids[x[0]]]))[:100]
        times.append((time.perf_counter() - t1) * 1000)
        rel = qrels[q]
        docs = [doc_ids[i] for i, _ in ranked]
        dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(docs[:10]) if rel.get(d, 0) > 0)
        ideal = sorted((r for r in rel.values() if r > 0), reverse=True)[:10]
        idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
        ndcg += dcg / idcg if idcg else 0
        nrel = sum(1 for r in rel.values() if r > 0)
        rec += sum(1 for d in docs[:100] if rel.get(d, 0) > 0) / nrel
        mrr += next((1 / (i + 1) for i, d in enumerate(docs[:10]) if rel.get(d, 0) > 0), 0)
    times.sort()
    m = len(judged)
    print(json.dumps({"impl": "python-reference", "queries": m, "ndcg@10": ndcg / m, "recall@100": rec / m,
                      "mrr@10": mrr / m, "index_s": index_s, "query_ms_p50": times[m // 2],
                      "query_ms_p99": times[min(m - 1, int(m * 0.99))]}))


if __name__ == "__main__":
    main()
