/* Status names and error records. */
#include "ragc/core.h"

#include <stdio.h>
#include <string.h>

const char *rag_status_str(rag_status s)
{
    switch (s) {
    case RAG_OK: return "ok";
    case RAG_E_NOMEM: return "out of memory";
    case RAG_E_IO: return "i/o error";
    case RAG_E_BAD_INPUT: return "bad input";
    case RAG_E_TOO_LARGE: return "too large";
    case RAG_E_NOT_FOUND: return "not found";
    case RAG_E_CONFIG: return "configuration error";
    case RAG_E_ENCRYPTED: return "encrypted";
    case RAG_E_UNSUPPORTED: return "unsupported";
    case RAG_E_EMPTY: return "no content";
    case RAG_E_STORE: return "store error";
    case RAG_E_RATE_LIMITED: return "rate limited";
    case RAG_E_TIMEOUT: return "timeout";
    case RAG_E_UPSTREAM: return "upstream error";
    case RAG_E_AUTH: return "authentication error";
    case RAG_E_BUDGET: return "budget exceeded";
    case RAG_E_CIRCUIT_OPEN: return "circuit open";
    case RAG_E_CANCELLED: return "cancelled";
    case RAG_E_INTERNAL: return "internal error";
    }
    return "unknown status";
}

rag_status rag_err_set(rag_err *err, rag_status status, const char *fmt, ...)
{
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

void rag_err_prefix(rag_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[RAG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix);
    size_t olen = strnlen(err->msg, sizeof err->msg - 1);
    if (plen >= sizeof err->msg - 1)
        plen = sizeof err->msg - 1;
    if (plen + olen > sizeof err->msg - 1)
        olen = sizeof err->msg - 1 - plen; /* truncate the old message, keep the new context */
    memmove(err->msg + plen, err->msg, olen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen + olen] = '\0';
}

void rag_err_clear(rag_err *err)
{
    if (err) {
        err->status = RAG_OK;
        err->msg[0] = '\0';
    }
}

char *rag_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *rag_strndup(const char *s, size_t n)
{
    return s ? strndup(s, n) : NULL;
}
