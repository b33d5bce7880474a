/* tests/unit/test_metrics.c — the Prometheus text format: HELP and TYPE once
 * per family, samples under their family, label escaping, and the samples
 * left out (no last exit code before a first exit). */
#include "api/metrics.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void escaping(void **state)
{
    char out[64];
    (void)state;
    api_metrics_escape("plain-name.1", out);
    assert_string_equal(out, "plain-name.1");
    api_metrics_escape("a\"b\\c\nd", out);
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    api_metrics_escape("", out);
    assert_string_equal(out, "");
}

static void families_and_samples(void **state)
{
    const struct api_metrics_service svcs[] = {
        {.name = "web",
         .state = "running",
         .up = true,
         .ready = true,
         .restarts = 3,
         .log_lost_bytes = 12345,
         .exited = true,
         .last_exit_code = 137,
         .live = true,
         .cpu_seconds = 1.5,
         .rss_bytes = 1048576,
         .procs = 4},
        {.name = "we\"ird", .state = "stopped"},
    };
    const struct api_metrics_self self = {.loop_wakeups = 42,
                                          .events_total = 7,
                                          .rss_bytes = 4096,
                                          .cpu_seconds = 0.25,
                                          .start_time = 1700000000,
                                          .webhooks_delivered = 5,
                                          .webhooks_dropped = 2};
    size_t len = 0;
    char *text = api_metrics_format(svcs, 2, &self, &len);
    (void)state;
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    assert_int_equal(count(text, "# TYPE corral_service_up gauge\n"), 1);
    assert_int_equal(count(text, "# HELP corral_service_up "), 1);
    assert_int_equal(count(text, "# TYPE corral_service_restarts_total counter\n"), 1);
    assert_int_equal(count(text, "# TYPE corral_service_cpu_seconds_total counter\n"), 1);
    assert_non_null(strstr(text, "corral_service_up{service=\"web\"} 1\n"));
    assert_non_null(strstr(text, "corral_service_up{service=\"we\\\"ird\"} 0\n"));
    assert_non_null(strstr(text, "corral_service_ready{service=\"web\"} 1\n"));
    assert_non_null(strstr(text, "corral_service_state{service=\"web\",state=\"running\"} 1\n"));
    assert_non_null(strstr(text, "corral_service_restarts_total{service=\"web\"} 3\n"));
    assert_int_equal(count(text, "# TYPE corral_service_log_lost_bytes_total counter\n"), 1);
    assert_non_null(strstr(text, "corral_service_log_lost_bytes_total{service=\"web\"} 12345\n"));
    assert_non_null(strstr(text, "corral_service_log_lost_bytes_total{service=\"we\\\"ird\"} 0\n"));
    assert_non_null(strstr(text, "corral_service_last_exit_code{service=\"web\"} 137\n"));
    /* No exit yet: no sample rather than a made-up 0. */
    assert_null(strstr(text, "corral_service_last_exit_code{service=\"we\\\"ird"));
    assert_non_null(strstr(text, "corral_service_cpu_seconds_total{service=\"web\"} 1.500000\n"));
    assert_non_null(strstr(text, "corral_service_memory_rss_bytes{service=\"web\"} 1048576\n"));
    assert_non_null(strstr(text, "corral_service_processes{service=\"web\"} 4\n"));
    assert_non_null(strstr(text, "corral_service_processes{service=\"we\\\"ird\"} 0\n"));
    assert_non_null(strstr(text, "corral_loop_wakeups_total 42\n"));
    assert_int_equal(count(text, "# TYPE corral_webhook_deliveries_total counter\n"), 1);
    assert_non_null(strstr(text, "corral_webhook_deliveries_total{result=\"delivered\"} 5\n"));
    assert_non_null(strstr(text, "corral_webhook_deliveries_total{result=\"failed\"} 0\n"));
    assert_non_null(strstr(text, "corral_webhook_deliveries_total{result=\"dropped\"} 2\n"));
    assert_non_null(strstr(text, "corral_process_resident_memory_bytes 4096\n"));
    assert_non_null(strstr(text, "corral_services 2\n"));
    /* Every sample follows its own family's TYPE line: a family's samples
     * are not split by another family. */
    const char *up_type = strstr(text, "# TYPE corral_service_up ");
    const char *ready_type = strstr(text, "# TYPE corral_service_ready ");
    const char *last_up = strstr(text, "corral_service_up{service=\"we");
    assert_true(up_type < last_up && last_up < ready_type);
    assert_int_equal(text[len - 1], '\n');
    free(text);
}

static void no_services(void **state)
{
    const struct api_metrics_self self = {0};
    size_t len = 0;
    char *text = api_metrics_format(NULL, 0, &self, &len);
    (void)state;
    assert_non_null(text);
    assert_non_null(strstr(text, "# TYPE corral_service_up gauge\n# HELP"));
    assert_non_null(strstr(text, "corral_services 0\n"));
    free(text);
}

static void many_services_grow_the_buffer(void **state)
{
    enum { N = 3000 };
    struct api_metrics_service *svcs = calloc(N, sizeof(*svcs));
    char names[N][16];
    const struct api_metrics_self self = {0};
    size_t len = 0;
    char *text;
    (void)state;
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "service-%04d", i);
        svcs[i] = (struct api_metrics_service){.name = names[i],
                                               .state = "running",
                                               .up = true,
                                               .live = true,
                                               .rss_bytes = UINT64_MAX};
    }
    text = api_metrics_format(svcs, N, &self, &len);
    assert_non_null(text);
    assert_int_equal(count(text, "corral_service_memory_rss_bytes{"), N);
    assert_non_null(strstr(text, "{service=\"service-2999\"} 18446744073709551615\n"));
    free(text);
    free(svcs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escaping),
        cmocka_unit_test(families_and_samples),
        cmocka_unit_test(no_services),
        cmocka_unit_test(many_services_grow_the_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
