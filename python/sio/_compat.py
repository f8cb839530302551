"""python-socketio's spellings on sio: the constructor arguments sio takes for compatibility (each
honoured, or accepted with one warning that says how sio differs), the disconnect reasons."""

from __future__ import annotations

import json as _json
import logging
import warnings
from typing import Any, Dict, Iterable, Optional, Sequence

from . import api


class Reason:
    """python-socketio's disconnect reasons (``Server.reason``), what a ``disconnect(sid, reason)``
    handler gets. sio's core says Node's; :data:`REASONS` maps them."""

    CLIENT_DISCONNECT = "client disconnect"
    SERVER_DISCONNECT = "server disconnect"
    PING_TIMEOUT = "ping timeout"
    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"


REASONS = {
    "client namespace disconnect": Reason.CLIENT_DISCONNECT,
    "server namespace disconnect": Reason.SERVER_DISCONNECT,
    "server shutting down": Reason.SERVER_DISCONNECT,
    "forced close": Reason.SERVER_DISCONNECT,
    "ping timeout": Reason.PING_TIMEOUT,
    "transport close": Reason.TRANSPORT_CLOSE,
    "transport error": Reason.TRANSPORT_ERROR,
    "parse error": Reason.TRANSPORT_ERROR,
}


def differs(what: str, stacklevel: int = 4) -> None:
    warnings.warn("sio: " + what, stacklevel=stacklevel)


class _Forward(logging.Handler):
    """Hands the records of logger "sio" to the logger a user passed as ``logger=``."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        self.target.handle(record)


def _wire_logger(value: Any) -> logging.Logger:
    """python-socketio's ``logger``: False (the default) leaves logger "sio" as it is (errors still
    reach it), True logs at INFO to stderr, a Logger gets sio's records (the traffic is logged to
    it directly, the errors of logger "sio" are handed to it)."""
    log = logging.getLogger("sio")
    if isinstance(value, logging.Logger):
        if value is not log and not any(isinstance(h, _Forward) and h.target is value for h in log.handlers):
            log.addHandler(_Forward(value))
            log.propagate = False
    elif value:
        if log.level == logging.NOTSET or log.level > logging.INFO:
            log.setLevel(logging.INFO)
        if not log.handlers and not logging.getLogger().handlers:
            log.addHandler(logging.StreamHandler())
    return log


def _wire_engineio_logger(value: Any, sio_log: logging.Logger) -> Optional[logging.Logger]:
    """python-socketio's ``engineio_logger``: False (the default) keeps the core's engine records
    off Python; True logs them at INFO to logger ``"engineio.server"`` (python-engineio's, so a
    logging configuration written for it applies), with a stderr handler when neither it, logger
    ``"sio"`` nor the root logger has one; a Logger gets them."""
    if isinstance(value, logging.Logger):
        return value
    if not value:
        return None
    log = logging.getLogger("engineio.server")
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    if not log.handlers and not sio_log.handlers and not logging.getLogger().handlers:
        log.addHandler(logging.StreamHandler())
    return log


# The core's levels (sio.h: SIO_LOG_ERROR 0 .. SIO_LOG_DEBUG 3) as logging's.
_LEVELS = (logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG)
_CORE_WARN = 1
# SIO_LOG_TRACE: a debug category's record (SIO_DEBUG), whatever the level; the category is the
# component, and the record goes to logger "sio.<category>" at DEBUG.
_CORE_TRACE = 4
DEBUG_CATEGORIES = ("engine", "socket", "nsp", "adapter", "redis", "http")


def wire_debug_loggers(categories: Sequence[str], sio_log: logging.Logger) -> None:
    """Lets the debug records of these categories through: loggers ``"sio.<category>"`` at DEBUG
    when their level is unset, with a stderr handler when neither they, logger ``"sio"`` nor the
    root logger has one (``engineio_logger=True`` and ``logger=True``, as python-socketio's
    per-packet lines appear with them)."""
    for cat in categories:
        log = logging.getLogger("sio." + cat)
        if log.level == logging.NOTSET:
            log.setLevel(logging.DEBUG)
        if not log.handlers and not sio_log.handlers and not logging.getLogger().handlers:
            log.addHandler(logging.StreamHandler())


def core_level(*loggers: Optional[logging.Logger]) -> int:
    """The core's level for records bound to these loggers (None: the core's default sink, which
    writes WARN and above to stderr): the most verbose one any of them lets through, as read
    now."""
    level = _CORE_WARN
    for log in loggers:
        if log is not None:
            eff = log.getEffectiveLevel()
            level = max([level] + [i for i, lv in enumerate(_LEVELS) if lv >= eff])
    return level


class CoreLog:
    """The core's records (sio.h's sio_server_set_log), on the server's thread: the engine's
    (component ``"engine"``) to ``engineio_logger``, the others (``"socketio"``, ``"redis"``,
    ``"cluster"``) to ``logger``; a layer without a logger keeps the core's stderr lines. A record
    is logged as ``"<component>: <message>"`` with ``record.sio_component``. A logger that raises
    never reaches the server: the record goes to stderr instead."""

    def __init__(self, socketio: Optional[logging.Logger], engineio: Optional[logging.Logger]) -> None:
        self.socketio = socketio
        self.engineio = engineio

    @property
    def wired(self) -> bool:
        return self.socketio is not None or self.engineio is not None

    def level(self) -> int:
        return core_level(self.socketio, self.engineio)

    def __call__(self, level: int, component: str, message: str) -> bool:
        if level == _CORE_TRACE:
            return debug_record(component, message)
        log = self.engineio if component == "engine" else self.socketio
        if log is None:
            return level > _CORE_WARN  # False: the core's stderr line, as without a logger
        try:
            log.log(_LEVELS[level], "%s: %s", component, message, extra={"sio_component": component})
        except Exception:
            return False
        return True


def compat_options(async_modes: Iterable[str], *, async_mode: Optional[str], logger: Any,
                   engineio_logger: Any, json: Any, serializer: Any, client_manager: Any,
                   http_compression: Optional[bool], compression_threshold: Optional[int],
                   monitor_clients: Optional[bool]) -> Dict[str, Any]:
    """Checks python-socketio's arguments that sio honours in its own way; returns ``logger`` (the
    Logger), ``log_traffic`` (log every connect, event and disconnect at INFO, as python-socketio's
    ``logger=True``), ``engineio_logger`` (the Logger of the engine's records, or None) and, from
    a ``client_manager``, ``redis``/``redis_key``."""
    log = _wire_logger(logger)
    out: Dict[str, Any] = {"logger": logger if isinstance(logger, logging.Logger) else log,
                           "log_traffic": bool(logger)}
    if async_mode is not None and async_mode not in async_modes:
        differs("async_mode=%r ignored: sio runs its own libuv loop (%s)"
                % (async_mode, ", ".join(repr(m) for m in async_modes)))
    out["engineio_logger"] = _wire_engineio_logger(engineio_logger, log)
    if json is not None and json is not _json:
        differs("json= ignored: sio's core encodes and decodes JSON in C")
    if serializer not in ("default", "msgpack", None):
        raise ValueError("serializer=%r: \"default\" (JSON) or \"msgpack\" (the wire format of npm "
                         "socket.io-msgpack-parser)" % (serializer,))
    out["parser"] = "msgpack" if serializer == "msgpack" else None
    if client_manager is not None:
        url = getattr(client_manager, "redis_url", None)
        if isinstance(url, str):
            out["redis"] = url
            out["redis_key"] = getattr(client_manager, "channel", None) or None
            differs("client_manager: its Redis URL is used with the wire format of Node's "
                    "@socket.io/redis-adapter (sio nodes and Node nodes share a cluster; "
                    "python-socketio's own nodes do not join it)")
        else:
            differs("client_manager ignored: sio clusters through Redis only (redis=URL)")
    if compression_threshold is not None and (isinstance(compression_threshold, bool) or
                                              not isinstance(compression_threshold, int) or
                                              compression_threshold < 0):
        raise ValueError("compression_threshold: a number of bytes, 0 or more")
    if monitor_clients is False:
        differs("monitor_clients=False ignored: sio's core always checks heartbeats")
    return out


def transport_bits(transports: Optional[Iterable[str]]) -> Optional[int]:
    """python-engineio's ``transports`` (``["polling", "websocket"]``) as SIO_TRANSPORT_* bits."""
    if transports is None:
        return None
    if isinstance(transports, str):
        transports = [transports]
    bits = 0
    for t in transports:
        if t == "polling":
            bits |= api.SIO_TRANSPORT_POLLING
        elif t == "websocket":
            bits |= api.SIO_TRANSPORT_WEBSOCKET
        else:
            raise ValueError("transports: %r is not 'polling' or 'websocket'" % (t,))
    if not bits:
        raise ValueError("transports: at least one of 'polling', 'websocket'")
    return bits


def debug_record(component: str, message: str) -> bool:
    """A debug category's record (SIO_DEBUG) to logger ``"sio.<category>"`` at DEBUG, as
    ``"<message>"`` with ``record.sio_component``; False (the core's stderr line) when that logger
    does not take DEBUG records, so that SIO_DEBUG is never silently lost."""
    log = logging.getLogger("sio." + component)
    if not log.isEnabledFor(logging.DEBUG):
        return False
    try:
        log.debug("%s", message, extra={"sio_component": component})
    except Exception:
        return False
    return True
