"""``sio.AsyncServer``: python-socketio's asyncio spelling of :class:`sio.Server`. The same server
(the same C core, run by ``await server.serve()`` on the running asyncio loop), whose methods are
coroutines: ``await server.emit(...)``, ``await server.enter_room(...)``, ``async with
server.session(sid)``, ``await server.sleep(1)``..."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable, Dict, Iterable, Optional, Tuple, Union

from .errors import TimeoutError
from .namespace import Namespace
from .server import Server

_Targets = Union[None, str, Iterable[str]]


def _settle(fut: "asyncio.Future[Any]", err: Optional[str], value: Any, what: str) -> None:
    if fut.done():
        return
    if err is None:
        fut.set_result(value)
    elif err == "timeout":
        fut.set_exception(TimeoutError("%s: not every node answered in time" % what))
    else:
        fut.set_exception(ConnectionError("%s: %s" % (what, err)))


class _AsyncSession:
    """``async with server.session(sid) as session:``: saved on the way out."""

    def __init__(self, server: "AsyncServer", sid: str, namespace: Optional[str]) -> None:
        self.server, self.sid, self.namespace = server, sid, namespace
        self.session: Optional[Dict[str, Any]] = None

    async def __aenter__(self) -> Dict[str, Any]:
        self.session = await self.server.get_session(self.sid, namespace=self.namespace)
        return self.session

    async def __aexit__(self, *exc: Any) -> None:
        await self.server.save_session(self.sid, self.session or {}, namespace=self.namespace)


class AsyncServer(Server):
    """A Socket.IO server for asyncio programs, as python-socketio's ``AsyncServer``: every
    constructor argument of :class:`sio.Server`; handlers may be coroutines (each awaited, the
    connect and disconnect handlers included; an event handler's result is its ack). Serve with
    ``await server.serve(host, port)`` (or ``server.run(host, port)``, which runs asyncio).

    Awaitable: :meth:`emit`, :meth:`send`, :meth:`call`, :meth:`enter_room`, :meth:`leave_room`,
    :meth:`close_room`, :meth:`disconnect`, :meth:`get_session`, :meth:`save_session`,
    :meth:`sleep`, :meth:`shutdown`, and the queries :meth:`fetch_sockets`, :meth:`fetch_count`,
    :meth:`all_rooms`, :meth:`emit_with_acks` (their results, without a ``callback``). The
    cluster operations Node spells without a promise (``sockets_join``, ``sockets_leave``,
    ``disconnect_sockets``, ``server_side_emit`` without a callback) stay plain calls."""

    _async_modes: Tuple[str, ...] = ("asgi", "asyncio")  # "asgi": python-socketio's, served by sio.ASGIApp

    def register_namespace(self, namespace_handler: Namespace) -> None:
        super().register_namespace(namespace_handler)

    async def emit(self, event: str, *args: Any, to: _Targets = None, room: _Targets = None,  # type: ignore[override]
                   skip_sid: _Targets = None, namespace: Optional[str] = None,
                   callback: Optional[Callable[..., Any]] = None, timeout: Optional[float] = None,
                   volatile: bool = False, local: bool = False, ignore_queue: bool = False) -> None:
        """See :meth:`sio.Server.emit`; a coroutine ``callback`` is run as a task."""
        if callback is not None and inspect.iscoroutinefunction(callback):
            coro_cb = callback

            def callback(*values: Any) -> None:
                asyncio.ensure_future(coro_cb(*values))

        Server.emit(self, event, *args, to=to, room=room, skip_sid=skip_sid, namespace=namespace,
                    callback=callback, timeout=timeout, volatile=volatile, local=local)

    async def send(self, data: Any, to: _Targets = None, room: _Targets = None,  # type: ignore[override]
                   skip_sid: _Targets = None, namespace: Optional[str] = None,
                   callback: Optional[Callable[..., Any]] = None, timeout: Optional[float] = None,
                   ignore_queue: bool = False) -> None:
        await self.emit("message", data, to=to, room=room, skip_sid=skip_sid, namespace=namespace,
                        callback=callback, timeout=timeout)

    async def call(self, event: str, *args: Any, to: Optional[str] = None,
                   sid: Optional[str] = None, namespace: Optional[str] = None,
                   timeout: float = 60) -> Any:
        """Emits to one client and returns its acknowledgement (one value, or a tuple of several);
        raises :class:`sio.TimeoutError` or :class:`sio.DisconnectedError`."""
        result = Server.call(self, event, *args, to=to, sid=sid, namespace=namespace, timeout=timeout)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:  # type: ignore[override]
        Server.enter_room(self, sid, room, namespace)

    async def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:  # type: ignore[override]
        Server.leave_room(self, sid, room, namespace)

    async def close_room(self, room: str, namespace: Optional[str] = None) -> None:  # type: ignore[override]
        Server.close_room(self, room, namespace)

    async def disconnect(self, sid: str, namespace: Optional[str] = None,  # type: ignore[override]
                         close: bool = False, ignore_queue: bool = False) -> None:
        """Disconnects ``sid`` (``ignore_queue``, python-socketio's, changes nothing: sio has no
        queue to skip)."""
        Server.disconnect(self, sid, namespace, close)

    async def get_session(self, sid: str, namespace: Optional[str] = None) -> Dict[str, Any]:  # type: ignore[override]
        return Server.get_session(self, sid, namespace)

    async def save_session(self, sid: str, session: Dict[str, Any], namespace: Optional[str] = None) -> None:  # type: ignore[override]
        Server.save_session(self, sid, session, namespace)

    def session(self, sid: str, namespace: Optional[str] = None) -> _AsyncSession:  # type: ignore[override]
        """``async with server.session(sid) as session: session["name"] = ...``"""
        return _AsyncSession(self, sid, namespace)

    # ---- queries: their results, awaited ------------------------------------------------------

    def _future(self) -> "asyncio.Future[Any]":
        return asyncio.get_running_loop().create_future()

    async def fetch_sockets(self, callback: Optional[Callable[..., Any]] = None, to: _Targets = None,  # type: ignore[override]
                            skip_sid: _Targets = None, namespace: Optional[str] = None) -> Any:
        """The sockets (dicts, see :meth:`sio.Server.fetch_sockets`) of ``to`` on every node;
        :class:`sio.TimeoutError` when a node did not answer in time, ``ConnectionError`` when
        Redis is unavailable or the server stopped."""
        if callback is not None:
            return Server.fetch_sockets(self, callback, to=to, skip_sid=skip_sid, namespace=namespace)
        fut = self._future()
        Server.fetch_sockets(self, lambda err, v: _settle(fut, err, v, "fetch_sockets"), to=to,
                             skip_sid=skip_sid, namespace=namespace)
        return await fut

    async def fetch_count(self, callback: Optional[Callable[..., Any]] = None,  # type: ignore[override]
                          namespace: Optional[str] = None) -> Any:
        if callback is not None:
            return Server.fetch_count(self, callback, namespace=namespace)
        fut = self._future()
        Server.fetch_count(self, lambda err, v: _settle(fut, err, v, "fetch_count"), namespace=namespace)
        return await fut

    async def all_rooms(self, callback: Optional[Callable[..., Any]] = None,  # type: ignore[override]
                        namespace: Optional[str] = None) -> Any:
        if callback is not None:
            return Server.all_rooms(self, callback, namespace=namespace)
        fut = self._future()
        Server.all_rooms(self, lambda err, v: _settle(fut, err, v, "all_rooms"), namespace=namespace)
        return await fut

    async def emit_with_acks(self, event: str, *args: Any,  # type: ignore[override]
                             callback: Optional[Callable[..., Any]] = None, timeout: Optional[float] = None,
                             to: _Targets = None, room: _Targets = None, skip_sid: _Targets = None,
                             namespace: Optional[str] = None, local: bool = False) -> Any:
        """Every recipient's first ack argument, as a list (Node's ``await
        io.timeout(ms).emitWithAck(...)``); :class:`sio.TimeoutError` when ``timeout`` passed
        first."""
        if callback is not None:
            return Server.emit_with_acks(self, event, *args, callback=callback, timeout=timeout, to=to,
                                         room=room, skip_sid=skip_sid, namespace=namespace, local=local)
        fut = self._future()
        Server.emit_with_acks(self, event, *args, callback=lambda err, v: _settle(fut, err, v, "emit_with_acks"),
                              timeout=timeout, to=to, room=room, skip_sid=skip_sid, namespace=namespace,
                              local=local)
        return await fut

    # ---- tasks, running ----------------------------------------------------------------------

    @staticmethod
    async def sleep(seconds: float = 0) -> None:  # type: ignore[override]
        await asyncio.sleep(seconds)

    def start_background_task(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> "asyncio.Task[Any]":
        """Runs the coroutine function ``target(*args, **kwargs)`` as an asyncio task."""
        return asyncio.ensure_future(target(*args, **kwargs))

    async def shutdown(self) -> None:  # type: ignore[override]
        """Disconnects every client and stops serving; returns once the server is closed."""
        fut = self._closed_future
        self.stop()
        if fut is not None and self._aio is not None:
            await asyncio.shield(fut)

    def run(self, host: Optional[str] = None, port: Optional[int] = None,
            handle_signals: bool = True, **tls: Any) -> None:
        """``asyncio.run(server.serve(host, port))``; ``certfile=``/``keyfile=`` (or
        ``ssl_certfile=``/``ssl_keyfile=``, and ``ca_certs=``) serve HTTPS/WSS."""
        asyncio.run(self.serve(host, port, **tls))
