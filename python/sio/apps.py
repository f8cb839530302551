"""HTTP beside Socket.IO on one port, in python-socketio's spelling: :class:`WSGIApp` (a Flask or
any WSGI app), :class:`ASGIApp` (FastAPI, Starlette or any ASGI app) and :func:`run`, the launcher
that replaces ``app.run()`` / ``uvicorn.run(app)`` / ``eventlet.wsgi.server(...)``.

sio's own HTTP server (the C core) answers every request: Engine.IO/Socket.IO at the server's
path first, then the static files, then the app (the core's ``sio_server_handler``). A WSGI app
runs in a small thread pool (a slow route does not stall the Socket.IO clients), its response
collected and handed back to the loop's thread; an ASGI app runs on the asyncio loop of the asyncio
mode, with the lifespan protocol as uvicorn runs it. Request bodies are bounded (``max_body``, 1 MiB
by default: 413 beyond); an exception in the app is logged and answered 500, and the server goes
on. A response is sent whole once the app has finished it (streamed chunks are collected first),
and WebSocket requests outside Socket.IO's path are not the app's (404)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import io
import logging
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from . import _core

logger = logging.getLogger("sio")

__all__ = ["WSGIApp", "ASGIApp", "run"]

_ERROR_500 = (500, [("Content-Type", "text/plain; charset=utf-8")], b"Internal Server Error")


def _static_mounts(server: Any, static_files: Optional[Dict[str, Any]]) -> None:
    """python-engineio's static_files on the core's mounts: a key is a URL path, its value a file
    (served at exactly that path) or a directory (served under it; a key without a trailing slash
    is the same mount), as a str or ``{"filename": ..., "content_type": ...}``; the key ``""``
    names the index file of directories (default ``index.html``)."""
    if not static_files:
        return
    index = static_files.get("")
    index_name = index.get("filename") if isinstance(index, dict) else index
    for url, target in static_files.items():
        if url == "":
            continue
        content_type = None
        if isinstance(target, dict):
            content_type = target.get("content_type")
            target = target["filename"]
        server.static(url, target, content_type=content_type, index=index_name)


def _norm_path(path: Optional[str]) -> str:
    return "/" + (path or "socket.io").strip("/") + "/"


def _check_path(server: Any, socketio_path: Optional[str]) -> None:
    if socketio_path is None:
        return
    want = _norm_path(socketio_path)
    if want != _norm_path(getattr(server, "_path", None)):
        raise ValueError("socketio_path=%r: sio serves Socket.IO where the Server was made for "
                         "(sio.Server(path=%r))" % (socketio_path, want))


def _server_addr(server: Any, req: Any) -> Tuple[str, int]:
    """SERVER_NAME and SERVER_PORT: from the Host header, else this server's."""
    host = dict(req.headers).get("host", "")
    if host.startswith("["):  # "[::1]:5000"
        name, _, rest = host.partition("]")
        name, port = name + "]", rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name or "127.0.0.1", int(port) if port.isdigit() else (server.port or 80)


class WSGIApp:
    """python-socketio's ``socketio.WSGIApp(sio, wsgi_app, static_files=..., socketio_path=...)``,
    served by sio's own HTTP server: ``sio.run(app, port=5000)``.

    :param socketio_app: the :class:`sio.Server`.
    :param wsgi_app: the WSGI app (Flask's ``app``) for the requests that are neither Socket.IO
        nor static files; ``None``: those get 404.
    :param static_files: python-engineio's dict (see :meth:`sio.Server.static`).
    :param socketio_path: must name the Server's own path (``sio.Server(path=...)``).
    :param max_body: request bytes before 413 (default 1 MiB).
    :param workers: threads running the WSGI app (default 8).
    """

    def __init__(self, socketio_app: Any, wsgi_app: Optional[Callable] = None,
                 static_files: Optional[Dict[str, Any]] = None, socketio_path: str = "socket.io",
                 max_body: Optional[int] = None, workers: int = 8) -> None:
        _check_path(socketio_app, socketio_path)
        self.server = self.engineio_app = socketio_app
        self.wsgi_app = wsgi_app
        _static_mounts(socketio_app, static_files)
        self._pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._workers = workers
        if wsgi_app is not None:
            socketio_app._core.handler("/", self._on_request, max_body=max_body)

    # WSGI itself, for a server that mounts this app elsewhere: everything goes to wsgi_app.
    def __call__(self, environ: Dict[str, Any], start_response: Callable) -> Any:
        if self.wsgi_app is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not Found"]
        return self.wsgi_app(environ, start_response)

    def _environ(self, req: Any) -> Dict[str, Any]:
        name, port = _server_addr(self.server, req)
        env: Dict[str, Any] = {
            "REQUEST_METHOD": req.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": req.path.encode("utf-8").decode("latin-1"),
            "QUERY_STRING": req.query_string,
            "RAW_URI": req.raw_path + ("?" + req.query_string if req.query_string else ""),
            "SERVER_NAME": name,
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": req.protocol,
            "REMOTE_ADDR": req.remote_addr,
            "REMOTE_PORT": str(req.remote_port),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if req.secure else "http",
            "wsgi.input": io.BytesIO(req.body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for k, v in req.headers:
            if k == "content-type":
                env["CONTENT_TYPE"] = v
            elif k == "content-length":
                env["CONTENT_LENGTH"] = v
            else:
                key = "HTTP_" + k.upper().replace("-", "_")
                env[key] = env[key] + "," + v if key in env else v
        if "CONTENT_LENGTH" not in env and req.body:
            env["CONTENT_LENGTH"] = str(len(req.body))
        return env

    def _call_app(self, env: Dict[str, Any]) -> Tuple[int, List[Tuple[str, str]], bytes]:
        """Runs the WSGI app in a worker thread; its whole response."""
        started: List[Any] = []

        def start_response(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Callable:
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return chunks.append

        chunks: List[bytes] = []
        try:
            result = self.wsgi_app(env, start_response)  # type: ignore[misc]
            try:
                for chunk in result:
                    if chunk:
                        chunks.append(bytes(chunk))
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if not started:
                raise RuntimeError("the WSGI app did not call start_response")
            return int(started[0].split(" ", 1)[0]), list(started[1]), b"".join(chunks)
        except Exception:
            logger.exception("error in the WSGI app for %s %s", env["REQUEST_METHOD"], env["PATH_INFO"])
            return _ERROR_500

    def _on_request(self, req: Any) -> None:
        """On the loop's thread: hands the request to a worker, its answer back to the loop."""
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self._workers, thread_name_prefix="sio-wsgi")
        env = self._environ(req)
        server = self.server

        def work() -> None:
            status, headers, body = self._call_app(env)
            server.call_soon_threadsafe(_respond, req, status, headers, body)

        self._pool.submit(work)

    def shutdown(self) -> None:
        """Waits for the worker threads (called by :func:`run` once the server stopped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _respond(req: Any, status: int, headers: List[Tuple[Any, Any]], body: bytes) -> None:
    try:
        req.respond(status, headers, body)
    except ValueError:
        logger.exception("the app's response could not be sent")
        req.respond(*_ERROR_500)


class ASGIApp:
    """python-socketio's ``socketio.ASGIApp(sio, other_asgi_app, static_files=..., ...)``, served by
    sio's own HTTP server on the asyncio loop: ``sio.run(app, port=5000)`` (or ``await
    app.serve(host, port)`` inside a running loop).

    :param socketio_server: the :class:`sio.Server` (run in its asyncio mode).
    :param other_asgi_app: the ASGI app (FastAPI's ``app``) for the requests that are neither
        Socket.IO nor static files; ``None``: those get 404. Its lifespan (startup, shutdown) runs
        around the server when it speaks the protocol, as under uvicorn.
    :param on_startup: / :param on_shutdown: callables (or coroutine functions) run once before
        serving and once after, as python-socketio's.
    :param max_body: request bytes before 413 (default 1 MiB).
    """

    def __init__(self, socketio_server: Any, other_asgi_app: Optional[Callable] = None,
                 static_files: Optional[Dict[str, Any]] = None, socketio_path: str = "socket.io",
                 on_startup: Optional[Callable] = None, on_shutdown: Optional[Callable] = None,
                 max_body: Optional[int] = None) -> None:
        _check_path(socketio_server, socketio_path)
        self.server = self.engineio_server = socketio_server
        self.other_asgi_app = other_asgi_app
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self._lifespan_queue: Optional[asyncio.Queue] = None
        self._lifespan_task: Optional[asyncio.Task] = None
        self._state: Dict[str, Any] = {}  # the lifespan's state, copied into each request's scope
        _static_mounts(socketio_server, static_files)
        if other_asgi_app is not None:
            socketio_server._core.handler("/", self._on_request, max_body=max_body)

    async def __call__(self, scope: Dict[str, Any], receive: Callable, send: Callable) -> None:
        # ASGI itself, for a server that mounts this app elsewhere: everything to other_asgi_app.
        if self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
            return
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"Not Found"})

    # ---- requests ------------------------------------------------------------------------------

    def _on_request(self, req: Any) -> None:
        loop = getattr(self.server, "_aio", None)
        if loop is None:
            logger.error("an ASGI app needs the asyncio mode: sio.run(app) or await app.serve()")
            req.respond(*_ERROR_500)
            return
        loop.create_task(self._handle(req))

    def _scope(self, req: Any) -> Dict[str, Any]:
        name, port = _server_addr(self.server, req)
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": req.protocol.split("/", 1)[1],
            "method": req.method,
            "scheme": "https" if req.secure else "http",
            "path": req.path,
            "raw_path": req.raw_path.encode("latin-1"),
            "query_string": req.query_string.encode("latin-1"),
            "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in req.headers],
            "client": (req.remote_addr, req.remote_port),
            "server": (name, port),
            "state": dict(self._state),
        }

    async def _handle(self, req: Any) -> None:
        loop = asyncio.get_running_loop()
        gone = loop.create_future()
        req.on_abort = lambda: gone.done() or gone.set_result(None)
        body_sent = False
        start: Dict[str, Any] = {}
        chunks: List[bytes] = []

        async def receive() -> Dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": req.body, "more_body": False}
            await gone  # the client left, or the response is complete (as uvicorn)
            return {"type": "http.disconnect"}

        async def send(message: Dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                start.update(message)
            elif kind == "http.response.body":
                if not start:
                    raise RuntimeError("http.response.body before http.response.start")
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False) and not req.answered:
                    headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", [])]
                    _respond(req, int(start["status"]), headers, b"".join(chunks))
                    self.server._kick()
                    if not gone.done():
                        gone.set_result(None)

        try:
            await self.other_asgi_app(self._scope(req), receive, send)  # type: ignore[misc]
        except Exception:
            logger.exception("error in the ASGI app for %s %s", req.method, req.path)
        finally:
            req.on_abort = None
            if not req.answered:
                if start and not req.aborted:
                    logger.error("the ASGI app for %s %s did not finish its response", req.method, req.path)
                req.respond(*_ERROR_500)
                self.server._kick()

    # ---- lifespan ------------------------------------------------------------------------------

    async def _call_hook(self, hook: Optional[Callable]) -> None:
        if hook is not None:
            r = hook()
            if inspect.isawaitable(r):
                await r

    async def startup(self) -> None:
        """Runs ``on_startup``, then the app's lifespan startup (as uvicorn's ``lifespan="auto"``:
        an app that does not speak the protocol is served all the same)."""
        await self._call_hook(self.on_startup)
        if self.other_asgi_app is None:
            return
        queue: asyncio.Queue = asyncio.Queue()
        started: asyncio.Future = asyncio.get_running_loop().create_future()
        self._lifespan_queue = queue
        queue.put_nowait({"type": "lifespan.startup"})

        async def send(message: Dict[str, Any]) -> None:
            kind = message["type"]
            if kind in ("lifespan.startup.complete", "lifespan.startup.failed") and not started.done():
                started.set_result(message)
            elif kind == "lifespan.shutdown.failed":
                logger.error("ASGI lifespan shutdown failed: %s", message.get("message", ""))

        async def runner() -> None:
            try:
                await self.other_asgi_app({"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                                           "state": self._state}, queue.get, send)
            except Exception:
                if not started.done():
                    logger.debug("the ASGI app does not support the lifespan protocol", exc_info=True)
                    started.set_result(None)
                else:
                    logger.exception("error in the ASGI app's lifespan")
            finally:
                if not started.done():
                    started.set_result(None)

        self._lifespan_task = asyncio.get_running_loop().create_task(runner())
        msg = await started
        if msg is None:
            self._lifespan_queue = None
        elif msg["type"] == "lifespan.startup.failed":
            raise RuntimeError("ASGI lifespan startup failed: %s" % msg.get("message", ""))

    async def shutdown(self) -> None:
        """The app's lifespan shutdown, then ``on_shutdown``."""
        if self._lifespan_queue is not None and self._lifespan_task is not None:
            self._lifespan_queue.put_nowait({"type": "lifespan.shutdown"})
            try:
                await asyncio.wait_for(self._lifespan_task, 10)
            except asyncio.TimeoutError:
                logger.error("the ASGI app's lifespan shutdown did not finish in 10 s")
            self._lifespan_queue = self._lifespan_task = None
        await self._call_hook(self.on_shutdown)

    async def serve(self, host: Optional[str] = None, port: Optional[int] = None, **tls: Any) -> None:
        """Lifespan startup, the server in its asyncio mode until stopped, lifespan shutdown.
        ``ssl_certfile=``/``ssl_keyfile=`` (uvicorn's names) or ``certfile=``/``keyfile=``: HTTPS/WSS."""
        await self.startup()
        try:
            await self.server.serve(host, port, **tls)
        finally:
            await self.shutdown()


def run(app: Union[WSGIApp, ASGIApp, Any], host: str = "127.0.0.1", port: int = 5000,
        handle_signals: bool = True, **tls: Any) -> None:
    """Serves ``app`` until ``stop()``, SIGINT or SIGTERM — the one call that replaces
    ``app.run()`` / ``eventlet.wsgi.server(eventlet.listen(('', 5000)), app)`` (a :class:`WSGIApp`,
    a Flask app whose ``wsgi_app`` is one, or a bare :class:`sio.Server`: ``server.run()``, WSGI routes in a thread pool) and
    ``uvicorn.run(app, host=..., port=...)`` (an :class:`ASGIApp`, or a server whose ``emit`` is a
    coroutine function such as an ``AsyncServer``: ``asyncio.run()`` of its ``serve()``).
    HTTPS/WSS with ``certfile=``/``keyfile=`` (eventlet's names) or ``ssl_certfile=``/
    ``ssl_keyfile=`` (uvicorn's), and optionally ``ca_certs=``/``ssl_ca_certs=``."""
    if not isinstance(app, (WSGIApp, ASGIApp)) and isinstance(getattr(app, "wsgi_app", None), WSGIApp):
        app = app.wsgi_app  # a Flask app wrapped as python-socketio shows: app.wsgi_app = WSGIApp(sio, app.wsgi_app)
    if isinstance(app, ASGIApp):
        asyncio.run(_serve_async(app.serve, app.server, host, port, handle_signals, tls))
    elif isinstance(app, WSGIApp):
        try:
            app.server.run(host, port, handle_signals=handle_signals, **tls)
        finally:
            app.shutdown()
    elif hasattr(app, "serve") and hasattr(app, "_core"):
        if inspect.iscoroutinefunction(getattr(type(app), "emit", None)):
            # An asyncio server (awaitable emit: python-socketio's AsyncServer) runs on asyncio.
            asyncio.run(_serve_async(app.serve, app, host, port, handle_signals, tls))
        else:
            app.run(host, port, handle_signals=handle_signals, **tls)
    else:
        raise TypeError("sio.run() takes a sio.WSGIApp, a sio.ASGIApp or a sio.Server, not %s"
                        % type(app).__name__)


async def _serve_async(serve: Callable, server: Any, host: str, port: int, handle_signals: bool,
                       tls: Dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    if handle_signals:
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, server.stop)
            except (NotImplementedError, RuntimeError):
                pass
    await serve(host, port, **tls)

