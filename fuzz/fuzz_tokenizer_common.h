/* Checks shared by the tokenizer fuzz targets (fuzz_local_tokenizer_json.c,
 * fuzz_local_wordpiece.c); header-only, not a target. Every check is the contract of
 * include/ragc/tokenizer.h:
 * - ids in [0, rag_tokenizer_vocab_size), attention_mask all 1, len <= max_len (0 = no limit);
 * - single: [CLS] first, [SEP] last, type ids 0; a limited encoding is the unlimited one cut to
 *   max_len - 1 ids plus [SEP];
 * - pair: [CLS] a [SEP] b [SEP], type ids 0 up to the first [SEP] and 1 after; unlimited it is
 *   exactly the two single encodings joined; limited, both sides are prefixes of their unlimited
 *   ids, truncated by "longest_first" (the shorter side kept whole if it fits in m/2, m =
 *   max_len - 3, else m/2 each and the odd token to the longer side, b when equal).
 * cls / sep are the ids of encoding "" ([CLS] [SEP]).
 */
#ifndef RAGC_FUZZ_TOKENIZER_COMMON_H
#define RAGC_FUZZ_TOKENIZER_COMMON_H

#include "fuzz_common.h"

#include "ragc/tokenizer.h"

typedef struct fuzz_tok {
    const rag_tokenizer *t;
    int32_t cls, sep;
} fuzz_tok;

/* Reads cls / sep from the encoding of "" (which must succeed). */
static inline fuzz_tok fuzz_tok_init(const rag_tokenizer *t)
{
    fuzz_tok ft = {t, -1, -1};
    rag_encoding e = {0};
    rag_err err;
    FUZZ_CHECK(rag_tokenizer_encode(t, "", 0, 0, &e, &err) == RAG_OK && e.len == 2);
    ft.cls = e.ids[0];
    ft.sep = e.ids[1];
    rag_encoding_clear(&e);
    size_t vs = rag_tokenizer_vocab_size(t);
    FUZZ_CHECK(ft.cls >= 0 && (size_t)ft.cls < vs && ft.sep >= 0 && (size_t)ft.sep < vs);
    int32_t pad = rag_tokenizer_pad_id(t);
    FUZZ_CHECK(pad >= 0 && (size_t)pad < vs);
    return ft;
}

static inline void fuzz_tok_check_ids(const fuzz_tok *ft, const rag_encoding *e, size_t max_len)
{
    size_t vs = rag_tokenizer_vocab_size(ft->t);
    FUZZ_CHECK(e->ids && e->type_ids && e->attention_mask);
    FUZZ_CHECK(max_len == 0 || e->len <= max_len);
    for (size_t i = 0; i < e->len; i++) {
        FUZZ_CHECK(e->ids[i] >= 0 && (size_t)e->ids[i] < vs);
        FUZZ_CHECK(e->attention_mask[i] == 1);
    }
}

/* Encodes text[0..n) unlimited and with max_len; checks both. Returns the status (both agree). */
static inline rag_status fuzz_tok_single(const fuzz_tok *ft, const char *text, size_t n, size_t max_len)
{
    rag_encoding full = {0}, lim = {0};
    rag_err err;
    rag_status st = rag_tokenizer_encode(ft->t, text, n, 0, &full, &err);
    rag_status st2 = rag_tokenizer_encode(ft->t, text, n, max_len, &lim, &err);
    FUZZ_CHECK(st == st2);
    if (st != RAG_OK) {
        FUZZ_CHECK(err.status == st && err.msg[0] && full.ids == NULL && lim.ids == NULL);
        return st;
    }
    fuzz_tok_check_ids(ft, &full, 0);
    fuzz_tok_check_ids(ft, &lim, max_len);
    FUZZ_CHECK(full.len >= 2 && full.ids[0] == ft->cls && full.ids[full.len - 1] == ft->sep);
    FUZZ_CHECK(lim.len >= 2 && lim.ids[0] == ft->cls && lim.ids[lim.len - 1] == ft->sep);
    for (size_t i = 0; i < full.len; i++)
        FUZZ_CHECK(full.type_ids[i] == 0);
    size_t want = max_len && full.len > max_len ? max_len : full.len;
    FUZZ_CHECK(lim.len == want);
    FUZZ_CHECK(!memcmp(lim.ids, full.ids, (lim.len - 1) * sizeof *lim.ids));
    rag_encoding_clear(&full);
    rag_encoding_clear(&lim);
    return st;
}

/* Ids of a single encoding without [CLS] / [SEP] (caller frees with free()); NULL on failure. */
static inline int32_t *fuzz_tok_body(const rag_tokenizer *t, const char *s, size_t n, size_t *len)
{
    rag_encoding e = {0};
    if (rag_tokenizer_encode(t, s, n, 0, &e, NULL) != RAG_OK)
        return NULL;
    *len = e.len - 2;
    int32_t *v = malloc((*len ? *len : 1) * sizeof *v);
    if (!v)
        abort();
    memcpy(v, e.ids + 1, *len * sizeof *v);
    rag_encoding_clear(&e);
    return v;
}

/* Pair-encodes (a, b) with max_len (>= 3 or 0) and checks it against the single encodings. */
static inline void fuzz_tok_pair(const fuzz_tok *ft, const char *a, size_t na, const char *b, size_t nb,
                                 size_t max_len)
{
    rag_encoding e = {0};
    rag_err err;
    rag_status st = rag_tokenizer_encode_pair(ft->t, a, na, b, nb, max_len, &e, &err);
    size_t la = 0, lb = 0;
    int32_t *va = fuzz_tok_body(ft->t, a, na, &la), *vb = fuzz_tok_body(ft->t, b, nb, &lb);
    FUZZ_CHECK((st == RAG_OK) == (va && vb));
    if (st != RAG_OK) {
        FUZZ_CHECK(err.status == st && err.msg[0] && e.ids == NULL);
        free(va);
        free(vb);
        return;
    }
    fuzz_tok_check_ids(ft, &e, max_len);
    /* [CLS] a' [SEP] b' [SEP]: find a' by the type ids */
    FUZZ_CHECK(e.len >= 3 && e.ids[0] == ft->cls && e.ids[e.len - 1] == ft->sep);
    size_t n0 = 0;
    while (n0 < e.len && e.type_ids[n0] == 0)
        n0++;
    for (size_t i = n0; i < e.len; i++)
        FUZZ_CHECK(e.type_ids[i] == 1);
    FUZZ_CHECK(n0 >= 2 && n0 < e.len && e.ids[n0 - 1] == ft->sep);
    size_t ka = n0 - 2, kb = e.len - n0 - 1;
    FUZZ_CHECK(ka <= la && kb <= lb);
    FUZZ_CHECK(!memcmp(e.ids + 1, va, ka * sizeof *va) && !memcmp(e.ids + n0, vb, kb * sizeof *vb));
    if (max_len == 0 || la + lb + 3 <= max_len) {
        FUZZ_CHECK(ka == la && kb == lb);
    } else {
        size_t m = max_len - 3, shorter = la < lb ? la : lb;
        FUZZ_CHECK(ka + kb == m);
        if (2 * shorter <= m) {
            FUZZ_CHECK(la < lb ? ka == la : kb == lb);
        } else {
            size_t big = m / 2 + m % 2;
            FUZZ_CHECK(la > lb ? (ka == big && kb == m / 2) : (kb == big && ka == m / 2));
        }
    }
    free(va);
    free(vb);
    rag_encoding_clear(&e);
}

#endif /* RAGC_FUZZ_TOKENIZER_COMMON_H */
