"""AOF interchange: append-only directories (Redis 7.0's multi-part layout: a base file, an
RDB image or commands, incremental files and a manifest in `dir/appendonlydir`) crossing
between redis-server and Spindle both ways.

The data set is test_rdb.py's (every type in its small and large encodings, expiring keys,
several databases, a function library) plus commands whose records must be rewritten to
replay to the same data: relative expiries (SET EX, EXPIRE, SETEX, GETEX EX), INCRBYFLOAT and
HINCRBYFLOAT, SPOP, XADD with `*` and `MAXLEN ~`, MULTI/EXEC, a writing EVAL, LMOVE, BLPOP on
a non-empty list and a blocked BLPOP served by another client's RPUSH, XREADGROUP, FLUSHDB,
SWAPDB, MOVE, COPY, RENAME.

  * Spindle -> Redis: Spindle runs with `appendonly yes` (plain; after a BGREWRITEAOF and
    more writes; the same with `aof-use-rdb-preamble no`), is shut down, its directory must
    pass `redis-check-aof` and load in redis-server 7.0 with the same keys, types, values,
    TTLs (within a few seconds) and functions.
  * Redis -> Spindle: the same written into redis-server (with a BGREWRITEAOF and more writes,
    with and without the RDB preamble); Spindle loads a copy of its directory.
  * Spindle -> Spindle: Spindle restarts on its own directory; with the last incremental file
    cut short it starts under `aof-load-truncated yes` without the cut command, and refuses to
    start under `aof-load-truncated no`.

Each variant (plain, rewrite, rewrite without preamble) runs first with redis-server as the
writer. What redis-server does not reload the same from its own directory (its records do not
redo a group's entries-read after XREADGROUP or a history read's delivery counts, and a base
of commands repacks a stream's nodes) is tolerated in Spindle's, at exactly those places of
those keys, with a `note:` line; Spindle loading Redis's directory is compared with what
redis-server loads from it. With redis-server in Spindle's place (`--spindle
$(command -v redis-server)`, as `compat.sh --self-check` does) every check passes.

    python3 compat/test_aof.py --spindle target/release/spindle

Starts and stops its own servers on free ports in temporary directories. Prints
`N passed, M failed`; exits non-zero on a failure.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_dump import KINDS, Tally, build, read  # noqa: E402

LIBRARY = "#!lua name=aoflib\nredis.register_function('aoff', function() return 'from aof' end)"
AOFDIR = "appendonlydir"
MANIFEST = "appendonly.aof.manifest"
DBS = range(16)
# Expiry times (PEXPIRETIME, absolute) read before the shutdown and after the load may
# differ by this much (ms).
TTL_SLACK = 3000
ABSENT = "<absent>"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A redis-server or Spindle with `appendonly yes` in `directory` (its log in
    `directory/server.log`). `wait=False` only launches it (see `ready`)."""

    def __init__(self, kind, binary, directory, extra=(), wait=True):
        self.kind = kind
        self.port = free_port()
        self.dir = directory
        self.logpath = os.path.join(directory, "server.log")
        argv = [binary, "--port", str(self.port), "--dir", directory, "--save", "",
                "--appendonly", "yes", *extra]
        if kind == "redis":
            argv += ["--bind", "127.0.0.1", "--logfile", self.logpath]
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            with open(self.logpath, "w") as log:
                self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.r = self.client(0)
        if wait and not self.ready():
            raise RuntimeError("%s did not start (%s):\n%s" % (kind, argv, self.log()[-2000:]))

    def ready(self, timeout=20):
        """Waits until it answers PING and has loaded its data; False if it exited first."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if self.r.ping() and self.r.info("persistence")["loading"] == 0:
                    return True
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                pass
            time.sleep(0.05)
        return False

    def client(self, db):
        # No retries: a command sent twice would be recorded twice; and a server that is not
        # up yet is polled here, not by redis-py's backoff.
        return redis.Redis(port=self.port, db=db, socket_timeout=30, retry=Retry(NoBackoff(), 0))

    def log(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def shutdown(self):
        """SHUTDOWN (the AOF is written and fsynced at exit); returns the exit status."""
        try:
            self.r.shutdown()
        except redis.RedisError:
            pass
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.stop()
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def populate(s):
    """test_rdb.py's data set: every kind in db 0, a few in db 5, expiring keys, a library."""
    r = s.client(0)
    for kind in KINDS:
        build(r, "k:" + kind, kind)
    r.set("ttl:short", "v", px=3600_000)
    r.hset("ttl:hash", mapping={"a": "1"})
    r.expire("ttl:hash", 7200)
    r5 = s.client(5)
    for kind in ("string", "zset-large", "stream"):
        build(r5, "db5:" + kind, kind)
    r5.close()
    r.function_load(LIBRARY)
    r.close()


def wait_blocked(r, n=1):
    for _ in range(400):
        if r.info("clients")["blocked_clients"] >= n:
            return True
        time.sleep(0.01)
    return False


def operations(s, p):
    """Commands whose records must be rewritten (or whose effects depend on the clock, on
    randomness, on another client, on the selected database) to replay to the same data.
    `p` prefixes the keys and the library name so that rounds do not collide."""
    r = s.client(0)
    # relative expiries
    r.set(p + "set-ex", "v", ex=1000)
    r.set(p + "expire", "v")
    r.expire(p + "expire", 2000)
    r.execute_command("SETEX", p + "setex", 3000, "v")
    r.set(p + "getex", "v")
    r.getex(p + "getex", ex=4000)
    r.set(p + "set-px", "v", px=5000_000)
    r.rpush(p + "expire-list", "a", "b")
    r.pexpire(p + "expire-list", 6000_000)
    # floats: the record is the result, not the increment
    for inc in ("0.1", "0.2", "1e-3", "-3.3"):
        r.incrbyfloat(p + "float", inc)
    r.set(p + "float-ttl", "1.5", ex=7000)
    r.incrbyfloat(p + "float-ttl", "2.25")  # keeps the TTL
    for inc in ("0.1", "0.2", "10.5e3"):
        r.hincrbyfloat(p + "hfloat", "f", inc)
        r.hincrbyfloat(p + "hfloat", "g", "-" + inc)
    # random pops
    r.sadd(p + "spop", *range(40))
    r.spop(p + "spop")
    r.spop(p + "spop", 5)
    r.sadd(p + "spop-str", *("m%d" % i for i in range(30)))
    r.spop(p + "spop-str")
    r.spop(p + "spop-str", 7)
    r.sadd(p + "spop-all", "a", "b", "c")
    r.spop(p + "spop-all", 10)  # empties the set
    r.sadd(p + "spop-big", *range(1000))
    r.spop(p + "spop-big", 100)  # 900 left: more than set-max-intset-entries, stays a hashtable
    # IDs chosen by the clock, approximate trimming
    for i in range(5):
        r.xadd(p + "xadd", {"i": i})
    for i in range(250):
        r.xadd(p + "xtrim", {"i": i}, maxlen=50, approximate=True)
    r.xadd(p + "xtrim-exact", {"i": 0})
    for i in range(1, 20):
        r.xadd(p + "xtrim-exact", {"i": i}, maxlen=7, approximate=False)
    # a transaction (relative expiry, float, pop inside)
    t = r.pipeline(transaction=True)
    t.set(p + "multi-a", "1")
    t.incr(p + "multi-a")
    t.expire(p + "multi-a", 8000)
    t.incrbyfloat(p + "multi-f", "0.7")
    t.rpush(p + "multi-l", "x", "y", "z")
    t.lpop(p + "multi-l")
    t.execute()
    # a script that writes (effects: the clock, a float, a random pop)
    r.sadd(p + "eval-set", *range(10))
    r.eval(
        "redis.call('set', KEYS[1], ARGV[1], 'EX', 9000)\n"
        "redis.call('incrbyfloat', KEYS[2], '2.5')\n"
        "redis.call('xadd', KEYS[3], '*', 'f', 'v')\n"
        "redis.call('spop', KEYS[4])\n"
        "redis.call('hset', KEYS[5], 'a', '1', 'b', '2')\n"
        "return 1",
        5, p + "eval-s", p + "eval-f", p + "eval-x", p + "eval-set", p + "eval-h", "val")
    # list moves, blocking pops
    r.rpush(p + "lmove-src", "a", "b", "c", "d")
    r.lmove(p + "lmove-src", p + "lmove-dst", "LEFT", "RIGHT")
    r.lmove(p + "lmove-src", p + "lmove-dst", "RIGHT", "LEFT")
    r.rpush(p + "blpop", "a", "b", "c")
    r.blpop([p + "blpop-none", p + "blpop"], timeout=1)
    popped = []
    waiter = s.client(0)
    th = threading.Thread(
        target=lambda: popped.append(waiter.blpop([p + "blocked"], timeout=20)))
    th.start()
    blocked = wait_blocked(r)
    r.rpush(p + "blocked", "x", "y", "z")
    th.join(30)
    waiter.close()
    assert blocked and popped and popped[0] == (p.encode() + b"blocked", b"x"), popped
    # consumer groups
    for i in range(10):
        r.xadd(p + "xgroup", {"i": i}, id="%d-1" % (i + 1))
    r.xgroup_create(p + "xgroup", "grp", id="0")
    r.xreadgroup("grp", "c1", {p + "xgroup": ">"}, count=4)
    r.xreadgroup("grp", "c2", {p + "xgroup": ">"}, count=2)
    r.xack(p + "xgroup", "grp", "1-1")
    r.xgroup_create(p + "xgroup", "grp2", id="$", mkstream=True)
    # a consumer's history read delivers its pending entries again (their counts go up);
    # redis-server 7.0 writes no record for it (see `lossy` in main)
    for i in range(4):
        r.xadd(p + "xredeliver", {"i": i}, id="%d-1" % (i + 1))
    r.xgroup_create(p + "xredeliver", "grp", id="0")
    r.xreadgroup("grp", "c1", {p + "xredeliver": ">"}, count=3)
    r.xreadgroup("grp", "c1", {p + "xredeliver": "0"}, count=2)
    # databases: FLUSHDB of one, SWAPDB, MOVE, COPY, RENAME
    r3 = s.client(3)
    r3.set(p + "gone", "1")
    r3.rpush(p + "gone-l", "a")
    r3.flushdb()
    r3.set(p + "after-flush", "1")
    r2 = s.client(2)
    r2.set(p + "db2", "kept")
    r7, r8 = s.client(7), s.client(8)
    r7.set(p + "was7", "7")
    r7.zadd(p + "was7-z", {"a": 1})
    r8.set(p + "was8", "8", ex=9500)
    r.swapdb(7, 8)
    r7.set(p + "in7-after-swap", "x")
    r8.set(p + "in8-after-swap", "y")
    r.set(p + "move", "m")
    r.expire(p + "move", 9800)
    r.move(p + "move", 9)
    r.copy("k:hash-small", p + "copy")
    r.copy("k:zset-large", p + "copy9", destination_db=9)
    r.copy("k:stream", p + "copy-stream")
    r.set(p + "ren", "r", ex=9900)
    r.rename(p + "ren", p + "ren2")
    r.hset(p + "ren-over", "f", "v")
    r.rename(p + "ren2", p + "ren-over")  # overwrites (and keeps the source's TTL)
    for c in (r2, r3, r7, r8):
        c.close()
    # a library loaded late
    r.function_load("#!lua name=lib_%s\nredis.register_function('f_%s', "
                    "function() return '%s' end)" % (p.strip(":"), p.strip(":"), p))
    r.close()


def touch_base(s):
    """Changes to keys that a rewrite has put into the base file."""
    r = s.client(0)
    r.lpush("k:list-large", "front")
    r.rpop("k:list-large")
    r.hdel("k:hash-large", "field:7", "field:8")
    r.hset("k:hash-small", "f1", "changed")
    r.srem("k:set-large", 3, 4, 5)
    r.zincrby("k:zset-large", 2.5, "m3")
    r.xadd("k:stream", {"late": 1})
    r.xack("k:stream", "g1", "1001-0")
    r.xreadgroup("g2", "carol", {"k:stream": ">"}, count=2)
    r.expire("k:string", 4000)
    r.persist("ttl:short")
    r.delete("k:string-long")
    r5 = s.client(5)
    r5.incrbyfloat("db5:float", "3.5")
    r5.close()
    r.close()


def value(c, key):
    """test_dump's read(), without a consumer's seen-time (the time of the replay, not of
    the data; delivery times are data: records carry them)."""
    t, v, enc = read(c, key)
    if t == "stream":
        for g in v[1].get("groups", []):
            for consumer in g.get("consumers", []):
                for k in ("seen-time", b"seen-time"):
                    consumer.pop(k, None)
    return t, v, enc


def snapshot(s):
    """Every key of every database: (db, key) -> (read(), PEXPIRETIME), and the function
    list."""
    out = {}
    for db in DBS:
        c = s.client(db)
        for key in sorted(c.keys("*")):
            out[(db, key)] = (value(c, key), c.pexpiretime(key))
        c.close()
    return out, functions(s.r)


def functions(r):
    """FUNCTION LIST WITHCODE, libraries sorted by name, as dicts."""
    def pairs(x):  # redis-py parses some levels into dicts already
        return x if isinstance(x, dict) else dict(zip(x[::2], x[1::2]))
    libs = []
    for lib in r.execute_command("FUNCTION", "LIST", "WITHCODE"):
        lib = pairs(lib)
        lib[b"functions"] = sorted((pairs(f) for f in lib.get(b"functions", [])),
                                   key=lambda f: f.get(b"name"))
        libs.append(lib)
    return sorted(libs, key=lambda lib: lib.get(b"library_name"))


def diff_paths(want, got, path=()):
    """The places where two values differ: paths of dict keys and list indexes."""
    if want == got:
        return set()
    if isinstance(want, dict) and isinstance(got, dict):
        out = set()
        for k in want.keys() | got.keys():
            out |= diff_paths(want.get(k, ABSENT), got.get(k, ABSENT), path + (k,))
        return out
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)) and len(want) == len(got):
        out = set()
        for i, (w, g) in enumerate(zip(want, got)):
            out |= diff_paths(w, g, path + (i,))
        return out
    return {path}


def field_names(paths):
    """Paths without their list indexes, for a note."""
    def name(k):
        return k.decode() if isinstance(k, bytes) else str(k)
    def field(p):
        f = "/".join(name(k) for k in p if not isinstance(k, int))
        return f + ("[%d]" % p[-1] if p and isinstance(p[-1], int) else "")
    return sorted({field(p) for p in paths})


def compare(check, what, before, after, lossy=None):
    """Checks that `after` (a snapshot) holds what `before` does. A value may differ only
    where redis-server 7.0 does not reload its own append-only file the same either, given
    the same writes: `lossy` maps a key to those places (see main); such keys are noted."""
    lossy = lossy or {}
    keys, funcs = before
    got, got_funcs = after
    check(got.keys() == keys.keys(), "%s: keys differ: missing %s, extra %s" % (
        what, sorted(keys.keys() - got.keys())[:8], sorted(got.keys() - keys.keys())[:8]))
    noted, fields = [], set()
    for k, (v, ttl) in keys.items():
        if k not in got:
            continue
        gv, gttl = got[k]
        if gv != v and lossy.get(k) and diff_paths(v, gv) <= lossy[k]:
            noted.append(k)
            fields |= diff_paths(v, gv)
            check(True, "")
        else:
            check(gv == v, "%s: %r differs\n%s" % (what, k, difference(v, gv)))
        if ttl < 0 or gttl < 0:
            ok = ttl == gttl
        else:
            ok = abs(gttl - ttl) <= TTL_SLACK
        check(ok, "%s: %r PEXPIRETIME %d, want %d" % (what, k, gttl, ttl))
    check(got_funcs == funcs, "%s: FUNCTION LIST differs\n%s" % (
        what, difference(funcs, got_funcs)))
    if noted:
        print("note: %s: %s differ as they do when redis-server reloads its own files (%s)"
              % (what, ", ".join("%d:%s" % (db, key.decode()) for db, key in sorted(noted)),
                 ", ".join(field_names(fields))))


def difference(want, got):
    """Where two values differ, in a few lines."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for k in sorted(want.keys() | got.keys(), key=str):
            if want.get(k, ABSENT) != got.get(k, ABSENT):
                out.append("  [%r]:\n%s" % (k, difference(want.get(k, ABSENT),
                                                             got.get(k, ABSENT))))
        return "\n".join(out)
    if (isinstance(want, (list, tuple)) and isinstance(got, (list, tuple))
            and len(want) == len(got) and len(want) < 10):
        return "\n".join("  [%d]:\n%s" % (i, difference(w, g))
                         for i, (w, g) in enumerate(zip(want, got)) if w != g)
    if isinstance(want, list) and isinstance(got, list):
        extra = sorted(set(map(repr, got)) - set(map(repr, want)))
        missing = sorted(set(map(repr, want)) - set(map(repr, got)))
        return "    len %d, got %d; missing %s; extra %s" % (
            len(want), len(got), ", ".join(missing[:6])[:300], ", ".join(extra[:6])[:300])
    return "    want %s\n    got  %s" % (str(want)[:300], str(got)[:300])


def manifest_files(directory):
    """The files the manifest of `directory` names: [(name, type)]."""
    files = []
    with open(os.path.join(directory, AOFDIR, MANIFEST)) as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            fields = dict(zip(words[::2], words[1::2]))
            files.append((fields.get("file"), fields.get("type")))
    return files


def copy_aof(frm, to):
    os.makedirs(to)
    shutil.copytree(os.path.join(frm, AOFDIR), os.path.join(to, AOFDIR))


def rewrite(check, s, what):
    before = s.r.info("persistence")["aof_rewrites"]
    s.r.bgrewriteaof()
    info = {}
    for _ in range(600):
        info = s.r.info("persistence")
        if (info["aof_rewrite_in_progress"] == 0 and info["aof_rewrite_scheduled"] == 0
                and info["aof_rewrites"] > before):
            break
        time.sleep(0.05)
    check(info.get("aof_rewrite_in_progress") == 0 and info.get("aof_rewrites", 0) > before
          and info.get("aof_last_bgrewrite_status") == "ok",
          "%s: BGREWRITEAOF did not complete: %s" % (what, info))


def check_aof(check, a, directory, what):
    res = subprocess.run([a.check_aof, os.path.join(directory, AOFDIR, MANIFEST)],
                         capture_output=True, text=True)
    check(res.returncode == 0 and "All AOF files and manifest are valid" in res.stdout,
          "%s: redis-check-aof refuses the directory:\n%s%s" % (what, res.stdout[-3000:],
                                                                  res.stderr[-1000:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spindle", required=True)
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--check-aof", default="redis-check-aof")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each step")
    a = ap.parse_args()
    t0 = time.time()
    # `timeout` (compat.sh) sends SIGTERM: stop the servers on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))

    def step(what):
        if a.verbose:
            print("[%6.2fs] %s" % (time.time() - t0, what), flush=True)

    spindle_bin = os.path.abspath(a.spindle)
    binaries = {"redis": a.redis_server, "spindle": spindle_bin}
    tally = Tally()
    check = tally.check

    tmp = tempfile.mkdtemp(prefix="spindle-aof-")
    servers = []

    def start(kind, directory, extra=(), wait=True):
        step("start %s in %s %s" % (kind, os.path.basename(directory), " ".join(extra)))
        s = Server(kind, binaries[kind], directory, extra, wait)
        servers.append(s)
        return s

    def load(kind, directory, before, what, extra=(), lossy=None):
        """Starts `kind` on `directory`, compares what it loaded with `before`; returns
        the snapshot (None if it did not start)."""
        try:
            s = start(kind, directory, extra)
        except RuntimeError as e:
            check(False, "%s: %s" % (what, e))
            return None
        after = snapshot(s)
        compare(check, what, before, after, lossy)
        try:
            got = s.r.fcall("aoff", 0)
        except redis.ResponseError as e:
            got = "error: %s" % e
        check(got == b"from aof", "%s: FCALL aoff 0: %r" % (what, got))
        check(s.shutdown() == 0, "%s: %s exited with %s after SHUTDOWN" % (
            what, kind, s.proc.returncode))
        if "cut" not in what:
            log = s.log()
            check("short read" not in log and "Truncating" not in log,
                  "%s: %s found a file cut short:\n%s" % (what, kind, log[-1500:]))
        return after

    # Each variant runs with redis-server first, then with Spindle, on the same writes.
    # Redis's own records do not redo everything (a group's entries-read after XREADGROUP,
    # the delivery counts of a history read; a base file of commands repacks a stream's
    # nodes): where redis-server does not reload its own directory the same, the places
    # that differ (per key) are `lossy[variant]`. Spindle's files may differ there too
    # (noted, not failed), and nowhere else; Spindle loading Redis's files is compared with
    # what redis-server loads from them.
    variants = [
        ("", (), False),
        ("-rewrite", (), True),
        ("-rewrite-nopreamble", ("--aof-use-rdb-preamble", "no"), True),
    ]
    lossy = {}
    try:
        for kind in ("redis", "spindle"):
            for variant, extra, rewrites in variants:
                run_scenario(a, check, tmp, start, load, kind, kind + variant, extra,
                             rewrites, lossy, variant)
    finally:
        for s in servers:
            s.stop()
        if tally.failed and os.environ.get("KEEP_AOF_TMP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    return tally.report()


def run_scenario(a, check, tmp, start, load, kind, name, extra, rewrites, lossy, variant):
    src_dir = os.path.join(tmp, name)
    os.makedirs(src_dir)
    try:
        s = start(kind, src_dir, extra)
        s.r.flushall()
        populate(s)
        operations(s, "op:")
        if rewrites:
            rewrite(check, s, name)
            files = manifest_files(src_dir)
            bases = [f for f, t in files if t == "b"]
            suffix = ".base.aof" if "no" in extra else ".base.rdb"
            check(len(bases) == 1 and bases[0].endswith(suffix),
                  "%s: after BGREWRITEAOF the manifest names %s, want one *%s"
                  % (name, files, suffix))
            touch_base(s)
            operations(s, "post:")
        # The last record: the command the truncation test cuts.
        s.r.set("zz:last", "the last command")
        before = snapshot(s)
    except (redis.RedisError, AssertionError, RuntimeError) as e:
        check(False, "%s: writing the data set failed: %r" % (name, e))
        return
    status = s.shutdown()
    check(status == 0, "%s: %s exited with %s after SHUTDOWN:\n%s" % (
        name, kind, status, s.log()[-2000:]))
    for f, _ in manifest_files(src_dir):
        check(os.path.exists(os.path.join(src_dir, AOFDIR, f)),
              "%s: the manifest names %s, which is missing" % (name, f))

    if kind == "redis":
        d = os.path.join(tmp, name + "-to-redis")
        copy_aof(src_dir, d)
        try:
            s = start("redis", d, extra)
            own = snapshot(s)
            s.shutdown()
        except (redis.RedisError, RuntimeError) as e:
            check(False, "%s: redis-server does not reload its own files: %r" % (name, e))
            return
        lossy[variant] = {k: diff_paths(v, own[0][k][0]) for k, (v, _) in before[0].items()
                          if k in own[0] and own[0][k][0] != v}
        d = os.path.join(tmp, name + "-to-spindle")
        copy_aof(src_dir, d)
        load("spindle", d, own, "%s -> spindle" % name)
        return

    tolerated = lossy.get(variant)
    check_aof(check, a, src_dir, name)
    d = os.path.join(tmp, name + "-to-redis")
    copy_aof(src_dir, d)
    load("redis", d, before, "%s -> redis" % name, lossy=tolerated)

    # Spindle -> Spindle: a restart on its own directory (on a copy: the original is cut next).
    d = os.path.join(tmp, name + "-restart")
    copy_aof(src_dir, d)
    load("spindle", d, before, "%s -> spindle" % name, extra, tolerated)
    check_aof(check, a, d, name + " after a restart")

    # The last incr file cut short by a few bytes: the last command is lost, nothing else.
    incrs = [f for f, t in manifest_files(src_dir) if t == "i"]
    last = os.path.join(src_dir, AOFDIR, incrs[-1])
    with open(last, "rb") as f:
        data = f.read()
    check(data.endswith(b"$3\r\nSET\r\n$7\r\nzz:last\r\n$16\r\nthe last command\r\n"),
          "%s: %s does not end with the last SET: %r" % (name, incrs[-1], data[-80:]))
    with open(last, "wb") as f:
        f.write(data[:-5])
    d = os.path.join(tmp, name + "-cut-refused")
    copy_aof(src_dir, d)
    s = start("spindle", d, (*extra, "--aof-load-truncated", "no"), wait=False)
    started = s.ready(timeout=10)
    status = None
    if not started:
        try:
            status = s.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    log = s.log()
    check(not started and status not in (0, None),
          "%s, cut: spindle --aof-load-truncated no: want a refusal (non-zero exit), "
          "got started=%s status=%s" % (name, started, status))
    check(incrs[-1] in log, "%s, cut: spindle's log does not name %s:\n%s" % (
        name, incrs[-1], log[-1500:]))
    s.stop()
    d = os.path.join(tmp, name + "-cut")
    copy_aof(src_dir, d)
    keys, funcs = before
    cut = ({k: v for k, v in keys.items() if k != (0, b"zz:last")}, funcs)
    load("spindle", d, cut, "%s, cut -> spindle" % name, extra, tolerated)
    check_aof(check, a, d, name + ", cut, after spindle truncated it")


if __name__ == "__main__":
    sys.exit(main())
