-- The Engine.IO handshake hooks from Lua: sio.server{ allow_request = fn, cors = fn } and
-- server:on_engine("initial_headers" | "headers" | "connection_error", fn), driven by curl (in the
-- background while the loop is pumped in-process).
package.path = "tests/lua/helpers/?.lua;" .. package.path
local sio = require "sio"
local H = require("util").with_sio(sio)

local servers, procs = {}, {}
local POLL = "/socket.io/?EIO=4&transport=polling"
local WS = "/socket.io/?EIO=4&transport=websocket"
local UPGRADE = "-H 'Connection: Upgrade' -H 'Upgrade: websocket' "
  .. "-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Version: 13'"

local function server(opts)
  opts = opts or {}
  opts.host, opts.port = "127.0.0.1", 0
  local s = assert(sio.server(opts))
  servers[#servers + 1] = s
  return s
end

-- Starts curl with `args`; returns its process and a function that reads what it got: the status,
-- the headers (lower-case names) and the body.
local function curl_start(s, args, path, max_time)
  local out, hdr = H.tmpname(), H.tmpname()
  local cmd = ("exec curl -s --http1.1 -m %s -D %s -o %s %s %s"):format(max_time or 10, H.q(hdr), H.q(out),
    args or "", H.q(("http://127.0.0.1:%d%s"):format(s.port, path)))
  local p = H.spawn(cmd, H.tmpname())
  procs[#procs + 1] = p
  return p, function()
    local head = H.read_file(hdr) or ""
    local headers = {}
    for name, value in head:gmatch("\n([^:\r\n]+):%s*([^\r\n]*)") do headers[name:lower()] = value end
    return tonumber(head:match("^HTTP/1%.1 (%d+)")), headers, H.read_file(out) or ""
  end
end

local function curl(s, args, path, max_time)
  local p, result = curl_start(s, args, path, max_time)
  assert(H.run_until(function() return not p.running() end, 12000), "curl did not finish")
  return result()
end

after_each(function()
  for _, p in ipairs(procs) do p.stop() end
  for _, s in ipairs(servers) do s:close() end
  H.pump(30)
  servers, procs = {}, {}
  H.cleanup_temps()
end)

local function by_token(req)
  if req.headers["x-token"] == "good" then return true end
  return false, 'bad token "' .. (req.headers["x-token"] or "") .. '"'
end

describe("allow_request", function()
  it("decides by its result, with Node's refusal on polling and on an upgrade", function()
    local seen
    local s = server{ allow_request = function(req)
      seen = req
      return by_token(req)
    end }
    local status, _, body = curl(s, "-H 'X-Token: good'", POLL .. "&a=1")
    assert.equal(200, status)
    assert.truthy(body:find('^0{"sid":"'))
    assert.equal("GET", seen.method)
    assert.equal("EIO=4&transport=polling&a=1", seen.query)
    assert.equal("127.0.0.1", seen.address)
    assert.equal("polling", seen.transport)
    local headers
    status, headers, body = curl(s, "-H 'X-Token: x'", POLL)
    assert.equal(403, status)
    assert.equal("application/json", headers["content-type"])
    assert.same({ code = 4, message = 'bad token "x"' }, sio.json.decode(body))
    -- an upgrade: instead of the 101, what Node's abortUpgrade answers
    status, headers, body = curl(s, UPGRADE, WS)
    assert.equal(400, status)
    assert.equal("text/html", headers["content-type"])
    assert.equal('bad token ""', body)
    assert.equal("websocket", seen.transport)
  end)

  it("may wait in its coroutine, or answer later through answer(); an error refuses", function()
    local s = server{ allow_request = function(req, answer)
      if req.headers["x-mode"] == "sleep" then
        sio.sleep(30)
        return by_token(req)
      elseif req.headers["x-mode"] == "later" then
        sio.set_timeout(function() answer(false, "later", 429) end, 30)
      else
        error("broken check")
      end
    end }
    local status, _, body = curl(s, "-H 'X-Mode: sleep' -H 'X-Token: good'", POLL)
    assert.equal(200, status)
    status, _, body = curl(s, "-H 'X-Mode: later'", POLL)
    assert.equal(429, status)
    assert.same({ code = 4, message = "later" }, sio.json.decode(body))
    status, _, body = curl(s, "", POLL)
    assert.equal(403, status)
    assert.same({ code = 4, message = "Forbidden" }, sio.json.decode(body))
  end)

  it("survives a client gone before the late answer, which then sends nothing", function()
    local held
    local s = server{ allow_request = function(_, answer) held = answer end }
    local p = curl_start(s, "", POLL, 0.3)
    assert.is_true(H.run_until(function() return held ~= nil and not p.running() end, 5000))
    H.pump(50)
    assert.is_false(held(true))
    assert.is_false(held(true)) -- answered already
    -- the server goes on
    held = nil
    local p2, result = curl_start(s, "", POLL)
    assert.is_true(H.run_until(function() return held ~= nil end, 5000))
    assert.is_true(held(true))
    assert.is_true(H.run_until(function() return not p2.running() end, 5000))
    assert.equal(200, (result()))
  end)
end)

describe("cors as a function", function()
  it("allows and refuses per Origin", function()
    local s = server{ cors = function(origin) return origin:find("%.example%.com$") ~= nil end }
    local status, headers = curl(s, "-H 'Origin: https://app.example.com'", POLL)
    assert.equal(200, status)
    assert.equal("https://app.example.com", headers["access-control-allow-origin"])
    local body
    status, headers, body = curl(s, "-H 'Origin: https://evil.test'", POLL)
    assert.equal(403, status)
    assert.same({ code = 4, message = "Forbidden" }, sio.json.decode(body))
    assert.is_nil(headers["access-control-allow-origin"])
    assert.equal(200, (curl(s, "", POLL)))
  end)
end)

describe("server:on_engine", function()
  it("adds headers to the handshake only (initial_headers) or to every response (headers)", function()
    local s = server()
    assert.equal(s, s:on_engine("initial_headers", function(headers, req)
      headers["X-Initial"] = req.method
      headers["X-Evil"] = "a\r\nSet-Cookie: x=1" -- refused by the core, logged
    end))
    s:on_engine("headers", function(headers, req) headers["X-All"] = req.headers["x-tag"] or "-" end)
    local status, headers, body = curl(s, "-H 'X-Tag: one'", POLL)
    assert.equal(200, status)
    assert.equal("GET", headers["x-initial"])
    assert.equal("one", headers["x-all"])
    assert.is_nil(headers["x-evil"])
    assert.is_nil(headers["set-cookie"])
    local sid = sio.json.decode(body:sub(2)).sid
    status, headers = curl(s, "-H 'X-Tag: two' -H 'Content-Type: text/plain' --data-binary 40",
      POLL .. "&sid=" .. sid)
    assert.equal(200, status)
    assert.equal("two", headers["x-all"])
    assert.is_nil(headers["x-initial"])
    -- a WebSocket-only session's 101 carries both (curl gives up on the open socket)
    status, headers = curl(s, UPGRADE, WS, 0.5)
    assert.equal(101, status)
    assert.equal("GET", headers["x-initial"])
    assert.equal("-", headers["x-all"])
    assert.has_error(function() s:on_engine("nope", print) end)
  end)

  it("reports connection_error with Node's codes", function()
    local errors = {}
    local s = server{ allow_request = function() return false, "rate limited" end }
    s:on_engine("connection_error", function(err) errors[#errors + 1] = err end)
    curl(s, "", "/socket.io/?EIO=4&transport=bogus")
    curl(s, "", POLL .. "&sid=nope")
    curl(s, "-X PUT --data-binary x", POLL)
    curl(s, "", POLL)
    curl(s, "", "/socket.io/?EIO=4&transport=polling&sid=x&EIO=9")
    local got = {}
    for i, e in ipairs(errors) do got[i] = { e.code, e.message, e.status, e.context } end
    assert.same({
      { 0, "Transport unknown", 400 }, { 1, "Session ID unknown", 400 }, { 2, "Bad handshake method", 400 },
      { 4, "Forbidden", 403, "rate limited" }, { 5, "Unsupported protocol version", 400 },
    }, got)
    assert.equal("EIO=4&transport=bogus", errors[1].req.query)
  end)
end)
