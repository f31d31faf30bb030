/* Unit tests of the C BERT encoder (src/local/bert.c, bert_kernels.c, st_pipeline.c) on a tiny
 * random-weight model written by the test, checked against an independent double-precision
 * reference forward pass written here from the BERT definition. Dimensions are deliberately not
 * multiples of the vector width (H = 36, 4 heads of 9, I = 70) so every tail path runs.
 * The PyTorch comparison at MiniLM shape is test_local_encoder_torch.c. */
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
#include "ragc/tokenizer.h"

/* ---------------------------------------------------------------- tiny model ---- */
enum { H = 36, HEADS = 4, LAYERS = 2, FF = 70, MAXPOS = 48, TYPES = 2, MAXT = 64 };

typedef struct tensor {
    char name[96];
    size_t shape[2], nd;
    float *v;
} tensor;

typedef struct tiny {
    size_t vocab;
    tensor t[128];
    size_t n;
    bool with_head;
    const char *prefix; /* "" or "bert." */
} tiny;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float urand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) & 0xFFFFFF) / (float)(1 << 23) - 1.0f;
}
/* Values k / 256 with |k| <= 63, exactly representable in F16 and BF16. */
static float qrand(float scale) { return roundf(urand() * 63.0f * scale) / 256.0f; }

static float *add_t(tiny *m, const char *name, size_t d0, size_t d1, float center, float scale) {
    tensor *t = &m->t[m->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->nd = d1 ? 2 : 1;
    size_t n = d0 * (d1 ? d1 : 1);
    t->v = malloc(n * sizeof(float));
    /* around 1.0, steps of 1/128 keep the values exact in BF16's 8 significant bits */
    for (size_t i = 0; i < n; i++)
        t->v[i] = center != 0.0f ? center + roundf(qrand(scale) * 128.0f) / 128.0f : qrand(scale);
    return t->v;
}

static const float *get_t(const tiny *m, const char *name) {
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, name)) return m->t[i].v;
    fail_msg("tensor %s missing", name);
    return NULL;
}

static void tiny_make(tiny *m, size_t vocab, bool with_head) {
    memset(m, 0, sizeof *m);
    m->vocab = vocab;
    m->with_head = with_head;
    add_t(m, "embeddings.word_embeddings.weight", vocab, H, 0, 1.0f);
    add_t(m, "embeddings.position_embeddings.weight", MAXPOS, H, 0, 0.5f);
    add_t(m, "embeddings.token_type_embeddings.weight", TYPES, H, 0, 0.5f);
    add_t(m, "embeddings.LayerNorm.weight", H, 0, 1.0f, 0.3f);
    add_t(m, "embeddings.LayerNorm.bias", H, 0, 0, 0.3f);
    char n[96];
    for (int l = 0; l < LAYERS; l++) {
#define T(suffix, d0, d1, c, s) (snprintf(n, sizeof n, "encoder.layer.%d.%s", l, suffix), add_t(m, n, d0, d1, c, s))
        T("attention.self.query.weight", H, H, 0, 1.0f);
        T("attention.self.query.bias", H, 0, 0, 0.5f);
        T("attention.self.key.weight", H, H, 0, 1.0f);
        T("attention.self.key.bias", H, 0, 0, 0.5f);
        T("attention.self.value.weight", H, H, 0, 1.0f);
        T("attention.self.value.bias", H, 0, 0, 0.5f);
        T("attention.output.dense.weight", H, H, 0, 1.0f);
        T("attention.output.dense.bias", H, 0, 0, 0.5f);
        T("attention.output.LayerNorm.weight", H, 0, 1.0f, 0.3f);
        T("attention.output.LayerNorm.bias", H, 0, 0, 0.3f);
        T("intermediate.dense.weight", FF, H, 0, 1.0f);
        T("intermediate.dense.bias", FF, 0, 0, 0.5f);
        T("output.dense.weight", H, FF, 0, 1.0f);
        T("output.dense.bias", H, 0, 0, 0.5f);
        T("output.LayerNorm.weight", H, 0, 1.0f, 0.3f);
        T("output.LayerNorm.bias", H, 0, 0, 0.3f);
#undef T
    }
    if (with_head) {
        add_t(m, "pooler.dense.weight", H, H, 0, 1.0f);
        add_t(m, "pooler.dense.bias", H, 0, 0, 0.5f);
        add_t(m, "classifier.weight", 2, H, 0, 4.0f);
        add_t(m, "classifier.bias", 2, 0, 0, 1.0f);
    }
}

static void tiny_free(tiny *m) {
    for (size_t i = 0; i < m->n; i++) free(m->t[i].v);
}

static uint16_t to_f16(float f) { /* exact for the test's values (normal or zero) */
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    if ((u & 0x7fffffff) == 0) return sign;
    int e = (int)((u >> 23) & 0xff) - 127 + 15;
    return (uint16_t)(sign | (uint16_t)(e << 10) | (uint16_t)((u >> 13) & 0x3ff));
}

/* Writes dir/model.safetensors in dtype "F32", "F16" or "BF16"; skip names a tensor to leave out;
 * bad_shape names one written with a wrong first dimension. */
static void write_st(const tiny *m, const char *dir, const char *dtype, const char *skip,
                     const char *bad_shape) {
    size_t es = strcmp(dtype, "F32") ? 2 : 4;
    char *hdr = malloc(65536);
    size_t hl = 0, off = 0;
    hl += (size_t)sprintf(hdr + hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < m->n; i++) {
        const tensor *t = &m->t[i];
        if (skip && !strcmp(skip, t->name)) continue;
        size_t d0 = t->shape[0] + (bad_shape && !strcmp(bad_shape, t->name) ? 1 : 0);
        size_t n = d0 * (t->nd == 2 ? t->shape[1] : 1);
        if (t->nd == 2)
            hl += (size_t)sprintf(hdr + hl, ",\"%s%s\":{\"dtype\":\"%s\",\"shape\":[%zu,%zu],"
                                  "\"data_offsets\":[%zu,%zu]}", strncmp(t->name, "classifier", 10)
                                  ? m->prefix ? m->prefix : "" : "", t->name, dtype, d0,
                                  t->shape[1], off, off + n * es);
        else
            hl += (size_t)sprintf(hdr + hl, ",\"%s%s\":{\"dtype\":\"%s\",\"shape\":[%zu],"
                                  "\"data_offsets\":[%zu,%zu]}", strncmp(t->name, "classifier", 10)
                                  ? m->prefix ? m->prefix : "" : "", t->name, dtype, d0, off,
                                  off + n * es);
        off += n * es;
    }
    hl += (size_t)sprintf(hdr + hl, "}");
    while (hl % 8) hdr[hl++] = ' ';
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t n64 = hl;
    fwrite(&n64, 8, 1, f);
    fwrite(hdr, 1, hl, f);
    for (size_t i = 0; i < m->n; i++) {
        const tensor *t = &m->t[i];
        if (skip && !strcmp(skip, t->name)) continue;
        size_t n = t->shape[0] * (t->nd == 2 ? t->shape[1] : 1);
        size_t extra = bad_shape && !strcmp(bad_shape, t->name) ? (t->nd == 2 ? t->shape[1] : 1) : 0;
        for (size_t k = 0; k < n + extra; k++) {
            float v = k < n ? t->v[k] : 0.0f;
            if (es == 4) fwrite(&v, 4, 1, f);
            else {
                uint32_t u;
                memcpy(&u, &v, 4);
                uint16_t h = strcmp(dtype, "BF16") ? to_f16(v) : (uint16_t)(u >> 16);
                fwrite(&h, 2, 1, f);
            }
        }
    }
    fclose(f);
    free(hdr);
}

static void write_file(const char *dir, const char *rel, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    if (slash && strchr(rel, '/')) {
        *slash = 0;
        mkdir(path, 0755);
        *slash = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void write_config(const char *dir, size_t vocab, const char *extra) {
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"model_type\": \"bert\", \"hidden_size\": %d, \"num_hidden_layers\": %d, "
             "\"num_attention_heads\": %d, \"intermediate_size\": %d, "
             "\"max_position_embeddings\": %d, \"type_vocab_size\": %d, \"vocab_size\": %zu, "
             "\"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"%s}",
             H, LAYERS, HEADS, FF, MAXPOS, TYPES, vocab, extra ? extra : "");
    write_file(dir, "config.json", cfg);
}

static char *source_path(const char *rel) {
    const char *src = getenv("RAGC_SOURCE_DIR");
    char *p = malloc(1024);
    snprintf(p, 1024, "%s/%s", src ? src : ".", rel);
    return p;
}

static size_t copy_vocab(const char *dir) {
    char *src = source_path("tests/fixtures/local/encoder/vocab.txt");
    FILE *in = fopen(src, "r");
    assert_non_null(in);
    char out_path[512], line[128];
    snprintf(out_path, sizeof out_path, "%s/vocab.txt", dir);
    FILE *out = fopen(out_path, "w");
    size_t n = 0;
    while (fgets(line, sizeof line, in)) { fputs(line, out); n++; }
    fclose(in);
    fclose(out);
    free(src);
    return n;
}

/* A complete sentence-transformers directory: config, weights, cased tokenizer, mean pooling
 * and Normalize unless overridden by the caller afterwards. */
typedef struct fixture {
    char dir[256];
    tiny m;
} fixture;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void fixture_make(fixture *fx, bool with_head) {
    snprintf(fx->dir, sizeof fx->dir, "/tmp/ragc-enc-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    size_t vocab = copy_vocab(fx->dir);
    write_file(fx->dir, "tokenizer_config.json", "{\"do_lower_case\": false}");
    tiny_make(&fx->m, vocab, with_head);
    write_config(fx->dir, vocab, NULL);
    write_st(&fx->m, fx->dir, "F32", NULL, NULL);
    write_file(fx->dir, "modules.json",
               "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
               "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
               "{\"idx\":2,\"name\":\"2\",\"path\":\"2_Normalize\",\"type\":\"sentence_transformers.models.Normalize\"}]");
    char pool[256];
    snprintf(pool, sizeof pool, "{\"word_embedding_dimension\": %d, \"pooling_mode_mean_tokens\": true}", H);
    write_file(fx->dir, "1_Pooling/config.json", pool);
    write_file(fx->dir, "sentence_bert_config.json", "{\"max_seq_length\": 40, \"do_lower_case\": false}");
}

static void fixture_free(fixture *fx) {
    nftw(fx->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    tiny_free(&fx->m);
}

/* ---------------------------------------------------------------- reference ---- */
static void ref_ln(double *x, const float *w, const float *b) {
    double mean = 0, var = 0;
    for (int k = 0; k < H; k++) mean += x[k];
    mean /= H;
    for (int k = 0; k < H; k++) var += (x[k] - mean) * (x[k] - mean);
    var /= H;
    for (int k = 0; k < H; k++) x[k] = (x[k] - mean) / sqrt(var + 1e-12) * w[k] + b[k];
}

/* out (L, H) = y W^T + b for y (L, K), W (N, K). */
static void ref_linear(const double *y, size_t L, size_t K, const float *W, const float *b, size_t N,
                       double *out) {
    for (size_t i = 0; i < L; i++)
        for (size_t n = 0; n < N; n++) {
            double s = b[n];
            for (size_t k = 0; k < K; k++) s += y[i * K + k] * W[n * K + k];
            out[i * N + n] = s;
        }
}

/* Last hidden states (L, H) of one sequence (BERT definition, double precision). */
static void ref_forward(const tiny *m, const int32_t *ids, const int32_t *tt, const int32_t *mask,
                        size_t L, double *x) {
    const float *we = get_t(m, "embeddings.word_embeddings.weight"),
                *pe = get_t(m, "embeddings.position_embeddings.weight"),
                *te = get_t(m, "embeddings.token_type_embeddings.weight");
    for (size_t i = 0; i < L; i++) {
        for (int k = 0; k < H; k++)
            x[i * H + k] = (double)we[ids[i] * H + k] + pe[i * H + k] + te[(tt ? tt[i] : 0) * H + k];
        ref_ln(x + i * H, get_t(m, "embeddings.LayerNorm.weight"), get_t(m, "embeddings.LayerNorm.bias"));
    }
    double *q = malloc(L * H * sizeof *q), *kk = malloc(L * H * sizeof *kk),
           *v = malloc(L * H * sizeof *v), *ctx = malloc(L * H * sizeof *ctx),
           *o = malloc(L * H * sizeof *o), *f = malloc(L * FF * sizeof *f), p[MAXT];
    char n[96];
#define W(s) (snprintf(n, sizeof n, "encoder.layer.%d.%s", l, s), get_t(m, n))
    for (int l = 0; l < LAYERS; l++) {
        ref_linear(x, L, H, W("attention.self.query.weight"), W("attention.self.query.bias"), H, q);
        ref_linear(x, L, H, W("attention.self.key.weight"), W("attention.self.key.bias"), H, kk);
        ref_linear(x, L, H, W("attention.self.value.weight"), W("attention.self.value.bias"), H, v);
        const int dh = H / HEADS;
        for (int h = 0; h < HEADS; h++)
            for (size_t i = 0; i < L; i++) {
                double mx = -INFINITY, sum = 0;
                for (size_t j = 0; j < L; j++) {
                    double s = 0;
                    for (int d = 0; d < dh; d++) s += q[i * H + h * dh + d] * kk[j * H + h * dh + d];
                    p[j] = s / sqrt((double)dh) + ((!mask || mask[j]) ? 0.0 : -3.4028234663852886e38);
                    if (p[j] > mx) mx = p[j];
                }
                for (size_t j = 0; j < L; j++) sum += (p[j] = exp(p[j] - mx));
                for (int d = 0; d < dh; d++) {
                    double s = 0;
                    for (size_t j = 0; j < L; j++) s += p[j] / sum * v[j * H + h * dh + d];
                    ctx[i * H + h * dh + d] = s;
                }
            }
        ref_linear(ctx, L, H, W("attention.output.dense.weight"), W("attention.output.dense.bias"), H, o);
        for (size_t i = 0; i < L; i++) {
            for (int k = 0; k < H; k++) x[i * H + k] += o[i * H + k];
            ref_ln(x + i * H, W("attention.output.LayerNorm.weight"), W("attention.output.LayerNorm.bias"));
        }
        ref_linear(x, L, H, W("intermediate.dense.weight"), W("intermediate.dense.bias"), FF, f);
        for (size_t i = 0; i < L * FF; i++) f[i] = 0.5 * f[i] * (1.0 + erf(f[i] / sqrt(2.0)));
        ref_linear(f, L, FF, W("output.dense.weight"), W("output.dense.bias"), H, o);
        for (size_t i = 0; i < L; i++) {
            for (int k = 0; k < H; k++) x[i * H + k] += o[i * H + k];
            ref_ln(x + i * H, W("output.LayerNorm.weight"), W("output.LayerNorm.bias"));
        }
    }
#undef W
    free(q), free(kk), free(v), free(ctx), free(o), free(f);
}

static void ref_mean_norm(const double *x, const int32_t *mask, size_t L, double *e) {
    double cnt = 0, ss = 0;
    for (int k = 0; k < H; k++) e[k] = 0;
    for (size_t i = 0; i < L; i++)
        if (!mask || mask[i]) {
            cnt++;
            for (int k = 0; k < H; k++) e[k] += x[i * H + k];
        }
    for (int k = 0; k < H; k++) {
        e[k] /= cnt;
        ss += e[k] * e[k];
    }
    for (int k = 0; k < H; k++) e[k] /= sqrt(ss);
}

static void ref_logits(const tiny *m, const double *cls, double out[2]) {
    double pooled[H];
    const float *pw = get_t(m, "pooler.dense.weight"), *pb = get_t(m, "pooler.dense.bias"),
                *cw = get_t(m, "classifier.weight"), *cb = get_t(m, "classifier.bias");
    for (int n = 0; n < H; n++) {
        double s = pb[n];
        for (int k = 0; k < H; k++) s += cls[k] * pw[n * H + k];
        pooled[n] = tanh(s);
    }
    for (int n = 0; n < 2; n++) {
        double s = cb[n];
        for (int k = 0; k < H; k++) s += pooled[k] * cw[n * H + k];
        out[n] = s;
    }
}

/* ---------------------------------------------------------------- helpers ---- */
static void rand_ids(int32_t *ids, size_t L, size_t vocab) {
    for (size_t i = 0; i < L; i++) ids[i] = 5 + (int32_t)((urand() + 1.0f) * 0.5f * (float)(vocab - 6));
    ids[0] = 2;
    ids[L - 1] = 3;
}

static double max_diff_f_d(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static rag_bert_t *load_bert(const char *dir, int threads, rag_bert_threading mode) {
    rag_bert_params p = rag_bert_default_params();
    p.threads = threads;
    p.threading = mode;
    rag_bert_t *b = NULL;
    rag_err err = {0};
    rag_status st = rag_bert_load(dir, p, &b, &err);
    if (st != RAG_OK) fail_msg("rag_bert_load(%s): %s", dir, err.msg);
    return b;
}

/* ---------------------------------------------------------------- tests ---- */

/* Padded batch of mixed lengths through every threading mode and thread count, with the small-M
 * kernel on and off: hidden states match the reference on the valid rows, padding rows are 0. */
static void test_forward_matches_reference(void **state) {
    (void)state;
    fixture fx;
    fixture_make(&fx, false);
    const size_t lens[] = {3, 17, 31, 1, 40, 9}, B = 6, T = 40;
    int32_t *ids = calloc(B * T, 4), *mask = calloc(B * T, 4), *tt = calloc(B * T, 4);
    double *ref = malloc(B * T * H * sizeof *ref);
    for (size_t b = 0; b < B; b++) {
        rand_ids(ids + b * T, lens[b], fx.m.vocab);
        for (size_t i = 0; i < lens[b]; i++) {
            mask[b * T + i] = 1;
            tt[b * T + i] = i > lens[b] / 2;
        }
        ref_forward(&fx.m, ids + b * T, tt + b * T, NULL, lens[b], ref + b * T * H);
    }
    float *out = malloc(B * T * H * sizeof *out);
    const int small[] = {-1, 256}; /* OpenBLAS only; the in-place kernel for every gemm */
    for (int s = 0; s < 2; s++) {
        for (int threads = 1; threads <= 3; threads++)
            for (int mode = 0; mode <= 3; mode++) {
                rag_bert_params p = rag_bert_default_params();
                p.threads = threads;
                p.threading = (rag_bert_threading)mode;
                p.small_gemm_rows = small[s];
                rag_bert_t *m = NULL;
                rag_err lerr = {0};
                if (rag_bert_load(fx.dir, p, &m, &lerr) != RAG_OK) fail_msg("load: %s", lerr.msg);
                rag_err err = {0};
                memset(out, 0x7f, B * T * H * sizeof *out);
                assert_int_equal(rag_bert_forward_ids(m, ids, tt, mask, B, T, out, &err), RAG_OK);
                for (size_t b = 0; b < B; b++) {
                    double d = max_diff_f_d(out + b * T * H, ref + b * T * H, lens[b] * H);
                    if (d > 1e-4)
                        fail_msg("small_m=%d threads=%d mode=%d seq %zu (len %zu): max err %g",
                                 small[s], threads, mode, b, lens[b], d);
                    for (size_t i = lens[b] * H; i < T * H; i++)
                        assert_true(out[b * T * H + i] == 0.0f);
                }
                rag_bert_free(m);
            }
    }
    free(ids), free(mask), free(tt), free(ref), free(out);
    fixture_free(&fx);
}

/* Masked keys inside the valid range (left padding) are excluded like HF's additive mask. */
static void test_mask_holes(void **state) {
    (void)state;
    fixture fx;
    fixture_make(&fx, false);
    const size_t L = 12;
    int32_t ids[12], mask[12];
    rand_ids(ids, L, fx.m.vocab);
    for (size_t i = 0; i < L; i++) mask[i] = !(i == 0 || i == 1 || i == 7);
    double ref[12 * H], ref_nomask[12 * H];
    ref_forward(&fx.m, ids, NULL, mask, L, ref);
    ref_forward(&fx.m, ids, NULL, NULL, L, ref_nomask);
    rag_bert_t *m = load_bert(fx.dir, 2, RAG_BERT_THREADING_AUTO);
    float out[12 * H];
    rag_err err = {0};
    assert_int_equal(rag_bert_forward_ids(m, ids, NULL, mask, 1, L, out, &err), RAG_OK);
    assert_true(max_diff_f_d(out, ref, L * H) < 1e-4);
    assert_true(max_diff_f_d(out, ref_nomask, L * H) > 1e-3); /* the mask mattered */
    rag_bert_free(m);
    fixture_free(&fx);
}

/* F16 and BF16 checkpoints convert to the same model (the test's values are exact in both),
 * and a "bert." prefix is accepted. */
static void test_dtypes_and_prefix(void **state) {
    (void)state;
    fixture fx;
    fixture_make(&fx, false);
    const size_t L = 10;
    int32_t ids[10];
    rand_ids(ids, L, fx.m.vocab);
    size_t off[2] = {0, L};
    rag_bert_batch b = {.ids = ids, .offsets = off, .n_seq = 1};
    double ref[10 * H];
    ref_forward(&fx.m, ids, NULL, NULL, L, ref);
    const char *dtypes[] = {"F16", "BF16", "F32"};
    for (int d = 0; d < 3; d++) {
        fx.m.prefix = d == 2 ? "bert." : "";
        write_st(&fx.m, fx.dir, dtypes[d], NULL, NULL);
        rag_bert_t *m = load_bert(fx.dir, 1, RAG_BERT_THREADING_AUTO);
        const float *hid;
        rag_err err = {0};
        assert_int_equal(rag_bert_forward(m, &b, &hid, &err), RAG_OK);
        if (max_diff_f_d(hid, ref, L * H) > 1e-4) fail_msg("dtype %s differs", dtypes[d]);
        rag_bert_free(m);
    }
    fixture_free(&fx);
}

static void expect_load_error(const char *dir, rag_status want, const char *needle) {
    rag_bert_t *m = (rag_bert_t *)(uintptr_t)1;
    rag_err err = {0};
    rag_status st = rag_bert_load(dir, rag_bert_default_params(), &m, &err);
    if (st != want || !strstr(err.msg, needle))
        fail_msg("expected %s with \"%s\", got %s: %s", rag_status_str(want), needle,
                 rag_status_str(st), err.msg);
    assert_null(m);
}

static void test_load_errors(void **state) {
    (void)state;
    fixture fx;
    fixture_make(&fx, false);
    size_t V = fx.m.vocab;
    char path[512];

    write_config(fx.dir, V, ", \"hidden_act\": \"swish\"");
    expect_load_error(fx.dir, RAG_E_UNSUPPORTED, "hidden_act \"swish\"");
    write_config(fx.dir, V, ", \"model_type\": \"roberta\"");
    expect_load_error(fx.dir, RAG_E_UNSUPPORTED, "model_type \"roberta\"");
    write_config(fx.dir, V, ", \"position_embedding_type\": \"relative_key\"");
    expect_load_error(fx.dir, RAG_E_UNSUPPORTED, "position_embedding_type");
    write_config(fx.dir, V, ", \"num_attention_heads\": 5");
    expect_load_error(fx.dir, RAG_E_BAD_INPUT, "not a multiple of num_attention_heads 5");
    write_config(fx.dir, V, ", \"hidden_size\": -3");
    expect_load_error(fx.dir, RAG_E_BAD_INPUT, "\"hidden_size\" must be an integer");
    write_file(fx.dir, "config.json", "{\"hidden_size\": 36,");
    expect_load_error(fx.dir, RAG_E_BAD_INPUT, "config.json: not a JSON object");
    write_file(fx.dir, "config.json", "{\"hidden_size\": 36}");
    expect_load_error(fx.dir, RAG_E_BAD_INPUT, "missing \"num_hidden_layers\"");
    write_config(fx.dir, V + 5, NULL); /* vocab_size disagrees with the tensor */
    expect_load_error(fx.dir, RAG_E_BAD_INPUT, "\"embeddings.word_embeddings.weight\" has shape");
    write_config(fx.dir, V, NULL);

    write_st(&fx.m, fx.dir, "F32", "encoder.layer.1.output.dense.bias", NULL);
    expect_load_error(fx.dir, RAG_E_NOT_FOUND, "\"encoder.layer.1.output.dense.bias\" is missing");
    write_st(&fx.m, fx.dir, "F32", NULL, "encoder.layer.0.intermediate.dense.weight");
    expect_load_error(fx.dir, RAG_E_BAD_INPUT, "expected [70, 36]");

    /* truncated weights: the safetensors loader's error, naming the file */
    write_st(&fx.m, fx.dir, "F32", NULL, NULL);
    snprintf(path, sizeof path, "%s/model.safetensors", fx.dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 100), 0);
    expect_load_error(fx.dir, RAG_E_BAD_INPUT, "model.safetensors");
    assert_int_equal(truncate(path, 5), 0);
    expect_load_error(fx.dir, RAG_E_BAD_INPUT, "model.safetensors");

    remove(path);
    expect_load_error(fx.dir, RAG_E_NOT_FOUND, "model.safetensors");
    write_file(fx.dir, "model.safetensors.index.json", "{}");
    expect_load_error(fx.dir, RAG_E_UNSUPPORTED, "sharded");
    expect_load_error("/nonexistent/ragc-model", RAG_E_NOT_FOUND, "/nonexistent/ragc-model/config.json");

    rag_bert_params p = rag_bert_default_params();
    p.threads = -1;
    rag_bert_t *m = NULL;
    assert_int_equal(rag_bert_load(fx.dir, p, &m, NULL), RAG_E_CONFIG);
    rag_bert_free(NULL);
    fixture_free(&fx);
}

static void expect_forward_error(rag_bert_t *m, const rag_bert_batch *b, rag_status want,
                                 const char *needle) {
    const float *hid = (const float *)(uintptr_t)1;
    rag_err err = {0};
    rag_status st = rag_bert_forward(m, b, &hid, &err);
    if (st != want || !strstr(err.msg, needle))
        fail_msg("expected %s with \"%s\", got %s: %s", rag_status_str(want), needle,
                 rag_status_str(st), err.msg);
    assert_null(hid);
}

static void test_forward_errors(void **state) {
    (void)state;
    fixture fx;
    fixture_make(&fx, true);
    rag_bert_t *m = load_bert(fx.dir, 2, RAG_BERT_THREADING_AUTO);
    int32_t ids[60] = {2, 7, 8, 3, 2, 9, 3};
    int32_t tt[60] = {0};
    size_t off[3] = {0, 4, 7};
    rag_bert_batch b = {.ids = ids, .type_ids = tt, .offsets = off, .n_seq = 2};
    ids[5] = (int32_t)fx.m.vocab;
    expect_forward_error(m, &b, RAG_E_BAD_INPUT, "sequence 1 position 1: token id");
    ids[5] = -1;
    expect_forward_error(m, &b, RAG_E_BAD_INPUT, "token id -1 out of range");
    ids[5] = 9;
    tt[2] = 2;
    expect_forward_error(m, &b, RAG_E_BAD_INPUT, "sequence 0 position 2: token type id 2");
    tt[2] = 0;
    off[1] = 7;
    expect_forward_error(m, &b, RAG_E_BAD_INPUT, "sequence 1 is empty");
    off[1] = 4;
    b.n_seq = 0;
    expect_forward_error(m, &b, RAG_E_BAD_INPUT, "empty batch");
    size_t off2[2] = {0, MAXPOS + 1};
    rag_bert_batch lb = {.ids = ids, .offsets = off2, .n_seq = 1};
    expect_forward_error(m, &lb, RAG_E_BAD_INPUT, "more than max_position_embeddings 48");
    float out[4];
    rag_err err = {0};
    assert_int_equal(rag_bert_forward_ids(m, ids, NULL, ids, 0, 4, out, &err), RAG_E_BAD_INPUT);
    /* the model still works after rejected batches */
    b.n_seq = 2;
    const float *hid;
    assert_int_equal(rag_bert_forward(m, &b, &hid, &err), RAG_OK);
    /* classify needs a classifier; this model has one (2 labels) */
    float logits[4];
    assert_int_equal(rag_bert_get_config(m)->num_labels, 2);
    assert_true(rag_bert_get_config(m)->has_pooler);
    assert_int_equal(rag_bert_classify(m, hid, 4 * H, 2, logits, &err), RAG_OK);
    rag_bert_free(m);
    fixture_free(&fx);
}

/* Text -> tokenizer -> BERT -> mean pooling -> Normalize equals the reference, in any batch
 * order and size (length sorting, chunking, max_batch 3), and texts are independent. */
static void test_embed_pipeline(void **state) {
    (void)state;
    fixture fx;
    fixture_make(&fx, false);
    rag_encoder_params p = rag_encoder_default_params();
    p.threads = 2;
    p.max_batch = 3;
    rag_encoder_t *e = NULL;
    rag_err err = {0};
    if (rag_encoder_load(fx.dir, p, &e, &err) != RAG_OK) fail_msg("load: %s", err.msg);
    assert_int_equal(rag_encoder_dim(e), H);
    assert_int_equal(rag_encoder_max_seq_length(e), 40);
    assert_int_equal(rag_encoder_pooling(e), RAG_POOL_MEAN);
    assert_true(rag_encoder_normalizes(e));
    enum { N = 30 };
    const char *base[] = {"the cat sat on the mat", "hello world", "",
                          "the quick brown fox jumps over the lazy dog !",
                          "a big red house and a small blue tree", "cats ran , dogs jumped ."};
    char *texts[N];
    for (int i = 0; i < N; i++) {
        texts[i] = malloc(512);
        texts[i][0] = 0;
        for (int r = 0; r <= i % 7; r++) { /* up to 7 repeats: some exceed 40 tokens */
            strcat(texts[i], base[(i + r) % 6]);
            strcat(texts[i], " ");
        }
    }
    float *out = malloc(N * H * sizeof *out);
    size_t dim = 0;
    assert_int_equal(rag_encoder_embed(e, (const char *const *)texts, N, out, &dim, &err), RAG_OK);
    assert_int_equal(dim, H);
    const rag_tokenizer *tok = rag_encoder_tokenizer(e);
    for (int i = 0; i < N; i++) {
        rag_encoding enc = {0};
        assert_int_equal(rag_tokenizer_encode(tok, texts[i], strlen(texts[i]), 40, &enc, &err), RAG_OK);
        assert_true(enc.len <= 40);
        double x[40 * H], ref[H];
        ref_forward(&fx.m, enc.ids, enc.type_ids, NULL, enc.len, x);
        ref_mean_norm(x, NULL, enc.len, ref);
        double d = max_diff_f_d(out + i * H, ref, H);
        if (d > 1e-4) fail_msg("text %d (%zu tokens): max err %g", i, enc.len, d);
        rag_encoding_clear(&enc);
    }
    /* one at a time gives the same vectors */
    float one[H];
    for (int i = 0; i < N; i += 7) {
        assert_int_equal(rag_encoder_embed(e, (const char *const *)&texts[i], 1, one, NULL, &err), RAG_OK);
        for (int k = 0; k < H; k++) assert_float_equal(one[k], out[i * H + k], 1e-5);
    }
    /* errors: NULL text, invalid UTF-8 (named by index) */
    const char *bad[] = {"fine", NULL};
    assert_int_equal(rag_encoder_embed(e, bad, 2, out, NULL, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "text 1"));
    const char *bad2[] = {"fine", "ok", "bad \xff byte"};
    assert_int_equal(rag_encoder_embed(e, bad2, 3, out, NULL, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "text 2"));
    assert_int_equal(rag_encoder_embed(e, NULL, 0, NULL, &dim, &err), RAG_OK);
    for (int i = 0; i < N; i++) free(texts[i]);
    free(out);
    rag_encoder_free(e);
    rag_encoder_free(NULL);
    fixture_free(&fx);
}

/* A call larger than the per-pass token budget (4096) is split into several passes and into
 * several tokenization chunks (8 x max_batch texts); every vector equals the text embedded alone. */
static void test_embed_token_budget(void **state) {
    (void)state;
    fixture fx;
    fixture_make(&fx, false);
    rag_encoder_params p = rag_encoder_default_params();
    p.threads = 2;
    p.max_batch = 110; /* 110 x 40 tokens > 4096: the budget ends batches; 8 x 110 < N */
    rag_encoder_t *e = NULL;
    rag_err err = {0};
    assert_int_equal(rag_encoder_load(fx.dir, p, &e, &err), RAG_OK);
    enum { N = 1000 };
    static const char *words[] = {"the", "cat", "sat", "on", "mat", "hello", "world", "red", "fox"};
    char **texts = malloc(N * sizeof *texts);
    for (int i = 0; i < N; i++) {
        texts[i] = calloc(400, 1);
        for (int w = 0; w < 20 + i % 37; w++) { /* 22..58 tokens before truncation to 40 */
            strcat(texts[i], words[(i * 7 + w * 3) % 9]);
            strcat(texts[i], " ");
        }
    }
    float *all = malloc(N * H * sizeof *all), one[H];
    assert_int_equal(rag_encoder_embed(e, (const char *const *)texts, N, all, NULL, &err), RAG_OK);
    for (int i = 0; i < N; i += 13) {
        assert_int_equal(rag_encoder_embed(e, (const char *const *)&texts[i], 1, one, NULL, &err), RAG_OK);
        for (int k = 0; k < H; k++) assert_float_equal(one[k], all[i * H + k], 1e-5);
    }
    for (int i = 0; i < N; i++) free(texts[i]);
    free(texts);
    free(all);
    rag_encoder_free(e);
    fixture_free(&fx);
}

/* embed_ids pools over mask != 0 rows: a padded sequence equals the unpadded one. */
static void test_embed_ids_padding(void **state) {
    (void)state;
    fixture fx;
    fixture_make(&fx, false);
    rag_encoder_t *e = NULL;
    rag_err err = {0};
    assert_int_equal(rag_encoder_load(fx.dir, rag_encoder_default_params(), &e, &err), RAG_OK);
    int32_t ids[20] = {0}, mask[20] = {0};
    rand_ids(ids, 7, fx.m.vocab);
    for (int i = 0; i < 7; i++) mask[i] = 1;
    memcpy(ids + 10, ids, 7 * sizeof *ids); /* second copy: padded to 10 with junk ids */
    memcpy(mask + 10, mask, 7 * sizeof *mask);
    ids[17] = 9, ids[18] = 10, ids[19] = 11;
    size_t off_p[3] = {0, 10, 20};
    rag_bert_batch pb = {.ids = ids, .mask = mask, .offsets = off_p, .n_seq = 2};
    ids[7] = 12, ids[8] = 13, ids[9] = 14;
    float out[2 * H];
    assert_int_equal(rag_encoder_embed_ids(e, &pb, out, &err), RAG_OK);
    double x[7 * H], ref[H];
    ref_forward(&fx.m, ids, NULL, NULL, 7, x);
    ref_mean_norm(x, NULL, 7, ref);
    assert_true(max_diff_f_d(out, ref, H) < 1e-4);
    assert_true(max_diff_f_d(out + H, ref, H) < 1e-4);
    rag_encoder_free(e);
    fixture_free(&fx);
}

static float norm(const float *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    return (float)sqrt(s);
}

/* CLS + max pooling (concatenated, in sentence-transformers' order), no Normalize, a module
 * subdirectory, do_lower_case, and modules.json errors. */
static void test_pooling_and_modules(void **state) {
    (void)state;
    fixture fx;
    fixture_make(&fx, false);
    char pool[256];
    snprintf(pool, sizeof pool, "{\"word_embedding_dimension\": %d, \"pooling_mode_max_tokens\": true,"
             " \"pooling_mode_cls_token\": true}", H);
    write_file(fx.dir, "1_Pooling/config.json", pool);
    write_file(fx.dir, "modules.json",
               "[{\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
               "{\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"}]");
    write_file(fx.dir, "sentence_bert_config.json", "{\"max_seq_length\": 40, \"do_lower_case\": true}");
    rag_encoder_t *e = NULL;
    rag_err err = {0};
    if (rag_encoder_load(fx.dir, rag_encoder_default_params(), &e, &err) != RAG_OK)
        fail_msg("load: %s", err.msg);
    assert_int_equal(rag_encoder_dim(e), 2 * H);
    assert_int_equal(rag_encoder_pooling(e), RAG_POOL_CLS | RAG_POOL_MAX);
    assert_false(rag_encoder_normalizes(e));
    const char *texts[] = {"Hello World the CAT", "hello world the cat"};
    float out[4 * H];
    assert_int_equal(rag_encoder_embed(e, texts, 2, out, NULL, &err), RAG_OK);
    for (int k = 0; k < 2 * H; k++) assert_float_equal(out[k], out[2 * H + k], 1e-6);
    rag_encoding enc = {0};
    assert_int_equal(rag_tokenizer_encode(rag_encoder_tokenizer(e), texts[1], strlen(texts[1]), 40,
                                          &enc, &err), RAG_OK);
    double x[40 * H];
    ref_forward(&fx.m, enc.ids, NULL, NULL, enc.len, x);
    for (int k = 0; k < H; k++) {
        double mx = -1e30;
        for (size_t i = 0; i < enc.len; i++) mx = fmax(mx, x[i * H + k]);
        assert_float_equal(out[k], x[k], 1e-4);  /* CLS first */
        assert_float_equal(out[H + k], mx, 1e-4); /* then max */
    }
    assert_true(fabsf(norm(out, 2 * H) - 1.0f) > 1e-3);
    rag_encoding_clear(&enc);
    rag_encoder_free(e);

    rag_encoder_t *bad = (rag_encoder_t *)(uintptr_t)1;
    write_file(fx.dir, "modules.json",
               "[{\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
               "{\"path\":\"2_Dense\",\"type\":\"sentence_transformers.models.Dense\"}]");
    assert_int_equal(rag_encoder_load(fx.dir, rag_encoder_default_params(), &bad, &err), RAG_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "\"sentence_transformers.models.Dense\" is not supported"));
    assert_null(bad);
    write_file(fx.dir, "modules.json", "[{\"path\":\"../../etc\",\"type\":\"sentence_transformers.models.Transformer\"}]");
    assert_int_equal(rag_encoder_load(fx.dir, rag_encoder_default_params(), &bad, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "leaves the model directory"));
    write_file(fx.dir, "modules.json", "{\"not\": \"a list\"}");
    assert_int_equal(rag_encoder_load(fx.dir, rag_encoder_default_params(), &bad, &err), RAG_E_BAD_INPUT);
    write_file(fx.dir, "modules.json", "[{\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
               "{\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"}]");
    write_file(fx.dir, "1_Pooling/config.json", "{\"word_embedding_dimension\": 36}");
    assert_int_equal(rag_encoder_load(fx.dir, rag_encoder_default_params(), &bad, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "no pooling_mode_"));
    write_file(fx.dir, "1_Pooling/config.json", "{\"word_embedding_dimension\": 99, \"pooling_mode_mean_tokens\": true}");
    assert_int_equal(rag_encoder_load(fx.dir, rag_encoder_default_params(), &bad, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "word_embedding_dimension"));
    /* the Transformer module in a subdirectory */
    char sub[300];
    snprintf(sub, sizeof sub, "%s/0_Transformer", fx.dir);
    mkdir(sub, 0755);
    copy_vocab(sub);
    write_config(sub, fx.m.vocab, NULL);
    write_st(&fx.m, sub, "F32", NULL, NULL);
    write_file(fx.dir, "modules.json", "[{\"path\":\"0_Transformer\",\"type\":\"sentence_transformers.models.Transformer\"}]");
    rag_encoder_params p = rag_encoder_default_params();
    p.max_seq_length = 20;
    assert_int_equal(rag_encoder_load(fx.dir, p, &e, &err), RAG_OK);
    assert_int_equal(rag_encoder_max_seq_length(e), 20);
    assert_int_equal(rag_encoder_pooling(e), RAG_POOL_MEAN);
    rag_encoder_free(e);
    p.max_seq_length = MAXPOS + 1;
    assert_int_equal(rag_encoder_load(fx.dir, p, &bad, &err), RAG_E_CONFIG);
    assert_non_null(strstr(err.msg, "max_position_embeddings"));
    fixture_free(&fx);
}

/* Cross-encoder: (query, passage) pairs with token types, pooler + 2-label classifier, sigmoid. */
static void test_cross_encoder(void **state) {
    (void)state;
    fixture fx;
    fixture_make(&fx, true);
    rag_encoder_params p = rag_encoder_default_params();
    p.threads = 2;
    p.max_seq_length = 24;
    rag_cross_encoder_t *ce = NULL;
    rag_err err = {0};
    if (rag_cross_encoder_load(fx.dir, p, &ce, &err) != RAG_OK) fail_msg("load: %s", err.msg);
    assert_int_equal(rag_cross_encoder_num_labels(ce), 2);
    const char *q = "the red fox";
    const char *passages[] = {"a small dog sat on the mat", "fox",
                              "the quick brown fox jumps over the lazy dog and the cat sat on the "
                              "mat in the big red house"};
    float logits[6];
    assert_int_equal(rag_cross_encoder_score(ce, q, passages, 3, logits, &err), RAG_OK);
    rag_tokenizer *tok = NULL;
    assert_int_equal(rag_tokenizer_load(fx.dir, &tok, &err), RAG_OK);
    for (int i = 0; i < 3; i++) {
        rag_encoding enc = {0};
        assert_int_equal(rag_tokenizer_encode_pair(tok, q, strlen(q), passages[i], strlen(passages[i]),
                                                   24, &enc, &err), RAG_OK);
        double x[24 * H], ref[2];
        ref_forward(&fx.m, enc.ids, enc.type_ids, NULL, enc.len, x);
        ref_logits(&fx.m, x, ref);
        assert_float_equal(logits[2 * i], ref[0], 1e-4);
        assert_float_equal(logits[2 * i + 1], ref[1], 1e-4);
        rag_encoding_clear(&enc);
    }
    rag_tokenizer_free(tok);
    rag_cross_encoder_free(ce);
    p.sigmoid = true;
    assert_int_equal(rag_cross_encoder_load(fx.dir, p, &ce, &err), RAG_OK);
    float sig[6];
    assert_int_equal(rag_cross_encoder_score(ce, q, passages, 3, sig, &err), RAG_OK);
    for (int i = 0; i < 6; i++) assert_float_equal(sig[i], 1.0 / (1.0 + exp(-logits[i])), 1e-6);
    const char *bad[] = {NULL};
    assert_int_equal(rag_cross_encoder_score(ce, q, bad, 1, sig, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "passage 0"));
    rag_cross_encoder_free(ce);
    rag_cross_encoder_free(NULL);
    fixture_free(&fx);

    /* a model without a classifier is not a cross-encoder */
    fixture_make(&fx, false);
    rag_cross_encoder_t *none = (rag_cross_encoder_t *)(uintptr_t)1;
    assert_int_equal(rag_cross_encoder_load(fx.dir, rag_encoder_default_params(), &none, &err),
                     RAG_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "classifier"));
    assert_null(none);
    fixture_free(&fx);
}

/* Workspace reuse: a large batch, then a small one, then a large one give the same results as
 * fresh models (nothing stale leaks between calls). */
static void test_workspace_reuse(void **state) {
    (void)state;
    fixture fx;
    fixture_make(&fx, false);
    rag_bert_t *m = load_bert(fx.dir, 2, RAG_BERT_THREADING_AUTO);
    const size_t B = 8, T = 30;
    int32_t ids[8 * 30];
    size_t off[9];
    for (size_t b = 0; b < B; b++) {
        rand_ids(ids + b * T, T, fx.m.vocab);
        off[b] = b * T;
    }
    off[B] = B * T;
    rag_bert_batch big = {.ids = ids, .offsets = off, .n_seq = B};
    size_t off1[2] = {0, 5};
    rag_bert_batch small = {.ids = ids + T, .offsets = off1, .n_seq = 1};
    const float *hid;
    rag_err err = {0};
    float *first = malloc(B * T * H * sizeof *first);
    assert_int_equal(rag_bert_forward(m, &big, &hid, &err), RAG_OK);
    memcpy(first, hid, B * T * H * sizeof *first);
    assert_int_equal(rag_bert_forward(m, &small, &hid, &err), RAG_OK);
    double ref[5 * H];
    ref_forward(&fx.m, ids + T, NULL, NULL, 5, ref);
    assert_true(max_diff_f_d(hid, ref, 5 * H) < 1e-4);
    assert_int_equal(rag_bert_forward(m, &big, &hid, &err), RAG_OK);
    assert_memory_equal(first, hid, B * T * H * sizeof *first);
    free(first);
    rag_bert_free(m);
    fixture_free(&fx);
}

static double cosine_fd(const float *a, const double *b, size_t n) {
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += b[i] * b[i];
    }
    return d / sqrt(na * nb);
}

/* int8 gemm kernel on sizes with every tail (M not a multiple of 8, N of 32, K of 4 and 16),
 * with beta 0 / 1 and a fused bias + GELU: within quantization error of the fp32 product. */
static void test_q8_kernel(void **state) {
    (void)state;
    if (!rag_bk_q8_available()) skip();
    const size_t M = 13, N = 45, K = 37, ldq = 64;
    float A[13 * 37], Wt[45 * 37], C[13 * 45], bias[45];
    for (size_t i = 0; i < M * K; i++) A[i] = urand() * 2.0f + 0.3f;
    for (size_t i = 0; i < N * K; i++) Wt[i] = urand() * 0.2f;
    for (size_t i = 0; i < N; i++) bias[i] = urand();
    rag_bk_q8w w;
    assert_true(rag_bk_q8w_pack(Wt, N, K, &w));
    uint8_t qa[13 * 64];
    float sa[13], za[13];
    rag_bk_q8_quantize_rows(A, K, M, K, qa, ldq, sa, za);
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < M * N; i++) C[i] = 1.0f;
        /* pass 0: beta 0; pass 1: beta 1 (accumulates onto the 1.0s); pass 2: bias + GELU */
        rag_bk_q8_gemm(qa, ldq, sa, za, M, &w, 0, N, C, N, pass == 1 ? 1.0f : 0.0f,
                       pass == 2 ? bias : NULL, RAG_BERT_ACT_GELU);
        double worst = 0;
        for (size_t m = 0; m < M; m++)
            for (size_t n = 0; n < N; n++) {
                double ref = 0, mag = 0;
                for (size_t k = 0; k < K; k++) {
                    ref += (double)A[m * K + k] * Wt[n * K + k];
                    mag += fabs((double)A[m * K + k] * Wt[n * K + k]);
                }
                if (pass == 1) ref += 1.0;
                if (pass == 2) {
                    ref += bias[n];
                    ref = 0.5 * ref * (1.0 + erf(ref / sqrt(2.0)));
                }
                worst = fmax(worst, fabs(C[m * N + n] - ref) / (mag + 1e-6));
            }
        if (worst > 0.02) fail_msg("pass %d: error %g of the product magnitude", pass, worst);
    }
    rag_bk_q8w_free(&w);
}

/* The AVX-512 attention kernel against a direct computation: head sizes 16..64, lengths that
 * are not multiples of 4 or 32, masked keys, all keys masked (uniform), output aliasing q. */
static void test_attention_kernel(void **state) {
    (void)state;
    if (!rag_bk_attention_available(32)) skip();
    assert_false(rag_bk_attention_available(9));
    const size_t lens[] = {1, 5, 33, 70}, dhs[] = {16, 32, 48, 64};
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 4; b++) {
            const size_t L = lens[a], dh = dhs[b], ld = 3 * dh + 5, lp = RAG_BK_ATT_LP(L);
            float *buf = malloc(L * ld * sizeof *buf), *S = malloc(L * lp * sizeof *S),
                  *kt = malloc(dh * lp * sizeof *kt), *out = malloc(L * ld * sizeof *out);
            int32_t *mask = malloc(L * sizeof *mask);
            for (size_t i = 0; i < L * ld; i++) buf[i] = urand() * 2.0f;
            for (int variant = 0; variant < 3; variant++) {
                for (size_t j = 0; j < L; j++)
                    mask[j] = variant == 0 ? 1 : variant == 1 ? (j % 3 != 1 || L == 1) : 0;
                memcpy(out, buf, L * ld * sizeof *out); /* output written over q, as bert.c */
                rag_bk_attention(out, out + dh, out + 2 * dh, ld, L, dh, 0.3f,
                                 variant ? mask : NULL, S, kt, out, ld);
                for (size_t i = 0; i < L; i++) {
                    double p[70], mx = -INFINITY, sum = 0;
                    size_t live = 0;
                    for (size_t j = 0; j < L; j++) live += mask[j] || variant == 0;
                    for (size_t j = 0; j < L; j++) {
                        double d = 0;
                        for (size_t c = 0; c < dh; c++) d += (double)buf[i * ld + c] * buf[j * ld + dh + c];
                        p[j] = (variant == 0 || mask[j] || live == 0) ? 0.3 * d : -INFINITY;
                        if (live == 0) p[j] = 0; /* all masked: uniform */
                        mx = fmax(mx, p[j]);
                    }
                    for (size_t j = 0; j < L; j++) sum += (p[j] = exp(p[j] - mx));
                    for (size_t c = 0; c < dh; c++) {
                        double r = 0;
                        for (size_t j = 0; j < L; j++) r += p[j] / sum * buf[j * ld + 2 * dh + c];
                        if (fabs(out[i * ld + c] - r) > 1e-5)
                            fail_msg("L=%zu dh=%zu variant %d row %zu col %zu: %g vs %g", L, dh,
                                     variant, i, c, out[i * ld + c], r);
                    }
                }
            }
            free(buf), free(S), free(kt), free(out), free(mask);
        }
}

/* INT8 precision: the same results in every threading mode and thread count (quantization is
 * per row, chunking does not change the arithmetic) and embeddings within cosine 0.999 of the
 * fp32 reference. */
static void test_int8_precision(void **state) {
    (void)state;
    fixture fx;
    fixture_make(&fx, false);
    const size_t lens[] = {3, 17, 40, 9, 1, 26}, B = 6, T = 40;
    int32_t *ids = calloc(B * T, 4), *mask = calloc(B * T, 4);
    for (size_t b = 0; b < B; b++) {
        rand_ids(ids + b * T, lens[b], fx.m.vocab);
        for (size_t i = 0; i < lens[b]; i++) mask[b * T + i] = 1;
    }
    float *first = malloc(B * T * H * sizeof *first), *out = malloc(B * T * H * sizeof *out);
    for (int threads = 1; threads <= 3; threads++)
        for (int mode = 0; mode <= 3; mode++) {
            rag_bert_params p = rag_bert_default_params();
            p.threads = threads;
            p.threading = (rag_bert_threading)mode;
            p.precision = RAG_BERT_PRECISION_INT8;
            rag_bert_t *m = NULL;
            rag_err err = {0};
            rag_status st = rag_bert_load(fx.dir, p, &m, &err); /* int8 runs on every CPU */
            assert_int_equal(st, RAG_OK);
            assert_int_equal(rag_bert_forward_ids(m, ids, NULL, mask, B, T, out, &err), RAG_OK);
            if (threads == 1 && mode == 0) memcpy(first, out, B * T * H * sizeof *out);
            else if (memcmp(first, out, B * T * H * sizeof *out) != 0)
                fail_msg("int8 threads=%d mode=%d differs from threads=1", threads, mode);
            rag_bert_free(m);
        }
    for (size_t b = 0; b < B; b++) {
        double x[40 * H], ref[H];
        float e[H];
        ref_forward(&fx.m, ids + b * T, NULL, NULL, lens[b], x);
        ref_mean_norm(x, NULL, lens[b], ref);
        for (int k = 0; k < H; k++) {
            double sum = 0;
            for (size_t i = 0; i < lens[b]; i++) sum += first[b * T * H + i * H + k];
            e[k] = (float)(sum / (double)lens[b]);
        }
        double c = cosine_fd(e, ref, H);
        if (c < 0.999) fail_msg("sequence %zu: int8 cosine to fp32 %f < 0.999", b, c);
    }
    free(first), free(out), free(ids), free(mask);
    rag_bert_params bad = rag_bert_default_params();
    bad.precision = (rag_bert_precision)7;
    rag_bert_t *m = NULL;
    assert_int_equal(rag_bert_load(fx.dir, bad, &m, NULL), RAG_E_CONFIG);
    fixture_free(&fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_mask_holes),
        cmocka_unit_test(test_dtypes_and_prefix),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_forward_errors),
        cmocka_unit_test(test_embed_pipeline),
        cmocka_unit_test(test_embed_token_budget),
        cmocka_unit_test(test_embed_ids_padding),
        cmocka_unit_test(test_pooling_and_modules),
        cmocka_unit_test(test_cross_encoder),
        cmocka_unit_test(test_workspace_reuse),
        cmocka_unit_test(test_q8_kernel),
        cmocka_unit_test(test_attention_kernel),
        cmocka_unit_test(test_int8_precision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
