#!/usr/bin/env bash
# `wegate crypto` end to end: WeCom's official vectors through sign, encrypt and decrypt
# (PROTOCOL.md §1), one failing input per check (exit 1, the check named on one stderr line),
# usage errors (exit 2) and --help (exit 0).
#   bash cli_crypto.sh path/to/wegate
set -u
bin=${1:?usage: cli_crypto.sh path/to/wegate}
here=$(cd "$(dirname "$0")" && pwd)
data=${WG_TEST_DATA:-$here/../../data}/crypto
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

TOKEN=QDG6eK
KEY=jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C
RID=wx5823bf96d3bd56c7
KEY_HEX=8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760
IV_HEX=${KEY_HEX:0:32}
POST_SIG=477715d11cdb4164915debcba66cb864d751f3e6
POST_TS=1409659813
POST_NONCE=1372623149
POST_ENCRYPT=$(tr -d '\n' <"$data/official_post_encrypt.txt")
GET_SIG=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3
GET_TS=1409659589
GET_NONCE=263014780
GET_ECHOSTR='P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=='

failures=0
checks=0
fail() {
    failures=$((failures + 1))
    echo "FAIL: $*" >&2
}

# run CODE STDIN_FILE ARGS...: runs wegate with stdin from STDIN_FILE ("-" for none), output in
# $tmp/out and $tmp/err; checks the exit code.
run() {
    local want=$1 input=$2
    shift 2
    checks=$((checks + 1))
    if [ "$input" = - ]; then
        "$bin" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    else
        "$bin" "$@" <"$input" >"$tmp/out" 2>"$tmp/err"
    fi
    local got=$?
    if [ "$got" != "$want" ]; then
        fail "wegate $* (stdin $input): exit $got, want $want; stderr: $(head -c 500 "$tmp/err")"
        return 1
    fi
    return 0
}

expect_out() { # exact bytes of stdout
    checks=$((checks + 1))
    printf '%s' "$1" >"$tmp/want"
    cmp -s "$tmp/out" "$tmp/want" || fail "$2: stdout '$(head -c 300 "$tmp/out")', want '$1'"
}

expect_err_line() { # stderr is exactly one line containing $1, no secrets
    checks=$((checks + 1))
    local lines
    lines=$(wc -l <"$tmp/err")
    [ "$lines" = 1 ] || fail "$2: stderr has $lines lines: $(cat "$tmp/err")"
    grep -qF -- "$1" "$tmp/err" || fail "$2: stderr lacks '$1': $(cat "$tmp/err")"
    ! grep -qF -- "$KEY" "$tmp/err" || fail "$2: the EncodingAESKey is on stderr"
    ! grep -qF -- "--token" "$tmp/err" || fail "$2: usage instead of a check message"
    [ ! -s "$tmp/out" ] || fail "$2: stdout not empty on failure"
}

expect_usage_error() { # exit 2, usage on stderr, nothing on stdout
    run 2 - crypto "$@" || return
    checks=$((checks + 1))
    grep -q '^usage: wegate crypto' "$tmp/err" || fail "crypto $*: no usage on stderr"
    [ ! -s "$tmp/out" ] || fail "crypto $*: stdout not empty on a usage error"
}

b64() { base64 -w0; }
# AES-256-CBC with the official key and IV, no padding added: builds faulty ciphertexts.
raw_encrypt() { openssl enc -aes-256-cbc -K "$KEY_HEX" -iv "$IV_HEX" -nopad | b64; }
sign() { "$bin" crypto sign --token "$TOKEN" --timestamp 1 --nonce 2 --encrypt "$1"; }
# decrypt_bare VALUE: decrypts a bare Encrypt value signed with timestamp 1, nonce 2
decrypt_bare() {
    local sig
    sig=$(sign "$1")
    printf '%s' "$1" >"$tmp/in"
    run "$2" "$tmp/in" crypto decrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$RID" \
        --msg-signature "$sig" --timestamp 1 --nonce 2
}

# ---- sign ----
run 0 - crypto sign --token "$TOKEN" --timestamp "$POST_TS" --nonce "$POST_NONCE" \
    --encrypt "$POST_ENCRYPT" && expect_out "$POST_SIG"$'\n' "sign POST"
run 0 - crypto sign --token "$TOKEN" --timestamp "$GET_TS" --nonce "$GET_NONCE" \
    --encrypt "$GET_ECHOSTR" && expect_out "$GET_SIG"$'\n' "sign GET"
run 1 - crypto sign --token 'bad-token' --timestamp 1 --nonce 2 --encrypt x &&
    expect_err_line "token" "sign with a bad token"

# ---- encrypt: the official ciphertexts, byte for byte ----
printf '<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>' \
    "$RID" "$POST_ENCRYPT" >"$tmp/want_body"
if run 0 "$data/official_post_plain.xml" crypto encrypt --token "$TOKEN" --aes-key "$KEY" \
    --receive-id "$RID" --random 0960688932c47ef1 --timestamp "$POST_TS" --nonce "$POST_NONCE" \
    --agent-id 218; then
    checks=$((checks + 2))
    cmp -s "$tmp/out" "$tmp/want_body" || fail "encrypt POST: body differs: $(cat "$tmp/out")"
    [ "$(cat "$tmp/err")" = "msg_signature=$POST_SIG&timestamp=$POST_TS&nonce=$POST_NONCE" ] ||
        fail "encrypt POST: query '$(cat "$tmp/err")'"
    [ "$(wc -l <"$tmp/err")" = 1 ] || fail "encrypt POST: query not one line"
fi
printf '1616140317555161061' >"$tmp/get_plain"
if run 0 "$tmp/get_plain" crypto encrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$RID" \
    --random c41b64491c2468d0 --timestamp "$GET_TS" --nonce "$GET_NONCE"; then
    expect_out "<xml><ToUserName><![CDATA[$RID]]></ToUserName><Encrypt><![CDATA[$GET_ECHOSTR]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>" \
        "encrypt GET (empty AgentID)"
    checks=$((checks + 1))
    grep -qx "msg_signature=$GET_SIG&timestamp=$GET_TS&nonce=$GET_NONCE" "$tmp/err" ||
        fail "encrypt GET: query '$(cat "$tmp/err")'"
fi
# query values are %XX-encoded
printf 'x' >"$tmp/x"
run 0 "$tmp/x" crypto encrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$RID" \
    --timestamp '1 2' --nonce 'a+b/c=&' && {
    checks=$((checks + 1))
    grep -q '&timestamp=1%202&nonce=a%2Bb%2Fc%3D%26$' "$tmp/err" ||
        fail "encrypt: query not encoded: $(cat "$tmp/err")"
}

# ---- decrypt: the official POST body, a bare Encrypt, the GET echostr ----
dec_post=(crypto decrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$RID"
    --msg-signature "$POST_SIG" --timestamp "$POST_TS" --nonce "$POST_NONCE")
if run 0 "$data/official_post_body.xml" "${dec_post[@]}"; then
    checks=$((checks + 2))
    cmp -s "$tmp/out" "$data/official_post_plain.xml" || fail "decrypt POST body: plaintext differs"
    [ "$(wc -c <"$tmp/out")" = 284 ] || fail "decrypt POST body: $(wc -c <"$tmp/out") bytes, want 284"
fi
if run 0 "$data/official_post_encrypt.txt" "${dec_post[@]}"; then
    checks=$((checks + 1))
    cmp -s "$tmp/out" "$data/official_post_plain.xml" || fail "decrypt bare Encrypt: plaintext differs"
fi
printf ' \n\t%s \r\n\n' "$POST_ENCRYPT" >"$tmp/padded"
if run 0 "$tmp/padded" "${dec_post[@]}"; then
    checks=$((checks + 1))
    cmp -s "$tmp/out" "$data/official_post_plain.xml" || fail "decrypt whitespace-wrapped Encrypt"
fi
# the envelope may come with leading whitespace, and then several receive ids allowed
{ printf '\n  '; cat "$data/official_post_body.xml"; } >"$tmp/body_ws"
run 0 "$tmp/body_ws" crypto decrypt --token "$TOKEN" --aes-key "$KEY" --receive-id other \
    --receive-id "$RID" --msg-signature "$POST_SIG" --timestamp "$POST_TS" --nonce "$POST_NONCE" &&
    { checks=$((checks + 1)); cmp -s "$tmp/out" "$data/official_post_plain.xml" || fail "decrypt with 2 receive ids"; }
printf '%s' "$GET_ECHOSTR" >"$tmp/echostr"
run 0 "$tmp/echostr" crypto decrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$RID" \
    --msg-signature "$GET_SIG" --timestamp "$GET_TS" --nonce "$GET_NONCE" &&
    expect_out "1616140317555161061" "decrypt GET echostr (no newline added)"

# ---- round trips: defaults, binary stdin, empty stdin, empty receive id ----
head -c 3000 /dev/urandom >"$tmp/binary"
printf 'a\0b\0\0c' >>"$tmp/binary"
: >"$tmp/empty"
for input in binary empty; do
    for rid in "$RID" ""; do
        if run 0 "$tmp/$input" crypto encrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$rid"; then
            cp "$tmp/out" "$tmp/rt_body"
            query=$(cat "$tmp/err")
            checks=$((checks + 2))
            [[ $query =~ ^msg_signature=([0-9a-f]{40})\&timestamp=([0-9]+)\&nonce=([0-9]{10})$ ]] ||
                { fail "encrypt defaults: query '$query'"; continue; }
            sig=${BASH_REMATCH[1]} ts=${BASH_REMATCH[2]} nonce=${BASH_REMATCH[3]}
            now=$(date +%s)
            if [ $((now - ts)) -lt 0 ] || [ $((now - ts)) -gt 60 ]; then
                fail "encrypt: timestamp $ts is not now ($now)"
            fi
            # through the envelope parser, and as the bare Encrypt value
            run 0 "$tmp/rt_body" crypto decrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$rid" \
                --msg-signature "$sig" --timestamp "$ts" --nonce "$nonce" &&
                { checks=$((checks + 1)); cmp -s "$tmp/out" "$tmp/$input" || fail "round trip of $input (receive id '$rid') differs"; }
            sed 's/.*<Encrypt><!\[CDATA\[\([^]]*\)\]\]>.*/\1/' "$tmp/rt_body" >"$tmp/rt_bare"
            run 0 "$tmp/rt_bare" crypto decrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$rid" \
                --msg-signature "$sig" --timestamp "$ts" --nonce "$nonce" &&
                { checks=$((checks + 1)); cmp -s "$tmp/out" "$tmp/$input" || fail "bare round trip of $input (receive id '$rid') differs"; }
        fi
    done
done
# two encryptions of the same input differ (CSPRNG prefix and nonce)
run 0 "$tmp/x" crypto encrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$RID" && cp "$tmp/out" "$tmp/x1"
run 0 "$tmp/x" crypto encrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$RID" &&
    { checks=$((checks + 1)); ! cmp -s "$tmp/out" "$tmp/x1" || fail "encrypt is deterministic without --random"; }

# ---- decrypt failures: exit 1, one line naming the check ----
run 1 "$data/official_post_body.xml" crypto decrypt --token "$TOKEN" --aes-key "$KEY" \
    --receive-id "$RID" --msg-signature "${POST_SIG%?}7" --timestamp "$POST_TS" --nonce "$POST_NONCE" &&
    expect_err_line "signature check failed" "flipped signature"
run 1 "$data/official_post_body.xml" crypto decrypt --token "$TOKEN" --aes-key "$KEY" \
    --receive-id "$RID" --msg-signature "$POST_SIG" --timestamp "$((POST_TS + 1))" --nonce "$POST_NONCE" &&
    expect_err_line "signature" "other timestamp"
decrypt_bare "${POST_ENCRYPT:0:100}*${POST_ENCRYPT:101}" 1 && expect_err_line "base64" "invalid base64 char"
decrypt_bare "QUJD" 1 && expect_err_line "length" "3-byte ciphertext"
decrypt_bare "$(head -c 17 /dev/zero | b64)" 1 && expect_err_line "length" "17-byte ciphertext"
# 16 random ‖ L=5 ‖ hello ‖ receive id ‖ pad, with one fault each
bytes() { # VALUE COUNT: COUNT bytes of VALUE
    local i
    for ((i = 0; i < $2; i++)); do printf '%b' "\\x$(printf %02x "$1")"; done
}
plain() { # L MSG RID PADBYTE PADCOUNT
    printf '0123456789abcdef'
    bytes $(($1 >> 24 & 255)) 1
    bytes $(($1 >> 16 & 255)) 1
    bytes $(($1 >> 8 & 255)) 1
    bytes $(($1 & 255)) 1
    printf '%s%s' "$2" "$3"
    bytes "$4" "$5"
}
# 20 + 5 + 18 = 43 bytes of content: 21 pad bytes make 64
decrypt_bare "$(plain 5 hello "$RID" 21 21 | raw_encrypt)" 0 && expect_out hello "hand-built control"
decrypt_bare "$(plain 5 hello "$RID" 0 21 | raw_encrypt)" 1 && expect_err_line "padding" "pad byte 0"
decrypt_bare "$(plain 5 hello "$RID" 33 37 | raw_encrypt)" 1 && expect_err_line "padding" "pad byte 33"
decrypt_bare "$( (plain 5 hello "$RID" 21 0; bytes 20 1; bytes 21 20) | raw_encrypt)" 1 &&
    expect_err_line "padding" "inconsistent pad bytes"
decrypt_bare "$(plain 24 hello "$RID" 21 21 | raw_encrypt)" 1 && expect_err_line "message length" "L too large"
decrypt_bare "$(plain 5 hello wx5823bf96d3bd56c8 21 21 | raw_encrypt)" 1 &&
    expect_err_line "receive id check failed" "receive id mismatch"
run 1 "$data/official_post_body.xml" crypto decrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "" \
    --msg-signature "$POST_SIG" --timestamp "$POST_TS" --nonce "$POST_NONCE" &&
    expect_err_line "receive id" "only the empty receive id allowed"
printf '<xml><ToUserName><![CDATA[x]]></ToUserName></xml>' >"$tmp/no_encrypt"
run 1 "$tmp/no_encrypt" "${dec_post[@]}" && expect_err_line "xml" "envelope without Encrypt"
printf '<xml><Encrypt>abc' >"$tmp/truncated"
run 1 "$tmp/truncated" "${dec_post[@]}" && expect_err_line "xml" "truncated envelope"
# bad token or key: exit 1 (input failing a check), never echoed
run 1 "$data/official_post_body.xml" crypto decrypt --token "$TOKEN" --aes-key "${KEY%?}" \
    --receive-id "$RID" --msg-signature "$POST_SIG" --timestamp "$POST_TS" --nonce "$POST_NONCE" &&
    { expect_err_line "aes key" "42-char key"; checks=$((checks + 1)); ! grep -qF "${KEY%?}" "$tmp/err" || fail "key echoed"; }
run 1 "$data/official_post_body.xml" crypto decrypt --token "$TOKEN" --aes-key "${KEY}A" \
    --receive-id "$RID" --msg-signature "$POST_SIG" --timestamp "$POST_TS" --nonce "$POST_NONCE" &&
    expect_err_line "aes key" "44-char key"
run 1 "$tmp/x" crypto encrypt --token "$TOKEN" --aes-key "${KEY:0:20}+${KEY:21}" --receive-id "$RID" &&
    expect_err_line "aes key" "key with +"
run 1 "$tmp/x" crypto encrypt --token 'QDG6eK!' --aes-key "$KEY" --receive-id "$RID" &&
    { expect_err_line "token" "bad token"; checks=$((checks + 1)); ! grep -qF 'QDG6eK!' "$tmp/err" || fail "token echoed"; }
run 1 "$tmp/x" crypto encrypt --token "$TOKEN" --aes-key "$KEY" --receive-id 'a]]>b' &&
    expect_err_line "]]>" "receive id that breaks CDATA"

# ---- usage errors: exit 2 ----
expect_usage_error
expect_usage_error frobnicate
expect_usage_error sign --timestamp 1 --nonce 2 --encrypt x
expect_usage_error sign --token "$TOKEN" --timestamp 1 --nonce 2
expect_usage_error sign --token "$TOKEN" --timestamp 1 --nonce 2 --encrypt x --bogus
expect_usage_error sign --token "$TOKEN" --timestamp 1 --nonce 2 --encrypt x --aes-key "$KEY"
expect_usage_error sign --token "$TOKEN" --timestamp 1 --nonce 2 --encrypt x extra
expect_usage_error sign --token "$TOKEN" --timestamp 1 --nonce 2 --encrypt
expect_usage_error sign -x
expect_usage_error encrypt --token "$TOKEN" --aes-key "$KEY"
expect_usage_error encrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$RID" --random 0123456789abcde
expect_usage_error encrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$RID" --random 0123456789abcdef0
expect_usage_error encrypt --token "$TOKEN" --aes-key "$KEY" --receive-id a --receive-id b
expect_usage_error encrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$RID" --msg-signature x
expect_usage_error decrypt --token "$TOKEN" --aes-key "$KEY" --receive-id "$RID" --timestamp 1 --nonce 2
expect_usage_error decrypt --token "$TOKEN" --aes-key "$KEY" --msg-signature x --timestamp 1 --nonce 2
expect_usage_error decrypt --aes-key "$KEY" --receive-id "$RID" --msg-signature x --timestamp 1 --nonce 2
expect_usage_error decrypt --help=yes

# ---- --help: usage on stdout, exit 0 ----
for verb in "" sign encrypt decrypt; do
    # shellcheck disable=SC2086
    if run 0 - crypto $verb --help; then
        checks=$((checks + 2))
        grep -q "^usage: wegate crypto ${verb}" "$tmp/out" || fail "crypto $verb --help: no usage on stdout"
        [ ! -s "$tmp/err" ] || fail "crypto $verb --help: stderr not empty"
    fi
done
run 0 - crypto decrypt --token "$TOKEN" --help && { checks=$((checks + 1)); grep -q '^usage:' "$tmp/out" || fail "--help after a flag"; }

echo "cli_crypto: $checks checks, $failures failed" >&2
[ "$failures" = 0 ] && [ "$checks" -gt 0 ]
