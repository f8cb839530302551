-- Draw and guess: the example game's server in Lua, run by siod.
--
--   examples/run draw lua [--host 127.0.0.1] [--port 3000] [--round-seconds 60]
--   (that is: siod examples/draw/server.lua ...; siod applies --host/--port, the script gets the rest)
--
-- Serves the page (./public) at / and the Socket.IO client bundle at /socket.io/socket.io.js, and
-- accepts socket.io 4.x and 2.x clients (allow_eio3: WeChat's weapp.socket.io speaks 2.x).
-- server.py is the same game in Python: the protocol and the rules below are the same in both.
--
-- Protocol (namespace "/"; client -> server unless marked <-)
--   join {name, room, player_id}          ack {ok = true, you = player_id, state}
--                                         or {ok = false, error}. player_id is the client's own
--                                         (kept in localStorage); one that is already in the room
--                                         rejoins as that player, with its score. Without one
--                                         the server makes one (the ack's `you`).
--   stroke {color, width, start, points}  the drawer only, during a round. points: binary, x,y
--                                         pairs of little-endian Int16 in the logical 800x600
--                                         canvas; start: true begins a new line, false continues
--                                         the previous one. Relayed to the room, the sender
--                                         excepted, and kept for the round (20000 batches at
--                                         most; later ones are dropped).
--   clear                                 the drawer only: wipes the canvas (and the kept strokes)
--   guess text                            ack {ok, correct}. Before a round: just chat.
--   <- state {room, players = [{id, name, score, connected}], drawer = id or null, round = n,
--             remaining = ms left in the round or null, round_ms, word_length = n or 0}
--                                         to the room, on any change
--   <- word text                          to the drawer only, when its round starts
--   <- strokes {batches = [{color, width, start, n}], points = binary}
--                                         to a player who joins (or rejoins) during a round: every
--                                         kept batch (n points each, their points concatenated)
--   <- stroke {color, width, start, points}, <- clear      relayed as above
--   <- guess {name, text}                 a wrong guess (or chat), to the room
--   <- correct {name, word}               the guess was right; the next round follows
--   <- timeout {word, reason}             the round ended unguessed: "time" (the round timer),
--                                         "drawer left", "not enough players"
--
-- Rules
--   A round starts whenever at least 2 players of a room are connected and none is under way. The
--   drawer rotates among the connected players (in the order they first joined) and gets a random
--   word of WORDS. The first right guess (trimmed, case-insensitive) scores 10 for the guesser and
--   5 for the drawer, and the next round starts at once. A round ends unguessed after
--   --round-seconds (60), when its drawer has left, or when fewer than 2 players remain connected:
--   both checked 5 seconds after a player leaves, so that a reload (which comes back as the same
--   player) does not end the round. The drawer cannot guess. Players who leave keep their place
--   and score; a room with nobody connected is forgotten after 10 minutes.
--
-- Reloading (kill -HUP the siod process): the games live in the global `games` and survive; the
-- sockets keep their player in socket.data; timers keep running and call the functions of the
-- newest script (through the global `draw`).
local sio = require "sio"

local WORDS = {
  "apple", "ball", "banana", "bird", "boat", "book", "cake", "car", "cat", "chair",
  "clock", "cloud", "dog", "fish", "flower", "hat", "heart", "house", "key", "kite",
  "moon", "pizza", "rain", "shoe", "snake", "spider", "star", "sun", "train", "tree",
}

local GUESS_POINTS = 10
local DRAW_POINTS = 5
local MAX_BATCHES = 20000          -- kept strokes per round
local MAX_BATCH_BYTES = 4096       -- points per stroke event: 1024 x,y pairs
local MAX_PLAYERS = 32             -- per room, connected or not
local FORGET_EMPTY_MS = 600000     -- a room with nobody connected is dropped after this
local GRACE_MS = 5000              -- a drawer (or the last guesser) who left may come back this long

-- ---- options (siod took --host/--port) ----

local round_seconds = 60
local admin_ui = false -- --admin-ui: the Socket.IO Admin UI at /admin/ (no auth: a local demo)
do
  local i = 1
  while arg and arg[i] do
    local a = arg[i]
    if a == "--round-seconds" then
      round_seconds = tonumber(arg[i + 1]); i = i + 1
    elseif a:match("^%-%-round%-seconds=") then
      round_seconds = tonumber(a:match("=(.*)$"))
    elseif a == "--admin-ui" then
      admin_ui = true
    else
      error("unknown option " .. a .. " (usage: server.lua [--round-seconds N] [--admin-ui])")
    end
    i = i + 1
  end
  if not round_seconds or round_seconds <= 0 then error("--round-seconds must be a positive number") end
end
local ROUND_MS = math.floor(round_seconds * 1000)

local here = (arg and arg[0] or debug.getinfo(1, "S").source:gsub("^@", "")):match("^(.*)/[^/]*$") or "."

local server = assert(sio.server{
  host = "127.0.0.1",
  port = 3000,
  allow_eio3 = true,
  client_dir = here .. "/../node_modules/socket.io-client/dist",
  per_message_deflate = true, -- browsers always offer it: big drawings go compressed
})
server:static("/", here .. "/public")
if admin_ui then
  -- npm @socket.io/admin-ui's static build (examples/package.json), so it works offline; the page
  -- connects to this server's namespace /admin (no auth: keep it to 127.0.0.1)
  assert(server:static("/admin/", here .. "/../node_modules/@socket.io/admin-ui/ui/dist"))
  server:instrument{ auth = false, mode = "development" } -- nil, "EEXIST" again on a reload
end

-- ---- state that survives a reload ----

games = games or {}   -- room name -> game (see new_game)

-- The functions, replaced by every (re)load; timers reach them through this global.
draw = {}

local function new_game(name)
  return {
    name = name,
    channel = "draw:" .. name,   -- the Socket.IO room of its players
    players = {},                -- id -> {id, name, score, sid} (sid nil: gone)
    order = {},                  -- ids, in the order they first joined
    round = 0,
    drawer = nil,                -- id, while a round is on
    word = nil,
    ends = nil,                  -- sio.monotonic() when the round ends
    timer = nil,                 -- the round's timer
    grace_timer = nil,           -- checks the round after a player left
    forget_timer = nil,
    batches = {},                -- this round's strokes: {color, width, start, points (sio.binary)}
    last_drawer = nil,           -- the rotation goes on from it
    last_word = nil,
  }
end

-- ---- helpers ----

-- A string trimmed (ASCII whitespace) and cut to `limit` characters, or "".
local function clean_text(value, limit)
  if type(value) ~= "string" then return "" end
  local s = value:match("^%s*(.-)%s*$")
  local cut = utf8.offset(s, limit + 1)
  if cut and cut <= #s then s = s:sub(1, cut - 1) end
  return s
end

local function new_id()
  local t = {}
  for i = 1, 16 do t[i] = ("%02x"):format(math.random(0, 255)) end
  return table.concat(t)
end

local function index_of(list, value)
  for i, v in ipairs(list) do if v == value then return i end end
  return nil
end

local function stop_timer(game, field)
  if game[field] then game[field]:stop(); game[field] = nil end
end

local function connected(game)
  local ids = {}
  for _, pid in ipairs(game.order) do
    if game.players[pid].sid then ids[#ids + 1] = pid end
  end
  return ids
end

local function state_of(game)
  local players = sio.array()
  for _, pid in ipairs(game.order) do
    local p = game.players[pid]
    players[#players + 1] = { id = p.id, name = p.name, score = p.score, connected = p.sid ~= nil }
  end
  return {
    room = game.name,
    players = players,
    drawer = game.drawer or sio.null,
    round = game.round,
    remaining = game.ends and math.max(0, math.floor(game.ends - sio.monotonic())) or sio.null,
    round_ms = ROUND_MS,
    word_length = game.word and #game.word or 0,
  }
end

-- ---- the game ----

function draw.send_state(game)
  server:to(game.channel):emit("state", state_of(game))
end

-- Stops the round under way (if any) without scoring.
function draw.end_round(game)
  stop_timer(game, "timer")
  game.drawer, game.word, game.ends = nil, nil, nil
  game.batches = {}
end

-- The first connected player after the last drawer in the join order (wrapping).
function draw.next_drawer(game)
  local ids = connected(game)
  local last = game.last_drawer and index_of(game.order, game.last_drawer) or 0
  for _, pid in ipairs(ids) do
    if index_of(game.order, pid) > last then return pid end
  end
  return ids[1]
end

-- Starts a round when 2 players are connected; else leaves the game waiting.
function draw.start_round(game)
  draw.end_round(game)
  if #connected(game) < 2 then
    draw.send_state(game)
    return
  end
  local drawer = draw.next_drawer(game)
  local choices = {}
  for _, w in ipairs(WORDS) do if w ~= game.last_word then choices[#choices + 1] = w end end
  local word = choices[math.random(#choices)]
  game.round = game.round + 1
  game.drawer, game.last_drawer = drawer, drawer
  game.word, game.last_word = word, word
  game.ends = sio.monotonic() + ROUND_MS
  local name, round = game.name, game.round
  game.timer = sio.set_timeout(function() draw.round_timeout(name, round) end, ROUND_MS)
  server:to(game.channel):emit("clear")
  draw.send_state(game)
  server:to(game.players[drawer].sid):emit("word", word)
end

function draw.round_timeout(name, round)
  local game = games[name]
  if not game or game.round ~= round or not game.word then return end
  game.timer = nil
  draw.finish_unguessed(game, "time")
end

function draw.finish_unguessed(game, reason)
  local word = game.word
  draw.end_round(game)
  server:to(game.channel):emit("timeout", { word = word, reason = reason })
  draw.start_round(game)
end

-- After a grace period: ends the round if its drawer is still gone or too few are left.
function draw.check_round(name, round)
  local game = games[name]
  if not game then return end
  game.grace_timer = nil
  if game.round ~= round or not game.word then return end
  if not game.players[game.drawer].sid then
    draw.finish_unguessed(game, "drawer left")
  elseif #connected(game) < 2 then
    draw.finish_unguessed(game, "not enough players")
  end
end

function draw.forget(name)
  local game = games[name]
  if not game then return end
  game.forget_timer = nil
  if #connected(game) == 0 then
    stop_timer(game, "timer")
    stop_timer(game, "grace_timer")
    games[name] = nil
  end
end

-- The player of this socket (if any) is gone: keeps its score, fixes the round.
function draw.leave(socket, still_connected)
  local seat = socket.data.seat
  if not seat then return end
  socket.data.seat = nil
  local game = games[seat.room]
  local player = game and game.players[seat.pid]
  if not player or player.sid ~= socket.id then return end
  player.sid = nil
  if still_connected then socket:leave(game.channel) end
  draw.send_state(game)
  if game.word and (seat.pid == game.drawer or #connected(game) < 2) then
    -- a reload comes back within the grace period and the round goes on
    stop_timer(game, "grace_timer")
    local name, round = game.name, game.round
    game.grace_timer = sio.set_timeout(function() draw.check_round(name, round) end, GRACE_MS)
  end
  if #connected(game) == 0 then
    stop_timer(game, "forget_timer")
    local name = game.name
    game.forget_timer = sio.set_timeout(function() draw.forget(name) end, FORGET_EMPTY_MS)
  end
end

-- The game whose current drawer is this socket's player, or nil.
local function drawer_game(socket)
  local seat = socket.data.seat
  local game = seat and games[seat.room]
  if game and game.word and game.drawer == seat.pid and game.players[seat.pid].sid == socket.id then
    return game
  end
  return nil
end

function draw.join(socket, data)
  if type(data) ~= "table" then return { ok = false, error = "join needs {name, room, player_id}" } end
  local name = clean_text(data.name, 20)
  local room = clean_text(data.room, 30)
  local pid = clean_text(data.player_id, 64)
  if pid == "" then pid = new_id() end
  if name == "" or room == "" then return { ok = false, error = "a name and a room, please" } end
  draw.leave(socket, true)   -- a second join moves the socket
  local game = games[room]
  if not game then
    game = new_game(room)
    games[room] = game
  end
  local player = game.players[pid]
  if not player then
    if #game.order >= MAX_PLAYERS then return { ok = false, error = "this room is full" } end
    player = { id = pid, name = name, score = 0 }
    game.players[pid] = player
    game.order[#game.order + 1] = pid
  elseif player.sid then
    -- the same player from another tab, or a reload seen before its old socket left
    local old = server:socket(player.sid)
    player.sid = nil
    if old then
      old.data.seat = nil
      old:leave(game.channel)
      old:disconnect()
    end
  end
  player.name = name
  player.sid = socket.id
  socket.data.seat = { room = room, pid = pid }
  stop_timer(game, "forget_timer")
  socket:join(game.channel)
  if not game.word then
    draw.start_round(game)    -- when this join makes 2 (it sends the state either way)
  else
    draw.send_state(game)
    if pid == game.drawer then socket:emit("word", game.word) end
    if #game.batches > 0 then
      local meta, parts = sio.array(), {}
      for i, b in ipairs(game.batches) do
        meta[i] = { color = b.color, width = b.width, start = b.start, n = #b.points // 4 }
        parts[i] = b.points:bytes()
      end
      socket:emit("strokes", { batches = meta, points = sio.binary(table.concat(parts)) })
    end
  end
  return { ok = true, you = pid, state = state_of(game) }
end

function draw.stroke(socket, data)
  local game = drawer_game(socket)
  if not game or type(data) ~= "table" then return end
  local color, width, points = data.color, data.width, data.points
  if type(color) ~= "string" or not color:match("^#%x%x%x%x%x%x$") then return end
  if type(width) ~= "number" or width < 1 or width > 50 then return end
  if not sio.is_binary(points) or #points == 0 or #points % 4 ~= 0 or #points > MAX_BATCH_BYTES then return end
  if #game.batches >= MAX_BATCHES then return end
  local start = data.start == true
  game.batches[#game.batches + 1] = { color = color, width = width, start = start, points = points }
  socket:to(game.channel):emit("stroke", { color = color, width = width, start = start, points = points })
end

function draw.clear(socket)
  local game = drawer_game(socket)
  if game then
    game.batches = {}
    socket:to(game.channel):emit("clear")
  end
end

function draw.guess(socket, text)
  local seat = socket.data.seat
  text = clean_text(text, 100)
  local game = seat and games[seat.room]
  local player = game and game.players[seat.pid]
  if not player or player.sid ~= socket.id or text == "" then return { ok = false, correct = false } end
  if game.word then
    if seat.pid == game.drawer then
      return { ok = false, correct = false, error = "the drawer cannot guess" }
    end
    if text:lower() == game.word then
      local word = game.word
      player.score = player.score + GUESS_POINTS
      local drawer = game.players[game.drawer]
      if drawer then drawer.score = drawer.score + DRAW_POINTS end
      draw.end_round(game)
      server:to(game.channel):emit("correct", { name = player.name, word = word })
      draw.start_round(game)
      return { ok = true, correct = true }
    end
  end
  server:to(game.channel):emit("guess", { name = player.name, text = text })
  return { ok = true, correct = false }
end

-- ---- the connection ----

-- An event's first argument, unless it is the ack function (a client that sent no data).
local function data_arg(first)
  if sio.is_ack(first) then return nil end
  return first
end

server:on("connection", function(socket, reloaded)
  -- (on a reload only the handlers are bound again: the socket's seat is in socket.data)
  socket:on("join", function(data) return draw.join(socket, data_arg(data)) end)
  socket:on("stroke", function(data) draw.stroke(socket, data_arg(data)) end)
  socket:on("clear", function() draw.clear(socket) end)
  socket:on("guess", function(text) return draw.guess(socket, data_arg(text)) end)
  socket:on("disconnect", function() draw.leave(socket, false) end)
end)

if not draw_listening then
  draw_listening = true
  print(("listening on http://%s:%d"):format(server.host, server.port))
end
