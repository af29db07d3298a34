//! Client-side caching across threads (CLIENT TRACKING): invalidations reach RESP3 clients
//! and RESP2 redirections, and never arrive before the reply of a read that returned the
//! value they invalidate, however the reader's and the writers' threads interleave.
#![allow(clippy::disallowed_methods)] // tests wait on wall time freely

mod common;
use common::{Conn, TestServer};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn resp3(c: &mut Conn) {
    let hello = c.cmd(&["HELLO", "3"]);
    assert!(
        hello.starts_with(b"%"),
        "{:?}",
        String::from_utf8_lossy(&hello)
    );
}

/// A push frame `>2 invalidate [keys]` (or null) as its key list.
fn invalidated(frame: &[u8]) -> Option<Vec<String>> {
    let leaves = common::leaves(frame);
    if !frame.starts_with(b">") || leaves.first().map(String::as_str) != Some("invalidate") {
        return None;
    }
    Some(leaves[1..].to_vec())
}

/// The property client-side caching rests on: a client that caches what GET returned and
/// drops what an invalidation names ends up holding the server's value, while writers on
/// other connections change the keys all along. An invalidation sent before the reply of
/// the read it follows would leave a stale value cached for good.
#[test]
fn a_cache_kept_by_invalidations_never_goes_stale() {
    let server = TestServer::start();
    let keys: Vec<String> = (0..4).map(|i| format!("k{i}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let mut c = server.connect();
            let (keys, stop) = (keys.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = &keys[(n as usize + w) % keys.len()];
                    c.cmd(&["SET", key, &format!("{w}-{n}")]);
                }
            })
        })
        .collect();
    let mut r = server.connect();
    resp3(&mut r);
    assert_eq!(r.cmd(&["CLIENT", "TRACKING", "on"]), b"+OK\r\n");
    let mut cache: HashMap<String, Vec<u8>> = HashMap::new();
    let apply = |cache: &mut HashMap<String, Vec<u8>>, frame: &[u8]| -> bool {
        match invalidated(frame) {
            Some(gone) => {
                for k in gone {
                    cache.remove(&k);
                }
                true
            }
            None => false,
        }
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        for key in &keys {
            if cache.contains_key(key) {
                continue;
            }
            r.send_cmd(&[b"GET", key.as_bytes()]);
            // Pushes may come first: they concern earlier reads.
            let reply = loop {
                let frame = r.read_reply();
                if !apply(&mut cache, &frame) {
                    break frame;
                }
            };
            cache.insert(key.clone(), reply);
        }
        // Take in the invalidations that have arrived.
        r.send_cmd(&[b"PING"]);
        loop {
            let frame = r.read_reply();
            if !apply(&mut cache, &frame) {
                assert_eq!(frame, b"+PONG\r\n");
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    // The writers are done: every invalidation they caused is on its way before these
    // replies (each PING goes after them on the server's side).
    std::thread::sleep(Duration::from_millis(100));
    r.send_cmd(&[b"PING"]);
    loop {
        let frame = r.read_reply();
        if !apply(&mut cache, &frame) {
            break;
        }
    }
    let mut check = server.connect();
    for (key, cached) in &cache {
        assert_eq!(
            &check.cmd(&["GET", key]),
            cached,
            "{key}: the cache kept a value the server no longer has"
        );
    }
}

/// RESP2: invalidations go to the connection named by REDIRECT, as `message` frames on
/// `__redis__:invalidate`; FLUSHALL sends a null; once that connection has gone, CLIENT
/// TRACKINGINFO says `broken_redirect` and CLIENT LIST shows the flags.
#[test]
fn resp2_redirection_to_a_subscriber() {
    let server = TestServer::start();
    let mut sub = server.connect();
    let sub_id = sub.cmd_str(&["CLIENT", "ID"])[1..].trim().to_string();
    sub.cmd(&["SUBSCRIBE", "__redis__:invalidate"]);
    let mut r = server.connect();
    let mut w = server.connect();
    assert_eq!(
        r.cmd_str(&["CLIENT", "TRACKING", "on", "REDIRECT", &sub_id]),
        "+OK\r\n"
    );
    w.cmd(&["SET", "a", "1"]);
    r.cmd(&["GET", "a"]);
    w.cmd(&["SET", "a", "2"]);
    assert_eq!(
        sub.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\na\r\n"
    );
    w.cmd(&["FLUSHALL"]);
    assert_eq!(
        sub.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"
    );
    let list = r.cmd_str(&["CLIENT", "INFO"]);
    assert!(list.contains(" flags=t "), "{list}");
    assert!(list.contains(&format!(" redir={sub_id} ")), "{list}");
    assert_eq!(r.cmd_str(&["CLIENT", "GETREDIR"]), format!(":{sub_id}\r\n"));
    drop(sub);
    r.cmd(&["GET", "a"]);
    // The redirection's thread may still be on its way out.
    let start = Instant::now();
    loop {
        w.cmd(&["SET", "a", "3"]);
        r.cmd(&["GET", "a"]);
        let info = r.cmd_str(&["CLIENT", "TRACKINGINFO"]);
        if info.contains("broken_redirect") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(r.cmd_str(&["CLIENT", "INFO"]).contains(" flags=tR "));
    assert_eq!(r.cmd_str(&["RESET"]), "+RESET\r\n");
    assert!(r.cmd_str(&["CLIENT", "INFO"]).contains(" flags=N "));
}

/// A RESP3 client that another one redirects to, and that has never subscribed nor sent a
/// command since, still gets the push frames.
#[test]
fn redirection_to_an_idle_resp3_client() {
    let server = TestServer::start();
    let mut target = server.connect();
    resp3(&mut target);
    let target_id = target.cmd_str(&["CLIENT", "ID"])[1..].trim().to_string();
    let mut r = server.connect();
    let mut w = server.connect();
    r.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &target_id]);
    r.cmd(&["GET", "x"]);
    w.cmd(&["SET", "x", "1"]);
    assert_eq!(
        target.read_reply(),
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nx\r\n"
    );
}

/// A client parked in BLMOVE that tracks the destination gets its reply before the
/// invalidation its own move causes (Redis orders them so for a client it unblocks), and
/// the tracking table is kept within `tracking-table-max-keys`.
#[test]
fn served_waiter_reply_comes_before_its_invalidation_and_the_table_is_bounded() {
    let server = TestServer::start();
    let mut b = server.connect();
    resp3(&mut b);
    b.cmd(&["CLIENT", "TRACKING", "on"]);
    let mut w = server.connect();
    w.cmd(&["RPUSH", "dst", "a"]);
    b.cmd(&["LRANGE", "dst", "0", "-1"]);
    b.send_cmd(&[b"BLMOVE", b"src", b"dst", b"LEFT", b"LEFT", b"0"]);
    let start = Instant::now();
    while !w
        .cmd_str(&["INFO", "clients"])
        .contains("blocked_clients:1")
    {
        assert!(start.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(5));
    }
    w.cmd(&["RPUSH", "src", "foo"]);
    assert_eq!(b.read_reply(), b"$3\r\nfoo\r\n");
    assert_eq!(
        b.read_reply(),
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\ndst\r\n"
    );

    for i in 0..50 {
        b.cmd(&["GET", &format!("t{i}")]);
    }
    assert!(w
        .cmd_str(&["INFO", "stats"])
        .contains("tracking_total_keys:50"));
    w.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "10"]);
    let mut gone = 0;
    while gone < 40 {
        let frame = b.read_reply();
        gone += invalidated(&frame).expect("an invalidation").len();
    }
    assert!(w
        .cmd_str(&["INFO", "stats"])
        .contains("tracking_total_keys:10"));
}

/// Reads frames until `want` comes, failing after 2 s.
fn expect_frame(c: &mut Conn, want: &[u8]) {
    c.stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert_eq!(c.read_reply(), want);
}

/// Blocking commands do not hold invalidations back: a client served (or timed out) in a
/// blocking pop hears of later changes at once, however its wake raced with the serving;
/// a BCAST client hears of a change made just before another client parks; and a RESP3
/// redirection target that is itself parked still gets its frames.
#[test]
fn blocking_commands_hold_no_invalidation_back() {
    let server = TestServer::start();
    let mut r = server.connect();
    resp3(&mut r);
    r.cmd(&["CLIENT", "TRACKING", "on"]);
    let mut w = server.connect();
    for i in 0..40 {
        let key = format!("k{i}");
        r.cmd(&["GET", &key]);
        r.send_cmd(&[b"BLPOP", b"q", b"0.01"]);
        std::thread::sleep(Duration::from_millis(9 + (i % 3)));
        w.cmd(&["RPUSH", "q", "x"]);
        let reply = r.read_reply();
        assert!(
            reply.starts_with(b"*") || reply.starts_with(b"_"),
            "{reply:?}"
        );
        w.cmd(&["DEL", "q"]);
        w.cmd(&["SET", &key, "v"]);
        expect_frame(
            &mut r,
            format!(
                ">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n",
                key.len()
            )
            .as_bytes(),
        );
    }

    let mut b = server.connect();
    resp3(&mut b);
    b.cmd(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "foo:"]);
    w.send(b"SET foo:1 x\r\nBLPOP q2 0\r\n");
    assert_eq!(w.read_reply(), b"+OK\r\n");
    expect_frame(&mut b, b">2\r\n$10\r\ninvalidate\r\n*1\r\n$5\r\nfoo:1\r\n");

    let mut target = server.connect();
    resp3(&mut target);
    let target_id = target.cmd_str(&["CLIENT", "ID"])[1..].trim().to_string();
    target.send_cmd(&[b"BLPOP", b"q3", b"0"]);
    let mut t = server.connect();
    t.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &target_id]);
    t.cmd(&["GET", "red"]);
    let mut w2 = server.connect();
    w2.cmd(&["SET", "red", "1"]);
    expect_frame(
        &mut target,
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nred\r\n",
    );
}
