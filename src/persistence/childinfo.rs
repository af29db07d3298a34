//! What a forked child (BGSAVE, an append-only file rewrite) tells the server while it
//! works, as Redis's `childinfo.c`: how many keys it has written, and how much memory
//! copy-on-write has made its own (the pages the server wrote to since the fork, which
//! the two processes no longer share). INFO shows them as `current_save_keys_processed`,
//! `current_fork_perc`, `current_cow_size` and `current_cow_peak`, and the last child's as
//! `rdb_last_cow_size` / `aof_last_cow_size`.
//!
//! The child writes fixed-size records to a pipe made before the fork; the server's waiter
//! of that child reads them until the child closes it by exiting.

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// A record: its kind, keys written, copy-on-write bytes, and when those were measured
/// (the monotonic clock, in ms: the same clock in both processes).
const RECORD: usize = 4 * 8;
const PROGRESS: u64 = 1;
const FINAL: u64 = 2;

/// The clock is looked at every this many keys, and a progress report sent if a second has
/// passed since the last (Redis's rule; the first key is reported at once).
const KEYS_PER_CHECK: u64 = 1024;
const REPORT_EVERY_MS: u64 = 1000;
/// A copy-on-write reading costs the child time (it reads its memory map): the next one
/// waits this many times as long as the last took (Redis's `CHILD_COW_DUTY_CYCLE`).
const COW_DUTY_CYCLE: u64 = 100;

/// The running child's figures, as last reported.
struct Current {
    keys_total: AtomicU64,
    keys_processed: AtomicU64,
    cow: AtomicU64,
    peak: AtomicU64,
    /// Monotonic ms of the last copy-on-write reading; 0: none yet.
    cow_at_ms: AtomicU64,
}

static CURRENT: Current = Current {
    keys_total: AtomicU64::new(0),
    keys_processed: AtomicU64::new(0),
    cow: AtomicU64::new(0),
    peak: AtomicU64::new(0),
    cow_at_ms: AtomicU64::new(0),
};

/// Which child the figures belong to: a BGSAVE and a rewrite may overlap, and the newest
/// one's are shown; an older one's waiter neither updates nor clears them.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The last successful BGSAVE's and rewrite's copy-on-write peak.
static LAST_RDB_COW: AtomicU64 = AtomicU64::new(0);
static LAST_AOF_COW: AtomicU64 = AtomicU64::new(0);

/// What the child reports: a snapshot or a rewrite.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rdb,
    Aof,
}

fn monotonic_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer; CLOCK_MONOTONIC is system-wide, so both processes agree.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// The pipe, made before the fork (both ends close if it is dropped unused).
pub struct Channel {
    read: OwnedFd,
    write: OwnedFd,
    generation: u64,
}

impl Channel {
    /// A new pipe, and the running child's figures zeroed with `keys_total` keys to write.
    pub fn open(keys_total: u64) -> Option<Channel> {
        let mut fds = [0i32; 2];
        // SAFETY: a valid array of two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return None;
        }
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed) + 1;
        clear();
        CURRENT.keys_total.store(keys_total, Ordering::Relaxed);
        // SAFETY: two descriptors pipe2 just made, each owned once.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Some(Channel {
            read,
            write,
            generation,
        })
    }

    /// In the child, first: reports go to this pipe from now on. Returns the descriptor
    /// that must survive the child's closing of the others.
    pub fn into_child(self) -> i32 {
        drop(self.read);
        let fd = self.write.into_raw_fd();
        REPORT_FD.store(fd, Ordering::Relaxed);
        fd
    }

    /// In the server: the end its waiter reads ([`Receiver::drain`]). Its copy of the write
    /// end closes, so that reads end when the child's does.
    pub fn into_parent(self) -> Receiver {
        drop(self.write);
        Receiver {
            fd: self.read,
            generation: self.generation,
        }
    }
}

/// The server's end of the pipe.
pub struct Receiver {
    fd: OwnedFd,
    generation: u64,
}

impl Receiver {
    /// Reads the child's reports until it exits (the pipe closes); then the figures of its
    /// final report, if it sent one (a child that failed sends none).
    pub fn drain(self, kind: Kind) -> Option<u64> {
        let (mut final_cow, mut peak) = (None, 0);
        let mut buf = [0u8; RECORD];
        loop {
            let mut got = 0;
            while got < RECORD {
                // SAFETY: reads into the rest of this buffer.
                let n = unsafe {
                    libc::read(
                        self.fd.as_raw_fd(),
                        buf[got..].as_mut_ptr().cast(),
                        RECORD - got,
                    )
                };
                if n == 0 {
                    // The figures go with the child that ended.
                    if GENERATION.load(Ordering::Relaxed) == self.generation {
                        clear();
                    }
                    if let Some(cow) = final_cow {
                        match kind {
                            Kind::Rdb => LAST_RDB_COW.store(cow, Ordering::Relaxed),
                            Kind::Aof => LAST_AOF_COW.store(cow, Ordering::Relaxed),
                        }
                    }
                    return final_cow;
                }
                if n < 0 {
                    if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return final_cow;
                }
                got += n as usize;
            }
            let field = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[i * 8..i * 8 + 8]);
                u64::from_le_bytes(b)
            };
            let (record, keys, cow, at) = (field(0), field(1), field(2), field(3));
            peak = peak.max(cow);
            if GENERATION.load(Ordering::Relaxed) == self.generation {
                CURRENT.keys_processed.store(keys, Ordering::Relaxed);
                CURRENT.cow.store(cow, Ordering::Relaxed);
                CURRENT.peak.fetch_max(cow, Ordering::Relaxed);
                CURRENT.cow_at_ms.store(at, Ordering::Relaxed);
            }
            if record == FINAL {
                let what = if kind == Kind::Rdb {
                    "RDB"
                } else {
                    "AOF rewrite"
                };

                log::info!(
                    "Fork CoW for {what}: current {} MB, peak {} MB",
                    cow >> 20,
                    peak >> 20
                );
                // As Redis: the size recorded for the last child is the peak it reached.
                final_cow = Some(peak);
            }
        }
    }
}

/// The child's end, once [`Channel::into_child`] set it (-1 in the server itself, whose
/// foreground SAVE writes through the same code).
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);
static KEYS_WRITTEN: AtomicU64 = AtomicU64::new(0);
/// The child's last copy-on-write reading: its value, when, and what it cost (ms).
static LAST_COW: AtomicU64 = AtomicU64::new(0);
static LAST_COW_AT: AtomicU64 = AtomicU64::new(0);
static LAST_COW_COST: AtomicU64 = AtomicU64::new(0);

/// One key written by the child: a progress report now and then (see [`KEYS_PER_CHECK`]).
pub fn key_written() {
    if REPORT_FD.load(Ordering::Relaxed) < 0 {
        return;
    }
    let before = KEYS_WRITTEN.fetch_add(1, Ordering::Relaxed);
    if before.is_multiple_of(KEYS_PER_CHECK) {
        let now = monotonic_ms();
        let last = LAST_SENT.load(Ordering::Relaxed);
        if last == 0 || now.saturating_sub(last) >= REPORT_EVERY_MS {
            LAST_SENT.store(now, Ordering::Relaxed);
            send(PROGRESS, false);
        }
    }
}

/// When the child last sent a progress report (monotonic ms).
static LAST_SENT: AtomicU64 = AtomicU64::new(0);

/// The child has written everything: its final report, with a fresh reading.
pub fn finished() {
    if REPORT_FD.load(Ordering::Relaxed) >= 0 {
        send(FINAL, true);
    }
}

fn send(record: u64, fresh: bool) {
    let now = monotonic_ms();
    let (at, cost) = (
        LAST_COW_AT.load(Ordering::Relaxed),
        LAST_COW_COST.load(Ordering::Relaxed),
    );
    if fresh || at == 0 || now.saturating_sub(at) > cost.max(1) * COW_DUTY_CYCLE {
        LAST_COW.store(private_dirty(), Ordering::Relaxed);
        let done = monotonic_ms();
        LAST_COW_AT.store(done, Ordering::Relaxed);
        LAST_COW_COST.store(done - now, Ordering::Relaxed);
    }
    let mut buf = [0u8; RECORD];
    for (i, v) in [
        record,
        KEYS_WRITTEN.load(Ordering::Relaxed),
        LAST_COW.load(Ordering::Relaxed),
        LAST_COW_AT.load(Ordering::Relaxed),
    ]
    .into_iter()
    .enumerate()
    {
        buf[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    // SAFETY: writes this buffer to the child's end; a write under PIPE_BUF is whole. A
    // server gone (EPIPE) is of no concern to a child that is about to finish anyway.
    unsafe {
        libc::write(
            REPORT_FD.load(Ordering::Relaxed),
            buf.as_ptr().cast(),
            RECORD,
        )
    };
}

/// This process's private dirty memory (what copy-on-write gave it); 0 if unreadable.
fn private_dirty() -> u64 {
    crate::os::smaps_bytes("Private_Dirty:")
}

/// A child that never started (its fork failed): no current figures.
pub fn reset() {
    clear();
}

/// No current figures (Redis's `resetChildState`).
fn clear() {
    for v in [
        &CURRENT.keys_total,
        &CURRENT.keys_processed,
        &CURRENT.cow,
        &CURRENT.peak,
        &CURRENT.cow_at_ms,
    ] {
        v.store(0, Ordering::Relaxed);
    }
}

/// INFO's `current_*` fields.
pub fn info_current() -> String {
    let total = CURRENT.keys_total.load(Ordering::Relaxed);
    let processed = CURRENT.keys_processed.load(Ordering::Relaxed);
    let at = CURRENT.cow_at_ms.load(Ordering::Relaxed);
    let age = if at == 0 {
        0
    } else {
        monotonic_ms().saturating_sub(at) / 1000
    };
    let perc = if total == 0 {
        0.0
    } else {
        processed as f64 / total as f64 * 100.0
    };
    format!(
        "current_cow_peak:{}\r\ncurrent_cow_size:{}\r\ncurrent_cow_size_age:{age}\r\n\
         current_fork_perc:{perc:.2}\r\ncurrent_save_keys_processed:{processed}\r\n\
         current_save_keys_total:{total}\r\n",
        CURRENT.peak.load(Ordering::Relaxed),
        CURRENT.cow.load(Ordering::Relaxed),
    )
}

/// The last successful child's copy-on-write size: `rdb_last_cow_size` or
/// `aof_last_cow_size`.
pub fn last_cow(kind: Kind) -> u64 {
    match kind {
        Kind::Rdb => LAST_RDB_COW.load(Ordering::Relaxed),
        Kind::Aof => LAST_AOF_COW.load(Ordering::Relaxed),
    }
}
