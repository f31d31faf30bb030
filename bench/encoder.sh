#!/usr/bin/env bash
# Local encoder speed: ragc's C BERT (src/local) vs PyTorch on the same shapes, same run.
# fp32 is the default path (matches PyTorch to ~1e-7); the optional int8 path is reported
# separately: its default kernel on this CPU (VNNI where present) and the AVX2 kernel forced with
# RAGC_Q8_KERNEL=avx2 (on an AVX-512 host the rest of the pass, attention included, still uses
# AVX-512, so this approximates an AVX2-only host from above), with the cosine similarity of
# int8 to fp32 embeddings, also on a copy of the model with outlier LayerNorm channels (3
# channels' weights x20 in every LayerNorm, as trained BERTs have).
#
# Model: all-MiniLM-L6-v2 shape (6 layers, hidden 384, 12 heads, FFN 1536) with random weights
# built from the real safetensors header by tests/reference/make_model.py. Measures, at 1 and 2
# threads: throughput at batch 32 x 128 tokens (seq/s, best of 5 for ragc, of 3 for PyTorch) and
# one 16-token query (median of 50 for ragc, of 30 for PyTorch), PyTorch with
# torch.set_num_threads(N) and torch.inference_mode; ragc's threading modes at 2 threads; the
# raw OpenBLAS sgemm GFLOP/s at 4096 x 384 x 1536 for context; the peak RSS of a process that
# loads the model and embeds 1,000 passages of 100-200 words (ragc; PyTorch with --torch-rss).
# Prints markdown tables.
#
# usage: bench/encoder.sh [BUILD_DIR] [--torch-rss]
#   BUILD_DIR (default build) must have ragc_local built:
#   cmake --build BUILD_DIR --target ragc_local
# needs: gcc, /usr/bin/python3 with python3-torch and numpy (Debian).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${1:-$root/build}
TORCH_RSS=0
[ "${2:-}" = "--torch-rss" ] && TORCH_RSS=1
SHARED=${RAGC_SHARED_DIR:-$root/../shared}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$PY" -c 'import torch, numpy' 2>/dev/null || { echo "encoder.sh: $PY needs python3-torch and numpy" >&2; exit 1; }
[ -f "$BUILD/libragc_local.a" ] || { echo "encoder.sh: $BUILD/libragc_local.a missing; build the ragc_local target" >&2; exit 1; }

gcc -O2 -std=c11 -D_GNU_SOURCE -I"$root/include" -I"$root/src" $(pkg-config --cflags openblas) \
  "$here/bench_encoder.c" "$BUILD/libragc_local.a" "$BUILD/libragc_net.a" "$BUILD/libragc_core.a" \
  $(pkg-config --libs jansson libutf8proc openblas libcurl libxxhash) -lm -lpthread \
  -o "$tmp/bench_encoder"
"$PY" "$root/tests/reference/make_model.py" --out "$tmp/st" \
  --src "$SHARED/data/fixtures/hf/sentence-transformers/all-MiniLM-L6-v2"

B="$tmp/bench_encoder"
for t in 1 2; do
  "$B" forward "$tmp/st" "$t" auto 32 128 16 5 > "$tmp/c$t.json"
  "$B" forward "$tmp/st" "$t" auto 32 128 16 5 int8 > "$tmp/q$t.json"
  RAGC_Q8_KERNEL=avx2 "$B" forward "$tmp/st" "$t" auto 32 128 16 5 int8 > "$tmp/a$t.json"
  "$PY" "$root/tests/reference/torch_bert.py" bench --model "$tmp/st" --threads "$t" > "$tmp/p$t.json"
  "$B" sgemm "$t" > "$tmp/g$t.json"
done
for mode in seq split blas; do "$B" forward "$tmp/st" 2 "$mode" 32 128 16 5 > "$tmp/m_$mode.json"; done
"$B" rss "$tmp/st" 0 1000 > "$tmp/rss_c.json"
"$B" cosine "$tmp/st" 64 20 > "$tmp/cos.json"
RAGC_Q8_KERNEL=avx2 "$B" cosine "$tmp/st" 64 20 > "$tmp/cos_a.json"
echo '{}' > "$tmp/rss_p.json"
if [ "$TORCH_RSS" = 1 ]; then
  "$PY" "$root/tests/reference/torch_bert.py" rss --model "$tmp/st" --threads 1 --passages 1000 \
    > "$tmp/rss_p.json"
fi

"$PY" - "$tmp" <<'PY'
import json, os, sys
d = sys.argv[1]
L = lambda n: json.load(open(os.path.join(d, n)))
c = {t: L(f"c{t}.json") for t in (1, 2)}
p = {t: L(f"p{t}.json") for t in (1, 2)}
g = {t: L(f"g{t}.json") for t in (1, 2)}
best_p = max(p[1]["seq_per_s"], p[2]["seq_per_s"])
best_pt = 1 if p[1]["seq_per_s"] >= p[2]["seq_per_s"] else 2
best_q = min(p[1]["query_ms_median"], p[2]["query_ms_median"])
print("MiniLM-L6 shape (6 x 384, 12 heads, FFN 1536), fp32, random weights; "
      f"OpenBLAS core {g[1]['core']}\n")
print("| measure | ragc 1 thread | PyTorch 1 thread | ratio | ragc 2 threads | PyTorch 2 threads | ratio |")
print("|---|---|---|---|---|---|---|")
r = lambda a, b: f"{a / b:.2f}x"
print(f"| batch 32 x 128 tokens, seq/s | {c[1]['seq_per_s']:.1f} | {p[1]['seq_per_s']:.1f} | "
      f"{r(c[1]['seq_per_s'], p[1]['seq_per_s'])} | {c[2]['seq_per_s']:.1f} | {p[2]['seq_per_s']:.1f} | "
      f"{r(c[2]['seq_per_s'], p[2]['seq_per_s'])} |")
print(f"| batch GFLOP/s (model FLOPs / time) | {c[1]['gflops']:.0f} | "
      f"{c[1]['gflops'] * p[1]['seq_per_s'] / c[1]['seq_per_s']:.0f} | | {c[2]['gflops']:.0f} | "
      f"{c[2]['gflops'] * p[2]['seq_per_s'] / c[2]['seq_per_s']:.0f} | |")
print(f"| one 16-token query, ms (median) | {c[1]['query_ms_median']:.2f} | {p[1]['query_ms_median']:.2f} | "
      f"{r(p[1]['query_ms_median'], c[1]['query_ms_median'])} | {c[2]['query_ms_median']:.2f} | "
      f"{p[2]['query_ms_median']:.2f} | {r(p[2]['query_ms_median'], c[2]['query_ms_median'])} |")
print(f"| OpenBLAS sgemm 4096x384x1536, GFLOP/s | {g[1]['gflops']:.0f} | | | {g[2]['gflops']:.0f} | | |")
bc = max(c[1]["seq_per_s"], c[2]["seq_per_s"])
print(f"\nBest settings: ragc {bc:.1f} seq/s vs PyTorch {best_p:.1f} seq/s ({best_pt} thread"
      f"{'s' if best_pt > 1 else ''}): {bc / best_p:.2f}x; query ragc "
      f"{min(c[1]['query_ms_median'], c[2]['query_ms_median']):.2f} ms vs PyTorch {best_q:.2f} ms.")
print(f"ragc at 2 threads reaches {c[2]['gflops'] / g[2]['gflops'] * 100:.0f}% of the sgemm rate "
      f"(1 thread: {c[1]['gflops'] / g[1]['gflops'] * 100:.0f}%).\n")
print("| ragc threading at 2 threads | seq/s | query ms (median) |")
print("|---|---|---|")
print(f"| auto | {c[2]['seq_per_s']:.1f} | {c[2]['query_ms_median']:.2f} |")
for mode in ("seq", "split", "blas"):
    m = L(f"m_{mode}.json")
    print(f"| {mode} | {m['seq_per_s']:.1f} | {m['query_ms_median']:.2f} |")
q = {t: L(f"q{t}.json") for t in (1, 2)}
a = {t: L(f"a{t}.json") for t in (1, 2)}
cos, cos_a = L("cos.json"), L("cos_a.json")
print(f"\n| optional int8 path | ragc 1 thread | vs PyTorch 1 thread | ragc 2 threads | vs PyTorch 2 threads |")
print("|---|---|---|---|---|")
for x, label in ((q, "default"), (a, "forced")):
    k = f"{x[1]['q8_kernel']} kernel, {label}, {x[1]['attention']} attention"
    print(f"| batch 32 x 128 tokens, seq/s ({k}) | {x[1]['seq_per_s']:.1f} | {r(x[1]['seq_per_s'], p[1]['seq_per_s'])} | "
          f"{x[2]['seq_per_s']:.1f} | {r(x[2]['seq_per_s'], p[2]['seq_per_s'])} |")
    print(f"| one 16-token query, ms (median) ({x[1]['q8_kernel']}) | {x[1]['query_ms_median']:.2f} | "
          f"{r(p[1]['query_ms_median'], x[1]['query_ms_median'])} | {x[2]['query_ms_median']:.2f} | "
          f"{r(p[2]['query_ms_median'], x[2]['query_ms_median'])} |")
bq = max(q[1]["seq_per_s"], q[2]["seq_per_s"])
print(f"\nint8 ({q[1]['q8_kernel']}) best {bq:.1f} seq/s = {bq / best_p:.2f}x PyTorch's best; "
      f"fp32 ragc at 1 thread {c[1]['seq_per_s']:.1f} seq/s.")
print(f"\n| int8 cosine to fp32, {cos['sequences']} random sequences of 8-256 tokens | min | mean |")
print("|---|---|---|")
for cs in (cos, cos_a):
    kk = cs["q8_kernel"]
    print(f"| {kk}: random weights | {cs['cosine_min']:.6f} | {cs['cosine_mean']:.6f} |")
    print(f"| {kk}: LayerNorm weight x{cs['outlier_scale']:g} on channels {cs['outlier_channels']} | "
          f"{cs['outlier_cosine_min']:.6f} | {cs['outlier_cosine_mean']:.6f} |")
    print(f"| {kk}: same, leaving those channels out of the cosine | "
          f"{cs['outlier_cosine_min_other_dims']:.6f} | {cs['outlier_cosine_mean_other_dims']:.6f} |")
rc, rp = L("rss_c.json"), L("rss_p.json")
print("\n| load + embed 1,000 passages (100-200 words) | peak RSS | time |")
print("|---|---|---|")
print(f"| ragc (all threads) | {rc['peak_rss_kib'] / 1024:.0f} MB | {rc['seconds']:.1f} s |")
if rp:
    print(f"| PyTorch (1 thread, length-sorted batches of 32) | {rp['peak_rss_kib'] / 1024:.0f} MB | |")
PY
