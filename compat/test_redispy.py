#!/usr/bin/env python3
"""redis-py against a server: connect, SET/GET, a 1000-command pipeline, a ConnectionPool shared
by 20 threads, a 10 MB value, ResponseError on a bad command; once per --protocol given:
`default` (no protocol= argument: RESP2 up to redis-py 7, RESP3 from redis-py 8 on), `2` or `3`
(protocol=N, redis-py >= 5).

Usage: test_redispy.py --host 127.0.0.1 --port PORT [--protocol default|2|3 ...]
Prints one line per check and last `N passed, M failed`; exits 1 if anything failed.
Only uses commands Spindle is meant to have (strings, lists, hashes), pipelines without MULTI.
"""

import argparse
import os
import sys
import threading
import time
import traceback

import redis

TIMEOUT = 20  # seconds per socket operation: a server that stops answering fails, not hangs


class Checks:
    def __init__(self, label):
        self.label = label
        self.passed = self.failed = 0

    def run(self, name, fn):
        started = time.time()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - any failure is a failed check
            self.failed += 1
            print("FAIL [%s] %s: %s: %s" % (self.label, name, type(e).__name__, e))
            tb = traceback.format_exc().strip().splitlines()
            for line in tb[-4:-1]:
                print("       " + line)
        else:
            self.passed += 1
            print("ok   [%s] %s (%.2fs)" % (self.label, name, time.time() - started))
        sys.stdout.flush()


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def suite(checks, host, port, protocol, prefix):
    kw = dict(host=host, port=port, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    if protocol is not None:
        kw["protocol"] = protocol
    r = redis.Redis(**kw)

    def connect():
        expect(r.ping() is True, "PING did not return True")

    def set_get():
        k = prefix + "k"
        expect(r.set(k, "value") is True, "SET did not return True")
        got = r.get(k)
        expect(got == b"value", "GET returned %r" % (got,))
        expect(r.get(prefix + "missing") is None, "GET of a missing key is not None")
        expect(r.set(k, b"\x00\xff\r\n") is True, "SET binary")
        expect(r.get(k) == b"\x00\xff\r\n", "binary value changed")
        expect(r.exists(k, k, prefix + "missing") == 2, "EXISTS k k missing != 2")
        expect(r.delete(k, prefix + "missing") == 1, "DEL k missing != 1")
        expect(r.get(k) is None, "GET after DEL is not None")

    def decoded():
        rd = redis.Redis(decode_responses=True, **kw)
        try:
            rd.set(prefix + "text", "h\u00e9llo")
            got = rd.get(prefix + "text")
            expect(got == "h\u00e9llo", "decoded GET returned %r" % (got,))
        finally:
            rd.close()

    def pipeline():
        keys = [prefix + "p%d" % i for i in range(500)]
        with r.pipeline(transaction=False) as p:
            for i, k in enumerate(keys):
                p.set(k, "v%d" % i)
            for k in keys:
                p.get(k)
            res = p.execute()
        expect(len(res) == 1000, "pipeline returned %d replies" % len(res))
        expect(all(x is True for x in res[:500]), "a pipelined SET did not return True")
        bad = [i for i, x in enumerate(res[500:]) if x != ("v%d" % i).encode()]
        expect(not bad, "pipelined GETs wrong at %s" % bad[:5])
        expect(r.delete(*keys) == 500, "DEL of the 500 pipelined keys")

    def pool_threads():
        pool = redis.ConnectionPool(max_connections=20, **kw)
        errors = []

        def worker(n):
            try:
                c = redis.Redis(connection_pool=pool)
                for i in range(100):
                    k = "%st%d:%d" % (prefix, n, i)
                    v = "%d-%d" % (n, i)
                    if c.set(k, v) is not True:
                        raise AssertionError("SET %s failed" % k)
                    got = c.get(k)
                    if got != v.encode():
                        raise AssertionError("GET %s returned %r" % (k, got))
            except Exception as e:  # noqa: BLE001
                errors.append("thread %d: %s: %s" % (n, type(e).__name__, e))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        expect(not any(t.is_alive() for t in threads), "threads still running after 120s")
        try:
            expect(not errors, "; ".join(errors[:3]))
            c = redis.Redis(connection_pool=pool)
            expect(c.exists(*["%st%d:99" % (prefix, n) for n in range(20)]) == 20,
                   "not every thread's last key exists")
        finally:
            pool.disconnect()

    def big_value():
        data = os.urandom(10 * 1024 * 1024)
        k = prefix + "big"
        expect(r.set(k, data) is True, "SET of 10 MB did not return True")
        got = r.get(k)
        expect(got is not None and len(got) == len(data),
               "GET returned %s bytes" % (None if got is None else len(got)))
        expect(got == data, "10 MB value changed on the round trip")
        expect(r.delete(k) == 1, "DEL big")

    def response_error():
        try:
            r.execute_command("SET", "onlykey")
        except redis.ResponseError as e:
            expect("wrong number of arguments" in str(e), "unexpected error text %r" % str(e))
        else:
            raise AssertionError("SET onlykey did not raise ResponseError")
        try:
            r.execute_command("NOSUCHCOMMAND", "x")
        except redis.ResponseError as e:
            expect("unknown command" in str(e), "unexpected error text %r" % str(e))
        else:
            raise AssertionError("an unknown command did not raise ResponseError")
        expect(r.ping() is True, "the connection is unusable after an error reply")

    def error_in_pipeline():
        with r.pipeline(transaction=False) as p:
            p.set(prefix + "e", "1")
            p.execute_command("SET", "onlykey")
            p.get(prefix + "e")
            res = p.execute(raise_on_error=False)
        expect(res[0] is True and isinstance(res[1], redis.ResponseError) and res[2] == b"1",
               "pipeline with an error returned %r" % (res,))

    def lists_and_hashes():
        lk, hk, sk = prefix + "list", prefix + "hash", prefix + "str"
        r.delete(lk, hk, sk)
        expect(r.rpush(lk, "a", "b", "c") == 3, "RPUSH")
        expect(r.lrange(lk, 0, -1) == [b"a", b"b", b"c"], "LRANGE")
        expect(r.lpop(lk, 2) == [b"a", b"b"], "LPOP count")
        expect(r.hset(hk, mapping={"f1": "v1", "f2": 2}) == 2, "HSET mapping")
        got = r.hgetall(hk)
        expect(got == {b"f1": b"v1", b"f2": b"2"}, "HGETALL returned %r" % (got,))
        expect(r.hincrbyfloat(hk, "f2", 0.5) == 2.5, "HINCRBYFLOAT")
        r.set(sk, "x")
        try:
            r.lpush(sk, "a")
        except redis.ResponseError as e:
            expect(str(e).startswith("WRONGTYPE"), "unexpected error %r" % str(e))
        else:
            raise AssertionError("LPUSH on a string did not raise ResponseError")
        r.delete(lk, hk, sk)

    def sets_and_sorted_sets():
        sk, zk, dk = prefix + "set", prefix + "zset", prefix + "delayed"
        r.delete(sk, zk, dk)
        expect(r.sadd(sk, "a", "b", "c") == 3, "SADD")
        expect(r.smembers(sk) == {b"a", b"b", b"c"}, "SMEMBERS returned %r" % (r.smembers(sk),))
        expect(r.sismember(sk, "b") == 1, "SISMEMBER")
        expect(r.zadd(zk, {"x": 1.5, "y": 2, "z": 0.1}) == 3, "ZADD mapping")
        # redis-py 8 in RESP3 gives [member, score] lists where older ones give tuples, and
        # one ZPOPMIN pair unnested.
        def pairs(v):
            if v and not isinstance(v[0], (list, tuple)):
                v = [v]
            return [tuple(p) for p in v]

        got = pairs(r.zrange(zk, 0, -1, withscores=True))
        expect(got == [(b"z", 0.1), (b"x", 1.5), (b"y", 2.0)], "ZRANGE WITHSCORES returned %r" % (got,))
        expect(r.zincrby(zk, 2, "x") == 3.5, "ZINCRBY")
        expect(r.zscore(zk, "y") == 2.0, "ZSCORE")
        expect(r.zrank(zk, "x") == 2, "ZRANK")
        # A delayed-job schedule, as Sidekiq, arq and BullMQ keep one: due jobs by score.
        r.zadd(dk, {"job1": 100, "job2": 200, "job3": 300})
        due = r.zrangebyscore(dk, "-inf", 250, start=0, num=10)
        expect(due == [b"job1", b"job2"], "ZRANGEBYSCORE LIMIT returned %r" % (due,))
        expect(r.zrem(dk, *due) == 2, "ZREM")
        popped = pairs(r.zpopmin(zk))
        expect(popped == [(b"z", 0.1)], "ZPOPMIN returned %r" % (popped,))
        r.delete(sk, zk, dk)

    def blocking_pop():
        k = prefix + "queue"
        r.delete(k)
        got = []

        def consumer():
            c = redis.Redis(**kw)
            try:
                got.append(c.brpop([k], timeout=10))
            finally:
                c.close()

        t = threading.Thread(target=consumer)
        t.start()
        time.sleep(0.2)
        r.lpush(k, "job")
        t.join(15)
        expect(not t.is_alive(), "BRPOP consumer still blocked")
        # A tuple in RESP2, a list in RESP3 (redis-py converts only the former).
        expect(len(got) == 1 and tuple(got[0]) == (k.encode(), b"job"),
               "BRPOP returned %r" % (got,))
        expect(r.blpop([k], timeout=0.1) is None, "BLPOP timeout did not return None")

    def transactions():
        k = prefix + "tx"
        r.delete(k)
        # pipeline() is MULTI/EXEC unless told otherwise.
        with r.pipeline() as p:
            p.set(k, 1).incr(k).incrby(k, 10).get(k)
            res = p.execute()
        expect(res == [True, 2, 12, b"12"], "transaction pipeline returned %r" % (res,))
        # WATCH with retries, from several threads: no increment is lost.
        errors = []

        def bump(n):
            try:
                c = redis.Redis(**kw)
                for _ in range(50):
                    with c.pipeline() as p:
                        while True:
                            try:
                                p.watch(k)
                                cur = int(p.get(k))
                                p.multi()
                                p.set(k, cur + 1)
                                p.execute()
                                break
                            except redis.WatchError:
                                continue
                c.close()
            except Exception as e:  # noqa: BLE001
                errors.append("thread %d: %s: %s" % (n, type(e).__name__, e))

        threads = [threading.Thread(target=bump, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        expect(not errors, "; ".join(errors[:3]))
        expect(r.get(k) == b"212", "after 200 watched increments: %r" % (r.get(k),))
        # transaction() retries by itself.
        def double(p):
            cur = int(p.get(k))
            p.multi()
            p.set(k, cur * 2)

        r.transaction(double, k)
        expect(r.get(k) == b"424", "transaction() gave %r" % (r.get(k),))
        # A queued command with a wrong type fails alone; a queueing error aborts.
        with r.pipeline() as p:
            p.lpush(k, "x").get(k)
            res = p.execute(raise_on_error=False)
        expect(isinstance(res[0], redis.ResponseError) and res[1] == b"424",
               "runtime error inside EXEC: %r" % (res,))
        r.delete(k)

    def pubsub_listener():
        ch = prefix + "events"
        got = []
        ready = threading.Event()
        p = r.pubsub()
        p.subscribe(ch)
        p.psubscribe(prefix + "ev*")
        # Both confirmations first.
        for _ in range(2):
            m = p.get_message(timeout=5)
            expect(m is not None and m["type"] in ("subscribe", "psubscribe"),
                   "confirmation: %r" % (m,))

        def listen():
            ready.set()
            for m in p.listen():
                if m["type"] in ("message", "pmessage"):
                    got.append((m["type"], m["data"]))
                    if len(got) == 200:
                        return

        t = threading.Thread(target=listen)
        t.start()
        ready.wait(5)
        for i in range(100):
            n = r.publish(ch, "m%d" % i)
            expect(n == 2, "PUBLISH reached %r subscribers" % (n,))
        t.join(30)
        expect(not t.is_alive(), "listener still waiting, got %d" % len(got))
        plain = [d for (k, d) in got if k == "message"]
        expect(plain == [("m%d" % i).encode() for i in range(100)],
               "messages out of order or lost: %r" % (plain[:5],))
        expect(r.pubsub_numsub(ch) == [(ch.encode(), 1)], "NUMSUB %r" % (r.pubsub_numsub(ch),))
        p.unsubscribe()
        p.punsubscribe()
        p.close()

    checks.run("connect and PING", connect)
    checks.run("lists, hashes and WRONGTYPE", lists_and_hashes)
    checks.run("BRPOP woken by LPUSH, BLPOP timeout", blocking_pop)
    checks.run("sets, sorted sets and a delayed-job schedule", sets_and_sorted_sets)
    checks.run("MULTI/EXEC pipeline, WATCH retries from 4 threads", transactions)
    checks.run("pubsub() with a listener thread", pubsub_listener)
    checks.run("SET/GET/EXISTS/DEL", set_get)
    checks.run("decode_responses", decoded)
    checks.run("pipeline of 1000 commands", pipeline)
    checks.run("ConnectionPool shared by 20 threads", pool_threads)
    checks.run("10 MB value round trip", big_value)
    checks.run("ResponseError on a bad command", response_error)
    checks.run("error reply inside a pipeline", error_in_pipeline)
    r.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--protocol", action="append", choices=["default", "2", "3"],
                    help="run the checks with this protocol= (repeatable; default: default)")
    opts = ap.parse_args()

    total_p = total_f = 0
    for name in opts.protocol or ["default"]:
        protocol = None if name == "default" else int(name)
        checks = Checks("redis-py %s protocol=%s" % (redis.__version__, name))
        suite(checks, opts.host, opts.port, protocol, "compat:redispy:%s:" % name)
        total_p += checks.passed
        total_f += checks.failed
    print("%d passed, %d failed" % (total_p, total_f))
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main())
