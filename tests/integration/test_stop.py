"""Stops reach the whole tree, escalate to SIGKILL, and are verified."""
import os
import signal
import sys
import time

import psutil
import pytest

from conftest import MODES, gone, wait_for

DAEMON = """
containment: {mode}
services:
  daemon:
    # The main process starts a setsid'd, double-forked daemon, then waits.
    shell: true
    command: |
      setsid sh -c 'sleep 1000 & echo $! > daemon.pid; wait' &
      echo spawned
      exec sleep 1000
    stop: {{timeout: 5s}}
"""


@pytest.mark.parametrize("mode", MODES)
def test_double_forked_daemon_is_stopped(corral, tmp_path, mode):
    c = corral(DAEMON.format(mode=mode))
    c.wait_output(rf"containment: {'cgroup' if mode == 'cgroup' else 'process groups'}")
    wait_for(lambda: len(c.pids("daemon")) >= 3, what="main, setsid shell and its sleep")
    members = [psutil.Process(p) for p in c.pids("daemon")]
    # The daemon really escaped: another session than the main process.
    sids = {m.pid: __import__("os").getsid(m.pid) for m in members}
    assert len(set(sids.values())) >= 2
    assert c.stop() == 0
    for m in members:
        assert gone(m)
    assert c.tagged() == {}
    assert "daemon stopped" in c.output()


@pytest.mark.parametrize("mode", MODES)
def test_term_ignoring_service_is_killed_after_timeout(corral, mode):
    c = corral(f"""
containment: {mode}
services:
  stubborn:
    command: [sh, -c, 'trap "echo got TERM" TERM; while true; do sleep 0.1; done']
    stop: {{signal: TERM, timeout: 1s}}
""")
    wait_for(lambda: c.pids("stubborn"), what="stubborn running")
    t0 = time.monotonic()
    c.signal(signal.SIGTERM)
    c.wait_output(r"got TERM")
    assert c.wait_exit() == 0
    assert time.monotonic() - t0 >= 1.0  # not killed before its grace period
    assert "did not stop in time: SIGKILL" in c.output()
    assert c.tagged() == {}


@pytest.mark.parametrize("mode", MODES)
def test_a_stopped_process_is_continued_to_take_its_stop_signal(corral, mode):
    """A service stopped with SIGSTOP (and a child of it) would keep SIGTERM
    pending until SIGKILL at the timeout: corral continues them, so the stop
    ends when they have taken it."""
    c = corral(f"""
containment: {mode}
services:
  frozen:
    command: [sh, -c, 'sleep 1000 & exec sleep 1001']
    stop: {{timeout: 10s}}
""")
    pids = wait_for(lambda: len(c.pids("frozen")) == 2 and c.pids("frozen"), what="both up")
    procs = [psutil.Process(p) for p in pids]
    for p in procs:
        p.suspend()  # psutil checks the create time first
    wait_for(lambda: all(p.status() == psutil.STATUS_STOPPED for p in procs), what="stopped")
    t0 = time.monotonic()
    c.signal(signal.SIGTERM)
    assert c.wait_exit() == 0
    assert time.monotonic() - t0 < 5, "sat out the stop timeout"
    assert "did not stop in time" not in c.output()
    assert all(gone(p) for p in procs)


@pytest.mark.parametrize("mode", MODES)
def test_second_interrupt_kills_at_once(corral, mode):
    c = corral(f"""
containment: {mode}
services:
  stubborn:
    command: [sh, -c, 'trap "" TERM INT; while true; do sleep 0.1; done']
    stop: {{timeout: 60s}}
""")
    # Its first sleep means the trap is set: a signal before it would end it.
    wait_for(lambda: len(c.pids("stubborn")) >= 2, what="stubborn running, trap set")
    c.signal(signal.SIGINT)
    c.wait_output(r"stopping everything")
    c.signal(signal.SIGINT)
    assert c.wait_exit(timeout=15) == 0
    out = c.output()
    assert "killing every tree now" in out
    # Killed as asked, not late: and the stop's line comes before what it does.
    assert "stubborn: SIGKILL to its whole tree (every tree killed at once" in out
    assert "did not stop in time" not in out
    assert out.index("SIGINT: stopping everything") < out.index("stubborn stopping")
    assert c.tagged() == {}


def test_stop_order_is_reverse_dependency_order(corral, tmp_path):
    c = corral("""
defaults:
  stop: {timeout: 5s}
services:
  db:
    command: [sh, -c, 'trap "echo db-term >> order.log; exit 0" TERM; while true; do sleep 0.05; done']
  api:
    command: [sh, -c, 'trap "sleep 0.3; echo api-term >> order.log; exit 0" TERM; while true; do sleep 0.05; done']
    depends_on: [db]
  web:
    command: [sh, -c, 'trap "sleep 0.3; echo web-term >> order.log; exit 0" TERM; while true; do sleep 0.05; done']
    depends_on: [api]
""")
    wait_for(lambda: all(c.pids(s) for s in ("db", "api", "web")), what="all running")
    assert c.stop() == 0
    assert (tmp_path / "order.log").read_text().split() == ["web-term", "api-term", "db-term"]


@pytest.mark.parametrize("mode", MODES)
def test_many_services_start_and_stop_without_survivors(corral, mode):
    n = 500
    services = "\n".join(f"  s{i:03d}:\n    command: [sleep, '1000']" for i in range(n))
    c = corral(f"containment: {mode}\nservices:\n{services}\n", args=["-q"])
    found = wait_for(lambda: (lambda t: t if sum(len(v) for v in t.values()) == n else None)(
        c.tagged()), timeout=60, what=f"{n} services running")
    assert set(found) == {f"s{i:03d}" for i in range(n)}
    members = [p for procs in found.values() for p in procs]
    assert c.stop(timeout=120) == 0
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in members)
    assert c.tagged() == {}
    assert c.zombies_under_corral() == []


def test_stop_signal_reaches_the_tree_when_corral_runs_in_a_nested_cgroup(tmp_path):
    """/proc/PID/cgroup paths are relative to the cgroup2 mount: a corral that is
    not in the root cgroup must still recognise its members and TERM them, not
    leave them to the SIGKILL after the timeout."""
    import os
    import subprocess

    from conftest import CORRAL, tagged

    mount = None
    for line in open("/proc/self/mountinfo"):
        if " - cgroup2 " in line:
            mount = line.split()[4]
            break
    if mount is None:
        pytest.skip("no cgroup v2 hierarchy")
    nest = os.path.join(mount, f"nested-test-{os.getpid()}")
    try:
        os.mkdir(nest)
    except OSError as e:
        pytest.skip(f"cgroup v2 not writable: {e}")
    (tmp_path / "corral.yaml").write_text("""
containment: cgroup
services:
  d:
    shell: true
    command: |
      setsid sh -c 'trap "echo TERM > got; exit 0" TERM; while true; do sleep 0.05; done' &
      exec sleep 1000
    stop: {timeout: 30s}
""")
    out = open(tmp_path / "out", "wb")
    p = subprocess.Popen(["sh", "-c", f'echo $$ > {nest}/cgroup.procs && exec "$0" "$@"', CORRAL,
                          "up", "--no-color", "-f", str(tmp_path / "corral.yaml")],
                         stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    inst = None
    try:
        wait_for(lambda: "d started" in (tmp_path / "out").read_text(), what="d started")
        inst = (tmp_path / "out").read_text().split("instance ")[1][:16]
        wait_for(lambda: len(tagged(inst).get("d", [])) >= 2, what="daemon running")
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0  # long before the 30 s timeout: TERM reached the daemon
        assert (tmp_path / "got").read_text().strip() == "TERM"
        assert tagged(inst) == {}
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if inst:
            for procs in tagged(inst).values():
                for q in procs:
                    q.kill()
        out.close()
        # Empty cgroups only: a corral killed above may have left its subtree.
        for root, dirs, _ in sorted(os.walk(nest), key=lambda w: -len(w[0])):
            try:
                os.rmdir(root)
            except OSError:
                pass


def term_ignoring_main_with_child(corral, tmp_path, mode, spawn_child):
    """A service whose main (sh) ignores TERM and lives on until its 6 s stop
    timeout, with a child started by spawn_child; returns (corral, main, child)."""
    c = corral(f"""
containment: {mode}
services:
  main:
    command: [sh, -c, '{spawn_child} & echo $! > child.pid; trap "" TERM; while true; do sleep 0.1; done']
    stop: {{timeout: 6s}}
""")
    child = psutil.Process(wait_for(lambda: (tmp_path / "child.pid").exists() and
                                    int((tmp_path / "child.pid").read_text() or 0),
                                    what="child pid"))
    main = next(p for p in c.tagged()["main"] if p.name() == "sh")
    return c, main, child


def stop_reaches_child_before_main(c, main, child):
    """TERM to corral: the child is gone by TERM long before the main's SIGKILL,
    and at the end nothing of the tree is left."""
    t0 = time.monotonic()
    c.signal(signal.SIGTERM)
    wait_for(lambda: gone(child), timeout=3, what="the child gone by TERM")
    assert time.monotonic() - t0 < 3
    assert main.is_running() and main.status() != psutil.STATUS_ZOMBIE
    assert c.wait_exit() == 0
    assert c.tagged() == {}


@pytest.mark.parametrize("mode", MODES)
def test_rest_of_tree_gets_stop_signal_while_main_ignores_it(corral, tmp_path, mode):
    """The main process ignores TERM and lives until SIGKILL at the timeout;
    the rest of its tree still gets TERM long before that."""
    c, main, child = term_ignoring_main_with_child(corral, tmp_path, mode, "sleep 1000")
    stop_reaches_child_before_main(c, main, child)
    assert "did not stop in time: SIGKILL" in c.output()


@pytest.mark.parametrize("mode", MODES)
def test_setsid_descendant_of_a_live_main_gets_the_stop_signal(corral, tmp_path, mode):
    """A descendant in a session of its own, under a main process that ignores
    TERM and lives on: not in the main's process group and not corral's
    child, it is found below the main and gets TERM long before the main's
    SIGKILL."""
    c, main, child = term_ignoring_main_with_child(corral, tmp_path, mode, "setsid sleep 1000")
    wait_for(lambda: os.getsid(child.pid) == child.pid, what="the child in its own session")
    assert child.ppid() == main.pid
    stop_reaches_child_before_main(c, main, child)


HANDLER = """
import signal, subprocess, sys, time
def on_term(*_):
    # A graceful stop's own work, begun after the stop signal and before
    # corral sweeps the rest of the tree (100 ms in), in a session of its own.
    time.sleep(0.04)
    helper = subprocess.Popen(["setsid", "sh", "-c", "sleep 0.6; echo done > helper.out"])
    sys.exit(helper.wait())
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
time.sleep(1000)
"""


@pytest.mark.parametrize("mode", MODES)
def test_a_stop_handler_s_own_helper_is_left_to_finish(corral, tmp_path, mode):
    """The stop signal goes to what was there when the stop began: a helper
    the main process's handler starts afterwards is not signalled by the
    sweep of the rest of the tree, and its work is done before the stop
    ends."""
    (tmp_path / "handler.py").write_text(HANDLER)
    c = corral(f"""
containment: {mode}
services:
  graceful:
    command: [{sys.executable}, handler.py]
    stop: {{timeout: 10s}}
""")
    c.wait_output(r"graceful \| ready")
    t0 = time.monotonic()
    assert c.stop() == 0
    assert (tmp_path / "helper.out").read_text() == "done\n"
    assert 0.6 < time.monotonic() - t0 < 8
    assert "graceful exited" in c.output() or "graceful stopped" in c.output(), c.output()
    assert c.tagged() == {}
