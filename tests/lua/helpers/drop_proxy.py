"""A TCP proxy for the Lua client's specs: forwards 127.0.0.1:<its port> to 127.0.0.1:TARGET and, on
SIGUSR1, cuts every connection it carries (both sides), as a network failure would, while the
server keeps running (connection state recovery needs the same server).

    python3 drop_proxy.py TARGET_PORT      prints "proxy on PORT" once listening
"""
import asyncio
import signal
import sys


async def main(target: int) -> None:
    conns: set = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            sr, sw = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            cw.close()
            return
        pair = (cw, sw)
        conns.add(pair)
        await asyncio.gather(pipe(cr, sw), pipe(sr, cw))
        conns.discard(pair)

    def drop() -> None:
        for cw, sw in list(conns):
            for w in (cw, sw):
                w.transport.abort()
        conns.clear()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, drop)
    print("proxy on", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
