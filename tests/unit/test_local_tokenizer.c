/* Unit tests for src/local/tokenizer.c against the real bert-base-uncased vocabulary shipped with
 * sentence-transformers/all-MiniLM-L6-v2 ($RAGC_SHARED_DIR/data/fixtures/hf/...).
 *
 * Expected ids are read off vocab.txt: id = line number - 1 (`grep -nx TOKEN vocab.txt`).
 * Specials: [PAD] line 1 -> 0, [UNK] line 101 -> 100, [CLS] line 102 -> 101, [SEP] line 103 -> 102. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ragc/tokenizer.h"

#define CLS 101
#define SEP 102
#define UNK 100

static char g_model_dir[1024];
static char g_fixtures[1024];

static void paths(void) {
    const char *shared = getenv("RAGC_SHARED_DIR");
    const char *src = getenv("RAGC_SOURCE_DIR");
    snprintf(g_model_dir, sizeof g_model_dir, "%s/data/fixtures/hf/sentence-transformers/all-MiniLM-L6-v2",
             shared ? shared : "../shared");
    snprintf(g_fixtures, sizeof g_fixtures, "%s/tests/fixtures/local", src ? src : ".");
}

static rag_tokenizer *load(const char *path) {
    rag_tokenizer *t = NULL;
    rag_err e;
    rag_err_clear(&e);
    rag_status st = rag_tokenizer_load(path, &t, &e);
    if (st != RAG_OK) fail_msg("load %s: %s", path, e.msg);
    return t;
}

static rag_tokenizer *load_model(const char *file) {
    char p[1200];
    if (file) snprintf(p, sizeof p, "%s/%s", g_model_dir, file);
    else snprintf(p, sizeof p, "%s", g_model_dir);
    return load(p);
}

/* Encodes text (single sequence, no limit) and compares with want[0..n). */
static void expect_ids(const rag_tokenizer *t, const char *text, const int32_t *want, size_t n) {
    rag_encoding enc = {0};
    rag_err e;
    rag_err_clear(&e);
    rag_status st = rag_tokenizer_encode(t, text, strlen(text), 0, &enc, &e);
    if (st != RAG_OK) fail_msg("encode '%s': %s", text, e.msg);
    bool same = enc.len == n;
    for (size_t i = 0; same && i < n; i++) same = enc.ids[i] == want[i];
    if (!same) {
        char got[2048] = "";
        for (size_t i = 0; i < enc.len && strlen(got) < sizeof got - 16; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), " %d", enc.ids[i]);
        rag_encoding_clear(&enc);
        fail_msg("encode '%s': got [%s ]", text, got);
    }
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(enc.type_ids[i], 0);
        assert_int_equal(enc.attention_mask[i], 1);
    }
    rag_encoding_clear(&enc);
}
#define EXPECT(t, text, ...)                                                                                      \
    do {                                                                                                           \
        const int32_t w_[] = {__VA_ARGS__};                                                                        \
        expect_ids(t, text, w_, sizeof w_ / sizeof w_[0]);                                                         \
    } while (0)

/* The sentences of the issue. Each expectation is explained from vocab.txt lines. */
static void check_sentences(const rag_tokenizer *t) {
    /* Lowercase + strip accents (NFD, drop Mn): "cafe naive resume".
     * cafe line 7669 -> 7668, naive line 15744 -> 15743, resume line 13747 -> 13746. */
    EXPECT(t, "Caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9", CLS, 7668, 15743, 13746, SEP);
    /* CJK ideographs are isolated: 中 line 1747 -> 1746, 文 line 1862 -> 1861; 字 is not in the
     * vocabulary (grep -nx 字 finds nothing) -> [UNK]. */
    EXPECT(t, "\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97", CLS, 1746, 1861, UNK, SEP);
    /* Punctuation split: hello line 7593 -> 7592, "," line 1011 -> 1010, world line 2089 -> 2088,
     * "!" line 1000 -> 999. */
    EXPECT(t, "Hello, world!", CLS, 7592, 1010, 2088, 999, SEP);
    /* Greedy longest-match-first WordPiece: anti (3425) ##dis (10522) ##est (4356) ##ab (7876)
     * ##lish (13603) ##ment (3673) ##arian (12200) ##ism (2965), ids = lines - 1. */
    EXPECT(t, "antidisestablishmentarianism", CLS, 3424, 10521, 4355, 7875, 13602, 3672, 12199, 2964, SEP);
    /* Numbers: "2023" is not a token: 202 (line 16799) + ##3 (line 2510); 365 line 19343; ";" line 1026;
     * "3.14159" -> 3 (line 1018) . (line 1013) then 14159 = 141 (line 15472) + ##59 (line 28155).
     * the 1997, year 2095, had 2018, days 2420, pi 14255, is 2003. */
    EXPECT(t, "The year 2023 had 365 days; pi is 3.14159.", CLS, 1996, 2095, 16798, 2509, 2018, 19342, 2420, 1025,
           14255, 2003, 1017, 1012, 15471, 28154, 1012, SEP);
    /* "1,000,000 $5.99 50%": 1 (line 1016) , 000 (line 2200) , 000 $ (line 1003) 5 (line 1020) .
     * 99 (line 5586) 50 (line 2754) % (line 1004). */
    EXPECT(t, "1,000,000 $5.99 50%", CLS, 1015, 1010, 2199, 1010, 2199, 1002, 1019, 1012, 5585, 2753, 1003, SEP);
    /* Empty and whitespace-only texts: just the specials. */
    EXPECT(t, "", CLS, SEP);
    EXPECT(t, " \t\n ", CLS, SEP);
    /* Apostrophe and hyphen are ASCII punctuation: don (2124) ' (1006) t (1057) stop (2645) - (1012)
     * believing (8930) . . . (1013). */
    EXPECT(t, "don't stop-believing...", CLS, 2123, 1005, 1056, 2644, 1011, 8929, 1012, 1012, 1012, SEP);
    /* Accents on capitals fold to "aeiou" = ae (29348) ##io (3696) ##u (2227); ß has no canonical
     * decomposition: straße = st (2359) ##raße (27808); unicode line 27261. */
    EXPECT(t, "\xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xc3\x80\xc3\x89\xc3\x8e\xc3\x95\xc3\x9c stra\xc3\x9f" "e", CLS,
           27260, 29347, 3695, 2226, 2358, 27807, SEP);
    /* Control chars are dropped (U+0001 is Cc, U+200B is Cf) and \t \n \r split words: tab (21629) new (2048)
     * line (2241), "null" (19702) glued to "zw" = ##z (2481) ##w (2861) once U+200B is removed. */
    EXPECT(t, "tab\tnew\nline\r\x01null\xe2\x80\x8bzw", CLS, 21628, 2047, 2240, 19701, 2480, 2860, SEP);
    /* Kana are not in BERT's CJK blocks: after isolating the ideographs 日 (1865) 本 (1877) 語 (1951),
     * "のテキスト" is one word: の (1672) ##テ (30240) ##キ (30228) ##ス (30234) ##ト (30241); と (1667). */
    EXPECT(t, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88 "
              "\xe3\x81\xa8",
           CLS, 1864, 1876, 1950, 1671, 30239, 30227, 30233, 30240, 1666, SEP);
    /* An emoji is not in the vocabulary: em (7862) ##oj (29148) ##i (2073) [UNK] test (3232). */
    EXPECT(t, "emoji \xf0\x9f\x98\x80 test", CLS, 7861, 29147, 2072, UNK, 3231, SEP);
    /* Special tokens in the raw text are matched as such (like Hugging Face's added tokens). */
    EXPECT(t, "Hello [SEP] world[CLS]", CLS, 7592, SEP, 2088, CLS, SEP);
    /* ... but only exactly: "[cls]" is "[" (1032) cl (18857) ##s (2016) "]" (1034). */
    EXPECT(t, "[cls]", CLS, 1031, 18856, 2015, 1033, SEP);
}

static void test_real_vocab_sentences(void **state) {
    (void)state;
    const char *files[] = {NULL, "tokenizer.json", "vocab.txt"}; /* directory, tokenizer.json, vocab.txt */
    for (int i = 0; i < 3; i++) {
        rag_tokenizer *t = load_model(files[i]);
        check_sentences(t);
        rag_tokenizer_free(t);
    }
}

static void test_vocab_lookups(void **state) {
    (void)state;
    rag_tokenizer *t = load_model(NULL);
    assert_int_equal(rag_tokenizer_vocab_size(t), 30522);
    assert_int_equal(rag_tokenizer_pad_id(t), 0);
    assert_int_equal(rag_tokenizer_token_id(t, "[CLS]"), CLS);
    assert_int_equal(rag_tokenizer_token_id(t, "[MASK]"), 103);
    assert_int_equal(rag_tokenizer_token_id(t, "##ing"), 2075); /* line 2076 */
    assert_int_equal(rag_tokenizer_token_id(t, "hello"), 7592);
    assert_int_equal(rag_tokenizer_token_id(t, "not-a-token"), -1);
    assert_int_equal(rag_tokenizer_token_id(t, ""), -1);
    assert_string_equal(rag_tokenizer_id_token(t, 7592), "hello");
    assert_string_equal(rag_tokenizer_id_token(t, 30521), "##\xef\xbd\x9e"); /* last line */
    assert_null(rag_tokenizer_id_token(t, 30522));
    assert_null(rag_tokenizer_id_token(t, -1));
    rag_tokenizer_free(t);
    rag_tokenizer_free(NULL);
    rag_encoding_clear(NULL);
}

static void test_max_chars_per_word(void **state) {
    (void)state;
    rag_tokenizer *t = load_model(NULL);
    char w[102];
    /* 100 chars: aaa (13361) then 48 x ##aa (11058) and ##a (2051) */
    memset(w, 'a', 100);
    w[100] = '\0';
    int32_t want[53] = {CLS, 13360};
    for (int i = 0; i < 48; i++) want[2 + i] = 11057;
    want[50] = 2050;
    want[51] = SEP;
    expect_ids(t, w, want, 52);
    /* 101 chars > max_input_chars_per_word (100) -> [UNK] */
    memset(w, 'a', 101);
    w[101] = '\0';
    EXPECT(t, w, CLS, UNK, SEP);
    rag_tokenizer_free(t);
}

static void test_truncation_single(void **state) {
    (void)state;
    rag_tokenizer *t = load_model(NULL);
    rag_encoding e = {0};
    rag_err err;
    const char *s = "Hello, world!";
    assert_int_equal(rag_tokenizer_encode(t, s, strlen(s), 4, &e, &err), RAG_OK);
    assert_int_equal(e.len, 4);
    assert_int_equal(e.ids[0], CLS);
    assert_int_equal(e.ids[1], 7592);
    assert_int_equal(e.ids[2], 1010);
    assert_int_equal(e.ids[3], SEP);
    rag_encoding_clear(&e);
    assert_int_equal(rag_tokenizer_encode(t, s, strlen(s), 2, &e, &err), RAG_OK);
    assert_int_equal(e.len, 2);
    rag_encoding_clear(&e);
    assert_int_equal(rag_tokenizer_encode(t, s, strlen(s), 100, &e, &err), RAG_OK);
    assert_int_equal(e.len, 6);
    rag_encoding_clear(&e);
    assert_int_equal(rag_tokenizer_encode(t, s, strlen(s), 1, &e, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "max_len 1"));
    assert_int_equal(e.len, 0);
    rag_tokenizer_free(t);
}

/* Pair with n_a and n_b single-letter tokens ('a' = 1037, 'b' = 1038), truncated to max_len;
 * checks the kept counts and the layout. */
static void pair_case(const rag_tokenizer *t, int n_a, int n_b, size_t max_len, int keep_a, int keep_b) {
    char a[64] = "", b[64] = "";
    for (int i = 0; i < n_a; i++) strcat(a, "a ");
    for (int i = 0; i < n_b; i++) strcat(b, "b ");
    rag_encoding e = {0};
    rag_err err;
    assert_int_equal(rag_tokenizer_encode_pair(t, a, strlen(a), b, strlen(b), max_len, &e, &err), RAG_OK);
    if (e.len != (size_t)(keep_a + keep_b + 3))
        fail_msg("pair %d+%d max %zu: len %zu, want %d", n_a, n_b, max_len, e.len, keep_a + keep_b + 3);
    size_t k = 0;
    assert_int_equal(e.ids[k], CLS);
    assert_int_equal(e.type_ids[k++], 0);
    for (int i = 0; i < keep_a; i++) {
        assert_int_equal(e.ids[k], 1037);
        assert_int_equal(e.type_ids[k++], 0);
    }
    assert_int_equal(e.ids[k], SEP);
    assert_int_equal(e.type_ids[k++], 0);
    for (int i = 0; i < keep_b; i++) {
        assert_int_equal(e.ids[k], 1038);
        assert_int_equal(e.type_ids[k++], 1);
    }
    assert_int_equal(e.ids[k], SEP);
    assert_int_equal(e.type_ids[k++], 1);
    for (size_t i = 0; i < e.len; i++) assert_int_equal(e.attention_mask[i], 1);
    rag_encoding_clear(&e);
}

static void test_pairs_longest_first(void **state) {
    (void)state;
    rag_tokenizer *t = load_model(NULL);
    pair_case(t, 3, 4, 0, 3, 4);    /* no limit */
    pair_case(t, 3, 4, 10, 3, 4);   /* fits exactly: 3 + 4 + 3 */
    pair_case(t, 10, 3, 10, 4, 3);  /* m = 7: the short side (3) is kept whole, a gets the other 4 */
    pair_case(t, 3, 10, 10, 3, 4);  /* same, mirrored */
    pair_case(t, 10, 10, 10, 3, 4); /* both long, equal: m/2 = 3 each, the odd token goes to b */
    pair_case(t, 10, 6, 10, 4, 3);  /* both long: the longer (a) gets the odd token */
    pair_case(t, 6, 10, 10, 3, 4);
    pair_case(t, 5, 5, 11, 4, 4);   /* m = 8: 4 + 4 */
    pair_case(t, 0, 10, 8, 0, 5);   /* empty a */
    pair_case(t, 5, 5, 3, 0, 0);    /* m = 0 */
    rag_encoding e = {0};
    rag_err err;
    assert_int_equal(rag_tokenizer_encode_pair(t, "a", 1, "b", 1, 2, &e, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "need >= 3"));
    assert_int_equal(rag_tokenizer_encode_pair(t, "a", 1, "\xff", 1, 0, &e, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "second text: invalid UTF-8 at byte 0"));
    assert_int_equal(e.len, 0);
    rag_tokenizer_free(t);
}

static void test_cased_vocab_txt_fixture(void **state) {
    (void)state;
    char p[1200];
    snprintf(p, sizeof p, "%s/tiny-cased", g_fixtures);
    rag_tokenizer *t = load(p);
    assert_int_equal(rag_tokenizer_vocab_size(t), 12);
    /* do_lower_case false (strip_accents follows it): "Hello" (5) stays cased, Café = Ca (7) ##fé (8),
     * worlds = world (10) ##s (11), "!" (9); "hello" (6) is a separate entry. */
    EXPECT(t, "Hello Caf\xc3\xa9 worlds! hello", 2, 5, 7, 8, 10, 11, 9, 6, 3);
    /* "HELLO" has no match at all -> [UNK] (1) */
    EXPECT(t, "HELLO", 2, 1, 3);
    rag_tokenizer_free(t);
}

static void expect_load_error(const char *path, rag_status want, const char *needle) {
    rag_tokenizer *t = (rag_tokenizer *)0x1;
    rag_err e;
    rag_err_clear(&e);
    rag_status st = rag_tokenizer_load(path, &t, &e);
    if (st != want || !strstr(e.msg, needle))
        fail_msg("load %s: status %d '%s', want %d with '%s'", path, st, e.msg, want, needle);
    assert_null(t);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_hostile_files(void **state) {
    (void)state;
    char p[1200], dir[] = "/tmp/ragc_tok_XXXXXX";
    snprintf(p, sizeof p, "%s/not-json/tokenizer.json", g_fixtures);
    expect_load_error(p, RAG_E_BAD_INPUT, "not valid JSON");
    snprintf(p, sizeof p, "%s/not-json", g_fixtures); /* the directory form picks tokenizer.json */
    expect_load_error(p, RAG_E_BAD_INPUT, "not valid JSON");
    expect_load_error("/nonexistent/ragc/model", RAG_E_NOT_FOUND, "/nonexistent/ragc/model");

    assert_non_null(mkdtemp(dir));
    expect_load_error(dir, RAG_E_NOT_FOUND, "no tokenizer.json or vocab.txt");
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    const char *norm = "\"normalizer\":{\"type\":\"BertNormalizer\"},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}";
    struct {
        const char *json;
        rag_status st;
        const char *needle;
    } cases[] = {
        {"[1,2]", RAG_E_BAD_INPUT, "no \"model\" object"},
        {"{\"model\":{\"type\":\"WordPiece\"}}", RAG_E_BAD_INPUT, "model.vocab is missing"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", RAG_E_BAD_INPUT, "model.vocab is missing or empty"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}", RAG_E_UNSUPPORTED, "model type 'BPE'"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":\"x\"}}}", RAG_E_BAD_INPUT, "entry 'a'"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0,\"b\":0}}}", RAG_E_BAD_INPUT, "id 0 is used by two"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":99999999}}}", RAG_E_TOO_LARGE, "exceeds the cap"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0},\"max_input_chars_per_word\":0}}", RAG_E_BAD_INPUT,
         "max_input_chars_per_word"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}},\"normalizer\":{\"type\":\"NFKC\"}}",
         RAG_E_UNSUPPORTED, "normalizer type 'NFKC'"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}},\"normalizer\":null}", RAG_E_UNSUPPORTED,
         "pre_tokenizer"},
        {NULL, RAG_E_BAD_INPUT, "unknown-token '[UNK]' is not in the vocabulary"},
        {NULL, RAG_E_BAD_INPUT, "'[CLS]' / '[SEP]' are not in the vocabulary"},
    };
    char buf[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *json = cases[i].json;
        if (!json) {
            snprintf(buf, sizeof buf, "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{%s}},%s}",
                     i == 10 ? "\"a\":0" : "\"[UNK]\":0", norm);
            json = buf;
        }
        write_file(p, json);
        expect_load_error(p, cases[i].st, cases[i].needle);
    }
    unlink(p);
    /* vocab.txt directory with a broken tokenizer_config.json */
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    write_file(p, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    write_file(cfg, "{\"do_lower_case\": tru");
    expect_load_error(dir, RAG_E_BAD_INPUT, "tokenizer_config.json: not a JSON object");
    unlink(cfg);
    /* without the config: defaults (uncased) */
    rag_tokenizer *t = load(dir);
    EXPECT(t, "HELLO", 2, 4, 3);
    rag_tokenizer_free(t);
    write_file(p, "[PAD]\n\xff\xfe\n");
    expect_load_error(p, RAG_E_BAD_INPUT, "line 2 is not valid UTF-8");
    write_file(p, "");
    expect_load_error(p, RAG_E_EMPTY, "empty vocabulary");
    unlink(p);
    rmdir(dir);
}

static void test_hostile_text(void **state) {
    (void)state;
    rag_tokenizer *t = load_model(NULL);
    rag_encoding e = {0};
    rag_err err;
    /* invalid UTF-8 names the byte */
    assert_int_equal(rag_tokenizer_encode(t, "ok \xc3(", 5, 0, &e, &err), RAG_E_BAD_INPUT);
    assert_non_null(strstr(err.msg, "invalid UTF-8 at byte 3"));
    assert_int_equal(rag_tokenizer_encode(t, NULL, 5, 0, &e, &err), RAG_E_BAD_INPUT);
    assert_int_equal(rag_tokenizer_encode(t, NULL, 0, 0, &e, &err), RAG_OK);
    assert_int_equal(e.len, 2);
    rag_encoding_clear(&e);

    /* a 10 MB single "word": refused at once by the input cap */
    size_t big = 10u << 20;
    char *w = malloc(big + 1);
    assert_non_null(w);
    memset(w, 'x', big);
    w[big] = '\0';
    double t0 = rag_now_ms();
    assert_int_equal(rag_tokenizer_encode(t, w, big, 0, &e, &err), RAG_E_TOO_LARGE);
    assert_non_null(strstr(err.msg, "exceeds the tokenizer cap"));
    assert_int_equal(e.len, 0);
    /* the largest accepted single word (1 MiB) is one [UNK], in linear time */
    assert_int_equal(rag_tokenizer_encode(t, w, RAG_TOKENIZER_MAX_INPUT, 0, &e, &err), RAG_OK);
    assert_int_equal(e.len, 3);
    assert_int_equal(e.ids[1], UNK);
    rag_encoding_clear(&e);
    /* 1 MiB of 100-char words that only match letter by letter ("qxqx...": q, ##x, ##q, ...) */
    for (size_t i = 0; i < RAG_TOKENIZER_MAX_INPUT; i++) w[i] = (i % 101 == 100) ? ' ' : (i % 2 ? 'x' : 'q');
    assert_int_equal(rag_tokenizer_encode(t, w, RAG_TOKENIZER_MAX_INPUT, 0, &e, &err), RAG_OK);
    assert_true(e.len > 100000);
    rag_encoding_clear(&e);
    /* with max_len the work stops early */
    assert_int_equal(rag_tokenizer_encode(t, w, RAG_TOKENIZER_MAX_INPUT, 128, &e, &err), RAG_OK);
    assert_int_equal(e.len, 128);
    rag_encoding_clear(&e);
    /* 1 MiB of [SEP] markers and punctuation */
    for (size_t i = 0; i < RAG_TOKENIZER_MAX_INPUT; i++) w[i] = "[SEP]!"[i % 6];
    assert_int_equal(rag_tokenizer_encode(t, w, RAG_TOKENIZER_MAX_INPUT, 0, &e, &err), RAG_OK);
    assert_int_equal(e.ids[1], SEP);
    assert_int_equal(e.ids[2], 999);
    rag_encoding_clear(&e);
    double ms = rag_now_ms() - t0;
    free(w);
    if (ms > 5000) fail_msg("hostile texts took %.0f ms", ms);
    rag_tokenizer_free(t);
}

static int setup(void **state) {
    (void)state;
    paths();
    char p[1200];
    snprintf(p, sizeof p, "%s/vocab.txt", g_model_dir);
    if (access(p, R_OK) != 0) {
        fprintf(stderr, "missing %s (set RAGC_SHARED_DIR)\n", p);
        return -1;
    }
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_vocab_sentences),
        cmocka_unit_test(test_vocab_lookups),
        cmocka_unit_test(test_max_chars_per_word),
        cmocka_unit_test(test_truncation_single),
        cmocka_unit_test(test_pairs_longest_first),
        cmocka_unit_test(test_cased_vocab_txt_fixture),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_hostile_text),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
