/* The configuration schema: one table row per key (path, type, offset, range, default). Unknown
 * keys, wrong types, out-of-range values, bad enums and bad backend types are all detected by the
 * same generic walk over the YAML tree. */
#include "config/config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum ftype {
    F_SECTION, /* mapping of further keys */
    F_INT,     /* int, range min..max */
    F_DOUBLE,  /* double, range min..max (max may be INFINITY) */
    F_BOOL,    /* bool */
    F_TRIBOOL, /* int: 1 true, 0 false, -1 unset */
    F_STRING,  /* char * owned; min == 1: must not be empty; else empty = NULL */
    F_ENUM,    /* int-sized enum; value = index in names */
    F_CHAIN,   /* rag_backend_config * at off, size_t count at off_n */
    F_STRLIST, /* char ** at off, size_t count at off_n */
    F_INFO     /* informational string, validated and not stored */
} ftype;

typedef struct cfg_field {
    const char *path;         /* dotted key path relative to the table's root */
    ftype type;
    size_t off, off_n;
    double min, max;
    const char *const *names; /* F_ENUM */
    const char *def;          /* default as YAML scalar text; F_CHAIN: comma-separated types */
    int stage;                /* F_CHAIN: rag_config_stage */
    int max_items;            /* F_CHAIN, F_STRLIST */
} cfg_field;

_Static_assert(sizeof(rag_config_stemmer) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(rag_config_stopwords) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(rag_config_fusion) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(rag_config_dense_precision) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(rag_log_level) == sizeof(int), "enum fields are stored as int");

static const char *const stemmer_names[] = {"porter", "english", "none", NULL};
static const char *const stopword_names[] = {"lucene", "none", NULL};
static const char *const fusion_names[] = {"rrf", "weighted", "bm25_only", "dense_only", NULL};
static const char *const dense_precision_names[] = {"f32", "int8", NULL};
static const char *const local_precision_names[] = {"f32", "int8", NULL}; /* rag_backend_config.precision */
static const char *const log_names[] = {"error", "warn", "info", "debug", NULL};

static const char *const embedder_types[] = {"none", "huggingface_api", "tei", "ollama", "local", NULL};
static const char *const reranker_types[] = {"huggingface_api", "tei", "local", NULL};
static const char *const generator_types[] = {"huggingface", "openai", "ollama", "extractive", NULL};
static const char *const *const stage_types[] = {embedder_types, reranker_types, generator_types};
static const char *const stage_names[] = {"embedder", "reranker", "generator"};

#define C(m) offsetof(rag_config, m)
#define SECTION(p) {.path = p, .type = F_SECTION}
#define INT(p, m, lo, hi, d) {.path = p, .type = F_INT, .off = C(m), .min = lo, .max = hi, .def = d}
#define DBL(p, m, lo, hi, d) {.path = p, .type = F_DOUBLE, .off = C(m), .min = lo, .max = hi, .def = d}
#define BOOL(p, m, d) {.path = p, .type = F_BOOL, .off = C(m), .def = d}
#define STR(p, m, nonempty, d) {.path = p, .type = F_STRING, .off = C(m), .min = nonempty, .def = d}
#define ENUM(p, m, n, d) {.path = p, .type = F_ENUM, .off = C(m), .names = n, .def = d}
#define CHAIN(p, sec, st, d) \
    {.path = p, .type = F_CHAIN, .off = C(sec.chain), .off_n = C(sec.n_chain), .stage = st, \
     .max_items = RAG_CONFIG_MAX_CHAIN, .def = d}

/* Order matters: it is the dump order, and a section precedes its keys. */
static const cfg_field main_fields[] = {
    {.path = "profile", .type = F_INFO},
    SECTION("document_processor"),
    INT("document_processor.chunk_size", document_processor.chunk_size, 16, 8192, "512"),
    INT("document_processor.chunk_overlap", document_processor.chunk_overlap, 0, 4096, "64"),
    INT("document_processor.max_file_mb", document_processor.max_file_mb, 1, 4096, "256"),
    INT("document_processor.max_text_mb", document_processor.max_text_mb, 1, 1024, "64"),
    SECTION("embedder"),
    CHAIN("embedder.chain", embedder, CFG_STAGE_EMBEDDER, "none"),
    SECTION("reranker"),
    CHAIN("reranker.chain", reranker, CFG_STAGE_RERANKER, ""),
    SECTION("retriever"),
    INT("retriever.top_k", retriever.top_k, 1, 1000, "5"),
    INT("retriever.candidates", retriever.candidates, 1, 10000, "100"),
    SECTION("retriever.bm25"),
    DBL("retriever.bm25.k1", retriever.bm25.k1, 0, 10, "0.9"),
    DBL("retriever.bm25.b", retriever.bm25.b, 0, 1, "0.4"),
    ENUM("retriever.bm25.stemmer", retriever.bm25.stemmer, stemmer_names, "porter"),
    ENUM("retriever.bm25.stopwords", retriever.bm25.stopwords, stopword_names, "lucene"),
    SECTION("retriever.fusion"),
    ENUM("retriever.fusion.method", retriever.fusion.method, fusion_names, "rrf"),
    INT("retriever.fusion.rrf_k", retriever.fusion.rrf_k, 1, 1000, "60"),
    DBL("retriever.fusion.dense_weight", retriever.fusion.dense_weight, 0, 1, "0.5"),
    SECTION("retriever.dense"),
    ENUM("retriever.dense.precision", retriever.dense.precision, dense_precision_names, "f32"),
    SECTION("retriever.neural_reranking"),
    BOOL("retriever.neural_reranking.enabled", retriever.neural_reranking.enabled, "false"),
    STR("retriever.neural_reranking.model", retriever.neural_reranking.model, 1,
        "cross-encoder/ms-marco-MiniLM-L6-v2"),
    INT("retriever.neural_reranking.max_candidates", retriever.neural_reranking.max_candidates, 1, 1000, "50"),
    INT("retriever.neural_reranking.batch_size", retriever.neural_reranking.batch_size, 1, 256, "16"),
    SECTION("answer_generator"),
    CHAIN("answer_generator.chain", answer_generator, CFG_STAGE_GENERATOR, "extractive"),
    INT("answer_generator.max_sentences", answer_generator.max_sentences, 1, 50, "4"),
    INT("answer_generator.context_tokens", answer_generator.context_tokens, 64, 131072, "3000"),
    INT("answer_generator.max_tokens", answer_generator.max_tokens, 1, 32768, "512"),
    DBL("answer_generator.temperature", answer_generator.temperature, 0, 2, "0.2"),
    BOOL("answer_generator.stream", answer_generator.stream, "false"),
    SECTION("cache"),
    BOOL("cache.enabled", cache.enabled, "true"),
    STR("cache.path", cache.path, 0, ""),
    INT("cache.max_mb", cache.max_mb, 1, 1048576, "512"),
    SECTION("global_settings"),
    STR("global_settings.data_dir", global_settings.data_dir, 1, "${RAGC_DATA_DIR:-.ragc}"),
    ENUM("global_settings.log_level", global_settings.log_level, log_names, "${RAGC_LOG:-warn}"),
    INT("global_settings.max_concurrent_requests", global_settings.max_concurrent_requests, 1, 256, "4"),
    INT("global_settings.request_timeout_ms", global_settings.request_timeout_ms, 100, 600000, "30000"),
    DBL("global_settings.monthly_budget_usd", global_settings.monthly_budget_usd, 0, INFINITY, "0"),
    DBL("global_settings.request_budget_usd", global_settings.request_budget_usd, 0, INFINITY, "0"),
    INT("global_settings.breaker_failures", global_settings.breaker_failures, 1, 1000, "5"),
    INT("global_settings.breaker_cooldown_ms", global_settings.breaker_cooldown_ms, 100, 3600000, "30000"),
};
#define N_MAIN (sizeof main_fields / sizeof main_fields[0])

#define B(m) offsetof(rag_backend_config, m)
static const cfg_field backend_fields[] = {
    {.path = "type", .type = F_STRING, .off = B(type), .min = 1},
    {.path = "model", .type = F_STRING, .off = B(model)},
    {.path = "base_url", .type = F_STRING, .off = B(base_url)},
    {.path = "api_key", .type = F_STRING, .off = B(api_key)},
    {.path = "timeout_ms", .type = F_INT, .off = B(timeout_ms), .min = 1, .max = 3600000},
    {.path = "max_retries", .type = F_INT, .off = B(max_retries), .min = 0, .max = 10},
    {.path = "batch_size", .type = F_INT, .off = B(batch_size), .min = 1, .max = 1024},
    {.path = "normalize", .type = F_TRIBOOL, .off = B(normalize)},
    {.path = "fallback_models", .type = F_STRLIST, .off = B(fallback_models), .off_n = B(n_fallback_models),
     .max_items = RAG_CONFIG_MAX_FALLBACKS},
    {.path = "max_tokens", .type = F_INT, .off = B(max_tokens), .min = 1, .max = 1048576},
    {.path = "temperature", .type = F_DOUBLE, .off = B(temperature), .min = 0, .max = 2},
    {.path = "num_ctx", .type = F_INT, .off = B(num_ctx), .min = 1, .max = 1048576},
    {.path = "price_input_per_mtok", .type = F_DOUBLE, .off = B(price_input_per_mtok), .min = 0, .max = INFINITY},
    {.path = "price_output_per_mtok", .type = F_DOUBLE, .off = B(price_output_per_mtok), .min = 0, .max = INFINITY},
    {.path = "price_per_call", .type = F_DOUBLE, .off = B(price_per_call), .min = 0, .max = INFINITY},
    {.path = "threads", .type = F_INT, .off = B(threads), .min = 0, .max = 256},
    {.path = "precision", .type = F_ENUM, .off = B(precision), .names = local_precision_names},
};
#define N_BACKEND (sizeof backend_fields / sizeof backend_fields[0])

const char *rag_config_stemmer_str(rag_config_stemmer s)
{
    return (unsigned)s < 3 ? stemmer_names[s] : "?";
}

const char *rag_config_stopwords_str(rag_config_stopwords s)
{
    return (unsigned)s < 2 ? stopword_names[s] : "?";
}

const char *rag_config_fusion_str(rag_config_fusion f)
{
    return (unsigned)f < 4 ? fusion_names[f] : "?";
}

const char *rag_config_dense_precision_str(rag_config_dense_precision p)
{
    return (unsigned)p < 2 ? dense_precision_names[p] : "?";
}

size_t cfg_schema_size(void)
{
    return N_MAIN;
}

bool cfg_backend_type_valid(cfg_stage stage, const char *type)
{
    if ((int)stage < 0 || (int)stage > CFG_STAGE_GENERATOR || !type)
        return false;
    for (const char *const *t = stage_types[stage]; *t; t++)
        if (!strcmp(*t, type))
            return true;
    return false;
}

/* ---- table helpers ---- */

static const cfg_field *find_field(const cfg_field *tab, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(tab[i].path, path))
            return &tab[i];
    return NULL;
}

/* Length of the parent prefix of path ("a.b.c" -> 3 for "a.b"; "a" -> 0). */
static size_t parent_len(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? (size_t)(dot - path) : 0;
}

static bool is_child_of(const cfg_field *f, const char *prefix)
{
    size_t pl = strlen(prefix);
    return parent_len(f->path) == pl && !strncmp(f->path, prefix, pl);
}

static const char *key_of(const cfg_field *f)
{
    const char *dot = strrchr(f->path, '.');
    return dot ? dot + 1 : f->path;
}

static void list_names(char *buf, size_t n, const char *const *names)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; names[i] && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", names[i]);
}

static void list_children(char *buf, size_t n, const cfg_field *tab, size_t nt, const char *prefix)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < nt && used < n; i++)
        if (is_child_of(&tab[i], prefix))
            used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "", key_of(&tab[i]));
}

static void describe(char *buf, size_t n, const cfg_node *v)
{
    if (v->kind == CFG_MAP)
        snprintf(buf, n, "a mapping");
    else if (v->kind == CFG_SEQ)
        snprintf(buf, n, "a list");
    else if (cfg_node_is_null(v))
        snprintf(buf, n, "an empty value");
    else
        snprintf(buf, n, "'%.60s%s'", v->str, v->len > 60 ? "..." : "");
}

static const char *expected(const cfg_field *f, char *buf, size_t n)
{
    switch (f->type) {
    case F_SECTION: return "a mapping";
    case F_INT: return "an integer";
    case F_DOUBLE: return "a number";
    case F_BOOL:
    case F_TRIBOOL: return "a boolean (true or false)";
    case F_STRING:
    case F_INFO: return "a string";
    case F_CHAIN: return "a list of backends";
    case F_STRLIST: return "a list of strings";
    case F_ENUM: {
        char names[256];
        list_names(names, sizeof names, f->names);
        snprintf(buf, n, "one of: %s", names);
        return buf;
    }
    }
    return "a value";
}

#define AT(a, line, disp) (a)->file, (line), (disp)

/* ---- scalar conversion ---- */

static void entry_init(rag_backend_config *e)
{
    memset(e, 0, sizeof *e);
    e->timeout_ms = e->max_retries = e->batch_size = e->normalize = CFG_UNSET;
    e->max_tokens = e->num_ctx = e->threads = e->precision = CFG_UNSET;
    e->temperature = e->price_input_per_mtok = e->price_output_per_mtok = e->price_per_call = CFG_UNSET;
}

rag_backend_config rag_backend_config_unset(const char *type, const char *model)
{
    rag_backend_config e;
    entry_init(&e);
    e.type = type;
    e.model = model;
    return e;
}

static void strlist_free(const char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((void *)v[i]);
    free((void *)v);
}

static void entry_free(rag_backend_config *e)
{
    free((void *)e->type);
    free((void *)e->model);
    free((void *)e->base_url);
    free((void *)e->api_key);
    strlist_free(e->fallback_models, e->n_fallback_models);
    entry_init(e);
}

static void chain_free(rag_backend_config *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        entry_free(&v[i]);
    free(v);
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "y"};
    static const char *const no[] = {"false", "no", "off", "n"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = true;
            return true;
        }
        if (!strcasecmp(s, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Converts the scalar text raw (already interpolated unless is_null) into the field at base.
 * Returns true if the field was set. */
static bool convert(cfg_apply *a, const cfg_field *f, void *base, const char *disp, int line,
                    const char *raw, bool is_null)
{
    char *p = (char *)base + f->off;
    char exp[300];
    char shown[80];
    snprintf(shown, sizeof shown, "%.60s%s", raw, strlen(raw) > 60 ? "..." : "");
    if (is_null && f->type != F_STRING && f->type != F_INFO) {
        cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: expected %s, got an empty value", AT(a, line, disp),
                     expected(f, exp, sizeof exp));
        return false;
    }
    switch (f->type) {
    case F_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(raw, &end, 10);
        if (!*raw || isspace((unsigned char)raw[0]) || *end) {
            cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: expected an integer, got '%s'", AT(a, line, disp), shown);
            return false;
        }
        if (errno == ERANGE || v < (long long)f->min || v > (long long)f->max) {
            cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: %s is out of range %lld..%lld", AT(a, line, disp), shown,
                         (long long)f->min, (long long)f->max);
            return false;
        }
        *(int *)p = (int)v;
        return true;
    }
    case F_DOUBLE: {
        char *end;
        double v = strtod(raw, &end);
        if (!*raw || isspace((unsigned char)raw[0]) || *end || !isfinite(v)) {
            cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: expected a number, got '%s'", AT(a, line, disp), shown);
            return false;
        }
        if (v < f->min || v > f->max) {
            if (isinf(f->max))
                cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: %s is out of range (must be >= %g)", AT(a, line, disp),
                             shown, f->min);
            else
                cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: %s is out of range %g..%g", AT(a, line, disp), shown,
                             f->min, f->max);
            return false;
        }
        *(double *)p = v;
        return true;
    }
    case F_BOOL:
    case F_TRIBOOL: {
        bool v;
        if (!parse_bool(raw, &v)) {
            cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: expected a boolean (true or false), got '%s'",
                         AT(a, line, disp), shown);
            return false;
        }
        if (f->type == F_BOOL)
            *(bool *)p = v;
        else
            *(int *)p = v ? 1 : 0;
        return true;
    }
    case F_ENUM:
        for (int i = 0; f->names[i]; i++) {
            if (!strcasecmp(f->names[i], raw)) { /* RAGC_LOG=WARN works as in the logger */
                *(int *)p = i;
                return true;
            }
        }
        list_names(exp, sizeof exp, f->names);
        cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: '%s' is not one of: %s", AT(a, line, disp), shown, exp);
        return false;
    case F_STRING: {
        const char **slot = (const char **)p;
        if (is_null || !*raw) {
            if (f->min >= 1) {
                cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: must not be empty", AT(a, line, disp));
                return false;
            }
            free((void *)*slot);
            *slot = NULL;
            return true;
        }
        size_t bad;
        if (!rag_utf8_valid(raw, strlen(raw), &bad)) {
            cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: value is not valid UTF-8 (byte %zu)", AT(a, line, disp), bad);
            return false;
        }
        char *s = rag_strdup(raw);
        if (!s) {
            cfg_diag_add(a->d, RAG_E_NOMEM, "%s:%d: %s: out of memory", AT(a, line, disp));
            return false;
        }
        free((void *)*slot);
        *slot = s;
        return true;
    }
    case F_INFO:
        return true;
    case F_SECTION:
    case F_CHAIN:
    case F_STRLIST:
        break;
    }
    cfg_diag_add(a->d, RAG_E_INTERNAL, "%s:%d: %s: not a scalar field", AT(a, line, disp));
    return false;
}

/* Interpolates a scalar node and converts it. */
static bool apply_scalar(cfg_apply *a, const cfg_field *f, void *base, const char *disp, const cfg_node *v)
{
    char exp[300], got[100];
    if (v->kind != CFG_SCALAR) {
        describe(got, sizeof got, v);
        cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: expected %s, got %s", AT(a, v->line, disp),
                     expected(f, exp, sizeof exp), got);
        return false;
    }
    if (cfg_node_is_null(v))
        return convert(a, f, base, disp, v->line, "", true);
    char *text = NULL;
    char why[RAG_ERR_MSG_MAX];
    rag_status st = cfg_interpolate(v->str, v->len, a->env, &text, NULL, why, sizeof why);
    if (st != RAG_OK) {
        cfg_diag_add(a->d, st, "%s:%d: %s: %s", AT(a, v->line, disp), why);
        return false;
    }
    bool ok = convert(a, f, base, disp, v->line, text, false);
    free(text);
    return ok;
}

static void apply_map(cfg_apply *a, const cfg_field *tab, size_t nt, void *base, const char *schema_prefix,
                      const char *disp_prefix, const cfg_node *map, bool main);

static bool apply_strlist(cfg_apply *a, const cfg_field *f, void *base, const char *disp, const cfg_node *v)
{
    char got[100];
    const char ***slot = (const char ***)((char *)base + f->off);
    size_t *count = (size_t *)((char *)base + f->off_n);
    if (cfg_node_is_null(v)) {
        strlist_free(*slot, *count);
        *slot = NULL;
        *count = 0;
        return true;
    }
    if (v->kind != CFG_SEQ) {
        describe(got, sizeof got, v);
        cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: expected a list of strings, got %s", AT(a, v->line, disp), got);
        return false;
    }
    if (v->n > (size_t)f->max_items) {
        cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: %zu entries, more than the limit of %d", AT(a, v->line, disp),
                     v->n, f->max_items);
        return false;
    }
    const char **list = v->n ? calloc(v->n, sizeof *list) : NULL;
    if (v->n && !list) {
        cfg_diag_add(a->d, RAG_E_NOMEM, "%s:%d: %s: out of memory", AT(a, v->line, disp));
        return false;
    }
    bool ok = true;
    cfg_field item = {.path = f->path, .type = F_STRING, .min = 1};
    for (size_t i = 0; i < v->n; i++) {
        char idisp[640];
        snprintf(idisp, sizeof idisp, "%s[%zu]", disp, i);
        ok &= apply_scalar(a, &item, &list[i], idisp, v->items[i]);
    }
    if (!ok) {
        strlist_free(list, v->n);
        return false;
    }
    strlist_free(*slot, *count);
    *slot = list;
    *count = v->n;
    return true;
}

static bool apply_chain(cfg_apply *a, const cfg_field *f, void *base, const char *disp, const cfg_node *v)
{
    char got[100];
    rag_backend_config **slot = (rag_backend_config **)((char *)base + f->off);
    size_t *count = (size_t *)((char *)base + f->off_n);
    size_t n = 0;
    if (!cfg_node_is_null(v)) {
        if (v->kind != CFG_SEQ) {
            describe(got, sizeof got, v);
            cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: expected a list of backends, got %s", AT(a, v->line, disp),
                         got);
            return false;
        }
        n = v->n;
    }
    if (n > (size_t)f->max_items) {
        cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: %zu entries, more than the limit of %d", AT(a, v->line, disp), n,
                     f->max_items);
        return false;
    }
    rag_backend_config *chain = n ? calloc(n, sizeof *chain) : NULL;
    if (n && !chain) {
        cfg_diag_add(a->d, RAG_E_NOMEM, "%s:%d: %s: out of memory", AT(a, v->line, disp));
        return false;
    }
    size_t errors_before = a->d->n;
    const char *const *allowed = stage_types[f->stage];
    for (size_t i = 0; i < n; i++) {
        entry_init(&chain[i]);
        const cfg_node *item = v->items[i];
        char idisp[640];
        snprintf(idisp, sizeof idisp, "%s[%zu]", disp, i);
        if (item->kind != CFG_MAP) {
            describe(got, sizeof got, item);
            cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: expected a mapping with a 'type' key, got %s",
                         AT(a, item->line, idisp), got);
            continue;
        }
        apply_map(a, backend_fields, N_BACKEND, &chain[i], "", idisp, item, false);
        int type_line = -1;
        for (size_t k = 0; k < item->n; k++)
            if (!strcmp(item->keys[k], "type"))
                type_line = item->items[k]->line;
        if (type_line < 0) {
            char names[256];
            list_names(names, sizeof names, allowed);
            cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: missing required key 'type' (one of: %s)",
                         AT(a, item->line, idisp), names);
        } else if (chain[i].type && !cfg_backend_type_valid((cfg_stage)f->stage, chain[i].type)) {
            char names[256], tdisp[700];
            list_names(names, sizeof names, allowed);
            snprintf(tdisp, sizeof tdisp, "%s.type", idisp);
            cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: '%.60s' is not a valid %s backend (allowed: %s)",
                         AT(a, type_line, tdisp), chain[i].type, stage_names[f->stage], names);
        }
    }
    /* Lists replace the whole list, even when an entry had errors (the load fails anyway). */
    chain_free(*slot, *count);
    *slot = chain;
    *count = n;
    return a->d->n == errors_before;
}

static void apply_field(cfg_apply *a, const cfg_field *tab, size_t nt, const cfg_field *f, void *base,
                        const char *disp, const cfg_node *v, bool main)
{
    bool ok;
    char got[100];
    switch (f->type) {
    case F_SECTION:
        if (cfg_node_is_null(v))
            return; /* "section:" with every key commented out */
        if (v->kind != CFG_MAP) {
            describe(got, sizeof got, v);
            cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: expected a mapping, got %s", AT(a, v->line, disp), got);
            return;
        }
        apply_map(a, tab, nt, base, f->path, disp, v, main);
        return;
    case F_CHAIN:
        ok = apply_chain(a, f, base, disp, v);
        break;
    case F_STRLIST:
        ok = apply_strlist(a, f, base, disp, v);
        break;
    default:
        ok = apply_scalar(a, f, base, disp, v);
        break;
    }
    if (ok && main && a->origins) {
        a->origins[f - tab].file = a->file;
        a->origins[f - tab].line = v->line;
    }
}

static void apply_map(cfg_apply *a, const cfg_field *tab, size_t nt, void *base, const char *schema_prefix,
                      const char *disp_prefix, const cfg_node *map, bool main)
{
    /* duplicate detection: known keys seen in this mapping and the line of their first use */
    const cfg_field *seen[64];
    int seen_line[64];
    size_t n_seen = 0;
    for (size_t i = 0; i < map->n; i++) {
        const char *key = map->keys[i];
        int kline = map->key_lines[i];
        char spath[256], disp[600];
        int sl = snprintf(spath, sizeof spath, "%s%s%s", schema_prefix, *schema_prefix ? "." : "", key);
        snprintf(disp, sizeof disp, "%s%s%.200s", disp_prefix, *disp_prefix ? "." : "", key);
        const cfg_field *f = sl > 0 && (size_t)sl < sizeof spath ? find_field(tab, nt, spath) : NULL;
        if (f && !is_child_of(f, schema_prefix))
            f = NULL; /* a key containing '.' must not reach into a nested section */
        if (!f) {
            char kids[512];
            list_children(kids, sizeof kids, tab, nt, schema_prefix);
            cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: unknown key (expected one of: %s)", AT(a, kline, disp), kids);
            continue;
        }
        size_t s;
        for (s = 0; s < n_seen && seen[s] != f; s++)
            ;
        if (s < n_seen) {
            cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: %s: duplicate key (first set on line %d)", AT(a, kline, disp),
                         seen_line[s]);
            continue;
        }
        if (n_seen < sizeof seen / sizeof seen[0]) {
            seen[n_seen] = f;
            seen_line[n_seen++] = kline;
        }
        apply_field(a, tab, nt, f, base, disp, map->items[i], main);
    }
}

void cfg_schema_apply(cfg_apply *a, const cfg_node *root)
{
    if (!root || cfg_node_is_null(root))
        return; /* empty file: changes nothing */
    if (root->kind != CFG_MAP) {
        char got[100];
        describe(got, sizeof got, root);
        cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: expected a mapping of sections at the top level, got %s", a->file,
                     root->line, got);
        return;
    }
    apply_map(a, main_fields, N_MAIN, a->c, "", "", root, true);
}

rag_status cfg_schema_defaults(cfg_apply *a)
{
    for (size_t i = 0; i < N_MAIN; i++) {
        const cfg_field *f = &main_fields[i];
        if (f->type == F_SECTION || f->type == F_INFO)
            continue;
        if (f->type == F_CHAIN) {
            size_t n = *f->def ? 1 : 0;
            rag_backend_config *chain = n ? calloc(1, sizeof *chain) : NULL;
            if (n) {
                if (!chain)
                    return RAG_E_NOMEM;
                entry_init(chain);
                if (!(chain->type = rag_strdup(f->def))) {
                    free(chain);
                    return RAG_E_NOMEM;
                }
            }
            rag_backend_config **slot = (rag_backend_config **)((char *)a->c + f->off);
            size_t *count = (size_t *)((char *)a->c + f->off_n);
            chain_free(*slot, *count);
            *slot = chain;
            *count = n;
        } else {
            char *text = NULL;
            char why[RAG_ERR_MSG_MAX];
            rag_status st = cfg_interpolate(f->def, strlen(f->def), a->env, &text, NULL, why, sizeof why);
            if (st != RAG_OK) {
                cfg_diag_add(a->d, st, "%s:0: %s: %s", a->file, f->path, why);
                continue;
            }
            convert(a, f, a->c, f->path, 0, text, false);
            free(text);
        }
        if (a->origins) {
            a->origins[i].file = a->file;
            a->origins[i].line = 0;
        }
    }
    return RAG_OK;
}

static cfg_origin origin_of(const cfg_apply *a, const char *path)
{
    const cfg_field *f = find_field(main_fields, N_MAIN, path);
    cfg_origin o = {"<defaults>", 0};
    if (f && a->origins && a->origins[f - main_fields].file)
        o = a->origins[f - main_fields];
    return o;
}

void cfg_schema_validate(cfg_apply *a)
{
    const rag_config *c = a->c;
    if (c->document_processor.chunk_overlap >= c->document_processor.chunk_size) {
        cfg_origin o = origin_of(a, "document_processor.chunk_overlap");
        cfg_diag_add(a->d, RAG_E_CONFIG,
                     "%s:%d: document_processor.chunk_overlap: %d must be less than document_processor.chunk_size (%d)",
                     o.file, o.line, c->document_processor.chunk_overlap, c->document_processor.chunk_size);
    }
    if (c->retriever.top_k > c->retriever.candidates) {
        cfg_origin o = origin_of(a, "retriever.top_k");
        cfg_diag_add(a->d, RAG_E_CONFIG, "%s:%d: retriever.top_k: %d must not exceed retriever.candidates (%d)",
                     o.file, o.line, c->retriever.top_k, c->retriever.candidates);
    }
}

void cfg_schema_free_fields(rag_config *c)
{
    for (size_t i = 0; i < N_MAIN; i++) {
        const cfg_field *f = &main_fields[i];
        char *p = (char *)c + f->off;
        if (f->type == F_STRING) {
            free((void *)*(const char **)p);
            *(const char **)p = NULL;
        } else if (f->type == F_CHAIN) {
            size_t *count = (size_t *)((char *)c + f->off_n);
            chain_free(*(rag_backend_config **)p, *count);
            *(rag_backend_config **)p = NULL;
            *count = 0;
        }
    }
}

/* ---- dump (libyaml emitter) ---- */
#include <yaml.h>

typedef struct dumper {
    yaml_emitter_t em;
    rag_buf *out;
    rag_status st;
} dumper;

static int dump_write(void *data, unsigned char *buf, size_t size)
{
    dumper *d = data;
    rag_status st = rag_buf_append(d->out, buf, size);
    if (st != RAG_OK) {
        d->st = st;
        return 0;
    }
    return 1;
}

static bool emit(dumper *d, yaml_event_t *ev, int init_ok)
{
    if (!init_ok) {
        d->st = RAG_E_NOMEM;
        return false;
    }
    if (!yaml_emitter_emit(&d->em, ev)) {
        if (d->st == RAG_OK)
            d->st = RAG_E_INTERNAL;
        return false;
    }
    return true;
}

static bool emit_scalar(dumper *d, const char *s, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    int ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, style);
    return emit(d, &ev, ok);
}

/* Strings are double-quoted with '$' doubled, so the dump loads back to the same value. */
static bool emit_string(dumper *d, const char *s)
{
    if (!s)
        return emit_scalar(d, "null", YAML_PLAIN_SCALAR_STYLE);
    rag_buf b;
    rag_buf_init(&b, 0);
    for (const char *p = s; *p; p++)
        if (rag_buf_append_char(&b, *p) != RAG_OK || (*p == '$' && rag_buf_append_char(&b, '$') != RAG_OK)) {
            rag_buf_free(&b);
            d->st = RAG_E_NOMEM;
            return false;
        }
    bool ok = emit_scalar(d, b.data ? b.data : "", YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    rag_buf_free(&b);
    return ok;
}

static void fmt_double(char *buf, size_t n, double v)
{
    if (v > -1e15 && v < 1e15 && v == (double)(long long)v) { /* integral: no exponent form */
        snprintf(buf, n, "%lld", (long long)v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static bool emit_start(dumper *d, bool map, bool flow)
{
    yaml_event_t ev;
    int ok = map ? yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                       flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE)
                 : yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                        flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
    return emit(d, &ev, ok);
}

static bool emit_end(dumper *d, bool map)
{
    yaml_event_t ev;
    int ok = map ? yaml_mapping_end_event_initialize(&ev) : yaml_sequence_end_event_initialize(&ev);
    return emit(d, &ev, ok);
}

static bool emit_strlist(dumper *d, const char *const *v, size_t n)
{
    bool ok = emit_start(d, false, n == 0);
    for (size_t i = 0; ok && i < n; i++)
        ok = emit_string(d, v[i]);
    return ok && emit_end(d, false);
}

static bool emit_entry(dumper *d, const rag_backend_config *e)
{
    if (!emit_start(d, true, false))
        return false;
    for (size_t i = 0; i < N_BACKEND; i++) {
        const cfg_field *f = &backend_fields[i];
        const char *p = (const char *)e + f->off;
        char num[64];
        bool ok = true;
        switch (f->type) {
        case F_STRING: {
            const char *s = *(const char *const *)p;
            if (!s)
                continue;
            ok = emit_scalar(d, f->path, YAML_PLAIN_SCALAR_STYLE) &&
                 emit_string(d, f->off == offsetof(rag_backend_config, api_key) && *s ? "***" : s);
            break;
        }
        case F_INT:
        case F_TRIBOOL:
        case F_ENUM: {
            int v = *(const int *)p;
            if (v == CFG_UNSET)
                continue;
            if (f->type == F_INT)
                snprintf(num, sizeof num, "%d", v);
            else if (f->type == F_ENUM)
                snprintf(num, sizeof num, "%s", f->names[v]);
            else
                snprintf(num, sizeof num, "%s", v ? "true" : "false");
            ok = emit_scalar(d, f->path, YAML_PLAIN_SCALAR_STYLE) && emit_scalar(d, num, YAML_PLAIN_SCALAR_STYLE);
            break;
        }
        case F_DOUBLE: {
            double v = *(const double *)p;
            if (v < 0)
                continue;
            fmt_double(num, sizeof num, v);
            ok = emit_scalar(d, f->path, YAML_PLAIN_SCALAR_STYLE) && emit_scalar(d, num, YAML_PLAIN_SCALAR_STYLE);
            break;
        }
        case F_STRLIST: {
            size_t n = *(const size_t *)((const char *)e + f->off_n);
            if (!n)
                continue;
            ok = emit_scalar(d, f->path, YAML_PLAIN_SCALAR_STYLE) &&
                 emit_strlist(d, *(const char *const *const *)p, n);
            break;
        }
        default:
            break;
        }
        if (!ok)
            return false;
    }
    return emit_end(d, true);
}

static bool emit_section(dumper *d, const rag_config *c, const char *prefix)
{
    if (!emit_start(d, true, false))
        return false;
    for (size_t i = 0; i < N_MAIN; i++) {
        const cfg_field *f = &main_fields[i];
        if (!is_child_of(f, prefix))
            continue;
        if (!emit_scalar(d, key_of(f), YAML_PLAIN_SCALAR_STYLE))
            return false;
        const char *p = (const char *)c + f->off;
        char num[64];
        bool ok = true;
        switch (f->type) {
        case F_SECTION: ok = emit_section(d, c, f->path); break;
        case F_INFO: ok = emit_string(d, c->profile); break;
        case F_INT:
            snprintf(num, sizeof num, "%d", *(const int *)p);
            ok = emit_scalar(d, num, YAML_PLAIN_SCALAR_STYLE);
            break;
        case F_DOUBLE:
            fmt_double(num, sizeof num, *(const double *)p);
            ok = emit_scalar(d, num, YAML_PLAIN_SCALAR_STYLE);
            break;
        case F_BOOL: ok = emit_scalar(d, *(const bool *)p ? "true" : "false", YAML_PLAIN_SCALAR_STYLE); break;
        case F_TRIBOOL: ok = emit_scalar(d, *(const int *)p ? "true" : "false", YAML_PLAIN_SCALAR_STYLE); break;
        case F_ENUM: ok = emit_scalar(d, f->names[*(const int *)p], YAML_PLAIN_SCALAR_STYLE); break;
        case F_STRING: ok = emit_string(d, *(const char *const *)p); break;
        case F_STRLIST:
            ok = emit_strlist(d, *(const char *const *const *)p, *(const size_t *)((const char *)c + f->off_n));
            break;
        case F_CHAIN: {
            const rag_backend_config *chain = *(rag_backend_config *const *)p;
            size_t n = *(const size_t *)((const char *)c + f->off_n);
            ok = emit_start(d, false, n == 0);
            for (size_t k = 0; ok && k < n; k++)
                ok = emit_entry(d, &chain[k]);
            ok = ok && emit_end(d, false);
            break;
        }
        }
        if (!ok)
            return false;
    }
    return emit_end(d, true);
}

rag_status cfg_schema_dump(const rag_config *c, rag_buf *out)
{
    dumper d = {.out = out, .st = RAG_OK};
    if (!yaml_emitter_initialize(&d.em))
        return RAG_E_NOMEM;
    yaml_emitter_set_output(&d.em, dump_write, &d);
    yaml_emitter_set_unicode(&d.em, 1);
    yaml_emitter_set_indent(&d.em, 2);
    yaml_emitter_set_width(&d.em, -1);
    yaml_event_t ev;
    bool ok = emit(&d, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING)) &&
              emit(&d, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1)) &&
              emit_section(&d, c, "") &&
              emit(&d, &ev, yaml_document_end_event_initialize(&ev, 1)) &&
              emit(&d, &ev, yaml_stream_end_event_initialize(&ev));
    if (ok && !yaml_emitter_flush(&d.em) && d.st == RAG_OK)
        d.st = RAG_E_INTERNAL;
    yaml_emitter_delete(&d.em);
    if (!ok && d.st == RAG_OK)
        d.st = RAG_E_INTERNAL;
    return d.st;
}
