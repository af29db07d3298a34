#!/usr/bin/env python3
"""Drives scripts/bench.sh: starts Spindle, redis-server and the thread-per-connection ceiling
(examples/ceiling.rs) on free ports, alternates redis-benchmark runs, and prints a table of
medians. Figures only: nothing here asserts a speed."""
import argparse
import hashlib
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# SPINDLE_BIN: another build to measure (an older commit's, to compare before and after).
SPINDLE = os.environ.get("SPINDLE_BIN") or os.path.join(ROOT, "target", "release", "spindle")
CEILING = os.path.join(ROOT, "target", "release", "examples", "ceiling")
LOADGEN = os.path.join(ROOT, "target", "release", "examples", "loadgen")
TICK = os.sysconf("SC_CLK_TCK")

# (label, redis-benchmark tests, extra flags, first-guess requests, idle connections held)
WORKLOADS = [
    ("c50 P1", "ping_mbulk,set,get", ["-c", "50"], 150_000, 0),
    ("c50 P16", "set,get", ["-c", "50", "-P", "16"], 2_000_000, 0),
    ("c1", "set,get", ["-c", "1"], 40_000, 0),
    ("c50 d1024", "set", ["-c", "50", "-d", "1024"], 150_000, 0),
    ("c1000", "set,get", ["-c", "1000"], 150_000, 0),
    ("c50", "incr,mset", ["-c", "50"], 150_000, 0),
    ("c1000 +10k idle", "set,get", ["-c", "1000"], 150_000, 10_000),
    ("c50", "lpush,rpush,lpop,rpop,hset", ["-c", "50"], 150_000, 0),
    ("c50", "lrange_100", ["-c", "50"], 60_000, 0),
    ("c50 P16", "lpush,hset", ["-c", "50", "-P", "16"], 2_000_000, 0),
    ("c50", "sadd,spop,zadd,zpopmin", ["-c", "50"], 150_000, 0),
    ("c50 P16", "zadd", ["-c", "50", "-P", "16"], 2_000_000, 0),
    ("c50 1M-member zset", "zrangebyscore_limit", ["-c", "50", "-r", "1000000"], 150_000, 0),
    ("c50", "xadd", ["-c", "50"], 150_000, 0),
    ("c50 P16", "xadd", ["-c", "50", "-P", "16"], 2_000_000, 0),
    ("c50 10k-entry stream", "xread_count10", ["-c", "50"], 150_000, 0),
    ("c50 3-command script", "evalsha", ["-c", "50"], 150_000, 0),
    ("c50 3-command function", "fcall", ["-c", "50"], 150_000, 0),
    ("c50 BullMQ-style", "cmsgpack_roundtrip", ["-c", "50"], 150_000, 0),
]
# Both servers must admit the 10,000 idle clients plus the benchmark's 1,000.
MAXCLIENTS = "11000"
MIN_SECONDS = 2.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ping(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                # Any answer but an error (-LOADING): a bound ceiling answers with its reply.
                got = s.recv(16)
                if got and not got.startswith(b"-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on {port} did not answer PING")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Server:
    def __init__(self, name, argv, port):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ping(port)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    loaded = None

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True).stdout


def run_benchmark(server, tests, flags, n):
    """One redis-benchmark run; returns {test: (rps, p50, p99)}, CPU ticks, elapsed seconds."""
    if tests in CUSTOM:
        # A command of our own on data loaded once per server (see CUSTOM).
        load, command = CUSTOM[tests]
        if server.loaded != tests and server.name != "ceiling":  # the ceiling stores nothing
            server.cli("FLUSHALL")
            load(server)
            server.loaded = tests
        argv = ["redis-benchmark", "-p", str(server.port), "-n", str(n), "--csv", *flags, *command]
    else:
        argv = ["redis-benchmark", "-p", str(server.port), "-t", tests, "-n", str(n), "--csv",
                *flags]
        server.cli("FLUSHALL")
        server.loaded = None
    t0, c0 = time.time(), cpu_ticks(server.proc.pid)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
    elapsed, ticks = time.time() - t0, cpu_ticks(server.proc.pid) - c0
    results = {}
    for line in out.splitlines():
        cols = [c.strip('"') for c in line.split('","')]
        if len(cols) >= 7 and cols[0] != "test":
            try:
                results[cols[0]] = (float(cols[1]), float(cols[4]), float(cols[6]))
            except ValueError:
                pass
    return results, ticks, elapsed


def proc_threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def settle(pid, quiet=12.0, limit=60.0):
    """Waits until the server's thread count and RSS have not moved for `quiet` seconds, longer
    than Spindle's worker idle timeout (10 s): idle worker threads retire and give their memory
    back a while after a workload, and must not do it in the middle of a memory delta."""
    deadline = time.time() + limit
    last, since = None, time.time()
    while time.time() < deadline:
        now = (proc_threads(pid), rss_bytes(pid) // (256 * 1024))
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet:
            return
        time.sleep(0.25)


def load_keys(server, count):
    """Loads `count` distinct 16-byte keys with 16-byte values through redis-cli --pipe."""
    def proto():
        for i in range(count):
            k = b"key:%012d" % i
            v = b"val:%012d" % i
            yield b"*3\r\n$3\r\nSET\r\n$16\r\n" + k + b"\r\n$16\r\n" + v + b"\r\n"
    server.cli("FLUSHALL")
    settle(server.proc.pid)
    before = rss_bytes(server.proc.pid)
    p = subprocess.Popen(["redis-cli", "-p", str(server.port), "--pipe"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunk = []
    for cmd in proto():
        chunk.append(cmd)
        if len(chunk) == 10000:
            p.stdin.write(b"".join(chunk))
            chunk = []
    p.stdin.write(b"".join(chunk))
    p.stdin.close()
    p.wait()
    time.sleep(0.5)
    keys = int(server.cli("DBSIZE").strip() or 0)
    after = rss_bytes(server.proc.pid)
    return keys, (after - before) / max(keys, 1)


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def pipe_send(server, commands):
    """Sends RESP `commands` through redis-cli --pipe, keeping what is already there."""
    p = subprocess.Popen(["redis-cli", "-p", str(server.port), "--pipe"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunk = []
    for cmd in commands:
        chunk.append(cmd)
        if len(chunk) == 1000:
            p.stdin.write(b"".join(chunk))
            chunk = []
    p.stdin.write(b"".join(chunk))
    p.stdin.close()
    p.wait()


def pipe_load(server, commands):
    """Sends RESP `commands` (an iterator of bytes) through redis-cli --pipe into an emptied
    server; returns the resident bytes the server grew by (measured once it has settled)."""
    server.cli("FLUSHALL")
    settle(server.proc.pid)
    before = rss_bytes(server.proc.pid)
    pipe_send(server, commands)
    # The loading connection is gone: let the server give its buffers back first.
    settle(server.proc.pid, quiet=2.0)
    return rss_bytes(server.proc.pid) - before


def load_list(server, count):
    """One list of `count` 16-byte elements: resident bytes per element."""
    def cmds():
        for i in range(0, count, 100):
            yield resp(b"RPUSH", b"biglist", *[b"e%015d" % j for j in range(i, min(i + 100, count))])
    grown = pipe_load(server, cmds())
    n = int(server.cli("LLEN", "biglist").strip() or 0)
    return grown / max(n, 1)


def load_hashes(server, count):
    """`count` hashes of 10 fields (8-byte fields, 16-byte values): resident bytes per field."""
    def cmds():
        for k in range(count):
            fields = []
            for f in range(10):
                fields += [b"f%07d" % f, b"v%015d" % (k * 10 + f)]
            yield resp(b"HSET", b"hash:%012d" % k, *fields)
    grown = pipe_load(server, cmds())
    n = int(server.cli("DBSIZE").strip() or 0)
    return grown / max(n * 10, 1)


def load_sets(server, count):
    """`count` sets of 10 16-byte members: resident bytes per member."""
    def cmds():
        for k in range(count):
            yield resp(b"SADD", b"set:%012d" % k, *[b"m%015d" % (k * 10 + f) for f in range(10)])
    grown = pipe_load(server, cmds())
    n = int(server.cli("DBSIZE").strip() or 0)
    return grown / max(n * 10, 1)


def zadd_args(rng, first, count):
    """Score/member pairs: 16-byte members from `first`, random scores in [0, 1e6)."""
    out = []
    for j in range(first, first + count):
        out += [repr(rng.random() * 1e6).encode(), b"m%015d" % j]
    return out


def load_big_zset(server, count=1_000_000):
    """One sorted set `bigz` of `count` 16-byte members with random scores: bytes per member."""
    import random
    rng = random.Random(42)
    def cmds():
        for i in range(0, count, 100):
            yield resp(b"ZADD", b"bigz", *zadd_args(rng, i, min(100, count - i)))
    grown = pipe_load(server, cmds())
    n = int(server.cli("ZCARD", "bigz").strip() or 0)
    return grown / max(n, 1)


def load_stream(server, count):
    """One stream `bigs` of `count` entries of two fields (IDs 1-0, 2-0, ...): resident bytes
    per entry."""
    def cmds():
        for i in range(1, count + 1):
            yield resp(b"XADD", b"bigs", b"%d-0" % i, b"sensor", b"temp-%d" % (i % 100),
                       b"reading", b"%d" % (i * 7 % 1000))
    grown = pipe_load(server, cmds())
    n = int(server.cli("XLEN", "bigs").strip() or 0)
    return grown / max(n, 1)


def load_zsets(server, count):
    """`count` sorted sets of 10 16-byte members with random scores: bytes per member."""
    import random
    rng = random.Random(7)
    def cmds():
        for k in range(count):
            yield resp(b"ZADD", b"zset:%012d" % k, *zadd_args(rng, k * 10, 10))
    grown = pipe_load(server, cmds())
    n = int(server.cli("DBSIZE").strip() or 0)
    return grown / max(n * 10, 1)


# A 3-command script (EVALSHA and FCALL rows): a counter, a write and a read back.
SCRIPT3 = ("redis.call('incr', KEYS[1]) redis.call('set', KEYS[2], ARGV[1]) "
           "return redis.call('get', KEYS[2])")
SCRIPT3_SHA = hashlib.sha1(SCRIPT3.encode()).hexdigest()
# BullMQ-style options: packed with cmsgpack into a hash field, read back and unpacked.
MSGPACK = ("local o = {delay = 5, attempts = 3, backoff = {type = 'exponential', delay = 1000}, "
           "jobId = ARGV[1], removeOnComplete = true} "
           "redis.call('hset', KEYS[1], 'opts', cmsgpack.pack(o)) "
           "return cmsgpack.unpack(redis.call('hget', KEYS[1], 'opts')).attempts")
MSGPACK_SHA = hashlib.sha1(MSGPACK.encode()).hexdigest()
# Workloads of our own: name -> (loader run once per server, redis-benchmark command). The
# ZRANGEBYSCORE row seeks to a random score in a 1,000,000-member set and reads 10 members:
# O(log n) when the start is found by a descent, not by a walk.
CUSTOM = {
    "zrangebyscore_limit": (
        lambda server: load_big_zset(server),
        ["ZRANGEBYSCORE", "bigz", "__rand_int__", "+inf", "LIMIT", "0", "10"],
    ),
    # Appends to one stream with an auto ID, two fields per entry.
    "xadd": (
        lambda server: None,
        ["XADD", "xs", "*", "field1", "__rand_int__", "field2", "value"],
    ),
    # Ten entries of a 10,000-entry stream, from an ID in the middle.
    "xread_count10": (
        lambda server: load_stream(server, 10_000),
        ["XREAD", "COUNT", "10", "STREAMS", "bigs", "5000-0"],
    ),
    "evalsha": (
        lambda server: server.cli("SCRIPT", "LOAD", SCRIPT3),
        ["EVALSHA", SCRIPT3_SHA, "2", "counter", "value", "__rand_int__"],
    ),
    "fcall": (
        lambda server: server.cli("FUNCTION", "LOAD", "REPLACE",
                                  "#!lua name=bench\nredis.register_function('three', "
                                  "function(KEYS, ARGV) " + SCRIPT3 + " end)"),
        ["FCALL", "three", "2", "counter", "value", "__rand_int__"],
    ),
    "cmsgpack_roundtrip": (
        lambda server: server.cli("SCRIPT", "LOAD", MSGPACK),
        ["EVALSHA", MSGPACK_SHA, "1", "job", "__rand_int__"],
    ),
}


def wake_latency(server, key, park, wake, arrived, rounds):
    """Wake-up latency of a client parked in a blocking command when another client's
    command wakes it: (p50, p99) in ms, from the waking command being sent to the waiter's
    reply arriving. `park(i)` and `wake(i)` make round i's commands; `arrived(got, i)` says
    whether the waiter's reply is all in."""
    waiter = socket.create_connection(("127.0.0.1", server.port))
    waker = socket.create_connection(("127.0.0.1", server.port))
    for s in (waiter, waker):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server.cli("DEL", key)
    samples = []
    for i in range(1, rounds + 1):
        waiter.sendall(park(i))
        time.sleep(0.001)  # let it park
        t0 = time.perf_counter()
        waker.sendall(wake(i))
        got = b""
        while not arrived(got, i):
            got += waiter.recv(256)
        samples.append((time.perf_counter() - t0) * 1000)
        waker.recv(64)
    waiter.close()
    waker.close()
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99)]


def blpop_latency(server, rounds=2000):
    """BLPOP woken by an RPUSH."""
    want = b"*2\r\n$4\r\nlatq\r\n$1\r\nx\r\n"
    return wake_latency(server, "latq",
                        lambda i: resp(b"BLPOP", b"latq", b"0"),
                        lambda i: resp(b"RPUSH", b"latq", b"x"),
                        lambda got, i: len(got) >= len(want), rounds)


def xread_block_latency(server, rounds=2000):
    """XREAD BLOCK woken by an XADD (the entry's ID and its last value arrived). The reader
    asks for what follows the previous round's entry, not `$`: with a thread per connection
    the XADD may run before the XREAD (the 1 ms head start is not a promise), and `$` would
    then wait for an entry that never comes."""
    return wake_latency(server, "lats",
                        lambda i: resp(b"XREAD", b"BLOCK", b"0", b"STREAMS", b"lats",
                                       b"%d-1" % (i - 1)),
                        lambda i: resp(b"XADD", b"lats", b"%d-1" % i, b"f", b"v"),
                        lambda got, i: b"%d-1" % i in got and got.endswith(b"$1\r\nv\r\n"),
                        rounds)


def loadgen(server, *args):
    """One run of examples/loadgen.rs against `server`: the number it prints."""
    out = subprocess.run([LOADGEN, args[0], str(server.port), *map(str, args[1:])],
                         capture_output=True, text=True, timeout=120).stdout
    return float(out.strip() or 0)


def flood_with_rss(server, secs=4.0):
    """A publisher flooding a channel whose one subscriber never reads: (publisher msg/s,
    largest growth of the server's resident memory meanwhile, in MB)."""
    before, peak = rss_bytes(server.proc.pid), [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes(server.proc.pid) - before)
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    try:
        rate = loadgen(server, "flood", secs, 1)
    finally:
        done.set()
        t.join()
    return rate, peak[0] / 1e6


def big_value(server, mb=100):
    """A value of `mb` MB written, read and deleted on one connection, resident memory sampled
    every 2 ms: MB above the start at the peak of SET, after it, at the peak of GET, after it,
    and the seconds until it is back within 50 MB after DEL (None: not within 10 s)."""
    pid, size = server.proc.pid, mb << 20
    base = rss_bytes(pid)
    peaks, phase, done = {}, ["set"], threading.Event()

    def sample():
        while not done.is_set():
            peaks[phase[0]] = max(peaks.get(phase[0], 0), rss_bytes(pid) - base)
            time.sleep(0.002)

    t = threading.Thread(target=sample)
    t.start()
    s = socket.create_connection(("127.0.0.1", server.port))
    try:
        s.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n" % size)
        s.sendall(b"x" * size + b"\r\n")
        assert s.recv(64) == b"+OK\r\n"
        time.sleep(0.3)
        after_set = rss_bytes(pid) - base
        phase[0] = "get"
        s.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n")
        need, got = size + len(b"$%d\r\n\r\n" % size), 0
        while got < need:
            got += len(s.recv(1 << 20))
        time.sleep(0.3)
        after_get = rss_bytes(pid) - base
        phase[0] = "del"
        s.sendall(b"*2\r\n$3\r\nDEL\r\n$3\r\nbig\r\n")
        assert s.recv(64) == b":1\r\n"
        start, back = time.time(), None
        while time.time() - start < 10 and back is None:
            if rss_bytes(pid) - base < 50e6:
                back = time.time() - start
            time.sleep(0.01)
    finally:
        done.set()
        t.join()
        s.close()
    mbs = lambda b: round(b / 1e6)
    return mbs(peaks["set"]), mbs(after_set), mbs(peaks["get"]), mbs(after_get), back


def pubsub_rows(servers, rounds):
    """Transactions and pub/sub: medians over `rounds` alternating runs."""
    rows = [
        ("MULTI + 5 INCR + EXEC, c50: transactions/s", ("tx", 50, 2), True),
        ("PUBLISH to 1 subscriber, 2 publishers (16 pipelined): messages delivered/s",
         ("publish", 1, 2, 2), False),
        ("PUBLISH to 100 subscribers, 2 publishers (16 pipelined): messages delivered/s",
         ("publish", 100, 2, 2), False),
        ("PUBLISH of 1 KB, 1 publisher, no subscriber: messages/s", ("flood", 3, 0), False),
    ]
    print()
    print("| transactions and pub/sub | Spindle | Redis | ratio | ceiling | Spindle/ceiling |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, args, with_ceiling in rows:
        runners = [s for s in servers if with_ceiling or s.name != "ceiling"]
        got = {s.name: [] for s in runners}
        for _ in range(rounds):
            for s in runners:
                s.cli("FLUSHALL")
                got[s.name].append(loadgen(s, *args))
        med = {k: statistics.median(v) for k, v in got.items()}
        c = med.get("ceiling")
        ceil = f"{c:.0f} | {fmt_ratio(med['spindle'], c)}" if c else "- | -"
        print(f"| {label} | {med['spindle']:.0f} | {med['redis']:.0f} | "
              f"{fmt_ratio(med['spindle'], med['redis'])} | {ceil} |")
    flood = {s.name: flood_with_rss(s) for s in servers if s.name != "ceiling"}
    print(f"| PUBLISH of 1 KB, 1 publisher, 1 subscriber that never reads: messages/s "
          f"(resident memory growth, MB: Spindle {flood['spindle'][1]:.1f}, "
          f"Redis {flood['redis'][1]:.1f}) | {flood['spindle'][0]:.0f} | "
          f"{flood['redis'][0]:.0f} | {fmt_ratio(flood['spindle'][0], flood['redis'][0])} | - | - |")


class IdleClients:
    """Holds `count` connections to `server`, each answered one PING, then left idle."""

    def __init__(self, server, count):
        self.socks, before = [], rss_bytes(server.proc.pid)
        for _ in range(count):
            self.socks.append(socket.create_connection(("127.0.0.1", server.port)))
        for sock in self.socks:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        for sock in self.socks:
            sock.settimeout(30)
            if not sock.recv(16).startswith(b"+PONG"):
                raise SystemExit(f"{server.name}: an idle client got no PONG")
        self.bytes_each = (rss_bytes(server.proc.pid) - before) / max(count, 1)

    def close(self):
        for sock in self.socks:
            sock.close()
        time.sleep(1)  # let the server notice before the next run


def measure(server, tests, flags, n, idle):
    idle_clients = IdleClients(server, idle) if idle else None
    try:
        res, ticks, elapsed = run_benchmark(server, tests, flags, n)
    finally:
        if idle_clients:
            idle_clients.close()
    return res, ticks, elapsed, idle_clients.bytes_each if idle_clients else None


SLOW_KINDS = [
    ("none", "no slow neighbour (baseline)"),
    ("keys", "KEYS * over 1,000,000 keys"),
    ("smembers", "SMEMBERS of a 1,000,000-member set"),
    ("lrange", "LRANGE 0 -1 of a 1,000,000-element list"),
    ("delhash", "DEL of a 1,000,000-field hash (rebuilt between DELs)"),
    ("restore", "RESTORE ... REPLACE of a 1,000,000-field hash (an 18 MB payload)"),
]


def slow_neighbour_rows(secs, only=None):
    """One client loops a slow command while 20 others send GETs, then a 50/50 SET/GET mix,
    one request at a time: their latency percentiles, on Spindle and redis-server."""
    results = {}
    kinds = [k for k in SLOW_KINDS if not only or k[0] in only.split(",")]
    for name, argv in (("spindle", [SPINDLE, "--save", ""]),
                       ("redis", ["redis-server", "--save", "", "--appendonly", "no"])):
        port = free_port()
        server = Server(name, argv + ["--port", str(port)], port)
        try:
            load_keys(server, 1_000_000)
            pipe_send(server, (resp(b"SADD", b"bigset", *[b"m%015d" % j for j in range(i, i + 1000)])
                               for i in range(0, 1_000_000, 1000)))
            pipe_send(server, (resp(b"RPUSH", b"biglist", *[b"e%015d" % j for j in range(i, i + 1000)])
                               for i in range(0, 1_000_000, 1000)))
            pipe_send(server, (resp(b"HSET", b"bighash",
                                    *[x for j in range(i, i + 1000) for x in (b"f%015d" % j, b"v")])
                               for i in range(0, 1_000_000, 1000)))
            for kind, _ in kinds:
                for set_pct in (0, 50):
                    slow = None
                    if kind != "none":
                        slow = subprocess.Popen([LOADGEN, "slow", str(port), str(secs + 30), kind],
                                                stdout=subprocess.PIPE, text=True)
                        time.sleep(1.0)
                    out = subprocess.run([LOADGEN, "latency", str(port), "20", str(secs),
                                          "1000000", str(set_pct)],
                                         capture_output=True, text=True, timeout=secs + 120).stdout
                    if slow:
                        slow.kill()
                        slow.wait()
                        server.cli("DEL", "delhash", "restored")
                    p50, p99, p999, mx, n = (out.split() + ["0"] * 5)[:5]
                    results[(name, kind, set_pct)] = (float(p50), float(p99), float(p999),
                                                      float(mx), int(n))
                    print(f"  slow neighbour {kind:<9} set {set_pct:>2}% {name:<8} p50 {p50} "
                          f"p99 {p99} p99.9 {p999} max {mx} ms ({n} requests)",
                          file=sys.stderr, flush=True)
        finally:
            server.stop()
    print()
    print(f"| slow neighbour (20 clients, one request each at a time, {secs:.0f} s) "
          f"| Spindle p50 / p99 / p99.9 / max ms | Redis p50 / p99 / p99.9 / max ms |")
    print("|---|---:|---:|")
    for kind, label in kinds:
        for set_pct, mix in ((0, "GET"), (50, "50/50 SET/GET")):
            cells = []
            for name in ("spindle", "redis"):
                r = results[(name, kind, set_pct)]
                cells.append(f"{r[0]:.3f} / {r[1]:.3f} / {r[2]:.3f} / {r[3]:.1f}")
            print(f"| {label}: {mix} | {cells[0]} | {cells[1]} |")


def fmt_ratio(a, b):
    return f"{a / b:.2f}" if b else "-"


def persistence_rows(gb):
    """Snapshots of about `gb` GB of data on each server (Spindle as it starts by default, Spindle
    with `disable-thp no`, redis-server): the longest a writer waits while BGSAVE starts (the
    fork) and while it runs, the fork itself, how long the BGSAVE and a SAVE take, the file
    size, and how long a restart takes to load the file."""
    import shutil
    import socket as sk
    import tempfile
    keys = int(gb * 6_000_000)
    print()
    print(f"| snapshots, {keys:,} keys of 100-byte values | Spindle | Spindle, `disable-thp no` "
          f"| Redis |")
    print("|---|---:|---:|---:|")
    rows = {}
    for name, binary, extra in (("spindle", SPINDLE, []),
                                ("spindle-thp", SPINDLE, ["--disable-thp", "no"]),
                                ("redis", "redis-server", ["--appendonly", "no"])):
        d = tempfile.mkdtemp(prefix="bench-rdb-")
        port = free_port()
        argv = [binary, "--port", str(port), "--save", "", "--dir", d] + extra
        server = Server(name, argv, port)
        try:
            script = ("for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do "
                      "redis.call('SET', 'key:' .. i, string.rep('v', 92) .. string.format('%08d', i)) end")
            for start in range(0, keys, 500_000):
                server.cli("EVAL", script, "0", str(start), str(min(start + 500_000, keys) - 1))
            rss = rss_bytes(server.proc.pid)
            # A writer's round trips while BGSAVE runs: the worst in its first half second is
            # the fork's pause; the worst after it, what the child's copy-on-write and CPU cost.
            stop = threading.Event()
            trips = []

            def writer():
                c = sk.create_connection(("127.0.0.1", port))
                c.setsockopt(sk.IPPROTO_TCP, sk.TCP_NODELAY, 1)
                while not stop.is_set():
                    t = time.perf_counter()
                    c.sendall(b"*3\r\n$3\r\nSET\r\n$5\r\nprobe\r\n$1\r\nx\r\n")
                    c.recv(64)
                    trips.append((t, time.perf_counter() - t))
                c.close()

            th = threading.Thread(target=writer)
            th.start()
            time.sleep(0.5)
            t0 = time.perf_counter()
            server.cli("BGSAVE")
            while "rdb_bgsave_in_progress:1" in server.cli("INFO", "persistence") or \
                    time.perf_counter() - t0 < 0.6:
                time.sleep(0.05)
            bgsave_s = time.perf_counter() - t0
            stop.set()
            th.join()
            at_fork = max((d for t, d in trips if t0 - 0.01 <= t < t0 + 0.5), default=0.0) * 1000
            after = max((d for t, d in trips if t >= t0 + 0.5), default=0.0) * 1000
            fork_ms = int(re.search(r"latest_fork_usec:(\d+)",
                                    server.cli("INFO", "stats")).group(1)) / 1000
            t0 = time.perf_counter()
            server.cli("SAVE")
            save_s = time.perf_counter() - t0
            size = os.path.getsize(os.path.join(d, "dump.rdb"))
            server.cli("SHUTDOWN", "NOSAVE")
            server.proc.wait(30)
            # Restarted: timed until INFO says the load is over (PING gets -LOADING before).
            t0 = time.perf_counter()
            server.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL)
            deadline = time.time() + 600
            while not re.search(r"^loading:0", server.cli("INFO", "persistence"), re.M):
                if time.time() > deadline or server.proc.poll() is not None:
                    raise SystemExit(f"{name} did not load its snapshot")
                time.sleep(0.01)
            load_s = time.perf_counter() - t0
            loaded = int(server.cli("DBSIZE").strip() or 0)
            rows[name] = (rss, at_fork, after, fork_ms, bgsave_s, save_s, size, load_s, loaded)
        finally:
            server.stop()
            shutil.rmtree(d, ignore_errors=True)
    cols = [rows["spindle"], rows["spindle-thp"], rows["redis"]]

    def line(label, fmt):
        print(f"| {label} | " + " | ".join(fmt(r) for r in cols) + " |")
    line("resident memory before saving", lambda r: f"{r[0] / 2**20:.0f} MB")
    line("longest SET round trip as BGSAVE starts (the fork, first 0.5 s)", lambda r: f"{r[1]:.1f} ms")
    line("longest SET round trip in the rest of the BGSAVE", lambda r: f"{r[2]:.1f} ms")
    line("the fork itself (`latest_fork_usec`)", lambda r: f"{r[3]:.1f} ms")
    line("BGSAVE, start to end", lambda r: f"{r[4]:.2f} s")
    line("SAVE", lambda r: f"{r[5]:.2f} s")
    line("dump.rdb size", lambda r: f"{r[6] / 2**20:.0f} MB")
    line("restart: start to loading:0 (keys loaded)", lambda r: f"{r[7]:.2f} s ({r[8]:,})")


def aof_rows(rounds):
    """SET throughput with the append-only file on, `appendfsync always` and `everysec`,
    Spindle against redis-server with the same setting (medians of alternating rounds)."""
    import shutil
    import tempfile
    print()
    print("| append-only file, redis-benchmark SET | Spindle rps | Redis rps | S/R |")
    print("|---|---:|---:|---:|")
    runs = [("c50", ["-c", "50"], 60_000), ("c50 P16", ["-c", "50", "-P", "16"], 600_000)]
    for policy in ("always", "everysec"):
        servers, dirs = [], []
        try:
            for name, binary in (("spindle", SPINDLE), ("redis", "redis-server")):
                d = tempfile.mkdtemp(prefix="bench-aof-")
                dirs.append(d)
                port = free_port()
                argv = [binary, "--port", str(port), "--save", "", "--dir", d,
                        "--appendonly", "yes", "--appendfsync", policy,
                        "--auto-aof-rewrite-percentage", "0"]
                servers.append(Server(name, argv, port))
            for label, flags, n in runs:
                got = {s.name: [] for s in servers}
                for _ in range(rounds):
                    for s in servers:
                        res, _, _ = run_benchmark(s, "set", flags, n)
                        if "SET" in res:
                            got[s.name].append(res["SET"][0])
                med = {k: statistics.median(v) if v else 0.0 for k, v in got.items()}
                print(f"| SET {label}, appendfsync {policy} | {med['spindle']:.0f} | "
                      f"{med['redis']:.0f} | {fmt_ratio(med['spindle'], med['redis'])} |")
        finally:
            for s in servers:
                s.stop()
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)


def user_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[11])  # utime, all threads


def one_reply(port, request):
    """The bytes of the reply `request` gets from the server on `port` (one RESP value)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        f = sock.makefile("rb")

        def value():
            line = f.readline()
            if line[:1] in (b"$", b"!", b"="):
                n = int(line[1:])
                return line + (f.read(n + 2) if n >= 0 else b"")
            if line[:1] in (b"*", b"~", b">", b"%"):
                n = int(line[1:]) * (2 if line[:1] == b"%" else 1)
                return line + b"".join(value() for _ in range(max(n, 0)))
            return line
        return value()


# Rows whose targets are set against the ceiling: (label, redis-benchmark test or "tx" for
# examples/loadgen.rs's transactions, flags, request whose reply the bound ceiling sends,
# server options).
BOUNDS = [
    ("MULTI + 5 INCR + EXEC, c50: transactions/s", "tx", [], None, []),
    # The reference for the script rows, whose targets are set against this row's ratio.
    ("SET, c50", "set", ["-c", "50"], None, []),
    ("EVALSHA of a 3-command script, c50", "evalsha", ["-c", "50"],
     resp(b"EVALSHA", SCRIPT3_SHA.encode(), b"2", b"counter", b"value", b"000000000000"), []),
    ("FCALL of the same function, c50", "fcall", ["-c", "50"],
     resp(b"FCALL", b"three", b"2", b"counter", b"value", b"000000000000"), []),
    ("BullMQ-style cmsgpack round trip, c50", "cmsgpack_roundtrip", ["-c", "50"],
     resp(b"EVALSHA", MSGPACK_SHA.encode(), b"1", b"job", b"000000000000"), []),
    ("XADD, c50 -P 16", "xadd", ["-c", "50", "-P", "16"],
     resp(b"XADD", b"xs", b"*", b"field1", b"000000000000", b"field2", b"value"), []),
    ("XREAD COUNT 10, c50, 10k-entry stream", "xread_count10", ["-c", "50"],
     resp(b"XREAD", b"COUNT", b"10", b"STREAMS", b"bigs", b"5000-0"), []),
    ("SET, c50, appendfsync always (the ceiling writes nothing)", "set", ["-c", "50"], None,
     ["--appendonly", "yes", "--appendfsync", "always"]),
]
TX_SECS = 3


def bounds_rows(rounds, only=None):
    """What any thread-per-connection server could reach on the rows whose targets are set
    against the ceiling or above it: the ceiling as it is, the ceiling answering every request
    with the workload's real reply bytes, and that ceiling also spending, per request, the
    user CPU redis-server spends there over the plain ceiling (a server exactly as efficient as
    redis-server, under the design card); beside Spindle and redis-server. Medians of
    alternating rounds."""
    import shutil
    import tempfile
    print()
    print("| bound, medians of alternating rounds | ceiling | ceiling, real reply | ceiling, real "
          "reply + redis-server's CPU | Spindle | Redis | bound / ceiling | Spindle / ceiling "
          "| Redis / ceiling |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, tests, flags, request, options in BOUNDS:
        if only and not any(t in label or t in tests for t in only.split(",")):
            continue
        dirs = []

        def start(name, argv):
            port = free_port()
            if name == "ceiling":
                return Server(name, [CEILING, str(port)] + argv, port)
            d = tempfile.mkdtemp(prefix="bench-bound-")
            dirs.append(d)
            base = [SPINDLE] if name == "spindle" else ["redis-server", "--appendonly", "no"]
            return Server(name, base + ["--port", str(port), "--save", "", "--dir", d] + options,
                          port)

        def run(server):
            """(rate, user µs per request or transaction) of one run."""
            u0 = user_ticks(server.proc.pid)
            if tests == "tx":
                rate = loadgen(server, "tx", 50, TX_SECS)
                count = rate * TX_SECS
            else:
                res, _, _ = run_benchmark(server, tests, flags, 200_000)
                rate, count = next(iter(res.values()), (0.0,))[0], 200_000
            return rate, (user_ticks(server.proc.pid) - u0) / TICK * 1e6 / max(count, 1)

        def measure_all(servers):
            got = {key: [] for key in servers}
            for _ in range(rounds):
                for key, s in servers.items():
                    got[key].append(run(s))
            return {k: (statistics.median(r for r, _ in v), statistics.median(u for _, u in v))
                    for k, v in got.items()}

        servers = {}
        try:
            servers = {"spindle": start("spindle", []), "redis": start("redis", []),
                       "ceiling": start("ceiling", [])}
            if tests in CUSTOM:
                # Loaded before the first timed run, so that its CPU is not counted.
                for s in (servers["spindle"], servers["redis"]):
                    CUSTOM[tests][0](s)
                    s.loaded = tests
            med = measure_all(servers)
            reply = one_reply(servers["spindle"].port, request) if request else None
            # What redis-server's code costs per request over the ceiling's; a transaction's
            # is spread over its 7 requests.
            work_us = max(med["redis"][1] - med["ceiling"][1], 0.0)
            per_request_ns = int(work_us * 1000 / (7 if tests == "tx" else 1))
            for s in servers.values():
                s.stop()
            with_reply = ["--reply", reply.decode()] if reply else []
            servers = {"with-reply": start("ceiling", with_reply),
                       "bound": start("ceiling", with_reply + ["--work-ns", str(per_request_ns)])}
            med.update(measure_all(servers))
        finally:
            for s in servers.values():
                s.stop()
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)
        c = med["ceiling"][0]
        cells = [f"{med['ceiling'][0]:.0f}",
                 f"{med['with-reply'][0]:.0f}" if reply else "-",
                 f"{med['bound'][0]:.0f} ({work_us:.2f} µs)",
                 f"{med['spindle'][0]:.0f}", f"{med['redis'][0]:.0f}",
                 fmt_ratio(med["bound"][0], c), fmt_ratio(med["spindle"][0], c),
                 fmt_ratio(med["redis"][0], c)]
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--memory-only", action="store_true",
                    help="skip the throughput workloads: memory and latency rows only")
    ap.add_argument("--only", help="run only the workloads (with --bounds-only, the bounds "
                    "rows) whose label or test contains one of these comma-separated texts")
    ap.add_argument("--pubsub-only", action="store_true",
                    help="only the transactions and pub/sub rows")
    ap.add_argument("--persistence-only", action="store_true",
                    help="only the snapshot rows (BGSAVE pause, SAVE, load time)")
    ap.add_argument("--aof-only", action="store_true",
                    help="only the append-only file rows (SET under always and everysec)")
    ap.add_argument("--persist-gb", type=float, default=1.0,
                    help="data size for the snapshot rows, in GB of RDB payload (default 1)")
    ap.add_argument("--slow-neighbour-only", action="store_true",
                    help="only the slow-neighbour rows (latency of GET and SET/GET beside a slow "
                    "command)")
    ap.add_argument("--slow-secs", type=float, default=8.0,
                    help="seconds each slow-neighbour row measures (default 8)")
    ap.add_argument("--slow-kinds",
                    help="only these slow commands in the slow-neighbour rows, comma-separated "
                    "(none, keys, smembers, lrange, delhash, restore)")
    ap.add_argument("--bounds-only", action="store_true",
                    help="only the bounds: the ceiling with each workload's real reply and "
                    "redis-server's CPU, for the rows whose targets are set against the ceiling")
    ap.add_argument("--throughput-only", action="store_true",
                    help="only the redis-benchmark workloads (no pub/sub, memory or latency rows)")
    args = ap.parse_args()
    if args.persistence_only:
        persistence_rows(args.persist_gb)
        return
    if args.aof_only:
        aof_rows(args.rounds)
        return
    if args.slow_neighbour_only:
        slow_neighbour_rows(args.slow_secs, args.slow_kinds)
        return
    if args.bounds_only:
        bounds_rows(args.rounds, args.only)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    workloads = WORKLOADS
    if hard < 10_500:
        print(f"# open-files limit {hard}: the 10k-idle workload is skipped", file=sys.stderr)
        workloads = [w for w in WORKLOADS if not w[4]]
    if args.only:
        wanted = args.only.split(",")
        workloads = [w for w in workloads if any(t in w[0] or t in w[1] for t in wanted)]
    if args.memory_only or args.pubsub_only:
        workloads = []

    rp, sp, cp = free_port(), free_port(), free_port()
    redis = Server("redis", ["redis-server", "--port", str(rp), "--save", "", "--appendonly", "no",
                             "--maxclients", MAXCLIENTS], rp)
    spindle = Server("spindle", [SPINDLE, "--port", str(sp), "--save", "", "--maxclients", MAXCLIENTS], sp)
    ceiling = Server("ceiling", [CEILING, str(cp)], cp)
    servers = [spindle, redis, ceiling]
    print(f"# redis-benchmark, {args.rounds} rounds alternating, medians; "
          f"{os.cpu_count()} cores; {redis.cli('INFO', 'server').split('redis_version:')[1].split()[0]} vs spindle; "
          "ceiling = examples/ceiling.rs, thread per connection doing no work")
    rows, idle_mem = [], {}
    try:
        for label, tests, flags, n, idle in workloads:
            runners = [spindle, redis] if idle else servers
            samples = {s.name: {} for s in runners}
            cpu = {s.name: [] for s in runners}
            for rnd in range(args.rounds):
                for s in runners:
                    res, ticks, elapsed, per_idle = measure(s, tests, flags, n, idle)
                    if per_idle is not None and s.name not in idle_mem:
                        # Only the first time: later runs reuse the threads (and their
                        # allocator pages) the first one created, and would flatter Spindle.
                        idle_mem[s.name] = per_idle
                    if rnd == 0 and s is runners[0] and elapsed < MIN_SECONDS:
                        # Too short to trust: scale the request count, and redo this run.
                        n = int(n * (MIN_SECONDS * 1.25) / max(elapsed, 0.05))
                        res, ticks, elapsed, _ = measure(s, tests, flags, n, idle)
                    total = n * max(len(res), 1)
                    cpu[s.name].append(ticks / TICK * 1e6 / total)
                    for test, v in res.items():
                        samples[s.name].setdefault(test, []).append(v)
            for test in samples["spindle"]:
                med = {}
                for name in samples:
                    vals = samples[name].get(test, [])
                    if not vals:
                        med[name] = (0, 0, 0, 0)
                        continue
                    rps = [v[0] for v in vals]
                    spread = (max(rps) - min(rps)) / statistics.median(rps) * 100 if rps else 0
                    med[name] = (statistics.median(rps), statistics.median(v[1] for v in vals),
                                 statistics.median(v[2] for v in vals), spread)
                cpus = {name: statistics.median(v) for name, v in cpu.items()}
                rows.append((f"{test} {label}", med, cpus))
                s_, r_ = med["spindle"], med["redis"]
                ceil = f"  ceiling {med['ceiling'][0]:>10.0f}" if "ceiling" in med else ""
                print(f"  {test:<10} {label:<16} spindle {s_[0]:>10.0f} rps  redis {r_[0]:>10.0f} rps  "
                      f"ratio {fmt_ratio(s_[0], r_[0])}{ceil}", file=sys.stderr, flush=True)

        print()
        print("| workload | Spindle rps | Redis rps | ratio | ceiling rps | Spindle/ceiling | ceiling/Redis "
              "| p50 ms S/R/C | p99 ms S/R/C | CPU us/req S/R/C | spread % S/R |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, med, cpus in rows:
            s_, r_ = med["spindle"], med["redis"]
            c_ = med.get("ceiling")
            ceil_cols = (f"{c_[0]:.0f} | {fmt_ratio(s_[0], c_[0])} | {fmt_ratio(c_[0], r_[0])}"
                         if c_ else "- | - | -")
            p50_c = f" / {c_[1]:.3f}" if c_ else ""
            p99_c = f" / {c_[2]:.3f}" if c_ else ""
            cpu_c = f" / {cpus['ceiling']:.2f}" if "ceiling" in cpus else ""
            print(f"| {name} | {s_[0]:.0f} | {r_[0]:.0f} | {fmt_ratio(s_[0], r_[0])} | {ceil_cols} | "
                  f"{s_[1]:.3f} / {r_[1]:.3f}{p50_c} | {s_[2]:.3f} / {r_[2]:.3f}{p99_c} | "
                  f"{cpus['spindle']:.2f} / {cpus['redis']:.2f}{cpu_c} | {s_[3]:.0f} / {r_[3]:.0f} |")

        if args.throughput_only:
            return
        pubsub_rows(servers, args.rounds)
        if args.pubsub_only:
            return
        print()
        print("| memory | Spindle | Redis |")
        print("|---|---:|---:|")
        if idle_mem:
            print(f"| resident bytes per idle client (first 10,000 held) | "
                  f"{idle_mem['spindle']:.0f} | {idle_mem['redis']:.0f} |")
        # Each memory row on fresh servers: what an earlier row freed, an allocator keeps and
        # hands back out, which would make the next row's RSS delta meaningless.
        def fresh(load, *load_args):
            out = {}
            for name, argv in (("spindle", [SPINDLE, "--save", ""]), ("redis", ["redis-server", "--save", "",
                                                                  "--appendonly", "no"])):
                port = free_port()
                server = Server(name, argv + ["--port", str(port)], port)
                try:
                    out[name] = load(server, *load_args)
                finally:
                    server.stop()
            return out

        per_key = fresh(lambda s, n: load_keys(s, n)[1], args.keys)
        print(f"| resident bytes per key, {args.keys} 16-byte keys with 16-byte values | "
              f"{per_key['spindle']:.0f} | {per_key['redis']:.0f} |")
        per_elem = fresh(load_list, 1_000_000)
        print(f"| resident bytes per element, one list of 1,000,000 16-byte elements | "
              f"{per_elem['spindle']:.1f} | {per_elem['redis']:.1f} |")
        per_field = fresh(load_hashes, 100_000)
        print(f"| resident bytes per field, 100,000 hashes of 10 fields (8-byte fields, "
              f"16-byte values) | {per_field['spindle']:.1f} | {per_field['redis']:.1f} |")
        per_member = fresh(load_sets, 100_000)
        print(f"| resident bytes per member, 100,000 sets of 10 16-byte members | "
              f"{per_member['spindle']:.1f} | {per_member['redis']:.1f} |")
        per_member = fresh(load_big_zset, 1_000_000)
        print(f"| resident bytes per member, one sorted set of 1,000,000 16-byte members "
              f"(random scores) | {per_member['spindle']:.1f} | {per_member['redis']:.1f} |")
        per_member = fresh(load_zsets, 100_000)
        print(f"| resident bytes per member, 100,000 sorted sets of 10 16-byte members "
              f"(random scores) | {per_member['spindle']:.1f} | {per_member['redis']:.1f} |")
        per_entry = fresh(load_stream, 1_000_000)
        print(f"| resident bytes per entry, one stream of 1,000,000 entries of 2 fields | "
              f"{per_entry['spindle']:.1f} | {per_entry['redis']:.1f} |")
        big = fresh(big_value)
        cell = lambda r: (f"+{r[0]} / +{r[1]} / +{r[2]} / +{r[3]} MB; "
                          + (f"{r[4]:.1f} s" if r[4] is not None else "not within 10 s"))
        print(f"| a 100 MB value: resident peak during SET / after / peak during GET / after; "
              f"back within 50 MB after DEL | {cell(big['spindle'])} | {cell(big['redis'])} |")
        print()
        print("| latency | Spindle p50 / p99 ms | Redis p50 / p99 ms |")
        print("|---|---:|---:|")
        lat = {s.name: blpop_latency(s) for s in (spindle, redis)}
        print(f"| BLPOP woken by a push (2,000 rounds, push sent to element received) | "
              f"{lat['spindle'][0]:.3f} / {lat['spindle'][1]:.3f} | "
              f"{lat['redis'][0]:.3f} / {lat['redis'][1]:.3f} |")
        lat = {s.name: xread_block_latency(s) for s in (spindle, redis)}
        print(f"| XREAD BLOCK woken by an XADD (2,000 rounds, XADD sent to entry received) | "
              f"{lat['spindle'][0]:.3f} / {lat['spindle'][1]:.3f} | "
              f"{lat['redis'][0]:.3f} / {lat['redis'][1]:.3f} |")
        slow_neighbour_rows(args.slow_secs)
        persistence_rows(args.persist_gb)
        aof_rows(args.rounds)
        bounds_rows(args.rounds)
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
