/* mt_plugins.c - loading and calling plugins (see mt_plugins.h). */
#define _GNU_SOURCE
#include "mt_plugins.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_config.h"
#include "mt_task.h"

static int buf_write(mt_plugin_out_t *out, const void *data, size_t len) {
    return mt_buf_append(out->opaque, data, len);
}

static int valid_name(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > MT_OP_NAME_MAX) return 0;
    for (size_t k = 0; k < n; k++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", name[k])) return 0;
    return 1;
}

int mt_plugin_load(const char *path, char *err, size_t errsize) {
    /* RTLD_NODELETE: ops stay valid until exit even if dlclose is called */
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!so) {
        snprintf(err, errsize, "plugin %s: %s", path, dlerror());
        return -1;
    }
    const mt_plugin_t *(*init)(void);
    *(void **)&init = dlsym(so, "mt_plugin_init");
    const mt_plugin_t *pl = init ? init() : NULL;
    const char *why = !init ? "does not export mt_plugin_init()"
                      : !pl ? "mt_plugin_init() returned NULL"
                      : pl->abi != MT_PLUGIN_ABI ? "was built for another plugin ABI"
                      : !valid_name(pl->name) ? "has no valid op name ([a-z0-9_-], up to 64)"
                      : !pl->map || !pl->merge || !pl->finish ? "lacks map, merge or finish"
                      : !pl->unit || (strcmp(pl->unit, "line") && strcmp(pl->unit, "word"))
                          ? "has a unit other than \"line\" or \"word\""
                          : NULL;
    if (why) {
        snprintf(err, errsize, "plugin %s %s", path, why);
        dlclose(so);
        return -1;
    }
    mt_op_t *op = calloc(1, sizeof *op);
    if (!op) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    op->name = pl->name;
    op->summary = pl->summary ? pl->summary : "(plugin)";
    op->unit = pl->unit;
    op->boundary = strcmp(pl->unit, "line") == 0 ? mt_op_newline : mt_wordcount_separator;
    op->plugin = pl;
    if (mt_op_register(op, err, errsize) != 0) {
        free(op);
        return -1;
    }
    return 0; /* the op lives as long as the process, like the built-ins */
}

int mt_config_load_plugins(const mt_config_t *cfg, char *err, size_t errsize) {
    for (size_t k = 0; k < cfg->nplugins; k++) {
        /* the same file named twice (MT_PLUGINS and --plugin) loads once */
        char *real = realpath(cfg->plugins[k], NULL);
        int seen = 0;
        for (size_t j = 0; j < k && real && !seen; j++) {
            char *other = realpath(cfg->plugins[j], NULL);
            seen = other && strcmp(real, other) == 0;
            free(other);
        }
        free(real);
        if (!seen && mt_plugin_load(cfg->plugins[k], err, errsize) != 0) return -1;
    }
    return 0;
}

int mt_plugin_map(const mt_op_t *op, const mt_map_ctx_t *ctx,
                  const char *args_json, const void *data, size_t len,
                  mt_buf_t *out, char *err, size_t errsize) {
    mt_plugin_out_t o = {buf_write, out};
    mt_plugin_task_t t = {args_json ? args_json : "{}", ctx->seq, ctx->first_line,
                          ctx->offset};
    err[0] = '\0';
    if (op->plugin->map(&t, data, len, &o, err, errsize) == 0) return 0;
    if (!err[0]) snprintf(err, errsize, "%s: map failed", op->name);
    return -1;
}

int mt_plugin_merge(const mt_op_t *op, const char *args_json, const void *a,
                    size_t alen, const void *b, size_t blen, mt_buf_t *out,
                    char *err, size_t errsize) {
    mt_plugin_out_t o = {buf_write, out};
    err[0] = '\0';
    if (op->plugin->merge(args_json ? args_json : "{}", a, alen, b, blen, &o, err,
                          errsize) == 0)
        return 0;
    if (!err[0]) snprintf(err, errsize, "%s: merge failed", op->name);
    return -1;
}

json_t *mt_plugin_finish(const mt_op_t *op, const char *args_json,
                         const void *state, size_t len, char *err,
                         size_t errsize) {
    mt_buf_t text = MT_BUF_INIT;
    mt_plugin_out_t o = {buf_write, &text};
    json_t *res = NULL;
    err[0] = '\0';
    if (op->plugin->finish(args_json ? args_json : "{}", state, len, &o, err,
                           errsize) != 0) {
        if (!err[0]) snprintf(err, errsize, "%s: finish failed", op->name);
    } else {
        json_error_t jerr;
        res = json_loadb(text.data ? text.data : "", text.len, 0, &jerr);
        if (!json_is_object(res)) {
            snprintf(err, errsize, "%s: finish wrote no JSON object: %s", op->name,
                     res ? "not an object" : jerr.text);
            json_decref(res);
            res = NULL;
        }
    }
    mt_buf_free(&text);
    return res;
}
