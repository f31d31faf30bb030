/* BM25 blob encodings (forward lists, postings) and the chunk-id map. Formats: bm25_internal.h. */
#include "index/bm25_internal.h"

#include <stdlib.h>
#include <string.h>

static bool bytes_reserve(bytes *b, size_t extra)
{
    if (b->cap - b->n >= extra)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < extra) {
        if (cap > SIZE_MAX / 2)
            return false;
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

bool bytes_put_varint(bytes *b, uint64_t v)
{
    if (!bytes_reserve(b, 10))
        return false;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        b->p[b->n++] = byte | (v ? 0x80 : 0);
    } while (v);
    return true;
}

bool bytes_put(bytes *b, const void *p, size_t n)
{
    if (!bytes_reserve(b, n))
        return false;
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    return true;
}

void bytes_free(bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *q = *p;
    uint64_t out = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (q >= end)
            return false;
        uint8_t byte = *q++;
        if (shift == 63 && byte > 1)
            return false; /* would overflow 64 bits */
        out |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = out;
            *p = q;
            return true;
        }
    }
    return false;
}

bool fwd_begin(fwd_iter *it, const void *blob, size_t n)
{
    memset(it, 0, sizeof *it);
    it->p = blob;
    it->end = it->p + n;
    uint64_t count;
    if (!blob || !get_varint(&it->p, it->end, &count))
        return false;
    it->left = count;
    return true;
}

int fwd_next(fwd_iter *it)
{
    if (it->left == 0)
        return it->p == it->end ? 0 : -1;
    uint64_t len, tf;
    if (!get_varint(&it->p, it->end, &len) || len == 0 || len > (uint64_t)(it->end - it->p))
        return -1;
    const uint8_t *term = it->p;
    it->p += len;
    if (!get_varint(&it->p, it->end, &tf) || tf == 0 || tf > UINT32_MAX)
        return -1;
    it->term = term;
    it->term_len = (uint32_t)len;
    it->tf = (uint32_t)tf;
    it->left--;
    return 1;
}

void post_begin(post_iter *it, const void *blob, size_t n, int64_t df)
{
    it->p = blob;
    it->end = it->p ? it->p + n : NULL;
    it->left = df;
    it->chunk_id = 0;
    it->tf = it->len = 0;
}

int post_next(post_iter *it)
{
    if (it->left <= 0)
        return it->left == 0 && it->p == it->end ? 0 : -1;
    uint64_t delta, tf, len;
    if (!get_varint(&it->p, it->end, &delta) || delta == 0 ||
        delta > (uint64_t)(INT64_MAX - it->chunk_id) || !get_varint(&it->p, it->end, &tf) ||
        tf == 0 || tf > UINT32_MAX || !get_varint(&it->p, it->end, &len) || len > UINT32_MAX)
        return -1;
    it->chunk_id += (int64_t)delta;
    it->tf = (uint32_t)tf;
    it->len = (uint32_t)len;
    it->left--;
    return 1;
}

int term_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

/* ---- id map ---- */

static size_t id_slot(const id_map *m, int64_t key)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (m->cap - 1);
}

bool id_map_init(id_map *m, size_t expect, bool with_vals)
{
    size_t cap = 64;
    while (cap < expect * 2)
        cap *= 2;
    m->keys = malloc(cap * sizeof *m->keys);
    m->vals = with_vals ? calloc(cap, sizeof *m->vals) : NULL;
    m->cap = cap;
    m->n = 0;
    if (!m->keys || (with_vals && !m->vals)) {
        id_map_free(m);
        return false;
    }
    for (size_t i = 0; i < cap; i++)
        m->keys[i] = ID_MAP_EMPTY;
    return true;
}

void id_map_free(id_map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static bool id_map_grow(id_map *m)
{
    id_map bigger;
    if (!id_map_init(&bigger, m->cap, m->vals != NULL))
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == ID_MAP_EMPTY)
            continue;
        size_t j = id_slot(&bigger, m->keys[i]);
        while (bigger.keys[j] != ID_MAP_EMPTY)
            j = (j + 1) & (bigger.cap - 1);
        bigger.keys[j] = m->keys[i];
        if (m->vals)
            bigger.vals[j] = m->vals[i];
    }
    bigger.n = m->n;
    id_map_free(m);
    *m = bigger;
    return true;
}

size_t id_map_upsert(id_map *m, int64_t key)
{
    if ((m->n + 1) * 2 > m->cap && !id_map_grow(m))
        return SIZE_MAX;
    size_t j = id_slot(m, key);
    while (m->keys[j] != ID_MAP_EMPTY && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    if (m->keys[j] == ID_MAP_EMPTY) {
        m->keys[j] = key;
        m->n++;
    }
    return j;
}

bool id_map_has(const id_map *m, int64_t key)
{
    if (!m->keys)
        return false;
    size_t j = id_slot(m, key);
    while (m->keys[j] != ID_MAP_EMPTY) {
        if (m->keys[j] == key)
            return true;
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}
