"""The exceptions of sio.

Two families:

- What the C core reports, defined in ``sio._core``'s module state (bindings/python/module.c):
  :class:`Error` (``.code``, the core's negative error code, and ``.name``, ``"EINVAL"``; the
  message ends with the core's own sentence when it gave one) and one subclass per kind of error,
  each also a subclass of the builtin exception Python code catches for it:
  :class:`InvalidArgumentError` and :class:`ReservedEventError` (``ValueError``),
  :class:`ClosedError` and :class:`UnavailableError` (``ConnectionError``),
  :class:`AlreadyAnsweredError`, :class:`ExistsError` and :class:`UnsupportedError`
  (``RuntimeError``), :class:`NotFoundError` (``FileNotFoundError``). libuv's errors (a port in
  use...) are ``OSError`` with their ``errno``.
- python-socketio's: :class:`ConnectionRefusedError` (raised by a connect handler),
  :class:`TimeoutError` and :class:`DisconnectedError` (what an acknowledgement can end with).
"""

from __future__ import annotations

import builtins
from typing import Any

from ._core import (
    AlreadyAnsweredError,
    ClosedError,
    Error,
    ExistsError,
    InvalidArgumentError,
    NotFoundError,
    ReservedEventError,
    UnavailableError,
    UnsupportedError,
)

__all__ = [
    "Error",
    "InvalidArgumentError",
    "ReservedEventError",
    "ClosedError",
    "UnavailableError",
    "AlreadyAnsweredError",
    "ExistsError",
    "NotFoundError",
    "UnsupportedError",
    "ConnectionRefusedError",
    "TimeoutError",
    "DisconnectedError",
]

REJECTED = "Connection rejected by server"


class ConnectionRefusedError(ConnectionError):
    """Raise in a ``connect`` handler to refuse the connection.

    ``ConnectionRefusedError("unauthorized")`` answers CONNECT_ERROR ``{"message": "unauthorized"}``;
    a second argument becomes its ``data`` (more than one extra argument: a list of them).
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.message = str(args[0]) if args else REJECTED
        if len(args) == 2:
            self.data = args[1]
        elif len(args) > 2:
            self.data = list(args[1:])
        else:
            self.data = None


class TimeoutError(builtins.TimeoutError):  # noqa: A001 - a subclass of the builtin, as python-socketio's
    """An acknowledgement did not come in time: the single argument an ``emit(callback=...,
    timeout=...)`` callback gets on timeout, and what ``call()`` raises."""


class DisconnectedError(ConnectionError):
    """The client disconnected before it acknowledged (raised by ``call()``)."""
