#!/usr/bin/env bash
# The ABI, checked (scripts/test.sh runs it): libsio.so exports exactly the functions sio.h and
# sio_client.h declare with SIO_EXTERN, no internal symbol; `cmake --install` gives both headers,
# libsio.so with its SONAME and
# sio.pc; and a program built outside the tree with `pkg-config --cflags --libs sio` runs against
# the installed library. Usage: scripts/abi-check.sh BUILD_DIR (a configured, built tree).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:?usage: scripts/abi-check.sh BUILD_DIR}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail=0

# 1. What the library exports against what the header declares.
nm -D --defined-only "$build/libsio.so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort > "$work/exported"
cat "$root/core/include/sio.h" "$root/core/include/sio_client.h" |
  grep -oE '^SIO_EXTERN [^(]*[ *]sio_[a-z0-9_]+\(' |
  grep -oE 'sio_[a-z0-9_]+\($' | tr -d '(' | sort > "$work/declared"
if ! diff -u "$work/declared" "$work/exported" > "$work/diff"; then
  echo "abi: libsio.so exports differ from the SIO_EXTERN declarations of sio.h and sio_client.h (- declared only, + exported only):"
  grep -E '^[-+][a-z_]' "$work/diff" | head -40
  fail=1
else
  echo "abi: libsio.so exports the $(wc -l < "$work/declared") functions sio.h and sio_client.h declare, nothing else"
fi

# 2. The installed library, found by pkg-config, from a program outside the tree.
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" --component Unspecified > "$work/install.log" 2>&1 ||
  { echo "abi: cmake --install failed"; tail -20 "$work/install.log"; exit 1; }
soname=$(readelf -d "$prefix"/lib*/libsio.so | grep -oE 'SONAME.*\[libsio\.so\.[0-9]+\]' || true)
[ -n "$soname" ] || { echo "abi: the installed libsio.so has no SONAME"; fail=1; }
pcdir=$(dirname "$(find "$prefix" -name sio.pc | head -1)")
[ -f "$pcdir/sio.pc" ] || { echo "abi: no sio.pc installed"; exit 1; }
cat > "$work/hello.c" <<'C'
#include <sio.h>
#include <sio_client.h>
#include <stdio.h>
#include <string.h>
/* A server on a loop, listening on a free port, closed again, and a client manager made and
 * closed: the library and both headers work from outside. */
static void closed(sio_server_t *s) { (void)s; puts("closed"); }
int main(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_server_t *server;
  sio_io_t *io;
  sio_manager_t *m;
  sio_manager_options_t mo;
  sio_manager_options_init(&mo);
  if (sio_server_new(&loop, NULL, &server) || sio_io_new(server, NULL, &io) ||
      sio_server_listen(server, "127.0.0.1", 0) ||
      sio_manager_new(&loop, "http://127.0.0.1:1", &mo, NULL, &m))
    return 1;
  sio_manager_close(m, NULL);
  printf("sio %s on port %d, %s\n", sio_version(), sio_server_port(server), sio_err_name(SIO_EINVAL));
  sio_server_close(server, closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  return uv_loop_close(&loop) != 0;
}
C
flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs sio)
cc -Wall -Werror -o "$work/hello" "$work/hello.c" $flags
if out=$(LD_LIBRARY_PATH="$(dirname "$(find "$prefix" -name 'libsio.so' | head -1)")" "$work/hello") &&
   grep -q "^sio [0-9.]* on port [0-9]*, EINVAL$" <<<"$out" && grep -q "^closed$" <<<"$out"; then
  echo "abi: a program built with \`pkg-config --cflags --libs sio\` runs: $(head -1 <<<"$out")"
else
  echo "abi: the out-of-tree program failed: $out"
  fail=1
fi
exit $fail
