#!/bin/sh
# Crypto benchmark: runs `openssl speed ecdsap256` (single and -multi NCPU)
# and bench_crypto in the same run, prints both side by side with ratios and
# writes $BUILD/bench/crypto.json.
# env: BUILD (build dir, default build), SECONDS_PER (default 3).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
secs=${SECONDS_PER:-3}
ncpu=$(nproc)
mkdir -p "$BUILD/bench"

bin=$BUILD/bin/bench_crypto
if [ ! -x "$bin" ]; then
    # bench/CMakeLists.txt not there yet: build against the static libraries.
    cmake --build "$BUILD" --target weft_crypto >/dev/null
    bin=$BUILD/bench/bench_crypto
    cc -O2 -std=gnu11 -I"$root/include" "$here/bench_crypto.c" \
        "$BUILD/src/crypto/libweft_crypto.a" "$BUILD/src/base/libweft_base.a" \
        $(pkg-config --libs openssl) -lpthread -o "$bin"
fi

# "256 bits ecdsa (nistp256)   0.0000s   0.0001s  45000.0  15000.0"
parse() { awk '/ecdsa \(nistp256\)/ { s=$(NF-1); v=$NF } END { print s, v }'; }
echo "openssl speed -seconds $secs ecdsap256 ..."
set -- $(openssl speed -seconds "$secs" ecdsap256 2>/dev/null | parse)
ossl_sign=$1 ossl_verify=$2
multi_verify=0
if [ "$ncpu" -gt 1 ]; then
    echo "openssl speed -multi $ncpu -seconds $secs ecdsap256 ..."
    set -- $(openssl speed -multi "$ncpu" -seconds "$secs" ecdsap256 2>/dev/null | parse)
    multi_verify=$2
fi
"$bin" --seconds "$secs" --openssl-sign "$ossl_sign" --openssl-verify "$ossl_verify" \
    --openssl-verify-multi "$multi_verify" --json "$BUILD/bench/crypto.json"
echo "wrote $BUILD/bench/crypto.json"
