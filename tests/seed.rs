//! The lab's transcripts (shared/seed), byte for byte, inline as typed in telnet and multibulk.

mod common;
use common::TestServer;

const TRANSCRIPT: &[(&[u8], &[u8])] = &[
    (b"PING\r\n", b"+PONG\r\n"),
    (b"SET key1 hello\r\n", b"+OK\r\n"),
    (b"GET key1\r\n", b"$5\r\nhello\r\n"),
    (b"GET unknown\r\n", b"$-1\r\n"),
    (b"HELLO\r\n", b"-ERR unknown command 'HELLO'\r\n"),
    (
        b"SET onlykey\r\n",
        b"-ERR wrong number of arguments for 'SET'\r\n",
    ),
];

#[test]
fn lab_transcript_inline() {
    let server = TestServer::start();
    let mut c = server.connect();
    for (input, output) in TRANSCRIPT {
        c.expect(input, output);
    }
}

#[test]
fn lab_transcript_multibulk() {
    let server = TestServer::start();
    let mut c = server.connect();
    for (input, output) in TRANSCRIPT {
        let line = std::str::from_utf8(input).unwrap().trim_end();
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        c.send(&common::encode_cmd(&args));
        assert_eq!(c.read_exact(output.len()), output.to_vec(), "{line}");
    }
}

#[test]
fn lab_two_telnet_clients_share_the_store() {
    let server = TestServer::start();
    let mut t1 = server.connect();
    let mut t2 = server.connect();
    t1.expect(b"SET user1 Alice\r\n", b"+OK\r\n");
    t1.expect(b"GET user1\r\n", b"$5\r\nAlice\r\n");
    t2.expect(b"SET user2 Bob\r\n", b"+OK\r\n");
    t2.expect(b"GET user2\r\n", b"$3\r\nBob\r\n");
    t2.expect(b"GET user1\r\n", b"$5\r\nAlice\r\n");
}
