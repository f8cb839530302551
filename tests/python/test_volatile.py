"""Volatile emits over raw HTTP long-polling, where "not writable" is exact: with no GET waiting, a
volatile event is dropped and a normal one queued; with a GET waiting, the volatile one goes out."""

import http.client
import threading
import time

import sio
from test_api import Running

PATH = '/socket.io/'


class Polling:
    def __init__(self, port):
        self.port = port
        self.sid = None

    def request(self, method, body=None):
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=5)
        q = '?EIO=4&transport=polling' + ('&sid=' + self.sid if self.sid else '')
        conn.request(method, PATH + q, body=body, headers={'Content-Type': 'text/plain;charset=UTF-8'})
        res = conn.getresponse()
        data = res.read().decode()
        conn.close()
        assert res.status == 200, (res.status, data)
        return data

    def open(self):
        first = self.request('GET')
        assert first.startswith('0{')
        import json
        self.sid = json.loads(first[1:])['sid']
        assert self.request('POST', '40') == 'ok'
        assert self.request('GET').startswith('40{')


def test_volatile_dropped_only_when_the_transport_is_not_writable():
    server = sio.Server(ping_interval=20, ping_timeout=20)
    sids = []

    @server.on('connect')
    def connect(sid, environ, auth):
        sids.append(sid)

    @server.on('trigger')
    def trigger(sid, n):
        server.emit('v', n, to=sid, volatile=True)
        server.emit('n', n, to=sid)

    with Running(server) as r:
        p = Polling(r.port)
        p.open()
        # no GET waiting: the volatile event is dropped, the normal one waits for the next GET
        assert p.request('POST', '42["trigger",1]') == 'ok'
        time.sleep(0.1)
        assert p.request('GET') == '42["n",1]'
        # a GET waiting: the volatile event is written to it
        got = []
        t = threading.Thread(target=lambda: got.append(p.request('GET')))
        t.start()
        time.sleep(0.3)
        assert p.request('POST', '42["trigger",2]') == 'ok'
        t.join(5)
        assert got and got[0].split('\x1e')[0] == '42["v",2]'
        rest = got[0].split('\x1e')[1:]
        if not rest:  # the normal one was left for the next GET
            rest = [p.request('GET')]
        assert rest == ['42["n",2]']
