-- The conversion of script values to the core's JSON arguments and back (bindings/lua/values.c).
-- sio._roundtrip(...) converts its arguments as an emit would and returns the JSON text of the
-- argument array (cJSON's compact print: NUL characters show there as the bytes C0 80, binaries
-- as placeholders) followed by the arguments converted back as a handler would receive them.
local sio = require "sio"

local rt = sio._roundtrip
local ARRAY_MT = getmetatable(sio.array())

-- The JSON text and the values of a round trip as a table (nils kept, n = count).
local function trip(...)
  local r = table.pack(rt(...))
  local json = r[1]
  local out = { n = r.n - 1 }
  for i = 2, r.n do out[i - 1] = r[i] end
  return json, out
end

local function refuses(fragment, ...)
  local ok, err = pcall(rt, ...)
  assert.is_false(ok, "expected a refusal containing " .. fragment)
  assert.is_truthy(tostring(err):find(fragment, 1, true), "unexpected message: " .. tostring(err))
end

local function nested(n, inner)
  local t = inner or {}
  for _ = 2, n do t = { t } end
  return t
end

local function count_keys(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("scalars", function()
  it("keep their values and types", function()
    local json, v = trip(true, false, 0, -7, 42, 1.5, -0.25, "", "hello")
    assert.are.equal('[true,false,0,-7,42,1.5,-0.25,"","hello"]', json)
    assert.are.same({ true, false, 0, -7, 42, 1.5, -0.25, "", "hello", n = 9 }, v)
    assert.are.equal("integer", math.type(v[5]))
    assert.are.equal("float", math.type(v[6]))
  end)

  it("keep the positions of nil arguments", function()
    local json, v = trip(nil, 1, nil, nil)
    assert.are.equal("[null,1,null,null]", json)
    assert.are.equal(4, v.n)
    assert.is_nil(v[1])
    assert.are.equal(1, v[2])
    assert.is_nil(v[3])
    assert.is_nil(v[4])
  end)

  it("sends no arguments as an empty array", function()
    local json, v = trip()
    assert.are.equal("[]", json)
    assert.are.equal(0, v.n)
  end)

  it("turns sio.null into null, a nil argument on the way back", function()
    local json, v = trip(sio.null)
    assert.are.equal("[null]", json)
    assert.are.equal(1, v.n)
    assert.is_nil(v[1])
  end)

  it("gives integers for integral numbers within 2^53", function()
    local _, v = trip(1.0, -3.0, 2.0 ^ 53, -(2.0 ^ 53), 1e15)
    for i = 1, 5 do assert.are.equal("integer", math.type(v[i])) end
    assert.are.same({ 1, -3, 9007199254740992, -9007199254740992, 1000000000000000, n = 5 }, v)
  end)

  it("gives floats beyond 2^53 and for fractions", function()
    local _, v = trip(2.0 ^ 53 + 2, 2.0 ^ 60, 0.1, 1e300, math.maxinteger)
    for i = 1, 5 do assert.are.equal("float", math.type(v[i])) end
    assert.are.equal(2.0 ^ 53 + 2, v[1])
    assert.are.equal(2.0 ^ 60, v[2])
    assert.are.equal(0.1, v[3])
    assert.are.equal(1e300, v[4])
    assert.are.equal(2.0 ^ 63, v[5]) -- a double cannot hold maxinteger exactly
  end)

  it("sends NaN and infinities as null", function()
    local json, v = trip(0 / 0, math.huge, -math.huge, { 0 / 0, 1 })
    assert.are.equal("[null,null,null,[null,1]]", json)
    assert.is_nil(v[1])
    assert.is_nil(v[2])
    assert.is_nil(v[3])
    assert.are.equal(sio.null, v[4][1])
    assert.are.equal(1, v[4][2])
  end)
end)

describe("strings", function()
  it("carry UTF-8 as it is", function()
    local s = "héllo ✓ 𝄞 \u{10FFFF}"
    local json, v = trip(s)
    assert.are.equal('["' .. s .. '"]', json)
    assert.are.equal(s, v[1])
  end)

  it("escape quotes, backslashes and control characters", function()
    local s = 'a"b\\c\n\t\1/'
    local json, v = trip(s)
    assert.are.equal('["a\\"b\\\\c\\n\\t\\u0001/"]', json)
    assert.are.equal(s, v[1])
  end)

  it("carry NUL bytes (as C0 80 inside the core)", function()
    local json, v = trip("a\0b", "\0", "\0\0x\0")
    assert.are.equal('["a\xC0\x80b","\xC0\x80","\xC0\x80\xC0\x80x\xC0\x80"]', json)
    assert.are.same({ "a\0b", "\0", "\0\0x\0", n = 3 }, v)
  end)

  it("refuse invalid UTF-8", function()
    for _, bad in ipairs({
      "\xff", "a\x80", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xED\xA0", "\xE2\x82",
      "\xF0\x8F\xBF\xBF", "\xF4\x90\x80\x80", "\xF8\x88\x80\x80\x80",
    }) do
      refuses("string is not valid UTF-8 (send bytes as sio.binary(s))", bad)
    end
    refuses("not valid UTF-8", { deep = { "ok", "\xff" } })
  end)

  it("carry a lone UTF-16 surrogate as its three bytes (ED A0..BF xx), as the core hands it over", function()
    -- "\ud83d": a string cut inside an emoji; the wire writes it back as the same escape
    local lone = { "\xED\xA0\xBD", "a\xED\xB8\x80b", "\xED\xBF\xBF\xED\xA0\x80", "\0\xED\xAF\xBF\0" }
    local json, v = trip(table.unpack(lone))
    assert.are.equal('["\xED\xA0\xBD","a\xED\xB8\x80b","\xED\xBF\xBF\xED\xA0\x80","\xC0\x80\xED\xAF\xBF\xC0\x80"]', json)
    assert.are.same({ lone[1], lone[2], lone[3], lone[4], n = 4 }, v)
    assert.are.equal('["\\ud83d","a\\ude00b",{"\\udfff\\ud800":"\\u0000\\udbff\\u0000"}]',
                     sio.json.encode({ lone[1], lone[2], { [lone[3]] = lone[4] } }))
    assert.are.same({ lone[1], "\xF0\x9F\x98\x80", lone[3] },
                    sio.json.decode('["\\ud83d","\\ud83d\\ude00","\\udfff\\ud800"]'))
  end)

  it("accept the edges of UTF-8", function()
    local ok = { "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEE\x80\x80",
                 "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF" }
    local _, v = trip(table.unpack(ok))
    for i, s in ipairs(ok) do assert.are.equal(s, v[i]) end
  end)
end)

describe("tables", function()
  it("with keys 1..n are arrays, and come back with the array metatable", function()
    local json, v = trip({ 1, "two", { 3 } })
    assert.are.equal('[[1,"two",[3]]]', json)
    assert.are.same({ 1, "two", { 3 } }, v[1])
    assert.are.equal(ARRAY_MT, getmetatable(v[1]))
    assert.are.equal(ARRAY_MT, getmetatable(v[1][3]))
  end)

  it("with other keys are objects, plain tables on the way back", function()
    local json, v = trip({ a = 1 })
    assert.are.equal('[{"a":1}]', json)
    assert.are.same({ a = 1 }, v[1])
    assert.is_nil(getmetatable(v[1]))

    local _, w = trip({ name = "x", list = { 1, 2 }, inner = { ok = true, no = false } })
    assert.are.same({ name = "x", list = { 1, 2 }, inner = { ok = true, no = false } }, w[1])
    assert.are.equal(ARRAY_MT, getmetatable(w[1].list))
  end)

  it("empty is an object, sio.array() an empty array", function()
    local json, v = trip({}, sio.array(), sio.array({}))
    assert.are.equal("[{},[],[]]", json)
    assert.is_nil(getmetatable(v[1]))
    assert.are.equal(ARRAY_MT, getmetatable(v[2]))
    assert.are.equal(ARRAY_MT, getmetatable(v[3]))
    -- what came back as an array is sent as an array again
    local again = rt(v[2])
    assert.are.equal("[[]]", again)
  end)

  it("with holes are objects (integer keys as strings), unless marked with sio.array", function()
    local json, v = trip({ 1, nil, 3 })
    assert.are.equal(2, count_keys(v[1]))
    assert.are.equal(1, v[1]["1"])
    assert.are.equal(3, v[1]["3"])
    assert.is_truthy(json == '[{"1":1,"3":3}]' or json == '[{"3":3,"1":1}]')

    local json2, w = trip(sio.array({ 1, nil, 3 }))
    assert.are.equal("[[1,null,3]]", json2)
    assert.are.equal(3, #w[1])
    assert.are.equal(sio.null, w[1][2])
  end)

  it("not starting at 1 are objects", function()
    local json, v = trip({ [2] = "x" }, { [0] = "z" }, { [-1] = "m" })
    assert.are.equal('[{"2":"x"},{"0":"z"},{"-1":"m"}]', json)
    assert.are.same({ ["2"] = "x" }, v[1])
    assert.are.same({ ["0"] = "z" }, v[2])
    assert.are.same({ ["-1"] = "m" }, v[3])
  end)

  it("mixing integer and string keys are objects", function()
    local _, v = trip({ 10, 20, x = 3 })
    assert.are.same({ ["1"] = 10, ["2"] = 20, x = 3 }, v[1])
  end)

  it("marked with sio.array ignore their other keys", function()
    local json = rt(sio.array({ 1, 2, x = 3 }))
    assert.are.equal("[[1,2]]", json)
  end)

  it("hold sio.null as null and keep array lengths", function()
    local json, v = trip({ 1, sio.null, 3 }, { a = sio.null })
    assert.are.equal('[[1,null,3],{"a":null}]', json)
    assert.are.equal(3, #v[1])
    assert.are.equal(sio.null, v[1][2])
    assert.are.equal(sio.null, v[2].a)
  end)

  it("carry NUL bytes in keys", function()
    local json, v = trip({ ["a\0b"] = 1 })
    assert.are.equal('[{"a\xC0\x80b":1}]', json)
    assert.are.equal(1, v[1]["a\0b"])
  end)

  it("refuse keys that are not strings or integers", function()
    refuses("table key 1.5 is not an integer", { [1.5] = true })
    refuses("table key of type boolean", { [true] = 1 })
    refuses("table key of type table", { [{}] = 1 })
    refuses("table key of type userdata", { [sio.null] = 1 })
  end)

  it("refuse keys that are not valid UTF-8", function()
    refuses("table key is not valid UTF-8", { ["\xff"] = 1 })
  end)

  it("refuse an integer key and the same key as a string", function()
    refuses('table has both the key 1 and the key "1"', { [1] = "a", ["1"] = "b" })
    refuses('the key -5 and the key "-5"', { [-5] = "a", ["-5"] = "b", x = 1 })
    -- "01" and "-0" are not how an integer key is written: no clash
    local _, v = trip({ [1] = "a", ["01"] = "b", [0] = "c", ["-0"] = "d" })
    assert.are.same({ ["1"] = "a", ["01"] = "b", ["0"] = "c", ["-0"] = "d" }, v[1])
  end)

  it("may nest 64 levels deep, not 65", function()
    local json, v = trip(nested(64, { "leaf" }))
    assert.are.equal(string.rep("[", 65) .. '"leaf"' .. string.rep("]", 65), json)
    local t = v[1]
    for _ = 1, 63 do t = t[1] end
    assert.are.same({ "leaf" }, t)
    refuses("value nested deeper than 64 levels", nested(65, { "leaf" }))
    refuses("value nested deeper than 64 levels", { a = nested(64) })
  end)

  it("refuse reference cycles", function()
    local t = { name = "loop" }
    t.self = t
    refuses("value nested deeper than 64 levels", t)
    local a = { 1 }
    a[2] = a
    refuses("value nested deeper than 64 levels", a)
  end)

  it("ignore a metatable other than sio.array's", function()
    local obj = setmetatable({ x = 1 }, { __index = function() return 5 end })
    local _, v = trip(obj)
    assert.are.same({ x = 1 }, v[1])
  end)
end)

describe("other types", function()
  it("are refused with a message", function()
    local msg = "(values are nil, booleans, numbers, strings, tables, sio.null and sio.binary)"
    refuses("cannot send a function " .. msg, print)
    refuses("cannot send a function", { cb = function() end })
    refuses("cannot send a thread", coroutine.create(print))
    refuses("cannot send a userdata", io.stdout)
    refuses("cannot send a userdata", { io.stdout })
  end)
end)

describe("sio.binary", function()
  it("wraps bytes", function()
    local b = sio.binary("\0\1\xff")
    assert.is_true(sio.is_binary(b))
    assert.are.equal(3, #b)
    assert.are.equal("\0\1\xff", tostring(b))
    assert.are.equal("\0\1\xff", b:bytes())
    assert.are.equal("sio.binary", getmetatable(b).__name)
  end)

  it("compares by content", function()
    assert.is_true(sio.binary("abc") == sio.binary("abc"))
    assert.is_false(sio.binary("abc") == sio.binary("abd"))
    assert.is_true(sio.binary("abc") ~= sio.binary("ab"))
    assert.is_false(sio.binary("abc") == "abc")
    assert.is_true(sio.binary("") == sio.binary(""))
  end)

  it("subs like string.sub", function()
    local s = "hello world"
    local b = sio.binary(s)
    for _, ij in ipairs({ { 1 }, { 2 }, { -3 }, { 0 }, { 1, 5 }, { 3, -3 }, { -100, 2 }, { 5, 100 },
                          { 7, 6 }, { 0, 0 }, { -5, -1 }, { 12 }, { 1, -100 } }) do
      assert.are.equal(s:sub(ij[1], ij[2]), b:sub(ij[1], ij[2]))
    end
    assert.are.equal("", sio.binary(""):sub(1, 10))
  end)

  it("of a binary is that binary", function()
    local b = sio.binary("x")
    assert.are.equal(b, sio.binary(b))
  end)

  it("takes only strings", function()
    assert.has_error(function() sio.binary(12) end)
    assert.has_error(function() sio.binary({}) end)
    assert.has_error(function() sio.binary() end)
  end)

  it("is_binary tells binaries apart", function()
    assert.is_false(sio.is_binary("x"))
    assert.is_false(sio.is_binary(nil))
    assert.is_false(sio.is_binary(io.stdout))
    assert.is_false(sio.is_binary(sio.null))
  end)

  it("goes out as attachments and comes back as binaries", function()
    local json, v = trip(sio.binary("\xff\xfe"), "text", sio.binary(""))
    assert.are.equal('[{"_placeholder":true,"num":0},"text",{"_placeholder":true,"num":1}]', json)
    assert.is_true(sio.is_binary(v[1]))
    assert.are.equal("\xff\xfe", v[1]:bytes())
    assert.are.equal("text", v[2])
    assert.is_true(sio.is_binary(v[3]))
    assert.are.equal(0, #v[3])
  end)

  it("goes out at any depth", function()
    local json, v = trip({ a = { b = { sio.binary("deep") } } }, nested(63, { sio.binary("x") }))
    assert.is_truthy(json:find('{"a":{"b":[{"_placeholder":true,"num":0}]}}', 1, true))
    assert.is_true(sio.is_binary(v[1].a.b[1]))
    assert.are.equal("deep", tostring(v[1].a.b[1]))
    local t = v[2]
    for _ = 1, 63 do t = t[1] end
    assert.are.equal(sio.binary("x"), t)
  end)

  it("leaves placeholder-looking tables with a bad num as tables", function()
    local _, v = trip({ _placeholder = true, num = 5 }, { _placeholder = true, num = 0.5 },
                      { _placeholder = true, num = -1 }, { _placeholder = false, num = 0 },
                      { _placeholder = true, num = "0" }, sio.binary("real"))
    assert.are.same({ _placeholder = true, num = 5 }, v[1])
    assert.are.same({ _placeholder = true, num = 0.5 }, v[2])
    assert.are.same({ _placeholder = true, num = -1 }, v[3])
    assert.are.same({ _placeholder = false, num = 0 }, v[4])
    assert.are.same({ _placeholder = true, num = "0" }, v[5])
    assert.are.equal("real", v[6]:bytes())
  end)

  it("leaves placeholder-looking tables as tables when no binary is sent", function()
    local _, v = trip({ _placeholder = true, num = 0 })
    assert.are.same({ _placeholder = true, num = 0 }, v[1])
  end)
end)

describe("sio.array", function()
  it("marks and returns the table", function()
    local t = { 1, 2 }
    assert.are.equal(t, sio.array(t))
    assert.are.equal(ARRAY_MT, getmetatable(t))
    assert.are.equal(t, sio.array(t)) -- marking twice is fine
  end)

  it("makes a new empty array without an argument", function()
    local a, b = sio.array(), sio.array(nil)
    assert.are.equal(0, #a)
    assert.are_not.equal(a, b)
  end)

  it("refuses non-tables and tables with another metatable", function()
    assert.has_error(function() sio.array("x") end)
    assert.has_error(function() sio.array(setmetatable({}, {})) end)
  end)
end)

describe("sio.null", function()
  it("is a unique light userdata", function()
    assert.are.equal("userdata", type(sio.null))
    assert.is_nil(getmetatable(sio.null))
    assert.are.equal(sio.null, sio.json.decode("null"))
  end)
end)

describe("sio.json.encode", function()
  local enc = sio.json.encode

  it("writes compact JSON", function()
    assert.are.equal("null", enc(nil))
    assert.are.equal("null", enc(sio.null))
    assert.are.equal("true", enc(true))
    assert.are.equal("42", enc(42))
    assert.are.equal("1.5", enc(1.5))
    assert.are.equal("null", enc(0 / 0))
    assert.are.equal("null", enc(math.huge))
    assert.are.equal('"x"', enc("x"))
    assert.are.equal("{}", enc({}))
    assert.are.equal("[]", enc(sio.array()))
    assert.are.equal('[1,"a",[true,null],{"k":{}}]', enc({ 1, "a", { true, sio.null }, { k = {} } }))
    assert.are.equal('["x","y","z"]', enc({ [3] = "z", [1] = "x", [2] = "y" }))
  end)

  it("writes numbers that read back as the same double", function()
    assert.are.equal("9007199254740991", enc(9007199254740991))
    assert.are.equal("-9007199254740991", enc(-9007199254740991))
    assert.are.equal("0.30000000000000004", enc(0.1 + 0.2))
    assert.are.equal("0.1", enc(0.1))
    assert.are.equal("1e+21", enc(1e21))
    assert.are.equal("0", enc(-0.0))
    assert.are.equal("[9007199254740991,0.30000000000000004]", enc({ 9007199254740991, 0.1 + 0.2 }))
    assert.are.equal(0.1 + 0.2, sio.json.decode(enc(0.1 + 0.2)))
  end)

  it("writes NUL as \\u0000, in values and keys", function()
    assert.are.equal('"a\\u0000b"', enc("a\0b"))
    assert.are.equal('{"k\\u0000":["\\u0000\\u0000"]}', enc({ ["k\0"] = { "\0\0" } }))
  end)

  it("refuses binaries, functions, invalid UTF-8 and deep nesting", function()
    assert.has_error(function() enc(sio.binary("x")) end, "sio.json.encode: cannot encode sio.binary")
    assert.has_error(function() enc({ { sio.binary("x") } }) end,
                     "sio.json.encode: cannot encode sio.binary")
    assert.has_error(function() enc(print) end,
                     "sio.json.encode: cannot encode a function (values are nil, booleans, numbers, strings, tables and sio.null)")
    assert.has_error(function() enc("\xff") end, "sio.json.encode: string is not valid UTF-8")
    assert.has_error(function() enc(nested(65)) end,
                     "sio.json.encode: value nested deeper than 64 levels")
    assert.has_error(function() enc() end)
  end)
end)

describe("sio.json.decode", function()
  local dec = sio.json.decode

  it("reads scalars", function()
    assert.are.equal(sio.null, dec("null"))
    assert.is_true(dec("true"))
    assert.is_false(dec(" false "))
    assert.are.equal(5, dec("5"))
    assert.are.equal("integer", math.type(dec("5")))
    assert.are.equal("integer", math.type(dec("5.0")))
    assert.are.equal("float", math.type(dec("5.5")))
    assert.are.equal("float", math.type(dec("9007199254740994")))
    assert.are.equal(math.huge, dec("1e400"))
    assert.are.equal("x", dec('"x"'))
  end)

  it("reads arrays with the array metatable and objects as plain tables", function()
    local v = dec('[1,[],{},{"a":[null]}]')
    assert.are.equal(ARRAY_MT, getmetatable(v))
    assert.are.equal(4, #v)
    assert.are.equal(ARRAY_MT, getmetatable(v[2]))
    assert.is_nil(getmetatable(v[3]))
    assert.are.equal(sio.null, v[4].a[1])
    assert.are.equal('[1,[],{},{"a":[null]}]', sio.json.encode(v))
  end)

  it("reads string escapes, \\u0000 included", function()
    assert.are.equal("a\0b", dec('"a\\u0000b"'))
    assert.are.equal("\\u0000", dec('"\\\\u0000"'))
    assert.are.equal("\\\0", dec('"\\\\\\u0000"'))
    assert.are.equal("é😀\n", dec('"\\u00e9\\ud83d\\ude00\\n"'))
    local o = dec('{"k\\u0000":"\\u0000"}')
    assert.are.equal("\0", o["k\0"])
  end)

  it("returns nil and a message for invalid JSON", function()
    for _, bad in ipairs({ "", "nul", "[1,]", "[1] x", "{a:1}", '"\\ud80"', '"a\\u00zzb"', "[1]\0", '"\0"',
                           '"\xff"', '"\xC0\x80"' }) do
      local v, err = dec(bad)
      assert.is_nil(v)
      assert.are.equal("invalid JSON", err)
    end
  end)

  it("reads 64 levels of nesting, not 65", function()
    local v = dec(string.rep("[", 64) .. string.rep("]", 64))
    assert.are.equal(ARRAY_MT, getmetatable(v))
    local w, err = dec(string.rep("[", 65) .. string.rep("]", 65))
    assert.is_nil(w)
    assert.are.equal("value nested deeper than 64 levels", err)
  end)

  it("round-trips with encode", function()
    local v = { list = sio.array({ 1, 2.5, "s\0", sio.null, {} }), flag = false, [7] = "seven" }
    local back = dec(sio.json.encode(v))
    assert.are.same({ list = { 1, 2.5, "s\0", sio.null, {} }, flag = false, ["7"] = "seven" }, back)
  end)

  it("takes only strings", function()
    assert.has_error(function() dec({}) end)
  end)
end)
