/* libFuzzer target: BEIR corpus lines (rag_extract_file on a scratch .jsonl file: one document
 * per valid {"_id","title","text"} line, bad lines skipped with a message naming the line).
 * Invariants: see fuzz_extract.h, plus every skip report names "<path>:<line>" and carries a
 * non-OK status. One input in four runs with a 256-byte text cap. Suggested -max_len: 16384. */
#include "fuzz_extract.h"

typedef struct skip_job {
    fuzz_extract_job ex;
    size_t skips;
} skip_job;

static void on_skip(void *ud, const char *source, const rag_err *why)
{
    skip_job *s = ud;
    size_t plen = strlen(s->ex.path);
    FUZZ_CHECK(!strncmp(source, s->ex.path, plen) && source[plen] == ':');
    FUZZ_CHECK(why->status != RAG_OK && !strncmp(why->msg, source, strlen(source)));
    s->skips++;
}

static rag_status on_doc(void *ud, rag_document *doc, rag_err *err)
{
    return fuzz_extract_cb(&((skip_job *)ud)->ex, doc, err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(".jsonl", data, size);
    rag_extract_params p = rag_extract_default_params();
    if ((rag_hash64(data, size) & 3) == 0)
        p.max_text_bytes = 256;
    p.on_skip = on_skip;
    skip_job s = {.ex = {.path = path, .format = "beir", .max_text = p.max_text_bytes}};
    p.ud = &s;
    rag_err err;
    rag_status st = rag_extract_file(path, &p, on_doc, &s, &err);
    if (st != RAG_OK)
        FUZZ_CHECK(err.status == st && !strncmp(err.msg, path, strlen(path)));
    else
        FUZZ_CHECK(s.ex.docs >= 1);
    FUZZ_CHECK(st != RAG_E_INTERNAL);
    return 0;
}
