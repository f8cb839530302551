"""The Python client's echo rate against a contract server: `echo` with an ack, over WebSocket, for
SECONDS in each mode; prints acks/s. Run on demand, never in CI (the numbers go to
bench/RESULTS.md):

    examples/contract/run c --port 3000 &
    PYTHONPATH=build-python/py3.11/bindings/python python3 bench/python_client_echo.py [URL] [SECONDS] [WINDOW]

Modes: sio.Client.call() one at a time (a round trip each, through the loop thread); sio.Client
emits with a callback, WINDOW in flight; sio.AsyncClient.call() one at a time; WINDOW
AsyncClient.call()s gathered at once."""

import asyncio
import sys
import threading
import time

import sio

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
WINDOW = int(sys.argv[3]) if len(sys.argv) > 3 else 100
PAYLOAD = {"text": "hello", "n": 42}


def report(what, n, t0):
    print("%-40s %9.0f acks/s" % (what, n / (time.monotonic() - t0)))


def threads():
    c = sio.Client(reconnection=False)
    c.connect(URL, transports=["websocket"])
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < SECONDS:
        c.call("echo", PAYLOAD)
        n += 1
    report("Client.call, one at a time", n, t0)

    slots = threading.Semaphore(WINDOW)
    done = [0]

    def answered(*args):
        done[0] += 1
        slots.release()

    sent, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < SECONDS:
        slots.acquire()
        c.emit("echo", PAYLOAD, callback=answered)
        sent += 1
    while done[0] < sent:
        time.sleep(0.001)
    report("Client.emit(callback), %d in flight" % WINDOW, done[0], t0)
    c.disconnect()


async def asyncio_modes():
    c = sio.AsyncClient(reconnection=False)
    await c.connect(URL, transports=["websocket"])
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < SECONDS:
        await c.call("echo", PAYLOAD)
        n += 1
    report("AsyncClient.call, one at a time", n, t0)
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < SECONDS:
        await asyncio.gather(*[c.call("echo", PAYLOAD) for _ in range(WINDOW)])
        n += WINDOW
    report("AsyncClient.call, %d gathered" % WINDOW, n, t0)
    await c.disconnect()


if __name__ == "__main__":
    threads()
    asyncio.run(asyncio_modes())
