//! Pub/sub across threads: a publisher never waits on a subscriber, a subscriber that never
//! reads is cut off at its output limit, and messages from many publishers arrive whole and
//! in each publisher's order. Bounded loops, no timing assertions.

mod common;
use common::{encode_cmd, leaves, Conn, TestServer};

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

fn frame(parts: &[&[u8]]) -> Vec<u8> {
    encode_cmd(parts)
}

#[test]
fn confirmations_come_before_messages_and_subscribers_get_each_message_once() {
    let server = TestServer::start();
    let mut sub = server.connect();
    let mut publisher = server.connect();
    // Pipelined: the PING's reply, then the confirmations, then the message.
    sub.send(
        &[
            encode_cmd(&[b"PING"]),
            encode_cmd(&[b"SUBSCRIBE", b"a", b"b"]),
        ]
        .concat(),
    );
    assert_eq!(sub.read_reply(), b"+PONG\r\n");
    assert_eq!(
        sub.read_reply(),
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n".to_vec()
    );
    assert_eq!(
        sub.read_reply(),
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n".to_vec()
    );
    assert_eq!(publisher.cmd(&["PUBLISH", "b", "hello"]), b":1\r\n");
    assert_eq!(sub.read_reply(), frame(&[b"message", b"b", b"hello"]));
    assert_eq!(publisher.cmd(&["PUBLISH", "zz", "x"]), b":0\r\n");
    sub.send_cmd(&[b"PING"]);
    assert_eq!(sub.read_reply(), frame(&[b"pong", b""]));
}

/// Eight publishers flood one channel with numbered messages while four subscribers read:
/// every subscriber gets every message exactly once, whole, and in each publisher's order.
#[test]
fn concurrent_publishers_deliver_whole_ordered_messages() {
    const PUBLISHERS: usize = 8;
    const MESSAGES: usize = 500;
    let server = TestServer::start();
    let mut subs: Vec<Conn> = (0..4)
        .map(|_| {
            let mut s = server.connect();
            s.send_cmd(&[b"SUBSCRIBE", b"flood"]);
            assert!(leaves(&s.read_reply()).contains(&"subscribe".to_string()));
            s
        })
        .collect();
    let handles: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let mut c = server.connect();
            thread::spawn(move || {
                for i in 0..MESSAGES {
                    // Sizes vary so that frames straddle socket writes.
                    let body = format!("{p}:{i}:{}", "x".repeat((i * 37) % 3000));
                    assert_eq!(c.cmd(&["PUBLISH", "flood", &body]), b":4\r\n");
                }
            })
        })
        .collect();
    let readers: Vec<_> = subs
        .drain(..)
        .map(|mut s| {
            thread::spawn(move || {
                let mut next = HashMap::new();
                for _ in 0..PUBLISHERS * MESSAGES {
                    let parts = leaves(&s.read_reply());
                    assert_eq!(parts[0], "message");
                    let mut it = parts[2].splitn(3, ':');
                    let p: usize = it.next().and_then(|v| v.parse().ok()).expect("publisher");
                    let i: usize = it.next().and_then(|v| v.parse().ok()).expect("number");
                    let want = next.entry(p).or_insert(0usize);
                    assert_eq!(i, *want, "publisher {p}'s messages out of order");
                    *want += 1;
                    assert_eq!(it.next().map(str::len), Some((i * 37) % 3000));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("publisher");
    }
    for r in readers {
        r.join().expect("subscriber");
    }
}

/// A subscriber that never reads does not slow its publisher down (PUBLISH keeps answering
/// while the subscriber's socket is full), and is disconnected once its queue passes the
/// pubsub hard limit; the server's other clients are served throughout.
#[test]
#[allow(clippy::disallowed_methods)]
fn a_subscriber_that_never_reads_is_cut_off_at_its_limit() {
    let server = TestServer::start();
    let mut admin = server.connect();
    assert_eq!(
        admin.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 2mb 1mb 60"
        ]),
        b"+OK\r\n"
    );
    let mut sleeper = server.connect();
    sleeper.send_cmd(&[b"SUBSCRIBE", b"firehose"]);
    sleeper.read_reply();
    let mut publisher = server.connect();
    let body = "y".repeat(64 * 1024);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = 0;
    // 64 KB messages: the socket buffers fill, then the outbox, then the limit cuts it off
    // and PUBLISH reaches nobody. Every PUBLISH answers on the way.
    loop {
        let reply = publisher.cmd(&["PUBLISH", "firehose", &body]);
        sent += 1;
        if reply == b":0\r\n" {
            break;
        }
        assert_eq!(reply, b":1\r\n");
        assert!(
            Instant::now() < deadline,
            "never cut off after {sent} messages"
        );
        assert!(sent < 10_000, "never cut off after {sent} messages");
    }
    assert_eq!(admin.cmd(&["PING"]), b"+PONG\r\n");
    let list = admin.cmd_str(&["CLIENT", "LIST"]);
    assert_eq!(
        list.lines().filter(|l| l.contains("flags=P")).count(),
        0,
        "{list}"
    );
}

/// A publisher that blocks writing its own replies (its client does not read) does not hold
/// back what it published: the subscriber gets the message at once.
#[test]
fn a_publisher_blocked_on_its_own_replies_does_not_hold_messages_back() {
    let server = TestServer::start();
    let mut admin = server.connect();
    let big = "z".repeat(1 << 20);
    assert_eq!(admin.cmd(&["SET", "big", &big]), b"+OK\r\n");
    let mut sub = server.connect();
    sub.send_cmd(&[b"SUBSCRIBE", b"ch"]);
    sub.read_reply();
    let mut publisher = server.connect();
    let mut batch = encode_cmd(&[b"PUBLISH", b"ch", b"hello"]);
    for _ in 0..60 {
        batch.extend(encode_cmd(&[b"GET", b"big"]));
    }
    // Sent, never read: the publisher's thread blocks writing 60 MB of replies.
    publisher.send(&batch);
    assert_eq!(sub.read_reply(), frame(&[b"message", b"ch", b"hello"]));
    drop(publisher);
}

/// A RESP3 subscriber parked in BLPOP keeps receiving messages, more than its socket holds
/// at once.
#[test]
fn a_resp3_subscriber_in_a_blocking_pop_keeps_receiving() {
    const MESSAGES: usize = 3000;
    let server = TestServer::start();
    let mut sub = server.connect();
    sub.cmd(&["HELLO", "3"]);
    sub.send_cmd(&[b"SUBSCRIBE", b"ch"]);
    sub.read_reply();
    sub.send_cmd(&[b"BLPOP", b"q", b"0"]);
    let mut publisher = server.connect();
    let body = "m".repeat(1024);
    let mut batch = Vec::new();
    for _ in 0..MESSAGES {
        batch.extend(encode_cmd(&[b"PUBLISH", b"ch", body.as_bytes()]));
    }
    publisher.send(&batch);
    for _ in 0..MESSAGES {
        let parts = leaves(&sub.read_reply());
        assert_eq!(parts[0], "message");
    }
    assert_eq!(publisher.cmd(&["RPUSH", "q", "x"]), b":1\r\n");
}

/// A long reply built while it is written (SRANDMEMBER with a large negative count) reaches a
/// RESP3 subscriber whole: no message lands inside it, however many are published meanwhile.
#[test]
fn no_message_lands_inside_a_long_reply() {
    const COUNT: usize = 50_000;
    let server = TestServer::start();
    let mut admin = server.connect();
    let members: Vec<String> = (0..100).map(|i| format!("member:{i}")).collect();
    let mut sadd = vec!["SADD", "s"];
    sadd.extend(members.iter().map(String::as_str));
    admin.cmd(&sadd);
    let mut sub = server.connect();
    sub.cmd(&["HELLO", "3"]);
    sub.send_cmd(&[b"SUBSCRIBE", b"ch"]);
    sub.read_reply();
    let addr = server.addr;
    let publisher = thread::spawn(move || {
        let mut p = Conn::connect(addr);
        for i in 0..2000 {
            p.cmd(&["PUBLISH", "ch", &format!("m{i}")]);
        }
    });
    sub.send_cmd(&[b"SRANDMEMBER", b"s", format!("-{COUNT}").as_bytes()]);
    loop {
        let reply = sub.read_reply();
        if reply.starts_with(b">") {
            continue;
        }
        assert!(reply.starts_with(format!("*{COUNT}\r\n").as_bytes()));
        let items = leaves(&reply);
        assert_eq!(items.len(), COUNT);
        assert!(
            items.iter().all(|m| m.starts_with("member:")),
            "a push inside the reply"
        );
        break;
    }
    publisher.join().expect("publisher");
}
