//! DUMP and RESTORE over the wire: payloads round-trip for every type, RESTORE's options and
//! errors, and RESTORE as a change WATCH and keyspace notifications see.

mod common;
use common::{check, TestServer};

/// The payload of a DUMP reply (a bulk string).
fn payload(reply: &[u8]) -> Vec<u8> {
    let text_end = reply.iter().position(|&b| b == b'\r').expect("header");
    let len: usize = std::str::from_utf8(&reply[1..text_end])
        .unwrap()
        .parse()
        .expect("bulk length");
    reply[text_end + 2..text_end + 2 + len].to_vec()
}

#[test]
fn every_type_round_trips_with_its_ttl() {
    let s = TestServer::start();
    let mut c = s.connect();
    let setup: &[&[&str]] = &[
        &["SET", "str", "hello"],
        &["RPUSH", "list", "a", "1", "bb"],
        &["HSET", "hash", "f", "v", "g", "12"],
        &["SADD", "ints", "3", "1", "2"],
        &["SADD", "strs", "x", "y"],
        &["ZADD", "zset", "1.5", "a", "-2", "b"],
        &["XADD", "stream", "1-1", "f", "v"],
        &["XGROUP", "CREATE", "stream", "g", "0"],
    ];
    for cmd in setup {
        assert!(!c.cmd(cmd).starts_with(b"-"), "{cmd:?}");
    }
    let reads: &[(&str, &[&str])] = &[
        ("str", &["GET", "{}"]),
        ("list", &["LRANGE", "{}", "0", "-1"]),
        ("hash", &["HGETALL", "{}"]),
        ("ints", &["SMEMBERS", "{}"]),
        ("strs", &["SCARD", "{}"]),
        ("zset", &["ZRANGE", "{}", "0", "-1", "WITHSCORES"]),
        ("stream", &["XINFO", "GROUPS", "{}"]),
    ];
    for (key, read) in reads {
        let dump = c.cmd(&["DUMP", key]);
        assert_eq!(dump[0], b'$', "{key}");
        let p = payload(&dump);
        let copy = format!("{key}:copy");
        c.send_cmd(&[b"RESTORE", copy.as_bytes(), b"60000", &p]);
        assert_eq!(c.read_reply(), b"+OK\r\n", "{key}");
        let run = |c: &mut common::Conn, k: &str| {
            let args: Vec<&str> = read
                .iter()
                .map(|&a| if a == "{}" { k } else { a })
                .collect();
            c.cmd(&args)
        };
        assert_eq!(run(&mut c, key), run(&mut c, &copy), "{key}");
        let ttl = c.cmd_str(&["PTTL", &copy]);
        let ms: i64 = ttl[1..ttl.len() - 2].parse().unwrap();
        assert!((59_000..=60_000).contains(&ms), "{key}: {ttl}");
        // Restored again over itself: BUSYKEY, then REPLACE.
        c.send_cmd(&[b"RESTORE", copy.as_bytes(), b"0", &p]);
        assert_eq!(
            c.read_reply(),
            b"-BUSYKEY Target key name already exists.\r\n"
        );
        c.send_cmd(&[b"RESTORE", copy.as_bytes(), b"0", &p, b"REPLACE"]);
        assert_eq!(c.read_reply(), b"+OK\r\n");
        check(&mut c, &[(&["PTTL", &copy], ":-1\r\n")]);
    }
}

#[test]
fn restore_errors() {
    let s = TestServer::start();
    let mut c = s.connect();
    check(
        &mut c,
        &[
            (&["DUMP", "missing"], "$-1\r\n"),
            (&["RESTORE", "k", "0", "x", "NOPE"], "-ERR syntax error\r\n"),
            (
                &["RESTORE", "k", "0", "x", "IDLETIME", "-1"],
                "-ERR Invalid IDLETIME value, must be >= 0\r\n",
            ),
            (
                &["RESTORE", "k", "0", "x", "FREQ", "300"],
                "-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n",
            ),
            (
                &["RESTORE", "k", "0", "x", "IDLETIME", "1", "FREQ", "1"],
                "-ERR syntax error\r\n",
            ),
            (
                &["RESTORE", "k", "-5", "x"],
                "-ERR Invalid TTL value, must be >= 0\r\n",
            ),
            (
                &["RESTORE", "k", "0", "not a payload"],
                "-ERR DUMP payload version or checksum are wrong\r\n",
            ),
            (&["EXISTS", "k"], ":0\r\n"),
        ],
    );
    // A valid frame around a body that is not a value.
    check(&mut c, &[(&["SET", "s", "v"], "+OK\r\n")]);
    let mut p = payload(&c.cmd(&["DUMP", "s"]));
    p[0] = 42;
    let body_len = p.len() - 8;
    let crc = spindle::store::crc64::crc64(0, &p[..body_len]);
    p[body_len..].copy_from_slice(&crc.to_le_bytes());
    c.send_cmd(&[b"RESTORE", b"k", b"0", &p]);
    assert_eq!(c.read_reply(), b"-ERR Bad data format\r\n");
    // A TTL already past: nothing is stored, and REPLACE still deletes.
    let p = payload(&c.cmd(&["DUMP", "s"]));
    c.send_cmd(&[b"RESTORE", b"s", b"1", &p, b"ABSTTL", b"REPLACE"]);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    check(&mut c, &[(&["EXISTS", "s"], ":0\r\n")]);
}

#[test]
fn restore_touches_watched_keys_and_notifies() {
    let s = TestServer::start();
    let mut c = s.connect();
    let mut w = s.connect();
    let mut sub = s.connect();
    check(
        &mut c,
        &[
            (&["SET", "src", "v"], "+OK\r\n"),
            (
                &["CONFIG", "SET", "notify-keyspace-events", "Eg"],
                "+OK\r\n",
            ),
        ],
    );
    let p = payload(&c.cmd(&["DUMP", "src"]));
    check(
        &mut sub,
        &[(
            &["SUBSCRIBE", "__keyevent@0__:restore"],
            "*3\r\n$9\r\nsubscribe\r\n$22\r\n__keyevent@0__:restore\r\n:1\r\n",
        )],
    );
    check(
        &mut w,
        &[(&["WATCH", "dst"], "+OK\r\n"), (&["MULTI"], "+OK\r\n")],
    );
    c.send_cmd(&[b"RESTORE", b"dst", b"0", &p]);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    check(
        &mut w,
        &[
            (&["SET", "dst", "mine"], "+QUEUED\r\n"),
            (&["EXEC"], "*-1\r\n"),
        ],
    );
    assert_eq!(
        sub.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:restore\r\n$3\r\ndst\r\n"
    );
}
