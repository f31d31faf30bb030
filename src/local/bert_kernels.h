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

/* ---- int8 linear layers (AVX512-VNNI) ----
 * Weights: symmetric per output row, q = round(W / sw), sw = max|W[n, :]| / 127. Activations:
 * asymmetric per input row, u = round((a - za) / sa) in [0, 255], sa = (max - min) / 255,
 * za = min. Then sum_k a W ~= sw[n] (sa[m] acc[m, n] + za[m] wsum[n]), acc = sum_k u q (int32,
 * vpdpbusd), wsum[n] = sum_k q[n, k]. */
#define RAG_BK_Q8_NR 32 /* output columns per packed weight panel */

typedef struct rag_bk_q8w {
    int8_t *data;  /* n_panels panels of K4 groups of RAG_BK_Q8_NR x 4 bytes; owned */
    float *scale;  /* (n_panels * RAG_BK_Q8_NR) sw, 0 for padding columns; owned */
    float *wsum;   /* (n_panels * RAG_BK_Q8_NR) sum_k q[n, k]; owned */
    size_t N, K, K4, n_panels;
} rag_bk_q8w;

/* True when the int8 kernels can run here (AVX-512 F/BW + VNNI). */
bool rag_bk_q8_available(void);
/* Quantizes and packs W (N, K) row-major into *out; false when out of memory. Caller frees
 * with rag_bk_q8w_free. */
bool rag_bk_q8w_pack(const float *W, size_t N, size_t K, rag_bk_q8w *out);
void rag_bk_q8w_free(rag_bk_q8w *w);
/* Quantizes rows A (M, K), leading dimension lda, into qa (M rows of ldq >= 4 * ceil(K / 4)
 * bytes) with per-row sa[m], za[m]. */
void rag_bk_q8_quantize_rows(const float *A, size_t lda, size_t M, size_t K, uint8_t *qa,
                             size_t ldq, float *sa, float *za);
/* C[:, n0:n1] = beta C[:, n0:n1] + dequantized qa W^T for M rows, then act(C + bias) when bias
 * (indexed by column) is not NULL; beta is 0 or 1; n0 is a multiple of RAG_BK_Q8_NR, n1 <= N. */
void rag_bk_q8_gemm(const uint8_t *qa, size_t ldq, const float *sa, const float *za, size_t M,
                    const rag_bk_q8w *w, size_t n0, size_t n1, float *C, size_t ldc, float beta,
                    const float *bias, int act);

#endif /* RAGC_LOCAL_BERT_KERNELS_H */
