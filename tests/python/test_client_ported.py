"""Code written for python-socketio's client runs unchanged on sio's with `import sio as socketio`:
each snippet below is run twice against the C contract server, with the real python-socketio (the
control: Debian's 5.7, or PyPI's in CI) and with sio, and must record the same things."""

import textwrap

import pytest
import socketio as python_socketio

from client_support import shared, stop_shared
from test_api import sio


@pytest.fixture(scope='module', autouse=True)
def _servers():
    yield
    stop_shared()


CLIENT = textwrap.dedent('''
    import threading
    sio = socketio.Client()
    out = []
    got_auth = threading.Event()

    @sio.event
    def connect():
        out.append('connected')

    @sio.on('auth')
    def on_auth(data):
        out.append(('auth', data))
        got_auth.set()

    @sio.event
    def question(a, b):
        return a + b

    @sio.event
    def disconnect(*reason):  # python-socketio 5.12+ passes a reason, older ones none
        out.append('disconnected')

    sio.connect(URL, auth={'user': 'me'}, transports=['websocket'])
    got_auth.wait(5)
    out.append(sio.call('echo', ('a', 1, b'bin')))
    out.append(sio.call('echo', [1, 2]))
    out.append(sio.call('echo', {'nested': {'b': b'\\x00'}}))
    out.append(sio.call('ask', ('question', 2, 3)))
    out.append(sio.get_sid() is not None and sio.connected)
    acked = threading.Event()
    sio.emit('echo', 'x', callback=lambda *a: (out.append(('callback', a)), acked.set()))
    acked.wait(5)
    try:
        sio.call('nobody-answers', timeout=0.2)
    except socketio.exceptions.TimeoutError:
        out.append('timeout')
    sio.disconnect()
    sio.wait()
''')

ASYNC_CLIENT = textwrap.dedent('''
    import asyncio
    out = []

    async def main():
        sio = socketio.AsyncClient()
        got = asyncio.Event()

        @sio.event
        async def auth(data):
            out.append(('auth', data))
            got.set()

        @sio.on('question')
        async def question(x):
            await sio.sleep(0.01)
            return [x, x]

        await sio.connect(URL)
        await asyncio.wait_for(got.wait(), 5)
        out.append(await sio.call('echo', (1, {'b': b'yes'})))
        out.append(await sio.call('ask', ('question', 'q')))
        await sio.disconnect()

    asyncio.run(main())
''')

SIMPLE_CLIENT = textwrap.dedent('''
    out = []
    with socketio.SimpleClient() as sio:
        sio.connect(URL, auth={'k': 'v'})
        out.append(sio.receive(timeout=5))
        sio.emit('message', ('m', 1))
        out.append(sio.receive(timeout=5))
        out.append(sio.call('echo', 'e'))
        try:
            sio.receive(timeout=0.2)
        except socketio.exceptions.TimeoutError:
            out.append('timeout')
''')


def run(code, module, url):
    env = {'socketio': module, 'URL': url}
    exec(compile(code, '<ported>', 'exec'), env)
    return env['out']


EXPECTED = {
    'Client': ['connected', ('auth', {'user': 'me'}), ('a', 1, b'bin'), [1, 2], {'nested': {'b': b'\x00'}},
               {'ok': True, 'args': [5]}, True, ('callback', ('x',)), 'timeout', 'disconnected'],
    'AsyncClient': [('auth', {}), (1, {'b': b'yes'}), {'ok': True, 'args': [['q', 'q']]}],
    'SimpleClient': [['auth', {'k': 'v'}], ['message-back', 'm', 1], 'e', 'timeout'],
}
SNIPPETS = {'Client': CLIENT, 'AsyncClient': ASYNC_CLIENT, 'SimpleClient': SIMPLE_CLIENT}


def _control_missing(name):
    """Why python-socketio here cannot run the snippet (None: it can)."""
    if not hasattr(python_socketio, name):
        return 'python-socketio %s has no %s' % (getattr(python_socketio, '__version__', '< 5.8'), name)
    if name == 'AsyncClient':
        try:
            import aiohttp  # noqa: F401 - python-socketio's AsyncClient needs it
        except ImportError:
            return 'no aiohttp for python-socketio\'s AsyncClient'
    return None


@pytest.mark.parametrize('name', sorted(SNIPPETS))
def test_python_socketio_code_runs_unchanged(name):
    url = shared('c').url
    code = SNIPPETS[name]
    assert run(code, sio, url) == EXPECTED[name]


@pytest.mark.parametrize('name', sorted(SNIPPETS))
def test_python_socketio_itself_records_the_same(name):
    """The control: python-socketio's own client, with the same snippet, records the same."""
    why = _control_missing(name)
    if why:
        pytest.skip(why)
    assert run(SNIPPETS[name], python_socketio, shared('c').url) == EXPECTED[name]
