//! Streams (Redis's `t_stream.c` data side): an append-only log of entries, each a stream ID
//! and field-value pairs, with consumer groups.
//!
//! **Memory.** Entries live in packed nodes, like Redis's listpacks in a radix tree: a
//! `BTreeMap` keyed by each node's first ID ("master ID") holds byte buffers of up to
//! `stream-node-max-entries` entries (or `stream-node-max-bytes`). A node starts with its
//! master fields (the first entry's field names); an entry whose fields are the same, in the
//! same order, stores only its values. IDs are delta-encoded against the previous entry of
//! the node as LEB128 varints, so entries added in the same millisecond cost 3 bytes of
//! header plus their values. Only the tail node grows; a node that is closed is shrunk to
//! fit. Deleting marks an entry (a tombstone, as in Redis) and a node whose entries are all
//! deleted is freed.
//!
//! **Node boundaries are Redis's.** Each node also counts the bytes Redis's listpack for the
//! same entries would take, and a new node starts exactly where Redis would start one, so
//! approximate trimming (which only drops whole nodes) and XINFO's `radix-tree-keys` give
//! Redis's answers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A stream entry ID: milliseconds and sequence, ordered as a 128-bit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, or `None` past the last possible one (Redis's `streamIncrID`).
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                return None;
            }
            return Some(StreamId::new(self.ms + 1, 0));
        }
        Some(StreamId::new(self.ms, self.seq + 1))
    }

    /// The previous ID, or `None` before 0-0 (Redis's `streamDecrID`).
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                return None;
            }
            return Some(StreamId::new(self.ms - 1, u64::MAX));
        }
        Some(StreamId::new(self.ms, self.seq - 1))
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// `ms-seq`, as replies show it.
    pub fn to_bytes(self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// `stream-node-max-entries` and `stream-node-max-bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub node_max_entries: u64,
    pub node_max_bytes: u64,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            node_max_entries: 100,
            node_max_bytes: 4096,
        }
    }
}

/// Redis's `STREAM_LISTPACK_MAX_SIZE`: no entry may be larger, and no node.
pub const LISTPACK_MAX_SIZE: u64 = 1 << 30;

/// Redis's `SCG_INVALID_ENTRIES_READ`: a group's read counter is unknown.
pub const INVALID_ENTRIES_READ: i64 = -1;

const DELETED: u8 = 1;
const SAME_FIELDS: u8 = 2;

// ---- varints

use super::pack::{get_varint, put_varint};

fn get_str<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = get_varint(buf, pos) as usize;
    let s = &buf[*pos..*pos + len];
    *pos += len;
    s
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

// ---- what Redis's listpack would take (for node boundaries)

/// A listpack element's back-length bytes for an encoding of `l` bytes.
fn lp_backlen(l: u64) -> u64 {
    super::listpack::backlen_size(usize::try_from(l).unwrap_or(usize::MAX)) as u64
}

/// Bytes of an integer element.
fn lp_int(v: i64) -> u64 {
    let enc = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    };
    enc + lp_backlen(enc)
}

/// Bytes of a string element (a string that reads as an integer is stored as one).
fn lp_str(s: &[u8]) -> u64 {
    if let Some(v) = crate::protocol::parse_i64(s) {
        return lp_int(v);
    }
    let len = s.len() as u64;
    let enc = len
        + match len {
            0..=63 => 1,
            64..=4095 => 2,
            _ => 5,
        };
    enc + lp_backlen(enc)
}

// ---- nodes

/// One packed node: the master fields, then the entries.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    buf: Vec<u8>,
    /// Where the entries start (after the master fields).
    entries_at: u32,
    /// Entries not deleted / deleted.
    live: u32,
    deleted: u32,
    /// The bytes of Redis's listpack for this node, without its two counters.
    lp_rest: u64,
    /// The ID of the last entry written (deltas are taken from it).
    last: StreamId,
}

/// An entry as found in a node.
#[derive(Debug, Clone, Copy)]
struct Raw {
    id: StreamId,
    /// Offset of its flags byte.
    at: usize,
    /// Offset after its ID.
    body: usize,
    flags: u8,
}

impl Node {
    /// A node whose master ID is `master_id` and whose master fields are those of `pairs`
    /// (field, value, ...), the entry it is made for.
    fn new(master_id: StreamId, pairs: &[Vec<u8>]) -> Node {
        let mut buf = Vec::with_capacity(64);
        let n = pairs.len() / 2;
        put_varint(&mut buf, n as u64);
        let mut lp_rest = 6 + 1 + lp_int(n as i64) + lp_int(0);
        for p in pairs.chunks(2) {
            put_str(&mut buf, &p[0]);
            lp_rest += lp_str(&p[0]);
        }
        Node {
            entries_at: buf.len() as u32,
            buf,
            live: 0,
            deleted: 0,
            lp_rest,
            last: master_id,
        }
    }

    /// What Redis's `lpBytes` would say.
    fn lp_bytes(&self) -> u64 {
        self.lp_rest + lp_int(i64::from(self.live)) + lp_int(i64::from(self.deleted))
    }

    fn master_fields(&self) -> impl Iterator<Item = &[u8]> {
        let mut pos = 0;
        let n = get_varint(&self.buf, &mut pos);
        (0..n).map(move |_| get_str(&self.buf, &mut pos))
    }

    fn master_count(&self) -> u64 {
        let mut pos = 0;
        get_varint(&self.buf, &mut pos)
    }

    /// Do `pairs` have the master fields, in order?
    fn same_fields(&self, pairs: &[Vec<u8>]) -> bool {
        if self.master_count() != (pairs.len() / 2) as u64 {
            return false;
        }
        self.master_fields()
            .zip(pairs.chunks(2))
            .all(|(m, p)| m == p[0].as_slice())
    }

    /// Appends entry `id` (greater than every ID in the node).
    fn push(&mut self, master: StreamId, id: StreamId, pairs: &[Vec<u8>]) {
        let n = pairs.len() / 2;
        if self.same_fields(pairs) {
            self.push_items(
                master,
                id,
                true,
                n,
                pairs.chunks(2).map(|p| p[1].as_slice()),
            );
        } else {
            self.push_items(master, id, false, n, pairs.iter().map(Vec::as_slice));
        }
    }

    /// Appends entry `id` with `n` pairs: `items` are the values when it has the master
    /// fields (`same`), else field, value, field, value...
    fn push_items<'a>(
        &mut self,
        master: StreamId,
        id: StreamId,
        same: bool,
        n: usize,
        items: impl Iterator<Item = &'a [u8]> + Clone,
    ) {
        let mut add = Vec::with_capacity(8 + items.clone().map(|p| p.len() + 2).sum::<usize>());
        add.push(if same { SAME_FIELDS } else { 0 });
        let ms_delta = id.ms - self.last.ms;
        put_varint(&mut add, ms_delta);
        put_varint(
            &mut add,
            if ms_delta == 0 {
                id.seq - self.last.seq
            } else {
                id.seq
            },
        );
        let mut lp = lp_int(if same { 2 } else { 0 })
            + lp_int(id.ms.wrapping_sub(master.ms) as i64)
            + lp_int(id.seq.wrapping_sub(master.seq) as i64);
        if !same {
            put_varint(&mut add, n as u64);
            lp += lp_int(n as i64);
        }
        for x in items {
            put_str(&mut add, x);
            lp += lp_str(x);
        }
        lp += lp_int(if same { n as i64 + 3 } else { 2 * n as i64 + 4 });
        // Only the tail node grows: doubling costs at most one node's slack per stream.
        if self.buf.capacity() - self.buf.len() < add.len() {
            self.buf.reserve(add.len().max(self.buf.len()));
        }
        self.buf.extend_from_slice(&add);
        self.lp_rest += lp;
        self.live += 1;
        self.last = id;
    }

    /// Every entry, deleted ones included, in order; the node's key is `master`.
    fn raws(&self, master: StreamId) -> Vec<Raw> {
        let mut out = Vec::with_capacity((self.live + self.deleted) as usize);
        let nmaster = self.master_count();
        let (mut pos, mut prev) = (self.entries_at as usize, master);
        while pos < self.buf.len() {
            let raw = self.raw_at(&mut pos, prev, nmaster);
            out.push(raw);
            prev = raw.id;
        }
        out
    }

    /// The entry whose flags byte is at `pos`, the one before it having ID `prev` (the
    /// node's key for the first), of a node with `nmaster` master fields; `pos` moves to
    /// the next entry.
    fn raw_at(&self, pos: &mut usize, prev: StreamId, nmaster: u64) -> Raw {
        let at = *pos;
        let flags = self.buf[at];
        *pos += 1;
        let ms_delta = get_varint(&self.buf, pos);
        let s = get_varint(&self.buf, pos);
        let id = if ms_delta == 0 {
            StreamId::new(prev.ms, prev.seq.wrapping_add(s))
        } else {
            StreamId::new(prev.ms.wrapping_add(ms_delta), s)
        };
        let body = *pos;
        if flags & SAME_FIELDS != 0 {
            for _ in 0..nmaster {
                get_str(&self.buf, pos);
            }
        } else {
            let n = get_varint(&self.buf, pos);
            for _ in 0..2 * n {
                get_str(&self.buf, pos);
            }
        }
        Raw {
            id,
            at,
            body,
            flags,
        }
    }

    /// The field-value pairs of an entry.
    fn pairs(&self, raw: &Raw) -> Vec<(&[u8], &[u8])> {
        let mut pos = raw.body;
        if raw.flags & SAME_FIELDS != 0 {
            self.master_fields()
                .map(|f| (f, get_str(&self.buf, &mut pos)))
                .collect()
        } else {
            let n = get_varint(&self.buf, &mut pos);
            (0..n)
                .map(|_| {
                    let f = get_str(&self.buf, &mut pos);
                    (f, get_str(&self.buf, &mut pos))
                })
                .collect()
        }
    }

    /// Marks the entry whose flags are at `at` deleted.
    fn mark_deleted(&mut self, at: usize) {
        self.buf[at] |= DELETED;
        self.live -= 1;
        self.deleted += 1;
    }
}

/// An entry read from a stream: its ID and field-value pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<'a> {
    pub id: StreamId,
    pub pairs: Vec<(&'a [u8], &'a [u8])>,
}

// ---- consumer groups

/// A delivered, not yet acknowledged entry (Redis's `streamNACK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    /// Unix ms of the last delivery.
    pub delivery_time: i64,
    pub delivery_count: u64,
    /// The consumer that has it.
    pub consumer: Box<[u8]>,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consumer {
    /// Unix ms of its last activity.
    pub seen_time: i64,
    /// The IDs pending for it (their NACKs are in the group's PEL).
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group (Redis's `streamCG`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    /// The logical read counter, or [`INVALID_ENTRIES_READ`].
    pub entries_read: i64,
    /// Pending entries, by ID.
    pub pel: BTreeMap<StreamId, Nack>,
    /// Consumers by name (ordered, as Redis's radix tree lists them).
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer `name`, created if missing (seen now either way); true if created.
    pub fn touch_consumer(&mut self, name: &[u8], now: i64) -> bool {
        match self.consumers.get_mut(name) {
            Some(c) => {
                c.seen_time = now;
                false
            }
            None => {
                self.consumers.insert(
                    Box::from(name),
                    Consumer {
                        seen_time: now,
                        pel: BTreeSet::new(),
                    },
                );
                true
            }
        }
    }

    /// Drops `id` from the PEL and from its consumer's; true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Hands pending entry `id` (which must exist in the PEL) to `consumer`.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8]) {
        let Some(nack) = self.pel.get_mut(&id) else {
            return;
        };
        if *nack.consumer != *consumer {
            if let Some(c) = self.consumers.get_mut(&nack.consumer) {
                c.pel.remove(&id);
            }
            nack.consumer = Box::from(consumer);
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }

    /// Removes a consumer and its pending entries; returns how many it had.
    pub fn remove_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }
}

// ---- the stream

/// A stream value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    len: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Box<[u8]>, Group>,
}

/// How XADD and XTRIM trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// Why an append failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendError {
    /// The ID is not greater than the top item's.
    TooSmall,
    /// The elements are larger than a node may be.
    TooLarge,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Entries not deleted.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Allocations freeing it costs, as Redis estimates them: every node, and every group
    /// with as many pending entries as the first one has.
    pub fn free_effort(&self) -> usize {
        let groups = self.groups.len();
        let pel = self.groups.values().next().map_or(0, |g| g.pel.len());
        self.nodes.len() + groups * (1 + pel)
    }

    /// Nodes (XINFO's `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Bytes held on the heap (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        let node = std::mem::size_of::<Node>() + std::mem::size_of::<StreamId>() + 16;
        let nodes: usize = self.nodes.values().map(|n| node + n.buf.capacity()).sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(name, g)| {
                name.len()
                    + std::mem::size_of::<Group>()
                    + g.pel.values().map(|n| 64 + n.consumer.len()).sum::<usize>()
                    + g.consumers
                        .iter()
                        .map(|(k, c)| k.len() + 64 + 24 * c.pel.len())
                        .sum::<usize>()
            })
            .sum();
        std::mem::size_of::<Stream>() + nodes + groups
    }

    /// Redis's `radix-tree-nodes`: the nodes a radix tree of the 16-byte big-endian node
    /// keys has (one per key, one per branching point and per compressed run between them,
    /// and the root).
    pub fn radix_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self
            .nodes
            .keys()
            .map(|id| {
                let mut k = [0u8; 16];
                k[..8].copy_from_slice(&id.ms.to_be_bytes());
                k[8..].copy_from_slice(&id.seq.to_be_bytes());
                k
            })
            .collect();
        radix_count(&keys, 0)
    }

    /// The ID the next auto-generated entry gets at `now_ms` (Redis's `streamNextID`), or
    /// `None` if the last possible ID was used.
    pub fn next_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Adds an entry with ID `id` and flat `pairs` (field, value, ...). `id` must be greater
    /// than [`Stream::last_id`].
    pub fn append(
        &mut self,
        id: StreamId,
        pairs: &[Vec<u8>],
        limits: StreamLimits,
    ) -> Result<(), AppendError> {
        if id <= self.last_id {
            return Err(AppendError::TooSmall);
        }
        let total: u64 = pairs.iter().map(|p| p.len() as u64).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AppendError::TooLarge);
        }
        let max_bytes = match limits.node_max_bytes {
            0 => LISTPACK_MAX_SIZE,
            b => b.min(LISTPACK_MAX_SIZE),
        };
        let full = self.nodes.last_key_value().is_some_and(|(_, n)| {
            n.lp_bytes() + total >= max_bytes
                || (limits.node_max_entries > 0
                    && u64::from(n.live + n.deleted) >= limits.node_max_entries)
        });
        if full {
            if let Some(mut tail) = self.nodes.last_entry() {
                tail.get_mut().buf.shrink_to_fit();
            }
        }
        if full || self.nodes.is_empty() {
            self.nodes.insert(id, Node::new(id, pairs));
        }
        if let Some(mut tail) = self.nodes.last_entry() {
            let master = *tail.key();
            let node = tail.get_mut();
            node.push(master, id, pairs);
            // Eight entries in, a node that will likely fill up gets the room its entries
            // will take, in one step: doubling to the end and trimming when the next node
            // opens would leave each node's last doubling behind as a hole in the heap.
            let n = u64::from(node.live + node.deleted);
            if n == 8 && limits.node_max_entries > 8 {
                let per_entry = (node.buf.len() - node.entries_at as usize) / 8;
                let want = node.entries_at as usize
                    + per_entry * limits.node_max_entries.min(1 << 16) as usize;
                let cap = (max_bytes as usize).saturating_mul(2).max(node.buf.len());
                let want = want.min(cap);
                if want > node.buf.capacity() {
                    node.buf.reserve_exact(want - node.buf.len());
                }
            }
        }
        self.len += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.len == 1 {
            self.first_id = id;
        }
        Ok(())
    }

    /// Entries with IDs in `[start, end]`, oldest first (or newest first when `rev`).
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool) -> Range<'_> {
        Range {
            stream: self,
            start,
            end,
            rev,
            node: None,
            raws: Vec::new(),
            i: 0,
            pos: 0,
            prev: StreamId::MIN,
            nmaster: 0,
            done: start > end,
        }
    }

    /// The entry `id`, if present.
    pub fn get(&self, id: StreamId) -> Option<Item<'_>> {
        self.range(id, id, false).next()
    }

    pub fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// The first / last entry's ID (not deleted), if any.
    pub fn first_valid_id(&self) -> Option<StreamId> {
        self.range(StreamId::MIN, StreamId::MAX, false)
            .next()
            .map(|i| i.id)
    }

    pub fn last_valid_id(&self) -> Option<StreamId> {
        self.range(StreamId::MIN, StreamId::MAX, true)
            .next()
            .map(|i| i.id)
    }

    /// Deletes entry `id`; true if it was there (Redis's `streamDeleteItem`).
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&key, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(raw) = node
            .raws(key)
            .into_iter()
            .find(|r| r.id == id && r.flags & DELETED == 0)
        else {
            return false;
        };
        if node.live == 1 {
            self.nodes.remove(&key);
        } else {
            node.mark_deleted(raw.at);
        }
        self.len -= 1;
        true
    }

    /// XDEL's bookkeeping after deleting `ids` (those that were there).
    pub fn note_deleted(&mut self, deleted: &[StreamId]) {
        let mut first = false;
        for &id in deleted {
            if id == self.first_id {
                first = true;
            }
            if id > self.max_deleted_id {
                self.max_deleted_id = id;
            }
        }
        if !deleted.is_empty() {
            if self.len == 0 {
                self.first_id = StreamId::MIN;
            } else if first {
                self.first_id = self.first_valid_id().unwrap_or(StreamId::MAX);
            }
        }
    }

    /// Trims from the head (Redis's `streamTrim`): whole nodes while they may go, then, unless
    /// `approx`, entries inside the next one. `limit` (0: none) caps the entries removed.
    /// Returns how many were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        while let Some((&key, node)) = self.nodes.first_key_value() {
            if let Trim::MaxLen(max) = how {
                if self.len <= max {
                    break;
                }
            }
            let entries = u64::from(node.live);
            if limit > 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.len - entries >= max,
                Trim::MinId(min) => node.last < min,
            };
            if remove {
                self.nodes.remove(&key);
                self.len -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let Some(node) = self.nodes.get_mut(&key) else {
                break;
            };
            for raw in node.raws(key) {
                let stop = match how {
                    Trim::MaxLen(max) => self.len <= max,
                    Trim::MinId(min) => raw.id >= min,
                };
                if stop {
                    break;
                }
                if raw.flags & DELETED == 0 {
                    node.mark_deleted(raw.at);
                    self.len -= 1;
                    deleted += 1;
                }
            }
            break;
        }
        if self.len == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.first_valid_id().unwrap_or(StreamId::MAX);
        }
        deleted
    }

    /// Does `[start, end]` hold a tombstone (Redis's `streamRangeHasTombstones`)?
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.len == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// `id`'s logical read counter, if it can be known (Redis's
    /// `streamEstimateDistanceFromFirstEverEntry`); else [`INVALID_ENTRIES_READ`].
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.len == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        } else if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.len) as i64;
            } else if id == self.first_id {
                return (self.entries_added - self.len + 1) as i64;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// A group's lag, if it can be known (Redis's `streamReplyWithCGLag`).
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        match self.estimate_distance(g.last_id) {
            INVALID_ENTRIES_READ => None,
            read => Some(self.entries_added as i64 - read),
        }
    }

    /// A group delivered entry `id` (beyond its last ID): its last ID and read counter move
    /// on, as in Redis's `streamReplyWithRange`.
    pub fn advance_group(&mut self, group: &[u8], id: StreamId) {
        let tombstones = self.range_has_tombstones(id, StreamId::MAX);
        let estimate = if self.entries_added > 0 {
            Some(self.estimate_distance(id))
        } else {
            None
        };
        if let Some(g) = self.groups.get_mut(group) {
            if id > g.last_id {
                if g.entries_read != INVALID_ENTRIES_READ && !tombstones {
                    g.entries_read += 1;
                } else if let Some(e) = estimate {
                    g.entries_read = e;
                }
                g.last_id = id;
            }
        }
    }
}

/// Owned field-value pairs (entries handed out while the stream changes).
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

impl Item<'_> {
    pub fn to_owned_pairs(&self) -> Pairs {
        self.pairs
            .iter()
            .map(|(f, v)| (f.to_vec(), v.to_vec()))
            .collect()
    }
}

impl Stream {
    /// Delivers entries from `start` on (at most `count`, 0: no limit) to `consumer` of
    /// `group` (which must exist, as must the consumer): the group's last ID moves past
    /// them and, unless `noack`, they become pending for the consumer (taken from another
    /// consumer if pending there), as Redis's `streamReplyWithRange` with a group does.
    pub fn deliver_new(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        start: StreamId,
        count: usize,
        noack: bool,
        now: i64,
    ) -> Vec<(StreamId, Pairs)> {
        let items: Vec<(StreamId, Pairs)> = self
            .range(start, StreamId::MAX, false)
            .take(if count == 0 { usize::MAX } else { count })
            .map(|i| (i.id, i.to_owned_pairs()))
            .collect();
        for (id, _) in &items {
            self.advance_group(group, *id);
            if noack {
                continue;
            }
            let Some(g) = self.groups.get_mut(group) else {
                continue;
            };
            match g.pel.get_mut(id) {
                Some(nack) => {
                    nack.delivery_time = now;
                    nack.delivery_count = 1;
                }
                None => {
                    g.pel.insert(
                        *id,
                        Nack {
                            delivery_time: now,
                            delivery_count: 1,
                            consumer: Box::from(consumer),
                        },
                    );
                }
            }
            g.assign(*id, consumer);
        }
        items
    }

    /// Re-delivers `consumer`'s pending entries from `start` on (at most `count`, 0: no
    /// limit): each one still in the stream counts one more delivery; a deleted one comes
    /// back as `None` (Redis's `streamReplyWithRangeFromConsumerPEL`).
    pub fn deliver_history(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        start: StreamId,
        count: usize,
        now: i64,
    ) -> Vec<(StreamId, Option<Pairs>)> {
        let ids: Vec<StreamId> = self
            .groups
            .get(group)
            .and_then(|g| g.consumers.get(consumer))
            .map(|c| {
                c.pel
                    .range(start..)
                    .take(if count == 0 { usize::MAX } else { count })
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let pairs = self.get(id).map(|i| i.to_owned_pairs());
            if pairs.is_some() {
                if let Some(nack) = self.groups.get_mut(group).and_then(|g| g.pel.get_mut(&id)) {
                    nack.delivery_time = now;
                    nack.delivery_count += 1;
                }
            }
            out.push((id, pairs));
        }
        out
    }
}

/// Nodes of a radix tree holding `keys` (sorted, distinct, equal length) below a node at
/// depth `depth` (Redis's rax: a run of single-child bytes is one compressed node, a
/// branching point one node, each key ends in a node of its own).
fn radix_count(keys: &[[u8; 16]], depth: usize) -> usize {
    fn below(keys: &[[u8; 16]], depth: usize) -> usize {
        // Nodes under a node at `depth` whose keys all share bytes before `depth`.
        if keys.len() <= 1 || depth >= 16 {
            // A single key: one compressed run (if bytes remain) and its end node.
            return if depth >= 16 { 0 } else { 1 };
        }
        // Longest common prefix from `depth`.
        let (first, last) = (&keys[0], &keys[keys.len() - 1]);
        let mut d = depth;
        while d < 16 && first[d] == last[d] {
            d += 1;
        }
        let mut n = 0;
        if d > depth {
            // A compressed run to the branching point.
            n += 1;
        }
        // The branching node's children.
        let mut i = 0;
        while i < keys.len() {
            let b = keys[i][d];
            let mut j = i;
            while j < keys.len() && keys[j][d] == b {
                j += 1;
            }
            // The child node after this byte, and what hangs below it.
            n += 1 + below(&keys[i..j], d + 1);
            i = j;
        }
        n
    }
    if keys.is_empty() {
        return 1;
    }
    1 + below(keys, depth)
}

// ---- RDB: nodes as Redis's listpacks

use super::listpack::{Elem, LpWriter};

/// Why a stream read from RDB is refused.
pub type Corrupt = &'static str;

impl Stream {
    /// Each node as RDB stores it: its master ID and a Redis listpack of the master entry
    /// (live count, deleted count, master fields, 0) followed by every entry, deleted ones
    /// included (flags, ID deltas from the master, values or fields and values, lp-count).
    pub fn rdb_nodes(&self) -> impl Iterator<Item = (StreamId, Vec<u8>)> + '_ {
        self.nodes.iter().map(|(&master, node)| {
            let mut lp = LpWriter::new();
            lp.push_int(i64::from(node.live));
            lp.push_int(i64::from(node.deleted));
            lp.push_int(node.master_count() as i64);
            for f in node.master_fields() {
                lp.push(f);
            }
            lp.push_int(0);
            for raw in node.raws(master) {
                lp.push_int(i64::from(raw.flags));
                lp.push_int(raw.id.ms.wrapping_sub(master.ms) as i64);
                lp.push_int(raw.id.seq.wrapping_sub(master.seq) as i64);
                let pairs = node.pairs(&raw);
                if raw.flags & SAME_FIELDS != 0 {
                    for (_, v) in &pairs {
                        lp.push(v);
                    }
                    lp.push_int(pairs.len() as i64 + 3);
                } else {
                    lp.push_int(pairs.len() as i64);
                    for (f, v) in &pairs {
                        lp.push(f);
                        lp.push(v);
                    }
                    lp.push_int(2 * pairs.len() as i64 + 4);
                }
            }
            (master, lp.finish())
        })
    }

    /// Adds a node read from RDB (the inverse of [`Stream::rdb_nodes`]). Nodes must come in
    /// order, each entry after the previous one; the counts in the master entry and each
    /// entry's lp-count must agree with what is there.
    pub fn push_rdb_node(&mut self, master: StreamId, lp: &[Elem<'_>]) -> Result<(), Corrupt> {
        const BAD: Corrupt = "Stream listpack integrity check failed.";
        let mut it = lp.iter().copied();
        let int = |it: &mut dyn Iterator<Item = Elem<'_>>| match it.next() {
            Some(Elem::Int(v)) => Ok(v),
            _ => Err(BAD),
        };
        let live = int(&mut it)?;
        let deleted = int(&mut it)?;
        let nfields = usize::try_from(int(&mut it)?).map_err(|_| BAD)?;
        if nfields > lp.len() {
            return Err(BAD);
        }
        let mut fields = Vec::with_capacity(2 * nfields);
        for _ in 0..nfields {
            fields.push(it.next().ok_or(BAD)?.to_vec());
            fields.push(Vec::new());
        }
        if int(&mut it)? != 0 {
            return Err(BAD);
        }
        if let Some((_, last)) = self.nodes.last_key_value() {
            if master <= last.last {
                return Err("Listpack re-added with existing key");
            }
        }
        let mut node = Node::new(master, &fields);
        let mut prev: Option<StreamId> = None;
        let mut dead = Vec::new();
        while let Some(flags) = it.next() {
            let Elem::Int(flags) = flags else {
                return Err(BAD);
            };
            let ms = master.ms.wrapping_add(int(&mut it)? as u64);
            let seq = master.seq.wrapping_add(int(&mut it)? as u64);
            let id = StreamId::new(ms, seq);
            if id < master || prev.is_some_and(|p| id <= p) {
                return Err(BAD);
            }
            prev = Some(id);
            // The values (same fields as the master entry) or the fields and values, as the
            // listpack has them: nothing copied per entry but integers written out.
            let same = flags & i64::from(SAME_FIELDS) != 0;
            let n = if same {
                nfields
            } else {
                usize::try_from(int(&mut it)?).map_err(|_| BAD)?
            };
            if n > lp.len() {
                return Err(BAD);
            }
            let mut items: Vec<std::borrow::Cow<'_, [u8]>> = Vec::with_capacity(2 * n);
            for _ in 0..if same { n } else { 2 * n } {
                items.push(match it.next().ok_or(BAD)? {
                    Elem::Str(s) => std::borrow::Cow::Borrowed(s),
                    e => std::borrow::Cow::Owned(e.to_vec()),
                });
            }
            let count = if same { n as i64 + 3 } else { 2 * n as i64 + 4 };
            if int(&mut it)? != count || flags & !i64::from(DELETED | SAME_FIELDS) != 0 {
                return Err(BAD);
            }
            let at = node.buf.len();
            node.push_items(master, id, same, n, items.iter().map(|c| c.as_ref()));
            if flags & i64::from(DELETED) != 0 {
                dead.push(at);
            }
        }
        if prev.is_none() {
            return Err("Empty listpack inside stream");
        }
        for at in dead {
            node.mark_deleted(at);
        }
        if i64::from(node.live) != live || i64::from(node.deleted) != deleted {
            return Err(BAD);
        }
        if node.live > 0 {
            node.buf.shrink_to_fit();
            self.len += u64::from(node.live);
            self.nodes.insert(master, node);
        }
        Ok(())
    }

    /// The ID of the last entry in a node, deleted or not (RDB loading checks the stream's
    /// `last_id` is not below it).
    pub fn last_node_id(&self) -> Option<StreamId> {
        self.nodes.last_key_value().map(|(_, n)| n.last)
    }

    /// Sets the entry count read from RDB; refused if it is not the count of live entries.
    pub fn check_rdb_len(&self, len: u64) -> Result<(), Corrupt> {
        if len == self.len {
            Ok(())
        } else {
            Err("Stream length inconsistent with rax entries")
        }
    }
}

/// An iterator over a range of entries (see [`Stream::range`]).
pub struct Range<'a> {
    stream: &'a Stream,
    start: StreamId,
    end: StreamId,
    rev: bool,
    node: Option<(StreamId, &'a Node)>,
    /// Backwards: the node's entries, decoded at once, and the next one's index.
    raws: Vec<Raw>,
    i: usize,
    /// Forwards: where the next entry starts, the ID before it, and the node's master field
    /// count (entries are decoded one at a time, so a `COUNT 10` read of a node of 100
    /// stops after the tenth).
    pos: usize,
    prev: StreamId,
    nmaster: u64,
    done: bool,
}

impl<'a> Range<'a> {
    /// Moves to the next node in the range's direction; false at the end.
    fn next_node(&mut self) -> bool {
        let nodes = &self.stream.nodes;
        let next = match (self.node, self.rev) {
            (None, false) => nodes
                .range(..=self.start)
                .next_back()
                .or_else(|| nodes.range(self.start..).next()),
            (Some((k, _)), false) => nodes
                .range((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded))
                .next(),
            (None, true) => nodes.range(..=self.end).next_back(),
            (Some((k, _)), true) => nodes.range(..k).next_back(),
        };
        let Some((&k, n)) = next else {
            return false;
        };
        if !self.rev && k > self.end {
            return false;
        }
        self.node = Some((k, n));
        if self.rev {
            self.raws = n.raws(k);
            self.raws.reverse();
            self.i = 0;
        } else {
            self.pos = n.entries_at as usize;
            self.prev = k;
            self.nmaster = n.master_count();
        }
        true
    }
}

impl<'a> Iterator for Range<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        loop {
            if self.done {
                return None;
            }
            let raw = match self.node {
                Some((_, n)) if !self.rev && self.pos < n.buf.len() => {
                    let raw = n.raw_at(&mut self.pos, self.prev, self.nmaster);
                    self.prev = raw.id;
                    raw
                }
                Some(_) if self.rev && self.i < self.raws.len() => {
                    self.i += 1;
                    self.raws[self.i - 1]
                }
                _ => {
                    if !self.next_node() {
                        self.done = true;
                        return None;
                    }
                    continue;
                }
            };
            if self.rev {
                if raw.id > self.end {
                    continue;
                }
                if raw.id < self.start {
                    self.done = true;
                    return None;
                }
            } else {
                if raw.id < self.start {
                    continue;
                }
                if raw.id > self.end {
                    self.done = true;
                    return None;
                }
            }
            if raw.flags & DELETED != 0 {
                continue;
            }
            let (_, node) = self.node?;
            return Some(Item {
                id: raw.id,
                pairs: node.pairs(&raw),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn ids(s: &Stream, rev: bool) -> Vec<StreamId> {
        s.range(StreamId::MIN, StreamId::MAX, rev)
            .map(|i| i.id)
            .collect()
    }

    #[test]
    fn append_range_delete() {
        let mut s = Stream::new();
        let lim = StreamLimits {
            node_max_entries: 3,
            node_max_bytes: 4096,
        };
        for i in 1..=10u64 {
            let p = if i % 3 == 0 {
                pairs(&["x", "1", "y", "2"])
            } else {
                pairs(&["a", &i.to_string()])
            };
            s.append(StreamId::new(i, i % 2), &p, lim).unwrap();
        }
        assert_eq!(s.len(), 10);
        assert_eq!(s.node_count(), 4);
        let all = ids(&s, false);
        assert_eq!(all.len(), 10);
        let mut rev = ids(&s, true);
        rev.reverse();
        assert_eq!(all, rev);
        let third = s.get(StreamId::new(3, 1)).unwrap();
        assert_eq!(
            third.pairs,
            vec![(&b"x"[..], &b"1"[..]), (&b"y"[..], &b"2"[..])]
        );
        assert_eq!(
            s.get(StreamId::new(4, 0)).unwrap().pairs,
            vec![(&b"a"[..], &b"4"[..])]
        );
        assert!(s.delete(StreamId::new(4, 0)));
        assert!(!s.delete(StreamId::new(4, 0)));
        assert_eq!(s.len(), 9);
        let r: Vec<_> = s
            .range(StreamId::new(3, 0), StreamId::new(6, 0), false)
            .map(|i| i.id)
            .collect();
        assert_eq!(
            r,
            vec![
                StreamId::new(3, 1),
                StreamId::new(5, 1),
                StreamId::new(6, 0)
            ]
        );
        assert_eq!(
            s.append(StreamId::new(10, 0), &pairs(&["a", "b"]), lim),
            Err(AppendError::TooSmall)
        );
        assert_eq!(s.trim(Trim::MaxLen(5), false, 0), 4);
        assert_eq!(s.len(), 5);
        assert_eq!(s.first_id, StreamId::new(6, 0));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(9, 0)), true, 0), 1);
        assert_eq!(ids(&s, false).first(), Some(&StreamId::new(7, 1)));
    }

    #[test]
    fn listpack_sizes() {
        assert_eq!(lp_int(0), 2);
        assert_eq!(lp_int(200), 3);
        assert_eq!(lp_str(b"hello"), 7);
        assert_eq!(lp_str(b"12"), 2);
        assert_eq!(lp_str(&[b'x'; 100]), 103);
    }

    #[test]
    fn radix_nodes_of_a_few_keys() {
        let mut s = Stream::new();
        assert_eq!(s.radix_nodes(), 1);
        s.append(
            StreamId::new(1, 0),
            &pairs(&["a", "b"]),
            StreamLimits::default(),
        )
        .unwrap();
        assert_eq!(s.radix_nodes(), 2);
    }
}
