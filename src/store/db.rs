//! One numbered database: the keyspace map, expiry times, and the two doors into them.
//!
//! `get` (read) and `get_mut` (write) are Redis's `lookupKeyRead`/`lookupKeyWrite`: an expired
//! key is invisible to both, and the write door also reclaims it. TTL-on-overwrite rules live
//! in [`Db::set`] alone (Redis's `setKey`).

use std::collections::BTreeSet;

use super::dict::Dict;
use super::{now_ms, Value};
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

    /// Like `expired(now_ms())`, but reads the clock only for a key that has a TTL: most
    /// keys have none, and the clock read is a measurable part of a GET.
    fn expired_now(&self) -> bool {
        self.expire != 0 && self.expire <= now_ms()
    }
}

#[derive(Default)]
pub struct Db {
    map: Dict<Entry>,
    /// Keys with a TTL, ordered by expiry time: active expiry pops the due ones in order.
    expires: BTreeSet<(i64, Box<[u8]>)>,
    /// Read lookups that found / did not find their key (INFO `keyspace_hits/misses`).
    hits: Counter,
    misses: Counter,
}

impl Db {
    pub fn new() -> Self {
        Self::default()
    }

    /// The live entry at `key`, if any, without touching the hit/miss statistics.
    fn live(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key).filter(|e| !e.expired_now())
    }

    /// Read door: the live entry at `key`, counted as a keyspace hit or miss.
    pub fn entry(&self, key: &[u8]) -> Option<&Entry> {
        let e = self.live(key);
        let counter = if e.is_some() {
            &self.hits
        } else {
            &self.misses
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

    /// (keyspace hits, keyspace misses)
    pub fn hits_misses(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }

    pub fn reset_stats(&self) {
        self.hits.reset();
        self.misses.reset();
    }

    /// Write door: the live value at `key`; an expired key is deleted first.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Value> {
        self.reclaim_if_expired(key);
        self.map.get_mut(key).map(|e| &mut e.value)
    }

    fn reclaim_if_expired(&mut self, key: &[u8]) -> bool {
        match self.map.get(key) {
            Some(e) if e.expired_now() => {
                self.remove_raw(key);
                true
            }
            _ => false,
        }
    }

    /// Stores `value` at `key`. Any TTL is dropped unless `keep_ttl` (Redis's `setKey`).
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool) {
        match self.map.get_mut(key) {
            Some(e) => {
                // An expired key is gone: KEEPTTL has no TTL to keep.
                let drop_ttl = !keep_ttl || e.expired_now();
                e.value = value;
                if drop_ttl && e.expire != 0 {
                    let at = std::mem::take(&mut e.expire);
                    self.expires.remove(&(at, Box::from(key)));
                }
            }
            None => self
                .map
                .insert_new(Box::from(key), Entry { value, expire: 0 }),
        }
    }

    /// Inserts a whole entry (value and expiry), replacing any previous one.
    pub fn insert_entry(&mut self, key: &[u8], entry: Entry) {
        self.remove_raw(key);
        if entry.expire != 0 {
            self.expires.insert((entry.expire, Box::from(key)));
        }
        self.map.insert(Box::from(key), entry);
    }

    /// Deletes `key`; returns its entry if it was live.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.remove_raw(key).filter(|e| !e.expired_now())
    }

    fn remove_raw(&mut self, key: &[u8]) -> Option<Entry> {
        let (k, e) = self.map.remove(key)?;
        if e.expire != 0 {
            self.expires.remove(&(e.expire, k));
        }
        Some(e)
    }

    /// The expiry time of a live key: `None` if missing, `Some(0)` if it has none.
    pub fn expire_of(&self, key: &[u8]) -> Option<i64> {
        self.live(key).map(|e| e.expire)
    }

    /// Sets the absolute expiry of a live key (Unix ms, > 0). Returns false if missing.
    pub fn set_expire(&mut self, key: &[u8], at: i64) -> bool {
        self.reclaim_if_expired(key);
        let Some(e) = self.map.get_mut(key) else {
            return false;
        };
        let old = std::mem::replace(&mut e.expire, at);
        if old != 0 {
            self.expires.remove(&(old, Box::from(key)));
        }
        self.expires.insert((at, Box::from(key)));
        true
    }

    /// Removes the TTL of a live key; true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.reclaim_if_expired(key);
        let Some(e) = self.map.get_mut(key) else {
            return false;
        };
        let old = std::mem::take(&mut e.expire);
        if old == 0 {
            return false;
        }
        self.expires.remove(&(old, Box::from(key)));
        true
    }

    /// Keys due at `now` that active expiry has not reclaimed yet.
    fn due(&self, now: i64) -> usize {
        self.expires.range(..(now + 1, Box::from(&b""[..]))).count()
    }

    /// Live keys (DBSIZE).
    pub fn len(&self) -> usize {
        self.map.len() - self.due(now_ms())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live keys with a TTL (INFO keyspace `expires=`).
    pub fn expires_len(&self) -> usize {
        self.expires.len() - self.due(now_ms())
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.expires.clear();
    }

    /// Deletes up to `max` keys whose time has come; returns how many.
    pub fn expire_due(&mut self, now: i64, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            match self.expires.first() {
                Some((at, _)) if *at <= now => {
                    if let Some((_, key)) = self.expires.pop_first() {
                        self.map.remove(&key);
                        n += 1;
                    }
                }
                _ => break,
            }
        }
        n
    }

    /// One step of `SCAN`: calls `visit` for each live key in the cursor's bucket.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &Entry)) -> u64 {
        let now = now_ms();
        self.map.scan(cursor, |k, e| {
            if !e.expired(now) {
                visit(k, e)
            }
        })
    }

    /// Every live key with its entry.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        let now = now_ms();
        self.map
            .iter()
            .filter(move |n| !n.value.expired(now))
            .map(|n| (&*n.key, &n.value))
    }

    /// A random live key.
    pub fn random_key(&self) -> Option<&[u8]> {
        let now = now_ms();
        for _ in 0..100 {
            let node = self.map.random(super::rand_u64)?;
            if !node.value.expired(now) {
                return Some(&node.key);
            }
        }
        // Nearly everything sampled was expired: fall back to a walk.
        self.iter().next().map(|(k, _)| k)
    }

    /// Number of hash table buckets, for memory accounting.
    pub fn buckets(&self) -> usize {
        self.map.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rules() {
        let mut db = Db::new();
        db.set(b"k", Value::Str(b"v".to_vec()), false);
        assert!(db.set_expire(b"k", now_ms() + 100_000));
        assert_eq!(db.expires_len(), 1);
        db.set(b"k", Value::Str(b"w".to_vec()), true);
        assert!(db.expire_of(b"k").unwrap() > 0, "KEEPTTL keeps it");
        db.set(b"k", Value::Str(b"x".to_vec()), false);
        assert_eq!(db.expire_of(b"k"), Some(0), "plain SET drops it");
        assert_eq!(db.expires_len(), 0);
    }

    #[test]
    fn expired_keys_are_invisible_and_reclaimed() {
        let mut db = Db::new();
        db.set(b"a", Value::Str(b"1".to_vec()), false);
        db.set(b"b", Value::Str(b"2".to_vec()), false);
        db.set_expire(b"a", now_ms() - 1);
        assert_eq!(db.get(b"a"), None);
        assert_eq!(db.len(), 1);
        assert_eq!(db.iter().count(), 1);
        assert_eq!(db.remove(b"a"), None, "DEL of an expired key counts 0");
        assert_eq!(db.expires_len(), 0);
        db.set(b"c", Value::Str(b"3".to_vec()), false);
        db.set_expire(b"c", now_ms() - 1);
        assert_eq!(db.expire_due(now_ms(), 10), 1);
        assert_eq!(db.len(), 1);
    }
}
