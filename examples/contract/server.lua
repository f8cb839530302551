-- The contract server in Lua (../../shared/contract.md), run by siod:
--
--   siod examples/contract/server.lua [--host H] [--port P] [--path /socket.io/] [--ping-interval MS]
--        [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3] [--cors ORIGINS] [--redis URL]
--        [--redis-mode classic|sharded|streams]
--        [--cookie NAME] [--per-message-deflate] [--parser msgpack] [--recovery [MS]] [--metrics PATH]
--        [--admin | --admin-auth USER:BCRYPT] [--workers N]
--
-- siod applies its own flags (host, port, path, ping, payload, EIO3, --redis, --redis-mode, --cookie, --tls-cert and
-- --tls-key, --parser, --recovery, --metrics) to sio.server{};
-- --cors reaches the script in `arg`. Also the bare Engine.IO echo endpoint at /engine.io/.
local sio = require "sio"

local cors, admin, admin_auth
do
  local i = 1
  while arg and arg[i] do
    if arg[i] == "--cors" then cors = arg[i + 1]; i = i + 1
    -- the Admin UI's server side on /admin-ui (contract.md's flag table); --admin-auth implies it
    -- (examples/contract/run renames them: siod's own --admin is another flag)
    elseif arg[i] == "--contract-admin" then admin = true
    elseif arg[i] == "--contract-admin-auth" then admin, admin_auth = true, arg[i + 1]; i = i + 1
    else error("unknown option " .. arg[i]) end
    i = i + 1
  end
end

local stderr, exit = io.stderr, os.exit
local io, err, name = sio.server{ host = "127.0.0.1", port = 3000, cors = cors, connect_timeout = 1000 }
if name == "ENOSYS" then -- siod's --parser msgpack on a build without msgpack-c: a flag it cannot honour
  stderr:write("server.lua: ", err, "\n")
  exit(2)
end
assert(io, err)

if admin then
  local auth = false
  if admin_auth then
    local user, hash = admin_auth:match("^([^:]*):(.*)$")
    if not user then stderr:write("server.lua: --admin-auth takes USER:BCRYPTHASH\n"); exit(2) end
    auth = { username = user, password = hash }
  end
  local ok, e = pcall(io.instrument, io, { auth = auth, mode = "development", namespace = "/admin-ui",
                                           server_stats_interval = 2000 })
  if not ok then stderr:write("server.lua: --admin-auth: ", tostring(e), "\n"); exit(2) end
end

-- An event's arguments without the ack a client may have asked for: args (packed), ack or nil.
local function split(...)
  local args = table.pack(...)
  if args.n > 0 and sio.is_ack(args[args.n]) then
    local ack = args[args.n]
    args[args.n] = nil
    args.n = args.n - 1
    return args, ack
  end
  return args, nil
end

-- Values as a JSON array, nils (JSON null) kept in their places.
local function array_of(...)
  local t, a = table.pack(...), sio.array()
  for i = 1, t.n do a[i] = t[i] == nil and sio.null or t[i] end
  return a
end

local function sorted(t)
  table.sort(t)
  return t
end

local function sorted_rooms(socket)
  return sorted(socket:rooms())
end

-- A cluster request's outcome: {ok = true, responses = ...} or {ok = false, error = "timeout" or the
-- failure's message, responses = ...}.
local function outcome(err, responses)
  if not err then return { ok = true, responses = responses } end
  return { ok = false, error = err:find("^ETIMEDOUT") and "timeout" or err, responses = responses }
end

-- ---- "/" ----

io:on("connection", function(socket, reloaded)
  if not reloaded then socket:emit("auth", socket.auth) end

  -- socket:on_ack_first: the ack (or nil) first, then the arguments, however many (the hot
  -- handlers, at the least cost; sio.split_ack(...) in a plain listener does the same, split() above
  -- is the plain way)
  socket:on_ack_first("message", function(_, ...) socket:emit("message-back", ...) end)

  -- (a handler's return values are its ack, but an ack of no values needs ack())
  socket:on_ack_first("message-with-ack", function(ack, ...) if ack then ack(...) end end)

  socket:on_ack_first("echo", function(ack, ...)
    if ack then ack(...) else socket:emit("echo", ...) end
  end)

  socket:on_ack_first("broadcast", function(_, ...) io:emit("broadcast", ...) end)

  socket:on("join", function(room)
    if type(room) == "string" then socket:join(room) end
    return sorted_rooms(socket)
  end)

  socket:on("leave", function(room)
    if type(room) == "string" then socket:leave(room) end
    return sorted_rooms(socket)
  end)

  socket:on("to-room", function(room, ...)
    local args = split(...)
    if type(room) == "string" then io:to(room):emit("room-message", room, table.unpack(args, 1, args.n)) end
  end)

  socket:on("to-room-others", function(room, ...)
    local args = split(...)
    if type(room) == "string" then socket:to(room):emit("room-message", room, table.unpack(args, 1, args.n)) end
  end)

  -- Handlers run in coroutines: the waiting forms (socket:call, fetch_count() ...) return in
  -- place, and a handler's return value is its ack after the wait as well.
  socket:on("ask", function(event, ...)
    local args, ack = split(...)
    if not ack or type(event) ~= "string" then return end
    local answer = table.pack(socket:timeout(1000):call(event, table.unpack(args, 1, args.n)))
    if answer.n == 2 and answer[1] == nil and (answer[2] == "timeout" or answer[2] == "disconnected") then
      return { ok = false, error = "timeout" }
    end
    return { ok = true, args = array_of(table.unpack(answer, 1, answer.n)) }
  end)

  socket:on("count", function(...)
    -- one worker and no Redis: this server's sockets; else every worker's and node's
    if not io.redis and select(2, sio.worker()) == 1 then return io:count() end
    -- A cluster node (siod --redis): cluster-wide (Node's fetchSockets().length). Timed out, or
    -- Redis away ("EUNAVAIL: ...", at once): what was counted (this node's sockets at least).
    local _, ack = split(...)
    if not ack then return end
    local n, err = io:fetch_count()
    if not n then return io:count() end -- the server is closing: this node's count
    if err and err:find("^ETIMEDOUT") then sio.log.warn("count: a node did not answer in time") end
    return n
  end)

  socket:on("disconnect-me", function()
    socket:disconnect()
  end)

  -- ---- the cluster events (README.md, "Cluster events"; with --redis) ----

  socket:on("server-emit", function(...)
    local args, ack = split(...)
    if not ack then return end
    -- fails softly without a cluster or with Redis down, raises for binary arguments
    local called, responses, err = pcall(io.server_side_call, io, "server-event", table.unpack(args, 1, args.n))
    if not called then return outcome(tostring(responses), sio.array()) end
    return outcome(err, responses or sio.array())
  end)

  socket:on("server-emit-noack", function(...)
    local args = split(...)
    pcall(io.server_side_emit, io, "server-event", table.unpack(args, 1, args.n)) -- fails softly alone
  end)

  socket:on("all-rooms", function(...)
    local _, ack = split(...)
    if not ack then return end
    -- timed out or Redis lost: the rooms gathered
    local rooms, err = io:all_rooms()
    if not rooms then return outcome(err, sio.array()) end -- the server is closing
    return sorted(rooms)
  end)

  socket:on("fetch-sockets", function(...)
    local _, ack = split(...)
    if not ack then return end
    -- timed out or Redis lost: the sockets gathered
    local sockets, err = io:fetch_sockets { cluster = true }
    if not sockets then return outcome(err, sio.array()) end -- the server is closing
    local out = sio.array()
    for i, s in ipairs(sockets) do
      out[i] = {id = s.id, rooms = sorted(s.rooms), address = s.handshake.address, auth = s.handshake.auth}
    end
    table.sort(out, function(x, y) return x.id < y.id end)
    return out
  end)

  socket:on("sockets-join", function(target, room)
    if type(target) == "string" and type(room) == "string" then io:to(target):sockets_join(room) end
    return true
  end)

  socket:on("sockets-leave", function(target, room)
    if type(target) == "string" and type(room) == "string" then io:to(target):sockets_leave(room) end
    return true
  end)

  socket:on("disconnect-sockets", function(target, ...)
    local _, ack = split(...)
    if ack then ack(true) end
    if type(target) == "string" then io:to(target):disconnect_sockets() end
  end)

  socket:on("broadcast-ack", function(...)
    local args, ack = split(...)
    if not ack then return end
    local responses, err = io:timeout(1000):call("ack-me", table.unpack(args, 1, args.n))
    if not responses then return outcome(err, sio.array()) end
    local keyed = {}
    for i, v in ipairs(responses) do keyed[i] = { sio.json.encode(v), v } end
    table.sort(keyed, function(x, y) return x[1] < y[1] end)
    local out = sio.array()
    for i, kv in ipairs(keyed) do out[i] = kv[2] end
    return outcome(err, out)
  end)
end)

-- Another node's serverSideEmit("server-event", ...): to this node's own sockets; the first return
-- value is the answer when one is asked.
io:on("server-event", function(...)
  io.locally:emit("server-event", ...)
  return { port = io.port, args = array_of(...) }
end)

-- ---- "/custom", "/admin", dynamic ----

io:of("/custom"):on("connection", function(socket, reloaded)
  if not reloaded then socket:emit("auth", socket.auth) end
end)

local admin = io:of("/admin")
admin:use(function(socket, auth, next)
  if type(auth) == "table" and auth.token == "secret" then next() else next("unauthorized") end
end)
admin:on("connection", function(socket, reloaded)
  if not reloaded then socket:emit("welcome", socket.id) end
end)

io:of(function(name)
  return name:match("^/dyn%-[a-z0-9]+$") ~= nil
end):on("connection", function(socket, reloaded)
  if not reloaded then socket:emit("nsp", socket.nsp.name) end
end)

-- ---- the bare Engine.IO echo endpoint ----

io:engine{ path = "/engine.io/" }:on("message", function(session, data)
  session:send(data)
end)

-- siod --workers N runs this script once per worker (a Lua state each): one ready line
if sio.worker() == 0 then
  print(("listening on %s://%s:%d"):format(io.tls and "https" or "http", io.host, io.port))
end
