#!/usr/bin/env bash
# The run command: on a fresh Debian 12 machine, as root or with sudo, from a clone of wegate:
#   deploy/quickstart.sh
# installs what is missing, builds (Release, build/release), starts a private PostgreSQL cluster
# (initdb on the first run), writes ./var/wegate.json from deploy/wegate.example.json with the
# demo corp (PROTOCOL.md's official test-vector corp) on the first run, applies the migrations
# and runs `wegate serve` in the foreground on 127.0.0.1:8080. It prints a command that sends a
# correctly signed demo callback and the psql command that shows the stored rows.
# Ctrl-C stops the gateway and PostgreSQL. A second run reuses the cluster and the config.
# shellcheck disable=SC2154,SC2317 # q_* are set by eval; stop_all runs from a trap
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf 'quickstart: %s\n' "$*" >&2; }

bash deploy/deps.sh build

say "building (Release, build/release)"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target wegate
bin="$root/build/release/gateway/wegate"
[ -x "$bin" ] || { say "no binary at $bin"; exit 1; }

# The cluster's place and port are chosen on the first run and kept in var/quickstart.env.
# As root, PostgreSQL runs as the postgres user, who may not traverse the clone's path (a 0700
# /root, say): its data then lives under /var/lib.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port_from() {
    local p=$1
    while port_busy "$p"; do
        p=$((p + 1))
    done
    echo "$p"
}
mkdir -p var
state=var/quickstart.env
config=var/wegate.json
old_port=""
if [ -f "$state" ]; then
    # shellcheck disable=SC1090
    . "$state"
    bash deploy/pg.sh stop "$pg_dir" # ours, left running by an interrupted run
    if port_busy "$pg_port"; then
        # Something else took the port since the last run: move to a free one.
        old_port=$pg_port
        pg_port=$(free_port_from $((pg_port + 1)))
        say "port $old_port is taken now; PostgreSQL moves to $pg_port"
    fi
else
    if [ "$(id -u)" = 0 ]; then
        pg_dir=/var/lib/wegate-quickstart/pg
    else
        pg_dir="$root/var/pg"
    fi
    pg_port=$(free_port_from 55432)
fi
printf 'pg_dir=%q\npg_port=%q\n' "$pg_dir" "$pg_port" >"$state"
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$(dirname "$pg_dir")"
    chmod 0755 "$(dirname "$pg_dir")"
fi

gw_pid=""
stop_all() {
    trap - EXIT INT TERM
    if [ -n "$gw_pid" ] && kill -0 "$gw_pid" 2>/dev/null; then
        kill -TERM "$gw_pid" 2>/dev/null || true
        wait "$gw_pid" 2>/dev/null || true
    fi
    say "stopping PostgreSQL ($pg_dir)"
    bash "$root/deploy/pg.sh" stop "$pg_dir"
}

say "PostgreSQL data in $pg_dir, port $pg_port"
bash deploy/pg.sh init "$pg_dir"
bash deploy/pg.sh start "$pg_dir" "$pg_port"
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bash deploy/pg.sh createdb "$pg_dir" "$pg_port" wegate
db_url=$(bash deploy/pg.sh url "$pg_dir" "$pg_port" wegate)

if [ -n "$old_port" ] && [ -f "$config" ]; then
    # Follow the move in the config this script wrote (a URL pointing elsewhere is left alone).
    OLD_URL=$(bash deploy/pg.sh url "$pg_dir" "$old_port" wegate) NEW_URL="$db_url" perl -MJSON::PP -e '
        local $/; open(my $f, "<", $ARGV[0]) or die "$!\n";
        my $c = JSON::PP->new->decode(<$f>);
        exit 0 unless ($c->{database}{url} // "") eq $ENV{OLD_URL};
        $c->{database}{url} = $ENV{NEW_URL};
        open($f, ">", "$ARGV[0].tmp") or die "$!\n";
        print $f JSON::PP->new->pretty->canonical->encode($c);
        close($f) or die "$!\n";
        rename("$ARGV[0].tmp", $ARGV[0]) or die "$!\n";
    ' "$config"
fi
if [ ! -f "$config" ]; then
    say "writing $config (from deploy/wegate.example.json)"
    DB_URL="$db_url" perl -MJSON::PP -e '
        local $/; open(my $f, "<", "deploy/wegate.example.json") or die "$!\n";
        my $c = JSON::PP->new->decode(<$f>);
        $c->{listen} = "127.0.0.1:8080";
        $c->{database}{url} = $ENV{DB_URL};
        my ($demo) = grep { $_->{name} eq "demo" } @{$c->{corps}};
        $demo //= {name => "demo", agent_id => 1000002};
        # The official test-vector corp of PROTOCOL.md, so that a demo callback can be signed.
        $demo->{corp_id} = "wx5823bf96d3bd56c7";
        $demo->{token} = "QDG6eK";
        $demo->{encoding_aes_key} = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
        $c->{corps} = [$demo];
        print JSON::PP->new->pretty->canonical->encode($c);
    ' >"$config.tmp"
    mv "$config.tmp" "$config"
else
    say "reusing $config"
fi
"$bin" check-config --config "$config" >/dev/null
"$bin" migrate --config "$config"

# What to print: the listen address and the demo corp's settings as the config has them.
eval "$(perl -MJSON::PP -e '
    local $/; open(my $f, "<", $ARGV[0]) or die "$!\n";
    my $c = JSON::PP->new->decode(<$f>);
    my ($d) = grep { $_->{name} eq "demo" } @{$c->{corps} || []};
    my %v = (listen => $c->{listen} // "127.0.0.1:8080", db => $c->{database}{url} // "",
             token => $d ? $d->{token} : "", key => $d ? $d->{encoding_aes_key} : "",
             corp_id => $d ? $d->{corp_id} : "");
    for (sort keys %v) { (my $x = $v{$_}) =~ s/\x27/\x27\\\x27\x27/g; print "q_$_=\x27$x\x27\n" }
' "$config")"

demo_xml='<xml><ToUserName><![CDATA['"$q_corp_id"']]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>%s</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmDemoCustomer]]></ExternalUserID></xml>'
cat >&2 <<EOF

==============================================================================================
 wegate on http://$q_listen   (config: $root/$config, PostgreSQL data: $pg_dir, port $pg_port)

 Send a correctly signed demo callback (from another terminal):

q=\$(printf '$demo_xml' "\$(date +%s)" | '$bin' crypto encrypt --token '$q_token' --aes-key '$q_key' --receive-id '$q_corp_id' 2>&1 >/tmp/wegate-demo-body.xml) && curl -sS -i -H 'Content-Type: text/xml' --data-binary @/tmp/wegate-demo-body.xml "http://$q_listen/wecom/demo/callback?\$q"

 See the stored rows:

psql '$q_db' -c 'select id, corp, event, change_type, user_id, external_user_id, create_time, received_at from callback_events order by id desc limit 5'

 Ctrl-C stops the gateway and PostgreSQL; running deploy/quickstart.sh again reuses both.
==============================================================================================

EOF

# In the background so that Ctrl-C (or a TERM to this script) reaches the trap at once; the trap
# hands the gateway one SIGTERM (in-flight requests complete) and then stops PostgreSQL. setsid:
# the gateway has a session of its own, so the terminal's Ctrl-C does not reach it too (a second
# signal would make it stop at once, without the drain).
setsid "$bin" serve --config "$config" </dev/null &
gw_pid=$!
set +e
wait "$gw_pid"
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
    say "wegate serve exited with status $rc"
fi
exit "$rc"
