"""``sio.Ack``: what a handler with a keyword-only ``ack`` parameter gets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from . import _core

if TYPE_CHECKING:
    from .server import Server


class Ack:
    """Answers a client's acknowledgement, now or later: a handler with a keyword-only ``ack``
    parameter gets one (``def ask(sid, *args, ack)``) and its return value is then ignored.

    ``ack(*values)`` sends the answer once and says whether it was sent: ``False`` when the client
    asked for none, when it was answered before, or when the client has left. ``bool(ack)`` is
    ``False`` when nothing can be sent any more (none asked, answered, the client left). It may be
    called from any thread: from another one the answer is queued onto the server's thread (and
    ``True`` returned; the core still sends it at most once). The one-shot rule is the core's
    (``sio_ack_t`` in sio.h)."""

    __slots__ = ("_server", "_handle")

    def __init__(self, server: "Server", handle: Optional[_core.Ack]) -> None:
        self._server, self._handle = server, handle

    def __bool__(self) -> bool:
        return bool(self._handle)

    def __call__(self, *values: Any) -> bool:
        handle = self._handle
        if handle is None:
            return False
        server = self._server
        if server._elsewhere():
            server.call_soon_threadsafe(handle, *values)
            return True
        sent = handle(*values)
        server._kick()
        return sent
