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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::clock::{Limits, Op};
use super::dict::{Dict, Lookup};
use super::feed::Feed;
use super::notify::{self, Sink};
use super::ready::{Queues, Waiter};
use super::watch::{WatchFlag, Watched};
use super::{Access, Value, WrongType};
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
    /// Keys that expired (INFO `expired_keys`), counted when Redis would count them: when a
    /// read, a write or active expiry first finds them dead.
    expired: Counter,
    /// Clients blocked on keys of this database (they stay with the slot too).
    waiting: Queues,
    /// Clients watching keys of this database (WATCH; they stay with the slot too).
    watched: Watched,
    /// The limits of the command that last made a key ready: serving its waiters uses them.
    serve_limits: Limits,
    /// This database's number (keyspace event channels name it).
    index: usize,
    /// Where keyspace events go.
    sink: Option<Arc<dyn Sink>>,
    /// Where changes are recorded for the append-only file.
    feed: Option<Arc<dyn Feed>>,
    /// Big values (or whole contents) deleted under the lock, to be freed once it is
    /// released (see [`super::lazyfree`]), with the objects each counts for; `true`: on the
    /// background thread.
    buried: Vec<(Box<dyn Send + Sync>, u64, bool)>,
}

/// [`Keyspace::bury`] on the field alone (for a caller that holds another field borrowed).
/// At most this many big values wait for the lock's release: a transaction or script holds
/// its locks to its end, and a loop of overwrites must not keep every old value until then.
/// Past it they are freed at once, under the lock, as Redis frees them.
const BURIED_MAX: usize = 16;

fn bury_into(buried: &mut Vec<(Box<dyn Send + Sync>, u64, bool)>, e: Entry, lazy: bool) {
    if e.value.free_effort() > super::lazyfree::THRESHOLD && (lazy || buried.len() < BURIED_MAX) {
        buried.push((Box::new(e), 1, lazy));
    }
}

/// Records the deletion of `key` (expired or evicted) in database `index`, if the
/// append-only file wants records (Redis's `propagateDeletion`).
fn record_del(feed: &Option<Arc<dyn Feed>>, index: usize, key: &[u8]) {
    if let Some(feed) = feed {
        if feed.active() {
            feed.record(index, &[b"DEL", key]);
        }
    }
}

/// Publishes a keyspace event of database `index` through `sink`, if `flags` want it (a
/// function of the two fields, so it can run while the keyspace's data is borrowed).
fn emit(
    sink: &Option<Arc<dyn Sink>>,
    index: usize,
    flags: u32,
    class: u32,
    event: &str,
    key: &[u8],
) {
    if flags & class != 0 {
        if let Some(sink) = sink {
            notify::emit(&**sink, flags, class, index, event, key);
        }
    }
}

/// The keys of a database, taken out whole by a flush or exchanged by SWAPDB.
#[derive(Default)]
pub struct Contents {
    map: Dict<Entry>,
    /// Keys with a TTL, ordered by expiry time: active expiry pops the due ones in order.
    expires: BTreeSet<(i64, Box<[u8]>)>,
    /// Scans in chunks under way over `map` (see [`ShrinkHold`]): while any is, the table does
    /// not shrink.
    scans: Arc<AtomicUsize>,
}

/// Keeps a database's table from shrinking while held. A command that walks the keys in
/// chunks, releasing the lock between them, holds one: the cursor survives the table growing
/// (no key is visited twice or missed), but after a shrink it would revisit buckets.
pub struct ShrinkHold(Arc<AtomicUsize>);

impl Drop for ShrinkHold {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Keyspace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sizes an empty database's table for `n` keys at once, as Redis's loader expands its
    /// dict on an RDB's `RESIZEDB`: loaded one by one, millions of keys would go through every
    /// resize on the way, each moving every key so far.
    pub fn reserve(&mut self, n: usize) {
        let map = &mut self.data.map;
        if map.is_empty() && !map.is_resizing() && n > map.capacity() {
            *map = Dict::with_capacity(n);
        }
    }

    /// Database number `index`.
    pub fn numbered(index: usize) -> Self {
        Keyspace {
            index,
            ..Self::default()
        }
    }

    pub(super) fn set_sink(&mut self, sink: Arc<dyn Sink>) {
        self.sink = Some(sink);
    }

    pub(super) fn set_feed(&mut self, feed: Arc<dyn Feed>) {
        self.feed = Some(feed);
    }

    /// Where this database's changes are recorded, if anywhere.
    pub(super) fn feed(&self) -> Option<&Arc<dyn Feed>> {
        self.feed.as_ref()
    }

    pub(super) fn set_invalidate(&mut self, to: Arc<dyn super::watch::Invalidate>) {
        self.watched.set_invalidate(to);
    }

    /// Publishes a keyspace event, if the configured classes (`flags`) want it.
    fn emit(&self, flags: u32, class: u32, event: &str, key: &[u8]) {
        emit(&self.sink, self.index, flags, class, event, key);
    }

    /// Takes every key out, leaving the database empty. The caller drops what it gets after
    /// releasing the lock, so a big flush does not hold other clients up.
    pub fn take_contents(&mut self) -> Contents {
        if !self.watched.is_empty() {
            let map = &self.data.map;
            self.watched.touch_all(|k| map.get(k).is_some(), None);
        }
        if !self.waiting.is_empty() {
            // XREADGROUP clients blocked on a stream flushed away are told.
            let map = &self.data.map;
            self.waiting.signal_existing(|k| {
                map.get(k)
                    .is_some_and(|e| matches!(e.value, Value::Stream(..)))
            });
        }
        std::mem::take(&mut self.data)
    }

    /// Exchanges the keys of two databases (SWAPDB); statistics and waiters stay where they
    /// are, and waiters whose keys now exist are served when the locks are released.
    pub fn swap_contents(&mut self, other: &mut Keyspace, now: i64) {
        fn touch(watched: &mut Watched, emptied: &Contents, incoming: &Contents, now: i64) {
            if !watched.is_empty() {
                let incoming = |k: &[u8]| incoming.map.get(k).map(|e| e.expired(now));
                watched.touch_all(|k| emptied.map.get(k).is_some(), Some(&incoming));
            }
        }
        touch(&mut self.watched, &self.data, &other.data, now);
        touch(&mut other.watched, &other.data, &self.data, now);
        // Keys that held a stream before the swap (XREADGROUP clients on them are told if
        // it is gone), and keys that exist after it (waiters may be served).
        let streams = |ks: &Keyspace| -> Vec<Box<[u8]>> {
            if ks.waiting.is_empty() {
                return Vec::new();
            }
            let map = &ks.data.map;
            let mut held = Vec::new();
            ks.waiting.for_each_key(|k| {
                if map
                    .get(k)
                    .is_some_and(|e| matches!(e.value, Value::Stream(..)))
                {
                    held.push(Box::from(k));
                }
            });
            held
        };
        let (mine, theirs) = (streams(self), streams(other));
        std::mem::swap(&mut self.data, &mut other.data);
        for (ks, held) in [(self, mine), (other, theirs)] {
            let data = &ks.data;
            ks.waiting.signal_existing(|k| {
                data.map.get(k).is_some_and(|e| !e.expired(now)) || held.iter().any(|h| **h == *k)
            });
        }
    }

    /// Stops watching `key` for the client with `flag`.
    pub fn unwatch(&mut self, key: &[u8], flag: &Arc<WatchFlag>) {
        self.watched.remove(key, flag);
    }

    /// Takes `w` out of the queues.
    pub(super) fn remove_waiter(&mut self, w: &Arc<Waiter>) {
        self.waiting.remove(w);
    }

    /// Frees a deleted entry now if that is cheap; otherwise keeps it until the lock is
    /// released (`lazy`: then frees it on the background thread).
    fn bury(&mut self, e: Entry, lazy: bool) {
        bury_into(&mut self.buried, e, lazy);
    }

    /// Empties the database (FLUSHDB inside EXEC), its keys freed once the lock is released.
    pub fn flush_buried(&mut self, lazy: bool) {
        let old = self.take_contents();
        let keys = old.len() as u64;
        self.buried.push((Box::new(old), keys, lazy));
    }

    /// What [`Keyspace::bury`] kept, for the write guard to free after releasing the lock.
    pub(super) fn take_buried(&mut self) -> Vec<(Box<dyn Send + Sync>, u64, bool)> {
        std::mem::take(&mut self.buried)
    }

    /// Nothing to do on release: no values to free outside the lock, no keys ready for
    /// waiters (most of the 16 databases a script holds).
    pub(super) fn idle_on_release(&self) -> bool {
        self.buried.is_empty() && !self.waiting.has_ready()
    }

    /// Are there keys that may be ready for waiters?
    pub(super) fn has_ready(&self) -> bool {
        self.waiting.has_ready()
    }

    /// The limits to serve waiters with (those of the command that made their key ready).
    pub(super) fn serve_limits(&self) -> Limits {
        self.serve_limits
    }

    /// (keyspace hits, keyspace misses)
    pub fn hits_misses(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }

    pub fn reset_stats(&self) {
        self.hits.reset();
        self.misses.reset();
        self.expired.reset();
    }

    /// Keys found expired since the last reset.
    pub fn expired_count(&self) -> u64 {
        self.expired.get()
    }

    /// Keys stored, expired or not (eviction's view: it may take either).
    pub(super) fn key_count(&self) -> usize {
        self.data.map.len()
    }

    /// Keys with a TTL.
    pub(super) fn volatile_len(&self) -> usize {
        self.data.expires.len()
    }

    pub(super) fn has_expiry(&self, key: &[u8]) -> bool {
        self.data.map.get(key).is_some_and(|e| e.expire != 0)
    }

    /// The key whose TTL ends first.
    pub(super) fn soonest_expiry(&self) -> Option<(i64, Box<[u8]>)> {
        self.data.expires.first().cloned()
    }

    pub(super) fn random_any_key(&self) -> Option<Box<[u8]>> {
        self.data.map.random(super::rand_u64).map(|n| n.key.clone())
    }

    /// A random key with a TTL, each about equally likely: random keys of the map until one
    /// has a TTL (as many tries as the share of such keys calls for, within a bound), else
    /// the first key due after a random instant of the expiry index (biased towards keys
    /// that follow a gap in expiry times, so only a fallback).
    pub(super) fn random_volatile_key(&self) -> Option<Box<[u8]>> {
        let expires = &self.data.expires;
        if expires.is_empty() {
            return None;
        }
        let tries = (4 * self.data.map.len() / expires.len() + 8).min(1000);
        for _ in 0..tries {
            let node = self.data.map.random(super::rand_u64)?;
            if node.value.expire != 0 {
                return Some(node.key.clone());
            }
        }
        let (lo, hi) = (expires.first()?.0, expires.last()?.0);
        let span = (hi - lo) as u64;
        let at = lo + (super::rand_u64() % span.saturating_add(1)) as i64;
        expires
            .range((at, Box::<[u8]>::from(&b""[..]))..)
            .next()
            .or_else(|| expires.last())
            .map(|(_, k)| k.clone())
    }

    /// `n` sampled keys (at most as many as there are) with their eviction scores (Redis's
    /// `evictionPoolPopulate` sample), from every key or only those with a TTL.
    pub(super) fn sample(
        &self,
        n: usize,
        volatile: bool,
        access: super::Access,
    ) -> Vec<(u64, Box<[u8]>)> {
        let n = n.min(if volatile {
            self.volatile_len()
        } else {
            self.key_count()
        });
        (0..n)
            .filter_map(|_| {
                let key = if volatile {
                    self.random_volatile_key()?
                } else {
                    self.random_any_key()?
                };
                let e = self.data.map.get(&key)?;
                Some((e.value.lru().eviction_score(access), key))
            })
            .collect()
    }

    /// Deletes `key` to free memory: an `evicted` event, and a change for WATCH. Returns the
    /// entry, for the caller to drop once the lock is released.
    pub(super) fn evict(&mut self, key: &[u8], notify: u32) -> Option<Entry> {
        let e = self.data.remove_raw(key)?;
        self.watched.touch(key, false);
        record_del(&self.feed, self.index, key);
        self.emit(notify, notify::EVICTED, "evicted", key);
        Some(e)
    }

    /// Whether the key table is part way through a resize.
    pub fn resizing(&self) -> bool {
        self.data.map.is_resizing()
    }

    /// Moves a resize of the key table on by up to `steps` steps (active rehashing).
    pub(super) fn rehash(&mut self, steps: usize) {
        self.data.map.rehash(steps);
    }

    /// When the first key with a TTL is due (Unix ms), if any key has one.
    pub fn next_expiry(&self) -> Option<i64> {
        self.data.expires.first().map(|(at, _)| *at)
    }

    /// Deletes up to `max` keys whose time has come at `now`; returns how many.
    pub(super) fn expire_due(&mut self, now: i64, max: usize, notify: u32) -> usize {
        let mut n = 0;
        while n < max {
            match self.data.expires.first() {
                Some((at, _)) if *at <= now => {
                    if let Some((_, key)) = self.data.expires.pop_first() {
                        let shrink = self.data.scans.load(Ordering::Relaxed) == 0;
                        let removed = self.data.map.remove_sized(&key, shrink);
                        let fresh = removed
                            .as_ref()
                            .is_none_or(|(_, e)| e.value.lru().announce_expiry());
                        // A stream's XREADGROUP waiters are told it is gone, as on any delete
                        // (served when this write lock is released).
                        let stream = removed
                            .as_ref()
                            .is_some_and(|(_, e)| matches!(e.value, Value::Stream(..)));
                        if stream && self.waiting.has_waiters(&key) {
                            self.waiting.signal(&key);
                        }
                        self.watched.touch(&key, false);
                        record_del(&self.feed, self.index, &key);
                        if fresh {
                            self.expired.add(1);
                            emit(
                                &self.sink,
                                self.index,
                                notify,
                                notify::EXPIRED,
                                "expired",
                                &key,
                            );
                        }
                        // Freed here, inside the cycle and under the lock, as Redis frees
                        // an expired key (`lazyfree-lazy-expire no`): the cycle's time,
                        // freeing included, is its latency event.
                        drop(removed);
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
    /// Keys held, expired ones not yet reclaimed included.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn remove_raw(&mut self, key: &[u8]) -> Option<Entry> {
        let shrink = self.scans.load(Ordering::Relaxed) == 0;
        let (k, e) = self.map.remove_sized(key, shrink)?;
        if e.expire != 0 {
            self.expires.remove(&(e.expire, k));
        }
        Some(e)
    }

    /// Deletes `key` if it has expired at `now`; its entry if it did.
    fn reclaim_if_expired(&mut self, key: &[u8], now: i64) -> Option<Entry> {
        let expired = self.map.get(key).is_some_and(|e| e.expired(now));
        if expired {
            self.remove_raw(key)
        } else {
            None
        }
    }
}

thread_local! {
    /// Expired keys this thread's reads found, `(database, key)`, for it to delete once its
    /// read lock is released (Redis deletes them on access; a read lock cannot).
    static SEEN_EXPIRED: std::cell::RefCell<Vec<(usize, Box<[u8]>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// At most this many found-expired keys wait per thread; past it, active expiry takes them.
const SEEN_EXPIRED_MAX: usize = 64;

fn note_seen_expired(db: usize, key: &[u8]) {
    let _ = SEEN_EXPIRED.try_with(|seen| {
        let mut seen = seen.borrow_mut();
        if seen.len() < SEEN_EXPIRED_MAX {
            seen.push((db, key.into()));
        }
    });
}

/// The expired keys this thread's reads found since the last call (see [`Db::reclaim_seen`]).
pub fn take_seen_expired() -> Vec<(usize, Box<[u8]>)> {
    SEEN_EXPIRED
        .try_with(|seen| {
            let mut seen = seen.borrow_mut();
            if seen.is_empty() {
                Vec::new()
            } else {
                std::mem::take(&mut *seen)
            }
        })
        .unwrap_or_default()
}

/// A database as one command sees it: a locked keyspace (`&Keyspace` to read, `&mut Keyspace`
/// to write) and the command's [`Op`].
pub struct Db<'a, K> {
    ks: K,
    op: &'a Op,
    /// The handler recorded its change itself ([`Db::propagate`]): dispatch records nothing.
    propagated: std::cell::Cell<bool>,
}

/// A database locked for reading.
pub type DbRef<'a> = Db<'a, &'a Keyspace>;
/// A database locked for writing.
pub type DbMut<'a> = Db<'a, &'a mut Keyspace>;

impl<'a, K: Deref<Target = Keyspace>> Db<'a, K> {
    pub fn new(ks: K, op: &'a Op) -> Self {
        Db {
            ks,
            op,
            propagated: std::cell::Cell::new(false),
        }
    }

    /// The command's operation: its instant and limits.
    /// Changes made to this database so far (a counter that only grows): a command that
    /// moved it changed something.
    pub fn changes(&self) -> u64 {
        self.ks.watched.changes()
    }

    /// This database's number.
    pub fn index(&self) -> usize {
        self.ks.index
    }

    /// Does the append-only file want records now?
    pub fn feeding(&self) -> bool {
        self.ks.feed.as_ref().is_some_and(|f| f.active())
    }

    /// Records `argv` for the append-only file as run against this database, if it wants
    /// records. Handlers call it for what replaying their own command would not redo
    /// exactly (a blocked pop served, an ID chosen by time); dispatch records the rest.
    pub fn propagate(&self, argv: &[&[u8]]) {
        if let Some(feed) = &self.ks.feed {
            if feed.active() {
                feed.record(self.ks.index, argv);
                self.propagated.set(true);
            }
        }
    }

    /// Did the handler record its change itself?
    pub fn propagated(&self) -> bool {
        self.propagated.get()
    }

    /// The instant expiry is judged at (see [`Op::expiry_now`]).
    pub fn expiry_now(&self) -> i64 {
        self.op.expiry_now()
    }

    pub fn op(&self) -> &'a Op {
        self.op
    }

    /// The command's instant, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.op.now_ms()
    }

    /// Publishes keyspace event `event` (class `class`, see [`notify`]) on `key`, if
    /// `notify-keyspace-events` asks for it (Redis's `notifyKeyspaceEvent`).
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        self.ks.emit(self.op.limits().notify, class, event, key);
    }

    /// The entry stored at `key`, even if it has expired and no one has deleted it yet,
    /// with no statistics or events (Redis's plain `dictFind`: DEBUG OBJECT).
    pub fn stored(&self, key: &[u8]) -> Option<&Entry> {
        self.ks.data.map.get(key)
    }

    /// The live entry at `key`, if any, without touching the hit/miss statistics.
    fn live(&self, key: &[u8]) -> Option<&Entry> {
        let e = self.ks.data.map.get(key)?;
        // Only a key with a TTL needs the clock.
        (e.expire == 0 || !e.expired(self.op.expiry_now())).then_some(e)
    }

    /// Read door: the live entry at `key`, counted as a keyspace hit or miss, and marked used
    /// (OBJECT IDLETIME).
    pub fn entry(&self, key: &[u8]) -> Option<&Entry> {
        let e = self.peek(key);
        if let Some(e) = e {
            e.value.lru().touch(self.op.limits().access);
        }
        e
    }

    /// [`Db::entry`] for a command that counted its lookup of `key` already (MIGRATE looks
    /// each key up once, then reads it under another lock): marked used, not counted again.
    pub fn entry_again(&self, key: &[u8]) -> Option<&Entry> {
        let e = self.live(key);
        if let Some(e) = e {
            e.value.lru().touch(self.op.limits().access);
        }
        e
    }

    /// Read door without marking the key used (Redis's `LOOKUP_NOTOUCH`: TYPE, EXISTS, TTL):
    /// counted as a hit or miss all the same.
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        let e = self.peek_quiet(key);
        if e.is_none() {
            self.notify(notify::KEY_MISS, "keymiss", key);
        }
        e
    }

    /// [`Db::peek`] without a `keymiss` event (Redis's `LOOKUP_NONOTIFY`: OBJECT).
    pub fn peek_quiet(&self, key: &[u8]) -> Option<&Entry> {
        let e = match self.ks.data.map.get(key) {
            Some(e) if e.expire != 0 && e.expired(self.op.expiry_now()) => {
                self.found_expired(key, e);
                None
            }
            e => e,
        };
        let counter = if e.is_some() {
            &self.ks.hits
        } else {
            &self.ks.misses
        };
        counter.add(1);
        e
    }

    /// A read found `key` expired. It is gone for Redis the moment a read finds it: its
    /// `expired` event comes now (before `keymiss`); the deletion itself waits until the read
    /// lock is released (see [`note_seen_expired`]).
    fn found_expired(&self, key: &[u8], e: &Entry) {
        if e.value.lru().announce_expiry() {
            self.ks.expired.add(1);
            self.notify(notify::EXPIRED, "expired", key);
        }
        note_seen_expired(self.ks.index, key);
    }

    /// Read door: the live value at `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        self.entry(key).map(|e| &e.value)
    }

    /// The value at `key` as one type (`as_type`: `Value::as_set`...): through the counting
    /// door ([`Db::get`]) when `counted`, else quietly (a long read's later chunks).
    pub fn get_as<'s, T: ?Sized>(
        &'s self,
        key: &[u8],
        counted: bool,
        as_type: impl FnOnce(&'s Value) -> Result<&'s T, WrongType>,
    ) -> Result<Option<&'s T>, WrongType> {
        let value = if counted {
            self.get(key)
        } else {
            self.peek_quiet(key).map(|e| &e.value)
        };
        value.map(as_type).transpose()
    }

    /// Does a live `key` exist? (Not counted: writers use this to decide.)
    pub fn contains(&self, key: &[u8]) -> bool {
        self.live(key).is_some()
    }

    /// The expiry time of a live key: `None` if missing, `Some(0)` if it has none.
    pub fn expire_of(&self, key: &[u8]) -> Option<i64> {
        self.live(key).map(|e| e.expire)
    }

    /// The string at `key`: `None` if missing, WRONGTYPE if another type.
    pub fn get_str(&self, key: &[u8]) -> Result<Option<&[u8]>, WrongType> {
        self.get(key).map(Value::as_str).transpose()
    }

    /// The list at `key`.
    pub fn get_list(&self, key: &[u8]) -> Result<Option<&super::List>, WrongType> {
        self.get(key).map(Value::as_list).transpose()
    }

    /// The hash at `key`.
    pub fn get_hash(&self, key: &[u8]) -> Result<Option<&super::Hash>, WrongType> {
        self.get(key).map(Value::as_hash).transpose()
    }

    /// The set at `key`.
    pub fn get_set(&self, key: &[u8]) -> Result<Option<&super::Set>, WrongType> {
        self.get(key).map(Value::as_set).transpose()
    }

    /// The stream at `key`.
    pub fn get_stream(&self, key: &[u8]) -> Result<Option<&super::Stream>, WrongType> {
        self.get(key).map(Value::as_stream).transpose()
    }

    /// The sorted set at `key`.
    pub fn get_zset(&self, key: &[u8]) -> Result<Option<&super::ZSet>, WrongType> {
        self.get(key).map(Value::as_zset).transpose()
    }

    /// Redis's `isWatchedKeyExpired` for one key: it has expired since WATCH (but is not
    /// deleted yet), which EXEC counts as a change.
    pub fn watched_key_expired(&self, key: &[u8], flag: &Arc<WatchFlag>) -> bool {
        let now = self.op.expiry_now();
        !self.ks.watched.watched_expired(key, flag)
            && self.ks.data.map.get(key).is_some_and(|e| e.expired(now))
    }

    /// Keys in the table (DBSIZE, INFO keyspace's `keys=`), as Redis counts them: a key
    /// past its time counts until a read, a write or active expiry deletes it.
    pub fn len(&self) -> usize {
        self.ks.data.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// DEBUG HTSTATS: the key table's stats as Redis's `dictGetStats` gives them, then the
    /// keys with a TTL. Those are an ordered tree here, not a hash table: only their count.
    pub fn table_stats(&self) -> String {
        let mut out = String::from("[Dictionary HT]\n");
        out.push_str(&self.ks.data.map.stats());
        out.push_str("[Expires HT]\n");
        let n = self.ks.data.expires.len();
        if n == 0 {
            out.push_str("Hash table 0 stats (main hash table):\n");
            out.push_str("No stats available for empty dictionaries\n");
        } else {
            out.push_str(&format!(
                "Ordered by expiry time (a B-tree, not a hash table):\n number of elements: {n}\n"
            ));
        }
        out
    }

    /// Keys with a TTL (INFO keyspace `expires=`), counted as [`Db::len`] counts.
    pub fn expires_len(&self) -> usize {
        self.ks.data.expires.len()
    }

    /// One step of `SCAN`: calls `visit` for each live key in the cursor's bucket. An expired
    /// one it meets is deleted, as Redis's SCAN deletes it (after the lock, as a read does).
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &Entry)) -> u64 {
        let now = self.op.expiry_now();
        self.ks.data.map.scan(cursor, |k, e| {
            if !e.expired(now) {
                visit(k, e)
            } else {
                self.found_expired(k, e);
            }
        })
    }

    /// [`Db::scan`] that leaves expired keys alone, as Redis's `KEYS` does (it skips them).
    pub fn scan_quiet(&self, cursor: u64, mut visit: impl FnMut(&[u8], &Entry)) -> u64 {
        let now = self.op.expiry_now();
        self.ks.data.map.scan(cursor, |k, e| {
            if !e.expired(now) {
                visit(k, e)
            }
        })
    }

    /// Holds the table's size from shrinking until the hold is dropped (the lock need not be
    /// held meanwhile): a scan in chunks takes one before its first chunk.
    pub fn hold_shrink(&self) -> ShrinkHold {
        let scans = &self.ks.data.scans;
        scans.fetch_add(1, Ordering::Relaxed);
        ShrinkHold(Arc::clone(scans))
    }

    /// Every key still in the map, expired ones not yet reclaimed included, as Redis's
    /// snapshots hold them (a loader drops those past their time).
    pub fn iter_stored(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.ks.data.map.iter().map(|n| (&*n.key, &n.value))
    }

    /// Keys in the map, expired ones not yet reclaimed included, and those with a TTL.
    pub fn stored_len(&self) -> (usize, usize) {
        (self.ks.data.map.len(), self.ks.data.expires.len())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        let now = self.op.expiry_now();
        self.ks
            .data
            .map
            .iter()
            .filter(move |n| !n.value.expired(now))
            .map(|n| (&*n.key, &n.value))
    }

    /// A random live key.
    pub fn random_key(&self) -> Option<&[u8]> {
        let now = self.op.expiry_now();
        for _ in 0..100 {
            let node = self.ks.data.map.random(super::rand_u64)?;
            if !node.value.expired(now) {
                return Some(&node.key);
            }
            // Redis's RANDOMKEY deletes the expired keys it samples.
            self.found_expired(&node.key, &node.value);
        }
        // Nearly everything sampled was expired: fall back to a walk.
        self.iter().next().map(|(k, _)| k)
    }
}

impl<K: DerefMut<Target = Keyspace>> Db<'_, K> {
    /// Write door: the live value at `key`; an expired key is deleted first. Opening a key
    /// here counts as changing it for WATCH (Redis's `signalModifiedKey`): handlers whose
    /// write may change nothing use the `_quiet` doors and [`Db::touch`] what they change.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Value> {
        self.open_mut(key, Some(|_: &Value| true))
    }

    /// Write door that does not count as a change: the caller calls [`Db::touch`] if it
    /// changes the value (SADD of members already there changes nothing).
    pub fn get_mut_quiet(&mut self, key: &[u8]) -> Option<&mut Value> {
        self.open_mut(key, None::<fn(&Value) -> bool>)
    }

    /// The write door; `touch`: count the key as changed if the value passes (a typed door
    /// counts only a value of its type: a WRONGTYPE error changes nothing).
    fn open_mut(
        &mut self,
        key: &[u8],
        touch: Option<impl Fn(&Value) -> bool>,
    ) -> Option<&mut Value> {
        let op = self.op;
        let ks = &mut *self.ks;
        let data = &mut ks.data;
        // Only a key with a TTL needs the clock.
        match data
            .map
            .get_mut_or_take(key, |e| e.expire != 0 && e.expired(op.expiry_now()))
        {
            Lookup::Found(e) => {
                e.value.lru().touch(op.limits().access);
                if touch.is_some_and(|ok| ok(&e.value)) {
                    ks.watched.touch(key, true);
                }
                Some(&mut e.value)
            }
            Lookup::Taken(k, e) => {
                data.expires.remove(&(e.expire, k));
                ks.watched.touch(key, false);
                record_del(&ks.feed, ks.index, key);
                // An expired stream is deleted like any other: its XREADGROUP waiters are told.
                if matches!(e.value, Value::Stream(..)) && ks.waiting.has_waiters(key) {
                    ks.waiting.signal(key);
                    ks.serve_limits = *op.limits();
                }
                if e.value.lru().announce_expiry() {
                    ks.expired.add(1);
                    emit(
                        &ks.sink,
                        ks.index,
                        op.limits().notify,
                        notify::EXPIRED,
                        "expired",
                        key,
                    );
                }
                // A big one is freed once the lock is released, as a DEL's is.
                bury_into(&mut ks.buried, e, false);
                None
            }
            Lookup::Missing => None,
        }
    }

    /// Quiet write door, typed (see [`Db::get_mut_quiet`]).
    pub fn str_mut_quiet(&mut self, key: &[u8]) -> Result<Option<&mut Vec<u8>>, WrongType> {
        self.get_mut_quiet(key).map(Value::as_str_mut).transpose()
    }

    /// Quiet write door, typed.
    pub fn list_mut_quiet(&mut self, key: &[u8]) -> Result<Option<&mut super::List>, WrongType> {
        self.get_mut_quiet(key).map(Value::as_list_mut).transpose()
    }

    /// Quiet write door, typed.
    pub fn hash_mut_quiet(&mut self, key: &[u8]) -> Result<Option<&mut super::Hash>, WrongType> {
        self.get_mut_quiet(key).map(Value::as_hash_mut).transpose()
    }

    /// Quiet write door, typed.
    pub fn set_mut_quiet(&mut self, key: &[u8]) -> Result<Option<&mut super::Set>, WrongType> {
        self.get_mut_quiet(key).map(Value::as_set_mut).transpose()
    }

    /// Quiet write door, typed.
    pub fn zset_mut_quiet(&mut self, key: &[u8]) -> Result<Option<&mut super::ZSet>, WrongType> {
        self.get_mut_quiet(key).map(Value::as_zset_mut).transpose()
    }

    /// Quiet write door: the string at `key`, about to change as `how` says.
    pub fn str_rewrite_quiet(
        &mut self,
        key: &[u8],
        how: super::Rewrite,
    ) -> Result<Option<&mut Vec<u8>>, WrongType> {
        self.get_mut_quiet(key)
            .map(|v| v.as_str_rewrite(how))
            .transpose()
    }

    /// Write door: the string at `key`, about to change as `how` says.
    pub fn str_rewrite(
        &mut self,
        key: &[u8],
        how: super::Rewrite,
    ) -> Result<Option<&mut Vec<u8>>, WrongType> {
        self.open_mut(key, Some(|v: &Value| v.as_str().is_ok()))
            .map(|v| v.as_str_rewrite(how))
            .transpose()
    }

    /// Write door, typed: the string at `key` for modification.
    pub fn str_mut(&mut self, key: &[u8]) -> Result<Option<&mut Vec<u8>>, WrongType> {
        self.open_mut(key, Some(|v: &Value| v.as_str().is_ok()))
            .map(Value::as_str_mut)
            .transpose()
    }

    /// Write door, typed: the list at `key` for modification.
    pub fn list_mut(&mut self, key: &[u8]) -> Result<Option<&mut super::List>, WrongType> {
        self.open_mut(key, Some(|v: &Value| v.as_list().is_ok()))
            .map(Value::as_list_mut)
            .transpose()
    }

    /// Write door, typed: the hash at `key` for modification.
    pub fn hash_mut(&mut self, key: &[u8]) -> Result<Option<&mut super::Hash>, WrongType> {
        self.open_mut(key, Some(|v: &Value| v.as_hash().is_ok()))
            .map(Value::as_hash_mut)
            .transpose()
    }

    /// Write door, typed: the set at `key` for modification.
    pub fn set_mut(&mut self, key: &[u8]) -> Result<Option<&mut super::Set>, WrongType> {
        self.open_mut(key, Some(|v: &Value| v.as_set().is_ok()))
            .map(Value::as_set_mut)
            .transpose()
    }

    /// Quiet write door, typed.
    pub fn stream_mut_quiet(
        &mut self,
        key: &[u8],
    ) -> Result<Option<&mut super::Stream>, WrongType> {
        self.get_mut_quiet(key)
            .map(Value::as_stream_mut)
            .transpose()
    }

    /// Write door, typed: the stream at `key` for modification.
    pub fn stream_mut(&mut self, key: &[u8]) -> Result<Option<&mut super::Stream>, WrongType> {
        self.open_mut(key, Some(|v: &Value| v.as_stream().is_ok()))
            .map(Value::as_stream_mut)
            .transpose()
    }

    /// Write door, typed: the sorted set at `key` for modification.
    pub fn zset_mut(&mut self, key: &[u8]) -> Result<Option<&mut super::ZSet>, WrongType> {
        self.open_mut(key, Some(|v: &Value| v.as_zset().is_ok()))
            .map(Value::as_zset_mut)
            .transpose()
    }

    /// Deletes `key` if it holds an empty container: a container that becomes empty stops
    /// existing, as in Redis. Returns true if it was deleted.
    pub fn remove_if_empty(&mut self, key: &[u8]) -> bool {
        let empty = self
            .ks
            .data
            .map
            .get(key)
            .is_some_and(|e| e.value.is_empty_container());
        if empty {
            self.ks.data.remove_raw(key);
            self.ks.watched.touch(key, false);
            self.notify(notify::GENERIC, "del", key);
        }
        empty
    }

    /// `key` was just created: if clients wait on it, it may be ready for them.
    fn signal(&mut self, key: &[u8]) {
        if self.ks.waiting.has_waiters(key) {
            self.ks.waiting.signal(key);
            self.ks.serve_limits = *self.op.limits();
        }
    }

    /// `key` changed in a way its waiters may care about (Redis's `signalKeyAsReady`): an
    /// entry added to a stream, a group destroyed, a stream deleted.
    pub fn signal_ready(&mut self, key: &[u8]) {
        self.signal(key);
    }

    /// Parks `w` in the queue of each of its keys.
    pub fn block(&mut self, w: &Arc<Waiter>) {
        self.ks.waiting.add(w);
    }

    /// Stores `value` at `key`. Any TTL is dropped unless `keep_ttl` (Redis's `setKey`).
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool) {
        let (now, flags) = (self.op.expiry_now(), self.op.limits().notify);
        let ks = &mut *self.ks;
        let (sink, index) = (&ks.sink, ks.index);
        let event = |class, name| emit(sink, index, flags, class, name, key);
        let data = &mut ks.data;
        match data.map.get_mut(key) {
            Some(e) => {
                // An expired key is gone: KEEPTTL has no TTL to keep.
                let expired = e.expire != 0 && e.expired(now);
                if expired {
                    // Redis deletes it first, then adds it: two changes for WATCH, and the
                    // events of both.
                    ks.watched.touch(key, false);
                    record_del(&ks.feed, index, key);
                    if e.value.lru().announce_expiry() {
                        ks.expired.add(1);
                        event(notify::EXPIRED, "expired");
                    }
                    event(notify::NEW, "new");
                }
                ks.watched.touch(key, true);
                // Redis's `dbSetValue`: XREADGROUP clients blocked on a stream overwritten.
                let was_stream = matches!(e.value, Value::Stream(..));
                let drop_ttl = !keep_ttl || expired;
                // Redis's `dbSetValue`: under LFU the key keeps its counter.
                match self.op.limits().access {
                    Access::Lfu { .. } if !expired => value.lru().inherit(e.value.lru()),
                    access => value.lru().init(access),
                }
                let old = std::mem::replace(&mut e.value, value);
                // A big value overwritten is freed once the lock is released.
                bury_into(
                    &mut ks.buried,
                    Entry {
                        value: old,
                        expire: 0,
                    },
                    false,
                );
                if drop_ttl && e.expire != 0 {
                    let at = std::mem::take(&mut e.expire);
                    data.expires.remove(&(at, Box::from(key)));
                }
                if was_stream {
                    self.signal(key);
                }
            }
            None => {
                value.lru().init(self.op.limits().access);
                data.map
                    .insert_new(Box::from(key), Entry { value, expire: 0 });
                ks.watched.touch(key, true);
                event(notify::NEW, "new");
                self.signal(key);
            }
        }
    }

    /// Inserts a whole entry (value and expiry), replacing any previous one.
    pub fn insert_entry(&mut self, key: &[u8], entry: Entry) {
        let now = self.op.expiry_now();
        if let Some(e) = self.ks.data.remove_raw(key) {
            if e.expired(now) {
                self.ks.watched.touch(key, false);
                record_del(&self.ks.feed, self.ks.index, key);
                if e.value.lru().announce_expiry() {
                    self.ks.expired.add(1);
                    self.notify(notify::EXPIRED, "expired", key);
                }
            }
            // A big value replaced is freed once the lock is released.
            self.ks.bury(e, false);
        }
        let data = &mut self.ks.data;
        if entry.expire != 0 {
            data.expires.insert((entry.expire, Box::from(key)));
        }
        data.map.insert(Box::from(key), entry);
        self.ks.watched.touch(key, true);
        self.notify(notify::NEW, "new", key);
        self.signal(key);
    }

    /// Deletes `key`; returns its entry if it was live.
    /// Deletes `key` and frees its value: a big one after the lock is released, and with
    /// `lazy` (UNLINK) on the background thread. Returns whether a live key was there.
    pub fn delete(&mut self, key: &[u8], lazy: bool) -> bool {
        match self.remove(key) {
            Some(e) => {
                self.ks.bury(e, lazy);
                true
            }
            None => false,
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let now = self.op.expiry_now();
        let old = self.ks.data.remove_raw(key)?;
        self.ks.watched.touch(key, false);
        if matches!(old.value, Value::Stream(..)) {
            self.signal(key);
        }
        if old.expired(now) {
            record_del(&self.ks.feed, self.ks.index, key);
            if old.value.lru().announce_expiry() {
                self.ks.expired.add(1);
                self.notify(notify::EXPIRED, "expired", key);
            }
            self.ks.bury(old, false);
            return None;
        }
        Some(old)
    }

    /// Counts `key` as changed for WATCH although nothing in the map changed (Redis signals
    /// some commands' targets regardless: SORT ... STORE of an empty result).
    pub fn touch(&mut self, key: &[u8]) {
        let exists = self.ks.data.map.get(key).is_some();
        self.ks.watched.touch(key, exists);
    }

    /// Watches `key` for a long read in chunks: `flag` is marked by any change to it.
    pub fn watch_for_read(&mut self, key: &[u8], flag: &Arc<WatchFlag>) {
        self.ks.watched.add_first(key, flag);
    }

    /// Ends a watch begun with [`Self::watch_for_read`].
    pub fn end_watch(&mut self, key: &[u8], flag: &Arc<WatchFlag>) {
        self.ks.unwatch(key, flag);
    }

    /// WATCH `key` for the client with `flag`.
    pub fn watch(&mut self, key: &[u8], flag: &Arc<WatchFlag>) {
        let now = self.op.expiry_now();
        let expired = self.ks.data.map.get(key).is_some_and(|e| e.expired(now));
        self.ks.watched.add(key, flag, expired);
    }

    /// Deletes the keys of this database that a read found expired ([`take_seen_expired`]),
    /// those still expired now: Redis's deletion on access, done once the read lock is gone.
    pub fn reclaim_seen<'k>(&mut self, keys: impl Iterator<Item = &'k [u8]>) {
        for key in keys {
            self.reclaim_expired(key);
        }
    }

    /// Lazy expiry of `key` at the command's instant: an expired key is deleted, which
    /// WATCH counts as a change and notifications report as `expired`.
    fn reclaim_expired(&mut self, key: &[u8]) {
        let now = self.op.expiry_now();
        if let Some(e) = self.ks.data.reclaim_if_expired(key, now) {
            self.ks.watched.touch(key, false);
            record_del(&self.ks.feed, self.ks.index, key);
            if e.value.lru().announce_expiry() {
                self.ks.expired.add(1);
                self.notify(notify::EXPIRED, "expired", key);
            }
        }
    }

    /// Sets the absolute expiry of a live key (Unix ms, > 0). Returns false if missing.
    pub fn set_expire(&mut self, key: &[u8], at: i64) -> bool {
        self.reclaim_expired(key);
        let ks = &mut *self.ks;
        let data = &mut ks.data;
        let Some(e) = data.map.get_mut(key) else {
            return false;
        };
        ks.watched.touch(key, true);
        let old = std::mem::replace(&mut e.expire, at);
        if old != 0 {
            data.expires.remove(&(old, Box::from(key)));
        }
        data.expires.insert((at, Box::from(key)));
        true
    }

    /// Removes the TTL of a live key; true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.reclaim_expired(key);
        let ks = &mut *self.ks;
        let data = &mut ks.data;
        let Some(e) = data.map.get_mut(key) else {
            return false;
        };
        let old = std::mem::take(&mut e.expire);
        if old == 0 {
            return false;
        }
        ks.watched.touch(key, true);
        data.expires.remove(&(old, Box::from(key)));
        true
    }
}

impl<'a> Db<'a, &'a mut Keyspace> {
    /// Serves the waiters of every key that may have become ready, oldest first, until none
    /// is left to serve (a BLMOVE served may make its destination ready in turn). Returns the
    /// waiters served, to be [delivered](Waiter::deliver) once the lock is released.
    pub fn serve_ready(&mut self) -> Vec<Arc<Waiter>> {
        let mut served = Vec::new();
        loop {
            let ready = self.ks.waiting.take_ready();
            if ready.is_empty() {
                return served;
            }
            for key in ready {
                // Every waiter is asked, the key gone or not: an XREADGROUP client is told
                // its stream no longer exists (the other requests find nothing to serve).
                for w in self.ks.waiting.waiters(&key) {
                    if w.serve_with(|request| request.serve(self, &key)) {
                        self.ks.waiting.remove(&w);
                        served.push(w);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Limits;

    const T: i64 = 1_700_000_000_000;

    fn str_value(s: &str) -> Value {
        Value::str(s.as_bytes().to_vec())
    }

    #[test]
    fn ttl_rules() {
        let op = Op::at_ms(T, Limits::default());
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
        let op = Op::at_ms(T, Limits::default());
        let mut ks = Keyspace::new();
        let mut db = Db::new(&mut ks, &op);
        db.set(b"a", str_value("1"), false);
        db.set(b"b", str_value("2"), false);
        db.set_expire(b"a", T - 1);
        assert_eq!(db.get(b"a"), None);
        // Counted until deleted, as Redis's DBSIZE counts it; invisible to every read.
        assert_eq!(db.len(), 2);
        assert_eq!(db.iter().count(), 1);
        assert_eq!(db.remove(b"a"), None, "DEL of an expired key counts 0");
        assert_eq!(db.expires_len(), 0);
        db.set(b"c", str_value("3"), false);
        db.set_expire(b"c", T - 1);
        assert_eq!(ks.expire_due(T, 10, 0), 1);
        assert_eq!(Db::new(&ks, &op).len(), 1);
    }

    /// Every step of one operation decides expiry at the same instant, however long the
    /// operation takes: a key alive at its first look stays alive to its last.
    #[test]
    fn one_operation_one_instant() {
        let mut ks = Keyspace::new();
        let setup = Op::at_ms(T, Limits::default());
        let mut db = Db::new(&mut ks, &setup);
        db.set(b"k", str_value("10"), false);
        db.set_expire(b"k", T + 1);
        // At T the key is alive for every door; one millisecond later, for none.
        let at_t = Op::at_ms(T, Limits::default());
        let mut db = Db::new(&mut ks, &at_t);
        assert!(db.contains(b"k"));
        assert!(db.get_mut(b"k").is_some());
        assert!(db.set_expire(b"k", T + 1));
        assert_eq!(db.expire_of(b"k"), Some(T + 1));
        let later = Op::at_ms(T + 1, Limits::default());
        let mut db = Db::new(&mut ks, &later);
        assert!(!db.contains(b"k"));
        assert!(!db.set_expire(b"k", T + 100));
        assert_eq!(db.len(), 0);
    }

    /// A big hash: more fields than the packed form holds and the lazyfree threshold.
    fn big_hash() -> Value {
        let mut h = crate::store::hash::Hash::with_capacity(600, Default::default());
        for i in 0..600 {
            h.set(format!("f{i}").as_bytes(), b"v", Default::default());
        }
        Value::hash(h)
    }

    #[test]
    fn overwritten_big_values_wait_for_the_lock_release_within_a_bound() {
        let op = Op::at_ms(T, Limits::default());
        let mut ks = Keyspace::new();
        let mut db = Db::new(&mut ks, &op);
        // As a transaction would, holding the lock: 20 overwrites of a big value.
        assert!(big_hash().free_effort() > super::super::lazyfree::THRESHOLD);
        for _ in 0..21 {
            db.set(b"k", big_hash(), false);
        }
        db.insert_entry(
            b"k",
            Entry {
                value: str_value("small"),
                expire: 0,
            },
        );
        assert_eq!(db.get_str(b"k").ok().flatten(), Some(&b"small"[..]));
        let buried = ks.take_buried();
        assert_eq!(buried.len(), BURIED_MAX, "the rest were freed at once");
        // UNLINK's go to the background thread whatever their number.
        let mut db = Db::new(&mut ks, &op);
        for i in 0..20 {
            let key = format!("u{i}");
            db.set(key.as_bytes(), big_hash(), false);
            assert!(db.delete(key.as_bytes(), true));
        }
        assert_eq!(ks.take_buried().len(), 20);
    }
}
