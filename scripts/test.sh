#!/usr/bin/env bash
# Runs every test of sio: installs what is missing, builds, then
#   1. the C unit tests (ctest) on a normal build, and the ABI (scripts/abi-check.sh),
#   2. the real-client tests against the C contract server: node:test (socket.io-client 4.x and 2.x,
#      engine.io-client, raw protocol) and pytest (Debian's python3-socketio client),
#   3. the Python package: the same real-client suites against the Python contract server, and the
#      wheel (auditwheel-repaired) installed in a fresh venv,
#   3b. Lua: busted specs (values, the API in-process, siod as a process, memory), the rockspec, and
#      the real-client suites against the Lua contract server run by siod,
#   3c. the example apps (chat, draw-and-guess; Python and Lua servers) in headless Chromium, and the
#      guides' code blocks (docs/coming-from-*.md) run as servers,
#   3d. sio's C client (tests/client: sio-client-check) against the C, Python and Lua contract servers,
#      the Node reference (also with allowEIO3), python-socketio's server, a TCP proxy and bad servers,
#   4. the C stages again on an AddressSanitizer+UBSan build (siod too), and the Python extension's
#      value tests on a UBSan-only build,
#   5. every libFuzzer harness for a short bounded time (SIO_FUZZ_SECONDS, default 20).
# Prints a summary line per stage and a last "total: N passed, N failed" line; exits non-zero on
# any failure.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
fuzz_seconds="${SIO_FUZZ_SECONDS:-20}"
passed=0
failed=0
log_dir="${SIO_TEST_LOGS:-$root/build-logs}"
mkdir -p "$log_dir"

bash scripts/deps.sh || { echo "deps: installation failed"; exit 1; }
# What git sees in the checkout before any build (a CI clone: nothing; a developer's: their edits), to
# prove after the Python builds that they wrote nothing into it: no file git would show, and no
# ignored one (__pycache__, egg-info, generated sources) outside the build directories.
tree_state() {
  git status --porcelain --ignored 2>&1 |
    grep -vE '^!! (build[^/]*/|dist/|build-logs/|(.*/)?node_modules/|\.cache/)$' || true
}
tree_before="$(tree_state)"

count_ctest() { # $1: log
  local line total failedn
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$1" | tail -1)
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  failedn=$(sed -E 's/.*passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
  [ -z "$total" ] && { failed=$((failed + 1)); return; }
  passed=$((passed + total - failedn)); failed=$((failed + failedn))
}
count_node() { # $1: log
  local p f
  p=$(grep -E "^# pass [0-9]+" "$1" | tail -1 | awk '{print $3}')
  f=$(grep -E "^# fail [0-9]+" "$1" | tail -1 | awk '{print $3}')
  [ -z "$p" ] && { failed=$((failed + 1)); return; }
  passed=$((passed + p)); failed=$((failed + f))
}

count_pytest() { # $1: log
  local line p f
  line=$(grep -E "^[0-9]+ (passed|failed)|^=+ .*(passed|failed)" "$1" | tail -1)
  [ -z "$line" ] && { failed=$((failed + 1)); return; }
  p=$(grep -Eo "[0-9]+ passed" <<<"$line" | awk '{print $1}')
  f=$(grep -Eo "[0-9]+ (failed|error)" <<<"$line" | awk '{s+=$1} END {print s+0}')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
}

count_busted() { # $1: log ("12 successes / 0 failures / 0 errors / 0 pending : 3.2 seconds")
  local line p f e
  line=$(grep -E "[0-9]+ successes / [0-9]+ failures / [0-9]+ errors" "$1" | tail -1)
  [ -z "$line" ] && { failed=$((failed + 1)); return; }
  p=$(grep -Eo "[0-9]+ successes" <<<"$line" | awk '{print $1}')
  f=$(grep -Eo "[0-9]+ failures" <<<"$line" | awk '{print $1}')
  e=$(grep -Eo "[0-9]+ errors" <<<"$line" | awk '{print $1}')
  passed=$((passed + p)); failed=$((failed + f + e))
}

# The failing tests of a node:test TAP log, nested ones included, each with its error message, so
# that a CI failure can be read from the summary alone.
js_failures() { # $1: log
  grep -E "^ *not ok |^ *error: " "$1" | grep -A1 "not ok" | grep -v "^--$" | head -30 || true
}

# One real-client suite: node_suite NAME [VAR=value ...] runs `npm test` in tests/js with that
# environment; pytest_suite NAME [VAR=value ...] -- [pytest args] runs tests/python/run. Each prints
# its summary and failures and adds to the totals.
node_suite() {
  local name="$1"; shift
  (cd tests/js && env "$@" timeout 900 npm test) >"$log_dir/js-$name.log" 2>&1
  grep -E "^# (tests|pass|fail) " "$log_dir/js-$name.log" || true
  js_failures "$log_dir/js-$name.log"
  count_node "$log_dir/js-$name.log"
}
pytest_suite() {
  local name="$1"; shift
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  env "${envs[@]+"${envs[@]}"}" timeout 600 tests/python/run "$@" >"$log_dir/py-$name.log" 2>&1
  tail -n 1 "$log_dir/py-$name.log"
  grep -aE "^FAILED|^ERROR|runtime error: " "$log_dir/py-$name.log" | head -20 || true
  count_pytest "$log_dir/py-$name.log"
}

build() { # $1: dir, rest: cmake flags
  local dir="$1"; shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$log_dir/cmake-$(basename "$dir").log" 2>&1 &&
    cmake --build "$dir" -j2 >>"$log_dir/cmake-$(basename "$dir").log" 2>&1
}

run_stage() { # $1: name, $2: build dir
  local name="$1" dir="$2"
  echo "== $name: C unit tests"
  (cd "$dir" && ctest --output-on-failure) >"$log_dir/ctest-$name.log" 2>&1
  tail -n 3 "$log_dir/ctest-$name.log" | grep -E "tests passed|Total Test" || true
  count_ctest "$log_dir/ctest-$name.log"
  echo "== $name: real clients (node:test)"
  node_suite "$name" SIO_BUILD_DIR="$root/$dir"
  echo "== $name: python-socketio client (pytest)"
  # the Python API's own tests (in-process servers) run in the Python stage
  pytest_suite "$name" SIO_BUILD_DIR="$root/$dir" -- --ignore=tests/python/test_node_style.py \
    --ignore=tests/python/compat
}

if build build; then
  # The release stage's cluster tests start Python nodes too: the extension is built first, so that
  # no node spends its start-up timeout compiling (the Python stage below finds it up to date).
  timeout 600 examples/contract/run python --build-only >"$log_dir/py-build-early.log" 2>&1 || true
  run_stage release build
  # libsio.so exports only sio.h's API; installed, it builds a program outside the tree.
  echo "== abi: exported symbols, cmake --install, pkg-config"
  if bash scripts/abi-check.sh build >"$log_dir/abi.log" 2>&1; then
    cat "$log_dir/abi.log"; passed=$((passed + 1))
  else
    tail -40 "$log_dir/abi.log"; failed=$((failed + 1))
  fi
else
  echo "build failed (see $log_dir/cmake-build.log)"; tail -20 "$log_dir/cmake-build.log"; failed=$((failed + 1))
fi

# The Python package: the same real-client suites against the Python contract server (in-tree build,
# made once here so that no test waits for it), then the wheel, repaired and installed in a fresh venv.
echo "== python: build the extension"
if timeout 600 examples/contract/run python --build-only >"$log_dir/py-build.log" 2>&1; then
  echo "== python contract server: real clients (node:test)"
  node_suite python SIO_SERVER='examples/contract/run python'
  echo "== python contract server: python-socketio client + API tests (pytest)"
  pytest_suite python SIO_SERVER='examples/contract/run python'
  # workers (tests/js/workers*.test.mjs ran with every node_suite): python-socketio's client too
  echo "== contract servers --workers 2: python-socketio client (pytest)"
  for lang in c python lua; do
    pytest_suite "workers-$lang" SIO_SERVER="examples/contract/run $lang --workers 2" -- \
      tests/python/test_contract_client.py
  done
else
  echo "python extension build failed"; tail -20 "$log_dir/py-build.log"; failed=$((failed + 1))
fi
echo "== python: wheel (build, auditwheel repair, fresh venv) and the contract suite against it"
if whl=$(bash scripts/wheel.sh "$root/dist" 2>"$log_dir/wheel.log" | tail -1) && [ -f "$whl" ]; then
  echo "$(basename "$whl")"
  SIO_PY_INSTALLED=1 SIO_PYTHON_EXE="$root/build-wheel/fresh/bin/python" SIO_SERVER='examples/contract/run python' \
    timeout 600 tests/python/run --ignore=tests/python/test_api.py --ignore=tests/python/test_swig_api.py \
    --ignore=tests/python/test_node_style.py --ignore=tests/python/test_http_apps.py \
    --ignore=tests/python/test_hooks.py --ignore=tests/python/test_tls.py --ignore=tests/python/test_recovery.py \
    --ignore=tests/python/test_socket_use.py --ignore=tests/python/test_metrics.py --ignore=tests/python/test_admin.py \
    --ignore=tests/python/test_client.py --ignore=tests/python/test_client_ported.py \
    --ignore=tests/python/test_workers.py \
    --ignore=tests/python/compat >"$log_dir/py-wheel.log" 2>&1
  tail -n 1 "$log_dir/py-wheel.log"
  count_pytest "$log_dir/py-wheel.log"
  echo "== python: the installed wheel's API and the contract, driven by python-socketio from PyPI"
  pypi="$root/build-wheel/pypi"
  rm -rf "$pypi"
  # Flask and FastAPI: the WSGI/ASGI apps beside Socket.IO (test_http_apps.py skips them elsewhere);
  # with uvicorn, the acceptance apps (tests/python/compat/test_upstream_examples.py), run on
  # python-socketio's own server as the control and on sio with their import and launcher changed.
  if python3 -m venv "$pypi" && "$pypi/bin/pip" install -q "$whl" python-socketio==5.18.1 websocket-client aiohttp \
      requests pytest flask fastapi uvicorn mypy prometheus-client >"$log_dir/pypi-venv.log" 2>&1; then
    pytest_suite pypi PYTHON="$pypi/bin/python" SIO_PY_INSTALLED=1 -- tests/python/test_api.py \
      tests/python/test_swig_api.py tests/python/test_contract_client.py tests/python/test_node_style.py \
      tests/python/test_http_apps.py tests/python/test_hooks.py tests/python/test_tls.py tests/python/compat \
      tests/python/test_recovery.py tests/python/test_socket_use.py tests/python/test_metrics.py \
      tests/python/test_admin.py tests/python/test_client.py tests/python/test_client_ported.py \
      tests/python/test_workers.py
    echo "== python: mypy --strict over the Python examples, against the installed package's types"
    mypy_ok=1
    for ex in examples/contract/server.py examples/chat/server.py examples/draw/server.py examples/draw/bot.py examples/client/echo.py; do
      # one at a time (three modules named server); sio's own sources are followed silently
      timeout 300 "$pypi/bin/python" -m mypy --strict --follow-imports=silent --no-incremental --cache-dir "$root/build-wheel/mypy-cache" "$ex" \
        >>"$log_dir/mypy.log" 2>&1 || mypy_ok=0
    done
    if [ "$mypy_ok" = 1 ]; then
      echo "mypy: 5 examples clean"; passed=$((passed + 1))
    else
      grep -E "error:" "$log_dir/mypy.log" | head -20; failed=$((failed + 1))
    fi
    echo "== python: stubtest (_core.pyi against the installed extension)"
    if (cd /tmp && timeout 300 "$pypi/bin/python" -m mypy.stubtest sio._core) >"$log_dir/stubtest.log" 2>&1; then
      tail -n 1 "$log_dir/stubtest.log"; passed=$((passed + 1))
    else
      tail -20 "$log_dir/stubtest.log"; failed=$((failed + 1))
    fi
  else
    echo "PyPI venv failed"; tail -20 "$log_dir/pypi-venv.log"; failed=$((failed + 1))
  fi
else
  echo "wheel build failed"; tail -20 "$log_dir/wheel.log"; failed=$((failed + 1))
fi

# Building from a checkout: CMake names the missing Debian packages; `pip wheel ./python` writes
# nothing into the checkout (ignored files included); the builds above left `git status` as it was.
echo "== python: building from a checkout (missing packages named, nothing written into it)"
pytest_suite build SIO_WHEEL_TOOLS="$root/build-wheel/tools" -- tests/build
if [ "$(tree_state)" = "$tree_before" ]; then
  echo "source tree unchanged by the Python builds"; passed=$((passed + 1))
else
  echo "the Python builds changed the source tree:"
  diff <(echo "$tree_before") <(tree_state) | head -20
  failed=$((failed + 1))
fi

# Lua: the binding's own specs (busted: values, API in-process, siod as a process, memory), then the
# real-client suites against the Lua contract server (siod examples/contract/server.lua).
echo "== lua: busted (binding, siod, memory)"
SIO_BUILD_DIR="$root/build" timeout 600 tests/lua/run >"$log_dir/lua-busted.log" 2>&1
grep -E "[0-9]+ successes / " "$log_dir/lua-busted.log" | tail -1
grep -E "^(Failure|Error) " "$log_dir/lua-busted.log" | head -20 || true
count_busted "$log_dir/lua-busted.log"
echo "== lua: LuaRocks (lua/sio-0.1.0-1.rockspec into a fresh tree)"
rocks="$(mktemp -d)"
if timeout 900 luarocks --lua-version=5.4 --tree "$rocks" make lua/sio-0.1.0-1.rockspec >"$log_dir/luarocks.log" 2>&1 &&
  LUA_CPATH="$rocks/lib/lua/5.4/?.so" lua5.4 -e 'assert(require("sio").server)' &&
  "$rocks/bin/siod" --version &&
  test -f "$rocks/lib/luarocks/rocks-5.4/sio/0.1.0-1/library/sio.lua"; then  # the LuaLS definitions
  passed=$((passed + 1))
else
  echo "luarocks make failed"; tail -20 "$log_dir/luarocks.log"; failed=$((failed + 1))
fi
rm -rf "$rocks" build.luarocks
echo "== lua contract server: real clients (node:test)"
node_suite lua SIO_SERVER='examples/contract/run lua'
echo "== lua contract server: python-socketio client (pytest)"
pytest_suite lua SIO_SERVER='examples/contract/run lua' -- --ignore=tests/python/test_api.py \
  --ignore=tests/python/test_workers.py \
  --ignore=tests/python/test_swig_api.py --ignore=tests/python/test_node_style.py --ignore=tests/python/test_http_apps.py \
  --ignore=tests/python/test_hooks.py --ignore=tests/python/test_tls.py --ignore=tests/python/test_recovery.py \
  --ignore=tests/python/compat

# The guides (docs/coming-from-*.md): each python and lua block run as a server (the in-tree Python
# build, siod) and driven by python-socketio's client; the other blocks compiled.
echo "== docs: the guides' code blocks (pytest)"
pytest_suite docs SIO_BUILD_DIR="$root/build" SIOD="$root/build/siod" -- tests/docs

# sio's C client from the outside (tests/client): every server (C, Python, Lua, the Node reference,
# python-socketio from PyPI in a venv of its own), each transport, EIO3, msgpack, recovery, then
# reconnection through a TCP proxy, a restarted server, and bad servers.
client_suite() { # $1: name, rest: VAR=value ... -- pytest args
  local name="$1"; shift
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  env "${envs[@]+"${envs[@]}"}" timeout 900 tests/client/run "$@" >"$log_dir/client-$name.log" 2>&1
  tail -n 1 "$log_dir/client-$name.log"
  grep -aE "^FAILED|^ERROR|runtime error: |ERROR: AddressSanitizer" "$log_dir/client-$name.log" | head -20 || true
  count_pytest "$log_dir/client-$name.log"
}
echo "== client: sio's C client against every server, a proxy, bad servers (pytest)"
cvenv="$root/build-client-venv"
if { [ -x "$cvenv/bin/python" ] || python3 -m venv "$cvenv"; } &&
    "$cvenv/bin/pip" install -q python-socketio==5.18.1 uvicorn websockets pytest >"$log_dir/client-venv.log" 2>&1; then
  client_suite release PYTHON="$cvenv/bin/python" SIO_PYSIO_PYTHON="$cvenv/bin/python" SIO_BUILD_DIR="$root/build"
else
  echo "client venv failed"; tail -20 "$log_dir/client-venv.log"; failed=$((failed + 1))
fi

# The example apps (chat, draw-and-guess), Python and Lua servers, end to end in headless Chromium.
echo "== e2e: example apps in Chromium (node:test)"
(cd tests/e2e && timeout 900 npm test) >"$log_dir/e2e.log" 2>&1
grep -E "^# (tests|pass|fail) " "$log_dir/e2e.log" || true
js_failures "$log_dir/e2e.log"
count_node "$log_dir/e2e.log"

if build build-asan -DSIO_SANITIZE=ON; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 run_stage asan build-asan
  # siod on ASan+UBSan (leaks make it exit non-zero): the real clients against the Lua contract
  # server, and the daemon's own specs; the client specs run their client-only script and the draw
  # bot (and its server) under it.
  echo "== asan: lua contract server, real clients (node:test)"
  node_suite lua-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 SIO_BUILD_DIR="$root/build-asan" \
    SIO_SERVER='examples/contract/run lua'
  echo "== asan: siod specs (busted)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 SIO_BUILD_DIR="$root/build" SIOD="$root/build-asan/siod" \
    timeout 600 tests/lua/run tests/lua/siod_spec.lua tests/lua/client_spec.lua tests/lua/draw_bot_spec.lua \
    >"$log_dir/lua-busted-asan.log" 2>&1
  grep -E "[0-9]+ successes / " "$log_dir/lua-busted-asan.log" | tail -1
  grep -E "^(Failure|Error) " "$log_dir/lua-busted-asan.log" | head -20 || true
  count_busted "$log_dir/lua-busted-asan.log"
  # sio's C client on ASan+UBSan (sio-client-check and the C contract server from build-asan): the
  # contract over each transport, reconnection, every bad server and the hostile one.
  echo "== asan: sio's C client (pytest)"
  client_suite asan PYTHON="$root/build-client-venv/bin/python" SIO_BUILD_DIR="$root/build-asan" \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 -- -k "bad_server or hostile or (test_contract and c-) or (reconnect and c-)"
  # The Python extension on UBSan alone (ASan cannot be loaded into python3), its own build; the
  # values any client can send. --capture=sys: pytest's fd capture would swallow what UBSan prints
  # before it aborts the run.
  echo "== ubsan: python extension, values (pytest)"
  pytest_suite python-ubsan SIO_PY_BUILD_DIR="$root/build-python-ubsan" SIO_PY_CMAKE_ARGS=-DSIO_SANITIZE_UB=ON \
    UBSAN_OPTIONS=print_stacktrace=1 -- --capture=sys tests/python/test_api.py -k 'values or numbers or call_later or call_every or deep'
  echo "== ubsan: python extension, the client (pytest, against the C contract server)"
  pytest_suite python-client-ubsan SIO_PY_BUILD_DIR="$root/build-python-ubsan" UBSAN_OPTIONS=print_stacktrace=1 \
    SIO_CLIENT_SERVERS=c -- --capture=sys tests/python/test_client.py tests/python/test_client_ported.py
else
  echo "sanitizer build failed"; tail -20 "$log_dir/cmake-build-asan.log"; failed=$((failed + 1))
fi

echo "== fuzzers: ${fuzz_seconds}s each"
if CC=clang build build-fuzz -DSIO_FUZZ=ON -DSIO_TESTS=OFF; then
  for f in build-fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus="$root/build-fuzz/corpus-$name"; mkdir -p "$corpus"
    seeds=(); [ -d "tests/fuzz/seeds/$name" ] && seeds=("tests/fuzz/seeds/$name") # read-only starting points
    if "$f" "$corpus" "${seeds[@]+"${seeds[@]}"}" -max_total_time="$fuzz_seconds" -rss_limit_mb=4096 \
        >"$log_dir/$name.log" 2>&1; then
      echo "$name: ok ($(grep -Eo 'Done [0-9]+ runs' "$log_dir/$name.log" | tail -1))"; passed=$((passed + 1))
    else
      echo "$name: FAILED"; tail -30 "$log_dir/$name.log"; failed=$((failed + 1))
    fi
  done
else
  echo "fuzz build failed"; tail -20 "$log_dir/cmake-build-fuzz.log"; failed=$((failed + 1))
fi

echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
