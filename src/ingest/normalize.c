/* Text normalizer (rules in include/ragc/normalize.h). One pass over NFC code points with a small
 * state machine: spaces and line breaks are held as "pending" and only materialized (as one ' '
 * or "\n\n") when the next visible character arrives, which trims and collapses for free. */
#include "ragc/normalize.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct norm_state {
    rag_buf *out;
    int pending_nl;     /* line breaks since the last visible char (saturates at 2) */
    bool pending_space; /* a space since the last visible char */
    bool soft_hyphen;   /* U+00AD directly after the last visible char */
    bool prev_letter;   /* the last visible char is a letter */
    bool hyphen_cand;   /* the last visible char is a hyphen directly after a letter */
    size_t hyphen_pos;  /* out->len before that hyphen */
    bool any;           /* something was emitted */
} norm_state;

enum cp_class { CP_VISIBLE, CP_SPACE, CP_NEWLINE, CP_PARA, CP_SOFT_HYPHEN, CP_DROP };

static bool is_letter(utf8proc_category_t c)
{
    return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

static enum cp_class classify(utf8proc_int32_t cp, utf8proc_category_t cat)
{
    switch (cp) {
    case '\n': case '\r': case 0x0B: case 0x0C: case 0x85: case 0x2028:
        return CP_NEWLINE;
    case 0x2029:
        return CP_PARA;
    case '\t':
        return CP_SPACE;
    case 0xAD:
        return CP_SOFT_HYPHEN;
    case 0xFEFF:
        return CP_DROP;
    default:
        break;
    }
    if (cat == UTF8PROC_CATEGORY_ZS)
        return CP_SPACE;
    if (cat == UTF8PROC_CATEGORY_CC)
        return CP_DROP;
    return CP_VISIBLE;
}

static rag_status emit_visible(norm_state *s, utf8proc_int32_t cp, utf8proc_category_t cat)
{
    rag_status st = RAG_OK;
    bool adjacent = s->any && !s->pending_space && s->pending_nl == 0;
    if (s->any) {
        if (s->pending_nl >= 2) {
            st = rag_buf_append(s->out, "\n\n", 2);
        } else if (s->pending_nl == 1) {
            if (s->hyphen_cand && cat == UTF8PROC_CATEGORY_LL) {
                s->out->len = s->hyphen_pos; /* "infor-\nmation" -> "information" */
                s->out->data[s->out->len] = '\0';
            } else if (!s->hyphen_cand && !s->soft_hyphen) {
                st = rag_buf_append_char(s->out, ' ');
            }
        } else if (s->pending_space) {
            st = rag_buf_append_char(s->out, ' ');
        }
        if (st != RAG_OK)
            return st;
    }
    bool hyphen = cp == '-' || cp == 0x2010;
    s->hyphen_cand = hyphen && adjacent && s->prev_letter;
    s->hyphen_pos = s->out->len;
    utf8proc_uint8_t enc[4];
    utf8proc_ssize_t k = utf8proc_encode_char(cp, enc);
    st = rag_buf_append(s->out, enc, (size_t)k);
    s->prev_letter = is_letter(cat);
    s->pending_nl = 0;
    s->pending_space = false;
    s->soft_hyphen = false;
    s->any = true;
    return st;
}

static rag_status run(norm_state *s, const utf8proc_uint8_t *p, utf8proc_ssize_t n)
{
    utf8proc_ssize_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, n - i, &cp);
        if (k <= 0)
            return RAG_E_INTERNAL; /* input was validated: cannot happen */
        i += k;
        utf8proc_category_t cat;
        if (cp >= 0x80)
            cat = utf8proc_category(cp);
        else if (cp == ' ') /* ASCII fast path */
            cat = UTF8PROC_CATEGORY_ZS;
        else if (cp < 0x20 || cp == 0x7F)
            cat = UTF8PROC_CATEGORY_CC;
        else if (cp >= 'a' && cp <= 'z')
            cat = UTF8PROC_CATEGORY_LL;
        else if (cp >= 'A' && cp <= 'Z')
            cat = UTF8PROC_CATEGORY_LU;
        else
            cat = UTF8PROC_CATEGORY_PO; /* digits/punctuation: only "not a letter" matters */
        switch (classify(cp, cat)) {
        case CP_VISIBLE: {
            rag_status st = emit_visible(s, cp, cat);
            if (st != RAG_OK)
                return st;
            break;
        }
        case CP_SPACE:
            s->pending_space = true;
            break;
        case CP_NEWLINE:
            if (cp == '\r' && i < n && p[i] == '\n')
                i++; /* CRLF is one line break */
            if (s->pending_nl < 2)
                s->pending_nl++;
            break;
        case CP_PARA:
            s->pending_nl = 2;
            break;
        case CP_SOFT_HYPHEN:
            if (s->any && !s->pending_space && s->pending_nl == 0)
                s->soft_hyphen = true;
            break;
        case CP_DROP:
            break;
        }
    }
    return RAG_OK;
}

static bool all_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

rag_status rag_normalize(const char *in, size_t n, rag_buf *out, rag_err *err)
{
    rag_buf_reset(out);
    size_t bad = 0;
    if (n && !rag_utf8_valid(in, n, &bad))
        return rag_err_set(err, RAG_E_BAD_INPUT, "invalid UTF-8 at byte %zu", bad);
    if (n > (size_t)(SIZE_MAX / 8))
        return rag_err_set(err, RAG_E_TOO_LARGE, "text of %zu bytes is too large to normalize", n);

    const utf8proc_uint8_t *text = (const utf8proc_uint8_t *)in;
    utf8proc_ssize_t len = (utf8proc_ssize_t)n;
    utf8proc_uint8_t *nfc = NULL;
    if (n && !all_ascii(in, n)) { /* ASCII is already NFC */
        len = utf8proc_map(text, len, &nfc, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
        if (len < 0) {
            if (len == UTF8PROC_ERROR_NOMEM)
                return rag_err_set(err, RAG_E_NOMEM, "out of memory during NFC normalization");
            return rag_err_set(err, RAG_E_BAD_INPUT, "NFC normalization failed: %s",
                               utf8proc_errmsg(len));
        }
        text = nfc;
    }

    norm_state s = {.out = out};
    rag_status st = rag_buf_append(out, "", 0); /* out->data non-NULL even for empty output */
    if (st == RAG_OK)
        st = run(&s, text, len);
    free(nfc);
    if (st == RAG_E_TOO_LARGE)
        return rag_err_set(err, st, "normalized text exceeds the %zu-byte limit", out->max);
    if (st == RAG_E_NOMEM)
        return rag_err_set(err, st, "out of memory while normalizing %zu bytes of text", n);
    if (st != RAG_OK)
        return rag_err_set(err, st, "normalizer invariant failed");
    return RAG_OK;
}
