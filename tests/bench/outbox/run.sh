#!/usr/bin/env bash
# Outbox benchmark (issue 6): notifications per second from committed outbox rows to the fake
# WeCom server's receipt (webhook channel, loopback TLS with certificate verification, keep-alive),
# beside wrk posting the same body and headers to the same fake in the same run; every delivery
# checked (each key exactly once, every signature valid). Details and knobs: bench.py.
#
#   bash tests/bench/outbox/run.sh    (from the repo root; deploy/test.sh --bench runs it)
# Needs: $WG_BUILD (a Release build dir with wegate and fake_wecom), WG_TEST_PG_DIR /
# WG_TEST_PG_PORT (deploy/test.sh), wrk, cc.
# BENCH_NODELAY: "fake" (default) runs fake_wecom with TCP_NODELAY forced (nodelay_preload.c:
# the fake does not set it, and its 40 ms delayed-ACK stalls would cap wrk and the gateway
# alike); "both" forces it in the gateway too (what the missing TCP_NODELAY in connectors/http
# costs); "none" runs everything as built.
# Exit status 1 on a lost or doubled delivery, a bad signature or a setup failure; a missed goal
# is reported, not failed.
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${WG_BUILD:?set WG_BUILD to a Release build dir (deploy/test.sh --bench does)}"
: "${WG_TEST_PG_DIR:?set WG_TEST_PG_DIR and WG_TEST_PG_PORT (deploy/test.sh --bench does)}"
: "${WG_TEST_PG_PORT:?}"
mode=${BENCH_NODELAY:-fake}
shim_dir=$(mktemp -d /tmp/wegate-bench-outbox-shim.XXXXXX)
trap 'rm -rf "$shim_dir"' EXIT
shim="$shim_dir/nodelay.so"
cc -shared -fPIC -O2 -o "$shim" tests/bench/outbox/nodelay_preload.c -ldl
case "$mode" in
fake) export BENCH_FAKE_PRELOAD="$shim" ;;
both) export BENCH_FAKE_PRELOAD="$shim" BENCH_GW_PRELOAD="$shim" ;;
none) ;;
*) echo "run.sh: BENCH_NODELAY is fake, both or none" >&2; exit 2 ;;
esac
echo "outbox bench: TCP_NODELAY forced in: $mode"
python3 tests/bench/outbox/bench.py
