#!/usr/bin/env python3
"""Spindle compatibility runner: send the same commands to redis-server and to Spindle and
require byte-for-byte equal replies.

Usage:
    runner.py --redis HOST:PORT --spindle HOST:PORT [CASE.txt ...]
    runner.py --self-check [CASE.txt ...]     # redis-server vs a second redis-server,
                                              # both started here; validates the case files
Without case files, every compat/cases/*.txt is run (sorted by name). Standard library only:
the client speaks raw RESP over sockets (no redis-py).

Case files
----------
One command per line, split the way redis-cli splits a line (sdssplitargs): words separated by
spaces; "double quotes" understand \\xHH \\n \\r \\t \\b \\a \\\\ \\" (any other \\c is c);
'single quotes' understand only \\'. Each command is sent as a RESP multibulk array.
Blank lines are ignored; a line starting with `#` is a comment, with `#!` a directive.

Every case file runs on a fresh connection to each server (RESP2, db 0) that first sends
`FLUSHALL` and `SELECT 0` (not counted). If a server closes the connection (QUIT, a protocol
error, a crash) or does not answer within --timeout seconds, both connections are reopened
before the next command (fresh: RESP2, db 0, no name).

Each command is one check. Replies are compared as raw bytes unless a directive preceding the
command says otherwise. Directives modify only the NEXT command (several may be stacked):

    #!sort          the reply is an aggregate (array, set, push, map) whose order is
                    unspecified: compare with its elements sorted (a map's pairs are sorted)
    #!sort-inner    keep the top-level order, sort the elements of every aggregate inside it
                    (SCAN's [cursor, [keys]])
    #!sort-pairs    the reply is a flat array of name/value pairs (RESP2 CONFIG GET):
                    compare with the pairs sorted
    #!sort-deep     sort the elements of every aggregate at every depth (a map's pairs):
                    FUNCTION LIST, whose functions in a library are in Redis's dict order
    #!approx N      both replies are integers (:) that may differ by at most N
    #!ttl           same as `#!approx 1` (TTL, EXPIRETIME)
    #!ignore        send it to both, require only the same RESP type (first byte of reply)
    #!info-fields [EXTRA ...]
                    the reply is INFO's text: compare its section headers and field names,
                    in order (sorted in commandstats, errorstats and latencystats, which
                    Redis lists in hash order), not their values; EXTRA names are fields
                    only Spindle has
    #!skip REASON   do not send the next command at all (counted as skipped, not a check)
    #!frames N      the command answers N replies (SUBSCRIBE a b: one confirmation each; a
                    #!recv of N pushed messages): read all N and compare them as one (with
                    #!sort: in any order); all N must come, from both servers

and ones that act at once:

    #!sleep MS      sleep MS milliseconds
    #!conn NAME     later commands go over connection NAME (opened fresh on first use: RESP2,
                    db 0); every file starts on connection "main"
    #!recv          read the next reply of the current connection, left pending by a `send`,
                    and compare it (one check; the modifiers before it apply)

and a modifier of the next command:

    #!send          send it without reading its reply (a blocking command); a later #!recv
                    on the same connection reads it

On a mismatch the runner prints file:line, the command and both replies (repr) and goes on.
The last line printed is `N passed, M failed`; the exit status is 1 if anything failed.
"""

import argparse
import glob
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------------------------
# Command-line splitting (sdssplitargs)
# --------------------------------------------------------------------------------------------

class SplitError(ValueError):
    pass


HEX = b"0123456789abcdefABCDEF"
SPACE = b" \n\r\t\v\f"


def split_args(line: bytes):
    """Split a line like redis-cli's sdssplitargs; return a list of bytes."""
    out = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in SPACE:
            i += 1
        if i >= n:
            return out
        cur = bytearray()
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    raise SplitError("unbalanced double quotes")
                c = line[i]
                if (c == 0x5C and i + 3 < n and line[i + 1] in b"xX"
                        and line[i + 2] in HEX and line[i + 3] in HEX):
                    cur.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == 0x5C and i + 1 < n:
                    i += 1
                    e = line[i]
                    cur.append({ord("n"): 10, ord("r"): 13, ord("t"): 9,
                                ord("b"): 8, ord("a"): 7}.get(e, e))
                elif c == 0x22:
                    if i + 1 < n and line[i + 1] not in SPACE:
                        raise SplitError("closing quote must be followed by a space")
                    i += 1
                    break
                else:
                    cur.append(c)
            elif insq:
                if i >= n:
                    raise SplitError("unbalanced single quotes")
                c = line[i]
                if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    i += 1
                    cur.append(0x27)
                elif c == 0x27:
                    if i + 1 < n and line[i + 1] not in SPACE:
                        raise SplitError("closing quote must be followed by a space")
                    i += 1
                    break
                else:
                    cur.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in SPACE:
                    break
                if c == 0x22:
                    inq = True
                elif c == 0x27:
                    insq = True
                else:
                    cur.append(c)
            i += 1
        out.append(bytes(cur))


def encode_command(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


# --------------------------------------------------------------------------------------------
# RESP reader
# --------------------------------------------------------------------------------------------

class ConnClosed(Exception):
    pass


class Node:
    """One parsed reply: type byte, header line (raw, with CRLF), children (aggregates) and the
    full raw bytes."""
    __slots__ = ("kind", "header", "children", "raw", "attr")

    def __init__(self, kind, header, children, raw, attr=b""):
        self.kind, self.header, self.children, self.raw, self.attr = (
            kind, header, children, raw, attr)


AGGREGATES = b"*~>%|"
BULKISH = b"$=!"
LINES = b"+-:_,#("


class Conn:
    def __init__(self, host, port, timeout):
        self.addr = (host, port)
        self.timeout = timeout
        self.sock = socket.create_connection(self.addr, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        self.dead = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.dead = True

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.dead = True
            raise ConnClosed("send failed: %s" % e)

    def _fill(self):
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            self.dead = True
            raise ConnClosed("timeout: no complete reply within %ss" % self.timeout)
        except OSError as e:
            self.dead = True
            raise ConnClosed("recv failed: %s" % e)
        if not chunk:
            self.dead = True
            raise ConnClosed("connection closed")
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk

    def _line(self):
        while True:
            j = self.buf.find(b"\r\n", self.pos)
            if j >= 0:
                line = bytes(self.buf[self.pos:j + 2])
                self.pos = j + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) - self.pos < n:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return data

    def read_reply(self):
        """Read exactly one full reply (RESP2 or RESP3) and return its Node."""
        header = self._line()
        kind = header[:1]
        body = header[1:-2]
        if kind == b"|":  # attribute: a map that precedes the real reply
            n = int(body)
            attr = [header]
            for _ in range(2 * n):
                attr.append(self.read_reply().raw)
            node = self.read_reply()
            node.attr = b"".join(attr) + node.attr
            node.raw = b"".join(attr) + node.raw
            return node
        if kind in LINES and kind:
            return Node(kind, header, None, header)
        if kind in BULKISH and kind:
            n = int(body)
            if n < 0:
                return Node(kind, header, None, header)
            data = self._exact(n + 2)
            return Node(kind, header, None, header + data)
        if kind in AGGREGATES and kind:
            n = int(body)
            if n < 0:
                return Node(kind, header, None, header)
            count = 2 * n if kind == b"%" else n
            children = [self.read_reply() for _ in range(count)]
            return Node(kind, header, children, header + b"".join(c.raw for c in children))
        raise ConnClosed("protocol error: unexpected reply line %r" % header)

    def pending(self):
        """True if bytes beyond the last reply were received (a stray extra reply)."""
        if len(self.buf) > self.pos:
            return True
        try:
            r, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        if not r:
            return False
        try:
            self.sock.setblocking(False)
            data = self.sock.recv(1 << 20)
        except (BlockingIOError, OSError):
            data = None
        finally:
            try:
                self.sock.setblocking(True)
                self.sock.settimeout(self.timeout)
            except OSError:
                pass
        if data:
            self.buf += data
            return True
        if data == b"":
            self.dead = True  # closed right after the reply (QUIT): not a stray reply
        return False


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------

def _pairs(children):
    return [children[i].raw + children[i + 1].raw for i in range(0, len(children) - 1, 2)]


def canon_sorted(node):
    """The raw bytes of node with its elements (a map's pairs) sorted."""
    if node.children is None:
        return node.raw
    if node.kind == b"%":
        items = sorted(_pairs(node.children))
    else:
        items = sorted(c.raw for c in node.children)
    return node.attr + node.header + b"".join(items)


def canon_sort_inner(node):
    if node.children is None:
        return node.raw
    return node.attr + node.header + b"".join(canon_sorted(c) for c in node.children)


def canon_sort_deep(node):
    if node.children is None:
        return node.raw
    kids = [canon_sort_deep(c) for c in node.children]
    if node.kind == b"%":
        kids = [kids[i] + kids[i + 1] for i in range(0, len(kids) - 1, 2)]
    return node.attr + node.header + b"".join(sorted(kids))


def canon_sort_pairs(node):
    if node.children is None or len(node.children) % 2:
        return node.raw
    return node.attr + node.header + b"".join(sorted(_pairs(node.children)))


ARITY_REDIS_SET = b"-ERR wrong number of arguments for 'set' command\r\n"
ARITY_SEED_SET = re.compile(rb"^-ERR wrong number of arguments for '(set)'\r\n$", re.I)


def seed_equivalent(redis_raw, spindle_raw):
    """The lab's transcript (shared/seed) wins over Redis for exactly what it shows (README,
    "Behaviour notes"): SET's arity error names the command as sent, without ' command'
    (`for 'SET'` where Redis says `for 'set' command`). That pair counts as equal; the bare
    `HELLO` of the transcript is skipped in the case files."""
    return redis_raw == ARITY_REDIS_SET and bool(ARITY_SEED_SET.match(spindle_raw))


def info_fields(node, extra=()):
    """The section headers and field names of an INFO reply (a bulk or verbatim string), in
    order, without the names in `extra`."""
    if node.kind not in (b"$", b"="):
        return None
    body = node.raw[len(node.header):-2]
    if node.kind == b"=":
        body = body[4:]  # "txt:"
    # Sections listed in Redis's dict order of commands or errors (random per process): their
    # names are compared sorted.
    unordered = ("# Commandstats", "# Errorstats", "# Latencystats")
    names, section = [], []
    for line in body.decode("utf-8", "replace").split("\r\n"):
        if line.startswith("#"):
            names.extend(sorted(section[1:]) if section[:1] and section[0] in unordered
                         else section)
            section = [line]
        elif ":" in line:
            name = line.split(":", 1)[0]
            if name not in extra:
                section.append(name)
    names.extend(sorted(section[1:]) if section[:1] and section[0] in unordered else section)
    return names


def compare(a, b, mods):
    """Return (ok, note); `a` is redis-server's reply, `b` Spindle's."""
    if a.raw != b.raw and seed_equivalent(a.raw, b.raw):
        return True, "the lab's error text (README)"
    if "info-fields" in mods:
        fa, fb = info_fields(a), info_fields(b, mods["info-fields"])
        if fa != fb and fa is not None and fb is not None:
            missing = [n for n in fa if n not in fb]
            more = [n for n in fb if n not in fa]
            return False, "INFO fields differ: missing %s, extra %s" % (missing, more)
        return fa == fb, "INFO field names"
    if "ignore" in mods:
        return a.kind == b.kind, "compared RESP types only"
    if "approx" in mods:
        n = mods["approx"]
        if a.kind == b.kind == b":":
            ok = abs(int(a.header[1:-2]) - int(b.header[1:-2])) <= n
            return ok, "integers within %d" % n
        return a.raw == b.raw, None
    if "sort" in mods:
        return canon_sorted(a) == canon_sorted(b), "sorted"
    if "sort-inner" in mods:
        return canon_sort_inner(a) == canon_sort_inner(b), "inner aggregates sorted"
    if "sort-pairs" in mods:
        return canon_sort_pairs(a) == canon_sort_pairs(b), "pairs sorted"
    if "sort-deep" in mods:
        return canon_sort_deep(a) == canon_sort_deep(b), "aggregates sorted at every depth"
    return a.raw == b.raw, None


# --------------------------------------------------------------------------------------------
# Running case files
# --------------------------------------------------------------------------------------------

def shorten(data, limit):
    r = repr(data)
    if len(r) > limit:
        r = r[:limit] + "... (%d bytes)" % len(data)
    return r


class Runner:
    def __init__(self, a, b, names, timeout, verbose, width):
        self.a, self.b = a, b
        self.names = names
        self.timeout = timeout
        self.verbose = verbose
        self.width = width
        self.passed = self.failed = self.skipped = 0
        self.named = {}
        self.current = "main"
        self.label_w = max(len(n) for n in names) + 1

    @property
    def conns(self):
        return self.named.get(self.current)

    @conns.setter
    def conns(self, value):
        if value is None:
            self.named.pop(self.current, None)
        else:
            self.named[self.current] = value

    def connect(self):
        old = self.named.pop(self.current, None)
        if old:
            for c in old:
                c.close()
        conns = []
        for (host, port) in (self.a, self.b):
            try:
                conns.append(Conn(host, port, self.timeout))
            except OSError as e:
                for c in conns:
                    c.close()
                raise ConnClosed("cannot connect to %s:%d: %s" % (host, port, e))
        self.conns = conns

    def disconnect(self):
        for conns in self.named.values():
            for c in conns:
                c.close()
        self.named = {}
        self.current = "main"

    def send_only(self, args):
        """Send args to both servers over the current connection, leaving the replies."""
        if self.conns is None or any(c.dead for c in self.conns):
            self.connect()
        payload = encode_command(args)
        for c in self.conns:
            c.send(payload)

    def exchange(self, args, send=True, frames=1):
        """Send args to both servers (unless `send` is false: read a reply left pending);
        return a list of (Node or None, error text or None). With `frames` > 1, that many
        replies are read and returned as one aggregate Node (without a header)."""
        if send and (self.conns is None or any(c.dead for c in self.conns)):
            self.connect()
        if self.conns is None:
            raise ConnClosed("no connection %r to read from" % self.current)
        payload = encode_command(args) if send else b""
        results = [None, None]
        for i, c in enumerate(self.conns):
            try:
                if send:
                    c.send(payload)
            except ConnClosed as e:
                results[i] = (None, str(e))
        for i, c in enumerate(self.conns):
            if results[i] is not None:
                continue
            try:
                node = c.read_reply()
                if frames > 1:
                    nodes = [node] + [c.read_reply() for _ in range(frames - 1)]
                    node = Node(b"*", b"", nodes, b"".join(n.raw for n in nodes))
                if c.pending():
                    c.dead = True
                    results[i] = (node, "extra bytes after the reply: %s"
                                  % shorten(bytes(c.buf[c.pos:]), self.width))
                else:
                    results[i] = (node, None)
            except ConnClosed as e:
                results[i] = (None, str(e))
            except ValueError as e:
                c.dead = True
                results[i] = (None, "unparsable reply: %s" % e)
        return results

    def report(self, where, line, results, note):
        print("FAIL %s: %s" % (where, line))
        for name, (node, err) in zip(self.names, results):
            shown = shorten(node.raw, self.width) if node is not None else "-"
            if err:
                shown += "  [%s]" % err
            print("    %-*s %s" % (self.label_w, name + ":", shown))
        if note:
            print("    (%s)" % note)

    def run_file(self, path):
        fname = os.path.basename(path)
        p0, f0, s0 = self.passed, self.failed, self.skipped
        try:
            self.connect()
            # The connections of the previous file are closed; a server forgets them (their
            # subscriptions, blocked waits) asynchronously: wait until it has, so that no
            # file sees another's leftovers.
            deadline = time.time() + 3
            while time.time() < deadline:
                res = self.exchange([b"CLIENT", b"LIST"])
                if all(node and node.raw.count(b"\n") <= 3 for node, _ in res):
                    break
                time.sleep(0.01)
            for cmd in ([b"FLUSHALL"], [b"SELECT", b"0"]):
                res = self.exchange(cmd)
                for name, (node, err) in zip(self.names, res):
                    if err or node.raw != b"+OK\r\n":
                        print("note %s: setup %s on %s answered %s %s" % (
                            fname, b" ".join(cmd).decode(), name,
                            shorten(node.raw, self.width) if node else "-", err or ""))
        except ConnClosed as e:
            print("note %s: %s" % (fname, e))
        mods = {}
        with open(path, "rb") as fh:
            lines = fh.read().split(b"\n")
        for lineno, raw in enumerate(lines, 1):
            line = raw.rstrip(b"\r")
            stripped = line.strip()
            where = "%s:%d" % (fname, lineno)
            if not stripped:
                continue
            if stripped.startswith(b"#!"):
                text = stripped[2:].decode()
                if text.strip() == "recv":
                    self.check(where, "(reply of the pending command)", None, mods)
                    mods = {}
                else:
                    self.directive(where, text, mods)
                continue
            if stripped.startswith(b"#"):
                continue
            text = stripped.decode("utf-8", "backslashreplace")
            if "skip" in mods:
                self.skipped += 1
                if self.verbose:
                    print("skip %s: %s (%s)" % (where, text, mods["skip"]))
                mods = {}
                continue
            try:
                args = split_args(stripped)
            except SplitError as e:
                print("ERROR %s: cannot split %r: %s" % (where, text, e))
                self.failed += 1
                mods = {}
                continue
            if "send" in mods:
                try:
                    self.send_only(args)
                except ConnClosed as e:
                    self.failed += 1
                    print("FAIL %s: %s\n    [%s]" % (where, text, e))
                mods = {}
                continue
            self.check(where, text, args, mods)
            mods = {}
        self.disconnect()
        print("---- %-24s pass %4d   fail %4d%s" % (
            fname, self.passed - p0, self.failed - f0,
            "   skip %d" % (self.skipped - s0) if self.skipped - s0 else ""))
        sys.stdout.flush()

    def check(self, where, text, args, mods):
        """One check: send `args` and compare the replies (`args` None: read a pending one)."""
        try:
            results = self.exchange(args or [], send=args is not None,
                                    frames=mods.get("frames", 1))
        except ConnClosed as e:
            self.failed += 1
            print("FAIL %s: %s\n    [%s]" % (where, text, e))
            self.conns = None
            return
        (na, ea), (nb, eb) = results
        if "frames" in mods and (na is None or nb is None):
            ok, note = False, "fewer replies than #!frames says"
        elif na is None and nb is None and ea == eb:
            ok, note = True, "both: %s" % ea  # e.g. both closed the connection
        elif na is None or nb is None or ea or eb:
            ok, note = False, None
        else:
            ok, note = compare(na, nb, mods)
        if ok:
            self.passed += 1
            if self.verbose:
                print("ok   %s: %s -> %s" % (where, text, shorten(na.raw, self.width)))
        else:
            self.failed += 1
            self.report(where, text, results, note)

    def directive(self, where, text, mods):
        parts = text.split()
        if not parts:
            return
        name, rest = parts[0], parts[1:]
        if name == "sleep":
            time.sleep(int(rest[0]) / 1000.0)
        elif name in ("sort", "sort-inner", "sort-pairs", "sort-deep", "ignore"):
            mods[name] = True
        elif name == "ttl":
            mods["approx"] = 1
        elif name == "approx":
            mods["approx"] = int(rest[0])
        elif name == "info-fields":
            mods["info-fields"] = tuple(rest)
        elif name == "frames":
            mods["frames"] = int(rest[0])
        elif name == "skip":
            mods["skip"] = " ".join(rest) or "skipped"
        elif name == "send":
            mods["send"] = True
        elif name == "conn":
            self.current = rest[0]
        else:
            raise SystemExit("%s: unknown directive #!%s" % (where, text))


# --------------------------------------------------------------------------------------------
# Self-check: two redis-server instances
# --------------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(binary, tmp):
    port = free_port()
    d = tempfile.mkdtemp(dir=tmp)
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--daemonize", "no", "--enable-debug-command", "yes", "--dir", d,
         "--logfile", os.path.join(d, "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            c = Conn("127.0.0.1", port, 2)
            c.send(encode_command([b"PING"]))
            if c.read_reply().raw == b"+PONG\r\n":
                c.close()
                return proc, port
        except (OSError, ConnClosed):
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server on port %d did not start" % port)


def parse_addr(text):
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1", int(port))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--redis", metavar="HOST:PORT", help="reference redis-server")
    ap.add_argument("--spindle", metavar="HOST:PORT", help="server under test")
    ap.add_argument("--self-check", action="store_true",
                    help="compare redis-server with a second redis-server (both started here)")
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server",
                    help="redis-server binary for --self-check")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply")
    ap.add_argument("--width", type=int, default=400, help="max chars of a printed reply")
    ap.add_argument("-v", "--verbose", action="store_true", help="print passing checks too")
    ap.add_argument("cases", nargs="*", help="case files (default: compat/cases/*.txt)")
    opts = ap.parse_args()

    cases = opts.cases or sorted(glob.glob(os.path.join(HERE, "cases", "*.txt")))
    procs = []
    tmp = None
    try:
        if opts.self_check:
            tmp = tempfile.mkdtemp(prefix="compat-selfcheck-")
            p1, port1 = start_redis(opts.redis_server, tmp)
            procs.append(p1)
            p2, port2 = start_redis(opts.redis_server, tmp)
            procs.append(p2)
            a, b = ("127.0.0.1", port1), ("127.0.0.1", port2)
            names = ["redis", "redis2"]
        else:
            if not opts.redis or not opts.spindle:
                ap.error("give --redis and --spindle, or --self-check")
            a, b = parse_addr(opts.redis), parse_addr(opts.spindle)
            names = ["redis", "spindle"]
        print("compat: %s at %s:%d vs %s at %s:%d, %d case files" % (
            names[0], a[0], a[1], names[1], b[0], b[1], len(cases)))
        runner = Runner(a, b, names, opts.timeout, opts.verbose, opts.width)
        started = time.time()
        for path in cases:
            runner.run_file(path)
        if runner.skipped:
            print("(%d skipped)" % runner.skipped)
        print("compat runner took %.1fs" % (time.time() - started))
        print("%d passed, %d failed" % (runner.passed, runner.failed))
        return 1 if runner.failed else 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
