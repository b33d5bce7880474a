#!/usr/bin/python3
"""GET /metrics with 1,000 services (issue 6's target: under 20 ms median).

A scrape samples every service's tree then and only then (cgroup.procs or the
main process's children, one /proc/PID/stat per process, cpu.stat with a
cgroup), so its cost grows with the number of processes. Measured over the
Unix socket with keep-alive off (one connection per scrape, as Prometheus
through a proxy would), beside GET /v1/services (no sampling) and
GET /v1/services?stats=1 (sampling plus fd counts) in the same run, for
containment cgroup and pgroup. Each service is one `sleep` process.

  bench/metrics.py [--services N] [--scrapes K] [--build DIR]

Prints a Markdown table; --json writes the raw figures too.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("corral", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def get(sock, path):
    c = UnixHTTP(sock)
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit(f"GET {path}: {r.status} {body[:200]!r}")
        return body
    finally:
        c.close()


def timed(sock, path, k):
    get(sock, path)  # warm: the first scrape of a run has no previous sample
    times = []
    size = 0
    for _ in range(k):
        t0 = time.perf_counter_ns()
        size = len(get(sock, path))
        times.append((time.perf_counter_ns() - t0) / 1e6)
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1],
            "bytes": size}


def run(corral, mode, n, k):
    with tempfile.TemporaryDirectory(prefix="corral-metrics-") as d:
        cfg = os.path.join(d, "corral.yaml")
        with open(cfg, "w") as f:
            f.write(f"containment: {mode}\nservices:\n")
            for i in range(n):
                f.write(f"  s{i:04d}: {{command: [sleep, '100000']}}\n")
        up = subprocess.run([corral, "up", "-d", "-f", cfg], capture_output=True, text=True,
                            timeout=300)
        if up.returncode != 0:
            raise SystemExit(f"up: {up.stderr}")
        sock = os.path.join(d, ".corral", "corral.sock")
        try:
            info = json.loads(get(sock, "/v1"))
            out = {"containment": info["containment"], "services": n}
            out["metrics"] = timed(sock, "/metrics", k)
            out["services_plain"] = timed(sock, "/v1/services", k)
            out["services_stats"] = timed(sock, "/v1/services?stats=1", k)
            return out
        finally:
            subprocess.run([corral, "down", "-f", cfg], capture_output=True, timeout=300)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--scrapes", type=int, default=50)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--json")
    a = ap.parse_args()
    corral = os.path.join(a.build, "corral")
    results = [run(corral, mode, a.services, a.scrapes) for mode in ("cgroup", "pgroup")]
    print("| containment | services | GET /metrics median (p95) | body | "
          "GET /v1/services | GET /v1/services?stats=1 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        m, p, s = r["metrics"], r["services_plain"], r["services_stats"]
        print(f"| {r['containment']} | {r['services']} | {m['median_ms']:.1f} ms "
              f"({m['p95_ms']:.1f}) | {m['bytes'] // 1024} KiB | {p['median_ms']:.1f} ms | "
              f"{s['median_ms']:.1f} ms |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
