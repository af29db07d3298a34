//! The keyspace: numbered databases behind `parking_lot` RwLocks. Knows nothing of sockets,
//! clients or replies.

pub mod db;
pub mod dict;
pub mod glob;
pub mod value;

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;

pub use db::{Db, Entry};
pub use value::{Value, WrongType};

/// All databases of one server.
pub struct Store {
    dbs: Vec<RwLock<Db>>,
}

impl Store {
    pub fn new(databases: usize) -> Self {
        Store {
            dbs: (0..databases.max(1))
                .map(|_| RwLock::new(Db::new()))
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

    /// Database `index` (callers check the index against [`Store::len`]).
    pub fn db(&self, index: usize) -> &RwLock<Db> {
        &self.dbs[index]
    }

    pub fn dbs(&self) -> &[RwLock<Db>] {
        &self.dbs
    }

    /// One active-expiry pass: reclaims at most `max_per_db` due keys in each database, taking
    /// each write lock once and briefly. Returns how many keys it deleted.
    pub fn expire_cycle(&self, max_per_db: usize) -> usize {
        let now = now_ms();
        self.dbs
            .iter()
            .map(|db| db.write().expire_due(now, max_per_db))
            .sum()
    }
}

/// Wall-clock time in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Wall-clock time in Unix microseconds.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let t = now_us() as u64;
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
