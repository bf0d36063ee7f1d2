#!/usr/bin/env bash
# Builds the peers that are not Rust: peers/openssl-echo (C, on OpenSSL's
# QUIC server API) against the OpenSSL that ci/build-openssl.sh builds, into
# target/peers/. Rebuilds only when the source is newer. Prints the path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ossl="$root/target/openssl-quic"
src="$root/peers/openssl-echo/openssl-echo.c"
out="$root/target/peers/openssl-echo"

[ -f "$ossl/lib/libssl.a" ] || bash "$root/ci/build-openssl.sh" >/dev/null
if [ -x "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$ossl/lib/libssl.a" ]; then
    echo "$out"
    exit 0
fi
mkdir -p "$(dirname "$out")"
echo "build-peers: compiling $src" >&2
cc -O2 -Wall -Wextra -Werror -std=c99 -D_POSIX_C_SOURCE=200809L \
    -I"$ossl/include" -o "$out.tmp" "$src" \
    "$ossl/lib/libssl.a" "$ossl/lib/libcrypto.a" -lpthread -ldl
mv "$out.tmp" "$out"
echo "$out"
