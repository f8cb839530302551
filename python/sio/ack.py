"""``sio.Ack``: what a handler with a keyword-only ``ack`` parameter gets."""

from __future__ import annotations

from . import _core


class Ack(_core.ServerAck):
    """Answers a client's acknowledgement, now or later: a handler with a keyword-only ``ack``
    parameter gets one (``def ask(sid, *args, ack)``) and its return value is then ignored.

    ``ack(*values)`` sends the answer once and says whether it was sent: ``False`` when the client
    asked for none, when it was answered before, or when the client has left. ``bool(ack)`` is
    ``False`` when nothing can be sent any more (none asked, answered, the client left). It may be
    called from any thread: from another one the answer is queued onto the server's thread (and
    ``True`` returned; the core still sends it at most once). The one-shot rule is the core's
    (``sio_ack_t`` in sio.h)."""

    __slots__ = ()
    # ServerAck (bindings/python/ack.c) holds the server and the core's handle (``_server``,
    # ``_handle``) and does the calls in C: a handler that takes ``ack`` gets one per event.
