-- socket.io's own Node examples (examples/chat, examples/whiteboard, examples/private-messaging),
-- ported to Lua close to line for line (tests/lua/ports/*.lua), each run under siod as a user
-- would and driven by socket.io-client 4.8 (tests/lua/helpers/node_ports_client.mjs) sending
-- exactly the events the example's page sends; the assertions are what the page would show.
package.path = "tests/lua/helpers/?.lua;" .. package.path
local sio = require "sio"
local H = require("util").with_sio(sio)

local DRIVER = H.root .. "/tests/lua/helpers/node_ports_client.mjs"
local have_node = os.execute("command -v node >/dev/null 2>&1")
  and H.read_file(H.root .. "/tests/js/node_modules/socket.io-client/package.json") ~= nil

local procs = {}

after_each(function()
  for i = #procs, 1, -1 do procs[i].stop() end
  procs = {}
  H.cleanup_temps()
end)

-- siod running tests/lua/ports/NAME.lua on a free port of 127.0.0.1 (siod's options override
-- the script's port); the port from the script's own "listening ... port N" log line.
local function start_port(name)
  local log = H.tmpname()
  local p = H.spawn(("exec timeout --foreground 60 %s --host 127.0.0.1 --port 0 %s"):format(H.q(H.siod),
    H.q(H.root .. "/tests/lua/ports/" .. name .. ".lua")), log)
  procs[#procs + 1] = p
  assert(H.wait_for(function() return p.output():match("port (%d+)") or not p.running() end, 10000))
  p.port = tonumber(p.output():match("port (%d+)"))
  assert(p.port and p.port > 0, "siod did not start " .. name .. ":\n" .. p.output())
  return p
end

-- The driver's scenario against the port: what the pages showed, decoded.
local function drive(server, scenario)
  local out, err = H.tmpname(), H.tmpname()
  local d = H.spawn(("exec timeout --foreground 30 node %s http://127.0.0.1:%d %s"):format(H.q(DRIVER), server.port,
    scenario), out, err)
  procs[#procs + 1] = d
  local status = H.wait_exit(d, 30000)
  assert(status == 0, ("driver %s exited %s:\n%s\nserver log:\n%s"):format(scenario, tostring(status), d.errors(),
    server.output()))
  local line
  for l in d.output():gmatch("[^\n]+") do line = l end
  local result = assert(sio.json.decode(line), "driver output: " .. d.output())
  -- the server logged no error meanwhile (a handler that raised is logged, not fatal)
  assert.is_nil(server.output():match("ERROR"), server.output())
  return result
end

-- the entries [event, args...] a page showed for `event`
local function shown(page, event)
  local t = {}
  for _, e in ipairs(page) do
    if e[1] == event then t[#t + 1] = e end
  end
  return t
end

describe("socket.io's examples ported to Lua", function()
  if not have_node then
    pending("node and tests/js/node_modules (socket.io-client) are needed")
    return
  end

  it("chat: login counts, messages with usernames to the others, typing, user joined / left", function()
    local r = drive(start_port("chat"), "chat")
    assert.are.same({
      { "login", { numUsers = 1 } },
      { "user joined", { username = "bob", numUsers = 2 } },
      { "new message", { username = "bob", message = "hi ann" } },
      { "user left", { username = "bob", numUsers = 1 } },
    }, r.ann)
    assert.are.same({
      { "user joined", { username = "ann", numUsers = 1 } },
      { "login", { numUsers = 2 } },
      { "typing", { username = "ann" } },
      { "new message", { username = "ann", message = "hello bob" } },
      { "stop typing", { username = "ann" } },
    }, r.bob)
    -- a page that never added a user sees nothing and its leaving is not announced
    assert.are.same({}, r.anon)
    -- ann left too, then came back as the page does on reconnect: counted once again
    assert.are.same({ { "login", { numUsers = 1 } } }, r.again)
  end)

  it("whiteboard: a drawing goes to every other page, as it was drawn, never back to the drawer", function()
    local r = drive(start_port("whiteboard"), "whiteboard")
    local black = { x0 = 0.1, y0 = 0.2, x1 = 0.15, y1 = 0.25, color = "black" }
    local red = { x0 = 0.5, y0 = 0.5, x1 = 0.5625, y1 = 0.75, color = "red" }
    assert.are.same({ { red }, { black, red }, { black } }, r.seen)
  end)

  it("private-messaging: session middleware, users list, private messages to a user's room, sessions restored",
    function()
      local r = drive(start_port("private_messaging"), "private-messaging")
      local ann, bob = r.ids.ann, r.ids.bob
      assert.are.equal("invalid username", r.refused)
      assert.are.equal("invalid username", r.strangerRefused) -- an unknown sessionID, no username
      assert.matches("^%x+$", ann)
      assert.matches("^%x+$", r.ids.annSession)
      assert.are_not.equal(ann, bob)
      assert.are_not.equal(ann, r.ids.annSession)

      -- ann's first page: her session, the users list (herself), bob arriving, her own second tab
      -- (the example's page keeps one entry per userID), both private messages of the conversation
      local hello = { content = "hello ann", from = bob, to = ann }
      local hi = { content = "hi bob", from = ann, to = bob }
      assert.are.same({ "session", { sessionID = r.ids.annSession, userID = ann } }, r.ann[1])
      assert.are.same({ "users", { { userID = ann, username = "ann", connected = true, messages = {} } } }, r.ann[2])
      assert.are.same({
        { "user connected", { userID = bob, username = "bob", connected = true, messages = {} } },
        { "user connected", { userID = ann, username = "ann", connected = true, messages = {} } },
      }, shown(r.ann, "user connected"))
      assert.are.same({ { "private message", hello }, { "private message", hi } }, shown(r.ann, "private message"))

      -- the second tab, from the stored sessionID: the same user; the message bob sent, not its own
      assert.are.same({ "session", { sessionID = r.ids.annSession, userID = ann } }, r.annTab[1])
      assert.are.same({ { "private message", hello } }, shown(r.annTab, "private message"))

      -- bob: the users list with ann, ann's answer (not his own message), ann gone only once both
      -- her tabs closed, then back
      local bobUsers = shown(r.bob, "users")[1][2]
      assert.are.same({ { userID = ann, username = "ann", connected = true, messages = {} },
        { userID = bob, username = "bob", connected = true, messages = {} } }, bobUsers)
      assert.are.same({ { "private message", hi } }, shown(r.bob, "private message"))
      assert.are.same({ { "user disconnected", ann } }, shown(r.bob, "user disconnected"))
      assert.are.equal(ann, r.annLeft)

      -- ann back with her stored sessionID: the same session and user, her conversation with bob
      -- in the users list, and bob sees her connected again
      assert.are.same({ sessionID = r.ids.annSession, userID = ann }, r.restored)
      assert.are.same({
        { userID = ann, username = "ann", connected = true, messages = {} },
        { userID = bob, username = "bob", connected = true, messages = { hello, hi } },
      }, r.backUsers)
      assert.are.same({ userID = ann, username = "ann", connected = true, messages = {} }, r.annBack)
    end)
end)
