//! A measuring instrument for `make bench`, not a server: the fastest thing Spindle's design
//! card allows. One blocking thread per connection, as in Spindle, but no parsing, no store
//! and no locks: it answers `+OK` to every request it sees (a `*` at the start of a line, which
//! is all redis-benchmark sends). Its throughput is the ceiling of thread-per-connection on
//! this machine; `scripts/bench.py` reports Spindle against it as well as against Redis.
//!
//! Usage: `cargo run --release --example ceiling -- PORT`

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() {
    let port: u16 = match std::env::args().nth(1).map(|p| p.parse()) {
        Some(Ok(p)) => p,
        _ => {
            eprintln!("usage: ceiling PORT");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ceiling: cannot listen on {port}: {e}");
            std::process::exit(1);
        }
    };
    for stream in listener.incoming().flatten() {
        let _ = stream.set_nodelay(true);
        let spawned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                // The same scheduler slice as Spindle's workers: the ceiling is the card's.
                let _ = spindle::os::set_thread_slice(spindle::pool::WORKER_SLICE_NS);
                answer(stream)
            });
        if let Err(e) = spawned {
            eprintln!("ceiling: {e}");
        }
    }
}

/// Replies `+OK` once per request start, counting across reads so a split request counts once.
fn answer(mut stream: TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::with_capacity(16 * 1024);
    let mut line_start = true;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if line_start && b == b'*' {
                out.extend_from_slice(b"+OK\r\n");
            }
            line_start = b == b'\n';
        }
        if stream.write_all(&out).is_err() {
            return;
        }
        out.clear();
    }
}
