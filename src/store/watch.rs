//! WATCH: which clients watch which keys of one database, and Redis 7.0's rules for when a
//! change to a key makes a watcher's transaction fail (`touchWatchedKey`,
//! `touchAllWatchedKeysInDb`, `isWatchedKeyExpired` in multi.c).
//!
//! The registry lives with the database slot (a flush or SWAPDB moves keys, not watchers), and
//! is only read or changed under that database's write lock. A watcher's verdict is one
//! atomic flag per client, which its own thread reads at EXEC.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One client's transaction verdict: set when a key it watches is touched.
#[derive(Debug, Default)]
pub struct WatchFlag {
    dirty: AtomicBool,
}

impl WatchFlag {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    pub fn mark(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    pub fn clear(&self) {
        self.dirty.store(false, Ordering::Release);
    }
}

/// A client watching a key.
#[derive(Debug)]
struct Watcher {
    flag: Arc<WatchFlag>,
    /// The key was already expired (but not yet deleted) when WATCH ran: deleting it is no
    /// change.
    expired: bool,
}

/// For a key: whether the incoming keys of a SWAPDB hold it (`Some`), and then whether it is
/// expired there.
pub type Incoming<'a> = dyn Fn(&[u8]) -> Option<bool> + 'a;

/// Where changes to keys go besides WATCH: client-side caching's invalidations (Redis's
/// `trackingInvalidateKey`, called by `signalModifiedKey` beside `touchWatchedKey`). The
/// store knows nothing of who tracks what.
pub trait Invalidate: Send + Sync {
    /// Set while anyone may need to hear of changes: read inline on every change, so that
    /// with no tracking a write pays one atomic load and no call.
    fn active_flag(&self) -> Arc<AtomicBool>;
    /// `key` changed (in any database: tracking does not tell them apart).
    fn key(&self, key: &[u8]);
}

/// The watchers of one database, by key.
#[derive(Default)]
pub struct Watched {
    by_key: HashMap<Box<[u8]>, Vec<Watcher>>,
    /// Client-side caching, told of every change signalled here while its flag is set.
    invalidate: Option<(Arc<AtomicBool>, Arc<dyn Invalidate>)>,
    /// Changes signalled so far: a write command that moved it changed something (Redis's
    /// `server.dirty`, which decides whether a command is propagated).
    changes: u64,
}

impl Watched {
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Changes signalled so far (a counter that only grows).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    pub fn set_invalidate(&mut self, to: Arc<dyn Invalidate>) {
        self.invalidate = Some((to.active_flag(), to));
    }

    /// Adds a watcher of `key` (once per client and key).
    pub fn add(&mut self, key: &[u8], flag: &Arc<WatchFlag>, expired: bool) {
        let list = self.by_key.entry(Box::from(key)).or_default();
        if !list.iter().any(|w| Arc::ptr_eq(&w.flag, flag)) {
            list.push(Watcher {
                flag: Arc::clone(flag),
                expired,
            });
        }
    }

    /// Adds a watcher of `key` ahead of the others, so that no watcher of an expired key
    /// (at which marking stops) shields it: a long read in chunks watches this way.
    pub fn add_first(&mut self, key: &[u8], flag: &Arc<WatchFlag>) {
        let list = self.by_key.entry(Box::from(key)).or_default();
        list.insert(
            0,
            Watcher {
                flag: Arc::clone(flag),
                expired: false,
            },
        );
    }

    /// Takes the client with `flag` off `key`.
    pub fn remove(&mut self, key: &[u8], flag: &Arc<WatchFlag>) {
        if let Some(list) = self.by_key.get_mut(key) {
            list.retain(|w| !Arc::ptr_eq(&w.flag, flag));
            if list.is_empty() {
                self.by_key.remove(key);
            }
        }
    }

    /// Was the client with `flag` watching `key` while it was expired (and not yet deleted)?
    pub fn watched_expired(&self, key: &[u8], flag: &Arc<WatchFlag>) -> bool {
        self.by_key
            .get(key)
            .and_then(|l| l.iter().find(|w| Arc::ptr_eq(&w.flag, flag)))
            .is_some_and(|w| w.expired)
    }

    /// `key` was changed (Redis's `signalModifiedKey`); `exists` says whether it is still in
    /// the map. Deleting a key that was already expired at WATCH is no change. (Redis stops at
    /// the first watcher for which an expired key still exists; so does this.)
    pub fn touch(&mut self, key: &[u8], exists: bool) {
        self.changes = self.changes.wrapping_add(1);
        if let Some((active, to)) = &self.invalidate {
            if active.load(Ordering::Relaxed) {
                to.key(key);
            }
        }
        // Nobody watches, almost always: that answer costs no hashing.
        if self.by_key.is_empty() {
            return;
        }
        let Some(list) = self.by_key.get_mut(key) else {
            return;
        };
        for w in list {
            // Redis drops a client from every list once it is dirty.
            if w.flag.is_dirty() {
                continue;
            }
            if w.expired {
                if !exists {
                    w.expired = false;
                    continue;
                }
                break;
            }
            w.flag.mark();
        }
    }

    /// The database was emptied (FLUSHDB, FLUSHALL) or its keys replaced (SWAPDB, then
    /// `replaced_with` tells, for a key, whether the incoming keys hold it and whether it is
    /// expired there). `existed(key)`: the key was in the emptied map.
    pub fn touch_all(&mut self, existed: impl Fn(&[u8]) -> bool, replaced_with: Option<&Incoming>) {
        self.changes = self.changes.wrapping_add(1);
        for (key, list) in self.by_key.iter_mut() {
            let in_emptied = existed(key);
            let incoming = replaced_with.and_then(|f| f(key));
            if !in_emptied && incoming.is_none() {
                continue;
            }
            for w in list.iter_mut() {
                if w.flag.is_dirty() {
                    continue;
                }
                if w.expired {
                    match incoming {
                        // The expired key is now deleted: no logical change.
                        None => {
                            w.expired = false;
                            continue;
                        }
                        // It stays expired.
                        Some(true) => continue,
                        Some(false) => {}
                    }
                } else if !in_emptied && incoming == Some(true) {
                    // A missing key replaced with an expired one.
                    w.expired = true;
                    continue;
                }
                w.flag.mark();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_marks_watchers_and_spares_deleted_stale_keys() {
        let mut w = Watched::default();
        let (a, b) = (WatchFlag::new(), WatchFlag::new());
        w.add(b"k", &a, false);
        w.add(b"stale", &b, true);
        w.touch(b"stale", false);
        assert!(
            !b.is_dirty(),
            "deleting a key expired at WATCH is no change"
        );
        w.touch(b"stale", true);
        assert!(b.is_dirty(), "after that, a new value is a change");
        w.touch(b"other", true);
        assert!(!a.is_dirty());
        w.touch(b"k", true);
        assert!(a.is_dirty());
        w.remove(b"k", &a);
        w.remove(b"stale", &b);
        assert!(w.is_empty());
    }

    #[test]
    fn touch_all_follows_redis() {
        let mut w = Watched::default();
        let (present, absent, stale) = (WatchFlag::new(), WatchFlag::new(), WatchFlag::new());
        w.add(b"p", &present, false);
        w.add(b"a", &absent, false);
        w.add(b"s", &stale, true);
        // SWAPDB: "a" comes in expired, "s" comes in expired, "p" was there.
        let incoming = |k: &[u8]| match k {
            b"a" | b"s" => Some(true),
            _ => None,
        };
        w.touch_all(|k| k == b"p" || k == b"s", Some(&incoming));
        assert!(present.is_dirty());
        assert!(
            !absent.is_dirty(),
            "a missing key replaced with a stale one"
        );
        assert!(!stale.is_dirty(), "a stale key replaced with a stale one");
        assert!(w.watched_expired(b"a", &absent));
    }
}
