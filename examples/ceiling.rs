//! A measuring instrument for `make bench`, not a server: the fastest thing Spindle's design
//! card allows. One blocking thread per connection, as in Spindle, but no commands, no store
//! and no locks: it answers `+OK` to every request it sees, reading only where each request
//! starts and where its arguments end (an argument may begin with `*`, as `XADD`'s ID does).
//! Its throughput is the ceiling of thread-per-connection on this machine; `scripts/bench.py`
//! reports Spindle against it as well as against Redis.
//!
//! Usage: `cargo run --release --example ceiling -- PORT [--reply TEXT] [--work-ns N]`
//!
//! The two options make a bound for a workload that needs more than `+OK` from any server:
//! `--reply` answers every request with TEXT (`\r` and `\n` written as escapes), the bytes a
//! real reply takes (10 stream entries, a bulk string), and `--work-ns` spins N ns per
//! request before answering, the CPU a server that executes the command needs at least (for
//! example redis-server's own cost per command over the ceiling's). With them, the ceiling
//! shows whether a target measured against the plain ceiling can be reached at all.

#![allow(clippy::disallowed_methods)] // the work option times itself

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every request gets: its reply's bytes and the work done before it.
struct Answer {
    reply: Vec<u8>,
    work: Duration,
}

fn usage() -> ! {
    eprintln!("usage: ceiling PORT [--reply TEXT] [--work-ns N]");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = match args.get(1).map(|p| p.parse()) {
        Some(Ok(p)) => p,
        _ => usage(),
    };
    let mut answer_with = Answer {
        reply: b"+OK\r\n".to_vec(),
        work: Duration::ZERO,
    };
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--reply" => {
                answer_with.reply = value.replace("\\r", "\r").replace("\\n", "\n").into_bytes()
            }
            "--work-ns" => {
                answer_with.work = Duration::from_nanos(value.parse().unwrap_or_else(|_| usage()))
            }
            _ => usage(),
        }
    }
    let answer_with = Arc::new(answer_with);
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ceiling: cannot listen on {port}: {e}");
            std::process::exit(1);
        }
    };
    for stream in listener.incoming().flatten() {
        let _ = stream.set_nodelay(true);
        let with = Arc::clone(&answer_with);
        let spawned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                // The same scheduler slice as Spindle's workers: the ceiling is the card's.
                let _ = spindle::os::set_thread_slice(spindle::pool::WORKER_SLICE_NS);
                answer(stream, &with)
            });
        if let Err(e) = spawned {
            eprintln!("ceiling: {e}");
        }
    }
}

/// Where a connection's request stream stands: what a RESP request needs to be counted once,
/// and an argument that starts with `*` (an `XADD` ID) not taken for a request.
#[derive(Default)]
struct Requests {
    /// Arguments of the current request still to come.
    args_left: u64,
    /// Bytes of the current argument (and its CRLF) still to skip.
    skip: u64,
    /// The first byte of the line being read, and the number after it.
    first: Option<u8>,
    num: u64,
}

impl Requests {
    /// Feeds `bytes`, calling `start` once for each request that begins in them.
    fn feed(&mut self, mut bytes: &[u8], mut start: impl FnMut()) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = (self.skip as usize).min(bytes.len());
                self.skip -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let b = bytes[0];
            bytes = &bytes[1..];
            if b != b'\n' {
                match self.first {
                    None => self.first = Some(b),
                    Some(_) if b.is_ascii_digit() => {
                        self.num = self
                            .num
                            .saturating_mul(10)
                            .saturating_add(u64::from(b - b'0'))
                    }
                    Some(_) => {}
                }
                continue;
            }
            let (first, num) = (self.first.take(), std::mem::take(&mut self.num));
            if self.args_left > 0 {
                // An argument's header: `$len`, then its bytes and CRLF.
                self.args_left -= 1;
                self.skip = num + 2;
            } else if first == Some(b'*') {
                start();
                self.args_left = num;
            } else if first.is_some_and(|f| f != b'\r') {
                start(); // an inline command
            }
        }
    }
}

/// Replies once per request (after the work, if any), as its first line arrives.
fn answer(mut stream: TcpStream, with: &Answer) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::with_capacity(16 * 1024);
    let mut requests = Requests::default();
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        requests.feed(&buf[..n], || {
            if !with.work.is_zero() {
                let start = Instant::now();
                while start.elapsed() < with.work {
                    std::hint::spin_loop();
                }
            }
            out.extend_from_slice(&with.reply);
        });
        if stream.write_all(&out).is_err() {
            return;
        }
        out.clear();
    }
}
