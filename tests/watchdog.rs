//! The software watchdog (`watchdog-period`): a command that runs for longer than the period
//! gets the stack trace of its thread logged, once, and the server carries on.

mod common;

use common::BinServer;

#[test]
fn a_long_command_gets_its_stack_trace_logged_once() {
    let server = BinServer::start(&["--enable-debug-command", "yes"]);
    let mut c = server.connect();
    // Off by default: a slow command logs nothing.
    assert_eq!(c.cmd_str(&["DEBUG", "SLEEP", "0.5"]), "+OK\r\n");
    assert!(!server.log_text().contains("WATCHDOG"));
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "watchdog-period", "200"]),
        "+OK\r\n"
    );
    assert_eq!(c.cmd_str(&["DEBUG", "SLEEP", "1"]), "+OK\r\n");
    common::wait_for("the watchdog's block", || {
        server.log_text().contains("--------")
    });
    let log = server.log_text();
    assert_eq!(
        log.matches("--- WATCHDOG TIMER EXPIRED ---").count(),
        1,
        "{log}"
    );
    // The trace is the sleeping command's thread: the DEBUG handler is on it.
    assert!(log.contains("spindle::command::debug::debug"), "{log}");
    // Short commands stay under the period, and the server still answers.
    assert_eq!(c.cmd_str(&["PING"]), "+PONG\r\n");
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "watchdog-period", "0"]),
        "+OK\r\n"
    );
    assert_eq!(c.cmd_str(&["DEBUG", "SLEEP", "0.5"]), "+OK\r\n");
    assert_eq!(
        server.log_text().matches("WATCHDOG TIMER EXPIRED").count(),
        1
    );
}
