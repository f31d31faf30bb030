/* BERT encoder forward pass on OpenBLAS sgemm (contract in include/ragc/encoder.h).
 *
 * Layout: hidden states are packed rows, (rows, H) row-major, no padding rows. Per layer:
 *   big[:, 0:3H] = x Wqkv^T + bqkv              fused Q|K|V projection, (rows, 3H)
 *   big[:, 0:H]  = softmax(Q K^T / sqrt(dh) + mask) V   per sequence and head: the context
 *                                               overwrites Q, which only its own head reads
 *   x            = LN(x + ctx Wo^T + bo)        sgemm with beta = 1 accumulates into x
 *   big[:, 0:I]  = act(x W1^T + b1)             (rows, I), reuses the QKV buffer
 *   x            = LN(x + big W2^T + b2)
 * Linear weights are Hugging Face (out, in) row-major, so every projection is
 * sgemm(NoTrans, Trans). The workspace (x, big, per-thread scores) is sized per call from
 * (rows, longest sequence) before the pass; the pass allocates nothing.
 *
 * Threads (see rag_bert_threading): SEQ gives each thread whole sequence groups (contiguous
 * rows, ~512 tokens, claimed dynamically) and runs every op on them without synchronisation;
 * SPLIT has all threads share each op (gemm column blocks, (sequence, head) attention items,
 * LayerNorm rows), claiming chunks from per-op counters and waiting for the op's completion count
 * before the next op. In both OpenBLAS runs single-threaded inside each thread; gemms of at most
 * 32 rows use rag_bk_gemm_nt (reads the weights in place) instead.
 *
 * INT8 (rag_bk_q8_*): the four linear layers take quantized rows of ws.qa. The embedding and
 * the LayerNorms quantize the rows they write (the next QKV / FFN1 input); the attention
 * context is quantized before its projection; in SEQ scopes FFN1 runs row block by row block
 * into a per-thread buffer and straight into FFN2's quantized input (rag_bk_q8_gemm_quant),
 * SPLIT scopes write it to big and quantize it as an op of its own: the same bytes either way.
 * Attention uses rag_bk_attention_bf16 where the CPU has AVX512-BF16. One thread walks the
 * batch in runs of ~SEQ_GROUP_TOKENS tokens through all layers (activations stay in cache).
 */
#include <cblas.h>
#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ragc/encoder.h"
#include "ragc/safetensors.h"
#include "local/bert_kernels.h"

#define CONFIG_MAX_BYTES ((size_t)1 << 20)
#define MAX_THREADS 256
#define GROUPS_PER_THREAD 4    /* SEQ mode: at most this many sequence groups per thread */
#define SEQ_GROUP_TOKENS 512   /* SEQ mode: target tokens per group (gemm rows stay efficient) */
#define CHUNKS_PER_THREAD 3    /* SPLIT mode: chunks per thread and op */

/* ================================================================ thread pool ==== */
/* Workers wait for a new job generation (spinning briefly, then on a condition variable), run
 * fn(arg, index) and count down `pending`; the caller runs index 0 itself. */
typedef void (*job_fn)(void *arg, int t);

typedef struct pool {
    int n; /* threads including the caller */
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;
    atomic_int pending;
    atomic_bool stop;
    job_fn fn;
    void *arg;
} pool;

typedef struct worker_arg {
    pool *p;
    int index;
} worker_arg;

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *v) {
    worker_arg *wa = v;
    pool *p = wa->p;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int i = 0; g == seen && i < 20000; i++) {
            cpu_relax();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen)
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (atomic_load(&p->stop)) break;
        p->fn(p->arg, wa->index);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
    free(wa);
    return NULL;
}

static void pool_free(pool *p) {
    if (!p) return;
    if (p->th) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->stop, true);
        atomic_fetch_add(&p->gen, 1);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->n; i++)
            if (p->th[i]) pthread_join(p->th[i], NULL);
        free(p->th);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

static rag_status pool_create(int n, pool **out, rag_err *err) {
    pool *p = calloc(1, sizeof *p);
    if (!p) return rag_err_set(err, RAG_E_NOMEM, "bert: out of memory for the thread pool");
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, false);
    p->th = calloc((size_t)n, sizeof *p->th);
    if (!p->th) { pool_free(p); return rag_err_set(err, RAG_E_NOMEM, "bert: out of memory"); }
    for (int i = 1; i < n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) { wa->p = p; wa->index = i; }
        int rc = wa ? pthread_create(&p->th[i], NULL, worker_main, wa) : ENOMEM;
        if (rc != 0) {
            free(wa);
            p->th[i] = 0;
            pool_free(p);
            return rag_err_set(err, RAG_E_NOMEM, "bert: cannot start thread %d of %d: %s", i, n,
                               strerror(rc));
        }
    }
    *out = p;
    return RAG_OK;
}

static void pool_run(pool *p, job_fn fn, void *arg) {
    if (p->n == 1) { fn(arg, 0); return; }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_release);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0);
    for (unsigned i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) != 0; i++) {
        if (i < 4000) cpu_relax();
        else sched_yield();
    }
}

/* ================================================================ model ==== */
typedef struct bert_layer {
    float *qkv_w;               /* (3H, H): query rows, then key, then value; owned */
    float *qkv_b;               /* (3H); owned */
    const float *ao_w, *ao_b;   /* attention.output.dense (H, H), (H) */
    const float *ln1_w, *ln1_b; /* attention.output.LayerNorm (H) */
    const float *ff1_w, *ff1_b; /* intermediate.dense (I, H), (I) */
    const float *ff2_w, *ff2_b; /* output.dense (H, I), (H) */
    const float *ln2_w, *ln2_b; /* output.LayerNorm (H) */
    rag_bk_q8w qkv_q, ao_q, ff1_q, ff2_q; /* INT8 precision: packed copies of the four weights */
} bert_layer;

typedef struct workspace {
    float *x;        /* (rows, H) */
    float *big;      /* (rows, wide) */
    float *scores;   /* threads x [(lmax, lp) scores + (dh, lp) keys^T], lp = lmax to 32 */
    uint8_t *qa;     /* INT8: (rows, ldq) quantized gemm inputs */
    float *sa, *za;  /* INT8: (rows) their scales and offsets */
    float *rowbuf;   /* INT8: threads x RAG_BK_Q8_BLOCK_ROWS x I floats, FFN1 rows on their
                      * way to FFN2's quantized input (rag_bk_q8_gemm_quant) */
    size_t ldq;      /* INT8: 4 * ceil(max(H, I) / 4) rounded up to 64 */
    size_t wide;     /* row stride of big: max(3H, I), the same for QKV and FFN so that row r
                      * is one region and SEQ threads never overlap */
    size_t rows_cap, lmax_cap;
} workspace;

struct rag_bert {
    rag_bert_config cfg;
    rag_bert_params params;
    int threads;
    rag_st_file *st;          /* open for the model's lifetime: F32 weights point into it */
    float **owned;            /* converted and fused tensors, freed with the model */
    size_t n_owned, cap_owned;
    const float *word, *pos, *type, *emb_ln_w, *emb_ln_b;
    bert_layer *layers;       /* num_layers */
    const float *pool_w, *pool_b, *cls_w, *cls_b;
    float *head_tmp;          /* (H) pooler output of one row */
    size_t *part;             /* (threads * GROUPS_PER_THREAD + 1) SEQ groups of the current call */
    atomic_size_t *op_next;   /* (n_ops) SPLIT mode: next chunk to claim per op */
    atomic_size_t *op_done;   /* (n_ops) SPLIT mode: chunks finished per op */
    size_t n_ops;             /* 1 + 11 * num_layers */
    bool q8;                  /* INT8 precision */
    bool small_gemm;          /* rag_bk_gemm_nt usable on this CPU */
    bool fast_attention;      /* rag_bk_attention usable (CPU and head size) */
    bool bf16_attention;      /* INT8: rag_bk_attention_bf16 usable (CPU and head size) */
    size_t small_m_rows;      /* gemms of at most this many rows use it */
    workspace ws;
    pool *pool;
};

rag_bert_params rag_bert_default_params(void) {
    rag_bert_params p = {.threads = 0, .threading = RAG_BERT_THREADING_AUTO,
                         .precision = RAG_BERT_PRECISION_F32, .small_gemm_rows = 0};
    return p;
}

const rag_bert_config *rag_bert_get_config(const rag_bert_t *m) { return m ? &m->cfg : NULL; }
int rag_bert_threads(const rag_bert_t *m) { return m ? m->threads : 0; }

/* CPUs this process may use: the affinity mask, capped by a cgroup v2 quota ("200000 100000"
 * in /sys/fs/cgroup/cpu.max = 2 CPUs), which containers such as Hugging Face Spaces set while
 * showing every host CPU. */
static int cpus_available(void) {
    int n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (f) {
        char quota[32] = "";
        long period = 0;
        if (fscanf(f, "%31s %ld", quota, &period) == 2 && strcmp(quota, "max") != 0 && period > 0) {
            long q = strtol(quota, NULL, 10);
            int cap = (int)((q + period - 1) / period);
            if (cap >= 1 && cap < n) n = cap;
        }
        fclose(f);
    }
    return n > MAX_THREADS ? MAX_THREADS : n;
}

/* ---- config.json ---- */
static rag_status cfg_size(json_t *root, const char *path, const char *key, size_t lo, size_t hi,
                           bool required, size_t def, size_t *out, rag_err *err) {
    json_t *v = json_object_get(root, key);
    if (!v) {
        if (required) return rag_err_set(err, RAG_E_BAD_INPUT, "%s: missing \"%s\"", path, key);
        *out = def;
        return RAG_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)lo ||
        (uint64_t)json_integer_value(v) > hi)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: \"%s\" must be an integer in [%zu, %zu]",
                           path, key, lo, hi);
    *out = (size_t)json_integer_value(v);
    return RAG_OK;
}

static rag_status parse_config(const char *dir, rag_bert_config *c, rag_err *err) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/config.json", dir) >= (int)sizeof path)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: model path too long", dir);
    char *text = NULL;
    size_t len = 0;
    rag_status st = rag_read_file(path, CONFIG_MAX_BYTES, &text, &len, err);
    if (st != RAG_OK) return st;
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    free(text);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: not a JSON object (line %d: %s)", path,
                           je.line, root ? "top level is not an object" : je.text);
    }
    memset(c, 0, sizeof *c);
    const char *s;
    json_t *v;
    if ((v = json_object_get(root, "model_type")) && (s = json_string_value(v)) &&
        strcmp(s, "bert") != 0) {
        st = rag_err_set(err, RAG_E_UNSUPPORTED,
                         "%s: model_type \"%s\" is not supported (bert only)", path, s);
        goto done;
    }
    if ((v = json_object_get(root, "position_embedding_type")) && (s = json_string_value(v)) &&
        strcmp(s, "absolute") != 0) {
        st = rag_err_set(err, RAG_E_UNSUPPORTED,
                         "%s: position_embedding_type \"%s\" is not supported (absolute only)",
                         path, s);
        goto done;
    }
    c->act = RAG_BERT_ACT_GELU;
    if ((v = json_object_get(root, "hidden_act"))) {
        s = json_string_value(v);
        if (s && strcmp(s, "gelu") == 0) c->act = RAG_BERT_ACT_GELU;
        else if (s && (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") ||
                       !strcmp(s, "gelu_fast")))
            c->act = RAG_BERT_ACT_GELU_TANH;
        else if (s && strcmp(s, "relu") == 0) c->act = RAG_BERT_ACT_RELU;
        else {
            st = rag_err_set(err, RAG_E_UNSUPPORTED, "%s: hidden_act %s%s%s is not supported "
                             "(gelu, gelu_new, gelu_pytorch_tanh, relu)", path, s ? "\"" : "",
                             s ? s : "(not a string)", s ? "\"" : "");
            goto done;
        }
    }
    if ((st = cfg_size(root, path, "hidden_size", 1, 16384, true, 0, &c->hidden_size, err)) ||
        (st = cfg_size(root, path, "num_hidden_layers", 1, 256, true, 0, &c->num_layers, err)) ||
        (st = cfg_size(root, path, "num_attention_heads", 1, 1024, true, 0, &c->num_heads, err)) ||
        (st = cfg_size(root, path, "intermediate_size", 1, 65536, true, 0, &c->intermediate_size,
                       err)) ||
        (st = cfg_size(root, path, "max_position_embeddings", 1, 65536, true, 0, &c->max_position,
                       err)) ||
        (st = cfg_size(root, path, "type_vocab_size", 1, 1024, false, 2, &c->type_vocab_size,
                       err)) ||
        (st = cfg_size(root, path, "vocab_size", 1, 10000000, true, 0, &c->vocab_size, err)))
        goto done;
    if (c->hidden_size % c->num_heads != 0) {
        st = rag_err_set(err, RAG_E_BAD_INPUT,
                         "%s: hidden_size %zu is not a multiple of num_attention_heads %zu", path,
                         c->hidden_size, c->num_heads);
        goto done;
    }
    c->layer_norm_eps = 1e-12f;
    if ((v = json_object_get(root, "layer_norm_eps"))) {
        double e = json_number_value(v);
        if (!json_is_number(v) || !(e > 0 && e < 1)) {
            st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: layer_norm_eps must be a number in (0, 1)",
                             path);
            goto done;
        }
        c->layer_norm_eps = (float)e;
    }
done:
    json_decref(root);
    return st;
}

/* ---- weights ---- */
static rag_status own(rag_bert_t *m, float *p, rag_err *err) {
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? m->cap_owned * 2 : 64;
        float **o = realloc(m->owned, cap * sizeof *o);
        if (!o) { free(p); return rag_err_set(err, RAG_E_NOMEM, "bert: out of memory"); }
        m->owned = o;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return RAG_OK;
}

/* Finds prefix+name with shape (d0) or (d0, d1) (d1 == 0: 1-D). */
static rag_status find_tensor(rag_bert_t *m, const char *file, const char *prefix,
                              const char *name, size_t d0, size_t d1, bool optional,
                              const rag_st_tensor **out, rag_err *err) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const rag_st_tensor *t = rag_st_find(m->st, full);
    *out = NULL;
    if (!t) {
        if (optional) return RAG_OK;
        return rag_err_set(err, RAG_E_NOT_FOUND, "%s: tensor \"%s\" is missing", file, full);
    }
    size_t want = d1 ? 2 : 1;
    if (t->n_dims != want || (size_t)t->shape[0] != d0 || (d1 && (size_t)t->shape[1] != d1)) {
        char got[96] = "";
        size_t o = 0;
        for (size_t i = 0; i < t->n_dims && o < sizeof got - 24; i++)
            o += (size_t)snprintf(got + o, sizeof got - o, "%s%lld", i ? ", " : "",
                                  (long long)t->shape[i]);
        if (d1)
            return rag_err_set(err, RAG_E_BAD_INPUT, "%s: tensor \"%s\" has shape [%s], expected "
                               "[%zu, %zu] from config.json", file, full, got, d0, d1);
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: tensor \"%s\" has shape [%s], expected [%zu] "
                           "from config.json", file, full, got, d0);
    }
    *out = t;
    return RAG_OK;
}

/* *out = f32 view of the tensor: in place when F32 and aligned (little-endian host), else a
 * converted copy owned by m. */
static rag_status load_f32(rag_bert_t *m, const char *file, const char *prefix, const char *name,
                           size_t d0, size_t d1, bool optional, const float **out, rag_err *err) {
    const rag_st_tensor *t;
    *out = NULL;
    rag_status st = find_tensor(m, file, prefix, name, d0, d1, optional, &t, err);
    if (st != RAG_OK || !t) return st;
    size_t n = d0 * (d1 ? d1 : 1);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (t->dtype == RAG_ST_F32 && ((uintptr_t)t->data % _Alignof(float)) == 0) {
        *out = t->data;
        return RAG_OK;
    }
#endif
    float *p = malloc(n * sizeof *p);
    if (!p) return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory for \"%s\"", file, name);
    if ((st = rag_st_read_f32(t, p, n, err)) != RAG_OK) {
        free(p);
        rag_err_prefix(err, "%s: ", file);
        return st;
    }
    if ((st = own(m, p, err)) != RAG_OK) return st;
    *out = p;
    return RAG_OK;
}

/* Reads the tensor converted to f32 into dst (n elements). */
static rag_status read_into(rag_bert_t *m, const char *file, const char *prefix, const char *name,
                            size_t d0, size_t d1, float *dst, rag_err *err) {
    const rag_st_tensor *t;
    rag_status st = find_tensor(m, file, prefix, name, d0, d1, false, &t, err);
    if (st != RAG_OK) return st;
    if ((st = rag_st_read_f32(t, dst, d0 * (d1 ? d1 : 1), err)) != RAG_OK)
        rag_err_prefix(err, "%s: ", file);
    return st;
}

/* Touches one byte per page of a weight so the first forward pass does not page-fault. */
static unsigned prefault(const float *p, size_t n) {
    const volatile unsigned char *b = (const volatile unsigned char *)p;
    unsigned acc = 0;
    for (size_t i = 0; i < n * sizeof(float); i += 4096) acc += b[i];
    return acc;
}

static rag_status load_weights(rag_bert_t *m, const char *file, rag_err *err) {
    const rag_bert_config *c = &m->cfg;
    const size_t H = c->hidden_size, NI = c->intermediate_size;
    const char *prefix = "";
    if (!rag_st_find(m->st, "embeddings.word_embeddings.weight") &&
        rag_st_find(m->st, "bert.embeddings.word_embeddings.weight"))
        prefix = "bert.";
    rag_status st;
    if ((st = load_f32(m, file, prefix, "embeddings.word_embeddings.weight", c->vocab_size, H,
                       false, &m->word, err)) ||
        (st = load_f32(m, file, prefix, "embeddings.position_embeddings.weight", c->max_position,
                       H, false, &m->pos, err)) ||
        (st = load_f32(m, file, prefix, "embeddings.token_type_embeddings.weight",
                       c->type_vocab_size, H, false, &m->type, err)) ||
        (st = load_f32(m, file, prefix, "embeddings.LayerNorm.weight", H, 0, false, &m->emb_ln_w,
                       err)) ||
        (st = load_f32(m, file, prefix, "embeddings.LayerNorm.bias", H, 0, false, &m->emb_ln_b,
                       err)))
        return st;
    m->layers = calloc(c->num_layers, sizeof *m->layers);
    if (!m->layers) return rag_err_set(err, RAG_E_NOMEM, "bert: out of memory");
    unsigned touched = 0;
    for (size_t l = 0; l < c->num_layers; l++) {
        bert_layer *L = &m->layers[l];
        char n[160];
#define LNAME(s) (snprintf(n, sizeof n, "encoder.layer.%zu.%s", l, s), n)
        L->qkv_w = malloc(3 * H * H * sizeof(float));
        L->qkv_b = malloc(3 * H * sizeof(float));
        if (!L->qkv_w || !L->qkv_b) {
            free(L->qkv_w);
            free(L->qkv_b);
            L->qkv_w = L->qkv_b = NULL;
            return rag_err_set(err, RAG_E_NOMEM, "bert: out of memory for layer %zu", l);
        }
        static const char *const qkv[3] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++) {
            char wn[64], bn[64];
            snprintf(wn, sizeof wn, "attention.self.%s.weight", qkv[k]);
            snprintf(bn, sizeof bn, "attention.self.%s.bias", qkv[k]);
            if ((st = read_into(m, file, prefix, LNAME(wn), H, H, L->qkv_w + k * H * H, err)) ||
                (st = read_into(m, file, prefix, LNAME(bn), H, 0, L->qkv_b + k * H, err)))
                return st;
        }
        if ((st = load_f32(m, file, prefix, LNAME("attention.output.dense.weight"), H, H, false,
                           &L->ao_w, err)) ||
            (st = load_f32(m, file, prefix, LNAME("attention.output.dense.bias"), H, 0, false,
                           &L->ao_b, err)) ||
            (st = load_f32(m, file, prefix, LNAME("attention.output.LayerNorm.weight"), H, 0,
                           false, &L->ln1_w, err)) ||
            (st = load_f32(m, file, prefix, LNAME("attention.output.LayerNorm.bias"), H, 0,
                           false, &L->ln1_b, err)) ||
            (st = load_f32(m, file, prefix, LNAME("intermediate.dense.weight"), NI, H, false,
                           &L->ff1_w, err)) ||
            (st = load_f32(m, file, prefix, LNAME("intermediate.dense.bias"), NI, 0, false,
                           &L->ff1_b, err)) ||
            (st = load_f32(m, file, prefix, LNAME("output.dense.weight"), H, NI, false, &L->ff2_w,
                           err)) ||
            (st = load_f32(m, file, prefix, LNAME("output.dense.bias"), H, 0, false, &L->ff2_b,
                           err)) ||
            (st = load_f32(m, file, prefix, LNAME("output.LayerNorm.weight"), H, 0, false,
                           &L->ln2_w, err)) ||
            (st = load_f32(m, file, prefix, LNAME("output.LayerNorm.bias"), H, 0, false,
                           &L->ln2_b, err)))
            return st;
#undef LNAME
        touched += prefault(L->ao_w, H * H) + prefault(L->ff1_w, NI * H) +
                   prefault(L->ff2_w, H * NI);
    }
    (void)touched;
    if ((st = load_f32(m, file, prefix, "pooler.dense.weight", H, H, true, &m->pool_w, err)) ||
        (st = load_f32(m, file, prefix, "pooler.dense.bias", H, 0, m->pool_w == NULL, &m->pool_b,
                       err)))
        return st;
    m->cfg.has_pooler = m->pool_w != NULL;
    const rag_st_tensor *cw = rag_st_find(m->st, "classifier.weight");
    if (cw) {
        if (cw->n_dims != 2 || cw->shape[0] < 1 || cw->shape[0] > 4096)
            return rag_err_set(err, RAG_E_BAD_INPUT, "%s: tensor \"classifier.weight\" must be "
                               "[num_labels (1..4096), %zu]", file, H);
        size_t nl = (size_t)cw->shape[0];
        if ((st = load_f32(m, file, "", "classifier.weight", nl, H, false, &m->cls_w, err)) ||
            (st = load_f32(m, file, "", "classifier.bias", nl, 0, false, &m->cls_b, err)))
            return st;
        m->cfg.num_labels = nl;
    }
    return RAG_OK;
}

void rag_bert_free(rag_bert_t *m) {
    if (!m) return;
    pool_free(m->pool);
    if (m->layers) {
        for (size_t l = 0; l < m->cfg.num_layers; l++) {
            bert_layer *L = &m->layers[l];
            free(L->qkv_w);
            free(L->qkv_b);
            rag_bk_q8w_free(&L->qkv_q);
            rag_bk_q8w_free(&L->ao_q);
            rag_bk_q8w_free(&L->ff1_q);
            rag_bk_q8w_free(&L->ff2_q);
        }
        free(m->layers);
    }
    for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->ws.x);
    free(m->ws.big);
    free(m->ws.scores);
    free(m->ws.qa);
    free(m->ws.sa);
    free(m->ws.za);
    free(m->ws.rowbuf);
    free(m->head_tmp);
    free(m->part);
    free(m->op_next);
    free(m->op_done);
    rag_st_close(m->st);
    free(m);
}

rag_status rag_bert_load(const char *dir, rag_bert_params params, rag_bert_t **out, rag_err *err) {
    if (!out) return rag_err_set(err, RAG_E_INTERNAL, "rag_bert_load: out is NULL");
    *out = NULL;
    if (!dir) return rag_err_set(err, RAG_E_CONFIG, "rag_bert_load: model directory is NULL");
    if (params.threads < 0 || params.threads > MAX_THREADS)
        return rag_err_set(err, RAG_E_CONFIG, "bert: threads %d out of range [0, %d]",
                           params.threads, MAX_THREADS);
    if ((unsigned)params.threading > RAG_BERT_THREADING_BLAS)
        return rag_err_set(err, RAG_E_CONFIG, "bert: unknown threading mode %d",
                           (int)params.threading);
    if ((unsigned)params.precision > RAG_BERT_PRECISION_INT8)
        return rag_err_set(err, RAG_E_CONFIG, "bert: unknown precision %d", (int)params.precision);
    rag_bert_t *m = calloc(1, sizeof *m);
    if (!m) return rag_err_set(err, RAG_E_NOMEM, "bert: out of memory");
    m->params = params;
    m->threads = params.threads ? params.threads : cpus_available();
    m->small_gemm = rag_bk_gemm_nt_available() && params.small_gemm_rows >= 0;
    m->small_m_rows = params.small_gemm_rows > 0 ? (size_t)params.small_gemm_rows : 32;
    rag_status st = parse_config(dir, &m->cfg, err);
    if (st != RAG_OK) goto fail;
    char file[4096];
    if (snprintf(file, sizeof file, "%s/model.safetensors", dir) >= (int)sizeof file) {
        st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: model path too long", dir);
        goto fail;
    }
    struct stat sb;
    if (stat(file, &sb) != 0) {
        char idx[4200];
        snprintf(idx, sizeof idx, "%s.index.json", file);
        if (stat(idx, &sb) == 0)
            st = rag_err_set(err, RAG_E_UNSUPPORTED, "%s: sharded checkpoints are not supported",
                             idx);
        else
            st = rag_err_set(err, RAG_E_NOT_FOUND, "%s: %s (a model.safetensors is required)",
                             file, strerror(errno));
        goto fail;
    }
    if ((st = rag_st_open(file, &m->st, err)) != RAG_OK) goto fail;
    if ((st = load_weights(m, file, err)) != RAG_OK) goto fail;
    m->q8 = params.precision == RAG_BERT_PRECISION_INT8;
    m->fast_attention = rag_bk_attention_available(m->cfg.hidden_size / m->cfg.num_heads);
    m->bf16_attention = m->q8 && rag_bk_attention_bf16_available(m->cfg.hidden_size /
                                                                 m->cfg.num_heads);
    if (m->q8) {
        const size_t H = m->cfg.hidden_size, NI = m->cfg.intermediate_size;
        for (size_t l = 0; l < m->cfg.num_layers; l++) {
            bert_layer *L = &m->layers[l];
            if (!rag_bk_q8w_pack(L->qkv_w, 3 * H, H, &L->qkv_q) ||
                !rag_bk_q8w_pack(L->ao_w, H, H, &L->ao_q) ||
                !rag_bk_q8w_pack(L->ff1_w, NI, H, &L->ff1_q) ||
                !rag_bk_q8w_pack(L->ff2_w, H, NI, &L->ff2_q)) {
                st = rag_err_set(err, RAG_E_NOMEM, "bert: out of memory for int8 weights");
                goto fail;
            }
        }
    }
    m->head_tmp = malloc(m->cfg.hidden_size * sizeof(float));
    m->part = calloc((size_t)m->threads * GROUPS_PER_THREAD + 1, sizeof *m->part);
    m->n_ops = 1 + 11 * m->cfg.num_layers; /* embedding; per layer 7 ops + 4 int8 quantizations */
    m->op_next = calloc(m->n_ops, sizeof *m->op_next);
    m->op_done = calloc(m->n_ops, sizeof *m->op_done);
    if (!m->head_tmp || !m->part || !m->op_next || !m->op_done) {
        st = rag_err_set(err, RAG_E_NOMEM, "bert: out of memory");
        goto fail;
    }
    int pool_n = params.threading == RAG_BERT_THREADING_BLAS ? 1 : m->threads;
    if ((st = pool_create(pool_n, &m->pool, err)) != RAG_OK) goto fail;
    *out = m;
    return RAG_OK;
fail:
    rag_bert_free(m);
    return st;
}

/* ================================================================ forward ==== */
typedef struct fwd_job {
    rag_bert_t *m;
    const rag_bert_batch *b;
    size_t rows;
    int P;              /* threads in this job */
    bool seq;           /* SEQ mode: threads take groups [part[g], part[g+1]) of sequences */
    size_t n_groups;
    size_t walk_tokens; /* > 0 (one thread): walk the sequences in runs of at most this many
                         * tokens (or one sequence) instead of taking part[] groups */
    atomic_size_t next; /* next group to take */
} fwd_job;

/* C[r0:r1, n0:n1] = beta C + A[r0:r1, :] W[n0:n1, :]^T, W (N, K) row-major. Up to
 * small_m_rows rows the in-place kernel beats OpenBLAS, whose packing of W then dominates. */
static void gemm_rows_cols(const rag_bert_t *m, const float *A, size_t lda, const float *W,
                           size_t K, float *C, size_t ldc, size_t r0, size_t r1, size_t n0,
                           size_t n1, float beta) {
    if (r1 <= r0 || n1 <= n0) return;
    if (m->small_gemm && r1 - r0 <= m->small_m_rows) {
        rag_bk_gemm_nt(A + r0 * lda, lda, W + n0 * K, K, C + r0 * ldc + n0, ldc, r1 - r0, n1 - n0,
                       K, beta);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)(r1 - r0), (blasint)(n1 - n0),
                (blasint)K, 1.0f, A + r0 * lda, (blasint)lda, W + n0 * K, (blasint)K, beta,
                C + r0 * ldc + n0, (blasint)ldc);
}

/* What thread t computes in one pass: in SEQ mode every row and column of sequences [s0, s1)
 * alone; in SPLIT mode the threads share each op of the whole batch, claiming chunks (gemm
 * column blocks, (sequence, head) items, row blocks) from per-op counters: op k is finished when
 * done[k] reaches its chunk count, so a thread that is descheduled delays the others only while
 * it holds a chunk, never by not arriving. */
typedef struct scope {
    bool seq;
    int t, P;
    size_t s0, s1;   /* sequences */
    size_t o0, o1;   /* rows for row-wise ops (embedding, LayerNorm) */
    size_t g0, g1;   /* rows of gemms */
    size_t op;       /* SPLIT: index of the current op */
    bool holding;    /* SPLIT: a claimed chunk not yet counted in done[op] */
    bool given;      /* SEQ: the single chunk of the current op was returned */
} scope;

/* Next chunk [lo, hi) of an op over `total` units in chunks of `chunk`; false when none left. */
static bool next_chunk(rag_bert_t *m, scope *sc, size_t total, size_t chunk, size_t *lo,
                       size_t *hi) {
    if (sc->seq) {
        if (sc->given || total == 0) { sc->given = false; return false; }
        sc->given = true;
        *lo = 0;
        *hi = total;
        return true;
    }
    if (sc->holding) {
        atomic_fetch_add_explicit(&m->op_done[sc->op], 1, memory_order_release);
        sc->holding = false;
    }
    size_t n = (total + chunk - 1) / chunk;
    size_t c = atomic_fetch_add_explicit(&m->op_next[sc->op], 1, memory_order_relaxed);
    if (c >= n) return false;
    *lo = c * chunk;
    *hi = *lo + chunk < total ? *lo + chunk : total;
    sc->holding = true;
    return true;
}

/* Waits until every chunk of the current op is done (SPLIT), then moves to the next op. */
static void op_end(rag_bert_t *m, scope *sc, size_t total, size_t chunk) {
    if (sc->seq) return;
    size_t n = (total + chunk - 1) / chunk;
    for (unsigned i = 0; atomic_load_explicit(&m->op_done[sc->op], memory_order_acquire) < n; i++) {
        if (i < 4000) cpu_relax();
        else sched_yield();
    }
    sc->op++;
}

/* Chunk sizes in SPLIT mode: about CHUNKS_PER_THREAD chunks per thread and op for few rows
 * (a query: cheap chunks, and a preempted thread holds back little), one per thread for many
 * rows (each sgemm call packs all of A again). */
static size_t col_chunk(const scope *sc, size_t N) {
    const size_t per = sc->g1 - sc->g0 <= 256 ? CHUNKS_PER_THREAD : 1;
    size_t c = N / ((size_t)sc->P * per);
    if (c < 32) c = 32;
    return (c + RAG_BK_Q8_NR - 1) / RAG_BK_Q8_NR * RAG_BK_Q8_NR; /* int8 panel multiple */
}
static size_t row_chunk(const scope *sc, size_t rows) {
    size_t c = rows / ((size_t)sc->P * CHUNKS_PER_THREAD);
    return c < 4 ? 4 : c;
}

static void embed_rows(const fwd_job *j, size_t r0, size_t r1) {
    const rag_bert_t *m = j->m;
    const rag_bert_batch *b = j->b;
    const size_t H = m->cfg.hidden_size;
    if (r0 >= r1) return;
    /* first sequence containing r0 */
    size_t lo = 0, hi = b->n_seq;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (b->offsets[mid] <= r0) lo = mid;
        else hi = mid;
    }
    for (size_t s = lo, r = r0; r < r1; s++) {
        size_t end = b->offsets[s + 1] < r1 ? b->offsets[s + 1] : r1;
        for (; r < end; r++) {
            size_t p = r - b->offsets[s];
            int32_t tt = b->type_ids ? b->type_ids[r] : 0;
            float *x = m->ws.x + r * H;
            rag_bk_add3(x, m->word + (size_t)b->ids[r] * H, m->pos + p * H,
                        m->type + (size_t)tt * H, H);
            rag_bk_layernorm(x, NULL, m->emb_ln_w, m->emb_ln_b, H, m->cfg.layer_norm_eps);
            if (m->q8) /* the first QKV input, quantized while the row is in L1 */
                rag_bk_q8_quantize_rows(x, H, 1, H, m->ws.qa + r * m->ws.ldq, m->ws.ldq,
                                        m->ws.sa + r, m->ws.za + r);
        }
    }
}

/* Self-attention of head h of sequence s: the context replaces Q of (s, h) in big. */
static void attend(const fwd_job *j, int t, size_t s, size_t h) {
    const rag_bert_t *m = j->m;
    const size_t H = m->cfg.hidden_size, dh = H / m->cfg.num_heads, ld = m->ws.wide;
    const size_t r0 = j->b->offsets[s], L = j->b->offsets[s + 1] - r0;
    const float *q = m->ws.big + r0 * ld + h * dh;
    const size_t lp = RAG_BK_ATT_LP(m->ws.lmax_cap);
    float *S = m->ws.scores + (size_t)t * (m->ws.lmax_cap * lp + dh * lp);
    const int32_t *km = j->b->mask ? j->b->mask + r0 : NULL;
    if (km) { /* a mask without zeros needs no masking */
        size_t z = 0;
        while (z < L && km[z]) z++;
        if (z == L) km = NULL;
    }
    if (m->bf16_attention) {
        rag_bk_attention_bf16(q, q + H, q + 2 * H, ld, L, dh, 1.0f / sqrtf((float)dh), km, S,
                              S + m->ws.lmax_cap * lp, m->ws.big + r0 * ld + h * dh, ld);
        return;
    }
    if (m->fast_attention) {
        rag_bk_attention(q, q + H, q + 2 * H, ld, L, dh, 1.0f / sqrtf((float)dh), km, S,
                         S + m->ws.lmax_cap * lp, m->ws.big + r0 * ld + h * dh, ld);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)L, (blasint)L, (blasint)dh,
                1.0f / sqrtf((float)dh), q, (blasint)ld, q + H, (blasint)ld, 0.0f, S, (blasint)L);
    for (size_t i = 0; i < L; i++) rag_bk_softmax(S + i * L, L, km);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)L, (blasint)dh, (blasint)L,
                1.0f, S, (blasint)L, q + 2 * H, (blasint)ld, 0.0f, m->ws.big + r0 * ld + h * dh,
                (blasint)ld);
}

static void bias_act_block(float *C, size_t ldc, const float *bias, size_t r0, size_t r1,
                           size_t n0, size_t n1, int act) {
    if (n1 <= n0) return;
    for (size_t r = r0; r < r1; r++) rag_bk_bias_act(C + r * ldc + n0, bias + n0, n1 - n0, act);
}

/* One linear layer over the scope's gemm rows: C = [beta C +] A W^T, then act(C + bias) when
 * bias is given (else the bias is left to the following LayerNorm). INT8: the rows of A are
 * quantized first (an op of its own in SPLIT mode) unless a_quantized (ws.qa, sa, za hold
 * them already), then multiplied by the packed qw. */
static void linear(fwd_job *j, scope *sc, const float *A, size_t lda, bool a_quantized,
                   const float *W, const rag_bk_q8w *qw, size_t K, size_t N, float *C, size_t ldc,
                   float beta, const float *bias, int act) {
    rag_bert_t *m = j->m;
    const size_t g0 = sc->g0, g1 = sc->g1, ck = col_chunk(sc, N);
    size_t lo, hi;
    if (m->q8) {
        const workspace *w = &m->ws;
        const size_t nr = g1 - g0, rck = row_chunk(sc, nr);
        if (!a_quantized) {
            while (next_chunk(m, sc, nr, rck, &lo, &hi))
                rag_bk_q8_quantize_rows(A + (g0 + lo) * lda, lda, hi - lo, K,
                                        w->qa + (g0 + lo) * w->ldq, w->ldq, w->sa + g0 + lo,
                                        w->za + g0 + lo);
            op_end(m, sc, nr, rck);
        }
        while (next_chunk(m, sc, N, ck, &lo, &hi)) {
            rag_bk_q8_gemm(w->qa + g0 * w->ldq, w->ldq, w->sa + g0, w->za + g0, nr, qw, lo, hi,
                           C + g0 * ldc, ldc, beta, bias, act);
        }
        op_end(m, sc, N, ck);
        return;
    }
    while (next_chunk(m, sc, N, ck, &lo, &hi)) {
        gemm_rows_cols(m, A, lda, W, K, C, ldc, g0, g1, lo, hi, beta);
        if (bias) bias_act_block(C, ldc, bias, g0, g1, lo, hi, act);
    }
    op_end(m, sc, N, ck);
}

/* x = LN(x + pre) over the scope's rows; quantize: each row also into ws.qa (the next
 * int8 linear layer's input) while it is in L1. */
static void layernorm_rows(fwd_job *j, scope *sc, const float *pre, const float *w,
                           const float *b, bool quantize) {
    const workspace *ws = &j->m->ws;
    const size_t H = j->m->cfg.hidden_size, n = sc->o1 - sc->o0, ck = row_chunk(sc, n);
    size_t lo, hi;
    while (next_chunk(j->m, sc, n, ck, &lo, &hi))
        for (size_t r = sc->o0 + lo; r < sc->o0 + hi; r++) {
            rag_bk_layernorm(ws->x + r * H, pre, w, b, H, j->m->cfg.layer_norm_eps);
            if (quantize)
                rag_bk_q8_quantize_rows(ws->x + r * H, H, 1, H, ws->qa + r * ws->ldq, ws->ldq,
                                        ws->sa + r, ws->za + r);
        }
    op_end(j->m, sc, n, ck);
}

static void attention(fwd_job *j, scope *sc) {
    const size_t heads = j->m->cfg.num_heads, n = (sc->s1 - sc->s0) * heads;
    size_t lo, hi;
    while (next_chunk(j->m, sc, n, 1, &lo, &hi))
        for (size_t i = lo; i < hi; i++) attend(j, sc->t, sc->s0 + i / heads, i % heads);
    op_end(j->m, sc, n, 1);
}

/* Embedding + all layers over the scope. */
static void run_layers(fwd_job *j, scope *sc) {
    const rag_bert_t *m = j->m;
    const size_t H = m->cfg.hidden_size, NI = m->cfg.intermediate_size, W = m->ws.wide;
    float *x = m->ws.x, *big = m->ws.big;
    const size_t n = sc->o1 - sc->o0, ck = row_chunk(sc, n);
    size_t lo, hi;
    while (next_chunk(j->m, sc, n, ck, &lo, &hi)) embed_rows(j, sc->o0 + lo, sc->o0 + hi);
    op_end(j->m, sc, n, ck);
    for (size_t l = 0; l < m->cfg.num_layers; l++) {
        const bert_layer *L = &m->layers[l];
        /* INT8: LayerNorms (and the embedding) quantize the rows the next layer reads */
        linear(j, sc, x, H, m->q8, L->qkv_w, &L->qkv_q, H, 3 * H, big, W, 0.0f, L->qkv_b,
               RAG_BK_ACT_NONE);
        attention(j, sc);
        linear(j, sc, big, W, false, L->ao_w, &L->ao_q, H, H, x, H, 1.0f, NULL, 0);
        layernorm_rows(j, sc, L->ao_b, L->ln1_w, L->ln1_b, m->q8);
        if (m->q8 && sc->seq) { /* whole rows here: FFN1 goes straight to FFN2's input */
            const workspace *ws = &m->ws;
            rag_bk_q8_gemm_quant(ws->qa + sc->g0 * ws->ldq, ws->ldq, ws->sa + sc->g0,
                                 ws->za + sc->g0, sc->g1 - sc->g0, &L->ff1_q, L->ff1_b,
                                 (int)m->cfg.act,
                                 ws->rowbuf + (size_t)sc->t * RAG_BK_Q8_BLOCK_ROWS * NI,
                                 ws->qa + sc->g0 * ws->ldq, ws->ldq, ws->sa + sc->g0,
                                 ws->za + sc->g0);
            linear(j, sc, NULL, 0, true, L->ff2_w, &L->ff2_q, NI, H, x, H, 1.0f, NULL, 0);
        } else {
            linear(j, sc, x, H, m->q8, L->ff1_w, &L->ff1_q, H, NI, big, W, 0.0f, L->ff1_b,
                   (int)m->cfg.act);
            linear(j, sc, big, W, false, L->ff2_w, &L->ff2_q, NI, H, x, H, 1.0f, NULL, 0);
        }
        layernorm_rows(j, sc, L->ff2_b, L->ln2_w, L->ln2_b, m->q8 && l + 1 < m->cfg.num_layers);
    }
}

static void fwd_thread(void *arg, int t) {
    fwd_job *j = arg;
    const size_t *off = j->b->offsets;
    if (j->walk_tokens) {
        for (size_t s0 = 0, s1; s0 < j->b->n_seq; s0 = s1) {
            for (s1 = s0 + 1; s1 < j->b->n_seq && off[s1 + 1] - off[s0] <= j->walk_tokens;) s1++;
            scope sc = {.seq = true, .t = t, .P = j->P, .s0 = s0, .s1 = s1, .o0 = off[s0],
                        .o1 = off[s1], .g0 = off[s0], .g1 = off[s1]};
            run_layers(j, &sc);
        }
        return;
    }
    if (j->seq) { /* groups taken dynamically: a thread slowed by other load takes fewer */
        for (;;) {
            size_t g = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
            if (g >= j->n_groups) break;
            size_t s0 = j->m->part[g], s1 = j->m->part[g + 1];
            scope sc = {.seq = true, .t = t, .P = j->P, .s0 = s0, .s1 = s1, .o0 = off[s0],
                        .o1 = off[s1], .g0 = off[s0], .g1 = off[s1]};
            run_layers(j, &sc);
        }
        return;
    }
    scope sc = {.seq = false, .t = t, .P = j->P, .s0 = 0, .s1 = j->b->n_seq, .o0 = 0,
                .o1 = j->rows, .g0 = 0, .g1 = j->rows};
    run_layers(j, &sc);
}

static void *aligned_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    return aligned_alloc(64, bytes ? bytes : 64);
}

static rag_status ensure_workspace(rag_bert_t *m, size_t rows, size_t lmax, rag_err *err) {
    workspace *w = &m->ws;
    const size_t H = m->cfg.hidden_size, NI = m->cfg.intermediate_size;
    const size_t wide = 3 * H > NI ? 3 * H : NI;
    w->wide = wide;
    if (rows > w->rows_cap) {
        free(w->x);
        free(w->big);
        free(w->qa);
        free(w->sa);
        free(w->za);
        w->qa = NULL;
        w->sa = w->za = NULL;
        if (m->q8) {
            size_t kmax = H > NI ? H : NI;
            w->ldq = (kmax + 63) / 64 * 64;
            w->qa = aligned_alloc(64, rows * w->ldq);
            w->sa = aligned_floats(rows);
            w->za = aligned_floats(rows);
        }
        w->x = aligned_floats(rows * H);
        w->big = aligned_floats(rows * wide);
        w->rows_cap = (w->x && w->big && (!m->q8 || (w->qa && w->sa && w->za))) ? rows : 0;
        if (!w->rows_cap)
            return rag_err_set(err, RAG_E_NOMEM, "bert: out of memory for a %zu-row workspace",
                               rows);
    }
    if (m->q8 && !w->rowbuf) {
        w->rowbuf = aligned_floats((size_t)m->pool->n * RAG_BK_Q8_BLOCK_ROWS * NI);
        if (!w->rowbuf) return rag_err_set(err, RAG_E_NOMEM, "bert: out of memory");
    }
    if (lmax > w->lmax_cap) {
        const size_t lp = RAG_BK_ATT_LP(lmax), dh = H / m->cfg.num_heads;
        free(w->scores); /* per thread: scores (lmax, lp) + transposed keys (dh, lp) */
        w->scores = aligned_floats((size_t)m->pool->n * (lmax * lp + dh * lp));
        w->lmax_cap = w->scores ? lmax : 0;
        if (!w->scores)
            return rag_err_set(err, RAG_E_NOMEM, "bert: out of memory for %zu-token attention",
                               lmax);
    }
    return RAG_OK;
}

static rag_status check_batch(const rag_bert_t *m, const rag_bert_batch *b, size_t *rows_out,
                              size_t *lmax_out, rag_err *err) {
    if (!b || !b->offsets || (b->n_seq && !b->ids))
        return rag_err_set(err, RAG_E_BAD_INPUT, "bert: batch without ids or offsets");
    if (b->n_seq == 0) return rag_err_set(err, RAG_E_BAD_INPUT, "bert: empty batch (0 sequences)");
    if (b->offsets[0] != 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "bert: batch offsets[0] is %zu, expected 0",
                           b->offsets[0]);
    size_t lmax = 0;
    for (size_t s = 0; s < b->n_seq; s++) {
        if (b->offsets[s + 1] <= b->offsets[s])
            return rag_err_set(err, RAG_E_BAD_INPUT, "bert: sequence %zu is empty", s);
        size_t L = b->offsets[s + 1] - b->offsets[s];
        if (L > m->cfg.max_position)
            return rag_err_set(err, RAG_E_BAD_INPUT, "bert: sequence %zu has %zu tokens, more than "
                               "max_position_embeddings %zu", s, L, m->cfg.max_position);
        if (b->offsets[s + 1] > RAG_BERT_MAX_ROWS)
            return rag_err_set(err, RAG_E_TOO_LARGE, "bert: batch exceeds %zu tokens",
                               RAG_BERT_MAX_ROWS);
        if (L > lmax) lmax = L;
    }
    size_t rows = b->offsets[b->n_seq];
    for (size_t s = 0; s < b->n_seq; s++)
        for (size_t r = b->offsets[s]; r < b->offsets[s + 1]; r++) {
            if (b->ids[r] < 0 || (size_t)b->ids[r] >= m->cfg.vocab_size)
                return rag_err_set(err, RAG_E_BAD_INPUT, "bert: sequence %zu position %zu: token "
                                   "id %d out of range [0, %zu)", s, r - b->offsets[s], b->ids[r],
                                   m->cfg.vocab_size);
            if (b->type_ids && (b->type_ids[r] < 0 ||
                                (size_t)b->type_ids[r] >= m->cfg.type_vocab_size))
                return rag_err_set(err, RAG_E_BAD_INPUT, "bert: sequence %zu position %zu: token "
                                   "type id %d out of range [0, %zu)", s, r - b->offsets[s],
                                   b->type_ids[r], m->cfg.type_vocab_size);
        }
    *rows_out = rows;
    *lmax_out = lmax;
    return RAG_OK;
}

/* Cost model for splitting by sequence: dense flops per token + attention flops per token pair. */
static double seq_cost(const rag_bert_t *m, size_t L) {
    const double H = (double)m->cfg.hidden_size, NI = (double)m->cfg.intermediate_size;
    return (double)L * 2 * H * (4 * H + 2 * NI) + (double)L * (double)L * 4 * H;
}

/* Partitions the sequences into G contiguous groups of near-equal cost (m->part[0..G]) and
 * returns the makespan of taking them greedily on P threads over the ideal total / P. */
static double partition(rag_bert_t *m, const rag_bert_batch *b, size_t G, int P) {
    double total = 0;
    for (size_t s = 0; s < b->n_seq; s++) total += seq_cost(m, b->offsets[s + 1] - b->offsets[s]);
    double cum = 0;
    size_t g = 0;
    m->part[0] = 0;
    for (size_t s = 0; s < b->n_seq; s++) {
        double c = seq_cost(m, b->offsets[s + 1] - b->offsets[s]);
        /* close group g before s when s's midpoint lies beyond the group's share */
        if (g < G - 1 && s > m->part[g] && cum + c / 2 > total * (double)(g + 1) / (double)G)
            m->part[++g] = s;
        cum += c;
    }
    m->part[++g] = b->n_seq;
    double busy[MAX_THREADS] = {0}, makespan = 0;
    for (size_t k = 0; k < g; k++) {
        double c = 0;
        for (size_t s = m->part[k]; s < m->part[k + 1]; s++)
            c += seq_cost(m, b->offsets[s + 1] - b->offsets[s]);
        int best = 0;
        for (int t = 1; t < P; t++)
            if (busy[t] < busy[best]) best = t;
        busy[best] += c;
        makespan = fmax(makespan, busy[best]);
    }
    return makespan / (total / P);
}

rag_status rag_bert_forward(rag_bert_t *m, const rag_bert_batch *batch, const float **hidden,
                            rag_err *err) {
    if (!m || !hidden) return rag_err_set(err, RAG_E_INTERNAL, "rag_bert_forward: NULL argument");
    *hidden = NULL;
    size_t rows = 0, lmax = 0;
    rag_status st = check_batch(m, batch, &rows, &lmax, err);
    if (st != RAG_OK) return st;
    if ((st = ensure_workspace(m, rows, lmax, err)) != RAG_OK) return st;
    fwd_job j = {.m = m, .b = batch, .rows = rows, .P = m->pool->n};
    atomic_init(&j.next, 0);
    for (size_t k = 0; k < m->n_ops; k++) {
        atomic_store_explicit(&m->op_next[k], 0, memory_order_relaxed);
        atomic_store_explicit(&m->op_done[k], 0, memory_order_relaxed);
    }
    openblas_set_num_threads(m->params.threading == RAG_BERT_THREADING_BLAS ? m->threads : 1);
    if (j.P == 1) { /* one thread (or BLAS mode): the whole batch as one group, ops in one piece */
        j.seq = true;
        j.n_groups = 1;
        m->part[0] = 0;
        m->part[1] = batch->n_seq;
        /* int8: runs of ~SEQ_GROUP_TOKENS tokens through all layers keep the activations in
         * the caches (the whole batch at once spills them: 4096 rows of FFN activations are
         * 25 MB); rows are computed the same either way. fp32 keeps one group: OpenBLAS wants
         * many rows, and small groups would switch to rag_bk_gemm_nt, changing bits. */
        if (m->q8) j.walk_tokens = SEQ_GROUP_TOKENS;
    } else if (m->params.threading != RAG_BERT_THREADING_SPLIT && batch->n_seq >= (size_t)j.P) {
        /* SEQ groups: about SEQ_GROUP_TOKENS tokens each, P..GROUPS_PER_THREAD * P */
        size_t G = rows / SEQ_GROUP_TOKENS;
        if (G < (size_t)j.P) G = (size_t)j.P;
        if (G > (size_t)j.P * GROUPS_PER_THREAD) G = (size_t)j.P * GROUPS_PER_THREAD;
        if (G > batch->n_seq) G = batch->n_seq;
        double imbalance = partition(m, batch, G, j.P);
        j.seq = m->params.threading == RAG_BERT_THREADING_SEQ || imbalance <= 1.15;
        for (j.n_groups = 0; j.n_groups < G && m->part[j.n_groups] < batch->n_seq;)
            j.n_groups++;
    }
    pool_run(m->pool, fwd_thread, &j);
    *hidden = m->ws.x;
    return RAG_OK;
}

rag_status rag_bert_forward_ids(rag_bert_t *m, const int32_t *ids, const int32_t *type_ids,
                                const int32_t *mask, size_t B, size_t T, float *out_hidden,
                                rag_err *err) {
    if (!m || !ids || !mask || !out_hidden)
        return rag_err_set(err, RAG_E_INTERNAL, "rag_bert_forward_ids: NULL argument");
    if (B == 0 || T == 0) return rag_err_set(err, RAG_E_BAD_INPUT, "bert: empty batch (%zu x %zu)",
                                             B, T);
    if (B > RAG_BERT_MAX_ROWS || T > RAG_BERT_MAX_ROWS / B)
        return rag_err_set(err, RAG_E_TOO_LARGE, "bert: batch %zu x %zu exceeds %zu tokens", B, T,
                           RAG_BERT_MAX_ROWS);
    const size_t H = m->cfg.hidden_size;
    size_t *lens = calloc(B, sizeof *lens), *offsets = calloc(B + 1, sizeof *offsets);
    size_t *src = calloc(B, sizeof *src);
    int32_t *pid = malloc(B * T * sizeof *pid), *ptt = malloc(B * T * sizeof *ptt),
            *pmask = malloc(B * T * sizeof *pmask);
    rag_status st = RAG_OK;
    if (!lens || !offsets || !src || !pid || !ptt || !pmask) {
        st = rag_err_set(err, RAG_E_NOMEM, "bert: out of memory");
        goto done;
    }
    size_t n = 0, rows = 0;
    for (size_t b = 0; b < B; b++) {
        size_t L = T;
        while (L > 0 && mask[b * T + L - 1] == 0) L--;
        lens[b] = L;
        if (L == 0) continue;
        src[n] = b;
        memcpy(pid + rows, ids + b * T, L * sizeof *pid);
        if (type_ids) memcpy(ptt + rows, type_ids + b * T, L * sizeof *ptt);
        else memset(ptt + rows, 0, L * sizeof *ptt);
        memcpy(pmask + rows, mask + b * T, L * sizeof *pmask);
        offsets[n] = rows;
        rows += L;
        n++;
    }
    offsets[n] = rows;
    memset(out_hidden, 0, B * T * H * sizeof(float));
    if (n == 0) goto done;
    rag_bert_batch batch = {.ids = pid, .type_ids = ptt, .mask = pmask, .offsets = offsets,
                            .n_seq = n};
    const float *hid;
    if ((st = rag_bert_forward(m, &batch, &hid, err)) != RAG_OK) goto done;
    for (size_t s = 0; s < n; s++)
        memcpy(out_hidden + src[s] * T * H, hid + offsets[s] * H, lens[src[s]] * H * sizeof(float));
done:
    free(lens);
    free(offsets);
    free(src);
    free(pid);
    free(ptt);
    free(pmask);
    return st;
}

rag_status rag_bert_classify(rag_bert_t *m, const float *rows, size_t ld, size_t n, float *logits,
                             rag_err *err) {
    if (!m || (n && (!rows || !logits)))
        return rag_err_set(err, RAG_E_INTERNAL, "rag_bert_classify: NULL argument");
    if (!m->cls_w)
        return rag_err_set(err, RAG_E_UNSUPPORTED, "bert: the model has no classifier head "
                           "(classifier.weight); not a sequence-classification model");
    const size_t H = m->cfg.hidden_size, NL = m->cfg.num_labels;
    for (size_t i = 0; i < n; i++) {
        const float *x = rows + i * ld;
        if (m->pool_w) {
            memcpy(m->head_tmp, m->pool_b, H * sizeof(float));
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)H, (blasint)H, 1.0f, m->pool_w,
                        (blasint)H, x, 1, 1.0f, m->head_tmp, 1);
            for (size_t k = 0; k < H; k++) m->head_tmp[k] = tanhf(m->head_tmp[k]);
            x = m->head_tmp;
        }
        memcpy(logits + i * NL, m->cls_b, NL * sizeof(float));
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)NL, (blasint)H, 1.0f, m->cls_w,
                    (blasint)H, x, 1, 1.0f, logits + i * NL, 1);
    }
    return RAG_OK;
}

int rag_bert_default_threads(void) { return cpus_available(); }

const char *rag_bert_int8_kernel(void) { return rag_bk_q8_kernel_name(rag_bk_q8_kernel_get()); }
