/* Citation parsing and validation for generated answers.
 *
 * Recognized markers (outside code): "[3]", "[1, 2]", "[1,2]", "[1][2]", "[1-3]" (a range of at
 * most 20; numbers of 1-3 digits, so "[2024]" stays text), "[source 2]", "[Source 2]", "[sources 1, 2]", "[doc 2]". Everything else in brackets
 * is text. Markers inside fenced code blocks (``` ... ```) and inline code (`...`) are left as
 * they are and not counted. A valid marker is rewritten canonically as "[n]" per source ("[1, 2]"
 * becomes "[1][2]"); a number that names no source (0, or > n_sources) is dropped from the text
 * and reported. Dropping never leaves a marker behind: text that closes up across the gap is
 * scanned again ("[[0]7]" drops 7 as well), and only the spaces around a dropped marker are
 * tidied (the rest of the answer, code and indentation included, is kept byte for byte).
 */
#include "pipeline_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_RANGE 20

void rag_citations_clear(rag_citations *c)
{
    if (!c)
        return;
    free(c->text);
    memset(c, 0, sizeof *c);
}

static void note_number(int *list, size_t *n, size_t cap, int v)
{
    for (size_t i = 0; i < *n; i++)
        if (list[i] == v)
            return;
    if (*n < cap)
        list[(*n)++] = v;
}

/* Parses one bracket body p[0..len) (between '[' and ']'). On success returns the numbers in
 * nums (at most cap) and true; false if it is not a citation. */
static bool parse_marker(const char *p, size_t len, int *nums, size_t *n_nums, size_t cap)
{
    size_t i = 0;
    *n_nums = 0;
    while (i < len && p[i] == ' ')
        i++;
    static const char *const words[] = {"sources", "source", "docs", "doc", "ref", "refs"};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        size_t wl = strlen(words[w]);
        if (len - i > wl && strncasecmp(p + i, words[w], wl) == 0 && (p[i + wl] == ' ' || isdigit((unsigned char)p[i + wl]))) {
            i += wl;
            break;
        }
    }
    bool any = false;
    while (i < len) {
        while (i < len && p[i] == ' ')
            i++;
        if (i >= len || !isdigit((unsigned char)p[i]))
            return false;
        long a = 0;
        size_t digits = 0;
        while (i < len && isdigit((unsigned char)p[i])) {
            if (++digits > 3)
                return false; /* "[2024]" style years and long numbers are not citations */
            a = a * 10 + (p[i++] - '0');
        }
        long b = a;
        while (i < len && p[i] == ' ')
            i++;
        if (i < len && (p[i] == '-' || (unsigned char)p[i] == 0xE2)) {
            /* "-" or an en dash (E2 80 93) */
            if (p[i] == '-')
                i++;
            else if (len - i >= 3 && (unsigned char)p[i + 1] == 0x80 && (unsigned char)p[i + 2] == 0x93)
                i += 3;
            else
                return false;
            while (i < len && p[i] == ' ')
                i++;
            if (i >= len || !isdigit((unsigned char)p[i]))
                return false;
            b = 0;
            digits = 0;
            while (i < len && isdigit((unsigned char)p[i])) {
                if (++digits > 3)
                    return false;
                b = b * 10 + (p[i++] - '0');
            }
            if (b < a || b - a >= MAX_RANGE)
                return false;
        }
        for (long v = a; v <= b && *n_nums < cap; v++)
            nums[(*n_nums)++] = (int)v;
        any = true;
        while (i < len && p[i] == ' ')
            i++;
        if (i < len && (p[i] == ',' || p[i] == ';'))
            i++;
        else if (i < len)
            return false;
    }
    return any;
}

/* Longest bracket span (from '[' to ']') that can be a marker. */
#define MAX_MARKER_SPAN 64

/* After a marker whose numbers were all invalid was dropped between the output b and the rest
 * s[*i..len): joins the two sides with one space where either had spaces (none before . , ; : ! ? )
 * a newline or the end; at the start of the text or a line, b's indentation is kept and the rest's
 * leading spaces dropped), and keeps two backticks from touching (they would open a code span the
 * answer did not have). */
static rag_status tidy_junction(rag_buf *b, const char *s, size_t *i, size_t len)
{
    size_t lsp = 0, j = *i;
    while (lsp < b->len && b->data[b->len - 1 - lsp] == ' ')
        lsp++;
    while (j < len && s[j] == ' ')
        j++;
    bool space = lsp > 0 || j > *i;
    char prev = b->len > lsp ? b->data[b->len - 1 - lsp] : '\n', next = j < len ? s[j] : '\0';
    *i = j;
    if (prev == '\n')
        return RAG_OK;
    if (lsp) {
        b->len -= lsp;
        b->data[b->len] = '\0';
    }
    if (space && next != '\0' && !strchr(".,;:!?)\n", next))
        return rag_buf_append_char(b, ' ');
    if (!space && prev == '`' && next == '`')
        return rag_buf_append_char(b, ' ');
    return RAG_OK;
}

/* Where a dropped marker may have joined the output with the text after it into a new marker:
 * the last literal '[' of b at most MAX_MARKER_SPAN bytes back with no ']' or '`' after it (a
 * ']' would close it where it closed before; a '`' can never be in a marker). SIZE_MAX if none. */
static size_t open_bracket(const rag_buf *b)
{
    for (size_t k = b->len; k > 0 && b->len - (k - 1) <= MAX_MARKER_SPAN; k--) {
        char c = b->data[k - 1];
        if (c == ']' || c == '`')
            break;
        if (c == '[')
            return k - 1;
    }
    return SIZE_MAX;
}

rag_status rag_citations_validate(const char *text, size_t n_sources, rag_citations *out)
{
    memset(out, 0, sizeof *out);
    rag_buf b;
    rag_buf_init(&b, 0);
    /* s[0..len) is what is left to scan: text, or (after a drop re-opened a '[') work, owned */
    const char *s = text;
    char *work = NULL;
    size_t len = strlen(text);
    bool fenced = false, inline_code = false;
    rag_status st = RAG_OK;
    size_t i = 0;
    while (i < len && st == RAG_OK) {
        if (!inline_code && strncmp(s + i, "```", 3) == 0) {
            fenced = !fenced;
            st = rag_buf_append(&b, "```", 3);
            i += 3;
            continue;
        }
        if (!fenced && s[i] == '`') {
            inline_code = !inline_code;
            st = rag_buf_append_char(&b, '`');
            i++;
            continue;
        }
        if (fenced || inline_code || s[i] != '[') {
            st = rag_buf_append_char(&b, s[i++]);
            continue;
        }
        const char *close = memchr(s + i + 1, ']', len - i - 1);
        int nums[MAX_RANGE * 4];
        size_t n_nums = 0;
        if (!close || (size_t)(close - s - i) > MAX_MARKER_SPAN ||
            !parse_marker(s + i + 1, (size_t)(close - s - i - 1), nums, &n_nums, sizeof nums / sizeof nums[0])) {
            st = rag_buf_append_char(&b, s[i++]);
            continue;
        }
        bool kept = false;
        for (size_t k = 0; k < n_nums && st == RAG_OK; k++) {
            if (nums[k] >= 1 && (size_t)nums[k] <= n_sources) {
                note_number(out->cited, &out->n_cited, RAG_CITATIONS_MAX, nums[k]);
                out->n_valid_markers++;
                st = rag_buf_appendf(&b, "[%d]", nums[k]);
                kept = true;
            } else {
                note_number(out->invalid, &out->n_invalid, RAG_CITATIONS_MAX, nums[k]);
            }
        }
        i = (size_t)(close - s) + 1;
        if (kept || st != RAG_OK)
            continue;
        /* The whole marker was dropped: tidy the spaces around the gap, and if that brought a
         * literal '[' next to the rest ("[[0]7]" -> "[7]"), scan from that '[' again so a marker
         * it now forms is validated too. Each drop shortens what is left to scan, so this ends. */
        st = tidy_junction(&b, s, &i, len);
        size_t k = st == RAG_OK ? open_bracket(&b) : SIZE_MAX;
        if (k == SIZE_MAX)
            continue;
        size_t head = b.len - k, rest = len - i;
        char *w = malloc(head + rest + 1);
        if (!w) {
            st = RAG_E_NOMEM;
            break;
        }
        memcpy(w, b.data + k, head);
        memcpy(w + head, s + i, rest);
        w[head + rest] = '\0';
        free(work);
        work = w;
        s = w;
        len = head + rest;
        i = 0;
        b.len = k;
        b.data[k] = '\0';
    }
    free(work);
    if (st == RAG_OK) {
        out->text = rag_buf_steal(&b);
        if (!out->text)
            st = RAG_E_NOMEM;
    }
    rag_buf_free(&b);
    if (st != RAG_OK)
        rag_citations_clear(out);
    return st;
}
