"""N asyncio Socket.IO clients in one Python process against one server (bench/client):

    python bench/client/py_clients.py URL --impl python-socketio|sio --clients N --duration S

--impl python-socketio: PyPI python-socketio's AsyncClient (aiohttp); --impl sio: sio's
AsyncClient (the C client under asyncio). Same steps as node_clients.mjs: one warm-up client
connected over WebSocket with one `echo` acked, then the baseline RSS (after gc.collect()), so that
one-time costs (imports touched on first use, the first connection's machinery) are not counted
per client; then N clients connected over WebSocket, 1 s idle, RSS again: (RSS - baseline) / N per
idle client. Then one `echo` ack in flight per measured client (the warm-up one stays idle) for S
seconds after 0.5 s of warm-up. One JSON line: acks per second of wall time and of this process's
CPU time, RSS per idle client."""
import argparse
import asyncio
import gc
import importlib
import json
import resource
import time


def rss_kb():
    gc.collect()
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('url')
    ap.add_argument('--impl', choices=['python-socketio', 'sio'], default='python-socketio')
    ap.add_argument('--clients', type=int, default=100)
    ap.add_argument('--duration', type=float, default=3)
    a = ap.parse_args()
    mod = importlib.import_module('socketio' if a.impl == 'python-socketio' else 'sio')
    payload = '0123456789abcdef'
    warm = mod.AsyncClient(reconnection=False)
    await asyncio.wait_for(warm.connect(a.url, transports=['websocket']), 60)
    await warm.call('echo', payload, timeout=30)
    rss0 = rss_kb()
    clients = [mod.AsyncClient(reconnection=False) for _ in range(a.clients)]
    await asyncio.wait_for(asyncio.gather(*(c.connect(a.url, transports=['websocket']) for c in clients)), 120)
    await asyncio.sleep(1)
    rss1 = rss_kb()
    acks = 0
    running = True

    async def loop(c):
        nonlocal acks
        while running:
            await c.call('echo', payload, timeout=30)
            acks += 1
    tasks = [asyncio.ensure_future(loop(c)) for c in clients]
    await asyncio.sleep(0.5)
    acks0, c0, t0 = acks, cpu_s(), time.monotonic()
    await asyncio.sleep(a.duration)
    got, cpu, secs = acks - acks0, cpu_s() - c0, time.monotonic() - t0
    running = False
    await asyncio.wait(tasks, timeout=10)
    print(json.dumps({'client': a.impl, 'clients': a.clients, 'acks': got, 'seconds': secs, 'cpu': cpu,
                      'acks_per_s': got / secs, 'acks_per_cpu_s': got / cpu if cpu else 0,
                      'rss0_kb': rss0, 'rss1_kb': rss1,
                      'idle_bytes_per_client': (rss1 - rss0) * 1024 / a.clients}), flush=True)
    await asyncio.gather(*(c.disconnect() for c in clients + [warm]), return_exceptions=True)


asyncio.run(main())
