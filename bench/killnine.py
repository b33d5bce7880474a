#!/usr/bin/python3
"""After kill -9 of the supervisor: what each tool does with the services the dead one left.

Each tool (supervisord, PM2, s6, runit, corral with `on_recover: restart` and with `adopt`)
runs the same five services:

  web       python3 -m http.server PORT --bind 127.0.0.1     (a loopback listener)
  daemon    sh -c "(setsid sleep 1001 &); exec sleep 1002"  (a double-forked daemon)
  stubborn  sh -c "trap '' TERM; while :; do sleep 0.2; done"
  group     sh -c "sleep 1003 & sleep 1004 & wait"          (a process group of three)
  plain     sleep 1005

Per tool: start it, wait until all five run (the listener listening, the group complete),
note every process (PID + start time), SIGKILL the supervisor's main process (supervisord;
PM2's God daemon; s6-svscan; runsvdir; the corral daemon) through a pidfd, start the
supervisor again the normal way (the same command as the first time), and after each
settle time (--settle, 5 and 15 s after that launch) record per service: how many copies
run (old = from before the kill, new = started after it), whether the old processes are still
alive, who holds the port, how many fresh copies of web were seen (a crash loop on "Address
already in use"), how often that message is in the tool's logs, and what the tool's own
status command says. The tool's own processes (s6-supervise, runsv, PM2's God, ...) are
counted the same way.

Every process of a run carries KN_MARK=<run id> in its environment (set on the supervisor,
inherited), and the driver is a child subreaper, so everything a tool starts stays its
descendant; processes are told apart by PID + start time and by their argv among the marked
descendants, never by name alone. After each tool: its own stop, then SIGKILL through a pidfd
(opened first, identity checked after) of every descendant left, reap, and a check that
nothing is left. Results: bench/results/killnine-<timestamp>.{json,md}.

  /usr/bin/python3 bench/killnine.py [--tools supervisord,pm2,s6,runit,corral-restart,corral-adopt]
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402

try:
    import psutil
except ImportError:  # pragma: no cover
    sys.exit("killnine.py: needs python3-psutil")

PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else shutil.which("python3")
SH = shutil.which("sh") or "/bin/sh"
SLEEP = shutil.which("sleep") or "/bin/sleep"
SERVICES = ["web", "daemon", "stubborn", "group", "plain"]
TRANSIENT = {("stubborn", "child"), ("daemon", "shell")}
OWN_NAMES = {"supervisord", "PM2 God", "s6-svscan", "s6-supervise", "runsvdir", "runsv", "corral"}
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def log(msg):
    print(msg, flush=True)


def commands(port):
    """Each service as an argv."""
    return {
        "web": [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        "daemon": [SH, "-c", "(setsid sleep 1001 &); exec sleep 1002"],
        "stubborn": [SH, "-c", "trap '' TERM; while :; do sleep 0.2; done"],
        "group": [SH, "-c", "sleep 1003 & sleep 1004 & wait"],
        "plain": [SLEEP, "1005"],
    }


def shell_quote(argv):
    return " ".join("'" + a.replace("'", "'\\''") + "'" for a in argv)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- observation


def classify(argv, port):
    """(service, role) of a service process by its argv, or None (a tool's own process).
    role 'main' is the process the tool started; others are its descendants."""
    if not argv:
        return None
    base = [os.path.basename(argv[0])] + argv[1:]
    joined = " ".join(argv)
    if "http.server" in argv and str(port) in argv:
        return "web", "main"
    if base == ["sleep", "1002"]:
        return "daemon", "main"
    if base == ["sleep", "1001"]:
        return "daemon", "double-forked"
    if base[0] in ("sh", "dash", "bash") and "(setsid sleep 1001 &)" in joined:
        return "daemon", "shell"  # the subshell before its exec (a few ms)
    if base[0] in ("sh", "dash", "bash") and "trap '' TERM" in joined:
        return "stubborn", "main"
    if base == ["sleep", "0.2"]:
        return "stubborn", "child"
    if base[0] in ("sh", "dash", "bash") and "sleep 1003 &" in joined:
        return "group", "main"
    if base in (["sleep", "1003"], ["sleep", "1004"]):
        return "group", "child"
    if base == ["sleep", "1005"]:
        return "plain", "main"
    return None


def marked(mark):
    """Every live descendant of the driver with KN_MARK=mark in its environment:
    [(pid, start_ticks, argv)], zombies left out."""
    out = []
    want = f"KN_MARK={mark}".encode()
    for pid, ticks in B.descendants():
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if want not in env or B.proc_state(pid)[0] in (None, "Z"):
            continue
        out.append((pid, ticks, argv))
    return out


def listener(port):
    for c in psutil.net_connections("tcp4"):
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN:
            return c.pid
    return None


def own_name(argv):
    if not argv:
        return "?"
    a0 = os.path.basename(argv[0])
    if a0 in ("python3", "python") and len(argv) > 1:
        return os.path.basename(argv[1])  # supervisord
    if a0.startswith("PM2") or "God Daemon" in " ".join(argv):
        return "PM2 God"
    if a0 == "node":
        return "node " + " ".join(os.path.basename(x) for x in argv[1:3])
    return a0


class Snapshot:
    def __init__(self, procs, port):
        self.procs = procs  # [(pid, ticks, argv)]
        self.port = port
        self.by = {}
        self.own = []
        for pid, ticks, argv in procs:
            c = classify(argv, port)
            if c:
                self.by.setdefault(c, []).append((pid, ticks))
            else:
                self.own.append((pid, ticks, own_name(argv)))

    def mains(self, svc):
        return self.by.get((svc, "main"), [])

    def all_of(self, svc):
        """The service's long-lived processes: stubborn's `sleep 0.2` and the daemon's
        subshell come and go on their own and are left out."""
        return [x for (s, role), v in self.by.items() if s == svc and (s, role) not in TRANSIENT
                for x in v]

    def complete(self):
        return (all(len(self.mains(s)) == 1 for s in SERVICES)
                and len(self.by.get(("group", "child"), [])) == 2
                and len(self.by.get(("daemon", "double-forked"), [])) == 1)


# --------------------------------------------------------------------------- tools


class Tool:
    name = "?"

    def __init__(self, wd, mark, port):
        self.wd = wd
        self.mark = mark
        self.port = port
        self.cmds = commands(port)
        self.main = None  # (pid, ticks) of the supervisor's main process
        self.popens = []

    def env(self):
        return dict(os.environ, PATH=PATH_ENV, KN_MARK=self.mark)

    def popen(self, argv, out="tool.out"):
        f = open(os.path.join(self.wd, out), "ab")
        try:
            p = subprocess.Popen(argv, cwd=self.wd, env=self.env(), stdin=subprocess.DEVNULL,
                                 stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            f.close()
        B.REAPER.popens[p.pid] = p
        self.popens.append(p)
        return p

    def run_cmd(self, argv, timeout=30):
        return subprocess.run(argv, cwd=self.wd, env=self.env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def available(self):
        return None

    def write(self):
        raise NotImplementedError

    def start(self):
        """Start (or start again) the normal way; sets self.main when known."""
        raise NotImplementedError

    def find_main(self):
        """(pid, ticks) of the supervisor's main process, once it is up."""
        return self.main

    def status(self):
        """{service: (state text, pid or None)} from the tool's own status command."""
        raise NotImplementedError

    def stop(self):
        """The tool's own stop, best effort."""


class Supervisord(Tool):
    name = "supervisord"
    how = "`supervisord -n -c FILE` (defaults: `autorestart=unexpected`, `startsecs=1`, " \
          "`startretries=3`)"

    def available(self):
        return None if shutil.which("supervisord") else "supervisord not installed"

    def write(self):
        self.cfg = os.path.join(self.wd, "supervisord.conf")
        sock = os.path.join(self.wd, "supervisor.sock")
        os.makedirs(os.path.join(self.wd, "childlogs"), exist_ok=True)
        s = ["[supervisord]", f"logfile={self.wd}/supervisord.log",
             f"pidfile={self.wd}/supervisord.pid", f"childlogdir={self.wd}/childlogs", "",
             "[unix_http_server]", f"file={sock}", "",
             "[rpcinterface:supervisor]",
             "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
             "", "[supervisorctl]", f"serverurl=unix://{sock}", ""]
        for name in SERVICES:
            argv = self.cmds[name]
            cmd = " ".join(a if " " not in a and "'" not in a else '"' + a + '"' for a in argv)
            s += [f"[program:{name}]", f"command={cmd}", "redirect_stderr=true", ""]
        with open(self.cfg, "w") as f:
            f.write("\n".join(s))

    def start(self):
        p = self.popen(["supervisord", "-n", "-c", self.cfg])
        self.main = (p.pid, B.start_ticks(p.pid))
        self.cur = p

    def status(self):
        r = self.run_cmd(["supervisorctl", "-c", self.cfg, "status"])
        out = {}
        for line in r.stdout.splitlines():
            m = re.match(r"(\S+)\s+(\S+)\s*(.*)", line)
            if m and m.group(1) in SERVICES:
                pid = re.search(r"pid (\d+)", m.group(3))
                out[m.group(1)] = (m.group(2), int(pid.group(1)) if pid else None)
        return out

    def stop(self):
        if self.cur.poll() is None:
            self.cur.send_signal(signal.SIGTERM)  # our unreaped child


class Pm2(Tool):
    name = "pm2"
    how = "`pm2 start ecosystem.json` (defaults: `autorestart: true`, `max_restarts: 16`, " \
          "`min_uptime: 1s`), private `PM2_HOME`"

    def available(self):
        if not os.access(B.PM2, os.X_OK):
            return f"{B.PM2} missing (bench/setup.sh)"
        return None

    def env(self):
        return dict(super().env(), PM2_HOME=os.path.join(self.wd, "pm2home"))

    def write(self):
        apps = []
        for name in SERVICES:
            argv = self.cmds[name]
            apps.append({"name": name, "script": argv[0], "args": argv[1:],
                         "interpreter": "none", "exec_mode": "fork", "vizion": False,
                         "pmx": False, "automation": False})
        self.cfg = os.path.join(self.wd, "ecosystem.json")
        with open(self.cfg, "w") as f:
            json.dump({"apps": apps}, f)

    def start(self):
        self.main = None
        r = self.run_cmd([B.PM2, "start", self.cfg, "--no-color"], timeout=60)
        with open(os.path.join(self.wd, "pm2-cli.out"), "a") as f:
            f.write(r.stdout + r.stderr)

    def find_main(self):
        if self.main and B.start_ticks(self.main[0]) == self.main[1]:
            return self.main
        try:
            with open(os.path.join(self.wd, "pm2home", "pm2.pid")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        for d in B.descendants():
            if d[0] == pid:
                self.main = d
                return d
        return None

    def status(self):
        r = self.run_cmd([B.PM2, "jlist"], timeout=60)
        out = {}
        try:
            for app in json.loads(r.stdout[r.stdout.index("["):]):
                out[app["name"]] = (app["pm2_env"]["status"], app.get("pid") or None)
        except (ValueError, KeyError):
            pass
        return out

    def stop(self):
        self.run_cmd([B.PM2, "kill", "--no-color"], timeout=60)


class Svdir(Tool):
    def write(self):
        self.scandir = os.path.join(self.wd, "sv")
        for name in SERVICES:
            d = os.path.join(self.scandir, name)
            os.makedirs(d)
            with open(os.path.join(d, "run"), "w") as f:
                f.write(f"#!/bin/sh\nexec {shell_quote(self.cmds[name])}\n")
            os.chmod(os.path.join(d, "run"), 0o755)

    def stop(self):
        if self.cur.poll() is None:
            self.cur.send_signal(self.stop_sig)  # our unreaped child


class S6(Svdir):
    name = "s6"
    how = "`s6-svscan sv/` (one service dir each, `run` = `exec` of the command)"
    stop_sig = signal.SIGTERM

    def available(self):
        return None if shutil.which("s6-svscan") else "s6 not installed"

    def start(self):
        p = self.popen(["s6-svscan", self.scandir])
        self.main = (p.pid, B.start_ticks(p.pid))
        self.cur = p

    def status(self):
        out = {}
        for name in SERVICES:
            r = self.run_cmd(["s6-svstat", os.path.join(self.scandir, name)])
            m = re.match(r"(\w+)(?: \(pid (\d+)\))?", r.stdout.strip() or r.stderr.strip())
            out[name] = (m.group(1) if m else (r.stdout + r.stderr).strip()[:40],
                         int(m.group(2)) if m and m.group(2) else None)
        return out


class Runit(Svdir):
    name = "runit"
    how = "`runsvdir sv/` (one service dir each, `run` = `exec` of the command)"
    stop_sig = signal.SIGHUP

    def available(self):
        return None if shutil.which("runsvdir") else "runit not installed"

    def start(self):
        p = self.popen(["runsvdir", self.scandir])
        self.main = (p.pid, B.start_ticks(p.pid))
        self.cur = p

    def status(self):
        out = {}
        for name in SERVICES:
            r = self.run_cmd(["sv", "status", os.path.join(self.scandir, name)])
            m = re.match(r"(\w+): [^:]+: (?:\(pid (\d+)\))?", r.stdout.strip())
            out[name] = (m.group(1) if m else (r.stdout + r.stderr).strip()[:40],
                         int(m.group(2)) if m and m.group(2) else None)
        return out


class Corral(Tool):
    how = "`corral up -d -f corral.yaml` (defaults otherwise: `stop: {timeout: 10s}`)"

    def __init__(self, wd, mark, port, policy):
        super().__init__(wd, mark, port)
        self.policy = policy
        self.name = f"corral ({policy})"

    def available(self):
        return None if os.access(B.CORRAL, os.X_OK) else f"{B.CORRAL} not built"

    def write(self):
        lines = [f"defaults:\n  on_recover: {self.policy}\nservices:"]
        for name in SERVICES:
            argv = self.cmds[name]
            lines.append(f"  {name}:\n    command: [{', '.join(json.dumps(a) for a in argv)}]")
        self.cfg = os.path.join(self.wd, "corral.yaml")
        with open(self.cfg, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        """`up -d` runs in the background: its return is recorded, not waited for (after an
        adopt it waits for its 60 s start timeout, see docs/benchmarks.md)."""
        self.main = None
        self.__dict__.pop("up_s", None)
        self.up = self.popen([B.CORRAL, "up", "-d", "-f", self.cfg], out="up.out")
        self.up_t0 = time.monotonic()

    def up_returned(self):
        """Seconds from the launch to `up -d` returning, or None while it waits."""
        if self.up.poll() is None:
            B.REAPER.reap()
        if self.up.returncode is None:
            return None
        if not hasattr(self, "up_s"):
            self.up_s = time.monotonic() - self.up_t0
        return self.up_s

    def find_main(self):
        if self.main and B.start_ticks(self.main[0]) == self.main[1]:
            return self.main
        try:
            with open(os.path.join(self.wd, ".corral", "corral.log"), "rb") as f:
                pids = re.findall(rb"corral 0\.1\.0, instance \w+, pid (\d+)", f.read())
        except OSError:
            return None
        if not pids:
            return None
        for d in B.descendants():
            if d[0] == int(pids[-1]):
                self.main = d
                return d
        return None

    def status(self):
        r = self.run_cmd([B.CORRAL, "status", "--json", "-f", self.cfg])
        out = {}
        try:
            for s in json.loads(r.stdout)["services"]:
                out[s["name"]] = (s["state"] + (" adopted" if s.get("adopted") else ""),
                                  s.get("pid") or None)
        except (ValueError, KeyError):
            out = {n: (f"status failed: {r.stderr.strip()[:60]}", None) for n in SERVICES}
        return out

    def stop(self):
        self.run_cmd([B.CORRAL, "down", "-f", self.cfg], timeout=60)


# --------------------------------------------------------------------------- one run


def count_in_use(wd):
    """Occurrences of 'Address already in use' in every file under the tool's directory."""
    n = 0
    for root, _, files in os.walk(wd):
        for fn in files:
            p = os.path.join(root, fn)
            try:
                if os.path.islink(p) or not os.path.isfile(p) or os.path.getsize(p) > 64 << 20:
                    continue
                with open(p, "rb") as f:
                    n += f.read().count(b"Address already in use")
            except OSError:
                continue
    return n


def observe(tool, old, web_seen, kill_t):
    snap = Snapshot(marked(tool.mark), tool.port)
    st = tool.status()
    holder = listener(tool.port)
    rows = {}
    for svc in SERVICES:
        mains = snap.mains(svc)
        procs = snap.all_of(svc)
        old_mains = [m for m in mains if m in old]
        new_mains = [m for m in mains if m not in old]
        old_procs = [p for p in procs if p in old]
        state, spid = st.get(svc, ("—", None))
        if spid is None:
            said = "none"
        elif any(spid == m[0] for m in old_mains):
            said = "old copy"
        elif any(spid == m[0] for m in new_mains):
            said = "new copy"
        else:
            said = "not running"
        correct = (len(mains) == 1 and spid == mains[0][0]) or (not mains and spid is None)
        row = {"copies": len(mains), "old_main": len(old_mains), "new_main": len(new_mains),
               "old_procs_alive": len(old_procs),
               "old_procs_before": len(tool.old_by_svc[svc]),
               "procs": len(procs), "status": state, "status_pid": spid, "status_pid_is": said,
               "status_correct": correct}
        if svc == "web":
            row["listener"] = ("old" if any(holder == m[0] for m in old_mains) else
                               "new" if any(holder == m[0] for m in new_mains) else
                               "none" if holder is None else f"pid {holder}")
            row["web_new_starts"] = len(web_seen)
            row["addr_in_use_msgs"] = count_in_use(tool.wd)
        rows[svc] = row
    own = {}
    main = tool.find_main()
    for pid, ticks, name in snap.own:
        if name not in OWN_NAMES:
            continue  # a process caught between fork and exec
        if isinstance(tool, Corral) and name == "corral":
            name = "corral daemon" if (pid, ticks) == main else "corral up -d (waiting)"
        h = own.setdefault(name, {"old": 0, "new": 0})
        h["old" if (pid, ticks) in old else "new"] += 1
    out = {"services": rows, "own": own, "t_s": time.monotonic() - kill_t}
    if isinstance(tool, Corral):
        out["up_d_returned_s"] = tool.up_returned()
    return out


def probe_web(tool, old):
    """One GET / to the port after the last look, then who listens 1 s later: an old
    process whose stderr was a pipe to the dead supervisor fails to log the request."""
    import urllib.request

    holder = listener(tool.port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{tool.port}/", timeout=3) as r:
            got = str(r.status)
    except Exception as e:  # noqa: BLE001 - any failure is the answer
        got = type(e).__name__
    time.sleep(1.0)
    B.REAPER.reap()
    after = listener(tool.port)
    snap = Snapshot(marked(tool.mark), tool.port)
    mains = snap.mains("web")
    was = "old" if any(holder == m[0] for m in mains + list(old) if m in old) else "new"
    if after is None:
        then = "no listener"
    elif after == holder:
        then = f"same {was} listener"
    else:
        then = "another listener"
    return {"get": got, "listener_before": was if holder else "none", "after_1s": then}


def run_tool(tool, settles):
    tool.write()
    tool.start()
    deadline = time.monotonic() + 60
    while True:
        B.REAPER.reap()
        snap = Snapshot(marked(tool.mark), tool.port)
        if snap.complete() and listener(tool.port) and tool.find_main():
            break
        if time.monotonic() > deadline:
            raise B.BenchError(f"not all five running: {sorted(snap.by)}")
        time.sleep(0.1)
    time.sleep(1.5)  # past supervisord's startsecs and corral's start window
    snap = Snapshot(marked(tool.mark), tool.port)
    old = {(pid, ticks) for pid, ticks, _ in snap.procs}
    tool.old_by_svc = {s: set(snap.all_of(s)) for s in SERVICES}
    before = {"own": {}, "status": tool.status(),
              "procs": {s: len(snap.all_of(s)) for s in SERVICES}}
    for _, _, name in snap.own:
        before["own"][name] = before["own"].get(name, 0) + 1
    main = tool.find_main()
    if not B.signal_checked(main[0], main[1], signal.SIGKILL):
        raise B.BenchError("the supervisor's main process was gone before the kill")
    kill_t = time.monotonic()
    deadline = kill_t + 10
    while B.start_ticks(main[0]) == main[1] and B.proc_state(main[0])[0] != "Z":
        if time.monotonic() > deadline:
            raise B.BenchError("the supervisor did not die")
        time.sleep(0.01)
    B.REAPER.reap()
    time.sleep(0.5)
    between = Snapshot(marked(tool.mark), tool.port)
    survivors = {"services": {s: len([p for p in between.all_of(s) if p in old])
                              for s in SERVICES},
                 "own": {}}
    for _, _, name in between.own:
        survivors["own"][name] = survivors["own"].get(name, 0) + 1
    launch_t = time.monotonic()
    tool.start()
    web_seen = set()
    obs = {}
    for settle in sorted(settles):
        while time.monotonic() < launch_t + settle:
            B.REAPER.reap()
            s = Snapshot(marked(tool.mark), tool.port)
            web_seen |= {m for m in s.mains("web") if m not in old}
            if isinstance(tool, Corral):
                tool.up_returned()
            time.sleep(0.1)
        obs[settle] = observe(tool, old, web_seen, kill_t)
    probe = probe_web(tool, old)
    return {"before": before, "after_kill": survivors, "after": obs, "web_get": probe}


def cleanup(tool):
    """The tool's own stop, then SIGKILL through pidfds for whatever is left, reap, verify."""
    try:
        tool.stop()
    except Exception as e:  # noqa: BLE001 - the kill below is what counts
        log(f"  {tool.name}: stop failed: {e}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        B.REAPER.reap()
        if not B.descendants():
            break
        time.sleep(0.1)
    left = B.descendants()
    if left:
        log(f"  {tool.name}: {len(left)} processes left after its own stop; SIGKILL by pidfd")
    B.force_cleanup()


# --------------------------------------------------------------------------- report


def copies_cell(r):
    if r["copies"] == 0:
        return "0"
    parts = []
    if r["old_main"]:
        parts.append(f"{r['old_main']} old")
    if r["new_main"]:
        parts.append(f"{r['new_main']} new")
    return f"{r['copies']} ({', '.join(parts)})"


def report(results, settles, commit):
    out = []
    for settle in sorted(settles):
        out += [f"**{settle:g} s after the supervisor was started again**", "",
                "| tool | web | daemon | stubborn | group | plain | old processes alive | "
                "port held by | new web PIDs seen (0.1 s sampling) / \"Address already in use\" in logs | "
                "status right | the tool's own processes (old alive / new) |",
                "| --- | --- | --- | --- | --- | --- | ---: | --- | --- | --- | --- |"]
        for name, res in results.items():
            if "error" in res:
                out.append(f"| {name} | failed: {res['error']} |")
                continue
            o = res["after"][settle]
            rows = o["services"]
            old_alive = sum(r["old_procs_alive"] for r in rows.values())
            old_before = sum(r["old_procs_before"] for r in rows.values())
            wrong = [s for s in SERVICES if not rows[s]["status_correct"]]
            own = ", ".join(f"{k} {v['old']}/{v['new']}" for k, v in sorted(o["own"].items()))
            out.append(
                f"| {name} | " + " | ".join(copies_cell(rows[s]) for s in SERVICES)
                + f" | {old_alive} of {old_before} | {rows['web']['listener']} | "
                f"{rows['web']['web_new_starts']} / {rows['web']['addr_in_use_msgs']} | "
                + ("yes" if not wrong else "no: " + ", ".join(wrong)) + f" | {own or '—'} |")
        out.append("")
    out += ["**One GET / to the web port after the last look, and the listener 1 s later**", "",
            "| tool | GET / | listener 1 s later |", "| --- | --- | --- |"]
    for name, res in results.items():
        if "error" not in res:
            w = res["web_get"]
            out.append(f"| {name} | {w['get']} | {w['after_1s']} |")
    out.append("")
    out += ["**What each status command said at the last look** (state, and whose PID it gave)",
            "", "| tool | " + " | ".join(SERVICES) + " |", "| --- |" + " --- |" * len(SERVICES)]
    last = max(settles)
    for name, res in results.items():
        if "error" in res:
            continue
        rows = res["after"][last]["services"]
        out.append(f"| {name} | " + " | ".join(
            f"{rows[s]['status']} ({rows[s]['status_pid_is']})" for s in SERVICES) + " |")
    out.append("")
    corral_up = {n: r["after"][last].get("up_d_returned_s") for n, r in results.items()
                 if "error" not in r and "up_d_returned_s" in r["after"][last]}
    for n, s in corral_up.items():
        out.append(f"- {n}: the second `corral up -d` "
                   + (f"returned after {s:.1f} s" if s is not None else
                      f"had not returned {last:g} s after its launch"))
    out.append(f"\nCommit {commit}, {datetime.date.today().isoformat()}.")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tools", default="supervisord,pm2,s6,runit,corral-restart,corral-adopt")
    ap.add_argument("--settle", default="5,15", help="seconds after the second start")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--work-dir", default=os.path.join(B.WORK, "runs"))
    args = ap.parse_args()
    settles = [float(x) for x in args.settle.split(",")]
    os.makedirs(args.work_dir, exist_ok=True)
    B.become_subreaper()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                            text=True, cwd=B.ROOT).stdout.strip()
    results = {}
    t_begin = time.monotonic()
    try:
        for name in args.tools.split(","):
            wd = os.path.join(args.work_dir, f"killnine-{name}-"
                              + datetime.datetime.now().strftime("%H%M%S%f"))
            os.makedirs(wd)
            mark, port = uuid.uuid4().hex, free_port()
            if name.startswith("corral-"):
                tool = Corral(wd, mark, port, name.split("-", 1)[1])
            else:
                tool = {"supervisord": Supervisord, "pm2": Pm2, "s6": S6,
                        "runit": Runit}[name](wd, mark, port)
            why = tool.available()
            if why:
                log(f"SKIP {name}: {why}")
                continue
            log(f"{tool.name} ...")
            try:
                results[tool.name] = run_tool(tool, settles)
                results[tool.name]["how"] = tool.how
                log(json.dumps(results[tool.name]["after"][max(settles)], default=str)[:3000])
            except B.BenchError as e:
                results[tool.name] = {"error": str(e)}
                log(f"FAIL {name}: {e}")
            finally:
                cleanup(tool)
                if not args.keep:
                    shutil.rmtree(wd, ignore_errors=True)
    finally:
        B.REAPER.reap()
        if B.wait_no_descendants(5):
            B.force_cleanup()
    text = report(results, settles, commit)
    print()
    print(text)
    log(f"took {(time.monotonic() - t_begin) / 60:.1f} min")
    os.makedirs(os.path.join(B.BENCH, "results"), exist_ok=True)
    base = os.path.join(B.BENCH, "results",
                        "killnine-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    with open(base + ".json", "w") as f:
        json.dump({"results": results, "commit": commit, "settles": settles,
                   "machine": B.machine()}, f, indent=1, default=str)
    with open(base + ".md", "w") as f:
        f.write(text)
    log(f"results: {base}.json, {base}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
