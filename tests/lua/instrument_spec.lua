-- server:instrument{...} (the Admin UI's server side, sio_io_instrument): the options it refuses
-- and once per server. The protocol, with socket.io-client against server.lua's --admin, is
-- tests/js/admin.test.mjs (run against SIO_SERVER='examples/contract/run lua').
package.path = "tests/lua/helpers/?.lua;" .. package.path
local sio = require "sio"
local H = require("util").with_sio(sio)

local servers = {}

local function server()
  local s = assert(sio.server{ host = "127.0.0.1", port = 0 })
  servers[#servers + 1] = s
  return s
end

after_each(function()
  for _, s in ipairs(servers) do s:close() end
  H.pump(30)
  servers = {}
end)

describe("server:instrument", function()
  it("refuses what it cannot take, with the reason", function()
    local s = server()
    assert.has_error(function() s:instrument{} end) -- auth must be given (false: none)
    assert.has_error(function() s:instrument{ auth = { username = "a" } } end)
    assert.has_error(function() s:instrument{ auth = false, mode = "staging" } end)
    local ok, err = pcall(s.instrument, s, { auth = { username = "a", password = "plain" } })
    assert.is_false(ok)
    assert.matches("valid bcrypt hash", err)
  end)

  it("once per server: again is nil, EEXIST (as a reload does)", function()
    local s = server()
    assert.is_true(s:instrument{ auth = false, mode = "production", namespace = "/adm",
                                 server_stats_interval = 500, read_only = true, server_id = "x" })
    local ok, err, name = s:instrument{ auth = false }
    assert.is_nil(ok)
    assert.equals("EEXIST", name)
    assert.matches("EEXIST", err)
  end)
end)
