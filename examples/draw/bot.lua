-- A draw-and-guess bot: a player for examples/draw (protocol v2, at the top of server.lua) on sio's
-- Lua client (sio.client), so that one human can play alone. It joins a room, says hello in the
-- chat, guesses words of the game's list that fit the hint (the secret word's length and its
-- revealed letters) at a human-ish pace while another player draws (not while it is a spectator,
-- nor after it found the word), and draws a few strokes and maybe a fill when its turn comes. It
-- says something at each turn's end and at the game's end. bot.py is the same bot in Python.
--
--   siod examples/draw/bot.lua http://127.0.0.1:3000 ROOM [--name NAME] [--pace MS] [--quit-after N]
--   (or: LUA_CPATH='build/lua/?.so;;' lua5.4 examples/draw/bot.lua ...)
--
--   --name NAME      its name in the room (default "bot")
--   --pace MS        about how long it thinks before each guess (default 3000; +-50% at random)
--   --quit-after N   leave after N games ended (default: play until stopped)
--
-- The room's host (the first to join: a human) starts the game. The bot prints one line per thing
-- it does on stdout ("joined ROOM as bot (id ...)", "guess cat: wrong", "drawing house", "game over:
-- Ann wins").
local sio = require "sio"

-- the servers' word list (server.lua's and server.py's WORDS)
local WORDS = {
  "apple", "ball", "banana", "bird", "boat", "book", "cake", "car", "cat", "chair",
  "clock", "cloud", "dog", "fish", "flower", "hat", "heart", "house", "key", "kite",
  "moon", "pizza", "rain", "shoe", "snake", "spider", "star", "sun", "train", "tree",
}
local CHAT = { "hi everyone, I'm a bot", "good luck!", "nice drawing", "hmm...", "this one is hard" }

local function usage(msg)
  io.stderr:write((msg and msg .. "\n" or ""),
    "usage: bot.lua URL ROOM [--name NAME] [--pace MS] [--quit-after N]\n")
  os.exit(2)
end

local args = arg or {}
local url, room = args[1], args[2]
if not url or not room or url:sub(1, 1) == "-" then usage() end
local name, pace, quit_after = "bot", 3000, nil
local i = 3
while args[i] do
  local a, v = args[i], args[i + 1]
  if a == "--name" and v then name = v
  elseif a == "--pace" and tonumber(v) then pace = math.max(50, math.floor(tonumber(v)))
  elseif a == "--quit-after" and tonumber(v) then quit_after = math.floor(tonumber(v))
  else usage("unknown option " .. a) end
  i = i + 2
end

math.randomseed(os.time() + math.floor(sio.monotonic()))

local function say(fmt, ...)
  io.stdout:write(fmt:format(...), "\n")
  io.stdout:flush()
end

local socket = sio.client(url, { reconnectionDelayMax = 2000 })
local me = nil          -- our player id (the join ack's `you`): kept to rejoin as the same player
local state = nil       -- the room's latest `state`
local games = 0         -- games that ended while we were in
local turn_key = nil    -- "round.turn" our guesser loop works on
local tried = {}        -- words guessed this turn
local drawn = nil       -- the turn key we drew
local generation = 0    -- one play() loop per connection: a reconnection starts a new one
local leaving = false

-- a human-ish delay around `pace`
local function think(scale)
  sio.sleep(math.floor(pace * (scale or 1) * (0.5 + math.random())))
end

local function connected_players()
  local n = 0
  for _, p in ipairs(state and state.players or {}) do
    if p.connected then n = n + 1 end
  end
  return n
end

local function myself()
  for _, p in ipairs(state and state.players or {}) do
    if p.id == me then return p end
  end
  return nil
end

local function drawing_now()
  return state and state.phase == "drawing" and state.drawer == me
end

-- Whether we should guess now: a turn is on, someone else draws, we are neither a spectator nor
-- done with this word.
local function may_guess()
  local p = myself()
  return state and state.phase == "drawing" and state.drawer ~= me and p and not p.spectator and not p.guessed
end

local function leave()
  if leaving then return end
  leaving = true
  say("leaving after %d game(s)", games)
  socket:disconnect()
  sio.shutdown()
end

-- One stroke batch: points as little-endian Int16 x,y pairs (the page's format).
local function stroke(points, start, color, width)
  local parts = {}
  for k, p in ipairs(points) do parts[k] = string.pack("<i2i2", p[1], p[2]) end
  socket:emit("stroke", { color = color, width = width, start = start, points = sio.binary(table.concat(parts)) })
end

-- A few strokes for `word`: a circle, a line under it and a zigzag, each sent in small batches as
-- a hand would draw them; and, one time in two, the circle filled.
local function draw(word, key)
  say("drawing %s", word)
  local cx, cy, r = 400, 260, 90 + math.random(40)
  local circle = {}
  for k = 0, 48 do
    local t = k / 48 * 2 * math.pi
    circle[#circle + 1] = { math.floor(cx + r * math.cos(t)), math.floor(cy + r * math.sin(t)) }
  end
  local line = { { 250, 450 }, { 400, 460 }, { 550, 450 } }
  local zig = {}
  for k = 0, 10 do zig[#zig + 1] = { 200 + k * 40, k % 2 == 0 and 520 or 560 } end
  local still = function()
    return socket.connected and drawing_now() and ("%d.%d"):format(state.round, state.turn) == key
  end
  for n, shape in ipairs({ { circle, "#222222", 6 }, { line, "#1565c0", 4 }, { zig, "#c62828", 3 } }) do
    local pts = shape[1]
    for k = 1, #pts, 8 do
      if not still() then return end
      local batch = {}
      for j = k, math.min(k + 8, #pts) do batch[#batch + 1] = pts[j] end -- overlaps: lines join
      stroke(batch, k == 1, shape[2], shape[3])
      sio.sleep(30)
    end
    if n == 1 and math.random() < 0.5 and still() then
      socket:emit("fill", { x = cx, y = cy, color = "#ffeb3b" })
      say("filling")
    end
    think(0.3)
  end
end

-- The next word to try this turn: untried, fitting the hint (length and revealed letters).
local function pick()
  local hint = state.hint or ""
  local pool = {}
  for _, w in ipairs(WORDS) do
    local fits = not tried[w] and (state.word_length == 0 or #w == state.word_length)
    if fits and #hint == #w then
      for k = 1, #w do
        local c = hint:sub(k, k)
        if c ~= "_" and c ~= w:sub(k, k) then fits = false; break end
      end
    end
    if fits then pool[#pool + 1] = w end
  end
  if #pool == 0 then return nil end
  return pool[math.random(#pool)]
end

-- The bot's mind: one coroutine that looks at the state now and then and acts.
local function play(gen)
  while socket.connected and gen == generation and not leaving do
    if may_guess() then
      local key = ("%d.%d"):format(state.round, state.turn)
      if key ~= turn_key then turn_key, tried = key, {} end
      think()
      local word = may_guess() and ("%d.%d"):format(state.round, state.turn) == key and pick()
      if word then
        tried[word] = true
        local answer, err = socket:timeout(5000):call("guess", word)
        if answer then
          say("guess %s: %s", word, answer.correct and "right!" or answer.close and "close!"
            or answer.error or "wrong")
        else
          say("guess %s: no answer (%s)", word, tostring(err))
        end
        if math.random() < 0.1 then socket:emit("guess", CHAT[math.random(3, #CHAT)]) end
      end
    else
      sio.sleep(100)
    end
  end
end

socket:on("connect", function()
  generation = generation + 1
  local gen = generation
  local answer, err = socket:timeout(5000):call("join", { name = name, room = room, player_id = me })
  if not answer or not answer.ok then
    say("could not join %s: %s", room, tostring(answer and answer.error or err))
    leave()
    return
  end
  me, state = answer.you, answer.state
  say("joined %s as %s (id %s, %d player(s) connected)", room, name, me, connected_players())
  think(0.3)
  socket:emit("guess", CHAT[1])
  play(gen)
end)

socket:on("state", function(s) state = s end)

socket:on("word", function(word)
  -- (a rejoin sends it again, before the join's answer)
  for _ = 1, 100 do
    if me and state and drawing_now() then break end
    sio.sleep(20)
  end
  if not drawing_now() then return end
  local key = ("%d.%d"):format(state.round, state.turn)
  if drawn == key then return end
  drawn = key
  think(0.3)
  draw(word, key)
end)

socket:on("correct", function(c)
  say("%s found it (+%d)", c.name, c.points)
  if c.id ~= me and math.random() < 0.3 then socket:emit("guess", "well done " .. c.name) end
end)

socket:on("turn_end", function(t)
  local mine = 0
  for _, r in ipairs(t.results) do if r.id == me then mine = r.points end end
  say("turn over: %s (%s), +%d for me", t.word, t.reason, mine)
end)

socket:on("game_over", function(g)
  local first = g.leaderboard[1]
  say("game over: %s wins", first and first.name or "nobody")
  games = games + 1
  if quit_after and games >= quit_after then leave() end
end)

socket:on("kicked", function()
  say("kicked out of %s", room)
  leave()
end)

socket:on("connect_error", function(e) say("cannot connect: %s", tostring(e)) end)
socket:on("disconnect", function(reason) say("disconnected: %s", reason) end)

sio.run() -- returns at once under siod, which runs the loop
