//! FUNCTION and FCALL: libraries, the load-time sandbox, register_function's arguments,
//! script flags, DUMP/RESTORE payloads (including one redis-server 7.0.15 made), byte for
//! byte as Redis 7.0 answers.

mod common;
use common::{bulk_bytes as bulk, check, Conn, TestServer};

const LIB: &str =
    "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return {keys, args} end)";

#[test]
fn load_call_list_delete() {
    let server = TestServer::start();
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (&["FUNCTION", "LIST"], "*0\r\n"),
            (&["FUNCTION", "LOAD", LIB], "$4\r\nlib1\r\n"),
            (&["FUNCTION", "LOAD", LIB], "-ERR Library 'lib1' already exists\r\n"),
            (&["FUNCTION", "LOAD", "REPLACE", LIB], "$4\r\nlib1\r\n"),
            (&["FUNCTION", "LOAD", "foo", LIB], "-ERR Unknown option given: foo\r\n"),
            (&["FCALL", "F1", "1", "k", "a"], "*2\r\n*1\r\n$1\r\nk\r\n*1\r\n$1\r\na\r\n"),
            (&["FCALL_RO", "f1", "0"], "-ERR Can not execute a script with write flag using *_ro command.\r\n"),
            (&["FCALL", "nosuch", "0"], "-ERR Function not found\r\n"),
            (&["FCALL", "f1", "x"], "-ERR Bad number of keys provided\r\n"),
            (&["FCALL", "f1", "2", "k"], "-ERR Number of keys can't be greater than number of args\r\n"),
            (&["FCALL", "f1", "-1"], "-ERR Number of keys can't be negative\r\n"),
            (
                &["FUNCTION", "LIST"],
                "*1\r\n*6\r\n$12\r\nlibrary_name\r\n$4\r\nlib1\r\n$6\r\nengine\r\n$3\r\nLUA\r\n$9\r\nfunctions\r\n*1\r\n*6\r\n$4\r\nname\r\n$2\r\nf1\r\n$11\r\ndescription\r\n$-1\r\n$5\r\nflags\r\n*0\r\n",
            ),
            (&["FUNCTION", "LIST", "LIBRARYNAME", "x*"], "*0\r\n"),
            (&["FUNCTION", "LIST", "bad"], "-ERR Unknown argument bad\r\n"),
            (&["FUNCTION", "LIST", "libraryname"], "-ERR library name argument was not given\r\n"),
            (
                &["FUNCTION", "STATS"],
                "*4\r\n$14\r\nrunning_script\r\n$-1\r\n$7\r\nengines\r\n*2\r\n$3\r\nLUA\r\n*4\r\n$15\r\nlibraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:1\r\n",
            ),
            (&["FUNCTION", "KILL"], "-NOTBUSY No scripts in execution right now.\r\n"),
            (&["FUNCTION", "DELETE", "nosuch"], "-ERR Library not found\r\n"),
            (&["FUNCTION", "DELETE", "lib1"], "+OK\r\n"),
            (&["FCALL", "f1", "0"], "-ERR Function not found\r\n"),
            (&["FUNCTION", "FLUSH", "bad"], "-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n"),
            (&["FUNCTION", "FLUSH", "ASYNC"], "+OK\r\n"),
        ],
    );
}

#[test]
fn load_time_sandbox_and_registration() {
    let server = TestServer::start();
    let mut c = server.connect();
    let load = |body: &str| format!("#!lua name=lib\n{body}");
    let cases: Vec<(String, &str)> = vec![
        (load("return math.random()"), "-ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'math'\r\n"),
        (load("return redis.call('ping')"), "-ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'\r\n"),
        (load("a = 1"), "-ERR Error registering functions: ERR user_function:2: Attempt to modify a readonly table\r\n"),
        (load("return 1"), "-ERR No functions registered\r\n"),
        (load("return 1 +"), "-ERR Error compiling function: user_function:2: unexpected symbol near '<eof>'\r\n"),
        (load("redis.register_function()"), "-ERR Error registering functions: ERR wrong number of arguments to redis.register_function\r\n"),
        (load("redis.register_function('f')"), "-ERR Error registering functions: ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).\r\n"),
        (load("redis.register_function('a-b', function() end)"), "-ERR Error registering functions: ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long\r\n"),
        (load("redis.register_function{function_name='f', callback=function() end, flags={'bad'}}"), "-ERR Error registering functions: ERR unknown flag given\r\n"),
        (load("redis.register_function{function_name='f'}"), "-ERR Error registering functions: ERR redis.register_function must get a callback argument\r\n"),
        (load("local a = 1\nwhile true do a = a + 1 end"), "-ERR Error registering functions: ERR FUNCTION LOAD timeout\r\n"),
        ("return 1".to_string(), "-ERR Missing library metadata\r\n"),
        ("#!lua\nreturn 1".to_string(), "-ERR Library name was not given\r\n"),
        ("#!js name=x\nreturn 1".to_string(), "-ERR Engine 'js' not found\r\n"),
        ("#!lua name=x foo=bar\nreturn 1".to_string(), "-ERR Invalid metadata value given: foo=bar\r\n"),
    ];
    for (code, want) in cases {
        c.expect(
            &common::encode_cmd(&[b"FUNCTION", b"LOAD", code.as_bytes()]),
            want.as_bytes(),
        );
    }
    check(&mut c, &[(&["FUNCTION", "STATS"], "*4\r\n$14\r\nrunning_script\r\n$-1\r\n$7\r\nengines\r\n*2\r\n$3\r\nLUA\r\n*4\r\n$15\r\nlibraries_count\r\n:0\r\n$15\r\nfunctions_count\r\n:0\r\n")]);
}

#[test]
fn runtime_rules_and_flags() {
    let server = TestServer::start();
    let mut c = server.connect();
    let code = "#!lua name=lib\n\
        local lib = redis\n\
        redis.register_function('w', function(keys) return redis.call('set', keys[1], 'v') end)\n\
        redis.register_function{function_name='nw', callback=function(keys) return redis.call('set', keys[1], 'v') end, flags={'no-writes'}, description='ro'}\n\
        redis.register_function('reg', function() lib.register_function('x', function() end) end)\n\
        redis.register_function('trick', function() getmetatable(_G).__index.redis = 1 end)\n\
        redis.register_function('err', function() error('boom') end)";
    c.expect(
        &common::encode_cmd(&[b"FUNCTION", b"LOAD", code.as_bytes()]),
        b"$3\r\nlib\r\n",
    );
    check(
        &mut c,
        &[
            (&["FCALL", "w", "1", "k"], "+OK\r\n"),
            (&["FCALL", "nw", "1", "k"], "-ERR Write commands are not allowed from read-only scripts. script: nw, on @user_function:4.\r\n"),
            (&["FCALL", "reg", "0"], "-ERR redis.register_function can only be called on FUNCTION LOAD command script: reg, on @user_function:5.\r\n"),
            (&["FCALL", "trick", "0"], "-ERR user_function:6: attempt to index field '__index' (a function value) script: trick, on @user_function:6.\r\n"),
            (&["FCALL", "err", "0"], "-ERR user_function:7: boom script: err, on @user_function:7.\r\n"),
            (&["FCALL", "w", "1", "k"], "+OK\r\n"),
            (&["CONFIG", "SET", "maxmemory", "1"], "+OK\r\n"),
            (&["FCALL", "w", "1", "k"], "-OOM command not allowed when used memory > 'maxmemory'.\r\n"),
            (&["CONFIG", "SET", "maxmemory", "0"], "+OK\r\n"),
        ],
    );
}

/// `FUNCTION DUMP` of redis-server 7.0.15 after loading this library (its code is
/// LZF-compressed in the payload).
const REDIS_CODE: &[u8] = b"#!lua name=restored\nredis.register_function('rf', function() return 'restored, restored, restored, restored times three' end)\nredis.register_function('rf2', function() return 'restored, restored, restored, restored times three' end)\n";
const REDIS_DUMP: &[u8] = b"\xf5\xc3@j@\xe9\x13#!lua name=restored\n \x03\x1ais.register_function('rf', \xe0\x00\x0e\x09) return '\xc09\x00, \x11\x80C\xe0\x0b\x09\x11 times three' end)\xe0\x13i\x002\xe0Dj\x01)\n\n\x00\x00+\xe5\x09\xa4\xbe\x11v";

#[test]
fn dump_and_restore_in_redis_format() {
    let server = TestServer::start();
    let mut c = server.connect();
    // A payload redis-server made restores here, and dumps back the same bytes.
    c.expect(
        &common::encode_cmd(&[b"FUNCTION", b"RESTORE", REDIS_DUMP]),
        b"+OK\r\n",
    );
    c.expect(
        &common::encode_cmd(&[b"FCALL", b"rf2", b"0"]),
        &bulk(b"restored, restored, restored, restored times three"),
    );
    c.expect(
        &common::encode_cmd(&[b"FUNCTION", b"DUMP"]),
        &bulk(REDIS_DUMP),
    );
    c.expect(
        &common::encode_cmd(&[b"FUNCTION", b"RESTORE", REDIS_DUMP]),
        b"-ERR Library restored already exists\r\n",
    );
    c.expect(
        &common::encode_cmd(&[b"FUNCTION", b"RESTORE", REDIS_DUMP, b"REPLACE"]),
        b"+OK\r\n",
    );
    let mut bad = REDIS_DUMP.to_vec();
    *bad.last_mut().unwrap() ^= 1;
    c.expect(
        &common::encode_cmd(&[b"FUNCTION", b"RESTORE", &bad]),
        b"-ERR DUMP payload version or checksum are wrong\r\n",
    );
    c.expect(
        &common::encode_cmd(&[b"FUNCTION", b"RESTORE", REDIS_DUMP, b"BAD"]),
        b"-ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.\r\n",
    );
    // Loading the same code gives the same payload.
    check(&mut c, &[(&["FUNCTION", "FLUSH"], "+OK\r\n")]);
    c.expect(
        &common::encode_cmd(&[b"FUNCTION", b"LOAD", REDIS_CODE]),
        b"$8\r\nrestored\r\n",
    );
    c.expect(
        &common::encode_cmd(&[b"FUNCTION", b"DUMP"]),
        &bulk(REDIS_DUMP),
    );
    // A library whose functions collide with another's is refused whole.
    check(&mut c, &[(&["FUNCTION", "FLUSH"], "+OK\r\n")]);
    c.expect(
        &common::encode_cmd(&[
            b"FUNCTION",
            b"LOAD",
            b"#!lua name=other\nredis.register_function('RF', function() return 1 end)",
        ]),
        b"$5\r\nother\r\n",
    );
    c.expect(
        &common::encode_cmd(&[b"FUNCTION", b"RESTORE", REDIS_DUMP]),
        b"-ERR Function rf already exists\r\n",
    );
    c.expect(
        &common::encode_cmd(&[b"FUNCTION", b"RESTORE", REDIS_DUMP, b"FLUSH"]),
        b"+OK\r\n",
    );
    check(
        &mut c,
        &[(
            &["FCALL", "RF", "0"],
            "$50\r\nrestored, restored, restored, restored times three\r\n",
        )],
    );
}

#[test]
fn resp3_list_and_info() {
    let server = TestServer::start();
    let mut c: Conn = server.connect();
    let code = "#!lua name=r3\nredis.register_function{function_name='m', callback=function() return 1 end, description='d', flags={'no-writes', 'allow-stale'}}";
    c.expect(
        &common::encode_cmd(&[b"FUNCTION", b"LOAD", code.as_bytes()]),
        b"$2\r\nr3\r\n",
    );
    c.cmd(&["HELLO", "3"]);
    check(
        &mut c,
        &[(
            &["FUNCTION", "LIST"],
            "*1\r\n%3\r\n$12\r\nlibrary_name\r\n$2\r\nr3\r\n$6\r\nengine\r\n$3\r\nLUA\r\n$9\r\nfunctions\r\n*1\r\n%3\r\n$4\r\nname\r\n$1\r\nm\r\n$11\r\ndescription\r\n$1\r\nd\r\n$5\r\nflags\r\n~2\r\n+no-writes\r\n+allow-stale\r\n",
        )],
    );
    let info = c.cmd_str(&["INFO", "memory"]);
    assert!(info.contains("number_of_functions:1\r\n"), "{info}");
    assert!(info.contains("number_of_libraries:1\r\n"), "{info}");
    assert!(info.contains("used_memory_vm_functions:"), "{info}");
}

/// A function past `busy-reply-threshold`: FUNCTION STATS names it and its command, SCRIPT
/// KILL is refused with the function's BUSY text, FUNCTION KILL stops it.
#[test]
fn busy_functions_show_in_stats_and_can_be_killed() {
    let server = TestServer::start();
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (&["CONFIG", "SET", "lua-time-limit", "10"], "+OK\r\n"),
            (
                &[
                    "FUNCTION",
                    "LOAD",
                    "#!lua name=spin\nredis.register_function{function_name='spin', callback=function() while true do end end, flags={'no-writes'}}",
                ],
                "$4\r\nspin\r\n",
            ),
        ],
    );
    let busy = b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n";
    let mut runner = server.connect();
    runner.send_cmd(&[b"FCALL", b"spin", b"0", b"arg"]);
    common::wait_for("the function to be busy", || c.cmd(&["PING"]) == busy);
    let stats = c.cmd(&["FUNCTION", "STATS"]);
    let head = b"*4\r\n$14\r\nrunning_script\r\n*6\r\n$4\r\nname\r\n$4\r\nspin\r\n$7\r\ncommand\r\n*4\r\n$5\r\nFCALL\r\n$4\r\nspin\r\n$1\r\n0\r\n$3\r\narg\r\n$11\r\nduration_ms\r\n:";
    assert!(
        stats.starts_with(head),
        "{}",
        String::from_utf8_lossy(&stats)
    );
    check(
        &mut c,
        &[
            (&["SCRIPT", "KILL"], std::str::from_utf8(busy).unwrap()),
            (&["FUNCTION", "KILL"], "+OK\r\n"),
        ],
    );
    let reply = runner.read_reply();
    assert!(
        reply == b"-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2.\r\n",
        "{}",
        String::from_utf8_lossy(&reply)
    );
    check(
        &mut c,
        &[
            (&["PING"], "+PONG\r\n"),
            (
                &["FUNCTION", "KILL"],
                "-NOTBUSY No scripts in execution right now.\r\n",
            ),
        ],
    );
}
