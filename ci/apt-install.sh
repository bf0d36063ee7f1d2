#!/usr/bin/env bash
# Installs the Debian packages named whose command is missing, as
# `apt-install.sh COMMAND=PACKAGE ...` (or just PACKAGE when they share a
# name), idempotently: nothing runs when every command is there.
set -euo pipefail
missing=()
for want in "$@"; do
    cmd=${want%%=*}
    pkg=${want#*=}
    command -v "$cmd" >/dev/null || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
