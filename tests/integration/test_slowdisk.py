"""A disk that does not take writes must not hold corral up: its loop goes on
reaping, restarting and answering the API while a service's log writes wait,
the service waits with them (its pipe fills), and once the disk moves again
every byte lands, in order. The slow disk is stallfs (tests/helpers), a FUSE
file system whose writes, creates, renames and unlinks wait while it is
stalled, mounted on the logs directory."""
import os
import re
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import CORRAL, deny_io_uring, gone, proc, wait_for

STALLFS = os.path.join(os.path.dirname(CORRAL), "stallfs")
LINES = 200000  # `seq` output: 1.3 MB, more than a pipe and a sink's queue hold


class Stallfs:
    def __init__(self, backing, mountpoint):
        backing.mkdir(parents=True)
        mountpoint.mkdir(parents=True)
        self.mountpoint = str(mountpoint)
        self.proc = subprocess.Popen([STALLFS, str(backing), self.mountpoint],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.mounted, what="stallfs mounted")

    def mounted(self):
        with open("/proc/self/mounts") as f:
            return any(line.split()[1] == self.mountpoint for line in f)

    def stall(self):
        self.proc.send_signal(signal.SIGUSR1)

    def release(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR2)

    def close(self):
        self.release()
        if self.mounted():
            r = subprocess.run(["fusermount3", "-u", self.mountpoint], capture_output=True)
            if r.returncode != 0:
                subprocess.run(["fusermount3", "-uz", self.mountpoint], capture_output=True)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def slow_logs(tmp_path):
    if not os.path.exists(STALLFS) or not os.path.exists("/dev/fuse"):
        pytest.skip("needs FUSE (/dev/fuse) and the stallfs helper")
    fs = Stallfs(tmp_path / "backing", tmp_path / ".corral" / "logs")
    yield fs
    fs.close()


def blocked_writing(pid):
    """The process waits in a write to its full stdout pipe."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return f.read().strip() in ("pipe_write", "anon_pipe_write")
    except FileNotFoundError:
        return False


def flood_on_a_stalled_disk(slow_logs, go, pid):
    """Stall the disk, then let the flood go: the log file's creation (its
    first output is the flood's) waits in the file system, corral queues what
    it may and stops reading, and seq is left waiting on its full pipe."""
    slow_logs.stall()
    go.touch()
    wait_for(lambda: blocked_writing(pid), timeout=20, what="seq blocked on its pipe")


def strip_stamps(text):
    return re.sub(r"^\S+Z out ", "", text, flags=re.M)


@pytest.mark.parametrize("timestamps", [True, False])
def test_a_stalled_disk_holds_up_the_service_not_corral(daemon, slow_logs, tmp_path, timestamps):
    go = tmp_path / "go"
    d = daemon(f"""
services:
  flood:
    command: [sh, -c, 'while [ ! -e {go} ]; do sleep 0.02; done; echo start; exec seq {LINES}']
    restart: {{policy: "no"}}
    logs: {{timestamps: {str(timestamps).lower()}}}
  other:
    command: [sleep, "1000"]
""")
    d.wait_state("other", "running")
    flood_pid = d.service("flood")["pid"]
    assert d.json("GET", "/v1")[1]["log_writes"] == "none yet"
    try:
        flood_on_a_stalled_disk(slow_logs, go, flood_pid)
        corral_mem = d.ps.memory_info().rss
        info = d.json("GET", "/v1")[1]
        assert info["log_writes"] == "io_uring", info

        # Meanwhile corral answers, stops and starts: its loop is not in a write.
        t0 = time.monotonic()
        assert d.service("other")["state"] == "running"
        old = d.service("other")["pid"]
        old_proc = proc(old)
        r = d.cli("restart", "other", timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for(lambda: (s := d.service("other"))["state"] == "running" and s["pid"] != old,
                 timeout=20, what="other restarted")
        assert gone(old_proc)
        assert time.monotonic() - t0 < 20
        assert blocked_writing(flood_pid), "seq went on while its log could not be written"
        # Bounded: what waits is the queue, not the whole flood in memory.
        assert d.ps.memory_info().rss < corral_mem + 8 * 1024 * 1024
    finally:
        slow_logs.release()

    log = tmp_path / "backing" / "flood.log"
    want = "start\n" + "".join(f"{i}\n" for i in range(1, LINES + 1))

    def all_written():
        text = log.read_text()
        return (strip_stamps(text) if timestamps else text) == want

    wait_for(all_written, timeout=60, what="every line in flood.log")
    d.wait_state("flood", "exited")
    ev = [e for e in d.events() if e.get("service") == "flood"]
    assert not any("lost" in (e.get("text") or e.get("message") or "") for e in ev), ev
    d.down()


def test_rotations_wait_for_a_stalled_disk_in_order(daemon, slow_logs, tmp_path):
    # Rotation renames and opens go the same way as writes: queued behind
    # them, one at a time. The kept files, oldest first, are the stream's tail.
    go = tmp_path / "go"
    d = daemon(f"""
services:
  flood:
    command: [sh, -c, 'while [ ! -e {go} ]; do sleep 0.02; done; exec seq {LINES}']
    restart: {{policy: "no"}}
    logs: {{timestamps: false, max_size: 200K, keep: 3}}
""")
    flood_pid = d.service("flood")["pid"]
    try:
        flood_on_a_stalled_disk(slow_logs, go, flood_pid)
        assert d.service("flood")["state"] == "running"
    finally:
        slow_logs.release()
    d.wait_state("flood", "exited", timeout=60)
    want = "".join(f"{i}\n" for i in range(1, LINES + 1)).encode()
    names = ["flood.log.3", "flood.log.2", "flood.log.1", "flood.log"]

    def kept():
        return b"".join((tmp_path / "backing" / n).read_bytes() for n in names
                        if (tmp_path / "backing" / n).exists())

    wait_for(lambda: want.endswith(kept()) and len(kept()) > 3 * 200 * 1024,
             timeout=60, what="the kept files to hold the stream's tail")
    for n in names:
        assert (tmp_path / "backing" / n).stat().st_size <= 200 * 1024
    assert not (tmp_path / "backing" / "flood.log.4").exists()
    d.down()


def test_a_disk_that_never_answers_does_not_keep_corral_from_stopping(daemon, slow_logs, tmp_path):
    # At shutdown corral waits for log writes as long as the disk completes
    # one within the longest stop timeout (here 1 s). This one completes
    # none: what waits is counted as lost, and corral lets go of everything
    # (its lock, its socket) with the disk still stalled. The process itself
    # ends once the disk answers the create its kernel worker waits in, as
    # any process's would.
    go = tmp_path / "go"
    d = daemon(f"""
defaults:
  stop: {{timeout: 1s}}
services:
  flood:
    command: [sh, -c, 'while [ ! -e {go} ]; do sleep 0.02; done; exec seq {LINES}']
    restart: {{policy: "no"}}
    logs: {{timestamps: false}}
""")
    flood = proc(d.service("flood")["pid"])
    try:
        flood_on_a_stalled_disk(slow_logs, go, flood.pid)
        t0 = time.monotonic()
        r = d.cli("down", timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        assert time.monotonic() - t0 < 10
        assert gone(flood)
        r = d.cli("status")
        assert r.returncode == 4 and "not running" in r.stderr, r.stdout + r.stderr
        assert not os.path.exists(d.sock)
        said = (d.state / "corral.log").read_text()
        lost = re.search(r"flood: (\d+) bytes of log output not written: the disk completed "
                         r"no write for 1000 ms as corral stopped", said)
        assert lost and int(lost.group(1)) > 0, said
        assert "corral exits" in said
    finally:
        slow_logs.release()
    wait_for(lambda: not d.alive(), what="corral gone once the disk answers")
    # What the disk took is there, a prefix of the stream.
    log = tmp_path / "backing" / "flood.log"
    want = "".join(f"{i}\n" for i in range(1, LINES + 1))
    assert want.startswith(log.read_text() if log.exists() else "")


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs for the state directory, unmounted at the end."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(path):
    """Fill the file system that holds path; returns the filler."""
    filler = path / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_keeps_state_db_and_the_operator_s_stops(daemon, small_disk):
    """A state.db that cannot be opened because the disk is full is no
    corrupt one: it is left as it is, the stops it holds are kept, and it
    is written again once there is room."""
    text = f"""
state_dir: {small_disk}/st
services:
  keep: {{command: [sleep, "1060"]}}
  held: {{command: [sleep, "1061"]}}
"""
    d1 = daemon(text, state=str(small_disk / "st"))
    d1.wait_state("keep", "running")
    assert d1.cli("stop", "held").returncode == 0
    d1.down()
    filler = fill(small_disk)
    d2 = daemon(text, state=str(small_disk / "st"))
    s = d2.service("held")
    assert s["state"] == "stopped" and s["stopped_by_operator"], s
    assert not list((small_disk / "st").glob("state.db.bad-*"))
    log = small_disk / "st" / "corral.log"
    filler.unlink()
    wait_for(lambda: "state.db opens again" in log.read_text(errors="replace"), timeout=15,
             what="state.db opened again")
    assert d2.cli("stop", "keep").returncode == 0
    d2.down()
    with sqlite3.connect(small_disk / "st" / "state.db") as db:
        stopped = {r[0] for r in db.execute("SELECT name FROM service_wish WHERE stopped = 1")}
    assert stopped == {"keep", "held"}, stopped


@pytest.mark.parametrize("ring", [True, False])
def test_a_line_cut_by_a_full_disk_has_the_next_record_on_its_own_line(
        daemon, tmp_path, small_disk, ring):
    """The write that fills the disk takes part of a line; once there is room
    again, the next record starts on a line of its own instead of being glued
    to the cut one, where no log reader could find its timestamp."""
    logs = small_disk / "logs"
    logs.mkdir()
    (tmp_path / ".corral").mkdir()
    (tmp_path / ".corral" / "logs").symlink_to(logs)
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (1536 * 1024))  # of 2 MiB: the lines fill the rest
    pad = "x" * 80
    if not ring:
        pytest.importorskip("seccomp")
    kw = {} if ring else {"preexec_fn": deny_io_uring}
    d = daemon(f"""
services:
  chatty:
    shell: true
    command: |
      i=0; while [ $i -lt 20000 ]; do echo "line $i {pad}"; i=$((i+1)); done
      while [ ! -e go ]; do sleep 0.05; done
      echo after 1; echo after 2
      exec sleep 1000
""", **kw)
    lost = wait_for(lambda: [e for e in d.events() if e["kind"] == "logs_lost"], timeout=20,
                    what="bytes lost to the full disk")
    # The count is in the service and its metric too, at least what was said.
    said = int(re.search(r"(\d+) bytes", lost[-1]["text"]).group(1))
    assert d.service("chatty")["log_lost_bytes"] >= said > 0
    _, metrics, _ = d.request("GET", "/metrics")
    m = re.search(rb'corral_service_log_lost_bytes_total\{service="chatty"\} (\d+)', metrics)
    assert m and int(m.group(1)) >= said, metrics[-2000:]
    filler.unlink()
    (tmp_path / "go").touch()
    log = logs / "chatty.log"
    wait_for(lambda: b"after 2" in log.read_bytes(), what="the lines after the room came back")
    d.down()
    text = log.read_text()
    for n in (1, 2):
        assert re.search(rf"(?m)^\S+Z out after {n}$", text), text[-400:]
