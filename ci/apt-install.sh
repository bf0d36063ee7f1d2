#!/usr/bin/env bash
# Installs Debian packages, idempotently: nothing runs when all are there.
#   apt-install.sh COMMAND=PACKAGE ...   (or just PACKAGE when they share a
#                                        name): the ones whose command is missing
#   apt-install.sh --pkg PACKAGE[=VERSION] ...: the ones not installed
set -euo pipefail
missing=()
if [ "${1:-}" = "--pkg" ]; then
    shift
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "${pkg%%=*}" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$pkg")
    done
else
    for want in "$@"; do
        cmd=${want%%=*}
        pkg=${want#*=}
        command -v "$cmd" >/dev/null || missing+=("$pkg")
    done
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
