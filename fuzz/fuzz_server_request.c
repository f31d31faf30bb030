/* libFuzzer target: the server's pure request functions (src/server/server_internal.h):
 * srv_split_uri + srv_url_decode, srv_route_match (with the embedded web assets),
 * srv_query_get, srv_parse_content_type, srv_sanitize_filename, srv_bearer_ok,
 * srv_content_type_for, srv_split_answer, srv_error_json and srv_utf8_sanitize.
 *
 * Input: NUL-separated fields "method\0target\0content-type\0filename\0authorization\0answer";
 * missing fields are empty.
 * Invariants: a split path starts with '/', is valid UTF-8 without NUL; query values are valid
 * UTF-8; a route label is never NULL and DOC ids are positive; a parsed media type is lowercase
 * and a boundary is 1..70 bchars; a sanitized file name is non-empty, at most SRV_MAX_FILENAME
 * bytes, valid UTF-8, has no '/', '\\', control or *:?<>|" characters, does not start with '.'
 * and is never "." or ".."; answer pieces are increasing and end at the text's end; error
 * bodies are valid JSON. Suggested -max_len: 4096. */
#include "fuzz_common.h"

#include <ctype.h>
#include <jansson.h>

#include "server/server_internal.h"

#define N_FIELDS 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[N_FIELDS];
    size_t flen[N_FIELDS];
    size_t off = 0;
    for (int i = 0; i < N_FIELDS; i++) {
        const uint8_t *start = data + off;
        size_t left = size - off;
        const uint8_t *nul = i + 1 < N_FIELDS ? memchr(start, '\0', left) : NULL;
        flen[i] = nul ? (size_t)(nul - start) : left;
        f[i] = fuzz_strndup(start, flen[i]);
        off += flen[i] + (nul ? 1 : 0);
    }
    const char *method = f[0], *target = f[1], *ctype = f[2], *fname = f[3], *auth = f[4];
    rag_err err;

    /* request target -> path + query -> route */
    char *path = NULL;
    const char *query = NULL;
    rag_status st = srv_split_uri(target, &path, &query, &err);
    if (st == RAG_OK) {
        size_t pl = strlen(path);
        FUZZ_CHECK(path[0] == '/' && fuzz_utf8_ok(path, pl));
        FUZZ_CHECK(!query || (query > target && query <= target + flen[1] && query[-1] == '?'));
        srv_match m;
        srv_route_match(method, path, srv_web_assets, srv_web_n_assets, &m);
        FUZZ_CHECK(m.label != NULL);
        FUZZ_CHECK(m.route == SRV_ROUTE_NONE || (m.allowed & SRV_OPTIONS));
        if (m.id_valid)
            FUZZ_CHECK(m.id > 0 && (m.route == SRV_ROUTE_DOC || m.route == SRV_ROUTE_DOC_FILE));
        if (m.route == SRV_ROUTE_ASSET || m.route == SRV_ROUTE_INDEX)
            FUZZ_CHECK(m.asset && m.asset->data);
        char allow[128];
        srv_allow_header(m.allowed, allow, sizeof allow);
        static const char *const keys[] = {"q", "k", "top_k", "limit", "offset", ""};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            char *val = NULL;
            rag_status qs = srv_query_get(query, keys[i], &val, &err);
            if (qs == RAG_OK)
                FUZZ_CHECK(val && fuzz_utf8_ok(val, strlen(val)));
            else
                FUZZ_CHECK(val == NULL && (qs == RAG_E_NOT_FOUND || qs == RAG_E_BAD_INPUT));
            free(val);
        }
        free(path);
    } else {
        FUZZ_CHECK(path == NULL && err.msg[0]);
    }
    char *dec = NULL;
    size_t dlen = 0;
    if (srv_url_decode(target, flen[1], true, &dec, &dlen, &err) == RAG_OK)
        FUZZ_CHECK(dec && dlen <= flen[1] && strlen(dec) == dlen);
    free(dec);

    /* Content-Type */
    char mime[64], boundary[SRV_MULTIPART_MAX_BOUNDARY + 1];
    if (srv_parse_content_type(ctype, mime, sizeof mime, boundary, sizeof boundary, &err) == RAG_OK) {
        for (const char *p = mime; *p; p++)
            FUZZ_CHECK(!isupper((unsigned char)*p));
        size_t bl = strlen(boundary);
        FUZZ_CHECK(bl <= SRV_MULTIPART_MAX_BOUNDARY && !strpbrk(boundary, "\r\n"));
    }

    /* upload file name */
    char clean[SRV_MAX_FILENAME + 8];
    if (srv_sanitize_filename(fname, flen[3], clean, sizeof clean, &err) == RAG_OK) {
        size_t cl = strlen(clean);
        FUZZ_CHECK(cl > 0 && cl <= SRV_MAX_FILENAME && fuzz_utf8_ok(clean, cl));
        FUZZ_CHECK(!strpbrk(clean, "/\\*:?<>|\"") && clean[0] != '.');
        for (size_t i = 0; i < cl; i++)
            FUZZ_CHECK((unsigned char)clean[i] >= 0x20 && clean[i] != 0x7f);
        FUZZ_CHECK(strcmp(clean, ".") && strcmp(clean, ".."));
        (void)srv_content_type_for(clean);
    } else {
        FUZZ_CHECK(err.msg[0]);
    }

    /* bearer auth: the exact token must pass, anything else must not */
    FUZZ_CHECK(!srv_bearer_ok(auth, "") && !srv_bearer_ok(auth, NULL));
    const char *key = "s3cret-Key";
    bool ok = srv_bearer_ok(auth, key);
    if (ok)
        FUZZ_CHECK(strstr(auth, key) != NULL);
    char hdr[64];
    snprintf(hdr, sizeof hdr, "Bearer %s", key);
    FUZZ_CHECK(srv_bearer_ok(hdr, key));

    /* answer splitting and error bodies */
    const char *answer = f[5];
    size_t alen = strlen(answer);
    size_t ends[16];
    size_t n_src = size ? data[0] % 12 : 0;
    size_t np = srv_split_answer(answer, n_src, ends, 16);
    FUZZ_CHECK((np == 0) == (alen == 0));
    for (size_t i = 0; i < np; i++)
        FUZZ_CHECK(ends[i] <= alen && (i == 0 || ends[i] > ends[i - 1]));
    if (np)
        FUZZ_CHECK(ends[np - 1] == alen);
    const char *code = NULL;
    (void)srv_http_status((rag_status)(size ? data[size - 1] % 24 : 0), &code);
    FUZZ_CHECK(code != NULL);
    char *ej = srv_error_json(code, answer);
    FUZZ_CHECK(ej != NULL);
    json_error_t je;
    json_t *parsed = json_loads(ej, 0, &je);
    FUZZ_CHECK(parsed != NULL);
    json_decref(parsed);
    free(ej);
    char san[64];
    srv_utf8_sanitize(answer, san, sizeof san);
    FUZZ_CHECK(fuzz_utf8_ok(san, strlen(san)));

    for (int i = 0; i < N_FIELDS; i++)
        free(f[i]);
    return 0;
}
