/* Rule-based sentence splitter (contract in include/ragc/sentence.h). */
#include "ragc/sentence.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text_internal.h"


/* Length of the code point that ends at s[i - 1] (i > 0); 1 for an invalid byte. */
static size_t prev_len(const unsigned char *s, size_t i)
{
    size_t k = 1;
    while (k < 4 && k < i && (s[i - k] & 0xC0) == 0x80)
        k++;
    int32_t cp;
    if (k > 1 && text_utf8_decode(s, i, i - k, &cp) == k && cp >= 0)
        return k;
    return 1;
}

static bool is_space(int32_t cp)
{
    if (cp < 0)
        return false;
    if (cp < 0x80)
        return cp == ' ' || (cp >= '\t' && cp <= '\r');
    if (cp == 0x85)
        return true;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

/* Byte length of a line terminator at s[i] (\r\n, \n, \r, U+0085, U+2028), else 0. */
static size_t line_break_at(const unsigned char *s, size_t n, size_t i)
{
    if (s[i] == '\n')
        return 1;
    if (s[i] == '\r')
        return i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
    if (s[i] == 0xC2 && i + 1 < n && s[i + 1] == 0x85)
        return 2;
    if (s[i] == 0xE2 && i + 2 < n && s[i + 1] == 0x80 && s[i + 2] == 0xA8)
        return 3;
    return 0;
}

static bool is_para_sep_at(const unsigned char *s, size_t n, size_t i)
{
    return s[i] == 0xE2 && i + 2 < n && s[i + 1] == 0x80 && s[i + 2] == 0xA9; /* U+2029 */
}

/* True if a paragraph break starts at s[i]. */
static bool para_break_at(const unsigned char *s, size_t n, size_t i)
{
    if (is_para_sep_at(s, n, i))
        return true;
    size_t l = line_break_at(s, n, i);
    if (!l)
        return false;
    size_t j = i + l;
    while (j < n) {
        if (line_break_at(s, n, j) || is_para_sep_at(s, n, j))
            return true;
        int32_t cp;
        size_t k = text_utf8_decode(s, n, j, &cp);
        if (!is_space(cp))
            return false;
        j += k;
    }
    return false;
}

bool rag_text_has_paragraph_break(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    if (!s)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((s[i] == '\n' || s[i] == '\r' || s[i] == 0xC2 || s[i] == 0xE2) && para_break_at(s, n, i))
            return true;
    return false;
}

static bool is_cjk_terminator(int32_t cp)
{
    return cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF61;
}

static bool is_terminator(int32_t cp)
{
    switch (cp) {
    case '.': case '!': case '?':
    case 0x2026: /* … */
    case 0x203C: case 0x2047: case 0x2048: case 0x2049: /* ‼ ⁇ ⁈ ⁉ */
    case 0x061F: case 0x06D4: case 0x0964: case 0x0965: /* Arabic ? and full stop, danda */
        return true;
    default:
        return is_cjk_terminator(cp);
    }
}

static bool is_closer(int32_t cp)
{
    switch (cp) {
    case '"': case '\'': case ')': case ']': case '}':
    case 0x201D: case 0x2019: case 0x00BB: case 0x300D: case 0x300F: case 0xFF09: case 0x3011:
        return true;
    default:
        return false;
    }
}

static bool is_opener(int32_t cp)
{
    switch (cp) {
    case '"': case '\'': case '(': case '[': case '{':
    case 0x201C: case 0x2018: case 0x00AB: case 0x201E: case 0x00BF: case 0x00A1:
    case 0x300C: case 0x300E: case 0xFF08: case 0x3010:
        return true;
    default:
        return false;
    }
}

static bool is_letter(int32_t cp)
{
    if (cp < 0)
        return false;
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    utf8proc_category_t c = utf8proc_category(cp);
    return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

/* Can cp begin a new sentence: uppercase/titlecase or caseless letter, digit, opening quote. */
static bool is_sentence_starter(int32_t cp)
{
    if (cp < 0)
        return false;
    if (cp < 0x80)
        return (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || is_opener(cp);
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT || c == UTF8PROC_CATEGORY_LO ||
           c == UTF8PROC_CATEGORY_ND || is_opener(cp);
}

/* Abbreviations after which a single '.' does not end a sentence, matched on the
 * letters-and-dots word before the period. fold: the first letter may be either case
 * ("fig." and "Fig."); otherwise the case must match ("No." but not "no."). */
static const struct abbrev {
    const char *word;
    bool fold;
} abbreviations[] = {
    {"Dr", false},   {"Mr", false},    {"Mrs", false}, {"Ms", false},  {"Prof", false},
    {"Jr", false},   {"St", false},    {"Inc", false}, {"Ltd", false}, {"No", false},
    {"Nos", false},  {"Fig", true},    {"Figs", true}, {"Eq", true},   {"Eqs", true},
    {"Ref", true},   {"Refs", true},   {"Vol", true},  {"Sec", true},  {"Ch", true},
    {"Tab", true},   {"pp", true},     {"p", false},   {"al", false},  {"vs", true},
    {"cf", true},    {"approx", true}, {"e.g", true},  {"i.e", true},  {"viz", true},
    {"ca", true},
};

static bool is_abbreviation(const unsigned char *w, size_t len)
{
    for (size_t k = 0; k < sizeof abbreviations / sizeof *abbreviations; k++) {
        const char *ab = abbreviations[k].word;
        if (strlen(ab) != len)
            continue;
        char f = ab[0], g = (char)w[0];
        bool first = abbreviations[k].fold ? (f | 0x20) == (g | 0x20) : f == g;
        if (first && !memcmp(ab + 1, w + 1, len - 1))
            return true;
    }
    return false;
}

/* Does the single '.' at s[dot] end a word that blocks a boundary (abbreviation or initial)? */
static bool period_blocked(const unsigned char *s, size_t dot)
{
    /* the letters-and-dots word before the period */
    size_t ws = dot;
    while (ws > 0) {
        size_t l = prev_len(s, ws);
        int32_t cp;
        text_utf8_decode(s, ws, ws - l, &cp);
        if (!(cp == '.' || is_letter(cp)))
            break;
        ws -= l;
    }
    while (ws < dot && s[ws] == '.')
        ws++;
    if (ws == dot)
        return false;
    if (is_abbreviation(s + ws, dot - ws))
        return true;
    /* last segment after an inner '.', e.g. "S" in "U.S": a single uppercase letter = initial */
    size_t seg = dot;
    while (seg > ws && s[seg - 1] != '.')
        seg--;
    int32_t cp;
    size_t l = text_utf8_decode(s, dot, seg, &cp);
    if (seg + l == dot && cp >= 0) {
        utf8proc_category_t c = utf8proc_category(cp);
        if (c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT)
            return true;
    }
    return false;
}

typedef struct span_vec {
    rag_span *v;
    size_t n, cap;
} span_vec;

static bool push_span(span_vec *sv, size_t start, size_t end)
{
    if (end <= start)
        return true;
    if (sv->n == sv->cap) {
        size_t nc = sv->cap ? sv->cap * 2 : 16;
        rag_span *nv = realloc(sv->v, nc * sizeof *nv);
        if (!nv)
            return false;
        sv->v = nv;
        sv->cap = nc;
    }
    sv->v[sv->n++] = (rag_span){start, end};
    return true;
}

/* Decides whether the terminator run s[t0..t1) followed by closers up to j ends a sentence. */
static bool is_boundary(const unsigned char *s, size_t n, size_t t0, size_t j, bool single_period,
                        bool cjk)
{
    if (j >= n || cjk)
        return true;
    int32_t cp;
    text_utf8_decode(s, n, j, &cp);
    if (!is_space(cp))
        return false; /* "3.5", "e.g.,", "a.b" */
    size_t k = j;
    while (k < n) {
        size_t l = text_utf8_decode(s, n, k, &cp);
        if (!is_space(cp))
            break;
        k += l;
    }
    if (k >= n)
        return true;
    if (!is_sentence_starter(cp))
        return false;
    if (single_period && period_blocked(s, t0))
        return false;
    return true;
}

rag_status rag_sentences_split(const char *text, size_t n, rag_span **out, size_t *n_out)
{
    if (!out || !n_out || (!text && n > 0))
        return RAG_E_BAD_INPUT;
    *out = NULL;
    *n_out = 0;
    const unsigned char *s = (const unsigned char *)text;
    span_vec sv = {0};
    const size_t NONE = (size_t)-1;
    size_t start = NONE, last_end = 0;
    size_t i = 0;
    while (i < n) {
        int32_t cp;
        size_t l = text_utf8_decode(s, n, i, &cp);
        if (is_space(cp)) {
            if (start != NONE && para_break_at(s, n, i)) {
                if (!push_span(&sv, start, last_end))
                    goto nomem;
                start = NONE;
            }
            i += l;
            continue;
        }
        if (start == NONE)
            start = i;
        if (!is_terminator(cp)) {
            i += l;
            last_end = i;
            continue;
        }
        size_t t0 = i, j = i + l;
        bool single_period = cp == '.', cjk = is_cjk_terminator(cp);
        while (j < n) {
            size_t k = text_utf8_decode(s, n, j, &cp);
            if (!is_terminator(cp))
                break;
            single_period = false;
            cjk = cjk || is_cjk_terminator(cp);
            j += k;
        }
        while (j < n) {
            size_t k = text_utf8_decode(s, n, j, &cp);
            if (!is_closer(cp))
                break;
            j += k;
        }
        last_end = j;
        if (is_boundary(s, n, t0, j, single_period, cjk)) {
            if (!push_span(&sv, start, j))
                goto nomem;
            start = NONE;
        }
        i = j;
    }
    if (start != NONE && !push_span(&sv, start, last_end))
        goto nomem;
    if (sv.n == 0) {
        free(sv.v);
        return RAG_OK;
    }
    *out = sv.v;
    *n_out = sv.n;
    return RAG_OK;
nomem:
    free(sv.v);
    return RAG_E_NOMEM;
}
