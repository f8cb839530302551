"""One FastAPI app with a `GET /hello` route (python-socketio's fastapi-fiddle example's route),
served either by sio (`sio.ASGIApp` beside a Socket.IO server, `sio.run`) or by uvicorn (its
Socket.IO-less baseline, httptools + uvloop). Prints `listening on http://HOST:PORT` when ready.

    server.py sio|uvicorn [--host 127.0.0.1] [--port 0]
"""

import argparse
import os
import socket
import sys

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello():
    return {"message": "Hello, World!"}


def in_tree_sio():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    path = os.environ.get("SIO_PY_PATH") or os.path.join(
        root, "build-python", "py%d.%d" % sys.version_info[:2], "bindings", "python")
    sys.path.insert(0, path)
    import sio
    return sio


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("impl", choices=["sio", "uvicorn"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    if a.impl == "sio":
        sio = in_tree_sio()
        server = sio.Server()
        asgi = sio.ASGIApp(server, app)
        port = server.listen(a.host, a.port)
        print("listening on http://%s:%d" % (a.host, port), flush=True)
        sio.run(asgi)
        return
    import uvicorn
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.host, a.port))
    sock.listen(2048)  # before the line below: the load may connect at once
    print("listening on http://%s:%d" % (a.host, sock.getsockname()[1]), flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, http="httptools", loop="uvloop")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
