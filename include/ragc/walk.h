/* Walker: turns the paths given to `ragc ingest` into a sorted list of files to extract.
 *
 * Rules:
 * - A directory is walked recursively; entries whose name starts with '.' are skipped, symlinks
 *   to directories are not followed (no loops), symlinks to regular files are followed.
 * - A regular file is kept when its extension (case-insensitive) names a supported format:
 *   .pdf, .html/.htm/.xhtml, .md/.markdown, .txt/.text, .jsonl (BEIR corpus).
 *   Inside directories every other entry (unsupported extension, fifo, socket, device, directory
 *   symlink, unreadable subdirectory) is recorded in rag_file_list.ignored (never an error).
 * - A path given explicitly must exist (RAG_E_NOT_FOUND naming it) and, if it is a file, have a
 *   supported extension (RAG_E_UNSUPPORTED naming it and the supported extensions). Explicit paths
 *   are taken as given: they may be hidden or be symlinks to directories.
 * - The result is sorted by path (byte order, strcmp) with exact duplicates removed, so the same
 *   tree always yields the same list.
 */
#ifndef RAGC_WALK_H
#define RAGC_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Input formats ragc can extract. */
typedef enum rag_format {
    RAG_FORMAT_UNKNOWN = 0,
    RAG_FORMAT_PDF,      /* .pdf */
    RAG_FORMAT_HTML,     /* .html .htm .xhtml */
    RAG_FORMAT_MARKDOWN, /* .md .markdown */
    RAG_FORMAT_TEXT,     /* .txt .text */
    RAG_FORMAT_BEIR      /* .jsonl: BEIR corpus, one {"_id","title","text"} object per line */
} rag_format;

/* Human-readable list of the supported extensions, for error messages (static string). */
#define RAG_FORMAT_EXTENSIONS ".pdf, .html, .htm, .xhtml, .md, .markdown, .txt, .text, .jsonl"

/* Format for a path from its extension (case-insensitive); RAG_FORMAT_UNKNOWN if unsupported.
 * path: borrowed for the call. */
rag_format rag_format_from_path(const char *path);

/* Static name of a format: "pdf", "html", "markdown", "text", "beir"; "unknown" otherwise.
 * These are the strings stored in rag_document.format. Never NULL. */
const char *rag_format_name(rag_format f);

/* One file to ingest. */
typedef struct rag_file_entry {
    char *path;        /* owned by the list; the walked path (given prefix + "/" + names) */
    uint64_t size;     /* bytes */
    int64_t mtime;     /* modification time, seconds since the epoch */
    rag_format format; /* never RAG_FORMAT_UNKNOWN */
} rag_file_entry;

/* Result of a walk. Initialize with rag_file_list_init (or zero it); free with rag_file_list_clear. */
typedef struct rag_file_list {
    rag_file_entry *files; /* n_files entries sorted by path; owned by the list */
    size_t n_files;
    char **ignored;        /* n_ignored paths skipped inside directories, sorted; owned by the list */
    size_t n_ignored;
    size_t cap_files_;     /* private: allocated slots */
    size_t cap_ignored_;   /* private: allocated slots */
} rag_file_list;

void rag_file_list_init(rag_file_list *list);

/* Frees all paths and arrays and leaves *list empty and reusable. NULL is a no-op. */
void rag_file_list_clear(rag_file_list *list);

/* Walks paths[0..n) and adds the files found to *out, which must be initialized (entries already
 * in it take part in the sort and duplicate removal). paths: borrowed for the call.
 * On error *out is cleared (the caller may still call rag_file_list_clear).
 * Errors: RAG_E_NOT_FOUND (explicit path missing), RAG_E_UNSUPPORTED (explicit file of an
 * unsupported type, or not a regular file/directory), RAG_E_IO (explicit path unreadable),
 * RAG_E_BAD_INPUT (NULL or empty path), RAG_E_NOMEM. */
rag_status rag_walk(const char *const *paths, size_t n, rag_file_list *out, rag_err *err);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_WALK_H */
