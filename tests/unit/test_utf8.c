/* test_utf8.c — utf8_clean() keeps every valid character, turns each byte of
 * an invalid or cut one into '?', and what it gives jansson always takes. */
#include "util/utf8.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static void cleans_to(const char *in, size_t len, const char *want)
{
    char out[64];
    assert_true(len < sizeof(out));
    utf8_clean(in, len, out);
    assert_string_equal(out, want);
}

static void test_valid_text_is_kept(void **state)
{
    (void)state;
    cleans_to("plain", 5, "plain");
    cleans_to("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
              "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    cleans_to("\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last */
}

static void test_each_bad_byte_becomes_a_question_mark(void **state)
{
    (void)state;
    cleans_to("caf\xc3", 4, "caf?");          /* cut at the end */
    cleans_to("\xe2\x82", 2, "??");           /* cut, two bytes of three */
    cleans_to("a\x80z", 3, "a?z");            /* a lone continuation byte */
    cleans_to("\xc0\xaf", 2, "??");           /* overlong '/' */
    cleans_to("\xe0\x80\xaf", 3, "???");      /* overlong, three bytes */
    cleans_to("\xed\xa0\x80", 3, "???");      /* a surrogate */
    cleans_to("\xf4\x90\x80\x80", 4, "????"); /* past U+10FFFF */
    cleans_to("\xff\xfe", 2, "??");
    cleans_to("a\0b", 3, "a?b"); /* a NUL inside */
    cleans_to("\xc3(", 2, "?("); /* the next byte is kept */
}

/* Whatever the bytes, jansson accepts the result, of the same length. */
static void test_jansson_takes_any_cleaned_bytes(void **state)
{
    uint32_t x = 2463534242u;
    (void)state;
    for (int n = 0; n < 20000; n++) {
        char in[16], out[17];
        size_t len = (size_t)(n % 16);
        json_t *j;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            /* Mostly high bytes, where the sequences are. */
            in[i] = (char)(x % 5 ? 0x80 | (x >> 8 & 0x7f) : x >> 8);
        }
        utf8_clean(in, len, out);
        j = json_stringn(out, len);
        assert_non_null(j);
        json_decref(j);
    }
}

static void test_cleaned_copy(void **state)
{
    char *c = utf8_cleaned("ok \xc3");
    (void)state;
    assert_non_null(c);
    assert_string_equal(c, "ok ?");
    free(c);
}

static void printable_as(const char *in, const char *want)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", in);
    utf8_printable(buf);
    assert_string_equal(buf, want);
}

/* Nothing a service or a stranger sends can drive the reader's terminal. */
static void test_printable_for_a_terminal(void **state)
{
    (void)state;
    printable_as("plain text, é and ✓", "plain text, é and ✓");
    printable_as("\x1b]0;owned\x07\x1b[2Jcleared", "?]0;owned??[2Jcleared");
    printable_as("tab\tnew\nline\r", "tab new line ");
    printable_as("del\x7f", "del?");
    printable_as("c1 csi \xc2\x9b"
                 "31m",
                 "c1 csi ??31m"); /* U+009B, CSI */
    printable_as("nbsp \xc2\xa0 kept", "nbsp \xc2\xa0 kept");
    printable_as("cut \xe2\x9c", "cut ??");
    printable_as("bad \xff\xfe", "bad ??");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_text_is_kept),
        cmocka_unit_test(test_each_bad_byte_becomes_a_question_mark),
        cmocka_unit_test(test_jansson_takes_any_cleaned_bytes),
        cmocka_unit_test(test_cleaned_copy),
        cmocka_unit_test(test_printable_for_a_terminal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
