/* libFuzzer target: remote error bodies and response headers (include/ragc/net_policy.h):
 * rag_net_parse_error (X-Error-Message + JSON or non-JSON body), rag_net_redact,
 * rag_net_parse_retry_after, rag_net_parse_ratelimit and rag_net_status_from_http.
 *
 * Input: byte 0 = flags (bit 0: send an X-Error-Message header, bit 1: use the fixed token);
 * then "<x-error-message>\0<header value>\0<body>" (the body may hold NULs and need not be
 * NUL-terminated).
 * Invariants: the message is one line of valid UTF-8 (no control characters) shorter than
 * RAG_NET_ERRMSG_MAX, without the token or a trailing 4+ byte piece of it (a cut at the cap) and
 * without an "hf_" word of 6+ word characters;
 * error_type is lowercase; redaction never lengthens a string; Retry-After waits are finite
 * and non-negative.
 */
#include "fuzz_common.h"

#include <ctype.h>
#include <math.h>

#include "ragc/net_policy.h"

#define TOKEN "Zq9SecretTokenValue42"

static bool word_char(unsigned char c)
{
    return isalnum(c) || c == '_';
}

/* s holds no unredacted hf_ token: "hf_" at a word start followed by 6+ word characters. */
static bool no_hf_token(const char *s)
{
    for (size_t i = 0; s[i]; i++) {
        if (strncmp(s + i, "hf_", 3) != 0 || (i > 0 && word_char((unsigned char)s[i - 1])))
            continue;
        size_t k = i + 3;
        while (word_char((unsigned char)s[k]))
            k++;
        if (k - (i + 3) >= 6)
            return false;
    }
    return true;
}

/* s does not end with 4+ bytes of TOKEN (what a cut at a cap would leave of it). */
static bool no_token_tail(const char *s)
{
    size_t n = strlen(s), t = strlen(TOKEN);
    for (size_t k = 4; k < t && k <= n; k++)
        if (!memcmp(s + n - k, TOKEN, k))
            return false;
    return true;
}

static void check_line(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    FUZZ_CHECK(n < cap);
    FUZZ_CHECK(fuzz_utf8_ok(s, n));
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    /* split off the X-Error-Message and the header value at the first two NULs */
    const char *nul1 = memchr(rest, '\0', n);
    char *xmsg = fuzz_strndup((const uint8_t *)rest, nul1 ? (size_t)(nul1 - rest) : n);
    const char *after1 = nul1 ? nul1 + 1 : rest + n;
    size_t n1 = (size_t)(rest + n - after1);
    const char *nul2 = memchr(after1, '\0', n1);
    char *hdr = fuzz_strndup((const uint8_t *)after1, nul2 ? (size_t)(nul2 - after1) : n1);
    const char *body = nul2 ? nul2 + 1 : after1 + n1;
    size_t body_len = (size_t)(rest + n - body);
    /* the body in its own allocation, not NUL-terminated, so overreads are caught */
    char *b = body_len ? malloc(body_len) : NULL;
    if (body_len)
        memcpy(b, body, body_len);
    const char *token = (flags & 2) ? TOKEN : NULL;

    rag_net_error_info info;
    rag_net_parse_error((flags & 1) ? xmsg : NULL, b, body_len, token, &info);
    check_line(info.message, sizeof info.message);
    FUZZ_CHECK(!token || (strstr(info.message, TOKEN) == NULL && no_token_tail(info.message)));
    FUZZ_CHECK(no_hf_token(info.message));
    check_line(info.error_type, sizeof info.error_type);
    for (const char *p = info.error_type; *p; p++)
        FUZZ_CHECK(!isupper((unsigned char)*p));
    FUZZ_CHECK(info.estimated_time_s == -1 || info.estimated_time_s >= 0);
    (void)rag_net_status_from_http(400 + (int)(flags >> 2), info.error_type);

    /* redaction of arbitrary text: never longer, never leaves the token */
    size_t before = strlen(xmsg);
    rag_net_redact(xmsg, TOKEN);
    FUZZ_CHECK(strlen(xmsg) <= before);
    FUZZ_CHECK(strstr(xmsg, TOKEN) == NULL && no_token_tail(xmsg));
    FUZZ_CHECK(no_hf_token(xmsg));

    double ms = -7;
    if (rag_net_parse_retry_after(hdr, 1700000000, &ms))
        FUZZ_CHECK(isfinite(ms) && ms >= 0);
    else
        FUZZ_CHECK(ms == -7);
    long remaining = -7, reset = -7;
    (void)rag_net_parse_ratelimit(hdr, &remaining, &reset);

    free(b);
    free(hdr);
    free(xmsg);
    return 0;
}
