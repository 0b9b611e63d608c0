#!/usr/bin/env bash
# Outbox benchmark (issue 6): notifications per second from committed outbox rows to the fake
# WeCom server's receipt (webhook channel, loopback TLS with certificate verification, keep-alive),
# beside wrk posting the same body and headers to the same fake in the same run; every delivery
# checked (each key exactly once, every signature valid). Details and knobs: bench.py.
#
#   bash tests/bench/outbox/run.sh    (from the repo root; deploy/test.sh --bench runs it)
# Needs: $WG_BUILD (a Release build dir with wegate and fake_wecom), WG_TEST_PG_DIR /
# WG_TEST_PG_PORT (deploy/test.sh), wrk.
# Exit status 1 on a lost or doubled delivery, a bad signature or a setup failure; a missed goal
# is reported, not failed.
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${WG_BUILD:?set WG_BUILD to a Release build dir (deploy/test.sh --bench does)}"
: "${WG_TEST_PG_DIR:?set WG_TEST_PG_DIR and WG_TEST_PG_PORT (deploy/test.sh --bench does)}"
: "${WG_TEST_PG_PORT:?}"
python3 tests/bench/outbox/bench.py
