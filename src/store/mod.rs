//! The keyspace: numbered databases behind `parking_lot` RwLocks. Knows nothing of sockets,
//! clients or replies.

pub mod clock;
pub mod crc64;
pub mod db;
pub mod dict;
pub mod digest;
pub mod evict;
pub mod feed;
pub mod glob;
pub mod hash;
pub mod hll;
pub mod list;
pub mod listpack;
pub mod lzf;
pub mod notify;
pub mod ostree;
pub mod pack;
pub mod rdbstr;
pub mod ready;
pub mod set;
pub mod stream;
pub mod value;
pub mod watch;
pub mod zset;

use std::cell::Cell;

use std::ops::{Deref, DerefMut};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use clock::{Limits, Op};
pub use db::{Db, DbMut, DbRef, Entry, Keyspace};
pub use hash::{Hash, HashLimits};
pub use list::List;
pub use set::{Set, SetLimits};
pub use stream::{Stream, StreamId, StreamLimits};
pub use value::{Access, Value, WrongType};
pub use zset::{ZSet, ZSetLimits};

/// All databases of one server.
///
/// **Lock order.** Each database has its own `RwLock`. A thread that holds several takes them
/// in ascending index order, and never waits for a database while holding one with a higher
/// index; commands that span databases (MOVE, COPY ... DB, SWAPDB, FLUSHALL, INFO keyspace)
/// lock through the methods below, which keep that order, and hold every lock they need for
/// the whole operation, so no other client can see it half done.
pub struct Store {
    dbs: Vec<RwLock<Keyspace>>,
}

impl Store {
    pub fn new(databases: usize) -> Self {
        Store {
            dbs: (0..databases.max(1))
                .map(|i| RwLock::new(Keyspace::numbered(i)))
                .collect(),
        }
    }

    /// Where every database publishes its keyspace events (set once, at start).
    pub fn set_sink(&self, sink: std::sync::Arc<dyn notify::Sink>) {
        for db in &self.dbs {
            db.write().set_sink(std::sync::Arc::clone(&sink));
        }
    }

    /// Where every database records its changes for the append-only file (set once, at
    /// start).
    pub fn set_feed(&self, feed: std::sync::Arc<dyn feed::Feed>) {
        for db in &self.dbs {
            db.write().set_feed(std::sync::Arc::clone(&feed));
        }
    }

    /// Where every database reports changed keys for client-side caching (set once, at
    /// start).
    pub fn set_invalidate(&self, to: std::sync::Arc<dyn watch::Invalidate>) {
        for db in &self.dbs {
            db.write().set_invalidate(std::sync::Arc::clone(&to));
        }
    }

    /// Number of databases.
    pub fn len(&self) -> usize {
        self.dbs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    /// Database `index`, locked for reading (callers check the index against [`Store::len`]).
    pub fn read(&self, index: usize) -> RwLockReadGuard<'_, Keyspace> {
        self.dbs[index].read()
    }

    /// Database `index`, locked for writing.
    pub fn write(&self, index: usize) -> WriteGuard<'_> {
        WriteGuard(Some(self.dbs[index].write()))
    }

    /// Two different databases locked for writing, in index order; returned as `(a, b)`.
    pub fn write_pair(&self, a: usize, b: usize) -> (WriteGuard<'_>, WriteGuard<'_>) {
        assert_ne!(a, b, "write_pair needs two different databases");
        if a < b {
            let ga = self.write(a);
            (ga, self.write(b))
        } else {
            let gb = self.write(b);
            (self.write(a), gb)
        }
    }

    /// The databases `which` names, locked for writing in index order and held together
    /// (EXEC). Clients blocked on keys made ready meanwhile are served as each is released.
    pub fn hold(&self, which: impl Fn(usize) -> bool) -> Vec<Option<WriteGuard<'_>>> {
        (0..self.dbs.len())
            .map(|i| which(i).then(|| self.write(i)))
            .collect()
    }

    /// Every database locked for reading, in index order: one consistent view of all of them.
    pub fn read_all(&self) -> Vec<RwLockReadGuard<'_, Keyspace>> {
        self.dbs.iter().map(|db| db.read()).collect()
    }

    /// Exchanges the contents of two databases in one step (SWAPDB); clients blocked on keys
    /// that now exist are served before the locks are released.
    pub fn swap(&self, a: usize, b: usize, now: i64) {
        if a != b {
            let (mut x, mut y) = self.write_pair(a, b);
            x.swap_contents(&mut y, now);
        }
    }

    /// Takes a waiter out of database `db`'s queues, however its wait ended.
    pub fn unblock(&self, db: usize, w: &std::sync::Arc<ready::Waiter>) {
        self.write(db).remove_waiter(w);
    }

    /// Empties database `index`. The old contents are freed after the lock is released.
    pub fn flush(&self, index: usize) {
        // Through a write guard: XREADGROUP clients blocked on a stream it held are told.
        let old = self.write(index).take_contents();
        drop(old);
    }

    /// Empties every database in one step (FLUSHALL): all write locks are taken in index
    /// order, the contents swapped out, the locks released, and only then is the old data freed.
    pub fn flush_all(&self) {
        self.flush_all_then(|| {});
    }

    /// [`Store::flush_all`], running `locked` before the locks are released (the flush's
    /// record for the append-only file).
    pub fn flush_all_then(&self, locked: impl FnOnce()) {
        let mut guards: Vec<_> = (0..self.dbs.len()).map(|i| self.write(i)).collect();
        let old: Vec<db::Contents> = guards.iter_mut().map(|g| g.take_contents()).collect();
        locked();
        drop(guards);
        drop(old);
    }

    /// [`Store::flush`], running `locked` before the lock is released.
    pub fn flush_then(&self, index: usize, locked: impl FnOnce()) {
        let mut guard = self.write(index);
        let old = guard.take_contents();
        locked();
        drop(guard);
        drop(old);
    }

    /// [`Store::swap`], running `locked` before the locks are released.
    pub fn swap_then(&self, a: usize, b: usize, now: i64, locked: impl FnOnce()) {
        if a != b {
            let (mut x, mut y) = self.write_pair(a, b);
            x.swap_contents(&mut y, now);
            locked();
        } else {
            let _g = self.write(a);
            locked();
        }
    }

    /// One active-expiry pass at the instant `now` (Unix ms): reclaims at most `max_per_db`
    /// due keys in each database, taking each write lock once and briefly. Returns how many
    /// keys it deleted.
    /// Its work (not its waits for the locks) is the latency monitor's `expire-cycle` event;
    /// `worked` gets its duration.
    #[allow(clippy::disallowed_methods)] // the cycle's duration, not a command's time
    pub fn expire_cycle(
        &self,
        now: i64,
        max_per_db: usize,
        notify: u32,
        worked: &mut std::time::Duration,
    ) -> usize {
        // Through the write guard: a stream it deletes has its waiters told on release.
        let n = (0..self.dbs.len())
            .map(|i| {
                let mut db = self.write(i);
                let start = std::time::Instant::now();
                let n = db.expire_due(now, max_per_db, notify);
                drop(db);
                *worked += start.elapsed();
                n
            })
            .sum();
        crate::latency::sample_if_needed("expire-cycle", worked.as_millis() as u64);
        n
    }
}

/// A database locked for writing. Before the lock is released, clients blocked on keys the
/// writer created are served (see [`ready`]), so no other client can take what was pushed
/// for them, and no write path can forget to wake them.
pub struct WriteGuard<'a>(Option<RwLockWriteGuard<'a, Keyspace>>);

impl Deref for WriteGuard<'_> {
    type Target = Keyspace;

    fn deref(&self) -> &Keyspace {
        // Present until drop.
        self.0.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for WriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut Keyspace {
        self.0.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        let Some(mut guard) = self.0.take() else {
            return;
        };
        // During a panic the waiters stay queued: a later write serves them, or they time out.
        if !guard.has_ready() || std::thread::panicking() {
            return;
        }
        // Serving a blocked client is a command of its own, at its own instant.
        #[allow(clippy::disallowed_methods)]
        let op = Op::new(guard.serve_limits());
        let served = Db::new(&mut *guard, &op).serve_ready();
        let feed = guard.feed().filter(|f| f.active()).cloned();
        drop(guard);
        // What serving them recorded is made durable before a reply leaves.
        if let Some(feed) = feed {
            if !served.is_empty() {
                feed.sync();
            }
        }
        // Outside the lock: the replies go straight into the waiters' sockets.
        for w in served {
            w.deliver();
        }
    }
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

#[allow(clippy::disallowed_methods)] // a seed, not a time
fn seed() -> u64 {
    let t = clock::unix_us() as u64;
    let id = std::thread::current().id();
    let h = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), id);
    (t ^ h) | 1
}

/// A fast per-thread xorshift64* generator (sampling, RANDOMKEY, SPOP); not for secrets. The
/// output multiply matters: plain xorshift's consecutive outputs are linearly related in their
/// low bits, which a bucket pick followed by a pick in the chain would feel.
pub fn rand_u64() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

#[cfg(test)]
mod tests {
    use super::ready::{Request, State, Waiter};
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct TakeString;

    impl Request for TakeString {
        fn serve(&self, db: &mut DbMut, key: &[u8]) -> Option<Vec<u8>> {
            let v = db.get_str(key).ok()??.to_vec();
            db.remove(key);
            Some(v)
        }
    }

    #[test]
    fn a_key_created_under_a_write_lock_serves_its_waiters_before_release() {
        let store = Store::new(2);
        let woken = Arc::new(AtomicUsize::new(0));
        let w = {
            let woken = Arc::clone(&woken);
            Waiter::new(
                1,
                0,
                vec![Box::from(&b"k"[..])],
                Box::new(TakeString),
                ready::Wake {
                    wake: Box::new(move || {
                        woken.fetch_add(1, Ordering::SeqCst);
                    }),
                    send: Box::new(|_| 0),
                    ended: Box::new(|_| {}),
                    hold: Box::new(|_| {}),
                },
            )
        };
        let op = Op::at_ms(1, Limits::default());
        {
            let mut g = store.write(0);
            Db::new(&mut *g, &op).block(&w);
        }
        {
            let mut g = store.write(0);
            Db::new(&mut *g, &op).set(b"k", Value::str(b"v".to_vec()), false);
        }
        assert_eq!(
            w.state(),
            State::Served {
                reply: b"v".to_vec(),
                sent: 0
            }
        );
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        let g = store.read(0);
        assert!(!Db::new(&*g, &op).contains(b"k"), "nobody else saw it");
    }
}
