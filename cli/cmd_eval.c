/* ragc eval: retrieval quality on a BEIR collection (nDCG@10, recall@100, MRR@10) for BM25, dense,
 * hybrid and hybrid + rerank retrieval. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void help(FILE *f)
{
    fprintf(f,
            "Usage: ragc eval --corpus corpus.jsonl --queries queries.jsonl --qrels qrels.tsv [options]\n"
            "\n"
            "Ingests the BEIR corpus into an evaluation store of its own (<data-dir>/eval-<key>.db, one\n"
            "per corpus, index settings and, for dense retrievers, embedder; reused on the next run),\n"
            "retrieves the top documents for every judged query (a document scores as its best chunk)\n"
            "and prints nDCG@10, recall@100 and MRR@10 as trec_eval computes them, plus time per query.\n"
            "\n"
            "Retrievers:\n"
            "  bm25           BM25 alone (the default)\n"
            "  dense          the embedder's cosine top-k. The corpus is embedded once into the eval\n"
            "                 store (progress on stderr; slow on CPU: about 20-60 chunks/s for a\n"
            "                 MiniLM-L6 model on 2 cores) and reused by later runs; queries are embedded\n"
            "                 at query time\n"
            "  hybrid         the bm25 and dense document rankings fused by retriever.fusion\n"
            "                 (rrf: sum of 1/(rrf_k + rank), rrf_k 60 by default; or weighted)\n"
            "  hybrid-rerank  hybrid, then its first N documents (their best chunk) reordered by the\n"
            "                 cross-encoder; the rest keep the hybrid order after them\n"
            "\n"
            "Options:\n"
            "  --corpus FILE        BEIR corpus.jsonl ({\"_id\",\"title\",\"text\"} per line)\n"
            "  --queries FILE       BEIR queries.jsonl ({\"_id\",\"text\"} per line)\n"
            "  --qrels FILE         TSV query-id, corpus-id, score (header line skipped)\n"
            "  --retriever NAME     bm25 | dense | hybrid | hybrid-rerank (default bm25)\n"
            "  --model M            the embedder: a sentence-transformers model directory or Hugging Face\n"
            "                       repo id, run locally in C (sets embedder.chain to [local M]).\n"
            "                       Default: the configured embedder.chain; dense retrievers need one.\n"
            "                       Random-weight test models give meaningless scores: pass real weights\n"
            "                       (e.g. sentence-transformers/all-MiniLM-L6-v2) to measure quality\n"
            "  --reranker-model M   hybrid-rerank: the cross-encoder directory or repo id, run locally\n"
            "                       (sets reranker.chain to [local M]). Default: the configured\n"
            "                       reranker.chain, or [local retriever.neural_reranking.model] when empty\n"
            "  --rerank-candidates N  hybrid-rerank: documents reranked per query, 1..1000\n"
            "                       (default retriever.neural_reranking.max_candidates, 50)\n"
            "  --dense-precision P  f32 | int8: the in-memory dense index (default\n"
            "                       retriever.dense.precision; vectors are stored f32 either way)\n"
            "  --run FILE           also write the TREC run: \"qid Q0 docid rank score ragc-<retriever>\"\n"
            "  -k N                 documents retrieved per query (default 100)\n"
            "  --per-query          also print the metrics of every query\n"
            "\n" CLI_COMMON_HELP);
}

typedef struct eval_ui {
    bool bar;          /* stderr is a terminal: redraw one line */
    bool lines;        /* not a terminal and not quiet: a line every 10 s */
    double last_ms, start_ms;
} eval_ui;

static void on_query(void *ud, size_t done, size_t total)
{
    eval_ui *ui = ud;
    double now = rag_now_ms();
    if (ui->lines) { /* not a terminal: a line every 30 s for long (reranking) runs */
        if (ui->last_ms == 0 || done == total)
            ui->last_ms = now;
        else if (now - ui->last_ms >= 30000) {
            ui->last_ms = now;
            fprintf(stderr, "queries %zu/%zu\n", done, total);
        }
        return;
    }
    if (!ui->bar || (done < total && now - ui->last_ms < 100))
        return;
    ui->last_ms = now;
    fprintf(stderr, "\r\033[Kqueries %zu/%zu", done, total);
    if (done == total)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

static void on_embed(void *ud, size_t done, size_t total)
{
    eval_ui *ui = ud;
    double now = rag_now_ms();
    if (done == 0) {
        ui->start_ms = ui->last_ms = now;
        if ((ui->bar || ui->lines) && total > 0)
            fprintf(stderr, "ragc eval: embedding %zu corpus chunks (once; later runs reuse them)\n", total);
        return;
    }
    double every = ui->bar ? 200 : 10000;
    if ((!ui->bar && !ui->lines) || (done < total && now - ui->last_ms < every))
        return;
    ui->last_ms = now;
    double rate = (double)done / ((now - ui->start_ms) / 1000.0 + 1e-9);
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "%sembedded %zu/%zu chunks, %.1f chunks/s, %d:%02d left%s", ui->bar ? "\r\033[K" : "", done,
            total, rate, (int)(eta / 60), (int)eta % 60, ui->bar ? "" : "\n");
    if (ui->bar && done == total)
        fputs("\n", stderr);
    fflush(stderr);
}

/* A chain member of type `type` for model (borrowed), with every optional field unset. */
static rag_backend_config local_member(const char *model)
{
    return rag_backend_config_unset("local", model);
}

static bool has_embedder(const rag_config *c)
{
    for (size_t i = 0; i < c->embedder.n_chain; i++)
        if (strcmp(c->embedder.chain[i].type, "none") != 0)
            return true;
    return false;
}

/* A model argument naming an existing directory becomes its absolute path (so the embedding
 * space and the store key do not depend on the working directory); else a repo id, as given.
 * Returns an allocation (caller frees) or NULL when out of memory. */
static char *resolve_model_arg(const char *arg)
{
    struct stat sb;
    if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        char *abs = realpath(arg, NULL);
        if (abs)
            return abs;
    }
    return rag_strdup(arg);
}

/* Appends the embedder chain to the store key: type, model and base_url of each member, and for
 * a model directory the size and mtime of its weights (regenerated weights get a new store). */
static void embedder_key(const rag_config *c, char *buf, size_t cap)
{
    size_t o = strlen(buf);
    for (size_t i = 0; i < c->embedder.n_chain && o < cap; i++) {
        const rag_backend_config *m = &c->embedder.chain[i];
        o += (size_t)snprintf(buf + o, cap - o, "\nembedder=%s model=%s base=%s", m->type, m->model ? m->model : "",
                              m->base_url ? m->base_url : "");
        char w[4200];
        struct stat sb;
        if (o < cap && m->model && snprintf(w, sizeof w, "%s/model.safetensors", m->model) < (int)sizeof w &&
            stat(w, &sb) == 0)
            o += (size_t)snprintf(buf + o, cap - o, " weights=%lld@%lld", (long long)sb.st_size,
                                  (long long)sb.st_mtime);
    }
}

static bool parse_count(const char *opt, const char *arg, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*arg == '\0' || *end || v < lo || v > hi) {
        fprintf(stderr, "ragc eval: %s must be an integer in %ld..%ld, got '%s'\n", opt, lo, hi, arg);
        return false;
    }
    *out = v;
    return true;
}

static void print_text(const rag_beir_params *bp, const rag_beir_report *rep, const rag_config *cfg, bool per_query)
{
    printf("corpus    %s (%zu added, %zu unchanged, ingest %.1f s)\n", bp->corpus_path, rep->ingest.docs_added,
           rep->ingest.docs_unchanged, rep->ingest.ms / 1000.0);
    printf("retriever %s", rag_beir_retriever_str(bp->retriever));
    if (rep->space[0])
        printf(": dense %s (%d-d, %s index, %.1f MiB)", rep->space, rep->dim,
               rep->dense_kernel ? rep->dense_kernel : "?", (double)rep->dense_index_bytes / (1 << 20));
    if (bp->retriever == RAG_BEIR_HYBRID || bp->retriever == RAG_BEIR_HYBRID_RERANK)
        printf(", fused with bm25 by %s", rag_config_fusion_str(cfg->retriever.fusion.method));
    if (bp->retriever == RAG_BEIR_HYBRID_RERANK)
        printf(", top %zu reranked by %s", rep->rerank_candidates, rep->reranker[0] ? rep->reranker : "?");
    printf("\n");
    if (rep->space[0])
        printf("embedding %zu corpus chunks embedded in %.1f s (%zu from the cache), %zu already in the store\n",
               rep->chunks_embedded, rep->embed_ms / 1000.0, rep->embed_cache_hits, rep->chunks_reused);
    rag_eval_result_print(&rep->metrics, stdout, per_query);
    printf("query time p50 %.2f ms, p99 %.2f ms (", rep->query_ms_p50, rep->query_ms_p99);
    if (rep->space[0])
        printf("query embedding p50 %.2f ms, ", rep->query_embed_ms_p50);
    if (bp->retriever == RAG_BEIR_HYBRID_RERANK)
        printf("rerank p50 %.2f ms, ", rep->rerank_ms_p50);
    printf("%zu chunks retrieved per retriever)\n", bp->depth * 2);
}

static void print_json(const rag_beir_params *bp, const rag_beir_report *rep, const rag_config *cfg,
                       const char *store_path, const char *run_path, bool per_query)
{
    json_t *o = json_pack("{ss ss ss sI sf sf sf sf sf sI sI sf}", "corpus", bp->corpus_path, "store", store_path,
                          "retriever", rag_beir_retriever_str(bp->retriever), "queries",
                          (json_int_t)rep->metrics.n_queries, "ndcg@10", rep->metrics.ndcg10, "recall@100",
                          rep->metrics.recall100, "mrr@10", rep->metrics.mrr10, "query_ms_p50", rep->query_ms_p50,
                          "query_ms_p99", rep->query_ms_p99, "documents_added", (json_int_t)rep->ingest.docs_added,
                          "documents_unchanged", (json_int_t)rep->ingest.docs_unchanged, "ingest_ms",
                          rep->ingest.ms);
    if (o && rep->space[0]) {
        json_object_set_new(o, "space", json_string(rep->space));
        json_object_set_new(o, "dim", json_integer(rep->dim));
        json_object_set_new(o, "precision", json_string(rag_config_dense_precision_str(cfg->retriever.dense.precision)));
        json_object_set_new(o, "dense_kernel", json_string(rep->dense_kernel ? rep->dense_kernel : ""));
        json_object_set_new(o, "dense_index_bytes", json_integer((json_int_t)rep->dense_index_bytes));
        json_object_set_new(o, "dense_index_loads", json_integer((json_int_t)rep->dense_index_loads));
        json_object_set_new(o, "chunks_embedded", json_integer((json_int_t)rep->chunks_embedded));
        json_object_set_new(o, "chunks_reused", json_integer((json_int_t)rep->chunks_reused));
        json_object_set_new(o, "embed_cache_hits", json_integer((json_int_t)rep->embed_cache_hits));
        json_object_set_new(o, "embed_ms", json_real(rep->embed_ms));
        json_object_set_new(o, "query_embed_ms_p50", json_real(rep->query_embed_ms_p50));
    }
    if (o && (bp->retriever == RAG_BEIR_HYBRID || bp->retriever == RAG_BEIR_HYBRID_RERANK)) {
        json_object_set_new(o, "fusion", json_string(rag_config_fusion_str(cfg->retriever.fusion.method)));
        json_object_set_new(o, "rrf_k", json_integer(cfg->retriever.fusion.rrf_k));
    }
    if (o && bp->retriever == RAG_BEIR_HYBRID_RERANK) {
        json_object_set_new(o, "reranker", json_string(rep->reranker));
        json_object_set_new(o, "rerank_candidates", json_integer((json_int_t)rep->rerank_candidates));
        json_object_set_new(o, "rerank_ms_p50", json_real(rep->rerank_ms_p50));
    }
    if (o && run_path)
        json_object_set_new(o, "run", json_string(run_path));
    if (o && per_query) {
        rag_buf b;
        rag_buf_init(&b, 0);
        json_t *pq = NULL;
        if (rag_eval_result_json(&rep->metrics, &b, true) == RAG_OK)
            pq = json_loads(b.data, 0, NULL);
        rag_buf_free(&b);
        if (pq)
            json_object_set_new(o, "detail", pq);
    }
    char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
    puts(s ? s : "{}");
    free(s);
    json_decref(o);
}

int cmd_eval(int argc, char **argv)
{
    enum {
        OPT_CORPUS = OPT_FIRST_LOCAL, OPT_QUERIES, OPT_QRELS, OPT_PER_QUERY, OPT_RETRIEVER, OPT_MODEL,
        OPT_RERANKER_MODEL, OPT_RERANK_CANDIDATES, OPT_DENSE_PRECISION, OPT_RUN
    };
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"corpus", required_argument, NULL, OPT_CORPUS},
        {"queries", required_argument, NULL, OPT_QUERIES},
        {"qrels", required_argument, NULL, OPT_QRELS},
        {"per-query", no_argument, NULL, OPT_PER_QUERY},
        {"retriever", required_argument, NULL, OPT_RETRIEVER},
        {"model", required_argument, NULL, OPT_MODEL},
        {"reranker-model", required_argument, NULL, OPT_RERANKER_MODEL},
        {"rerank-candidates", required_argument, NULL, OPT_RERANK_CANDIDATES},
        {"dense-precision", required_argument, NULL, OPT_DENSE_PRECISION},
        {"run", required_argument, NULL, OPT_RUN},
        {"k", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    cli_common common = {0};
    rag_beir_params bp = rag_beir_default_params();
    bool per_query = false;
    const char *model = NULL, *reranker_model = NULL, *precision = NULL, *run_path = NULL;
    long v;
    rag_err err;
    rag_err_clear(&err);
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvhk:", longopts, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg))
            continue;
        switch (opt) {
        case OPT_CORPUS: bp.corpus_path = optarg; break;
        case OPT_QUERIES: bp.queries_path = optarg; break;
        case OPT_QRELS: bp.qrels_path = optarg; break;
        case OPT_PER_QUERY: per_query = true; break;
        case OPT_RETRIEVER:
            if (rag_beir_retriever_parse(optarg, &bp.retriever, &err) != RAG_OK) {
                fprintf(stderr, "ragc eval: --retriever: %s\n", err.msg);
                return EXIT_USAGE;
            }
            break;
        case OPT_MODEL: model = optarg; break;
        case OPT_RERANKER_MODEL: reranker_model = optarg; break;
        case OPT_RERANK_CANDIDATES:
            if (!parse_count("--rerank-candidates", optarg, 1, 1000, &v))
                return EXIT_USAGE;
            bp.rerank_candidates = (size_t)v;
            break;
        case OPT_DENSE_PRECISION:
            if (strcmp(optarg, "f32") != 0 && strcmp(optarg, "int8") != 0) {
                fprintf(stderr, "ragc eval: --dense-precision must be f32 or int8, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            precision = optarg;
            break;
        case OPT_RUN: run_path = optarg; break;
        case 'k':
            if (!parse_count("-k", optarg, 1, 1000, &v))
                return EXIT_USAGE;
            bp.depth = (size_t)v;
            break;
        case 'h': help(stdout); return EXIT_OK;
        default: help(stderr); return EXIT_USAGE;
        }
    }
    if (!bp.corpus_path || !bp.queries_path || !bp.qrels_path || optind < argc) {
        fprintf(stderr, "ragc eval: --corpus, --queries and --qrels are required%s\n\n",
                optind < argc ? " (and nothing else)" : "");
        help(stderr);
        return EXIT_USAGE;
    }
    const bool dense = bp.retriever != RAG_BEIR_BM25, rerank = bp.retriever == RAG_BEIR_HYBRID_RERANK;
    const char *misplaced = !dense && model ? "--model" : !dense && precision ? "--dense-precision"
                            : !rerank && reranker_model ? "--reranker-model"
                            : !rerank && bp.rerank_candidates ? "--rerank-candidates" : NULL;
    if (misplaced) {
        fprintf(stderr, "ragc eval: %s has no effect with --retriever %s (it applies to %s)\n", misplaced,
                rag_beir_retriever_str(bp.retriever),
                strstr(misplaced, "rerank") ? "hybrid-rerank" : "dense, hybrid and hybrid-rerank");
        return EXIT_USAGE;
    }
    char *corpus_abs = realpath(bp.corpus_path, NULL);
    if (!corpus_abs) {
        fprintf(stderr, "ragc eval: %s: cannot open the corpus\n", bp.corpus_path);
        return EXIT_ERROR;
    }
    rag_config *cfg = cli_load_config(&common);
    if (!cfg) {
        free(corpus_abs);
        return EXIT_ERROR;
    }
    /* The evaluated configuration: a shallow copy of cfg (which keeps owning every string and
     * array) with the command line's overrides. */
    rag_config ecfg = *cfg;
    char *model_abs = model ? resolve_model_arg(model) : NULL;
    char *reranker_abs = reranker_model ? resolve_model_arg(reranker_model) : NULL;
    rag_backend_config emb = local_member(model_abs), rr = local_member(reranker_abs);
    if (model_abs) {
        ecfg.embedder.chain = &emb;
        ecfg.embedder.n_chain = 1;
    }
    if (rerank) {
        if (reranker_abs || ecfg.reranker.n_chain == 0) {
            ecfg.reranker.chain = &rr; /* model NULL: retriever.neural_reranking.model */
            ecfg.reranker.n_chain = 1;
        }
        ecfg.retriever.neural_reranking.enabled = true;
    }
    if (precision)
        ecfg.retriever.dense.precision = strcmp(precision, "int8") == 0 ? RAG_CONFIG_DENSE_INT8 : RAG_CONFIG_DENSE_F32;
    int rc = EXIT_OK;
    FILE *run_out = NULL;
    rag_engine *e = NULL;
    char store_path[4096];
    if ((model && !model_abs) || (reranker_model && !reranker_abs)) {
        fprintf(stderr, "ragc eval: out of memory\n");
        rc = EXIT_ERROR;
    } else if (dense && !has_embedder(&ecfg)) {
        fprintf(stderr,
                "ragc eval: --retriever %s needs an embedder, and embedder.chain has none: pass --model DIR_OR_ID "
                "(a sentence-transformers model directory or Hugging Face repo id, run locally) or configure "
                "embedder.chain\n", rag_beir_retriever_str(bp.retriever));
        rc = EXIT_USAGE;
    }
    if (rc == EXIT_OK) {
        /* One evaluation store per (corpus, index settings[, embedder]): reruns reuse the index and
         * the vectors. */
        char key_src[16384], key[33];
        snprintf(key_src, sizeof key_src, "%s\n", corpus_abs);
        rag_index_settings_str(&ecfg, key_src + strlen(key_src), sizeof key_src - strlen(key_src));
        if (dense)
            embedder_key(&ecfg, key_src, sizeof key_src);
        rag_hash128_hex(key_src, strlen(key_src), key);
        key[16] = '\0';
        const char *dir = common.data_dir ? common.data_dir : cfg->global_settings.data_dir;
        snprintf(store_path, sizeof store_path, "%s/eval-%s.db", dir, key);
        if (run_path && !(run_out = fopen(run_path, "w"))) {
            fprintf(stderr, "ragc eval: --run %s: cannot write: %s\n", run_path, strerror(errno));
            rc = EXIT_ERROR;
        }
    }
    if (rc == EXIT_OK) {
        rag_engine_params ep = rag_engine_default_params();
        ep.store_path = store_path;
        if (rag_engine_open(&ecfg, &ep, &e, &err) != RAG_OK) {
            fprintf(stderr, "ragc eval: %s\n", err.msg);
            rc = EXIT_ERROR;
        }
    }
    if (rc == EXIT_OK) {
        cli_install_signal_handlers();
        bool tty = isatty(STDERR_FILENO);
        eval_ui ui = {.bar = !common.quiet && tty, .lines = !common.quiet && !tty};
        bp.on_query = on_query;
        bp.on_embed = on_embed;
        bp.ud = &ui;
        bp.run_out = run_out;
        rag_ingest_params ip = rag_ingest_default_params();
        ip.cancel = &cli_interrupted;
        rag_beir_report rep;
        if (rag_beir_eval(e, &bp, &ip, &rep, &err) != RAG_OK) {
            fprintf(stderr, "ragc eval: %s\n", err.msg);
            rc = err.status == RAG_E_CANCELLED ? EXIT_INTERRUPTED : EXIT_ERROR;
        } else {
            if (rep.ingest.docs_skipped)
                fprintf(stderr, "ragc eval: warning: %zu corpus records were skipped\n", rep.ingest.docs_skipped);
            if (rep.queries_without_text)
                fprintf(stderr, "ragc eval: warning: %zu judged queries have no text in %s (scored 0)\n",
                        rep.queries_without_text, bp.queries_path);
            if (common.json)
                print_json(&bp, &rep, &ecfg, store_path, run_path, per_query);
            else
                print_text(&bp, &rep, &ecfg, per_query);
            rag_beir_report_clear(&rep);
        }
    }
    if (run_out && fclose(run_out) != 0 && rc == EXIT_OK) {
        fprintf(stderr, "ragc eval: --run %s: %s\n", run_path, strerror(errno));
        rc = EXIT_ERROR;
    }
    if (run_out && rc != EXIT_OK)
        remove(run_path); /* no partial run files */
    rag_engine_close(e);
    free(model_abs);
    free(reranker_abs);
    free(corpus_abs);
    rag_config_free(cfg);
    return rc;
}
