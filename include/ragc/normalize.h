/* Text normalizer: turns extracted text into clean paragraphs for chunking and indexing.
 *
 * Rules, applied in this order:
 * 1. The input must be valid UTF-8 (else RAG_E_BAD_INPUT "invalid UTF-8 at byte N").
 * 2. Unicode NFC (canonical composition; compatibility characters such as ligatures are kept).
 * 3. Character mapping:
 *    - "\r\n" and a lone '\r', VT, FF, NEL (U+0085) and LINE SEPARATOR (U+2028) are line breaks;
 *      PARAGRAPH SEPARATOR (U+2029) is a paragraph break.
 *    - tab and every Unicode space separator (category Zs: U+0020, NBSP U+00A0, U+1680,
 *      U+2000..U+200A, U+202F, U+205F, ideographic U+3000) become ' '.
 *    - other control characters (category Cc) and U+FEFF (BOM) are dropped.
 *    - SOFT HYPHEN (U+00AD) is dropped; at the end of a line it also joins the two lines with no space.
 * 4. De-hyphenation: a '-' (or U+2010 HYPHEN) at the end of a line that directly follows a letter
 *    is removed when the next line starts with a lowercase letter ("infor-\nmation" ->
 *    "information"); otherwise the hyphen is kept and the lines are joined without a space
 *    ("Jean-\nPaul" -> "Jean-Paul").
 * 5. Runs of spaces become one space; spaces at the start and end of lines are removed.
 * 6. A single line break inside a paragraph becomes a space; a paragraph break (two or more
 *    line breaks with only spaces/dropped characters between) becomes exactly "\n\n".
 * 7. Leading and trailing whitespace is trimmed.
 * The output is valid UTF-8, NUL-terminated, and contains '\n' only as "\n\n" paragraph breaks.
 */
#ifndef RAGC_NORMALIZE_H
#define RAGC_NORMALIZE_H

#include <stddef.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Normalizes in[0..n) into *out. in: borrowed for the call (may contain NUL bytes, which are
 * dropped as control characters; may be NULL when n == 0).
 * out: initialized by the caller with rag_buf_init (its max caps the output size); it is reset
 * first, then holds the result (out->data non-NULL and NUL-terminated on success, possibly "").
 * Caller frees with rag_buf_free.
 * Errors: RAG_E_BAD_INPUT (invalid UTF-8, with byte offset), RAG_E_TOO_LARGE (output would exceed
 * out->max), RAG_E_NOMEM. */
rag_status rag_normalize(const char *in, size_t n, rag_buf *out, rag_err *err);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_NORMALIZE_H */
