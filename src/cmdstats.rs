//! INFO commandstats and errorstats: per command (and subcommand) the calls, the time spent,
//! the calls rejected before running and those that failed; per error prefix, the count.
//! Each command's counters are split over a few cache-padded slots, by thread, so that
//! clients running the same command on different cores do not contend on one line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

const SLOTS: usize = 4;

#[repr(align(64))]
#[derive(Default)]
struct Slot {
    calls: AtomicU64,
    usec: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
}

/// What happened to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ran, taking this many microseconds; `failed` if it answered an error.
    Ran { usec: u64, failed: bool },
    /// Refused before running (arity, no-multi, OOM ...).
    Rejected,
}

/// One command's totals.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

#[derive(Default)]
pub struct CommandStats {
    /// By stat index (see [`CommandStats::index`]); made on first use.
    slots: OnceLock<Vec<[Slot; SLOTS]>>,
    errors: Mutex<BTreeMap<String, u64>>,
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
            Outcome::Ran { usec, failed } => {
                s.calls.fetch_add(1, Ordering::Relaxed);
                s.usec.fetch_add(usec, Ordering::Relaxed);
                if failed {
                    s.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Outcome::Rejected => {
                s.rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The totals of stat index `i`.
    pub fn totals(&self, i: usize, len: usize) -> Totals {
        let mut t = Totals::default();
        if let Some(cmd) = self.slots(len).get(i) {
            for s in cmd {
                t.calls += s.calls.load(Ordering::Relaxed);
                t.usec += s.usec.load(Ordering::Relaxed);
                t.rejected += s.rejected.load(Ordering::Relaxed);
                t.failed += s.failed.load(Ordering::Relaxed);
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
                    s.usec.store(0, Ordering::Relaxed);
                    s.rejected.store(0, Ordering::Relaxed);
                    s.failed.store(0, Ordering::Relaxed);
                }
            }
        }
        self.errors.lock().clear();
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
                usec: 5,
                failed: false,
            },
        );
        s.record(
            1,
            3,
            Outcome::Ran {
                usec: 7,
                failed: true,
            },
        );
        s.record(1, 3, Outcome::Rejected);
        s.record(9, 3, Outcome::Rejected);
        assert_eq!(
            s.totals(1, 3),
            Totals {
                calls: 2,
                usec: 12,
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
