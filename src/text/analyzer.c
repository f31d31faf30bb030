/* BM25 analyzer: UAX#29 word tokenizer (Lucene StandardTokenizer rules), possessive filter,
 * lowercase, Lucene English stopwords, Porter / Porter2 stemming (libstemmer). */
#include "ragc/analyzer.h"

#include <libstemmer.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- UTF-8 ---- */

/* Decodes the code point at s[i] (i < n) into *cp and returns its byte length (>= 1).
 * An invalid or truncated sequence, overlong form or surrogate yields *cp = -1, length 1. */
static inline size_t utf8_decode(const unsigned char *s, size_t n, size_t i, int32_t *cp)
{
    unsigned c = s[i];
    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2; v = c & 0x1F; min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3; v = c & 0x0F; min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4; v = c & 0x07; min = 0x10000;
    } else {
        *cp = -1;
        return 1;
    }
    if (n - i < len) {
        *cp = -1;
        return 1;
    }
    for (size_t k = 1; k < len; k++) {
        unsigned b = s[i + k];
        if ((b & 0xC0) != 0x80) {
            *cp = -1;
            return 1;
        }
        v = (v << 6) | (b & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = -1;
        return 1;
    }
    *cp = (int32_t)v;
    return len;
}

/* Encodes cp (valid scalar value) into o; returns bytes written (1..4). */
static inline size_t utf8_encode(int32_t cp, unsigned char *o)
{
    uint32_t c = (uint32_t)cp;
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18));
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

/* UTF-16 code units of a code point (Lucene measures token length in Java chars). */
static inline size_t utf16_units(int32_t cp)
{
    return cp >= 0x10000 ? 2 : 1;
}

/* ---- UAX#29 word-break classes (the subset StandardTokenizer's grammar distinguishes) ---- */

typedef enum wb_class {
    WB_OTHER = 0,  /* not part of any token */
    WB_ALETTER,    /* Alphabetic (L*, Nl, circled letters) minus the classes below */
    WB_HEBREW,     /* Hebrew_Letter */
    WB_NUMERIC,    /* Nd, U+066B */
    WB_KATAKANA,
    WB_EXTNUMLET,  /* Pc: '_' and friends */
    WB_MIDLETTER,  /* ':' U+00B7 ... (joins letters only) */
    WB_MIDNUMLET,  /* '.' U+2018 U+2019 ... (joins letters or digits) */
    WB_MIDNUM,     /* ',' ';' ... (joins digits only) */
    WB_SQUOTE,     /* '\'' (joins letters or digits) */
    WB_DQUOTE,     /* '"' (joins Hebrew letters only) */
    WB_EXTEND,     /* Extend | Format | ZWJ: transparent inside a token (WB4) */
    WB_IDEO,       /* Script=Han: one token per character */
    WB_HIRAGANA,   /* one token per character */
    WB_SEASIAN,    /* Line_Break=Complex_Context (Thai, Lao, Myanmar, Khmer, ...): runs */
    WB_EMOJI,      /* Extended_Pictographic: emoji sequences are tokens */
    WB_EMOJI_MOD,  /* skin-tone modifiers U+1F3FB..U+1F3FF */
    WB_RI          /* Regional_Indicator: pairs (flags) are tokens */
} wb_class;

static const unsigned char ascii_class[128] = {
    ['0'] = WB_NUMERIC, ['1'] = WB_NUMERIC, ['2'] = WB_NUMERIC, ['3'] = WB_NUMERIC,
    ['4'] = WB_NUMERIC, ['5'] = WB_NUMERIC, ['6'] = WB_NUMERIC, ['7'] = WB_NUMERIC,
    ['8'] = WB_NUMERIC, ['9'] = WB_NUMERIC,
    ['A'] = WB_ALETTER, ['B'] = WB_ALETTER, ['C'] = WB_ALETTER, ['D'] = WB_ALETTER,
    ['E'] = WB_ALETTER, ['F'] = WB_ALETTER, ['G'] = WB_ALETTER, ['H'] = WB_ALETTER,
    ['I'] = WB_ALETTER, ['J'] = WB_ALETTER, ['K'] = WB_ALETTER, ['L'] = WB_ALETTER,
    ['M'] = WB_ALETTER, ['N'] = WB_ALETTER, ['O'] = WB_ALETTER, ['P'] = WB_ALETTER,
    ['Q'] = WB_ALETTER, ['R'] = WB_ALETTER, ['S'] = WB_ALETTER, ['T'] = WB_ALETTER,
    ['U'] = WB_ALETTER, ['V'] = WB_ALETTER, ['W'] = WB_ALETTER, ['X'] = WB_ALETTER,
    ['Y'] = WB_ALETTER, ['Z'] = WB_ALETTER,
    ['a'] = WB_ALETTER, ['b'] = WB_ALETTER, ['c'] = WB_ALETTER, ['d'] = WB_ALETTER,
    ['e'] = WB_ALETTER, ['f'] = WB_ALETTER, ['g'] = WB_ALETTER, ['h'] = WB_ALETTER,
    ['i'] = WB_ALETTER, ['j'] = WB_ALETTER, ['k'] = WB_ALETTER, ['l'] = WB_ALETTER,
    ['m'] = WB_ALETTER, ['n'] = WB_ALETTER, ['o'] = WB_ALETTER, ['p'] = WB_ALETTER,
    ['q'] = WB_ALETTER, ['r'] = WB_ALETTER, ['s'] = WB_ALETTER, ['t'] = WB_ALETTER,
    ['u'] = WB_ALETTER, ['v'] = WB_ALETTER, ['w'] = WB_ALETTER, ['x'] = WB_ALETTER,
    ['y'] = WB_ALETTER, ['z'] = WB_ALETTER,
    ['_'] = WB_EXTNUMLET, ['.'] = WB_MIDNUMLET, [':'] = WB_MIDLETTER, [','] = WB_MIDNUM,
    [';'] = WB_MIDNUM, ['\''] = WB_SQUOTE, ['"'] = WB_DQUOTE,
};

static bool in_range(int32_t cp, int32_t lo, int32_t hi)
{
    return cp >= lo && cp <= hi;
}

/* Is cp in one of the n sorted, inclusive ranges r? */
static bool in_ranges(int32_t cp, const int32_t (*r)[2], size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid][0])
            hi = mid;
        else if (cp > r[mid][1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

static bool is_han(int32_t cp)
{
    return in_range(cp, 0x4E00, 0x9FFF) || in_range(cp, 0x3400, 0x4DBF) ||
           in_range(cp, 0x2E80, 0x2FDF) || cp == 0x3007 ||
           in_range(cp, 0x3021, 0x3029) || in_range(cp, 0x3038, 0x303A) ||
           in_range(cp, 0xF900, 0xFAFF) || in_range(cp, 0x20000, 0x3134F);
}

static bool is_hiragana(int32_t cp)
{
    return in_range(cp, 0x3041, 0x3096) || in_range(cp, 0x309D, 0x309F) ||
           in_range(cp, 0x1B001, 0x1B11F) || cp == 0x1F200;
}

static bool is_katakana(int32_t cp)
{
    return in_range(cp, 0x30A0, 0x30FA) || in_range(cp, 0x30FC, 0x30FF) ||
           in_range(cp, 0x3031, 0x3035) || in_range(cp, 0x309B, 0x309C) ||
           in_range(cp, 0x31F0, 0x31FF) || in_range(cp, 0x32D0, 0x32FE) ||
           in_range(cp, 0x3300, 0x3357) || in_range(cp, 0xFF66, 0xFF9D) || cp == 0x1B000;
}

/* Blocks of the scripts whose letters and marks have Line_Break=Complex_Context. */
static bool in_seasian_block(int32_t cp)
{
    return in_range(cp, 0x0E00, 0x0EFF) ||   /* Thai, Lao */
           in_range(cp, 0x1000, 0x109F) ||   /* Myanmar */
           in_range(cp, 0x1780, 0x17FF) ||   /* Khmer */
           in_range(cp, 0x1950, 0x19DF) ||   /* Tai Le, New Tai Lue */
           in_range(cp, 0x1A20, 0x1AAF) ||   /* Tai Tham */
           in_range(cp, 0xA9E0, 0xA9FF) ||   /* Myanmar Extended-B */
           in_range(cp, 0xAA60, 0xAADF) ||   /* Myanmar Extended-A, Tai Viet */
           in_range(cp, 0x11700, 0x1174F);   /* Ahom */
}

/* Extended_Pictographic (emoji-data 11.0, as Lucene's grammar uses it); sorted, inclusive. */
static const int32_t emoji_ranges[][2] = {
    {0x00A9, 0x00A9}, {0x00AE, 0x00AE}, {0x203C, 0x203C}, {0x2049, 0x2049}, {0x2122, 0x2122},
    {0x2139, 0x2139}, {0x2194, 0x2199}, {0x21A9, 0x21AA}, {0x231A, 0x231B}, {0x2328, 0x2328},
    {0x2388, 0x2388}, {0x23CF, 0x23CF}, {0x23E9, 0x23F3}, {0x23F8, 0x23FA}, {0x24C2, 0x24C2},
    {0x25AA, 0x25AB}, {0x25B6, 0x25B6}, {0x25C0, 0x25C0}, {0x25FB, 0x25FE}, {0x2600, 0x2605},
    {0x2607, 0x2612}, {0x2614, 0x2685}, {0x2690, 0x2705}, {0x2708, 0x2712}, {0x2714, 0x2714},
    {0x2716, 0x2716}, {0x271D, 0x271D}, {0x2721, 0x2721}, {0x2728, 0x2728}, {0x2733, 0x2734},
    {0x2744, 0x2744}, {0x2747, 0x2747}, {0x274C, 0x274C}, {0x274E, 0x274E}, {0x2753, 0x2755},
    {0x2757, 0x2757}, {0x2763, 0x2767}, {0x2795, 0x2797}, {0x27A1, 0x27A1}, {0x27B0, 0x27B0},
    {0x27BF, 0x27BF}, {0x2934, 0x2935}, {0x2B05, 0x2B07}, {0x2B1B, 0x2B1C}, {0x2B50, 0x2B50},
    {0x2B55, 0x2B55}, {0x3030, 0x3030}, {0x303D, 0x303D}, {0x3297, 0x3297}, {0x3299, 0x3299},
    {0x1F000, 0x1F0FF}, {0x1F10D, 0x1F10F}, {0x1F12F, 0x1F12F}, {0x1F16C, 0x1F171},
    {0x1F17E, 0x1F17F}, {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F1AD, 0x1F1E5},
    {0x1F201, 0x1F20F}, {0x1F21A, 0x1F21A}, {0x1F22F, 0x1F22F}, {0x1F232, 0x1F23A},
    {0x1F23C, 0x1F23F}, {0x1F249, 0x1F3FA}, {0x1F400, 0x1F53D}, {0x1F546, 0x1F64F},
    {0x1F680, 0x1F6FF}, {0x1F774, 0x1F77F}, {0x1F7D5, 0x1F7FF}, {0x1F80C, 0x1F80F}, {0x1F848, 0x1F84F},
    {0x1F85A, 0x1F85F}, {0x1F888, 0x1F88F}, {0x1F8AE, 0x1F8FF}, {0x1F90C, 0x1F93A},
    {0x1F93C, 0x1F945}, {0x1F947, 0x1FFFD},
};

/* Emoji that are also letters (U+2139, circled/negative squared letters): letters, except
 * right after a ZWJ, where they continue an emoji sequence. */
static bool is_letter_emoji(int32_t cp)
{
    return cp == 0x2139 || cp == 0x24C2 || (cp >= 0x1F170 && cp <= 0x1F171) ||
           (cp >= 0x1F17E && cp <= 0x1F17F);
}

static bool is_emoji(int32_t cp)
{
    return in_ranges(cp, emoji_ranges, sizeof emoji_ranges / sizeof *emoji_ranges);
}

/* Emoji_Modifier_Base (emoji-data 11.0): emoji a skin-tone modifier attaches to. */
static const int32_t emoji_modbase_ranges[][2] = {
    {0x261D, 0x261D}, {0x26F9, 0x26F9}, {0x270A, 0x270D}, {0x1F385, 0x1F385},
    {0x1F3C2, 0x1F3C4}, {0x1F3C7, 0x1F3C7}, {0x1F3CA, 0x1F3CC}, {0x1F442, 0x1F443},
    {0x1F446, 0x1F450}, {0x1F466, 0x1F469}, {0x1F46E, 0x1F46E}, {0x1F470, 0x1F478},
    {0x1F47C, 0x1F47C}, {0x1F481, 0x1F483}, {0x1F485, 0x1F487}, {0x1F4AA, 0x1F4AA},
    {0x1F574, 0x1F575}, {0x1F57A, 0x1F57A}, {0x1F590, 0x1F590}, {0x1F595, 0x1F596},
    {0x1F645, 0x1F647}, {0x1F64B, 0x1F64F}, {0x1F6A3, 0x1F6A3}, {0x1F6B4, 0x1F6B6},
    {0x1F6C0, 0x1F6C0}, {0x1F6CC, 0x1F6CC}, {0x1F918, 0x1F91C}, {0x1F91E, 0x1F91F},
    {0x1F926, 0x1F926}, {0x1F930, 0x1F939}, {0x1F93D, 0x1F93E}, {0x1F9B5, 0x1F9B6},
    {0x1F9B8, 0x1F9B9}, {0x1F9D1, 0x1F9DD},
};

static bool is_emoji_modifier_base(int32_t cp)
{
    return in_ranges(cp, emoji_modbase_ranges, sizeof emoji_modbase_ranges / sizeof *emoji_modbase_ranges);
}

static wb_class classify_nonascii(int32_t cp)
{
    switch (cp) {
    case 0x00B7: case 0x02D7: case 0x0387: case 0x05F4: case 0x2027: case 0xFE13:
    case 0xFE55: case 0xFF1A:
        return WB_MIDLETTER;
    case 0x2018: case 0x2019: case 0x2024: case 0xFE52: case 0xFF07: case 0xFF0E:
        return WB_MIDNUMLET;
    case 0x037E: case 0x0589: case 0x060C: case 0x060D: case 0x066C: case 0x07F8:
    case 0x2044: case 0xFE10: case 0xFE14: case 0xFE50: case 0xFE54: case 0xFF0C: case 0xFF1B:
        return WB_MIDNUM;
    case 0x066B:
        return WB_NUMERIC;
    case 0x05F3:
        return WB_ALETTER;
    case 0x202F:
        return WB_EXTNUMLET;
    case 0x200B: /* ZERO WIDTH SPACE: a separator, not Format */
        return WB_OTHER;
    case 0x200C: case 0x200D: case 0xFF9E: case 0xFF9F:
        return WB_EXTEND;
    default:
        break;
    }
    if (cp >= 0x1F1E6 && cp <= 0x1F1FF)
        return WB_RI;
    if (cp >= 0x1F3FB && cp <= 0x1F3FF)
        return WB_EMOJI_MOD;
    if (is_emoji(cp) && !is_letter_emoji(cp))
        return WB_EMOJI;
    if (cp >= 0x2E80) {
        if (is_han(cp))
            return WB_IDEO;
        if (is_hiragana(cp))
            return WB_HIRAGANA;
        if (is_katakana(cp))
            return WB_KATAKANA;
    }
    utf8proc_category_t cat = utf8proc_category(cp);
    if (in_seasian_block(cp) &&
        (cat == UTF8PROC_CATEGORY_LO || cat == UTF8PROC_CATEGORY_LM ||
         in_range(cp, 0x109E, 0x109F) || cp == 0x19DA || in_range(cp, 0x19DE, 0x19DF) ||
         in_range(cp, 0x1AA0, 0x1AAD) || in_range(cp, 0xAA77, 0xAA79) ||
         in_range(cp, 0xAADE, 0xAADF) || in_range(cp, 0x1173A, 0x1173B) || cp == 0x1173F))
        return WB_SEASIAN;
    switch (cat) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
        if (in_range(cp, 0x05D0, 0x05F2) || in_range(cp, 0xFB1D, 0xFB4F))
            return WB_HEBREW;
        return WB_ALETTER;
    case UTF8PROC_CATEGORY_ND:
        return WB_NUMERIC;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
        return WB_EXTEND;
    case UTF8PROC_CATEGORY_PC:
        return WB_EXTNUMLET;
    case UTF8PROC_CATEGORY_SO: /* Other_Alphabetic symbols: circled and squared letters */
        if (in_range(cp, 0x24B6, 0x24E9) || in_range(cp, 0x1F130, 0x1F149) ||
            in_range(cp, 0x1F150, 0x1F169) || in_range(cp, 0x1F170, 0x1F189))
            return WB_ALETTER;
        return WB_OTHER;
    default:
        return WB_OTHER;
    }
}

/* Decodes and classifies the code point at s[i]; invalid bytes are WB_OTHER. */
static inline size_t next_cp(const unsigned char *s, size_t n, size_t i, int32_t *cp, wb_class *cls)
{
    if (s[i] < 0x80) {
        *cp = s[i];
        *cls = (wb_class)ascii_class[s[i]];
        return 1;
    }
    size_t len = utf8_decode(s, n, i, cp);
    *cls = *cp < 0 ? WB_OTHER : classify_nonascii(*cp);
    return len;
}

static bool is_ahletter(wb_class c)
{
    return c == WB_ALETTER || c == WB_HEBREW;
}

/* ---- analyzer ---- */

enum stem_mode { STEM_NONE, STEM_PORTER, STEM_ENGLISH };

typedef struct tf_slot {
    uint64_t hash;
    uint32_t off;  /* term offset in pool; slot empty when tf == 0 */
    uint32_t len;
    uint32_t tf;
} tf_slot;

struct rag_analyzer {
    enum stem_mode stem;
    bool stopwords;
    struct sb_stemmer *sb;
    /* Lowercased token: <= 255 UTF-16 units, each <= 4 UTF-8 bytes, + NUL. */
    unsigned char lbuf[RAG_ANALYZER_MAX_TOKEN_UNITS * 4 + 8];
    rag_term_cb cb;
    void *ud;
    /* term_freqs scratch, reused across calls */
    tf_slot *slots;
    size_t n_slots;      /* power of 2, or 0 */
    size_t n_used;
    uint32_t *used;      /* indices of occupied slots, n_used of them */
    size_t used_cap;
    char *pool;          /* term bytes, each followed by NUL */
    size_t pool_len, pool_cap;
    uint64_t doc_len;
    rag_status tf_status;
};

rag_analyzer_params rag_analyzer_default_params(void)
{
    rag_analyzer_params p = {"porter", "lucene"};
    return p;
}

rag_status rag_analyzer_create(const rag_analyzer_params *p, rag_analyzer **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "analyzer: out is NULL");
    *out = NULL;
    rag_analyzer_params d = rag_analyzer_default_params();
    const char *stemmer = p && p->stemmer ? p->stemmer : d.stemmer;
    const char *stop = p && p->stopwords ? p->stopwords : d.stopwords;
    enum stem_mode mode;
    if (!strcmp(stemmer, "porter"))
        mode = STEM_PORTER;
    else if (!strcmp(stemmer, "english"))
        mode = STEM_ENGLISH;
    else if (!strcmp(stemmer, "none"))
        mode = STEM_NONE;
    else
        return rag_err_set(err, RAG_E_CONFIG,
                           "analyzer: unknown stemmer \"%.100s\" (expected porter, english or none)",
                           stemmer);
    bool use_stop;
    if (!strcmp(stop, "lucene"))
        use_stop = true;
    else if (!strcmp(stop, "none"))
        use_stop = false;
    else
        return rag_err_set(err, RAG_E_CONFIG,
                           "analyzer: unknown stopword set \"%.100s\" (expected lucene or none)", stop);
    rag_analyzer *a = calloc(1, sizeof *a);
    if (!a)
        return rag_err_set(err, RAG_E_NOMEM, "analyzer: out of memory");
    a->stem = mode;
    a->stopwords = use_stop;
    if (mode != STEM_NONE) {
        a->sb = sb_stemmer_new(mode == STEM_PORTER ? "porter" : "english", "UTF_8");
        if (!a->sb) {
            free(a);
            return rag_err_set(err, RAG_E_NOMEM, "analyzer: libstemmer could not create the %s stemmer",
                               stemmer);
        }
    }
    *out = a;
    return RAG_OK;
}

void rag_analyzer_free(rag_analyzer *a)
{
    if (!a)
        return;
    if (a->sb)
        sb_stemmer_delete(a->sb);
    free(a->slots);
    free(a->used);
    free(a->pool);
    free(a);
}

/* Lucene EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, by length. */
static bool is_stopword(const unsigned char *t, size_t len)
{
    static const char *const w2[] = {"an", "as", "at", "be", "by", "if", "in", "is", "it",
                                     "no", "of", "on", "or", "to"};
    static const char *const w3[] = {"and", "are", "but", "for", "not", "the", "was"};
    static const char *const w4[] = {"into", "such", "that", "then", "they", "this", "will", "with"};
    static const char *const w5[] = {"their", "there", "these"};
    const char *const *set;
    size_t count;
    switch (len) {
    case 1: return t[0] == 'a';
    case 2: set = w2; count = sizeof w2 / sizeof *w2; break;
    case 3: set = w3; count = sizeof w3 / sizeof *w3; break;
    case 4: set = w4; count = sizeof w4 / sizeof *w4; break;
    case 5: set = w5; count = sizeof w5 / sizeof *w5; break;
    default: return false;
    }
    for (size_t i = 0; i < count; i++)
        if (set[i][0] == (char)t[0] && !memcmp(set[i], t, len))
            return true;
    return false;
}

/* ---- Lucene PorterStemmer compatibility ----
 * Lucene's PorterStemmer is Porter's reference C code, which differs from the published
 * algorithm that libstemmer's "porter" implements in three ways: terms of <= 2 chars are not
 * stemmed; step 1b undoubles any final double consonant except l, s, z (libstemmer only
 * bb dd ff gg mm nn pp rr tt); step 2 maps -bli to -ble and -logi to -log. The functions below
 * run Lucene's step 1 (1a, 1b, 1c) on the term's code points (as Java chars; non-letters are
 * consonants) and, only where Lucene's path differs, hand libstemmer a word on which
 * libstemmer's step 1 is the identity and its steps 2-5 equal Lucene's. */

/* Term under Porter's steps: code points w[0..k] (k = last index); j as in the reference. */
typedef struct porter_word {
    int32_t *w;
    int k, j;
} porter_word;

static bool pw_cons(const porter_word *p, int i)
{
    switch (p->w[i]) {
    case 'a': case 'e': case 'i': case 'o': case 'u':
        return false;
    case 'y':
        return i == 0 ? true : !pw_cons(p, i - 1);
    default:
        return true;
    }
}

/* Measure of w[0..j]: the number of vowel-consonant sequences. */
static int pw_m(const porter_word *p)
{
    int m = 0;
    bool prev_vowel = false;
    for (int i = 0; i <= p->j; i++) {
        bool c = pw_cons(p, i);
        if (c && prev_vowel)
            m++;
        prev_vowel = !c;
    }
    return m;
}

static bool pw_vowel_in_stem(const porter_word *p)
{
    for (int i = 0; i <= p->j; i++)
        if (!pw_cons(p, i))
            return true;
    return false;
}

static bool pw_doublec(const porter_word *p, int i)
{
    return i >= 1 && p->w[i] == p->w[i - 1] && pw_cons(p, i);
}

/* consonant-vowel-consonant ending at i, the last consonant not w, x or y */
static bool pw_cvc(const porter_word *p, int i)
{
    if (i < 2 || !pw_cons(p, i) || pw_cons(p, i - 1) || !pw_cons(p, i - 2))
        return false;
    return p->w[i] != 'w' && p->w[i] != 'x' && p->w[i] != 'y';
}

static bool pw_ends(porter_word *p, const char *suf)
{
    int l = (int)strlen(suf);
    if (l > p->k + 1)
        return false;
    for (int i = 0; i < l; i++)
        if (p->w[p->k - l + 1 + i] != (unsigned char)suf[i])
            return false;
    p->j = p->k - l;
    return true;
}

static void pw_setto(porter_word *p, const char *s)
{
    int l = (int)strlen(s);
    for (int i = 0; i < l; i++)
        p->w[p->j + 1 + i] = (unsigned char)s[i];
    p->k = p->j + l;
}

/* Lucene step 1 (1a + 1b). Sets *undoubled to the consonant removed from a double, or 0. */
static void pw_step1ab(porter_word *p, int32_t *undoubled)
{
    *undoubled = 0;
    if (p->w[p->k] == 's') {
        if (pw_ends(p, "sses"))
            p->k -= 2;
        else if (pw_ends(p, "ies"))
            pw_setto(p, "i");
        else if (p->w[p->k - 1] != 's')
            p->k--;
    }
    if (pw_ends(p, "eed")) {
        if (pw_m(p) > 0)
            p->k--;
    } else if ((pw_ends(p, "ed") || pw_ends(p, "ing")) && pw_vowel_in_stem(p)) {
        p->k = p->j;
        if (pw_ends(p, "at")) {
            pw_setto(p, "ate");
        } else if (pw_ends(p, "bl")) {
            pw_setto(p, "ble");
        } else if (pw_ends(p, "iz")) {
            pw_setto(p, "ize");
        } else if (pw_doublec(p, p->k)) {
            int32_t ch = p->w[p->k];
            if (ch != 'l' && ch != 's' && ch != 'z') {
                p->k--;
                *undoubled = ch;
            }
        } else if (pw_m(p) == 1 && pw_cvc(p, p->k)) {
            pw_setto(p, "e");
        }
    }
}

static size_t encode_cps(const int32_t *w, int n, unsigned char *o)
{
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += utf8_encode(w[i], o + len);
    o[len] = '\0';
    return len;
}

/* Rewrites the lowercased term o[0..len) (valid UTF-8, > 2 UTF-16 units) in place into the
 * word libstemmer "porter" must stem to produce Lucene's stem; returns its length. */
static size_t porter_lucene_input(unsigned char *o, size_t len)
{
    /* only -s, -ed, -ing, -y, -i endings can reach an undoubling or a -bli/-logi departure */
    unsigned char last = o[len - 1];
    if (last != 's' && last != 'd' && last != 'g' && last != 'y' && last != 'i')
        return len;
    int32_t w[RAG_ANALYZER_MAX_TOKEN_UNITS + 4];
    int n = 0;
    for (size_t i = 0; i < len && n < RAG_ANALYZER_MAX_TOKEN_UNITS + 1;) {
        int32_t cp;
        i += utf8_decode(o, len, i, &cp);
        w[n++] = cp;
    }
    porter_word p = {w, n - 1, 0};
    int32_t undoubled;
    pw_step1ab(&p, &undoubled);
    int k1 = p.k; /* end of the 1a/1b result */
    /* Lucene step 1c, then the step 2 departures */
    int32_t last_before_1c = w[p.k];
    if (pw_ends(&p, "y") && pw_vowel_in_stem(&p))
        w[p.k] = 'i';
    if ((pw_ends(&p, "bli") || pw_ends(&p, "logi")) && pw_m(&p) > 0) {
        bool bli = w[p.k] == 'i' && w[p.k - 1] == 'l' && w[p.k - 2] == 'b';
        pw_setto(&p, bli ? "ble" : "log");
        return encode_cps(w, p.k + 1, o);
    }
    w[k1] = last_before_1c;
    if (undoubled && !(undoubled < 0x80 && strchr("bdfgmnprt", (int)undoubled)))
        return encode_cps(w, k1 + 1, o); /* 1c is left to libstemmer, which does the same */
    return len;
}

/* Runs the filter chain on one raw token t[0..len) (valid UTF-8) and delivers the term. */
static void emit_token(rag_analyzer *a, const unsigned char *t, size_t len)
{
    /* EnglishPossessiveFilter: trailing 's ’s ＇s (s or S) */
    if (len >= 2 && (t[len - 1] == 's' || t[len - 1] == 'S')) {
        if (t[len - 2] == '\'')
            len -= 2;
        else if (len >= 4 && t[len - 4] == 0xE2 && t[len - 3] == 0x80 && t[len - 2] == 0x99)
            len -= 4;
        else if (len >= 4 && t[len - 4] == 0xEF && t[len - 3] == 0xBC && t[len - 2] == 0x87)
            len -= 4;
    }
    if (len == 0)
        return;
    /* LowerCaseFilter */
    unsigned char *o = a->lbuf;
    size_t ol = 0, units = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = t[i];
        if (c < 0x80) {
            o[ol++] = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            units++;
            i++;
            continue;
        }
        int32_t cp;
        size_t l = utf8_decode(t, len, i, &cp);
        i += l;
        if (cp < 0)
            continue; /* cannot happen: the tokenizer only takes valid code points */
        int32_t lc = utf8proc_tolower(cp);
        ol += utf8_encode(lc, o + ol);
        units += utf16_units(lc);
    }
    o[ol] = '\0';
    if (a->stopwords && is_stopword(o, ol))
        return;
    const unsigned char *term = o;
    size_t tl = ol;
    if (a->stem != STEM_NONE && !(a->stem == STEM_PORTER && units <= 2)) {
        size_t sl = ol;
        if (a->stem == STEM_PORTER)
            sl = porter_lucene_input(o, ol);
        const sb_symbol *r = sb_stemmer_stem(a->sb, o, (int)sl);
        if (r) {
            term = r;
            tl = (size_t)sb_stemmer_length(a->sb);
        } else {
            tl = sl; /* libstemmer failed (out of memory): the term passes through */
        }
    }
    a->cb(a->ud, (const char *)term, tl);
}

/* WB4: absorbs Extend/Format/ZWJ code points at s[*p] into the token (advancing *p and *units)
 * while it stays within RAG_ANALYZER_MAX_TOKEN_UNITS. */
static void absorb_extend(const unsigned char *s, size_t n, size_t *p, size_t *units)
{
    while (*p < n) {
        int32_t cp;
        wb_class c;
        size_t l = next_cp(s, n, *p, &cp, &c);
        if (c != WB_EXTEND || *units + utf16_units(cp) > RAG_ANALYZER_MAX_TOKEN_UNITS)
            return;
        *units += utf16_units(cp);
        *p += l;
    }
}

/* Scans one word token starting at s[start], whose first code point is ALetter, Hebrew,
 * Numeric, Katakana or ExtendNumLet. Returns the byte offset just past the token and sets
 * *has_core when it holds a letter, digit or Katakana (a bare '_' run is no token). */
static size_t scan_word(const unsigned char *s, size_t n, size_t start, bool *has_core)
{
    int32_t cp;
    wb_class cls;
    size_t p = start + next_cp(s, n, start, &cp, &cls);
    size_t units = utf16_units(cp);
    wb_class last = cls;
    bool core = cls != WB_EXTNUMLET;
    bool hebq = false;      /* after Hebrew + ' (WB7a) or Hebrew " Hebrew (WB7b/c): no mid may follow */
    bool after_mid = false; /* the last letter was joined through a mid (WB6/7 or WB7b/c) */
    absorb_extend(s, n, &p, &units);
    while (p < n) {
        size_t l = next_cp(s, n, p, &cp, &cls);
        size_t u = utf16_units(cp);
        bool join;
        switch (cls) {
        case WB_ALETTER: case WB_HEBREW: case WB_NUMERIC:
            join = last != WB_KATAKANA;
            break;
        case WB_KATAKANA:
            join = last == WB_KATAKANA || last == WB_EXTNUMLET;
            break;
        case WB_EXTNUMLET:
            join = true;
            break;
        case WB_MIDLETTER: case WB_MIDNUMLET: case WB_MIDNUM: case WB_SQUOTE: case WB_DQUOTE: {
            bool after_letter = is_ahletter(last) && !hebq;
            bool letter_mid = after_letter && (cls == WB_MIDLETTER || cls == WB_MIDNUMLET ||
                                               cls == WB_SQUOTE ||
                                               (cls == WB_DQUOTE && last == WB_HEBREW && !after_mid));
            bool num_mid = last == WB_NUMERIC && (cls == WB_MIDNUM || cls == WB_MIDNUMLET ||
                                                  cls == WB_SQUOTE);
            if (!letter_mid && !num_mid)
                goto done;
            /* WB6/7, WB11/12: the mid joins only if the next non-Extend code point continues */
            size_t q = p + l, qu = units + u;
            if (qu > RAG_ANALYZER_MAX_TOKEN_UNITS)
                goto done;
            absorb_extend(s, n, &q, &qu);
            int32_t ncp = -1;
            wb_class ncls = WB_OTHER;
            size_t nl = q < n ? next_cp(s, n, q, &ncp, &ncls) : 0;
            bool ok = letter_mid ? (cls == WB_DQUOTE ? ncls == WB_HEBREW : is_ahletter(ncls))
                                 : ncls == WB_NUMERIC;
            if (ok && qu + utf16_units(ncp) <= RAG_ANALYZER_MAX_TOKEN_UNITS) {
                units = qu + utf16_units(ncp);
                p = q + nl;
                /* Hebrew ' letter also parses as the WB7a segment "Hebrew '" followed by a new
                 * segment, which leaves the letter free to take a trailing quote itself */
                bool heb_seg = cls == WB_SQUOTE && last == WB_HEBREW && !after_mid;
                last = ncls;
                hebq = cls == WB_DQUOTE; /* Hebrew " Hebrew closes a segment: no mid follows */
                after_mid = !heb_seg;
                absorb_extend(s, n, &p, &units);
                continue;
            }
            if (!ok && cls == WB_SQUOTE && last == WB_HEBREW && !after_mid) { /* WB7a */
                units = qu;
                p = q;
                hebq = true;
                continue;
            }
            goto done;
        }
        default:
            goto done;
        }
        if (!join || units + u > RAG_ANALYZER_MAX_TOKEN_UNITS)
            goto done;
        units += u;
        p += l;
        last = cls;
        hebq = false;
        after_mid = false;
        if (cls != WB_EXTNUMLET)
            core = true;
        absorb_extend(s, n, &p, &units);
    }
done:
    *has_core = core;
    return p;
}

/* Runs of the same class (Southeast Asian scripts): one token. */
static size_t scan_run(const unsigned char *s, size_t n, size_t start, wb_class want)
{
    int32_t cp;
    wb_class cls;
    size_t p = start + next_cp(s, n, start, &cp, &cls);
    size_t units = utf16_units(cp);
    absorb_extend(s, n, &p, &units);
    while (p < n) {
        size_t l = next_cp(s, n, p, &cp, &cls);
        if (cls != want || units + utf16_units(cp) > RAG_ANALYZER_MAX_TOKEN_UNITS)
            break;
        units += utf16_units(cp);
        p += l;
        absorb_extend(s, n, &p, &units);
    }
    return p;
}

/* Extend/Format/ZWJ except the presentation selectors U+FE0E/U+FE0F, from s[p]. Sets *zwj_last
 * when the last code point taken is a ZWJ. */
static size_t absorb_emoji_ext(const unsigned char *s, size_t n, size_t p, size_t *units, bool *zwj_last)
{
    while (p < n) {
        int32_t cp;
        wb_class cls;
        size_t l = next_cp(s, n, p, &cp, &cls);
        if (cls != WB_EXTEND || cp == 0xFE0E || cp == 0xFE0F ||
            *units + utf16_units(cp) > RAG_ANALYZER_MAX_TOKEN_UNITS)
            break;
        *zwj_last = cp == 0x200D;
        *units += utf16_units(cp);
        p += l;
    }
    return p;
}

/* One emoji element at s[p] (UTS #51 as in Lucene's grammar):
 *   ZWJ* Emoji Ext* FE0F?  |  (ZWJ* ModifierBase Ext*)? Modifier Ext*
 * Returns its end, or p if there is none. */
static size_t scan_emoji_element(const unsigned char *s, size_t n, size_t p, bool after_zwj,
                                 size_t *units, bool *zwj_last)
{
    int32_t cp;
    wb_class cls;
    size_t q = p, u = *units;
    while (q < n) {
        size_t l = next_cp(s, n, q, &cp, &cls);
        if (cp != 0x200D)
            break;
        q += l;
        u++;
    }
    if (q >= n)
        return p;
    size_t l = next_cp(s, n, q, &cp, &cls);
    if (cls == WB_EMOJI_MOD && q == p && u + 2 <= RAG_ANALYZER_MAX_TOKEN_UNITS) {
        bool zl = false; /* a lone modifier: no leading ZWJ, no U+FE0F */
        q = absorb_emoji_ext(s, n, q + l, &u, &zl);
        *units = u + 2;
        *zwj_last = zl;
        return q;
    }
    bool emoji = cls == WB_EMOJI || (is_letter_emoji(cp) && (after_zwj || q > p));
    if (!emoji || u + utf16_units(cp) > RAG_ANALYZER_MAX_TOKEN_UNITS)
        return p;
    bool zl = false, modifiable = is_emoji_modifier_base(cp);
    q += l;
    u += utf16_units(cp);
    q = absorb_emoji_ext(s, n, q, &u, &zl);
    if (q < n) {
        l = next_cp(s, n, q, &cp, &cls);
        if (cls == WB_EMOJI_MOD && modifiable && u + 2 <= RAG_ANALYZER_MAX_TOKEN_UNITS) {
            zl = false;
            q += l;
            u += 2;
            q = absorb_emoji_ext(s, n, q, &u, &zl);
        } else if (cp == 0xFE0F && u + 1 <= RAG_ANALYZER_MAX_TOKEN_UNITS) {
            zl = false;
            q += l;
            u++;
        }
    }
    *units = u;
    *zwj_last = zl;
    return q;
}

/* An emoji sequence at s[start]: elements joined by ZWJ. Returns start if there is none.
 * letter_start: a letter-emoji (U+2139 ...) may begin it. */
static size_t scan_emoji(const unsigned char *s, size_t n, size_t start, bool letter_start)
{
    size_t units = 0;
    bool zwj_last = false;
    size_t p = scan_emoji_element(s, n, start, letter_start, &units, &zwj_last);
    while (p > start && p < n) {
        if (!zwj_last && !(s[p] == 0xE2 && p + 2 < n && s[p + 1] == 0x80 && s[p + 2] == 0x8D))
            break;
        size_t u = units;
        bool zl = false;
        size_t q = scan_emoji_element(s, n, p, true, &u, &zl);
        if (q == p)
            break;
        p = q;
        units = u;
        zwj_last = zl;
    }
    return p;
}

/* Keycap "#⃣", "*️⃣": '#' or '*', Extend/Format/ZWJ, optional U+FE0F, U+20E3, then
 * Extend/Format/ZWJ. Returns the end, or 0 if none. */
static size_t scan_keycap(const unsigned char *s, size_t n, size_t i)
{
    size_t p = i + 1, units = 1;
    while (p < n) {
        int32_t cp;
        wb_class cls;
        size_t l = next_cp(s, n, p, &cp, &cls);
        if (cls != WB_EXTEND || cp == 0x20E3 || cp == 0xFE0E || cp == 0xFE0F ||
            units + utf16_units(cp) + 2 > RAG_ANALYZER_MAX_TOKEN_UNITS)
            break;
        units += utf16_units(cp);
        p += l;
    }
    if (p + 3 <= n && s[p] == 0xEF && s[p + 1] == 0xB8 && s[p + 2] == 0x8F) {
        p += 3;
        units++;
    }
    if (!(p + 3 <= n && s[p] == 0xE2 && s[p + 1] == 0x83 && s[p + 2] == 0xA3))
        return 0;
    units++;
    bool zl = false;
    return absorb_emoji_ext(s, n, p + 3, &units, &zl);
}

rag_status rag_analyzer_run(rag_analyzer *a, const char *text, size_t n, rag_term_cb cb, void *ud)
{
    if (!a || !cb || (!text && n > 0))
        return RAG_E_BAD_INPUT;
    a->cb = cb;
    a->ud = ud;
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < n) {
        int32_t cp;
        wb_class cls;
        size_t l = next_cp(s, n, i, &cp, &cls);
        switch (cls) {
        case WB_ALETTER: case WB_HEBREW: case WB_NUMERIC: case WB_KATAKANA: case WB_EXTNUMLET: {
            bool core;
            size_t end = scan_word(s, n, i, &core);
            if (is_letter_emoji(cp)) { /* longest match: the word or an emoji ZWJ sequence */
                size_t e2 = scan_emoji(s, n, i, true);
                if (e2 > end)
                    end = e2;
            }
            if (core) {
                emit_token(a, s + i, end - i);
                i = end;
            } else {
                i += l; /* a lone '_' run: skip one code point, rescan the rest */
            }
            break;
        }
        case WB_IDEO: case WB_HIRAGANA: {
            size_t end = i + l, units = utf16_units(cp);
            absorb_extend(s, n, &end, &units);
            emit_token(a, s + i, end - i);
            i = end;
            break;
        }
        case WB_SEASIAN: {
            size_t end = scan_run(s, n, i, WB_SEASIAN);
            emit_token(a, s + i, end - i);
            i = end;
            break;
        }
        case WB_EMOJI: case WB_EMOJI_MOD: {
            size_t end = scan_emoji(s, n, i, false);
            emit_token(a, s + i, end - i);
            i = end;
            break;
        }
        case WB_RI: { /* a flag is a pair of regional indicators; a lone one is no token */
            size_t end = i + l, units = utf16_units(cp);
            absorb_extend(s, n, &end, &units);
            int32_t cp2;
            wb_class c2 = WB_OTHER;
            size_t l2 = end < n ? next_cp(s, n, end, &cp2, &c2) : 0;
            if (c2 != WB_RI) {
                i += l;
                break;
            }
            end += l2;
            units += utf16_units(cp2);
            absorb_extend(s, n, &end, &units);
            emit_token(a, s + i, end - i);
            i = end;
            break;
        }
        case WB_EXTEND:
            if (cp == 0x200D) { /* ZWJs before an emoji belong to it */
                size_t end = scan_emoji(s, n, i, false);
                if (end > i) {
                    emit_token(a, s + i, end - i);
                    i = end;
                    break;
                }
            }
            if (in_seasian_block(cp) && cp != 0x1A7F) { /* a Thai/Lao/... mark outside a word starts a run */
                size_t end = scan_run(s, n, i, WB_SEASIAN);
                emit_token(a, s + i, end - i);
                i = end;
                break;
            }
            i += l;
            break;
        default:
            if (cp == '#' || cp == '*') {
                size_t end = scan_keycap(s, n, i);
                if (end) {
                    emit_token(a, s + i, end - i);
                    i = end;
                    break;
                }
            }
            i += l;
            break;
        }
    }
    return RAG_OK;
}

/* ---- term frequencies ---- */

static rag_status tf_grow(rag_analyzer *a)
{
    size_t ns = a->n_slots ? a->n_slots * 2 : 256;
    tf_slot *slots = calloc(ns, sizeof *slots);
    uint32_t *used = malloc(ns / 2 * sizeof *used);
    if (!slots || !used) {
        free(slots);
        free(used);
        return RAG_E_NOMEM;
    }
    for (size_t k = 0; k < a->n_used; k++) {
        const tf_slot *o = &a->slots[a->used[k]];
        size_t h = (size_t)o->hash & (ns - 1);
        while (slots[h].tf)
            h = (h + 1) & (ns - 1);
        slots[h] = *o;
        used[k] = (uint32_t)h;
    }
    free(a->slots);
    free(a->used);
    a->slots = slots;
    a->used = used;
    a->n_slots = ns;
    a->used_cap = ns / 2;
    return RAG_OK;
}

static void tf_add(void *ud, const char *term, size_t len)
{
    rag_analyzer *a = ud;
    if (a->tf_status != RAG_OK)
        return;
    a->doc_len++;
    if (a->n_used + 1 > a->used_cap && tf_grow(a) != RAG_OK) {
        a->tf_status = RAG_E_NOMEM;
        return;
    }
    uint64_t hash = rag_hash64(term, len);
    size_t mask = a->n_slots - 1, h = (size_t)hash & mask;
    while (a->slots[h].tf) {
        tf_slot *sl = &a->slots[h];
        if (sl->hash == hash && sl->len == len && !memcmp(a->pool + sl->off, term, len)) {
            if (sl->tf == UINT32_MAX)
                a->tf_status = RAG_E_TOO_LARGE;
            else
                sl->tf++;
            return;
        }
        h = (h + 1) & mask;
    }
    if (a->pool_len + len + 1 > a->pool_cap) {
        size_t nc = a->pool_cap ? a->pool_cap : 4096;
        while (nc < a->pool_len + len + 1)
            nc *= 2;
        if (nc > UINT32_MAX) {
            a->tf_status = RAG_E_TOO_LARGE;
            return;
        }
        char *np = realloc(a->pool, nc);
        if (!np) {
            a->tf_status = RAG_E_NOMEM;
            return;
        }
        a->pool = np;
        a->pool_cap = nc;
    }
    memcpy(a->pool + a->pool_len, term, len);
    a->pool[a->pool_len + len] = '\0';
    a->slots[h] = (tf_slot){hash, (uint32_t)a->pool_len, (uint32_t)len, 1};
    a->used[a->n_used++] = (uint32_t)h;
    a->pool_len += len + 1;
}

static int cmp_term(const void *x, const void *y)
{
    return strcmp(((const rag_term_freq *)x)->term, ((const rag_term_freq *)y)->term);
}

rag_status rag_analyzer_term_freqs(rag_analyzer *a, const char *text, size_t n, rag_term_freq **out,
                                   size_t *n_out, uint32_t *doc_len)
{
    if (!a || !out || !n_out || (!text && n > 0))
        return RAG_E_BAD_INPUT;
    *out = NULL;
    *n_out = 0;
    if (doc_len)
        *doc_len = 0;
    for (size_t k = 0; k < a->n_used; k++)
        a->slots[a->used[k]].tf = 0;
    a->n_used = 0;
    a->pool_len = 0;
    a->doc_len = 0;
    a->tf_status = RAG_OK;
    rag_status st = rag_analyzer_run(a, text, n, tf_add, a);
    if (st == RAG_OK)
        st = a->tf_status;
    if (st == RAG_OK && a->doc_len > UINT32_MAX)
        st = RAG_E_TOO_LARGE;
    if (st != RAG_OK || a->n_used == 0)
        return st;
    size_t k = a->n_used;
    rag_term_freq *tf = malloc(k * sizeof *tf + a->pool_len);
    if (!tf)
        return RAG_E_NOMEM;
    char *strings = (char *)(tf + k);
    memcpy(strings, a->pool, a->pool_len);
    for (size_t i = 0; i < k; i++) {
        const tf_slot *sl = &a->slots[a->used[i]];
        tf[i].term = strings + sl->off;
        tf[i].tf = sl->tf;
    }
    qsort(tf, k, sizeof *tf, cmp_term);
    *out = tf;
    *n_out = k;
    if (doc_len)
        *doc_len = (uint32_t)a->doc_len;
    return RAG_OK;
}

void rag_term_freqs_free(rag_term_freq *tf, size_t n)
{
    (void)n;
    free(tf);
}
