#!/usr/bin/env bash
# The test command: installs what is missing (Debian 12), builds with ASan+UBSan, starts a
# throwaway PostgreSQL, runs every test through ctest, stops what it started.
#   deploy/test.sh              the full suite (what CI runs)
#   deploy/test.sh --tsan       ThreadSanitizer build of the concurrency tests (label "threads")
#   deploy/test.sh --valgrind   unit tests under valgrind (plain build)
#   deploy/test.sh --fuzz SECS  every libFuzzer target for SECS seconds each (clang)
#   deploy/test.sh --bench      the benchmarks in tests/bench (Release build), figures on stdout
# Exit status: 0 when everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=test
fuzz_secs=0
case "${1:-}" in
"") ;;
--tsan) mode=tsan ;;
--valgrind) mode=valgrind ;;
--fuzz)
    mode=fuzz
    fuzz_secs=${2:-}
    case "$fuzz_secs" in
    "" | *[!0-9]*) echo "test.sh: --fuzz takes a number of seconds" >&2; sed -n '2,9p' "$0" >&2; exit 2 ;;
    esac
    ;;
--bench) mode=bench ;;
-h|--help) sed -n '2,9p' "$0"; exit 0 ;;
*) echo "test.sh: unknown option '$1'" >&2; sed -n '2,9p' "$0" >&2; exit 2 ;;
esac

case "$mode" in
bench) bash deploy/deps.sh test bench ;;
valgrind) bash deploy/deps.sh test valgrind ;;
*) bash deploy/deps.sh test ;;
esac

jobs=$(nproc)

# A throwaway PostgreSQL for the tests, in a folder the postgres user can reach.
pg_dir=""
cleanup() {
    if [ -n "$pg_dir" ]; then
        bash "$root/deploy/pg.sh" stop "$pg_dir"
        rm -rf "$pg_dir"
    fi
}
trap cleanup EXIT
start_pg() {
    pg_dir=$(mktemp -d /tmp/wegate-test-pg.XXXXXX)
    chmod 0755 "$pg_dir"
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    bash deploy/pg.sh init "$pg_dir"
    bash deploy/pg.sh start "$pg_dir" "$port"
    export WG_TEST_PG_DIR="$pg_dir" WG_TEST_PG_PORT="$port"
    export WG_TEST_PG_URL="postgresql://wegate@127.0.0.1:$port/wegate"
    bash deploy/pg.sh createdb "$pg_dir" "$port" wegate
    echo "test.sh: PostgreSQL on 127.0.0.1:$port ($pg_dir)"
}

configure_build() { # dir, cmake args...
    local dir=$1
    shift
    cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
}

case "$mode" in
test)
    if command -v clang-format >/dev/null; then
        bad=$(git ls-files '*.c' '*.h' 2>/dev/null | xargs -r clang-format --dry-run -Werror 2>&1 | grep -c 'error:' || true)
        if [ "$bad" != 0 ]; then
            git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror 2>&1 | head -20
            echo "test.sh: clang-format: $bad places to fix (clang-format -i FILE)" >&2
            exit 1
        fi
    fi
    configure_build build/asan -DCMAKE_BUILD_TYPE=Debug -DWG_SANITIZE=ON
    # The Release build too: -O3 warns about things -O0 does not (and -Werror stops on them).
    configure_build build/release -DCMAKE_BUILD_TYPE=Release
    start_pg
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    ctest --test-dir build/asan --output-on-failure -j "$jobs" --timeout 600
    ;;
tsan)
    configure_build build/tsan -DCMAKE_BUILD_TYPE=Debug -DWG_TSAN=ON
    start_pg
    export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
    ctest --test-dir build/tsan --output-on-failure -L threads --timeout 900
    ;;
valgrind)
    configure_build build/plain -DCMAKE_BUILD_TYPE=Debug
    start_pg
    export WG_VALGRIND=1
    ctest --test-dir build/plain --output-on-failure -L unit --timeout 1800 \
        -T memcheck --overwrite MemoryCheckCommandOptions="--leak-check=full --error-exitcode=99 --errors-for-leak-kinds=definite"
    ;;
fuzz)
    CC=clang CXX=clang++ configure_build build/fuzz -DCMAKE_BUILD_TYPE=Debug -DWG_SANITIZE=ON -DWG_FUZZ=ON
    status=0
    while IFS=: read -r bin corpus; do
        [ -n "$bin" ] || continue
        work=$(mktemp -d)
        cp -r "$corpus"/. "$work"/
        echo "== $bin ($fuzz_secs s)"
        "$bin" -max_total_time="$fuzz_secs" -max_len=65536 "$work" || status=1
        rm -rf "$work"
    done <build/fuzz/fuzzers.txt
    exit $status
    ;;
bench)
    configure_build build/release -DCMAKE_BUILD_TYPE=Release
    start_pg
    export WG_BUILD="$root/build/release"
    for b in tests/bench/*/run.sh; do
        echo "== $b"
        bash "$b"
    done
    ;;
esac
