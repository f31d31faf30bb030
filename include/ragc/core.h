/* ragc core: status codes, error records, bounded buffers, hashing, logging, time, UTF-8.
 *
 * Conventions used across ragc (see docs/architecture.md):
 * - Every fallible function returns rag_status (RAG_OK == 0) and takes an optional
 *   `rag_err *err` (may be NULL) that receives a one-line message naming the input and reason.
 * - Ownership of every pointer is stated: "caller frees with X", "borrowed, valid until Y",
 *   "takes ownership", "copies".
 * - Library code never calls exit() or abort() on a recoverable error.
 */
#ifndef RAGC_CORE_H
#define RAGC_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rag_status {
    RAG_OK = 0,
    RAG_E_NOMEM,        /* allocation failed */
    RAG_E_IO,           /* file system or socket error */
    RAG_E_BAD_INPUT,    /* malformed or unacceptable input (bad UTF-8, garbage PDF, bad JSON line) */
    RAG_E_TOO_LARGE,    /* input exceeds a configured cap */
    RAG_E_NOT_FOUND,    /* missing file, document, profile, key */
    RAG_E_CONFIG,       /* invalid configuration */
    RAG_E_ENCRYPTED,    /* document needs a password (or the given one is wrong) */
    RAG_E_UNSUPPORTED,  /* file type or feature not supported */
    RAG_E_EMPTY,        /* input has no usable content (empty file, image-only PDF) */
    RAG_E_STORE,        /* SQLite error */
    RAG_E_RATE_LIMITED, /* remote said 429 */
    RAG_E_TIMEOUT,      /* deadline passed */
    RAG_E_UPSTREAM,     /* remote 5xx / malformed response */
    RAG_E_AUTH,         /* 401/403 */
    RAG_E_BUDGET,       /* cost budget spent (or 402) */
    RAG_E_CIRCUIT_OPEN, /* circuit breaker refused the call */
    RAG_E_CANCELLED,    /* interrupted by the user or shutdown */
    RAG_E_INTERNAL      /* a bug: an invariant did not hold */
} rag_status;

/* Static string naming the status, e.g. "bad input". Never NULL. */
const char *rag_status_str(rag_status s);

/* Error record: the status plus a one-line human message. */
#define RAG_ERR_MSG_MAX 512
typedef struct rag_err {
    rag_status status;
    char msg[RAG_ERR_MSG_MAX];
} rag_err;

/* Sets *err (if err != NULL) to status + formatted message; returns status so callers can
 * `return rag_err_set(err, RAG_E_IO, "%s: %s", path, strerror(errno));`. */
rag_status rag_err_set(rag_err *err, rag_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with formatted context ("file.pdf: " + old). No-op if err NULL. */
void rag_err_prefix(rag_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rag_err_clear(rag_err *err);

/* ---- bounded growable buffer (bytes; always NUL-terminated when data != NULL) ---- */
typedef struct rag_buf {
    char *data;   /* owned; NULL until the first append */
    size_t len;   /* bytes used, excluding the terminating NUL */
    size_t cap;   /* bytes allocated */
    size_t max;   /* hard cap on len; appends beyond it fail with RAG_E_TOO_LARGE; 0 = SIZE_MAX/2 */
} rag_buf;

void rag_buf_init(rag_buf *b, size_t max);
rag_status rag_buf_append(rag_buf *b, const void *p, size_t n);
rag_status rag_buf_append_str(rag_buf *b, const char *s);
rag_status rag_buf_append_char(rag_buf *b, char c);
rag_status rag_buf_appendf(rag_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rag_buf_reset(rag_buf *b);                 /* len = 0, keeps memory */
/* Returns the data (caller frees with free()) and leaves b empty; returns an empty "" string
 * allocation if nothing was appended, or NULL on allocation failure. */
char *rag_buf_steal(rag_buf *b);
void rag_buf_free(rag_buf *b);

/* Reads a whole file into a NUL-terminated allocation (caller frees with free()).
 * Fails with RAG_E_TOO_LARGE if the file exceeds max_bytes, RAG_E_NOT_FOUND / RAG_E_IO otherwise. */
rag_status rag_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len, rag_err *err);

/* ---- hashing (xxHash XXH3) ---- */
uint64_t rag_hash64(const void *p, size_t n);
/* 128-bit content hash as 32 lowercase hex chars + NUL into out[33]. */
void rag_hash128_hex(const void *p, size_t n, char out[33]);

/* ---- logging to stderr; level from RAGC_LOG (error|warn|info|debug), default warn ---- */
typedef enum { RAG_LOG_ERROR = 0, RAG_LOG_WARN, RAG_LOG_INFO, RAG_LOG_DEBUG } rag_log_level;
void rag_log(rag_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool rag_log_enabled(rag_log_level level);

/* ---- time ---- */
double rag_now_ms(void);  /* monotonic clock in milliseconds */

/* ---- UTF-8 ---- */
/* Returns true if s[0..n) is valid UTF-8; otherwise false and *bad_offset = first bad byte offset. */
bool rag_utf8_valid(const char *s, size_t n, size_t *bad_offset);

/* strdup/strndup that return NULL on failure (same as libc, named for clarity). */
char *rag_strdup(const char *s);
char *rag_strndup(const char *s, size_t n);
/* mkdir -p of the directory part of path (nothing for a bare file name). Errors: RAG_E_IO naming
 * the directory that could not be made (or that is a file), RAG_E_NOMEM. */
rag_status rag_mkdir_parents(const char *path, rag_err *err);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_CORE_H */
