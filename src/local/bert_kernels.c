/* Vectorized kernels of the BERT forward pass (contract in bert_kernels.h).
 *
 * Elementwise kernels use 16-float GCC vectors and are compiled for x86-64-v4 (AVX-512), v3
 * (AVX2) and the baseline, picked at load time by the dynamic linker (ifunc). The small-M gemm
 * uses AVX-512F or AVX2+FMA intrinsics, chosen per call from the CPU's features. The attention
 * kernels need AVX-512F (fp32) or AVX512-BF16 (the int8 path's bf16 variant). The int8 gemm
 * has VNNI, AVX2 and scalar variants computing the same integers (rag_bk_q8_kernel).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "local/bert_kernels.h"
#include "ragc/encoder.h"

/* ================================================================ elementwise ==== */
/* 16-float GCC vectors; each hot kernel is compiled for x86-64-v4 (AVX-512), v3 (AVX2) and the
 * baseline, picked at load time by the dynamic linker (ifunc). */
#pragma GCC diagnostic ignored "-Wpsabi" /* v16 helpers are always inlined: no ABI crossing */
typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
#define VL 16
#if defined(__x86_64__) && !defined(__clang__)
#define KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KERNEL
#endif
#define INLINE static inline __attribute__((always_inline))

INLINE v16 vload(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
INLINE void vstore(float *p, v16 v) { memcpy(p, &v, sizeof v); }
INLINE v16 vsplat(float x) { return (v16){0} + x; }
INLINE v16 vmax(v16 a, v16 b) { v16i m = a > b; return (v16)((m & (v16i)a) | (~m & (v16i)b)); }
INLINE v16 vmin(v16 a, v16 b) { v16i m = a < b; return (v16)((m & (v16i)a) | (~m & (v16i)b)); }
INLINE float vsum(v16 v) { float s = 0; for (int i = 0; i < VL; i++) s += v[i]; return s; }
INLINE float vhmax(v16 v) {
    float s = v[0];
    for (int i = 1; i < VL; i++) s = v[i] > s ? v[i] : s;
    return s;
}

/* e^x, relative error < 2e-7 on [-87.3, 88.7]; 0 below, saturates above. Range reduction
 * x = n ln2 + r, |r| <= ln2 / 2, then a degree-7 Taylor polynomial of e^r and 2^n by exponent
 * bits (n rounded with the 1.5 * 2^23 trick). */
INLINE v16 vexp(v16 x) {
    const v16 xc = vmin(vmax(x, vsplat(-87.33654f)), vsplat(88.72283f));
    const v16 magic = vsplat(12582912.0f);
    v16 t = xc * 1.44269504088896341f + magic;
    v16 n = t - magic;
    v16 r = xc - n * 0.693359375f + n * 2.12194440e-4f; /* ln2 split hi/lo */
    v16 p = vsplat(1.0f / 5040);
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    v16i e = ((v16i)t - 0x4B400000 + 127) << 23;
    v16 y = p * (v16)e;
    return (v16)((v16i)y & (x > -87.33654f));
}

/* 1 - erf(a) for a >= 0 (Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7), without the
 * cancellation of computing erf first. */
INLINE v16 verfc_pos(v16 a) {
    v16 t = 1.0f / (1.0f + 0.3275911f * a);
    v16 p = vsplat(1.061405429f);
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    return p * t * vexp(-(a * a));
}

/* Exact-form GELU 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x (x < 0 ? q : 2 - q), q = erfc(|x|/sqrt 2). */
INLINE v16 vgelu(v16 x) {
    v16i neg = x < 0.0f;
    v16 ax = (v16)((v16i)x & 0x7fffffff);
    v16 q = verfc_pos(ax * 0.70710678118654752f);
    v16 f = (v16)((neg & (v16i)q) | (~neg & (v16i)(2.0f - q)));
    return 0.5f * x * f;
}

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), tanh(u) = 1 - 2 / (e^{2u} + 1). */
INLINE v16 vgelu_tanh(v16 x) {
    v16 u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    v16 th = 1.0f - 2.0f / (vexp(2.0f * u) + 1.0f);
    return 0.5f * x * (1.0f + th);
}

INLINE float sgelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
INLINE float sgelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

/* x[0..n) = act(x + b). */
KERNEL void rag_bk_bias_act(float *x, const float *b, size_t n, int act) {
    size_t i = 0;
    for (; i + VL <= n; i += VL) {
        v16 v = vload(x + i) + vload(b + i);
        if (act == RAG_BERT_ACT_GELU) v = vgelu(v);
        else if (act == RAG_BERT_ACT_GELU_TANH) v = vgelu_tanh(v);
        else if (act == RAG_BERT_ACT_RELU) v = vmax(v, vsplat(0.0f));
        vstore(x + i, v);
    }
    for (; i < n; i++) {
        float v = x[i] + b[i];
        if (act == RAG_BERT_ACT_GELU) v = sgelu(v);
        else if (act == RAG_BERT_ACT_GELU_TANH) v = sgelu_tanh(v);
        else if (act == RAG_BERT_ACT_RELU) v = v > 0 ? v : 0;
        x[i] = v;
    }
}

/* x[0..n) = LN(x + pre) * w + b (pre may be NULL); mean and biased variance as torch. */
KERNEL void rag_bk_layernorm(float *x, const float *pre, const float *w, const float *b,
                               size_t n, float eps) {
    v16 acc = vsplat(0);
    float tail = 0;
    size_t i = 0;
    for (; i + VL <= n; i += VL) {
        v16 v = vload(x + i);
        if (pre) { v += vload(pre + i); vstore(x + i, v); }
        acc += v;
    }
    for (; i < n; i++) { if (pre) x[i] += pre[i]; tail += x[i]; }
    const float mean = (vsum(acc) + tail) / (float)n;
    acc = vsplat(0);
    tail = 0;
    for (i = 0; i + VL <= n; i += VL) { v16 d = vload(x + i) - mean; acc += d * d; }
    for (; i < n; i++) { float d = x[i] - mean; tail += d * d; }
    const float inv = 1.0f / sqrtf((vsum(acc) + tail) / (float)n + eps);
    for (i = 0; i + VL <= n; i += VL)
        vstore(x + i, (vload(x + i) - mean) * inv * vload(w + i) + vload(b + i));
    for (; i < n; i++) x[i] = (x[i] - mean) * inv * w[i] + b[i];
}

/* Row softmax in place; keys with kmask[j] == 0 get probability 0 (kmask NULL = none masked).
 * If every key is masked the row becomes uniform, as finfo.min added to every score gives. */
/* Sets masked keys to -inf; returns false (row made uniform) when every key is masked. */
static bool apply_key_mask(float *s, size_t n, const int32_t *kmask) {
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        if (kmask[i]) live++;
        else s[i] = -INFINITY;
    }
    if (live == 0)
        for (size_t i = 0; i < n; i++) s[i] = 1.0f / (float)n;
    return live > 0;
}

KERNEL static void softmax_generic(float *s, size_t n) {
    size_t i;
    v16 mv = vsplat(-INFINITY);
    float m = -INFINITY;
    for (i = 0; i + VL <= n; i += VL) mv = vmax(mv, vload(s + i));
    for (; i < n; i++) m = s[i] > m ? s[i] : m;
    m = fmaxf(m, vhmax(mv));
    v16 acc = vsplat(0);
    float tail = 0;
    for (i = 0; i + VL <= n; i += VL) {
        v16 e = vexp(vload(s + i) - m);
        vstore(s + i, e);
        acc += e;
    }
    for (; i < n; i++) {
        float e = s[i] - m < -87.33654f ? 0.0f : expf(s[i] - m);
        s[i] = e;
        tail += e;
    }
    const float inv = 1.0f / (vsum(acc) + tail);
    for (i = 0; i + VL <= n; i += VL) vstore(s + i, vload(s + i) * inv);
    for (; i < n; i++) s[i] *= inv;
}

/* dst[0..n) = a + b + c. */
KERNEL void rag_bk_add3(float *dst, const float *a, const float *b, const float *c, size_t n) {
    size_t i = 0;
    for (; i + VL <= n; i += VL) vstore(dst + i, vload(a + i) + vload(b + i) + vload(c + i));
    for (; i < n; i++) dst[i] = a[i] + b[i] + c[i];
}

/* ================================================================ small-M gemm ==== */
/* C tile of MR rows x NR columns kept as MR * NR vector accumulators of partial dot products
 * over k; A rows and W rows are read straight from memory (W is not packed), and each tile's
 * accumulators are reduced horizontally at the end. Edge tiles repeat the last valid row of A or
 * W and store only the valid outputs. */

#if defined(__x86_64__) && !defined(__clang__)
#define HAVE_X86_GEMM 1

/* (sum a0, sum a1, sum a2, sum a3) of four 8-float vectors. */
__attribute__((target("avx2,fma"))) static inline __m128 hsum4_256(__m256 a0, __m256 a1,
                                                                   __m256 a2, __m256 a3) {
    __m256 s01 = _mm256_hadd_ps(a0, a1), s23 = _mm256_hadd_ps(a2, a3);
    __m256 s = _mm256_hadd_ps(s01, s23);
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

__attribute__((target("avx512f"))) static inline __m256 fold512(__m512 a) {
    return _mm256_add_ps(_mm512_castps512_ps256(a),
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
}

__attribute__((target("avx512f,avx2,fma"))) static inline __m128 hsum4_512(__m512 a0, __m512 a1,
                                                                           __m512 a2, __m512 a3) {
    return hsum4_256(fold512(a0), fold512(a1), fold512(a2), fold512(a3));
}

static inline void store_tile_row(float *c, __m128 r, size_t nb, float beta) {
    float v[4];
    memcpy(v, &r, sizeof v);
    for (size_t j = 0; j < nb; j++) c[j] = beta == 0.0f ? v[j] : beta * c[j] + v[j];
}

/* MR = 4 rows x NR = 4 columns, 16 zmm accumulators. */
__attribute__((target("avx512f,avx2,fma"))) static void
gemm_nt_avx512(const float *A, size_t lda, const float *W, size_t ldw, float *C, size_t ldc,
               size_t M, size_t N, size_t K, float beta) {
    const size_t K16 = K & ~(size_t)15;
    const __mmask16 tail = (__mmask16)((1u << (K - K16)) - 1u);
    for (size_t n = 0; n < N; n += 4) {
        const size_t nb = N - n < 4 ? N - n : 4;
        const float *w0 = W + n * ldw, *w1 = W + (n + (nb > 1)) * ldw,
                    *w2 = W + (n + (nb > 2 ? 2 : nb - 1)) * ldw,
                    *w3 = W + (n + (nb > 3 ? 3 : nb - 1)) * ldw;
        /* the next 4 W rows are prefetched (into L2) while this block computes: row block j
         * takes the rows r with r % n_blocks == j, one cache line per row and k step. For few
         * rows this kernel is bound by streaming W from DRAM, not by its FMAs. */
        const float *pf = n + 4 < N ? W + (n + 4) * ldw : NULL;
        const size_t pf_rows = N - n - 4 < 4 ? N - n - 4 : 4, n_blocks = (M + 3) / 4;
        for (size_t m = 0; m < M; m += 4) {
            const size_t mb = M - m < 4 ? M - m : 4;
            const float *a0 = A + m * lda, *a1 = A + (m + (mb > 1)) * lda,
                        *a2 = A + (m + (mb > 2 ? 2 : mb - 1)) * lda,
                        *a3 = A + (m + (mb > 3 ? 3 : mb - 1)) * lda;
            __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00,
                   c11 = c00, c12 = c00, c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00,
                   c30 = c00, c31 = c00, c32 = c00, c33 = c00;
#define ROW4(va, r0, r1, r2, r3)                                                                  \
    r0 = _mm512_fmadd_ps(va, v0, r0);                                                             \
    r1 = _mm512_fmadd_ps(va, v1, r1);                                                             \
    r2 = _mm512_fmadd_ps(va, v2, r2);                                                             \
    r3 = _mm512_fmadd_ps(va, v3, r3)
#define STEP(LOAD)                                                                                \
    do {                                                                                          \
        __m512 v0 = LOAD(w0), v1 = LOAD(w1), v2 = LOAD(w2), v3 = LOAD(w3), va;                    \
        va = LOAD(a0); ROW4(va, c00, c01, c02, c03);                                              \
        va = LOAD(a1); ROW4(va, c10, c11, c12, c13);                                              \
        va = LOAD(a2); ROW4(va, c20, c21, c22, c23);                                              \
        va = LOAD(a3); ROW4(va, c30, c31, c32, c33);                                              \
    } while (0)
            size_t k = 0;
            if (pf && m / 4 < pf_rows) {
                for (; k < K16; k += 16) {
                    for (size_t r = m / 4; r < pf_rows; r += n_blocks)
                        _mm_prefetch((const char *)(pf + r * ldw + k), _MM_HINT_T1);
#define LD(p) _mm512_loadu_ps((p) + k)
                    STEP(LD);
                }
            } else {
                for (; k < K16; k += 16) STEP(LD);
#undef LD
            }
            if (tail) {
#define LD(p) _mm512_maskz_loadu_ps(tail, (p) + k)
                STEP(LD);
#undef LD
            }
#undef STEP
#undef ROW4
            float *c = C + m * ldc + n;
            store_tile_row(c, hsum4_512(c00, c01, c02, c03), nb, beta);
            if (mb > 1) store_tile_row(c + ldc, hsum4_512(c10, c11, c12, c13), nb, beta);
            if (mb > 2) store_tile_row(c + 2 * ldc, hsum4_512(c20, c21, c22, c23), nb, beta);
            if (mb > 3) store_tile_row(c + 3 * ldc, hsum4_512(c30, c31, c32, c33), nb, beta);
        }
    }
}

/* MR = 2 rows x NR = 4 columns, 8 ymm accumulators (16 registers in all). */
__attribute__((target("avx2,fma"))) static void
gemm_nt_avx2(const float *A, size_t lda, const float *W, size_t ldw, float *C, size_t ldc,
             size_t M, size_t N, size_t K, float beta) {
    const size_t K8 = K & ~(size_t)7;
    for (size_t n = 0; n < N; n += 4) {
        const size_t nb = N - n < 4 ? N - n : 4;
        const float *w[4];
        for (size_t j = 0; j < 4; j++) w[j] = W + (n + (j < nb ? j : nb - 1)) * ldw;
        for (size_t m = 0; m < M; m += 2) {
            const size_t mb = M - m < 2 ? M - m : 2;
            const float *a0 = A + m * lda, *a1 = A + (m + mb - 1) * lda;
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00,
                   c11 = c00, c12 = c00, c13 = c00;
            size_t k = 0;
            for (; k < K8; k += 8) {
                __m256 v0 = _mm256_loadu_ps(w[0] + k), v1 = _mm256_loadu_ps(w[1] + k),
                       v2 = _mm256_loadu_ps(w[2] + k), v3 = _mm256_loadu_ps(w[3] + k);
                __m256 x0 = _mm256_loadu_ps(a0 + k), x1 = _mm256_loadu_ps(a1 + k);
                c00 = _mm256_fmadd_ps(x0, v0, c00);
                c01 = _mm256_fmadd_ps(x0, v1, c01);
                c02 = _mm256_fmadd_ps(x0, v2, c02);
                c03 = _mm256_fmadd_ps(x0, v3, c03);
                c10 = _mm256_fmadd_ps(x1, v0, c10);
                c11 = _mm256_fmadd_ps(x1, v1, c11);
                c12 = _mm256_fmadd_ps(x1, v2, c12);
                c13 = _mm256_fmadd_ps(x1, v3, c13);
            }
            __m128 r0 = hsum4_256(c00, c01, c02, c03), r1 = hsum4_256(c10, c11, c12, c13);
            float t0[4], t1[4];
            memcpy(t0, &r0, sizeof t0);
            memcpy(t1, &r1, sizeof t1);
            for (size_t j = 0; j < 4; j++) /* k tail */
                for (size_t kk = k; kk < K; kk++) {
                    t0[j] += a0[kk] * w[j][kk];
                    t1[j] += a1[kk] * w[j][kk];
                }
            memcpy(&r0, t0, sizeof t0);
            memcpy(&r1, t1, sizeof t1);
            float *c = C + m * ldc + n;
            store_tile_row(c, r0, nb, beta);
            if (mb > 1) store_tile_row(c + ldc, r1, nb, beta);
        }
    }
}
#endif

bool rag_bk_gemm_nt_available(void) {
#ifdef HAVE_X86_GEMM
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ||
           (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
#else
    return false;
#endif
}

void rag_bk_gemm_nt(const float *A, size_t lda, const float *W, size_t ldw, float *C, size_t ldc,
                    size_t M, size_t N, size_t K, float beta) {
#ifdef HAVE_X86_GEMM
    if (__builtin_cpu_supports("avx512f")) gemm_nt_avx512(A, lda, W, ldw, C, ldc, M, N, K, beta);
    else gemm_nt_avx2(A, lda, W, ldw, C, ldc, M, N, K, beta);
#else
    (void)A, (void)lda, (void)W, (void)ldw, (void)C, (void)ldc, (void)M, (void)N, (void)K,
        (void)beta;
#endif
}

/* ================================================================ int8 ==== */
/* Kernel selection, packing, and the scalar and AVX2 kernels; the VNNI kernels follow the
 * AVX-512 helpers below. Contract in bert_kernels.h. */
#include <stdatomic.h>
#include <stdlib.h>

static atomic_int q8_kernel_sel = -1; /* rag_bk_q8_kernel, or -1 before the first call */

bool rag_bk_q8_kernel_supported(rag_bk_q8_kernel k) {
    switch (k) {
    case RAG_BK_Q8_SCALAR: return true;
#ifdef HAVE_X86_GEMM
    case RAG_BK_Q8_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case RAG_BK_Q8_VNNI:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#endif
    default: return false;
    }
}

const char *rag_bk_q8_kernel_name(rag_bk_q8_kernel k) {
    return k == RAG_BK_Q8_VNNI ? "vnni" : k == RAG_BK_Q8_AVX2 ? "avx2" : "scalar";
}

bool rag_bk_q8_kernel_parse(const char *name, rag_bk_q8_kernel *out) {
    static const rag_bk_q8_kernel all[] = {RAG_BK_Q8_SCALAR, RAG_BK_Q8_AVX2, RAG_BK_Q8_VNNI};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(name, rag_bk_q8_kernel_name(all[i]))) { *out = all[i]; return true; }
    return false;
}

rag_bk_q8_kernel rag_bk_q8_kernel_get(void) {
    int k = atomic_load_explicit(&q8_kernel_sel, memory_order_acquire);
    if (k >= 0) return (rag_bk_q8_kernel)k;
    rag_bk_q8_kernel best = rag_bk_q8_kernel_supported(RAG_BK_Q8_VNNI)   ? RAG_BK_Q8_VNNI
                            : rag_bk_q8_kernel_supported(RAG_BK_Q8_AVX2) ? RAG_BK_Q8_AVX2
                                                                         : RAG_BK_Q8_SCALAR;
    rag_bk_q8_kernel want;
    const char *env = getenv("RAGC_Q8_KERNEL");
    if (env && rag_bk_q8_kernel_parse(env, &want) && rag_bk_q8_kernel_supported(want))
        best = want;
    int expected = -1; /* a concurrent first call computes the same; a set() wins */
    atomic_compare_exchange_strong(&q8_kernel_sel, &expected, (int)best);
    return (rag_bk_q8_kernel)atomic_load(&q8_kernel_sel);
}

bool rag_bk_q8_kernel_set(rag_bk_q8_kernel k) {
    if (!rag_bk_q8_kernel_supported(k)) return false;
    atomic_store(&q8_kernel_sel, (int)k);
    return true;
}

bool rag_bk_q8_available(void) { return true; }

void rag_bk_q8w_free(rag_bk_q8w *w) {
    if (!w) return;
    free(w->data);
    free(w->scale);
    free(w->wsum);
    memset(w, 0, sizeof *w);
}

bool rag_bk_q8w_pack(const float *W, size_t N, size_t K, rag_bk_q8w *out) {
    memset(out, 0, sizeof *out);
    const size_t NR = RAG_BK_Q8_NR, K4 = (K + 3) / 4, np = (N + NR - 1) / NR;
    out->N = N;
    out->K = K;
    out->K4 = K4;
    out->n_panels = np;
    out->data = aligned_alloc(64, np * K4 * NR * 4);
    out->scale = calloc(np * NR, sizeof *out->scale);
    out->wsum = calloc(np * NR, sizeof *out->wsum);
    if (!out->data || !out->scale || !out->wsum) {
        rag_bk_q8w_free(out);
        return false;
    }
    memset(out->data, 0, np * K4 * NR * 4);
    for (size_t n = 0; n < N; n++) {
        const float *w = W + n * K;
        float mx = 0;
        for (size_t k = 0; k < K; k++) mx = fmaxf(mx, fabsf(w[k]));
        const float s = mx > 0 ? mx / 127.0f : 1.0f;
        int32_t sum = 0;
        int8_t *panel = out->data + (n / NR) * K4 * NR * 4;
        for (size_t k = 0; k < K; k++) {
            long q = lroundf(w[k] / s);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            panel[(k / 4) * NR * 4 + (n % NR) * 4 + k % 4] = (int8_t)q;
            sum += (int32_t)q;
        }
        out->scale[n] = s;
        out->wsum[n] = (float)sum;
    }
    return true;
}

/* ---- scalar: the contract written out; any CPU ---- */
/* u of one value, given the row's lo and inv = 1 / sa (the SIMD kernels compute the same). */
static inline uint8_t q8_quant1(float a, float lo, float inv) {
    float x = (a - lo) * inv;
    x = x > 0.0f ? x : 0.0f; /* NaN -> 0, as max_ps(x, 0) */
    x = x < 255.0f ? x : 255.0f;
    return (uint8_t)lrintf(x);
}

static inline void q8_row_scale(float lo, float hi, float *sa, float *za, float *inv) {
    const float s = hi > lo ? (hi - lo) / 255.0f : 1.0f;
    *sa = s;
    *za = lo;
    *inv = 1.0f / s;
}

static void q8_quantize_scalar(const float *A, size_t lda, size_t M, size_t K, uint8_t *qa,
                               size_t ldq, float *sa, float *za) {
    for (size_t m = 0; m < M; m++) {
        const float *a = A + m * lda;
        uint8_t *q = qa + m * ldq;
        float lo = a[0], hi = a[0], inv;
        for (size_t k = 1; k < K; k++) {
            lo = a[k] < lo ? a[k] : lo;
            hi = a[k] > hi ? a[k] : hi;
        }
        q8_row_scale(lo, hi, sa + m, za + m, &inv);
        for (size_t k = 0; k < K; k++) q[k] = q8_quant1(a[k], lo, inv);
        for (size_t k = K; k < (K + 3) / 4 * 4; k++) q[k] = 0;
    }
}

/* Dequantizes one value as the contract says (beta 0 or 1). */
static inline float q8_deq1(int32_t acc, float sa, float za, float wsum, float sw, float c,
                            float beta) {
    float v = fmaf((float)acc, sa, za * wsum) * sw;
    return beta != 0.0f ? c + v : v;
}

static void q8_gemm_scalar(const uint8_t *qa, size_t ldq, const float *sa, const float *za,
                           size_t M, const rag_bk_q8w *w, size_t n0, size_t n1, float *C,
                           size_t ldc, float beta, const float *bias, int act) {
    const size_t NR = RAG_BK_Q8_NR;
    for (size_t m = 0; m < M; m++) {
        const uint8_t *u = qa + m * ldq;
        float *c = C + m * ldc;
        for (size_t p = n0 / NR; p * NR < n1; p++) { /* one panel: 32 columns at a time */
            int32_t acc[RAG_BK_Q8_NR] = {0};
            const int8_t *wp = w->data + p * w->K4 * NR * 4;
            for (size_t k4 = 0; k4 < w->K4; k4++, wp += NR * 4) {
                const int32_t u0 = u[4 * k4], u1 = u[4 * k4 + 1], u2 = u[4 * k4 + 2],
                              u3 = u[4 * k4 + 3];
                for (size_t j = 0; j < NR; j++)
                    acc[j] += u0 * wp[4 * j] + u1 * wp[4 * j + 1] + u2 * wp[4 * j + 2] +
                              u3 * wp[4 * j + 3];
            }
            for (size_t j = 0, n = p * NR; j < NR && n < n1; j++, n++)
                c[n] = q8_deq1(acc[j], sa[m], za[m], w->wsum[n], w->scale[n], c[n], beta);
        }
        if (bias && n1 > n0) rag_bk_bias_act(c + n0, bias + n0, n1 - n0, act);
    }
}

/* ---- AVX2 + FMA: u8 and s8 widened to int16, vpmaddwd (exact: pairs <= 2 * 255 * 127) ----
 * Tile: 5 rows x 8 columns, 10 accumulators of 8 int32 lanes (with 6 rows GCC spills one);
 * lane 2c holds k = 0, 1 and lane 2c + 1 k = 2, 3 of column c (mod 4) of each group of 4,
 * summed pairwise at the end. The rows of A are widened once per row block (4 int16 per k
 * group, one int64) into a stack buffer when K <= 4 * Q8_AVX2_KMAX, else at each step. */
#ifdef HAVE_X86_GEMM
#define Q8_AVX2_TARGET __attribute__((target("avx2,fma")))
#define Q8_AVX2_MR 5
#define Q8_AVX2_KMAX 1024 /* 5 x 1024 x 8 bytes = 40 KB of stack */
typedef int32_t v8i __attribute__((vector_size(32))); /* `+=` on these: no GCC spills */

Q8_AVX2_TARGET static inline __m256i q8_bcast_avx2(const int64_t *aw, const uint8_t *ar,
                                                   size_t k4, bool pre) {
    if (pre) return _mm256_set1_epi64x(aw[k4]);
    int32_t x;
    memcpy(&x, ar + 4 * k4, 4);
    return _mm256_cvtepu8_epi16(_mm_set1_epi32(x)); /* (u0, u1, u2, u3) x 4 as int16 */
}

/* acc[i][0..7] = sum_k u[row i] q[column c0 + j] for the 5 rows (rows >= mr repeat row mr - 1)
 * and the 8 columns whose packed bytes start at wp (panel + 4 * (c0 % 32)). */
Q8_AVX2_TARGET static inline __attribute__((always_inline)) void
q8_tile5_avx2(const int64_t *aw, const uint8_t *ar, size_t ldq, bool pre, size_t mr, size_t K4,
              const int8_t *wp, int32_t acc[Q8_AVX2_MR][8]) {
    const int64_t *pa[Q8_AVX2_MR];
    const uint8_t *pr[Q8_AVX2_MR];
    for (size_t i = 0; i < Q8_AVX2_MR; i++) {
        const size_t r = i < mr ? i : mr - 1;
        pa[i] = aw + r * K4;
        pr[i] = ar + r * ldq;
    }
    v8i c0a = {0}, c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a, c3a = c0a, c3b = c0a,
        c4a = c0a, c4b = c0a;
    for (size_t k4 = 0; k4 < K4; k4++) {
        const int8_t *wk = wp + k4 * RAG_BK_Q8_NR * 4;
        const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wk)),
                      w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wk + 16)));
        __m256i a;
#define ROW(i)                                                                                    \
    a = q8_bcast_avx2(pa[i], pr[i], k4, pre);                                                     \
    c##i##a += (v8i)_mm256_madd_epi16(a, w0);                                                     \
    c##i##b += (v8i)_mm256_madd_epi16(a, w1)
        ROW(0); ROW(1); ROW(2); ROW(3); ROW(4);
#undef ROW
    }
    /* hadd: (c0 c1 c4 c5 | c2 c3 c6 c7); permute 64-bit lanes 0, 2, 1, 3 -> c0..c7 */
#define OUT(i)                                                                                    \
    _mm256_storeu_si256((__m256i *)acc[i],                                                        \
                        _mm256_permute4x64_epi64(_mm256_hadd_epi32((__m256i)c##i##a, (__m256i)c##i##b), 0xD8))
    OUT(0); OUT(1); OUT(2); OUT(3); OUT(4);
#undef OUT
}

/* c[n..n+nv) (nv <= 8) = beta c + dequantized acc, as q8_deq1. */
Q8_AVX2_TARGET static inline void q8_store_avx2(const int32_t acc[8], float sa, float za,
                                                const rag_bk_q8w *w, size_t n, size_t nv,
                                                float *c, float beta) {
    __m256 v = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)acc));
    v = _mm256_fmadd_ps(v, _mm256_set1_ps(sa),
                        _mm256_mul_ps(_mm256_loadu_ps(w->wsum + n), _mm256_set1_ps(za)));
    v = _mm256_mul_ps(v, _mm256_loadu_ps(w->scale + n)); /* padded to the panel: in bounds */
    if (nv == 8) {
        if (beta != 0.0f) v = _mm256_add_ps(_mm256_loadu_ps(c + n), v);
        _mm256_storeu_ps(c + n, v);
        return;
    }
    float t[8];
    _mm256_storeu_ps(t, v);
    for (size_t j = 0; j < nv; j++) c[n + j] = beta != 0.0f ? c[n + j] + t[j] : t[j];
}

Q8_AVX2_TARGET static void q8_gemm_avx2(const uint8_t *qa, size_t ldq, const float *sa,
                                        const float *za, size_t M, const rag_bk_q8w *w,
                                        size_t n0, size_t n1, float *C, size_t ldc, float beta,
                                        const float *bias, int act) {
    const size_t K4 = w->K4, NR = RAG_BK_Q8_NR;
    const bool pre = K4 <= Q8_AVX2_KMAX;
    int64_t aw[Q8_AVX2_MR * Q8_AVX2_KMAX];
    for (size_t m = 0; m < M; m += Q8_AVX2_MR) {
        const size_t mr = M - m < Q8_AVX2_MR ? M - m : Q8_AVX2_MR;
        const uint8_t *ar = qa + m * ldq;
        if (pre)
            for (size_t i = 0; i < mr; i++)
                for (size_t k4 = 0; k4 < K4; k4++) {
                    int32_t x;
                    memcpy(&x, ar + i * ldq + 4 * k4, 4);
                    aw[i * K4 + k4] = _mm_cvtsi128_si64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(x)));
                }
        for (size_t n = n0; n < n1; n += 8) {
            int32_t acc[Q8_AVX2_MR][8];
            const int8_t *wp = w->data + (n / NR) * K4 * NR * 4 + (n % NR) * 4;
            if (pre) q8_tile5_avx2(aw, ar, ldq, true, mr, K4, wp, acc);
            else q8_tile5_avx2(aw, ar, ldq, false, mr, K4, wp, acc);
            const size_t nv = n1 - n < 8 ? n1 - n : 8;
            for (size_t i = 0; i < mr; i++)
                q8_store_avx2(acc[i], sa[m + i], za[m + i], w, n, nv, C + (m + i) * ldc, beta);
        }
        if (bias && n1 > n0)
            for (size_t i = 0; i < mr; i++)
                rag_bk_bias_act(C + (m + i) * ldc + n0, bias + n0, n1 - n0, act);
    }
}

Q8_AVX2_TARGET static void q8_quantize_avx2(const float *A, size_t lda, size_t M, size_t K,
                                            uint8_t *qa, size_t ldq, float *sa, float *za) {
    const size_t K8 = K & ~(size_t)7, K32 = K & ~(size_t)31;
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (size_t m = 0; m < M; m++) {
        const float *a = A + m * lda;
        uint8_t *q = qa + m * ldq;
        __m256 vmin = _mm256_set1_ps(INFINITY), vmax = _mm256_set1_ps(-INFINITY);
        size_t k = 0;
        for (; k < K8; k += 8) {
            const __m256 v = _mm256_loadu_ps(a + k);
            vmin = _mm256_min_ps(vmin, v);
            vmax = _mm256_max_ps(vmax, v);
        }
        float t0[8], t1[8], lo = INFINITY, hi = -INFINITY, inv;
        _mm256_storeu_ps(t0, vmin);
        _mm256_storeu_ps(t1, vmax);
        for (int j = 0; j < 8; j++) {
            lo = t0[j] < lo ? t0[j] : lo;
            hi = t1[j] > hi ? t1[j] : hi;
        }
        for (; k < K; k++) {
            lo = a[k] < lo ? a[k] : lo;
            hi = a[k] > hi ? a[k] : hi;
        }
        q8_row_scale(lo, hi, sa + m, za + m, &inv);
        const __m256 vinv = _mm256_set1_ps(inv), vlo = _mm256_set1_ps(lo),
                     zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255.0f);
#define QV(j)                                                                                     \
    _mm256_cvtps_epi32(_mm256_min_ps(                                                             \
        _mm256_max_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(a + k + 8 * (j)), vlo), vinv),  \
                      zero),                                                                      \
        top))
        for (k = 0; k < K32; k += 32) {
            const __m256i p01 = _mm256_packus_epi32(QV(0), QV(1)),
                          p23 = _mm256_packus_epi32(QV(2), QV(3));
            _mm256_storeu_si256((__m256i *)(q + k),
                                _mm256_permutevar8x32_epi32(_mm256_packus_epi16(p01, p23), order));
        }
#undef QV
        for (; k < K; k++) q[k] = q8_quant1(a[k], lo, inv);
        for (k = K; k < (K + 3) / 4 * 4; k++) q[k] = 0;
    }
}
#endif

#ifdef HAVE_X86_GEMM
#define Q8_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))
#define F512_TARGET __attribute__((target("avx512f,avx2,fma"))) /* fp32 kernels: AVX-512F only */

Q8_TARGET static void q8_quantize_avx512(const float *A, size_t lda, size_t M, size_t K,
                                         uint8_t *qa, size_t ldq, float *sa, float *za) {
    const size_t K16 = K & ~(size_t)15;
    const __mmask16 tail = (__mmask16)((1u << (K - K16)) - 1u);
    for (size_t m = 0; m < M; m++) {
        const float *a = A + m * lda;
        __m512 vmin = _mm512_set1_ps(INFINITY), vmax = _mm512_set1_ps(-INFINITY);
        size_t k = 0;
        for (; k < K16; k += 16) {
            __m512 v = _mm512_loadu_ps(a + k);
            vmin = _mm512_min_ps(vmin, v);
            vmax = _mm512_max_ps(vmax, v);
        }
        if (tail) {
            __m512 v = _mm512_maskz_loadu_ps(tail, a + k);
            vmin = _mm512_mask_min_ps(vmin, tail, vmin, v);
            vmax = _mm512_mask_max_ps(vmax, tail, vmax, v);
        }
        const float lo = _mm512_reduce_min_ps(vmin), hi = _mm512_reduce_max_ps(vmax);
        float inv;
        q8_row_scale(lo, hi, sa + m, za + m, &inv);
        const __m512 vinv = _mm512_set1_ps(inv), vlo = _mm512_set1_ps(lo),
                     zero = _mm512_setzero_ps(), top = _mm512_set1_ps(255.0f);
        uint8_t *q = qa + m * ldq;
        for (k = 0; k < K16; k += 16) {
            __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(a + k), vlo), vinv);
            v = _mm512_min_ps(_mm512_max_ps(v, zero), top);
            _mm_storeu_si128((__m128i *)(q + k), _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(v)));
        }
        if (tail) {
            __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, a + k), vlo), vinv);
            v = _mm512_min_ps(_mm512_max_ps(v, zero), top);
            _mm_mask_storeu_epi8(q + k, tail, _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(v)));
        }
        for (k = K; k < (K + 3) / 4 * 4; k++) q[k] = 0; /* padding: weights there are 0 */
    }
}

/* e^x with FMAs (same reduction and polynomial as vexp), 0 below -87.3. */
F512_TARGET static inline __m512 exp512(__m512 x) {
    const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33654f)),
                                    _mm512_set1_ps(88.72283f));
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 t = _mm512_fmadd_ps(xc, _mm512_set1_ps(1.44269504088896341f), magic);
    __m512 n = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B400000)),
                         _mm512_set1_epi32(127)), 23);
    __m512 y = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33654f), _CMP_GT_OQ), y);
}

F512_TARGET static void softmax_avx512(float *s, size_t n) {
    const size_t n16 = n & ~(size_t)15;
    const __mmask16 tail = (__mmask16)((1u << (n - n16)) - 1u);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 mv = ninf;
    size_t i = 0;
    for (; i < n16; i += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(s + i));
    if (tail) mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(ninf, tail, s + i));
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
    __m512 acc = _mm512_setzero_ps();
    for (i = 0; i < n16; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(s + i), m));
        _mm512_storeu_ps(s + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    if (tail) {
        __m512 x = _mm512_sub_ps(_mm512_mask_loadu_ps(ninf, tail, s + i), m);
        __m512 e = _mm512_maskz_mov_ps(tail, exp512(x));
        _mm512_mask_storeu_ps(s + i, tail, e);
        acc = _mm512_add_ps(acc, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(acc));
    for (i = 0; i < n16; i += 16)
        _mm512_storeu_ps(s + i, _mm512_mul_ps(_mm512_loadu_ps(s + i), inv));
    if (tail)
        _mm512_mask_storeu_ps(s + i, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, s + i), inv));
}

/* Exact-form GELU as vgelu, with a Newton-refined reciprocal instead of a division. */
F512_TARGET static inline __m512 gelu512(__m512 x) {
    const __m512 a = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
    const __m512 den = _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f));
    __m512 t = _mm512_rcp14_ps(den);
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(den, t, _mm512_set1_ps(2.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    const __m512 q = _mm512_mul_ps(_mm512_mul_ps(p, t), exp512(_mm512_mul_ps(_mm512_sub_ps(
                                                      _mm512_setzero_ps(), a), a)));
    const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    const __m512 f = _mm512_mask_mov_ps(_mm512_sub_ps(_mm512_set1_ps(2.0f), q), neg, q);
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), f);
}

/* Dequantizes one row's two accumulators (32 columns from n0) into C, then adds bias and
 * applies act when bias is given. */
Q8_TARGET static inline void q8_store(__m512i a0, __m512i a1, float sa, float za,
                                      const rag_bk_q8w *w, size_t n0, size_t n1, float *c,
                                      float beta, const float *bias, int act) {
    for (int h = 0; h < 2; h++) {
        const size_t n = n0 + (size_t)h * 16;
        if (n >= n1) break;
        const __mmask16 mk = n1 - n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n1 - n)) - 1u);
        __m512 v = _mm512_cvtepi32_ps(h ? a1 : a0);
        v = _mm512_fmadd_ps(v, _mm512_set1_ps(sa),
                            _mm512_mul_ps(_mm512_loadu_ps(w->wsum + n), _mm512_set1_ps(za)));
        v = _mm512_mul_ps(v, _mm512_loadu_ps(w->scale + n));
        if (beta != 0.0f) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, c + n));
        if (bias) {
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, bias + n));
            if (act == RAG_BERT_ACT_GELU) v = gelu512(v);
            else if (act == RAG_BERT_ACT_RELU) v = _mm512_max_ps(v, _mm512_setzero_ps());
        }
        _mm512_mask_storeu_ps(c + n, mk, v);
        if (bias && act == RAG_BERT_ACT_GELU_TANH) /* rare: the portable kernel, bias done */
            for (size_t k = n; k < n + 16 && k < n1; k++) c[k] = sgelu_tanh(c[k]);
    }
}

/* 8 rows x 32 columns over all K4 groups (16 accumulators in named registers: an array made
 * GCC spill), then dequantize into C. Rows past mr repeat the last row and are not stored. */
Q8_TARGET static void q8_tile8(const uint8_t *qa, size_t ldq, size_t mr, const float *sa,
                               const float *za, const rag_bk_q8w *w, size_t panel, size_t n1,
                               float *C, size_t ldc, float beta, const float *bias, int act) {
    const uint8_t *r[8];
    for (size_t i = 0; i < 8; i++) r[i] = qa + (i < mr ? i : mr - 1) * ldq;
    __m512i c0a = _mm512_setzero_si512(), c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a,
            c3a = c0a, c3b = c0a, c4a = c0a, c4b = c0a, c5a = c0a, c5b = c0a, c6a = c0a,
            c6b = c0a, c7a = c0a, c7b = c0a;
    const int8_t *wp = w->data + panel * w->K4 * RAG_BK_Q8_NR * 4;
    for (size_t k4 = 0; k4 < w->K4; k4++) {
        const __m512i w0 = _mm512_load_si512((const void *)(wp + k4 * 128)),
                      w1 = _mm512_load_si512((const void *)(wp + k4 * 128 + 64));
        int32_t a;
#define ROW(i)                                                                                    \
    memcpy(&a, r[i] + k4 * 4, 4);                                                                 \
    c##i##a = _mm512_dpbusd_epi32(c##i##a, _mm512_set1_epi32(a), w0);                             \
    c##i##b = _mm512_dpbusd_epi32(c##i##b, _mm512_set1_epi32(a), w1)
        ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5); ROW(6); ROW(7);
#undef ROW
    }
    const size_t n0 = panel * RAG_BK_Q8_NR;
    const __m512i acc[8][2] = {{c0a, c0b}, {c1a, c1b}, {c2a, c2b}, {c3a, c3b},
                               {c4a, c4b}, {c5a, c5b}, {c6a, c6b}, {c7a, c7b}};
    for (size_t i = 0; i < mr; i++)
        q8_store(acc[i][0], acc[i][1], sa[i], za[i], w, n0, n1, C + i * ldc, beta, bias, act);
}
#endif

#ifdef HAVE_X86_GEMM
/* S (rows, Lp) = scale * q_i . kt[:, j] for `rows` query rows and keys j < L rounded up to 32,
 * 4 rows x 32 keys at a time (rows past `rows` repeat the last one and are not stored). */
F512_TARGET static void att_scores(const float *q, size_t ld, size_t rows, size_t L, size_t dh,
                                   float scale, const float *kt, size_t Lp, float *S) {
    const __m512 vs = _mm512_set1_ps(scale);
    for (size_t i = 0; i < rows; i += 4) {
        const float *q0 = q + i * ld, *q1 = q + (i + 1 < rows ? i + 1 : rows - 1) * ld,
                    *q2 = q + (i + 2 < rows ? i + 2 : rows - 1) * ld,
                    *q3 = q + (i + 3 < rows ? i + 3 : rows - 1) * ld;
        for (size_t j = 0; j < L; j += 32) {
            __m512 a0 = _mm512_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0,
                   b3 = a0;
            for (size_t d = 0; d < dh; d++) {
                const __m512 k0 = _mm512_loadu_ps(kt + d * Lp + j),
                             k1 = _mm512_loadu_ps(kt + d * Lp + j + 16);
                __m512 x = _mm512_set1_ps(q0[d]);
                a0 = _mm512_fmadd_ps(x, k0, a0);
                b0 = _mm512_fmadd_ps(x, k1, b0);
                x = _mm512_set1_ps(q1[d]);
                a1 = _mm512_fmadd_ps(x, k0, a1);
                b1 = _mm512_fmadd_ps(x, k1, b1);
                x = _mm512_set1_ps(q2[d]);
                a2 = _mm512_fmadd_ps(x, k0, a2);
                b2 = _mm512_fmadd_ps(x, k1, b2);
                x = _mm512_set1_ps(q3[d]);
                a3 = _mm512_fmadd_ps(x, k0, a3);
                b3 = _mm512_fmadd_ps(x, k1, b3);
            }
            float *s0 = S + i * Lp + j;
            _mm512_storeu_ps(s0, _mm512_mul_ps(a0, vs));
            _mm512_storeu_ps(s0 + 16, _mm512_mul_ps(b0, vs));
            if (i + 1 < rows) {
                _mm512_storeu_ps(s0 + Lp, _mm512_mul_ps(a1, vs));
                _mm512_storeu_ps(s0 + Lp + 16, _mm512_mul_ps(b1, vs));
            }
            if (i + 2 < rows) {
                _mm512_storeu_ps(s0 + 2 * Lp, _mm512_mul_ps(a2, vs));
                _mm512_storeu_ps(s0 + 2 * Lp + 16, _mm512_mul_ps(b2, vs));
            }
            if (i + 3 < rows) {
                _mm512_storeu_ps(s0 + 3 * Lp, _mm512_mul_ps(a3, vs));
                _mm512_storeu_ps(s0 + 3 * Lp + 16, _mm512_mul_ps(b3, vs));
            }
        }
    }
}

/* Transposes the 16 x 16 block r[0..15] in registers (r[i][j] <-> r[j][i]). */
F512_TARGET static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int h = 0; h < 16; h += 8)
        for (int i = 0; i < 4; i++) {
            t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
            t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xDD);
        }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}

/* kt (dh, Lp) = K^T zero-padded to Lp keys, by 16 x 16 blocks transposed in registers. */
F512_TARGET static void att_transpose(const float *k, size_t ld, size_t L, size_t dh, float *kt,
                                      size_t Lp) {
    for (size_t j = 0; j < Lp; j += 16)
        for (size_t d = 0; d < dh; d += 16) {
            __m512 r[16];
            for (size_t i = 0; i < 16; i++)
                r[i] = j + i < L ? _mm512_loadu_ps(k + (j + i) * ld + d) : _mm512_setzero_ps();
            transpose16(r);
            for (size_t i = 0; i < 16; i++) _mm512_storeu_ps(kt + (d + i) * Lp + j, r[i]);
        }
}

/* out (rows, dh) = P V over L keys for ND = dh / 16 vectors per row, 4 rows at a time. */
#define ATT_PV(ND)                                                                                \
    F512_TARGET static void att_pv_##ND(const float *S, size_t Lp, const float *v, size_t ld,     \
                                        size_t rows, size_t L, float *out, size_t ldo) {          \
        for (size_t i = 0; i < rows; i += 4) {                                                    \
            const size_t mr = rows - i < 4 ? rows - i : 4;                                        \
            const float *p[4];                                                                    \
            for (size_t r = 0; r < 4; r++) p[r] = S + (i + (r < mr ? r : mr - 1)) * Lp;           \
            __m512 acc[4][ND];                                                                    \
            for (int r = 0; r < 4; r++)                                                           \
                for (int c = 0; c < ND; c++) acc[r][c] = _mm512_setzero_ps();                     \
            for (size_t j = 0; j < L; j++) {                                                      \
                __m512 vv[ND];                                                                    \
                for (int c = 0; c < ND; c++) vv[c] = _mm512_loadu_ps(v + j * ld + 16 * c);        \
                _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {                             \
                    const __m512 x = _mm512_set1_ps(p[r][j]);                                     \
                    for (int c = 0; c < ND; c++) acc[r][c] = _mm512_fmadd_ps(x, vv[c], acc[r][c]); \
                }                                                                                 \
            }                                                                                     \
            for (size_t r = 0; r < mr; r++)                                                       \
                for (int c = 0; c < ND; c++)                                                      \
                    _mm512_storeu_ps(out + (i + r) * ldo + 16 * c, acc[r][c]);                    \
        }                                                                                         \
    }
ATT_PV(1)
ATT_PV(2)
ATT_PV(3)
ATT_PV(4)

/* ---- bf16 attention (AVX512-BF16: vdpbf16ps, 2 products per fp32 lane) ----
 * Q, K, V and the softmax probabilities are rounded to bf16 (round to nearest even), products
 * are accumulated in fp32; scores, softmax and outputs stay fp32. Layouts: kp (dh / 2, Lp)
 * uint32 = bf16 pairs (k_j[2p], k_j[2p + 1]) for key j; vp (Lp / 2, dh) uint32 = pairs
 * (v_2t[c], v_2t+1[c]); a row of probabilities becomes Lp / 2 pairs in place. */
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")))

/* 32 floats -> 16 bf16 pairs in order (element 2p in the low half of lane p). */
BF16_TARGET static inline __m512i bf16x32(__m512 lo, __m512 hi) {
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

BF16_TARGET static void att_pack_k_bf16(const float *k, size_t ld, size_t L, size_t dh,
                                        uint32_t *kp, size_t Lp) {
    for (size_t j = 0; j < Lp; j += 16)
        for (size_t d = 0; d < dh; d += 32) {
            __m512 r[16];
            for (size_t i = 0; i < 16; i++) {
                const float *row = k + (j + i) * ld + d;
                r[i] = j + i < L ? _mm512_castsi512_ps(bf16x32(_mm512_loadu_ps(row),
                                                               _mm512_loadu_ps(row + 16)))
                                 : _mm512_setzero_ps();
            }
            transpose16(r);
            for (size_t i = 0; i < 16; i++) _mm512_storeu_ps((float *)kp + (d / 2 + i) * Lp + j, r[i]);
        }
}

BF16_TARGET static void att_pack_v_bf16(const float *v, size_t ld, size_t L, size_t dh,
                                        uint32_t *vp) {
    for (size_t t = 0; 2 * t < L; t++)
        for (size_t c = 0; c < dh; c += 16) {
            const __m512 a = _mm512_loadu_ps(v + 2 * t * ld + c),
                         b = 2 * t + 1 < L ? _mm512_loadu_ps(v + (2 * t + 1) * ld + c)
                                           : _mm512_setzero_ps();
            const __m512i ea = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(a)),
                          eb = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(b));
            _mm512_storeu_si512(vp + t * dh + c, _mm512_or_si512(ea, _mm512_slli_epi32(eb, 16)));
        }
}

/* e^x for x <= 0 to about 3e-6 relative (the probabilities are rounded to bf16 next, 2^-9):
 * 2^f by a degree-5 polynomial, f = x log2 e - n, and scalef by 2^n; 0 below -87.3 (masked
 * keys, -inf, get exactly 0). */
BF16_TARGET static inline __m512 exp512_bf(__m512 x) {
    const __m512 t = _mm512_mul_ps(_mm512_max_ps(x, _mm512_set1_ps(-88.0f)),
                                   _mm512_set1_ps(1.44269504088896341f));
    const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(t, n); /* [-0.5, 0.5] */
    __m512 p = _mm512_set1_ps(1.3333558e-3f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504109e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022651e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33654f), _CMP_GT_OQ),
                               _mm512_scalef_ps(p, n));
}

/* s[0..L) * scale -> ceil(L / 2) bf16 pairs at the start of s, zero past L. */
BF16_TARGET static void att_round_bf16(float *s, size_t L, float scale) {
    const __m512 vs = _mm512_set1_ps(scale);
    for (size_t c = 0; c < L; c += 32) {
        const size_t left = L - c;
        const __mmask16 m0 = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u),
                        m1 = left >= 32  ? (__mmask16)0xffff
                             : left > 16 ? (__mmask16)((1u << (left - 16)) - 1u)
                                         : (__mmask16)0;
        const __m512i p = bf16x32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m0, s + c), vs),
                                  _mm512_mul_ps(_mm512_maskz_loadu_ps(m1, s + c + 16), vs));
        _mm512_storeu_si512(s + c / 2, p); /* below what is still to be read */
    }
}

/* Softmax of s[0..L) (keys with kmask 0 excluded; all masked: uniform), written as bf16 pairs
 * by att_round_bf16: max, exp + sum, then normalize while rounding. */
BF16_TARGET static void att_softmax_bf16(float *s, size_t L, const int32_t *kmask) {
    if (kmask && !apply_key_mask(s, L, kmask)) { att_round_bf16(s, L, 1.0f); return; }
    const size_t L16 = L & ~(size_t)15;
    const __mmask16 tail = (__mmask16)((1u << (L - L16)) - 1u);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 mv = ninf, acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i < L16; i += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(s + i));
    if (tail) mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(ninf, tail, s + i));
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
    for (i = 0; i < L16; i += 16) {
        const __m512 e = exp512_bf(_mm512_sub_ps(_mm512_loadu_ps(s + i), m));
        _mm512_storeu_ps(s + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    if (tail) {
        const __m512 e = _mm512_maskz_mov_ps(
            tail, exp512_bf(_mm512_sub_ps(_mm512_mask_loadu_ps(ninf, tail, s + i), m)));
        _mm512_mask_storeu_ps(s + i, tail, e);
        acc = _mm512_add_ps(acc, e);
    }
    att_round_bf16(s, L, 1.0f / _mm512_reduce_add_ps(acc));
}

/* As att_scores, from q rounded to bf16 and kp. dh is a multiple of 32, at most 64. */
BF16_TARGET static void att_scores_bf16(const float *q, size_t ld, size_t rows, size_t L,
                                        size_t dh, float scale, const uint32_t *kp, size_t Lp,
                                        float *S) {
    const __m512 vs = _mm512_set1_ps(scale);
    for (size_t i = 0; i < rows; i += 4) {
        uint32_t qp[4][32];
        for (size_t r = 0; r < 4; r++) {
            const float *row = q + (i + r < rows ? i + r : rows - 1) * ld;
            for (size_t d = 0; d < dh; d += 32)
                _mm512_storeu_si512(qp[r] + d / 2, bf16x32(_mm512_loadu_ps(row + d),
                                                           _mm512_loadu_ps(row + d + 16)));
        }
        for (size_t j = 0; j < L; j += 32) {
            __m512 a0 = _mm512_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0,
                   b3 = a0;
            for (size_t p = 0; p < dh / 2; p++) {
                const __m512bh k0 = (__m512bh)_mm512_loadu_si512(kp + p * Lp + j),
                               k1 = (__m512bh)_mm512_loadu_si512(kp + p * Lp + j + 16);
#define ROWBF(r)                                                                                  \
    do {                                                                                          \
        const __m512bh x = (__m512bh)_mm512_set1_epi32((int)qp[r][p]);                            \
        a##r = _mm512_dpbf16_ps(a##r, k0, x);                                                     \
        b##r = _mm512_dpbf16_ps(b##r, k1, x);                                                     \
    } while (0)
                ROWBF(0); ROWBF(1); ROWBF(2); ROWBF(3);
#undef ROWBF
            }
            float *s0 = S + i * Lp + j;
            const __m512 out[4][2] = {{a0, b0}, {a1, b1}, {a2, b2}, {a3, b3}};
            for (size_t r = 0; r < 4 && i + r < rows; r++) {
                _mm512_storeu_ps(s0 + r * Lp, _mm512_mul_ps(out[r][0], vs));
                _mm512_storeu_ps(s0 + r * Lp + 16, _mm512_mul_ps(out[r][1], vs));
            }
        }
    }
}

/* out (rows, dh) = P V from the pair rows of S (stride Lp floats) and vp. */
#define ATT_PV_BF16(ND)                                                                           \
    BF16_TARGET static void att_pv_bf16_##ND(const float *S, size_t Lp, const uint32_t *vp,       \
                                             size_t rows, size_t L, float *out, size_t ldo) {     \
        const size_t dh = 16 * ND;                                                                \
        for (size_t i = 0; i < rows; i += 4) {                                                    \
            const size_t mr = rows - i < 4 ? rows - i : 4;                                        \
            const uint32_t *p[4];                                                                 \
            for (size_t r = 0; r < 4; r++)                                                        \
                p[r] = (const uint32_t *)(S + (i + (r < mr ? r : mr - 1)) * Lp);                  \
            __m512 acc[4][ND];                                                                    \
            for (int r = 0; r < 4; r++)                                                           \
                for (int c = 0; c < ND; c++) acc[r][c] = _mm512_setzero_ps();                     \
            for (size_t t = 0; 2 * t < L; t++) {                                                  \
                __m512bh vv[ND];                                                                  \
                for (int c = 0; c < ND; c++)                                                      \
                    vv[c] = (__m512bh)_mm512_loadu_si512(vp + t * dh + 16 * c);                   \
                _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {                             \
                    const __m512bh x = (__m512bh)_mm512_set1_epi32((int)p[r][t]);                 \
                    for (int c = 0; c < ND; c++) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], vv[c], x); \
                }                                                                                 \
            }                                                                                     \
            for (size_t r = 0; r < mr; r++)                                                       \
                for (int c = 0; c < ND; c++)                                                      \
                    _mm512_storeu_ps(out + (i + r) * ldo + 16 * c, acc[r][c]);                    \
        }                                                                                         \
    }
ATT_PV_BF16(2)
ATT_PV_BF16(4)

#endif

bool rag_bk_attention_available(size_t dh) {
#ifdef HAVE_X86_GEMM
    return dh >= 16 && dh <= 64 && dh % 16 == 0 && __builtin_cpu_supports("avx512f");
#else
    (void)dh;
    return false;
#endif
}

void rag_bk_attention(const float *q, const float *k, const float *v, size_t ld, size_t L,
                      size_t dh, float scale, const int32_t *kmask, float *S, float *kt,
                      float *out, size_t ldo) {
#ifdef HAVE_X86_GEMM
    /* blocks of ATT_RB query rows: scores, softmax and P V while the block's scores are in L1;
     * each row's arithmetic is the same as one pass over all rows would do. Row block i writes
     * only out rows i.., after their q rows were read (out may alias q). */
    enum { ATT_RB = 4 };
    const size_t Lp = RAG_BK_ATT_LP(L);
    att_transpose(k, ld, L, dh, kt, Lp);
    for (size_t i = 0; i < L; i += ATT_RB) {
        const size_t rb = L - i < ATT_RB ? L - i : ATT_RB;
        att_scores(q + i * ld, ld, rb, L, dh, scale, kt, Lp, S);
        for (size_t r = 0; r < rb; r++) rag_bk_softmax(S + r * Lp, L, kmask);
        float *o = out + i * ldo;
        switch (dh / 16) {
        case 1: att_pv_1(S, Lp, v, ld, rb, L, o, ldo); break;
        case 2: att_pv_2(S, Lp, v, ld, rb, L, o, ldo); break;
        case 3: att_pv_3(S, Lp, v, ld, rb, L, o, ldo); break;
        default: att_pv_4(S, Lp, v, ld, rb, L, o, ldo); break;
        }
    }
#else
    (void)q, (void)k, (void)v, (void)ld, (void)L, (void)dh, (void)scale, (void)kmask, (void)S,
        (void)kt, (void)out, (void)ldo;
#endif
}

bool rag_bk_attention_bf16_available(size_t dh) {
#ifdef HAVE_X86_GEMM
    return (dh == 32 || dh == 64) && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bf16");
#else
    (void)dh;
    return false;
#endif
}

void rag_bk_attention_bf16(const float *q, const float *k, const float *v, size_t ld, size_t L,
                           size_t dh, float scale, const int32_t *kmask, float *S, float *kt,
                           float *out, size_t ldo) {
#ifdef HAVE_X86_GEMM
    enum { ATT_RB = 4 };
    const size_t Lp = RAG_BK_ATT_LP(L);
    uint32_t *kp = (uint32_t *)kt, *vp = kp + dh / 2 * Lp; /* dh Lp / 2 words each */
    att_pack_k_bf16(k, ld, L, dh, kp, Lp);
    att_pack_v_bf16(v, ld, L, dh, vp);
    for (size_t i = 0; i < L; i += ATT_RB) {
        const size_t rb = L - i < ATT_RB ? L - i : ATT_RB;
        att_scores_bf16(q + i * ld, ld, rb, L, dh, scale, kp, Lp, S);
        for (size_t r = 0; r < rb; r++) att_softmax_bf16(S + r * Lp, L, kmask);
        if (dh == 32) att_pv_bf16_2(S, Lp, vp, rb, L, out + i * ldo, ldo);
        else att_pv_bf16_4(S, Lp, vp, rb, L, out + i * ldo, ldo);
    }
#else
    (void)q, (void)k, (void)v, (void)ld, (void)L, (void)dh, (void)scale, (void)kmask, (void)S,
        (void)kt, (void)out, (void)ldo;
#endif
}

void rag_bk_softmax(float *s, size_t n, const int32_t *kmask) {
    if (kmask && !apply_key_mask(s, n, kmask)) return;
#ifdef HAVE_X86_GEMM
    if (__builtin_cpu_supports("avx512f")) { softmax_avx512(s, n); return; }
#endif
    softmax_generic(s, n);
}

void rag_bk_q8_quantize_rows(const float *A, size_t lda, size_t M, size_t K, uint8_t *qa,
                             size_t ldq, float *sa, float *za) {
    switch (rag_bk_q8_kernel_get()) {
#ifdef HAVE_X86_GEMM
    case RAG_BK_Q8_VNNI: q8_quantize_avx512(A, lda, M, K, qa, ldq, sa, za); return;
    case RAG_BK_Q8_AVX2: q8_quantize_avx2(A, lda, M, K, qa, ldq, sa, za); return;
#endif
    default: q8_quantize_scalar(A, lda, M, K, qa, ldq, sa, za); return;
    }
}

void rag_bk_q8_gemm(const uint8_t *qa, size_t ldq, const float *sa, const float *za, size_t M,
                    const rag_bk_q8w *w, size_t n0, size_t n1, float *C, size_t ldc, float beta,
                    const float *bias, int act) {
    switch (rag_bk_q8_kernel_get()) {
#ifdef HAVE_X86_GEMM
    case RAG_BK_Q8_VNNI:
        for (size_t m = 0; m < M; m += 8) {
            const size_t mr = M - m < 8 ? M - m : 8;
            for (size_t p = n0 / RAG_BK_Q8_NR; p * RAG_BK_Q8_NR < n1; p++)
                q8_tile8(qa + m * ldq, ldq, mr, sa + m, za + m, w, p, n1, C + m * ldc, ldc, beta,
                         bias, act);
        }
        return;
    case RAG_BK_Q8_AVX2:
        q8_gemm_avx2(qa, ldq, sa, za, M, w, n0, n1, C, ldc, beta, bias, act);
        return;
#endif
    default: q8_gemm_scalar(qa, ldq, sa, za, M, w, n0, n1, C, ldc, beta, bias, act); return;
    }
}

void rag_bk_q8_gemm_quant(const uint8_t *qa, size_t ldq, const float *sa, const float *za,
                          size_t M, const rag_bk_q8w *w, const float *bias, int act, float *tmp,
                          uint8_t *qo, size_t ldqo, float *sao, float *zao) {
    for (size_t m = 0; m < M; m += RAG_BK_Q8_BLOCK_ROWS) {
        const size_t mr = M - m < RAG_BK_Q8_BLOCK_ROWS ? M - m : RAG_BK_Q8_BLOCK_ROWS;
        rag_bk_q8_gemm(qa + m * ldq, ldq, sa + m, za + m, mr, w, 0, w->N, tmp, w->N, 0.0f, bias,
                       act);
        rag_bk_q8_quantize_rows(tmp, w->N, mr, w->N, qo + m * ldqo, ldqo, sao + m, zao + m);
    }
}
