//! Keyspace, expiry and database commands, exact RESP bytes on 127.0.0.1:0.

mod common;
use common::{check, TestServer};

/// The elements of a flat array reply of bulk strings, sorted.
fn sorted_bulks(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply);
    let mut out: Vec<String> = text
        .split("\r\n")
        .skip(1)
        .collect::<Vec<_>>()
        .chunks(2)
        .filter(|p| p.len() == 2)
        .map(|p| p[1].to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn basic_keyspace() {
    let s = TestServer::start();
    let mut c = s.connect();
    check(
        &mut c,
        &[
            (&["MSET", "a", "1", "b", "2", "c", "3"], "+OK\r\n"),
            (&["EXISTS", "a", "a", "zz"], ":2\r\n"),
            (&["TOUCH", "a", "zz"], ":1\r\n"),
            (&["TYPE", "a"], "+string\r\n"),
            (&["TYPE", "zz"], "+none\r\n"),
            (&["DEL", "a", "zz"], ":1\r\n"),
            (&["UNLINK", "b"], ":1\r\n"),
            (&["DBSIZE"], ":1\r\n"),
            (&["RENAME", "c", "d"], "+OK\r\n"),
            (&["RENAME", "c", "d"], "-ERR no such key\r\n"),
            (&["RENAME", "d", "d"], "+OK\r\n"),
            (&["SET", "e", "5"], "+OK\r\n"),
            (&["RENAMENX", "d", "e"], ":0\r\n"),
            (&["RENAMENX", "d", "f"], ":1\r\n"),
            (&["COPY", "f", "e"], ":0\r\n"),
            (&["COPY", "f", "e", "REPLACE"], ":1\r\n"),
            (&["GET", "e"], "$1\r\n3\r\n"),
            (
                &["COPY", "f", "f"],
                "-ERR source and destination objects are the same\r\n",
            ),
            (&["COPY", "f", "f", "DB", "1"], ":1\r\n"),
            (
                &["COPY", "f", "x", "DB", "99"],
                "-ERR DB index is out of range\r\n",
            ),
            (&["COPY", "f", "x", "BOGUS"], "-ERR syntax error\r\n"),
            (
                &["MOVE", "f", "0"],
                "-ERR source and destination objects are the same\r\n",
            ),
            (&["MOVE", "f", "1"], ":0\r\n"),
            (&["MOVE", "e", "1"], ":1\r\n"),
            (&["SELECT", "1"], "+OK\r\n"),
            (&["MGET", "e", "f"], "*2\r\n$1\r\n3\r\n$1\r\n3\r\n"),
            (&["SELECT", "16"], "-ERR DB index is out of range\r\n"),
            (
                &["SELECT", "x"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (&["SWAPDB", "0", "1"], "+OK\r\n"),
            (&["DBSIZE"], ":1\r\n"),
            (&["SWAPDB", "0", "x"], "-ERR invalid second DB index\r\n"),
            (&["FLUSHDB"], "+OK\r\n"),
            (&["DBSIZE"], ":0\r\n"),
            (&["FLUSHALL", "ASYNC"], "+OK\r\n"),
            (&["FLUSHALL", "NOW"], "-ERR syntax error\r\n"),
            (&["RANDOMKEY"], "$-1\r\n"),
        ],
    );
}

#[test]
fn keys_glob_and_scan() {
    let s = TestServer::start();
    let mut c = s.connect();
    for k in [
        "hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "other",
    ] {
        c.cmd(&["SET", k, "1"]);
    }
    assert_eq!(
        sorted_bulks(&c.cmd(&["KEYS", "h?llo"])),
        ["h*llo", "hallo", "hello", "hxllo"]
    );
    assert_eq!(
        sorted_bulks(&c.cmd(&["KEYS", "h[ae]llo"])),
        ["hallo", "hello"]
    );
    assert_eq!(
        sorted_bulks(&c.cmd(&["KEYS", "h[^e]llo"])),
        ["h*llo", "hallo", "hxllo"]
    );
    assert_eq!(sorted_bulks(&c.cmd(&["KEYS", "h\\*llo"])), ["h*llo"]);
    assert!(c.cmd(&["KEYS", "*"]).starts_with(b"*7\r\n"));

    // A full SCAN returns every key exactly as KEYS does.
    for i in 0..500 {
        c.cmd(&["SET", &format!("key:{i}"), "v"]);
    }
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    loop {
        let reply = c.cmd_str(&["SCAN", &cursor, "MATCH", "key:*", "COUNT", "50"]);
        let mut lines = reply.split("\r\n");
        assert_eq!(lines.next(), Some("*2"));
        lines.next();
        cursor = lines.next().unwrap().to_string();
        let rest: Vec<&str> = lines.collect();
        for pair in rest[1..].chunks(2) {
            if pair.len() == 2 && !pair[1].is_empty() {
                seen.insert(pair[1].to_string());
            }
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 500);
    assert!(seen.iter().all(|k| k.starts_with("key:")));
    check(
        &mut c,
        &[
            (&["SCAN", "x"], "-ERR invalid cursor\r\n"),
            (&["SCAN", "0", "COUNT", "0"], "-ERR syntax error\r\n"),
            (
                &["SCAN", "0", "COUNT", "x"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (&["SCAN", "0", "MATCH"], "-ERR syntax error\r\n"),
            (
                &["SCAN", "0", "TYPE", "list", "COUNT", "1000"],
                "*2\r\n$1\r\n0\r\n*0\r\n",
            ),
        ],
    );
}

#[test]
fn expiry() {
    let s = TestServer::start();
    let mut c = s.connect();
    check(
        &mut c,
        &[
            (&["SET", "k", "v"], "+OK\r\n"),
            (&["TTL", "k"], ":-1\r\n"),
            (&["TTL", "nope"], ":-2\r\n"),
            (&["PTTL", "nope"], ":-2\r\n"),
            (&["EXPIRETIME", "k"], ":-1\r\n"),
            (&["EXPIRE", "k", "100", "XX"], ":0\r\n"),
            (&["EXPIRE", "k", "100", "GT"], ":0\r\n"),
            (&["EXPIRE", "k", "100", "NX"], ":1\r\n"),
            (&["EXPIRE", "k", "200", "NX"], ":0\r\n"),
            (&["EXPIRE", "k", "50", "GT"], ":0\r\n"),
            (&["EXPIRE", "k", "200", "GT"], ":1\r\n"),
            (&["EXPIRE", "k", "300", "LT"], ":0\r\n"),
            (&["EXPIRE", "k", "100", "LT"], ":1\r\n"),
            (&["TTL", "k"], ":100\r\n"),
            (
                &["EXPIRE", "k", "1", "NX", "XX"],
                "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
            ),
            (
                &["EXPIRE", "k", "1", "GT", "LT"],
                "-ERR GT and LT options at the same time are not compatible\r\n",
            ),
            (
                &["EXPIRE", "k", "1", "FOO"],
                "-ERR Unsupported option FOO\r\n",
            ),
            (
                &["EXPIRE", "k", "x"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (
                &["EXPIRE", "k", "9223372036854775807"],
                "-ERR invalid expire time in 'expire' command\r\n",
            ),
            (&["PERSIST", "k"], ":1\r\n"),
            (&["PERSIST", "k"], ":0\r\n"),
            (&["PEXPIREAT", "k", "99999999999999"], ":1\r\n"),
            (&["PEXPIRETIME", "k"], ":99999999999999\r\n"),
            (&["EXPIRETIME", "k"], ":100000000000\r\n"),
            (&["EXPIRE", "k", "-1"], ":1\r\n"),
            (&["EXISTS", "k"], ":0\r\n"),
            (&["EXPIRE", "nope", "10"], ":0\r\n"),
        ],
    );
}

#[test]
fn expired_keys_are_invisible_everywhere() {
    let s = TestServer::start();
    let mut c = s.connect();
    c.cmd(&["SET", "stay", "1"]);
    for i in 0..50 {
        c.cmd(&["SET", &format!("gone:{i}"), "1", "PX", "30"]);
    }
    std::thread::sleep(std::time::Duration::from_millis(80));
    check(
        &mut c,
        &[
            (&["GET", "gone:1"], "$-1\r\n"),
            (&["EXISTS", "gone:2"], ":0\r\n"),
            (&["KEYS", "*"], "*1\r\n$4\r\nstay\r\n"),
            (
                &["SCAN", "0", "COUNT", "1000"],
                "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nstay\r\n",
            ),
            (&["RANDOMKEY"], "$4\r\nstay\r\n"),
        ],
    );
    // DBSIZE counts a key past its time until it is deleted, as Redis's does; active expiry
    // deletes them.
    common::wait_for("active expiry", || c.cmd(&["DBSIZE"]) == b":1\r\n");
}

#[test]
fn active_expiry_reclaims_memory_without_access() {
    let s = TestServer::start();
    let mut c = s.connect();
    for i in 0..1000 {
        c.cmd(&["SET", &format!("k{i}"), "1", "PX", "10"]);
    }
    // The keys are reclaimed by the background cycle: INFO's keyspace line disappears.
    let mut reclaimed = false;
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let info = c.cmd_str(&["INFO", "stats"]);
        if info.contains("expired_keys:1000\r\n") {
            reclaimed = true;
            break;
        }
    }
    assert!(reclaimed, "active expiry did not reclaim the keys");
}

/// Redis deletes an expired key when a read finds it (unit/expire "Redis should lazy expire
/// keys"): with active expiry off, an MGET of three expired keys leaves DBSIZE at what is left.
#[test]
fn a_read_deletes_the_expired_keys_it_finds() {
    let s = common::BinServer::start(&["--enable-debug-command", "yes"]);
    let mut c = s.connect();
    assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), b"+OK\r\n");
    for k in ["a", "b", "c"] {
        assert_eq!(c.cmd(&["SET", k, "1", "PX", "20"]), b"+OK\r\n");
    }
    assert_eq!(c.cmd(&["SET", "stay", "1"]), b"+OK\r\n");
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(c.cmd(&["DBSIZE"]), b":4\r\n");
    assert_eq!(
        c.cmd(&["MGET", "a", "b", "c"]),
        b"*3\r\n$-1\r\n$-1\r\n$-1\r\n"
    );
    assert_eq!(c.cmd(&["DBSIZE"]), b":1\r\n");
    assert!(c.cmd_str(&["INFO", "stats"]).contains("expired_keys:3\r\n"));
    // SCAN deletes the expired keys it meets, and RANDOMKEY those it samples.
    for k in ["d", "e"] {
        assert_eq!(c.cmd(&["SET", k, "1", "PX", "20"]), b"+OK\r\n");
    }
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(c.cmd(&["DBSIZE"]), b":3\r\n");
    // KEYS only skips them, as Redis's does.
    assert_eq!(c.cmd(&["KEYS", "*"]), b"*1\r\n$4\r\nstay\r\n");
    assert_eq!(c.cmd(&["DBSIZE"]), b":3\r\n");
    c.cmd(&["SCAN", "0", "COUNT", "100"]);
    assert_eq!(c.cmd(&["DBSIZE"]), b":1\r\n");
    assert_eq!(c.cmd(&["SET", "f", "1", "PX", "20"]), b"+OK\r\n");
    std::thread::sleep(std::time::Duration::from_millis(60));
    // Each RANDOMKEY samples the expired key about half the time.
    for _ in 0..100 {
        if c.cmd(&["DBSIZE"]) == b":1\r\n" {
            break;
        }
        assert_eq!(c.cmd(&["RANDOMKEY"]), b"$4\r\nstay\r\n");
    }
    assert_eq!(c.cmd(&["DBSIZE"]), b":1\r\n");
    assert!(c.cmd_str(&["INFO", "stats"]).contains("expired_keys:6\r\n"));
    // DEBUG OBJECT looks at what is stored, as Redis's does: an expired key no one has
    // deleted yet is still there for it (and it deletes nothing), until a read finds it.
    assert_eq!(c.cmd(&["SET", "g", "1", "PX", "20"]), b"+OK\r\n");
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert!(c
        .cmd_str(&["DEBUG", "OBJECT", "g"])
        .starts_with("+Value at:"));
    assert_eq!(c.cmd(&["DBSIZE"]), b":2\r\n");
    assert_eq!(c.cmd(&["EXISTS", "g"]), b":0\r\n");
    assert_eq!(c.cmd(&["DEBUG", "OBJECT", "g"]), b"-ERR no such key\r\n");
}
