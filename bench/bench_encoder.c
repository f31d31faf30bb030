/* Benchmark: ragc's C BERT encoder (src/local) — throughput, query latency, sgemm peak, RSS.
 * Driven by bench/encoder.sh (which also runs the PyTorch reference in the same run); not built
 * by CMake.
 *
 * Build (after `cmake --build build-<name> --target ragc_local`):
 *   gcc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread \
 *       bench/bench_encoder.c build-<name>/libragc_local.a build-<name>/libragc_net.a \
 *       build-<name>/libragc_core.a -ljansson -lutf8proc -lopenblas -lcurl -lxxhash -lm \
 *       -lpthread -o /tmp/bench_encoder
 *
 * Usage (each prints one JSON object on stdout):
 *   bench_encoder forward MODEL_DIR [threads] [threading] [batch] [seq] [query] [reps] [precision]
 *       batch x seq random-token throughput (best of reps) and the median / min latency of one
 *       query-token sequence; threading: auto | seq | split | blas; precision: f32 | int8
 *       (RAGC_Q8_KERNEL=vnni|avx2|scalar picks the int8 kernel; the JSON names the one used).
 *   bench_encoder cosine MODEL_DIR [n] [outlier_scale]
 *       cosine similarity of int8 embeddings to fp32 ones for n random sequences of 8-256 tokens
 *       (mean pooling + normalize through the sentence-transformers pipeline). With
 *       outlier_scale (e.g. 20), also on a copy of the model whose LayerNorm weights of 3
 *       channels are multiplied by it in every LayerNorm, as the outlier dimensions of trained
 *       BERTs; "other_dims" cosines leave those channels out of the embedding.
 *   bench_encoder sgemm [threads]
 *       OpenBLAS sgemm GFLOP/s at 4096 x 384 x 1536 (M x K x N), as a projection in the model.
 *   bench_encoder rss MODEL_DIR [threads] [passages]
 *       loads the sentence-transformers model, embeds `passages` texts of 100-200 random
 *       vocabulary words (from the model's vocab.txt) in one call and reports the peak RSS.
 */
#include <cblas.h>
#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "local/bert_kernels.h" /* which int8 kernel and attention run (internal) */
#include "ragc/encoder.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static rag_bert_threading parse_threading(const char *s) {
    if (!strcmp(s, "seq")) return RAG_BERT_THREADING_SEQ;
    if (!strcmp(s, "split")) return RAG_BERT_THREADING_SPLIT;
    if (!strcmp(s, "blas")) return RAG_BERT_THREADING_BLAS;
    return RAG_BERT_THREADING_AUTO;
}

static int die(const char *what, const rag_err *err) {
    fprintf(stderr, "bench_encoder: %s: %s\n", what, err->msg);
    return 1;
}

static int cmd_forward(int argc, char **argv) {
    const char *dir = argv[2];
    rag_bert_params p = rag_bert_default_params();
    p.threads = argc > 3 ? atoi(argv[3]) : 1;
    p.threading = argc > 4 ? parse_threading(argv[4]) : RAG_BERT_THREADING_AUTO;
    size_t B = argc > 5 ? (size_t)atoi(argv[5]) : 32, T = argc > 6 ? (size_t)atoi(argv[6]) : 128;
    size_t Q = argc > 7 ? (size_t)atoi(argv[7]) : 16;
    int reps = argc > 8 ? atoi(argv[8]) : 3, qreps = 50;
    if (argc > 9 && !strcmp(argv[9], "int8")) p.precision = RAG_BERT_PRECISION_INT8;
    rag_err err = {0};
    rag_bert_t *m;
    double t0 = now_ms();
    if (rag_bert_load(dir, p, &m, &err) != RAG_OK) return die("load", &err);
    double load_ms = now_ms() - t0;
    size_t V = rag_bert_get_config(m)->vocab_size;
    int32_t *ids = malloc(B * T * sizeof *ids);
    size_t *off = malloc((B + 1) * sizeof *off);
    for (size_t i = 0; i < B * T; i++) ids[i] = (int32_t)(1000 + rnd() % (V - 1000));
    for (size_t b = 0; b <= B; b++) off[b] = b * T;
    for (size_t b = 0; b < B; b++) { ids[b * T] = 101; ids[b * T + T - 1] = 102; }
    rag_bert_batch batch = {.ids = ids, .offsets = off, .n_seq = B};
    size_t qoff[2] = {0, Q};
    rag_bert_batch qb = {.ids = ids, .offsets = qoff, .n_seq = 1};
    const float *hid;
    if (rag_bert_forward(m, &batch, &hid, &err) != RAG_OK) return die("forward", &err); /* warm */
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        t0 = now_ms();
        rag_bert_forward(m, &batch, &hid, &err);
        double t = now_ms() - t0;
        if (t < best) best = t;
    }
    double *lat = malloc((size_t)qreps * sizeof *lat);
    for (int r = 0; r < 5; r++) rag_bert_forward(m, &qb, &hid, &err);
    for (int r = 0; r < qreps; r++) {
        t0 = now_ms();
        rag_bert_forward(m, &qb, &hid, &err);
        lat[r] = now_ms() - t0;
    }
    qsort(lat, (size_t)qreps, sizeof *lat, cmp_double);
    const rag_bert_config *c = rag_bert_get_config(m);
    double H = (double)c->hidden_size, FF = (double)c->intermediate_size;
    double flops = (double)c->num_layers * (double)B *
                   ((double)T * 2 * H * (4 * H + 2 * FF) + (double)T * (double)T * 4 * H);
    const bool q8 = p.precision == RAG_BERT_PRECISION_INT8;
    const size_t dh = c->hidden_size / c->num_heads;
    printf("{\"threads\": %d, \"threading\": \"%s\", \"precision\": \"%s\", "
           "\"q8_kernel\": \"%s\", \"attention\": \"%s\", "
           "\"seq_per_s\": %.2f, \"batch_ms\": %.2f, \"gflops\": %.1f, "
           "\"query_ms_median\": %.3f, \"query_ms_min\": %.3f, \"load_ms\": %.1f}\n",
           rag_bert_threads(m), argc > 4 ? argv[4] : "auto", q8 ? "int8" : "f32",
           q8 ? rag_bk_q8_kernel_name(rag_bk_q8_kernel_get()) : "",
           q8 && rag_bk_attention_bf16_available(dh) ? "bf16"
           : rag_bk_attention_available(dh)          ? "fp32 avx512"
                                                     : "fp32 sgemm",
           (double)B / best * 1e3, best, flops / best / 1e6, lat[qreps / 2], lat[0], load_ms);
    free(lat);
    free(ids);
    free(off);
    rag_bert_free(m);
    return 0;
}

static int cmd_sgemm(int argc, char **argv) {
    int th = argc > 2 ? atoi(argv[2]) : 1;
    const int M = 4096, K = 384, N = 1536;
    openblas_set_num_threads(th);
    float *A = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * N * K),
          *C = malloc(sizeof(float) * M * N);
    for (long i = 0; i < (long)M * K; i++) A[i] = (float)(i % 13) * 0.01f;
    for (long i = 0; i < (long)N * K; i++) W[i] = (float)(i % 7) * 0.01f;
    double best = 1e30;
    for (int r = 0; r < 8; r++) {
        double t0 = now_ms();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, W, K, 0.0f, C, N);
        double t = now_ms() - t0;
        if (t < best) best = t;
    }
    printf("{\"threads\": %d, \"gflops\": %.1f, \"ms\": %.2f, \"core\": \"%s\"}\n", th,
           2.0 * M * N * K / best / 1e6, best, openblas_get_corename());
    free(A);
    free(W);
    free(C);
    return 0;
}

static int cmd_rss(int argc, char **argv) {
    const char *dir = argv[2];
    rag_encoder_params p = rag_encoder_default_params();
    p.threads = argc > 3 ? atoi(argv[3]) : 0;
    size_t n = argc > 4 ? (size_t)atoi(argv[4]) : 1000;
    rag_err err = {0};
    /* passages: words of the model's vocab.txt (no "##" pieces, no [special] tokens) */
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "bench_encoder: %s: cannot open\n", path); return 1; }
    char line[256], **words = NULL;
    size_t nw = 0, cw = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0] || line[0] == '[' || !strncmp(line, "##", 2)) continue;
        if (nw == cw) words = realloc(words, (cw = cw ? cw * 2 : 1024) * sizeof *words);
        words[nw++] = strdup(line);
    }
    fclose(f);
    char **texts = malloc(n * sizeof *texts);
    for (size_t i = 0; i < n; i++) {
        size_t k = 100 + rnd() % 101, cap = 4096, len = 0;
        texts[i] = malloc(cap);
        texts[i][0] = 0;
        for (size_t w = 0; w < k; w++) {
            const char *s = words[rnd() % nw];
            size_t sl = strlen(s);
            if (len + sl + 2 > cap) texts[i] = realloc(texts[i], cap *= 2);
            memcpy(texts[i] + len, s, sl);
            len += sl;
            texts[i][len++] = ' ';
            texts[i][len] = 0;
        }
    }
    double t0 = now_ms();
    rag_encoder_t *e;
    if (rag_encoder_load(dir, p, &e, &err) != RAG_OK) return die("load", &err);
    size_t dim;
    float *out = malloc(n * rag_encoder_dim(e) * sizeof *out);
    if (rag_encoder_embed(e, (const char *const *)texts, n, out, &dim, &err) != RAG_OK)
        return die("embed", &err);
    double ms = now_ms() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"passages\": %zu, \"dim\": %zu, \"seconds\": %.2f, \"peak_rss_kib\": %ld}\n", n, dim,
           ms / 1e3, ru.ru_maxrss);
    rag_encoder_free(e);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    for (size_t i = 0; i < nw; i++) free(words[i]);
    free(words);
    free(texts);
    free(out);
    return 0;
}

/* Channels whose LayerNorm weight `cosine ... OUTLIER_SCALE` multiplies (in every LayerNorm),
 * like the few outlier dimensions of trained BERTs (e.g. 308 and 381 in bert-base). */
static const size_t outlier_ch[] = {57, 180, 308};
#define N_OUTLIER (sizeof outlier_ch / sizeof outlier_ch[0])

/* dst (a new temporary directory) = src with every "*LayerNorm.weight" F32 tensor's outlier
 * channels multiplied by scale; the other files are symlinks to src's. 0 on success. */
static int make_outlier_model(const char *src, char *dst, size_t dst_len, float scale) {
    snprintf(dst, dst_len, "/tmp/ragc-outlier-XXXXXX");
    if (!mkdtemp(dst)) return -1;
    DIR *d = opendir(src);
    if (!d) return -1;
    struct dirent *de;
    char a[4096], b[4096], rs[PATH_MAX];
    if (!realpath(src, rs)) { closedir(d); return -1; }
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !strcmp(de->d_name, "model.safetensors")) continue;
        snprintf(a, sizeof a, "%s/%s", rs, de->d_name);
        snprintf(b, sizeof b, "%s/%s", dst, de->d_name);
        if (symlink(a, b) != 0) { closedir(d); return -1; }
    }
    closedir(d);
    snprintf(a, sizeof a, "%s/model.safetensors", src);
    FILE *f = fopen(a, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) { fclose(f); free(buf); return -1; }
    fclose(f);
    uint64_t hl;
    memcpy(&hl, buf, 8);
    json_error_t je;
    json_t *hdr = json_loadb((const char *)buf + 8, hl, 0, &je), *v;
    const char *key;
    size_t scaled = 0;
    json_object_foreach(hdr, key, v) {
        size_t kl = strlen(key);
        const char *dt = json_string_value(json_object_get(v, "dtype"));
        if (kl < 16 || strcmp(key + kl - 16, "LayerNorm.weight") || !dt || strcmp(dt, "F32"))
            continue;
        size_t off = (size_t)json_integer_value(json_array_get(json_object_get(v, "data_offsets"), 0));
        size_t n = (size_t)json_integer_value(json_array_get(json_object_get(v, "shape"), 0));
        for (size_t i = 0; i < N_OUTLIER; i++) {
            if (outlier_ch[i] >= n) continue;
            float w;
            unsigned char *p = buf + 8 + hl + off + 4 * outlier_ch[i];
            memcpy(&w, p, 4);
            w *= scale;
            memcpy(p, &w, 4);
        }
        scaled++;
    }
    json_decref(hdr);
    snprintf(b, sizeof b, "%s/model.safetensors", dst);
    f = fopen(b, "wb");
    int rc = f && fwrite(buf, 1, (size_t)len, f) == (size_t)len && scaled ? 0 : -1;
    if (f && fclose(f) != 0) rc = -1;
    free(buf);
    return rc;
}

static void remove_model_copy(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[4096];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Cosine of int8 to fp32 embeddings over n random sequences of 8-256 tokens (the same ones for
 * every call: the generator restarts); *mn_other / *mean_other: over the dimensions that are not
 * outlier channels. 0 on success. */
static int cosine_run(const char *dir, size_t n, double *mn, double *mean, double *mn_other,
                      double *mean_other) {
    rag_err err = {0};
    rag_encoder_t *e[2];
    for (int k = 0; k < 2; k++) {
        rag_encoder_params p = rag_encoder_default_params();
        p.precision = k ? RAG_BERT_PRECISION_INT8 : RAG_BERT_PRECISION_F32;
        if (rag_encoder_load(dir, p, &e[k], &err) != RAG_OK) return die("load", &err);
    }
    rng_state = 88172645463325252ull;
    size_t V = rag_bert_get_config(rag_encoder_model(e[0]))->vocab_size, rows = 0;
    size_t *off = malloc((n + 1) * sizeof *off);
    for (size_t i = 0; i < n; i++) { off[i] = rows; rows += 8 + rnd() % 249; }
    off[n] = rows;
    int32_t *ids = malloc(rows * sizeof *ids);
    for (size_t r = 0; r < rows; r++) ids[r] = (int32_t)(1000 + rnd() % (V - 1000));
    rag_bert_batch b = {.ids = ids, .offsets = off, .n_seq = n};
    size_t dim = rag_encoder_dim(e[0]);
    float *out[2] = {malloc(n * dim * sizeof(float)), malloc(n * dim * sizeof(float))};
    for (int k = 0; k < 2; k++)
        if (rag_encoder_embed_ids(e[k], &b, out[k], &err) != RAG_OK) return die("embed", &err);
    *mn = *mn_other = 1;
    *mean = *mean_other = 0;
    for (size_t i = 0; i < n; i++)
        for (int other = 0; other < 2; other++) {
            double dot = 0, na = 0, nb = 0;
            for (size_t d = 0; d < dim; d++) {
                bool skip = false;
                for (size_t c = 0; other && c < N_OUTLIER; c++) skip |= d % 384 == outlier_ch[c];
                if (skip) continue;
                dot += (double)out[0][i * dim + d] * out[1][i * dim + d];
                na += (double)out[0][i * dim + d] * out[0][i * dim + d];
                nb += (double)out[1][i * dim + d] * out[1][i * dim + d];
            }
            double c = dot / sqrt(na * nb);
            double *pm = other ? mn_other : mn, *pa = other ? mean_other : mean;
            *pm = c < *pm ? c : *pm;
            *pa += c / (double)n;
        }
    for (int k = 0; k < 2; k++) { rag_encoder_free(e[k]); free(out[k]); }
    free(ids);
    free(off);
    return 0;
}

static int cmd_cosine(int argc, char **argv) {
    const char *dir = argv[2];
    size_t n = argc > 3 ? (size_t)atoi(argv[3]) : 64;
    double scale = argc > 4 ? atof(argv[4]) : 0;
    double mn, mean, mo, meo;
    if (cosine_run(dir, n, &mn, &mean, &mo, &meo)) return 1;
    printf("{\"sequences\": %zu, \"cosine_min\": %.6f, \"cosine_mean\": %.6f", n, mn, mean);
    if (scale > 0) {
        char odir[64];
        if (make_outlier_model(dir, odir, sizeof odir, (float)scale) != 0) {
            fprintf(stderr, "bench_encoder: cannot write the outlier model copy in %s\n", odir);
            return 1;
        }
        int rc = cosine_run(odir, n, &mn, &mean, &mo, &meo);
        remove_model_copy(odir);
        if (rc) return 1;
        printf(", \"outlier_scale\": %g, \"outlier_channels\": [", scale);
        for (size_t c = 0; c < N_OUTLIER; c++) printf("%s%zu", c ? ", " : "", outlier_ch[c]);
        printf("], \"outlier_cosine_min\": %.6f, \"outlier_cosine_mean\": %.6f, "
               "\"outlier_cosine_min_other_dims\": %.6f, \"outlier_cosine_mean_other_dims\": %.6f",
               mn, mean, mo, meo);
    }
    printf(", \"q8_kernel\": \"%s\"}\n", rag_bk_q8_kernel_name(rag_bk_q8_kernel_get()));
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "forward")) return cmd_forward(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "sgemm")) return cmd_sgemm(argc, argv);
    if (argc >= 3 && !strcmp(argv[1], "rss")) return cmd_rss(argc, argv);
    if (argc >= 3 && !strcmp(argv[1], "cosine")) return cmd_cosine(argc, argv);
    fprintf(stderr, "usage: bench_encoder forward MODEL_DIR [threads] [auto|seq|split|blas] "
                    "[batch] [seq] [query] [reps] [f32|int8]\n"
                    "       bench_encoder cosine MODEL_DIR [n] [outlier_scale]\n"
                    "       bench_encoder sgemm [threads]\n"
                    "       bench_encoder rss MODEL_DIR [threads] [passages]\n");
    return 2;
}
