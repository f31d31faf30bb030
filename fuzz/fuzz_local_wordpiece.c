/* libFuzzer target: WordPiece tokenization (rag_tokenizer_encode / _encode_pair,
 * src/local/tokenizer.c) of arbitrary bytes, valid or invalid UTF-8, with the real
 * sentence-transformers/all-MiniLM-L6-v2 tokenizer loaded once at startup from
 * $RAGC_SHARED_DIR/data/fixtures/hf (default: ../shared next to the repository).
 *
 * Input: byte 0 = max_len code (0-1: no limit, else the value: 2..255), byte 1 = where the
 * (query, passage) pair is split (x/256 of the rest); the rest is the text.
 * Invariants: text that is not valid UTF-8 fails with RAG_E_BAD_INPUT naming the first bad byte;
 * valid text satisfies the contract of fuzz_tokenizer_common.h: ids < vocab size, [CLS] first,
 * [SEP] last, len <= max_len, truncation keeps a prefix; the pair (query, passage) has type ids
 * 0 then 1, each side a prefix of its own encoding, longest_first truncation.
 * Suggested -max_len: 8192.
 */
#include "fuzz_tokenizer_common.h"

#include <stdio.h>

static rag_tokenizer *g_tok; /* harness state: loaded once, freed at exit by the OS */
static fuzz_tok g_ft;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[4096];
    const char *shared = getenv("RAGC_SHARED_DIR");
    if (shared && *shared) {
        snprintf(dir, sizeof dir, "%s", shared);
    } else { /* <repo>/fuzz/fuzz_local_wordpiece.c -> <repo>/../shared */
        snprintf(dir, sizeof dir, "%s", __FILE__);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/../../shared");
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/data/fixtures/hf/sentence-transformers/all-MiniLM-L6-v2", dir);
    rag_err err;
    if (rag_tokenizer_load(path, &g_tok, &err) != RAG_OK) {
        fprintf(stderr, "fuzz_local_wordpiece: cannot load the tokenizer (set RAGC_SHARED_DIR): %s\n", err.msg);
        exit(1); /* harness failure, not a finding */
    }
    g_ft = fuzz_tok_init(g_tok);
    FUZZ_CHECK(rag_tokenizer_vocab_size(g_tok) == 30522);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_len = data[0] < 2 ? 0 : data[0];
    const char *text = (const char *)data + 2;
    size_t n = size - 2, split = (size_t)data[1] * n / 256;

    size_t bad = 0;
    bool valid = rag_utf8_valid(text, n, &bad);
    rag_status st = fuzz_tok_single(&g_ft, text, n, max_len);
    if (!valid) {
        rag_encoding e = {0};
        rag_err err;
        FUZZ_CHECK(st == RAG_E_BAD_INPUT);
        FUZZ_CHECK(rag_tokenizer_encode(g_tok, text, n, max_len, &e, &err) == RAG_E_BAD_INPUT);
        char want[64];
        snprintf(want, sizeof want, "invalid UTF-8 at byte %zu", bad);
        FUZZ_CHECK(strstr(err.msg, want) != NULL);
    } else {
        FUZZ_CHECK(st == RAG_OK);
    }
    /* (query, passage) as the cross-encoder sees it */
    fuzz_tok_pair(&g_ft, text, split, text + split, n - split, max_len >= 3 ? max_len : 0);
    return 0;
}
