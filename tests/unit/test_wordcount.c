/* test_wordcount.c - the wordcount op: map (bytes to word counts in an
 * mt_delta), finish (merged counts to JSON), and the UTF-8 helpers it uses
 * to show words that are not valid UTF-8.
 *
 * The rule, from README.md: a word is a maximal run of bytes that are not
 * separators; separators are 0x00-0x1f, 0x7f, space and ASCII punctuation;
 * A-Z are lower-cased; every other byte (digits, bytes >= 0x80) is kept. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mt_delta.h"
#include "mt_op.h"
#include "mt_utf8.h"
#include "suites.h"

/* ---- the reference, written from the rule ---- */

static int ref_is_sep(unsigned char c) {
    return c <= 0x1f || c == 0x7f || c == ' ' ||
           (c >= 0x21 && c <= 0x2f) || /* ! " # $ % & ' ( ) * + , - . / */
           (c >= 0x3a && c <= 0x40) || /* : ; < = > ? @ */
           (c >= 0x5b && c <= 0x60) || /* [ \ ] ^ _ ` */
           (c >= 0x7b && c <= 0x7e);   /* { | } ~ */
}

static unsigned char ref_lower(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

typedef struct ref_word {
    const unsigned char *p;
    size_t len;
    int64_t count;
} ref_word_t;

static int cmp_word(const void *a, const void *b) {
    const ref_word_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Counts the words of in[0..len) (lowered into low, len bytes) into words;
 * returns the number of distinct words. */
static size_t ref_count(const unsigned char *in, size_t len, unsigned char *low,
                        ref_word_t *words) {
    size_t n = 0, k = 0;
    for (size_t j = 0; j < len; j++) low[j] = ref_lower(in[j]);
    while (k < len) {
        if (ref_is_sep(low[k])) {
            k++;
            continue;
        }
        size_t start = k;
        while (k < len && !ref_is_sep(low[k])) k++;
        words[n++] = (ref_word_t){low + start, k - start, 1};
    }
    qsort(words, n, sizeof *words, cmp_word);
    size_t d = 0;
    for (size_t j = 0; j < n; j++) {
        if (d && cmp_word(&words[d - 1], &words[j]) == 0)
            words[d - 1].count++;
        else
            words[d++] = words[j];
    }
    return d;
}

/* Compares a delta with expected words. Returns NULL or what is wrong. */
static const char *compare(const mt_delta_t *d, const ref_word_t *w, size_t n) {
    static char why[200];
    if (mt_delta_size(d) != n) {
        snprintf(why, sizeof why, "%zu distinct words, want %zu",
                 mt_delta_size(d), n);
        return why;
    }
    for (size_t k = 0; k < n; k++) {
        mt_delta_entry_t e;
        if (!mt_delta_find(d, w[k].p, w[k].len, &e)) {
            snprintf(why, sizeof why, "word \"%.*s\" missing", (int)w[k].len,
                     (const char *)w[k].p);
            return why;
        }
        if (e.kind != MT_DELTA_SUM || e.i != w[k].count) {
            snprintf(why, sizeof why, "word \"%.*s\": kind '%c' count %lld, want %lld",
                     (int)w[k].len, (const char *)w[k].p, (char)e.kind,
                     (long long)e.i, (long long)w[k].count);
            return why;
        }
    }
    return NULL;
}

static const mt_op_t *wordcount(void) { return mt_op_find("wordcount"); }

/* Maps data into a new delta; returns it (NULL when map failed). */
static mt_delta_t *map(const void *data, size_t len) {
    const mt_op_t *op = wordcount();
    mt_delta_t *d = mt_delta_new();
    char err[256];
    if (!op || !d) {
        mt_delta_destroy(d);
        return NULL;
    }
    mt_map_ctx_t ctx = {NULL, 0, 1, 0};
    if (op->map(&ctx, data, len, d, err, sizeof err) != 0) {
        mt_delta_destroy(d);
        return NULL;
    }
    return d;
}

/* ---- the op table ---- */

static void test_op_table(void) {
    const mt_op_t *op = wordcount();
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    CU_ASSERT_STRING_EQUAL(op->name, "wordcount");
    CU_ASSERT_STRING_EQUAL(op->unit, "word");
    CU_ASSERT_PTR_EQUAL(op->boundary, mt_wordcount_separator);
    CU_ASSERT_PTR_NOT_NULL(op->map);
    CU_ASSERT_PTR_NOT_NULL(op->finish);
    CU_ASSERT_PTR_NOT_NULL(op->summary);
    CU_ASSERT_PTR_NULL(mt_op_find("nope"));
    CU_ASSERT_PTR_NULL(mt_op_find(""));
    CU_ASSERT_PTR_NULL(mt_op_find("WordCount"));
    CU_ASSERT_PTR_NULL(mt_op_find(NULL));
    const mt_op_t *const *all = mt_op_all();
    int found = 0;
    size_t n = 0;
    for (; all[n] && n < 100; n++) found |= all[n] == op;
    CU_ASSERT_TRUE(found);
    CU_ASSERT_TRUE(n < 100); /* NULL-terminated */
}

/* The exported table agrees with the rule, byte by byte. */
static void test_separator_table(void) {
    for (int c = 0; c < 256; c++)
        CHECKF(!mt_wordcount_separator[c] == !ref_is_sep((unsigned char)c),
               "byte 0x%02x: table says %s", c,
               mt_wordcount_separator[c] ? "separator" : "word byte");
}

/* ---- map: table-driven ---- */

/* Parses "word:count word:count" (words never hold ':' or ' ') into w. */
static size_t parse_expect(const char *s, ref_word_t *w) {
    size_t n = 0;
    while (*s) {
        const char *sp = strchr(s, ' '), *end = sp ? sp : s + strlen(s);
        const char *colon = end;
        while (colon > s && *colon != ':') colon--;
        w[n].p = (const unsigned char *)s;
        w[n].len = (size_t)(colon - s);
        w[n].count = strtoll(colon + 1, NULL, 10);
        n++;
        s = sp ? sp + 1 : end;
    }
    return n;
}

static void test_map_table(void) {
#define IN(s) s, sizeof(s) - 1
    static const struct {
        const char *in;
        size_t len;
        const char *expect;
    } cases[] = {
        {IN("Hello, WORLD!\r\n"), "hello:1 world:1"},
        {IN(""), ""},
        {IN(" \t\r\n\f\v"), ""},
        {IN("@#$%^&*"), ""},
        {IN("a"), "a:1"},
        {IN("a\0b\0a"), "a:2 b:1"},
        {IN("\0\0x\0"), "x:1"},
        {IN("one\r\ntwo\r\n"), "one:1 two:1"},
        {IN("one\rtwo\n\rthree"), "one:1 two:1 three:1"},
        {IN("Don't stop"), "don:1 t:1 stop:1"},
        {IN("e-mail foo_bar x.y"), "e:1 mail:1 foo:1 bar:1 x:1 y:1"},
        {IN("abc123 123 4x4 007"), "abc123:1 123:1 4x4:1 007:1"},
        {IN("caf\xc3\xa9 CAF\xc3\x89"), "caf\xc3\xa9:1 caf\xc3\x89:1"},
        {IN("\x80\xff \xff" "ABC"), "\x80\xff:1 \xff" "abc:1"},
        {IN("\xC3\xA9T\xC3\xA9"), "\xc3\xa9t\xc3\xa9:1"},
        {IN("\xc3\x80" "B"), "\xc3\x80" "b:1"},
        {IN("\xe2\x80\x94" "dash\xe2\x80\x94"), "\xe2\x80\x94" "dash\xe2\x80\x94:1"},
        {IN("a\x7f" "b"), "a:1 b:1"},
        {IN("AbC aBc ABC abc"), "abc:4"},
        {IN("x{y}z|w~v"), "x:1 y:1 z:1 w:1 v:1"},
        {IN("[a](b)<c>"), "a:1 b:1 c:1"},
        {IN("ZZZ\x1b[0m ZZZ"), "zzz:2 0m:1"},
        {IN("MiXeD-CaSe_WORDS"), "mixed:1 case:1 words:1"},
        {IN("tab\there"), "tab:1 here:1"},
        {IN("the the THE The tHe"), "the:5"},
        {IN("x\x01y\x1fz\x1e" "w"), "x:1 y:1 z:1 w:1"},
        {IN("\xff\xfe\xfd"), "\xff\xfe\xfd:1"},
    };
#undef IN
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ref_word_t w[32];
        size_t n = parse_expect(cases[k].expect, w);
        mt_delta_t *d = map(cases[k].in, cases[k].len);
        CHECKF(d != NULL, "case %zu: map failed", k);
        if (!d) continue;
        const char *why = compare(d, w, n);
        CHECKF(!why, "case %zu (\"%s\"): %s", k, cases[k].in, why);
        mt_delta_destroy(d);
    }
}

/* Every byte between two letters: a separator splits, anything else is
 * part of the word (lower-cased only if A-Z). */
static void test_every_byte(void) {
    size_t bad = 0;
    for (int c = 0; c < 256; c++) {
        unsigned char in[3] = {'a', (unsigned char)c, 'b'};
        unsigned char word[3] = {'a', ref_lower((unsigned char)c), 'b'};
        ref_word_t w[2];
        size_t n;
        if (ref_is_sep((unsigned char)c)) {
            w[0] = (ref_word_t){(const unsigned char *)"a", 1, 1};
            w[1] = (ref_word_t){(const unsigned char *)"b", 1, 1};
            n = 2;
        } else {
            w[0] = (ref_word_t){word, 3, 1};
            n = 1;
        }
        mt_delta_t *d = map(in, 3);
        const char *why = d ? compare(d, w, n) : "map failed";
        if (why && bad++ < 5) CHECKF(0, "byte 0x%02x between letters: %s", c, why);
        mt_delta_destroy(d);
        /* The byte alone. */
        d = map(in + 1, 1);
        n = ref_is_sep((unsigned char)c) ? 0 : 1;
        w[0] = (ref_word_t){word + 1, 1, 1};
        why = d ? compare(d, w, n) : "map failed";
        if (why && bad++ < 5) CHECKF(0, "byte 0x%02x alone: %s", c, why);
        mt_delta_destroy(d);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Every ASCII punctuation character (listed by hand) separates words. */
static void test_punctuation(void) {
    static const char punct[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    CU_ASSERT_EQUAL(strlen(punct), 32);
    for (const char *p = punct; *p; p++) {
        char in[8];
        snprintf(in, sizeof in, "Ab%cCd%c", *p, *p);
        ref_word_t w[2] = {{(const unsigned char *)"ab", 2, 1},
                           {(const unsigned char *)"cd", 2, 1}};
        mt_delta_t *d = map(in, strlen(in));
        const char *why = d ? compare(d, w, 2) : "map failed";
        CHECKF(!why, "punctuation '%c': %s", *p, why);
        mt_delta_destroy(d);
    }
}

/* map merges into what the delta already holds. */
static void test_map_accumulates(void) {
    const mt_op_t *op = wordcount();
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    mt_delta_t *d = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char err[256];
    mt_map_ctx_t ctx = {NULL, 0, 1, 0};
    CU_ASSERT_EQUAL(op->map(&ctx, "a b", 3, d, err, sizeof err), 0);
    CU_ASSERT_EQUAL(op->map(&ctx, "A c", 3, d, err, sizeof err), 0);
    CU_ASSERT_EQUAL(op->map(&ctx, "", 0, d, err, sizeof err), 0);
    json_t *args = json_object();
    ctx.args = args;
    CU_ASSERT_EQUAL(op->map(&ctx, "c", 1, d, err, sizeof err), 0);
    json_decref(args);
    ref_word_t w[3] = {{(const unsigned char *)"a", 1, 2},
                       {(const unsigned char *)"b", 1, 1},
                       {(const unsigned char *)"c", 1, 2}};
    const char *why = compare(d, w, 3);
    CHECKF(!why, "%s", why);
    mt_delta_destroy(d);
}

/* Random inputs against the reference, from a fixed seed. */
static void test_map_random(void) {
    enum { ITER = 300, MAXLEN = 3000 };
    static const unsigned char seps[] = " \n\r\t,.!\0\x7f-_'";
    static const unsigned char high[] = {0x80, 0xc3, 0xa9, 0xff};
    unsigned char *in = malloc(MAXLEN), *low = malloc(MAXLEN);
    ref_word_t *words = malloc(MAXLEN * sizeof *words);
    CU_ASSERT_FATAL(in && low && words);
    unsigned long long seed = 2024;
    size_t failed = 0;
    for (int it = 0; it < ITER; it++) {
        size_t len = (size_t)(unit_rand(&seed) % MAXLEN);
        for (size_t k = 0; k < len; k++) {
            unsigned r = (unsigned)(unit_rand(&seed) % 100);
            in[k] = r < 30 ? (unsigned char)"abAB"[r % 4]
                  : r < 40 ? (unsigned char)('0' + r % 3)
                  : r < 60 ? seps[r % (sizeof seps - 1)]
                  : r < 70 ? high[r % 4]
                           : (unsigned char)unit_rand(&seed);
        }
        size_t n = ref_count(in, len, low, words);
        mt_delta_t *d = map(in, len);
        const char *why = d ? compare(d, words, n) : "map failed";
        if (why && failed++ < 3) CHECKF(0, "random input %d (%zu bytes): %s", it, len, why);
        mt_delta_destroy(d);
    }
    CU_ASSERT_EQUAL(failed, 0);
    free(in);
    free(low);
    free(words);
}

/* ---- finish ---- */

typedef struct fin_field {
    const char *name;
    size_t len; /* SIZE_MAX: strlen(name) */
    const char *value;
} fin_field_t;

/* Runs finish on the fields; returns the compact JSON text (free it) or
 * NULL, with err set. */
static char *finish(const fin_field_t *f, size_t n, char *err, size_t errsize) {
    const mt_op_t *op = wordcount();
    mt_field_t fields[16];
    for (size_t k = 0; k < n; k++) {
        fields[k].name = f[k].name;
        fields[k].name_len = f[k].len == SIZE_MAX ? strlen(f[k].name) : f[k].len;
        fields[k].value = f[k].value;
        fields[k].value_len = strlen(f[k].value);
    }
    json_t *res = op->finish(NULL, fields, n, err, errsize);
    if (!res) return NULL;
    char *text = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    return text;
}

static void test_finish(void) {
#define F(name, value) {name, SIZE_MAX, value}
    static const fin_field_t f1[] = {
        F("b", "3"), F("a", "3"), F("c", "10"), F("\xff\xfe", "2"),
        F("caf\xc3\xa9", "1"), F("z", "2"),
    };
    static const fin_field_t f2[] = {
        F("ab", "1"), F("b", "1"), F("abc", "1"), F("a", "1"),
    };
    static const fin_field_t f3[] = {
        {"a\0b", 3, "5"}, F("a", "5"), {"\0", 1, "6"},
    };
    static const fin_field_t f4[] = {
        F("\xf4\x90\x80\x80", "1"),            /* above U+10FFFF */
        F("\xf0\x9f\x98\x80", "1"),            /* U+1F600, valid */
        F("\xed\xa0\x80", "1"),                /* a surrogate */
        F("\xc0\xaf", "1"),                    /* overlong '/' */
        F("a\xe2\x82\xac" "b\xe2", "1"),       /* euro sign, then truncated */
    };
    static const fin_field_t f5[] = {
        F("big", "9223372036854775807"), F("one", "1"), F("zero", "0"),
    };
#undef F
    static const struct {
        const fin_field_t *f;
        size_t n;
        const char *json;
    } cases[] = {
        {f1, 6,
         "{\"counts\":{\"c\":10,\"a\":3,\"b\":3,\"z\":2,\"\\\\xff\\\\xfe\":2,"
         "\"caf\xc3\xa9\":1}}"},
        {f2, 4, "{\"counts\":{\"a\":1,\"ab\":1,\"abc\":1,\"b\":1}}"},
        {f3, 3, "{\"counts\":{\"\\\\x00\":6,\"a\":5,\"a\\\\x00b\":5}}"},
        {f4, 5,
         "{\"counts\":{\"a\xe2\x82\xac" "b\\\\xe2\":1,\"\\\\xc0\\\\xaf\":1,"
         "\"\\\\xed\\\\xa0\\\\x80\":1,\"\xf0\x9f\x98\x80\":1,"
         "\"\\\\xf4\\\\x90\\\\x80\\\\x80\":1}}"},
        {f5, 3, "{\"counts\":{\"big\":9223372036854775807,\"one\":1,\"zero\":0}}"},
        {NULL, 0, "{\"counts\":{}}"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char err[256] = "";
        char *text = finish(cases[k].f, cases[k].n, err, sizeof err);
        CHECKF(text && strcmp(text, cases[k].json) == 0,
               "finish case %zu: %s, want %s", k, text ? text : err,
               cases[k].json);
        free(text);
    }
}

static void test_finish_bad_counts(void) {
    static const char *const bad[] = {"", "abc", "12x", "1.5", "x1", "1 2"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        fin_field_t f[2] = {{"ok", SIZE_MAX, "1"}, {"w", SIZE_MAX, bad[k]}};
        char err[256] = "";
        char *text = finish(f, 2, err, sizeof err);
        CHECKF(text == NULL && err[0] != '\0', "count \"%s\" accepted: %s",
               bad[k], text ? text : "");
        free(text);
    }
}

/* map, then the stored form (decimal text), then finish. */
static void test_map_then_finish(void) {
    mt_delta_t *d = map("b a B, c b", 10);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    size_t n = mt_delta_size(d);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    fin_field_t f[3];
    char values[3][24], names[3][8];
    for (size_t k = 0; k < n; k++) {
        mt_delta_entry_t e;
        mt_delta_get(d, k, &e);
        snprintf(values[k], sizeof values[k], "%lld", (long long)e.i);
        memcpy(names[k], e.field, e.field_len);
        f[k] = (fin_field_t){names[k], e.field_len, values[k]};
    }
    char err[256] = "";
    char *text = finish(f, n, err, sizeof err);
    CHECKF(text && strcmp(text, "{\"counts\":{\"b\":3,\"a\":1,\"c\":1}}") == 0,
           "got %s", text ? text : err);
    free(text);
    mt_delta_destroy(d);
}

/* ---- UTF-8 ---- */

static void test_utf8_seq_len(void) {
#define S(s) (const unsigned char *)(s), sizeof(s) - 1
    static const struct {
        const unsigned char *p;
        size_t avail;
        size_t want;
        const char *what;
    } cases[] = {
        {S("A"), 1, "ASCII"},
        {S("Az"), 1, "ASCII, more follows"},
        {S("\x7f"), 1, "DEL"},
        {S("\x01"), 1, "control byte"},
        {S("\0"), 0, "NUL is refused"},
        {S("\xc2\x80"), 2, "U+0080"},
        {S("\xdf\xbf"), 2, "U+07FF"},
        {S("\xc3\xa9xyz"), 2, "e-acute, more follows"},
        {S("\xc0\x80"), 0, "overlong NUL"},
        {S("\xc1\xbf"), 0, "overlong U+007F"},
        {S("\xe0\xa0\x80"), 3, "U+0800"},
        {S("\xe2\x82\xac"), 3, "euro sign"},
        {S("\xe0\x80\x80"), 0, "overlong 3-byte"},
        {S("\xe0\x9f\xbf"), 0, "overlong U+07FF"},
        {S("\xed\x9f\xbf"), 3, "U+D7FF"},
        {S("\xed\xa0\x80"), 0, "surrogate U+D800"},
        {S("\xed\xbf\xbf"), 0, "surrogate U+DFFF"},
        {S("\xee\x80\x80"), 3, "U+E000"},
        {S("\xef\xbf\xbf"), 3, "U+FFFF"},
        {S("\xf0\x90\x80\x80"), 4, "U+10000"},
        {S("\xf0\x9f\x98\x80"), 4, "U+1F600"},
        {S("\xf4\x8f\xbf\xbf"), 4, "U+10FFFF"},
        {S("\xf0\x8f\xbf\xbf"), 0, "overlong 4-byte"},
        {S("\xf0\x80\x80\x80"), 0, "overlong 4-byte NUL"},
        {S("\xf4\x90\x80\x80"), 0, "U+110000"},
        {S("\xf5\x80\x80\x80"), 0, "lead F5"},
        {S("\xf7\xbf\xbf\xbf"), 0, "lead F7"},
        {S("\xf8\x88\x80\x80\x80"), 0, "5-byte form"},
        {S("\xfc\x84\x80\x80\x80\x80"), 0, "6-byte form"},
        {S("\xfe"), 0, "FE"},
        {S("\xff"), 0, "FF"},
        {S("\x80"), 0, "lone continuation"},
        {S("\xbf"), 0, "lone continuation BF"},
        {S("\xc2"), 0, "truncated 2-byte"},
        {S("\xe2\x82"), 0, "truncated 3-byte"},
        {S("\xe2"), 0, "truncated 3-byte, lead only"},
        {S("\xf0\x9f\x98"), 0, "truncated 4-byte"},
        {S("\xc2\x41"), 0, "bad continuation"},
        {S("\xe2\x28\xa1"), 0, "bad second byte"},
        {S("\xe2\x82\x28"), 0, "bad third byte"},
        {S("\xf0\x90\x28\xbc"), 0, "bad third of four"},
        {S("\xf0\x90\x80\xc0"), 0, "bad fourth of four"},
        {S("\xc2\xc2\x80"), 0, "lead then lead"},
    };
#undef S
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t got = mt_utf8_seq_len(cases[k].p, cases[k].avail ? cases[k].avail : 1);
        CHECKF(got == cases[k].want, "%s: %zu, want %zu", cases[k].what, got,
               cases[k].want);
    }
    /* Truncation: a valid 2-, 3- and 4-byte sequence cut short by avail. */
    static const unsigned char four[] = {0xf0, 0x9f, 0x98, 0x80};
    for (size_t a = 1; a < 4; a++)
        CHECKF(mt_utf8_seq_len(four, a) == 0, "4-byte sequence with avail %zu", a);
    static const unsigned char three[] = {0xe2, 0x82, 0xac};
    for (size_t a = 1; a < 3; a++)
        CHECKF(mt_utf8_seq_len(three, a) == 0, "3-byte sequence with avail %zu", a);
    static const unsigned char two[] = {0xc3, 0xa9};
    CU_ASSERT_EQUAL(mt_utf8_seq_len(two, 1), 0);
}

static void test_utf8_escape(void) {
#define E(in, out) {in, sizeof(in) - 1, out}
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        E("", ""),
        E("plain", "plain"),
        E("caf\xc3\xa9", "caf\xc3\xa9"),
        E("\xff", "\\xff"),
        E("a\xff" "b", "a\\xffb"),
        E("\0", "\\x00"),
        E("a\0b", "a\\x00b"),
        E("\xc3", "\\xc3"),
        E("\xc3\xc3\xa9", "\\xc3\xc3\xa9"),
        E("\xed\xa0\x80", "\\xed\\xa0\\x80"),
        E("\xe2\x82\xac\xe2\x82", "\xe2\x82\xac\\xe2\\x82"),
        E("\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80!"),
        E("\x80\x81", "\\x80\\x81"),
        E("\xc0\xaf", "\\xc0\\xaf"),
        E("\x1f\x7f", "\x1f\x7f"),
        E("\\", "\\\\"),
        E("a\\xffb", "a\\\\xffb"), /* not the same as byte 0xff */
    };
#undef E
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mt_buf_t out = MT_BUF_INIT;
        CU_ASSERT_EQUAL(mt_buf_append(&out, "pre:", 4), 0); /* appends */
        int rc = mt_utf8_escape(cases[k].in, cases[k].len, &out);
        size_t want = strlen(cases[k].out);
        CHECKF(rc == 0 && out.len == 4 + want &&
                   memcmp(out.data + 4, cases[k].out, want) == 0,
               "escape case %zu: \"%.*s\", want \"%s\"", k,
               (int)(out.len > 4 ? out.len - 4 : 0), out.data ? out.data + 4 : "",
               cases[k].out);
        mt_buf_free(&out);
    }
}

int register_wordcount_suite(void) {
    static const unit_test_t tests[] = {
        {"op table", test_op_table},
        {"separator table follows the rule", test_separator_table},
        {"map: table of cases", test_map_table},
        {"map: every byte", test_every_byte},
        {"map: every punctuation character", test_punctuation},
        {"map accumulates", test_map_accumulates},
        {"map: random inputs against a reference", test_map_random},
        {"finish: counts, order, escapes", test_finish},
        {"finish: counts that are not integers", test_finish_bad_counts},
        {"map then finish", test_map_then_finish},
        {"utf8: sequence lengths", test_utf8_seq_len},
        {"utf8: escaping", test_utf8_escape},
        {NULL, NULL},
    };
    return unit_add_suite("wordcount", tests);
}
