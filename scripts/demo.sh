#!/usr/bin/env bash
# `make demo`: from a fresh Debian 12 clone to a running network and the
# sample application's story.
#
#   scripts/demo.sh [--down] [--dir D] [--base-port P]
#
# 1. installs what is missing (scripts/setup.sh --test: Debian packages and
#    the npm packages, quiet when nothing is missing);
# 2. builds the weft binary (build/, RelWithDebInfo, as `make` does);
# 3. `weft network up`: 3 orderers (one Raft cluster), 2 organisations x 2
#    peers, TLS everywhere, channel mychannel joined by every node, the
#    asset-transfer chaincode committed with AND('Org1MSP.peer','Org2MSP.peer')
#    (reuses a healthy network already in the folder);
# 4. runs samples/app (the real @hyperledger/fabric-gateway client) against
#    it and prints what happens, then `weft network status`;
# 5. leaves the network running and prints the commands to try next, or
#    stops it with --down.
# Environment: BUILD (build folder), WEFT_DEMO_ORDERERS (default 3),
# WEFT_DEMO_PEERS (peers per organisation, default 2), WEFT_DEMO_ARGS (more
# `weft network up` flags).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BUILD=${BUILD:-build}
DIR=weft-net
BASE_PORT=7050
DOWN=0
while (($# > 0)); do
    case "$1" in
    --down) DOWN=1 ;;
    --dir) DIR=$2; shift ;;
    --base-port) BASE_PORT=$2; shift ;;
    -h | --help)
        sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "demo: unknown argument '$1' (try --help)" >&2
        exit 2
        ;;
    esac
    shift
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "setup: packages (only what is missing)"
scripts/setup.sh --test

say "build: weft"
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
env -u MAKEFLAGS -u MFLAGS cmake --build "$BUILD" -j "$(nproc)" --target weft
WEFT="$ROOT/$BUILD/bin/weft"
case "$DIR" in /*) NETJSON="$DIR/network.json" ;; *) NETJSON="$ROOT/$DIR/network.json" ;; esac

say "network: weft network up --dir $DIR"
if [[ -f "$DIR/network.json" ]]; then
    if grep -q '"chaincode": null' "$DIR/network.json"; then
        echo "the network in $DIR has no chaincode deployed: recreating it"
        "$WEFT" network down --dir "$DIR"
    elif "$WEFT" network status --dir "$DIR" >/dev/null 2>&1; then
        echo "a healthy network is already running in $DIR: using it"
    else
        echo "the network in $DIR is not healthy: recreating it"
        "$WEFT" network down --dir "$DIR"
    fi
elif [[ -e "$DIR/.weft-network" ]]; then
    "$WEFT" network down --dir "$DIR"
fi
if [[ ! -f "$DIR/network.json" ]]; then
    # shellcheck disable=SC2086
    "$WEFT" network up --orderers "${WEFT_DEMO_ORDERERS:-3}" --orgs 2 \
        --peers "${WEFT_DEMO_PEERS:-2}" --base-port "$BASE_PORT" --dir "$DIR" ${WEFT_DEMO_ARGS:-}
fi

say "application: samples/app (Fabric Gateway client)"
# The app's own node_modules when `npm install` ran there; else the same
# packages that setup.sh installed for the interop tests.
app_env=()
if [[ ! -d samples/app/node_modules ]]; then
    app_env=(NODE_PATH="$ROOT/tests/interop/node_modules")
fi
app_rc=0
env "${app_env[@]}" node samples/app/app.js "$NETJSON" || app_rc=$?

say "status: weft network status --dir $DIR"
"$WEFT" network status --dir "$DIR" || true

if ((DOWN)); then
    say "stopping: weft network down --dir $DIR"
    "$WEFT" network down --dir "$DIR"
else
    cat <<EOT

The network is still running. Try:
  $BUILD/bin/weft network status --dir $DIR
  $BUILD/bin/weft network logs peer0.org1 --dir $DIR -f
  NODE_PATH=tests/interop/node_modules node samples/app/app.js $DIR/network.json
  cat $DIR/network.json $DIR/connection-org1.json
  (and the weft chaincode query/invoke commands printed by \`weft network up\` above)
Stop it and remove its folder with:
  $BUILD/bin/weft network down --dir $DIR        (or: scripts/demo.sh --down)
EOT
fi

case $app_rc in
0) say "demo: the application ran its whole story through the Fabric Gateway" ;;
2) say "demo: the network is up, but its peers do not serve the Fabric Gateway service, so the application could not run its story" ;;
*) say "demo: the application reported failures (exit $app_rc); see $DIR/logs" ;;
esac
exit "$app_rc"
