"""The contract server in Python (../../shared/contract.md), on the `sio` package.

    examples/contract/run python [--host H] [--port P] [--path /socket.io/] [--ping-interval MS]
        [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3] [--cors ORIGINS] [--redis URL] [--parser msgpack]
        [--redis-mode classic|sharded|streams] [--cookie NAME] [--async-handlers WORKERS]

--async-handlers (Python only, not a contract flag): sync handlers on a pool of WORKERS threads
(sio.Server(async_handlers=True)), for tests and bench/run's python-workers.

Also the bare Engine.IO echo endpoint at /engine.io/.
"""

import argparse
import json
import re
import sys
from typing import Any, Dict

import sio


def main() -> int:
    p = argparse.ArgumentParser(prog="server.py")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--path", default="/socket.io/")
    p.add_argument("--ping-interval", type=int, default=25000)
    p.add_argument("--ping-timeout", type=int, default=20000)
    p.add_argument("--max-payload", type=int, default=1_000_000)
    p.add_argument("--allow-eio3", action="store_true")
    p.add_argument("--per-message-deflate", action="store_true")  # Node's { threshold: 1024 }
    p.add_argument("--cors", default=None)
    p.add_argument("--redis", default=None)  # a cluster node: broadcasts and count go through Redis
    # with --redis: @socket.io/redis-adapter's classic or sharded adapter, or the streams adapter
    p.add_argument("--redis-mode", choices=["classic", "sharded", "streams"], default=None)
    p.add_argument("--parser", choices=["msgpack"], default=None)  # npm socket.io-msgpack-parser
    p.add_argument("--cookie", default=None)  # the handshake sets NAME=<sid> (Node's cookie option)
    # --recovery [MS] / --recovery=MS: connectionStateRecovery (MS only when the next argument is
    # all digits: argparse takes a following value only when it is not an option)
    p.add_argument("--recovery", nargs="?", const=120000, type=int, default=None, metavar="MS")
    p.add_argument("--async-handlers", type=int, default=0, metavar="WORKERS")
    p.add_argument("--tls-cert", default=None, metavar="FILE")  # HTTPS/WSS only on the port
    p.add_argument("--tls-key", default=None, metavar="FILE")
    # The Admin UI's server side on /admin-ui (contract.md's flag table); --admin-auth implies it.
    p.add_argument("--admin", action="store_true")
    p.add_argument("--admin-auth", default=None, metavar="USER:BCRYPT")
    p.add_argument("--metrics", default=None, metavar="PATH")  # Prometheus text at PATH
    # N event loops on N threads, one port (sio.Server(workers=N)); handlers take the GIL in turn
    p.add_argument("--workers", default="1", metavar="N")
    a = p.parse_args()
    if not a.workers.isdigit() or not 1 <= int(a.workers) <= 64:
        p.error("--workers: 1 to 64, not %r" % a.workers)  # exits 2
    a.workers = int(a.workers)
    if (a.tls_cert is None) != (a.tls_key is None):
        p.error("--tls-cert and --tls-key go together")  # exits 2
    if a.redis_mode is not None and a.redis is None:
        p.error("--redis-mode needs --redis URL")

    try:
        server = sio.Server(
            # the contract: without --cors, any origin and no CORS headers (Node's default)
            cors_allowed_origins=a.cors.split(",") if a.cors else [],
            ping_interval=a.ping_interval / 1000,
            ping_timeout=a.ping_timeout / 1000,
            max_payload=a.max_payload,
            allow_eio3=a.allow_eio3,
            path=a.path,
            connect_timeout=1.0,
            redis=a.redis,
            redis_mode=a.redis_mode,
            cookie=a.cookie,
            per_message_deflate={"threshold": 1024} if a.per_message_deflate else None,
            parser=a.parser,
            connection_state_recovery=(None if a.recovery is None else
                                       {"maxDisconnectionDuration": a.recovery, "skipMiddlewares": True}),
            async_handlers=a.async_handlers > 0,
            handler_workers=max(1, a.async_handlers),
            metrics_path=a.metrics,
            workers=a.workers,
        )
    except sio.UnsupportedError as e:  # built without msgpack-c or hiredis: a flag it cannot honour
        flag = ("--redis-mode %s" % (a.redis_mode or "classic") if a.redis is not None and a.parser is None
                else "--parser %s" % a.parser)
        print("server.py: %s: %s" % (flag, e), file=sys.stderr)
        return 2

    if a.admin or a.admin_auth:
        auth: Any = False
        if a.admin_auth is not None:
            user, colon, hashed = a.admin_auth.partition(":")
            if not colon:
                p.error("--admin-auth takes USER:BCRYPTHASH")
            auth = {"username": user, "password": hashed}
        try:
            server.instrument(auth=auth, mode="development", namespace="/admin-ui",
                              server_stats_interval=2)
        except (ValueError, sio.Error) as e:
            print("server.py: --admin-auth: %s" % (e,), file=sys.stderr)
            return 2

    # ---- "/" ----

    @server.on("connect")
    def connect(sid: str, environ: Dict[str, Any], auth: Any) -> Any:
        server.emit("auth", {} if auth is None else auth, to=sid)

    @server.on("message")
    def message(sid: str, *args: Any) -> Any:
        server.emit("message-back", *args, to=sid)
        return sio.NOACK

    @server.on("message-with-ack")
    def message_with_ack(sid: str, *args: Any) -> Any:
        return args

    @server.on("echo")
    def echo(sid: str, *args: Any, ack: sio.Ack) -> Any:
        # A keyword-only `ack` parameter gets an Ack: falsy when the client asked for none.
        if ack:
            ack(*args)
        else:
            server.emit("echo", *args, to=sid)

    @server.on("ask")
    def ask(sid: str, event: Any = None, *args: Any, ack: sio.Ack) -> Any:
        if not ack or not isinstance(event, str):
            return

        def answered(*values: Any) -> Any:
            if len(values) == 1 and isinstance(values[0], sio.TimeoutError):
                ack({"ok": False, "error": "timeout"})
            else:
                ack({"ok": True, "args": list(values)})

        server.emit(event, *args, to=sid, callback=answered, timeout=1.0)

    @server.on("broadcast")
    def broadcast(sid: str, *args: Any) -> Any:
        server.emit("broadcast", *args)
        return sio.NOACK

    def sorted_rooms(sid: str) -> Any:
        return sorted(server.rooms(sid))

    @server.on("join")
    def join(sid: str, room: Any = None, *rest: Any) -> Any:
        if isinstance(room, str):
            server.enter_room(sid, room)
        return (sorted_rooms(sid),)

    @server.on("leave")
    def leave(sid: str, room: Any = None, *rest: Any) -> Any:
        if isinstance(room, str):
            server.leave_room(sid, room)
        return (sorted_rooms(sid),)

    @server.on("to-room")
    def to_room(sid: str, room: Any = None, *args: Any) -> Any:
        if isinstance(room, str):
            server.emit("room-message", room, *args, to=room)
        return sio.NOACK

    @server.on("to-room-others")
    def to_room_others(sid: str, room: Any = None, *args: Any) -> Any:
        if isinstance(room, str):
            server.emit("room-message", room, *args, to=room, skip_sid=sid)
        return sio.NOACK

    @server.on("count")
    def count(sid: str, *args: Any, ack: sio.Ack) -> Any:
        if not a.redis and a.workers == 1:
            ack(server.socket_count("/"))
            return

        # Every worker's (the in-process adapter) and every node's: cluster-wide (Node's fetchSockets().length). Timed out, or Redis away ("unavailable",
        # at once): what was counted (this node's sockets at least).
        def counted(err: Any, n: Any) -> Any:
            if err == "timeout":
                print("sio-contract: count: a node did not answer in time", file=sys.stderr)
            ack(n)

        try:
            server.fetch_count(counted, "/")
        except ConnectionError:  # the server is closing: this node's count
            ack(server.socket_count("/"))

    @server.on("disconnect-me")
    def disconnect_me(sid: str, *args: Any) -> Any:
        server.disconnect(sid)
        return sio.NOACK

    # ---- the cluster events (README.md, "Cluster events"; with --redis) ----

    listening: Dict[str, int] = {}  # the port, once listening

    def outcome(err: Any, responses: Any) -> Any:
        if err is None:
            return {"ok": True, "responses": responses}
        return {"ok": False, "error": err, "responses": responses}

    @server.on("server-emit")
    def server_emit(sid: str, *args: Any, ack: sio.Ack) -> Any:
        if not ack:
            return
        try:
            server.server_side_emit("server-event", *args, callback=lambda err, res: ack(outcome(err, res)))
        except Exception as e:  # no cluster, Redis down, bytes
            ack(outcome(str(e), []))

    @server.on("server-emit-noack")
    def server_emit_noack(sid: str, *args: Any) -> Any:
        try:
            server.server_side_emit("server-event", *args)
        except Exception:  # no cluster, Redis down, bytes
            pass
        return sio.NOACK

    # Another node's serverSideEmit("server-event", ...args): to this node's sockets; the return
    # value is the answer when one is asked.
    @server.on_server_event("server-event")
    def server_event(*args: Any) -> Any:
        server.emit("server-event", *args, local=True)
        return {"port": listening["port"], "args": list(args)}

    @server.on("all-rooms")
    def all_rooms(sid: str, *args: Any, ack: sio.Ack) -> Any:
        if not ack:
            return
        try:
            server.all_rooms(lambda err, rooms: ack(sorted(rooms)))  # timed out: the rooms gathered
        except Exception as e:  # Redis down
            ack(outcome(str(e), []))

    @server.on("fetch-sockets")
    def fetch_sockets(sid: str, *args: Any, ack: sio.Ack) -> Any:
        if not ack:
            return

        def done(err: Any, sockets: Any) -> None:  # timed out: the sockets gathered
            ack(sorted(({"id": s["id"], "rooms": sorted(s["rooms"]), "address": s["handshake"]["address"],
                         "auth": s["handshake"]["auth"]} for s in sockets), key=lambda s: s["id"]))
        try:
            server.fetch_sockets(done)
        except Exception as e:  # Redis down
            ack(outcome(str(e), []))

    @server.on("sockets-join")
    def sockets_join(sid: str, target: Any = None, room: Any = None, *rest: Any) -> Any:
        if isinstance(target, str) and isinstance(room, str):
            server.sockets_join(room, to=target)
        return True

    @server.on("sockets-leave")
    def sockets_leave(sid: str, target: Any = None, room: Any = None, *rest: Any) -> Any:
        if isinstance(target, str) and isinstance(room, str):
            server.sockets_leave(room, to=target)
        return True

    @server.on("disconnect-sockets")
    def disconnect_sockets(sid: str, target: Any = None, *rest: Any, ack: sio.Ack) -> Any:
        if ack:
            ack(True)
        if isinstance(target, str):
            server.disconnect_sockets(to=target)

    def json_text(v: Any) -> Any:
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)

    @server.on("broadcast-ack")
    def broadcast_ack(sid: str, *args: Any, ack: sio.Ack) -> Any:
        if not ack:
            return

        def done(err: Any, responses: Any) -> Any:
            ack(outcome(err, sorted(responses, key=json_text)))

        try:
            server.emit_with_acks("ack-me", *args, callback=done, timeout=1.0)
        except Exception as e:
            ack(outcome(str(e), []))

    # ---- "/custom", "/admin", dynamic ----

    @server.on("connect", namespace="/custom")
    def custom_connect(sid: str, environ: Dict[str, Any], auth: Any) -> Any:
        server.emit("auth", {} if auth is None else auth, to=sid, namespace="/custom")

    @server.on("connect", namespace="/admin")
    def admin_connect(sid: str, environ: Dict[str, Any], auth: Any) -> Any:
        if not isinstance(auth, dict) or auth.get("token") != "secret":
            raise sio.ConnectionRefusedError("unauthorized")
        server.emit("welcome", sid, to=sid, namespace="/admin")

    dyn = re.compile(r"^/dyn-[a-z0-9]+$")

    @server.on("connect", namespace=dyn)
    def dyn_connect(sid: str, environ: Dict[str, Any], auth: Any) -> Any:
        server.emit("nsp", environ["sio.namespace"], to=sid, namespace=environ["sio.namespace"])

    server.engine_endpoint("/engine.io/", server.engine_send)

    port = listening["port"] = server.listen(a.host, a.port, certfile=a.tls_cert, keyfile=a.tls_key)
    print(f"listening on {'https' if a.tls_cert else 'http'}://{a.host}:{port}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
