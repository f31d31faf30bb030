/* Chunker: packs whole sentences into token-budgeted, overlapping chunks; and the token estimate
 * used for budgets until a real tokenizer is loaded. */
#ifndef RAGC_CHUNKER_H
#define RAGC_CHUNKER_H

#include <stddef.h>

#include "ragc/core.h"
#include "ragc/document.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Estimates the number of subword tokens a BERT-style WordPiece tokenizer produces for
 * text[0..n) (UTF-8, borrowed). The rule, per code point:
 * - whitespace (space, \t, \n, \r, Z*): 0, and ends a word;
 * - other controls and format characters (Cc, Cf, e.g. soft hyphen): 0 and ignored, as BERT's
 *   tokenizer deletes them ("a<U+00AD>b" is one word);
 * - each punctuation or symbol (P*, S*): 1, and ends a word;
 * - each CJK ideograph (BERT's "Chinese character" ranges): 1, and ends a word;
 * - each invalid UTF-8 byte: 1, and ends a word;
 * - everything else (letters, digits, marks, ...) forms words: a word of len code points
 *   counts 1 + (len - 1) / 6 (so words up to 6 code points count 1, 7-12 count 2, ...).
 * The estimate is additive over text split at whitespace, never decreases as text grows by
 * whole code points, and grows by at most 1 per code point. */
size_t rag_token_estimate(const char *text, size_t n);

typedef struct rag_chunker_params {
    size_t chunk_size;    /* token budget per chunk (rag_token_estimate), > 0; default 512 */
    size_t chunk_overlap; /* tokens of trailing sentences repeated at the next chunk's start,
                             < chunk_size; default 64 */
} rag_chunker_params;

/* Returns {512, 64}. */
rag_chunker_params rag_chunker_default_params(void);

/* A chunk. Byte offsets are into the document's virtual text: the pages' texts joined with
 * "\n\n" (page i starts at sum over j < i of (pages[j].len + 2)). [byte_start, byte_end) covers
 * the chunk's first to last sentence; text is those sentences joined by a single space, or by
 * "\n\n" where a paragraph or page break separated them, so it equals the virtual text range
 * with the whitespace between sentences normalized. */
/* Where the chunk text moves to another page: text from offset on (bytes into rag_chunk.text)
 * comes from page `page` (rag_page.number). */
typedef struct rag_page_mark {
    size_t offset;
    int page;
} rag_page_mark;

typedef struct rag_chunk {
    char *text;            /* owned by the chunk array (freed by rag_chunks_free), NUL-terminated */
    size_t len;            /* bytes of text, excluding the NUL */
    int page_start;        /* rag_page.number of the page of the first sentence */
    int page_end;          /* rag_page.number of the page of the last sentence */
    size_t byte_start;     /* virtual-text offset of the first byte of the first sentence */
    size_t byte_end;       /* virtual-text offset just past the last sentence */
    size_t n_tokens;       /* rag_token_estimate(text, len); <= chunk_size */
    rag_page_mark *page_marks; /* owned: n_page_marks page changes after the start (page_start
                                  holds from offset 0); NULL when the chunk is on one page */
    size_t n_page_marks;
} rag_chunk;

/* Splits the pages into chunks.
 * Rules: pages are split into sentences (a page end always ends a sentence); whole sentences
 * are packed while the chunk's estimate stays <= chunk_size; a sentence over chunk_size is
 * split at whitespace, and a single word over chunk_size at code point boundaries (last
 * resort). Each next chunk starts with the longest run of the previous chunk's trailing
 * sentences whose tokens total <= chunk_overlap and that leaves room for at least one new
 * sentence (none if the last sentence alone exceeds it), so every chunk adds new text.
 * pages: borrowed, n_pages entries (page text must be valid UTF-8; NULL text allowed when len 0).
 * p: NULL = defaults. *out: caller frees with rag_chunks_free; NULL when *n_out == 0 (no
 * non-whitespace text: RAG_OK with zero chunks).
 * Errors: RAG_E_CONFIG (chunk_size 0, chunk_overlap >= chunk_size), RAG_E_BAD_INPUT (NULL
 * arguments, invalid UTF-8 naming the page and byte), RAG_E_TOO_LARGE (more than
 * RAG_CHUNKS_MAX chunks), RAG_E_NOMEM. */
#define RAG_CHUNKS_MAX 10000000u
rag_status rag_chunk_document(const rag_page *pages, size_t n_pages, const rag_chunker_params *p,
                              rag_chunk **out, size_t *n_out, rag_err *err);

/* Frees n chunks and the array. NULL is a no-op. */
void rag_chunks_free(rag_chunk *c, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_CHUNKER_H */
