//! EVAL, EVALSHA, EVAL_RO, SCRIPT: the sandbox, error texts, conversions both ways (RESP2
//! and RESP3) byte for byte as Redis 7.0 answers, and a script's atomicity under concurrency.

mod common;
use common::{check, Conn, TestServer};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

#[test]
fn sandbox_and_errors() {
    let server = TestServer::start();
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (
                &["EVAL", "return x", "0"],
                "-ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: 03c387736bb5cc009ff35151572cee04677aa374, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "x=1", "0"],
                "-ERR user_script:1: Attempt to modify a readonly table script: 7caf6056913504f0508c65faf2dc3f94ff65bcfd, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "setmetatable(_G, {})", "0"],
                "-ERR Attempt to modify a readonly table script: 0bf0a51fbb051c942113de0105d3f8e18cdcddb5, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "string.x = 1", "0"],
                "-ERR user_script:1: Attempt to modify a readonly table script: c3eb0a2a15b3d4790b323c4104029c1ae425a769, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "return type(debug)", "0"],
                "-ERR user_script:1: Script attempted to access nonexistent global variable 'debug' script: 21bcbd6f0f3639ee18732cb6907e65a4859b9625, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "return loadfile", "0"],
                "-ERR user_script:1: Script attempted to access nonexistent global variable 'loadfile' script: a08fbe72c95f67027cc9b6349f5d335b598397b7, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "return 1 +", "0"],
                "-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'\r\n",
            ),
            (
                &["EVAL", "error('boom')", "0"],
                "-ERR user_script:1: boom script: 82903a0434f1503e152f89c03c9acd881a0e8150, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "error({err='MY boom'})", "0"],
                "-MY boom script: 4c2ee35ef37c857625d6ec6d812eab72377cfa97, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "return redis.call('nosuch')", "0"],
                "-ERR Unknown Redis command called from script script: 206396248e12c6e742fd7296250433c8d7343b74, on @user_script:1.\r\n",
            ),
            (&["EVAL", "return redis.pcall('nosuch')", "0"], "-ERR Unknown Redis command called from script\r\n"),
            (
                &["EVAL", "return redis.call({})", "0"],
                "-ERR Lua redis lib command arguments must be strings or integers script: 80747816df1f4411f7c442b928fce6a814214839, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "return redis.call('blpop','k', 0)", "0"],
                "-ERR This Redis command is not allowed from script script: 735b93d9aa188819d08850791e025868e085436b, on @user_script:1.\r\n",
            ),
            (
                &["EVAL_RO", "return redis.call('set','k','v')", "0"],
                "-ERR Write commands are not allowed from read-only scripts. script: d223ed8c7345b684e8ed044ed472601f536fa58b, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "return redis.call('hgetall')", "0"],
                "-ERR Wrong number of args calling Redis command from script script: ff4ec5df72ce5c7a536cb3832646d6ebd085e00b, on @user_script:1.\r\n",
            ),
            (&["EVAL", "return 1", "a"], "-ERR value is not an integer or out of range\r\n"),
            (&["EVAL", "return 1", "3", "a"], "-ERR Number of keys can't be greater than number of args\r\n"),
            (&["EVAL", "return 1", "-1"], "-ERR Number of keys can't be negative\r\n"),
            (&["EVALSHA", "123", "0"], "-NOSCRIPT No matching script. Please use EVAL.\r\n"),
            (&["EVAL", "local ok, e = pcall(redis.call, 'nosuch'); return e", "0"], "$44\r\nERR Unknown Redis command called from script\r\n"),
            (&["EVAL", "#!lua flags=bad\nreturn 1", "0"], "-ERR Unexpected flag in script shebang: bad\r\n"),
            (&["EVAL", "#!python\nreturn 1", "0"], "-ERR Unexpected engine in script shebang: #!python\r\n"),
            (&["EVAL_RO", "#!lua\nreturn 1", "0"], "-ERR Can not execute a script with write flag using *_ro command.\r\n"),
            (&["EVAL", "return redis.REDIS_VERSION_NUM", "0"], ":458767\r\n"),
        ],
    );
}

#[test]
fn conversions() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.cmd(&["HSET", "h", "a", "1"]);
    check(
        &mut c,
        &[
            (
                &["EVAL", "return {1,2,3.7,'a',false,true,nil,5}", "0"],
                "*6\r\n:1\r\n:2\r\n:3\r\n$1\r\na\r\n$-1\r\n:1\r\n",
            ),
            (&["EVAL", "return -3.99", "0"], ":-3\r\n"),
            (&["EVAL", "return {ok='fine'}", "0"], "+fine\r\n"),
            (&["EVAL", "return {err='x'}", "0"], "-x\r\n"),
            (
                &["EVAL", "return redis.error_reply('MY err')", "0"],
                "-MY err\r\n",
            ),
            (
                &["EVAL", "return redis.error_reply('x')", "0"],
                "-ERR x\r\n",
            ),
            (&["EVAL", "return redis.status_reply('a')", "0"], "+a\r\n"),
            (&["EVAL", "return {double=3.5}", "0"], "$3\r\n3.5\r\n"),
            (&["EVAL", "return {big_number='123'}", "0"], "$3\r\n123\r\n"),
            (
                &["EVAL", "return {map={a=1}}", "0"],
                "*2\r\n$1\r\na\r\n:1\r\n",
            ),
            (
                &["EVAL", "return redis.call('get', 'nope')", "0"],
                "$-1\r\n",
            ),
            (
                &["EVAL", "return redis.call('hgetall', 'h')", "0"],
                "*2\r\n$1\r\na\r\n$1\r\n1\r\n",
            ),
            (
                &[
                    "EVAL",
                    "redis.setresp(3); return redis.call('hgetall', 'h').map.a",
                    "0",
                ],
                "$1\r\n1\r\n",
            ),
            (
                &[
                    "EVAL",
                    "redis.setresp(3); return redis.call('get', 'nope') == nil",
                    "0",
                ],
                ":1\r\n",
            ),
            (&["EVAL", "redis.setresp(3); return false", "0"], ":0\r\n"),
            (
                &[
                    "EVAL",
                    "return {KEYS[1], ARGV[1], #KEYS, #ARGV}",
                    "1",
                    "k",
                    "a",
                ],
                "*4\r\n$1\r\nk\r\n$1\r\na\r\n:1\r\n:1\r\n",
            ),
            (
                &["EVAL", "return redis.call('set', 'f', 1.5)", "0"],
                "+OK\r\n",
            ),
            (
                &["EVAL", "return redis.call('get', 'f')", "0"],
                "$3\r\n1.5\r\n",
            ),
            (
                &[
                    "EVAL",
                    "redis.call('set', 'n', 'x'); return redis.pcall('incr', 'n')",
                    "0",
                ],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (
                &["EVAL", "return redis.sha1hex('')", "0"],
                "$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n",
            ),
        ],
    );
    // RESP3 caller.
    c.cmd(&["HELLO", "3"]);
    check(
        &mut c,
        &[
            (&["EVAL", "redis.setresp(3); return true", "0"], "#t\r\n"),
            (&["EVAL", "return {double=3.5}", "0"], ",3.5\r\n"),
            (&["EVAL", "return {big_number='123'}", "0"], "(123\r\n"),
            (
                &["EVAL", "return {map={a=1}}", "0"],
                "%1\r\n$1\r\na\r\n:1\r\n",
            ),
            (&["EVAL", "return {set={a=true}}", "0"], "~1\r\n$1\r\na\r\n"),
            (
                &[
                    "EVAL",
                    "return {verbatim_string={format='txt', string='hi'}}",
                    "0",
                ],
                "=6\r\ntxt:hi\r\n",
            ),
            (&["EVAL", "return false", "0"], "_\r\n"),
        ],
    );
}

#[test]
fn script_subcommands_and_select() {
    let server = TestServer::start();
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (&["SCRIPT", "LOAD", "return 'loaded'"], "$40\r\nb534286061d4b9e4026607613b95c06c06015ae8\r\n"),
            (&["EVALSHA", "B534286061D4B9E4026607613B95C06C06015AE8", "0"], "$6\r\nloaded\r\n"),
            (&["SCRIPT", "EXISTS", "b534286061d4b9e4026607613b95c06c06015ae8", "ffff"], "*2\r\n:1\r\n:0\r\n"),
            (&["SCRIPT", "FLUSH", "foo"], "-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n"),
            (&["SCRIPT", "FLUSH", "ASYNC"], "+OK\r\n"),
            (&["SCRIPT", "EXISTS", "b534286061d4b9e4026607613b95c06c06015ae8"], "*1\r\n:0\r\n"),
            (&["SCRIPT", "KILL"], "-NOTBUSY No scripts in execution right now.\r\n"),
            (&["EVAL", "redis.call('select', 1); redis.call('set', 'in1', 'x'); return redis.call('dbsize')", "0"], ":1\r\n"),
            (&["DBSIZE"], ":0\r\n"),
            (&["SELECT", "1"], "+OK\r\n"),
            (&["DBSIZE"], ":1\r\n"),
        ],
    );
    // Inside a transaction.
    check(
        &mut c,
        &[
            (&["MULTI"], "+OK\r\n"),
            (
                &["EVAL", "return redis.call('incr', 'ctr')", "0"],
                "+QUEUED\r\n",
            ),
            (&["EXEC"], "*1\r\n:1\r\n"),
        ],
    );
}

#[test]
fn many_arguments_sorted_sets_and_oom() {
    let server = TestServer::start();
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (
                &["EVAL", "local a = {} for i=1,7999 do a[i] = 'x' end return redis.call('lpush', 'l', unpack(a))", "0"],
                ":7999\r\n",
            ),
            (&["SADD", "s", "c", "a", "b"], ":3\r\n"),
            (&["EVAL", "return redis.call('sort', 's', 'by', 'nosort')", "0"], "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
            (&["CONFIG", "SET", "maxmemory", "1"], "+OK\r\n"),
            (&["EVAL", "return redis.call('set', 'x', 'y')", "0"], "-OOM command not allowed when used memory > 'maxmemory'. script: e514266f008fd1635b562f96da6ba0f1e560ff17, on @user_script:1.\r\n"),
            (&["EVAL", "return redis.call('get', 'x')", "0"], "$-1\r\n"),
            (&["EVAL", "#!lua\nreturn 1", "0"], "-OOM command not allowed when used memory > 'maxmemory'.\r\n"),
            (&["EVAL", "#!lua flags=allow-oom\nreturn redis.call('set', 'x', 'y')", "0"], "+OK\r\n"),
            (&["CONFIG", "SET", "maxmemory", "0"], "+OK\r\n"),
        ],
    );
}

/// Transfers between two keys by read-modify-write scripts while readers check, with one
/// script each, that the sum never changes.
#[test]
fn scripts_are_atomic() {
    let server = TestServer::start();
    let mut setup = server.connect();
    setup.cmd(&["MSET", "a", "1000", "b", "1000"]);
    let stop = Arc::new(AtomicBool::new(false));
    let transfer = "local x = tonumber(redis.call('get', KEYS[1])); \
                    local y = tonumber(redis.call('get', KEYS[2])); \
                    redis.call('set', KEYS[1], x - ARGV[1]); \
                    redis.call('set', KEYS[2], y + ARGV[1]); return 1";
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut c: Conn = server.connect();
            thread::spawn(move || {
                for i in 0..300 {
                    let (from, to) = if (i + w) % 2 == 0 {
                        ("a", "b")
                    } else {
                        ("b", "a")
                    };
                    let amount = ((i * 7 + w) % 13).to_string();
                    assert_eq!(
                        c.cmd(&["EVAL", transfer, "2", from, to, &amount]),
                        b":1\r\n"
                    );
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let mut c = server.connect();
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut seen = 0;
                while !stop.load(Ordering::Relaxed) || seen == 0 {
                    let reply = c.cmd(&["MGET", "a", "b"]);
                    let text = String::from_utf8_lossy(&reply).into_owned();
                    let sum: i64 = text
                        .split("\r\n")
                        .filter_map(|l| l.parse::<i64>().ok())
                        .sum();
                    assert_eq!(sum, 2000, "{text}");
                    seen += 1;
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    let reply = setup.cmd(&[
        "EVAL",
        "return redis.call('get', 'a') + redis.call('get', 'b')",
        "0",
    ]);
    assert_eq!(reply, b":2000\r\n");
}

/// A script past `busy-reply-threshold`: other clients get BUSY (and only `allow-busy`
/// commands run), SCRIPT KILL stops a script that has not written (even one that catches
/// errors with pcall), and refuses one that has; the script's client gets Redis's error and
/// its pipelined command still runs.
#[test]
fn busy_scripts_answer_busy_and_can_be_killed() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.cmd(&["CONFIG", "SET", "lua-time-limit", "10"]);
    check(
        &mut c,
        &[(
            &["SCRIPT", "KILL"],
            "-NOTBUSY No scripts in execution right now.\r\n",
        )],
    );
    let busy = "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

    let mut runner = server.connect();
    let mut pipeline = common::encode_cmd(&[
        b"EVAL",
        b"local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end",
        b"0",
    ]);
    pipeline.extend(common::encode_cmd(&[b"PING"]));
    runner.send(&pipeline);
    common::wait_for("the script to be busy", || {
        c.cmd(&["PING"]) == busy.as_bytes()
    });
    check(
        &mut c,
        &[
            (&["GET", "x"], busy),
            (&["MULTI"], "+OK\r\n"),
            (&["INCR", "x"], busy),
            (
                &["EXEC"],
                "-EXECABORT Transaction discarded because of: BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n",
            ),
            (&["SHUTDOWN"], busy),
            (&["SCRIPT", "KILL"], "+OK\r\n"),
        ],
    );
    assert_eq!(
        runner.read_reply(),
        b"-ERR Script killed by user with SCRIPT KILL... script: 7c4647a0ff0df8a94e199764ea04d4f93a1c64b8, on @user_script:1.\r\n"
    );
    assert_eq!(runner.read_reply(), b"+PONG\r\n");
    check(&mut c, &[(&["GET", "x"], "$-1\r\n")]);

    // A script that wrote cannot be killed; one that ends by itself frees everyone, and a
    // command that arrived before the threshold simply waited for it.
    c.cmd(&["CONFIG", "SET", "lua-time-limit", "5000"]);
    runner.send_cmd(&[
        b"EVAL",
        b"redis.call('set', 'x', 1) local t = redis.call('time') repeat local n = redis.call('time') until (n[1] - t[1]) * 1000000 + n[2] - t[2] > 300000 return 'done'",
        b"0",
    ]);
    thread::sleep(std::time::Duration::from_millis(50));
    check(&mut c, &[(&["GET", "x"], "$1\r\n1\r\n")]);
    assert_eq!(runner.read_reply(), b"$4\r\ndone\r\n");

    c.cmd(&["CONFIG", "SET", "lua-time-limit", "10"]);
    runner.send_cmd(&[
        b"EVAL",
        b"redis.call('set', 'y', 1) while true do end",
        b"0",
    ]);
    common::wait_for("the script to be busy", || {
        c.cmd(&["PING"]) == busy.as_bytes()
    });
    check(
        &mut c,
        &[(
            &["SCRIPT", "KILL"],
            "-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n",
        )],
    );
}

/// SHUTDOWN NOSAVE ends the server even beside a script that wrote and never ends.
#[test]
fn shutdown_nosave_stops_a_busy_script() {
    let server = common::BinServer::start(&["--lua-time-limit", "10"]);
    let mut c = server.connect();
    let mut runner = server.connect();
    runner.send_cmd(&[
        b"EVAL",
        b"redis.call('set', 'y', 1) while true do end",
        b"0",
    ]);
    let busy = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
    common::wait_for("the script to be busy", || c.cmd(&["PING"]) == busy);
    c.send_cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    let mut child = server;
    common::wait_for("the server to exit", || {
        matches!(child.child.try_wait(), Ok(Some(_)))
    });
}

/// Sends a command with binary arguments and returns its raw reply.
fn raw(c: &mut Conn, args: &[&[u8]]) -> Vec<u8> {
    c.send_cmd(args);
    c.read_reply()
}

#[test]
fn cjson_bytes_and_errors() {
    let server = TestServer::start();
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (
                &["EVAL", "return cjson.encode({1, 'two', {three = 3.5}, cjson.null, true})", "0"],
                "$33\r\n[1,\"two\",{\"three\":3.5},null,true]\r\n",
            ),
            (
                &["EVAL", "return cjson.encode(cjson.decode(ARGV[1]))", "0", "{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\"}"],
                "$31\r\n{\"a\":[1,2,{\"b\":null}],\"c\":\"\u{e9}\"}\r\n",
            ),
            (
                &["EVAL", "return cjson.decode('[1,')", "0"],
                "-ERR user_script:1: Expected value but found T_END at character 4 script: ad8248c68c719abd59f0dd09dea378bb946e7d3f, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "local t = {} t[1] = t return cjson.encode(t)", "0"],
                "-ERR user_script:1: Cannot serialise, excessive nesting (1001) script: 576653f0096d47f87063058b9abe9085cdcd4f41, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "cjson.encode = nil", "0"],
                "-ERR user_script:1: Attempt to modify a readonly table script: ca8772b89bfaafed79b4e978e804ff876bb3abc5, on @user_script:1.\r\n",
            ),
        ],
    );
}

#[test]
fn cmsgpack_bytes_and_hostile_input() {
    let server = TestServer::start();
    let mut c = server.connect();
    let script: &[u8] = b"return cmsgpack.pack({1, 2, 3}, {a = 1}, -1, 2^40, 0.5, 0.1, 'str')";
    assert_eq!(
        raw(&mut c, &[b"EVAL", script, b"0"]),
        b"$36\r\n\x93\x01\x02\x03\x81\xa1a\x01\xff\xcf\x00\x00\x01\x00\x00\x00\x00\x00\xca?\x00\x00\x00\xcb?\xb9\x99\x99\x99\x99\x99\x9a\xa3str\r\n"
    );
    let unpack_all: &[u8] = b"return {cmsgpack.unpack(ARGV[1])}";
    assert_eq!(
        raw(
            &mut c,
            &[
                b"EVAL",
                unpack_all,
                b"0",
                b"\x93\x01\x02\x03\xcd\x01\x00\xa3abc"
            ]
        ),
        b"*3\r\n*3\r\n:1\r\n:2\r\n:3\r\n:256\r\n$3\r\nabc\r\n"
    );
    assert_eq!(
        raw(
            &mut c,
            &[
                b"EVAL",
                b"return {cmsgpack.unpack_one(ARGV[1])}",
                b"0",
                b"\x01\x02"
            ]
        ),
        b"*2\r\n:1\r\n:1\r\n"
    );
    let unpack: &[u8] = b"return cmsgpack.unpack(ARGV[1])";
    // A header announcing 4 billion elements allocates nothing before the input runs out.
    assert_eq!(
        raw(&mut c, &[b"EVAL", unpack, b"0", b"\xdd\xff\xff\xff\xff"]),
        b"-ERR user_script:1: Missing bytes in input. script: ccee71ef185f5b0f0f4850bba4f08bb564a6f52d, on @user_script:1.\r\n"
    );
    assert_eq!(
        raw(&mut c, &[b"EVAL", unpack, b"0", b"\xc1"]),
        b"-ERR user_script:1: Bad data format in input. script: ccee71ef185f5b0f0f4850bba4f08bb564a6f52d, on @user_script:1.\r\n"
    );
    // Nesting is bounded by the Lua stack, as in Redis.
    check(
        &mut c,
        &[(
            &["EVAL", "return cmsgpack.unpack(string.rep(string.char(0x91), 100000))", "0"],
            "-ERR user_script:1: stack overflow (in function mp_decode_to_lua_array) script: fb662eadc21608d1684417e25542be1a5b13659b, on @user_script:1.\r\n",
        )],
    );
    assert_eq!(c.cmd_str(&["PING"]), "+PONG\r\n");
}

#[test]
fn bit_and_struct() {
    let server = TestServer::start();
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (
                &["EVAL", "return {bit.band(0xff, 0x0f), bit.tohex(-1), bit.lshift(1, 31), bit.tobit(2^32 + 5), bit.bswap(0x12345678)}", "0"],
                "*5\r\n:15\r\n$8\r\nffffffff\r\n:-2147483648\r\n:5\r\n:2018915346\r\n",
            ),
            (
                &["EVAL", "return bit.band(1, {})", "0"],
                "-ERR user_script:1: bad argument #2 to 'band' (number expected, got table) script: 6a05629315079201399701ee15b1ea4d3af587f6, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "return struct.pack('i33', 1)", "0"],
                "-ERR user_script:1: integral size 33 is larger than limit of 32 script: 0a76c071d82805e752befa6958961c98c39f358f, on @user_script:1.\r\n",
            ),
            (
                &["EVAL", "return struct.unpack('c2000000000', 'abc')", "0"],
                "-ERR user_script:1: bad argument #2 to 'unpack' (data string too short) script: 81d4914215aad02cbb3d228303aee1e57b8988f3, on @user_script:1.\r\n",
            ),
        ],
    );
    assert_eq!(
        raw(
            &mut c,
            &[
                b"EVAL",
                b"return {struct.pack('>i2<I4', -2, 7), struct.unpack('>h', ARGV[1])}",
                b"0",
                b"\xff\xfe"
            ]
        ),
        b"*3\r\n$6\r\n\xff\xfe\x07\x00\x00\x00\r\n:-2\r\n:3\r\n"
    );
}

/// math.random is Redis's: one rand48 generator from its fixed start, so a fresh server's
/// first numbers are redis-server 7.0.15's first numbers, and FCALL draws from it too.
#[test]
fn math_random_follows_redis_sequence() {
    let server = TestServer::start();
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (
                &["EVAL", "return {tostring(math.random()), math.random(10), math.random(5,100)}", "0"],
                "*3\r\n$16\r\n0.39646477363839\r\n:9\r\n:38\r\n",
            ),
            (
                &["FUNCTION", "LOAD", "#!lua name=r\nredis.register_function('r', function() return tostring(math.random()) end)"],
                "$1\r\nr\r\n",
            ),
            (&["FCALL", "r", "0"], "$16\r\n0.44658343468168\r\n"),
        ],
    );
}

/// A script sent while another runs waits for it at the scripts' gate, and once the running
/// one passes busy-reply-threshold gets BUSY, as a command waiting in Redis's event loop
/// does; after SCRIPT KILL scripts run again.
#[test]
fn a_waiting_script_gets_busy_at_the_threshold() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.cmd(&["CONFIG", "SET", "lua-time-limit", "1000"]);
    let mut runner = server.connect();
    let mut second = server.connect();
    runner.send_cmd(&[b"EVAL", b"while true do end", b"0"]);
    // Well before the threshold: the runner's script has started.
    thread::sleep(std::time::Duration::from_millis(150));
    second.send_cmd(&[b"EVAL", b"return 1", b"0"]);
    assert_eq!(
        second.read_reply(),
        b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    check(&mut c, &[(&["SCRIPT", "KILL"], "+OK\r\n")]);
    assert!(runner
        .read_reply()
        .starts_with(b"-ERR Script killed by user"));
    check(&mut second, &[(&["EVAL", "return 1", "0"], ":1\r\n")]);
}
