//! The real binary: signals, the SHUTDOWN command, a port in use, and the informational flags.
#![allow(clippy::disallowed_methods)] // tests measure wall time freely

mod common;
use common::{check, BinServer, Conn};

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Generous: this is not a speed test, only a check that the process does exit.
const EXIT_DEADLINE: Duration = Duration::from_secs(10);

/// Polls `child` until it exits; kills it and fails if it has not within the deadline.
fn wait_for_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + EXIT_DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not exit within {EXIT_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send_signal(server: &BinServer, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} failed");
}

/// Runs the binary with `args` to completion (with a deadline) and returns what it printed.
fn run_binary(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spindle"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spindle");
    // The output here is small, so the pipes cannot fill up before the exit.
    wait_for_exit(&mut child);
    child.wait_with_output().expect("collect output")
}

/// Connects `n` clients and makes sure each one has been admitted and served.
fn idle_clients(server: &BinServer, n: usize) -> Vec<Conn> {
    let mut conns: Vec<Conn> = (0..n).map(|_| server.connect()).collect();
    for c in &mut conns {
        c.expect(b"PING\r\n", b"+PONG\r\n");
    }
    conns
}

fn signal_stops_server_with_idle_clients(signal: &str, clients: usize) {
    let mut server = BinServer::start(&[]);
    let mut conns = idle_clients(&server, clients);
    send_signal(&server, signal);
    let status = wait_for_exit(&mut server.child);
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after {signal}: {status:?}"
    );
    for (i, c) in conns.iter_mut().enumerate() {
        assert!(c.is_closed(), "client {i} still connected after {signal}");
    }
}

#[test]
fn sigterm_with_200_idle_clients_exits_0() {
    signal_stops_server_with_idle_clients("-TERM", 200);
}

#[test]
fn sigint_exits_0() {
    signal_stops_server_with_idle_clients("-INT", 20);
}

/// `BinServer::start` returns as soon as the "listening on" banner is logged; a supervisor that
/// does the same and then sends SIGTERM must still get an orderly exit.
#[test]
fn sigterm_right_after_the_banner_exits_0() {
    for _ in 0..50 {
        let mut server = BinServer::start(&[]);
        send_signal(&server, "-TERM");
        let status = wait_for_exit(&mut server.child);
        assert_eq!(status.code(), Some(0), "{status:?}");
    }
}

#[test]
fn sigterm_with_a_command_half_sent() {
    let mut server = BinServer::start(&[]);
    let mut idle = idle_clients(&server, 3);
    let mut partial = server.connect();
    partial.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk");
    send_signal(&server, "-TERM");
    let status = wait_for_exit(&mut server.child);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(partial.is_closed());
    for c in &mut idle {
        assert!(c.is_closed());
    }
}

#[test]
fn shutdown_command_closes_without_reply_and_exits_0() {
    let mut server = BinServer::start(&[]);
    let mut other = server.connect();
    other.expect(b"PING\r\n", b"+PONG\r\n");
    let mut c = server.connect();
    c.expect(b"SET k v\r\n", b"+OK\r\n");
    c.send(b"SHUTDOWN\r\n");
    // No reply at all: the connection just ends.
    let mut rest = Vec::new();
    let _ = c.stream.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "SHUTDOWN replied {:?}",
        String::from_utf8_lossy(&rest)
    );
    let status = wait_for_exit(&mut server.child);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(other.is_closed());
}

#[test]
fn port_in_use_exits_1_with_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run_binary(&["--bind", "127.0.0.1", "--port", &port]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(&port),
        "stderr does not mention port {port}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    drop(taken);
}

#[test]
fn help_exits_0_with_usage() {
    for flag in ["--help", "-h"] {
        let out = run_binary(&[flag]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(stdout.contains("Usage"), "{flag}: {stdout}");
        assert!(stdout.contains("--port"), "{flag}: {stdout}");
    }
}

#[test]
fn version_exits_0_with_a_version() {
    for flag in ["--version", "-v"] {
        let out = run_binary(&[flag]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(
            stdout.contains(env!("CARGO_PKG_VERSION")),
            "{flag}: {stdout}"
        );
    }
}

#[test]
fn bad_flag_exits_1_with_redis_fatal_config_error() {
    let out = run_binary(&["--no-such-flag"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    // What redis-server 7.0.15 prints for the same command line.
    assert_eq!(
        stderr,
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line 2\n>>> 'no-such-flag'\nBad directive or wrong number of arguments\n"
    );
    let out = run_binary(&["--port", "1", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.ends_with(">>> 'port \"1\" \"2\"'\nwrong number of arguments\n"),
        "{stderr}"
    );
}

#[test]
fn a_config_file_and_options_start_it_and_log_as_redis() {
    let dir = std::env::temp_dir().join(format!("spindle-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("spindle.conf");
    let inc = dir.join("included.conf");
    std::fs::write(&inc, "maxclients 77\n").unwrap();
    std::fs::write(
        &conf,
        format!(
            "# a comment\n  save 900 1\nsave 300 10\ninclude {}\nlist-max-ziplist-entries 5\ndbfilename \"my dump.rdb\"\n",
            inc.display()
        ),
    )
    .unwrap();
    let server = BinServer::start_with_file(&conf, &["--timeout", "5"]);
    let mut c = server.connect();
    for (param, want) in [
        ("save", "900 1 300 10"),
        ("maxclients", "77"),
        ("timeout", "5"),
        ("dbfilename", "my dump.rdb"),
    ] {
        let got = c.cmd_str(&["CONFIG", "GET", param]);
        assert!(got.ends_with(&format!("{want}\r\n")), "{param}: {got}");
    }
    let pid = server.child.id();
    for line in [
        format!(" PID: {pid}"),
        "Configuration loaded".to_string(),
        "Server initialized".to_string(),
        "Ready to accept connections tcp".to_string(),
    ] {
        common::wait_for(&format!("{line:?} in the log"), || {
            server.log_text().contains(&line)
        });
    }
    let log = server.log_text();
    // Redis's prefix: pid, role, date, level.
    let first = log.lines().next().unwrap_or("");
    assert!(first.starts_with(&format!("{pid}:M ")), "{first}");
    assert!(first.contains(" # "), "{first}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn debians_redis_conf_starts_it() {
    let conf = std::path::Path::new("/etc/redis/redis.conf");
    if !conf.exists() {
        // CI installs redis-server, and with it this file; a machine without it has nothing
        // to check here.
        eprintln!("no /etc/redis/redis.conf here");
        return;
    }
    let dir = std::env::temp_dir().join(format!("spindle-debian-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir_s = dir.to_string_lossy().into_owned();
    let server = BinServer::start_with_file(
        conf,
        &[
            "--daemonize",
            "no",
            "--logfile",
            "",
            "--dir",
            &dir_s,
            "--bind",
            "127.0.0.1",
        ],
    );
    let mut c = server.connect();
    check(&mut c, &[(&["PING"], "+PONG\r\n")]);
    let got = c.cmd_str(&["CONFIG", "GET", "supervised"]);
    assert!(got.contains("supervised"), "{got}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn daemonize_detaches_and_keeps_a_pid_file() {
    let dir = std::env::temp_dir().join(format!("spindle-daemon-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("spindle.pid");
    let logfile = dir.join("spindle.log");
    let status = Command::new(env!("CARGO_BIN_EXE_spindle"))
        .args(["--any-port", "yes", "--save", "", "--daemonize", "yes"])
        .arg("--pidfile")
        .arg(&pidfile)
        .arg("--logfile")
        .arg(&logfile)
        .arg("--dir")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run spindle");
    // The launcher returns at once; the server goes on in the background.
    assert!(status.success());
    let mut addr = None;
    common::wait_for("the daemon's banner in its log file", || {
        let log = std::fs::read_to_string(&logfile).unwrap_or_default();
        addr = log
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|a| a.trim().parse::<std::net::SocketAddr>().ok());
        addr.is_some() && pidfile.exists()
    });
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: probes the process with signal 0.
    assert_eq!(
        unsafe { libc::kill(pid, 0) },
        0,
        "the pid file names a live process"
    );
    let mut c = Conn::connect(addr.unwrap());
    c.expect(b"PING\r\n", b"+PONG\r\n");
    c.send(b"SHUTDOWN NOSAVE\r\n");
    common::wait_for("the pid file to go", || !pidfile.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Once the connection that sent SHUTDOWN sees its close, the server no longer accepts
/// connections (Redis's process exits with both at once; the scripting suite connects again
/// at once to check that the server is gone).
#[test]
fn after_shutdown_closes_its_connection_new_connections_are_refused() {
    for _ in 0..20 {
        let mut s = BinServer::start(&[]);
        let mut c = s.connect();
        c.send(b"SHUTDOWN NOSAVE\r\n");
        assert!(c.is_closed());
        assert!(
            std::net::TcpStream::connect(s.addr).is_err(),
            "a connection was accepted after SHUTDOWN closed its client"
        );
        assert_eq!(s.wait_exit(), Some(0));
    }
}
