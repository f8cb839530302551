"""The methods sio._core calls on a Server (its "dispatch" object, bindings/python/events.c): the
connect middleware, events, disconnects, server-side events, the drain of calls queued from other
threads and the close. They pick the handler and call it; coroutines go to the asyncio mode
(_asyncio.py)."""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Callable, Optional, Tuple

from . import _core
from ._compat import REASONS
from ._util import environ, positional_arity
from .ack import Ack
from .errors import REJECTED, ConnectionRefusedError
from .socket import _PASS, NodeStyle

logger = logging.getLogger("sio")


class Dispatch(NodeStyle):
    """Mixed into :class:`sio.Server` (whose __init__ sets the attributes used here)."""

    # The fast path of _core (bindings/python/events.c): ``_fast[key][event] = (fn, arity,
    # wants_ack)`` for a plain handler _sid_event would call directly, which _core then calls
    # itself (with an ``_ack_class`` for a keyword-only ``ack``). _sid_event fills it; whatever
    # may change an event's route empties it (_routes_changed).
    _ack_class = Ack

    def _routes_changed(self) -> None:
        self._fast.clear()

    def _find(self, key: Any, event: str) -> Optional[Callable]:
        h = self._handlers.get(key)
        if h is not None:
            fn = h.get(event)
            if fn is not None:
                return fn
        ns = self._namespaces.get(key)
        if ns is not None:
            return ns._route(event, self._wants_ack)
        return None

    def _plain_find(self, key: Any, event: str) -> Optional[Callable]:
        """The function or ``on_<event>`` method registered for ``event`` (no routing)."""
        fn = (self._handlers.get(key) or {}).get(event)
        if fn is None:
            ns = self._namespaces.get(key)
            fn = ns._handler(event) if ns is not None else None
        return fn

    def _resolve(self, key: Any, nsp: str, event: str, star: bool = True) -> Tuple[Optional[Callable], tuple]:
        """The handler of ``event`` and what its arguments start with before the sid, as
        python-socketio: the event's name for a catch-all event handler (``on("*")``), then the
        namespace's for a catch-all namespace's (``namespace="*"``, which also handles what a
        registered namespace has no handler for)."""
        for k in (key,) if key == "*" or "*" not in self._keys else (key, "*"):
            fn = self._find(k, event)
            head: tuple = ()
            if fn is None and star:
                fn = self._find(k, "*")
                head = (event,)
            if fn is not None:
                return fn, (*head, nsp) if k == "*" else head
        return None, ()

    def _nargs(self, fn: Callable) -> int:
        n = self._arity.get(fn)
        if n is None:
            n = self._arity[fn] = positional_arity(fn)  # (a class's routes are kept: no growth)
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

    def _call_connect(self, fn: Callable, head: tuple, sid: str, handshake: dict, protocol: int,
                      nsp: str) -> Any:
        n = self._nargs(fn) - len(head)
        env = environ(handshake, protocol, nsp)
        if n >= 3:
            # python-socketio's rule (server.py _handle_connect, `if data:`, 5.7 to 5.18): None
            # for a CONNECT without auth and for an empty one ({}), the object otherwise
            return fn(*head, sid, env, handshake["auth"] or None)
        return fn(*head, sid, env) if n == 2 else fn(*head, sid)

    def _verdict(self, nsp: str, sid: str, call: Callable[[], Any]) -> Any:
        """Runs a connect handler: None (in), (message, data) (refused) or its awaitable result."""
        try:
            result = call()
        except ConnectionRefusedError as e:
            return (e.message, e.data)
        except Exception:
            logger.exception("error in the connect handler of %s", nsp)
            return (REJECTED, None)
        if inspect.isawaitable(result):
            return result
        return (REJECTED, None) if result is False else None

    def _settle(self, nsp: str, sid: str, verdict: Any) -> Any:
        """A connect verdict as the core takes it: with ``always_connect``, a refused socket is let
        in and disconnected right after, as python-socketio."""
        if verdict is not None and self.always_connect:
            pending = self._pending.get((nsp, sid))
            if pending is not None:
                pending.append(lambda: self._core.disconnect(nsp, sid, False))
            return None
        if verdict is not None:  # refused: nothing of the socket is kept
            self._pending.pop((nsp, sid), None)
            self._recovered.pop((nsp, sid), None)
            self._sessions.pop((nsp, sid), None)
            if self._node_sockets:  # socket.py: a Node-shaped socket made by the middleware
                self._node_sockets.pop((nsp, sid), None)
        return verdict

    def _connect_verdict(self, nsp: str, sid: str, token: int, verdict: Any) -> None:
        """On the server's thread: the verdict of a connect handler that ran elsewhere."""
        verdict = self._settle(nsp, sid, verdict)
        if not self._core.closed:
            self._core.connect_done(token, verdict)
            self._kick()

    def _on_connect(self, key: Any, nsp: str, sid: str, handshake: dict, protocol: int, token: int):
        """None lets the socket in, (message, data) refuses it, ``token`` means a coroutine (asyncio
        mode) or a worker (``async_handlers``) decides later and calls
        ``_core.connect_done(token, verdict)``."""
        if self._cores is not None:  # workers: the socket is this worker's
            self._cores.sid_owner[(nsp, sid)] = self._cores.home_index()
        if self._recovery:
            rec = self._core.recovering()  # a restored socket: its id, rooms and session are back
            if rec is not None and (nsp, sid) not in self._recovered:
                self._recovered[(nsp, sid)] = rec[1]
                self._sessions[(nsp, sid)] = rec[1] if isinstance(rec[1], dict) else {}
        if (self._node_mw.get(key) or self._plain_find(key, "connection") is not None) and \
                (nsp, sid) not in self._node_sockets:  # socket.py: middleware, then back here
            return self._node_connect(key, nsp, sid, handshake, protocol, token)
        self._known.add(nsp)
        fn, head = self._resolve(key, nsp, "connect", star=False)
        if self._log_traffic:
            self.logger.info("%s connecting to %s", sid, nsp)
        if fn is None:
            return None
        self._pending[(nsp, sid)] = []
        call = functools.partial(self._call_connect, fn, head, sid, handshake, protocol, nsp)
        if self._workers is not None and not inspect.iscoroutinefunction(fn):
            def job() -> None:
                verdict = self._verdict(nsp, sid, call)
                if inspect.isawaitable(verdict):
                    verdict.close()  # type: ignore[union-attr]
                    logger.error("the connect handler of %s returned an awaitable", nsp)
                    verdict = (REJECTED, None)
                self.call_soon_threadsafe(self._connect_verdict, nsp, sid, token, verdict)

            self._workers.submit((nsp, sid), job)
            return token
        verdict = self._verdict(nsp, sid, call)
        if inspect.isawaitable(verdict):
            if self._no_asyncio(verdict, "the connect handler of %s" % nsp):
                self._pending.pop((nsp, sid), None)
                return (REJECTED, None)
            self._aio.create_task(self._connect_later(nsp, sid, verdict, token))
            return token
        return self._settle(nsp, sid, verdict)

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
        return self._sid_event(key, nsp, sid, event, args, ack)

    def _sid_event(self, key: Any, nsp: str, sid: str, event: str, args: tuple, ack: Optional[_core.Ack]):
        """The sid-style handler of an event (after the Node-shaped socket's, which did not take
        it): its return value is the ack, or NOACK."""
        h = self._handlers.get(key)
        fn = h.get(event) if h is not None else None
        head: tuple = ()
        if fn is None or key == "*":
            fn, head = self._resolve(key, nsp, event)
            if fn is None:
                return _core.NOACK
        elif self._plain and not self._node_sockets:  # _core calls it itself from now on
            self._fast.setdefault(key, {})[event] = (fn, self._nargs(fn), self._wants_ack(fn))
        n = self._nargs(fn)
        if len(args) + len(head) + 1 > n:  # arguments the handler does not declare are ignored, as Node does
            args = args[:max(n - len(head) - 1, 0)]
        if not self._plain:  # logging or the worker pool; the common case skips both checks
            if self._log_traffic:
                self.logger.info("received event %r from %s [%s]", event, sid, nsp)
            if self._workers is not None and not inspect.iscoroutinefunction(fn):
                kw = {"ack": Ack(self, ack)} if self._wants_ack(fn) else None
                self._workers.submit((nsp, sid), functools.partial(
                    self._run_logged, event, fn, (*head, sid, *args), kw, None if kw else ack))
                return _core.NOACK
        if self._wants_ack(fn):
            result = fn(*head, sid, *args, ack=Ack(self, ack))
            if result is not None and inspect.isawaitable(result):
                self._ack_later(None, event, result)
            return _core.NOACK
        result = fn(*head, sid, *args)
        if inspect.isawaitable(result):
            self._ack_later(ack, event, result)
            return _core.NOACK
        return result

    def _run_logged(self, event: str, fn: Callable, args: tuple, kw: Optional[dict],
                    ack: Optional[_core.Ack]) -> None:
        """On a worker: runs a sync handler; its return value goes back as the ack through the
        server's thread."""
        try:
            result = fn(*args, **kw) if kw else fn(*args)
        except Exception:
            logger.exception("error in the handler of event %r", event)
            return
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            logger.error("the handler of event %r returned an awaitable on a worker thread", event)
            return
        if ack is not None and result is not _core.NOACK:
            values = () if result is None else result if isinstance(result, tuple) else (result,)
            self.call_soon_threadsafe(self._send_ack, ack, event, values)

    def _send_ack(self, ack: _core.Ack, event: str, values: tuple) -> None:
        try:
            ack(*values)
        except Exception:
            logger.exception("the handler of event %r returned a value that cannot be sent as an "
                             "ack", event)

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
        """The handler gets python-socketio's reason (``Server.reason``); its session is dropped
        once it returned (a coroutine: once it ended; with ``async_handlers``: after the
        socket's queued handlers and it ran)."""
        self._pending.pop((nsp, sid), None)
        self._recovered.pop((nsp, sid), None)
        if self._cores is not None:
            self._cores.sid_owner.pop((nsp, sid), None)
        if self._node_sockets:
            self._node_disconnected(nsp, sid, reason)  # socket.py: the socket's "disconnect"
        if self._log_traffic:
            self.logger.info("%s disconnected from %s (%s)", sid, nsp, reason)
        fn, head = self._resolve(key, nsp, "disconnect", star=False)
        if fn is None:
            self._sessions.pop((nsp, sid), None)
            return
        args = (*head, sid, REASONS.get(reason, reason))
        if self._nargs(fn) < len(args):
            args = args[:-1]  # python-socketio before 5.12: disconnect(sid)

        def drop() -> None:
            self._sessions.pop((nsp, sid), None)

        if self._workers is not None and not inspect.iscoroutinefunction(fn):
            def job() -> None:
                try:
                    self._run_logged("disconnect", fn, args, None, None)
                finally:
                    self.call_soon_threadsafe(drop)

            self._workers.submit((nsp, sid), job)
            return
        try:
            result = fn(*args)
        except BaseException:
            drop()
            raise
        if inspect.isawaitable(result):
            if not self._no_asyncio(result, "the disconnect handler of %s" % nsp):
                self._disconnect_later(nsp, result, drop)
                return
        drop()

    def _on_drain(self) -> None:
        if self._cores is not None:
            return self._cores.drain()
        calls = self._calls
        while calls:
            fn = calls.popleft()
            try:
                fn()
            except Exception:
                logger.exception("error in a callback scheduled with call_soon_threadsafe")

    def _on_closed(self) -> None:
        if self._workers is not None:
            self._workers.shutdown()
        self._closed_event.set()
        fut = self._closed_future
        if fut is not None and not fut.done():
            fut.set_result(None)
