-- Draw and guess: the example game's server in Lua, run by siod.
--
--   examples/run draw lua [--host 127.0.0.1] [--port 3000] [--round-seconds 60] [--pause-seconds 5]
--   (that is: siod examples/draw/server.lua ...; siod applies --host/--port, the script gets the rest)
--
-- Serves the page (./public) at / and the Socket.IO client bundle at /socket.io/socket.io.js, and
-- accepts socket.io 4.x and 2.x clients (allow_eio3: WeChat's weapp.socket.io speaks 2.x).
-- server.py is the same game in Python: the protocol, the rules and the texts below are the same in both.
--
-- Protocol v2 (namespace "/"; client -> server unless marked <-). A ROUND: every player draws once;
-- a TURN: one player's drawing; a GAME: N rounds. Phases: lobby -> drawing <-> turn_end -> game_over
-- (-> drawing again when the host starts a new game, scores reset).
--     join {name, room, player_id}          ack {ok: true, you: id, state} or {ok: false, error}. A
--                                           known player_id rejoins with its score. The first player
--                                           of a new room is its host. Joining during a turn makes a
--                                           spectator until that turn ends (guess ack {ok: false,
--                                           error: "spectating"}). A kicked id: {ok: false, error: "kicked"}.
--     start {rounds?, words?}               host only, in lobby or game_over, >= 2 connected players;
--                                           ack {ok} or {ok: false, error}. rounds 1..10 (3); words:
--                                           3..200 custom words of 1..30 characters after trimming
--                                           (printable ASCII, lowercased) instead of WORDS. Drawers of a
--                                           round: the connected players in join order at its start.
--     skip                                  host only, during a turn: ends it ("skipped"). ack {ok}
--     kick {id}                             host only, not itself: removes the player (its sockets get
--                                           `kicked`, then leave); a kicked drawer ends the turn
--                                           ("drawer left"). ack {ok}
--     stroke {color, width, start, points}  drawer only, during a turn. points: binary Int16LE x,y pairs
--                                           in the 800x600 canvas; start: true begins a stroke. Eraser:
--                                           color "#ffffff".
--     fill {x, y, color}                    drawer only: flood fill at integer x 0..799, y 0..599
--     undo                                  drawer only: removes the last operation (a fill, or a stroke:
--                                           its start:true batch and the start:false ones after it)
--     clear                                 drawer only: wipes the canvas and the kept operations
--     guess text                            ack {ok, correct, close}: close when the trimmed, lowercased
--                                           guess is at edit distance 1 from the word (shown to the
--                                           guesser only). Outside a turn, from the drawer or from one
--                                           who guessed right: chat ({ok: true, correct: false}), but
--                                           the drawer's or a guessed player's text containing the word
--                                           is refused ({ok: false, error: "no spoilers"}).
--     <- state {room, host, phase, players: [{id, name, score, connected, spectator, guessed}],
--               drawer, round, rounds, turn, turns, remaining (ms or null), round_ms, word_length,
--               hint}                       to the room on any change. hint: the word with hidden
--                                           letters as "_" (spaces kept); "" outside a turn
--     <- word text                          to the drawer, when its turn starts (and on its rejoin)
--     <- hint text                          letters revealed: words of >= 4 letters get one at 1/2 of
--                                           the turn, of >= 6 letters a second at 3/4; never the last
--                                           hidden letter
--     <- strokes {batches, points}          replay to a (re)joining player during a turn: the kept
--                                           operations in order, {color, width, start, n} strokes (n
--                                           points each, concatenated in points) and {fill: true, x, y,
--                                           color, n: 0} fills
--     <- stroke / fill / undo / clear       relayed to the room, the sender excepted
--     <- guess {name, text}                 a wrong guess or chat
--     <- correct {id, name, points}         a right guess (the word is not sent)
--     <- turn_end {word, reason, drawer, results: [{id, name, points, score}], round, rounds}
--                                           reason "guessed", "time", "skipped", "drawer left", "not
--                                           enough players"; results sorted by points (desc). The
--                                           phase turn_end lasts --pause-seconds (5), then the next
--                                           turn, or game_over after the last turn of the last round.
--     <- game_over {leaderboard: [{id, name, score}]}   sorted by score (desc)
--     <- notice {text}                      "Ann joined", "Ann left", "Ann is the host", "Round 2 of
--                                           3: Bob draws", "Ann was kicked", "Game over: Ann wins"
--     <- kicked {room}                      to a kicked player's sockets
--
-- Rules
--     A right guess scores 50 + floor(50 * remaining_ms / round_ms) (100 at once, 50 at the last
--     moment) and the drawer 25 per right guesser. The turn ends "guessed" as soon as every connected,
--     non-spectator player but the drawer guessed; "time" after --round-seconds (60). A drawer who
--     left, or fewer than 2 connected players, end the turn after a 5 s grace (a reload comes back as
--     the same player); a host gone for 5 s passes the host to the earliest-joined connected player.
--     A turn that cannot start with 2 connected players ends the game. Players who leave keep their
--     place and score; a room with nobody connected is forgotten after 10 minutes.
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

local MAX_BATCHES = 20000          -- kept operations' batches per turn (strokes and fills)
local MAX_BATCH_BYTES = 4096       -- points per stroke event: 1024 x,y pairs
local MAX_PLAYERS = 32             -- per room, connected or not
local MAX_WORDS = 200              -- a custom word list: 3..200 words of 1..30 characters
local MIN_WORDS = 3
local MAX_WORD_CHARS = 30
local MAX_ROUNDS = 10
local MAX_KICKED = 256             -- kicked ids a room remembers (the oldest is forgotten first)
local DEFAULT_ROUNDS = 3
local FORGET_EMPTY_MS = 600000     -- a room with nobody connected is dropped after this
local GRACE_MS = 5000              -- a drawer (or the last guesser, or the host) who left may come back this long

-- ---- options (siod took --host/--port) ----

local round_seconds, pause_seconds = 60, 5
local admin_ui = false -- --admin-ui: the Socket.IO Admin UI at /admin/ (no auth: a local demo)
do
  local usage = " (usage: server.lua [--round-seconds N] [--pause-seconds N] [--admin-ui])"
  local i = 1
  while arg and arg[i] do
    local a = arg[i]
    local flag, value = a:match("^(%-%-[%w-]+)=(.*)$")
    if not flag then flag = a end
    if flag == "--round-seconds" or flag == "--pause-seconds" then
      if not value then value = arg[i + 1]; i = i + 1 end
      if flag == "--round-seconds" then round_seconds = tonumber(value) else pause_seconds = tonumber(value) end
    elseif a == "--admin-ui" then
      admin_ui = true
    else
      error("unknown option " .. a .. usage)
    end
    i = i + 1
  end
  if not round_seconds or not (round_seconds > 0) then error("--round-seconds must be positive") end
  if not pause_seconds or not (pause_seconds >= 0) then error("--pause-seconds must not be negative") end
end
local ROUND_MS = math.floor(round_seconds * 1000)
local PAUSE_MS = math.floor(pause_seconds * 1000)

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
    players = {},                -- id -> {id, name, score, points, sid, spectator, guessed} (sid nil: gone)
    order = {},                  -- ids, in the order they first joined
    kicked = {},                 -- id -> true: ids refused (MAX_KICKED at most)
    kicked_order = {},           -- the same ids, oldest first
    host = nil,
    phase = "lobby",
    round = 0,
    rounds = DEFAULT_ROUNDS,
    turn = 0,
    drawers = {},                -- this round's, in order
    drawer = nil,
    word = nil,
    hint = "",
    words = WORDS,
    used = {},                   -- word -> true: this game's
    ends = nil,                  -- sio.monotonic() when the turn ends
    seq = 0,                     -- bumped by every turn start/end: stale timers do nothing
    timers = {},                 -- this turn's (or pause's)
    grace_timer = nil,
    host_timer = nil,
    forget_timer = nil,
    ops = {},                    -- kept operations: {kind = "stroke", batches = {{color, width, start, points}}}
    nbatches = 0,                -- or {kind = "fill", x, y, color}
  }
end

-- ---- helpers ----

local ARRAY_MT = getmetatable(sio.array())

local function is_object(v) return type(v) == "table" and getmetatable(v) ~= ARRAY_MT and not sio.is_binary(v) end

-- A string trimmed (ASCII whitespace) and cut to `limit` characters, or "".
local function clean_text(value, limit)
  if type(value) ~= "string" then return "" end
  local s = value:match("^%s*(.-)%s*$")
  local cut = utf8.offset(s, limit + 1)
  if cut and cut <= #s then s = s:sub(1, cut - 1) end
  return s
end

local function is_color(v) return type(v) == "string" and v:match("^#%x%x%x%x%x%x$") ~= nil end

-- An integer value (a float with no fraction counts), or nil.
local function integral(v)
  if math.type(v) == "integer" then return v end
  if math.type(v) == "float" and v == math.floor(v) and v > -2^53 and v < 2^53 then return math.tointeger(v) end
  return nil
end

-- True when a and b differ by exactly one insertion, deletion or substitution.
local function edit_distance_is_1(a, b)
  if math.abs(#a - #b) > 1 or a == b then return false end
  if #a > #b then a, b = b, a end
  local i = 1
  while i <= #a and a:sub(i, i) == b:sub(i, i) do i = i + 1 end
  if #a == #b then return a:sub(i + 1) == b:sub(i + 1) end
  return a:sub(i) == b:sub(i + 1)
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

local function remaining_ms(game)
  return game.ends and math.max(0, math.floor(game.ends - sio.monotonic())) or nil
end

local function state_of(game)
  local players = sio.array()
  for _, pid in ipairs(game.order) do
    local p = game.players[pid]
    players[#players + 1] = { id = p.id, name = p.name, score = p.score, connected = p.sid ~= nil,
      spectator = p.spectator, guessed = p.guessed }
  end
  local remaining = remaining_ms(game)
  return {
    room = game.name,
    host = game.host or sio.null,
    phase = game.phase,
    players = players,
    drawer = game.drawer or sio.null,
    round = game.round,
    rounds = game.rounds,
    turn = game.turn,
    turns = #game.drawers,
    remaining = remaining or sio.null,
    round_ms = ROUND_MS,
    word_length = game.word and #game.word or 0,
    hint = game.hint,
  }
end

-- Players' rows sorted by `key` (desc), ties in join order.
local function sorted_rows(game, row)
  local rows = {}
  for i, pid in ipairs(game.order) do
    local r = row(game.players[pid])
    rows[#rows + 1] = { r = r, i = i }
  end
  return rows
end

local function sort_by(game, field, row)
  local rows = sorted_rows(game, row)
  table.sort(rows, function(x, y)
    if x.r[field] ~= y.r[field] then return x.r[field] > y.r[field] end
    return x.i < y.i
  end)
  local out = sio.array()
  for k, x in ipairs(rows) do out[k] = x.r end
  return out
end

-- ---- the game ----

function draw.send_state(game)
  server:to(game.channel):emit("state", state_of(game))
end

function draw.notice(game, text)
  server:to(game.channel):emit("notice", { text = text })
end

function draw.stop_turn_timers(game)
  game.seq = game.seq + 1
  for _, t in ipairs(game.timers) do t:stop() end
  game.timers = {}
end

-- draw[fname](game, ...) after ms, unless the turn changed or the room was forgotten.
local function later(game, ms, fname, ...)
  local name, seq, args = game.name, game.seq, table.pack(...)
  game.timers[#game.timers + 1] = sio.set_timeout(function()
    local g = games[name]
    if g == game and g.seq == seq then draw[fname](g, table.unpack(args, 1, args.n)) end
  end, math.max(0, math.floor(ms)))
end

local function guessers(game)
  local out = {}
  for _, pid in ipairs(connected(game)) do
    local p = game.players[pid]
    if pid ~= game.drawer and not p.spectator then out[#out + 1] = p end
  end
  return out
end

function draw.start_game(game, rounds, words)
  game.rounds, game.words, game.used = rounds, words, {}
  game.round = 0
  for _, p in pairs(game.players) do
    p.score, p.points, p.guessed, p.spectator = 0, 0, false, false
  end
  draw.start_round(game)
end

function draw.start_round(game)
  game.round = game.round + 1
  game.drawers = connected(game)
  game.turn = 0
  draw.next_turn(game)
end

-- The next drawer of the round still connected, the next round, or the game's end.
function draw.next_turn(game)
  draw.stop_turn_timers(game)
  if #connected(game) < 2 then
    draw.game_over(game)
    return
  end
  while game.turn < #game.drawers do
    game.turn = game.turn + 1
    local pid = game.drawers[game.turn]
    if game.players[pid] and game.players[pid].sid then
      draw.start_turn(game, pid)
      return
    end
  end
  if game.round < game.rounds then draw.start_round(game) else draw.game_over(game) end
end

function draw.start_turn(game, drawer)
  local pool = {}
  for _, w in ipairs(game.words) do if not game.used[w] then pool[#pool + 1] = w end end
  if #pool == 0 then
    game.used = {}
    for k, w in ipairs(game.words) do pool[k] = w end
  end
  local word = pool[math.random(#pool)]
  game.used[word] = true
  for _, p in pairs(game.players) do p.points, p.guessed, p.spectator = 0, false, false end
  game.phase = "drawing"
  game.drawer, game.word = drawer, word
  game.hint = word:gsub("[^ ]", "_")
  game.ops, game.nbatches = {}, 0
  game.ends = sio.monotonic() + ROUND_MS
  later(game, ROUND_MS, "end_turn", "time")
  local letters = #word:gsub(" ", "")
  if letters >= 4 then later(game, round_seconds * 1000 / 2, "reveal") end
  if letters >= 6 then later(game, round_seconds * 1000 * 3 / 4, "reveal") end
  server:to(game.channel):emit("clear")
  draw.notice(game, ("Round %d of %d: %s draws"):format(game.round, game.rounds, game.players[drawer].name))
  draw.send_state(game)
  local sid = game.players[drawer].sid
  if sid then server:to(sid):emit("word", word) end
end

-- Shows one hidden letter of the word, never the last one.
function draw.reveal(game)
  if not game.word then return end
  local hidden = {}
  for i = 1, #game.hint do if game.hint:sub(i, i) == "_" then hidden[#hidden + 1] = i end end
  if #hidden < 2 then return end
  local i = hidden[math.random(#hidden)]
  game.hint = game.hint:sub(1, i - 1) .. game.word:sub(i, i) .. game.hint:sub(i + 1)
  server:to(game.channel):emit("hint", game.hint)
  draw.send_state(game)
end

function draw.end_turn(game, reason)
  if game.phase ~= "drawing" then return end
  draw.stop_turn_timers(game)
  local word, drawer = game.word, game.drawer
  game.phase = "turn_end"
  game.word, game.ends, game.hint = nil, nil, ""
  for _, p in pairs(game.players) do p.spectator = false end
  local results = sort_by(game, "points", function(p)
    return { id = p.id, name = p.name, points = p.points, score = p.score }
  end)
  server:to(game.channel):emit("turn_end", { word = word, reason = reason, drawer = drawer, results = results,
    round = game.round, rounds = game.rounds })
  draw.send_state(game)
  later(game, PAUSE_MS, "next_turn")
end

function draw.game_over(game)
  draw.stop_turn_timers(game)
  game.phase = "game_over"
  game.drawer, game.word, game.ends = nil, nil, nil
  game.hint = ""
  game.drawers, game.turn = {}, 0
  local board = sort_by(game, "score", function(p) return { id = p.id, name = p.name, score = p.score } end)
  server:to(game.channel):emit("game_over", { leaderboard = board })
  if #board > 0 then draw.notice(game, ("Game over: %s wins"):format(board[1].name)) end
  draw.send_state(game)
end

function draw.check_guessed(game)
  if game.phase ~= "drawing" then return end
  for _, p in ipairs(guessers(game)) do if not p.guessed then return end end
  for _, p in pairs(game.players) do
    if p.guessed then draw.end_turn(game, "guessed"); return end
  end
end

-- After a grace period: ends the turn if its drawer is still gone or too few are left.
function draw.check_turn(name)
  local game = games[name]
  if not game then return end
  game.grace_timer = nil
  if game.phase ~= "drawing" or not game.drawer then return end
  if not game.players[game.drawer].sid then
    draw.end_turn(game, "drawer left")
  elseif #connected(game) < 2 then
    draw.end_turn(game, "not enough players")
  end
end

function draw.check_host(name)
  local game = games[name]
  if not game then return end
  game.host_timer = nil
  local host = game.host and game.players[game.host]
  if host and host.sid then return end
  game.host = connected(game)[1]
  if game.host then
    draw.notice(game, ("%s is the host"):format(game.players[game.host].name))
    draw.send_state(game)
  end
end

function draw.forget(name)
  local game = games[name]
  if not game then return end
  game.forget_timer = nil
  if #connected(game) == 0 then
    draw.stop_turn_timers(game)
    stop_timer(game, "grace_timer")
    stop_timer(game, "host_timer")
    games[name] = nil
  end
end

-- The player of this socket (if any) is gone: keeps its score, fixes the turn.
function draw.leave(socket, still_connected)
  local seat = socket.data.seat
  if not seat then return end
  socket.data.seat = nil
  local game = games[seat.room]
  local player = game and game.players[seat.pid]
  if not player or player.sid ~= socket.id then return end
  player.sid = nil
  if still_connected then socket:leave(game.channel) end
  draw.notice(game, ("%s left"):format(player.name))
  draw.send_state(game)
  local name = game.name
  if game.phase == "drawing" and (seat.pid == game.drawer or #connected(game) < 2) then
    -- a reload comes back within the grace period and the turn goes on
    stop_timer(game, "grace_timer")
    game.grace_timer = sio.set_timeout(function() draw.check_turn(name) end, GRACE_MS)
  end
  if seat.pid == game.host then
    stop_timer(game, "host_timer")
    game.host_timer = sio.set_timeout(function() draw.check_host(name) end, GRACE_MS)
  end
  draw.check_guessed(game)
  if #connected(game) == 0 then
    stop_timer(game, "forget_timer")
    game.forget_timer = sio.set_timeout(function() draw.forget(name) end, FORGET_EMPTY_MS)
  end
end

local function replay(game, socket)
  local meta, parts = sio.array(), {}
  for _, op in ipairs(game.ops) do
    if op.kind == "fill" then
      meta[#meta + 1] = { fill = true, x = op.x, y = op.y, color = op.color, n = 0 }
    else
      for _, b in ipairs(op.batches) do
        meta[#meta + 1] = { color = b.color, width = b.width, start = b.start, n = #b.points // 4 }
        parts[#parts + 1] = b.points:bytes()
      end
    end
  end
  if #meta > 0 then socket:emit("strokes", { batches = meta, points = sio.binary(table.concat(parts)) }) end
end

function draw.join(socket, data)
  if not is_object(data) then return { ok = false, error = "join needs {name, room, player_id}" } end
  local name = clean_text(data.name, 20)
  local room = clean_text(data.room, 30)
  local pid = clean_text(data.player_id, 64)
  if pid == "" then pid = new_id() end
  if name == "" or room == "" then return { ok = false, error = "a name and a room, please" } end
  local game = games[room]
  if game and game.kicked[pid] then return { ok = false, error = "kicked" } end
  if game and not game.players[pid] and #game.order >= MAX_PLAYERS then
    return { ok = false, error = "this room is full" }
  end
  draw.leave(socket, true)   -- a second join moves the socket
  game = games[room]
  if not game then
    game = new_game(room)
    games[room] = game
  end
  local player = game.players[pid]
  if not player then
    player = { id = pid, name = name, score = 0, points = 0, guessed = false, spectator = game.phase == "drawing" }
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
  draw.notice(game, ("%s joined"):format(name))
  if not game.host then
    game.host = pid
    draw.notice(game, ("%s is the host"):format(name))
  end
  draw.send_state(game)
  if game.phase == "drawing" then
    if pid == game.drawer and game.word then socket:emit("word", game.word) end
    replay(game, socket)
  end
  return { ok = true, you = pid, state = state_of(game) }
end

-- The game and player of this socket, or nil.
local function seat_of(socket)
  local seat = socket.data.seat
  local game = seat and games[seat.room]
  local player = game and game.players[seat.pid]
  if not player or player.sid ~= socket.id then return nil end
  return game, player
end

local function host_game(socket)
  local game, player = seat_of(socket)
  if game and game.host == player.id then return game end
  return nil
end

-- The game whose current drawer is this socket's player, or nil.
local function drawer_game(socket)
  local game, player = seat_of(socket)
  if game and game.phase == "drawing" and game.drawer == player.id then return game end
  return nil
end

function draw.start(socket, data)
  local game = host_game(socket)
  if not game then return { ok = false, error = "only the host can start" } end
  if game.phase ~= "lobby" and game.phase ~= "game_over" then return { ok = false, error = "a game is on" } end
  if #connected(game) < 2 then return { ok = false, error = "2 players are needed" } end
  if data == nil then data = {} end
  if not is_object(data) then return { ok = false, error = "start takes {rounds, words}" } end
  local rounds = data.rounds
  if rounds == nil or rounds == sio.null then rounds = DEFAULT_ROUNDS else rounds = integral(rounds) end
  if not rounds or rounds < 1 or rounds > MAX_ROUNDS then return { ok = false, error = "rounds: 1 to 10" } end
  local words = WORDS
  local raw = data.words
  if raw ~= nil and raw ~= sio.null then
    if type(raw) ~= "table" or getmetatable(raw) ~= ARRAY_MT or #raw < MIN_WORDS or #raw > MAX_WORDS then
      return { ok = false, error = "words: a list of 3 to 200 words" }
    end
    local custom, seen = {}, {}
    for _, w in ipairs(raw) do
      w = clean_text(w, MAX_WORD_CHARS + 1)
      if #w < 1 or #w > MAX_WORD_CHARS or not w:match("^[\32-\126]+$") then
        return { ok = false, error = "words: 1 to 30 letters each" }
      end
      w = w:lower()
      if not seen[w] then seen[w] = true; custom[#custom + 1] = w end
    end
    if #custom < MIN_WORDS then return { ok = false, error = "words: a list of 3 to 200 words" } end
    words = custom
  end
  draw.start_game(game, rounds, words)
  return { ok = true }
end

function draw.skip(socket)
  local game = host_game(socket)
  if not game then return { ok = false, error = "only the host can skip" } end
  if game.phase ~= "drawing" then return { ok = false, error = "no turn to skip" } end
  draw.end_turn(game, "skipped")
  return { ok = true }
end

function draw.kick(socket, data)
  local game = host_game(socket)
  if not game then return { ok = false, error = "only the host can kick" } end
  local target = is_object(data) and data.id or nil
  if type(target) ~= "string" or not game.players[target] or target == game.host then
    return { ok = false, error = "no such player" }
  end
  local player = game.players[target]
  game.players[target] = nil
  table.remove(game.order, index_of(game.order, target))
  game.kicked[target] = true
  game.kicked_order = game.kicked_order or {} -- (a game from before a reload)
  game.kicked_order[#game.kicked_order + 1] = target
  if #game.kicked_order > MAX_KICKED then game.kicked[table.remove(game.kicked_order, 1)] = nil end
  local old = player.sid and server:socket(player.sid)
  if old then
    old.data.seat = nil
    old:emit("kicked", { room = game.name })
    old:leave(game.channel)
  end
  draw.notice(game, ("%s was kicked"):format(player.name))
  if game.phase == "drawing" and target == game.drawer then
    draw.end_turn(game, "drawer left")
  elseif game.phase == "drawing" and #connected(game) < 2 then
    draw.end_turn(game, "not enough players")
  else
    draw.send_state(game)
    draw.check_guessed(game)
  end
  return { ok = true }
end

function draw.stroke(socket, data)
  local game = drawer_game(socket)
  if not game or not is_object(data) then return end
  local color, width, points = data.color, data.width, data.points
  if not is_color(color) then return end
  if type(width) ~= "number" or not (width >= 1 and width <= 50) then return end
  if not sio.is_binary(points) or #points == 0 or #points % 4 ~= 0 or #points > MAX_BATCH_BYTES then return end
  if game.nbatches >= MAX_BATCHES then return end
  local start = data.start == true
  local last = game.ops[#game.ops]
  if start or not last or last.kind ~= "stroke" then
    game.ops[#game.ops + 1] = { kind = "stroke", batches = { { color = color, width = width, start = true, points = points } } }
  else
    last.batches[#last.batches + 1] = { color = color, width = width, start = false, points = points }
  end
  game.nbatches = game.nbatches + 1
  socket:to(game.channel):emit("stroke", { color = color, width = width, start = start, points = points })
end

function draw.fill(socket, data)
  local game = drawer_game(socket)
  if not game or not is_object(data) then return end
  local x, y, color = integral(data.x), integral(data.y), data.color
  if not x or not y or x < 0 or x > 799 or y < 0 or y > 599 or not is_color(color) then return end
  if game.nbatches >= MAX_BATCHES then return end
  game.ops[#game.ops + 1] = { kind = "fill", x = x, y = y, color = color }
  game.nbatches = game.nbatches + 1
  socket:to(game.channel):emit("fill", { x = x, y = y, color = color })
end

function draw.undo(socket)
  local game = drawer_game(socket)
  if game and #game.ops > 0 then
    local op = table.remove(game.ops)
    game.nbatches = game.nbatches - (op.kind == "fill" and 1 or #op.batches)
    socket:to(game.channel):emit("undo")
  end
end

function draw.clear(socket)
  local game = drawer_game(socket)
  if game then
    game.ops, game.nbatches = {}, 0
    socket:to(game.channel):emit("clear")
  end
end

function draw.guess(socket, text)
  local game, player = seat_of(socket)
  text = clean_text(text, 100)
  if not game or text == "" then return { ok = false, correct = false, close = false } end
  local word = game.word
  if game.phase == "drawing" and word then
    local lower = text:lower()
    if player.id == game.drawer or player.guessed then
      if lower:find(word, 1, true) then
        return { ok = false, correct = false, close = false, error = "no spoilers" }
      end
    elseif player.spectator then
      return { ok = false, correct = false, close = false, error = "spectating" }
    elseif lower == word then
      local points = 50 + (50 * (remaining_ms(game) or 0)) // ROUND_MS
      player.guessed = true
      player.score = player.score + points
      player.points = player.points + points
      local drawer = game.players[game.drawer]
      if drawer then
        drawer.score = drawer.score + 25
        drawer.points = drawer.points + 25
      end
      server:to(game.channel):emit("correct", { id = player.id, name = player.name, points = points })
      draw.send_state(game)
      draw.check_guessed(game)
      return { ok = true, correct = true, close = false }
    elseif not text:find("[\128-\255]") and edit_distance_is_1(lower, word) then
      server:to(game.channel):emit("guess", { name = player.name, text = text })
      return { ok = true, correct = false, close = true }
    end
  end
  server:to(game.channel):emit("guess", { name = player.name, text = text })
  return { ok = true, correct = false, close = false }
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
  socket:on("start", function(data) return draw.start(socket, data_arg(data)) end)
  socket:on("skip", function() return draw.skip(socket) end)
  socket:on("kick", function(data) return draw.kick(socket, data_arg(data)) end)
  socket:on("stroke", function(data) draw.stroke(socket, data_arg(data)) end)
  socket:on("fill", function(data) draw.fill(socket, data_arg(data)) end)
  socket:on("undo", function() draw.undo(socket) end)
  socket:on("clear", function() draw.clear(socket) end)
  socket:on("guess", function(text) return draw.guess(socket, data_arg(text)) end)
  socket:on("disconnect", function() draw.leave(socket, false) end)
end)

if not draw_listening then
  draw_listening = true
  print(("listening on http://%s:%d"):format(server.host, server.port))
end
