/* Citation parsing and validation for generated answers.
 *
 * Recognized markers (outside code): "[3]", "[1, 2]", "[1,2]", "[1][2]", "[1-3]" (a range of at
 * most 20; numbers of 1-3 digits, so "[2024]" stays text), "[source 2]", "[Source 2]", "[sources 1, 2]", "[doc 2]". Everything else in brackets
 * is text. Markers inside fenced code blocks (``` ... ```) and inline code (`...`) are left as
 * they are and not counted. A valid marker is rewritten canonically as "[n]" per source ("[1, 2]"
 * becomes "[1][2]"); a number that names no source (0, or > n_sources) is dropped from the text
 * and reported.
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

rag_status rag_citations_validate(const char *text, size_t n_sources, rag_citations *out)
{
    memset(out, 0, sizeof *out);
    rag_buf b;
    rag_buf_init(&b, 0);
    size_t len = strlen(text);
    bool fenced = false, inline_code = false;
    rag_status st = RAG_OK;
    size_t i = 0;
    while (i < len && st == RAG_OK) {
        if (!inline_code && strncmp(text + i, "```", 3) == 0) {
            fenced = !fenced;
            st = rag_buf_append(&b, "```", 3);
            i += 3;
            continue;
        }
        if (!fenced && text[i] == '`') {
            inline_code = !inline_code;
            st = rag_buf_append_char(&b, '`');
            i++;
            continue;
        }
        if (fenced || inline_code || text[i] != '[') {
            st = rag_buf_append_char(&b, text[i++]);
            continue;
        }
        const char *close = memchr(text + i + 1, ']', len - i - 1);
        int nums[MAX_RANGE * 4];
        size_t n_nums = 0;
        if (!close || (size_t)(close - text - i) > 64 ||
            !parse_marker(text + i + 1, (size_t)(close - text - i - 1), nums, &n_nums, sizeof nums / sizeof nums[0])) {
            st = rag_buf_append_char(&b, text[i++]);
            continue;
        }
        for (size_t k = 0; k < n_nums && st == RAG_OK; k++) {
            if (nums[k] >= 1 && (size_t)nums[k] <= n_sources) {
                note_number(out->cited, &out->n_cited, RAG_CITATIONS_MAX, nums[k]);
                out->n_valid_markers++;
                st = rag_buf_appendf(&b, "[%d]", nums[k]);
            } else {
                note_number(out->invalid, &out->n_invalid, RAG_CITATIONS_MAX, nums[k]);
            }
        }
        i = (size_t)(close - text) + 1;
    }
    /* Dropping an invalid marker can leave "word  ." or a trailing space: tidy those. */
    if (st == RAG_OK && b.data) {
        size_t w = 0;
        for (size_t r = 0; r < b.len; r++) {
            char ch = b.data[r];
            if (ch == ' ' && w > 0 && b.data[w - 1] == ' ')
                continue;
            if ((ch == '.' || ch == ',') && w > 0 && b.data[w - 1] == ' ' && r > 0 && b.data[r - 1] == ' ')
                w--;
            b.data[w++] = ch;
        }
        while (w > 0 && b.data[w - 1] == ' ')
            w--;
        b.len = w;
        b.data[w] = '\0';
    }
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
