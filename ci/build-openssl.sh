#!/usr/bin/env bash
# Builds a QUIC-capable `openssl` CLI (OpenSSL 4.0.x, `s_client -quic`) from
# the source in the pinned openssl-src crate, into target/openssl-quic.
# Idempotent: a working build is reused. Prints the binary's path last.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/target/openssl-quic"
bin="$out/bin/openssl"

if [ -x "$bin" ] && "$bin" s_client -help 2>&1 | grep -q -- '-quic'; then
    echo "$bin"
    exit 0
fi

for tool in make perl cc python3 cargo; do
    command -v "$tool" >/dev/null || { echo "build-openssl: missing $tool" >&2; exit 1; }
done

manifest=$(cargo metadata --format-version 1 --manifest-path "$root/Cargo.toml" \
    | python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "openssl-src"))')
src="$(dirname "$manifest")/openssl"
[ -f "$src/Configure" ] || { echo "build-openssl: no OpenSSL source at $src" >&2; exit 1; }

work="$root/target/openssl-build"
rm -rf "$work"
mkdir -p "$root/target"
cp -r "$src" "$work"
cd "$work"
echo "build-openssl: configuring OpenSSL from $src (log: $work/build.log)" >&2
./Configure --prefix="$out" --openssldir="$out/ssl" --libdir=lib \
    no-shared no-module no-tests no-docs no-legacy no-comp no-zlib >build.log 2>&1 \
    || { tail -20 build.log >&2; exit 1; }
echo "build-openssl: compiling (about 2 minutes on 2 cores)" >&2
make -j"$(nproc)" >>build.log 2>&1 || { tail -30 build.log >&2; exit 1; }
make install_sw >>build.log 2>&1 || { tail -30 build.log >&2; exit 1; }
# The crate ships no openssl.cnf; an empty one keeps the CLI from warning.
mkdir -p "$out/ssl" && touch "$out/ssl/openssl.cnf"
"$bin" version >&2
echo "$bin"
