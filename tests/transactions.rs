//! MULTI/EXEC and WATCH under concurrency: no client ever sees part of a transaction, even one
//! that moves money between databases, and optimistic locking loses no increment. Fixed
//! iteration counts, no timing assertions.

mod common;
use common::{encode_cmd, leaves, Conn, TestServer};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

const ACCOUNTS: usize = 8;
const START: i64 = 1000;

/// Sends `cmds` in one write and returns the last reply (EXEC's).
fn transaction(c: &mut Conn, cmds: &[Vec<String>]) -> Vec<u8> {
    let mut out = encode_cmd(&[b"MULTI"]);
    for cmd in cmds {
        let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        out.extend(encode_cmd(&args));
    }
    out.extend(encode_cmd(&[b"EXEC"]));
    c.send(&out);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    for _ in cmds {
        assert_eq!(c.read_reply(), b"+QUEUED\r\n");
    }
    c.read_reply()
}

fn cmd(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// Accounts live in databases 0 and 3 (`acct:i` in database `3 * (i % 2)`); transfers move
/// amounts between any two, switching databases with SELECT inside the transaction, or with
/// MOVE of a temporary key. Readers read every account inside one transaction: the total
/// never changes.
#[test]
fn transfers_across_databases_are_never_seen_half_done() {
    const WRITERS: usize = 4;
    const TRANSFERS: usize = 300;
    const READS: usize = 300;
    let server = TestServer::start();
    let mut admin = server.connect();
    let db_of = |i: usize| 3 * (i % 2);
    for i in 0..ACCOUNTS {
        admin.cmd(&["SELECT", &db_of(i).to_string()]);
        admin.cmd(&["SET", &format!("acct:{i}"), &START.to_string()]);
    }
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mut c = server.connect();
            thread::spawn(move || {
                let mut seed = 0x9e37_79b9_u64 + w as u64;
                for t in 0..TRANSFERS {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let from = (seed % ACCOUNTS as u64) as usize;
                    let to = (from + 1 + (seed >> 8) as usize % (ACCOUNTS - 1)) % ACCOUNTS;
                    let amount = (seed >> 20) % 50;
                    let (fk, tk) = (format!("acct:{from}"), format!("acct:{to}"));
                    let amount = amount.to_string();
                    let mut cmds = vec![
                        cmd(&["SELECT", &db_of(from).to_string()]),
                        cmd(&["DECRBY", &fk, &amount]),
                    ];
                    if t % 3 == 0 && db_of(from) != db_of(to) {
                        // Carry the amount over in a key of its own.
                        let tmp = format!("carry:{w}");
                        cmds.push(cmd(&["SET", &tmp, &amount]));
                        cmds.push(cmd(&["MOVE", &tmp, &db_of(to).to_string()]));
                        cmds.push(cmd(&["SELECT", &db_of(to).to_string()]));
                        cmds.push(cmd(&["INCRBY", &tk, &amount]));
                        cmds.push(cmd(&["DEL", &tmp]));
                    } else {
                        cmds.push(cmd(&["SELECT", &db_of(to).to_string()]));
                        cmds.push(cmd(&["INCRBY", &tk, &amount]));
                    }
                    let reply = transaction(&mut c, &cmds);
                    assert!(
                        !String::from_utf8_lossy(&reply).contains("-ERR"),
                        "transfer failed: {}",
                        String::from_utf8_lossy(&reply)
                    );
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let mut c = server.connect();
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut cmds = Vec::new();
                for i in 0..ACCOUNTS {
                    cmds.push(cmd(&["SELECT", &db_of(i).to_string()]));
                    cmds.push(cmd(&["GET", &format!("acct:{i}")]));
                }
                let mut reads = 0;
                while reads < READS || !done.load(Ordering::Relaxed) {
                    let reply = transaction(&mut c, &cmds);
                    let total: i64 = leaves(&reply)
                        .iter()
                        .filter_map(|v| v.parse::<i64>().ok())
                        .sum();
                    assert_eq!(
                        total,
                        START * ACCOUNTS as i64,
                        "a transfer was seen half done"
                    );
                    reads += 1;
                    if reads > 100 * READS {
                        break;
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
    let mut total = 0;
    for i in 0..ACCOUNTS {
        admin.cmd(&["SELECT", &db_of(i).to_string()]);
        total += admin
            .cmd_str(&["GET", &format!("acct:{i}")])
            .lines()
            .nth(1)
            .and_then(|v| v.parse::<i64>().ok())
            .expect("balance");
    }
    assert_eq!(total, START * ACCOUNTS as i64);
}

/// WATCH + GET + MULTI/SET/EXEC retried until EXEC succeeds: every increment lands exactly
/// once, however the clients interleave.
#[test]
fn watch_retry_loops_lose_no_increment() {
    const CLIENTS: usize = 6;
    const INCREMENTS: usize = 100;
    let server = TestServer::start();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut c = server.connect();
            thread::spawn(move || {
                let mut retries = 0;
                for _ in 0..INCREMENTS {
                    loop {
                        assert_eq!(c.cmd(&["WATCH", "counter"]), b"+OK\r\n");
                        let got = c.cmd_str(&["GET", "counter"]);
                        let n: i64 = got.lines().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
                        let reply =
                            transaction(&mut c, &[cmd(&["SET", "counter", &(n + 1).to_string()])]);
                        if reply == b"*1\r\n+OK\r\n" {
                            break;
                        }
                        assert_eq!(reply, b"*-1\r\n");
                        retries += 1;
                    }
                }
                retries
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client");
    }
    let mut c = server.connect();
    assert_eq!(
        c.cmd_str(&["GET", "counter"]),
        format!(
            "${}\r\n{}\r\n",
            (CLIENTS * INCREMENTS).to_string().len(),
            CLIENTS * INCREMENTS
        )
    );
}

/// A client that disconnects while watching leaves nothing behind: a later change to the key
/// still works, and a new watcher of it is judged on its own.
#[test]
fn a_watcher_that_disconnects_is_forgotten() {
    let server = TestServer::start();
    for _ in 0..50 {
        let mut c = server.connect();
        c.cmd(&["WATCH", "k"]);
        c.cmd(&["MULTI"]);
        c.cmd(&["SET", "k", "queued"]);
        drop(c);
    }
    let mut c = server.connect();
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    c.cmd(&["WATCH", "k"]);
    assert_eq!(
        transaction(&mut c, &[cmd(&["GET", "k"])]),
        b"*1\r\n$1\r\nv\r\n"
    );
}
