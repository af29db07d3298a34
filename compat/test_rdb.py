"""RDB interchange: the same data (every type in its small and large encodings, expiring
keys, several databases, a function library) is written into a redis-server and a Spindle,
both SAVE, and each file is then loaded by a fresh server of the other kind: Spindle's
`dump.rdb` must pass `redis-check-rdb` and load in redis-server 7.0 with the same keys,
values, types and TTLs, and redis-server's must load in Spindle the same way.

    python3 compat/test_rdb.py --spindle target/release/spindle

Starts and stops its own servers on free ports in temporary directories. Prints
`N passed, M failed`; exits non-zero on a failure.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_dump import KINDS, Tally, build, read  # noqa: E402

LIBRARY = "#!lua name=rdblib\nredis.register_function('rdbf', function() return 'from rdb' end)"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, kind, binary, directory):
        self.port = free_port()
        self.dir = directory
        if kind == "redis":
            argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", directory,
                    "--save", "", "--appendonly", "no", "--logfile", "server.log"]
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            self.log = open(os.path.join(directory, "server.log"), "w")
            argv = [binary, "--port", str(self.port), "--dir", directory, "--save", ""]
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.log)
        self.r = redis.Redis(port=self.port, socket_timeout=30)
        for _ in range(200):
            try:
                if self.r.ping():
                    break
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.05)
        else:
            raise RuntimeError("%s did not start (%s)" % (kind, argv))
        for _ in range(200):
            if self.r.info("persistence")["loading"] == 0:
                break
            time.sleep(0.05)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def populate(r):
    """The data set: every kind in db 0, a few in db 5, expiring keys, a library."""
    for kind in KINDS:
        build(r, "k:" + kind, kind)
    r.set("ttl:short", "v", px=3600_000)
    r.hset("ttl:hash", mapping={"a": "1"})
    r.expire("ttl:hash", 7200)
    r.execute_command("SELECT", 5)
    r5 = redis.Redis(port=r.connection_pool.connection_kwargs["port"], db=5)
    for kind in ("string", "zset-large", "stream"):
        build(r5, "db5:" + kind, kind)
    r5.close()
    r.function_load(LIBRARY)


def snapshot(r, dbs=(0, 5)):
    """Every key of `dbs`: (db, key) -> (read(), TTL bucket)."""
    out = {}
    port = r.connection_pool.connection_kwargs["port"]
    for db in dbs:
        c = redis.Redis(port=port, db=db, socket_timeout=30)
        for key in sorted(c.keys("*")):
            ttl = c.pttl(key)
            out[(db, key)] = (read(c, key), ttl > 0)
        c.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spindle", required=True)
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--check-rdb", default="redis-check-rdb")
    a = ap.parse_args()
    spindle_bin = os.path.abspath(a.spindle)
    tally = Tally()
    check = tally.check

    tmp = tempfile.mkdtemp(prefix="spindle-rdb-")
    servers = []
    try:
        dirs = {n: os.path.join(tmp, n) for n in ("redis", "spindle", "redis2", "spindle2")}
        for d in dirs.values():
            os.makedirs(d)
        src = {
            "redis": Server("redis", a.redis_server, dirs["redis"]),
            "spindle": Server("spindle", spindle_bin, dirs["spindle"]),
        }
        servers += src.values()
        before = {}
        for name, s in src.items():
            s.r.flushall()
            populate(s.r)
            before[name] = snapshot(s.r)
            check(s.r.save(), "%s: SAVE" % name)
        check(before["redis"].keys() == before["spindle"].keys(),
              "the two servers hold different keys before saving")

        res = subprocess.run([a.check_rdb, os.path.join(dirs["spindle"], "dump.rdb")],
                             capture_output=True, text=True)
        check(res.returncode == 0 and "RDB looks OK" in res.stdout,
              "redis-check-rdb refuses Spindle's dump.rdb:\n" + res.stdout + res.stderr)

        for frm, to, kind, binary in (("spindle", "redis2", "redis", a.redis_server),
                                      ("redis", "spindle2", "spindle", spindle_bin)):
            shutil.copy(os.path.join(dirs[frm], "dump.rdb"), dirs[to])
            s = Server(kind, binary, dirs[to])
            servers.append(s)
            after = snapshot(s.r)
            check(after.keys() == before[frm].keys(),
                  "%s -> %s: keys differ: missing %s, extra %s" % (
                      frm, kind, sorted(before[frm].keys() - after.keys())[:5],
                      sorted(after.keys() - before[frm].keys())[:5]))
            for k, v in before[frm].items():
                check(after.get(k) == v, "%s -> %s: %r differs\n  want %s\n  got  %s" % (
                    frm, kind, k, str(v)[:300], str(after.get(k))[:300]))
            try:
                got = s.r.fcall("rdbf", 0)
            except redis.ResponseError as e:
                got = e
            check(got == b"from rdb", "%s -> %s: the library did not load: %r" % (frm, kind, got))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    return tally.report()


if __name__ == "__main__":
    sys.exit(main())
