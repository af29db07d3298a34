//! SLOWLOG: what is logged (with a threshold of 0, everything but EXEC), trimmed and
//! redacted arguments, and a blocked command logged when its wait ends.

mod common;

use common::TestServer;

fn entries(c: &mut common::Conn) -> String {
    c.cmd_str(&["SLOWLOG", "GET", "-1"])
}

#[test]
fn commands_are_logged_trimmed_and_redacted() {
    let server = TestServer::start();
    let mut c = server.connect();
    assert_eq!(c.cmd_str(&["SLOWLOG", "LEN"]), ":0\r\n");
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        "+OK\r\n"
    );
    c.cmd_str(&["CLIENT", "SETNAME", "me"]);
    c.cmd_str(&["SLOWLOG", "RESET"]);
    let long = "A".repeat(130);
    c.cmd_str(&["SET", "k", &long]);
    c.cmd_str(&["ACL", "SETUSER", "u", "on", ">pw"]);
    c.cmd_str(&["CONFIG", "SET", "requirepass", "secret"]);
    c.cmd_str(&["CONFIG", "SET", "requirepass", ""]);
    c.cmd_str(&["MULTI"]);
    c.cmd_str(&["PING"]);
    c.cmd_str(&["EXEC"]);
    let log = entries(&mut c);
    assert!(
        log.contains(&format!(
            "$3\r\nSET\r\n$1\r\nk\r\n$146\r\n{}... (2 more bytes)\r\n",
            "A".repeat(128)
        )),
        "{log}"
    );
    assert!(log.contains("$3\r\nACL\r\n$7\r\nSETUSER\r\n$10\r\n(redacted)\r\n$10\r\n(redacted)\r\n$10\r\n(redacted)\r\n"), "{log}");
    assert!(
        log.contains("$11\r\nrequirepass\r\n$10\r\n(redacted)\r\n"),
        "{log}"
    );
    assert!(!log.contains("secret") && !log.contains("EXEC"), "{log}");
    assert!(
        log.contains("$4\r\nPING\r\n") && log.contains("$2\r\nme\r\n"),
        "{log}"
    );
    // Off: nothing more is logged.
    c.cmd_str(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    let before = c.cmd_str(&["SLOWLOG", "LEN"]);
    c.cmd_str(&["PING"]);
    assert_eq!(c.cmd_str(&["SLOWLOG", "LEN"]), before);
    assert_eq!(
        c.cmd_str(&["SLOWLOG", "GET", "-2"]),
        "-ERR count should be greater than or equal to -1\r\n"
    );
}

#[test]
fn a_blocked_command_is_logged_when_its_wait_ends() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut waiter = server.connect();
    c.cmd_str(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    waiter.send_cmd(&[b"BLPOP", b"l", b"0"]);
    // Until it is served, the reset below is the newest entry.
    for _ in 0..200 {
        if c.cmd_str(&["CLIENT", "LIST"]).contains("cmd=blpop") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    c.cmd_str(&["SLOWLOG", "RESET"]);
    c.cmd_str(&["LPUSH", "l", "x"]);
    assert_eq!(waiter.read_reply(), b"*2\r\n$1\r\nl\r\n$1\r\nx\r\n");
    let newest = c.cmd_str(&["SLOWLOG", "GET", "1"]);
    assert!(
        newest.contains("$5\r\nBLPOP\r\n$1\r\nl\r\n$1\r\n0\r\n"),
        "{newest}"
    );
}
