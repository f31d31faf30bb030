/* libFuzzer target: the text normalizer (rag_normalize, include/ragc/normalize.h) on arbitrary
 * bytes (NULs included).
 * Input: byte 0 picks the output cap (none, or a small one so RAG_E_TOO_LARGE is reached); the
 * rest is the text.
 * Invariants: invalid UTF-8 -> RAG_E_BAD_INPUT naming the byte offset (and nothing else fails
 * on valid input except the cap); the output is valid UTF-8, NUL-terminated at len, within the
 * cap, has no surrounding whitespace and no '\n' outside "\n\n" paragraph breaks; normalizing
 * an output that is NFC gives the same text, and a third pass never changes anything. Suggested -max_len: 8192. */
#include "fuzz_extract.h"

#include <utf8proc.h>

#include "ragc/normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const size_t caps[4] = {0, 0, 0, 64};
    size_t cap = caps[data[0] & 3];
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    /* copy into an exact-size allocation so reads past the end are caught */
    char *copy = n ? malloc(n) : NULL;
    if (n)
        memcpy(copy, in, n);
    rag_buf out;
    rag_buf_init(&out, cap);
    rag_err err;
    rag_status st = rag_normalize(copy, n, &out, &err);
    size_t bad = 0;
    bool valid = rag_utf8_valid(in, n, &bad);
    if (!valid) {
        FUZZ_CHECK(st == RAG_E_BAD_INPUT && err.status == st && strstr(err.msg, "UTF-8"));
    } else if (st == RAG_E_TOO_LARGE) {
        FUZZ_CHECK(cap != 0);
    } else {
        if (st != RAG_OK)
            fprintf(stderr, "rag_normalize failed on valid UTF-8: %s\n", err.msg);
        FUZZ_CHECK(st == RAG_OK);
        FUZZ_CHECK(out.data && out.data[out.len] == '\0' && strlen(out.data) == out.len);
        FUZZ_CHECK(fuzz_utf8_ok(out.data, out.len));
        if (cap)
            FUZZ_CHECK(out.len <= cap);
        if (out.len)
            fuzz_check_normalized(out.data, out.len);
        /* Idempotence. Rule order is NFC first, then dropping controls/format characters and
         * joining lines, so a dropped character between a base letter and a combining mark
         * leaves output that is not NFC and a second pass composes it (documented order;
         * reported in docs/security.md). So: a second pass changes nothing when the first
         * output is NFC, and a third pass never changes anything. */
        rag_buf again, third;
        rag_buf_init(&again, 0);
        rag_buf_init(&third, 0);
        FUZZ_CHECK(rag_normalize(out.data, out.len, &again, &err) == RAG_OK);
        FUZZ_CHECK(rag_normalize(again.data, again.len, &third, &err) == RAG_OK);
        FUZZ_CHECK(again.len == third.len && memcmp(again.data, third.data, again.len) == 0);
        utf8proc_uint8_t *nfc = utf8proc_NFC((const utf8proc_uint8_t *)out.data);
        FUZZ_CHECK(nfc != NULL);
        if (!strcmp((const char *)nfc, out.data)) {
            if (again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
                fprintf(stderr, "not idempotent:\n1: [%s]\n2: [%s]\n", out.data, again.data);
            FUZZ_CHECK(again.len == out.len && memcmp(again.data, out.data, out.len) == 0);
        }
        free(nfc);
        rag_buf_free(&again);
        rag_buf_free(&third);
    }
    rag_buf_free(&out);
    free(copy);
    return 0;
}
