/* safetensors reader: mmap + strict header validation (see include/ragc/safetensors.h). */
#include "ragc/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (tensor data is little-endian)"
#endif

struct rag_st_file {
    const unsigned char *base; /* whole file / buffer */
    size_t len;
    bool mapped;               /* base is our mmap (munmap on close) */
    rag_st_tensor *tensors;    /* n entries, header order */
    size_t n;
    size_t *by_name;           /* n indices into tensors, sorted by name (rag_st_find) */
    char **meta_kv;            /* 2 * n_meta owned strings: key, value, ... */
    size_t n_meta;
};

static const struct {
    const char *name;
    rag_st_dtype dtype;
    size_t size;
} k_dtypes[] = {
    {"F32", RAG_ST_F32, 4}, {"F16", RAG_ST_F16, 2}, {"BF16", RAG_ST_BF16, 2},
    {"I64", RAG_ST_I64, 8}, {"I32", RAG_ST_I32, 4}, {"I8", RAG_ST_I8, 1},
    {"U8", RAG_ST_U8, 1},   {"BOOL", RAG_ST_BOOL, 1}, {"F64", RAG_ST_F64, 8},
};
#define N_DTYPES (sizeof k_dtypes / sizeof k_dtypes[0])

size_t rag_st_dtype_size(rag_st_dtype dtype) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (k_dtypes[i].dtype == dtype) return k_dtypes[i].size;
    return 0;
}

const char *rag_st_dtype_name(rag_st_dtype dtype) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (k_dtypes[i].dtype == dtype) return k_dtypes[i].name;
    return "?";
}

void rag_st_close(rag_st_file *f) {
    if (!f) return;
    if (f->mapped && f->base) munmap((void *)f->base, f->len);
    if (f->tensors)
        for (size_t i = 0; i < f->n; i++) free((char *)f->tensors[i].name);
    free(f->tensors);
    free(f->by_name);
    if (f->meta_kv)
        for (size_t i = 0; i < 2 * f->n_meta; i++) free(f->meta_kv[i]);
    free(f->meta_kv);
    free(f);
}

/* (name, tensor index) pairs, sorted by name to build rag_st_file.by_name. */
typedef struct name_idx {
    const char *name;
    size_t idx;
} name_idx;

static int cmp_name_idx(const void *a, const void *b) {
    return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name);
}

typedef struct range {
    uint64_t begin, end;
    size_t idx;
} range;

static int cmp_range(const void *a, const void *b) {
    const range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static rag_status parse_metadata(rag_st_file *f, json_t *meta, const char *src, rag_err *err) {
    if (!json_is_object(meta))
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: safetensors header: __metadata__ is not an object", src);
    size_t n = json_object_size(meta);
    if (n == 0) return RAG_OK;
    f->meta_kv = calloc(2 * n, sizeof *f->meta_kv);
    if (!f->meta_kv) return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", src);
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return rag_err_set(err, RAG_E_BAD_INPUT,
                               "%s: safetensors header: __metadata__ value of '%.64s' is not a string", src, k);
        f->meta_kv[2 * f->n_meta] = rag_strdup(k);
        f->meta_kv[2 * f->n_meta + 1] = rag_strdup(json_string_value(v));
        f->n_meta++;
        if (!f->meta_kv[2 * f->n_meta - 2] || !f->meta_kv[2 * f->n_meta - 1])
            return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", src);
    }
    return RAG_OK;
}

/* Validates one entry and fills t (name not yet set). data_len = bytes after the header. */
static rag_status parse_entry(const char *src, const char *name, json_t *e, const unsigned char *data,
                              uint64_t data_len, rag_st_tensor *t, uint64_t *begin_out, rag_err *err) {
    if (!json_is_object(e))
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: safetensors header: tensor '%.128s' is not an object", src, name);
    json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"),
           *jo = json_object_get(e, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo))
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "%s: safetensors header: tensor '%.128s' needs string dtype, array shape and array "
                           "data_offsets", src, name);
    const char *ds = json_string_value(jd);
    size_t esize = 0;
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(ds, k_dtypes[i].name) == 0) {
            t->dtype = k_dtypes[i].dtype;
            esize = k_dtypes[i].size;
        }
    if (!esize)
        return rag_err_set(err, RAG_E_UNSUPPORTED, "%s: safetensors header: tensor '%.128s' has unsupported dtype '%.32s'",
                           src, name, ds);
    size_t nd = json_array_size(js);
    if (nd > RAG_ST_MAX_DIMS)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: safetensors header: tensor '%.128s' has %zu dims (max %d)", src,
                           name, nd, RAG_ST_MAX_DIMS);
    t->n_dims = nd;
    /* element count with overflow check; the product is bounded by data_len anyway */
    uint64_t elems = 1;
    bool overflow = false;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return rag_err_set(err, RAG_E_BAD_INPUT,
                               "%s: safetensors header: tensor '%.128s' shape[%zu] is not a non-negative integer", src,
                               name, i);
        uint64_t dim = (uint64_t)json_integer_value(d);
        t->shape[i] = (int64_t)dim;
        if (dim && elems > UINT64_MAX / dim) overflow = true;
        else elems *= dim;
    }
    if (json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)) || json_integer_value(json_array_get(jo, 0)) < 0 ||
        json_integer_value(json_array_get(jo, 1)) < 0)
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "%s: safetensors header: tensor '%.128s' data_offsets must be [begin, end] non-negative "
                           "integers", src, name);
    uint64_t b = (uint64_t)json_integer_value(json_array_get(jo, 0));
    uint64_t en = (uint64_t)json_integer_value(json_array_get(jo, 1));
    if (b > en)
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "%s: safetensors header: tensor '%.128s' data_offsets [%llu, %llu] have begin > end", src,
                           name, (unsigned long long)b, (unsigned long long)en);
    if (en > data_len)
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "%s: safetensors header: tensor '%.128s' data_offsets [%llu, %llu] out of range (data "
                           "section is %llu bytes)", src, name, (unsigned long long)b, (unsigned long long)en,
                           (unsigned long long)data_len);
    if (overflow || elems > UINT64_MAX / esize || elems * esize != en - b)
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "%s: safetensors header: tensor '%.128s' has %llu bytes but its shape and dtype %s need %s%llu",
                           src, name, (unsigned long long)(en - b), ds, overflow ? "more than " : "",
                           overflow ? (unsigned long long)UINT64_MAX : (unsigned long long)(elems * esize));
    t->data = data + b;
    t->nbytes = (size_t)(en - b);
    *begin_out = b;
    return RAG_OK;
}

/* Parses and validates the header of base[0..len); fills f. src names the input in messages. */
static rag_status st_parse(rag_st_file *f, const char *src, rag_err *err) {
    if (f->len < 8)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: not a safetensors file: %zu bytes, shorter than the 8-byte header "
                           "length", src, f->len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->base[i];
    if (hlen > RAG_ST_MAX_HEADER)
        return rag_err_set(err, RAG_E_TOO_LARGE, "%s: safetensors header length %llu exceeds the %llu-byte cap", src,
                           (unsigned long long)hlen, (unsigned long long)RAG_ST_MAX_HEADER);
    if (hlen > f->len - 8)
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "%s: safetensors header length %llu is longer than the file (%zu bytes after the length)",
                           src, (unsigned long long)hlen, f->len - 8);
    if (hlen < 2)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: safetensors header length %llu is too short for a JSON object",
                           src, (unsigned long long)hlen);
    const unsigned char *data = f->base + 8 + hlen;
    uint64_t data_len = f->len - 8 - hlen;

    json_error_t je;
    json_t *root = json_loadb((const char *)f->base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: safetensors header is not valid JSON: %s (byte %d)", src, je.text,
                           je.position);
    rag_status st = RAG_OK;
    if (!json_is_object(root)) {
        st = rag_err_set(err, RAG_E_BAD_INPUT, "%s: safetensors header is not a JSON object", src);
        goto done;
    }
    size_t cap = json_object_size(root);
    f->tensors = calloc(cap ? cap : 1, sizeof *f->tensors);
    range *ranges = calloc(cap ? cap : 1, sizeof *ranges);
    if (!f->tensors || !ranges) {
        free(ranges);
        st = rag_err_set(err, RAG_E_NOMEM, "%s: out of memory for %zu tensors", src, cap);
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((st = parse_metadata(f, val, src, err)) != RAG_OK) break;
            continue;
        }
        rag_st_tensor *t = &f->tensors[f->n];
        uint64_t begin = 0;
        if ((st = parse_entry(src, key, val, data, data_len, t, &begin, err)) != RAG_OK) break;
        t->name = rag_strdup(key);
        if (!t->name) {
            st = rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", src);
            break;
        }
        ranges[f->n] = (range){begin, begin + t->nbytes, f->n};
        f->n++;
    }
    if (st == RAG_OK && f->n > 1) {
        qsort(ranges, f->n, sizeof *ranges, cmp_range);
        for (size_t i = 1; i < f->n; i++) {
            if (ranges[i].begin < ranges[i - 1].end) {
                st = rag_err_set(err, RAG_E_BAD_INPUT,
                                 "%s: safetensors header: tensors '%.128s' [%llu, %llu) and '%.128s' [%llu, %llu) overlap",
                                 src, f->tensors[ranges[i - 1].idx].name, (unsigned long long)ranges[i - 1].begin,
                                 (unsigned long long)ranges[i - 1].end, f->tensors[ranges[i].idx].name,
                                 (unsigned long long)ranges[i].begin, (unsigned long long)ranges[i].end);
                break;
            }
        }
    }
    free(ranges);
    if (st == RAG_OK && f->n) {
        name_idx *tmp = malloc(f->n * sizeof *tmp);
        f->by_name = malloc(f->n * sizeof *f->by_name);
        if (!tmp || !f->by_name) {
            free(tmp);
            st = rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", src);
            goto done;
        }
        for (size_t i = 0; i < f->n; i++) tmp[i] = (name_idx){f->tensors[i].name, i};
        qsort(tmp, f->n, sizeof *tmp, cmp_name_idx);
        for (size_t i = 0; i < f->n; i++) f->by_name[i] = tmp[i].idx;
        free(tmp);
    }
done:
    json_decref(root);
    return st;
}

rag_status rag_st_open_memory(const void *buf, size_t len, rag_st_file **out, rag_err *err) {
    if (!out) return rag_err_set(err, RAG_E_INTERNAL, "rag_st_open_memory: out is NULL");
    *out = NULL;
    if (!buf && len) return rag_err_set(err, RAG_E_BAD_INPUT, "<memory>: NULL buffer of %zu bytes", len);
    rag_st_file *f = calloc(1, sizeof *f);
    if (!f) return rag_err_set(err, RAG_E_NOMEM, "<memory>: out of memory");
    f->base = buf;
    f->len = len;
    rag_status st = st_parse(f, "<memory>", err);
    if (st != RAG_OK) {
        rag_st_close(f);
        return st;
    }
    *out = f;
    return RAG_OK;
}

rag_status rag_st_open(const char *path, rag_st_file **out, rag_err *err) {
    if (!out) return rag_err_set(err, RAG_E_INTERNAL, "rag_st_open: out is NULL");
    *out = NULL;
    if (!path) return rag_err_set(err, RAG_E_BAD_INPUT, "rag_st_open: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rag_err_set(err, errno == ENOENT ? RAG_E_NOT_FOUND : RAG_E_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return rag_err_set(err, RAG_E_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return rag_err_set(err, RAG_E_BAD_INPUT, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size < 8) {
        close(fd);
        return rag_err_set(err, RAG_E_BAD_INPUT,
                           "%s: not a safetensors file: %lld bytes, shorter than the 8-byte header length", path,
                           (long long)sb.st_size);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return rag_err_set(err, RAG_E_TOO_LARGE, "%s: file too large to map", path);
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) return rag_err_set(err, RAG_E_IO, "%s: mmap: %s", path, strerror(e));
    rag_st_file *f = calloc(1, sizeof *f);
    if (!f) {
        munmap(m, (size_t)sb.st_size);
        return rag_err_set(err, RAG_E_NOMEM, "%s: out of memory", path);
    }
    f->base = m;
    f->len = (size_t)sb.st_size;
    f->mapped = true;
    rag_status st = st_parse(f, path, err);
    if (st != RAG_OK) {
        rag_st_close(f);
        return st;
    }
    *out = f;
    return RAG_OK;
}

size_t rag_st_count(const rag_st_file *f) { return f ? f->n : 0; }

const rag_st_tensor *rag_st_at(const rag_st_file *f, size_t i) {
    return (f && i < f->n) ? &f->tensors[i] : NULL;
}

const rag_st_tensor *rag_st_find(const rag_st_file *f, const char *name) {
    if (!f || !name || !f->n) return NULL;
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const rag_st_tensor *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const char *rag_st_metadata(const rag_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_kv[2 * i], key) == 0) return f->meta_kv[2 * i + 1];
    return NULL;
}

/* IEEE 754 binary16 -> binary32, exact (subnormals, inf, NaN preserved). */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

rag_status rag_st_read_f32(const rag_st_tensor *t, float *dst, size_t n_elems, rag_err *err) {
    if (!t || (!dst && n_elems)) return rag_err_set(err, RAG_E_BAD_INPUT, "rag_st_read_f32: NULL tensor or destination");
    size_t es = rag_st_dtype_size(t->dtype);
    size_t have = es ? t->nbytes / es : 0;
    if (n_elems != have)
        return rag_err_set(err, RAG_E_BAD_INPUT, "tensor '%.128s': asked for %zu elements, it has %zu", t->name, n_elems,
                           have);
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case RAG_ST_F32:
        if (n_elems) memcpy(dst, p, n_elems * 4);
        return RAG_OK;
    case RAG_ST_F16:
        for (size_t i = 0; i < n_elems; i++) dst[i] = f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return RAG_OK;
    case RAG_ST_BF16:
        for (size_t i = 0; i < n_elems; i++) {
            uint32_t bits = ((uint32_t)p[2 * i] | ((uint32_t)p[2 * i + 1] << 8)) << 16;
            memcpy(&dst[i], &bits, 4);
        }
        return RAG_OK;
    case RAG_ST_F64:
        for (size_t i = 0; i < n_elems; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return RAG_OK;
    default:
        return rag_err_set(err, RAG_E_UNSUPPORTED, "tensor '%.128s': dtype %s cannot be read as f32", t->name,
                           rag_st_dtype_name(t->dtype));
    }
}
