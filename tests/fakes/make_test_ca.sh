#!/bin/sh
# Makes a throwaway test CA and certificates in DIR (created if missing), for fake_wecom and the
# TLS tests. Nothing here is ever committed: tests run this into a temporary folder.
#   ca.pem                          the test CA (trusted by tests through a CA file)
#   server.pem, server.key          for localhost, 127.0.0.1 and ::1, signed by the CA
#   wronghost.pem, wronghost.key    for wrong.example only, signed by the CA
# Usage: make_test_ca.sh DIR
set -eu
dir=${1:?usage: make_test_ca.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077

# EC P-256 keys: fast to make and to use.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout ca.key -out ca.pem -days 2 -subj "/CN=wegate test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

leaf() { # name subject-cn subjectAltName
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
        "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
leaf server localhost "DNS:localhost,IP:127.0.0.1,IP:::1"
leaf wronghost wrong.example "DNS:wrong.example"
rm -f ca.srl
chmod 644 ca.pem server.pem wronghost.pem
