//! Time, read in as few places as possible.
//!
//! A command sees one instant, as Redis's `commandTimeSnapshot` gives it: an [`Op`] is made by
//! dispatch for each command (later, one for a whole `EXEC` or script), it reads the clock once,
//! on first use, and every [`super::Db`] view carries it. Handlers never read the clock:
//! `clippy.toml` forbids `SystemTime::now`, [`Op::new`] and the raw readers below outside the
//! few places that are allowed them (dispatch, the connection loop, the cron thread).

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// What one command (or one transaction, or one script) runs with: the instant it runs at and
/// the limits in force when it started.
#[derive(Debug)]
pub struct Op {
    /// Unix microseconds, read on first use (0 until then): a command that never looks at a
    /// TTL, such as GET of a key without one, never reads the clock.
    at_us: Cell<i64>,
    /// `proto-max-bulk-len`: the largest string a command may create.
    max_bulk: u64,
}

impl Op {
    /// A fresh instant for one command, with the live `proto-max-bulk-len`.
    pub fn new(max_bulk: u64) -> Op {
        Op {
            at_us: Cell::new(0),
            max_bulk,
        }
    }

    /// An operation at a fixed instant (Unix ms), for tests of the store.
    pub fn at_ms(ms: i64, max_bulk: u64) -> Op {
        Op {
            at_us: Cell::new(ms * 1000),
            max_bulk,
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
        self.max_bulk
    }
}
