"""A draw-and-guess bot on sio's Python client (sio.AsyncClient): bot.lua's twin, so that one human
can play examples/draw alone (protocol v2, at the top of server.py). It joins a room, says hello in
the chat, guesses words of the game's list that fit the hint (the secret word's length and its
revealed letters) at a human-ish pace while another player draws (not while it is a spectator, nor
after it found the word), and draws a few strokes and maybe a fill when its turn comes.

    python3 examples/draw/bot.py URL ROOM [--name NAME] [--pace MS] [--quit-after N]

    --name NAME      its name in the room (default "bot")
    --pace MS        about how long it thinks before each guess (default 3000; +-50% at random)
    --quit-after N   leave after N games ended (default: play until stopped)

With the repository's own build (not an installed sio), point PYTHONPATH at it as examples/run does:
    examples/contract/run python --build-only
    PYTHONPATH=build-python/py3.X/bindings/python python3 examples/draw/bot.py http://127.0.0.1:3000 ROOM
The room's host (the first to join: a human) starts the game. It prints one line per thing it does.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import struct
import sys
from typing import Any, Dict, List, Optional, Set

import sio

# the servers' word list (server.py's and server.lua's WORDS)
WORDS = [
    "apple", "ball", "banana", "bird", "boat", "book", "cake", "car", "cat", "chair",
    "clock", "cloud", "dog", "fish", "flower", "hat", "heart", "house", "key", "kite",
    "moon", "pizza", "rain", "shoe", "snake", "spider", "star", "sun", "train", "tree",
]
CHAT = ["hi everyone, I'm a bot", "good luck!", "nice drawing", "hmm...", "this one is hard"]


def say(text: str) -> None:
    print(text, flush=True)


def fits(word: str, length: int, hint: str) -> bool:
    """Whether word may be the secret one: its length, and the hint's revealed letters."""
    if length and len(word) != length:
        return False
    if len(hint) == len(word):
        return all(h == "_" or h == c for h, c in zip(hint, word))
    return True


class Bot:
    def __init__(self, url: str, room: str, name: str, pace: int, quit_after: Optional[int]) -> None:
        self.url, self.room, self.name, self.pace, self.quit_after = url, room, name, pace, quit_after
        self.client = sio.AsyncClient(reconnection_delay_max=2)
        self.me: Optional[str] = None          # our player id: kept to rejoin as the same player
        self.state: Dict[str, Any] = {}
        self.games = 0
        self.turn_key = ""
        self.tried: Set[str] = set()
        self.drawn = ""
        self.done = asyncio.Event()
        self.player: Optional[asyncio.Task[None]] = None
        c = self.client
        c.on("connect", self.on_connect)
        c.on("state", self.on_state)
        c.on("word", self.on_word)
        c.on("correct", self.on_correct)
        c.on("turn_end", self.on_turn_end)
        c.on("game_over", self.on_game_over)
        c.on("kicked", self.on_kicked)
        c.on("disconnect", self.on_disconnect)

    async def think(self, scale: float = 1.0) -> None:
        await asyncio.sleep(self.pace * scale * (0.5 + random.random()) / 1000)

    def key(self) -> str:
        return "%s.%s" % (self.state.get("round"), self.state.get("turn"))

    def myself(self) -> Optional[Dict[str, Any]]:
        for p in self.state.get("players", []):
            if isinstance(p, dict) and p.get("id") == self.me:
                return p
        return None

    def drawing_now(self) -> bool:
        return self.state.get("phase") == "drawing" and self.me is not None and self.state.get("drawer") == self.me

    def may_guess(self) -> bool:
        p = self.myself()
        return (self.state.get("phase") == "drawing" and self.state.get("drawer") != self.me
                and p is not None and not p.get("spectator") and not p.get("guessed"))

    def leave(self) -> None:
        if not self.done.is_set():
            say("leaving after %d game(s)" % self.games)
            self.done.set()

    async def on_connect(self) -> None:
        try:
            answer = await self.client.call("join", {"name": self.name, "room": self.room,
                                                     "player_id": self.me}, timeout=5)
        except Exception as e:  # a timeout, or the connection lost meanwhile
            say("could not join %s: %s" % (self.room, e))
            self.leave()
            return
        if not isinstance(answer, dict) or not answer.get("ok"):
            say("could not join %s: %s" % (self.room, answer.get("error") if isinstance(answer, dict) else answer))
            self.leave()
            return
        self.me, self.state = answer["you"], answer["state"]
        connected = sum(1 for p in self.state.get("players", []) if p.get("connected"))
        say("joined %s as %s (id %s, %d player(s) connected)" % (self.room, self.name, self.me, connected))
        await self.think(0.3)
        await self.client.emit("guess", CHAT[0])
        if self.player is None or self.player.done():
            self.player = asyncio.ensure_future(self.play())

    def on_state(self, s: Any) -> None:
        if isinstance(s, dict):
            self.state = s

    async def play(self) -> None:
        """The bot's mind: looks at the state now and then and guesses."""
        while not self.done.is_set():
            if not (self.client.connected and self.may_guess()):
                await asyncio.sleep(0.1)
                continue
            key = self.key()
            if key != self.turn_key:
                self.turn_key, self.tried = key, set()
            await self.think()
            if not self.may_guess() or self.key() != key:
                continue
            pool = [w for w in WORDS if w not in self.tried
                    and fits(w, int(self.state.get("word_length") or 0), str(self.state.get("hint") or ""))]
            if not pool:
                await asyncio.sleep(0.1)
                continue
            word = random.choice(pool)
            self.tried.add(word)
            try:
                answer = await self.client.call("guess", word, timeout=5)
            except Exception as e:
                say("guess %s: no answer (%s)" % (word, e))
                continue
            if isinstance(answer, dict):
                verdict = ("right!" if answer.get("correct") else "close!" if answer.get("close")
                           else str(answer.get("error") or "wrong"))
                say("guess %s: %s" % (word, verdict))
            if random.random() < 0.1:
                await self.client.emit("guess", random.choice(CHAT[2:]))

    async def stroke(self, points: List[List[int]], start: bool, color: str, width: int) -> None:
        blob = b"".join(struct.pack("<hh", x, y) for x, y in points)
        await self.client.emit("stroke", {"color": color, "width": width, "start": start, "points": blob})

    async def on_word(self, word: Any) -> None:
        # (a rejoin sends it again, before the join's answer)
        for _ in range(100):
            if self.drawing_now():
                break
            await asyncio.sleep(0.02)
        key = self.key()
        if not self.drawing_now() or self.drawn == key:
            return
        self.drawn = key
        await self.think(0.3)
        await self.draw(str(word), key)

    async def draw(self, word: str, key: str) -> None:
        """A circle (filled one time in two), a line under it and a zigzag, in small batches."""
        say("drawing %s" % word)
        cx, cy, r = 400, 260, 90 + random.randint(1, 40)
        circle = [[int(cx + r * math.cos(k / 48 * 2 * math.pi)), int(cy + r * math.sin(k / 48 * 2 * math.pi))]
                  for k in range(49)]
        line = [[250, 450], [400, 460], [550, 450]]
        zig = [[200 + k * 40, 520 if k % 2 == 0 else 560] for k in range(11)]

        def still() -> bool:
            return self.client.connected and self.drawing_now() and self.key() == key

        for n, (pts, color, width) in enumerate([(circle, "#222222", 6), (line, "#1565c0", 4),
                                                 (zig, "#c62828", 3)]):
            for k in range(0, len(pts), 8):
                if not still():
                    return
                await self.stroke(pts[k:k + 9], k == 0, color, width)   # overlaps: lines join
                await asyncio.sleep(0.03)
            if n == 0 and random.random() < 0.5 and still():
                await self.client.emit("fill", {"x": cx, "y": cy, "color": "#ffeb3b"})
                say("filling")
            await self.think(0.3)

    async def on_correct(self, c: Any) -> None:
        if not isinstance(c, dict):
            return
        say("%s found it (+%s)" % (c.get("name"), c.get("points")))
        if c.get("id") != self.me and random.random() < 0.3:
            await self.client.emit("guess", "well done %s" % c.get("name"))

    def on_turn_end(self, t: Any) -> None:
        if not isinstance(t, dict):
            return
        mine = next((r.get("points") for r in t.get("results", []) if r.get("id") == self.me), 0)
        say("turn over: %s (%s), +%s for me" % (t.get("word"), t.get("reason"), mine))

    def on_game_over(self, g: Any) -> None:
        board = g.get("leaderboard") if isinstance(g, dict) else None
        say("game over: %s wins" % (board[0].get("name") if board else "nobody"))
        self.games += 1
        if self.quit_after is not None and self.games >= self.quit_after:
            self.leave()

    def on_kicked(self, data: Any = None) -> None:
        say("kicked out of %s" % self.room)
        self.leave()

    def on_disconnect(self, reason: Any = None) -> None:
        say("disconnected: %s" % reason)

    async def run(self) -> int:
        try:
            await self.client.connect(self.url, transports=["websocket"])
        except sio.exceptions.ConnectionError as e:
            say("cannot connect: %s" % e)
            return 1
        await self.done.wait()
        if self.player is not None:
            self.player.cancel()
        await self.client.disconnect()
        return 0


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(prog="bot.py", description="A draw-and-guess bot (sio example)")
    p.add_argument("url")
    p.add_argument("room")
    p.add_argument("--name", default="bot")
    p.add_argument("--pace", type=int, default=3000)
    p.add_argument("--quit-after", type=int, default=None)
    a = p.parse_args(argv)
    bot = Bot(a.url, a.room, a.name, max(50, a.pace), a.quit_after)
    try:
        return asyncio.run(bot.run())
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
