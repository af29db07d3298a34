//! A slow command does not hold everyone else up: what KEYS guarantees while it walks the
//! keyspace in chunks, releasing the lock between them, and that big values are freed off
//! the lock. Loops have fixed counts; nothing here asserts a time.

mod common;
use common::{encode_cmd, Conn, TestServer};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use spindle::config::Config;

fn debug_server() -> TestServer {
    let config = Config::default();
    let d = spindle::config::lookup("enable-debug-command").expect("described");
    config
        .set_param(d, "yes", true)
        .expect("enable-debug-command");
    TestServer::start_with(config)
}

/// The bulk strings of a flat array reply.
fn bulks(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply);
    let mut lines = text.split("\r\n");
    let n: usize = lines
        .next()
        .and_then(|h| h.strip_prefix('*'))
        .and_then(|h| h.parse().ok())
        .expect("an array reply");
    let out: Vec<String> = lines
        .collect::<Vec<_>>()
        .chunks(2)
        .filter(|p| p.len() == 2)
        .map(|p| p[1].to_string())
        .collect();
    assert_eq!(out.len(), n, "array length");
    out
}

/// Sends `args` (an MSET or DEL of many keys) and checks the reply starts as expected.
fn bulk_cmd(c: &mut Conn, head: &[&str], keys: impl Iterator<Item = String>, value: bool) {
    let mut args: Vec<Vec<u8>> = head.iter().map(|s| s.as_bytes().to_vec()).collect();
    for k in keys {
        args.push(k.into_bytes());
        if value {
            args.push(b"v".to_vec());
        }
    }
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    c.send(&encode_cmd(&refs));
    let reply = c.read_reply();
    assert!(reply[0] == b'+' || reply[0] == b':', "{head:?}: {reply:?}");
}

/// Keys present for the whole of a KEYS call come back exactly once, and nothing comes back
/// twice, while 10 writers add and delete other keys. One of them does it in waves big
/// enough to make the table grow eightfold and shrink back: after a shrink, a cursor revisits
/// buckets it has already returned, which is why a walk holds shrinking off.
#[test]
fn keys_returns_each_stable_key_exactly_once_under_writers() {
    const STABLE: usize = 1_000;
    const WRITERS: usize = 10;
    let server = debug_server();
    let addr = server.addr;
    let mut c = server.connect();
    bulk_cmd(
        &mut c,
        &["MSET"],
        (0..STABLE).map(|i| format!("stable:{i}")),
        true,
    );
    c.cmd(&["DEBUG", "LOCKSTATS", "RESET"]);
    let stop = Arc::new(AtomicBool::new(false));
    let big_waves = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (stop, big_waves) = (Arc::clone(&stop), Arc::clone(&big_waves));
            thread::spawn(move || {
                let mut c = Conn::connect(addr);
                // Writer 0: 40,000 keys in, then out (the table goes 2k → 64k → 8k buckets).
                let wave = if w == 0 { 40_000 } else { 500 };
                while !stop.load(Ordering::SeqCst) {
                    for b in 0..wave / 500 {
                        let keys = (b * 500..(b + 1) * 500).map(|i| format!("churn:{w}:{i}"));
                        bulk_cmd(&mut c, &["MSET"], keys, true);
                    }
                    for b in 0..wave / 500 {
                        let keys = (b * 500..(b + 1) * 500).map(|i| format!("churn:{w}:{i}"));
                        bulk_cmd(&mut c, &["DEL"], keys, false);
                    }
                    if w == 0 {
                        big_waves.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    let mut round = 0;
    while round < 30 || big_waves.load(Ordering::SeqCst) < 8 {
        let keys = bulks(&c.cmd(&["KEYS", "*"]));
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for k in &keys {
            *seen.entry(k.as_str()).or_default() += 1;
            assert!(
                k.starts_with("stable:") || k.starts_with("churn:"),
                "round {round}: a key that never existed: {k}"
            );
        }
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "round {round}: returned twice: {twice:?}");
        for i in 0..STABLE {
            assert!(
                seen.contains_key(format!("stable:{i}").as_str()),
                "round {round}: stable:{i} missing"
            );
        }
        round += 1;
    }
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().expect("writer");
    }
    // The walk went in chunks: no hold visited more than one chunk's keys (a chunk ends at
    // the bucket where it reaches 1,024).
    let stats = String::from_utf8(c.cmd(&["DEBUG", "LOCKSTATS"])).expect("utf8");
    let chunk: u64 = stats
        .split("max_chunk_keys:")
        .nth(1)
        .and_then(|r| r.split('\r').next())
        .and_then(|n| n.parse().ok())
        .expect("max_chunk_keys");
    assert!(
        chunk > 0 && chunk <= 1024 + 64,
        "max keys per chunk {chunk}: {stats}"
    );
}

/// KEYS inside MULTI runs at once under the transaction's locks, with the same reply.
#[test]
fn keys_inside_multi_is_whole() {
    let server = debug_server();
    let mut c = server.connect();
    bulk_cmd(&mut c, &["MSET"], (0..3000).map(|i| format!("k:{i}")), true);
    let mut alone = bulks(&c.cmd(&["KEYS", "k:1*"]));
    c.cmd(&["MULTI"]);
    c.cmd(&["KEYS", "k:1*"]);
    let exec = c.cmd(&["EXEC"]);
    let inner = exec
        .splitn(2, |&b| b == b'\n')
        .nth(1)
        .expect("EXEC's element");
    let mut in_multi = bulks(inner);
    alone.sort();
    in_multi.sort();
    assert_eq!(alone.len(), 1111);
    assert_eq!(alone, in_multi);
}

/// A field of INFO memory.
fn memory_field(c: &mut Conn, field: &str) -> String {
    let info = c.cmd_str(&["INFO", "memory"]);
    info.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_default()
}

/// UNLINK of a big value leaves freeing it to the lazyfree thread (counted in INFO, as
/// Redis counts it); DEL of one frees it itself; a small value is never handed over.
#[test]
fn unlink_frees_big_values_in_the_background() {
    let server = debug_server();
    let mut c = server.connect();
    c.cmd(&["CONFIG", "RESETSTAT"]);
    let members = || (0..1000).map(|i| format!("m-{i}"));
    bulk_cmd(&mut c, &["SADD", "big1"], members(), false);
    bulk_cmd(&mut c, &["SADD", "big2"], members(), false);
    c.cmd(&["SADD", "small", "a", "b"]);
    assert_eq!(c.cmd(&["UNLINK", "big1", "small"]), b":2\r\n");
    assert_eq!(c.cmd(&["DEL", "big2"]), b":1\r\n");
    common::wait_for("the lazyfree thread", || {
        memory_field(&mut c, "lazyfree_pending_objects") == "0"
    });
    assert_eq!(memory_field(&mut c, "lazyfreed_objects"), "1");
    // FLUSHALL ASYNC counts each key it hands over.
    bulk_cmd(&mut c, &["MSET"], (0..10).map(|i| format!("k{i}")), true);
    c.cmd(&["FLUSHALL", "ASYNC"]);
    common::wait_for("the lazyfree thread", || {
        memory_field(&mut c, "lazyfree_pending_objects") == "0"
    });
    assert_eq!(memory_field(&mut c, "lazyfreed_objects"), "11");
    assert_eq!(c.cmd(&["DBSIZE"]), b":0\r\n");
}

/// A big key table resizes a few buckets per write; left part way by writes that stopped,
/// it is finished by the cron (`activerehashing yes`, Redis's default), and stays part way
/// with `activerehashing no`.
#[test]
fn a_resize_left_part_way_is_finished_by_active_rehashing() {
    let server = debug_server();
    let mut c = server.connect();
    let resizing = |c: &mut Conn| {
        String::from_utf8_lossy(&c.cmd(&["DEBUG", "HTSTATS", "0"])).contains("rehashing target")
    };
    c.cmd(&["CONFIG", "SET", "activerehashing", "no"]);
    // 2,048 keys fill 2,048 buckets; the next one starts moving them to 4,096.
    c.cmd(&["DEBUG", "POPULATE", "2049"]);
    assert!(
        resizing(&mut c),
        "the 2,049th key starts an incremental resize"
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        resizing(&mut c),
        "no writes and no active rehashing: still part way"
    );
    assert_eq!(c.cmd(&["DBSIZE"]), b":2049\r\n");
    c.cmd(&["CONFIG", "SET", "activerehashing", "yes"]);
    common::wait_for("the cron to finish the resize", || !resizing(&mut c));
    assert_eq!(c.cmd(&["DBSIZE"]), b":2049\r\n");
    assert_eq!(c.cmd(&["EXISTS", "key:0", "key:2048"]), b":2\r\n");
}
