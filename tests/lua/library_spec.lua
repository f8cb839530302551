-- lua/library/sio.lua, the LuaLS definitions shipped with the rock, declares exactly what
-- `require "sio"` exports: every module function (sio.json and sio.log included) and every
-- method of every object's metatable, and nothing that is not there.
local sio = require "sio"
local root = os.getenv("SIO_ROOT") or "."
local file = root .. "/lua/library/sio.lua"

-- declared["sio"], declared["sio.json"], declared["Socket"] ...: the names of the functions
-- declared with `function owner.name(` or `function Owner:name(`.
local function declarations()
  local declared = {}
  for line in io.lines(file) do
    local owner, name = line:match("^function ([%w_.]+)[.:]([%w_]+)%(")
    if owner then
      declared[owner] = declared[owner] or {}
      declared[owner][name] = true
    end
  end
  return declared
end

local function sorted_keys(...)
  local seen, t = {}, {}
  for _, set in ipairs { ... } do
    for k in pairs(set) do
      if not seen[k] then
        seen[k] = true
        t[#t + 1] = k
      end
    end
  end
  table.sort(t)
  return t
end

local function functions_of(t)
  local f = {}
  for k, v in pairs(t) do
    if type(v) == "function" and not k:match("^_") then f[k] = true end
  end
  return f
end

describe("lua/library/sio.lua", function()
  local declared = declarations()

  it("is valid Lua and a LuaLS meta file", function()
    assert(loadfile(file))
    assert.matches("^%-%-%-@meta sio", io.open(file):read("l"))
  end)

  it("declares every module function, and only those", function()
    assert.are.same(sorted_keys(functions_of(sio)), sorted_keys(declared.sio))
    assert.are.same(sorted_keys(functions_of(sio.json)), sorted_keys(declared["sio.json"]))
    assert.are.same(sorted_keys(functions_of(sio.log)), sorted_keys(declared["sio.log"]))
  end)

  it("declares every method of every object, and only those", function()
    local reg = debug.getregistry()
    local classes = {
      ["sio.server"] = { "Server", "Namespace", "Emitter" }, -- a server is also its namespace "/"
      ["sio.namespace"] = { "Namespace", "Emitter" },
      ["sio.socket"] = { "Socket" },
      ["sio.emitter"] = { "Emitter" },
      ["sio.timer"] = { "Timer" },
      ["sio.engine"] = { "Engine" },
      ["sio.session"] = { "Session" },
      ["sio.response"] = { "Response" },
      ["sio.manager"] = { "Manager" },
      ["sio.client"] = { "Client", "ClientEmitter" }, -- a client socket is also its own emitter
      ["sio.client_emitter"] = { "ClientEmitter" },
    }
    for mt, owners in pairs(classes) do
      local want = {}
      for _, o in ipairs(owners) do want[#want + 1] = declared[o] or {} end
      assert.are.same(sorted_keys(functions_of(reg[mt].methods)), sorted_keys(table.unpack(want)), mt)
    end
    assert.are.same(sorted_keys(functions_of(reg["sio.binary"].__index)), sorted_keys(declared.Binary))
  end)
end)
