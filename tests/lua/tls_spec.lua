-- Native TLS from Lua (issue 16): sio.server{tls = {cert=, key=}} in-process (curl over https with
-- the test's CA only), its errors, server:reload_tls(); and siod --tls-cert/--tls-key, whose SIGHUP
-- re-reads the certificate: new connections see the new one while a connection made before keeps
-- working. Certificates are made by the openssl CLI in temporary files, never committed.
package.path = "tests/lua/helpers/?.lua;" .. package.path
local sio = require "sio"
local H = require("util").with_sio(sio)

local servers, procs = {}, {}

after_each(function()
  for i = #procs, 1, -1 do procs[i].stop() end
  for _, s in ipairs(servers) do s:close() end
  H.pump(30)
  servers, procs = {}, {}
  H.cleanup_temps()
end)

local function sh(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  assert(ok, "failed: " .. cmd)
end

-- A CA in dir (once), and a certificate it signed for 127.0.0.1 with common name `cn`, written to
-- dir/srv.crt and dir/srv.key (replaced in place, as a renewal does).
local function certs(dir, cn)
  local function at(f) return H.q(dir .. "/" .. f) end
  if not H.read_file(dir .. "/ca.pem") then
    sh(("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 -subj '/CN=sio lua test CA'")
      :format(at("ca.key"), at("ca.pem")))
  end
  H.write_file(dir .. "/ext.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
  sh(("openssl req -newkey rsa:2048 -nodes -keyout %s -out %s -subj '/CN=%s'"):format(at("new.key"), at("srv.csr"), cn))
  sh(("openssl x509 -req -in %s -CA %s -CAkey %s -CAcreateserial -out %s -days 2 -extfile %s")
    :format(at("srv.csr"), at("ca.pem"), at("ca.key"), at("new.crt"), at("ext.cnf")))
  assert(os.rename(dir .. "/new.key", dir .. "/srv.key"))
  assert(os.rename(dir .. "/new.crt", dir .. "/srv.crt"))
  return { ca = dir .. "/ca.pem", cert = dir .. "/srv.crt", key = dir .. "/srv.key" }
end

local function tmpdir()
  local d = H.tmpname()
  os.remove(d)
  sh("mkdir -p " .. H.q(d))
  procs[#procs + 1] = { stop = function() os.execute("rm -rf " .. H.q(d)) end }
  return d
end

-- curl over https (trusting only the test's CA) in the background while the loop is pumped; the
-- body, and the certificate's subject as curl saw it.
local function curl_https(port, ca, path, pump)
  local out, log = H.tmpname(), H.tmpname()
  local cmd = ("exec curl -s -v -m 10 --cacert %s -o %s %s"):format(H.q(ca), H.q(out),
    H.q(("https://127.0.0.1:%d%s"):format(port, path)))
  local p = H.spawn(cmd, H.tmpname(), log)
  procs[#procs + 1] = p
  if pump then
    assert(H.run_until(function() return not p.running() end, 12000), "curl did not finish")
  else
    assert(H.wait_for(function() return not p.running() end, 12000), "curl did not finish")
  end
  local err = H.read_file(log) or ""
  return H.read_file(out) or "", err:match("subject: [^\n]*CN=([^\n,;]+)")
end

describe("sio.server{tls = ...}", function()
  it("serves https with the certificate given, next to routes; server.tls says so", function()
    local f = certs(tmpdir(), "first")
    local s = assert(sio.server { host = "127.0.0.1", port = 0, tls = { cert = f.cert, key = f.key } })
    servers[#servers + 1] = s
    assert.is_true(s.tls)
    s:route("GET", "/hello", function() return 200, "hello over tls" end)
    local body, cn = curl_https(s.port, f.ca, "/hello", true)
    assert.are.equal("hello over tls", body)
    assert.are.equal("first", cn)
    body = curl_https(s.port, f.ca, "/socket.io/?EIO=4&transport=polling", true)
    assert.matches('^0{"sid":"', body)
    -- renewed in place, then reloaded: new connections see the new certificate
    certs(f.cert:match("^(.*)/"), "second")
    assert.is_true(s:reload_tls())
    local _, cn2 = curl_https(s.port, f.ca, "/hello", true)
    assert.are.equal("second", cn2)
    -- a file that cannot be used: nil, the reason, and the old certificate stays
    H.write_file(f.key, "not a key")
    local ok, err, name = s:reload_tls()
    assert.is_nil(ok)
    assert.matches("srv.key", err)
    assert.are.equal("ETLS", name)
    local _, cn3 = curl_https(s.port, f.ca, "/hello", true)
    assert.are.equal("second", cn3)
  end)

  it("raises on a missing file, a key of another certificate, or a tls table without a key", function()
    local d = tmpdir()
    local f = certs(d, "x")
    assert.has_error(function() sio.server { host = "127.0.0.1", port = 0, tls = { cert = d .. "/nope.crt", key = f.key } } end,
      "sio.server: TLS certificate file " .. d .. "/nope.crt: No such file or directory")
    H.write_file(d .. "/other.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    local ok, err = pcall(sio.server, { host = "127.0.0.1", port = 0, tls = { cert = f.cert, key = d .. "/other.key" } })
    assert.is_false(ok)
    assert.matches("other.key", err)
    assert.has_error(function() sio.server { host = "127.0.0.1", port = 0, tls = { cert = f.cert } } end,
      "sio.server: tls needs cert and key")
    assert.has_error(function() sio.server { host = "127.0.0.1", port = 0, tls = "yes" } end)
  end)
end)

-- A Python client that keeps one TLS connection open: a polling handshake, then (once `flag`
-- exists) a second request on the same connection; prints the certificate's CN and both answers.
local KEEPER = [[
import os, socket, ssl, sys, time
port, ca, flag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=20), server_hostname='127.0.0.1')
cn = dict(x[0] for x in s.getpeercert()['subject'])['commonName']
def get():
    s.sendall(b'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n')
    data = b''
    while b'"sid"' not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return 'sid' if b'"sid"' in data else 'none'
print('first', cn, get(), flush=True)
deadline = time.time() + 20
while not os.path.exists(flag) and time.time() < deadline:
    time.sleep(0.05)
print('second', get(), flush=True)
]]

describe("siod --tls-cert --tls-key", function()
  it("serves https; SIGHUP re-reads the certificate without dropping a connection", function()
    local d = tmpdir()
    local f = certs(d, "first")
    local script = H.tmpname(".lua")
    H.write_file(script, [[
      local sio = require "sio"
      local s = assert(sio.server { host = "127.0.0.1", port = 0 })
      print(("listening on %s://%s:%d"):format(s.tls and "https" or "http", s.host, s.port))
    ]])
    local log = H.tmpname()
    local p = H.spawn(("exec timeout --foreground 60 %s --tls-cert %s --tls-key %s %s"):format(
      H.q(H.siod), H.q(f.cert), H.q(f.key), H.q(script)), log)
    procs[#procs + 1] = p
    assert(H.wait_for(function() return p.output():match("listening on https://[^:]+:%d+") or not p.running() end, 10000))
    local port = tonumber(p.output():match("listening on https://[^:]+:(%d+)"))
    assert(port, p.output())

    local keeper_py, flag = H.tmpname(".py"), H.tmpname()
    os.remove(flag)
    H.write_file(keeper_py, KEEPER)
    local k = H.spawn(("exec %s %s %d %s %s"):format(H.q(H.python), H.q(keeper_py), port, H.q(f.ca), H.q(flag)), H.tmpname())
    procs[#procs + 1] = k
    assert(H.wait_for(function() return k.output():match("first") or not k.running() end, 10000), k.output())
    assert.matches("first first sid", k.output())

    certs(d, "second")
    H.kill(p.pid, "HUP")
    assert(H.wait_for(function() return p.output():match("re%-read its TLS files") end, 10000), p.output())
    local _, cn = curl_https(port, f.ca, "/socket.io/?EIO=4&transport=polling")
    assert.are.equal("second", cn)
    H.write_file(flag, "")
    assert(H.wait_for(function() return not k.running() end, 10000), k.output())
    assert.matches("second sid", k.output())

    -- a renewal gone wrong keeps the running certificate
    H.write_file(f.key, "garbage")
    H.kill(p.pid, "HUP")
    assert(H.wait_for(function() return p.output():match("keeping the old ones") end, 10000), p.output())
    local _, cn2 = curl_https(port, f.ca, "/socket.io/?EIO=4&transport=polling")
    assert.are.equal("second", cn2)
    assert.is_true(p.running())
  end)
end)
