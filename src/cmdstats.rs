//! INFO commandstats and errorstats: per command (and subcommand) the calls, the time spent,
//! the calls rejected before running and those that failed; per error prefix, the count.
//! Each command's counters are split over a few cache-padded slots, by thread, so that
//! clients running the same command on different cores do not contend on one line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

const SLOTS: usize = 16;

/// A cheap clock for a command's duration: the CPU's time-stamp counter on x86-64 (a few
/// cycles, no system call; converted to microseconds only when INFO asks), elsewhere a
/// monotonic clock in nanoseconds.
#[inline]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86-64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        #[allow(clippy::disallowed_methods)] // a duration, not a command's time
        let start = *START.get_or_init(std::time::Instant::now);
        start.elapsed().as_nanos() as u64
    }
}

/// A duration in [`ticks`] as microseconds.
#[inline]
pub fn ticks_to_us(t: u64) -> u64 {
    (t as f64 / ticks_per_us()) as u64
}

/// A duration in [`ticks`] as nanoseconds.
#[inline]
pub fn ticks_to_ns(t: u64) -> u64 {
    (t as f64 * 1000.0 / ticks_per_us()) as u64
}

/// [`ticks`] per microsecond, measured once (over 5 ms) on first use (the server measures it
/// at start, so no command waits for it).
pub fn ticks_per_us() -> f64 {
    static RATE: OnceLock<f64> = OnceLock::new();
    *RATE.get_or_init(|| {
        #[allow(clippy::disallowed_methods)] // calibrating a counter against the clock
        let (t0, c0) = (std::time::Instant::now(), ticks());
        std::thread::sleep(std::time::Duration::from_millis(5));
        #[allow(clippy::disallowed_methods)]
        let us = t0.elapsed().as_secs_f64() * 1e6;
        ((ticks() - c0) as f64 / us).max(1e-3)
    })
}

#[repr(align(64))]
#[derive(Default)]
struct Slot {
    calls: AtomicU64,
    ticks: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
}

/// What happened to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ran, taking this many [`ticks`]; `failed` if it answered an error.
    Ran { ticks: u64, failed: bool },
    /// Refused before running (arity, no-multi, OOM ...).
    Rejected,
    /// Counted as run already, and ended in an error afterwards (a blocked command
    /// unblocked with an error).
    FailedLater,
}

/// One command's totals.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

/// One connection's counts since it last handed them over: a pipeline of commands costs the
/// shared counters one update per distinct command, not one per command.
#[derive(Default)]
pub struct Local {
    entries: Vec<LocalEntry>,
}

struct LocalEntry {
    stat: usize,
    calls: u64,
    ticks: u64,
    failed: u64,
}

impl Local {
    /// Counts one call of stat index `stat` that ran.
    pub fn ran(&mut self, stat: usize, ticks: u64, failed: bool) {
        let e = match self.entries.iter_mut().position(|e| e.stat == stat) {
            Some(i) => &mut self.entries[i],
            None => {
                self.entries.push(LocalEntry {
                    stat,
                    calls: 0,
                    ticks: 0,
                    failed: 0,
                });
                let last = self.entries.len() - 1;
                &mut self.entries[last]
            }
        };
        e.calls += 1;
        e.ticks += ticks;
        e.failed += u64::from(failed);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[derive(Default)]
pub struct CommandStats {
    /// By stat index (see [`CommandStats::index`]); made on first use.
    slots: OnceLock<Vec<[Slot; SLOTS]>>,
    errors: Mutex<BTreeMap<String, u64>>,
    /// INFO latencystats and LATENCY HISTOGRAM, by the same index.
    pub latency: crate::latency::Histograms,
}

impl CommandStats {
    fn slots(&self, len: usize) -> &[[Slot; SLOTS]] {
        self.slots
            .get_or_init(|| (0..len).map(|_| Default::default()).collect())
    }

    /// Records one call of the command at stat index `i` (of `len`).
    pub fn record(&self, i: usize, len: usize, outcome: Outcome) {
        let Some(cmd) = self.slots(len).get(i) else {
            return;
        };
        let s = &cmd[crate::alloc::thread_slot() % SLOTS];
        match outcome {
            Outcome::Ran { ticks, failed } => {
                s.calls.fetch_add(1, Ordering::Relaxed);
                s.ticks.fetch_add(ticks, Ordering::Relaxed);
                if failed {
                    s.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Outcome::Rejected => {
                s.rejected.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::FailedLater => {
                s.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Adds what one connection counted locally (see [`Local`]).
    pub fn add(&self, local: &mut Local, len: usize) {
        for e in local.entries.drain(..) {
            let Some(cmd) = self.slots(len).get(e.stat) else {
                continue;
            };
            let s = &cmd[crate::alloc::thread_slot() % SLOTS];
            s.calls.fetch_add(e.calls, Ordering::Relaxed);
            s.ticks.fetch_add(e.ticks, Ordering::Relaxed);
            if e.failed > 0 {
                s.failed.fetch_add(e.failed, Ordering::Relaxed);
            }
        }
    }

    /// The totals of stat index `i`.
    pub fn totals(&self, i: usize, len: usize) -> Totals {
        let mut t = Totals::default();
        if let Some(cmd) = self.slots(len).get(i) {
            let mut ticks = 0;
            for s in cmd {
                t.calls += s.calls.load(Ordering::Relaxed);
                ticks += s.ticks.load(Ordering::Relaxed);
                t.rejected += s.rejected.load(Ordering::Relaxed);
                t.failed += s.failed.load(Ordering::Relaxed);
            }
            if ticks > 0 {
                t.usec = (ticks as f64 / ticks_per_us()) as u64;
            }
        }
        t
    }

    /// Counts an error reply by its prefix (the text up to the first space: `ERR`,
    /// `WRONGTYPE` ...), as Redis's errorstats does.
    pub fn error(&self, text: &[u8]) {
        let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
        let prefix = String::from_utf8_lossy(&text[..end.min(128)]).into_owned();
        *self.errors.lock().entry(prefix).or_insert(0) += 1;
    }

    /// (prefix, count) of every error seen.
    pub fn errors(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        if let Some(all) = self.slots.get() {
            for cmd in all {
                for s in cmd {
                    s.calls.store(0, Ordering::Relaxed);
                    s.ticks.store(0, Ordering::Relaxed);
                    s.rejected.store(0, Ordering::Relaxed);
                    s.failed.store(0, Ordering::Relaxed);
                }
            }
        }
        self.errors.lock().clear();
        self.latency.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_resets() {
        let s = CommandStats::default();
        s.record(
            1,
            3,
            Outcome::Ran {
                ticks: 0,
                failed: false,
            },
        );
        s.record(
            1,
            3,
            Outcome::Ran {
                ticks: 0,
                failed: true,
            },
        );
        s.record(1, 3, Outcome::Rejected);
        s.record(9, 3, Outcome::Rejected);
        assert_eq!(
            s.totals(1, 3),
            Totals {
                calls: 2,
                usec: 0,
                rejected: 1,
                failed: 1
            }
        );
        s.error(b"WRONGTYPE Operation against a key");
        s.error(b"ERR x");
        s.error(b"ERR y");
        assert_eq!(s.errors(), vec![("ERR".into(), 2), ("WRONGTYPE".into(), 1)]);
        s.reset();
        assert_eq!(s.totals(1, 3), Totals::default());
        assert!(s.errors().is_empty());
    }
}
