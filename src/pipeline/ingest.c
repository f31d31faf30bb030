/* Ingest orchestration: walk -> extract (+normalize) -> chunk -> embed -> store + BM25, one store
 * transaction per document so an interrupted run loses nothing already committed; then the
 * backfill: vectors for the chunks already in the store that have none in the current embedding
 * space (documents ingested with embedder none, or while the embedder was down). */
#include "pipeline_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragc/chunker.h"
#include "ragc/dense.h"
#include "ragc/extract.h"
#include "ragc/walk.h"

rag_ingest_params rag_ingest_default_params(void)
{
    rag_ingest_params p;
    memset(&p, 0, sizeof p);
    return p;
}

typedef struct ingest_ctx {
    rag_engine *e;
    const rag_ingest_params *p;
    rag_ingest_summary *sum;
    rag_chunker_params chunker;
    rag_ingest_progress progress;
    rag_status fatal;        /* a store error that must stop the whole run */
    rag_err fatal_err;
    char space[PIPELINE_SPACE_CAP]; /* the space of the first embedding made in this run ("" none) */
    bool embed_failed;       /* the last document embedding of this run failed ... */
    char embed_failure[300]; /* ... why */
} ingest_ctx;

static void report(ingest_ctx *c, const char *source, rag_ingest_outcome o, const char *reason)
{
    switch (o) {
    case RAG_INGEST_ADDED: c->sum->docs_added++; break;
    case RAG_INGEST_UPDATED: c->sum->docs_updated++; break;
    case RAG_INGEST_UNCHANGED: c->sum->docs_unchanged++; break;
    case RAG_INGEST_SKIPPED: c->sum->docs_skipped++; break;
    }
    if (c->p->on_outcome)
        c->p->on_outcome(c->p->ud, source, o, reason);
}

static bool cancelled(const ingest_ctx *c)
{
    return c->p->cancel && *c->p->cancel;
}

static bool is_unchanged(void *ud, const char *source, const char *content_hash)
{
    ingest_ctx *c = ud;
    if (c->p->force)
        return false;
    int64_t id;
    char hash[33];
    if (rag_store_doc_lookup(c->e->store, source, &id, hash, NULL) != RAG_OK)
        return false;
    if (strcmp(hash, content_hash) != 0)
        return false;
    report(c, source, RAG_INGEST_UNCHANGED, NULL);
    return true;
}

static void on_skip(void *ud, const char *source, const rag_err *why)
{
    ingest_ctx *c = ud;
    report(c, source, RAG_INGEST_SKIPPED, why ? why->msg : "skipped");
}

/* Indexes one chunk's terms for BM25. */
static rag_status index_chunk(ingest_ctx *c, int64_t chunk_id, const char *text, size_t len, rag_err *err)
{
    rag_term_freq *tfs = NULL;
    size_t n = 0;
    uint32_t doc_len = 0;
    rag_status st = rag_analyzer_term_freqs(c->e->analyzer, text, len, &tfs, &n, &doc_len);
    if (st != RAG_OK)
        return rag_err_set(err, st, "analyzing chunk %lld: %s", (long long)chunk_id, rag_status_str(st));
    rag_bm25_term *terms = n ? malloc(n * sizeof *terms) : NULL;
    if (n && !terms) {
        rag_term_freqs_free(tfs, n);
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        terms[i].term = tfs[i].term;
        terms[i].tf = tfs[i].tf;
    }
    st = rag_bm25_add(c->e->store, chunk_id, terms, n, doc_len, err);
    free(terms);
    rag_term_freqs_free(tfs, n);
    return st;
}

/* The chunk's page marks as rag_chunk_record.page_map ("OFFSET:PAGE ..."), or NULL when it is on
 * one page. Caller frees with free(). *ok is false on allocation failure. */
static char *page_map_of(const rag_chunk *c, bool *ok)
{
    *ok = true;
    if (c->n_page_marks == 0)
        return NULL;
    rag_buf b;
    rag_buf_init(&b, 0);
    for (size_t i = 0; i < c->n_page_marks && *ok; i++)
        *ok = rag_buf_appendf(&b, "%s%zu:%d", i ? " " : "", c->page_marks[i].offset, c->page_marks[i].page) ==
              RAG_OK;
    char *s = *ok ? rag_buf_steal(&b) : NULL;
    rag_buf_free(&b);
    *ok = *ok && s;
    return s;
}

/* Stores one document and its chunks in one transaction. */
static rag_status store_document(ingest_ctx *c, const rag_document *doc, const rag_chunk *chunks,
                                 size_t n_chunks, const float *vecs, int dim, const char *space, bool *replaced,
                                 rag_err *err)
{
    rag_store *s = c->e->store;
    rag_status st = rag_store_begin(s, err);
    if (st != RAG_OK)
        return st;
    int64_t old_id;
    char old_hash[33];
    *replaced = rag_store_doc_lookup(s, doc->source, &old_id, old_hash, NULL) == RAG_OK;

    rag_doc_record rec;
    memset(&rec, 0, sizeof rec);
    rec.source = doc->source;
    rec.ext_id = doc->ext_id;
    rec.title = doc->title;
    rec.format = (char *)doc->format;
    memcpy(rec.content_hash, doc->content_hash, sizeof rec.content_hash);
    rec.n_pages = doc->n_pages_total;
    rec.n_pages_failed = doc->n_pages_failed;
    rec.mtime = doc->mtime;
    rec.n_chunks = (int)n_chunks;
    int64_t doc_id = 0;
    st = rag_store_doc_put(s, &rec, &doc_id, err);
    for (size_t i = 0; st == RAG_OK && i < n_chunks; i++) {
        rag_chunk_record cr;
        memset(&cr, 0, sizeof cr);
        cr.doc_id = doc_id;
        cr.seq = (int)i;
        cr.page_start = chunks[i].page_start;
        cr.page_end = chunks[i].page_end;
        cr.byte_start = (int64_t)chunks[i].byte_start;
        cr.byte_end = (int64_t)chunks[i].byte_end;
        cr.n_tokens = (int)chunks[i].n_tokens;
        cr.text = chunks[i].text;
        bool ok;
        cr.page_map = page_map_of(&chunks[i], &ok);
        st = ok ? rag_store_chunk_put(s, &cr, err) : rag_err_set(err, RAG_E_NOMEM, "out of memory");
        free(cr.page_map);
        if (st == RAG_OK)
            st = index_chunk(c, cr.id, chunks[i].text, chunks[i].len, err);
        if (st == RAG_OK && vecs)
            st = rag_dense_put(s, space, cr.id, vecs + i * (size_t)dim, dim, err);
    }
    if (st == RAG_OK)
        st = rag_store_commit(s, err);
    if (st != RAG_OK) {
        rag_err ignored;
        rag_store_rollback(s, &ignored);
    }
    return st;
}

/* Extractor callback: takes ownership of doc. */
static rag_status on_document(void *ud, rag_document *doc, rag_err *err)
{
    ingest_ctx *c = ud;
    rag_chunk *chunks = NULL;
    size_t n_chunks = 0;
    rag_err derr;
    rag_err_clear(&derr);
    rag_status st = rag_chunk_document(doc->pages, doc->n_pages, &c->chunker, &chunks, &n_chunks, &derr);
    if (st == RAG_OK && n_chunks == 0)
        st = rag_err_set(&derr, RAG_E_EMPTY, "no text to index");
    if (st != RAG_OK) {
        report(c, doc->source, RAG_INGEST_SKIPPED, derr.msg);
        rag_document_free(doc);
        return cancelled(c) ? rag_err_set(err, RAG_E_CANCELLED, "interrupted") : RAG_OK;
    }
    /* Embeddings first, outside the store transaction (remote calls can take seconds). A
     * document the embedder chain cannot embed is still stored, for BM25, and says so. */
    float *vecs = NULL;
    int dim = 0;
    char space[PIPELINE_SPACE_CAP] = "";
    char embed_note[300] = "";
    if (pipeline_embedder_chain(c->e->backends)) {
        const char **texts = malloc(n_chunks * sizeof *texts);
        rag_chain_report rep;
        rag_chain_report_init(&rep);
        rag_models_request rq;
        memset(&rq, 0, sizeof rq);
        rag_err eerr;
        rag_err_clear(&eerr);
        rag_status est = RAG_E_NOMEM;
        if (texts) {
            for (size_t i = 0; i < n_chunks; i++)
                texts[i] = chunks[i].text;
            est = pipeline_embed(c->e, &rq, texts, n_chunks, &vecs, &dim, space, sizeof space, NULL, 0, &rep,
                                 &eerr);
        }
        free(texts);
        c->sum->embed_cache_hits += rep.cache_hits;
        c->sum->embed_cache_misses += rep.cache_misses;
        rag_chain_report_free(&rep);
        c->embed_failed = est != RAG_OK;
        if (est == RAG_OK) {
            c->sum->docs_embedded++;
            if (!c->space[0])
                snprintf(c->space, sizeof c->space, "%s", space);
        } else {
            snprintf(c->embed_failure, sizeof c->embed_failure, "%.280s",
                     eerr.msg[0] ? eerr.msg : "the embedder chain reached none");
            snprintf(embed_note, sizeof embed_note, "not embedded (BM25 only): %.240s", c->embed_failure);
        }
    }
    bool replaced = false;
    st = store_document(c, doc, chunks, n_chunks, vecs, dim, space, &replaced, &derr);
    free(vecs);
    if (st == RAG_OK) {
        c->sum->pages += doc->n_pages_total > 0 ? (size_t)doc->n_pages_total : 0;
        c->sum->pages_failed += doc->n_pages_failed > 0 ? (size_t)doc->n_pages_failed : 0;
        c->sum->chunks += n_chunks;
        c->progress.chunks += n_chunks;
        char reason[480] = "";
        if (doc->n_pages_failed > 0)
            snprintf(reason, sizeof reason, "%d of %d pages could not be extracted%s%s", doc->n_pages_failed,
                     doc->n_pages_total, embed_note[0] ? "; " : "", embed_note);
        else if (embed_note[0])
            snprintf(reason, sizeof reason, "%s", embed_note);
        report(c, doc->source, replaced ? RAG_INGEST_UPDATED : RAG_INGEST_ADDED, reason[0] ? reason : NULL);
    } else {
        /* A store failure is not the document's fault: stop the run rather than skip on. */
        c->fatal = st;
        c->fatal_err = derr;
        rag_err_prefix(&c->fatal_err, "%s: ", doc->source);
    }
    rag_chunks_free(chunks, n_chunks);
    rag_document_free(doc);
    if (st != RAG_OK)
        return rag_err_set(err, st, "%s", c->fatal_err.msg);
    if (cancelled(c))
        return rag_err_set(err, RAG_E_CANCELLED, "interrupted");
    return RAG_OK;
}

#define BACKFILL_BATCH 64

/* Embeds the chunks of the store that have no vector in the current space: the space of the first
 * embedding of this run, else the one the chain's first member would serve. When the chain serves
 * another space before anything was stored (that member is down and the next one, of another model,
 * answers), that space is filled instead, once. When the last document embedding of this run failed,
 * the chain is not called again (a down embedder would cost its retries twice): the chunks without
 * a vector are only counted. An embedder failure leaves a note and that count; a store error or
 * running out of memory stops the run. */
static rag_status backfill(ingest_ctx *c, rag_err *err)
{
    rag_ingest_summary *sum = c->sum;
    if (!pipeline_embedder_chain(c->e->backends))
        return RAG_OK;
    char space[PIPELINE_SPACE_CAP];
    if (c->space[0])
        snprintf(space, sizeof space, "%s", c->space);
    else if (!pipeline_predicted_space(c->e, space, sizeof space))
        return RAG_OK;
    if (c->embed_failed) {
        int64_t *ids = NULL;
        size_t n = 0;
        rag_status st = rag_dense_missing_chunks(c->e->store, space, &ids, &n, err);
        free(ids);
        snprintf(sum->backfill_space, sizeof sum->backfill_space, "%s", space);
        sum->chunks_unembedded = n;
        snprintf(sum->backfill_note, sizeof sum->backfill_note, "not tried again after a failure in this run: %.260s",
                 c->embed_failure);
        return st;
    }
    pipeline_fill f;
    memset(&f, 0, sizeof f);
    f.batch = BACKFILL_BATCH;
    f.cancel = c->p->cancel;
    f.on_progress = c->p->on_backfill;
    f.ud = c->p->ud;
    rag_err ferr;
    rag_err_clear(&ferr);
    rag_status st = pipeline_fill_space(c->e, space, "chunks of earlier documents", &f, &ferr);
    if (st == RAG_E_UPSTREAM && f.served[0] && f.done == 0) {
        snprintf(space, sizeof space, "%s", f.served);
        rag_err_clear(&ferr);
        st = pipeline_fill_space(c->e, space, "chunks of earlier documents", &f, &ferr);
    }
    snprintf(sum->backfill_space, sizeof sum->backfill_space, "%s", space);
    sum->chunks_backfilled = f.done;
    sum->backfill_cache_hits = f.cache_hits;
    if (st == RAG_OK)
        return RAG_OK;
    sum->chunks_unembedded = f.missing - f.done;
    snprintf(sum->backfill_note, sizeof sum->backfill_note, "%.319s", ferr.msg);
    if (st == RAG_E_CANCELLED) {
        sum->cancelled = true;
        return RAG_OK;
    }
    if (st == RAG_E_UPSTREAM)
        return RAG_OK;
    if (err)
        *err = ferr;
    return st;
}

rag_status rag_ingest_paths(rag_engine *e, const char *const *paths, size_t n_paths,
                            const rag_ingest_params *p, rag_ingest_summary *sum, rag_err *err)
{
    rag_ingest_params dp = rag_ingest_default_params();
    if (!p)
        p = &dp;
    memset(sum, 0, sizeof *sum);
    double t0 = rag_now_ms();

    /* Sources are absolute paths, so the same file ingested from another directory is the
     * same document. A path realpath() cannot resolve is passed as given: the walker names it. */
    char **abs = calloc(n_paths ? n_paths : 1, sizeof *abs);
    if (!abs)
        return rag_err_set(err, RAG_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n_paths; i++)
        abs[i] = realpath(paths[i], NULL);
    const char **walk_paths = calloc(n_paths ? n_paths : 1, sizeof *walk_paths);
    rag_file_list files;
    rag_file_list_init(&files);
    rag_status st = RAG_E_NOMEM;
    if (walk_paths) {
        for (size_t i = 0; i < n_paths; i++)
            walk_paths[i] = abs[i] ? abs[i] : paths[i];
        st = rag_walk(walk_paths, n_paths, &files, err);
    } else {
        rag_err_set(err, st, "out of memory");
    }
    free(walk_paths);
    for (size_t i = 0; i < n_paths; i++)
        free(abs[i]);
    free(abs);
    if (st != RAG_OK)
        return st;

    ingest_ctx c;
    memset(&c, 0, sizeof c);
    c.e = e;
    c.p = p;
    c.sum = sum;
    c.chunker = rag_chunker_default_params();
    c.chunker.chunk_size = (size_t)e->cfg->document_processor.chunk_size;
    c.chunker.chunk_overlap = (size_t)e->cfg->document_processor.chunk_overlap;
    sum->files = files.n_files;
    sum->files_ignored = files.n_ignored;
    c.progress.files_total = files.n_files;
    for (size_t i = 0; i < files.n_files; i++)
        c.progress.bytes_total += files.files[i].size;

    rag_extract_params xp = rag_extract_default_params();
    xp.password = p->password;
    xp.max_file_bytes = (size_t)e->cfg->document_processor.max_file_mb << 20;
    xp.max_text_bytes = (size_t)e->cfg->document_processor.max_text_mb << 20;
    xp.is_unchanged = is_unchanged;
    xp.on_skip = on_skip;
    xp.ud = &c;

    for (size_t i = 0; i < files.n_files && !cancelled(&c); i++) {
        const char *path = files.files[i].path;
        c.progress.current = path;
        if (p->on_progress)
            p->on_progress(p->ud, &c.progress);
        rag_err ferr;
        rag_err_clear(&ferr);
        rag_status fst = rag_extract_file(path, &xp, on_document, &c, &ferr);
        if (c.fatal != RAG_OK)
            break;
        if (fst != RAG_OK && fst != RAG_E_CANCELLED)
            report(&c, path, RAG_INGEST_SKIPPED, ferr.msg);
        c.progress.files_done = i + 1;
        c.progress.bytes_done += files.files[i].size;
    }
    c.progress.current = NULL;
    if (p->on_progress)
        p->on_progress(p->ud, &c.progress);
    sum->cancelled = cancelled(&c);
    rag_file_list_clear(&files);
    if (c.fatal != RAG_OK) {
        sum->ms = rag_now_ms() - t0;
        if (err)
            *err = c.fatal_err;
        return c.fatal;
    }
    st = sum->cancelled ? RAG_OK : backfill(&c, err);
    sum->ms = rag_now_ms() - t0;
    return st;
}
