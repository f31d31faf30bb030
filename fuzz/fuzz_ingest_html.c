/* libFuzzer target: HTML extraction (gumbo -> visible text -> normalizer; ISO-8859-1 fallback
 * for non-UTF-8 files) through rag_extract_file on a scratch .html file. Invariants: see
 * fuzz_extract.h. One input in four runs with a 512-byte text cap. Suggested -max_len: 65536. */
#include "fuzz_extract.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cap = (rag_hash64(data, size) & 3) == 0 ? 512 : 0;
    fuzz_extract(".html", "html", data, size, NULL, cap);
    return 0;
}
