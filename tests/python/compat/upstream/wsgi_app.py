# A Flask app with Socket.IO beside it, written as python-socketio's documentation shows (sync
# server, socketio.WSGIApp wrapping Flask's wsgi_app, a background thread, rooms). The acceptance
# test runs it changed in its import and launcher lines only.
async_mode = "threading"

from flask import Flask
import socketio

sio = socketio.Server(async_mode=async_mode)
sio.instrument(auth={"username": "admin", "password": "change me"})  # the Admin UI hook
app = Flask(__name__)
app.wsgi_app = socketio.WSGIApp(sio, app.wsgi_app)
ticker = None


def tick():
    n = 0
    while True:
        sio.sleep(0.2)
        n += 1
        sio.emit("server_tick", {"n": n})


@app.route("/")
def index():
    return "<!doctype html><title>wsgi example</title><p>the page</p>"


@app.route("/api/status")
def status():
    return {"clients": len(clients)}


clients = set()


@sio.event
def connect(sid, environ):
    global ticker
    clients.add(sid)
    if ticker is None:
        ticker = sio.start_background_task(tick)
    sio.emit("status", {"text": "connected", "count": len(clients)}, room=sid)


@sio.event
def echo(sid, message):
    sio.emit("status", {"text": message["text"]}, room=sid)


@sio.event
def shout(sid, message):
    sio.emit("status", {"text": message["text"].upper()})


@sio.event
def enter(sid, message):
    sio.enter_room(sid, message["room"])
    sio.emit("status", {"text": "in " + message["room"]}, room=sid)


@sio.event
def leave(sid, message):
    sio.leave_room(sid, message["room"])
    sio.emit("status", {"text": "out of " + message["room"]}, room=sid)


@sio.event
def to_room(sid, message):
    sio.emit("status", {"text": message["text"]}, room=message["room"])


@sio.event
def shut_room(sid, message):
    sio.emit("status", {"text": message["room"] + " closing"}, room=message["room"])
    sio.close_room(message["room"])


@sio.event
def bye(sid):
    sio.disconnect(sid)


@sio.event
def disconnect(sid):
    clients.discard(sid)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000, threaded=True)
