"""corral cleanup after a kill -9 of corral: it stops every orphan of its own
(a double-forked daemon and a TERM-ignoring one included) and removes its
cgroups; --dry-run stops nothing; it refuses without a terminal or --yes; and
processes that only look like corral's — another instance's tag, or the same
command line without a tag — are never listed nor touched. Judged by psutil;
whatever a test plants is killed by PID in its finally block."""
import json
import os
import shutil
import subprocess
import time

import psutil
import pytest

from conftest import CORRAL, MODES, wait_for

# Double-forks out of the service's main process, as a classic daemon does.
DAEMONIZE = ("import os, time; os.fork() and os._exit(0); os.setsid(); "
             "os.fork() and os._exit(0); null = os.open(os.devnull, os.O_RDWR); "
             "[os.dup2(null, fd) for fd in (0, 1, 2)]; time.sleep(1011)")

STACK = """
containment: {mode}
services:
  web:
    command: [sleep, "1010"]
  daemon:
    shell: true
    command: |
      python3 -c '{daemonize}'
      exec sleep 1012
  stubborn:
    command: [python3, -c, "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(1013)"]
    stop: {{signal: TERM, timeout: 1s}}
"""


def stack(mode):
    return STACK.format(mode=mode, daemonize=DAEMONIZE)


def cleanup(d, *args, **kw):
    return subprocess.run([CORRAL, "cleanup", "-f", str(d.cfg), *args], capture_output=True,
                          text=True, timeout=60, **kw)


def gone(p):
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def cgroup_base(d):
    reason = d.info["containment_reason"]
    return reason[len("cgroup v2 at "):] if reason.startswith("cgroup v2 at ") else None


def kill_all(procs):
    for p in procs:
        try:
            p.kill()  # psutil checks the create time first: never a reused PID
        except psutil.NoSuchProcess:
            pass


def remove_cgroups(base):
    if base and os.path.isdir(base):
        for root, _, _ in os.walk(base, topdown=False):
            try:
                os.rmdir(root)
            except OSError:
                pass


def orphaned(daemon, mode):
    """A stack of three whose corral was killed with SIGKILL."""
    d = daemon(stack(mode))
    wait_for(lambda: len(d.pids("daemon")) == 2 and d.pids("web") and d.pids("stubborn"),
             what="every service up, the daemon double-forked")
    wait_for(lambda: "ready" in (d.state / "logs" / "stubborn.log").read_text(errors="replace")
             if (d.state / "logs" / "stubborn.log").exists() else False, what="TERM ignored")
    procs = [p for ps in d.tagged().values() for p in ps]
    assert len(procs) == 4
    d.ps.kill()
    wait_for(lambda: not d.alive(), what="corral killed")
    return d, procs


def foreign(d):
    """Look-alikes: web's command line with another instance's tag, and
    without any tag."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    other = subprocess.Popen(["sleep", "1010"], env={**env, "CORRAL_SERVICE": "web",
                                                    "CORRAL_INSTANCE": "0123456789abcdef"})
    plain = subprocess.Popen(["sleep", "1010"], env=env)
    return [other, plain]


@pytest.mark.parametrize("mode", MODES)
def test_cleanup_stops_every_orphan_and_only_them(daemon, mode):
    d, procs = orphaned(daemon, mode)
    base = cgroup_base(d)
    look_alikes = foreign(d)
    try:
        dry = cleanup(d, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        for p in procs:
            assert f" {p.pid} " in dry.stdout, dry.stdout
        for p in look_alikes:
            assert f" {p.pid} " not in dry.stdout
        assert all(not gone(p) for p in procs)  # a dry run stops nothing
        if mode == "cgroup":
            assert os.path.isdir(base)

        r = cleanup(d, "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "stopped 4 processes" in r.stdout
        for p in procs:
            assert gone(p), p
        for p in look_alikes:
            assert p.poll() is None and f" {p.pid} " not in r.stdout
        if mode == "cgroup":
            assert not os.path.exists(base)
        assert d.tagged() == {}

        again = cleanup(d, "--yes")
        assert again.returncode == 0 and "nothing to clean up" in again.stdout
    finally:
        kill_all(procs)
        for p in look_alikes:
            p.kill()
            p.wait()
        remove_cgroups(base)


def test_a_corral_started_during_cleanup_is_told_so(daemon):
    """While cleanup stops orphans it holds the instance: a corral started
    meanwhile says that a cleanup runs, not that another corral lost its
    state directory."""
    d, procs = orphaned(daemon, "pgroup")
    try:
        c = subprocess.Popen([CORRAL, "cleanup", "-f", str(d.cfg), "--yes"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.4)  # within stubborn's 1 s stop timeout
        r = subprocess.run([CORRAL, "up", "-d", "-f", str(d.cfg)], capture_output=True,
                           text=True, timeout=60)
        # Nor is it a running corral whose API does not answer, to doctor, to
        # the CLI or to a second cleanup.
        doc = subprocess.run([CORRAL, "doctor", "--json", "-f", str(d.cfg)],
                             capture_output=True, text=True, timeout=60)
        st = subprocess.run([CORRAL, "status", "-f", str(d.cfg)], capture_output=True,
                            text=True, timeout=60)
        again = cleanup(d, "--yes")
        out, err = c.communicate(timeout=60)
        assert c.returncode == 0, out + err
        assert r.returncode != 0, r
        assert f"corral cleanup (pid {c.pid}) is stopping the orphans of this instance" in \
            r.stderr, r.stderr
        lock = json.loads(doc.stdout)["state"]["lock"]
        assert lock["held"] and lock["cleanup"] and lock["pid"] == c.pid, lock
        assert not any("API" in p for p in json.loads(doc.stdout)["state"]["problems"]), doc
        assert st.returncode == 4 and f"corral cleanup (pid {c.pid}) is stopping its orphans" \
            in st.stderr, st
        assert again.returncode == 1 and f"another cleanup (pid {c.pid})" in again.stderr, again
        assert all(gone(p) for p in procs)
    finally:
        kill_all(procs)


def test_cleanup_refuses_without_a_terminal_or_yes(daemon):
    d, procs = orphaned(daemon, "cgroup")
    base = cgroup_base(d)
    try:
        r = cleanup(d, stdin=subprocess.DEVNULL)
        assert r.returncode == 2
        assert "not a terminal" in r.stderr and "--yes" in r.stderr
        assert all(not gone(p) for p in procs)
    finally:
        kill_all(procs)
        wait_for(lambda: all(gone(p) for p in procs), what="planted orphans killed")
        remove_cgroups(base)


def test_cleanup_with_corral_running_stops_only_what_it_does_not_run(daemon):
    d = daemon("""
services:
  web:
    command: [sleep, "1014"]
""")
    web = d.service("web")["pid"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    # Tagged for this instance, but for a service the running corral lacks.
    ghost = subprocess.Popen(["sleep", "1015"], env={**env, "CORRAL_SERVICE": "ghost",
                                                    "CORRAL_INSTANCE": d.instance})
    try:
        r = cleanup(d, "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
        assert f" {ghost.pid} " in r.stdout and "ghost" in r.stdout
        assert f" {web} " not in r.stdout
        assert ghost.wait(10) == -15
        assert d.service("web")["state"] == "running" and d.service("web")["pid"] == web
        assert psutil.Process(web).status() != psutil.STATUS_ZOMBIE
    finally:
        if ghost.poll() is None:
            ghost.kill()
            ghost.wait()


def test_ready_and_unhealthy_services_are_no_orphans(daemon):
    # Their main process runs: doctor lists none of their processes, and
    # cleanup signals none.
    d = daemon("""
services:
  rdy:
    shell: true
    command: "echo up; exec sleep 1016"
    ready: {log: "up"}
  sick:
    command: [sleep, "1017"]
    liveness: {exec: ["false"], interval: 200ms, failure_threshold: 1}
    restart: {policy: "no"}
""", args=("rdy",))
    r = d.cli("start", "sick")  # said at once, not after the 120 s wait
    assert r.returncode == 1 and "sick unhealthy: liveness: exec false" in r.stderr, r
    d.wait_state("rdy", "ready")
    d.wait_state("sick", "unhealthy")
    pids = {n: d.service(n)["pid"] for n in ("rdy", "sick")}
    r = subprocess.run([CORRAL, "doctor", "-f", str(d.cfg)], capture_output=True, text=True,
                       timeout=60)
    # Only this corral's part: the machine may hold others' orphans on ports.
    assert r.returncode in (0, 1) and "orphans of this corral: none" in r.stdout, r.stdout
    r = cleanup(d, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert {n: d.service(n)["pid"] for n in pids} == pids
    assert d.service("rdy")["state"] == "ready"


def test_a_corral_cannot_start_during_a_cleanup_of_a_removed_state_dir(daemon):
    """The operator removed the state directory after a crash, then cleaned
    up: cleanup holds the instance's guard all the same, so a corral started
    meanwhile is refused rather than have its live services taken for
    orphans and its cgroup removed."""
    d, procs = orphaned(daemon, "cgroup")
    try:
        shutil.rmtree(d.state)
        c = subprocess.Popen([CORRAL, "cleanup", "-f", str(d.cfg), "--yes"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.4)  # within stubborn's 1 s stop timeout
        r = subprocess.run([CORRAL, "up", "-d", "-f", str(d.cfg)], capture_output=True,
                           text=True, timeout=60)
        out, err = c.communicate(timeout=60)
        if r.returncode == 0:  # started after all: stopped before the test fails
            subprocess.run([CORRAL, "down", "-f", str(d.cfg)], timeout=60)
        assert c.returncode == 0, out + err
        assert r.returncode != 0, (r, out, err)
        assert f"corral cleanup (pid {c.pid}) is stopping the orphans of this instance" in \
            r.stderr, r.stderr
        assert all(gone(p) for p in procs)
    finally:
        kill_all(procs)
