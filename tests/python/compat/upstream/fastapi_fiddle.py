# A FastAPI app with its own routes and Socket.IO on the same port (socketio.ASGIApp(sio, app)),
# as python-socketio's documentation shows. The acceptance test runs it changed in its import and
# launcher lines only.
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
import socketio
import uvicorn

app = FastAPI()
sio = socketio.AsyncServer(async_mode="asgi")
combined_asgi_app = socketio.ASGIApp(sio, app)


@app.get("/")
async def index():
    return HTMLResponse("<!doctype html><title>fiddle</title>")


@app.get("/hello")
async def hello():
    return {"message": "Hello from FastAPI"}


@sio.event
async def connect(sid, environ, auth):
    await sio.emit("welcome", (1, "two", {"auth": auth}), to=sid)


@sio.event
def disconnect(sid):
    print("disconnected", sid)


if __name__ == "__main__":
    uvicorn.run(combined_asgi_app, host="127.0.0.1", port=5000)
