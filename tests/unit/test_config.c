/* tests/unit/test_config.c — corral.yaml into the model: one test per error
 * class with its exact file:line:col and field, and the merge, ordering and
 * path rules on good configs. */
#include "api/api.h"
#include "config/config.h"
#include "config/internal.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>
#include <jansson.h>

#define CONFIG_DIR FIXTURES "/config"
/* A valid service; a case appends its own keys from line 4 on. */
#define WEB "services:\n  web:\n    command: [a]\n"

static struct cfg_model *load_in(const char *yaml, const char *dir, struct diag *dg)
{
    return cfg_load_string(yaml, strlen(yaml), "test.yaml", dir, dg);
}

static struct cfg_model *load_ok(const char *yaml)
{
    struct diag dg;
    struct cfg_model *m = load_in(yaml, CONFIG_DIR, &dg);
    if (!m) {
        char buf[2048];
        diag_format(&dg, buf, sizeof(buf));
        fail_msg("config rejected: %s", buf);
    }
    return m;
}

/* Fails with the whole diagnostic in view when any part differs. */
static void expect_error_in(const char *yaml, const char *file, int line, int col,
                            const char *field, const char *want)
{
    struct diag dg;
    char buf[2048];
    struct cfg_model *m = load_in(yaml, CONFIG_DIR, &dg);
    if (m) {
        cfg_free(m);
        fail_msg("config accepted; wanted %d:%d %s: ...%s...", line, col, field, want);
    }
    diag_format(&dg, buf, sizeof(buf));
    if (strcmp(dg.file, file) != 0 || dg.line != line || dg.col != col ||
        strcmp(dg.field, field) != 0 || !strstr(dg.msg, want))
        fail_msg("got:  %s\nwant: %s:%d:%d: %s: ...%s...", buf, file, line, col, field, want);
    assert_int_not_equal(dg.code, 0);
}

static void expect_error(const char *yaml, int line, int col, const char *field, const char *want)
{
    expect_error_in(yaml, "test.yaml", line, col, field, want);
}

static void unknown_key_suggests(void **state)
{
    (void)state;
    expect_error("services:\n"
                 "  web:\n"
                 "    comand: [a]\n",
                 3, 5, "services.web.comand", "unknown key 'comand' (did you mean 'command'?)");
    expect_error(WEB "    restart: {polcy: always}\n", 4, 15, "services.web.restart.polcy",
                 "did you mean 'policy'?");
    expect_error("servics: {}\n", 1, 1, "servics", "did you mean 'services'?");
    /* Other tools' words for a key: cmd is one edit from cwd, but meant command. */
    expect_error("services:\n  web:\n    cmd: [a]\n", 3, 5, "services.web.cmd",
                 "did you mean 'command'?");
    expect_error(WEB "    working_dir: /srv\n", 4, 5, "services.web.working_dir",
                 "did you mean 'cwd'?");
    expect_error(WEB "    stop: {timeout: \"\"}\n", 4, 21, "services.web.stop.timeout",
                 "empty duration");
    /* Nothing close: list the valid keys instead of guessing. */
    expect_error(WEB "    frobnicate: 1\n", 4, 5, "services.web.frobnicate",
                 "unknown key 'frobnicate' (valid keys: command,");
    /* defaults only holds what services inherit. */
    expect_error("defaults:\n"
                 "  command: [a]\n"
                 "services: {a: {command: [b]}}\n",
                 2, 3, "defaults.command", "unknown key 'command' (valid keys: restart,");
}

static void wrong_type(void **state)
{
    (void)state;
    expect_error(WEB "    env: [A=1]\n", 4, 10, "services.web.env",
                 "expected a mapping, got a list");
    expect_error("services:\n"
                 "  web:\n"
                 "    command: {a: 1}\n",
                 3, 14, "services.web.command", "got a mapping");
    expect_error("services:\n"
                 "  web:\n"
                 "    command: [a, [b]]\n",
                 3, 18, "services.web.command[1]", "expected a string, got a list");
    expect_error(WEB "    stop:\n"
                     "      - signal\n",
                 5, 7, "services.web.stop", "expected a mapping, got a list");
    expect_error("services: [a, b]\n", 1, 11, "services", "expected a mapping, got a list");
    expect_error("- services\n", 1, 1, "", "expected a mapping, got a list");
    expect_error(WEB "    autostart: yes\n", 4, 16, "services.web.autostart",
                 "expected true or false, got 'yes'");
}

/* An empty item has no mark of its own: it is placed at its '-', not at the
 * item before it. */
static void empty_list_item(void **state)
{
    (void)state;
    expect_error("services:\n"
                 "  web:\n"
                 "    command:\n"
                 "      - sh\n"
                 "      -\n"
                 "      - x\n",
                 5, 7, "services.web.command[1]", "expected a string, got an empty value");
    expect_error("services:\n"
                 "  web:\n"
                 "    command:\n"
                 "      - sh   # the shell\n"
                 "\n"
                 "      # then nothing\n"
                 "      -\n"
                 "      -\n",
                 7, 7, "services.web.command[1]", "got an empty value");
    expect_error(WEB "    ports:\n"
                     "      - 80\n"
                     "      - 81\n"
                     "      - \n",
                 7, 7, "services.web.ports[2]", "got an empty value");
    /* The first item, and a flow list's explicit null. */
    expect_error("services:\n"
                 "  web:\n"
                 "    command:\n"
                 "      -\n"
                 "      - x\n",
                 4, 7, "services.web.command[0]", "got an empty value");
    expect_error("services:\n  web:\n    command: [sh, ~, x]\n", 3, 19, "services.web.command[1]",
                 "got an empty value");
    /* libfyaml refuses an empty item in a flow list; it names the comma. */
    expect_error("services:\n  web:\n    command: [sh, , x]\n", 3, 19, "", "invalid YAML");
}

/* A null where a typed key is expected says what the key takes. */
static void null_says_what_is_expected(void **state)
{
    (void)state;
    expect_error(WEB "    autostart: ~\n", 4, 16, "services.web.autostart",
                 "expected true or false, got an empty value");
    expect_error(WEB "    autostart:\n", 4, 5, "services.web.autostart",
                 "expected true or false, got an empty value");
    expect_error(WEB "    shell: null\n", 4, 12, "services.web.shell",
                 "expected true or false, got an empty value");
    expect_error(WEB "    autostart: [true]\n", 4, 16, "services.web.autostart",
                 "expected true or false, got a list");
    expect_error(WEB "    logs: {timestamps: ~}\n", 4, 24, "services.web.logs.timestamps",
                 "expected true or false, got an empty value");
    expect_error(WEB "    restart: {window: ~}\n", 4, 23, "services.web.restart.window",
                 "expected a duration such as 10s, got an empty value");
    expect_error(WEB "    restart: {max_restarts: ~}\n", 4, 29, "services.web.restart.max_restarts",
                 "expected a whole number, got an empty value");
    expect_error(WEB "    restart: {policy: ~}\n", 4, 23, "services.web.restart.policy",
                 "expected one of: no, on-failure, always (got an empty value)");
    expect_error(WEB "    restart: {retry_after: ~}\n", 4, 28, "services.web.restart.retry_after",
                 "expected a duration such as 10m, or never, got an empty value");
    expect_error(WEB "    stop: {signal: ~}\n", 4, 20, "services.web.stop.signal",
                 "expected a signal name such as TERM, got an empty value");
    expect_error(WEB "    logs: {max_size: ~}\n", 4, 22, "services.web.logs.max_size",
                 "expected a size such as 10M, got an empty value");
    expect_error(WEB "    limits: {memory: ~}\n", 4, 22, "services.web.limits.memory",
                 "expected a size such as 512M, or off, got an empty value");
    expect_error(WEB "    cwd: ~\n", 4, 10, "services.web.cwd",
                 "expected a path, got an empty value");
    expect_error(WEB "    user: ~\n", 4, 11, "services.web.user",
                 "expected a user name or uid, got an empty value");
    expect_error(WEB "    kind: ~\n", 4, 11, "services.web.kind",
                 "expected one of: longrun, oneshot (got an empty value)");
    expect_error("defaults: {autostart: ~}\n" WEB, 1, 23, "defaults.autostart",
                 "expected true or false, got an empty value");
}

static void bad_values(void **state)
{
    (void)state;
    expect_error(WEB "    restart: {initial: -1s}\n", 4, 24, "services.web.restart.initial",
                 "cannot be negative");
    expect_error(WEB "    ready_timeout: 0.5ms\n", 4, 20, "services.web.ready_timeout",
                 "under 1ms");
    expect_error(WEB "    ready: {fd: 3, interval: 0.1ms}\n", 4, 30, "services.web.ready.interval",
                 "under 1ms");
    expect_error(WEB "    stop:\n"
                     "      timeout: 10\n",
                 5, 16, "services.web.stop.timeout", "missing unit");
    expect_error(WEB "    restart: {policy: alway}\n", 4, 23, "services.web.restart.policy",
                 "invalid value 'alway' (expected one of: no, on-failure, always)");
    expect_error("services:\n"
                 "  web:\n"
                 "    kind: daemon\n"
                 "    command: [a]\n",
                 3, 11, "services.web.kind", "expected one of: longrun, oneshot");
    expect_error(WEB "    on_recover: keep\n", 4, 17, "services.web.on_recover",
                 "expected one of: restart, adopt");
    expect_error("containment: docker\nservices: {a: {command: [b]}}\n", 1, 14, "containment",
                 "expected one of: auto, cgroup, pgroup");
    expect_error(WEB "    logs: {max_size: 10X}\n", 4, 22, "services.web.logs.max_size",
                 "invalid size '10X'");
    expect_error(WEB "    logs: {keep: 1001}\n", 4, 18, "services.web.logs.keep", "from 0 to 1000");
    expect_error(WEB "    restart: {jitter: 150%}\n", 4, 23, "services.web.restart.jitter",
                 "invalid jitter '150%'");
    expect_error(WEB "    restart: {multiplier: 0.5}\n", 4, 27, "services.web.restart.multiplier",
                 "from 1 to 100");
    expect_error(WEB "    restart: {max_restarts: -1}\n", 4, 29,
                 "services.web.restart.max_restarts", "invalid number '-1'");
}

static void missing_command(void **state)
{
    (void)state;
    expect_error("services:\n"
                 "  web:\n"
                 "    cwd: site\n",
                 2, 3, "services.web.command", "missing 'command'");
    expect_error("services:\n"
                 "  web:\n"
                 "    command: []\n",
                 3, 14, "services.web.command", "command is empty");
    expect_error("services:\n"
                 "  web:\n"
                 "    command:\n",
                 3, 5, "services.web.command", "command is empty");
    expect_error("services:\n"
                 "  web:\n"
                 "    command: ['', x]\n",
                 3, 15, "services.web.command", "the program (the first item) is empty");
    expect_error("services:\n"
                 "  web:\n",
                 2, 3, "services.web", "expected a mapping, got an empty value");
}

static void unknown_signal(void **state)
{
    (void)state;
    expect_error(WEB "    stop: {signal: TERMM, timeout: 5s}\n", 4, 20, "services.web.stop.signal",
                 "unknown signal 'TERMM'");
    expect_error("defaults:\n"
                 "  stop:\n"
                 "    signal: 0\n"
                 "services: {a: {command: [b]}}\n",
                 3, 13, "defaults.stop.signal", "unknown signal '0'");
}

static void dependency_cycle(void **state)
{
    (void)state;
    expect_error("services:\n"
                 "  a: {command: [x], depends_on: [b]}\n"
                 "  b: {command: [x], depends_on: [c]}\n"
                 "  c: {command: [x], depends_on: [a]}\n",
                 4, 34, "services.c.depends_on", "dependency cycle: a -> b -> c -> a");
    /* The cycle need not start at the first service. */
    expect_error("services:\n"
                 "  z: {command: [x], depends_on: [b]}\n"
                 "  b: {command: [x], depends_on: {c: {condition: started}}}\n"
                 "  c:\n"
                 "    command: [x]\n"
                 "    depends_on:\n"
                 "      - b\n",
                 7, 9, "services.c.depends_on", "dependency cycle: b -> c -> b");
    expect_error("services:\n"
                 "  a: {command: [x], depends_on: [a]}\n",
                 2, 34, "services.a.depends_on",
                 "dependency cycle: a -> a (a service cannot depend on itself)");
}

static void unknown_dependency(void **state)
{
    (void)state;
    expect_error("services:\n"
                 "  web: {command: [x], depends_on: [dbb]}\n"
                 "  db: {command: [x]}\n",
                 2, 36, "services.web.depends_on", "unknown service 'dbb' (did you mean 'db'?)");
    expect_error("services:\n"
                 "  web: {command: [x], depends_on: {cache: {condition: started}}}\n",
                 2, 36, "services.web.depends_on", "unknown service 'cache'");
    expect_error("services:\n"
                 "  web: {command: [x], depends_on: [db, db]}\n"
                 "  db: {command: [x]}\n",
                 2, 40, "services.web.depends_on", "duplicate dependency 'db'");
    expect_error("services:\n"
                 "  web: {command: [x], depends_on: db}\n"
                 "  db: {command: [x]}\n",
                 2, 35, "services.web.depends_on", "expected a list or a mapping, got a string");
}

static void bad_service_name(void **state)
{
    char yaml[256];
    (void)state;
    expect_error("services:\n"
                 "  .hidden: {command: [x]}\n",
                 2, 3, "services", "invalid service name '.hidden'");
    expect_error("services:\n"
                 "  ok: {command: [x]}\n"
                 "  -dash: {command: [x]}\n",
                 3, 3, "services", "invalid service name '-dash'");
    expect_error("services:\n"
                 "  \"we b\": {command: [x]}\n",
                 2, 3, "services", "invalid service name 'we b'");
    expect_error("services:\n"
                 "  a/b: {command: [x]}\n",
                 2, 3, "services", "invalid service name 'a/b'");
    snprintf(yaml, sizeof(yaml), "services:\n  %065d: {command: [x]}\n", 0);
    expect_error(yaml, 2, 3, "services", "invalid service name");
    /* A service's cgroup bears its name, beside the kernel's files. */
    expect_error("services:\n"
                 "  web: {command: [x]}\n"
                 "  cgroup.procs: {command: [x]}\n",
                 3, 3, "services", "service name 'cgroup.procs' is taken by the kernel");
    expect_error("services:\n"
                 "  memory.max: {command: [x]}\n",
                 2, 3, "services", "'memory.max' is taken by the kernel");
    cfg_free(load_ok("services:\n"
                     "  memory-max: {command: [x]}\n"
                     "  cgroup: {command: [x]}\n"
                     "  api.v2: {command: [x]}\n"));
    snprintf(yaml, sizeof(yaml), "services:\n  %064d: {command: [x]}\n", 0);
    cfg_free(load_ok(yaml));
}

static void duplicate_service(void **state)
{
    (void)state;
    expect_error("services:\n"
                 "  web: {command: [x]}\n"
                 "  db: {command: [x]}\n"
                 "  web: {command: [y]}\n",
                 4, 3, "services", "duplicate service 'web' (first defined at line 2)");
    expect_error(WEB "    command: [y]\n", 4, 5, "services.web.command",
                 "duplicate key 'command' (first at line 3)");
    expect_error(WEB "    env: {A: 1, B: 2, A: 3}\n", 4, 23, "services.web.env",
                 "duplicate variable 'A' (first at line 4)");
}

static void string_command_needs_shell(void **state)
{
    (void)state;
    expect_error("services:\n"
                 "  web:\n"
                 "    command: python3 -m http.server\n",
                 3, 14, "services.web.command", "write it as a list");
    expect_error("services:\n"
                 "  web:\n"
                 "    shell: false\n"
                 "    command: \"echo hi\"\n",
                 4, 14, "services.web.command", "or set shell: true");
    expect_error("services:\n"
                 "  web:\n"
                 "    shell: true\n"
                 "    command: [echo, hi]\n",
                 4, 14, "services.web.command", "shell: true needs command as a single string");
}

static void completed_needs_oneshot(void **state)
{
    (void)state;
    expect_error("services:\n"
                 "  db: {command: [x]}\n"
                 "  web:\n"
                 "    command: [x]\n"
                 "    depends_on:\n"
                 "      db: {condition: completed}\n",
                 6, 23, "services.web.depends_on.db.condition",
                 "needs a oneshot service, but 'db' is longrun");
    /* ready and healthy need something that can become ready. */
    expect_error("services:\n"
                 "  db: {command: [x], kind: oneshot}\n"
                 "  web:\n"
                 "    command: [x]\n"
                 "    depends_on:\n"
                 "      db: {condition: ready}\n",
                 6, 23, "services.web.depends_on.db.condition",
                 "condition 'ready' needs a longrun service, but 'db' is oneshot (use condition: "
                 "completed)");
    expect_error("services:\n"
                 "  db: {command: [x], kind: oneshot}\n"
                 "  web:\n"
                 "    command: [x]\n"
                 "    depends_on:\n"
                 "      db: {condition: healthy}\n",
                 6, 23, "services.web.depends_on.db.condition",
                 "condition 'healthy' needs a longrun service");
    expect_error("services:\n"
                 "  db: {command: [x]}\n"
                 "  web:\n"
                 "    command: [x]\n"
                 "    depends_on:\n"
                 "      db: {conditon: started}\n",
                 6, 12, "services.web.depends_on.db.conditon", "did you mean 'condition'?");
}

static void bad_env_file(void **state)
{
    (void)state;
    expect_error_in(WEB "    env_file: bad.env\n", CONFIG_DIR "/bad.env", 3, 5,
                    "services.web.env_file", "expected '=' after 'BAD'");
    expect_error(WEB "    env_file: missing.env\n", 4, 15, "services.web.env_file",
                 "cannot read env file '" CONFIG_DIR "/missing.env': No such file");
    expect_error(WEB "    env:\n"
                     "      MY-VAR: x\n",
                 5, 7, "services.web.env.MY-VAR", "invalid variable name 'MY-VAR'");
    expect_error(WEB "    env:\n"
                     "      EMPTY:\n",
                 5, 7, "services.web.env.EMPTY", "write \"\" for an empty string");
    /* corral's own tag cannot be set, nor silently lost. */
    expect_error(WEB "    env: {CORRAL_SERVICE: db}\n", 4, 11, "services.web.env.CORRAL_SERVICE",
                 "names starting with CORRAL_ are corral's");
    expect_error_in(WEB "    env_file: reserved.env\n", CONFIG_DIR "/reserved.env", 2, 8,
                    "services.web.env_file", "'CORRAL_SERVICE': names starting with CORRAL_");
}

static void yaml_syntax_error(void **state)
{
    (void)state;
    expect_error("services:\n"
                 "  web: {command: [a]\n",
                 3, 1, "", "invalid YAML: ");
    expect_error("services:\n"
                 "  web:\n"
                 "\tcommand: [a]\n",
                 3, 1, "", "invalid YAML: ");
    expect_error("services:\n"
                 "  web: {command: \"a\\qb\"}\n",
                 2, 20, "", "invalid YAML: invalid escape 'q'");
    expect_error("services:\n"
                 "  web: &w {command: [a]}\n"
                 "  api: *w\n",
                 3, 8, "services.api", "aliases");
    expect_error("services: {a: {command: [b]}}\n"
                 "---\n"
                 "services: {}\n",
                 2, 1, "", "only one YAML document");
    expect_error("", 1, 1, "", "the config is empty");
}

static void bad_bytes(void **state)
{
    static const char nul[] = "services:\n  a: {command: [x\0y]}\n";
    struct diag dg;
    (void)state;
    assert_null(cfg_load_string(nul, sizeof(nul) - 1, "t.yaml", "/", &dg));
    assert_int_equal(dg.line, 2);
    assert_int_equal(dg.col, 18);
    assert_non_null(strstr(dg.msg, "NUL"));
    expect_error("services:\n  a: {command: [\"x\\0y\"]}\n", 2, 18, "services.a.command[0]",
                 "NUL character");
    expect_error("services:\n  a: {command: [\xff]}\n", 2, 17, "", "not valid UTF-8");
}

static void limits(void **state)
{
    size_t cap = (CFG_MAX_SERVICES + 1) * 32 + 32, off = 0;
    char *yaml = malloc(cap);
    char deep[256] = "services: ", path[256];
    (void)state;
    assert_non_null(yaml);
    off += (size_t)snprintf(yaml, cap, "services:\n");
    for (int i = 0; i <= CFG_MAX_SERVICES; i++)
        off += (size_t)snprintf(yaml + off, cap - off, "  s%d: {command: [x]}\n", i);
    expect_error(yaml, 2, 3, "services", "more than 4096 services");
    free(yaml);
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    /* The 32nd level: the 31st list in services, where the key path ends. */
    strcpy(path, "services");
    for (int i = 0; i < 31; i++)
        strcat(path, "[0]");
    expect_error(deep, 1, 42, path, "nesting is too deep");
}

/* Errors the YAML reader finds name the key path they occur under. */
static void yaml_errors_name_the_field(void **state)
{
    (void)state;
    expect_error(WEB "    restart:\n"
                     "      initial: &d 1s\n"
                     "      max: *d\n",
                 6, 12, "services.web.restart.max", "YAML aliases (*name) are not supported");
    expect_error(WEB "    env: {A: \"1\", B: \"x\\0\"}\n", 4, 23, "services.web.env.B",
                 "a string contains a NUL character");
    expect_error(WEB "    env:\n"
                     "      - *x\n",
                 5, 9, "services.web.env[0]", "YAML aliases");
    /* A key has no field of its own: the mapping that holds it is named. */
    expect_error(WEB "    env: {*x : 1}\n", 4, 11, "services.web.env", "YAML aliases");
}

static void merge_over_defaults(void **state)
{
    struct cfg_model *m =
        load_ok("defaults:\n"
                "  restart: {initial: 1s, max: 1m, jitter: 0.2}\n"
                "  stop: {signal: INT}\n"
                "  logs: {keep: 2}\n"
                "  autostart: false\n" WEB "    restart: {policy: always, initial: 250ms}\n"
                "    stop: {timeout: 3s}\n"
                "  plain:\n"
                "    command: [y]\n"
                "    autostart: true\n");
    const struct cfg_service *web = &m->services[0], *plain = &m->services[1];
    (void)state;
    assert_int_equal(web->restart.policy, CFG_RESTART_ALWAYS);
    assert_int_equal(web->restart.initial_ms, 250); /* service */
    assert_int_equal(web->restart.max_ms, 60000);   /* defaults */
    assert_float_equal(web->restart.jitter, 0.2, 1e-9);
    assert_float_equal(web->restart.multiplier, 2.0, 1e-9); /* builtin */
    assert_int_equal(web->restart.reset_after_ms, 60000);
    assert_int_equal(web->restart.max_restarts, 10);
    assert_int_equal(web->restart.window_ms, 60000);
    assert_int_equal(web->stop.signal, SIGINT);   /* defaults */
    assert_int_equal(web->stop.timeout_ms, 3000); /* service */
    assert_int_equal(web->logs.keep, 2);
    assert_int_equal(web->logs.max_size_bytes, 10u << 20);
    assert_true(web->logs.timestamps);
    assert_false(web->autostart);
    assert_int_equal(plain->restart.policy, CFG_RESTART_ON_FAILURE);
    assert_int_equal(plain->restart.initial_ms, 1000);
    assert_int_equal(plain->stop.timeout_ms, 10000);
    assert_true(plain->autostart);
    assert_int_equal(plain->kind, CFG_KIND_LONGRUN);
    cfg_free(m);
}

static void builtin_defaults(void **state)
{
    struct cfg_model *m = load_ok("services: {a: {command: [x]}}\n");
    const struct cfg_service *a = &m->services[0];
    (void)state;
    assert_int_equal(m->containment, CFG_CONTAIN_AUTO);
    assert_int_equal(a->restart.policy, CFG_RESTART_ON_FAILURE);
    assert_int_equal(a->restart.initial_ms, 100);
    assert_int_equal(a->restart.max_ms, 30000);
    assert_float_equal(a->restart.multiplier, 2.0, 1e-9);
    assert_float_equal(a->restart.jitter, 0.10, 1e-9);
    assert_int_equal(a->restart.reset_after_ms, 60000);
    assert_int_equal(a->restart.max_restarts, 10);
    assert_int_equal(a->restart.window_ms, 60000);
    assert_int_equal(a->stop.signal, SIGTERM);
    assert_int_equal(a->stop.timeout_ms, 10000);
    assert_int_equal(a->logs.max_size_bytes, 10u << 20);
    assert_int_equal(a->logs.keep, 5);
    assert_true(a->logs.timestamps);
    assert_true(a->autostart);
    assert_int_equal(a->n_env, 0);
    assert_int_equal(a->n_deps, 0);
    assert_null(a->user);
    assert_null(a->env_file);
    cfg_free(m);
}

static void oneshot_restart_default(void **state)
{
    struct cfg_model *m = load_ok("defaults:\n"
                                  "  restart: {policy: always, initial: 2s}\n"
                                  "services:\n"
                                  "  migrate:\n"
                                  "    kind: oneshot\n"
                                  "    command: [x]\n"
                                  "  retried:\n"
                                  "    restart: {policy: on-failure}\n"
                                  "    kind: oneshot\n"
                                  "    command: [x]\n"
                                  "  daemon:\n"
                                  "    command: [x]\n");
    (void)state;
    assert_int_equal(m->services[0].kind, CFG_KIND_ONESHOT);
    assert_int_equal(m->services[0].restart.policy, CFG_RESTART_NO);
    assert_int_equal(m->services[0].restart.initial_ms, 2000); /* other fields still inherit */
    assert_int_equal(m->services[1].restart.policy, CFG_RESTART_ON_FAILURE);
    assert_int_equal(m->services[2].restart.policy, CFG_RESTART_ALWAYS);
    cfg_free(m);
}

static void on_recover_inherits(void **state)
{
    struct cfg_model *m = load_ok("defaults: {on_recover: adopt}\n"
                                  "services:\n"
                                  "  db: {command: [x]}\n"
                                  "  web: {command: [x], on_recover: restart}\n");
    (void)state;
    assert_int_equal(m->services[0].on_recover, CFG_RECOVER_ADOPT);
    assert_int_equal(m->services[1].on_recover, CFG_RECOVER_RESTART);
    cfg_free(m);
}

static void assert_env(const struct cfg_service *s, size_t i, const char *key, const char *value)
{
    assert_true(i < s->n_env);
    assert_string_equal(s->env[i].key, key);
    assert_string_equal(s->env[i].value, value);
}

/* A key written again is no new variable: a file that sets one key 5000
 * times is within the limit of 4096, the last value winning. */
static void env_file_repeats_count_once(void **state)
{
    char dir[] = "/tmp/corral-env-XXXXXX", path[256];
    struct cfg_model *m;
    struct diag dg;
    FILE *f;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/dup.env", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 5000; i++)
        fprintf(f, "A=%d\n", i);
    fputs("B=last\n", f);
    fclose(f);
    m = load_in(WEB "    env_file: dup.env\n", dir, &dg);
    unlink(path);
    rmdir(dir);
    assert_non_null(m);
    assert_int_equal(m->services[0].n_env, 2);
    assert_env(&m->services[0], 0, "A", "4999");
    assert_env(&m->services[0], 1, "B", "last");
    cfg_free(m);
}

static void env_merge_order(void **state)
{
    struct cfg_model *m =
        load_ok("defaults:\n"
                "  env: {A: defaults, B: defaults, C: defaults}\n" WEB "    env_file: merge.env\n"
                "    env: {C: service, E: 5, F: true}\n"
                "  bare:\n"
                "    command: [x]\n");
    const struct cfg_service *web = &m->services[0], *bare = &m->services[1];
    (void)state;
    assert_int_equal(web->n_env, 6);
    assert_env(web, 0, "A", "defaults");
    assert_env(web, 1, "B", "from-file"); /* env_file over defaults */
    assert_env(web, 2, "C", "service");   /* env over env_file */
    assert_env(web, 3, "D", "from-file");
    assert_env(web, 4, "E", "5"); /* scalars kept as written */
    assert_env(web, 5, "F", "true");
    assert_string_equal(web->env_file, CONFIG_DIR "/merge.env");
    assert_int_equal(bare->n_env, 3);
    assert_env(bare, 2, "C", "defaults");
    cfg_free(m);
}

/* A byte order mark is no part of the first key. */
static void env_file_with_a_bom(void **state)
{
    struct cfg_model *m = load_ok(WEB "    env_file: bom.env\n");
    (void)state;
    assert_env(&m->services[0], 0, "A", "1");
    assert_env(&m->services[0], 1, "B", "2");
    cfg_free(m);
}

static void dotenv_syntax(void **state)
{
    struct cfg_model *m = load_ok("services: {a: {command: [x], env_file: dotenv.env}}\n");
    const struct cfg_service *a = &m->services[0];
    (void)state;
    assert_int_equal(a->n_env, 9);
    assert_env(a, 0, "EXPORTED", "1");
    assert_env(a, 1, "PLAIN", "some value");
    assert_env(a, 2, "HASH", "a#b");
    assert_env(a, 3, "EMPTY", "");
    assert_env(a, 4, "SPACED_EMPTY", "");
    assert_env(a, 5, "SINGLE", "literal $HOME \\n # kept");
    assert_env(a, 6, "DOUBLE", "tab\there\nnewline \"quoted\" back\\slash \\q");
    assert_env(a, 7, "CRLF", "windows");
    assert_env(a, 8, "DUP", "second");
    cfg_free(m);
}

/* "export = 1" sets a variable named export; "export FOO=1" is the
 * prefix, however many blanks follow it. */
static void dotenv_export(void **state)
{
    struct cfg_model *m = load_ok("services: {a: {command: [x], env_file: export.env}}\n");
    const struct cfg_service *a = &m->services[0];
    (void)state;
    assert_int_equal(a->n_env, 3);
    assert_env(a, 0, "export", "4x");
    assert_env(a, 1, "FOO", "2");
    assert_env(a, 2, "BAR", "3");
    cfg_free(m);
    expect_error_in(WEB "    env_file: export_bad.env\n", CONFIG_DIR "/export_bad.env", 2, 9,
                    "services.web.env_file", "invalid variable name '9X'");
}

static void paths_resolve_against_config_dir(void **state)
{
    struct diag dg;
    struct cfg_model *m = load_in("state_dir: state\n"
                                  "defaults: {cwd: ./site}\n"
                                  "services:\n"
                                  "  a: {command: [x]}\n"
                                  "  b: {command: [x], cwd: ../other//dir/.}\n"
                                  "  c: {command: [x], cwd: /var//lib/./c/}\n",
                                  "/srv/app", &dg);
    (void)state;
    assert_non_null(m);
    assert_string_equal(m->path, "/srv/app/test.yaml");
    assert_string_equal(m->dir, "/srv/app");
    assert_string_equal(m->state_dir, "/srv/app/state");
    assert_string_equal(m->services[0].cwd, "/srv/app/site");
    assert_string_equal(m->services[1].cwd, "/srv/app/../other/dir");
    assert_string_equal(m->services[2].cwd, "/var/lib/c");
    cfg_free(m);
    m = load_in("services: {a: {command: [x]}}\n", "/srv/app/", &dg);
    assert_non_null(m);
    assert_string_equal(m->state_dir, "/srv/app/.corral");
    assert_string_equal(m->services[0].cwd, "/srv/app");
    cfg_free(m);
}

static void load_from_file(void **state)
{
    struct diag dg;
    struct cfg_model *m = cfg_load(CONFIG_DIR "/corral.yaml", &dg);
    (void)state;
    assert_non_null(m);
    assert_string_equal(m->path, CONFIG_DIR "/corral.yaml");
    assert_string_equal(m->dir, CONFIG_DIR);
    assert_string_equal(m->services[0].cwd, CONFIG_DIR);
    assert_string_equal(m->services[0].env_file, CONFIG_DIR "/merge.env");
    assert_int_equal(m->services[0].n_env, 3);
    assert_int_equal(cfg_find(m, "hello"), 0);
    assert_int_equal(cfg_find(m, "nope"), -1);
    cfg_free(m);
    assert_null(cfg_load(CONFIG_DIR "/absent.yaml", &dg));
    assert_string_equal(dg.file, CONFIG_DIR "/absent.yaml");
    assert_int_equal(dg.line, 0);
    assert_non_null(strstr(dg.msg, "No such file"));
    assert_null(cfg_load(CONFIG_DIR, &dg));
    assert_non_null(strstr(dg.msg, "directory"));
    cfg_free(NULL);
}

static const char *order_name(const struct cfg_model *m, size_t i)
{
    return m->services[m->start_order[i]].name;
}

static void start_order_is_stable(void **state)
{
    struct cfg_model *m = load_ok("services:\n"
                                  "  app: {command: [x], depends_on: [db, cache]}\n"
                                  "  worker: {command: [x], depends_on: [db]}\n"
                                  "  db: {command: [x], depends_on: {migrate: {condition: "
                                  "completed}}}\n"
                                  "  cache: {command: [x]}\n"
                                  "  migrate: {command: [x], kind: oneshot}\n"
                                  "  docs: {command: [x]}\n");
    (void)state;
    assert_int_equal(m->n_services, 6);
    assert_string_equal(order_name(m, 0), "migrate");
    assert_string_equal(order_name(m, 1), "db");
    assert_string_equal(order_name(m, 2), "cache");
    assert_string_equal(order_name(m, 3), "app");
    assert_string_equal(order_name(m, 4), "worker");
    assert_string_equal(order_name(m, 5), "docs");
    assert_int_equal(m->services[0].n_deps, 2);
    assert_string_equal(m->services[0].deps[1].name, "cache");
    assert_int_equal(m->services[0].deps[1].index, 3);
    assert_int_equal(m->services[0].deps[1].cond, CFG_DEP_STARTED);
    assert_int_equal(m->services[0].deps[1].pos.line, 2);
    assert_int_equal(m->services[2].deps[0].cond, CFG_DEP_COMPLETED);
    cfg_free(m);
    /* Independent services start in file order. */
    m = load_ok("services:\n  c: {command: [x]}\n  a: {command: [x]}\n  b: {command: [x]}\n");
    assert_string_equal(order_name(m, 0), "c");
    assert_string_equal(order_name(m, 1), "a");
    assert_string_equal(order_name(m, 2), "b");
    cfg_free(m);
}

static void commands(void **state)
{
    struct cfg_model *m = load_ok("services:\n"
                                  "  sh: {shell: true, command: \"echo $HOME && exit 3\"}\n"
                                  "  nums: {command: [sleep, 10, 1.50, true, 0x1F, '', 'it''s']}\n"
                                  "  folded:\n"
                                  "    command:\n"
                                  "      - 'a ''''quoted''''\n"
                                  "\n"
                                  "        word   '\n");
    const struct cfg_service *sh = &m->services[0], *nums = &m->services[1];
    (void)state;
    assert_true(sh->shell);
    assert_int_equal(sh->argc, 3);
    assert_string_equal(sh->argv[0], "/bin/sh");
    assert_string_equal(sh->argv[1], "-c");
    assert_string_equal(sh->argv[2], "echo $HOME && exit 3");
    assert_null(sh->argv[3]);
    assert_int_equal(nums->argc, 7);
    assert_string_equal(nums->argv[1], "10");
    assert_string_equal(nums->argv[2], "1.50");
    assert_string_equal(nums->argv[3], "true");
    assert_string_equal(nums->argv[4], "0x1F");
    assert_string_equal(nums->argv[5], "");
    assert_string_equal(nums->argv[6], "it's");
    assert_null(nums->argv[7]);
    /* Single-quoted folding, decoded by corral rather than libfyaml. */
    assert_string_equal(m->services[2].argv[0], "a ''quoted''\nword   ");
    cfg_free(m);
}

static void users_and_groups(void **state)
{
    struct cfg_model *m = load_ok("services:\n"
                                  "  a: {command: [x], user: root}\n"
                                  "  b: {command: [x], user: '0', group: '12345'}\n"
                                  "  c: {command: [x], group: root}\n");
    (void)state;
    assert_string_equal(m->services[0].user, "root");
    assert_int_equal(m->services[0].uid, 0);
    assert_int_equal(m->services[0].gid, 0);
    assert_int_equal(m->services[1].uid, 0);
    assert_int_equal(m->services[1].gid, 12345);
    assert_null(m->services[2].user);
    assert_int_equal(m->services[2].gid, 0);
    cfg_free(m);
    expect_error("services:\n"
                 "  a:\n"
                 "    command: [x]\n"
                 "    user: no-such-user-here\n",
                 4, 11, "services.a.user", "unknown user 'no-such-user-here'");
    expect_error("services:\n"
                 "  a:\n"
                 "    command: [x]\n"
                 "    group: no-such-group-here\n",
                 4, 12, "services.a.group", "unknown group 'no-such-group-here'");
}

static const char issue_example[] =
    "state_dir: .corral          # optional\n"
    "containment: auto           # auto | cgroup | pgroup\n"
    "defaults:\n"
    "  stop: {signal: TERM, timeout: 10s}\n"
    "  restart: {policy: on-failure, initial: 100ms, multiplier: 2, max: 30s, jitter: 10%, "
    "reset_after: 60s, max_restarts: 10, window: 60s}\n"
    "services:\n"
    "  migrate:\n"
    "    kind: oneshot\n"
    "    command: [python3, migrate.py]\n"
    "  web:\n"
    "    command: [python3, -m, http.server, \"8000\"]\n"
    "    cwd: ./site\n"
    "    env: {PYTHONUNBUFFERED: \"1\"}\n"
    "    env_file: .env\n"
    "    depends_on: {migrate: {condition: completed}}   # a plain list [a, b] means started\n"
    "    restart: {policy: always, initial: 250ms}\n"
    "    stop: {signal: INT, timeout: 5s}\n"
    "    logs: {max_size: 10M, keep: 5, timestamps: true}\n"
    "    autostart: true\n";

static void issue_example_parses(void **state)
{
    struct cfg_model *m = load_ok(issue_example);
    const struct cfg_service *mig = &m->services[0], *web = &m->services[1];
    (void)state;
    assert_int_equal(m->n_services, 2);
    assert_string_equal(m->state_dir, CONFIG_DIR "/.corral");
    assert_int_equal(mig->restart.policy, CFG_RESTART_NO);
    assert_int_equal(mig->pos.line, 7);
    assert_int_equal(mig->pos.col, 3);
    assert_int_equal(web->argc, 4);
    assert_string_equal(web->argv[3], "8000");
    assert_string_equal(web->cwd, CONFIG_DIR "/site");
    assert_int_equal(web->n_env, 2);
    assert_env(web, 0, "PYTHONUNBUFFERED", "1"); /* env wins over the file's 0 */
    assert_env(web, 1, "FROM_FILE", "yes");
    assert_int_equal(web->deps[0].cond, CFG_DEP_COMPLETED);
    assert_int_equal(web->restart.max_ms, 30000);
    assert_int_equal(web->stop.signal, SIGINT);
    assert_string_equal(order_name(m, 0), "migrate");
    assert_string_equal(order_name(m, 1), "web");
    cfg_free(m);
}

static char *dump(const struct cfg_model *m, bool json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(json ? cfg_dump_json(m, f) : cfg_dump_text(m, f), 0);
    fclose(f);
    return buf;
}

static json_t *get(json_t *o, const char *path)
{
    char key[64];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        o = json_is_array(o) ? json_array_get(o, strtoul(key, NULL, 10)) : json_object_get(o, key);
        path += n + (path[n] == '.');
    }
    if (!o)
        fail_msg("no JSON value at %s", path);
    return o;
}

static void dump_json_round_trip(void **state)
{
    struct cfg_model *m = load_ok(issue_example);
    char *text = dump(m, true);
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    (void)state;
    if (!root)
        fail_msg("dump is not JSON: %s at line %d\n%s", err.text, err.line, text);
    assert_string_equal(json_string_value(get(root, "containment")), "auto");
    assert_string_equal(json_string_value(get(root, "state_dir")), CONFIG_DIR "/.corral");
    assert_string_equal(json_string_value(get(root, "services.1.name")), "web");
    assert_string_equal(json_string_value(get(root, "services.1.kind")), "longrun");
    assert_string_equal(json_string_value(get(root, "services.1.argv.3")), "8000");
    assert_string_equal(json_string_value(get(root, "services.1.env.PYTHONUNBUFFERED")), "1");
    assert_string_equal(json_string_value(get(root, "services.1.depends_on.0.name")), "migrate");
    assert_string_equal(json_string_value(get(root, "services.1.depends_on.0.condition")),
                        "completed");
    assert_string_equal(json_string_value(get(root, "services.1.restart.policy")), "always");
    assert_int_equal(json_integer_value(get(root, "services.1.restart.initial_ms")), 250);
    assert_int_equal(json_integer_value(get(root, "services.1.restart.max_ms")), 30000);
    assert_float_equal(json_real_value(get(root, "services.1.restart.jitter")), 0.1, 1e-9);
    assert_string_equal(json_string_value(get(root, "services.1.stop.signal")), "INT");
    assert_int_equal(json_integer_value(get(root, "services.1.stop.timeout_ms")), 5000);
    assert_int_equal(json_integer_value(get(root, "services.1.logs.max_size_bytes")), 10485760);
    assert_true(json_is_true(get(root, "services.1.autostart")));
    assert_true(json_is_null(get(root, "services.1.user")));
    assert_string_equal(json_string_value(get(root, "services.0.restart.policy")), "no");
    assert_string_equal(json_string_value(get(root, "start_order.0")), "migrate");
    assert_string_equal(json_string_value(get(root, "start_order.1")), "web");
    assert_int_equal(json_array_size(get(root, "start_order")), 2);
    json_decref(root);
    free(text);
    text = dump(m, false);
    assert_non_null(strstr(text, "service web (line 10)"));
    assert_non_null(strstr(text, "argv         python3 -m http.server 8000"));
    assert_non_null(strstr(text, "depends_on   migrate (completed)"));
    assert_non_null(strstr(text, "stop         INT, then KILL after 5s"));
    assert_non_null(strstr(text, "start order: migrate, web"));
    free(text);
    cfg_free(m);
}

/* window: 0 is no time bound: restarts count until a run lasts reset_after. */
static void restart_window_zero(void **state)
{
    struct cfg_model *m =
        load_ok(WEB "    restart: {max_restarts: 3, window: 0, reset_after: 30s}\n");
    char *text = dump(m, false);
    (void)state;
    assert_int_equal(m->services[0].restart.window_ms, 0);
    assert_null(strstr(text, " in 0"));
    assert_non_null(strstr(text, "gives up after 3 restarts with no run of 30s between them\n"));
    free(text);
    cfg_free(m);
    m = load_ok(WEB "    restart: {max_restarts: 3, window: 2m}\n");
    text = dump(m, false);
    assert_non_null(strstr(text, "gives up after 3 restarts in 2m\n"));
    free(text);
    cfg_free(m);
    expect_error(WEB "    restart: {window: -1s}\n", 4, 23, "services.web.restart.window",
                 "cannot be negative");
}

static void api_listener(void **state)
{
    struct cfg_model *m;
    (void)state;
    m = load_ok(WEB);
    assert_null(m->api.listen);
    assert_non_null(strstr(m->api.token_file, "/.corral/api.token"));
    cfg_free(m);
    m = load_ok("api: {listen: '127.0.0.1:7070', token_file: tok}\n" WEB);
    assert_string_equal(m->api.listen, "127.0.0.1:7070");
    assert_string_equal(m->api.listen_addr, "127.0.0.1");
    assert_int_equal(m->api.listen_port, 7070);
    assert_string_equal(m->api.token_file, CONFIG_DIR "/tok");
    cfg_free(m);
    m = load_ok("api: {listen: '[::1]:80'}\n" WEB);
    assert_string_equal(m->api.listen_addr, "::1");
    assert_int_equal(m->api.listen_port, 80);
    cfg_free(m);
    expect_error("api: {listen: 'localhost:7070'}\n" WEB, 1, 15, "api.listen",
                 "expected an IP address and a port");
    expect_error("api: {listen: '127.0.0.1:0'}\n" WEB, 1, 15, "api.listen", "got '127.0.0.1:0'");
    expect_error("api: {listen: '127.0.0.1'}\n" WEB, 1, 15, "api.listen", "and a port");
    expect_error("api: {listen: '::1:80'}\n" WEB, 1, 15, "api.listen", "and a port");
    expect_error("api: {lisen: '127.0.0.1:1'}\n" WEB, 1, 7, "api.lisen", "did you mean 'listen'");
    m = load_ok(WEB);
    assert_int_equal(m->api.events_keep, CFG_EVENTS_KEEP_DEFAULT);
    cfg_free(m);
    m = load_ok("api: {events_keep: 50}\n" WEB);
    assert_int_equal(m->api.events_keep, 50);
    cfg_free(m);
    expect_error("api: {events_keep: 0}\n" WEB, 1, 20, "api.events_keep", "from 1 to 1000000");
    expect_error("api: {events_keep: 1000001}\n" WEB, 1, 20, "api.events_keep", "'1000001'");
    expect_error("api: {events_keep: 10k}\n" WEB, 1, 20, "api.events_keep", "whole number");
}

/* An existing token file of a TCP listener is checked with the config, so
 * that a short token is a config error (exit 2, nothing started). */
static void api_token_file_is_checked(void **state)
{
    char path[] = "/tmp/corral-token-XXXXXX", yaml[256];
    int fd = mkstemp(path);
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "secret123\n", 10), 10);
    snprintf(yaml, sizeof(yaml), "api: {listen: '127.0.0.1:7070', token_file: %s}\n" WEB, path);
    expect_error(yaml, 1, 6, "api.token_file", "holds a token of 9 characters; it needs 16 to 64");
    /* Without a listener the file is not used, so not read. */
    snprintf(yaml, sizeof(yaml), "api: {token_file: %s}\n" WEB, path);
    cfg_free(load_ok(yaml));
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, "0123456789abcdef0123\r\n", 22, 0), 22);
    snprintf(yaml, sizeof(yaml), "api: {listen: '127.0.0.1:7070', token_file: %s}\n" WEB, path);
    cfg_free(load_ok(yaml));
    assert_int_equal(pwrite(fd, "0123456789 bcdef0123\r\n", 22, 0), 22);
    expect_error(yaml, 1, 6, "api.token_file", "no space or control character");
    close(fd);
    unlink(path);
}

/* want_r: 0 for a file that loads, 1 for one that does not but names its
 * state directory on a line of its own, -EINVAL for neither. */
static void state_dir_of_r(const char *text, int want_r, const char *want_suffix)
{
    char dir[] = "/tmp/corral-sd-XXXXXX", path[256], out[4096], want[512];
    struct diag dg;
    FILE *f;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/c.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(cfg_state_dir(path, out, sizeof(out), &dg), want_r);
    if (want_r < 0) {
        unlink(path);
        rmdir(dir);
        return;
    }
    if (want_suffix[0] == '/')
        snprintf(want, sizeof(want), "%s", want_suffix);
    else
        snprintf(want, sizeof(want), "%s/%s", dir, want_suffix);
    assert_string_equal(out, want);
    unlink(path);
    rmdir(dir);
}

static void state_dir_of(const char *text, const char *want_suffix)
{
    state_dir_of_r(text, 0, want_suffix);
}

/* The API's socket is <state_dir>/corral.sock: a path a Unix socket cannot
 * hold is the config's error, not the start-up's. */
static void state_dir_too_long_for_the_socket(void **state)
{
    char yaml[512], dir[256], want[64];
    struct diag dg;
    struct cfg_model *m;
    (void)state;
    /* 95 + "/corral.sock" = 107 bytes: the most there is room for. */
    snprintf(yaml, sizeof(yaml), "state_dir: /%094d\n" WEB, 0);
    cfg_free(load_ok(yaml));
    snprintf(yaml, sizeof(yaml), "state_dir: /%095d\n" WEB, 0);
    expect_error(yaml, 1, 12, "state_dir", "would be 108 bytes, more than the 107");
    /* The default, beside a config deep in the tree: no line to point at. */
    snprintf(dir, sizeof(dir), "/%088d", 0);
    m = load_in(WEB, dir, &dg);
    assert_null(m);
    snprintf(want, sizeof(want), "would be %zu bytes",
             strlen(dir) + strlen("/.corral/corral.sock"));
    assert_non_null(strstr(dg.msg, want));
    assert_int_equal(dg.line, 1);
    assert_string_equal(dg.field, "state_dir");
}

static void state_dir_without_a_full_load(void **state)
{
    (void)state;
    state_dir_of(WEB, ".corral");
    state_dir_of("# comment\n" WEB "  db:\n    command: [b]\n", ".corral");
    state_dir_of("state_dir: st\n" WEB, "st");
    state_dir_of(WEB "state_dir: /var/x\n", "/var/x");
    state_dir_of("{state_dir: fl, services: {web: {command: [a]}}}\n", "fl");
    state_dir_of("\"state_dir\": q\n" WEB, "q");
    state_dir_of("--- \nstate_dir: d\n" WEB, "d");
    /* A file with errors elsewhere still names its state directory. */
    state_dir_of("state_dir: e\nservices:\n  web:\n    comand: [a]\n", "e");
    /* Not YAML at all (a bad edit while corral runs): its state_dir line is
     * still where the running corral is found. */
    state_dir_of_r("state_dir: /srv/app/st  # here\nservices:\n  web: [\n", 1, "/srv/app/st");
    state_dir_of_r("services:\n  web: [\nstate_dir: 'my state'\n", 1, "my state");
    state_dir_of_r("services:\n  web: [\n- stray\n  state_dir: nested\n", -EINVAL, "");
}

static void ports_good(void **state)
{
    struct cfg_model *m = load_ok(WEB "    ports: [8080, \"53/udp\", 53/tcp, '9000']\n"
                                      "  api:\n"
                                      "    command: [b]\n"
                                      "    ports:\n"
                                      "      - 8081\n"
                                      "      - 8080/udp\n"
                                      "  db:\n"
                                      "    command: [c]\n"
                                      "    ports: []\n");
    const struct cfg_service *web = &m->services[0], *api = &m->services[1], *db = &m->services[2];
    json_t *j;
    char *text;
    (void)state;
    assert_int_equal(web->n_ports, 4);
    assert_int_equal(web->ports[0].port, 8080);
    assert_int_equal(web->ports[0].proto, CFG_PROTO_TCP);
    assert_int_equal(web->ports[1].port, 53);
    assert_int_equal(web->ports[1].proto, CFG_PROTO_UDP);
    assert_int_equal(web->ports[2].port, 53);
    assert_int_equal(web->ports[2].proto, CFG_PROTO_TCP);
    assert_int_equal(web->ports[3].port, 9000);
    assert_int_equal(web->ports[3].proto, CFG_PROTO_TCP);
    /* The same number over the other protocol is another port. */
    assert_int_equal(api->n_ports, 2);
    assert_int_equal(api->ports[1].port, 8080);
    assert_int_equal(api->ports[1].proto, CFG_PROTO_UDP);
    assert_int_equal(db->n_ports, 0);
    assert_string_equal(cfg_proto_name(CFG_PROTO_UDP), "udp");
    text = dump(m, false);
    assert_non_null(strstr(text, "  ports        8080/tcp, 53/udp, 53/tcp, 9000/tcp\n"));
    assert_non_null(strstr(text, "  ports        8081/tcp, 8080/udp\n"));
    free(text);
    j = cfg_service_json(web);
    assert_int_equal(json_array_size(get(j, "ports")), 4);
    assert_int_equal(json_integer_value(get(j, "ports.1.port")), 53);
    assert_string_equal(json_string_value(get(j, "ports.1.proto")), "udp");
    json_decref(j);
    j = cfg_service_json(db);
    assert_int_equal(json_array_size(get(j, "ports")), 0);
    json_decref(j);
    cfg_free(m);
}

static void ports_bad(void **state)
{
    (void)state;
    expect_error(WEB "    ports: [0]\n", 4, 13, "services.web.ports[0]",
                 "invalid port 0 (expected a number from 1 to 65535)");
    expect_error(WEB "    ports: [80, 65536]\n", 4, 17, "services.web.ports[1]",
                 "invalid port 65536 (expected a number from 1 to 65535)");
    expect_error(WEB "    ports: [\"0/udp\"]\n", 4, 13, "services.web.ports[0]",
                 "invalid port 0 (expected a number from 1 to 65535)");
    expect_error(WEB "    ports: [\"80/sctp\"]\n", 4, 13, "services.web.ports[0]",
                 "invalid protocol 'sctp' in '80/sctp' (expected tcp or udp)");
    expect_error(WEB "    ports: [80/UDP]\n", 4, 13, "services.web.ports[0]",
                 "invalid protocol 'UDP' in '80/UDP' (expected tcp or udp)");
    expect_error(WEB "    ports: [http]\n", 4, 13, "services.web.ports[0]",
                 "invalid port 'http' (expected a number from 1 to 65535, or \"PORT/tcp\" or "
                 "\"PORT/udp\")");
    expect_error(WEB "    ports: [-1]\n", 4, 13, "services.web.ports[0]", "invalid port '-1'");
    expect_error(WEB "    ports: [\"/udp\"]\n", 4, 13, "services.web.ports[0]",
                 "invalid port '/udp'");
    expect_error(WEB "    ports: [8080.5]\n", 4, 13, "services.web.ports[0]",
                 "invalid port '8080.5'");
    /* Wrong types: the list, then an item. */
    expect_error(WEB "    ports: 8080\n", 4, 12, "services.web.ports",
                 "expected a list, got a string");
    expect_error(WEB "    ports: {tcp: 80}\n", 4, 12, "services.web.ports",
                 "expected a list, got a mapping");
    expect_error(WEB "    ports:\n", 4, 5, "services.web.ports",
                 "expected a list, got an empty value");
    expect_error(WEB "    ports: [[80]]\n", 4, 13, "services.web.ports[0]",
                 "expected a port number or \"PORT/tcp\" or \"PORT/udp\", got a list");
    expect_error(WEB "    ports: [{port: 80}]\n", 4, 13, "services.web.ports[0]", "got a mapping");
    /* A plain number is TCP, so 8080 and 8080/tcp are the same port. */
    expect_error(WEB "    ports: [8080, 53/udp, \"8080/tcp\"]\n", 4, 27, "services.web.ports[2]",
                 "duplicate port 8080/tcp (first at line 4, column 13)");
    expect_error(WEB "    ports:\n"
                     "      - 53/udp\n"
                     "      - 53/udp\n",
                 6, 9, "services.web.ports[1]",
                 "duplicate port 53/udp (first at line 5, column 9)");
    /* Two services on one port: the second is named, pointing at the first. */
    expect_error(WEB "    ports: [80, 53/udp]\n"
                     "  api:\n"
                     "    command: [b]\n"
                     "    ports: [53, \"53/udp\"]\n",
                 7, 17, "services.api.ports[1]",
                 "port 53/udp is also declared by service 'web' (line 4, column 17); two "
                 "services cannot hold the same port");
    /* Each service has its own ports; defaults cannot give them. */
    expect_error("defaults:\n"
                 "  ports: [80]\n"
                 "services: {a: {command: [b]}}\n",
                 2, 3, "defaults.ports", "unknown key 'ports'");
    expect_error(WEB "    port: [80]\n", 4, 5, "services.web.port",
                 "unknown key 'port' (did you mean 'ports'?)");
}

/* limits: inherited from defaults field by field; "off" lifts one. */
static void resource_limits_merge(void **state)
{
    struct cfg_model *m = load_ok("defaults:\n"
                                  "  limits: {memory: 512M, nofile: 4096, cpu: 1.5}\n"
                                  "services:\n"
                                  "  a: {command: [x], limits: {pids: 200, memory: off}}\n"
                                  "  b: {command: [x], limits: {cpu: 50%, cpu_time: 10m}}\n"
                                  "  c: {command: [x]}\n");
    (void)state;
    assert_int_equal(m->services[0].limits.memory_bytes, 0);
    assert_int_equal(m->services[0].limits.pids, 200);
    assert_int_equal(m->services[0].limits.nofile, 4096);
    assert_int_equal(m->services[0].limits.cpu_percent, 150);
    assert_int_equal(m->services[1].limits.cpu_percent, 50);
    assert_int_equal(m->services[1].limits.cpu_time_ms, 600000);
    assert_int_equal(m->services[1].limits.memory_bytes, 512u << 20);
    assert_int_equal(m->services[2].limits.memory_bytes, 512u << 20);
    assert_int_equal(m->services[2].limits.pids, 0);
    cfg_free(m);
}

static void resource_limits_errors(void **state)
{
    (void)state;
    expect_error(WEB "    limits: {memroy: 5M}\n", 4, 14, "services.web.limits.memroy",
                 "did you mean 'memory'?");
    expect_error(WEB "    limits: {memory: 512}\n", 4, 22, "services.web.limits.memory",
                 "did you mean 512M?");
    expect_error(WEB "    limits: {memory: lots}\n", 4, 22, "services.web.limits.memory",
                 "invalid size 'lots'");
    /* With its unit already written, no unit is suggested. */
    expect_error(WEB "    limits: {memory: 10K}\n", 4, 22, "services.web.limits.memory",
                 "10K is below the least limit of 1M (or write off");
    expect_error(WEB "    limits: {cpu: 12.5%}\n", 4, 19, "services.web.limits.cpu",
                 "whole percentage");
    expect_error(WEB "    limits: {cpu: 0%}\n", 4, 19, "services.web.limits.cpu",
                 "invalid cpu limit '0%'");
    expect_error(WEB "    limits: {pids: 0}\n", 4, 20, "services.web.limits.pids",
                 "from 1 to 4194304");
    expect_error(WEB "    limits: {nofile: -1}\n", 4, 22, "services.web.limits.nofile",
                 "invalid limit '-1'");
    expect_error(WEB "    limits: {cpu_time: 500ms}\n", 4, 24, "services.web.limits.cpu_time",
                 "at least 1s");
    expect_error(WEB "    limits: [memory]\n", 4, 13, "services.web.limits", "expected a mapping");
    expect_error("defaults:\n  limits: {pids: many}\n"
                 "services: {a: {command: [x]}}\n",
                 2, 18, "defaults.limits.pids", "invalid limit 'many'");
}

/* --- readiness and liveness -------------------------------------------------------- */

static const struct cfg_service *svc_named(const struct cfg_model *m, const char *name)
{
    long i = cfg_find(m, name);
    assert_true(i >= 0);
    return &m->services[i];
}

/* check shows it, in words and in JSON. */
static void health_dump(const struct cfg_model *m)
{
    char *text = dump(m, false);
    json_t *root;
    assert_non_null(strstr(text, "  ready        notify\n"
                                 "               a fault if not ready within 30s (ready_timeout)\n"
                                 "  watchdog     5s\n"));
    assert_non_null(strstr(text,
                           "  ready        tcp [::1]:8000 every 250ms (timeout 1s, first after "
                           "0), 1 ok / 3 failed in a row\n"));
    assert_non_null(strstr(text,
                           "  liveness     exec ./check every 10s (timeout 2s, first after 1s), "
                           "1 ok / 5 failed in a row\n"));
    assert_non_null(strstr(text, "  ready        fd 3\n               no readiness timeout\n"));
    free(text);
    text = dump(m, true);
    root = json_loads(text, 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(get(root, "services.0.ready")), "notify");
    assert_int_equal(json_integer_value(get(root, "services.0.watchdog_ms")), 5000);
    assert_int_equal(json_integer_value(get(root, "services.0.ready_timeout_ms")), 30000);
    assert_true(json_is_null(get(root, "services.0.liveness")));
    assert_int_equal(json_integer_value(get(root, "services.1.ready.tcp.port")), 8000);
    assert_string_equal(json_string_value(get(root, "services.1.ready.tcp.host")), "::1");
    assert_int_equal(json_integer_value(get(root, "services.1.ready.interval_ms")), 250);
    assert_string_equal(json_string_value(get(root, "services.1.liveness.exec.1")), "-q");
    assert_int_equal(json_integer_value(get(root, "services.2.ready.fd")), 3);
    assert_string_equal(json_string_value(get(root, "services.3.ready.log")),
                        "listening on [0-9]+");
    json_decref(root);
    free(text);
}

static void health_good(void **state)
{
    struct cfg_model *m =
        load_ok("defaults:\n"
                "  ready_timeout: 30s\n"
                "services:\n"
                "  db: {command: [a], ready: notify, watchdog: 5s}\n"
                "  web:\n"
                "    command: [a]\n"
                "    ready: {tcp: {host: \"::1\", port: 8000}, interval: 250ms}\n"
                "    liveness: {exec: [./check, -q], timeout: 2s,\n"
                "               failure_threshold: 5, initial_delay: 1s}\n"
                "    depends_on: {db: {condition: ready}}\n"
                "  fd: {command: [a], ready: {fd: 3}, ready_timeout: 0}\n"
                "  log: {command: [a], ready: {log: \"listening on [0-9]+\"}}\n"
                "  plain: {command: [a], liveness: {tcp: {port: 9}}}\n"
                "  dep: {command: [a], depends_on: {plain: {condition: healthy}}}\n");
    const struct cfg_service *db = svc_named(m, "db"), *web = svc_named(m, "web");
    const struct cfg_service *fd = svc_named(m, "fd"), *log = svc_named(m, "log");
    const struct cfg_service *plain = svc_named(m, "plain");
    char what[64];
    (void)state;
    assert_int_equal(db->ready.kind, CFG_READY_NOTIFY);
    assert_int_equal(db->watchdog_ms, 5000);
    assert_int_equal(db->ready.timeout_ms, 30000);
    assert_int_equal(web->ready.kind, CFG_READY_PROBE);
    assert_int_equal(web->ready.probe->kind, CFG_PROBE_TCP);
    assert_string_equal(web->ready.probe->host, "::1");
    assert_int_equal(web->ready.probe->port, 8000);
    assert_int_equal(web->ready.probe->interval_ms, 250);
    assert_int_equal(web->ready.probe->timeout_ms, 1000);
    assert_int_equal(web->ready.probe->success_threshold, 1);
    assert_int_equal(web->ready.probe->failure_threshold, 3);
    assert_int_equal(web->liveness->kind, CFG_PROBE_EXEC);
    assert_string_equal(web->liveness->argv[1], "-q");
    assert_null(web->liveness->argv[2]);
    assert_int_equal(web->liveness->interval_ms, 10000);
    assert_int_equal(web->liveness->timeout_ms, 2000);
    assert_int_equal(web->liveness->initial_delay_ms, 1000);
    assert_int_equal(web->liveness->failure_threshold, 5);
    assert_int_equal(web->deps[0].cond, CFG_DEP_READY);
    assert_int_equal(fd->ready.kind, CFG_READY_FD);
    assert_int_equal(fd->ready.fd, 3);
    assert_int_equal(fd->ready.timeout_ms, 0);
    assert_int_equal(log->ready.probe->kind, CFG_PROBE_LOG);
    assert_int_equal(log->ready.timeout_ms, 30000);
    assert_int_equal(plain->ready.kind, CFG_READY_STARTED);
    assert_string_equal(plain->liveness->host, "127.0.0.1");
    assert_int_equal(svc_named(m, "dep")->deps[0].cond, CFG_DEP_HEALTHY);
    cfg_probe_describe(web->ready.probe, what, sizeof(what));
    assert_string_equal(what, "tcp [::1]:8000");
    cfg_probe_describe(plain->liveness, what, sizeof(what));
    assert_string_equal(what, "tcp 127.0.0.1:9");
    health_dump(m);
    cfg_free(m);
    /* The built-in readiness timeout. */
    m = load_ok(WEB "    ready: notify\n");
    assert_int_equal(m->services[0].ready.timeout_ms, CFG_READY_TIMEOUT_DEFAULT_MS);
    assert_int_equal((long)(m->services[0].liveness != NULL), 0);
    cfg_free(m);
}

/* http probes: url, status range (200-399 unless given), body substring. */
static void health_http(void **state)
{
    struct cfg_model *m =
        load_ok("services:\n"
                "  a: {command: [x], ready: {http: {url: \"http://127.0.0.1:8000/\"}}}\n"
                "  b:\n"
                "    command: [x]\n"
                "    liveness:\n"
                "      interval: 5s\n"
                "      http: {url: \"http://127.0.0.1:8000/h\", status: 200-299, body: ok}\n");
    const struct cfg_probe *a = svc_named(m, "a")->ready.probe, *b = svc_named(m, "b")->liveness;
    char what[64];
    (void)state;
    assert_int_equal(a->kind, CFG_PROBE_HTTP);
    assert_string_equal(a->url, "http://127.0.0.1:8000/");
    assert_int_equal(a->status_min, 200);
    assert_int_equal(a->status_max, 399);
    assert_null(a->body);
    assert_int_equal(b->kind, CFG_PROBE_HTTP);
    assert_int_equal(b->status_max, 299);
    assert_string_equal(b->body, "ok");
    assert_int_equal(b->interval_ms, 5000);
    cfg_probe_describe(b, what, sizeof(what));
    assert_string_equal(what, "http http://127.0.0.1:8000/h");
    cfg_free(m);
}

static void health_hung(void **state)
{
    struct cfg_model *m = load_ok(WEB "    hung: {cpu_above: 95%, for: 5m}\n"
                                      "  b: {command: [x], hung: {cpu_above: 1.5, for: 10s, "
                                      "restart: false}}\n");
    (void)state;
    assert_int_equal(m->services[0].hung.cpu_above, 95);
    assert_int_equal(m->services[0].hung.for_ms, 300000);
    assert_true(m->services[0].hung.restart);
    assert_int_equal(m->services[1].hung.cpu_above, 150);
    assert_false(m->services[1].hung.restart);
    cfg_free(m);
    expect_error(WEB "    hung: {for: 5m}\n", 4, 11, "services.web.hung.cpu_above",
                 "missing 'cpu_above'");
    expect_error(WEB "    hung: {cpu_above: 95%}\n", 4, 11, "services.web.hung.for",
                 "missing 'for'");
    expect_error(WEB "    hung:\n"
                     "      cpu_above: 95%\n"
                     "      for: 500ms\n",
                 6, 12, "services.web.hung.for", "'for' must be at least 1s");
    expect_error(WEB "    hung: {cpu_above: lots, for: 1m}\n", 4, 23, "services.web.hung.cpu_above",
                 "invalid cpu_above 'lots'");
    expect_error(WEB "    hung: {cpu_above: 90%, for: 1m, restart: maybe}\n", 4, 46,
                 "services.web.hung.restart", "expected true or false");
    expect_error(WEB "    kind: oneshot\n    hung: {cpu_above: 90%, for: 1m}\n", 5, 11,
                 "services.web.hung",
                 "a oneshot is not watched for hanging; bound its CPU time with limits: "
                 "{cpu_time: ...}");
    /* What that points at exists. */
    cfg_free(load_ok(WEB "    kind: oneshot\n    limits: {cpu_time: 1m}\n"));
}

static void health_bad(void **state)
{
    (void)state;
    expect_error(WEB "    ready: notfy\n", 4, 12, "services.web.ready",
                 "invalid value 'notfy' (expected started, notify, {fd: N} or a probe");
    expect_error(WEB "    ready: [notify]\n", 4, 12, "services.web.ready",
                 "expected a mapping, got a list");
    expect_error(WEB "    ready: {fd: 2}\n", 4, 17, "services.web.ready.fd",
                 "invalid number '2' (expected a whole number from 3 to 255)");
    expect_error(WEB "    ready: {fd: 3, interval: 1s}\n", 4, 13, "services.web.ready",
                 "ready: {fd: N} takes no other keys");
    expect_error(WEB "    ready: {interval: 1s}\n", 4, 12, "services.web.ready",
                 "a probe needs one of tcp, exec, log or http");
    expect_error(WEB "    ready: {tcp: {port: 1}, log: x}\n", 4, 29, "services.web.ready.log",
                 "a probe has one kind, but this one has tcp and log");
    expect_error(WEB "    ready: {tcp: {host: example.com, port: 80}}\n", 4, 25,
                 "services.web.ready.tcp.host",
                 "invalid host 'example.com' (expected an IP address");
    expect_error(WEB "    ready: {tcp: {host: 127.0.0.1}}\n", 4, 18, "services.web.ready.tcp",
                 "missing 'port'");
    expect_error(WEB "    ready: {tcp: {port: 70000}}\n", 4, 25, "services.web.ready.tcp.port",
                 "expected a whole number from 1 to 65535");
    expect_error(WEB "    ready: {tcp: {prot: 1}}\n", 4, 19, "services.web.ready.tcp.prot",
                 "did you mean 'port'?");
    expect_error(WEB "    ready: {exec: []}\n", 4, 19, "services.web.ready.exec",
                 "the command is empty");
    expect_error(WEB "    ready: {exec: ./check}\n", 4, 19, "services.web.ready.exec",
                 "expected a list");
    expect_error(WEB "    ready: {log: \"a(b\"}\n", 4, 18, "services.web.ready.log",
                 "invalid regex 'a(b'");
    expect_error(WEB "    ready: {log: x, interval: 5ms}\n", 4, 31, "services.web.ready.interval",
                 "interval must be at least 10ms");
    expect_error(WEB "    ready: {log: x, timeout: 0}\n", 4, 30, "services.web.ready.timeout",
                 "timeout must be at least 10ms");
    expect_error(WEB "    ready: {log: x, failure_threshold: 0}\n", 4, 40,
                 "services.web.ready.failure_threshold", "expected a whole number from 1 to 1000");
    expect_error(WEB "    ready: {log: x, intervall: 1s}\n", 4, 21, "services.web.ready.intervall",
                 "did you mean 'interval'?");
    expect_error(WEB "    liveness: {fd: 3}\n", 4, 16, "services.web.liveness.fd",
                 "fd is a readiness protocol");
    expect_error(WEB "    liveness: started\n", 4, 15, "services.web.liveness",
                 "expected a mapping");
    /* http is checked in full. */
    expect_error(WEB "webhooks:\n  - {on: failed, url: \"http://127.0.0.1:99999/\"}\n", 5, 23,
                 "webhooks[0].url", "the port is not a number from 1 to 65535");
    expect_error(WEB "    ready: {http: {url: \"http://\"}}\n", 4, 25,
                 "services.web.ready.http.url", "it names no host");
    expect_error(WEB "    ready: {http: {url: \"ftp://x\"}}\n", 4, 25,
                 "services.web.ready.http.url", "invalid url 'ftp://x'");
    expect_error(WEB "    ready: {tcp: {port: 80}, initial_delay: 3s}\n    ready_timeout: 1s\n", 4,
                 45, "services.web.ready.initial_delay",
                 "initial_delay 3s is not below ready_timeout 1s");
    /* A typo does not make a password or a query value less secret. */
    expect_error(WEB "    ready: {http: {url: \"http://u:S3CRET@h:99999/?k=K3Y\"}}\n", 4, 25,
                 "services.web.ready.http.url", "invalid url 'http://u:***@h:99999/?k=***'");
    expect_error(WEB "webhooks:\n  - {on: failed, url: \"https://u:S3CRET@h:0/x?key=K3Y\"}\n", 5,
                 23, "webhooks[0].url", "invalid url 'https://u:***@h:0/x?key=***'");
    expect_error(WEB "    ready: {http: {url: \"http://x\", status: 299-200}}\n", 4, 45,
                 "services.web.ready.http.status", "invalid status '299-200'");
    expect_error(WEB "    ready: {http: {status: 200}}\n", 4, 19, "services.web.ready.http",
                 "missing 'url'");
    expect_error(WEB "    watchdog: 30s\n", 4, 15, "services.web.watchdog",
                 "watchdog needs ready: notify");
    expect_error(WEB "    ready: notify\n    watchdog: 30\n", 5, 15, "services.web.watchdog",
                 "invalid duration '30'");
    expect_error(WEB "    ready_timeout: soon\n", 4, 20, "services.web.ready_timeout",
                 "invalid duration 'soon'");
    expect_error(WEB "    kind: oneshot\n    ready: notify\n", 5, 5, "services.web.ready",
                 "a oneshot has no readiness");
    expect_error(WEB "    kind: oneshot\n    liveness: {tcp: {port: 1}}\n", 5, 5,
                 "services.web.liveness", "liveness probes are for longrun services");
    expect_error("defaults:\n  ready: notify\nservices: {a: {command: [b]}}\n", 2, 3,
                 "defaults.ready", "unknown key 'ready'");
}

/* --- restart: retry_after, exit code lists ---------------------------------------------- */

static void restart_retry_and_exit_codes(void **state)
{
    struct cfg_model *m =
        load_ok("defaults:\n"
                "  restart: {success_exit_codes: [3, SIGTERM], retry_after: 2s}\n"
                "services:\n"
                "  a: {command: [x]}\n"
                "  b:\n"
                "    command: [y]\n"
                "    restart: {restart_on_exit_codes: [75, kill], retry_after: never}\n"
                "  c:\n"
                "    command: [z]\n"
                "    restart: {success_exit_codes: [], restart_on_exit_codes: [3]}\n");
    const struct cfg_service *a = &m->services[0], *b = &m->services[1], *c = &m->services[2];
    (void)state;
    assert_int_equal(a->restart.retry_after_ms, 2000);
    assert_true(cfg_exit_set_has(&a->restart.success_exit_codes, 3));
    assert_true(cfg_exit_set_has(&a->restart.success_exit_codes, 128 + SIGTERM));
    assert_false(cfg_exit_set_has(&a->restart.success_exit_codes, 0));
    assert_false(cfg_exit_set_has(&a->restart.success_exit_codes, 15));
    assert_int_equal(b->restart.retry_after_ms, 0);
    assert_true(cfg_exit_set_has(&b->restart.success_exit_codes, 3)); /* inherited */
    assert_true(cfg_exit_set_has(&b->restart.restart_on_exit_codes, 75));
    assert_true(cfg_exit_set_has(&b->restart.restart_on_exit_codes, 128 + SIGKILL));
    /* A list written on the service replaces the inherited one: 3 may move. */
    assert_false(cfg_exit_set_has(&c->restart.success_exit_codes, 3));
    assert_true(cfg_exit_set_has(&c->restart.restart_on_exit_codes, 3));
    cfg_free(m);
    m = load_ok("services: {a: {command: [x]}}\n");
    assert_int_equal(m->services[0].restart.retry_after_ms, 600000); /* default 10m */
    cfg_free(m);
}

static void restart_retry_and_exit_codes_bad(void **state)
{
    (void)state;
    expect_error(WEB "    restart: {retry_after: 0}\n", 4, 28, "services.web.restart.retry_after",
                 "write 'never' to give up for good");
    expect_error(WEB "    restart: {reset_after: 0s}\n", 4, 28, "services.web.restart.reset_after",
                 "a crash loop would never give up");
    expect_error(WEB "    restart: {retry_after: soon}\n", 4, 28,
                 "services.web.restart.retry_after", "invalid duration 'soon'");
    expect_error(WEB "    restart: {retry_aftr: 1m}\n", 4, 15, "services.web.restart.retry_aftr",
                 "did you mean 'retry_after'?");
    expect_error(WEB "    restart: {success_exit_codes: 3}\n", 4, 35,
                 "services.web.restart.success_exit_codes", "expected a list");
    expect_error(WEB "    restart: {success_exit_codes: [0, 256]}\n", 4, 39,
                 "services.web.restart.success_exit_codes[1]", "invalid exit code '256'");
    expect_error(WEB "    restart: {restart_on_exit_codes: [SIGFOO]}\n", 4, 39,
                 "services.web.restart.restart_on_exit_codes[0]", "invalid exit code 'SIGFOO'");
    expect_error(WEB "    restart: {restart_on_exit_codes: [-1]}\n", 4, 39,
                 "services.web.restart.restart_on_exit_codes[0]", "invalid exit code '-1'");
    expect_error(WEB "    restart:\n"
                     "      success_exit_codes: [3, 75]\n"
                     "      restart_on_exit_codes: [75]\n",
                 6, 31, "services.web.restart.restart_on_exit_codes[0]", "exit code 75 is in both");
    /* Inherited from defaults, the clash is pointed at where this level wrote it. */
    expect_error("defaults: {restart: {success_exit_codes: [TERM]}}\n" WEB
                 "    restart: {restart_on_exit_codes: [1, 143]}\n",
                 5, 42, "services.web.restart.restart_on_exit_codes[1]",
                 "exit code 143 is in both");
}

/* --- hooks ------------------------------------------------------------------------------ */

static void hooks_good(void **state)
{
    struct cfg_model *m = load_ok(WEB "  db: {command: [b]}\n"
                                      "hooks:\n"
                                      "  - {on: [failed, gave_up], command: [./notify.sh, -v], "
                                      "timeout: 2s, services: [web, db]}\n"
                                      "  - on: stopped\n"
                                      "    command: echo \"$CORRAL_EVENT\" >> events\n"
                                      "    shell: true\n");
    const struct cfg_hook *a = &m->hooks[0], *b = &m->hooks[1];
    (void)state;
    assert_int_equal(m->n_hooks, 2);
    assert_int_equal(a->n_on, 2);
    assert_string_equal(a->on[0], "failed");
    assert_string_equal(a->on[1], "gave_up");
    assert_int_equal(a->argc, 2);
    assert_string_equal(a->argv[0], "./notify.sh");
    assert_null(a->argv[2]);
    assert_int_equal(a->timeout_ms, 2000);
    assert_int_equal(a->n_services, 2);
    assert_string_equal(a->services[1], "db");
    assert_int_equal(a->pos.line, 6);
    assert_int_equal(b->n_on, 1);
    assert_string_equal(b->on[0], "stopped");
    assert_true(b->shell);
    assert_string_equal(b->argv[0], "/bin/sh");
    assert_string_equal(b->argv[2], "echo \"$CORRAL_EVENT\" >> events");
    assert_int_equal(b->timeout_ms, CFG_HOOK_TIMEOUT_DEFAULT_MS);
    assert_int_equal(b->n_services, 0);
    cfg_free(m);
    m = load_ok(WEB);
    assert_int_equal(m->n_hooks, 0);
    cfg_free(m);
}

static void webhooks_good(void **state)
{
    struct cfg_model *m = load_ok(WEB "webhooks:\n"
                                      "  - {on: [failed, gave_up], url: \"http://127.0.0.1:9/h\"}\n"
                                      "  - on: ready\n"
                                      "    url: https://example.com/x\n"
                                      "    timeout: 2s\n"
                                      "    retries: 0\n"
                                      "    services: [web]\n");
    (void)state;
    assert_int_equal(m->n_webhooks, 2);
    assert_string_equal(m->webhooks[0].url, "http://127.0.0.1:9/h");
    assert_int_equal(m->webhooks[0].n_on, 2);
    assert_string_equal(m->webhooks[0].on[1], "gave_up");
    assert_int_equal(m->webhooks[0].timeout_ms, CFG_WEBHOOK_TIMEOUT_DEFAULT_MS);
    assert_int_equal(m->webhooks[0].retries, CFG_WEBHOOK_RETRIES_DEFAULT);
    assert_int_equal(m->webhooks[0].n_services, 0);
    assert_string_equal(m->webhooks[1].on[0], "ready");
    assert_int_equal(m->webhooks[1].timeout_ms, 2000);
    assert_int_equal(m->webhooks[1].retries, 0);
    assert_string_equal(m->webhooks[1].services[0], "web");
    cfg_free(m);
}

static void webhooks_bad(void **state)
{
    (void)state;
    expect_error(WEB "webhooks:\n", 4, 1, "webhooks", "expected a list, got an empty value");
    expect_error(WEB "webhooks:\n  - {on: [faild], url: \"http://x/\"}\n", 5, 11,
                 "webhooks[0].on[0]", "did you mean 'failed'?");
    expect_error(WEB "webhooks:\n  - {on: [failed]}\n", 5, 5, "webhooks[0].url", "missing 'url'");
    expect_error(WEB "webhooks:\n  - {url: \"http://x/\"}\n", 5, 5, "webhooks[0].on",
                 "missing 'on'");
    expect_error(WEB "webhooks:\n  - {on: [failed], url: \"file:///etc/passwd\"}\n", 5, 25,
                 "webhooks[0].url", "invalid url 'file:///etc/passwd'");
    expect_error(WEB "webhooks:\n  - {on: [failed], url: \"http://x/\", retries: -1}\n", 5, 47,
                 "webhooks[0].retries", "invalid retries '-1'");
    expect_error(WEB "webhooks:\n  - {on: [failed], url: \"http://x/\", timeout: 10m}\n", 5, 47,
                 "webhooks[0].timeout", "invalid timeout '10m'");
    expect_error(WEB "webhooks:\n  - {on: [failed], url: \"http://x/\", services: [db]}\n", 5, 49,
                 "webhooks[0].services[0]", "unknown service 'db'");
    expect_error(WEB "webhooks:\n  - {on: [failed], url: \"http://x/\", urls: 1}\n", 5, 38,
                 "webhooks[0].urls", "did you mean 'url'?");
    expect_error(WEB "webhooks: {on: [failed]}\n", 4, 11, "webhooks", "expected a list");
}

static void hooks_bad(void **state)
{
    (void)state;
    /* Left empty, as api: and defaults: are: said, not taken as "none". */
    expect_error(WEB "hooks:\n", 4, 1, "hooks", "expected a list, got an empty value");
    expect_error(WEB "hooks:\n  - {on: [faild], command: [x]}\n", 5, 11, "hooks[0].on[0]",
                 "unknown event 'faild' (did you mean 'failed'?)");
    expect_error(WEB "hooks:\n  - {on: [failed], command: [x], services: [db]}\n", 5, 45,
                 "hooks[0].services[0]", "unknown service 'db'");
    expect_error(WEB "hooks:\n  - {on: reaped, command: [x], services: [web]}\n", 5, 42,
                 "hooks[0].services", "'reaped' is corral's own event");
    cfg_free(load_ok(WEB "hooks:\n  - {on: [reaped, failed], command: [x], services: [web]}\n"));
    expect_error(WEB "hooks:\n  - {on: [failed, failed], command: [x]}\n", 5, 19, "hooks[0].on[1]",
                 "'failed' is listed twice");
    expect_error(WEB "hooks:\n  - {on: [failed], command: [x], services: [wbe]}\n", 5, 45,
                 "hooks[0].services[0]", "unknown service 'wbe' (did you mean 'web'?)");
    expect_error(WEB "hooks:\n  - {on: [failed]}\n", 5, 5, "hooks[0].command", "missing 'command'");
    expect_error(WEB "hooks:\n  - {command: [x]}\n", 5, 5, "hooks[0].on", "missing 'on'");
    expect_error(WEB "hooks:\n  - {on: [], command: [x]}\n", 5, 10, "hooks[0].on",
                 "got an empty list");
    expect_error(WEB "hooks:\n  - {on: [failed], command: [x], timeout: 0s}\n", 5, 43,
                 "hooks[0].timeout", "invalid timeout '0s'");
    expect_error(WEB "hooks:\n  - {on: [failed], command: [x], timeout: 2h}\n", 5, 43,
                 "hooks[0].timeout", "from 1ms to 1h");
    expect_error(WEB "hooks:\n  - {on: [failed], comand: [x]}\n", 5, 20, "hooks[0].comand",
                 "did you mean 'command'?");
    expect_error(WEB "hooks:\n  - {on: [failed], command: ./notify.sh}\n", 5, 29,
                 "hooks[0].command", "set shell: true");
    expect_error(WEB "hooks:\n  - {on: failed, command: [x], shell: true}\n", 5, 27,
                 "hooks[0].command", "needs command as a single string");
    expect_error(WEB "hooks: {on: failed}\n", 4, 8, "hooks", "expected a list, got a mapping");
    expect_error(WEB "hooks:\n  - {on: failed, command: x, shell: maybe}\n", 5, 37,
                 "hooks[0].shell", "expected true or false, got 'maybe'");
    expect_error(WEB "hooks:\n  - {on: failed, command: [x], services: []}\n", 5, 42,
                 "hooks[0].services", "got an empty list");
    expect_error(WEB "hooks:\n  - {on: [failed], command: [x]}\n  - {on: [bogus_event_name], "
                     "command: [x]}\n",
                 6, 11, "hooks[1].on[0]", "unknown event 'bogus_event_name' (events: started");
}

/* Every event the API can send is one a hook may ask for, by the same name:
 * a new event kind added to one list and not the other fails here. */
static void hook_events_are_the_api_events(void **state)
{
    (void)state;
    for (int k = 0; k < SUP_EV__COUNT; k++) {
        const char *name = api_event_name((enum sup_event_kind)k);
        assert_non_null(name);
        if (!cfg_event_known(name))
            fail_msg("event '%s' is not in cfg_event_names", name);
    }
    assert_int_equal(cfg_n_event_names, SUP_EV__COUNT);
}

/* Field paths name the key in every error; a long one is cut, never overrun. */
static void field_paths(void **state)
{
    char buf[DIAG_FIELD_MAX];
    char small[8];
    (void)state;
    cfg_yaml_field(buf, sizeof(buf), "services.web", "restart");
    assert_string_equal(buf, "services.web.restart");
    cfg_yaml_field(buf, sizeof(buf), "", "services");
    assert_string_equal(buf, "services");
    cfg_yaml_field(small, sizeof(small), "services", "web");
    assert_string_equal(small, "service");
    cfg_yaml_field(small, sizeof(small), "abc", "defgh");
    assert_string_equal(small, "abc.def");
    cfg_yaml_field(small, sizeof(small), "abcdef", "x");
    assert_string_equal(small, "abcdef.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_key_suggests),
        cmocka_unit_test(wrong_type),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(null_says_what_is_expected),
        cmocka_unit_test(empty_list_item),
        cmocka_unit_test(missing_command),
        cmocka_unit_test(unknown_signal),
        cmocka_unit_test(dependency_cycle),
        cmocka_unit_test(unknown_dependency),
        cmocka_unit_test(bad_service_name),
        cmocka_unit_test(state_dir_too_long_for_the_socket),
        cmocka_unit_test(duplicate_service),
        cmocka_unit_test(string_command_needs_shell),
        cmocka_unit_test(completed_needs_oneshot),
        cmocka_unit_test(bad_env_file),
        cmocka_unit_test(env_file_with_a_bom),
        cmocka_unit_test(yaml_syntax_error),
        cmocka_unit_test(bad_bytes),
        cmocka_unit_test(yaml_errors_name_the_field),
        cmocka_unit_test(limits),
        cmocka_unit_test(merge_over_defaults),
        cmocka_unit_test(builtin_defaults),
        cmocka_unit_test(oneshot_restart_default),
        cmocka_unit_test(on_recover_inherits),
        cmocka_unit_test(env_merge_order),
        cmocka_unit_test(env_file_repeats_count_once),
        cmocka_unit_test(dotenv_syntax),
        cmocka_unit_test(dotenv_export),
        cmocka_unit_test(paths_resolve_against_config_dir),
        cmocka_unit_test(load_from_file),
        cmocka_unit_test(start_order_is_stable),
        cmocka_unit_test(commands),
        cmocka_unit_test(users_and_groups),
        cmocka_unit_test(issue_example_parses),
        cmocka_unit_test(dump_json_round_trip),
        cmocka_unit_test(restart_window_zero),
        cmocka_unit_test(api_listener),
        cmocka_unit_test(api_token_file_is_checked),
        cmocka_unit_test(state_dir_without_a_full_load),
        cmocka_unit_test(ports_good),
        cmocka_unit_test(ports_bad),
        cmocka_unit_test(resource_limits_merge),
        cmocka_unit_test(resource_limits_errors),
        cmocka_unit_test(health_good),
        cmocka_unit_test(health_http),
        cmocka_unit_test(health_hung),
        cmocka_unit_test(health_bad),
        cmocka_unit_test(restart_retry_and_exit_codes),
        cmocka_unit_test(restart_retry_and_exit_codes_bad),
        cmocka_unit_test(hooks_good),
        cmocka_unit_test(hooks_bad),
        cmocka_unit_test(webhooks_good),
        cmocka_unit_test(webhooks_bad),
        cmocka_unit_test(hook_events_are_the_api_events),
        cmocka_unit_test(field_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
