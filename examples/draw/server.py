"""Draw and guess: the example game's server in Python, on the `sio` package.

    examples/run draw python [--host 127.0.0.1] [--port 3000] [--round-seconds 60]

Serves the page (./public) at / and the Socket.IO client bundle at /socket.io/socket.io.js, and
accepts socket.io 4.x and 2.x clients (allow_eio3: WeChat's weapp.socket.io speaks 2.x).
server.lua is the same game in Lua: the protocol and the rules below are the same in both.

Protocol (namespace "/"; client -> server unless marked <-)
    join {name, room, player_id}          ack {ok: true, you: player_id, state}
                                          or {ok: false, error}. player_id is the client's own
                                          (kept in localStorage); one that is already in the room
                                          rejoins as that player, with its score. Without one
                                          the server makes one (the ack's `you`).
    stroke {color, width, start, points}  the drawer only, during a round. points: binary, x,y
                                          pairs of little-endian Int16 in the logical 800x600
                                          canvas; start: true begins a new line, false continues
                                          the previous one. Relayed to the room, the sender
                                          excepted, and kept for the round (20000 batches at
                                          most; later ones are dropped).
    clear                                 the drawer only: wipes the canvas (and the kept strokes)
    guess text                            ack {ok, correct}. Before a round: just chat.
    <- state {room, players: [{id, name, score, connected}], drawer: id or null, round: n,
              remaining: ms left in the round or null, round_ms, word_length: n or 0}
                                          to the room, on any change
    <- word text                          to the drawer only, when its round starts
    <- strokes {batches: [{color, width, start, n}], points: binary}
                                          to a player who joins (or rejoins) during a round: every
                                          kept batch (n points each, their points concatenated)
    <- stroke {color, width, start, points}, <- clear      relayed as above
    <- guess {name, text}                 a wrong guess (or chat), to the room
    <- correct {name, word}               the guess was right; the next round follows
    <- timeout {word, reason}             the round ended unguessed: "time" (the round timer),
                                          "drawer left", "not enough players"

Rules
    A round starts whenever at least 2 players of a room are connected and none is under way. The
    drawer rotates among the connected players (in the order they first joined) and gets a random
    word of WORDS. The first right guess (trimmed, case-insensitive) scores 10 for the guesser and
    5 for the drawer, and the next round starts at once. A round ends unguessed after
    --round-seconds (60), when its drawer has left, or when fewer than 2 players remain connected:
    both checked 5 seconds after a player leaves, so that a reload (which comes back as the same
    player) does not end the round. The drawer cannot guess. Players who leave keep their place
    and score; a room with nobody connected is forgotten after 10 minutes.
"""

import argparse
import os
import random
import sys
from typing import Any, Dict, List, Optional
import time
import uuid

import sio

WORDS = [
    "apple", "ball", "banana", "bird", "boat", "book", "cake", "car", "cat", "chair",
    "clock", "cloud", "dog", "fish", "flower", "hat", "heart", "house", "key", "kite",
    "moon", "pizza", "rain", "shoe", "snake", "spider", "star", "sun", "train", "tree",
]

GUESS_POINTS = 10
DRAW_POINTS = 5
MAX_BATCHES = 20000          # kept strokes per round
MAX_BATCH_BYTES = 4096       # points per stroke event: 1024 x,y pairs
MAX_PLAYERS = 32             # per room, connected or not
FORGET_EMPTY_SECONDS = 600   # a room with nobody connected is dropped after this
GRACE_SECONDS = 5            # a drawer (or the last guesser) who left may come back this long


def clean_text(value: Any, limit: Any) -> Any:
    """A string trimmed (ASCII whitespace, as server.lua does) and cut to limit characters."""
    return value.strip(" \t\n\r\f\v")[:limit] if isinstance(value, str) else ""


class Game:
    """One room's game."""

    def __init__(self, name: Any) -> None:
        self.name = name
        self.channel = "draw:" + name     # the Socket.IO room of its players
        self.players: Dict[str, Any] = {}  # id -> {"id", "name", "score", "sid"} (sid None: gone)
        self.order: List[str] = []        # ids, in the order they first joined
        self.round = 0
        self.drawer: Any = None                # id, while a round is on
        self.word: Any = None
        self.ends: Any = None                  # time.monotonic() when the round ends
        self.timer: Any = None                 # the round's sio.Timer
        self.grace_timer: Any = None           # checks the round after a player left
        self.forget_timer: Any = None
        self.batches: List[Any] = []      # this round's strokes: (color, width, start, bytes)
        self.last_drawer: Any = None           # the rotation goes on from it
        self.last_word: Any = None

    def connected(self) -> Any:
        return [pid for pid in self.order if self.players[pid]["sid"] is not None]

    def state(self, round_seconds: Any) -> Any:
        return {
            "room": self.name,
            "players": [
                {"id": p["id"], "name": p["name"], "score": p["score"],
                 "connected": p["sid"] is not None}
                for p in (self.players[pid] for pid in self.order)
            ],
            "drawer": self.drawer,
            "round": self.round,
            "remaining": None if self.ends is None
            else max(0, int((self.ends - time.monotonic()) * 1000)),
            "round_ms": int(round_seconds * 1000),
            "word_length": len(self.word) if self.word else 0,
        }


def main() -> int:
    p = argparse.ArgumentParser(prog="server.py", description="Draw and guess (sio example)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--admin-ui", action="store_true",
                   help="serve the Socket.IO Admin UI at /admin/ (namespace /admin, no auth)")
    p.add_argument("--round-seconds", type=float, default=60)
    a = p.parse_args()
    if a.round_seconds <= 0:
        p.error("--round-seconds must be positive")

    here = os.path.dirname(os.path.abspath(__file__))
    server = sio.Server(
        allow_eio3=True,
        client_dir=os.path.join(here, "..", "node_modules", "socket.io-client", "dist"),
        per_message_deflate=True,  # browsers always offer it: big drawings go compressed
    )
    server.static("/", os.path.join(here, "public"))
    if a.admin_ui:
        # npm @socket.io/admin-ui's static build (examples/package.json): works offline
        ui = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node_modules",
                          "@socket.io", "admin-ui", "ui", "dist")
        server.static("/admin/", os.path.normpath(ui))
        server.instrument(auth=False, mode="development")

    games: Dict[str, Any] = {}      # room name -> Game
    seats: Dict[str, Any] = {}      # sid -> (game, player id)

    def send_state(game: Game) -> Any:
        server.emit("state", game.state(a.round_seconds), to=game.channel)

    def cancel_timer(game: Game) -> Any:
        if game.timer is not None:
            game.timer.cancel()
            game.timer = None

    def end_round(game: Game) -> Any:
        """Stops the round under way (if any) without scoring."""
        cancel_timer(game)
        game.drawer = game.word = game.ends = None
        game.batches = []

    def next_drawer(game: Game) -> Any:
        """The first connected player after the last drawer in the join order (wrapping)."""
        ids = game.connected()
        last = game.order.index(game.last_drawer) if game.last_drawer in game.order else -1
        later = [pid for pid in ids if game.order.index(pid) > last]
        return (later or ids)[0]

    def start_round(game: Game) -> Any:
        """Starts a round when 2 players are connected; else leaves the game waiting."""
        end_round(game)
        if len(game.connected()) < 2:
            send_state(game)
            return
        drawer = next_drawer(game)
        word = random.choice([w for w in WORDS if w != game.last_word])
        game.round += 1
        game.drawer = game.last_drawer = drawer
        game.word = game.last_word = word
        game.ends = time.monotonic() + a.round_seconds
        game.timer = server.call_later(a.round_seconds, round_timeout, game, game.round)
        server.emit("clear", to=game.channel)
        send_state(game)
        server.emit("word", word, to=game.players[drawer]["sid"])

    def round_timeout(game: Game, round_no: Any) -> Any:
        if game.round != round_no or game.word is None or games.get(game.name) is not game:
            return
        game.timer = None
        finish_unguessed(game, "time")

    def finish_unguessed(game: Game, reason: str) -> Any:
        word = game.word
        end_round(game)
        server.emit("timeout", {"word": word, "reason": reason}, to=game.channel)
        start_round(game)

    def check_round(game: Game, round_no: Any) -> Any:
        """After a grace period: ends the round if its drawer is still gone or too few are left."""
        game.grace_timer = None
        if game.round != round_no or game.word is None or games.get(game.name) is not game:
            return
        if game.players[game.drawer]["sid"] is None:
            finish_unguessed(game, "drawer left")
        elif len(game.connected()) < 2:
            finish_unguessed(game, "not enough players")

    def forget(game: Game) -> Any:
        game.forget_timer = None
        if not game.connected() and games.get(game.name) is game:
            cancel_timer(game)
            del games[game.name]

    def leave(sid: str, still_connected: Any = False) -> Any:
        """The player of sid (if any) is gone: keeps its score, fixes the round."""
        seat = seats.pop(sid, None)
        if seat is None:
            return
        game, pid = seat
        player = game.players.get(pid)
        if player is None or player["sid"] != sid:
            return
        player["sid"] = None
        if still_connected:
            server.leave_room(sid, game.channel)
        send_state(game)
        if game.word is not None and (pid == game.drawer or len(game.connected()) < 2):
            # a reload comes back within the grace period and the round goes on
            if game.grace_timer is not None:
                game.grace_timer.cancel()
            game.grace_timer = server.call_later(GRACE_SECONDS, check_round, game, game.round)
        if not game.connected():
            if game.forget_timer is not None:
                game.forget_timer.cancel()
            game.forget_timer = server.call_later(FORGET_EMPTY_SECONDS, forget, game)

    @server.on("join")
    def join(sid: str, data: Any = None, *rest: Any) -> Any:
        if not isinstance(data, dict):
            return {"ok": False, "error": "join needs {name, room, player_id}"}
        name = clean_text(data.get("name"), 20)
        room = clean_text(data.get("room"), 30)
        pid = clean_text(data.get("player_id"), 64) or uuid.uuid4().hex
        if not name or not room:
            return {"ok": False, "error": "a name and a room, please"}
        leave(sid, True)    # a second join moves the socket
        game = games.get(room)
        if game is None:
            game = games[room] = Game(room)
        player = game.players.get(pid)
        if player is None:
            if len(game.players) >= MAX_PLAYERS:
                return {"ok": False, "error": "this room is full"}
            player = game.players[pid] = {"id": pid, "name": name, "score": 0, "sid": None}
            game.order.append(pid)
        elif player["sid"] is not None:
            # the same player from another tab, or a reload seen before its old socket left
            old = player["sid"]
            seats.pop(old, None)
            server.leave_room(old, game.channel)
            server.disconnect(old)
        player["name"] = name
        player["sid"] = sid
        seats[sid] = (game, pid)
        if game.forget_timer is not None:
            game.forget_timer.cancel()
            game.forget_timer = None
        server.enter_room(sid, game.channel)
        if game.word is None:
            start_round(game)          # when this join makes 2 (it sends the state either way)
        else:
            send_state(game)
            if pid == game.drawer:
                server.emit("word", game.word, to=sid)
            if game.batches:
                meta = [{"color": c, "width": w, "start": s, "n": len(pts) // 4}
                        for c, w, s, pts in game.batches]
                blob = b"".join(pts for _, _, _, pts in game.batches)
                server.emit("strokes", {"batches": meta, "points": blob}, to=sid)
        return {"ok": True, "you": pid, "state": game.state(a.round_seconds)}

    def drawer_game(sid: str) -> Any:
        """The game whose current drawer is sid, or None."""
        seat = seats.get(sid)
        if seat is None:
            return None
        game, pid = seat
        return game if game.word is not None and game.drawer == pid else None

    @server.on("stroke")
    def stroke(sid: str, data: Any = None, *rest: Any) -> Any:
        game = drawer_game(sid)
        if game is None or not isinstance(data, dict):
            return sio.NOACK
        color, width, points = data.get("color"), data.get("width"), data.get("points")
        if not (isinstance(color, str) and len(color) == 7 and color[0] == "#"
                and all(c in "0123456789abcdefABCDEF" for c in color[1:])):
            return sio.NOACK
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not 1 <= width <= 50:
            return sio.NOACK
        if not isinstance(points, bytes) or not points or len(points) % 4 or len(points) > MAX_BATCH_BYTES:
            return sio.NOACK
        if len(game.batches) >= MAX_BATCHES:
            return sio.NOACK
        start = data.get("start") is True
        game.batches.append((color, width, start, points))
        server.emit("stroke", {"color": color, "width": width, "start": start, "points": points},
                    to=game.channel, skip_sid=sid)
        return sio.NOACK

    @server.on("clear")
    def clear(sid: str, *args: Any) -> Any:
        game = drawer_game(sid)
        if game is not None:
            game.batches = []
            server.emit("clear", to=game.channel, skip_sid=sid)
        return sio.NOACK

    @server.on("guess")
    def guess(sid: str, text: Any = None, *rest: Any) -> Any:
        seat = seats.get(sid)
        text = clean_text(text, 100)
        if seat is None or not text:
            return {"ok": False, "correct": False}
        game, pid = seat
        player = game.players[pid]
        if game.word is not None:
            if pid == game.drawer:
                return {"ok": False, "correct": False, "error": "the drawer cannot guess"}
            if text.isascii() and text.lower() == game.word:   # (ASCII only, as server.lua)
                word = game.word
                player["score"] += GUESS_POINTS
                drawer = game.players.get(game.drawer)
                if drawer is not None:
                    drawer["score"] += DRAW_POINTS
                end_round(game)
                server.emit("correct", {"name": player["name"], "word": word}, to=game.channel)
                start_round(game)
                return {"ok": True, "correct": True}
        server.emit("guess", {"name": player["name"], "text": text}, to=game.channel)
        return {"ok": True, "correct": False}

    @server.on("disconnect")
    def disconnect(sid: str, reason: Any = None) -> Any:
        leave(sid)

    port = server.listen(a.host, a.port)
    print(f"listening on http://{a.host}:{port}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
