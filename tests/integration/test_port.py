"""corral port: who holds a port, for TCP and UDP over IPv4 and IPv6, checked
against sockets the test opens itself and against a service corral runs."""
import json
import os
import socket
import subprocess

import psutil

from conftest import CORRAL, wait_for

HOLDER = r"""
import socket, sys, time
kinds = {"tcp": (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"),
         "tcp6": (socket.AF_INET6, socket.SOCK_STREAM, "::1"),
         "udp": (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1"),
         "udp6": (socket.AF_INET6, socket.SOCK_DGRAM, "::1")}
held = []
for k in sys.argv[1:]:
    fam, typ, addr = kinds[k]
    s = socket.socket(fam, typ)
    s.bind((addr, 0))
    if typ == socket.SOCK_STREAM:
        s.listen()
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held), flush=True)
time.sleep(600)
"""


def port_json(*ports):
    r = subprocess.run([CORRAL, "port", "--json", *map(str, ports)], capture_output=True,
                       text=True, timeout=30)
    return r.returncode, json.loads(r.stdout)["holders"]


def test_finds_tcp_and_udp_on_v4_and_v6():
    kinds = ["tcp", "tcp6", "udp", "udp6"]
    p = subprocess.Popen(["/usr/bin/python3", "-c", HOLDER, *kinds], stdout=subprocess.PIPE,
                         text=True)
    try:
        ports = [int(x) for x in p.stdout.readline().split()]
        rc, holders = port_json(*ports)
        assert rc == 0
        got = {(h["port"], h["proto"]): h for h in holders}
        for kind, port in zip(kinds, ports):
            h = got[(port, kind)]
            assert h["pid"] == p.pid
            assert h["address"] == ("::1" if kind.endswith("6") else "127.0.0.1")
            assert h["user"] == "root" and "python3" in h["command"]
            assert h["service"] is None
        r = subprocess.run([CORRAL, "port", str(ports[0])], capture_output=True, text=True)
        row = r.stdout.splitlines()[1].split()
        assert row[:4] == [str(ports[0]), "tcp", "127.0.0.1", str(p.pid)]
    finally:
        p.kill()
        p.wait()


def test_a_free_port_and_a_connection_are_not_holders():
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen()
        port = ls.getsockname()[1]
        c = socket.create_connection(("127.0.0.1", port))
        a, _ = ls.accept()
        rc, holders = port_json(port, c.getsockname()[1])
        assert rc == 1  # the client's ephemeral port is not held by a listener
        assert [(h["port"], h["pid"]) for h in holders] == [(port, os.getpid())]
        a.close()
        c.close()
    rc, holders = port_json(port)
    assert rc == 1 and holders == []
    r = subprocess.run([CORRAL, "port", "--json", str(port)], capture_output=True, text=True)
    assert json.loads(r.stdout)["free"] == [port]  # said, not only by the exit status
    r = subprocess.run([CORRAL, "port", str(port)], capture_output=True, text=True)
    assert f"{port:<6} free" in r.stdout
    for bad in (["0"], ["65536"], ["http"], []):
        assert subprocess.run([CORRAL, "port", *bad], capture_output=True).returncode == 2


def test_names_the_corral_service(corral, tmp_path):
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    c = corral(f"""
services:
  web:
    command: [/usr/bin/python3, '{script}', tcp]
""")
    pid = wait_for(lambda: c.pids("web"), what="web up")[0]
    wait_for(lambda: psutil.Process(pid).connections(kind="tcp"), what="web listening")
    port = psutil.Process(pid).connections(kind="tcp")[0].laddr.port
    rc, holders = port_json(port)
    assert rc == 0 and len(holders) == 1
    assert holders[0]["pid"] == pid and holders[0]["service"] == "web"
    assert holders[0]["instance"] == c.instance
