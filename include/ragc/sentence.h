/* Sentence splitter for chunking: rule based, works on any UTF-8 text.
 *
 * A sentence ends:
 * - after a run of . ! ? … (plus any closing quotes/brackets " ' ” ’ » ) ] } 」 』 ）) that is
 *   followed by whitespace and then an uppercase or caseless letter, a digit, an opening
 *   quote/bracket, or the end of the text;
 * - right after 。 ！ ？ (CJK full stops need no following space);
 * - at a paragraph break (two line breaks with only blanks between them, or U+2029): always;
 * - at the end of the text.
 * A single '.' does not end a sentence after: the abbreviations Dr Mr Mrs Ms Prof Jr St Inc Ltd
 * No Nos p al (case as written), Fig Figs Eq Eqs Ref Refs Vol Sec Ch Tab pp vs cf approx e.g i.e
 * viz ca (first letter in either case), or a single uppercase letter (initials "J. Smith",
 * "U.S."). "etc." ends a sentence only before an uppercase word. Decimals ("3.5"), and ".", "…"
 * before a lowercase word never end one.
 * Spans exclude leading and trailing whitespace; no span is empty.
 */
#ifndef RAGC_SENTENCE_H
#define RAGC_SENTENCE_H

#include <stddef.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Byte range [start, end) into the text. */
typedef struct rag_span {
    size_t start, end;
} rag_span;

/* Splits text[0..n) into sentences, in order. text: borrowed (need not be NUL-terminated;
 * invalid UTF-8 bytes are treated as ordinary non-space characters).
 * *out: caller frees with free(); NULL when *n_out == 0 (empty or all-whitespace text).
 * RAG_E_BAD_INPUT if out/n_out is NULL or text is NULL with n > 0; RAG_E_NOMEM. */
rag_status rag_sentences_split(const char *text, size_t n, rag_span **out, size_t *n_out);

/* True if text[0..n) has a paragraph break: two line breaks (\n, \r\n, \r, U+2028, U+0085)
 * separated only by blanks, or a U+2029. Used to keep paragraph structure when joining. */
bool rag_text_has_paragraph_break(const char *text, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_SENTENCE_H */
