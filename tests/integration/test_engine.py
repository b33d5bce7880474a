"""Spawn, tag, dependency order, restart policy, reaping."""
import os
import signal
import time

import psutil
import pytest

from conftest import MODES, check, gone, wait_for


def test_services_are_tagged_in_own_group(corral):
    c = corral("""
services:
  a:
    command: [sleep, '1000']
    env: {GREETING: hello}
""")
    pid = wait_for(lambda: c.pids("a"), what="a running")[0]
    p = psutil.Process(pid)
    env = p.environ()
    assert env["CORRAL_SERVICE"] == "a"
    assert env["CORRAL_INSTANCE"] == c.instance
    assert env["GREETING"] == "hello"
    assert os.getpgid(pid) == pid and os.getsid(pid) == pid
    assert p.ppid() == c.proc.pid
    assert c.stop() == 0


def test_oneshot_gates_dependants(corral, tmp_path):
    c = corral("""
services:
  migrate:
    kind: oneshot
    command: [sh, -c, 'sleep 0.5; echo migrated > migrated.txt']
  web:
    command: [sh, -c, 'cat migrated.txt; exec sleep 1000']
    depends_on: {migrate: {condition: completed}}
""")
    c.wait_output(r"migrate completed")
    c.wait_output(r"web +\| migrated")
    out = c.output()
    assert out.index("migrate completed") < out.index("web started")
    assert c.stop() == 0


def test_failed_oneshot_blocks_dependants_with_reason(corral):
    c = corral("""
services:
  migrate:
    kind: oneshot
    command: [sh, -c, 'echo boom >&2; exit 3']
  web:
    command: [sleep, '1000']
    depends_on: {migrate: {condition: completed}}
""")
    assert c.wait_exit() == 1
    out = c.output()
    assert "migrate failed: exited 3" in out
    assert "web failed: dependency 'migrate' failed" in out
    assert "web started" not in out


def test_crash_loop_backs_off_then_fails(corral, tmp_path):
    c = corral("""
services:
  crash:
    command: [sh, -c, 'date +%s.%N >> spawns.txt; exit 1']
    restart: {policy: on-failure, initial: 100ms, multiplier: 2, max: 800ms, jitter: 0%, max_restarts: 5, window: 60s}
""")
    assert c.wait_exit(timeout=20) == 1
    times = [float(x) for x in (tmp_path / "spawns.txt").read_text().split()]
    # One first run + max_restarts restarts, then it gives up for good.
    assert len(times) == 6
    gaps = [b - a for a, b in zip(times, times[1:])]
    for gap, nominal in zip(gaps, [0.1, 0.2, 0.4, 0.8, 0.8]):
        assert gap >= nominal * 0.9, (gaps, nominal)
    assert "crash failed: gave up after 5 restarts in 60s (last: exited 1)" in c.output()
    time.sleep(1.0)  # a give-up is final: nothing respawns afterwards
    assert len((tmp_path / "spawns.txt").read_text().split()) == 6


def test_spawn_count_over_ten_seconds_matches_policy(corral, tmp_path):
    c = corral("""
services:
  flappy:
    command: [sh, -c, 'echo x >> spawns.txt; exit 2']
    restart: {policy: always, initial: 1s, multiplier: 1, max: 1s, jitter: 0%, max_restarts: 0}
""")
    time.sleep(10.0)  # the quantity under test is a count over a fixed period
    n = len((tmp_path / "spawns.txt").read_text().split())
    assert c.stop() == 0
    # 1 s apart from t=0: 10 or 11 runs, never a burst of immediate restarts.
    assert 9 <= n <= 11, n


def test_exec_failure_is_reported(corral):
    c = corral("""
services:
  typo:
    command: [definitely-not-a-program-xyz]
    restart: {policy: no}
""")
    assert c.wait_exit() == 1
    c.wait_output(r"typo exited 127|exec 'definitely-not-a-program-xyz'")
    assert "No such file or directory" in c.output()


@pytest.mark.parametrize("code,status", [(3, 1), (0, 0)])
def test_exit_status_says_a_run_that_was_not_restarted_failed(corral, code, status):
    # policy: no leaves it "exited", not given up on; whether the run
    # succeeded is still what corral's exit status says.
    c = corral(f"""
services:
  job:
    command: [sh, -c, 'exit {code}']
    restart: {{policy: "no"}}
""")
    assert c.wait_exit() == status
    assert f"job exited {code}" in c.output()


@pytest.mark.parametrize("mode", MODES)
def test_no_zombie_remains_under_corral(corral, tmp_path, mode):
    c = corral(f"""
containment: {mode}
services:
  zombies:
    # Orphans that die after their parent: reparented to corral, which reaps them.
    shell: true
    command: |
      for i in $(seq 1 30); do (sleep 0.2 &) ; done
      exec sleep 1000
""")
    wait_for(lambda: c.pids("zombies"), what="running")
    wait_for(lambda: c.output().count("reaped orphaned descendant") >= 30, what="30 orphans reaped")
    assert c.output().count(" of zombies (status 0)") == 30, c.output()
    assert c.zombies_under_corral() == []
    assert c.stop() == 0


@pytest.mark.parametrize("mode", MODES)
def test_what_a_stop_ends_is_no_orphan_but_a_running_services_is(daemon, tmp_path, mode):
    """A `sh -c` whose children outlive it by a moment at a stop: they are the
    stopped service's tree, not orphans, and fired a `reaped` event (and its
    hooks) at every routine stop, restart and shutdown. An orphan that ends
    while its service runs is still one, and names that service."""
    (tmp_path / "child.sh").write_text(
        "trap 'sleep 0.3; exit 0' TERM\nwhile :; do sleep 1; done\n")
    d = daemon(f"""
containment: {mode}
services:
  shell:
    # The second child leaves the group and session: found by its tag.
    command: [sh, -c, 'sh child.sh & setsid sh child.sh & wait']
  leaker:
    command: [sh, -c, '(sleep 0.3 &); exec sleep 1000']
""")
    reaped = lambda: [e for e in d.events() if e["kind"] == "reaped"]
    wait_for(reaped, what="the leaker's orphan reaped")
    wait_for(lambda: len(d.pids("shell")) == 5, what="sh, two child.sh and their sleeps")
    children = [p for p in d.pids("shell") if p != d.service("shell")["pid"]]
    for verb in ("restart", "stop"):
        r = d.cli(verb, "shell")
        assert r.returncode == 0, r.stdout + r.stderr
    assert all(not psutil.pid_exists(p) or gone(psutil.Process(p)) for p in children)
    assert not [e for e in reaped() if e["pid"] in children], reaped()
    assert [e["text"] for e in reaped()] == ["leaker"], reaped()
    r = d.cli("start", "shell")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: len(d.pids("shell")) == 5, what="shell started again")
    d.down()
    log = (d.state / "corral.log").read_text()
    assert log.count("reaped orphaned descendant") == 1, log


def test_interrupt_during_startup_stops_everything(corral):
    services = "\n".join(
        f"  w{i}:\n    command: [sleep, '1000']\n    depends_on: {{gate: {{condition: completed}}}}"
        for i in range(20))
    c = corral(f"""
services:
  gate:
    kind: oneshot
    command: [sh, -c, 'sleep 0.3']
  early:
    command: [sleep, '1000']
{services}
""", args=["-q"])
    c.wait_output(r"early started")
    c.signal(signal.SIGINT)
    assert c.wait_exit() == 0
    assert c.tagged() == {}


def test_config_error_starts_nothing(corral, tmp_path):
    c = corral("""
services:
  web:
    comand: [sleep, '1000']
""")
    assert c.wait_exit() == 2
    out = c.output()
    assert "corral.yaml:4:5" in out and "did you mean 'command'" in out
    assert "started" not in out


def test_check_prints_model_and_containment(tmp_path):
    cfg = tmp_path / "corral.yaml"
    cfg.write_text("services:\n  a:\n    command: [sleep, '1']\n")
    r = check(cfg)
    assert r.returncode == 0, r.stderr
    assert "containment:" in r.stdout
    r = check(cfg, "--json")
    assert r.returncode == 0
    import json
    assert "a" in json.dumps(json.loads(r.stdout))
    cfg.write_text("services:\n  a:\n    command: [sleep, '1']\n    stop: {signal: TREM}\n")
    r = check(cfg)
    assert r.returncode == 2
    assert "corral.yaml:4:" in r.stderr


def test_stable_run_resets_backoff(corral, tmp_path):
    c = corral("""
services:
  steady:
    # Runs 1 s, longer than reset_after, then fails: every restart is a first one.
    command: [sh, -c, 'date +%s.%N >> spawns.txt; sleep 1; exit 1']
    restart: {policy: on-failure, initial: 100ms, multiplier: 4, max: 10s, jitter: 0%, reset_after: 500ms, max_restarts: 0}
""")
    wait_for(lambda: len((tmp_path / "spawns.txt").read_text().split()) >= 4
             if (tmp_path / "spawns.txt").exists() else False, timeout=20, what="4 runs")
    assert c.stop() == 0
    times = [float(x) for x in (tmp_path / "spawns.txt").read_text().split()]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # Without the reset the third gap would be 1 s + 1.6 s.
    assert all(g < 2.0 for g in gaps[:3]), gaps


def test_named_services_start_with_their_dependencies_only(corral):
    c = corral("""
services:
  db:
    command: [sleep, '1000']
  api:
    command: [sleep, '1000']
    depends_on: [db]
  other:
    command: [sleep, '1000']
""", args=["api"])
    wait_for(lambda: c.pids("api") and c.pids("db"), what="api and db")
    assert c.pids("other") == []
    assert c.stop() == 0


def test_autostart_false_is_not_started(corral):
    c = corral("""
services:
  on:
    command: [sleep, '1000']
  off:
    command: [sleep, '1000']
    autostart: false
""")
    wait_for(lambda: c.pids("on"), what="on running")
    assert c.pids("off") == []
    assert c.stop() == 0


def test_colour_and_alignment_on_a_terminal(tmp_path):
    import pty
    import subprocess
    from conftest import CORRAL
    (tmp_path / "corral.yaml").write_text("""
services:
  a-long-name:
    kind: oneshot
    command: [echo, hello]
""")
    master, slave = pty.openpty()
    p = subprocess.Popen([CORRAL, "up", "-f", str(tmp_path / "corral.yaml")],
                         stdout=slave, stderr=slave, cwd=tmp_path)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert p.wait(10) == 0
    os.close(master)
    text = out.decode()
    assert "\033[" in text  # coloured on a terminal
    assert "a-long-name |\033[0m hello" in text
    assert "corral      |" in text  # names padded to the longest
