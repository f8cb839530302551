-- socket.io's examples/private-messaging/server (index.js, sessionStore.js, messageStore.js), ported
-- to Lua: `siod private_messaging.lua`. The original keeps its sessions and messages in Redis and
-- runs behind @socket.io/sticky; this port keeps them in memory (the example's own
-- InMemorySessionStore and InMemoryMessageStore, below) and runs as one process; `redis = URL`
-- in sio.server{} makes it a cluster node like the original's adapter.
local sio = require "sio"
local server = assert(sio.server{ port = tonumber(os.getenv("PORT")) or 3000, cors = "http://localhost:8080" })

local randomId = function()
  local t = {}
  for i = 1, 8 do t[i] = ("%02x"):format(math.random(0, 255)) end
  return table.concat(t)
end

-- sessionStore.js
local InMemorySessionStore = {}
InMemorySessionStore.__index = InMemorySessionStore
function InMemorySessionStore.new() return setmetatable({ sessions = {}, order = {} }, InMemorySessionStore) end
function InMemorySessionStore:findSession(id) return self.sessions[id] end
function InMemorySessionStore:saveSession(id, session)
  if not self.sessions[id] then self.order[#self.order + 1] = id end -- a Map keeps insertion order
  self.sessions[id] = session
end
function InMemorySessionStore:findAllSessions()
  local all = {}
  for i, id in ipairs(self.order) do all[i] = self.sessions[id] end
  return all
end

-- messageStore.js
local InMemoryMessageStore = {}
InMemoryMessageStore.__index = InMemoryMessageStore
function InMemoryMessageStore.new() return setmetatable({ messages = {} }, InMemoryMessageStore) end
function InMemoryMessageStore:saveMessage(message) self.messages[#self.messages + 1] = message end
function InMemoryMessageStore:findMessagesForUser(userID)
  local found = {}
  for _, m in ipairs(self.messages) do
    if m.from == userID or m.to == userID then found[#found + 1] = m end
  end
  return found
end

local sessionStore = InMemorySessionStore.new()
local messageStore = InMemoryMessageStore.new()

server:use(function(socket, next)
  local sessionID = socket.handshake.auth.sessionID
  if sessionID then
    local session = sessionStore:findSession(sessionID)
    if session then
      socket.sessionID = sessionID
      socket.userID = session.userID
      socket.username = session.username
      return next()
    end
  end
  local username = socket.handshake.auth.username
  if not username then
    return next("invalid username")
  end
  socket.sessionID = randomId()
  socket.userID = randomId()
  socket.username = username
  next()
end)

server:on("connection", function(socket)
  -- persist session
  sessionStore:saveSession(socket.sessionID, {
    userID = socket.userID,
    username = socket.username,
    connected = true,
  })

  -- emit session details
  socket:emit("session", {
    sessionID = socket.sessionID,
    userID = socket.userID,
  })

  -- join the "userID" room
  socket:join(socket.userID)

  -- fetch existing users
  local users = {}
  local messages, sessions = messageStore:findMessagesForUser(socket.userID), sessionStore:findAllSessions()
  local messagesPerUser = {}
  for _, message in ipairs(messages) do
    local from, to = message.from, message.to
    local otherUser = socket.userID == from and to or from
    if messagesPerUser[otherUser] then
      table.insert(messagesPerUser[otherUser], message)
    else
      messagesPerUser[otherUser] = { message }
    end
  end

  for _, session in ipairs(sessions) do
    table.insert(users, {
      userID = session.userID,
      username = session.username,
      connected = session.connected,
      messages = messagesPerUser[session.userID] or sio.array(),
    })
  end
  socket:emit("users", sio.array(users))

  -- notify existing users
  socket.broadcast:emit("user connected", {
    userID = socket.userID,
    username = socket.username,
    connected = true,
    messages = sio.array(),
  })

  -- forward the private message to the right recipient (and to other tabs of the sender)
  socket:on("private message", function(msg)
    local content, to = msg.content, msg.to
    local message = {
      content = content,
      from = socket.userID,
      to = to,
    }
    socket:to(to):to(socket.userID):emit("private message", message)
    messageStore:saveMessage(message)
  end)

  -- notify users upon disconnection
  socket:on("disconnect", function()
    local matchingSockets = server:to(socket.userID):fetch_sockets()
    local isDisconnected = #matchingSockets == 0
    if isDisconnected then
      -- notify other users
      socket.broadcast:emit("user disconnected", socket.userID)
      -- update the connection status of the session
      sessionStore:saveSession(socket.sessionID, {
        userID = socket.userID,
        username = socket.username,
        connected = false,
      })
    end
  end)
end)

sio.log.info("listening on port " .. server.port)
sio.run()
