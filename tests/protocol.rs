//! The wire protocol, byte for byte: fragmented and pipelined input, binary safety, every
//! protocol error (reply, then close), inline quirks and the basic connection commands.
//! Expected bytes were checked against redis-server 7.0.15 (except where the lab's shorter
//! error texts differ by design).

mod common;
use common::{bulk_bytes as bulk, encode_cmd, Conn, TestServer};

use std::io::{Read, Write};

/// Sends `input` on a fresh connection, expects exactly `reply`, then expects the close.
fn expect_error_and_close(server: &TestServer, input: &[u8], reply: &[u8]) {
    let mut c = server.connect();
    c.expect(input, reply);
    assert!(
        c.is_closed(),
        "connection should be closed after {:?}",
        String::from_utf8_lossy(&input[..input.len().min(40)])
    );
}

// ---------------------------------------------------------------------------------------------
// Fragmentation and pipelining

#[test]
fn one_byte_at_a_time() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.stream.set_nodelay(true).unwrap();
    let trickle = |c: &mut Conn, bytes: &[u8]| {
        for b in bytes {
            c.stream.write_all(std::slice::from_ref(b)).unwrap();
            c.stream.flush().unwrap();
        }
    };
    trickle(&mut c, b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
    assert_eq!(c.read_exact(5), b"+OK\r\n");
    trickle(&mut c, b"GET key\r\n");
    assert_eq!(c.read_exact(11), b"$5\r\nvalue\r\n");
    // Both in one trickle, the second one inline with a bare \n.
    trickle(&mut c, b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nECHO hi\n");
    assert_eq!(c.read_exact(19), b"$5\r\nvalue\r\n$2\r\nhi\r\n");
}

#[test]
fn ten_thousand_command_pipeline_in_one_write() {
    const N: usize = 10_000;
    let server = TestServer::start();
    let mut c = server.connect();
    let mut batch = Vec::new();
    for i in 0..N {
        let (k, v) = (format!("k{i}"), format!("v{i}"));
        batch.extend_from_slice(&encode_cmd(&[b"SET", k.as_bytes(), v.as_bytes()]));
    }
    c.send(&batch);
    let replies = c.read_exact(N * 5);
    assert_eq!(replies, b"+OK\r\n".repeat(N));
    for i in [0, 1, 4999, 9998, 9999] {
        let want = bulk(format!("v{i}").as_bytes());
        assert_eq!(c.cmd(&["GET", &format!("k{i}")]), want);
    }
    assert_eq!(c.cmd(&["DBSIZE"]), b":10000\r\n");
}

#[test]
fn pipeline_mixing_inline_and_multibulk() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut input = b"PING\r\n".to_vec();
    input.extend_from_slice(&encode_cmd(&[b"SET", b"a", b"1"]));
    input.extend_from_slice(b"GET a\r\n");
    input.extend_from_slice(&encode_cmd(&[b"GET", b"a"]));
    input.extend_from_slice(b"ECHO hi\n");
    input.extend_from_slice(&encode_cmd(&[b"EXISTS", b"a", b"b"]));
    input.extend_from_slice(b"\r\nDEL a\r\n");
    c.expect(
        &input,
        b"+PONG\r\n+OK\r\n$1\r\n1\r\n$1\r\n1\r\n$2\r\nhi\r\n:1\r\n:1\r\n",
    );
    // Many small mixed batches in a row, each in one write.
    for i in 0..200 {
        let mut input = format!("SET m{i} x{i}\r\n").into_bytes();
        input.extend_from_slice(&encode_cmd(&[b"GET", format!("m{i}").as_bytes()]));
        input.extend_from_slice(b"PING\r\n");
        let mut want = b"+OK\r\n".to_vec();
        want.extend_from_slice(&bulk(format!("x{i}").as_bytes()));
        want.extend_from_slice(b"+PONG\r\n");
        c.expect(&input, &want);
    }
}

// ---------------------------------------------------------------------------------------------
// Binary safety

#[test]
fn binary_value_round_trips() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut value: Vec<u8> = (0..=255u8).collect();
    value.extend_from_slice(b"\0\r\n\r\n\0*1\r\n$3\r\n");
    c.send_cmd(&[b"SET", b"bin", &value]);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    c.send_cmd(&[b"GET", b"bin"]);
    assert_eq!(c.read_reply(), bulk(&value));
    // Empty value.
    c.send_cmd(&[b"SET", b"empty", b""]);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    c.expect(b"GET empty\r\n", b"$0\r\n\r\n");
    // Inline escapes can produce NUL, CR and LF too.
    c.expect(b"SET esc \"\\x00\\r\\n\"\r\n", b"+OK\r\n");
    c.expect(b"GET esc\r\n", b"$3\r\n\0\r\n\r\n");
}

#[test]
fn key_containing_crlf() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send_cmd(&[b"SET", b"a\r\nb", b"v"]);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    c.send_cmd(&[b"GET", b"a\r\nb"]);
    assert_eq!(c.read_reply(), b"$1\r\nv\r\n");
    c.send_cmd(&[b"EXISTS", b"a", b"b", b"a\r\nb"]);
    assert_eq!(c.read_reply(), b":1\r\n");
    // A key made of every byte value.
    let key: Vec<u8> = (0..=255u8).rev().collect();
    c.send_cmd(&[b"SET", &key, b"all"]);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    c.send_cmd(&[b"GET", &key]);
    assert_eq!(c.read_reply(), b"$3\r\nall\r\n");
}

// ---------------------------------------------------------------------------------------------
// Protocol errors: one error reply, then the connection is closed

const INVALID_MBULK: &[u8] = b"-ERR Protocol error: invalid multibulk length\r\n";
const INVALID_BULK: &[u8] = b"-ERR Protocol error: invalid bulk length\r\n";

#[test]
fn invalid_multibulk_length() {
    let server = TestServer::start();
    expect_error_and_close(&server, b"*x\r\n", INVALID_MBULK);
    expect_error_and_close(&server, b"*\r\n", INVALID_MBULK);
    expect_error_and_close(&server, b"*3000000000\r\n", INVALID_MBULK);
}

#[test]
fn expected_dollar() {
    let server = TestServer::start();
    expect_error_and_close(
        &server,
        b"*1\r\n+foo\r\n",
        b"-ERR Protocol error: expected '$', got '+'\r\n",
    );
}

#[test]
fn invalid_bulk_length() {
    let server = TestServer::start();
    expect_error_and_close(&server, b"*1\r\n$-5\r\n", INVALID_BULK);
    expect_error_and_close(&server, b"*1\r\n$-1\r\n", INVALID_BULK);
    expect_error_and_close(&server, b"*1\r\n$abc\r\n", INVALID_BULK);
    expect_error_and_close(&server, b"*1\r\n$536870913\r\n", INVALID_BULK);
}

#[test]
fn unbalanced_quotes() {
    let server = TestServer::start();
    let reply = b"-ERR Protocol error: unbalanced quotes in request\r\n";
    expect_error_and_close(&server, b"set \"abc\r\n", reply);
    expect_error_and_close(&server, b"set k 'abc\r\n", reply);
    expect_error_and_close(&server, b"set k \"abc\"x\r\n", reply);
}

#[test]
fn too_big_inline_request() {
    let server = TestServer::start();
    let input = vec![b'a'; 64 * 1024 + 1];
    expect_error_and_close(
        &server,
        &input,
        b"-ERR Protocol error: too big inline request\r\n",
    );
}

#[test]
fn too_big_mbulk_count_string() {
    let server = TestServer::start();
    let mut input = b"*".to_vec();
    input.extend([b'1'; 70_000]);
    expect_error_and_close(
        &server,
        &input,
        b"-ERR Protocol error: too big mbulk count string\r\n",
    );
}

#[test]
fn too_big_bulk_count_string() {
    let server = TestServer::start();
    let mut input = b"*1\r\n$".to_vec();
    input.extend([b'1'; 70_000]);
    expect_error_and_close(
        &server,
        &input,
        b"-ERR Protocol error: too big bulk count string\r\n",
    );
}

#[test]
fn commands_before_the_bad_one_are_answered_first() {
    let server = TestServer::start();
    let mut want = b"+PONG\r\n".to_vec();
    want.extend_from_slice(INVALID_MBULK);
    expect_error_and_close(&server, b"PING\r\n*x\r\n", &want);

    let mut input = encode_cmd(&[b"SET", b"k", b"v"]);
    input.extend_from_slice(b"GET k\r\n*1\r\n$abc\r\nPING\r\n");
    let mut want = b"+OK\r\n$1\r\nv\r\n".to_vec();
    want.extend_from_slice(INVALID_BULK);
    expect_error_and_close(&server, &input, &want);

    // The server is fine and kept the data.
    let mut c = server.connect();
    c.expect(b"GET k\r\n", b"$1\r\nv\r\n");
}

#[test]
fn protocol_error_does_not_disturb_other_clients() {
    let server = TestServer::start();
    let mut good = server.connect();
    good.expect(b"SET k v\r\n", b"+OK\r\n");
    expect_error_and_close(&server, b"*x\r\n", INVALID_MBULK);
    good.expect(b"GET k\r\n", b"$1\r\nv\r\n");
}

// ---------------------------------------------------------------------------------------------
// Things that are not errors

#[test]
fn empty_multibulk_is_ignored() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.expect(b"*0\r\n*-1\r\nPING\r\n", b"+PONG\r\n");
    c.expect(b"*0\r\n", b"");
    c.expect(b"PING\r\n", b"+PONG\r\n");
}

#[test]
fn empty_lines_and_bare_newlines_inline() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.expect(b"\r\n\n\r\n   \r\nPING\n", b"+PONG\r\n");
    c.expect(b"SET a b\nGET a\n", b"+OK\r\n$1\r\nb\r\n");
    c.expect(b"  GET\t a  \r\n", b"$1\r\nb\r\n");
}

#[test]
fn inline_quoting() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.expect(b"SET k \"a b\\x41\"\r\n", b"+OK\r\n");
    c.expect(b"GET k\r\n", b"$4\r\na bA\r\n");
    c.expect(b"SET k 'it\\'s'\r\n", b"+OK\r\n");
    c.expect(b"GET k\r\n", b"$4\r\nit's\r\n");
    c.expect(b"SET \"\" \"\"\r\n", b"+OK\r\n");
    c.expect(b"GET \"\"\r\n", b"$0\r\n\r\n");
    c.expect(b"ECHO \"tab\\there\"\r\n", b"$8\r\ntab\there\r\n");
}

#[test]
fn huge_announced_argument_then_disconnect() {
    let server = TestServer::start();
    {
        let mut c = server.connect();
        c.send(b"*1\r\n$536870912\r\nabcdef");
    }
    {
        let mut c = server.connect();
        c.send(b"*2147483647\r\n$536870912\r\nxyz");
    }
    {
        let mut c = server.connect();
        c.send(b"*2\r\n$3\r\nSET\r\n$536870912\r\n");
        c.send(&[b'z'; 100_000]);
    }
    let mut other = server.connect();
    other.expect(b"PING\r\n", b"+PONG\r\n");
    other.expect(b"SET a b\r\n", b"+OK\r\n");
    other.expect(b"DBSIZE\r\n", b":1\r\n");
}

// ---------------------------------------------------------------------------------------------
// Connection and basic commands

#[test]
fn ping_and_echo() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.expect(b"PING\r\n", b"+PONG\r\n");
    c.expect(b"PING hello\r\n", b"$5\r\nhello\r\n");
    assert_eq!(c.cmd(&["PING", "a b"]), b"$3\r\na b\r\n");
    c.expect(b"ECHO hi\r\n", b"$2\r\nhi\r\n");
    assert_eq!(c.cmd(&["ECHO", ""]), b"$0\r\n\r\n");
    c.expect(
        b"ping a b\r\n",
        b"-ERR wrong number of arguments for 'ping' command\r\n",
    );
    // The connection stays usable after a command error.
    c.expect(b"PING\r\n", b"+PONG\r\n");
}

#[test]
fn quit_replies_ok_then_closes() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.expect(b"QUIT\r\n", b"+OK\r\n");
    assert!(c.is_closed());

    let mut c = server.connect();
    let mut input = encode_cmd(&[b"QUIT"]);
    input.extend_from_slice(b"PING\r\n");
    c.expect(&input, b"+OK\r\n");
    assert!(c.is_closed(), "nothing after QUIT is run");
}

/// A client that sends another request as soon as QUIT's +OK arrives sees the close, not a
/// reset: the FIN follows the reply at once, before the request can arrive unread (closing a
/// socket with unread input sends a reset, which would discard the FIN). Without the FIN
/// sent at once, a few in a thousand rounds here ended in a reset.
#[test]
fn after_quit_a_request_sent_at_once_finds_the_connection_closed_not_reset() {
    let server = TestServer::start();
    for round in 0..500 {
        let mut c = server.connect();
        c.expect(b"QUIT\r\n", b"+OK\r\n");
        c.send(b"PING\r\n");
        let mut chunk = [0u8; 64];
        match c.stream.read(&mut chunk) {
            Ok(0) => {}
            other => panic!("round {round}: {other:?} instead of the close"),
        }
    }
}

#[test]
fn del_exists_dbsize_flushall() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.expect(b"DBSIZE\r\n", b":0\r\n");
    c.expect(b"DEL a b\r\n", b":0\r\n");
    c.expect(
        b"SET a 1\r\nSET b 2\r\nSET c 3\r\n",
        b"+OK\r\n+OK\r\n+OK\r\n",
    );
    c.expect(b"DBSIZE\r\n", b":3\r\n");
    c.expect(b"EXISTS a\r\n", b":1\r\n");
    c.expect(b"EXISTS k k\r\n", b":0\r\n");
    c.expect(b"EXISTS a a\r\n", b":2\r\n");
    c.expect(b"EXISTS a b nope c\r\n", b":3\r\n");
    c.expect(b"DEL a a nope\r\n", b":1\r\n");
    c.expect(b"DEL b c\r\n", b":2\r\n");
    c.expect(b"DBSIZE\r\n", b":0\r\n");
    c.expect(b"SET x 1\r\nSET y 2\r\n", b"+OK\r\n+OK\r\n");
    c.expect(b"FLUSHALL\r\n", b"+OK\r\n");
    c.expect(b"DBSIZE\r\n", b":0\r\n");
    c.expect(b"GET x\r\n", b"$-1\r\n");
}

#[test]
fn command_count_is_an_integer() {
    let server = TestServer::start();
    let mut c = server.connect();
    let reply = c.cmd(&["COMMAND", "COUNT"]);
    let text = std::str::from_utf8(&reply).unwrap();
    let n: i64 = text
        .strip_prefix(':')
        .and_then(|t| t.strip_suffix("\r\n"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not an integer reply: {text:?}"));
    assert!(n > 0, "{n}");
    c.expect(b"command count\r\n", text.as_bytes());
}

#[test]
fn unknown_command() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.expect(
        b"foo a b\r\n",
        b"-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n",
    );
    assert_eq!(
        c.cmd(&["foo", "a", "b"]),
        b"-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"
    );
    // The connection stays open.
    c.expect(b"PING\r\n", b"+PONG\r\n");
}

#[test]
fn command_names_are_case_insensitive() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.expect(b"pInG\r\n", b"+PONG\r\n");
    c.expect(b"set k v\r\n", b"+OK\r\n");
    c.expect(b"gEt k\r\n", b"$1\r\nv\r\n");
    assert_eq!(c.cmd(&["ExIsTs", "k"]), b":1\r\n");
    assert_eq!(c.cmd(&["dbSIZE"]), b":1\r\n");
    c.expect(b"Echo x\r\n", b"$1\r\nx\r\n");
}

#[test]
fn unknown_command_error_stays_on_one_line() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send_cmd(&[b"foo", b"a\r\n"]);
    assert_eq!(
        c.read_reply(),
        b"-ERR unknown command 'foo', with args beginning with: 'a  ' \r\n"
    );
    c.expect(b"PING\r\n", b"+PONG\r\n");
}

#[test]
fn unknown_command_arguments_are_truncated() {
    let server = TestServer::start();
    let mut c = server.connect();
    let (a, b) = ("a".repeat(100), "b".repeat(100));
    let want = format!(
        "-ERR unknown command 'foo', with args beginning with: '{a}' '{}' \r\n",
        "b".repeat(25)
    );
    c.expect(format!("foo {a} {b}\r\n").as_bytes(), want.as_bytes());
}

/// Redis copies the client's bytes into the error as they are (`%s`), never re-encoded.
#[test]
fn unknown_command_error_keeps_non_utf8_bytes() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.expect(
        b"foo \xff\xfe\r\n",
        b"-ERR unknown command 'foo', with args beginning with: '\xff\xfe' \r\n",
    );
    c.expect(
        b"\xff a\r\n",
        b"-ERR unknown command '\xff', with args beginning with: 'a' \r\n",
    );
}

/// Redis cuts the name and the argument list at 128 bytes (`%.128s`), not 128 characters.
#[test]
fn unknown_command_error_truncates_at_128_bytes() {
    let server = TestServer::start();
    let mut c = server.connect();
    let e100 = "é".repeat(100);
    let e64 = "é".repeat(64);
    let want = format!("-ERR unknown command '{e64}', with args beginning with: 'x' \r\n");
    c.expect(format!("{e100} x\r\n").as_bytes(), want.as_bytes());
    let want = format!("-ERR unknown command 'foo', with args beginning with: '{e64}' \r\n");
    c.expect(format!("foo {e100}\r\n").as_bytes(), want.as_bytes());
}

#[test]
fn large_value_round_trips() {
    let server = TestServer::start();
    let mut c = server.connect();
    let value: Vec<u8> = (0..5 * 1024 * 1024 + 7)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    c.send_cmd(&[b"SET", b"large", &value]);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    c.send_cmd(&[b"GET", b"large"]);
    assert_eq!(c.read_reply(), bulk(&value));
    // An inline request just under the 64 KiB limit is fine.
    let long = "y".repeat(60_000);
    c.expect(format!("SET inl {long}\r\n").as_bytes(), b"+OK\r\n");
    c.expect(b"GET inl\r\n", &bulk(long.as_bytes()));
}

#[test]
fn pipeline_of_large_replies_arrives_whole_and_in_order() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut batch = Vec::new();
    let values: Vec<Vec<u8>> = (0..20u8).map(|i| vec![b'a' + i; 100 * 1024]).collect();
    for (i, v) in values.iter().enumerate() {
        batch.extend_from_slice(&encode_cmd(&[b"SET", format!("big{i}").as_bytes(), v]));
    }
    c.send(&batch);
    assert_eq!(
        c.read_exact(5 * values.len()),
        b"+OK\r\n".repeat(values.len())
    );
    let mut gets = Vec::new();
    for round in 0..5 {
        for i in 0..values.len() {
            let k = format!("big{}", (i + round) % values.len());
            gets.extend_from_slice(&encode_cmd(&[b"GET", k.as_bytes()]));
        }
    }
    // Written from another thread: the replies (10 MB) are read while the requests go out.
    let mut writer = c.stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&gets).unwrap());
    for round in 0..5 {
        for i in 0..values.len() {
            assert_eq!(c.read_reply(), bulk(&values[(i + round) % values.len()]));
        }
    }
    sender.join().unwrap();
}

#[test]
fn many_arguments_in_one_request() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.expect(b"SET k1 v\r\nSET k2000 v\r\n", b"+OK\r\n+OK\r\n");
    let keys: Vec<String> = (0..5000).map(|i| format!("k{i}")).collect();
    let mut args: Vec<&[u8]> = vec![b"EXISTS"];
    args.extend(keys.iter().map(|k| k.as_bytes()));
    c.send_cmd(&args);
    assert_eq!(c.read_reply(), b":2\r\n");
}
