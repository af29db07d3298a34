//! Busy scripts (Redis's `scriptInterrupt`, `scriptKill` and the BUSY check in
//! `processCommand`).
//!
//! A script runs holding every database's lock, so without this a runaway script would
//! wedge every other client until it ends. Redis, single-threaded, serves nobody while a
//! script runs; once the script has run for `busy-reply-threshold` ms it starts serving
//! clients again from inside the script, answering BUSY to everything but the few commands
//! flagged `allow-busy` (SCRIPT KILL, FUNCTION KILL, SHUTDOWN NOSAVE, ...). Spindle does the
//! same from the other connections' own threads: before a command runs, [`Busy::admit`]
//! makes it wait while a script runs, up to the moment the script passes the threshold, and
//! then answers BUSY (or lets an `allow-busy` command through).
//!
//! A script is stopped from inside: the interpreter calls [`hook`] every
//! [`HOOK_INSTRUCTIONS`] instructions, which raises an error once SCRIPT KILL or a
//! shutdown asked for it, and from then on at every line, so that a `pcall` cannot catch
//! it for ever.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

/// How often (in Lua VM instructions) a running script checks whether it must stop, as
/// Redis's count hook.
pub const HOOK_INSTRUCTIONS: i32 = 100_000;

/// The BUSY replies (Redis's `slowevalerr` and `slowscripterr`).
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// A running function's name and its caller's command (for FUNCTION STATS).
pub type FunctionCall = (Vec<u8>, Vec<Vec<u8>>);

/// The same, borrowed from the caller while its function runs: copied only if FUNCTION
/// STATS asks (a copy per FCALL took eight allocations).
pub type FunctionRef<'a> = (&'a [u8], &'a [Vec<u8>]);

/// A [`FunctionRef`] kept by [`Busy`]: valid while the [`Running`] that set it lives.
#[derive(Clone, Copy)]
struct FunctionPtr(*const [u8], *const [Vec<u8>]);

// SAFETY: only read under `Busy::function`'s mutex, which `Running::drop` takes to clear it
// before the borrowed data can go.
unsafe impl Send for FunctionPtr {}

/// The script running now.
#[derive(Clone, Copy)]
struct Run {
    started: Instant,
    /// EVAL (true) or FCALL.
    eval: bool,
    client: u64,
}

/// Why a script must stop, read by [`hook`] on the script's own thread.
#[derive(Default)]
pub struct Stop {
    /// SCRIPT KILL or FUNCTION KILL.
    killed: AtomicBool,
    /// The server is shutting down (SHUTDOWN NOSAVE, a signal): even a script that wrote
    /// stops, as Redis exits with it running.
    shutdown: AtomicBool,
    /// When the running script passes `busy-reply-threshold`, and what the warning then
    /// logged once names (Redis's "Slow script detected").
    slow: Mutex<Option<(Instant, u64, &'static str)>>,
}

/// The running script, if any, shared by every connection.
#[derive(Default)]
pub struct Busy {
    running: AtomicBool,
    current: Mutex<Option<Run>>,
    ended: Condvar,
    stop: Arc<Stop>,
    /// The script has called a write command: SCRIPT KILL refuses (UNKILLABLE).
    wrote: AtomicBool,
    /// The running function's name and its caller's command, for FUNCTION STATS.
    function: Mutex<Option<FunctionPtr>>,
    /// Taken by a script before it takes the databases' locks ([`Busy::enter`]), so that
    /// scripts queue on one lock, woken one at a time, instead of all of them contending
    /// for every database's lock and all waking when one ends.
    gate: Mutex<()>,
}

/// What [`Busy::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// No script runs (or it ended while the command waited): run the command.
    Run,
    /// A script has been running past the threshold and the command may run beside it.
    Beside,
    /// A script has been running past the threshold: answer this error.
    Refuse(&'static str),
}

thread_local! {
    /// The stop flags of the script running on this thread, for [`hook`].
    static STOP: RefCell<Option<Arc<Stop>>> = const { RefCell::new(None) };
}

/// Marks a script as running until dropped (and borrows the running function's name and
/// command until then).
pub struct Running<'a> {
    busy: &'a Busy,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        STOP.with(|s| s.borrow_mut().take());
        *self.busy.function.lock() = None;
        let mut current = self.busy.current.lock();
        *current = None;
        self.busy.running.store(false, Ordering::Release);
        self.busy.stop.killed.store(false, Ordering::Relaxed);
        self.busy.wrote.store(false, Ordering::Relaxed);
        self.busy.ended.notify_all();
    }
}

impl Busy {
    /// A script of `client` starts: EVAL's, or the named function with its caller's command
    /// (FCALL). The caller holds every database lock, so no other script can be running.
    pub fn begin<'a>(
        &'a self,
        function: Option<FunctionRef<'a>>,
        client: u64,
        shutting_down: bool,
    ) -> Running<'a> {
        #[allow(clippy::disallowed_methods)] // how long the script has run: a real clock
        let started = Instant::now();
        let eval = function.is_none();
        *self.function.lock() = function.map(|(name, argv)| FunctionPtr(name, argv));
        *self.current.lock() = Some(Run {
            started,
            eval,
            client,
        });
        self.stop.killed.store(false, Ordering::Relaxed);
        self.stop.shutdown.store(shutting_down, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.running.store(true, Ordering::Release);
        STOP.with(|s| *s.borrow_mut() = Some(Arc::clone(&self.stop)));
        Running { busy: self }
    }

    /// Logs a warning once the running script has run `threshold_ms` (0: never), naming
    /// the command that kills it.
    pub fn warn_after(&self, threshold_ms: u64, eval: bool) {
        #[allow(clippy::disallowed_methods)] // real time, as the threshold
        let now = Instant::now();
        *self.stop.slow.lock() = (threshold_ms > 0).then(|| {
            (
                now + Duration::from_millis(threshold_ms),
                threshold_ms,
                if eval { "SCRIPT KILL" } else { "FUNCTION KILL" },
            )
        });
    }

    /// The running script called a write command.
    pub fn wrote(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }

    /// The server is shutting down: a running script stops at its next check.
    pub fn shutting_down(&self) {
        self.stop.shutdown.store(true, Ordering::Relaxed);
    }

    /// Is a script past the threshold (Redis's `scriptIsTimedout`)? `Some(true)` for EVAL.
    #[allow(clippy::disallowed_methods)] // how long the script has run: a real clock
    pub fn timed_out(&self, threshold_ms: u64) -> Option<bool> {
        if !self.running.load(Ordering::Acquire) {
            return None;
        }
        let run = (*self.current.lock())?;
        (threshold_ms > 0 && run.started.elapsed() >= Duration::from_millis(threshold_ms))
            .then_some(run.eval)
    }

    /// Before a command of `client` runs: waits while a script runs and has not yet passed
    /// `threshold_ms` (Redis serves nobody then), then decides. A script (`script`) does not
    /// wait here but at the gate ([`Busy::enter`]). The fast path is one atomic load.
    pub fn admit(
        &self,
        client: u64,
        allow_busy: bool,
        script: impl FnOnce() -> bool,
        threshold_ms: u64,
    ) -> Admit {
        if !self.running.load(Ordering::Acquire) {
            return Admit::Run;
        }
        let script = script();
        let mut current = self.current.lock();
        loop {
            let Some(run) = *current else {
                return Admit::Run;
            };
            if run.client == client {
                return Admit::Run;
            }
            if threshold_ms > 0 {
                let deadline = run.started + Duration::from_millis(threshold_ms);
                #[allow(clippy::disallowed_methods)] // the threshold is real time
                let now = Instant::now();
                if now >= deadline {
                    return if allow_busy {
                        Admit::Beside
                    } else {
                        Admit::Refuse(busy_text(run.eval))
                    };
                }
                if script {
                    return Admit::Run;
                }
                self.ended.wait_until(&mut current, deadline);
            } else if script {
                return Admit::Run;
            } else {
                self.ended.wait(&mut current);
            }
        }
    }

    /// A script (not inside EXEC) waits here for the one running, before taking the
    /// databases' locks; past `threshold_ms` of the running one, it gets BUSY instead.
    pub fn enter(&self, threshold_ms: u64) -> Result<MutexGuard<'_, ()>, &'static str> {
        loop {
            if let Some(gate) = self.gate.try_lock() {
                return Ok(gate);
            }
            let run = *self.current.lock();
            let wait = match run {
                Some(run) if threshold_ms > 0 => run.started + Duration::from_millis(threshold_ms),
                Some(_) => {
                    // No threshold: a script is never busy; wait it out.
                    return Ok(self.gate.lock());
                }
                // The holder has not started its script yet (it waits for a database lock):
                // look again soon, in case it starts one that runs past the threshold.
                #[allow(clippy::disallowed_methods)] // a real-time wait
                None => Instant::now() + Duration::from_millis(10),
            };
            if let Some(gate) = self.gate.try_lock_until(wait) {
                return Ok(gate);
            }
            if let Some(eval) = self.timed_out(threshold_ms) {
                return Err(busy_text(eval));
            }
        }
    }

    /// The running function for FUNCTION STATS: its name, its caller's command and how long
    /// it has run (ms); BUSY when an EVAL script runs, as Redis answers.
    #[allow(clippy::disallowed_methods)] // how long the script has run: a real clock
    pub fn running_function(&self) -> Result<Option<(FunctionCall, u64)>, &'static str> {
        let current = self.current.lock();
        let Some(run) = *current else {
            return Ok(None);
        };
        if run.eval {
            return Err(BUSY_EVAL);
        }
        let ms = run.started.elapsed().as_millis() as u64;
        let function = self.function.lock();
        // SAFETY: set by a `Running` still alive (its drop clears it under this mutex), which
        // borrows what the pointers point to.
        let call =
            function.map(|FunctionPtr(name, argv)| unsafe { ((*name).to_vec(), (*argv).to_vec()) });
        Ok(call.map(|call| (call, ms)))
    }

    /// SCRIPT KILL (`eval`) or FUNCTION KILL: Redis's `scriptKill`.
    pub fn kill(&self, eval: bool) -> Result<(), &'static str> {
        let current = self.current.lock();
        let Some(run) = *current else {
            return Err("NOTBUSY No scripts in execution right now.");
        };
        if self.wrote.load(Ordering::Relaxed) {
            return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
        }
        if eval && !run.eval {
            return Err(BUSY_FUNCTION);
        }
        if !eval && run.eval {
            return Err(BUSY_EVAL);
        }
        self.stop.killed.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// The BUSY reply for a running EVAL script (`eval`) or function.
fn busy_text(eval: bool) -> &'static str {
    if eval {
        BUSY_EVAL
    } else {
        BUSY_FUNCTION
    }
}

/// How many times a stop switched a state's hook to every line: an interpreter whose count
/// differs from this re-installs its hook before its next script (`Interp::rearm_hook`).
pub static SWITCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Installs [`hook`] on `state` (again after a kill switched it to every line).
///
/// # Safety
/// `state` must be a live Lua state, not running a hook.
pub unsafe fn install_hook(state: *mut mlua::ffi::lua_State) {
    // SAFETY: per the caller; `hook` is a valid hook for any state.
    unsafe {
        mlua::ffi::lua_sethook(
            state,
            Some(hook),
            mlua::ffi::LUA_MASKCOUNT,
            HOOK_INSTRUCTIONS,
        )
    };
}

/// Has SCRIPT KILL or a shutdown asked the script running on this thread to stop?
pub fn stop_requested() -> bool {
    STOP.with(|s| {
        s.borrow().as_ref().is_some_and(|stop| {
            stop.killed.load(Ordering::Relaxed) || stop.shutdown.load(Ordering::Relaxed)
        })
    })
}

/// The interpreter's count hook: raises Redis's error once the script must stop, and then
/// checks at every line so that the error cannot be caught and ignored for ever.
unsafe extern "C-unwind" fn hook(state: *mut mlua::ffi::lua_State, ar: *mut mlua::ffi::lua_Debug) {
    use mlua::ffi;
    let stop = STOP.with(|s| {
        s.borrow().as_ref().is_some_and(|stop| {
            let mut slow = stop.slow.lock();
            #[allow(clippy::disallowed_methods)] // real time, as the threshold
            if let Some((at, ms, kill)) = *slow {
                if Instant::now() >= at {
                    log::warn!("Slow script detected: still in execution after {ms} milliseconds. You can try killing the script using the {kill} command.");
                    *slow = None;
                }
            }
            drop(slow);
            stop.killed.load(Ordering::Relaxed) || stop.shutdown.load(Ordering::Relaxed)
        })
    });
    if !stop {
        return;
    }
    // SAFETY: a hook may reset the hook, ask about the function it runs in, and raise;
    // nothing with a destructor is alive here (the closure above has returned), so
    // lua_error's longjmp skips no drop.
    SWITCHES.fetch_add(1, Ordering::Relaxed);
    unsafe {
        ffi::lua_sethook(state, Some(hook), ffi::LUA_MASKLINE, 0);
        // Raised in the script's own code, as Redis's (whose library is C) always is: the
        // error then names the script's line. Inside the sandbox's Lua library, the next
        // line of the script will do.
        if ffi::lua_getinfo(state, c"S".as_ptr(), ar) != 0
            && std::ffi::CStr::from_ptr((*ar).source) == c"=redis_lib"
        {
            return;
        }
        log::warn!("Lua script killed by user with SCRIPT KILL.");
        ffi::lua_pushstring(state, c"Script killed by user with SCRIPT KILL...".as_ptr());
        ffi::lua_error(state);
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    #[test]
    fn kill_follows_redis_rules() {
        let busy = Busy::default();
        assert_eq!(
            busy.kill(true),
            Err("NOTBUSY No scripts in execution right now.")
        );
        {
            let _run = busy.begin(None, 7, false);
            assert_eq!(busy.kill(false), Err(BUSY_EVAL));
            assert_eq!(busy.kill(true), Ok(()));
            busy.wrote();
            assert!(busy.kill(true).unwrap_err().starts_with("UNKILLABLE"));
        }
        assert_eq!(busy.admit(8, false, || false, 10), Admit::Run);
    }

    #[test]
    fn others_wait_until_the_threshold_then_get_busy() {
        let busy = Busy::default();
        let _run = busy.begin(Some((b"f", &[])), 1, false);
        assert_eq!(
            busy.admit(1, false, || false, 10),
            Admit::Run,
            "the script's own client"
        );
        let t0 = Instant::now();
        assert_eq!(
            busy.admit(2, false, || false, 30),
            Admit::Refuse(BUSY_FUNCTION)
        );
        assert!(t0.elapsed() >= Duration::from_millis(25));
        assert_eq!(busy.admit(2, true, || false, 30), Admit::Beside);
        assert_eq!(busy.timed_out(30), Some(false));
    }

    #[test]
    fn a_waiting_command_runs_when_the_script_ends() {
        let busy = Arc::new(Busy::default());
        let run = busy.begin(None, 1, false);
        let waiter = {
            let busy = Arc::clone(&busy);
            std::thread::spawn(move || busy.admit(2, false, || false, 60_000))
        };
        std::thread::sleep(Duration::from_millis(20));
        drop(run);
        assert_eq!(waiter.join().ok(), Some(Admit::Run));
    }
}
