"""Resources: per-service tree stats judged against psutil's view of the same
tree, limits judged from /proc and from what happens to a greedy service,
`corral top --once`, and /metrics read by a real Prometheus parser."""
import os
import re
import shutil
import subprocess
import time

import psutil
import pytest

from conftest import CORRAL, MODES, gone, proc, wait_for

# A parent with three children each holding 20 MiB, the parent 10 MiB.
TREE = r'''import os, time
for i in range(3):
    if os.fork() == 0:
        x = bytearray(20 << 20)
        for k in range(0, len(x), 4096):
            x[k] = 1
        time.sleep(1000)
x = bytearray(10 << 20)
for k in range(0, len(x), 4096):
    x[k] = 1
open("ready", "w").close()
time.sleep(1000)
'''

# Grows by 8 MiB a step, touching every page, until something stops it.
GREEDY = r'''import time
chunks = []
while True:
    c = bytearray(8 << 20)
    for k in range(0, len(c), 4096):
        c[k] = 1
    chunks.append(c)
    time.sleep(0.05)
'''

# At most 400 processes in all, each sleeping: bounded even with no limit at
# all, and every one of them in the service's tree for the stop to reach.
BOMB = r'''import os, time
made = 0
failed = 0
while made < 400:
    try:
        if os.fork() == 0:
            time.sleep(1000)
            os._exit(0)
        made += 1
    except OSError:
        failed += 1
        if failed == 1:
            print("fork failed after", made, flush=True)
        if failed > 50:
            break
        time.sleep(0.01)
print("made", made, "failed", failed, flush=True)
time.sleep(1000)
'''


def config(mode, services):
    return f"containment: {mode}\nservices:\n{services}"


def tree_of(pid):
    p = psutil.Process(pid)
    return [p] + p.children(recursive=True)


def controllers(d):
    return set(d.json("GET", "/v1")[1].get("controllers", []))


@pytest.mark.parametrize("mode", MODES)
def test_stats_match_the_tree(daemon, tmp_path, mode):
    (tmp_path / "tree.py").write_text(TREE)
    d = daemon(config(mode, "  tree:\n    command: [python3, tree.py]\n"))
    wait_for(lambda: (tmp_path / "ready").exists(), what="tree ready")
    svc = d.service("tree")
    procs = tree_of(svc["pid"])
    assert len(procs) == 4
    st = svc["stats"]
    assert st["live"] and st["procs"] == 4
    assert st["source"] == ("cgroup" if mode == "cgroup" else "proc")
    rss = sum(p.memory_info().rss for p in procs)
    # Both are read moments apart from a tree that is not allocating.
    assert abs(st["rss_bytes"] - rss) < 0.05 * rss, (st, rss)
    assert st["rss_bytes"] > 70 << 20
    fds = sum(p.num_fds() for p in procs)
    assert abs(st["fds"] - fds) <= 4, (st, fds)
    cpu = sum(sum(p.cpu_times()[:2]) for p in procs)
    assert st["cpu_seconds"] >= cpu * 0.5 - 0.05
    # A second sample has a rate; an idle tree uses little.
    time.sleep(0.3)
    st2 = d.service("tree")["stats"]
    assert st2["cpu_percent"] is not None and 0 <= st2["cpu_percent"] < 50
    # The list carries stats only when asked.
    plain = d.json("GET", "/v1/services")[1]["services"][0]
    assert "stats" not in plain
    listed = d.json("GET", "/v1/services?stats=1")[1]["services"][0]
    assert listed["stats"]["procs"] == 4
    assert d.json("GET", "/v1/services?stats=maybe")[0] == 400


def test_a_double_forked_orphan_counts_without_a_cgroup(daemon, tmp_path):
    """The tree is more than the main process's descendants: what corral
    inherited as subreaper still belongs to the service."""
    d = daemon(config("pgroup", "  s:\n    command: [sh, -c, '(sleep 1000 &) ; exec sleep 1000']\n"))
    wait_for(lambda: len(d.pids("s")) == 2, what="two tagged processes")
    st = d.service("s")["stats"]
    assert st["procs"] == 2


@pytest.mark.parametrize("mode", MODES)
def test_memory_limit_stops_a_greedy_service(daemon, tmp_path, mode):
    (tmp_path / "greedy.py").write_text(GREEDY)
    d = daemon(config(mode, "  greedy:\n    command: [python3, greedy.py]\n"
                            "    limits: {memory: 64M}\n"
                            "    restart: {policy: on-failure, initial: 5s}\n"))
    # From its start event: it may be over its limit, and not running, by now.
    first = proc([e for e in d.events()
                  if e["kind"] == "started" and e["service"] == "greedy"][0]["pid"])
    enforced = d.service("greedy")["limits"]["memory"]["enforced_by"]
    assert enforced == ("cgroup" if mode == "cgroup" and "memory" in controllers(d)
                        else "sampling")
    svc = wait_for(lambda: (s := d.service("greedy"))["restarts"] >= 1 and s,
                   timeout=30, what="a restart")
    assert gone(first)
    assert svc["state"] == "backoff"
    if enforced == "cgroup":
        assert svc["reason"].startswith("oom")
    else:
        assert re.match(r"memory limit: \d+(\.\d)?M > 64M", svc["reason"]), svc["reason"]
    ev = [e for e in d.events() if e["kind"] == "limit_exceeded"]
    assert ev and ev[0]["service"] == "greedy" and "64M" in ev[0]["text"]
    restarting = [e for e in d.events() if e["kind"] == "restarting"]
    assert restarting and restarting[-1]["text"] == svc["reason"]


def test_memory_max_is_written_where_the_controller_is_delegated(daemon, tmp_path):
    d = daemon(config("cgroup", "  s:\n    command: [sleep, '1000']\n"
                                "    limits: {memory: 64M, cpu: 150%, pids: 50}\n"))
    have = controllers(d)
    if not have:
        pytest.skip("no cpu, memory or pids controller is delegated to corral's cgroup here")
    path = re.search(r"cgroup v2 at (\S+)", d.info["containment_reason"]).group(1) + "/s"
    if "memory" in have:
        assert open(os.path.join(path, "memory.max")).read().strip() == str(64 << 20)
    if "cpu" in have:
        assert open(os.path.join(path, "cpu.max")).read().split() == ["150000", "100000"]
    if "pids" in have:
        assert open(os.path.join(path, "pids.max")).read().strip() == "50"


def test_pids_limit_holds_a_fork_bomb(daemon, tmp_path):
    (tmp_path / "bomb.py").write_text(BOMB)
    d = daemon(config("cgroup", "  bomb:\n    command: [python3, bomb.py]\n"
                                "    limits: {pids: 50}\n    autostart: false\n"))
    if "pids" not in controllers(d):
        pytest.skip("no pids controller is delegated to corral's cgroup here")
    assert d.cli("start", "bomb").returncode == 0
    wait_for(lambda: "made" in d.cli("logs", "bomb").stdout, timeout=30, what="bomb done")
    out = d.cli("logs", "bomb").stdout
    assert "fork failed after" in out
    assert len(d.pids("bomb")) <= 50
    d.cli("stop", "bomb")
    wait_for(lambda: not d.pids("bomb"), what="bomb gone")


@pytest.mark.parametrize("mode", MODES)
def test_nofile_is_the_child_rlimit(daemon, mode):
    d = daemon(config(mode, "  s:\n    command: [sleep, '1000']\n"
                            "    limits: {nofile: 321, cpu_time: 1h, address_space: 2G}\n"))
    pid = d.service("s")["pid"]
    limits = open(f"/proc/{pid}/limits").read()
    assert re.search(r"Max address space\s+2147483648\s+2147483648", limits), limits
    assert re.search(r"Max open files\s+321\s+321", limits), limits
    assert re.search(r"Max cpu time\s+3600\s+3605", limits), limits


def test_a_cpu_time_kill_is_said_to_be_the_limit(daemon):
    """RLIMIT_CPU's SIGXCPU ends a spinning process: the exit says the limit,
    as a memory limit's does, not a bare 'killed by SIGXCPU'."""
    d = daemon("services:\n  spin:\n    command: [sh, -c, 'while :; do :; done']\n"
               "    limits: {cpu_time: 1s}\n    restart: {policy: on-failure, initial: 1m}\n"
               "    autostart: false\n")
    assert d.cli("start", "spin", "--no-wait").returncode == 0
    svc = wait_for(lambda: (s := d.service("spin"))["state"] == "backoff" and s, timeout=30,
                   what="spin to end")
    assert svc["reason"] == "cpu_time limit: used 1s of CPU", svc
    ev = [e for e in d.events() if e["kind"] == "limit_exceeded"]
    assert ev and ev[0]["service"] == "spin" and ev[0]["text"] == svc["reason"], ev
    exited = [e for e in d.events() if e["kind"] == "exited"]
    assert exited and exited[-1]["details"]["signal"] == "SIGXCPU", exited
    d.down()


def test_a_cpu_time_kill_of_a_process_ignoring_sigxcpu_is_said_to_be_the_limit(daemon):
    """A process that ignores SIGXCPU gets SIGKILL at RLIMIT_CPU's hard limit,
    5 s of CPU later: its CPU time tells that SIGKILL from any other."""
    d = daemon("services:\n  spin:\n    command: [sh, -c, 'trap \"\" XCPU; while :; do :; done']\n"
               "    limits: {cpu_time: 1s}\n    restart: {policy: on-failure, initial: 1m}\n"
               "    autostart: false\n")
    assert d.cli("start", "spin", "--no-wait").returncode == 0
    svc = wait_for(lambda: (s := d.service("spin"))["state"] == "backoff" and s, timeout=60,
                   what="spin to end")
    assert svc["reason"] == "cpu_time limit: used 1s of CPU, ignored SIGXCPU, killed 5s past " \
        "it", svc
    exited = [e for e in d.events() if e["kind"] == "exited"]
    assert exited and exited[-1]["details"]["signal"] == "SIGKILL", exited
    assert [e["text"] for e in d.events() if e["kind"] == "limit_exceeded"] == [svc["reason"]]
    d.down()


def test_a_limit_the_host_refuses_fails_the_spawn_with_a_reason(daemon):
    """Past fs.nr_open not even root may raise RLIMIT_NOFILE."""
    if int(open("/proc/sys/fs/nr_open").read()) >= 1 << 30:
        pytest.skip("fs.nr_open allows 2^30 open files here")
    d = daemon("services:\n  s:\n    command: [sleep, '1000']\n    limits: {nofile: 1073741824}\n"
               "    autostart: false\n")
    d.cli("start", "s", "--no-wait")
    svc = wait_for(lambda: (s := d.service("s"))["reason"] and s, what="a reason")
    assert svc["reason"] == "set resource limits for 'sleep': Operation not permitted", svc
    assert not d.pids("s")


def test_top_once_prints_every_service(daemon, tmp_path):
    (tmp_path / "tree.py").write_text(TREE)
    d = daemon("services:\n  tree:\n    command: [python3, tree.py]\n"
               "  spin:\n    command: [python3, -c, 'while True: pass']\n"
               "  idle:\n    command: [sleep, '1000']\n"
               "  off:\n    command: [sleep, '1000']\n    autostart: false\n")
    wait_for(lambda: (tmp_path / "ready").exists(), what="tree ready")
    r = d.cli("top", "--once")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("corral top: 4 services")
    assert lines[1].split() == ["NAME", "STATE", "PID", "CPU%", "RSS", "PROCS", "RESTARTS",
                                "UPTIME"]
    rows = {l.split()[0]: l.split() for l in lines[2:]}
    assert set(rows) == {"tree", "spin", "idle", "off"}
    # Sorted by CPU: the spinning one first.
    assert lines[2].split()[0] == "spin"
    assert float(rows["spin"][3]) > 30
    assert rows["tree"][2] == str(d.service("tree")["pid"]) and rows["tree"][5] == "4"
    assert rows["off"][1] == "stopped" and rows["off"][2] == "-"
    by_name = d.cli("top", "--once", "--sort", "name").stdout.splitlines()[2:]
    assert [l.split()[0] for l in by_name] == ["idle", "off", "spin", "tree"]
    assert d.cli("top", "--sort", "size").returncode == 2


@pytest.mark.parametrize("ending", ["q", "SIGTERM"])
def test_top_on_a_terminal_restores_it(daemon, tmp_path, ending):
    import pty
    import select
    import signal
    import termios
    d = daemon("services:\n  a:\n    command: [sleep, '1000']\n")
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(str(tmp_path))
        os.execv(CORRAL, [CORRAL, "top", "-f", str(d.cfg), "--interval", "0.3"])
    out = b""

    def read_until(pred, timeout=10):
        nonlocal out
        deadline = time.monotonic() + timeout
        while not pred() and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    return
    try:
        read_until(lambda: b"sorted by cpu" in out)
        assert not termios.tcgetattr(fd)[3] & termios.ICANON  # keys one at a time
        os.write(fd, b"m")
        read_until(lambda: b"sorted by memory" in out)
        assert b"sorted by memory" in out
        if ending == "q":
            os.write(fd, b"q")
        else:
            os.kill(pid, signal.SIGTERM)
        read_until(lambda: out.rstrip().endswith(b"\x1b[?1049l"))
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert out.startswith(b"\x1b[?1049h\x1b[?25l")
        assert out.rstrip().endswith(b"\x1b[?25h\x1b[?1049l")  # cursor back, screen restored
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def parse_metrics(text):
    """name{labels} value lines into {(name, frozenset(labels)): value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$', line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def test_metrics_parse_with_promtool_and_match_proc(daemon, tmp_path):
    promtool = shutil.which("promtool")
    (tmp_path / "tree.py").write_text(TREE)
    d = daemon("services:\n  tree:\n    command: [python3, tree.py]\n"
               "  crash:\n    command: [sh, -c, 'exit 3']\n    autostart: false\n"
               "    restart: {policy: on-failure, initial: 1h}\n"
               "  off:\n    command: [sleep, '1000']\n    autostart: false\n")
    wait_for(lambda: (tmp_path / "ready").exists(), what="tree ready")
    d.json("POST", "/v1/services/crash/start")
    wait_for(lambda: d.service("crash")["restarts"] >= 1, what="crash restarted")
    status, body, headers = d.request("GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    m = parse_metrics(text)

    def v(name, service=None, **labels):
        key = {("service", service)} if service else set()
        key |= set(labels.items())
        return m[(name, frozenset(key))]

    procs = tree_of(d.service("tree")["pid"])
    rss = sum(p.memory_info().rss for p in procs)
    assert v("corral_service_up", "tree") == 1 and v("corral_service_up", "off") == 0
    assert v("corral_service_ready", "tree") == 1 and v("corral_service_ready", "crash") == 0
    assert v("corral_service_state", "off", state="stopped") == 1
    assert v("corral_service_processes", "tree") == len(procs) == 4
    assert abs(v("corral_service_memory_rss_bytes", "tree") - rss) < 0.05 * rss
    assert v("corral_service_restarts_total", "crash") >= 1
    assert v("corral_service_last_exit_code", "crash") == 3
    assert ("corral_service_last_exit_code", frozenset({("service", "off")})) not in m
    cpu = sum(sum(p.cpu_times()[:2]) for p in procs)
    assert v("corral_service_cpu_seconds_total", "tree") >= cpu * 0.5 - 0.05
    me = psutil.Process(d.info["pid"])
    assert abs(v("corral_process_resident_memory_bytes") - me.memory_info().rss) < 4 << 20
    assert v("corral_services") == 3
    assert v("corral_loop_wakeups_total") > 0
    assert v("corral_events_total") >= 3
    if not promtool:
        pytest.skip("promtool (Debian's prometheus package) is not installed; "
                    "the values were checked, the format only by this test's parser")


def test_events_total_counts_this_corrals_events_only(daemon):
    """Counted since corral started, as its HELP says: the history of an
    earlier corral of the same state directory is not part of it."""
    cfg = "services:\n  a:\n    command: [sleep, '1000']\n"
    d = daemon(cfg)
    d.down()
    d2 = daemon(cfg)
    st, body = d2.json("GET", "/v1/events?since=0&limit=10000")
    assert st == 200, body
    began = max(e["id"] for e in body["events"] if e["kind"] == "corral_started")
    mine = [e for e in body["events"] if e["id"] >= began]
    assert len(mine) < len(body["events"])  # the first corral's are there too
    m = parse_metrics(d2.request("GET", "/metrics")[1].decode())
    assert m[("corral_events_total", frozenset())] == len(mine), mine
    d2.down()


def test_metrics_are_not_sampled_while_nobody_asks(daemon):
    """No scrape, no /proc reading: corral's wake-ups stay flat while idle."""
    d = daemon("services:\n  a:\n    command: [sleep, '1000']\n")
    me = psutil.Process(d.info["pid"])
    time.sleep(0.5)
    before = me.cpu_times()
    w1 = parse_metrics(d.request("GET", "/metrics")[1].decode())[("corral_loop_wakeups_total",
                                                                   frozenset())]
    time.sleep(2)
    w2 = parse_metrics(d.request("GET", "/metrics")[1].decode())[("corral_loop_wakeups_total",
                                                                   frozenset())]
    # A request is a handful of wake-ups (accept, read, write, close).
    assert w2 - w1 < 20, (w1, w2)
    assert sum(me.cpu_times()[:2]) - sum(before[:2]) < 0.2


@pytest.mark.parametrize("mode", MODES)
def test_doctor_says_how_each_limit_is_enforced(daemon, mode):
    import json
    d = daemon(config(mode, "  s:\n    command: [sleep, '1000']\n"
                            "    limits: {memory: 64M, cpu: 50%, pids: 20, nofile: 100}\n"))
    r = d.cli("doctor", "--json")
    rep = json.loads(r.stdout)
    have = controllers(d)
    lim = {x["limit"]: x for x in rep["limits"] if x["service"] == "s"}
    assert set(lim) == {"memory", "cpu", "pids", "nofile"}
    cg = mode == "cgroup"
    assert lim["memory"]["enforced_by"] == ("cgroup" if cg and "memory" in have else "sampling")
    assert lim["cpu"]["enforced_by"] == ("cgroup" if cg and "cpu" in have else "none")
    assert lim["pids"]["enforced_by"] == ("cgroup" if cg and "pids" in have else "none")
    assert lim["nofile"]["enforced_by"] == "rlimit"
    if cg:
        assert set(rep["containment"]["controllers"]) == have
    else:
        assert rep["containment"]["controllers"] is None
    # The API says the same per service.
    api = d.service("s")["limits"]
    assert {k: v["enforced_by"] for k, v in api.items()} == {
        k: v["enforced_by"] for k, v in lim.items()}
    text = d.cli("doctor").stdout
    assert re.search(r"^limit +s nofile: rlimit", text, re.M), text


def test_status_with_stats(daemon, tmp_path):
    (tmp_path / "tree.py").write_text(TREE)
    d = daemon("services:\n  tree:\n    command: [python3, tree.py]\n"
               "  off:\n    command: [sleep, '1000']\n    autostart: false\n")
    wait_for(lambda: (tmp_path / "ready").exists(), what="tree ready")
    r = d.cli("status", "--stats")
    assert r.returncode == 0, r.stderr
    head, *rows = r.stdout.splitlines()
    assert head.split()[:6] == ["NAME", "STATE", "PID", "UPTIME", "CPU%", "RSS"]
    cells = {l.split()[0]: l.split() for l in rows}
    assert float(cells["tree"][4]) < 50  # a rate: measured, idle
    assert re.match(r"^\d+(\.\d)?M$", cells["tree"][5])
    rss = sum(p.memory_info().rss for p in tree_of(d.service("tree")["pid"]))
    assert abs(float(cells["tree"][5][:-1]) * (1 << 20) - rss) < 0.1 * rss
    assert cells["off"][4:6] == ["-", "-"]
    assert "CPU%" not in d.cli("status").stdout


@pytest.mark.parametrize("mode", MODES)
def test_a_greedy_service_that_ignores_the_stop_signal_is_killed(daemon, tmp_path, mode):
    """SIGKILL after the stop timeout; the next run starts and lives (with a
    cgroup, in a fresh one: a cgroup that had cgroup.kill kills newcomers)."""
    (tmp_path / "greedy.py").write_text(
        "import os, signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "if os.path.exists('calm'):\n    time.sleep(1000)\n" + GREEDY)
    d = daemon(config(mode, "  greedy:\n    command: [python3, greedy.py]\n"
                            "    limits: {memory: 64M}\n    stop: {timeout: 1s}\n"
                            "    restart: {policy: on-failure, initial: 2s}\n"))
    first = d.service("greedy")["pid"]
    svc = wait_for(lambda: (s := d.service("greedy"))["restarts"] >= 1 and s, timeout=30,
                   what="a restart")
    (tmp_path / "calm").write_text("")
    assert svc["last_exit"]["text"] == "killed by SIGKILL"
    assert svc["reason"].startswith("memory limit: ") or svc["reason"].startswith("oom")
    assert first not in d.pids("greedy")
    second = wait_for(lambda: (s := d.service("greedy"))["state"] == "running" and
                      s["runs"] == 2 and s, timeout=30, what="the second run")
    time.sleep(1)
    now = d.service("greedy")
    assert now["pid"] == second["pid"] and now["runs"] == 2 and now["state"] == "running"
    assert d.pids("greedy") == [second["pid"]]


def test_rss_sampling_wakes_once_a_period_for_all_limited_services(daemon, tmp_path):
    """One timer samples every limited tree; the greedy ones are stopped, the
    modest one is left alone, and nothing else wakes corral."""
    (tmp_path / "greedy.py").write_text(GREEDY)
    d = daemon(config("pgroup",
                      "  modest:\n    command: [sleep, '1000']\n    limits: {memory: 64M}\n"
                      "  modest2:\n    command: [sleep, '1000']\n    limits: {memory: 64M}\n"
                      "  free:\n    command: [sleep, '1000']\n"))

    def wakeups():
        body = d.request("GET", "/metrics")[1].decode()
        return parse_metrics(body)[("corral_loop_wakeups_total", frozenset())]
    w1 = wakeups()
    time.sleep(3)
    w2 = wakeups()
    # Three seconds: about three samples, plus the two requests themselves.
    assert 2 <= w2 - w1 <= 12, (w1, w2)
    d.cfg.write_text(d.cfg.read_text() + "  greedy:\n    command: [python3, greedy.py]\n"
                     "    limits: {memory: 64M}\n    restart: {policy: on-failure, initial: 1h}\n")
    assert d.cli("reload").returncode == 0
    wait_for(lambda: d.service("greedy")["restarts"] >= 1, timeout=30, what="greedy restarted")
    assert d.service("modest")["state"] == "running" and d.service("modest")["restarts"] == 0


def test_a_reload_that_changes_limits_restarts_only_that_service(daemon):
    d = daemon("services:\n  a:\n    command: [sleep, '1000']\n    limits: {nofile: 321}\n"
               "  b:\n    command: [sleep, '1000']\n    limits: {nofile: 321}\n")
    a1, b1 = d.service("a")["pid"], d.service("b")["pid"]
    d.cfg.write_text(d.cfg.read_text().replace("nofile: 321}\n  b:", "nofile: 654}\n  b:"))
    r = d.cli("reload")
    assert r.returncode == 0, r.stderr
    a2 = wait_for(lambda: (s := d.service("a"))["state"] == "running" and s["pid"] != a1 and s,
                  what="a restarted")["pid"]
    assert re.search(r"Max open files\s+654\s+654", open(f"/proc/{a2}/limits").read())
    assert d.service("b")["pid"] == b1


def test_a_stopped_service_keeps_its_cpu_counter(daemon):
    """corral_service_cpu_seconds_total is a counter: a stop does not take it
    back to 0 (Prometheus would count the next start's CPU again)."""
    d = daemon("services:\n  spin:\n    command: [sh, -c, 'i=0; while [ $i -lt 300000 ]; do "
               "i=$((i+1)); done; exec sleep 1000']\n")
    m = wait_for(lambda: (m := parse_metrics(d.request("GET", "/metrics")[1].decode())) and
                 m[("corral_service_cpu_seconds_total", frozenset({("service", "spin")}))] > 0.05
                 and m, timeout=30, what="spin's CPU counted")
    before = m[("corral_service_cpu_seconds_total", frozenset({("service", "spin")}))]
    assert d.cli("stop", "spin").returncode == 0
    m = parse_metrics(d.request("GET", "/metrics")[1].decode())
    assert m[("corral_service_cpu_seconds_total", frozenset({("service", "spin")}))] >= before
    d.down()
