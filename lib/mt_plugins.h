/* mt_plugins.h - loading plugins (mt_plugin.h) and calling them.
 *
 * The host side of the plugin interface: dlopen, check the ABI, register
 * the op in the op table, and adapt the plugin's output callback to an
 * mt_buf_t, so the rest of microtask never touches a plugin directly. */
#ifndef MT_PLUGINS_H
#define MT_PLUGINS_H

#include <stddef.h>

#include <jansson.h>

#include "mt_buf.h"
#include "mt_op.h"
#include "mt_plugin.h"

/* Loads the plugin at path and registers its op. Returns 0, or -1 with a
 * message (cannot load, no mt_plugin_init, wrong ABI, bad description,
 * name taken). */
int mt_plugin_load(const char *path, char *err, size_t errsize);

/* Calls op's plugin; outputs are appended to out. args_json may be NULL.
 * Each returns 0, or -1 with the plugin's reason in err. */
int mt_plugin_map(const mt_op_t *op, const mt_map_ctx_t *ctx,
                  const char *args_json, const void *data, size_t len,
                  mt_buf_t *out, char *err, size_t errsize);
int mt_plugin_merge(const mt_op_t *op, const char *args_json, const void *a,
                    size_t alen, const void *b, size_t blen, mt_buf_t *out,
                    char *err, size_t errsize);
/* The finished result as a JSON object, or NULL with a message. */
json_t *mt_plugin_finish(const mt_op_t *op, const char *args_json,
                         const void *state, size_t len, char *err,
                         size_t errsize);

#endif
