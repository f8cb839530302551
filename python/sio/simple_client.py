"""python-socketio's ``SimpleClient`` and ``AsyncSimpleClient``: one namespace, events read with
``receive()`` instead of handlers, over :class:`sio.Client` / :class:`sio.AsyncClient`.

While the client reconnects, ``emit`` and ``call`` do not block (python-socketio's do): the event
waits in the core's send buffer. Once the connection ended for good (the server disconnected the
client, or reconnection gave up), they and ``receive`` raise ``DisconnectedError``."""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from typing import Any, Deque, List, Optional

from .client import AsyncClient, Client
from .exceptions import DisconnectedError, TimeoutError


class SimpleClient:
    """``SimpleClient(*args, **kwargs)``: the arguments are :class:`sio.Client`'s."""

    client_class = Client

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.client_args = args
        self.client_kwargs = kwargs
        self.client: Optional[Client] = None
        self.namespace = "/"
        self.connected = False
        self._finished = False
        self._input: Deque[List[Any]] = collections.deque()
        self._input_cv = threading.Condition()

    def connect(self, url: str, headers: Any = {}, auth: Any = None, transports: Any = None,
                namespace: str = "/", socketio_path: str = "socket.io", wait_timeout: float = 5) -> None:
        if self.connected:
            raise RuntimeError("Already connected")
        self.namespace = namespace
        self._input.clear()
        self._finished = False
        client = self.client_class(*self.client_args, **self.client_kwargs)

        def on_event(event: str, *args: Any) -> None:
            with self._input_cv:
                self._input.append([event, *args])
                self._input_cv.notify_all()

        client.on("*", on_event, namespace=namespace)

        def final() -> None:
            with self._input_cv:
                self._finished = True
                self.connected = False
                self._input_cv.notify_all()

        client.on("__disconnect_final", final, namespace=namespace)
        # delivered on the loop thread's terms: the final disconnect may come while waiting
        client.connect(url, headers=headers, auth=auth, transports=transports, namespaces=[namespace],
                       socketio_path=socketio_path, wait_timeout=wait_timeout)
        self.client = client
        self.connected = True

    @property
    def sid(self) -> Optional[str]:
        return self.client.get_sid(self.namespace) if self.client else None

    @property
    def transport(self) -> str:
        return self.client.transport() if self.client else ""

    def _check(self) -> Client:
        if self.client is None or self._finished:
            raise DisconnectedError()
        return self.client

    def emit(self, event: str, data: Any = None) -> None:
        self._check().emit(event, data, namespace=self.namespace)

    def call(self, event: str, data: Any = None, timeout: float = 60) -> Any:
        return self._check().call(event, data, namespace=self.namespace, timeout=timeout)

    def receive(self, timeout: Optional[float] = None) -> List[Any]:
        """The next event, as [name, *args]: TimeoutError after timeout seconds (None: waits),
        DisconnectedError once disconnected for good with nothing left to read."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._input_cv:
            while not self._input:
                if self._finished or self.client is None:
                    raise DisconnectedError()
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError()
                self._input_cv.wait(left)
            return self._input.popleft()

    def disconnect(self) -> None:
        client = self.client
        if client is not None:
            client.disconnect()
            self.client = None
        self.connected = False

    def __enter__(self) -> "SimpleClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.disconnect()


class AsyncSimpleClient:
    """The asyncio version: ``await connect(...)``, ``await receive(timeout)``..., ``async with``."""

    client_class = AsyncClient

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.client_args = args
        self.client_kwargs = kwargs
        self.client: Optional[AsyncClient] = None
        self.namespace = "/"
        self.connected = False
        self._finished = False
        self._input: Deque[List[Any]] = collections.deque()
        self._input_event: Optional[asyncio.Event] = None

    async def connect(self, url: str, headers: Any = {}, auth: Any = None, transports: Any = None,
                      namespace: str = "/", socketio_path: str = "socket.io", wait_timeout: float = 5) -> None:
        if self.connected:
            raise RuntimeError("Already connected")
        self.namespace = namespace
        self._input.clear()
        self._finished = False
        self._input_event = event = asyncio.Event()
        client = self.client_class(*self.client_args, **self.client_kwargs)

        def on_event(name: str, *args: Any) -> None:
            self._input.append([name, *args])
            event.set()

        client.on("*", on_event, namespace=namespace)

        def final() -> None:
            self._finished = True
            self.connected = False
            event.set()

        client.on("__disconnect_final", final, namespace=namespace)
        await client.connect(url, headers=headers, auth=auth, transports=transports, namespaces=[namespace],
                             socketio_path=socketio_path, wait_timeout=wait_timeout)
        self.client = client
        self.connected = True

    @property
    def sid(self) -> Optional[str]:
        return self.client.get_sid(self.namespace) if self.client else None

    @property
    def transport(self) -> str:
        return self.client.transport() if self.client else ""

    def _check(self) -> AsyncClient:
        if self.client is None or self._finished:
            raise DisconnectedError()
        return self.client

    async def emit(self, event: str, data: Any = None) -> None:
        await self._check().emit(event, data, namespace=self.namespace)

    async def call(self, event: str, data: Any = None, timeout: float = 60) -> Any:
        return await self._check().call(event, data, namespace=self.namespace, timeout=timeout)

    async def receive(self, timeout: Optional[float] = None) -> List[Any]:
        end = None if timeout is None else time.monotonic() + timeout
        while not self._input:
            if self._finished or self.client is None or self._input_event is None:
                raise DisconnectedError()
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError()
            self._input_event.clear()
            try:
                await asyncio.wait_for(self._input_event.wait(), left)
            except asyncio.TimeoutError:
                pass
        return self._input.popleft()

    async def disconnect(self) -> None:
        client = self.client
        if client is not None:
            await client.disconnect()
            self.client = None
        self.connected = False

    async def __aenter__(self) -> "AsyncSimpleClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.disconnect()
