"""state.db between bursts of use: an idle corral has closed it (no WAL left
beside it) and has SQLite's code unmapped, and what it wrote before resting
is all there after: an operator's stop and the event history outlive it."""
from conftest import wait_for

STACK = """
services:
  web:
    command: [sleep, "1000"]
  db:
    command: [sleep, "1000"]
  cron:
    command: [sleep, "1000"]
"""


def sqlite_mapped(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libsqlite3" in f.read()


def resting(d):
    """SQLite unmapped from the daemon, and its connection closed: the last
    close checkpoints the WAL into state.db and removes it."""
    return not sqlite_mapped(d.info["pid"]) and not (d.state / "state.db-wal").exists()


def test_an_idle_corral_rests_its_store(daemon):
    d = daemon(STACK)
    for name in ("web", "db", "cron"):
        d.wait_state(name, "running")
    assert (d.state / "state.db").exists()
    wait_for(lambda: resting(d), timeout=1.0, what="state.db resting")

    # A burst (the operator's stop, its runs and events) wakes it, and it
    # rests again after.
    assert d.cli("stop", "web").returncode == 0
    wait_for(lambda: resting(d), timeout=1.0, what="state.db resting after a stop")
    before = d.events()
    assert any(e["kind"] == "stopped" and e.get("service") == "web" for e in before), before
    d.down()

    d2 = daemon(STACK)
    d2.wait_state("db", "running")
    s = d2.service("web")
    assert s["state"] == "stopped" and s["stopped_by_operator"], s
    assert d2.pids("web") == []
    # The first corral's events are read back from state.db, ids going on.
    events = d2.events()
    assert events[:len(before)] == before
    assert any(e["kind"] == "corral_stopped" for e in events[len(before):])
    wait_for(lambda: resting(d2), timeout=1.0, what="state.db resting in the second corral")
