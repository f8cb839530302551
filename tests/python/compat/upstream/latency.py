# A latency probe: the page pings, the server pongs at once (AsyncServer, ASGIApp with a static
# page), as python-socketio's documentation shows. The acceptance test runs it changed in its
# import and launcher lines only.
import os

import uvicorn
import socketio

here = os.path.dirname(os.path.abspath(__file__))
sio = socketio.AsyncServer(async_mode="asgi")
app = socketio.ASGIApp(sio, static_files={"/": os.path.join(here, "page.html")})


@sio.event
async def probe(sid):
    await sio.emit("probe_back", room=sid)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=5000)
