/* Correctness against PyTorch: ragc's embeddings and cross-encoder logits at MiniLM-L6 shape
 * (shape-faithful random weights) must match the independent PyTorch reference
 * (tests/reference/torch_bert.py) to max abs error <= 1e-4, on a batch of mixed lengths
 * (3, 17, 64, 128 and pairs of 5, 40, 128, 77 tokens) fed both packed and right-padded with masks.
 *
 * Case directory: $RAGC_TORCH_CASE when set (prepared by tests/integration/test_local_torch.sh),
 * else built here in a temporary directory by running tests/reference/make_model.py and
 * torch_bert.py with /usr/bin/python3. Without python3-torch the tests are skipped, unless
 * RAGC_TORCH_REQUIRED=1, which makes that a failure. With RAGC_TORCH_OUT=FILE the C results are
 * also written there as JSON {"embeddings": [...], "logits": [...]}. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ragc/encoder.h"

#define TOL 1e-4

static char g_case[512];
static bool g_own_case;
static json_t *g_out;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static bool torch_available(void) {
    return system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0;
}

static int run(const char *cmd) {
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "test_local_encoder_torch: command failed (%d): %s\n", rc, cmd);
    return rc;
}

static int setup(void **state) {
    (void)state;
    const char *c = getenv("RAGC_TORCH_CASE");
    if (c && *c) {
        snprintf(g_case, sizeof g_case, "%s", c);
        return 0;
    }
    if (!torch_available()) return 0; /* tests skip (or fail when required) */
    const char *src = getenv("RAGC_SOURCE_DIR");
    if (!src) src = ".";
    snprintf(g_case, sizeof g_case, "/tmp/ragc-torch-XXXXXX");
    if (!mkdtemp(g_case)) return -1;
    g_own_case = true;
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/reference/make_model.py --out %s/st --cross %s/ce --ids %s && "
             "/usr/bin/python3 %s/tests/reference/torch_bert.py refs --st %s/st --ce %s/ce --case %s",
             src, g_case, g_case, g_case, src, g_case, g_case, g_case);
    return run(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    const char *outp = getenv("RAGC_TORCH_OUT");
    if (g_out && outp) json_dump_file(g_out, outp, JSON_COMPACT);
    json_decref(g_out);
    if (g_own_case) nftw(g_case, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void need_case(void) {
    if (g_case[0]) return;
    const char *req = getenv("RAGC_TORCH_REQUIRED");
    if (req && !strcmp(req, "1"))
        fail_msg("python3-torch is missing: /usr/bin/python3 cannot import torch and numpy "
                 "(apt-get install python3-torch)");
    skip();
}

static json_t *load_json(const char *name) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", g_case, name);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) fail_msg("%s: %s (line %d)", path, je.text, je.line);
    return j;
}

/* Sequences of ids.json as a batch: packed (pad = 0) or right-padded to the longest with mask 0
 * (pad = 1), as a tokenizer pads a batch for PyTorch. Arrays: caller frees. */
typedef struct batch_buf {
    int32_t *ids, *types, *mask;
    size_t *off;
    rag_bert_batch b;
} batch_buf;

static void make_batch(const json_t *spec, bool pad, batch_buf *bb) {
    const json_t *ids = json_object_get(spec, "ids"), *types = json_object_get(spec, "type_ids");
    size_t n = json_array_size(ids), T = 0;
    for (size_t i = 0; i < n; i++) {
        size_t L = json_array_size(json_array_get(ids, i));
        if (L > T) T = L;
    }
    bb->ids = calloc(n * T, sizeof(int32_t));
    bb->types = calloc(n * T, sizeof(int32_t));
    bb->mask = calloc(n * T, sizeof(int32_t));
    bb->off = calloc(n + 1, sizeof(size_t));
    size_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *seq = json_array_get(ids, i), *ts = types ? json_array_get(types, i) : NULL;
        size_t L = json_array_size(seq), W = pad ? T : L;
        bb->off[i] = rows;
        for (size_t k = 0; k < W; k++) {
            bb->ids[rows + k] = k < L ? (int32_t)json_integer_value(json_array_get(seq, k)) : 0;
            bb->types[rows + k] = (k < L && ts) ? (int32_t)json_integer_value(json_array_get(ts, k)) : 0;
            bb->mask[rows + k] = k < L;
        }
        rows += W;
    }
    bb->off[n] = rows;
    rag_bert_batch b = {.ids = bb->ids, .type_ids = bb->types, .mask = bb->mask, .offsets = bb->off,
                        .n_seq = n};
    bb->b = b;
}

static void free_batch(batch_buf *bb) {
    free(bb->ids), free(bb->types), free(bb->mask), free(bb->off);
}

static double max_err(const float *c, const json_t *ref, size_t n, size_t dim) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < dim; k++) {
            double r = json_number_value(json_array_get(json_array_get(ref, i), k));
            m = fmax(m, fabs((double)c[i * dim + k] - r));
        }
    return m;
}

static json_t *to_json(const float *v, size_t n, size_t dim) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array();
        for (size_t k = 0; k < dim; k++) json_array_append_new(row, json_real(v[i * dim + k]));
        json_array_append_new(a, row);
    }
    return a;
}

static void record(const char *key, json_t *value) {
    if (!g_out) g_out = json_object();
    json_object_set_new(g_out, key, value);
}

static void test_embeddings_match_torch(void **state) {
    (void)state;
    need_case();
    json_t *spec = load_json("ids_embed.json"), *ref = load_json("ref_embed.json");
    const json_t *emb = json_object_get(ref, "embeddings");
    char dir[600];
    snprintf(dir, sizeof dir, "%s/st", g_case);
    for (int threads = 1; threads <= 2; threads++) {
        rag_encoder_params p = rag_encoder_default_params();
        p.threads = threads;
        rag_encoder_t *e = NULL;
        rag_err err = {0};
        if (rag_encoder_load(dir, p, &e, &err) != RAG_OK) fail_msg("load %s: %s", dir, err.msg);
        size_t dim = rag_encoder_dim(e);
        assert_int_equal(dim, 384);
        for (int pad = 0; pad <= 1; pad++) {
            batch_buf bb;
            make_batch(spec, pad, &bb);
            assert_int_equal(bb.b.n_seq, json_array_size(emb));
            float *out = malloc(bb.b.n_seq * dim * sizeof *out);
            assert_int_equal(rag_encoder_embed_ids(e, &bb.b, out, &err), RAG_OK);
            double m = max_err(out, emb, bb.b.n_seq, dim);
            printf("embeddings: threads %d, %s batch of %zu: max abs error %.3g\n", threads,
                   pad ? "padded" : "packed", bb.b.n_seq, m);
            if (m > TOL) fail_msg("embeddings differ from PyTorch: max abs error %g > %g", m, TOL);
            if (threads == 2 && pad) record("embeddings", to_json(out, bb.b.n_seq, dim));
            /* one sequence at a time (the small-M gemm path for short ones) */
            for (size_t s = 0; s < bb.b.n_seq; s++) {
                size_t off[2] = {0, bb.off[s + 1] - bb.off[s]};
                rag_bert_batch one = {.ids = bb.ids + bb.off[s], .type_ids = bb.types + bb.off[s],
                                      .mask = bb.mask + bb.off[s], .offsets = off, .n_seq = 1};
                assert_int_equal(rag_encoder_embed_ids(e, &one, out, &err), RAG_OK);
                json_t *row = json_array();
                json_array_append(row, json_array_get(emb, s));
                double m1 = max_err(out, row, 1, dim);
                json_decref(row);
                if (m1 > TOL) fail_msg("sequence %zu alone: max abs error %g", s, m1);
            }
            free(out);
            free_batch(&bb);
        }
        rag_encoder_free(e);
    }
    json_decref(spec);
    json_decref(ref);
}

/* The optional int8 path: embeddings within cosine 0.999 of PyTorch's fp32 ones. */
static void test_int8_embeddings_cosine(void **state) {
    (void)state;
    need_case();
    json_t *spec = load_json("ids_embed.json"), *ref = load_json("ref_embed.json");
    const json_t *emb = json_object_get(ref, "embeddings");
    char dir[600];
    snprintf(dir, sizeof dir, "%s/st", g_case);
    rag_encoder_params p = rag_encoder_default_params();
    p.precision = RAG_BERT_PRECISION_INT8;
    rag_encoder_t *e = NULL;
    rag_err err = {0};
    rag_status st = rag_encoder_load(dir, p, &e, &err); /* int8 runs on every CPU */
    assert_int_equal(st, RAG_OK);
    batch_buf bb;
    make_batch(spec, true, &bb);
    size_t dim = rag_encoder_dim(e);
    float *out = malloc(bb.b.n_seq * dim * sizeof *out);
    assert_int_equal(rag_encoder_embed_ids(e, &bb.b, out, &err), RAG_OK);
    for (size_t s = 0; s < bb.b.n_seq; s++) {
        double d = 0, na = 0, nb = 0;
        for (size_t k = 0; k < dim; k++) {
            double r = json_number_value(json_array_get(json_array_get(emb, s), k));
            d += out[s * dim + k] * r;
            na += (double)out[s * dim + k] * out[s * dim + k];
            nb += r * r;
        }
        double c = d / sqrt(na * nb);
        printf("int8 embeddings: sequence %zu cosine to PyTorch fp32 %.6f\n", s, c);
        if (c < 0.999) fail_msg("int8 sequence %zu: cosine %f < 0.999", s, c);
    }
    free(out);
    free_batch(&bb);
    rag_encoder_free(e);
    json_decref(spec);
    json_decref(ref);
}

static void test_cross_logits_match_torch(void **state) {
    (void)state;
    need_case();
    json_t *spec = load_json("ids_cross.json"), *ref = load_json("ref_cross.json");
    const json_t *lg = json_object_get(ref, "logits");
    char dir[600];
    snprintf(dir, sizeof dir, "%s/ce", g_case);
    for (int threads = 1; threads <= 2; threads++) {
        rag_encoder_params p = rag_encoder_default_params();
        p.threads = threads;
        rag_cross_encoder_t *ce = NULL;
        rag_err err = {0};
        if (rag_cross_encoder_load(dir, p, &ce, &err) != RAG_OK) fail_msg("load %s: %s", dir, err.msg);
        size_t nl = rag_cross_encoder_num_labels(ce);
        assert_int_equal(nl, 1);
        for (int pad = 0; pad <= 1; pad++) {
            batch_buf bb;
            make_batch(spec, pad, &bb);
            float *out = malloc(bb.b.n_seq * nl * sizeof *out);
            assert_int_equal(rag_cross_encoder_score_ids(ce, &bb.b, out, &err), RAG_OK);
            double m = max_err(out, lg, bb.b.n_seq, nl);
            printf("cross-encoder logits: threads %d, %s batch of %zu: max abs error %.3g\n",
                   threads, pad ? "padded" : "packed", bb.b.n_seq, m);
            if (m > TOL) fail_msg("logits differ from PyTorch: max abs error %g > %g", m, TOL);
            if (threads == 2 && pad) record("logits", to_json(out, bb.b.n_seq, nl));
            free(out);
            free_batch(&bb);
        }
        rag_cross_encoder_free(ce);
    }
    json_decref(spec);
    json_decref(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embeddings_match_torch),
        cmocka_unit_test(test_cross_logits_match_torch),
        cmocka_unit_test(test_int8_embeddings_cosine),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
