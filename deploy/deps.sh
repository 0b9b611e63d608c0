#!/usr/bin/env bash
# Installs the Debian 12 packages wegate needs (only those missing). Used by test.sh and
# quickstart.sh.   deploy/deps.sh [build|test|bench|valgrind]...
set -euo pipefail

pkgs_build="build-essential cmake ninja-build pkg-config libssl-dev libevent-dev libxml2-dev
  libjansson-dev libhyperscan-dev libpcre2-dev libpq-dev libopencc-data opencc
  postgresql postgresql-client ca-certificates curl"
pkgs_test="clang libclang-rt-dev python3 clang-format openssl"
pkgs_bench="wrk"
# Node.js and npm (the peers the benchmarks compare with): Debian's packages unless the machine
# already has both commands (a Node.js installed otherwise conflicts with Debian's npm).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    pkgs_bench="$pkgs_bench nodejs npm"
fi
pkgs_valgrind="valgrind"

want=""
for set in "${@:-build}"; do
    case "$set" in
    build) want="$want $pkgs_build" ;;
    test) want="$want $pkgs_build $pkgs_test" ;;
    bench) want="$want $pkgs_bench" ;;
    valgrind) want="$want $pkgs_valgrind" ;;
    *) echo "deps.sh: unknown set '$set'" >&2; exit 2 ;;
    esac
done

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install:$missing" >&2; exit 1; }
    sudo="sudo"
fi
echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Debian starts a cluster of its own on install; ours are private, so leave it alone but do not
# depend on it.
