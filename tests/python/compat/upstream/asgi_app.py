# An asyncio Socket.IO app served as ASGI, written as python-socketio's documentation shows
# (AsyncServer, ASGIApp with static_files, a background task, rooms, awaited server calls).
# The acceptance test runs it changed in its import and launcher lines only.
import os

import uvicorn
import socketio

here = os.path.dirname(os.path.abspath(__file__))
sio = socketio.AsyncServer(async_mode="asgi")
sio.instrument(auth={"username": "admin", "password": "change me"})  # the Admin UI hook
app = socketio.ASGIApp(sio, static_files={"/": os.path.join(here, "page.html")})
started = False


async def tick():
    n = 0
    while True:
        await sio.sleep(0.2)
        n += 1
        await sio.emit("server_tick", {"n": n})


@sio.on("echo")
async def echo(sid, message):
    await sio.emit("status", {"text": message["text"]}, room=sid)


@sio.on("shout")
async def shout(sid, message):
    await sio.emit("status", {"text": message["text"].upper()})


@sio.on("enter")
async def enter(sid, message):
    await sio.enter_room(sid, message["room"])
    await sio.emit("status", {"text": "in " + message["room"]}, room=sid)


@sio.on("leave")
async def leave(sid, message):
    await sio.leave_room(sid, message["room"])
    await sio.emit("status", {"text": "out of " + message["room"]}, room=sid)


@sio.on("to_room")
async def to_room(sid, message):
    await sio.emit("status", {"text": message["text"]}, room=message["room"])


@sio.on("shut_room")
async def shut_room(sid, message):
    await sio.emit("status", {"text": message["room"] + " closing"}, room=message["room"])
    await sio.close_room(message["room"])


@sio.on("remember")
async def remember(sid, name):
    async with sio.session(sid) as session:
        session["name"] = name
    return "ok"


@sio.on("who")
async def who(sid):
    session = await sio.get_session(sid)
    return session.get("name")


@sio.on("bye")
async def bye(sid):
    await sio.disconnect(sid)


@sio.on("connect")
async def connect(sid, environ):
    global started
    if not started:
        sio.start_background_task(tick)
        started = True
    await sio.emit("status", {"text": "connected"}, room=sid)


@sio.on("disconnect")
async def disconnect(sid, reason):
    print("disconnected", sid, reason)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=5000)
