//! Streams: XADD/XRANGE/XDEL/XTRIM/XSETID replies, consumer groups, and blocking XREAD and
//! XREADGROUP on the shared wait queues (wake-up by XADD, FIFO, timeouts, disconnects,
//! CLIENT UNBLOCK, shutdown, a group destroyed or the stream deleted under a waiter), plus
//! a concurrency case. Byte-exact replies; no timing assertions beyond bounded waits.
#![allow(clippy::disallowed_methods)] // tests measure wall time freely

mod common;
use common::{blocked_clients, bulk, wait_blocked, Conn, TestServer};

use std::thread;

/// Sends `XREADGROUP GROUP g c BLOCK 0 STREAMS s >` (to wait on stream `s`).
fn block_xreadgroup(w: &mut Conn) {
    w.send_cmd(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c",
        b"BLOCK",
        b"0",
        b"STREAMS",
        b"s",
        b">",
    ]);
}

/// `[id, [f, v, ...]]`
fn entry(id: &str, fv: &[&str]) -> String {
    let mut s = format!("*2\r\n{}*{}\r\n", bulk(id), fv.len());
    for x in fv {
        s += &bulk(x);
    }
    s
}

/// An XREAD reply (RESP2) for one key.
fn read_reply(key: &str, entries: &[String]) -> String {
    format!(
        "*1\r\n*2\r\n{}*{}\r\n{}",
        bulk(key),
        entries.len(),
        entries.concat()
    )
}

fn ck(c: &mut Conn, args: &[&str], want: impl AsRef<str>) {
    assert_eq!(c.cmd_str(args), want.as_ref(), "{args:?}");
}

fn read(c: &mut Conn) -> String {
    String::from_utf8(c.read_reply()).unwrap()
}

#[test]
fn xadd_ids_ranges_and_errors() {
    let server = TestServer::start();
    let mut c = server.connect();
    ck(&mut c, &["XADD", "s", "1-1", "a", "1"], bulk("1-1"));
    ck(&mut c, &["XADD", "s", "1-*", "b", "2"], bulk("1-2"));
    ck(&mut c, &["XADD", "s", "2", "c", "3", "d", "4"], bulk("2-0"));
    ck(
        &mut c,
        &["XADD", "s", "2-0", "x", "y"],
        "-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n",
    );
    ck(
        &mut c,
        &["XADD", "s", "0-0", "x", "y"],
        "-ERR The ID specified in XADD must be greater than 0-0\r\n",
    );
    ck(
        &mut c,
        &["XADD", "s", "3-0", "x"],
        "-ERR wrong number of arguments for 'xadd' command\r\n",
    );
    ck(
        &mut c,
        &["XADD", "s", "nope", "x", "y"],
        "-ERR Invalid stream ID specified as stream command argument\r\n",
    );
    ck(
        &mut c,
        &["XADD", "none", "NOMKSTREAM", "*", "x", "y"],
        "$-1\r\n",
    );
    ck(&mut c, &["EXISTS", "none"], ":0\r\n");
    ck(&mut c, &["XLEN", "s"], ":3\r\n");
    ck(&mut c, &["TYPE", "s"], "+stream\r\n");
    ck(&mut c, &["OBJECT", "ENCODING", "s"], bulk("stream"));
    // An auto ID is the clock's millisecond (or later) with a sequence.
    let id = c.cmd_str(&["XADD", "auto", "*", "f", "v"]);
    assert!(id.starts_with('$') && id.contains('-'), "{id}");
}

#[test]
fn consumer_group_pending_and_claims() {
    let server = TestServer::start();
    let mut c = server.connect();
    for id in ["1-0", "2-0", "3-0"] {
        c.cmd(&["XADD", "s", id, "f", id]);
    }
    ck(&mut c, &["XGROUP", "CREATE", "s", "g", "0"], "+OK\r\n");
    ck(
        &mut c,
        &["XGROUP", "CREATE", "s", "g", "0"],
        "-BUSYGROUP Consumer Group name already exists\r\n",
    );
    ck(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">",
        ],
        read_reply(
            "s",
            &[entry("1-0", &["f", "1-0"]), entry("2-0", &["f", "2-0"])],
        ),
    );
    ck(
        &mut c,
        &["XPENDING", "s", "g"],
        format!(
            "*4\r\n:2\r\n{}{}*1\r\n*2\r\n{}{}",
            bulk("1-0"),
            bulk("2-0"),
            bulk("alice"),
            bulk("2")
        ),
    );
    ck(&mut c, &["XACK", "s", "g", "1-0", "1-0"], ":1\r\n");
    ck(
        &mut c,
        &["XCLAIM", "s", "g", "bob", "0", "2-0", "JUSTID"],
        format!("*1\r\n{}", bulk("2-0")),
    );
    ck(
        &mut c,
        &["XAUTOCLAIM", "s", "g", "carol", "0", "0", "JUSTID"],
        format!("*3\r\n{}*1\r\n{}*0\r\n", bulk("0-0"), bulk("2-0")),
    );
    ck(
        &mut c,
        &["XREADGROUP", "GROUP", "nogroup", "a", "STREAMS", "s", ">"],
        "-NOGROUP No such key 's' or consumer group 'nogroup' in XREADGROUP with GROUP option\r\n",
    );
    ck(
        &mut c,
        &["XGROUP", "DELCONSUMER", "s", "g", "carol"],
        ":1\r\n",
    );
    ck(&mut c, &["XGROUP", "DESTROY", "s", "g"], ":1\r\n");
}

#[test]
fn xadd_wakes_blocked_xread_in_fifo_order() {
    let server = TestServer::start();
    let mut admin = server.connect();
    let mut w1 = server.connect();
    let mut w2 = server.connect();
    w1.send_cmd(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]);
    wait_blocked(&mut admin, 1);
    w2.send_cmd(&[
        b"XREAD", b"BLOCK", b"0", b"STREAMS", b"other", b"s", b"0", b"$",
    ]);
    wait_blocked(&mut admin, 2);
    assert_eq!(admin.cmd_str(&["XADD", "s", "1-0", "f", "v"]), bulk("1-0"));
    let want = read_reply("s", &[entry("1-0", &["f", "v"])]);
    assert_eq!(read(&mut w1), want);
    assert_eq!(read(&mut w2), want);
    assert_eq!(blocked_clients(&mut admin), 0);
    // Already there: no blocking at all.
    assert_eq!(
        w1.cmd_str(&["XREAD", "BLOCK", "0", "STREAMS", "s", "0"]),
        want
    );
}

#[test]
fn blocked_readers_time_out_and_can_be_unblocked() {
    let server = TestServer::start();
    let mut admin = server.connect();
    let mut w = server.connect();
    assert_eq!(
        w.cmd(&["XREAD", "BLOCK", "30", "STREAMS", "s", "$"]),
        b"*-1\r\n"
    );
    w.cmd(&["HELLO", "3"]);
    assert_eq!(
        w.cmd(&["XREAD", "BLOCK", "10", "STREAMS", "s", "$"]),
        b"_\r\n"
    );
    w.cmd(&["HELLO", "2"]);
    let id = w.cmd_str(&["CLIENT", "ID"]).trim()[1..].to_string();
    w.send_cmd(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd_str(&["CLIENT", "UNBLOCK", &id]), ":1\r\n");
    assert_eq!(w.read_reply(), b"*-1\r\n");
    // A reader that hangs up leaves the queue.
    {
        let mut gone = server.connect();
        gone.send_cmd(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]);
        wait_blocked(&mut admin, 1);
    }
    wait_blocked(&mut admin, 0);
    // Inside MULTI a blocking read answers at once.
    assert_eq!(w.cmd_str(&["MULTI"]), "+OK\r\n");
    w.cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    assert_eq!(w.cmd(&["EXEC"]), b"*1\r\n*-1\r\n");
}

#[test]
fn blocked_xreadgroup_is_served_and_told_when_its_group_or_stream_goes() {
    let server = TestServer::start();
    let mut admin = server.connect();
    let mut w = server.connect();
    admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    block_xreadgroup(&mut w);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["XADD", "s", "1-0", "f", "v"]);
    assert_eq!(read(&mut w), read_reply("s", &[entry("1-0", &["f", "v"])]));
    assert_eq!(
        admin
            .cmd_str(&["XPENDING", "s", "g", "-", "+", "10"])
            .matches("1-0")
            .count(),
        1
    );
    block_xreadgroup(&mut w);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["XGROUP", "DESTROY", "s", "g"]);
    assert_eq!(
        read(&mut w),
        "-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
    );
    admin.cmd(&["XGROUP", "CREATE", "s", "g", "$"]);
    block_xreadgroup(&mut w);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["DEL", "s"]);
    assert_eq!(
        read(&mut w),
        "-UNBLOCKED the stream key no longer exists\r\n"
    );
    assert!(admin
        .cmd_str(&["INFO", "errorstats"])
        .contains("errorstat_NOGROUP:count=1"));
}

#[test]
fn shutdown_wakes_blocked_readers() {
    let mut server = TestServer::start();
    let mut admin = server.connect();
    let mut waiters: Vec<Conn> = (0..20)
        .map(|i| {
            let mut w = server.connect();
            w.send_cmd(&[
                b"XREAD",
                b"BLOCK",
                b"0",
                b"STREAMS",
                format!("k{i}").as_bytes(),
                b"$",
            ]);
            w
        })
        .collect();
    wait_blocked(&mut admin, 20);
    server.stop();
    for w in &mut waiters {
        assert!(w.is_closed(), "a blocked reader outlived the server");
    }
}

/// Producers append while group consumers block for more: every entry is delivered exactly
/// once across the consumers, and the stream keeps every ID in order.
#[test]
fn concurrent_producers_and_group_consumers() {
    const PRODUCERS: usize = 4;
    const PER_PRODUCER: usize = 200;
    const CONSUMERS: usize = 3;
    let server = TestServer::start();
    let mut admin = server.connect();
    admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let total = PRODUCERS * PER_PRODUCER;
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|i| {
            let mut c = server.connect();
            let name = format!("c{i}");
            thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    let r = c.cmd_str(&[
                        "XREADGROUP",
                        "GROUP",
                        "g",
                        &name,
                        "COUNT",
                        "7",
                        "BLOCK",
                        "300",
                        "STREAMS",
                        "s",
                        ">",
                    ]);
                    if r == "*-1\r\n" {
                        return got;
                    }
                    got.extend(
                        r.split("\r\n")
                            .filter(|l| l.contains('-') && !l.starts_with('$'))
                            .map(String::from),
                    );
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let mut c = server.connect();
            thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    let r =
                        c.cmd_str(&["XADD", "s", "*", "p", &p.to_string(), "i", &i.to_string()]);
                    assert!(r.starts_with('$'), "{r}");
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut all: Vec<String> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert_eq!(all.len(), total, "every entry delivered once");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "no entry delivered twice");
    assert_eq!(admin.cmd_str(&["XLEN", "s"]), format!(":{total}\r\n"));
    assert!(admin
        .cmd_str(&["XPENDING", "s", "g"])
        .starts_with(&format!("*4\r\n:{total}\r\n")));
}

#[test]
fn a_stream_expired_by_active_expiry_tells_its_xreadgroup_waiters() {
    let server = TestServer::start();
    let mut admin = server.connect();
    let mut w = server.connect();
    admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    block_xreadgroup(&mut w);
    wait_blocked(&mut admin, 1);
    // Nobody touches the key again: only the background cycle finds it expired.
    admin.cmd(&["PEXPIRE", "s", "50"]);
    assert_eq!(
        read(&mut w),
        "-UNBLOCKED the stream key no longer exists\r\n"
    );
    assert_eq!(admin.cmd_str(&["EXISTS", "s"]), ":0\r\n");
}
