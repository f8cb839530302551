"""``sio.Server``: a Socket.IO server on the C core, with python-socketio's vocabulary. The
methods the core calls are in _dispatch.py, the asyncio mode in _asyncio.py."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import inspect
import logging
import os
import re
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, TypeVar, Union, overload

from . import _core, api
from ._asyncio import AsyncioMode
from ._dispatch import Dispatch
from ._compat import CoreLog, Reason, compat_options, differs, transport_bits, wire_debug_loggers
from ._hooks import Engine, allow_verdict, request_environ
from ._hooks import logger as _hooks_logger
from ._util import (cookie_options, cors_options, deflate_options, environ, recovery_options,
                    room_names, to_ms)
from ._loops import Cores, check_workers
from ._workers import WorkerPool
from .errors import DisconnectedError, ReservedEventError, TimeoutError
from .namespace import Namespace

Timer = _core.Timer
_F = TypeVar("_F", bound=Callable[..., Any])
_NO_CLUSTER = "server_side_emit needs a cluster: sio.Server(redis=...)"


class Server(Dispatch, AsyncioMode):
    """A Socket.IO server.

    :param cors_allowed_origins: which pages may connect, by the ``Origin`` header browsers send
        (clients without a browser send none and are never refused by it), as python-socketio:
        ``None`` (the default): only pages of this server's own origin (the ``Host`` header, or
        ``X-Forwarded-Host`` behind a proxy; http or https), no CORS headers; ``"*"``: any origin,
        with CORS headers; an origin or a list of origins (compared exactly): those only, with CORS
        headers; ``[]``: any origin and no CORS headers (Node's socket.io default). A page of
        another origin gets 403 on its handshake, polls and WebSocket upgrade (cross-site WebSocket
        hijacking with the user's cookies is refused).
        A callable ``fn(origin) -> bool`` decides per ``Origin`` (on the server's thread; synchronous):
        an allowed origin is reflected with CORS headers, a refused one gets the 403 above.
    :param allow_request: ``fn(environ)`` deciding each Engine.IO handshake before any session
        exists (Node's ``allowRequest``): ``environ`` as a connect handler's (``HTTP_*`` headers,
        ``QUERY_STRING``, ``REMOTE_ADDR``; ``environ["sio.transport"]``); returns ``True`` to let
        in, ``False`` to refuse with Node's 403 ``{"code":4,"message":"Forbidden"}`` (a WebSocket
        upgrade gets it instead of its 101), ``(False, "message")`` to refuse with that message
        (socket.io-client's ``connect_error`` shows it). A coroutine (asyncio mode) answers later
        (a database, a rate limiter), and so does a plain function with ``async_handlers=True``
        (on a worker: one that blocks delays only its own client): the request waits, at most the
        server's request timeout; a client gone meanwhile is simply not answered. Otherwise it runs
        on the server's thread and must not block. An exception refuses (logged).
    The options left at ``None`` take the C core's defaults (``sio_io_options_init()`` and
    ``sio_redis_options_init()`` in sio.h; :mod:`sio.api` shows them), which are
    python-socketio's and Node's:

    :param ping_interval: seconds between heartbeats (python-socketio's unit); default 25.
    :param ping_timeout: seconds to wait for a heartbeat's answer; default 20.
    :param max_payload: bytes per polling body or WebSocket message; default 1,000,000.
    :param allow_eio3: accept Engine.IO v3 clients (socket.io 2.x), JSONP polling included
        (``forceJSONP``: pages without XHR).
    :param path: where the Socket.IO endpoint is served (a missing leading or trailing ``/`` is
        added); default ``"/socket.io/"``.
    :param connect_timeout: seconds an Engine.IO session may stay without joining a namespace;
        default 45.
    :param max_buffered: bytes queued for one client before it is closed; default
        4 × ``max_payload`` + 1 MiB.
    :param client_dir: a directory holding socket.io-client's ``dist/`` files (npm package
        ``socket.io-client``): ``<path>socket.io.js`` (and ``.min.js``, ``.esm.min.js``, maps) are
        served from it, as the reference's ``serveClient``. ``None``: not served.
    :param redis: ``"redis://[[user]:password@]host[:port][/db]"``: this server is a cluster node,
        sharing its broadcasts with the other nodes (sio or Node's socket.io with
        ``@socket.io/redis-adapter``) through that Redis; ``None``: alone. A bad URL raises
        ``ValueError`` (:class:`sio.InvalidArgumentError`); a sio built without Redis,
        ``RuntimeError`` (:class:`sio.UnsupportedError`). See :meth:`fetch_count`,
        :meth:`all_rooms`, :meth:`server_side_emit` and :meth:`on_server_event`.
    :param redis_key: the channel prefix (Node's ``key`` option; the streams adapter's
        ``channelPrefix``), ``"socket.io"`` by default.
    :param redis_requests_timeout: seconds a cluster request (``fetch_count``, ``fetch_sockets``,
        ``all_rooms``, ``server_side_emit`` with a callback) waits for the other nodes (Node's
        ``requestsTimeout``), 5 by default.
    :param cookie: the reference's ``cookie`` option, for load balancers that keep each client on
        one node by a cookie (long-polling needs all of a session's requests on the node that holds
        it). ``None`` (the default): no cookie. ``True``: the response to the polling handshake sets
        ``io=<sid>; Path=/; HttpOnly; SameSite=Lax``, as Node's ``cookie: true``. A string: that
        cookie name with the same attributes. A dict of attributes, over those defaults: ``name``,
        ``path``, ``domain``, ``same_site`` (``"Lax"``, ``"Strict"``, ``"None"``), ``http_only``,
        ``secure``, ``max_age`` (seconds); ``False`` or ``None`` leaves an attribute out. Keys may
        also be spelt as Node's (``httpOnly``, ``sameSite``, ``maxAge``) or python-engineio's
        (``HttpOnly``, ``SameSite``, ``Max-Age``); unlike python-engineio, an attribute not given
        keeps Node's default (a string name gets ``HttpOnly`` too). Only the handshake response
        carries it (later requests name their session in the query; a WebSocket-only session has
        none), and the bare Engine.IO endpoints of :meth:`engine_endpoint` set it as well. A name
        that is not an HTTP token, or a path or domain with ``;`` or control characters, raises
        ``ValueError`` (:class:`sio.InvalidArgumentError`).

    :param workers: N event loops (default 1), each on its own thread with its own listener on
        the same port (SO_REUSEPORT) and its own sessions, in this one interpreter: every core of
        a machine before Redis. The same handlers serve every worker, each called on its worker's
        thread holding the GIL (so Python handlers of different workers take turns, while the C
        core's parsing, framing, fan-out and I/O run on every worker at once); a socket belongs
        to its worker, and what a handler calls acts there, or on the worker owning the sid it
        names; broadcasts, rooms, ``fetch_count``/``fetch_sockets`` and ``server_side_emit`` span
        the workers (the in-process adapter; with ``redis``, each worker is a Redis node).
        Calls from other threads are queued to worker 0 (then to a sid's owner), in order.
        ``listen()`` once (it starts the workers); ``socket_count`` and ``stats()`` are the
        calling worker's. :class:`AsyncServer` refuses ``workers > 1`` (ValueError): one asyncio
        loop is one thread. See python/README.md, "Every core: workers".

    python-socketio's arguments (keyword-only here), each honoured, or accepted with one
    ``warnings.warn`` saying how sio differs:

    :param async_handlers: ``True``: sync handlers (connect, events, disconnect) run on a pool of
        ``handler_workers`` threads (default 8), so a handler that blocks (``time.sleep``, a
        database call) delays only its own client; a socket's handlers still run one after
        another, in arrival order; the return value is still the ack; :meth:`call` works inside
        them (it blocks that worker). The cost: a thread hand-off per event each way (about
        1.8× fewer echo acks per second than inline and 1.8× the server CPU per ack: ``bench/run
        --servers python,python-workers --scenarios echo``), and
        handlers of different sockets run concurrently (shared state needs locks). ``False`` (sio's
        default, unlike python-socketio's): handlers run on the server's thread, and one that
        blocks stalls every client for that long. Coroutine handlers (asyncio mode) are tasks
        either way.
    :param always_connect: let every socket in before its connect handler decides; a refused
        one is disconnected right after (python-socketio's).
    :param namespaces: ``"*"``: any namespace may be joined (as :meth:`on` with
        ``namespace="*"``); a list: those namespaces exist even without handlers. ``"/"``
        always exists.
    :param logger: ``True``: connects, events and disconnects are logged at INFO to logger
        ``"sio"`` (which then gets a stderr handler if logging has none); a ``logging.Logger``:
        those go to it, and the errors of logger ``"sio"`` too. Errors in handlers are logged to
        ``"sio"`` in every case. With a logger, the C core's own records but the engine's go to
        it too, on the server's thread: Redis outages and their end (WARNING, component
        ``"redis"``), cluster notices, namespaces refused (DEBUG, ``"socketio"``); without one
        they stay the core's stderr lines (WARNING and above). A logger also turns on the debug
        categories ``socket`` and ``nsp`` (see :meth:`set_debug`): each packet in and out
        (type, namespace, event name, length) and namespace connection, at DEBUG to loggers
        ``"sio.socket"`` and ``"sio.nsp"``.
    :param engineio_logger: the C core's Engine.IO records (component ``"engine"``): each
        session opened, upgraded and closed with its reason (INFO: ``"engine: session <sid>
        closed: ping timeout"``), requests refused with 400/403 (DEBUG). ``True``: to logger
        ``"engineio.server"`` (python-engineio's name) at INFO, with a stderr handler when
        logging has none; a ``logging.Logger``: to it; ``False``: not logged. Records carry
        ``record.sio_component``; the core is told the most verbose level any of the two loggers
        lets through when the server starts listening (records below it are never made), and a
        logging handler that raises never reaches the server (the record goes to stderr). No
        per-packet records there (python-engineio's "Sending packet"): ``True`` turns on the
        debug category ``engine`` instead (see :meth:`set_debug`): handshakes, upgrades, ping
        timeouts, closes and each packet, at DEBUG to logger ``"sio.engine"`` (a Logger of
        yours does not: ``set_debug("engine")`` then).
    :param async_mode: ``"threading"`` (:class:`Server`), ``"asyncio"`` (:class:`AsyncServer`);
        others (eventlet, gevent, aiohttp...) are warned: sio runs its own libuv loop.
    :param max_http_buffer_size: python-engineio's name for ``max_payload``.
    :param ping_interval: also python-engineio's ``(interval, grace)``: the grace is added to
        ``ping_timeout``.
    :param transports: ``["polling", "websocket"]`` (default), or one of them only.
    :param allow_upgrades: ``False``: a polling session is never upgraded to WebSocket.
    :param cors_credentials: ``True``: CORS responses carry
        ``Access-Control-Allow-Credentials: true`` (sio's default is ``False``).
    :param json: warned unless the stdlib's ``json``: JSON is encoded and decoded in C.
    :param serializer: ``"default"`` (JSON) or ``"msgpack"``: the packets' wire format, as
        ``parser``. sio's msgpack is npm ``socket.io-msgpack-parser``'s (one msgpack map
        ``{type, data, nsp, id}`` per binary message, binary inline), which is what
        socket.io-client with that parser speaks. python-socketio's own ``MsgPackPacket`` writes
        the same map (binary inline, no attachments; ``nsp`` before ``id``, a CONNECT without
        auth with ``data`` nil, which sio takes as absent where Node's parser refuses it), so its
        clients with ``serializer="msgpack"`` should be peers too (not run in CI: the Debian
        client here lacks the ``msgpack`` module).
    :param parser: ``None``/``"default"`` (JSON, socket.io-parser) or ``"msgpack"`` (npm
        ``socket.io-msgpack-parser``; every client must then use that parser: a text message
        closes the connection). Other values raise ``ValueError``.
    :param client_manager: a python-socketio ``RedisManager``'s URL and channel become
        ``redis``/``redis_key`` (warned: the cluster speaks Node's @socket.io/redis-adapter wire);
        other managers are warned and ignored.
    :param http_compression: ``False``: polling responses are never compressed. By default they
        are, as python-engineio's and Node's: a response of ``compression_threshold`` bytes or
        more goes gzip- or deflate-encoded when the request's ``Accept-Encoding`` allows it.
    :param compression_threshold: bytes; default 1024 (0: every response).
    :param monitor_clients: warned (heartbeats are always checked).
    :param socketio_path: python-socketio's name for ``path``.

    :param connection_state_recovery: Node's ``connectionStateRecovery``: ``True`` or a dict
        ``{"max_disconnection_duration": ms (default 120000), "skip_middlewares": True,
        "max_bytes": bytes (default 32 MiB, 0: no cap)}`` (Node's camelCase keys accepted too).
        The CONNECT reply carries a private ``pid``; every event that is neither volatile nor
        awaiting an ack carries its offset as one extra last argument (as Node's; a client
        without recovery sees it too) and is kept; a client cut off (transport closed, ping
        timeout; not a disconnect asked by either side) that comes back within the duration is
        the same socket: same sid, rooms and session (``get_session``, the Node-shaped socket's
        ``data``), and receives every event it missed, in order. :meth:`is_recovered` (and the
        Node-shaped ``socket.recovered``) tells it apart, already in the connect handler, which
        runs for it as for any socket; ``skip_middlewares`` skips the :meth:`use` middlewares.
        Past ``max_bytes`` per namespace the oldest packets and sessions are dropped (their
        clients come back as new sockets). Kept on this node only with ``redis_mode`` classic or
        sharded (a client is restored only by the node it left); with ``"streams"``, sessions and
        missed packets live in Redis and a client recovers on any node.
    :param per_message_deflate: Node's ``perMessageDeflate``: ``True`` accepts a WebSocket
        client's permessage-deflate offer (RFC 7692; every browser makes one) on every endpoint
        (Socket.IO and :meth:`engine_endpoint`'s), ``{"threshold": N}`` too, with messages of N
        bytes or more compressed (default 1024, as Node); smaller ones, and emits with
        ``compress(False)``, go uncompressed. ``None``/``False`` (the default, as Node): off. Each
        message is compressed on its own (no context takeover), a broadcast once for all its
        recipients, and zlib's state is shared by the server, so an idle connection costs nothing
        more; a received message that inflates past ``max_payload`` is closed with 1009.
    :param metrics_path: a URL path (``"/metrics"``) where the server's counters and gauges
        (:meth:`stats`) are served as Prometheus text (exposition format 0.0.4, ``sio_``
        names) to GET and HEAD requests (405 for other methods). ``None`` (the default): not
        served (the counters are kept all the same).
    :param redis_mode: with ``redis``, the cluster's engine: ``"classic"`` (the default,
        ``@socket.io/redis-adapter``'s ``createAdapter``: pub/sub), ``"sharded"`` (its
        ``createShardedAdapter``: Redis 7 sharded pub/sub, ``SPUBLISH``/``SSUBSCRIBE``, on one
        Redis or a Redis Cluster) or ``"streams"`` (``@socket.io/redis-streams-adapter``: one
        Redis stream read from each node's last entry id, so a Redis blink loses nothing it kept,
        and sessions in Redis for recovery across nodes). Any other value raises ``ValueError``;
        so does a mode or an option below without ``redis``, or an option of another mode.
    :param redis_subscription_mode: ``"sharded"`` only, Node's ``subscriptionMode``:
        ``"dynamic"`` (default: a channel per room with members here, socket ids' rooms
        excepted), ``"static"`` (two channels per namespace) or ``"dynamic-private"``.
    :param redis_stream_name: ``"streams"`` only, Node's ``streamName`` (default ``"socket.io"``).
    :param redis_stream_count: ``"streams"`` only, Node's ``streamCount`` (default 1; more:
        namespaces spread over ``NAME-0`` .. ``NAME-(n-1)``).
    :param redis_max_len: ``"streams"`` only, Node's ``maxLen``: the stream's ``MAXLEN ~``
        (default 10000).
    :param redis_read_count: ``"streams"`` only, Node's ``readCount``: ``XREAD COUNT`` (default 100).
    :param redis_block_time: ``"streams"`` only, seconds (Node's ``blockTimeInMs``): ``XREAD BLOCK``
        (default 5).
    :param redis_session_key_prefix: ``"streams"`` only, Node's ``sessionKeyPrefix`` (default
        ``"sio:session:"``).
    :param redis_sharded_pubsub: ``"streams"`` only, Node's ``useShardedPubSub``: the requests'
        pub/sub over sharded channels (default ``False``).
    """

    reason = Reason
    """python-socketio's disconnect reasons: ``Server.reason.CLIENT_DISCONNECT``..."""

    def __init__(
        self,
        cors_allowed_origins: Union[None, str, Iterable[str], Callable[[str], bool]] = None,
        ping_interval: Union[None, float, Tuple[float, float]] = None,
        ping_timeout: Optional[float] = None,
        max_payload: Optional[int] = None,
        allow_eio3: bool = False,
        path: Optional[str] = None,
        connect_timeout: Optional[float] = None,
        max_buffered: Optional[int] = None,
        client_dir: "Union[None, str, os.PathLike[str]]" = None,
        redis: Optional[str] = None,
        redis_key: Optional[str] = None,
        redis_requests_timeout: Optional[float] = None,
        cookie: Union[None, bool, str, Dict[str, Any]] = None,
        *,
        async_handlers: bool = False,
        handler_workers: int = 8,
        always_connect: bool = False,
        namespaces: Union[None, str, Iterable[str]] = None,
        logger: Union[bool, logging.Logger] = False,
        engineio_logger: Union[bool, logging.Logger] = False,
        async_mode: Optional[str] = None,
        max_http_buffer_size: Optional[int] = None,
        transports: Optional[Iterable[str]] = None,
        allow_upgrades: Optional[bool] = None,
        cors_credentials: Optional[bool] = None,
        json: Any = None,
        serializer: Any = "default",
        client_manager: Any = None,
        http_compression: Optional[bool] = None,
        compression_threshold: Optional[int] = None,
        monitor_clients: Optional[bool] = None,
        socketio_path: Optional[str] = None,
        per_message_deflate: Union[None, bool, Dict[str, Any]] = None,
        allow_request: Optional[Callable[[Dict[str, Any]], Any]] = None,
        parser: Optional[str] = None,
        connection_state_recovery: Union[None, bool, Dict[str, Any]] = None,
        metrics_path: Optional[str] = None,
        redis_mode: Optional[str] = None,
        redis_subscription_mode: Optional[str] = None,
        redis_stream_name: Optional[str] = None,
        redis_stream_count: Optional[int] = None,
        redis_max_len: Optional[int] = None,
        redis_read_count: Optional[int] = None,
        redis_block_time: Optional[float] = None,
        redis_session_key_prefix: Optional[str] = None,
        redis_sharded_pubsub: Optional[bool] = None,
        workers: int = 1,
    ) -> None:
        opts = compat_options(self._async_modes, async_mode=async_mode, logger=logger,
                              engineio_logger=engineio_logger, json=json, serializer=serializer,
                              client_manager=client_manager, http_compression=http_compression,
                              compression_threshold=compression_threshold,
                              monitor_clients=monitor_clients)
        if client_manager is not None and redis is None:
            redis = opts.get("redis")
            redis_key = redis_key or opts.get("redis_key")
        if max_http_buffer_size is not None:
            max_payload = max_http_buffer_size if max_payload is None else max_payload
        if isinstance(ping_interval, (tuple, list)):
            # python-engineio's (interval, grace): the grace lengthens the wait for the answer
            ping_interval, grace = ping_interval
            ping_timeout = (20 if ping_timeout is None else ping_timeout) + grace
        if socketio_path is not None and path is None:
            path = socketio_path
        self.async_mode = async_mode or self._async_modes[0]
        """python-socketio's attribute: the mode asked for (sio warns when it does not apply), else
        ``"threading"`` (:class:`Server`) / ``"asgi"`` (:class:`AsyncServer`), so that an app that
        picks its launcher by it (``if sio.async_mode == 'threading': app.run()``) reaches the branch
        its author wrote."""
        self.async_handlers = bool(async_handlers)
        if self.async_handlers and handler_workers < 1:
            raise ValueError("handler_workers must be at least 1")
        self._workers = WorkerPool(self, handler_workers) if self.async_handlers else None
        self.always_connect = bool(always_connect)
        self.logger = opts["logger"]
        self._log_traffic = opts["log_traffic"]
        self._plain = not self._log_traffic and self._workers is None
        if redis_requests_timeout is not None:
            if not redis_requests_timeout > 0:
                raise ValueError("redis_requests_timeout must be positive")
            redis_requests_timeout = max(0.001, redis_requests_timeout)  # 1 ms at least
        self._handlers: Dict[Any, Dict[str, Callable]] = {}
        self._fast: Dict[Any, Dict[str, tuple]] = {}  # _dispatch.py: before the Core, which keeps it
        self._server_handlers: Dict[Any, Dict[str, Callable]] = {}
        self._cluster = redis is not None
        self._namespaces: Dict[Any, Namespace] = {}
        self._keys: Dict[Any, str] = {}
        self._sessions: Dict[tuple, dict] = {}
        self._pending: Dict[tuple, list] = {}
        self._arity: Dict[Any, int] = {}
        self._ack_param: Dict[Any, bool] = {}
        self._known: set = set()
        self._calls: collections.deque = collections.deque()
        self._loop_thread: Optional[int] = None
        self._aio: Optional[asyncio.AbstractEventLoop] = None
        self._aio_timer: Optional[asyncio.TimerHandle] = None
        self._tick_scheduled = False
        self._closed_future: Optional[asyncio.Future] = None
        self._closed_event = threading.Event()
        self._path = path
        recovery, self._recovery_skip_mw = recovery_options(connection_state_recovery)
        self._recovery = bool(recovery)
        self._recovered: Dict[tuple, Any] = {}  # (nsp, sid) -> the kept data, while connected
        self._nworkers = check_workers(workers)
        if self._nworkers > 1 and self._async_modes[0] != "threading":
            raise ValueError("AsyncServer(workers=N): N must be 1 (an asyncio loop is one thread); "
                             "use sio.Server(workers=N), whose handlers run on the workers' threads")
        core_kw = dict(
            path=path,
            ping_interval_ms=to_ms(ping_interval),
            ping_timeout_ms=to_ms(ping_timeout),
            max_payload=max_payload,
            allow_eio3=allow_eio3,
            connect_timeout_ms=to_ms(connect_timeout),
            max_buffered=max_buffered,
            client_dir=None if client_dir is None else os.fsdecode(client_dir),
            redis=redis,
            redis_key=redis_key,
            redis_requests_timeout_ms=to_ms(redis_requests_timeout),
            redis_mode=redis_mode,
            redis_subscription_mode=redis_subscription_mode,
            redis_stream_name=redis_stream_name,
            redis_stream_count=redis_stream_count,
            redis_max_len=redis_max_len,
            redis_read_count=redis_read_count,
            redis_block_ms=to_ms(redis_block_time),
            redis_session_key_prefix=redis_session_key_prefix,
            redis_sharded_pubsub=redis_sharded_pubsub,
            transports=transport_bits(transports),
            allow_upgrades=allow_upgrades,
            cors_credentials=cors_credentials,
            http_compression=http_compression,
            # the core's 0 is its default (1024): "every response" is 1 byte or more
            http_compression_threshold=(None if compression_threshold is None
                                        else max(1, compression_threshold)),
            parser=parser if parser is not None else opts["parser"],
            **cors_options(cors_allowed_origins),
            **cookie_options(cookie),
            **deflate_options(per_message_deflate),
            **recovery,
        )
        self._core = _core.Core(self, **core_kw)
        self._cores: Optional[Cores] = None
        if self._nworkers > 1:
            self._core_kw = core_kw
            self._cores = self._core = Cores(self, self._core, self._nworkers)
        if metrics_path is not None:
            self._core.serve_metrics(metrics_path)
        self.engine = Engine(self._core)
        """Node's ``io.engine`` for its events: ``server.engine.on("connection_error", fn)``,
        ``"initial_headers"``, ``"headers"`` (see :class:`sio._hooks.Engine`)."""
        if callable(cors_allowed_origins):
            self._core.set_hook("cors_origin", cors_allowed_origins)
        self._allow_request = allow_request
        if allow_request is not None:
            if not callable(allow_request):
                raise TypeError("allow_request must be callable")
            self._core.set_hook("allow_request", self._allow)
        self._core_log = CoreLog(self.logger if logger else None, opts["engineio_logger"])
        # Debug categories (the core read SIO_DEBUG already): engineio_logger turns on the
        # engine's per-packet lines, logger the Socket.IO packets and namespaces, as
        # python-socketio's loggers show its traffic; records go to loggers "sio.<category>".
        debug = (["engine"] if engineio_logger is True else []) + (["socket", "nsp"] if logger else [])
        if debug:
            wire_debug_loggers(debug, logging.getLogger("sio"))
            self._core.set_debug(",".join(debug), add=True)
        if self._core_log.wired or os.environ.get("SIO_DEBUG"):
            self._core.set_log(self._core_log.level(), self._core_log)
        self._register("/")
        if namespaces == "*":
            self._register("*")
        elif namespaces is not None:
            for name in namespaces:
                self._register(name)

    # ---- handlers ----------------------------------------------------------------------------

    _async_modes: Tuple[str, ...] = ("threading", "sio")

    def _register(self, namespace: Union[str, "re.Pattern[str]"]) -> Any:
        if namespace == "*":  # python-socketio's catch-all: any namespace no other name matches
            if "*" not in self._keys:
                # made when listening, after the dynamic namespaces registered before then (the
                # core tries them in registration order)
                self._keys["*"] = None
                if self._core.port() is not None:
                    self._keys["*"] = self._core.dynamic("^/", "*")
            return "*"
        if isinstance(namespace, re.Pattern):
            key = ("regex", namespace.pattern)
            if key not in self._keys:
                self._keys[key] = self._core.dynamic(namespace.pattern, key)
            return key
        if not namespace.startswith("/"):
            namespace = "/" + namespace
        if namespace not in self._keys:
            self._keys[namespace] = self._core.namespace(namespace, namespace)
            self._known.add(namespace)
        return namespace

    @overload
    def on(self, event: str, handler: None = None,
           namespace: Union[None, str, "re.Pattern[str]"] = None) -> Callable[[_F], _F]: ...

    @overload
    def on(self, event: str, handler: _F, namespace: Union[None, str, "re.Pattern[str]"] = None) -> _F: ...

    def on(self, event: str, handler: Optional[Callable] = None,
           namespace: Union[None, str, "re.Pattern[str]"] = None) -> Any:
        """Registers a handler for ``event`` (``"connect"``, ``"disconnect"``, ``"*"`` or an event
        name) in ``namespace`` (default ``"/"``; a compiled ``re`` pattern registers a dynamic
        namespace: any name it matches — as a POSIX extended regex — is created on first use;
        ``"*"``: python-socketio's catch-all namespace, any namespace no other name or pattern
        matches, whose handlers get the namespace's name first: ``connect(namespace, sid, environ,
        auth)``, ``event(namespace, sid, *args)``, ``on("*")``: ``(event, namespace, sid,
        *args)``; it also handles the events a registered namespace has no handler for).
        Works as a method and as a decorator."""
        key = self._register(namespace or "/")

        def set_handler(fn: Callable) -> Callable:
            self._handlers.setdefault(key, {})[event] = fn
            self._routes_changed()
            return fn

        if handler is None:
            return set_handler
        set_handler(handler)
        return handler

    @overload
    def on_server_event(self, event: str, handler: None = None,
                        namespace: Union[None, str, "re.Pattern[str]"] = None) -> Callable[[_F], _F]: ...

    @overload
    def on_server_event(self, event: str, handler: _F,
                        namespace: Union[None, str, "re.Pattern[str]"] = None) -> _F: ...

    def on_server_event(self, event: str, handler: Optional[Callable] = None,
                        namespace: Union[None, str, "re.Pattern[str]"] = None) -> Any:
        """Registers a handler for the server-side event ``event`` of ``namespace`` (default
        ``"/"``), which other nodes of the cluster send with :meth:`server_side_emit` (or Node's
        ``io.serverSideEmit()``, whose listeners are ``io.on(event, ...)``). ``handler(*args)`` gets
        the event's arguments; when the sender waits for answers, its return value is this node's
        answer: ``None`` answers with no value, a tuple with its first item (Node takes one ack
        argument), a coroutine (asyncio mode) with its result. A handler that raises is logged
        (logger ``"sio"``) and sends no answer. A node with no handler for the event answers with no
        value. Works as a method and as a decorator (``@server.on_server_event("name")``)."""
        if not isinstance(event, str):
            raise TypeError("event must be a str")
        if api.sio_event_reserved(event, True):
            raise ReservedEventError('"%s" is a reserved event name' % event)
        key = self._register(namespace or "/")

        def set_handler(fn: Callable) -> Callable:
            self._server_handlers.setdefault(key, {})[event] = fn
            return fn

        if handler is None:
            return set_handler
        set_handler(handler)
        return handler

    @overload
    def event(self, handler: _F) -> _F: ...

    @overload
    def event(self, *, namespace: Union[None, str, "re.Pattern[str]"] = None) -> Callable[[_F], _F]: ...

    def event(self, *args: Any, **kw: Any) -> Any:
        """``@server.event`` registers a function named after its event (``def chat(sid, ...)``);
        ``@server.event(namespace="/x")`` too."""
        if len(args) == 1 and not kw and callable(args[0]):
            return self.on(args[0].__name__, args[0])

        def decorator(fn: Callable) -> Callable:
            return self.on(fn.__name__, fn, *args, **kw)

        return decorator

    def register_namespace(self, namespace_handler: Namespace) -> None:
        if not isinstance(namespace_handler, Namespace):
            raise ValueError("not a sio.Namespace instance")
        key = self._register(namespace_handler.namespace)
        namespace_handler._set_server(self)
        self._namespaces[key] = namespace_handler
        self._routes_changed()

    # ---- threads -----------------------------------------------------------------------------

    def _elsewhere(self) -> bool:
        """True when called from a thread other than the one running the server (with workers:
        other than the workers' loop threads)."""
        cores = self._cores
        if cores is not None and cores.started:
            return threading.get_ident() not in cores.index
        t = self._loop_thread
        return t is not None and t != threading.get_ident()

    # ---- allow_request -------------------------------------------------------------------------

    def _allow(self, handshake: Any) -> None:
        """The core's allow_request: the application's function decides now, or its coroutine
        later (asyncio mode), or a worker (``async_handlers``: a check that blocks delays only its
        own client); an exception refuses."""
        env = request_environ(handshake.request, handshake.transport)
        if self._workers is not None and not inspect.iscoroutinefunction(self._allow_request):
            def job() -> None:
                try:
                    verdict = self._allow_request(env)
                except Exception:
                    _hooks_logger.exception("error in allow_request")
                    verdict = False
                if inspect.isawaitable(verdict):
                    close = getattr(verdict, "close", None)
                    if close is not None:
                        close()
                    _hooks_logger.error("allow_request returned an awaitable on a worker")
                    verdict = False
                self.call_soon_threadsafe(self._answer_later, handshake, verdict)

            self._workers.submit(("allow_request", id(handshake)), job)
            return
        try:
            result = self._allow_request(env)
        except Exception:
            _hooks_logger.exception("error in allow_request")
            handshake.refuse()
            return
        if inspect.isawaitable(result):
            if self._no_asyncio(result, "allow_request"):
                handshake.refuse()
                return
            self._aio.create_task(self._allow_later(handshake, result))
            return
        self._answer_handshake(handshake, result)

    async def _allow_later(self, handshake: Any, awaitable: Any) -> None:
        result: Any = False
        try:
            result = await awaitable
        except Exception:
            _hooks_logger.exception("error in allow_request")
        finally:
            self._answer_later(handshake, result)

    def _answer_later(self, handshake: Any, result: Any) -> None:
        """On the server's thread: a verdict reached elsewhere (a worker)."""
        if self._core.closed:
            handshake.refuse()  # sends nothing: only releases the handle
            return
        self._answer_handshake(handshake, result)
        self._kick()

    @staticmethod
    def _answer_handshake(handshake: Any, result: Any) -> None:
        ok, message = allow_verdict(result)
        if ok:
            handshake.accept()
        else:
            handshake.refuse(0, message)

    def call_soon_threadsafe(self, fn: Callable, *args: Any) -> None:
        """Runs fn(*args) on the server's thread, soon (safe from any thread)."""
        fn = functools.partial(fn, *args) if args else fn
        cores = self._cores
        if cores is not None:  # the worker the calling thread works for (worker 0 elsewhere)
            cores.post(cores.home_index(), fn)
            return
        self._calls.append(fn)
        self._core.wakeup()

    def _to_worker(self, index: int, fn: Callable, *args: Any) -> None:
        """Workers: fn(*args) on worker ``index``'s loop thread, soon (a sio.Ack of that worker's
        socket called from another thread: bindings/python/ack.c)."""
        cores = self._cores
        if cores is None or not cores.started or index >= len(cores.cores):
            return  # the group is gone: the ack has no socket to reach any more
        cores.post(index, functools.partial(fn, *args))

    def _defer(self, nsp: str, sid: Optional[str], op: Callable[[], Any], route: bool = True) -> bool:
        """Queues op when it cannot run now: another thread (then, on the server's thread, after
        the connect of a socket still connecting), or a socket still connecting. With workers, an
        op on a socket of another worker goes to that worker's loop (``route``; an emit does not
        need it: the in-process adapter carries it, in order with the broadcasts before it), and
        from another thread to worker 0's first, in the order the thread made its calls."""
        if route and self._to_owner(nsp, sid, op):
            return True
        if self._elsewhere():
            if sid is None:
                self.call_soon_threadsafe(op)
            else:
                self.call_soon_threadsafe(self._after_connect, nsp, sid, op, route)
            return True
        if sid is not None:
            pending = self._pending.get((nsp, sid))
            if pending is not None:
                pending.append(op)
                return True
        return False

    def _to_owner(self, nsp: str, sid: Optional[str], op: Callable[[], Any]) -> bool:
        """Workers: True when op was sent to the loop of sid's worker (not this thread's)."""
        cores = self._cores
        if cores is None or not cores.started or sid is None:
            return False
        here = cores.here()
        owner = cores.sid_owner.get((nsp, sid))
        if here is None or owner is None or owner == here:
            return False
        cores.post(owner, functools.partial(self._after_connect, nsp, sid, op))
        return True

    def _after_connect(self, nsp: str, sid: str, op: Callable[[], Any], route: bool = True) -> None:
        if route and self._to_owner(nsp, sid, op):
            return
        pending = self._pending.get((nsp, sid))
        if pending is not None:
            pending.append(op)
        else:
            op()
            self._kick()

    def _on_loop(self, fn: Callable[[], Any], nsp: Optional[str] = None, sid: Optional[str] = None) -> Any:
        """fn() on the server's thread, waited for from another one (a worker of
        ``async_handlers``): the core's state is the server thread's. With workers: on the loop
        of the worker owning ``sid`` (else the calling worker's, else worker 0's)."""
        cores = self._cores
        if cores is not None and cores.started:
            here = cores.here()
            target = cores.sid_owner.get((nsp, sid), here) if sid is not None else here
            if target is None:
                target = cores.home_index()
            if target == here:
                return fn()
            return self._wait_on(lambda run: cores.post(target, run), fn)
        if not self._elsewhere():
            return fn()
        return self._wait_on(self.call_soon_threadsafe, fn)

    def _wait_on(self, post: Callable[[Callable[[], None]], None], fn: Callable[[], Any]) -> Any:
        box: list = []
        ready = threading.Event()

        def run() -> None:
            try:
                box.append((True, fn()))
            except BaseException as e:
                box.append((False, e))
            finally:
                ready.set()

        post(run)
        # A worker's loop thread waiting on another worker runs what others post to it meanwhile:
        # two handlers each waiting on the other's worker (rooms() of each other's sid) would
        # otherwise wait for ever.
        cores = self._cores
        here = cores.here() if cores is not None and cores.started else None
        while not ready.wait(0.05 if here is None else 0.001):
            if here is not None:
                cores.drain()
            if self._closed_event.is_set():
                raise ConnectionError("the server stopped")
        ok, value = box[0]
        if not ok:
            raise value
        return value

    # ---- emitting ----------------------------------------------------------------------------

    def _nsp(self, namespace: Optional[str]) -> str:
        if not namespace:
            return "/"
        if not isinstance(namespace, str):
            raise TypeError("namespace must be a namespace's name (a dynamic namespace's child name, "
                            "not its pattern)")
        return namespace if namespace.startswith("/") else "/" + namespace

    def _exists(self, nsp: str) -> bool:
        """Registered, or a dynamic child that had a client: _core would create any other name
        (and let clients join it), so operations on unknown namespaces are no-ops."""
        return nsp in self._known

    def emit(self, event: str, *args: Any, to: Union[None, str, Iterable[str]] = None,
             room: Union[None, str, Iterable[str]] = None,
             skip_sid: Union[None, str, Iterable[str]] = None, namespace: Optional[str] = None,
             callback: Optional[Callable] = None, timeout: Optional[float] = None,
             volatile: bool = False, local: bool = False, ignore_queue: bool = False) -> None:
        """Emits ``event`` with ``args`` (a single tuple argument is spread into several, as in
        python-socketio) to ``to``/``room`` (a sid, a room, or a list of them; default: everyone
        in the namespace) except ``skip_sid`` (a sid or room, or a list).

        ``callback`` receives the client's ack arguments; with ``timeout`` (seconds), when no ack
        came in time it is called once with a single :class:`sio.TimeoutError` instance instead.
        It is not called when the client disconnects first. On a broadcast (``to`` a room, a
        list, or nobody) it is called once per recipient of this node that answers, as
        python-socketio. (For one call with every recipient's ack, see :meth:`emit_with_acks`.)

        With a cluster (``redis=``) a broadcast reaches the sockets of every node; ``local=True``:
        this node's only (Node's ``io.local.emit``). ``ignore_queue`` (python-socketio's, to skip
        its message queue) changes nothing: sio's cluster has no queue to skip."""
        if len(args) == 1 and isinstance(args[0], tuple):
            args = args[0]
        nsp = self._nsp(namespace)
        target = to if to is not None else room
        if callback is not None:
            def done(err: Optional[str], values: tuple) -> None:
                if err is None:
                    callback(*values)
                elif err == "timeout":
                    callback(TimeoutError("no acknowledgement within %ss" % timeout))
                self._kick()

            if not isinstance(target, str) or not self._is_socket(nsp, target):
                return self._emit_each(nsp, event, args, target, skip_sid, timeout, done)
            return self._emit_ack(nsp, target, event, args, timeout, done)
        if not self._exists(nsp):
            return None
        rooms = room_names(target)
        skip = room_names(skip_sid)
        flags = (api.SIO_EMIT_VOLATILE if volatile else 0) | (api.SIO_EMIT_LOCAL if local else 0)
        sid = target if isinstance(target, str) else None
        if self._defer(nsp, sid, lambda: self._core.emit(nsp, event, args, rooms, skip, flags), route=False):
            return None
        self._core.emit(nsp, event, args, rooms, skip, flags)
        self._kick()
        return None

    def _is_socket(self, nsp: str, name: str) -> bool:
        """A sid of this node's (or connecting) rather than a room: decided on the server's
        thread (from another one: assumed, as before)."""
        if self._elsewhere():
            return True
        return (nsp, name) in self._pending or (self._exists(nsp) and self._core.connected(nsp, name))

    def _emit_each(self, nsp: str, event: str, args: tuple, target: Any, skip_sid: Any,
                   timeout: Optional[float], done: Callable[[Optional[str], tuple], None]) -> None:
        """A broadcast with a callback, as python-socketio: one emit asking for an ack per
        recipient of this node, the callback called once per answer."""
        if not self._exists(nsp):
            return None

        def each(err: Optional[str], sockets: list) -> None:
            for s in sockets:
                if self._core.connected(nsp, s["id"]):
                    self._core.emit_ack(nsp, s["id"], event, args, ms, done)
            self._kick()

        ms = 0 if timeout is None else max(1, int(timeout * 1000))
        rooms, skip = room_names(target), room_names(skip_sid)
        if self._elsewhere():
            self.call_soon_threadsafe(self._core.fetch_sockets, nsp, rooms, skip, each)
            return None
        self._core.fetch_sockets(nsp, rooms, skip, each)
        return None

    def _emit_ack(self, nsp: str, sid: str, event: str, args: tuple, timeout: Optional[float],
                  done: Callable[[Optional[str], tuple], None]) -> None:
        if not self._exists(nsp):
            raise KeyError("no socket %s in namespace %s" % (sid, nsp))
        ms = 0 if timeout is None else max(1, int(timeout * 1000))
        op = lambda: self._core.emit_ack(nsp, sid, event, args, ms, done)  # noqa: E731
        if self._defer(nsp, sid, op):
            return None
        op()
        self._kick()
        return None

    def emit_with_acks(self, event: str, *args: Any, callback: Callable[[Optional[str], list], Any],
                       timeout: Optional[float] = None, to: Union[None, str, Iterable[str]] = None,
                       room: Union[None, str, Iterable[str]] = None,
                       skip_sid: Union[None, str, Iterable[str]] = None,
                       namespace: Optional[str] = None, local: bool = False) -> None:
        """Broadcasts ``event`` with ``args`` as :meth:`emit` does (``to``/``room`` a sid, a room
        or a list, default everyone; ``skip_sid``; with a cluster, every node's sockets unless
        ``local=True``), asking every recipient for an acknowledgement: Node's
        ``io.timeout(ms).emit(event, ...args, (err, responses) => ...)``. ``callback(error,
        responses)`` is called once, on the server's thread: ``responses`` lists each recipient's
        first ack argument in arrival order, ``error`` is ``None`` when all answered, ``"timeout"``
        when ``timeout`` seconds passed first (the answers that came) or ``"closed"`` (the server
        stopped). ``timeout=None`` waits for every recipient."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            callback(None, [])
            return None
        target = to if to is not None else room
        rooms = room_names(target)
        skip = room_names(skip_sid)
        ms = 0 if timeout is None else max(1, int(timeout * 1000))
        flags = api.SIO_EMIT_LOCAL if local else 0
        if self._elsewhere():
            self.call_soon_threadsafe(self._core.emit_acks, nsp, event, args, rooms, skip, ms, callback, flags)
            return None
        self._core.emit_acks(nsp, event, args, rooms, skip, ms, callback, flags)
        self._kick()
        return None

    def send(self, data: Any, to: Union[None, str, Iterable[str]] = None,
             room: Union[None, str, Iterable[str]] = None,
             skip_sid: Union[None, str, Iterable[str]] = None, namespace: Optional[str] = None,
             callback: Optional[Callable] = None, timeout: Optional[float] = None,
             ignore_queue: bool = False) -> None:
        """Emits a ``message`` event."""
        return self.emit("message", data, to=to, room=room, skip_sid=skip_sid,
                         namespace=namespace, callback=callback, timeout=timeout)

    def call(self, event: str, *args: Any, to: Optional[str] = None, sid: Optional[str] = None,
             namespace: Optional[str] = None, timeout: float = 60):
        """Emits to one client and waits for its acknowledgement.

        In asyncio mode (``await server.serve()``) it returns an awaitable: ``await
        server.call(...)``. From a thread other than the server's (a handler of
        ``Server(async_handlers=True)``, a background task) it blocks and returns the ack
        arguments (one value, or a tuple of several). Raises :class:`sio.TimeoutError` or
        :class:`sio.DisconnectedError`."""
        if len(args) == 1 and isinstance(args[0], tuple):
            args = args[0]
        target = to or sid
        if not isinstance(target, str):
            raise ValueError("call() needs to= a single sid")
        nsp = self._nsp(namespace)

        def unpack(values: tuple) -> Any:
            return values[0] if len(values) == 1 else values if values else None

        def error(err: str) -> Exception:
            if err == "timeout":
                return TimeoutError("no acknowledgement within %ss" % timeout)
            return DisconnectedError("the client disconnected")

        if self._aio is not None and not self._elsewhere():
            fut = self._aio.create_future()

            def done(err: Optional[str], values: tuple) -> None:
                if fut.done():
                    return
                if err is None:
                    fut.set_result(unpack(values))
                else:
                    fut.set_exception(error(err))

            self._emit_ack(nsp, target, event, args, timeout, done)
            return fut
        if not self._elsewhere() and self._loop_thread is not None:
            raise RuntimeError("call() would block the server's own thread: use emit(callback=), "
                               "the asyncio mode or Server(async_handlers=True)")
        box: Dict[str, Any] = {}
        ready = threading.Event()

        def done_thread(err: Optional[str], values: tuple) -> None:
            box["err"], box["values"] = err, values
            ready.set()

        self.call_soon_threadsafe(self._emit_ack, nsp, target, event, args, timeout, done_thread)
        if not ready.wait(timeout + 5 if timeout else None):
            raise TimeoutError("no acknowledgement within %ss" % timeout)
        if box["err"] is not None:
            raise error(box["err"])
        return unpack(box["values"])

    # ---- rooms, sessions, disconnect ---------------------------------------------------------

    def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            raise KeyError("no socket %s in namespace %s" % (sid, nsp))
        if not self._defer(nsp, sid, lambda: self._core.enter_room(nsp, sid, room)):
            self._core.enter_room(nsp, sid, room)

    def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            return
        if not self._defer(nsp, sid, lambda: self._core.leave_room(nsp, sid, room)):
            self._core.leave_room(nsp, sid, room)

    def close_room(self, room: str, namespace: Optional[str] = None) -> None:
        """Makes every socket in ``room`` leave it."""
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            return
        if not self._defer(nsp, None, lambda: self._core.close_room(nsp, room)):
            self._core.close_room(nsp, room)

    def _select(self, op: int, room: Optional[str], to: Any, skip_sid: Any, namespace: Optional[str],
                close: bool = False) -> None:
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            return
        rooms, skip = room_names(to), room_names(skip_sid)
        if not self._defer(nsp, None, lambda: self._core.select(nsp, op, rooms, skip, room, close)):
            self._core.select(nsp, op, rooms, skip, room, close)
            self._kick()

    def sockets_join(self, room: Union[str, Iterable[str]], to: Union[None, str, Iterable[str]] = None,
                     skip_sid: Union[None, str, Iterable[str]] = None,
                     namespace: Optional[str] = None) -> None:
        """Makes the sockets in ``to`` (a sid, a room or a list; default: every socket of the
        namespace) but not in ``skip_sid`` join ``room`` (or each room of a list), on every node
        of a cluster: Node's ``io.in(to).socketsJoin(room)``."""
        for r in room_names(room) or ():
            self._select(0, r, to, skip_sid, namespace)

    def sockets_leave(self, room: Union[str, Iterable[str]], to: Union[None, str, Iterable[str]] = None,
                      skip_sid: Union[None, str, Iterable[str]] = None,
                      namespace: Optional[str] = None) -> None:
        """The same, leaving ``room``: Node's ``io.in(to).socketsLeave(room)``."""
        for r in room_names(room) or ():
            self._select(1, r, to, skip_sid, namespace)

    def disconnect_sockets(self, to: Union[None, str, Iterable[str]] = None,
                           skip_sid: Union[None, str, Iterable[str]] = None,
                           namespace: Optional[str] = None, close: bool = False) -> None:
        """Disconnects the sockets in ``to`` (default: every socket of the namespace) but not in
        ``skip_sid``, on every node of a cluster (``close=True``: their whole connections): Node's
        ``io.in(to).disconnectSockets(close)``."""
        self._select(2, None, to, skip_sid, namespace, close)

    def is_recovered(self, sid: str, namespace: Optional[str] = None) -> bool:
        """Connection state recovery: True when ``sid`` is a socket that came back (same id, rooms
        and session, its missed events replayed), already in its connect handler; False for a
        new one (and for an unknown sid)."""
        return (self._nsp(namespace), sid) in self._recovered

    def rooms(self, sid: str, namespace: Optional[str] = None) -> list:
        """The rooms ``sid`` is in (its own id first, then in join order). From another thread
        (a worker of ``async_handlers``), asked of the server's thread and waited for."""
        nsp = self._nsp(namespace)
        return self._on_loop(lambda: self._core.rooms(nsp, sid), nsp, sid) if self._exists(nsp) else []

    def disconnect(self, sid: str, namespace: Optional[str] = None, close: bool = False,
                   ignore_queue: bool = False) -> None:
        """Disconnects ``sid`` from the namespace (``close=True``: its whole connection).
        ``ignore_queue`` (python-socketio's, for its message queue) changes nothing here."""
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            return
        if not self._defer(nsp, sid, lambda: self._core.disconnect(nsp, sid, close)):
            self._core.disconnect(nsp, sid, close)
            self._kick()

    def connected(self, sid: str, namespace: Optional[str] = None) -> bool:
        nsp = self._nsp(namespace)
        return self._exists(nsp) and self._on_loop(lambda: self._core.connected(nsp, sid), nsp, sid)

    def get_environ(self, sid: str, namespace: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """The ``environ`` the connect handler of ``sid`` got (python-socketio's), made again from
        the core's handshake; ``None`` for a socket this node does not have."""
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            return None
        hs = self._on_loop(lambda: self._core.handshake(nsp, sid), nsp, sid)
        return None if hs is None else environ(hs[0], hs[1], nsp)

    def transport(self, sid: str, namespace: Optional[str] = None) -> Optional[str]:
        """``"polling"`` or ``"websocket"``: the transport ``sid``'s connection uses now
        (python-socketio's); ``None`` for a socket this node does not have."""
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            return None
        t = self._on_loop(lambda: self._core.transport(nsp, sid), nsp, sid)
        return {api.SIO_TRANSPORT_POLLING: "polling", api.SIO_TRANSPORT_WEBSOCKET: "websocket"}.get(t)

    def stats(self) -> Dict[str, Any]:
        """The core's counters (since the server started) and gauges (now), as a dict::

            {"sessions": {"polling": {3: n, 4: n}, "websocket": {3: n, 4: n}},  # open, by
                                                         # transport and Engine.IO protocol
             "sockets": {"/": n, "/chat": n},            # connected, per namespace
             "handshakes": n,                            # Engine.IO sessions opened
             "handshakes_refused": {0: n, ..., 5: n},    # by Engine.IO error code
             "upgrades": n,                              # polling -> WebSocket
             "packets_in" / "packets_out" / "bytes_in" / "bytes_out":
                 {"polling": n, "websocket": n},         # Engine.IO packets and their bytes
             "max_buffered_closes": n,                   # sessions closed past max_buffered
             "tls_handshakes": n, "tls_failures": n, "deflate_negotiated": n,
             "connections": n,                           # sockets connected
             "broadcasts": n,                            # emits to a namespace or rooms
             "acks_sent": n, "acks_answered": n, "acks_timed_out": n,  # emits awaiting an ack
             "acks_replied": n,                          # answers to the clients' acks
             "redis": None | {"up": bool, "published": n, "received": n}}

        The same numbers as ``metrics_path``'s Prometheus text."""
        return self._on_loop(self._core.stats)

    def socket_count(self, namespace: Optional[str] = None) -> int:
        """Sockets connected to the namespace (on this node)."""
        nsp = self._nsp(namespace)
        return self._on_loop(lambda: self._core.socket_count(nsp)) if self._exists(nsp) else 0

    def fetch_count(self, callback: Callable[[Optional[str], int], Any],
                    namespace: Optional[str] = None) -> None:
        """Counts the sockets connected to the namespace on every node of the cluster (the length
        of Node's ``fetchSockets()``; this node's alone without ``redis=``) and calls
        ``callback(error, count)`` once, on the server's thread, maybe before this returns.
        ``error`` is ``None``, ``"timeout"`` (a node did not answer in time: ``count`` is what
        answered), ``"unavailable"`` (Redis is not connected, or was lost meanwhile: what was
        counted, this node's sockets at least; the adapter reconnects by itself) or ``"closed"``
        (the server stopped). Raises ``ConnectionError`` once the server is closing."""
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            callback(None, 0)
            return None
        if self._elsewhere():
            self.call_soon_threadsafe(self._core.fetch_count, nsp, callback)
            return None
        self._core.fetch_count(nsp, callback)
        self._kick()
        return None

    def fetch_sockets(self, callback: Callable[[Optional[str], list], Any],
                      to: Union[None, str, Iterable[str]] = None,
                      skip_sid: Union[None, str, Iterable[str]] = None,
                      namespace: Optional[str] = None) -> None:
        """Gathers the sockets in ``to`` (a sid, a room or a list; default: every socket of the
        namespace) but not in ``skip_sid``, on every node of the cluster (Node's
        ``io.in(to).fetchSockets()``; this node's alone without ``redis=``), and calls
        ``callback(error, sockets)`` once, on the server's thread: each socket a dict ``{"id",
        "handshake": {"headers", "time", "address", "xdomain", "secure", "issued", "url",
        "query", "auth"}, "rooms", "data"}``, this node's first. ``error`` as :meth:`fetch_count`'s
        (``sockets``: what came)."""
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            callback(None, [])
            return None
        rooms, skip = room_names(to), room_names(skip_sid)
        if self._elsewhere():
            self.call_soon_threadsafe(self._core.fetch_sockets, nsp, rooms, skip, callback)
            return None
        self._core.fetch_sockets(nsp, rooms, skip, callback)
        self._kick()
        return None

    def all_rooms(self, callback: Callable[[Optional[str], list], Any],
                  namespace: Optional[str] = None) -> None:
        """Gathers every room of the namespace on every node of the cluster, each once, in no
        particular order (Node's ``allRooms()``; a socket's own id is a room; this node's alone
        without ``redis=``) and calls ``callback(error, rooms)`` (``rooms`` a list) once, on the
        server's thread. ``error`` as :meth:`fetch_count`'s (``rooms``: what came)."""
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            callback(None, [])
            return None
        if self._elsewhere():
            self.call_soon_threadsafe(self._core.all_rooms, nsp, callback)
            return None
        self._core.all_rooms(nsp, callback)
        self._kick()
        return None

    def server_side_emit(self, event: str, *args: Any, namespace: Optional[str] = None,
                         callback: Optional[Callable[[Optional[str], list], Any]] = None) -> None:
        """Sends the server-side event ``event`` with ``args`` (JSON values only: no bytes) to
        ``namespace`` (default ``"/"``) on every *other* node of the cluster, where
        :meth:`on_server_event` handlers (or Node's ``io.on(event, ...)`` listeners) get it: Node's
        ``serverSideEmit``. Without ``callback`` nothing is waited for. With one, each other node
        answers once and ``callback(error, responses)`` is called once, on the server's thread:
        ``responses`` is a list of the answers (``None`` for an answer without a value), ``error``
        ``None`` when every node answered, ``"timeout"`` (the cluster's requests timeout passed:
        the answers that came), ``"unavailable"`` (Redis is not connected, or was lost meanwhile)
        or ``"closed"`` (the server stopped).

        Raises ``RuntimeError`` without a cluster (``sio.Server(redis=...)``), ``ConnectionError``
        when Redis is not connected and no callback is given (from another thread: logged),
        ``ValueError`` for a reserved event name or bytes. A namespace this server does not have
        yet is created, as Node's ``io.of(name)``."""
        if not isinstance(event, str):
            raise TypeError("event must be a str")
        if api.sio_event_reserved(event, True):  # before "no cluster": the core's order
            raise ReservedEventError('"%s" is a reserved event name' % event)
        if not self._cluster:
            raise RuntimeError(_NO_CLUSTER)
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        nsp = self._nsp(namespace)

        def op() -> None:
            if not self._exists(nsp):
                self._register(nsp)
            self._core.server_emit(nsp, event, args, callback)

        if self._elsewhere():
            def queued() -> None:
                try:
                    op()
                except ConnectionError:
                    if callback is None:
                        raise
                    callback("closed", [])

            self.call_soon_threadsafe(queued)
            return None
        op()
        self._kick()
        return None

    def get_session(self, sid: str, namespace: Optional[str] = None) -> dict:
        return self._sessions.setdefault((self._nsp(namespace), sid), {})

    def save_session(self, sid: str, session: dict, namespace: Optional[str] = None) -> None:
        self._sessions[(self._nsp(namespace), sid)] = session

    @contextlib.contextmanager
    def session(self, sid: str, namespace: Optional[str] = None):
        """``with server.session(sid) as s: s["name"] = ...``"""
        s = self.get_session(sid, namespace)
        yield s
        self.save_session(sid, s, namespace)

    # ---- static files --------------------------------------------------------------------------

    def static(self, prefix: str, path: "Union[str, os.PathLike[str]]",
               content_type: Optional[str] = None, index: Optional[str] = None) -> None:
        """Serves a directory's files under URL ``prefix`` (``"/"``, ``"/assets/"`` or ``"/assets"``,
        the same mount), or one file at exactly the URL path ``prefix`` (``static("/", "app.html")``,
        with ``content_type`` or its extension's type), as python-engineio's ``static_files``:
        GET and HEAD, MIME types, ETag/304, ``index`` (default ``index.html``) for a directory,
        path traversal refused (403). The Socket.IO path keeps precedence; a request a mount would
        answer 404 or 405 goes to the WSGI/ASGI app when there is one (:mod:`sio.apps`)."""
        self._core.static(prefix, os.fspath(path), content_type=content_type, index=index)

    # ---- a bare Engine.IO endpoint -------------------------------------------------------------

    def engine_endpoint(self, path: str, on_message: Callable[[str, Union[str, bytes]], Any]) -> None:
        """Serves a bare Engine.IO endpoint (no Socket.IO layer) at ``path`` with the same options;
        ``on_message(sid, data)`` gets text as str and binary as bytes. One per server."""
        self._core.engine(path, on_message)

    def engine_send(self, sid: str, data: Union[str, bytes]) -> bool:
        """Sends a text (str) or binary (bytes-like) message to an Engine.IO session."""
        sent = self._core.engine_send(sid, data)
        self._kick()
        return sent

    # ---- timers and tasks --------------------------------------------------------------------

    def call_later(self, delay: float, fn: Callable, *args: Any) -> Timer:
        """Calls fn(*args) on the server's thread after ``delay`` seconds; returns a
        :class:`sio.Timer` (``.cancel()``). Server thread only (or before ``run()``)."""
        timer = self._core.call_later(delay, functools.partial(fn, *args) if args else fn)
        self._kick()
        return timer

    def start_background_task(self, target: Callable, *args: Any, **kwargs: Any):
        """Runs target(*args, **kwargs) in a daemon thread (a task for a coroutine function in
        asyncio mode). Server calls from it are queued onto the server's thread."""
        if self._aio is not None and inspect.iscoroutinefunction(target):
            return self._aio.create_task(target(*args, **kwargs))
        t = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
        t.start()
        return t

    @staticmethod
    def sleep(seconds: float = 0) -> None:
        import time

        time.sleep(seconds)

    # ---- running -----------------------------------------------------------------------------

    def listen(self, host: str = "127.0.0.1", port: int = 5000, **tls: Any) -> int:
        """Binds and listens; returns the bound port (``port=0`` picks one). May be called more
        than once (one server on several ports, plain and TLS side by side).

        TLS (HTTPS and WSS on this port): ``certfile=`` (PEM certificate chain) and ``keyfile=``
        (its PEM key), and optionally ``ca_certs=`` (PEM CAs whose client certificates are then
        required); uvicorn's spellings ``ssl_certfile=``, ``ssl_keyfile=``, ``ssl_ca_certs=`` are
        the same. The files are read now: a missing file, or a key that does not match the
        certificate, raises :class:`sio.Error` naming it. TLS 1.2 at least, ALPN ``http/1.1``."""
        if self._core_log.wired:  # the loggers' levels as they are now
            self._core.set_log(self._core_log.level(), self._core_log)
        cert, key, ca = _tls_files(tls)
        if self._cores is not None:
            return self._listen_workers(host, port, cert, key, ca)
        if cert:
            port = self._core.listen_tls(host, port, cert, key, ca)
        else:
            port = self._core.listen(host, port)
        if "*" in self._keys and self._keys["*"] is None:
            self._keys["*"] = self._core.dynamic("^/", "*")
        return port

    def _listen_workers(self, host: str, port: int, cert: Optional[str], key: Optional[str],
                        ca: Optional[str]) -> int:
        """Starts the workers (``workers=N``), each listening on host:port; worker 0's port."""
        cores = self._cores
        assert cores is not None
        if cores.started:
            raise RuntimeError("Server(workers=N): listen() once (every worker listens on that port)")
        if "*" in self._keys and self._keys["*"] is None:  # before the workers copy the namespaces
            self._keys["*"] = self._core.dynamic("^/", "*")
        bound: List[int] = []

        def listen(core: Any) -> int:
            p = bound[0] if bound else port  # port 0: the others take worker 0's
            p = core.listen_tls(host, p, cert, key, ca) if cert else core.listen(host, p)
            bound.append(p)
            return p

        return cores.start(self._core_kw, listen)

    @property
    def port(self) -> Optional[int]:
        return self._core.port()

    @property
    def workers(self) -> int:
        """The number of workers (event loops, each on its own thread) this server runs."""
        return self._nworkers

    def worker_index(self) -> Optional[int]:
        """The worker whose loop thread calls this (0 without workers on the server's thread),
        ``None`` on any other thread."""
        if self._cores is None:
            return None if self._elsewhere() else 0
        return self._cores.here()

    def run(self, host: Optional[str] = None, port: Optional[int] = None,
            handle_signals: bool = True, **tls: Any) -> None:
        """Listens (unless ``listen()`` was called) and serves until ``stop()``, SIGINT or
        SIGTERM. The GIL is released while waiting for the network. ``certfile=``/``keyfile=``
        (or ``ssl_certfile=``/``ssl_keyfile=``, and ``ca_certs=``): HTTPS/WSS, see :meth:`listen`."""
        if self._core.port() is None:
            self.listen(host or "127.0.0.1", 5000 if port is None else port, **tls)
        elif tls:
            raise ValueError("TLS files go to listen() when it is called before run()")
        self._loop_thread = threading.get_ident()
        cores = self._cores
        if cores is not None:  # worker 0 runs on this thread (listen() may have been elsewhere)
            for t, i in list(cores.index.items()):
                if i == 0:
                    del cores.index[t]
            cores.index[self._loop_thread] = 0
        try:
            (cores.owner if cores is not None else self._core).run(handle_signals=handle_signals)
        finally:
            self._loop_thread = None

    def set_debug(self, categories: Union[str, int, None]) -> None:
        """Debug logging by category, as the environment variable ``SIO_DEBUG`` (read when the
        server is created) sets it: ``"engine,socket,nsp,adapter,redis,http"`` (any of them),
        ``"*"`` for all, ``None`` or ``""`` for none; Node's ``DEBUG`` names are understood too
        (``"engine*,socket.io*"``). One record per event (handshake, upgrade, ping timeout, close
        reason, packets in and out as type, namespace, event name and length, namespace
        connections, adapter requests, Redis links and messages, HTTP requests with their
        status) to logger ``"sio.<category>"`` at DEBUG with ``record.sio_component``; when that
        logger does not take DEBUG records they are the core's stderr lines. Off, a category
        costs nothing. ValueError for an unknown category."""
        self._core.set_debug(categories)
        self._core.set_log(self._core_log.level(), self._core_log)

    def instrument(self, auth: Any = None, mode: str = "development", read_only: bool = False,
                   server_id: Optional[str] = None, namespace: str = "/admin",
                   server_stats_interval: float = 2) -> None:
        """Serves the Socket.IO Admin UI (npm ``@socket.io/admin-ui`` 0.5's protocol, in the core)
        on ``namespace``. ``auth``: ``False`` for none, or ``{"username": ..., "password": ...}``
        where the password is a bcrypt hash (``$2a$``/``$2b$``/``$2y$``, e.g. from
        ``bcrypt.hashpw``) or, as python-socketio has it, in clear (hashed at once: sio keeps
        only the hash); a refused login gets ``invalid credentials``. Lists of logins and
        callables (python-socketio's) are refused with ``ValueError``. ``mode``: ``"development"`` reports every
        socket, room change and event as it happens; ``"production"`` only ``server_stats``.
        ``read_only`` hides and ignores join, leave, disconnect and emit. Once per server."""
        if auth is None:
            raise ValueError("instrument(): auth must be given: False (no auth) or "
                             "{'username': ..., 'password': <bcrypt hash>}")
        username = password = None
        if auth is not False:
            if (not isinstance(auth, dict) or set(auth) != {"username", "password"}
                    or not all(isinstance(v, str) for v in auth.values())):
                raise ValueError("instrument(): auth is False or {'username': ..., 'password': "
                                 "<bcrypt hash>} (lists of logins and callables are not supported)")
            username, password = auth["username"], auth["password"]
            if not password.startswith(("$2a$", "$2b$", "$2y$")):
                password = self._core.bcrypt(password)
        if mode not in ("development", "production"):
            raise ValueError("instrument(): mode is 'development' or 'production'")
        self._core.instrument(namespace, username, password, bool(read_only), server_id,
                              mode == "production", int(server_stats_interval * 1000))

    def reload_tls(self) -> None:
        """Re-reads the certificate, key and CA files of every TLS listener (after a renewal):
        new connections get the new certificate, established ones keep theirs. On an error
        (:class:`sio.Error`) nothing changes. Safe from any thread."""
        cores = self._cores
        if cores is not None and cores.started:  # every worker's listener, each on its loop
            here = cores.here()
            for i, core in enumerate(cores.cores):
                if i == here:
                    core.tls_reload()
                else:
                    self._wait_on(lambda run, i=i: cores.post(i, run), core.tls_reload)
            return
        self._on_loop(self._core.tls_reload)

    def shutdown(self) -> None:
        """python-socketio's name for :meth:`stop`: disconnects every client and stops serving."""
        self.stop()

    def stop(self) -> None:
        """Stops the server: every client is disconnected ("server shutting down"). Safe from any
        thread and from handlers."""
        self._core.stop()

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        return self._closed_event.wait(timeout)


def _tls_files(kw: Dict[str, Any]) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """(certfile, keyfile, ca_certs) from run()/listen() keywords, in eventlet's or uvicorn's
    spelling; TypeError for any other keyword, ValueError for a certificate without its key."""
    names = {"certfile": 0, "ssl_certfile": 0, "keyfile": 1, "ssl_keyfile": 1, "ca_certs": 2, "ssl_ca_certs": 2}
    out: List[Optional[str]] = [None, None, None]
    for k, v in kw.items():
        if k not in names:
            raise TypeError("unexpected keyword argument %r" % k)
        if v is not None:
            out[names[k]] = os.fspath(v)
    if (out[0] is None) != (out[1] is None):
        raise ValueError("TLS needs both certfile and keyfile")
    return out[0], out[1], out[2]
