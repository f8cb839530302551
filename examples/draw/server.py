"""Draw and guess: the example game's server in Python, on the `sio` package.

    examples/run draw python [--host 127.0.0.1] [--port 3000] [--round-seconds 60] [--pause-seconds 5]

Serves the page (./public) at / and the Socket.IO client bundle at /socket.io/socket.io.js, and
accepts socket.io 4.x and 2.x clients (allow_eio3: WeChat's weapp.socket.io speaks 2.x).
server.lua is the same game in Lua: the protocol, the rules and the texts below are the same in both.

Protocol v2 (namespace "/"; client -> server unless marked <-). A ROUND: every player draws once;
a TURN: one player's drawing; a GAME: N rounds. Phases: lobby -> drawing <-> turn_end -> game_over
(-> drawing again when the host starts a new game, scores reset).
    join {name, room, player_id}          ack {ok: true, you: id, state} or {ok: false, error}. A
                                          known player_id rejoins with its score. The first player
                                          of a new room is its host. Joining during a turn makes a
                                          spectator until that turn ends (guess ack {ok: false,
                                          error: "spectating"}). A kicked id: {ok: false, error: "kicked"}.
    start {rounds?, words?}               host only, in lobby or game_over, >= 2 connected players;
                                          ack {ok} or {ok: false, error}. rounds 1..10 (3); words:
                                          3..200 custom words of 1..30 characters after trimming
                                          (printable ASCII, lowercased) instead of WORDS. Drawers of a
                                          round: the connected players in join order at its start.
    skip                                  host only, during a turn: ends it ("skipped"). ack {ok}
    kick {id}                             host only, not itself: removes the player (its sockets get
                                          `kicked`, then leave); a kicked drawer ends the turn
                                          ("drawer left"). ack {ok}
    stroke {color, width, start, points}  drawer only, during a turn. points: binary Int16LE x,y pairs
                                          in the 800x600 canvas; start: true begins a stroke. Eraser:
                                          color "#ffffff".
    fill {x, y, color}                    drawer only: flood fill at integer x 0..799, y 0..599
    undo                                  drawer only: removes the last operation (a fill, or a stroke:
                                          its start:true batch and the start:false ones after it)
    clear                                 drawer only: wipes the canvas and the kept operations
    guess text                            ack {ok, correct, close}: close when the trimmed, lowercased
                                          guess is at edit distance 1 from the word (shown to the
                                          guesser only). Outside a turn, from the drawer or from one
                                          who guessed right: chat ({ok: true, correct: false}), but
                                          the drawer's or a guessed player's text containing the word
                                          is refused ({ok: false, error: "no spoilers"}).
    <- state {room, host, phase, players: [{id, name, score, connected, spectator, guessed}],
              drawer, round, rounds, turn, turns, remaining (ms or null), round_ms, word_length,
              hint}                       to the room on any change. hint: the word with hidden
                                          letters as "_" (spaces kept); "" outside a turn
    <- word text                          to the drawer, when its turn starts (and on its rejoin)
    <- hint text                          letters revealed: words of >= 4 letters get one at 1/2 of
                                          the turn, of >= 6 letters a second at 3/4; never the last
                                          hidden letter
    <- strokes {batches, points}          replay to a (re)joining player during a turn: the kept
                                          operations in order, {color, width, start, n} strokes (n
                                          points each, concatenated in points) and {fill: true, x, y,
                                          color, n: 0} fills
    <- stroke / fill / undo / clear       relayed to the room, the sender excepted
    <- guess {name, text}                 a wrong guess or chat
    <- correct {id, name, points}         a right guess (the word is not sent)
    <- turn_end {word, reason, drawer, results: [{id, name, points, score}], round, rounds}
                                          reason "guessed", "time", "skipped", "drawer left", "not
                                          enough players"; results sorted by points (desc). The
                                          phase turn_end lasts --pause-seconds (5), then the next
                                          turn, or game_over after the last turn of the last round.
    <- game_over {leaderboard: [{id, name, score}]}   sorted by score (desc)
    <- notice {text}                      "Ann joined", "Ann left", "Ann is the host", "Round 2 of
                                          3: Bob draws", "Ann was kicked", "Game over: Ann wins"
    <- kicked {room}                      to a kicked player's sockets

Rules
    A right guess scores 50 + floor(50 * remaining_ms / round_ms) (100 at once, 50 at the last
    moment) and the drawer 25 per right guesser. The turn ends "guessed" as soon as every connected,
    non-spectator player but the drawer guessed; "time" after --round-seconds (60). A drawer who
    left, or fewer than 2 connected players, end the turn after a 5 s grace (a reload comes back as
    the same player); a host gone for 5 s passes the host to the earliest-joined connected player.
    A turn that cannot start with 2 connected players ends the game. Players who leave keep their
    place and score; a room with nobody connected is forgotten after 10 minutes.
"""

import argparse
import os
import random
import sys
import time
import uuid
from typing import Any, Dict, List, Optional, Set, Tuple

import sio

WORDS = [
    "apple", "ball", "banana", "bird", "boat", "book", "cake", "car", "cat", "chair",
    "clock", "cloud", "dog", "fish", "flower", "hat", "heart", "house", "key", "kite",
    "moon", "pizza", "rain", "shoe", "snake", "spider", "star", "sun", "train", "tree",
]

MAX_BATCHES = 20000          # kept operations' batches per turn (strokes and fills)
MAX_BATCH_BYTES = 4096       # points per stroke event: 1024 x,y pairs
MAX_PLAYERS = 32             # per room, connected or not
MAX_WORDS = 200              # a custom word list: 3..200 words of 1..30 characters
MIN_WORDS = 3
MAX_WORD_CHARS = 30
MAX_ROUNDS = 10
MAX_KICKED = 256             # kicked ids a room remembers (the oldest is forgotten first)
DEFAULT_ROUNDS = 3
FORGET_EMPTY_SECONDS = 600   # a room with nobody connected is dropped after this
GRACE_SECONDS = 5            # a drawer (or the last guesser, or the host) who left may come back this long
HEX = "0123456789abcdefABCDEF"


def clean_text(value: Any, limit: int) -> str:
    """A string trimmed (ASCII whitespace, as server.lua does) and cut to limit characters."""
    return value.strip(" \t\n\r\f\v")[:limit] if isinstance(value, str) else ""


def ascii_lower(text: str) -> str:
    """Lowercases A-Z only (as Lua's string.lower)."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def edit_distance_is_1(a: str, b: str) -> bool:
    """True when a and b differ by exactly one insertion, deletion or substitution."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:]
    return a[i:] == b[i + 1:]


def is_color(value: Any) -> bool:
    return (isinstance(value, str) and len(value) == 7 and value[0] == "#"
            and all(c in HEX for c in value[1:]))


def integral(value: Any) -> Optional[int]:
    """An integer value (a float with no fraction counts), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class Player:
    def __init__(self, pid: str, name: str) -> None:
        self.id = pid
        self.name = name
        self.score = 0
        self.points = 0          # this turn's
        self.sid: Optional[str] = None
        self.spectator = False
        self.guessed = False


class Game:
    """One room's game."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.channel = "draw:" + name      # the Socket.IO room of its players
        self.players: Dict[str, Player] = {}
        self.order: List[str] = []         # ids, in the order they first joined
        self.kicked: Dict[str, bool] = {}  # ids refused, oldest first (MAX_KICKED at most)
        self.host: Optional[str] = None
        self.phase = "lobby"
        self.round = 0
        self.rounds = DEFAULT_ROUNDS
        self.turn = 0
        self.drawers: List[str] = []       # this round's, in order
        self.drawer: Optional[str] = None
        self.word: Optional[str] = None
        self.hint = ""
        self.words: List[str] = WORDS
        self.used: Set[str] = set()
        self.ends: Optional[float] = None  # time.monotonic() when the turn ends
        self.seq = 0                       # bumped by every turn start/end: stale timers do nothing
        self.timers: List[Any] = []        # this turn's (or pause's) sio.Timers
        self.grace_timer: Any = None
        self.host_timer: Any = None
        self.forget_timer: Any = None
        self.ops: List[Any] = []           # kept operations: ["stroke", [(color, width, start, bytes)]]
        self.nbatches = 0                  # or ["fill", x, y, color]

    def connected(self) -> List[str]:
        return [pid for pid in self.order if self.players[pid].sid is not None]

    def state(self, round_ms: int) -> Dict[str, Any]:
        return {
            "room": self.name,
            "host": self.host,
            "phase": self.phase,
            "players": [
                {"id": p.id, "name": p.name, "score": p.score, "connected": p.sid is not None,
                 "spectator": p.spectator, "guessed": p.guessed}
                for p in (self.players[pid] for pid in self.order)
            ],
            "drawer": self.drawer,
            "round": self.round,
            "rounds": self.rounds,
            "turn": self.turn,
            "turns": len(self.drawers),
            "remaining": None if self.ends is None
            else max(0, int((self.ends - time.monotonic()) * 1000)),
            "round_ms": round_ms,
            "word_length": len(self.word) if self.word else 0,
            "hint": self.hint,
        }


def main() -> int:
    p = argparse.ArgumentParser(prog="server.py", description="Draw and guess (sio example)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--admin-ui", action="store_true",
                   help="serve the Socket.IO Admin UI at /admin/ (namespace /admin, no auth)")
    p.add_argument("--round-seconds", type=float, default=60)
    p.add_argument("--pause-seconds", type=float, default=5)
    a = p.parse_args()
    if not a.round_seconds > 0:
        p.error("--round-seconds must be positive")
    if not a.pause_seconds >= 0:
        p.error("--pause-seconds must not be negative")
    round_ms = int(a.round_seconds * 1000)
    pause_s: float = a.pause_seconds

    here = os.path.dirname(os.path.abspath(__file__))
    server = sio.Server(
        allow_eio3=True,
        client_dir=os.path.join(here, "..", "node_modules", "socket.io-client", "dist"),
        per_message_deflate=True,  # browsers always offer it: big drawings go compressed
    )
    server.static("/", os.path.join(here, "public"))
    if a.admin_ui:
        # npm @socket.io/admin-ui's static build (examples/package.json): works offline
        ui = os.path.join(here, "..", "node_modules", "@socket.io", "admin-ui", "ui", "dist")
        server.static("/admin/", os.path.normpath(ui))
        server.instrument(auth=False, mode="development")

    games: Dict[str, Game] = {}              # room name -> Game
    seats: Dict[str, Any] = {}               # sid -> (game, player id)

    def send_state(game: Game) -> None:
        server.emit("state", game.state(round_ms), to=game.channel)

    def notice(game: Game, text: str) -> None:
        server.emit("notice", {"text": text}, to=game.channel)

    def stop_turn_timers(game: Game) -> None:
        game.seq += 1
        for t in game.timers:
            t.cancel()
        game.timers = []

    def later(game: Game, seconds: float, fn: Any, *args: Any) -> None:
        """fn(game, *args) after seconds, unless the turn changed or the room was forgotten."""
        seq = game.seq

        def fire() -> None:
            if game.seq == seq and games.get(game.name) is game:
                fn(game, *args)
        game.timers.append(server.call_later(seconds, fire))

    def guessers(game: Game) -> List[Player]:
        return [game.players[pid] for pid in game.connected()
                if pid != game.drawer and not game.players[pid].spectator]

    def start_game(game: Game, rounds: int, words: List[str]) -> None:
        game.rounds, game.words, game.used = rounds, words, set()
        game.round = 0
        for pl in game.players.values():
            pl.score = pl.points = 0
            pl.guessed = pl.spectator = False
        start_round(game)

    def start_round(game: Game) -> None:
        game.round += 1
        game.drawers = game.connected()
        game.turn = 0
        next_turn(game)

    def next_turn(game: Game) -> None:
        """The next drawer of the round still connected, the next round, or the game's end."""
        stop_turn_timers(game)
        if len(game.connected()) < 2:
            game_over(game)
            return
        while game.turn < len(game.drawers):
            pid = game.drawers[game.turn]
            game.turn += 1
            if pid in game.players and game.players[pid].sid is not None:
                start_turn(game, pid)
                return
        if game.round < game.rounds:
            start_round(game)
        else:
            game_over(game)

    def start_turn(game: Game, drawer: str) -> None:
        pool = [w for w in game.words if w not in game.used]
        if not pool:
            game.used = set()
            pool = list(game.words)
        word = random.choice(pool)
        game.used.add(word)
        for pl in game.players.values():
            pl.points = 0
            pl.guessed = pl.spectator = False
        game.phase = "drawing"
        game.drawer, game.word = drawer, word
        game.hint = "".join(" " if c == " " else "_" for c in word)
        game.ops, game.nbatches = [], 0
        game.ends = time.monotonic() + a.round_seconds
        later(game, a.round_seconds, end_turn, "time")
        letters = sum(1 for c in word if c != " ")
        if letters >= 4:
            later(game, a.round_seconds / 2, reveal)
        if letters >= 6:
            later(game, a.round_seconds * 3 / 4, reveal)
        server.emit("clear", to=game.channel)
        notice(game, "Round %d of %d: %s draws" % (game.round, game.rounds, game.players[drawer].name))
        send_state(game)
        sid = game.players[drawer].sid
        if sid is not None:
            server.emit("word", word, to=sid)

    def reveal(game: Game) -> None:
        """Shows one hidden letter of the word, never the last one."""
        if game.word is None:
            return
        hidden = [i for i, c in enumerate(game.hint) if c == "_"]
        if len(hidden) < 2:
            return
        i = random.choice(hidden)
        game.hint = game.hint[:i] + game.word[i] + game.hint[i + 1:]
        server.emit("hint", game.hint, to=game.channel)
        send_state(game)

    def end_turn(game: Game, reason: str) -> None:
        if game.phase != "drawing":
            return
        stop_turn_timers(game)
        word, drawer = game.word, game.drawer
        game.phase = "turn_end"
        game.word, game.ends, game.hint = None, None, ""
        for pl in game.players.values():
            pl.spectator = False
        ranked = sorted((game.players[pid] for pid in game.order), key=lambda pl: -pl.points)
        results = [{"id": pl.id, "name": pl.name, "points": pl.points, "score": pl.score} for pl in ranked]
        server.emit("turn_end", {"word": word, "reason": reason, "drawer": drawer, "results": results,
                                 "round": game.round, "rounds": game.rounds}, to=game.channel)
        send_state(game)
        later(game, pause_s, next_turn)

    def game_over(game: Game) -> None:
        stop_turn_timers(game)
        game.phase = "game_over"
        game.drawer = game.word = game.ends = None
        game.hint = ""
        game.drawers, game.turn = [], 0
        ranked = sorted((game.players[pid] for pid in game.order), key=lambda pl: -pl.score)
        board = [{"id": pl.id, "name": pl.name, "score": pl.score} for pl in ranked]
        server.emit("game_over", {"leaderboard": board}, to=game.channel)
        if board:
            notice(game, "Game over: %s wins" % board[0]["name"])
        send_state(game)

    def check_guessed(game: Game) -> None:
        if game.phase == "drawing" and all(pl.guessed for pl in guessers(game)):
            if any(pl.guessed for pl in game.players.values()):
                end_turn(game, "guessed")

    def check_turn(game: Game) -> None:
        """After a grace period: ends the turn if its drawer is still gone or too few are left."""
        game.grace_timer = None
        if games.get(game.name) is not game or game.phase != "drawing" or game.drawer is None:
            return
        if game.players[game.drawer].sid is None:
            end_turn(game, "drawer left")
        elif len(game.connected()) < 2:
            end_turn(game, "not enough players")

    def check_host(game: Game) -> None:
        game.host_timer = None
        if games.get(game.name) is not game:
            return
        host = game.players.get(game.host) if game.host is not None else None
        if host is not None and host.sid is not None:
            return
        ids = game.connected()
        game.host = ids[0] if ids else None
        if game.host is not None:
            notice(game, "%s is the host" % game.players[game.host].name)
            send_state(game)

    def forget(game: Game) -> None:
        game.forget_timer = None
        if not game.connected() and games.get(game.name) is game:
            stop_turn_timers(game)
            del games[game.name]

    def leave(sid: str, still_connected: bool = False) -> None:
        """The player of sid (if any) is gone: keeps its score, fixes the turn."""
        seat = seats.pop(sid, None)
        if seat is None:
            return
        game, pid = seat
        player = game.players.get(pid)
        if player is None or player.sid != sid:
            return
        player.sid = None
        if still_connected:
            server.leave_room(sid, game.channel)
        notice(game, "%s left" % player.name)
        send_state(game)
        if game.phase == "drawing" and (pid == game.drawer or len(game.connected()) < 2):
            # a reload comes back within the grace period and the turn goes on
            if game.grace_timer is not None:
                game.grace_timer.cancel()
            game.grace_timer = server.call_later(GRACE_SECONDS, check_turn, game)
        if pid == game.host:
            if game.host_timer is not None:
                game.host_timer.cancel()
            game.host_timer = server.call_later(GRACE_SECONDS, check_host, game)
        check_guessed(game)
        if not game.connected():
            if game.forget_timer is not None:
                game.forget_timer.cancel()
            game.forget_timer = server.call_later(FORGET_EMPTY_SECONDS, forget, game)

    def replay(game: Game, sid: str) -> None:
        meta: List[Dict[str, Any]] = []
        blobs: List[bytes] = []
        for op in game.ops:
            if op[0] == "fill":
                meta.append({"fill": True, "x": op[1], "y": op[2], "color": op[3], "n": 0})
            else:
                for color, width, start, pts in op[1]:
                    meta.append({"color": color, "width": width, "start": start, "n": len(pts) // 4})
                    blobs.append(pts)
        if meta:
            server.emit("strokes", {"batches": meta, "points": b"".join(blobs)}, to=sid)

    @server.on("join")
    def join(sid: str, data: Any = None, *rest: Any) -> Any:
        if not isinstance(data, dict):
            return {"ok": False, "error": "join needs {name, room, player_id}"}
        name = clean_text(data.get("name"), 20)
        room = clean_text(data.get("room"), 30)
        pid = clean_text(data.get("player_id"), 64) or uuid.uuid4().hex
        if not name or not room:
            return {"ok": False, "error": "a name and a room, please"}
        game = games.get(room)
        if game is not None and pid in game.kicked:
            return {"ok": False, "error": "kicked"}
        if game is not None and pid not in game.players and len(game.players) >= MAX_PLAYERS:
            return {"ok": False, "error": "this room is full"}
        leave(sid, True)    # a second join moves the socket
        game = games.get(room)
        if game is None:
            game = games[room] = Game(room)
        player = game.players.get(pid)
        if player is None:
            player = game.players[pid] = Player(pid, name)
            game.order.append(pid)
            player.spectator = game.phase == "drawing"
        elif player.sid is not None:
            # the same player from another tab, or a reload seen before its old socket left
            old = player.sid
            seats.pop(old, None)
            server.leave_room(old, game.channel)
            server.disconnect(old)
        player.name = name
        player.sid = sid
        seats[sid] = (game, pid)
        if game.forget_timer is not None:
            game.forget_timer.cancel()
            game.forget_timer = None
        server.enter_room(sid, game.channel)
        notice(game, "%s joined" % name)
        if game.host is None:
            game.host = pid
            notice(game, "%s is the host" % name)
        send_state(game)
        if game.phase == "drawing":
            if pid == game.drawer and game.word is not None:
                server.emit("word", game.word, to=sid)
            replay(game, sid)
        return {"ok": True, "you": pid, "state": game.state(round_ms)}

    def seat_of(sid: str) -> Tuple[Optional[Game], Optional[Player]]:
        """(game, player) of sid, or (None, None)."""
        seat = seats.get(sid)
        if seat is None:
            return None, None
        game, pid = seat
        player = game.players.get(pid)
        if player is None or player.sid != sid:
            return None, None
        return game, player

    def host_game(sid: str) -> Optional[Game]:
        game, player = seat_of(sid)
        return game if game is not None and player is not None and game.host == player.id else None

    def drawer_game(sid: str) -> Optional[Game]:
        """The game whose current drawer is sid, or None."""
        game, player = seat_of(sid)
        if game is not None and player is not None and game.phase == "drawing" and game.drawer == player.id:
            return game
        return None

    @server.on("start")
    def start(sid: str, data: Any = None, *rest: Any) -> Any:
        game = host_game(sid)
        if game is None:
            return {"ok": False, "error": "only the host can start"}
        if game.phase not in ("lobby", "game_over"):
            return {"ok": False, "error": "a game is on"}
        if len(game.connected()) < 2:
            return {"ok": False, "error": "2 players are needed"}
        if data is None:
            data = {}
        if not isinstance(data, dict):
            return {"ok": False, "error": "start takes {rounds, words}"}
        rounds = data.get("rounds", DEFAULT_ROUNDS)
        rounds = DEFAULT_ROUNDS if rounds is None else integral(rounds)
        if rounds is None or not 1 <= rounds <= MAX_ROUNDS:
            return {"ok": False, "error": "rounds: 1 to 10"}
        words = WORDS
        raw = data.get("words")
        if raw is not None:
            if not isinstance(raw, list) or not MIN_WORDS <= len(raw) <= MAX_WORDS:
                return {"ok": False, "error": "words: a list of 3 to 200 words"}
            custom: List[str] = []
            for w in raw:
                w = clean_text(w, MAX_WORD_CHARS + 1)
                if not 1 <= len(w) <= MAX_WORD_CHARS or not all(" " <= c <= "~" for c in w):
                    return {"ok": False, "error": "words: 1 to 30 letters each"}
                w = ascii_lower(w)
                if w not in custom:
                    custom.append(w)
            if len(custom) < MIN_WORDS:
                return {"ok": False, "error": "words: a list of 3 to 200 words"}
            words = custom
        start_game(game, rounds, words)
        return {"ok": True}

    @server.on("skip")
    def skip(sid: str, *args: Any) -> Any:
        game = host_game(sid)
        if game is None:
            return {"ok": False, "error": "only the host can skip"}
        if game.phase != "drawing":
            return {"ok": False, "error": "no turn to skip"}
        end_turn(game, "skipped")
        return {"ok": True}

    @server.on("kick")
    def kick(sid: str, data: Any = None, *rest: Any) -> Any:
        game = host_game(sid)
        if game is None:
            return {"ok": False, "error": "only the host can kick"}
        target = data.get("id") if isinstance(data, dict) else None
        if not isinstance(target, str) or target not in game.players or target == game.host:
            return {"ok": False, "error": "no such player"}
        player = game.players.pop(target)
        game.order.remove(target)
        game.kicked[target] = True
        if len(game.kicked) > MAX_KICKED:
            del game.kicked[next(iter(game.kicked))]
        if player.sid is not None:
            seats.pop(player.sid, None)
            server.emit("kicked", {"room": game.name}, to=player.sid)
            server.leave_room(player.sid, game.channel)
        notice(game, "%s was kicked" % player.name)
        if game.phase == "drawing" and target == game.drawer:
            end_turn(game, "drawer left")
        elif game.phase == "drawing" and len(game.connected()) < 2:
            end_turn(game, "not enough players")
        else:
            send_state(game)
            check_guessed(game)
        return {"ok": True}

    @server.on("stroke")
    def stroke(sid: str, data: Any = None, *rest: Any) -> Any:
        game = drawer_game(sid)
        if game is None or not isinstance(data, dict):
            return sio.NOACK
        color, width, points = data.get("color"), data.get("width"), data.get("points")
        if not is_color(color):
            return sio.NOACK
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not 1 <= width <= 50:
            return sio.NOACK
        if not isinstance(points, bytes) or not points or len(points) % 4 or len(points) > MAX_BATCH_BYTES:
            return sio.NOACK
        if game.nbatches >= MAX_BATCHES:
            return sio.NOACK
        start = data.get("start") is True
        if start or not game.ops or game.ops[-1][0] != "stroke":
            game.ops.append(["stroke", [(color, width, True, points)]])
        else:
            game.ops[-1][1].append((color, width, False, points))
        game.nbatches += 1
        server.emit("stroke", {"color": color, "width": width, "start": start, "points": points},
                    to=game.channel, skip_sid=sid)
        return sio.NOACK

    @server.on("fill")
    def fill(sid: str, data: Any = None, *rest: Any) -> Any:
        game = drawer_game(sid)
        if game is None or not isinstance(data, dict):
            return sio.NOACK
        x, y, color = integral(data.get("x")), integral(data.get("y")), data.get("color")
        if x is None or y is None or not 0 <= x <= 799 or not 0 <= y <= 599 or not is_color(color):
            return sio.NOACK
        if game.nbatches >= MAX_BATCHES:
            return sio.NOACK
        game.ops.append(["fill", x, y, color])
        game.nbatches += 1
        server.emit("fill", {"x": x, "y": y, "color": color}, to=game.channel, skip_sid=sid)
        return sio.NOACK

    @server.on("undo")
    def undo(sid: str, *args: Any) -> Any:
        game = drawer_game(sid)
        if game is not None and game.ops:
            op = game.ops.pop()
            game.nbatches -= 1 if op[0] == "fill" else len(op[1])
            server.emit("undo", to=game.channel, skip_sid=sid)
        return sio.NOACK

    @server.on("clear")
    def clear(sid: str, *args: Any) -> Any:
        game = drawer_game(sid)
        if game is not None:
            game.ops, game.nbatches = [], 0
            server.emit("clear", to=game.channel, skip_sid=sid)
        return sio.NOACK

    @server.on("guess")
    def guess(sid: str, text: Any = None, *rest: Any) -> Any:
        game, player = seat_of(sid)
        text = clean_text(text, 100)
        if game is None or player is None or not text:
            return {"ok": False, "correct": False, "close": False}
        word = game.word
        if game.phase == "drawing" and word is not None:
            lower = ascii_lower(text)
            if player.id == game.drawer or player.guessed:
                if word in lower:
                    return {"ok": False, "correct": False, "close": False, "error": "no spoilers"}
            elif player.spectator:
                return {"ok": False, "correct": False, "close": False, "error": "spectating"}
            elif lower == word:
                remaining = 0 if game.ends is None else max(0, int((game.ends - time.monotonic()) * 1000))
                points = 50 + 50 * remaining // round_ms
                player.guessed = True
                player.score += points
                player.points += points
                drawer = game.players.get(game.drawer) if game.drawer is not None else None
                if drawer is not None:
                    drawer.score += 25
                    drawer.points += 25
                server.emit("correct", {"id": player.id, "name": player.name, "points": points},
                            to=game.channel)
                send_state(game)
                check_guessed(game)
                return {"ok": True, "correct": True, "close": False}
            elif text.isascii() and edit_distance_is_1(lower, word):
                server.emit("guess", {"name": player.name, "text": text}, to=game.channel)
                return {"ok": True, "correct": False, "close": True}
        server.emit("guess", {"name": player.name, "text": text}, to=game.channel)
        return {"ok": True, "correct": False, "close": False}

    @server.on("disconnect")
    def disconnect(sid: str, reason: Any = None) -> Any:
        leave(sid)

    port = server.listen(a.host, a.port)
    print(f"listening on http://{a.host}:{port}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
