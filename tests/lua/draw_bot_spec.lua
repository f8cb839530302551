-- examples/draw/bot.lua, the draw-and-guess bot on sio's Lua client: the game's Lua server under
-- siod, a human's page played by socket.io-client 4.8 (helpers/draw_player.mjs), and the bot, run
-- as its README says (under siod, and under lua5.4). The page (the room's host) starts a 1-round game
-- once the bot is in; it must see the bot chat, guess words of the list, find the word of the page's
-- drawing (scoring 50..100), then draw when its turn comes, and the game end with both on the board.
package.path = "tests/lua/helpers/?.lua;" .. package.path
local sio = require "sio"
local H = require("util").with_sio(sio)

local PLAYER = H.root .. "/tests/lua/helpers/draw_player.mjs"
local have_node = os.execute("command -v node >/dev/null 2>&1")
  and H.read_file(H.root .. "/tests/js/node_modules/socket.io-client/package.json") ~= nil

local procs = {}

after_each(function()
  for i = #procs, 1, -1 do procs[i].stop() end
  procs = {}
  H.cleanup_temps()
end)

local function start_draw_server()
  local log = H.tmpname()
  local p = H.spawn(("exec timeout --foreground 90 %s --host 127.0.0.1 --port 0 %s --round-seconds 10 --pause-seconds 0.5"):format(
    H.q(H.siod), H.q(H.root .. "/examples/draw/server.lua")), log)
  procs[#procs + 1] = p
  assert(H.wait_for(function() return p.output():match("listening on http://[^:]+:(%d+)") or not p.running() end, 10000))
  p.port = tonumber(p.output():match("listening on http://[^:]+:(%d+)"))
  assert(p.port and p.port > 0, "siod did not start the draw server:\n" .. p.output())
  return p
end

describe("the draw-and-guess bot (examples/draw/bot.lua)", function()
  if not have_node then
    pending("node and tests/js/node_modules (socket.io-client) are needed")
    return
  end

  for _, runner in ipairs({ "siod", "lua5.4" }) do
    it("joins a room with a socket.io-client player, chats, guesses the word, then draws (" .. runner .. ")",
      function()
        local server = start_draw_server()
        local url = "http://127.0.0.1:" .. server.port
        local room = "bot-" .. runner:gsub("%W", "") .. "-" .. tostring(sio.now())
        local pout, perr = H.tmpname(), H.tmpname()
        local player = H.spawn(("exec timeout --foreground 60 node %s %s %s alice robo"):format(H.q(PLAYER), url, room),
          pout, perr)
        procs[#procs + 1] = player
        -- the page joins first: it draws the first round, the bot guesses
        assert(H.wait_for(function() return player.output():find("joined", 1, true) or not player.running() end,
          15000), "the player did not join")
        local bout = H.tmpname()
        local bot_cmd = runner == "siod"
          and ("%s %s"):format(H.q(H.siod), H.q(H.root .. "/examples/draw/bot.lua"))
          or ("env LUA_CPATH=%s %s %s"):format(H.q(H.build .. "/lua/?.so;;"), H.q(H.lua),
            H.q(H.root .. "/examples/draw/bot.lua"))
        local bot = H.spawn(("exec timeout --foreground 60 %s %s %s --name robo --pace 150"):format(bot_cmd, url, room),
          bout)
        procs[#procs + 1] = bot
        local status = H.wait_exit(player, 50000)
        local line
        for l in player.output():gmatch("[^\n]+") do line = l end
        local seen = line and sio.json.decode(line)
        local context = ("\nplayer: %s\n%s\nbot:\n%s\nserver:\n%s"):format(player.output(), player.errors(),
          bot.output(), server.output())
        assert.equal(0, status, context)
        assert.is_table(seen, context)
        assert.is_true(seen.joined, context)
        assert.is_true(seen.botJoined, "the bot joined the room" .. context)
        assert.is_true(#seen.chat >= 1, "the bot said something in the chat" .. context)
        assert.is_true(#seen.guesses >= 1 or seen.correct ~= nil, "the bot guessed" .. context)
        assert.is_number(seen.correct, "the bot found the page's word" .. context)
        assert.is_true(seen.correct >= 50 and seen.correct <= 100, context)
        assert.is_table(seen.gameOver, "the game ended" .. context)
        assert.equal(2, #seen.gameOver, context)
        assert.is_true(seen.strokes >= 1 and seen.strokePoints >= 2, "the bot drew on its turn" .. context)
        assert.matches("joined " .. room:gsub("%p", "%%%0") .. " as robo", bot.output())
        assert.matches("drawing %a+", bot.output())
        assert.matches("turn over: %a+", bot.output())
        assert.is_nil(server.output():match("ERROR"), server.output())
        assert.is_nil(bot.output():match("ERROR"), bot.output())
      end)
  end
end)
