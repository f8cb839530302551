# What a build of sio needs from the system, found in one place. A missing piece does not stop the
# configure at the first pkg-config module: every one is collected, and the configure stops with the
# Debian/Ubuntu packages to install (python/README.md and lua/README.md list the same).
#   in:  SIO_PYTHON, SIO_LUA, SIO_FUZZ (options); out: PkgConfig::LIBUV, PkgConfig::CJSON,
#   OpenSSL::Crypto, OpenSSL::SSL, ZLIB::ZLIB, LLHTTP_INCLUDE_DIR, LLHTTP_SRC_DIR, HIREDIS_FOUND/MSGPACK_FOUND (optional).
set(SIO_MISSING "")

find_package(PkgConfig QUIET)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "sio: pkg-config was not found (it finds the libraries below).\n"
    "  Debian/Ubuntu: sudo apt install pkg-config")
endif()
pkg_check_modules(LIBUV QUIET IMPORTED_TARGET libuv)
if(NOT LIBUV_FOUND)
  list(APPEND SIO_MISSING "libuv1-dev (libuv)")
endif()
pkg_check_modules(CJSON QUIET IMPORTED_TARGET libcjson)
if(NOT CJSON_FOUND)
  list(APPEND SIO_MISSING "libcjson-dev (cJSON)")
endif()
find_package(OpenSSL QUIET COMPONENTS Crypto SSL)
if(NOT OpenSSL_FOUND)
  list(APPEND SIO_MISSING "libssl-dev (OpenSSL's libcrypto and libssl: TLS listeners)")
endif()
# zlib: permessage-deflate (RFC 7692) and the gzip/deflate of polling responses (httpCompression).
find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  list(APPEND SIO_MISSING "zlib1g-dev (zlib: permessage-deflate, HTTP compression)")
endif()
# libcrypt (libxcrypt): crypt_r checks the bcrypt hashes of the Admin UI's basic auth.
pkg_check_modules(LIBCRYPT QUIET IMPORTED_TARGET libcrypt)
if(NOT LIBCRYPT_FOUND)
  list(APPEND SIO_MISSING "libcrypt-dev (libxcrypt: bcrypt for the Admin UI's basic auth)")
endif()
# llhttp: Debian's node-llhttp ships its generated C sources; we compile them, never copy them.
find_path(LLHTTP_INCLUDE_DIR llhttp.h PATHS /usr/share/include/llhttp /usr/include /usr/include/llhttp)
find_path(LLHTTP_SRC_DIR llhttp.c PATHS /usr/share/llhttp)
if(NOT LLHTTP_INCLUDE_DIR OR NOT LLHTTP_SRC_DIR)
  list(APPEND SIO_MISSING "node-llhttp (llhttp's C sources in /usr/share/llhttp)")
endif()
# The Redis cluster adapter (core/src/adapter/redis.c): hiredis (async API + its libuv glue) and
# msgpack-c, optional (SIO_REDIS below).
pkg_check_modules(HIREDIS QUIET IMPORTED_TARGET hiredis)
pkg_check_modules(MSGPACK QUIET IMPORTED_TARGET msgpack)

if(SIO_PYTHON AND NOT SIO_FUZZ)
  find_package(Python 3.9 QUIET COMPONENTS Interpreter Development.Module)
  if(NOT Python_Development.Module_FOUND)
    list(APPEND SIO_MISSING "python3-dev (Python.h, for the extension sio._core)")
  endif()
  find_package(SWIG 4.0 QUIET COMPONENTS python)
  if(NOT SWIG_FOUND)
    list(APPEND SIO_MISSING "swig (4.0 or later, for sio.api, pip builds take it from PyPI)")
  endif()
endif()
if((SIO_LUA AND NOT SIO_FUZZ) OR SIO_FUZZ)
  pkg_check_modules(LUA54 QUIET IMPORTED_TARGET lua5.4)
  if(NOT LUA54_FOUND)
    list(APPEND SIO_MISSING "liblua5.4-dev (Lua 5.4, for sio.so and siod, or -DSIO_LUA=OFF)")
  endif()
endif()

if(SIO_MISSING)
  set(sio_pkgs "")
  foreach(m ${SIO_MISSING})
    string(REGEX REPLACE " .*" "" p "${m}")
    list(APPEND sio_pkgs ${p})
  endforeach()
  string(REPLACE ";" "\n    " sio_list "${SIO_MISSING}")
  string(REPLACE ";" " " sio_pkgs "${sio_pkgs}")
  message(FATAL_ERROR "sio: missing build dependencies:\n    ${sio_list}\n"
    "  Debian/Ubuntu: sudo apt install ${sio_pkgs}\n"
    "  (python/README.md lists everything a build from source needs)")
endif()
