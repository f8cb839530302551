"""``sio.Namespace``: class-based namespaces, as python-socketio's."""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Optional, Union

from ._core import NOACK
from ._util import positional_arity


# Events python-socketio never gives a class: an overridden trigger_event gets them only when the
# class has their method (sio's Node-shaped "connection" and "disconnecting", the catch-all "*").
_NOT_PYTHON_SOCKETIO = ("*", "connection", "disconnecting")


def _async_trigger() -> Any:
    return AsyncNamespace.trigger_event

if TYPE_CHECKING:
    from .server import Server


class Namespace:
    """A class-based namespace: ``on_<event>`` methods are its handlers (``on_connect(sid, environ,
    auth)``, ``on_disconnect(sid, reason)``, ``on_chat(sid, *args)``). Register it with
    ``server.register_namespace(MyNamespace("/chat"))``."""

    def __init__(self, namespace: Optional[str] = None) -> None:
        self.namespace = namespace or "/"
        self.server: Optional["Server"] = None
        self._routes: Dict[str, Optional[Callable]] = {}

    def _set_server(self, server: "Server") -> None:
        self.server = server

    def _handler(self, event: str) -> Optional[Callable]:
        return getattr(self, "on_" + event, None)

    def _route(self, event: str, wants_ack: Callable[[Callable], bool]) -> Optional[Callable]:
        """What the server calls for ``event``: :meth:`trigger_event` (python-socketio routes every
        event of a class through it; an override sees every event, handled or not), the handler
        itself when it takes a keyword-only ``ack``."""
        try:
            return self._routes[event]
        except (KeyError, AttributeError):
            pass
        handler = self._handler(event)
        overridden = type(self).trigger_event not in (Namespace.trigger_event, _async_trigger())
        if handler is not None and wants_ack(handler):
            route: Optional[Callable] = handler
        elif handler is not None or (overridden and event not in _NOT_PYTHON_SOCKETIO):
            route = functools.partial(self.trigger_event, event)
        else:
            route = None
        if not hasattr(self, "_routes"):
            self._routes = {}
        self._routes[event] = route
        return route

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Calls ``on_<event>(*args)``; the server routes every event of this namespace through it,
        so a subclass may override it (python-socketio's hook). A ``connect`` or ``disconnect``
        handler that takes fewer arguments gets the first ones (``on_connect(sid, environ)``,
        ``on_disconnect(sid)``)."""
        handler = self._handler(event)
        if handler is None:
            return NOACK
        if event in ("connect", "disconnect"):
            n = positional_arity(handler)
            if n < len(args):
                args = args[:n]
        return handler(*args)

    def emit(self, event: str, *args: Any, namespace: Optional[str] = None, **kw: Any) -> None:
        return self.server.emit(event, *args, namespace=namespace or self.namespace, **kw)

    def send(self, data: Any, namespace: Optional[str] = None, **kw: Any) -> None:
        return self.server.send(data, namespace=namespace or self.namespace, **kw)

    def call(self, event: str, *args: Any, namespace: Optional[str] = None, **kw: Any) -> Any:
        return self.server.call(event, *args, namespace=namespace or self.namespace, **kw)

    def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        return self.server.enter_room(sid, room, namespace=namespace or self.namespace)

    def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        return self.server.leave_room(sid, room, namespace=namespace or self.namespace)

    def close_room(self, room: str, namespace: Optional[str] = None) -> None:
        return self.server.close_room(room, namespace=namespace or self.namespace)

    def rooms(self, sid: str, namespace: Optional[str] = None) -> list:
        return self.server.rooms(sid, namespace=namespace or self.namespace)

    def sockets_join(self, room: Union[str, Iterable[str]], namespace: Optional[str] = None,
                     **kw: Any) -> None:
        return self.server.sockets_join(room, namespace=namespace or self.namespace, **kw)

    def sockets_leave(self, room: Union[str, Iterable[str]], namespace: Optional[str] = None,
                      **kw: Any) -> None:
        return self.server.sockets_leave(room, namespace=namespace or self.namespace, **kw)

    def disconnect_sockets(self, namespace: Optional[str] = None, **kw: Any) -> None:
        return self.server.disconnect_sockets(namespace=namespace or self.namespace, **kw)

    def emit_with_acks(self, event: str, *args: Any, namespace: Optional[str] = None, **kw: Any) -> None:
        return self.server.emit_with_acks(event, *args, namespace=namespace or self.namespace, **kw)

    def fetch_count(self, callback: Callable[[Optional[str], int], Any],
                    namespace: Optional[str] = None) -> None:
        return self.server.fetch_count(callback, namespace=namespace or self.namespace)

    def all_rooms(self, callback: Callable[[Optional[str], list], Any],
                  namespace: Optional[str] = None) -> None:
        return self.server.all_rooms(callback, namespace=namespace or self.namespace)

    def fetch_sockets(self, callback: Callable[[Optional[str], list], Any],
                      to: Union[None, str, Iterable[str]] = None,
                      skip_sid: Union[None, str, Iterable[str]] = None,
                      namespace: Optional[str] = None) -> None:
        return self.server.fetch_sockets(callback, to=to, skip_sid=skip_sid,
                                         namespace=namespace or self.namespace)

    def server_side_emit(self, event: str, *args: Any, namespace: Optional[str] = None,
                         callback: Optional[Callable[[Optional[str], list], Any]] = None) -> None:
        return self.server.server_side_emit(event, *args, namespace=namespace or self.namespace,
                                            callback=callback)

    def get_session(self, sid: str, namespace: Optional[str] = None) -> dict:
        return self.server.get_session(sid, namespace=namespace or self.namespace)

    def save_session(self, sid: str, session: dict, namespace: Optional[str] = None) -> None:
        return self.server.save_session(sid, session, namespace=namespace or self.namespace)

    def session(self, sid: str, namespace: Optional[str] = None):
        return self.server.session(sid, namespace=namespace or self.namespace)

    def disconnect(self, sid: str, namespace: Optional[str] = None) -> None:
        return self.server.disconnect(sid, namespace=namespace or self.namespace)



class AsyncNamespace(Namespace):
    """python-socketio's ``AsyncNamespace``, for :class:`sio.AsyncServer`: the same ``on_<event>``
    handlers (coroutines or not), and awaitable methods (``await self.emit(...)``,
    ``await self.enter_room(...)``, ``async with self.session(sid)``...)."""

    server: Any

    async def trigger_event(self, event: str, *args: Any) -> Any:  # type: ignore[override]
        """Calls ``on_<event>(*args)`` and awaits it when it is a coroutine (see
        :meth:`Namespace.trigger_event`)."""
        result = Namespace.trigger_event(self, event, *args)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def emit(self, event: str, *args: Any, namespace: Optional[str] = None, **kw: Any) -> None:  # type: ignore[override]
        return await self.server.emit(event, *args, namespace=namespace or self.namespace, **kw)

    async def send(self, data: Any, namespace: Optional[str] = None, **kw: Any) -> None:  # type: ignore[override]
        return await self.server.send(data, namespace=namespace or self.namespace, **kw)

    async def call(self, event: str, *args: Any, namespace: Optional[str] = None, **kw: Any) -> Any:  # type: ignore[override]
        return await self.server.call(event, *args, namespace=namespace or self.namespace, **kw)

    async def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:  # type: ignore[override]
        return await self.server.enter_room(sid, room, namespace=namespace or self.namespace)

    async def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:  # type: ignore[override]
        return await self.server.leave_room(sid, room, namespace=namespace or self.namespace)

    async def close_room(self, room: str, namespace: Optional[str] = None) -> None:  # type: ignore[override]
        return await self.server.close_room(room, namespace=namespace or self.namespace)

    async def disconnect(self, sid: str, namespace: Optional[str] = None) -> None:  # type: ignore[override]
        return await self.server.disconnect(sid, namespace=namespace or self.namespace)

    async def get_session(self, sid: str, namespace: Optional[str] = None) -> dict:  # type: ignore[override]
        return await self.server.get_session(sid, namespace=namespace or self.namespace)

    async def save_session(self, sid: str, session: dict, namespace: Optional[str] = None) -> None:  # type: ignore[override]
        return await self.server.save_session(sid, session, namespace=namespace or self.namespace)

    def session(self, sid: str, namespace: Optional[str] = None):  # type: ignore[override]
        """``async with self.session(sid) as s: ...``"""
        return self.server.session(sid, namespace=namespace or self.namespace)

    async def fetch_sockets(self, to: Any = None, skip_sid: Any = None,  # type: ignore[override]
                            namespace: Optional[str] = None) -> list:
        return await self.server.fetch_sockets(to=to, skip_sid=skip_sid, namespace=namespace or self.namespace)

    async def all_rooms(self, namespace: Optional[str] = None) -> list:  # type: ignore[override]
        return await self.server.all_rooms(namespace=namespace or self.namespace)

    async def emit_with_acks(self, event: str, *args: Any, namespace: Optional[str] = None,  # type: ignore[override]
                             **kw: Any) -> list:
        return await self.server.emit_with_acks(event, *args, namespace=namespace or self.namespace, **kw)
