//! Load for the benchmark rows redis-benchmark cannot make (`scripts/bench.py` runs it):
//!
//! - `tx PORT CLIENTS SECS`: each client sends `MULTI`, 5 `INCR`s and `EXEC` in one write and
//!   reads the 7 replies; prints transactions per second.
//! - `publish PORT SUBSCRIBERS PUBLISHERS SECS`: subscribers on one channel count the messages
//!   they get while publishers send `PUBLISH` in batches of 16; prints messages delivered per
//!   second (summed over subscribers).
//! - `flood PORT SECS SLEEPERS`: SLEEPERS (0 or more) subscribers that never read, one
//!   publisher sending 1 KB messages in batches of 16; prints the publisher's messages per
//!   second.
//! - `latency PORT CLIENTS SECS KEYS SETPCT`: each client sends one request at a time, `GET`
//!   (or, SETPCT in 100 of the time, `SET`) of a random one of the `key:%012d` keys bench.py
//!   loads; prints the latency percentiles p50, p99, p99.9 and the maximum, in ms, then the
//!   number of requests.
//! - `slow PORT SECS KIND`: one client runs a slow command in a loop (`keys`: `KEYS *`;
//!   `smembers`: `SMEMBERS bigset`; `lrange`: `LRANGE biglist 0 -1`; `delhash`: builds
//!   `delhash`, 1,000,000 fields, then `DEL`s it; `restore`: `RESTORE restored 0 payload
//!   REPLACE` of `DUMP bighash`); prints the runs and their mean ms.
#![allow(clippy::disallowed_methods)] // a load generator times itself

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Reads until `n` complete top-level replies have arrived (a minimal RESP scanner: enough
/// for the replies used here).
struct Replies {
    buf: Vec<u8>,
    pos: usize,
}

impl Replies {
    fn new() -> Self {
        Replies {
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Length of the reply starting at `at`, if complete.
    fn reply_len(buf: &[u8], at: usize) -> Option<usize> {
        let line_end = at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        let head = std::str::from_utf8(&buf[at + 1..line_end]).ok()?;
        let after = line_end + 2;
        match buf[at] {
            b'$' => {
                let n: i64 = head.parse().ok()?;
                if n < 0 {
                    return Some(after - at);
                }
                let end = after + n as usize + 2;
                (end <= buf.len()).then_some(end - at)
            }
            b'*' | b'>' => {
                let n: i64 = head.parse().ok()?;
                let mut p = after;
                for _ in 0..n.max(0) {
                    p += Self::reply_len(buf, p)?;
                }
                Some(p - at)
            }
            _ => Some(after - at),
        }
    }

    fn read(&mut self, s: &mut TcpStream, n: usize) -> bool {
        let mut got = 0;
        let mut chunk = [0u8; 65536];
        loop {
            while got < n {
                match Self::reply_len(&self.buf, self.pos) {
                    Some(len) => {
                        self.pos += len;
                        got += 1;
                    }
                    None => break,
                }
            }
            if got == n {
                self.buf.drain(..self.pos);
                self.pos = 0;
                return true;
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return false,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
            }
        }
    }
}

fn tx(port: u16, clients: usize, secs: f64) {
    let mut batch = cmd(&[b"MULTI"]);
    for _ in 0..5 {
        batch.extend(cmd(&[b"INCR", b"txcounter"]));
    }
    batch.extend(cmd(&[b"EXEC"]));
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (done, batch) = (Arc::clone(&done), batch.clone());
            thread::spawn(move || {
                let mut s = connect(port);
                let mut r = Replies::new();
                while Instant::now() < end {
                    s.write_all(&batch).expect("write");
                    if !r.read(&mut s, 7) {
                        return;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let t0 = Instant::now();
    for h in handles {
        let _ = h.join();
    }
    println!(
        "{:.0}",
        done.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64()
    );
}

fn publish(port: u16, subscribers: usize, publishers: usize, secs: f64) {
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut subs = Vec::new();
    for _ in 0..subscribers {
        let mut s = connect(port);
        s.write_all(&cmd(&[b"SUBSCRIBE", b"bench"])).expect("write");
        let mut r = Replies::new();
        assert!(r.read(&mut s, 1), "no subscribe confirmation");
        s.set_read_timeout(Some(Duration::from_millis(200))).ok();
        let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
        subs.push(thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if r.read(&mut s, 1) {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut batch = Vec::new();
    for _ in 0..16 {
        batch.extend(cmd(&[b"PUBLISH", b"bench", b"0123456789abcdef"]));
    }
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let t0 = Instant::now();
    let before = received.load(Ordering::Relaxed);
    let pubs: Vec<_> = (0..publishers)
        .map(|_| {
            let batch = batch.clone();
            thread::spawn(move || {
                let mut s = connect(port);
                let mut r = Replies::new();
                while Instant::now() < end {
                    s.write_all(&batch).expect("write");
                    if !r.read(&mut s, 16) {
                        return;
                    }
                }
            })
        })
        .collect();
    for p in pubs {
        let _ = p.join();
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let got = received.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for s in subs {
        let _ = s.join();
    }
    println!("{:.0}", got as f64 / elapsed);
}

fn flood(port: u16, secs: f64, sleepers: usize) {
    let sleepers: Vec<TcpStream> = (0..sleepers)
        .map(|_| {
            let mut s = connect(port);
            s.write_all(&cmd(&[b"SUBSCRIBE", b"flood"])).expect("write");
            s
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let body = vec![b'x'; 1024];
    let mut batch = Vec::new();
    for _ in 0..16 {
        batch.extend(cmd(&[b"PUBLISH", b"flood", &body]));
    }
    let mut s = connect(port);
    let mut r = Replies::new();
    let (t0, mut sent) = (Instant::now(), 0u64);
    while t0.elapsed().as_secs_f64() < secs {
        s.write_all(&batch).expect("write");
        if !r.read(&mut s, 16) {
            break;
        }
        sent += 16;
    }
    println!("{:.0}", sent as f64 / t0.elapsed().as_secs_f64());
    drop(sleepers);
}

/// Reads one whole reply without keeping it: a reply of a million elements is skipped in
/// one pass (the `Replies` scanner re-parses from the start on every read).
struct Skipper {
    buf: Vec<u8>,
    pos: usize,
    /// Elements still to come at each open aggregate level.
    pending: Vec<u64>,
}

impl Skipper {
    fn new() -> Self {
        Skipper {
            buf: Vec::new(),
            pos: 0,
            pending: Vec::new(),
        }
    }

    /// One element (header and, for a bulk, its body) if complete in the buffer.
    fn step(&mut self) -> Option<()> {
        let at = self.pos;
        let line_end = at + self.buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        let head = std::str::from_utf8(&self.buf[at + 1..line_end]).ok()?;
        let n: i64 = head.parse().unwrap_or(0);
        let mut next = line_end + 2;
        let mut children = 0;
        match self.buf[at] {
            b'$' if n >= 0 => {
                next += n as usize + 2;
                if next > self.buf.len() {
                    return None;
                }
            }
            b'*' | b'~' | b'>' => children = n.max(0) as u64,
            b'%' => children = 2 * n.max(0) as u64,
            _ => {}
        }
        self.pos = next;
        if let Some(top) = self.pending.last_mut() {
            *top -= 1;
        }
        if children > 0 {
            self.pending.push(children);
        }
        while self.pending.last() == Some(&0) {
            self.pending.pop();
        }
        Some(())
    }

    fn read(&mut self, s: &mut TcpStream) -> bool {
        let mut chunk = vec![0u8; 1 << 20];
        let mut started = false;
        loop {
            while self.step().is_some() {
                started = true;
                if self.pending.is_empty() {
                    self.buf.drain(..self.pos);
                    self.pos = 0;
                    return true;
                }
            }
            if started && self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return false,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
            }
        }
    }
}

/// A small xorshift generator: the keys each client asks for.
fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn latency(port: u16, clients: usize, secs: f64, keys: u64, set_pct: u64) {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            thread::spawn(move || {
                let mut s = connect(port);
                let mut r = Replies::new();
                let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (c as u64 + 1).wrapping_mul(0x2545_f491);
                let mut took = Vec::with_capacity(1 << 20);
                while Instant::now() < end {
                    let k = format!("key:{:012}", next_rand(&mut rng) % keys.max(1));
                    let req = if next_rand(&mut rng) % 100 < set_pct {
                        cmd(&[b"SET", k.as_bytes(), b"val:000000000000"])
                    } else {
                        cmd(&[b"GET", k.as_bytes()])
                    };
                    let t = Instant::now();
                    s.write_all(&req).expect("write");
                    if !r.read(&mut s, 1) {
                        break;
                    }
                    took.push(t.elapsed().as_micros() as u32);
                }
                took
            })
        })
        .collect();
    let mut all: Vec<u32> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect();
    all.sort_unstable();
    let pct = |p: f64| {
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len().max(1)) - 1;
        f64::from(all.get(i).copied().unwrap_or(0)) / 1000.0
    };
    println!(
        "{:.3} {:.3} {:.3} {:.3} {}",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0),
        all.len()
    );
}

/// One bulk string reply, whole.
fn read_bulk(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        if let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") {
            let head = std::str::from_utf8(&buf[..eol]).expect("header");
            let n: usize = head
                .strip_prefix('$')
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a bulk string: {head}"));
            if buf.len() >= eol + 2 + n + 2 {
                return buf[eol + 2..eol + 2 + n].to_vec();
            }
        }
        let got = s.read(&mut chunk).expect("read");
        assert!(got > 0, "closed");
        buf.extend_from_slice(&chunk[..got]);
    }
}

fn slow(port: u16, secs: f64, kind: &str) {
    let mut s = connect(port);
    let mut sk = Skipper::new();
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let (mut runs, mut busy) = (0u64, Duration::ZERO);
    let payload = if kind == "restore" {
        s.write_all(&cmd(&[b"DUMP", b"bighash"])).expect("write");
        read_bulk(&mut s)
    } else {
        Vec::new()
    };
    while Instant::now() < end {
        if kind == "delhash" {
            // Build it: 1,000 HSETs of 1,000 fields, 16 in flight.
            let mut sent = 0;
            let mut got = 0;
            while got < 1000 {
                while sent < 1000 && sent - got < 16 {
                    let mut args: Vec<Vec<u8>> = vec![b"HSET".to_vec(), b"delhash".to_vec()];
                    for f in 0..1000 {
                        args.push(format!("f{:015}", sent * 1000 + f).into_bytes());
                        args.push(b"v".to_vec());
                    }
                    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                    s.write_all(&cmd(&refs)).expect("write");
                    sent += 1;
                }
                if !sk.read(&mut s) {
                    return;
                }
                got += 1;
            }
        }
        let req = match kind {
            "keys" => cmd(&[b"KEYS", b"*"]),
            "smembers" => cmd(&[b"SMEMBERS", b"bigset"]),
            "lrange" => cmd(&[b"LRANGE", b"biglist", b"0", b"-1"]),
            "delhash" => cmd(&[b"DEL", b"delhash"]),
            "restore" => cmd(&[b"RESTORE", b"restored", b"0", &payload, b"REPLACE"]),
            _ => panic!("slow: unknown kind {kind}"),
        };
        let t = Instant::now();
        s.write_all(&req).expect("write");
        if !sk.read(&mut s) {
            return;
        }
        busy += t.elapsed();
        runs += 1;
    }
    println!(
        "{} {:.1}",
        runs,
        busy.as_secs_f64() * 1000.0 / runs.max(1) as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| -> &str { args.get(i).map(String::as_str).unwrap_or("") };
    let num = |i: usize| {
        arg(i)
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("argument {i}"))
    };
    let port = num(2) as u16;
    match arg(1) {
        "tx" => tx(port, num(3) as usize, num(4)),
        "publish" => publish(port, num(3) as usize, num(4) as usize, num(5)),
        "flood" => flood(port, num(3), num(4) as usize),
        "latency" => latency(port, num(3) as usize, num(4), num(5) as u64, num(6) as u64),
        "slow" => slow(port, num(3), arg(4)),
        _ => {
            eprintln!("usage: loadgen tx|publish|flood|latency|slow PORT ...");
            std::process::exit(2);
        }
    }
}
