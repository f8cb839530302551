-- Helpers shared by the Lua specs: pumping sio's loop with deadlines, background processes
-- (python clients, lua5.4 and siod) with their output in temporary files, JSON lines.
-- The specs run from the repository's root (tests/lua/run cds there).
local M = {}

M.root = os.getenv("SIO_ROOT") or assert(io.popen("pwd")):read("l")
M.build = os.getenv("SIO_BUILD_DIR") or "build"
if M.build:sub(1, 1) ~= "/" then M.build = M.root .. "/" .. M.build end
M.siod = os.getenv("SIOD") or (M.build .. "/siod")
M.loadgen = os.getenv("SIO_LOADGEN") or (M.build .. "/sio-loadgen")
M.python = os.getenv("PYTHON") or "/usr/bin/python3"
M.lua = os.getenv("LUA") or "lua5.4"
M.client_py = M.root .. "/tests/lua/helpers/client.py"

function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function M.write_file(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local temps = {}
-- A temporary file name, removed by M.cleanup_temps().
function M.tmpname(suffix)
  local n = os.tmpname()
  if suffix then
    os.remove(n)
    n = n .. suffix
  end
  temps[#temps + 1] = n
  return n
end

function M.cleanup_temps()
  for i = #temps, 1, -1 do
    os.remove(temps[i])
    temps[i] = nil
  end
end

-- ---- processes ----------------------------------------------------------------------------------

function M.kill(pid, sig)
  if pid then os.execute(("kill -%s %d 2>/dev/null"):format(sig or "TERM", pid)) end
end

-- Starts `cmd` (a simple command: its pid is the one recorded) in the background, its stdout in
-- `out` and its stderr in `err` (or with stdout when err is nil). Returns a process object.
function M.spawn(cmd, out, err)
  local pidfile = M.tmpname()
  local redir = err and (">%s 2>%s"):format(M.q(out), M.q(err)) or (">%s 2>&1"):format(M.q(out))
  -- exit status file: the wrapper shell waits for the command and records its status
  local rcfile = M.tmpname()
  os.remove(rcfile)
  local line = ("(%s %s </dev/null & echo $! >%s; wait $!; echo $? >%s) >/dev/null 2>&1 &"):format(
    cmd, redir, M.q(pidfile), M.q(rcfile))
  assert(os.execute(line))
  local pid
  for _ = 1, 500 do
    local s = M.read_file(pidfile)
    pid = s and tonumber(s:match("%d+"))
    if pid then break end
    os.execute("sleep 0.01")
  end
  assert(pid, "no pid for: " .. cmd)
  local p = { pid = pid, out = out, err = err, rcfile = rcfile, cmd = cmd }
  function p.output() return M.read_file(out) or "" end
  function p.errors() return err and (M.read_file(err) or "") or "" end
  -- the exit status once the process is over, else nil
  function p.status()
    local s = M.read_file(rcfile)
    return s and tonumber(s:match("%d+"))
  end
  function p.running() return p.status() == nil end
  -- TERM (timeout(1) passes it on to its command), then KILL, children first, if it lingers
  function p.stop(sig)
    if not p.running() then return end
    M.kill(pid, sig or "TERM")
    for _ = 1, 100 do
      if not p.running() then return end
      os.execute("sleep 0.02")
    end
    local children = M.read_file(("/proc/%d/task/%d/children"):format(pid, pid)) or ""
    for child in children:gmatch("%d+") do M.kill(tonumber(child), "KILL") end
    M.kill(pid, "KILL")
    M.wait_for(function() return not p.running() end, 2000)
  end
  return p
end

-- Waits (sleeping, not pumping any loop) until cond() holds; returns whether it did.
function M.wait_for(cond, ms)
  local waited = 0
  while true do
    if cond() then return true end
    if waited >= (ms or 10000) then return false end
    os.execute("sleep 0.02")
    waited = waited + 20
  end
end

-- Waits for a process to end (or kills it after ms); returns its exit status.
function M.wait_exit(p, ms)
  if not M.wait_for(function() return not p.running() end, ms or 10000) then
    p.stop()
    return nil, "killed after timeout"
  end
  return p.status()
end

-- ---- JSON lines ---------------------------------------------------------------------------------

-- The lines of s decoded as JSON objects (a line that is not JSON gives {raw = line}).
function M.json_lines(s, decode)
  local t = {}
  for line in s:gmatch("[^\n]+") do
    local v = line:sub(1, 1) == "{" and decode(line) or nil
    t[#t + 1] = type(v) == "table" and v or { raw = line }
  end
  return t
end

-- ---- in-process servers (these need the sio module) -------------------------------------------

function M.with_sio(sio)
  local H = setmetatable({}, { __index = M })

  -- Pumps sio's loop until cond() holds or ms pass; an interval keeps "once" from blocking.
  function H.run_until(cond, ms)
    local tick = sio.set_interval(function() end, 10)
    local deadline = sio.now() + (ms or 10000)
    local ok = cond()
    while not ok and sio.now() < deadline do
      sio.run("once")
      ok = cond()
    end
    tick:stop()
    sio.run("nowait")
    return ok and true or false
  end

  function H.pump(ms)
    H.run_until(function() return false end, ms)
  end

  -- A python client (helpers/client.py) in the background.
  function H.client(scenario, port, arg)
    local out = M.tmpname()
    local cmd = ("exec timeout --foreground 30 %s %s %s %d %s"):format(M.q(M.python), M.q(M.client_py), scenario, port,
      arg and M.q(sio.json.encode(arg)) or "")
    local p = M.spawn(cmd, out)
    -- done: its last line is out, or it is gone
    function p.done()
      return p.output():find('{"end": true}', 1, true) ~= nil or not p.running()
    end
    function p.results() return M.json_lines(p.output(), sio.json.decode) end
    -- the first result whose field k equals v
    function p.find(k, v)
      for _, r in ipairs(p.results()) do
        if r[k] == v then return r end
      end
    end
    function p.events(name)
      local t = {}
      for _, r in ipairs(p.results()) do
        if r.event ~= nil and (name == nil or r.event == name) then t[#t + 1] = r end
      end
      return t
    end
    return p
  end

  -- Pumps until every client given is done; returns whether they all are.
  function H.run_clients(clients, ms)
    return H.run_until(function()
      for _, c in ipairs(clients) do
        if not c.done() then return false end
      end
      return true
    end, ms or 15000)
  end

  return H
end

return M
