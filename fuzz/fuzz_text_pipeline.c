/* libFuzzer target: the BM25 analyzer, the sentence splitter and the chunker on arbitrary bytes
 * (include/ragc/analyzer.h, sentence.h, chunker.h).
 *
 * Input: byte 0 = chunk_size selector, byte 1 = overlap selector, byte 2 = analyzer settings;
 * the rest is the text. For the chunker the text is cut into pages at '\f' (at most 8 pages) and
 * NUL bytes become spaces (page text is a C string).
 * Invariants:
 * - analyzer: every term is non-empty valid UTF-8, NUL-terminated at len; term_freqs are
 *   strictly sorted, tf >= 1, sum(tf) == doc_len == the number of terms rag_analyzer_run emits;
 * - sentences: spans in order, non-empty, non-overlapping, inside the text, no surrounding
 *   ASCII whitespace;
 * - chunker: invalid UTF-8 in a page -> RAG_E_BAD_INPUT naming the page; otherwise every chunk
 *   is valid UTF-8, n_tokens == rag_token_estimate(text) <= chunk_size, its byte range lies in
 *   the virtual text (pages joined by "\n\n") with byte_end strictly increasing, page_start <=
 *   page_end, page marks strictly increasing inside the text, and its text holds exactly the
 *   non-whitespace code points of its virtual-text range (only whitespace is normalized).
 * Suggested -max_len: 8192. */
#include "fuzz_common.h"

#include <utf8proc.h>

#include "ragc/analyzer.h"
#include "ragc/chunker.h"
#include "ragc/sentence.h"

#define MAX_PAGES 8

typedef struct term_count {
    size_t n;
} term_count;

static void on_term(void *ud, const char *term, size_t len)
{
    term_count *c = ud;
    FUZZ_CHECK(term && len > 0 && len <= 4096 && term[len] == '\0' && strlen(term) == len);
    FUZZ_CHECK(fuzz_utf8_ok(term, len));
    c->n++;
}

static bool is_ws(int32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= '\t' && cp <= '\r');
    if (cp == 0x85)
        return true;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

/* Copies the non-whitespace code points of valid UTF-8 s[0..n) into out (cap >= n). */
static size_t strip_ws(const char *s, size_t n, char *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        FUZZ_CHECK(k > 0);
        if (!is_ws(cp)) {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
        }
        i += (size_t)k;
    }
    return o;
}

static void check_analyzer(const char *text, size_t n, uint8_t conf)
{
    static const char *const stemmers[4] = {"porter", "english", "none", "porter"};
    rag_analyzer_params ap = rag_analyzer_default_params();
    ap.stemmer = stemmers[conf & 3];
    ap.stopwords = (conf & 4) ? "none" : "lucene";
    rag_analyzer *a = NULL;
    rag_err err;
    FUZZ_CHECK(rag_analyzer_create(&ap, &a, &err) == RAG_OK);
    term_count c = {0};
    FUZZ_CHECK(rag_analyzer_run(a, text, n, on_term, &c) == RAG_OK);
    rag_term_freq *tf = NULL;
    size_t ntf = 0;
    uint32_t doc_len = 0;
    FUZZ_CHECK(rag_analyzer_term_freqs(a, text, n, &tf, &ntf, &doc_len) == RAG_OK);
    FUZZ_CHECK(doc_len == c.n);
    FUZZ_CHECK((ntf == 0) == (tf == NULL));
    uint64_t sum = 0;
    for (size_t i = 0; i < ntf; i++) {
        FUZZ_CHECK(tf[i].tf >= 1 && tf[i].term && tf[i].term[0]);
        if (i > 0)
            FUZZ_CHECK(strcmp(tf[i - 1].term, tf[i].term) < 0);
        sum += tf[i].tf;
    }
    FUZZ_CHECK(sum == doc_len);
    rag_term_freqs_free(tf, ntf);
    rag_analyzer_free(a);
}

static bool ascii_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void check_sentences(const char *text, size_t n)
{
    rag_span *sp = NULL;
    size_t ns = 0;
    FUZZ_CHECK(rag_sentences_split(text, n, &sp, &ns) == RAG_OK);
    FUZZ_CHECK((ns == 0) == (sp == NULL));
    size_t prev_end = 0;
    for (size_t i = 0; i < ns; i++) {
        FUZZ_CHECK(sp[i].start < sp[i].end && sp[i].end <= n && sp[i].start >= prev_end);
        FUZZ_CHECK(!ascii_ws(text[sp[i].start]) && !ascii_ws(text[sp[i].end - 1]));
        prev_end = sp[i].end;
    }
    free(sp);
    (void)rag_text_has_paragraph_break(text, n);
}

static void check_chunks(const char *text, size_t n, size_t size, size_t overlap)
{
    rag_page pages[MAX_PAGES];
    size_t np = 0, off = 0;
    bool all_valid = true;
    while (np < MAX_PAGES) {
        const char *ff = np + 1 < MAX_PAGES ? memchr(text + off, '\f', n - off) : NULL;
        size_t len = ff ? (size_t)(ff - (text + off)) : n - off;
        pages[np] = (rag_page){.text = (char *)text + off, .len = len, .number = (int)np + 1};
        all_valid = all_valid && fuzz_utf8_ok(text + off, len);
        np++;
        if (!ff)
            break;
        off += len + 1;
    }
    /* the virtual text: pages joined by "\n\n" */
    size_t vlen = 0;
    for (size_t i = 0; i < np; i++)
        vlen += pages[i].len + (i ? 2 : 0);
    char *virt = malloc(vlen + 1);
    FUZZ_CHECK(virt != NULL);
    size_t v = 0;
    for (size_t i = 0; i < np; i++) {
        if (i) {
            memcpy(virt + v, "\n\n", 2);
            v += 2;
        }
        memcpy(virt + v, pages[i].text, pages[i].len);
        v += pages[i].len;
    }
    virt[vlen] = '\0';

    rag_chunker_params cp = {.chunk_size = size, .chunk_overlap = overlap};
    rag_chunk *ch = NULL;
    size_t nc = 0;
    rag_err err;
    rag_status st = rag_chunk_document(pages, np, &cp, &ch, &nc, &err);
    if (!all_valid) {
        FUZZ_CHECK(st == RAG_E_BAD_INPUT && strstr(err.msg, "UTF-8"));
        free(virt);
        return;
    }
    if (st != RAG_OK)
        fprintf(stderr, "chunker failed on valid input: %s\n", err.msg);
    FUZZ_CHECK(st == RAG_OK);
    FUZZ_CHECK((nc == 0) == (ch == NULL));
    char *a = malloc(vlen + 1), *b = malloc(vlen + 1);
    FUZZ_CHECK(a && b);
    size_t prev_end = 0, prev_start = 0;
    for (size_t i = 0; i < nc; i++) {
        const rag_chunk *c = &ch[i];
        FUZZ_CHECK(c->text && c->len > 0 && strlen(c->text) == c->len && fuzz_utf8_ok(c->text, c->len));
        FUZZ_CHECK(c->n_tokens == rag_token_estimate(c->text, c->len) && c->n_tokens <= size);
        FUZZ_CHECK(c->byte_start < c->byte_end && c->byte_end <= vlen);
        FUZZ_CHECK(i == 0 || (c->byte_end > prev_end && c->byte_start >= prev_start));
        FUZZ_CHECK(c->page_start >= 1 && c->page_start <= c->page_end && c->page_end <= (int)np);
        FUZZ_CHECK((c->n_page_marks == 0) == (c->page_marks == NULL));
        for (size_t k = 0; k < c->n_page_marks; k++) {
            FUZZ_CHECK(c->page_marks[k].offset < c->len);
            FUZZ_CHECK(k == 0 || c->page_marks[k].offset > c->page_marks[k - 1].offset);
        }
        size_t la = strip_ws(c->text, c->len, a);
        size_t lb = strip_ws(virt + c->byte_start, c->byte_end - c->byte_start, b);
        if (la != lb || memcmp(a, b, la) != 0)
            fprintf(stderr, "chunk %zu text differs from its range [%zu,%zu) beyond whitespace\n", i,
                    c->byte_start, c->byte_end);
        FUZZ_CHECK(la == lb && memcmp(a, b, la) == 0);
        prev_end = c->byte_end;
        prev_start = c->byte_start;
    }
    free(a);
    free(b);
    rag_chunks_free(ch, nc);
    free(virt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    static const size_t sizes[8] = {1, 2, 3, 5, 8, 16, 64, 512};
    size_t csize = sizes[data[0] & 7];
    size_t overlap = csize > 1 ? (size_t)data[1] % csize : 0;
    uint8_t conf = data[2];
    size_t n = size - 3;
    char *text = malloc(n ? n : 1); /* exact size: reads past the end are caught */
    if (n)
        memcpy(text, data + 3, n);
    check_analyzer(text, n, conf);
    check_sentences(text, n);
    (void)rag_token_estimate(text, n);
    /* rag_page.text is a C string: interior NULs never reach the chunker (the normalizer drops
     * them), so they become spaces here */
    for (size_t i = 0; i < n; i++)
        if (!text[i])
            text[i] = ' ';
    check_chunks(text, n, csize, overlap);
    free(text);
    return 0;
}
