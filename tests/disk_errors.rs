//! A failing disk, made with a file-size limit on the server process (RLIMIT_FSIZE, SIGXFSZ
//! ignored): its writes past the limit fail with EFBIG, as they would on a full disk, until
//! the test lifts the limit. Checked as Redis 7.0 behaves:
//! - `appendfsync everysec`: a failed AOF write refuses writes with `-MISCONF Errors writing
//!   to the AOF file: ...`, reads go on, and writes come back once the disk works again (the
//!   cron retries); every write acknowledged before, during and after is in the file;
//! - `appendfsync always`: the server exits rather than acknowledge a write it could not
//!   persist, and everything it acknowledged is loaded on restart;
//! - a `BGSAVE` that cannot write its file leaves the previous `dump.rdb` whole and, with save
//!   points set and `stop-writes-on-bgsave-error yes`, refuses writes until a save succeeds.
#![cfg(target_os = "linux")]

mod common;
use common::{info_field, wait_for, BinServer, Conn, TempDir};

/// What the limit lets a file reach.
const LIMIT: u64 = 256 * 1024;

fn ready(s: &BinServer) -> Conn {
    let mut c = s.connect();
    wait_for("the load to end", || info_field(&mut c, "loading") == "0");
    c
}

/// 1,000 bytes that LZF cannot shrink (a snapshot of them is as large as the data).
fn value(i: usize) -> String {
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = String::with_capacity(1000);
    while v.len() < 1000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push_str(&format!("{x:016x}"));
    }
    v.truncate(1000);
    v
}

/// Writes 1 KB values until the server refuses one; returns how many it acknowledged and the
/// refusal.
fn write_until_refused(c: &mut Conn) -> (usize, String) {
    for i in 0..4 * LIMIT as usize / 1000 {
        let reply = c.cmd_str(&["SET", &format!("k{i}"), &value(i)]);
        if reply != "+OK\r\n" {
            return (i, reply);
        }
    }
    panic!("no write was refused past the file-size limit");
}

/// Every key of `0..n` holds its value.
fn assert_all_present(c: &mut Conn, n: usize) {
    for i in 0..n {
        let got = c.cmd_str(&["GET", &format!("k{i}")]);
        assert_eq!(got, format!("$1000\r\n{}\r\n", value(i)), "k{i} of {n}");
    }
}

#[test]
fn everysec_refuses_writes_while_the_disk_fails_and_loses_nothing_acknowledged() {
    let dir = TempDir::new("disk-everysec");
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
    ];
    let s = BinServer::start_in_with_file_limit(&dir.0, &args, LIMIT);
    let mut c = ready(&s);
    let (acked, refusal) = write_until_refused(&mut c);
    assert!(acked > 10, "only {acked} writes before the refusal");
    assert_eq!(
        refusal, "-MISCONF Errors writing to the AOF file: File too large\r\n",
        "after {acked} writes"
    );
    assert_eq!(info_field(&mut c, "aof_last_write_status"), "err");
    // Reads are served; writes stay refused while the disk fails. (The write whose record
    // failed was answered, as Redis answers it: its record waits in the buffer for a retry.)
    assert_all_present(&mut c, acked);
    let again = c.cmd_str(&["SET", "refused", "x"]);
    assert!(again.starts_with("-MISCONF"), "{again}");
    wait_for("the error in the log", || {
        s.log_text()
            .contains("Error writing to the AOF file: File too large")
    });

    s.lift_file_size_limit();
    wait_for("writes accepted again", || {
        c.cmd_str(&["SET", "after", "1"]) == "+OK\r\n"
    });
    assert_eq!(info_field(&mut c, "aof_last_write_status"), "ok");
    let total = acked + 20;
    for i in acked..total {
        assert_eq!(c.cmd_str(&["SET", &format!("k{i}"), &value(i)]), "+OK\r\n");
    }

    // Killed: what was acknowledged (written before its reply) comes back; what was refused
    // does not.
    drop(s);
    let s = BinServer::start_in(&dir.0, &args);
    let mut c = ready(&s);
    assert_all_present(&mut c, total);
    assert_eq!(c.cmd_str(&["GET", "after"]), "$1\r\n1\r\n");
    assert_eq!(c.cmd_str(&["EXISTS", "refused"]), ":0\r\n");
}

#[test]
fn always_exits_rather_than_acknowledge_a_write_it_could_not_persist() {
    let dir = TempDir::new("disk-always");
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
    ];
    let mut s = BinServer::start_in_with_file_limit(&dir.0, &args, LIMIT);
    let mut c = ready(&s);
    let mut acked = 0;
    for i in 0..4 * LIMIT as usize / 1000 {
        c.send_cmd(&[b"SET", format!("k{i}").as_bytes(), value(i).as_bytes()]);
        match c.try_read_reply() {
            Some(r) if r == b"+OK\r\n" => acked = i + 1,
            Some(r) => panic!("write {i}: {}", String::from_utf8_lossy(&r)),
            None => break,
        }
    }
    assert_eq!(s.wait_exit(), Some(1), "after {acked} acknowledged writes");
    assert!(acked > 10, "only {acked} writes before the exit");
    wait_for("the reason in the log", || {
        s.log_text().contains(
            "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...",
        )
    });
    drop(s);
    let s = BinServer::start_in(&dir.0, &args);
    let mut c = ready(&s);
    assert_all_present(&mut c, acked);
    assert_eq!(
        c.cmd_str(&["EXISTS", &format!("k{acked}")]),
        ":0\r\n",
        "the write that failed was never acknowledged"
    );
}

#[test]
fn a_failed_bgsave_keeps_the_old_snapshot_and_stops_writes_until_a_save_works() {
    let dir = TempDir::new("disk-bgsave");
    let args = [
        "--appendonly",
        "no",
        "--save",
        "3600 1",
        "--stop-writes-on-bgsave-error",
        "yes",
    ];
    let s = BinServer::start_in_with_file_limit(&dir.0, &args, LIMIT);
    let mut c = ready(&s);
    assert_eq!(c.cmd_str(&["SET", "old", "1"]), "+OK\r\n");
    assert_eq!(c.cmd_str(&["SAVE"]), "+OK\r\n");
    let snapshot = std::fs::read(dir.0.join("dump.rdb")).expect("dump.rdb");
    for i in 0..2 * LIMIT as usize / 1000 {
        assert_eq!(c.cmd_str(&["SET", &format!("k{i}"), &value(i)]), "+OK\r\n");
    }
    assert_eq!(c.cmd_str(&["BGSAVE"]), "+Background saving started\r\n");
    wait_for("the save to end", || {
        info_field(&mut c, "rdb_bgsave_in_progress") == "0"
    });
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "err");
    assert_eq!(
        std::fs::read(dir.0.join("dump.rdb")).expect("dump.rdb"),
        snapshot,
        "the failed save touched the old snapshot"
    );
    let refused = c.cmd_str(&["SET", "new", "1"]);
    assert!(
        refused.starts_with("-MISCONF Redis is configured to save RDB snapshots"),
        "{refused}"
    );
    assert_eq!(c.cmd_str(&["GET", "old"]), "$1\r\n1\r\n");
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("temp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    s.lift_file_size_limit();
    assert_eq!(c.cmd_str(&["BGSAVE"]), "+Background saving started\r\n");
    wait_for("the second save to succeed", || {
        info_field(&mut c, "rdb_last_bgsave_status") == "ok"
    });
    assert_eq!(c.cmd_str(&["SET", "new", "1"]), "+OK\r\n");
}
