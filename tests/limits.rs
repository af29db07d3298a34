//! Limits that are enforced, not only accepted: `maxclients` against the descriptor limit,
//! worker threads that go away when their clients do, dead peers and idle clients reaped
//! (`tcp-keepalive`, `timeout`), and `proto-max-bulk-len` / `client-query-buffer-limit` read
//! live by the parser and the string commands.
#![allow(clippy::disallowed_methods)] // tests measure wall time freely

mod common;
use common::{BinServer, Conn, TestServer};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const MAX_CLIENTS: &[u8] = b"-ERR max number of clients reached\r\n";

/// Polls `cond` every 20 ms until it holds; panics with `what` after `limit`. A bound on a
/// wait, not a timing assertion: the condition must come true eventually.
fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A connection that is answered `+PONG` (true) or turned away with the maxclients error
/// (false); anything else, or no answer at all, fails the test.
fn pong_or_rejected(addr: std::net::SocketAddr) -> (bool, Option<TcpStream>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(b"PING\r\n");
    let mut got = Vec::new();
    let mut chunk = [0u8; 128];
    while !got.ends_with(b"\r\n") {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) => panic!(
                "no reply and no close (had {:?}): {e}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    match got.as_slice() {
        b"+PONG\r\n" => (true, Some(s)),
        g if g == MAX_CLIENTS => (false, None),
        g => panic!("unexpected reply {:?}", String::from_utf8_lossy(g)),
    }
}

/// `CONFIG SET maxclients` beyond what the descriptor limit allows is refused as Redis refuses
/// it, and then every connection is either served or told it is one too many: none hangs.
#[cfg(target_os = "linux")]
#[test]
fn maxclients_above_the_descriptor_limit_is_refused() {
    let server = BinServer::start_with_nofile(&["--maxclients", "20"], 64);
    let mut c = server.connect();
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "maxclients", "200"]),
        "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating \
         system is not able to handle the specified number of clients, try with 32\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "maxclients"]),
        "*2\r\n$10\r\nmaxclients\r\n$2\r\n20\r\n"
    );
    // What the limit allows is accepted.
    assert_eq!(c.cmd_str(&["CONFIG", "SET", "maxclients", "32"]), "+OK\r\n");
    let logged_before = server.log_lines.load(std::sync::atomic::Ordering::Relaxed);
    let mut held = Vec::new();
    let mut served = 1; // `c`
    for _ in 0..100 {
        let (ok, s) = pong_or_rejected(server.addr);
        if ok {
            served += 1;
            held.extend(s);
        }
    }
    assert_eq!(served, 32, "exactly maxclients are served at once");
    let logged = server.log_lines.load(std::sync::atomic::Ordering::Relaxed) - logged_before;
    assert!(logged < 20, "{logged} log lines for 100 connections");
    drop(held);
    c.expect(b"PING\r\n", b"+PONG\r\n");
}

/// Worker threads of clients that have left exit after the idle timeout (a warm pool stays),
/// and their memory goes back.
#[cfg(target_os = "linux")]
#[test]
fn worker_threads_go_when_their_clients_do() {
    const CLIENTS: usize = 400;
    let server = BinServer::start(&["--worker-idle-ms", "100"]);
    let rss_at_start = server.proc_status("VmRSS");
    let mut conns: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    for s in &mut conns {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"PING\r\n").unwrap();
    }
    for s in &mut conns {
        let mut pong = [0u8; 7];
        s.read_exact(&mut pong).unwrap();
        assert_eq!(&pong, b"+PONG\r\n");
    }
    let threads_busy = server.proc_status("Threads");
    let rss_busy = server.proc_status("VmRSS");
    assert!(threads_busy as usize >= CLIENTS, "{threads_busy} threads");
    drop(conns);
    // The warm pool (16) and the server's own seven threads (main, signals, cron, watchdog,
    // the worker spawner, and an accept thread for each address of the default
    // `bind * -::*`) stay.
    wait_for(
        Duration::from_secs(30),
        "idle worker threads did not exit",
        || server.proc_status("Threads") <= 16 + 7,
    );
    // Their stacks and allocator pages go back (most of them: some allocator bookkeeping
    // stays).
    let grown = rss_busy.saturating_sub(rss_at_start);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rss_after = server.proc_status("VmRSS");
        if rss_after < rss_at_start + grown / 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "resident kB: {rss_at_start} at start, {rss_busy} with {CLIENTS} clients, \
             {rss_after} after they left"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let mut c = server.connect();
    c.expect(b"PING\r\n", b"+PONG\r\n");
}

/// `timeout`: a client idle for longer is closed; a busy one is not.
#[test]
fn idle_clients_are_closed_after_timeout() {
    let server = TestServer::start();
    let mut admin = server.connect();
    assert_eq!(
        admin.cmd_str(&["CONFIG", "GET", "timeout"]),
        "*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n"
    );
    assert_eq!(admin.cmd_str(&["CONFIG", "SET", "timeout", "1"]), "+OK\r\n");
    let mut idle = server.connect();
    idle.expect(b"PING\r\n", b"+PONG\r\n");
    let started = Instant::now();
    // The admin keeps talking; the idle one says nothing.
    while started.elapsed() < Duration::from_millis(2500) {
        admin.expect(b"PING\r\n", b"+PONG\r\n");
        thread::sleep(Duration::from_millis(100));
    }
    assert!(idle.is_closed(), "an idle client outlived `timeout 1`");
    // A client reading a large reply slowly but steadily is active, not idle; so is one
    // parked in a blocking command (its own timeout applies).
    let mut big = server.connect();
    big.cmd(&["SET", "big", &"x".repeat(8 * 1024 * 1024)]);
    let mut blocked = server.connect();
    blocked.send(b"BLPOP nothing 0\r\n");
    big.send(b"GET big\r\n");
    let mut got = 0usize;
    let mut chunk = vec![0u8; 64 * 1024];
    while got < 8 * 1024 * 1024 {
        let n = big
            .stream
            .read(&mut chunk)
            .expect("the slow reader was cut off");
        assert!(n > 0, "the slow reader was cut off after {got} bytes");
        got += n;
        thread::sleep(Duration::from_millis(15));
        admin.expect(b"PING\r\n", b"+PONG\r\n");
    }
    for _ in 0..15 {
        thread::sleep(Duration::from_millis(100));
        admin.expect(b"PING\r\n", b"+PONG\r\n");
    }
    admin.expect(b"LPUSH nothing x\r\n", b":1\r\n");
    assert_eq!(blocked.read_reply(), b"*2\r\n$7\r\nnothing\r\n$1\r\nx\r\n");
    admin.expect(b"PING\r\n", b"+PONG\r\n");
    assert_eq!(admin.cmd_str(&["CONFIG", "SET", "timeout", "0"]), "+OK\r\n");
    assert_eq!(
        admin.cmd_str(&["CONFIG", "SET", "timeout", "-1"]),
        "-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be \
         between 0 and 2147483647 inclusive\r\n"
    );
}

/// Runs a command, failing the test with its output if it fails.
fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace joined to this one by a veth pair; removed on drop.
struct Netns {
    name: String,
    host_ip: String,
    peer_ip: String,
    peer_if: String,
}

impl Netns {
    fn new() -> Netns {
        let id = std::process::id() % 10_000;
        let name = format!("spindle-t{id}");
        let (host_if, peer_if) = (format!("spv{id}a"), format!("spv{id}b"));
        let net = id % 250;
        let (host_ip, peer_ip) = (format!("10.213.{net}.1"), format!("10.213.{net}.2"));
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let _ = Command::new("ip").args(["link", "del", &host_if]).output();
        let ns = Netns {
            name: name.clone(),
            host_ip: host_ip.clone(),
            peer_ip: peer_ip.clone(),
            peer_if: peer_if.clone(),
        };
        run(&["ip", "netns", "add", &name]);
        run(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if,
        ]);
        run(&["ip", "link", "set", &peer_if, "netns", &name]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            &host_if,
        ]);
        run(&["ip", "link", "set", &host_if, "up"]);
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{peer_ip}/30"),
            "dev",
            &peer_if,
        ]);
        ns.exec(&["ip", "link", "set", &peer_if, "up"]);
        ns
    }

    fn exec(&self, args: &[&str]) {
        let mut all = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(args);
        run(&all);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace destroys its end of the pair, and with it the other end.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A peer that vanishes without a FIN is reaped by TCP keepalive (`tcp-keepalive`), as in
/// Redis: its thread, descriptor and maxclients slot come back. The peer lives in a network
/// namespace whose link is then cut, so nothing ever tells the server it is gone. Needs root
/// (CI runs as root); skipped without it, or with SPINDLE_SKIP_NETNS=1.
#[cfg(target_os = "linux")]
#[test]
fn dead_peers_are_reaped_by_keepalive() {
    // SAFETY: getuid has no preconditions.
    if std::env::var_os("SPINDLE_SKIP_NETNS").is_some() || unsafe { libc::getuid() } != 0 {
        eprintln!(
            "dead_peers_are_reaped_by_keepalive: skipped (needs root for a network namespace)"
        );
        return;
    }
    let ns = Netns::new();
    let server = BinServer::start(&[
        "--bind",
        "0.0.0.0",
        "--tcp-keepalive",
        "1",
        "--protected-mode",
        "no",
    ]);
    let port = server.addr.port();
    let mut admin = Conn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(
        admin.cmd_str(&["CONFIG", "GET", "tcp-keepalive"]),
        "*2\r\n$13\r\ntcp-keepalive\r\n$1\r\n1\r\n"
    );
    // The peer: connects from inside the namespace, is answered, then stays silent.
    let script = format!(
        "exec 3<>/dev/tcp/{}/{port} && printf 'PING\\r\\n' >&3 && read -r l <&3 && echo \"$l\" \
         && exec sleep 600",
        ns.host_ip
    );
    let mut peer = Command::new("ip")
        .args(["netns", "exec", &ns.name, "bash", "-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the peer");
    let mut line = [0u8; 6];
    peer.stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut line)
        .expect("the peer's PONG");
    assert_eq!(&line, b"+PONG\r");
    let peer_listed = |admin: &mut Conn| {
        admin
            .cmd_str(&["CLIENT", "LIST"])
            .contains(&format!("addr={}:", ns.peer_ip))
    };
    assert!(peer_listed(&mut admin));
    // Cut the wire: no FIN, no RST, nothing will ever arrive from the peer again.
    ns.exec(&["ip", "link", "set", &ns.peer_if, "down"]);
    wait_for(
        Duration::from_secs(30),
        "the vanished peer was never reaped",
        || !peer_listed(&mut admin),
    );
    let _ = peer.kill();
    let _ = peer.wait();
}

/// `tcp-keepalive` is Redis's setting: 300 by default, settable, range-checked.
#[test]
fn tcp_keepalive_setting() {
    let server = TestServer::start();
    let mut c = server.connect();
    common::check(
        &mut c,
        &[
            (
                &["CONFIG", "GET", "tcp-keepalive"],
                "*2\r\n$13\r\ntcp-keepalive\r\n$3\r\n300\r\n",
            ),
            (&["CONFIG", "SET", "tcp-keepalive", "60"], "+OK\r\n"),
            (
                &["CONFIG", "GET", "tcp-keepalive"],
                "*2\r\n$13\r\ntcp-keepalive\r\n$2\r\n60\r\n",
            ),
            (
                &["CONFIG", "SET", "tcp-keepalive", "x"],
                "-ERR CONFIG SET failed (possibly related to argument 'tcp-keepalive') - \
                 argument couldn't be parsed into an integer\r\n",
            ),
        ],
    );
    // New connections are still served with it on.
    let mut d = server.connect();
    d.expect(b"PING\r\n", b"+PONG\r\n");
}

/// `proto-max-bulk-len` set at run time bounds what the string commands create and what the
/// parser accepts; below Redis's 1 MB floor it is refused.
#[test]
fn proto_max_bulk_len_is_enforced_live() {
    let server = TestServer::start();
    let mut c = server.connect();
    const TOO_LONG: &str = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
    common::check(
        &mut c,
        &[
            (
                &["CONFIG", "SET", "proto-max-bulk-len", "1000"],
                "-ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - \
                 argument must be between 1048576 and 9223372036854775807 inclusive\r\n",
            ),
            (&["SETRANGE", "pk", "3000000", "x"], ":3000001\r\n"),
            (&["CONFIG", "SET", "proto-max-bulk-len", "2mb"], "+OK\r\n"),
            (
                &["CONFIG", "GET", "proto-max-bulk-len"],
                "*2\r\n$18\r\nproto-max-bulk-len\r\n$7\r\n2097152\r\n",
            ),
            (&["SETRANGE", "pk2", "3000000", "x"], TOO_LONG),
            (&["SETRANGE", "pk", "2097151", "x"], ":3000001\r\n"),
            (&["SETRANGE", "pk", "2097152", "xy"], TOO_LONG),
            (&["APPEND", "pk", "x"], TOO_LONG),
            (
                &["SETBIT", "bits", "16777216", "1"],
                "-ERR bit offset is not an integer or out of range\r\n",
            ),
            (&["SETBIT", "bits", "16777215", "1"], ":0\r\n"),
            (&["EXISTS", "pk2"], ":0\r\n"),
        ],
    );
    // The parser: a bulk over the limit is a protocol error, and the connection closes.
    let mut p = server.connect();
    p.send(b"*2\r\n$4\r\nECHO\r\n$3000000\r\n");
    assert_eq!(
        p.read_reply(),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
    assert!(p.is_closed());
    c.expect(b"PING\r\n", b"+PONG\r\n");
}

/// `client-query-buffer-limit` is settable, with Redis's floor, and a client whose unparsed
/// input passes it is closed.
#[test]
fn client_query_buffer_limit_is_enforced_live() {
    let server = TestServer::start();
    let mut c = server.connect();
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "client-query-buffer-limit", "10"]),
        "-ERR CONFIG SET failed (possibly related to argument 'client-query-buffer-limit') - \
         argument must be between 1048576 and 9223372036854775807 inclusive\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]),
        "+OK\r\n"
    );
    // 1.5 MB announced, 1.2 MB of it sent: over the limit before it is complete.
    let mut big = server.connect();
    let mut req = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1500000\r\n".to_vec();
    req.extend(vec![b'x'; 1_200_000]);
    let _ = big.stream.write_all(&req);
    assert!(
        big.is_closed(),
        "a client past client-query-buffer-limit stays"
    );
    c.expect(b"EXISTS k\r\n", b":0\r\n");
}
