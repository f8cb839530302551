"""The methods sio._core calls on a Server (its "dispatch" object, bindings/python/events.c): the
connect middleware, events, disconnects, server-side events, the drain of calls queued from other
threads and the close. They pick the handler and call it; coroutines go to the asyncio mode
(_asyncio.py)."""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable, Optional

from . import _core
from ._util import environ, positional_arity
from .ack import Ack
from .errors import REJECTED, ConnectionRefusedError
from .socket import _PASS, NodeStyle

logger = logging.getLogger("sio")


class Dispatch(NodeStyle):
    """Mixed into :class:`sio.Server` (whose __init__ sets the attributes used here)."""

    def _find(self, key: Any, event: str) -> Optional[Callable]:
        h = self._handlers.get(key)
        if h is not None:
            fn = h.get(event)
            if fn is not None:
                return fn
        ns = self._namespaces.get(key)
        if ns is not None:
            return ns._handler(event)
        return None

    def _nargs(self, fn: Callable) -> int:
        n = self._arity.get(fn)
        if n is None:
            n = self._arity[fn] = positional_arity(fn)
        return n

    def _wants_ack(self, fn: Callable) -> bool:
        w = self._ack_param.get(fn)
        if w is None:
            try:
                p = inspect.signature(fn).parameters.get("ack")
                w = p is not None and p.kind == p.KEYWORD_ONLY
            except (TypeError, ValueError):
                w = False
            self._ack_param[fn] = w
        return w

    def _on_connect(self, key: Any, nsp: str, sid: str, handshake: dict, protocol: int, token: int):
        """None lets the socket in, (message, data) refuses it, ``token`` means a coroutine
        decides later (asyncio mode) and calls ``_core.connect_done(token, verdict)``."""
        if (self._node_mw.get(key) or self._find(key, "connection") is not None) and \
                (nsp, sid) not in self._node_sockets:  # socket.py: middleware, then back here
            return self._node_connect(key, nsp, sid, handshake, protocol, token)
        self._known.add(nsp)
        fn = self._find(key, "connect")
        if fn is None:
            return None
        self._pending[(nsp, sid)] = []
        try:
            n = self._nargs(fn)
            env = environ(handshake, protocol, nsp)
            result = fn(sid, env, handshake["auth"]) if n >= 3 else fn(sid, env) if n == 2 else fn(sid)
        except ConnectionRefusedError as e:
            self._pending.pop((nsp, sid), None)
            return (e.message, e.data)
        except Exception:
            self._pending.pop((nsp, sid), None)
            logger.exception("error in the connect handler of %s", nsp)
            return (REJECTED, None)
        if inspect.isawaitable(result):
            if self._no_asyncio(result, "the connect handler of %s" % nsp):
                self._pending.pop((nsp, sid), None)
                return (REJECTED, None)
            self._aio.create_task(self._connect_later(nsp, sid, result, token))
            return token
        if result is False:
            self._pending.pop((nsp, sid), None)
            return (REJECTED, None)
        return None

    def _on_connected(self, key: Any, nsp: str, sid: str) -> None:
        self._known.add(nsp)
        for op in self._pending.pop((nsp, sid), ()):
            try:
                op()
            except Exception:
                logger.exception("error in an operation queued during connect")
        if self._node_sockets:
            self._node_connected(key, nsp, sid)  # socket.py: "connection" handlers

    def _on_event(self, key: Any, nsp: str, sid: str, event: str, args: tuple, ack: Optional[_core.Ack]):
        """The handler's return value, which _core sends as the ack (when one was asked), or NOACK."""
        if self._node_sockets:  # socket.py: listeners of a Node-shaped socket come first
            r = self._node_event(nsp, sid, event, args, ack)
            if r is not _PASS:
                return r
        fn = self._find(key, event)
        head: tuple = (sid,)
        if fn is None:
            fn = self._find(key, "*")
            if fn is None:
                return _core.NOACK
            head = (event, sid)
        n = self._arity.get(fn) or self._nargs(fn)
        if len(args) + len(head) > n:  # arguments the handler does not declare are ignored, as Node does
            args = args[:max(n - len(head), 0)]
        if self._wants_ack(fn):
            fn(*head, *args, ack=Ack(self, ack))
            return _core.NOACK
        result = fn(*head, *args)
        if inspect.isawaitable(result):
            self._ack_later(ack, event, result)
            return _core.NOACK
        return result

    def _on_server_event(self, key: Any, nsp: str, event: str, args: tuple,
                         reply_id: Optional[str]) -> None:
        self._known.add(nsp)
        fn = self._server_handlers.get(key, {}).get(event)
        if fn is None:
            if reply_id is not None:
                self._core.server_reply(nsp, reply_id, ())
            return
        try:
            result = fn(*args)
        except Exception:
            logger.exception("error in the server-side handler of event %r", event)
            return
        if inspect.isawaitable(result):
            if not self._no_asyncio(result, "the server-side handler of event %r" % event):
                self._server_reply_later(nsp, reply_id, event, result)
            return
        if reply_id is not None:
            self._server_reply(nsp, reply_id, event, result)

    def _server_reply(self, nsp: str, reply_id: str, event: str, result: Any) -> None:
        if isinstance(result, tuple):
            values = result[:1]
        else:
            values = () if result is None else (result,)
        try:
            self._core.server_reply(nsp, reply_id, values)
        except Exception:
            logger.exception("the server-side handler of event %r returned a value that cannot be "
                             "sent as its answer", event)

    def _on_disconnect(self, key: Any, nsp: str, sid: str, reason: str) -> None:
        self._pending.pop((nsp, sid), None)
        if self._node_sockets:
            self._node_disconnected(nsp, sid, reason)  # socket.py: the socket's "disconnect"
        try:
            fn = self._find(key, "disconnect")
            if fn is not None:
                if self._nargs(fn) >= 2:
                    fn(sid, reason)
                else:
                    fn(sid)
        finally:
            self._sessions.pop((nsp, sid), None)

    def _on_drain(self) -> None:
        calls = self._calls
        while calls:
            fn = calls.popleft()
            try:
                fn()
            except Exception:
                logger.exception("error in a callback scheduled with call_soon_threadsafe")

    def _on_closed(self) -> None:
        self._closed_event.set()
        fut = self._closed_future
        if fut is not None and not fut.done():
            fut.set_result(None)
