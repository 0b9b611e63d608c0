#!/usr/bin/env bash
# A private PostgreSQL cluster for wegate: used by quickstart.sh, test.sh and the integration
# tests. As root it runs as the `postgres` user, so DIR must be a place that user can reach.
#   deploy/pg.sh init  DIR          initdb into DIR/data if not there yet (superuser "wegate", trust)
#   deploy/pg.sh start DIR PORT     start it: unix socket in DIR/sock, TCP on 127.0.0.1:PORT
#   deploy/pg.sh stop  DIR          fast shutdown (no error when not running)
#   deploy/pg.sh kill  DIR          immediate shutdown (crash-like; WAL replays at next start)
#   deploy/pg.sh url   DIR PORT [DB]  print the connection URL
#   deploy/pg.sh createdb DIR PORT DB  create database DB if missing
set -euo pipefail

bindir=$(pg_config --bindir 2>/dev/null || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
[ -x "$bindir/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found" >&2; exit 1; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,10p' "$0" >&2; exit 2; }

case "$cmd" in
init)
    mkdir -p "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        mkdir -p "$dir/data" "$dir/sock"
        [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
        chmod 0700 "$dir/data"
        as_owner "$bindir/initdb" -D "$dir/data" -U wegate --auth=trust -E UTF8 --locale=C.UTF-8 \
            >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    ;;
start)
    port=${3:?port}
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
        -o "-k $dir/sock -p $port -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=200" \
        start >/dev/null || { tail -n 20 "$dir/postgres.log" >&2; exit 1; }
    ;;
stop)
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
kill)
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
url)
    port=${3:?port}
    echo "postgresql://wegate@127.0.0.1:$port/${4:-wegate}"
    ;;
createdb)
    port=${3:?port}
    db=${4:?db}
    if ! "$bindir/psql" -h "$dir/sock" -p "$port" -U wegate -d postgres -Atqc \
        "select 1 from pg_database where datname = '$db'" | grep -q 1; then
        "$bindir/createdb" -h "$dir/sock" -p "$port" -U wegate "$db"
    fi
    ;;
*)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
