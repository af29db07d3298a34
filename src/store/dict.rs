//! A chained hash table with Redis's reverse-binary `SCAN` cursor (`dictScan` in dict.c).
//!
//! std's `HashMap` has no stable cursor: a key present for a whole `SCAN` could be missed when
//! the table resizes between calls. Here the cursor walks bucket indices with their bits
//! reversed, so after a grow or a shrink every bucket not yet visited is still ahead of it.

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

pub struct Dict<V> {
    buckets: Vec<Option<Box<Node<V>>>>,
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

/// Chain positions a fair random draw tries (see [`Dict::random`]).
const FAIR_DEPTH: usize = 8;

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Dict<V> {
    pub fn new() -> Self {
        Dict {
            buckets: Vec::new(),
            len: 0,
            seed: super::rand_u64(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of buckets (a power of two, or 0).
    pub fn capacity(&self) -> usize {
        self.buckets.len()
    }

    fn bucket(&self, key: &[u8]) -> usize {
        (hash_bytes(self.seed, key) as usize) & (self.buckets.len() - 1)
    }

    pub fn get_node(&self, key: &[u8]) -> Option<&Node<V>> {
        if self.len == 0 {
            return None;
        }
        let mut cur = self.buckets[self.bucket(key)].as_deref();
        while let Some(node) = cur {
            if &*node.key == key {
                return Some(node);
            }
            cur = node.next.as_deref();
        }
        None
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_node(key).map(|n| &n.value)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.len == 0 {
            return None;
        }
        let b = self.bucket(key);
        let mut cur = self.buckets[b].as_deref_mut();
        while let Some(node) = cur {
            if &*node.key == key {
                return Some(&mut node.value);
            }
            cur = node.next.as_deref_mut();
        }
        None
    }

    /// One lookup that either hands out the value at `key` or, if `take` says so (an expired
    /// entry), unlinks it and returns it. The common case hashes and compares the key once.
    pub fn get_mut_or_take(&mut self, key: &[u8], take: impl FnOnce(&V) -> bool) -> Lookup<'_, V> {
        if self.len == 0 {
            return Lookup::Missing;
        }
        let b = self.bucket(key);
        // Find the node's depth in its chain without holding a mutable borrow...
        let mut depth = 0;
        let mut cur = self.buckets[b].as_deref();
        let taken = loop {
            match cur {
                None => return Lookup::Missing,
                Some(n) if &*n.key == key => break take(&n.value),
                Some(n) => {
                    cur = n.next.as_deref();
                    depth += 1;
                }
            }
        };
        if taken {
            return match self.remove(key) {
                Some((k, v)) => Lookup::Taken(k, v),
                None => Lookup::Missing,
            };
        }
        // ...then walk to it again, mutably, without comparing keys.
        let mut link = &mut self.buckets[b];
        for _ in 0..depth {
            match link {
                Some(node) => link = &mut node.next,
                None => return Lookup::Missing,
            }
        }
        match link {
            Some(node) => Lookup::Found(&mut node.value),
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
        if self.len >= self.buckets.len() {
            self.resize((self.buckets.len() * 2).max(MIN_BUCKETS));
        }
        let b = self.bucket(&key);
        let next = self.buckets[b].take();
        self.buckets[b] = Some(Box::new(Node { key, value, next }));
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
        let b = self.bucket(key);
        let mut link = &mut self.buckets[b];
        loop {
            match link {
                None => return None,
                Some(node) if &*node.key == key => {
                    let mut node = link.take()?;
                    *link = node.next.take();
                    self.len -= 1;
                    if shrink {
                        self.maybe_shrink();
                    }
                    return Some((node.key, node.value));
                }
                Some(node) => link = &mut node.next,
            }
        }
    }

    /// Shrinks when under 1/8 full, like Redis's `htNeedsResize` (under 10%).
    fn maybe_shrink(&mut self) {
        let cap = self.buckets.len();
        if cap > MIN_BUCKETS && self.len * 8 < cap {
            self.resize(self.len.next_power_of_two().max(MIN_BUCKETS));
        }
    }

    fn resize(&mut self, new_cap: usize) {
        let old = std::mem::take(&mut self.buckets);
        self.buckets.resize_with(new_cap, || None);
        for mut head in old {
            while let Some(mut node) = head {
                head = node.next.take();
                let b = self.bucket(&node.key);
                node.next = self.buckets[b].take();
                self.buckets[b] = Some(node);
            }
        }
    }

    pub fn clear(&mut self) {
        let old = std::mem::take(&mut self.buckets);
        self.len = 0;
        drop_chains(old);
    }

    /// Visits one bucket of the cursor and returns the next cursor (0 when the scan is over).
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &V)) -> u64 {
        if self.len == 0 {
            return 0;
        }
        let mask = (self.buckets.len() - 1) as u64;
        let mut cur = self.buckets[(cursor & mask) as usize].as_deref();
        while let Some(node) = cur {
            visit(&node.key, &node.value);
            cur = node.next.as_deref();
        }
        // Increment the reversed cursor: set the unmasked bits, reverse, add one, reverse.
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    /// A uniformly random entry, with `rand` as the source of randomness. A slot (bucket,
    /// position in its chain below [`FAIR_DEPTH`]) is drawn until one holds a node, so every
    /// node is equally likely, wherever its chain is long or short (a random bucket and then
    /// a random node of its chain would favour nodes alone in their bucket). A chain longer
    /// than that, which the hash makes very rare, has its tail picked from its head's draw.
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<&Node<V>> {
        if self.len == 0 {
            return None;
        }
        let mask = self.buckets.len() - 1;
        // The table is at least 1/8 full, so a draw succeeds at least once in 64 on average;
        // past that many tries, walk to the next non-empty bucket instead.
        for _ in 0..4096 {
            let r = rand();
            let b = r as usize & mask;
            let depth = ((r >> 48) as usize) % FAIR_DEPTH;
            let mut cur = self.buckets[b].as_deref();
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
        let start = rand() as usize & mask;
        (0..self.buckets.len()).find_map(|i| self.buckets[(start + i) & mask].as_deref())
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

    /// How many entries each bucket holds, bucket by bucket (DEBUG HTSTATS).
    pub fn bucket_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.buckets.iter().map(|head| {
            let (mut n, mut cur) = (0, head.as_deref());
            while let Some(node) = cur {
                n += 1;
                cur = node.next.as_deref();
            }
            n
        })
    }

    /// Redis's `dictGetStats` text for this table.
    pub fn stats(&self) -> String {
        stats_text(self.capacity(), self.len, self.bucket_sizes())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Node<V>> {
        self.buckets.iter().flat_map(|head| {
            let mut cur = head.as_deref();
            std::iter::from_fn(move || {
                let n = cur?;
                cur = n.next.as_deref();
                Some(n)
            })
        })
    }
}

/// Redis's `dictGetStats` text (`_dictGetStatsHt` for the main table; Spindle's tables
/// resize at once, so there is never a rehashing target): the table's size, its entries, and
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
