"""corral's own log files, corral.log and hooks.log, are rotated by
rename once past 10 MiB, as a service's log is by default: a daemon that runs
for months does not fill its disk with them. Each test starts from a file
already at the size, and judges from the files and from /proc."""
import os

from conftest import wait_for

MIB = 1 << 20
JUNK = b"x" * 127 + b"\n"


def fill(path, size=10 * MIB):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for _ in range(size // len(JUNK)):
            f.write(JUNK)


def test_corral_log_rotates_and_stderr_follows(tmp_path, daemon):
    fill(tmp_path / ".corral" / "corral.log")
    d = daemon("services:\n  web:\n    command: [sleep, '1000']\n")
    log = d.state / "corral.log"
    old = d.state / "corral.log.1"
    wait_for(lambda: old.exists() and "web started" in log.read_text(), what="rotated")
    assert old.stat().st_size >= 10 * MIB
    with open(old, "rb") as f:
        assert f.read(len(JUNK)) == JUNK
    assert log.stat().st_size < MIB
    # The daemon's stderr (what libraries print) moved to the fresh file.
    assert os.readlink(f"/proc/{d.info['pid']}/fd/2") == str(log)
    d.down()
    assert "stopped" in log.read_text()
    assert not (d.state / "corral.log.2").exists()


def test_hooks_log_rotates(tmp_path, daemon):
    fill(tmp_path / ".corral" / "hooks.log")
    d = daemon("""
services:
  web:
    command: [sleep, "1000"]
hooks:
  - {on: started, command: [sh, -c, 'echo hook saw $CORRAL_EVENT_SERVICE']}
""")
    logs = d.state
    wait_for(lambda: "hook saw web" in (logs / "hooks.log").read_text(), what="hook output")
    assert (logs / "hooks.log.1").stat().st_size >= 10 * MIB
    assert (logs / "hooks.log").stat().st_size < MIB
    assert "hook saw" not in (logs / "hooks.log.1").read_text()
