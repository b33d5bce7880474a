"""The instance guard: a corral whose state directory was removed while it runs
still holds its instance (the abstract socket corral/<instance>), so a corral
started on the directory made anew refuses instead of sharing its cgroups and
tag, and cleanup and doctor see it running. Judged by psutil; the old corral
is stopped by its PID, as its API went with its directory."""
import json
import os
import shutil
import signal
import subprocess

import psutil

from conftest import CORRAL, tagged, wait_for

STACK = """
services:
  web:
    command: [sleep, "1041"]
"""


def alive(p):
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def cgroup_base(d):
    reason = d.info["containment_reason"]
    return reason[len("cgroup v2 at "):] if reason.startswith("cgroup v2 at ") else None


def remove_cgroups(base):
    if base and os.path.isdir(base):
        for root, _, _ in os.walk(base, topdown=False):
            try:
                os.rmdir(root)  # refused while populated: then it stays
            except OSError:
                pass


def removed_under(daemon):
    """A running corral whose state directory an operator removed."""
    a = daemon(STACK)
    web = psutil.Process(a.wait_state("web", "running")["pid"])
    base = cgroup_base(a)
    shutil.rmtree(a.state)
    return a, web, base


def untouched(a, web):
    assert alive(a.ps) and alive(web)
    found = {s: sorted(p.pid for p in ps) for s, ps in tagged(a.instance).items()}
    assert found == {"web": [web.pid]}


def stop(a, web, base):
    """A by its PID (psutil checks its start time first); then nothing of
    the instance is left. A corral that started anyway (the bug) is stopped
    through the new directory's socket first."""
    if (a.state / "corral.sock").exists():
        a.cli("down", "--timeout", "20")
    if alive(a.ps):
        a.ps.send_signal(signal.SIGTERM)
    wait_for(lambda: not alive(a.ps), timeout=30, what="the first corral gone")
    wait_for(lambda: not alive(web), what="its service stopped with it")
    wait_for(lambda: not tagged(a.instance), what="nothing of the instance left")
    remove_cgroups(base)


def cleanup(a, *args):
    return subprocess.run([CORRAL, "cleanup", "-f", str(a.cfg), *args], capture_output=True,
                          text=True, timeout=60)


def test_a_corral_on_a_removed_state_dir_refuses_while_the_old_one_runs(daemon):
    a, web, base = removed_under(daemon)
    pid = a.ps.pid
    try:
        r = a.cli("up", "-d", timeout=120)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"another corral (pid {pid}) runs this instance" in r.stderr
        assert f"its state directory {a.state} was removed or replaced" in r.stderr
        untouched(a, web)
        r = subprocess.run([CORRAL, "up", "-f", str(a.cfg)], capture_output=True, text=True,
                           timeout=20, cwd=a.dir)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"another corral (pid {pid}) runs this instance" in r.stderr
        untouched(a, web)
    finally:
        stop(a, web, base)
    # Once it is gone, the instance is free again.
    b = daemon(STACK)
    assert b.instance == a.instance and b.info["pid"] != pid
    b.wait_state("web", "running")
    b.down()
    assert not tagged(b.instance)


def test_cleanup_and_doctor_see_the_corral_of_a_removed_state_dir(daemon):
    a, web, base = removed_under(daemon)
    pid = a.ps.pid
    try:
        # With the directory gone, then made anew (cleanup then takes its lock).
        for made in (False, True):
            if made:
                a.state.mkdir()
            r = cleanup(a, "--yes")
            assert r.returncode == 1, r.stdout + r.stderr
            assert f"(pid {pid})" in r.stderr and "nothing done" in r.stderr
            untouched(a, web)
        r = subprocess.run([CORRAL, "doctor", "--json", "-f", str(a.cfg)], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 1, r.stdout + r.stderr
        doc = json.loads(r.stdout)
        assert doc["state"]["lock"] == {"held": True, "lost": True, "pid": pid, "foreign": None,
                                        "cleanup": False}
        assert any("removed or replaced" in p for p in doc["state"]["problems"])
        assert not any(o["pid"] == web.pid for o in doc["orphans"])
        untouched(a, web)
    finally:
        stop(a, web, base)


SQUAT = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(b"\\0corral/" + sys.argv[1].encode())
s.listen(4)
print("bound", flush=True)
sys.stdin.read()
"""


def test_a_guard_held_by_another_user_is_named_as_such(daemon):
    """Anyone may bind an abstract name first: corral refuses to start, starts
    nothing, and says which process of which user holds it."""
    a = daemon(STACK)
    instance = a.instance
    a.down()
    squatter = subprocess.Popen(["/usr/bin/python3", "-c", SQUAT, instance],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                user=65534, group=65534)
    try:
        assert squatter.stdout.readline() == "bound\n"
        r = a.cli("up", "-d", timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        assert (f"held by pid {squatter.pid} of uid 65534, not by a corral of this user"
                in r.stderr), r.stderr
        assert not tagged(instance)
        assert not (a.state / "corral.sock").exists()
        # doctor and cleanup name it too, and neither calls it a corral.
        r = subprocess.run([CORRAL, "doctor", "--json", "-f", str(a.cfg)], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 1, r.stdout + r.stderr
        doc = json.loads(r.stdout)
        assert doc["state"]["lock"] == {"held": False, "lost": False, "pid": None,
                                        "foreign": {"pid": squatter.pid, "uid": 65534},
                                        "cleanup": False}
        assert any("another user" in p for p in doc["state"]["problems"]), doc["state"]
        r = subprocess.run([CORRAL, "doctor", "-f", str(a.cfg)], capture_output=True, text=True,
                           timeout=30)
        assert f"its guard is held by pid {squatter.pid} of uid 65534" in r.stdout, r.stdout
        r = cleanup(a, "--yes")
        assert r.returncode == 1, r.stdout + r.stderr
        assert (f"held by pid {squatter.pid} of uid 65534, not by a corral of this user"
                in r.stderr and "nothing done" in r.stderr), r.stderr
        assert squatter.poll() is None
    finally:
        squatter.stdin.close()
        squatter.wait(10)
    # Once it lets go, the instance starts again.
    b = daemon(STACK)
    assert b.instance == instance
    b.down()
