#!/bin/sh
# One command for every test: install what is missing, build the normal, clang
# and ASan+UBSan flavours, run the cmocka unit tests in each, and the pytest
# integration suite against the normal and the sanitizer build.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh

build() { # dir, compiler, then meson options
    dir=$1
    cc=$2
    shift 2
    if [ ! -f "$dir/build.ninja" ]; then
        rm -rf "$dir"
        CC=$cc meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; exit 1; }
        rm -f "$dir.setup.log"
    fi
    ninja -C "$dir" >"$dir.ninja.log" 2>&1 || { cat "$dir.ninja.log"; exit 1; }
    rm -f "$dir.ninja.log"
}
build build gcc
build build-clang clang
build build-san gcc -Db_sanitize=address,undefined -Db_lundef=false

unit_pass=0
unit_fail=0
for dir in build build-clang build-san; do
    for t in "$dir"/test_*; do
        [ -f "$t" ] && [ -x "$t" ] || continue
        echo "== $t"
        if out=$("$t" 2>&1); then
            unit_pass=$((unit_pass + 1))
        else
            unit_fail=$((unit_fail + 1))
        fi
        printf '%s\n' "$out" | grep -E '^\[  (PASSED|FAILED|  OK  |  ERROR  )|FAILED|ERROR' || true
    done
done
echo "unit test programs: $unit_pass passed, $unit_fail failed"

# Short libFuzzer runs over the config parser and the API's request
# handling: any input gives an answer, never a crash, a hang or a leak.
build build-fuzz clang -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dtests=disabled
fuzz_fail=0
for target in config route; do
    corpus=$(mktemp -d)
    cp tests/fuzz/corpus/$target/* "$corpus"/
    if ./build-fuzz/fuzz_$target -max_total_time=15 -max_len=4096 -print_final_stats=0 \
        "$corpus" >"$corpus.log" 2>&1; then
        echo "fuzz_$target: $(grep -Eo 'Done [0-9]+ runs' "$corpus.log"), 0 crashes"
    else
        tail -40 "$corpus.log"
        echo "fuzz_$target: FAILED"
        fuzz_fail=1
    fi
    rm -rf "$corpus" "$corpus.log"
done

status=0
[ "$unit_fail" = 0 ] && [ "$fuzz_fail" = 0 ] || status=1
# The Python of the tests and benchmarks: no unused name, no misspelt one.
if /usr/bin/python3 -m pyflakes tests bench; then
    echo "pyflakes: 0 problems"
else
    status=1
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=98
for dir in build build-san; do
    echo "== integration tests against $dir/corral"
    CORRAL_BIN="$PWD/$dir/corral" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
        tests/integration "$@" || status=1
done
exit $status
