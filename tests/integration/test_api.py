"""The HTTP API against a real daemon: every route, its errors, streams, auth.
What corral answers is checked against /proc wherever a process is involved."""
import json
import os
import signal
import socket
import stat
import subprocess
import time

import psutil

from conftest import CORRAL, gone, proc, wait_for

STACK = """
services:
  db:
    command: [sleep, '1000']
  web:
    command: [sh, -c, 'echo web up; trap "echo got HUP" HUP; while true; do sleep 0.2; done']
    depends_on: [db]
  job:
    kind: oneshot
    command: [sh, -c, 'echo job done']
"""


def sse_events(sock_path, path, until, timeout=10.0, headers=""):
    """Read an SSE stream until until(events) is true; returns the events."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(sock_path)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{headers}\r\n"
              .encode())
    buf, events = b"", []
    deadline = time.monotonic() + timeout
    try:
        while not until(events) and time.monotonic() < deadline:
            buf += s.recv(65536)
            events = [json.loads(line[6:]) for line in buf.decode(errors="replace").splitlines()
                      if line.startswith("data: ")]
    finally:
        s.close()
    return events


def test_info_services_and_health(daemon):
    d = daemon(STACK)
    st, info = d.json("GET", "/v1")
    assert st == 200 and info["pid"] == d.ps.pid and info["services"] == 3
    assert info["containment"] in ("cgroup", "pgroup")
    st, body = d.json("GET", "/v1/services")
    names = [s["name"] for s in body["services"]]
    assert names == ["db", "web", "job"]
    web = d.wait_state("web", "running")
    assert web["pid"] in d.pids("web")
    assert psutil.Process(web["pid"]).cmdline()[0] == "sh"
    assert d.wait_state("job", "completed")["last_exit"] == {"code": 0, "text": "exited 0"}
    assert d.json("GET", "/health/live") == (200, {"status": "live"})
    assert d.json("GET", "/health/ready")[0] == 200
    d.json("POST", "/v1/services/db/stop")
    d.wait_state("db", "stopped")
    st, ready = d.json("GET", "/health/ready")
    assert st == 503 and {w["name"] for w in ready["waiting"]} == {"db", "web"}


def test_stop_start_restart_signal(daemon):
    d = daemon(STACK)
    db_proc = proc(d.wait_state("db", "running")["pid"])
    web_proc = proc(d.wait_state("web", "running")["pid"])
    # Stopping db stops web first: nothing runs without what it needs.
    st, body = d.json("POST", "/v1/services/db/stop")
    assert st == 202 and body["service"]["name"] == "db"
    d.wait_state("db", "stopped")
    assert d.service("web")["state"] == "stopped"
    assert d.service("db")["stopped_by_operator"] is True
    assert gone(db_proc) and gone(web_proc)
    # Starting web brings db back.
    assert d.json("POST", "/v1/services/web/start")[0] == 202
    web = d.wait_state("web", "running")
    web_proc = proc(web["pid"])
    db = d.wait_state("db", "running")
    assert web["pid"] in d.pids("web") and d.pids("db") == [db["pid"]]
    # Restart: a new process, its dependency untouched.
    st, body = d.json("POST", "/v1/services/web/restart")
    assert st == 202
    wait_for(lambda: d.service("web")["runs"] == web["runs"] + 1
             and d.service("web")["state"] == "running", what="web restarted")
    assert d.service("web")["pid"] != web["pid"] and gone(web_proc)
    assert d.service("db")["pid"] == db["pid"]
    # Signal goes to the main process only.
    st, body = d.json("POST", "/v1/services/web/signal", {"signal": "HUP"})
    assert st == 200 and body["signal"] == "HUP"
    wait_for(lambda: b"got HUP" in d.request("GET", "/v1/services/web/logs?tail=5")[1],
             what="HUP handled")
    st, body = d.json("POST", "/v1/services/web/signal", {"signal": 10})
    assert st == 200 and body["signal"] == "USR1"


def test_errors_are_json_with_the_right_status(daemon):
    d = daemon(STACK)
    cases = [
        ("GET", "/nope", None, 404, "not_found"),
        ("GET", "/v1/services/ghost", None, 404, "unknown_service"),
        ("POST", "/v1/services/ghost/start", None, 404, "unknown_service"),
        ("GET", "/v1/services/db/explode", None, 404, "not_found"),
        ("GET", "/v1/services/..%2f..%2fetc", None, 404, "not_found"),
        ("DELETE", "/v1/services", None, 405, "method_not_allowed"),
        ("GET", "/v1/services/db/start", None, 405, "method_not_allowed"),
        ("POST", "/v1/services/db/signal", "{not json", 400, "bad_request"),
        ("POST", "/v1/services/db/signal", "[1]", 400, "bad_request"),
        ("POST", "/v1/services/db/signal", '{"signal": "NOPE"}', 400, "bad_request"),
        ("POST", "/v1/services/db/signal", '{"sig": "HUP"}', 400, "bad_request"),
        ("POST", "/v1/services/job/signal", '{"signal": "HUP"}', 409, "not_running"),
        ("GET", "/v1/logs?tail=-1", None, 400, "bad_request"),
        ("GET", "/v1/logs?follow=maybe", None, 400, "bad_request"),
        ("GET", "/v1/services?stats=on", None, 400, "bad_request"),
        ("GET", "/v1/services?stats=TRUE", None, 400, "bad_request"),
        ("GET", "/v1/logs?service=db,../x", None, 400, "bad_request"),
        ("GET", "/v1/logs?service=ghost", None, 404, "unknown_service"),
        ("GET", "/v1/events?since=abc", None, 400, "bad_request"),
    ]
    d.wait_state("job", "completed")
    for method, path, body, status, code in cases:
        st, data, headers = d.request(method, path, body)
        assert st == status, (method, path, st, data)
        err = json.loads(data)["error"]
        assert err["code"] == code and err["message"], (path, err)
        if st == 405:
            assert headers["Allow"] in ("GET", "POST")
    # Too big a body is refused from its headers, before it is read.
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(d.sock)
    s.sendall(b"POST /v1/services/db/signal HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: 10000000\r\n\r\n" + b"x" * 1000)
    reply = s.recv(4096).decode()
    s.close()
    assert reply.startswith("HTTP/1.1 413") and "payload_too_large" in reply
    assert d.service("db")["state"] == "running"


def test_logs_tail_follow_and_sse(daemon):
    d = daemon("""
services:
  talk:
    command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.05; done']
    logs: {timestamps: false}
""")
    wait_for(lambda: d.request("GET", "/v1/services/talk/logs?tail=3")[1].count(b"\n") == 3,
             what="three lines logged")
    st, data, headers = d.request("GET", "/v1/services/talk/logs?tail=3")
    lines = data.decode().splitlines()
    assert st == 200 and headers["Content-Type"].startswith("text/plain")
    nums = [int(x.split()[1]) for x in lines]
    assert nums == list(range(nums[0], nums[0] + 3))
    # Follow: lines keep coming after the tail, in order, none missing.
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(d.sock)
    s.sendall(b"GET /v1/services/talk/logs?tail=1&follow=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while buf.count(b"line ") < 15:
        buf += s.recv(4096)
    s.close()
    got = [int(w.split(b" ")[1]) for w in buf.split(b"\n") if w.startswith(b"line ")]
    assert got[-1] - got[0] == len(got) - 1
    # SSE: JSON per line.
    events = sse_events(d.sock, "/v1/logs?service=talk&tail=2&follow=1", lambda e: len(e) >= 5)
    assert all(e["service"] == "talk" and e["line"].startswith("line ") for e in events)


def test_a_follower_that_joins_mid_line_sees_the_whole_line(daemon, tmp_path):
    """A line begun before the follower came is shown whole, with the time
    its first bytes were read, as the log file has it, not from mid-line."""
    d = daemon("""
services:
  slow:
    command: [sh, -c, 'printf begun-; touch said; until [ -e go ]; do sleep 0.01; done; echo ended; exec sleep 1000']
""")
    wait_for(lambda: (tmp_path / "said").exists(), what="the line begun")
    time.sleep(0.3)  # read by corral, held by the log file's writer
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(d.sock)
    s.sendall(b"GET /v1/services/slow/logs?tail=0&follow=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    (tmp_path / "go").touch()
    while b"ended" not in buf:
        buf += s.recv(4096)
    s.close()
    line = next(l for l in buf.split(b"\n") if b"ended" in l).decode().strip()
    assert line.endswith(" out begun-ended"), buf
    d.down()
    logged = (d.state / "logs" / "slow.log").read_text().splitlines()
    assert logged == [line], (logged, line)  # the same time stamp


def test_the_tail_of_a_line_longer_than_the_tail_window_is_shown(daemon):
    """Raw output with a last line over 1 MiB (the most a tail reads) gave an
    empty tail: the end of that line is shown instead."""
    d = daemon("""
services:
  blob:
    kind: oneshot
    command: [sh, -c, 'echo first; head -c 1500000 /dev/zero | tr "\\0" x; echo']
    logs: {timestamps: false}
""")
    d.wait_state("blob", "completed")
    st, data, _ = d.request("GET", "/v1/services/blob/logs?tail=1")
    assert st == 200
    assert data.endswith(b"x\n") and data.count(b"\n") == 1 and set(data[:-1]) == {ord("x")}
    assert 1000 * 1024 <= len(data) <= 1024 * 1024 + 1, len(data)
    d.down()


def test_the_tails_of_several_services_are_merged_by_time(daemon, tmp_path):
    """`corral logs a b` reads as one story: the services' lines by their
    time stamps, not all of a's lines, then all of b's."""
    d = daemon("""
services:
  ping:
    kind: oneshot
    command: [sh, -c, 'for i in 1 3 5 7; do until [ -e turn$i ]; do sleep 0.01; done; echo ping $i; touch turn$((i+1)); done']
  pong:
    kind: oneshot
    command: [sh, -c, 'for i in 2 4 6 8; do until [ -e turn$i ]; do sleep 0.01; done; echo pong $i; touch turn$((i+1)); done']
""")
    (tmp_path / "turn1").touch()
    d.wait_state("ping", "completed")
    d.wait_state("pong", "completed")
    st, data, _ = d.request("GET", "/v1/logs?service=ping,pong&tail=10")
    assert st == 200
    said = [line.split(" | ")[1].split()[-1] for line in data.decode().splitlines()]
    assert said == [str(i) for i in range(1, 9)], data.decode()
    # tail counts lines per service: the last two of each, still by time.
    st, data, _ = d.request("GET", "/v1/logs?service=pong,ping&tail=2")
    said = [line.split(" | ")[1].split()[-1] for line in data.decode().splitlines()]
    assert said == ["5", "6", "7", "8"], data.decode()
    d.down()


def test_event_stream_history_and_resume(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    history = d.events()
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))
    assert {"started", "completed"} <= {e["kind"] for e in history}
    last = history[-1]["id"]
    # Resume after the last id seen: only what happened since, then live.
    d.json("POST", "/v1/services/web/restart")
    events = sse_events(d.sock, "/v1/events", lambda e: any(x["kind"] == "started" for x in e),
                        headers=f"Last-Event-ID: {last}\r\n")
    assert events[0]["id"] == last + 1
    kinds = [e["kind"] for e in events]
    assert "stopping" in kinds and "started" in kinds
    # The old run's end is recorded between them.
    stopped = [e for e in events if e["kind"] == "stopped"]
    assert stopped and stopped[0]["reason"] == "stopped to start again", events
    assert kinds.index("stopping") < kinds.index("stopped") < kinds.index("started"), kinds


def test_tree_shows_grandchildren(daemon):
    d = daemon("""
services:
  fam:
    command: [sh, -c, 'sh -c "sleep 1001" & sleep 1000']
""")
    wait_for(lambda: len(d.pids("fam")) == 4, what="whole family up")
    st, body = d.json("GET", "/v1/services/fam/tree")
    procs = {p["pid"]: p for p in body["processes"]}
    assert set(procs) == set(d.pids("fam"))
    main = [p for p in procs.values() if p["main"]]
    assert len(main) == 1 and main[0]["pid"] == d.service("fam")["pid"]
    grandchild = [p for p in procs.values() if "1001" in p["cmdline"] and p["cmdline"].startswith("sleep")]
    assert grandchild and procs[grandchild[0]["ppid"]]["ppid"] == main[0]["pid"]


def test_shutdown_route(daemon):
    d = daemon(STACK)
    procs = [proc(d.wait_state(n, "running")["pid"]) for n in ("db", "web")]
    assert d.json("POST", "/v1/shutdown") == (202, {"status": "stopping"})
    wait_for(lambda: not d.alive(), 20, what="daemon gone")
    assert all(gone(p) for p in procs)
    assert d.tagged() == {}
    assert not os.path.exists(d.sock)


def test_socket_is_owner_only(daemon):
    d = daemon(STACK)
    mode = os.stat(d.sock).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    # Another uid cannot even connect...
    code = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
            f"try:\n s.connect({d.sock!r}); s.sendall(b'GET /v1 HTTP/1.0\\r\\n\\r\\n');"
            " print(s.recv(100))\nexcept PermissionError: print('EACCES')\n")

    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)
    # Let the other uid reach the directory (pytest keeps its tree 0700).
    opened = [p for p in (d.dir.parent.parent, d.dir.parent, d.dir, d.state)
              if stat.S_IMODE(os.stat(p).st_mode) & 0o001 == 0]
    modes = {p: stat.S_IMODE(os.stat(p).st_mode) for p in opened}
    for p in opened:
        os.chmod(p, modes[p] | 0o001)
    try:
        check_as_nobody(d, code, as_nobody)
    finally:
        for p in opened:
            os.chmod(p, modes[p])
    assert d.json("GET", "/v1")[0] == 200


def check_as_nobody(d, code, as_nobody):
    r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                       preexec_fn=as_nobody, timeout=10)
    assert r.stdout.strip() == "EACCES", r
    # ...and with the file mode opened up, the peer check still refuses it.
    os.chmod(d.sock, 0o666)
    r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                       preexec_fn=as_nobody, timeout=10)
    assert "403" in r.stdout, r


def test_tcp_listener_needs_the_token(daemon, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = daemon(f"api: {{listen: '127.0.0.1:{port}'}}\n" + STACK)
    token_file = d.state / "api.token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    assert len(token) == 64

    def get(path, auth=None):
        c = http_client(port)
        c.request("GET", path, headers={"Authorization": auth} if auth else {})
        r = c.getresponse()
        return r.status, r.read()
    for auth in (None, "Bearer wrong", "Bearer " + token[:-1] + "x", token, "Basic " + token):
        st, body = get("/v1/services", auth)
        assert st == 401 and json.loads(body)["error"]["code"] == "unauthorized"
    assert get("/health/live")[0] == 401  # GETs included
    st, body = get("/v1/services/db", "Bearer " + token)
    assert st == 200 and json.loads(body)["name"] == "db"
    # The token survives a restart of corral.
    d.down()
    d2 = daemon(f"api: {{listen: '127.0.0.1:{port}'}}\n" + STACK)
    assert get("/v1", "Bearer " + token)[0] == 200
    assert d2.info["pid"] != d.info["pid"]


def http_client(port):
    import http.client
    return http.client.HTTPConnection("127.0.0.1", port, timeout=5)


def test_killed_client_mid_stream_does_not_disturb(daemon):
    d = daemon("""
services:
  chatty:
    command: [sh, -c, 'while true; do echo hello; sleep 0.01; done']
""")
    pid = d.wait_state("chatty", "running")["pid"]
    reader = ("import socket,sys\ns=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
              "s.sendall(sys.argv[2].encode())\nwhile True: s.recv(1)\n")
    clients = []
    for path in ("/v1/services/chatty/logs?follow=1", "/v1/events?follow=1&format=sse"):
        clients.append(subprocess.Popen(
            ["/usr/bin/python3", "-c", reader, d.sock, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"]))
    time.sleep(1)
    for c in clients:
        c.send_signal(signal.SIGKILL)
        c.wait()
    time.sleep(0.5)
    assert d.json("GET", "/v1")[0] == 200
    assert d.service("chatty")["pid"] == pid
    d.json("POST", "/v1/services/chatty/restart")
    wait_for(lambda: d.service("chatty")["runs"] == 2 and d.service("chatty")["state"] == "running",
             what="restart after the clients died")


def test_second_instance_refused(daemon):
    d = daemon(STACK)
    r = subprocess.run([CORRAL, "up", "-f", str(d.cfg)], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 1
    assert f"corral is already running for {d.state} (pid {d.ps.pid}, up since" in r.stderr
    r = d.cli("up", "-d")
    assert r.returncode == 0 and f"pid {d.ps.pid}" in (r.stdout + r.stderr)
    assert len(d.pids("db")) == 1


def test_stale_lock_and_socket_do_not_block(daemon, tmp_path):
    state = tmp_path / ".corral"
    state.mkdir()
    (state / "corral.lock").write_text("12345\n")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(state / "corral.sock"))
    s.close()
    d = daemon(STACK)
    assert d.json("GET", "/v1")[0] == 200


def test_a_reload_keeps_log_follows_by_name(daemon):
    # Followed logs go on across a reload, by name: a service added before
    # the one followed moves every index, and the stream of all services
    # takes the new one in.
    d = daemon(STACK)
    d.wait_state("web", "running")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(d.sock)
    s.sendall(b"GET /v1/logs?follow=1&tail=0 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    d.cfg.write_text(STACK.replace("services:\n", "services:\n  extra:\n    command: [sh, -c, "
                                   "'while true; do echo extra says hi; sleep 0.1; done']\n"))
    assert d.json("POST", "/v1/reload")[1]["added"] == ["extra"]
    d.wait_state("extra", "running")
    assert d.json("POST", "/v1/services/web/signal", json.dumps({"signal": "HUP"}))[0] == 200
    data = b""
    while b"extra says hi" not in data or b"got HUP" not in data:
        chunk = s.recv(4096)
        assert chunk, data
        data += chunk
    assert b"web | " in data and b"extra | " in data
    s.close()


def test_corrals_own_events_have_every_events_fields(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    d.cfg.write_text(STACK)
    assert d.json("POST", "/v1/reload")[0] == 200
    own = [e for e in d.events() if e["service"] is None]
    assert {"corral_started", "reload"} <= {e["kind"] for e in own}, own
    for e in own:
        assert e["instance"] == d.info["instance"] and e["details"] == {}, e
        assert e["reason"] == e.get("text"), e


def test_an_operator_restart_clears_an_earlier_exit_s_reason(daemon):
    d = daemon("""
services:
  web:
    command: [sleep, "1110"]
    restart: {policy: always, initial: 10ms}
""")
    pid = d.wait_state("web", "running")["pid"]
    assert d.json("POST", "/v1/services/web/signal", {"signal": "HUP"})[0] == 200
    s = wait_for(lambda: (s := d.service("web"))["pid"] not in (None, pid) and
                 s["state"] == "running" and s, what="web restarted after its HUP")
    assert s["reason"] == "killed by SIGHUP", s
    assert d.cli("restart", "web").returncode == 0
    s = d.wait_state("web", "running")
    assert s["reason"] == "", s  # the operator's restart is why it runs now
    d.down()


def test_an_invalid_name_in_the_events_filter_is_said_as_such(daemon):
    d = daemon("services:\n  web: {command: [sleep, '1111']}\n")
    for q in ("service=%ff", "service=web," + "a" * 127):
        st, body = d.json("GET", f"/v1/events?{q}")
        assert st == 400 and "no service name" in body["error"]["message"], (q, body)
    st, body = d.json("GET", "/v1/events?service=" + ",".join(f"s{i}" for i in range(65)))
    assert st == 400 and "at most 64 names" in body["error"]["message"], body
    d.down()
