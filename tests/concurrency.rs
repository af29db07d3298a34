//! Many clients at once: a shared store, misbehaving neighbours, `maxclients`, and a client
//! that never reads its replies.
#![allow(clippy::disallowed_methods)] // tests measure wall time freely

mod common;
use common::{bulk_bytes as bulk, encode_cmd, BinServer, Conn, TestServer};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use spindle::config::Config;

const MAX_CLIENTS: &[u8] = b"-ERR max number of clients reached\r\n";

/// A small deterministic PRNG (xorshift64*), so failures can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn two_clients_share_the_store() {
    let server = TestServer::start();
    let mut a = server.connect();
    let mut b = server.connect();
    a.expect(b"SET shared 1\r\n", b"+OK\r\n");
    b.expect(b"GET shared\r\n", b"$1\r\n1\r\n");
    b.expect(b"SET shared 2\r\n", b"+OK\r\n");
    a.expect(b"GET shared\r\n", b"$1\r\n2\r\n");
    a.expect(b"DEL shared\r\n", b":1\r\n");
    b.expect(b"EXISTS shared\r\n", b":0\r\n");
    b.expect(b"GET shared\r\n", b"$-1\r\n");
}

#[test]
fn fifty_clients_set_and_get_concurrently() {
    const CLIENTS: usize = 50;
    const OPS: usize = 200;
    let server = TestServer::start();
    let addr = server.addr;
    let workers: Vec<_> = (0..CLIENTS)
        .map(|t| {
            thread::spawn(move || {
                let mut c = Conn::connect(addr);
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
                for i in 0..OPS {
                    let (k, v) = (format!("c{t}:k{i}"), format!("value-{t}-{i}"));
                    assert_eq!(c.cmd(&["SET", &k, &v]), b"+OK\r\n", "{k}");
                    assert_eq!(c.cmd(&["GET", &k]), bulk(v.as_bytes()), "{k}");
                    // Someone else's key: either not written yet, or exactly its value.
                    let (ot, oi) = (rng.below(CLIENTS), rng.below(OPS));
                    let got = c.cmd(&["GET", &format!("c{ot}:k{oi}")]);
                    let want = bulk(format!("value-{ot}-{oi}").as_bytes());
                    assert!(
                        got == b"$-1\r\n" || got == want,
                        "GET c{ot}:k{oi} gave {:?}",
                        String::from_utf8_lossy(&got)
                    );
                }
                // Everything this client wrote is still there.
                for i in (0..OPS).step_by(17) {
                    let want = bulk(format!("value-{t}-{i}").as_bytes());
                    assert_eq!(c.cmd(&["GET", &format!("c{t}:k{i}")]), want);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("client thread");
    }
    let mut c = server.connect();
    let total = CLIENTS * OPS;
    assert_eq!(c.cmd(&["DBSIZE"]), format!(":{total}\r\n").into_bytes());
    // Every key is readable from a fresh connection.
    for t in (0..CLIENTS).step_by(7) {
        for i in (0..OPS).step_by(31) {
            let want = bulk(format!("value-{t}-{i}").as_bytes());
            assert_eq!(c.cmd(&["GET", &format!("c{t}:k{i}")]), want);
        }
    }
}

/// Opens a connection, does something nasty with it, and drops it.
fn misbehave(addr: SocketAddr, rng: &mut Rng, round: usize) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        panic!("server stopped accepting during round {round}");
    };
    s.set_nodelay(true).unwrap();
    // Writes may fail once the server has closed us after a protocol error: that is fine.
    let input: Vec<u8> = match round % 6 {
        // Random bytes.
        0 => {
            let n = 1 + rng.below(4096);
            rng.bytes(n)
        }
        // Half a multibulk command.
        1 => b"*3\r\n$3\r\nSET\r\n$3\r\nke".to_vec(),
        // A bulk announced, partly sent.
        2 => {
            let mut v = b"*2\r\n$4\r\nECHO\r\n$100000\r\n".to_vec();
            let n = rng.below(50_000);
            v.extend(rng.bytes(n));
            v
        }
        // Half an inline command.
        3 => b"SET garbage-key some-val".to_vec(),
        // A valid command followed by random bytes, replies never read.
        4 => {
            let mut v = b"SET garbage:x 1\r\n".to_vec();
            let n = rng.below(2048);
            v.extend(rng.bytes(n));
            v
        }
        // A header cut in the middle.
        _ => b"*2\r\n$3".to_vec(),
    };
    let _ = s.write_all(&input);
    if round.is_multiple_of(4) {
        // Sometimes half-close first, sometimes just vanish.
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    drop(s);
}

#[test]
fn garbage_from_one_client_does_not_disturb_another() {
    let server = TestServer::start();
    let addr = server.addr;
    let done = Arc::new(AtomicBool::new(false));
    let worker = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut c = Conn::connect(addr);
            let mut i = 0u64;
            // At least a few hundred round trips, and keep going while the garbage flows.
            while i < 300 || !done.load(Ordering::SeqCst) {
                let (k, v) = (format!("good:{}", i % 50), format!("v{i}"));
                assert_eq!(c.cmd(&["SET", &k, &v]), b"+OK\r\n");
                assert_eq!(c.cmd(&["GET", &k]), bulk(v.as_bytes()));
                c.expect(b"PING\r\n", b"+PONG\r\n");
                i += 1;
            }
            i
        })
    };
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for round in 0..300 {
        misbehave(addr, &mut rng, round);
    }
    done.store(true, Ordering::SeqCst);
    let rounds = worker.join().expect("the working client got a wrong reply");
    assert!(rounds >= 300);

    // New clients are still accepted and served.
    for _ in 0..5 {
        let mut c = server.connect();
        c.expect(b"PING\r\n", b"+PONG\r\n");
        c.send(b"GET good:0\r\nEXISTS good:49\r\n");
        let got = String::from_utf8(c.read_reply()).unwrap();
        let value = got.split("\r\n").nth(1).unwrap();
        assert!(value.starts_with('v') && got.starts_with('$'), "{got:?}");
        assert_eq!(c.read_reply(), b":1\r\n");
    }
}

/// Connects and, if the server admits the connection (PING answered with +PONG), returns it.
/// A rejection must be exactly the maxclients error.
fn try_admit(addr: SocketAddr) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The write may fail if the server has already rejected and closed us.
    let _ = s.write_all(b"PING\r\n");
    let mut got = Vec::new();
    let mut chunk = [0u8; 256];
    while !got.ends_with(b"\r\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    if got == b"+PONG\r\n" {
        return Some(s);
    }
    assert!(
        got.is_empty() || got == MAX_CLIENTS,
        "unexpected reply {:?}",
        String::from_utf8_lossy(&got)
    );
    None
}

#[test]
fn maxclients_rejects_the_extra_connection() {
    let cfg = Config::default();
    cfg.set_maxclients(3);
    let server = TestServer::start_with(cfg);
    let mut conns: Vec<Conn> = (0..3).map(|_| server.connect()).collect();
    for c in &mut conns {
        c.expect(b"PING\r\n", b"+PONG\r\n");
    }
    // The fourth gets the error without sending anything, then the close.
    let mut fourth = server.connect();
    assert_eq!(fourth.read_exact(MAX_CLIENTS.len()), MAX_CLIENTS);
    assert!(fourth.is_closed());
    // A rejection does not use up a slot: the admitted ones still work.
    for c in &mut conns {
        c.expect(b"PING\r\n", b"+PONG\r\n");
    }
    let mut fifth = server.connect();
    assert_eq!(fifth.read_exact(MAX_CLIENTS.len()), MAX_CLIENTS);
    assert!(fifth.is_closed());

    // Free one slot: a new client gets in once the server has noticed the close.
    drop(conns.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut replacement = loop {
        if let Some(s) = try_admit(server.addr) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no slot freed after closing a client"
        );
        thread::sleep(Duration::from_millis(20));
    };
    replacement.write_all(b"ECHO again\r\n").unwrap();
    let mut reply = [0u8; 11];
    replacement.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"$5\r\nagain\r\n");
    // Full again.
    let mut sixth = server.connect();
    assert_eq!(sixth.read_exact(MAX_CLIENTS.len()), MAX_CLIENTS);
    assert!(sixth.is_closed());
    for c in &mut conns {
        c.expect(b"PING\r\n", b"+PONG\r\n");
    }
}

#[test]
fn a_client_that_never_reads_does_not_block_others() {
    let server = TestServer::start();
    let mut setup = server.connect();
    let big = vec![b'x'; 100 * 1024];
    setup.send_cmd(&[b"SET", b"big", &big]);
    assert_eq!(setup.read_reply(), b"+OK\r\n");

    // 1000 GETs of 100 KB: ~100 MB of replies that nobody reads.
    let mut lazy = server.connect();
    lazy.send(&encode_cmd(&[b"GET", b"big"]).repeat(1000));

    let mut busy = server.connect();
    for i in 0..200 {
        let (k, v) = (format!("k{i}"), format!("v{i}"));
        assert_eq!(busy.cmd(&["SET", &k, &v]), b"+OK\r\n");
        assert_eq!(busy.cmd(&["GET", &k]), bulk(v.as_bytes()));
    }
    busy.send_cmd(&[b"GET", b"big"]);
    assert_eq!(busy.read_reply(), bulk(&big));
    // New clients are admitted too.
    let mut fresh = server.connect();
    fresh.expect(b"PING\r\n", b"+PONG\r\n");
    // Stopping the server (on drop) must cut off the stuck writer, with `lazy` still open.
    drop(server);
    drop(lazy);
}

#[test]
fn connection_churn() {
    let server = TestServer::start();
    let addr = server.addr;
    let churners: Vec<_> = (0..4)
        .map(|t| {
            thread::spawn(move || {
                for i in 0..100u32 {
                    let mut c = Conn::connect(addr);
                    let k = format!("churn:{t}:{i}");
                    c.expect(format!("SET {k} {i}\r\n").as_bytes(), b"+OK\r\n");
                    if i.is_multiple_of(2) {
                        c.expect(b"QUIT\r\n", b"+OK\r\n");
                        assert!(c.is_closed());
                    }
                }
            })
        })
        .collect();
    for c in churners {
        c.join().expect("churn thread");
    }
    let mut c = server.connect();
    c.expect(b"DBSIZE\r\n", b":400\r\n");
    c.expect(b"GET churn:3:99\r\n", b"$2\r\n99\r\n");
}

/// A burst of connects, made faster than worker threads start, is accepted and answered in
/// full, and each connection costs the server one descriptor: ten thousand clients must fit a
/// 20k `ulimit -n`.
#[cfg(target_os = "linux")]
#[test]
fn a_burst_of_connections_is_served_with_one_descriptor_each() {
    // Below the 1024 descriptors a CI runner may allow this test process.
    const N: usize = 500;
    let server = BinServer::start(&[]);
    let pid = server.child.id();
    let fds = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    let before = fds();
    let mut conns: Vec<TcpStream> = (0..N)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    for c in &mut conns {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c.write_all(b"PING\r\n").unwrap();
    }
    for c in &mut conns {
        let mut pong = [0u8; 7];
        c.read_exact(&mut pong).unwrap();
        assert_eq!(&pong, b"+PONG\r\n");
    }
    let held = fds() - before;
    assert!(
        held <= N + 4,
        "{N} connections hold {held} server descriptors"
    );
}
