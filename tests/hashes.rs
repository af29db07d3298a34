//! Hash commands over the wire: replies byte for byte in RESP2 and RESP3, the switch from the
//! packed form to the table, HRANDFIELD's counts, and HSCAN's guarantee.

mod common;
use common::{check, TestServer};

use std::collections::HashSet;

#[test]
fn set_get_and_friends() {
    let server = TestServer::start();
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (&["HSET", "h", "a", "1", "b", "2"], ":2\r\n"),
            (&["HSET", "h", "a", "10", "c", "3"], ":1\r\n"),
            (&["HMSET", "h", "d", "4"], "+OK\r\n"),
            (&["HSETNX", "h", "a", "x"], ":0\r\n"),
            (&["HGET", "h", "a"], "$2\r\n10\r\n"),
            (&["HMGET", "h", "a", "nope"], "*2\r\n$2\r\n10\r\n$-1\r\n"),
            (&["HLEN", "h"], ":4\r\n"),
            (&["HSTRLEN", "h", "a"], ":2\r\n"),
            (&["HEXISTS", "h", "nope"], ":0\r\n"),
            (
                &["HKEYS", "h"],
                "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n",
            ),
            (&["HINCRBY", "h", "a", "5"], ":15\r\n"),
            (
                &["HINCRBY", "h", "a", "9223372036854775807"],
                "-ERR increment or decrement would overflow\r\n",
            ),
            (&["HINCRBYFLOAT", "h", "f", "10.5"], "$4\r\n10.5\r\n"),
            (&["HINCRBYFLOAT", "h", "f", "0.1"], "$4\r\n10.6\r\n"),
            (&["HSET", "h", "s", "str"], ":1\r\n"),
            (
                &["HINCRBY", "h", "s", "1"],
                "-ERR hash value is not an integer\r\n",
            ),
            (
                &["HINCRBYFLOAT", "h", "s", "1"],
                "-ERR hash value is not a float\r\n",
            ),
            (&["HDEL", "h", "a", "b", "c", "d", "f", "s"], ":6\r\n"),
            (&["EXISTS", "h"], ":0\r\n"),
            (
                &["HSET", "h", "odd"],
                "-ERR wrong number of arguments for 'hset' command\r\n",
            ),
            (&["HGETALL", "nohash"], "*0\r\n"),
        ],
    );
    c.cmd(&["HSET", "m", "k", "v"]);
    assert_eq!(c.cmd_str(&["HGETALL", "m"]), "*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.cmd_str(&["HGETALL", "m"]), "%1\r\n$1\r\nk\r\n$1\r\nv\r\n");
    assert_eq!(
        c.cmd_str(&["HRANDFIELD", "m", "-2", "WITHVALUES"]),
        "*2\r\n*2\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$1\r\nk\r\n$1\r\nv\r\n"
    );
    assert_eq!(c.cmd_str(&["HGETALL", "nohash"]), "%0\r\n");
}

#[test]
fn the_packed_form_switches_to_a_table_at_the_thresholds() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.cmd(&["CONFIG", "SET", "hash-max-listpack-entries", "4"]);
    for i in 0..4 {
        c.cmd(&["HSET", "h", &format!("f{i}"), "v"]);
    }
    assert_eq!(
        c.cmd_str(&["OBJECT", "ENCODING", "h"]),
        "$8\r\nlistpack\r\n"
    );
    c.cmd(&["HSET", "h", "f4", "v"]);
    assert_eq!(
        c.cmd_str(&["OBJECT", "ENCODING", "h"]),
        "$9\r\nhashtable\r\n"
    );
    // Never back.
    c.cmd(&["HDEL", "h", "f0", "f1", "f2"]);
    assert_eq!(
        c.cmd_str(&["OBJECT", "ENCODING", "h"]),
        "$9\r\nhashtable\r\n"
    );
    assert_eq!(c.cmd_str(&["HLEN", "h"]), ":2\r\n");
    c.cmd(&["CONFIG", "SET", "hash-max-ziplist-value", "3"]);
    c.cmd(&["HSET", "v", "f", "abcd"]);
    assert_eq!(
        c.cmd_str(&["OBJECT", "ENCODING", "v"]),
        "$9\r\nhashtable\r\n"
    );
}

#[test]
fn hrandfield_counts() {
    let server = TestServer::start();
    let mut c = server.connect();
    for i in 0..20 {
        c.cmd(&["HSET", "h", &format!("f{i}"), &format!("v{i}")]);
    }
    let fields = |reply: String| -> Vec<String> {
        reply
            .split("\r\n")
            .skip(1)
            .filter(|l| !l.starts_with('$') && !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    // A positive count: distinct fields, no more than there are.
    let got = fields(c.cmd_str(&["HRANDFIELD", "h", "7"]));
    assert_eq!(got.len(), 7);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 7);
    assert_eq!(fields(c.cmd_str(&["HRANDFIELD", "h", "100"])).len(), 20);
    // A negative count: exactly that many, repeats allowed.
    assert_eq!(fields(c.cmd_str(&["HRANDFIELD", "h", "-50"])).len(), 50);
    // WITHVALUES pairs each field with its own value.
    let pairs = fields(c.cmd_str(&["HRANDFIELD", "h", "-30", "WITHVALUES"]));
    assert_eq!(pairs.len(), 60);
    for p in pairs.chunks(2) {
        assert_eq!(p[0][1..], p[1][1..], "{p:?}");
    }
    // A huge negative count is streamed, never built whole: the reply starts at once.
    c.send(b"HRANDFIELD h -3000000\r\n");
    let head = c.read_exact(10);
    assert_eq!(&head, b"*3000000\r\n");
}

#[test]
fn hscan_returns_every_field_present_throughout() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.cmd(&["CONFIG", "SET", "hash-max-listpack-entries", "8"]);
    for i in 0..1000 {
        c.cmd(&["HSET", "h", &format!("f{i}"), "v"]);
    }
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut step = 0;
    loop {
        let reply = c.cmd_str(&["HSCAN", "h", &cursor, "COUNT", "20"]);
        let lines: Vec<&str> = reply.split("\r\n").collect();
        cursor = lines[2].to_string();
        for l in lines.iter().skip(5).step_by(4) {
            if l.starts_with('f') {
                seen.insert(l.to_string());
            }
        }
        step += 1;
        // Grow and shrink the table while the scan runs; f0..f499 stay throughout.
        if step == 5 {
            for i in 1000..5000 {
                c.cmd(&["HSET", "h", &format!("f{i}"), "v"]);
            }
        }
        if step == 20 {
            for i in 500..5000 {
                c.cmd(&["HDEL", "h", &format!("f{i}")]);
            }
        }
        if cursor == "0" {
            break;
        }
    }
    for i in 0..500 {
        assert!(seen.contains(&format!("f{i}")), "f{i} missed by HSCAN");
    }
}
