/* BERT WordPiece tokenizer (uncased/cased), compatible with Hugging Face BertTokenizer and the
 * tokenizers "BertNormalizer + BertPreTokenizer + WordPiece" pipeline.
 *
 * Pipeline: clean text (drop NUL, U+FFFD and control chars; whitespace -> ' '), put spaces around
 * CJK ideographs, lowercase + strip accents (NFD, drop Mn) when configured, split on whitespace
 * and punctuation (Unicode P* plus ASCII 33-47, 58-64, 91-96, 123-126), then WordPiece greedy
 * longest-match-first with "##" continuation; a word longer than max_input_chars_per_word (100
 * code points) or with an unmatchable piece becomes [UNK].
 *
 * Inputs must be valid UTF-8 (else RAG_E_BAD_INPUT naming the byte offset) and at most
 * RAG_TOKENIZER_MAX_INPUT bytes per text (else RAG_E_TOO_LARGE). Time is linear in the input.
 * A loaded tokenizer is immutable: encode may be called from several threads at once.
 */
#ifndef RAGC_TOKENIZER_H
#define RAGC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RAG_TOKENIZER_MAX_INPUT ((size_t)1 << 20) /* bytes per text */

typedef struct rag_tokenizer rag_tokenizer;

/* path: a model directory (tokenizer.json preferred, else vocab.txt + optional
 * tokenizer_config.json for do_lower_case / strip_accents / tokenize_chinese_chars) or a
 * tokenizer.json file. *out: caller frees with rag_tokenizer_free. */
rag_status rag_tokenizer_load(const char *path, rag_tokenizer **out, rag_err *err);
/* NULL is a no-op. */
void rag_tokenizer_free(rag_tokenizer *t);

/* One encoded sequence; the three arrays have len entries each and are owned by the encoding
 * (allocated with malloc; rag_encoding_clear frees them and zeroes the struct). */
typedef struct rag_encoding {
    int32_t *ids;
    int32_t *type_ids;
    int32_t *attention_mask; /* all 1 (no padding is added) */
    size_t len;
} rag_encoding;

/* [CLS] tokens(text) [SEP], truncated to max_len tokens in total (the special tokens kept;
 * max_len must be >= 2, 0 = no limit). text[0..n) is borrowed for the call. *out is overwritten
 * (not freed first): pass a zeroed or cleared encoding. */
rag_status rag_tokenizer_encode(const rag_tokenizer *t, const char *text, size_t n, size_t max_len,
                                rag_encoding *out, rag_err *err);
/* [CLS] a [SEP] b [SEP] with type ids 0 for "[CLS] a [SEP]" and 1 for "b [SEP]"; truncated to
 * max_len tokens in total (>= 3, 0 = no limit) by the "longest_first" strategy of the Hugging
 * Face tokenizers library (the fast tokenizer sentence-transformers' CrossEncoder uses): with
 * m = max_len - 3, the shorter side is kept whole if it fits in m/2, else both sides get m/2 and
 * the longer (b when equal) gets the odd token. a and b are borrowed for the call. */
rag_status rag_tokenizer_encode_pair(const rag_tokenizer *t, const char *a, size_t na, const char *b,
                                     size_t nb, size_t max_len, rag_encoding *out, rag_err *err);
/* Frees the arrays and zeroes *e. NULL is a no-op. */
void rag_encoding_clear(rag_encoding *e);

size_t rag_tokenizer_vocab_size(const rag_tokenizer *t);
/* Id of an exact vocabulary entry ("[CLS]", "##ing"), -1 if absent. token borrowed for the call. */
int32_t rag_tokenizer_token_id(const rag_tokenizer *t, const char *token);
/* Id of [PAD] (0 in BERT vocabularies). */
int32_t rag_tokenizer_pad_id(const rag_tokenizer *t);
/* Vocabulary entry of id, or NULL if out of range. Borrowed, valid until rag_tokenizer_free. */
const char *rag_tokenizer_id_token(const rag_tokenizer *t, int32_t id);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_TOKENIZER_H */
