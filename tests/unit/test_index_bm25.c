/* Unit tests for src/index/bm25.c: Lucene SmallFloat norms, hand-computed BM25 scores, top-k
 * order and ties, repeated and unknown query terms, document filter, delete consistency, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/bm25.h"
#include "ragc/store.h"

#define EPS 1e-12

/* One single-chunk document: up to 4 distinct terms with tf, and the chunk's field length. */
typedef struct spec {
    const char *source;
    const char *terms[4];
    uint32_t tf[4];
    uint32_t len;
} spec;

/* The 3-document corpus of the hand-computed tests: N = 3, sum of lengths 151, avgdl 50.333...
 * Lengths 10, 41, 100 quantize (SmallFloat intToByte4 -> byte4ToInt) to 10, 40, 96. */
static const spec CORPUS[3] = {
    {"A", {"apple", "banana", "filla"}, {2, 1, 7}, 10},
    {"B", {"apple", "cherry", "fillb"}, {1, 3, 37}, 41},
    {"C", {"banana", "cherry", "fillc"}, {4, 1, 95}, 100},
};

static rag_store *open_mem(void)
{
    rag_store *s = NULL;
    rag_err e;
    if (rag_store_open(":memory:", NULL, &s, &e) != RAG_OK)
        fail_msg("open: %s", e.msg);
    return s;
}

/* Ingests one document as the pipeline does (one transaction); returns its chunk id. */
static int64_t add_spec(rag_store *s, const spec *sp, int64_t *doc_id_out)
{
    rag_err e;
    rag_doc_record d;
    memset(&d, 0, sizeof d);
    d.source = (char *)sp->source;
    d.format = (char *)"text";
    memcpy(d.content_hash, "00000000000000000000000000000000", 33);
    int64_t doc_id = 0;
    rag_chunk_record c;
    memset(&c, 0, sizeof c);
    c.text = (char *)sp->source;
    rag_bm25_term terms[4];
    size_t n = 0;
    while (n < 4 && sp->terms[n]) {
        terms[n].term = sp->terms[n];
        terms[n].tf = sp->tf[n];
        n++;
    }
    if (rag_store_begin(s, &e) != RAG_OK || rag_store_doc_put(s, &d, &doc_id, &e) != RAG_OK)
        fail_msg("%s: %s", sp->source, e.msg);
    c.doc_id = doc_id;
    if (rag_store_chunk_put(s, &c, &e) != RAG_OK ||
        rag_bm25_add(s, c.id, terms, n, sp->len, &e) != RAG_OK ||
        rag_store_commit(s, &e) != RAG_OK)
        fail_msg("%s: %s", sp->source, e.msg);
    if (doc_id_out)
        *doc_id_out = doc_id;
    return c.id;
}

static size_t search(rag_store *s, const rag_bm25_params *p, const char *const *q, size_t nq,
                     size_t k, rag_bm25_hit *hits)
{
    size_t n = 99;
    rag_err e;
    if (rag_bm25_search(s, p, q, nq, k, hits, &n, &e) != RAG_OK)
        fail_msg("search: %s", e.msg);
    return n;
}

/* Index states every scoring test runs in: the same scores are expected in each. */
enum { ALL_PENDING, ALL_MERGED, MIXED, N_MODES };

static void merge(rag_store *s)
{
    rag_err e;
    if (rag_bm25_merge(s, &e) != RAG_OK)
        fail_msg("merge: %s", e.msg);
    rag_bm25_stats st;
    assert_int_equal(rag_bm25_get_stats(s, &st, NULL), RAG_OK);
    assert_int_equal(st.n_pending, 0);
    assert_int_equal(st.n_deleted, 0);
}

/* Builds CORPUS in a fresh in-memory store: all pending, all merged, or A and B merged with C
 * pending. id, doc: may be NULL. */
static rag_store *build_corpus(int mode, int64_t id[3], int64_t doc[3])
{
    rag_store *s = open_mem();
    for (int i = 0; i < 3; i++) {
        if (mode == MIXED && i == 2)
            merge(s);
        int64_t c = add_spec(s, &CORPUS[i], doc ? &doc[i] : NULL);
        if (id)
            id[i] = c;
    }
    if (mode == ALL_MERGED)
        merge(s);
    return s;
}

static void test_smallfloat_known_values(void **state)
{
    (void)state;
    /* Exact below NUM_FREE_VALUES (24), then 4 significant bits, truncating. */
    static const uint32_t len[] = {0, 1, 23, 24, 25, 31, 32, 40, 41, 42, 43, 100, 150, 1000};
    static const uint8_t byte[] = {0, 1, 23, 24, 25, 31, 32, 40, 40, 41, 41, 57, 63, 87};
    static const uint32_t back[] = {0, 1, 23, 24, 25, 31, 32, 40, 40, 42, 42, 96, 144, 984};
    for (size_t i = 0; i < sizeof len / sizeof *len; i++) {
        assert_int_equal(rag_bm25_int_to_byte4(len[i]), byte[i]);
        assert_int_equal(rag_bm25_byte4_to_int(byte[i]), back[i]);
        assert_int_equal(rag_bm25_quantize_length(len[i]), back[i]);
    }
    assert_int_equal(rag_bm25_int_to_byte4(INT32_MAX), 255);
    assert_int_equal(rag_bm25_int_to_byte4(UINT32_MAX), 255); /* clamped */
    assert_int_equal(rag_bm25_byte4_to_int(255), 2013265944u);
    /* Every byte round-trips, and decoding is strictly increasing. */
    for (int b = 0; b < 256; b++) {
        assert_int_equal(rag_bm25_int_to_byte4(rag_bm25_byte4_to_int((uint8_t)b)), b);
        if (b > 0)
            assert_true(rag_bm25_byte4_to_int((uint8_t)b) >
                        rag_bm25_byte4_to_int((uint8_t)(b - 1)));
    }
    /* Encoding never rounds up. */
    for (uint32_t v = 0; v < 5000; v++)
        assert_true(rag_bm25_quantize_length(v) <= v);
}

/* Hand-computed with k1 0.9, b 0.4, N 3, avgdl 151/3:
 *   apple:  df 2, idf = ln(1 + 1.5/2.5) = ln 1.6
 *   banana: df 2, cherry: df 2 (same idf)
 *   A apple  = ln1.6 * 2 / (2 + 0.9 * (0.6 + 0.4 * 10/avgdl))
 *   B apple  = ln1.6 * 1 / (1 + 0.9 * (0.6 + 0.4 * dl/avgdl)), dl = 40 quantized, 41 exact
 *   B cherry = ln1.6 * 3 / (3 + 0.9 * (0.6 + 0.4 * dl/avgdl))
 *   C banana = ln1.6 * 4 / (4 + 0.9 * (0.6 + 0.4 * dl/avgdl)), dl = 96 quantized, 100 exact
 *   C cherry = ln1.6 * 1 / (1 + ...same C norm...) */
static const double A_APPLE = 0.3599459756357766;
static const double B_APPLE_Q = 0.257382128150091, B_APPLE_X = 0.2563779640781233;
static const double A_BANANA = 0.2916517959073974;
static const double BC_Q = 0.3685250182578984, BC_X = 0.3678374003115273;   /* B cherry */
static const double C_BAN_CHE_Q = 0.5707833530063244, C_BAN_CHE_X = 0.5661474110255957;
static const double C_CHERRY_Q = 0.21108365955655845, C_CHERRY_X = 0.20840590831064215;

static void hand_computed_scores(int mode)
{
    int64_t id[3];
    rag_store *s = build_corpus(mode, id, NULL);
    rag_bm25_stats st;
    assert_int_equal(rag_bm25_get_stats(s, &st, NULL), RAG_OK);
    assert_int_equal(st.n_docs, 3);
    assert_int_equal(st.sum_len, 151);
    assert_int_equal(st.n_postings, 9);
    int64_t df = -1;
    assert_int_equal(rag_bm25_df(s, "cherry", &df, NULL), RAG_OK);
    assert_int_equal(df, 2);

    rag_bm25_params q = rag_bm25_default_params();
    rag_bm25_params x = q;
    x.lucene_length_quantization = false;
    rag_bm25_hit h[5];
    const char *apple[] = {"apple"};
    assert_int_equal(search(s, &q, apple, 1, 5, h), 2);
    assert_int_equal(h[0].chunk_id, id[0]);
    assert_float_equal(h[0].score, A_APPLE, EPS);
    assert_int_equal(h[1].chunk_id, id[1]);
    assert_float_equal(h[1].score, B_APPLE_Q, EPS);
    assert_int_equal(search(s, &x, apple, 1, 5, h), 2);
    assert_float_equal(h[0].score, A_APPLE, EPS); /* length 10 is exact either way */
    assert_float_equal(h[1].score, B_APPLE_X, EPS);

    const char *bc[] = {"banana", "cherry"};
    assert_int_equal(search(s, &q, bc, 2, 5, h), 3);
    assert_int_equal(h[0].chunk_id, id[2]);
    assert_float_equal(h[0].score, C_BAN_CHE_Q, EPS);
    assert_int_equal(h[1].chunk_id, id[1]);
    assert_float_equal(h[1].score, BC_Q, EPS);
    assert_int_equal(h[2].chunk_id, id[0]);
    assert_float_equal(h[2].score, A_BANANA, EPS);
    assert_int_equal(search(s, &x, bc, 2, 5, h), 3);
    assert_float_equal(h[0].score, C_BAN_CHE_X, EPS);
    assert_float_equal(h[1].score, BC_X, EPS);
    assert_float_equal(h[2].score, A_BANANA, EPS);

    /* NULL params are the defaults. */
    assert_int_equal(search(s, NULL, bc, 2, 5, h), 3);
    assert_float_equal(h[0].score, C_BAN_CHE_Q, EPS);
    rag_store_close(s);
}

static void test_hand_computed_scores(void **state)
{
    (void)state;
    for (int mode = 0; mode < N_MODES; mode++)
        hand_computed_scores(mode);
}

static void repeated_and_unknown_terms(int mode)
{
    int64_t id[3];
    rag_store *s = build_corpus(mode, id, NULL);
    rag_bm25_hit h[5];
    /* "apple" twice weighs apple twice: B = 2 * apple + cherry, A = 2 * apple, C = cherry. */
    const char *q[] = {"apple", "cherry", "apple"};
    assert_int_equal(search(s, NULL, q, 3, 5, h), 3);
    assert_int_equal(h[0].chunk_id, id[1]);
    assert_float_equal(h[0].score, 2 * B_APPLE_Q + BC_Q, EPS);
    assert_int_equal(h[1].chunk_id, id[0]);
    assert_float_equal(h[1].score, 2 * A_APPLE, EPS);
    assert_int_equal(h[2].chunk_id, id[2]);
    assert_float_equal(h[2].score, C_CHERRY_Q, EPS);
    rag_bm25_params x = rag_bm25_default_params();
    x.lucene_length_quantization = false;
    assert_int_equal(search(s, &x, q, 3, 5, h), 3);
    assert_float_equal(h[2].score, C_CHERRY_X, EPS);

    /* Unknown terms match nothing and change nothing. */
    const char *unknown[] = {"zebra", ""};
    assert_int_equal(search(s, NULL, unknown, 2, 5, h), 0);
    const char *mixed[] = {"zebra", "apple"};
    assert_int_equal(search(s, NULL, mixed, 2, 5, h), 2);
    assert_float_equal(h[0].score, A_APPLE, EPS);
    /* k smaller than the matches keeps the best; k 0 and no terms return nothing. */
    assert_int_equal(search(s, NULL, q, 3, 1, h), 1);
    assert_int_equal(h[0].chunk_id, id[1]);
    assert_int_equal(search(s, NULL, q, 3, 0, h), 0);
    assert_int_equal(search(s, NULL, q, 0, 5, h), 0);
    rag_store_close(s);
}

static void test_repeated_and_unknown_terms(void **state)
{
    (void)state;
    for (int mode = 0; mode < N_MODES; mode++)
        repeated_and_unknown_terms(mode);
}

static void test_ties_by_chunk_id(void **state)
{
    (void)state;
    rag_store *s = open_mem();
    int64_t ids[60];
    char names[60][16];
    for (int i = 0; i < 60; i++) {
        snprintf(names[i], sizeof names[i], "same-%02d", i);
        /* 50 identical chunks (equal scores) and 10 weaker ones (longer). */
        spec sp = {names[i], {"tie", "pad"}, {2, 3}, i < 50 ? 5 : 500};
        ids[i] = add_spec(s, &sp, NULL);
    }
    rag_bm25_hit h[12];
    const char *q[] = {"tie"};
    assert_int_equal(search(s, NULL, q, 1, 12, h), 12);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(h[i].chunk_id, ids[i]); /* the 12 smallest ids among the tied 50 */
        assert_float_equal(h[i].score, h[0].score, 0.0);
    }
    rag_bm25_hit all[60];
    assert_int_equal(search(s, NULL, q, 1, 60, all), 60);
    for (int i = 0; i < 60; i++)
        assert_int_equal(all[i].chunk_id, ids[i]);
    assert_true(all[49].score > all[50].score);
    rag_store_close(s);
}

/* Deterministic LCG for the randomized comparison. */
static uint32_t rnd(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*x >> 33);
}

typedef struct scored {
    int64_t id;
    double score;
} scored;

static int cmp_scored(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static void test_top_k_matches_brute_force(void **state)
{
    (void)state;
    enum { N = 300, V = 30, Q = 6 };
    static const char *vocab[V];
    static char vbuf[V][8];
    for (int v = 0; v < V; v++) {
        snprintf(vbuf[v], sizeof vbuf[v], "t%02d", v);
        vocab[v] = vbuf[v];
    }
    static uint32_t tf[N][V];
    static uint32_t len[N];
    static int64_t ids[N], doc_ids[N];
    static char names[N][16];
    uint64_t seed = 42;
    rag_store *s = open_mem();
    int64_t sum = 0;
    for (int d = 0; d < N; d++) {
        if (d == 100 || d == 200)
            merge(s); /* the index ends up merged, tombstoned and pending */
        rag_bm25_term terms[V];
        size_t n = 0;
        uint32_t total = 0;
        for (int v = 0; v < V; v++) {
            /* Zipf-ish: low term numbers are common. */
            if (rnd(&seed) % (v + 2) == 0) {
                tf[d][v] = 1 + rnd(&seed) % 4;
                terms[n].term = vocab[v];
                terms[n].tf = tf[d][v];
                total += tf[d][v];
                n++;
            }
        }
        len[d] = total + rnd(&seed) % 200;
        snprintf(names[d], sizeof names[d], "r%03d", d);
        rag_doc_record dr;
        memset(&dr, 0, sizeof dr);
        dr.source = names[d];
        dr.format = (char *)"text";
        memcpy(dr.content_hash, "00000000000000000000000000000000", 33);
        int64_t doc_id;
        assert_int_equal(rag_store_doc_put(s, &dr, &doc_id, NULL), RAG_OK);
        rag_chunk_record c;
        memset(&c, 0, sizeof c);
        c.doc_id = doc_id;
        c.text = names[d];
        assert_int_equal(rag_store_chunk_put(s, &c, NULL), RAG_OK);
        ids[d] = c.id;
        doc_ids[d] = doc_id;
        assert_int_equal(rag_bm25_add(s, c.id, terms, n, len[d], NULL), RAG_OK);
    }
    /* Delete every 7th document (merged ones leave tombstones, pending ones vanish). */
    for (int d = 0; d < N; d += 7) {
        assert_int_equal(rag_store_doc_delete(s, doc_ids[d], NULL), RAG_OK);
        memset(tf[d], 0, sizeof tf[d]);
    }
    for (int d = 0; d < N; d++) {
        bool any = false;
        for (int v = 0; v < V; v++)
            any |= tf[d][v] > 0;
        if (any)
            sum += len[d];
    }
    rag_bm25_stats st;
    assert_int_equal(rag_bm25_get_stats(s, &st, NULL), RAG_OK);
    assert_true(st.n_pending > 0 && st.n_deleted > 0);
    for (int trial = 0; trial < 20; trial++) {
        const char *q[Q];
        for (int i = 0; i < Q; i++)
            q[i] = vocab[rnd(&seed) % V];
        bool quant = trial % 2 == 0;
        /* Brute force over every document. */
        int64_t n_docs = 0;
        for (int d = 0; d < N; d++) {
            bool any = false;
            for (int v = 0; v < V; v++)
                any |= tf[d][v] > 0;
            n_docs += any;
        }
        double avgdl = (double)sum / (double)n_docs;
        scored all[N];
        size_t n_match = 0;
        for (int d = 0; d < N; d++) {
            double sc = 0;
            bool match = false;
            for (int i = 0; i < Q; i++) {
                int v = atoi(q[i] + 1);
                if (!tf[d][v])
                    continue;
                int df = 0;
                for (int e = 0; e < N; e++)
                    df += tf[e][v] > 0;
                double idf = log(1 + (n_docs - df + 0.5) / (df + 0.5));
                double dl = quant ? rag_bm25_quantize_length(len[d]) : len[d];
                sc += idf * tf[d][v] / (tf[d][v] + 0.9 * (0.6 + 0.4 * dl / avgdl));
                match = true;
            }
            if (match)
                all[n_match++] = (scored){ids[d], sc};
        }
        qsort(all, n_match, sizeof *all, cmp_scored);
        rag_bm25_params p = rag_bm25_default_params();
        p.lucene_length_quantization = quant;
        rag_bm25_hit h[25];
        size_t got = search(s, &p, q, Q, 25, h);
        assert_int_equal(got, n_match < 25 ? n_match : 25);
        for (size_t i = 0; i < got; i++) {
            assert_int_equal(h[i].chunk_id, all[i].id);
            assert_float_equal(h[i].score, all[i].score, 1e-9);
        }
    }
    rag_store_close(s);
}

static void doc_filter(int mode)
{
    int64_t doc[3], id[3];
    rag_store *s = build_corpus(mode, id, doc);
    rag_bm25_params p = rag_bm25_default_params();
    int64_t only_c[] = {doc[2]};
    p.doc_ids = only_c;
    p.n_doc_ids = 1;
    rag_bm25_hit h[5];
    const char *bc[] = {"banana", "cherry"};
    /* Restricted to C, with the whole corpus's statistics (same score as unfiltered). */
    assert_int_equal(search(s, &p, bc, 2, 5, h), 1);
    assert_int_equal(h[0].chunk_id, id[2]);
    assert_float_equal(h[0].score, C_BAN_CHE_Q, EPS);
    int64_t a_and_b[] = {doc[1], doc[0], 9999 /* unknown ids are ignored */};
    p.doc_ids = a_and_b;
    p.n_doc_ids = 3;
    assert_int_equal(search(s, &p, bc, 2, 5, h), 2);
    assert_int_equal(h[0].chunk_id, id[1]);
    assert_int_equal(h[1].chunk_id, id[0]);
    const char *apple[] = {"apple"};
    int64_t none_match[] = {doc[2]};
    p.doc_ids = none_match;
    p.n_doc_ids = 1;
    assert_int_equal(search(s, &p, apple, 1, 5, h), 0);
    rag_store_close(s);
}

static void test_doc_filter(void **state)
{
    (void)state;
    for (int mode = 0; mode < N_MODES; mode++)
        doc_filter(mode);
}

/* Scores of a query keyed by chunk text (the source name), for comparing two stores. */
static void expect_same_ranking(rag_store *a, rag_store *b, const char *const *q, size_t nq)
{
    rag_bm25_hit ha[10], hb[10];
    size_t na = search(a, NULL, q, nq, 10, ha), nb = search(b, NULL, q, nq, 10, hb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        rag_chunk_record ca, cb;
        assert_int_equal(rag_store_chunk_get(a, ha[i].chunk_id, &ca, NULL), RAG_OK);
        assert_int_equal(rag_store_chunk_get(b, hb[i].chunk_id, &cb, NULL), RAG_OK);
        assert_string_equal(ca.text, cb.text);
        assert_float_equal(ha[i].score, hb[i].score, 0.0); /* exactly equal */
        rag_chunk_record_clear(&ca);
        rag_chunk_record_clear(&cb);
    }
}

static void expect_same_stats(rag_store *a, rag_store *b)
{
    rag_bm25_stats sa, sb;
    assert_int_equal(rag_bm25_get_stats(a, &sa, NULL), RAG_OK);
    assert_int_equal(rag_bm25_get_stats(b, &sb, NULL), RAG_OK);
    assert_int_equal(sa.n_docs, sb.n_docs);
    assert_int_equal(sa.sum_len, sb.sum_len);
    assert_int_equal(sa.n_postings, sb.n_postings);
}

static const spec EXTRA[3] = {
    {"X", {"apple", "banana", "cherry", "fillx"}, {5, 5, 5, 300}, 315},
    {"Y", {"cherry", "date"}, {1, 1}, 2},
    {"Z", {"apple", "date", "fillz"}, {2, 2, 30}, 34},
};

/* Every query's ranking, scores and df agree between a and b. */
static void expect_same_index(rag_store *a, rag_store *b)
{
    static const char *queries[][3] = {{"apple"}, {"banana", "cherry"},
                                       {"apple", "apple", "date"}, {"fillx", "cherry"},
                                       {"date", "fillz", "zebra"}};
    static const size_t nq[] = {1, 2, 3, 2, 3};
    expect_same_stats(a, b);
    for (size_t i = 0; i < sizeof nq / sizeof *nq; i++) {
        expect_same_ranking(a, b, queries[i], nq[i]);
        for (size_t j = 0; j < nq[i]; j++) {
            int64_t da = -1, db = -2;
            assert_int_equal(rag_bm25_df(a, queries[i][j], &da, NULL), RAG_OK);
            assert_int_equal(rag_bm25_df(b, queries[i][j], &db, NULL), RAG_OK);
            assert_int_equal(da, db);
        }
    }
}

/* Deleting documents leaves the index exactly as if they had never been added, whether their
 * chunks were pending (never merged) or merged (tombstoned), before and after the next merge. */
static void test_delete_consistency(void **state)
{
    (void)state;
    rag_store *fresh = build_corpus(ALL_PENDING, NULL, NULL);
    for (int merged = 0; merged < 2; merged++) {
        rag_store *s = open_mem();
        int64_t dx, dy;
        add_spec(s, &CORPUS[0], NULL);
        add_spec(s, &EXTRA[0], &dx);
        add_spec(s, &CORPUS[1], NULL);
        if (merged)
            merge(s);
        add_spec(s, &EXTRA[1], &dy); /* always pending */
        add_spec(s, &CORPUS[2], NULL);
        assert_int_equal(rag_store_doc_delete(s, dx, NULL), RAG_OK);
        assert_int_equal(rag_store_begin(s, NULL), RAG_OK);
        assert_int_equal(rag_store_doc_delete(s, dy, NULL), RAG_OK);
        assert_int_equal(rag_store_commit(s, NULL), RAG_OK);
        rag_bm25_stats st;
        assert_int_equal(rag_bm25_get_stats(s, &st, NULL), RAG_OK);
        assert_int_equal(st.n_deleted, merged ? 1 : 0);
        expect_same_index(s, fresh);
        merge(s); /* tombstones applied */
        expect_same_index(s, fresh);
        rag_store_close(s);
    }

    /* Replacing a document (same source), merged or pending, keeps the index exact too. */
    for (int merged = 0; merged < 2; merged++) {
        spec b_old = {"B", {"apple", "date", "fillb"}, {9, 9, 9}, 27};
        rag_store *r = open_mem();
        add_spec(r, &CORPUS[0], NULL);
        add_spec(r, &b_old, NULL);
        add_spec(r, &CORPUS[2], NULL);
        if (merged)
            merge(r);
        add_spec(r, &CORPUS[1], NULL); /* replaces b_old */
        expect_same_index(r, fresh);
        merge(r);
        expect_same_index(r, fresh);
        rag_store_close(r);
    }
    rag_store_close(fresh);
}

/* SQLite reuses the largest rowid after a delete: a tombstoned chunk id can come back as a
 * pending chunk. The tombstone must hide only the old postings. */
static void test_reused_chunk_id(void **state)
{
    (void)state;
    rag_store *want = build_corpus(ALL_PENDING, NULL, NULL);
    add_spec(want, &EXTRA[2], NULL);

    rag_store *s = build_corpus(ALL_PENDING, NULL, NULL);
    int64_t dx;
    int64_t x = add_spec(s, &EXTRA[0], &dx);
    merge(s);
    assert_int_equal(rag_store_doc_delete(s, dx, NULL), RAG_OK);
    int64_t z = add_spec(s, &EXTRA[2], NULL);
    assert_int_equal(z, x); /* the premise of this test */
    rag_bm25_stats st;
    assert_int_equal(rag_bm25_get_stats(s, &st, NULL), RAG_OK);
    assert_int_equal(st.n_deleted, 1);
    assert_int_equal(st.n_pending, 1);
    expect_same_index(s, want);
    merge(s);
    expect_same_index(s, want);
    rag_store_close(s);
    rag_store_close(want);
}

/* rag_bm25_add merges by itself once 1,024 chunks are pending. */
static void test_auto_merge(void **state)
{
    (void)state;
    rag_store *s = open_mem();
    char name[32];
    for (int i = 0; i < 1100; i++) {
        snprintf(name, sizeof name, "auto-%04d", i);
        spec sp = {name, {"common", i % 2 ? "odd" : "even"}, {1, 1}, 2};
        add_spec(s, &sp, NULL);
    }
    rag_bm25_stats st;
    assert_int_equal(rag_bm25_get_stats(s, &st, NULL), RAG_OK);
    assert_int_equal(st.n_docs, 1100);
    assert_int_equal(st.n_postings, 2200);
    assert_true(st.n_pending < 1024);
    int64_t df;
    assert_int_equal(rag_bm25_df(s, "odd", &df, NULL), RAG_OK);
    assert_int_equal(df, 550);
    assert_int_equal(rag_bm25_df(s, "common", &df, NULL), RAG_OK);
    assert_int_equal(df, 1100);
    rag_store_close(s);
}

static void test_rollback_restores_index(void **state)
{
    (void)state;
    rag_store *s = open_mem();
    for (int i = 0; i < 3; i++)
        add_spec(s, &CORPUS[i], NULL);
    rag_bm25_stats before, after;
    assert_int_equal(rag_bm25_get_stats(s, &before, NULL), RAG_OK);
    assert_int_equal(rag_store_begin(s, NULL), RAG_OK);
    rag_doc_record d;
    memset(&d, 0, sizeof d);
    d.source = (char *)"A"; /* replaces A inside the transaction */
    d.format = (char *)"text";
    memcpy(d.content_hash, "11111111111111111111111111111111", 33);
    int64_t doc_id;
    assert_int_equal(rag_store_doc_put(s, &d, &doc_id, NULL), RAG_OK);
    rag_chunk_record c;
    memset(&c, 0, sizeof c);
    c.doc_id = doc_id;
    c.text = (char *)"new";
    assert_int_equal(rag_store_chunk_put(s, &c, NULL), RAG_OK);
    rag_bm25_term t[] = {{"apple", 50}};
    assert_int_equal(rag_bm25_add(s, c.id, t, 1, 50, NULL), RAG_OK);
    assert_int_equal(rag_store_rollback(s, NULL), RAG_OK);
    assert_int_equal(rag_bm25_get_stats(s, &after, NULL), RAG_OK);
    assert_int_equal(after.n_docs, before.n_docs);
    assert_int_equal(after.sum_len, before.sum_len);
    assert_int_equal(after.n_postings, before.n_postings);
    rag_bm25_hit h[3];
    const char *apple[] = {"apple"};
    assert_int_equal(search(s, NULL, apple, 1, 3, h), 2);
    assert_float_equal(h[0].score, A_APPLE, EPS);
    rag_store_close(s);
}

static void test_add_errors(void **state)
{
    (void)state;
    rag_store *s = open_mem();
    int64_t id = add_spec(s, &CORPUS[0], NULL);
    rag_bm25_stats before, after;
    assert_int_equal(rag_bm25_get_stats(s, &before, NULL), RAG_OK);
    rag_err e;
    rag_bm25_term one[] = {{"kiwi", 1}};
    assert_int_equal(rag_bm25_add(s, 777, one, 1, 1, &e), RAG_E_NOT_FOUND);
    assert_string_equal(e.msg, "bm25 add: chunk id 777 not in store");
    assert_int_equal(rag_bm25_add(s, id, one, 1, 1, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "bm25 add: chunk id 1 is already indexed");

    /* A second chunk with bad terms: nothing of it is indexed. */
    rag_chunk_record c;
    memset(&c, 0, sizeof c);
    c.doc_id = 1;
    c.seq = 1;
    c.text = (char *)"second";
    assert_int_equal(rag_store_chunk_put(s, &c, NULL), RAG_OK);
    rag_bm25_term dup[] = {{"kiwi", 1}, {"lime", 2}, {"kiwi", 3}};
    assert_int_equal(rag_bm25_add(s, c.id, dup, 3, 6, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "bm25 add: chunk 2: term 'kiwi' given more than once");
    rag_bm25_term zero[] = {{"kiwi", 0}};
    assert_int_equal(rag_bm25_add(s, c.id, zero, 1, 1, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "bm25 add: chunk 2: term 'kiwi' has tf 0");
    rag_bm25_term empty[] = {{"", 1}};
    assert_int_equal(rag_bm25_add(s, c.id, empty, 1, 1, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "bm25 add: chunk 2: term 0 is empty");
    rag_bm25_term badutf[] = {{"ok", 1}, {"b\xc3", 1}};
    assert_int_equal(rag_bm25_add(s, c.id, badutf, 2, 2, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "bm25 add: chunk 2: term 1: invalid UTF-8 at byte 1");
    rag_bm25_term nul[] = {{NULL, 1}};
    assert_int_equal(rag_bm25_add(s, c.id, nul, 1, 1, &e), RAG_E_BAD_INPUT);
    char *huge = malloc(RAG_BM25_MAX_TERM_BYTES + 2);
    memset(huge, 'a', RAG_BM25_MAX_TERM_BYTES + 1);
    huge[RAG_BM25_MAX_TERM_BYTES + 1] = '\0';
    rag_bm25_term big[] = {{huge, 1}};
    assert_int_equal(rag_bm25_add(s, c.id, big, 1, 1, &e), RAG_E_TOO_LARGE);
    free(huge);
    assert_int_equal(rag_bm25_get_stats(s, &after, NULL), RAG_OK);
    assert_int_equal(after.n_docs, before.n_docs);
    assert_int_equal(after.n_postings, before.n_postings);
    assert_int_equal(after.sum_len, before.sum_len);
    /* No terms: not indexed, not counted (Lucene docCount counts docs with the field). */
    assert_int_equal(rag_bm25_add(s, c.id, NULL, 0, 0, NULL), RAG_OK);
    assert_int_equal(rag_bm25_get_stats(s, &after, NULL), RAG_OK);
    assert_int_equal(after.n_docs, before.n_docs);
    /* The chunk can still be indexed properly afterwards. */
    rag_bm25_term good[] = {{"kiwi", 1}, {"lime", 2}};
    assert_int_equal(rag_bm25_add(s, c.id, good, 2, 3, NULL), RAG_OK);
    assert_int_equal(rag_bm25_get_stats(s, &after, NULL), RAG_OK);
    assert_int_equal(after.n_docs, before.n_docs + 1);
    assert_int_equal(after.n_postings, before.n_postings + 2);
    rag_store_close(s);
}

static void test_search_errors(void **state)
{
    (void)state;
    rag_store *s = open_mem();
    rag_bm25_hit h[2];
    size_t n = 7;
    rag_err e;
    const char *q[] = {"apple"};
    /* Empty index: no hits, no error. */
    assert_int_equal(rag_bm25_search(s, NULL, q, 1, 2, h, &n, &e), RAG_OK);
    assert_int_equal(n, 0);
    add_spec(s, &CORPUS[0], NULL);
    rag_bm25_params p = rag_bm25_default_params();
    p.k1 = -1;
    assert_int_equal(rag_bm25_search(s, &p, q, 1, 2, h, &n, &e), RAG_E_CONFIG);
    assert_string_equal(e.msg, "bm25 k1 -1: must be finite and >= 0");
    p = rag_bm25_default_params();
    p.b = 1.5;
    assert_int_equal(rag_bm25_search(s, &p, q, 1, 2, h, &n, &e), RAG_E_CONFIG);
    assert_string_equal(e.msg, "bm25 b 1.5: must be within [0, 1]");
    p.b = NAN;
    assert_int_equal(rag_bm25_search(s, &p, q, 1, 2, h, &n, &e), RAG_E_CONFIG);
    const char *withnull[] = {"apple", NULL};
    assert_int_equal(rag_bm25_search(s, NULL, withnull, 2, 2, h, &n, &e), RAG_E_BAD_INPUT);
    assert_string_equal(e.msg, "bm25 query: term 1 is NULL");
    assert_int_equal(rag_bm25_search(s, NULL, q, 1, 2, NULL, &n, &e), RAG_E_BAD_INPUT);
    size_t many = RAG_BM25_MAX_QUERY_TERMS + 1;
    const char **lots = malloc(many * sizeof *lots);
    for (size_t i = 0; i < many; i++)
        lots[i] = "apple";
    assert_int_equal(rag_bm25_search(s, NULL, lots, many, 2, h, &n, &e), RAG_E_TOO_LARGE);
    assert_non_null(strstr(e.msg, "exceeds the cap"));
    /* At the cap it works: one term counted many times. */
    assert_int_equal(rag_bm25_search(s, NULL, lots, many - 1, 2, h, &n, &e), RAG_OK);
    assert_int_equal(n, 1);
    assert_float_equal(h[0].score, (double)(many - 1) * log(1 + 0.5 / 1.5) * 2 /
                       (2 + 0.9), 1e-9); /* N 1, df 1, dl = avgdl */
    free(lots);
    rag_store_close(s);
}

/* Damaged index blobs give a clear RAG_E_STORE error, never a crash or a silent wrong score. */
static void test_corrupt_blobs(void **state)
{
    (void)state;
    /* Truncated postings, df larger than the blob, trailing bytes, a bad pending forward list. */
    static const char *damage[] = {
        "UPDATE bm25_terms SET postings = x'ff' WHERE term = 'cherry'",
        "UPDATE bm25_terms SET df = df + 1 WHERE term = 'cherry'",
        "UPDATE bm25_terms SET postings = postings || x'0101' WHERE term = 'cherry'",
        "UPDATE bm25_docs SET terms = x'05' WHERE chunk_id = 3",
    };
    for (size_t i = 0; i < sizeof damage / sizeof *damage; i++) {
        rag_store *s = build_corpus(MIXED, NULL, NULL);
        assert_int_equal(sqlite3_exec(rag_store_db(s), damage[i], NULL, NULL, NULL), SQLITE_OK);
        const char *q[] = {"apple", "cherry"};
        rag_bm25_hit h[3];
        size_t n;
        rag_err e;
        assert_int_equal(rag_bm25_search(s, NULL, q, 2, 3, h, &n, &e), RAG_E_STORE);
        assert_int_equal(n, 0);
        assert_non_null(strstr(e.msg, ":memory:: bm25 index corrupt: "));
        /* A merge refuses too, and leaves the index as it was. */
        assert_int_equal(rag_bm25_merge(s, &e), RAG_E_STORE);
        assert_non_null(strstr(e.msg, "bm25 index corrupt"));
        rag_bm25_stats st;
        assert_int_equal(rag_bm25_get_stats(s, &st, NULL), RAG_OK);
        assert_int_equal(st.n_pending, 1);
        rag_store_close(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smallfloat_known_values),
        cmocka_unit_test(test_hand_computed_scores),
        cmocka_unit_test(test_repeated_and_unknown_terms),
        cmocka_unit_test(test_ties_by_chunk_id),
        cmocka_unit_test(test_top_k_matches_brute_force),
        cmocka_unit_test(test_doc_filter),
        cmocka_unit_test(test_delete_consistency),
        cmocka_unit_test(test_reused_chunk_id),
        cmocka_unit_test(test_auto_merge),
        cmocka_unit_test(test_rollback_restores_index),
        cmocka_unit_test(test_add_errors),
        cmocka_unit_test(test_search_errors),
        cmocka_unit_test(test_corrupt_blobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
