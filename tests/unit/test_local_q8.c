/* The int8 kernels of src/local/bert_kernels.c, each variant this CPU can run (VNNI, AVX2,
 * scalar; forced with rag_bk_q8_kernel_set), against a plain double-precision reference of the
 * quantized math the header's contract states:
 *   - activation quantization: bytes, scale and offset exactly as the contract computes them;
 *   - the gemm on odd shapes (M, N, K not multiples of the tiles, K past the AVX2 kernel's
 *     stack-widened limit), column ranges starting at a later panel, beta 0 / 1, bias with no
 *     activation, GELU and ReLU: within float rounding of the reference, nothing written
 *     outside the requested block, and bit-identical across variants without GELU;
 *   - the bf16 attention of the int8 path against a double reference, within bf16 rounding;
 *   - embeddings of a random model of all-MiniLM-L6-v2's shape (6 layers, 384 hidden, 12 heads,
 *     FFN 1536; weights drawn as tests/reference/make_model.py draws them) within cosine 0.999
 *     of fp32 for every variant, and the same bits on 1 thread and on 2 threads (SPLIT).
 * RAGC_Q8_KERNEL is set to "scalar" before the first int8 call, so the first test also checks
 * that the environment variable is honoured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local/bert_kernels.h"
#include "ragc/encoder.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double urand(void) { /* uniform in [0, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double nrand(void) { /* standard normal (Box-Muller) */
    double u = urand(), v = urand();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static const rag_bk_q8_kernel ALL[] = {RAG_BK_Q8_SCALAR, RAG_BK_Q8_AVX2, RAG_BK_Q8_VNNI};
#define N_KERNELS 3

/* ------------------------------------------------------------ reference ---- */
/* The contract of bert_kernels.h, written out again. */
static void ref_quant_row(const float *a, size_t K, uint8_t *u, float *sa, float *za) {
    float lo = a[0], hi = a[0];
    for (size_t k = 0; k < K; k++) {
        lo = fminf(lo, a[k]);
        hi = fmaxf(hi, a[k]);
    }
    const float s = hi > lo ? (hi - lo) / 255.0f : 1.0f, inv = 1.0f / s;
    for (size_t k = 0; k < K; k++) {
        float x = (a[k] - lo) * inv;
        x = fminf(fmaxf(x, 0.0f), 255.0f);
        u[k] = (uint8_t)lrintf(x);
    }
    *sa = s;
    *za = lo;
}

static void ref_quant_weights(const float *W, size_t N, size_t K, int8_t *q, float *sw) {
    for (size_t n = 0; n < N; n++) {
        float mx = 0;
        for (size_t k = 0; k < K; k++) mx = fmaxf(mx, fabsf(W[n * K + k]));
        sw[n] = mx > 0 ? mx / 127.0f : 1.0f;
        for (size_t k = 0; k < K; k++) {
            long v = lroundf(W[n * K + k] / sw[n]);
            q[n * K + k] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    }
}

static double ref_act(double x, int act) {
    if (act == RAG_BERT_ACT_GELU) return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    if (act == RAG_BERT_ACT_RELU) return x > 0 ? x : 0;
    return x;
}

/* ------------------------------------------------------------ selection ---- */
static void test_selection(void **state) {
    (void)state;
    /* main() set RAGC_Q8_KERNEL=scalar before any int8 call: honoured, read once */
    assert_int_equal(rag_bk_q8_kernel_get(), RAG_BK_Q8_SCALAR);
    setenv("RAGC_Q8_KERNEL", "avx2", 1);
    assert_int_equal(rag_bk_q8_kernel_get(), RAG_BK_Q8_SCALAR);
    assert_true(rag_bk_q8_available());
    assert_true(rag_bk_q8_kernel_supported(RAG_BK_Q8_SCALAR));
    rag_bk_q8_kernel k;
    for (int i = 0; i < N_KERNELS; i++) {
        assert_true(rag_bk_q8_kernel_parse(rag_bk_q8_kernel_name(ALL[i]), &k));
        assert_int_equal(k, ALL[i]);
        if (rag_bk_q8_kernel_supported(ALL[i])) {
            assert_true(rag_bk_q8_kernel_set(ALL[i]));
            assert_int_equal(rag_bk_q8_kernel_get(), ALL[i]);
        } else {
            assert_false(rag_bk_q8_kernel_set(ALL[i]));
        }
    }
    assert_false(rag_bk_q8_kernel_parse("AVX512", &k));
    assert_false(rag_bk_q8_kernel_parse("", &k));
    assert_false(rag_bk_q8_kernel_parse(NULL, &k));
    assert_false(rag_bk_q8_kernel_set((rag_bk_q8_kernel)7));
    assert_true(rag_bk_q8_kernel_set(RAG_BK_Q8_SCALAR));
    print_message("int8 kernels on this CPU: scalar%s%s\n",
                  rag_bk_q8_kernel_supported(RAG_BK_Q8_AVX2) ? ", avx2" : "",
                  rag_bk_q8_kernel_supported(RAG_BK_Q8_VNNI) ? ", vnni" : "");
}

/* ------------------------------------------------------------ quantize ---- */
static void test_quantize_rows(void **state) {
    (void)state;
    const size_t Ks[] = {1, 3, 16, 37, 64, 77, 385, 1536};
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
        const size_t K = Ks[ki], M = 7, lda = K + 5, ldq = (K + 3) / 4 * 4 + 8;
        float *A = malloc(M * lda * sizeof *A);
        for (size_t i = 0; i < M * lda; i++) A[i] = (float)(nrand() * 3.0 + 0.5);
        for (size_t k = 0; k < K; k++) A[2 * lda + k] = 1.25f;          /* constant row */
        if (K > 2) A[3 * lda + 1] = 40.0f, A[3 * lda + 2] = -25.0f;       /* wide range */
        for (size_t k = 0; k < K; k++) A[4 * lda + k] = (float)(k % 256); /* on the grid */
        uint8_t *ref = malloc(M * ldq), *got = malloc(M * ldq);
        float rs[7], rz[7], gs[7], gz[7];
        for (size_t m = 0; m < M; m++) ref_quant_row(A + m * lda, K, ref + m * ldq, rs + m, rz + m);
        for (int v = 0; v < N_KERNELS; v++) {
            if (!rag_bk_q8_kernel_set(ALL[v])) continue;
            memset(got, 0xAB, M * ldq);
            rag_bk_q8_quantize_rows(A, lda, M, K, got, ldq, gs, gz);
            for (size_t m = 0; m < M; m++) {
                if (gs[m] != rs[m] || gz[m] != rz[m])
                    fail_msg("%s K=%zu row %zu: scale/offset %g/%g, expected %g/%g",
                             rag_bk_q8_kernel_name(ALL[v]), K, m, gs[m], gz[m], rs[m], rz[m]);
                for (size_t k = 0; k < K; k++)
                    if (got[m * ldq + k] != ref[m * ldq + k])
                        fail_msg("%s K=%zu row %zu col %zu: %u, expected %u",
                                 rag_bk_q8_kernel_name(ALL[v]), K, m, k, got[m * ldq + k],
                                 ref[m * ldq + k]);
                for (size_t k = K; k < (K + 3) / 4 * 4; k++)
                    assert_int_equal(got[m * ldq + k], 0); /* padding of the last group */
                if (K == 1 || m == 2) assert_int_equal(got[m * ldq], 0);
                if (m == 4 && K >= 256) assert_int_equal(got[m * ldq + 255], 255);
            }
        }
        free(A), free(ref), free(got);
    }
}

/* ------------------------------------------------------------ gemm ---- */
typedef struct shape { size_t M, N, K; } shape;

static void test_gemm_variants(void **state) {
    (void)state;
    /* the last K has more than 1024 groups of 4: the AVX2 kernel widens A on the fly */
    const shape shapes[] = {{1, 1, 1}, {5, 33, 3}, {13, 45, 37}, {7, 70, 385}, {9, 100, 130},
                            {17, 64, 64}, {3, 40, 4101}};
    const int acts[] = {RAG_BK_ACT_NONE, RAG_BERT_ACT_GELU, RAG_BERT_ACT_RELU};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const size_t M = shapes[si].M, N = shapes[si].N, K = shapes[si].K;
        const size_t ldq = (K + 3) / 4 * 4 + 4, ldc = N + 3;
        float *A = malloc(M * K * sizeof *A), *W = malloc(N * K * sizeof *W),
              *bias = malloc(N * sizeof *bias), *C0 = malloc((M + 1) * ldc * sizeof *C0),
              *C = malloc((M + 1) * ldc * sizeof *C), *Cfirst = malloc((M + 1) * ldc * sizeof *C);
        for (size_t i = 0; i < M * K; i++) A[i] = (float)(nrand() + 0.2);
        for (size_t i = 0; i < N * K; i++) W[i] = (float)(nrand() * 0.05);
        for (size_t i = 0; i < N; i++) bias[i] = (float)nrand();
        for (size_t i = 0; i < (M + 1) * ldc; i++) C0[i] = (float)nrand();
        if (N > 3) for (size_t k = 0; k < K; k++) W[2 * K + k] = 0.0f; /* an all-zero row */
        int8_t *q = malloc(N * K);
        float *sw = malloc(N * sizeof *sw), sa[17], za[17];
        uint8_t *u = calloc(M, ldq);
        ref_quant_weights(W, N, K, q, sw);
        for (size_t m = 0; m < M; m++) ref_quant_row(A + m * K, K, u + m * ldq, sa + m, za + m);
        rag_bk_q8w pw;
        assert_true(rag_bk_q8w_pack(W, N, K, &pw));
        for (size_t n = 0; n < N; n++) assert_true(pw.scale[n] == sw[n]);
        /* exact integer products and their dequantization terms, in double */
        double *dot = malloc(M * N * sizeof *dot), *mag = malloc(M * N * sizeof *mag);
        for (size_t m = 0; m < M; m++)
            for (size_t n = 0; n < N; n++) {
                int64_t acc = 0, ws = 0;
                for (size_t k = 0; k < K; k++) {
                    acc += (int64_t)u[m * ldq + k] * q[n * K + k];
                    ws += q[n * K + k];
                }
                dot[m * N + n] = (double)sw[n] * ((double)sa[m] * (double)acc + (double)za[m] * (double)ws);
                mag[m * N + n] = (double)sw[n] * (fabs((double)sa[m] * (double)acc) +
                                                  fabs((double)za[m] * (double)ws));
            }
        const size_t n0s[] = {0, 32};
        for (size_t ni = 0; ni < 2; ni++) {
            const size_t n0 = n0s[ni];
            if (n0 >= N) continue;
            const size_t n1 = ni == 0 ? N : (N + n0 + 1) / 2 > n0 ? (N + n0 + 1) / 2 : N;
            for (int beta = 0; beta <= 1; beta++)
                for (int ai = -1; ai < 3; ai++) { /* -1: no bias */
                    const int act = ai < 0 ? 0 : acts[ai];
                    const float *b = ai < 0 ? NULL : bias;
                    bool have_first = false;
                    for (int v = 0; v < N_KERNELS; v++) {
                        if (!rag_bk_q8_kernel_set(ALL[v])) continue;
                        memcpy(C, C0, (M + 1) * ldc * sizeof *C);
                        rag_bk_q8_gemm(u, ldq, sa, za, M, &pw, n0, n1, C, ldc, (float)beta, b,
                                       act);
                        for (size_t m = 0; m <= M; m++)
                            for (size_t n = 0; n < ldc; n++) {
                                const float got = C[m * ldc + n], c0 = C0[m * ldc + n];
                                if (m == M || n < n0 || n >= n1) {
                                    if (memcmp(&got, &c0, sizeof got))
                                        fail_msg("%s M=%zu N=%zu K=%zu: wrote (%zu, %zu) outside "
                                                 "[0, %zu) x [%zu, %zu)",
                                                 rag_bk_q8_kernel_name(ALL[v]), M, N, K, m, n, M,
                                                 n0, n1);
                                    continue;
                                }
                                double x = dot[m * N + n] + (beta ? c0 : 0.0);
                                double tol = 1e-6 * (mag[m * N + n] + fabs(c0)) + 1e-7;
                                if (b) {
                                    x += b[n];
                                    tol += 1e-6 * fabs(b[n]);
                                    if (act == RAG_BERT_ACT_GELU) tol += 1e-6 * fabs(x) + 1e-6;
                                    x = ref_act(x, act);
                                }
                                if (!(fabs(got - x) <= tol))
                                    fail_msg("%s M=%zu N=%zu K=%zu n0=%zu beta=%d act=%d (%zu, "
                                             "%zu): %.9g, reference %.9g (tolerance %.3g)",
                                             rag_bk_q8_kernel_name(ALL[v]), M, N, K, n0, beta,
                                             ai, m, n, got, x, tol);
                            }
                        if (act == RAG_BERT_ACT_GELU && b) continue; /* GELU may differ in bits */
                        if (!have_first) {
                            memcpy(Cfirst, C, (M + 1) * ldc * sizeof *C);
                            have_first = true;
                        } else if (memcmp(Cfirst, C, (M + 1) * ldc * sizeof *C) != 0) {
                            fail_msg("%s M=%zu N=%zu K=%zu beta=%d act=%d: not bit-identical to "
                                     "the scalar kernel", rag_bk_q8_kernel_name(ALL[v]), M, N, K,
                                     beta, ai);
                        }
                    }
                }
        }
        rag_bk_q8w_free(&pw);
        free(A), free(W), free(bias), free(C0), free(C), free(Cfirst), free(q), free(sw), free(u);
        free(dot), free(mag);
    }
}

/* ------------------------------------------------------------ bf16 attention ---- */
/* rag_bk_attention_bf16 (the int8 path's attention) against softmax(scale q k^T) v in double:
 * head sizes 32 and 64, lengths odd and not multiples of 4, 16 or 32, masked keys, every key
 * masked (uniform), output written over q. Error bounds from bf16 rounding (2^-9 relative on
 * q, k, v and the probabilities): rms <= 1e-2 and max <= 5e-2 of the output's rms. */
static void test_attention_bf16(void **state) {
    (void)state;
    if (!rag_bk_attention_bf16_available(32)) {
        print_message("no AVX512-BF16 here: the int8 path uses fp32 attention\n");
        skip();
    }
    assert_false(rag_bk_attention_bf16_available(48));
    const size_t lens[] = {1, 2, 5, 31, 33, 70, 128}, dhs[] = {32, 64};
    for (size_t a = 0; a < sizeof lens / sizeof lens[0]; a++)
        for (size_t b = 0; b < 2; b++) {
            const size_t L = lens[a], dh = dhs[b], ld = 3 * dh + 5, lp = RAG_BK_ATT_LP(L);
            float *buf = malloc(L * ld * sizeof *buf), *S = malloc(L * lp * sizeof *S),
                  *kt = malloc(dh * lp * sizeof *kt), *out = malloc(L * ld * sizeof *out);
            int32_t *mask = malloc(L * sizeof *mask);
            double *ref = malloc(L * dh * sizeof *ref), *p = malloc(L * sizeof *p);
            for (size_t i = 0; i < L * ld; i++) buf[i] = (float)nrand();
            const float scale = 2.0f / sqrtf((float)dh); /* logits of std 2 */
            for (int variant = 0; variant < 3; variant++) {
                for (size_t j = 0; j < L; j++)
                    mask[j] = variant == 0 ? 1 : variant == 1 ? (j % 3 != 1 || L == 1) : 0;
                memcpy(out, buf, L * ld * sizeof *out);
                rag_bk_attention_bf16(out, out + dh, out + 2 * dh, ld, L, dh, scale,
                                      variant ? mask : NULL, S, kt, out, ld);
                double se = 0, sr = 0, worst = 0;
                for (size_t i = 0; i < L; i++) {
                    double mx = -INFINITY, sum = 0;
                    for (size_t j = 0; j < L; j++) {
                        double d = 0;
                        for (size_t c = 0; c < dh; c++)
                            d += (double)buf[i * ld + c] * buf[j * ld + dh + c];
                        p[j] = variant == 2 ? 0.0 : (variant == 0 || mask[j]) ? scale * d : -INFINITY;
                        mx = fmax(mx, p[j]);
                    }
                    for (size_t j = 0; j < L; j++) sum += (p[j] = exp(p[j] - mx));
                    for (size_t c = 0; c < dh; c++) {
                        double r = 0;
                        for (size_t j = 0; j < L; j++) r += p[j] / sum * buf[j * ld + 2 * dh + c];
                        ref[i * dh + c] = r;
                        se += (out[i * ld + c] - r) * (out[i * ld + c] - r);
                        sr += r * r;
                    }
                }
                const double rms = sqrt(sr / (double)(L * dh));
                for (size_t i = 0; i < L * dh; i++)
                    worst = fmax(worst, fabs(out[i / dh * ld + i % dh] - ref[i]));
                if (!(sqrt(se / (double)(L * dh)) <= 1e-2 * rms) || !(worst <= 5e-2 * rms))
                    fail_msg("L=%zu dh=%zu variant %d: rms error %.3g, max %.3g, output rms %.3g",
                             L, dh, variant, sqrt(se / (double)(L * dh)), worst, rms);
            }
            free(buf), free(S), free(kt), free(out), free(mask), free(ref), free(p);
        }
}

/* ------------------------------------------------------------ MiniLM-shaped model ---- */
enum { H = 384, HEADS = 12, LAYERS = 6, FF = 1536, VOCAB = 1000, MAXPOS = 512 };

static char g_dir[256];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

typedef struct tdesc { char name[96]; size_t d0, d1; int kind; } tdesc; /* kind: make_model's */

/* Writes config.json and model.safetensors (F32) of a random BERT with MiniLM-L6's shapes:
 * LayerNorm weights 1 + 0.05 N(0, 1), biases (incl. LayerNorm) 0.02 N(0, 1), every other
 * tensor 0.02 N(0, 1), as tests/reference/make_model.py. */
static int write_model(const char *dir) {
    static tdesc t[8 + 16 * LAYERS];
    size_t n = 0;
#define ADD(nm, a, b, k) (snprintf(t[n].name, sizeof t[n].name, "%s", nm), t[n].d0 = a, t[n].d1 = b, t[n].kind = k, n++)
    ADD("embeddings.word_embeddings.weight", VOCAB, H, 0);
    ADD("embeddings.position_embeddings.weight", MAXPOS, H, 0);
    ADD("embeddings.token_type_embeddings.weight", 2, H, 0);
    ADD("embeddings.LayerNorm.weight", H, 0, 1);
    ADD("embeddings.LayerNorm.bias", H, 0, 2);
    static const struct { const char *s; size_t d0, d1; int kind; } per[] = {
        {"attention.self.query.weight", H, H, 0}, {"attention.self.query.bias", H, 0, 2},
        {"attention.self.key.weight", H, H, 0}, {"attention.self.key.bias", H, 0, 2},
        {"attention.self.value.weight", H, H, 0}, {"attention.self.value.bias", H, 0, 2},
        {"attention.output.dense.weight", H, H, 0}, {"attention.output.dense.bias", H, 0, 2},
        {"attention.output.LayerNorm.weight", H, 0, 1}, {"attention.output.LayerNorm.bias", H, 0, 2},
        {"intermediate.dense.weight", FF, H, 0}, {"intermediate.dense.bias", FF, 0, 2},
        {"output.dense.weight", H, FF, 0}, {"output.dense.bias", H, 0, 2},
        {"output.LayerNorm.weight", H, 0, 1}, {"output.LayerNorm.bias", H, 0, 2}};
    for (int l = 0; l < LAYERS; l++)
        for (size_t i = 0; i < sizeof per / sizeof per[0]; i++) {
            char nm[96];
            snprintf(nm, sizeof nm, "encoder.layer.%d.%s", l, per[i].s);
            ADD(nm, per[i].d0, per[i].d1, per[i].kind);
        }
#undef ADD
    char *hdr = malloc(1 << 16), path[512];
    size_t hl = 0, off = 0;
    hl += (size_t)sprintf(hdr, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < n; i++) {
        size_t cnt = t[i].d0 * (t[i].d1 ? t[i].d1 : 1);
        if (t[i].d1)
            hl += (size_t)sprintf(hdr + hl, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu,%zu],"
                                  "\"data_offsets\":[%zu,%zu]}", t[i].name, t[i].d0, t[i].d1, off,
                                  off + 4 * cnt);
        else
            hl += (size_t)sprintf(hdr + hl, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu],"
                                  "\"data_offsets\":[%zu,%zu]}", t[i].name, t[i].d0, off,
                                  off + 4 * cnt);
        off += 4 * cnt;
    }
    hdr[hl++] = '}';
    while (hl % 8) hdr[hl++] = ' ';
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    if (!f) { free(hdr); return -1; }
    uint64_t h64 = hl;
    fwrite(&h64, 8, 1, f);
    fwrite(hdr, 1, hl, f);
    free(hdr);
    float *buf = malloc((size_t)FF * H * sizeof *buf);
    for (size_t i = 0; i < n; i++) {
        size_t cnt = t[i].d0 * (t[i].d1 ? t[i].d1 : 1);
        for (size_t j = 0; j < cnt; j++)
            buf[j] = (float)(t[i].kind == 1 ? 1.0 + 0.05 * nrand() : 0.02 * nrand());
        fwrite(buf, sizeof *buf, cnt, f);
    }
    free(buf);
    if (fclose(f) != 0) return -1;
    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"model_type\": \"bert\", \"hidden_size\": %d, \"num_hidden_layers\": %d, "
               "\"num_attention_heads\": %d, \"intermediate_size\": %d, "
               "\"max_position_embeddings\": %d, \"type_vocab_size\": 2, \"vocab_size\": %d, "
               "\"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"}\n",
            H, LAYERS, HEADS, FF, MAXPOS, VOCAB);
    return fclose(f) == 0 ? 0 : -1;
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/ragc-q8-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    return write_model(g_dir);
}

static int teardown(void **state) {
    (void)state;
    if (g_dir[0]) nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

enum { NSEQ = 4 };
static const size_t LENS[NSEQ] = {5, 37, 128, 77};

/* Mean-pooled, L2-normalized embeddings (NSEQ x H) of the test batch. */
static void embed(rag_bert_precision prec, int threads, rag_bert_threading mode, const int32_t *ids,
                  const size_t *off, float *out) {
    rag_bert_params p = rag_bert_default_params();
    p.threads = threads;
    p.threading = mode;
    p.precision = prec;
    rag_bert_t *m = NULL;
    rag_err err = {0};
    if (rag_bert_load(g_dir, p, &m, &err) != RAG_OK) fail_msg("load: %s", err.msg);
    rag_bert_batch b = {.ids = ids, .offsets = off, .n_seq = NSEQ};
    const float *hid;
    if (rag_bert_forward(m, &b, &hid, &err) != RAG_OK) fail_msg("forward: %s", err.msg);
    for (size_t s = 0; s < NSEQ; s++) {
        double e[H], nn = 0;
        for (size_t k = 0; k < H; k++) {
            double sum = 0;
            for (size_t r = off[s]; r < off[s + 1]; r++) sum += hid[r * H + k];
            e[k] = sum / (double)(off[s + 1] - off[s]);
            nn += e[k] * e[k];
        }
        for (size_t k = 0; k < H; k++) out[s * H + k] = (float)(e[k] / sqrt(nn));
    }
    rag_bert_free(m);
}

static void test_embeddings_variants(void **state) {
    (void)state;
    size_t off[NSEQ + 1] = {0};
    for (size_t s = 0; s < NSEQ; s++) off[s + 1] = off[s] + LENS[s];
    int32_t *ids = malloc(off[NSEQ] * sizeof *ids);
    for (size_t r = 0; r < off[NSEQ]; r++) ids[r] = (int32_t)(1 + urand() * (VOCAB - 1));
    float *ref = malloc(NSEQ * H * sizeof *ref), *got = malloc(NSEQ * H * sizeof *got),
          *got2 = malloc(NSEQ * H * sizeof *got2);
    embed(RAG_BERT_PRECISION_F32, 1, RAG_BERT_THREADING_AUTO, ids, off, ref);
    for (int v = 0; v < N_KERNELS; v++) {
        if (!rag_bk_q8_kernel_set(ALL[v])) continue;
        embed(RAG_BERT_PRECISION_INT8, 1, RAG_BERT_THREADING_AUTO, ids, off, got);
        for (size_t s = 0; s < NSEQ; s++) {
            double c = 0;
            for (size_t k = 0; k < H; k++) c += (double)got[s * H + k] * ref[s * H + k];
            print_message("int8 %s: sequence of %zu tokens, cosine to fp32 %.6f\n",
                          rag_bk_q8_kernel_name(ALL[v]), LENS[s], c);
            if (!(c >= 0.999))
                fail_msg("int8 %s: sequence %zu cosine %f < 0.999", rag_bk_q8_kernel_name(ALL[v]),
                         s, c);
        }
        /* threads share each op (column blocks, row blocks) on 2 threads: the same bits */
        embed(RAG_BERT_PRECISION_INT8, 2, RAG_BERT_THREADING_SPLIT, ids, off, got2);
        if (memcmp(got, got2, NSEQ * H * sizeof *got) != 0)
            fail_msg("int8 %s: 2 threads (split) differ from 1 thread",
                     rag_bk_q8_kernel_name(ALL[v]));
        embed(RAG_BERT_PRECISION_INT8, 2, RAG_BERT_THREADING_SEQ, ids, off, got2);
        if (memcmp(got, got2, NSEQ * H * sizeof *got) != 0)
            fail_msg("int8 %s: 2 threads (seq) differ from 1 thread",
                     rag_bk_q8_kernel_name(ALL[v]));
    }
    free(ids), free(ref), free(got), free(got2);
}

int main(void) {
    setenv("RAGC_Q8_KERNEL", "scalar", 1); /* before any int8 call: see test_selection */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_quantize_rows),
        cmocka_unit_test(test_gemm_variants),
        cmocka_unit_test(test_attention_bf16),
        cmocka_unit_test(test_embeddings_variants),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
