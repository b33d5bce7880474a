"""Log files: per-line timestamps and streams, rotation under a flood."""
import json
import re
import shutil
import subprocess

import pytest

from conftest import CORRAL, deny_io_uring, wait_for


def test_log_lines_have_time_and_stream(corral, tmp_path):
    c = corral("""
services:
  talk:
    kind: oneshot
    command: [sh, -c, 'echo to-out; echo to-err >&2']
""")
    assert c.wait_exit() == 0
    log = (tmp_path / ".corral" / "logs" / "talk.log").read_text()
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z out to-out$", log, re.M), log
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z err to-err$", log, re.M), log
    assert re.search(r"talk +\| to-out", c.output())


def test_a_runs_last_line_without_newline_is_its_own(corral, tmp_path):
    # A crash message with no newline is written as the run ends, and the
    # next run's first line is not glued to it.
    c = corral("""
services:
  crash:
    command: [sh, -c, 'echo start; printf fatal; exit 1']
    restart: {policy: on-failure, initial: 300ms, jitter: 0%, max_restarts: 1, window: 1m}
""")
    assert c.wait_exit() == 1
    log = (tmp_path / ".corral" / "logs" / "crash.log").read_text()
    lines = [l.split(" ", 2)[2] for l in log.splitlines()]
    assert lines == ["start", "fatal", "start", "fatal"], lines


FLOOD = """import sys
line = b"x" * 99 + b"\\n"
for _ in range(200):
    sys.stdout.buffer.write(line * 1024)
"""


def test_log_flood_is_rotated_within_bounds(corral, tmp_path):
    # 20 MiB of 100-byte lines as fast as the pipe takes them.
    (tmp_path / "flood.py").write_text(FLOOD)
    c = corral("""
services:
  flood:
    kind: oneshot
    command: [python3, flood.py]
    logs: {max_size: 1M, keep: 3, timestamps: false}
""", args=["-q"])
    assert c.wait_exit(timeout=60) == 0
    logs = tmp_path / ".corral" / "logs"
    files = sorted(p.name for p in logs.iterdir() if p.name.startswith("flood.log"))
    assert files == ["flood.log", "flood.log.1", "flood.log.2", "flood.log.3"], files
    total = sum((logs / f).stat().st_size for f in files)
    assert total <= 1024 * 1024 * 4
    for f in files:
        assert (logs / f).stat().st_size <= 1024 * 1024
    # The newest file holds the end of the stream, whole lines only.
    tail = (logs / "flood.log").read_bytes()
    assert tail.endswith(b"x" * 99 + b"\n")


def test_full_disk_loses_spliced_bytes_but_not_corral(corral, tmp_path):
    # Quiet: nobody reads the output line by line, so it is spliced into the
    # file, which refuses it; the bytes are read, counted and dropped instead.
    logs = tmp_path / ".corral" / "logs"
    logs.mkdir(parents=True)
    (logs / "chatty.log").symlink_to("/dev/full")
    c = corral("""
services:
  chatty:
    kind: oneshot
    command: [sh, -c, 'head -c 300000 /dev/zero']
    logs: {timestamps: false}
""", args=["-q"])
    assert c.wait_exit(timeout=60) == 0
    out = c.output()
    assert "bytes of log output lost" in out, out
    assert "chatty completed" in out


def test_full_disk_loses_bytes_but_not_corral(corral, tmp_path):
    logs = tmp_path / ".corral" / "logs"
    logs.mkdir(parents=True)
    (logs / "chatty.log").symlink_to("/dev/full")  # every write fails with ENOSPC
    c = corral("""
services:
  chatty:
    kind: oneshot
    command: [sh, -c, 'for i in 1 2 3; do echo line $i; done']
""")
    assert c.wait_exit() == 0
    out = c.output()
    assert "chatty: " in out and "bytes of log output lost" in out
    assert "chatty completed" in out
    assert "chatty | line 3" in out.replace("  ", " ")


def test_spliced_floods_of_two_services_stay_apart(corral, tmp_path):
    # Both pass through the one relay pipe corral splices through: each file
    # must hold all of its own service's bytes and none of the other's.
    c = corral("""
services:
  a:
    kind: oneshot
    command: [sh, -c, 'yes aaaaaaa | head -c 8000000']
    logs: {timestamps: false}
  b:
    kind: oneshot
    command: [sh, -c, 'yes bbbbbbb | head -c 8000000']
    logs: {timestamps: false}
""", args=["-q"])
    assert c.wait_exit(timeout=60) == 0
    logs = tmp_path / ".corral" / "logs"
    for name in ("a", "b"):
        data = (logs / f"{name}.log").read_bytes()
        assert len(data) == 8000000, (name, len(data))
        assert data == (name.encode() * 7 + b"\n") * 1000000, name


def cached_bytes(path, below=None):
    """How much of the file (or of its bytes before offset below) is in the
    page cache: mincore(2) of a mapping."""
    import ctypes
    import mmap
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    size = path.stat().st_size
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    vec = (ctypes.c_ubyte * pages)()
    with open(path, "rb") as f:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, f.fileno(), 0)
        assert addr not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
        try:
            assert libc.mincore(addr, size, vec) == 0, ctypes.get_errno()
        finally:
            libc.munmap(addr, size)
    if below is not None:
        vec = vec[:below // mmap.PAGESIZE]
    return sum(b & 1 for b in vec) * mmap.PAGESIZE


@pytest.mark.parametrize("timestamps", [False, True])
def test_a_log_file_leaves_the_page_cache_once_on_disk(daemon, tmp_path, timestamps):
    """A log is written once and seldom read: all but its newest 16-24 MiB
    leave the page cache once on disk, instead of pushing out what the
    services read (and, on this VM, taking fresh pages at a third of the
    speed). Every byte is still in the file."""
    mib = 96
    d = daemon(f"""
services:
  flood:
    kind: oneshot
    command: [sh, -c, 'yes 0123456789abcdef0123456789abcdef | head -c {mib}M']
    logs: {{timestamps: {str(timestamps).lower()}, max_size: 0}}
""")
    if d.json("GET", "/v1")[1]["log_writes"] != "io_uring":
        d.down()
        pytest.skip("log writes without io_uring drop nothing from the cache")
    d.wait_state("flood", "completed", timeout=60)
    log = d.state / "logs" / "flood.log"
    want = mib << 20
    wait_for(lambda: log.stat().st_size >= want, timeout=30, what="all of it in the file")
    # The drops wait for the disk, which the rest of a test run keeps busy.
    # Nothing before the newest 24 MiB stays: not even the page-cache folio
    # (of up to 2 MiB) that a drop's end could cut through.
    size = log.stat().st_size
    wait_for(lambda: cached_bytes(log, below=size - (24 << 20)) == 0, timeout=60,
             what=f"nothing but the newest 24 MiB of {size >> 20} MiB cached")
    d.down()
    data = log.read_bytes()
    expect = (b"0123456789abcdef0123456789abcdef\n" * (want // 33 + 1))[:want]
    if timestamps:  # lines, the last one cut by head -c ended as one
        data, expect = re.sub(rb"(?m)^\S+Z out ", b"", data), expect + b"\n"
    assert data == expect


def test_logs_are_written_directly_where_io_uring_is_refused(daemon, tmp_path):
    pytest.importorskip("seccomp")
    lines = 100000
    d = daemon(f"""
services:
  raw:
    kind: oneshot
    command: [seq, "{lines}"]
    logs: {{timestamps: false, max_size: 100K, keep: 3}}
  stamped:
    kind: oneshot
    command: [seq, "{lines}"]
    logs: {{max_size: 0}}
""", preexec_fn=deny_io_uring)
    d.wait_state("raw", "completed")
    d.wait_state("stamped", "completed")
    info = d.json("GET", "/v1")[1]
    assert info["log_writes"] == "direct", info
    assert "not permitted" in info["log_writes_reason"], info
    rep = json.loads(d.cli("doctor", "--json").stdout)
    assert rep["log_writes"] == {"mode": "direct", "source": "running corral",
                                 "reason": info["log_writes_reason"]}
    logs = tmp_path / ".corral" / "logs"
    want = "".join(f"{i}\n" for i in range(1, lines + 1)).encode()
    kept = b"".join((logs / n).read_bytes()
                    for n in ["raw.log.3", "raw.log.2", "raw.log.1", "raw.log"])
    assert len(kept) > 3 * 100 * 1024 and want.endswith(kept)
    stamped = (logs / "stamped.log").read_text()
    assert re.sub(r"^\S+Z out ", "", stamped, flags=re.M).encode() == want
    d.down()


def test_a_loss_within_the_report_window_is_said_by_the_run_s_end(corral, tmp_path):
    """Losses are said at most every 10 s: the last count, lost within that
    time, is said once the window ends, or at the run's end, never left out."""
    logs = tmp_path / ".corral" / "logs"
    logs.mkdir(parents=True)
    (logs / "chatty.log").symlink_to("/dev/full")
    c = corral("""
services:
  chatty:
    kind: oneshot
    command: [sh, -c, 'head -c 100000 /dev/zero; sleep 0.5; head -c 200000 /dev/zero']
    logs: {timestamps: false}
""", args=["-q"])
    assert c.wait_exit(timeout=60) == 0
    counts = [int(n) for n in re.findall(r"(\d+) bytes of log output lost", c.output())]
    assert counts and counts[-1] == 300000, c.output()


def test_a_log_directory_removed_while_running_is_made_again(daemon):
    """rm -rf .corral/logs while corral runs: the next run of a service makes
    the directory and its log file again, rather than write into a removed
    file nobody can read."""
    d = daemon("""
services:
  tick:
    command: [sh, -c, 'echo tick $$; sleep 1.2; exit 1']
    restart: {initial: 10ms, max_restarts: 0}
""")
    log = d.state / "logs" / "tick.log"
    wait_for(lambda: log.exists() and "tick" in log.read_text(), what="the first line")
    shutil.rmtree(d.state / "logs")
    wait_for(lambda: log.exists() and "tick" in log.read_text(), timeout=10,
             what="the log made again at the next run")
    d.down()


def test_a_dangling_logs_symlink_is_refused(tmp_path):
    (tmp_path / ".corral").mkdir()
    (tmp_path / ".corral" / "logs").symlink_to(tmp_path / "nowhere")
    (tmp_path / "corral.yaml").write_text("services:\n  a: {command: [sleep, '1']}\n")
    r = subprocess.run([CORRAL, "up", "-d", "-f", str(tmp_path / "corral.yaml")],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 1:  # started after all: stopped before the test fails
        subprocess.run([CORRAL, "down", "-f", str(tmp_path / "corral.yaml")], timeout=60)
    assert r.returncode == 1, r
    assert "it is a symlink to a missing directory" in r.stderr, r.stderr


@pytest.mark.parametrize("ring,timestamps", [(True, True), (False, True), (True, False)])
def test_a_refused_rotation_is_reported_and_loses_nothing(daemon, tmp_path, ring, timestamps):
    """A live file that cannot be renamed (here its rotated name is a
    directory) grows past max_size rather than lose output; that was said
    nowhere, so a log could fill the disk unseen."""
    if not ring:
        pytest.importorskip("seccomp")
    logs = tmp_path / ".corral" / "logs"
    (logs / "web.log.1").mkdir(parents=True)
    (logs / "web.log.1" / "keep").write_text("not a log\n")
    d = daemon("""
services:
  web:
    kind: oneshot
    command: [seq, "60000"]
    logs: {max_size: 100K, keep: 1, timestamps: %s}
""" % str(timestamps).lower(), **({} if ring else {"preexec_fn": deny_io_uring}))
    d.wait_state("web", "completed")
    got = wait_for(lambda: [e for e in d.events() if e["kind"] == "logs_not_rotated"],
                   what="the refusal reported")
    assert len(got) == 1, got  # a flood of refusals, said once
    assert got[0]["service"] == "web", got
    assert "cannot rotate web.log (Is a directory)" in got[0]["text"], got
    d.down()
    text = (logs / "web.log").read_text()
    assert re.sub(r"(?m)^\S+Z out ", "", text) == "".join(f"{i}\n" for i in range(1, 60001))
    assert "cannot rotate web.log" in (d.state / "corral.log").read_text()
