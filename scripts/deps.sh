#!/usr/bin/env bash
# Installs everything sio needs to build and test, on Debian 12. Idempotent: installs only what is
# missing. Run as root (or with sudo available).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

apt_pkgs=(build-essential cmake ninja-build pkg-config
          libuv1-dev libcjson-dev libssl-dev node-llhttp
          clang libclang-rt-14-dev valgrind
          nodejs npm
          python3 python3-dev swig python3-pytest python3-socketio python3-engineio python3-websocket python3-requests
          lua5.4 liblua5.4-dev lua-busted luarocks)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and npm may come from elsewhere than Debian (a newer toolchain already on the machine).
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# JavaScript test clients (engine.io-client 6 and 3, ws) from npm.
if [ ! -d "$root/tests/js/node_modules" ] || [ "$root/tests/js/package.json" -nt "$root/tests/js/node_modules" ]; then
  (cd "$root/tests/js" && npm install --no-audit --no-fund --silent)
  touch "$root/tests/js/node_modules"
fi
