"""Hooks: a command run on events with the event's JSON on stdin and in its
environment, contained and killed whole at its timeout, never in the way of
supervision, bounded under a flood, and not part of any service's tree.
Judged from files the hooks write, /proc and the event history."""
import json
import os
import subprocess
import time

import psutil
import pytest

from conftest import CORRAL, MODES, check, proc, wait_for


@pytest.fixture(autouse=True)
def no_hook_left(tmp_path):
    """Hooks carry no service tag, so the fixtures' cleanup cannot find
    them: a failed test must not leave its hooks running."""
    yield
    for p in psutil.process_iter():
        try:
            if p.cwd() == str(tmp_path) and "CORRAL_EVENT" in p.environ():
                p.kill()  # psutil checks create time before signalling
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue


def events(d, query="since=0&limit=10000"):
    st, body = d.json("GET", f"/v1/events?{query}")
    assert st == 200, body
    return body["events"]


def start(d, name):
    st, body = d.json("POST", f"/v1/services/{name}/start")
    assert st == 202, body


def alive(p):
    try:
        return p is not None and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def reaped(p):
    """Gone from /proc, not even a zombie (or its number is another's now)."""
    return p is None or not p.is_running()


def spawns(path):
    try:
        return [float(x) for x in path.read_text().split()]
    except FileNotFoundError:
        return []


NOTIFY = """
services:
  web:
    command: [sleep, "1000"]
  crash:
    command: [sh, -c, 'exit 4']
    autostart: false
    restart: {initial: 50ms, max_restarts: 1, window: 1m, retry_after: never}
hooks:
  - on: [gave_up]
    services: [crash]
    command: [sh, -c, 'cat > "event.$CORRAL_EVENT_ID.json";
              env > env.tmp && mv env.tmp "event.$CORRAL_EVENT_ID.env"']
"""


def test_a_hook_gets_the_event_on_stdin_and_in_its_environment(daemon, tmp_path):
    # As under systemd's Type=notify: that socket is corral's to speak on.
    outer = {"NOTIFY_SOCKET": str(tmp_path / "outer.sock"), "WATCHDOG_USEC": "1000000"}
    d = daemon(NOTIFY, env={**os.environ, **outer})
    start(d, "crash")
    gave = wait_for(lambda: [e for e in events(d) if e["kind"] == "gave_up"], what="gave_up")[0]
    path = tmp_path / f"event.{gave['id']}.env"
    wait_for(path.exists, what="hook ran")  # written whole, then renamed
    # stdin: the very event the API and its stream send, id and time included.
    got = json.loads((tmp_path / f"event.{gave['id']}.json").read_text())
    assert got == gave
    assert got["kind"] == "gave_up" and got["service"] == "crash"
    assert got["reason"].startswith("gave up after 1 restart in")
    env = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    assert env["CORRAL_EVENT"] == "gave_up"
    assert env["CORRAL_EVENT_SERVICE"] == "crash"
    assert env["CORRAL_EVENT_ID"] == str(gave["id"])
    assert env["CORRAL_EVENT_TIME"] == gave["time"]
    assert env["CORRAL_EVENT_REASON"] == gave["reason"]
    assert env["CORRAL_EVENT_INSTANCE"] == d.instance
    # No service's identity tag: a hook is no member of the service's tree.
    assert "CORRAL_SERVICE" not in env and "CORRAL_INSTANCE" not in env
    # Nor corral's own service manager's notify socket.
    assert "NOTIFY_SOCKET" not in env and "WATCHDOG_USEC" not in env, env
    # Its own tag instead, unique to the run: how its leftovers are found.
    assert env["CORRAL_HOOK"].startswith(d.instance + "-")
    # Only the events it asked for: not failed, not exited.
    assert len(list(tmp_path.glob("event.*.json"))) == 1
    # The file is renamed just before the hook exits: its end is logged after.
    hooks_log = d.state / "hooks.log"
    done = "hooks[0] (sh) on gave_up crash: exited 0"
    wait_for(lambda: hooks_log.exists() and done in hooks_log.read_text(), what="hook exit logged")
    d.down()


SLOW = """
containment: %s
services:
  web:
    command: [sleep, "1000"]
  flap:
    command: [sh, -c, 'date +%%s.%%N >> flap.times; exit 1']
    autostart: false
    restart: {policy: always, initial: 100ms, multiplier: 1, jitter: 0%%, max_restarts: 0}
  trigger:
    command: [sleep, "1000"]
    autostart: false
hooks:
  - on: [started]
    services: [trigger]
    timeout: 3s
    # Sleeps forever, and leaves a child that ignores TERM.
    command: [sh, -c, 'echo $$ > hook.pid;
              sh -c "trap \\"\\" TERM; echo \\$\\$ > child.pid; exec sleep 1000" &
              exec sleep 1000']
"""


@pytest.mark.parametrize("mode", MODES)
def test_a_hook_past_its_timeout_is_killed_whole_and_delays_nothing(daemon, tmp_path, mode):
    d = daemon(SLOW % mode)
    start(d, "flap")
    start(d, "trigger")
    hook = wait_for(lambda: (tmp_path / "hook.pid").exists() and
                    (tmp_path / "hook.pid").read_text().strip(), what="hook running")
    child = wait_for(lambda: (tmp_path / "child.pid").exists() and
                     (tmp_path / "child.pid").read_text().strip(), what="hook's child")
    hook, child = proc(hook), proc(child)
    began = time.time()
    assert alive(hook) and alive(child)
    # Killed at its timeout, with the child that ignores TERM: nothing left,
    # and nothing left unreaped.
    wait_for(lambda: not alive(hook) and not alive(child), timeout=15, what="hook tree gone")
    wait_for(lambda: reaped(hook) and reaped(child), what="hook tree reaped")
    notes = [e for e in events(d) if e["kind"] == "hook_timeout"]
    assert notes and "timed out after 3s" in notes[0]["text"], notes
    assert "hooks[0] (sh) on started trigger timed out after 3s" in \
        (d.state / "corral.log").read_text()
    # Meanwhile the crash loop went on at its own pace: no gap near the 3 s
    # the hook ran.
    t = [x for x in spawns(tmp_path / "flap.times") if began - 0.5 <= x <= began + 2.5]
    assert len(t) >= 3, t
    assert max(b - a for a, b in zip(t, t[1:])) < 2.0, t  # the hook ran for 3 s
    # Nothing of any hook is left in its cgroup or session.
    st, body = d.json("POST", "/v1/services/flap/stop")
    assert st == 202, body
    d.down()
    assert not alive(hook) and not alive(child)


FLOOD = """
services:
  web:
    command: [sleep, "1000"]
  flap:
    command: [sh, -c, 'exit 1']
    autostart: false
    restart: {policy: always, initial: 1ms, multiplier: 1, jitter: 0%, max_restarts: 0}
hooks:
  - {on: [exited], services: [flap], command: [sleep, "0.77"]}
"""


def hook_procs(corral_pid):
    n = 0
    for p in psutil.process_iter(["ppid", "cmdline", "status"]):
        if p.info["ppid"] == corral_pid and p.info["cmdline"] == ["sleep", "0.77"] and \
                p.info["status"] != psutil.STATUS_ZOMBIE:
            n += 1
    return n


def test_a_flood_of_hook_runs_is_bounded_and_reported(daemon):
    d = daemon(FLOOD)
    start(d, "flap")
    most = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        most = max(most, hook_procs(d.info["pid"]))
        time.sleep(0.05)
    assert 1 <= most <= 4, most
    dropped = wait_for(lambda: [e for e in events(d) if e["kind"] == "hooks_dropped"],
                       what="drops reported")
    assert "dropping the oldest" in dropped[0]["text"]
    # Supervision went on: the crash loop ran far more often than hooks could.
    assert d.service("flap")["runs"] > 100
    st, body = d.json("POST", "/v1/services/flap/stop")
    assert st == 202, body
    # Once the queue drains, how many were dropped is said.
    wait_for(lambda: [e for e in events(d) if e["kind"] == "hooks_dropped" and
                      "were dropped" in e["text"]], timeout=60, what="drop count")
    d.down()


STOPPING = """
services:
  web:
    command: [sleep, "1000"]
  db:
    command: [sleep, "1000"]
hooks:
  - on: [stopping]
    services: [web]
    timeout: 20s
    command: [sh, -c, 'echo $$ > hook.pid; sleep 1; echo done > stopping.done']
  - on: [stopped]
    command: [sh, -c, 'echo "$CORRAL_EVENT_SERVICE $CORRAL_EVENT_REASON" >> stopped.txt']
"""


def test_a_service_stop_does_not_kill_its_hook_and_shutdown_waits_for_hooks(daemon, tmp_path):
    d = daemon(STOPPING)
    st, body = d.json("POST", "/v1/services/web/stop")
    assert st == 202, body
    d.wait_state("web", "stopped")
    hook = proc(wait_for(lambda: (tmp_path / "hook.pid").exists() and
                         (tmp_path / "hook.pid").read_text().strip(), what="hook started"))
    # The service's tree is gone; its hook is not part of it and finishes.
    assert d.pids("web") == []
    wait_for(lambda: (tmp_path / "stopping.done").exists(), what="hook finished")
    assert not alive(hook)
    # corral down: the stopped events of the shutdown run their hooks first.
    d.down()
    lines = (tmp_path / "stopped.txt").read_text().splitlines()
    assert "web stopped by the operator" in lines
    assert "db corral is shutting down" in lines


def test_check_shows_hooks(tmp_path):
    cfg = tmp_path / "corral.yaml"
    cfg.write_text(NOTIFY)
    r = check(cfg)
    assert r.returncode == 0, r.stderr
    assert "hook 0 (line 10)" in r.stdout and "gave_up" in r.stdout
    r = check(cfg, "--json")
    h = json.loads(r.stdout)["hooks"][0]
    assert h["on"] == ["gave_up"] and h["services"] == ["crash"] and h["timeout_ms"] == 10000
    cfg.write_text(NOTIFY.replace("[gave_up]", "[gave_upp]"))
    r = check(cfg)
    assert r.returncode == 2
    assert "corral.yaml:10:10: hooks[0].on[0]: unknown event 'gave_upp' (did you mean " \
           "'gave_up'?)" in r.stderr


LEFT = """
containment: cgroup
services:
  web:
    command: [sleep, "1000"]
    stop: {timeout: 2s}
hooks:
  - {on: [started], timeout: 1h, command: [sh, -c, 'echo $$ > hook.pid; exec sleep 1000']}
"""


def test_a_hook_left_by_a_killed_corral_is_killed_by_the_next(daemon, tmp_path):
    d = daemon(LEFT)
    hook = proc(wait_for(lambda: (tmp_path / "hook.pid").exists() and
                         (tmp_path / "hook.pid").read_text().strip(), what="hook started"))
    (tmp_path / "hook.pid").unlink()
    d.ps.kill()
    d.ps.wait(10)
    assert alive(hook)  # in its cgroup, with nobody to kill it at its timeout
    d2 = daemon(LEFT)
    wait_for(lambda: not alive(hook), what="old hook killed")
    # The new corral's own hook (for the restarted web) is still running at
    # the end: corral gives it the longest stop timeout (2s), then kills it.
    mine = proc(wait_for(lambda: (tmp_path / "hook.pid").exists() and
                         (tmp_path / "hook.pid").read_text().strip(), what="new hook started"))
    assert alive(mine)
    d2.down()
    assert not alive(hook) and not alive(mine)
    assert "still running as corral exits: killed" in (d2.state / "corral.log").read_text()


def test_doctor_and_cleanup_see_the_hooks_a_killed_corral_left(daemon, tmp_path):
    d = daemon(LEFT)
    hook = proc(wait_for(lambda: (tmp_path / "hook.pid").exists() and
                         (tmp_path / "hook.pid").read_text().strip(), what="hook started"))

    def doctor():
        return subprocess.run([CORRAL, "doctor", "-f", str(d.cfg)], capture_output=True,
                              text=True, timeout=60).stdout
    # A running corral's hook is its own to end: no orphan.
    out = doctor()
    assert "orphans of this corral: none" in out, out
    d.ps.kill()
    d.ps.wait(10)
    out = doctor()
    row = [l for l in out.splitlines() if l.split()[:1] == [str(hook.pid)]]
    assert row and ".hook-" in row[0], out
    r = subprocess.run([CORRAL, "cleanup", "-f", str(d.cfg), "--yes"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not alive(hook), what="the hook killed")
    assert d.tagged() == {}


@pytest.mark.parametrize("mode", MODES)
def test_what_a_hook_leaves_is_no_orphan_and_feeds_no_hook(daemon, tmp_path, mode):
    """A hook on reaped that leaves a child: that child's end is not a
    service's orphan, so it is not reported and runs no hook again (it did,
    for ever). A service's own orphan still is, and runs the hook once."""
    d = daemon(f"""
containment: {mode}
services:
  a:
    command: [sh, -c, '(sleep 0.3 &); exec sleep 1000']
hooks:
  - on: [started, reaped]
    shell: true
    command: 'echo run >> runs.txt; sleep 0.1 & setsid sleep 0.2 &'
""")
    time.sleep(3)  # the quantity under test is runs over a span of time
    kinds = [e["kind"] for e in events(d)]
    assert kinds.count("reaped") == 1, kinds
    assert (tmp_path / "runs.txt").read_text().count("run") == 2
    d.down()


def test_a_hook_runs_when_hooks_log_cannot_be_opened(daemon, tmp_path):
    (tmp_path / ".corral" / "hooks.log").mkdir(parents=True)  # no file can be opened there
    d = daemon("""
services:
  web:
    command: [sleep, "1000"]
hooks:
  - {on: [started], command: [touch, ran]}
""")
    wait_for((tmp_path / "ran").exists, what="the hook ran")
    errs = wait_for(lambda: [e for e in events(d) if e["kind"] == "hook_error"],
                    what="hook_error")
    assert "hooks.log" in errs[0]["reason"] and "output discarded" in errs[0]["reason"], errs
    d.down()


def test_a_hook_that_cannot_be_run_is_reported_once(daemon, tmp_path):
    d = daemon("""
services:
  web:
    command: [sleep, "1000"]
hooks:
  - {on: [started], command: [./nonexistent]}
""")
    failed = wait_for(lambda: [e for e in events(d) if e["kind"] == "hook_failed"],
                      what="hook_failed")
    time.sleep(0.5)  # its exit 127 comes next, and is not a second report
    failed = [e for e in events(d) if e["kind"] == "hook_failed"]
    assert len(failed) == 1 and "exec './nonexistent': No such file or directory" in \
        failed[0]["reason"], failed
    d.down()


RELOAD = """
services:
  web:
    command: [sleep, "1000"]
  job:
    kind: oneshot
    command: ["true"]
    autostart: false
hooks:
  - {on: [completed], command: [sh, -c, 'echo "$CORRAL_EVENT_ID" >> %s']}
"""


def test_a_reload_takes_new_hooks(daemon, tmp_path):
    d = daemon(RELOAD % "first.txt")
    start(d, "job")
    wait_for(lambda: (tmp_path / "first.txt").exists(), what="first hook")
    d.cfg.write_text(RELOAD % "second.txt")
    st, body = d.json("POST", "/v1/reload")
    assert st == 200, body
    start(d, "job")
    wait_for(lambda: (tmp_path / "second.txt").exists(), what="the reloaded hook")
    assert len((tmp_path / "first.txt").read_text().split()) == 1
    d.down()


ESCAPE = """
containment: %s
services:
  web:
    command: [sleep, "1000"]
hooks:
  # Leaves a process in a session of its own (it waits until it has left
  # its own: field 6 of stat), then ends well.
  - on: [started]
    command: [sh, -c, 'setsid sleep 1000 & p=$!;
              while [ "$(cut -d" " -f6 /proc/$p/stat)" = $$ ]; do sleep 0.01; done;
              echo $p > escaped.pid']
"""


@pytest.mark.parametrize("mode", MODES)
def test_what_a_hook_leaves_behind_is_killed_when_it_ends(daemon, tmp_path, mode):
    d = daemon(ESCAPE % mode)
    escaped = proc(wait_for(lambda: (tmp_path / "escaped.pid").exists() and
                            (tmp_path / "escaped.pid").read_text().strip(), what="hook ran"))
    wait_for(lambda: not alive(escaped), what="the escaped process killed")
    assert "hooks[0] (sh) on started web: exited 0" in \
        (d.state / "hooks.log").read_text()
    d.down()


def test_a_service_named_hooks_keeps_its_log_to_itself(daemon):
    # hooks.log is corral's, beside corral.log: in logs/ it would be the log
    # of this service too.
    d = daemon("""
services:
  hooks:
    command: [sh, -c, 'echo SERVICE-LINE; exec sleep 1000']
hooks:
  - {on: started, command: [sh, -c, 'echo HOOK-LINE']}
""")
    wait_for(lambda: (d.state / "hooks.log").exists() and
             "HOOK-LINE" in (d.state / "hooks.log").read_text(), what="hook output")
    service_log = d.state / "logs" / "hooks.log"
    wait_for(lambda: service_log.exists() and "SERVICE-LINE" in service_log.read_text(),
             what="service output")
    assert "HOOK-LINE" not in service_log.read_text()
    assert "SERVICE-LINE" not in (d.state / "hooks.log").read_text()
    d.down()


def test_a_reload_keeps_the_waiting_runs_of_unchanged_hooks(daemon, tmp_path):
    """Hook runs waiting their turn when a reload comes run all the same
    when the reload left their hook as it was."""
    d = daemon("""
services:
  other: {command: [sleep, "1100"]}
  f:
    command: ["true"]
    restart: {policy: always, initial: 10ms, max: 10ms, max_restarts: 7, window: 60s, retry_after: never}
    autostart: false
hooks:
  - {on: started, services: [f], shell: true, timeout: 30s, command: 'sleep 1; echo ran >> ran.txt'}
""")
    assert d.cli("start", "--no-wait", "f").returncode == 0
    wait_for(lambda: d.service("f")["state"] == "failed", what="f gave up")
    assert d.cli("reload").returncode == 0
    wait_for(lambda: (tmp_path / "ran.txt").exists() and
             len((tmp_path / "ran.txt").read_text().split()) == 8, timeout=20,
             what="every started hook run")
    assert not [e for e in d.events() if e["kind"] == "hooks_dropped"], d.events()
    d.down()
