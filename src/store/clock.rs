//! Time, read in as few places as possible.
//!
//! A command sees one instant, as Redis's `commandTimeSnapshot` gives it: an [`Op`] is made by
//! dispatch for each command (later, one for a whole `EXEC` or script), it reads the clock once,
//! on first use, and every [`super::Db`] view carries it. Handlers never read the clock:
//! `clippy.toml` forbids `SystemTime::now`, [`Op::new`] and the raw readers below outside the
//! few places that are allowed them (dispatch, the connection loop, the cron thread).

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::hash::HashLimits;

/// Wall-clock time in Unix microseconds (the one place that reads it).
#[allow(clippy::disallowed_methods)]
pub fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Wall-clock time in Unix milliseconds, for bookkeeping outside commands (a client's last
/// interaction, the cron thread).
#[allow(clippy::disallowed_methods)]
pub fn unix_ms() -> i64 {
    unix_us() / 1000
}

/// Redis's LRU clock: seconds, 24 bits, wrapping about every 194 days.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

static LRU_CLOCK: AtomicU32 = AtomicU32::new(0);

/// The LRU clock, as the cron thread last set it (Redis's cached `server.lruclock`): a read
/// of an atomic, not of the system clock, on every key lookup.
pub fn lru_clock() -> u32 {
    match LRU_CLOCK.load(Ordering::Relaxed) {
        0 => tick_lru_clock(),
        t => t,
    }
}

static CACHED_MS: AtomicI64 = AtomicI64::new(0);

/// Unix ms as the cron thread last read them (Redis's cached `server.unixtime`): for
/// bookkeeping that needs no precision, such as a client's last interaction, at the cost of
/// an atomic load instead of a clock read.
pub fn cached_unix_ms() -> i64 {
    match CACHED_MS.load(Ordering::Relaxed) {
        0 => {
            tick_lru_clock();
            CACHED_MS.load(Ordering::Relaxed)
        }
        t => t,
    }
}

/// Sets the LRU clock and the cached time from the system clock (the cron thread, at `hz`).
#[allow(clippy::disallowed_methods)]
pub fn tick_lru_clock() -> u32 {
    let ms = unix_ms();
    CACHED_MS.store(ms, Ordering::Relaxed);
    // Never 0, which means "not set yet".
    let t = ((ms / 1000) as u32 & LRU_CLOCK_MAX).max(1);
    LRU_CLOCK.store(t, Ordering::Relaxed);
    t
}

/// The settings the store applies, as they were when a command started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest string a command may create.
    pub max_bulk: u64,
    /// `list-max-listpack-size`: the size of a list node.
    pub list_fill: i64,
    /// `hash-max-listpack-entries` / `-value`: when a hash leaves its packed form.
    pub hash: HashLimits,
    /// `notify-keyspace-events`: the event classes published.
    pub notify: u32,
    /// `set-max-intset-entries`.
    pub set: super::SetLimits,
    /// `zset-max-listpack-entries` / `-value`.
    pub zset: super::ZSetLimits,
    /// How key use is recorded (`maxmemory-policy`, `lfu-log-factor`, `lfu-decay-time`).
    pub access: super::Access,
    /// `stream-node-max-entries` / `-bytes`.
    pub stream: super::StreamLimits,
    /// `rdbcompression`: LZF for long strings in DUMP payloads and RDB files.
    pub rdb_compression: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk: 512 * 1024 * 1024,
            list_fill: super::list::DEFAULT_FILL,
            hash: HashLimits::default(),
            notify: 0,
            set: super::SetLimits::default(),
            zset: super::ZSetLimits::default(),
            access: super::Access::Lru,
            stream: super::StreamLimits::default(),
            rdb_compression: true,
        }
    }
}

/// What one command (or one transaction, or one script) runs with: the instant it runs at and
/// the limits in force when it started.
#[derive(Debug)]
pub struct Op {
    /// Unix microseconds, read on first use (0 until then): a command that never looks at a
    /// TTL, such as GET of a key without one, never reads the clock.
    at_us: Cell<i64>,
    limits: Limits,
    /// Replaying the append-only file: no key counts as expired (Redis's rule while
    /// loading), so that the records replay as they were made; expiry resumes after.
    replaying: bool,
    /// The changes the command made, when it says so: Redis counts what a write changed
    /// (`server.dirty`), and a SETBIT that leaves the bit as it was changed nothing. Unsaid,
    /// a write that succeeds counts one.
    changes: Cell<Option<u64>>,
}

impl Op {
    /// A fresh instant for one command, with the live limits.
    pub fn new(limits: Limits) -> Op {
        Op {
            at_us: Cell::new(0),
            limits,
            replaying: false,
            changes: Cell::new(None),
        }
    }

    /// An instant for one command replayed from the append-only file (see `replaying`).
    pub fn replaying(limits: Limits) -> Op {
        Op {
            at_us: Cell::new(0),
            limits,
            replaying: true,
            changes: Cell::new(None),
        }
    }

    /// The running command made `n` changes (see `changes`).
    pub fn count_changes(&self, n: u64) {
        self.changes.set(Some(n));
    }

    /// The changes the command that just ran said it made, cleared for the next one.
    pub fn take_changes(&self) -> Option<u64> {
        self.changes.take()
    }

    /// Reads the clock again at the next use: a script stopped in the debugger judges
    /// expiry at the time it resumed, as Redis does.
    pub fn refresh(&self) {
        self.at_us.set(0);
    }

    /// The instant expiry is judged at: a key whose time is at or before it has expired.
    /// While replaying, none has.
    pub fn expiry_now(&self) -> i64 {
        if self.replaying {
            i64::MIN
        } else {
            self.now_ms()
        }
    }

    /// An operation at a fixed instant (Unix ms), for tests of the store.
    #[cfg(test)]
    pub fn at_ms(ms: i64, limits: Limits) -> Op {
        Op {
            at_us: Cell::new(ms * 1000),
            limits,
            replaying: false,
            changes: Cell::new(None),
        }
    }

    /// The operation's instant in Unix microseconds.
    #[allow(clippy::disallowed_methods)]
    pub fn now_us(&self) -> i64 {
        let mut t = self.at_us.get();
        if t == 0 {
            t = unix_us();
            self.at_us.set(t);
        }
        t
    }

    /// The operation's instant in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.now_us() / 1000
    }

    /// The largest string a command may create (`proto-max-bulk-len`).
    pub fn max_bulk(&self) -> u64 {
        self.limits.max_bulk
    }

    /// The settings the store applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}
