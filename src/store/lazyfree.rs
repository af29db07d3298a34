//! Freeing big values without holding anyone up (Redis's lazyfree.c).
//!
//! A value that takes many allocations to free (a table of a million fields) would keep its
//! database locked for as long as that takes. So a delete only unlinks it under the lock and
//! buries it (see `Keyspace::bury`); the write guard frees what was buried once the lock is
//! released: on the deleting thread for a synchronous delete (DEL: the memory is back before
//! the reply, as in Redis), or on this module's thread for an asynchronous one (UNLINK,
//! FLUSHALL ASYNC), counted in INFO's `lazyfree_pending_objects` and `lazyfreed_objects`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crossbeam_channel::Sender;

/// Values cheaper to free than this many allocations are freed at once, even by UNLINK
/// (Redis's `LAZYFREE_THRESHOLD`).
pub const THRESHOLD: usize = 64;

/// Waiting for the background thread (INFO `lazyfree_pending_objects`).
static PENDING: AtomicU64 = AtomicU64::new(0);
/// Freed by the background thread since the last CONFIG RESETSTAT (`lazyfreed_objects`).
static FREED: AtomicU64 = AtomicU64::new(0);

/// What to free, and how many objects it counts for (a flushed database: its keys).
type Job = (Box<dyn Send + Sync>, u64);

fn thread() -> Option<&'static Sender<Job>> {
    static TX: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let spawned = std::thread::Builder::new()
            .name("spindle-lazyfree".into())
            .spawn(move || {
                for (what, objects) in rx {
                    drop(what);
                    PENDING.fetch_sub(objects, Ordering::Relaxed);
                    FREED.fetch_add(objects, Ordering::Relaxed);
                }
            });
        match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                log::warn!("cannot start the lazyfree thread, freeing inline: {e}");
                None
            }
        }
    })
    .as_ref()
}

/// Frees `what`, counted as `objects`, on the background thread (inline if it could not
/// start).
pub fn free_async(what: Box<dyn Send + Sync>, objects: u64) {
    let Some(tx) = thread() else {
        drop(what);
        return;
    };
    PENDING.fetch_add(objects, Ordering::Relaxed);
    if let Err(e) = tx.send((what, objects)) {
        PENDING.fetch_sub(objects, Ordering::Relaxed);
        drop(e.into_inner());
    }
}

/// INFO `lazyfree_pending_objects`.
pub fn pending() -> u64 {
    PENDING.load(Ordering::Relaxed)
}

/// INFO `lazyfreed_objects`.
pub fn freed() -> u64 {
    FREED.load(Ordering::Relaxed)
}

/// CONFIG RESETSTAT.
pub fn reset_stats() {
    FREED.store(0, Ordering::Relaxed);
}
