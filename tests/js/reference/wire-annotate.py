#!/usr/bin/env python3
"""Hexdumps and field-by-field msgpack annotations of captured messages, for docs/redis-*-wire.md.

    python3 tests/js/reference/wire-annotate.py CAPTURE.json STEP INDEX ARG [--base64]

CAPTURE.json is capture-redis-wire.mjs's output; STEP a step name (its start is enough), INDEX the
command's index in that step, ARG the argument's index (e.g. 2 for PUBLISH's payload). --base64:
the argument is base64 text of msgpack (the streams adapter's binary `data` field).
"""

import base64
import json
import struct
import sys


def hexdump(b):
    out = []
    for i in range(0, len(b), 16):
        row = b[i:i + 16]
        hx = " ".join("%02x" % c for c in row[:8]) + "  " + " ".join("%02x" % c for c in row[8:])
        txt = "".join(chr(c) if 0x20 <= c < 0x7f else "." for c in row)
        out.append("%08x  %-48s |%s|" % (i, hx, txt))
    return "\n".join(out)


class Annotator:
    def __init__(self, b):
        self.b, self.i, self.lines = b, 0, []

    def emit(self, start, what, path):
        raw = self.b[start:self.i]
        hx = " ".join("%02x" % c for c in raw[:12]) + (" ... (%d more bytes)" % (len(raw) - 12) if len(raw) > 12 else "")
        self.lines.append("%04x  %-38s %s: %s" % (start, hx, path, what))

    def take(self, n):
        v = self.b[self.i:self.i + n]
        if len(v) < n:
            raise ValueError("truncated")
        self.i += n
        return v

    def str_(self, n, start, path, form):
        s = self.take(n).decode("utf-8")
        self.emit(start, "%s len %d %s" % (form, n, json.dumps(s, ensure_ascii=False)), path)
        return s

    def value(self, path):
        start = self.i
        t = self.take(1)[0]
        if t <= 0x7f:
            self.emit(start, "positive fixint %d" % t, path); return t
        if t >= 0xe0:
            self.emit(start, "negative fixint %d" % (t - 256), path); return t - 256
        if 0xa0 <= t <= 0xbf:
            return self.str_(t & 0x1f, start, path, "fixstr")
        if 0x90 <= t <= 0x9f:
            return self.array(t & 0x0f, start, path, "array")
        if 0x80 <= t <= 0x8f:
            return self.map(t & 0x0f, start, path, "map")
        if t == 0xc0: self.emit(start, "nil", path); return None
        if t == 0xc2: self.emit(start, "false", path); return False
        if t == 0xc3: self.emit(start, "true", path); return True
        if t in (0xc4, 0xc5, 0xc6):
            n = {0xc4: 1, 0xc5: 2, 0xc6: 4}[t]
            ln = int.from_bytes(self.take(n), "big")
            self.take(ln)
            self.emit(start, "bin%d len %d (raw bytes)" % (8 * n, ln), path); return b""
        if t in (0xd9, 0xda, 0xdb):
            n = {0xd9: 1, 0xda: 2, 0xdb: 4}[t]
            return self.str_(int.from_bytes(self.take(n), "big"), start, path, "str%d" % (8 * n))
        if t in (0xdc, 0xdd):
            return self.array(int.from_bytes(self.take(2 if t == 0xdc else 4), "big"), start, path, "array")
        if t in (0xde, 0xdf):
            return self.map(int.from_bytes(self.take(2 if t == 0xde else 4), "big"), start, path, "map")
        ints = {0xcc: ("B", 1, "uint8"), 0xcd: (">H", 2, "uint16"), 0xce: (">I", 4, "uint32"), 0xcf: (">Q", 8, "uint64"),
                0xd0: ("b", 1, "int8"), 0xd1: (">h", 2, "int16"), 0xd2: (">i", 4, "int32"), 0xd3: (">q", 8, "int64"),
                0xca: (">f", 4, "float32"), 0xcb: (">d", 8, "float64")}
        if t in ints:
            fmt, n, name = ints[t]
            v = struct.unpack(fmt, self.take(n))[0]
            self.emit(start, "%s %s" % (name, v), path); return v
        raise ValueError("type byte %02x" % t)

    def array(self, n, start, path, form):
        self.emit(start, "%s, %d elements" % (form, n), path)
        return [self.value("%s[%d]" % (path, k)) for k in range(n)]

    def map(self, n, start, path, form):
        self.emit(start, "%s, %d entries" % (form, n), path)
        out = {}
        for _ in range(n):
            k = self.value(path + ".key")
            out[k] = self.value("%s.%s" % (path, k))
        return out


def main():
    cap, step, idx, arg = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    steps = json.load(open(cap))
    s = next(x for x in steps if x["step"].startswith(step))
    b = bytes.fromhex(s["commands"][idx]["args"][arg])
    if "--base64" in sys.argv:
        print("base64 text (%d bytes): %s\n" % (len(b), b.decode()))
        b = base64.b64decode(b)
    print("```")
    print(hexdump(b))
    print("```")
    if b[:1] in (b"{", b"["):
        return
    a = Annotator(b)
    a.value("msg")
    print("```")
    print("\n".join(a.lines))
    print("```")


if __name__ == "__main__":
    main()
