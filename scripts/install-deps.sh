#!/usr/bin/env bash
# Installs the Debian packages that building and testing need (idempotent; needs root).
set -euo pipefail
packages=(
  g++ cmake ninja-build pkg-config
  libboost-test-dev libbenchmark-dev libcrypt-dev libssl-dev
  libpam0g-dev libpam-modules libpam-runtime
  python3 curl mpop fetchmail openssl groff-base man-db
  passwd login util-linux procps
  liblockfile-bin
  clang libclang-rt-14-dev binutils
  getmail6
  systemd
  dpkg-dev debhelper fakeroot lintian
  fail2ban haproxy
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
