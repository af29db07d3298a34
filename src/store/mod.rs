//! The keyspace: numbered databases behind `parking_lot` RwLocks. Knows nothing of sockets,
//! clients or replies.

pub mod clock;
pub mod db;
pub mod dict;
pub mod glob;
pub mod value;

use std::cell::Cell;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use clock::Op;
pub use db::{Db, DbMut, DbRef, Entry, Keyspace};
pub use value::{Value, WrongType};

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
                .map(|_| RwLock::new(Keyspace::new()))
                .collect(),
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
    pub fn write(&self, index: usize) -> RwLockWriteGuard<'_, Keyspace> {
        self.dbs[index].write()
    }

    /// Two different databases locked for writing, in index order; returned as `(a, b)`.
    pub fn write_pair(
        &self,
        a: usize,
        b: usize,
    ) -> (
        RwLockWriteGuard<'_, Keyspace>,
        RwLockWriteGuard<'_, Keyspace>,
    ) {
        assert_ne!(a, b, "write_pair needs two different databases");
        if a < b {
            let ga = self.dbs[a].write();
            (ga, self.dbs[b].write())
        } else {
            let gb = self.dbs[b].write();
            (self.dbs[a].write(), gb)
        }
    }

    /// Every database locked for reading, in index order: one consistent view of all of them.
    pub fn read_all(&self) -> Vec<RwLockReadGuard<'_, Keyspace>> {
        self.dbs.iter().map(|db| db.read()).collect()
    }

    /// Exchanges the contents of two databases in one step (SWAPDB).
    pub fn swap(&self, a: usize, b: usize) {
        if a != b {
            let (mut x, mut y) = self.write_pair(a, b);
            x.swap_contents(&mut y);
        }
    }

    /// Empties database `index`. The old contents are freed after the lock is released.
    pub fn flush(&self, index: usize) {
        let old = self.dbs[index].write().take_contents();
        drop(old);
    }

    /// Empties every database in one step (FLUSHALL): all write locks are taken in index
    /// order, the contents swapped out, the locks released, and only then is the old data freed.
    pub fn flush_all(&self) {
        let mut guards: Vec<_> = self.dbs.iter().map(|db| db.write()).collect();
        let old: Vec<db::Contents> = guards.iter_mut().map(|g| g.take_contents()).collect();
        drop(guards);
        drop(old);
    }

    /// One active-expiry pass at the instant `now` (Unix ms): reclaims at most `max_per_db`
    /// due keys in each database, taking each write lock once and briefly. Returns how many
    /// keys it deleted.
    pub fn expire_cycle(&self, now: i64, max_per_db: usize) -> usize {
        self.dbs
            .iter()
            .map(|db| db.write().expire_due(now, max_per_db))
            .sum()
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

/// A fast per-thread xorshift generator (sampling, RANDOMKEY); not for secrets.
pub fn rand_u64() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x
    })
}
