"""Integration fixtures: run the real corral binary in a temp dir and judge
from /proc (psutil), never from what corral says about itself."""
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time

import psutil
import pytest

CORRAL = os.environ.get("CORRAL_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "corral")
MODES = ["cgroup", "pgroup"]


def deny_io_uring():
    """As a container's seccomp profile does: io_uring_setup fails with EPERM.
    For preexec_fn; the test needs python3-seccomp (pytest.importorskip)."""
    import errno
    import seccomp
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    f.add_rule(seccomp.ERRNO(errno.EPERM), "io_uring_setup")
    f.load()


def wait_for(cond, timeout=10.0, interval=0.02, what="condition"):
    """Poll cond() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def proc(pid):
    """The process by its number now, so that a later look cannot be fooled by the
    number's reuse (pid_max may be 32768 on a busy machine); None if it is gone."""
    try:
        return psutil.Process(int(pid))
    except psutil.NoSuchProcess:
        return None


def gone(p):
    """p (a psutil.Process or proc()'s None) has exited (a zombie counts); its being
    reaped between the two questions is an answer too, not an error."""
    try:
        return p is None or not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def tagged(instance):
    """Live processes carrying this corral instance's tag, by service."""
    found = {}
    for p in psutil.process_iter():
        try:
            env = p.environ()
            if env.get("CORRAL_INSTANCE") == instance and p.status() != psutil.STATUS_ZOMBIE:
                found.setdefault(env.get("CORRAL_SERVICE"), []).append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def remove_cgroups(state_dir):
    """The test instance's own cgroup subtree, once empty: a corral that was
    killed and whose services the test then killed leaves it behind."""
    log = os.path.join(str(state_dir), "corral.log")
    try:
        text = open(log, errors="replace").read()
    except OSError:
        return
    for base in set(re.findall(r"cgroup v2 at (\S+/corral-[0-9a-f]{16})", text)):
        if not os.path.isdir(base):
            continue
        for child in os.listdir(base):
            path = os.path.join(base, child)
            if os.path.isdir(path):
                try:
                    os.rmdir(path)  # refused while populated: then it stays
                except OSError:
                    pass
        try:
            os.rmdir(base)
        except OSError:
            pass


class Corral:
    def __init__(self, tmp_path, text, args=(), name="corral.yaml", env=None):
        self.dir = tmp_path
        self.cfg = tmp_path / name
        self.cfg.write_text(text)
        self.out_path = tmp_path / "corral.out"
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(
            [CORRAL, "up", "-f", str(self.cfg), "--no-color", *args],
            stdout=self.out, stderr=subprocess.STDOUT, cwd=tmp_path,
            start_new_session=True, env=env)
        self.ps = psutil.Process(self.proc.pid)
        self._instance = None

    def output(self):
        return self.out_path.read_text(errors="replace")

    def wait_output(self, pattern, timeout=10.0):
        rx = re.compile(pattern, re.M)
        return wait_for(lambda: rx.search(self.output()), timeout,
                        what=f"output /{pattern}/; got:\n{self.output()[-3000:]}")

    @property
    def instance(self):
        if not self._instance:
            m = self.wait_output(r"instance ([0-9a-f]{16})")
            self._instance = m.group(1)
        return self._instance

    def tagged(self):
        return tagged(self.instance)

    def pids(self, service):
        return sorted(p.pid for p in self.tagged().get(service, []))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=30.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"corral did not exit; output:\n{self.output()[-3000:]}")

    def stop(self, timeout=30.0):
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def zombies_under_corral(self):
        z = []
        for p in psutil.process_iter(["ppid", "status"]):
            if p.info["ppid"] == self.proc.pid and p.info["status"] == psutil.STATUS_ZOMBIE:
                z.append(p.pid)
        return z

    def cleanup(self):
        """Leave nothing behind even when a test fails half-way."""
        if self.proc.poll() is None:
            self.signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._instance:
            for procs in tagged(self._instance).values():
                for p in procs:
                    try:
                        p.kill()  # psutil checks create time before signalling
                    except psutil.NoSuchProcess:
                        pass
        self.out.close()


@pytest.fixture
def corral(tmp_path):
    started = []

    def run(text, args=(), name="corral.yaml", env=None):
        c = Corral(tmp_path, text, args, name, env)
        started.append(c)
        return c

    yield run
    for c in started:
        c.cleanup()
    remove_cgroups(tmp_path / ".corral")


def check(config_path, *args):
    return subprocess.run([CORRAL, "check", "-f", str(config_path), *args],
                          capture_output=True, text=True)


class UnixHTTP(http.client.HTTPConnection):
    """HTTP/1.1 over corral's Unix socket."""

    def __init__(self, path, timeout=10.0):
        super().__init__("corral", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Daemon:
    """corral up -d in a temp dir, driven through its API and its CLI."""

    def __init__(self, tmp_path, text, args=(), state=".corral", **up_kw):
        self.dir = tmp_path
        self.cfg = tmp_path / "corral.yaml"
        self.cfg.write_text(text)
        self.state = tmp_path / state  # as the config's state_dir says
        self.sock = str(self.state / "corral.sock")
        # Longer than up -d's own 60 s wait, so that corral reports first and
        # the daemon it leaves is known here and cleaned up.
        self.up = self.cli("up", "-d", *args, timeout=120, **up_kw)
        self.info = None
        self.ps = None
        if self.up.returncode in (0, 1):
            self._find_daemon()

    def _find_daemon(self):
        """The daemon's identity, for cleanup should `down` fail: the PID it
        reports, kept only with its start time so a reused PID is never hit.
        One that does not answer is still found, by the PID up -d named, so
        that a failing test leaves no daemon behind."""
        try:
            self.info = self.json("GET", "/v1")[1]
            pid = self.info["pid"]
        except OSError:
            m = re.search(r"\(pid (\d+)", self.up.stdout + self.up.stderr)
            if not m:
                return
            pid = int(m.group(1))
        try:
            self.ps = psutil.Process(pid)
        except psutil.NoSuchProcess:
            pass

    def cli(self, *args, timeout=60, **kw):
        return subprocess.run([CORRAL, *args[:1], *(["-f", str(self.cfg)] if args[0] not in (
            "logs", "events") else ["--file", str(self.cfg)]), *args[1:]],
            capture_output=True, text=True, cwd=self.dir, timeout=timeout, **kw)

    def request(self, method, path, body=None, headers=None):
        c = UnixHTTP(self.sock)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read(), dict(r.getheaders())
        finally:
            c.close()

    def json(self, method, path, body=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        status, data, _ = self.request(method, path, body)
        return status, json.loads(data) if data else None

    def service(self, name):
        return self.json("GET", f"/v1/services/{name}")[1]

    def wait_state(self, name, state, timeout=10.0):
        return wait_for(lambda: (s := self.service(name))["state"] == state and s,
                        timeout, what=f"{name} {state}")

    def events(self, since=0):
        return self.json("GET", f"/v1/events?since={since}")[1]["events"]

    @property
    def instance(self):
        return self.info["instance"]

    def tagged(self):
        return tagged(self.instance)

    def pids(self, service):
        return sorted(p.pid for p in self.tagged().get(service, []))

    def recorded_run(self, service):
        """(pid, ready) state.db holds for a service's run: what a corral
        started after a crash adopts. corral writes it a moment after the
        spawn and again when it becomes ready (and at a fresh start only once
        state.db is made, just after the first spawns): a crash before then
        leaves recovery to the tag and cgroup."""
        try:
            con = sqlite3.connect(f"file:{self.state / 'state.db'}?mode=ro", uri=True, timeout=1)
            try:
                row = con.execute("SELECT pid, ready FROM service_run WHERE name = ?",
                                  (service,)).fetchone()
            finally:
                con.close()
        except sqlite3.Error:
            return None
        return tuple(row) if row else None

    def recorded_pid(self, service):
        run = self.recorded_run(service)
        return run[0] if run else None

    def wait_recorded(self, service, pid, ready=None):
        """Before a kill -9 whose successor must adopt the service (ready:
        also wait until the record says whether it had become ready)."""
        wait_for(lambda: (run := self.recorded_run(service)) and run[0] == pid and
                 (ready is None or run[1] == ready), what=f"{service}'s run in state.db")

    def alive(self):
        try:
            return self.ps.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def down(self):
        r = self.cli("down")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: not self.alive(), what="daemon gone")
        return r

    def cleanup(self):
        if self.ps and self.alive():
            self.cli("down", "--timeout", "20")
            try:
                self.ps.wait(20)
            except psutil.TimeoutExpired:
                # Out of the API's reach: SIGTERM stops its stack, as Ctrl-C does.
                self.ps.terminate()
                try:
                    self.ps.wait(20)
                except psutil.TimeoutExpired:
                    self.ps.kill()
        if self.info:
            for procs in tagged(self.info["instance"]).values():
                for p in procs:
                    try:
                        p.kill()
                    except psutil.NoSuchProcess:
                        pass


@pytest.fixture
def daemon(tmp_path):
    started = []

    def run(text, args=(), state=".corral", expect=0, **up_kw):
        d = Daemon(tmp_path, text, args, state, **up_kw)
        started.append(d)
        assert expect is None or d.up.returncode == expect, d.up.stderr + d.up.stdout
        assert d.info, d.up.stderr + d.up.stdout
        return d

    yield run
    for d in started:
        d.cleanup()
    for state in {d.state for d in started} | {tmp_path / ".corral"}:
        remove_cgroups(state)
    # The daemon's stderr goes to corral.log: a sanitizer report there fails the test.
    for d in started:
        log = d.state / "corral.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        assert not re.search(r"runtime error|Sanitizer", text), text[-4000:]
