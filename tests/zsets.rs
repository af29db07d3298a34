//! Sorted-set commands over the wire: exact replies in RESP2 and RESP3, a big sorted set
//! against a model (ranks, score and lex ranges with LIMIT, removals), the forms, ZSCAN's
//! guarantee, and ZRANDMEMBER's counts.

mod common;
use common::{check, leaves, Conn, TestServer};

use std::collections::{BTreeMap, HashSet};

#[test]
fn replies_in_both_protocols() {
    let server = TestServer::start();
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (&["ZADD", "z", "1", "a", "2", "b", "0.1", "c"], ":3\r\n"),
            (
                &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
                "*6\r\n$1\r\nc\r\n$19\r\n0.10000000000000001\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
            ),
            (&["ZADD", "z", "XX", "NX", "1", "a"], "-ERR XX and NX options at the same time are not compatible\r\n"),
            (&["ZADD", "z", "nan", "a"], "-ERR value is not a valid float\r\n"),
            (&["ZINCRBY", "z", "inf", "a"], "$3\r\ninf\r\n"),
            (&["ZINCRBY", "z", "-inf", "a"], "-ERR resulting score is not a number (NaN)\r\n"),
            (&["ZADD", "z", "GT", "CH", "0", "b", "5", "c"], ":1\r\n"),
            (&["ZRANK", "z", "c"], ":1\r\n"),
            (&["ZREVRANK", "z", "c"], ":1\r\n"),
            (&["ZCOUNT", "z", "(2", "+inf"], ":2\r\n"),
            (&["ZRANGEBYSCORE", "z", "x", "1"], "-ERR min or max is not a float\r\n"),
            (&["ZPOPMIN", "nosuch"], "*0\r\n"),
            (&["ZMPOP", "1", "nosuch", "MIN"], "*-1\r\n"),
            (&["ZSCORE", "z", "nosuch"], "$-1\r\n"),
        ],
    );
    c.cmd(&["HELLO", "3"]);
    check(
        &mut c,
        &[
            (&["ZSCORE", "z", "b"], ",2\r\n"),
            (&["ZMSCORE", "z", "b", "x"], "*2\r\n,2\r\n_\r\n"),
            (
                &["ZRANGE", "z", "0", "0", "WITHSCORES"],
                "*1\r\n*2\r\n$1\r\nb\r\n,2\r\n",
            ),
            (&["ZPOPMIN", "z"], "*2\r\n$1\r\nb\r\n,2\r\n"),
            (&["ZPOPMAX", "z", "1"], "*1\r\n*2\r\n$1\r\na\r\n,inf\r\n"),
            (
                &["ZMPOP", "1", "z", "MIN"],
                "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nc\r\n,5\r\n",
            ),
            (&["EXISTS", "z"], ":0\r\n"),
        ],
    );
}

fn scores(c: &mut Conn, args: &[&str]) -> Vec<(String, f64)> {
    leaves(&c.cmd(args))
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].parse().expect("score")))
        .collect()
}

/// The model's order: by score, then member.
fn ordered(model: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then(a.0.cmp(&b.0)));
    v
}

#[test]
fn a_big_sorted_set_matches_a_model() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut model = BTreeMap::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..5000 {
        let m = format!("m{:05}", rnd() % 3000);
        let s = (rnd() % 500) as f64 / 4.0;
        c.cmd(&["ZADD", "z", &s.to_string(), &m]);
        model.insert(m, s);
    }
    for _ in 0..500 {
        let m = format!("m{:05}", rnd() % 3000);
        let want = i64::from(model.remove(&m).is_some());
        assert_eq!(c.cmd_str(&["ZREM", "z", &m]), format!(":{want}\r\n"));
    }
    assert_eq!(
        c.cmd_str(&["OBJECT", "ENCODING", "z"]),
        "$8\r\nskiplist\r\n"
    );
    let all = ordered(&model);
    assert_eq!(
        scores(&mut c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        all
    );
    for (rank, (m, _)) in all.iter().enumerate().step_by(97) {
        assert_eq!(c.cmd_str(&["ZRANK", "z", m]), format!(":{rank}\r\n"));
        let rev = all.len() - 1 - rank;
        assert_eq!(c.cmd_str(&["ZREVRANK", "z", m]), format!(":{rev}\r\n"));
    }
    for (lo, hi, off, cnt) in [
        (10.0, 20.0, 0, 10),
        (10.0, 20.0, 5, 3),
        (100.0, 200.0, 0, -1),
    ] {
        let want: Vec<(String, f64)> = all
            .iter()
            .filter(|(_, s)| *s > lo && *s <= hi)
            .skip(off)
            .take(if cnt < 0 { usize::MAX } else { cnt as usize })
            .cloned()
            .collect();
        let got = scores(
            &mut c,
            &[
                "ZRANGEBYSCORE",
                "z",
                &format!("({lo}"),
                &hi.to_string(),
                "WITHSCORES",
                "LIMIT",
                &off.to_string(),
                &cnt.to_string(),
            ],
        );
        assert_eq!(got, want, "({lo} {hi} LIMIT {off} {cnt}");
        let count = all.iter().filter(|(_, s)| *s > lo && *s <= hi).count();
        assert_eq!(
            c.cmd_str(&["ZCOUNT", "z", &format!("({lo}"), &hi.to_string()]),
            format!(":{count}\r\n")
        );
        let mut back: Vec<(String, f64)> = all
            .iter()
            .filter(|(_, s)| *s > lo && *s <= hi)
            .rev()
            .cloned()
            .collect();
        back = back
            .into_iter()
            .skip(off)
            .take(if cnt < 0 { usize::MAX } else { cnt as usize })
            .collect();
        let got = scores(
            &mut c,
            &[
                "ZREVRANGEBYSCORE",
                "z",
                &hi.to_string(),
                &format!("({lo}"),
                "WITHSCORES",
                "LIMIT",
                &off.to_string(),
                &cnt.to_string(),
            ],
        );
        assert_eq!(got, back);
    }
    let removed = all.iter().filter(|(_, s)| *s >= 50.0 && *s < 60.0).count();
    assert_eq!(
        c.cmd_str(&["ZREMRANGEBYSCORE", "z", "50", "(60"]),
        format!(":{removed}\r\n")
    );
    model.retain(|_, s| !(*s >= 50.0 && *s < 60.0));
    assert_eq!(c.cmd_str(&["ZREMRANGEBYRANK", "z", "0", "9"]), ":10\r\n");
    for (m, _) in ordered(&model).into_iter().take(10) {
        model.remove(&m);
    }
    assert_eq!(
        scores(&mut c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        ordered(&model)
    );
}

#[test]
fn lex_ranges_on_one_score() {
    let server = TestServer::start();
    let mut c = server.connect();
    let words: Vec<String> = (0..300).map(|i| format!("w{i:03}")).collect();
    for w in &words {
        c.cmd(&["ZADD", "lex", "0", w]);
    }
    let got = leaves(&c.cmd(&["ZRANGEBYLEX", "lex", "[w100", "(w200", "LIMIT", "10", "5"]));
    assert_eq!(got, words[110..115]);
    let got = leaves(&c.cmd(&["ZREVRANGEBYLEX", "lex", "+", "(w290"]));
    let want: Vec<String> = words[291..].iter().rev().cloned().collect();
    assert_eq!(got, want);
    assert_eq!(c.cmd_str(&["ZLEXCOUNT", "lex", "-", "+"]), ":300\r\n");
    assert_eq!(
        c.cmd_str(&["ZREMRANGEBYLEX", "lex", "[w000", "[w099"]),
        ":100\r\n"
    );
    assert_eq!(c.cmd_str(&["ZCARD", "lex"]), ":200\r\n");
}

#[test]
fn forms_switch_at_redis_thresholds() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.cmd(&["CONFIG", "SET", "zset-max-ziplist-entries", "4"]);
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "zset-max-listpack-entries"]),
        "*2\r\n$25\r\nzset-max-listpack-entries\r\n$1\r\n4\r\n"
    );
    for i in 0..4 {
        c.cmd(&["ZADD", "z", &i.to_string(), &format!("m{i}")]);
    }
    assert_eq!(
        c.cmd_str(&["OBJECT", "ENCODING", "z"]),
        "$8\r\nlistpack\r\n"
    );
    c.cmd(&["ZADD", "z", "9", "m9"]);
    assert_eq!(
        c.cmd_str(&["OBJECT", "ENCODING", "z"]),
        "$8\r\nskiplist\r\n"
    );
    // A small result is packed again, as Redis converts a new destination.
    c.cmd(&["ZUNIONSTORE", "u", "1", "z"]);
    assert_eq!(
        c.cmd_str(&["OBJECT", "ENCODING", "u"]),
        "$8\r\nskiplist\r\n"
    );
    c.cmd(&["ZRANGESTORE", "r", "z", "0", "1"]);
    assert_eq!(
        c.cmd_str(&["OBJECT", "ENCODING", "r"]),
        "$8\r\nlistpack\r\n"
    );
}

#[test]
fn zscan_returns_every_member_present_throughout() {
    let server = TestServer::start();
    let mut c = server.connect();
    for i in 0..2000 {
        c.cmd(&["ZADD", "z", &i.to_string(), &format!("m{i}")]);
    }
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut step = 0;
    loop {
        let got = leaves(&c.cmd(&["ZSCAN", "z", &cursor, "COUNT", "25"]));
        cursor = got[0].clone();
        for p in got[1..].chunks(2) {
            seen.insert(p[0].clone());
        }
        // Churn: scores move, members come and go while the scan runs.
        step += 1;
        c.cmd(&["ZADD", "z", "-1", &format!("new{step}")]);
        c.cmd(&["ZINCRBY", "z", "5000", &format!("m{}", step * 7 % 1000)]);
        c.cmd(&["ZREM", "z", &format!("m{}", 1999 - step)]);
        if cursor == "0" {
            break;
        }
    }
    for i in 0..(1999 - step) {
        assert!(seen.contains(&format!("m{i}")), "m{i} missed");
    }
}

#[test]
fn zrandmember_counts() {
    let server = TestServer::start();
    let mut c = server.connect();
    for (key, n) in [("small", 10usize), ("big", 500)] {
        for i in 0..n {
            c.cmd(&["ZADD", key, &i.to_string(), &format!("m{i}")]);
        }
        for count in [1, 3, n / 2, n, n + 5] {
            let got = leaves(&c.cmd(&["ZRANDMEMBER", key, &count.to_string()]));
            let distinct: HashSet<&String> = got.iter().collect();
            assert_eq!(got.len(), count.min(n), "{key} {count}");
            assert_eq!(distinct.len(), got.len(), "{key} {count}: repeats");
        }
        let got = leaves(&c.cmd(&["ZRANDMEMBER", key, "-40", "WITHSCORES"]));
        assert_eq!(got.len(), 80);
        for p in got.chunks(2) {
            assert_eq!(format!("m{}", p[1]), p[0], "score belongs to its member");
        }
    }
}
