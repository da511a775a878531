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

banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok|rand|gmtime|localtime|ctime|asctime)[[:space:]]*\('
while IFS= read -r hit; do
    report "$hit: banned function (STYLE.md R12)"
done < <(grep -nHE "$banned" $files | grep -vE '^\S+:[0-9]+:\s*(\*|//)')

while IFS= read -r hit; do
    report "$hit: raw allocation outside src/base/alloc.c (use weft_malloc/weft_free)"
done < <(grep -nHE '(^|[^_a-z])(malloc|calloc|realloc|free)[[:space:]]*\(' $files |
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
exit $status
