/* YAML text -> cfg_node tree (libyaml event parser), diagnostics, ${VAR} interpolation. */
#include "config/config_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---- diagnostics ---- */

void cfg_diag_init(cfg_diag *d)
{
    rag_buf_init(&d->lines, 0);
    d->n = 0;
    d->first_status = RAG_OK;
    d->first[0] = '\0';
}

void cfg_diag_add(cfg_diag *d, rag_status st, const char *fmt, ...)
{
    char line[RAG_ERR_MSG_MAX * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (d->n == 0) {
        d->first_status = st;
        size_t n = strlen(line);
        if (n >= sizeof d->first)
            n = sizeof d->first - 1;
        memcpy(d->first, line, n);
        d->first[n] = '\0';
    }
    if (d->n < CFG_MAX_DIAG_LINES) {
        /* Out of memory here only loses a diagnostic line; the count and first error remain. */
        (void)rag_buf_append_str(&d->lines, line);
        (void)rag_buf_append_char(&d->lines, '\n');
    }
    d->n++;
}

void cfg_diag_free(cfg_diag *d)
{
    rag_buf_free(&d->lines);
}

/* ---- tree ---- */

void cfg_node_free(cfg_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            free(n->keys[i]);
        cfg_node_free(n->items[i]);
    }
    free(n->keys);
    free(n->key_lines);
    free(n->items);
    free(n->str);
    free(n);
}

bool cfg_node_is_null(const cfg_node *n)
{
    if (!n || n->kind != CFG_SCALAR || !n->plain)
        return false;
    return !strcmp(n->str, "") || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
           !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

static rag_status node_push(cfg_node *parent, cfg_node *child, char *key, int key_line)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        cfg_node **items = realloc(parent->items, cap * sizeof *items);
        if (!items)
            return RAG_E_NOMEM;
        parent->items = items;
        if (parent->kind == CFG_MAP) {
            char **keys = realloc(parent->keys, cap * sizeof *keys);
            if (!keys)
                return RAG_E_NOMEM;
            parent->keys = keys;
            int *lines = realloc(parent->key_lines, cap * sizeof *lines);
            if (!lines)
                return RAG_E_NOMEM;
            parent->key_lines = lines;
        }
        parent->cap = cap;
    }
    if (parent->kind == CFG_MAP) {
        parent->keys[parent->n] = key;
        parent->key_lines[parent->n] = key_line;
    }
    parent->items[parent->n++] = child;
    return RAG_OK;
}

typedef struct parse_frame {
    cfg_node *node;
    char *pending_key; /* map: key read, value not yet */
    int pending_line;
} parse_frame;

typedef struct parse_state {
    const char *file;
    cfg_diag *d;
    parse_frame stack[CFG_MAX_DEPTH];
    int depth;
    size_t n_nodes;
    cfg_node *root;
} parse_state;

static rag_status fail(parse_state *ps, rag_status st, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static rag_status fail(parse_state *ps, rag_status st, int line, const char *fmt, ...)
{
    char why[RAG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    cfg_diag_add(ps->d, st, "%s:%d: %s", ps->file, line, why);
    return st;
}

/* Attaches a new node (takes ownership) to the open collection, or makes it the root. A scalar
 * arriving where a map expects a key becomes that key. push: the node opens a collection. */
static rag_status attach(parse_state *ps, cfg_node *n, bool push)
{
    int line = n->line;
    if (++ps->n_nodes > CFG_MAX_NODES) {
        cfg_node_free(n);
        return fail(ps, RAG_E_TOO_LARGE, line, "more than %d YAML nodes", CFG_MAX_NODES);
    }
    if (ps->depth == 0) {
        if (ps->root) { /* unreachable: libyaml emits one root per document */
            cfg_node_free(n);
            return fail(ps, RAG_E_INTERNAL, 1, "more than one root node");
        }
        ps->root = n;
    } else {
        parse_frame *top = &ps->stack[ps->depth - 1];
        if (top->node->kind == CFG_MAP && !top->pending_key) {
            if (n->kind != CFG_SCALAR) {
                cfg_node_free(n);
                return fail(ps, RAG_E_CONFIG, line, "complex mapping keys are not supported");
            }
            top->pending_key = n->str;
            top->pending_line = n->line;
            n->str = NULL;
            cfg_node_free(n);
            return RAG_OK;
        }
        char *key = top->pending_key;
        top->pending_key = NULL;
        if (node_push(top->node, n, key, top->pending_line) != RAG_OK) {
            free(key);
            cfg_node_free(n);
            return fail(ps, RAG_E_NOMEM, line, "out of memory");
        }
    }
    if (push) {
        if (ps->depth == CFG_MAX_DEPTH)
            return fail(ps, RAG_E_TOO_LARGE, line, "nesting deeper than %d levels", CFG_MAX_DEPTH);
        ps->stack[ps->depth].node = n;
        ps->stack[ps->depth].pending_key = NULL;
        ps->stack[ps->depth].pending_line = 0;
        ps->depth++;
    }
    return RAG_OK;
}

static cfg_node *node_new(cfg_node_kind kind, const yaml_mark_t *mark)
{
    cfg_node *n = calloc(1, sizeof *n);
    if (n) {
        n->kind = kind;
        n->line = (int)mark->line + 1;
    }
    return n;
}

rag_status cfg_parse(const char *file, const char *text, size_t len, cfg_node **root, cfg_diag *d)
{
    *root = NULL;
    parse_state ps = {.file = file, .d = d};
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        cfg_diag_add(d, RAG_E_NOMEM, "%s: out of memory", file);
        return RAG_E_NOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    rag_status st = RAG_OK;
    int documents = 0;
    bool done = false;
    while (!done && st == RAG_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            char ctx[160] = "";
            if (parser.context)
                snprintf(ctx, sizeof ctx, " (%s at line %zu column %zu)", parser.context,
                         parser.context_mark.line + 1, parser.context_mark.column + 1);
            cfg_diag_add(d, RAG_E_CONFIG, "%s:%zu:%zu: YAML syntax error: %s%s", file,
                         parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                         parser.problem ? parser.problem : "unknown problem", ctx);
            st = RAG_E_CONFIG;
            break;
        }
        cfg_node *n = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1)
                st = fail(&ps, RAG_E_CONFIG, (int)ev.start_mark.line + 1,
                          "more than one YAML document ('---') is not supported");
            break;
        case YAML_ALIAS_EVENT:
            st = fail(&ps, RAG_E_CONFIG, (int)ev.start_mark.line + 1,
                      "YAML aliases (*%s) are not supported", (const char *)ev.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT:
            n = node_new(CFG_SCALAR, &ev.start_mark);
            if (n) {
                n->str = rag_strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
                n->len = ev.data.scalar.length;
                n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            }
            if (!n || !n->str) {
                cfg_node_free(n);
                st = fail(&ps, RAG_E_NOMEM, (int)ev.start_mark.line + 1, "out of memory");
            } else {
                st = attach(&ps, n, false);
            }
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            n = node_new(ev.type == YAML_MAPPING_START_EVENT ? CFG_MAP : CFG_SEQ, &ev.start_mark);
            st = n ? attach(&ps, n, true) : fail(&ps, RAG_E_NOMEM, (int)ev.start_mark.line + 1, "out of memory");
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            if (ps.depth > 0) {
                ps.depth--;
                free(ps.stack[ps.depth].pending_key); /* libyaml always pairs keys; defensive */
                ps.stack[ps.depth].pending_key = NULL;
            }
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    for (int i = 0; i < ps.depth; i++)
        free(ps.stack[i].pending_key);
    if (st != RAG_OK) {
        cfg_node_free(ps.root);
        return st;
    }
    *root = ps.root;
    return RAG_OK;
}

/* ---- interpolation ---- */

const char *cfg_getenv(const cfg_env *env, const char *name)
{
    if (env && env->fn)
        return env->fn(env->ud, name);
    return getenv(name);
}

typedef struct interp {
    const char *s;
    size_t len, pos;
    const cfg_env *env;
    rag_buf out;
    char *why;
    size_t why_n;
    int depth;
} interp;

static bool is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static rag_status out_append(interp *ip, bool emit, const char *p, size_t n)
{
    if (!emit)
        return RAG_OK;
    rag_status st = rag_buf_append(&ip->out, p, n);
    if (st == RAG_E_TOO_LARGE)
        snprintf(ip->why, ip->why_n, "value longer than %d bytes after interpolation", RAG_CONFIG_MAX_VALUE);
    else if (st != RAG_OK)
        snprintf(ip->why, ip->why_n, "out of memory");
    return st;
}

/* Expands from ip->pos until the end (nested == false) or the '}' closing a ${VAR:-...}
 * default (nested == true; the '}' is consumed). emit == false only checks the syntax, so an
 * unused default is never looked up (bash semantics). */
static rag_status expand(interp *ip, bool nested, bool emit)
{
    if (++ip->depth > 8) {
        snprintf(ip->why, ip->why_n, "${...} nested more than 8 levels deep");
        return RAG_E_CONFIG;
    }
    rag_status st = RAG_OK;
    while (ip->pos < ip->len) {
        char c = ip->s[ip->pos];
        if (nested && c == '}') {
            ip->pos++;
            ip->depth--;
            return RAG_OK;
        }
        if (c != '$' || ip->pos + 1 >= ip->len ||
            (ip->s[ip->pos + 1] != '$' && ip->s[ip->pos + 1] != '{')) {
            if ((st = out_append(ip, emit, &c, 1)) != RAG_OK)
                return st;
            ip->pos++;
            continue;
        }
        if (ip->s[ip->pos + 1] == '$') {
            if ((st = out_append(ip, emit, "$", 1)) != RAG_OK)
                return st;
            ip->pos += 2;
            continue;
        }
        /* ${NAME} or ${NAME:-default} */
        size_t start = ip->pos + 2, p = start;
        if (p >= ip->len || !is_name_start(ip->s[p])) {
            snprintf(ip->why, ip->why_n, "invalid variable reference at '%.*s' (expected ${NAME} or ${NAME:-default})",
                     (int)(ip->len - ip->pos > 20 ? 20 : ip->len - ip->pos), ip->s + ip->pos);
            return RAG_E_CONFIG;
        }
        while (p < ip->len && is_name_char(ip->s[p]))
            p++;
        size_t name_len = p - start;
        char name[256];
        if (name_len >= sizeof name) {
            snprintf(ip->why, ip->why_n, "variable name longer than %zu characters", sizeof name - 1);
            return RAG_E_CONFIG;
        }
        memcpy(name, ip->s + start, name_len);
        name[name_len] = '\0';
        const char *val = emit ? cfg_getenv(ip->env, name) : NULL;
        if (p < ip->len && ip->s[p] == '}') {
            ip->pos = p + 1;
            if (emit && !val) {
                snprintf(ip->why, ip->why_n, "environment variable %s is not set and has no default", name);
                return RAG_E_CONFIG;
            }
            if (val && (st = out_append(ip, emit, val, strlen(val))) != RAG_OK)
                return st;
            continue;
        }
        if (p + 1 < ip->len && ip->s[p] == ':' && ip->s[p + 1] == '-') {
            ip->pos = p + 2;
            bool use_default = !val || !*val;
            if (!use_default && (st = out_append(ip, emit, val, strlen(val))) != RAG_OK)
                return st;
            if ((st = expand(ip, true, emit && use_default)) != RAG_OK)
                return st;
            continue;
        }
        if (p >= ip->len)
            snprintf(ip->why, ip->why_n, "unterminated ${%s (missing '}')", name);
        else
            snprintf(ip->why, ip->why_n, "invalid variable reference '${%s%c' (expected ${NAME} or ${NAME:-default})",
                     name, ip->s[p]);
        return RAG_E_CONFIG;
    }
    if (nested) {
        snprintf(ip->why, ip->why_n, "unterminated ${...:-default} (missing '}')");
        return RAG_E_CONFIG;
    }
    ip->depth--;
    return RAG_OK;
}

rag_status cfg_interpolate(const char *in, size_t len, const cfg_env *env, char **out, size_t *out_len,
                           char *why, size_t why_n)
{
    *out = NULL;
    interp ip = {.s = in, .len = len, .env = env, .why = why, .why_n = why_n};
    rag_buf_init(&ip.out, RAG_CONFIG_MAX_VALUE);
    rag_status st = expand(&ip, false, true);
    if (st == RAG_OK && (st = rag_buf_append(&ip.out, "", 0)) != RAG_OK) /* ensure an allocation */
        snprintf(why, why_n, "out of memory");
    if (st != RAG_OK) {
        rag_buf_free(&ip.out);
        return st;
    }
    if (out_len)
        *out_len = ip.out.len;
    *out = rag_buf_steal(&ip.out);
    if (!*out) {
        snprintf(why, why_n, "out of memory");
        return RAG_E_NOMEM;
    }
    return RAG_OK;
}
