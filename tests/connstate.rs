//! The connection states of issue 11 across clients: MONITOR sees other clients' commands
//! (credentials redacted), CLIENT PAUSE holds writers but not readers until CLIENT UNPAUSE,
//! and a paused client counts as blocked. Bounded waits, no timing assertions.
#![allow(clippy::disallowed_methods)] // tests wait on wall time freely

mod common;
use common::{Conn, TestServer};

use std::thread;
use std::time::{Duration, Instant};

/// Reads one `+...` line, without its CRLF.
fn line(c: &mut Conn) -> String {
    let reply = c.read_reply();
    let text = String::from_utf8(reply).expect("utf-8");
    assert!(text.starts_with('+'), "{text:?}");
    text.trim_end().to_string()
}

/// The connection's address as the server sees it (CLIENT INFO's `addr`).
fn addr_of(c: &mut Conn) -> String {
    let info = c.cmd_str(&["CLIENT", "INFO"]);
    info.split_whitespace()
        .find_map(|f| f.strip_prefix("addr="))
        .expect("addr")
        .to_string()
}

/// The part of a MONITOR line after its timestamp: `[db addr] "arg" ...`.
fn shown(line: &str) -> &str {
    line.split_once(' ')
        .map(|(_, rest)| rest)
        .expect("timestamp")
}

#[test]
fn monitor_shows_other_clients_commands_with_credentials_redacted() {
    let server = TestServer::start();
    let mut monitor = server.connect();
    let mut c = server.connect();
    assert_eq!(monitor.cmd(&["MONITOR"]), b"+OK\r\n");
    let addr = {
        let info = c.cmd_str(&["CLIENT", "INFO"]);
        info.split_whitespace()
            .find_map(|f| f.strip_prefix("addr="))
            .expect("addr")
            .to_string()
    };
    c.cmd(&["SET", "k", "a b\n\"c\x01"]);
    c.cmd(&["AUTH", "secret"]);
    c.cmd(&["SELECT", "2"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["CONFIG", "GET", "maxmemory"]);
    c.cmd(&["PING"]);
    let first = line(&mut monitor);
    let stamp = first.split_once(' ').expect("timestamp").0;
    let (secs, micros) = stamp[1..].split_once('.').expect("seconds.micros");
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{stamp}");
    assert_eq!(shown(&first), format!("[0 {addr}] \"CLIENT\" \"INFO\""));
    let want = [
        format!("[0 {addr}] \"SET\" \"k\" \"a b\\n\\\"c\\x01\""),
        format!("[0 {addr}] \"AUTH\" \"(redacted)\""),
        format!("[2 {addr}] \"SELECT\" \"2\""),
        format!("[2 {addr}] \"GET\" \"k\""),
        // CONFIG is an admin command: not shown.
        format!("[2 {addr}] \"PING\""),
    ];
    for w in want {
        assert_eq!(shown(&line(&mut monitor)), w);
    }
    let list = c.cmd_str(&["CLIENT", "LIST"]);
    assert!(list.lines().any(|l| l.contains("flags=O")), "{list}");
}

#[test]
fn client_pause_write_holds_writers_not_readers() {
    let server = TestServer::start();
    let mut admin = server.connect();
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]),
        b"+OK\r\n"
    );
    let mut writer = server.connect();
    writer.send_cmd(&[b"SET", b"k", b"v"]);
    // The writer waits, counted as blocked; reads go on.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = admin.cmd_str(&["INFO", "clients"]);
        if info.contains("blocked_clients:1\r\n") {
            break;
        }
        assert!(Instant::now() < deadline, "the writer never waited: {info}");
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(admin.cmd(&["GET", "k"]), b"$-1\r\n");
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_eq!(writer.read_reply(), b"+OK\r\n");
    assert_eq!(admin.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    let info = admin.cmd_str(&["INFO", "clients"]);
    assert!(info.contains("blocked_clients:0\r\n"), "{info}");
}

#[test]
fn a_client_killed_while_paused_runs_nothing() {
    let server = TestServer::start();
    let mut admin = server.connect();
    admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]);
    let mut victim = server.connect();
    let id = victim.cmd_str(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim().to_string();
    victim.send_cmd(&[b"SET", b"never", b"1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !admin
        .cmd_str(&["INFO", "clients"])
        .contains("blocked_clients:1\r\n")
    {
        assert!(Instant::now() < deadline, "the victim never waited");
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "ID", &id]), b":1\r\n");
    admin.cmd(&["CLIENT", "UNPAUSE"]);
    assert!(victim.is_closed());
    assert_eq!(admin.cmd(&["EXISTS", "never"]), b":0\r\n");
}

/// One field of `name`'s CLIENT LIST line, as seen by `by`.
fn client_field(by: &mut Conn, name: &str, field: &str) -> usize {
    let list = by.cmd_str(&["CLIENT", "LIST"]);
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" name={name} ")))
        .expect("client listed");
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(&format!("{field}=")))
        .and_then(|v| v.parse().ok())
        .expect("field")
}

/// The query buffer as Redis reports and sizes it: nothing left over between commands, a
/// large buffer kept after a large request and shrunk after a small one, and none at all
/// for a client idle for over 2 seconds (its thread gives its buffers back).
#[test]
fn query_buffers_shrink_after_use_and_go_when_idle() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut watcher = server.connect();
    c.cmd(&["CLIENT", "SETNAME", "q"]);
    assert_eq!(client_field(&mut watcher, "q", "qbuf"), 0);
    assert_eq!(client_field(&mut watcher, "q", "argv-mem"), 0);
    let small = client_field(&mut watcher, "q", "qbuf-free");
    assert!((16384..32768).contains(&small), "{small}");

    // A big argument is gathered in a buffer of its own as it arrives, so the query buffer
    // grows only to what the reads bring at a time (Redis's makes room for the whole
    // argument); kept after the request, as Redis keeps its (unit/querybuf asks > 32 KB).
    let big = "A".repeat(400_000);
    assert_eq!(c.cmd(&["SET", "x", &big]), b"+OK\r\n");
    let kept = client_field(&mut watcher, "q", "qbuf-free");
    assert!(kept > 65_536, "{kept}");
    assert_eq!(c.cmd(&["SET", "x", "small"]), b"+OK\r\n");
    assert_eq!(client_field(&mut watcher, "q", "qbuf-free"), small);

    let start = Instant::now();
    while client_field(&mut watcher, "q", "qbuf-free") != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "an idle client's buffer was not released"
        );
        thread::sleep(Duration::from_millis(100));
    }
    // It comes back on the next command.
    assert_eq!(c.cmd(&["GET", "x"]), b"$5\r\nsmall\r\n");
    assert_eq!(client_field(&mut watcher, "q", "qbuf-free"), small);
}

/// INFO counts what Redis counts: the commands pipelined before it in the same batch, an
/// UNBLOCKED reply (errorstats, and the blocked command's failed_calls) and a protocol error.
#[test]
fn info_counts_pipelined_commands_unblocked_and_protocol_errors() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut bad = server.connect();
    bad.send(b"*1\r\n$x\r\n");
    assert_eq!(
        bad.read_reply(),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
    let mut b = server.connect();
    let id = b.cmd_str(&["CLIENT", "ID"])[1..].trim().to_string();
    b.send_cmd(&[b"BLPOP", b"q", b"0"]);
    let start = Instant::now();
    while !c
        .cmd_str(&["INFO", "clients"])
        .contains("blocked_clients:1")
    {
        assert!(start.elapsed() < Duration::from_secs(5));
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(c.cmd_str(&["CLIENT", "UNBLOCK", &id, "ERROR"]), ":1\r\n");
    assert_eq!(
        b.read_reply(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    c.send(b"INCR x\r\nINFO errorstats\r\nINFO commandstats\r\n");
    assert_eq!(c.read_reply(), b":1\r\n");
    let errors = String::from_utf8(c.read_reply()).unwrap();
    assert!(errors.contains("errorstat_ERR:count=1"), "{errors}");
    assert!(errors.contains("errorstat_UNBLOCKED:count=1"), "{errors}");
    let stats = String::from_utf8(c.read_reply()).unwrap();
    assert!(stats.contains("cmdstat_incr:calls=1,"), "{stats}");
    assert!(
        stats
            .lines()
            .any(|l| l.starts_with("cmdstat_blpop:calls=1,") && l.ends_with("failed_calls=1")),
        "{stats}"
    );
}

/// Commands of several clients on one key reach MONITOR in the order they ran: the n-th
/// INCR shown is the one that got n.
#[test]
fn monitor_shows_commands_on_a_database_in_the_order_they_ran() {
    let server = TestServer::start();
    let mut monitor = server.connect();
    assert_eq!(monitor.cmd(&["MONITOR"]), b"+OK\r\n");
    const EACH: usize = 300;
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let addr = server.addr;
            thread::spawn(move || {
                let mut c = Conn::connect(addr);
                let me = addr_of(&mut c);
                let got: Vec<i64> = (0..EACH)
                    .map(|_| {
                        let r = c.cmd_str(&["INCR", "k"]);
                        r.trim_start_matches(':').trim().parse().expect("integer")
                    })
                    .collect();
                (me, got)
            })
        })
        .collect();
    let mut by_value = std::collections::HashMap::new();
    for w in writers {
        let (me, got) = w.join().expect("writer");
        for v in got {
            by_value.insert(v, me.clone());
        }
    }
    let mut n = 0;
    while n < 3 * EACH {
        let l = line(&mut monitor);
        let s = shown(&l);
        if !s.ends_with("\"INCR\" \"k\"") {
            continue; // a CLIENT INFO
        }
        n += 1;
        let who = &by_value[&(n as i64)];
        assert!(
            s.starts_with(&format!("[0 {who}]")),
            "INCR number {n} shown as {s}, ran by {who}"
        );
    }
}

/// EVAL and FCALL reach MONITOR before the commands they run (even when refused), and those
/// commands show as `lua`'s, as Redis shows them.
#[test]
fn monitor_shows_scripts_then_their_commands_as_lua() {
    let server = TestServer::start();
    let mut monitor = server.connect();
    assert_eq!(monitor.cmd(&["MONITOR"]), b"+OK\r\n");
    let mut c = server.connect();
    let me = addr_of(&mut c);
    c.cmd(&[
        "EVAL",
        "redis.call('set','k','1') return redis.pcall('get','k')",
        "1",
        "k",
    ]);
    c.cmd(&["EVALSHA", "abc", "0"]);
    c.cmd(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=m\nredis.register_function('f', function(keys) return redis.call('incr', keys[1]) end)",
    ]);
    c.cmd(&["FCALL", "f", "1", "n"]);
    let want = [
        format!("[0 {me}] \"CLIENT\" \"INFO\""),
        format!("[0 {me}] \"EVAL\" \"redis.call('set','k','1') return redis.pcall('get','k')\" \"1\" \"k\""),
        "[0 lua] \"set\" \"k\" \"1\"".to_string(),
        "[0 lua] \"get\" \"k\"".to_string(),
        format!("[0 {me}] \"EVALSHA\" \"abc\" \"0\""),
        format!("[0 {me}] \"FUNCTION\" \"LOAD\" \"#!lua name=m\\nredis.register_function('f', function(keys) return redis.call('incr', keys[1]) end)\""),
        format!("[0 {me}] \"FCALL\" \"f\" \"1\" \"n\""),
        "[0 lua] \"incr\" \"n\"".to_string(),
    ];
    for w in want {
        assert_eq!(shown(&line(&mut monitor)), w);
    }
}
