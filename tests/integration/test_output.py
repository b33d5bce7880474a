"""The foreground view never stalls or kills supervision: a stdout nobody
reads, a reader that goes away, a terminal that hangs up."""
import os
import signal
import subprocess
import time


from conftest import CORRAL, gone, proc, tagged, wait_for

CRASHER = """
services:
  chatty:
    command: [sh, -c, 'while true; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done']
  crash:
    command: [sh, -c, 'echo x >> spawns.txt; exit 1']
    restart: {policy: always, initial: 50ms, multiplier: 1, max: 50ms, jitter: 0%, max_restarts: 0}
"""


def spawns(tmp_path):
    f = tmp_path / "spawns.txt"
    return len(f.read_text().split()) if f.exists() else 0


def instance_of(text):
    import re
    m = re.search(rb"instance ([0-9a-f]{16})", text)
    return m.group(1).decode() if m else None


def test_unread_stdout_does_not_stall_supervision(tmp_path):
    (tmp_path / "corral.yaml").write_text(CRASHER)
    r, w = os.pipe()
    p = subprocess.Popen([CORRAL, "up", "--no-color"], stdout=w, stderr=w, cwd=tmp_path)
    os.close(w)
    try:
        head = os.read(r, 200)  # then never read again: the pipe fills up
        inst = instance_of(head)
        assert inst
        wait_for(lambda: spawns(tmp_path) >= 5, what="first restarts")
        time.sleep(1.0)  # by now the 64 KiB pipe is long full
        n = spawns(tmp_path)
        wait_for(lambda: spawns(tmp_path) >= n + 10, timeout=10,
                 what="restarts to go on while stdout is blocked")
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
        assert tagged(inst) == {}
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(r)


def test_reader_going_away_does_not_kill_corral(tmp_path):
    (tmp_path / "corral.yaml").write_text(CRASHER)
    r, w = os.pipe()
    p = subprocess.Popen([CORRAL, "up", "--no-color"], stdout=w, stderr=w, cwd=tmp_path)
    os.close(w)
    try:
        inst = instance_of(os.read(r, 200))
        os.close(r)  # like `corral up | head -1` after head exits
        r = None
        n = spawns(tmp_path)
        wait_for(lambda: spawns(tmp_path) >= n + 10, what="supervision to go on")
        assert p.poll() is None  # no SIGPIPE death
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
        assert tagged(inst) == {}
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if r is not None:
            os.close(r)


def test_hangup_stops_everything(corral):
    c = corral("services:\n  s:\n    command: [sleep, '1000']\n")
    s = proc(wait_for(lambda: c.pids("s"), what="s running")[0])
    c.signal(signal.SIGHUP)
    assert c.wait_exit() == 0
    assert gone(s)
    assert c.tagged() == {}


def test_a_file_as_stdout_gets_every_line(corral):
    """The foreground view drops output only for a reader that is behind: a
    file (or a reader that keeps up) takes a flood whole, though one loop
    turn reads more than the view's buffer holds."""
    c = corral("""
services:
  flood:
    command: [seq, 1, 300000]
    restart: {policy: "no"}
""")
    assert c.wait_exit(timeout=60) == 0
    out = c.output()
    lines = [ln.split("| ", 1)[1] for ln in out.splitlines() if ln.startswith("flood")]
    assert lines == [str(i) for i in range(1, 300001)], (len(lines), out[-500:])
    assert "dropped" not in out


def test_a_service_s_started_line_comes_before_its_output(corral):
    """A start pass may leave its started events to the next loop pass; a
    service quick to print had its first line shown before corral said it
    started."""
    names = [f"s{i}" for i in range(8)]
    services = "".join(
        f"  {n}:\n    command: [sh, -c, 'echo hello-{n}; exec sleep 1000']\n"
        + (f"    depends_on: [{names[i - 1]}]\n" if i else "")
        for i, n in enumerate(names))
    for _ in range(3):
        c = corral("services:\n" + services)
        wait_for(lambda: all(f"hello-{n}" in c.output() for n in names), what="every hello")
        assert c.stop() == 0
        lines = c.output().splitlines()
        for n in names:
            said = next(i for i, ln in enumerate(lines) if f"{n} started" in ln)
            shown = next(i for i, ln in enumerate(lines) if f"hello-{n}" in ln)
            assert said < shown, "\n".join(lines)


def test_a_run_s_output_comes_before_its_exit(corral):
    """What a service wrote just before it exited was read after its exit was
    handled: 'job exited 1' came before the run's last lines."""
    names = [f"job{i}" for i in range(10)]
    c = corral("services:\n" + "".join(
        f"  {n}:\n    command: [sh, -c, 'seq 1 300; exit 1']\n"
        "    restart: {policy: on-failure, initial: 20ms, jitter: 0%, max_restarts: 5}\n"
        for n in names))
    wait_for(lambda: all(c.output().count(f"{n} exited 1") >= 3 for n in names), timeout=20,
             what="three runs of each")
    assert c.stop() == 0
    lines = c.output().splitlines()
    for n in names:
        exits = [i for i, ln in enumerate(lines) if f"{n} exited 1" in ln]
        lasts = [i for i, ln in enumerate(lines) if ln.replace(" ", "") == f"{n}|300"]
        for k, at in enumerate(exits):
            assert sum(1 for i in lasts if i < at) == k + 1, "\n".join(lines[:at + 1][-40:])
