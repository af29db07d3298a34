//! The crash report, as redis-server writes one (`sigsegvHandler`, `printCrashReport`): on a
//! fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) the log gets a bug-report block with
//! the signal, the faulting address or the sender, and the stack trace of the thread that
//! crashed, and then the signal is raised again with its default action, so the process still
//! dies of it (and dumps core where that is enabled). `crash-log-enabled no` skips the report.
//!
//! A handler can only do so much safely: the lines are written with `write(2)`, but formatting
//! them and the stack trace need the allocator and the symbol tables, which is what Redis does
//! too, and is worth the risk at that point. The handler runs on the thread's alternate signal
//! stack, and the report on a fresh stack, so an overflowed stack is reported as well.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Where the report goes: the log's file descriptor (standard output by default).
static LOG_FD: AtomicI32 = AtomicI32::new(1);
static ENABLED: AtomicBool = AtomicBool::new(true);

const SIGNALS: [libc::c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGABRT,
];

/// The log's descriptor (the log file's, kept open for the report).
pub fn set_log_fd(fd: i32) {
    LOG_FD.store(fd, Ordering::Relaxed);
}

/// `crash-log-enabled`.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Installs the handlers (once, at start).
pub fn install() {
    for sig in SIGNALS {
        // SAFETY: a zeroed sigaction with our handler and an empty mask; the flags make it
        // one-shot (the re-raise takes the default action) and give it the siginfo.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            libc::sigemptyset(&mut act.sa_mask);
            // On the thread's alternate stack (std gives each thread one), so that a stack
            // overflow is reported too; the report itself runs on a stack of its own.
            act.sa_flags =
                libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESETHAND | libc::SA_ONSTACK;
            act.sa_sigaction = handler as *const () as usize;
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

fn write_all(text: &[u8]) {
    let fd = LOG_FD.load(Ordering::Relaxed);
    let mut rest = text;
    while !rest.is_empty() {
        // SAFETY: writes from a live slice.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// One log line in the server's format, warning level.
fn log_line(text: &str) {
    write_all(crate::logging::line('#', text).as_bytes());
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    if ENABLED.load(Ordering::Relaxed) {
        // The alternate stack is a few kilobytes; symbolizing the trace needs far more.
        stacker::grow(1 << 20, || report(sig, info));
    }
    // SAFETY: the default action of the same signal, raised on this thread: the process dies
    // of it as it would have without the report.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

fn report(sig: libc::c_int, info: *mut libc::siginfo_t) {
    write_all(b"\n\n=== SPINDLE BUG REPORT START: Cut & paste starting from here ===\n");
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let (code, addr, pid, uid) = unsafe {
        let i = &*info;
        (i.si_code, i.si_addr(), i.si_pid(), i.si_uid())
    };
    log_line(&format!(
        "Spindle {} (redis_version {}) crashed by signal: {sig}, si_code: {code}",
        crate::VERSION,
        crate::REDIS_VERSION
    ));
    // A fault the kernel found (not a signal sent): where it was.
    if (sig == libc::SIGSEGV || sig == libc::SIGBUS) && code > 0 {
        log_line(&format!("Accessing address: {addr:p}"));
    }
    // Sent by a process (kill, tgkill), not raised by a fault.
    if code <= libc::SI_USER && pid != 0 {
        log_line(&format!("Killed by PID: {pid}, UID: {uid}"));
    }
    // The kernel's name: workers name themselves there, not in std.
    let mut name = [0u8; 17];
    write_all(
        format!(
            "\n------ STACK TRACE ------\n\nBacktrace of thread '{}':\n{}\n",
            crate::os::thread_name(&mut name),
            std::backtrace::Backtrace::force_capture()
        )
        .as_bytes(),
    );
    write_all(b"\n=== SPINDLE BUG REPORT END. Make sure to include from START to END. ===\n\n       Please report the crash with this report and the log around it.\n\n");
}
