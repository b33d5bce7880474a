#!/usr/bin/python3
"""How long `corral doctor --json` takes on a host with 10,000 processes.

One helper — this script — starts N `sleep` children (default 10,000), and a
corral daemon runs a small stack (20 services) in a temporary directory. Then
`corral doctor --json -f corral.yaml` runs --runs times (default 7); the median
wall time, end to end (process start, the /proc pass, the API, state.db, the
CPU window, the JSON), is the figure. The same with `--window 1ms` shows what
the scan costs beside the default 250 ms sampling window. Everything started
here is stopped by PID at the end, even on failure: the sleeps are this
script's unreaped children, the daemon goes with `corral down`.

  /usr/bin/python3 bench/doctor.py [--n 10000] [--runs 7] [--corral build/corral]
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(argv, runs, cwd):
    times, last = [], None
    for _ in range(runs):
        t0 = time.monotonic_ns()
        r = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120)
        times.append((time.monotonic_ns() - t0) / 1e6)
        if r.returncode not in (0, 1):
            raise SystemExit(f"doctor failed ({r.returncode}): {r.stderr.strip()[:400]}")
        last = json.loads(r.stdout)
    return times, last


def room_for(n):
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    running = sum(1 for d in os.listdir("/proc") if d.isdigit())
    soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    if running + n + 100 > pid_max:
        raise SystemExit(f"pid_max {pid_max} leaves no room for {n} more processes")
    if os.geteuid() != 0 and soft != resource.RLIM_INFINITY and running + n > soft:
        raise SystemExit(f"ulimit -u {soft} is below {running + n}")
    return pid_max, soft


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--corral", default=os.path.join(ROOT, "build", "corral"))
    a = ap.parse_args()
    corral = os.path.abspath(a.corral)
    pid_max, nproc = room_for(a.n)
    work = tempfile.mkdtemp(prefix="corral-bench-doctor-")
    cfg = os.path.join(work, "corral.yaml")
    with open(cfg, "w") as f:
        f.write("services:\n" + "".join(
            f"  s{i}:\n    command: [sleep, '10{i:02d}']\n" for i in range(20)))
    sleeps, up = [], None
    try:
        t0 = time.monotonic()
        for _ in range(a.n):
            sleeps.append(subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL))
        spawn_s = time.monotonic() - t0
        up = subprocess.run([corral, "up", "-d", "-f", cfg], capture_output=True, text=True,
                            timeout=120)
        if up.returncode != 0:
            raise SystemExit(f"corral up -d failed: {up.stderr.strip()}")
        total = sum(1 for d in os.listdir("/proc") if d.isdigit())
        argv = [corral, "doctor", "--json", "-f", cfg]
        full, rep = timed(argv, a.runs, work)
        scan, _ = timed(argv + ["--window", "1ms"], a.runs, work)
        result = {
            "n_sleeps": a.n, "processes_on_host": total, "pid_max": pid_max,
            "ulimit_u": nproc, "spawn_s": round(spawn_s, 1), "runs": a.runs,
            "doctor_ms_median": round(statistics.median(full), 1),
            "doctor_ms_all": [round(t, 1) for t in full],
            "doctor_window_1ms_ms_median": round(statistics.median(scan), 1),
            "window_ms": rep["window_ms"], "orphans": len(rep["orphans"]),
            "problems": rep["problems"],
        }
        print(json.dumps(result, indent=2))
        print(f"\ncorral doctor --json with {total} processes on the host: median "
              f"{result['doctor_ms_median']} ms over {a.runs} runs (window {rep['window_ms']} ms); "
              f"with --window 1ms: {result['doctor_window_1ms_ms_median']} ms")
    finally:
        if up is not None and up.returncode == 0:
            subprocess.run([corral, "down", "-f", cfg], capture_output=True, timeout=120)
        for p in sleeps:
            p.kill()  # our own unreaped children: their PIDs cannot have been reused
        for p in sleeps:
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
