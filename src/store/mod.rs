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
pub mod lazyfree;
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
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use std::ops::{Deref, DerefMut};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use clock::{Limits, Op};
pub use db::{Db, DbMut, DbRef, Entry, Keyspace};
pub use hash::{Hash, HashLimits};
pub use list::List;
pub use set::{Set, SetLimits};
pub use stream::{Stream, StreamId, StreamLimits};
pub use value::{Access, Rewrite, Value, WrongType};
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
    /// Per database: active-expiry cycles in a row that found its lock busy.
    expiry_misses: Vec<AtomicU32>,
}

impl Store {
    pub fn new(databases: usize) -> Self {
        let n = databases.max(1);
        Store {
            dbs: (0..n).map(|i| RwLock::new(Keyspace::numbered(i))).collect(),
            expiry_misses: (0..n).map(|_| AtomicU32::new(0)).collect(),
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
    pub fn read(&self, index: usize) -> ReadGuard<'_> {
        ReadGuard::new(self.dbs[index].read())
    }

    /// Database `index`, locked for writing.
    pub fn write(&self, index: usize) -> WriteGuard<'_> {
        WriteGuard::new(self.dbs[index].write())
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
    pub fn hold(&self, which: impl Fn(usize) -> bool) -> Guards<'_> {
        // Only the last lock taken, which is released last, is timed, from before the first
        // was taken: reading the clock twice per database cost a script (which holds all 16)
        // 2,000 instructions.
        let start = hold_start();
        let mut guards: Guards<'_> = (0..self.dbs.len())
            .map(|i| which(i).then(|| WriteGuard(Some(self.dbs[i].write()), None)))
            .collect();
        if let Some(last) = guards.iter_mut().rev().find_map(Option::as_mut) {
            last.1 = start;
        }
        guards
    }

    /// Every database locked for reading, in index order: one consistent view of all of them.
    pub fn read_all(&self) -> Vec<ReadGuard<'_>> {
        self.dbs
            .iter()
            .map(|db| ReadGuard::new(db.read()))
            .collect()
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
        self.flush_then(index, false, || {});
    }

    /// Empties every database in one step (FLUSHALL): all write locks are taken in index
    /// order, the contents swapped out, the locks released, and only then is the old data
    /// freed.
    pub fn flush_all(&self) {
        self.flush_all_then(false, || {});
    }

    /// [`Store::flush_all`], running `locked` before the locks are released (the flush's
    /// record for the append-only file); `lazy` (ASYNC): the old data is freed on the
    /// lazyfree thread.
    pub fn flush_all_then(&self, lazy: bool, locked: impl FnOnce()) {
        // Through write guards: XREADGROUP clients blocked on a stream it held are told.
        let mut guards: Vec<_> = (0..self.dbs.len()).map(|i| self.write(i)).collect();
        let old: Vec<db::Contents> = guards.iter_mut().map(|g| g.take_contents()).collect();
        locked();
        // Every lock released before any of it is freed.
        drop(guards);
        for contents in old {
            if lazy {
                let keys = contents.len() as u64;
                lazyfree::free_async(Box::new(contents), keys);
            }
        }
    }

    /// [`Store::flush`], running `locked` before the lock is released; `lazy` as in
    /// [`Store::flush_all_then`].
    pub fn flush_then(&self, index: usize, lazy: bool, locked: impl FnOnce()) {
        let mut guard = self.write(index);
        guard.flush_buried(lazy);
        locked();
        drop(guard);
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
    ///
    /// It never queues for a lock: a writer waiting on a lock makes every reader that comes
    /// after it wait too, so a cycle parked behind one long reader would stall all the
    /// others. A database is locked only when a key is due there (peeked under a read lock
    /// taken only if free), and then only if its write lock is free at once. One that stays
    /// busy for [`EXPIRY_PATIENCE`] cycles is waited for, so expiry is late, never starved.
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
        let mut n = 0;
        for (i, db) in self.dbs.iter().enumerate() {
            let due = db
                .try_read()
                .is_none_or(|ks| ks.next_expiry().is_some_and(|at| at <= now));
            if !due {
                self.expiry_misses[i].store(0, Ordering::Relaxed);
                continue;
            }
            let misses = self.expiry_misses[i].load(Ordering::Relaxed);
            let guard = if misses >= EXPIRY_PATIENCE {
                Some(db.write())
            } else {
                db.try_write()
            };
            let Some(guard) = guard else {
                self.expiry_misses[i].store(misses + 1, Ordering::Relaxed);
                continue;
            };
            self.expiry_misses[i].store(0, Ordering::Relaxed);
            // Through the write guard: a stream it deletes has its waiters told on release.
            let mut db = WriteGuard::new(guard);
            let start = std::time::Instant::now();
            n += db.expire_due(now, max_per_db, notify);
            // Sampled before the lock is released too: a client that saw the keys go (its
            // DBSIZE waited for this lock) then sees the event, however the threads are
            // scheduled after the release.
            let so_far = *worked + start.elapsed();
            crate::latency::sample_if_needed("expire-cycle", so_far.as_millis() as u64);
            drop(db);
            *worked += start.elapsed();
        }
        crate::latency::sample_if_needed("expire-cycle", worked.as_millis() as u64);
        n
    }
}

impl Store {
    /// Redis's active rehashing (`activerehashing yes`): a database whose key table writes
    /// have left part way through a resize has it moved on by up to `steps` steps (a few
    /// buckets each), under its write lock, taken only if free at once.
    pub fn rehash_cycle(&self, steps: usize) {
        for db in &self.dbs {
            if !db.try_read().is_some_and(|ks| ks.resizing()) {
                continue;
            }
            if let Some(guard) = db.try_write() {
                WriteGuard::new(guard).rehash(steps);
            }
        }
    }
}

/// Cycles in a row active expiry lets a busy database go before it waits for its lock.
const EXPIRY_PATIENCE: u32 = 20;

/// Frees what deletes buried while the lock was held (now released): a synchronous delete's
/// values here, an asynchronous one's on the lazyfree thread.
fn free_buried(buried: Vec<(Box<dyn Send + Sync>, u64, bool)>) {
    for (what, objects, lazy) in buried {
        if lazy {
            lazyfree::free_async(what, objects);
        } else {
            drop(what);
        }
    }
}

/// The longest any database lock was held, for reading and for writing, in µs, since start
/// or the last `DEBUG LOCKSTATS RESET`: what a client may have had to wait behind one holder.
static MAX_READ_HOLD_US: AtomicU64 = AtomicU64::new(0);
static MAX_WRITE_HOLD_US: AtomicU64 = AtomicU64::new(0);
/// The most keys a walk in chunks (KEYS) visited under one lock hold.
static MAX_CHUNK_KEYS: AtomicU64 = AtomicU64::new(0);

fn note_max(max: &AtomicU64, v: u64) {
    // A load first: the common case (no new maximum) writes nothing shared.
    if v > max.load(Ordering::Relaxed) {
        max.fetch_max(v, Ordering::Relaxed);
    }
}

/// A walk in chunks visited `keys` keys under one lock hold.
pub fn note_chunk(keys: usize) {
    note_max(&MAX_CHUNK_KEYS, keys as u64);
}

/// DEBUG LOCKSTATS: (longest read hold µs, longest write hold µs, most keys per chunk).
pub fn lock_stats() -> (u64, u64, u64) {
    (
        MAX_READ_HOLD_US.load(Ordering::Relaxed),
        MAX_WRITE_HOLD_US.load(Ordering::Relaxed),
        MAX_CHUNK_KEYS.load(Ordering::Relaxed),
    )
}

/// DEBUG LOCKSTATS RESET: starts over, and starts timing holds if they were not timed yet.
pub fn reset_lock_stats() {
    for m in [&MAX_READ_HOLD_US, &MAX_WRITE_HOLD_US, &MAX_CHUNK_KEYS] {
        m.store(0, Ordering::Relaxed);
    }
    TIMING_HOLDS.store(true, Ordering::Relaxed);
}

/// Lock holds are timed only once `DEBUG LOCKSTATS RESET` asked: timing one reads the clock
/// twice, 1.7% of the server's CPU time under `XADD` at `-P 16` (perf) for a statistic only
/// that diagnostic shows.
static TIMING_HOLDS: AtomicBool = AtomicBool::new(false);

/// When a lock was taken, to time its hold (`None`: holds are not timed).
#[allow(clippy::disallowed_methods)] // a lock's hold time, not a command's instant
fn hold_start() -> Option<std::time::Instant> {
    TIMING_HOLDS
        .load(Ordering::Relaxed)
        .then(std::time::Instant::now)
}

/// µs since `since` (a lock's hold).
#[allow(clippy::disallowed_methods)] // a lock's hold time, not a command's instant
fn held_us(since: std::time::Instant) -> u64 {
    since.elapsed().as_micros() as u64
}

/// A database locked for reading; how long it was held is recorded on release.
pub struct ReadGuard<'a> {
    guard: RwLockReadGuard<'a, Keyspace>,
    since: Option<std::time::Instant>,
}

impl<'a> ReadGuard<'a> {
    fn new(guard: RwLockReadGuard<'a, Keyspace>) -> Self {
        ReadGuard {
            guard,
            since: hold_start(),
        }
    }
}

impl Deref for ReadGuard<'_> {
    type Target = Keyspace;

    fn deref(&self) -> &Keyspace {
        &self.guard
    }
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        if let Some(since) = self.since {
            note_max(&MAX_READ_HOLD_US, held_us(since));
        }
    }
}

/// The databases [`Store::hold`] locked, by index: on the stack for the usual 16 (a script
/// takes them all, and an allocation from a thread's cold heap costs more than the locks).
pub type Guards<'a> = smallvec::SmallVec<[Option<WriteGuard<'a>>; 16]>;

/// A database locked for writing. Before the lock is released, clients blocked on keys the
/// writer created are served (see [`ready`]), so no other client can take what was pushed
/// for them, and no write path can forget to wake them.
/// The instant is when the lock was taken, to time its hold; `None` for a lock taken
/// together with others, of which only the last (released last) is timed, from before the
/// first was taken (see [`Store::hold`]).
pub struct WriteGuard<'a>(
    Option<RwLockWriteGuard<'a, Keyspace>>,
    Option<std::time::Instant>,
);

impl<'a> WriteGuard<'a> {
    fn new(guard: RwLockWriteGuard<'a, Keyspace>) -> Self {
        WriteGuard(Some(guard), hold_start())
    }

    /// Releases the lock, recording how long it was held.
    fn release(&self, guard: RwLockWriteGuard<'a, Keyspace>) {
        drop(guard);
        if let Some(since) = self.1 {
            note_max(&MAX_WRITE_HOLD_US, held_us(since));
        }
    }
}

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
        if guard.idle_on_release() {
            self.release(guard);
            return;
        }
        let mut buried = guard.take_buried();
        // During a panic the waiters stay queued: a later write serves them, or they time out.
        if !guard.has_ready() || std::thread::panicking() {
            self.release(guard);
            free_buried(buried);
            return;
        }
        // Serving a blocked client is a command of its own, at its own instant.
        #[allow(clippy::disallowed_methods)]
        let op = Op::new(guard.serve_limits());
        let served = Db::new(&mut *guard, &op).serve_ready();
        let feed = guard.feed().filter(|f| f.active()).cloned();
        buried.extend(guard.take_buried());
        self.release(guard);
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
        free_buried(buried);
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
