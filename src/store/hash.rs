//! A hash as Redis keeps it: small ones packed in one buffer (listpack), big ones in a hash
//! table, switching at Redis's thresholds (`hash-max-listpack-entries`,
//! `hash-max-listpack-value`) and never back.
//!
//! The packed form is a 2-byte pair count followed by the pairs. A pair whose field has 1..=15
//! bytes and value 1..=16 (most: short names, short values) has a one-byte header holding
//! both lengths (`(field - 1) << 4 | (value - 1)`); any other pair starts with 0xF0 and gives
//! each length in LEB128. The buffer is sized to fit, as a listpack is.

use super::dict::Dict;
use super::pack::{packed_count, put_str, read_str, set_packed_count};

/// The thresholds of the packed form (Redis's defaults: 512 entries, 64 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits {
            max_entries: 512,
            max_value: 64,
        }
    }
}

/// Pairs a packed hash can count (its count is 2 bytes).
const PACKED_MAX: usize = u16::MAX as usize;

pub enum Hash {
    Packed(Vec<u8>),
    Table(Box<Dict<Box<[u8]>>>),
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Clone for Hash {
    fn clone(&self) -> Self {
        match self {
            Hash::Packed(b) => Hash::Packed(b.clone()),
            Hash::Table(t) => {
                let mut d = Dict::new();
                for n in t.iter() {
                    d.insert_new(n.key.clone(), n.value.clone());
                }
                Hash::Table(Box::new(d))
            }
        }
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl Eq for Hash {}

/// Walks a packed hash: (field, value, start of the pair, end of the pair).
struct PackedIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (&'a [u8], &'a [u8], usize, usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        let head = self.buf[start];
        let (f, v, end) = if head >> 4 != 0xF {
            let (fl, vl) = (usize::from(head >> 4) + 1, usize::from(head & 0xF) + 1);
            let f = &self.buf[start + 1..start + 1 + fl];
            let v = &self.buf[start + 1 + fl..start + 1 + fl + vl];
            (f, v, start + 1 + fl + vl)
        } else {
            let (f, p) = read_str(self.buf, start + 1);
            let (v, end) = read_str(self.buf, p);
            (f, v, end)
        };
        self.pos = end;
        Some((f, v, start, end))
    }
}

fn packed(buf: &[u8]) -> PackedIter<'_> {
    PackedIter {
        buf,
        pos: 2.min(buf.len()),
    }
}

fn encode_pair(field: &[u8], value: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(field.len() + value.len() + 5);
    if (1..=15).contains(&field.len()) && (1..=16).contains(&value.len()) {
        e.push(((field.len() as u8 - 1) << 4) | (value.len() as u8 - 1));
        e.extend_from_slice(field);
        e.extend_from_slice(value);
    } else {
        e.push(0xF0);
        put_str(&mut e, field);
        put_str(&mut e, value);
    }
    e
}

impl Default for Hash {
    fn default() -> Self {
        Self::new()
    }
}

impl Hash {
    /// DEBUG HTSTATS-KEY: the table's stats, for the table form.
    pub fn table_stats(&self) -> Option<String> {
        match self {
            Hash::Table(d) => Some(d.stats()),
            _ => None,
        }
    }

    pub fn new() -> Self {
        Hash::Packed(Vec::new())
    }

    /// An empty hash about to take `n` fields: the table form, sized for them, when they are
    /// more than the packed form holds.
    pub fn with_capacity(n: usize, limits: HashLimits) -> Self {
        if n > limits.max_entries {
            Hash::Table(Box::new(Dict::with_capacity(n)))
        } else {
            Hash::new()
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Packed(b) => packed_count(b),
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Packed(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Packed(b) => packed(b).find(|(f, ..)| *f == field).map(|(_, v, ..)| v),
            Hash::Table(t) => t.get(field).map(|v| &**v),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true if the field is new. Switches to the table form when the
    /// pair is too long for the packed form or the packed form would grow past its count.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        if let Hash::Packed(_) = self {
            if field.len() > limits.max_value || value.len() > limits.max_value {
                self.convert();
            }
        }
        let fresh = match self {
            Hash::Packed(b) => {
                let found = packed(b).find(|(f, ..)| *f == field);
                let pair = encode_pair(field, value);
                match found {
                    Some((_, _, start, end)) if end - start == pair.len() => {
                        // Same size: overwrite in place.
                        b[start..end].copy_from_slice(&pair);
                        false
                    }
                    Some((_, _, start, end)) => {
                        let grow = pair.len().saturating_sub(end - start);
                        b.reserve_exact(grow);
                        b.splice(start..end, pair);
                        false
                    }
                    None => {
                        let n = packed_count(b);
                        b.reserve_exact(pair.len() + if b.is_empty() { 2 } else { 0 });
                        set_packed_count(b, n + 1);
                        b.extend_from_slice(&pair);
                        true
                    }
                }
            }
            Hash::Table(t) => match t.get_mut(field) {
                Some(v) => {
                    *v = Box::from(value);
                    false
                }
                None => {
                    t.insert_new(Box::from(field), Box::from(value));
                    true
                }
            },
        };
        if let Hash::Packed(_) = self {
            if self.len() > limits.max_entries.min(PACKED_MAX) {
                self.convert();
            }
        }
        fresh
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(b) => {
                let Some((_, _, start, end)) = packed(b).find(|(f, ..)| *f == field) else {
                    return false;
                };
                b.drain(start..end);
                let n = packed_count(b) - 1;
                set_packed_count(b, n);
                if n == 0 {
                    *b = Vec::new();
                } else if b.capacity() > b.len() + 64 {
                    b.shrink_to_fit();
                }
                true
            }
            Hash::Table(t) => t.remove(field).is_some(),
        }
    }

    /// The packed form moved into a table (never back, as in Redis).
    fn convert(&mut self) {
        if let Hash::Packed(b) = self {
            let mut t = Dict::new();
            for (f, v, ..) in packed(b) {
                t.insert_new(Box::from(f), Box::from(v));
            }
            *self = Hash::Table(Box::new(t));
        }
    }

    /// Every (field, value), in storage order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Packed(b) => Box::new(packed(b).map(|(f, v, ..)| (f, v))),
            Hash::Table(t) => Box::new(t.iter().map(|n| (&*n.key, &*n.value))),
        }
    }

    /// The pair at position `i` of `iter()` order, for random picks in the packed form.
    pub fn nth(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.iter().nth(i)
    }

    /// A random pair (`rand` is the source of randomness).
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Packed(b) => {
                let n = packed_count(b);
                if n == 0 {
                    return None;
                }
                self.nth((rand() % n as u64) as usize)
            }
            Hash::Table(t) => t.random(rand).map(|n| (&*n.key, &*n.value)),
        }
    }

    /// Bytes held on the heap (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Hash::Packed(b) => b.capacity(),
            Hash::Table(t) => {
                // A node per pair (key box, value box, link), and a bucket pointer each.
                let per_node = 6 * std::mem::size_of::<usize>();
                t.capacity() * std::mem::size_of::<usize>()
                    + t.iter()
                        .map(|n| per_node + n.key.len() + n.value.len())
                        .sum::<usize>()
            }
        }
    }

    /// Is this the table form (HSCAN walks it with a cursor; the packed form in one step)?
    pub fn is_table(&self) -> bool {
        matches!(self, Hash::Table(_))
    }

    /// One HSCAN step over the table form: visits a bucket, returns the next cursor.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &[u8])) -> u64 {
        match self {
            Hash::Packed(_) => {
                for (f, v) in self.iter() {
                    visit(f, v);
                }
                0
            }
            Hash::Table(t) => t.scan(cursor, |k, v| visit(k, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn matches_a_model_in_both_forms() {
        for limits in [
            HashLimits::default(),
            HashLimits {
                max_entries: 5,
                max_value: 8,
            },
            HashLimits {
                max_entries: 0,
                max_value: 64,
            },
        ] {
            let mut h = Hash::new();
            let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            let mut seed = 0x9e37_79b9u64;
            let mut rnd = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            for _ in 0..3000 {
                let f = format!("f{}", rnd() % 40).into_bytes();
                match rnd() % 4 {
                    0 | 1 => {
                        let v = vec![b'v'; (rnd() % 12) as usize];
                        assert_eq!(h.set(&f, &v, limits), model.insert(f, v).is_none());
                    }
                    2 => assert_eq!(h.remove(&f), model.remove(&f).is_some()),
                    _ => assert_eq!(h.get(&f), model.get(&f).map(Vec::as_slice)),
                }
                assert_eq!(h.len(), model.len());
            }
            let mut all: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            all.sort();
            let mut want: Vec<_> = model.into_iter().collect();
            want.sort();
            assert_eq!(all, want);
        }
    }

    #[test]
    fn pairs_short_and_long_round_trip() {
        let limits = HashLimits {
            max_entries: 512,
            max_value: 1000,
        };
        let mut h = Hash::new();
        let sizes = [0usize, 1, 2, 15, 16, 17, 127, 128, 300];
        for &f in &sizes {
            for &v in &sizes {
                let field = vec![b'f'; f]
                    .into_iter()
                    .chain(format!("{v}").bytes())
                    .collect::<Vec<_>>();
                h.set(&field, &vec![b'v'; v], limits);
            }
        }
        for &f in &sizes {
            for &v in &sizes {
                let field = vec![b'f'; f]
                    .into_iter()
                    .chain(format!("{v}").bytes())
                    .collect::<Vec<_>>();
                assert_eq!(h.get(&field), Some(&vec![b'v'; v][..]), "{f} {v}");
            }
        }
        assert_eq!(h.len(), sizes.len() * sizes.len());
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn converts_at_redis_thresholds() {
        let limits = HashLimits {
            max_entries: 3,
            max_value: 4,
        };
        let mut h = Hash::new();
        for i in 0..3 {
            h.set(format!("f{i}").as_bytes(), b"v", limits);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f3", b"v", limits);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::new();
        h.set(b"f", b"1234", limits);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f", b"12345", limits);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"f"), Some(&b"12345"[..]));
    }

    #[test]
    fn packed_form_is_sized_to_fit() {
        let mut h = Hash::new();
        for i in 0..10 {
            h.set(
                format!("f{i:07}").as_bytes(),
                format!("v{i:015}").as_bytes(),
                HashLimits::default(),
            );
        }
        let Hash::Packed(b) = &h else {
            panic!("packed")
        };
        // One header byte a pair: 252 bytes, in a 256-byte allocation.
        assert_eq!(b.len(), 2 + 10 * (1 + 8 + 16));
        assert!(b.capacity() <= b.len() + 32, "{}", b.capacity());
    }
}
