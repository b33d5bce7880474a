#!/bin/sh
# One command for day one: install what is missing, build, run the demo stack.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build corral >/dev/null
echo "corral: demo stack from examples/corral.yaml — open http://127.0.0.1:8000/ ; Ctrl-C stops everything"
exec ./build/corral up -f examples/corral.yaml "$@"
