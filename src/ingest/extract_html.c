/* HTML extraction with gumbo: visible text with block structure, title from <title> or <h1>.
 * The tree is walked iteratively (parent pointers), so deeply nested input cannot overflow the
 * stack here. */
#include "ingest/extract_internal.h"

#include <ctype.h>
#include <gumbo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { SEP_NONE, SEP_SPACE, SEP_LINE, SEP_PARA } html_sep;

/* Elements whose content is never visible text. */
static bool html_skipped(const GumboNode *n)
{
    if (n->type == GUMBO_NODE_TEMPLATE)
        return true;
    if (n->type != GUMBO_NODE_ELEMENT)
        return false;
    switch (n->v.element.tag) {
    case GUMBO_TAG_HEAD: case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_SVG: case GUMBO_TAG_MATH: case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_OBJECT: case GUMBO_TAG_EMBED: case GUMBO_TAG_CANVAS: case GUMBO_TAG_SELECT:
    case GUMBO_TAG_TITLE:
        return true;
    default:
        break;
    }
    if (n->v.element.tag_namespace != GUMBO_NAMESPACE_HTML)
        return true; /* foreign content (svg/mathml descendants) */
    return gumbo_get_attribute(&n->v.element.attributes, "hidden") != NULL;
}

/* Separator emitted before and after an element's content. */
static html_sep html_separator(GumboTag tag)
{
    switch (tag) {
    case GUMBO_TAG_P: case GUMBO_TAG_DIV: case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4:
    case GUMBO_TAG_H5: case GUMBO_TAG_H6: case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_PRE:
    case GUMBO_TAG_UL: case GUMBO_TAG_OL: case GUMBO_TAG_DL: case GUMBO_TAG_TABLE:
    case GUMBO_TAG_HEADER: case GUMBO_TAG_FOOTER: case GUMBO_TAG_MAIN: case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_NAV: case GUMBO_TAG_FIGURE: case GUMBO_TAG_ADDRESS: case GUMBO_TAG_HR:
    case GUMBO_TAG_FORM: case GUMBO_TAG_FIELDSET: case GUMBO_TAG_DETAILS: case GUMBO_TAG_BODY:
    case GUMBO_TAG_CENTER: case GUMBO_TAG_LISTING: case GUMBO_TAG_XMP:
        return SEP_PARA;
    case GUMBO_TAG_LI: case GUMBO_TAG_TR: case GUMBO_TAG_DT: case GUMBO_TAG_DD:
    case GUMBO_TAG_BR: case GUMBO_TAG_SUMMARY: case GUMBO_TAG_CAPTION: case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_LEGEND: case GUMBO_TAG_OPTION:
        return SEP_LINE;
    case GUMBO_TAG_TD: case GUMBO_TAG_TH: case GUMBO_TAG_IMG: case GUMBO_TAG_INPUT:
        return SEP_SPACE;
    default:
        return SEP_NONE;
    }
}

static const GumboVector *html_children(const GumboNode *n)
{
    if (n->type == GUMBO_NODE_DOCUMENT)
        return &n->v.document.children;
    if (n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE)
        return &n->v.element.children;
    return NULL;
}

typedef struct html_out {
    rag_buf *buf;
    int pre;           /* depth of <pre>/<listing>/<textarea>: keep line breaks */
    rag_status st;
} html_out;

/* Ensures the text ends with the separator: a space, or at least 1 / 2 line breaks (counting
 * the breaks already at the end, across spaces), so nested and adjacent blocks do not pile up
 * breaks (</li> <li> stays one line break, not a paragraph break). */
static void out_sep(html_out *o, html_sep s)
{
    if (s == SEP_NONE || o->st != RAG_OK)
        return;
    if (s == SEP_SPACE) {
        o->st = rag_buf_append_char(o->buf, ' ');
        return;
    }
    int want = s == SEP_PARA ? 2 : 1, have = 0;
    for (size_t i = o->buf->len; i > 0 && have < want; i--) {
        char c = o->buf->data[i - 1];
        if (c == '\n')
            have++;
        else if (c != ' ')
            break;
    }
    if (o->buf->len == 0)
        return; /* nothing to separate from */
    for (; have < want && o->st == RAG_OK; have++)
        o->st = rag_buf_append_char(o->buf, '\n');
}

/* Text node: outside <pre> every HTML whitespace character is a plain space (source line breaks
 * are not paragraph breaks). */
static void out_text(html_out *o, const char *s)
{
    if (o->st != RAG_OK)
        return;
    size_t n = strlen(s);
    if (o->pre) {
        o->st = rag_buf_append(o->buf, s, n);
        return;
    }
    size_t start = o->buf->len;
    o->st = rag_buf_append(o->buf, s, n);
    if (o->st != RAG_OK)
        return;
    for (char *p = o->buf->data + start; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t' || *p == '\f')
            *p = ' ';
}

static bool is_pre(const GumboNode *n)
{
    return n->type == GUMBO_NODE_ELEMENT &&
           (n->v.element.tag == GUMBO_TAG_PRE || n->v.element.tag == GUMBO_TAG_LISTING ||
            n->v.element.tag == GUMBO_TAG_TEXTAREA);
}

/* Called on entering a node; returns true to descend into its children. */
static bool html_enter(html_out *o, const GumboNode *n)
{
    switch (n->type) {
    case GUMBO_NODE_TEXT: case GUMBO_NODE_WHITESPACE: case GUMBO_NODE_CDATA:
        out_text(o, n->v.text.text);
        return false;
    case GUMBO_NODE_DOCUMENT:
        return true;
    case GUMBO_NODE_ELEMENT:
        if (html_skipped(n))
            return false;
        out_sep(o, html_separator(n->v.element.tag));
        if (is_pre(n))
            o->pre++;
        return true;
    default: /* comments, templates */
        return false;
    }
}

static void html_leave(html_out *o, const GumboNode *n)
{
    if (n->type != GUMBO_NODE_ELEMENT)
        return;
    if (is_pre(n))
        o->pre--;
    switch (n->v.element.tag) {
    case GUMBO_TAG_BR: case GUMBO_TAG_HR: case GUMBO_TAG_IMG: case GUMBO_TAG_INPUT:
        return; /* void elements: separated once, on entry */
    default:
        out_sep(o, html_separator(n->v.element.tag));
    }
}

/* Depth-first walk of root's subtree without recursion. */
static void html_walk(html_out *o, const GumboNode *root)
{
    const GumboNode *n = root;
    bool descend = html_enter(o, n);
    while (o->st == RAG_OK) {
        const GumboVector *kids = descend ? html_children(n) : NULL;
        if (kids && kids->length > 0) {
            n = kids->data[0];
            descend = html_enter(o, n);
            continue;
        }
        /* No (visited) children: leave n, then climb until a node has a next sibling. */
        for (;;) {
            if (descend) /* entered and not skipped */
                html_leave(o, n);
            if (n == root)
                return;
            const GumboNode *parent = n->parent;
            const GumboVector *sib = html_children(parent);
            size_t next = n->index_within_parent + 1;
            if (sib && next < sib->length) {
                n = sib->data[next];
                descend = html_enter(o, n);
                break;
            }
            n = parent;
            descend = true; /* parent's children were visited */
        }
    }
}

/* First element with tag under root (document order), iteratively; NULL if none. */
static const GumboNode *html_find(const GumboNode *root, GumboTag tag)
{
    const GumboNode *n = root;
    for (;;) {
        if (n->type == GUMBO_NODE_ELEMENT && n->v.element.tag == tag)
            return n;
        const GumboVector *kids = n->type == GUMBO_NODE_ELEMENT && html_skipped(n) &&
                                          n->v.element.tag != GUMBO_TAG_HEAD
                                      ? NULL
                                      : html_children(n);
        if (kids && kids->length > 0) {
            n = kids->data[0];
            continue;
        }
        for (;;) {
            if (n == root)
                return NULL;
            const GumboNode *parent = n->parent;
            const GumboVector *sib = html_children(parent);
            size_t next = n->index_within_parent + 1;
            if (sib && next < sib->length) {
                n = sib->data[next];
                break;
            }
            n = parent;
        }
    }
}

/* Text content of el (title: all text children; h1: visible text of the subtree). */
static char *html_element_title(const GumboNode *el)
{
    rag_buf b;
    rag_buf_init(&b, 64 * 1024);
    html_out o = {.buf = &b, .st = RAG_OK};
    if (el->v.element.tag == GUMBO_TAG_TITLE) {
        const GumboVector *kids = &el->v.element.children;
        for (unsigned i = 0; i < kids->length; i++) {
            const GumboNode *k = kids->data[i];
            if (k->type == GUMBO_NODE_TEXT || k->type == GUMBO_NODE_WHITESPACE)
                out_text(&o, k->v.text.text);
        }
    } else {
        html_walk(&o, el);
    }
    /* A title longer than the buffer cap is cut: keep what was collected. */
    char *t = b.data ? rag_ingest_clean_title(b.data, b.len) : NULL;
    rag_buf_free(&b);
    return t;
}

/* ISO-8859-1 -> UTF-8 (each byte is its own code point). Caller frees with free(). */
static char *latin1_to_utf8(const char *s, size_t n, size_t *out_n)
{
    char *p = malloc(2 * n + 1);
    if (!p)
        return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            p[w++] = (char)c;
        } else {
            p[w++] = (char)(0xC0 | (c >> 6));
            p[w++] = (char)(0x80 | (c & 0x3F));
        }
    }
    p[w] = '\0';
    *out_n = w;
    return p;
}

/* gumbo's tree construction is quadratic in the depth of open elements (scope checks walk the
 * stack): 200,000 nested <div>s take minutes. A linear pre-scan estimates the deepest nesting
 * from tags that stay open until closed (void and implicitly closed tags such as p/li/td are
 * not counted; raw-text elements and comments are skipped) and refuses files above
 * HTML_MAX_DEPTH, which no real page comes near. The estimate must never fall below gumbo's real
 * depth, so: an end tag closes only an element it names among the top HTML_SCAN_CLOSE open ones
 * and only where HTML5 would (a stray end tag closes nothing, "</span>" does not close across a
 * <div>, "</div>" does not close across a <table>), an end tag of a formatting element only when
 * that element is the current one (the adoption agency keeps the blocks inside it open);
 * "<div/>" counts as open outside SVG/MathML (HTML ignores the '/'); inside SVG/MathML nothing
 * is raw text; raw-text ends and tag names are matched case-insensitively; and comments end
 * where HTML5 ends them ("<!-->", "<!--->", "-->", "--!>"). */
#define HTML_MAX_DEPTH 10000
#define HTML_SCAN_CLOSE 64

static size_t tag_name(const char *s, size_t n, size_t i, char *name, size_t cap)
{
    size_t k = 0;
    while (i < n && k + 1 < cap && (isalnum((unsigned char)s[i]) || s[i] == '-'))
        name[k++] = (char)tolower((unsigned char)s[i++]);
    name[k] = '\0';
    return i;
}

static bool tag_in(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(name, *list))
            return true;
    return false;
}

/* First case-insensitive occurrence of the lowercase needle nd[0..nl) in s[i..n), or NULL. */
static const char *find_nocase(const char *s, size_t n, size_t i, const char *nd, size_t nl)
{
    for (; i + nl <= n; i++) {
        const char *p = memchr(s + i, nd[0], n - i - nl + 1);
        if (!p)
            return NULL;
        i = (size_t)(p - s);
        if (!strncasecmp(p, nd, nl))
            return p;
    }
    return NULL;
}

/* Returns the estimate, or HTML_MAX_DEPTH + 1 as soon as it is exceeded (or on allocation failure). */
static size_t html_depth_estimate(const char *s, size_t n)
{
    static const char *const uncounted[] = {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "param", "keygen", "p", "li", "dt", "dd", "tr", "td", "th", "option",
        "optgroup", "thead", "tbody", "tfoot", "colgroup", "rb", "rt", "rtc", "rp", "html", "head",
        "body", NULL};
    static const char *const rawtext[] = {"script", "style", "textarea", "title", "xmp", "iframe",
                                          "noembed", "noframes", "plaintext", NULL};
    static const char *const formatting[] = {"a", "b", "big", "code", "em", "font", "i", "nobr",
                                             "s", "small", "strike", "strong", "tt", "u", NULL};
    static const char *const foreign_roots[] = {"svg", "math", NULL};
    static const char *const scope_ends[] = {"applet", "marquee", "object", "table", "template",
                                             "svg", "math", "mi", "mo", "mn", "ms", "mtext",
                                             "annotation-xml", "foreignobject", "desc", "title",
                                             NULL};
    static const char *const special[] = {
        "address", "applet", "article", "aside", "blockquote", "button", "center", "details",
        "dialog", "dir", "div", "dl", "fieldset", "figcaption", "figure", "footer", "form",
        "frameset", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "iframe", "listing",
        "main", "marquee", "menu", "nav", "noembed", "noframes", "noscript", "object", "ol",
        "plaintext", "pre", "script", "search", "section", "select", "style", "summary", "table",
        "template", "textarea", "title", "ul", "xmp", "mi", "mo", "mn", "ms", "mtext",
        "annotation-xml", "foreignobject", "desc", NULL};
    typedef char tag16[16];
    tag16 *open = malloc((HTML_MAX_DEPTH + 1) * sizeof *open); /* the open counted elements */
    if (!open)
        return HTML_MAX_DEPTH + 1;
    size_t depth = 0, max = 0, i = 0, foreign = 0; /* foreign: open svg/math elements */
    char name[16];
    while (i < n) {
        const char *lt = memchr(s + i, '<', n - i);
        if (!lt)
            break;
        i = (size_t)(lt - s) + 1;
        if (n - i >= 3 && !memcmp(s + i, "!--", 3)) {
            size_t b = i + 3;
            if (b < n && s[b] == '>') { /* "<!-->" */
                i = b + 1;
                continue;
            }
            if (b + 1 < n && s[b] == '-' && s[b + 1] == '>') { /* "<!--->" */
                i = b + 2;
                continue;
            }
            const char *e1 = memmem(s + b, n - b, "-->", 3), *e2 = memmem(s + b, n - b, "--!>", 4);
            if (e2 && (!e1 || e2 < e1))
                i = (size_t)(e2 - s) + 4;
            else
                i = e1 ? (size_t)(e1 - s) + 3 : n;
            continue;
        }
        bool close = i < n && s[i] == '/';
        if (close)
            i++;
        if (i >= n || !isalpha((unsigned char)s[i]))
            continue;
        i = tag_name(s, n, i, name, sizeof name);
        const char *gt = memchr(s + i, '>', n - i);
        if (!gt)
            break;
        bool self_closing = gt > s + i && gt[-1] == '/';
        i = (size_t)(gt - s) + 1;
        if (tag_in(name, uncounted))
            continue;
        if (close) {
            /* HTML5 end tags: a special element's closes through anything up to a scope
             * boundary; any other end tag stops at the first special element (then it is
             * ignored); formatting end tags run the adoption agency: only the current one. */
            size_t lim = tag_in(name, formatting) ? 1 : HTML_SCAN_CLOSE;
            const char *const *stop = tag_in(name, special) ? scope_ends : special;
            for (size_t k = 0; k < lim && k < depth; k++) {
                if (!strcmp(open[depth - 1 - k], name)) {
                    for (size_t j = depth - 1 - k; j < depth; j++)
                        foreign -= tag_in(open[j], foreign_roots);
                    depth -= k + 1;
                    break;
                }
                if (tag_in(open[depth - 1 - k], stop))
                    break; /* not closable from here: the end tag is ignored */
            }
            continue;
        }
        if (self_closing && foreign > 0)
            continue; /* "<x/>" closes only in SVG/MathML; HTML ignores the '/' ("<div/>" stays open) */
        if (foreign == 0 && tag_in(name, rawtext)) { /* skip to the closing tag (HTML only) */
            char endtag[20];
            int len = snprintf(endtag, sizeof endtag, "</%s", name);
            const char *e = find_nocase(s, n, i, endtag, (size_t)len);
            i = e ? (size_t)(e - s) : n;
            continue;
        }
        memcpy(open[depth], name, sizeof name);
        foreign += tag_in(name, foreign_roots);
        if (++depth > max)
            max = depth;
        if (depth > HTML_MAX_DEPTH)
            break;
    }
    free(open);
    return max;
}

rag_status rag_ingest_html(rag_ingest_doc *d, const char *data, size_t n, rag_err *err)
{
    char *conv = NULL;
    size_t bad = 0;
    if (!rag_utf8_valid(data, n, &bad)) {
        rag_log(RAG_LOG_INFO, "%s: invalid UTF-8 at byte %zu, reading the file as ISO-8859-1",
                d->path, bad);
        if (!(conv = latin1_to_utf8(data, n, &n)))
            return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", d->path);
        data = conv;
    }
    if (n >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3)) {
        data += 3;
        n -= 3;
    }
    if (n > (size_t)0xFFFFFFFFu) {
        free(conv);
        return rag_err_set(err, RAG_E_TOO_LARGE, "%s: HTML larger than 4 GiB", d->path);
    }
    size_t depth = html_depth_estimate(data, n);
    if (depth > HTML_MAX_DEPTH) {
        free(conv);
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: HTML nested too deeply (about %zu open "
                           "elements, limit %d)", d->path, depth, HTML_MAX_DEPTH);
    }
    GumboOptions opts = kGumboDefaultOptions;
    opts.max_errors = 0; /* parse errors are not needed: do not collect them */
    GumboOutput *g = gumbo_parse_with_options(&opts, data, n);
    if (!g) {
        free(conv);
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: HTML parser failed", d->path);
    }

    const GumboNode *t = html_find(g->root, GUMBO_TAG_TITLE);
    d->doc->title = t ? html_element_title(t) : NULL;
    if (!d->doc->title && (t = html_find(g->root, GUMBO_TAG_H1)) != NULL)
        d->doc->title = html_element_title(t);

    rag_buf raw;
    rag_buf_init(&raw, d->max_text_bytes);
    html_out o = {.buf = &raw, .st = RAG_OK};
    html_walk(&o, g->root);
    rag_status st = o.st;
    gumbo_destroy_output(&opts, g);
    free(conv);
    if (st == RAG_E_TOO_LARGE)
        st = rag_err_set(err, st, "%s: extracted text exceeds the %zu-byte limit (max_text_bytes)",
                         d->path, d->max_text_bytes);
    else if (st != RAG_OK)
        st = rag_err_set(err, st, "%s: %s", d->path, rag_status_str(st));
    else
        st = rag_ingest_doc_add_page(d, raw.data ? raw.data : "", raw.len, 0, err);
    rag_buf_free(&raw);
    return st;
}
