//! A chained hash table with Redis's reverse-binary `SCAN` cursor (`dictScan` in dict.c).
//!
//! std's `HashMap` has no stable cursor: a key present for a whole `SCAN` could be missed when
//! the table resizes between calls. Here the cursor walks bucket indices with their bits
//! reversed, so after a grow or a shrink every bucket not yet visited is still ahead of it.

use std::sync::atomic::{AtomicUsize, Ordering};

/// One key and its value, chained to the next entry of the same bucket.
pub struct Node<V> {
    pub key: Box<[u8]>,
    pub value: V,
    next: Option<Box<Node<V>>>,
}

/// What [`Dict::get_mut_or_take`] found.
pub enum Lookup<'a, V> {
    Found(&'a mut V),
    Taken(Box<[u8]>, V),
    Missing,
}

type Table<V> = Vec<Option<Box<Node<V>>>>;

pub struct Dict<V> {
    /// The main table: a power of two long, or empty.
    buckets: Table<V>,
    /// While a big table resizes: the table its entries move to, a few buckets per write
    /// (Redis's incremental rehash), so that no one write moves a million entries while it
    /// holds the database's lock. New entries go here. Empty when no resize is under way.
    target: Table<V>,
    /// Buckets of `buckets` below this have been moved (they are empty).
    moved: usize,
    len: usize,
    /// Per-table random key of the hash, so bucket placement cannot be predicted by clients.
    seed: u64,
}

/// A fast keyed hash over bytes (multiply-fold mixing, 8 bytes per step). SipHash, std's
/// default, costs several times more per key on the hot path.
pub fn hash_bytes(seed: u64, data: &[u8]) -> u64 {
    const P0: u64 = 0xa076_1d64_78bd_642f;
    const P1: u64 = 0xe703_7ed1_a0b4_28db;
    fn mix(a: u64, b: u64) -> u64 {
        let r = u128::from(a) * u128::from(b);
        (r as u64) ^ ((r >> 64) as u64)
    }
    let mut h = seed ^ (data.len() as u64).wrapping_mul(P0);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        h = mix(h ^ u64::from_le_bytes(b), P1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = mix(h ^ u64::from_le_bytes(b) ^ P0, P1 ^ rest.len() as u64);
    }
    mix(h, P0 ^ seed)
}

const MIN_BUCKETS: usize = 4;

/// Tables up to this many buckets resize at once (moving them costs a few µs); bigger ones
/// resize incrementally.
const AT_ONCE: usize = 1024;

/// Per write during an incremental resize: non-empty buckets moved, and empty ones skipped,
/// at most.
const STEP_BUCKETS: usize = 4;
const STEP_EMPTY: usize = 40;

/// Chain positions a fair random draw tries (see [`Dict::random`]).
const FAIR_DEPTH: usize = 8;

/// Forked children sharing the server's memory (BGSAVE, a rewrite). While there are any,
/// tables neither grow, unless five times fuller than their buckets, nor shrink (Redis's
/// `dict_can_resize` and `dict_force_resize_ratio`): moving entries writes to pages the
/// child would otherwise go on sharing.
static CHILDREN: AtomicUsize = AtomicUsize::new(0);
const FORCE_RESIZE_RATIO: usize = 5;

/// A child now shares the memory.
pub fn child_started() {
    CHILDREN.fetch_add(1, Ordering::Relaxed);
}

/// A child has gone.
pub fn child_ended() {
    let _ = CHILDREN.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

fn can_resize() -> bool {
    CHILDREN.load(Ordering::Relaxed) == 0
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

/// A table of `len` empty buckets, from zeroed memory. Written bucket by bucket, a big one
/// was faulted in whole under the lock by the write that resized it (8 MB of a million
/// buckets: 2,048 page faults and 5-6 ms, measured, while every other client waited). Fresh
/// pages from the allocator are zero already and come in as each bucket is first used.
fn empty_table<V>(len: usize) -> Table<V> {
    let Ok(layout) = std::alloc::Layout::array::<Option<Box<Node<V>>>>(len) else {
        panic!("a table of {len} buckets is too large");
    };
    if layout.size() == 0 {
        return Vec::new();
    }
    // SAFETY: the layout is non-zero in size. An all-zero `Option<Box<_>>` is `None` (the
    // null pointer optimisation is guaranteed), so the `len` elements handed to the vector
    // are initialised, in a block of exactly `layout` from the global allocator.
    unsafe {
        let p = std::alloc::alloc_zeroed(layout).cast::<Option<Box<Node<V>>>>();
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Vec::from_raw_parts(p, len, len)
    }
}

/// The node holding `key` in the chain of `table`'s bucket for hash `h`.
fn find<'a, V>(table: &'a Table<V>, h: u64, key: &[u8]) -> Option<&'a Node<V>> {
    if table.is_empty() {
        return None;
    }
    let mut cur = table[(h as usize) & (table.len() - 1)].as_deref();
    while let Some(node) = cur {
        if &*node.key == key {
            return Some(node);
        }
        cur = node.next.as_deref();
    }
    None
}

/// [`find`], for writing.
fn find_mut<'a, V>(table: &'a mut Table<V>, h: u64, key: &[u8]) -> Option<&'a mut Node<V>> {
    if table.is_empty() {
        return None;
    }
    let b = (h as usize) & (table.len() - 1);
    let mut cur = table[b].as_deref_mut();
    while let Some(node) = cur {
        if &*node.key == key {
            return Some(node);
        }
        cur = node.next.as_deref_mut();
    }
    None
}

/// Unlinks the node holding `key` from `table`, if there.
fn unlink<V>(table: &mut Table<V>, h: u64, key: &[u8]) -> Option<Box<Node<V>>> {
    if table.is_empty() {
        return None;
    }
    let b = (h as usize) & (table.len() - 1);
    let mut link = &mut table[b];
    loop {
        match link {
            None => return None,
            Some(node) if &*node.key == key => {
                let mut node = link.take()?;
                *link = node.next.take();
                return Some(node);
            }
            Some(node) => link = &mut node.next,
        }
    }
}

/// Moves the entries of the chain from `head` into `table`, each to its bucket there.
fn move_chain<V>(seed: u64, mut head: Option<Box<Node<V>>>, table: &mut Table<V>) {
    let mask = table.len() - 1;
    while let Some(mut node) = head {
        head = node.next.take();
        let b = (hash_bytes(seed, &node.key) as usize) & mask;
        node.next = table[b].take();
        table[b] = Some(node);
    }
}

/// The entries of one chain.
fn chain<V>(head: &Option<Box<Node<V>>>) -> impl Iterator<Item = &Node<V>> {
    let mut cur = head.as_deref();
    std::iter::from_fn(move || {
        let n = cur?;
        cur = n.next.as_deref();
        Some(n)
    })
}

/// The reverse-binary cursor after `v` for a table of mask `mask`: set the unmasked bits,
/// reverse, add one, reverse.
fn next_cursor(v: u64, mask: u64) -> u64 {
    (v | !mask).reverse_bits().wrapping_add(1).reverse_bits()
}

impl<V> Dict<V> {
    pub fn new() -> Self {
        Dict {
            buckets: Vec::new(),
            target: Vec::new(),
            moved: 0,
            len: 0,
            seed: super::rand_u64(),
        }
    }

    /// Sized for `n` entries at once (Redis's `dictExpand` when a big value is loaded): a
    /// million fields inserted one by one would go through twenty resizes, each moving every
    /// entry so far.
    pub fn with_capacity(n: usize) -> Self {
        let mut d = Self::new();
        if n > 0 {
            d.buckets = empty_table(n.next_power_of_two().max(MIN_BUCKETS));
        }
        d
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of buckets of both tables while a resize is under way (their memory).
    pub fn capacity(&self) -> usize {
        self.buckets.len() + self.target.len()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        hash_bytes(self.seed, key)
    }

    fn resizing(&self) -> bool {
        !self.target.is_empty()
    }

    /// Whether an incremental resize is under way.
    pub fn is_resizing(&self) -> bool {
        self.resizing()
    }

    /// Takes up to `steps` steps of a resize under way (the cron's active rehashing, for a
    /// table that writes have left half moved); returns whether it is still under way.
    pub fn rehash(&mut self, steps: usize) -> bool {
        for _ in 0..steps {
            if !self.resizing() {
                break;
            }
            self.step();
        }
        self.resizing()
    }

    pub fn get_node(&self, key: &[u8]) -> Option<&Node<V>> {
        if self.len == 0 {
            return None;
        }
        let h = self.hash(key);
        find(&self.buckets, h, key).or_else(|| find(&self.target, h, key))
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_node(key).map(|n| &n.value)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.len == 0 {
            return None;
        }
        let h = self.hash(key);
        if let Some(node) = find_mut(&mut self.buckets, h, key) {
            return Some(&mut node.value);
        }
        find_mut(&mut self.target, h, key).map(|n| &mut n.value)
    }

    /// One lookup that either hands out the value at `key` or, if `take` says so (an expired
    /// entry), unlinks it and returns it.
    pub fn get_mut_or_take(&mut self, key: &[u8], take: impl FnOnce(&V) -> bool) -> Lookup<'_, V> {
        if self.len == 0 {
            return Lookup::Missing;
        }
        let h = self.hash(key);
        let (in_target, taken) = match find(&self.buckets, h, key) {
            Some(n) => (false, take(&n.value)),
            None => match find(&self.target, h, key) {
                Some(n) => (true, take(&n.value)),
                None => return Lookup::Missing,
            },
        };
        if taken {
            // Not shrunk here: the caller cannot tell whether a walk in chunks (KEYS) holds
            // shrinking off; the next plain removal shrinks it.
            return match self.remove_sized(key, false) {
                Some((k, v)) => Lookup::Taken(k, v),
                None => Lookup::Missing,
            };
        }
        let table = if in_target {
            &mut self.target
        } else {
            &mut self.buckets
        };
        match find_mut(table, h, key) {
            Some(n) => Lookup::Found(&mut n.value),
            None => Lookup::Missing,
        }
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: Box<[u8]>, value: V) -> Option<V> {
        if let Some(slot) = self.get_mut(&key) {
            return Some(std::mem::replace(slot, value));
        }
        self.insert_new(key, value);
        None
    }

    /// Inserts a key the caller has just found absent (one lookup saved).
    pub fn insert_new(&mut self, key: Box<[u8]>, value: V) {
        if self.resizing() {
            self.step();
        } else if self.len >= self.buckets.len()
            && (self.buckets.is_empty()
                || can_resize()
                || self.len / self.buckets.len() > FORCE_RESIZE_RATIO)
        {
            self.resize((self.buckets.len() * 2).max(MIN_BUCKETS));
        }
        let h = self.hash(&key);
        let table = if self.resizing() {
            &mut self.target
        } else {
            &mut self.buckets
        };
        let b = (h as usize) & (table.len() - 1);
        let next = table[b].take();
        table[b] = Some(Box::new(Node { key, value, next }));
        self.len += 1;
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<(Box<[u8]>, V)> {
        self.remove_sized(key, true)
    }

    /// Removes `key`; the table shrinks afterwards only if `shrink`. A scan in chunks (KEYS)
    /// holds shrinking off: after a shrink, the cursor revisits buckets already returned.
    pub fn remove_sized(&mut self, key: &[u8], shrink: bool) -> Option<(Box<[u8]>, V)> {
        if self.len == 0 {
            return None;
        }
        if self.resizing() {
            self.step();
        }
        let h = self.hash(key);
        let node = match unlink(&mut self.buckets, h, key) {
            Some(node) => node,
            None => unlink(&mut self.target, h, key)?,
        };
        self.len -= 1;
        if self.len == 0 {
            self.clear();
        } else if shrink {
            self.maybe_shrink();
        }
        Some((node.key, node.value))
    }

    /// Shrinks when under 1/8 full, like Redis's `htNeedsResize` (under 10%).
    fn maybe_shrink(&mut self) {
        let cap = self.buckets.len();
        if !self.resizing() && cap > MIN_BUCKETS && self.len * 8 < cap && can_resize() {
            self.resize(self.len.next_power_of_two().max(MIN_BUCKETS));
        }
    }

    /// Starts a resize to `new_cap` buckets: done at once for a small table, or begun for a
    /// big one (each write then moves a few buckets).
    fn resize(&mut self, new_cap: usize) {
        let table = empty_table(new_cap);
        if self.buckets.len().max(new_cap) <= AT_ONCE || self.len == 0 {
            let old = std::mem::replace(&mut self.buckets, table);
            self.rehash_into_buckets(old);
            return;
        }
        self.target = table;
        self.moved = 0;
        self.step();
    }

    /// Moves every entry of `old` into `buckets`.
    fn rehash_into_buckets(&mut self, old: Table<V>) {
        for head in old {
            move_chain(self.seed, head, &mut self.buckets);
        }
    }

    /// One step of an incremental resize: moves a few buckets of `buckets` into `target`,
    /// and makes `target` the main table once all have moved.
    fn step(&mut self) {
        let (mut full, mut empty) = (0, 0);
        while self.moved < self.buckets.len() && full < STEP_BUCKETS && empty < STEP_EMPTY {
            let head = self.buckets[self.moved].take();
            self.moved += 1;
            if head.is_none() {
                empty += 1;
                continue;
            }
            full += 1;
            move_chain(self.seed, head, &mut self.target);
        }
        if self.moved == self.buckets.len() {
            // Every bucket moved (and empty): the old table goes.
            self.buckets = std::mem::take(&mut self.target);
            self.moved = 0;
        }
    }

    pub fn clear(&mut self) {
        let old = std::mem::take(&mut self.buckets);
        let target = std::mem::take(&mut self.target);
        self.len = 0;
        self.moved = 0;
        drop_chains(old);
        drop_chains(target);
    }

    /// Visits one bucket of the cursor (during a resize, that bucket of the smaller table and
    /// every bucket of the bigger one that it expands to, as Redis's `dictScan` does) and
    /// returns the next cursor (0 when the scan is over).
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &V)) -> u64 {
        if self.len == 0 {
            return 0;
        }
        let mut visit_chain = |head: &Option<Box<Node<V>>>| {
            for n in chain(head) {
                visit(&n.key, &n.value);
            }
        };
        if !self.resizing() {
            let mask = (self.buckets.len() - 1) as u64;
            visit_chain(&self.buckets[(cursor & mask) as usize]);
            return next_cursor(cursor, mask);
        }
        let (small, large) = if self.buckets.len() <= self.target.len() {
            (&self.buckets, &self.target)
        } else {
            (&self.target, &self.buckets)
        };
        let (m0, m1) = ((small.len() - 1) as u64, (large.len() - 1) as u64);
        let mut v = cursor;
        visit_chain(&small[(v & m0) as usize]);
        loop {
            visit_chain(&large[(v & m1) as usize]);
            v = next_cursor(v, m1);
            // On while the bits only the bigger table has are not back to zero.
            if v & (m0 ^ m1) == 0 {
                return v;
            }
        }
    }

    /// A bucket of either table by its place in the two laid end to end.
    fn bucket_at(&self, i: usize) -> &Option<Box<Node<V>>> {
        match self.buckets.get(i) {
            Some(head) => head,
            None => &self.target[i - self.buckets.len()],
        }
    }

    /// A uniformly random entry, with `rand` as the source of randomness. A slot (bucket of
    /// either table, position in its chain below [`FAIR_DEPTH`]) is drawn until one holds a
    /// node, so every node is equally likely, wherever its chain is long or short (a random
    /// bucket and then a random node of its chain would favour nodes alone in their bucket).
    /// A chain longer than that, which the hash makes very rare, has its tail picked from its
    /// head's draw.
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<&Node<V>> {
        if self.len == 0 {
            return None;
        }
        let slots = self.capacity();
        // The tables are at least 1/24 full, so a draw succeeds at least once in 200 on
        // average; past that many tries, walk to the next non-empty bucket instead.
        for _ in 0..4096 {
            let r = rand();
            let depth = ((r >> 48) as usize) % FAIR_DEPTH;
            let mut cur = self.bucket_at((r as usize) % slots).as_deref();
            let mut i = 0;
            while let Some(n) = cur {
                if i == depth {
                    if depth == FAIR_DEPTH - 1 && n.next.is_some() {
                        return self.pick_in_chain(n, &mut rand);
                    }
                    return Some(n);
                }
                i += 1;
                cur = n.next.as_deref();
            }
        }
        let start = rand() as usize % slots;
        (0..slots).find_map(|i| self.bucket_at((start + i) % slots).as_deref())
    }

    /// A random node of the chain from `head` on.
    fn pick_in_chain<'a>(
        &'a self,
        head: &'a Node<V>,
        rand: &mut impl FnMut() -> u64,
    ) -> Option<&'a Node<V>> {
        let mut len = 0;
        let mut cur = Some(head);
        while let Some(n) = cur {
            len += 1;
            cur = n.next.as_deref();
        }
        let mut pick = rand() as usize % len;
        let mut cur = Some(head);
        while let Some(n) = cur {
            if pick == 0 {
                return Some(n);
            }
            pick -= 1;
            cur = n.next.as_deref();
        }
        None
    }

    /// How many entries each bucket holds, bucket by bucket, both tables during a resize.
    pub fn bucket_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.buckets
            .iter()
            .chain(self.target.iter())
            .map(|head| chain(head).count())
    }

    /// Redis's `dictGetStats` text for this table, and during a resize for its target.
    pub fn stats(&self) -> String {
        let sizes = |t: &Table<V>| t.iter().map(|h| chain(h).count()).collect::<Vec<_>>();
        let main = sizes(&self.buckets);
        let used = main.iter().sum();
        let mut out = stats_text(self.buckets.len(), used, main.into_iter());
        if self.resizing() {
            let target = sizes(&self.target);
            let used = target.iter().sum();
            out.push_str(
                &stats_text(self.target.len(), used, target.into_iter()).replacen(
                    "Hash table 0 stats (main hash table)",
                    "Hash table 1 stats (rehashing target)",
                    1,
                ),
            );
        }
        out
    }

    pub fn iter(&self) -> impl Iterator<Item = &Node<V>> {
        self.buckets
            .iter()
            .chain(self.target.iter())
            .flat_map(|head| chain(head))
    }
}

/// Redis's `dictGetStats` text (`_dictGetStatsHt`) for a main table: the table's size, its entries, and
/// how many buckets hold how many entries. `sizes` gives each bucket's count.
pub fn stats_text(size: usize, used: usize, sizes: impl Iterator<Item = usize>) -> String {
    use std::fmt::Write;
    const VECTLEN: usize = 50;
    let mut out = String::from("Hash table 0 stats (main hash table):\n");
    if used == 0 {
        out.push_str("No stats available for empty dictionaries\n");
        return out;
    }
    let (mut slots, mut max, mut total) = (0usize, 0usize, 0usize);
    let mut lengths = [0usize; VECTLEN];
    for n in sizes {
        lengths[n.min(VECTLEN - 1)] += 1;
        if n > 0 {
            slots += 1;
            max = max.max(n);
            total += n;
        }
    }
    // Redis computes these in single precision.
    let _ = write!(
        out,
        " table size: {size}\n number of elements: {used}\n different slots: {slots}\n \
         max chain length: {max}\n avg chain length (counted): {:.2}\n \
         avg chain length (computed): {:.2}\n Chain length distribution:\n",
        total as f32 / slots as f32,
        used as f32 / slots as f32
    );
    for (i, &n) in lengths.iter().enumerate().take(VECTLEN - 1) {
        if n > 0 {
            let share = n as f32 / size as f32 * 100.0;
            let _ = writeln!(out, "   {i}: {n} ({share:.2}%)");
        }
    }
    out
}

/// Drops chains node by node, so a long chain can never overflow the stack.
fn drop_chains<V>(buckets: Vec<Option<Box<Node<V>>>>) {
    for mut head in buckets {
        while let Some(mut node) = head {
            head = node.next.take();
        }
    }
}

impl<V> Drop for Dict<V> {
    fn drop(&mut self) {
        drop_chains(std::mem::take(&mut self.buckets));
        drop_chains(std::mem::take(&mut self.target));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn stats_are_redis_dict_get_stats() {
        assert_eq!(
            stats_text(4, 3, [0, 2, 1, 0].into_iter()),
            "Hash table 0 stats (main hash table):\n table size: 4\n number of elements: 3\n \
             different slots: 2\n max chain length: 2\n avg chain length (counted): 1.50\n \
             avg chain length (computed): 1.50\n Chain length distribution:\n   \
             0: 2 (50.00%)\n   1: 1 (25.00%)\n   2: 1 (25.00%)\n"
        );
        assert!(stats_text(0, 0, std::iter::empty()).ends_with("empty dictionaries\n"));
        // The table's own figures: every entry is in one bucket's chain.
        let mut d = Dict::new();
        for i in 0..1000 {
            d.insert(key(i), ());
        }
        let text = d.stats();
        assert!(
            text.contains(&format!(" table size: {}\n", d.capacity())),
            "{text}"
        );
        assert!(text.contains(" number of elements: 1000\n"), "{text}");
        assert_eq!(d.bucket_sizes().sum::<usize>(), 1000);
    }

    fn key(i: usize) -> Box<[u8]> {
        format!("key:{i}").into_bytes().into_boxed_slice()
    }

    #[test]
    fn insert_get_remove() {
        let mut d = Dict::new();
        for i in 0..1000 {
            assert_eq!(d.insert(key(i), i), None);
        }
        assert_eq!(d.insert(key(5), 50), Some(5));
        assert_eq!(d.len(), 1000);
        assert_eq!(d.get(&key(5)), Some(&50));
        for i in 0..1000 {
            assert!(d.remove(&key(i)).is_some());
        }
        assert!(d.is_empty());
        assert!(d.capacity() <= MIN_BUCKETS);
        assert_eq!(d.remove(&key(1)), None);
    }

    #[test]
    fn scan_sees_every_stable_key_across_resizes() {
        let mut d = Dict::new();
        for i in 0..500 {
            d.insert(key(i), ());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
            step += 1;
            // Grow, then shrink, while the scan is under way; keys 0..100 stay throughout.
            if step == 10 {
                for i in 500..5000 {
                    d.insert(key(i), ());
                }
            }
            if step == 300 {
                for i in 100..5000 {
                    d.remove(&key(i));
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100 {
            assert!(seen.contains(&*key(i)), "key {i} missed");
        }
    }

    /// A big table resizes a few buckets per write: lookups, removals, SCAN, random draws
    /// and iteration see every entry, in one table or the other, all the way through a grow
    /// and a shrink.
    #[test]
    fn incremental_resize_keeps_every_entry_reachable() {
        let mut d = Dict::new();
        let mut seed = 7u64;
        let mut rng = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut resized = false;
        for i in 0..20_000 {
            d.insert(key(i), i);
            if d.resizing() {
                resized = true;
                // Mid-resize: everything so far is found, once.
                if i % 997 == 0 {
                    for j in (0..=i).step_by(13) {
                        assert_eq!(d.get(&key(j)), Some(&j), "key {j} during a grow");
                    }
                    assert_eq!(d.iter().count(), i + 1);
                    assert_eq!(d.bucket_sizes().sum::<usize>(), i + 1);
                    let n = d.random(&mut rng).expect("a node");
                    assert_eq!(d.get(&n.key), Some(&n.value));
                    assert!(d.stats().contains("Hash table 1 stats (rehashing target)"));
                }
            }
        }
        assert!(resized, "20,000 entries grow past the at-once size");
        // A SCAN during the resizes sees every key that stays, exactly once.
        let mut seen = std::collections::HashMap::new();
        let mut cursor = 0;
        let mut steps = 0;
        loop {
            cursor = d.scan(cursor, |k, _| {
                *seen.entry(k.to_vec()).or_insert(0) += 1;
            });
            steps += 1;
            if steps % 50 == 0 && steps < 20_000 {
                // Grow while the scan goes on (no shrink: a shrink may repeat buckets).
                for i in 0..100 {
                    d.insert(key(100_000 + steps * 100 + i), 0);
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..20_000 {
            assert_eq!(seen.get(&*key(i)), Some(&1), "key {i} seen once");
        }
        // Shrink back down through incremental resizes.
        let all: Vec<Box<[u8]>> = d.iter().map(|n| n.key.clone()).collect();
        for (n, k) in all.iter().enumerate() {
            assert!(d.remove(k).is_some());
            if n % 1999 == 0 {
                assert_eq!(d.len(), all.len() - n - 1);
                assert_eq!(d.iter().count(), d.len());
            }
        }
        assert!(d.is_empty());
        assert_eq!(d.capacity(), 0);
    }

    #[test]
    fn random_and_iter() {
        let mut d = Dict::new();
        let mut seed = 1u64;
        let mut rng = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        assert!(d.random(&mut rng).is_none());
        for i in 0..100 {
            d.insert(key(i), i);
        }
        let picked = d.random(&mut rng).unwrap();
        assert_eq!(d.get(&picked.key), Some(&picked.value));
        assert_eq!(d.iter().count(), 100);
    }
}
