/* mt_op.c - the table of ops (see mt_op.h): the built-in ones, then those
 * loaded from plugins at start-up. */
#include "mt_op.h"

#include <stdio.h>
#include <string.h>

const unsigned char mt_op_newline[256] = {['\n'] = 1};

#define MAX_OPS 64

static const mt_op_t *ops[MAX_OPS + 1] = {
    &mt_op_wordcount, &mt_op_stats, &mt_op_grep, &mt_op_exec, &mt_op_accesslog,
    &mt_op_sleep, NULL,
};

const mt_op_t *mt_op_find(const char *name) {
    if (!name) return NULL;
    for (size_t k = 0; ops[k]; k++)
        if (strcmp(ops[k]->name, name) == 0) return ops[k];
    return NULL;
}

const mt_op_t *const *mt_op_all(void) { return ops; }

int mt_op_known_keys(const char *op, const json_t *args, const char *const *known,
                     char *err, size_t errsize) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)args, key, v) {
        size_t k = 0;
        while (known[k] && strcmp(known[k], key) != 0) k++;
        if (!known[k]) {
            snprintf(err, errsize, "%s: unknown argument \"%s\" (an option of another op?)",
                     op, key);
            return -1;
        }
    }
    return 0;
}

/* Called from start-up code only (loading plugins), before any thread that
 * looks ops up exists, so the table needs no lock. */
int mt_op_register(const mt_op_t *op, char *err, size_t errsize) {
    size_t n = 0;
    if (mt_op_find(op->name)) {
        snprintf(err, errsize, "an op named \"%s\" exists already", op->name);
        return -1;
    }
    while (ops[n]) n++;
    if (n == MAX_OPS) {
        snprintf(err, errsize, "too many ops (at most %d)", MAX_OPS);
        return -1;
    }
    ops[n] = op;
    ops[n + 1] = NULL;
    return 0;
}
