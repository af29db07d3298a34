//! Choosing and deleting keys when memory is over `maxmemory` (Redis's `evict.c`): the
//! policies, and the pool of candidates the sampled ones (LRU, LFU) keep between rounds.
//! Knows nothing of how memory is counted: the caller evicts one key at a time until it is
//! under its limit.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::{Access, Entry, Store};

/// `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    #[default]
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    /// Every policy, by its configuration name, in Redis's order.
    pub const NAMES: [(&'static str, Policy); 8] = [
        ("volatile-lru", Policy::VolatileLru),
        ("volatile-lfu", Policy::VolatileLfu),
        ("volatile-random", Policy::VolatileRandom),
        ("volatile-ttl", Policy::VolatileTtl),
        ("allkeys-lru", Policy::AllKeysLru),
        ("allkeys-lfu", Policy::AllKeysLfu),
        ("allkeys-random", Policy::AllKeysRandom),
        ("noeviction", Policy::NoEviction),
    ];

    pub fn name(self) -> &'static str {
        Policy::NAMES
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("noeviction", |(n, _)| n)
    }

    /// Its position in [`Policy::NAMES`] (for an atomic setting).
    pub fn index(self) -> u8 {
        Policy::NAMES
            .iter()
            .position(|(_, p)| *p == self)
            .unwrap_or(7) as u8
    }

    pub fn from_index(i: u8) -> Policy {
        Policy::NAMES
            .get(usize::from(i))
            .map_or(Policy::NoEviction, |(_, p)| *p)
    }

    pub fn from_name(name: &str) -> Option<Policy> {
        Policy::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, p)| *p)
    }

    /// Only keys with a TTL may go.
    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    pub fn is_lru(self) -> bool {
        matches!(self, Policy::AllKeysLru | Policy::VolatileLru)
    }
}

/// Redis's `EVPOOL_SIZE`: the best candidates seen so far, kept between evictions.
const POOL_SIZE: usize = 16;

struct Candidate {
    /// How much it should go (see `Lru::eviction_score`); larger goes first.
    score: u64,
    db: usize,
    key: Box<[u8]>,
}

/// The state eviction keeps between calls.
#[derive(Default)]
pub struct Evictor {
    /// Sorted by score, ascending: the best candidate is last.
    pool: Mutex<Vec<Candidate>>,
    /// The random policies visit the databases in turn.
    next_db: AtomicUsize,
}

/// What one eviction asks for.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub policy: Policy,
    /// `maxmemory-samples`: keys sampled per database for the pool.
    pub samples: usize,
    pub access: Access,
    /// `notify-keyspace-events`.
    pub notify: u32,
}

impl Store {
    /// Deletes one key chosen by `req.policy` (with an `evicted` event, and as a change for
    /// WATCH); returns its entry, to be dropped after the locks are gone, or `None` when no
    /// key may be evicted.
    pub fn evict_one(&self, ev: &Evictor, req: Request) -> Option<Entry> {
        match req.policy {
            Policy::NoEviction => None,
            Policy::AllKeysRandom | Policy::VolatileRandom => self.evict_random(ev, req),
            Policy::VolatileTtl => self.evict_soonest(req),
            _ => self.evict_sampled(ev, req),
        }
    }

    /// A random key of the next database that has one.
    fn evict_random(&self, ev: &Evictor, req: Request) -> Option<Entry> {
        let n = self.len();
        for _ in 0..n {
            let db = ev.next_db.fetch_add(1, Ordering::Relaxed) % n;
            let mut ks = self.write(db);
            let key = if req.policy.volatile() {
                ks.random_volatile_key()
            } else {
                ks.random_any_key()
            };
            if let Some(key) = key {
                return ks.evict(&key, req.notify);
            }
        }
        None
    }

    /// The key whose TTL ends first, of all databases (Redis samples for the nearest; the
    /// expiry index gives it exactly).
    fn evict_soonest(&self, req: Request) -> Option<Entry> {
        // A few tries: a database found to hold the soonest key may be emptied before its
        // write lock is taken.
        for _ in 0..8 {
            let (_, db) = (0..self.len())
                .filter_map(|db| self.read(db).soonest_expiry().map(|(at, _)| (at, db)))
                .min_by_key(|(at, _)| *at)?;
            let mut ks = self.write(db);
            // Looked up again under the write lock, where index and keys agree.
            if let Some((_, key)) = ks.soonest_expiry() {
                if let Some(e) = ks.evict(&key, req.notify) {
                    return Some(e);
                }
            }
        }
        None
    }

    /// Redis's approximated LRU/LFU: sample keys of every database into the pool, then evict
    /// the best candidate that still exists.
    fn evict_sampled(&self, ev: &Evictor, req: Request) -> Option<Entry> {
        let volatile = req.policy.volatile();
        // A few rounds at most: each either evicts or finds the pool's candidates gone.
        for _ in 0..16 {
            let mut total = 0;
            for db in 0..self.len() {
                let ks = self.read(db);
                let keys = if volatile {
                    ks.volatile_len()
                } else {
                    ks.key_count()
                };
                total += keys;
                if keys == 0 {
                    continue;
                }
                let picks = ks.sample(req.samples, volatile, req.access);
                drop(ks);
                let mut pool = ev.pool.lock();
                for (score, key) in picks {
                    insert(&mut pool, Candidate { score, db, key });
                }
            }
            if total == 0 {
                return None;
            }
            loop {
                let Some(c) = ev.pool.lock().pop() else {
                    break;
                };
                let mut ks = self.write(c.db);
                if volatile && !ks.has_expiry(&c.key) {
                    continue;
                }
                if let Some(e) = ks.evict(&c.key, req.notify) {
                    return Some(e);
                }
            }
        }
        None
    }
}

/// Adds `c` to the pool in score order, replacing an entry for the same key, and keeping only
/// the [`POOL_SIZE`] best. Among equal scores the one sampled first goes first, as in Redis.
fn insert(pool: &mut Vec<Candidate>, c: Candidate) {
    if let Some(i) = pool.iter().position(|p| p.db == c.db && p.key == c.key) {
        pool.remove(i);
    }
    if pool.len() >= POOL_SIZE {
        if pool[0].score >= c.score {
            return;
        }
        pool.remove(0);
    }
    let at = pool.partition_point(|p| p.score < c.score);
    pool.insert(at, c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keeps_the_best_in_order() {
        let mut pool = Vec::new();
        for s in 0..40u64 {
            let score = (s * 7) % 40;
            insert(
                &mut pool,
                Candidate {
                    score,
                    db: 0,
                    key: format!("k{score}").into_bytes().into(),
                },
            );
        }
        let scores: Vec<u64> = pool.iter().map(|c| c.score).collect();
        assert_eq!(scores, (24..40).collect::<Vec<_>>());
        // The same key again moves rather than doubles.
        insert(
            &mut pool,
            Candidate {
                score: 39,
                db: 0,
                key: b"k30"[..].into(),
            },
        );
        assert_eq!(pool.iter().filter(|c| &*c.key == b"k30").count(), 1);
        assert_eq!(pool.len(), POOL_SIZE);
    }

    #[test]
    fn policy_names_round_trip() {
        for (name, p) in Policy::NAMES {
            assert_eq!(Policy::from_name(name), Some(p));
            assert_eq!(p.name(), name);
        }
        assert_eq!(Policy::from_name("lru"), None);
    }
}
