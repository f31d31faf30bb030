/* Internal to src/store: the handle layout and helpers shared by store.c and records.c. */
#ifndef RAGC_STORE_INTERNAL_H
#define RAGC_STORE_INTERNAL_H

#include <sqlite3.h>

#include "ragc/store.h"

typedef struct store_stmt {
    const char *sql;    /* borrowed: the caller's immutable SQL text (the cache key) */
    sqlite3_stmt *stmt; /* owned */
} store_stmt;

struct rag_store {
    sqlite3 *db;          /* owned */
    char *path;           /* owned copy of the open path */
    bool read_only;
    bool in_txn;          /* a transaction opened by rag_store_begin is open */
    int schema_version;
    store_stmt *stmts;    /* owned array, n_stmts used of cap_stmts */
    size_t n_stmts, cap_stmts;
};

/* Validates a caller string that becomes a TEXT value: non-NULL (unless allow_null), valid UTF-8,
 * at most max bytes, non-empty when required. what names it in the message. */
rag_status store_check_text(const char *s, bool allow_null, bool non_empty, size_t max,
                            const char *what, rag_err *err);

#endif /* RAGC_STORE_INTERNAL_H */
