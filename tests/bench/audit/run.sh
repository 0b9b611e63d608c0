#!/usr/bin/env bash
# The audit engine's benchmark (issue 5). From the repository root, with WG_BUILD a Release build
# directory (deploy/test.sh --bench sets it):   bash tests/bench/audit/run.sh
# Generates its data once under $WG_BUILD/bench-audit-data: 10,000 random simplified Chinese
# words of 2-4 characters, 64 MB of chat messages of about 60 bytes with a word planted in 10%
# of them, and a 50,000-word set. Then, in one run: the full engine (`wegate rules bench`,
# normalization included), a raw hs_scan of the same words over the same messages (the limit),
# the Node.js Aho-Corasick filters (npm ahocorasick and mint-filter, installed under
# $WG_BUILD/bench-node), the compile time of 50,000 words, and the resident memory of a process
# holding the 50,000-word set loaded from its compiled file. Prints a table with ratios; exits
# 1 when the contenders disagree on how many messages hit.
set -euo pipefail
build=${WG_BUILD:?set WG_BUILD to a Release build directory}
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
jobs=${WG_BENCH_JOBS:-2}

# WG_BENCH_NO_BUILD=1: use the binaries already in $WG_BUILD
if [ -z "${WG_BENCH_NO_BUILD:-}" ]; then
    cmake --build "$build" -j "$jobs" --target wegate audit_bench_gen audit_bench_hs audit_bench_rss >/dev/null
fi
wegate=$build/gateway/wegate
bin=$build/tests/bench/audit
data=$build/bench-audit-data
mkdir -p "$data"

if [ ! -s "$data/corpus.txt" ] || [ ! -s "$data/words50k.json" ]; then
    echo "generating benchmark data in $data"
    "$bin/audit_bench_gen" words 10000 1 "$data/words.txt" "$data/words.json"
    "$bin/audit_bench_gen" words 50000 2 "$data/words50k.txt" "$data/words50k.json"
    "$bin/audit_bench_gen" corpus "$data/words.txt" 67108864 0.10 3 "$data/corpus.txt.part"
    mv "$data/corpus.txt.part" "$data/corpus.txt"
fi

node_dir=$build/bench-node
if [ ! -d "$node_dir/node_modules/ahocorasick" ] || [ ! -d "$node_dir/node_modules/mint-filter" ]; then
    echo "installing the Node.js filters in $node_dir"
    mkdir -p "$node_dir"
    [ -f "$node_dir/package.json" ] || echo '{"name": "wegate-bench-node", "private": true}' >"$node_dir/package.json"
    npm install --prefix "$node_dir" --no-audit --no-fund ahocorasick@1.0.2 mint-filter@4.0.3 >/dev/null
fi

last() { tail -n 1 "$1"; }
field() { echo "$1" | awk -v i="$2" '{print $i}'; }

echo "== full engine: wegate rules bench"
"$wegate" rules bench "$data/words.json" "$data/corpus.txt" | tee "$data/engine.out"
echo "== raw hs_scan"
"$bin/audit_bench_hs" scan "$data/words.txt" "$data/corpus.txt" | tee "$data/raw.out"
echo "== Node.js filters ($(node --version))"
node "$here/bench_node.js" "$node_dir/node_modules" "$data/words.txt" "$data/corpus.txt" | tee "$data/node.out"
echo "== 50,000 words: compile"
"$bin/audit_bench_hs" compile "$data/words50k.txt" | tee "$data/compile_raw.out"
"$wegate" rules check "$data/words50k.json" | tee "$data/compile_engine.out"
"$wegate" rules compile "$data/words50k.json" -o "$data/words50k.wgc" >/dev/null
echo "== 50,000 words: resident memory"
"$bin/audit_bench_rss" load "$data/words50k.wgc" | tee "$data/rss_load.out"
"$bin/audit_bench_rss" compile "$data/words50k.json" | tee "$data/rss_compile.out"

engine=$(last "$data/engine.out")
raw=$(last "$data/raw.out")
ac=$(grep '^ahocorasick: .* hits$' "$data/node.out" | sed 's/^ahocorasick: //')
mint=$(grep '^mint-filter: .* hits$' "$data/node.out" | sed 's/^mint-filter: //')
e_mbs=$(field "$engine" 1)
e_hits=$(field "$engine" 5)
compile_s=$(sed -n 's/.*compiled in \([0-9.]*\) ms.*/\1/p' "$data/compile_engine.out" | awk '{printf "%.2f", $1 / 1000}')
raw_compile_s=$(sed -n 's/.*compiled in \([0-9.]*\) s.*/\1/p' "$data/compile_raw.out")
rss_before=$(awk '{print $2}' "$data/rss_load.out")
rss_after=$(awk '{print $4}' "$data/rss_load.out")
rss_compiled=$(awk '{print $4}' "$data/rss_compile.out")

echo
echo "== audit engine: 10,000 words over $(wc -l <"$data/corpus.txt") messages ($(stat -c %s "$data/corpus.txt") bytes)"
printf '%-22s %10s %12s %18s %14s\n' contender MB/s msg/s "messages hit" "engine / it"
row() { # name, line
    printf '%-22s %10s %12s %18s %14s\n' "$1" "$(field "$2" 1)" "$(field "$2" 3)" "$(field "$2" 5)" \
        "$(awk -v e="$e_mbs" -v x="$(field "$2" 1)" 'BEGIN{printf "%.2fx", e / x}')"
}
row "wegate (full engine)" "$engine"
row "raw hs_scan" "$raw"
row "node ahocorasick" "$ac"
row "node mint-filter" "$mint"
echo
status=0
for c in "$raw" "$ac" "$mint"; do
    if [ "$(field "$c" 5)" != "$e_hits" ]; then
        echo "hit counts differ: engine $e_hits, other $(field "$c" 5)"
        status=1
    fi
done
[ $status = 0 ] && echo "hit counts: all equal ($e_hits messages)"
awk -v e="$e_mbs" -v r="$(field "$raw" 1)" -v a="$(field "$ac" 1)" -v m="$(field "$mint" 1)" \
    -v c="$compile_s" -v rc="$raw_compile_s" -v b="$rss_before" -v l="$rss_after" -v x="$rss_compiled" 'BEGIN {
    pct = 100 * e / r
    fast = (a > m) ? a : m
    ratio = e / fast
    grow = (l - b) / 1024
    printf "share of raw hs_scan: %.0f%% (goal 60%%, moonshot 80%%): %s\n", pct, ((pct >= 60) ? "met" : "MISSED")
    printf "vs the faster Node filter: %.1fx (goal 30x): %s\n", ratio, ((ratio >= 30) ? "met" : "MISSED")
    printf "50,000 words: engine compile %.2f s (raw Hyperscan alone %.2f s; goal under 5 s): %s\n", c, rc, ((c < 5) ? "met" : "MISSED")
    printf "resident memory: %.1f MB before, %.1f MB holding the 50,000-word set loaded from its compiled file (+%.1f MB; goal within 32 MB): %s\n", b / 1024, l / 1024, grow, ((grow <= 32) ? "met" : "MISSED")
    printf "(the same set compiled in the process instead: %.1f MB resident)\n", x / 1024
}'
exit $status
