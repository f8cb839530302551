-- The chat example's server in Lua, run by siod (examples/chat/server.py is the same app in
-- Python; examples/chat/README.md tells how to run either).
--
--   examples/run chat lua [--host 127.0.0.1] [--port 3000]     (siod examples/chat/server.lua ...)
--
-- Serves the page (examples/chat/public) at / and the socket.io client bundle at
-- /socket.io/socket.io.js; accepts socket.io 4.x clients and, with allow_eio3, socket.io 2.x ones
-- (WeChat's weapp.socket.io among them). Prints "listening on http://HOST:PORT" once ready.
-- Reload-friendly: `kill -HUP` the siod process after editing; rooms, history and the connected
-- users stay (the state is in globals, and reloaded sockets only get their handlers again).
--
-- Protocol (the same in both servers)
-- -----------------------------------
-- Client -> server (every one may ask for an ack):
--
--   join  {nick, room}  -> {ok = true, nick, room, users = {nick...}, history = {chat...}}
--                        | {ok = false, error = "..."}
--         nick: required, at most 32 characters, unique in the room (ASCII letters compared
--         without case); room: at most 32 characters, "lobby" when empty (both trimmed). Joining
--         while in a room leaves that room first.
--   chat  text          -> {ok = true, id, ts} | {ok = false, error = "..."}
--         text: 1..2000 characters, and the sender must have joined.
--   typing  true|false     (no ack)
--   leave                  -> {ok = true}
--   seen  {room, id}    -> {ok = true} | {ok = false, error = "..."}
--         "I have seen every message of this room up to this one": id must be one of the room's
--         last 50 messages (those tracked); the reader's name is added (once) to each of those
--         messages up to id that others sent, at most 100 names a message.
--   rooms                  -> {{name, count}...}   (the same list as the rooms event)
--
-- Server -> clients (to the room, unless said otherwise):
--
--   chat    {id, nick, text, ts}               to the others in the room (the sender has its ack)
--   notice  {kind = "join"|"leave", nick, ts}  to the others in the room
--   users   {nick...}                          to the whole room, after every join and leave
--   typing  {nick, typing}                     to the others in the room
--   seen    {id, by = {nick...}}               to the whole room, when the readers of message id
--                                              changed
--   rooms   {{name, count}...}                 to every connected client (joined or not), on
--                                              connecting and after every join and leave: the
--                                              rooms with members, most members first (then by
--                                              name), at most 50
--
-- Disconnecting is leaving. Each room keeps its last 50 messages (history, sent to joiners, each
-- with `seen = {nick...}`); a room is forgotten when its last member leaves. ts are milliseconds
-- since the epoch; ids are integers that grow through the server's life.
--
-- Connection state recovery is on (60 s): a client (socket.io-client 4.6+) whose connection drops
-- comes back as the same socket and gets every event it missed (socket.recovered); it has left its
-- room meanwhile (the others saw it leave) and sends join again, as after any reconnection. With
-- recovery, every event carries its offset as one more, last argument.
local sio = require "sio"

local MAX_NICK, MAX_ROOM, MAX_TEXT, HISTORY = 32, 32, 2000, 50
local MAX_SEEN = 100    -- names kept per message ("seen by")
local MAX_LISTED = 50   -- rooms in the rooms list
local RECOVERY_MS = 60000

-- Paths relative to this file (siod may run it from anywhere).
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local PUBLIC_DIR = here .. "/public"
local CLIENT_DIR = here .. "/../node_modules/socket.io-client/dist"

-- State survives a reload (SIGHUP runs this file again in the same Lua state).
rooms = rooms or {}     -- name -> {name, key, order = {socket id...}, nicks = {[id] = nick}, history}
next_id = next_id or 0  -- the last message id given

-- Without spaces (ASCII, as Lua's %s) at either end; linear time (s:match("^%s*(.-)%s*$") is
-- quadratic on long runs of inner spaces, and a client picks the string).
local function trim(s)
  local first = s:find("%S")
  if not first then return "" end
  local last = #s
  while s:find("^%s", last) do last = last - 1 end
  return s:sub(first, last)
end

local function nicks_of(room)
  local list = sio.array()
  for i, id in ipairs(room.order) do list[i] = room.nicks[id] end
  return list
end

local function refuse(why) return { ok = false, error = why } end

do
  local f = io.open(CLIENT_DIR .. "/socket.io.js")
  if not f then
    error(CLIENT_DIR .. ": no socket.io.js; install the client with scripts/deps.sh"
      .. " (or: cd examples && npm install)", 0)
  end
  f:close()
end

local server = assert(sio.server{
  host = "127.0.0.1", port = 3000, allow_eio3 = true, client_dir = CLIENT_DIR,
  -- browsers always offer permessage-deflate: chat messages of 1 KiB or more go compressed
  per_message_deflate = true,
  -- a phone that loses the network for a few seconds comes back missing nothing
  connection_state_recovery = { max_disconnection_duration = RECOVERY_MS },
})
assert(server:static("/", PUBLIC_DIR))

-- --admin-ui: the Socket.IO Admin UI (npm @socket.io/admin-ui's static build, examples/package.json)
-- at /admin/, so it works offline; the page connects to this server's namespace /admin, without
-- auth (a local demo: keep it to 127.0.0.1).
for i = 1, arg and #arg or 0 do
  if arg[i] == "--admin-ui" then
    assert(server:static("/admin/", here .. "/../node_modules/@socket.io/admin-ui/ui/dist"))
    server:instrument{ auth = false, mode = "development" } -- nil, "EEXIST" again on a reload
  else
    error("unknown option " .. arg[i] .. " (usage: server.lua [--admin-ui])")
  end
end

local function room_list()
  local all = {}
  for _, room in pairs(rooms) do all[#all + 1] = room end
  table.sort(all, function(a, b)
    if #a.order ~= #b.order then return #a.order > #b.order end
    return a.name < b.name
  end)
  local list = sio.array()
  for i = 1, math.min(#all, MAX_LISTED) do
    list[i] = { name = all[i].name, count = #all[i].order }
  end
  return list
end

-- Takes a socket that is in no room of ours out of the sio rooms it may still be in (a recovered
-- socket gets its rooms back, though it left ours when it dropped).
local function drop_stale(socket, keep)
  for _, key in ipairs(socket:rooms()) do
    if key:sub(1, 5) == "room:" and key ~= keep then socket:leave(key) end
  end
end

-- Takes the socket out of its room (if any) and tells the others; `gone`: it disconnected.
local function leave_current(socket, gone)
  local name, nick = socket.data.room, socket.data.nick
  socket.data.room, socket.data.nick = nil, nil
  local room = name and rooms[name]
  if not (room and room.nicks[socket.id]) then
    if not gone then drop_stale(socket) end
    return
  end
  room.nicks[socket.id] = nil
  for i, id in ipairs(room.order) do
    if id == socket.id then table.remove(room.order, i); break end
  end
  if not gone then socket:leave(room.key) end
  if #room.order == 0 then
    rooms[name] = nil
  else
    server:to(room.key):emit("notice", { kind = "leave", nick = nick, ts = sio.now() })
    server:to(room.key):emit("users", nicks_of(room))
  end
  server:emit("rooms", room_list())
end

local function join(socket, data)
  if type(data) ~= "table" then return refuse("nickname required") end
  local nick = type(data.nick) == "string" and trim(data.nick) or ""
  local name = type(data.room) == "string" and trim(data.room) or ""
  if name == "" then name = "lobby" end
  if nick == "" then return refuse("nickname required") end
  if utf8.len(nick) > MAX_NICK then
    return refuse(("nickname too long (at most %d characters)"):format(MAX_NICK))
  end
  if utf8.len(name) > MAX_ROOM then
    return refuse(("room name too long (at most %d characters)"):format(MAX_ROOM))
  end
  local room = rooms[name]
  if not (room and room.nicks[socket.id] == nick) then
    if room then
      for id, other in pairs(room.nicks) do
        if id ~= socket.id and other:lower() == nick:lower() then
          return refuse("nickname already taken in this room")
        end
      end
    end
    leave_current(socket)
    drop_stale(socket, "room:" .. name)
    room = rooms[name]
    if not room then
      room = { name = name, key = "room:" .. name, order = {}, nicks = {}, history = {} }
      rooms[name] = room
    end
    room.order[#room.order + 1] = socket.id
    room.nicks[socket.id] = nick
    socket.data.room, socket.data.nick = name, nick
    socket:join(room.key)
    socket:to(room.key):emit("notice", { kind = "join", nick = nick, ts = sio.now() })
    socket:to(room.key):emit("users", nicks_of(room))
    server:emit("rooms", room_list())
  end
  local history = sio.array()
  for i, msg in ipairs(room.history) do
    -- (messages kept from before a reload to this version have no readers list yet)
    msg.seen = msg.seen or sio.array()
    history[i] = { id = msg.id, nick = msg.nick, text = msg.text, ts = msg.ts, seen = msg.seen }
  end
  return { ok = true, nick = nick, room = name, users = nicks_of(room), history = history }
end

local function chat(socket, text)
  local room = socket.data.room and rooms[socket.data.room]
  if not room then return refuse("join a room first") end
  if type(text) ~= "string" or not text:find("%S") then return refuse("empty message") end
  if utf8.len(text) > MAX_TEXT then
    return refuse(("message too long (at most %d characters)"):format(MAX_TEXT))
  end
  next_id = next_id + 1
  local msg = { id = next_id, nick = socket.data.nick, text = text, ts = sio.now() }
  local history = room.history
  history[#history + 1] = { id = msg.id, nick = msg.nick, text = text, ts = msg.ts,
    seen = sio.array() }
  if #history > HISTORY then table.remove(history, 1) end
  socket:to(room.key):emit("chat", msg)
  return { ok = true, id = msg.id, ts = msg.ts }
end

local function seen(socket, data)
  local room = socket.data.room and rooms[socket.data.room]
  if not (room and room.nicks[socket.id]) then return refuse("join a room first") end
  local nick = socket.data.nick
  if type(data) ~= "table" then return refuse("bad seen report") end
  local upto = data.id
  -- (integers JavaScript can hold: Lua's and Python's JSON agree on those)
  if type(data.room) ~= "string" or math.type(upto) ~= "integer" or math.abs(upto) > 2^53 then
    return refuse("bad seen report")
  end
  if data.room ~= room.name then return refuse("not in that room") end
  local known = false
  for _, m in ipairs(room.history) do
    if m.id == upto then known = true; break end
  end
  if not known then return refuse("unknown message") end
  for _, m in ipairs(room.history) do
    m.seen = m.seen or sio.array() -- (kept from before a reload)
    if m.id <= upto and m.nick ~= nick and #m.seen < MAX_SEEN then
      local already = false
      for _, n in ipairs(m.seen) do
        if n == nick then already = true; break end
      end
      if not already then
        m.seen[#m.seen + 1] = nick
        local by = sio.array()
        for i, n in ipairs(m.seen) do by[i] = n end
        server:to(room.key):emit("seen", { id = m.id, by = by })
      end
    end
  end
  return { ok = true }
end

server:on("connection", function(socket, reloaded)
  -- `reloaded`: a socket connected before a reload; its socket.data and rooms are kept, it only
  -- needs the handlers below again.
  if not reloaded then socket:emit("rooms", room_list()) end
  socket:on("join", function(data) return join(socket, data) end)
  socket:on("seen", function(data) return seen(socket, data) end)
  socket:on("rooms", function() return room_list() end)
  socket:on("chat", function(text) return chat(socket, text) end)
  socket:on("typing", function(flag)
    local room = socket.data.room and rooms[socket.data.room]
    if room then
      socket:to(room.key):emit("typing", { nick = socket.data.nick, typing = flag == true })
    end
  end)
  socket:on("leave", function()
    leave_current(socket)
    return { ok = true }
  end)
  socket:on("disconnect", function() leave_current(socket, true) end)
end)

print(("listening on http://%s:%d"):format(server.host, server.port))
