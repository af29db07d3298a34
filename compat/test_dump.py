"""DUMP/RESTORE interchange: values of every type, in their small and large encodings, are
built on one server, DUMPed, RESTOREd on the other, and read back on both; both directions.
Where the value was built the same way on both servers, the two DUMP payloads must also be
equal byte for byte (Spindle writes Redis 7.0's encodings for small hashes, sorted sets,
intsets, lists and streams).

    python3 compat/test_dump.py --redis HOST:PORT --spindle HOST:PORT

Prints `N passed, M failed`; exits non-zero on a failure.
"""

import argparse
import sys

import redis


def build(r, key, kind):
    """Creates `key` of `kind` on server `r`; returns whether the payloads of both servers
    are expected to be equal byte for byte."""
    p = r.pipeline(transaction=False)
    same = True
    if kind == "string":
        p.set(key, "hello world")
    elif kind == "string-int":
        p.set(key, "-12345")
    elif kind == "string-bigint":
        p.set(key, "9223372036854775807")
    elif kind == "string-long":
        p.set(key, "abcdefghij" * 300)
    elif kind == "string-binary":
        p.set(key, bytes(range(256)) * 3)
    elif kind == "list-small":
        p.rpush(key, "a", "1", "-5000", "70000", "x" * 100, "")
    elif kind == "list-large":
        for i in range(0, 20000, 1000):
            p.rpush(key, *("item-%d" % j for j in range(i, i + 1000)))
    elif kind == "list-lpush":
        for i in range(0, 5000, 500):
            p.lpush(key, *("e%d" % j for j in range(i, i + 500)))
        same = False
    elif kind == "hash-small":
        p.hset(key, mapping={"f1": "v1", "f2": "2", "n": "-7", "empty": ""})
    elif kind == "hash-large":
        p.hset(key, mapping={"field:%d" % i: "value:%d" % i for i in range(2000)})
        same = False
    elif kind == "hash-longvalue":
        p.hset(key, mapping={"a": "b", "long": "z" * 100})
        same = False
    elif kind == "set-intset":
        p.sadd(key, *range(-300, 300, 3))
    elif kind == "set-intset-wide":
        p.sadd(key, 1, 2**40, -(2**40))
    elif kind == "set-strings":
        p.sadd(key, *("m%d" % i for i in range(100)))
        same = False
    elif kind == "set-large":
        p.sadd(key, *range(5000))
        same = False
    elif kind == "zset-small":
        p.zadd(key, {"a": 1.5, "b": 2, "c": -3.25, "d": 1e20, "e": float("inf"), "f": 0})
    elif kind == "zset-large":
        p.zadd(key, {"m%d" % i: i / 7 for i in range(1000)})
    elif kind == "stream":
        for i in range(1, 301):
            fields = {"f": i, "g": "x"} if i % 5 else {"other": i}
            p.xadd(key, fields, id="%d-%d" % (1000 + i // 3, i % 3))
        p.xdel(key, "1001-1", "1050-0")
        p.xgroup_create(key, "g1", id="0")
        p.xgroup_create(key, "g2", id="1010-0")
        p.xreadgroup("g1", "alice", {key: ">"}, count=5)
        p.xreadgroup("g1", "bob", {key: ">"}, count=3)
        p.xgroup_createconsumer(key, "g2", "carol")
        same = False  # delivery and seen times differ
    elif kind == "stream-empty":
        p.xadd(key, {"a": 1}, id="5-5")
        p.xdel(key, "5-5")
        p.xgroup_create(key, "g", id="$")
    else:
        raise ValueError(kind)
    p.execute()
    return same


KINDS = [
    "string", "string-int", "string-bigint", "string-long", "string-binary",
    "list-small", "list-large", "list-lpush",
    "hash-small", "hash-large", "hash-longvalue",
    "set-intset", "set-intset-wide", "set-strings", "set-large",
    "zset-small", "zset-large",
    "stream", "stream-empty",
]


def read(r, key):
    """The value at `key`, in a form equal for equal contents (order-free where Redis's
    order is a hash table's)."""
    t = r.type(key).decode()
    if t == "string":
        v = r.get(key)
    elif t == "list":
        v = r.lrange(key, 0, -1)
    elif t == "hash":
        v = sorted(r.hgetall(key).items())
    elif t == "set":
        v = sorted(r.smembers(key))
    elif t == "zset":
        v = r.zrange(key, 0, -1, withscores=True)
    elif t == "stream":
        info = r.xinfo_stream(key, full=True)
        for g in info.get("groups", []):
            for c in g.get("consumers", []):
                c.pop("seen-time", None)
                for pe in c.get("pending", []):
                    pe[1] = None
            for pe in g.get("pending", []):
                pe[2] = None
        v = (r.xrange(key), info)
    else:
        v = None
    return t, v, r.object("encoding", key)


class Tally:
    """Counts checks; prints each failure, and `N passed, M failed` at the end."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL:", what)

    def report(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis", required=True)
    ap.add_argument("--spindle", required=True)
    a = ap.parse_args()

    def conn(addr):
        host, port = addr.rsplit(":", 1)
        return redis.Redis(host=host, port=int(port), socket_timeout=30)

    servers = {"redis": conn(a.redis), "spindle": conn(a.spindle)}
    for r in servers.values():
        r.flushall()
    tally = Tally()
    check = tally.check

    for kind in KINDS:
        payloads = {}
        for name, r in servers.items():
            same = build(r, "src:" + kind, kind)
            payloads[name] = r.dump("src:" + kind)
        if same:
            check(payloads["redis"] == payloads["spindle"],
                  "%s: DUMP payloads differ\n  redis   %r\n  spindle %r"
                  % (kind, payloads["redis"][:200], payloads["spindle"][:200]))
        for frm, to in (("redis", "spindle"), ("spindle", "redis")):
            src, dst = servers[frm], servers[to]
            key = "from-%s:%s" % (frm, kind)
            try:
                dst.restore(key, 100000, payloads[frm])
            except redis.ResponseError as e:
                check(False, "%s: %s payload refused by %s: %s" % (kind, frm, to, e))
                continue
            want = read(src, "src:" + kind)
            got = read(dst, key)
            check(want == got, "%s: %s -> %s: contents differ\n  want %r\n  got  %r"
                  % (kind, frm, to, str(want)[:300], str(got)[:300]))
            ttl = dst.pttl(key)
            check(99000 < ttl <= 100000, "%s: %s -> %s: PTTL %s" % (kind, frm, to, ttl))
            # And back again: the restored value dumps to a payload the first server takes.
            back = dst.dump(key)
            src.restore("back:" + kind, 0, back, replace=True)
            check(read(src, "back:" + kind) == want,
                  "%s: %s -> %s -> %s: contents differ" % (kind, frm, to, frm))

    return tally.report()


if __name__ == "__main__":
    sys.exit(main())
