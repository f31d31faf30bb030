/* Hashing, logging, time and UTF-8 validation. */
#include "ragc/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

uint64_t rag_hash64(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

void rag_hash128_hex(const void *p, size_t n, char out[33])
{
    XXH128_hash_t h = XXH3_128bits(p, n);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}

static rag_log_level log_threshold(void)
{
    const char *s = getenv("RAGC_LOG");
    if (!s || !*s)
        return RAG_LOG_WARN;
    if (!strcasecmp(s, "error"))
        return RAG_LOG_ERROR;
    if (!strcasecmp(s, "info"))
        return RAG_LOG_INFO;
    if (!strcasecmp(s, "debug"))
        return RAG_LOG_DEBUG;
    return RAG_LOG_WARN;
}

bool rag_log_enabled(rag_log_level level)
{
    return level <= log_threshold();
}

void rag_log(rag_log_level level, const char *fmt, ...)
{
    if (!rag_log_enabled(level))
        return;
    static const char *names[] = {"error", "warn", "info", "debug"};
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ragc: %s: %s\n", names[level], line);
}

double rag_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

bool rag_utf8_valid(const char *s, size_t n, size_t *bad_offset)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2; min = 0x80; c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3; min = 0x800; c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4; min = 0x10000; c &= 0x07;
        } else {
            goto bad;
        }
        if (n - i < len)
            goto bad;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                goto bad;
            c = (c << 6) | (p[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            goto bad;
        i += len;
    }
    return true;
bad:
    if (bad_offset)
        *bad_offset = i;
    return false;
}

/* mkdir -p of the directory part of path. */
rag_status rag_mkdir_parents(const char *path, rag_err *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return RAG_OK;
    char *dir = rag_strndup(path, (size_t)(slash - path));
    if (!dir)
        return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", path);
    rag_status rs = RAG_OK;
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            rs = rag_err_set(err, RAG_E_IO, "%s: cannot create directory %s: %s", path, dir,
                             strerror(errno));
            break;
        }
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rs = rag_err_set(err, RAG_E_IO, "%s: %s exists and is not a directory", path, dir);
            break;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(dir);
    return rs;
}
