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
        _ => {
            eprintln!("usage: loadgen tx|publish|flood PORT ...");
            std::process::exit(2);
        }
    }
}
