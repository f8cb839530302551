"""The Engine.IO handshake hooks of the C core (sio.h, "Hooks at the Engine.IO handshake"), in
Python's spelling: ``sio.Server(allow_request=fn)``, ``cors_allowed_origins=callable`` and
``server.engine.on("connection_error" | "initial_headers" | "headers", fn)``, Node's
``io.engine.on(...)``. The rules (which requests reach a hook, what a refusal answers, which header
values are refused) are the core's; this module only converts."""

from __future__ import annotations

import inspect
import logging
import types
from typing import Any, Callable, Dict, List, Optional, Tuple

logger = logging.getLogger("sio")

ENGINE_EVENTS = ("connection_error", "initial_headers", "headers")


def request_environ(req: Dict[str, Any], transport: Optional[str] = None) -> Dict[str, Any]:
    """A WSGI-like ``environ`` of a request the core describes (a connect handler's keys):
    REQUEST_METHOD, PATH_INFO, QUERY_STRING, RAW_URI, REMOTE_ADDR, HTTP_* headers; the core's dict
    as ``environ["sio.request"]``."""
    url = req["url"]
    path, _, query = url.partition("?")
    env = {
        "REQUEST_METHOD": req["method"],
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "RAW_URI": url,
        "REMOTE_ADDR": req["address"],
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "sio.time_ms": req["time_ms"],
        "sio.request": req,
    }
    if transport is not None:
        env["sio.transport"] = transport
    for name, value in req["headers"].items():
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    return env


def allow_verdict(result: Any) -> Tuple[bool, Optional[str]]:
    """``True`` lets in; ``False`` (or anything false) refuses with Node's "Forbidden"; ``(False,
    "message")`` refuses with that message (Node's ``callback("message", false)``)."""
    if isinstance(result, tuple):
        ok = bool(result[0]) if result else False
        message = result[1] if len(result) > 1 and result[1] is not None else None
        return ok, None if ok or message is None else str(message)
    return bool(result), None


class Engine:
    """``server.engine``: Node's ``io.engine`` for its events. ``on(event, fn)`` (or
    ``@server.engine.on(event)``) with ``event``:

    - ``"connection_error"``: ``fn(err)`` for each request the engine refuses; ``err.code`` and
      ``err.message`` are Node's (0 "Transport unknown", 1 "Session ID unknown", 2 "Bad handshake
      method", 3 "Bad request", 4 "Forbidden", 5 "Unsupported protocol version"), ``err.context``
      a dict (``{"message": ...}`` for a refusal by ``allow_request``), ``err.status`` the HTTP
      status answered, ``err.req`` the request's ``environ``;
    - ``"initial_headers"``: ``fn(headers, environ)`` for the handshake's response (the first
      poll's, or a WebSocket-only session's 101): set items of the ``headers`` dict to add them;
    - ``"headers"``: the same for every response of a polling request and every 101.

    A header whose name is not an HTTP token, that the server writes itself, or whose value holds
    CR, LF or another control character is refused by the core (logged, left out). Handlers run
    on the server's thread and must not block."""

    def __init__(self, core: Any) -> None:
        self._core = core
        self._handlers: Dict[str, List[Callable[..., Any]]] = {}

    def on(self, event: str, handler: Optional[Callable[..., Any]] = None) -> Any:
        if event not in ENGINE_EVENTS:
            raise ValueError("server.engine has no event %r (it has %s)" % (event, ", ".join(ENGINE_EVENTS)))

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            first = event not in self._handlers
            self._handlers.setdefault(event, []).append(fn)
            if first:
                self._core.set_hook(event, getattr(self, "_" + event))
            return fn

        return register if handler is None else register(handler)

    def off(self, event: str, handler: Optional[Callable[..., Any]] = None) -> None:
        """Removes ``handler`` (every handler of ``event`` when None)."""
        fns = self._handlers.get(event)
        if not fns:
            return
        if handler is None:
            fns.clear()
        elif handler in fns:
            fns.remove(handler)
        if not fns:
            del self._handlers[event]
            self._core.set_hook(event, None)

    def _run(self, event: str, *args: Any) -> None:
        for fn in list(self._handlers.get(event, ())):
            try:
                result = fn(*args)
                if inspect.isawaitable(result):
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
                    logger.error("a %s handler must not be a coroutine (it runs during the response)", event)
            except Exception:
                logger.exception("error in a %s handler", event)

    def _connection_error(self, code: int, message: str, context: Optional[str], status: int,
                          req: Optional[Dict[str, Any]]) -> None:
        err = types.SimpleNamespace(code=code, message=message, status=status,
                                    context={"message": context} if context is not None else {},
                                    req=None if req is None else request_environ(req))
        self._run("connection_error", err)

    def _headers_of(self, event: str, req: Dict[str, Any]) -> Dict[str, str]:
        headers: Dict[str, str] = {}
        self._run(event, headers, request_environ(req))
        return headers

    def _initial_headers(self, req: Dict[str, Any]) -> Dict[str, str]:
        return self._headers_of("initial_headers", req)

    def _headers(self, req: Dict[str, Any]) -> Dict[str, str]:
        return self._headers_of("headers", req)
