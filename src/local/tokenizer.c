/* BERT WordPiece tokenizer: loading (tokenizer.json or vocab.txt + tokenizer_config.json), the
 * vocabulary trie, BasicTokenizer normalisation / pre-tokenisation, WordPiece and truncation.
 * See include/ragc/tokenizer.h for the contract. */
#include "ragc/tokenizer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <utf8proc.h>

#define TOK_MAX_FILE ((size_t)64 << 20)      /* tokenizer.json / vocab.txt / config cap, bytes */
#define TOK_MAX_VOCAB ((size_t)1 << 22)      /* entries (ids are < this) */
#define TOK_MAX_WORD_CHARS 1000              /* cap on max_input_chars_per_word from a file */
#define TOK_MAX_PREFIX 16                    /* bytes of continuing_subword_prefix */
#define TOK_MAX_ADDED 4096                   /* added tokens */

typedef struct added_token {
    char *content; /* owned */
    size_t len;
    int32_t id;
    bool single_word;
} added_token;

struct rag_tokenizer {
    /* id -> token: offsets into blob (UINT32_MAX = no token with that id) */
    char *blob;
    uint32_t *tok_off;
    size_t n_ids;
    /* byte trie over the vocabulary: node 0 is the root; full[node] = id of the token ending there or -1 */
    int32_t *full;
    size_t n_nodes, cap_nodes;
    uint64_t *edge_key; /* (parent << 8 | byte) + 1; 0 = empty slot */
    int32_t *edge_child;
    size_t edge_mask, n_edges;
    int32_t cont_root;  /* node reached by the continuing-subword prefix ("##"), -1 if none */

    added_token *added; /* matched literally in the raw text, before normalisation */
    size_t n_added;

    bool clean_text, handle_chinese, strip_accents, lowercase;
    size_t max_chars; /* max_input_chars_per_word */
    int32_t unk_id, cls_id, sep_id, pad_id;
    size_t vocab_size;
};

/* ---------------------------------------------------------------- trie */

static uint64_t mix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static int32_t trie_child(const rag_tokenizer *t, int32_t node, unsigned char byte) {
    uint64_t key = (((uint64_t)node << 8) | byte) + 1;
    size_t i = (size_t)mix64(key) & t->edge_mask;
    while (t->edge_key[i]) {
        if (t->edge_key[i] == key) return t->edge_child[i];
        i = (i + 1) & t->edge_mask;
    }
    return -1;
}

static bool edges_grow(rag_tokenizer *t) {
    size_t ncap = (t->edge_mask + 1) * 2;
    uint64_t *k = calloc(ncap, sizeof *k);
    int32_t *c = malloc(ncap * sizeof *c);
    if (!k || !c) {
        free(k);
        free(c);
        return false;
    }
    for (size_t i = 0; i <= t->edge_mask; i++) {
        if (!t->edge_key[i]) continue;
        size_t j = (size_t)mix64(t->edge_key[i]) & (ncap - 1);
        while (k[j]) j = (j + 1) & (ncap - 1);
        k[j] = t->edge_key[i];
        c[j] = t->edge_child[i];
    }
    free(t->edge_key);
    free(t->edge_child);
    t->edge_key = k;
    t->edge_child = c;
    t->edge_mask = ncap - 1;
    return true;
}

/* Child of node by byte, created if absent; -1 on allocation failure. */
static int32_t trie_add_child(rag_tokenizer *t, int32_t node, unsigned char byte) {
    int32_t c = trie_child(t, node, byte);
    if (c >= 0) return c;
    if ((t->n_edges + 1) * 2 > t->edge_mask + 1 && !edges_grow(t)) return -1;
    if (t->n_nodes == t->cap_nodes) {
        size_t nc = t->cap_nodes * 2;
        int32_t *f = realloc(t->full, nc * sizeof *f);
        if (!f) return -1;
        t->full = f;
        t->cap_nodes = nc;
    }
    if (t->n_nodes >= INT32_MAX) return -1;
    c = (int32_t)t->n_nodes++;
    t->full[c] = -1;
    uint64_t key = (((uint64_t)node << 8) | byte) + 1;
    size_t i = (size_t)mix64(key) & t->edge_mask;
    while (t->edge_key[i]) i = (i + 1) & t->edge_mask;
    t->edge_key[i] = key;
    t->edge_child[i] = c;
    t->n_edges++;
    return c;
}

static bool trie_init(rag_tokenizer *t) {
    t->cap_nodes = 1024;
    t->full = malloc(t->cap_nodes * sizeof *t->full);
    t->edge_mask = 2047;
    t->edge_key = calloc(t->edge_mask + 1, sizeof *t->edge_key);
    t->edge_child = malloc((t->edge_mask + 1) * sizeof *t->edge_child);
    if (!t->full || !t->edge_key || !t->edge_child) return false;
    t->n_nodes = 1;
    t->full[0] = -1;
    return true;
}

/* Node reached by s[0..n) from `from`, -1 if no vocabulary entry starts that way. */
static int32_t trie_walk(const rag_tokenizer *t, int32_t from, const char *s, size_t n) {
    int32_t node = from;
    for (size_t i = 0; i < n && node >= 0; i++) node = trie_child(t, node, (unsigned char)s[i]);
    return node;
}

/* ---------------------------------------------------------------- vocabulary building */

typedef struct vocab_builder {
    rag_buf blob;
    uint32_t *off; /* by id */
    size_t n_ids;  /* allocated entries of off */
} vocab_builder;

/* Records token s[0..n) with id; later insertions of the same token override the trie entry (as a
 * Python dict built from vocab.txt does). */
static rag_status vocab_add(rag_tokenizer *t, vocab_builder *vb, const char *s, size_t n, size_t id,
                            const char *src, rag_err *err) {
    if (id >= TOK_MAX_VOCAB)
        return rag_err_set(err, RAG_E_TOO_LARGE, "%s: vocabulary id %zu exceeds the cap of %zu entries", src, id,
                           TOK_MAX_VOCAB);
    if (id >= vb->n_ids) {
        size_t nn = vb->n_ids ? vb->n_ids : 1024;
        while (nn <= id) nn *= 2;
        uint32_t *o = realloc(vb->off, nn * sizeof *o);
        if (!o) return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", src);
        for (size_t i = vb->n_ids; i < nn; i++) o[i] = UINT32_MAX;
        vb->off = o;
        vb->n_ids = nn;
    }
    if (vb->off[id] != UINT32_MAX)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: vocabulary id %zu is used by two tokens", src, id);
    if (vb->blob.len > UINT32_MAX - n - 1)
        return rag_err_set(err, RAG_E_TOO_LARGE, "%s: vocabulary too large", src);
    vb->off[id] = (uint32_t)vb->blob.len;
    rag_status st = rag_buf_append(&vb->blob, s, n);
    if (st == RAG_OK) st = rag_buf_append_char(&vb->blob, '\0');
    if (st != RAG_OK) return rag_err_set(err, st, "%s: out of memory for the vocabulary", src);
    int32_t node = 0;
    for (size_t i = 0; i < n; i++)
        if ((node = trie_add_child(t, node, (unsigned char)s[i])) < 0)
            return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory for the vocabulary", src);
    if (node == 0) return RAG_OK; /* the empty token (a blank line) is never matched */
    t->full[node] = (int32_t)id;
    if (id + 1 > t->vocab_size) t->vocab_size = id + 1;
    return RAG_OK;
}

static void vocab_finish(rag_tokenizer *t, vocab_builder *vb) {
    t->blob = vb->blob.data ? vb->blob.data : rag_strdup("");
    vb->blob.data = NULL;
    t->tok_off = vb->off;
    t->n_ids = t->vocab_size;
    vb->off = NULL;
}

static int32_t lookup(const rag_tokenizer *t, const char *s) {
    size_t n = strlen(s);
    if (n) {
        int32_t node = trie_walk(t, 0, s, n);
        if (node >= 0 && t->full[node] >= 0) return t->full[node];
    }
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && memcmp(t->added[i].content, s, n) == 0) return t->added[i].id;
    return -1;
}

static rag_status add_added(rag_tokenizer *t, const char *content, int32_t id, bool single_word, const char *src,
                            rag_err *err) {
    if (!content || !*content) return RAG_OK;
    for (size_t i = 0; i < t->n_added; i++)
        if (strcmp(t->added[i].content, content) == 0) return RAG_OK;
    if (t->n_added >= TOK_MAX_ADDED)
        return rag_err_set(err, RAG_E_TOO_LARGE, "%s: more than %d added tokens", src, TOK_MAX_ADDED);
    added_token *a = realloc(t->added, (t->n_added + 1) * sizeof *a);
    if (!a) return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", src);
    t->added = a;
    added_token *x = &a[t->n_added];
    x->content = rag_strdup(content);
    if (!x->content) return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", src);
    x->len = strlen(content);
    x->id = id;
    x->single_word = single_word;
    t->n_added++;
    if ((size_t)id + 1 > t->vocab_size) t->vocab_size = (size_t)id + 1;
    return RAG_OK;
}

void rag_tokenizer_free(rag_tokenizer *t) {
    if (!t) return;
    free(t->blob);
    free(t->tok_off);
    free(t->full);
    free(t->edge_key);
    free(t->edge_child);
    for (size_t i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    free(t);
}

static rag_tokenizer *tok_new(void) {
    rag_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (!trie_init(t)) {
        rag_tokenizer_free(t);
        return NULL;
    }
    t->clean_text = t->handle_chinese = t->strip_accents = t->lowercase = true;
    t->max_chars = 100;
    t->unk_id = t->cls_id = t->sep_id = t->pad_id = t->cont_root = -1;
    return t;
}

/* Resolves the special ids after the vocabulary is loaded. Names borrowed for the call. */
static rag_status finish_specials(rag_tokenizer *t, const char *unk, const char *cls, const char *sep,
                                  const char *pad, const char *prefix, const char *src, rag_err *err) {
    t->unk_id = lookup(t, unk);
    if (t->unk_id < 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: unknown-token '%.64s' is not in the vocabulary", src, unk);
    if (t->cls_id < 0) t->cls_id = lookup(t, cls);
    if (t->sep_id < 0) t->sep_id = lookup(t, sep);
    if (t->cls_id < 0 || t->sep_id < 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: special tokens '%.64s' / '%.64s' are not in the vocabulary",
                           src, cls, sep);
    if (t->pad_id < 0) t->pad_id = lookup(t, pad);
    if (t->pad_id < 0) t->pad_id = 0;
    /* ids given by number in the file must name entries: encode's ids index the vocabulary */
    if (!rag_tokenizer_id_token(t, t->cls_id) || !rag_tokenizer_id_token(t, t->sep_id))
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: special token ids %d / %d are not vocabulary entries", src,
                           t->cls_id, t->sep_id);
    if ((size_t)t->pad_id >= t->vocab_size)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: pad id %d is outside the vocabulary of %zu entries", src,
                           t->pad_id, t->vocab_size);
    size_t pl = strlen(prefix);
    if (pl > TOK_MAX_PREFIX)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: continuing_subword_prefix longer than %d bytes", src,
                           TOK_MAX_PREFIX);
    t->cont_root = trie_walk(t, 0, prefix, pl);
    return RAG_OK;
}

/* ---------------------------------------------------------------- loading: tokenizer.json */

static const char *jstr(json_t *o, const char *key, const char *dflt) {
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
        return json_string_value(json_object_get(v, "content"));
    return dflt;
}

static bool jbool(json_t *o, const char *key, bool dflt) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* An id stored in the file (an integer): itself when in [0, TOK_MAX_VOCAB), else INT32_MAX, which
 * names no entry (finish_specials rejects it) instead of wrapping to another token. */
static int32_t file_id(json_t *v) {
    json_int_t x = json_integer_value(v);
    return x >= 0 && (uint64_t)x < TOK_MAX_VOCAB ? (int32_t)x : INT32_MAX;
}

/* Reads the special-token names of a BertProcessing or BERT-shaped TemplateProcessing. */
static rag_status load_post_processor(rag_tokenizer *t, json_t *pp, const char *src, rag_err *err) {
    if (!pp || json_is_null(pp)) return RAG_OK;
    const char *type = jstr(pp, "type", "");
    if (strcmp(type, "BertProcessing") == 0) {
        json_t *c = json_object_get(pp, "cls"), *s = json_object_get(pp, "sep");
        if (json_is_array(c) && json_is_integer(json_array_get(c, 1))) t->cls_id = file_id(json_array_get(c, 1));
        if (json_is_array(s) && json_is_integer(json_array_get(s, 1))) t->sep_id = file_id(json_array_get(s, 1));
        return RAG_OK;
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return rag_err_set(err, RAG_E_UNSUPPORTED, "%s: post_processor type '%.64s' is not supported (BERT templates only)",
                           src, type);
    /* single must be [SpecialToken X, Sequence A, SpecialToken Y] */
    json_t *single = json_object_get(pp, "single"), *specials = json_object_get(pp, "special_tokens");
    const char *x = NULL, *y = NULL;
    if (json_is_array(single) && json_array_size(single) == 3) {
        x = jstr(json_object_get(json_array_get(single, 0), "SpecialToken"), "id", NULL);
        y = jstr(json_object_get(json_array_get(single, 2), "SpecialToken"), "id", NULL);
    }
    if (!x || !y || !json_object_get(json_array_get(single, 1), "Sequence"))
        return rag_err_set(err, RAG_E_UNSUPPORTED,
                           "%s: post_processor template is not '[CLS] $A [SEP]' shaped; not supported", src);
    int32_t *dst[2] = {&t->cls_id, &t->sep_id};
    const char *names[2] = {x, y};
    for (int i = 0; i < 2; i++) {
        json_t *ids = json_object_get(json_object_get(specials, names[i]), "ids");
        if (json_is_array(ids) && json_array_size(ids) == 1 && json_is_integer(json_array_get(ids, 0)))
            *dst[i] = file_id(json_array_get(ids, 0));
        else
            *dst[i] = lookup(t, names[i]);
        if (*dst[i] < 0)
            return rag_err_set(err, RAG_E_BAD_INPUT, "%s: post_processor special token '%.64s' has no id", src, names[i]);
    }
    return RAG_OK;
}

static rag_status load_json(rag_tokenizer *t, const char *path, rag_err *err) {
    char *text = NULL;
    size_t len = 0;
    rag_status st = rag_read_file(path, TOK_MAX_FILE, &text, &len, err);
    if (st != RAG_OK) return st;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!root)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: not valid JSON: %s (line %d, column %d)", path, je.text, je.line,
                           je.column);
    vocab_builder vb = {0};
    rag_buf_init(&vb.blob, 0);
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(root) || !json_is_object(model)) {
        st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: no \"model\" object (not a tokenizers tokenizer.json)", path);
        goto out;
    }
    const char *mtype = jstr(model, "type", "");
    if (strcmp(mtype, "WordPiece") != 0) {
        st = rag_err_set(err, RAG_E_UNSUPPORTED, "%s: model type '%.64s' is not supported (WordPiece only)", path,
                         mtype);
        goto out;
    }
    if (!json_is_object(vocab) || json_object_size(vocab) == 0) {
        st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: model.vocab is missing or empty", path);
        goto out;
    }
    const char *tok;
    json_t *idv;
    json_object_foreach(vocab, tok, idv) {
        if (!json_is_integer(idv) || json_integer_value(idv) < 0) {
            st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: model.vocab entry '%.64s' has no non-negative integer id", path,
                             tok);
            goto out;
        }
        if ((st = vocab_add(t, &vb, tok, strlen(tok), (size_t)json_integer_value(idv), path, err)) != RAG_OK) goto out;
    }
    json_t *mc = json_object_get(model, "max_input_chars_per_word");
    if (json_is_integer(mc)) {
        if (json_integer_value(mc) < 1 || json_integer_value(mc) > TOK_MAX_WORD_CHARS) {
            st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: max_input_chars_per_word %lld outside 1..%d", path,
                             (long long)json_integer_value(mc), TOK_MAX_WORD_CHARS);
            goto out;
        }
        t->max_chars = (size_t)json_integer_value(mc);
    }
    json_t *norm = json_object_get(root, "normalizer");
    if (!norm || json_is_null(norm)) {
        t->clean_text = t->handle_chinese = t->strip_accents = t->lowercase = false;
    } else if (strcmp(jstr(norm, "type", ""), "BertNormalizer") == 0) {
        t->clean_text = jbool(norm, "clean_text", true);
        t->handle_chinese = jbool(norm, "handle_chinese_chars", true);
        t->lowercase = jbool(norm, "lowercase", true);
        t->strip_accents = jbool(norm, "strip_accents", t->lowercase); /* null follows lowercase */
    } else {
        st = rag_err_set(err, RAG_E_UNSUPPORTED, "%s: normalizer type '%.64s' is not supported (BertNormalizer only)",
                         path, jstr(norm, "type", "?"));
        goto out;
    }
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (!json_is_object(pre) || strcmp(jstr(pre, "type", ""), "BertPreTokenizer") != 0) {
        st = rag_err_set(err, RAG_E_UNSUPPORTED, "%s: pre_tokenizer '%.64s' is not supported (BertPreTokenizer only)",
                         path, json_is_object(pre) ? jstr(pre, "type", "?") : "null");
        goto out;
    }
    vocab_finish(t, &vb);
    json_t *added = json_object_get(root, "added_tokens");
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *aid = json_object_get(a, "id");
        const char *content = jstr(a, "content", NULL);
        if (!content || !json_is_integer(aid) || json_integer_value(aid) < 0 ||
            (size_t)json_integer_value(aid) >= TOK_MAX_VOCAB) {
            st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: added_tokens[%zu] needs content and a valid id", path, i);
            goto out;
        }
        /* normalized added tokens are left to WordPiece (they are vocabulary entries in BERT files) */
        if (jbool(a, "normalized", false)) continue;
        if ((st = add_added(t, content, (int32_t)json_integer_value(aid), jbool(a, "single_word", false), path, err)) !=
            RAG_OK)
            goto out;
    }
    json_t *pad = json_object_get(root, "padding");
    if (json_is_object(pad) && json_is_integer(json_object_get(pad, "pad_id")))
        t->pad_id = file_id(json_object_get(pad, "pad_id"));
    if ((st = load_post_processor(t, json_object_get(root, "post_processor"), path, err)) != RAG_OK) goto out;
    st = finish_specials(t, jstr(model, "unk_token", "[UNK]"), "[CLS]", "[SEP]",
                         json_is_object(pad) ? jstr(pad, "pad_token", "[PAD]") : "[PAD]",
                         jstr(model, "continuing_subword_prefix", "##"), path, err);
out:
    rag_buf_free(&vb.blob);
    free(vb.off);
    json_decref(root);
    return st;
}

/* ---------------------------------------------------------------- loading: vocab.txt */

static rag_status load_vocab_txt(rag_tokenizer *t, const char *vocab_path, const char *config_path, rag_err *err) {
    json_t *cfg = NULL;
    char *text = NULL;
    size_t len = 0;
    rag_status st;
    struct stat sb;
    if (config_path && stat(config_path, &sb) == 0) {
        if ((st = rag_read_file(config_path, TOK_MAX_FILE, &text, &len, err)) != RAG_OK) return st;
        json_error_t je;
        cfg = json_loadb(text, len, 0, &je);
        free(text);
        text = NULL;
        if (!json_is_object(cfg)) {
            json_decref(cfg);
            return rag_err_set(err, RAG_E_BAD_INPUT, "%s: not a JSON object%s%s", config_path, cfg ? "" : ": ",
                               cfg ? "" : je.text);
        }
        t->lowercase = jbool(cfg, "do_lower_case", true);
        t->strip_accents = jbool(cfg, "strip_accents", t->lowercase);
        t->handle_chinese = jbool(cfg, "tokenize_chinese_chars", true);
    }
    vocab_builder vb = {0};
    rag_buf_init(&vb.blob, 0);
    if ((st = rag_read_file(vocab_path, TOK_MAX_FILE, &text, &len, err)) != RAG_OK) goto out;
    size_t id = 0;
    for (size_t p = 0; p < len;) {
        const char *nl = memchr(text + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - text) : len, n = e - p;
        if (n && text[p + n - 1] == '\r') n--;
        if (memchr(text + p, '\0', n)) {
            st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: line %zu contains a NUL byte", vocab_path, id + 1);
            goto out;
        }
        if (!rag_utf8_valid(text + p, n, NULL)) {
            st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: line %zu is not valid UTF-8", vocab_path, id + 1);
            goto out;
        }
        /* a repeated token keeps its last id (vocab_add overrides), as transformers' load_vocab does */
        if ((st = vocab_add(t, &vb, text + p, n, id, vocab_path, err)) != RAG_OK) goto out;
        id++;
        p = e + 1;
    }
    if (id == 0) {
        st = rag_err_set(err, RAG_E_EMPTY, "%s: empty vocabulary", vocab_path);
        goto out;
    }
    t->vocab_size = id;
    vocab_finish(t, &vb);
    const char *names[5] = {jstr(cfg, "unk_token", "[UNK]"), jstr(cfg, "sep_token", "[SEP]"),
                            jstr(cfg, "pad_token", "[PAD]"), jstr(cfg, "cls_token", "[CLS]"),
                            jstr(cfg, "mask_token", "[MASK]")};
    /* transformers splits the special tokens out of the raw text before BasicTokenizer */
    for (int i = 0; i < 5 && st == RAG_OK; i++) {
        int32_t sid = lookup(t, names[i]);
        if (sid >= 0) st = add_added(t, names[i], sid, false, vocab_path, err);
    }
    if (st == RAG_OK) st = finish_specials(t, names[0], names[3], names[1], names[2], "##", vocab_path, err);
out:
    free(text);
    rag_buf_free(&vb.blob);
    free(vb.off);
    json_decref(cfg);
    return st;
}

static bool is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

rag_status rag_tokenizer_load(const char *path, rag_tokenizer **out, rag_err *err) {
    if (!out) return rag_err_set(err, RAG_E_INTERNAL, "rag_tokenizer_load: out is NULL");
    *out = NULL;
    if (!path || !*path) return rag_err_set(err, RAG_E_BAD_INPUT, "rag_tokenizer_load: empty path");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return rag_err_set(err, errno == ENOENT ? RAG_E_NOT_FOUND : RAG_E_IO, "%s: %s", path, strerror(errno));
    rag_tokenizer *t = tok_new();
    if (!t) return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", path);
    rag_status st;
    size_t pl = strlen(path);
    char *a = malloc(pl + 32), *b = malloc(pl + 32);
    if (!a || !b) {
        st = rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", path);
    } else if (S_ISDIR(sb.st_mode)) {
        snprintf(a, pl + 32, "%s/tokenizer.json", path);
        snprintf(b, pl + 32, "%s/vocab.txt", path);
        if (is_file(a)) {
            st = load_json(t, a, err);
        } else if (is_file(b)) {
            snprintf(a, pl + 32, "%s/tokenizer_config.json", path);
            st = load_vocab_txt(t, b, a, err);
        } else {
            st = rag_err_set(err, RAG_E_NOT_FOUND, "%s: no tokenizer.json or vocab.txt in this directory", path);
        }
    } else if (ends_with(path, ".txt")) {
        /* vocab.txt: tokenizer_config.json from the same directory, if any */
        const char *slash = strrchr(path, '/');
        size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
        snprintf(a, pl + 32, "%.*stokenizer_config.json", (int)dl, path);
        st = load_vocab_txt(t, path, a, err);
    } else {
        st = load_json(t, path, err);
    }
    free(a);
    free(b);
    if (st != RAG_OK) {
        rag_tokenizer_free(t);
        return st;
    }
    *out = t;
    return RAG_OK;
}

size_t rag_tokenizer_vocab_size(const rag_tokenizer *t) { return t ? t->vocab_size : 0; }

int32_t rag_tokenizer_token_id(const rag_tokenizer *t, const char *token) {
    return (t && token) ? lookup(t, token) : -1;
}

int32_t rag_tokenizer_pad_id(const rag_tokenizer *t) { return t ? t->pad_id : 0; }

const char *rag_tokenizer_id_token(const rag_tokenizer *t, int32_t id) {
    if (!t || id < 0) return NULL;
    if ((size_t)id < t->n_ids && t->tok_off[id] != UINT32_MAX) return t->blob + t->tok_off[id];
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) return t->added[i].content;
    return NULL;
}

/* ---------------------------------------------------------------- BasicTokenizer character classes */

static bool is_control(int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return false;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
        return true;
    default:
        return false;
    }
}

/* Unicode White_Space (what the tokenizers library splits on). */
static bool is_ws(int32_t c) {
    if ((c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0x2028 || c == 0x2029) return true;
    return c > 127 && utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
}

static bool is_punct(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
    if (c < 128) return false;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return true;
    default:
        return false;
    }
}

/* The CJK Unified Ideographs blocks BERT isolates (not Hangul, Hiragana or Katakana). */
static bool is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static bool is_word_char(int32_t c) {
    if (c == '_') return true;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

/* ---------------------------------------------------------------- encoding */

typedef struct idvec {
    int32_t *v;
    size_t n, cap;
    size_t limit; /* stop after this many ids (SIZE_MAX = none) */
} idvec;

static rag_status idvec_push(idvec *o, int32_t id) {
    if (o->n >= o->limit) return RAG_OK;
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 64;
        int32_t *v = realloc(o->v, nc * sizeof *v);
        if (!v) return RAG_E_NOMEM;
        o->v = v;
        o->cap = nc;
    }
    o->v[o->n++] = id;
    return RAG_OK;
}

/* Per-call scratch for one word: bytes of the normalised word and its char boundaries. */
typedef struct word {
    char *bytes;    /* capacity (max_chars + 1) * 4 */
    size_t *offs;   /* offs[i] = byte offset of char i; offs[nchars] = length; capacity max_chars + 2 */
    size_t nchars;  /* chars seen, may exceed max_chars (then bytes are no longer stored) */
    size_t nbytes;
} word;

static void word_add(const rag_tokenizer *t, word *w, int32_t cp) {
    if (w->nchars++ >= t->max_chars) return; /* already too long: [UNK] regardless of the rest */
    w->offs[w->nchars - 1] = w->nbytes;
    w->nbytes += (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)w->bytes + w->nbytes);
    w->offs[w->nchars] = w->nbytes;
}

/* WordPiece on the finished word; resets w. */
static rag_status word_end(const rag_tokenizer *t, word *w, int32_t *pieces, idvec *out) {
    size_t nc = w->nchars;
    w->nchars = w->nbytes = 0;
    if (nc == 0) return RAG_OK;
    if (nc > t->max_chars) return idvec_push(out, t->unk_id);
    size_t np = 0;
    for (size_t start = 0; start < nc;) {
        int32_t node = start ? t->cont_root : 0, best = -1;
        size_t best_end = start;
        size_t ci = start;
        for (size_t bi = w->offs[start]; bi < w->offs[nc] && node >= 0; bi++) {
            node = trie_child(t, node, (unsigned char)w->bytes[bi]);
            if (node < 0) break;
            if (bi + 1 == w->offs[ci + 1]) { /* at a char boundary */
                ci++;
                if (t->full[node] >= 0) {
                    best = t->full[node];
                    best_end = ci;
                }
            }
        }
        if (best < 0) return idvec_push(out, t->unk_id);
        pieces[np++] = best;
        start = best_end;
    }
    for (size_t i = 0; i < np; i++) {
        rag_status st = idvec_push(out, pieces[i]);
        if (st != RAG_OK) return st;
    }
    return RAG_OK;
}

/* Normalises and pre-tokenises s[0..n) (valid UTF-8, no added tokens inside) and appends the
 * WordPiece ids of every word. */
static rag_status encode_segment(const rag_tokenizer *t, const char *s, size_t n, word *w, int32_t *pieces,
                                 idvec *out) {
    rag_status st = RAG_OK;
    size_t i = 0;
    while (i < n && out->n < out->limit) {
        int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return RAG_E_INTERNAL; /* input was validated */
        i += (size_t)k;
        if (t->clean_text && (cp == 0 || cp == 0xFFFD || is_control(cp))) continue;
        bool cjk = t->handle_chinese && is_cjk(cp);
        int32_t buf[32];
        int nb = 1;
        buf[0] = cp;
        if (t->strip_accents) {
            int bc = 0;
            utf8proc_ssize_t d = utf8proc_decompose_char(cp, buf, 32, UTF8PROC_DECOMPOSE, &bc);
            if (d < 1 || d > 32) {
                buf[0] = cp;
                d = 1;
            }
            nb = 0;
            for (utf8proc_ssize_t j = 0; j < d; j++)
                if (utf8proc_category(buf[j]) != UTF8PROC_CATEGORY_MN) buf[nb++] = buf[j];
        }
        if (t->lowercase)
            for (int j = 0; j < nb; j++) buf[j] = utf8proc_tolower(buf[j]);
        if (cjk) {
            if ((st = word_end(t, w, pieces, out)) != RAG_OK) return st;
            for (int j = 0; j < nb; j++) word_add(t, w, buf[j]);
            if ((st = word_end(t, w, pieces, out)) != RAG_OK) return st;
            continue;
        }
        for (int j = 0; j < nb; j++) {
            if (is_ws(buf[j])) {
                st = word_end(t, w, pieces, out);
            } else if (is_punct(buf[j])) {
                if ((st = word_end(t, w, pieces, out)) != RAG_OK) return st;
                word_add(t, w, buf[j]);
                st = word_end(t, w, pieces, out);
            } else {
                word_add(t, w, buf[j]);
            }
            if (st != RAG_OK) return st;
        }
    }
    return word_end(t, w, pieces, out);
}

/* True if s[at..at+len) is not glued to a word character on either side (single_word tokens). */
static bool single_word_ok(const char *s, size_t n, size_t at, size_t len) {
    if (at > 0) {
        size_t b = at - 1;
        while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
        int32_t cp = -1;
        utf8proc_iterate((const utf8proc_uint8_t *)s + b, (utf8proc_ssize_t)(at - b), &cp);
        if (cp >= 0 && is_word_char(cp)) return false;
    }
    if (at + len < n) {
        int32_t cp = -1;
        utf8proc_iterate((const utf8proc_uint8_t *)s + at + len, (utf8proc_ssize_t)(n - at - len), &cp);
        if (cp >= 0 && is_word_char(cp)) return false;
    }
    return true;
}

/* Full tokenisation of text[0..n) into out (no special tokens added). src names the text. */
static rag_status tokenize(const rag_tokenizer *t, const char *text, size_t n, const char *src, idvec *out,
                           rag_err *err) {
    if (!text && n) return rag_err_set(err, RAG_E_BAD_INPUT, "%s: NULL text", src);
    if (n > RAG_TOKENIZER_MAX_INPUT)
        return rag_err_set(err, RAG_E_TOO_LARGE, "%s: %zu bytes exceeds the tokenizer cap of %zu bytes per text", src,
                           n, RAG_TOKENIZER_MAX_INPUT);
    size_t bad = 0;
    if (n && !rag_utf8_valid(text, n, &bad))
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: invalid UTF-8 at byte %zu", src, bad);
    if (n == 0) return RAG_OK;
    word w = {0};
    w.bytes = malloc((t->max_chars + 1) * 4);
    w.offs = malloc((t->max_chars + 2) * sizeof *w.offs);
    int32_t *pieces = malloc(t->max_chars * sizeof *pieces);
    /* next[a]: position of the next acceptable match of added token a (SIZE_MAX = none left);
     * known[a]: next[a] was computed from a position <= the current one */
    size_t na = t->n_added ? t->n_added : 1;
    size_t *next = malloc(na * sizeof *next);
    bool *known = calloc(na, sizeof *known);
    rag_status st = RAG_OK;
    if (!w.bytes || !w.offs || !pieces || !next || !known) {
        st = RAG_E_NOMEM;
        goto done;
    }
    size_t pos = 0;
    while (pos < n && out->n < out->limit) {
        /* earliest (then longest) added-token occurrence at or after pos; each token's search
         * resumes where it stopped, so the scan is linear in n per added token */
        size_t best_at = n, best_len = 0;
        int32_t best_id = -1;
        for (size_t a = 0; a < t->n_added; a++) {
            const added_token *x = &t->added[a];
            if (!known[a] || (next[a] != SIZE_MAX && next[a] < pos)) {
                next[a] = SIZE_MAX;
                known[a] = true;
                for (size_t from = pos; from < n;) {
                    const char *m = memmem(text + from, n - from, x->content, x->len);
                    if (!m) break;
                    size_t at = (size_t)(m - text);
                    if (!x->single_word || single_word_ok(text, n, at, x->len)) {
                        next[a] = at;
                        break;
                    }
                    from = at + 1;
                }
            }
            if (next[a] != SIZE_MAX && (next[a] < best_at || (next[a] == best_at && x->len > best_len))) {
                best_at = next[a];
                best_len = x->len;
                best_id = x->id;
            }
        }
        if ((st = encode_segment(t, text + pos, best_at - pos, &w, pieces, out)) != RAG_OK) goto done;
        if (best_id < 0) break;
        if ((st = idvec_push(out, best_id)) != RAG_OK) goto done;
        pos = best_at + best_len;
    }
done:
    free(w.bytes);
    free(w.offs);
    free(pieces);
    free(next);
    free(known);
    if (st == RAG_E_NOMEM) return rag_err_set(err, st, "%s: out of memory while tokenizing", src);
    if (st != RAG_OK) return rag_err_set(err, st, "%s: internal tokenizer error", src);
    return RAG_OK;
}

void rag_encoding_clear(rag_encoding *e) {
    if (!e) return;
    free(e->ids);
    free(e->type_ids);
    free(e->attention_mask);
    memset(e, 0, sizeof *e);
}

/* Builds [CLS] a [SEP] (b [SEP]) into out from the already truncated id lists. */
static rag_status assemble(const rag_tokenizer *t, const int32_t *a, size_t na, const int32_t *b, size_t nb,
                           bool pair, rag_encoding *out, rag_err *err) {
    size_t len = na + nb + (pair ? 3 : 2);
    memset(out, 0, sizeof *out);
    out->ids = malloc(len * sizeof *out->ids);
    out->type_ids = malloc(len * sizeof *out->type_ids);
    out->attention_mask = malloc(len * sizeof *out->attention_mask);
    if (!out->ids || !out->type_ids || !out->attention_mask) {
        rag_encoding_clear(out);
        return rag_err_set(err, RAG_E_NOMEM, "tokenizer: out of memory for %zu tokens", len);
    }
    size_t k = 0;
    out->ids[k] = t->cls_id, out->type_ids[k++] = 0;
    for (size_t i = 0; i < na; i++) out->ids[k] = a[i], out->type_ids[k++] = 0;
    out->ids[k] = t->sep_id, out->type_ids[k++] = 0;
    if (pair) {
        for (size_t i = 0; i < nb; i++) out->ids[k] = b[i], out->type_ids[k++] = 1;
        out->ids[k] = t->sep_id, out->type_ids[k++] = 1;
    }
    for (size_t i = 0; i < len; i++) out->attention_mask[i] = 1;
    out->len = len;
    return RAG_OK;
}

rag_status rag_tokenizer_encode(const rag_tokenizer *t, const char *text, size_t n, size_t max_len,
                                rag_encoding *out, rag_err *err) {
    if (!t || !out) return rag_err_set(err, RAG_E_BAD_INPUT, "rag_tokenizer_encode: NULL tokenizer or output");
    memset(out, 0, sizeof *out);
    if (max_len == 1)
        return rag_err_set(err, RAG_E_BAD_INPUT, "tokenizer: max_len 1 cannot hold [CLS] and [SEP] (need >= 2)");
    idvec v = {.limit = max_len ? max_len - 2 : SIZE_MAX};
    rag_status st = tokenize(t, text, n, "text", &v, err);
    if (st == RAG_OK) st = assemble(t, v.v, v.n, NULL, 0, false, out, err);
    free(v.v);
    return st;
}

rag_status rag_tokenizer_encode_pair(const rag_tokenizer *t, const char *a, size_t na, const char *b, size_t nb,
                                     size_t max_len, rag_encoding *out, rag_err *err) {
    if (!t || !out) return rag_err_set(err, RAG_E_BAD_INPUT, "rag_tokenizer_encode_pair: NULL tokenizer or output");
    memset(out, 0, sizeof *out);
    if (max_len && max_len < 3)
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "tokenizer: max_len %zu cannot hold [CLS] a [SEP] b [SEP] (need >= 3)", max_len);
    idvec va = {.limit = SIZE_MAX}, vb = {.limit = SIZE_MAX};
    rag_status st = tokenize(t, a, na, "first text", &va, err);
    if (st == RAG_OK) st = tokenize(t, b, nb, "second text", &vb, err);
    if (st == RAG_OK) {
        size_t n1 = va.n, n2 = vb.n;
        if (max_len && n1 + n2 > max_len - 3) {
            /* tokenizers' LongestFirst: n1 is the shorter side */
            size_t m = max_len - 3;
            bool swap = n1 > n2;
            if (swap) {
                size_t x = n1;
                n1 = n2;
                n2 = x;
            }
            n2 = n1 > m ? n1 : (n1 > m - n1 ? n1 : m - n1);
            if (n1 + n2 > m) {
                n1 = m / 2;
                n2 = n1 + m % 2;
            }
            if (swap) {
                size_t x = n1;
                n1 = n2;
                n2 = x;
            }
            if (n1 < va.n) va.n = n1;
            if (n2 < vb.n) vb.n = n2;
        }
        st = assemble(t, va.v, va.n, vb.v, vb.n, true, out, err);
    }
    free(va.v);
    free(vb.v);
    return st;
}
