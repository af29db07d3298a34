//! ACL users and authentication: `requirepass`, AUTH as a user, NOPERM for commands and
//! keys, rules that change under a connected client, DELUSER closing the user's clients,
//! RESET back to the default user, and the small limits before AUTH.

mod common;

use common::TestServer;
use spindle::config::Config;

#[test]
fn requirepass_holds_every_command_but_auth_until_the_password_is_given() {
    let config = Config::default();
    config.set("requirepass", "pw").unwrap();
    let server = TestServer::start_with(config);
    let mut c = server.connect();
    assert_eq!(
        c.cmd_str(&["GET", "x"]),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        c.cmd_str(&["AUTH", "nope"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    // Before AUTH, a request may not be long: the parser refuses it and closes.
    let mut big = server.connect();
    let args: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    let mut argv = vec!["MSET"];
    argv.extend(args.iter().map(String::as_str).take(11));
    assert_eq!(
        big.cmd_str(&argv),
        "-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert!(big.is_closed());
    assert_eq!(c.cmd_str(&["AUTH", "pw"]), "+OK\r\n");
    assert_eq!(c.cmd_str(&["SET", "x", "1"]), "+OK\r\n");
    // RESET: back to the default user, who needs the password again.
    assert_eq!(c.cmd_str(&["RESET"]), "+RESET\r\n");
    assert_eq!(
        c.cmd_str(&["GET", "x"]),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(c.cmd_str(&["AUTH", "default", "pw"]), "+OK\r\n");
    assert_eq!(c.cmd_str(&["GET", "x"]), "$1\r\n1\r\n");
}

#[test]
fn a_users_rules_bind_its_connections_and_follow_changes() {
    let server = TestServer::start();
    let mut admin = server.connect();
    assert_eq!(
        admin.cmd_str(&["ACL", "SETUSER", "app", "on", ">s", "~app:*", "+get", "+set"]),
        "+OK\r\n"
    );
    let mut app = server.connect();
    assert_eq!(app.cmd_str(&["AUTH", "app", "s"]), "+OK\r\n");
    assert_eq!(
        app.cmd_str(&["ACL", "WHOAMI"]),
        "-NOPERM this user has no permissions to run the 'acl|whoami' command\r\n"
    );
    assert_eq!(app.cmd_str(&["SET", "app:1", "v"]), "+OK\r\n");
    assert_eq!(
        app.cmd_str(&["SET", "other", "v"]),
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
    );
    assert_eq!(
        app.cmd_str(&["DEL", "app:1"]),
        "-NOPERM this user has no permissions to run the 'del' command\r\n"
    );
    // A change applies at the connection's next command.
    assert_eq!(admin.cmd_str(&["ACL", "SETUSER", "app", "-get"]), "+OK\r\n");
    assert_eq!(
        app.cmd_str(&["GET", "app:1"]),
        "-NOPERM this user has no permissions to run the 'get' command\r\n"
    );
    // Each refusal is in the log, newest first.
    let log = admin.cmd_str(&["ACL", "LOG", "1"]);
    assert!(
        log.contains("\r\nget\r\n") && log.contains("\r\napp\r\n"),
        "{log}"
    );
    // Deleting the user closes its connections.
    assert_eq!(admin.cmd_str(&["ACL", "DELUSER", "app"]), ":1\r\n");
    assert!(app.is_closed());
    assert_eq!(admin.cmd_str(&["ACL", "USERS"]), "*1\r\n$7\r\ndefault\r\n");
}

#[test]
fn the_aclfile_is_loaded_at_start_and_by_acl_load_and_written_by_acl_save() {
    let dir = std::env::temp_dir().join(format!("spindle-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users.acl");
    std::fs::write(
        &path,
        "user default on nopass ~* &* +@all\nuser alice on >pw ~a:* +get\n",
    )
    .unwrap();
    let config = Config::default();
    let d = spindle::config::lookup("aclfile").unwrap();
    config.set_param(d, path.to_str().unwrap(), true).unwrap();
    let server = TestServer::start_with(config);
    let mut admin = server.connect();
    let mut alice = server.connect();
    assert_eq!(alice.cmd_str(&["AUTH", "alice", "pw"]), "+OK\r\n");
    assert_eq!(
        admin.cmd_str(&["ACL", "SETUSER", "bob", "on", "nopass"]),
        "+OK\r\n"
    );
    assert_eq!(admin.cmd_str(&["ACL", "SAVE"]), "+OK\r\n");
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(
        saved.contains("\nuser bob on nopass resetchannels -@all\n"),
        "{saved}"
    );
    // A file with an error changes nothing.
    std::fs::write(&path, "user carol on +nosuch\n").unwrap();
    let reply = admin.cmd_str(&["ACL", "LOAD"]);
    assert!(
        reply.starts_with("-ERR ") && reply.contains(":1: Error in applying operation '+nosuch'"),
        "{reply}"
    );
    assert_eq!(
        admin.cmd_str(&["ACL", "USERS"]),
        "*3\r\n$5\r\nalice\r\n$3\r\nbob\r\n$7\r\ndefault\r\n"
    );
    // A good one replaces every user; the replaced users' clients are closed.
    std::fs::write(&path, "user carol on nopass +@all ~*\n").unwrap();
    assert_eq!(admin.cmd_str(&["ACL", "LOAD"]), "+OK\r\n");
    assert_eq!(
        admin.cmd_str(&["ACL", "USERS"]),
        "*2\r\n$5\r\ncarol\r\n$7\r\ndefault\r\n"
    );
    assert!(alice.is_closed());
    assert_eq!(admin.cmd_str(&["PING"]), "+PONG\r\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn auth_is_required_only_while_the_default_user_has_a_password() {
    let server = TestServer::start();
    let mut admin = server.connect();
    assert_eq!(
        admin.cmd_str(&["CONFIG", "SET", "requirepass", "pw"]),
        "+OK\r\n"
    );
    let mut c = server.connect();
    assert_eq!(c.cmd_str(&["PING"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(
        admin.cmd_str(&["CONFIG", "SET", "requirepass", ""]),
        "+OK\r\n"
    );
    assert_eq!(c.cmd_str(&["PING"]), "+PONG\r\n");
    // A CONFIG SET that fails leaves the password as it was.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port().to_string();
    let reply = admin.cmd_str(&["CONFIG", "SET", "requirepass", "new", "port", &busy]);
    assert!(reply.starts_with("-ERR CONFIG SET failed"), "{reply}");
    assert_eq!(server.connect().cmd_str(&["PING"]), "+PONG\r\n");
    assert!(admin
        .cmd_str(&["ACL", "LIST"])
        .contains("user default on nopass"));
}

#[test]
fn sort_patterns_are_checked_when_sort_runs_even_inside_exec() {
    let server = TestServer::start();
    let mut admin = server.connect();
    admin.cmd_str(&["ACL", "SETUSER", "r2", "on", ">p", "+@all", "~*"]);
    admin.cmd_str(&["SET", "w_1", "x"]);
    admin.cmd_str(&["RPUSH", "allowed1", "1", "2"]);
    let mut c = server.connect();
    assert_eq!(c.cmd_str(&["AUTH", "r2", "p"]), "+OK\r\n");
    assert_eq!(c.cmd_str(&["MULTI"]), "+OK\r\n");
    assert_eq!(
        c.cmd_str(&["SORT", "allowed1", "GET", "w_*"]),
        "+QUEUED\r\n"
    );
    admin.cmd_str(&["ACL", "SETUSER", "r2", "resetkeys", "~allowed*"]);
    assert_eq!(
        c.cmd_str(&["EXEC"]),
        "*1\r\n-ERR GET option of SORT denied due to insufficient ACL permissions.\r\n"
    );
    // An unknown option is the syntax error it is, before any pattern.
    assert_eq!(
        c.cmd_str(&["SORT", "allowed1", "FOO", "BY", "w_*"]),
        "-ERR syntax error\r\n"
    );
}

/// This machine's address on its outward interface, if it has one (no packet is sent).
fn outward_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("10.255.255.255:1").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn protected_mode_turns_away_remote_clients_while_the_default_user_has_no_password() {
    let Some(ip) = outward_ip() else {
        eprintln!("protected mode: skipped (no outward interface)");
        return;
    };
    let server = common::BinServer::start(&["--bind", "0.0.0.0"]);
    let port = server.addr.port();
    let mut remote = common::Conn::connect((ip, port).into());
    let reply = remote.read_reply();
    assert!(
        reply.starts_with(b"-DENIED Redis is running in protected mode"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let mut local = common::Conn::connect(([127, 0, 0, 1], port).into());
    assert_eq!(
        local.cmd_str(&["CONFIG", "SET", "requirepass", "pw"]),
        "+OK\r\n"
    );
    let mut remote = common::Conn::connect((ip, port).into());
    assert_eq!(remote.cmd_str(&["AUTH", "pw"]), "+OK\r\n");
    assert_eq!(remote.cmd_str(&["PING"]), "+PONG\r\n");
}
