//! String commands, exact RESP bytes against a server on 127.0.0.1:0.

mod common;
use common::{check, TestServer};

#[test]
fn set_options() {
    let s = TestServer::start();
    let mut c = s.connect();
    check(
        &mut c,
        &[
            (&["SET", "k", "v", "NX"], "+OK\r\n"),
            (&["SET", "k", "w", "NX"], "$-1\r\n"),
            (&["SET", "k", "w", "XX"], "+OK\r\n"),
            (&["SET", "nokey", "w", "XX"], "$-1\r\n"),
            (&["SET", "k", "x", "GET"], "$1\r\nw\r\n"),
            (&["SET", "new", "x", "GET"], "$-1\r\n"),
            (&["SET", "k", "y", "NX", "GET"], "$1\r\nx\r\n"),
            (&["GET", "k"], "$1\r\nx\r\n"),
            (&["SET", "k", "v", "NX", "XX"], "-ERR syntax error\r\n"),
            (
                &["SET", "k", "v", "EX", "10", "PX", "100"],
                "-ERR syntax error\r\n",
            ),
            (
                &["SET", "k", "v", "EX", "10", "KEEPTTL"],
                "-ERR syntax error\r\n",
            ),
            (&["SET", "k", "v", "EX"], "-ERR syntax error\r\n"),
            (
                &["SET", "k", "v", "EX", "0"],
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                &["SET", "k", "v", "PX", "-5"],
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                &["SET", "k", "v", "EX", "abc"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (
                &["SET", "k", "v", "EX", "9223372036854775807"],
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            (&["SET", "k", "v", "EX", "100"], "+OK\r\n"),
            (&["TTL", "k"], ":100\r\n"),
            (&["SET", "k", "v2", "KEEPTTL"], "+OK\r\n"),
            (&["TTL", "k"], ":100\r\n"),
            (&["SET", "k", "v3"], "+OK\r\n"),
            (&["TTL", "k"], ":-1\r\n"),
            (&["SET", "k", "v", "PXAT", "1"], "+OK\r\n"),
            (&["GET", "k"], "$-1\r\n"),
            (&["set", "MixedCase", "1", "ex", "5", "nx"], "+OK\r\n"),
        ],
    );
}

#[test]
fn get_variants() {
    let s = TestServer::start();
    let mut c = s.connect();
    check(
        &mut c,
        &[
            (&["SET", "k", "v"], "+OK\r\n"),
            (&["GETSET", "k", "w"], "$1\r\nv\r\n"),
            (&["GETDEL", "k"], "$1\r\nw\r\n"),
            (&["GETDEL", "k"], "$-1\r\n"),
            (&["SET", "k", "v", "EX", "100"], "+OK\r\n"),
            (&["GETEX", "k", "PERSIST"], "$1\r\nv\r\n"),
            (&["TTL", "k"], ":-1\r\n"),
            (&["GETEX", "k", "EX", "50"], "$1\r\nv\r\n"),
            (&["TTL", "k"], ":50\r\n"),
            (
                &["GETEX", "k", "EX", "50", "PERSIST"],
                "-ERR syntax error\r\n",
            ),
            (&["GETEX", "k", "PXAT", "1"], "$1\r\nv\r\n"),
            (&["EXISTS", "k"], ":0\r\n"),
            (&["GETEX", "missing"], "$-1\r\n"),
            (&["SETNX", "n", "1"], ":1\r\n"),
            (&["SETNX", "n", "2"], ":0\r\n"),
            (&["SETEX", "e", "100", "v"], "+OK\r\n"),
            (&["TTL", "e"], ":100\r\n"),
            (
                &["SETEX", "e", "0", "v"],
                "-ERR invalid expire time in 'setex' command\r\n",
            ),
            (&["PSETEX", "e", "100000", "v"], "+OK\r\n"),
            (
                &["PSETEX", "e", "-1", "v"],
                "-ERR invalid expire time in 'psetex' command\r\n",
            ),
        ],
    );
}

#[test]
fn multi_key() {
    let s = TestServer::start();
    let mut c = s.connect();
    check(
        &mut c,
        &[
            (&["MSET", "a", "1", "b", "2"], "+OK\r\n"),
            (
                &["MGET", "a", "nope", "b"],
                "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n",
            ),
            (
                &["MSET", "a", "1", "b"],
                "-ERR wrong number of arguments for 'mset' command\r\n",
            ),
            (&["MSETNX", "a", "9", "c", "3"], ":0\r\n"),
            (&["EXISTS", "c"], ":0\r\n"),
            (&["MSETNX", "c", "3", "d", "4"], ":1\r\n"),
            (&["MGET", "c", "d"], "*2\r\n$1\r\n3\r\n$1\r\n4\r\n"),
        ],
    );
}

#[test]
fn ranges_and_append() {
    let s = TestServer::start();
    let mut c = s.connect();
    check(
        &mut c,
        &[
            (&["APPEND", "s", "Hello"], ":5\r\n"),
            (&["APPEND", "s", " World"], ":11\r\n"),
            (&["STRLEN", "s"], ":11\r\n"),
            (&["STRLEN", "nope"], ":0\r\n"),
            (&["GETRANGE", "s", "0", "4"], "$5\r\nHello\r\n"),
            (&["GETRANGE", "s", "-5", "-1"], "$5\r\nWorld\r\n"),
            (&["GETRANGE", "s", "5", "1"], "$0\r\n\r\n"),
            (&["GETRANGE", "s", "0", "100"], "$11\r\nHello World\r\n"),
            (&["GETRANGE", "s", "-1", "-5"], "$0\r\n\r\n"),
            (&["GETRANGE", "nope", "0", "-1"], "$0\r\n\r\n"),
            (
                &["GETRANGE", "s", "x", "1"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (&["SUBSTR", "s", "0", "0"], "$1\r\nH\r\n"),
            (&["SETRANGE", "s", "6", "Redis"], ":11\r\n"),
            (&["GET", "s"], "$11\r\nHello Redis\r\n"),
            (&["SETRANGE", "pad", "3", "x"], ":4\r\n"),
            (&["GET", "pad"], "$4\r\n\0\0\0x\r\n"),
            (&["SETRANGE", "empty", "5", ""], ":0\r\n"),
            (&["EXISTS", "empty"], ":0\r\n"),
            (
                &["SETRANGE", "s", "-1", "x"],
                "-ERR offset is out of range\r\n",
            ),
            (
                &["SETRANGE", "s", "536870912", "x"],
                "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n",
            ),
        ],
    );
}

#[test]
fn counters() {
    let s = TestServer::start();
    let mut c = s.connect();
    check(
        &mut c,
        &[
            (&["INCR", "n"], ":1\r\n"),
            (&["INCRBY", "n", "10"], ":11\r\n"),
            (&["DECR", "n"], ":10\r\n"),
            (&["DECRBY", "n", "20"], ":-10\r\n"),
            (&["SET", "n", "9223372036854775806"], "+OK\r\n"),
            (&["INCR", "n"], ":9223372036854775807\r\n"),
            (
                &["INCR", "n"],
                "-ERR increment or decrement would overflow\r\n",
            ),
            (
                &["DECRBY", "n", "-9223372036854775808"],
                "-ERR decrement would overflow\r\n",
            ),
            (&["SET", "n", " 1"], "+OK\r\n"),
            (
                &["INCR", "n"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (&["SET", "n", "01"], "+OK\r\n"),
            (
                &["INCR", "n"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (
                &["INCRBY", "m", "1e3"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (&["SET", "f", "10.5"], "+OK\r\n"),
            (&["INCRBYFLOAT", "f", "0.1"], "$4\r\n10.6\r\n"),
            (&["INCRBYFLOAT", "f", "-10.6"], "$1\r\n0\r\n"),
            (&["INCRBYFLOAT", "g", "3.0e3"], "$4\r\n3000\r\n"),
            (
                &["INCRBYFLOAT", "g", "abc"],
                "-ERR value is not a valid float\r\n",
            ),
            (
                &["INCRBYFLOAT", "g", "inf"],
                "-ERR increment would produce NaN or Infinity\r\n",
            ),
            (
                &["INCRBYFLOAT", "g", "1e5000"],
                "-ERR value is not a valid float\r\n",
            ),
        ],
    );
}
