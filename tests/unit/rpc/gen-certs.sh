#!/bin/sh
# Generates throw-away TLS material for the rpc tests into folder $1:
#   ca.crt/ca.key          trusted CA
#   server.crt/server.key  server cert from ca, SAN localhost and 127.0.0.1
#   client.crt/client.key  client cert from ca
#   evil-ca.crt, evil.crt/evil.key   a second, untrusted CA and a client cert from it
set -eu
d=$1
cd "$d"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
mkca() { # name cn
    openssl req -x509 $ec -keyout "$1.key" -out "$1.crt" -subj "/CN=$2" -days 2 2>/dev/null
}
mkcert() { # name cn ca ext
    openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
    printf '%s\n' "$4" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial \
        -out "$1.crt" -days 2 -extfile "$1.ext" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
mkca ca weft-test-ca
mkca evil-ca weft-evil-ca
mkcert server localhost ca "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
mkcert client client1 ca "extendedKeyUsage=clientAuth"
mkcert evil evil evil-ca "extendedKeyUsage=clientAuth"
