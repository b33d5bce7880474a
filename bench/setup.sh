#!/bin/sh
# bench/setup.sh — install the anchors the benchmark compares corral with
# (supervisord, runit, s6 from Debian; PM2 from npm into bench/.work) and
# build the C helpers (floor, stamp, flood, reqfloor, recfloor) with meson into build-bench/.
#
# Services are never started by the package install: a policy-rc.d that
# refuses (exit 101) is put in place for the apt run if none exists. The
# benchmark starts its own private instances in temporary directories.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
work="$here/.work"
mkdir -p "$work"

need_apt=
for b in supervisord runsvdir runsv sv svlogd s6-svscan s6-svc s6-log node npm meson ninja gcc \
    pkg-config wrk; do
    command -v "$b" >/dev/null 2>&1 || need_apt=1
done
/usr/bin/python3 -c 'import psutil' 2>/dev/null || need_apt=1
pkg-config --exists libfyaml jansson libmicrohttpd libcurl 2>/dev/null || need_apt=1
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/libc.a ] || need_apt=1
# Node.js and npm from elsewhere (NodeSource's nodejs bundles npm, and
# conflicts with Debian's npm) are used as they are.
node_pkgs=
command -v node >/dev/null 2>&1 || node_pkgs=nodejs
command -v npm >/dev/null 2>&1 || node_pkgs="$node_pkgs npm"
if [ -n "$need_apt" ]; then
    made_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    # 'apt-get update' is only needed on a fresh machine; keep going if the
    # lists are already there and the update fails.
    apt-get update -q || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        supervisor runit s6 python3-psutil $node_pkgs meson ninja-build gcc libc6-dev \
        pkg-config libfyaml-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev wrk
    if [ -n "$made_policy" ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
fi

if [ ! -x "$work/node_modules/.bin/pm2" ]; then
    npm install --prefix "$work" --no-audit --no-fund --loglevel=error pm2
fi

cd "$root"
if [ ! -d build-bench ]; then
    meson setup build-bench -Dbench=true -Dtests=disabled
fi
ninja -C build-bench floor stamp flood reqfloor recfloor

# Versions without running pm2: any pm2 command starts a daemon in ~/.pm2.
pm2_version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$work/node_modules/pm2/package.json" | head -n1)
echo "setup: supervisord $(supervisord --version 2>/dev/null || echo '?'), pm2 ${pm2_version:-?}," \
    "runit $(dpkg-query -W -f='${Version}' runit 2>/dev/null || echo '?')," \
    "s6 $(dpkg-query -W -f='${Version}' s6 2>/dev/null || echo '?')"
