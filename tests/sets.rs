//! Set commands over the wire: exact replies in RESP2 and RESP3, the forms a set moves
//! through, SPOP and SRANDMEMBER's guarantees, the algebra against a model, and SSCAN's
//! guarantee on a big set that changes while it is scanned.

mod common;
use common::{check, leaves, Conn, TestServer};

use std::collections::{BTreeSet, HashSet};

fn members(c: &mut Conn, args: &[&str]) -> BTreeSet<String> {
    leaves(&c.cmd(args)).into_iter().collect()
}

#[test]
fn replies_in_both_protocols() {
    let server = TestServer::start();
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (&["SADD", "s", "3", "1", "2", "1"], ":3\r\n"),
            // An all-integer set is an intset, and answers in order.
            (
                &["SMEMBERS", "s"],
                "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n",
            ),
            (&["OBJECT", "ENCODING", "s"], "$6\r\nintset\r\n"),
            (&["SISMEMBER", "s", "2"], ":1\r\n"),
            (
                &["SMISMEMBER", "s", "2", "02", "x"],
                "*3\r\n:1\r\n:0\r\n:0\r\n",
            ),
            (&["SADD", "s", "a"], ":1\r\n"),
            (&["OBJECT", "ENCODING", "s"], "$9\r\nhashtable\r\n"),
            (&["SCARD", "s"], ":4\r\n"),
            (&["SREM", "s", "a", "1", "nope"], ":2\r\n"),
            (
                &["SPOP", "s", "-1"],
                "-ERR value is out of range, must be positive\r\n",
            ),
            (&["SPOP", "nosuch", "3"], "*0\r\n"),
            (&["SET", "str", "x"], "+OK\r\n"),
            (
                &["SADD", "str", "a"],
                "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            ),
            (
                &["SINTER", "nosuch", "str"],
                "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            ),
            (&["SMOVE", "nosuch", "str", "a"], ":0\r\n"),
        ],
    );
    c.cmd(&["HELLO", "3"]);
    check(
        &mut c,
        &[
            (&["SMEMBERS", "nosuch"], "~0\r\n"),
            (&["SPOP", "s", "0"], "~0\r\n"),
            (&["SRANDMEMBER", "nosuch", "5"], "*0\r\n"),
            (&["SPOP", "nosuch"], "_\r\n"),
        ],
    );
}

#[test]
fn every_form_matches_a_model() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.cmd(&["CONFIG", "SET", "set-max-intset-entries", "20"]);
    let mut model = BTreeSet::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for step in 0..3000 {
        let r = rnd();
        // Integers first (the intset), then short strings (packed), then long ones (table).
        let m = match step / 1000 {
            0 => format!("{}", r % 40),
            1 => format!("m{}", r % 200),
            _ => format!("{}{}", "x".repeat(70), r % 300),
        };
        if rnd() % 3 == 0 {
            let want = i64::from(model.remove(&m));
            assert_eq!(c.cmd_str(&["SREM", "k", &m]), format!(":{want}\r\n"));
        } else {
            let want = i64::from(model.insert(m.clone()));
            assert_eq!(c.cmd_str(&["SADD", "k", &m]), format!(":{want}\r\n"));
        }
        if step % 250 == 0 {
            assert_eq!(members(&mut c, &["SMEMBERS", "k"]), model);
        }
    }
    assert_eq!(members(&mut c, &["SMEMBERS", "k"]), model);
    assert_eq!(
        c.cmd_str(&["OBJECT", "ENCODING", "k"]),
        "$9\r\nhashtable\r\n"
    );
}

#[test]
fn algebra_matches_a_model() {
    let server = TestServer::start();
    let mut c = server.connect();
    let sets: Vec<BTreeSet<String>> = (0..3)
        .map(|k| {
            (0..400)
                .filter(|i| i % (k + 2) == 0)
                .map(|i| format!("e{i}"))
                .collect()
        })
        .collect();
    for (k, s) in sets.iter().enumerate() {
        let mut args = vec!["SADD".to_string(), format!("s{k}")];
        args.extend(s.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        c.cmd(&args);
    }
    let inter: BTreeSet<String> = sets[0]
        .iter()
        .filter(|m| sets[1].contains(*m) && sets[2].contains(*m))
        .cloned()
        .collect();
    let union: BTreeSet<String> = sets.iter().flatten().cloned().collect();
    let diff: BTreeSet<String> = sets[0]
        .iter()
        .filter(|m| !sets[1].contains(*m) && !sets[2].contains(*m))
        .cloned()
        .collect();
    assert_eq!(members(&mut c, &["SINTER", "s0", "s1", "s2"]), inter);
    assert_eq!(members(&mut c, &["SUNION", "s0", "s1", "s2"]), union);
    assert_eq!(members(&mut c, &["SDIFF", "s0", "s1", "s2"]), diff);
    assert_eq!(
        c.cmd_str(&["SINTERCARD", "3", "s0", "s1", "s2"]),
        format!(":{}\r\n", inter.len())
    );
    assert_eq!(
        c.cmd_str(&["SINTERCARD", "3", "s0", "s1", "s2", "LIMIT", "5"]),
        ":5\r\n"
    );
    assert_eq!(
        c.cmd_str(&["SUNIONSTORE", "u", "s0", "s1", "s2"]),
        format!(":{}\r\n", union.len())
    );
    assert_eq!(members(&mut c, &["SMEMBERS", "u"]), union);
    assert_eq!(c.cmd_str(&["SDIFFSTORE", "u", "s0", "s0"]), ":0\r\n");
    assert_eq!(c.cmd_str(&["EXISTS", "u"]), ":0\r\n");
}

#[test]
fn spop_and_srandmember_pick_distinct_members() {
    let server = TestServer::start();
    let mut c = server.connect();
    for (key, n) in [("small", 10usize), ("big", 1000)] {
        let mut args = vec!["SADD".to_string(), key.to_string()];
        args.extend((0..n).map(|i| format!("m{i}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        c.cmd(&args);
        for count in [1, 3, n / 2, n - 1, n, n + 5] {
            let got = leaves(&c.cmd(&["SRANDMEMBER", key, &count.to_string()]));
            let distinct: HashSet<&String> = got.iter().collect();
            assert_eq!(got.len(), count.min(n), "{key} {count}");
            assert_eq!(distinct.len(), got.len(), "{key} {count}: repeats");
        }
        let got = leaves(&c.cmd(&["SRANDMEMBER", key, "-30"]));
        assert_eq!(got.len(), 30);
        // Over many draws every member shows up.
        let mut seen = HashSet::new();
        for _ in 0..(n * 20 / 100).max(20) {
            seen.extend(leaves(&c.cmd(&["SRANDMEMBER", key, "-100"])));
        }
        assert_eq!(seen.len(), n, "{key}: some members are never drawn");
        let mut popped = HashSet::new();
        loop {
            let got = leaves(&c.cmd(&["SPOP", key, "7"]));
            if got.is_empty() {
                break;
            }
            for m in got {
                assert!(popped.insert(m), "{key}: popped twice");
            }
        }
        assert_eq!(popped.len(), n);
        assert_eq!(c.cmd_str(&["EXISTS", key]), ":0\r\n");
    }
}

#[test]
fn sscan_returns_every_member_present_throughout() {
    let server = TestServer::start();
    let mut c = server.connect();
    for i in 0..2000 {
        c.cmd(&["SADD", "s", &format!("m{i}")]);
    }
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut step = 0;
    loop {
        let got = leaves(&c.cmd(&["SSCAN", "s", &cursor, "COUNT", "25"]));
        cursor = got[0].clone();
        seen.extend(got[1..].iter().cloned());
        // Churn: members come and go (the table grows and shrinks) while the scan runs.
        step += 1;
        for j in 0..20 {
            c.cmd(&["SADD", "s", &format!("new{step}_{j}")]);
        }
        c.cmd(&["SREM", "s", &format!("m{}", 1999 - step)]);
        if cursor == "0" {
            break;
        }
    }
    for i in 0..(1999 - step) {
        assert!(seen.contains(&format!("m{i}")), "m{i} missed");
    }
}
