/* rag_document lifetime. */
#include "ragc/document.h"

#include <stdlib.h>

void rag_document_free(rag_document *doc)
{
    if (!doc)
        return;
    for (size_t i = 0; i < doc->n_pages; i++)
        free(doc->pages[i].text);
    free(doc->pages);
    free(doc->source);
    free(doc->ext_id);
    free(doc->title);
    free(doc);
}
