//! `supervised systemd`: the sd_notify messages reach the socket in `NOTIFY_SOCKET` (a path,
//! or an abstract name with `@`): loading, ready once serving, stopping at shutdown; and a
//! supervised server does not daemonize.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use common::BinServer;

fn messages(sock: &UnixDatagram, until: &str) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.iter().any(|m: &String| m == until) {
        let n = sock.recv(&mut buf).expect("an sd_notify message");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    got
}

#[test]
fn systemd_is_told_ready_and_stopping() {
    let dir = std::env::temp_dir().join(format!("spindle-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).unwrap();
    let mut server = BinServer::start_with_env(
        &[("NOTIFY_SOCKET", path.to_str().unwrap())],
        // daemonize is ignored when supervised: the harness still sees its log.
        &["--supervised", "systemd", "--daemonize", "yes"],
    );
    let got = messages(&sock, "READY=1\n");
    assert_eq!(
        got,
        [
            "STATUS=Spindle is loading...\n",
            "STATUS=Ready to accept connections\n",
            "READY=1\n"
        ]
    );
    assert!(server.log_text().contains("Supervised by systemd."));
    let mut c = server.connect();
    c.send_cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    assert_eq!(messages(&sock, "STOPPING=1\n"), ["STOPPING=1\n"]);
    assert_eq!(server.wait_exit(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn auto_detects_systemd_through_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("spindle-notify-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    let _server = BinServer::start_with_env(
        &[("NOTIFY_SOCKET", &format!("@{name}"))],
        &["--supervised", "auto"],
    );
    assert_eq!(
        messages(&sock, "READY=1\n").last().map(String::as_str),
        Some("READY=1\n")
    );
}

#[test]
fn systemd_without_a_socket_is_not_supervised() {
    let server = BinServer::start_with_env(&[("NOTIFY_SOCKET", "")], &["--supervised", "systemd"]);
    let log = server.log_text();
    assert!(
        log.contains("systemd supervision error: NOTIFY_SOCKET not found!"),
        "{log}"
    );
}
