#!/bin/sh
# Crypto benchmark: runs `openssl speed ecdsap256` (single and -multi NCPU)
# and bench_crypto in the same run, prints both side by side with ratios and
# writes $BUILD/bench/crypto.json.
# The machine may be shared: openssl speed runs ROUNDS times (best kept) and
# bench_crypto keeps the best of ROUNDS runs per figure.
# env: BUILD (build dir, default build), SECONDS_PER (default 3 for openssl
# speed, 1 per bench round), ROUNDS (default 2).
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
    cmake --build "$BUILD" --target weft_crypto >/dev/null 2>&1 ||
        [ -f "$BUILD/src/crypto/libweft_crypto.a" ]
    bin=$BUILD/bench/bench_crypto
    cc -O2 -std=gnu11 -I"$root/include" "$here/bench_crypto.c" \
        "$BUILD/src/crypto/libweft_crypto.a" "$BUILD/src/base/libweft_base.a" \
        $(pkg-config --libs openssl) -lpthread -o "$bin"
fi

# "256 bits ecdsa (nistp256)   0.0000s   0.0001s  45000.0  15000.0"
parse() { awk '/ecdsa \(nistp256\)/ { s=$(NF-1); v=$NF } END { print s, v }'; }
rounds=${ROUNDS:-2}
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? a : b }'; }
ossl_sign=0 ossl_verify=0 multi_verify=0
i=0
while [ "$i" -lt "$rounds" ]; do
    echo "openssl speed -seconds $secs ecdsap256 (round $((i + 1))/$rounds) ..."
    set -- $(openssl speed -seconds "$secs" ecdsap256 2>/dev/null | parse)
    ossl_sign=$(max "$ossl_sign" "$1") ossl_verify=$(max "$ossl_verify" "$2")
    if [ "$ncpu" -gt 1 ]; then
        echo "openssl speed -multi $ncpu -seconds $secs ecdsap256 (round $((i + 1))/$rounds) ..."
        set -- $(openssl speed -multi "$ncpu" -seconds "$secs" ecdsap256 2>/dev/null | parse)
        multi_verify=$(max "$multi_verify" "$2")
    fi
    i=$((i + 1))
done
echo "openssl speed best: sign/s $ossl_sign verify/s $ossl_verify (x$ncpu verify/s $multi_verify)"
"$bin" --seconds 1 --rounds 3 --openssl-sign "$ossl_sign" --openssl-verify "$ossl_verify" \
    --openssl-verify-multi "$multi_verify" --json "$BUILD/bench/crypto.json"
echo "wrote $BUILD/bench/crypto.json"
