"""sio.flask: an app written in Flask-SocketIO's style (a class namespace whose handlers take no
sid, context functions, flask.request.sid, flask.session, a background thread emitting, a Flask
route beside Socket.IO), served by sio and driven by python-socketio's client."""

import threading
import urllib.request

import pytest

from _support import BUILD_ERROR, WAIT, client, wait_for

flask = pytest.importorskip("flask")


@pytest.fixture(autouse=True)
def _built():
    if BUILD_ERROR:
        pytest.fail(BUILD_ERROR)


def make_app():
    from sio.flask import (Namespace, SocketIO, close_room, disconnect, emit, join_room,
                           leave_room, rooms, send)

    app = flask.Flask(__name__)
    app.config['SECRET_KEY'] = 'not so secret'
    socketio = SocketIO(app, async_mode=None, cors_allowed_origins='*')
    state = {'ticker': None, 'disconnected': []}
    lock = threading.Lock()

    def ticker():
        for n in range(1, 4):
            socketio.sleep(0.05)
            socketio.emit('tick', {'n': n}, namespace='/game')

    @app.route('/hello')
    def hello():
        return 'hello from flask'

    class Game(Namespace):
        def on_connect(self):
            flask.session['seen'] = 0
            with lock:
                if state['ticker'] is None:
                    state['ticker'] = socketio.start_background_task(ticker)
            emit('welcome', {'sid': flask.request.sid, 'ns': flask.request.namespace})

        def on_count(self, message):
            flask.session['seen'] = flask.session.get('seen', 0) + 1
            emit('counted', {'data': message['data'], 'seen': flask.session['seen']})

        def on_join(self, message):
            join_room(message['room'])
            emit('rooms', sorted(rooms()))

        def on_leave(self, message):
            leave_room(message['room'])
            emit('rooms', sorted(rooms()))

        def on_room_say(self, message):
            emit('said', message['text'], to=message['room'], include_self=False)

        def on_shout(self, text):
            emit('shouted', text, broadcast=True)

        def on_close(self, message):
            emit('closing', message['room'], room=message['room'])
            close_room(message['room'])

        def on_echo(self, *args):
            return ['echo', *args]

        def on_whoami(self):
            return flask.request.sid

        def on_bye(self):
            send('bye')
            disconnect()

        def on_disconnect(self):
            state['disconnected'].append(flask.request.sid)

    socketio.on_namespace(Game('/game'))

    @socketio.on('connect')
    def root_connect(auth):
        return auth is None or auth.get('token') != 'bad'

    @socketio.event
    def add(a, b):
        return a + b

    return app, socketio, state


class FlaskServing:
    def __init__(self, socketio):
        self.socketio = socketio
        self.port = socketio.server.listen('127.0.0.1', 0)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        self.socketio.server.run(handle_signals=False)

    def __enter__(self):
        self.thread.start()
        return 'http://127.0.0.1:%d' % self.port

    def __exit__(self, *exc):
        self.socketio.stop()
        self.thread.join(WAIT)
        self.socketio.wsgi_app.shutdown()


def events(c, name, ns='/game'):
    return [e[2] for e in c.received if e[0] == ns and e[1] == name]


def test_flask_socketio_style_namespace_app():
    app, socketio, state = make_app()
    with FlaskServing(socketio) as url:
        body = urllib.request.urlopen(url + '/hello', timeout=WAIT).read()
        assert body == b'hello from flask'
        a = client(url, namespaces=['/', '/game'])
        b = client(url, namespaces=['/', '/game'])
        try:
            sid_a = a.get_sid('/game')
            assert wait_for(lambda: events(a, 'welcome'))
            assert events(a, 'welcome')[0] == ({'sid': sid_a, 'ns': '/game'},)
            assert a.call('whoami', namespace='/game', timeout=WAIT) == sid_a
            assert a.call('echo', (1, 'x'), namespace='/game', timeout=WAIT) == ['echo', 1, 'x']
            assert a.call('add', (2, 3), timeout=WAIT) == 5

            # the session persists per connection, and is not shared
            a.emit('count', {'data': 'one'}, namespace='/game')
            a.emit('count', {'data': 'two'}, namespace='/game')
            b.emit('count', {'data': 'b'}, namespace='/game')
            assert wait_for(lambda: len(events(a, 'counted')) == 2 and len(events(b, 'counted')) == 1)
            assert events(a, 'counted')[1] == ({'data': 'two', 'seen': 2},)
            assert events(b, 'counted') == [({'data': 'b', 'seen': 1},)]

            # rooms, sid-less
            a.emit('join', {'room': 'r'}, namespace='/game')
            assert wait_for(lambda: events(a, 'rooms'))
            assert events(a, 'rooms')[0] == (sorted([sid_a, 'r']),)
            b.emit('join', {'room': 'r'}, namespace='/game')
            assert wait_for(lambda: events(b, 'rooms'))
            a.emit('room_say', {'room': 'r', 'text': 'hi'}, namespace='/game')
            assert wait_for(lambda: events(b, 'said'))
            assert events(b, 'said') == [('hi',)] and not events(a, 'said')

            # broadcast
            b.emit('shout', 'all', namespace='/game')
            assert wait_for(lambda: events(a, 'shouted') and events(b, 'shouted'))

            # close_room: both hear the closing, then the room is gone
            a.emit('close', {'room': 'r'}, namespace='/game')
            assert wait_for(lambda: events(a, 'closing') and events(b, 'closing'))
            a.emit('leave', {'room': 'r'}, namespace='/game')
            assert wait_for(lambda: len(events(a, 'rooms')) == 2)
            assert events(a, 'rooms')[1] == ([sid_a],)

            # the background thread's socketio.emit reaches every client of /game
            assert wait_for(lambda: len(events(a, 'tick')) == 3 and len(events(b, 'tick')) == 3)

            # disconnect() of the current client; its disconnect handler sees request.sid
            sid_b = b.get_sid('/game')
            b.emit('bye', namespace='/game')
            assert wait_for(lambda: events(b, 'message'))
            assert wait_for(lambda: sid_b in state['disconnected'])
        finally:
            a.disconnect()
            b.disconnect()


def test_flask_socketio_connect_refused_by_auth():
    import socketio as pysocketio

    app, socketio, state = make_app()
    with FlaskServing(socketio) as url:
        c = pysocketio.Client()
        with pytest.raises(pysocketio.exceptions.ConnectionError):
            c.connect(url, auth={'token': 'bad'}, wait_timeout=WAIT)
        c.disconnect()


def test_context_functions_outside_a_handler_raise():
    from sio.flask import emit

    with pytest.raises(RuntimeError):
        emit('x')
