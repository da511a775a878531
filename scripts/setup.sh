#!/usr/bin/env bash
# Installs what weft needs on Debian 12, only what is missing, and is quiet
# when nothing is. `--test` also installs the test tools and the npm packages
# the interop tests use (into tests/interop/node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."

build_pkgs=(
    build-essential cmake pkg-config git
    libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler
    libssl-dev openssl liblmdb-dev lmdb-utils libraft-dev libuv1-dev libyaml-dev
    libjansson-dev libevent-dev libcurl4-openssl-dev libsqlite3-dev libcmocka-dev
    nodejs npm curl ca-certificates iproute2 procps
)
test_pkgs=(clang libclang-rt-14-dev python3)

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then
    want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# Node may come from elsewhere (e.g. NodeSource): accept any node >= 18 with npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
    tmp=()
    for p in "${missing[@]}"; do
        [[ "$p" == nodejs || "$p" == npm ]] || tmp+=("$p")
    done
    missing=("${tmp[@]+"${tmp[@]}"}")
fi

if ((${#missing[@]} > 0)); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ "${1:-}" == "--test" ]]; then
    # npm packages for interop tests, pinned by tests/interop/package-lock.json.
    stamp=tests/interop/node_modules/.weft-stamp
    if [[ ! -f "$stamp" || tests/interop/package-lock.json -nt "$stamp" || \
          tests/interop/package.json -nt "$stamp" ]]; then
        echo "setup: installing npm packages for the interop tests"
        (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
        touch "$stamp"
    fi
fi
