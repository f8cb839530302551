"""The contract server (../../../shared/contract.md) on python-socketio's own AsyncServer (PyPI
python-socketio and uvicorn), for the sio client tests: namespaces /, /custom and /admin (no
dynamic namespaces: python-socketio has no regex namespaces).

    python psio_contract_server.py [--host 127.0.0.1] [--port 0]

Prints `listening on http://HOST:PORT` once ready; SIGTERM stops it."""

import argparse
import asyncio
import socket

import socketio
import uvicorn


def build():
    sio = socketio.AsyncServer(async_mode="asgi", namespaces=["/", "/custom", "/admin"])

    @sio.on("connect")
    async def connect(sid, environ, auth):
        await sio.emit("auth", auth if auth is not None else {}, to=sid)

    @sio.on("connect", namespace="/custom")
    async def connect_custom(sid, environ, auth):
        await sio.emit("auth", auth if auth is not None else {}, to=sid, namespace="/custom")

    @sio.on("connect", namespace="/admin")
    async def connect_admin(sid, environ, auth):
        if not isinstance(auth, dict) or auth.get("token") != "secret":
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        await sio.emit("welcome", sid, to=sid, namespace="/admin")

    @sio.on("message")
    async def message(sid, *args):
        await sio.emit("message-back", args, to=sid)

    @sio.on("message-with-ack")
    async def message_with_ack(sid, *args):
        return args

    @sio.on("echo")
    async def echo(sid, *args):
        return args

    @sio.on("broadcast")
    async def broadcast(sid, *args):
        await sio.emit("broadcast", args)

    async def rooms_of(sid):
        return sorted(sio.rooms(sid))

    @sio.on("join")
    async def join(sid, room):
        await sio.enter_room(sid, room)
        return await rooms_of(sid)  # a list: one argument

    @sio.on("leave")
    async def leave(sid, room):
        await sio.leave_room(sid, room)
        return await rooms_of(sid)  # a list: one argument

    @sio.on("to-room")
    async def to_room(sid, room, *args):
        await sio.emit("room-message", (room, *args), room=room)

    @sio.on("ask")
    async def ask(sid, event, *args):
        try:
            answer = await sio.call(event, args, to=sid, timeout=1)
        except socketio.exceptions.TimeoutError:
            return {"ok": False, "error": "timeout"}
        answer = list(answer) if isinstance(answer, tuple) else [] if answer is None else [answer]
        return {"ok": True, "args": answer}

    @sio.on("count")
    async def count(sid):
        return len(sio.manager.rooms.get("/", {}).get(None, {}))

    @sio.on("disconnect-me")
    async def disconnect_me(sid):
        await sio.disconnect(sid)

    return socketio.ASGIApp(sio)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.host, a.port))
    sock.listen(128)  # connections wait in the backlog until uvicorn serves
    print("listening on http://%s:%d" % (a.host, sock.getsockname()[1]), flush=True)
    config = uvicorn.Config(build(), log_level="warning", lifespan="off")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
