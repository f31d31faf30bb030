/* safetensors reader (read-only, mmap-based).
 *
 * File layout: 8-byte little-endian header length N, then N bytes of a JSON object
 * {"<tensor name>": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"k": "string", ...}} (optional), then the data section; data_offsets are byte
 * offsets relative to the start of the data section. Tensor data is little-endian, row-major.
 *
 * rag_st_open validates the whole header before returning: N within the file and <= 100 MB, the
 * header is a JSON object, each entry has a known dtype, a shape of <= 8 non-negative dims, and
 * data_offsets [begin, end] with begin <= end <= data section length, end - begin ==
 * prod(shape) * dtype size, and no two tensors' byte ranges overlap. Any violation is
 * RAG_E_BAD_INPUT (RAG_E_TOO_LARGE for a header over the cap) with a message naming the file
 * (or "<memory>") and the offending tensor.
 */
#ifndef RAGC_SAFETENSORS_H
#define RAGC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RAG_ST_F32,
    RAG_ST_F16,
    RAG_ST_BF16,
    RAG_ST_I64,
    RAG_ST_I32,
    RAG_ST_I8,
    RAG_ST_U8,
    RAG_ST_BOOL,
    RAG_ST_F64
} rag_st_dtype;

#define RAG_ST_MAX_DIMS 8
#define RAG_ST_MAX_HEADER ((uint64_t)100 * 1024 * 1024) /* bytes */

/* One tensor of an open file. Everything (name, data) is borrowed, valid until rag_st_close.
 * data points into the mapping and may be unaligned for the dtype (use memcpy or
 * rag_st_read_f32). shape[i] for i >= n_dims is 0; a 0-dim tensor is a scalar (1 element). */
typedef struct rag_st_tensor {
    const char *name;
    rag_st_dtype dtype;
    size_t n_dims;
    int64_t shape[RAG_ST_MAX_DIMS];
    const void *data;
    size_t nbytes;
} rag_st_tensor;

typedef struct rag_st_file rag_st_file;

/* Opens and mmaps path (read-only) and validates the header (see above).
 * *out: caller frees with rag_st_close. */
rag_status rag_st_open(const char *path, rag_st_file **out, rag_err *err);
/* Same on a caller buffer: buf is borrowed, must stay valid and unchanged until rag_st_close.
 * *out: caller frees with rag_st_close. */
rag_status rag_st_open_memory(const void *buf, size_t len, rag_st_file **out, rag_err *err);
/* Unmaps and frees. NULL is a no-op. */
void rag_st_close(rag_st_file *f);

/* Number of tensors (excluding __metadata__); tensors are in header order. */
size_t rag_st_count(const rag_st_file *f);
/* i-th tensor, or NULL if i >= count. Borrowed, valid until rag_st_close. */
const rag_st_tensor *rag_st_at(const rag_st_file *f, size_t i);
/* Tensor by exact name, NULL if absent. Borrowed, valid until rag_st_close. */
const rag_st_tensor *rag_st_find(const rag_st_file *f, const char *name);
/* Value of a "__metadata__" key, NULL if absent. Borrowed, valid until rag_st_close. */
const char *rag_st_metadata(const rag_st_file *f, const char *key);

/* Size in bytes of one element of dtype (BOOL = 1). */
size_t rag_st_dtype_size(rag_st_dtype dtype);
/* Static name as in the file ("F32", "BF16", ...). */
const char *rag_st_dtype_name(rag_st_dtype dtype);

/* Converts the tensor's elements to f32 into dst (n_elems floats, caller-owned).
 * Supported dtypes: F32, F16, BF16 (F64 is narrowed as well); others -> RAG_E_UNSUPPORTED.
 * n_elems must equal the tensor's element count, else RAG_E_BAD_INPUT. */
rag_status rag_st_read_f32(const rag_st_tensor *t, float *dst, size_t n_elems, rag_err *err);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_SAFETENSORS_H */
