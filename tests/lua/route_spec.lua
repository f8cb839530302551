-- server:route(method, path, fn(req, res)): plain HTTP beside Socket.IO on one port, driven by curl
-- (in the background while the loop is pumped in-process).
package.path = "tests/lua/helpers/?.lua;" .. package.path
local sio = require "sio"
local H = require("util").with_sio(sio)

local servers, procs = {}, {}

local function server(opts)
  opts = opts or {}
  opts.host, opts.port = "127.0.0.1", 0
  local s = assert(sio.server(opts))
  servers[#servers + 1] = s
  return s
end

-- Runs curl with `args` against the server, pumping the loop until it is done; returns the status,
-- the headers (lower-case names) and the body.
local function curl(s, args, path)
  local out, hdr = H.tmpname(), H.tmpname()
  local cmd = ("exec curl -s -m 10 -D %s -o %s %s %s"):format(H.q(hdr), H.q(out), args or "",
    H.q(("http://127.0.0.1:%d%s"):format(s.port, path)))
  local p = H.spawn(cmd, H.tmpname())
  procs[#procs + 1] = p
  assert(H.run_until(function() return not p.running() end, 12000), "curl did not finish")
  local head = H.read_file(hdr) or ""
  head = head:gsub("^HTTP/1%.1 100 [^\n]*\r?\n\r?\n", "") -- an interim 100 Continue
  local status = tonumber(head:match("^HTTP/1%.1 (%d+)"))
  local headers = {}
  for name, value in head:gmatch("\n([^:\r\n]+):%s*([^\r\n]*)") do headers[name:lower()] = value end
  return status, headers, H.read_file(out) or ""
end

after_each(function()
  for _, p in ipairs(procs) do p.stop() end
  for _, s in ipairs(servers) do s:close() end
  H.pump(30)
  servers, procs = {}, {}
  H.cleanup_temps()
end)

describe("server:route", function()
  it("runs its handler in a coroutine: it may wait before it answers, or raise after a wait (500)", function()
    local s = server()
    s:route("GET", "/wait", function(req)
      sio.sleep(30)
      local n = s:fetch_count()
      return 200, ("slept; %d sockets; %s"):format(n, req.args.x)
    end)
    s:route("GET", "/late-error", function()
      sio.sleep(10)
      error("failed after a wait")
    end)
    local status, _, body = curl(s, "", "/wait?x=y")
    assert.equal(200, status)
    assert.equal("slept; 0 sockets; y", body)
    status = curl(s, "", "/late-error")
    assert.equal(500, status)
  end)

  it("answers a health check beside Socket.IO, with the request's parts", function()
    local s = server()
    local seen
    assert.equal(s, s:route("GET", "/health", function(req, res)
      seen = req
      res:send(200, "ok", { ["Content-Type"] = "text/plain", ["X-Route"] = "health" })
    end))
    local status, headers, body = curl(s, "-H 'X-Test: one' -H 'X-Test: two'", "/health?a=1&b=%C3%A9&a=2")
    assert.equal(200, status)
    assert.equal("ok", body)
    assert.equal("health", headers["x-route"])
    assert.equal("GET", seen.method)
    assert.equal("/health", seen.path)
    assert.equal("/health?a=1&b=%C3%A9&a=2", seen.url)
    assert.equal("a=1&b=%C3%A9&a=2", seen.query)
    assert.same({ a = "1", b = "é" }, seen.args)
    assert.equal("one, two", seen.headers["x-test"])
    assert.equal("127.0.0.1", seen.remote_addr)
    assert.is_true(seen.remote_port > 0)
    assert.is_false(seen.secure)
    assert.equal("", seen.body)
    -- Socket.IO still answers on its path.
    local st2, _, b2 = curl(s, "", "/socket.io/?EIO=4&transport=polling")
    assert.equal(200, st2)
    assert.truthy(b2:match('^0{"sid":'))
  end)

  it("takes the handler's return values, bodies, methods, prefixes, 404 and 405", function()
    local s = server()
    s:route("POST", "/echo", function(req) return 201, req.body, { ["X-Len"] = #req.body } end)
    s:route("*", "/any/*", function(req) return 200, req.method .. " " .. req.path end)
    s:route("GET", "/items/*", function(req) return 200, "item " .. req.path:sub(8) end)
    local status, headers, body = curl(s, "-X POST --data-binary 'hello world'", "/echo")
    assert.equal(201, status)
    assert.equal("hello world", body)
    assert.equal("11", headers["x-len"])
    -- A body curl announces with "Expect: 100-continue" (over 1 KiB): answered at once, not after
    -- curl's 1 s wait for the interim response.
    local big = H.tmpname()
    H.write_file(big, ("x"):rep(4000))
    local t0 = sio.now()
    status, headers, body = curl(s, "-X POST -H 'Expect: 100-continue' --data-binary @" .. H.q(big), "/echo")
    assert.equal(201, status)
    assert.equal(4000, #body)
    assert.is_true(sio.now() - t0 < 900)
    status, _, body = curl(s, "-X DELETE", "/any/x%20y")
    assert.equal(200, status)
    assert.equal("DELETE /any/x y", body)
    status, _, body = curl(s, "", "/items/42")
    assert.equal("item 42", body)
    status, headers = curl(s, "-I", "/items/42") -- HEAD: a GET route (the core sends no body)
    assert.equal(200, status)
    assert.equal("7", headers["content-length"])
    status, headers = curl(s, "", "/echo")
    assert.equal(405, status)
    assert.equal("POST", headers["allow"])
    status = curl(s, "", "/nothing")
    assert.equal(404, status)
  end)

  it("mounts one file at a path, a directory without a trailing slash, and falls through to routes", function()
    local dir = H.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. H.q(dir .. "/static")))
    H.write_file(dir .. "/app.html", "<p>app</p>")
    H.write_file(dir .. "/static/a.txt", "A")
    local s = server()
    assert(s:static("/", dir .. "/app.html"))
    assert(s:static("/page", dir .. "/app.html", { content_type = "text/x-mine" }))
    assert(s:static("/static", dir .. "/static"))
    s:route("*", "/*", function(req) return 200, "route " .. req.path end)
    local status, headers, body = curl(s, "", "/")
    assert.equal(200, status)
    assert.equal("<p>app</p>", body)
    assert.equal("text/html; charset=utf-8", headers["content-type"])
    status, headers = curl(s, "", "/page")
    assert.equal("text/x-mine", headers["content-type"])
    status, _, body = curl(s, "", "/static/a.txt")
    assert.equal("A", body)
    status, _, body = curl(s, "", "/static/missing.txt")
    assert.equal("route /static/missing.txt", body)
    status, _, body = curl(s, "-X POST", "/")
    assert.equal("route /", body)
    os.execute("rm -rf " .. H.q(dir))
  end)

  it("answers later, logs an error as 500, and bounds a handler that never answers", function()
    local s = server()
    s:route("GET", "/later", function(_, res)
      sio.set_timeout(function() assert(res:send(200, "later")) assert.is_true(res.sent) end, 50)
    end)
    s:route("GET", "/boom", function() error("boom") end)
    s:route("GET", "/twice", function(_, res)
      assert(res:send(204))
      local ok, err, name = res:send(200, "again")
      assert.is_nil(ok)
      assert.equal("EALREADY", name)
      assert.truthy(err)
    end)
    s:route("GET", "/dropped", function()
      sio.set_timeout(function() collectgarbage("collect") end, 50)
    end) -- res neither answered nor kept: collected, 500
    local status, _, body = curl(s, "", "/later")
    assert.equal(200, status)
    assert.equal("later", body)
    status = curl(s, "", "/boom")
    assert.equal(500, status)
    status = curl(s, "", "/dropped")
    assert.equal(500, status)
    status = curl(s, "", "/twice")
    assert.equal(204, status)
    -- The same method and path again replaces the handler (as a siod reload does).
    s:route("GET", "/boom", function() return 200, "fixed" end)
    status, _, body = curl(s, "", "/boom")
    assert.equal("fixed", body)
    assert.has_error(function() s:route("get", "/x", function() end) end)
    assert.has_error(function() s:route("GET", "x", function() end) end)
  end)
end)
