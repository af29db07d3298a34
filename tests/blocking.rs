//! Blocking pops (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP): a blocked client is a parked thread
//! that a push wakes with the element already taken for it. FIFO order, timeouts,
//! disconnects, CLIENT UNBLOCK, shutdown, and races between a push and a timeout. No timing
//! assertions: waits are bounded, and outcomes are checked, not durations.
#![allow(clippy::disallowed_methods)] // tests measure wall time freely

mod common;
use common::{blocked_clients, bulk, encode_cmd, wait_blocked, Conn, TestServer};

use std::thread;
use std::time::Duration;

fn pair(k: &str, v: &str) -> String {
    format!("*2\r\n{}{}", bulk(k), bulk(v))
}

#[test]
fn a_push_wakes_the_blocked_client_with_the_element() {
    let server = TestServer::start();
    let mut waiter = server.connect();
    let mut pusher = server.connect();
    waiter.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&mut pusher, 1);
    assert_eq!(pusher.cmd_str(&["RPUSH", "q", "job1", "job2"]), ":2\r\n");
    assert_eq!(
        String::from_utf8(waiter.read_reply()).unwrap(),
        pair("q", "job1")
    );
    assert_eq!(
        pusher.cmd_str(&["LRANGE", "q", "0", "-1"]),
        format!("*1\r\n{}", bulk("job2"))
    );
    assert_eq!(blocked_clients(&mut pusher), 0);
    // Commands pipelined behind the blocking one run after it.
    waiter.send(&[encode_cmd(&[b"BRPOP", b"q", b"0"]), encode_cmd(&[b"PING"])].concat());
    assert_eq!(
        String::from_utf8(waiter.read_reply()).unwrap(),
        pair("q", "job2")
    );
    assert_eq!(waiter.read_reply(), b"+PONG\r\n");
}

#[test]
fn waiters_are_served_in_the_order_they_blocked() {
    const WAITERS: usize = 50;
    let server = TestServer::start();
    let mut admin = server.connect();
    let mut waiters: Vec<Conn> = Vec::new();
    for i in 0..WAITERS {
        let mut w = server.connect();
        w.send_cmd(&[b"BLPOP", b"fifo", b"0"]);
        // Block them one at a time, so their order is known.
        wait_blocked(&mut admin, i + 1);
        waiters.push(w);
    }
    let items: Vec<String> = (0..WAITERS).map(|i| format!("item{i}")).collect();
    let mut push = vec!["RPUSH", "fifo"];
    push.extend(items.iter().map(String::as_str));
    assert_eq!(admin.cmd_str(&push), format!(":{WAITERS}\r\n"));
    for (i, w) in waiters.iter_mut().enumerate() {
        assert_eq!(
            String::from_utf8(w.read_reply()).unwrap(),
            pair("fifo", &items[i]),
            "waiter {i} got another element"
        );
    }
    assert_eq!(admin.cmd_str(&["EXISTS", "fifo"]), ":0\r\n");
}

#[test]
fn several_keys_are_tried_in_argument_order() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.cmd(&["RPUSH", "b", "from-b"]);
    c.cmd(&["RPUSH", "c", "from-c"]);
    assert_eq!(
        c.cmd_str(&["BLPOP", "a", "c", "b", "0"]),
        pair("c", "from-c")
    );
    // Blocked on two keys, it is served by whichever is pushed first.
    let mut w = server.connect();
    w.send_cmd(&[b"BRPOP", b"x", b"y", b"0"]);
    wait_blocked(&mut c, 1);
    c.cmd(&["LPUSH", "y", "v"]);
    assert_eq!(String::from_utf8(w.read_reply()).unwrap(), pair("y", "v"));
    // BLMPOP with a count.
    w.send_cmd(&[
        b"BLMPOP", b"0", b"2", b"m1", b"m2", b"RIGHT", b"COUNT", b"2",
    ]);
    wait_blocked(&mut c, 1);
    c.cmd(&["RPUSH", "m2", "1", "2", "3"]);
    assert_eq!(
        String::from_utf8(w.read_reply()).unwrap(),
        format!("*2\r\n{}*2\r\n{}{}", bulk("m2"), bulk("3"), bulk("2"))
    );
}

#[test]
fn timeouts_answer_null() {
    let server = TestServer::start();
    let mut c = server.connect();
    assert_eq!(c.cmd(&["BLPOP", "none", "0.05"]), b"*-1\r\n");
    // Redis answers a BLMOVE timeout with a null array too.
    assert_eq!(
        c.cmd(&["BLMOVE", "none", "dst", "LEFT", "RIGHT", "0.05"]),
        b"*-1\r\n"
    );
    assert_eq!(c.cmd(&["BRPOPLPUSH", "none", "dst", "0.01"]), b"*-1\r\n");
    assert_eq!(c.cmd(&["BLMPOP", "0.01", "1", "none", "LEFT"]), b"*-1\r\n");
    assert_eq!(
        c.cmd_str(&["BLPOP", "none", "-1"]),
        "-ERR timeout is negative\r\n"
    );
    assert_eq!(
        c.cmd_str(&["BLPOP", "none", "abc"]),
        "-ERR timeout is not a float or out of range\r\n"
    );
    assert_eq!(blocked_clients(&mut c), 0);
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.cmd(&["BLPOP", "none", "0.01"]), b"_\r\n");
}

#[test]
fn a_client_that_disconnects_while_blocked_leaves_its_queue() {
    let server = TestServer::start();
    let mut admin = server.connect();
    {
        let mut gone = server.connect();
        gone.send_cmd(&[b"BLPOP", b"q", b"0"]);
        wait_blocked(&mut admin, 1);
    }
    // Its queue entry goes at once (the server notices the hang-up); nothing is popped for it.
    wait_blocked(&mut admin, 0);
    assert_eq!(admin.cmd_str(&["RPUSH", "q", "kept"]), ":1\r\n");
    assert_eq!(admin.cmd_str(&["LLEN", "q"]), ":1\r\n");
}

#[test]
fn client_unblock() {
    let server = TestServer::start();
    let mut admin = server.connect();
    let mut w = server.connect();
    let id = w.cmd_str(&["CLIENT", "ID"]).trim()[1..].to_string();
    w.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&mut admin, 1);
    assert!(admin
        .cmd_str(&["CLIENT", "LIST", "ID", &id])
        .contains(" flags=b "));
    assert_eq!(admin.cmd_str(&["CLIENT", "UNBLOCK", &id]), ":1\r\n");
    assert_eq!(w.read_reply(), b"*-1\r\n");
    assert_eq!(admin.cmd_str(&["CLIENT", "UNBLOCK", &id]), ":0\r\n");
    w.send_cmd(&[b"BLMOVE", b"q", b"d", b"LEFT", b"LEFT", b"0"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(
        admin.cmd_str(&["CLIENT", "UNBLOCK", &id, "ERROR"]),
        ":1\r\n"
    );
    assert_eq!(
        w.read_reply(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    assert_eq!(
        admin.cmd_str(&["CLIENT", "UNBLOCK", &id, "NOW"]),
        "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
    );
    assert_eq!(
        admin.cmd_str(&["CLIENT", "UNBLOCK", "abc"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    // Nothing was taken for it.
    admin.cmd(&["RPUSH", "q", "x"]);
    assert_eq!(admin.cmd_str(&["LLEN", "q"]), ":1\r\n");
}

#[test]
fn blmove_hands_over_and_rotates() {
    let server = TestServer::start();
    let mut admin = server.connect();
    let mut w = server.connect();
    w.send_cmd(&[b"BLMOVE", b"src", b"dst", b"RIGHT", b"LEFT", b"0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["RPUSH", "src", "a", "b"]);
    assert_eq!(String::from_utf8(w.read_reply()).unwrap(), bulk("b"));
    assert_eq!(
        admin.cmd_str(&["LRANGE", "dst", "0", "-1"]),
        format!("*1\r\n{}", bulk("b"))
    );
    // Onto itself: a rotation.
    w.send_cmd(&[b"BRPOPLPUSH", b"ring", b"ring", b"0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["RPUSH", "ring", "only"]);
    assert_eq!(String::from_utf8(w.read_reply()).unwrap(), bulk("only"));
    assert_eq!(
        admin.cmd_str(&["LRANGE", "ring", "0", "-1"]),
        format!("*1\r\n{}", bulk("only"))
    );
    // A destination of another type ends the wait with WRONGTYPE; the element stays.
    admin.cmd(&["SET", "str", "x"]);
    w.send_cmd(&[b"BLMOVE", b"s2", b"str", b"LEFT", b"LEFT", b"0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["RPUSH", "s2", "e"]);
    assert_eq!(
        w.read_reply(),
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(admin.cmd_str(&["LLEN", "s2"]), ":1\r\n");
    // Chained: a BLMOVE served onto a list another client waits on serves that one too.
    let mut w2 = server.connect();
    w.send_cmd(&[b"BLPOP", b"stage2", b"0"]);
    wait_blocked(&mut admin, 1);
    w2.send_cmd(&[b"BLMOVE", b"stage1", b"stage2", b"LEFT", b"LEFT", b"0"]);
    wait_blocked(&mut admin, 2);
    admin.cmd(&["RPUSH", "stage1", "hop"]);
    assert_eq!(String::from_utf8(w2.read_reply()).unwrap(), bulk("hop"));
    assert_eq!(
        String::from_utf8(w.read_reply()).unwrap(),
        pair("stage2", "hop")
    );
    assert_eq!(admin.cmd_str(&["EXISTS", "stage1", "stage2"]), ":0\r\n");
}

#[test]
fn keys_created_by_rename_move_copy_and_swapdb_wake_waiters() {
    let server = TestServer::start();
    let mut admin = server.connect();
    let mut w = server.connect();
    // RENAME
    w.send_cmd(&[b"BLPOP", b"target", b"0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["RPUSH", "staging", "r"]);
    admin.cmd(&["RENAME", "staging", "target"]);
    assert_eq!(
        String::from_utf8(w.read_reply()).unwrap(),
        pair("target", "r")
    );
    // COPY
    w.send_cmd(&[b"BLPOP", b"target", b"0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["RPUSH", "orig", "c"]);
    admin.cmd(&["COPY", "orig", "target"]);
    assert_eq!(
        String::from_utf8(w.read_reply()).unwrap(),
        pair("target", "c")
    );
    // MOVE into the waiter's database
    w.send_cmd(&[b"BLPOP", b"target", b"0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["SELECT", "5"]);
    admin.cmd(&["RPUSH", "target", "m"]);
    admin.cmd(&["MOVE", "target", "0"]);
    assert_eq!(
        String::from_utf8(w.read_reply()).unwrap(),
        pair("target", "m")
    );
    // SWAPDB bringing the key into the waiter's database
    w.send_cmd(&[b"BLPOP", b"target", b"0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["RPUSH", "target", "s"]);
    admin.cmd(&["SWAPDB", "5", "0"]);
    assert_eq!(
        String::from_utf8(w.read_reply()).unwrap(),
        pair("target", "s")
    );
}

/// A push racing a timeout: the element is delivered exactly once, or it stays in the list.
#[test]
fn a_push_racing_a_timeout_delivers_once_or_not_at_all() {
    const ROUNDS: usize = 200;
    let server = TestServer::start();
    let addr = server.addr;
    let mut waiter = server.connect();
    for round in 0..ROUNDS {
        let key = format!("race:{round}");
        let value = format!("v{round}");
        waiter.send_cmd(&[b"BLPOP", key.as_bytes(), b"0.005"]);
        let (k, v) = (key.clone(), value.clone());
        let pusher = thread::spawn(move || {
            let mut p = Conn::connect(addr);
            thread::sleep(Duration::from_micros((round as u64 % 10) * 1000));
            p.cmd(&["RPUSH", &k, &v]);
        });
        let got = String::from_utf8(waiter.read_reply()).unwrap();
        pusher.join().unwrap();
        let mut check = server.connect();
        let left = check.cmd_str(&["LLEN", &key]);
        if got == "*-1\r\n" {
            assert_eq!(
                left, ":1\r\n",
                "round {round}: timed out, and the element is gone"
            );
        } else {
            assert_eq!(got, pair(&key, &value), "round {round}");
            assert_eq!(
                left, ":0\r\n",
                "round {round}: delivered and still in the list"
            );
        }
    }
}

#[test]
fn shutdown_wakes_every_blocked_client() {
    const WAITERS: usize = 100;
    let mut server = TestServer::start();
    let mut admin = server.connect();
    let mut waiters: Vec<Conn> = (0..WAITERS)
        .map(|i| {
            let mut w = server.connect();
            w.send_cmd(&[b"BLPOP", format!("k{i}").as_bytes(), b"0"]);
            w
        })
        .collect();
    wait_blocked(&mut admin, WAITERS);
    server.stop();
    for w in &mut waiters {
        assert!(w.is_closed(), "a blocked client outlived the server");
    }
}

#[test]
fn blocking_commands_reject_bad_arguments_before_blocking() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.cmd(&["SET", "str", "x"]);
    common::check(
        &mut c,
        &[
            (
                &["BLPOP", "str", "0"],
                "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            ),
            (
                &["BLMOVE", "a", "b", "UP", "LEFT", "0"],
                "-ERR syntax error\r\n",
            ),
            (
                &["BLMPOP", "0", "0", "a", "LEFT"],
                "-ERR numkeys should be greater than 0\r\n",
            ),
            (
                &["BLMPOP", "x", "1", "a", "LEFT"],
                "-ERR timeout is not a float or out of range\r\n",
            ),
            (&["BLPOP", "a", "inf"], "-ERR timeout is negative\r\n"),
        ],
    );
    assert_eq!(blocked_clients(&mut c), 0);
}

// ---- sorted sets: BZPOPMIN, BZPOPMAX, BZMPOP on the same wait queues

#[test]
fn bzpopmin_waiters_are_served_in_order_with_the_lowest_scores() {
    const WAITERS: usize = 50;
    let server = TestServer::start();
    let mut admin = server.connect();
    let mut waiters: Vec<Conn> = Vec::new();
    for i in 0..WAITERS {
        let mut w = server.connect();
        w.send_cmd(&[b"BZPOPMIN", b"zq", b"0"]);
        wait_blocked(&mut admin, i + 1);
        waiters.push(w);
    }
    let mut add = vec!["ZADD".to_string(), "zq".to_string()];
    for i in (0..WAITERS).rev() {
        add.push(i.to_string());
        add.push(format!("job{i}"));
    }
    let add: Vec<&str> = add.iter().map(String::as_str).collect();
    assert_eq!(admin.cmd_str(&add), format!(":{WAITERS}\r\n"));
    for (i, w) in waiters.iter_mut().enumerate() {
        let want = format!(
            "*3\r\n{}{}{}",
            bulk("zq"),
            bulk(&format!("job{i}")),
            bulk(&i.to_string())
        );
        assert_eq!(
            String::from_utf8(w.read_reply()).unwrap(),
            want,
            "waiter {i}"
        );
    }
    assert_eq!(admin.cmd_str(&["EXISTS", "zq"]), ":0\r\n");
}

#[test]
fn bzmpop_bzpopmax_timeouts_and_types() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut admin = server.connect();
    // A list on the key does not serve a sorted-set waiter; a sorted set on the next key does.
    c.send_cmd(&[b"BZMPOP", b"0", b"2", b"k1", b"k2", b"MAX", b"COUNT", b"2"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["RPUSH", "k1", "x"]);
    admin.cmd(&["ZADD", "k2", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(
        String::from_utf8(c.read_reply()).unwrap(),
        format!(
            "*2\r\n{}*2\r\n*2\r\n{}{}*2\r\n{}{}",
            bulk("k2"),
            bulk("c"),
            bulk("3"),
            bulk("b"),
            bulk("2")
        )
    );
    assert_eq!(
        c.cmd_str(&["BZPOPMAX", "k1", "1"]),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(c.cmd_str(&["BZPOPMAX", "nosuch", "0.01"]), "*-1\r\n");
    assert_eq!(
        c.cmd_str(&["BZPOPMIN", "nosuch", "-1"]),
        "-ERR timeout is negative\r\n"
    );
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        c.cmd_str(&["BZMPOP", "0.01", "1", "nosuch", "MIN"]),
        "_\r\n"
    );
    assert_eq!(
        c.cmd_str(&["BZPOPMAX", "k2", "0"]),
        format!("*3\r\n{}{},1\r\n", bulk("k2"), bulk("a"))
    );
}

#[test]
fn a_zset_waiter_that_disconnects_or_is_unblocked_takes_nothing() {
    let server = TestServer::start();
    let mut admin = server.connect();
    let mut gone = server.connect();
    gone.send_cmd(&[b"BZPOPMIN", b"z", b"0"]);
    wait_blocked(&mut admin, 1);
    drop(gone);
    wait_blocked(&mut admin, 0);
    let mut unblocked = server.connect();
    let id = unblocked.cmd_str(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim();
    unblocked.send_cmd(&[b"BZPOPMIN", b"z", b"0"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd_str(&["CLIENT", "UNBLOCK", id]), ":1\r\n");
    assert_eq!(unblocked.read_reply(), b"*-1\r\n");
    admin.cmd(&["ZADD", "z", "1", "a"]);
    assert_eq!(admin.cmd_str(&["ZCARD", "z"]), ":1\r\n");
}

/// WAIT with no replica to acknowledge: asked for some, the client blocks (listed, counted)
/// until its timeout or CLIENT UNBLOCK, and is told 0; a push does not end it.
#[test]
fn wait_blocks_until_its_timeout_with_no_replicas() {
    let server = TestServer::start();
    let mut admin = server.connect();
    let mut w = server.connect();
    let id = w.cmd_str(&["CLIENT", "ID"]).trim()[1..].to_string();
    assert_eq!(w.cmd_str(&["WAIT", "0", "0"]), ":0\r\n");
    w.send_cmd(&[b"WAIT", b"1", b"0"]);
    wait_blocked(&mut admin, 1);
    assert!(admin
        .cmd_str(&["CLIENT", "LIST", "ID", &id])
        .contains(" flags=b "));
    assert_eq!(admin.cmd_str(&["RPUSH", "q", "x"]), ":1\r\n");
    assert_eq!(blocked_clients(&mut admin), 1);
    assert_eq!(admin.cmd_str(&["CLIENT", "UNBLOCK", &id]), ":1\r\n");
    assert_eq!(w.read_reply(), b":0\r\n");
    w.send_cmd(&[b"WAIT", b"1", b"0"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(
        admin.cmd_str(&["CLIENT", "UNBLOCK", &id, "ERROR"]),
        ":1\r\n"
    );
    assert_eq!(
        w.read_reply(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    assert_eq!(w.cmd_str(&["WAIT", "3", "50"]), ":0\r\n");
    assert_eq!(blocked_clients(&mut admin), 0);
}
