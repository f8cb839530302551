---@meta sio
-- LuaLS (lua-language-server) definitions of `require "sio"`, for editor completion and type
-- checks: add this directory to "workspace.library" (the rock installs it as <rock dir>/library,
-- `cmake --install` as <prefix>/share/sio/library). Never loaded at run time: the module is sio.so.
-- lua/README.md is the reference; tests/lua/library_spec.lua checks that every function the module
-- exports is declared here.

---@class sio
---@field version string "0.1.0"
---@field null lightuserdata JSON null inside tables
---@field log sio.log
---@field json sio.json
local sio = {}

---@alias sio.Value nil|boolean|number|string|table|sio.Binary|lightuserdata
---@alias sio.Rooms string|string[]

-- ---- module ----------------------------------------------------------------------------------

---A Socket.IO server, listening at once.
---@param opts? sio.ServerOptions
---@return sio.Server|nil server
---@return string? err "ENAME: message" (e.g. the port is in use)
---@return string? name "ENAME"
function sio.server(opts) end

---A Socket.IO client socket, socket.io-client's io(url, opts): the URL's path is the namespace
---("/" when none); sockets of one host, port and `path` share a manager (one connection) unless
---`forceNew` or `multiplex = false`, or the manager has that namespace already. It connects at once
---unless `autoConnect = false`. Raises on a bad URL or option.
---@param url string "http(s)://host[:port][/namespace][?query]" (ws(s):// too)
---@param opts? sio.ClientOptions
---@return sio.Client
function sio.client(url, opts) end

---A manager of its own (socket.io-client's `new Manager(url, opts)`): manager:socket(nsp) makes its
---sockets. Raises on a bad URL or option.
---@param url string
---@param opts? sio.ClientOptions
---@return sio.Manager
function sio.manager(url, opts) end

---Runs the loop ("default": until nothing is left or sio.stop(); "once"; "nowait"). Under siod it
---returns at once.
---@param mode? "default"|"once"|"nowait"
---@return boolean alive handles remain
function sio.run(mode) end

---Makes sio.run() return (servers stay open).
function sio.stop() end

---This state's worker under `siod --workers N` (each worker runs the script in a Lua state of its
---own: globals are per worker), and the number of workers; 0, 1 without workers.
---@return integer index 0-based
---@return integer count
function sio.worker() end

---Closes every server (clients get a DISCONNECT) and every timer; sleeping handlers get nil, "closed".
function sio.shutdown() end

---A timer calling fn(timer) once after ms (either argument order); fn runs in a handler coroutine.
---@param fn fun(timer: sio.Timer)
---@param ms integer
---@return sio.Timer
---@overload fun(ms: integer, fn: fun(timer: sio.Timer)): sio.Timer
function sio.set_timeout(fn, ms) end

---A timer calling fn(timer) every ms (either argument order).
---@param fn fun(timer: sio.Timer)
---@param ms integer
---@return sio.Timer
---@overload fun(ms: integer, fn: fun(timer: sio.Timer)): sio.Timer
function sio.set_interval(fn, ms) end

---Waits ms milliseconds in a handler's coroutine (raises elsewhere).
---@param ms integer
---@return true|nil ok
---@return string? err "closed" after sio.shutdown()
function sio.sleep(ms) end

---The wall clock: milliseconds since the epoch (JavaScript's Date.now()).
---@return integer
function sio.now() end

---The loop's monotonic clock in milliseconds, from an arbitrary start (for durations).
---@return integer
function sio.monotonic() end

---@param level "debug"|"info"|"warn"|"error"
function sio.set_log_level(level) end

---The C core's own records, of every server (Redis outages at "warn", each session opened,
---upgraded and closed at "info" with component "engine", refused requests at "debug"), to fn
---instead of the log; records less severe than `level` (default "info") are never made. fn runs
---on the loop where the record is made and may not wait; one that raises is logged and the
---record logged as well. nil: back to the log, warnings and errors only.
---Debug records (sio.set_debug, SIO_DEBUG, siod --debug) come as level "trace" with the category
---("engine", "socket", "nsp", "adapter", "redis", "http") as component, whatever `level`.
---(sio.log.trace is sio.log.debug, so that sio.log[level] takes every level.)
---@param fn fun(level: "error"|"warn"|"info"|"debug"|"trace", component: string, message: string)|nil
---@param level? "error"|"warn"|"info"|"debug"
function sio.on_log(fn, level) end

---Debug logging by category for every server, now and later, in place of env SIO_DEBUG (which
---each server reads when created): "engine,socket,nsp,adapter,redis,http" (any of them), "*"
---for all, nil or "" for none; Node's DEBUG names work too ("engine*,socket.io*"). One record per
---event: handshake (transport, EIO version, peer), upgrade, ping timeout, close reason, packets in
---and out (type, namespace, event name, ack id, length; never a payload), namespace connections
---and refusals, adapter requests, Redis links and messages, HTTP requests with their status. They
---reach sio.on_log's fn as ("trace", category, message), else the log (at DEBUG) whatever its
---level. Off, a category costs nothing. Returns the categories' bit mask; an unknown name raises.
---@param categories string|nil
---@return integer
function sio.set_debug(categories) end

---True for an ack function (to tell it from data in a vararg handler).
---@param v any
---@return boolean
function sio.is_ack(v) end

---A vararg handler's arguments with the ack function (the last one, when it is one) moved first,
---or nil first when there is none, with no table made:
---`socket:on("echo", function(...) echo(sio.split_ack(...)) end)` with `echo(ack, ...)`
---(`socket:on_ack_first` gives a listener that order directly).
---@param ... any
---@return function|nil ack
---@return any ...
function sio.split_ack(...) end

---Binary data: a binary attachment when sent.
---@param bytes string
---@return sio.Binary
function sio.binary(bytes) end

---@param v any
---@return boolean
function sio.is_binary(v) end

---Marks a table as a JSON array (an empty one stays []).
---@generic T: table
---@param t? T
---@return T
function sio.array(t) end

---@class sio.log
sio.log = {}
---@param ... any joined by spaces
function sio.log.debug(...) end
---@param ... any
function sio.log.info(...) end
---@param ... any
function sio.log.warn(...) end
---@param ... any
function sio.log.error(...) end
---The same as sio.log.debug (sio.on_log's "trace" level: the debug categories).
---@param ... any
function sio.log.trace(...) end

---@class sio.json
sio.json = {}
---@param v sio.Value
---@return string
function sio.json.encode(v) end
---@param s string
---@return sio.Value|nil value
---@return string? err "invalid JSON"
function sio.json.decode(s) end

---@class sio.ServerOptions
---@field host? string "0.0.0.0"
---@field port? integer 3000; 0 picks one
---@field path? string "/socket.io/"
---@field cors? string|string[]|fun(origin: string): boolean "*", the allowed origins, or a function deciding per Origin
---@field allow_request? fun(req: sio.HandshakeRequest, answer: fun(ok: boolean, message?: string, status?: integer): boolean): boolean?, string?, integer? each Engine.IO handshake: true lets in; false[, message[, status]] refuses; nothing: answer() later
---@field same_origin? boolean
---@field cors_credentials? boolean
---@field allow_eio3? boolean socket.io 2.x clients
---@field ping_interval? integer ms
---@field ping_timeout? integer ms
---@field upgrade_timeout? integer ms
---@field max_payload? integer bytes
---@field max_buffered? integer bytes
---@field connect_timeout? integer ms
---@field max_attachments? integer
---@field transports? string[] {"polling", "websocket"}
---@field allow_upgrades? boolean
---@field client_dir? string socket.io-client's dist/
---@field redis? string "redis://[[user]:password@]host[:port][/db]"
---@field redis_key? string "socket.io" (the streams adapter's channelPrefix)
---@field redis_mode? "classic"|"sharded"|"streams" the cluster's engine (default "classic"; needs redis)
---@field redis_subscription_mode? "dynamic"|"static"|"dynamic-private" sharded only (Node's subscriptionMode)
---@field redis_stream_name? string streams only: "socket.io" (Node's streamName)
---@field redis_stream_count? integer streams only: 1 (streamCount)
---@field redis_max_len? integer streams only: the stream's MAXLEN ~, 10000 (maxLen)
---@field redis_read_count? integer streams only: XREAD COUNT, 100 (readCount)
---@field redis_block_time? integer streams only: XREAD BLOCK ms, 5000 (blockTimeInMs)
---@field redis_session_key_prefix? string streams only: "sio:session:" (sessionKeyPrefix)
---@field redis_sharded_pubsub? boolean streams only: requests over sharded pub/sub (useShardedPubSub)
---@field redis_requests_timeout? integer ms
---@field per_message_deflate? boolean|{threshold?: integer} permessage-deflate (off by default); threshold 1024 bytes
---@field parser? "default"|"msgpack" the packets' wire format: JSON, or npm socket.io-msgpack-parser's (every client must use it)
---@field cookie? boolean|string|table
---@field http_compression? boolean|{threshold?: integer} default true: polling responses of 1024 bytes or more gzip/deflate-encoded per Accept-Encoding
---@field connection_state_recovery? boolean|sio.RecoveryOptions Node's connectionStateRecovery (off by default)
---@field tls? sio.TlsOptions HTTPS/WSS on the port
---@field metrics_path? string "/metrics": the core's counters and gauges as Prometheus text at that path (off by default)

---PEM files, read when the server is made (an unusable one raises).
---@class sio.TlsOptions
---@field cert string certificate chain, leaf first
---@field key string the leaf's private key
---@field ca? string CA certificates: clients must then present a certificate they signed

---Node's connectionStateRecovery (its camelCase keys are accepted too).
---@class sio.RecoveryOptions
---@field max_disconnection_duration? integer ms sessions and packets are kept (120000)
---@field skip_middlewares? boolean a restored socket connects without the middlewares (true)
---@field max_bytes? integer per namespace (32 MiB; 0: no cap); past it the oldest go first

-- ---- emitters --------------------------------------------------------------------------------

---A broadcast (or a socket's) emitter: chain to/except/timeout/compress, then emit or call. A namespace
---(and a server) is one too, targeting all its sockets.
---@class sio.Emitter
---@field volatile sio.Emitter
---@field locally sio.Emitter
local Emitter = {}

---To the targeted sockets; a trailing function gets every ack: fn(err, responses).
---@param event string
---@param ... any
---@return true|nil ok
---@return string? err
---@return string? name
function Emitter:emit(event, ...) end

---emit() waiting in the handler's coroutine for the acks (a socket's: its ack's values).
---@param event string
---@param ... any
---@return any ...
function Emitter:call(event, ...) end

---@param room sio.Rooms
---@return sio.Emitter
function Emitter:to(room) end

---@param room sio.Rooms
---@return sio.Emitter
function Emitter:except(room) end

---@param ms integer
---@return sio.Emitter
function Emitter:timeout(ms) end

---`false`: never permessage-deflated (Node's compress(false)); `true` (the default) again.
---@param on? boolean
---@return sio.Emitter
function Emitter:compress(on) end

---This node's targeted sockets now (no argument); every node's with a callback, or with
---{cluster = true} in a handler's coroutine (tables {id, handshake, rooms, data}).
---@param fn_or_opts? fun(err: string?, sockets: table[])|{cluster: boolean}
---@return sio.Socket[]|table[]|true|nil
---@return string? err
function Emitter:fetch_sockets(fn_or_opts) end

---@param room sio.Rooms
function Emitter:sockets_join(room) end

---@param room sio.Rooms
function Emitter:sockets_leave(room) end

---@param close? boolean
function Emitter:disconnect_sockets(close) end

-- ---- namespaces ------------------------------------------------------------------------------

---A namespace (a server is also its namespace "/"). Fields `volatile` and `locally` are emitters
---with those flags.
---@class sio.Namespace : sio.Emitter
---@field name string
---@field server sio.Server
---@field volatile sio.Emitter
---@field locally sio.Emitter JavaScript's `local`
local Namespace = {}

---"connection" (or "connect"): fn(socket, reloaded) for each socket; any other name: a listener of
---the server-side event from other nodes (its first return value is this node's answer). Several
---listeners per name, called in order, each in a coroutine of its own.
---@param event string
---@param fn function
---@return self
function Namespace:on(event, fn) end

---As on(), removed before its first call.
---@param event string
---@param fn function
---@return self
function Namespace:once(event, fn) end

---Removes the last listener added for fn, or every listener of the event.
---@param event string
---@param fn? function
---@return self
function Namespace:off(event, fn) end

---Connect middleware: next() lets the client in, next(err) refuses it.
---@param fn fun(socket: sio.Socket, auth: table, next: fun(err?: string|table))|fun(socket: sio.Socket, next: fun(err?: string|table))
---@return self
function Namespace:use(fn) end

---Sockets connected to this server.
---@return integer
function Namespace:count() end

---@param id string
---@return sio.Socket|nil
function Namespace:socket(id) end

---The namespace's sockets on every node: with a callback fn(err, n), or in a handler's coroutine
---without one: n, err.
---@param fn? fun(err: string?, n: integer)
---@return integer|true|nil
---@return string? err
function Namespace:fetch_count(fn) end

---Every room on every node: with a callback fn(err, rooms), or in a handler's coroutine: rooms, err.
---@param fn? fun(err: string?, rooms: string[])
---@return string[]|true|nil
---@return string? err
function Namespace:all_rooms(fn) end

---To the namespace on every other node (JSON values only); a trailing function waits for their
---answers: fn(err, responses).
---@param event string
---@param ... any
---@return true|nil ok
---@return string? err
---@return string? name
function Namespace:server_side_emit(event, ...) end

---server_side_emit waiting in the handler's coroutine for each other node's answer.
---@param event string
---@param ... any
---@return any[]|nil responses
---@return string? err
function Namespace:server_side_call(event, ...) end

-- ---- servers ---------------------------------------------------------------------------------

---@class sio.Server : sio.Namespace
---@field port integer
---@field host string
---@field path string
---@field redis string|nil
---@field closed boolean
---@field tls boolean listening with TLS
local Server = {}

---A namespace, or a parent of dynamic namespaces (fn decides which names it accepts).
---@param name string|fun(name: string, auth: table): boolean
---@return sio.Namespace
function Server:of(name) end

---A bare Engine.IO endpoint on the same port.
---@param opts? {path: string}|string
---@return sio.Engine
function Server:engine(opts) end

---Serves the files under dir at URL prefix.
---@param prefix string
---@param dir string
---@param opts? {index: string, max_age: integer}
---@return true|nil ok
---@return string? err
function Server:static(prefix, dir, opts) end

---A plain HTTP route beside Socket.IO (REST endpoints, health checks): requests no engine nor static
---mount claims. A path ending in "*" matches by prefix; the method "*" every method ("GET" also HEAD).
---fn answers with res:send(status[, body[, headers]]), or returns status[, body[, headers]]; one that
---raises is answered 500. The same method and path again replaces the handler.
---@param method string "GET", "POST", ... or "*"
---@param path string
---@param fn fun(req: sio.Request, res: sio.Response): integer?, string?, table<string, string>?
---@return true|nil ok
---@return string? err
function Server:route(method, path, fn) end

function Server:close() end

---Re-reads the TLS certificate, key and CA files: new connections get them, established ones keep
---theirs. On an error nothing changes.
---@return true|nil ok
---@return string? err
---@return string? name "ETLS", ...
function Server:reload_tls() end

---@class sio.InstrumentOptions
---@field auth false|{username: string, password: string} false: no auth; password: a bcrypt hash ($2a$/$2b$/$2y$)
---@field mode? "development"|"production" development (default): every socket, room and event reported; production: server_stats only
---@field read_only? boolean join, leave, disconnect and emit from the UI ignored (not advertised)
---@field server_id? string default the hostname
---@field namespace? string default "/admin"
---@field server_stats_interval? integer ms, default 2000

---The Socket.IO Admin UI's server side (npm @socket.io/admin-ui 0.5's instrument()) on
---opts.namespace: a refused login gets "invalid credentials"; a login's "session" id logs the
---page in again. Once per server (again: nil, "EEXIST: ...", "EEXIST", as a reload does); bad
---options raise.
---@param opts sio.InstrumentOptions
---@return true|nil ok
---@return string? err
---@return string? name
function Server:instrument(opts) end
---Open sessions by Engine.IO protocol (3 and 4).
---@class sio.StatsSessions
---@field [3] integer
---@field [4] integer

---A count per transport.
---@class sio.StatsTransports
---@field polling integer
---@field websocket integer

---The core's counters (since the server started) and gauges (now): server:stats().
---@class sio.Stats
---@field sessions {polling: sio.StatsSessions, websocket: sio.StatsSessions} open Engine.IO sessions
---@field sockets table<string, integer> connected sockets per namespace
---@field handshakes integer Engine.IO sessions opened
---@field handshakes_refused table<integer, integer> refused requests by Engine.IO error code 0..5
---@field upgrades integer polling sessions upgraded to WebSocket
---@field packets_in sio.StatsTransports Engine.IO packets received
---@field packets_out sio.StatsTransports Engine.IO packets sent
---@field bytes_in sio.StatsTransports their bytes
---@field bytes_out sio.StatsTransports
---@field max_buffered_closes integer sessions closed by the max_buffered bound
---@field tls_handshakes integer
---@field tls_failures integer
---@field deflate_negotiated integer WebSockets with permessage-deflate
---@field connections integer sockets connected
---@field broadcasts integer emits to a namespace or rooms
---@field acks_sent integer events sent awaiting an ack (per recipient)
---@field acks_answered integer
---@field acks_timed_out integer
---@field acks_replied integer answers sent to the clients' acks
---@field redis? {up: boolean, published: integer, received: integer} with redis only

---The core's counters and gauges (the numbers metrics_path serves).
---@return sio.Stats
function Server:stats() end

---The Prometheus text (exposition format 0.0.4) a scrape of metrics_path gets.
---@return string
function Server:metrics_text() end

---Node's io.engine.on(event, fn): "initial_headers" and "headers" fn(headers, req) fill headers
---(name = value) for the handshake's response / every response; "connection_error" fn(err) for each
---refused request (err.code, err.message, err.status, err.context, err.req). nil removes it.
---@param event "initial_headers"|"headers"|"connection_error"
---@param fn? function
---@return sio.Server
function Server:on_engine(event, fn) end

---@class sio.HandshakeRequest
---@field method string
---@field url string
---@field query string
---@field address string
---@field time_ms integer
---@field transport "polling"|"websocket"
---@field headers table<string, string> lower-case names

---@class sio.Request
---@field method string
---@field path string percent-decoded
---@field url string as sent
---@field query string raw
---@field args table<string, string> the query decoded (the first of a repeated key)
---@field headers table<string, string> lower-case names; repeated ones joined by ", "
---@field body string
---@field remote_addr string
---@field remote_port integer
---@field secure boolean true when the request came over TLS (https)

---@class sio.Response
---@field sent boolean
---@field aborted boolean the client went away
local Response = {}

---Answers once.
---@param status integer 200..599
---@param body? string
---@param headers? table<string, string>
---@return true|nil ok
---@return string? err
---@return string? name
function Response:send(status, body, headers) end

-- ---- sockets ---------------------------------------------------------------------------------

---One client in one namespace.
---@class sio.Socket
---@field id string
---@field nsp sio.Namespace
---@field connected boolean
---@field transport "polling"|"websocket"
---@field protocol integer Engine.IO 3 or 4
---@field auth table
---@field handshake table Node's socket.handshake
---@field data table yours (a restored socket gets it back as it was kept)
---@field recovered boolean connection state recovery brought this socket back (same id, rooms, data; missed events replayed)
---@field broadcast sio.Emitter to every other socket of the namespace
---@field volatile sio.Emitter
---@field locally sio.Emitter
---@field [string] any fields of yours, as on Node's sockets (socket.username = name); the names above are read-only
local Socket = {}

---A listener of the client's event (several per event, in order, each in a coroutine of its own);
---it gets the event's arguments, then an ack function when the client asked for one. The first
---listener that calls the ack or returns values answers.
---@param event string
---@param fn function
---@return self
function Socket:on(event, fn) end

---@param event string
---@param fn function
---@return self
function Socket:once(event, fn) end

---A listener as `on`'s that gets the ack function first (nil when the client asked for none),
---then the event's arguments: `socket:on_ack_first("echo", function(ack, ...) ... end)` for a
---handler of any number of arguments (cheaper than `sio.split_ack`). Its return values answer too.
---@param event string
---@param fn fun(ack: function|nil, ...: any)
---@return self
function Socket:on_ack_first(event, fn) end

---@param event string
---@param fn? function
---@return self
function Socket:off(event, fn) end

---Every incoming event, before the packet middleware and its listeners (Node's onAny).
---@param fn fun(event: string, ...)
---@return self
function Socket:on_any(fn) end

---on_any, first in the list (Node's prependAny).
---@param fn fun(event: string, ...)
---@return self
function Socket:prepend_any(fn) end

---Removes the first entry of fn, or every incoming catch-all (Node's offAny).
---@param fn? function
---@return self
function Socket:off_any(fn) end

---A copy of the incoming catch-alls, in call order.
---@return function[]
function Socket:listeners_any() end

---Every event leaving for this client (its emits and the broadcasts that reach it; not acks),
---before it is written (Node's onAnyOutgoing).
---@param fn fun(event: string, ...)
---@return self
function Socket:on_any_outgoing(fn) end

---@param fn fun(event: string, ...)
---@return self
function Socket:prepend_any_outgoing(fn) end

---@param fn? function
---@return self
function Socket:off_any_outgoing(fn) end

---@return function[]
function Socket:listeners_any_outgoing() end

---Per-packet middleware (Node's socket.use), run in order for every incoming event after the
---catch-alls, each in a coroutine (it may wait). packet is {event, ...} with the ack function last
---when the client asked for one; the middleware may change it. next() goes on; next(err) (or
---raising) drops the event and calls the socket's "error" listeners with err; the client is sent
---nothing.
---@param fn fun(packet: any[], next: fun(err?: any))
---@return self
function Socket:use(fn) end

---A copy of the event's listeners, in call order.
---@param event string
---@return function[]
function Socket:listeners(event) end

---Removes the event's listeners, or every event's (not the catch-alls nor the middleware).
---@param event? string
---@return self
function Socket:remove_all_listeners(event) end

---To this socket; a trailing callback(err, ...) asks for an ack. A no-op once disconnected.
---@param event string
---@param ... any
---@return true|nil ok
---@return string? err
---@return string? name
function Socket:emit(event, ...) end

---Emits and waits in the handler's coroutine for the client's ack.
---@param event string
---@param ... any
---@return any ... the ack's values, or nil, "timeout" | "disconnected"
function Socket:call(event, ...) end

---@param ms integer
---@return sio.Emitter
function Socket:timeout(ms) end

---`false`: never permessage-deflated (Node's compress(false)); `true` (the default) again.
---@param on? boolean
---@return sio.Emitter
function Socket:compress(on) end

---A broadcast leaving this socket out.
---@param room sio.Rooms
---@return sio.Emitter
function Socket:to(room) end

---@param room sio.Rooms
---@return sio.Emitter
function Socket:except(room) end

---@param room sio.Rooms
---@return true|nil ok
---@return string? err
function Socket:join(room) end

---@param room sio.Rooms
---@return true|nil ok
---@return string? err
function Socket:leave(room) end

---Its own id first, then its rooms in join order.
---@return string[]
function Socket:rooms() end

---@param close? boolean the whole connection
function Socket:disconnect(close) end

-- ---- timers, Engine.IO, values ---------------------------------------------------------------

---@class sio.Timer
---@field active boolean
local Timer = {}

function Timer:stop() end

function Timer:cancel() end

---@class sio.Engine
local Engine = {}

---@param event "connection"|"message"|"close"
---@param fn fun(session: sio.Session, ...)
---@return self
function Engine:on(event, fn) end

---@class sio.Session
---@field id string
---@field protocol integer
local Session = {}

---@param data string|sio.Binary
---@return true|nil ok
---@return string? err
function Session:send(data) end

function Session:close() end

---Bytes sent or received as a binary attachment: #b, tostring(b), b1 == b2.
---@class sio.Binary
local Binary = {}

---@return string
function Binary:bytes() end

---@param i integer
---@param j? integer
---@return sio.Binary
function Binary:sub(i, j) end

-- ---- the client ------------------------------------------------------------------------------

---sio.client()'s options: socket.io-client's names (the snake_case spellings work too).
---@class sio.ClientOptions
---@field path? string the server's Engine.IO path, "/socket.io/"
---@field transports? ("polling"|"websocket")[] default both: polling, then the upgrade
---@field upgrade? boolean default true
---@field query? string|table<string, string|number|boolean> added to every request
---@field extraHeaders? table<string, string> added to every request
---@field auth? table sent with every CONNECT (socket.auth = t replaces it)
---@field reconnection? boolean default true
---@field reconnectionAttempts? integer default 0: unlimited
---@field reconnectionDelay? integer ms, default 1000
---@field reconnectionDelayMax? integer ms, default 5000
---@field randomizationFactor? number 0..1, default 0.5
---@field timeout? integer ms a connection attempt may take, default 20000
---@field parser? "default"|"msgpack"
---@field rejectUnauthorized? boolean default true; false accepts any TLS certificate
---@field ca? string a PEM file to verify the server with (socket.io-client takes the PEM text)
---@field forceNew? boolean a manager of its own
---@field multiplex? boolean false: a manager of its own
---@field autoConnect? boolean default true
---@field eio? 3|4 Engine.IO protocol: 3 for socket.io 2.x servers (sio's)
---@field maxPayload? integer the longest message accepted (sio's; default 16 MiB)
---@field sendBufferMax? integer packets kept while not connected (sio's; default 1000)
---@field sendBufferBytes? integer their bytes (sio's; default 16 MiB)

---An error given to "connect_error", "error" and "reconnect_error" listeners: tostring(err) is its message.
---@class sio.ClientError
---@field message string "unauthorized", "Invalid namespace", "xhr poll error", "websocket error", "timeout", ...
---@field data? any the server's data with a refusal
---@field code? string "ECONNREFUSED", "ETIMEDOUT", ... (manager errors)

---socket.io-client's Manager: one connection, reconnecting with backoff. Events (manager:on):
---"open", "close" (reason), "error" (err), "reconnect_attempt" (n), "reconnect" (n),
---"reconnect_error" (err), "reconnect_failed".
---@class sio.Manager
---@field sid string|nil the Engine.IO session id while open
---@field transport "polling"|"websocket"|nil while open
---@field closed boolean after manager:close()
local Manager = {}

---@param event string
---@param fn function runs in a handler coroutine
---@return sio.Manager
function Manager:on(event, fn) end

---@param event string
---@param fn function
---@return sio.Manager
function Manager:once(event, fn) end

---@param event string
---@param fn? function
---@return sio.Manager
function Manager:off(event, fn) end

---Connects now (after "reconnect_failed": starts again).
---@return true|nil ok
---@return string? err
function Manager:open() end

---The same as open().
---@return true|nil ok
---@return string? err
function Manager:connect() end

---Disconnects every socket and stops reconnecting, for good.
function Manager:close() end

---The same as close().
function Manager:disconnect() end

---The manager's socket for a namespace (one per namespace).
---@param nsp? string "/"
---@param opts? {auth?: table, autoConnect?: boolean}
---@return sio.Client
function Manager:socket(nsp, opts) end

---An emitter of a client socket (socket:timeout(ms), socket.volatile).
---@class sio.ClientEmitter
---@field volatile sio.ClientEmitter dropped unless connected and writable now (socket:volatile() too)
local ClientEmitter = {}

---Emits; a function as last argument asks for an ack. With a timeout: callback(err, ...) with err
---nil, "ETIMEDOUT: ..." or "ECLOSED: ..." (disconnected); without: callback(...) (never called when
---the socket disconnects first, as socket.io-client's).
---@param event string
---@return true|nil ok
---@return string? err "EBUSY: ..." when the send buffer is full
function ClientEmitter:emit(event, ...) end

---Emits and waits in a handler's coroutine: the ack's values, or nil, "timeout" | "disconnected".
---@param event string
---@return any ...
function ClientEmitter:call(event, ...) end

---The same as call().
---@param event string
---@return any ...
function ClientEmitter:emit_with_ack(event, ...) end

---The same as call() (socket.io-client's name).
---@param event string
---@return any ...
function ClientEmitter:emitWithAck(event, ...) end

---@param ms integer
---@return sio.ClientEmitter
function ClientEmitter:timeout(ms) end

---Accepted and ignored (the client does not compress).
---@param on? boolean
---@return sio.ClientEmitter
function ClientEmitter:compress(on) end

---A client socket (socket.io-client's Socket): one namespace over a manager. Listeners run in
---handler coroutines: "connect", "connect_error" (err: sio.ClientError), "disconnect" (reason:
---"io server disconnect", "io client disconnect", "transport close", "transport error", "ping
---timeout", "parse error"), and the server's events (their arguments, then an ack function when
---the server asked for one: call it, or return the answer).
---@class sio.Client : sio.ClientEmitter
---@field id string|nil while connected
---@field connected boolean
---@field disconnected boolean
---@field recovered boolean the last connect restored the session (connection state recovery)
---@field nsp string
---@field buffered integer packets waiting to be sent (emitted while not connected)
---@field io sio.Manager its manager (socket.io-client's socket.io)
---@field auth table|nil assign to change the next CONNECTs' auth
local Client = {}

---@param event string
---@param fn function
---@return sio.Client
function Client:on(event, fn) end

---@param event string
---@param fn function
---@return sio.Client
function Client:once(event, fn) end

---@param event string
---@param fn? function
---@return sio.Client
function Client:off(event, fn) end

---Every event from the server: fn(event, ...), before its listeners.
---@param fn fun(event: string, ...)
---@return sio.Client
function Client:on_any(fn) end

---The same as on_any (socket.io-client's name).
---@param fn fun(event: string, ...)
---@return sio.Client
function Client:onAny(fn) end

---@param fn? function the last entry of fn, or all
---@return sio.Client
function Client:off_any(fn) end

---@param fn? function
---@return sio.Client
function Client:offAny(fn) end

---emit("message", ...), as socket.io-client's send().
---@return true|nil ok
---@return string? err
function Client:send(...) end

---Connects (again); nothing when connected or connecting.
---@return sio.Client|nil
---@return string? err
function Client:connect() end

---The same as connect().
---@return sio.Client|nil
---@return string? err
function Client:open() end

---Disconnects; no reconnection until connect().
---@return sio.Client
function Client:disconnect() end

---The same as disconnect().
---@return sio.Client
function Client:close() end

---The ack function a handler gets: ack(...) answers once.
---@class sio.Ack
---@overload fun(...): true|nil, string?, string?

return sio
