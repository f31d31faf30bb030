/* Local transformer encoders in C: a BERT forward pass on OpenBLAS sgemm, the sentence-transformers
 * embedding pipeline and the BertForSequenceClassification cross-encoder.
 *
 * Layers:
 *   rag_bert_t           BERT weights from config.json + model.safetensors (F32 / F16 / BF16,
 *                        names as in Hugging Face BertModel, optional "bert." prefix), a thread
 *                        pool and a workspace reused across calls; forward on packed batches.
 *   rag_encoder_t        sentence-transformers: modules.json, 1_Pooling/config.json,
 *                        sentence_bert_config.json, Normalize -> one vector per text.
 *   rag_cross_encoder_t  (query, passage) -> classifier logits (pooler tanh on [CLS] + classifier).
 *
 * Numerics: fp32 throughout by default (optionally int8 linear layers, see rag_bert_precision);
 * GELU is the exact erf form (hidden_act "gelu"), softmax and erf use vectorized polynomial
 * approximations (relative error < 1e-6). Padded keys are excluded from attention exactly as
 * Hugging Face's additive finfo.min mask does.
 *
 * Threads: a model runs its forward pass on its own pool of `threads` threads (0 = every CPU the
 * process may run on) and sets OpenBLAS to 1 thread per call (RAG_BERT_THREADING_BLAS instead
 * sets OpenBLAS to `threads`). openblas_set_num_threads is process-wide: the last setting wins
 * for any other OpenBLAS user in the process. Idle pool threads spin about 0.5 ms after a pass,
 * then sleep on a condition variable.
 *
 * Memory: F32 weights are read in place from the safetensors mapping (pages the model touches
 * count in RSS); the workspace is about rows x (H + max(3H, I)) floats for the largest batch
 * seen, plus threads x L^2 floats of attention scores. rag_encoder_t caps a batch at max_batch
 * sequences and 4096 tokens (about 31 MB of workspace for MiniLM).
 *
 * Concurrency: a rag_bert_t is not safe for concurrent calls (one workspace); rag_encoder_t and
 * rag_cross_encoder_t serialize their calls with a mutex, so they may be shared between threads.
 */
#ifndef RAGC_ENCODER_H
#define RAGC_ENCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- BERT model ---- */

/* How the threads of one forward pass share the work. */
typedef enum rag_bert_threading {
    RAG_BERT_THREADING_AUTO = 0, /* SEQ when the batch splits evenly by sequence (groups of ~512
                                  * tokens), else SPLIT (a single query, a few uneven ones) */
    RAG_BERT_THREADING_SEQ,      /* threads claim groups of whole sequences and run each group
                                  * through all layers with no synchronisation */
    RAG_BERT_THREADING_SPLIT,    /* threads share every op (gemm column blocks, (sequence, head)
                                  * attention items, LayerNorm rows), claiming chunks
                                  * dynamically; an op ends when all its chunks are done */
    RAG_BERT_THREADING_BLAS      /* one thread for ragc's loops, OpenBLAS threads inside sgemm
                                  * (for comparison; slower) */
} rag_bert_threading;

typedef enum rag_bert_act {
    RAG_BERT_ACT_GELU = 0,   /* "gelu": 0.5 x (1 + erf(x / sqrt 2)) */
    RAG_BERT_ACT_GELU_TANH,  /* "gelu_new", "gelu_pytorch_tanh", "gelu_fast" */
    RAG_BERT_ACT_RELU        /* "relu" */
} rag_bert_act;

/* Arithmetic of the four linear layers of each encoder layer (softmax, LayerNorm and GELU stay
 * fp32; with INT8 on CPUs with AVX512-BF16 the two attention products take bf16 inputs with
 * fp32 sums, an error about a quarter of what int8 inputs already put in attention). */
typedef enum rag_bert_precision {
    RAG_BERT_PRECISION_F32 = 0, /* fp32 sgemm: matches PyTorch to ~1e-6 */
    RAG_BERT_PRECISION_INT8     /* int8 weights (per output row) x uint8 activations (per token,
                                 * asymmetric) with exact int32 accumulation, on any CPU: the
                                 * AVX512-VNNI kernel where present (about 3.5x fp32 at 1
                                 * thread on MiniLM shapes), else AVX2 + FMA (int16 vpmaddwd,
                                 * about 1.4x), else portable C (slow, same results). All
                                 * kernels compute the same integers; the environment variable
                                 * RAGC_Q8_KERNEL=vnni|avx2|scalar (read once) forces one the
                                 * CPU supports. Embeddings within cosine 0.999 of fp32 on random
                                 * MiniLM-shaped weights, with or without outlier channels; see
                                 * docs/benchmarks.md ("Local encoder") */
} rag_bert_precision;

typedef struct rag_bert_params {
    int threads;                  /* worker threads incl. the caller; 0 = the CPUs this process
                                   * may use: its affinity mask, capped by a cgroup v2 cpu.max
                                   * quota (containers) */
    rag_bert_threading threading; /* default AUTO */
    rag_bert_precision precision; /* default F32 */
    int small_gemm_rows;          /* fp32 gemms of at most this many rows read the weights in
                                   * place instead of calling OpenBLAS (whose packing of the
                                   * weights dominates for few rows): 0 = 32, -1 = never */
} rag_bert_params;

rag_bert_params rag_bert_default_params(void);

/* From config.json, checked against the tensors. */
typedef struct rag_bert_config {
    size_t hidden_size;       /* H */
    size_t num_layers;
    size_t num_heads;         /* H % num_heads == 0 */
    size_t intermediate_size; /* I */
    size_t max_position;      /* max_position_embeddings: longest sequence */
    size_t type_vocab_size;
    size_t vocab_size;
    float layer_norm_eps;
    rag_bert_act act;
    bool has_pooler;          /* pooler.dense present */
    size_t num_labels;        /* rows of classifier.weight; 0 = no classifier */
} rag_bert_config;

typedef struct rag_bert rag_bert_t;

/* Loads dir/config.json and dir/model.safetensors. F32 tensors are used in place from the
 * read-only mapping (kept open until rag_bert_free); F16/BF16 are converted to f32 once; Q, K and
 * V of each layer are fused into one (3H, H) copy. Errors name the file and the tensor:
 * RAG_E_NOT_FOUND (missing file or tensor), RAG_E_BAD_INPUT (bad JSON, shape mismatch),
 * RAG_E_UNSUPPORTED (hidden_act, position_embedding_type, model_type, sharded checkpoints),
 * RAG_E_CONFIG (bad params). dir is borrowed for the call.
 * *out: caller frees with rag_bert_free. */
rag_status rag_bert_load(const char *dir, rag_bert_params params, rag_bert_t **out, rag_err *err);
/* NULL is a no-op. */
void rag_bert_free(rag_bert_t *m);
/* Borrowed, valid until rag_bert_free. */
const rag_bert_config *rag_bert_get_config(const rag_bert_t *m);
/* Threads the forward pass uses (params.threads resolved). */
int rag_bert_threads(const rag_bert_t *m);
/* What params.threads = 0 resolves to here: the CPUs this process may use (affinity mask,
 * capped by a cgroup v2 cpu.max quota). */
int rag_bert_default_threads(void);
/* Name of the int8 kernel RAG_BERT_PRECISION_INT8 runs on this CPU ("vnni", "avx2", "scalar",
 * as RAGC_Q8_KERNEL spells them); static string. */
const char *rag_bert_int8_kernel(void);

/* A packed (ragged) batch: sequence s is rows [offsets[s], offsets[s+1]) of the row arrays, with
 * position ids 0, 1, ... within the sequence. All arrays are borrowed for the call. */
typedef struct rag_bert_batch {
    const int32_t *ids;      /* (rows) token ids < vocab_size */
    const int32_t *type_ids; /* (rows) token type ids < type_vocab_size, or NULL = all 0 */
    const int32_t *mask;     /* (rows) attention mask, 0 = key ignored, or NULL = all 1 */
    const size_t *offsets;   /* (n_seq + 1), offsets[0] == 0, each sequence 1..max_position rows */
    size_t n_seq;
} rag_bert_batch;

/* Hard cap on the rows of one forward call (RAG_E_TOO_LARGE beyond it). */
#define RAG_BERT_MAX_ROWS ((size_t)1 << 20)

/* Runs the encoder; *hidden receives the last hidden states, (rows, H) row-major, borrowed,
 * valid until the next rag_bert_* call on m or rag_bert_free. The workspace grows to fit the
 * batch before the pass starts; the pass itself allocates nothing. Bad ids, type ids, offsets or
 * lengths: RAG_E_BAD_INPUT naming the sequence and position; nothing is computed. */
rag_status rag_bert_forward(rag_bert_t *m, const rag_bert_batch *batch, const float **hidden,
                            rag_err *err);

/* Padded form, as Hugging Face takes it (a convenience for tests: it allocates packing arrays
 * per call, then runs rag_bert_forward): ids, type_ids (or NULL) and mask are (B, T) row-major.
 * Sequence b is computed on its positions [0, n_b) where n_b is 1 + the last position with
 * mask != 0 (mask zeros before that are honoured as masked keys); out_hidden (B, T, H)
 * caller-owned receives the hidden states, and rows at positions >= n_b are set to 0 (Hugging
 * Face leaves values there that every pooling ignores). A sequence with no mask bit set is
 * all 0. */
rag_status rag_bert_forward_ids(rag_bert_t *m, const int32_t *ids, const int32_t *type_ids,
                                const int32_t *mask, size_t B, size_t T, float *out_hidden,
                                rag_err *err);

/* Classification head of BertForSequenceClassification on n [CLS] rows (rows + i * ld, H floats
 * each): logits[i * num_labels + j] = classifier(tanh(pooler(row))) (without a pooler, the row
 * itself). rows borrowed for the call; logits caller-owned, n * num_labels floats.
 * RAG_E_UNSUPPORTED if the model has no classifier. */
rag_status rag_bert_classify(rag_bert_t *m, const float *rows, size_t ld, size_t n, float *logits,
                             rag_err *err);

/* ------------------------------------------------- sentence-transformers pipeline ---- */

typedef struct rag_encoder_params {
    int threads;                  /* as rag_bert_params.threads; 0 = all CPUs */
    rag_bert_threading threading; /* default AUTO */
    rag_bert_precision precision; /* default F32 */
    size_t max_batch;             /* sequences per forward pass; 0 = 32 */
    size_t max_seq_length;        /* token cap incl. [CLS]/[SEP]; 0 = the model's setting */
    bool sigmoid;                 /* cross-encoder: return sigmoid(logit) instead of the logit */
} rag_encoder_params;

rag_encoder_params rag_encoder_default_params(void);

typedef struct rag_encoder rag_encoder_t;

/* Pooling modes, in the order sentence-transformers concatenates them. */
enum {
    RAG_POOL_CLS = 1u << 0,
    RAG_POOL_MAX = 1u << 1,
    RAG_POOL_MEAN = 1u << 2,
    RAG_POOL_MEAN_SQRT_LEN = 1u << 3,
    RAG_POOL_WEIGHTED_MEAN = 1u << 4,
    RAG_POOL_LAST_TOKEN = 1u << 5
};

/* model_dir: a sentence-transformers model directory (modules.json with Transformer, Pooling and
 * optional Normalize modules; without modules.json: mean pooling, no normalization). Other module
 * types (Dense, ...) are RAG_E_UNSUPPORTED. The max sequence length comes from params, else
 * sentence_bert_config.json, else tokenizer_config.json model_max_length, capped by
 * max_position_embeddings. model_dir borrowed for the call. *out: caller frees with
 * rag_encoder_free. */
rag_status rag_encoder_load(const char *model_dir, rag_encoder_params params, rag_encoder_t **out,
                            rag_err *err);
/* NULL is a no-op. */
void rag_encoder_free(rag_encoder_t *e);
/* Floats per embedding: hidden_size x the number of pooling modes. */
size_t rag_encoder_dim(const rag_encoder_t *e);
size_t rag_encoder_max_seq_length(const rag_encoder_t *e);
/* RAG_POOL_* bits of the model's pooling, and whether it L2-normalizes. */
unsigned rag_encoder_pooling(const rag_encoder_t *e);
bool rag_encoder_normalizes(const rag_encoder_t *e);
/* Borrowed, valid until rag_encoder_free (tokenizer and model, e.g. for token counts). */
const struct rag_tokenizer *rag_encoder_tokenizer(const rag_encoder_t *e);
rag_bert_t *rag_encoder_model(rag_encoder_t *e);

/* Embeds n NUL-terminated UTF-8 texts (borrowed for the call; longer texts are truncated to the
 * max sequence length, as sentence-transformers does). out: caller-owned, n * dim floats, row i
 * for texts[i]. *dim (may be NULL) receives dim. Texts are length-sorted and batched internally.
 * Bad UTF-8 or a NULL text: RAG_E_BAD_INPUT naming the text index; nothing useful in out. */
rag_status rag_encoder_embed(rag_encoder_t *e, const char *const *texts, size_t n, float *out,
                             size_t *dim, rag_err *err);
/* Same pipeline from token ids (pooling over mask != 0 rows, then Normalize): out receives
 * batch->n_seq * dim floats (caller-owned). batch borrowed for the call. */
rag_status rag_encoder_embed_ids(rag_encoder_t *e, const rag_bert_batch *batch, float *out,
                                 rag_err *err);

typedef struct rag_cross_encoder rag_cross_encoder_t;

/* model_dir: a BertForSequenceClassification directory (config.json, model.safetensors with
 * pooler + classifier, tokenizer). Max length: params, else tokenizer_config.json
 * model_max_length, capped by max_position_embeddings. *out: caller frees with
 * rag_cross_encoder_free. */
rag_status rag_cross_encoder_load(const char *model_dir, rag_encoder_params params,
                                  rag_cross_encoder_t **out, rag_err *err);
/* NULL is a no-op. */
void rag_cross_encoder_free(rag_cross_encoder_t *ce);
size_t rag_cross_encoder_num_labels(const rag_cross_encoder_t *ce);
/* Scores n (query, passages[i]) pairs ("[CLS] query [SEP] passage [SEP]", longest-first
 * truncation). query and passages borrowed for the call; logits caller-owned, n * num_labels
 * floats (raw logits, or sigmoid of them when params.sigmoid). */
rag_status rag_cross_encoder_score(rag_cross_encoder_t *ce, const char *query,
                                   const char *const *passages, size_t n, float *logits,
                                   rag_err *err);
/* Same from token ids (type ids from batch->type_ids): logits (batch->n_seq * num_labels). */
rag_status rag_cross_encoder_score_ids(rag_cross_encoder_t *ce, const rag_bert_batch *batch,
                                       float *logits, rag_err *err);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_ENCODER_H */
