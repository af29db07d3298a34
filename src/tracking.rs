//! Client-side caching (CLIENT TRACKING; Redis's `tracking.c`): which clients may hold which
//! keys, and the invalidation messages sent when those keys change.
//!
//! The table maps a key (of any database, as in Redis) to the ids of the clients that read
//! it; a change takes the key out and tells each of them once. In BCAST mode a client names
//! prefixes instead, and gets every changed key under them, batched: a thread sends what its
//! batch of commands changed once the batch is done (Redis's `beforeSleep`).
//!
//! **Reply before invalidation.** Redis's single thread orders them for free: a read's reply
//! is queued before any later change is signalled. Here a change can be signalled on another
//! thread while the reader is still writing its reply. So a client marks itself *executing*
//! before each command (and registers the keys it reads before reading them), and an
//! invalidation for an executing client is held back and sent after its reply. On the same
//! connection (RESP3 without REDIRECT) an invalidation can then come late, never early: a
//! client never caches a stale value. Through REDIRECT it travels on another connection,
//! which can overtake the reply, in Redis as here.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::Config;
use crate::state::{ClientInfo, Clients};
use crate::store::watch::Invalidate;

/// The channel a RESP2 client subscribes to for the invalidations redirected to it.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

thread_local! {
    /// The tracking client whose command this thread runs (0: none): NOLOOP spares it.
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

/// What an invalidation says: some keys (a RESP array, ready to send), or "everything"
/// (FLUSHDB, FLUSHALL).
#[derive(Debug, Clone)]
enum Payload {
    Keys(Arc<Vec<u8>>),
    Flush,
}

/// One client's tracking state (in its [`ClientInfo`]).
#[derive(Debug, Default)]
pub struct ClientTracking {
    pub on: bool,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    /// CLIENT CACHING YES (under OPTIN) or NO (under OPTOUT), for the next command.
    pub caching: bool,
    pub noloop: bool,
    /// The client it redirects to has gone.
    pub broken_redirect: bool,
    /// 0: none.
    pub redirect: u64,
    pub prefixes: BTreeSet<Box<[u8]>>,
    /// One of its commands is running: invalidations wait in `pending` until its reply.
    executing: bool,
    pending: Vec<Payload>,
}

/// The options of CLIENT TRACKING ON.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Vec<u8>>,
}

#[derive(Default)]
struct Table {
    /// Key -> the clients that may cache it.
    keys: HashMap<Box<[u8]>, Vec<u64>>,
    /// Client ids across all keys (INFO `tracking_total_items`).
    items: usize,
    /// BCAST prefixes: their clients, and the keys changed since the last broadcast with
    /// the client that changed each (for NOLOOP).
    prefixes: BTreeMap<Box<[u8]>, Bcast>,
}

/// Keys changed under a prefix, each with the client that last changed it.
type ChangedKeys = BTreeMap<Box<[u8]>, u64>;

#[derive(Default)]
struct Bcast {
    keys: ChangedKeys,
    clients: BTreeSet<u64>,
}

pub struct Tracking {
    /// Clients with tracking on (INFO `tracking_clients`); 0 turns every hook off.
    on: AtomicUsize,
    table: Mutex<Table>,
    clients: Arc<Clients>,
    config: Arc<Config>,
    /// Rounds in a row the table stayed over `tracking-table-max-keys` (more effort each).
    over_limit_rounds: AtomicUsize,
    /// Keys in the table: while there are any, changes are looked up even when no client
    /// tracks any more (Redis drops them as they change).
    keys: AtomicUsize,
    /// A change matched a BCAST prefix: the next broadcast (at the end of any client's
    /// batch, before one parks, or from the cron thread) has work.
    bcast_due: AtomicBool,
    /// Clients track, or the table still has keys: changes must be looked up.
    active: Arc<AtomicBool>,
}

impl Tracking {
    pub fn new(clients: Arc<Clients>, config: Arc<Config>) -> Self {
        Tracking {
            on: AtomicUsize::new(0),
            table: Mutex::new(Table::default()),
            clients,
            config,
            over_limit_rounds: AtomicUsize::new(0),
            keys: AtomicUsize::new(0),
            bcast_due: AtomicBool::new(false),
            active: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Recomputes whether changes must be looked up, under the table's lock (so that two
    /// recomputations cannot store their answers out of order).
    fn set_active(&self, table: &Table) {
        let on = self.on.load(Ordering::Relaxed) > 0 || !table.keys.is_empty();
        self.active.store(on, Ordering::Relaxed);
    }

    /// [`Tracking::set_active`] after the count of tracking clients changed.
    fn refresh_active(&self) {
        let table = self.table.lock();
        self.set_active(&table);
    }

    /// INFO: tracking clients, keys, items, prefixes.
    pub fn totals(&self) -> (usize, usize, usize, usize) {
        let t = self.table.lock();
        (
            self.on.load(Ordering::Relaxed),
            t.keys.len(),
            t.items,
            t.prefixes.len(),
        )
    }

    /// CLIENT TRACKING ON (options already checked against each other and the client's
    /// state). Redis's `enableTracking`.
    pub fn enable(&self, info: &ClientInfo, opts: &Options) {
        let mut t = info.tracking.lock();
        if !t.on {
            self.on.fetch_add(1, Ordering::Relaxed);
            self.refresh_active();
        }
        t.on = true;
        t.broken_redirect = false;
        t.redirect = opts.redirect;
        t.bcast = opts.bcast;
        t.optin = opts.optin;
        t.optout = opts.optout;
        t.noloop = opts.noloop;
        if opts.bcast {
            let mut table = self.table.lock();
            let empty: &[u8] = b"";
            let prefixes: Vec<&[u8]> = if opts.prefixes.is_empty() {
                vec![empty]
            } else {
                opts.prefixes.iter().map(Vec::as_slice).collect()
            };
            for p in prefixes {
                table
                    .prefixes
                    .entry(Box::from(p))
                    .or_default()
                    .clients
                    .insert(info.id);
                t.prefixes.insert(Box::from(p));
            }
        }
    }

    /// CLIENT TRACKING OFF, RESET, or the connection's end (Redis's `disableTracking`).
    pub fn disable(&self, info: &ClientInfo) {
        let mut t = info.tracking.lock();
        if !t.prefixes.is_empty() {
            let mut table = self.table.lock();
            for p in std::mem::take(&mut t.prefixes) {
                if let Some(b) = table.prefixes.get_mut(&p) {
                    b.clients.remove(&info.id);
                    if b.clients.is_empty() {
                        table.prefixes.remove(&p);
                    }
                }
            }
        }
        if t.on {
            self.on.fetch_sub(1, Ordering::Relaxed);
            self.refresh_active();
        }
        // Invalidations held for its reply still follow it (Redis sends them after EXEC even
        // if the transaction turned tracking off).
        let (executing, pending) = (t.executing, std::mem::take(&mut t.pending));
        *t = ClientTracking {
            executing,
            pending,
            ..ClientTracking::default()
        };
    }

    /// Before one of a tracking client's commands runs: it counts as executing (see the
    /// module's note), and the keys a read-only command reads are remembered for it first
    /// (Redis's `trackingRememberKeys`, with OPTIN/OPTOUT's CLIENT CACHING).
    pub fn before_command(&self, info: &ClientInfo, read_keys: Option<Vec<&[u8]>>) {
        CURRENT.with(|c| c.set(info.id));
        let mut t = info.tracking.lock();
        t.executing = true;
        if !t.on || t.bcast {
            return;
        }
        if (t.optin && !t.caching) || (t.optout && t.caching) {
            return;
        }
        drop(t);
        let Some(keys) = read_keys else {
            return;
        };
        let over = {
            let mut table = self.table.lock();
            let table = &mut *table;
            for key in keys {
                let ids = match table.keys.get_mut(key) {
                    Some(ids) => ids,
                    None => table.keys.entry(Box::from(key)).or_default(),
                };
                if !ids.contains(&info.id) {
                    ids.push(info.id);
                    table.items += 1;
                }
            }
            self.keys.store(table.keys.len(), Ordering::Relaxed);
            self.set_active(table);
            let max = self.config.tracking_table_max_keys();
            max != 0 && table.keys.len() > max
        };
        // Redis checks the limit before every command; here, when a read grew the table.
        if over {
            self.limit();
        }
    }

    /// After the command's reply is on its way: the invalidations held back go out, and
    /// CLIENT CACHING's one-command effect ends (unless the command was CLIENT itself, or
    /// was queued in MULTI).
    pub fn after_command(&self, info: &Arc<ClientInfo>, keep_caching: bool) {
        CURRENT.with(|c| c.set(0));
        let mut t = info.tracking.lock();
        t.executing = false;
        if !keep_caching {
            t.caching = false;
        }
        for p in std::mem::take(&mut t.pending) {
            self.send_locked(info, &mut t, &p);
        }
    }

    /// A parked client is being served: invalidations wait for its reply.
    pub fn hold(&self, info: &ClientInfo) {
        info.tracking.lock().executing = true;
    }

    /// Its reply is on its way: the invalidations held back follow.
    pub fn release(&self, info: &Arc<ClientInfo>) {
        let mut t = info.tracking.lock();
        t.executing = false;
        for p in std::mem::take(&mut t.pending) {
            self.send_locked(info, &mut t, &p);
        }
    }

    /// Sends `payload` to tracking client `info` (or where it redirects), or holds it back
    /// while one of its commands runs.
    fn send(&self, info: &Arc<ClientInfo>, payload: Payload) {
        let mut t = info.tracking.lock();
        if !t.on {
            return;
        }
        if t.executing {
            t.pending.push(payload);
            return;
        }
        self.send_locked(info, &mut t, &payload);
    }

    /// Redis's `sendTrackingMessage`.
    fn send_locked(&self, info: &Arc<ClientInfo>, t: &mut ClientTracking, payload: &Payload) {
        let own_resp = info.resp.load(Ordering::Relaxed);
        let body: &[u8] = match payload {
            Payload::Keys(keys) => keys,
            Payload::Flush if own_resp >= 3 => b"_\r\n",
            Payload::Flush => b"$-1\r\n",
        };
        let mut to = Arc::clone(info);
        if t.redirect != 0 {
            match self.clients.get(t.redirect) {
                Some(r) => to = r,
                None => {
                    t.broken_redirect = true;
                    if own_resp >= 3 {
                        let frame =
                            format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{}\r\n", t.redirect);
                        info.deliver(frame.as_bytes(), &self.config);
                    }
                    return;
                }
            }
        }
        let mut frame = Vec::with_capacity(body.len() + 48);
        if to.resp.load(Ordering::Relaxed) >= 3 {
            frame.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
        } else if t.redirect != 0 && to.is_subscribed() {
            frame.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
        } else {
            // RESP2 has no push frames: a RESP2 client hears of invalidations only through
            // a redirection to a subscribed connection.
            return;
        }
        frame.extend_from_slice(body);
        to.want_outbox();
        to.deliver(&frame, &self.config);
    }

    /// Everything changed (FLUSHDB, FLUSHALL): every tracking client is told with a null,
    /// and the table is emptied (Redis's `trackingInvalidateKeysOnFlush`).
    pub fn flush(&self) {
        let old = {
            let mut table = self.table.lock();
            table.items = 0;
            self.keys.store(0, Ordering::Relaxed);
            let old = std::mem::take(&mut table.keys);
            self.set_active(&table);
            old
        };
        drop(old);
        if self.on.load(Ordering::Relaxed) == 0 {
            return;
        }
        for c in self.clients.list() {
            if c.tracking.lock().on {
                self.send(&c, Payload::Flush);
            }
        }
    }

    /// Sends each BCAST client the keys under its prefixes changed since the last broadcast
    /// (Redis's `trackingBroadcastInvalidationMessages`). Called at the end of a batch that
    /// changed such a key, and by the cron thread.
    pub fn broadcast(&self) {
        // A plain load first: every thread asks at the end of every batch, and a swap would
        // bounce the flag's cache line between them.
        if !self.bcast_due.load(Ordering::Relaxed) || !self.bcast_due.swap(false, Ordering::AcqRel)
        {
            return;
        }
        let mut work: Vec<(ChangedKeys, Vec<u64>)> = Vec::new();
        {
            let mut table = self.table.lock();
            for b in table.prefixes.values_mut() {
                if !b.keys.is_empty() {
                    work.push((
                        std::mem::take(&mut b.keys),
                        b.clients.iter().copied().collect(),
                    ));
                }
            }
        }
        for (keys, ids) in work {
            let all = Arc::new(key_array(keys.keys().map(|k| &**k)));
            for id in ids {
                let Some(c) = self.clients.get(id) else {
                    continue;
                };
                let noloop = c.tracking.lock().noloop;
                if noloop && keys.values().any(|by| *by == id) {
                    let others: Vec<&[u8]> = keys
                        .iter()
                        .filter(|(_, by)| **by != id)
                        .map(|(k, _)| &**k)
                        .collect();
                    if !others.is_empty() {
                        let own = Arc::new(key_array(others.into_iter()));
                        self.send(&c, Payload::Keys(own));
                    }
                } else {
                    self.send(&c, Payload::Keys(Arc::clone(&all)));
                }
            }
        }
    }

    /// Keeps the table within `tracking-table-max-keys` by invalidating keys (Redis's
    /// `trackingLimitUsedSlots`: more keys each round it stays over). The cron calls it, and
    /// so does every command before it runs or is queued, as Redis's processCommand does.
    pub fn limit(&self) {
        let max = self.config.tracking_table_max_keys();
        if max == 0 || self.keys.load(Ordering::Relaxed) <= max {
            // (Read first: every command comes here, and a store would bounce the line.)
            if self.over_limit_rounds.load(Ordering::Relaxed) != 0 {
                self.over_limit_rounds.store(0, Ordering::Relaxed);
            }
            return;
        }
        let effort = 100 * (self.over_limit_rounds.load(Ordering::Relaxed) + 1);
        // One pass over the table picks the victims (a fresh walk per key would rescan the
        // emptied buckets each time).
        let victims: Vec<Box<[u8]>> = {
            let t = self.table.lock();
            let excess = t.keys.len().saturating_sub(max);
            t.keys.keys().take(excess.min(effort)).cloned().collect()
        };
        for k in &victims {
            self.invalidate(k, 0, false);
        }
        if self.keys.load(Ordering::Relaxed) > max {
            self.over_limit_rounds.fetch_add(1, Ordering::Relaxed);
        } else {
            self.over_limit_rounds.store(0, Ordering::Relaxed);
        }
    }

    /// Redis's `trackingInvalidateKey`: `by` changed `key` (0: no client, as expiry).
    fn invalidate(&self, key: &[u8], by: u64, bcast: bool) {
        let ids = {
            let mut table = self.table.lock();
            if bcast && !table.prefixes.is_empty() {
                let mut due = false;
                for (p, b) in table.prefixes.iter_mut() {
                    if key.starts_with(p) {
                        b.keys.insert(Box::from(key), by);
                        due = true;
                    }
                }
                if due {
                    self.bcast_due.store(true, Ordering::Release);
                }
            }
            let Some(ids) = table.keys.remove(key) else {
                return;
            };
            table.items -= ids.len();
            self.keys.store(table.keys.len(), Ordering::Relaxed);
            self.set_active(&table);
            ids
        };
        let payload = Payload::Keys(Arc::new(key_array(std::iter::once(key))));
        for id in ids {
            let Some(c) = self.clients.get(id) else {
                continue;
            };
            {
                let t = c.tracking.lock();
                // A client that switched to BCAST since reading the key is not told.
                if !t.on || t.bcast || (t.noloop && id == by) {
                    continue;
                }
            }
            self.send(&c, payload.clone());
        }
    }
}

impl Invalidate for Tracking {
    fn active_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.active)
    }

    fn key(&self, key: &[u8]) {
        self.invalidate(key, CURRENT.with(Cell::get), true);
    }
}

/// A RESP array of bulk strings.
fn key_array<'a>(keys: impl Iterator<Item = &'a [u8]> + Clone) -> Vec<u8> {
    let mut out = format!("*{}\r\n", keys.clone().count()).into_bytes();
    for k in keys {
        out.extend_from_slice(format!("${}\r\n", k.len()).as_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(b"\r\n");
    }
    out
}
