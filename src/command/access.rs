//! How a command reaches the databases: by taking their locks (a command on its own), or
//! through the write locks a transaction already holds (inside EXEC, which takes every lock
//! its commands may need, in index order, before the first one runs).
//!
//! Handlers that need more than their own database (MOVE, COPY ... DB, SWAPDB, FLUSHALL,
//! INFO keyspace) go through these methods, never through the store's locks directly: under
//! EXEC a lock taken again would deadlock, and a lock not held would let another client see
//! the transaction half done.

use super::Ctx;
use crate::store::{Db, DbMut, DbRef, Keyspace};

/// The write locks a transaction holds, by database index (`None`: not held). Inline for
/// up to 16 databases: a script holds all 16, and an allocation from a connection thread's
/// cold heap costs more than taking them.
pub enum Held<'a> {
    Inline([Option<&'a mut Keyspace>; 16], usize),
    Heap(Vec<Option<&'a mut Keyspace>>),
}

impl<'a> std::ops::Deref for Held<'a> {
    type Target = [Option<&'a mut Keyspace>];

    fn deref(&self) -> &Self::Target {
        match self {
            Held::Inline(a, n) => &a[..*n],
            Held::Heap(v) => v,
        }
    }
}

impl std::ops::DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Held::Inline(a, n) => &mut a[..*n],
            Held::Heap(v) => v,
        }
    }
}

impl<'a> FromIterator<Option<&'a mut Keyspace>> for Held<'a> {
    fn from_iter<I: IntoIterator<Item = Option<&'a mut Keyspace>>>(iter: I) -> Self {
        let mut inline: [Option<&'a mut Keyspace>; 16] = Default::default();
        let mut it = iter.into_iter();
        let mut n = 0;
        while let Some(x) = it.next() {
            if n == inline.len() {
                let mut v: Vec<_> = inline.into_iter().collect();
                v.push(x);
                v.extend(it);
                return Held::Heap(v);
            }
            inline[n] = x;
            n += 1;
        }
        Held::Inline(inline, n)
    }
}

/// A transaction reached for a database it did not lock: a bug in its planning, answered as
/// an internal error by dispatch's panic guard rather than risking a deadlock.
fn not_held(i: usize) -> ! {
    panic!("database {i} is not held by the transaction")
}

/// Elements a long read (KEYS, SMEMBERS, LRANGE ...) takes per lock hold: 0.1-0.3 ms (a big
/// hash's chunk is a cache miss a field; 1,024 held the lock 0.5-1 ms).
pub const CHUNK: usize = 256;

/// One chunk of a cursor walk over a table (a set's or a hash's, as SSCAN and HSCAN walk
/// them): calls `step` with the cursor (it visits one bucket and returns the next cursor and
/// how many elements it visited) until [`CHUNK`] elements are visited or the walk is over.
/// Returns whether it is over.
pub fn scan_chunk(cursor: &mut u64, mut step: impl FnMut(u64) -> (u64, usize)) -> bool {
    let mut n = 0;
    loop {
        let (next, visited) = step(*cursor);
        *cursor = next;
        n += visited;
        if next == 0 {
            return true;
        }
        if n >= CHUNK {
            return false;
        }
    }
}

/// A long read's attempts in chunks before it reads the value in one lock hold.
const CHUNKED_ATTEMPTS: usize = 2;

impl Ctx<'_> {
    /// Reads the value at `key` of the client's database in chunks (SMEMBERS, HGETALL,
    /// LRANGE ...), so that a long read holds the lock for one chunk at a time, not for the
    /// whole value. `step` does one chunk's work on the state `fresh` makes and says whether
    /// it is done; its `counted` is true for the first step only (the one that counts a
    /// keyspace hit or miss, and answers a wrong type).
    ///
    /// The reply is still the value as it was at one instant, as Redis's would be: a value
    /// done in one step is read under one lock; a longer one is watched, as WATCH would
    /// watch it, and any change between two chunks starts the read over. After
    /// [`CHUNKED_ATTEMPTS`] such restarts it is read in one lock hold. Inside EXEC or a
    /// script, it is read at once under the locks the transaction holds.
    pub fn read_chunked<S, E>(
        &mut self,
        key: &[u8],
        fresh: impl Fn() -> S,
        mut step: impl FnMut(&DbRef, &mut S, bool) -> Result<bool, E>,
        room: impl Fn(&mut S),
    ) -> Result<S, E> {
        let (i, op) = (self.client.db, self.op);
        let mut state = fresh();
        if self.held.is_some() {
            return self.read_db(i, |db| {
                let mut counted = true;
                while !step(db, &mut state, counted)? {
                    counted = false;
                }
                Ok(state)
            });
        }
        let store = &self.server.store;
        if step(&Db::new(&*store.read(i), op), &mut state, true)? {
            self.reclaim_seen_expired();
            return Ok(state);
        }
        // Long: watched from here on, and started over, so no change slips in unseen.
        let flag = crate::store::watch::WatchFlag::new();
        Db::new(&mut *store.write(i), op).watch_for_read(key, &flag);
        let result = (|| {
            'attempt: for _ in 0..CHUNKED_ATTEMPTS {
                let mut state = fresh();
                flag.clear();
                loop {
                    room(&mut state);
                    let ks = store.read(i);
                    // Changes are made, and marked, under the write lock: unmarked now
                    // means unchanged since the last chunk.
                    if flag.is_dirty() {
                        continue 'attempt;
                    }
                    if step(&Db::new(&*ks, op), &mut state, false)? {
                        return Ok(state);
                    }
                }
            }
            // Changed under every attempt: read it whole.
            let ks = store.read(i);
            let db = Db::new(&*ks, op);
            let mut state = fresh();
            while !step(&db, &mut state, false)? {}
            Ok(state)
        })();
        store.write(i).unwatch(key, &flag);
        result
    }

    /// Runs `f` on database `i` for reading.
    pub fn read_db<R>(&mut self, i: usize, f: impl FnOnce(&DbRef) -> R) -> R {
        let op = self.op;
        match self.held.as_deref_mut() {
            Some(held) => match held.get_mut(i).and_then(Option::as_deref_mut) {
                Some(ks) => f(&Db::new(&*ks, op)),
                None => not_held(i),
            },
            None => {
                let r = f(&Db::new(&*self.server.store.read(i), op));
                self.reclaim_seen_expired();
                r
            }
        }
    }

    /// Deletes the expired keys this thread's reads found, now that no lock is held: Redis
    /// deletes such a key when a read finds it, and `DBSIZE` after an `MGET` of expired keys
    /// shows them gone. Under EXEC or a script the transaction's own writes do it, or active
    /// expiry.
    fn reclaim_seen_expired(&mut self) {
        let seen = crate::store::db::take_seen_expired();
        if seen.is_empty() || self.held.is_some() {
            return;
        }
        let op = self.op;
        let store = &self.server.store;
        let mut at = 0;
        while at < seen.len() {
            let db = seen[at].0;
            let same = seen[at..].iter().take_while(|(d, _)| *d == db).count();
            if db < store.len() {
                let keys = seen[at..at + same].iter().map(|(_, k)| &**k);
                Db::new(&mut *store.write(db), op).reclaim_seen(keys);
            }
            at += same;
        }
    }

    /// Runs `f` on database `i` for writing. On its own, the lock is released (and clients
    /// blocked on keys it made ready are served) when `f` returns; under EXEC, at its end.
    pub fn write_db<R>(&mut self, i: usize, f: impl FnOnce(&mut DbMut) -> R) -> R {
        let op = self.op;
        let here = self.client.db;
        let aof = &self.server.aof;
        let run = |db: &mut DbMut| {
            let before = db.changes();
            let r = f(db);
            if db.changes() != before && !db.propagated() {
                super::propagate::client_write(aof, here);
            }
            r
        };
        match self.held.as_deref_mut() {
            Some(held) => match held.get_mut(i).and_then(Option::as_deref_mut) {
                Some(ks) => run(&mut Db::new(ks, op)),
                None => not_held(i),
            },
            None => run(&mut Db::new(&mut *self.server.store.write(i), op)),
        }
    }

    /// Runs `f` on two different databases `a` and `b` for writing, locked in index order.
    pub fn write_pair<R>(
        &mut self,
        a: usize,
        b: usize,
        f: impl FnOnce(&mut DbMut, &mut DbMut) -> R,
    ) -> R {
        let op = self.op;
        let here = self.client.db;
        let aof = &self.server.aof;
        let run = |x: &mut DbMut, y: &mut DbMut| {
            let before = (x.changes(), y.changes());
            let r = f(x, y);
            if (x.changes(), y.changes()) != before {
                super::propagate::client_write(aof, here);
            }
            r
        };
        match self.held.as_deref_mut() {
            Some(held) => {
                let (x, y) = two(held, a, b);
                run(&mut Db::new(x, op), &mut Db::new(y, op))
            }
            None => {
                let (mut x, mut y) = self.server.store.write_pair(a, b);
                run(&mut Db::new(&mut *x, op), &mut Db::new(&mut *y, op))
            }
        }
    }

    /// Runs `f` on every database at once, for reading (one consistent view).
    pub fn read_all<R>(&mut self, f: impl FnOnce(&[&Keyspace]) -> R) -> R {
        match self.held.as_deref_mut() {
            Some(held) => {
                let all: Vec<&Keyspace> = held
                    .iter()
                    .enumerate()
                    .map(|(i, ks)| ks.as_deref().unwrap_or_else(|| not_held(i)))
                    .collect();
                f(&all)
            }
            None => {
                let guards = self.server.store.read_all();
                let all: Vec<&Keyspace> = guards.iter().map(|g| &**g).collect();
                f(&all)
            }
        }
    }

    /// Empties database `i` (FLUSHDB). The old keys are freed after the lock is released;
    /// `lazy` (ASYNC): on the lazyfree thread.
    pub fn flush_db(&mut self, i: usize, lazy: bool) {
        let (here, aof) = (self.client.db, &self.server.aof);
        let record = || super::propagate::client_write(aof, here);
        match self.held.as_deref_mut() {
            Some(held) => match held.get_mut(i).and_then(Option::as_deref_mut) {
                Some(ks) => {
                    ks.flush_buried(lazy);
                    record();
                }
                None => not_held(i),
            },
            None => self.server.store.flush_then(i, lazy, record),
        }
        // After the keys are gone: a client reading meanwhile is told after its reply.
        self.server.tracking.flush();
    }

    /// Empties every database in one step (FLUSHALL); `lazy` as in [`Ctx::flush_db`].
    pub fn flush_all(&mut self, lazy: bool) {
        match self.held.as_deref_mut() {
            Some(held) => {
                for (i, ks) in held.iter_mut().enumerate() {
                    let ks = ks.as_deref_mut().unwrap_or_else(|| not_held(i));
                    ks.flush_buried(lazy);
                }
                super::propagate::client_write(&self.server.aof, self.client.db);
            }
            None => {
                let (here, aof) = (self.client.db, &self.server.aof);
                self.server
                    .store
                    .flush_all_then(lazy, || super::propagate::client_write(aof, here))
            }
        }
        self.server.tracking.flush();
    }

    /// Exchanges the contents of databases `a` and `b` (SWAPDB).
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        let now = self.op.now_ms();
        let (here, aof) = (self.client.db, &self.server.aof);
        let record = || super::propagate::client_write(aof, here);
        match self.held.as_deref_mut() {
            Some(held) if a != b => {
                let (x, y) = two(held, a, b);
                x.swap_contents(y, now);
                record();
            }
            Some(_) => record(),
            None => self.server.store.swap_then(a, b, now, record),
        }
    }
}

/// Two different held databases.
fn two<'h>(held: &'h mut Held, a: usize, b: usize) -> (&'h mut Keyspace, &'h mut Keyspace) {
    assert_ne!(a, b, "two different databases");
    let (lo, hi) = (a.min(b), a.max(b));
    let (left, right) = held.split_at_mut(hi);
    let x = left[lo].as_deref_mut().unwrap_or_else(|| not_held(lo));
    let y = right[0].as_deref_mut().unwrap_or_else(|| not_held(hi));
    if a < b {
        (x, y)
    } else {
        (y, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_goes_to_the_heap_past_sixteen_databases() {
        let mut dbs: Vec<Keyspace> = (0..20).map(Keyspace::numbered).collect();
        let held: Held = dbs
            .iter_mut()
            .enumerate()
            .map(|(i, ks)| (i % 3 != 0).then_some(ks))
            .collect();
        assert!(matches!(held, Held::Heap(_)));
        assert_eq!(held.len(), 20);
        assert!(held[0].is_none() && held[19].is_some());
        let mut few: Vec<Keyspace> = (0..3).map(Keyspace::numbered).collect();
        let held: Held = few.iter_mut().map(Some).collect();
        assert!(matches!(held, Held::Inline(_, 3)));
        assert_eq!(held.len(), 3);
    }
}
