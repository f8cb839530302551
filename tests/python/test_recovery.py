"""Connection state recovery from Python (Server(connection_state_recovery=...)), in process, with a
raw Engine.IO v4 polling client (python-socketio's client has no recovery): the pid in the CONNECT
reply, the offset as the last argument, a transport close then a CONNECT with pid and offset: the
same sid, its rooms and session back, the missed events replayed, ``is_recovered(sid)`` in the
sid-style connect handler and ``socket.recovered`` / ``socket.data`` on the Node-shaped side, the
use() middlewares skipped; the options' spellings and refusals."""

import json
import urllib.request

import pytest

from test_api import WAIT, Running, sio, wait_for  # noqa: F401


class Poller:
    """One Engine.IO v4 polling session, by hand."""

    def __init__(self, url):
        self.base = url + '/socket.io/?EIO=4&transport=polling'
        body = self._get(self.base)
        assert body[0] == '0'
        self.sid = json.loads(body[1:])['sid']

    @staticmethod
    def _get(url):
        with urllib.request.urlopen(url, timeout=WAIT) as r:
            return r.read().decode()

    def post(self, *packets):
        data = '\x1e'.join(packets).encode()
        req = urllib.request.Request(self.base + '&sid=' + self.sid, data=data, method='POST')
        with urllib.request.urlopen(req, timeout=WAIT) as r:
            assert r.read() == b'ok'

    def packets(self, n):
        """The next n Socket.IO packets (pings answered, skipped)."""
        out = []
        while len(out) < n:
            for p in self._get(self.base + '&sid=' + self.sid).split('\x1e'):
                if p == '2':
                    self.post('3')
                elif p.startswith('4'):
                    out.append(p[1:])
        return out

    def connect(self, auth=None):
        self.post('40' + (json.dumps(auth) if auth else ''))


def _connect_reply(packet):
    assert packet.startswith('0{'), packet
    return json.loads(packet[1:])


def test_python_sid_and_node_style_recovery():
    server = sio.Server(connection_state_recovery={'maxDisconnectionDuration': 5000,
                                                   'skipMiddlewares': True})
    seen = {'connect': [], 'mw': 0, 'node': [], 'gone': []}

    @server.on('disconnect')
    def disconnect(sid, reason):
        seen['gone'].append(reason)

    @server.use
    def mw(socket, next):
        seen['mw'] += 1
        next()

    @server.on('connect')
    def connect(sid, environ, auth):
        seen['connect'].append((sid, server.is_recovered(sid)))

    @server.on('connection')
    def connection(socket):
        seen['node'].append((socket.id, socket.recovered, dict(socket.data)))
        if not socket.recovered:
            socket.data['name'] = 'ann'
            socket.join('r1')

    with Running(server) as r:
        a = Poller(r.url)
        a.connect()
        reply = _connect_reply(a.packets(1)[0])
        sid, pid = reply['sid'], reply['pid']
        assert len(pid) == 20 and pid != sid
        assert wait_for(lambda: len(seen['node']) == 1)
        server.call_soon_threadsafe(lambda: server.emit('hi', 1, to=sid))
        got = a.packets(1)
        assert json.loads(got[0][1:]) == ['hi', 1, '0']  # the offset, one extra last argument
        a.post('1')  # the client closes the transport: recoverable
        assert wait_for(lambda: seen['gone'] == ['transport close'])

        def missed():
            server.emit('missed', 'x', room='r1')
            server.emit('missed', 'y', room='elsewhere')
            server.emit('missed', 'z')
            seen['sent'] = True

        server.call_soon_threadsafe(missed)
        assert wait_for(lambda: seen.get('sent'))
        b = Poller(r.url)
        b.connect({'pid': pid, 'offset': '0'})
        got = b.packets(3)
        assert [json.loads(p[1:]) for p in got[:2]] == [['missed', 'x', '1'], ['missed', 'z', '3']]
        assert _connect_reply(got[2]) == {'sid': sid, 'pid': pid}
        assert wait_for(lambda: len(seen['node']) == 2)
        assert seen['node'][1] == (sid, True, {'name': 'ann'})
        assert seen['connect'] == [(sid, False), (sid, True)]
        assert seen['mw'] == 1  # skipped for the restored socket
        assert server.rooms(sid) == [sid, 'r1']
        assert server.get_session(sid) == {'name': 'ann'}
        # an unknown pid: a new socket
        c = Poller(r.url)
        c.connect({'pid': 'nope', 'offset': '0'})
        fresh = _connect_reply(c.packets(1)[0])
        assert fresh['sid'] != sid
        assert wait_for(lambda: len(seen['node']) == 3)
        assert seen['node'][2][1] is False and not server.is_recovered(fresh['sid'])


@pytest.mark.parametrize('option, error', [
    ('yes', TypeError),
    ({'maxDisconnectionDuration': -1}, ValueError),
    ({'max_disconnection_duration': 'x'}, ValueError),
    ({'max_bytes': -1}, ValueError),
    ({'unknown': 1}, ValueError),
])
def test_recovery_option_refused(option, error):
    with pytest.raises(error):
        sio.Server(connection_state_recovery=option)


def test_recovery_off_by_default_no_pid():
    server = sio.Server()
    with Running(server) as r:
        a = Poller(r.url)
        a.connect()
        assert 'pid' not in _connect_reply(a.packets(1)[0])


def test_middlewares_run_for_a_restored_socket_when_asked_and_may_refuse_it():
    server = sio.Server(connection_state_recovery={'skip_middlewares': False})
    seen = []

    @server.use
    def mw(socket, next):
        seen.append(socket.recovered)
        if socket.recovered:
            raise sio.ConnectionRefusedError('not again')
        next()

    gone = []

    @server.on('connection')
    def connection(socket):
        socket.emit('hello')
        socket.on('disconnect', lambda reason: gone.append(reason))

    with Running(server) as r:
        a = Poller(r.url)
        a.connect()
        got = a.packets(2)
        pid = _connect_reply(got[0])['pid']
        offset = json.loads(got[1][1:])[-1]
        a.post('1')
        assert wait_for(lambda: gone == ['transport close'])
        b = Poller(r.url)
        b.connect({'pid': pid, 'offset': offset})
        assert b.packets(1) == ['4{"message":"not again"}']
        assert seen == [False, True]
        assert wait_for(lambda: not server._recovered)
