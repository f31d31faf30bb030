/* libFuzzer target: Markdown and plain-text extraction through rag_extract_file on a scratch
 * .md or .txt file (input hash picks which; invalid UTF-8 must be rejected with a message, never
 * crash). Invariants: see fuzz_extract.h. One input in four runs with a 512-byte text cap.
 * Suggested -max_len: 16384. */
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
    uint64_t h = rag_hash64(data, size);
    size_t cap = (h & 3) == 0 ? 512 : 0;
    /* the scratch file keeps one extension per process: text goes through a second name */
    if ((h >> 2) & 7) {
        fuzz_extract(".md", "markdown", data, size, NULL, cap);
    } else {
        /* plain text: same dispatcher, different extractor; written next to the .md file */
        static char txt[300];
        if (!txt[0]) {
            const uint8_t one = 'x';
            snprintf(txt, sizeof txt, "%s.txt", fuzz_write_file(".md", &one, 1));
        }
        FILE *f = fopen(txt, "wb");
        FUZZ_CHECK(f != NULL);
        FUZZ_CHECK(fwrite(data, 1, size, f) == size);
        fclose(f);
        rag_extract_params p = rag_extract_default_params();
        if (cap)
            p.max_text_bytes = cap;
        fuzz_extract_job j = {.path = txt, .format = "text", .max_text = p.max_text_bytes};
        rag_err err;
        rag_status st = rag_extract_file(txt, &p, fuzz_extract_cb, &j, &err);
        if (st != RAG_OK)
            FUZZ_CHECK(err.status == st && !strncmp(err.msg, txt, strlen(txt)));
        unlink(txt);
    }
    return 0;
}
