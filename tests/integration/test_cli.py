"""The CLI against a real daemon, and reload: every command, its output and
exit status, and that a reload touches only what changed (checked by PID)."""
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest

from conftest import CORRAL, gone, proc, wait_for

STACK = """
services:
  db:
    command: [sleep, '1000']
  web:
    command: [sh, -c, 'echo web says hi; exec sleep 1001']
    depends_on: [db]
  cron:
    command: [sleep, '1002']
"""


def test_status_table_and_json(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    r = d.cli("status")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["NAME", "STATE", "PID", "UPTIME"]
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert set(rows) == {"db", "web", "cron"}
    assert rows["web"][1] == "running" and int(rows["web"][2]) == d.pids("web")[0]
    r = d.cli("ps", "--json")
    assert {s["name"]: s["pid"] for s in json.loads(r.stdout)["services"]}["db"] == d.pids("db")[0]


def test_start_stop_restart_wait_and_report(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    old = d.pids("web")
    old_proc = proc(old[0])
    r = d.cli("restart", "web")
    assert r.returncode == 0, r.stderr
    new = d.pids("web")
    assert r.stdout.strip() == f"web running (pid {new[0]})"
    assert new != old and gone(old_proc)
    r = d.cli("stop", "db")
    assert r.returncode == 0 and r.stdout.strip() == "db stopped"
    assert d.pids("db") == [] and d.pids("web") == []  # its dependant went first
    r = d.cli("start", "web")
    assert r.returncode == 0 and r.stdout.startswith("web running (pid ")
    assert len(d.pids("db")) == 1
    r = d.cli("stop", "--no-wait", "cron")
    assert r.returncode == 0 and r.stdout == ""
    d.wait_state("cron", "stopped")
    r = d.cli("start", "ghost")
    assert r.returncode == 2 and "unknown service 'ghost'" in r.stderr


def test_start_reports_a_failure(daemon):
    d = daemon("""
services:
  ok:
    command: [sleep, '1000']
  bad:
    command: [sh, -c, 'exit 3']
    autostart: false
    restart: {policy: no}
""")
    r = d.cli("start", "bad")
    assert r.returncode == 1 and "bad exited" in r.stderr and "exited 3" in r.stderr


def test_signal(daemon):
    d = daemon("""
services:
  h:
    command: [sh, -c, 'trap "echo hupped" HUP; while true; do sleep 0.1; done']
""")
    pid = d.wait_state("h", "running")["pid"]
    r = d.cli("signal", "h", "HUP")
    assert r.returncode == 0 and r.stdout.strip() == f"SIGHUP sent to h (pid {pid})"
    wait_for(lambda: "hupped" in d.cli("logs", "h").stdout, what="HUP handled")
    assert d.cli("signal", "h", "BOGUS").returncode == 2
    assert d.cli("signal", "h").returncode == 2


def test_logs_tail_and_follow(daemon):
    d = daemon("""
services:
  a:
    command: [sh, -c, 'for i in 1 2 3 4 5; do echo a$i; done; exec sleep 1000']
    logs: {timestamps: false}
  b:
    command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo b$i; sleep 0.05; done']
    logs: {timestamps: false}
""")
    wait_for(lambda: "a5" in d.cli("logs", "a").stdout, what="a logged")
    assert d.cli("logs", "-n", "2", "a").stdout == "a4\na5\n"
    merged = d.cli("logs", "-n", "1").stdout.splitlines()
    assert merged[0] == "a | a5" and merged[1].startswith("b | b")
    p = subprocess.Popen([CORRAL, "logs", "--file", str(d.cfg), "-f", "-n", "0", "b"],
                         stdout=subprocess.PIPE, text=True)
    try:
        got = [p.stdout.readline().strip() for _ in range(5)]
    finally:
        p.kill()
        p.wait()
    nums = [int(x[1:]) for x in got]
    assert nums == list(range(nums[0], nums[0] + 5))
    assert d.json("GET", "/v1")[0] == 200


def test_tree_prints_every_generation(daemon):
    d = daemon("""
services:
  fam:
    command: [sh, -c, 'sh -c "sleep 1001" & exec sleep 1000']
""")
    wait_for(lambda: len(d.pids("fam")) == 3, what="family up")
    out = d.cli("tree").stdout.splitlines()
    assert out[0] == "fam (running)"
    main = [l for l in out if "(main)" in l]
    grand = [l for l in out if l.rstrip().endswith("  sleep 1001")]
    assert main and "sleep 1000" in main[0] and grand
    indent = lambda l: len(l) - len(l.lstrip())
    assert indent(grand[0]) > indent([l for l in out if "sh -c sleep 1001" in l][0])


def test_events_history_and_follow(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    r = d.cli("events")
    assert r.returncode == 0
    assert any(" started " in l and " web " in l for l in r.stdout.splitlines())
    last = d.events()[-1]["id"]
    p = subprocess.Popen([CORRAL, "events", "--file", str(d.cfg), "-f", "--json",
                          "--since", str(last)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        d.cli("restart", "--no-wait", "cron")
        seen = []
        while not any(e["kind"] == "started" for e in seen):
            line = p.stdout.readline()
            assert line, f"corral events exited {p.wait()}: {p.stderr.read()}"
            seen.append(json.loads(line))
    finally:
        p.kill()
        p.wait()
    assert seen[0]["id"] == last + 1 and all(e["service"] == "cron" for e in seen)


def test_reload_touches_only_what_changed(daemon):
    d = daemon(STACK)
    for n in ("db", "web", "cron"):
        d.wait_state(n, "running")
    before = {n: d.pids(n) for n in ("db", "web", "cron")}
    d.cfg.write_text("""
services:
  db:
    command: [sleep, '1000']
  web:
    command: [sh, -c, 'echo web says hi; exec sleep 1001']
    depends_on: [db]
  cron:
    command: [sleep, '2002']
  extra:
    command: [sleep, '1003']
    depends_on: [db]
""")
    r = d.cli("reload")
    assert r.returncode == 0, r.stderr
    assert "added      extra" in r.stdout and "changed    cron" in r.stdout
    wait_for(lambda: d.pids("extra") and d.pids("cron") and d.pids("cron") != before["cron"],
             what="cron restarted, extra started")
    assert d.pids("db") == before["db"] and d.pids("web") == before["web"]
    assert psutil.Process(d.pids("cron")[0]).cmdline() == ["sleep", "2002"]
    # Removing a service stops it; the rest stays.
    d.cfg.write_text(STACK.replace("  cron:\n    command: [sleep, '1002']\n", ""))
    r = d.cli("reload", "--json")
    plan = json.loads(r.stdout)
    assert plan["removed"] == ["cron", "extra"] and plan["changed"] == []
    wait_for(lambda: not d.pids("cron") and not d.pids("extra"), what="removed ones stopped")
    assert d.pids("db") == before["db"] and d.pids("web") == before["web"]
    assert [s["name"] for s in json.loads(d.cli("ps", "--json").stdout)["services"]] == [
        "db", "web"]


def test_reload_ignores_where_a_service_is_written(daemon):
    # A comment and a new service above them move every service down the
    # file: that changes none of them.
    d = daemon(STACK)
    for n in ("db", "web", "cron"):
        d.wait_state(n, "running")
    before = {n: d.pids(n) for n in ("db", "web", "cron")}
    d.cfg.write_text("# moved down\n\nservices:\n  first:\n    command: [sleep, '1004']\n" +
                     STACK.replace("services:\n", ""))
    r = d.cli("reload", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["added"] == ["first"] and plan["changed"] == [], plan
    assert sorted(plan["unchanged"]) == ["cron", "db", "web"]
    d.wait_state("first", "running")
    assert {n: d.pids(n) for n in before} == before


def test_reload_starts_a_failed_service_whose_settings_changed(daemon):
    # Failed for good (a retry in 10 minutes), its command then fixed: the
    # reload starts it with the new one, and what waits for it is not failed.
    text = """
services:
  other:
    command: [sleep, '1005']
  bad:
    command: [%s]
    restart: {initial: 10ms, max_restarts: 1, window: 1m, retry_after: 10m}
  dep:
    command: [sleep, '1006']
    depends_on: [bad]
"""
    d = daemon(text % "/nonexistent/prog", args=("other",))
    d.cli("start", "--no-wait", "dep")
    d.wait_state("bad", "failed")
    assert d.service("dep")["state"] == "waiting"
    d.cfg.write_text(text % "sleep, '1007'")
    r = d.cli("reload", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["changed"] == ["bad"], r
    d.wait_state("bad", "running")
    d.wait_state("dep", "running")
    # An operator's stop outlives a change of settings.
    assert d.cli("stop", "dep").returncode == 0
    d.cfg.write_text((text % "sleep, '1007'").replace("'1006'", "'1008'"))
    assert json.loads(d.cli("reload", "--json").stdout)["changed"] == ["dep"]
    s = d.wait_state("dep", "stopped")
    assert s["stopped_by_operator"], s


SLOW_STOP = """
services:
  db:
    command: [sh, -c, 'trap "sleep 0.5; exit 0" TERM; while :; do sleep 0.05; done']
  web:
    command: [sh, -c, 'trap "sleep 0.8; exit 0" TERM; while :; do sleep 0.05; done']
    depends_on: [db]
    env: {V: "1"}
  worker:
    command: [sh, -c, 'trap "sleep 1.2; exit 0" TERM; while :; do sleep 0.05; done']
    depends_on: [web]
"""


def test_a_reload_during_an_operator_stop_keeps_the_stop(daemon):
    """The operator stops db (and so web and worker, which need it); a reload
    that changes web arrives while worker is still stopping: everything ends
    stopped, in order (web only once worker is gone), and the stop reports
    success."""
    d = daemon(SLOW_STOP)
    d.wait_state("worker", "running")
    stop = subprocess.Popen([CORRAL, "stop", "-f", str(d.cfg), "--timeout", "20", "db"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: d.service("worker")["state"] == "stopping", what="worker stopping")
    d.cfg.write_text(SLOW_STOP.replace('V: "1"', 'V: "2"'))
    r = d.cli("reload")
    assert r.returncode == 0, r.stderr
    out, err = stop.communicate(timeout=30)
    assert stop.returncode == 0, out + err
    time.sleep(0.5)  # nothing may start again after the stop
    for name in ("db", "web", "worker"):
        s = d.service(name)
        assert s["state"] == "stopped" and s["stopped_by_operator"], s
    evs = [(e["kind"], e["service"]) for e in d.events()]
    assert ("stopping", "web") in evs and ("stopped", "worker") in evs
    assert evs.index(("stopping", "web")) > evs.index(("stopped", "worker")), evs
    assert evs.count(("started", "db")) == 1, evs
    d.down()


def test_a_restart_undone_by_a_stop_says_so_at_once(daemon):
    d = daemon(SLOW_STOP)
    d.wait_state("worker", "running")
    t0 = time.monotonic()
    restart = subprocess.Popen([CORRAL, "restart", "-f", str(d.cfg), "worker"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: d.service("worker")["state"] == "stopping", what="worker stopping")
    assert d.cli("stop", "worker").returncode == 0
    out, err = restart.communicate(timeout=60)
    assert restart.returncode == 1, out + err
    assert "worker stopped: another request stopped it meanwhile" in err, err
    assert time.monotonic() - t0 < 10  # not the whole --timeout (120 s)
    d.down()


def test_reload_with_a_broken_config_changes_nothing(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    before = {n: d.pids(n) for n in ("db", "web", "cron")}
    good = d.cfg.read_text()
    d.cfg.write_text(good.replace("command: [sleep, '1002']", "comand: [sleep, '1002']"))
    r = d.cli("reload")
    assert r.returncode == 2
    assert "corral.yaml:9:5: services.cron.comand: unknown key 'comand'" in r.stderr
    assert "nothing changed" in r.stderr
    # SIGHUP is a reload too: refused the same way, logged.
    os.kill(d.ps.pid, signal.SIGHUP)
    wait_for(lambda: "reload refused" in (d.state / "corral.log").read_text(), what="logged")
    assert {n: d.pids(n) for n in before} == before
    # Both refusals are in the history too, saying why.
    refused = [e for e in d.events() if e["kind"] == "reload"]
    assert len(refused) == 2, refused
    assert all(e["reason"].startswith("refused, nothing changed: ") and "comand" in e["reason"]
               for e in refused), refused
    # Each with the place in the file, however it was asked for.
    assert all("corral.yaml:9:5: services.cron.comand: unknown key 'comand'" in e["reason"]
               for e in refused), refused
    # Fixed, the same SIGHUP applies it.
    d.cfg.write_text(good.replace("'1002'", "'1004'"))
    os.kill(d.ps.pid, signal.SIGHUP)
    wait_for(lambda: cmdlines(d, "cron") == [["sleep", "1004"]], what="cron changed by SIGHUP")
    assert d.pids("db") == before["db"]


def test_a_reload_refused_for_state_dir_or_containment_says_where(daemon):
    """These need a restart of corral; the refusal had no file, line or field,
    as every other config error has."""
    d = daemon(STACK)
    d.wait_state("web", "running")
    good = d.cfg.read_text()
    d.cfg.write_text("containment: pgroup\n" + good)
    r = d.cli("reload")
    assert r.returncode == 2, r
    assert "corral.yaml:1:14: containment: containment changed (auto -> pgroup): that needs a " \
        "restart of corral" in r.stderr, r.stderr
    d.cfg.write_text("state_dir: ./elsewhere\n" + good)
    st, body = d.json("POST", "/v1/reload")
    err = body["error"]
    assert st == 422 and err["field"] == "state_dir" and (err["line"], err["column"]) == (1, 12)
    assert err["file"] == str(d.cfg), err
    d.cfg.write_text(good)
    d.down()


def cmdlines(d, name):
    out = []
    for pid in d.pids(name):
        try:
            out.append(psutil.Process(pid).cmdline())
        except psutil.NoSuchProcess:
            pass
    return out


def test_down_stops_everything(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    procs = [proc(p) for n in ("db", "web", "cron") for p in d.pids(n)]
    r = d.cli("down")
    assert r.returncode == 0 and "corral stopped" in r.stdout
    assert not d.alive()
    assert all(gone(p) for p in procs)
    r = d.cli("status")
    assert r.returncode == 4 and "not running" in r.stderr


def test_no_daemon_says_so(tmp_path):
    cfg = tmp_path / "corral.yaml"
    cfg.write_text(STACK)
    for args in (["status"], ["stop", "web"], ["down"], ["tree"], ["events"]):
        r = subprocess.run([CORRAL, *args, *(["--file"] if args[0] == "events" else ["-f"]),
                            str(cfg)], capture_output=True, text=True, timeout=10)
        assert r.returncode == 4, (args, r)
        assert f"not running for {tmp_path}/.corral" in r.stderr
    r = subprocess.run([CORRAL, "status"], capture_output=True, text=True, cwd=tmp_path.parent)
    assert r.returncode == 2 and "no corral.yaml here" in r.stderr


def test_up_d_returns_once_started_and_reports_failure(tmp_path):
    cfg = tmp_path / "corral.yaml"
    cfg.write_text("""
services:
  bad:
    command: [sh, -c, 'exit 1']
    restart: {policy: on-failure, initial: 10ms, max_restarts: 2, window: 10s}
""")
    r = subprocess.run([CORRAL, "up", "-d", "-f", str(cfg)], capture_output=True, text=True,
                       timeout=30)
    try:
        assert r.returncode == 1 and "bad failed: gave up after 2 restarts" in r.stderr
        assert "the daemon keeps running" in r.stderr
    finally:
        subprocess.run([CORRAL, "down", "-f", str(cfg)], capture_output=True, timeout=30)
    cfg.write_text("services:\n  s:\n    comand: [true]\n")
    r = subprocess.run([CORRAL, "up", "-d", "-f", str(cfg)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "unknown key 'comand'" in r.stderr
    assert not (tmp_path / ".corral" / "corral.sock").exists()


def test_an_operator_stop_outlives_corral(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    assert d.cli("stop", "db").returncode == 0  # web goes too: it needs db
    d.down()
    d2 = daemon(STACK)
    d2.wait_state("cron", "running")
    time.sleep(0.5)
    for name in ("db", "web"):
        s = d2.service(name)
        assert s["state"] == "stopped" and s["stopped_by_operator"], s
        assert d2.pids(name) == []
    assert "db stays stopped: the operator stopped it" in (d2.state / "corral.log").read_text()
    # up -d says so too, not "none starts on its own (autostart: false)".
    up = d2.up.stdout + d2.up.stderr
    assert "corral started 1 service; db, web stay stopped, as the operator stopped them " \
        "(corral start NAME to run one)" in up, up
    assert d2.cli("start", "web").returncode == 0
    d2.down()
    d3 = daemon(STACK)
    assert d3.wait_state("web", "running") and d3.wait_state("db", "running")


@pytest.mark.parametrize("how", ["removed", "overwritten"])
def test_a_state_db_lost_while_running_is_made_again(daemon, tmp_path, how):
    """Removed (or overwritten) under a running corral, state.db is made
    afresh at its next use with what corral still knows: an operator's stop
    outlives a restart of corral all the same."""
    d = daemon(STACK)
    d.wait_state("web", "running")
    assert d.cli("stop", "cron").returncode == 0
    time.sleep(0.3)  # state.db rests (closed) after its burst
    db = d.state / "state.db"
    for p in d.state.glob("state.db*"):
        p.unlink()
    if how == "overwritten":
        db.write_bytes(b"not a database\n" * 100)
    assert d.cli("restart", "db").returncode == 0  # a use of state.db
    log = d.state / "corral.log"
    wait_for(lambda: "made afresh" in log.read_text() or "moved to" in log.read_text(),
             what="the remake said")
    def stops():
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                return con.execute("SELECT count(*) FROM service_wish WHERE stopped = 1") \
                    .fetchone()[0]
        except sqlite3.Error:
            return None  # not there, or not yet made again
    wait_for(lambda: stops() == 1, what="the stop written again")
    d.down()
    d2 = daemon(STACK)
    d2.wait_state("web", "running")
    assert d2.service("cron")["state"] == "stopped", d2.service("cron")
    d2.down()


def test_an_unusable_state_db_is_moved_aside(daemon, tmp_path):
    state = tmp_path / ".corral"
    state.mkdir()
    (state / "state.db").write_bytes(b"\x00garbage" * 100)
    d = daemon(STACK)
    d.wait_state("web", "running")
    log = (state / "corral.log").read_text()
    assert "state.db was unusable" in log and "moved to" in log
    assert any(p.name.startswith("state.db.bad-") for p in state.iterdir())


def test_a_stop_that_meets_an_exit_ends_stopped(daemon):
    # A service restarting at once exits all the time: a stop that arrives
    # while its exit is being handled must still leave it stopped.
    d = daemon("""
services:
  web: {command: [sleep, "1000"]}
  flap:
    command: [sh, -c, "exit 1"]
    autostart: false
    restart: {policy: always, initial: 0ms, jitter: 0%, max_restarts: 0}
""")
    for _ in range(20):
        assert d.json("POST", "/v1/services/flap/start")[0] == 202
        time.sleep(0.05)
        assert d.json("POST", "/v1/services/flap/stop")[0] == 202
        s = d.wait_state("flap", "stopped", timeout=10)
        assert s["stopped_by_operator"] is True


def test_names_are_checked_before_anything_is_done(daemon):
    # A name is part of the API's URLs: one that is no service name must not
    # address another endpoint ("db/restart?" was a restart of db), and one
    # unknown name stops nothing, not even the known names beside it.
    d = daemon(STACK)
    d.wait_state("web", "running")
    pids = {n: d.pids(n)[0] for n in ("db", "web", "cron")}
    for args in (["stop", "db/restart?"], ["stop", " web"], ["logs", "web?tail=1&x="],
                 ["signal", "db/x", "TERM"], ["events", "a&b"]):
        r = d.cli(*args)
        assert r.returncode == 2 and "is not a service name" in r.stderr, (args, r)
        assert r.stdout == "", (args, r)
    for args in (["stop", "cron", "nosuch"], ["restart", "nosuch", "db"], ["tree", "nosuch"],
                 ["status", "nosuch"], ["signal", "nosuch", "TERM"], ["logs", "nosuch"],
                 ["events", "nosuch"], ["events", "web", "nosuch"], ["events", "-f", "nosuch"],
                 ["events", "--since", "0", "nosuch"]):
        r = d.cli(*args)
        assert r.returncode == 2 and "unknown service 'nosuch'" in r.stderr, (args, r)
        assert "{" not in r.stdout, (args, r)  # no raw JSON error
    r = d.cli("stop", "wbe")
    assert r.returncode == 2 and "unknown service 'wbe' (did you mean 'web'?)" in r.stderr
    # A name no longer configured is still one of the history's.
    d.cfg.write_text(STACK.replace("  cron:\n    command: [sleep, '1002']\n", ""))
    assert d.cli("reload").returncode == 0
    r = d.cli("events", "cron", "web")
    assert r.returncode == 0 and " cron " in r.stdout and " web " in r.stdout, r
    r = d.cli("signal", "web", "BOGUS")
    assert r.returncode == 2 and "unknown signal 'BOGUS'" in r.stderr
    pids.pop("cron")
    assert {n: d.pids(n)[0] for n in pids} == pids
    assert all(d.service(n)["runs"] == 1 for n in pids)
    r = d.cli("restart", "db", "db")  # once, reported once
    assert r.returncode == 0 and r.stdout.count("db running") == 1, r
    assert d.service("db")["runs"] == 2


def test_a_hung_corral_is_said_to_be_hung_not_gone(daemon):
    """A corral that takes the request and never answers (stopped, here):
    the CLI gives up after 10 s, says so, and exits 1, not 4 ("not
    running"), which would send a script to start a second one."""
    d = daemon(STACK)
    d.wait_state("web", "running")
    d.ps.suspend()
    try:
        t0 = time.monotonic()
        r = d.cli("status", timeout=60)
        took = time.monotonic() - t0
    finally:
        d.ps.resume()
    assert r.returncode == 1, r
    assert "took the request but did not answer within 10s" in r.stderr, r.stderr
    assert 9 < took < 30, took
    assert d.cli("status").returncode == 0
    d.down()


def test_names_filter_status_and_tree_in_text_and_json(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    r = d.cli("status", "web", "db")
    assert r.returncode == 0
    assert sorted(l.split()[0] for l in r.stdout.splitlines()[1:]) == ["db", "web"]
    r = d.cli("status", "--json", "web")
    assert [s["name"] for s in json.loads(r.stdout)["services"]] == ["web"]
    r = d.cli("tree", "--json", "db")
    assert [s["name"] for s in json.loads(r.stdout)["services"]] == ["db"]


def test_arguments_a_command_cannot_take_are_usage_errors(daemon, tmp_path):
    d = daemon(STACK)
    d.wait_state("web", "running")
    for args, want in ((["reload", "web"], "takes no arguments"),
                       (["down", "now"], "takes no arguments"),
                       (["start", "--timeout", "99999999999999999999", "web"], "--timeout takes"),
                       (["stop", "--timeout", "9223372036854776", "web"], "--timeout takes")):
        r = d.cli(*args)
        assert r.returncode == 2 and want in r.stderr, (args, r)
    assert d.service("web")["state"] == "running"
    for args, want in ((["status", "--state-dir", ""], "is not a directory"),
                       (["status", "--state-dir", str(tmp_path / "corral.yaml")],
                        "is not a directory"),
                       (["doctor", "--state-dir", ""], "is not a directory"),
                       (["status", "-f", str(tmp_path)], "is a directory")):
        r = subprocess.run([CORRAL, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and want in r.stderr, (args, r)


def test_up_d_counts_the_services_it_started(tmp_path):
    cfg = tmp_path / "corral.yaml"
    cfg.write_text(STACK + """
  lazy:
    command: [sleep, '1003']
    autostart: false
""")
    try:
        r = subprocess.run([CORRAL, "up", "-d", "-f", str(cfg), "web"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0 and "corral started 2 services" in r.stdout, r  # web and db
    finally:
        subprocess.run([CORRAL, "down", "-f", str(cfg)], capture_output=True, timeout=30)
    cfg.write_text("services:\n  lazy:\n    command: [sleep, '1003']\n    autostart: false\n")
    try:
        r = subprocess.run([CORRAL, "up", "-d", "-f", str(cfg)], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0 and "no service running" in r.stdout, r
    finally:
        subprocess.run([CORRAL, "down", "-f", str(cfg)], capture_output=True, timeout=30)


def test_up_d_reports_a_service_that_exited_for_good_at_once(tmp_path):
    # policy: no brings it back no more: no reason to wait the 60 s out.
    cfg = tmp_path / "corral.yaml"
    cfg.write_text("""
services:
  once:
    command: [sh, -c, 'exit 0']
    restart: {policy: "no"}
  web:
    command: [sleep, '1000']
""")
    t0 = time.monotonic()
    try:
        r = subprocess.run([CORRAL, "up", "-d", "-f", str(cfg)], capture_output=True, text=True,
                           timeout=90)
        assert r.returncode == 1, r
        assert "once exited 0, and its restart policy does not restart it" in r.stderr, r
        assert time.monotonic() - t0 < 30
    finally:
        subprocess.run([CORRAL, "down", "-f", str(cfg)], capture_output=True, timeout=30)


def test_a_config_broken_while_corral_runs_still_leads_to_it(daemon):
    # With its own state_dir, a config that no longer loads must not make a
    # running corral look not running: its state_dir line still says where.
    d = daemon("state_dir: ./st\n" + STACK, state="st")
    d.wait_state("web", "running")
    d.cfg.write_text("state_dir: ./st\n" + STACK + "  broken: [\n")
    r = d.cli("status")
    assert r.returncode == 0 and "web" in r.stdout, r
    assert "its state_dir line says" in r.stderr
    d.cfg.write_text("state_dir: ./st\n" + STACK)
    d.down()


class Follow:
    """A CLI command that streams (-f), its output read without blocking."""

    def __init__(self, *argv):
        self.p = subprocess.Popen([CORRAL, *argv], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.got = []

    def output(self):
        try:
            self.got.append(os.read(self.p.stdout.fileno(), 65536))
        except BlockingIOError:
            pass
        return b"".join(self.got)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def test_logs_follow_outlives_a_reload_and_says_when_its_service_goes(daemon):
    chatty = """
services:
  chatty:
    command: [sh, -c, 'while true; do echo tick; sleep 0.05; done']
  quiet:
    command: [sleep, '%s']
"""
    d = daemon(chatty % "1000")
    d.wait_state("chatty", "running")
    f = Follow("logs", "--file", str(d.cfg), "-f", "-n", "0", "chatty")
    try:
        wait_for(lambda: f.output().count(b"tick") >= 3, what="followed lines")
        d.cfg.write_text(chatty % "1001")  # quiet changes; chatty does not
        assert d.cli("reload").returncode == 0
        before = f.output().count(b"tick")
        wait_for(lambda: f.output().count(b"tick") >= before + 5, what="lines after the reload")
        assert f.p.poll() is None
        d.cfg.write_text("services:\n  quiet:\n    command: [sleep, '1001']\n")
        assert d.cli("reload").returncode == 0
        assert f.p.wait(10) == 1
        assert b"chatty is no longer configured" in f.p.stderr.read()
    finally:
        f.close()


def test_events_follow_of_new_events_only(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    before = max(e["id"] for e in d.events())
    f = Follow("events", "--file", str(d.cfg), "-f", "-n", "0", "--json")
    try:
        def ids():
            return [json.loads(line)["id"] for line in f.output().splitlines()]

        # Events come until the follow, under way at some point, shows one.
        def shows_one():
            if not ids():
                d.cli("restart", "--no-wait", "cron")
                time.sleep(0.2)
            return ids()

        wait_for(shows_one, timeout=20, what="a new event followed")
        assert min(ids()) > before, (before, ids())  # none of the history
    finally:
        f.close()
    r = d.cli("events", "-n", "0")
    assert r.returncode == 2 and "0 only with -f" in r.stderr


def test_followed_lines_are_the_log_files_lines(daemon):
    # The same time stamp, not one taken a moment apart: a line followed is
    # the line the file has, byte for byte.
    d = daemon("""
services:
  talk:
    command: [sh, -c, 'i=0; while true; do i=$((i+1)); printf "part-$i "; sleep 0.02; echo end-$i; done']
""")
    d.wait_state("talk", "running")
    f = Follow("logs", "--file", str(d.cfg), "-f", "-n", "0", "talk")
    try:
        wait_for(lambda: len(f.output().splitlines()) >= 10, what="followed lines")
    finally:
        f.close()
    # The first may be the end of a line begun before the follow; the last
    # may be cut by the kill.
    followed = f.output().decode().splitlines()[1:-1]
    log = (d.state / "logs" / "talk.log").read_text().splitlines()
    assert followed and all(line in log for line in followed), (followed[:3], log[:3])


# Holds <state_dir>/corral.lock as corral does (a POSIX record lock on the
# whole file), with the running mark or without, and no API socket.
LOCK_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.ftruncate(fd, 0)
os.write(fd, sys.argv[2].encode())
print("held", flush=True)
time.sleep(float(sys.argv[3]))
"""


@contextlib.contextmanager
def lock_held(tmp_path, mark, seconds):
    (tmp_path / ".corral").mkdir(exist_ok=True)
    p = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tmp_path / ".corral" / "corral.lock"),
                          mark, str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        yield p
    finally:
        p.kill()
        p.wait()


def status_of(tmp_path):
    (tmp_path / "corral.yaml").write_text("services:\n  web: {command: [sleep, '1']}\n")
    t0 = time.monotonic()
    r = subprocess.run([CORRAL, "status", "-f", str(tmp_path / "corral.yaml")],
                       capture_output=True, text=True, timeout=60)
    return r, time.monotonic() - t0


def test_a_corral_still_starting_is_waited_for(tmp_path):
    """A corral holds the lock, marked running, before its socket is made
    (after its first spawns): a command then waits for the socket rather
    than say corral is not running; here the holder ends after 1 s without
    ever making one."""
    with lock_held(tmp_path, "running\n", 1):
        r, took = status_of(tmp_path)
    assert r.returncode == 4 and "not running for" in r.stderr, r
    assert 0.7 < took < 5, took


def test_a_corral_holding_the_lock_without_an_api_is_named(tmp_path):
    with lock_held(tmp_path, "running\n", 30) as p:
        r, took = status_of(tmp_path)
    assert r.returncode == 1, r
    assert f"a corral (pid {p.pid}) holds {tmp_path / '.corral'}, but nothing listened on " \
        in r.stderr, r.stderr
    assert 9 < took < 20, took


def test_a_corral_that_is_ending_is_not_waited_for(tmp_path):
    # The running mark is cleared once everything stopped, before the API goes.
    with lock_held(tmp_path, "", 30):
        r, took = status_of(tmp_path)
    assert r.returncode == 4 and "not running for" in r.stderr, r
    assert took < 2, took


def started_count(d, name):
    return sum(1 for e in d.events() if e["kind"] == "started" and e.get("service") == name)


MIGRATE = """
services:
  migrate:
    kind: oneshot
    command: [sh, -c, 'echo run >> migrations']
  db:
    command: [sleep, "1040"]
    depends_on: {migrate: {condition: completed}}
    env: {V: "1"}
  web:
    command: [sleep, "1041"]
    depends_on: [db]
"""


def test_a_completed_step_runs_again_only_when_named(daemon, tmp_path):
    """A oneshot that completed is what its dependants need: a start,
    restart or reload of something that depends on it leaves it completed;
    named, it runs again."""
    d = daemon(MIGRATE)
    d.wait_state("web", "running")
    runs = tmp_path / "migrations"
    assert runs.read_text().count("run") == 1
    assert d.cli("restart", "db").returncode == 0
    assert d.cli("stop", "web").returncode == 0
    assert d.cli("start", "web").returncode == 0
    d.cfg.write_text(MIGRATE.replace('V: "1"', 'V: "2"'))  # db changed
    assert d.cli("reload").returncode == 0
    wait_for(lambda: started_count(d, "db") == 3, what="db started a third time")
    d.wait_state("db", "running")
    assert runs.read_text().count("run") == 1, runs.read_text()
    assert d.service("migrate")["state"] == "completed"
    assert d.cli("restart", "migrate").returncode == 0
    wait_for(lambda: runs.read_text().count("run") == 2, what="migrate named: run again")
    d.down()


def test_a_reload_lets_a_dependant_wait_for_a_changed_dependency(daemon):
    """web waits for db to be ready when a reload changes db (not web): db is
    stopped and started again; web waits on, and starts once the new db is
    ready, instead of failing because db was stopped meanwhile."""
    text = """
services:
  db:
    command: [sh, -c, 'sleep %s; echo up; exec sleep 1042']
    ready: {log: up}
    autostart: false
  web:
    command: [sleep, "1043"]
    depends_on: {db: {condition: ready}}
    autostart: false
"""
    d = daemon(text % 3)
    assert d.cli("start", "--no-wait", "web").returncode == 0
    wait_for(lambda: d.service("web")["state"] == "waiting", what="web waiting for db")
    d.cfg.write_text(text % 1)
    assert d.cli("reload").returncode == 0
    d.wait_state("web", "running", timeout=15)
    assert not [e for e in d.events() if e["kind"] == "failed"], d.events()
    assert started_count(d, "db") == 2
    d.down()


def test_an_operator_stop_outlives_corral_when_a_new_service_needs_it(daemon):
    """db was stopped by the operator; a service added since needs it: the
    next corral keeps db stopped (x waits on it and says why), as a reload
    does, rather than start db to serve x."""
    d = daemon(STACK)
    d.wait_state("web", "running")
    assert d.cli("stop", "db").returncode == 0
    d.down()
    text = STACK + """  x:
    command: [sleep, "1044"]
    depends_on: [db]
"""
    d2 = daemon(text, expect=1)  # up -d says x failed: db stays stopped
    s = d2.service("db")
    assert s["state"] == "stopped" and s["stopped_by_operator"], s
    assert d2.pids("db") == []
    assert d2.service("x")["reason"] == "dependency 'db' stopped", d2.service("x")
    d2.down()


def test_up_name_clears_the_stops_of_what_it_starts(daemon):
    """up web starts db too, which the operator had stopped: db is no longer
    stopped, in state.db either, so the next plain up runs it."""
    d = daemon(STACK)
    d.wait_state("web", "running")
    assert d.cli("stop", "db").returncode == 0  # web too
    d.down()
    d2 = daemon(STACK, ("web",))
    assert d2.wait_state("db", "running") and not d2.service("db")["stopped_by_operator"]
    d2.down()
    d3 = daemon(STACK)
    assert d3.wait_state("db", "running") and d3.wait_state("web", "running")
    assert "stays stopped" not in (d3.state / "corral.log").read_text().split("corral 0.1.0")[-1]
    d3.down()


def exit_of(f):
    """The exit status of a Follow, its output read meanwhile so that a full
    pipe does not hold it."""
    wait_for(lambda: f.output() is not None and f.p.poll() is not None, timeout=20,
             what=f"{f.p.args[1]} -f to exit")
    return f.p.returncode


FLOOD = """
services:
  flood:
    command: [sh, -c, 'yes 0123456789012345678901234567890123456789']
    logs: {timestamps: false}
"""


def test_a_follow_ends_0_when_corral_stops(daemon):
    # corral ending the stream is the follow's end: exit 0, said on stderr,
    # however much output the stream still held when corral stopped.
    for _ in range(3):
        d = daemon(FLOOD)
        d.wait_state("flood", "running")
        logs = Follow("logs", "--file", str(d.cfg), "-f", "-n", "0", "flood")
        events = Follow("events", "--file", str(d.cfg), "-f", "-n", "0")
        try:
            wait_for(lambda: len(logs.output()) > 100000, what="followed output")
            # The follow is read while corral stops: one that reads nothing is
            # cut off once corral has waited long enough.
            down = subprocess.Popen([CORRAL, "down", "-f", str(d.cfg)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            for f in (logs, events):
                rc = exit_of(f)
                err = f.p.stderr.read().decode()
                assert rc == 0 and "the follow ended: corral stopped" in err, (f.p.args, rc, err)
            assert down.wait(60) == 0
        finally:
            logs.close()
            events.close()


def test_a_follow_whose_stream_breaks_off_exits_1(daemon):
    d = daemon(FLOOD)
    d.wait_state("flood", "running")
    logs = Follow("logs", "--file", str(d.cfg), "-f", "-n", "0", "flood")
    events = Follow("events", "--file", str(d.cfg), "-f")
    try:
        wait_for(lambda: len(logs.output()) > 1000 and events.output(), what="followed output")
        d.ps.kill()  # the daemon this test started, by its psutil handle
        for f in (logs, events):
            rc = exit_of(f)
            err = f.p.stderr.read().decode()
            assert rc == 1 and "broke off" in err, (f.p.args, rc, err)
    finally:
        logs.close()
        events.close()
