#!/usr/bin/env bash
# Callback benchmark (issue 4): durable callbacks per second through `wegate serve`, beside a bare
# evhttp server answering 200 (the ceiling) and the typical peer stack (Node.js + @wecom/crypto +
# pg, one INSERT per callback), in the same run on the same PostgreSQL. wrk posts distinct
# pre-encrypted callbacks (gen_callbacks); the table is emptied before each run, and every
# answered callback must be in it afterwards. Per run it prints req/s, p50/p99/max latency,
# errors, answered vs rows, the group-commit batch sizes (read from the table: rows committed by
# one transaction share xmin) and where the CPU went (wrk, server, PostgreSQL, irq/softirq, and
# other processes, which skew a run); then the medians and the goals of issue 4.
#
#   bash tests/bench/callback/run.sh    (from the repo root; deploy/test.sh --bench runs it)
# Needs: $WG_BUILD (a Release build dir) and WG_TEST_PG_DIR/WG_TEST_PG_PORT (deploy/test.sh).
# Knobs: BENCH_SECS (10) per run, BENCH_RUNS (3), BENCH_CONNS (64 wrk connections),
#   BENCH_WRK_THREADS (2), BENCH_CALLBACKS (400000 distinct callbacks), BENCH_WORKERS (2 gateway
#   threads), BENCH_LOG_LEVEL (warn), BENCH_ONLY ("bare wegate node").
# Exit status: 1 when a contestant stored fewer rows than it answered or the setup failed;
# goals missed are reported, not failed.
# shellcheck disable=SC2046,SC2154,SC2317 # pid lists split on purpose; w_* set by eval; traps
set -euo pipefail
cd "$(dirname "$0")/../../.."

: "${WG_BUILD:?set WG_BUILD to a Release build dir (deploy/test.sh --bench does)}"
: "${WG_TEST_PG_DIR:?set WG_TEST_PG_DIR and WG_TEST_PG_PORT (deploy/test.sh --bench does)}"
: "${WG_TEST_PG_PORT:?}"
secs=${BENCH_SECS:-10}
runs=${BENCH_RUNS:-3}
conns=${BENCH_CONNS:-64}
wrk_threads=${BENCH_WRK_THREADS:-2}
pool=${BENCH_CALLBACKS:-400000}
workers=${BENCH_WORKERS:-2}
log_level=${BENCH_LOG_LEVEL:-warn}
only=${BENCH_ONLY:-bare wegate node}

wegate="$WG_BUILD/gateway/wegate"
gen="$WG_BUILD/tests/integration/gen_callbacks"
bare="$WG_BUILD/tests/bench/callback/bench_bare_server"
for b in "$wegate" "$gen" "$bare"; do
    [ -x "$b" ] || { echo "run.sh: $b missing: build $WG_BUILD first" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "run.sh: wrk missing (deploy/deps.sh bench)" >&2; exit 1; }

psql_bin=$(command -v psql || echo "$(pg_config --bindir)/psql")
token=QDG6eK
aes_key=jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C
corp_id=wx5823bf96d3bd56c7
path=/wecom/demo/callback
hz=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/wegate-bench-callback.XXXXXX)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() { # port: until something answers HTTP there
    for _ in $(seq 1 300); do
        if curl -s -o /dev/null "http://127.0.0.1:$1/healthz"; then return 0; fi
        kill -0 "$server_pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
sql() { # db, sql
    "$psql_bin" -X -q -A -t -v ON_ERROR_STOP=1 -d "postgresql://wegate@127.0.0.1:$WG_TEST_PG_PORT/$1" -c "$2"
}
# CPU ticks (user + system) of the given pids that are still alive.
ticks() {
    local total=0 pid f
    for pid in "$@"; do
        f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        f=${f##*) }
        # shellcheck disable=SC2086
        set -- $f
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}
children_of() { # pid: it and its children (from /proc, no procps needed)
    local f line rest
    echo "$1"
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue # processes come and go
        rest=${line##*) }
        rest=${rest#* }
        if [ "${rest%% *}" = "$1" ]; then
            f=${f#/proc/}
            echo "${f%/stat}"
        fi
    done
}
pg_pids() { children_of "$(head -n 1 "$WG_TEST_PG_DIR/data/postmaster.pid")"; }

# --- the callbacks: one pool, split into pre-formatted requests per wrk thread
echo "callback bench: generating $pool distinct callbacks"
t0=$(date +%s.%N)
"$gen" --token "$token" --aes-key "$aes_key" --receive-id "$corp_id" -n "$pool" \
    --template tests/data/integration/load_event.xml >"$work/callbacks.tsv"
awk -v n="$wrk_threads" -v out="$work/req" -v path="$path" 'BEGIN { FS = "\t" }
    { r = "POST " path "?" $1 " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n" \
          "Content-Length: " length($2) "\r\n\r\n" $2
      printf "%08d%s", length(r), r > (out "." ((NR - 1) % n)) }' "$work/callbacks.tsv"
body_bytes=$(head -n 1 "$work/callbacks.tsv" | cut -f 2 | tr -d '\n' | wc -c)
rm -f "$work/callbacks.tsv"
echo "callback bench: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s; body $body_bytes bytes"

# --- databases: one per contestant, both with wegate's schema
for db in wgbench_wegate wgbench_node; do
    bash deploy/pg.sh createdb "$WG_TEST_PG_DIR" "$WG_TEST_PG_PORT" "$db"
done
write_config() { # file port db
    cat >"$1" <<EOF
{
  "listen": "127.0.0.1:$2",
  "workers": $workers,
  "log_level": "$log_level",
  "database": {"url": "postgresql://wegate@127.0.0.1:$WG_TEST_PG_PORT/$3"},
  "corps": [{"name": "demo", "corp_id": "$corp_id", "token": "$token",
             "encoding_aes_key": "$aes_key", "agent_id": 1000002}]
}
EOF
}
write_config "$work/node-schema.json" 1 wgbench_node
"$wegate" migrate --config "$work/node-schema.json" >/dev/null

# --- the Node peer's packages, installed once into the build dir
node_dir="$WG_BUILD/bench-node"
if [[ " $only " == *" node "* ]] && { [ ! -d "$node_dir/node_modules/@wecom/crypto" ] ||
    [ ! -d "$node_dir/node_modules/pg" ]; }; then
    mkdir -p "$node_dir"
    [ -f "$node_dir/package.json" ] || echo '{"private": true}' >"$node_dir/package.json"
    echo "callback bench: npm install @wecom/crypto pg into $node_dir"
    npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error @wecom/crypto pg >&2
fi

start_server() { # name port
    case "$1" in
    bare) "$bare" "$2" "$workers" 2>"$work/bare.log" & ;;
    wegate)
        write_config "$work/wegate.json" "$2" wgbench_wegate
        "$wegate" serve --config "$work/wegate.json" 2>"$work/wegate.log" &
        ;;
    node)
        NODE_PATH="$node_dir/node_modules" node tests/bench/callback/peer.js "$2" \
            "postgresql://wegate@127.0.0.1:$WG_TEST_PG_PORT/wgbench_node" "$token" "$aes_key" \
            "$corp_id" 2>"$work/node.log" &
        ;;
    esac
    server_pid=$!
    if ! wait_port "$2"; then
        echo "run.sh: $1 did not start:" >&2
        tail -n 20 "$work/$1.log" >&2
        exit 1
    fi
    if [ "$1" = wegate ]; then # serve answers /healthz before the database is ready
        for _ in $(seq 1 100); do
            [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/readyz")" = 200 ] && break
            sleep 0.1
        done
    fi
}
stop_server() {
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# Busy ticks of the whole machine (all CPUs, from /proc/stat): what the contestants did not use
# of it went to other processes, which skews a run.
# Process time (user, nice, system) and interrupt time (irq, softirq: mostly the loopback TCP
# traffic itself, which no process is charged for) separately.
machine_busy() { awk '$1 == "cpu" { print $2 + $3 + $4, $7 + $8 }' /proc/stat; }

# CPU (user + sys, in ticks) of this shell's finished children, from `times`; run in this
# shell, not in a $(...) subshell, whose counters start at zero.
child_ticks() { # variable to set
    times >"$work/times"
    printf -v "$1" '%s' "$(tail -n 1 "$work/times" | awk -v hz="$hz" '{
        n = 0
        for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); n += a[1] * 60 + a[2] }
        printf "%d", n * hz }')"
}

status=0
results="$work/results"
: >"$results"
for name in $only; do
    case "$name" in bare) db="" ;; wegate) db=wgbench_wegate ;; node) db=wgbench_node ;;
    *) echo "run.sh: unknown contestant $name" >&2; exit 2 ;; esac
    port=$(free_port)
    start_server "$name" "$port"
    # Warm-up (not counted): JITs, connection pools, caches.
    wrk -t "$wrk_threads" -c "$conns" -d 2s --timeout 10s -s tests/bench/callback/callbacks.lua \
        "http://127.0.0.1:$port" -- "$work/req" >/dev/null
    for r in $(seq 1 "$runs"); do
        if [ -n "$db" ]; then
            sql "$db" "truncate callback_events"
            sql "$db" "checkpoint" >/dev/null
        fi
        srv_pids=$(children_of "$server_pid")
        pgp=$(pg_pids)
        # shellcheck disable=SC2086
        s0=$(ticks $srv_pids) p0=$(ticks $pgp)
        read -r m0 i0 < <(machine_busy)
        child_ticks w0
        out=$(wrk -t "$wrk_threads" -c "$conns" -d "${secs}s" --timeout 10s \
            -s tests/bench/callback/callbacks.lua "http://127.0.0.1:$port" -- "$work/req")
        child_ticks w1
        # shellcheck disable=SC2086
        s1=$(ticks $srv_pids) p1=$(ticks $(pg_pids))
        read -r m1 i1 < <(machine_busy)
        line=$(grep '^WRK ' <<<"$out") || { echo "$out" >&2; exit 1; }
        eval "$(sed 's/^WRK //; s/ /\n/g' <<<"$line" | sed 's/^/w_/')"
        answered=$((w_requests - w_status))
        errors=$((w_connect + w_read + w_write + w_status + w_timeout))
        rows=-
        batches=""
        if [ -n "$db" ]; then
            sleep 0.5 # let in-flight requests that wrk stopped waiting for finish
            rows=$(sql "$db" "select count(*) from callback_events")
            # Batch sizes straight from the table: rows committed by one transaction share xmin.
            batches=$(sql "$db" "select b, count(*), sum(n) from (select n, case when n = 1 then '1'
                when n < 4 then '2-3' when n < 8 then '4-7' when n < 16 then '8-15'
                when n < 32 then '16-31' when n < 64 then '32-63' when n < 128 then '64-127'
                else '128+' end b from (select count(*) n from callback_events group by xmin::text) x) y
                group by b order by min(n)" | awk -F'|' '{ printf "%s%s:%s txns/%s rows", sep, $1, $2, $3; sep = ", " }')
            mean_batch=$(sql "$db" "select round(avg(n), 1) from (select count(*) n from callback_events group by xmin::text) x")
            if [ "$rows" -lt "$answered" ]; then
                echo "FAIL: $name run $r: $rows rows < $answered answered" >&2
                status=1
            fi
        fi
        dur=$(awk -v d="$w_duration_us" 'BEGIN { printf "%.2f", d / 1e6 }')
        rps=$(awk -v n="$w_requests" -v d="$w_duration_us" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
        cpu=$(awk -v hz="$hz" -v d="$dur" -v w=$((w1 - w0)) -v s=$((s1 - s0)) -v p=$((p1 - p0)) \
            -v m=$((m1 - m0)) -v i=$((i1 - i0)) 'BEGIN { o = m - w - s - p; if (o < 0) o = 0
                printf "wrk %.0f%% server %.0f%% postgres %.0f%% irq+softirq %.0f%% other processes %.0f%%",
                    w/hz/d*100, s/hz/d*100, p/hz/d*100, i/hz/d*100, o/hz/d*100 }')
        printf '%s run %d: %s req/s, p50 %.1f ms, p99 %.1f ms, max %.1f ms, errors %d (status %d), answered %d, rows %s, wrapped %d; CPU (of one core): %s\n' \
            "$name" "$r" "$rps" "$(awk -v x="$w_p50_us" 'BEGIN{print x/1000}')" \
            "$(awk -v x="$w_p99_us" 'BEGIN{print x/1000}')" "$(awk -v x="$w_max_us" 'BEGIN{print x/1000}')" \
            "$errors" "$w_status" "$answered" "$rows" "$w_wrapped" "$cpu"
        [ -n "$batches" ] && [ "$name" = wegate ] && echo "  batches (rows per commit, mean $mean_batch): $batches"
        [ "$w_wrapped" -gt 0 ] && echo "  note: the pool of $pool callbacks wrapped: raise BENCH_CALLBACKS"
        echo "$name $rps $w_p99_us $errors $answered $rows $w_wrapped" >>"$results"
    done
    stop_server
done

median() { # name column
    awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$results" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo
echo "callback bench summary: medians of $runs runs of ${secs}s, $conns connections, wrk -t$wrk_threads, gateway workers $workers, $(nproc) cores"
for name in $only; do
    printf '  %-7s %8s req/s  p99 %6.1f ms\n' "$name" "$(median "$name" 2)" \
        "$(awk -v x="$(median "$name" 3)" 'BEGIN { print x / 1000 }')"
done
if [[ " $only " == *" wegate "* ]]; then
    wg=$(median wegate 2)
    p99=$(median wegate 3)
    errs=$(awk '$1 == "wegate" { s += $4 } END { print s + 0 }' "$results")
    short=$(awk '$1 == "wegate" && $6 < $5 { s++ } END { print s + 0 }' "$results")
    goal() { if [ "$1" = 1 ]; then echo "met"; else echo "NOT met"; fi; }
    if [[ " $only " == *" node "* ]]; then
        nd=$(median node 2)
        ratio=$(awk -v a="$wg" -v b="$nd" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        echo "  wegate / node: ${ratio}x  (goal >= 3x: $(goal "$(awk -v r="$ratio" 'BEGIN { print (r >= 3) }')"); moonshot 4x)"
    fi
    if [[ " $only " == *" bare "* ]]; then
        echo "  wegate / bare: $(awk -v a="$wg" -v b="$(median bare 2)" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')x"
    fi
    echo "  wegate p99 < 20 ms: $(goal "$(awk -v p="$p99" 'BEGIN { print (p < 20000) }')"); errors: $errs ($(goal "$([ "$errs" = 0 ] && echo 1)")); runs with rows < answered: $short ($(goal "$([ "$short" = 0 ] && echo 1)"))"
fi
exit $status
