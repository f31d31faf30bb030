/* Helpers shared by the libFuzzer targets fuzz/fuzz_<module>_<what>.c (header-only; not a target).
 *
 * - FUZZ_CHECK(cond): an invariant of the code under test; a violation traps, which libFuzzer
 *   reports as a crash and saves the input.
 * - fuzz_rng: a splitmix64 generator seeded from the input bytes, so the "random" splits of a
 *   stream are a pure function of the input and every crash reproduces.
 * - fuzz_write_file: writes the input to one scratch file per process and extension, in
 *   /dev/shm when it exists (tmpfs: no disk I/O), else $TMPDIR or /tmp; removed at exit.
 *
 * Harness state (the scratch path) is process-wide on purpose: a fuzz target is a program, not
 * library code, and libFuzzer calls LLVMFuzzerTestOneInput from one thread.
 */
#ifndef RAGC_FUZZ_COMMON_H
#define RAGC_FUZZ_COMMON_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ragc/core.h"

#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            __builtin_trap();                                                                  \
        }                                                                                      \
    } while (0)

typedef struct fuzz_rng {
    uint64_t s;
} fuzz_rng;

static inline fuzz_rng fuzz_rng_from(const uint8_t *data, size_t size)
{
    fuzz_rng r = {rag_hash64(data, size) ^ 0x9E3779B97F4A7C15ull};
    return r;
}

static inline uint64_t fuzz_next(fuzz_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A chunk length in 1..max (max >= 1), biased towards short chunks so that splits land inside
 * terminators, UTF-8 sequences and delimiters. */
static inline size_t fuzz_chunk_len(fuzz_rng *r, size_t max)
{
    uint64_t v = fuzz_next(r);
    size_t lim = (v & 3) == 0 ? max : (v & 3) == 1 ? 16 : 4;
    if (lim > max)
        lim = max;
    return 1 + (size_t)((v >> 8) % lim);
}

/* Copies data[0..size) into a NUL-terminated allocation (caller frees with free()). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort(); /* harness only: out of memory in the fuzzer is not a finding */
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Verifies that s[0..n) is valid UTF-8. */
static inline int fuzz_utf8_ok(const char *s, size_t n)
{
    size_t bad = 0;
    return rag_utf8_valid(s, n, &bad);
}

static char fuzz_scratch_path_[256];

static void fuzz_scratch_cleanup_(void)
{
    if (fuzz_scratch_path_[0])
        unlink(fuzz_scratch_path_);
}

/* Writes data[0..size) to the process's scratch file "<dir>/ragc-fuzz-<pid><ext>" (ext like
 * ".pdf"; one extension per process) and returns its path (static buffer). */
static inline const char *fuzz_write_file(const char *ext, const uint8_t *data, size_t size)
{
    if (!fuzz_scratch_path_[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(fuzz_scratch_path_, sizeof fuzz_scratch_path_, "%s/ragc-fuzz-%ld%s",
                 dir && *dir ? dir : "/tmp", (long)getpid(), ext);
        atexit(fuzz_scratch_cleanup_);
    }
    int fd = open(fuzz_scratch_path_, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(fuzz_scratch_path_);
        abort(); /* harness failure, not a finding */
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) {
            perror(fuzz_scratch_path_);
            abort();
        }
        off += (size_t)w;
    }
    close(fd);
    return fuzz_scratch_path_;
}

/* Quiet logging: MuPDF warnings and skipped BEIR lines would flood stderr otherwise. */
static inline void fuzz_quiet_logs(void)
{
    setenv("RAGC_LOG", "error", 0);
}

#endif /* RAGC_FUZZ_COMMON_H */
