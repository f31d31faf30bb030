/* Exact dense top-k scan time, f32 vs int8 (AVX2 and portable kernels), on a SciFact-sized space:
 * N random 384-d vectors in an in-memory store, top 200 of 200 queries, best of 5 rounds.
 * Built and run by bench/scifact_dense.sh; usage: bench_dense [N] [DIM]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/dense.h"
#include "ragc/store.h"

static int die(const char *what, const rag_err *e)
{
    fprintf(stderr, "bench_dense: %s: %s\n", what, e->msg);
    return 1;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 5812, dim = argc > 2 ? atoi(argv[2]) : 384;
    if (n < 1 || dim < 1 || dim > RAG_DENSE_MAX_DIM) {
        fprintf(stderr, "usage: bench_dense [N >= 1] [DIM 1..%d]\n", RAG_DENSE_MAX_DIM);
        return 2;
    }
    rag_store *s = NULL;
    rag_err e;
    rag_err_clear(&e);
    if (rag_store_open(":memory:", NULL, &s, &e) != RAG_OK)
        return die("store", &e);
    rag_doc_record d;
    memset(&d, 0, sizeof d);
    d.source = (char *)"bench";
    d.format = (char *)"text";
    snprintf(d.content_hash, sizeof d.content_hash, "%s", "0123456789abcdef0123456789abcdef");
    int64_t doc = 0;
    float *v = malloc((size_t)dim * sizeof *v);
    unsigned seed = 1;
    if (!v || rag_store_doc_put(s, &d, &doc, &e) != RAG_OK || rag_store_begin(s, &e) != RAG_OK)
        return die("setup", &e);
    for (int i = 0; i < n; i++) {
        rag_chunk_record c;
        memset(&c, 0, sizeof c);
        c.doc_id = doc;
        c.seq = i;
        c.text = (char *)"t";
        c.byte_end = 1;
        if (rag_store_chunk_put(s, &c, &e) != RAG_OK)
            return die("chunk", &e);
        for (int j = 0; j < dim; j++) {
            seed = seed * 1103515245u + 12345u;
            v[j] = (float)((int)(seed >> 16 & 0x7fff) - 16384);
        }
        if (rag_dense_put(s, "bench", c.id, v, dim, &e) != RAG_OK)
            return die("put", &e);
    }
    if (rag_store_commit(s, &e) != RAG_OK)
        return die("commit", &e);
    rag_dense_hit hits[200];
    for (int m = 0; m < 3; m++) {
        rag_dense_index_params p = rag_dense_index_default_params();
        p.precision = m ? RAG_DENSE_INT8 : RAG_DENSE_F32;
        p.portable_kernel = m == 2;
        rag_dense_index *idx = NULL;
        size_t nh;
        if (rag_dense_index_open(s, "bench", &p, &idx, &e) != RAG_OK ||
            rag_dense_index_search(idx, v, dim, 200, hits, &nh, &e) != RAG_OK) /* loads */
            return die("index", &e);
        double best = 1e300;
        for (int r = 0; r < 5; r++) {
            double t0 = rag_now_ms();
            for (int q = 0; q < 200; q++) {
                v[q % dim] += 1000.0f;
                if (rag_dense_index_search(idx, v, dim, 200, hits, &nh, &e) != RAG_OK)
                    return die("search", &e);
            }
            double t = (rag_now_ms() - t0) / 200;
            best = t < best ? t : best;
        }
        printf("%s\t%.3f ms per query\t%.2f MiB\n", rag_dense_index_kernel(idx), best,
               (double)rag_dense_index_bytes(idx) / (1 << 20));
        rag_dense_index_free(idx);
    }
    free(v);
    rag_store_close(s);
    return 0;
}
