"""Idle cost, users, environment files, signal dispositions."""
import os
import pwd
import subprocess
import time

import psutil

from conftest import CORRAL, wait_for


def test_idle_corral_makes_no_wakeups(corral):
    services = "\n".join(f"  s{i}:\n    command: [sleep, '1000']" for i in range(50))
    c = corral(f"services:\n{services}\n", args=["-q"])
    wait_for(lambda: sum(len(v) for v in c.tagged().values()) == 50, what="50 running")
    time.sleep(0.5)  # let start-up settle
    before = c.ps.num_ctx_switches()
    time.sleep(2.0)  # the quantity under test is activity over an idle period
    after = c.ps.num_ctx_switches()
    assert (after.voluntary - before.voluntary, after.involuntary - before.involuntary) == (0, 0)
    assert c.stop() == 0


def test_service_runs_as_its_user(corral):
    nobody = pwd.getpwnam("nobody")
    c = corral("""
services:
  low:
    command: [sleep, '1000']
    user: nobody
""")
    pid = wait_for(lambda: c.pids("low"), what="low running")[0]
    p = psutil.Process(pid)
    assert p.uids().real == nobody.pw_uid and p.uids().effective == nobody.pw_uid
    assert p.gids().real == nobody.pw_gid
    assert c.stop() == 0


def test_user_gets_its_own_identity_variables(corral):
    """HOME, USER, LOGNAME and SHELL are the user's, not corral's (root's);
    the service's env still has the last word."""
    nobody = pwd.getpwnam("nobody")
    c = corral("""
services:
  low:
    command: [sleep, '1000']
    user: nobody
  own:
    command: [sleep, '1000']
    user: nobody
    env: {HOME: /tmp}
""")
    low = psutil.Process(wait_for(lambda: c.pids("low"), what="low running")[0]).environ()
    assert (low["HOME"], low["USER"], low["LOGNAME"], low["SHELL"]) == \
        (nobody.pw_dir, "nobody", "nobody", nobody.pw_shell)
    own = psutil.Process(wait_for(lambda: c.pids("own"), what="own running")[0]).environ()
    assert own["HOME"] == "/tmp" and own["USER"] == "nobody"
    assert c.stop() == 0


def test_group_applies_without_a_user(corral):
    """group: alone, or with a user that is corral's own, is applied: the
    gid and the supplementary groups are that group only."""
    nogroup = 65534
    c = corral("""
services:
  g:
    command: [sleep, '1000']
    group: nogroup
  rg:
    command: [sleep, '1000']
    user: root
    group: nogroup
""")
    for name in ("g", "rg"):
        p = psutil.Process(wait_for(lambda: c.pids(name), what=f"{name} running")[0])
        assert p.uids().effective == 0
        assert p.gids().real == nogroup and p.gids().effective == nogroup
        with open(f"/proc/{p.pid}/status") as f:
            groups = [l.split()[1:] for l in f if l.startswith("Groups:")][0]
        assert groups == [str(nogroup)], name
    assert c.stop() == 0


def test_cwd_is_entered_as_the_user(corral, tmp_path):
    """A working directory its user cannot enter fails the start, naming it,
    instead of leaving the service in a directory it cannot read."""
    priv = tmp_path / "priv"
    priv.mkdir(mode=0o700)
    c = corral("""
services:
  w:
    command: [sleep, '1000']
    user: nobody
    cwd: ./priv
    restart: {policy: no}
""")
    wait_for(lambda: f"w chdir '{priv}': Permission denied" in c.output(), what="w to fail")
    assert c.pids("w") == []
    assert c.stop() == 1


def test_fds_corral_inherits_go_no_further(daemon, tmp_path):
    """A lock the launcher held (flock f corral up -d) is neither kept by the
    daemon nor passed to its services."""
    lock = open(tmp_path / "deploy.lock", "w")
    try:
        d = daemon("""
services:
  s:
    command: [sh, -c, 'ls -l /proc/$$/fd > fds.txt; exec sleep 1000']
""", pass_fds=(lock.fileno(),))
        fds = wait_for(lambda: (f := tmp_path / "fds.txt").exists() and f.read_text(),
                       what="the service's fds")
        assert "deploy.lock" not in fds, fds
        held = [os.readlink(f"/proc/{d.ps.pid}/fd/{n}") for n in os.listdir(f"/proc/{d.ps.pid}/fd")]
        assert not any("deploy.lock" in h for h in held), held
        d.down()
    finally:
        lock.close()


def test_env_file_and_env_merge(corral, tmp_path):
    (tmp_path / ".env").write_text("# comment\nA=from-file\nexport B='quoted value'\n")
    c = corral("""
services:
  e:
    command: [sleep, '1000']
    env_file: .env
    env: {A: from-env}
""")
    pid = wait_for(lambda: c.pids("e"), what="e running")[0]
    env = psutil.Process(pid).environ()
    assert env["A"] == "from-env"
    assert env["B"] == "quoted value"
    assert c.stop() == 0


def test_cwd_is_relative_to_the_config(corral, tmp_path):
    (tmp_path / "site").mkdir()
    c = corral("""
services:
  w:
    command: [sleep, '1000']
    cwd: ./site
""")
    pid = wait_for(lambda: c.pids("w"), what="w running")[0]
    assert psutil.Process(pid).cwd() == str(tmp_path / "site")
    assert c.stop() == 0


def test_services_start_with_default_signal_dispositions(tmp_path):
    """A service gets no ignored and no blocked signal: neither corral's own
    (SIGPIPE ignored, its signalfd set blocked) nor one corral inherited
    ignored from whoever started it (here SIGUSR1 and SIGHUP)."""
    (tmp_path / "corral.yaml").write_text("""
services:
  s:
    kind: oneshot
    command: [sh, -c, 'grep -E "^Sig(Ign|Blk)" /proc/self/status > signals.txt']
""")
    p = subprocess.run(["sh", "-c", 'trap "" USR1 HUP; exec "$0" up -q -f corral.yaml', CORRAL],
                       cwd=tmp_path, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    # sh itself may ignore or block nothing before it runs grep.
    assert (tmp_path / "signals.txt").read_text().split() == [
        "SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"]


def test_dispositions_stay_default_after_corral_loads_its_libraries(daemon):
    """corral takes the set of signals a child resets at start. The libraries
    it loads later, libmicrohttpd at the first API request and libcurl at the
    first http probe, must not leave a service started after them with an
    ignored or a blocked signal."""
    d = daemon("""
services:
  s:
    command: [sh, -c, 'grep -E "^Sig(Ign|Blk)" /proc/self/status > signals.$$; exec sleep 300']
    liveness: {http: {url: "http://127.0.0.1:9/"}, interval: 100ms, failure_threshold: 1000}
""")
    assert d.up.returncode == 0, d.up.stdout + d.up.stderr
    maps = f"/proc/{d.ps.pid}/maps"
    wait_for(lambda: "libcurl" in open(maps).read(), what="libcurl loaded by the probe")
    assert "libmicrohttpd" in open(maps).read()
    first = d.service("s")["pid"]
    assert d.cli("restart", "s").returncode == 0
    second = wait_for(lambda: (p := d.service("s")["pid"]) not in (None, first) and p,
                      what="s restarted")
    out = d.dir / f"signals.{second}"
    wait_for(out.exists, what="the new process's dispositions")
    wait_for(lambda: len(out.read_text().split()) == 4, what="the file written")
    assert out.read_text().split() == [
        "SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"]
    d.down()
