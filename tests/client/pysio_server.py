"""The contract server's events (shared/contract.md) on python-socketio's AsyncServer under uvicorn:
another implementation for sio's C client to be checked against (tests/client).

    python pysio_server.py [--host 127.0.0.1] [--port 0] [--ping-interval MS] [--ping-timeout MS]

Prints `listening on http://HOST:PORT` when ready. Needs PyPI python-socketio 5.x, uvicorn and
websockets. What python-socketio cannot do as the contract says: `echo` without an ack (a handler
cannot tell whether the client asked for one; it always answers), and EIO3 (python-socketio 5 speaks
Engine.IO 4 only).
"""
import argparse
import asyncio
import re
import socket

import socketio
import uvicorn

DYNAMIC = re.compile(r'^/dyn-[a-z0-9]+$')


def build(ping_interval, ping_timeout):
    sio = socketio.AsyncServer(async_mode='asgi', namespaces='*', ping_interval=ping_interval,
                               ping_timeout=ping_timeout, max_http_buffer_size=1_000_000)

    async def later(coro):
        # the CONNECT reply is queued when the connect handler returns: emit after it
        await asyncio.sleep(0.01)
        await coro

    @sio.on('connect', namespace='*')
    async def connect(namespace, sid, environ, auth=None):
        if namespace in ('/', '/custom'):
            asyncio.ensure_future(later(sio.emit('auth', auth or {}, to=sid, namespace=namespace)))
            return True
        if namespace == '/admin':
            if not isinstance(auth, dict) or auth.get('token') != 'secret':
                raise socketio.exceptions.ConnectionRefusedError('unauthorized')
            asyncio.ensure_future(later(sio.emit('welcome', sid, to=sid, namespace=namespace)))
            return True
        if DYNAMIC.match(namespace):
            asyncio.ensure_future(later(sio.emit('nsp', namespace, to=sid, namespace=namespace)))
            return True
        raise socketio.exceptions.ConnectionRefusedError('Invalid namespace')

    def rooms(sid):
        return sorted(r for r in sio.rooms(sid, namespace='/') if r is not None)

    @sio.on('*', namespace='/')
    async def any_event(event, sid, *args):
        if event == 'message':
            await sio.emit('message-back', args, to=sid)
        elif event in ('message-with-ack', 'echo'):
            return args
        elif event == 'broadcast':
            await sio.emit('broadcast', args)
        elif event == 'join':
            await sio.enter_room(sid, args[0])
            return rooms(sid)  # a list is one argument (a tuple would be several)
        elif event == 'leave':
            await sio.leave_room(sid, args[0])
            return rooms(sid)  # a list is one argument (a tuple would be several)
        elif event == 'to-room':
            await sio.emit('room-message', args, room=args[0])
        elif event == 'to-room-others':
            await sio.emit('room-message', args, room=args[0], skip_sid=sid)
        elif event == 'ask':
            done = asyncio.get_running_loop().create_future()

            def answered(*ack):
                if not done.done():
                    done.set_result(list(ack))
            await sio.emit(args[0], tuple(args[1:]), to=sid, callback=answered)
            try:
                return {'ok': True, 'args': await asyncio.wait_for(done, 1.0)}
            except asyncio.TimeoutError:
                return {'ok': False, 'error': 'timeout'}
        elif event == 'count':
            return len(list(sio.manager.get_participants('/', None)))
        elif event == 'disconnect-me':
            await sio.disconnect(sid)
        return None

    return sio


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--ping-interval', type=int, default=25000)
    ap.add_argument('--ping-timeout', type=int, default=20000)
    a = ap.parse_args()
    sio = build(a.ping_interval / 1000, a.ping_timeout / 1000)
    app = socketio.ASGIApp(sio)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.host, a.port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level='warning', lifespan='off'))

    async def serve():
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        print('listening on http://%s:%d' % (a.host, port), flush=True)
        await task

    asyncio.run(serve())


if __name__ == '__main__':
    main()
