/* UTF-8 decoding shared by the chunker and the sentence splitter. */
#include "text_internal.h"

#include <utf8proc.h>

size_t text_utf8_decode(const unsigned char *s, size_t n, size_t i, int32_t *cp)
{
    if (s[i] < 0x80) {
        *cp = s[i];
        return 1;
    }
    utf8proc_int32_t c;
    utf8proc_ssize_t l = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i < 4 ? n - i : 4), &c);
    if (l <= 0) {
        *cp = -1;
        return 1;
    }
    *cp = c;
    return (size_t)l;
}
