//! SCRIPT DEBUG: the Lua debugger's sessions, in SYNC mode (in the server, changes kept) and
//! YES mode (a forked child, changes thrown away, the server serving others meanwhile), with
//! the replies byte for byte as redis-server 7.0.15 gives them.

mod common;
use common::{BinServer, Conn};

const SCRIPT: &str = "local a = 1
local t = {1,2,'x',{k='v'}}
redis.debug('hi', a, t, nil, true)
redis.call('set', KEYS[1], ARGV[1])
local v = redis.call('get', KEYS[1])
redis.breakpoint()
local n = redis.pcall('incr', KEYS[1])
return {v, n}
";

/// Sends the debugger command that ends the session (`continue`, `abort`, ...): the
/// `<endsession>` mark, then the script's reply.
fn ends(c: &mut Conn, command: &str, reply: &str) {
    c.send_cmd(&[command.as_bytes()]);
    assert_eq!(
        String::from_utf8_lossy(&c.read_reply()),
        "*1\r\n+<endsession>\r\n"
    );
    assert_eq!(String::from_utf8_lossy(&c.read_reply()), reply);
}

/// Sends a debugger command and checks the one array it answers.
fn step(c: &mut Conn, args: &[&str], want: &str) {
    assert_eq!(c.cmd_str(args), want, "{args:?}");
}

#[test]
fn a_sync_session_steps_inspects_and_keeps_its_changes() {
    let server = BinServer::start(&[]);
    let mut c = server.connect();
    step(&mut c, &["SCRIPT", "DEBUG", "SYNC"], "+OK\r\n");
    step(
        &mut c,
        &["EVAL", SCRIPT, "1", "k", "val"],
        "*2\r\n+* Stopped at 1, stop reason = step over\r\n+-> 1   local a = 1\r\n",
    );
    let help = c.cmd_str(&["h"]);
    assert!(
        help.starts_with("*30\r\n+Redis Lua debugger help:\r\n"),
        "{help}"
    );
    step(
        &mut c,
        &["s"],
        "*2\r\n+* Stopped at 2, stop reason = step over\r\n+-> 2   local t = {1,2,'x',{k='v'}}\r\n",
    );
    step(&mut c, &["p"], "*1\r\n+<value> a = 1\r\n");
    step(&mut c, &["p", "KEYS"], "*1\r\n+<value> {\"k\"}\r\n");
    step(&mut c, &["p", "nope"], "*1\r\n+No such variable.\r\n");
    step(
        &mut c,
        &["l", "3", "1"],
        "*3\r\n+-> 2   local t = {1,2,'x',{k='v'}}\r\n+   3   redis.debug('hi', a, t, nil, true)\r\n+   4   redis.call('set', KEYS[1], ARGV[1])\r\n",
    );
    step(
        &mut c,
        &["b"],
        "*1\r\n+No breakpoints set. Use 'b <line>' to add one.\r\n",
    );
    step(
        &mut c,
        &["b", "7"],
        "*3\r\n+   6   redis.breakpoint()\r\n+  #7   local n = redis.pcall('incr', KEYS[1])\r\n+   8   return {v, n}\r\n",
    );
    step(&mut c, &["b", "99"], "*1\r\n+Wrong line number.\r\n");
    step(&mut c, &["b", "x"], "*1\r\n+Invalid argument:'x'\r\n");
    step(
        &mut c,
        &["t"],
        "*2\r\n+In top level:\r\n+-> 2   local t = {1,2,'x',{k='v'}}\r\n",
    );
    step(&mut c, &["e", "1+1"], "*1\r\n+<retval> 2\r\n");
    step(
        &mut c,
        &["e", "a = 5"],
        "*1\r\n+<error> ldb_eval:1: Attempt to modify a readonly table\r\n",
    );
    step(
        &mut c,
        &["r", "get", "k"],
        "*2\r\n+<redis> get k\r\n+<reply> NULL\r\n",
    );
    step(
        &mut c,
        &["r", "nosuch"],
        "*2\r\n+<redis> nosuch\r\n+<error> Unknown Redis command called from script\r\n",
    );
    step(
        &mut c,
        &["m", "10"],
        "*1\r\n+<value> replies are truncated at 60 bytes.\r\n",
    );
    // Numbers read as C reads them: a long cut to an int.
    step(
        &mut c,
        &["m", "99999999999"],
        "*1\r\n+<value> replies are truncated at 1215752191 bytes.\r\n",
    );
    step(
        &mut c,
        &["m", "60"],
        "*1\r\n+<value> replies are truncated at 60 bytes.\r\n",
    );
    step(
        &mut c,
        &["b", "-2147483649"],
        "*1\r\n+No breakpoint in the specified line.\r\n",
    );
    step(
        &mut c,
        &["zzz"],
        "*1\r\n+<error> Unknown Redis Lua debugger command or wrong number of arguments.\r\n",
    );
    step(
        &mut c,
        &["c"],
        "*3\r\n+<debug> line 3: \"hi\", 1, {1; 2; \"x\"; {[\"k\"]=\"v\"}}, nil, true\r\n+* Stopped at 7, stop reason = redis.breakpoint() called\r\n+->#7   local n = redis.pcall('incr', KEYS[1])\r\n",
    );
    ends(
        &mut c,
        "c",
        "*2\r\n$3\r\nval\r\n-ERR value is not an integer or out of range\r\n",
    );
    assert!(c.is_closed(), "the session ends the connection");
    // SYNC keeps what the script did.
    let mut other = server.connect();
    assert_eq!(other.cmd_str(&["GET", "k"]), "$3\r\nval\r\n");
}

#[test]
fn a_forked_session_leaves_the_server_serving_and_its_data_untouched() {
    let server = BinServer::start(&[]);
    let mut c = server.connect();
    step(&mut c, &["SCRIPT", "DEBUG", "YES"], "+OK\r\n");
    step(
        &mut c,
        &["EVAL", "redis.call('set', 'k', 'in child')\nreturn redis.call('get', 'k')", "0"],
        "*2\r\n+* Stopped at 1, stop reason = step over\r\n+-> 1   redis.call('set', 'k', 'in child')\r\n",
    );
    step(
        &mut c,
        &["s"],
        "*4\r\n+<redis> set k in child\r\n+<reply> \"+OK\"\r\n+* Stopped at 2, stop reason = step over\r\n+-> 2   return redis.call('get', 'k')\r\n",
    );
    // The session is stopped in the child: the server answers everyone else meanwhile.
    let mut other = server.connect();
    assert_eq!(other.cmd_str(&["SET", "k", "in server"]), "+OK\r\n");
    step(
        &mut c,
        &["r", "get", "k"],
        "*2\r\n+<redis> get k\r\n+<reply> \"in child\"\r\n",
    );
    ends(&mut c, "c", "$8\r\nin child\r\n");
    assert!(c.is_closed(), "the child's exit ends the connection");
    assert_eq!(other.cmd_str(&["GET", "k"]), "$9\r\nin server\r\n");
}

#[test]
fn refusals_aborts_and_a_client_that_leaves() {
    let server = BinServer::start(&[]);
    let mut c = server.connect();
    step(
        &mut c,
        &["SCRIPT", "DEBUG", "maybe"],
        "-ERR Use SCRIPT DEBUG YES/SYNC/NO\r\n",
    );
    step(&mut c, &["MULTI"], "+OK\r\n");
    step(&mut c, &["SCRIPT", "DEBUG", "YES"], "+QUEUED\r\n");
    step(
        &mut c,
        &["EXEC"],
        "*1\r\n-ERR SCRIPT DEBUG must be called outside a pipeline\r\n",
    );
    c.send(b"*1\r\n$4\r\nPING\r\n*3\r\n$6\r\nSCRIPT\r\n$5\r\nDEBUG\r\n$3\r\nYES\r\n");
    assert_eq!(c.read_reply(), b"+PONG\r\n");
    assert_eq!(
        String::from_utf8_lossy(&c.read_reply()),
        "-ERR SCRIPT DEBUG must be called outside a pipeline\r\n"
    );
    step(&mut c, &["SCRIPT", "DEBUG", "YES"], "+OK\r\n");
    step(
        &mut c,
        &["EVALSHA", "e0e1", "0"],
        "-NOSCRIPT No matching script. Please use EVAL.\r\n",
    );
    step(
        &mut c,
        &["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
        "-ERR Please use EVAL instead of EVALSHA for debugging\r\n",
    );
    step(&mut c, &["SCRIPT", "DEBUG", "NO"], "+OK\r\n");
    step(&mut c, &["EVAL", "return 1", "0"], ":1\r\n");

    step(&mut c, &["SCRIPT", "DEBUG", "SYNC"], "+OK\r\n");
    step(
        &mut c,
        &["EVAL", "return 1", "0"],
        "*2\r\n+* Stopped at 1, stop reason = step over\r\n+-> 1   return 1\r\n",
    );
    ends(&mut c, "a", "-ERR script aborted for user request script: e0e1f9fabfc9d4800c877a703b823ac0578ff8db, on @user_script:1.\r\n");

    // A debugger command that is not RESP stops the script with a protocol error.
    let mut c = server.connect();
    step(&mut c, &["SCRIPT", "DEBUG", "SYNC"], "+OK\r\n");
    c.cmd(&["EVAL", "return 1", "0"]);
    c.send(b"*1\r\n$0\r\n\r\n");
    assert_eq!(
        String::from_utf8_lossy(&c.read_reply()),
        "*1\r\n+<endsession>\r\n"
    );
    assert!(String::from_utf8_lossy(&c.read_reply()).starts_with("-ERR protocol error script:"));

    // A client gone mid-session: the script runs to its end, and the server goes on.
    let mut c = server.connect();
    step(&mut c, &["SCRIPT", "DEBUG", "SYNC"], "+OK\r\n");
    c.cmd(&["EVAL", "redis.call('set', 'left', '1')\nreturn 1", "0"]);
    drop(c);
    let mut other = server.connect();
    assert_eq!(other.cmd_str(&["GET", "left"]), "$1\r\n1\r\n");
}
