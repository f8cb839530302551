"""The Socket.IO client: :class:`Client` (threads) and :class:`AsyncClient` (asyncio), in
python-socketio's vocabulary, over the C core's client (core/include/sio_client.h: a manager with
one socket per namespace; reconnection with backoff, a send buffer while disconnected, connection
state recovery) through ``sio._core.ClientCore`` (bindings/python/client.c).

Threads (:class:`Client`): every threaded client of the process shares one loop thread
("sio-client-loop") that runs the core (one libuv loop, ``_core.ClientLoop``, the GIL released
while it waits): it is started by the first ``connect()`` and ends when the last client's
connection is closed (a later ``connect()`` starts a new one). Each client has a handler thread
of its own on which every handler and ``emit(callback=...)`` callback runs, one at a time, in
the order the server sent them. ``emit``, ``call``, ``send``, ``disconnect`` and ``shutdown`` may
be called from any thread (handlers included): they are handed to the loop thread
(``ClientLoop.wakeup()``, a uv_async) and wait for it, so their errors are raised in the caller.
A handler may ``call()``: the answer is taken by the loop thread, not the handler thread.

asyncio (:class:`AsyncClient`): every AsyncClient on one asyncio loop shares one core loop
(``_core.ClientLoop``) driven by that asyncio loop (libuv's backend fd watched once with
``add_reader``, as ``Server.serve()``); it is dropped when the last of them is closed. Coroutine
handlers run as tasks, plain ones are called on the asyncio thread. A loop per client cost an
epoll fd, an eventfd, libuv's buffers: about 40 KB of RSS per idle client.

Differences from python-socketio (on purpose):
- Reconnection is the core's (socket.io-client's algorithm and defaults). While reconnecting,
  ``emit`` does not raise ``BadNamespaceError``: the event is kept in the core's send buffer and
  sent once the namespace connects again (``BadNamespaceError`` is for a namespace that was never
  asked for). ``emit(..., volatile=True)`` drops it instead.
- ``call()`` ends with ``sio.exceptions.DisconnectedError`` (also a ``TimeoutError``, for code
  that catches that) as soon as the connection is lost, instead of waiting for its timeout.
- Extra handler names, local events never sent by the server: ``reconnect_attempt(attempt)``,
  ``reconnect(attempt)``, ``reconnect_error(message)``, ``reconnect_failed()`` (socket.io-client's
  Manager events: one connection for every namespace, so registered on any namespace, and a
  namespace with only these handlers is not connected to). They are not given to ``'*'``.
- ``recovered(namespace='/')``: whether the last (re)connection restored the session (a server with
  connection state recovery); such a server adds each event's offset as its last argument, which
  handlers receive (as socket.io-client's and python-socketio's do).
- ``handle_sigint`` is accepted and changes nothing: the client's threads are daemons and
  ``wait()`` waits in slices, so Ctrl-C reaches the main thread as KeyboardInterrupt.
- The ``disconnect`` handler gets a reason when it takes one (python-socketio 5.12+):
  ``Client.reason.CLIENT_DISCONNECT`` / ``SERVER_DISCONNECT`` / ``TRANSPORT_ERROR``.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import inspect
import logging
import os
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple, Union

from . import _core
from .exceptions import BadNamespaceError, DisconnectedError, TimeoutError

logger = logging.getLogger("sio.client")

Handler = Callable[..., Any]
_LOCAL_EVENTS = ("connect", "connect_error", "disconnect", "__disconnect_final", "reconnect_attempt",
                 "reconnect", "reconnect_error", "reconnect_failed")
_FINAL_REASONS = ("io server disconnect", "io client disconnect")
_MANAGER_EVENTS = ("reconnect_attempt", "reconnect", "reconnect_error", "reconnect_failed")


class CallDisconnectedError(DisconnectedError, TimeoutError):
    """``call()``'s answer cannot come any more: the connection was lost after the event was sent.
    Both python-socketio's ``DisconnectedError`` and its ``TimeoutError`` (which it raises then,
    after the timeout)."""


class _Reason:
    """python-socketio's ``Client.reason``: what a ``disconnect`` handler is given."""

    CLIENT_DISCONNECT = "client disconnect"
    SERVER_DISCONNECT = "server disconnect"
    TRANSPORT_ERROR = "transport error"


def _reason_of(core_reason: str) -> str:
    if core_reason == "io client disconnect":
        return _Reason.CLIENT_DISCONNECT
    if core_reason == "io server disconnect":
        return _Reason.SERVER_DISCONNECT
    return _Reason.TRANSPORT_ERROR


def _args_of(data: Any) -> Tuple[Any, ...]:
    """python-socketio's rule: a tuple is several arguments, None none, anything else one."""
    if isinstance(data, tuple):
        return data
    return () if data is None else (data,)


def _result_of(args: Tuple[Any, ...]) -> Any:
    """call()'s value: None, the one value, or a tuple of several."""
    return args if len(args) > 1 else args[0] if args else None


def _accepts(handler: Handler, nargs: int) -> bool:
    """Whether handler can take nargs positional arguments (a disconnect handler without the
    reason of python-socketio 5.12+)."""
    try:
        inspect.signature(handler).bind(*([None] * nargs))
        return True
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): assume it does
        return True


def _split_url(url: str) -> Tuple[str, Optional[str]]:
    """(url for the core, namespace in its path or None): python-socketio connects to the URL's
    host and ignores its path; socket.io-client's io("http://h/chat") means namespace /chat. The
    path is only used when it is not the root, and only when no namespaces were given."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url, None
    host, slash, tail = rest.partition("/")
    path = tail.split("?", 1)[0].split("#", 1)[0]
    query = tail.partition("?")[2] if slash else rest.partition("?")[2]
    host = host.split("?", 1)[0]
    base = "%s://%s" % (scheme, host) + ("/?" + query if query else "")
    return base, ("/" + path.rstrip("/")) if path.strip("/") else None


class ClientNamespace:
    """python-socketio's class-based client namespace: methods ``on_<event>`` handle events of
    ``namespace``; ``emit``/``send``/``call``/``disconnect`` default to it."""

    def __init__(self, namespace: Optional[str] = None) -> None:
        self.namespace = namespace or "/"
        self.client: Any = None

    def is_asyncio_based(self) -> bool:
        return False

    def _set_client(self, client: Any) -> None:
        self.client = client

    def trigger_event(self, event: str, *args: Any) -> Any:
        handler = getattr(self, "on_" + (event or ""), None)
        if handler is None:
            return None
        if event == "disconnect" and args and not _accepts(handler, len(args)):
            args = args[:-1]
        return handler(*args)

    def emit(self, event: str, data: Any = None, namespace: Optional[str] = None,
             callback: Optional[Handler] = None) -> Any:
        return self.client.emit(event, data=data, namespace=namespace or self.namespace, callback=callback)

    def send(self, data: Any, room: Optional[str] = None, namespace: Optional[str] = None,
             callback: Optional[Handler] = None) -> Any:
        return self.client.send(data, namespace=namespace or self.namespace, callback=callback)

    def call(self, event: str, data: Any = None, namespace: Optional[str] = None,
             timeout: Optional[float] = None) -> Any:
        return self.client.call(event, data=data, namespace=namespace or self.namespace,
                                timeout=60 if timeout is None else timeout)

    def disconnect(self) -> Any:
        return self.client.disconnect()


class AsyncClientNamespace(ClientNamespace):
    """The asyncio version: ``on_<event>`` methods may be coroutines; ``emit``, ``send``, ``call``
    and ``disconnect`` are awaitable."""

    def is_asyncio_based(self) -> bool:
        return True

    async def trigger_event(self, event: str, *args: Any) -> Any:
        r = super().trigger_event(event, *args)
        return await r if inspect.isawaitable(r) else r


class _BaseClient:
    """What Client and AsyncClient share: handlers, options, and the core's callbacks (which run on
    the core's thread: the loop thread, or the asyncio thread), which update the state and hand
    handlers to ``_post()``."""

    reserved_events = ["connect", "connect_error", "disconnect", "__disconnect_final"]
    reason = _Reason

    def __init__(self, reconnection: bool = True, reconnection_attempts: int = 0,
                 reconnection_delay: float = 1, reconnection_delay_max: float = 5,
                 randomization_factor: float = 0.5, logger: Union[bool, logging.Logger] = False,
                 serializer: str = "default", json: Any = None, handle_sigint: bool = True,
                 **kwargs: Any) -> None:
        if serializer not in ("default", "json", "msgpack"):
            raise ValueError("serializer: 'default' or 'msgpack'")
        self.reconnection = reconnection
        self.reconnection_attempts = reconnection_attempts
        self.reconnection_delay = reconnection_delay
        self.reconnection_delay_max = reconnection_delay_max
        self.randomization_factor = randomization_factor
        self.handle_sigint = handle_sigint
        self.serializer = serializer
        # python-socketio's: a Logger, or True for INFO lines on this module's logger
        self.logger = logger if isinstance(logger, logging.Logger) else globals()["logger"]
        if logger is True and self.logger.level == logging.NOTSET:
            self.logger.setLevel(logging.INFO)
        self._options = self._core_options(kwargs)
        self.handlers: Dict[str, Dict[str, Handler]] = {}
        self.namespace_handlers: Dict[str, ClientNamespace] = {}
        self.connection_url: Optional[str] = None
        self.connection_headers: Any = None
        self.connection_auth: Any = None
        self.connection_transports: Optional[List[str]] = None
        self.connection_namespaces: List[str] = []
        self.socketio_path: Optional[str] = None
        self.sid: Optional[str] = None  # the Engine.IO session id (python-socketio's)
        self.connected = False
        self.namespaces: Dict[str, Optional[str]] = {}  # connected namespace -> its socket id
        self.failed_namespaces: List[str] = []
        self._core: Optional[_core.ClientCore] = None
        self._final: Set[str] = set()  # namespaces that will not reconnect
        self._recovered: Dict[str, bool] = {}
        self._open = False  # the Engine.IO connection is open
        # the last connection attempt or connection failed (a connect_error then is not a refusal)
        self._transport_failed = False
        self._open_error: Optional[str] = None  # the first connection attempt failed (and why)
        self._retry = False
        self._gave_up = False
        self._errored: Set[str] = set()  # namespaces told of the failed connection (connect_error)
        self._failing = False  # connect() gave up: no more connect_error for this attempt
        self._orphans: List[Callable[[], None]] = []  # loop releases of cores closed as connect() failed

    @staticmethod
    def _core_options(kw: Dict[str, Any]) -> Dict[str, Any]:
        """python-socketio's Engine.IO keywords, and sio's (the core's names), as ClientCore's."""
        opts: Dict[str, Any] = {}
        if "request_timeout" in kw:
            opts["timeout_ms"] = int(kw.pop("request_timeout") * 1000)
        if "ssl_verify" in kw:
            opts["tls_verify"] = bool(kw.pop("ssl_verify"))
        for name in ("tls_ca_file", "max_payload", "send_buffer_max", "send_buffer_bytes", "eio", "upgrade",
                     "timeout_ms"):
            if name in kw:
                opts[name] = kw.pop(name)
        for ignored in ("http_session", "websocket_extra_options", "engineio_logger", "timestamp_requests"):
            kw.pop(ignored, None)  # python-socketio's, no meaning here
        if kw:
            raise TypeError("unexpected keyword arguments: %s" % ", ".join(sorted(kw)))
        return opts

    def is_asyncio_based(self) -> bool:
        return False

    # ---- handlers ----------------------------------------------------------------------------

    def on(self, event: str, handler: Optional[Handler] = None, namespace: Optional[str] = None) -> Any:
        """Registers handler for event (``'*'``: any event; namespace ``'*'``: any namespace); as
        a decorator without handler."""
        ns = namespace or "/"

        def set_handler(h: Handler) -> Handler:
            self.handlers.setdefault(ns, {})[event] = h
            return h

        if handler is None:
            return set_handler
        set_handler(handler)
        return None

    def event(self, *args: Any, **kwargs: Any) -> Any:
        """Decorator: the function's name is the event (``@client.event`` or
        ``@client.event(namespace='/chat')``)."""
        if len(args) == 1 and not kwargs and callable(args[0]):
            return self.on(args[0].__name__)(args[0])

        def set_handler(h: Handler) -> Handler:
            return self.on(h.__name__, *args, **kwargs)(h)  # type: ignore[no-any-return]

        return set_handler

    def register_namespace(self, namespace_handler: ClientNamespace) -> None:
        if not isinstance(namespace_handler, ClientNamespace):
            raise ValueError("Not a namespace instance")
        if self.is_asyncio_based() != namespace_handler.is_asyncio_based():
            raise ValueError("Not a valid namespace class for this client")
        namespace_handler._set_client(self)
        self.namespace_handlers[namespace_handler.namespace] = namespace_handler

    def get_sid(self, namespace: Optional[str] = None) -> Optional[str]:
        return self.namespaces.get(namespace or "/")

    def recovered(self, namespace: Optional[str] = None) -> bool:
        """Whether the namespace's last connection restored its session (connection state
        recovery: the events missed meanwhile were delivered)."""
        return self._recovered.get(namespace or "/", False)

    def _find_handler(self, event: str, nsp: str, args: Tuple[Any, ...]) -> Tuple[Any, Tuple[Any, ...]]:
        """python-socketio's resolution: handlers[nsp][event], handlers[nsp]['*'],
        handlers['*'][event], handlers['*']['*'], then namespace objects."""
        catch_all = event not in _LOCAL_EVENTS
        if nsp in self.handlers:
            hs = self.handlers[nsp]
            if event in hs:
                return hs[event], args
            if catch_all and "*" in hs:
                return hs["*"], (event, *args)
        elif "*" in self.handlers:
            hs = self.handlers["*"]
            if event in hs:
                return hs[event], (nsp, *args)
            if catch_all and "*" in hs:
                return hs["*"], (event, nsp, *args)
        if nsp in self.namespace_handlers:
            ns = self.namespace_handlers[nsp]
            return ns.trigger_event, (event, *args)
        if "*" in self.namespace_handlers:
            ns = self.namespace_handlers["*"]
            return ns.trigger_event, (event, nsp, *args)
        return None, args

    def _handler_call(self, event: str, nsp: str, args: Tuple[Any, ...]) -> Optional[Callable[[], Any]]:
        """A no-argument callable running the handler of event, or None when there is none."""
        handler, hargs = self._find_handler(event, nsp, args)
        if handler is None:
            return None
        if event == "disconnect" and hargs and not _accepts(handler, len(hargs)):
            hargs = hargs[:-1]  # a handler of python-socketio before 5.12: no reason
        return lambda: handler(*hargs)

    def _post(self, what: str, run: Callable[[], Any], done: Optional[Callable[[Any], None]] = None) -> None:
        raise NotImplementedError

    def _trigger(self, event: str, nsp: str, *args: Any) -> None:
        run = self._handler_call(event, nsp, args)
        if run is not None:
            self._post("the %s handler of %s" % (event, nsp), run)

    def _trigger_manager(self, event: str, *args: Any) -> None:
        """The manager's events (one connection for every namespace): the handlers registered for
        them on any namespace, each once."""
        for nsp, hs in list(self.handlers.items()):
            handler = hs.get(event)
            if handler is not None:
                self._post("the %s handler" % event, functools.partial(handler, *args))

    def _changed(self) -> None:
        """The state a waiting connect() looks at changed."""

    # ---- connecting ------------------------------------------------------------------------

    def _plan(self, url: str, headers: Any, auth: Any, transports: Any, namespaces: Any,
              socketio_path: str) -> Dict[str, Any]:
        """Records the connection's parameters (python-socketio's attributes) and returns
        ClientCore's keywords."""
        if callable(url):
            url = url()
        core_url, url_nsp = _split_url(url)
        self.connection_url, self.connection_headers, self.connection_auth = url, headers, auth
        self.connection_transports = transports
        self.socketio_path = socketio_path
        if namespaces is None:
            # a namespace with handlers for the manager's events only is not one to connect
            found = {n for n, hs in self.handlers.items() if set(hs) - set(_MANAGER_EVENTS)}
            found |= set(self.namespace_handlers)
            found.discard("*")
            namespaces = sorted(found) or [url_nsp or "/"]
        elif isinstance(namespaces, str):
            namespaces = [namespaces]
        self.connection_namespaces = list(namespaces)
        self.namespaces = {}
        self.failed_namespaces = []
        self._final = set()
        self._recovered = {}
        self._open = False
        self._transport_failed = False
        self._open_error = None
        self._gave_up = False
        self._errored = set()
        self._failing = False
        hdrs = headers() if callable(headers) else headers
        path = "/" + (socketio_path or "socket.io").strip("/") + "/"
        opts = dict(self._options)
        opts.update(path=path, reconnection=bool(self.reconnection),
                    reconnection_attempts=int(self.reconnection_attempts or 0),
                    reconnection_delay_ms=int(self.reconnection_delay * 1000),
                    reconnection_delay_max_ms=int(self.reconnection_delay_max * 1000),
                    randomization_factor=float(self.randomization_factor),
                    parser="msgpack" if self.serializer == "msgpack" else "default")
        if transports is not None:
            opts["transports"] = [transports] if isinstance(transports, str) else list(transports)
        if hdrs:
            opts["headers"] = ["%s: %s" % (k, v) for k, v in dict(hdrs).items()]
        return dict(url=core_url, options=opts)

    def _auth(self) -> Any:
        auth = self.connection_auth
        return auth() if callable(auth) else auth

    def _release_loop(self) -> Callable[[], None]:
        """What ends this client's share of its loop (called once its core is closed)."""
        raise NotImplementedError

    def _new_core(self, plan: Dict[str, Any], loop: _core.ClientLoop) -> _core.ClientCore:
        """Makes the core on loop's thread and sets ``_core``; the share of the loop is released
        when it fails, or, once made, when the core is closed (``_on_closed``)."""
        release = self._release_loop()
        try:
            core = _core.ClientCore(plan["url"], self, loop=loop, **plan["options"])
        except BaseException:
            release()
            raise
        try:
            auth = self._auth()
            for nsp in self.connection_namespaces:
                core.socket(nsp, auth)
                core.connect(nsp)
        except BaseException:
            self._orphans.append(release)  # _on_closed of a core never handed out
            core.close()
            raise
        self._core = core
        return core

    def _resolved(self) -> bool:
        return len(self.namespaces) + len(self.failed_namespaces) >= len(self.connection_namespaces)

    def _connect_failure(self) -> Optional[str]:
        """Why connect() fails now (None: not failed, or not yet)."""
        if self._open_error is not None and not (self._retry and self.reconnection):
            return self._open_error
        if self._gave_up:
            return self._open_error or "Connection error"
        if self._transport_failed and not self._open and not self.reconnection:
            return "Connection error: the connection was lost"  # nothing will bring it back
        if self.failed_namespaces:
            return "One or more namespaces failed to connect: " + ", ".join(self.failed_namespaces)
        return None

    # ---- the core's callbacks (on the core's thread) -----------------------------------------

    def _on_open(self) -> None:
        self.logger.info("Engine.IO connection established")
        self._open = True
        self._transport_failed = False
        core = self._core
        self.sid = core.engine()[0] if core is not None else None
        self._changed()

    def _on_close(self, reason: str) -> None:
        self._open = False
        if reason != "forced close":  # forced: the last socket left (a refusal closes so too)
            self._transport_failed = True
        self.sid = None
        self._changed()

    def _on_error(self, code: int, detail: str) -> None:
        self._transport_failed = True
        if not self._open and self._open_error is None:
            self._open_error = "Connection error: %s" % detail
        self._changed()

    def _on_reconnect_attempt(self, attempt: int) -> None:
        core = self._core
        if callable(self.connection_auth) and core is not None:  # python-socketio asks each time
            auth = self._auth()
            for nsp in self.connection_namespaces:
                if nsp not in self._final:
                    core.socket(nsp, auth)
        self._trigger_manager("reconnect_attempt", attempt)

    def _on_reconnect(self, attempt: int) -> None:
        self.logger.info("Reconnection successful (attempt %d)", attempt)
        self._trigger_manager("reconnect", attempt)

    def _on_reconnect_error(self, code: int, detail: str) -> None:
        self._transport_failed = True
        self._trigger_manager("reconnect_error", detail)

    def _on_reconnect_failed(self) -> None:
        self._gave_up = True
        self._trigger_manager("reconnect_failed")
        for nsp in self.connection_namespaces:
            if nsp not in self._final:
                self._final.add(nsp)
                self._trigger("__disconnect_final", nsp)
        self._finish()

    def _on_connect(self, nsp: str) -> None:
        core = self._core
        if core is None:
            return
        sid, _, recovered, _ = core.socket_info(nsp)
        self.logger.info("Namespace %s is connected%s", nsp, " (recovered)" if recovered else "")
        self.namespaces[nsp] = sid
        self._recovered[nsp] = recovered
        self._final.discard(nsp)
        if nsp in self.failed_namespaces:
            self.failed_namespaces.remove(nsp)
        if all(n in self.namespaces for n in self.connection_namespaces):
            self.connected = True
        self._trigger("connect", nsp)
        self._changed()

    def _on_connect_error(self, nsp: str, message: str, data: Any) -> None:
        self.logger.info("Connection to namespace %s failed: %s", nsp, message)
        if not self._transport_failed:  # the server refused the namespace: no retry (socket.io-client's way)
            payload: Any = {"message": message}
            if data is not None:
                payload["data"] = data
            if nsp not in self.failed_namespaces:
                self.failed_namespaces.append(nsp)
            self.namespaces.pop(nsp, None)
            self._final.add(nsp)
            self._trigger("connect_error", nsp, payload)
            self._changed()
            if self.connected and not self.namespaces:
                self.connected = False
            return
        if not self._failing:  # the connection failed: retried when enabled
            self._errored.add(nsp)
            self._trigger("connect_error", nsp, message)

    def _report_failure(self) -> None:
        """connect() fails: python-socketio has called every namespace's connect_error handler
        with the reason when the connection could not be made (the core may not have yet)."""
        if not self.failed_namespaces and not self._failing:
            why = self._open_error or "Connection error"
            for nsp in self.connection_namespaces:
                if nsp not in self._errored:
                    self._trigger("connect_error", nsp, why)
        self._failing = True

    def _on_disconnect(self, nsp: str, reason: str) -> None:
        self.logger.info("Namespace %s is disconnected: %s", nsp, reason)
        self.namespaces.pop(nsp, None)
        if not self.namespaces:
            self.connected = False
        final = reason in _FINAL_REASONS or not self.reconnection
        self._trigger("disconnect", nsp, _reason_of(reason))
        if final and nsp not in self._final:
            self._final.add(nsp)
            self._trigger("__disconnect_final", nsp)
        self._changed()
        if all(n in self._final for n in self.connection_namespaces):
            self._finish()

    def _on_event(self, nsp: str, event: str, args: Tuple[Any, ...], ack_id: Optional[int]) -> None:
        run = self._handler_call(event, nsp, args)
        if run is None:
            if ack_id is not None:
                self._send_ack(nsp, ack_id, None)
            return
        done = None if ack_id is None else (lambda result: self._send_ack(nsp, ack_id, result))
        self._post("the handler of event %r" % event, run, done)

    def _send_ack(self, nsp: str, ack_id: int, result: Any) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """No namespace will connect again: the core is closed (the loop ends)."""
        core = self._core
        if core is not None and not core.closed:
            core.close()

    def _on_closed(self) -> None:
        if self._core is None and self._orphans:  # a core connect() closed before handing it out
            self._orphans.pop(0)()
            return
        self._closed_core()
        release = self._release_loop()
        self._detach()
        release()

    def _detach(self) -> None:
        """The core is gone: ``_core`` None, and whoever waits for that told."""
        self._core = None

    def _closed_core(self) -> None:
        """The core's manager is freed: the state left, the handlers still due."""
        self.connected = False
        self._open = False
        self.namespaces = {}
        for nsp in self.connection_namespaces:  # closed while reconnecting: that was the last of them
            if nsp not in self._final:
                self._final.add(nsp)
                self._trigger("__disconnect_final", nsp)
        self._changed()

    def _emit_args(self, event: str, data: Any, namespace: Optional[str]) -> Tuple[str, Tuple[Any, ...]]:
        nsp = namespace or "/"
        if nsp not in self.connection_namespaces or nsp in self._final or self._core is None:
            raise BadNamespaceError(nsp + " is not a connected namespace.")
        return nsp, _args_of(data)


class _LoopThread:
    """The loop thread every threaded Client shares: one ClientLoop run by one daemon thread, from
    the first client's connect() until the last client's core is closed (``users``: clients from
    connect() until then). Work from other threads: ``calls``, run on the loop's wake-up."""

    _lock = threading.Lock()
    _current: Optional["_LoopThread"] = None

    def __init__(self) -> None:
        self.calls: Deque[Callable[[], None]] = collections.deque()
        self.loop = _core.ClientLoop(self._on_wakeup)
        self.users = 0
        self.thread = threading.Thread(target=self._main, name="sio-client-loop", daemon=True)
        self.thread.start()

    @classmethod
    def acquire(cls) -> "_LoopThread":
        with cls._lock:
            lt = cls._current
            if lt is None:
                lt = cls._current = _LoopThread()
            lt.users += 1
            return lt

    @classmethod
    def forget(cls) -> None:
        """In a forked child: the parent's loop thread is not there (its clients are unusable)."""
        cls._lock = threading.Lock()
        cls._current = None

    def release(self) -> None:
        """One client less (on the loop thread); the last one ends the thread."""
        with self._lock:
            self.users -= 1
            if self.users > 0:
                return
            if _LoopThread._current is self:
                _LoopThread._current = None
        self.loop.close()  # run() returns once the handles of the last manager are closed

    def on_thread(self) -> bool:
        return threading.get_ident() == self.thread.ident

    def _on_wakeup(self) -> None:
        while self.calls:
            self.calls.popleft()()

    def _main(self) -> None:
        try:
            self.loop.run()
        finally:
            self._on_wakeup()  # calls queued after the last wake-up: they fail on a closed core


class Client(_BaseClient):
    """A Socket.IO client (python-socketio's ``socketio.Client``): see the module's doc for its
    threads. ``Client(reconnection=True, reconnection_attempts=0, reconnection_delay=1,
    reconnection_delay_max=5, randomization_factor=0.5, logger=False, serializer='default',
    handle_sigint=True, **kwargs)``; kwargs: ``request_timeout`` (s), ``ssl_verify``, and sio's
    ``tls_ca_file``, ``max_payload``, ``send_buffer_max``, ``send_buffer_bytes``, ``eio`` (3 for
    socket.io 2.x servers), ``upgrade``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cv = threading.Condition()
        self._lt: Optional[_LoopThread] = None  # the shared loop thread, from connect()
        self._jobs: Deque[Tuple[str, Callable[[], Any], Optional[Callable[[Any], None]]]] = collections.deque()
        self._jobs_cv = threading.Condition()
        self._handler_thread: Optional[threading.Thread] = None
        self._handler_ident: Optional[int] = None
        self._idle = True

    # ---- threads -----------------------------------------------------------------------------

    def _changed(self) -> None:
        with self._cv:
            self._cv.notify_all()

    def _post(self, what: str, run: Callable[[], Any], done: Optional[Callable[[Any], None]] = None) -> None:
        with self._jobs_cv:
            self._jobs.append((what, run, done))
            if self._handler_thread is None or not self._handler_thread.is_alive():
                self._handler_thread = threading.Thread(target=self._handler_main, name="sio-client-handlers",
                                                        daemon=True)
                self._handler_thread.start()
            self._jobs_cv.notify()

    def _handler_main(self) -> None:
        self._handler_ident = threading.get_ident()
        while True:
            with self._jobs_cv:
                while not self._jobs:
                    self._idle = True
                    self._jobs_cv.notify_all()
                    if not self._jobs_cv.wait(5.0) and not self._jobs:
                        if self._core is None:
                            self._handler_thread = None  # nothing more will come: a new one later
                            self._jobs_cv.notify_all()
                            return
                self._idle = False
                what, run, done = self._jobs.popleft()
            try:
                result = run()
            except Exception:
                self.logger.exception("error in %s", what)
                continue
            if done is not None:
                try:
                    done(result)
                except Exception:
                    self.logger.exception("%s returned a value that cannot be sent as an ack", what)

    def _drain_handlers(self, timeout: Optional[float] = None) -> None:
        """Waits until the handler thread has run what was posted (not on that thread)."""
        if threading.get_ident() == self._handler_ident:
            return
        end = None if timeout is None else time.monotonic() + timeout
        with self._jobs_cv:
            while self._jobs or not self._idle:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return
                self._jobs_cv.wait(0.1 if left is None else min(left, 0.1))

    def _release_loop(self) -> Callable[[], None]:
        lt = self._lt
        assert lt is not None
        return lt.release

    def _detach(self) -> None:
        with self._cv:
            self._core = None
            self._cv.notify_all()
        with self._jobs_cv:
            self._jobs_cv.notify_all()

    def _loop_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Runs fn(*args) on the loop thread and returns its result (raises its exception)."""
        core = self._core
        lt = self._lt
        if core is None or lt is None:
            raise DisconnectedError("the client is not connected")
        return self._on_loop(lt, core, fn, *args)

    @staticmethod
    def _on_loop(lt: _LoopThread, core: Optional[_core.ClientCore], fn: Callable[..., Any], *args: Any) -> Any:
        """Runs fn(*args) on lt's thread, unless core (when given) is closed by then."""
        if lt.on_thread():
            return fn(*args)
        box: List[Tuple[bool, Any]] = []
        done = threading.Lock()  # held until the job ran: cheaper than an Event per call
        done.acquire()

        def job() -> None:
            try:
                if core is not None and core.closed:  # closed meanwhile: the loop runs on for others
                    raise DisconnectedError("the client is not connected")
                box.append((True, fn(*args)))
            except BaseException as e:  # handed to the caller
                box.append((False, e))
            done.release()

        lt.calls.append(job)
        if not lt.loop.wakeup():
            raise DisconnectedError("the client is not connected")
        while not done.acquire(timeout=0.05):
            if not lt.thread.is_alive() and not box:  # the loop ended before the job ran
                raise DisconnectedError("the client is not connected")
        ok, value = box[0]
        if not ok:
            raise value
        return value

    def _wait_closed(self, core: _core.ClientCore, timeout: float) -> None:
        """Waits until core is closed (not on the loop thread: it closes it)."""
        lt = self._lt
        if lt is not None and lt.on_thread():
            return
        end = time.monotonic() + timeout
        with self._cv:
            while self._core is core:
                left = end - time.monotonic()
                if left <= 0:
                    return
                self._cv.wait(min(left, 0.5))

    # ---- the API ----------------------------------------------------------------------------

    def connect(self, url: str, headers: Any = {}, auth: Any = None, transports: Any = None,
                namespaces: Any = None, socketio_path: str = "socket.io", wait: bool = True,
                wait_timeout: float = 1, retry: bool = False) -> None:
        """Connects to a Socket.IO server (python-socketio's arguments). Raises
        ``sio.exceptions.ConnectionError`` when the connection or a namespace fails."""
        if self.connected or self._core is not None:
            raise ConnectionError("Already connected")
        plan = self._plan(url, headers, auth, transports, namespaces, socketio_path)
        self._retry = retry
        self._lt = lt = _LoopThread.acquire()
        core = self._on_loop(lt, None, self._new_core, plan, lt.loop)  # _core set on the loop thread
        failure = None
        with self._cv:
            # the Engine.IO connection: bounded by the core's own timeout (on_error)
            while not self._open and failure is None and self._core is core:
                failure = self._connect_failure()
                if failure is None:
                    self._cv.wait(0.1)
            if wait and failure is None:
                end = time.monotonic() + wait_timeout
                while failure is None and not self._resolved() and self._core is core:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._cv.wait(min(left, 0.1))
                    failure = self._connect_failure()
                if failure is None and set(self.namespaces) != set(self.connection_namespaces):
                    failure = "One or more namespaces failed to connect: " + ", ".join(
                        self.failed_namespaces or [n for n in self.connection_namespaces if n not in self.namespaces])
        # python-socketio has run the connect (or connect_error) handlers when connect() returns
        if failure is not None or self._core is not core:
            self._stop(core, self._report_failure)
            self._drain_handlers(max(wait_timeout, 1.0))
            raise ConnectionError(failure or "Connection error")
        self._drain_handlers(max(wait_timeout, 1.0))
        self.connected = True  # python-socketio's, also with wait=False (namespaces still connecting)

    def _stop(self, core: _core.ClientCore, first: Optional[Callable[[], None]] = None) -> None:
        """Closes core (on its thread, after first()) and waits for the loop thread to end."""
        def close() -> None:
            if first is not None:
                first()
            if not core.closed:
                core.close()

        try:
            self._loop_call(close)
        except ConnectionError:
            pass
        self._wait_closed(core, 10)

    def wait(self) -> None:
        """Waits until the connection ends for good (disconnected, or reconnection given up), and
        its handlers have run."""
        with self._cv:
            while self._core is not None:
                self._cv.wait(0.5)  # in slices: Ctrl-C reaches the main thread
        self._drain_handlers()

    def emit(self, event: str, data: Any = None, namespace: Optional[str] = None,
             callback: Optional[Handler] = None, volatile: bool = False) -> None:
        """Emits event (a tuple data is several arguments). callback(*args) gets the server's
        acknowledgement, on the handler thread. While reconnecting, the event waits in the send
        buffer (volatile ones are dropped)."""
        nsp, args = self._emit_args(event, data, namespace)
        core = self._core
        assert core is not None
        if callback is None:
            self._loop_call(core.emit, nsp, event, args, volatile)
            return

        def on_ack(error: Optional[str], values: Tuple[Any, ...]) -> None:
            if error is None:
                self._post("the callback of event %r" % event, lambda: callback(*values))

        self._loop_call(core.emit_ack, nsp, event, args, 0, on_ack)

    def send(self, data: Any, namespace: Optional[str] = None, callback: Optional[Handler] = None) -> None:
        self.emit("message", data=data, namespace=namespace, callback=callback)

    def call(self, event: str, data: Any = None, namespace: Optional[str] = None, timeout: float = 60) -> Any:
        """Emits event and waits for its acknowledgement: its value (None, one value, or a tuple).
        ``TimeoutError`` after timeout seconds; ``CallDisconnectedError`` when the connection is
        lost first."""
        nsp, args = self._emit_args(event, data, namespace)
        core = self._core
        assert core is not None
        box: List[Tuple[Optional[str], Tuple[Any, ...]]] = []
        done = threading.Lock()
        done.acquire()

        def on_ack(error: Optional[str], values: Tuple[Any, ...]) -> None:
            box.append((error, values))
            done.release()

        self._loop_call(core.emit_ack, nsp, event, args, max(1, int(timeout * 1000)), on_ack)
        if not done.acquire(timeout=timeout + 5):  # the core times out first: this guards against a lost loop
            raise TimeoutError()
        error, values = box[0]
        if error == "timeout":
            raise TimeoutError()
        if error is not None:
            raise CallDisconnectedError("disconnected before the answer came")
        return _result_of(values)

    def _send_ack(self, nsp: str, ack_id: int, result: Any) -> None:
        core = self._core
        if core is None:
            return
        try:
            self._loop_call(core.ack, nsp, ack_id, _args_of(result))
        except DisconnectedError:
            pass

    def disconnect(self) -> None:
        """Disconnects every namespace (their ``disconnect`` handlers get
        ``reason.CLIENT_DISCONNECT``) and ends the connection."""
        core = self._core
        if core is None:
            return

        def go() -> None:
            for nsp in self.connection_namespaces:
                if nsp not in self._final:
                    try:
                        core.disconnect(nsp)
                    except (KeyError, _core.ClosedError):
                        pass
            if not core.closed:
                core.close()

        try:
            self._loop_call(go)
        except ConnectionError:
            pass
        self._wait_closed(core, 10)

    def shutdown(self) -> None:
        """Stops the client: disconnects, or stops reconnecting."""
        self.disconnect()

    def transport(self) -> str:
        """'polling' or 'websocket' ('' when not connected)."""
        core = self._core
        if core is None:
            return ""
        try:
            return self._loop_call(core.engine)[1] or ""
        except ConnectionError:
            return ""

    def start_background_task(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> threading.Thread:
        t = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
        t.start()
        return t

    def sleep(self, seconds: float = 0) -> None:
        time.sleep(seconds)


class _AioDriver:
    """The ClientLoop every AsyncClient on one asyncio loop shares, driven by it: its backend fd
    watched once, a timer for its next timeout. ``users``: clients from connect() until their core
    is closed; the last one drops it (a later connect() makes a new one)."""

    _drivers: Dict[int, "_AioDriver"] = {}  # by id() of the asyncio loop

    def __init__(self, aio: asyncio.AbstractEventLoop) -> None:
        self.aio = aio
        self.loop: Optional[_core.ClientLoop] = _core.ClientLoop()
        self.users = 0
        self._timer: Optional[asyncio.TimerHandle] = None
        self._scheduled = False
        self._fd = self.loop.backend_fd()
        aio.add_reader(self._fd, self.tick)

    @classmethod
    def acquire(cls) -> "_AioDriver":
        aio = asyncio.get_running_loop()
        d = cls._drivers.get(id(aio))
        if d is None or d.aio is not aio or d.loop is None:
            d = cls._drivers[id(aio)] = _AioDriver(aio)
        d.users += 1
        return d

    def release(self) -> None:
        """One client less (inside tick(), or on the asyncio thread): the last one ends it."""
        self.users -= 1
        if self.users <= 0:
            self.kick()

    def kick(self) -> None:
        if not self._scheduled and self.loop is not None:
            self._scheduled = True
            self.aio.call_soon(self.tick)

    def tick(self) -> None:
        self._scheduled = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = self.loop
        if loop is None:
            return
        loop.run_nowait()
        if self.users <= 0:
            self._end()
            return
        ms = loop.backend_timeout()
        if ms >= 0:
            self._timer = self.aio.call_later(ms / 1000.0, self.tick)

    def _end(self) -> None:
        try:
            self.aio.remove_reader(self._fd)
        except Exception:
            pass
        if self._drivers.get(id(self.aio)) is self:
            del self._drivers[id(self.aio)]
        loop, self.loop = self.loop, None
        if loop is not None:
            loop.close()  # dropped: its last handles are closed as it is freed


def _forget_shared_loops() -> None:
    _LoopThread.forget()
    _AioDriver._drivers = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_shared_loops)


class AsyncClient(_BaseClient):
    """The asyncio client (python-socketio's ``socketio.AsyncClient``): the same arguments and
    methods, awaitable; handlers may be coroutines. Use it from one asyncio loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._aio: Optional[asyncio.AbstractEventLoop] = None
        self._driver: Optional[_AioDriver] = None  # the shared loop, from connect()
        self._state: Optional[asyncio.Event] = None  # created on the running loop
        self._closed_fut: Optional["asyncio.Future[None]"] = None
        self._tasks: Set["asyncio.Task[None]"] = set()

    def is_asyncio_based(self) -> bool:
        return True

    # ---- driving the core from asyncio -------------------------------------------------------

    def _start(self) -> _AioDriver:
        self._driver = d = _AioDriver.acquire()
        self._aio = d.aio
        self._closed_fut = d.aio.create_future()
        self._state = asyncio.Event()
        return d

    def _kick(self) -> None:
        if self._driver is not None:
            self._driver.kick()

    def _release_loop(self) -> Callable[[], None]:
        d = self._driver
        assert d is not None
        return d.release

    def _detach(self) -> None:
        self._core = None
        self._aio = None  # no handler after the last ones (_on_closed's)
        if self._closed_fut is not None and not self._closed_fut.done():
            self._closed_fut.set_result(None)
        self._changed()

    def _changed(self) -> None:
        if self._state is not None:
            self._state.set()

    def _post(self, what: str, run: Callable[[], Any], done: Optional[Callable[[Any], None]] = None) -> None:
        loop = self._aio
        if loop is None:
            return

        async def runner() -> None:
            try:
                result = run()
                if inspect.isawaitable(result):
                    result = await result
            except Exception:
                self.logger.exception("error in %s", what)
                return
            if done is not None:
                try:
                    done(result)
                except Exception:
                    self.logger.exception("%s returned a value that cannot be sent as an ack", what)

        task = loop.create_task(runner())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send_ack(self, nsp: str, ack_id: int, result: Any) -> None:
        core = self._core
        if core is not None and not core.closed:
            core.ack(nsp, ack_id, _args_of(result))
            self._kick()

    async def _wait_state(self, timeout: Optional[float]) -> None:
        state = self._state
        if state is None:
            return
        try:
            await asyncio.wait_for(state.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        state.clear()

    # ---- the API ----------------------------------------------------------------------------

    async def connect(self, url: str, headers: Any = {}, auth: Any = None, transports: Any = None,
                      namespaces: Any = None, socketio_path: str = "socket.io", wait: bool = True,
                      wait_timeout: float = 1, retry: bool = False) -> None:
        if self.connected or self._core is not None:
            raise ConnectionError("Already connected")
        plan = self._plan(url, headers, auth, transports, namespaces, socketio_path)
        self._retry = retry
        d = self._start()
        assert d.loop is not None  # acquired: not ended
        core = self._new_core(plan, d.loop)
        d.kick()
        failure = None
        while not self._open and failure is None and self._core is core:
            failure = self._connect_failure()
            if failure is None:
                await self._wait_state(0.1)
        if wait and failure is None:
            end = time.monotonic() + wait_timeout
            while failure is None and not self._resolved() and self._core is core:
                left = end - time.monotonic()
                if left <= 0:
                    break
                await self._wait_state(min(left, 0.1))
                failure = self._connect_failure()
            if failure is None and set(self.namespaces) != set(self.connection_namespaces):
                failure = "One or more namespaces failed to connect: " + ", ".join(
                    self.failed_namespaces or [n for n in self.connection_namespaces if n not in self.namespaces])
        if failure is not None or self._core is not core:
            self._report_failure()
        if self._tasks:  # python-socketio has run the connect (or connect_error) handlers by now
            await asyncio.wait(list(self._tasks), timeout=max(wait_timeout, 1.0))
        if failure is not None or self._core is not core:
            await self._close_core(core)
            raise ConnectionError(failure or "Connection error")
        self.connected = True

    async def _close_core(self, core: _core.ClientCore) -> None:
        if not core.closed:
            core.close()
            self._kick()
        fut = self._closed_fut
        if fut is not None and self._core is core:
            try:
                await asyncio.wait_for(asyncio.shield(fut), 10)
            except asyncio.TimeoutError:
                pass

    async def wait(self) -> None:
        fut = self._closed_fut
        if fut is not None:
            await asyncio.shield(fut)
        while self._tasks:  # the handlers still running (the disconnect handler)
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def emit(self, event: str, data: Any = None, namespace: Optional[str] = None,
                   callback: Optional[Handler] = None, volatile: bool = False) -> None:
        nsp, args = self._emit_args(event, data, namespace)
        core = self._core
        assert core is not None
        if callback is None:
            core.emit(nsp, event, args, volatile)
        else:
            def on_ack(error: Optional[str], values: Tuple[Any, ...]) -> None:
                if error is None:
                    self._post("the callback of event %r" % event, lambda: callback(*values))

            core.emit_ack(nsp, event, args, 0, on_ack)
        self._kick()

    async def send(self, data: Any, namespace: Optional[str] = None, callback: Optional[Handler] = None) -> None:
        await self.emit("message", data=data, namespace=namespace, callback=callback)

    async def call(self, event: str, data: Any = None, namespace: Optional[str] = None,
                   timeout: float = 60) -> Any:
        nsp, args = self._emit_args(event, data, namespace)
        core = self._core
        assert core is not None
        loop = asyncio.get_running_loop()
        fut: "asyncio.Future[Tuple[Optional[str], Tuple[Any, ...]]]" = loop.create_future()

        def on_ack(error: Optional[str], values: Tuple[Any, ...]) -> None:
            if not fut.done():
                fut.set_result((error, values))

        core.emit_ack(nsp, event, args, max(1, int(timeout * 1000)), on_ack)
        self._kick()
        error, values = await fut  # the core answers once: the ack, its timeout, or the disconnection
        if error == "timeout":
            raise TimeoutError()
        if error is not None:
            raise CallDisconnectedError("disconnected before the answer came")
        return _result_of(values)

    async def disconnect(self) -> None:
        core = self._core
        if core is None:
            return
        for nsp in self.connection_namespaces:
            if nsp not in self._final and not core.closed:
                try:
                    core.disconnect(nsp)
                except (KeyError, _core.ClosedError):
                    pass
        await self._close_core(core)

    async def shutdown(self) -> None:
        await self.disconnect()

    def transport(self) -> str:
        core = self._core
        return (core.engine()[1] or "") if core is not None else ""

    def start_background_task(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> "asyncio.Task[Any]":
        return asyncio.ensure_future(target(*args, **kwargs))

    async def sleep(self, seconds: float = 0) -> None:
        await asyncio.sleep(seconds)


__all__ = ["Client", "AsyncClient", "ClientNamespace", "AsyncClientNamespace", "CallDisconnectedError"]
