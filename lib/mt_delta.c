/* mt_delta.c - partial results as a hash of merge-by-rule fields.
 *
 * An open-addressing index over an insertion-ordered entry array; field
 * names live in one arena so a word count with a million distinct words is a
 * few allocations, not a million. */
#include "mt_delta.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    uint64_t hash;
    size_t key_off; /* into keys.data: stable across reallocation */
    uint32_t key_len;
    char kind;
    int64_t i;
    double f;
    double m2;
    int64_t limit;
} entry_t;

struct mt_delta {
    entry_t *entries;
    size_t n, cap;
    uint32_t *index; /* entry number + 1; 0 is an empty slot */
    size_t mask;     /* index size - 1 (a power of two) */
    mt_buf_t keys;
};

static const char magic[4] = {'M', 'T', 'D', '1'};

/* A fast 64-bit hash: 8 bytes at a time, multiply and fold. */
static uint64_t hash_bytes(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0xff51afd7ed558ccdULL);
    while (len >= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        h = (h ^ (k * 0xc4ceb9fe1a85ec53ULL)) * 0x100000001b3ULL;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t k = 0;
    memcpy(&k, p, len);
    h = (h ^ (k * 0xc4ceb9fe1a85ec53ULL)) * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 32;
    return h;
}

mt_delta_t *mt_delta_new(void) {
    mt_delta_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->mask = 63;
    d->index = calloc(d->mask + 1, sizeof *d->index);
    if (!d->index) {
        free(d);
        return NULL;
    }
    return d;
}

void mt_delta_destroy(mt_delta_t *d) {
    if (!d) return;
    free(d->entries);
    free(d->index);
    mt_buf_free(&d->keys);
    free(d);
}

void mt_delta_clear(mt_delta_t *d) {
    d->n = 0;
    memset(d->index, 0, (d->mask + 1) * sizeof *d->index);
    mt_buf_reset(&d->keys);
}

size_t mt_delta_size(const mt_delta_t *d) { return d->n; }

static void fill_entry(const mt_delta_t *d, const entry_t *en,
                       mt_delta_entry_t *e) {
    e->kind = (mt_delta_kind_t)en->kind;
    e->field = d->keys.data + en->key_off;
    e->field_len = en->key_len;
    e->i = en->i;
    e->f = en->f;
    e->m2 = en->m2;
    e->limit = en->limit;
}

void mt_delta_get(const mt_delta_t *d, size_t idx, mt_delta_entry_t *e) {
    fill_entry(d, &d->entries[idx], e);
}

/* Returns the index slot holding the field, or the empty slot where it
 * would go. */
static size_t find_slot(const mt_delta_t *d, const void *field, size_t len,
                        uint64_t h) {
    size_t s = (size_t)h & d->mask;
    while (d->index[s]) {
        const entry_t *e = &d->entries[d->index[s] - 1];
        if (e->hash == h && e->key_len == len &&
            memcmp(d->keys.data + e->key_off, field, len) == 0)
            return s;
        s = (s + 1) & d->mask;
    }
    return s;
}

int mt_delta_find(const mt_delta_t *d, const void *field, size_t field_len,
                  mt_delta_entry_t *e) {
    size_t s = find_slot(d, field, field_len, hash_bytes(field, field_len));
    if (!d->index[s]) return 0;
    fill_entry(d, &d->entries[d->index[s] - 1], e);
    return 1;
}

static int grow_index(mt_delta_t *d) {
    size_t size = (d->mask + 1) * 2;
    uint32_t *index = calloc(size, sizeof *index);
    if (!index) return -1;
    for (size_t k = 0; k < d->n; k++) {
        size_t s = (size_t)d->entries[k].hash & (size - 1);
        while (index[s]) s = (s + 1) & (size - 1);
        index[s] = (uint32_t)(k + 1);
    }
    free(d->index);
    d->index = index;
    d->mask = size - 1;
    return 0;
}

static int valid_kind(int kind) {
    return kind == MT_DELTA_SUM || kind == MT_DELTA_FSUM ||
           kind == MT_DELTA_MIN || kind == MT_DELTA_MAX ||
           kind == MT_DELTA_MOMENTS || kind == MT_DELTA_PIECE;
}

/* Merges two samples' moments (Chan, Golub and LeVeque). */
static int combine_moments(const entry_t *a, const entry_t *b, entry_t *out,
                           char *err, size_t errsize) {
    if (b->i == 0) return 0;
    if (a->i == 0) {
        out->i = b->i;
        out->f = b->f;
        out->m2 = b->m2;
        return 0;
    }
    if (b->i > MT_DELTA_MAX_POSITION - a->i) {
        snprintf(err, errsize, "sample count overflows");
        return -1;
    }
    double na = (double)a->i, nb = (double)b->i, n = na + nb;
    double delta = b->f - a->f;
    out->i = a->i + b->i;
    out->f = a->f + delta * (nb / n);
    out->m2 = a->m2 + b->m2 + delta * delta * (na / n) * nb;
    if (!isfinite(out->f) || !isfinite(out->m2)) {
        snprintf(err, errsize, "moments overflow");
        return -1;
    }
    return 0;
}

/* Computes the merge of an existing entry with a new one of the same kind
 * into *out without changing anything. Returns 0, or -1 with err set. */
static int combine(const entry_t *old, const entry_t *add, entry_t *out,
                   char *err, size_t errsize) {
    *out = *old;
    switch (old->kind) {
    case MT_DELTA_SUM:
        if (__builtin_add_overflow(old->i, add->i, &out->i)) {
            snprintf(err, errsize, "integer sum overflows 64 bits");
            return -1;
        }
        return 0;
    case MT_DELTA_FSUM:
        out->f = old->f + add->f;
        if (!isfinite(out->f)) {
            snprintf(err, errsize, "floating-point sum overflows");
            return -1;
        }
        return 0;
    case MT_DELTA_MIN:
        if (add->f < old->f) out->f = add->f;
        return 0;
    case MT_DELTA_MAX:
        if (add->f > old->f) out->f = add->f;
        return 0;
    case MT_DELTA_MOMENTS:
        return combine_moments(old, add, out, err, errsize);
    default: /* the same piece twice: keep it, under the tighter limit */
        if (add->limit && (!old->limit || add->limit < old->limit))
            out->limit = add->limit;
        return 0;
    }
}

static int check_entry(const mt_delta_entry_t *e, char *err, size_t errsize) {
    if (!valid_kind(e->kind)) {
        snprintf(err, errsize, "unknown field kind 0x%02x", (unsigned)e->kind);
        return -1;
    }
    if (e->field_len > MT_DELTA_MAX_FIELD) {
        snprintf(err, errsize, "field name of %zu bytes is too long", e->field_len);
        return -1;
    }
    switch (e->kind) {
    case MT_DELTA_SUM:
        return 0;
    case MT_DELTA_MOMENTS:
        if (e->i < 0 || e->i > MT_DELTA_MAX_POSITION || !isfinite(e->f) ||
            !isfinite(e->m2) || !(e->m2 >= 0)) {
            snprintf(err, errsize, "invalid moments");
            return -1;
        }
        return 0;
    case MT_DELTA_PIECE: {
        /* the name must start with the position, so that two pieces at
         * one position are one piece */
        char pos[24];
        int n = snprintf(pos, sizeof pos, "%lld\t", (long long)e->i);
        if (e->i < 0 || e->i > MT_DELTA_MAX_POSITION || e->limit < 0 ||
            e->field_len < (size_t)n || memcmp(e->field, pos, (size_t)n) != 0) {
            snprintf(err, errsize, "invalid piece");
            return -1;
        }
        return 0;
    }
    default:
        if (!isfinite(e->f)) {
            snprintf(err, errsize, "non-finite value");
            return -1;
        }
        return 0;
    }
}

/* Appends a field known to be absent. Returns 0, or -1 when out of memory
 * (d unchanged). */
static int insert_new(mt_delta_t *d, uint64_t h, const entry_t *src,
                      const void *field, size_t len) {
    /* Keep the index at most half full, so probes stay short and the
     * search for an empty slot always ends. */
    if ((d->n + 1) * 2 > d->mask + 1 && grow_index(d) != 0) return -1;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        entry_t *e = realloc(d->entries, cap * sizeof *e);
        if (!e) return -1;
        d->entries = e;
        d->cap = cap;
    }
    size_t off = d->keys.len;
    if (mt_buf_append(&d->keys, field, len) != 0) return -1;
    entry_t *e = &d->entries[d->n];
    *e = *src;
    e->hash = h;
    e->key_off = off;
    e->key_len = (uint32_t)len;
    d->index[find_slot(d, field, len, h)] = (uint32_t)++d->n;
    return 0;
}

int mt_delta_add_entry(mt_delta_t *d, const mt_delta_entry_t *in, char *err,
                       size_t errsize) {
    if (check_entry(in, err, errsize) != 0) return -1;
    entry_t add = {0};
    add.kind = (char)in->kind;
    add.i = in->kind == MT_DELTA_SUM || in->kind == MT_DELTA_MOMENTS ||
                    in->kind == MT_DELTA_PIECE ? in->i : 0;
    add.f = in->kind != MT_DELTA_SUM && in->kind != MT_DELTA_PIECE ? in->f : 0;
    add.m2 = in->kind == MT_DELTA_MOMENTS ? in->m2 : 0;
    add.limit = in->kind == MT_DELTA_PIECE ? in->limit : 0;
    uint64_t h = hash_bytes(in->field, in->field_len);
    size_t s = find_slot(d, in->field, in->field_len, h);
    if (d->index[s]) {
        entry_t *e = &d->entries[d->index[s] - 1], merged;
        if (e->kind != add.kind) {
            snprintf(err, errsize, "field merged with two different kinds");
            return -1;
        }
        if (combine(e, &add, &merged, err, errsize) != 0) return -1;
        *e = merged;
        return 0;
    }
    if (insert_new(d, h, &add, in->field, in->field_len) != 0) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    return 0;
}

int mt_delta_add(mt_delta_t *d, mt_delta_kind_t kind, const void *field,
                 size_t field_len, int64_t i, double f, char *err,
                 size_t errsize) {
    if (kind == MT_DELTA_MOMENTS || kind == MT_DELTA_PIECE) {
        snprintf(err, errsize, "this kind of field needs mt_delta_add_entry");
        return -1;
    }
    mt_delta_entry_t e = {kind, field, field_len, i, f, 0, 0};
    return mt_delta_add_entry(d, &e, err, errsize);
}

int mt_delta_add_piece(mt_delta_t *d, int64_t pos, int64_t limit,
                       const void *bytes, size_t len, char *err,
                       size_t errsize) {
    char head[24];
    int n = snprintf(head, sizeof head, "%lld\t", (long long)pos);
    if (len > MT_DELTA_MAX_FIELD - (size_t)n) {
        snprintf(err, errsize, "piece of %zu bytes is too long", len);
        return -1;
    }
    char *name = malloc((size_t)n + len + 1);
    if (!name) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    memcpy(name, head, (size_t)n);
    if (len) memcpy(name + n, bytes, len);
    mt_delta_entry_t e = {MT_DELTA_PIECE, name, (size_t)n + len, pos, 0, 0, limit};
    int rc = mt_delta_add_entry(d, &e, err, errsize);
    free(name);
    return rc;
}

/* The general path, minus the checks an integer sum does not need. */
int mt_delta_add_int(mt_delta_t *d, const void *field, size_t field_len,
                     int64_t n) {
    if (field_len > MT_DELTA_MAX_FIELD) return -1;
    uint64_t h = hash_bytes(field, field_len);
    size_t s = find_slot(d, field, field_len, h);
    if (d->index[s]) {
        entry_t *e = &d->entries[d->index[s] - 1];
        if (e->kind != MT_DELTA_SUM) return -1;
        return __builtin_add_overflow(e->i, n, &e->i) ? -1 : 0;
    }
    entry_t add = {0};
    add.kind = MT_DELTA_SUM;
    add.i = n;
    return insert_new(d, h, &add, field, field_len);
}

int mt_delta_merge(mt_delta_t *dst, const mt_delta_t *src, char *err,
                   size_t errsize) {
    /* First pass: find every conflict before changing anything. */
    for (size_t k = 0; k < src->n; k++) {
        const entry_t *se = &src->entries[k];
        const char *key = src->keys.data + se->key_off;
        size_t s = find_slot(dst, key, se->key_len, se->hash);
        if (!dst->index[s]) continue;
        const entry_t *de = &dst->entries[dst->index[s] - 1];
        entry_t merged;
        if (de->kind != se->kind) {
            snprintf(err, errsize, "field merged with two different kinds");
            return -1;
        }
        if (combine(de, se, &merged, err, errsize) != 0) return -1;
    }
    /* Make sure the second pass cannot run out of memory half way. */
    if (mt_buf_reserve(&dst->keys, src->keys.len) != 0) goto oom;
    while ((dst->n + src->n + 1) * 2 > dst->mask + 1)
        if (grow_index(dst) != 0) goto oom;
    if (dst->n + src->n > dst->cap) {
        entry_t *e = realloc(dst->entries, (dst->n + src->n) * sizeof *e);
        if (!e) goto oom;
        dst->entries = e;
        dst->cap = dst->n + src->n;
    }
    for (size_t k = 0; k < src->n; k++) {
        const entry_t *se = &src->entries[k];
        const char *key = src->keys.data + se->key_off;
        size_t s = find_slot(dst, key, se->key_len, se->hash);
        if (dst->index[s]) {
            entry_t *de = &dst->entries[dst->index[s] - 1], merged;
            combine(de, se, &merged, err, errsize);
            *de = merged;
        } else {
            insert_new(dst, se->hash, se, key, se->key_len);
        }
    }
    return 0;
oom:
    snprintf(err, errsize, "out of memory");
    return -1;
}

static void put_u32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static void put_u64(unsigned char *p, uint64_t v) {
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint64_t get_u64(const unsigned char *p) {
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static uint64_t double_bits(double f) {
    uint64_t bits;
    memcpy(&bits, &f, 8);
    return bits;
}

static double bits_double(uint64_t bits) {
    double f;
    memcpy(&f, &bits, 8);
    return f;
}

/* Bytes of value after a field's name: one 8-byte big-endian word per
 * number the kind holds (see README.md, "Message format"). */
static size_t value_size(int kind) {
    return kind == MT_DELTA_MOMENTS ? 24 : kind == MT_DELTA_PIECE ? 16 : 8;
}

int mt_delta_encode(const mt_delta_t *d, mt_buf_t *out) {
    if (mt_buf_append(out, magic, sizeof magic) != 0) return -1;
    for (size_t k = 0; k < d->n; k++) {
        const entry_t *e = &d->entries[k];
        unsigned char head[5], val[24];
        head[0] = (unsigned char)e->kind;
        put_u32(head + 1, e->key_len);
        switch (e->kind) {
        case MT_DELTA_SUM:
            put_u64(val, (uint64_t)e->i);
            break;
        case MT_DELTA_MOMENTS:
            put_u64(val, (uint64_t)e->i);
            put_u64(val + 8, double_bits(e->f));
            put_u64(val + 16, double_bits(e->m2));
            break;
        case MT_DELTA_PIECE:
            put_u64(val, (uint64_t)e->i);
            put_u64(val + 8, (uint64_t)e->limit);
            break;
        default:
            put_u64(val, double_bits(e->f));
        }
        if (mt_buf_append(out, head, 5) != 0 ||
            mt_buf_append(out, d->keys.data + e->key_off, e->key_len) != 0 ||
            mt_buf_append(out, val, value_size(e->kind)) != 0)
            return -1;
    }
    return 0;
}

int mt_delta_decode(mt_delta_t *d, const void *buf, size_t len, char *err,
                    size_t errsize) {
    const unsigned char *p = buf, *end = p + len;
    if (len < sizeof magic || memcmp(p, magic, sizeof magic) != 0) {
        snprintf(err, errsize, "not an encoded partial result (bad magic)");
        return -1;
    }
    mt_delta_t *tmp = mt_delta_new();
    if (!tmp) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    p += sizeof magic;
    while (p < end) {
        if ((size_t)(end - p) < 5) {
            snprintf(err, errsize, "truncated field header at byte %zu",
                     (size_t)(p - (const unsigned char *)buf));
            goto fail;
        }
        mt_delta_entry_t e = {0};
        e.kind = (mt_delta_kind_t)p[0];
        uint32_t flen = get_u32(p + 1);
        size_t vsize = value_size(e.kind);
        p += 5;
        if (flen > MT_DELTA_MAX_FIELD || (size_t)(end - p) < (size_t)flen + vsize) {
            snprintf(err, errsize, "truncated or oversized field at byte %zu",
                     (size_t)(p - (const unsigned char *)buf));
            goto fail;
        }
        const unsigned char *v = p + flen;
        e.field = (const char *)p;
        e.field_len = flen;
        switch (e.kind) {
        case MT_DELTA_SUM:
            e.i = (int64_t)get_u64(v);
            break;
        case MT_DELTA_MOMENTS:
            e.i = (int64_t)get_u64(v);
            e.f = bits_double(get_u64(v + 8));
            e.m2 = bits_double(get_u64(v + 16));
            break;
        case MT_DELTA_PIECE:
            e.i = (int64_t)get_u64(v);
            e.limit = (int64_t)get_u64(v + 8);
            break;
        default:
            e.f = bits_double(get_u64(v));
        }
        if (mt_delta_add_entry(tmp, &e, err, errsize) != 0) goto fail;
        p += flen + vsize;
    }
    int rc = mt_delta_merge(d, tmp, err, errsize);
    mt_delta_destroy(tmp);
    return rc;
fail:
    mt_delta_destroy(tmp);
    return -1;
}
