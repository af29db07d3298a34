//! CLIENT PAUSE: for a while, clients' commands wait before they run, all of them (ALL) or
//! those that may write (WRITE), as Redis's `pauseClients` postpones them. The connection's
//! own thread waits, holding no lock; CLIENT UNPAUSE, the end of the pause, a kill or
//! shutdown lets it go. Active expiry is paused too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// A pause in force: until when (Unix ms), and whether it holds every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Paused {
    end_ms: i64,
    all: bool,
}

#[derive(Default)]
pub struct Pause {
    state: Mutex<Option<Paused>>,
    changed: Condvar,
    /// A pause may be in force (checked by every command without taking the lock).
    any: AtomicBool,
}

impl Pause {
    /// Pauses until `end_ms` (a later end and ALL win over an earlier or WRITE pause in force).
    pub fn pause(&self, end_ms: i64, all: bool) {
        let mut s = self.state.lock();
        *s = Some(match *s {
            Some(p) => Paused {
                end_ms: p.end_ms.max(end_ms),
                all: p.all || all,
            },
            None => Paused { end_ms, all },
        });
        self.any.store(true, Ordering::Release);
    }

    /// Ends any pause now.
    pub fn unpause(&self) {
        *self.state.lock() = None;
        self.any.store(false, Ordering::Release);
        self.changed.notify_all();
    }

    /// Could a pause be in force? (One atomic load: every command asks.)
    pub fn may_be_paused(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Is a pause in force at `now_ms`? (`Some(all)`)
    pub fn in_force(&self, now_ms: i64) -> Option<bool> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let mut s = self.state.lock();
        match *s {
            Some(p) if p.end_ms >= now_ms => Some(p.all),
            Some(_) => {
                *s = None;
                self.any.store(false, Ordering::Release);
                None
            }
            None => None,
        }
    }

    /// Waits while a pause that `holds` (given whether it is ALL) is in force, or until
    /// `give_up` says to stop waiting (the client was killed, the server shuts down).
    /// `now_ms` reads the wall clock. Returns whether it waited.
    pub fn wait(
        &self,
        holds: impl Fn(bool) -> bool,
        give_up: impl Fn() -> bool,
        now_ms: impl Fn() -> i64,
    ) -> bool {
        let mut waited = false;
        loop {
            let now = now_ms();
            let Some(all) = self.in_force(now) else {
                return waited;
            };
            if !holds(all) || give_up() {
                return waited;
            }
            waited = true;
            let mut s = self.state.lock();
            let left = s.map_or(0, |p| p.end_ms - now).clamp(1, 100);
            self.changed
                .wait_for(&mut s, Duration::from_millis(left as u64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_merge_and_end() {
        let p = Pause::default();
        assert_eq!(p.in_force(0), None);
        p.pause(100, false);
        p.pause(50, true);
        assert_eq!(p.in_force(10), Some(true), "ALL wins, the later end wins");
        assert_eq!(p.in_force(100), Some(true));
        assert_eq!(p.in_force(101), None);
        p.pause(200, false);
        p.unpause();
        assert_eq!(p.in_force(0), None);
        assert!(!p.wait(|_| true, || false, || 0));
    }
}
