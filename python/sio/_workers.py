"""The worker pool of ``Server(async_handlers=True)``: sync handlers run on worker threads, so one
that blocks (``time.sleep``, a database call) delays only its own client. A socket's handlers run
one after another, in arrival order (one queue per socket, drained by one worker at a time); what
they send goes through the server's thread (call_soon_threadsafe), acks included."""

from __future__ import annotations

import collections
import queue
import threading
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Hashable, List, Optional

if TYPE_CHECKING:
    from .server import Server


class WorkerPool:
    """Up to ``workers`` daemon threads (started on demand; daemon, as python-socketio's handler
    threads, so a handler that never returns does not hold the interpreter's exit) taking the
    sockets whose queues have work, one socket per thread at a time."""

    def __init__(self, server: "Server", workers: int) -> None:
        self._server = server
        self._size = workers
        self._threads: List[threading.Thread] = []
        self._ready: "queue.SimpleQueue[Optional[Hashable]]" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queues: Dict[Hashable, Deque[Callable[[], Any]]] = {}
        self._busy = 0

    def submit(self, key: Hashable, job: Callable[[], Any]) -> None:
        """Runs job on a worker after the jobs of ``key`` (a socket) queued before it."""
        cores = self._server._cores
        if cores is not None:  # Server(workers=N): what the job queues goes to this loop's worker
            home, inner = cores.home_index(), job

            def job() -> None:
                cores.home.index = home
                inner()

        with self._lock:
            q = self._queues.get(key)
            if q is not None:  # a worker has this socket's queue: it will run job too
                q.append(job)
                return
            self._queues[key] = collections.deque((job,))
            self._busy += 1
            if self._busy > len(self._threads) and len(self._threads) < self._size:
                t = threading.Thread(target=self._work, name="sio-handler-%d" % len(self._threads),
                                     daemon=True)
                self._threads.append(t)
                t.start()
        self._ready.put(key)

    def _work(self) -> None:
        while True:
            key = self._ready.get()
            if key is None:
                return
            self._drain(key)

    def _drain(self, key: Hashable) -> None:
        while True:
            with self._lock:
                q = self._queues[key]
                if not q:
                    del self._queues[key]
                    self._busy -= 1
                    return
                job = q.popleft()
            try:
                job()
            except BaseException:  # jobs log their own errors; a worker never dies of one
                pass

    def shutdown(self) -> None:
        """Lets the workers end once the queued jobs ran (not waited for)."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._ready.put(None)
