"""Helpers of the pure-Python layer: arguments into the forms sio._core takes, handlers' arities,
the WSGI-like ``environ`` of a connect handler."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Iterable, Optional, Union


def positional_arity(fn: Callable) -> int:
    """How many positional arguments fn accepts (a large number with *args)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 99
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return 99
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


def room_names(value: Union[None, str, Iterable[str]]) -> Optional[tuple]:
    """None, a room or a sid, or an iterable of them, as what _core takes: None or a tuple."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def to_ms(seconds: Optional[float]) -> Optional[int]:
    """Seconds as the core's milliseconds; None stays None (the core's default)."""
    return None if seconds is None else int(seconds * 1000)


_COOKIE_KEYS = {"name": "name", "path": "path", "domain": "domain", "samesite": "same_site",
                "httponly": "http_only", "secure": "secure", "maxage": "max_age"}


def deflate_options(per_message_deflate: Any) -> dict:
    """The Core keywords for ``Server(per_message_deflate=...)``: ``True``/``False``/``None``, or
    a dict with ``threshold`` (bytes, Node's name) that turns it on."""
    if per_message_deflate is None or isinstance(per_message_deflate, bool):
        return {"per_message_deflate": bool(per_message_deflate)}
    if not isinstance(per_message_deflate, dict):
        raise TypeError("per_message_deflate must be a bool or a dict (threshold)")
    for key in per_message_deflate:
        if key != "threshold":
            raise ValueError(f"per_message_deflate: unknown option {key!r} (threshold)")
    threshold = per_message_deflate.get("threshold")
    if threshold is not None and (not isinstance(threshold, int) or isinstance(threshold, bool)
                                  or not 1 <= threshold < 2 ** 31):
        raise ValueError("per_message_deflate: threshold must be an int in [1, 2**31) (bytes)")
    return {"per_message_deflate": True, "deflate_threshold": threshold}


def cookie_options(cookie: Any) -> dict:
    """The Core keywords for ``Server(cookie=...)``: the cookie's name (``True``: Node's ``"io"``)
    and the attributes given; those not given keep the core's defaults (Node's: ``Path=/``,
    ``HttpOnly``, ``SameSite=Lax``)."""
    if cookie is None or cookie is False:
        return {}
    opts: Dict[str, Any] = {"name": "io"}
    if isinstance(cookie, str):
        opts["name"] = cookie
    elif isinstance(cookie, dict):
        for key, value in cookie.items():
            # Node's spelling (httpOnly, sameSite, maxAge), python-engineio's attribute names
            # (HttpOnly, SameSite, Max-Age) and snake_case all name the same attribute.
            norm = _COOKIE_KEYS.get(str(key).lower().replace("_", "").replace("-", ""))
            if norm is None:
                raise ValueError(f"cookie: unknown attribute {key!r} (name, path, domain, same_site, "
                                 "http_only, secure, max_age)")
            if norm in ("path", "domain", "same_site") and value is False:
                value = None  # left out of the header
            elif norm == "same_site" and value is True:
                value = "Strict"  # as Node's cookie package
            elif norm in ("http_only", "secure"):
                value = bool(value)
            elif norm == "max_age":
                value = 0 if value is None else int(value)
                if not 0 <= value < 2 ** 32:
                    raise ValueError("cookie: max_age must be in [0, 2**32) seconds")
            if norm in ("name", "path", "domain", "same_site") and value is not None and not isinstance(value, str):
                raise TypeError(f"cookie: {key!r} must be a string")
            opts[norm] = value
    elif cookie is not True:
        raise TypeError("cookie must be None, a bool, a name (str) or a dict of attributes")
    if not opts["name"]:
        raise ValueError("cookie: the name is empty")
    return {"cookie_" + k: v for k, v in opts.items()}


def cors_options(cors_allowed_origins: Union[None, str, Iterable[str], Callable[[str], bool]]) -> dict:
    """The Core keywords for python-socketio's ``cors_allowed_origins``: None is the same origin
    only, ``[]`` any origin without CORS headers, else the origins (``"*"``: any) with them."""
    if cors_allowed_origins is None:
        return {"cors": None, "same_origin": True}
    if callable(cors_allowed_origins):  # decided per Origin by the function (Core.set_hook)
        return {"cors": None, "same_origin": False}
    if isinstance(cors_allowed_origins, str):
        return {"cors": cors_allowed_origins, "same_origin": False}
    return {"cors": ",".join(cors_allowed_origins) or None, "same_origin": False}


def environ(handshake: dict, protocol: int, nsp: str) -> dict:
    """A connect handler's ``environ``, WSGI's keys (as python-socketio gives) from the handshake
    the core describes (Node's ``socket.handshake``, also kept as ``environ["sio.handshake"]``)."""
    url = handshake["url"]
    path, _, query = url.partition("?")
    env = {
        "REQUEST_METHOD": "GET",  # an Engine.IO handshake is always a GET
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "RAW_URI": url,
        "REMOTE_ADDR": handshake["address"],
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "https" if handshake["secure"] else "http",
        "sio.time_ms": handshake["issued"],
        "sio.protocol": protocol,
        "sio.namespace": nsp,
        "sio.handshake": handshake,
    }
    for name, value in handshake["headers"].items():
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    return env
