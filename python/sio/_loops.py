"""``Server(workers=N)``: N event loops in one interpreter (sio.h "Workers"). The Core ``Server()``
made owns the group and worker 0's loop (``run()`` runs it); ``listen()`` starts the group
(``Core.start_workers``): a Core per worker, worker 0's on the calling thread over that loop, the
others on the group's threads, each listening on the same port (SO_REUSEPORT).

Every worker calls the same dispatch object (the Server), so the same handlers serve every worker.
A handler runs on its worker's thread with the GIL: handlers of different workers take turns, while
the C core (parsing, framing, fan-out, I/O) runs on every worker at once without it.

``server._core`` becomes a :class:`Cores`: an attribute names the Core of the calling thread's
worker (worker 0 from any other thread); the configuration methods (namespaces, hooks, static
files, HTTP handlers...) are recorded and made on every worker's Core. A socket belongs to the
worker that accepted it; operations on a sid from another thread go to its owner's loop."""

from __future__ import annotations

import collections
import functools
import threading
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from .server import Server

MAX_WORKERS = 64

# Core methods that configure a server: made on every worker's Core (recorded for the ones built
# later). Their results are worker 0's.
CONFIG = frozenset(("namespace", "dynamic", "set_hook", "serve_metrics", "set_debug", "set_log",
                    "static", "handler", "engine", "instrument"))


def check_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError("workers must be an int")
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError("workers must be 1 to %d, not %d" % (MAX_WORKERS, workers))
    return workers


class Cores:
    """What ``server._core`` is with workers: the calling thread's worker's Core."""

    def __init__(self, server: "Server", core0: Any, count: int) -> None:
        self._server = server
        self._count = count
        self.owner = core0
        self.cores: List[Any] = [core0]  # the owner until the workers exist
        self.config: List[Tuple[str, tuple, dict]] = []
        self.queues: List[Deque[Callable[[], Any]]] = [collections.deque() for _ in range(count)]
        self.index: Dict[int, int] = {}  # thread ident -> worker index (the loop threads)
        self.home = threading.local()     # .index: the worker a handler thread works for
        self.started = False
        self.sid_owner: Dict[tuple, int] = {}  # (nsp, sid) -> worker, while connected

    # ---- which worker --------------------------------------------------------------------------

    def here(self) -> Optional[int]:
        """The worker whose loop thread calls this, else None."""
        return self.index.get(threading.get_ident())

    def home_index(self) -> int:
        i = self.index.get(threading.get_ident())
        if i is not None:
            return i
        return getattr(self.home, "index", 0)

    def __getattr__(self, name: str) -> Any:
        i = self.index.get(threading.get_ident())
        core = self.cores[0 if i is None else i]
        if name in CONFIG:
            return functools.partial(self._configure, name)
        return getattr(core, name)

    # ---- configuration ---------------------------------------------------------------------------

    def _configure(self, name: str, *args: Any, **kw: Any) -> Any:
        self.config.append((name, args, kw))
        if not self.started:
            return getattr(self.cores[0], name)(*args, **kw)
        here = self.here()
        result = None
        for i, core in enumerate(self.cores):
            if i == here or (here is None and i == 0 and self._server._loop_thread is None):
                r = getattr(core, name)(*args, **kw)
                if i == 0:
                    result = r
            else:
                self.post(i, functools.partial(getattr(core, name), *args, **kw))
        return result if result is not None else (args[0] if args else None)

    # ---- the loops -------------------------------------------------------------------------------

    def post(self, i: int, fn: Callable[[], Any]) -> None:
        """fn() on worker i's loop thread, soon (safe from any thread)."""
        self.queues[i].append(fn)
        self.cores[i].wakeup()

    def drain(self) -> None:
        q = self.queues[self.home_index()]
        while q:
            fn = q.popleft()
            try:
                fn()
            except Exception:
                import logging

                logging.getLogger("sio").exception("error in a callback scheduled with call_soon_threadsafe")

    def start(self, core_kw: Dict[str, Any], listen: Callable[[Any], int]) -> int:
        """Builds the workers; each listens with listen(core). Worker 0's bound port."""
        from . import _core

        srv = self._server
        port: List[int] = []
        self.index[threading.get_ident()] = 0

        cores: List[Any] = []

        def setup(i: int) -> None:
            core = _core.Core(srv, **core_kw)  # joins worker i (start_workers' setup is running)
            cores.append(core)
            self.index[threading.get_ident()] = i
            for name, args, kw in self.config:
                getattr(core, name)(*args, **kw)
            port.append(listen(core))

        # in place before any worker runs: handlers run on workers 1.. while later ones are built
        self.cores, self.started = cores, True
        try:
            self.owner.start_workers(self._count, setup)
        except BaseException:
            self.index.clear()
            self.cores, self.started = [self.owner], False
            raise
        return port[0]
