"""What the compat apps' tests share: the in-tree `sio` (as test_api.py finds it), a python-socketio
client, and servers run on a thread (a sync Server's run(), an AsyncServer's serve() under
asyncio.run), all on 127.0.0.1 with a free port, each stopped within WAIT seconds."""

import asyncio
import os
import sys
import threading
import time

import socketio as pysocketio  # the python-socketio client that drives the apps

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from test_api import BUILD_ERROR, sio  # noqa: E402 - the build test_api.py makes and imports

WAIT = 5.0


def wait_for(pred, timeout=WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return pred()


class Serving:
    """``with Serving(app) as url:`` runs a sio.Server (run()) or sio.AsyncServer (serve() on a
    new asyncio loop) on a thread; on exit, stops it and joins the thread."""

    def __init__(self, app):
        self.app = app
        self.port = app.listen('127.0.0.1', 0)
        self.url = 'http://127.0.0.1:%d' % self.port
        self.error = None
        self.loop = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            if isinstance(self.app, sio.AsyncServer):
                async def main():
                    self.loop = asyncio.get_running_loop()
                    await self.app.serve()
                asyncio.run(main())
            else:
                self.app.run(handle_signals=False)
        except BaseException as e:  # pragma: no cover
            self.error = e

    def __enter__(self):
        self.thread.start()
        if isinstance(self.app, sio.AsyncServer):
            assert wait_for(lambda: self.loop is not None and self.app._aio is not None)
        return self.url

    def __exit__(self, *exc):
        self.app.stop()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        assert self.error is None


def client(url, namespaces=None, auth=None, transports=('websocket',), **kw):
    c = pysocketio.Client(reconnection=False, **kw)
    c.received = []
    for ns in namespaces or ['/']:
        c.on('*', lambda event, *args, ns=ns: c.received.append((ns, event, args)), namespace=ns)
    c.connect(url, namespaces=namespaces, auth=auth, transports=list(transports), wait_timeout=WAIT)
    return c
