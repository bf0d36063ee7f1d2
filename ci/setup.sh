#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build and run the
# project, idempotently: cmake and libclang (quiche builds BoringSSL), then a
# QUIC-capable openssl CLI under target/ (see ci/build-openssl.sh). The peers
# on other stacks are built apart, on demand: ci/build-peers.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

missing=()
command -v cmake >/dev/null || missing+=(cmake)
# libclang itself, not libclang-cpp (which some images carry without it).
if ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 \
    && ! ls /usr/lib/*/libclang-[0-9]*.so* >/dev/null 2>&1; then
    missing+=(libclang-dev)
fi
command -v perl >/dev/null || missing+=(perl)
command -v make >/dev/null || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

bash "$root/ci/build-openssl.sh" >/dev/null
echo "setup: ready (openssl: $root/target/openssl-quic/bin/openssl)" >&2
