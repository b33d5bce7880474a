"""The restart policy completed: give-up, gave_up event, the slow retry after
retry_after (seen in the spawn times the services write themselves), exit
code lists, the backoff reset after a stable run, and `recovered`. Crash
loops are started through the API, so that `up -d` does not wait for them."""
import time

from conftest import wait_for


def spawns(path):
    """The spawn times a service appended to its file, one float a line."""
    try:
        return [float(x) for x in path.read_text().split()]
    except FileNotFoundError:
        return []


def events_of(d, service, kind=None):
    st, body = d.json("GET", f"/v1/events?since=0&limit=10000&service={service}")
    assert st == 200, body
    return [e for e in body["events"] if kind is None or e["kind"] == kind]


def start(d, name):
    st, body = d.json("POST", f"/v1/services/{name}/start")
    assert st == 202, body


CRASH = """
services:
  web:
    command: [sleep, "1000"]
  crash:
    command: [sh, -c, 'date +%%s.%%N >> crash.times; exit 1']
    autostart: false
    restart: {initial: 50ms, jitter: 0%%, max_restarts: 2, window: 1m, retry_after: %s}
  never:
    command: [sh, -c, 'date +%%s.%%N >> never.times; exit 1']
    autostart: false
    restart: {initial: 50ms, jitter: 0%%, max_restarts: 2, window: 1m, retry_after: never}
"""


def test_crash_loop_gives_up_then_retries_after_retry_after(daemon, tmp_path):
    d = daemon(CRASH % "2s")
    start(d, "crash")
    start(d, "never")
    times = tmp_path / "crash.times"
    # Three runs (the first and two restarts), then failed with a retry due.
    s = d.wait_state("crash", "failed")
    assert "gave up after 2 restarts" in s["reason"], s
    assert s["retry_in_ms"] is not None and 0 < s["retry_in_ms"] <= 2000, s
    assert s["retry_at"], s
    assert len(spawns(times)) == 3
    gave = wait_for(lambda: events_of(d, "crash", "gave_up"), what="gave_up event")
    assert gave[0]["reason"].startswith("gave up after 2 restarts")
    assert gave[0]["instance"] == d.instance
    assert 0 < gave[0]["details"]["retry_in_ms"] <= 2000
    failed = events_of(d, "crash", "failed")
    assert failed and failed[0]["id"] < gave[0]["id"]
    assert failed[0]["details"]["retry_in_ms"] is not None
    # The retry: one start, 2 s after the give-up; within the window, its
    # failure gives up again at once, and the next retry is 2 s later.
    wait_for(lambda: len(spawns(times)) >= 5, timeout=20, what="two retries")
    t = spawns(times)
    assert t[3] - t[2] >= 1.9, t
    assert t[4] - t[3] >= 1.9, t
    assert len(events_of(d, "crash", "gave_up")) >= 2
    retries = [e for e in events_of(d, "crash", "restarting") if "retry" in e["reason"]]
    assert len(retries) >= 2, retries
    # retry_after: never: failed for good, nothing more was spawned.
    s = d.wait_state("never", "failed")
    assert s["retry_in_ms"] is None
    assert len(spawns(tmp_path / "never.times")) == 3
    g = events_of(d, "never", "gave_up")
    assert len(g) == 1 and g[0]["details"]["retry_in_ms"] is None
    d.down()


def test_a_retry_that_runs_drops_the_give_up_reason(daemon, tmp_path):
    """Once a retry after a give-up runs, status no longer says it gave up."""
    d = daemon("""
services:
  flaky:
    command: [sh, -c, 'n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; [ $n -ge 2 ] && exec sleep 1000; exit 1']
    restart: {initial: 10ms, jitter: 0%, max_restarts: 1, window: 1m, retry_after: 1s}
    autostart: false
""")
    start(d, "flaky")
    s = d.wait_state("flaky", "failed")
    assert s["reason"] == "gave up after 1 restart in 60s (last: exited 1)", s
    s = d.wait_state("flaky", "running", timeout=10)
    assert s["reason"] == "" and s["runs"] == 3, s
    d.down()


def test_a_waiting_service_says_what_it_waits_for(daemon, tmp_path):
    d = daemon("""
services:
  slow:
    command: [sleep, '1000']
    ready: {exec: [test, -e, go], interval: 100ms}
    ready_timeout: 1m
    autostart: false
  after:
    command: [sleep, '1000']
    depends_on: {slow: {condition: ready}}
    autostart: false
""")
    start(d, "after")  # and slow with it
    a = wait_for(lambda: (a := d.service("after"))["state"] == "waiting" and a,
                 what="after waiting")
    assert a["reason"] == "waiting for slow to be ready (it is starting)", a
    row = next(l for l in d.cli("status").stdout.splitlines() if l.startswith("after "))
    assert "waiting for slow to be ready" in row, row
    (tmp_path / "go").touch()
    assert d.wait_state("after", "running")["reason"] == ""
    d.down()


def test_a_stop_in_backoff_says_who_stopped_it(daemon, tmp_path):
    d = daemon("""
services:
  crash:
    command: [sh, -c, 'exit 1']
    restart: {initial: 1m}
    autostart: false
""")
    start(d, "crash")
    d.wait_state("crash", "backoff")
    st, body = d.json("POST", "/v1/services/crash/stop")
    assert st == 202, body
    d.wait_state("crash", "stopped")
    stopped = events_of(d, "crash", "stopped")
    assert stopped and stopped[-1]["reason"] == "stopped by the operator", stopped
    d.down()


def test_operator_stop_and_start_cancel_a_pending_retry(daemon, tmp_path):
    d = daemon(CRASH % "2s")
    times = tmp_path / "crash.times"
    start(d, "crash")
    d.wait_state("crash", "failed")
    st, body = d.json("POST", "/v1/services/crash/stop")
    assert st == 202, body
    s = d.wait_state("crash", "stopped")
    assert s["retry_in_ms"] is None
    n = len(spawns(times))
    stopped = events_of(d, "crash", "stopped")
    assert stopped and "operator" in stopped[-1]["reason"]
    # Past the time the retry was due: nothing was spawned. The clock is a
    # second crash loop's own retry, which needs the same 2 s.
    start(d, "never")
    d.wait_state("never", "failed")
    time.sleep(2.5)
    assert len(spawns(times)) == n
    # A start runs it at once, with a fresh backoff.
    start(d, "crash")
    wait_for(lambda: len(spawns(times)) > n, what="started again")
    d.down()


EXITS = """
services:
  web:
    command: [sleep, "1000"]
  calm:
    command: [sh, -c, 'date +%s.%N >> calm.times; exit 3']
    autostart: false
    restart: {initial: 50ms, success_exit_codes: [3]}
  termed:
    command: [sh, -c, 'date +%s.%N >> termed.times; kill -TERM $$']
    autostart: false
    restart: {initial: 50ms, success_exit_codes: [SIGTERM]}
  job:
    kind: oneshot
    command: [sh, -c, 'exit 3']
    autostart: false
    restart: {success_exit_codes: [3]}
  tempfail:
    command: [sh, -c, 'n=$(cat tf.n 2>/dev/null || echo 0); echo $((n+1)) > tf.n;
              date +%s.%N >> tempfail.times; [ $n -lt 2 ] && exit 75; exit 1']
    autostart: false
    restart: {policy: "no", initial: 50ms, restart_on_exit_codes: [75]}
"""


def test_success_and_restart_exit_codes(daemon, tmp_path):
    d = daemon(EXITS)
    for name in ("calm", "termed", "job", "tempfail"):
        start(d, name)
    # A success code under on-failure: exited, not restarted.
    s = d.wait_state("calm", "exited")
    assert s["last_exit"]["code"] == 3 and s["restarts"] == 0
    s = d.wait_state("termed", "exited")
    assert s["last_exit"]["text"] == "killed by SIGTERM" and s["restarts"] == 0
    # A oneshot with a success code has completed.
    d.wait_state("job", "completed")
    # Under policy no, 75 restarts (twice), then exit 1 ends it.
    s = d.wait_state("tempfail", "exited", timeout=20)
    assert s["last_exit"]["code"] == 1 and s["restarts"] == 2, s
    assert len(spawns(tmp_path / "tempfail.times")) == 3
    assert len(spawns(tmp_path / "calm.times")) == 1
    assert len(spawns(tmp_path / "termed.times")) == 1
    ex = events_of(d, "termed", "exited")
    assert ex[0]["details"]["signal"] == "SIGTERM" and ex[0]["details"]["exit_code"] == 143
    d.down()


RESET = """
services:
  web:
    command: [sleep, "1000"]
  flap:
    # Runs 1-3 crash at once, run 4 lasts 1.5 s (past reset_after), then crash.
    command: [sh, -c, 'n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n;
              [ $n -eq 4 ] && sleep 1.5; [ $n -ge 6 ] && exec sleep 1000; exit 1']
    autostart: false
    restart: {initial: 100ms, multiplier: 4, max: 1m, jitter: 0%, reset_after: 1s,
              max_restarts: 0}
"""


def test_a_stable_run_resets_the_backoff_and_is_recovered(daemon):
    d = daemon(RESET)
    start(d, "flap")
    wait_for(lambda: len(events_of(d, "flap", "restarting")) >= 5, timeout=30,
             what="five restarts")
    delays = [e["details"]["delay_ms"] for e in events_of(d, "flap", "restarting")]
    # Without the reset the fourth delay would be 6400 ms.
    assert delays[:5] == [100, 400, 1600, 100, 400], delays
    rec = events_of(d, "flap", "recovered")
    assert rec and "after 3 restarts" in rec[0]["reason"], rec
    d.down()


HEAL = """
services:
  web:
    command: [sleep, "1000"]
  db:
    # Not there at first (exec fails, exit 127): it appears after the give-up.
    command: [./db.sh]
    autostart: false
    restart: {initial: 50ms, jitter: 0%, max_restarts: 1, window: 1m, retry_after: 1s,
              reset_after: 1s}
  app:
    command: [sleep, "1000"]
    autostart: false
    depends_on: [db]
"""


def test_a_retry_that_stays_up_is_recovered(daemon, tmp_path):
    d = daemon(HEAL)
    start(d, "app")  # and db, which it depends on
    wait_for(lambda: events_of(d, "db", "gave_up"), what="gave_up")
    # Its dependant waits for the retry rather than fail with the give-up.
    assert d.service("app")["state"] == "waiting"
    script = tmp_path / "db.sh"
    script.write_text("#!/bin/sh\nexec sleep 1000\n")
    script.chmod(0o755)
    s = d.wait_state("db", "running", timeout=20)
    assert s["retry_in_ms"] is None
    d.wait_state("app", "running")
    rec = wait_for(lambda: events_of(d, "db", "recovered"), timeout=20, what="recovered")
    assert "after giving up" in rec[0]["reason"], rec
    assert d.service("db")["state"] == "running"
    d.down()


ONESHOTS = """
services:
  web:
    command: [sleep, "1000"]
  migrate:
    kind: oneshot
    command: [sh, -c, 'date +%s.%N >> migrate.times; exit 2']
    autostart: false
  fetch:
    kind: oneshot
    command: [sh, -c, 'date +%s.%N >> fetch.times; exit 2']
    autostart: false
    restart: {policy: on-failure, initial: 50ms, max_restarts: 1, window: 1m, retry_after: 1s}
"""


def test_a_failed_oneshot_is_retried_only_when_its_policy_restarts_it(daemon, tmp_path):
    d = daemon(ONESHOTS)
    start(d, "migrate")
    start(d, "fetch")
    # policy no (a oneshot's default): failed for good, no give-up, no retry.
    s = d.wait_state("migrate", "failed")
    assert s["retry_in_ms"] is None and s["reason"] == "exited 2", s
    # on-failure with a limit: gives up, and is tried again after retry_after.
    wait_for(lambda: len(spawns(tmp_path / "fetch.times")) >= 3, timeout=20, what="a retry")
    assert events_of(d, "fetch", "gave_up")
    assert not events_of(d, "migrate", "gave_up")
    assert len(spawns(tmp_path / "migrate.times")) == 1
    d.down()


def test_the_foreground_ends_when_only_a_retry_is_left_to_wait_for(corral):
    """A pending retry keeps no foreground corral alive, nor does a dependant
    that waits only for it."""
    c = corral("""
services:
  mig:
    kind: oneshot
    command: [sh, -c, 'exit 1']
    restart: {policy: on-failure, initial: 10ms, max_restarts: 1, window: 1m, retry_after: 1h}
  app:
    command: [sleep, "1080"]
    depends_on: {mig: {condition: completed}}
""")
    assert c.wait_exit(timeout=20) == 1
    assert "mig gave up" in c.output(), c.output()
    assert "app started" not in c.output()


def test_exit_status_says_where_services_ended_not_what_they_went_through(corral, tmp_path):
    """A service that failed, came back through retry_after and runs when
    corral is stopped leaves corral's exit status 0; one still failed, 1."""
    c = corral("""
services:
  keep:  # a pending retry alone would not keep corral in the foreground
    command: [sleep, "1000"]
  flaky:
    command: [sh, -c, 'n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; [ $n -ge 2 ] && exec sleep 1000; exit 1']
    restart: {initial: 10ms, jitter: 0%, max_restarts: 1, window: 1m, retry_after: 1s}
  broken:
    command: [sh, -c, 'exit 1']
    restart: {initial: 10ms, jitter: 0%, max_restarts: 1, window: 1m, retry_after: never}
""")
    c.wait_output(r"flaky failed: gave up")
    c.wait_output(r"broken failed: gave up")
    wait_for(lambda: (tmp_path / "n").read_text().strip() == "3", timeout=15,
             what="the retry's run")
    time.sleep(0.5)  # running, not only spawned
    assert c.stop() == 1, c.output()  # broken is still failed

    (tmp_path / "n").unlink()
    c = corral("""
services:
  keep:  # a pending retry alone would not keep corral in the foreground
    command: [sleep, "1000"]
  flaky:
    command: [sh, -c, 'n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; [ $n -ge 2 ] && exec sleep 1000; exit 1']
    restart: {initial: 10ms, jitter: 0%, max_restarts: 1, window: 1m, retry_after: 1s}
""")
    c.wait_output(r"flaky failed: gave up")
    wait_for(lambda: (tmp_path / "n").exists() and (tmp_path / "n").read_text().strip() == "3",
             timeout=15, what="the retry's run")
    time.sleep(0.5)  # running, not only spawned
    assert c.stop() == 0, c.output()
