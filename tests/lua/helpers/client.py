#!/usr/bin/env python3
"""A Socket.IO / Engine.IO client for the Lua specs (tests/lua/*_spec.lua).

    client.py SCENARIO PORT [JSON-ARGUMENT]

Prints one JSON object per line for each result (bytes as {"hex": "..."}), then {"end": true} as
its very last line, and exits. Every wait is bounded; the whole process gives up after 28 s (CLIENT_ALARM).

Uses Debian's python3-socketio (python-socketio 5.x, the synchronous socketio.Client). Two changes
to its behaviour, both made here for determinism:
  - Engine.IO messages are handled in the reading thread, in order (the stock client starts one
    thread per message, so that events -- and the parts of a binary packet -- may race);
  - events named in NO_ACK get no acknowledgement at all (the stock client always sends one),
    so that a spec can watch a server-side ack timeout;
  - a DISCONNECT from the server is never dropped (the stock client ignores one that arrives
    before connect() has returned).
"""
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

import engineio
import socketio

WAIT = 8  # seconds for any single wait

signal.signal(signal.SIGALRM, lambda *a: (out(fatal="client timed out"), os._exit(3)))
signal.alarm(int(os.environ.get("CLIENT_ALARM", "28")))

_lock = threading.Lock()


def enc(v):
    if isinstance(v, (bytes, bytearray)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, tuple):
        return list(v)
    return repr(v)


def out(**kw):
    with _lock:
        sys.stdout.write(json.dumps(kw, default=enc, sort_keys=True) + "\n")
        sys.stdout.flush()


class InOrderEngine(engineio.Client):
    def _trigger_event(self, event, *args, **kwargs):
        kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class Client(socketio.Client):
    NO_ACK = set()

    def _engineio_client_class(self):
        return InOrderEngine

    def _handle_disconnect(self, namespace):
        # The stock client drops a DISCONNECT that arrives before connect() has set
        # self.connected (the reading thread may get there first): take it whenever it comes.
        namespace = namespace or "/"
        self._trigger_event("disconnect", namespace=namespace)
        self.namespaces.pop(namespace, None)
        if not self.namespaces:
            self.connected = False
            self.eio.disconnect(abort=True)

    def _handle_event(self, namespace, id, data):
        if data and data[0] in self.NO_ACK:
            self._trigger_event(data[0], namespace or "/", *data[1:])
            return
        return super()._handle_event(namespace, id, data)


class Conn:
    """A client connected (or refused) on some namespaces, its events recorded."""

    def __init__(self, port, namespaces=("/",), auth=None, headers=None, query="",
                 transports=None, path="socket.io", no_ack=(), record=True):
        self.c = Client(reconnection=False)
        self.c.NO_ACK = set(no_ack)
        self.port = port
        self.status = {}
        self.cv = threading.Condition()
        self.disconnected = threading.Event()
        self.finished = threading.Event()
        self.namespaces = list(namespaces)
        for ns in self.namespaces:
            self.c.on("connect", lambda ns=ns: self._set(ns, ("ok", None)), namespace=ns)
            self.c.on("connect_error", lambda *d, ns=ns: self._set(ns, ("error", d[0] if d else None)),
                      namespace=ns)
            self.c.on("disconnect", lambda ns=ns: self._disconnect(ns), namespace=ns)
            if record:
                self.c.on("*", lambda ev, *args, ns=ns: self._event(ns, ev, args), namespace=ns)
        self.url = "http://127.0.0.1:%d/%s" % (port, ("?" + query) if query else "")
        self.kw = dict(headers=headers or {}, auth=auth, transports=transports,
                       namespaces=self.namespaces, socketio_path=path, wait=False)

    def _set(self, ns, st):
        with self.cv:
            self.status.setdefault(ns, st)
            self.cv.notify_all()

    def _disconnect(self, ns):
        out(ns=ns, disconnect=True)
        self.disconnected.set()

    def _event(self, ns, ev, args):
        out(ns=ns, event=ev, args=list(args))
        if ev == "finish":
            self.finished.set()

    def connect(self):
        """Connects; returns {ns: ("ok"|"error"|"timeout", data)}."""
        try:
            self.c.connect(self.url, **self.kw)
        except Exception as e:  # the Engine.IO connection itself failed
            return {ns: ("error", str(e)) for ns in self.namespaces}
        deadline = time.time() + WAIT
        with self.cv:
            while len(self.status) < len(self.namespaces) and time.time() < deadline:
                self.cv.wait(0.1)
            return {ns: self.status.get(ns, ("timeout", None)) for ns in self.namespaces}

    def sid(self, ns="/"):
        return self.c.get_sid(ns)

    def call(self, event, data=None, ns="/", timeout=WAIT):
        try:
            return {"ack": self.c.call(event, data, namespace=ns, timeout=timeout)}
        except socketio.exceptions.TimeoutError:
            return {"timeout": True}

    def close(self):
        """Leaves every namespace (DISCONNECT packets), then closes the transport: the stock
        disconnect() aborts the transport at once, which may drop the DISCONNECT packets."""
        try:
            for ns in list(self.c.namespaces):
                self.c._send_packet(self.c.packet_class(socketio.packet.DISCONNECT, namespace=ns))
            time.sleep(0.15)
            self.c.namespaces = {}
            self.c.disconnect()
        except Exception as e:
            out(close_error=str(e))


def connected_or_die(conn):
    st = conn.connect()
    for ns, (kind, data) in st.items():
        if kind != "ok":
            out(step="connect", ns=ns, ok=False, kind=kind, error=data)
            raise RuntimeError("could not connect")
    out(step="connect", ok=True, sid=conn.sid(), eio_sid=conn.c.sid, transport=conn.c.transport())
    return conn


def as_args(v):
    """JSON [a, b] from the spec -> the tuple python-socketio sends as several arguments."""
    return tuple(v) if isinstance(v, list) else v


# ---- scenarios ------------------------------------------------------------------------------------


def basic(port, arg):
    """The handshake, socket.data, handler arguments and the ack object."""
    conn = connected_or_die(Conn(port, auth={"token": "abc", "n": 1}, headers={"X-Test": "yes"},
                                 query="foo=bar&sp=a+b%21", transports=arg.get("transports")))
    steps = [
        ("remember", "kept"),
        ("recall", None),
        ("args", (1, "two", {"k": [1, 2]}, None, True)),
        ("explicit", None),
        ("returns", None),
        ("twice", None),
    ]
    conn.c.emit("noack", "x")
    for ev, data in steps:
        out(step=ev, **conn.call(ev, data))
    conn.close()


def emits(port, arg):
    """The server emits to this client: plain, with acks, with acks that never come, binary."""
    conn = Conn(port, no_ack=("slow",))
    done = threading.Event()
    conn.c.on("ask", lambda n: ("answer", n + 1))
    conn.c.on("slow", lambda *a: out(event="slow", args=list(a)))
    conn.c.on("hello", lambda *a: out(event="hello", args=list(a)))
    conn.c.on("bin", lambda *a: out(event="bin", args=list(a),
                                    types=[type(x).__name__ for x in a]))
    conn.c.on("done", lambda *a: done.set())
    connected_or_die(conn)
    r = conn.call("echo_bin", (b"\x00\xffABC", "text"))
    out(step="echo_bin", types=[type(x).__name__ for x in r.get("ack") or ()], **r)
    out(step="done", ok=done.wait(WAIT))
    conn.close()


def listen(port, arg):
    """Connects (auth from the argument), records every event, runs the given emits/calls, then
    waits for the event "finish" (then disconnects) or for the server to disconnect it."""
    ns = arg.get("ns", "/")
    conn = Conn(port, namespaces=[ns], auth=arg.get("auth"), transports=arg.get("transports"),
                no_ack=arg.get("no_ack", ()))
    # "answers": {event: value} -- the event is recorded and acknowledged with value (a list:
    # several arguments)
    for ev, v in arg.get("answers", {}).items():
        def answer(*a, ev=ev, v=v):
            out(ns=ns, event=ev, args=list(a))
            return as_args(v)
        conn.c.on(ev, answer, namespace=ns)
    connected_or_die(conn)
    for step in arg.get("steps", []):
        kind, ev, data = step[0], step[1], as_args(step[2]) if len(step) > 2 else None
        if kind == "call":
            t = step[3] if len(step) > 3 else WAIT
            out(step=ev, **conn.call(ev, data, ns=ns, timeout=t))
        else:
            conn.c.emit(ev, data, namespace=ns)
            out(step=ev, emitted=True)
    deadline = time.time() + arg.get("wait", WAIT)
    while time.time() < deadline and not conn.finished.is_set() and not conn.disconnected.is_set():
        time.sleep(0.02)
    out(step="wait", finished=conn.finished.is_set(), disconnected=conn.disconnected.is_set())
    if not conn.disconnected.is_set():
        conn.close()


def connect(port, arg):
    """Connection attempts one after the other: [{"ns": "/x", "auth": ..., "call": [ev, data]}]."""
    for i, a in enumerate(arg):
        ns = a.get("ns", "/")
        conn = Conn(port, namespaces=[ns], auth=a.get("auth"), path=a.get("path", "socket.io"),
                    record=False)
        kind, data = conn.connect()[ns]
        res = dict(attempt=i, ns=ns, ok=kind == "ok", kind=kind, error=data)
        if kind == "ok":
            res["sid"] = conn.sid(ns)
            if a.get("call"):
                ev, d = a["call"][0], a["call"][1] if len(a["call"]) > 1 else None
                res["call"] = conn.call(ev, as_args(d), ns=ns)
        out(**res)
        conn.close()
        # the server must see each attempt end before the next begins
        time.sleep(0.05)


def reload(port, arg):
    """One connection (to namespace arg["ns"], default "/") across the daemon's reloads: calls
    "version", then for each flag file in arg["flags"] waits (bounded) for it to appear and calls
    "version" again on the same connection."""
    ns = arg.get("ns", "/")
    conn = connected_or_die(Conn(port, namespaces=[ns], transports=arg.get("transports")))
    out(step="version", phase=0, sid=conn.sid(ns), eio_sid=conn.c.sid, **conn.call("version", ns=ns))
    for i, flag in enumerate(arg.get("flags", []), 1):
        out(step="waiting", phase=i)
        deadline = time.time() + arg.get("flag_wait", 15)
        while not os.path.exists(flag) and time.time() < deadline:
            time.sleep(0.02)
        out(step="version", phase=i, flag=os.path.exists(flag), sid=conn.sid(ns), eio_sid=conn.c.sid,
            disconnected=conn.disconnected.is_set(), connected=conn.c.connected,
            **conn.call("version", ns=ns))
    conn.close()


def engine(port, arg):
    """A raw Engine.IO v4 long-polling exchange with the echo endpoint."""
    base = "http://127.0.0.1:%d%s" % (port, arg.get("path", "/engine.io/"))

    def req(method, query, body=None):
        r = urllib.request.Request(base + "?" + query, data=body, method=method)
        if body is not None:
            r.add_header("Content-Type", "text/plain;charset=UTF-8")
        with urllib.request.urlopen(r, timeout=WAIT) as resp:
            return resp.status, resp.read().decode("utf-8")

    st, body = req("GET", "EIO=4&transport=polling")
    out(step="handshake", status=st, body=body)
    hs = json.loads(body[1:])
    q = "EIO=4&transport=polling&sid=" + hs["sid"]
    st, body = req("POST", q, "4hello\x1ebAAH/\x1e4bye".encode())
    out(step="post", status=st, body=body)
    got = []
    deadline = time.time() + WAIT
    while len(got) < 3 and time.time() < deadline:
        st, body = req("GET", q)
        got += [p for p in body.split("\x1e") if p and p != "2"]
        if body == "2":  # a ping: answer it
            req("POST", q, b"3")
    out(step="read", packets=got)


def handshake(port, arg):
    """One polling handshake at each of arg["paths"] (with arg["origin"] as its Origin header when
    given): its status, session id and Set-Cookie lines."""
    for path in arg.get("paths", ["/socket.io/"]):
        url = "http://127.0.0.1:%d%s?EIO=4&transport=polling" % (port, path)
        headers = {"Origin": arg["origin"]} if arg.get("origin") else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=WAIT) as resp:
                body = resp.read().decode("utf-8")
                out(step="handshake", path=path, status=resp.status, sid=json.loads(body[1:])["sid"],
                    cookies=resp.headers.get_all("Set-Cookie") or [])
        except urllib.error.HTTPError as e:
            out(step="handshake", path=path, status=e.code, body=e.read().decode("utf-8"))


def deflate(port, arg):
    """A hand-made WebSocket client offering permessage-deflate: connects to "/", sends the event
    arg["send"] (a JSON array) and reports the extension answered and each of the next arg["frames"]
    frames: its first byte and its payload (inflated when RSV1 is set)."""
    import socket as pysocket
    import zlib

    sock = pysocket.create_connection(("127.0.0.1", port), timeout=WAIT)
    sock.sendall(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                 b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(4096)
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    ext = [line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
           if line.lower().startswith(b"sec-websocket-extensions:")]
    out(step="upgrade", extensions=ext)
    buf = bytearray(rest)

    def frame():
        while True:
            if len(buf) >= 2:
                n = buf[1] & 0x7f
                h = 2 if n < 126 else 4 if n == 126 else 10
                if len(buf) >= h:
                    if n >= 126:
                        n = int.from_bytes(buf[2:h], "big")
                    if len(buf) >= h + n:
                        b0, payload = buf[0], bytes(buf[h:h + n])
                        del buf[:h + n]
                        return b0, payload
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("closed")
            buf.extend(chunk)

    def send(text):
        data, mask = text.encode(), os.urandom(4)
        head = bytes([0x81]) + (bytes([0x80 | len(data)]) if len(data) < 126
                                else bytes([0x80 | 126]) + len(data).to_bytes(2, "big"))
        sock.sendall(head + mask + bytes(c ^ mask[i & 3] for i, c in enumerate(data)))

    frame()  # OPEN
    send("40")
    frame()  # CONNECT
    send("42" + json.dumps(arg["send"]))
    for _ in range(arg.get("frames", 1)):
        b0, payload = frame()
        if b0 & 0x40:
            payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
        out(step="frame", b0=b0, rsv1=bool(b0 & 0x40), payload=payload.decode())
    sock.close()


def compressed(port, arg):
    """On an echo endpoint at /engine.io/: posts a message of arg["size"] characters, then polls
    with arg["accept"] as Accept-Encoding (none when null): the response's Content-Encoding, Vary,
    its length, and whether it decodes to the message."""
    import gzip
    import http.client
    import zlib

    def req(method, query, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        c.request(method, "/engine.io/?EIO=4&transport=polling" + query, body=body, headers=headers or {})
        resp = c.getresponse()
        data = resp.read()
        c.close()
        return resp, data

    def decoded(resp, data):
        ce = resp.getheader("Content-Encoding")
        return ce, gzip.decompress(data) if ce == "gzip" else zlib.decompress(data) if ce == "deflate" else data

    headers = {"Accept-Encoding": arg["accept"]} if arg.get("accept") else {}
    sid = json.loads(decoded(*req("GET", "", headers=headers))[1][1:])["sid"]
    msg = ("4" + "".join(chr(0x61 + i % 26) for i in range(arg.get("size", 3000)))).encode()
    req("POST", "&sid=" + sid, body=msg)
    resp, data = req("GET", "&sid=" + sid, headers=headers)
    ce, body = decoded(resp, data)
    out(step="poll", encoding=ce or "", vary=resp.getheader("Vary"), length=len(data), same=body == msg)


def msgpack(port, arg):
    """A server with parser = "msgpack", by hand over polling (binary messages as "b<base64>"): a
    CONNECT, then the packets of arg["send"] (hex), each followed by a poll; the hex of every
    binary message polled, and the text of the others."""
    import base64
    base = "http://127.0.0.1:%d/socket.io/?EIO=4&transport=polling" % port

    def req(method, sid=None, body=None):
        r = urllib.request.Request(base + ("&sid=" + sid if sid else ""), data=body, method=method)
        if body is not None:
            r.add_header("Content-Type", "text/plain;charset=UTF-8")
        with urllib.request.urlopen(r, timeout=WAIT) as resp:
            return resp.read()

    sid = json.loads(req("GET")[1:])["sid"]
    for packet in ["82a47479706500a36e7370a12f"] + arg.get("send", []):
        req("POST", sid, b"b" + base64.b64encode(bytes.fromhex(packet)))
        got = [base64.b64decode(m[1:]).hex() if m.startswith(b"b") else m.decode()
               for m in req("GET", sid).split(b"\x1e")]
        out(step="poll", messages=got)


SCENARIOS = {f.__name__: f for f in (basic, emits, listen, connect, reload, engine, handshake, deflate,
                                     compressed, msgpack)}


def main():
    scenario, port = sys.argv[1], int(sys.argv[2])
    arg = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    try:
        SCENARIOS[scenario](port, arg)
    except BaseException as e:  # say what went wrong in the output the spec reads
        out(fatal="%s: %s" % (type(e).__name__, e))
    finally:
        out(end=True)
    os._exit(0)  # do not wait for the client's background threads


if __name__ == "__main__":
    main()
