/* Profile selection and lookup (embedded or RAGC_CONFIG_DIR), the overlay sequence
 * default.yaml -> profile -> user file, and error reporting. */
#include "config/config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const profile_names[] = {"default", "local", "hf_spaces", "railway", NULL};

rag_config_params rag_config_default_params(void)
{
    rag_config_params p;
    memset(&p, 0, sizeof p);
    return p;
}

const char *rag_config_profile_name(size_t i)
{
    return i < sizeof profile_names / sizeof profile_names[0] ? profile_names[i] : NULL;
}

static const char *env_nonempty(const cfg_env *env, const char *name)
{
    const char *v = cfg_getenv(env, name);
    return v && *v ? v : NULL;
}

const char *rag_config_detect_profile(const char *explicit_profile, rag_config_getenv_fn getenv_fn, void *ud)
{
    cfg_env env = {getenv_fn, ud};
    if (explicit_profile && *explicit_profile)
        return explicit_profile;
    const char *v = env_nonempty(&env, "RAGC_PROFILE");
    if (v)
        return v;
    if (env_nonempty(&env, "SPACE_ID"))
        return "hf_spaces";
    if (env_nonempty(&env, "RAILWAY_ENVIRONMENT"))
        return "railway";
    return "local";
}

/* One YAML source: name as used in messages, and its text. */
typedef struct source {
    char *name;       /* owned */
    char *text;       /* owned when own_text, else static embedded data */
    size_t len;
    bool own_text;
} source;

static void source_free(source *s)
{
    free(s->name);
    if (s->own_text)
        free(s->text);
    memset(s, 0, sizeof *s);
}

static bool valid_profile_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static const cfg_embedded_file *find_embedded(const char *name)
{
    for (size_t i = 0; i < rag_config_n_embedded_files; i++)
        if (!strcmp(rag_config_embedded_files[i].name, name))
            return &rag_config_embedded_files[i];
    return NULL;
}

static char *fmt_alloc(const char *fmt, const char *a, const char *b)
{
    int n = snprintf(NULL, 0, fmt, a, b);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s)
        snprintf(s, (size_t)n + 1, fmt, a, b);
    return s;
}

/* Finds profile `name`: <RAGC_CONFIG_DIR>/<name>.yaml when that file exists, else the embedded copy. */
static rag_status read_profile(const char *name, const cfg_env *env, source *src, rag_err *err)
{
    memset(src, 0, sizeof *src);
    const char *dir = env_nonempty(env, "RAGC_CONFIG_DIR");
    char known[128] = "";
    size_t used = 0;
    for (size_t i = 0; profile_names[i]; i++)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", profile_names[i]);
    if (!valid_profile_name(name))
        return rag_err_set(err, RAG_E_NOT_FOUND, "unknown profile '%.64s' (known: %s)", name, known);
    if (dir) {
        char *path = fmt_alloc("%s/%s.yaml", dir, name);
        if (!path)
            return rag_err_set(err, RAG_E_NOMEM, "out of memory");
        rag_status st = rag_read_file(path, RAG_CONFIG_MAX_INPUT, &src->text, &src->len, err);
        if (st == RAG_OK) {
            src->name = path;
            src->own_text = true;
            return RAG_OK;
        }
        if (st != RAG_E_NOT_FOUND) {
            free(path);
            return st; /* err names the file: too large, unreadable, a directory */
        }
        free(path);
        rag_err_clear(err); /* not in the directory: the embedded copy is used */
    }
    const cfg_embedded_file *e = find_embedded(name);
    if (!e) {
        if (dir)
            return rag_err_set(err, RAG_E_NOT_FOUND, "unknown profile '%s' (known: %s; no %s/%s.yaml either)", name,
                               known, dir, name);
        return rag_err_set(err, RAG_E_NOT_FOUND, "unknown profile '%s' (known: %s)", name, known);
    }
    src->name = fmt_alloc("<embedded>/%s%s", e->name, ".yaml");
    if (!src->name)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    src->text = (char *)e->data;
    src->len = e->len;
    src->own_text = false;
    return RAG_OK;
}

/* Builds the config from the schema defaults and the sources in order. The sources stay owned
 * by the caller; their names are joined into c->sources. */
static rag_status build(source *srcs, size_t n, const char *profile, const cfg_env *env, rag_buf *diagnostics,
                        rag_config **out, rag_err *err)
{
    *out = NULL;
    rag_config *c = calloc(1, sizeof *c);
    cfg_origin *origins = calloc(cfg_schema_size(), sizeof *origins);
    rag_buf names;
    rag_buf_init(&names, 0);
    rag_status st = c && origins ? rag_buf_append(&names, "", 0) : RAG_E_NOMEM;
    for (size_t i = 0; i < n && st == RAG_OK; i++)
        st = rag_buf_appendf(&names, "%s%s", i ? ", " : "", srcs[i].name);
    if (st == RAG_OK) {
        c->sources = rag_buf_steal(&names);
        c->profile = rag_strdup(profile);
        if (!c->sources || !c->profile)
            st = RAG_E_NOMEM;
    }
    if (st != RAG_OK) {
        rag_buf_free(&names);
        rag_config_free(c);
        free(origins);
        return rag_err_set(err, RAG_E_NOMEM, "out of memory loading the configuration");
    }
    cfg_diag d;
    cfg_diag_init(&d);
    cfg_apply a = {.c = c, .file = "<defaults>", .env = env, .d = &d, .origins = origins};
    st = cfg_schema_defaults(&a);
    if (st != RAG_OK)
        cfg_diag_add(&d, st, "out of memory loading the configuration");
    for (size_t i = 0; i < n && st == RAG_OK; i++) {
        a.file = srcs[i].name;
        cfg_node *root = NULL;
        if (cfg_parse(a.file, srcs[i].text, srcs[i].len, &root, &d) == RAG_OK)
            cfg_schema_apply(&a, root);
        cfg_node_free(root);
    }
    if (d.n == 0)
        cfg_schema_validate(&a); /* only on clean values: a failed key would give a spurious error */
    free(origins);
    if (d.n == 0) {
        cfg_diag_free(&d);
        *out = c;
        return RAG_OK;
    }
    if (diagnostics && d.lines.data)
        (void)rag_buf_append(diagnostics, d.lines.data, d.lines.len);
    if (d.n > 1)
        rag_err_set(err, d.first_status, "%s (and %zu more)", d.first, d.n - 1);
    else
        rag_err_set(err, d.first_status, "%s", d.first);
    st = d.first_status;
    cfg_diag_free(&d);
    rag_config_free(c);
    return st;
}

/* Resolves the profile and loads default (+ profile) (+ user source, if user != NULL).
 * env_profile: whether RAGC_PROFILE counts as an explicit choice when there is a user source. */
static rag_status load_with(const rag_config_params *p, const cfg_env *env, source *user, bool env_profile,
                            rag_config **out, rag_err *err)
{
    const char *explicit_profile = p->profile && *p->profile ? p->profile
                                   : env_profile                  ? env_nonempty(env, "RAGC_PROFILE")
                                                                  : NULL;
    const char *chosen = user ? (explicit_profile ? explicit_profile : "default")
                              : rag_config_detect_profile(p->profile, env->fn, env->ud);
    char *profile = rag_strdup(chosen); /* the environment's string is only borrowed */
    if (!profile)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    source srcs[3];
    size_t n = 0;
    rag_status st = read_profile("default", env, &srcs[n], err);
    if (st == RAG_OK)
        n++;
    if (st == RAG_OK && strcmp(profile, "default") != 0 && (st = read_profile(profile, env, &srcs[n], err)) == RAG_OK)
        n++;
    if (st == RAG_OK) {
        if (user)
            srcs[n++] = *user;
        st = build(srcs, n, profile, env, p->diagnostics, out, err);
        if (user)
            n--; /* the caller frees its own source */
    } else if (p->diagnostics && err) {
        (void)rag_buf_appendf(p->diagnostics, "%s\n", err->msg);
    }
    for (size_t i = 0; i < n; i++)
        source_free(&srcs[i]);
    free(profile);
    return st;
}

rag_status rag_config_load(const rag_config_params *params, rag_config **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "rag_config_load: out is NULL");
    *out = NULL;
    rag_config_params p = params ? *params : rag_config_default_params();
    cfg_env env = {p.getenv_fn, p.getenv_ud};
    const char *path = p.config_path && *p.config_path ? p.config_path : env_nonempty(&env, "RAGC_CONFIG");
    if (!path)
        return load_with(&p, &env, NULL, true, out, err);
    source user = {.own_text = true};
    if (!(user.name = rag_strdup(path)))
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    rag_status st = rag_read_file(user.name, RAG_CONFIG_MAX_INPUT, &user.text, &user.len, err);
    if (st == RAG_OK)
        st = load_with(&p, &env, &user, true, out, err);
    else if (p.diagnostics && err)
        (void)rag_buf_appendf(p.diagnostics, "%s\n", err->msg);
    source_free(&user);
    return st;
}

rag_status rag_config_load_string(const char *name, const char *yaml, const rag_config_params *params,
                                  rag_config **out, rag_err *err)
{
    if (!out)
        return rag_err_set(err, RAG_E_BAD_INPUT, "rag_config_load_string: out is NULL");
    *out = NULL;
    if (!name)
        name = "<string>";
    if (!yaml)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: no YAML text (NULL)", name);
    size_t len = strlen(yaml);
    if (len > RAG_CONFIG_MAX_INPUT)
        return rag_err_set(err, RAG_E_TOO_LARGE, "%s: larger than the %d-byte limit", name, RAG_CONFIG_MAX_INPUT);
    rag_config_params p = params ? *params : rag_config_default_params();
    cfg_env env = {p.getenv_fn, p.getenv_ud};
    source user = {.name = rag_strdup(name), .text = rag_strndup(yaml, len), .len = len, .own_text = true};
    rag_status st;
    if (!user.name || !user.text)
        st = rag_err_set(err, RAG_E_NOMEM, "out of memory");
    else
        st = load_with(&p, &env, &user, false, out, err);
    source_free(&user);
    return st;
}

rag_status cfg_load_schema_defaults(const cfg_env *env, rag_config **out, rag_err *err)
{
    return build(NULL, 0, "default", env, NULL, out, err);
}

void rag_config_free(rag_config *c)
{
    if (!c)
        return;
    cfg_schema_free_fields(c);
    free((void *)c->profile);
    free((void *)c->sources);
    free(c);
}

rag_status rag_config_dump(const rag_config *c, rag_buf *out)
{
    if (!c || !out)
        return RAG_E_BAD_INPUT;
    return cfg_schema_dump(c, out);
}
