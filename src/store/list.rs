//! A list as Redis's quicklist keeps it: a deque of nodes, each a packed run of elements
//! stored back to back in one buffer, so that an element costs its bytes plus two (a million
//! 16-byte elements take ~18 MB, not the ~40 MB of a `VecDeque<Vec<u8>>`).
//!
//! An element is `len` (LEB128) + bytes + `back` (the length of `len` + bytes, written so it
//! can be read from its last byte backwards), like a listpack entry, so a node can be walked
//! from either end. A node holds at most `fill` bytes, or `fill` elements when `fill` is
//! positive (Redis's `list-max-listpack-size`); pushes go to the end node or open a new one.

use std::collections::VecDeque;

use super::pack::{len_size, put_len, read_str};

/// Redis's `list-max-listpack-size` default: nodes of at most 8 KB.
pub const DEFAULT_FILL: i64 = -2;

/// The byte budget of a node for a negative fill (-1: 4 KB ... -5: 64 KB).
fn node_bytes(fill: i64) -> usize {
    match fill {
        -1 => 4096,
        -3 => 16384,
        -4 => 32768,
        f if f <= -5 => 65536,
        _ => 8192,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    buf: Vec<u8>,
    count: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
}

/// The backwards-readable length (listpack's backlen): read from its last byte leftwards, 7
/// bits a byte, least significant first; a byte with the high bit set has another to its left.
fn put_back(out: &mut Vec<u8>, n: usize) {
    let size = len_size(n);
    for i in (0..size).rev() {
        let byte = ((n >> (7 * i)) & 0x7f) as u8;
        out.push(if i == size - 1 { byte } else { byte | 0x80 });
    }
}

/// Writes one element at the start of `out` (which has at least `encoded_size(v)` bytes).
fn write_element(out: &mut [u8], v: &[u8]) {
    let mut p = 0;
    let mut n = v.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[p] = byte;
            p += 1;
            break;
        }
        out[p] = byte | 0x80;
        p += 1;
    }
    out[p..p + v.len()].copy_from_slice(v);
    p += v.len();
    let head = p;
    let size = len_size(head);
    for i in (0..size).rev() {
        let byte = ((head >> (7 * i)) & 0x7f) as u8;
        out[p] = if i == size - 1 { byte } else { byte | 0x80 };
        p += 1;
    }
}

/// Encodes one element.
fn encode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() + 2 * len_size(v.len()) + 1);
    put_len(&mut out, v.len());
    out.extend_from_slice(v);
    put_back(&mut out, len_size(v.len()) + v.len());
    out
}

fn encoded_size(v: &[u8]) -> usize {
    let head = len_size(v.len()) + v.len();
    head + len_size(head)
}

/// The element starting at `pos`: (its bytes, the position after it).
fn read_at(buf: &[u8], pos: usize) -> (&[u8], usize) {
    let (data, p) = read_str(buf, pos);
    let head = p - pos;
    (data, p + len_size(head))
}

/// The start of the element that ends at `end`.
fn start_before(buf: &[u8], end: usize) -> usize {
    let (mut head, mut p, mut shift) = (0usize, end, 0);
    loop {
        p -= 1;
        let b = buf[p];
        head |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    p - head
}

impl Node {
    fn iter(&self) -> NodeIter<'_> {
        NodeIter {
            buf: &self.buf,
            front: 0,
            back: self.buf.len(),
        }
    }

    fn fits(&self, extra: usize, fill: i64) -> bool {
        if fill > 0 {
            self.count < fill as usize
        } else {
            self.buf.len() + extra <= node_bytes(fill)
        }
    }

    /// Byte offset of element `i` (< count).
    fn offset_of(&self, i: usize) -> usize {
        if i <= self.count / 2 {
            let mut pos = 0;
            for _ in 0..i {
                pos = read_at(&self.buf, pos).1;
            }
            pos
        } else {
            let mut pos = self.buf.len();
            for _ in i..self.count {
                pos = start_before(&self.buf, pos);
            }
            pos
        }
    }
}

/// Walks one node's elements from either end.
struct NodeIter<'a> {
    buf: &'a [u8],
    front: usize,
    back: usize,
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (v, next) = read_at(self.buf, self.front);
        self.front = next;
        Some(v)
    }
}

impl DoubleEndedIterator for NodeIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let start = start_before(self.buf, self.back);
        self.back = start;
        Some(read_at(self.buf, start).0)
    }
}

/// Makes room for `extra` more bytes, growing to a power of two but never past the node's
/// byte budget, so a full 8 KB node sits in an 8 KB allocation.
fn reserve(buf: &mut Vec<u8>, extra: usize, fill: i64) {
    let need = buf.len() + extra;
    if need <= buf.capacity() {
        return;
    }
    let mut cap = need.next_power_of_two().max(16);
    if fill <= 0 {
        cap = cap.min(node_bytes(fill)).max(need);
    }
    buf.reserve_exact(cap - buf.len());
}

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl List {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pushes `v` at `end`; `fill` is `list-max-listpack-size`.
    pub fn push(&mut self, end: End, v: &[u8], fill: i64) {
        let size = encoded_size(v);
        let node = match end {
            End::Left => self.nodes.front_mut(),
            End::Right => self.nodes.back_mut(),
        };
        let node = match node {
            Some(n) if n.fits(size, fill) => n,
            _ => {
                let fresh = Node::default();
                match end {
                    End::Left => {
                        self.nodes.push_front(fresh);
                        &mut self.nodes[0]
                    }
                    End::Right => {
                        self.nodes.push_back(fresh);
                        let last = self.nodes.len() - 1;
                        &mut self.nodes[last]
                    }
                }
            }
        };
        reserve(&mut node.buf, size, fill);
        match end {
            End::Left => {
                // Shift the node up and write the element in front, without a temporary.
                let old = node.buf.len();
                node.buf.resize(old + size, 0);
                node.buf.copy_within(0..old, size);
                write_element(&mut node.buf[..size], v);
            }
            End::Right => {
                put_len(&mut node.buf, v.len());
                node.buf.extend_from_slice(v);
                put_back(&mut node.buf, len_size(v.len()) + v.len());
            }
        }
        node.count += 1;
        self.len += 1;
    }

    /// Pops the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let i = match end {
            End::Left => 0,
            End::Right => self.len.checked_sub(1)?,
        };
        self.remove(i)
    }

    /// The element at `index` (0-based from the left).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let (n, i) = self.locate(index)?;
        let node = &self.nodes[n];
        Some(read_at(&node.buf, node.offset_of(i)).0)
    }

    /// Node and position within it of element `index`.
    fn locate(&self, index: usize) -> Option<(usize, usize)> {
        if index >= self.len {
            return None;
        }
        if index < self.len / 2 {
            let mut rest = index;
            for (n, node) in self.nodes.iter().enumerate() {
                if rest < node.count {
                    return Some((n, rest));
                }
                rest -= node.count;
            }
        } else {
            let mut from_end = self.len - 1 - index;
            for (n, node) in self.nodes.iter().enumerate().rev() {
                if from_end < node.count {
                    return Some((n, node.count - 1 - from_end));
                }
                from_end -= node.count;
            }
        }
        None
    }

    /// Replaces the element at `index`; false if out of range.
    pub fn set(&mut self, index: usize, v: &[u8]) -> bool {
        let Some((n, i)) = self.locate(index) else {
            return false;
        };
        let node = &mut self.nodes[n];
        let start = node.offset_of(i);
        let end = read_at(&node.buf, start).1;
        node.buf.splice(start..end, encode(v));
        true
    }

    /// Removes and returns the element at `index`.
    pub fn remove(&mut self, index: usize) -> Option<Vec<u8>> {
        let (n, i) = self.locate(index)?;
        let node = &mut self.nodes[n];
        let start = node.offset_of(i);
        let (v, end) = read_at(&node.buf, start);
        let v = v.to_vec();
        node.buf.drain(start..end);
        node.count -= 1;
        self.len -= 1;
        if node.count == 0 {
            self.nodes.remove(n);
        } else if node.buf.capacity() > 2 * node.buf.len() + 64 {
            node.buf.shrink_to_fit();
        }
        Some(v)
    }

    /// Inserts `v` so that it becomes element `index` (`index == len` appends).
    pub fn insert(&mut self, index: usize, v: &[u8], fill: i64) {
        if index == 0 {
            return self.push(End::Left, v, fill);
        }
        if index >= self.len {
            return self.push(End::Right, v, fill);
        }
        let Some((n, i)) = self.locate(index) else {
            return;
        };
        let size = encoded_size(v);
        let node = &mut self.nodes[n];
        let at = node.offset_of(i);
        if node.fits(size, fill) {
            reserve(&mut node.buf, size, fill);
            node.buf.splice(at..at, encode(v));
            node.count += 1;
        } else {
            // Split the node at the insertion point, the new element opening the second half.
            let tail = node.buf.split_off(at);
            let tail_count = node.count - i;
            node.count = i;
            node.buf.shrink_to_fit();
            let mut second = Node {
                buf: encode(v),
                count: 1 + tail_count,
            };
            second.buf.extend_from_slice(&tail);
            self.nodes.insert(n + 1, second);
        }
        self.len += 1;
    }

    /// Every element, left to right (and back).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.nodes.iter().flat_map(Node::iter)
    }

    /// Elements `start..=end` (indexes already clamped to the list), left to right.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let count = end.saturating_sub(start) + 1;
        let count = if start > end || start >= self.len {
            0
        } else {
            count
        };
        // Skip whole nodes before `start` without decoding them.
        let mut skip_nodes = 0;
        let mut skipped = 0;
        for node in &self.nodes {
            if skipped + node.count > start {
                break;
            }
            skipped += node.count;
            skip_nodes += 1;
        }
        self.nodes
            .iter()
            .skip(skip_nodes)
            .flat_map(Node::iter)
            .skip(start - skipped.min(start))
            .take(count)
    }

    /// Removes the first `left` and the last `right` elements (LTRIM, popping a range).
    pub fn trim(&mut self, mut left: usize, mut right: usize) {
        if left + right >= self.len {
            self.nodes.clear();
            self.len = 0;
            return;
        }
        while left > 0 {
            let node = &mut self.nodes[0];
            if node.count <= left {
                left -= node.count;
                self.len -= node.count;
                self.nodes.pop_front();
            } else {
                let cut = node.offset_of(left);
                node.buf.drain(..cut);
                node.count -= left;
                self.len -= left;
                node.buf.shrink_to_fit();
                left = 0;
            }
        }
        while right > 0 {
            let last = self.nodes.len() - 1;
            let node = &mut self.nodes[last];
            if node.count <= right {
                right -= node.count;
                self.len -= node.count;
                self.nodes.pop_back();
            } else {
                let keep = node.count - right;
                let cut = node.offset_of(keep);
                node.buf.truncate(cut);
                node.count = keep;
                self.len -= right;
                node.buf.shrink_to_fit();
                right = 0;
            }
        }
    }

    /// Removes elements equal to `v`: up to `max` of them (0: all), scanning from the left, or
    /// from the right when `from_right`. Returns how many were removed (LREM).
    pub fn remove_matching(&mut self, v: &[u8], max: usize, from_right: bool) -> usize {
        let budget_left = |removed: usize| max == 0 || removed < max;
        let mut removed = 0;
        let order: Vec<usize> = if from_right {
            (0..self.nodes.len()).rev().collect()
        } else {
            (0..self.nodes.len()).collect()
        };
        for n in order {
            if !budget_left(removed) {
                break;
            }
            let node = &mut self.nodes[n];
            let elements: Vec<&[u8]> = node.iter().collect();
            let mut gone = vec![false; elements.len()];
            let mut idx: Vec<usize> = (0..elements.len()).collect();
            if from_right {
                idx.reverse();
            }
            for i in idx {
                if budget_left(removed) && elements[i] == v {
                    gone[i] = true;
                    removed += 1;
                }
            }
            if !gone.contains(&true) {
                continue;
            }
            let mut kept = Vec::with_capacity(node.buf.len());
            for (e, _) in elements.iter().zip(&gone).filter(|(_, g)| !**g) {
                kept.extend_from_slice(&encode(e));
            }
            let kept_count = node.count - gone.iter().filter(|g| **g).count();
            self.len -= node.count - kept_count;
            node.buf = kept;
            node.count = kept_count;
        }
        // Emptied nodes go last, so the indexes above stayed valid.
        self.nodes.retain(|n| n.count > 0);
        removed
    }

    /// Bytes held by the nodes (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>()
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_check(list: &List, model: &VecDeque<Vec<u8>>) {
        assert_eq!(list.len(), model.len());
        let got: Vec<&[u8]> = list.iter().collect();
        let want: Vec<&[u8]> = model.iter().map(Vec::as_slice).collect();
        assert_eq!(got, want);
        let back: Vec<&[u8]> = list.iter().rev().collect();
        let want_back: Vec<&[u8]> = model.iter().rev().map(Vec::as_slice).collect();
        assert_eq!(back, want_back);
        assert_eq!(list.nodes.iter().map(|n| n.count).sum::<usize>(), list.len);
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn element(rng: &mut Rng) -> Vec<u8> {
        // Mostly short, sometimes long enough for two-byte lengths.
        let len = if rng.below(10) == 0 {
            rng.below(400)
        } else {
            rng.below(20)
        };
        (0..len).map(|_| rng.next() as u8).collect()
    }

    #[test]
    fn lengths_round_trip() {
        for n in [
            0usize,
            1,
            126,
            127,
            128,
            129,
            16_383,
            16_384,
            1 << 21,
            1 << 30,
        ] {
            let mut b = Vec::new();
            put_len(&mut b, n);
            assert_eq!(b.len(), len_size(n));
            let mut back = Vec::new();
            put_back(&mut back, n);
            assert_eq!(back.len(), len_size(n));
        }
        let big = vec![7u8; 300];
        let e = encode(&big);
        assert_eq!(e.len(), encoded_size(&big));
        assert_eq!(read_at(&e, 0), (&big[..], e.len()));
        assert_eq!(start_before(&e, e.len()), 0);
    }

    #[test]
    fn random_operations_match_a_model() {
        for fill in [-2, -1, 3, 1, 128] {
            let mut rng = Rng(0x1234_5678 ^ fill as u64);
            let mut list = List::new();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for step in 0..4000 {
                match rng.below(10) {
                    0 | 1 => {
                        let e = element(&mut rng);
                        list.push(End::Left, &e, fill);
                        model.push_front(e);
                    }
                    2 | 3 => {
                        let e = element(&mut rng);
                        list.push(End::Right, &e, fill);
                        model.push_back(e);
                    }
                    4 => assert_eq!(list.pop(End::Left), model.pop_front()),
                    5 => assert_eq!(list.pop(End::Right), model.pop_back()),
                    6 if !model.is_empty() => {
                        let i = rng.below(model.len());
                        let e = element(&mut rng);
                        assert!(list.set(i, &e));
                        model[i] = e;
                    }
                    7 => {
                        let i = rng.below(model.len() + 1);
                        let e = element(&mut rng);
                        list.insert(i, &e, fill);
                        model.insert(i, e);
                    }
                    8 if !model.is_empty() => {
                        let i = rng.below(model.len());
                        assert_eq!(list.remove(i), model.remove(i));
                    }
                    _ => {
                        let i = rng.below(model.len() + 1);
                        assert_eq!(list.get(i), model.get(i).map(Vec::as_slice));
                    }
                }
                if step % 97 == 0 {
                    model_check(&list, &model);
                }
            }
            model_check(&list, &model);
            // Ranges, trims and removals against the model.
            for _ in 0..50 {
                if model.is_empty() {
                    break;
                }
                let a = rng.below(model.len());
                let b = rng.below(model.len());
                let got: Vec<&[u8]> = list.range(a, b).collect();
                let want: Vec<&[u8]> = if a > b {
                    vec![]
                } else {
                    model.range(a..=b).map(Vec::as_slice).collect()
                };
                assert_eq!(got, want);
            }
            let target = model.front().cloned().unwrap_or_default();
            let from_right = fill > 2;
            let removed = list.remove_matching(&target, 2, from_right);
            let mut gone = 0;
            if from_right {
                let mut i = model.len();
                while i > 0 && gone < 2 {
                    i -= 1;
                    if model[i] == target {
                        model.remove(i);
                        gone += 1;
                    }
                }
            } else {
                let mut i = 0;
                while i < model.len() && gone < 2 {
                    if model[i] == target {
                        model.remove(i);
                        gone += 1;
                    } else {
                        i += 1;
                    }
                }
            }
            assert_eq!(removed, gone);
            model_check(&list, &model);
            let (l, r) = (model.len() / 5, model.len() / 7);
            list.trim(l, r);
            for _ in 0..l {
                model.pop_front();
            }
            for _ in 0..r {
                model.pop_back();
            }
            model_check(&list, &model);
            list.trim(0, list.len());
            assert!(list.is_empty() && list.nodes() == 0);
        }
    }

    #[test]
    fn nodes_are_full_and_tight() {
        let mut list = List::new();
        for i in 0..100_000u32 {
            list.push(End::Right, format!("{i:016}").as_bytes(), DEFAULT_FILL);
        }
        // 18 bytes an element, 8 KB nodes.
        assert_eq!(list.nodes(), 100_000usize.div_ceil(8192 / 18));
        for node in &list.nodes {
            assert!(
                node.buf.len() <= 8192 && node.buf.capacity() <= 8192,
                "{} {}",
                node.buf.len(),
                node.buf.capacity()
            );
        }
    }
}
