/* BM25 text analyzer: the equivalent of Lucene's EnglishAnalyzer as Anserini uses it
 * (StandardTokenizer -> EnglishPossessiveFilter -> LowerCaseFilter -> StopFilter -> PorterStemFilter).
 * On BEIR SciFact (corpus and queries) its terms are identical to Lucene 8.7's.
 *
 * Tokenizer (UAX#29 word boundaries as Lucene's StandardTokenizer grammar applies them):
 * - a token is a run of letters (Alphabetic: L*, Nl) and decimal digits (Nd), with combining
 *   marks and format characters (Mn, Mc, Me, Cf, ZWJ) kept inside it;
 * - between two letters, ' . : U+00B7 U+2018 U+2019 (MidLetter/MidNumLet) join: "don't", "U.S.A";
 * - between two digits, . , ; ' join: "3.5", "1,000";
 * - letters and digits join directly ("p53", "3.5mg"); '_' (ExtendNumLet) joins anything;
 * - everything else splits ("state-of-the-art" -> 4 tokens, "10:30" -> "10", "30", "mg/kg");
 * - each Han ideograph and each Hiragana character is a token of its own; Katakana runs and
 *   South-East-Asian script runs (Thai, Lao, Myanmar, Khmer) are single tokens;
 * - emoji sequences (Extended_Pictographic incl. (C) (R) TM, ZWJ sequences, flags, keycaps) are
 *   tokens, as Lucene's EMOJI type; other symbols, punctuation and No characters (superscript
 *   and subscript digits) are not;
 * - a token longer than 255 UTF-16 code units is cut into 255-unit pieces.
 * Character classes follow current Unicode (utf8proc); Lucene's grammar is Unicode 9, so only
 * characters assigned after Unicode 9 can tokenize differently. Invalid UTF-8 bytes separate
 * tokens (never crash).
 * Filters: strip a trailing 's / ’s / ＇s (s or S); lowercase per code point (utf8proc_tolower,
 * like Java's Character.toLowerCase); drop stopwords; stem.
 *
 * Stemmer "porter" reproduces Lucene's PorterStemmer, which is Porter's reference C code: it is
 * libstemmer's "porter" (the published algorithm) plus the reference's departures, which this
 * analyzer applies itself: terms of <= 2 UTF-16 units are not stemmed, step 1b undoubles every
 * double consonant but l/s/z ("trekking" -> "trek"), and -bli -> -ble, -logi -> -log
 * ("immunology" -> "immunolog"). Non-ASCII letters count as consonants, as in Lucene.
 * "english" is Porter2 (libstemmer "english", Lucene's SnowballFilter(EnglishStemmer)).
 * "none" disables stemming.
 * Stopwords "lucene" is EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (33 words: a an and are as at be
 * but by for if in into is it no not of on or such that the their then there these they this
 * to was will with), applied after lowercasing and before stemming; "none" keeps all terms.
 */
#ifndef RAGC_ANALYZER_H
#define RAGC_ANALYZER_H

#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Maximum token length in UTF-16 code units (Lucene StandardTokenizer's default). */
#define RAG_ANALYZER_MAX_TOKEN_UNITS 255

typedef struct rag_analyzer_params {
    const char *stemmer;   /* "porter" (default) | "english" | "none"; borrowed during create; NULL = default */
    const char *stopwords; /* "lucene" (default) | "none"; borrowed during create; NULL = default */
} rag_analyzer_params;

/* Returns {"porter", "lucene"}. */
rag_analyzer_params rag_analyzer_default_params(void);

/* Opaque analyzer. Not thread-safe (the stemmer and scratch buffers have state):
 * use one analyzer per thread. */
typedef struct rag_analyzer rag_analyzer;

/* Creates an analyzer. p may be NULL (defaults). *out: caller frees with rag_analyzer_free.
 * Unknown stemmer or stopword-set name -> RAG_E_CONFIG with a message naming it. */
rag_status rag_analyzer_create(const rag_analyzer_params *p, rag_analyzer **out, rag_err *err);

/* Frees the analyzer. NULL is a no-op. */
void rag_analyzer_free(rag_analyzer *a);

/* Receives one term. term: borrowed, valid only during the call, NUL-terminated; len in bytes. */
typedef void (*rag_term_cb)(void *ud, const char *term, size_t len);

/* Analyzes text[0..n) (UTF-8; need not be NUL-terminated) and calls cb for every term in order.
 * text: borrowed. RAG_E_BAD_INPUT if a, cb or (text with n > 0) is NULL. */
rag_status rag_analyzer_run(rag_analyzer *a, const char *text, size_t n, rag_term_cb cb, void *ud);

/* One distinct term and its frequency in the analyzed text. */
typedef struct rag_term_freq {
    char *term;  /* NUL-terminated; points into the same allocation as the array (see below) */
    uint32_t tf; /* occurrences of the term */
} rag_term_freq;

/* Analyzes text[0..n) and returns its distinct terms sorted by strcmp on the term bytes.
 * *out: caller frees with rag_term_freqs_free (one allocation holds the array and all term
 * strings: never free a term on its own); NULL when *n_out == 0.
 * *doc_len (may be NULL): number of terms emitted after stopword removal (Lucene's field length).
 * Text with more than UINT32_MAX terms -> RAG_E_TOO_LARGE. */
rag_status rag_analyzer_term_freqs(rag_analyzer *a, const char *text, size_t n, rag_term_freq **out,
                                   size_t *n_out, uint32_t *doc_len);

/* Frees a result of rag_analyzer_term_freqs. NULL is a no-op. n is the entry count (unused). */
void rag_term_freqs_free(rag_term_freq *tf, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_ANALYZER_H */
