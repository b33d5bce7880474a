/* test_jtext.c — the JSON that jtext writes is byte for byte the one jansson
 * dumps (JSON_COMPACT) for the same object, whatever the strings hold. */
#include "util/jtext.h"
#include "util/utf8.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static uint32_t rng = 2463534242u;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* jansson's text of {"s": s (cleaned), "n": n, "z": null, "o": {"s": s}}. */
static char *jansson_text(const char *s, size_t len, long long n)
{
    char *clean = malloc(len + 1);
    json_t *o, *inner;
    char *text;
    assert_non_null(clean);
    utf8_clean(s, len, clean);
    inner = json_object();
    json_object_set_new(inner, "s", json_stringn(clean, len));
    o = json_object();
    json_object_set_new(o, "s", json_stringn(clean, len));
    json_object_set_new(o, "n", json_integer(n));
    json_object_set_new(o, "z", json_null());
    json_object_set_new(o, "o", inner);
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    free(clean);
    return text;
}

static char *jtext_text(const char *s, size_t len, long long n)
{
    struct jtext j;
    jtext_init(&j);
    jtext_open(&j);
    jtext_key(&j, "s");
    jtext_strn(&j, s, len);
    jtext_key(&j, "n");
    jtext_int(&j, n);
    jtext_key(&j, "z");
    jtext_str(&j, NULL);
    jtext_key(&j, "o");
    jtext_open(&j);
    jtext_key(&j, "s");
    jtext_strn(&j, s, len);
    jtext_close(&j);
    jtext_close(&j);
    return jtext_take(&j);
}

static void same_as_jansson(const char *s, size_t len, long long n)
{
    char *want = jansson_text(s, len, n);
    char *got = jtext_text(s, len, n);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(want);
    free(got);
}

static void test_escapes_as_jansson_does(void **state)
{
    (void)state;
    same_as_jansson("plain", 5, 0);
    same_as_jansson("q\"b\\s/", 6, -1);
    same_as_jansson("\b\f\n\r\t\x01\x1f\x7f", 8, 9223372036854775807LL);
    same_as_jansson("caf\xc3\xa9 \xe2\x82\xac", 9, -9223372036854775807LL - 1);
    same_as_jansson("", 0, 42);
}

static void test_bytes_that_are_not_utf8_are_cleaned(void **state)
{
    char *got;
    (void)state;
    same_as_jansson("a\xc3(\x80\0z", 6, 1);
    got = jtext_text("\xff", 1, 0);
    assert_string_equal(got, "{\"s\":\"?\",\"n\":0,\"z\":null,\"o\":{\"s\":\"?\"}}");
    free(got);
}

/* Random bytes of every kind, short and long (past the cleaning's stack
 * buffer and the text's first allocation). */
static void test_any_bytes_match_jansson(void **state)
{
    static char in[3000];
    (void)state;
    for (int k = 0; k < 3000; k++) {
        size_t len = k % 10 == 0 ? (size_t)(next() % sizeof(in)) : (size_t)(next() % 40);
        for (size_t i = 0; i < len; i++) {
            uint32_t x = next();
            in[i] = (char)(x % 3 == 0 ? x >> 8 & 0x1f : x % 3 == 1 ? 0x80 | (x >> 8) : x >> 8);
        }
        same_as_jansson(in, len, (long long)next() - (1LL << 31));
    }
}

static void test_too_deep_fails_and_frees(void **state)
{
    struct jtext j;
    (void)state;
    jtext_init(&j);
    for (int d = 0; d <= JTEXT_DEPTH_MAX; d++) {
        jtext_open(&j);
        jtext_key(&j, "k");
    }
    assert_true(j.failed);
    assert_null(jtext_take(&j));
    assert_ptr_equal(j.buf, j.inline_buf);
}

/* Past the inline buffer, and back to it after the copy. */
static void test_long_text_is_copied_whole(void **state)
{
    static char big[5000];
    struct jtext j;
    char *text;
    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    jtext_init(&j);
    jtext_open(&j);
    jtext_key(&j, "big");
    jtext_str(&j, big);
    jtext_close(&j);
    assert_true(j.buf != j.inline_buf);
    text = jtext_take(&j);
    assert_non_null(text);
    assert_int_equal(strlen(text), sizeof(big) - 1 + 10);
    assert_memory_equal(text, "{\"big\":\"xx", 10);
    assert_ptr_equal(j.buf, j.inline_buf);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_as_jansson_does),
        cmocka_unit_test(test_bytes_that_are_not_utf8_are_cleaned),
        cmocka_unit_test(test_any_bytes_match_jansson),
        cmocka_unit_test(test_too_deep_fails_and_frees),
        cmocka_unit_test(test_long_text_is_copied_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
