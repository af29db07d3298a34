//! MIGRATE between two servers: keys move with their TTL (or are copied), the target's
//! errors and an unreachable or silent target get Redis's replies, only the keys the target
//! took are deleted, connections are kept for reuse, and a key changed while its payload is
//! on the way stays here.

mod common;
use common::{check, Conn, TestServer};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

/// INFO `migrate_cached_sockets`.
fn cached(c: &mut Conn) -> String {
    let info = c.cmd_str(&["INFO", "stats"]);
    info.split("\r\n")
        .find_map(|l| {
            l.strip_prefix("migrate_cached_sockets:")
                .map(str::to_string)
        })
        .unwrap_or_default()
}

#[test]
fn keys_move_or_are_copied_with_their_ttl() {
    let (a, b) = (TestServer::start(), TestServer::start());
    let (mut ca, mut cb) = (a.connect(), b.connect());
    let port = b.addr.port().to_string();
    check(
        &mut ca,
        &[
            (&["SET", "k", "v"], "+OK\r\n"),
            (&["RPUSH", "l", "a", "b", "c"], ":3\r\n"),
            (&["PEXPIRE", "l", "100000"], ":1\r\n"),
            (&["HSET", "h", "f", "1"], ":1\r\n"),
        ],
    );
    assert_eq!(cached(&mut ca), "0");
    check(
        &mut ca,
        &[
            (&["MIGRATE", "127.0.0.1", &port, "k", "0", "1000"], "+OK\r\n"),
            (&["EXISTS", "k"], ":0\r\n"),
            (&["MIGRATE", "127.0.0.1", &port, "l", "3", "1000", "COPY"], "+OK\r\n"),
            (&["EXISTS", "l"], ":1\r\n"),
            (
                &["MIGRATE", "127.0.0.1", &port, "l", "3", "1000", "COPY"],
                "-ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n",
            ),
            (&["MIGRATE", "127.0.0.1", &port, "l", "3", "1000", "REPLACE"], "+OK\r\n"),
            (&["EXISTS", "l"], ":0\r\n"),
            (&["MIGRATE", "127.0.0.1", &port, "l", "3", "1000"], "+NOKEY\r\n"),
            (
                &["MIGRATE", "127.0.0.1", &port, "", "3", "1000", "KEYS", "nokey", "h", "nokey2"],
                "+OK\r\n",
            ),
            (
                &["MIGRATE", "127.0.0.1", &port, "k", "0", "1000", "KEYS", "a"],
                "-ERR When using MIGRATE KEYS option, the key argument must be set to the empty string\r\n",
            ),
            (&["MIGRATE", "127.0.0.1", &port, "k", "0", "1000", "AUTH"], "-ERR syntax error\r\n"),
            (&["MIGRATE", "127.0.0.1", &port, "k", "x", "1000"], "-ERR value is not an integer or out of range\r\n"),
        ],
    );
    assert_eq!(cached(&mut ca), "1");
    check(
        &mut cb,
        &[
            (&["GET", "k"], "$1\r\nv\r\n"),
            (&["SELECT", "3"], "+OK\r\n"),
            (
                &["LRANGE", "l", "0", "-1"],
                "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
            ),
            (&["HGET", "h", "f"], "$1\r\n1\r\n"),
        ],
    );
    let ttl: i64 = String::from_utf8(cb.cmd(&["PTTL", "l"])).unwrap()[1..]
        .trim()
        .parse()
        .unwrap();
    assert!((90_000..=100_000).contains(&ttl), "{ttl}");
}

#[test]
fn only_the_keys_the_target_took_are_deleted() {
    let (a, b) = (TestServer::start(), TestServer::start());
    let (mut ca, mut cb) = (a.connect(), b.connect());
    let port = b.addr.port().to_string();
    check(
        &mut ca,
        &[(&["MSET", "a", "1", "b", "2", "c", "3", "d", "4"], "+OK\r\n")],
    );
    check(&mut cb, &[(&["MSET", "b", "_", "d", "_"], "+OK\r\n")]);
    check(
        &mut ca,
        &[
            (
                &["MIGRATE", "127.0.0.1", &port, "", "0", "1000", "KEYS", "a", "b", "c", "d"],
                "-ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n",
            ),
            (&["DBSIZE"], ":2\r\n"),
            (&["EXISTS", "b", "d"], ":2\r\n"),
        ],
    );
    check(
        &mut cb,
        &[(
            &["MGET", "a", "b", "c", "d"],
            "*4\r\n$1\r\n1\r\n$1\r\n_\r\n$1\r\n3\r\n$1\r\n_\r\n",
        )],
    );
    // A wrong password: the target's error, nothing deleted.
    check(
        &mut cb,
        &[(&["CONFIG", "SET", "requirepass", "secret"], "+OK\r\n")],
    );
    check(
        &mut ca,
        &[
            (
                &["MIGRATE", "127.0.0.1", &port, "b", "0", "1000", "AUTH", "wrong"],
                "-ERR Target instance replied with error: WRONGPASS invalid username-password pair or user is disabled.\r\n",
            ),
            (&["EXISTS", "b"], ":1\r\n"),
            (&["MIGRATE", "127.0.0.1", &port, "b", "5", "1000", "AUTH2", "default", "secret", "REPLACE"], "+OK\r\n"),
            (&["EXISTS", "b"], ":0\r\n"),
        ],
    );
}

#[test]
fn an_unreachable_or_silent_target_is_an_ioerr() {
    let a = TestServer::start();
    let mut ca = a.connect();
    check(&mut ca, &[(&["SET", "k", "v"], "+OK\r\n")]);
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port().to_string();
    check(
        &mut ca,
        &[
            (
                &["MIGRATE", "127.0.0.1", &closed.to_string(), "k", "0", "200"],
                "-IOERR error or timeout writing to target instance\r\n",
            ),
            (
                &["MIGRATE", "no\u{0}host", "1", "k", "0", "200"],
                "-IOERR error or timeout connecting to the client\r\n",
            ),
            (
                &["MIGRATE", "127.0.0.1", &silent_port, "k", "0", "200"],
                "-IOERR error or timeout reading to target instance\r\n",
            ),
            (&["GET", "k"], "$1\r\nv\r\n"),
        ],
    );
    assert_eq!(cached(&mut ca), "0");
}

/// The target answers only once the test has changed one key: that key stays, with its new
/// value; the other goes.
#[test]
fn a_key_changed_on_the_way_stays() {
    let a = TestServer::start();
    let mut ca = a.connect();
    check(
        &mut ca,
        &[(&["MSET", "moved", "1", "changed", "1"], "+OK\r\n")],
    );
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port().to_string();
    let (got, go) = (mpsc::channel(), mpsc::channel::<()>());
    let fake = std::thread::spawn(move || {
        let (mut s, _) = target.accept().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // SELECT and two RESTOREs.
        while seen.windows(7).filter(|w| w == b"RESTORE").count() < 2 || !seen.ends_with(b"\r\n") {
            let n = s.read(&mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        got.0.send(()).unwrap();
        go.1.recv().unwrap();
        s.write_all(b"+OK\r\n+OK\r\n+OK\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
    });
    let mut migrating = a.connect();
    migrating.send_cmd(&[
        b"MIGRATE",
        b"127.0.0.1",
        port.as_bytes(),
        b"",
        b"0",
        b"5000",
        b"KEYS",
        b"moved",
        b"changed",
    ]);
    got.1.recv().unwrap();
    check(&mut ca, &[(&["SET", "changed", "2"], "+OK\r\n")]);
    go.0.send(()).unwrap();
    assert_eq!(migrating.read_reply(), b"+OK\r\n");
    check(
        &mut ca,
        &[
            (&["EXISTS", "moved"], ":0\r\n"),
            (&["GET", "changed"], "$1\r\n2\r\n"),
        ],
    );
    fake.join().unwrap();
}

/// A password spelled `keys` is no KEYS: the key is still the one ACL checks; and MIGRATE's
/// passwords are hidden from SLOWLOG, as Redis hides them.
#[test]
fn the_key_is_found_past_auth_and_passwords_are_redacted() {
    let a = TestServer::start();
    let mut c = a.connect();
    check(
        &mut c,
        &[
            (
                &["COMMAND", "GETKEYS", "MIGRATE", "h", "1", "secret", "0", "1", "AUTH", "keys", "COPY"],
                "*1\r\n$6\r\nsecret\r\n",
            ),
            (
                &["COMMAND", "GETKEYS", "MIGRATE", "h", "1", "", "0", "1", "AUTH2", "u", "keys", "KEYS", "a", "b"],
                "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
            ),
            (&["ACL", "SETUSER", "limited", "on", "nopass", "~open*", "+@all"], "+OK\r\n"),
            (&["SET", "secret", "v"], "+OK\r\n"),
            (&["AUTH", "limited", "x"], "+OK\r\n"),
            (
                &["MIGRATE", "127.0.0.1", "1", "secret", "0", "100", "AUTH", "keys", "COPY"],
                "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n",
            ),
            (&["AUTH", "default", "x"], "+OK\r\n"),
            (&["CONFIG", "SET", "slowlog-log-slower-than", "0"], "+OK\r\n"),
            (&["SLOWLOG", "RESET"], "+OK\r\n"),
            (&["MIGRATE", "no\u{0}host", "1", "secret", "0", "100", "AUTH2", "user", "pw", "COPY"], "-IOERR error or timeout connecting to the client\r\n"),
        ],
    );
    let log = c.cmd_str(&["SLOWLOG", "GET", "2"]);
    assert!(log.contains("(redacted)"), "{log}");
    assert!(!log.contains("pw") && !log.contains("$4\r\nuser"), "{log}");
}
