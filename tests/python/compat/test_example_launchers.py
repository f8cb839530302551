"""python-socketio's example apps pick their launcher at the end of the module by
``sio.async_mode`` and call ``sio.instrument(...)`` for the Admin UI (served: an admin page logs in); the launcher line they keep
after a port is ``socketio.run(app, ...)`` where ``app`` is still the Flask app (its
``wsgi_app`` wrapped by ``socketio.WSGIApp``). Each app below is written in that style, with
``import sio as socketio``."""

import threading
import urllib.request
import warnings

import pytest

from _support import BUILD_ERROR, WAIT, client, sio, wait_for

socketio = sio


@pytest.fixture(autouse=True)
def _built():
    if BUILD_ERROR:
        pytest.fail(BUILD_ERROR)


def test_async_mode_attribute_names_the_branch_to_take():
    assert socketio.Server().async_mode == 'threading'
    assert socketio.Server(async_mode='threading').async_mode == 'threading'
    assert socketio.AsyncServer().async_mode == 'asgi'
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # 'asgi' is what sio.ASGIApp serves: no warning
        assert socketio.AsyncServer(async_mode='asgi').async_mode == 'asgi'
    with pytest.warns(UserWarning, match='libuv'):
        srv = socketio.Server(async_mode='eventlet')
    assert srv.async_mode == 'eventlet'  # the app's eventlet branch, whose launcher line is ported


def test_instrument_serves_the_admin_ui_and_the_app_still_serves():
    admin = {'username': 'someone', 'password': 'pw'}
    app = socketio.Server()
    app.instrument(auth=admin)

    @app.event
    def shout(sid, text):
        return text.upper()

    port = app.listen('127.0.0.1', 0)
    t = threading.Thread(target=app.run, kwargs={'handle_signals': False}, daemon=True)
    t.start()
    try:
        c = client('http://127.0.0.1:%d' % port)
        assert c.call('shout', 'hey', timeout=WAIT) == 'HEY'
        c.disconnect()
        page = client('http://127.0.0.1:%d' % port, namespaces=['/admin'], auth=admin)
        page.disconnect()
    finally:
        app.stop()
        t.join(WAIT)
    assert not t.is_alive()


def test_run_takes_the_flask_app_whose_wsgi_app_was_wrapped():
    flask = pytest.importorskip('flask')
    sio_server = socketio.Server(async_mode=None)
    sio_server.instrument(auth={'username': 'a', 'password': 'b'})
    web = flask.Flask(__name__)
    web.wsgi_app = socketio.WSGIApp(sio_server, web.wsgi_app)
    state = {'task': None, 'ticks': 0}

    def ticker():
        while state['ticks'] < 2:
            sio_server.sleep(0.05)
            state['ticks'] += 1
            sio_server.emit('tick', {'n': state['ticks']})

    @web.route('/')
    def index():
        if state['task'] is None:  # started by the page, from a WSGI worker thread
            state['task'] = sio_server.start_background_task(ticker)
        return 'the page'

    @sio_server.event
    def connect(sid, environ):
        sio_server.emit('status', {'text': 'Connected'}, room=sid)

    @sio_server.event
    def disconnect_request(sid):
        sio_server.disconnect(sid)

    launched = []

    def main():
        if sio_server.async_mode == 'threading':
            launched.append('threading')
            socketio.run(web, host='127.0.0.1', port=0, handle_signals=False)  # the ported launcher
        else:
            launched.append(sio_server.async_mode)

    t = threading.Thread(target=main, daemon=True)
    t.start()
    try:
        assert wait_for(lambda: sio_server.port)
        url = 'http://127.0.0.1:%d' % sio_server.port
        c = client(url)
        assert wait_for(lambda: ('/', 'status', ({'text': 'Connected'},)) in c.received)
        with urllib.request.urlopen(url + '/', timeout=WAIT) as r:
            assert r.status == 200 and r.read() == b'the page'
        assert wait_for(lambda: ('/', 'tick', ({'n': 2},)) in c.received), c.received
        c.emit('disconnect_request')
        assert wait_for(lambda: not c.connected)
    finally:
        sio_server.stop()
        t.join(WAIT)
    assert launched == ['threading'] and not t.is_alive()


def test_run_refuses_what_it_cannot_serve():
    class NotAnApp:
        wsgi_app = staticmethod(lambda environ, start_response: [])
    with pytest.raises(TypeError):
        socketio.run(NotAnApp(), port=0, handle_signals=False)
