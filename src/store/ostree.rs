//! An order-statistic B+tree of `u32` ids: the order index of a big sorted set.
//!
//! The tree holds ids only; the order between them is the caller's (a sorted set compares the
//! score and member each id names), passed to each call as a predicate. Every inner entry
//! keeps the number of ids below it and the last (greatest) of them, so that finding a
//! position by key, an id by rank, or the rank of a key are each one descent: O(log n), as
//! Redis's skiplist with spans gives them, in about 5 bytes an element instead of a skiplist
//! node's 40 or more.

/// Most ids in a leaf and children in an inner node; a node over it splits in two.
const MAX: usize = 64;
/// A node under this after a removal merges with a neighbour when they fit together.
const MIN: usize = MAX / 4;

enum Node {
    Leaf(Vec<u32>),
    Inner(Vec<Child>),
}

struct Child {
    /// Ids below.
    count: usize,
    /// The greatest id below.
    last: u32,
    node: Box<Node>,
}

impl Node {
    fn width(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Inner(c) => c.len(),
        }
    }

    fn count(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Inner(c) => c.iter().map(|c| c.count).sum(),
        }
    }

    fn last(&self) -> Option<u32> {
        match self {
            Node::Leaf(v) => v.last().copied(),
            Node::Inner(c) => c.last().map(|c| c.last),
        }
    }

    fn child(node: Node) -> Child {
        Child {
            count: node.count(),
            last: node.last().unwrap_or(u32::MAX),
            node: Box::new(node),
        }
    }

    /// Inserts `id` after every id for which `before` holds; returns the right half if the
    /// node split.
    fn insert(&mut self, id: u32, before: &dyn Fn(u32) -> bool) -> Option<Node> {
        match self {
            Node::Leaf(v) => {
                let at = v.partition_point(|&x| before(x));
                v.insert(at, id);
                (v.len() > MAX).then(|| Node::Leaf(v.split_off(v.len() / 2)))
            }
            Node::Inner(cs) => {
                let i = cs.partition_point(|c| before(c.last)).min(cs.len() - 1);
                let split = cs[i].node.insert(id, before);
                match split {
                    None => {
                        cs[i].count += 1;
                        cs[i].last = cs[i].node.last().unwrap_or(u32::MAX);
                    }
                    Some(right) => {
                        let left = std::mem::replace(&mut *cs[i].node, Node::Leaf(Vec::new()));
                        cs[i] = Node::child(left);
                        cs.insert(i + 1, Node::child(right));
                    }
                }
                (cs.len() > MAX).then(|| Node::Inner(cs.split_off(cs.len() / 2)))
            }
        }
    }

    /// Removes and returns the id at `rank` (which the caller checked is in range).
    fn remove_at(&mut self, rank: usize) -> u32 {
        match self {
            Node::Leaf(v) => v.remove(rank),
            Node::Inner(cs) => {
                let (mut i, mut rank) = (0, rank);
                while rank >= cs[i].count {
                    rank -= cs[i].count;
                    i += 1;
                }
                let id = cs[i].node.remove_at(rank);
                cs[i].count -= 1;
                if cs[i].count == 0 {
                    cs.remove(i);
                    return id;
                }
                cs[i].last = cs[i].node.last().unwrap_or(u32::MAX);
                if cs[i].node.width() < MIN && cs.len() > 1 {
                    // Merge with the right neighbour (or the left one, for the last child).
                    let j = if i + 1 < cs.len() { i } else { i - 1 };
                    if cs[j].node.width() + cs[j + 1].node.width() <= MAX {
                        let right = cs.remove(j + 1);
                        match (&mut *cs[j].node, *right.node) {
                            (Node::Leaf(a), Node::Leaf(b)) => a.extend(b),
                            (Node::Inner(a), Node::Inner(b)) => a.extend(b),
                            _ => unreachable!("siblings are at the same depth"),
                        }
                        cs[j].count += right.count;
                        cs[j].last = right.last;
                    }
                }
                id
            }
        }
    }
}

pub struct OsTree {
    root: Node,
    len: usize,
}

impl Default for OsTree {
    fn default() -> Self {
        Self::new()
    }
}

impl OsTree {
    pub fn new() -> Self {
        OsTree {
            root: Node::Leaf(Vec::new()),
            len: 0,
        }
    }

    /// Builds a tree from ids already in order, packing leaves three-quarters full.
    pub fn from_sorted(ids: impl IntoIterator<Item = u32>) -> Self {
        let fill = MAX * 3 / 4;
        let mut level: Vec<Node> = Vec::new();
        let mut leaf = Vec::with_capacity(fill);
        let mut len = 0;
        for id in ids {
            leaf.push(id);
            len += 1;
            if leaf.len() == fill {
                level.push(Node::Leaf(std::mem::replace(
                    &mut leaf,
                    Vec::with_capacity(fill),
                )));
            }
        }
        if !leaf.is_empty() || level.is_empty() {
            level.push(Node::Leaf(leaf));
        }
        while level.len() > 1 {
            let mut up = Vec::with_capacity(level.len() / fill + 1);
            let mut children = Vec::with_capacity(fill);
            for node in level {
                children.push(Node::child(node));
                if children.len() == fill {
                    up.push(Node::Inner(std::mem::replace(
                        &mut children,
                        Vec::with_capacity(fill),
                    )));
                }
            }
            if !children.is_empty() {
                up.push(Node::Inner(children));
            }
            level = up;
        }
        OsTree {
            root: level.pop().unwrap_or(Node::Leaf(Vec::new())),
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts `id` after every id for which `before` holds (the ids that sort before it).
    pub fn insert(&mut self, id: u32, before: impl Fn(u32) -> bool) {
        if let Some(right) = self.root.insert(id, &before) {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
            self.root = Node::Inner(vec![Node::child(left), Node::child(right)]);
        }
        self.len += 1;
    }

    /// Removes and returns the id at `rank`.
    pub fn remove_at(&mut self, rank: usize) -> Option<u32> {
        if rank >= self.len {
            return None;
        }
        let id = self.root.remove_at(rank);
        self.len -= 1;
        // A root with one child hands over to it.
        loop {
            match &mut self.root {
                Node::Inner(cs) if cs.len() == 1 => {
                    let only = cs.pop().map(|c| *c.node);
                    self.root = only.unwrap_or(Node::Leaf(Vec::new()));
                }
                Node::Inner(cs) if cs.is_empty() => self.root = Node::Leaf(Vec::new()),
                _ => break,
            }
        }
        Some(id)
    }

    /// How many ids come first for which `pred` holds, `pred` being true for a prefix of the
    /// order and false after it (the rank of a key, or of a range bound).
    pub fn count_while(&self, pred: impl Fn(u32) -> bool) -> usize {
        let mut node = &self.root;
        let mut skipped = 0;
        loop {
            match node {
                Node::Leaf(v) => return skipped + v.partition_point(|&x| pred(x)),
                Node::Inner(cs) => {
                    let i = cs.partition_point(|c| pred(c.last));
                    skipped += cs[..i].iter().map(|c| c.count).sum::<usize>();
                    match cs.get(i) {
                        Some(c) => node = &c.node,
                        None => return skipped,
                    }
                }
            }
        }
    }

    /// The id at `rank`.
    pub fn get(&self, rank: usize) -> Option<u32> {
        if rank >= self.len {
            return None;
        }
        let (mut node, mut rank) = (&self.root, rank);
        loop {
            match node {
                Node::Leaf(v) => return v.get(rank).copied(),
                Node::Inner(cs) => {
                    let mut i = 0;
                    while rank >= cs[i].count {
                        rank -= cs[i].count;
                        i += 1;
                    }
                    node = &cs[i].node;
                }
            }
        }
    }

    /// The ids from `rank` on, in order (`rev`: from `rank` down to the first).
    pub fn iter_from(&self, rank: usize, rev: bool) -> Iter<'_> {
        let mut it = Iter {
            stack: Vec::new(),
            left: 0,
            rev,
        };
        if rank >= self.len {
            return it;
        }
        it.left = if rev { rank + 1 } else { self.len - rank };
        let (mut node, mut rank) = (&self.root, rank);
        loop {
            match node {
                Node::Leaf(_) => {
                    it.stack.push((node, rank));
                    return it;
                }
                Node::Inner(cs) => {
                    let mut i = 0;
                    while rank >= cs[i].count {
                        rank -= cs[i].count;
                        i += 1;
                    }
                    it.stack.push((node, i));
                    node = &cs[i].node;
                }
            }
        }
    }

    /// Every id, in order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0, false)
    }

    /// Heap bytes of the index (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        fn walk(n: &Node) -> usize {
            match n {
                Node::Leaf(v) => v.capacity() * 4,
                Node::Inner(cs) => {
                    cs.capacity() * std::mem::size_of::<Child>()
                        + cs.iter()
                            .map(|c| std::mem::size_of::<Node>() + walk(&c.node))
                            .sum::<usize>()
                }
            }
        }
        walk(&self.root)
    }
}

/// Walks the ids from a rank, forwards or backwards: a path of (node, index) from the root.
pub struct Iter<'a> {
    stack: Vec<(&'a Node, usize)>,
    left: usize,
    rev: bool,
}

impl Iterator for Iter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.left == 0 {
            return None;
        }
        let &(node, i) = self.stack.last()?;
        let Node::Leaf(v) = node else { return None };
        let id = v[i];
        self.left -= 1;
        if self.left > 0 {
            self.advance();
        }
        Some(id)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl Iter<'_> {
    /// Moves the path to the next leaf slot in the walk's direction.
    fn advance(&mut self) {
        // Step within the deepest node that has room, popping exhausted ones.
        loop {
            let Some((node, i)) = self.stack.last_mut() else {
                return;
            };
            let width = node.width();
            if !self.rev && *i + 1 < width {
                *i += 1;
                break;
            }
            if self.rev && *i > 0 {
                *i -= 1;
                break;
            }
            self.stack.pop();
        }
        // Descend to the first (or last) slot of each level below.
        while let Some(&(Node::Inner(cs), i)) = self.stack.last() {
            let child: &Node = &cs[i].node;
            let at = if self.rev { child.width() - 1 } else { 0 };
            self.stack.push((child, at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids stand for themselves: the order is numeric.
    fn check(t: &OsTree, model: &[u32]) {
        assert_eq!(t.len(), model.len());
        assert_eq!(t.iter().collect::<Vec<_>>(), model);
        for (r, &id) in model.iter().enumerate().step_by(7) {
            assert_eq!(t.get(r), Some(id));
            assert_eq!(t.count_while(|x| x < id), r);
            let fwd: Vec<_> = t.iter_from(r, false).take(5).collect();
            assert_eq!(fwd, model[r..(r + 5).min(model.len())]);
            let back: Vec<_> = t.iter_from(r, true).take(5).collect();
            let want: Vec<_> = model[..=r].iter().rev().take(5).copied().collect();
            assert_eq!(back, want);
        }
    }

    #[test]
    fn matches_a_sorted_vec() {
        let mut t = OsTree::new();
        let mut model: Vec<u32> = Vec::new();
        let mut seed = 0x2545_f491u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..20_000u32 {
            let grow = round < 12_000 || rnd() % 3 == 0;
            if grow || model.is_empty() {
                let id = (rnd() % 1_000_000) as u32;
                if let Err(at) = model.binary_search(&id) {
                    model.insert(at, id);
                    t.insert(id, |x| x < id);
                }
            } else {
                let r = (rnd() % model.len() as u64) as usize;
                assert_eq!(t.remove_at(r), Some(model.remove(r)));
            }
            if round % 2000 == 0 {
                check(&t, &model);
            }
        }
        check(&t, &model);
        while !model.is_empty() {
            let r = model.len() / 2;
            assert_eq!(t.remove_at(r), Some(model.remove(r)));
        }
        check(&t, &model);
        assert_eq!(t.remove_at(0), None);
    }

    #[test]
    fn built_from_sorted() {
        for n in [0u32, 1, 47, 48, 49, 5000] {
            let model: Vec<u32> = (0..n).map(|i| i * 2).collect();
            let mut t = OsTree::from_sorted(model.iter().copied());
            check(&t, &model);
            t.insert(3, |x| x < 3);
            let mut m2 = model.clone();
            if let Err(at) = m2.binary_search(&3) {
                m2.insert(at, 3);
            }
            check(&t, &m2);
        }
    }
}
