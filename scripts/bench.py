#!/usr/bin/env python3
"""Drives scripts/bench.sh: starts both servers on free ports, alternates redis-benchmark runs,
and prints a table of medians. Figures only: nothing here asserts a speed."""
import argparse
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPINDLE = os.path.join(ROOT, "target", "release", "spindle")
TICK = os.sysconf("SC_CLK_TCK")

# (label, redis-benchmark tests, extra flags, first-guess requests)
WORKLOADS = [
    ("c50 P1", "ping_mbulk,set,get", ["-c", "50"], 150_000),
    ("c50 P16", "set,get", ["-c", "50", "-P", "16"], 2_000_000),
    ("c1", "set,get", ["-c", "1"], 40_000),
    ("c50 d1024", "set", ["-c", "50", "-d", "1024"], 150_000),
    ("c1000", "set,get", ["-c", "1000"], 150_000),
    ("c50", "incr,mset", ["-c", "50"], 150_000),
]
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
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
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

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True).stdout


def run_benchmark(server, tests, flags, n):
    """One redis-benchmark run; returns {test: (rps, p50, p99)}, CPU ticks, elapsed seconds."""
    argv = ["redis-benchmark", "-p", str(server.port), "-t", tests, "-n", str(n), "--csv", *flags]
    server.cli("FLUSHALL")
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


def load_keys(server, count):
    """Loads `count` distinct 16-byte keys with 16-byte values through redis-cli --pipe."""
    def proto():
        for i in range(count):
            k = b"key:%012d" % i
            v = b"val:%012d" % i
            yield b"*3\r\n$3\r\nSET\r\n$16\r\n" + k + b"\r\n$16\r\n" + v + b"\r\n"
    server.cli("FLUSHALL")
    time.sleep(0.5)
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=1_000_000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    rp, sp = free_port(), free_port()
    redis = Server("redis", ["redis-server", "--port", str(rp), "--save", "", "--appendonly", "no",
                             "--maxclients", "10000"], rp)
    spindle = Server("spindle", [SPINDLE, "--port", str(sp)], sp)
    servers = [spindle, redis]
    print(f"# redis-benchmark, {args.rounds} rounds alternating, medians; "
          f"{os.cpu_count()} cores; {redis.cli('INFO', 'server').split('redis_version:')[1].split()[0]} vs spindle")
    rows = []
    try:
        for label, tests, flags, n in WORKLOADS:
            samples = {s.name: {} for s in servers}
            cpu = {s.name: [] for s in servers}
            for rnd in range(args.rounds):
                for s in servers:
                    res, ticks, elapsed = run_benchmark(s, tests, flags, n)
                    if rnd == 0 and s is servers[0] and elapsed < MIN_SECONDS:
                        # Too short to trust: scale the request count, and redo this run.
                        n = int(n * (MIN_SECONDS * 1.25) / max(elapsed, 0.05))
                        res, ticks, elapsed = run_benchmark(s, tests, flags, n)
                    total = n * max(len(res), 1)
                    cpu[s.name].append(ticks / TICK * 1e6 / total)
                    for test, v in res.items():
                        samples[s.name].setdefault(test, []).append(v)
            for test in samples["spindle"]:
                med = {}
                for name in ("spindle", "redis"):
                    vals = samples[name].get(test, [])
                    if not vals:
                        med[name] = (0, 0, 0, 0)
                        continue
                    rps = [v[0] for v in vals]
                    spread = (max(rps) - min(rps)) / statistics.median(rps) * 100 if rps else 0
                    med[name] = (statistics.median(rps), statistics.median(v[1] for v in vals),
                                 statistics.median(v[2] for v in vals), spread)
                rows.append((f"{test} {label}", med, statistics.median(cpu["spindle"]), statistics.median(cpu["redis"])))
                s_, r_ = med["spindle"], med["redis"]
                print(f"  {test:<10} {label:<10} spindle {s_[0]:>10.0f} rps  redis {r_[0]:>10.0f} rps  "
                      f"ratio {s_[0] / r_[0] if r_[0] else 0:.2f}", file=sys.stderr, flush=True)

        print()
        print("| workload | Spindle rps | Redis rps | ratio | p50 ms S/R | p99 ms S/R | CPU us/req S/R | spread % S/R |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, med, cs, cr in rows:
            s_, r_ = med["spindle"], med["redis"]
            ratio = s_[0] / r_[0] if r_[0] else 0
            print(f"| {name} | {s_[0]:.0f} | {r_[0]:.0f} | {ratio:.2f} | {s_[1]:.3f} / {r_[1]:.3f} | "
                  f"{s_[2]:.3f} / {r_[2]:.3f} | {cs:.2f} / {cr:.2f} | {s_[3]:.0f} / {r_[3]:.0f} |")

        print()
        print("| memory: 16-byte keys, 16-byte values | keys | resident bytes per key |")
        print("|---|---:|---:|")
        for s in servers:
            keys, per_key = load_keys(s, args.keys)
            print(f"| {s.name} | {keys} | {per_key:.0f} |")
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
