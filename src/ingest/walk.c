/* Walker: paths -> sorted list of supported files (rules in include/ragc/walk.h). */
#include "ragc/walk.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Directory nesting below an explicit path beyond which subdirectories are ignored (with a
 * warning): bounds recursion depth for pathological trees. */
#define WALK_MAX_DEPTH 128

static const struct {
    const char *ext;
    rag_format format;
} ext_table[] = {
    {"pdf", RAG_FORMAT_PDF},       {"html", RAG_FORMAT_HTML},     {"htm", RAG_FORMAT_HTML},
    {"xhtml", RAG_FORMAT_HTML},    {"md", RAG_FORMAT_MARKDOWN},   {"markdown", RAG_FORMAT_MARKDOWN},
    {"txt", RAG_FORMAT_TEXT},      {"text", RAG_FORMAT_TEXT},     {"jsonl", RAG_FORMAT_BEIR},
};

rag_format rag_format_from_path(const char *path)
{
    if (!path)
        return RAG_FORMAT_UNKNOWN;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) /* no extension, or a dot file such as ".md" */
        return RAG_FORMAT_UNKNOWN;
    for (size_t i = 0; i < sizeof ext_table / sizeof ext_table[0]; i++)
        if (!strcasecmp(dot + 1, ext_table[i].ext))
            return ext_table[i].format;
    return RAG_FORMAT_UNKNOWN;
}

const char *rag_format_name(rag_format f)
{
    switch (f) {
    case RAG_FORMAT_PDF: return "pdf";
    case RAG_FORMAT_HTML: return "html";
    case RAG_FORMAT_MARKDOWN: return "markdown";
    case RAG_FORMAT_TEXT: return "text";
    case RAG_FORMAT_BEIR: return "beir";
    case RAG_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}

void rag_file_list_init(rag_file_list *list)
{
    memset(list, 0, sizeof *list);
}

void rag_file_list_clear(rag_file_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n_files; i++)
        free(list->files[i].path);
    for (size_t i = 0; i < list->n_ignored; i++)
        free(list->ignored[i]);
    free(list->files);
    free(list->ignored);
    rag_file_list_init(list);
}

/* Appends a file entry; takes ownership of path (freed on failure). */
static rag_status add_file(rag_file_list *l, char *path, const struct stat *st, rag_format f)
{
    if (l->n_files == l->cap_files_) {
        size_t cap = l->cap_files_ ? l->cap_files_ * 2 : 64;
        rag_file_entry *p = realloc(l->files, cap * sizeof *p);
        if (!p) {
            free(path);
            return RAG_E_NOMEM;
        }
        l->files = p;
        l->cap_files_ = cap;
    }
    l->files[l->n_files++] = (rag_file_entry){
        .path = path, .size = (uint64_t)st->st_size, .mtime = (int64_t)st->st_mtim.tv_sec, .format = f};
    return RAG_OK;
}

/* Appends an ignored path; takes ownership of path (freed on failure). */
static rag_status add_ignored(rag_file_list *l, char *path)
{
    if (l->n_ignored == l->cap_ignored_) {
        size_t cap = l->cap_ignored_ ? l->cap_ignored_ * 2 : 16;
        char **p = realloc(l->ignored, cap * sizeof *p);
        if (!p) {
            free(path);
            return RAG_E_NOMEM;
        }
        l->ignored = p;
        l->cap_ignored_ = cap;
    }
    l->ignored[l->n_ignored++] = path;
    return RAG_OK;
}

static char *join_path(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    bool slash = dl > 0 && dir[dl - 1] == '/';
    char *p = malloc(dl + nl + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    size_t o = dl;
    if (!slash)
        p[o++] = '/';
    memcpy(p + o, name, nl + 1);
    return p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const rag_file_entry *)a)->path, ((const rag_file_entry *)b)->path);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Reads the non-hidden names in dir, sorted. *names: caller frees with free_names. */
static rag_status read_names(const char *dir, char ***names, size_t *n_names, int *err_no)
{
    *names = NULL;
    *n_names = 0;
    DIR *d = opendir(dir);
    if (!d) {
        *err_no = errno;
        return RAG_E_IO;
    }
    size_t n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    rag_status st = RAG_OK;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') /* hidden, ".", ".." */
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **p = realloc(v, cap * sizeof *p);
            if (!p) {
                st = RAG_E_NOMEM;
                break;
            }
            v = p;
        }
        if (!(v[n] = strdup(e->d_name))) {
            st = RAG_E_NOMEM;
            break;
        }
        n++;
        errno = 0;
    }
    if (st == RAG_OK && errno != 0) {
        *err_no = errno;
        st = RAG_E_IO;
    }
    closedir(d);
    if (st != RAG_OK) {
        free_names(v, n);
        return st;
    }
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_str);
    *names = v;
    *n_names = n;
    return RAG_OK;
}

static rag_status walk_dir(rag_file_list *l, const char *dir, int depth, rag_err *err)
{
    char **names;
    size_t n_names;
    int e = 0;
    rag_status st = read_names(dir, &names, &n_names, &e);
    if (st == RAG_E_NOMEM)
        return rag_err_set(err, st, "%s: out of memory while listing the directory", dir);
    if (st != RAG_OK) {
        if (depth == 0)
            return rag_err_set(err, st, "%s: cannot read directory: %s", dir, strerror(e));
        rag_log(RAG_LOG_WARN, "%s: cannot read directory: %s (ignored)", dir, strerror(e));
        char *copy = strdup(dir);
        if (!copy || add_ignored(l, copy) != RAG_OK)
            return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", dir);
        return RAG_OK;
    }
    for (size_t i = 0; i < n_names && st == RAG_OK; i++) {
        char *path = join_path(dir, names[i]);
        if (!path) {
            st = rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", dir);
            break;
        }
        struct stat sb;
        if (lstat(path, &sb) != 0) { /* vanished since readdir */
            st = add_ignored(l, path);
            continue;
        }
        if (S_ISLNK(sb.st_mode)) {
            /* Follow links to files only: a linked directory could form a loop. */
            if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
                st = add_ignored(l, path);
                continue;
            }
        }
        if (S_ISDIR(sb.st_mode)) {
            if (depth + 1 > WALK_MAX_DEPTH) {
                rag_log(RAG_LOG_WARN, "%s: nested deeper than %d directories (ignored)", path,
                        WALK_MAX_DEPTH);
                st = add_ignored(l, path);
                continue;
            }
            st = walk_dir(l, path, depth + 1, err);
            free(path);
            continue;
        }
        rag_format f = S_ISREG(sb.st_mode) ? rag_format_from_path(path) : RAG_FORMAT_UNKNOWN;
        st = f == RAG_FORMAT_UNKNOWN ? add_ignored(l, path) : add_file(l, path, &sb, f);
    }
    free_names(names, n_names);
    if (st == RAG_E_NOMEM)
        rag_err_set(err, st, "%s: out of memory", dir);
    return st;
}

static rag_status walk_one(rag_file_list *l, const char *path, rag_err *err)
{
    if (!path || !*path)
        return rag_err_set(err, RAG_E_BAD_INPUT, "empty path given to the walker");
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return rag_err_set(err, RAG_E_NOT_FOUND, "%s: no such file or directory", path);
        return rag_err_set(err, RAG_E_IO, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode))
        return walk_dir(l, path, 0, err);
    if (!S_ISREG(sb.st_mode))
        return rag_err_set(err, RAG_E_UNSUPPORTED, "%s: not a regular file or directory", path);
    rag_format f = rag_format_from_path(path);
    if (f == RAG_FORMAT_UNKNOWN)
        return rag_err_set(err, RAG_E_UNSUPPORTED,
                           "%s: unsupported file type (supported extensions: %s)", path,
                           RAG_FORMAT_EXTENSIONS);
    char *copy = strdup(path);
    if (!copy || add_file(l, copy, &sb, f) != RAG_OK)
        return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", path);
    return RAG_OK;
}

rag_status rag_walk(const char *const *paths, size_t n, rag_file_list *out, rag_err *err)
{
    if (n && !paths) {
        rag_file_list_clear(out);
        return rag_err_set(err, RAG_E_BAD_INPUT, "NULL path array given to the walker");
    }
    for (size_t i = 0; i < n; i++) {
        rag_status st = walk_one(out, paths[i], err);
        if (st != RAG_OK) {
            rag_file_list_clear(out);
            return st;
        }
    }
    if (out->n_files > 1) {
        qsort(out->files, out->n_files, sizeof *out->files, cmp_entry);
        size_t w = 1;
        for (size_t r = 1; r < out->n_files; r++) {
            if (!strcmp(out->files[r].path, out->files[w - 1].path))
                free(out->files[r].path);
            else
                out->files[w++] = out->files[r];
        }
        out->n_files = w;
    }
    if (out->n_ignored > 1) {
        qsort(out->ignored, out->n_ignored, sizeof *out->ignored, cmp_str);
        size_t w = 1;
        for (size_t r = 1; r < out->n_ignored; r++) {
            if (!strcmp(out->ignored[r], out->ignored[w - 1]))
                free(out->ignored[r]);
            else
                out->ignored[w++] = out->ignored[r];
        }
        out->n_ignored = w;
    }
    return RAG_OK;
}
