#!/bin/sh
# Install the Debian packages corral needs to build and test, if any is missing.
set -eu
PKGS="meson ninja-build pkg-config gcc clang libclang-rt-14-dev libfyaml-dev libjansson-dev liburing-dev libcmocka-dev libmicrohttpd-dev libcurl4-openssl-dev libsqlite3-dev
python3 python3-pytest python3-psutil python3-pyflakes procps
prometheus"
# prometheus: its promtool parses GET /metrics in tests/integration/test_resources.py.
# Readiness tests: systemd-notify (systemd) and redis-server --supervised systemd.
PKGS="$PKGS systemd redis-server"
# A slow disk for tests/integration/test_slowdisk.py: tests/helpers/stallfs.c is a FUSE file system.
PKGS="$PKGS libfuse3-dev fuse3"
# test_logs.py runs corral where io_uring_setup is refused, as in many containers.
PKGS="$PKGS python3-seccomp"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    if [ "$(id -u)" != 0 ]; then
        echo "corral: run as root (or install these packages yourself):$missing" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
