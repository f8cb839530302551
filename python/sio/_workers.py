"""The worker pool of ``Server(async_handlers=True)``: sync handlers run on worker threads, so one
that blocks (``time.sleep``, a database call) delays only its own client. A socket's handlers run
one after another, in arrival order (one queue per socket, drained by one worker at a time); what
they send goes through the server's thread (call_soon_threadsafe), acks included."""

from __future__ import annotations

import collections
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Hashable

if TYPE_CHECKING:
    from .server import Server


class WorkerPool:
    def __init__(self, server: "Server", workers: int) -> None:
        self._server = server
        self._size = workers
        self._executor: "ThreadPoolExecutor | None" = None
        self._lock = threading.Lock()
        self._queues: Dict[Hashable, Deque[Callable[[], Any]]] = {}

    def submit(self, key: Hashable, job: Callable[[], Any]) -> None:
        """Runs job on a worker after the jobs of ``key`` (a socket) queued before it."""
        with self._lock:
            q = self._queues.get(key)
            if q is not None:  # a worker is draining this socket's queue: it will run job too
                q.append(job)
                return
            self._queues[key] = collections.deque((job,))
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._size, thread_name_prefix="sio-handler")
            executor = self._executor
        executor.submit(self._drain, key)

    def _drain(self, key: Hashable) -> None:
        while True:
            with self._lock:
                q = self._queues[key]
                if not q:
                    del self._queues[key]
                    return
                job = q.popleft()
            try:
                job()
            except BaseException:  # jobs log their own errors; a worker never dies of one
                pass

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
