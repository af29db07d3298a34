//! What a single-threaded Redis gets for free and a thread per connection has to earn: commands
//! that touch several databases happen in one step, a killed client runs nothing more, and one
//! command sees one instant. Each test reproduces a defect found with several clients at once;
//! the loops have fixed iteration counts and no timing assertions.

mod common;
use common::{encode_cmd, Conn, TestServer};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Sends `cmds` in one write and returns their replies, in order.
fn pipeline(c: &mut Conn, cmds: &[Vec<&[u8]>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for cmd in cmds {
        out.extend(encode_cmd(cmd));
    }
    c.send(&out);
    cmds.iter().map(|_| c.read_reply()).collect()
}

/// `FLUSHALL` empties every database in one step: a client swapping databases meanwhile can
/// never carry a key from before the flush past it.
#[test]
fn flushall_is_atomic_against_swapdb() {
    const ROUNDS: usize = 30;
    let server = TestServer::start();
    let addr = server.addr;
    let mut c = server.connect();
    for round in 0..ROUNDS {
        // Keys in the two databases being swapped, and enough in between that clearing one
        // database at a time would leave a wide window.
        for db in 0..16 {
            c.cmd(&["SELECT", &db.to_string()]);
            let n = if db == 0 || db == 15 { 10 } else { 1500 };
            let mut mset: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
            for i in 0..n {
                mset.push(format!("r{round}:db{db}:{i}").into_bytes());
                mset.push(b"v".to_vec());
            }
            let args: Vec<&[u8]> = mset.iter().map(Vec::as_slice).collect();
            c.send_cmd(&args);
            assert_eq!(c.read_reply(), b"+OK\r\n");
        }
        c.cmd(&["SELECT", "0"]);
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut s = Conn::connect(addr);
                let batch = encode_cmd(&[b"SWAPDB", b"0", b"15"]).repeat(20);
                let mut swaps = 0;
                while !stop.load(Ordering::SeqCst) || swaps < 200 {
                    s.send(&batch);
                    for _ in 0..20 {
                        assert_eq!(s.read_reply(), b"+OK\r\n");
                    }
                    swaps += 20;
                }
            })
        };
        // Let the swapper get going, then flush while it runs.
        thread::sleep(Duration::from_millis(2));
        assert_eq!(c.cmd(&["FLUSHALL"]), b"+OK\r\n");
        let mut survivors = Vec::new();
        for db in 0..16 {
            c.cmd(&["SELECT", &db.to_string()]);
            let n = c.cmd_str(&["DBSIZE"]);
            if n != ":0\r\n" {
                survivors.push(format!("db{db}: {}", n.trim()));
            }
        }
        stop.store(true, Ordering::SeqCst);
        swapper.join().expect("swapper");
        assert!(
            survivors.is_empty(),
            "round {round}: keys from before FLUSHALL survived it: {survivors:?}"
        );
        c.cmd(&["SELECT", "0"]);
    }
}

/// Databases swapped or flushed are seen whole by `INFO keyspace` and `DBSIZE`: a key count
/// never appears twice or not at all.
#[test]
fn info_keyspace_sees_databases_in_one_step() {
    const ROUNDS: usize = 300;
    let server = TestServer::start();
    let addr = server.addr;
    let mut c = server.connect();
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]);
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut s = Conn::connect(addr);
            let batch = encode_cmd(&[b"SWAPDB", b"3", b"9"]).repeat(10);
            while !stop.load(Ordering::SeqCst) {
                s.send(&batch);
                for _ in 0..10 {
                    assert_eq!(s.read_reply(), b"+OK\r\n");
                }
            }
        })
    };
    for _ in 0..ROUNDS {
        let info = c.cmd_str(&["INFO", "keyspace"]);
        let dbs: Vec<&str> = info.lines().filter(|l| l.starts_with("db")).collect();
        assert_eq!(dbs.len(), 1, "three keys in exactly one database: {info:?}");
        assert!(dbs[0].contains("keys=3,"), "{info:?}");
    }
    stop.store(true, Ordering::SeqCst);
    swapper.join().expect("swapper");
}

/// After `CLIENT KILL` has answered, the victim runs nothing more, not even the rest of a
/// pipeline it had already sent.
#[test]
fn a_killed_client_runs_nothing_after_the_kill() {
    const ROUNDS: usize = 20;
    let server = TestServer::start();
    let mut killer = server.connect();
    for round in 0..ROUNDS {
        let key = format!("counter:{round}");
        let mut victim = server.connect();
        let id = victim.cmd_str(&["CLIENT", "ID"]);
        let id = id.trim().trim_start_matches(':').to_string();
        // A long pipeline, sent at once and never read.
        let incr = encode_cmd(&[b"INCR", key.as_bytes()]).repeat(50_000);
        let writer = {
            let mut stream = victim.stream.try_clone().unwrap();
            thread::spawn(move || {
                use std::io::Write;
                let _ = stream.write_all(&incr);
            })
        };
        // Wait until it is under way.
        loop {
            let got = killer.cmd_str(&["GET", &key]);
            if got != "$-1\r\n" {
                break;
            }
            thread::yield_now();
        }
        assert_eq!(killer.cmd_str(&["CLIENT", "KILL", "ID", &id]), ":1\r\n");
        let at_kill = killer.cmd_str(&["GET", &key]);
        thread::sleep(Duration::from_millis(50));
        let later = killer.cmd_str(&["GET", &key]);
        assert_eq!(
            at_kill, later,
            "round {round}: the killed client's INCRs went on after CLIENT KILL replied"
        );
        drop(victim);
        let _ = writer.join();
    }
}

/// One command sees one instant. Each try stores a key that expires a millisecond later and
/// at once runs a command on it: the command must act on the key alive, or on the key gone,
/// never on both at different steps.
#[test]
fn one_command_sees_one_instant() {
    const TRIES: usize = 20_000;
    const BATCH: usize = 250;
    let server = TestServer::start();
    let mut c = server.connect();
    let mut bad: Vec<String> = Vec::new();
    for _ in 0..TRIES / BATCH {
        let mut cmds: Vec<Vec<&[u8]>> = Vec::new();
        for _ in 0..BATCH {
            cmds.push(vec![b"SET", b"a", b"10", b"PX", b"1"]);
            cmds.push(vec![b"PEXPIRE", b"a", b"100000"]);
            cmds.push(vec![b"EXISTS", b"a"]);
            cmds.push(vec![b"SET", b"b", b"v", b"PX", b"1"]);
            cmds.push(vec![b"GETEX", b"b", b"PX", b"100000"]);
            cmds.push(vec![b"EXISTS", b"b"]);
            cmds.push(vec![b"SET", b"c", b"10", b"PX", b"1"]);
            cmds.push(vec![b"INCR", b"c"]);
            cmds.push(vec![b"PTTL", b"c"]);
            cmds.push(vec![b"SET", b"d", b"v", b"PX", b"1"]);
            cmds.push(vec![b"MOVE", b"d", b"1"]);
        }
        cmds.push(vec![b"SELECT", b"1"]);
        cmds.push(vec![b"FLUSHDB"]);
        cmds.push(vec![b"SELECT", b"0"]);
        let replies = pipeline(&mut c, &cmds);
        for r in replies[..BATCH * 11].chunks(11) {
            let s = |i: usize| String::from_utf8_lossy(&r[i]).into_owned();
            if s(1) == ":1\r\n" && s(2) == ":0\r\n" {
                bad.push("PEXPIRE replied :1, and the key was gone".into());
            }
            if s(4) == "$1\r\nv\r\n" && s(5) == ":0\r\n" {
                bad.push("GETEX PX returned the value, and the key was gone".into());
            }
            if s(7) == ":11\r\n" && s(8) == ":-1\r\n" {
                bad.push("INCR replied 11 and left the key without its TTL".into());
            }
            if s(10) != ":0\r\n" && s(10) != ":1\r\n" {
                bad.push(format!("MOVE replied {:?}", s(10)));
            }
        }
    }
    bad.dedup();
    assert!(bad.is_empty(), "{bad:?}");
}

/// Two clients killing each other at the same moment both go, and neither waits for the
/// other forever.
#[test]
fn clients_killing_each_other_do_not_deadlock() {
    const ROUNDS: usize = 300;
    let server = TestServer::start();
    for _ in 0..ROUNDS {
        let mut a = server.connect();
        let mut b = server.connect();
        let id = |c: &mut Conn| c.cmd_str(&["CLIENT", "ID"]).trim()[1..].to_string();
        let (ida, idb) = (id(&mut a), id(&mut b));
        let start = Arc::new(std::sync::Barrier::new(2));
        let send = |c: &Conn, victim: String| {
            let mut w = c.stream.try_clone().unwrap();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                use std::io::Write;
                start.wait();
                let _ = w.write_all(&encode_cmd(&[b"CLIENT", b"KILL", b"ID", victim.as_bytes()]));
            })
        };
        let (ta, tb) = (send(&a, idb), send(&b, ida));
        ta.join().unwrap();
        tb.join().unwrap();
        // Each is either answered or closed by the other's kill; a deadlock would leave both
        // waiting, and the reads would time out.
        let closed = [ends_or_answers(&mut a, 1), ends_or_answers(&mut b, 1)];
        assert!(closed.contains(&true), "neither kill took effect");
        drop((a, b));
    }
    let mut c = server.connect();
    c.expect(b"PING\r\n", b"+PONG\r\n");
}

/// Reads until `n` replies have arrived (false) or the server closes the connection (true).
fn ends_or_answers(c: &mut Conn, n: usize) -> bool {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let mut pos = 0;
        let mut count = 0;
        while let Some(len) = common::reply_len(&buf[pos..]) {
            pos += len;
            count += 1;
        }
        if count >= n {
            return false;
        }
        match c.stream.read(&mut chunk) {
            Ok(0) => return true,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(e) => panic!("no reply and no close: {e}"),
        }
    }
}
