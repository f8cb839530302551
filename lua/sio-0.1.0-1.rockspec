-- The Lua 5.4 rock of sio: the module sio.so (`require "sio"`) and the daemon siod.
-- From a checkout, at the root of the repository:
--   luarocks --lua-version=5.4 make lua/sio-0.1.0-1.rockspec
-- (`make` builds in the current directory, so it must be the root, where CMakeLists.txt is; `luarocks
-- build`/`install` clone the tag and build at the clone's root the same way.)
-- Besides the headers checked below, the build needs pkg-config with lua5.4, libuv and libcjson, and
-- llhttp's C sources as Debian's node-llhttp installs them (/usr/share/llhttp): scripts/deps.sh.
rockspec_format = "3.0"
package = "sio"
version = "0.1.0-1"

source = {
   url = "git+https://github.com/sio-project/sio.git",
   tag = "v0.1.0",
}

description = {
   summary = "A Socket.IO v4 server and client on a C core (libuv) for Lua 5.4, with the siod daemon",
   detailed = [[
sio is a Socket.IO v4 server (Engine.IO v4 and v3, long-polling and WebSocket with the upgrade)
whose core is C on libuv. This rock installs the module sio (`require "sio"`, which runs its own
loop through sio.run()) and siod, a daemon that runs one script on its loop with command-line
overrides of the listening options, graceful shutdown on SIGTERM/SIGINT and reload on SIGHUP.
sio.client(url, opts) is socket.io-client's io() on the same loop: reconnection, buffering,
connection state recovery.
]],
   homepage = "https://github.com/sio-project/sio",
   license = "MIT",
   labels = { "socket.io", "websocket", "libuv", "server", "client" },
}

dependencies = {
   "lua >= 5.4, < 5.5",
}

external_dependencies = {
   LIBUV = { header = "uv.h" },
   CJSON = { header = "cjson/cJSON.h" },
   -- libcrypto: SHA-1 of the WebSocket handshake, random session ids
   OPENSSL = { header = "openssl/evp.h" },
}

build = {
   type = "cmake",
   variables = {
      CMAKE_BUILD_TYPE = "Release",
      CMAKE_INSTALL_PREFIX = "$(PREFIX)",
      CMAKE_INSTALL_BINDIR = "$(BINDIR)",
      SIO_LUA_CMOD_DIR = "$(LIBDIR)",
      -- the LuaLS definitions (lua/library/sio.lua) in the rock's directory, outside Lua's path:
      -- point an editor's "workspace.library" at <rock dir>/library
      SIO_LUA_LIBRARY_DIR = "$(PREFIX)/library",
      -- the C library (libsio.so, sio.h) is of no use to Lua, and LuaRocks would take it for a module
      SIO_INSTALL_CORE = "OFF",
      SIO_TESTS = "OFF",
      SIO_BENCH = "OFF",
      SIO_PYTHON = "OFF",
   },
}
