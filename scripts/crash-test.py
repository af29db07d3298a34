#!/usr/bin/env python3
"""Crash test of the append-only file: writers append numbered values while the server is
killed with SIGKILL at random moments, then restarted on the same directory.

After every restart each writer's list `w:i` must read exactly 1..m (its writes, in order,
with no gap, duplicate or value it never sent), and its string `k:i` (set to seq after the
RPUSH of seq was acknowledged) must be m or m-1. Under `appendfsync always`, m must also cover
every acknowledged RPUSH (and k:i every acknowledged SET). Under `everysec` acknowledged writes
may be lost: each round reports how many and how old the oldest of them was when the server
was killed (the window), and the run fails if the window exceeds --max-window seconds. (kill -9
keeps the page cache, so everysec should lose nothing here either: only a power cut could.)

Some rounds also start a BGREWRITEAOF just before the kill, and some kill the restarting server
a second time while it starts up and loads, before the restart that is checked. The server
must come back within --start-timeout seconds and log nothing fatal.

Standard library only (raw RESP over sockets). Free ports, a temporary directory, every server
process killed at exit. `--self-test` checks the checker itself on crafted inputs.
"""
import argparse
import atexit
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FATAL_MARKERS = ("Fatal error", "FATAL", "panicked", "Bad file format", "Exiting...")


class Fail(Exception):
    """The test failed: the message says why."""


# ---------------------------------------------------------------------------------------------
# A tiny RESP client: one command out, one reply in.


class RespError(Exception):
    """An error reply (-ERR ..., -LOADING ...)."""


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def read_reply(f):
    """Reads one reply from the binary file `f`; raises EOFError when the connection ends."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise EOFError("connection closed")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        return RespError(body.decode())
    if kind == b":":
        return int(body)
    if kind == b"$":
        n = int(body)
        if n < 0:
            return None
        data = f.read(n + 2)
        if len(data) != n + 2:
            raise EOFError("connection closed inside a bulk string")
        return data[:-2]
    if kind == b"*":
        n = int(body)
        if n < 0:
            return None
        return [read_reply(f) for _ in range(n)]
    raise ValueError("unexpected reply line %r" % line)


class Client:
    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb")

    def send(self, *args):
        self.sock.sendall(encode(*args))

    def reply(self):
        return read_reply(self.f)

    def call(self, *args):
        """Sends a command and returns its reply; an error reply is raised."""
        self.send(*args)
        r = self.reply()
        if isinstance(r, RespError):
            raise r
        return r

    def close(self):
        for c in (self.f, self.sock):
            try:
                c.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# The checker: pure functions, covered by --self-test.


def check_list(values, acked, sent, durable):
    """Checks what LRANGE w:i returned after a restart. `values` are the raw elements,
    `acked` the highest seq whose RPUSH was acknowledged, `sent` the highest seq sent.
    Returns (m, problems): the recovered prefix length and a list of violations."""
    problems = []
    m = len(values)
    for pos, v in enumerate(values, 1):
        if v != str(pos).encode():
            problems.append(
                "element %d is %r, expected %r (the list is not exactly 1..%d: a gap, a "
                "duplicate, a reordering or a value never sent)" % (pos, v, str(pos).encode(), m)
            )
            break
    if m > sent:
        problems.append("the list has %d elements but only 1..%d were ever sent" % (m, sent))
    if durable and m < acked:
        problems.append(
            "acknowledged writes lost under appendfsync always: RPUSH of %d..%d was "
            "acknowledged but the list ends at %d" % (m + 1, acked, m)
        )
    return m, problems


def check_string(value, m, acked, sent, durable):
    """Checks GET k:i after a restart against the recovered list length `m`: SET k:i seq is
    sent only after RPUSH seq was acknowledged, so k is m or m-1 (None when m is 0 or 1 and
    no SET survived). Returns (k, problems)."""
    problems = []
    if value is None:
        k = 0
    else:
        try:
            k = int(value)
        except ValueError:
            return 0, ["k is %r, not a number that was sent" % (value,)]
        if str(k).encode() != value or k <= 0:
            return 0, ["k is %r, not a number that was sent" % (value,)]
    if k > sent:
        problems.append("k is %d but only SETs up to %d were sent" % (k, sent))
    if not (m - 1 <= k <= m):
        problems.append(
            "k is %d but the list ends at %d: the writes did not come back as a prefix of "
            "the order they were made in (k must be %d or %d)" % (k, m, m - 1, m)
        )
    if durable and k < acked:
        problems.append(
            "acknowledged SET lost under appendfsync always: SET k %d was acknowledged but k is %d"
            % (acked, k)
        )
    return k, problems


def lost_window(recovered, acked, ack_times, kill_time):
    """Acknowledged writes lost (acked - recovered, when positive) and the age in seconds of
    the oldest of them at the kill (`ack_times[seq]`: when the ack for seq arrived)."""
    lost = max(0, acked - recovered)
    if lost == 0:
        return 0, 0.0
    t = ack_times.get(recovered + 1)
    age = max(0.0, kill_time - t) if t is not None else 0.0
    return lost, age


def self_test():
    cases = 0

    def expect(cond, what):
        nonlocal cases
        cases += 1
        if not cond:
            raise Fail("self-test: " + what)

    b = lambda *xs: [str(x).encode() for x in xs]  # noqa: E731
    # Good prefixes.
    expect(check_list(b(1, 2, 3), 3, 3, True) == (3, []), "exact prefix")
    expect(check_list(b(1, 2, 3, 4), 3, 4, True) == (4, []), "in-flight write kept")
    expect(check_list([], 0, 1, True) == (0, []), "empty list, nothing acked")
    expect(check_list(b(1, 2), 5, 6, False) == (2, []), "everysec loss is not a violation")
    # Violations.
    expect(check_list(b(1, 2, 4), 3, 4, True)[1], "gap")
    expect(check_list(b(1, 2, 2, 3), 3, 4, True)[1], "duplicate")
    expect(check_list(b(1, 3, 2), 3, 3, True)[1], "reordering")
    expect(check_list(b(2, 3), 3, 3, True)[1], "missing head")
    expect(check_list(b(1, 2, 3, 4), 3, 3, True)[1], "value never sent")
    expect(check_list(b(1, 2, 3, 4), 3, 3, False)[1], "value never sent (everysec)")
    expect(check_list([b"1", b"x"], 1, 2, True)[1], "garbage element")
    expect(check_list([b"1", b"02"], 2, 2, True)[1], "element that is not the exact text sent")
    expect(check_list(b(1, 2), 3, 3, True)[1], "acknowledged write lost under always")
    expect(check_list(b(1, 2, 4), 3, 4, False)[1], "gap under everysec")
    # The string.
    expect(check_string(b"3", 3, 3, 3, True) == (3, []), "k at m")
    expect(check_string(b"2", 3, 2, 3, True) == (2, []), "k at m-1")
    expect(check_string(None, 0, 0, 0, True) == (0, []), "no k, empty list")
    expect(check_string(None, 1, 0, 0, True) == (0, []), "no k, one element, SET never acked")
    expect(check_string(b"1", 3, 1, 3, True)[1], "k behind the list by 2")
    expect(check_string(b"4", 3, 3, 4, True)[1], "k ahead of the list")
    expect(check_string(b"5", 5, 4, 4, True)[1], "k never sent")
    expect(check_string(b"2", 3, 3, 3, True)[1], "acknowledged SET lost under always")
    expect(check_string(b"2", 3, 3, 3, False)[1] == [], "SET loss under everysec is reported, not failed")
    expect(check_string(b"x", 3, 3, 3, True)[1], "k garbage")
    expect(check_string(b"03", 3, 3, 3, True)[1], "k not the exact text sent")
    # The window.
    expect(lost_window(5, 5, {}, 10.0) == (0, 0.0), "no loss")
    expect(lost_window(3, 5, {4: 8.5, 5: 9.0}, 10.0) == (2, 1.5), "loss of 2, oldest 1.5 s")
    expect(lost_window(3, 5, {4: 10.2, 5: 10.3}, 10.0) == (2, 0.0), "acks read after the kill")
    # The RESP reader.
    import io

    r = io.BytesIO(b"+OK\r\n-ERR x\r\n:12\r\n$4\r\na\r\nb\r\n$-1\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n*0\r\n$5\r\nab")
    expect(read_reply(r) == "OK", "simple string")
    e = read_reply(r)
    expect(isinstance(e, RespError) and str(e) == "ERR x", "error reply")
    expect(read_reply(r) == 12, "integer")
    expect(read_reply(r) == b"a\r\nb", "bulk with CRLF inside")
    expect(read_reply(r) is None, "null bulk")
    expect(read_reply(r) == [b"1", b"2"], "array")
    expect(read_reply(r) == [], "empty array")
    try:
        read_reply(r)
        expect(False, "truncated bulk raises EOFError")
    except EOFError:
        expect(True, "truncated bulk raises EOFError")
    expect(encode("RPUSH", "w:1", 7) == b"*3\r\n$5\r\nRPUSH\r\n$3\r\nw:1\r\n$1\r\n7\r\n", "encode")
    return cases


# ---------------------------------------------------------------------------------------------
# Server processes.

PROCS = []  # every Popen started, killed at exit


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
            p.wait()
        # A rewrite child forked by a killed server is in the server's own process group.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    PROCS.clear()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, args, dirpath, policy, log_path):
        self.args = args
        self.dir = dirpath
        self.policy = policy
        self.log_path = log_path
        self.port = None
        self.proc = None

    def spawn(self):
        self.port = free_port()
        cmd = [
            self.args.spindle, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", self.dir, "--appendonly", "yes", "--appendfsync", self.policy,
            "--save", "",
        ] + shlex.split(self.args.server_args)
        log = open(self.log_path, "ab")
        log.write(("=== %s\n" % " ".join(shlex.quote(c) for c in cmd)).encode())
        log.flush()
        self.log_offset = log.tell()
        # Its own process group, so a rewrite child it forks can be cleaned up with it.
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        PROCS.append(self.proc)

    def start(self):
        """Starts the server and waits until it has loaded; returns how long that took."""
        for attempt in range(5):
            self.spawn()
            t0 = time.monotonic()
            try:
                self.wait_ready(t0)
                return time.monotonic() - t0
            except Fail:
                if self.proc.poll() is not None and "Address already in use" in self.log_tail():
                    continue  # the port was taken between the probe and the bind
                raise
        raise Fail("could not find a free port")

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_log(self):
        for line in self.log_tail(10**9).splitlines():
            if any(m in line for m in FATAL_MARKERS):
                raise Fail("the server logged a fatal error: %s\n--- log:\n%s" % (line, self.log_tail()))

    def wait_ready(self, t0):
        deadline = t0 + self.args.start_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fail(
                    "the server exited with status %s while starting\n--- log:\n%s"
                    % (self.proc.returncode, self.log_tail())
                )
            try:
                c = Client(self.port, timeout=2.0)
            except OSError as e:
                last = str(e)
                time.sleep(0.02)
                continue
            try:
                while time.monotonic() < deadline:
                    try:
                        if c.call("PING") != "PONG":
                            raise Fail("PING did not answer PONG")
                        info = c.call("INFO", "persistence").decode()
                        if "loading:0" in info.split("\r\n"):
                            c.close()
                            self.check_log()
                            return
                        last = "INFO says loading"
                    except RespError as e:
                        last = str(e)
                        if not str(e).startswith("LOADING"):
                            raise Fail("unexpected error while starting: %s" % e)
                    time.sleep(0.02)
            except (OSError, EOFError) as e:
                last = str(e)
                c.close()
                time.sleep(0.02)
        raise Fail(
            "the server did not come back within %.0f s (last: %s)\n--- log:\n%s"
            % (self.args.start_timeout, last, self.log_tail())
        )

    def kill9(self):
        """SIGKILL the server (only the server: a rewrite child lives on, as after a crash),
        then reap it. Returns the moment of the kill."""
        t = time.monotonic()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        if self.proc.returncode != -signal.SIGKILL and "Address already in use" not in self.log_tail():
            raise Fail(
                "the server had exited by itself (status %s) before the kill\n--- log:\n%s"
                % (self.proc.returncode, self.log_tail())
            )
        self.check_log()
        return t

    def stop(self):
        """The end of a phase: kill the server and anything it forked."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# Writers.


class Writer(threading.Thread):
    """Writer i: RPUSH w:i seq, then SET k:i seq, for seq = start, start+1, ... until the
    connection ends. Records what it sent and what was acknowledged, and when."""

    def __init__(self, i, port, start, k):
        super().__init__(daemon=True, name="writer-%d" % i)
        self.i = i
        self.port = port
        self.seq = start  # next seq to send; the list holds 1..start-1
        self.list_sent = start - 1
        self.list_acked = start - 1
        self.set_sent = k  # k:i as the last restart found it
        self.set_acked = k
        self.list_times = {}  # seq -> when its RPUSH ack arrived
        self.set_times = {}
        self.acks = 0
        self.error = None  # a protocol-level surprise (not the connection dying)
        self.ready = threading.Event()

    def run(self):
        try:
            c = Client(self.port)
        except OSError as e:
            self.error = "cannot connect: %s" % e
            self.ready.set()
            return
        self.ready.set()
        key_l, key_s = "w:%d" % self.i, "k:%d" % self.i
        try:
            while True:
                seq = self.seq
                self.list_sent = seq
                c.send("RPUSH", key_l, seq)
                r = c.reply()
                now = time.monotonic()
                if r != seq:
                    self.error = "RPUSH %s %d answered %r, expected the new length %d" % (key_l, seq, r, seq)
                    return
                self.list_acked = seq
                self.list_times[seq] = now
                self.acks += 1
                self.set_sent = seq
                c.send("SET", key_s, seq)
                r = c.reply()
                now = time.monotonic()
                if r != "OK":
                    self.error = "SET %s %d answered %r" % (key_s, seq, r)
                    return
                self.set_acked = seq
                self.set_times[seq] = now
                self.acks += 1
                self.seq = seq + 1
        except (OSError, EOFError):
            pass  # the server was killed
        finally:
            c.close()


# ---------------------------------------------------------------------------------------------
# A phase: rounds of write, kill -9, restart, check.


class Phase:
    def __init__(self, args, policy, rounds, tmp):
        self.args = args
        self.policy = policy
        self.rounds = rounds
        self.durable = policy == "always"
        self.dir = os.path.join(tmp, policy)
        os.makedirs(self.dir)
        self.server = Server(args, self.dir, policy, os.path.join(tmp, policy + ".log"))
        self.next = [1] * args.writers  # next seq per writer
        self.k = [0] * args.writers  # k:i as found at the last restart
        self.acked_total = 0
        self.lost_total = 0
        self.max_window = 0.0
        self.rounds_with_loss = 0
        self.max_load = 0.0
        self.startup_kills = 0
        self.done = 0  # kills followed by a restart
        self.rewrites = 0

    def verify(self, writers, kill_time, rnd):
        """After a restart: read every writer's list and string, check them, return the
        per-round loss and window."""
        c = Client(self.server.port, timeout=30.0)
        try:
            problems = []
            lost = 0
            window = 0.0
            n = self.args.writers
            for i in range(n):
                values = c.call("LRANGE", "w:%d" % i, 0, -1)
                kval = c.call("GET", "k:%d" % i)
                if writers:
                    w = writers[i]
                    l_ack, l_sent, s_ack, s_sent = w.list_acked, w.list_sent, w.set_acked, w.set_sent
                    lt, st = w.list_times, w.set_times
                else:  # the first start: nothing written yet
                    l_ack = l_sent = s_ack = s_sent = 0
                    lt = st = {}
                m, p = check_list(values, l_ack, l_sent, self.durable)
                problems += ["w:%d: %s" % (i, x) for x in p]
                k, p = check_string(kval, m, s_ack, s_sent, self.durable)
                problems += ["k:%d: %s" % (i, x) for x in p]
                for got, ack, times in ((m, l_ack, lt), (k, s_ack, st)):
                    nl, age = lost_window(got, ack, times, kill_time)
                    lost += nl
                    window = max(window, age)
                self.next[i] = m + 1
                self.k[i] = k
            # Nothing else in the keyspace: every key is a writer's.
            keys = set(c.call("KEYS", "*"))
            expected = set()
            for i in range(n):
                if self.next[i] > 1:
                    expected.add(b"w:%d" % i)
                if self.next[i] > 2:
                    expected.add(b"k:%d" % i)
            extra = keys - expected - {b"k:%d" % i for i in range(n)}
            missing = expected - keys
            if extra:
                problems.append("keys that were never written: %r" % sorted(extra)[:10])
            if missing:
                problems.append("keys missing: %r" % sorted(missing)[:10])
        finally:
            c.close()
        if problems:
            raise Fail(
                "%s round %d: after the restart:\n  %s\n(data directory: %s, log: %s)"
                % (self.policy, rnd, "\n  ".join(problems[:20]), self.dir, self.server.log_path)
            )
        return lost, window

    def run(self):
        a = self.args
        rng = random.Random(a.seed + (0 if self.durable else 1))
        load = self.server.start()
        self.check_policy()
        self.verify(None, 0.0, 0)
        print("crash-test: %s: %d rounds of %d writers, kill -9 after %d-%d ms"
              % (self.policy, self.rounds, a.writers, a.min_delay, a.max_delay), flush=True)
        for rnd in range(1, self.rounds + 1):
            writers = [Writer(i, self.server.port, self.next[i], self.k[i]) for i in range(a.writers)]
            for w in writers:
                w.start()
            for w in writers:
                w.ready.wait(10)
            delay = rng.uniform(a.min_delay, a.max_delay) / 1000.0
            rewrites_before, startup_kills_before = self.rewrites, self.startup_kills
            if self.durable is False:
                # everysec: past the first fsync now and then, so the cron's fsync is in play.
                delay += rng.choice([0.0, 0.0, 1.0])
            time.sleep(delay)
            if rng.random() < a.rewrites:
                try:
                    c = Client(self.server.port, timeout=5)
                    c.call("BGREWRITEAOF")
                    c.close()
                    self.rewrites += 1
                    time.sleep(rng.uniform(0, 0.05))
                except (OSError, EOFError, RespError):
                    pass
            rewrote = self.rewrites > rewrites_before
            kill_time = self.server.kill9()
            for w in writers:
                w.join(15)
                if w.is_alive():
                    raise Fail("%s round %d: writer %d did not stop after the kill" % (self.policy, rnd, w.i))
                if w.error:
                    raise Fail("%s round %d: writer %d: %s" % (self.policy, rnd, w.i, w.error))
            acked = sum(w.acks for w in writers)
            if rng.random() < a.startup_kills:
                # A second crash while the server starts up and loads the files.
                self.server.spawn()
                time.sleep(rng.uniform(0, 0.04))
                self.server.kill9()
                self.startup_kills += 1
            killed_twice = self.startup_kills > startup_kills_before
            load = self.server.start()
            self.max_load = max(self.max_load, load)
            self.check_policy()
            self.done = rnd
            self.acked_total += acked
            lost, window = self.verify(writers, kill_time, rnd)
            self.lost_total += lost
            if lost:
                self.rounds_with_loss += 1
            self.max_window = max(self.max_window, window)
            notes = "".join(x for x, on in ((" +rewrite", rewrote), (" +startup kill", killed_twice)) if on)
            print("  %-8s round %2d/%d: kill -9 at %4.0f ms%s: %5d writes acked, lost %d (window %.3f s); "
                  "lists now %d..%d long, back in %.2f s"
                  % (self.policy, rnd, self.rounds, delay * 1000, notes, acked, lost, window,
                     min(self.next) - 1, max(self.next) - 1, load), flush=True)
            if not self.durable and window > a.max_window:
                raise Fail("%s round %d: acknowledged writes lost over a %.3f s window (more than %.1f s)"
                           % (self.policy, rnd, window, a.max_window))
        self.server.stop()

    def check_policy(self):
        c = Client(self.server.port)
        try:
            got = c.call("CONFIG", "GET", "appendfsync")
            aof = c.call("CONFIG", "GET", "appendonly")
        finally:
            c.close()
        if got != [b"appendfsync", self.policy.encode()] and not self.args.server_args:
            raise Fail("the server runs with %r, not appendfsync %s" % (got, self.policy))
        if aof != [b"appendonly", b"yes"] and not self.args.server_args:
            raise Fail("the server runs with %r, not appendonly yes" % (aof,))

    def summary(self):
        present = sum(m - 1 for m in self.next) + sum(self.k)
        line = ("crash-test: %-8s %2d kills (+%d while starting, %d during a rewrite), %d writes acknowledged, "
                "%d present, %d acknowledged lost"
                % (self.policy, self.done, self.startup_kills, self.rewrites, self.acked_total, present,
                   self.lost_total))
        if not self.durable:
            line += " (in %d rounds), max window %.3f s" % (self.rounds_with_loss, self.max_window)
        try:
            with open(self.server.log_path, "rb") as f:
                torn = f.read().count(b"Truncating the AOF")
        except OSError:
            torn = 0
        line += ", %d loads cut a torn record, slowest restart %.2f s" % (torn, self.max_load)
        return line


def on_sigterm(*_):
    # Once: `timeout` signals the child and then its whole process group.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("crash-test: terminated", flush=True)
    sys.exit(143)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spindle", default=os.path.join(ROOT, "target", "release", "spindle"))
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--always-rounds", type=int, default=30)
    ap.add_argument("--everysec-rounds", type=int, default=8)
    ap.add_argument("--min-delay", type=int, default=50, help="ms of writing before a kill, at least")
    ap.add_argument("--max-delay", type=int, default=400, help="ms of writing before a kill, at most")
    ap.add_argument("--max-window", type=float, default=3.0, help="everysec: seconds of acked writes allowed lost")
    ap.add_argument("--start-timeout", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--rewrites", type=float, default=0.3,
                    help="share of rounds that start a BGREWRITEAOF just before the kill")
    ap.add_argument("--startup-kills", type=float, default=0.25,
                    help="share of rounds where the restarting server is killed again while it loads")
    ap.add_argument("--server-args", default="", help="more server arguments, appended (to plant a problem)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--self-test", action="store_true", help="check the checker on crafted inputs, then exit")
    args = ap.parse_args()

    try:
        n = self_test()
    except Fail as e:
        print("crash-test: FAIL: %s" % e)
        return 1
    if args.self_test:
        print("crash-test: self-test: %d checks passed" % n)
        return 0

    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    if not os.access(args.spindle, os.X_OK):
        print("crash-test: FAIL: no server binary at %s (make release)" % args.spindle)
        return 2
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, on_sigterm)
    tmp = tempfile.mkdtemp(prefix="spindle-crash-")
    print("crash-test: %s, seed %d, directory %s" % (args.spindle, args.seed, tmp), flush=True)
    t0 = time.monotonic()
    ok = False
    phases = []
    try:
        for policy, rounds in (("always", args.always_rounds), ("everysec", args.everysec_rounds)):
            if rounds <= 0:
                continue
            ph = Phase(args, policy, rounds, tmp)
            phases.append(ph)
            ph.run()
        ok = True
    except Fail as e:
        print("crash-test: FAIL: %s" % e)
    except KeyboardInterrupt:
        print("crash-test: interrupted")
    finally:
        cleanup()
        for ph in phases:
            print(ph.summary())
        print("crash-test: %.1f s, seed %d (--seed %d repeats the kill delays)"
              % (time.monotonic() - t0, args.seed, args.seed))
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("crash-test: files kept in %s" % tmp)
    if ok:
        print("crash-test: PASS")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
