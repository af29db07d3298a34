//! List commands over the wire: replies byte for byte (make compat compares every option with
//! redis-server; these are the ones worth keeping in `make test` too), the wrong type, empty
//! lists ceasing to exist, and lists large enough to span many packed nodes.

mod common;
use common::{check, encode_cmd, Conn, TestServer};

fn bulks(items: &[&str]) -> String {
    let mut s = format!("*{}\r\n", items.len());
    for i in items {
        s.push_str(&format!("${}\r\n{i}\r\n", i.len()));
    }
    s
}

const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

#[test]
fn push_pop_range_and_friends() {
    let server = TestServer::start();
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (&["RPUSH", "l", "a", "b", "c"], ":3\r\n"),
            (&["LPUSH", "l", "z"], ":4\r\n"),
            (&["LRANGE", "l", "0", "-1"], &bulks(&["z", "a", "b", "c"])),
            (&["LINDEX", "l", "-1"], "$1\r\nc\r\n"),
            (&["LINDEX", "l", "9"], "$-1\r\n"),
            (&["LSET", "l", "9", "x"], "-ERR index out of range\r\n"),
            (&["LSET", "nokey", "0", "x"], "-ERR no such key\r\n"),
            (&["LINSERT", "l", "AFTER", "a", "a2"], ":5\r\n"),
            (&["LINSERT", "l", "BEFORE", "nope", "x"], ":-1\r\n"),
            (&["LPOS", "l", "b"], ":3\r\n"),
            (&["LPOP", "l", "2"], &bulks(&["z", "a"])),
            (&["RPOP", "l"], "$1\r\nc\r\n"),
            (&["LPOP", "l", "0"], "*0\r\n"),
            (&["LPOP", "nokey", "1"], "*-1\r\n"),
            (&["LPOP", "nokey"], "$-1\r\n"),
            (&["LMOVE", "l", "l2", "LEFT", "RIGHT"], "$2\r\na2\r\n"),
            (&["RPOPLPUSH", "l", "l2"], "$1\r\nb\r\n"),
            // The list became empty: it is gone.
            (&["EXISTS", "l"], ":0\r\n"),
            (&["LRANGE", "l2", "0", "-1"], &bulks(&["b", "a2"])),
            (
                &["LMPOP", "2", "l", "l2", "RIGHT", "COUNT", "5"],
                "*2\r\n$2\r\nl2\r\n*2\r\n$2\r\na2\r\n$1\r\nb\r\n",
            ),
            (&["LMPOP", "1", "l2", "LEFT"], "*-1\r\n"),
            (&["RPUSH", "t", "1", "2", "3", "4", "5"], ":5\r\n"),
            (&["LTRIM", "t", "1", "-2"], "+OK\r\n"),
            (&["LRANGE", "t", "0", "-1"], &bulks(&["2", "3", "4"])),
            (&["LREM", "t", "0", "3"], ":1\r\n"),
            (&["LTRIM", "t", "5", "1"], "+OK\r\n"),
            (&["EXISTS", "t"], ":0\r\n"),
            (&["TYPE", "l2"], "+none\r\n"),
        ],
    );
}

#[test]
fn the_wrong_type_everywhere() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.cmd(&["SET", "s", "v"]);
    c.cmd(&["RPUSH", "l", "x"]);
    for cmd in [
        &["LPUSH", "s", "a"][..],
        &["LPOP", "s"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "1"],
        &["LMOVE", "l", "s", "LEFT", "LEFT"],
        &["GET", "l"],
        &["APPEND", "l", "x"],
        &["INCR", "l"],
        &["SETRANGE", "l", "0", "x"],
        &["HSET", "l", "f", "v"],
    ] {
        assert_eq!(c.cmd_str(cmd), WRONGTYPE, "{cmd:?}");
    }
    // The failed LMOVE moved nothing; a plain SET replaces any type.
    assert_eq!(c.cmd_str(&["LLEN", "l"]), ":1\r\n");
    assert_eq!(c.cmd_str(&["SET", "l", "now a string"]), "+OK\r\n");
    assert_eq!(c.cmd_str(&["TYPE", "l"]), "+string\r\n");
}

/// A list large enough to span many packed nodes behaves the same from both ends and in the
/// middle, and costs about two bytes over its elements.
#[test]
fn a_long_list_across_many_nodes() {
    const N: usize = 20_000;
    let server = TestServer::start();
    let mut c = server.connect();
    let mut pipeline = Vec::new();
    for i in 0..N {
        pipeline.extend(encode_cmd(&[
            b"RPUSH",
            b"big",
            format!("e{i:08}").as_bytes(),
        ]));
    }
    c.send(&pipeline);
    for i in 0..N {
        assert_eq!(c.read_reply(), format!(":{}\r\n", i + 1).into_bytes());
    }
    check(
        &mut c,
        &[
            (&["LLEN", "big"], &format!(":{N}\r\n")),
            (&["LINDEX", "big", "12345"], "$9\r\ne00012345\r\n"),
            (
                &["LINDEX", "big", "-1"],
                &format!("$9\r\ne{:08}\r\n", N - 1),
            ),
            (
                &["LRANGE", "big", "9998", "10001"],
                &bulks(&["e00009998", "e00009999", "e00010000", "e00010001"]),
            ),
            (&["LSET", "big", "10000", "middle"], "+OK\r\n"),
            (
                &["LINSERT", "big", "BEFORE", "middle", "before-middle"],
                &format!(":{}\r\n", N + 1),
            ),
            (&["LPOS", "big", "middle"], ":10001\r\n"),
            (&["LREM", "big", "-1", "before-middle"], ":1\r\n"),
            (&["LINDEX", "big", "10000"], "$6\r\nmiddle\r\n"),
            (&["LTRIM", "big", "100", "-101"], "+OK\r\n"),
            (&["LLEN", "big"], &format!(":{}\r\n", N - 200)),
            (&["LINDEX", "big", "0"], "$9\r\ne00000100\r\n"),
            (&["OBJECT", "ENCODING", "big"], "$9\r\nquicklist\r\n"),
        ],
    );
    let usage: usize = c.cmd_str(&["MEMORY", "USAGE", "big"]).trim()[1..]
        .parse()
        .unwrap();
    let per_element = usage as f64 / (N - 200) as f64;
    assert!(
        per_element < 13.0,
        "{per_element:.1} bytes per 9-byte element"
    );
}

/// Many clients push onto one list while as many pop it with BLPOP: every element is popped
/// exactly once.
#[test]
fn many_clients_push_and_pop_one_list() {
    const CLIENTS: usize = 8;
    const EACH: usize = 500;
    let server = TestServer::start();
    let addr = server.addr;
    let pushers: Vec<_> = (0..CLIENTS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                for i in 0..EACH {
                    c.cmd(&["RPUSH", "shared", &format!("{t}:{i}")]);
                }
            })
        })
        .collect();
    let poppers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                let mut got = Vec::new();
                while got.len() < EACH {
                    let r = c.cmd_str(&["BLPOP", "shared", "5"]);
                    assert!(r.starts_with("*2\r\n"), "{r:?}");
                    got.push(r.rsplit("\r\n").nth(1).unwrap().to_string());
                }
                got
            })
        })
        .collect();
    for p in pushers {
        p.join().unwrap();
    }
    let mut all: Vec<String> = poppers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        CLIENTS * EACH,
        "every element popped exactly once"
    );
    let mut c = server.connect();
    assert_eq!(c.cmd_str(&["EXISTS", "shared"]), ":0\r\n");
}
