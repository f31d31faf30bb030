/* ragc model info ID: what a local model resolves to and how it will run. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "cli.h"
#include "ragc/encoder.h"
#include "ragc/tokenizer.h"

static void help(FILE *f)
{
    fprintf(f, "Usage: ragc model info MODEL\n"
               "\n"
               "MODEL is a Hugging Face repo id (e.g. sentence-transformers/all-MiniLM-L6-v2), looked up in\n"
               "the huggingface_hub cache (HF_HOME / HF_HUB_CACHE; files are downloaded from HF_ENDPOINT when\n"
               "missing, unless HF_HUB_OFFLINE=1), or a local model directory. Prints where it was found,\n"
               "its shape, pooling and output dimension: what the `local` embedder or reranker would run.\n");
}

int cmd_model(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        help(stdout);
        return EXIT_OK;
    }
    if (argc != 3 || strcmp(argv[1], "info") != 0) {
        help(stderr);
        return EXIT_USAGE;
    }
    const char *model = argv[2];
    rag_err err;
    rag_err_clear(&err);
    char *dir = NULL;
    if (rag_local_model_dir(model, &dir, &err) != RAG_OK) {
        fprintf(stderr, "ragc model: %s\n", err.msg);
        return EXIT_ERROR;
    }
    printf("model        %s\ndirectory    %s\n", model, dir);
    rag_encoder_params ep = rag_encoder_default_params();
    ep.threads = 1;
    rag_encoder_t *enc = NULL;
    rag_cross_encoder_t *ce = NULL;
    rag_bert_t *bert = NULL;
    int rc = EXIT_OK;
    /* A directory with a classifier head is a cross-encoder; otherwise a sentence encoder. */
    if (rag_cross_encoder_load(dir, ep, &ce, &err) == RAG_OK) {
        printf("kind         cross-encoder (local reranker), %zu label(s)\n", rag_cross_encoder_num_labels(ce));
    } else if (rag_err_clear(&err), rag_encoder_load(dir, ep, &enc, &err) == RAG_OK) {
        bert = rag_encoder_model(enc);
        unsigned pool = rag_encoder_pooling(enc);
        char pools[96] = "";
        static const struct { unsigned bit; const char *name; } names[] = {
            {RAG_POOL_CLS, "cls"}, {RAG_POOL_MAX, "max"}, {RAG_POOL_MEAN, "mean"},
            {RAG_POOL_MEAN_SQRT_LEN, "mean_sqrt_len"}, {RAG_POOL_WEIGHTED_MEAN, "weighted_mean"}};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (pool & names[i].bit)
                snprintf(pools + strlen(pools), sizeof pools - strlen(pools), "%s%s", pools[0] ? "+" : "",
                         names[i].name);
        printf("kind         sentence-transformers encoder (local embedder)\n"
               "dimension    %zu\nmax tokens   %zu\nnormalize    %s\npooling      %s\n",
               rag_encoder_dim(enc), rag_encoder_max_seq_length(enc), rag_encoder_normalizes(enc) ? "yes" : "no",
               pools[0] ? pools : "?");
        printf("vocabulary   %zu tokens\n", rag_tokenizer_vocab_size(rag_encoder_tokenizer(enc)));
    } else {
        fprintf(stderr, "ragc model: %s\n", err.msg);
        rc = EXIT_ERROR;
    }
    if (bert) {
        const rag_bert_config *c = rag_bert_get_config(bert);
        printf("shape        %zu layers, hidden %zu, %zu heads, FFN %zu\n", c->num_layers, c->hidden_size,
               c->num_heads, c->intermediate_size);
    }
    if (rc == EXIT_OK)
        printf("threads      %d by default (config threads: N to change)\n"
               "int8 kernel  %s (used with config precision: int8)\n",
               rag_bert_default_threads(), rag_bert_int8_kernel());
    rag_encoder_free(enc);
    rag_cross_encoder_free(ce);
    free(dir);
    return rc;
}
