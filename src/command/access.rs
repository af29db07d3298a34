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

/// The write locks a transaction holds, by database index (`None`: not held).
pub type Held<'a> = Vec<Option<&'a mut Keyspace>>;

/// A transaction reached for a database it did not lock: a bug in its planning, answered as
/// an internal error by dispatch's panic guard rather than risking a deadlock.
fn not_held(i: usize) -> ! {
    panic!("database {i} is not held by the transaction")
}

impl Ctx<'_> {
    /// Runs `f` on database `i` for reading.
    pub fn read_db<R>(&mut self, i: usize, f: impl FnOnce(&DbRef) -> R) -> R {
        let op = self.op;
        match self.held.as_deref_mut() {
            Some(held) => match held.get_mut(i).and_then(Option::as_deref_mut) {
                Some(ks) => f(&Db::new(&*ks, op)),
                None => not_held(i),
            },
            None => f(&Db::new(&*self.server.store.read(i), op)),
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

    /// Empties database `i` (FLUSHDB). On its own, the old keys are freed after the lock is
    /// released.
    pub fn flush_db(&mut self, i: usize) {
        let (here, aof) = (self.client.db, &self.server.aof);
        let record = || super::propagate::client_write(aof, here);
        match self.held.as_deref_mut() {
            Some(held) => match held.get_mut(i).and_then(Option::as_deref_mut) {
                Some(ks) => {
                    drop(ks.take_contents());
                    record();
                }
                None => not_held(i),
            },
            None => self.server.store.flush_then(i, record),
        }
        // After the keys are gone: a client reading meanwhile is told after its reply.
        self.server.tracking.flush();
    }

    /// Empties every database in one step (FLUSHALL).
    pub fn flush_all(&mut self) {
        match self.held.as_deref_mut() {
            Some(held) => {
                for (i, ks) in held.iter_mut().enumerate() {
                    let ks = ks.as_deref_mut().unwrap_or_else(|| not_held(i));
                    drop(ks.take_contents());
                }
                super::propagate::client_write(&self.server.aof, self.client.db);
            }
            None => {
                let (here, aof) = (self.client.db, &self.server.aof);
                self.server
                    .store
                    .flush_all_then(|| super::propagate::client_write(aof, here))
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
