//! The append-only file through the binary: what clients write, killed with SIGKILL and
//! started again on the same directory, comes back the same (`DEBUG DIGEST` before and
//! after), for commands whose records are rewritten to replay exactly (relative TTLs, random
//! pops, IDs chosen by the clock, blocked pops served later, transactions and scripts);
//! BGREWRITEAOF and `CONFIG SET appendonly yes` replace the base; a cut last record is
//! tolerated with `aof-load-truncated yes` and stops the start without it.

mod common;
use common::{check, info_field, wait_for, BinServer, Conn, TempDir};

const AOF: &[&str] = &[
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--save",
    "",
    "--enable-debug-command",
    "yes",
];

/// Connects once the server has loaded its files.
fn ready(s: &BinServer) -> Conn {
    let mut c = s.connect();
    wait_for("the load to end", || info_field(&mut c, "loading") == "0");
    c
}

fn digest(c: &mut Conn) -> String {
    c.cmd_str(&["DEBUG", "DIGEST"])
}

/// Kills the server with SIGKILL: only what reached the file survives.
fn kill(mut s: BinServer) {
    let _ = s.child.kill();
    let _ = s.child.wait();
}

fn incr_text(dir: &std::path::Path) -> String {
    let d = dir.join("appendonlydir");
    let mut out = String::new();
    let mut names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".incr.aof"))
        .collect();
    names.sort();
    for n in names {
        out.push_str(&String::from_utf8_lossy(&std::fs::read(d.join(n)).unwrap()));
    }
    out
}

#[test]
fn every_acknowledged_write_survives_a_kill() {
    let dir = TempDir::new("aof-kill");
    let s = BinServer::start_in(&dir.0, AOF);
    let mut c = ready(&s);
    check(
        &mut c,
        &[
            (&["SET", "s", "v"], "+OK\r\n"),
            (&["SET", "ttl", "v", "EX", "1000"], "+OK\r\n"),
            (&["SETEX", "sx", "500", "v"], "+OK\r\n"),
            (&["SET", "n", "10"], "+OK\r\n"),
            (&["EXPIRE", "n", "300"], ":1\r\n"),
            (&["INCRBYFLOAT", "f", "0.1"], "$3\r\n0.1\r\n"),
            (&["HINCRBYFLOAT", "h", "x", "1.5"], "$3\r\n1.5\r\n"),
            (&["SADD", "set", "a", "b", "c", "d", "e"], ":5\r\n"),
            (&["RPUSH", "l", "1", "2", "3"], ":3\r\n"),
            (&["LMOVE", "l", "l2", "LEFT", "RIGHT"], "$1\r\n1\r\n"),
            (&["BLPOP", "l", "0"], "*2\r\n$1\r\nl\r\n$1\r\n2\r\n"),
            (&["ZADD", "z", "1", "a", "2", "b"], ":2\r\n"),
            (
                &["BZPOPMIN", "z", "0"],
                "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n",
            ),
            (&["SELECT", "5"], "+OK\r\n"),
            (&["SET", "in5", "x"], "+OK\r\n"),
            (&["MOVE", "in5", "0"], ":1\r\n"),
            (&["SELECT", "0"], "+OK\r\n"),
            (&["COPY", "s", "s2"], ":1\r\n"),
            (&["RENAME", "s2", "s3"], "+OK\r\n"),
            (&["PFADD", "hll", "a", "b"], ":1\r\n"),
            (&["GETEX", "s", "PX", "900000"], "$1\r\nv\r\n"),
        ],
    );
    // Random and clock-chosen effects.
    c.cmd(&["SPOP", "set"]);
    c.cmd(&["SPOP", "set", "2"]);
    for _ in 0..50 {
        c.cmd(&["XADD", "st", "MAXLEN", "~", "10", "*", "f", "v"]);
    }
    check(
        &mut c,
        &[
            (&["XGROUP", "CREATE", "st", "g", "0"], "+OK\r\n"),
            (&["MULTI"], "+OK\r\n"),
            (&["INCR", "counter"], "+QUEUED\r\n"),
            (&["INCR", "counter"], "+QUEUED\r\n"),
            (&["EXEC"], "*2\r\n:1\r\n:2\r\n"),
            (
                &[
                    "EVAL",
                    "redis.call('set','e','1'); return redis.call('incr','e')",
                    "0",
                ],
                ":2\r\n",
            ),
        ],
    );
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "3",
        "STREAMS",
        "st",
        ">",
    ]);
    // A pop served later, by another client's push.
    let mut waiter = s.connect();
    waiter.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_for("the waiter to block", || {
        common::blocked_clients(&mut c) == 1
    });
    check(&mut c, &[(&["RPUSH", "q", "x", "y"], ":2\r\n")]);
    assert_eq!(waiter.read_reply(), b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
    let before = digest(&mut c);
    let dbsize = c.cmd_str(&["DBSIZE"]);
    let text = incr_text(&dir.0);
    assert!(
        text.contains("PEXPIREAT") && text.contains("PXAT"),
        "{text}"
    );
    assert!(text.contains("MULTI") && text.contains("SREM"), "{text}");
    assert!(!text.contains("BLPOP") && !text.contains("EVAL"), "{text}");
    kill(s);
    let s = BinServer::start_in(&dir.0, AOF);
    let mut c = ready(&s);
    assert_eq!(digest(&mut c), before);
    assert_eq!(c.cmd_str(&["DBSIZE"]), dbsize);
}

#[test]
fn a_rewrite_replaces_the_base_and_the_data_stays() {
    for preamble in ["yes", "no"] {
        let dir = TempDir::new(&format!("aof-rewrite-{preamble}"));
        let mut args = AOF.to_vec();
        args.extend(["--aof-use-rdb-preamble", preamble]);
        let s = BinServer::start_in(&dir.0, &args);
        let mut c = ready(&s);
        for i in 0..200 {
            let k = format!("k{i}");
            c.cmd(&["RPUSH", &k, "a", "b"]);
            c.cmd(&["HSET", "h", &k, "v"]);
        }
        c.cmd(&["SET", "t", "v", "EX", "1000"]);
        c.cmd(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=lib\nredis.register_function('f', function() return 1 end)",
        ]);
        check(
            &mut c,
            &[(
                &["BGREWRITEAOF"],
                "+Background append only file rewriting started\r\n",
            )],
        );
        wait_for("the rewrite to end", || {
            info_field(&mut c, "aof_rewrite_in_progress") == "0"
                && info_field(&mut c, "aof_rewrites") == "1"
        });
        c.cmd(&["DEL", "k0"]);
        c.cmd(&["SET", "after", "rewrite"]);
        let before = digest(&mut c);
        let manifest =
            std::fs::read_to_string(dir.0.join("appendonlydir/appendonly.aof.manifest")).unwrap();
        let ext = if preamble == "yes" { "rdb" } else { "aof" };
        assert_eq!(
            manifest,
            format!(
                "file appendonly.aof.2.base.{ext} seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
            )
        );
        kill(s);
        let s = BinServer::start_in(&dir.0, &args);
        let mut c = ready(&s);
        assert_eq!(digest(&mut c), before, "preamble {preamble}");
        assert_eq!(c.cmd_str(&["FCALL", "f", "0"]), ":1\r\n");
    }
}

#[test]
fn turned_on_while_running_it_starts_from_the_data_there() {
    let dir = TempDir::new("aof-turn-on");
    let mut args = AOF.to_vec();
    args[1] = "no";
    let s = BinServer::start_in(&dir.0, &args);
    let mut c = ready(&s);
    check(
        &mut c,
        &[
            (&["SET", "before", "1"], "+OK\r\n"),
            (&["CONFIG", "SET", "appendonly", "yes"], "+OK\r\n"),
            (&["SET", "after", "2"], "+OK\r\n"),
        ],
    );
    wait_for("the first base", || {
        info_field(&mut c, "aof_rewrite_in_progress") == "0"
            && info_field(&mut c, "aof_enabled") == "1"
    });
    c.cmd(&["SET", "later", "3"]);
    let before = digest(&mut c);
    kill(s);
    let s = BinServer::start_in(&dir.0, AOF);
    let mut c = ready(&s);
    assert_eq!(digest(&mut c), before);
    assert_eq!(c.cmd_str(&["DBSIZE"]), ":3\r\n");
}

#[test]
fn a_cut_last_record_is_tolerated_only_when_allowed() {
    let dir = TempDir::new("aof-truncated");
    let s = BinServer::start_in(&dir.0, AOF);
    let mut c = ready(&s);
    check(
        &mut c,
        &[
            (&["SET", "a", "1"], "+OK\r\n"),
            (&["SET", "b", "2"], "+OK\r\n"),
        ],
    );
    kill(s);
    let incr = dir.0.join("appendonlydir/appendonly.aof.1.incr.aof");
    let mut bytes = std::fs::read(&incr).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&incr, &bytes).unwrap();
    let mut strict = AOF.to_vec();
    strict.extend(["--aof-load-truncated", "no", "--any-port", "yes"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spindle"))
        .args(&strict)
        .arg("--dir")
        .arg(&dir.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains(
            "Unexpected end of file reading the append only file appendonly.aof.1.incr.aof"
        ),
        "{log}"
    );
    let s = BinServer::start_in(&dir.0, AOF);
    let mut c = ready(&s);
    check(
        &mut c,
        &[(&["GET", "a"], "$1\r\n1\r\n"), (&["EXISTS", "b"], ":0\r\n")],
    );
    assert!(s
        .log_text()
        .contains("!!! Warning: short read while loading the AOF file"));
    // The file was cut back to its last whole record: new records follow it.
    check(&mut c, &[(&["SET", "c", "3"], "+OK\r\n")]);
    kill(s);
    let s = BinServer::start_in(&dir.0, AOF);
    let mut c = ready(&s);
    check(&mut c, &[(&["DBSIZE"], ":2\r\n")]);
}

#[test]
fn debug_loadaof_reads_the_file_back() {
    let dir = TempDir::new("aof-loadaof");
    let s = BinServer::start_in(&dir.0, AOF);
    let mut c = ready(&s);
    check(
        &mut c,
        &[
            (&["SET", "a", "1"], "+OK\r\n"),
            (&["LPUSH", "l", "x"], ":1\r\n"),
        ],
    );
    let before = digest(&mut c);
    check(
        &mut c,
        &[(&["DEBUG", "LOADAOF"], "+OK\r\n"), (&["DBSIZE"], ":2\r\n")],
    );
    assert_eq!(digest(&mut c), before);
    drop(s);
}

/// Under `always`, a connection hands its replies to the group commit's thread and reads on
/// (src/held.rs): what it says next, in any later batch, still comes after them, from many
/// clients at once and in pieces of any size; a QUIT's reply and close come after the held
/// replies before it.
#[test]
fn held_replies_leave_in_order() {
    let dir = TempDir::new("aof-held-order");
    let s = BinServer::start_in(&dir.0, AOF);
    ready(&s);
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let mut conn = s.connect();
            std::thread::spawn(move || {
                let key = format!("n{c}");
                let mut stream = conn.stream.try_clone().unwrap();
                let writer = std::thread::spawn(move || {
                    let mut all = Vec::new();
                    for _ in 0..1500 {
                        all.extend(common::encode_cmd(&[b"INCR", key.as_bytes()]));
                        all.extend(common::encode_cmd(&[b"GET", key.as_bytes()]));
                    }
                    // Pieces of 1 to 97 bytes: batches end anywhere, inside a command too.
                    let mut at = 0;
                    let mut size = c + 1;
                    while at < all.len() {
                        let end = (at + size).min(all.len());
                        std::io::Write::write_all(&mut stream, &all[at..end]).unwrap();
                        at = end;
                        size = size * 7 % 97 + 1;
                    }
                });
                for i in 1..=1500 {
                    assert_eq!(conn.read_reply(), format!(":{i}\r\n").into_bytes());
                    assert_eq!(conn.read_reply(), common::bulk(&i.to_string()).into_bytes());
                }
                writer.join().unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let mut c = s.connect();
    c.send(b"SET a 1\r\nINCR a\r\nQUIT\r\n");
    assert_eq!(c.read_exact(14), b"+OK\r\n:2\r\n+OK\r\n");
    assert!(c.is_closed());
}

/// A held reply the client's socket does not take at once (the client is not reading) is
/// finished by the connection's own thread: every reply arrives, whole and in order, once
/// the client reads, and the group commit serves other clients meanwhile.
#[test]
fn a_held_reply_the_socket_cannot_take_is_finished_by_its_connection() {
    let dir = TempDir::new("aof-held-full");
    let s = BinServer::start_in(&dir.0, AOF);
    let mut c = ready(&s);
    let big = "x".repeat(60_000);
    check(&mut c, &[(&["SET", "big", &big], "+OK\r\n")]);
    let mut stream = c.stream.try_clone().unwrap();
    const N: usize = 300;
    let writer = std::thread::spawn(move || {
        for _ in 0..N {
            let mut batch = common::encode_cmd(&[b"INCR", b"n"]);
            batch.extend(common::encode_cmd(&[b"GET", b"big"]));
            std::io::Write::write_all(&mut stream, &batch).unwrap();
            // One batch at a time reaches the server, so each reply is held on its own.
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    // Not reading: the socket fills with 18 MB of replies while other clients write.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let mut other = s.connect();
    check(&mut other, &[(&["INCR", "other"], ":1\r\n")]);
    let want_big = common::bulk(&big).into_bytes();
    for i in 1..=N {
        assert_eq!(c.read_reply(), format!(":{i}\r\n").into_bytes());
        assert!(c.read_reply() == want_big, "GET reply {i} is not the value");
    }
    writer.join().unwrap();
    check(&mut c, &[(&["GET", "n"], &common::bulk(&N.to_string()))]);
}
