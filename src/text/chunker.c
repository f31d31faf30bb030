/* Token estimate and sentence-aware chunker (contracts in include/ragc/chunker.h). */
#include "ragc/chunker.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text_internal.h"

#include "ragc/sentence.h"


/* ---- token estimate ---- */

enum est_kind { EST_IGNORE, EST_SPACE, EST_SINGLE, EST_WORD };

/* BERT BasicTokenizer's "Chinese character" ranges (each becomes its own token). */
static bool is_cjk_ideograph(int32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static enum est_kind est_kind(int32_t cp)
{
    if (cp < 0)
        return EST_SINGLE;
    if (cp < 0x80) {
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r')
            return EST_SPACE;
        if (cp < ' ' || cp == 0x7F)
            return EST_IGNORE;
        if ((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
            return EST_WORD;
        return EST_SINGLE;
    }
    if (is_cjk_ideograph(cp))
        return EST_SINGLE;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return EST_SPACE;
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
        return EST_IGNORE;
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC:
    case UTF8PROC_CATEGORY_SK: case UTF8PROC_CATEGORY_SO:
        return EST_SINGLE;
    default:
        return EST_WORD;
    }
}

/* Incremental estimate: total so far and the length of the current word in code points. */
typedef struct est_state {
    size_t total;
    size_t run;
} est_state;

static void est_feed(est_state *e, int32_t cp)
{
    switch (est_kind(cp)) {
    case EST_WORD:
        e->run++;
        if ((e->run - 1) % 6 == 0) /* 1st, 7th, 13th, ... code point of a word */
            e->total++;
        break;
    case EST_SINGLE:
        e->run = 0;
        e->total++;
        break;
    case EST_SPACE:
        e->run = 0;
        break;
    case EST_IGNORE:
        break;
    }
}

size_t rag_token_estimate(const char *text, size_t n)
{
    if (!text)
        return 0;
    const unsigned char *s = (const unsigned char *)text;
    est_state e = {0, 0};
    for (size_t i = 0; i < n;) {
        int32_t cp;
        i += text_utf8_decode(s, n, i, &cp);
        est_feed(&e, cp);
    }
    return e.total;
}

/* ---- chunker ---- */

rag_chunker_params rag_chunker_default_params(void)
{
    rag_chunker_params p = {512, 64};
    return p;
}

/* What joins a unit to the one before it in chunk text. */
enum { SEP_NONE = 0, SEP_SPACE, SEP_PARA };

/* A sentence, or a piece of a sentence over the budget. */
typedef struct unit {
    size_t page;    /* index into pages[] */
    size_t start;   /* byte range in the page's text */
    size_t end;
    size_t tokens;  /* rag_token_estimate of the range */
    int sep;        /* SEP_*: separator before this unit (SEP_NONE: a word cut mid-way) */
} unit;

typedef struct unit_vec {
    unit *v;
    size_t n, cap;
} unit_vec;

static bool push_unit(unit_vec *uv, unit u)
{
    if (uv->n == uv->cap) {
        size_t nc = uv->cap ? uv->cap * 2 : 64;
        unit *nv = realloc(uv->v, nc * sizeof *nv);
        if (!nv)
            return false;
        uv->v = nv;
        uv->cap = nc;
    }
    uv->v[uv->n++] = u;
    return true;
}

static bool is_space_cp(int32_t cp)
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

/* Splits sentence s[start..end) (tokens > size) into units of <= size tokens: whole words
 * (whitespace-separated) where possible, a word over the budget cut at code points. */
static bool split_long(unit_vec *uv, const unsigned char *s, size_t page, size_t start, size_t end,
                       int first_sep, size_t size)
{
    int next_sep = first_sep;
    bool open = false;
    size_t ps = 0, pe = 0, pt = 0; /* the open piece */
    size_t i = start;
    while (i < end) {
        int32_t cp;
        size_t l = text_utf8_decode(s, end, i, &cp);
        if (is_space_cp(cp)) {
            i += l;
            continue;
        }
        size_t we = i;
        while (we < end) {
            l = text_utf8_decode(s, end, we, &cp);
            if (is_space_cp(cp))
                break;
            we += l;
        }
        size_t t = rag_token_estimate((const char *)s + i, we - i);
        if (open && pt + t <= size) {
            pe = we;
            pt += t;
            i = we;
            continue;
        }
        if (open) {
            if (!push_unit(uv, (unit){page, ps, pe, pt, next_sep}))
                return false;
            next_sep = SEP_SPACE;
            open = false;
        }
        if (t <= size) {
            open = true;
            ps = i;
            pe = we;
            pt = t;
            i = we;
            continue;
        }
        /* a word over the budget: greedy code-point prefixes of <= size tokens (each prefix
         * takes at least one code point: a code point counts at most 1 and size >= 1) */
        size_t pos = i;
        while (pos < we) {
            est_state e = {0, 0};
            size_t q = pos;
            while (q < we) {
                size_t k = text_utf8_decode(s, we, q, &cp);
                est_state trial = e;
                est_feed(&trial, cp);
                if (trial.total > size)
                    break;
                e = trial;
                q += k;
            }
            if (q == we) { /* the tail may share a unit with the following words */
                open = true;
                ps = pos;
                pe = we;
                pt = e.total;
            } else {
                if (!push_unit(uv, (unit){page, pos, q, e.total, next_sep}))
                    return false;
                next_sep = SEP_NONE;
            }
            pos = q;
        }
        i = we;
    }
    if (open && !push_unit(uv, (unit){page, ps, pe, pt, next_sep}))
        return false;
    return true;
}

typedef struct chunk_vec {
    rag_chunk *v;
    size_t n, cap;
} chunk_vec;

void rag_chunks_free(rag_chunk *c, size_t n)
{
    if (!c)
        return;
    for (size_t i = 0; i < n; i++) {
        free(c[i].text);
        free(c[i].page_marks);
    }
    free(c);
}

/* Builds the chunk for units u[a..b) and appends it. */
static rag_status emit_chunk(chunk_vec *cv, const rag_page *pages, const size_t *page_off,
                             const unit *u, size_t a, size_t b, size_t size, rag_err *err)
{
    if (cv->n >= RAG_CHUNKS_MAX)
        return rag_err_set(err, RAG_E_TOO_LARGE, "chunker: document needs more than %u chunks",
                           RAG_CHUNKS_MAX);
    size_t len = 0;
    for (size_t k = a; k < b; k++) {
        len += u[k].end - u[k].start;
        if (k > a)
            len += u[k].sep == SEP_PARA ? 2 : u[k].sep == SEP_SPACE ? 1 : 0;
    }
    size_t n_marks = 0;
    for (size_t k = a + 1; k < b; k++)
        n_marks += pages[u[k].page].number != pages[u[k - 1].page].number;
    char *text = malloc(len + 1);
    rag_page_mark *marks = n_marks ? malloc(n_marks * sizeof *marks) : NULL;
    if (!text || (n_marks && !marks)) {
        free(text);
        free(marks);
        return rag_err_set(err, RAG_E_NOMEM, "chunker: out of memory");
    }
    size_t o = 0, m = 0;
    for (size_t k = a; k < b; k++) {
        if (k > a && u[k].sep == SEP_PARA) {
            memcpy(text + o, "\n\n", 2);
            o += 2;
        } else if (k > a && u[k].sep == SEP_SPACE) {
            text[o++] = ' ';
        }
        if (k > a && pages[u[k].page].number != pages[u[k - 1].page].number)
            marks[m++] = (rag_page_mark){.offset = o, .page = pages[u[k].page].number};
        memcpy(text + o, pages[u[k].page].text + u[k].start, u[k].end - u[k].start);
        o += u[k].end - u[k].start;
    }
    text[o] = '\0';
    size_t nt = rag_token_estimate(text, len);
    if (nt > size) {
        free(text);
        free(marks);
        return rag_err_set(err, RAG_E_INTERNAL, "chunker: chunk of %zu tokens exceeds chunk_size %zu",
                           nt, size);
    }
    if (cv->n == cv->cap) {
        size_t nc = cv->cap ? cv->cap * 2 : 16;
        rag_chunk *nv = realloc(cv->v, nc * sizeof *nv);
        if (!nv) {
            free(text);
            free(marks);
            return rag_err_set(err, RAG_E_NOMEM, "chunker: out of memory");
        }
        cv->v = nv;
        cv->cap = nc;
    }
    cv->v[cv->n++] = (rag_chunk){
        .text = text,
        .len = len,
        .page_start = pages[u[a].page].number,
        .page_end = pages[u[b - 1].page].number,
        .byte_start = page_off[u[a].page] + u[a].start,
        .byte_end = page_off[u[b - 1].page] + u[b - 1].end,
        .n_tokens = nt,
        .page_marks = marks,
        .n_page_marks = n_marks,
    };
    return RAG_OK;
}

/* True when the sentence s[a, b) stops without terminal punctuation (. ! ? : ; or the CJK / ellipsis
 * forms, possibly followed by closing quotes or brackets): it may run on past a page end. */
static bool sentence_open(const unsigned char *s, size_t a, size_t b)
{
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\n' || s[b - 1] == '\r'))
        b--;
    while (b > a && (s[b - 1] == '"' || s[b - 1] == '\'' || s[b - 1] == ')' || s[b - 1] == ']'))
        b--;
    if (b == a)
        return false;
    static const char *const ends[] = {"\xe2\x80\xa6" /* … */, "\xe3\x80\x82" /* 。 */,
                                       "\xe2\x80\x9d" /* ” */, "\xe2\x80\x99" /* ’ */};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        if (b - a >= 3 && memcmp(s + b - 3, ends[i], 3) == 0)
            return false;
    return !strchr(".!?:;", s[b - 1]);
}

/* True when s[a, b) starts with a lowercase letter: the continuation of a sentence. */
static bool starts_lowercase(const unsigned char *s, size_t a, size_t b)
{
    if (a >= b)
        return false;
    int32_t cp;
    text_utf8_decode(s, b, a, &cp);
    return cp >= 0 && utf8proc_category(cp) == UTF8PROC_CATEGORY_LL;
}

/* Cuts the pages into units (sentences, or pieces of sentences over the budget). A sentence that
 * runs across a page end (the page's last sentence has no terminal punctuation and the next page
 * starts in lowercase) stays one sentence: its two units are joined by a space, not a paragraph
 * break, so quoting it later does not cut it in two; each part keeps its own page. */
static rag_status build_units(const rag_page *pages, size_t n_pages, size_t size, unit_vec *uv,
                              rag_err *err)
{
    bool open = false; /* the last sentence of the previous non-empty page runs on */
    for (size_t p = 0; p < n_pages; p++) {
        const unsigned char *s = (const unsigned char *)pages[p].text;
        size_t len = pages[p].len;
        if (len == 0)
            continue;
        rag_span *sp = NULL;
        size_t ns = 0;
        if (rag_sentences_split(pages[p].text, len, &sp, &ns) != RAG_OK)
            return rag_err_set(err, RAG_E_NOMEM, "chunker: out of memory splitting page %zu", p);
        for (size_t k = 0; k < ns; k++) {
            int sep = SEP_SPACE;
            if (k == 0) /* page break (ignored for the document's first unit) */
                sep = open && starts_lowercase(s, sp[0].start, sp[0].end) ? SEP_SPACE : SEP_PARA;
            else if (rag_text_has_paragraph_break(pages[p].text + sp[k - 1].end,
                                                  sp[k].start - sp[k - 1].end))
                sep = SEP_PARA;
            size_t t = rag_token_estimate(pages[p].text + sp[k].start, sp[k].end - sp[k].start);
            bool ok = t <= size ? push_unit(uv, (unit){p, sp[k].start, sp[k].end, t, sep})
                                : split_long(uv, s, p, sp[k].start, sp[k].end, sep, size);
            if (!ok) {
                free(sp);
                return rag_err_set(err, RAG_E_NOMEM, "chunker: out of memory");
            }
        }
        open = ns > 0 && sentence_open(s, sp[ns - 1].start, sp[ns - 1].end);
        free(sp);
    }
    return RAG_OK;
}

rag_status rag_chunk_document(const rag_page *pages, size_t n_pages, const rag_chunker_params *p,
                              rag_chunk **out, size_t *n_out, rag_err *err)
{
    if (!out || !n_out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "chunker: out or n_out is NULL");
    *out = NULL;
    *n_out = 0;
    rag_chunker_params prm = p ? *p : rag_chunker_default_params();
    if (prm.chunk_size == 0)
        return rag_err_set(err, RAG_E_CONFIG, "chunker: chunk_size must be > 0");
    if (prm.chunk_overlap >= prm.chunk_size)
        return rag_err_set(err, RAG_E_CONFIG,
                           "chunker: chunk_overlap (%zu) must be smaller than chunk_size (%zu)",
                           prm.chunk_overlap, prm.chunk_size);
    if (!pages && n_pages > 0)
        return rag_err_set(err, RAG_E_BAD_INPUT, "chunker: pages is NULL but n_pages is %zu", n_pages);
    size_t *page_off = malloc((n_pages ? n_pages : 1) * sizeof *page_off);
    if (!page_off)
        return rag_err_set(err, RAG_E_NOMEM, "chunker: out of memory");
    size_t off = 0;
    for (size_t k = 0; k < n_pages; k++) {
        if (!pages[k].text && pages[k].len > 0) {
            free(page_off);
            return rag_err_set(err, RAG_E_BAD_INPUT, "chunker: page %zu (number %d) has NULL text",
                               k, pages[k].number);
        }
        size_t bad = 0;
        if (pages[k].len > 0 && !rag_utf8_valid(pages[k].text, pages[k].len, &bad)) {
            free(page_off);
            return rag_err_set(err, RAG_E_BAD_INPUT,
                               "chunker: page %zu (number %d): invalid UTF-8 at byte %zu",
                               k, pages[k].number, bad);
        }
        page_off[k] = off;
        if (pages[k].len > SIZE_MAX / 2 - off) {
            free(page_off);
            return rag_err_set(err, RAG_E_TOO_LARGE, "chunker: document text too large");
        }
        off += pages[k].len + 2;
    }
    unit_vec uv = {0};
    chunk_vec cv = {0};
    rag_status st = build_units(pages, n_pages, prm.chunk_size, &uv, err);
    const unit *u = uv.v;
    size_t m = uv.n, start = 0;
    while (st == RAG_OK && start < m) {
        /* pack whole units while the budget holds; a mid-word cut never shares a chunk */
        size_t end = start, total = 0;
        while (end < m && (end == start || u[end].sep != SEP_NONE) &&
               total + u[end].tokens <= prm.chunk_size) {
            total += u[end].tokens;
            end++;
        }
        st = emit_chunk(&cv, pages, page_off, u, start, end, prm.chunk_size, err);
        if (st != RAG_OK || end == m)
            break;
        /* overlap: the longest tail of this chunk within chunk_overlap that still leaves room
         * for u[end]; k > start always, and u[end] is new, so every chunk makes progress */
        size_t k = end, ov = 0;
        while (k > start && u[k].sep != SEP_NONE) {
            size_t t = u[k - 1].tokens;
            if (ov + t > prm.chunk_overlap || ov + t + u[end].tokens > prm.chunk_size)
                break;
            ov += t;
            k--;
        }
        start = k;
    }
    free(uv.v);
    free(page_off);
    if (st != RAG_OK) {
        rag_chunks_free(cv.v, cv.n);
        return st;
    }
    *out = cv.v;
    *n_out = cv.n;
    return RAG_OK;
}
