#!/usr/bin/python3
"""The control-plane benchmark: how fast an operator or a program learns the state of
1,000 services, and how many state queries per second the API answers.

  status   wall time of one status command with N services running, end to end (process
           start, connect, query, JSON out): `corral status --json`, `supervisorctl status`,
           `pm2 jlist`; the floor is `reqfloor get`, a static C client fetching the same
           bytes corral answers from a server that only sends a file.
  api      requests/s on one service's state over TCP with keep-alive, measured with wrk
           (2 threads, 32 connections): corral `GET /v1/services/NAME` with its bearer token,
           supervisord's XML-RPC `supervisor.getProcessInfo`, and the floor `reqfloor
           serve-tcp` answering the same bytes as corral.

Every figure is also a ratio to the floor of the same run. Uses the tool classes and the
process hygiene of run.py (subreaper, pidfd-checked cleanup). Run as root after
bench/setup.sh; results go to bench/results/control-<timestamp>.{json,md}.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402

REQFLOOR = os.path.join(B.HELPERS, "reqfloor")
SUPERVISORCTL = shutil.which("supervisorctl") or "supervisorctl"
WRK = shutil.which("wrk")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(argv, env=None, runs=10):
    """Median wall time in ms of running argv, and its last stdout."""
    times, out = [], ""
    for _ in range(runs):
        t0 = time.monotonic_ns()
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        times.append((time.monotonic_ns() - t0) / 1e6)
        if r.returncode != 0:
            raise B.BenchError(f"{argv[0]} failed: {r.stderr.strip()[:300]}")
        out = r.stdout
    return statistics.median(times), out


def wrk(url, seconds, headers=(), script=None):
    argv = [WRK, "-t2", "-c32", f"-d{seconds}s", "--latency"]
    for h in headers:
        argv += ["-H", h]
    if script:
        argv += ["-s", script]
    r = subprocess.run(argv + [url], capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    if not m or errs:
        raise B.BenchError(f"wrk against {url}: {r.stdout[-500:]} {r.stderr[-300:]}")
    return float(m.group(1))


class CorralApi(B.Corral):
    def run_start(self, n, stamps):
        self.port = free_port()
        cfg = self.write_config([(f"s{i:04d}", [B.STAMP, stamps], "always") for i in range(n)])
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(f"api: {{listen: '127.0.0.1:{self.port}'}}\n" + text)
        self.cfg = cfg
        self.launch([B.CORRAL, "up", "-f", cfg, "-q"])

    def status_argv(self):
        return [B.CORRAL, "status", "--json", "-f", self.cfg], None

    def count(self, out):
        return len(json.loads(out)["services"])

    def api(self, seconds):
        deadline = time.monotonic() + 10
        path = os.path.join(self.wd, ".corral", "api.token")
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(path) as f:
            token = f.read().strip()
        return wrk(f"http://127.0.0.1:{self.port}/v1/services/s0500", seconds,
                   [f"Authorization: Bearer {token}"])


class SupervisordApi(B.Supervisord):
    def write_config(self, programs, n_fds):
        path = super().write_config(programs, n_fds)
        self.port = free_port()
        self.sock = os.path.join(self.wd, "supervisor.sock")
        with open(path, "a") as f:
            f.write(f"\n[unix_http_server]\nfile={self.sock}\n\n"
                    f"[inet_http_server]\nport=127.0.0.1:{self.port}\n\n"
                    "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = "
                    "supervisor.rpcinterface:make_main_rpcinterface\n\n"
                    f"[supervisorctl]\nserverurl=unix://{self.sock}\n")
        self.cfg = path
        return path

    def status_argv(self):
        return [SUPERVISORCTL, "-c", self.cfg, "status"], None

    def count(self, out):
        return len([l for l in out.splitlines() if l.strip()])

    def api(self, seconds):
        body = ("<?xml version='1.0'?><methodCall><methodName>supervisor.getProcessInfo"
                "</methodName><params><param><value><string>all:s0500</string></value></param>"
                "</params></methodCall>")
        script = os.path.join(self.wd, "rpc.lua")
        with open(script, "w") as f:
            f.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
                    'wrk.headers["Content-Type"] = "text/xml"\n')
        return wrk(f"http://127.0.0.1:{self.port}/RPC2", seconds, script=script)


class Pm2Api(B.Pm2):
    def status_argv(self):
        return [B.PM2, "jlist"], dict(os.environ, **self.env())

    def count(self, out):
        return len(json.loads(out[out.index("["):]))

    api = None


def wait_status(tool, n, timeout_s=120):
    """Until the tool's status command lists n services."""
    deadline = time.monotonic() + timeout_s
    argv, env = tool.status_argv()
    while True:
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        try:
            if r.returncode == 0 and tool.count(r.stdout) == n:
                return r.stdout
        except (ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise B.BenchError(f"{tool.name}: status never listed {n}: {r.stderr[-300:]}")
        time.sleep(0.5)


def measure_tool(tool, n, runs, wrk_s, wrk_runs):
    res = {}
    with B.Session(tool, f"control{n}") as s:
        tool.run_start(n, s.stamps)
        s.wait_stamps(n, 60 + 0.3 * n)
        out = wait_status(tool, n)
        argv, env = tool.status_argv()
        res["status_ms"], _ = timed(argv, env, runs)
        if isinstance(tool, CorralApi):
            res["body"] = out
        if tool.api and WRK:
            res["rps"] = statistics.median(tool.api(wrk_s) for _ in range(wrk_runs))
    return res


def measure_floor(body_text, one_text, runs, wrk_s, wrk_runs):
    wd = os.path.join(B.WORK, "runs", "reqfloor-" + datetime.datetime.now().strftime("%H%M%S%f"))
    os.makedirs(wd)
    body, one = os.path.join(wd, "services.json"), os.path.join(wd, "one.json")
    with open(body, "w") as f:
        f.write(body_text)
    with open(one, "w") as f:
        f.write(one_text)
    sock, port = os.path.join(wd, "floor.sock"), free_port()
    procs = [subprocess.Popen([REQFLOOR, "serve-unix", sock, body]),
             subprocess.Popen([REQFLOOR, "serve-tcp", str(port), one])]
    res = {}
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        res["status_ms"], out = timed([REQFLOOR, "get", sock], None, runs)
        if len(out) < len(body_text):
            raise B.BenchError("reqfloor get: short answer")
        if WRK:
            res["rps"] = statistics.median(
                wrk(f"http://127.0.0.1:{port}/v1/services/s0500", wrk_s) for _ in range(wrk_runs))
    finally:
        for p in procs:
            p.kill()  # our own children, unreaped: the PID is still theirs
            p.wait()
        shutil.rmtree(wd, ignore_errors=True)
    return res


def report(results, n, args):
    floor = results.get("floor", {})
    lines = [f"### Control plane, N = {n} (medians: status over {args.runs} runs, "
             f"api over {args.wrk_runs} wrk runs of {args.wrk_seconds} s)", "",
             "| tool | status command | ms | × floor | API req/s | × floor |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    names = {"floor": "`reqfloor get`", "corral": "`corral status --json`",
             "supervisord": "`supervisorctl status`", "pm2": "`pm2 jlist`"}
    for t in ("floor", "corral", "supervisord", "pm2"):
        r = results.get(t)
        if not r:
            continue
        ms = r.get("status_ms")
        rps = r.get("rps")
        ratio_ms = f"{ms / floor['status_ms']:.2f}" if ms and floor.get("status_ms") else "–"
        ratio_rps = f"{floor['rps'] / rps:.2f}" if rps and floor.get("rps") else "–"
        lines.append(f"| {t} | {names[t]} | {ms:.1f} | {ratio_ms} | "
                     f"{f'{rps:,.0f}' if rps else '–'} | {ratio_rps} |")
    lines.append("")
    lines.append("API × floor is the floor's requests/s divided by the tool's (higher is slower).")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--wrk-seconds", type=int, default=10)
    ap.add_argument("--wrk-runs", type=int, default=3)
    ap.add_argument("--tools", default="corral,supervisord,pm2")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--work-dir", default=os.path.join(B.WORK, "runs"))
    args = ap.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    B.become_subreaper()
    B.raise_nofile()
    classes = {"corral": CorralApi, "supervisord": SupervisordApi, "pm2": Pm2Api}
    results = {}
    for name in args.tools.split(","):
        tool = classes[name](args)
        why = tool.available()
        if why:
            print(f"SKIP {name}: {why}", flush=True)
            continue
        try:
            results[name] = measure_tool(tool, args.n, args.runs, args.wrk_seconds, args.wrk_runs)
            print(f"{name}: {json.dumps({k: v for k, v in results[name].items() if k != 'body'})}",
                  flush=True)
        except B.BenchError as e:
            print(f"FAIL {name}: {e}", flush=True)
    body = results.get("corral", {}).pop("body", None)
    if body:
        one = json.dumps(json.loads(body)["services"][500]) + "\n"
        results["floor"] = measure_floor(body, one, args.runs, args.wrk_seconds, args.wrk_runs)
        print(f"floor: {json.dumps(results['floor'])}", flush=True)
    text = report(results, args.n, args)
    print(text)
    os.makedirs(os.path.join(B.BENCH, "results"), exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join(B.BENCH, "results", f"control-{stamp}")
    with open(base + ".json", "w") as f:
        json.dump({"n": args.n, "results": results, "machine": B.machine(),
                   "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                            capture_output=True, text=True,
                                            cwd=B.ROOT).stdout.strip()}, f, indent=2)
    with open(base + ".md", "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
