/* sentence-transformers embedding pipeline and BERT cross-encoder on top of rag_bert_t
 * (contract in include/ragc/encoder.h).
 *
 * Embedding: tokenize ([CLS] text [SEP], truncated to max_seq_length) -> length-sorted batches of
 * max_batch packed sequences -> BERT -> pooling over the tokens (modes of 1_Pooling/config.json,
 * concatenated in sentence-transformers' order) -> L2 normalization when modules.json lists
 * Normalize. Cross-encoder: "[CLS] query [SEP] passage [SEP]" -> BERT -> pooler tanh on [CLS] ->
 * classifier logits (optionally sigmoid).
 */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "ragc/encoder.h"
#include "ragc/tokenizer.h"

#define JSON_MAX_BYTES ((size_t)1 << 20)
#define MAX_BATCH_CAP 4096
#define MAX_SEQ_CAP 65536
#define TEXTS_PER_CHUNK_BATCHES 8 /* texts tokenized and sorted together: 8 batches' worth */
/* Token budget of one forward pass (a batch also ends at max_batch sequences): bounds the
 * workspace, (H + max(3H, I)) * 4 bytes per token (31 MB for MiniLM), without hurting
 * throughput. */
#define BATCH_TOKENS 4096

struct rag_encoder {
    rag_bert_t *bert;
    rag_tokenizer *tok;
    pthread_mutex_t mu;
    size_t max_seq, max_batch, dim, hidden;
    unsigned pooling; /* RAG_POOL_* bits */
    bool normalize;
    bool lower;       /* sentence_bert_config do_lower_case: lowercase texts before tokenizing */
};

struct rag_cross_encoder {
    rag_bert_t *bert;
    rag_tokenizer *tok;
    pthread_mutex_t mu;
    size_t max_seq, max_batch, num_labels;
    bool sigmoid;
};

rag_encoder_params rag_encoder_default_params(void) {
    rag_encoder_params p = {.threads = 0, .threading = RAG_BERT_THREADING_AUTO,
                            .precision = RAG_BERT_PRECISION_F32, .max_batch = 32,
                            .max_seq_length = 0, .sigmoid = false};
    return p;
}

/* ---------------------------------------------------------------- helpers ---- */

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Parses path as JSON into *out (caller frees with json_decref). A missing file is
 * RAG_E_NOT_FOUND, bad JSON RAG_E_BAD_INPUT naming the line. */
static rag_status load_json(const char *path, json_t **out, rag_err *err) {
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    rag_status st = rag_read_file(path, JSON_MAX_BYTES, &text, &len, err);
    if (st != RAG_OK) return st;
    json_error_t je;
    *out = json_loadb(text, len, 0, &je);
    free(text);
    if (!*out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: invalid JSON at line %d: %s", path, je.line,
                           je.text);
    return RAG_OK;
}

static rag_status join(char *dst, size_t cap, const char *a, const char *b, rag_err *err) {
    int n = (b && *b) ? snprintf(dst, cap, "%s/%s", a, b) : snprintf(dst, cap, "%s", a);
    if (n < 0 || (size_t)n >= cap) return rag_err_set(err, RAG_E_BAD_INPUT, "%s: path too long", a);
    return RAG_OK;
}

/* A module path from modules.json must stay inside the model directory. */
static bool safe_relpath(const char *p) {
    if (p[0] == '/') return false;
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.') return false;
        s += n;
        if (*s == '/') s++;
    }
    return true;
}

/* tokenizer_config.json model_max_length, or 0 when absent or a "no limit" sentinel. */
static size_t tokenizer_max_length(const char *dir) {
    char path[4096];
    json_t *root = NULL;
    size_t n = 0;
    if (join(path, sizeof path, dir, "tokenizer_config.json", NULL) != RAG_OK || !file_exists(path))
        return 0;
    if (load_json(path, &root, NULL) != RAG_OK) return 0;
    json_t *v = json_object_get(root, "model_max_length");
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= MAX_SEQ_CAP)
        n = (size_t)json_integer_value(v);
    json_decref(root);
    return n;
}

static rag_status check_params(const rag_encoder_params *p, rag_err *err) {
    if (p->max_batch > MAX_BATCH_CAP)
        return rag_err_set(err, RAG_E_CONFIG, "encoder: max_batch %zu exceeds %d", p->max_batch,
                           MAX_BATCH_CAP);
    if (p->max_seq_length > MAX_SEQ_CAP)
        return rag_err_set(err, RAG_E_CONFIG, "encoder: max_seq_length %zu exceeds %d",
                           p->max_seq_length, MAX_SEQ_CAP);
    return RAG_OK;
}

/* Resolves the sequence cap: explicit param > model setting > tokenizer > positions. */
static rag_status resolve_max_seq(const rag_encoder_params *p, size_t model_setting,
                                  const char *dir, size_t max_position, size_t min_len,
                                  size_t *out, rag_err *err) {
    size_t n = p->max_seq_length;
    if (n) {
        if (n > max_position)
            return rag_err_set(err, RAG_E_CONFIG, "%s: max_seq_length %zu exceeds the model's "
                               "max_position_embeddings %zu", dir, n, max_position);
    } else {
        n = model_setting ? model_setting : tokenizer_max_length(dir);
        if (!n || n > max_position) n = max_position;
    }
    if (n < min_len)
        return rag_err_set(err, RAG_E_CONFIG, "%s: max_seq_length %zu is below the %zu special "
                           "tokens", dir, n, min_len);
    *out = n;
    return RAG_OK;
}

/* Python str.lower() of valid UTF-8 s[0..n), per code point, into b. */
static rag_status lowercase_utf8(const char *s, size_t n, rag_buf *b) {
    rag_buf_reset(b);
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return RAG_E_BAD_INPUT;
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t m = utf8proc_encode_char(utf8proc_tolower(cp), enc);
        rag_status st = rag_buf_append(b, enc, (size_t)m);
        if (st != RAG_OK) return st;
        i += (size_t)k;
    }
    return RAG_OK;
}

/* Scratch of one request: encodings of a chunk of texts, their order and packed batch arrays. */
typedef struct req {
    rag_encoding *enc;
    size_t *order;
    int32_t *ids, *types;
    size_t *offsets;
    size_t cap_texts;
} req;

static void req_free(req *r) {
    if (r->enc)
        for (size_t i = 0; i < r->cap_texts; i++) rag_encoding_clear(&r->enc[i]);
    free(r->enc);
    free(r->order);
    free(r->ids);
    free(r->types);
    free(r->offsets);
    memset(r, 0, sizeof *r);
}

static rag_status req_init(req *r, size_t texts, size_t max_batch, size_t max_seq, rag_err *err) {
    memset(r, 0, sizeof *r);
    /* a batch holds at most BATCH_TOKENS tokens, or one sequence of up to max_seq */
    size_t rows = max_seq > BATCH_TOKENS ? max_seq : BATCH_TOKENS;
    if (rows > max_batch * max_seq) rows = max_batch * max_seq;
    r->cap_texts = texts;
    r->enc = calloc(texts, sizeof *r->enc);
    r->order = calloc(texts, sizeof *r->order);
    r->ids = malloc(rows * sizeof *r->ids);
    r->types = malloc(rows * sizeof *r->types);
    r->offsets = malloc((max_batch + 1) * sizeof *r->offsets);
    if (!r->enc || !r->order || !r->ids || !r->types || !r->offsets) {
        req_free(r);
        return rag_err_set(err, RAG_E_NOMEM, "encoder: out of memory for a request");
    }
    return RAG_OK;
}

static int by_len_desc(const void *a, const void *b, void *ctx) {
    const rag_encoding *enc = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (enc[i].len != enc[j].len) return enc[i].len > enc[j].len ? -1 : 1;
    return i < j ? -1 : 1;
}

/* r->order[0..n) = indices of r->enc sorted by decreasing length (stable). */
static void sort_by_length(req *r, size_t n) {
    for (size_t i = 0; i < n; i++) r->order[i] = i;
    qsort_r(r->order, n, sizeof *r->order, by_len_desc, r->enc);
}

/* End of the batch starting at sorted position lo: at most max_batch sequences and
 * BATCH_TOKENS tokens (at least one sequence). */
static size_t batch_end(const req *r, size_t lo, size_t m, size_t max_batch) {
    size_t hi = lo, tokens = 0;
    while (hi < m && hi - lo < max_batch) {
        size_t len = r->enc[r->order[hi]].len;
        if (hi > lo && tokens + len > BATCH_TOKENS) break;
        tokens += len;
        hi++;
    }
    return hi;
}

/* Packs encodings order[lo..hi) into r->ids/types/offsets. */
static rag_bert_batch pack(req *r, size_t lo, size_t hi) {
    size_t rows = 0;
    for (size_t k = lo; k < hi; k++) {
        const rag_encoding *e = &r->enc[r->order[k]];
        r->offsets[k - lo] = rows;
        memcpy(r->ids + rows, e->ids, e->len * sizeof *r->ids);
        memcpy(r->types + rows, e->type_ids, e->len * sizeof *r->types);
        rows += e->len;
    }
    r->offsets[hi - lo] = rows;
    rag_bert_batch b = {.ids = r->ids, .type_ids = r->types, .mask = NULL, .offsets = r->offsets,
                        .n_seq = hi - lo};
    return b;
}

/* ---------------------------------------------------------------- pooling ---- */

/* Pools the L rows of one sequence (hid, (L, H)) with mask (NULL = all 1) into out (dim). */
static void pool_seq(const rag_encoder_t *e, const float *hid, const int32_t *mask, size_t L,
                     float *out) {
    const size_t H = e->hidden;
    float *o = out;
    double cnt = 0, wsum = 0;
    size_t last = 0;
    for (size_t i = 0; i < L; i++)
        if (!mask || mask[i]) { cnt += 1; wsum += (double)(i + 1); last = i; }
    if (e->pooling & RAG_POOL_CLS) { memcpy(o, hid, H * sizeof *o); o += H; }
    if (e->pooling & RAG_POOL_MAX) {
        for (size_t k = 0; k < H; k++) {
            float m = -1e9f; /* sentence-transformers sets masked tokens to -1e9 */
            for (size_t i = 0; i < L; i++) {
                float v = (!mask || mask[i]) ? hid[i * H + k] : -1e9f;
                if (v > m) m = v;
            }
            o[k] = m;
        }
        o += H;
    }
    if (e->pooling & (RAG_POOL_MEAN | RAG_POOL_MEAN_SQRT_LEN)) {
        for (size_t k = 0; k < H; k++) {
            float s = 0;
            for (size_t i = 0; i < L; i++)
                if (!mask || mask[i]) s += hid[i * H + k];
            float c = (float)fmax(cnt, 1e-9);
            if (e->pooling & RAG_POOL_MEAN) o[k] = s / c;
            if (e->pooling & RAG_POOL_MEAN_SQRT_LEN)
                o[k + ((e->pooling & RAG_POOL_MEAN) ? H : 0)] = s / sqrtf(c);
        }
        o += H * (size_t)(((e->pooling & RAG_POOL_MEAN) != 0) +
                          ((e->pooling & RAG_POOL_MEAN_SQRT_LEN) != 0));
    }
    if (e->pooling & RAG_POOL_WEIGHTED_MEAN) {
        for (size_t k = 0; k < H; k++) {
            float s = 0;
            for (size_t i = 0; i < L; i++)
                if (!mask || mask[i]) s += (float)(i + 1) * hid[i * H + k];
            o[k] = s / (float)fmax(wsum, 1e-9);
        }
        o += H;
    }
    if (e->pooling & RAG_POOL_LAST_TOKEN) { memcpy(o, hid + last * H, H * sizeof *o); o += H; }
    if (e->normalize) {
        double ss = 0;
        for (size_t k = 0; k < e->dim; k++) ss += (double)out[k] * out[k];
        float inv = (float)(1.0 / fmax(sqrt(ss), 1e-12));
        for (size_t k = 0; k < e->dim; k++) out[k] *= inv;
    }
}

/* ---------------------------------------------------------------- encoder ---- */

static rag_status parse_pooling(const char *path, size_t hidden, unsigned *modes, rag_err *err) {
    json_t *root;
    rag_status st = load_json(path, &root, err);
    if (st != RAG_OK) return st;
    static const struct { const char *key; unsigned bit; } keys[] = {
        {"pooling_mode_cls_token", RAG_POOL_CLS},
        {"pooling_mode_max_tokens", RAG_POOL_MAX},
        {"pooling_mode_mean_tokens", RAG_POOL_MEAN},
        {"pooling_mode_mean_sqrt_len_tokens", RAG_POOL_MEAN_SQRT_LEN},
        {"pooling_mode_weightedmean_tokens", RAG_POOL_WEIGHTED_MEAN},
        {"pooling_mode_lasttoken", RAG_POOL_LAST_TOKEN},
    };
    *modes = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_is_true(json_object_get(root, keys[i].key))) *modes |= keys[i].bit;
    json_t *d = json_object_get(root, "word_embedding_dimension");
    if (d && (!json_is_integer(d) || (size_t)json_integer_value(d) != hidden))
        st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: word_embedding_dimension does not match the "
                         "model's hidden_size %zu", path, hidden);
    else if (!*modes)
        st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: no pooling_mode_* is true", path);
    json_decref(root);
    return st;
}

/* modules.json -> transformer dir (relative path), pooling config path, normalize flag. */
static rag_status parse_modules(const char *dir, char *tdir, size_t tcap, char *pool_cfg,
                                size_t pcap, bool *normalize, rag_err *err) {
    char path[4096];
    rag_status st = join(path, sizeof path, dir, "modules.json", err);
    if (st != RAG_OK) return st;
    *normalize = false;
    pool_cfg[0] = 0;
    if ((st = join(tdir, tcap, dir, NULL, err)) != RAG_OK) return st;
    if (!file_exists(path)) return RAG_OK; /* plain transformer: mean pooling */
    json_t *root;
    if ((st = load_json(path, &root, err)) != RAG_OK) return st;
    if (!json_is_array(root)) {
        json_decref(root);
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: expected a JSON array of modules", path);
    }
    size_t i;
    json_t *mod;
    json_array_foreach(root, i, mod) {
        const char *type = json_string_value(json_object_get(mod, "type"));
        const char *rel = json_string_value(json_object_get(mod, "path"));
        if (!type || !rel) {
            st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: module %zu lacks a \"type\" or \"path\" "
                             "string", path, i);
            break;
        }
        if (!safe_relpath(rel)) {
            st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: module %zu path \"%s\" leaves the model "
                             "directory", path, i, rel);
            break;
        }
        const char *dot = strrchr(type, '.');
        const char *kind = dot ? dot + 1 : type;
        if (strcmp(kind, "Transformer") == 0) {
            st = join(tdir, tcap, dir, rel, err);
        } else if (strcmp(kind, "Pooling") == 0) {
            char pd[4096];
            if ((st = join(pd, sizeof pd, dir, rel, err)) == RAG_OK)
                st = join(pool_cfg, pcap, pd, "config.json", err);
        } else if (strcmp(kind, "Normalize") == 0) {
            *normalize = true;
        } else {
            st = rag_err_set(err, RAG_E_UNSUPPORTED, "%s: module %zu type \"%s\" is not supported "
                             "(Transformer, Pooling, Normalize)", path, i, type);
        }
        if (st != RAG_OK) break;
    }
    json_decref(root);
    return st;
}

rag_status rag_encoder_load(const char *model_dir, rag_encoder_params params, rag_encoder_t **out,
                            rag_err *err) {
    if (!out) return rag_err_set(err, RAG_E_INTERNAL, "rag_encoder_load: out is NULL");
    *out = NULL;
    if (!model_dir) return rag_err_set(err, RAG_E_CONFIG, "encoder: model directory is NULL");
    rag_status st = check_params(&params, err);
    if (st != RAG_OK) return st;
    rag_encoder_t *e = calloc(1, sizeof *e);
    if (!e) return rag_err_set(err, RAG_E_NOMEM, "encoder: out of memory");
    pthread_mutex_init(&e->mu, NULL);
    char tdir[4096], pool_cfg[4096], path[4096];
    if ((st = parse_modules(model_dir, tdir, sizeof tdir, pool_cfg, sizeof pool_cfg,
                            &e->normalize, err)) != RAG_OK)
        goto fail;
    rag_bert_params bp = {.threads = params.threads, .threading = params.threading,
                          .precision = params.precision};
    if ((st = rag_bert_load(tdir, bp, &e->bert, err)) != RAG_OK) goto fail;
    const rag_bert_config *c = rag_bert_get_config(e->bert);
    e->hidden = c->hidden_size;
    e->pooling = RAG_POOL_MEAN;
    if (pool_cfg[0] && (st = parse_pooling(pool_cfg, e->hidden, &e->pooling, err)) != RAG_OK)
        goto fail;
    size_t modes = 0;
    for (unsigned b = e->pooling; b; b &= b - 1) modes++;
    e->dim = e->hidden * modes;
    size_t sbert_max = 0;
    if ((st = join(path, sizeof path, tdir, "sentence_bert_config.json", err)) != RAG_OK) goto fail;
    if (file_exists(path)) {
        json_t *root;
        if ((st = load_json(path, &root, err)) != RAG_OK) goto fail;
        json_t *v = json_object_get(root, "max_seq_length");
        if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= MAX_SEQ_CAP)
            sbert_max = (size_t)json_integer_value(v);
        else if (v && !json_is_null(v))
            st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: max_seq_length must be an integer in "
                             "[1, %d]", path, MAX_SEQ_CAP);
        e->lower = json_is_true(json_object_get(root, "do_lower_case"));
        json_decref(root);
        if (st != RAG_OK) goto fail;
    }
    if ((st = resolve_max_seq(&params, sbert_max, tdir, c->max_position, 2, &e->max_seq, err)) !=
        RAG_OK)
        goto fail;
    e->max_batch = params.max_batch ? params.max_batch : 32;
    if ((st = rag_tokenizer_load(tdir, &e->tok, err)) != RAG_OK) goto fail;
    if (rag_tokenizer_vocab_size(e->tok) > c->vocab_size) {
        st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: tokenizer has %zu tokens, the model's "
                         "vocab_size is %zu", tdir, rag_tokenizer_vocab_size(e->tok),
                         c->vocab_size);
        goto fail;
    }
    *out = e;
    return RAG_OK;
fail:
    rag_encoder_free(e);
    return st;
}

void rag_encoder_free(rag_encoder_t *e) {
    if (!e) return;
    rag_bert_free(e->bert);
    rag_tokenizer_free(e->tok);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

size_t rag_encoder_dim(const rag_encoder_t *e) { return e ? e->dim : 0; }
size_t rag_encoder_max_seq_length(const rag_encoder_t *e) { return e ? e->max_seq : 0; }
unsigned rag_encoder_pooling(const rag_encoder_t *e) { return e ? e->pooling : 0; }
bool rag_encoder_normalizes(const rag_encoder_t *e) { return e && e->normalize; }
const struct rag_tokenizer *rag_encoder_tokenizer(const rag_encoder_t *e) {
    return e ? e->tok : NULL;
}
rag_bert_t *rag_encoder_model(rag_encoder_t *e) { return e ? e->bert : NULL; }

static rag_status embed_locked(rag_encoder_t *e, const char *const *texts, size_t n, float *out,
                               rag_err *err) {
    const size_t chunk = e->max_batch * TEXTS_PER_CHUNK_BATCHES;
    req r;
    rag_buf low;
    rag_buf_init(&low, RAG_TOKENIZER_MAX_INPUT * 2);
    rag_status st = req_init(&r, n < chunk ? n : chunk, e->max_batch, e->max_seq, err);
    if (st != RAG_OK) return st;
    for (size_t c0 = 0; c0 < n && st == RAG_OK; c0 += chunk) {
        size_t m = n - c0 < chunk ? n - c0 : chunk;
        for (size_t i = 0; i < m && st == RAG_OK; i++) {
            const char *t = texts[c0 + i];
            rag_encoding_clear(&r.enc[i]);
            if (!t) {
                st = rag_err_set(err, RAG_E_BAD_INPUT, "encoder: text %zu is NULL", c0 + i);
                break;
            }
            size_t len = strlen(t);
            if (e->lower && len <= RAG_TOKENIZER_MAX_INPUT) {
                size_t bad;
                if (!rag_utf8_valid(t, len, &bad)) {
                    st = rag_err_set(err, RAG_E_BAD_INPUT, "encoder: text %zu: invalid UTF-8 at "
                                     "byte %zu", c0 + i, bad);
                    break;
                }
                if ((st = lowercase_utf8(t, len, &low)) != RAG_OK) {
                    rag_err_set(err, st, "encoder: text %zu: cannot lowercase", c0 + i);
                    break;
                }
                t = low.data ? low.data : "";
                len = low.len;
            }
            st = rag_tokenizer_encode(e->tok, t, len, e->max_seq, &r.enc[i], err);
            if (st != RAG_OK) rag_err_prefix(err, "encoder: text %zu: ", c0 + i);
        }
        if (st != RAG_OK) break;
        sort_by_length(&r, m);
        for (size_t lo = 0, hi; lo < m && st == RAG_OK; lo = hi) {
            hi = batch_end(&r, lo, m, e->max_batch);
            rag_bert_batch b = pack(&r, lo, hi);
            const float *hid;
            if ((st = rag_bert_forward(e->bert, &b, &hid, err)) != RAG_OK) break;
            for (size_t k = lo; k < hi; k++)
                pool_seq(e, hid + b.offsets[k - lo] * e->hidden, NULL,
                         b.offsets[k - lo + 1] - b.offsets[k - lo],
                         out + (c0 + r.order[k]) * e->dim);
        }
    }
    rag_buf_free(&low);
    req_free(&r);
    return st;
}

rag_status rag_encoder_embed(rag_encoder_t *e, const char *const *texts, size_t n, float *out,
                             size_t *dim, rag_err *err) {
    if (!e || (n && (!texts || !out)))
        return rag_err_set(err, RAG_E_INTERNAL, "rag_encoder_embed: NULL argument");
    if (dim) *dim = e->dim;
    if (n == 0) return RAG_OK;
    pthread_mutex_lock(&e->mu);
    rag_status st = embed_locked(e, texts, n, out, err);
    pthread_mutex_unlock(&e->mu);
    return st;
}

rag_status rag_encoder_embed_ids(rag_encoder_t *e, const rag_bert_batch *batch, float *out,
                                 rag_err *err) {
    if (!e || !batch || !out)
        return rag_err_set(err, RAG_E_INTERNAL, "rag_encoder_embed_ids: NULL argument");
    pthread_mutex_lock(&e->mu);
    const float *hid;
    rag_status st = rag_bert_forward(e->bert, batch, &hid, err);
    if (st == RAG_OK)
        for (size_t s = 0; s < batch->n_seq; s++) {
            size_t r0 = batch->offsets[s];
            pool_seq(e, hid + r0 * e->hidden, batch->mask ? batch->mask + r0 : NULL,
                     batch->offsets[s + 1] - r0, out + s * e->dim);
        }
    pthread_mutex_unlock(&e->mu);
    return st;
}

/* ---------------------------------------------------------------- cross-encoder ---- */

rag_status rag_cross_encoder_load(const char *model_dir, rag_encoder_params params,
                                  rag_cross_encoder_t **out, rag_err *err) {
    if (!out) return rag_err_set(err, RAG_E_INTERNAL, "rag_cross_encoder_load: out is NULL");
    *out = NULL;
    if (!model_dir) return rag_err_set(err, RAG_E_CONFIG, "cross-encoder: model directory is NULL");
    rag_status st = check_params(&params, err);
    if (st != RAG_OK) return st;
    rag_cross_encoder_t *ce = calloc(1, sizeof *ce);
    if (!ce) return rag_err_set(err, RAG_E_NOMEM, "cross-encoder: out of memory");
    pthread_mutex_init(&ce->mu, NULL);
    rag_bert_params bp = {.threads = params.threads, .threading = params.threading,
                          .precision = params.precision};
    if ((st = rag_bert_load(model_dir, bp, &ce->bert, err)) != RAG_OK) goto fail;
    const rag_bert_config *c = rag_bert_get_config(ce->bert);
    if (c->num_labels == 0) {
        st = rag_err_set(err, RAG_E_UNSUPPORTED, "%s: no classifier.weight: not a cross-encoder "
                         "(BertForSequenceClassification) model", model_dir);
        goto fail;
    }
    ce->num_labels = c->num_labels;
    ce->sigmoid = params.sigmoid;
    ce->max_batch = params.max_batch ? params.max_batch : 32;
    if ((st = resolve_max_seq(&params, 0, model_dir, c->max_position, 3, &ce->max_seq, err)) !=
        RAG_OK)
        goto fail;
    if ((st = rag_tokenizer_load(model_dir, &ce->tok, err)) != RAG_OK) goto fail;
    if (rag_tokenizer_vocab_size(ce->tok) > c->vocab_size) {
        st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: tokenizer has %zu tokens, the model's "
                         "vocab_size is %zu", model_dir, rag_tokenizer_vocab_size(ce->tok),
                         c->vocab_size);
        goto fail;
    }
    *out = ce;
    return RAG_OK;
fail:
    rag_cross_encoder_free(ce);
    return st;
}

void rag_cross_encoder_free(rag_cross_encoder_t *ce) {
    if (!ce) return;
    rag_bert_free(ce->bert);
    rag_tokenizer_free(ce->tok);
    pthread_mutex_destroy(&ce->mu);
    free(ce);
}

size_t rag_cross_encoder_num_labels(const rag_cross_encoder_t *ce) {
    return ce ? ce->num_labels : 0;
}

/* Logits of the sequences of b (forward already run: hid) into out[slot * num_labels] with
 * slot = base + order[s] (order NULL: slot = s). */
static rag_status head(rag_cross_encoder_t *ce, const rag_bert_batch *b, const float *hid,
                       const size_t *order, size_t base, float *out, rag_err *err) {
    const size_t H = rag_bert_get_config(ce->bert)->hidden_size;
    for (size_t s = 0; s < b->n_seq; s++) {
        float *l = out + (order ? base + order[s] : s) * ce->num_labels;
        rag_status st = rag_bert_classify(ce->bert, hid + b->offsets[s] * H, H, 1, l, err);
        if (st != RAG_OK) return st;
        if (ce->sigmoid)
            for (size_t k = 0; k < ce->num_labels; k++) l[k] = 1.0f / (1.0f + expf(-l[k]));
    }
    return RAG_OK;
}

rag_status rag_cross_encoder_score(rag_cross_encoder_t *ce, const char *query,
                                   const char *const *passages, size_t n, float *logits,
                                   rag_err *err) {
    if (!ce || !query || (n && (!passages || !logits)))
        return rag_err_set(err, RAG_E_INTERNAL, "rag_cross_encoder_score: NULL argument");
    if (n == 0) return RAG_OK;
    pthread_mutex_lock(&ce->mu);
    const size_t chunk = ce->max_batch * TEXTS_PER_CHUNK_BATCHES;
    const size_t qlen = strlen(query);
    req r;
    rag_status st = req_init(&r, n < chunk ? n : chunk, ce->max_batch, ce->max_seq, err);
    for (size_t c0 = 0; c0 < n && st == RAG_OK; c0 += chunk) {
        size_t m = n - c0 < chunk ? n - c0 : chunk;
        for (size_t i = 0; i < m && st == RAG_OK; i++) {
            const char *p = passages[c0 + i];
            rag_encoding_clear(&r.enc[i]);
            if (!p) {
                st = rag_err_set(err, RAG_E_BAD_INPUT, "cross-encoder: passage %zu is NULL",
                                 c0 + i);
                break;
            }
            st = rag_tokenizer_encode_pair(ce->tok, query, qlen, p, strlen(p), ce->max_seq,
                                           &r.enc[i], err);
            if (st != RAG_OK) rag_err_prefix(err, "cross-encoder: passage %zu: ", c0 + i);
        }
        if (st != RAG_OK) break;
        sort_by_length(&r, m);
        for (size_t lo = 0, hi; lo < m && st == RAG_OK; lo = hi) {
            hi = batch_end(&r, lo, m, ce->max_batch);
            rag_bert_batch b = pack(&r, lo, hi);
            const float *hid;
            if ((st = rag_bert_forward(ce->bert, &b, &hid, err)) != RAG_OK) break;
            st = head(ce, &b, hid, r.order + lo, c0, logits, err);
        }
    }
    req_free(&r);
    pthread_mutex_unlock(&ce->mu);
    return st;
}

rag_status rag_cross_encoder_score_ids(rag_cross_encoder_t *ce, const rag_bert_batch *batch,
                                       float *logits, rag_err *err) {
    if (!ce || !batch || !logits)
        return rag_err_set(err, RAG_E_INTERNAL, "rag_cross_encoder_score_ids: NULL argument");
    pthread_mutex_lock(&ce->mu);
    const float *hid;
    rag_status st = rag_bert_forward(ce->bert, batch, &hid, err);
    if (st == RAG_OK) st = head(ce, batch, hid, NULL, 0, logits, err);
    pthread_mutex_unlock(&ce->mu);
    return st;
}
