"""Webhooks: the event's JSON POSTed to a URL by libcurl inside corral's loop,
retried with backoff, reported when they fail for good, and never in the way of
supervision. Judged from what a real HTTP server on loopback received, from
spawn times the services write and from the event history."""
import json
import re
import socket
import subprocess
import sys
import time

import pytest

from conftest import check, wait_for

RECEIVER = r'''
import http.server, json, sys
fail_first = int(sys.argv[2])
seen = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen[0] += 1
        status = 500 if seen[0] <= fail_first else 200
        with open(sys.argv[3], "a") as f:
            f.write(json.dumps({"path": self.path, "type": self.headers["Content-Type"],
                                "status": status, "body": body.decode()}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def receiver(tmp_path):
    """A real HTTP server in a process of this test's, stopped at the end."""
    procs = []

    def run(fail_first=0):
        port = free_port()
        (tmp_path / "receiver.py").write_text(RECEIVER)
        log = tmp_path / f"received-{port}"
        p = subprocess.Popen([sys.executable, str(tmp_path / "receiver.py"), str(port),
                              str(fail_first), str(log)])
        procs.append(p)
        wait_for(lambda: _listening(port), what="the receiver listening")
        return port, log

    yield run
    for p in procs:
        p.kill()  # our own child, unreaped until wait(): its PID is still its own
        p.wait()


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def received(log):
    try:
        return [json.loads(line) for line in log.read_text().splitlines()]
    except FileNotFoundError:
        return []


def notes(d, kind):
    return [e for e in d.events() if e["kind"] == kind]


def deliveries(d):
    """corral_webhook_deliveries_total of /metrics, by result."""
    _, text, _ = d.request("GET", "/metrics")
    return {m.group(1).decode(): int(m.group(2)) for m in re.finditer(
        rb'^corral_webhook_deliveries_total\{result="(\w+)"\} (\d+)$', text, re.M)}


def test_webhook_posts_the_event_json(daemon, receiver):
    port, log = receiver()
    d = daemon(f"""
services:
  job:
    kind: oneshot
    command: [sh, -c, 'exit 3']
    autostart: false
webhooks:
  - {{on: [failed], url: "http://127.0.0.1:{port}/hook", timeout: 2s}}
""")
    r = d.cli("start", "job", "--no-wait")
    assert r.returncode == 0, r.stderr
    got = wait_for(lambda: received(log), timeout=20, what="the webhook")
    assert got[0]["path"] == "/hook"
    assert got[0]["type"] == "application/json"
    body = json.loads(got[0]["body"])
    assert body["kind"] == "failed" and body["service"] == "job"
    # The same JSON as the event stream's, id and all.
    same = [e for e in d.events() if e["id"] == body["id"]]
    assert same and same[0] == body
    time.sleep(0.5)
    assert len(received(log)) == 1  # only the events it asked for
    d.down()


def test_webhook_retries_until_answered(daemon, receiver):
    port, log = receiver(fail_first=2)
    d = daemon(f"""
services:
  job:
    kind: oneshot
    command: [sh, -c, 'exit 1']
    autostart: false
webhooks:
  - {{on: [failed], url: "http://127.0.0.1:{port}/", retries: 3}}
""")
    r = d.cli("start", "job", "--no-wait")
    assert r.returncode == 0, r.stderr
    got = wait_for(lambda: len(received(log)) >= 3 and received(log), timeout=30,
                   what="three attempts")
    assert [g["status"] for g in got] == [500, 500, 200]
    assert len({json.loads(g["body"])["id"] for g in got}) == 1  # the same event, again
    assert not notes(d, "webhook_failed")
    # One delivery, after its retries: so /metrics counts it.
    assert deliveries(d) == {"delivered": 1, "failed": 0, "dropped": 0}
    d.down()


def test_unreachable_webhook_never_delays_a_restart(daemon, tmp_path):
    closed = free_port()
    d = daemon(f"""
services:
  loop:
    command: "date +%s.%N >> spawns; sleep 0.3; exit 1"
    shell: true
    restart: {{policy: always, initial: 200ms, multiplier: 1, jitter: 0%, max_restarts: 0}}
    autostart: false
webhooks:
  - {{on: [exited, restarting, started], url: "http://me:s3cret@127.0.0.1:{closed}/?token=abc",
      timeout: 1s, retries: 1}}
""")
    r = d.cli("start", "loop", "--no-wait")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: notes(d, "webhook_failed"), timeout=30, what="a webhook given up")
    note = notes(d, "webhook_failed")[0]
    # Its secrets are not repeated where the event goes (history, hooks, logs).
    assert f"http://me:***@127.0.0.1:{closed}/?token=*** failed after 2 attempts" in note["text"]
    assert deliveries(d)["failed"] >= 1 and deliveries(d)["delivered"] == 0
    assert "s3cret" not in (d.state / "corral.log").read_text()
    wait_for(lambda: len((tmp_path / "spawns").read_text().split()) >= 12, timeout=30,
             what="a dozen spawns")
    t = [float(x) for x in (tmp_path / "spawns").read_text().split()]
    gaps = [b - a for a, b in zip(t, t[1:])]
    # 0.3 s of run and 0.2 s of backoff each; the webhooks' timeouts (1 s)
    # and retries would show as longer gaps if they held anything up.
    assert max(gaps) < 0.9, gaps
    d.down()


def test_webhooks_in_check(tmp_path):
    cfg = tmp_path / "corral.yaml"
    cfg.write_text("""
services:
  web: {command: [sleep, "1"]}
webhooks:
  - {on: [failed, gave_up], url: "http://127.0.0.1:9000/hook", timeout: 2s, services: [web]}
""")
    r = check(cfg, "--json")
    assert r.returncode == 0, r.stderr
    w = json.loads(r.stdout)["webhooks"][0]
    text = cfg.read_text()
    cfg.write_text(text.replace("http://127.0.0.1:9000/hook", "http://u:pw@127.0.0.1:9000/h?k=v"))
    for args in ((), ("--json",)):
        r = check(cfg, *args)
        assert r.returncode == 0 and "u:***@127.0.0.1:9000/h?k=***" in r.stdout, r.stdout
        assert "u:pw@" not in r.stdout
    cfg.write_text(text)
    assert w["url"] == "http://127.0.0.1:9000/hook" and w["timeout_ms"] == 2000
    assert w["retries"] == 3 and w["services"] == ["web"] and w["on"] == ["failed", "gave_up"]
    cfg.write_text("""
services:
  web: {command: [sleep, "1"]}
webhooks:
  - {on: [failed], url: "ftp://x"}
""")
    r = check(cfg)
    assert r.returncode == 2
    assert "corral.yaml:5:" in r.stderr and "webhooks[0].url" in r.stderr, r.stderr


SLOW_RECEIVER = r'''
import http.server, socketserver, sys, threading, time
lock = threading.Lock()
now = [0, 0]  # in flight, most at once
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        with lock:
            now[0] += 1
            now[1] = max(now[1], now[0])
            open(sys.argv[2], "w").write(str(now[1]))
        time.sleep(1)
        with lock:
            now[0] -= 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 512
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


def test_webhooks_are_bounded(daemon, tmp_path):
    port = free_port()
    (tmp_path / "slow.py").write_text(SLOW_RECEIVER)
    most = tmp_path / "most"
    p = subprocess.Popen([sys.executable, str(tmp_path / "slow.py"), str(port), str(most)])
    try:
        wait_for(lambda: _listening(port), what="the receiver listening")
        d = daemon(f"""
services:
  flap:
    command: [sh, -c, 'exit 1']
    restart: {{policy: always, initial: 10ms, multiplier: 1, jitter: 0%, max_restarts: 0}}
    autostart: false
webhooks:
  - {{on: [exited, restarting, started], url: "http://127.0.0.1:{port}/", timeout: 30s}}
""")
        r = d.cli("start", "flap", "--no-wait")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: notes(d, "webhooks_dropped"), timeout=60, what="deliveries dropped")
        assert "queue full (256)" in notes(d, "webhooks_dropped")[0]["text"]
        assert deliveries(d)["dropped"] >= 1
        time.sleep(2)
        assert 1 <= int(most.read_text()) <= 4  # never more than 4 requests at once
        # Supervision went on at its pace meanwhile.
        assert d.service("flap")["restarts"] > 100
        d.cli("stop", "flap")
        d.down()
    finally:
        p.kill()
        p.wait()
