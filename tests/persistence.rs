//! RDB snapshots through the binary: SAVE and BGSAVE write `dir/dbfilename` and a restart
//! loads it; BGSAVE is point-in-time while clients write; a failed save refuses SHUTDOWN and,
//! after BGSAVE, writes (MISCONF); a damaged file stops the start with its name and offset.

mod common;
use common::{check, info_field, wait_for, BinServer, Conn, TempDir};

fn wait_bgsave(c: &mut Conn) {
    wait_for("BGSAVE to end", || {
        info_field(c, "rdb_bgsave_in_progress") == "0"
    });
}

#[test]
fn save_then_restart_loads_everything() {
    let dir = TempDir::new("save-restart");
    let mut s = BinServer::start_in(&dir.0, &[]);
    let mut c = s.connect();
    check(
        &mut c,
        &[
            (&["SET", "s", "v"], "+OK\r\n"),
            (&["SET", "t", "v", "EX", "1000"], "+OK\r\n"),
            (&["RPUSH", "l", "a", "b"], ":2\r\n"),
            (&["SELECT", "2"], "+OK\r\n"),
            (&["ZADD", "z", "1", "m"], ":1\r\n"),
            (&["SAVE"], "+OK\r\n"),
        ],
    );
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert_eq!(info_field(&mut c, "rdb_saves"), "1");
    check(&mut c, &[(&["SET", "after", "save"], "+OK\r\n")]);
    // SHUTDOWN with the default save points saves again, with the last write.
    c.send_cmd(&[b"SHUTDOWN"]);
    assert_eq!(s.wait_exit(), Some(0));
    assert!(dir.0.join("dump.rdb").exists());

    let s = BinServer::start_in(&dir.0, &[]);
    let mut c = s.connect();
    wait_for("the load", || info_field(&mut c, "loading") == "0");
    check(
        &mut c,
        &[
            (&["GET", "s"], "$1\r\nv\r\n"),
            (&["LRANGE", "l", "0", "-1"], "*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
            (&["SELECT", "2"], "+OK\r\n"),
            (&["GET", "after"], "$4\r\nsave\r\n"),
            (&["ZSCORE", "z", "m"], "$1\r\n1\r\n"),
            (&["SELECT", "0"], "+OK\r\n"),
        ],
    );
    let ttl = c.cmd_str(&["TTL", "t"]);
    let secs: i64 = ttl.trim()[1..].parse().unwrap();
    assert!((990..=1000).contains(&secs), "{ttl}");
    assert_eq!(info_field(&mut c, "rdb_last_load_keys_loaded"), "5");
}

#[test]
fn bgsave_is_a_point_in_time_while_clients_write() {
    let dir = TempDir::new("bgsave-pit");
    let mut s = BinServer::start_in(&dir.0, &["--save", ""]);
    let mut c = s.connect();
    for i in 0..2000 {
        c.send_cmd(&[b"SET", format!("k{i}").as_bytes(), b"old"]);
    }
    for _ in 0..2000 {
        c.read_reply();
    }
    // 200 µs per key: the child takes about 0.4 s, while every key is overwritten.
    check(
        &mut c,
        &[
            (&["CONFIG", "SET", "rdb-key-save-delay", "200"], "+OK\r\n"),
            (&["BGSAVE"], "+Background saving started\r\n"),
            (&["BGSAVE"], "-ERR Background save already in progress\r\n"),
        ],
    );
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    for i in 0..2000 {
        c.send_cmd(&[b"SET", format!("k{i}").as_bytes(), b"new"]);
        c.send_cmd(&[b"SET", format!("extra{i}").as_bytes(), b"x"]);
    }
    for _ in 0..4000 {
        assert_eq!(c.read_reply(), b"+OK\r\n");
    }
    wait_bgsave(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "4000");
    c.send_cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    assert_eq!(s.wait_exit(), Some(0));

    let s = BinServer::start_in(&dir.0, &["--save", ""]);
    let mut c = s.connect();
    wait_for("the load", || info_field(&mut c, "loading") == "0");
    check(&mut c, &[(&["DBSIZE"], ":2000\r\n")]);
    for i in (0..2000).step_by(97) {
        check(&mut c, &[(&["GET", &format!("k{i}")], "$3\r\nold\r\n")]);
    }
}

#[test]
fn a_failed_save_refuses_shutdown_and_then_writes() {
    let dir = TempDir::new("failed-save");
    let mut s = BinServer::start_in(&dir.0, &["--save", "3600 1"]);
    let mut c = s.connect();
    // Once it answers, it has looked for a file to load (which would refuse a directory).
    check(&mut c, &[(&["PING"], "+PONG\r\n")]);
    // A directory where the file should go: the rename over it fails.
    std::fs::create_dir(dir.0.join("dump.rdb")).unwrap();
    check(
        &mut c,
        &[
            (&["SET", "k", "v"], "+OK\r\n"),
            (&["SAVE"], "-ERR\r\n"),
            (
                &["SHUTDOWN"],
                "-ERR Errors trying to SHUTDOWN. Check logs.\r\n",
            ),
            (&["PING"], "+PONG\r\n"),
            (&["BGSAVE"], "+Background saving started\r\n"),
        ],
    );
    wait_bgsave(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "err");
    let misconf = c.cmd_str(&["SET", "k", "v2"]);
    assert!(misconf.starts_with("-MISCONF "), "{misconf}");
    assert!(c.cmd_str(&["PING"]).starts_with("-MISCONF "));
    check(&mut c, &[(&["GET", "k"], "$1\r\nv\r\n")]);
    // Turned off, the check lets writes through; a save that works clears it too.
    check(
        &mut c,
        &[
            (
                &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
                "+OK\r\n",
            ),
            (&["SET", "k", "v3"], "+OK\r\n"),
            (
                &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
                "+OK\r\n",
            ),
        ],
    );
    std::fs::remove_dir(dir.0.join("dump.rdb")).unwrap();
    check(&mut c, &[(&["BGSAVE"], "+Background saving started\r\n")]);
    wait_bgsave(&mut c);
    check(&mut c, &[(&["SET", "k", "v4"], "+OK\r\n")]);
    c.send_cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    assert_eq!(s.wait_exit(), Some(0));
}

#[test]
fn a_damaged_file_stops_the_start() {
    let dir = TempDir::new("damaged");
    let mut s = BinServer::start_in(&dir.0, &[]);
    let mut c = s.connect();
    check(
        &mut c,
        &[
            (&["RPUSH", "l", "a", "b", "c"], ":3\r\n"),
            (&["SAVE"], "+OK\r\n"),
        ],
    );
    c.send_cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    assert_eq!(s.wait_exit(), Some(0));
    let path = dir.0.join("dump.rdb");
    let mut bytes = std::fs::read(&path).unwrap();
    let cut = bytes.len() - 12;
    bytes.truncate(cut);
    std::fs::write(&path, &bytes).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spindle"))
        .args(["--any-port", "yes", "--save", ""])
        .arg("--dir")
        .arg(&dir.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains(&*path.to_string_lossy()) && log.contains("at offset"),
        "{log}"
    );
}

#[test]
fn concurrent_saves_leave_a_whole_file() {
    let dir = TempDir::new("concurrent-saves");
    let mut s = BinServer::start_in(&dir.0, &["--save", ""]);
    let mut c = s.connect();
    for i in 0..500 {
        c.send_cmd(&[b"SET", format!("k{i}").as_bytes(), &[b'x'; 100]]);
    }
    for _ in 0..500 {
        c.read_reply();
    }
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let mut c = s.connect();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    assert_eq!(c.cmd_str(&["SAVE"]), "+OK\r\n");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    c.send_cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    assert_eq!(s.wait_exit(), Some(0));
    let s = BinServer::start_in(&dir.0, &["--save", ""]);
    let mut c = s.connect();
    wait_for("the load", || info_field(&mut c, "loading") == "0");
    check(&mut c, &[(&["DBSIZE"], ":500\r\n")]);
}

/// The change counter counts what writes changed, as Redis's does: SETBIT of a bit already
/// so, and a BITFIELD that leaves its fields as they were (or only reads them), change nothing;
/// a BITFIELD counts each field it changed, and every field it wrote when it grew the string.
#[test]
fn the_change_counter_counts_changes_not_writes() {
    let dir = TempDir::new("dirty");
    let s = BinServer::start_in(&dir.0, &["--save", ""]);
    let mut c = s.connect();
    let changes = |c: &mut Conn| -> i64 {
        info_field(c, "rdb_changes_since_last_save")
            .parse()
            .expect("a number")
    };
    let start = changes(&mut c);
    check(
        &mut c,
        &[
            (&["SETBIT", "b", "0", "0"], ":0\r\n"),
            (&["BITFIELD", "f", "SET", "i5", "0", "0"], "*1\r\n:0\r\n"),
        ],
    );
    assert_eq!(changes(&mut c), start + 2, "new keys are changes");
    check(
        &mut c,
        &[
            (&["SETBIT", "b", "0", "0"], ":0\r\n"),
            (&["BITFIELD", "f", "SET", "i5", "0", "0"], "*1\r\n:0\r\n"),
            (&["BITFIELD", "f", "GET", "i5", "0"], "*1\r\n:0\r\n"),
        ],
    );
    assert_eq!(changes(&mut c), start + 2, "nothing changed");
    check(
        &mut c,
        &[
            (&["SETBIT", "b", "0", "1"], ":0\r\n"),
            (
                &[
                    "BITFIELD", "f", "SET", "i5", "0", "1", "SET", "i5", "5", "1", "SET", "i5",
                    "0", "1",
                ],
                "*3\r\n:0\r\n:0\r\n:1\r\n",
            ),
            (&["SET", "s", "v"], "+OK\r\n"),
        ],
    );
    // The BITFIELD grew the string (its second field reaches the second byte): all three.
    assert_eq!(changes(&mut c), start + 2 + 1 + 3 + 1);
}

/// While a BGSAVE child shares the memory, the keyspace's table does not grow (Redis's
/// `dict_can_resize`): a full table stays at its size; once the child is gone, the next write
/// grows it.
#[test]
fn tables_do_not_resize_while_a_child_shares_the_memory() {
    let dir = TempDir::new("no-resize");
    let s = BinServer::start_in(&dir.0, &["--save", "", "--enable-debug-command", "yes"]);
    let mut c = s.connect();
    let table_size = |c: &mut Conn| -> String {
        let stats = c.cmd_str(&["DEBUG", "HTSTATS", "9"]);
        stats
            .lines()
            .filter(|l| l.contains("table size:"))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(",")
    };
    check(
        &mut c,
        &[
            (&["SELECT", "9"], "+OK\r\n"),
            (&["DEBUG", "POPULATE", "4094"], "+OK\r\n"),
            (&["CONFIG", "SET", "rdb-key-save-delay", "1000"], "+OK\r\n"),
            (&["BGSAVE"], "+Background saving started\r\n"),
            (&["MSET", "k1", "v1", "k2", "v2", "k3", "v3"], "+OK\r\n"),
        ],
    );
    let during = table_size(&mut c);
    // (Still in progress: the writes above came while the child was there.)
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    assert_eq!(during, "table size: 4096", "grew under a child");
    check(
        &mut c,
        &[(&["CONFIG", "SET", "rdb-key-save-delay", "0"], "+OK\r\n")],
    );
    // The child keeps the delay it started with: end it early (it is the process whose
    // parent is the server).
    let server = s.child.id().to_string();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let after = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
        if after.split_whitespace().nth(1) == Some(server.as_str()) {
            if let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() {
                // SAFETY: signals the server's own BGSAVE child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    wait_bgsave(&mut c);
    check(&mut c, &[(&["SET", "k4", "v4"], "+OK\r\n")]);
    assert!(
        table_size(&mut c).contains("table size: 8192"),
        "{}",
        table_size(&mut c)
    );
}

/// A BGSAVE child reports its progress and copy-on-write size while it writes (INFO's
/// `current_*` fields), and its final copy-on-write size when it is done
/// (`rdb_last_cow_size`); the `current_*` fields go back to 0 after it.
#[test]
fn a_bgsave_child_reports_progress_and_copy_on_write() {
    let dir = TempDir::new("child-info");
    let s = BinServer::start_in(&dir.0, &["--save", "", "--enable-debug-command", "yes"]);
    let mut c = s.connect();
    let value = "A".repeat(500);
    check(
        &mut c,
        &[
            (&["DEBUG", "POPULATE", "5000", "key", "500"], "+OK\r\n"),
            (&["CONFIG", "SET", "rdb-key-save-delay", "500"], "+OK\r\n"),
            (&["BGSAVE"], "+Background saving started\r\n"),
        ],
    );
    assert_eq!(info_field(&mut c, "current_save_keys_total"), "5000");
    let mut k = 0;
    wait_for("progress and copy-on-write reported", || {
        // Writes to shared pages make the child's copies its own.
        for _ in 0..16 {
            c.cmd(&["SET", &format!("key:{k}"), &value]);
            k = (k + 1) % 5000;
        }
        let processed: u64 = info_field(&mut c, "current_save_keys_processed")
            .parse()
            .unwrap_or(0);
        let cow: u64 = info_field(&mut c, "current_cow_size").parse().unwrap_or(0);
        processed > 0 && cow > 0 && info_field(&mut c, "current_fork_perc") != "0.00"
    });
    check(
        &mut c,
        &[(&["CONFIG", "SET", "rdb-key-save-delay", "0"], "+OK\r\n")],
    );
    wait_bgsave(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    let last: u64 = info_field(&mut c, "rdb_last_cow_size").parse().unwrap_or(0);
    assert!(last > 0, "rdb_last_cow_size {last}");
    for field in [
        "current_cow_size",
        "current_save_keys_processed",
        "current_save_keys_total",
    ] {
        assert_eq!(info_field(&mut c, field), "0", "{field}");
    }
}
