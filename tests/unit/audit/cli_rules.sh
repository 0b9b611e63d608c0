#!/usr/bin/env bash
# `wegate rules` end to end: check, compile (and a corrupt or foreign compiled file rejected),
# test's JSON lines, bench's last line, export-intercept's shape and limits, exit codes, --help.
# Usage: cli_rules.sh WEGATE_BINARY   (run by ctest; the repository is two folders up)
set -u
bin=${1:?usage: cli_rules.sh WEGATE_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
default="$root/deploy/rules/default.json"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
checks=0

ok() { checks=$((checks + 1)); }
fail() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }
expect_rc() { # want, got, what
    if [ "$1" = "$2" ]; then ok; else fail "$3: exit $2, want $1"; fi
}
expect_in() { # needle, file, what
    if grep -qF -- "$1" "$2"; then ok; else fail "$3: '$1' not in: $(head -c 400 "$2")"; fi
}

# --- --help and usage errors
for c in "" check compile test bench export-intercept; do
    "$bin" rules $c --help >"$tmp/out" 2>"$tmp/err"
    expect_rc 0 $? "rules $c --help"
    expect_in "usage: wegate rules" "$tmp/out" "rules $c --help on stdout"
done
"$bin" rules >"$tmp/out" 2>"$tmp/err"; expect_rc 2 $? "rules without a command"
expect_in "usage: wegate rules" "$tmp/err" "usage on stderr"
"$bin" rules frobnicate >/dev/null 2>&1; expect_rc 2 $? "unknown command"
"$bin" rules check >/dev/null 2>&1; expect_rc 2 $? "check without FILE"
"$bin" rules compile "$default" >/dev/null 2>&1; expect_rc 2 $? "compile without -o"
"$bin" rules bench "$default" >/dev/null 2>&1; expect_rc 2 $? "bench without CORPUS"
"$bin" rules export-intercept "$default" --intercept-type 3 >/dev/null 2>&1
expect_rc 2 $? "export-intercept --intercept-type 3"

# --- check
"$bin" rules check "$default" >"$tmp/out" 2>"$tmp/err"; expect_rc 0 $? "check default.json"
expect_in "12 rules, 11 enabled: 3 word, 4 regex, 4 behaviour, 0 combo" "$tmp/out" "check counts"
expect_in "words: 41 (41 distinct literals), views: 2, prefiltered regexes: 4" "$tmp/out" "check words"
expect_in "compiled in" "$tmp/out" "check compile time"
cat >"$tmp/bad.json" <<'J'
{"version": 1, "rules": [
 {"id": "fine", "kind": "word", "severity": "info", "words": ["a"]},
 {"id": "bad", "kind": "regex", "severity": "info", "pattern": "a(b"}]}
J
"$bin" rules check "$tmp/bad.json" >"$tmp/out" 2>"$tmp/err"; expect_rc 1 $? "check a bad rule set"
expect_in 'rule "bad": invalid pattern at offset 3' "$tmp/err" "the error names the rule"
"$bin" rules check "$tmp/missing.json" >/dev/null 2>"$tmp/err"; expect_rc 1 $? "check a missing file"
expect_in "No such file" "$tmp/err" "missing file named"

# --- compile, and loading what it wrote
"$bin" rules compile "$default" -o "$tmp/rules.wgc" >"$tmp/out" 2>"$tmp/err"
expect_rc 0 $? "compile"
expect_in "bytes written to $tmp/rules.wgc" "$tmp/out" "compile reports"
if [ "$(head -c 7 "$tmp/rules.wgc")" = "WGAUDIT" ]; then ok; else fail "compiled file magic"; fi
"$bin" rules check "$tmp/rules.wgc" >"$tmp/out" 2>&1; expect_rc 0 $? "check a compiled file"
expect_in "12 rules, 11 enabled" "$tmp/out" "compiled file's counts"

size=$(stat -c %s "$tmp/rules.wgc")
cp "$tmp/rules.wgc" "$tmp/corrupt.wgc"
printf '\x5a' | dd of="$tmp/corrupt.wgc" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
"$bin" rules check "$tmp/corrupt.wgc" >/dev/null 2>"$tmp/err"; expect_rc 1 $? "corrupt file rejected"
expect_in "corrupt" "$tmp/err" "corrupt file named so"
head -c $((size - 100)) "$tmp/rules.wgc" >"$tmp/short.wgc"
"$bin" rules check "$tmp/short.wgc" >/dev/null 2>"$tmp/err"; expect_rc 1 $? "truncated file rejected"
# another Hyperscan version, with a valid checksum (FNV-1a 64 over all but the last 8 bytes)
python3 - "$tmp/rules.wgc" "$tmp/foreign.wgc" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
b[16:64] = b'5.3.0 2020-05-15'.ljust(48, b'\0')
h = 0xcbf29ce484222325
for x in b[:-8]:
    h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
b[-8:] = struct.pack('<Q', h)
open(sys.argv[2], 'wb').write(b)
PY
"$bin" rules check "$tmp/foreign.wgc" >/dev/null 2>"$tmp/err"; expect_rc 1 $? "foreign version rejected"
expect_in "built with Hyperscan 5.3.0" "$tmp/err" "foreign version named"
"$bin" rules compile "$tmp/bad.json" -o "$tmp/bad.wgc" >/dev/null 2>&1; expect_rc 1 $? "compile a bad set"
if [ ! -e "$tmp/bad.wgc" ]; then ok; else fail "a bad set left an output file"; fi

# --- test: exact JSON lines, in order, with the JSON rules and with the compiled file
cat >"$tmp/in.jsonl" <<'J'
{"text": "加我微信13812345678"}
{"text": "你好"}

{"text": "", "msgtype": "redpacket", "amount_fen": 30000, "from_role": "customer", "room": true}
{"text": "卡号 4111 1111 1111 1111", "from": "u1", "corp": "demo"}
not json
{"text": "x", "event": "del_follow_user"}
{"msgtype": "text"}
J
cat >"$tmp/want.jsonl" <<'J'
{"hits": [{"rule": "wechat_contact", "kind": "word", "severity": "warning", "start": 0, "end": 12, "text": "加我微信"}, {"rule": "mobile_cn", "kind": "regex", "severity": "warning", "start": 12, "end": 23, "text": "13812345678"}]}
{"hits": []}
{"hits": [{"rule": "big_redpacket", "kind": "behaviour", "severity": "warning"}]}
{"hits": [{"rule": "bank_card", "kind": "regex", "severity": "critical", "start": 7, "end": 26, "text": "4111 1111 1111 1111"}]}
{"error": "line 6: not JSON: '[' or '{' expected near 'not'"}
{"hits": [{"rule": "contact_deleted", "kind": "behaviour", "severity": "warning"}]}
{"error": "line 8: \"text\" (a string) is required"}
J
"$bin" rules test "$default" <"$tmp/in.jsonl" >"$tmp/got.jsonl" 2>"$tmp/err"
expect_rc 1 $? "test with bad lines exits 1"
if diff -u "$tmp/want.jsonl" "$tmp/got.jsonl" >&2; then ok; else fail "test output"; fi
"$bin" rules test "$tmp/rules.wgc" <"$tmp/in.jsonl" >"$tmp/got2.jsonl" 2>/dev/null
if diff -u "$tmp/want.jsonl" "$tmp/got2.jsonl" >&2; then ok; else fail "test output, compiled"; fi
printf '{"text": "私下轉賬"}\n' | "$bin" rules test "$default" >"$tmp/got.jsonl"
expect_rc 0 $? "test with good lines exits 0"
expect_in '"start": 0, "end": 12, "text": "私下轉賬"' "$tmp/got.jsonl" "original bytes in text"
cat >"$tmp/combo.json" <<'J'
{"version": 1, "rules": [
 {"id": "card", "kind": "regex", "severity": "warning", "check": "luhn", "pattern": "[0-9]{16}"},
 {"id": "fin", "kind": "behaviour", "severity": "info", "from": ["cfo"], "silent": true},
 {"id": "leak", "kind": "combo", "severity": "critical", "all_of": ["card"], "none_of": ["fin"]}]}
J
printf '%s\n' '{"text": "4111111111111111"}' '{"text": "4111111111111111", "from": "cfo"}' |
    "$bin" rules test "$tmp/combo.json" >"$tmp/got.jsonl"
cat >"$tmp/want.jsonl" <<'J'
{"hits": [{"rule": "card", "kind": "regex", "severity": "warning", "start": 0, "end": 16, "text": "4111111111111111"}, {"rule": "leak", "kind": "combo", "severity": "critical", "parts": [{"rule": "card", "start": 0, "end": 16}]}]}
{"hits": [{"rule": "card", "kind": "regex", "severity": "warning", "start": 0, "end": 16, "text": "4111111111111111"}]}
J
if diff -u "$tmp/want.jsonl" "$tmp/got.jsonl" >&2; then ok; else fail "combo output"; fi

# behaviour hits have no span, even a link found in the text
cat >"$tmp/links.json" <<'J'
{"version": 1, "rules": [{"id": "outside", "name": "n", "kind": "behaviour", "severity": "warning",
  "msgtypes": ["link"], "link_allow": ["example.com"]}]}
J
printf '%s\n' '{"text": "https://evil.example.net/x", "msgtype": "link"}' |
    "$bin" rules test "$tmp/links.json" >"$tmp/got.jsonl"
cat >"$tmp/want.jsonl" <<'J'
{"hits": [{"rule": "outside", "kind": "behaviour", "severity": "warning"}]}
J
if diff -u "$tmp/want.jsonl" "$tmp/got.jsonl" >&2; then ok; else fail "behaviour hit without a span"; fi

# --- bench: the last line's format and the count of messages with hits
printf '%s\n' "加微信" "你好" "电话13812345678" "" "普通消息" >"$tmp/corpus.txt"
"$bin" rules bench "$default" "$tmp/corpus.txt" >"$tmp/out" 2>"$tmp/err"
expect_rc 0 $? "bench"
last=$(tail -n 1 "$tmp/out")
if [[ "$last" =~ ^[0-9]+\.[0-9]\ MB/s\ [0-9]+\ msg/s\ 2\ hits$ ]]; then ok; else fail "bench last line: '$last'"; fi
expect_in "5 messages" "$tmp/out" "bench counts messages"

# --- export-intercept: shape, 300 words a rule, 100 rules, left-outs counted
"$bin" rules export-intercept "$default" >"$tmp/out" 2>"$tmp/err"
expect_rc 0 $? "export-intercept default"
python3 - "$tmp/out" <<'PY' && ok || fail "export-intercept default shape"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 3, lines
bodies = [json.loads(l) for l in lines]
assert [b["rule_name"] for b in bodies] == ["offplatform_pay", "wechat_contact", "abuse_sample"]
for b in bodies:
    assert list(b) == ["rule_name", "word_list", "intercept_type", "applicable_range"], b
    assert b["applicable_range"] == {"department_list": [1]}
assert bodies[0]["intercept_type"] == 1 and bodies[1]["intercept_type"] == 2
assert "加微信" in bodies[1]["word_list"] and len(bodies[1]["word_list"]) == 16
PY
python3 - "$tmp/big.json" <<'PY'
import json, sys
rules = [{"id": "many", "kind": "word", "severity": "warning",
          "words": ["词%04d" % i for i in range(700)] + ["长" * 33, "词0001"]},
         {"id": "cust", "kind": "word", "severity": "critical", "words": ["x"],
          "scope": {"speaker": "customer"}},
         {"id": "acme", "kind": "word", "severity": "info", "words": ["y"], "corps": ["acme"]}]
rules += [{"id": "r%03d" % i, "kind": "word", "severity": "info", "words": ["w%03d" % i]}
          for i in range(100)]
json.dump({"version": 1, "rules": rules}, open(sys.argv[1], "w"), ensure_ascii=False)
PY
"$bin" rules export-intercept "$tmp/big.json" --user zhangsan --department 7 --intercept-type 2 \
    >"$tmp/out" 2>"$tmp/err"
expect_rc 0 $? "export-intercept big"
python3 - "$tmp/out" <<'PY' && ok || fail "export-intercept limits"
import json, sys
bodies = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
assert len(bodies) == 100, len(bodies)
assert [b["rule_name"] for b in bodies[:3]] == ["many-1", "many-2", "many-3"]
assert [len(b["word_list"]) for b in bodies[:3]] == [300, 300, 100]
assert all(len(b["word_list"]) <= 300 for b in bodies)
assert all(b["intercept_type"] == 2 for b in bodies)
assert bodies[0]["applicable_range"] == {"user_list": ["zhangsan"], "department_list": [7]}
assert bodies[-1]["rule_name"] == "r096"
names = {b["rule_name"] for b in bodies}
assert "cust" not in names and "acme" not in names
PY
expect_in "797 words in 100 WeCom rules; left out: 1 words not of 1-32 characters, 2 rules scoped" "$tmp/err" "left-outs counted"
expect_in "3 words past WeCom's 100 rules" "$tmp/err" "over the limit counted"
"$bin" rules export-intercept "$tmp/big.json" --corp acme >"$tmp/out" 2>/dev/null
if grep -q '"rule_name":"acme"' "$tmp/out"; then ok; else fail "--corp includes the corp's rules"; fi

echo "cli_rules: $checks checks, $fails failed"
echo "$((checks - fails)) passed, $fails failed"
[ "$fails" = 0 ]
