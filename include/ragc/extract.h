/* Extraction: one input file -> rag_document(s) with normalized text per page.
 *
 * Formats (chosen by extension, see walk.h):
 * - pdf: MuPDF structured text per page (page numbers 1-based); title from the Info dictionary.
 *   Encrypted files need params.password. A page that fails is counted in n_pages_failed and
 *   logged at warn level. MuPDF's own warnings go to rag_log at debug level.
 * - html: visible text only (no script/style/noscript/template/svg/math/iframe/head content other
 *   than <title>); block elements separate paragraphs. Title from <title>, else the first <h1>.
 *   A file that is not valid UTF-8 is decoded as ISO-8859-1.
 * - markdown: text with the markup removed (headings, emphasis, links -> link text, images
 *   dropped, code spans/blocks kept as text, HTML tags stripped). Title = first heading.
 * - text: as is. Title = file name without extension.
 * - beir (.jsonl): one document per line {"_id": str, "title": str (optional), "text": str};
 *   source "<path>#<_id>", ext_id = _id, one page (number 0) with title + "\n\n" + text.
 *   A bad line is reported through params.on_skip and the walk continues.
 * One file yields one document (BEIR: one per valid record), each handed to the callback.
 * Every error message starts with the file path (BEIR line errors with "<path>:<line>").
 */
#ifndef RAGC_EXTRACT_H
#define RAGC_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>

#include "ragc/core.h"
#include "ragc/document.h"
#include "ragc/walk.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RAG_EXTRACT_BEIR_LINE_MAX ((size_t)16 << 20) /* bytes per BEIR line, excluding '\n' */
#define RAG_EXTRACT_PDF_MAX_PAGES 100000              /* pages a PDF may declare (its page tree's /Count) */

typedef struct rag_extract_params {
    /* PDF user or owner password, or NULL. Borrowed, valid for the rag_extract_file call. */
    const char *password;
    /* Files larger than this many bytes fail with RAG_E_TOO_LARGE. Default 256 MiB; 0 = default. */
    size_t max_file_bytes;
    /* Normalized text of one document (sum over its pages) above this many bytes fails with
     * RAG_E_TOO_LARGE. Default 64 MiB; 0 = default. */
    size_t max_text_bytes;
    /* Optional. Called with the document's source and content_hash (32 hex chars) before any
     * extraction; returning true skips the document (not extracted, callback not called).
     * Both strings are borrowed for the duration of the call. */
    bool (*is_unchanged)(void *ud, const char *source, const char *content_hash);
    /* Optional. Called for each skipped BEIR line: source is "<path>:<line>" (line 1-based) and
     * why->msg names the line and the reason. Both borrowed for the duration of the call.
     * When NULL, skipped lines are logged at warn level. */
    void (*on_skip)(void *ud, const char *source, const rag_err *why);
    void *ud; /* passed to is_unchanged and on_skip; borrowed */
} rag_extract_params;

rag_extract_params rag_extract_default_params(void);

/* Receives each extracted document; takes ownership of doc (frees it with rag_document_free,
 * also when it returns an error). A non-OK return stops extraction of the file and is returned
 * by rag_extract_file; err (never NULL here) may be filled with a message. */
typedef rag_status (*rag_document_cb)(void *ud, rag_document *doc, rag_err *err);

/* Extracts the file at path and hands the document(s) to cb(ud, doc, err).
 * path: borrowed for the call; copied into doc->source. p: borrowed; NULL = defaults.
 * Returns RAG_OK also when is_unchanged skipped the file (cb not called).
 * Errors (message starts with the path):
 *   RAG_E_NOT_FOUND / RAG_E_IO   file missing or unreadable
 *   RAG_E_UNSUPPORTED            extension not supported, or not a regular file
 *   RAG_E_TOO_LARGE              file above max_file_bytes, text above max_text_bytes, or a
 *                                PDF declaring more than RAG_EXTRACT_PDF_MAX_PAGES pages
 *   RAG_E_EMPTY                  "empty file", or no page has text ("no extractable text:
 *                                image-only or scanned PDF?"), or a BEIR file without a valid record
 *   RAG_E_BAD_INPUT              invalid UTF-8 in text/markdown ("invalid UTF-8 at byte N (not a
 *                                UTF-8 text file)"), "not a readable PDF: <reason>" (also when
 *                                every page fails), HTML nested more than 10,000 elements deep
 *   RAG_E_ENCRYPTED              "encrypted PDF: pass --password" / "wrong password"
 *   anything cb returns. */
rag_status rag_extract_file(const char *path, const rag_extract_params *p, rag_document_cb cb,
                            void *ud, rag_err *err);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_EXTRACT_H */
