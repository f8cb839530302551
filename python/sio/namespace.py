"""``sio.Namespace``: class-based namespaces, as python-socketio's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Union

from ._core import NOACK

if TYPE_CHECKING:
    from .server import Server


class Namespace:
    """A class-based namespace: ``on_<event>`` methods are its handlers (``on_connect(sid, environ,
    auth)``, ``on_disconnect(sid, reason)``, ``on_chat(sid, *args)``). Register it with
    ``server.register_namespace(MyNamespace("/chat"))``."""

    def __init__(self, namespace: Optional[str] = None) -> None:
        self.namespace = namespace or "/"
        self.server: Optional["Server"] = None

    def _set_server(self, server: "Server") -> None:
        self.server = server

    def _handler(self, event: str) -> Optional[Callable]:
        return getattr(self, "on_" + event, None)

    def trigger_event(self, event: str, *args: Any) -> Any:
        handler = self._handler(event)
        if handler is None:
            return NOACK
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

