#!/usr/bin/python3
"""Recovery after a kill -9 of corral: how long a new `corral up -d` takes to take over
N services (1,000) that the killed daemon left running.

  adopt    `defaults: {on_recover: adopt}`: every service keeps running with the same PID;
           done when GET /v1/services reports all N running, adopted, with their old PIDs.
  restart  `on_recover: restart` (the default): every old tree is stopped and a fresh copy
           started; done when all N old PIDs have exited and the API reports N running
           services, none with an old PID.

Per run: `corral up -d` with N `stamp` services, wait until all N stamped and the API lists
them running, open a pidfd on each, kill -9 the daemon (through a pidfd; it is this script's
child, the script being a subreaper), check that the services are still alive, then time a
new `corral up -d`. Figures, from the instant before the launch (t0):

  log span     corral.log: the `corral 0.1.0, instance ...` line of the new daemon to its last
               `adopted` (adopt) or `started` (restart) line; ms resolution
  t0 → log     t0 to the new daemon's first line (config load, fork, lock, log open)
  t0 → API     t0 to the first poll of GET /v1/services (every --poll-ms) that shows the end
               state above
  t0 → up -d   t0 to `corral up -d` returning (its exit status is checked)
  restart only: t0 → the last old PID exited (pidfd readable), t0 → the last fresh copy's exec
               (the stamp it wrote)

The floor is bench/recfloor.c: given the same N (pid, start_ticks) pairs, while the services
run, it does pidfd_open + read /proc/PID/stat + epoll_ctl ADD for each. Its internal time (read
the file and the boot id, then the loop) and its wall time (exec to exit) are medians of
--floor-runs runs per run. Medians over --runs runs. Every process is cleaned up by PID after
each run (corral down, then pidfd-checked SIGKILL of any descendant left).

  /usr/bin/python3 bench/recovery.py [--n 1000] [--runs 5] [--modes adopt,restart]
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402

RECFLOOR = os.path.join(B.HELPERS, "recfloor")
LOG_TS = re.compile(rb"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z (.*)$")


def log(msg):
    print(msg, flush=True)


def log_lines(path):
    """(epoch ms, text) of every line of corral.log."""
    out = []
    with open(path, "rb") as f:
        for line in f:
            m = LOG_TS.match(line.rstrip(b"\n"))
            if not m:
                continue
            y, mo, d, h, mi, s, ms = (int(x) for x in m.groups()[:7])
            t = datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc).timestamp()
            out.append((int(t) * 1000 + ms, m.group(8).decode(errors="replace")))
    return out


def api_services(sock_path, timeout_s=5.0):
    """GET /v1/services over the Unix socket: the list, or None if not answering yet."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout_s)
            s.connect(sock_path)
            s.sendall(b"GET /v1/services HTTP/1.1\r\nHost: corral\r\nConnection: close\r\n\r\n")
            chunks = []
            while True:
                b = s.recv(1 << 20)
                if not b:
                    break
                chunks.append(b)
    except OSError:
        return None
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return None
    if b"chunked" in head.lower():
        body = dechunk(body)
    try:
        return json.loads(body)["services"]
    except (ValueError, KeyError):
        return None


def dechunk(body):
    out, i = [], 0
    while True:
        j = body.index(b"\r\n", i)
        size = int(body[i:j].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(body[j + 2:j + 2 + size])
        i = j + 2 + size + 2


class Run:
    """One corral instance in a fresh directory; cleans up everything on exit."""

    def __init__(self, args, mode):
        self.args = args
        self.mode = mode
        self.wd = os.path.join(args.work_dir, f"recovery-{mode}-"
                               + datetime.datetime.now().strftime("%H%M%S%f"))
        os.makedirs(self.wd)
        self.stamps = os.path.join(self.wd, "stamps")
        self.cfg = os.path.join(self.wd, "corral.yaml")
        self.state = os.path.join(self.wd, ".corral")
        self.sock = os.path.join(self.state, "corral.sock")
        self.known = set()  # (pid, start_ticks) of everything we saw: checked gone at the end
        self.services = B.ServiceSet()
        lines = [f"defaults:\n  on_recover: {mode}\nservices:"]
        for i in range(args.n):
            lines.append(f"  s{i:04d}:\n    command: [{json.dumps(B.STAMP)}, "
                         f"{json.dumps(self.stamps)}]")
        with open(self.cfg, "w") as f:
            f.write("\n".join(lines) + "\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            subprocess.run([B.CORRAL, "down", "-f", self.cfg], capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            log("  corral down timed out; killing what is left")
        self.known |= set(B.descendants()) | set(self.services.idents())
        deadline = time.monotonic() + 20
        while True:
            B.REAPER.reap()
            left = [x for x in self.known if B.start_ticks(x[0]) == x[1]]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if left:
            log(f"  {len(left)} processes left 20 s after corral down; killing them")
            for pid, ticks in left:
                B.signal_checked(pid, ticks, signal.SIGKILL)
        B.force_cleanup(extra=[x for x in self.known if B.start_ticks(x[0]) == x[1]])
        self.services.close()
        if not self.args.keep:
            shutil.rmtree(self.wd, ignore_errors=True)
        return False

    def up(self):
        """`corral up -d` to completion; returns the daemon's PID."""
        r = subprocess.run([B.CORRAL, "up", "-d", "-f", self.cfg], capture_output=True,
                           text=True, timeout=120)
        m = re.search(r"\(pid (\d+),", r.stdout)
        if r.returncode != 0 or not m:
            raise B.BenchError(f"corral up -d: {r.returncode} {r.stdout} {r.stderr}")
        return int(m.group(1))

    def wait_all_running(self, timeout_s=60):
        deadline = time.monotonic() + timeout_s
        while True:
            st = B.read_stamps(self.stamps)
            for _, pid in st[len(self.services.procs):]:
                self.services.add(pid)
            svcs = api_services(self.sock) if len(st) >= self.args.n else None
            if svcs and len(svcs) == self.args.n and all(
                    s["state"] == "running" and s["pid"] in self.services.procs for s in svcs):
                return {s["name"]: s["pid"] for s in svcs}
            if time.monotonic() > deadline:
                raise B.BenchError(f"{len(st)} stamps; not all {self.args.n} running")
            time.sleep(0.05)

    def kill9(self, pid):
        """The daemon is our child (reparented to us, the subreaper) and unreaped: its PID
        cannot have been reused. SIGKILL through a pidfd, wait, reap."""
        if pid not in [d[0] for d in B.descendants()]:
            raise B.BenchError(f"daemon pid {pid} is not ours")
        fd = os.pidfd_open(pid)
        try:
            self.known.add((pid, B.start_ticks(pid)))
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            if not B.readable(fd, 10):
                raise B.BenchError("daemon did not die")
        finally:
            os.close(fd)
        B.REAPER.reap()


def run_floor(leads_path, runs):
    internal, total, wall = [], [], []
    for _ in range(runs):
        t0 = time.monotonic_ns()
        r = subprocess.run([RECFLOOR, leads_path], capture_output=True, text=True, timeout=60)
        wall.append((time.monotonic_ns() - t0) / 1e6)
        m = re.search(r"matched (\d+) of (\d+), read_ns (\d+), adopt_ns (\d+), total_ns (\d+)",
                      r.stdout)
        if r.returncode != 0 or not m or m.group(1) != m.group(2):
            raise B.BenchError(f"recfloor: {r.stdout} {r.stderr}")
        internal.append(int(m.group(4)) / 1e6)
        total.append(int(m.group(5)) / 1e6)
    return {"floor_loop_ms": statistics.median(internal),
            "floor_internal_ms": statistics.median(total),
            "floor_wall_ms": statistics.median(wall)}


def measure(args, mode):
    res = {}
    with Run(args, mode) as r:
        pid1 = r.up()
        old = r.wait_all_running()
        old_ids = r.services.idents()
        old_pids = set(old.values())
        r.known |= set(old_ids)
        leads = os.path.join(r.wd, "leads")
        with open(leads, "w") as f:
            f.write("".join(f"{p} {t}\n" for p, t in old_ids))
        r.kill9(pid1)
        if len(r.services.alive()) != args.n:
            raise B.BenchError("services died with the daemon")
        res.update(run_floor(leads, args.floor_runs))
        log_before = len(log_lines(os.path.join(r.state, "corral.log")))
        n_stamps_before = len(B.read_stamps(r.stamps))

        out = open(os.path.join(r.wd, "up2.out"), "wb")
        t0 = time.time_ns()
        up2 = subprocess.Popen([B.CORRAL, "up", "-d", "-f", r.cfg], stdout=out,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        B.REAPER.popens[up2.pid] = up2
        up2_fd = os.pidfd_open(up2.pid)
        t_api = t_up = t_old_gone = None
        deadline = time.monotonic() + args.up_timeout
        pending_old = dict(r.services.procs)  # pid -> (fd, ticks)
        try:
            while time.monotonic() < deadline:
                B.REAPER.reap()  # old services killed in restart mode are our zombies
                if pending_old:
                    for pid in [p for p, (fd, _) in pending_old.items() if B.readable(fd)]:
                        del pending_old[pid]
                    if not pending_old:
                        t_old_gone = time.time_ns()
                if t_up is None and B.readable(up2_fd):
                    t_up = time.time_ns()
                    B.REAPER.reap()
                if t_api is None:
                    svcs = api_services(r.sock)
                    if svcs and len(svcs) == args.n and all(s["state"] == "running"
                                                            for s in svcs):
                        if mode == "adopt":
                            ok = all(s["pid"] == old[s["name"]] and s.get("adopted")
                                     for s in svcs)
                        else:
                            ok = (not pending_old
                                  and not any(s["pid"] in old_pids for s in svcs))
                        if ok:
                            t_api = time.time_ns()
                if t_api is not None and t_up is not None:
                    break
                time.sleep(args.poll_ms / 1000)
        finally:
            os.close(up2_fd)
        if t_api is None:
            raise B.BenchError(f"the end state was not reached in {args.up_timeout} s")
        if t_up is None:
            raise B.BenchError(f"corral up -d did not return in {args.up_timeout} s")
        if up2.returncode != 0:
            raise B.BenchError(f"second corral up -d exited {up2.returncode}")
        lines = log_lines(os.path.join(r.state, "corral.log"))[log_before:]
        start = [t for t, s in lines if s.startswith("corral 0.1.0, instance")]
        word = "adopted pid" if mode == "adopt" else "started (pid"
        done = [t for t, s in lines if word in s]
        if not start or len(done) != args.n:
            raise B.BenchError(f"corral.log: {len(start)} start lines, {len(done)} '{word}'")
        t0_ms = t0 / 1e6
        res["log_span_ms"] = max(done) - start[0]
        res["launch_to_log_ms"] = start[0] - t0_ms
        res["launch_to_api_ms"] = (t_api - t0) / 1e6
        res["launch_to_up_ms"] = (t_up - t0) / 1e6
        if mode == "adopt":
            if len(r.services.alive()) != args.n:
                raise B.BenchError("adopted services died")
            if len(B.read_stamps(r.stamps)) != n_stamps_before:
                raise B.BenchError("adopt started new copies")
        else:
            new = B.read_stamps(r.stamps)[n_stamps_before:]
            if len(new) < args.n:
                raise B.BenchError(f"{len(new)} fresh copies stamped")
            res["launch_to_old_gone_ms"] = (t_old_gone - t0) / 1e6
            res["launch_to_fresh_exec_ms"] = (max(ts for ts, _ in new[:args.n]) - t0) / 1e6
            for _, pid in new:
                r.services.add(pid)
        r.known |= set(r.services.idents())
    return res


KEYS = {
    "adopt": [("log_span_ms", "log: start line → last `adopted`"),
              ("launch_to_log_ms", "launch → first log line"),
              ("launch_to_api_ms", "launch → API shows all adopted, same PIDs"),
              ("launch_to_up_ms", "launch → `up -d` returns")],
    "restart": [("log_span_ms", "log: start line → last `started`"),
                ("launch_to_log_ms", "launch → first log line"),
                ("launch_to_old_gone_ms", "launch → last old PID exited"),
                ("launch_to_fresh_exec_ms", "launch → last fresh copy exec'd"),
                ("launch_to_api_ms", "launch → API shows all fresh, no old PID"),
                ("launch_to_up_ms", "launch → `up -d` returns")],
}


def report(results, args, commit):
    out = [f"### Recovery of {args.n} services after kill -9 of corral (medians of {args.runs} "
           f"runs; commit {commit}; {datetime.date.today().isoformat()})", ""]
    for mode, runs in results.items():
        ok = [x for x in runs if x]
        if not ok:
            out.append(f"{mode}: every run failed\n")
            continue
        med = {k: statistics.median(x[k] for x in ok) for k in ok[0]}
        fl, fw = med["floor_internal_ms"], med["floor_wall_ms"]
        out += [f"**on_recover: {mode}** ({len(ok)}/{len(runs)} runs ok)", "",
                "| figure | median ms | range ms | × floor |", "| --- | ---: | ---: | ---: |"]
        for k, what in KEYS[mode]:
            xs = [x[k] for x in ok]
            if k == "log_span_ms":
                ratio = f"{med[k] / fl:.1f}× (internal)"
            elif k == "launch_to_api_ms":
                ratio = f"{med[k] / fw:.1f}× (wall)"
            else:
                ratio = ""
            out.append(f"| {what} | {med[k]:.1f} | {min(xs):.1f}–{max(xs):.1f} | {ratio} |")
        out.append(f"| floor `recfloor`: pidfd_open + stat + epoll_ctl loop | "
                   f"{med['floor_loop_ms']:.2f} | | |")
        out.append(f"| floor: internal (read leads + boot id + loop) | {fl:.2f} | | 1× |")
        out.append(f"| floor: wall, exec → exit | {fw:.2f} | | 1× |")
        out.append("")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--modes", default="adopt,restart")
    ap.add_argument("--floor-runs", type=int, default=5, help="recfloor runs per run")
    ap.add_argument("--poll-ms", type=float, default=10)
    ap.add_argument("--up-timeout", type=float, default=90,
                    help="seconds to wait for the second `up -d` and the end state")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--work-dir", default=os.path.join(B.WORK, "runs"))
    ap.add_argument("--cpu-shares", type=int, default=10240)
    args = ap.parse_args()
    for b in (B.CORRAL, B.STAMP, RECFLOOR):
        if not os.access(b, os.X_OK):
            sys.exit(f"recovery.py: {b} missing (meson setup build && ninja -C build; "
                     "bench/setup.sh)")
    os.makedirs(args.work_dir, exist_ok=True)
    with B.CpuGroup(args.cpu_shares):
        return bench(args)


def bench(args):
    B.become_subreaper()
    B.raise_nofile()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                            text=True, cwd=B.ROOT).stdout.strip()
    results = {}
    t_begin = time.monotonic()
    try:
        for rep in range(args.runs):
            for mode in args.modes.split(","):
                try:
                    x = measure(args, mode)
                    log(f"run {rep + 1} {mode:7s} " + ", ".join(
                        f"{k} {v:.1f}" for k, v in x.items()))
                except B.BenchError as e:
                    x = None
                    log(f"run {rep + 1} {mode:7s} FAIL: {e}")
                results.setdefault(mode, []).append(x)
    finally:
        B.REAPER.reap()
        if B.wait_no_descendants(5):
            B.force_cleanup()
    text = report(results, args, commit)
    print()
    print(text)
    log(f"took {(time.monotonic() - t_begin) / 60:.1f} min")
    os.makedirs(os.path.join(B.BENCH, "results"), exist_ok=True)
    base = os.path.join(B.BENCH, "results",
                        "recovery-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    with open(base + ".json", "w") as f:
        json.dump({"n": args.n, "runs": results, "commit": commit, "machine": B.machine(),
                   "argv": sys.argv, "loadavg_end": os.getloadavg()}, f, indent=1)
    with open(base + ".md", "w") as f:
        f.write(text)
    log(f"results: {base}.json, {base}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
