"""The asyncio mode of a Server (``await server.serve()``): libuv's poll fd watched by the running
asyncio loop, one non-blocking libuv iteration per wake-up, and coroutine handlers run as tasks
whose results are the acks, the connect verdicts and the server-side answers."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Optional

from . import _core
from .errors import REJECTED, ConnectionRefusedError

logger = logging.getLogger("sio")


class AsyncioMode:
    """Mixed into :class:`sio.Server` (whose __init__ sets the attributes used here)."""

    async def serve(self, host: Optional[str] = None, port: Optional[int] = None, **tls: Any) -> None:
        """The asyncio mode: serves on the running asyncio loop until ``stop()`` (or the task is
        cancelled). libuv's poll fd is watched by asyncio; handlers may be coroutines (their
        result is the ack). ``certfile=``/``keyfile=`` (and their ``ssl_`` spellings): HTTPS/WSS,
        as :meth:`listen`."""
        if self._core.port() is None:
            self.listen(host or "127.0.0.1", 5000 if port is None else port, **tls)
        loop = asyncio.get_running_loop()
        self._aio = loop
        self._loop_thread = threading.get_ident()
        self._closed_future = loop.create_future()
        fd = self._core.backend_fd()
        loop.add_reader(fd, self._tick)
        self._tick()
        try:
            await self._closed_future
        finally:
            loop.remove_reader(fd)
            if self._aio_timer is not None:
                self._aio_timer.cancel()
            self._aio = None
            self._core.close()
            self._loop_thread = None

    def _tick(self) -> None:
        self._tick_scheduled = False
        if self._aio_timer is not None:
            self._aio_timer.cancel()
            self._aio_timer = None
        alive = self._core.run_nowait()
        if not alive or self._core.closed or self._aio is None:
            self._on_closed()
            return
        ms = self._core.backend_timeout()
        if ms >= 0:
            self._aio_timer = self._aio.call_later(ms / 1000.0, self._tick)

    def _kick(self) -> None:
        """In asyncio mode, schedules a libuv iteration (to write what was queued)."""
        if self._aio is not None and not self._tick_scheduled:
            self._tick_scheduled = True
            self._aio.call_soon(self._tick)

    def _no_asyncio(self, awaitable: Any, what: str) -> bool:
        """True (with the awaitable closed and an error logged) when not in asyncio mode."""
        if self._aio is not None:
            return False
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()
        logger.error("%s is a coroutine: it needs the asyncio mode (await server.serve())", what)
        return True

    async def _connect_later(self, nsp: str, sid: str, awaitable: Any, token: int) -> None:
        verdict = (REJECTED, None)
        try:
            if await awaitable is not False:
                verdict = None
        except ConnectionRefusedError as e:
            verdict = (e.message, e.data)
        except Exception:
            logger.exception("error in the connect handler of %s", nsp)
        finally:
            verdict = self._settle(nsp, sid, verdict)  # always_connect lets it in, then out
            if not self._core.closed:
                self._core.connect_done(token, verdict)
                self._kick()

    def _ack_later(self, ack: Optional[_core.Ack], event: str, awaitable: Any) -> None:
        """Runs a coroutine event handler; its result is the ack (when one was asked)."""
        if self._aio is None:
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()
            raise RuntimeError("coroutine handlers need the asyncio mode (await server.serve())")

        async def runner() -> None:
            try:
                result = await awaitable
            except Exception:
                logger.exception("error in the handler of event %r", event)
                return
            if ack is not None and result is not _core.NOACK:
                values = () if result is None else result if isinstance(result, tuple) else (result,)
                try:
                    ack(*values)
                except Exception:
                    logger.exception("the handler of event %r returned a value that cannot be sent "
                                     "as an ack", event)
                self._kick()

        self._aio.create_task(runner())

    def _disconnect_later(self, nsp: str, awaitable: Any, then: Any) -> None:
        """Runs a coroutine disconnect handler, then ``then()`` (drops the session)."""

        async def runner() -> None:
            try:
                await awaitable
            except Exception:
                logger.exception("error in the disconnect handler of %s", nsp)
            finally:
                then()
                self._kick()

        self._aio.create_task(runner())

    def _server_reply_later(self, nsp: str, reply_id: Optional[str], event: str, awaitable: Any) -> None:
        """Runs a coroutine server-side handler; its result is this node's answer (when asked)."""

        async def runner() -> None:
            try:
                value = await awaitable
            except Exception:
                logger.exception("error in the server-side handler of event %r", event)
                return
            if reply_id is not None:
                self._server_reply(nsp, reply_id, event, value)
                self._kick()

        self._aio.create_task(runner())
