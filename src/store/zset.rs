//! A sorted set as Redis keeps it, in less memory: small ones packed in one buffer (listpack),
//! big ones as a member index plus an order index, switching at Redis's thresholds
//! (`zset-max-listpack-entries`, `zset-max-listpack-value`).
//!
//! Order is Redis's: by score, then by member bytes. Scores are never NaN (commands refuse
//! it), so `partial_cmp` is total here; `-0` and `0` are equal scores, as in Redis.
//!
//! **Packed form:** a 2-byte count, then the entries in order, each a score and a
//! length-prefixed member. An integral score below 2^52 in magnitude is a LEB128 varint of
//! its zigzag value shifted left one bit (small integers take one byte, as in a listpack);
//! any other score is the byte `0x01` and its 8 bytes.
//!
//! **Big form** (Redis's skiplist + dict): members and scores in a slab of slots; a hash index
//! from member to slot; an order-statistic B+tree of slot ids ([`super::ostree`]) for ranks
//! and ranges in O(log n). A slot keeps its id while its member lives, so ZSCAN can walk the
//! slab by id and return every member present for the whole scan. Freed slots are reused;
//! when fewer than a quarter are live the slab is rebuilt in order (a ZSCAN that spans that
//! rebuild may miss members).

use super::dict::hash_bytes;
use super::ostree::OsTree;
use super::pack::{packed_count, put_len, read_str, set_packed_count, shrink};
use std::cmp::Ordering;

/// `zset-max-listpack-entries` / `zset-max-listpack-value` (Redis's defaults: 128, 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZSetLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Default for ZSetLimits {
    fn default() -> Self {
        ZSetLimits {
            max_entries: 128,
            max_value: 64,
        }
    }
}

/// Entries a packed sorted set can count (its count is 2 bytes).
const PACKED_MAX: usize = u16::MAX as usize;

/// Redis's order: by score, then member.
pub fn order(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then(m1.cmp(m2))
}

// ---- packed form

const INT_LIMIT: f64 = (1u64 << 52) as f64;

/// As Redis's listpack stores an integral score as an integer, `-0` comes back as `0`.
fn put_score(out: &mut Vec<u8>, s: f64) {
    if s.fract() == 0.0 && s.abs() < INT_LIMIT {
        let i = s as i64;
        let zigzag = ((i << 1) ^ (i >> 63)) as u64;
        put_len(out, (zigzag << 1) as usize);
    } else {
        out.push(1);
        out.extend_from_slice(&s.to_le_bytes());
    }
}

fn read_score(buf: &[u8], pos: usize) -> (f64, usize) {
    let (mut v, mut shift, mut p) = (0u64, 0, pos);
    loop {
        let b = buf[p];
        p += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    if v & 1 == 1 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&buf[p..p + 8]);
        return (f64::from_le_bytes(a), p + 8);
    }
    let zigzag = v >> 1;
    let i = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
    (i as f64, p)
}

fn encode_entry(member: &[u8], score: f64) -> Vec<u8> {
    let mut e = Vec::with_capacity(member.len() + 12);
    put_score(&mut e, score);
    put_len(&mut e, member.len());
    e.extend_from_slice(member);
    e
}

/// (member, score, start, end) of each packed entry, in order.
fn packed(buf: &[u8]) -> impl Iterator<Item = (&[u8], f64, usize, usize)> + '_ {
    let mut pos = 2.min(buf.len());
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        let start = pos;
        let (score, p) = read_score(buf, pos);
        let (member, end) = read_str(buf, p);
        pos = end;
        Some((member, score, start, end))
    })
}

// ---- big form

struct Slot {
    member: Box<[u8]>,
    /// NaN marks a free slot.
    score: f64,
}

/// Member -> slot id: open addressing with linear probing, deletion by backward shift.
struct Index {
    table: Vec<u32>,
    len: usize,
    seed: u64,
}

const EMPTY: u32 = u32::MAX;

impl Index {
    fn new() -> Self {
        Index {
            table: Vec::new(),
            len: 0,
            seed: super::rand_u64(),
        }
    }

    fn home(&self, member: &[u8]) -> usize {
        (hash_bytes(self.seed, member) as usize) & (self.table.len() - 1)
    }

    fn find(&self, slots: &[Slot], member: &[u8]) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        let mask = self.table.len() - 1;
        let mut i = self.home(member);
        loop {
            let id = self.table[i];
            if id == EMPTY {
                return None;
            }
            if &*slots[id as usize].member == member {
                return Some(id);
            }
            i = (i + 1) & mask;
        }
    }

    fn insert(&mut self, slots: &[Slot], id: u32) {
        if (self.len + 1) * 4 > self.table.len() * 3 {
            self.rebuild(slots, (self.table.len() * 2).max(8));
        }
        self.place(slots, id);
        self.len += 1;
    }

    fn place(&mut self, slots: &[Slot], id: u32) {
        let mask = self.table.len() - 1;
        let mut i = self.home(&slots[id as usize].member);
        while self.table[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.table[i] = id;
    }

    fn remove(&mut self, slots: &[Slot], member: &[u8]) {
        if self.table.is_empty() {
            return;
        }
        let mask = self.table.len() - 1;
        let mut i = self.home(member);
        loop {
            let id = self.table[i];
            if id == EMPTY {
                return;
            }
            if &*slots[id as usize].member == member {
                break;
            }
            i = (i + 1) & mask;
        }
        // Backward shift: pull later entries of the run into the hole when their home
        // position allows it.
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let id = self.table[j];
            if id == EMPTY {
                break;
            }
            let k = self.home(&slots[id as usize].member);
            let movable = if i <= j {
                k <= i || k > j
            } else {
                k <= i && k > j
            };
            if movable {
                self.table[i] = id;
                i = j;
            }
        }
        self.table[i] = EMPTY;
        self.len -= 1;
        if self.table.len() > 16 && self.len * 8 < self.table.len() {
            self.rebuild(slots, (self.len * 2).next_power_of_two().max(8));
        }
    }

    /// Re-places every live id (from the old table) in a table of `cap` entries.
    /// How many members hash to each position (DEBUG HTSTATS-KEY's chains: the entries
    /// whose home is that position).
    fn bucket_sizes(&self, slots: &[Slot]) -> Vec<usize> {
        let mut sizes = vec![0; self.table.len()];
        for &id in self.table.iter().filter(|&&id| id != EMPTY) {
            sizes[self.home(&slots[id as usize].member)] += 1;
        }
        sizes
    }

    fn rebuild(&mut self, slots: &[Slot], cap: usize) {
        let old = std::mem::replace(&mut self.table, vec![EMPTY; cap]);
        for id in old.into_iter().filter(|&id| id != EMPTY) {
            self.place(slots, id);
        }
    }
}

pub struct Big {
    slots: Vec<Slot>,
    free: Vec<u32>,
    index: Index,
    tree: OsTree,
}

impl Big {
    /// Redis's `dictGetStats` text for the member index.
    fn stats(&self) -> String {
        let sizes = self.index.bucket_sizes(&self.slots);
        super::dict::stats_text(self.index.table.len(), self.index.len, sizes.into_iter())
    }

    /// Builds from entries already in order and distinct.
    fn from_sorted(items: impl IntoIterator<Item = (Box<[u8]>, f64)>) -> Self {
        let slots: Vec<Slot> = items
            .into_iter()
            .map(|(member, score)| Slot { member, score })
            .collect();
        let mut index = Index::new();
        index.table = vec![EMPTY; (slots.len() * 4 / 3 + 1).next_power_of_two().max(8)];
        for id in 0..slots.len() as u32 {
            index.place(&slots, id);
        }
        index.len = slots.len();
        Big {
            tree: OsTree::from_sorted(0..slots.len() as u32),
            slots,
            free: Vec::new(),
            index,
        }
    }

    fn len(&self) -> usize {
        self.tree.len()
    }

    fn slot(&self, id: u32) -> (&[u8], f64) {
        let s = &self.slots[id as usize];
        (&s.member, s.score)
    }

    /// Does slot `id` sort before (score, member)?
    fn before(&self, id: u32, score: f64, member: &[u8]) -> bool {
        let (m, s) = self.slot(id);
        order(s, m, score, member) == Ordering::Less
    }

    fn rank_of(&self, score: f64, member: &[u8]) -> usize {
        self.tree.count_while(|x| self.before(x, score, member))
    }

    fn insert_new(&mut self, member: &[u8], score: f64) {
        let slot = Slot {
            member: Box::from(member),
            score,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = slot;
                id
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        let (slots, tree) = (&self.slots, &mut self.tree);
        tree.insert(id, |x| {
            let s = &slots[x as usize];
            order(s.score, &s.member, score, member) == Ordering::Less
        });
        self.index.insert(&self.slots, id);
    }

    fn set_score(&mut self, id: u32, score: f64) {
        let (member, old) = self.slot(id);
        let rank = self.rank_of(old, member);
        // Unmoved if it stays between its neighbours (Redis's zslUpdateScore shortcut).
        let prev_ok = rank == 0 || {
            let (pm, ps) = self.slot(self.tree.get(rank - 1).unwrap_or(id));
            order(ps, pm, score, member) == Ordering::Less
        };
        let next_ok = {
            let next = self.tree.get(rank + 1);
            next.is_none_or(|n| {
                let (nm, ns) = self.slot(n);
                order(score, member, ns, nm) == Ordering::Less
            })
        };
        if prev_ok && next_ok {
            self.slots[id as usize].score = score;
            return;
        }
        self.tree.remove_at(rank);
        self.slots[id as usize].score = score;
        let (slots, tree) = (&self.slots, &mut self.tree);
        let member = &slots[id as usize].member;
        tree.insert(id, |x| {
            let s = &slots[x as usize];
            order(s.score, &s.member, score, member) == Ordering::Less
        });
    }

    /// Removes the member at `rank` (in range); returns it and its score.
    fn remove_rank(&mut self, rank: usize) -> Option<(Vec<u8>, f64)> {
        let id = self.tree.remove_at(rank)?;
        // The index compares members through the slots: remove before the slot is emptied.
        self.index
            .remove(&self.slots, &self.slots[id as usize].member);
        let slot = &mut self.slots[id as usize];
        let member = std::mem::take(&mut slot.member);
        let score = std::mem::replace(&mut slot.score, f64::NAN);
        if id as usize == self.slots.len() - 1 {
            self.slots.pop();
        } else {
            self.free.push(id);
        }
        self.maybe_compact();
        Some((member.into_vec(), score))
    }

    /// Rebuilds the slab in order when under a quarter of it is live.
    fn maybe_compact(&mut self) {
        let live = self.len();
        if self.slots.len() > 64 && live * 4 < self.slots.len() {
            let items: Vec<(Box<[u8]>, f64)> = self
                .tree
                .iter()
                .collect::<Vec<_>>()
                .into_iter()
                .map(|id| {
                    let s = &mut self.slots[id as usize];
                    (std::mem::take(&mut s.member), s.score)
                })
                .collect();
            *self = Big::from_sorted(items);
        } else if self.free.capacity() > 64 && self.free.len() * 4 < self.free.capacity() {
            self.free.shrink_to_fit();
        }
    }

    fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.slots.iter().map(|s| s.member.len()).sum::<usize>()
            + self.free.capacity() * 4
            + self.index.table.capacity() * 4
            + self.tree.heap_bytes()
    }
}

// ---- the sorted set

pub enum ZSet {
    Packed(Vec<u8>),
    Big(Box<Big>),
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), s)),
            )
            .finish()
    }
}

impl Clone for ZSet {
    fn clone(&self) -> Self {
        match self {
            ZSet::Packed(b) => ZSet::Packed(b.clone()),
            ZSet::Big(_) => ZSet::Big(Box::new(Big::from_sorted(
                self.iter().map(|(m, s)| (Box::from(m), s)),
            ))),
        }
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((m1, s1), (m2, s2))| m1 == m2 && s1 == s2)
    }
}

impl Eq for ZSet {}

impl Default for ZSet {
    fn default() -> Self {
        Self::new()
    }
}

impl ZSet {
    /// DEBUG HTSTATS-KEY: the member index's stats, for the big form.
    pub fn table_stats(&self) -> Option<String> {
        match self {
            ZSet::Big(b) => Some(b.stats()),
            ZSet::Packed(_) => None,
        }
    }

    pub fn new() -> Self {
        ZSet::Packed(Vec::new())
    }

    /// A sorted set of `items` (distinct members, any order), in the form their number and
    /// sizes call for (Redis's `zsetConvertToListpackIfNeeded` for a new destination).
    pub fn from_items(mut items: Vec<(Vec<u8>, f64)>, limits: ZSetLimits) -> Self {
        items.sort_by(|a, b| order(a.1, &a.0, b.1, &b.0));
        let fits = items.len() <= limits.max_entries.min(PACKED_MAX)
            && items.iter().all(|(m, _)| m.len() <= limits.max_value);
        if fits {
            let mut b = vec![0, 0];
            for (m, s) in &items {
                b.extend_from_slice(&encode_entry(m, *s));
            }
            set_packed_count(&mut b, items.len());
            b.shrink_to_fit();
            ZSet::Packed(b)
        } else {
            ZSet::Big(Box::new(Big::from_sorted(
                items.into_iter().map(|(m, s)| (m.into_boxed_slice(), s)),
            )))
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Packed(b) => packed_count(b),
            ZSet::Big(z) => z.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Packed(_) => "listpack",
            ZSet::Big(_) => "skiplist",
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(b) => packed(b).find(|e| e.0 == member).map(|e| e.1),
            ZSet::Big(z) => z.index.find(&z.slots, member).map(|id| z.slot(id).1),
        }
    }

    /// Sets `member`'s score, adding it if new; true if it was added.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: ZSetLimits) -> bool {
        if let ZSet::Packed(b) = self {
            if member.len() > limits.max_value
                || packed_count(b) >= limits.max_entries.min(PACKED_MAX)
            {
                let exists = packed(b).any(|e| e.0 == member);
                if !exists {
                    self.convert();
                }
            }
        }
        match self {
            ZSet::Packed(b) => {
                let mut fresh = true;
                let found = packed(b).find(|e| e.0 == member).map(|e| (e.1, e.2, e.3));
                if let Some((old, start, end)) = found {
                    if old == score {
                        return false;
                    }
                    b.drain(start..end);
                    fresh = false;
                }
                let at = packed(b)
                    .find(|&(m, s, ..)| order(s, m, score, member) == Ordering::Greater)
                    .map_or(b.len().max(2), |e| e.2);
                let entry = encode_entry(member, score);
                if b.len() < 2 {
                    b.resize(2, 0);
                }
                b.reserve_exact(entry.len());
                b.splice(at..at, entry);
                let n = packed_count(b) + usize::from(fresh);
                set_packed_count(b, n);
                fresh
            }
            ZSet::Big(z) => match z.index.find(&z.slots, member) {
                Some(id) => {
                    if z.slot(id).1 != score {
                        z.set_score(id, score);
                    }
                    false
                }
                None => {
                    z.insert_new(member, score);
                    true
                }
            },
        }
    }

    /// The packed form moved into the big one (never back, as in Redis).
    fn convert(&mut self) {
        if let ZSet::Packed(b) = self {
            let items = packed(b).map(|(m, s, ..)| (Box::from(m), s));
            *self = ZSet::Big(Box::new(Big::from_sorted(items.collect::<Vec<_>>())));
        }
    }

    /// Removes `member`; its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(b) => {
                let (_, score, start, end) = packed(b).find(|e| e.0 == member)?;
                b.drain(start..end);
                let n = packed_count(b) - 1;
                set_packed_count(b, n);
                shrink(b, n);
                Some(score)
            }
            ZSet::Big(z) => {
                let id = z.index.find(&z.slots, member)?;
                let (m, s) = z.slot(id);
                let rank = z.rank_of(s, m);
                z.remove_rank(rank).map(|(_, s)| s)
            }
        }
    }

    /// The 0-based ascending rank of `member`, and its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match self {
            ZSet::Packed(b) => packed(b)
                .enumerate()
                .find(|(_, e)| e.0 == member)
                .map(|(i, e)| (i, e.1)),
            ZSet::Big(z) => {
                let id = z.index.find(&z.slots, member)?;
                let (m, s) = z.slot(id);
                Some((z.rank_of(s, m), s))
            }
        }
    }

    /// How many entries come first for which `pred(score, member)` holds; `pred` must hold
    /// for a prefix of the order (a range's lower bound).
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Packed(b) => packed(b).take_while(|e| pred(e.1, e.0)).count(),
            ZSet::Big(z) => z.tree.count_while(|id| {
                let (m, s) = z.slot(id);
                pred(s, m)
            }),
        }
    }

    /// The entry at ascending `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Packed(b) => packed(b).nth(rank).map(|e| (e.0, e.1)),
            ZSet::Big(z) => z.tree.get(rank).map(|id| z.slot(id)),
        }
    }

    /// The entries from ascending `rank` on, towards the end (or, `rev`, towards the start).
    pub fn range(&self, rank: usize, rev: bool) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            ZSet::Packed(b) => {
                if rank >= packed_count(b) {
                    return Box::new(std::iter::empty());
                }
                if rev {
                    let mut all: Vec<_> = packed(b).take(rank + 1).map(|e| (e.0, e.1)).collect();
                    all.reverse();
                    Box::new(all.into_iter())
                } else {
                    Box::new(packed(b).skip(rank).map(|e| (e.0, e.1)))
                }
            }
            ZSet::Big(z) => Box::new(z.tree.iter_from(rank, rev).map(|id| z.slot(id))),
        }
    }

    /// Every entry, in order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        self.range(0, false)
    }

    /// Removes the entries at ascending ranks `start..=end` (in range); returns how many.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let n = end + 1 - start;
        match self {
            ZSet::Packed(b) => {
                let mut entries = packed(b).skip(start).take(n);
                let from = entries.next().map(|e| e.2);
                let to = entries.last().map(|e| e.3);
                if let Some(from) = from {
                    let to = to.unwrap_or_else(|| packed(b).nth(start).map_or(from, |e| e.3));
                    b.drain(from..to);
                }
                let left = packed_count(b) - n;
                set_packed_count(b, left);
                shrink(b, left);
            }
            ZSet::Big(z) => {
                for _ in 0..n {
                    z.remove_rank(start);
                }
            }
        }
        n
    }

    /// Removes and returns the entry at ascending `rank`.
    pub fn remove_at(&mut self, rank: usize) -> Option<(Vec<u8>, f64)> {
        match self {
            ZSet::Packed(_) => {
                let (m, s) = self.get(rank).map(|(m, s)| (m.to_vec(), s))?;
                self.remove_ranks(rank, rank);
                Some((m, s))
            }
            ZSet::Big(z) => z.remove_rank(rank),
        }
    }

    /// A uniformly random entry.
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<(&[u8], f64)> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        match self {
            ZSet::Packed(_) => self.get((rand() % n as u64) as usize),
            ZSet::Big(z) => loop {
                // At least a quarter of the slots are live.
                let id = (rand() % z.slots.len() as u64) as u32;
                let (m, s) = z.slot(id);
                if !s.is_nan() {
                    return Some((m, s));
                }
            },
        }
    }

    /// Is this the big form (ZSCAN walks it with a cursor; the packed form in one step)?
    pub fn is_big(&self) -> bool {
        matches!(self, ZSet::Big(_))
    }

    /// One ZSCAN step: visits up to `count` entries from slot `cursor` on and returns the next
    /// cursor (0 when done). The packed form is visited whole.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSet::Packed(_) => {
                for (m, s) in self.iter() {
                    visit(m, s);
                }
                0
            }
            ZSet::Big(z) => {
                let mut i = cursor as usize;
                let mut seen = 0;
                while i < z.slots.len() && seen < count {
                    let (m, s) = z.slot(i as u32);
                    if !s.is_nan() {
                        visit(m, s);
                        seen += 1;
                    }
                    i += 1;
                }
                if i >= z.slots.len() {
                    0
                } else {
                    i as u64
                }
            }
        }
    }

    /// Bytes held on the heap (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match self {
            ZSet::Packed(b) => b.capacity(),
            ZSet::Big(z) => std::mem::size_of::<Big>() + z.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn rnd(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// The model: member -> score, and the order recomputed from it.
    fn ordered(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<_> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        v.sort_by(|a, b| order(a.1, &a.0, b.1, &b.0));
        v
    }

    fn check(z: &ZSet, model: &BTreeMap<Vec<u8>, f64>) {
        let want = ordered(model);
        assert_eq!(z.len(), want.len());
        let got: Vec<_> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(got, want);
        for (r, (m, s)) in want.iter().enumerate().step_by(5) {
            assert_eq!(z.rank(m), Some((r, *s)));
            assert_eq!(z.score(m), Some(*s));
            assert_eq!(
                z.get(r).map(|(m, s)| (m.to_vec(), s)),
                Some((m.clone(), *s))
            );
            assert_eq!(
                z.count_while(|s2, m2| order(s2, m2, *s, m) == Ordering::Less),
                r
            );
            let back: Vec<_> = z.range(r, true).take(3).map(|(m, _)| m.to_vec()).collect();
            let wb: Vec<_> = want[..=r]
                .iter()
                .rev()
                .take(3)
                .map(|e| e.0.clone())
                .collect();
            assert_eq!(back, wb);
        }
    }

    #[test]
    fn matches_a_model_in_both_forms() {
        for limits in [
            ZSetLimits::default(),
            ZSetLimits {
                max_entries: 3,
                max_value: 64,
            },
            ZSetLimits {
                max_entries: 0,
                max_value: 0,
            },
        ] {
            let mut z = ZSet::new();
            let mut model = BTreeMap::new();
            let mut seed = 0xdead_beefu64;
            for step in 0..8000 {
                let m = format!("m{}", rnd(&mut seed) % 700).into_bytes();
                let score = match rnd(&mut seed) % 4 {
                    0 => (rnd(&mut seed) % 10) as f64,
                    1 => (rnd(&mut seed) % 1000) as f64 / 7.0 - 50.0,
                    2 => -((rnd(&mut seed) % 5) as f64) * 1e15,
                    _ => 1.5,
                };
                match rnd(&mut seed) % 5 {
                    0..=2 => {
                        assert_eq!(
                            z.insert(&m, score, limits),
                            model.insert(m, score).is_none()
                        )
                    }
                    3 => assert_eq!(z.remove(&m), model.remove(&m)),
                    _ if !model.is_empty() => {
                        let r = (rnd(&mut seed) % model.len() as u64) as usize;
                        let (m, s) = ordered(&model)[r].clone();
                        assert_eq!(z.remove_at(r), Some((m.clone(), s)));
                        model.remove(&m);
                    }
                    _ => {}
                }
                if step % 500 == 0 {
                    check(&z, &model);
                }
            }
            check(&z, &model);
            let n = z.len();
            if n > 10 {
                assert_eq!(z.remove_ranks(2, 6), 5);
                let want = ordered(&model);
                for (m, _) in &want[2..=6] {
                    model.remove(m);
                }
                check(&z, &model);
            }
        }
    }

    #[test]
    fn scores_round_trip_in_the_packed_form() {
        let scores = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            63.0,
            64.0,
            -65.0,
            1e15,
            4503599627370495.0,
            4503599627370496.0,
            1e300,
            0.1,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
        ];
        let mut z = ZSet::new();
        for (i, &s) in scores.iter().enumerate() {
            z.insert(format!("m{i}").as_bytes(), s, ZSetLimits::default());
        }
        for (i, &s) in scores.iter().enumerate() {
            let got = z.score(format!("m{i}").as_bytes()).unwrap();
            // -0 is stored as the integer 0, as in a listpack.
            let want = if s == 0.0 { 0.0 } else { s };
            assert_eq!(got.to_bits(), want.to_bits(), "{s}");
        }
        assert_eq!(z.encoding(), "listpack");
    }

    #[test]
    fn scan_returns_every_member_present_throughout() {
        let limits = ZSetLimits::default();
        let mut z = ZSet::new();
        for i in 0..1000 {
            z.insert(format!("k{i}").as_bytes(), i as f64, limits);
        }
        assert!(z.is_big());
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = z.scan(cursor, 10, |m, _| {
                seen.insert(m.to_vec());
            });
            // Churn: remove some of the later half, add new ones, move scores.
            round += 1;
            z.remove(format!("k{}", 999 - round).as_bytes());
            z.insert(format!("new{round}").as_bytes(), -(round as f64), limits);
            z.insert(
                format!("k{}", round * 3).as_bytes(),
                5000.0 + round as f64,
                limits,
            );
            if cursor == 0 {
                break;
            }
        }
        for i in 0..(999 - round) {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i}");
        }
    }

    #[test]
    fn compacts_when_mostly_free() {
        let limits = ZSetLimits::default();
        let mut z = ZSet::new();
        for i in 0..10_000 {
            z.insert(format!("{i:08}").as_bytes(), i as f64, limits);
        }
        let full = z.heap_bytes();
        for i in 0..9_900 {
            z.remove(format!("{i:08}").as_bytes());
        }
        assert_eq!(z.len(), 100);
        assert!(z.heap_bytes() * 10 < full, "{} vs {full}", z.heap_bytes());
        assert_eq!(
            z.get(0).map(|(m, _)| m.to_vec()),
            Some(b"00009900".to_vec())
        );
        assert_eq!(z.rank(b"00009950").map(|r| r.0), Some(50));
    }

    #[test]
    fn converts_at_redis_thresholds() {
        let limits = ZSetLimits {
            max_entries: 3,
            max_value: 4,
        };
        let mut z = ZSet::new();
        for i in 0..3 {
            z.insert(format!("m{i}").as_bytes(), 1.0, limits);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"m0", 2.0, limits);
        assert_eq!(z.encoding(), "listpack", "an update does not grow it");
        z.insert(b"m3", 1.0, limits);
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSet::new();
        z.insert(b"abcd", 1.0, limits);
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"abcde", 1.0, limits);
        assert_eq!(z.encoding(), "skiplist");
    }
}
