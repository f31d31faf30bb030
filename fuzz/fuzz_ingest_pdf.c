/* libFuzzer target: PDF extraction (MuPDF -> pages -> normalizer) through rag_extract_file on a
 * scratch .pdf file. Invariants: see fuzz_extract.h. The password "openpassword" is always
 * offered (the encrypted sample in shared/data/pdf-samples uses it), so the decryption path is
 * fuzzed too; one input in four runs with a 2 KiB text cap to reach the max_text_bytes checks.
 * Suggested -max_len: 65536 (seeds are real PDFs up to ~80 KB; longer ones are cut). */
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
    size_t cap = (rag_hash64(data, size) & 3) == 0 ? 2048 : 0;
    fuzz_extract(".pdf", "pdf", data, size, "openpassword", cap);
    return 0;
}
