-- socket.io's examples/chat/index.js, ported to Lua: `siod chat.lua` (or `lua5.4 chat.lua`) serves
-- the example's public/ directory (its page, unchanged; env PUBLIC to point elsewhere) and the chat.
-- Setup basic sio server
local sio = require "sio"
local dir = (arg and arg[0] or ""):match("^(.*/)") or "./"
local server = assert(sio.server{ port = tonumber(os.getenv("PORT")) or 3000 })

sio.log.info(("Server listening at port %d"):format(server.port))

-- Routing
local public = os.getenv("PUBLIC") or dir .. "public"
local page = io.open(public .. "/index.html")
if page then page:close(); server:static("/", public) end

-- Chatroom

numUsers = numUsers or 0 -- a global: kept across a siod reload

server:on("connection", function(socket)
  local addedUser = false

  -- when the client emits 'new message', this listens and executes
  socket:on("new message", function(data)
    -- we tell the client to execute 'new message'
    socket.broadcast:emit("new message", {
      username = socket.username,
      message = data
    })
  end)

  -- when the client emits 'add user', this listens and executes
  socket:on("add user", function(username)
    if addedUser then return end

    -- we store the username in the socket session for this client
    socket.username = username
    numUsers = numUsers + 1
    addedUser = true
    socket:emit("login", {
      numUsers = numUsers
    })
    -- echo globally (all clients) that a person has connected
    socket.broadcast:emit("user joined", {
      username = socket.username,
      numUsers = numUsers
    })
  end)

  -- when the client emits 'typing', we broadcast it to others
  socket:on("typing", function()
    socket.broadcast:emit("typing", {
      username = socket.username
    })
  end)

  -- when the client emits 'stop typing', we broadcast it to others
  socket:on("stop typing", function()
    socket.broadcast:emit("stop typing", {
      username = socket.username
    })
  end)

  -- when the user disconnects.. perform this
  socket:on("disconnect", function()
    if addedUser then
      numUsers = numUsers - 1

      -- echo globally that this client has left
      socket.broadcast:emit("user left", {
        username = socket.username,
        numUsers = numUsers
      })
    end
  end)
end)

sio.run()
