#!/usr/bin/env bash
# Source checks (STYLE.md R5, R12): banned functions, raw allocation outside
# src/base/alloc.c, and third-party headers outside their wrapper library.
# Prints every offence as file:line and exits 1 if there is any.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
files=$(git ls-files 'src/*.c' 'src/*.h' 'include/*.h' 2>/dev/null)
[[ -n "$files" ]] || files=$(find src include -name '*.[ch]')

report() { echo "$1"; status=1; }

# grep -nH over the files with /* ... */ comments on a line removed; a line
# holding "checksrc:allow" (say why next to it) is skipped.
grep_code() {
    local pat=$1
    shift
    grep -nHE "$pat" "$@" | grep -v 'checksrc:allow' |
        sed -E 's#/\*.*\*/##g' | grep -E "^[^:]+:[0-9]+:.*$pat"
}

banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok|rand|gmtime|localtime|ctime|asctime)[[:space:]]*\('
while IFS= read -r hit; do
    report "$hit: banned function (STYLE.md R12)"
done < <(grep_code "$banned" $files | grep -vE '^\S+:[0-9]+:\s*(\*|//)')

while IFS= read -r hit; do
    report "$hit: raw allocation outside src/base/alloc.c (use weft_malloc/weft_free)"
done < <(grep_code '(^|[^_a-z])(malloc|calloc|realloc|free)[[:space:]]*\(' $files |
         grep -v '^src/base/alloc.c:' | grep -vE '^\S+:[0-9]+:\s*(\*|//)' |
         grep -vE 'OPENSSL_free|gpr_free|weft_|yaml_|json_|evbuffer|_free\(')

# Third-party headers stay in their wrappers.
check_header() { # pattern allowed-dir-regex name
    while IFS= read -r hit; do
        report "$hit: <$3> outside its wrapper (STYLE.md R5)"
    done < <(grep -nHE "#include <$1" $files | grep -vE "^($2)")
}
check_header 'openssl/' 'src/crypto/|src/rpc/|src/ops/' openssl
check_header 'lmdb\.h' 'src/ledger/' lmdb.h
check_header 'raft' 'src/orderer/' raft.h
check_header 'grpc/' 'src/rpc/' grpc
check_header 'event2/' 'src/ops/' libevent

# Layering (STYLE.md R2, ARCHITECTURE.md): a library includes only the public
# headers of libraries in an earlier tier.
tier_of_lib() {
    case "$1" in
    base) echo 0 ;; rpc | ops | crypto) echo 1 ;; msp) echo 2 ;; configtx) echo 3 ;;
    ledger) echo 4 ;; chaincode) echo 5 ;; peer | orderer | ca) echo 6 ;; cmd) echo 7 ;;
    *) echo 99 ;;
    esac
}
lib_of_header() {
    case "$1" in
    base.h | log.h | config.h) echo base ;; rpc.h) echo rpc ;; ops.h) echo ops ;;
    crypto.h | crypto_issue.h) echo crypto ;; msp.h | policy.h) echo msp ;;
    configtx.h) echo configtx ;; ledger.h | ledger_state.h) echo ledger ;;
    chaincode.h) echo chaincode ;; peer.h | committer.h | gateway.h | lifecycle.h) echo peer ;;
    orderer.h) echo orderer ;; ca.h) echo ca ;; *) echo unknown ;;
    esac
}
while IFS=: read -r file line rest; do
    lib=${file#src/}
    lib=${lib%%/*}
    hdr=$(sed -E 's/.*"weft\/([a-z_]+\.h)".*/\1/' <<<"$rest")
    dep=$(lib_of_header "$hdr")
    [[ "$dep" == "$lib" ]] && continue
    if [[ "$dep" == unknown ]]; then
        report "$file:$line: weft/$hdr belongs to no library (add it to scripts/checksrc.sh)"
    elif (($(tier_of_lib "$dep") >= $(tier_of_lib "$lib"))); then
        report "$file:$line: $lib includes weft/$hdr of $dep, which is not below it (STYLE.md R2)"
    fi
done < <(grep -nHE '#include "weft/[a-z_]+\.h"' $(grep -E '^src/' <<<"$files"))
exit $status
