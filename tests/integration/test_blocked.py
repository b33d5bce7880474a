"""ports: checked before every start. A port held by someone else leaves the
service `blocked`, retried without counting as a crash; an orphan of corral's
own holding it is stopped (and nothing else is). Real sockets on loopback,
judged from /proc and from the sockets themselves."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import psutil
import pytest

from conftest import MODES, Daemon, wait_for

PY = "/usr/bin/python3"
KINDS = {"tcp": (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", "tcp"),
         "tcp6": (socket.AF_INET6, socket.SOCK_STREAM, "::1", "tcp"),
         "udp": (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1", "udp")}

# The service: binds the port and answers "hello" to a connection or datagram.
SERVER = r"""
import socket, sys
fams = {"tcp": (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"),
        "tcp6": (socket.AF_INET6, socket.SOCK_STREAM, "::1"),
        "udp": (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1")}
fam, typ, addr = fams[sys.argv[1]]
s = socket.socket(fam, typ)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, int(sys.argv[2])))
if typ == socket.SOCK_DGRAM:
    while True:
        _, peer = s.recvfrom(100)
        s.sendto(b"hello\n", peer)
s.listen()
while True:
    c, _ = s.accept()
    c.sendall(b"hello\n")
    c.close()
"""

# A holder the test plants: listens on the port, notes each SIGTERM in a file,
# and then exits or (mode "ignore") carries on.
HOLDER = r"""
import signal, socket, sys, time
port, marker, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def on_term(sig, frame):
    with open(marker, "a") as f:
        f.write("TERM\n")
    if mode == "exit":
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen()
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def instance_of(state_dir):
    """corral's instance id: FNV-1a 64 of the state directory's real path."""
    h = 0xcbf29ce484222325
    for b in os.path.realpath(state_dir).encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def free_port(kind="tcp"):
    fam, typ, addr, _ = KINDS[kind]
    with socket.socket(fam, typ) as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def hold(kind):
    """A socket of the test's own holding a fresh port."""
    fam, typ, addr, _ = KINDS[kind]
    s = socket.socket(fam, typ)
    s.bind((addr, 0))
    if typ == socket.SOCK_STREAM:
        s.listen()
    return s, s.getsockname()[1]


def hello(kind, port):
    """The service answers on its port (polled: it may still be binding)."""
    fam, typ, addr, _ = KINDS[kind]

    def ask():
        try:
            with socket.socket(fam, typ) as s:
                s.settimeout(0.5)
                if typ == socket.SOCK_DGRAM:
                    s.sendto(b"hi", (addr, port))
                    return s.recvfrom(100)[0] == b"hello\n"
                s.connect((addr, port))
                return s.recv(100) == b"hello\n"
        except OSError:
            return False
    return wait_for(ask, what=f"an answer on {kind} port {port}")


@pytest.fixture
def stack(tmp_path):
    """Daemons that may fail to come up (a blocked service makes `up -d`
    exit 1 while the daemon keeps running), and the test's own holders: all
    stopped by PID at the end."""
    daemons, holders = [], []

    def run(text):
        d = Daemon(tmp_path, text)
        daemons.append(d)
        assert d.info, d.up.stderr + d.up.stdout
        return d

    def holder(port, mode="exit", env=None, name="holder"):
        script = tmp_path / "holder.py"
        script.write_text(HOLDER)
        marker = tmp_path / f"{name}.signals"
        full = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
        full.update(env or {})
        p = subprocess.Popen([PY, str(script), str(port), str(marker), mode], env=full,
                             stdout=subprocess.PIPE, text=True)
        holders.append(p)
        assert p.stdout.readline().strip() == "ready"
        return p, marker

    run.holder = holder
    yield run
    for p in holders:
        if p.poll() is None:
            p.kill()
        p.wait()
    for d in daemons:
        d.cleanup()
    # The daemon's stderr goes to corral.log: a sanitizer report there fails the test.
    for d in daemons:
        log = d.state / "corral.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        assert not re.search(r"runtime error|Sanitizer", text), text[-4000:]


def events_of(d, name, kind=None):
    return [e for e in d.events() if e.get("service") == name and (not kind or e["kind"] == kind)]


@pytest.mark.parametrize("kind", ["tcp", "tcp6", "udp"])
def test_a_foreign_holder_blocks_without_a_crash_loop(stack, tmp_path, kind):
    if kind == "tcp6" and not socket.has_ipv6:
        pytest.skip("no IPv6")
    proto = KINDS[kind][3]
    held, port = hold(kind)
    try:
        (tmp_path / "server.py").write_text(SERVER)
        d = stack(f"""
services:
  web:
    command: [{PY}, '{tmp_path / "server.py"}', {kind}, '{port}']
    ports: ['{port}/{proto}']
    restart: {{initial: 10ms, max: 40ms, max_restarts: 2, window: 60s}}
  after:
    command: [sleep, '1000']
    depends_on: [web]
""")
        # up -d says at once what holds the port; the daemon keeps running.
        assert d.up.returncode == 1
        assert f"web blocked: port {port}/{proto} is held on {KINDS[kind][2]} by pid " \
            f"{os.getpid()} (user root): " in d.up.stderr
        s = d.service("web")
        assert s["state"] == "blocked"
        b = s["blocked"]
        assert (b["port"], b["proto"], b["pid"], b["orphan"]) == (port, proto, os.getpid(), False)
        assert b["address"] == KINDS[kind][2] and b["user"] == "root"
        assert "pytest" in b["command"] and b["service"] is None
        assert f"pid {os.getpid()} (user root): " in s["reason"] and "pytest" in s["reason"]
        # Retried, but not a crash loop: well past max_restarts, nothing ran,
        # nothing counts as a restart, and it does not give up.
        s = wait_for(lambda: (s := d.service("web"))["blocked"]["checks"] >= 8 and s,
                     what="several checks")
        assert s["state"] == "blocked" and s["runs"] == 0 and s["restarts"] == 0
        assert d.pids("web") == []
        assert d.service("after")["state"] == "waiting" and d.pids("after") == []
        evs = [e["kind"] for e in events_of(d, "web")]
        assert evs == ["blocked"], evs  # one event: the holder did not change
        st = d.cli("status")
        row = next(line for line in st.stdout.splitlines() if line.startswith("web "))
        assert " blocked " in row and f"port {port}/{proto} is held" in row
        t0 = time.monotonic()
        held.close()
        s = d.wait_state("web", "running")
        assert time.monotonic() - t0 < 5
        assert hello(kind, port)
        assert s["runs"] == 1 and s["restarts"] == 0 and s["reason"] == ""
        assert s["blocked"] is None
        d.wait_state("after", "running")
        assert [e["kind"] for e in events_of(d, "web")] == ["blocked", "started"]
    finally:
        held.close()


def test_a_zero_backoff_does_not_spin_on_a_held_port(stack, tmp_path):
    """restart.initial 0 is allowed (the fastest restart), but a check of the
    ports reads every process's sockets: it is repeated 10 times a second at
    most, not in a loop that pins corral on a CPU while the port is held."""
    held, port = hold("tcp")
    try:
        d = stack(f"""
services:
  web:
    command: [sleep, '1000']
    ports: [{port}]
    restart: {{initial: 0ms, max: 0ms, jitter: 0%}}
""")
        first = wait_for(lambda: (s := d.service("web"))["state"] == "blocked" and s,
                         what="web blocked")["blocked"]["checks"]
        time.sleep(1.0)  # the quantity under test is checks over a span of time
        checks = d.service("web")["blocked"]["checks"] - first
        assert 3 <= checks <= 12, checks
    finally:
        held.close()


def test_stopping_a_blocked_service_is_immediate(stack, tmp_path):
    held, port = hold("tcp")
    try:
        d = stack(f"""
services:
  web:
    command: [sleep, '1000']
    ports: [{port}]
    restart: {{initial: 5s, max: 5s}}
  after:
    command: [sleep, '1001']
    depends_on: [web]
""")
        assert d.up.returncode == 1
        d.wait_state("web", "blocked")
        t0 = time.monotonic()
        r = d.cli("stop", "web")
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - t0 < 3
        s = d.service("web")
        assert s["state"] == "stopped" and s["reason"] == "" and s["blocked"] is None
        assert d.service("after")["state"] == "stopped"
        # Starting it again while the port is held reports the holder at once.
        t0 = time.monotonic()
        r = d.cli("start", "web")
        assert r.returncode == 1
        assert f"web blocked: port {port}/tcp is held on 127.0.0.1 by pid {os.getpid()}" in r.stderr
        assert time.monotonic() - t0 < 5
        # down does not wait for the 5 s retry either.
        t0 = time.monotonic()
        d.down()
        assert time.monotonic() - t0 < 5
    finally:
        held.close()


@pytest.mark.parametrize("mode", MODES)
def test_an_orphan_of_our_own_is_stopped(stack, tmp_path, mode):
    port = free_port()
    state = tmp_path / ".corral"
    state.mkdir()
    inst = instance_of(state)
    orphan, marker = stack.holder(port, env={"CORRAL_INSTANCE": inst, "CORRAL_SERVICE": "ghost"})
    cmd = " ".join(psutil.Process(orphan.pid).cmdline())
    (tmp_path / "server.py").write_text(SERVER)
    d = stack(f"""
containment: {mode}
services:
  web:
    command: [{PY}, '{tmp_path / "server.py"}', tcp, '{port}']
    ports: [{port}]
""")
    # up -d waits while the orphan goes, then reports the service up.
    assert d.up.returncode == 0, d.up.stderr
    assert d.instance == inst
    assert orphan.wait(10) == 0 and marker.read_text() == "TERM\n"
    s = d.wait_state("web", "running")
    assert hello("tcp", port)
    assert s["runs"] == 1 and s["restarts"] == 0
    blocked = events_of(d, "web", "blocked")
    assert len(blocked) == 1 and blocked[0]["pid"] == orphan.pid
    assert f"by pid {orphan.pid} (user root, an orphan of corral's service 'ghost': " \
        f"stopping it): {cmd}"[:200] in blocked[0]["text"]
    stopped = events_of(d, "web", "orphan")
    assert len(stopped) == 1 and stopped[0]["pid"] == orphan.pid
    assert stopped[0]["text"] == cmd


def test_an_orphan_that_ignores_the_stop_signal_is_killed(stack, tmp_path):
    port = free_port()
    state = tmp_path / ".corral"
    state.mkdir()
    orphan, marker = stack.holder(port, mode="ignore",
                                  env={"CORRAL_INSTANCE": instance_of(state),
                                       "CORRAL_SERVICE": "web"})
    (tmp_path / "server.py").write_text(SERVER)
    d = stack(f"""
services:
  web:
    command: [{PY}, '{tmp_path / "server.py"}', tcp, '{port}']
    ports: [{port}]
    stop: {{signal: TERM, timeout: 300ms}}
""")
    assert d.up.returncode == 0, d.up.stderr
    # Its own service's leftover: not live, so an orphan; TERM, then KILL.
    assert orphan.wait(10) == -signal.SIGKILL
    assert marker.read_text() == "TERM\n"
    d.wait_state("web", "running")
    assert hello("tcp", port)


def test_holders_that_are_not_ours_are_never_touched(stack, tmp_path):
    ports = [free_port(), free_port(), free_port()]
    state = tmp_path / ".corral"
    state.mkdir()
    # Same command line as an orphan, but no tag; another corral's tag; and a
    # running service of this corral (keeper) holding c's port.
    plain, m_plain = stack.holder(ports[0], name="plain")
    other, m_other = stack.holder(ports[1], env={"CORRAL_INSTANCE": "0123456789abcdef",
                                                 "CORRAL_SERVICE": "ghost"}, name="other")
    (tmp_path / "holder.py").write_text(HOLDER)
    m_live = tmp_path / "keeper.signals"
    d = stack(f"""
services:
  keeper:
    command: [{PY}, '{tmp_path / "holder.py"}', '{ports[2]}', '{m_live}', exit]
  a:
    command: [sleep, '1001']
    ports: [{ports[0]}]
    stop: {{timeout: 100ms}}
  b:
    command: [sleep, '1002']
    ports: [{ports[1]}]
    stop: {{timeout: 100ms}}
  c:
    command: [sleep, '1003']
    ports: [{ports[2]}]
    autostart: false
    stop: {{timeout: 100ms}}
    restart: {{initial: 20ms, max: 50ms}}
""")
    assert d.up.returncode == 1
    live = wait_for(lambda: [c for p in d.tagged().get("keeper", [])
                             for c in p.connections(kind="tcp") if c.laddr.port == ports[2]] and
                    d.tagged()["keeper"][0], what="keeper listening")
    assert d.json("POST", "/v1/services/c/start")[0] == 202
    for name, pid in (("a", plain.pid), ("b", other.pid), ("c", live.pid)):
        s = wait_for(lambda: (s := d.service(name))["state"] == "blocked" and
                     s["blocked"]["checks"] >= 5 and s, what=f"{name} blocked")
        assert s["blocked"]["pid"] == pid and not s["blocked"]["orphan"]
    assert d.service("c")["blocked"]["service"] == "keeper"
    assert "(user root, of corral's service 'keeper'): " in d.service("c")["reason"]
    time.sleep(0.3)  # past every stop timeout: nothing was signalled
    for p, m in ((plain, m_plain), (other, m_other)):
        assert p.poll() is None and not m.exists()
    assert live.is_running() and not m_live.exists()
    assert d.service("keeper")["state"] == "running"
    assert not [e for e in d.events() if e["kind"] == "orphan"]
    for p in (plain, other):
        p.kill()
        p.wait()
    for name in ("a", "b"):
        s = d.wait_state(name, "running")
        assert s["runs"] == 1 and s["restarts"] == 0
    assert d.cli("stop", "keeper").returncode == 0
    s = d.wait_state("c", "running")
    assert s["runs"] == 1 and s["restarts"] == 0


def test_an_untagged_process_in_a_dead_services_cgroup_is_an_orphan(stack, tmp_path):
    port = free_port()
    plain, marker = stack.holder(port)
    (tmp_path / "server.py").write_text(SERVER)
    d = stack(f"""
containment: cgroup
services:
  web:
    command: [{PY}, '{tmp_path / "server.py"}', tcp, '{port}']
    ports: [{port}]
    autostart: false
""")
    assert d.up.returncode == 0, d.up.stderr
    base = d.info["containment_reason"].removeprefix("cgroup v2 at ")
    ghost = os.path.join(base, "ghost")
    os.mkdir(ghost)
    try:
        with open(os.path.join(ghost, "cgroup.procs"), "w") as f:
            f.write(str(plain.pid))
        assert d.json("POST", "/v1/services/web/start")[0] == 202
        assert plain.wait(10) == 0 and marker.read_text() == "TERM\n"
        d.wait_state("web", "running")
        assert hello("tcp", port)
        ev = events_of(d, "web", "orphan")
        assert len(ev) == 1 and ev[0]["pid"] == plain.pid
    finally:
        if plain.poll() is None:
            plain.kill()
        plain.wait()
        wait_for(lambda: not open(os.path.join(ghost, "cgroup.procs")).read().strip(),
                 what="ghost cgroup empty")
        os.rmdir(ghost)


def test_reload_that_adds_ports_restarts_only_what_changed(stack, tmp_path):
    port = free_port()
    held, side_port = hold("tcp")
    (tmp_path / "server.py").write_text(SERVER)
    base = f"""
services:
  web:
    command: [{PY}, '{tmp_path / "server.py"}', tcp, '{port}']
    WEB_PORTS
  side:
    command: [sleep, '1000']
    SIDE_PORTS
  other:
    command: [sleep, '1001']
"""
    try:
        d = stack(base.replace("WEB_PORTS", "").replace("SIDE_PORTS", ""))
        assert d.up.returncode == 0, d.up.stderr
        for n in ("web", "side", "other"):
            d.wait_state(n, "running")
        assert hello("tcp", port)
        before = {n: d.pids(n) for n in ("web", "side", "other")}
        # web declares the port it already serves on: changed, so restarted;
        # its old process is gone by then, so the port is free.
        d.cfg.write_text(base.replace("WEB_PORTS", f"ports: [{port}]").replace("SIDE_PORTS", ""))
        r = d.cli("reload", "--json")
        assert r.returncode == 0, r.stderr
        plan = json.loads(r.stdout)
        assert plan["changed"] == ["web"] and plan["unchanged"] == ["side", "other"]
        wait_for(lambda: d.pids("web") and d.pids("web") != before["web"], what="web restarted")
        s = d.wait_state("web", "running")
        assert s["blocked"] is None and hello("tcp", port)
        assert d.pids("side") == before["side"] and d.pids("other") == before["other"]
        # side gets a port the test holds: restarted, and now blocked.
        d.cfg.write_text(base.replace("WEB_PORTS", f"ports: [{port}]")
                         .replace("SIDE_PORTS", f"ports: [{side_port}]"))
        plan = json.loads(d.cli("reload", "--json").stdout)
        assert plan["changed"] == ["side"] and plan["unchanged"] == ["web", "other"]
        s = d.wait_state("side", "blocked")
        assert s["blocked"]["pid"] == os.getpid() and d.pids("side") == []
        assert d.pids("other") == before["other"]
        assert d.service("web")["state"] == "running"
        held.close()
        d.wait_state("side", "running")
    finally:
        held.close()


def test_a_restart_is_checked_too(stack, tmp_path):
    port = free_port()
    (tmp_path / "server.py").write_text(SERVER)
    d = stack(f"""
services:
  web:
    command: [{PY}, '{tmp_path / "server.py"}', tcp, '{port}']
    ports: [{port}]
    restart: {{policy: always, initial: 1s, max: 1s, jitter: 0}}
""")
    assert d.up.returncode == 0, d.up.stderr
    pid = d.wait_state("web", "running")["pid"]
    assert hello("tcp", port)
    psutil.Process(pid).kill()  # a crash: the restart waits 1 s
    d.wait_state("web", "backoff")
    held = socket.socket()
    try:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", port))
        held.listen()
        s = d.wait_state("web", "blocked")
        assert s["blocked"]["pid"] == os.getpid() and d.pids("web") == []
        # The crash counted once; being blocked adds nothing.
        assert s["runs"] == 1 and s["restarts"] == 1
        held.close()
        s = d.wait_state("web", "running")
        assert s["runs"] == 2 and s["restarts"] == 1 and s["pid"] != pid
        assert hello("tcp", port)
    finally:
        held.close()


def test_a_holder_s_exit_starts_the_blocked_service_at_once(stack, tmp_path):
    """The next check after the holder's exit is not left to the backoff
    (here 20 s): its exit is seen through a pidfd, and the service starts at
    once, no longer naming a process that is gone. The holder is only
    watched, never signalled."""
    port = free_port()
    p, marker = stack.holder(port)
    d = stack(f"""
services:
  web:
    command: [sleep, '1000']
    ports: [{port}]
    restart: {{initial: 20s, max: 20s, jitter: 0%}}
""")
    s = d.wait_state("web", "blocked")
    assert f"by pid {p.pid} " in s["reason"], s
    time.sleep(0.5)
    assert p.poll() is None and not marker.exists()
    t0 = time.monotonic()
    p.kill()
    p.wait()
    s = d.wait_state("web", "running", timeout=10)
    assert time.monotonic() - t0 < 5, "the start waited for the backoff"
    assert s["runs"] == 1 and s["reason"] == ""
