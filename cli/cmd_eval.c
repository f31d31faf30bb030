/* ragc eval: retrieval quality on a BEIR collection (nDCG@10, recall@100, MRR@10). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void help(FILE *f)
{
    fprintf(f, "Usage: ragc eval --corpus corpus.jsonl --queries queries.jsonl --qrels qrels.tsv [options]\n"
               "\n"
               "Ingests the BEIR corpus into an evaluation store of its own (<data-dir>/eval-<key>.db, one\n"
               "per corpus and index settings, reused on the next run), retrieves the top documents for\n"
               "every judged query (a document scores as its best chunk) and prints nDCG@10, recall@100\n"
               "and MRR@10 as trec_eval computes them, plus retrieval time per query.\n"
               "\n"
               "Options:\n"
               "  --corpus FILE      BEIR corpus.jsonl ({\"_id\",\"title\",\"text\"} per line)\n"
               "  --queries FILE     BEIR queries.jsonl ({\"_id\",\"text\"} per line)\n"
               "  --qrels FILE       TSV query-id, corpus-id, score (header line skipped)\n"
               "  -k N               documents retrieved per query (default 100)\n"
               "  --per-query        also print the metrics of every query\n"
               "\n" CLI_COMMON_HELP);
}

typedef struct eval_ui {
    bool bar;
    double last_ms;
} eval_ui;

static void on_query(void *ud, size_t done, size_t total)
{
    eval_ui *ui = ud;
    double now = rag_now_ms();
    if (!ui->bar || (done < total && now - ui->last_ms < 100))
        return;
    ui->last_ms = now;
    fprintf(stderr, "\r\033[Kqueries %zu/%zu", done, total);
    if (done == total)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

int cmd_eval(int argc, char **argv)
{
    enum { OPT_CORPUS = OPT_FIRST_LOCAL, OPT_QUERIES, OPT_QRELS, OPT_PER_QUERY };
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"corpus", required_argument, NULL, OPT_CORPUS},
        {"queries", required_argument, NULL, OPT_QUERIES},
        {"qrels", required_argument, NULL, OPT_QRELS},
        {"per-query", no_argument, NULL, OPT_PER_QUERY},
        {"k", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    cli_common common = {0};
    rag_beir_params bp = rag_beir_default_params();
    bool per_query = false;
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
        case 'k': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 1000) {
                fprintf(stderr, "ragc eval: -k must be an integer in 1..1000, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            bp.depth = (size_t)v;
            break;
        }
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
    /* One evaluation store per (corpus, index settings): reruns reuse the index. */
    char settings[256], key_src[4608], key[33], store_path[4096];
    rag_index_settings_str(cfg, settings, sizeof settings);
    snprintf(key_src, sizeof key_src, "%s\n%s", corpus_abs, settings);
    rag_hash128_hex(key_src, strlen(key_src), key);
    key[16] = '\0';
    const char *dir = common.data_dir ? common.data_dir : cfg->global_settings.data_dir;
    snprintf(store_path, sizeof store_path, "%s/eval-%s.db", dir, key);
    free(corpus_abs);

    rag_engine_params ep = rag_engine_default_params();
    ep.store_path = store_path;
    rag_engine *e = NULL;
    rag_err err;
    rag_err_clear(&err);
    if (rag_engine_open(cfg, &ep, &e, &err) != RAG_OK) {
        fprintf(stderr, "ragc eval: %s\n", err.msg);
        rag_config_free(cfg);
        return EXIT_ERROR;
    }
    cli_install_signal_handlers();
    eval_ui ui = {.bar = !common.quiet && isatty(STDERR_FILENO), .last_ms = 0};
    bp.on_query = on_query;
    bp.ud = &ui;
    rag_ingest_params ip = rag_ingest_default_params();
    ip.cancel = &cli_interrupted;
    rag_beir_report rep;
    int rc = EXIT_OK;
    if (rag_beir_eval(e, &bp, &ip, &rep, &err) != RAG_OK) {
        fprintf(stderr, "ragc eval: %s\n", err.msg);
        rc = err.status == RAG_E_CANCELLED ? EXIT_INTERRUPTED : EXIT_ERROR;
    } else {
        if (rep.ingest.docs_skipped)
            fprintf(stderr, "ragc eval: warning: %zu corpus records were skipped\n", rep.ingest.docs_skipped);
        if (rep.queries_without_text)
            fprintf(stderr, "ragc eval: warning: %zu judged queries have no text in %s (scored 0)\n",
                    rep.queries_without_text, bp.queries_path);
        if (common.json) {
            json_t *o = json_pack("{ss ss sI sf sf sf sf sf sI sI sf}", "corpus", bp.corpus_path, "store",
                                  store_path, "queries", (json_int_t)rep.metrics.n_queries, "ndcg@10",
                                  rep.metrics.ndcg10, "recall@100", rep.metrics.recall100, "mrr@10",
                                  rep.metrics.mrr10, "query_ms_p50", rep.query_ms_p50, "query_ms_p99",
                                  rep.query_ms_p99, "documents_added", (json_int_t)rep.ingest.docs_added,
                                  "documents_unchanged", (json_int_t)rep.ingest.docs_unchanged, "ingest_ms",
                                  rep.ingest.ms);
            if (o && per_query) {
                rag_buf b;
                rag_buf_init(&b, 0);
                json_t *pq = NULL;
                if (rag_eval_result_json(&rep.metrics, &b, true) == RAG_OK)
                    pq = json_loads(b.data, 0, NULL);
                rag_buf_free(&b);
                if (pq)
                    json_object_set_new(o, "detail", pq);
            }
            char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
            puts(s ? s : "{}");
            free(s);
            json_decref(o);
        } else {
            printf("corpus   %s (%zu added, %zu unchanged, ingest %.1f s)\n", bp.corpus_path,
                   rep.ingest.docs_added, rep.ingest.docs_unchanged, rep.ingest.ms / 1000.0);
            rag_eval_result_print(&rep.metrics, stdout, per_query);
            printf("query time p50 %.2f ms, p99 %.2f ms (BM25 retrieval of %zu chunks)\n", rep.query_ms_p50,
                   rep.query_ms_p99, bp.depth * 2);
        }
        rag_beir_report_clear(&rep);
    }
    rag_engine_close(e);
    rag_config_free(cfg);
    return rc;
}
