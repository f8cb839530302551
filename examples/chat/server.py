"""The chat example's server in Python, on the `sio` package (examples/chat/server.lua is the same
app in Lua; examples/chat/README.md tells how to run either).

    examples/run chat python [--host 127.0.0.1] [--port 3000]

Serves the page (examples/chat/public) at / and the socket.io client bundle at
/socket.io/socket.io.js; accepts socket.io 4.x clients and, with allow_eio3, socket.io 2.x ones
(WeChat's weapp.socket.io among them). Prints "listening on http://HOST:PORT" once ready.

Protocol (the same in both servers)
-----------------------------------
Client -> server (every one may ask for an ack):

  join  {nick, room}  -> {ok: true, nick, room, users: [nick...], history: [chat...]}
                       | {ok: false, error: "..."}
        nick: required, at most 32 characters, unique in the room (ASCII letters compared without
        case); room: at most 32 characters, "lobby" when empty (both trimmed). Joining while in a
        room leaves that room first.
  chat  text          -> {ok: true, id, ts} | {ok: false, error: "..."}
        text: 1..2000 characters, and the sender must have joined.
  typing  true|false     (no ack)
  leave                  -> {ok: true}
  seen  {room, id}    -> {ok: true} | {ok: false, error: "..."}
        "I have seen every message of this room up to this one": id must be one of the room's
        last 50 messages (those tracked); the reader's name is added (once) to each of those
        messages up to id that others sent, at most 100 names a message.
  rooms                  -> [{name, count}...]   (the same list as the rooms event)

Server -> clients (to the room, unless said otherwise):

  chat    {id, nick, text, ts}          to the others in the room (the sender has its ack)
  notice  {kind: "join"|"leave", nick, ts}   to the others in the room
  users   [nick...]                     to the whole room, after every join and leave
  typing  {nick, typing}                to the others in the room
  seen    {id, by: [nick...]}           to the whole room, when the readers of message id changed
  rooms   [{name, count}...]            to every connected client (joined or not), on connecting
                                        and after every join and leave: the rooms with members,
                                        most members first (then by name), at most 50

Disconnecting is leaving. Each room keeps its last 50 messages (history, sent to joiners, each
with `seen: [nick...]`); a room is forgotten when its last member leaves. ts are milliseconds since
the epoch; ids are integers that grow through the server's life.

Connection state recovery is on (60 s): a client (socket.io-client 4.6+) whose connection drops
comes back as the same socket and gets every event it missed (socket.recovered); it has left its
room meanwhile (the others saw it leave) and sends join again, as after any reconnection. With
recovery, every event carries its offset as one more, last argument.
"""

import argparse
import collections
import itertools
import os
import sys
from typing import Any, Deque, Dict, List, Tuple
import time

import sio

HERE = os.path.dirname(os.path.abspath(__file__))
PUBLIC_DIR = os.path.join(HERE, "public")
CLIENT_DIR = os.path.normpath(os.path.join(HERE, "..", "node_modules", "socket.io-client", "dist"))

MAX_NICK = 32
MAX_ROOM = 32
MAX_TEXT = 2000
HISTORY = 50      # messages kept per room, with their readers ("seen by")
MAX_SEEN = 100    # names kept per message
MAX_LISTED = 50   # rooms in the rooms list
RECOVERY_MS = 60000
SPACE = " \t\n\r\f\v"  # trimmed from nicks and rooms (ASCII whitespace, as Lua's %s)


def now_ms() -> int:
    return int(time.time() * 1000)


def fold(nick: str) -> str:
    """The key nicknames are compared by: ASCII letters lowercased (as Lua's string.lower)."""
    return nick.encode().lower().decode()


class Room:
    def __init__(self, name: str) -> None:
        self.name = name
        self.key = "room:" + name  # the sio room (prefixed: a room never collides with a sid)
        self.users: "dict[str, str]" = {}  # sid -> nick, in join order
        self.history: "Deque[Dict[str, Any]]" = collections.deque(maxlen=HISTORY)

    def nicks(self) -> List[str]:
        return list(self.users.values())


def main() -> int:
    p = argparse.ArgumentParser(prog="server.py", description="sio chat example")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--admin-ui", action="store_true",
                   help="serve the Socket.IO Admin UI at /admin/ (namespace /admin, no auth)")
    a = p.parse_args()

    if not os.path.isfile(os.path.join(CLIENT_DIR, "socket.io.js")):
        sys.exit(f"{CLIENT_DIR}: no socket.io.js; install the client with scripts/deps.sh "
                 "(or: cd examples && npm install)")
    # browsers always offer permessage-deflate: messages of 1 KiB or more go compressed
    # recovery: a phone that loses the network for a few seconds comes back missing nothing
    server = sio.Server(allow_eio3=True, client_dir=CLIENT_DIR, per_message_deflate=True,
                        connection_state_recovery={"max_disconnection_duration": RECOVERY_MS})
    server.static("/", PUBLIC_DIR)
    if a.admin_ui:
        # npm @socket.io/admin-ui's static build (examples/package.json): works offline
        ui = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node_modules",
                          "@socket.io", "admin-ui", "ui", "dist")
        server.static("/admin/", os.path.normpath(ui))
        server.instrument(auth=False, mode="development")

    rooms: "dict[str, Room]" = {}
    members: "dict[str, Tuple[Room, str]]" = {}  # sid -> (Room, nick)
    ids = itertools.count(1)

    def room_list() -> List[Dict[str, Any]]:
        ordered = sorted(rooms.values(), key=lambda r: (-len(r.users), r.name))[:MAX_LISTED]
        return [{"name": r.name, "count": len(r.users)} for r in ordered]

    def drop_stale(sid: str, keep: str = "") -> None:
        """Takes a socket that is in no room of ours out of the sio rooms it may still be in (a
        recovered socket gets its rooms back, though it left ours when it dropped)."""
        for key in server.rooms(sid):
            if key.startswith("room:") and key != keep:
                server.leave_room(sid, key)

    def leave_current(sid: str, gone: bool = False) -> None:
        member = members.pop(sid, None)
        if member is None:
            if not gone:
                drop_stale(sid)
            return
        room, nick = member
        room.users.pop(sid, None)
        if not gone:
            server.leave_room(sid, room.key)
        if not room.users:
            rooms.pop(room.name, None)
        else:
            server.emit("notice", {"kind": "leave", "nick": nick, "ts": now_ms()}, to=room.key)
            server.emit("users", room.nicks(), to=room.key)
        server.emit("rooms", room_list())

    def refuse(error: str) -> Dict[str, Any]:
        return {"ok": False, "error": error}

    @server.on("join")
    def join(sid: str, data: Any = None, *_: Any) -> Any:
        if not isinstance(data, dict):
            return refuse("nickname required")
        nick = data.get("nick")
        room_name = data.get("room")
        nick = nick.strip(SPACE) if isinstance(nick, str) else ""
        room_name = (room_name.strip(SPACE) if isinstance(room_name, str) else "") or "lobby"
        if not nick:
            return refuse("nickname required")
        if len(nick) > MAX_NICK:
            return refuse(f"nickname too long (at most {MAX_NICK} characters)")
        if len(room_name) > MAX_ROOM:
            return refuse(f"room name too long (at most {MAX_ROOM} characters)")
        current = members.get(sid)
        room: "Room | None"
        if current is not None and current[0].name == room_name and current[1] == nick:
            room = current[0]  # joining again where it is: just the state again
        else:
            room = rooms.get(room_name)
            if room is not None and any(fold(n) == fold(nick) for s, n in room.users.items()
                                        if s != sid):
                return refuse("nickname already taken in this room")
            leave_current(sid)
            drop_stale(sid, "room:" + room_name)
            room = rooms.get(room_name)
            if room is None:
                room = rooms[room_name] = Room(room_name)
            assert room is not None
            room.users[sid] = nick
            members[sid] = (room, nick)
            server.enter_room(sid, room.key)
            server.emit("notice", {"kind": "join", "nick": nick, "ts": now_ms()}, to=room.key,
                        skip_sid=sid)
            server.emit("users", room.nicks(), to=room.key, skip_sid=sid)
            server.emit("rooms", room_list())
        return {"ok": True, "nick": nick, "room": room.name, "users": room.nicks(),
                "history": [dict(m, seen=list(m["seen"])) for m in room.history]}

    @server.on("chat")
    def chat(sid: str, text: Any = None, *_: Any) -> Any:
        member = members.get(sid)
        if member is None:
            return refuse("join a room first")
        if not isinstance(text, str) or not text.strip(SPACE):
            return refuse("empty message")
        if len(text) > MAX_TEXT:
            return refuse(f"message too long (at most {MAX_TEXT} characters)")
        room, nick = member
        msg = {"id": next(ids), "nick": nick, "text": text, "ts": now_ms()}
        room.history.append(dict(msg, seen=[]))
        server.emit("chat", msg, to=room.key, skip_sid=sid)
        return {"ok": True, "id": msg["id"], "ts": msg["ts"]}

    @server.on("seen")
    def seen(sid: str, data: Any = None, *_: Any) -> Any:
        member = members.get(sid)
        if member is None:
            return refuse("join a room first")
        room, nick = member
        if not isinstance(data, dict):
            return refuse("bad seen report")
        upto = data.get("id")
        # (integers JavaScript can hold: Lua's and Python's JSON agree on those)
        if not isinstance(data.get("room"), str) or type(upto) is not int or abs(upto) > 2 ** 53:
            return refuse("bad seen report")
        if data["room"] != room.name:
            return refuse("not in that room")
        if not any(m["id"] == upto for m in room.history):
            return refuse("unknown message")
        for m in room.history:
            by: List[str] = m["seen"]
            if m["id"] <= upto and m["nick"] != nick and nick not in by and len(by) < MAX_SEEN:
                by.append(nick)
                server.emit("seen", {"id": m["id"], "by": list(by)}, to=room.key)
        return {"ok": True}

    @server.on("rooms")
    def list_rooms(sid: str, *_: Any) -> Any:
        return room_list()

    @server.on("connect")
    def connect(sid: str, environ: Dict[str, Any], auth: Any = None) -> Any:
        server.emit("rooms", room_list(), to=sid)

    @server.on("typing")
    def typing(sid: str, flag: Any = False, *_: Any) -> Any:
        member = members.get(sid)
        if member is not None:
            room, nick = member
            server.emit("typing", {"nick": nick, "typing": flag is True}, to=room.key,
                        skip_sid=sid)
        return sio.NOACK

    @server.on("leave")
    def leave(sid: str, *_: Any) -> Any:
        leave_current(sid)
        return {"ok": True}

    @server.on("disconnect")
    def disconnect(sid: str, reason: str) -> Any:
        leave_current(sid, gone=True)

    port = server.listen(a.host, a.port)
    print(f"listening on http://{a.host}:{port}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
