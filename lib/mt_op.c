/* mt_op.c - the table of built-in ops (see mt_op.h). */
#include "mt_op.h"

#include <string.h>

static const mt_op_t *const builtin_ops[] = {
    &mt_op_wordcount,
    &mt_op_sleep,
    NULL,
};

const mt_op_t *mt_op_find(const char *name) {
    if (!name) return NULL;
    for (size_t k = 0; builtin_ops[k]; k++)
        if (strcmp(builtin_ops[k]->name, name) == 0) return builtin_ops[k];
    return NULL;
}

const mt_op_t *const *mt_op_all(void) { return builtin_ops; }
