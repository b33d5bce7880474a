#!/usr/bin/python3
"""Readiness and probe costs of corral, each beside a floor.

  ready    time from a service's READY=1 (sd_notify) to the exec of the service that
           depends on it with `condition: ready`. The ready service is bench/notifier.c:
           it stamps CLOCK_REALTIME just before it sends the datagram; the dependant is
           bench/stamp.c, which stamps right after its exec. Latency = the difference.
           Floor: bench/readyfloor.c binds the socket, spawns the notifier, waits for
           the datagram in poll(2) and posix_spawns the dependant. Per run, one fresh
           `corral up` (its first round, reported apart: corral makes state.db then)
           and 9 rounds of `corral stop db` + `corral start app` in it; 10 fresh floors.
  probes   CPU of corral's own process while N services (1,000) each have a tcp
           liveness probe every second against one local listener (bench/acceptor.c),
           over --window seconds after they all run: % of one core, and wake-ups/s.
           Floor: bench/probefloor.c, N nonblocking connects per second on the same
           schedule with epoll, one in flight per probe.

Results are medians over --runs runs, as ratios to the floors; they go to
bench/results/health-<timestamp>.json.

  /usr/bin/python3 bench/health.py [--workloads ready,probes] [--runs 3] [--n 1000]
"""
import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402

CORRAL = os.environ.get("CORRAL_BENCH_BIN") or B.CORRAL
NOTIFIER = os.path.join(B.HELPERS, "notifier")
READYFLOOR = os.path.join(B.HELPERS, "readyfloor")
PROBEFLOOR = os.path.join(B.HELPERS, "probefloor")
ACCEPTOR = os.path.join(B.HELPERS, "acceptor")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, flush=True)


def stamps(path):
    try:
        with open(path) as f:
            return [(int(a), int(b)) for a, b in (ln.split() for ln in f if ln.strip())]
    except FileNotFoundError:
        return []


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.002)
    raise B.BenchError(f"timed out waiting for {what}")


def stop(proc, timeout=30):
    """SIGTERM our child through a pidfd, wait for it; SIGKILL after timeout."""
    fd = os.pidfd_open(proc.pid)
    try:
        signal.pidfd_send_signal(fd, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            proc.wait()
    finally:
        os.close(fd)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def switches(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for ln in f:
                if ln.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(ln.split()[1])
    return total


# --- ready ------------------------------------------------------------------------------

def ready_corral(wd, rounds):
    """The first round is corral's start (state.db is made then); the others
    stop db (and so app) and start app again through the CLI, as an operator
    would, in the same corral."""
    ns, ds = os.path.join(wd, "n.stamps"), os.path.join(wd, "d.stamps")
    cfg = os.path.join(wd, "corral.yaml")
    with open(cfg, "w") as f:
        f.write(f"""services:
  db:
    command: [{NOTIFIER}, {ns}]
    ready: notify
  app:
    command: [{B.STAMP}, {ds}]
    depends_on: {{db: {{condition: ready}}}}
""")
    p = subprocess.Popen([CORRAL, "up", "-q", "-f", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, cwd=wd)
    out = []
    try:
        for r in range(rounds):
            if r:
                subprocess.run([CORRAL, "stop", "-f", cfg, "db"], check=True,
                               stdout=subprocess.DEVNULL)
                for f in (ns, ds):
                    os.unlink(f)
                subprocess.run([CORRAL, "start", "-f", cfg, "app"], check=True,
                               stdout=subprocess.DEVNULL)
            d = wait_for(lambda: stamps(ds), 20, "the dependant's exec")
            out.append((d[0][0] - stamps(ns)[0][0]) / 1000.0)
    finally:
        stop(p)
    return out


def ready_floor(wd):
    ns, ds = os.path.join(wd, "n.stamps"), os.path.join(wd, "d.stamps")
    p = subprocess.Popen([READYFLOOR, os.path.join(wd, "notify.sock"), NOTIFIER, ns, B.STAMP, ds],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        d = wait_for(lambda: stamps(ds), 20, "the floor's dependant")
        n = stamps(ns)
    finally:
        stop(p)
    return (d[0][0] - n[0][0]) / 1000.0


def bench_ready(runs):
    """runs corral starts, each followed by 9 restarts of the pair; as many
    floor runs as measurements."""
    got = {"corral_start": [], "corral": [], "floor": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="corral-health-") as wd:
            first, *rest = ready_corral(wd, 10)
        got["corral_start"].append(first)
        got["corral"] += rest
        for _ in range(10):
            with tempfile.TemporaryDirectory(prefix="corral-health-") as wd:
                got["floor"].append(ready_floor(wd))
    med = {k: statistics.median(v) for k, v in got.items()}
    log(f"READY=1 → dependant's exec (µs, medians): floor {med['floor']:.0f} "
        f"(n={len(got['floor'])}), corral {med['corral']:.0f} (n={len(got['corral'])}, "
        f"{med['corral'] / med['floor']:.2f}× floor), corral at its own start "
        f"{med['corral_start']:.0f} (n={len(got['corral_start'])})")
    return {"runs_us": got, "median_us": med, "ratio": med["corral"] / med["floor"]}


# --- probes -----------------------------------------------------------------------------

def measure(pid, window):
    t0, s0 = cpu_ticks(pid), switches(pid)
    time.sleep(window)
    t1, s1 = cpu_ticks(pid), switches(pid)
    return 100.0 * (t1 - t0) / CLK_TCK / window, (s1 - s0) / window


def probes_corral(wd, n, port, window):
    st = os.path.join(wd, "stamps")
    cfg = os.path.join(wd, "corral.yaml")
    lines = ["services:"]
    for i in range(n):
        lines += [f"  s{i}:", f"    command: [{B.STAMP}, {st}]",
                  f"    liveness: {{tcp: {{host: 127.0.0.1, port: {port}}}, interval: 1s, "
                  "timeout: 1s}"]
    with open(cfg, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = subprocess.Popen([CORRAL, "up", "-q", "-f", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, cwd=wd)
    try:
        wait_for(lambda: len(stamps(st)) >= n, 120, f"{n} services")
        time.sleep(3)
        return measure(p.pid, window)
    finally:
        stop(p, timeout=120)


def probes_floor(n, port, window):
    p = subprocess.Popen([PROBEFLOOR, str(n), "127.0.0.1", str(port), "1000"])
    try:
        time.sleep(3)
        return measure(p.pid, window)
    finally:
        stop(p)


def bench_probes(runs, n, window):
    acc = subprocess.Popen([ACCEPTOR], stdout=subprocess.PIPE, text=True)
    got = {"corral": [], "floor": []}
    try:
        port = int(acc.stdout.readline())
        for _ in range(runs):
            got["floor"].append(probes_floor(n, port, window))
            with tempfile.TemporaryDirectory(prefix="corral-health-") as wd:
                got["corral"].append(probes_corral(wd, n, port, window))
    finally:
        stop(acc)
    med = {k: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v))
           for k, v in got.items()}
    log(f"{n} tcp probes every 1 s, CPU % of one core (median of {runs} × {window} s): "
        f"floor {med['floor'][0]:.2f} %, corral {med['corral'][0]:.2f} % "
        f"({med['corral'][0] / max(med['floor'][0], 0.01):.2f}× floor); wake-ups/s: floor "
        f"{med['floor'][1]:.0f}, corral {med['corral'][1]:.0f}")
    return {"runs": got, "median_cpu_percent": {k: v[0] for k, v in med.items()},
            "median_wakeups_per_s": {k: v[1] for k, v in med.items()}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default="ready,probes")
    ap.add_argument("--runs", type=int, default=3,
                    help="ready: corral starts, each with 9 restarts of the pair after it")
    ap.add_argument("--probe-runs", type=int, default=3)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--window", type=float, default=30.0)
    args = ap.parse_args()
    for b in (CORRAL, NOTIFIER, READYFLOOR, PROBEFLOOR, ACCEPTOR, B.STAMP):
        if not os.access(b, os.X_OK):
            sys.exit(f"{b} missing: build corral, and run bench/setup.sh for the helpers")
    B.become_subreaper()
    B.raise_nofile()
    out = {"when": datetime.datetime.now().isoformat(timespec="seconds"), "corral": CORRAL,
           "machine": os.uname().release, "load": os.getloadavg()}
    wl = args.workloads.split(",")
    if "ready" in wl:
        out["ready"] = bench_ready(args.runs)
    if "probes" in wl:
        out["probes"] = bench_probes(args.probe_runs, args.n, args.window)
    os.makedirs(os.path.join(B.ROOT, "bench", "results"), exist_ok=True)
    path = os.path.join(B.ROOT, "bench", "results",
                        "health-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ".json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    log(f"results: {path}")


if __name__ == "__main__":
    main()
