"""The event history in state.db: it outlives `corral down` and a kill -9 of
the daemon, ids keep growing across restarts, it stays within its bound,
and `corral events --since` / GET /v1/events reach back into it."""
import calendar
import datetime
import json
import re
import sqlite3
import time

import psutil

from conftest import UnixHTTP, wait_for

STACK = """
services:
  web:
    command: [sleep, "1000"]
"""

# A service that exits at once and is restarted at once, forever: three
# events (started, exited, restarting) per run. Started through the API so
# that `up -d` does not wait for it to stay up.
FLAP = """
api: {events_keep: %d}
services:
  web:
    command: [sleep, "1000"]
  flap:
    command: [sh, -c, "exit 1"]
    autostart: false
    restart: {policy: always, initial: 0ms, jitter: 0%%, max_restarts: 0}
"""


def all_events(d, query="since=0&limit=10000"):
    st, body = d.json("GET", f"/v1/events?{query}")
    assert st == 200, body
    return body["events"]


def stored(d):
    """(id, kind, service) of every row of the history table, read directly."""
    con = sqlite3.connect(f"file:{d.state / 'state.db'}?mode=ro", uri=True)
    try:
        return con.execute("SELECT id, kind, service FROM event ORDER BY id").fetchall()
    finally:
        con.close()


def iso_ms(e):
    """An event's time as ms since the epoch."""
    t = datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return calendar.timegm(t.timetuple()) * 1000 + t.microsecond // 1000


def test_events_survive_down_and_up(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    first = all_events(d)
    assert first[0]["kind"] == "corral_started" and first[0]["id"] == 1
    assert any(e["kind"] == "started" and e["service"] == "web" for e in first)
    d.down()
    rows = stored(d)
    assert rows[-1][1] == "corral_stopped"
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    last = rows[-1][0]

    d2 = daemon(STACK)
    d2.wait_state("web", "running")
    events = all_events(d2)
    ids = [e["id"] for e in events]
    assert ids == list(range(1, len(ids) + 1)), "ids go on from the last stored one"
    again = [e for e in events if e["id"] > last]
    assert again[0]["kind"] == "corral_started"
    assert "ended without stopping" not in again[0]["text"]
    assert any(e["kind"] == "started" and e["service"] == "web" for e in again)
    # The first corral's events, as they were served then.
    assert events[:len(first)] == first
    # A client resuming after an id of the previous corral gets what followed.
    st, body = d2.json("GET", f"/v1/events?since={last - 1}")
    assert [e["id"] for e in body["events"]][:2] == [last, last + 1]


def test_events_survive_kill_9(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    before = all_events(d)
    d.ps.kill()  # psutil checks the create time before it signals
    d.ps.wait(10)
    d2 = daemon(STACK)
    d2.wait_state("web", "running")
    events = all_events(d2)
    assert events[:len(before)] == before, "what was announced before the kill was stored"
    new = [e for e in events if e["id"] > before[-1]["id"]]
    assert new and new[0]["kind"] == "corral_started"
    assert "ended without stopping" in new[0]["text"]
    assert all(b["id"] < a["id"] for b, a in zip(events, events[1:]))


def test_since_an_id_a_duration_and_a_time(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    old = all_events(d)
    last_old = old[-1]["id"]
    # Let the old events age by a few seconds: the windows below then tell
    # them from the new ones whatever the load of the machine.
    wait_for(lambda: time.time() * 1000 - iso_ms(old[-1]) > 4500, timeout=10, interval=0.1,
             what="old events 4.5 s old")
    t0 = time.time()
    wait_for(lambda: int(time.time()) > int(t0), timeout=3, what="the next second")
    t0 = int(time.time())  # a whole second, after every old event
    r = d.cli("restart", "--no-wait", "web")
    assert r.returncode == 0, r.stderr
    new = wait_for(lambda: (n := [e for e in all_events(d) if e["id"] > last_old]) and
                   n[-1]["kind"] == "started" and n, what="web started again")

    def since(value):
        r = d.cli("events", "--since", value, "--json")
        assert r.returncode == 0, (value, r.stderr)
        return [json.loads(line)["id"] for line in r.stdout.splitlines()]

    want = [e["id"] for e in new]
    assert since("3s")[:len(want)] == want
    assert since(str(last_old))[:len(want)] == want
    assert since(str(last_old - 1))[0] == last_old
    assert since("1h")[0] == 1
    utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))
    assert since(utc)[:len(want)] == want
    local = time.localtime(t0)
    assert since(time.strftime("%Y-%m-%d %H:%M:%S", local))[:len(want)] == want
    assert since(time.strftime("%Y-%m-%dT%H:%M:%S", local))[:len(want)] == want
    assert since(time.strftime("%H:%M:%S", local))[:len(want)] == want
    # The human table too, and a service filter.
    r = d.cli("events", "--since", str(last_old), "web")
    assert r.returncode == 0 and r.stdout.count(" web ") == len(r.stdout.splitlines()) >= 2
    # --until and -n page back.
    r = d.cli("events", "--until", str(last_old + 1), "-n", "2", "--json")
    assert [json.loads(line)["id"] for line in r.stdout.splitlines()] == [last_old - 1, last_old]
    assert "older events match too" in d.cli("events", "-n", "1").stderr


def test_bad_since_values_exit_2(daemon, tmp_path):
    d = daemon(STACK)
    for args in (["--since", "10x"], ["--since", ""], ["--since", "25:00"],
                 ["--since", "2026-02-30"], ["--until", "yesterday"], ["--since", "-5"],
                 ["-f", "--since", "1d"], ["-n", "0"]):
        r = d.cli("events", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "corral events:" in r.stderr and r.stdout == ""
    r = d.cli("events", "--since", "10x")
    assert "is not an event id (42), a duration back from now (10m" in r.stderr
    # Checked before any daemon is asked.
    d.down()
    r = d.cli("events", "--since", "10x")
    assert r.returncode == 2, r.stderr


def test_api_bad_parameters_are_400(daemon):
    d = daemon(STACK)
    for query, field in (("since=abc", "since"), ("until=-1", "until"),
                         ("since_time=2026-11-29", "since_time"),
                         ("since_time=10m", "since_time"),
                         ("until_time=2026-13-01T00:00:00Z", "until_time"),
                         ("limit=0", "limit"), ("limit=10001", "limit"), ("limit=x", "limit"),
                         ("service=a%20b", "service"), ("service=,", "service")):
        for extra in ("", "&follow=1"):
            st, data, headers = d.request("GET", f"/v1/events?{query}{extra}")
            assert st == 400, (query, extra, data)
            assert headers["Content-Type"] == "application/json"
            body = json.loads(data)
            assert body["error"]["code"] == "bad_request" and body["error"]["field"] == field
    st, body = d.json("GET", "/v1/events?since_time=2026-11-29T10:00:00%2B01:00&limit=5")
    assert st == 200 and "more" in body


def test_filters_from_the_ring(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    r = d.cli("restart", "web")
    assert r.returncode == 0, r.stderr
    events = all_events(d)
    web = [e["id"] for e in events if e["service"] == "web"]
    st, body = d.json("GET", "/v1/events?service=web")
    assert [e["id"] for e in body["events"]] == web and body["more"] is False
    st, body = d.json("GET", "/v1/events?service=web&limit=2")
    assert [e["id"] for e in body["events"]] == web[-2:] and body["more"] is True
    mid = events[len(events) // 2]
    st, body = d.json("GET", f"/v1/events?until={mid['id']}")
    assert [e["id"] for e in body["events"]] == [e["id"] for e in events if e["id"] < mid["id"]]
    when = mid["time"]
    st, body = d.json("GET", f"/v1/events?since_time={when}")
    assert [e["id"] for e in body["events"]] == [e["id"] for e in events
                                                if iso_ms(e) >= iso_ms(mid)]
    st, body = d.json("GET", f"/v1/events?until_time={when}")
    assert [e["id"] for e in body["events"]] == [e["id"] for e in events
                                                if iso_ms(e) < iso_ms(mid)]


def test_a_followed_service_filter_holds_for_live_events(daemon):
    d = daemon(STACK + """
  db:
    command: [sleep, "1001"]
""")
    d.wait_state("db", "running")
    last = d.events()[-1]["id"]
    c = UnixHTTP(d.sock)
    try:
        c.request("GET", f"/v1/events?follow=1&service=db&since={last}")
        resp = c.getresponse()
        assert resp.status == 200
        assert d.cli("restart", "web").returncode == 0
        assert d.cli("restart", "--no-wait", "db").returncode == 0
        first = json.loads(resp.readline())
        assert first["service"] == "db" and first["id"] > last + 1
    finally:
        c.close()


def flap_until(d, n_events):
    st, _ = d.json("POST", "/v1/services/flap/start")
    assert st == 202
    wait_for(lambda: d.events(0)[-1]["id"] > n_events, timeout=120, interval=0.2,
             what=f"{n_events} events")
    st, _ = d.json("POST", "/v1/services/flap/stop")
    assert st == 202
    d.wait_state("flap", "stopped", timeout=30)


def test_bound_holds_and_since_reaches_past_the_ring(daemon):
    keep = 1200  # more than the 1000 the ring holds
    d = daemon(FLAP % keep)
    flap_until(d, keep + 300)
    last = d.events(0)[-1]["id"]
    ring = d.events(0)
    assert len(ring) == 1000 and ring[0]["id"] == last - 999
    # Past the ring: from state.db, then the ring, in one answer.
    st, body = d.json("GET", f"/v1/events?since={last - keep}&limit=10")
    assert [e["id"] for e in body["events"]] == list(range(last - 9, last + 1))
    older = all_events(d, f"since={last - keep}&until={last - 995}")
    assert [e["id"] for e in older] == list(range(last - keep + 1, last - 995))
    assert all(e["service"] == "flap" for e in older[:-10])
    everything = all_events(d)
    assert [e["id"] for e in everything] == list(range(last - keep + 1, last + 1))
    # The same over a follow stream (NDJSON), which then goes on live.
    c = UnixHTTP(d.sock)
    try:
        c.request("GET", f"/v1/events?follow=1&since={last - keep}&limit=1200")
        resp = c.getresponse()
        assert resp.status == 200
        got = [json.loads(resp.readline())["id"] for _ in range(keep)]
        assert got == list(range(last - keep + 1, last + 1))
        d.json("POST", "/v1/services/web/restart")
        assert json.loads(resp.readline())["id"] == last + 1
    finally:
        c.close()
    d.down()
    rows = stored(d)
    assert len(rows) == keep and rows[-1][1] == "corral_stopped"
    # After a restart the bound still holds, and the oldest left are served.
    d2 = daemon(FLAP % keep)
    events = all_events(d2)
    assert len(events) == keep and events[0]["id"] == events[-1]["id"] - keep + 1
    assert events[0]["id"] > rows[0][0]
    assert len(stored(d2)) == keep


def test_a_locked_database_is_reported_once_and_loses_nothing(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    con = sqlite3.connect(str(d.state / "state.db"), isolation_level=None, timeout=5)
    con.execute("BEGIN IMMEDIATE")
    try:
        last = d.events()[-1]["id"]
        for _ in range(2):
            r = d.cli("restart", "web")
            assert r.returncode == 0, r.stderr  # supervision goes on
        log = d.state / "corral.log"
        wait_for(lambda: re.search(r"could not write \d+ events", log.read_text()), timeout=15,
                 what="the failure in corral.log")
        pid = d.service("web")["pid"]
        assert psutil.Process(pid).is_running()
        during = [e["id"] for e in d.events(last)]
        assert len(during) >= 4
    finally:
        con.execute("ROLLBACK")
        con.close()
    wait_for(lambda: "events are written to state.db again" in log.read_text(), timeout=15,
             what="the recovery in corral.log")
    text = log.read_text()
    assert len(re.findall(r"could not write \d+ events", text)) == 1
    # SQLite's own words, not a guess.
    assert re.search(r"could not write \d+ events to state.db \(database is locked\)", text), text
    d.down()
    ids = [r[0] for r in stored(d)]
    assert set(during) <= set(ids), "the events of the locked time were written later"
    assert ids == list(range(1, len(ids) + 1))


DEPS = """
services:
  db:
    command: [sleep, "1000"]
  web:
    command: [sleep, "1000"]
    depends_on: [db]
"""


def test_a_signal_stop_is_told_in_order(daemon):
    # corral signals the trees before it says anything of the stop: the
    # events must read as they always did all the same.
    d = daemon(DEPS)
    pids = {n: d.wait_state(n, "running")["pid"] for n in ("db", "web")}
    d.ps.terminate()  # psutil checks the create time before it signals
    d.ps.wait(timeout=20)
    kinds = [(k, s) for _, k, s in stored(d)]
    con = sqlite3.connect(f"file:{d.state / 'state.db'}?mode=ro", uri=True)
    try:
        said = [json.loads(j) for (j,) in con.execute(
            "SELECT json FROM event WHERE kind IN ('started', 'stopping') ORDER BY id")]
    finally:
        con.close()
    # Held to the end of their pass, they still name the run they tell of.
    for e in said:
        assert e["pid"] == pids[e["service"]], said
    at = {e: i for i, e in enumerate(kinds)}
    assert at[("shutdown", None)] < at[("stopping", "web")] < at[("stopping", "db")], kinds
    assert at[("stopping", "web")] < at[("stopped", "web")], kinds
    assert at[("stopping", "db")] < at[("stopped", "db")], kinds
    assert kinds[-1] == ("corral_stopped", None), kinds


def test_the_largest_event_id_is_a_bound_not_an_error(daemon):
    # Any u64 is an id bound: 2^64 - 1 is the widest until and a since past
    # every event, not a 400.
    d = daemon(STACK)
    d.wait_state("web", "running")
    ids = [e["id"] for e in all_events(d)]
    st, body = d.json("GET", "/v1/events?since=0&until=18446744073709551615&limit=10000")
    assert st == 200, body
    assert [e["id"] for e in body["events"]] == ids
    st, body = d.json("GET", "/v1/events?since=18446744073709551615")
    assert st == 200 and body["events"] == [] and body["more"] is False, body
    r = d.cli("events", "--json", "--since", "0", "--until", "18446744073709551615")
    assert r.returncode == 0, r.stderr
    assert [json.loads(l)["id"] for l in r.stdout.splitlines()] == ids
    r = d.cli("events", "--since", "18446744073709551615")
    assert r.returncode == 0 and r.stdout == "", r


def test_until_time_at_the_epoch_is_a_bound_not_its_absence(daemon):
    d = daemon(STACK)
    d.wait_state("web", "running")
    assert all_events(d)
    for when in ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"):
        st, body = d.json("GET", f"/v1/events?since=0&until_time={when}")
        assert st == 200 and body["events"] == [] and body["more"] is False, (when, body)
    # As any other until_time, it cannot go with a follow.
    st, body = d.json("GET", "/v1/events?follow=1&until_time=1970-01-01T00:00:00Z")
    assert st == 400 and body["error"]["field"] == "follow", body
    r = d.cli("events", "--until", "1970-01-01T00:00:00Z")
    assert r.returncode == 0 and r.stdout == "", r


def test_a_followed_since_past_the_newest_skips_new_events_up_to_it(daemon):
    # since=ID means the events after ID, live ones too: a follow from past
    # the newest id sends none up to ID, then every one after it.
    d = daemon(STACK)
    d.wait_state("web", "running")
    newest = d.events()[-1]["id"]
    since = newest + 3
    c = UnixHTTP(d.sock)
    try:
        c.request("GET", f"/v1/events?follow=1&since={since}")
        resp = c.getresponse()
        assert resp.status == 200
        while d.events(since)[-1:] == [] or d.events(since)[-1]["id"] < since + 2:
            assert d.cli("restart", "web").returncode == 0
        got = [json.loads(resp.readline())["id"] for _ in range(2)]
    finally:
        c.close()
    assert got == [since + 1, since + 2], (since, got)
