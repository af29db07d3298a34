//! SLOWLOG: the commands that ran longer than `slowlog-log-slower-than` microseconds, newest
//! first, at most `slowlog-max-len` of them, each with its id, Unix time, duration, arguments
//! (at most 32, each cut at 128 bytes, credentials redacted), peer and client name.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
/// Redis's `SLOWLOG_ENTRY_MAX_ARGC` and `SLOWLOG_ENTRY_MAX_STRING`.
const MAX_ARGC: usize = 32;
const MAX_STRING: usize = 128;

pub struct Entry {
    pub id: u64,
    pub unix_secs: i64,
    pub micros: u64,
    pub argv: Vec<Vec<u8>>,
    pub peer: String,
    pub name: Vec<u8>,
}

#[derive(Default)]
pub struct SlowLog {
    entries: Mutex<VecDeque<Entry>>,
    /// Ids keep counting across SLOWLOG RESET, as in Redis.
    next_id: AtomicU64,
    /// Entries of blocked clients a command served or unblocked: logged after that command's
    /// own entry, as Redis serves blocked clients after the command that freed them.
    after: Mutex<Vec<(Qualified, i64)>>,
    has_after: AtomicBool,
}

impl SlowLog {
    /// Records a command that took `micros` (the caller checked the threshold), then trims
    /// the log to `max_len`.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &self,
        argv: &[Vec<u8>],
        micros: u64,
        unix_secs: i64,
        peer: String,
        name: Vec<u8>,
        max_len: usize,
    ) {
        let redacted = crate::monitor::redactions(argv);
        let shown = argv.len().min(MAX_ARGC);
        let mut logged = Vec::with_capacity(shown);
        for (j, a) in argv.iter().take(shown).enumerate() {
            if shown != argv.len() && j == shown - 1 {
                logged
                    .push(format!("... ({} more arguments)", argv.len() - shown + 1).into_bytes());
            } else if redacted.contains(&j) {
                logged.push(b"(redacted)".to_vec());
            } else if a.len() > MAX_STRING {
                let mut s = a[..MAX_STRING].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes(),
                );
                logged.push(s);
            } else {
                logged.push(a.clone());
            }
        }
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            unix_secs,
            micros,
            argv: logged,
            peer,
            name,
        };
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        entries.truncate(max_len);
    }

    /// Logs the entries deferred by the command that just ended (one load when there are
    /// none).
    #[inline]
    pub fn command_ended(&self, config: &crate::config::Config) {
        if self.has_after.load(Ordering::Acquire) {
            self.flush_after(config.slowlog_max_len());
        }
    }

    #[cold]
    fn flush_after(&self, max_len: usize) {
        let pending = {
            let mut after = self.after.lock();
            self.has_after.store(false, Ordering::Release);
            std::mem::take(&mut *after)
        };
        for ((argv, micros, peer, name), unix_secs) in pending {
            self.push(&argv, micros, unix_secs, peer, name, max_len);
        }
    }

    fn defer(&self, entry: Qualified, unix_secs: i64) {
        self.after.lock().push((entry, unix_secs));
        self.has_after.store(true, Ordering::Release);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    /// The newest `count` entries.
    pub fn newest<R>(&self, count: usize, f: impl FnMut(&Entry) -> R) -> Vec<R> {
        self.entries.lock().iter().take(count).map(f).collect()
    }
}

/// How a blocked command's wait ended, for its entry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// On the client's own thread (a timeout).
    Here,
    /// By another client's command (served, CLIENT UNBLOCK).
    ByCommand,
    /// The client went.
    Gone,
}

/// What a command's entry is made of: (arguments, microseconds, peer, name).
pub type Qualified = (Vec<Vec<u8>>, u64, String, Vec<u8>);

/// A blocked command's slow-log entry: the command is logged when its wait ends (served, timed
/// out or unblocked; not if the client left), which may come before or after the thread that
/// ran it knows how long the call took.
#[derive(Default)]
pub struct Pending {
    /// (arguments, microseconds, peer, name), once the call's duration is known to qualify.
    entry: Option<Qualified>,
    /// The wait ended; `Some(true)` if the command is to be logged.
    ended: Option<bool>,
}

impl Pending {
    /// The wait ended: by a timeout (on the client's own thread: logged now), served or
    /// unblocked by another client's command (logged after that command's entry), or by a
    /// disconnect (not logged).
    pub fn end(&mut self, how: End, slowlog: &SlowLog, unix_secs: i64, max_len: usize) {
        self.ended = Some(how != End::Gone);
        if let Some(entry) = self.entry.take() {
            match how {
                End::Here => {
                    let (argv, micros, peer, name) = entry;
                    slowlog.push(&argv, micros, unix_secs, peer, name, max_len);
                }
                End::ByCommand => slowlog.defer(entry, unix_secs),
                End::Gone => {}
            }
        }
    }

    /// The call qualified for the log: logged now if the wait already ended, else kept.
    pub fn qualify(&mut self, entry: Qualified, slowlog: &SlowLog, unix_secs: i64, max_len: usize) {
        match self.ended {
            Some(true) => {
                let (argv, micros, peer, name) = entry;
                slowlog.push(&argv, micros, unix_secs, peer, name, max_len);
            }
            Some(false) => {}
            None => self.entry = Some(entry),
        }
    }
}
