/* libFuzzer target: tokenizer.json loading (rag_tokenizer_load, src/local/tokenizer.c) on
 * arbitrary bytes, the whole input being the file (written to a ".json" scratch file), then
 * encoding with whatever loaded.
 *
 * Invariants: a failure names the file; a loaded tokenizer encodes "" as [CLS] [SEP] with ids
 * inside the vocabulary (pad too), and fixed texts plus the input's own first bytes (whose
 * tokens are likely in its vocabulary) satisfy the encoding contract of fuzz_tokenizer_common.h
 * (ids < vocab size, [CLS]/[SEP] placement, truncation as a prefix, pair layout and
 * longest_first truncation). Suggested -max_len: 32768 (seeds: a cut-down tokenizer.json; the
 * real ones under $RAGC_SHARED_DIR/data/fixtures/hf are cut to -max_len).
 */
#include "fuzz_tokenizer_common.h"

static const char *const k_texts[] = {
    "Hello, world! The pump must be primed before use.",
    "na\xc3\xafve caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac [CLS] [SEP] [UNK] ##ing un-ambiguous\t\x01 end",
    "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(".json", data, size);
    rag_tokenizer *t = NULL;
    rag_err err;
    rag_status st = rag_tokenizer_load(path, &t, &err);
    if (st != RAG_OK) {
        FUZZ_CHECK(t == NULL && err.status == st && strstr(err.msg, path));
        return 0;
    }
    FUZZ_CHECK(t != NULL && rag_tokenizer_vocab_size(t) > 0);
    fuzz_tok ft = fuzz_tok_init(t);
    size_t max_len = 2 + size % 40;
    for (size_t i = 0; i < sizeof k_texts / sizeof k_texts[0]; i++)
        FUZZ_CHECK(fuzz_tok_single(&ft, k_texts[i], strlen(k_texts[i]), max_len) == RAG_OK);
    size_t n = size < 512 ? size : 512;
    (void)fuzz_tok_single(&ft, (const char *)data, n, max_len);
    fuzz_tok_pair(&ft, k_texts[0], strlen(k_texts[0]), k_texts[1], strlen(k_texts[1]), 3 + size % 20);
    fuzz_tok_pair(&ft, (const char *)data, n / 2, (const char *)data + n / 2, n - n / 2, 0);
    rag_tokenizer_free(t);
    return 0;
}
