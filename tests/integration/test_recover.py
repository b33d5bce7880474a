"""Recovery after a kill -9 of corral: nothing orphaned, nothing doubled, and a
record that names someone else's process never gets it signalled."""
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest

from conftest import CORRAL, MODES, tagged, wait_for


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack(mode, port, on_recover):
    # Five services: a loopback listener, a double-forked daemon, one that
    # ignores TERM, a process group of three, and a plain sleeper.
    return f"""
containment: {mode}
defaults:
  on_recover: {on_recover}
  stop: {{timeout: 2s}}
services:
  web:
    command: [{sys.executable}, -m, http.server, "{port}", --bind, 127.0.0.1]
  daemon:
    shell: true
    command: "(setsid sleep 1001 &); exec sleep 1002"
  stubborn:
    shell: true
    command: "trap '' TERM; while :; do sleep 0.2; done"
  group:
    shell: true
    command: "sleep 1003 & sleep 1004 & wait"
  plain:
    command: [sleep, "1005"]
"""


def listening_pid(port):
    for c in psutil.net_connections("tcp4"):
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN:
            return c.pid
    return None


def snapshot(instance):
    """Every live tagged process, by service: (pid, create time)."""
    return {svc: sorted((p.pid, p.create_time()) for p in procs)
            for svc, procs in tagged(instance).items()}


def gone(pid):
    """Exited: adopted processes are not corral's children, so once dead they
    may linger as zombies of whoever their parent is now."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def kill9(d):
    d.ps.send_signal(signal.SIGKILL)
    wait_for(lambda: not d.alive(), what="corral gone")


def settled_copies(d, names):
    """Each service runs exactly once: one main, and its tree's usual size."""
    def ok():
        for n in names:
            s = d.service(n)
            if s["state"] != "running" or not s["pid"]:
                return False
        return True
    wait_for(ok, timeout=20, what="every service running")


@pytest.mark.parametrize("mode", MODES)
def test_restart_leaves_no_old_process_and_one_new_copy(daemon, tmp_path, mode):
    port = free_port()
    text = stack(mode, port, "restart")
    d1 = daemon(text)
    names = ["web", "daemon", "stubborn", "group", "plain"]
    settled_copies(d1, names)
    wait_for(lambda: listening_pid(port), what="web listening")
    wait_for(lambda: len(snapshot(d1.instance).get("group", [])) == 3, what="group of three")
    before = snapshot(d1.instance)
    old = {pid for procs in before.values() for pid, _ in procs}
    assert len(before["daemon"]) == 2  # the main and its double-forked child
    kill9(d1)
    # Still running without corral: the case recovery is for.
    assert all(not gone(p) for svc, procs in before.items() if svc != "stubborn"
               for p, _ in procs)

    d2 = daemon(text)
    settled_copies(d2, names)
    wait_for(lambda: all(gone(p) for p in old), timeout=15, what="old processes gone")
    after = wait_for(lambda: (s := snapshot(d2.instance)) and len(s.get("group", [])) == 3
                     and len(s.get("daemon", [])) == 2 and s, what="new trees complete")
    for svc in names:
        assert not {pid for pid, _ in after[svc]} & old, svc
    assert len(after["web"]) == 1 and len(after["plain"]) == 1
    assert len(after["stubborn"]) >= 1 and len(after["group"]) == 3
    holder = wait_for(lambda: listening_pid(port), what="new web listening")
    assert holder == d2.service("web")["pid"]
    kinds = [(e["kind"], e.get("service")) for e in d2.events()]
    assert ("recovering", "web") in kinds and ("recovering", "stubborn") in kinds
    d2.down()
    assert not tagged(d2.instance)


@pytest.mark.parametrize("mode", MODES)
def test_adopt_keeps_the_same_processes_and_controls_them(daemon, tmp_path, mode):
    port = free_port()
    text = stack(mode, port, "adopt")
    d1 = daemon(text)
    names = ["web", "daemon", "stubborn", "group", "plain"]
    settled_copies(d1, names)
    wait_for(lambda: listening_pid(port), what="web listening")
    wait_for(lambda: len(snapshot(d1.instance).get("group", [])) == 3, what="group of three")
    before = snapshot(d1.instance)
    mains = {n: d1.service(n)["pid"] for n in names}
    for n, pid in mains.items():
        d1.wait_recorded(n, pid)
    kill9(d1)

    d2 = daemon(text)
    settled_copies(d2, names)
    for n in names:
        s = d2.service(n)
        assert s["pid"] == mains[n] and s["adopted"] is True, s
    time.sleep(0.5)  # nothing more is started behind our back

    def steady(snap):  # stubborn's short sleeps come and go
        return {k: v for k, v in snap.items() if k != "stubborn"}
    assert steady(snapshot(d2.instance)) == steady(before)
    assert listening_pid(port) == mains["web"]

    # stop works on an adopted tree: the double-forked child goes too.
    daemon_tree = {pid for pid, _ in before["daemon"]}
    r = d2.cli("stop", "daemon")
    assert r.returncode == 0, r.stderr
    assert all(gone(p) for p in daemon_tree)
    # TERM-ignoring: the stop timeout, then SIGKILL, through the pidfd/cgroup.
    r = d2.cli("stop", "stubborn")
    assert r.returncode == 0, r.stderr
    assert all(gone(p) for p, _ in before["stubborn"])
    # restart replaces an adopted process with one corral started.
    r = d2.cli("restart", "web")
    assert r.returncode == 0, r.stderr
    s = d2.service("web")
    assert s["pid"] != mains["web"] and s["adopted"] is False
    assert gone(mains["web"])
    assert wait_for(lambda: listening_pid(port)) == s["pid"]
    # An adopted process that dies is noticed through its pidfd and restarted.
    psutil.Process(mains["plain"]).kill()
    new = wait_for(lambda: (p := d2.service("plain")["pid"]) not in (None, mains["plain"]) and p,
                   what="plain restarted")
    assert psutil.Process(new).ppid() == d2.info["pid"]
    d2.down()
    assert not tagged(d2.instance)


def test_pid_reuse_trap_leaves_the_stranger_alone(daemon, tmp_path):
    text = """
services:
  web:
    command: [sleep, "1006"]
"""
    d1 = daemon(text)
    main = d1.wait_state("web", "running")["pid"]
    kill9(d1)
    psutil.Process(main).kill()  # corral's own process, gone while corral is down
    wait_for(lambda: gone(main), what="web gone")
    # A stranger: untagged, not in corral's cgroup, and it reports any signal.
    marks = tmp_path / "signals"
    stranger = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, sys, time\n"
         "def h(n, f):\n"
         f"    open({str(marks)!r}, 'a').write(str(n) + '\\n')\n"
         "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):\n"
         "    signal.signal(s, h)\n"
         "time.sleep(600)\n"], start_new_session=True)
    try:
        p = psutil.Process(stranger.pid)
        ticks = int(open(f"/proc/{stranger.pid}/stat").read().rsplit(")", 1)[1].split()[19])
        db = sqlite3.connect(d1.state / "state.db")
        # Same PID as the record names, a different start time: another process.
        db.execute("UPDATE service_run SET pid = ?, pgid = ?, start_ticks = ? WHERE name = 'web'",
                   (stranger.pid, stranger.pid, ticks + 1))
        db.commit()
        db.close()
        d2 = daemon(text)
        new = d2.wait_state("web", "running")["pid"]
        assert new != stranger.pid
        time.sleep(0.5)
        assert p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        assert not marks.exists(), marks.read_text()
        kinds = [(e["kind"], e.get("text", "")) for e in d2.events()]
        assert any(k == "stale" and str(stranger.pid) in t for k, t in kinds), kinds
        assert "stale record ignored" in (d2.state / "corral.log").read_text()
        d2.down()
        assert p.is_running() and not marks.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_an_operator_stop_survives_a_kill_9(daemon):
    text = """
services:
  web: {command: [sleep, "1007"]}
  db: {command: [sleep, "1008"]}
"""
    d1 = daemon(text)
    d1.wait_state("web", "running")
    assert d1.cli("stop", "web").returncode == 0
    db_pid = d1.service("db")["pid"]
    kill9(d1)
    d2 = daemon(text)
    assert d2.service("web")["state"] == "stopped"
    assert not d2.pids("web")
    assert d2.wait_state("db", "running")["pid"] != db_pid  # restarted afresh
    assert gone(db_pid)
    d2.down()


def test_an_operator_stopped_service_keeps_its_counters_across_a_kill_9(daemon, tmp_path):
    """Its runs, restarts and last exit started again from 0, as if it had
    never run, where a service kept in backoff or failed kept them."""
    text = """
services:
  flaky:
    shell: true
    # Two quick failures, then it stays up.
    command: 'n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; [ $n -ge 2 ] || exit 3; exec sleep 1009'
    restart: {policy: on-failure, initial: 10ms, jitter: 0%}
"""
    d1 = daemon(text)
    wait_for(lambda: d1.service("flaky")["runs"] == 3 and d1.service("flaky")["state"] == "running",
             what="two restarts, then running")
    assert d1.cli("stop", "flaky").returncode == 0
    before = d1.service("flaky")
    assert before["restarts"] == 2, before
    d1.wait_recorded("flaky", 0)
    kill9(d1)
    d2 = daemon(text)
    after = d2.service("flaky")
    assert after["state"] == "stopped" and after["stopped_by_operator"], after
    assert (after["runs"], after["restarts"]) == (3, 2), after
    d2.down()


def test_a_stop_cut_short_by_a_kill_9_is_said_to_stay_a_stop(daemon):
    """The operator's stop was under way (a slow TERM handler) when corral
    was killed: the next corral finishes it and says so, not 'to start
    afresh'."""
    text = """
services:
  slow:
    command: [sh, -c, 'trap "sleep 3; exit 0" TERM; while :; do sleep 0.1; done']
"""
    d1 = daemon(text)
    pid = d1.wait_state("slow", "running")["pid"]
    assert d1.cli("stop", "--no-wait", "slow").returncode == 0
    wait_for(lambda: d1.service("slow")["state"] == "stopping", what="stopping")
    kill9(d1)
    d2 = daemon(text)
    d2.wait_state("slow", "stopped")
    log = (d2.state / "corral.log").read_text()
    assert f"slow: stopping pid {pid} and its tree, left by the previous corral: the operator " \
        "stopped it" in log, log
    assert "to start afresh" not in log
    assert not d2.pids("slow")
    d2.down()


def test_a_service_started_by_hand_is_started_afresh_after_a_kill_9(daemon):
    # autostart: false keeps it from starting on its own, not from coming
    # back after a crash of corral, as on_recover: restart says.
    text = """
services:
  main: {command: [sleep, "1009"]}
  lazy: {command: [sleep, "1010"], autostart: false}
"""
    d1 = daemon(text)
    assert d1.cli("start", "lazy").returncode == 0
    lazy_pid = d1.service("lazy")["pid"]
    old = psutil.Process(lazy_pid)
    kill9(d1)
    d2 = daemon(text)
    assert d2.wait_state("lazy", "running")["pid"] != lazy_pid
    # is_running() compares create times: a reused PID is not the old one.
    wait_for(lambda: not old.is_running() or old.status() == psutil.STATUS_ZOMBIE,
             what="the old lazy gone")
    assert len(d2.pids("lazy")) == 1
    d2.down()


def test_an_adopted_service_keeps_its_last_exit(daemon, tmp_path):
    # The record holds the counters and the last exit: all come back.
    text = """
services:
  flaky:
    # Exits 3 on its first run only, then stays.
    command: [sh, -c, 'if [ ! -e once ]; then touch once; exit 3; fi; exec sleep 1018']
    restart: {policy: on-failure, initial: 10ms}
    on_recover: adopt
"""
    d1 = daemon(text)
    s = wait_for(lambda: (s := d1.service("flaky"))["runs"] == 2 and s["pid"] and s,
                 what="flaky on its second run")
    assert s["last_exit"]["code"] == 3, s
    d1.wait_recorded("flaky", s["pid"])
    kill9(d1)
    d2 = daemon(text)
    a = d2.service("flaky")
    assert a["adopted"] and a["pid"] == s["pid"], a
    assert a["runs"] == 2 and a["restarts"] == 1 and a["last_exit"] == s["last_exit"], a
    d2.down()


def test_kill_9_in_a_burst_of_state_changes(daemon):
    names = [f"svc{i}" for i in range(12)]
    text = "services:\n" + "".join(f"  {n}: {{command: [sleep, \"{1100 + i}\"]}}\n"
                                   for i, n in enumerate(names))
    d1 = daemon(text)
    # Restarts of every service, back to back, and corral killed while the
    # last ones are still stopping and starting.
    for _ in range(5):
        for n in names:
            status, _ = d1.json("POST", f"/v1/services/{n}/restart")
            assert status in (200, 202), status
    kill9(d1)
    d2 = daemon(text)
    log = (d2.state / "corral.log").read_text()
    assert "unusable" not in log and "could not" not in log, log[-2000:]
    db = sqlite3.connect(d2.state / "state.db")
    assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert sorted(r[0] for r in db.execute("SELECT name FROM service_run")) == sorted(names)
    db.close()
    # Exactly one copy of each, and it is the one corral reports.
    procs = tagged(d2.instance)
    for n in names:
        assert [p.pid for p in procs.get(n, [])] == [d2.service(n)["pid"]], n
    d2.down()
    assert not tagged(d2.instance)


@pytest.mark.parametrize("mode", MODES)
def test_a_tree_killed_with_sigkill_restarts_cleanly(daemon, mode):
    # The kernel kills anything cloned into a cgroup that once had
    # cgroup.kill written: a restart must not reuse that cgroup.
    d = daemon(f"""
containment: {mode}
services:
  stubborn:
    shell: true
    command: "trap '' TERM; while :; do sleep 0.2; done"
    stop: {{timeout: 300ms}}
""")
    first = d.wait_state("stubborn", "running")["pid"]
    wait_for(lambda: len(d.pids("stubborn")) >= 2, what="the trap set")  # its first sleep
    r = d.cli("restart", "stubborn")
    assert r.returncode == 0, r.stderr + r.stdout
    s = d.service("stubborn")
    assert s["pid"] != first and s["last_exit"]["text"] == "killed by SIGKILL"
    time.sleep(1.0)
    again = d.service("stubborn")
    assert again["pid"] == s["pid"] and again["state"] == "running" and again["restarts"] == 0
    d.down()


def test_on_recover_changes_on_reload_without_a_restart(daemon):
    d = daemon("services:\n  web: {command: [sleep, \"1009\"]}\n")
    pid = d.wait_state("web", "running")["pid"]
    d.cfg.write_text("services:\n  web: {command: [sleep, \"1009\"], on_recover: adopt}\n")
    r = d.cli("reload", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["unchanged"] == ["web"] and plan["changed"] == []
    assert d.service("web")["pid"] == pid
    # The new setting is the one a crash now meets.
    kill9(d)
    d2 = daemon(d.cfg.read_text())
    assert d2.wait_state("web", "running")["pid"] == pid
    assert d2.service("web")["adopted"] is True
    d2.down()


TALKER = """
containment: {mode}
services:
  talker:
    shell: true
    # sh's echo dies of SIGPIPE on a broken pipe: the holder must prevent it.
    command: "i=0; while :; do echo line $i; echo err $i >&2; i=$((i+1)); sleep 0.05; done"
    on_recover: adopt
"""


def holders(state):
    """The output holder of this state dir: the process with fdhold.sock's
    listening socket open."""
    sock = str(state / "fdhold.sock")
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if p.info["cmdline"] and p.info["cmdline"][:1] == ["corral-fdhold"] and any(
                    c.laddr == sock for c in p.connections("unix")):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def numbers(path, word):
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-2] == word:
            out.append(int(parts[-1]))
    return out


@pytest.mark.parametrize("mode", MODES)
def test_adopted_output_outlives_the_crash(daemon, mode):
    text = TALKER.format(mode=mode)
    d1 = daemon(text)
    pid = d1.wait_state("talker", "running")["pid"]
    assert len(holders(d1.state)) == 1
    d1.wait_recorded("talker", pid)
    kill9(d1)
    time.sleep(1.0)  # it goes on talking while no corral reads
    assert not gone(pid)
    d2 = daemon(text)
    assert d2.service("talker")["pid"] == pid
    log = d2.state / "logs" / "talker.log"
    wait_for(lambda: len(numbers(log, "line")) > 40, what="output after the restart")
    for word in ("line", "err"):
        seen = numbers(log, word)
        assert seen == list(range(len(seen))), f"{word}: a gap or a repeat"
    assert "took back 2 output pipes from the output holder" in (d2.state / "corral.log").read_text()
    d2.down()
    wait_for(lambda: not holders(d2.state), what="the holder gone after down")
    assert not (d2.state / "fdhold.sock").exists()


@pytest.mark.parametrize("mode", MODES)
def test_an_output_holder_that_goes_is_replaced(daemon, mode):
    """A holder killed while corral runs was noticed only at the next write to
    it, and never replaced: the next crash of corral then ended the services
    it would have adopted with SIGPIPE."""
    text = TALKER.format(mode=mode)
    d1 = daemon(text)
    pid = d1.wait_state("talker", "running")["pid"]
    d1.wait_recorded("talker", pid)
    old = wait_for(lambda: holders(d1.state), what="the holder")[0]
    old.kill()
    wait_for(lambda: [h for h in holders(d1.state) if h.pid != old.pid], what="a new holder")
    log = (d1.state / "corral.log").read_text()
    assert "the output holder went away; starting another" in log, log
    assert not [e for e in d1.events() if e["kind"] == "reaped"]  # corral's own, no orphan
    kill9(d1)
    time.sleep(1.0)
    assert not gone(pid), "the talker died with its pipe"
    d2 = daemon(text)
    assert d2.service("talker")["pid"] == pid
    assert "took back 2 output pipes from the output holder" in (d2.state / "corral.log").read_text()
    d2.down()
    wait_for(lambda: not holders(d2.state), what="the holder gone after down")


def abstract_names():
    """Every abstract unix socket name bound on the host, as "@name"."""
    with open("/proc/net/unix") as f:
        return {cols[7] for cols in (line.split() for line in list(f)[1:]) if len(cols) > 7}


def test_a_crash_leaves_the_instance_free(daemon):
    """The instance's guard goes with corral: neither its output holder nor
    its services, which outlive a kill -9, keep the name."""
    text = TALKER.format(mode="cgroup")
    d1 = daemon(text)
    pid = d1.wait_state("talker", "running")["pid"]
    name = f"@corral/{d1.instance}"
    assert name in abstract_names()
    holder = holders(d1.state)
    assert len(holder) == 1
    kill9(d1)
    assert not gone(pid) and holder[0].is_running()
    wait_for(lambda: name not in abstract_names(), timeout=5, what="the guard freed")
    d2 = daemon(text)
    assert d2.service("talker")["pid"] == pid
    assert name in abstract_names()
    d2.down()
    wait_for(lambda: name not in abstract_names(), timeout=5, what="the guard freed by down")


def test_the_holder_goes_when_nothing_is_left_to_hold(daemon):
    d1 = daemon(TALKER.format(mode="cgroup"))
    pid = d1.wait_state("talker", "running")["pid"]
    d1.wait_recorded("talker", pid)
    kill9(d1)
    holder = holders(d1.state)
    assert len(holder) == 1
    psutil.Process(pid).kill()  # what a `corral cleanup` would do
    holder[0].wait(10)


def test_a_service_removed_while_corral_was_down_is_stopped(daemon):
    both = """
services:
  keep: {command: [sleep, "1010"]}
  gone:
    shell: true
    command: "(setsid sleep 1012 &); exec sleep 1011"
"""
    d1 = daemon(both)
    d1.wait_state("gone", "running")
    keep = d1.service("keep")["pid"]
    gone_tree = wait_for(lambda: len(d1.pids("gone")) == 2 and d1.pids("gone"),
                         what="gone's two processes")
    kill9(d1)
    d2 = daemon("services:\n  keep: {command: [sleep, \"1010\"]}\n")
    wait_for(lambda: all(gone(p) for p in gone_tree), timeout=20, what="the removed tree stopped")
    assert d2.wait_state("keep", "running")["pid"] != keep
    log = d2.state / "corral.log"
    wait_for(lambda: "stopped 2 processes" in log.read_text(), what="cleanup's report")
    assert "no longer configured" in log.read_text()
    # The cleanup is corral's own helper: its end is said as such, no orphan's.
    cleanup = int(re.search(r"corral cleanup \(pid (\d+)\) stops them", log.read_text())[1])
    wait_for(lambda: f"corral cleanup (pid {cleanup}) is done" in log.read_text(),
             what="cleanup's end")
    assert f"reaped orphaned descendant pid {cleanup} " not in log.read_text()
    assert not [e for e in d2.events() if e["kind"] == "reaped" and e["pid"] == cleanup]
    base = re.search(r"cgroup v2 at (\S+)", log.read_text())
    d2.down()
    # The removed service's emptied cgroup goes with corral's own.
    assert not base or not os.path.exists(base.group(1)), os.listdir(base.group(1))


def test_the_lock_file_marks_a_running_corral(daemon):
    """corral.lock is marked while corral runs and emptied once every tree is
    stopped: a corral that finds the mark looks for what its predecessor left
    even when state.db holds no record of it (with none to adopt by, it stops
    it), so that no copy runs beside the new one."""
    text = 'services:\n  plain: {command: [sleep, "1020"]}\n'
    d1 = daemon(text)
    pid = d1.wait_state("plain", "running")["pid"]
    lock = d1.state / "corral.lock"
    assert lock.read_text() == "running\n"
    d1.wait_recorded("plain", pid)
    kill9(d1)
    for f in d1.state.glob("state.db*"):
        f.unlink()
    d2 = daemon(text)
    new = d2.wait_state("plain", "running")["pid"]
    wait_for(lambda: gone(pid), what="the leftover stopped")
    assert d2.pids("plain") == [new]
    assert lock.read_text() == "running\n"
    d2.down()
    assert lock.read_text() == ""


def lines(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_give_up_survives_a_kill_9(daemon, tmp_path):
    """A service that gave up stays failed across a crash of corral, its retry
    due when it was: not max_restarts + 1 more runs at once."""
    text = """
services:
  flaky:
    command: [sh, -c, 'echo run >> runs; sleep 1.2; exit 1']
    restart: {initial: 10ms, max_restarts: 2, window: 60s, retry_after: 10m}
  web:
    command: [sleep, "1030"]
"""
    d1 = daemon(text)
    s = d1.wait_state("flaky", "failed", timeout=15)
    assert s["restarts"] == 2 and s["reason"].startswith("gave up after 2 restarts"), s
    wait_for(lambda: d1.recorded_run("flaky") and d1.recorded_run("flaky")[0] == 0,
             what="flaky's give-up in state.db")
    time.sleep(0.2)  # the record is written within 50 ms of the give-up
    assert lines(tmp_path / "runs") == 3
    kill9(d1)
    d2 = daemon(text, expect=1)  # up -d says flaky failed
    assert "flaky failed: gave up after 2 restarts" in d2.up.stderr, d2.up.stderr
    s = d2.service("flaky")
    assert s["state"] == "failed" and s["restarts"] == 2, s
    assert s["reason"].startswith("gave up after 2 restarts in 60s"), s
    assert 9 * 60_000 < s["retry_in_ms"] <= 10 * 60_000, s
    time.sleep(1)
    assert lines(tmp_path / "runs") == 3, "flaky ran again after the crash"
    log = (d2.state / "corral.log").read_text()
    assert "flaky: failed when the previous corral ended (gave up after 2 restarts" in log, log
    # An operator's start ends the wait, as before the crash.
    assert d2.cli("start", "--no-wait", "flaky").returncode == 0
    wait_for(lambda: lines(tmp_path / "runs") >= 4, what="flaky started by the operator")
    d2.down()


def test_a_backoff_survives_a_kill_9(daemon, tmp_path):
    """A restart delayed by backoff is not started at once by the next corral:
    it waits out what was left of the delay."""
    text = """
services:
  slow:
    command: [sh, -c, 'date +%s.%N >> runs; sleep 1.1; exit 1']
    restart: {initial: 4s, jitter: 0%}
"""
    d1 = daemon(text)
    wait_for(lambda: d1.service("slow")["state"] == "backoff", what="slow in backoff")
    # It ran 1.1 s and exited: the next run is due 4 s after that exit.
    wait_for(lambda: d1.recorded_run("slow") and d1.recorded_run("slow")[0] == 0,
             what="slow's backoff in state.db")
    time.sleep(0.2)
    kill9(d1)
    d2 = daemon(text)
    wait_for(lambda: lines(tmp_path / "runs") >= 2, timeout=15, what="slow's second run")
    first, second = (float(t) for t in (tmp_path / "runs").read_text().split()[:2])
    assert 4.9 < second - first < 7, (first, second)
    log = (d2.state / "corral.log").read_text()
    assert "slow: backoff when the previous corral ended (exited 1); kept so, restart in " in log
    d2.down()


def test_a_completed_step_is_not_run_again_after_a_kill_9(daemon, tmp_path):
    text = """
services:
  migrate:
    kind: oneshot
    command: [sh, -c, 'echo run >> runs']
  web:
    command: [sleep, "1031"]
    depends_on: {migrate: {condition: completed}}
  once:
    command: [sh, -c, 'echo run >> once; sleep 1.1']
    restart: {policy: "no"}
"""
    d1 = daemon(text)
    d1.wait_state("migrate", "completed")
    d1.wait_state("once", "exited", timeout=15)
    web = d1.wait_state("web", "running")["pid"]
    d1.wait_recorded("web", web)
    wait_for(lambda: d1.recorded_run("once") and d1.recorded_run("once")[0] == 0,
             what="once's exit in state.db")
    time.sleep(0.2)
    kill9(d1)
    d2 = daemon(text, expect=1)  # up -d says once exited
    assert "once exited 0" in d2.up.stderr, d2.up.stderr
    assert d2.service("migrate")["state"] == "completed"
    assert d2.service("once")["state"] == "exited"
    assert d2.wait_state("web", "running")["pid"] != web  # on_recover: restart
    time.sleep(0.5)
    assert lines(tmp_path / "runs") == 1 and lines(tmp_path / "once") == 1
    # A clean stop and start begins afresh.
    d2.down()
    d3 = daemon(text)
    d3.wait_state("migrate", "completed")
    d3.wait_state("once", "exited", timeout=15)
    assert lines(tmp_path / "runs") == 2 and lines(tmp_path / "once") == 2
    d3.down()


def test_a_service_changed_while_corral_was_down_starts_afresh(daemon, tmp_path):
    text = """
services:
  flaky:
    command: [sh, -c, 'echo run >> runs; sleep 1.2; exit %d']
    restart: {initial: 10ms, max_restarts: 1, window: 60s, retry_after: 10m}
"""
    d1 = daemon(text % 1)
    d1.wait_state("flaky", "failed", timeout=15)
    wait_for(lambda: d1.recorded_run("flaky") and d1.recorded_run("flaky")[0] == 0,
             what="flaky's give-up in state.db")
    time.sleep(0.2)
    kill9(d1)
    d2 = daemon(text % 0)  # fixed: it exits 0 now
    wait_for(lambda: lines(tmp_path / "runs") == 3, what="flaky run afresh")
    d2.wait_state("flaky", "exited")
    log = (d2.state / "corral.log").read_text()
    assert "flaky: failed when the previous corral ended, but its settings changed since: " \
        "started afresh" in log, log
    d2.down()


def test_an_adopted_restart_cut_short_by_a_kill_9_is_finished(daemon):
    """`corral restart` was stopping the old process when corral was killed:
    the next corral finishes the restart, on_recover: adopt or not."""
    text = """
services:
  slow:
    command: [{py}, -c, "import signal, sys, time\\nsignal.signal(signal.SIGTERM, lambda *a: (time.sleep(2), sys.exit(0)))\\ntime.sleep(1000)"]
    on_recover: adopt
""".format(py=sys.executable)
    d1 = daemon(text)
    pid = d1.wait_state("slow", "running")["pid"]
    d1.wait_recorded("slow", pid)
    assert d1.cli("restart", "--no-wait", "slow").returncode == 0
    wait_for(lambda: d1.service("slow")["state"] == "stopping", what="stopping")
    time.sleep(0.2)  # its record says so within 50 ms
    kill9(d1)
    d2 = daemon(text)
    new = wait_for(lambda: (s := d2.service("slow"))["state"] == "running" and
                   s["pid"] != pid and s, timeout=15, what="slow restarted")
    assert not new["adopted"], (new, (d2.state / "corral.log").read_text())
    assert gone(pid)
    log = (d2.state / "corral.log").read_text()
    assert f"slow: stopping pid {pid} and its tree, left by the previous corral, to finish " \
        "its restart" in log, log
    d2.down()


def test_an_exit_whose_leftover_took_long_to_stop_is_kept(daemon, tmp_path):
    """The main process exited 0 (policy: no), leaving a child that takes 1 s
    to end on TERM: its tree is stopped before the service is `exited`, a
    state no event announces. Its record still comes to say so, and the next
    corral after a crash does not run it again."""
    text = """
services:
  once:
    command: [sh, -c, 'echo run >> runs; {py} -c "{child}" & sleep 1.2; exit 0']
    restart: {{policy: "no"}}
    stop: {{timeout: 5s}}
""".format(py=sys.executable, child="import signal, sys, time; signal.signal(signal.SIGTERM, "
           "lambda *a: (time.sleep(1), sys.exit(0))); time.sleep(30)")
    d1 = daemon(text)
    d1.wait_state("once", "exited", timeout=15)
    wait_for(lambda: (run := d1.recorded_run("once")) and run[0] == 0, what="once's record")
    con = sqlite3.connect(f"file:{d1.state / 'state.db'}?mode=ro", uri=True, timeout=1)
    try:
        wait_for(lambda: con.execute("SELECT state FROM service_run WHERE name = 'once'")
                 .fetchone()[0] == "exited", timeout=5, what="once recorded as exited")
    finally:
        con.close()
    kill9(d1)
    d2 = daemon(text, expect=1)  # up -d says once exited
    assert d2.service("once")["state"] == "exited"
    time.sleep(0.5)
    assert lines(tmp_path / "runs") == 1
    d2.down()


def test_an_adopted_service_whose_settings_changed_starts_afresh(daemon):
    text = """
services:
  web:
    command: [sleep, "1050"]
    env: {V: "%d"}
    on_recover: adopt
"""
    d1 = daemon(text % 1)
    pid = d1.wait_state("web", "running")["pid"]
    d1.wait_recorded("web", pid)
    kill9(d1)
    d2 = daemon(text % 2)
    new = wait_for(lambda: (s := d2.service("web"))["pid"] not in (None, pid) and
                   s["state"] == "running" and s, what="web started afresh")
    assert not new["adopted"] and psutil.Process(new["pid"]).environ()["V"] == "2"
    wait_for(lambda: gone(pid), what="the old web gone")
    log = (d2.state / "corral.log").read_text()
    assert f"web: stopping pid {pid} and its tree, left by the previous corral, to start " \
        "afresh: its settings changed" in log, log
    d2.down()


def test_an_adopted_service_keeps_its_give_up_window(daemon):
    """Two restarts before the crash, one after: the third restart in the
    window is the last, as without a crash, not three more."""
    text = """
services:
  cl:
    command: [sh, -c, 'sleep 1.1; exit 1']
    restart: {max_restarts: 3, window: 2m, initial: 200ms, multiplier: 2, jitter: 0%}
    on_recover: adopt
"""
    d1 = daemon(text)
    s = wait_for(lambda: (s := d1.service("cl"))["restarts"] == 2 and s["pid"] and s,
                 timeout=15, what="cl on its third run")
    d1.wait_recorded("cl", s["pid"])
    time.sleep(0.1)
    kill9(d1)
    d2 = daemon(text, expect=None)  # up -d may see cl give up, or not yet
    s = d2.wait_state("cl", "failed", timeout=20)
    assert s["restarts"] == 3, s
    assert s["reason"].startswith("gave up after 3 restarts in 120s"), s
    delays = [e["details"]["delay_ms"] for e in d2.events()
              if e["kind"] == "restarting" and e.get("service") == "cl"]
    assert delays[-1] == 800, delays  # the backoff went on from where it was
    d2.down()


def test_down_says_so_when_corral_dies_before_everything_stopped(daemon):
    text = """
services:
  slow:
    command: [sh, -c, 'trap "sleep 3; exit 0" TERM; while :; do sleep 0.1; done']
"""
    d = daemon(text)
    pid = d.wait_state("slow", "running")["pid"]
    down = subprocess.Popen([CORRAL, "down", "-f", str(d.cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(lambda: d.service("slow")["state"] == "stopping", what="slow stopping")
    kill9(d)
    out, err = down.communicate(timeout=30)
    assert down.returncode == 3, out + err
    assert "the daemon ended before everything was stopped" in err and "corral stopped" not \
        in out, out + err
    assert not gone(pid)  # still there: the next corral or cleanup takes it over
    d2 = daemon(text)
    d2.down()
    assert gone(pid)


def test_up_right_after_a_kill_9_starts(daemon, tmp_path):
    """The killed corral lets go of its lock at once, of its guard only as
    the kernel tears it down: an up at once waits that out rather than call
    it a corral whose state directory was replaced."""
    # A service that writes a log: corral's io_uring ring makes its teardown
    # take long enough to be met.
    text = ("services:\n  web: {command: [sh, -c, 'echo hi; exec sleep 1070']}\n"
            "  more: {command: [sh, -c, 'echo hi; exec sleep 1071']}\n")
    d = daemon(text)
    for _ in range(5):
        d.wait_state("web", "running")
        old = d.ps
        # The kill and the up from one shell: nothing between them.
        r = subprocess.run(["sh", "-c", f'kill -9 {old.pid}; exec "$0" up -d -f "$1"', CORRAL,
                            str(d.cfg)], capture_output=True, text=True, timeout=60)
        # The same instance either way: the fixture's clean-up finds its tags.
        d._find_daemon()
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for(lambda: not old.is_running() or old.status() == psutil.STATUS_ZOMBIE,
                 what="the killed corral gone")
        assert d.ps.pid != old.pid
    d.down()


def test_a_stop_cut_short_is_taken_up_without_a_second_stop_signal(daemon, tmp_path):
    """The stop signal's handler was at work when corral was killed: the
    next corral does not send it again (the handler would run twice, and its
    own helper be killed), and SIGKILL comes when it was due."""
    text = """
services:
  h:
    command: [sh, -c, 'trap "date +%s.%N >> term; sleep 0.05; sleep 2; date +%s.%N > bye; exit 0" TERM; while :; do sleep 0.2; done']
    stop: {timeout: 20s}
"""
    # The handler's helper (sleep 2) starts clock ticks after the stop: one
    # in the stop's own tick is signalled by the sweep, as it cannot be told
    # from what was there (and the next corral knows that tick to within one).
    d1 = daemon(text)
    d1.wait_state("h", "running")
    assert d1.cli("stop", "--no-wait", "h").returncode == 0
    con = sqlite3.connect(f"file:{d1.state / 'state.db'}?mode=ro", uri=True, timeout=1)
    try:
        wait_for(lambda: con.execute("SELECT state FROM service_run WHERE name = 'h'")
                 .fetchone()[0] == "stopping", what="h recorded as stopping")
    finally:
        con.close()
    wait_for(lambda: (tmp_path / "term").exists(), what="the handler at work")
    kill9(d1)
    d2 = daemon(text)
    d2.wait_state("h", "stopped", timeout=15)
    terms = (tmp_path / "term").read_text().split()
    assert len(terms) == 1, terms
    assert float((tmp_path / "bye").read_text()) - float(terms[0]) > 1.9
    d2.down()


ORDERED = """
services:
  db:
    shell: true
    command: |
      date +%s.%N >> db.starts
      touch db.up
      trap 'rm -f db.up; sleep 0.5; exit 0' TERM
      while :; do sleep 0.05; done
  web:
    depends_on: [db]
    shell: true
    command: |
      date +%s.%N >> web.starts
      trap 'sleep 0.2; if [ -e db.up ]; then echo db-up; else echo db-gone; fi >> web.saw; exit 0' TERM
      while :; do sleep 0.05; done
"""


def starts(path):
    return [float(x) for x in path.read_text().split()]


@pytest.mark.parametrize("how", ["restart", "recovery"])
def test_a_restart_of_a_service_and_its_dependant_stops_the_dependant_first(daemon, tmp_path,
                                                                             how):
    """web is stopped while db still runs (its stop may need it), then db;
    db starts again before web, whether asked (`corral restart db web`) or
    after a crash of corral (on_recover: restart)."""
    d = daemon(ORDERED)
    settled_copies(d, ["db", "web"])
    if how == "restart":
        r = d.cli("restart", "db", "web")
        assert r.returncode == 0, r.stdout + r.stderr
    else:
        kill9(d)
        d = daemon(ORDERED)
    wait_for(lambda: len(starts(tmp_path / "web.starts")) == 2, timeout=20, what="web again")
    settled_copies(d, ["db", "web"])
    assert (tmp_path / "web.saw").read_text().split() == ["db-up"]
    # Spawned in that order (their first lines may run in either).
    started = [e["service"] for e in d.events() if e["kind"] == "started"]
    assert started[-2:] == ["db", "web"], started
    # Alone, db restarts under a running web, which is left alone.
    web = d.service("web")["pid"]
    r = d.cli("restart", "db")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(starts(tmp_path / "db.starts")) == 3 and d.service("web")["pid"] == web
    # One request for several: an unknown name restarts none of them.
    st, body = d.json("POST", "/v1/restart?service=db,nosuch")
    assert st == 404 and body["error"]["code"] == "unknown_service", body
    st, body = d.json("POST", "/v1/restart")
    assert st == 400, body
    assert len(starts(tmp_path / "db.starts")) == 3
    d.down()
