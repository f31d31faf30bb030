/* Hugging Face Hub files through the huggingface_hub cache layout, so files that Python tools
 * downloaded are reused as they are and files ragc downloads are visible to them:
 *
 *   <cache>/models--org--name/refs/<revision>                 commit sha, no newline
 *   <cache>/models--org--name/snapshots/<commit>/<file>      -> ../../blobs/<etag> (relative symlink)
 *   <cache>/models--org--name/blobs/<etag>                    the content (etag = sha256 for LFS files)
 *   <cache>/models--org--name/.no_exist/<commit>/<file>       empty marker: the repo has no such file
 *   <cache>/.locks/models--org--name/<etag>.lock              flock held while downloading
 *
 * Downloads: HEAD {endpoint}/{repo}/resolve/{revision}/{file} (revision percent-encoded fully, file
 * with '/' kept), following same-host redirects, for the metadata (X-Repo-Commit, X-Linked-Etag or
 * ETag, X-Linked-Size or Content-Length, X-Error-Code); then GET from where it pointed, following
 * redirects and sending the token only to the endpoint's own origin (scheme, host and port). The body
 * goes to blobs/<etag>.<random>.incomplete under the lock, its size (and sha256 when the etag is a
 * 64-hex LFS sha256) is checked, then it is renamed into place and symlinked, and refs/<revision>
 * is written when the revision is a branch or tag.
 *
 * Process setup: libcurl must be initialised once by the program (rag_net_global_init, net.h)
 * before the first download. Thread-safe: no shared state; concurrent downloads of the same file
 * (threads or processes) serialise on the lock file.
 */
#ifndef RAGC_HUB_H
#define RAGC_HUB_H

#include <stdint.h>

#include "ragc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rag_hub_params {
    const char *repo_id;   /* borrowed: "org/name" or "name" ([A-Za-z0-9._-], no "--" or ".."), or a
                              local directory (then the result is <dir>/<filename>, which must exist) */
    const char *revision;  /* borrowed: branch, tag or 40-hex commit; NULL = "main" */
    const char *filename;  /* borrowed: path inside the repo, '/'-separated, no "." / ".." components */
    const char *endpoint;  /* borrowed; NULL = $HF_ENDPOINT, else "https://huggingface.co" */
    const char *token;     /* borrowed; NULL = $HF_TOKEN, else the first line of $HF_HOME/token;
                              "" = send no token. Never logged or put in an error message */
    const char *cache_dir; /* borrowed; NULL = rag_hub_cache_dir() */
    int offline;           /* -1 = from $HF_HUB_OFFLINE (1/ON/YES/TRUE, any case), 0 = online, 1 = offline */
    double connect_timeout_ms;  /* per connection (10000) */
    double metadata_timeout_ms; /* whole HEAD request chain (30000) */
    double stall_timeout_ms;    /* a download is aborted after this long without a byte (60000) */
    double lock_timeout_ms;     /* wait for another download of the same blob (600000) */
    uint64_t max_file_bytes;    /* cap on a downloaded file, bytes (16 GiB) */
} rag_hub_params;

rag_hub_params rag_hub_default_params(void);

/* Resolves one file of a repo to a local path: a local directory gives <dir>/<filename>;
 * otherwise the cache (refs/<revision> -> commit, or the revision itself when it is a commit;
 * snapshots/<commit>/<filename>), else a download (see above).
 * *path_out: caller frees with free(); NULL on error.
 * Errors: RAG_E_NOT_FOUND (no such file: cached .no_exist marker or EntryNotFound, which writes the
 * marker; RevisionNotFound; RepoNotFound; missing from the cache while offline, the message saying
 * HF_HUB_OFFLINE is set), RAG_E_AUTH (GatedRepo, 401/403), RAG_E_BAD_INPUT (invalid repo id,
 * revision or filename; hostile metadata), RAG_E_UPSTREAM (5xx, size or sha256 mismatch, missing
 * metadata), RAG_E_RATE_LIMITED (429), RAG_E_TOO_LARGE (over max_file_bytes), RAG_E_TIMEOUT,
 * RAG_E_IO (network or file system), RAG_E_CONFIG (no cache directory can be derived). */
rag_status rag_hub_resolve(const rag_hub_params *p, char **path_out, rag_err *err);

/* The cache directory from the environment: HF_HUB_CACHE > $HF_HOME/hub >
 * $XDG_CACHE_HOME/huggingface/hub > $HOME/.cache/huggingface/hub.
 * *out: caller frees with free(). RAG_E_CONFIG if none of these variables is set. */
rag_status rag_hub_cache_dir(char **out, rag_err *err);

/* The folder name of a model repo in the cache: "models--org--name" (caller frees with free()),
 * or NULL on an invalid repo id / allocation failure. */
char *rag_hub_repo_folder(const char *repo_id);

#ifdef __cplusplus
}
#endif
#endif /* RAGC_HUB_H */
