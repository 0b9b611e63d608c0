#!/usr/bin/env bash
# `wegate check-config` end to end: exit codes, the summary without secrets, the one-line error
# naming the JSON path, --config / $WEGATE_CONFIG / ./var/wegate.json precedence.
#   check_config.sh /path/to/wegate
set -uo pipefail
wegate=${1:?usage: check_config.sh WEGATE_BINARY}
root=$(cd "$(dirname "$0")/../../.." && pwd)
example=$root/deploy/wegate.example.json
tmp=$(mktemp -d /tmp/wg-check-config.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
unset WEGATE_CONFIG

TOKEN=QDG6eK
KEY=jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C
RTOKEN=i5mN2t8xsEDbwsZM
RKEY=FEAGooHwPf8s36qJY2gMCGEtjTHx6p7XwX1szAjA68c

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# run ARGS...: runs wegate, leaving $rc, $out (stdout) and $err (stderr).
run() {
    "$wegate" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}
expect_rc() { # want, what
    [ "$rc" = "$1" ] || fail "$2: exit $rc, want $1 (stderr: $err)"
}
expect_out() { # substring, what
    grep -qF -- "$1" "$tmp/out" || fail "$2: stdout lacks '$1'"
}
expect_err_line() { # exact stderr, what
    [ "$err" = "$1" ] || fail "$2: stderr is '$err', want '$1'"
}
expect_no_secrets() { # what
    local s
    for s in "$TOKEN" "$KEY" "$RTOKEN" "$RKEY" hunter2; do
        if grep -qF -- "$s" "$tmp/out" "$tmp/err"; then
            fail "$1: output shows the secret '$s'"
        fi
    done
}

# --help: usage on stdout, exit 0.
run check-config --help
expect_rc 0 "--help"
expect_out "usage: wegate check-config" "--help"
[ -z "$err" ] || fail "--help: stderr not empty: $err"

# The example: valid, summary with URL paths, no secret.
run check-config --config "$example"
expect_rc 0 "example"
expect_out "config: $example" "example"
expect_out "listen: 127.0.0.1:8080" "example"
expect_out "corp demo:" "example"
expect_out "corp_id: wx5823bf96d3bd56c7" "example"
expect_out "agent_id: 1000002" "example"
expect_out "endpoint: /wecom/demo/callback" "example"
expect_out "receiver contacts: /wecom/demo/contacts/callback" "example"
expect_out 'receive_ids: ["wx5823bf96d3bd56c7"]' "example"
expect_out "token: set (inline)" "example"
expect_no_secrets "example"
run check-config "--config=$example"
expect_rc 0 "--config=FILE"

# Secrets from env: and file:, a database password: only their sources are shown.
printf '%s\n' "$KEY" >"$tmp/key"
cat >"$tmp/secrets.json" <<EOF
{
  "database": {"url": "env:WG_CLI_DB_URL"},
  "corps": [{"name": "demo", "corp_id": "wx5823bf96d3bd56c7",
             "token": "env:WG_CLI_TOKEN", "encoding_aes_key": "file:$tmp/key",
             "receivers": {"contacts": {"token": "$RTOKEN", "encoding_aes_key": "$RKEY"}}}]
}
EOF
WG_CLI_TOKEN=$TOKEN WG_CLI_DB_URL=postgresql://wegate:hunter2@db:5432/wegate \
    run check-config --config "$tmp/secrets.json"
expect_rc 0 "env and file secrets"
expect_out "token: set (env:WG_CLI_TOKEN)" "env and file secrets"
expect_out "encoding_aes_key: set (file:$tmp/key)" "env and file secrets"
expect_out "database.url: postgresql://wegate:***@db:5432/wegate (env:WG_CLI_DB_URL)" \
    "env and file secrets"
expect_no_secrets "env and file secrets"

# A missing variable: exit 1, the path and the variable named.
run check-config --config "$tmp/secrets.json"
expect_rc 1 "missing env"
expect_err_line "wegate check-config: database.url: environment variable WG_CLI_DB_URL is not set" \
    "missing env"
[ -z "$out" ] || fail "missing env: stdout not empty"

# A wrong-length key from the environment: the error never shows it.
sed 's|"file:[^"]*"|"env:WG_CLI_KEY"|' "$tmp/secrets.json" >"$tmp/badkey.json"
WG_CLI_TOKEN=$TOKEN WG_CLI_DB_URL=postgresql://wegate:hunter2@db/wegate WG_CLI_KEY=${KEY}A \
    run check-config --config "$tmp/badkey.json"
expect_rc 1 "bad key from env"
expect_err_line "wegate check-config: corps[0].encoding_aes_key: must be 43 letters or digits (value from env:WG_CLI_KEY)" \
    "bad key from env"
expect_no_secrets "bad key from env"

# A bad value: exit 1 and one line naming the JSON path.
sed "s|$KEY|${KEY:0:42}|" "$example" >"$tmp/bad.json"
run check-config --config "$tmp/bad.json"
expect_rc 1 "bad key"
expect_err_line "wegate check-config: corps[0].encoding_aes_key: must be 43 letters or digits" \
    "bad key"
expect_no_secrets "bad key"

# A syntax error: file, line and column.
printf '{\n  "workers": 2,\n}\n' >"$tmp/syntax.json"
run check-config --config "$tmp/syntax.json"
expect_rc 1 "syntax error"
expect_err_line "wegate check-config: $tmp/syntax.json:3:1: string or '}' expected" "syntax error"

# An unreadable file.
run check-config --config "$tmp/nonexistent.json"
expect_rc 1 "missing file"
expect_err_line "wegate check-config: cannot read $tmp/nonexistent.json: No such file or directory" \
    "missing file"

# Usage errors: exit 2, usage on stderr, nothing on stdout.
for args in "--bogus" "--config" "--config=" "extra" "--config $example extra"; do
    # shellcheck disable=SC2086
    run check-config $args
    expect_rc 2 "usage error ($args)"
    grep -qF "usage: wegate check-config" "$tmp/err" || fail "usage error ($args): no usage on stderr"
    [ -z "$out" ] || fail "usage error ($args): stdout not empty"
done

# $WEGATE_CONFIG is honoured; --config wins over it; ./var/wegate.json is the default.
WEGATE_CONFIG=$example run check-config
expect_rc 0 "WEGATE_CONFIG"
expect_out "config: $example" "WEGATE_CONFIG"
WEGATE_CONFIG=$tmp/bad.json run check-config --config "$example"
expect_rc 0 "--config over WEGATE_CONFIG"
mkdir -p "$tmp/cwd/var"
cp "$example" "$tmp/cwd/var/wegate.json"
(cd "$tmp/cwd" && "$wegate" check-config >"$tmp/out" 2>"$tmp/err")
rc=$?
expect_rc 0 "default path"
grep -qF "config: ./var/wegate.json" "$tmp/out" || fail "default path: not ./var/wegate.json"
(cd "$tmp" && "$wegate" check-config >"$tmp/out" 2>"$tmp/err")
rc=$?
expect_rc 1 "default path missing"
grep -qF "cannot read ./var/wegate.json" "$tmp/err" || fail "default path missing: $(cat "$tmp/err")"

if [ "$failures" != 0 ]; then
    echo "check_config.sh: $failures failures" >&2
    exit 1
fi
echo "check_config.sh: all passed"
