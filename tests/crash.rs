//! The crash report: a fatal signal (a fault, DEBUG SEGFAULT, SIGABRT from another process)
//! logs redis-server's bug-report block with the stack trace of the crashing thread, and the
//! process still dies of the signal; `crash-log-enabled no` leaves the log alone.

mod common;

use std::os::unix::process::ExitStatusExt;

use common::BinServer;

fn died_of(server: &mut BinServer) -> Option<i32> {
    server.child.wait().ok().and_then(|s| s.signal())
}

#[test]
fn debug_segfault_logs_a_report_and_dies_of_sigsegv() {
    let mut server = BinServer::start(&["--enable-debug-command", "yes"]);
    let mut c = server.connect();
    c.send_cmd(&[b"DEBUG", b"SEGFAULT"]);
    assert_eq!(died_of(&mut server), Some(libc::SIGSEGV));
    common::wait_for("the report's end", || {
        server.log_text().contains("=== SPINDLE BUG REPORT END")
    });
    let log = server.log_text();
    assert!(log.contains("=== SPINDLE BUG REPORT START"), "{log}");
    assert!(log.contains("crashed by signal: 11, si_code: "), "{log}");
    assert!(log.contains("------ STACK TRACE ------"), "{log}");
    // The trace is the crashing thread's: the DEBUG command's handler is on it.
    assert!(log.contains("spindle::command::debug::debug"), "{log}");
}

#[test]
fn sigabrt_from_another_process_names_the_sender() {
    let mut server = BinServer::start(&[]);
    // SAFETY: signals our own child.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGABRT) };
    assert_eq!(died_of(&mut server), Some(libc::SIGABRT));
    common::wait_for("the report's end", || {
        server.log_text().contains("=== SPINDLE BUG REPORT END")
    });
    let log = server.log_text();
    assert!(log.contains("crashed by signal: 6, si_code: 0"), "{log}");
    assert!(
        log.contains(&format!("Killed by PID: {}, UID: ", std::process::id())),
        "{log}"
    );
}

#[test]
fn no_report_when_the_crash_log_is_off() {
    let mut server = BinServer::start(&["--enable-debug-command", "yes"]);
    let mut c = server.connect();
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "crash-log-enabled", "no"]),
        "+OK\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "crash-log-enabled"]),
        "*2\r\n$17\r\ncrash-log-enabled\r\n$2\r\nno\r\n"
    );
    c.send_cmd(&[b"DEBUG", b"SEGFAULT"]);
    assert_eq!(died_of(&mut server), Some(libc::SIGSEGV));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!server.log_text().contains("BUG REPORT"));
}
