-- socket.io's examples/whiteboard/index.js, ported to Lua: `siod whiteboard.lua` serves the
-- example's public/ directory (its page, unchanged; env PUBLIC to point elsewhere) and the drawing.
local sio = require "sio"
local dir = (arg and arg[0] or ""):match("^(.*/)") or "./"
local server = assert(sio.server{ port = tonumber(os.getenv("PORT")) or 3000 })

local public = os.getenv("PUBLIC") or dir .. "public"
local page = io.open(public .. "/index.html")
if page then page:close(); server:static("/", public) end

local function onConnection(socket)
  socket:on("drawing", function(data) socket.broadcast:emit("drawing", data) end)
end

server:on("connection", onConnection)

sio.log.info("listening on port " .. server.port)
sio.run()
