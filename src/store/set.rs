//! A set as Redis keeps it, in less memory.
//!
//! - **Integers** (every member an integer Redis would encode, at most `set-max-intset-entries`
//!   of them): a sorted array of 2-, 4- or 8-byte integers, the width the largest needs, as
//!   Redis's intset. `OBJECT ENCODING` says `intset`.
//! - **Packed** (a few short members): length-prefixed members in one buffer. Redis 7.0 keeps
//!   such a set in a hash table (a 24-byte entry, a string object and a bucket per member);
//!   packed, ten 16-byte members take under 200 bytes. It answers `hashtable`, as Redis does
//!   for the same set, so the thresholds users see are Redis's.
//! - **Table**: a hash table with Redis's SCAN cursor, past [`PACKED_MAX_ENTRIES`] members or a
//!   member over [`PACKED_MAX_VALUE`] bytes.
//!
//! A set moves to a bigger form when it outgrows its own and never back, as in Redis.
//!
//! Both small forms live in one `Vec<u8>` whose first byte says which (the width of an intset,
//! or [`PACKED`]), so that a set is as small as a `Vec` and a [`super::Value`] stays 32 bytes.

use std::borrow::Cow;

use super::dict::Dict;
use super::pack::{put_str, read_str, shrink};
use crate::protocol::parse_i64;

/// `set-max-intset-entries` (Redis's default 512).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetLimits {
    pub max_intset_entries: usize,
}

impl Default for SetLimits {
    fn default() -> Self {
        SetLimits {
            max_intset_entries: 512,
        }
    }
}

/// Members a packed set holds at most before it becomes a table (the same as a sorted set's
/// listpack, Redis's `zset-max-listpack-entries` default).
pub const PACKED_MAX_ENTRIES: usize = 128;
/// The longest member a packed set holds.
pub const PACKED_MAX_VALUE: usize = 64;

/// First byte of the packed form (an intset's is its width: 2, 4 or 8).
const PACKED: u8 = 0;

pub struct Set(Repr);

enum Repr {
    /// Empty, an intset (`[width, ints...]`) or the packed form (`[PACKED, count_lo, count_hi,
    /// members...]`).
    Small(Vec<u8>),
    Table(Box<Dict<()>>),
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(
                self.iter()
                    .map(|m| String::from_utf8_lossy(&m).into_owned()),
            )
            .finish()
    }
}

impl Clone for Set {
    fn clone(&self) -> Self {
        match &self.0 {
            Repr::Small(b) => Set(Repr::Small(b.clone())),
            Repr::Table(t) => {
                let mut d = Dict::new();
                for n in t.iter() {
                    d.insert_new(n.key.clone(), ());
                }
                Set(Repr::Table(Box::new(d)))
            }
        }
    }
}

impl PartialEq for Set {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|m| other.contains(&m))
    }
}

impl Eq for Set {}

impl Default for Set {
    fn default() -> Self {
        Self::new()
    }
}

/// Width in bytes an intset needs for `v`.
fn width_of(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// The intset view of a small buffer whose first byte is a width.
struct Ints<'a>(&'a [u8]);

impl Ints<'_> {
    fn width(&self) -> usize {
        usize::from(self.0[0])
    }

    fn len(&self) -> usize {
        (self.0.len() - 1) / self.width()
    }

    fn get(&self, i: usize) -> i64 {
        let w = self.width();
        let at = 1 + i * w;
        let b = &self.0[at..at + w];
        match w {
            2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                i64::from_le_bytes(a)
            }
        }
    }

    /// Binary search: `Ok(index)` if found, `Err(insertion point)` if not.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

fn put_int(out: &mut Vec<u8>, v: i64, width: u8) {
    match width {
        2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
        4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
        _ => out.extend_from_slice(&v.to_le_bytes()),
    }
}

/// Walks the members of a packed buffer: (member, start, end).
fn packed(buf: &[u8]) -> impl Iterator<Item = (&[u8], usize, usize)> + '_ {
    let mut pos = 3.min(buf.len());
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        let start = pos;
        let (m, end) = read_str(buf, pos);
        pos = end;
        Some((m, start, end))
    })
}

fn packed_count(buf: &[u8]) -> usize {
    usize::from(u16::from_le_bytes([buf[1], buf[2]]))
}

fn set_packed_count(buf: &mut [u8], n: usize) {
    buf[1..3].copy_from_slice(&(n as u16).to_le_bytes());
}

impl Set {
    /// DEBUG HTSTATS-KEY: the table's stats, for the table form.
    pub fn table_stats(&self) -> Option<String> {
        match &self.0 {
            Repr::Table(d) => Some(d.stats()),
            Repr::Small(_) => None,
        }
    }

    pub fn new() -> Self {
        Set(Repr::Small(Vec::new()))
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Small(b) if b.is_empty() => 0,
            Repr::Small(b) if b[0] == PACKED => packed_count(b),
            Repr::Small(b) => Ints(b).len(),
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING`: by Redis 7.0's rules, which know only intsets and hash tables.
    pub fn encoding(&self) -> &'static str {
        if self.is_intset() {
            "intset"
        } else {
            "hashtable"
        }
    }

    /// Is this the integer form (or empty)?
    pub fn is_intset(&self) -> bool {
        matches!(&self.0, Repr::Small(b) if b.first() != Some(&PACKED))
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.0 {
            Repr::Small(b) if b.is_empty() => false,
            Repr::Small(b) if b[0] == PACKED => packed(b).any(|(m, ..)| m == member),
            Repr::Small(b) => parse_i64(member).is_some_and(|v| Ints(b).search(v).is_ok()),
            Repr::Table(t) => t.get(member).is_some(),
        }
    }

    /// Adds `member`; true if it was not there.
    pub fn insert(&mut self, member: &[u8], limits: SetLimits) -> bool {
        if self.is_intset() {
            if let Some(v) = parse_i64(member) {
                let Repr::Small(b) = &mut self.0 else {
                    unreachable!("checked to be an intset")
                };
                if b.is_empty() {
                    b.push(2);
                }
                let ints = Ints(b);
                let Err(at) = ints.search(v) else {
                    return false;
                };
                if ints.len() < limits.max_intset_entries {
                    insert_int(b, at, v);
                    return true;
                }
            }
            self.grow(member.len(), 1);
        }
        match &mut self.0 {
            Repr::Small(b) => {
                if packed(b).any(|(m, ..)| m == member) {
                    return false;
                }
                let n = packed_count(b);
                if n < PACKED_MAX_ENTRIES && member.len() <= PACKED_MAX_VALUE {
                    b.reserve_exact(member.len() + 2);
                    put_str(b, member);
                    set_packed_count(b, n + 1);
                    return true;
                }
                self.make_table();
                self.insert(member, limits)
            }
            Repr::Table(t) => {
                if t.get(member).is_some() {
                    return false;
                }
                t.insert_new(Box::from(member), ());
                true
            }
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.0 {
            Repr::Small(b) if b.is_empty() => false,
            Repr::Small(b) if b[0] == PACKED => {
                let Some((_, start, end)) = packed(b).find(|(m, ..)| *m == member) else {
                    return false;
                };
                b.drain(start..end);
                let n = packed_count(b) - 1;
                set_packed_count(b, n);
                shrink(b, n);
                true
            }
            Repr::Small(b) => {
                let Some(v) = parse_i64(member) else {
                    return false;
                };
                let Ok(at) = Ints(b).search(v) else {
                    return false;
                };
                let w = usize::from(b[0]);
                b.drain(1 + at * w..1 + (at + 1) * w);
                let n = Ints(b).len();
                shrink(b, n);
                true
            }
            Repr::Table(t) => t.remove(member).is_some(),
        }
    }

    /// Leaves the integer form for the packed one, or a table if `extra` more members (the
    /// longest `longest` bytes) would not fit it.
    fn grow(&mut self, longest: usize, extra: usize) {
        let Repr::Small(b) = &self.0 else { return };
        let ints: Vec<i64> = if b.is_empty() {
            Vec::new()
        } else {
            Ints(b).iter().collect()
        };
        if ints.len() + extra > PACKED_MAX_ENTRIES || longest > PACKED_MAX_VALUE {
            let mut d = Dict::new();
            for v in ints {
                d.insert_new(Box::from(v.to_string().as_bytes()), ());
            }
            self.0 = Repr::Table(Box::new(d));
            return;
        }
        let mut out = vec![PACKED, 0, 0];
        for v in &ints {
            put_str(&mut out, v.to_string().as_bytes());
        }
        set_packed_count(&mut out, ints.len());
        self.0 = Repr::Small(out);
    }

    fn make_table(&mut self) {
        if let Repr::Small(_) = self.0 {
            let mut d = Dict::new();
            for m in self.iter() {
                d.insert_new(Box::from(&*m), ());
            }
            self.0 = Repr::Table(Box::new(d));
        }
    }

    /// Every member: the integer form in ascending order, the others in storage order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        match &self.0 {
            Repr::Small(b) if b.is_empty() => Box::new(std::iter::empty()),
            Repr::Small(b) if b[0] == PACKED => Box::new(packed(b).map(|(m, ..)| Cow::from(m))),
            Repr::Small(b) => Box::new(
                Ints(b)
                    .iter()
                    .map(|v| Cow::from(v.to_string().into_bytes()))
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            Repr::Table(t) => Box::new(t.iter().map(|n| Cow::from(&*n.key))),
        }
    }

    /// The member at position `i` of `iter()` order (small forms).
    fn nth_small(&self, i: usize) -> Option<Vec<u8>> {
        match &self.0 {
            Repr::Small(b) if b.is_empty() => None,
            Repr::Small(b) if b[0] == PACKED => packed(b).nth(i).map(|(m, ..)| m.to_vec()),
            Repr::Small(b) => (i < Ints(b).len()).then(|| Ints(b).get(i).to_string().into_bytes()),
            Repr::Table(_) => None,
        }
    }

    /// A uniformly random member (`rand` is the source of randomness).
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<Vec<u8>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        match &self.0 {
            Repr::Table(t) => t.random(rand).map(|node| node.key.to_vec()),
            Repr::Small(_) => self.nth_small((rand() % n as u64) as usize),
        }
    }

    /// Removes and returns a random member.
    pub fn pop_random(&mut self, rand: impl FnMut() -> u64) -> Option<Vec<u8>> {
        let m = self.random(rand)?;
        self.remove(&m);
        Some(m)
    }

    /// Is this the table form (SSCAN walks it with a cursor; the small forms in one step)?
    pub fn is_table(&self) -> bool {
        matches!(self.0, Repr::Table(_))
    }

    /// One SSCAN step over the table form: visits a bucket, returns the next cursor. The small
    /// forms are visited whole, with cursor 0 next.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8])) -> u64 {
        match &self.0 {
            Repr::Table(t) => t.scan(cursor, |k, _| visit(k)),
            Repr::Small(_) => {
                for m in self.iter() {
                    visit(&m);
                }
                0
            }
        }
    }

    /// Bytes held on the heap (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Small(b) => b.capacity(),
            Repr::Table(t) => {
                // A node (key box, link) per member, and a bucket pointer each.
                let per_node = 3 * std::mem::size_of::<usize>();
                t.capacity() * std::mem::size_of::<usize>()
                    + t.iter().map(|n| per_node + n.key.len()).sum::<usize>()
            }
        }
    }
}

/// Inserts `v` at index `at` of an intset, widening every member first if `v` needs it.
fn insert_int(b: &mut Vec<u8>, at: usize, v: i64) {
    let need = width_of(v);
    if need > b[0] {
        let old: Vec<i64> = Ints(b).iter().collect();
        let mut out = Vec::with_capacity(1 + (old.len() + 1) * usize::from(need));
        out.push(need);
        for (i, x) in old.iter().enumerate() {
            if i == at {
                put_int(&mut out, v, need);
            }
            put_int(&mut out, *x, need);
        }
        if at == old.len() {
            put_int(&mut out, v, need);
        }
        *b = out;
        return;
    }
    let w = b[0];
    let mut enc = Vec::with_capacity(8);
    put_int(&mut enc, v, w);
    let pos = 1 + at * usize::from(w);
    b.reserve_exact(enc.len());
    b.splice(pos..pos, enc);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn rnd(seed: &mut u64) -> u64 {
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn matches_a_model_through_every_form() {
        for max_intset in [512, 4, 0] {
            let limits = SetLimits {
                max_intset_entries: max_intset,
            };
            let mut s = Set::new();
            let mut model: HashSet<Vec<u8>> = HashSet::new();
            let mut seed = 0x1234_5678u64;
            for step in 0..6000 {
                let r = rnd(&mut seed);
                let m = match (step / 1500, r % 5) {
                    // First only integers (of every width), then some strings, then long ones.
                    (0, _) | (_, 0..=2) => {
                        let v = (rnd(&mut seed) % 300) as i64 - 150;
                        let v = match r % 3 {
                            0 => v,
                            1 => v * 100_000,
                            _ => v * 10_000_000_000,
                        };
                        v.to_string().into_bytes()
                    }
                    (1, _) => format!("m{}", r % 200).into_bytes(),
                    _ => vec![b'x'; (r % 100) as usize],
                };
                match rnd(&mut seed) % 3 {
                    0 | 1 => assert_eq!(s.insert(&m, limits), model.insert(m.clone())),
                    _ => assert_eq!(s.remove(&m), model.remove(&m)),
                }
                assert_eq!(s.len(), model.len());
                assert_eq!(s.contains(&m), model.contains(&m));
            }
            let all: HashSet<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
            assert_eq!(all, model);
        }
    }

    #[test]
    fn forms_and_encodings() {
        let limits = SetLimits::default();
        let mut s = Set::new();
        for v in [5, -3, 70_000, 1] {
            s.insert(v.to_string().as_bytes(), limits);
        }
        assert_eq!(s.encoding(), "intset");
        let sorted: Vec<_> = s.iter().map(|m| m.to_vec()).collect();
        assert_eq!(sorted, [&b"-3"[..], b"1", b"5", b"70000"]);
        assert!(s.contains(b"70000") && !s.contains(b"070000"));
        s.insert(b"abc", limits);
        assert_eq!(s.encoding(), "hashtable");
        assert!(!s.is_table(), "a few short members stay packed");
        assert!(s.contains(b"-3") && s.contains(b"abc"));
        s.insert(&[b'y'; 65], limits);
        assert!(s.is_table());
        assert_eq!(s.len(), 6);
        let mut s = Set::new();
        let tight = SetLimits {
            max_intset_entries: 2,
        };
        for v in 0..3 {
            s.insert(v.to_string().as_bytes(), tight);
        }
        assert_eq!((s.encoding(), s.len()), ("hashtable", 3));
    }

    #[test]
    fn packed_form_is_compact() {
        let mut s = Set::new();
        for i in 0..10 {
            s.insert(format!("member:{i:09}").as_bytes(), SetLimits::default());
        }
        let Repr::Small(b) = &s.0 else {
            panic!("packed")
        };
        assert_eq!(b.len(), 3 + 10 * 17);
        assert!(s.heap_bytes() < 256);
    }

    #[test]
    fn random_picks_cover_every_member() {
        let mut seed = 7u64;
        for n in [3usize, 50, 300] {
            let mut s = Set::new();
            for i in 0..n {
                s.insert(format!("m{i}").as_bytes(), SetLimits::default());
            }
            let mut seen = HashSet::new();
            for _ in 0..n * 40 {
                seen.insert(s.random(|| rnd(&mut seed)).unwrap());
            }
            assert_eq!(seen.len(), n);
            let mut popped = HashSet::new();
            while let Some(m) = s.pop_random(|| rnd(&mut seed)) {
                assert!(popped.insert(m));
            }
            assert_eq!(popped.len(), n);
        }
    }
}
