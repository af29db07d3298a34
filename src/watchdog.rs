//! Redis's software watchdog (`watchdog-period`, in ms; 0 is off), a debugging aid: when a
//! command runs for longer than the period, the log gets the stack trace of the thread running
//! it, under `--- WATCHDOG TIMER EXPIRED ---`, once per command.
//!
//! Redis arms a timer from its one event loop and takes the trace in the SIGALRM handler.
//! Here every connection has its own thread, so a watchdog thread looks at each client's
//! running command (its start, [`crate::state::ClientInfo::busy_since`]) and sends SIGALRM to
//! the thread of one that is late. The handler only records the frames' addresses, into
//! static slots (no allocation in a signal handler); the watchdog thread turns them into
//! names and writes the log. As in Redis, the period is at least two cron periods.
//!
//! Walking the stack in a signal handler is not strictly async-signal-safe (the unwinder may
//! take the loader's lock), which is the risk Redis's own handler takes too: the watchdog is
//! a debugging aid, off by default.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::state::Shared;

const MAX_FRAMES: usize = 64;

/// The frames the handler recorded, and how many.
static FRAMES: [AtomicUsize; MAX_FRAMES] = [const { AtomicUsize::new(0) }; MAX_FRAMES];
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// The thread asked for its trace (`pthread_t`); 0 once it has answered, or when none is.
static TARGET: AtomicU64 = AtomicU64::new(0);
/// 1 while a request is out, 2 once the handler has filled the slots.
static STATE: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_alarm(_sig: libc::c_int) {
    // SAFETY: pthread_self has no preconditions.
    #[allow(clippy::unnecessary_cast)] // pthread_t is not u64 everywhere
    let me = unsafe { libc::pthread_self() } as u64;
    // A SIGALRM nobody asked this thread for (sent from outside) is ignored.
    if STATE.load(Ordering::Acquire) != 1 || TARGET.load(Ordering::Acquire) != me {
        return;
    }
    let (mut n, mut skip) = (0, 2);
    // SAFETY: only this handler walks the stack for the watchdog, one request at a time
    // (STATE), and the closure stores addresses without allocating.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            // The first two frames are this handler and the kernel's signal trampoline.
            if skip > 0 {
                skip -= 1;
                return true;
            }
            FRAMES[n].store(frame.ip() as usize, Ordering::Relaxed);
            n += 1;
            n < MAX_FRAMES
        });
    }
    COUNT.store(n, Ordering::Relaxed);
    STATE.store(2, Ordering::Release);
}

fn install_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction with our handler; SA_RESTART so that an interrupted
        // read or write carries on as if nothing happened.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            libc::sigemptyset(&mut act.sa_mask);
            act.sa_flags = libc::SA_RESTART;
            act.sa_sigaction = on_alarm as *const () as usize;
            libc::sigaction(libc::SIGALRM, &act, std::ptr::null_mut());
        }
    });
}

/// The configured period in ms (0: off), raised to two cron periods as Redis's
/// `watchdogScheduleSignal` does.
fn period_ms(shared: &Shared) -> u64 {
    let Some(d) = crate::config::lookup("watchdog-period") else {
        return 0;
    };
    let ms: u64 = shared.config.get(d).parse().unwrap_or(0);
    if ms == 0 {
        return 0;
    }
    let min = 2 * 1000 / shared.config.hz().max(1) as u64;
    ms.max(min)
}

/// Starts the watchdog thread; it ends when the server shuts down.
pub fn spawn(shared: Arc<Shared>) -> std::io::Result<std::thread::JoinHandle<()>> {
    let stop = shared.shutdown.receiver();
    std::thread::Builder::new()
        .name("spindle-watchdog".into())
        .spawn(move || {
            // Client id → (the start of the running command it was late in, reported).
            let mut seen: HashMap<u64, u64> = HashMap::new();
            loop {
                let period = period_ms(&shared);
                let wait = if period == 0 {
                    seen.clear();
                    Duration::from_millis(100)
                } else {
                    install_handler();
                    check(&shared, period, &mut seen);
                    Duration::from_millis((period / 4).clamp(10, 100))
                };
                if stop.recv_timeout(wait).is_err_and(|e| e.is_disconnected()) {
                    return;
                }
            }
        })
}

/// Logs the trace of every command running for longer than `period` ms, once each.
fn check(shared: &Shared, period: u64, seen: &mut HashMap<u64, u64>) {
    let now = crate::cmdstats::ticks();
    let late = crate::cmdstats::ticks_per_us() * 1000.0 * period as f64;
    // Only the commands still running stay remembered: the map never outgrows the clients.
    let mut still = HashMap::new();
    for c in shared.clients.list() {
        let since = c.busy_since.load(Ordering::Relaxed);
        if since == 0 || (now.wrapping_sub(since) as f64) < late {
            continue;
        }
        still.insert(c.id, since);
        if seen.get(&c.id) == Some(&since) {
            continue;
        }
        if let Some(waker) = c.waker.get() {
            report(waker, c.id);
        }
    }
    *seen = still;
}

/// Asks the thread behind `waker` for its frames, and logs them as Redis's watchdog does.
fn report(waker: &crate::os::ThreadWaker, id: u64) {
    COUNT.store(0, Ordering::Relaxed);
    STATE.store(1, Ordering::Release);
    #[allow(clippy::unnecessary_cast)] // pthread_t is not u64 everywhere
    let Some(thread) = waker.signal(libc::SIGALRM, |t| TARGET.store(t as u64, Ordering::Release)) else {
        STATE.store(0, Ordering::Release);
        return;
    };
    // The handler answers in microseconds; a thread that cannot run for a second is logged
    // without its trace.
    let mut answered = false;
    for _ in 0..1000 {
        if STATE.load(Ordering::Acquire) == 2 {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    STATE.store(0, Ordering::Release);
    TARGET.store(0, Ordering::Release);
    log::warn!("--- WATCHDOG TIMER EXPIRED ---");
    if answered {
        let n = COUNT.load(Ordering::Relaxed);
        let mut text = format!("\nBacktrace of thread '{thread}' (client id={id}):\n");
        for (i, slot) in FRAMES.iter().take(n).enumerate() {
            let ip = slot.load(Ordering::Relaxed);
            let mut named = false;
            backtrace::resolve(ip as *mut libc::c_void, |sym| {
                // `{:#}`: the name without its hash.
                let name = sym.name().map_or_else(|| "??".into(), |n| format!("{n:#}"));
                text.push_str(&format!("{i:4}: {ip:#x} - {name}\n"));
                if let (Some(file), Some(line)) = (sym.filename(), sym.lineno()) {
                    text.push_str(&format!("             at {}:{line}\n", file.display()));
                }
                named = true;
            });
            if !named {
                text.push_str(&format!("{i:4}: {ip:#x}\n"));
            }
        }
        log::warn!(target: crate::logging::RAW, "{text}");
    } else {
        log::warn!("Sorry: the thread did not answer for its stack trace.");
    }
    log::warn!("--------");
}
