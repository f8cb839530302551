-- siod, the daemon, as a process ($SIOD): its command line, exit statuses, signals (SIGTERM: a
-- graceful shutdown; SIGHUP: a reload that keeps the connections, or keeps the running script when
-- the new one fails) and its log. Scripts are written to temporary files; clients are
-- tests/lua/helpers/client.py (python-socketio) in the background.
package.path = "tests/lua/helpers/?.lua;" .. package.path
local sio = require "sio"
local H = require("util").with_sio(sio)

local procs = {}

after_each(function()
  for i = #procs, 1, -1 do procs[i].stop() end
  procs = {}
  H.cleanup_temps()
end)

local function script_file(source)
  local path = H.tmpname(".lua")
  H.write_file(path, source)
  return path
end

-- Replaces a script's text at once (a reload must never read half a file).
local function rewrite(path, source)
  local tmp = path .. ".new"
  H.write_file(tmp, source)
  assert(os.rename(tmp, path))
end

-- Runs siod to its end (bounded): output (stdout and stderr) and exit status.
local function run_siod(args)
  local f = assert(io.popen(("timeout 20 %s %s 2>&1"):format(H.q(H.siod), args)))
  local out = f:read("a")
  local _, how, code = f:close()
  if how == "signal" then code = 128 + code end
  return out, code
end

-- Starts siod in the background (stdout and stderr in one log); waits for "listening on
-- HOST:PORT" when `listening` is set. The process is killed after the test.
local function start_siod(args, listening)
  local log = H.tmpname()
  -- timeout(1) bounds a daemon left behind by an aborted run; --foreground: it passes each signal
  -- on to siod (without it, it ignores a signal once it has passed it on: a second SIGHUP is lost)
  local p = H.spawn(("exec timeout --foreground 120 %s %s"):format(H.q(H.siod), args), log)
  procs[#procs + 1] = p
  p.log = p.output
  if listening ~= false then
    local ok = H.wait_for(function() return p.log():match("listening on [^:%s]+:%d+") or not p.running() end, 10000)
    local host, port = p.log():match("listening on ([^:%s]+):(%d+)")
    assert(ok and port, "siod did not start listening:\n" .. p.log())
    p.host, p.port = host, tonumber(port)
  end
  -- waits until the log matches pattern (the count-th time); returns whether it did
  function p.wait_log(pattern, count, ms)
    return H.wait_for(function()
      local n = 0
      for _ in p.log():gmatch(pattern) do n = n + 1 end
      return n >= (count or 1)
    end, ms or 10000)
  end
  function p.signal(sig) H.kill(p.pid, sig) end
  return p
end

local function client(scenario, port, arg)
  local c = H.client(scenario, port, arg)
  procs[#procs + 1] = c
  return c
end

local function wait_client(c, ms)
  assert(H.wait_for(c.done, ms or 20000), "client not done:\n" .. c.output())
  for _, r in ipairs(c.results()) do assert(r.fatal == nil, "client failed:\n" .. c.output()) end
end

-- A port nobody listens on (found by binding port 0, then closing).
local function free_port()
  local s = assert(sio.server { host = "127.0.0.1", port = 0 })
  local port = s.port
  s:close()
  H.pump(30)
  return port
end

-- ---------------------------------------------------------------------------------------------

describe("siod's command line", function()
  it("--help prints the usage on stdout and exits 0; -v prints the versions", function()
    local f = assert(io.popen(("timeout 10 %s --help 2>/dev/null"):format(H.q(H.siod))))
    local out = f:read("a")
    local ok, _, code = f:close()
    assert.is_true(ok)
    assert.are.equal(0, code)
    assert.matches("^usage: siod %[options%] script%.lua %[script args%.%.%.%]", out)
    assert.matches("%-%-port N", out)
    assert.matches("SIGHUP reloads", out)
    local v, vcode = run_siod("-v")
    assert.are.equal(0, vcode)
    assert.matches("^siod %S+ %(Lua 5%.4", v)
  end)

  it("exits 2 without a script, on an unknown option before it and on a bad value", function()
    local out, code = run_siod("")
    assert.are.equal(2, code)
    assert.matches("no script given", out)
    assert.matches("usage: siod", out)
    out, code = run_siod("--bogus x.lua")
    assert.are.equal(2, code)
    assert.matches("unknown option %-%-bogus", out)
    out, code = run_siod("--port 99999 x.lua")
    assert.are.equal(2, code)
    assert.matches("%-%-port: bad value '99999'", out)
    out, code = run_siod("x.lua --port")
    assert.are.equal(2, code)
    assert.matches("missing the value of %-%-port", out)
    out, code = run_siod("--parser json x.lua")
    assert.are.equal(2, code)
    assert.matches("%-%-parser: only msgpack is known", out)
    out, code = run_siod("--redis redis://127.0.0.1:1 --redis-mode stream x.lua")
    assert.are.equal(2, code)
    assert.matches("%-%-redis%-mode: classic, sharded or streams, not stream", out)
    out, code = run_siod("--redis-mode streams x.lua")
    assert.are.equal(2, code)
    assert.matches("%-%-redis%-mode needs %-%-redis URL", out)
  end)

  it("--redis-mode reaches sio.server{} as redis_mode", function()
    local script = script_file([[
      local sio = require "sio"
      local ok, err = pcall(sio.server, { host = "127.0.0.1", port = 0 })
      print("made", ok, ok and err.redis or tostring(err))
      os.exit(0)
    ]])
    -- siod's overrides are applied to every sio.server{}: with redis_mode and no redis of the
    -- script's, the URL is siod's; a server is made (Redis unreachable is retried, not an error)
    local out, code = run_siod("--redis redis://127.0.0.1:1 --redis-mode sharded " .. H.q(script))
    assert.are.equal(0, code, out)
    assert.matches("made%s+true%s+redis://127%.0%.0%.1:1", out)
  end)

  it("exits 1 on a syntax error in the script, the error in the log", function()
    local script = script_file("local sio = require 'sio'\nlocal x = = 1\n")
    local out, code = run_siod(H.q(script))
    assert.are.equal(1, code)
    assert.matches("ERROR", out)
    assert.matches(script:gsub("%p", "%%%0") .. ":2: unexpected symbol near '='", out)
  end)

  it("exits 1 on a runtime error at startup, with a traceback, after closing what it opened", function()
    local script = script_file([[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      print(("listening on %s:%d"):format(server.host, server.port))
      local function fail() error("broken at startup") end
      fail()
    ]])
    local out, code = run_siod(H.q(script))
    assert.are.equal(1, code, out)
    assert.matches("listening on 127%.0%.0%.1:%d+", out)
    assert.matches("ERROR%s+error in " .. script:gsub("%p", "%%%0") .. ": [^\n]*broken at startup", out)
    assert.matches("stack traceback:", out)
  end)

  it("--port and --host (before or after the script) override what the script passes to sio.server{}", function()
    local script = script_file([[
      local sio = require "sio"
      -- neither is usable here: the daemon's options must win
      local server = assert(sio.server { host = "10.255.255.1", port = 1, path = "/wrong/" })
      print(("listening on %s:%d%s"):format(server.host, server.port, server.path))
    ]])
    local port = free_port()
    local p = start_siod(("--port=%d %s --host 127.0.0.1 --path /socket.io/"):format(port, H.q(script)))
    assert.are.equal("127.0.0.1", p.host)
    assert.are.equal(port, p.port)
    assert.matches("listening on 127%.0%.0%.1:%d+/socket%.io/", p.log())
    local c = client("connect", port, { {} })
    wait_client(c)
    assert.is_true(c.find("attempt", 0).ok, c.output())
  end)

  it("--debug CATEGORIES: the core's debug lines in the log, whatever the level; a bad list exits 2", function()
    local script = script_file([[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      print(("listening on %s:%d"):format(server.host, server.port))
    ]])
    local p = start_siod(("--log-level warn --debug engine,nsp %s"):format(H.q(script)))
    local c = client("connect", p.port, { {} })
    wait_client(c)
    assert.is_true(p.wait_log("sio: engine: session [%w_-]+ closed: "), p.log())
    assert.matches("DEBUG sio: engine: session [%w_-]+ handshake: transport %a+, EIO 4, peer 127%.0%.0%.1\n", p.log())
    assert.matches("sio: nsp: socket [%w_-]+ connected to nsp / %(session [%w_-]+%)", p.log())
    assert.is_nil(p.log():match("sio: socket: "), p.log())
    local out, code = run_siod("--debug engine,bogus x.lua")
    assert.are.equal(2, code)
    assert.matches("%-%-debug: expected categories", out)
  end)

  it("--no-http-compression overrides the script's http_compression: polling responses go plain", function()
    local script = script_file([[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0, http_compression = { threshold = 100 } })
      server:engine({ path = "/engine.io/" }):on("message", function(session, data) session:send(data) end)
      print(("listening on %s:%d"):format(server.host, server.port))
    ]])
    for _, flag in ipairs { "", "--no-http-compression" } do
      local p = start_siod(("%s %s"):format(flag, H.q(script)))
      local c = client("compressed", p.port, { accept = "gzip", size = 3000 })
      wait_client(c)
      local r = c.find("step", "poll")
      assert.is_true(r.same, c.output())
      assert.are.equal(flag == "" and "gzip" or "", r.encoding, flag)
      p.signal("TERM")
      assert.are.equal(0, H.wait_exit(p, 10000), p.log())
    end
  end)

  it("--parser msgpack overrides the script's parser: the server speaks socket.io-msgpack-parser", function()
    local script = script_file([[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      server:on("connection", function(socket) socket:on("echo", function(x) return x end) end)
      print(("listening on %s:%d"):format(server.host, server.port))
    ]])
    local p = start_siod(("--parser msgpack %s"):format(H.q(script)))
    -- {type: 2, data: ["echo", 7], nsp: "/", id: 1}, answered {id: 1, type: 3, data: [7], nsp: "/"}
    local c = client("msgpack", p.port, { send = { "84a47479706502a46461746192a46563686f07a36e7370a12fa2696401" } })
    wait_client(c)
    local polls = {}
    for _, r in ipairs(c.results()) do
      if r.step == "poll" then polls[#polls + 1] = r.messages end
    end
    assert.are.same({ "84a2696401a47479706503a46461746191" .. "07a36e7370a12f" }, polls[2], c.output())
    p.signal("TERM")
    assert.are.equal(0, H.wait_exit(p, 10000), p.log())
  end)

  it("passes the arguments after the script to it, in `arg` and `...`, unknown options included", function()
    local script = script_file([[
      print("dots", select("#", ...), table.concat({ ... }, "|"))
      print("arg", #arg, table.concat(arg, "|"))
      print("arg0", arg[0], arg[-1])
    ]])
    local out, code = run_siod(("--log-level warn %s --cors x foo --port 0 -- --port 1 --help"):format(H.q(script)))
    assert.are.equal(0, code, out) -- nothing left running: the daemon ends
    assert.matches("dots\t6\t%-%-cors|x|foo|%-%-port|1|%-%-help\n", out)
    assert.matches("arg\t6\t%-%-cors|x|foo|%-%-port|1|%-%-help\n", out)
    assert.matches("arg0\t" .. script:gsub("%p", "%%%0") .. "\t" .. H.siod:gsub("%p", "%%%0") .. "\n", out)
  end)
end)

describe("siod's signals", function()
  it("SIGTERM shuts down gracefully: the client gets a disconnect, the exit status is 0", function()
    local script = script_file([[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      server:on("connection", function(socket)
        print("connected " .. socket.id)
        socket:on("disconnect", function(reason) print("disconnect reason: " .. reason) end)
      end)
      sio.set_interval(function() end, 1000) -- a timer: the shutdown stops it too
      print(("listening on %s:%d"):format(server.host, server.port))
    ]])
    local p = start_siod(H.q(script))
    local c = client("listen", p.port, { wait = 15 })
    assert.is_true(p.wait_log("connected %S+"), p.log())
    p.signal("TERM")
    local status = H.wait_exit(p, 10000)
    assert.are.equal(0, status, p.log())
    wait_client(c)
    assert.is_truthy(c.find("disconnect", true), c.output())
    assert.is_true(c.find("step", "wait").disconnected)
    local log = p.log()
    assert.matches("INFO%s+shutting down %(SIGTERM%)", log)
    assert.matches("disconnect reason: server shutting down", log)
    assert.matches("INFO%s+shut down", log)
  end)

  it("SIGTERM resumes the handlers still waiting (a sleep, an ack, a wait in a callback), then exits 0", function()
    -- under ASan (CI's siod spec), a coroutine left behind or a wait context never freed is a leak
    -- that makes siod exit non-zero
    local script = script_file([[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      server:on("connection", function(socket)
        socket:on("disconnect", function() print("disconnect handler ran") end)
        sio.set_timeout(function() print("sleep: " .. tostring(select(2, sio.sleep(60000)))) end, 0)
        socket:emit("hello", function() print("ack callback: " .. tostring(select(2, socket:call("never")))) end)
        print("connected " .. socket.id)
        print("call: " .. tostring(select(2, socket:call("never"))))
      end)
      print(("listening on %s:%d"):format(server.host, server.port))
    ]])
    local p = start_siod(H.q(script))
    local c = client("listen", p.port, { wait = 15, no_ack = { "never" }, answers = { hello = "hi" } })
    assert.is_true(p.wait_log("connected %S+"), p.log())
    H.wait_for(function() return false end, 300) -- the ack callback is waiting too
    p.signal("TERM")
    assert.are.equal(0, H.wait_exit(p, 10000), p.log())
    wait_client(c)
    local log = p.log()
    assert.matches("call: disconnected", log)
    assert.matches("ack callback: disconnected", log)
    assert.matches("sleep: closed", log)
    assert.matches("disconnect handler ran", log)
    assert.is_nil(log:find("ERROR", 1, true), log)
  end)

  it("logs a handler's error with a traceback and keeps answering", function()
    local script = script_file([[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      server:on("connection", function(socket)
        socket:on("boom", function()
          local function deeper() error("kaboom in a handler") end
          deeper()
        end)
        socket:on("ok", function(n) return n * 2 end)
      end)
      print(("listening on %s:%d"):format(server.host, server.port))
    ]])
    local p = start_siod(H.q(script))
    local c = client("listen", p.port, { steps = { { "emit", "boom" }, { "call", "ok", 21 } }, wait = 0 })
    wait_client(c)
    assert.are.equal(42, c.find("step", "ok").ack, c.output())
    local log = p.log()
    assert.matches("ERROR%s+error in handler for boom: [^\n]*kaboom in a handler", log)
    assert.matches("stack traceback:", log)
    assert.matches("in [^\n]*'deeper'", log)
    assert.is_true(p.running())
    -- and it still answers a new connection
    local c2 = client("connect", p.port, { { call = { "ok", 5 } } })
    wait_client(c2)
    assert.are.same({ ack = 10 }, c2.find("attempt", 0).call)
  end)
end)

describe("siod and bad calls", function()
  -- Every kind of call that raises after the binding allocated something (converted values, room
  -- lists, acks, options), each made a few times in pcall, then the script ends. An ASan siod (CI:
  -- SIOD=build-asan/siod) exits non-zero when LeakSanitizer finds what an error left behind.
  it("frees what a call allocated when it raises: siod exits 0", function()
    local script = script_file([=[
      local sio = require "sio"
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      local fn = function() end
      local deep = {}
      do
        local t = deep
        for _ = 1, 80 do t[1] = {}; t = t[1] end
      end
      local rooms = {} -- more than the binding keeps on the C stack
      for i = 1, 20 do rooms[i] = "room" .. i end
      local many = {} -- converted, then too many to push back
      for i = 1, 600000 do many[i] = i end
      local calls, raised = 0, 0
      local function bad(f)
        for _ = 1, 3 do
          calls = calls + 1
          if not pcall(f) then raised = raised + 1 end
        end
      end
      local function bad_emits(e)
        bad(function() e:emit("x", 1, "two", { 3 }, fn, 4) end)
        bad(function() e:emit("x", 1, sio.binary("b"), deep) end)
        bad(function() e:emit("x", 1, "ok", "\xff\xfe") end)
        bad(function() e:emit("x", 1, { [1.5] = 1 }) end)
        bad(function() e:emit("x", 1, fn, { timeout = -1 }) end)
        bad(function() e:emit("connect", 1, "two") end)
        bad(function() e:to(rooms):except(rooms):emit("x", 1, { fn }) end)
        bad(function() e:to(rooms):emit("x", 1, "\xff") end)
        bad(function() e:to({ "a", {} }) end)
        bad(function() e:except(fn) end)
        bad(function() e:to(rooms):timeout(0) end)
      end
      local function bad_selections(nsp)
        bad(function() nsp:to(rooms):except(rooms):sockets_join(fn) end)
        bad(function() nsp:to(rooms):sockets_leave(fn) end)
        bad(function() nsp:server_side_emit("x", 1, { fn }) end)
        bad(function() nsp:server_side_emit("x", 1, sio.binary("b")) end)
        bad(function() nsp:server_side_emit("connect", 1) end)
        bad(function() nsp:fetch_count("x") end)
      end
      server:on("connection", function(socket)
        socket:on("bad", function(ack)
          bad_emits(server)
          bad_emits(server:of("/other"))
          bad_emits(socket)
          bad_emits(socket.broadcast)
          bad_emits(socket:timeout(1000))
          bad_selections(server)
          bad(function() socket:timeout(5):fetch_sockets() end)
          bad(function() ack(1, fn) end)
          bad(function() ack(deep) end)
          bad(function() sio._roundtrip(1, "two", fn) end)
          bad(function() sio._roundtrip(table.unpack(many)) end)
          bad(function() sio.json.encode({ 1, fn }) end)
          bad(function() sio.server { host = "127.0.0.1", port = "x" } end)
          bad(function() sio.server { host = "127.0.0.1", port = 0, cookie = { bogus = true } } end)
          bad(function() sio.server { host = "127.0.0.1", port = 0, transports = { "x" } } end)
          bad(function() sio.server { host = "127.0.0.1", port = 0, cors = { 1, {} } } end)
          bad(function() server:static("no-slash", ".") end)
          bad(function() sio.set_timeout(fn, "x") end)
          print(("raised %d of %d"):format(raised, calls))
          -- a bad value does not use the ack up
          print("ack after bad values:", pcall(ack, "done"))
          server:close()
        end)
      end)
      print(("listening on %s:%d"):format(server.host, server.port))
    ]=])
    local p = start_siod(H.q(script))
    local c = client("listen", p.port, { steps = { { "call", "bad" } }, wait = 0 })
    wait_client(c)
    assert.are.equal(0, H.wait_exit(p, 20000), p.log())
    assert.are.equal("done", c.find("step", "bad").ack, c.output() .. p.log())
    local raised, calls = p.log():match("raised (%d+) of (%d+)")
    assert.are.equal(calls, raised, p.log())
    assert.matches("ack after bad values:\ttrue", p.log())
  end)
end)

describe("siod --workers N", function()
  -- prints which worker loaded it, with the port of its server and the state's own counter
  local SCRIPT = [[
    local sio = require "sio"
    local index, count = sio.worker()
    loads = (loads or 0) + 1 -- a global: each worker's state has its own
    local server = assert(sio.server { host = "127.0.0.1", port = 0 })
    print(("loaded worker %d of %d port %d load %d"):format(index, count, server.port, loads))
    if index == 0 and loads == 1 then print(("listening on %s:%d"):format(server.host, server.port)) end
  ]]

  it("a Lua state per worker on one port; SIGHUP reloads each; SIGTERM stops all; bad N exits 2", function()
    local p = start_siod("--workers 2 " .. H.q(script_file(SCRIPT)))
    assert.is_true(p.wait_log("loaded worker 1 of 2"), p.log())
    local log = p.log()
    assert.matches("loaded worker 0 of 2 port " .. p.port .. " load 1", log)
    assert.matches("loaded worker 1 of 2 port " .. p.port .. " load 1", log)
    p.signal("HUP")
    assert.is_true(p.wait_log("INFO%s+reloaded", 2), p.log())
    log = p.log()
    assert.matches("loaded worker 0 of 2 port " .. p.port .. " load 2", log)
    assert.matches("loaded worker 1 of 2 port " .. p.port .. " load 2", log)
    p.signal("TERM")
    assert.are.equal(0, H.wait_exit(p, 10000), p.log())
    for _, bad in ipairs({ "0", "65", "x" }) do
      local out, code = run_siod("--workers " .. bad .. " x.lua")
      assert.are.equal(2, code, out)
      assert.matches("%-%-workers: bad value", out)
    end
  end)

  it("a startup error in any worker exits 1", function()
    local out, code = run_siod("--workers 2 " .. H.q(script_file([[
      local sio = require "sio"
      if sio.worker() == 1 then error("worker one fails") end
      sio.server { host = "127.0.0.1", port = 0 }
    ]])))
    assert.are.equal(1, code, out)
    assert.matches("worker one fails", out)
  end)
end)

describe("siod's reload (SIGHUP)", function()
  local function version_script(version, extra)
    return ([[
      local sio = require "sio"
      local VERSION = %q
      local server = assert(sio.server { host = "127.0.0.1", port = 0 })
      server:on("connection", function(socket, reloaded)
        socket:on("version", function() return VERSION end)
        -- sent only to sockets connected before a reload
        if reloaded == true then socket:emit("reloaded", VERSION) end
        if reloaded ~= nil and reloaded ~= true then socket:emit("odd", tostring(reloaded)) end
      end)
      %s
      print(("listening on %%s:%%d (%%s)"):format(server.host, server.port, VERSION))
    ]]):format(version, extra or "")
  end

  it("rebinds HTTP routes: the same route answers with the new script's handler", function()
    local function with_route(version)
      return version_script(version, ('server:route("GET", "/version", function() return 200, %q end)'):format(version))
    end
    local script = script_file(with_route("v1"))
    local p = start_siod(H.q(script))
    local function get()
      local f = assert(io.popen(("curl -s -m 5 http://127.0.0.1:%d/version"):format(p.port)))
      local body = f:read("a")
      f:close()
      return body
    end
    assert.are.equal("v1", get())
    rewrite(script, with_route("v2"))
    p.signal("HUP")
    assert.is_true(p.wait_log("INFO%s+reloaded "), p.log())
    assert.are.equal("v2", get())
  end)

  it("gives allow_request and on_engine hooks the new script's functions, the old ones back on a failure", function()
    local function with_hooks(version, extra)
      return version_script(version, ([[
        server:on_engine("headers", function(headers) headers["X-Version"] = %q end)
        %s
      ]]):format(version, extra or "")):gsub('sio.server {', ('sio.server { allow_request = function() return false, %q end,'):format(version), 1)
    end
    local script = script_file(with_hooks("v1"))
    local p = start_siod(H.q(script))
    local function poll()
      local f = assert(io.popen(("curl -s -i -m 5 'http://127.0.0.1:%d/socket.io/?EIO=4&transport=polling'"):format(p.port)))
      local out = f:read("a")
      f:close()
      return out
    end
    assert.matches('{"code":4,"message":"v1"}', poll(), 1, true)
    rewrite(script, with_hooks("v2"))
    p.signal("HUP")
    assert.is_true(p.wait_log("INFO%s+reloaded "), p.log())
    assert.matches('{"code":4,"message":"v2"}', poll(), 1, true)
    -- a script that fails after making its hooks: the running script's come back
    rewrite(script, with_hooks("v-runtime", 'error("the new script breaks")'))
    p.signal("HUP")
    assert.is_true(p.wait_log("reload of [^\n]* failed, keeping the running script"), p.log())
    assert.matches('{"code":4,"message":"v2"}', poll(), 1, true)
    -- a script without them: let in, no header added
    rewrite(script, version_script("v3"))
    p.signal("HUP")
    assert.is_true(p.wait_log("INFO%s+reloaded ", 2), p.log())
    local out = poll()
    assert.matches("HTTP/1.1 200", out, 1, true)
    assert.is_nil(out:find("X-Version", 1, true))
  end)

  it("drops a socket's catch-alls and packet middleware on a reload: the new script binds its own", function()
    -- MW and OUT count what v1's socket:use and on_any_outgoing saw (globals survive the reload)
    local function script_v(version, hooks)
      return version_script(version, ""):gsub('socket:on%("version", function%(%) return VERSION end%)', ([[
        socket:on("version", function() return VERSION .. ":" .. (MW or 0) .. ":" .. (OUT or 0) end)
        if %s then
          socket:use(function(packet, next) MW = (MW or 0) + 1 next() end)
          socket:on_any_outgoing(function() OUT = (OUT or 0) + 1 end)
        end]]):format(hooks and "true" or "false"), 1)
    end
    local script = script_file(script_v("v1", true))
    local p = start_siod(H.q(script))
    local flag = H.tmpname()
    os.remove(flag)
    local c = client("reload", p.port, { flags = { flag } })
    assert.is_true(H.wait_for(function() return c.find("phase", 1) end, 15000), c.output())
    rewrite(script, script_v("v2", false))
    p.signal("HUP")
    assert.is_true(p.wait_log("INFO%s+reloaded "), p.log())
    H.write_file(flag, "")
    wait_client(c)
    local acks = {}
    for _, r in ipairs(c.results()) do
      if r.step == "version" then acks[#acks + 1] = r.ack end
    end
    -- v1's middleware ran once (phase 0); after the reload neither it nor v1's outgoing catch-all
    -- (which would have counted the "reloaded" emit) is left
    assert.are.same({ "v1:1:0", "v2:1:0" }, acks, c.output())
  end)

  it("keeps the connection, rebinds its handlers, and keeps the old script when the new one fails", function()
    local script = script_file(version_script("v1"))
    local p = start_siod(H.q(script))
    local flags = { H.tmpname(), H.tmpname(), H.tmpname() }
    for _, f in ipairs(flags) do os.remove(f) end
    local c = client("reload", p.port, { flags = flags })
    local function phase_done(i)
      return H.wait_for(function() return c.find("phase", i) and (c.output():find('"phase": ' .. (i + 1), 1, true)) end,
        15000)
    end
    local function version_at(i)
      for _, r in ipairs(c.results()) do
        if r.step == "version" and r.phase == i then return r end
      end
      error("no version at phase " .. i .. ":\n" .. c.output())
    end
    assert.is_true(phase_done(0), c.output())
    assert.are.equal("v1", version_at(0).ack)

    -- 1: a syntax error: the running script stays
    rewrite(script, version_script("v-syntax") .. "\nlocal x = = 1\n")
    p.signal("HUP")
    assert.is_true(p.wait_log("reload failed: [^\n]*keeping the running script"), p.log())
    H.write_file(flags[1], "")
    assert.is_true(phase_done(1), c.output())
    assert.are.equal("v1", version_at(1).ack)

    -- 2: an error at run time, after it bound new handlers: they are dropped, the old ones stay
    rewrite(script, version_script("v-runtime", 'error("the new script breaks")'))
    p.signal("HUP")
    assert.is_true(p.wait_log("reload of [^\n]* failed, keeping the running script"), p.log())
    H.write_file(flags[2], "")
    assert.is_true(phase_done(2), c.output())
    assert.are.equal("v1", version_at(2).ack)

    -- 3: a good script: the same connection now gets v2, and its connection handler ran again
    -- with reloaded == true
    rewrite(script, version_script("v2"))
    p.signal("HUP")
    assert.is_true(p.wait_log("INFO%s+reloaded "), p.log())
    H.write_file(flags[3], "")
    wait_client(c)
    local v3 = version_at(3)
    assert.are.equal("v2", v3.ack, c.output())

    -- the same connection all along: same ids, no disconnect
    local v0 = version_at(0)
    for i = 1, 3 do
      local v = version_at(i)
      assert.is_true(v.flag)
      assert.are.equal(v0.sid, v.sid)
      assert.are.equal(v0.eio_sid, v.eio_sid)
      assert.is_false(v.disconnected)
      assert.is_true(v.connected)
    end
    -- "reloaded" came once, from the good reload only
    local reloaded = c.events("reloaded")
    assert.are.equal(1, #reloaded, c.output())
    assert.are.same({ "v2" }, reloaded[1].args)
    assert.are.equal(0, #c.events("odd"))
    assert.is_nil(c.find("disconnect", true))

    local log = p.log()
    assert.matches("reload failed: [^\n]*unexpected symbol", log)
    assert.matches("the new script breaks", log)
    assert.is_nil(log:find("port %d+: the script no longer makes it"))

    -- a connection made after the reload gets v2 (and no "reloaded")
    local c2 = client("listen", p.port, { steps = { { "call", "version" } }, wait = 0.3 })
    wait_client(c2)
    assert.are.equal("v2", c2.find("step", "version").ack)
    assert.are.equal(0, #c2.events("reloaded"))
    assert.is_true(p.running())

    p.signal("TERM")
    assert.are.equal(0, H.wait_exit(p, 10000), p.log())
  end)

  it("reuses dynamic parents, replaces Engine.IO handlers and closes the servers the script no longer makes", function()
    local other = free_port()
    local function script(version, extra)
      return ([[
        local sio = require "sio"
        local VERSION = %q
        local server = assert(sio.server { host = "127.0.0.1", port = 0 })
        local dyn = server:of(function(name) return name:match("^/dyn%%-") ~= nil end)
        dyn:on("connection", function(socket, reloaded)
          socket:on("version", function() return VERSION .. " " .. socket.nsp.name end)
          if reloaded == true then socket:emit("reloaded", VERSION) end
        end)
        server:engine("/engine.io/"):on("message", function(session, data)
          session:send(type(data) == "string" and VERSION .. ":" .. data or VERSION)
        end)
        %s
        print(("listening on %%s:%%d (%%s)"):format(server.host, server.port, VERSION))
      ]]):format(version, extra or "")
    end
    local keep_other = ("assert(sio.server { host = '127.0.0.1', port = %d })"):format(other)
    local path = script_file(script("v1", keep_other))
    local p = start_siod(H.q(path))
    local flags = { H.tmpname(), H.tmpname() }
    for _, f in ipairs(flags) do os.remove(f) end
    local c = client("reload", p.port, { ns = "/dyn-1", flags = flags })
    assert.is_true(H.wait_for(function() return c.output():find('"phase": 1', 1, true) end, 15000), c.output())

    -- a reload that fails after it made a parent and a server of its own: all as before
    rewrite(path, script("v-broken", keep_other .. [[
      server:of(function() return true end)
      assert(sio.server { host = "127.0.0.1", port = 0 })
      error("the new script breaks")]]))
    p.signal("HUP")
    assert.is_true(p.wait_log("reload of [^\n]* failed, keeping the running script"), p.log())
    H.write_file(flags[1], "")
    assert.is_true(H.wait_for(function() return c.output():find('"phase": 2', 1, true) end, 15000), c.output())
    local nope = client("connect", p.port, { { ns = "/other" } })
    wait_client(nope)
    assert.is_false(nope.find("attempt", 0).ok, nope.output())

    -- a good one without the second server
    rewrite(path, script("v2"))
    p.signal("HUP")
    assert.is_true(p.wait_log("INFO%s+reloaded "), p.log())
    H.write_file(flags[2], "")
    wait_client(c)
    local versions = {}
    for _, r in ipairs(c.results()) do
      if r.step == "version" then versions[r.phase + 1] = r.ack end
    end
    assert.are.same({ "v1 /dyn-1", "v1 /dyn-1", "v2 /dyn-1" }, versions, c.output())
    local reloaded = c.events("reloaded")
    assert.are.equal(1, #reloaded, c.output())
    assert.are.same({ "v2" }, reloaded[1].args)
    assert.matches("closing the server on port " .. other .. ": the script no longer makes it", p.log())
    assert.is_nil(p.log():find("closing the server on port " .. p.port, 1, true))

    -- the reused parent still makes children; the endpoint answers with the new handler
    local c2 = client("connect", p.port, { { ns = "/dyn-2", call = { "version" } }, { ns = "/other" } })
    wait_client(c2)
    assert.are.equal("v2 /dyn-2", c2.find("attempt", 0).call.ack, c2.output())
    assert.is_false(c2.find("attempt", 1).ok, c2.output())
    local e = client("engine", p.port)
    wait_client(e)
    assert.are.same({ "4v2:hello", "4v2", "4v2:bye" }, e.find("step", "read").packets, e.output())

    p.signal("TERM")
    assert.are.equal(0, H.wait_exit(p, 10000), p.log())
  end)
end)

describe("siod's reload (SIGHUP) and server-side listeners", function()
  if not os.execute("command -v redis-server >/dev/null 2>&1") then
    pending("redis-server is not installed (apt install redis-server)")
    return
  end

  it("server:on(name, fn) listeners are replaced by the new script's, and dropped with it", function()
    local port = free_port()
    local rlog = H.tmpname()
    local redis = H.spawn(("exec redis-server --port %d --save '' --appendonly no --bind 127.0.0.1"):format(port), rlog)
    procs[#procs + 1] = redis
    assert.is_true(H.wait_for(function() return redis.output():find("Ready to accept connections", 1, true) end, 10000),
      redis.output())
    local url = "redis://127.0.0.1:" .. port
    local function script(version, listen)
      return ([[
        local sio = require "sio"
        local server = assert(sio.server { host = "127.0.0.1", port = 0 })
        %s
        print(("listening on %%s:%%d (%%s)"):format(server.host, server.port, %q))
      ]]):format(listen and ('server:on("version", function() return %q end)'):format(version) or "", version)
    end
    local path = script_file(script("v1", true))
    local p = start_siod(("--redis %s %s"):format(url, H.q(path)))
    local node = assert(sio.server { host = "127.0.0.1", port = 0, redis = url })
    -- asks the siod node (the only other node) until it answers as wanted
    local function answer(want)
      local deadline, last = sio.now() + 8000, nil
      repeat
        local got
        if node:server_side_emit("version", function(err, res) got = { err, res } end) then
          H.run_until(function() return got end, 7000)
          if got and got[1] == nil and #got[2] == 1 then last = got[2][1] end
        end
        if last ~= want then H.pump(50) end
      until last == want or sio.now() > deadline
      return last
    end
    assert.are.equal("v1", answer("v1"))
    rewrite(path, script("v2", true))
    p.signal("HUP")
    assert.is_true(p.wait_log("INFO%s+reloaded "), p.log())
    assert.are.equal("v2", answer("v2"))
    rewrite(path, script("v3", false))
    p.signal("HUP")
    assert.is_true(p.wait_log("INFO%s+reloaded ", 2), p.log())
    assert.are.equal(sio.null, answer(sio.null)) -- no listener any more: an answer without a value
    node:close()
    H.pump(50)
    p.signal("TERM")
    assert.are.equal(0, H.wait_exit(p, 10000), p.log())
  end)
end)
