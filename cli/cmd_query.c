/* ragc search / ragc ask: retrieval and cited answers. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Longest question or query accepted on the command line (bytes). */
#define MAX_QUERY_BYTES 8192

static int parse_k(const char *arg, size_t *k)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || v < 1 || v > 1000) {
        fprintf(stderr, "ragc: -k must be an integer in 1..1000, got '%s'\n", arg);
        return -1;
    }
    *k = (size_t)v;
    return 0;
}

/* Joins argv[optind..] into one query string; validates size and UTF-8. Caller frees. */
static char *join_query(int argc, char **argv, int first, const char *what)
{
    rag_buf b;
    rag_buf_init(&b, MAX_QUERY_BYTES);
    for (int i = first; i < argc; i++) {
        if ((i > first && rag_buf_append_char(&b, ' ') != RAG_OK) || rag_buf_append_str(&b, argv[i]) != RAG_OK) {
            fprintf(stderr, "ragc: the %s is longer than %d bytes\n", what, MAX_QUERY_BYTES);
            rag_buf_free(&b);
            return NULL;
        }
    }
    size_t bad;
    if (!b.data || !rag_utf8_valid(b.data, b.len, &bad)) {
        if (b.data)
            fprintf(stderr, "ragc: the %s is not valid UTF-8 (byte %zu)\n", what, bad);
        else
            fprintf(stderr, "ragc: empty %s\n", what);
        rag_buf_free(&b);
        return NULL;
    }
    return rag_buf_steal(&b);
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

typedef struct query_cmd {
    cli_common common;
    size_t k;
    bool stream; /* ask --stream */
    rag_config *cfg;
    rag_engine *engine;
    char *text;
} query_cmd;

static void search_help(FILE *f);

/* Parses options, loads config, opens the store. Returns -1 to continue, else an exit code. */
static int query_setup(query_cmd *q, int argc, char **argv, const char *what, void (*help)(FILE *))
{
    enum { OPT_STREAM = OPT_FIRST_LOCAL };
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {"k", required_argument, NULL, 'k'},
                                             {"stream", no_argument, NULL, OPT_STREAM}, {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvhk:", longopts, NULL)) != -1) {
        if (cli_common_option(&q->common, opt, optarg))
            continue;
        switch (opt) {
        case 'k':
            if (parse_k(optarg, &q->k) != 0)
                return EXIT_USAGE;
            break;
        case OPT_STREAM:
            if (help == search_help) {
                fprintf(stderr, "ragc search: --stream is an option of ragc ask\n");
                return EXIT_USAGE;
            }
            q->stream = true;
            break;
        case 'h': help(stdout); return EXIT_OK;
        default: help(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "ragc: no %s given\n\n", what);
        help(stderr);
        return EXIT_USAGE;
    }
    q->text = join_query(argc, argv, optind, what);
    if (!q->text)
        return EXIT_USAGE;
    if (blank(q->text)) {
        fprintf(stderr, "ragc: the %s is empty\n", what);
        return EXIT_USAGE;
    }
    q->cfg = cli_load_config(&q->common);
    if (!q->cfg)
        return EXIT_ERROR;
    q->engine = cli_open_engine(q->cfg, &q->common, true);
    if (!q->engine)
        return EXIT_ERROR;
    rag_store_stats_t stats;
    if (rag_store_stats(rag_engine_store(q->engine), &stats, NULL) == RAG_OK && stats.documents == 0) {
        fprintf(stderr, "ragc: the store %s is empty: run `ragc ingest PATH...` first\n",
                rag_engine_store_path(q->engine));
        return EXIT_ERROR;
    }
    return -1;
}

static void query_cleanup(query_cmd *q)
{
    rag_engine_close(q->engine);
    rag_config_free(q->cfg);
    free(q->text);
}

static void search_help(FILE *f)
{
    fprintf(f, "Usage: ragc search [options] \"QUERY\"\n"
               "\n"
               "Prints the best matching passages (BM25), best first, with document and page.\n"
               "\n"
               "Options:\n"
               "  -k N               number of results (1..1000, default 10)\n"
               "\n" CLI_COMMON_HELP);
}

int cmd_search(int argc, char **argv)
{
    query_cmd q = {.k = 10};
    int rc = query_setup(&q, argc, argv, "query", search_help);
    if (rc >= 0) {
        query_cleanup(&q);
        return rc;
    }
    rag_search_result res;
    rag_err err;
    rag_err_clear(&err);
    if (rag_search(q.engine, q.text, q.k, &res, &err) != RAG_OK) {
        fprintf(stderr, "ragc search: %s\n", err.msg);
        query_cleanup(&q);
        return EXIT_ERROR;
    }
    if (q.common.json) {
        rag_buf b;
        rag_buf_init(&b, 0);
        if (rag_search_result_to_json(q.text, &res, &b) == RAG_OK)
            puts(b.data);
        rag_buf_free(&b);
    } else {
        if (res.n_hits == 0)
            printf("no results\n");
        for (size_t i = 0; i < res.n_hits; i++) {
            const rag_search_hit *h = &res.hits[i];
            const char *name = h->doc.ext_id ? h->doc.ext_id : h->doc.source;
            printf("%2zu. %.4f  %s", i + 1, h->score, name);
            if (h->chunk.page_start > 0) {
                if (h->chunk.page_end > h->chunk.page_start)
                    printf(" pp. %d-%d", h->chunk.page_start, h->chunk.page_end);
                else
                    printf(" p. %d", h->chunk.page_start);
            }
            size_t len = strlen(h->chunk.text);
            size_t cut = len > 200 ? 200 : len;
            while (cut < len && cut > 0 && ((unsigned char)h->chunk.text[cut] & 0xC0) == 0x80)
                cut--;
            printf("\n    %.*s%s\n", (int)cut, h->chunk.text, cut < len ? "..." : "");
        }
    }
    rag_search_result_clear(&res);
    query_cleanup(&q);
    return EXIT_OK;
}

static void ask_help(FILE *f)
{
    fprintf(f, "Usage: ragc ask [options] \"QUESTION\"\n"
               "\n"
               "Answers from the ingested documents. Every sentence of the answer carries a citation [n];\n"
               "the sources list gives document and page. With no model configured (the default), the\n"
               "answer is extractive: the best sentences of the best passages, quoted.\n"
               "\n"
               "Options:\n"
               "  -k N               passages to draw the answer from (default retriever.top_k)\n"
               "  --stream           print the answer as it is generated, then the checked answer\n"
               "  --json             answer, sources and a report of the backend and time per stage\n"
               "\n" CLI_COMMON_HELP);
}

/* ask --stream: tokens go to stdout as they arrive. */
typedef struct stream_out {
    rag_buf streamed; /* what was printed since the last discard */
} stream_out;

static void stream_token(void *ud, const char *text, size_t len)
{
    stream_out *so = ud;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    rag_buf_append(&so->streamed, text, len); /* past the cap the final answer is printed again */
}

static void stream_discard(void *ud)
{
    stream_out *so = ud;
    rag_buf_reset(&so->streamed);
    fputs("\n[that backend failed mid-answer; the next one starts over]\n", stdout);
    fflush(stdout);
}

int cmd_ask(int argc, char **argv)
{
    query_cmd q = {.k = 0};
    int rc = query_setup(&q, argc, argv, "question", ask_help);
    if (rc >= 0) {
        query_cleanup(&q);
        return rc;
    }
    rag_ask_params ap = rag_ask_default_params();
    ap.k = q.k;
    stream_out so = {.streamed = {0}};
    rag_buf_init(&so.streamed, 1 << 20);
    if (q.stream && !q.common.json) {
        ap.on_token = stream_token;
        ap.on_discard = stream_discard;
        ap.ud = &so;
    }
    rag_answer ans;
    rag_err err;
    rag_err_clear(&err);
    if (rag_ask(q.engine, q.text, &ap, &ans, &err) != RAG_OK) {
        fprintf(stderr, "ragc ask: %s\n", err.msg);
        query_cleanup(&q);
        return EXIT_ERROR;
    }
    if (q.common.json) {
        rag_buf b;
        rag_buf_init(&b, 0);
        if (rag_answer_to_json(&ans, &b) == RAG_OK)
            puts(b.data);
        rag_buf_free(&b);
    } else if (q.stream) {
        fputs("\n", stdout);
        if (!so.streamed.data || !ans.text || strcmp(so.streamed.data, ans.text) != 0)
            printf("\nAnswer with citations checked:\n%s\n", ans.text ? ans.text : "");
        rag_answer ans_sources = ans; /* print the sources list only */
        ans_sources.text = NULL;
        rag_answer_print(&ans_sources, stdout);
    } else {
        rag_answer_print(&ans, stdout);
    }
    rag_buf_free(&so.streamed);
    rag_answer_clear(&ans);
    query_cleanup(&q);
    return EXIT_OK;
}
