/* wc_single.c - the benchmark's single-process word count: one thread, no
 * Kafka, no Redis, the same word rules as the wordcount op (its separator
 * table from libmt), words counted in an open-addressing hash table.
 *
 * It answers "what would one plain C program on one core do with this
 * input", the baseline microtask's distributed count is compared against,
 * and its totals cross-check microtask's and PySpark's results.
 *
 *   wc_single FILE   ->   {"bytes":..., "words":..., "distinct":..., "seconds":...}
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mt_op.h"

typedef struct slot {
    char *word; /* NULL: empty */
    uint32_t len;
    uint64_t hash, count;
} slot_t;

static slot_t *table;
static size_t capacity = 1 << 16, used;

static uint64_t fnv1a(const unsigned char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t k = 0; k < n; k++) h = (h ^ s[k]) * 1099511628211ULL;
    return h;
}

static void grow(void) {
    size_t cap = capacity * 2;
    slot_t *t = calloc(cap, sizeof *t);
    if (!t) {
        perror("wc_single");
        exit(1);
    }
    for (size_t k = 0; k < capacity; k++) {
        if (!table[k].word) continue;
        size_t i = table[k].hash & (cap - 1);
        while (t[i].word) i = (i + 1) & (cap - 1);
        t[i] = table[k];
    }
    free(table);
    table = t;
    capacity = cap;
}

/* Lowercases ASCII letters, as the wordcount op does. */
static void add_word(const unsigned char *w, size_t n) {
    unsigned char low[256];
    unsigned char *buf = n <= sizeof low ? low : malloc(n);
    if (!buf) {
        perror("wc_single");
        exit(1);
    }
    for (size_t k = 0; k < n; k++) buf[k] = w[k] >= 'A' && w[k] <= 'Z' ? w[k] + 32 : w[k];
    uint64_t h = fnv1a(buf, n);
    size_t i = h & (capacity - 1);
    while (table[i].word &&
           !(table[i].hash == h && table[i].len == n && !memcmp(table[i].word, buf, n)))
        i = (i + 1) & (capacity - 1);
    if (table[i].word) {
        table[i].count++;
    } else {
        table[i].word = malloc(n);
        if (!table[i].word) {
            perror("wc_single");
            exit(1);
        }
        memcpy(table[i].word, buf, n);
        table[i].len = (uint32_t)n;
        table[i].hash = h;
        table[i].count = 1;
        if (++used * 4 > capacity * 3) grow();
    }
    if (buf != low) free(buf);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: wc_single FILE\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    table = calloc(capacity, sizeof *table);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK + 4096);
    unsigned char *carry = NULL; /* a word cut by the chunk's end */
    size_t carry_len = 0, carry_cap = 0;
    uint64_t bytes = 0, words = 0;
    ssize_t n;
    while ((n = read(fd, buf, CHUNK)) > 0) {
        bytes += (uint64_t)n;
        size_t k = 0;
        if (carry_len) { /* finish the word the last chunk cut */
            while (k < (size_t)n && !mt_wordcount_separator[buf[k]]) k++;
            if (carry_len + k > carry_cap) {
                carry_cap = (carry_len + k) * 2;
                carry = realloc(carry, carry_cap);
            }
            memcpy(carry + carry_len, buf, k);
            carry_len += k;
            if (k == (size_t)n) continue;
            add_word(carry, carry_len);
            words++;
            carry_len = 0;
        }
        while (k < (size_t)n) {
            while (k < (size_t)n && mt_wordcount_separator[buf[k]]) k++;
            size_t start = k;
            while (k < (size_t)n && !mt_wordcount_separator[buf[k]]) k++;
            if (k == start) break;
            if (k == (size_t)n) { /* may go on in the next chunk */
                if (k - start > carry_cap) {
                    carry_cap = (k - start) * 2;
                    carry = realloc(carry, carry_cap);
                }
                memcpy(carry, buf + start, k - start);
                carry_len = k - start;
                break;
            }
            add_word(buf + start, k - start);
            words++;
        }
    }
    if (n < 0) {
        perror(argv[1]);
        return 1;
    }
    if (carry_len) {
        add_word(carry, carry_len);
        words++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("{\"bytes\": %llu, \"words\": %llu, \"distinct\": %zu, \"seconds\": %.3f}\n",
           (unsigned long long)bytes, (unsigned long long)words, used, secs);
    for (size_t k = 0; k < capacity; k++) free(table[k].word);
    free(table);
    free(buf);
    free(carry);
    close(fd);
    return 0;
}
