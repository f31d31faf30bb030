/* Internal: vectorized kernels of the BERT forward pass (src/local/bert_kernels.c).
 * All arrays are caller-owned and borrowed for the call; lengths are in floats. */
#ifndef RAGC_LOCAL_BERT_KERNELS_H
#define RAGC_LOCAL_BERT_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAG_BK_VL 16         /* floats per vector; column splits are aligned to it */
#define RAG_BK_ACT_NONE (-1) /* rag_bk_bias_act: bias only; else a rag_bert_act value */

/* x[0..n) = act(x + b). */
void rag_bk_bias_act(float *x, const float *b, size_t n, int act);
/* x[0..n) = LN(x + pre) * w + b, pre may be NULL; biased variance as torch.nn.LayerNorm. */
void rag_bk_layernorm(float *x, const float *pre, const float *w, const float *b, size_t n,
                      float eps);
/* Softmax of s[0..n) in place; kmask (NULL = none) zeroes keys with kmask[j] == 0; all masked:
 * uniform, as Hugging Face's finfo.min additive mask gives. */
void rag_bk_softmax(float *s, size_t n, const int32_t *kmask);
/* dst[0..n) = a + b + c. */
void rag_bk_add3(float *dst, const float *a, const float *b, const float *c, size_t n);

/* True when rag_bk_gemm_nt has a SIMD implementation on this CPU (AVX-512F or AVX2+FMA). */
bool rag_bk_gemm_nt_available(void);
/* C (M, N) = beta * C + A (M, K) W (N, K)^T, all row-major with leading dimensions lda, ldw,
 * ldc. Reads W in place (no packing), for small M where packing W would dominate. Requires
 * rag_bk_gemm_nt_available(). */
void rag_bk_gemm_nt(const float *A, size_t lda, const float *W, size_t ldw, float *C, size_t ldc,
                    size_t M, size_t N, size_t K, float beta);

/* ---- attention of one (sequence, head) ----
 * True when rag_bk_attention runs on this CPU for head size dh (AVX-512F, dh in 16..64, a
 * multiple of 16); otherwise use sgemm + rag_bk_softmax. */
bool rag_bk_attention_available(size_t dh);
/* Lp = L rounded up to a multiple of 32 (the stride of S). */
#define RAG_BK_ATT_LP(L) (((L) + 31) / 32 * 32)
/* out[i, 0:dh] = softmax_j(scale q_i . k_j, keys with kmask 0 excluded) v_j for L rows; q, k, v
 * rows have leading dimension ld, out ldo (out may alias q). Scratch: S >= L * Lp floats,
 * kt >= dh * Lp floats. */
void rag_bk_attention(const float *q, const float *k, const float *v, size_t ld, size_t L,
                      size_t dh, float scale, const int32_t *kmask, float *S, float *kt,
                      float *out, size_t ldo);
/* The same with Q, K, V and the probabilities rounded to bf16 (nearest even) and fp32 sums
 * (vdpbf16ps), for the int8 path: rms relative error of the output 0.3-0.7% for attention
 * logits of std 0.5-8. Available with AVX512-BF16 and dh 32 or 64; same arguments, scratch and
 * aliasing as rag_bk_attention. */
bool rag_bk_attention_bf16_available(size_t dh);
void rag_bk_attention_bf16(const float *q, const float *k, const float *v, size_t ld, size_t L,
                           size_t dh, float scale, const int32_t *kmask, float *S, float *kt,
                           float *out, size_t ldo);

/* ---- int8 linear layers ----
 * Numeric contract, the same for every kernel below:
 *   weights, per output row n: sw[n] = max_k |W[n, k]| / 127 (float; 1 for an all-zero row),
 *     q[n, k] = clamp(lroundf(W[n, k] / sw[n]), -127, 127) (round half away from zero);
 *   activations, per input row m: lo = min_k a, hi = max_k a, sa = (hi - lo) / 255 (1 when
 *     hi == lo), za = lo, u[m, k] = rint(min(max((a - lo) * (1 / sa), 0), 255)) in float ops in
 *     that order, round half to even (u is uint8);
 *   acc[m, n] = sum_k u q, exact in int32 (|acc| <= 255 * 127 * K < 2^31 for K <= 65536),
 *     wsum[n] = sum_k q[n, k];
 *   C[m, n] = (beta C[m, n] +) sw[n] * fmaf(acc, sa[m], za[m] * wsum[n]) in float, then
 *     act(C + bias[n]) when bias is given.
 * So quantized inputs (bytes, sa, za) are bit-identical across kernels, and so is C without an
 * activation; with GELU the VNNI kernel's fused epilogue may differ from the others' in the
 * last bits (a different GELU evaluation, both within 1e-6 |x| of erf GELU).
 *
 * Kernels (rag_bk_q8_kernel): VNNI (AVX-512 F/BW/VL + VNNI: vpdpbusd on u8 x s8 groups of 4,
 * 8 x 32 tiles); AVX2 (AVX2 + FMA: u8 and s8 widened to int16 and multiplied with vpmaddwd,
 * whose pair sums <= 2 * 255 * 127 cannot overflow, so the arithmetic is exact; 5 x 8 tiles,
 * about 40% of the VNNI rate on the same core; 40 KB of stack, and for K > 4096 activations
 * widened at every step instead of once per row block); SCALAR (plain C, any CPU, slow, the
 * same results).
 * The best kernel the CPU supports is used, unless the environment variable
 * RAGC_Q8_KERNEL=vnni|avx2|scalar, read once at the first int8 call, names another one the CPU
 * can run (other values are ignored); rag_bk_q8_kernel_set overrides both (tests). */
#define RAG_BK_Q8_NR 32 /* output columns per packed weight panel */

typedef struct rag_bk_q8w {
    int8_t *data;  /* n_panels panels of K4 groups of RAG_BK_Q8_NR x 4 bytes (column c of the
                    * panel, k = 4 * group + j at byte 4 c + j); owned */
    float *scale;  /* (n_panels * RAG_BK_Q8_NR) sw, 0 for padding columns; owned */
    float *wsum;   /* (n_panels * RAG_BK_Q8_NR) sum_k q[n, k]; owned */
    size_t N, K, K4, n_panels;
} rag_bk_q8w;

typedef enum rag_bk_q8_kernel {
    RAG_BK_Q8_SCALAR = 0,
    RAG_BK_Q8_AVX2,
    RAG_BK_Q8_VNNI
} rag_bk_q8_kernel;

/* True: the int8 path runs on every CPU (the scalar kernel at worst). Kept for callers that
 * ask; rag_bk_q8_kernel_get tells which kernel (and so what speed) they get. */
bool rag_bk_q8_available(void);
/* True when this CPU can run kernel k. */
bool rag_bk_q8_kernel_supported(rag_bk_q8_kernel k);
/* The kernel the int8 calls use now (see above). Thread-safe. */
rag_bk_q8_kernel rag_bk_q8_kernel_get(void);
/* Makes every later int8 call use k; false (nothing changed) when the CPU cannot run it. Not to
 * be called while another thread runs int8 kernels. */
bool rag_bk_q8_kernel_set(rag_bk_q8_kernel k);
/* "vnni", "avx2", "scalar"; and back (false for any other name). */
const char *rag_bk_q8_kernel_name(rag_bk_q8_kernel k);
bool rag_bk_q8_kernel_parse(const char *name, rag_bk_q8_kernel *out);

/* Quantizes and packs W (N, K) row-major into *out; false when out of memory. Caller frees
 * with rag_bk_q8w_free. */
bool rag_bk_q8w_pack(const float *W, size_t N, size_t K, rag_bk_q8w *out);
void rag_bk_q8w_free(rag_bk_q8w *w);
/* Quantizes rows A (M, K), leading dimension lda, into qa (M rows of ldq >= 4 * ceil(K / 4)
 * bytes, bytes K.. of the last group set to 0) with per-row sa[m], za[m]. */
void rag_bk_q8_quantize_rows(const float *A, size_t lda, size_t M, size_t K, uint8_t *qa,
                             size_t ldq, float *sa, float *za);
/* C[:, n0:n1] = beta C[:, n0:n1] + dequantized qa W^T for M rows, then act(C + bias) when bias
 * (indexed by column) is not NULL; beta is 0 or 1; n0 is a multiple of RAG_BK_Q8_NR, n1 <= N. */
void rag_bk_q8_gemm(const uint8_t *qa, size_t ldq, const float *sa, const float *za, size_t M,
                    const rag_bk_q8w *w, size_t n0, size_t n1, float *C, size_t ldc, float beta,
                    const float *bias, int act);
/* Rows per block of rag_bk_q8_gemm_quant (its scratch holds this many output rows). */
#define RAG_BK_Q8_BLOCK_ROWS 8
/* A linear layer whose output only feeds the next int8 layer: for each block of
 * RAG_BK_Q8_BLOCK_ROWS rows, tmp (block rows x N floats, caller's scratch) = act(qa W^T + bias)
 * over all N columns, then quantized into qo / sao / zao as rag_bk_q8_quantize_rows does: the
 * same bytes as rag_bk_q8_gemm into a buffer then quantizing it, without the fp32 output
 * leaving the cache. qo may be qa with ldqo == ldq (a block's input rows are read before its
 * output rows are written). */
void rag_bk_q8_gemm_quant(const uint8_t *qa, size_t ldq, const float *sa, const float *za,
                          size_t M, const rag_bk_q8w *w, const float *bias, int act, float *tmp,
                          uint8_t *qo, size_t ldqo, float *sao, float *zao);

#endif /* RAGC_LOCAL_BERT_KERNELS_H */
