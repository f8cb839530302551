# Class-based namespaces in a Flask app (the shape of Flask-SocketIO's class-namespace example,
# written with python-socketio's Namespace and WSGIApp). The acceptance test runs it changed in
# its import and launcher lines only.
from flask import Flask
import socketio

sio = socketio.Server(async_mode="threading")
app = Flask(__name__)
app.wsgi_app = socketio.WSGIApp(sio, app.wsgi_app)


class Room(socketio.Namespace):
    def on_connect(self, sid, environ):
        self.emit("status", {"text": "connected to " + self.namespace}, room=sid)

    def on_echo(self, sid, message):
        self.emit("status", {"text": message["text"]}, room=sid)

    def on_shout(self, sid, message):
        self.emit("status", {"text": message["text"].upper()})

    def on_enter(self, sid, message):
        self.enter_room(sid, message["room"])
        self.emit("status", {"text": "in " + message["room"]}, room=sid)

    def on_to_room(self, sid, message):
        self.emit("status", {"text": message["text"]}, room=message["room"])

    def on_count(self, sid, n):
        return n + 1

    def on_disconnect(self, sid):
        print("left", sid)


sio.register_namespace(Room("/room"))


@app.route("/")
def index():
    return "<!doctype html><title>class namespaces</title>"


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000, threaded=True)
