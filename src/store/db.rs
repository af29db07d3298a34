//! One numbered database: the keyspace map and expiry times ([`Keyspace`], private to the store),
//! and the views commands use it through ([`Db`]).
//!
//! A view pairs a locked keyspace with the command's [`Op`], so every expiry decision a command
//! makes is taken at the same instant. Its doors are Redis's: `get` (read) and `get_mut`
//! (write) are `lookupKeyRead`/`lookupKeyWrite`, an expired key is invisible to both, and the
//! write door also reclaims it. TTL-on-overwrite rules live in [`Db::set`] alone (Redis's
//! `setKey`).

use std::collections::BTreeSet;
use std::ops::{Deref, DerefMut};

use super::clock::Op;
use super::dict::Dict;
use super::Value;
use crate::counter::Counter;

/// A value and its absolute expiry time in Unix milliseconds (0: no expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: Value,
    pub expire: i64,
}

impl Entry {
    fn expired(&self, now: i64) -> bool {
        self.expire != 0 && self.expire <= now
    }
}

/// What a database holds. Only the store and its views can reach inside.
#[derive(Default)]
pub struct Keyspace {
    data: Contents,
    /// Read lookups that found / did not find their key (INFO `keyspace_hits/misses`). They
    /// stay with the database slot when its contents are flushed or swapped.
    hits: Counter,
    misses: Counter,
}

/// The keys of a database, taken out whole by a flush or exchanged by SWAPDB.
#[derive(Default)]
pub struct Contents {
    map: Dict<Entry>,
    /// Keys with a TTL, ordered by expiry time: active expiry pops the due ones in order.
    expires: BTreeSet<(i64, Box<[u8]>)>,
}

impl Keyspace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes every key out, leaving the database empty. The caller drops what it gets after
    /// releasing the lock, so a big flush does not hold other clients up.
    pub(super) fn take_contents(&mut self) -> Contents {
        std::mem::take(&mut self.data)
    }

    /// Exchanges the keys of two databases (SWAPDB); statistics stay where they are.
    pub(super) fn swap_contents(&mut self, other: &mut Keyspace) {
        std::mem::swap(&mut self.data, &mut other.data);
    }

    /// (keyspace hits, keyspace misses)
    pub fn hits_misses(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }

    pub fn reset_stats(&self) {
        self.hits.reset();
        self.misses.reset();
    }

    /// Deletes up to `max` keys whose time has come at `now`; returns how many.
    pub(super) fn expire_due(&mut self, now: i64, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            match self.data.expires.first() {
                Some((at, _)) if *at <= now => {
                    if let Some((_, key)) = self.data.expires.pop_first() {
                        self.data.map.remove(&key);
                        n += 1;
                    }
                }
                _ => break,
            }
        }
        n
    }

}

impl Contents {
    /// Keys due at `now` that active expiry has not reclaimed yet.
    fn due(&self, now: i64) -> usize {
        self.expires.range(..(now + 1, Box::from(&b""[..]))).count()
    }

    fn remove_raw(&mut self, key: &[u8]) -> Option<Entry> {
        let (k, e) = self.map.remove(key)?;
        if e.expire != 0 {
            self.expires.remove(&(e.expire, k));
        }
        Some(e)
    }

    fn reclaim_if_expired(&mut self, key: &[u8], now: i64) {
        if self.map.get(key).is_some_and(|e| e.expired(now)) {
            self.remove_raw(key);
        }
    }
}

/// A database as one command sees it: a locked keyspace (`&Keyspace` to read, `&mut Keyspace`
/// to write) and the command's [`Op`].
pub struct Db<'a, K> {
    ks: K,
    op: &'a Op,
}

/// A database locked for reading.
pub type DbRef<'a> = Db<'a, &'a Keyspace>;
/// A database locked for writing.
pub type DbMut<'a> = Db<'a, &'a mut Keyspace>;

impl<'a, K: Deref<Target = Keyspace>> Db<'a, K> {
    pub fn new(ks: K, op: &'a Op) -> Self {
        Db { ks, op }
    }

    /// The command's operation: its instant and limits.
    pub fn op(&self) -> &'a Op {
        self.op
    }

    /// The command's instant, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.op.now_ms()
    }

    /// The live entry at `key`, if any, without touching the hit/miss statistics.
    fn live(&self, key: &[u8]) -> Option<&Entry> {
        let e = self.ks.data.map.get(key)?;
        // Only a key with a TTL needs the clock.
        (e.expire == 0 || !e.expired(self.op.now_ms())).then_some(e)
    }

    /// Read door: the live entry at `key`, counted as a keyspace hit or miss.
    pub fn entry(&self, key: &[u8]) -> Option<&Entry> {
        let e = self.live(key);
        let counter = if e.is_some() {
            &self.ks.hits
        } else {
            &self.ks.misses
        };
        counter.add(1);
        e
    }

    /// Read door: the live value at `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        self.entry(key).map(|e| &e.value)
    }

    /// Does a live `key` exist? (Not counted: writers use this to decide.)
    pub fn contains(&self, key: &[u8]) -> bool {
        self.live(key).is_some()
    }

    /// The expiry time of a live key: `None` if missing, `Some(0)` if it has none.
    pub fn expire_of(&self, key: &[u8]) -> Option<i64> {
        self.live(key).map(|e| e.expire)
    }

    /// Live keys (DBSIZE).
    pub fn len(&self) -> usize {
        self.ks.data.map.len() - self.ks.data.due(self.op.now_ms())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live keys with a TTL (INFO keyspace `expires=`).
    pub fn expires_len(&self) -> usize {
        self.ks.data.expires.len() - self.ks.data.due(self.op.now_ms())
    }

    /// One step of `SCAN`: calls `visit` for each live key in the cursor's bucket.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &Entry)) -> u64 {
        let now = self.op.now_ms();
        self.ks.data.map.scan(cursor, |k, e| {
            if !e.expired(now) {
                visit(k, e)
            }
        })
    }

    /// Every live key with its entry.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        let now = self.op.now_ms();
        self.ks
            .data
            .map
            .iter()
            .filter(move |n| !n.value.expired(now))
            .map(|n| (&*n.key, &n.value))
    }

    /// A random live key.
    pub fn random_key(&self) -> Option<&[u8]> {
        let now = self.op.now_ms();
        for _ in 0..100 {
            let node = self.ks.data.map.random(super::rand_u64)?;
            if !node.value.expired(now) {
                return Some(&node.key);
            }
        }
        // Nearly everything sampled was expired: fall back to a walk.
        self.iter().next().map(|(k, _)| k)
    }
}

impl<K: DerefMut<Target = Keyspace>> Db<'_, K> {
    /// Write door: the live value at `key`; an expired key is deleted first.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Value> {
        let now = self.op.now_ms();
        let data = &mut self.ks.data;
        data.reclaim_if_expired(key, now);
        data.map.get_mut(key).map(|e| &mut e.value)
    }

    /// Stores `value` at `key`. Any TTL is dropped unless `keep_ttl` (Redis's `setKey`).
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool) {
        let data = &mut self.ks.data;
        match data.map.get_mut(key) {
            Some(e) => {
                // An expired key is gone: KEEPTTL has no TTL to keep.
                let drop_ttl = !keep_ttl || (e.expire != 0 && e.expired(self.op.now_ms()));
                e.value = value;
                if drop_ttl && e.expire != 0 {
                    let at = std::mem::take(&mut e.expire);
                    data.expires.remove(&(at, Box::from(key)));
                }
            }
            None => data
                .map
                .insert_new(Box::from(key), Entry { value, expire: 0 }),
        }
    }

    /// Inserts a whole entry (value and expiry), replacing any previous one.
    pub fn insert_entry(&mut self, key: &[u8], entry: Entry) {
        let data = &mut self.ks.data;
        data.remove_raw(key);
        if entry.expire != 0 {
            data.expires.insert((entry.expire, Box::from(key)));
        }
        data.map.insert(Box::from(key), entry);
    }

    /// Deletes `key`; returns its entry if it was live.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let now = self.op.now_ms();
        self.ks.data.remove_raw(key).filter(|e| !e.expired(now))
    }

    /// Sets the absolute expiry of a live key (Unix ms, > 0). Returns false if missing.
    pub fn set_expire(&mut self, key: &[u8], at: i64) -> bool {
        let now = self.op.now_ms();
        let data = &mut self.ks.data;
        data.reclaim_if_expired(key, now);
        let Some(e) = data.map.get_mut(key) else {
            return false;
        };
        let old = std::mem::replace(&mut e.expire, at);
        if old != 0 {
            data.expires.remove(&(old, Box::from(key)));
        }
        data.expires.insert((at, Box::from(key)));
        true
    }

    /// Removes the TTL of a live key; true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        let now = self.op.now_ms();
        let data = &mut self.ks.data;
        data.reclaim_if_expired(key, now);
        let Some(e) = data.map.get_mut(key) else {
            return false;
        };
        let old = std::mem::take(&mut e.expire);
        if old == 0 {
            return false;
        }
        data.expires.remove(&(old, Box::from(key)));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000_000;

    fn str_value(s: &str) -> Value {
        Value::Str(s.as_bytes().to_vec())
    }

    #[test]
    fn ttl_rules() {
        let op = Op::at_ms(T, u64::MAX);
        let mut ks = Keyspace::new();
        let mut db = Db::new(&mut ks, &op);
        db.set(b"k", str_value("v"), false);
        assert!(db.set_expire(b"k", T + 100_000));
        assert_eq!(db.expires_len(), 1);
        db.set(b"k", str_value("w"), true);
        assert!(db.expire_of(b"k").unwrap() > 0, "KEEPTTL keeps it");
        db.set(b"k", str_value("x"), false);
        assert_eq!(db.expire_of(b"k"), Some(0), "plain SET drops it");
        assert_eq!(db.expires_len(), 0);
    }

    #[test]
    fn expired_keys_are_invisible_and_reclaimed() {
        let op = Op::at_ms(T, u64::MAX);
        let mut ks = Keyspace::new();
        let mut db = Db::new(&mut ks, &op);
        db.set(b"a", str_value("1"), false);
        db.set(b"b", str_value("2"), false);
        db.set_expire(b"a", T - 1);
        assert_eq!(db.get(b"a"), None);
        assert_eq!(db.len(), 1);
        assert_eq!(db.iter().count(), 1);
        assert_eq!(db.remove(b"a"), None, "DEL of an expired key counts 0");
        assert_eq!(db.expires_len(), 0);
        db.set(b"c", str_value("3"), false);
        db.set_expire(b"c", T - 1);
        assert_eq!(ks.expire_due(T, 10), 1);
        assert_eq!(Db::new(&ks, &op).len(), 1);
    }

    /// Every step of one operation decides expiry at the same instant, however long the
    /// operation takes: a key alive at its first look stays alive to its last.
    #[test]
    fn one_operation_one_instant() {
        let mut ks = Keyspace::new();
        let setup = Op::at_ms(T, u64::MAX);
        let mut db = Db::new(&mut ks, &setup);
        db.set(b"k", str_value("10"), false);
        db.set_expire(b"k", T + 1);
        // At T the key is alive for every door; one millisecond later, for none.
        let at_t = Op::at_ms(T, u64::MAX);
        let mut db = Db::new(&mut ks, &at_t);
        assert!(db.contains(b"k"));
        assert!(db.get_mut(b"k").is_some());
        assert!(db.set_expire(b"k", T + 1));
        assert_eq!(db.expire_of(b"k"), Some(T + 1));
        let later = Op::at_ms(T + 1, u64::MAX);
        let mut db = Db::new(&mut ks, &later);
        assert!(!db.contains(b"k"));
        assert!(!db.set_expire(b"k", T + 100));
        assert_eq!(db.len(), 0);
    }
}
