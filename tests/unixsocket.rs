//! `unixsocket` and `unixsocketperm`: the Unix socket is served beside TCP by the same code,
//! its clients show as `path:0` with the `U` flag, count as local (protected mode), and the
//! socket file is made with the mode asked for and removed at shutdown.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;

use common::BinServer;

fn cmd(s: &mut UnixStream, line: &str) -> String {
    s.write_all(line.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn the_unix_socket_serves_beside_tcp() {
    let dir = std::env::temp_dir().join(format!("spindle-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("spindle.sock");
    let p = path.to_str().unwrap();
    // A stale file where the socket goes is replaced, as Redis does.
    std::fs::write(&path, b"stale").unwrap();
    let mut server = BinServer::start(&["--unixsocket", p, "--unixsocketperm", "700"]);
    common::wait_for("ready on unix", || {
        server
            .log_text()
            .contains("Ready to accept connections unix")
    });
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);

    let mut u = UnixStream::connect(&path).unwrap();
    assert_eq!(cmd(&mut u, "PING\r\n"), "+PONG\r\n");
    assert_eq!(cmd(&mut u, "SET k v\r\n"), "+OK\r\n");
    // The same data as over TCP.
    let mut t = server.connect();
    assert_eq!(t.cmd_str(&["GET", "k"]), "$1\r\nv\r\n");
    let info = cmd(&mut u, "CLIENT INFO\r\n");
    assert!(
        info.contains(&format!(" addr={p}:0 laddr={p}:0 ")),
        "{info}"
    );
    assert!(info.contains(" flags=U "), "{info}");
    let list = t.cmd_str(&["CLIENT", "LIST"]);
    assert!(list.contains(&format!("addr={p}:0")), "{list}");
    assert_eq!(
        t.cmd_str(&["CONFIG", "GET", "unixsocket"]),
        format!("*2\r\n$10\r\nunixsocket\r\n${}\r\n{p}\r\n", p.len())
    );
    // CLIENT KILL ADDR finds it by its path.
    assert_eq!(
        t.cmd_str(&["CLIENT", "KILL", "ADDR", &format!("{p}:0")]),
        ":1\r\n"
    );
    let mut buf = [0u8; 16];
    assert_eq!(u.read(&mut buf).unwrap_or(0), 0);

    t.send_cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    assert_eq!(server.wait_exit(), Some(0));
    assert!(!path.exists(), "the socket file is removed at exit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_socket_that_cannot_be_made_stops_the_start() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_spindle"));
    let out = cmd
        .args([
            "--port",
            "0",
            "--unixsocket",
            "/nonexistent-dir/spindle.sock",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("Failed opening Unix socket: "), "{log}");
}

/// A server started with `port 0` and a Unix socket in a directory of its own (`tag`), and a
/// connection through the socket.
fn on_socket_alone(
    tag: &str,
    extra: &[&str],
) -> (std::path::PathBuf, std::process::Child, UnixStream) {
    let dir = std::env::temp_dir().join(format!("spindle-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_spindle"))
        .current_dir(&dir)
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--unixsocket",
            path.to_str().unwrap(),
        ])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for("the socket", || UnixStream::connect(&path).is_ok());
    let u = UnixStream::connect(&path).unwrap();
    (dir, child, u)
}

#[test]
fn bind_nothing_serves_the_unix_socket_alone() {
    let (dir, mut child, mut u) = on_socket_alone("unix-only", &["--bind", ""]);
    assert_eq!(
        cmd(&mut u, "CONFIG GET bind\r\n"),
        "*2\r\n$4\r\nbind\r\n$0\r\n\r\n"
    );
    u.write_all(b"SHUTDOWN NOSAVE\r\n").unwrap();
    assert_eq!(child.wait().ok().and_then(|s| s.code()), Some(0));
    let _ = std::fs::remove_dir_all(&dir);

    // Nothing at all to listen on is refused, as redis-server refuses it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spindle"))
        .args(["--port", "0", "--bind", ""])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("Configured to not listen anywhere, exiting."));
}

/// `port 0` is no TCP listener, as in Redis: a server started with it and a Unix socket is
/// reached through the socket alone, and `CONFIG SET port` opens and closes TCP at run time.
#[test]
fn port_zero_listens_on_no_tcp_port() {
    let (dir, mut child, mut u) = on_socket_alone("port0", &["--bind", "127.0.0.1"]);
    assert_eq!(
        cmd(&mut u, "CONFIG GET port\r\n"),
        "*2\r\n$4\r\nport\r\n$1\r\n0\r\n"
    );
    // The process listens on no TCP socket: every listening socket it has is the Unix one.
    let listening = |pid: u32| -> usize {
        let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter_map(|l| {
                let l = l.to_string_lossy().into_owned();
                Some(
                    l.strip_prefix("socket:[")?
                        .trim_end_matches(']')
                        .to_string(),
                )
            })
            .collect();
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default()
            + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
        table
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            // State 0A is LISTEN; field 9 is the inode.
            .filter(|f| f.len() > 9 && f[3] == "0A" && inodes.contains(&f[9].to_string()))
            .count()
    };
    assert_eq!(listening(child.id()), 0);
    // A port set at run time opens TCP; port 0 closes it again.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let set = format!("CONFIG SET port {port}\r\n");
    assert_eq!(cmd(&mut u, &set), "+OK\r\n");
    assert_eq!(listening(child.id()), 1);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert_eq!(cmd(&mut u, "CONFIG SET port 0\r\n"), "+OK\r\n");
    common::wait_for("no TCP listener", || listening(child.id()) == 0);
    u.write_all(b"SHUTDOWN NOSAVE\r\n").unwrap();
    assert_eq!(child.wait().ok().and_then(|s| s.code()), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
