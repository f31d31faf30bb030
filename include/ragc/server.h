/* ragc server: the HTTP API, the embedded web UI and /metrics, on libmicrohttpd.
 *
 * Threads: a pool of max(2, global_settings.max_concurrent_requests) worker threads; each worker
 * borrows a read-only rag_engine from a pool of as many engines opened on the same store (SQLite
 * WAL: readers run concurrently). Writes (uploads, deletions) go through one writable engine under
 * a mutex. All state lives in the rag_server_t handle; nothing is process-wide.
 *
 * Endpoints (JSON unless stated; errors are {"error":{"code","message"}} with the HTTP status):
 *   POST   /v1/ask                  {"question","k"?,"stream"?} -> `ragc ask --json`, or SSE
 *                                   (event: token {"text"} per sentence, event: done <answer>,
 *                                   event: error <error>); token texts concatenate to the answer
 *   POST   /v1/chat/completions     OpenAI-compatible (stream: chat.completion.chunk SSE + [DONE])
 *   GET    /v1/models               {"object":"list","data":[{"id":"ragc",...}]}
 *   POST   /v1/documents            multipart/form-data field "file", or a raw body with
 *                                   ?filename= / X-Filename -> 201 {"documents","skipped"} | 422
 *   GET    /v1/documents            {"documents":[{"id","source","title","format","pages",...}]}
 *   GET    /v1/documents/{id}       one document record;  DELETE -> {"deleted":id}
 *   GET    /v1/documents/{id}/file  the original file (application/pdf for PDFs)
 *   GET    /v1/search?q=&k=         `ragc search --json`
 *   GET    /healthz, /readyz ({"status","documents","chains","access":{"reads","writes"}} with
 *          "open" | "key" | "disabled"), /metrics (Prometheus text 0.0.4), / and the web assets
 * Access (decided once at start; docs/security.md has the table):
 *   public  /healthz, /readyz, OPTIONS and the web assets: always open.
 *   write   POST /v1/documents, DELETE /v1/documents/{id}: need "Authorization: Bearer <api_key>"
 *           when api_key is set (401 otherwise). Without api_key they are open on a loopback
 *           address and refused with 403 "writes_disabled" on any other address (0.0.0.0, ::, a
 *           public IP), unless allow_open_writes is set (logged as a warning at start).
 *   read    every other route (ask, chat, search, models, metrics, document list/record/file):
 *           open, unless api_key is set and private_reads asks for the key on reads too.
 * CORS headers only when params.cors_origin is set.
 *
 * Request-phase deadlines (a watchdog thread shuts the socket of a connection over them; on top
 * of libmicrohttpd's idle timeout): the request line and headers within header_timeout_s of the
 * connection opening or of the previous response; a request body at min_body_rate bytes/s on
 * average after a header_timeout_s grace. Processing and the response are bounded by the idle
 * timeout only. Uploads are capped per file (max_upload_bytes, 413) and in total
 * (max_uploads_total_bytes over <data_dir>/uploads, 507).
 */
#ifndef RAGC_SERVER_H
#define RAGC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ragc/config.h"
#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rag_server rag_server_t;

typedef struct rag_server_params {
    const char *host;          /* address to bind, numeric or a name ("127.0.0.1", "0.0.0.0", "::") */
    int port;                  /* 0..65535; 0 = any free port (see rag_server_port) */
    const char *data_dir;      /* store at <data_dir>/ragc.db, uploads in <data_dir>/uploads;
                                  NULL = global_settings.data_dir */
    const char *api_key;       /* NULL or "" = no auth. Copies */
    const char *cors_origin;   /* Access-Control-Allow-Origin value; NULL or "" = no CORS. Copies */
    int threads;               /* worker threads and read engines; 0 = max(2, max_concurrent_requests) */
    unsigned connection_limit; /* simultaneous connections (default 128) */
    unsigned connection_timeout_s; /* idle seconds before a connection is closed (default 30) */
    size_t max_json_bytes;     /* JSON request body cap (default 1 MiB) */
    uint64_t max_upload_bytes; /* upload cap; 0 = document_processor.max_file_mb MiB */
    int drain_timeout_ms;      /* rag_server_stop waits this long for in-flight requests (default 30000) */
    bool private_reads;        /* reads need the key too; needs api_key (else RAG_E_CONFIG at start) */
    bool allow_open_writes;    /* without api_key on a non-loopback address, leave writes open (warned) */
    uint64_t max_uploads_total_bytes; /* cap on the bytes in <data_dir>/uploads (default 1 GiB) */
    unsigned header_timeout_s; /* seconds for a request's line + headers, and for the next request on a
                                  kept-alive connection (default 15) */
    unsigned min_body_rate;    /* bytes/s a request body must average after the grace (default 8192) */
    size_t connection_memory_bytes; /* libmicrohttpd's per-connection pool: bounds the request line +
                                       headers (larger -> 431); default 32 KiB, minimum 8 KiB */
} rag_server_params;

/* How a class of routes is guarded. */
typedef enum rag_server_guard {
    RAG_SERVER_OPEN = 0,      /* no key needed */
    RAG_SERVER_NEEDS_KEY,     /* Authorization: Bearer <api_key>, else 401 */
    RAG_SERVER_DISABLED       /* refused with 403 (writes on a public address without a key) */
} rag_server_guard;

rag_server_params rag_server_default_params(void);

/* Opens the engines (creating the store if needed) and starts listening. cfg: borrowed, valid
 * until rag_server_free. p: borrowed for the call (strings copied). Caller frees with
 * rag_server_free. Errors: RAG_E_BAD_INPUT (bad host/port/limits), RAG_E_CONFIG (private_reads
 * without api_key), RAG_E_IO (cannot bind: names the address and the reason), store errors from
 * rag_engine_open, RAG_E_NOMEM. */
rag_status rag_server_start(const rag_config *cfg, const rag_server_params *p, rag_server_t **out,
                            rag_err *err);

/* The bound port (the real one when params.port was 0). */
int rag_server_port(const rag_server_t *s);
/* The host as given in params. Borrowed, valid until rag_server_free. */
const char *rag_server_host(const rag_server_t *s);

/* How reads and writes are guarded (fixed at start). Either pointer may be NULL. */
void rag_server_guards(const rag_server_t *s, rag_server_guard *reads, rag_server_guard *writes);
/* True when the server listens on a loopback address (127.0.0.0/8, ::1). */
bool rag_server_is_loopback(const rag_server_t *s);

/* Graceful stop: stops accepting connections, lets requests in flight finish (new requests on
 * open connections get 503 with "Connection: close"), waits up to drain_timeout_ms for them, then
 * stops the daemon. Returns RAG_OK if every request finished, RAG_E_TIMEOUT if some were still
 * running when the wait ended. Safe to call twice. Must not be called from a request handler. */
rag_status rag_server_stop(rag_server_t *s);

/* Stops the server if running, closes the engines and frees the handle. NULL is a no-op. */
void rag_server_free(rag_server_t *s);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_SERVER_H */
