#!/usr/bin/env bash
# Builds the peers that are not linked into the harness, into target/peers/
# (or $HARNESS_PEERS_DIR), with the toolchains from this machine's package
# registries: all of them by default, or the ones named
#   bash ci/build-peers.sh [openssl] [quic-go] [s2n-quic] [tquic] [msquic] [aioquic]
# Idempotent: a peer is rebuilt only when its source is newer than its
# build. Prints one line per peer: its name and the program built.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="${HARNESS_PEERS_DIR:-$root/target/peers}"
all=(openssl quic-go s2n-quic tquic msquic aioquic)

say() { printf 'build-peers: %s\n' "$*" >&2; }

# Debian packages (with =VERSION to pin one), installed once.
need_apt() { bash "$root/ci/apt-install.sh" --pkg "$@"; }

# True when $1 exists and is newer than every file under the rest.
fresh() {
    local bin=$1
    shift
    [ -x "$bin" ] || return 1
    [ -z "$(find "$@" -newer "$bin" -type f -print -quit)" ]
}

build_openssl() {
    local ossl="$root/target/openssl-quic" src="$root/peers/openssl-echo/openssl-echo.c"
    [ -f "$ossl/lib/libssl.a" ] || bash "$root/ci/build-openssl.sh" >/dev/null
    fresh "$out/openssl-echo" "$src" "$ossl/lib/libssl.a" && return 0
    say "compiling $src"
    cc -O2 -Wall -Wextra -Werror -std=c99 -D_POSIX_C_SOURCE=200809L \
        -I"$ossl/include" -o "$out/openssl-echo.tmp" "$src" \
        "$ossl/lib/libssl.a" "$ossl/lib/libcrypto.a" -lpthread -ldl
    mv "$out/openssl-echo.tmp" "$out/openssl-echo"
}

build_quic_go() {
    # Debian 12's quic-go 0.29 in GOPATH mode: no module download.
    need_apt golang-go golang-github-lucas-clemente-quic-go-dev=0.29.0-1
    local src="$root/peers/quic-go-echo"
    fresh "$out/quic-go-echo" "$src/main.go" && return 0
    say "go build $src"
    (cd "$src" && GO111MODULE=off GOPATH=/usr/share/gocode \
        GOCACHE="$root/target/peers-build/go-cache" go build -o "$out/quic-go-echo.tmp" .)
    mv "$out/quic-go-echo.tmp" "$out/quic-go-echo"
}

# A Rust peer outside the workspace: its own lock file, one shared target
# folder for all of them.
build_cargo() {
    local dir="$root/peers/$1" bin=$2
    fresh "$out/$bin" "$dir/src" "$dir/Cargo.toml" "$dir/Cargo.lock" && return 0
    say "cargo build --release ($dir; the first build compiles its stack)"
    CARGO_TARGET_DIR="$root/target/peers-build" cargo build --quiet --release --locked \
        --manifest-path "$dir/Cargo.toml"
    cp "$root/target/peers-build/release/$bin" "$out/$bin.tmp"
    mv "$out/$bin.tmp" "$out/$bin"
}

# aioquic from the Python registry, pinned, in a venv of its own; the peer
# is a script that runs it there.
build_aioquic() {
    need_apt python3-venv
    local src="$root/peers/aioquic-echo" venv="$root/target/peers-build/aioquic-venv"
    fresh "$out/aioquic-echo" "$src/echo.py" "$src/requirements.txt" && return 0
    say "pip install -r $src/requirements.txt (into $venv)"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$src/requirements.txt"
    printf '#!/bin/sh\nexec %q -B %q "$@"\n' "$venv/bin/python" "$src/echo.py" >"$out/aioquic-echo.tmp"
    chmod +x "$out/aioquic-echo.tmp"
    mv "$out/aioquic-echo.tmp" "$out/aioquic-echo"
}

build() {
    case "$1" in
        openssl) build_openssl ;;
        quic-go) build_quic_go ;;
        s2n-quic) need_apt cmake && build_cargo s2n-quic-echo s2n-quic-echo ;; # aws-lc
        tquic) need_apt cmake && build_cargo tquic-echo tquic-echo ;;          # BoringSSL
        msquic) need_apt cmake libnuma-dev && build_cargo msquic-echo msquic-echo ;; # quictls
        aioquic) build_aioquic ;;
        *)
            echo "build-peers: no peer named $1 (peers: ${all[*]})" >&2
            return 2
            ;;
    esac
}

mkdir -p "$out"
[ $# -gt 0 ] || set -- "${all[@]}"
for name in "$@"; do
    build "$name"
    case "$name" in
        openssl) echo "openssl $out/openssl-echo" ;;
        *) echo "$name $out/$name-echo" ;;
    esac
done
