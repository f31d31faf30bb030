/* Markdown extraction: a line-oriented pass that drops markup and keeps the text. Not a CommonMark
 * parser: block structure is recognized per line (front matter, fences, ATX/setext headings,
 * thematic breaks, block quotes, list markers, tables, link reference definitions) and inline
 * markup per line (escapes, code spans, images, links, autolinks, HTML tags/comments, emphasis
 * delimiters, a few entities). Input is valid UTF-8; only ASCII bytes are ever removed, so the
 * output stays valid UTF-8. Searches for closing delimiters are bounded (MD_SCAN_MAX) so that
 * pathological lines stay linear. */
#include "ingest/extract_internal.h"

#include <stdlib.h>
#include <string.h>

#define MD_SCAN_MAX 4096 /* bytes searched for a closing ']', ')' or '`' run */
#define MD_LINK_DEPTH 8  /* nesting of link texts processed recursively */

typedef struct md_state {
    rag_buf *out;
    bool in_comment;     /* inside <!-- ... --> spanning lines */
    char *title;         /* first heading, owned */
    rag_status st;
} md_state;

typedef struct md_line {
    const char *p;
    size_t n;
} md_line;

static bool is_space(unsigned char c) { return c == ' ' || c == '\t'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static bool is_punct(unsigned char c)
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

static void emit(md_state *m, const char *s, size_t n)
{
    if (m->st == RAG_OK && n)
        m->st = rag_buf_append(m->out, s, n);
}

static void emit_str(md_state *m, const char *s) { emit(m, s, strlen(s)); }

/* Next line from data[*pos..n) without its "\n" / "\r\n"; false at the end. */
static bool next_line(const char *data, size_t n, size_t *pos, md_line *l)
{
    if (*pos >= n)
        return false;
    const char *s = data + *pos;
    const char *nl = memchr(s, '\n', n - *pos);
    size_t len = nl ? (size_t)(nl - s) : n - *pos;
    *pos += len + (nl ? 1 : 0);
    if (len && s[len - 1] == '\r')
        len--;
    l->p = s;
    l->n = len;
    return true;
}

static md_line ltrim(md_line l)
{
    while (l.n && is_space((unsigned char)*l.p)) {
        l.p++;
        l.n--;
    }
    return l;
}

static md_line rtrim(md_line l)
{
    while (l.n && is_space((unsigned char)l.p[l.n - 1]))
        l.n--;
    return l;
}

static bool is_blank(md_line l) { return ltrim(l).n == 0; }

/* Leading spaces (tabs count 4), capped at 4. */
static size_t indent(md_line l)
{
    size_t w = 0;
    for (size_t i = 0; i < l.n && w < 4; i++) {
        if (l.p[i] == ' ')
            w++;
        else if (l.p[i] == '\t')
            w = 4;
        else
            break;
    }
    return w;
}

static size_t run_len(const char *s, size_t n, size_t i, char c)
{
    size_t k = 0;
    while (i + k < n && s[i + k] == c)
        k++;
    return k;
}

/* Opening code fence (``` or ~~~, >= 3); sets *ch and *len. */
static bool fence_open(md_line l, char *ch, size_t *len)
{
    if (indent(l) > 3)
        return false;
    l = ltrim(l);
    if (!l.n || (l.p[0] != '`' && l.p[0] != '~'))
        return false;
    size_t k = run_len(l.p, l.n, 0, l.p[0]);
    if (k < 3)
        return false;
    if (l.p[0] == '`' && memchr(l.p + k, '`', l.n - k))
        return false; /* a backtick fence's info string has no backticks */
    *ch = l.p[0];
    *len = k;
    return true;
}

static bool fence_close(md_line l, char ch, size_t len)
{
    if (indent(l) > 3)
        return false;
    l = rtrim(ltrim(l));
    return l.n >= len && run_len(l.p, l.n, 0, ch) == l.n;
}

/* "# text #" -> text; false if not an ATX heading. */
static bool atx_heading(md_line l, md_line *text)
{
    if (indent(l) > 3)
        return false;
    l = ltrim(l);
    size_t k = run_len(l.p, l.n, 0, '#');
    if (k < 1 || k > 6 || (k < l.n && !is_space((unsigned char)l.p[k])))
        return false;
    md_line t = rtrim(ltrim((md_line){l.p + k, l.n - k}));
    size_t e = t.n;
    while (e > 0 && t.p[e - 1] == '#')
        e--;
    if (e == 0 || is_space((unsigned char)t.p[e - 1]))
        t.n = e; /* closing sequence */
    *text = rtrim(t);
    return true;
}

/* "===" or "---" line (setext underline when it follows a paragraph line). */
static bool setext_underline(md_line l)
{
    if (indent(l) > 3)
        return false;
    l = rtrim(ltrim(l));
    if (!l.n || (l.p[0] != '=' && l.p[0] != '-'))
        return false;
    return run_len(l.p, l.n, 0, l.p[0]) == l.n;
}

/* "***", "- - -", "___": three or more of one of -*_ with optional spaces. */
static bool thematic_break(md_line l)
{
    if (indent(l) > 3)
        return false;
    l = ltrim(l);
    if (!l.n || (l.p[0] != '-' && l.p[0] != '*' && l.p[0] != '_'))
        return false;
    size_t count = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (l.p[i] == l.p[0])
            count++;
        else if (!is_space((unsigned char)l.p[i]))
            return false;
    }
    return count >= 3;
}

/* "| --- | :-: |" */
static bool table_delimiter(md_line l)
{
    l = rtrim(ltrim(l));
    bool pipe = false, dash = false;
    for (size_t i = 0; i < l.n; i++) {
        char c = l.p[i];
        if (c == '|')
            pipe = true;
        else if (c == '-')
            dash = true;
        else if (c != ':' && !is_space((unsigned char)c))
            return false;
    }
    return pipe && dash;
}

/* Strips block-quote markers, list markers and task boxes from the start of a line. */
static md_line strip_block_prefix(md_line l)
{
    for (;;) {
        l = ltrim(l);
        if (l.n && l.p[0] == '>') {
            l.p++;
            l.n--;
            continue;
        }
        break;
    }
    if (l.n >= 2 && (l.p[0] == '-' || l.p[0] == '*' || l.p[0] == '+') && is_space((unsigned char)l.p[1])) {
        l = ltrim((md_line){l.p + 1, l.n - 1});
    } else {
        size_t d = 0;
        while (d < l.n && d < 9 && is_digit((unsigned char)l.p[d]))
            d++;
        if (d > 0 && d + 1 < l.n && (l.p[d] == '.' || l.p[d] == ')') &&
            is_space((unsigned char)l.p[d + 1]))
            l = ltrim((md_line){l.p + d + 1, l.n - d - 1});
        else
            return l;
    }
    if (l.n >= 3 && l.p[0] == '[' && l.p[2] == ']' &&
        (l.p[1] == ' ' || l.p[1] == 'x' || l.p[1] == 'X'))
        l = ltrim((md_line){l.p + 3, l.n - 3});
    return l;
}

/* s[open] == '[': finds the matching ']' (nesting, escapes) and the link destination or
 * reference that follows. Sets the text span and *end (index after the construct). */
static bool parse_link(const char *s, size_t n, size_t open, size_t *tb, size_t *te, size_t *end)
{
    size_t lim = n - open > MD_SCAN_MAX ? open + MD_SCAN_MAX : n;
    int depth = 0;
    size_t j = open;
    for (; j < lim; j++) {
        if (s[j] == '\\') {
            j++;
            continue;
        }
        if (s[j] == '[')
            depth++;
        else if (s[j] == ']' && --depth == 0)
            break;
    }
    if (j >= lim || j + 1 >= n)
        return false;
    char close = s[j + 1] == '(' ? ')' : s[j + 1] == '[' ? ']' : 0;
    if (!close)
        return false;
    size_t k = j + 2;
    lim = n - k > MD_SCAN_MAX ? k + MD_SCAN_MAX : n;
    int pd = 1;
    for (; k < lim; k++) {
        if (s[k] == '\\') {
            k++;
            continue;
        }
        if (close == ')' && s[k] == '(')
            pd++;
        else if (s[k] == close && --pd == 0)
            break;
    }
    if (k >= lim)
        return false;
    *tb = open + 1;
    *te = j;
    *end = k + 1;
    return true;
}

/* Decodes a character reference at s[i] == '&'; returns its length (0 if not recognized). */
static size_t entity(md_state *m, const char *s, size_t n, size_t i)
{
    static const struct { const char *name; const char *text; } named[] = {
        {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"},
        {"&nbsp;", "\xC2\xA0"}, {"&copy;", "\xC2\xA9"}, {"&mdash;", "\xE2\x80\x94"},
        {"&ndash;", "\xE2\x80\x93"}, {"&hellip;", "\xE2\x80\xA6"},
    };
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
        size_t len = strlen(named[k].name);
        if (n - i >= len && !memcmp(s + i, named[k].name, len)) {
            emit_str(m, named[k].text);
            return len;
        }
    }
    if (n - i < 4 || s[i + 1] != '#')
        return 0;
    bool hex = s[i + 2] == 'x' || s[i + 2] == 'X';
    size_t j = i + (hex ? 3 : 2);
    long cp = 0;
    size_t digits = 0;
    for (; j < n && digits < 7; j++, digits++) {
        unsigned char c = (unsigned char)s[j];
        int v = is_digit(c) ? c - '0' : hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
        if (v < 0)
            break;
        cp = cp * (hex ? 16 : 10) + v;
    }
    if (!digits || j >= n || s[j] != ';')
        return 0;
    if (m->st == RAG_OK)
        m->st = rag_ingest_append_cp(m->out, cp > 0x10FFFF ? 0xFFFD : (int32_t)cp);
    return j + 1 - i;
}

/* An emphasis/strikethrough delimiter run of c at s[i..i+k): true if it is markup to drop. */
static bool delimiter_markup(const char *s, size_t n, size_t i, size_t k, char c)
{
    unsigned char prev = i > 0 ? (unsigned char)s[i - 1] : ' ';
    unsigned char next = i + k < n ? (unsigned char)s[i + k] : ' ';
    bool left = !is_space(next) && (!is_punct(next) || is_space(prev) || is_punct(prev));
    bool right = !is_space(prev) && (!is_punct(prev) || is_space(next) || is_punct(next));
    switch (c) {
    case '*':
        if (is_digit(prev) && is_digit(next))
            return false; /* 2*3 */
        return left || right;
    case '_':
        if (left && right) /* intraword: snake_case */
            return is_punct(prev) || is_punct(next);
        return left || right;
    default: /* '~': only "~~" */
        return k == 2 && (left || right);
    }
}

static void md_inline(md_state *m, const char *s, size_t n, bool table, int depth)
{
    size_t i = 0;
    while (i < n && m->st == RAG_OK) {
        if (m->in_comment) {
            const char *e = memmem(s + i, n - i, "-->", 3);
            if (!e)
                return;
            i = (size_t)(e - s) + 3;
            m->in_comment = false;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        size_t tb, te, end, k;
        switch (c) {
        case '\\':
            if (i + 1 < n && is_punct((unsigned char)s[i + 1])) {
                emit(m, s + i + 1, 1);
                i += 2;
                continue;
            }
            break;
        case '`': {
            k = run_len(s, n, i, '`');
            size_t lim = n - i > MD_SCAN_MAX ? i + MD_SCAN_MAX : n;
            size_t j = i + k;
            while (j < lim) {
                const char *q = memchr(s + j, '`', lim - j);
                if (!q)
                    break;
                j = (size_t)(q - s);
                size_t r = run_len(s, n, j, '`');
                if (r == k)
                    break;
                j += r;
            }
            if (j < lim && j < n && s[j] == '`') {
                size_t b = i + k, e = j;
                if (e - b >= 2 && s[b] == ' ' && s[e - 1] == ' ')
                    b++, e--;
                emit(m, s + b, e - b);
                i = j + k;
            } else {
                emit(m, s + i, k);
                i += k;
            }
            continue;
        }
        case '!':
            if (i + 1 < n && s[i + 1] == '[' && parse_link(s, n, i + 1, &tb, &te, &end)) {
                i = end; /* images are dropped */
                continue;
            }
            break;
        case '[':
            if (parse_link(s, n, i, &tb, &te, &end)) {
                if (depth < MD_LINK_DEPTH)
                    md_inline(m, s + tb, te - tb, table, depth + 1);
                else
                    emit(m, s + tb, te - tb);
                i = end;
                continue;
            }
            break;
        case '<':
            if (n - i >= 4 && !memcmp(s + i, "<!--", 4)) {
                const char *e = memmem(s + i + 4, n - i - 4, "-->", 3);
                if (!e) {
                    m->in_comment = true;
                    return;
                }
                i = (size_t)(e - s) + 3;
                continue;
            }
            if (i + 1 < n && (is_alpha((unsigned char)s[i + 1]) || s[i + 1] == '/' ||
                              s[i + 1] == '!' || s[i + 1] == '?')) {
                size_t lim = n - i > MD_SCAN_MAX ? i + MD_SCAN_MAX : n;
                const char *gt = memchr(s + i, '>', lim - i);
                if (gt) {
                    const char *colon = memchr(s + i, ':', (size_t)(gt - (s + i)));
                    const char *sp = memchr(s + i, ' ', (size_t)(gt - (s + i)));
                    if (colon && !sp) /* autolink <https://x> : keep the URL */
                        emit(m, s + i + 1, (size_t)(gt - (s + i)) - 1);
                    else if (!sp && memchr(s + i, '@', (size_t)(gt - (s + i)))) /* <a@b.c> */
                        emit(m, s + i + 1, (size_t)(gt - (s + i)) - 1);
                    i = (size_t)(gt - s) + 1; /* HTML tag: dropped */
                    continue;
                }
            }
            break;
        case '*': case '_': case '~':
            k = run_len(s, n, i, (char)c);
            if (!delimiter_markup(s, n, i, k, (char)c))
                emit(m, s + i, k);
            i += k;
            continue;
        case '&':
            if ((k = entity(m, s, n, i)) > 0) {
                i += k;
                continue;
            }
            break;
        case '|':
            if (table) {
                emit(m, " ", 1);
                i++;
                continue;
            }
            break;
        default:
            break;
        }
        /* Plain bytes up to the next special character. */
        size_t j = i + 1;
        while (j < n && !strchr("\\`![<*_~&|", s[j]))
            j++;
        emit(m, s + i, j - i);
        i = j;
    }
}

static void md_heading(md_state *m, md_line text)
{
    emit(m, "\n\n", 2);
    size_t start = m->out->len;
    md_inline(m, text.p, text.n, false, 0);
    if (m->st == RAG_OK && !m->title && m->out->len > start)
        m->title = rag_ingest_clean_title(m->out->data + start, m->out->len - start);
    emit(m, "\n\n", 2);
}

/* Skips YAML front matter ("---" ... "---" or "...") at the very start; returns the new pos. */
static size_t skip_front_matter(const char *data, size_t n)
{
    size_t pos = 0;
    md_line l;
    if (!next_line(data, n, &pos, &l) || rtrim(l).n != 3 || memcmp(l.p, "---", 3) != 0)
        return 0;
    while (next_line(data, n, &pos, &l)) {
        md_line t = rtrim(l);
        if (t.n == 3 && (!memcmp(t.p, "---", 3) || !memcmp(t.p, "...", 3)))
            return pos;
    }
    return 0; /* not closed: not front matter */
}

rag_status rag_ingest_markdown(rag_ingest_doc *d, const char *data, size_t n, rag_err *err)
{
    rag_buf raw;
    rag_buf_init(&raw, d->max_text_bytes);
    md_state m = {.out = &raw, .st = RAG_OK};
    size_t pos = skip_front_matter(data, n);
    md_line l, next;
    bool have_next = next_line(data, n, &pos, &next);
    bool in_fence = false, para = false; /* para: the previous line was paragraph text */
    char fch = 0;
    size_t flen = 0;
    while (have_next && m.st == RAG_OK) {
        l = next;
        have_next = next_line(data, n, &pos, &next);
        md_line t;
        if (in_fence) {
            if (fence_close(l, fch, flen)) {
                in_fence = false;
                emit(&m, "\n\n", 2);
            } else {
                emit(&m, l.p, l.n);
                emit(&m, "\n", 1);
            }
            continue;
        }
        if (m.in_comment) {
            md_inline(&m, l.p, l.n, false, 0);
            emit(&m, "\n", 1);
            continue;
        }
        bool was_para = para;
        para = false;
        if (is_blank(l)) {
            emit(&m, "\n\n", 2);
        } else if (fence_open(l, &fch, &flen)) {
            in_fence = true;
            emit(&m, "\n\n", 2);
        } else if (atx_heading(l, &t)) {
            md_heading(&m, t);
        } else if (!was_para && thematic_break(l)) {
            emit(&m, "\n\n", 2);
        } else if (was_para && setext_underline(l)) {
            emit(&m, "\n\n", 2); /* underline of a multi-line setext heading: drop */
        } else if (table_delimiter(l)) {
            continue;
        } else {
            md_line body = strip_block_prefix(l);
            if (body.n && body.p[0] == '[' && memmem(body.p, body.n, "]:", 2)) {
                /* link reference definition: dropped; footnote definition: keep its text */
                const char *c = memmem(body.p, body.n, "]:", 2);
                if (body.n > 1 && body.p[1] == '^')
                    md_inline(&m, c + 2, (size_t)(body.p + body.n - (c + 2)), false, 0);
                emit(&m, "\n", 1);
                continue;
            }
            if (have_next && !is_blank(body) && setext_underline(next) &&
                body.p == ltrim(l).p) { /* "Title\n=====" */
                md_heading(&m, rtrim(body));
                have_next = next_line(data, n, &pos, &next);
                continue;
            }
            bool table = body.n && body.p[0] == '|';
            md_inline(&m, body.p, body.n, table, 0);
            emit(&m, "\n", 1);
            para = true;
        }
    }
    rag_status st = m.st;
    if (st == RAG_E_TOO_LARGE)
        st = rag_err_set(err, st, "%s: extracted text exceeds the %zu-byte limit (max_text_bytes)",
                         d->path, d->max_text_bytes);
    else if (st != RAG_OK)
        st = rag_err_set(err, st, "%s: %s", d->path, rag_status_str(st));
    else
        st = rag_ingest_doc_add_page(d, raw.data ? raw.data : "", raw.len, 0, err);
    if (st == RAG_OK) {
        d->doc->title = m.title;
        m.title = NULL;
    }
    free(m.title);
    rag_buf_free(&raw);
    return st;
}
