"""corral doctor against real processes it did not start itself — a planted
zombie, services orphaned by a kill -9 of corral, a pinned CPU, a listener
double-forked away to init, a garbage state.db — and a healthy stack whose
JSON is checked field by field. Every process a test plants is killed by PID
in its finally block."""
import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import time

import psutil
import pytest

from conftest import CORRAL, MODES, wait_for

PY = "/usr/bin/python3"

ZOMBIE_PARENT = r"""
import os, sys, time
pid = os.fork()
if pid == 0:
    os._exit(0)
print(pid, flush=True)
time.sleep(120)  # never waits for it
"""

DOUBLE_FORKED_LISTENER = r"""
import os, socket, sys, time
r, w = os.pipe()
if os.fork() == 0:
    if os.fork() == 0:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        os.write(w, f"{os.getpid()} {s.getsockname()[1]}\n".encode())
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)  # the caller waits for the end of its output
        time.sleep(120)
        os._exit(0)
    os._exit(0)
os.wait()
print(os.read(r, 100).decode().strip(), flush=True)
"""


def doctor(*args, timeout=30):
    r = subprocess.run([CORRAL, "doctor", "--json", *args], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode in (0, 1), r.stderr + r.stdout
    return r.returncode, json.loads(r.stdout)


def kill_by_pid(pid, create_time=None):
    """Kill one planted process, and only if it is still the one planted."""
    try:
        p = psutil.Process(pid)
        if create_time is None or abs(p.create_time() - create_time) < 0.01:
            p.kill()
    except psutil.NoSuchProcess:
        pass


def gone(p):
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def remove_cgroups(d):
    """Leftover cgroups of a test that failed half-way: empty ones only."""
    reason = d.info.get("containment_reason", "")
    if not reason.startswith("cgroup v2 at "):
        return
    base = reason[len("cgroup v2 at "):]
    for root, dirs, _ in os.walk(base, topdown=False):
        try:
            os.rmdir(root)
        except OSError:
            pass


def test_planted_zombie_is_reported_with_its_parent(tmp_path):
    parent = subprocess.Popen([PY, "-c", ZOMBIE_PARENT], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        wait_for(lambda: psutil.Process(child).status() == psutil.STATUS_ZOMBIE, what="zombie")
        rc, rep = doctor("--state-dir", str(tmp_path / "none"))
        assert rc == 1
        z = [z for z in rep["zombies"] if z["pid"] == child]
        assert len(z) == 1, rep["zombies"]
        assert z[0]["ppid"] == parent.pid
        assert "python3" in z[0]["parent_command"]
        assert z[0]["age_ms"] >= 0
        # The table names the parent too.
        t = subprocess.run([CORRAL, "doctor", "--state-dir", str(tmp_path / "none")],
                           capture_output=True, text=True, timeout=30)
        assert t.returncode == 1
        line = [ln for ln in t.stdout.splitlines() if ln.split()[:1] == [str(child)]]
        assert line and str(parent.pid) in line[0], t.stdout
    finally:
        parent.kill()
        parent.wait()
    # Its parent gone, the zombie is reaped by whoever inherits it.
    wait_for(lambda: not psutil.pid_exists(child) or gone(psutil.Process(child)), what="reaped")


@pytest.mark.parametrize("mode", MODES)
def test_kill_9_of_corral_leaves_orphans_that_doctor_reports(daemon, mode):
    d = daemon(f"""
containment: {mode}
services:
  web:
    command: [sleep, "1001"]
  worker:
    shell: true
    command: "sleep 1002 & exec sleep 1003"
""")
    try:
        wait_for(lambda: len(d.pids("worker")) == 2 and d.pids("web"), what="services up")
        want = {p.pid: s for s, ps in d.tagged().items() for p in ps}
        rc, rep = doctor("-f", str(d.cfg))
        assert rc == 0 or rep["zombies"] or rep["foreign_orphans"], rep
        assert rep["orphans"] == []
        d.ps.kill()
        wait_for(lambda: not d.alive(), what="corral killed")
        rc, rep = doctor("-f", str(d.cfg))
        assert rc == 1
        got = {o["pid"]: o for o in rep["orphans"]}
        assert set(got) == set(want), rep["orphans"]
        for pid, service in want.items():
            assert got[pid]["service"] == service
            assert got[pid]["why"] == "no corral runs for its state directory"
            assert ("cgroup" in got[pid]["found_by"]) == (mode == "cgroup")
            assert "tag" in got[pid]["found_by"]
        assert rep["state"]["lock"]["held"] is False
        assert rep["containment"]["source"] == "this host and the config"
        if mode == "cgroup":
            assert any(c.endswith("corral-" + d.instance) for c in rep["containment"]["cgroups"])
        # Read-only: every orphan still runs.
        assert all(psutil.pid_exists(pid) for pid in want)
    finally:
        for procs in d.tagged().values():
            for p in procs:
                kill_by_pid(p.pid, p.create_time())
        wait_for(lambda: not d.tagged(), what="orphans killed")
        remove_cgroups(d)


def test_hung_service_is_reported(daemon):
    d = daemon("""
services:
  spin:
    command: [python3, -c, "while True: pass"]
  calm:
    command: [sleep, "1004"]
""")
    spin = d.service("spin")["pid"]

    def hung():
        rc, rep = doctor("-f", str(d.cfg), "--window", "1s")
        return rc == 1 and [h for h in rep["hung"] if h["pid"] == spin] and rep

    # A loaded machine can hold the loop below 95% for a while: ask again.
    rep = wait_for(hung, timeout=30, interval=0.1, what="spin reported as hung")
    h = [h for h in rep["hung"] if h["pid"] == spin][0]
    assert h["service"] == "spin" and h["cpu_percent"] >= 95.0
    assert "while True" in h["command"]
    assert rep["window_ms"] == 1000
    assert not [h for h in rep["hung"] if h["service"] == "calm"]
    assert rep["orphans"] == []  # corral runs them: not orphans


def test_foreign_listener_reparented_to_init_is_reported(tmp_path):
    out = subprocess.run([PY, "-c", DOUBLE_FORKED_LISTENER], capture_output=True, text=True,
                         timeout=30).stdout.split()
    pid, port = int(out[0]), int(out[1])
    created = psutil.Process(pid).create_time()
    try:
        assert psutil.Process(pid).ppid() != os.getpid()
        rc, rep = doctor("--state-dir", str(tmp_path / "none"))
        assert rc == 1
        f = [f for f in rep["foreign_orphans"] if f["pid"] == pid]
        assert len(f) == 1, rep["foreign_orphans"]
        assert {"port": port, "proto": "tcp", "address": "127.0.0.1"} in f[0]["ports"]
        assert f[0]["ppid"] == psutil.Process(pid).ppid()
        assert f[0]["user"] == "root"
        # Foreign: never an orphan of corral's own.
        assert rep["orphans"] == []
    finally:
        kill_by_pid(pid, created)


def test_garbage_state_db_is_unhealthy_and_untouched(tmp_path):
    state = tmp_path / ".corral"
    state.mkdir()
    db = state / "state.db"
    db.write_bytes(b"not a database at all\n" * 200)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    listing = sorted(os.listdir(state))
    rc, rep = doctor("--state-dir", str(state))
    assert rc == 1
    s = rep["state"]
    assert s["healthy"] is False and s["exists"] is True and s["writable"] is True
    assert s["database"]["exists"] is True and s["database"]["ok"] is False
    assert "not a database" in s["database"]["error"]
    assert "state.db is not usable" in s["problems"]
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert sorted(os.listdir(state)) == listing  # not moved aside, no -wal, no -shm


def test_a_newer_schema_is_not_called_a_failed_check(tmp_path):
    state = tmp_path / ".corral"
    state.mkdir()
    with sqlite3.connect(state / "state.db") as db:
        db.execute("PRAGMA user_version = 99")
    r = subprocess.run([CORRAL, "doctor", "--state-dir", str(state)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "NOT USABLE: schema 99 is newer than this corral's" in r.stdout, r.stdout
    assert "schema 99, quick_check ok" in r.stdout, r.stdout


def test_stale_records_are_reported(daemon, tmp_path):
    d = daemon("""
services:
  web:
    command: [sleep, "1005"]
""")
    d.down()
    dead = subprocess.Popen(["true"])
    dead.wait()
    db = sqlite3.connect(str(d.state / "state.db"))
    boot = open("/proc/sys/kernel/random/boot_id").read().strip()
    row = ("INSERT OR REPLACE INTO service_run (name, instance, boot_id, pid, start_ticks, pgid, "
           "cgroup, started_at, runs, restarts, last_exit, reason, updated_at, ready) "
           "VALUES (?, ?, ?, ?, ?, 0, '', 0, 1, 0, NULL, '', 0, 1)")
    with db:
        db.execute(row, ("web", d.instance, boot, dead.pid, 1))
        db.execute(row, ("gone", d.instance, boot, 0, 0))
        db.execute(row, ("reused", d.instance, boot, os.getpid(), 1))
    db.close()
    rc, rep = doctor("-f", str(d.cfg))
    assert rc == 1
    stale = {s["service"]: s for s in rep["stale_records"]}
    assert stale["web"]["why"] == "its process is gone" and stale["web"]["pid"] == dead.pid
    assert stale["gone"]["why"] == "the service is not in the config"
    assert stale["gone"]["pid"] is None
    assert stale["reused"]["why"] == "the PID now names another process"
    assert rep["state"]["database"]["ok"] is True


def test_healthy_stack_field_by_field(daemon):
    d = daemon("""
services:
  web:
    command: [sleep, "1006"]
  job:
    kind: oneshot
    command: ["true"]
""")
    t0 = time.monotonic()
    rc, rep = doctor("-f", str(d.cfg))
    elapsed = time.monotonic() - t0
    # The host's own zombies and orphans are not this stack's: the status
    # follows from what was found.
    others = len(rep["zombies"]) + len(rep["foreign_orphans"])
    assert rc == (1 if others else 0), rep
    assert rep["schema"] == 1
    assert rep["healthy"] is (others == 0)
    assert rep["problems"] == others
    assert rep["state_dir"] == str(d.state)
    assert rep["instance"] == d.instance
    assert rep["config"] == {"path": str(d.cfg), "error": None}
    assert rep["window_ms"] == 250
    c = rep["containment"]
    assert c["mode"] == d.info["containment"]
    assert c["reason"] == d.info["containment_reason"]
    assert c["source"] == "running corral" and c["problem"] is False
    if c["mode"] == "cgroup":
        assert c["cgroups"] == [c["reason"][len("cgroup v2 at "):]]
    # No service has written output, so the running corral has made no ring:
    # doctor says what this host allows.
    assert d.info["log_writes"] == "none yet"
    assert rep["log_writes"] == {
        "mode": "io_uring", "source": "this host",
        "reason": "writes wait in the kernel's worker: a slow disk never holds up corral"}
    s = rep["state"]
    assert s["healthy"] is True and s["problems"] == [] and s["notes"] == []
    assert s["exists"] is True and s["writable"] is True
    with sqlite3.connect(d.state / "state.db") as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
    assert version >= 3
    assert s["database"] == {"exists": True, "ok": True, "schema_version": version, "error": None,
                             "set_aside": 0}
    assert s["lock"] == {"held": True, "lost": False, "pid": d.info["pid"], "foreign": None,
                         "cleanup": False}
    assert s["socket"] == {"exists": True, "answers": True}
    assert rep["orphans"] == [] and rep["hung"] == []
    assert rep["stale_records"] == [] and rep["port_conflicts"] == []
    assert elapsed < 5  # the window is 250 ms; bench/doctor.py measures the rest
    t = subprocess.run([CORRAL, "doctor", "-f", str(d.cfg)], capture_output=True, text=True)
    assert f"corral      running (pid {d.info['pid']}), API answers" in t.stdout
    assert "orphans of this corral: none" in t.stdout
    assert ("healthy: no problem found" in t.stdout) == (t.returncode == 0)


def test_usage_and_config_errors_exit_2(tmp_path):
    r = subprocess.run([CORRAL, "doctor", "--window", "soon", "--state-dir", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--window" in r.stderr
    bad = tmp_path / "corral.yaml"
    bad.write_text("services:\n  web:\n    comand: [sleep, '1']\n")
    r = subprocess.run([CORRAL, "doctor", "--json", "-f", str(bad)], capture_output=True,
                       text=True)
    assert r.returncode == 2
    rep = json.loads(r.stdout)
    assert "comand" in rep["config"]["error"]
    assert rep["state_dir"] == str(tmp_path / ".corral")
    empty = tmp_path / "empty"
    empty.mkdir()
    r = subprocess.run([CORRAL, "doctor"], capture_output=True, text=True, cwd=empty)
    assert r.returncode == 2 and "no corral.yaml here" in r.stderr


def reported_command(p):
    """A command line as doctor reports it: joined by spaces, cut to 255 bytes."""
    return (" ".join(p.cmdline()).encode()[:255].rstrip(b" ").decode(errors="ignore"))


def test_a_configured_port_held_by_someone_else_is_a_conflict(tmp_path):
    held = socket.socket(socket.AF_INET6)
    held.bind(("::1", 0))
    held.listen()
    port = held.getsockname()[1]
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    free_port = free.getsockname()[1]
    free.close()
    cfg = tmp_path / "corral.yaml"
    cfg.write_text(f"""
services:
  web: {{command: [sleep, "1"], ports: [{port}]}}
  dns: {{command: [sleep, "1"], ports: ["{free_port}/udp"]}}
""")
    try:
        rc, rep = doctor("-f", str(cfg), "--window", "1ms")
        assert rep["port_conflicts"] == [{"service": "web", "port": port, "proto": "tcp6",
                                          "pid": os.getpid(),
                                          "command": reported_command(psutil.Process())}]
        assert rc == 1
    finally:
        held.close()
    rc, rep = doctor("-f", str(cfg), "--window", "1ms")
    assert rep["port_conflicts"] == []
