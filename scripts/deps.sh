#!/usr/bin/env bash
# Installs everything sio needs to build and test, on Debian 12. Idempotent: installs only what is
# missing. Run as root (or with sudo available).
#   scripts/deps.sh                  everything: the build, every test suite's apt and npm packages
#   scripts/deps.sh --demo LANG      what scripts/demo needs for LANG (lua|python): the build's apt
#                                    packages and that language's, nothing from npm (scripts/demo
#                                    installs examples/node_modules itself)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

demo=""
if [ "${1:-}" = --demo ]; then demo="${2:?usage: scripts/deps.sh [--demo lua|python]}"; fi
# what any build of the C core needs (cmake/deps.cmake)
build_pkgs=(build-essential cmake ninja-build pkg-config
            libuv1-dev libcjson-dev libssl-dev zlib1g-dev node-llhttp libcrypt-dev nodejs npm)
case "$demo" in
  "")
    apt_pkgs=("${build_pkgs[@]}" openssl
              libhiredis-dev libmsgpack-dev redis-server nginx
              clang libclang-rt-14-dev valgrind
              python3 python3-dev swig python3-pytest python3-socketio python3-engineio python3-websocket python3-requests
              python3-prometheus-client
              lua5.4 liblua5.4-dev lua-busted luarocks
              chromium curl) ;;
  python) apt_pkgs=("${build_pkgs[@]}" python3 python3-dev swig) ;;
  lua) apt_pkgs=("${build_pkgs[@]}" liblua5.4-dev) ;;
  *) echo "usage: scripts/deps.sh [--demo lua|python]" >&2; exit 2 ;;
esac
missing=()
# one dpkg-query for all (a fraction of a second when everything is there)
installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${apt_pkgs[@]}" 2>/dev/null | awk '/install ok installed$/ {print $1}')" || true
for p in "${apt_pkgs[@]}"; do
  grep -qxF "$p" <<<"$installed" || missing+=("$p")
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
  # nginx is for tests/js/nginx.test.mjs, which starts private ones on loopback ports: its package
  # must not start (or, under systemd, enable) a system service on port 80. invoke-rc.d and
  # deb-systemd-invoke obey policy-rc.d; a machine without one (containers usually have one) gets a
  # temporary "deny" for the nginx install alone.
  guard=""
  if [[ " ${missing[*]} " == *" nginx "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    trap '$SUDO rm -f "$guard"' EXIT
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$guard" >/dev/null
    $SUDO chmod 755 "$guard"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx
    $SUDO rm -f "$guard"
    trap - EXIT
    if [ -d /run/systemd/system ]; then $SUDO systemctl disable --quiet nginx 2>/dev/null || true; fi
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# From npm: the JavaScript test clients (tests/js: socket.io-client 4.x and 2.x, engine.io-client,
# ws, bcryptjs, @socket.io/admin-ui, @socket.io/redis-adapter and @socket.io/redis-streams-adapter for the
# reference), the browser bundle the examples serve (examples:
# socket.io-client's dist/, @socket.io/admin-ui's ui/dist for --admin-ui), and playwright-core
# for the end-to-end tests in Chromium (tests/e2e).
[ -n "$demo" ] && exit 0
for dir in tests/js examples tests/e2e; do
  if [ ! -d "$root/$dir/node_modules" ] || [ "$root/$dir/package.json" -nt "$root/$dir/node_modules" ]; then
    (cd "$root/$dir" && npm install --no-audit --no-fund --silent)
    touch "$root/$dir/node_modules"
  fi
done
