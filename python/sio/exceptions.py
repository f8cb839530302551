"""python-socketio's ``socketio.exceptions`` names, for code ported by changing its import:
``raise socketio.exceptions.ConnectionRefusedError("unauthorized")`` in a connect handler works
unchanged. They are sio's own exceptions (:mod:`sio.errors`) under those names."""

from __future__ import annotations

import builtins

from .errors import ConnectionRefusedError, DisconnectedError, TimeoutError

__all__ = ["SocketIOError", "ConnectionError", "ConnectionRefusedError", "TimeoutError",
           "BadNamespaceError", "DisconnectedError"]

# python-socketio's base class; sio's exceptions also derive from the builtins Python code
# catches (ConnectionError, TimeoutError, ValueError...), so the common base is Exception.
SocketIOError = Exception
ConnectionError = builtins.ConnectionError  # noqa: A001 - the base of ConnectionRefusedError, DisconnectedError


class BadNamespaceError(ValueError):
    """``Client.emit``/``call`` to a namespace that was not connected (or will not reconnect):
    python-socketio's name."""
