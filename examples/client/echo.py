"""sio's Socket.IO client in a few lines (the Python twin of echo.c): connects to a server (the
contract server by default: examples/contract/run c), calls "echo" N times in a row, prints the
last answer; --asyncio does the same with sio.AsyncClient.

    python3 examples/client/echo.py [URL] [N] [--asyncio]      URL default http://127.0.0.1:3000
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import sio


def run(url: str, n: int) -> Any:
    client = sio.Client(reconnection=False)

    @client.event
    def connect() -> None:
        print("connected as", client.get_sid())

    client.connect(url)
    answer: Any = None
    for i in range(n):
        answer = client.call("echo", ("hello", i, b"\x00bytes"), timeout=5)
    client.disconnect()
    return answer


async def run_async(url: str, n: int) -> Any:
    client = sio.AsyncClient(reconnection=False)

    @client.event
    async def connect() -> None:
        print("connected as", client.get_sid())

    await client.connect(url)
    answer: Any = None
    for i in range(n):
        answer = await client.call("echo", ("hello", i, b"\x00bytes"), timeout=5)
    await client.disconnect()
    return answer


def main(argv: list[str]) -> int:
    use_asyncio = "--asyncio" in argv
    args = [a for a in argv if a != "--asyncio"]
    url = args[0] if args else "http://127.0.0.1:3000"
    n = int(args[1]) if len(args) > 1 else 1
    try:
        answer = asyncio.run(run_async(url, n)) if use_asyncio else run(url, n)
    except (ConnectionError, TimeoutError) as e:
        print("echo:", e, file=sys.stderr)
        return 1
    print("answer:", answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
