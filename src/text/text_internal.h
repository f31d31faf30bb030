/* Internal to src/text: helpers shared by the chunker and the sentence splitter. */
#ifndef RAGC_TEXT_INTERNAL_H
#define RAGC_TEXT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the code point at s[i] (i < n) into *cp and returns its length in bytes; an invalid
 * byte decodes as -1 with length 1. */
size_t text_utf8_decode(const unsigned char *s, size_t n, size_t i, int32_t *cp);

#endif
