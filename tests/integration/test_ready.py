"""Readiness and liveness: sd_notify (systemd-notify, redis-server), the fd
protocol, tcp/exec/log probes, depends_on ready, the readiness timeout and
the watchdog, against real programs, judged from /proc, files the services
write and the wire."""
import os
import shutil
import socket
import subprocess
import sys
import time

import psutil
import pytest

from conftest import MODES, gone, proc, wait_for


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def events_of(d, name, kind=None):
    return [e for e in d.events() if e.get("service") == name and (kind is None or e["kind"] == kind)]


def start(d, *names):
    """Start without waiting: up -d would wait for these to be up."""
    r = d.cli("start", *names, "--no-wait")
    assert r.returncode == 0, r.stderr


def stamp(path):
    return float(open(path).read().split()[0])


def notify_from_outside(path, text):
    """A datagram from this test process: not in any service's tree."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        addr = "\0" + path[1:] if path.startswith("@") else path
        s.sendto(text.encode(), addr)


needs_notify = pytest.mark.skipif(shutil.which("systemd-notify") is None,
                                  reason="systemd-notify is not installed (Debian package systemd)")


@needs_notify
@pytest.mark.parametrize("mode", MODES)
def test_systemd_notify_gates_a_ready_dependant(daemon, tmp_path, mode):
    d = daemon(f"""
containment: {mode}
services:
  db:
    command: "sleep 1; date +%s.%N > db.ready; systemd-notify --ready --status='accepting connections'; exec sleep 1000"
    shell: true
    ready: notify
  web:
    command: "date +%s.%N > web.start; exec sleep 1000"
    shell: true
    depends_on: {{db: {{condition: ready}}}}
""")
    # up -d returned once db was ready: web started after it.
    d.wait_state("db", "ready")
    web = d.wait_state("web", "running")
    assert stamp(tmp_path / "web.start") >= stamp(tmp_path / "db.ready")
    db = d.service("db")
    assert db["ready"] == "notify"
    assert db["status"] == "accepting connections"
    assert db["notify_denied"] == 0, events_of(d, "db")
    kinds = [e["kind"] for e in events_of(d, "db")]
    assert kinds.index("started") < kinds.index("starting") < kinds.index("ready")
    ready = events_of(d, "db", "ready")[0]
    assert ready["text"] == "notify: READY=1"
    assert events_of(d, "web", "started")[0]["id"] > ready["id"]
    # The socket is the service's own, handed in its environment.
    env = psutil.Process(db["pid"]).environ()
    assert env["NOTIFY_SOCKET"] == str(tmp_path / ".corral" / "notify" / "db")
    assert "NOTIFY_SOCKET" not in psutil.Process(web["pid"]).environ()
    st = d.cli("status")
    assert "ready" in st.stdout and "status: accepting connections" in st.stdout
    status, body = d.json("GET", "/health/ready")
    assert status == 200, body
    d.down()


@needs_notify
def test_health_ready_waits_for_readiness(daemon, tmp_path):
    d = daemon("""
services:
  db:
    command: "while [ ! -e go ]; do sleep 0.05; done; systemd-notify --ready; while [ ! -e bye ]; do sleep 0.05; done; systemd-notify STOPPING=1; exec sleep 1000"
    shell: true
    ready: notify
    autostart: false
""")
    start(d, "db")
    d.wait_state("db", "starting")
    status, body = d.json("GET", "/health/ready")
    assert status == 503
    assert body["waiting"] == [{"name": "db", "state": "starting"}]
    (tmp_path / "go").write_text("")
    d.wait_state("db", "ready")
    status, body = d.json("GET", "/health/ready")
    assert status == 200, body
    assert d.service("db")["notify_stopping"] is False
    (tmp_path / "bye").write_text("")
    wait_for(lambda: d.service("db")["notify_stopping"], what="STOPPING=1")
    d.down()


def test_never_ready_times_out_with_the_reason(daemon):
    d = daemon("""
services:
  db:
    command: [sleep, '1000']
    ready: notify
    ready_timeout: 1s
    restart: {policy: no}
    autostart: false
""")
    start(d, "db")
    s = d.wait_state("db", "failed", timeout=20)
    assert s["reason"] == "notify: no READY=1 within 1s"
    assert s["pid"] is None
    assert d.pids("db") == []
    unhealthy = events_of(d, "db", "unhealthy")
    assert [e["text"] for e in unhealthy] == ["notify: no READY=1 within 1s"]
    assert events_of(d, "db", "failed")[-1]["text"] == "notify: no READY=1 within 1s"
    assert [e["text"] for e in events_of(d, "db", "stopped")] == ["notify: no READY=1 within 1s"]
    d.down()


def test_never_ready_is_restarted_by_its_policy(daemon):
    d = daemon("""
services:
  db:
    command: [sleep, '1000']
    ready: notify
    ready_timeout: 500ms
    restart: {policy: on-failure, initial: 100ms, max_restarts: 2, window: 1m}
    autostart: false
""")
    start(d, "db")
    s = d.wait_state("db", "failed", timeout=30)
    assert s["reason"] == "gave up after 2 restarts in 60s (last: notify: no READY=1 within 500ms)"
    assert len(events_of(d, "db", "restarting")) == 2
    assert s["runs"] == 3
    d.down()


@needs_notify
@pytest.mark.parametrize("mode", MODES)
def test_ready_from_outside_the_tree_is_ignored(daemon, tmp_path, mode):
    d = daemon(f"""
containment: {mode}
services:
  db:
    command: "while [ ! -e go ]; do sleep 0.05; done; systemd-notify --ready; exec sleep 1000"
    shell: true
    ready: notify
    autostart: false
""")
    start(d, "db")
    s = d.wait_state("db", "starting")
    path = psutil.Process(s["pid"]).environ()["NOTIFY_SOCKET"]
    # A process that corral did not start, in another process group, with
    # no tag: its READY=1 reaches the socket and is refused.
    sender = subprocess.run(
        ["/usr/bin/python3", "-c",
         "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
         "s.sendto(b'READY=1\\nSTATUS=forged', sys.argv[1])", path],
        capture_output=True, text=True, start_new_session=True)
    assert sender.returncode == 0, sender.stderr
    notify_from_outside(path, "READY=1")
    wait_for(lambda: d.service("db")["notify_denied"] == 2, what="two ignored messages")
    s = d.service("db")
    assert s["state"] == "starting" and s["status"] == ""
    ignored = events_of(d, "db", "notify_denied")
    assert len(ignored) == 1, ignored  # told once, counted always
    assert "outside the service's tree" in ignored[0]["text"]
    # The same socket does take READY=1 from the service's own tree.
    (tmp_path / "go").write_text("")
    d.wait_state("db", "ready")
    d.down()


def test_fd_readiness(daemon, tmp_path):
    d = daemon("""
services:
  db:
    command: "sleep 0.5; date +%s.%N > db.ready; echo >&3; exec sleep 1000"
    shell: true
    ready: {fd: 3}
  web:
    command: "date +%s.%N > web.start; exec sleep 1000"
    shell: true
    depends_on: {db: {condition: ready}}
""")
    d.wait_state("db", "ready")
    d.wait_state("web", "running")
    assert stamp(tmp_path / "web.start") >= stamp(tmp_path / "db.ready")
    assert events_of(d, "db", "ready")[0]["text"] == "fd 3: newline"
    # The writing end of a pipe is fd 3 of the service (kept by its exec).
    pid = d.service("db")["pid"]
    assert os.readlink(f"/proc/{pid}/fd/3").startswith("pipe:")
    assert "NOTIFY_SOCKET" not in psutil.Process(pid).environ()
    d.down()


def test_a_ready_fd_closed_without_a_newline_fails_at_once(corral):
    # Nobody can write it any more: said then, not at the 60 s timeout. A
    # main process whose exit closed it reports its exit instead.
    c = corral("""
services:
  shut:
    command: [sh, -c, 'exec 3>&-; exec sleep 1000']
    ready: {fd: 3}
    restart: {policy: "no"}
  dies:
    command: [sh, -c, 'exit 4']
    ready: {fd: 3}
    restart: {policy: "no"}
""")
    assert c.wait_exit(timeout=20) == 1
    out = c.output()
    assert "shut failed: fd 3: closed without a newline" in out, out
    assert "dies exited 4" in out and "dies failed: fd 3" not in out, out


def test_log_probe_readiness(daemon):
    port = free_port()
    d = daemon(f"""
services:
  api:
    command: "sleep 0.3; echo starting; echo listening on {port}; exec sleep 1000"
    shell: true
    ready: {{log: "listening on [0-9]+"}}
""")
    s = d.wait_state("api", "ready")
    assert events_of(d, "api", "ready")[0]["text"] == \
        "ready: log /listening on [0-9]+/ passed 1 time"
    assert s["reason"] == ""
    d.down()


@pytest.mark.parametrize("mode", MODES)
def test_tcp_liveness_restarts_a_stopped_server(daemon, tmp_path, mode):
    port = free_port()
    d = daemon(f"""
containment: {mode}
services:
  web:
    command: [/usr/bin/python3, -m, http.server, '{port}', --bind, 127.0.0.1]
    ready: {{tcp: {{host: 127.0.0.1, port: {port}}}, interval: 100ms}}
    liveness: {{tcp: {{host: 127.0.0.1, port: {port}}}, interval: 200ms, timeout: 300ms, failure_threshold: 3}}
    stop: {{timeout: 1s}}
    restart: {{initial: 100ms}}
""")
    s = d.wait_state("web", "ready")
    assert events_of(d, "web", "ready")[0]["text"] == \
        f"ready: tcp 127.0.0.1:{port} passed 1 time"
    first = psutil.Process(s["pid"])
    assert first.is_running()
    # Stopped, it no longer accepts: once its backlog is full, connects time out.
    first.suspend()
    try:
        wait_for(lambda: events_of(d, "web", "unhealthy"), timeout=30, what="unhealthy")
        ev = events_of(d, "web", "unhealthy")[0]
        assert ev["text"] == f"liveness: tcp 127.0.0.1:{port} timed out after 300ms 3 times"
        wait_for(lambda: gone(first), timeout=20, what="stopped server gone")
    finally:
        try:
            first.resume()
        except psutil.NoSuchProcess:
            pass
    s = wait_for(lambda: (x := d.service("web"))["state"] == "ready" and x["pid"] != first.pid
                 and x, timeout=20, what="ready again")
    assert s["restarts"] == 1
    restarting = events_of(d, "web", "restarting")
    assert restarting[0]["text"] == f"liveness: tcp 127.0.0.1:{port} timed out after 300ms 3 times"
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    d.down()


def test_exec_probe_never_overlaps_and_runs_like_the_service(daemon, tmp_path):
    d = daemon("""
services:
  app:
    command: [sleep, '1000']
    env: {PROBE_NAME: mine}
    liveness:
      exec: [sh, -c, 'cat /proc/$$/cgroup > probe.cg && mv probe.cg probe.cgroup; echo "start $(date +%s.%N) $PROBE_NAME $CORRAL_SERVICE" >> probe.log; sleep 0.4; echo "end $(date +%s.%N)" >> probe.log']
      interval: 100ms
      timeout: 5s
""")
    log = tmp_path / "probe.log"
    wait_for(lambda: log.exists() and log.read_text().count("end") >= 4, timeout=20,
             what="four probes")
    lines = [l.split() for l in log.read_text().splitlines()]
    last_end = 0.0
    for i in range(0, len(lines) - 1, 2):
        start, end = lines[i], lines[i + 1]
        assert start[0] == "start" and end[0] == "end", lines
        assert float(start[1]) >= last_end, "a probe began before the previous one ended"
        assert start[2:] == ["mine", "app"]
        last_end = float(end[1])
    s = d.service("app")
    assert s["state"] == "running" and s["probe"] == "exited 0"
    # In the service's own cgroup (or, without one, tagged as above).
    with open(f"/proc/{s['pid']}/cgroup") as f:
        assert (tmp_path / "probe.cgroup").read_text() == f.read()
    assert not events_of(d, None, "reaped")  # probes' exits are not orphans'
    d.down()


def test_exec_probe_timeout_kills_it_and_restarts(daemon, tmp_path):
    d = daemon("""
services:
  app:
    command: [sleep, '1000']
    liveness: {exec: [sleep, '30'], interval: 100ms, timeout: 200ms, failure_threshold: 2}
    restart: {initial: 100ms, max_restarts: 1, window: 1m}
    autostart: false
""")
    start(d, "app")
    s = d.wait_state("app", "failed", timeout=30)
    assert s["reason"] == \
        "gave up after 1 restart in 60s (last: liveness: exec sleep timed out after 200ms 2 times)"
    assert d.pids("app") == []
    d.down()


@pytest.mark.parametrize("mode", MODES)
def test_exec_probe_timeout_kills_its_pipeline(daemon, tmp_path, mode):
    """A probe that hangs in a pipeline: its timeout kills the shell and the
    commands the shell started, not the shell alone, so hung attempts do not
    pile up in the service's tree while it runs."""
    d = daemon(f"""
containment: {mode}
services:
  app:
    command: [sleep, '1000']
    liveness: {{exec: [sh, -c, 'sleep 999 | cat'], interval: 100ms, timeout: 200ms,
                failure_threshold: 1000}}
""")
    main = d.service("app")["pid"]
    wait_for(lambda: d.service("app")["probe"] == "timed out after 200ms", timeout=20,
             what="a first timeout")
    time.sleep(1.5)  # four or more attempts time out meanwhile
    hung = []
    for p in d.tagged().get("app", []):
        try:
            if p.pid != main and p.cmdline()[:2] in (["sleep", "999"], ["cat"]):
                hung.append(p)
        except psutil.NoSuchProcess:
            continue
    # Only the attempt in flight, if any: one sleep and one cat at most.
    assert len(hung) <= 2, [(p.pid, p.cmdline()) for p in hung]
    assert d.service("app")["state"] == "running"
    d.down()
    assert d.tagged() == {}


def test_liveness_without_restart_leaves_it_unhealthy_then_healthy(daemon, tmp_path):
    d = daemon("""
services:
  app:
    command: [sleep, '1000']
    liveness: {exec: [test, -e, ok], interval: 100ms, failure_threshold: 2}
    restart: {policy: no}
    autostart: false
  dep:
    command: [sleep, '1000']
    depends_on: {app: {condition: healthy}}
    autostart: false
""")
    start(d, "app")
    s = d.wait_state("app", "unhealthy", timeout=20)
    assert s["reason"] == "liveness: exec test exited 1 2 times"
    pid = s["pid"]
    assert psutil.Process(pid).is_running()
    start(d, "dep")
    time.sleep(0.5)  # dep must keep waiting while app is unhealthy
    assert d.service("dep")["state"] == "waiting"
    (tmp_path / "ok").write_text("")
    s = d.wait_state("app", "running")
    assert s["pid"] == pid and s["reason"] == ""
    d.wait_state("dep", "running")
    d.down()


@needs_notify
@pytest.mark.parametrize("mode", MODES)
def test_watchdog_restarts_a_silent_service(daemon, tmp_path, mode):
    d = daemon(f"""
containment: {mode}
services:
  db:
    command: "systemd-notify --ready; for i in 1 2 3 4; do systemd-notify WATCHDOG=1; sleep 0.2; done; echo done > fed; exec sleep 1000"
    shell: true
    ready: notify
    watchdog: 1s
    restart: {{initial: 100ms}}
""")
    s = d.wait_state("db", "ready")
    env = psutil.Process(s["pid"]).environ()
    assert env["WATCHDOG_USEC"] == "1000000"
    assert env["WATCHDOG_PID"] == str(s["pid"])
    first = s["pid"]
    wait_for(lambda: events_of(d, "db", "unhealthy"), timeout=20, what="watchdog")
    assert (tmp_path / "fed").exists()  # fed while it sent WATCHDOG=1
    assert events_of(d, "db", "unhealthy")[0]["text"] == "watchdog: no WATCHDOG=1 within 1s"
    wait_for(lambda: (x := d.service("db"))["pid"] not in (None, first) and x, timeout=20,
             what="restarted")
    assert events_of(d, "db", "restarting")[0]["text"] == "watchdog: no WATCHDOG=1 within 1s"
    # The old run's end is in the history, between the fault and the restart.
    kinds = [(e["kind"], e.get("text")) for e in events_of(d, "db")]
    i = kinds.index(("unhealthy", "watchdog: no WATCHDOG=1 within 1s"))
    assert kinds[i + 1:i + 4] == [("stopping", None),
                                  ("stopped", "watchdog: no WATCHDOG=1 within 1s"),
                                  ("restarting", "watchdog: no WATCHDOG=1 within 1s")], kinds
    d.down()


@pytest.mark.skipif(shutil.which("redis-server") is None,
                    reason="redis-server is not installed (Debian package redis-server)")
def test_redis_supervised_systemd(daemon, tmp_path):
    port = free_port()
    d = daemon(f"""
services:
  redis:
    command: [redis-server, --port, '{port}', --bind, 127.0.0.1, --supervised, systemd,
              --save, '', --appendonly, 'no', --dir, '{tmp_path}']
    ready: notify
  client:
    command: [sh, -c, 'exec sleep 1000']
    depends_on: {{redis: {{condition: ready}}}}
""")
    s = d.wait_state("redis", "ready")
    assert "Ready to accept connections" in s["status"]
    d.wait_state("client", "running")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"PING\r\n")
        assert c.recv(64).startswith(b"+PONG")
    d.down()


@needs_notify
@pytest.mark.parametrize("mode", MODES)
def test_mainpid_moves_the_main_process(daemon, tmp_path, mode):
    d = daemon(f"""
containment: {mode}
services:
  daemonish:
    command: "sleep 1000 & systemd-notify --ready --status=forked --pid=$!; exit 0"
    shell: true
    ready: notify
    restart: {{initial: 100ms}}
""")
    s = d.wait_state("daemonish", "ready")
    main = psutil.Process(s["pid"])
    assert main.cmdline() == ["sleep", "1000"]
    assert s["status"] == "forked"
    # The shell that spawned it is gone; the service is its forked child now.
    wait_for(lambda: d.pids("daemonish") == [main.pid], what="only the forked main left")
    assert d.service("daemonish")["state"] == "ready"
    main.kill()
    s = wait_for(lambda: (x := d.service("daemonish"))["pid"] not in (None, main.pid)
                 and x["state"] == "ready" and x, timeout=20, what="restarted")
    exited = events_of(d, "daemonish", "exited")
    assert exited[0]["text"] == "killed by SIGKILL"
    second = proc(s["pid"])
    d.down()
    assert gone(second)
    assert d.tagged() == {}


PG_BIN = "/usr/lib/postgresql/15/bin"


@pytest.mark.skipif(not os.path.exists(f"{PG_BIN}/postgres") or os.geteuid() != 0,
                    reason="needs Debian's postgresql-15 and root (postgres runs as its own user)")
def test_postgres_notify_as_another_user(daemon, tmp_path):
    import pwd
    import tempfile
    pg = pwd.getpwnam("postgres")
    # The postgres user cannot reach the test's own 0700 directory.
    data = tempfile.mkdtemp(prefix="corral-pg-")
    try:
        os.chown(data, pg.pw_uid, pg.pw_gid)
        init = subprocess.run([f"{PG_BIN}/initdb", "-D", f"{data}/data", "-A", "trust", "-U",
                               "postgres"], user="postgres", cwd=data, capture_output=True,
                              text=True, timeout=120)
        if init.returncode != 0:
            pytest.skip(f"initdb failed: {init.stderr[-500:]}")
        port = free_port()
        d = daemon(f"""
services:
  db:
    command: [{PG_BIN}/postgres, -D, {data}/data, -k, {data}, -p, '{port}',
              -c, listen_addresses=127.0.0.1]
    user: postgres
    cwd: {data}
    ready: notify
  client:
    command: [sh, -c, '{PG_BIN}/pg_isready -h 127.0.0.1 -p {port} > isready.out; exec sleep 1000']
    depends_on: {{db: {{condition: ready}}}}
""")
        s = d.wait_state("db", "ready", timeout=60)
        env = psutil.Process(s["pid"]).environ()
        assert env["NOTIFY_SOCKET"].startswith("@corral/")  # abstract: another user
        assert psutil.Process(s["pid"]).uids().real == pg.pw_uid
        d.wait_state("client", "running")
        out = wait_for(lambda: (tmp_path / "isready.out").exists()
                       and (tmp_path / "isready.out").read_text(), what="pg_isready")
        assert "accepting connections" in out
        d.down()
    finally:
        shutil.rmtree(data, ignore_errors=True)


@needs_notify
@pytest.mark.parametrize("mode", MODES)
def test_adopted_service_keeps_its_notify_socket_and_probes(daemon, tmp_path, mode):
    import signal
    text = f"""
containment: {mode}
services:
  db:
    command: "systemd-notify --ready; while :; do systemd-notify WATCHDOG=1 STATUS=fed; sleep 0.2; done"
    shell: true
    ready: notify
    watchdog: 1s
    on_recover: adopt
    liveness: {{exec: [test, -e, alive], interval: 100ms, failure_threshold: 2}}
    restart: {{policy: no}}
"""
    (tmp_path / "alive").write_text("")
    d1 = daemon(text)
    pid = d1.wait_state("db", "ready")["pid"]
    d1.wait_recorded("db", pid, ready=1)
    d1.ps.send_signal(signal.SIGKILL)
    wait_for(lambda: not d1.alive(), what="corral gone")
    d2 = daemon(text)
    s = d2.wait_state("db", "ready")
    assert s["pid"] == pid and s["adopted"] is True
    assert events_of(d2, "db", "ready")[-1]["text"] == "adopted: it was ready"
    # Its WATCHDOG=1 reach the new corral: no watchdog fault, STATUS= arrives.
    wait_for(lambda: d2.service("db")["status"] == "fed", what="STATUS= after adoption")
    time.sleep(1.5)
    assert not events_of(d2, "db", "unhealthy"), events_of(d2, "db")
    # And its liveness probe runs again.
    (tmp_path / "alive").unlink()
    s = d2.wait_state("db", "unhealthy")
    assert s["reason"] == "liveness: exec test exited 1 2 times" and s["pid"] == pid
    d2.down()


@pytest.mark.parametrize("mode", MODES)
def test_an_adopted_service_not_yet_ready_is_waited_for_again(daemon, tmp_path, mode):
    """Killed while its service was still starting, the next corral adopts
    it as starting, not as ready: its dependant waits for the real READY=1."""
    import signal
    text = f"""
containment: {mode}
services:
  slow:
    command: [python3, -c, "import os, socket, time; [time.sleep(0.05) for _ in iter(lambda: os.path.exists('go'), True)]; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); a = os.environ['NOTIFY_SOCKET']; s.connect(chr(0) + a[1:] if a[0] == '@' else a); s.send(b'READY=1'); time.sleep(1000)"]
    ready: notify
    ready_timeout: 1m
    on_recover: adopt
    autostart: false
  dep:
    command: [sleep, '1000']
    depends_on: {{slow: {{condition: ready}}}}
    autostart: false
"""
    d1 = daemon(text)
    assert d1.cli("start", "--no-wait", "slow").returncode == 0
    pid = d1.wait_state("slow", "starting")["pid"]
    d1.wait_recorded("slow", pid, ready=0)
    d1.ps.send_signal(signal.SIGKILL)
    wait_for(lambda: not d1.alive(), what="corral gone")
    d2 = daemon(text)
    s = d2.wait_state("slow", "starting")
    assert s["pid"] == pid and s["adopted"] is True, s
    assert d2.cli("start", "--no-wait", "dep").returncode == 0
    time.sleep(0.5)
    assert d2.service("dep")["state"] == "waiting", d2.service("dep")
    (tmp_path / "go").write_text("")
    assert d2.wait_state("slow", "ready")["pid"] == pid
    d2.wait_state("dep", "running")
    d2.down()


def test_log_liveness_fails_when_the_lines_stop(daemon, tmp_path):
    d = daemon("""
services:
  beat:
    command: "while [ ! -e quiet ]; do echo beat; sleep 0.05; done; exec sleep 1000"
    shell: true
    liveness: {log: "^beat$", interval: 300ms, failure_threshold: 2}
    restart: {policy: no}
""")
    s = d.wait_state("beat", "running")
    assert s["probe"] == "a line matched"
    (tmp_path / "quiet").write_text("")
    s = d.wait_state("beat", "unhealthy", timeout=20)
    assert s["reason"] == "liveness: log /^beat$/ no matching line in 300ms 2 times"
    d.down()


def test_ready_probe_timeout_names_the_last_result(daemon):
    port = free_port()  # nothing listens there
    d = daemon(f"""
services:
  web:
    command: [sleep, '1000']
    ready: {{tcp: {{port: {port}}}, interval: 100ms}}
    ready_timeout: 1s
    restart: {{policy: no}}
    autostart: false
""")
    start(d, "web")
    s = d.wait_state("web", "starting")
    assert wait_for(lambda: d.service("web")["probe"] == "refused", what="probe refused")
    s = d.wait_state("web", "failed", timeout=20)
    assert s["reason"] == f"ready: tcp 127.0.0.1:{port} not passing within 1s (last: refused)"
    d.down()


HEALTH_SERVER = r'''
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        sick = os.path.exists("sick")
        body = b"down" if sick else b"all good"
        self.send_response(503 if sick else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open("hits", "a") as f:
            f.write(self.path + "\n")
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


def test_http_probe_gates_readiness_and_restarts_on_503(daemon, tmp_path):
    port = free_port()
    (tmp_path / "health.py").write_text(HEALTH_SERVER)
    d = daemon(f"""
services:
  api:
    command: [/usr/bin/python3, health.py, '{port}']
    ready: {{http: {{url: "http://127.0.0.1:{port}/ready", status: 200-299, body: good}}, interval: 100ms}}
    liveness: {{http: {{url: "http://127.0.0.1:{port}/live"}}, interval: 200ms, failure_threshold: 3}}
    stop: {{timeout: 2s}}
    restart: {{initial: 100ms}}
  web:
    command: "date +%s.%N > web.start; exec sleep 1000"
    shell: true
    depends_on: {{api: {{condition: ready}}}}
""")
    s = d.wait_state("api", "ready")
    assert events_of(d, "api", "ready")[0]["text"] == \
        f"ready: http http://127.0.0.1:{port}/ready passed 1 time"
    d.wait_state("web", "running")
    # The dependant started after the answer that made api ready.
    ready_at = [e for e in d.events() if e["kind"] == "ready" and e["service"] == "api"][0]
    assert os.path.exists(tmp_path / "web.start")
    hits = (tmp_path / "hits").read_text().split()
    assert "/ready" in hits
    wait_for(lambda: "/live" in (tmp_path / "hits").read_text().split(), timeout=10,
             what="a liveness request")
    first = s["pid"]
    (tmp_path / "sick").write_text("")
    wait_for(lambda: events_of(d, "api", "unhealthy"), timeout=30, what="unhealthy")
    ev = events_of(d, "api", "unhealthy")[0]
    assert ev["text"] == f"liveness: http http://127.0.0.1:{port}/live http 503 3 times"
    os.unlink(tmp_path / "sick")
    s = wait_for(lambda: (x := d.service("api"))["state"] == "ready" and x["pid"] != first and x,
                 timeout=30, what="ready again after the restart")
    assert s["restarts"] == 1
    assert ready_at["id"] < events_of(d, "web", "started")[0]["id"]
    d.down()


def test_http_probe_body_and_refused(daemon, tmp_path):
    port = free_port()
    (tmp_path / "health.py").write_text(HEALTH_SERVER)
    d = daemon(f"""
services:
  wrongbody:
    command: [/usr/bin/python3, health.py, '{port}']
    ready: {{http: {{url: "http://127.0.0.1:{port}/", body: "no such text"}}, interval: 100ms}}
    ready_timeout: 2s
    restart: {{policy: "no"}}
    autostart: false
  nothing:
    command: [sleep, "1000"]
    ready: {{http: {{url: "http://127.0.0.1:{free_port()}/"}}, interval: 100ms}}
    ready_timeout: 2s
    restart: {{policy: "no"}}
    autostart: false
""")
    start(d, "wrongbody", "nothing")
    s = d.wait_state("wrongbody", "failed", timeout=30)
    assert s["reason"] == (f"ready: http http://127.0.0.1:{port}/ not passing within 2s "
                           "(last: http 200 without \"no such text\" in its body)")
    s = d.wait_state("nothing", "failed", timeout=30)
    assert "not passing within 2s (last: failed: " in s["reason"], s["reason"]
    d.down()


def test_hung_service_pinned_on_cpu_is_restarted(daemon, tmp_path):
    d = daemon("""
services:
  spin:
    command: [sh, -c, 'while :; do :; done']
    hung: {cpu_above: 30%, for: 2s}
    stop: {timeout: 1s}
    restart: {initial: 100ms}
  calm:
    command: [sleep, '1000']
    hung: {cpu_above: 30%, for: 1s}
""")
    first = d.service("spin")["pid"]
    wait_for(lambda: events_of(d, "spin", "unhealthy"), timeout=30, what="spin found hung")
    ev = events_of(d, "spin", "unhealthy")[0]
    assert ev["text"].startswith("hung: CPU above 30% for 2s ("), ev["text"]
    s = wait_for(lambda: (x := d.service("spin"))["pid"] not in (None, first) and x, timeout=30,
                 what="spin restarted")
    assert s["restarts"] >= 1
    assert events_of(d, "spin", "restarting")[0]["text"].startswith("hung: CPU above 30%")
    # A sleeping tree under the same kind of rule is never called hung.
    assert not events_of(d, "calm", "unhealthy")
    d.down()


def test_hung_without_restart_is_only_reported(daemon):
    d = daemon("""
services:
  spin:
    command: [sh, -c, 'while :; do :; done']
    hung: {cpu_above: 30%, for: 1s, restart: false}
""")
    pid = d.service("spin")["pid"]
    wait_for(lambda: events_of(d, "spin", "unhealthy"), timeout=30, what="spin found hung")
    time.sleep(1)
    s = d.service("spin")
    assert s["pid"] == pid and s["restarts"] == 0
    assert len(events_of(d, "spin", "unhealthy")) == 1  # once per stretch above the line
    # Status says so while it lasts.
    assert s["reason"].startswith("hung: CPU above 30% for 1s"), s
    d.down()


def test_a_log_probe_reads_output_that_is_not_timestamped(daemon):
    """With timestamps off and nobody following, output is spliced into the
    file unseen: a service with a log probe is read line by line instead."""
    d = daemon("""
services:
  s:
    command: [sh, -c, 'sleep 0.3; echo listening on 83; exec sleep 1090']
    ready: {log: listening}
    ready_timeout: 5s
    logs: {timestamps: false}
  after:
    command: [sleep, "1091"]
    depends_on: {s: {condition: ready}}
""")
    assert d.wait_state("s", "ready")
    d.wait_state("after", "running")
    assert (d.state / "logs" / "s.log").read_text() == "listening on 83\n"
    d.down()


# A raw notify client: s and addr (the NOTIFY_SOCKET, abstract or a path).
NOTIFIER = r"""
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = os.environ["NOTIFY_SOCKET"]
addr = "\0" + addr[1:] if addr.startswith("@") else addr
"""

NOTIFY_STATUS = NOTIFIER + r"""
s.sendto(b"READY=1\nSTATUS=\x1b]0;owned\x07\x1b[2Jcleared\x1b[31mRED", addr)
time.sleep(1000)
"""


def test_a_status_cannot_drive_the_operator_s_terminal(daemon, tmp_path):
    (tmp_path / "notify.py").write_text(NOTIFY_STATUS)
    d = daemon(f"""
services:
  s:
    command: [{sys.executable}, notify.py]
    ready: notify
""")
    d.wait_state("s", "ready")
    wait_for(lambda: "cleared" in (d.service("s").get("status") or ""), what="the status")
    out = d.cli("status").stdout
    assert "?]0;owned??[2Jcleared?[31mRED" in out, out
    assert not any(ord(c) < 0x20 and c != "\n" for c in out), repr(out)
    d.down()


MAINPID = NOTIFIER + r"""
s.sendto(b"MAINPID=1", addr)          # not in the tree: refused
child = os.fork()
if child == 0:
    time.sleep(1000)
    os._exit(0)
s.sendto(b"READY=1\nMAINPID=%d" % child, addr)
time.sleep(0.5)
sys.exit(0)                              # the main process is the child now
"""


def test_mainpid_moves_the_main_process_within_the_tree_only(daemon, tmp_path):
    (tmp_path / "mainpid.py").write_text(MAINPID)
    d = daemon(f"""
services:
  s:
    command: [{sys.executable}, mainpid.py]
    ready: notify
""")
    first = [e for e in d.events() if e["kind"] == "started"][0]["pid"]
    s = wait_for(lambda: (x := d.service("s"))["pid"] != first and x, what="MAINPID taken")
    assert s["state"] == "ready" and s["pid"] in d.pids("s"), s
    # The spawned process ended after handing over: no orphan's end.
    assert not [e for e in d.events() if e["kind"] == "reaped" and e["pid"] == first]
    denied = [e for e in d.events() if e["kind"] == "notify_denied"]
    assert [e["text"] for e in denied] == [
        f"'MAINPID=1' from pid {first}: pid 1 is not in the service's tree, or gone: ignored"], \
        denied
    assert s.get("notify_denied", 0) == 0, s
    d.down()


OVERSIZED = NOTIFIER + r"""
s.sendto(b"READY=1\nSTATUS=" + b"x" * 20000, addr)
time.sleep(1000)
"""


def test_an_oversized_notify_message_is_said_to_be_dropped(daemon, tmp_path):
    (tmp_path / "big.py").write_text(OVERSIZED)
    d = daemon(f"""
services:
  s:
    command: [{sys.executable}, big.py]
    ready: notify
    autostart: false
""")
    assert d.cli("start", "--no-wait", "s").returncode == 0
    ev = wait_for(lambda: [e for e in d.events() if e["kind"] == "notify_denied"],
                  what="the dropped message said")
    assert "a notify message of 20015 bytes from pid" in ev[0]["text"], ev
    assert d.service("s")["state"] == "starting"
    d.down()
