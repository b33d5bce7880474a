#!/usr/bin/python3
"""bench/run.py — corral's benchmark driver.

Runs corral, supervisord, PM2, s6 (s6-svscan) and runit (runsvdir) on the same workloads in the
same run, plus a floor (bench/floor.c: posix_spawn N services and reap them), and reports the
median of every figure over --runs runs and its ratio to the floor's. See docs/benchmarks.md.

    bench/setup.sh && /usr/bin/python3 bench/run.py [--quick]

Every process a measurement starts is its descendant: the driver makes itself a child
subreaper, so daemons that detach (PM2's God daemon) are reparented to it. After each
measurement the tool is asked to stop, then whatever is left is killed through pidfds
(opened first, identity checked after, as DESIGN.md asks), reaped, and the driver checks that
it has no descendant left before it goes on; if it cannot get there it stops the whole run.
"""
import argparse
import contextlib
import ctypes
import datetime
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

try:
    import psutil
except ImportError:  # pragma: no cover
    sys.exit("run.py: needs python3-psutil (apt-get install python3-psutil); run bench/setup.sh")

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORK = os.path.join(BENCH, ".work")
HELPERS = os.path.join(ROOT, "build-bench")
FLOOR = os.path.join(HELPERS, "floor")
STAMP = os.path.join(HELPERS, "stamp")
FLOOD = os.path.join(HELPERS, "flood")
# CORRAL_BENCH_BIN: another build of corral, e.g. to compare two commits in one run's way.
CORRAL = os.environ.get("CORRAL_BENCH_BIN") or os.path.join(ROOT, "build", "corral")
PM2 = os.path.join(WORK, "node_modules", ".bin", "pm2")
CLK_TCK = os.sysconf("SC_CLK_TCK")
LINE_BYTES = 128
FLOOD_DELAY_MS = 1000
TOOLS = ["floor", "direct", "corral", "corral-pgroup", "supervisord", "pm2", "s6", "runit"]
PR_SET_CHILD_SUBREAPER = 36
CTXT_FIELDS = ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")


class BenchError(Exception):
    """A measurement failed; the tool's figure for this run is left out."""


class CleanupError(Exception):
    """Processes we started could not be removed: the run must stop."""


def log(msg):
    print(msg, flush=True)


def now_ns():
    return time.time_ns()


# --------------------------------------------------------------------------- processes


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def raise_nofile():
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class CpuGroup:
    """Runs the driver and everything it starts in a cgroup-v1 cpu group with a large
    cpu.shares, so that other load on a shared machine (other users' builds, fuzzers) takes
    less of the CPU from the tools while they are measured. Processes in a cpu cgroup are not
    under the scheduler's autogroups, so the tools' setsid() does not undo it. Removed on exit."""

    BASE = "/sys/fs/cgroup/cpu"

    def __init__(self, shares):
        self.shares = shares
        self.path = None

    def __enter__(self):
        if not self.shares:
            return self
        path = os.path.join(self.BASE, f"corral-bench-{os.getpid()}")
        try:
            os.mkdir(path)
            with open(os.path.join(path, "cpu.shares"), "w") as f:
                f.write(str(self.shares))
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            self.path = path
        except OSError as e:
            log(f"note: no cpu cgroup ({e}); running at the machine's normal priority")
            if os.path.isdir(path):
                os.rmdir(path)
        return self

    def __exit__(self, *exc):
        if self.path:
            with open(os.path.join(self.BASE, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            for _ in range(50):
                try:
                    os.rmdir(self.path)
                    break
                except OSError:
                    time.sleep(0.1)
        return False


def cpu_busy_sample():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v), idle


def readable(fd, timeout_s=0.0):
    """poll(2), not select(2): the idle phase holds thousands of pidfds, past FD_SETSIZE."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(int(timeout_s * 1000)))


def start_ticks(pid):
    """Field 22 of /proc/PID/stat (parsed after the last ')'), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(b")") + 2:].split()
    return int(rest[19])


_HUP_ON_REAP = None


def pidfd_hup_on_reap():
    """Does a pidfd report POLLHUP when its process is reaped (Linux 6.9 and later), and not
    before? Tried once on a grandchild whose parent reaps it 50 ms after its exit."""
    global _HUP_ON_REAP
    if _HUP_ON_REAP is not None:
        return _HUP_ON_REAP
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            gc = os.fork()
            if gc == 0:
                os._exit(0)
            os.write(w, str(gc).encode())
            time.sleep(0.05)
            os.waitpid(gc, 0)
        finally:
            os._exit(0)
    os.close(w)
    gc = int(os.read(r, 16))
    os.close(r)
    ok = False
    try:
        fd = os.pidfd_open(gc)
    except ProcessLookupError:
        fd = None  # reaped already: no answer, the /proc polling stays
    if fd is not None:
        poller = select.poll()
        poller.register(fd, 0)
        early = poller.poll(10)  # exited, not yet reaped: no POLLHUP yet
        late = poller.poll(2000)
        ok = not early and bool(late) and bool(late[0][1] & select.POLLHUP)
        os.close(fd)
    os.waitpid(child, 0)
    _HUP_ON_REAP = ok
    return ok


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None, None
    rest = data[data.rindex(b")") + 2:].split()
    return rest[0].decode(), int(rest[19])


class Reaper:
    """Reaps every child of the driver (our own launches and reparented orphans). A Popen we
    reaped gets its returncode set, so that subprocess never waits on a reused PID."""

    def __init__(self):
        self.status = {}
        self.popens = {}

    def reap(self):
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.status[pid] = st
            p = self.popens.pop(pid, None)
            if p is not None:
                p.returncode = os.waitstatus_to_exitcode(st)


REAPER = Reaper()


def descendants():
    """(pid, start_ticks) of every live descendant of the driver, zombies included."""
    out = []
    try:
        kids = psutil.Process(os.getpid()).children(recursive=True)
    except psutil.Error:
        kids = []
    for p in kids:
        st = start_ticks(p.pid)
        if st is not None:
            out.append((p.pid, st))
    return out


def signal_checked(pid, ticks, sig):
    """Open a pidfd, then check identity, then signal through the pidfd."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        if start_ticks(pid) != ticks:
            return False
        signal.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


def wait_no_descendants(timeout_s):
    deadline = time.monotonic() + timeout_s
    while True:
        REAPER.reap()
        left = [d for d in descendants() if proc_state(d[0])[0] not in (None,)]
        if not left:
            return []
        if time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def force_cleanup(extra=()):
    """SIGKILL everything we started that is still there, reap it, verify nothing is left."""
    for _ in range(5):
        targets = descendants() + [x for x in extra if start_ticks(x[0]) == x[1]]
        for pid, ticks in targets:
            signal_checked(pid, ticks, signal.SIGKILL)
        left = wait_no_descendants(5)
        if not left:
            return
    raise CleanupError(f"processes left after cleanup: {left}")


def sample_procs(pids):
    """Per pid: (start_ticks, cpu_ticks, ctx_switches summed over threads)."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
            rest = data[data.rindex(b")") + 2:].split()
            ticks = int(rest[19])
            cpu = int(rest[11]) + int(rest[12])
            ctx = 0
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith(CTXT_FIELDS):
                            ctx += int(line.split()[1])
            out[pid] = (ticks, cpu, ctx)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return out


def delta_procs(before, after):
    """CPU seconds and context switches used between two samples (new processes count whole)."""
    cpu = ctx = 0
    for pid, (ticks, c1, x1) in after.items():
        b = before.get(pid)
        if b and b[0] == ticks:
            cpu += c1 - b[1]
            ctx += x1 - b[2]
        else:
            cpu += c1
            ctx += x1
    return cpu / CLK_TCK, ctx


def memory_kib(pids):
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return rss, pss


def read_stamps(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    out = []
    # Up to the last newline: a line being appended can be read half-written,
    # and a PID cut short names another process (a cut "6xxxx" once named a
    # kernel thread that the run then waited for).
    for line in data.split(b"\n")[:-1]:
        parts = line.split()
        if len(parts) >= 2:
            out.append((int(parts[0]), int(parts[1])))
    return out


class ServiceSet:
    """pidfds of the stamped service processes, opened as soon as they are seen."""

    def __init__(self):
        self.procs = {}  # pid -> (fd, start_ticks)

    def add(self, pid):
        if pid in self.procs:
            return True
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return False
        ticks = start_ticks(pid)
        if ticks is None:
            os.close(fd)
            return False
        self.procs[pid] = (fd, ticks)
        return True

    def alive(self):
        return [pid for pid, (fd, _) in self.procs.items() if not readable(fd)]

    def wait_gone(self, timeout_s):
        """Return (t_exited, t_gone): when the last one had exited (pidfd readable) and
        when the last one had also been reaped (no longer in /proc with its start time)."""
        deadline = time.monotonic() + timeout_s
        poller = select.poll()
        pending = {}
        for pid, (fd, _) in self.procs.items():
            poller.register(fd, select.POLLIN)
            pending[fd] = pid
        t_exited = None
        while pending:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                raise BenchError(f"{len(pending)} service processes still running after stop")
            for fd, _ in poller.poll(min(left_ms, 100)):
                poller.unregister(fd)
                del pending[fd]
            if not pending:
                t_exited = now_ns()
        if pidfd_hup_on_reap():
            return t_exited, self.wait_reaped_pidfds(deadline)
        unreaped = self.idents()
        while True:
            unreaped = [(pid, t) for pid, t in unreaped if start_ticks(pid) == t]
            if not unreaped:
                return t_exited, now_ns()
            if time.monotonic() > deadline:
                raise BenchError(f"{len(unreaped)} service processes left unreaped after stop")
            time.sleep(0.0005)

    def wait_reaped_pidfds(self, deadline):
        """The time the last one was reaped. A pidfd's POLLHUP is decided at the reap, but
        its wake-up may come a scheduler tick later when the reaper keeps running (the pid
        is freed after an RCU grace period): a sleeping poll() would see the reap of a tool
        that goes on working up to ~4 ms late, one that exits at once on time. So the
        pidfds not yet reaped are asked without sleeping in poll(), every ~0.1 ms."""
        poller = select.poll()
        pending = set()
        for fd, _ in self.procs.values():
            poller.register(fd, 0)  # POLLHUP is reported whatever the mask
            pending.add(fd)
        while True:
            for fd, _ in poller.poll(0):
                poller.unregister(fd)
                pending.discard(fd)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"{len(pending)} service processes left unreaped after stop")
            time.sleep(0.0001)
        t = now_ns()
        left = [pid for pid, t0 in self.idents() if start_ticks(pid) == t0]
        if left:
            raise BenchError(f"pidfds said reaped, /proc still has {left[:5]}")
        return t

    def idents(self):
        return [(pid, t) for pid, (_, t) in self.procs.items()]

    def close(self):
        for fd, _ in self.procs.values():
            os.close(fd)
        self.procs = {}


# --------------------------------------------------------------------------- tools


class Tool:
    name = "?"
    stop_how = "?"
    logs_only = False  # a reference for the log workload, no supervisor
    starts_only = False  # a variant measured on the start/stop workload only

    def __init__(self, args):
        self.args = args
        self.proc = None
        self.pidfd = None
        self.wd = None
        self.helpers = []  # (pid, start_ticks) of control commands we ran (pm2 start/kill)
        self.t_launch = None  # CLOCK_REALTIME ns just before the first Popen since reset

    def available(self):
        return None  # or a reason string

    def popen(self, argv, env=None, cwd=None, out="tool.out"):
        # Debian's default PATH: runsvdir and s6-svscan look up runsv/s6-supervise through it
        # for every service, and a long developer PATH would cost them a failed execve each.
        e = dict(os.environ, PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        if env:
            e.update(env)
        fout = open(os.path.join(self.wd, out), "ab")
        if self.t_launch is None:
            self.t_launch = now_ns()
        try:
            p = subprocess.Popen(argv, cwd=cwd or self.wd, env=e, stdin=subprocess.DEVNULL,
                                 stdout=fout, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            fout.close()
        REAPER.popens[p.pid] = p
        return p

    def launch(self, argv, env=None, out="tool.out"):
        self.proc = self.popen(argv, env, out=out)
        self.pidfd = os.pidfd_open(self.proc.pid)  # our unreaped child: safe
        self._root = (self.proc.pid, start_ticks(self.proc.pid))

    def signal_main(self, sig):
        try:
            signal.pidfd_send_signal(self.pidfd, sig)
        except ProcessLookupError:
            pass

    def main_exited(self):
        return self.pidfd is not None and readable(self.pidfd)

    def output_tail(self, name="tool.out", lines=3):
        try:
            with open(os.path.join(self.wd, name), "rb") as f:
                text = f.read()[-2000:].decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def check(self):
        """Raise if the tool died while it should be running."""
        if self.main_exited():
            raise BenchError(f"{self.name} exited early: {self.output_tail()!r}")

    def root(self):
        """(pid, start_ticks) of the tool's top process, or None."""
        return getattr(self, "_root", None)

    def tree(self):
        """(pid, start_ticks) of the tool's top process and all its descendants."""
        REAPER.reap()
        r = self.root()
        if r is None or r[1] is None or start_ticks(r[0]) != r[1]:
            return []
        out = [r]
        try:
            kids = psutil.Process(r[0]).children(recursive=True)
        except psutil.Error:
            return out
        for k in kids:
            st = start_ticks(k.pid)
            if st is not None:
                out.append((k.pid, st))
        return out

    def own_pids(self, services):
        """The tool's own processes: its tree less the services."""
        return [pid for pid, _ in self.tree() if pid not in services]

    def stop(self):
        self.signal_main(signal.SIGTERM)

    def close(self):
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        self.proc = None

    # prepare_* write the tool's config for one workload into self.wd
    def run_start(self, n, stamps):
        raise NotImplementedError

    def run_restart(self, stamps):
        raise NotImplementedError

    def run_logs(self, stamps, nbytes, timestamps):
        raise NotImplementedError

    def log_files(self):
        raise NotImplementedError


class Floor(Tool):
    name = "floor"
    stop_how = "SIGTERM"

    def available(self):
        for b in (FLOOR, STAMP, FLOOD):
            if not os.access(b, os.X_OK):
                return f"{b} missing: run bench/setup.sh"
        return None

    def run_start(self, n, stamps):
        self.launch([FLOOR, "spawn", str(n), STAMP, stamps])

    def run_restart(self, stamps):
        self.launch([FLOOR, "restart", STAMP, stamps, "exit"])

    def run_logs(self, stamps, nbytes, timestamps):
        if timestamps:
            raise BenchError("floor has no timestamps")
        self.logfile = os.path.join(self.wd, "flood.log")
        self.launch([FLOOR, "log", self.logfile, FLOOD, stamps, str(nbytes), str(FLOOD_DELAY_MS)])

    def log_files(self):
        return [self.logfile]


class Direct(Tool):
    """The log writer's stdout is the log file itself: no pipe, no tool, no second copy.
    How fast this machine takes 1 GiB into the page cache at that moment, the ceiling of
    every tool's log capture."""
    name = "direct"
    stop_how = "—"
    logs_only = True

    def available(self):
        return None if os.access(FLOOD, os.X_OK) else f"{FLOOD} missing: run bench/setup.sh"

    def run_logs(self, stamps, nbytes, timestamps):
        if timestamps:
            raise BenchError("direct has no timestamps")
        self.logfile = os.path.join(self.wd, "flood.log")
        self.launch([FLOOD, stamps, str(nbytes), str(FLOOD_DELAY_MS)], out="flood.log")

    def log_files(self):
        return [self.logfile]


class Corral(Tool):
    name = "corral"
    stop_how = "SIGTERM"
    containment = None  # corral picks (auto), unless CORRAL_BENCH_CONTAINMENT says

    def available(self):
        if not os.access(CORRAL, os.X_OK):
            return f"{CORRAL} not built (meson setup build && ninja -C build)"
        return None

    def own_pids(self, services):
        """corral's tree, plus its output holder wherever it is. While corral
        runs, the holder is its child (corral is a subreaper, and the holder's
        intermediate exits); it outlives corral on purpose, and once corral is
        gone the driver, a subreaper too, is its parent. Told apart by its
        executable."""
        own = super().own_pids(services)
        hold = os.path.realpath(CORRAL + "-fdhold")
        try:
            kids = psutil.Process().children()
        except psutil.Error:
            return own
        for k in kids:
            try:
                if os.path.realpath(f"/proc/{k.pid}/exe") == hold:
                    own.append(k.pid)
            except OSError:
                pass
        return own

    def write_config(self, services, timestamps=False):
        mode = self.containment or os.environ.get("CORRAL_BENCH_CONTAINMENT")
        lines = ([f"containment: {mode}"] if mode else []) + ["services:"]
        for name, argv, policy in services:
            cmd = ", ".join(json.dumps(a) for a in argv)
            lines.append(f"  {name}:")
            lines.append(f"    command: [{cmd}]")
            ts = "true" if timestamps else "false"
            lines.append(f"    restart: {{policy: {policy}, initial: 0ms, jitter: 0%, "
                         "max_restarts: 0}")
            lines.append(f"    logs: {{timestamps: {ts}, max_size: 0}}")
        path = os.path.join(self.wd, "corral.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def run_start(self, n, stamps):
        cfg = self.write_config([(f"s{i:04d}", [STAMP, stamps], "always") for i in range(n)])
        self.launch([CORRAL, "up", "-f", cfg, "-q"])

    def run_restart(self, stamps):
        cfg = self.write_config([("s0000", [STAMP, stamps, "exit"], "always")])
        self.launch([CORRAL, "up", "-f", cfg, "-q"])

    def run_logs(self, stamps, nbytes, timestamps):
        cfg = self.write_config([("flood", [FLOOD, stamps, str(nbytes), str(FLOOD_DELAY_MS)],
                                  "on-failure")], timestamps)
        self.launch([CORRAL, "up", "-f", cfg, "-q"])

    def log_files(self):
        d = os.path.join(self.wd, ".corral", "logs")
        try:
            return [os.path.join(d, f) for f in os.listdir(d) if f.startswith("flood.log")]
        except FileNotFoundError:
            return []


class CorralPgroup(Corral):
    """corral with `containment: pgroup`, in the same run as corral's pick (a cgroup where
    one is writable): what the per-service cgroups cost a start and a stop."""
    name = "corral-pgroup"
    containment = "pgroup"
    starts_only = True


class Supervisord(Tool):
    name = "supervisord"
    stop_how = "SIGTERM"

    def available(self):
        if not shutil.which("supervisord"):
            return "supervisord not installed (bench/setup.sh)"
        return None

    def write_config(self, programs, n_fds):
        os.makedirs(os.path.join(self.wd, "childlogs"), exist_ok=True)
        s = [
            "[supervisord]",
            "nodaemon=true",
            f"logfile={self.wd}/supervisord.log",
            f"pidfile={self.wd}/supervisord.pid",
            f"childlogdir={self.wd}/childlogs",
            f"minfds={n_fds}",
            "",
        ]
        # One group: supervisord stops groups one after the other, each taking up to a turn
        # of its 1-s poll loop, so 1,000 one-program groups would take ~1,000 s to stop.
        s += ["[group:all]", "programs=" + ",".join(p[0] for p in programs), ""]
        for name, cmd, extra in programs:
            s += [f"[program:{name}]", f"command={cmd}", "startsecs=0", "stopwaitsecs=10",
                  "redirect_stderr=true"] + extra + [""]
        path = os.path.join(self.wd, "supervisord.conf")
        with open(path, "w") as f:
            f.write("\n".join(s))
        return path

    def go(self, cfg):
        self.launch(["supervisord", "-n", "-c", cfg])

    def run_start(self, n, stamps):
        self.go(self.write_config([(f"s{i:04d}", f"{STAMP} {stamps}", ["autorestart=true"])
                                   for i in range(n)], 6 * n + 1024))

    def run_restart(self, stamps):
        self.go(self.write_config([("s0000", f"{STAMP} {stamps} exit",
                                    ["autorestart=true", "startretries=1000000"])], 1024))

    def run_logs(self, stamps, nbytes, timestamps):
        if timestamps:
            raise BenchError("supervisord has no log timestamps")
        self.logfile = os.path.join(self.wd, "flood.log")
        self.go(self.write_config([("flood", f"{FLOOD} {stamps} {nbytes} {FLOOD_DELAY_MS}",
                                    ["autorestart=false", f"stdout_logfile={self.logfile}",
                                     "stdout_logfile_maxbytes=0"])], 1024))

    def log_files(self):
        return [self.logfile]


class Pm2(Tool):
    name = "pm2"
    stop_how = "pm2 kill"

    def available(self):
        if not os.access(PM2, os.X_OK):
            return f"{PM2} missing (bench/setup.sh)"
        if not shutil.which("node"):
            return "node not installed"
        return None

    def env(self):
        return {"PM2_HOME": os.path.join(self.wd, "pm2home")}

    def go(self, apps):
        for a in apps:
            a.update({"interpreter": "none", "exec_mode": "fork", "vizion": False,
                      "pmx": False, "automation": False, "autostart": True})
        path = os.path.join(self.wd, "ecosystem.json")
        with open(path, "w") as f:
            json.dump({"apps": apps}, f)
        self.cli = self.popen([PM2, "start", path, "--silent", "--no-color"], self.env(),
                              out="pm2-cli.out")
        self.cli_fd = os.pidfd_open(self.cli.pid)
        self.helpers.append((self.cli.pid, start_ticks(self.cli.pid)))
        self.proc = None
        self._root = None

    def root(self):
        """The God daemon, once it is up: it is reparented to us, the subreaper."""
        if getattr(self, "_root", None):
            return self._root
        try:
            with open(os.path.join(self.wd, "pm2home", "pm2.pid")) as f:
                pid = int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None
        for d in descendants():
            if d[0] == pid:
                self._root = d
                return d
        return None

    def check(self):
        if readable(self.cli_fd):
            REAPER.reap()
            st = REAPER.status.get(self.cli.pid)
            if st is not None and os.waitstatus_to_exitcode(st) != 0:
                raise BenchError(f"pm2 start failed: {self.output_tail('pm2-cli.out')!r}")

    def run_start(self, n, stamps):
        self.go([{"name": f"s{i:04d}", "script": STAMP, "args": [stamps], "autorestart": True}
                 for i in range(n)])

    def run_restart(self, stamps):
        self.go([{"name": "s0000", "script": STAMP, "args": [stamps, "exit"],
                  "autorestart": True, "restart_delay": 0, "max_restarts": 1000000000}])

    def run_logs(self, stamps, nbytes, timestamps):
        self.logfile = os.path.join(self.wd, "flood.out.log")
        app = {"name": "flood", "script": FLOOD, "args": [stamps, str(nbytes), str(FLOOD_DELAY_MS)],
               "autorestart": False, "out_file": self.logfile,
               "error_file": os.path.join(self.wd, "flood.err.log"), "merge_logs": True}
        if timestamps:
            app["time"] = True
        self.go([app])

    def stop(self):
        self.kill_cli = self.popen([PM2, "kill", "--no-color"], self.env(), out="pm2-cli.out")
        self.helpers.append((self.kill_cli.pid, start_ticks(self.kill_cli.pid)))

    def close(self):
        os.close(self.cli_fd)
        super().close()

    def log_files(self):
        return [self.logfile]


class Svdir(Tool):
    """Common part of runit and s6: a scan directory of service directories."""

    def make_service(self, name, run_target=None, script=None, logger=None, down=False):
        d = os.path.join(self.scandir, name)
        os.makedirs(d)
        run = os.path.join(d, "run")
        if run_target:
            os.symlink(run_target, run)
        else:
            with open(run, "w") as f:
                f.write("#!/bin/sh\n" + script + "\n")
            os.chmod(run, 0o755)
        if down:
            open(os.path.join(d, "down"), "w").close()
        if logger:
            os.makedirs(os.path.join(d, "log"))
            lrun = os.path.join(d, "log", "run")
            with open(lrun, "w") as f:
                f.write("#!/bin/sh\n" + logger + "\n")
            os.chmod(lrun, 0o755)

    def setup_scandir(self):
        self.scandir = os.path.join(self.wd, "sv")
        os.makedirs(self.scandir)

    def run_start(self, n, stamps):
        self.setup_scandir()
        for i in range(n):
            self.make_service(f"s{i:04d}", run_target=STAMP)
        self.go({"STAMP_FILE": stamps})

    def run_restart(self, stamps):
        self.setup_scandir()
        self.make_service("s0000", run_target=STAMP)
        self.go({"STAMP_FILE": stamps, "STAMP_EXIT": "1"})

    def run_logs(self, stamps, nbytes, timestamps):
        self.setup_scandir()
        self.logdir = os.path.join(self.wd, "logs")
        os.makedirs(self.logdir)
        self.make_service("flood", script=f"exec {FLOOD} {stamps} {nbytes} {FLOOD_DELAY_MS}",
                          logger=self.logger_cmd(timestamps), down=True)
        self.go({})
        self.start_once(os.path.join(self.scandir, "flood"))

    def wait_file(self, path, timeout_s=10):
        deadline = time.monotonic() + timeout_s
        while not os.path.exists(path):
            self.check()
            if time.monotonic() > deadline:
                raise BenchError(f"{path} did not appear")
            time.sleep(0.005)

    def run_cmd(self, argv):
        p = self.popen(argv, out="ctl.out")
        fd = os.pidfd_open(p.pid)
        try:
            readable(fd, 10)
        finally:
            os.close(fd)
        REAPER.reap()
        st = REAPER.status.get(p.pid)
        if st is None or os.waitstatus_to_exitcode(st) != 0:
            raise BenchError(f"{' '.join(argv)} failed: {self.output_tail('ctl.out')!r}")

    def log_files(self):
        return [os.path.join(self.logdir, f) for f in os.listdir(self.logdir)
                if f == "current" or f.startswith("@")]


class Runit(Svdir):
    name = "runit"
    stop_how = "SIGHUP to runsvdir"

    def available(self):
        for b in ("runsvdir", "runsv", "sv", "svlogd"):
            if not shutil.which(b):
                return f"{b} not installed (bench/setup.sh)"
        return None

    def go(self, env):
        self.launch(["runsvdir", self.scandir], env)

    def logger_cmd(self, timestamps):
        # s0: never rotate (the default would rotate at 1 MB and drop all but 10 files).
        with open(os.path.join(self.logdir, "config"), "w") as f:
            f.write("s0\n")
        return f"exec svlogd {'-tt ' if timestamps else ''}{self.logdir}"

    def start_once(self, svc):
        self.wait_file(os.path.join(svc, "supervise", "ok"))
        self.run_cmd(["sv", "once", svc])

    def stop(self):
        # runsvdir: on HUP it sends TERM to every runsv and exits; runsv on TERM stops its
        # service (TERM, CONT) and exits.
        self.signal_main(signal.SIGHUP)


class S6(Svdir):
    name = "s6"
    stop_how = "SIGTERM to s6-svscan"

    def available(self):
        for b in ("s6-svscan", "s6-supervise", "s6-svc", "s6-log"):
            if not shutil.which(b):
                return f"{b} not installed (bench/setup.sh)"
        return None

    def go(self, env):
        # -c N: room for N services plus N loggers (the default, 500, is too few for 1000).
        self.launch(["s6-svscan", "-c", "4096", self.scandir], env)

    def logger_cmd(self, timestamps):
        # s6-log cannot switch rotation off: keep up to 100 archives of its largest file size.
        return f"exec s6-log n100 s16777215 {'T ' if timestamps else ''}{self.logdir}"

    def start_once(self, svc):
        self.wait_file(os.path.join(svc, "supervise", "control"))
        self.run_cmd(["s6-svc", "-o", svc])


TOOL_CLASSES = {"floor": Floor, "direct": Direct, "corral": Corral, "corral-pgroup": CorralPgroup,
                "supervisord": Supervisord, "pm2": Pm2, "s6": S6, "runit": Runit}


# --------------------------------------------------------------------------- workloads


class Session:
    """One tool instance in a fresh work directory, always cleaned up."""

    def __init__(self, tool, label, shared=False):
        self.tool = tool
        self.shared = shared  # other tools run beside it (idle phase)
        self.services = ServiceSet()
        stamp_ = datetime.datetime.now().strftime("%H%M%S%f")
        tool.wd = os.path.join(tool.args.work_dir, f"{tool.name}-{label}-{stamp_}")
        os.makedirs(tool.wd)
        self.stamps = os.path.join(tool.wd, "stamps")
        self.stopped = False

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        """Stop the tool if not done yet, wait for every process it had (its tree and the
        services) to be gone, kill what is left; alone, also check that the driver has no
        descendant at all."""
        t = self.tool
        try:
            known = set(t.tree()) | set(self.services.idents()) | set(t.helpers)
            if not self.stopped and (t.proc is not None or getattr(t, "cli", None) is not None):
                try:
                    t.stopping = True
                    t.stop()
                except Exception as e:  # noqa: BLE001 - best effort before the kill
                    log(f"  {t.name}: stop failed: {e}")
            deadline = time.monotonic() + 60
            while True:
                known |= set(t.tree()) | set(t.helpers)
                left = [x for x in known if x[1] is not None and start_ticks(x[0]) == x[1]]
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            if left:
                log(f"  {t.name}: {len(left)} processes still there 60 s after stop; killing them")
                for pid, ticks in left:
                    signal_checked(pid, ticks, signal.SIGKILL)
                deadline = time.monotonic() + 10
                while left and time.monotonic() < deadline:
                    REAPER.reap()
                    left = [x for x in left if x[1] is not None and start_ticks(x[0]) == x[1]]
                    time.sleep(0.02)
                if left:
                    raise CleanupError(f"{t.name}: processes left after SIGKILL: {left}")
            if not self.shared:
                left = wait_no_descendants(10)
                if left:
                    log(f"  {t.name}: stray processes {left}; killing them")
                    force_cleanup()
        finally:
            self.services.close()
            t.close()
            if not self.tool.args.keep:
                shutil.rmtree(t.wd, ignore_errors=True)
        return False

    def wait_stamps(self, count, timeout_s):
        deadline = time.monotonic() + timeout_s
        while True:
            st = read_stamps(self.stamps)
            for _, pid in st[len(self.services.procs):]:
                self.services.add(pid)
            if len(st) >= count:
                return st
            self.tool.check()
            if time.monotonic() > deadline:
                raise BenchError(f"only {len(st)} of {count} stamps after {timeout_s:.0f} s")
            time.sleep(0.01)

    def stop_and_time(self, timeout_s):
        t = self.tool
        t.stopping = True
        t0 = now_ns()
        t.stop()
        t_exit, t_gone = self.services.wait_gone(timeout_s)
        self.stopped = True
        return (t_exit - t0) / 1e6, (t_gone - t0) / 1e6


def start_turns(order, ns, rounds, rounds_max_n):
    """(n, tool, first round?) for one run's start/stop measurements. A start of a few
    services takes milliseconds, so one sample per run says more about what else the
    machine did at that moment than about the tool: up to rounds_max_n services, each
    run takes `rounds` samples of every tool, in turns (floor, corral, ..., floor,
    corral, ...), the order rotated each round, so that a change in the machine's load
    falls on every tool alike."""
    for n in ns:
        k = rounds if n <= rounds_max_n else 1
        for rnd in range(k):
            for name in order[rnd % len(order):] + order[:rnd % len(order)]:
                yield n, name, rnd == 0


def measure_start_stop(tool, n, settle_s=0):
    """Start n stamp services, then stop them; returns a dict of figures. With settle_s, also
    the RSS/PSS of the tool's own processes that long after the start, the tool alone."""
    res = {}
    with Session(tool, f"start{n}") as s:
        # From the tool's launch: its config (or service directories) is written
        # before, as the floor gets its services in argv.
        tool.t_launch = None
        tool.run_start(n, s.stamps)
        t0 = tool.t_launch
        st = s.wait_stamps(n, 60 + 0.3 * n)
        if len({pid for _, pid in st}) != n:
            raise BenchError(f"{len(st)} stamps but not {n} distinct pids")
        res["start_ms"] = (max(ts for ts, _ in st) - t0) / 1e6
        # A stall on the tool's side (a lock, a grace period) shows as one long gap.
        execs = sorted(ts for ts, _ in st)
        res["start_max_gap_ms"] = max((b - a for a, b in zip(execs, execs[1:])), default=0) / 1e6
        time.sleep(0.2)
        dead = [p for p in s.services.procs if p not in s.services.alive()]
        if dead:
            raise BenchError(f"{len(dead)} services died after starting")
        if settle_s:
            time.sleep(settle_s)
            own = tool.own_pids(set(s.services.procs))
            res["alone_rss_kib"], res["alone_pss_kib"] = memory_kib(own)
        exit_ms, gone_ms = s.stop_and_time(60 + 0.1 * n)
        res["stop_ms"] = gone_ms
        res["stop_exit_ms"] = exit_ms
    return res


def measure_idle(tools, n, idle_s, settle_s, on_fail):
    """Start every tool with n services (one after the other), let them all sit idle for the
    same idle_s window, and read each tool's own processes: CPU time and context switches
    over the window, RSS and PSS at its end. Returns {tool name: figures}."""
    out = {}
    with contextlib.ExitStack() as stack:
        up = []
        for tool in tools:
            try:
                s = stack.enter_context(Session(tool, f"idle{n}", shared=True))
                tool.run_start(n, s.stamps)
                s.wait_stamps(n, 60 + 0.3 * n)
                up.append((tool, s))
            except BenchError as e:
                on_fail(tool.name, e)
        time.sleep(settle_s)
        before = {}
        for tool, s in up:
            before[tool.name] = (sample_procs(tool.own_pids(set(s.services.procs))),
                                 time.monotonic())
        time.sleep(idle_s)
        for tool, s in up:
            own = tool.own_pids(set(s.services.procs))
            b = sample_procs(own)
            a, t_a = before[tool.name]
            cpu, ctx = delta_procs(a, b)
            rss, pss = memory_kib(own)
            if len(s.services.alive()) != n:
                on_fail(tool.name, BenchError("services died while idle"))
                continue
            out[tool.name] = {"idle_cpu_ms": cpu * 1000,
                              "idle_wakeups_per_s": ctx / (time.monotonic() - t_a),
                              "idle_rss_kib": rss, "idle_pss_kib": pss, "idle_procs": len(own)}
    left = wait_no_descendants(10)
    if left:
        log(f"  idle: stray processes {left}; killing them")
        force_cleanup()
    return out


def measure_restart(tool, gaps, max_s):
    with Session(tool, "restart") as s:
        tool.run_restart(s.stamps)
        deadline = time.monotonic() + max_s
        while True:
            st = read_stamps(s.stamps)
            if len(st) > gaps or (time.monotonic() > deadline and len(st) >= 4):
                break
            tool.check()
            if time.monotonic() > deadline + 10:
                raise BenchError(f"only {len(st)} starts in {max_s + 10:.0f} s")
            time.sleep(0.01)
        ts = [t for t, _ in st[:gaps + 1]]
        d = [(b - a) / 1e6 for a, b in zip(ts, ts[1:])]
    return {"restart_gap_ms": statistics.median(d), "restart_gaps": len(d)}


def log_bytes(tool):
    total = 0
    for f in tool.log_files():
        try:
            total += os.stat(f).st_size
        except FileNotFoundError:
            pass
    return total


def count_lines(files):
    n = 0
    for path in files:
        with open(path, "rb") as f:
            while True:
                b = f.read(1 << 24)
                if not b:
                    break
                n += b.count(b"\n")
    return n


def measure_logs(tool, nbytes, timestamps):
    with Session(tool, "logs-ts" if timestamps else "logs") as s:
        tool.run_logs(s.stamps, nbytes, timestamps)
        st = s.wait_stamps(1, 60)
        flood_pid = st[0][1]
        if flood_pid not in s.services.procs:
            raise BenchError("the log writer died at once")
        fd = s.services.procs[flood_pid][0]
        own = tool.own_pids({flood_pid})
        base = sample_procs(own)
        st = s.wait_stamps(2, 60)
        t_go = st[1][0]
        deadline = time.monotonic() + 600
        last, t_last = -1, now_ns()
        exited_at = None
        t_own = time.monotonic()
        end = base
        while True:
            # The tool's CPU is sampled on every turn: a tool may exit on its own once its
            # only service is done (corral does), and then its counters are gone.
            if time.monotonic() - t_own > 0.5:
                own, t_own = tool.own_pids({flood_pid}), time.monotonic()
            sample = sample_procs(own)
            if sample:
                end = {**end, **sample}
            size = log_bytes(tool)
            t = now_ns()
            if size != last:
                last, t_last = size, t
            if not timestamps and size >= nbytes:
                t_done = t
                break
            if exited_at is None and readable(fd):
                exited_at = time.monotonic()
            if exited_at is not None and (t - t_last) / 1e9 > (1.0 if timestamps else 5.0):
                if not timestamps:
                    raise BenchError(f"log holds {size} of {nbytes} bytes")
                t_done = t_last
                break
            if exited_at is None:
                tool.check()  # once the writer is gone the tool may exit: not a failure
            if time.monotonic() > deadline:
                raise BenchError(f"log holds {size} of {nbytes} bytes after 600 s")
            time.sleep(0.005)
        cpu, _ = delta_procs(base, end)
        secs = (t_done - t_go) / 1e9
        res = {"log_s": secs, "log_mibps": nbytes / (1 << 20) / secs, "log_cpu_s": cpu,
               "log_bytes": last}
        if timestamps:
            # wait until the writer is gone and every line is in: count them
            lines = count_lines(tool.log_files())
            if lines != nbytes // LINE_BYTES:
                raise BenchError(f"log holds {lines} lines, expected {nbytes // LINE_BYTES}")
        elif last != nbytes:
            raise BenchError(f"log holds {last} bytes, expected {nbytes}")
    return res


# --------------------------------------------------------------------------- report


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, decimals=None):
    """Fixed decimals when given, else about three significant digits."""
    if v is None:
        return "—"
    if decimals is not None:
        return f"{v:.{decimals}f}"
    a = abs(v)
    if a >= 100 or a == 0:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def ratio(v, f):
    if v is None or f is None:
        return "—"
    if f == 0:
        return "0×" if v == 0 else "∞"
    return f"{v / f:.2f}×"


def table(title, header, rows):
    """rows: list of lists of strings. Returns (plain text, markdown)."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    plain = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths))]
    plain += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    md = [f"**{title}**", "", "| " + " | ".join(header) + " |",
          "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(plain), "\n".join(md)


def build_tables(results, tools, ns, cfg):
    meds = {k: {t: med(v) for t, v in d.items()} for k, d in results.items()}
    out = []

    def get(key, tool):
        return meds.get(key, {}).get(tool)

    def cell(key, tool, decimals=None):
        v = get(key, tool)
        return fmt(v, decimals), ratio(v, get(key, "floor"))

    def spread(key, tool, decimals=0):
        xs = [x for x in results.get(key, {}).get(tool, []) if x is not None]
        return f"{fmt(min(xs), decimals)}–{fmt(max(xs), decimals)}" if xs else "—"

    def runs(key, tool):
        xs = results.get(key, {}).get(tool, [])
        return f"{len([x for x in xs if x is not None])}/{len(xs)}"

    sups = [t for t in tools if not TOOL_CLASSES[t].logs_only]
    full = [t for t in sups if not TOOL_CLASSES[t].starts_only]
    for wl, what in (("start_ms", "Start: launch → all N services exec'd (ms)"),
                     ("stop_ms", "Stop: stop request → no service process left (ms)")):
        if not any(k.startswith(wl + "/") for k in results):
            continue
        header = ["tool"]
        for n in ns:
            header += [f"N={n}", "× floor"]
        rows = []
        for t in sups:
            r = [t]
            for n in ns:
                r += list(cell(f"{wl}/{n}", t))
            rows.append(r)
        out.append(table(what, header, rows))

    if "restart_gap_ms" in results:
        rows = [[t, *cell("restart_gap_ms", t), spread("restart_gap_ms", t, 2),
                 runs("restart_gap_ms", t)] for t in full]
        out.append(table("Restart gap: exit → next exec, smallest delay each tool allows (ms)",
                         ["tool", "gap", "× floor", "range", "runs ok"], rows))

    if "idle_cpu_ms" in results:
        rows = []
        for t in full:
            rows.append([t, *cell("idle_cpu_ms", t), *cell("idle_wakeups_per_s", t, 2),
                         *cell("idle_rss_kib", t, 0), *cell("idle_pss_kib", t, 0),
                         fmt(get("alone_pss_kib", t), 0), fmt(get("idle_procs", t), 0)])
        out.append(table(f"Idle: {cfg['idle_n']} services each, {cfg['idle_s']:.0f} s; the "
                         "tool's own processes only (not the services)",
                         ["tool", "CPU ms", "× floor", "wake-ups/s", "× floor", "RSS KiB",
                          "× floor", "PSS KiB", "× floor", "PSS alone KiB", "processes"], rows))

    if "log_mibps" in results:
        rows = []
        for t in [t for t in tools if not TOOL_CLASSES[t].starts_only]:
            rows.append([t, fmt(get("log_s", t), 2), ratio(get("log_s", t), get("log_s", "floor")),
                         fmt(get("log_mibps", t), 0), spread("log_mibps", t),
                         fmt(get("log_cpu_s", t), 2) if t in sups else "—",
                         ratio(get("log_cpu_s", t), get("log_cpu_s", "floor")) if t in sups
                         else "—",
                         runs("log_mibps", t)])
        out.append(table(f"Logs: {cfg['log_mib']} MiB of 128-byte lines on stdout → the tool's "
                         "log files (timestamps off)",
                         ["tool", "seconds", "× floor", "MiB/s", "MiB/s range", "tool CPU s",
                          "× floor", "runs ok"], rows))
    if "log_ts_mibps" in results:
        rows = []
        for t in results["log_ts_mibps"]:
            rows.append([t, fmt(get("log_ts_s", t), 2),
                         ratio(get("log_ts_s", t), get("log_s", "floor")),
                         fmt(get("log_ts_mibps", t), 0), spread("log_ts_mibps", t),
                         fmt(get("log_ts_cpu_s", t), 2),
                         ratio(get("log_ts_cpu_s", t), get("log_cpu_s", "floor")),
                         runs("log_ts_mibps", t)])
        out.append(table("Logs with timestamps on (ratios to the floor, which has none)",
                         ["tool", "seconds", "× floor", "MiB/s", "MiB/s range", "tool CPU s",
                          "× floor", "runs ok"], rows))
    return meds, out


def targets(meds, ns, cfg, corral_ok):
    def g(k, t="corral"):
        return meds.get(k, {}).get(t)

    def r(k):
        a, f = g(k), g(k, "floor")
        return None if a is None or not f else a / f

    rows = []

    def add(what, target, val, ok):
        if not corral_ok or val is None:
            rows.append([what, target, "pending", "—"])
        else:
            rows.append([what, target, val, "yes" if ok else "no"])

    for n in ns:
        x = r(f"start_ms/{n}")
        add(f"start, N={n}", "≤ 1.3× floor", x and f"{x:.2f}×", x is not None and x <= 1.3)
    for n in ns:
        a, f = g(f"start_ms/{n}", "corral-pgroup"), g(f"start_ms/{n}", "floor")
        if a is not None and f:
            rows.append([f"start, N={n}, containment: pgroup", "(report)", f"{a / f:.2f}×", "—"])
    for n in ns:
        x = r(f"stop_ms/{n}")
        add(f"stop, N={n}", "≤ 1.5× floor", x and f"{x:.2f}×", x is not None and x <= 1.5)
    x = r("restart_gap_ms")
    add("restart gap", "≤ 2× floor", x and f"{x:.2f}×", x is not None and x <= 2)
    if cfg["idle_s"]:
        w = g("idle_wakeups_per_s")
        add(f"idle wake-ups, {cfg['idle_n']} services", "0 /s", w is not None and f"{w:.2f}/s",
            w == 0)
        p = g("idle_pss_kib")
        add(f"PSS, {cfg['idle_n']} services", "< 4 MiB", p is not None and f"{p / 1024:.2f} MiB",
            p is not None and p < 4096)
    m = g("log_mibps")
    add("log capture, timestamps off", "≥ 1000 MiB/s", m and f"{m:.0f} MiB/s",
        m is not None and m >= 1000)
    d = g("log_mibps", "direct")
    if corral_ok and m is not None and d:
        rows.append(["log capture ÷ direct write to the file", "(report)",
                     f"{m / d:.2f} (direct {d:.0f} MiB/s)", "—"])
    m = g("log_ts_mibps")
    if not corral_ok or m is None:
        rows.append(["log capture, timestamps on", "(report)", "pending", "—"])
    else:
        rows.append(["log capture, timestamps on", "(report)", f"{m:.0f} MiB/s", "—"])
    return table("corral against the issue's targets", ["figure", "target", "corral", "met"], rows)


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": model,
            "mem_gib": round(psutil.virtual_memory().total / (1 << 30), 1)}


def versions():
    v = {}

    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    v["supervisord"] = cmd(["supervisord", "--version"])
    for pkg in ("runit", "s6"):
        v[pkg] = cmd(["dpkg-query", "-W", "-f=${Version}", pkg])
    try:
        with open(os.path.join(WORK, "node_modules", "pm2", "package.json")) as f:
            v["pm2"] = json.load(f)["version"]
    except (OSError, ValueError):
        v["pm2"] = None
    v["node"] = cmd(["node", "--version"])
    # build/corral may hold uncommitted work: give the tree's HEAD and the binary's mtime.
    v["corral"] = cmd(["git", "-C", ROOT, "describe", "--always", "--dirty"])
    try:
        v["corral_built"] = datetime.datetime.fromtimestamp(os.stat(CORRAL).st_mtime).isoformat()
    except OSError:
        v["corral_built"] = None
    return v


# --------------------------------------------------------------------------- main


def probe_corral(args, cls=None):
    """corral counts as working when it starts 10 stamp services and stops them all."""
    t = (cls or Corral)(args)
    why = t.available()
    if why:
        return why
    try:
        r = measure_start_stop(t, 10)
        return None if r.get("stop_ms") is not None else "no stop time"
    except BenchError as e:
        return f"probe failed: {e}"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="N=10,100; idle 10 s; logs 256 MiB; 3 runs")
    ap.add_argument("--runs", type=int, default=None,
                    help="runs of start, stop and restart (default 5, --quick 3)")
    ap.add_argument("--log-runs", type=int, default=None,
                    help="runs of the log workloads (default 5, --quick 3): the noisiest figure")
    ap.add_argument("--ns", default=None, help="service counts, e.g. 10,100,1000")
    ap.add_argument("--idle", type=float, default=None, help="idle seconds (default 60; 0: skip)")
    ap.add_argument("--idle-n", type=int, default=None, help="services while idle (default max N)")
    ap.add_argument("--log-mib", type=int, default=None, help="MiB for the log workload (1024)")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--workloads", default="start,idle,restart,logs,logs-ts")
    ap.add_argument("--rounds", type=int, default=3,
                    help="start/stop samples of each tool per run, taken in turns, for N up "
                         "to --rounds-max-n (default 3)")
    ap.add_argument("--rounds-max-n", type=int, default=100,
                    help="the largest N sampled --rounds times per run (default 100)")
    ap.add_argument("--restart-gaps", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep work directories")
    ap.add_argument("--work-dir", default=os.path.join(WORK, "runs"),
                    help="where each measurement's directory (config, stamps, logs) is made, "
                         "for every tool alike; e.g. a tmpfs to take the disk out of the log "
                         "figures (default bench/.work/runs)")
    ap.add_argument("--cpu-shares", type=int, default=10240,
                    help="cpu.shares of the benchmark's cgroup (1024 = everyone else's; 0: none)")
    ap.add_argument("--probe-corral", action="store_true",
                    help="only check whether build/corral works, exit 0 if it does")
    ap.add_argument("--out", default=os.path.join(BENCH, "results"))
    a = ap.parse_args()
    a.ns = [int(x) for x in (a.ns or ("10,100" if a.quick else "10,100,1000")).split(",")]
    if a.idle is None:
        a.idle = 10.0 if a.quick else 60.0
    if a.idle_n is None:
        a.idle_n = max(a.ns)
    if a.runs is None:
        a.runs = 3 if a.quick else 5
    if a.log_runs is None:
        a.log_runs = a.runs if a.quick else max(a.runs, 5)
    if a.log_mib is None:
        a.log_mib = 256 if a.quick else 1024
    a.tools = [t for t in a.tools.split(",") if t]
    bad = [t for t in a.tools if t not in TOOL_CLASSES]
    if bad:
        ap.error(f"unknown tool {bad[0]!r}; known: {', '.join(TOOLS)}")
    known = ("start", "idle", "restart", "logs", "logs-ts")
    # "stop" is measured with "start" (the same instances): accept it as a synonym.
    a.workloads = ["start" if w == "stop" else w for w in a.workloads.split(",") if w]
    bad = [w for w in a.workloads if w not in known]
    if bad:
        ap.error(f"unknown workload {bad[0]!r}; known: {', '.join(known)} (stop comes with start)")
    return a


def main():
    args = parse_args()
    with CpuGroup(args.cpu_shares) as cg:
        args.cgroup = cg.path
        return bench(args)


def bench(args):
    os.makedirs(args.work_dir, exist_ok=True)
    become_subreaper()
    raise_nofile()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))

    if args.probe_corral:
        why = probe_corral(args)
        log("corral: works" if not why else f"corral: not working: {why}")
        return 0 if not why else 1

    t_begin = time.monotonic()
    busy0 = cpu_busy_sample()
    load0 = os.getloadavg()
    for b in (FLOOR, STAMP, FLOOD):
        if not os.access(b, os.X_OK):
            sys.exit(f"run.py: {b} missing; run bench/setup.sh first")
    tools, skipped = [], {}
    for name in args.tools:
        t = TOOL_CLASSES[name](args)
        why = t.available()
        if not why and isinstance(t, Corral):
            why = probe_corral(args, type(t))
        if why:
            skipped[name] = why
            log(f"SKIP {name}: {why}")
        else:
            tools.append(name)
    if "floor" not in tools:
        sys.exit("run.py: the floor must run (every figure is a ratio to it)")

    workloads = set(args.workloads)
    cfg = {"runs": args.runs, "ns": args.ns, "idle_s": args.idle if "idle" in workloads else 0,
           "idle_n": args.idle_n, "log_mib": args.log_mib, "restart_gaps": args.restart_gaps,
           "log_runs": args.log_runs, "work_dir": args.work_dir, "rounds": args.rounds,
           "rounds_max_n": args.rounds_max_n,
           "workloads": args.workloads}
    results = {}
    failures = []

    def put(key, tool, val):
        results.setdefault(key, {}).setdefault(tool, []).append(val)

    def fail(tool_name, what, e):
        failures.append({"tool": tool_name, "workload": what, "error": str(e)})
        log(f"  FAIL {tool_name} {what}: {e}")

    def attempt(tool_name, what, fn):
        try:
            return fn()
        except BenchError as e:
            fail(tool_name, what, e)
            return None

    nbytes = args.log_mib << 20
    settle = 1.0 if args.quick else 3.0
    log(f"bench: tools {', '.join(tools)}; workloads {','.join(args.workloads)}; N={args.ns}; "
        f"{args.runs} runs ({args.log_runs} for logs); idle {args.idle:.0f} s with {args.idle_n}; "
        f"logs {args.log_mib} MiB")
    try:
        for rep in range(max(args.runs, args.log_runs)):
            # Rotate the order each run so that no tool always goes first or last.
            order = tools[rep % len(tools):] + tools[:rep % len(tools)]
            sup_order = [t for t in order if not TOOL_CLASSES[t].logs_only]
            # The variants (corral-pgroup) take part in the start/stop workload only.
            full_order = [t for t in sup_order if not TOOL_CLASSES[t].starts_only]
            log(f"run {rep + 1}/{max(args.runs, args.log_runs)} "
                f"({time.monotonic() - t_begin:.0f} s)")
            main_rep = rep < args.runs
            if "start" in workloads and main_rep:
                for n, name, first in start_turns(sup_order, args.ns, args.rounds,
                                                  args.rounds_max_n):
                    alone = first and n == args.idle_n
                    r = attempt(name, f"start/stop N={n}", lambda: measure_start_stop(
                        TOOL_CLASSES[name](args), n, settle if alone else 0)) or {}
                    put(f"start_ms/{n}", name, r.get("start_ms"))
                    put(f"stop_ms/{n}", name, r.get("stop_ms"))
                    put(f"start_max_gap_ms/{n}", name, r.get("start_max_gap_ms"))
                    msg = (f"  {name:11s} N={n:<5d} start {fmt(r.get('start_ms'))} ms  "
                           f"stop {fmt(r.get('stop_ms'))} ms")
                    if alone:
                        put("alone_rss_kib", name, r.get("alone_rss_kib"))
                        put("alone_pss_kib", name, r.get("alone_pss_kib"))
                        msg += f"  PSS {fmt(r.get('alone_pss_kib'), 0)} KiB"
                    log(msg)
            if cfg["idle_s"] and main_rep:
                # PM2 first, so that it is stopped last (the stack unwinds in reverse): its
                # stop runs `ps` over the whole machine once per app, and would crawl while
                # the other tools' thousands of processes are still there.
                idle_order = sorted(full_order, key=lambda t: t != "pm2")
                r = measure_idle([TOOL_CLASSES[t](args) for t in idle_order], args.idle_n,
                                 args.idle,
                                 settle, lambda t, e: fail(t, "idle", e))
                for name in order:
                    if TOOL_CLASSES[name].starts_only:
                        continue
                    x = r.get(name, {})
                    for k in ("idle_cpu_ms", "idle_wakeups_per_s", "idle_rss_kib",
                              "idle_pss_kib", "idle_procs"):
                        put(k, name, x.get(k))
                    log(f"  {name:11s} idle: CPU {fmt(x.get('idle_cpu_ms'))} ms, "
                        f"{fmt(x.get('idle_wakeups_per_s'), 2)} wake-ups/s, "
                        f"RSS {fmt(x.get('idle_rss_kib'), 0)} KiB, "
                        f"PSS {fmt(x.get('idle_pss_kib'), 0)} KiB")
            if "restart" in workloads and main_rep:
                for name in full_order:
                    r = attempt(name, "restart", lambda: measure_restart(
                        TOOL_CLASSES[name](args), args.restart_gaps, 8.0)) or {}
                    put("restart_gap_ms", name, r.get("restart_gap_ms"))
                    log(f"  {name:11s} restart gap {fmt(r.get('restart_gap_ms'))} ms "
                        f"({r.get('restart_gaps', 0)} gaps)")
            for wl, ts in (("logs", False), ("logs-ts", True)):
                if wl not in workloads or rep >= args.log_runs:
                    continue
                for name in order:
                    if (ts and name != "corral") or TOOL_CLASSES[name].starts_only:
                        continue
                    r = attempt(name, wl, lambda: measure_logs(TOOL_CLASSES[name](args),
                                                                nbytes, ts)) or {}
                    k = "log_ts" if ts else "log"
                    put(f"{k}_mibps", name, r.get("log_mibps"))
                    put(f"{k}_s", name, r.get("log_s"))
                    put(f"{k}_cpu_s", name, r.get("log_cpu_s"))
                    log(f"  {name:11s} {wl}: {fmt(r.get('log_s'))} s, "
                        f"{fmt(r.get('log_mibps'))} MiB/s, tool CPU {fmt(r.get('log_cpu_s'))} s")
    except CleanupError as e:
        log(f"ABORT: {e}")
        failures.append({"tool": "?", "workload": "cleanup", "error": str(e)})
        raise
    finally:
        REAPER.reap()
        left = wait_no_descendants(5)
        if left:
            force_cleanup()

    elapsed = time.monotonic() - t_begin
    busy1 = cpu_busy_sample()
    tot = busy1[0] - busy0[0]
    busy = 1 - (busy1[1] - busy0[1]) / tot if tot else None
    shown = [t for t in TOOLS if t in tools]
    meds, tabs = build_tables(results, shown, args.ns, cfg)
    tabs.append(targets(meds, cfg["ns"], cfg, "corral" in tools))
    print()
    for plain, _ in tabs:
        print(plain)
        print()
    for t, why in skipped.items():
        print(f"{t}: skipped — {why}")
    for f_ in failures:
        print(f"failed: {f_['tool']} {f_['workload']}: {f_['error']}")
    print(f"full run took {elapsed / 60:.1f} min; machine CPU busy {busy * 100:.0f}% "
          f"(all processes, these included); load average {load0[0]:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end")

    stamp_ = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    doc = {"when": stamp_, "config": cfg, "machine": machine(), "versions": versions(),
           "tools": shown, "skipped": skipped,
           "stop_how": {t: TOOL_CLASSES[t].stop_how for t in shown},
           "runs": results, "medians": meds, "failures": failures, "elapsed_s": elapsed,
           "argv": sys.argv, "cpu_shares": args.cpu_shares if args.cgroup else None,
           "machine_busy_during_run": busy, "loadavg_start": load0, "loadavg_end": os.getloadavg()}
    jpath = os.path.join(args.out, f"{stamp_}.json")
    with open(jpath, "w") as f:
        json.dump(doc, f, indent=1)
    mpath = os.path.join(args.out, f"{stamp_}.md")
    with open(mpath, "w") as f:
        m = doc["machine"]
        f.write(f"Machine: {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}, "
                f"{m['mem_gib']} GiB; medians of {args.runs} runs ({args.log_runs} for the log "
                f"workloads; {args.rounds} samples a run, in turns, for start and stop up to "
                f"N={args.rounds_max_n}); {stamp_}.\n\n")
        for _, md in tabs:
            f.write(md + "\n\n")
        for t, why in skipped.items():
            f.write(f"- {t}: skipped — {why}\n")
        for f_ in failures:
            f.write(f"- failed: {f_['tool']} {f_['workload']}: {f_['error']}\n")
    print(f"results: {jpath}\nmarkdown: {mpath}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
