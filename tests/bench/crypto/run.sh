#!/usr/bin/env bash
# Crypto hot-path benchmark: library verify + decrypt vs raw OpenSSL, median ns/op.
#   bash tests/bench/crypto/run.sh [N [RUNS]]
# Uses the Release build in $WG_BUILD (deploy/test.sh --bench sets it), else build/release;
# builds bench_crypto there if it is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${WG_BUILD:-$root/build/release}
bin=$build/tests/bench/crypto/bench_crypto
if [ ! -f "$build/CMakeCache.txt" ]; then
    echo "run.sh: no build in $build (set WG_BUILD to a Release build dir)" >&2
    exit 2
fi
type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
if [ "$type" != Release ]; then
    echo "run.sh: warning: $build is a '$type' build, figures are not representative" >&2
fi
if [ ! -x "$bin" ]; then
    cmake --build "$build" --target bench_crypto >&2
fi
exec "$bin" "$@"
