/* libFuzzer target: the safetensors reader (include/ragc/safetensors.h) on arbitrary bytes, the
 * whole input being the file: rag_st_open_memory on the input and rag_st_open on the same bytes
 * in a scratch file (the mmap path).
 *
 * Invariants: both entry points agree (status, tensor count, names, shapes, offsets); a failure
 * carries a message naming the input ("<memory>" or the path); on success every tensor has a
 * unique name found by rag_st_find, at most RAG_ST_MAX_DIMS non-negative dims (0 beyond n_dims),
 * nbytes == prod(shape) * dtype size, data inside the data section (after the 8-byte length and
 * the header), no two non-empty tensors overlap, and rag_st_read_f32 converts F32 (bit-exact),
 * F16, BF16 and F64 tensors, refuses other dtypes with RAG_E_UNSUPPORTED and a wrong element
 * count with RAG_E_BAD_INPUT. Suggested -max_len: 16384.
 */
#include "fuzz_common.h"

#include "ragc/safetensors.h"

typedef struct span {
    uintptr_t begin, end;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static void check_tensor(const rag_st_file *f, const rag_st_tensor *t, const uint8_t *data_begin,
                         const uint8_t *data_end)
{
    FUZZ_CHECK(t && t->name);
    FUZZ_CHECK(rag_st_find(f, t->name) == t);
    FUZZ_CHECK(t->n_dims <= RAG_ST_MAX_DIMS);
    size_t es = rag_st_dtype_size(t->dtype);
    FUZZ_CHECK(es >= 1 && es <= 8);
    uint64_t elems = 1;
    for (size_t k = 0; k < RAG_ST_MAX_DIMS; k++) {
        FUZZ_CHECK(t->shape[k] >= 0);
        if (k >= t->n_dims)
            FUZZ_CHECK(t->shape[k] == 0);
        else
            elems *= (uint64_t)t->shape[k]; /* bounded: validated against the data section */
    }
    FUZZ_CHECK(elems * es == t->nbytes);
    const uint8_t *p = t->data;
    FUZZ_CHECK(p >= data_begin && p <= data_end && t->nbytes <= (size_t)(data_end - p));

    size_t n = (size_t)elems;
    float *dst = malloc((n ? n : 1) * sizeof *dst);
    if (!dst)
        abort();
    rag_err err;
    rag_status st = rag_st_read_f32(t, dst, n, &err);
    switch (t->dtype) {
    case RAG_ST_F32:
        FUZZ_CHECK(st == RAG_OK && (n == 0 || !memcmp(dst, p, n * 4)));
        break;
    case RAG_ST_F16:
    case RAG_ST_BF16:
    case RAG_ST_F64:
        FUZZ_CHECK(st == RAG_OK);
        break;
    default:
        FUZZ_CHECK(st == RAG_E_UNSUPPORTED && strstr(err.msg, t->name));
    }
    FUZZ_CHECK(rag_st_read_f32(t, dst, n + 1, &err) == RAG_E_BAD_INPUT);
    free(dst);
}

/* Opens the input both ways and checks both handles. */
static void check_file(const uint8_t *data, size_t size)
{
    rag_st_file *fm = NULL, *ff = NULL;
    rag_err em, ef;
    rag_status sm = rag_st_open_memory(data, size, &fm, &em);
    const char *path = fuzz_write_file(".safetensors", data, size);
    rag_status sf = rag_st_open(path, &ff, &ef);
    FUZZ_CHECK(sm == sf);
    if (sm != RAG_OK) {
        FUZZ_CHECK(fm == NULL && ff == NULL);
        FUZZ_CHECK(em.status == sm && strstr(em.msg, "<memory>"));
        FUZZ_CHECK(ef.status == sf && strstr(ef.msg, path));
        return;
    }
    FUZZ_CHECK(fm && ff && size >= 8);
    size_t n = rag_st_count(fm);
    FUZZ_CHECK(n == rag_st_count(ff) && rag_st_at(fm, n) == NULL);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | data[i];
    FUZZ_CHECK(hlen <= size - 8);
    const uint8_t *data_begin = data + 8 + hlen, *data_end = data + size;
    span *spans = malloc((n ? n : 1) * sizeof *spans);
    if (!spans)
        abort();
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        const rag_st_tensor *t = rag_st_at(fm, i), *u = rag_st_at(ff, i);
        check_tensor(fm, t, data_begin, data_end);
        FUZZ_CHECK(u && !strcmp(t->name, u->name) && t->dtype == u->dtype && t->n_dims == u->n_dims &&
                   t->nbytes == u->nbytes && !memcmp(t->shape, u->shape, sizeof t->shape));
        /* same layout: offsets relative to the first tensor's data agree */
        FUZZ_CHECK((const uint8_t *)t->data - (const uint8_t *)rag_st_at(fm, 0)->data ==
                   (const uint8_t *)u->data - (const uint8_t *)rag_st_at(ff, 0)->data);
        if (t->nbytes)
            spans[ns++] = (span){(uintptr_t)t->data, (uintptr_t)t->data + t->nbytes};
    }
    qsort(spans, ns, sizeof *spans, cmp_span);
    for (size_t i = 1; i < ns; i++)
        FUZZ_CHECK(spans[i].begin >= spans[i - 1].end);
    free(spans);
    const char *meta = rag_st_metadata(fm, "format");
    const char *meta2 = rag_st_metadata(ff, "format");
    FUZZ_CHECK((meta == NULL) == (meta2 == NULL) && (!meta || !strcmp(meta, meta2)));
    const rag_st_tensor *x = rag_st_find(fm, "embeddings.word_embeddings.weight");
    FUZZ_CHECK(!x || !strcmp(x->name, "embeddings.word_embeddings.weight"));
    rag_st_close(ff);
    rag_st_close(fm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_file(data, size);
    return 0;
}
