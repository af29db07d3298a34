//! HyperLogLog, in Redis's string format, byte for byte: a 16-byte header (`HYLL`, the
//! encoding, three unused bytes, the cached cardinality little-endian with its top bit
//! meaning "stale"), then 16384 6-bit registers, either dense (12288 bytes) or sparse
//! (ZERO `00xxxxxx`, XZERO `01xxxxxx yyyyyyyy` and VAL `1vvvvvxx` runs). A new HLL is
//! sparse; it turns dense past `hll-sparse-max-bytes` or when a register exceeds 32. The
//! estimate is Ertl's ("New cardinality estimation algorithms for HyperLogLog sketches"),
//! as Redis 7 computes it.

const P: u32 = 14;
const Q: u32 = 64 - P;
pub const REGISTERS: usize = 1 << P;
const REGISTER_MAX: u8 = 63;
const HDR: usize = 16;
const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The value is not a well-formed HLL (Redis's `invalid_hll_err`).
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

/// A sparse op: a run of `len` registers at `value` (0 for ZERO/XZERO), and its size.
#[derive(Clone, Copy)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    fn read(b: &[u8]) -> Option<Op> {
        let x = *b.first()?;
        Some(if x & 0xc0 == 0 {
            Op::Zero((x & 0x3f) as usize + 1)
        } else if x & 0x80 != 0 {
            Op::Val(((x >> 2) & 0x1f) + 1, (x & 3) as usize + 1)
        } else {
            // An XZERO cut short by the end of the string reads the string's terminating
            // NUL in Redis: a zero.
            let y = b.get(1).copied().unwrap_or(0);
            Op::XZero(((((x & 0x3f) as usize) << 8) | y as usize) + 1)
        })
    }

    fn size(self) -> usize {
        if let Op::XZero(_) = self {
            2
        } else {
            1
        }
    }

    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    fn write(self, out: &mut Vec<u8>) {
        match self {
            Op::Zero(n) => out.push((n - 1) as u8),
            Op::XZero(n) => {
                let n = n - 1;
                out.push(0x40 | (n >> 8) as u8);
                out.push((n & 0xff) as u8);
            }
            Op::Val(v, n) => out.push(0x80 | ((v - 1) << 2) | (n - 1) as u8),
        }
    }

    /// A zero run as one op (ZERO up to 64, XZERO beyond).
    fn zeros(n: usize) -> Op {
        if n > ZERO_MAX_LEN {
            Op::XZero(n)
        } else {
            Op::Zero(n)
        }
    }
}

/// Redis's `MurmurHash64A`, little-endian, as its HLL hashes elements.
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to, and its run of zeros plus one (1..=51).
fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let (byte, fb) = (i * 6 / 8, (i * 6) & 7);
    let b0 = u16::from(regs[byte]);
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REGISTER_MAX)) as u8
}

fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let (byte, fb) = (i * 6 / 8, (i * 6) & 7);
    let v = u16::from(v);
    let max = u16::from(REGISTER_MAX);
    regs[byte] = ((u16::from(regs[byte]) & !(max << fb)) | (v << fb)) as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        *next = ((u16::from(*next) & !(max >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

/// A new, empty HLL: sparse, one XZERO run over every register, cache valid at 0.
pub fn new() -> Vec<u8> {
    let mut s = b"HYLL".to_vec();
    s.resize(HDR, 0);
    s[4] = SPARSE;
    Op::XZero(XZERO_MAX_LEN).write(&mut s);
    s
}

/// Redis's `isHLLObjectOrReply`: the magic, a known encoding, and a dense one's exact size.
pub fn is_hll(s: &[u8]) -> bool {
    s.len() >= HDR
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

pub fn is_sparse(s: &[u8]) -> bool {
    s[4] == SPARSE
}

fn invalidate(s: &mut [u8]) {
    s[15] |= 0x80;
}

/// The cached cardinality, if it is valid.
fn cached(s: &[u8]) -> Option<u64> {
    (s[15] & 0x80 == 0).then(|| u64::from_le_bytes(s[8..16].try_into().unwrap_or([0; 8])))
}

fn ops(sparse: &[u8]) -> impl Iterator<Item = Result<Op, Corrupt>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= sparse.len() {
            return None;
        }
        let op = Op::read(&sparse[at..]).ok_or(Corrupt);
        if let Ok(op) = op {
            at += op.size();
        }
        Some(op)
    })
}

/// Redis's `hllSparseToDense`: false if it already was dense.
pub fn to_dense(s: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if s[4] == DENSE {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&s[..HDR]);
    dense[4] = DENSE;
    let mut idx = 0;
    for op in ops(&s[HDR..]) {
        match op? {
            Op::Val(v, n) => {
                if idx + n > REGISTERS {
                    return Err(Corrupt);
                }
                for r in idx..idx + n {
                    dense_set(&mut dense[HDR..], r, v);
                }
                idx += n;
            }
            op => idx += op.span(),
        }
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    *s = dense;
    Ok(true)
}

/// Sets register `index` to `count` if that raises it (Redis's `hllSparseSet` /
/// `hllDenseSet`, with the same in-place split and merge of sparse runs, so the bytes come
/// out as Redis's). Returns whether it changed.
pub fn set(s: &mut Vec<u8>, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if s[4] == DENSE {
        let regs = &mut s[HDR..];
        if count > dense_get(regs, index) {
            dense_set(regs, index, count);
            return Ok(true);
        }
        return Ok(false);
    }
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Find the op covering `index`, and the one before it.
    let (mut at, mut first, mut prev) = (HDR, 0usize, None);
    let op = loop {
        if at >= s.len() {
            return Err(Corrupt);
        }
        let op = Op::read(&s[at..]).ok_or(Corrupt)?;
        if op.span() == 0 {
            return Err(Corrupt);
        }
        if index < first + op.span() {
            break op;
        }
        prev = Some(at);
        at += op.size();
        first += op.span();
    };
    let last = first + op.span() - 1;
    let mut seq = Vec::with_capacity(5);
    match op {
        Op::Val(v, _) if v >= count => return Ok(false),
        Op::Val(_, 1) | Op::Zero(1) => Op::Val(count, 1).write(&mut seq),
        Op::Zero(_) | Op::XZero(_) => {
            if index != first {
                Op::zeros(index - first).write(&mut seq);
            }
            Op::Val(count, 1).write(&mut seq);
            if index != last {
                Op::zeros(last - index).write(&mut seq);
            }
        }
        Op::Val(v, _) => {
            if index != first {
                Op::Val(v, index - first).write(&mut seq);
            }
            Op::Val(count, 1).write(&mut seq);
            if index != last {
                Op::Val(v, last - index).write(&mut seq);
            }
        }
    }
    if seq.len() > op.size() && s.len() + seq.len() - op.size() > sparse_max {
        return promote(s, index, count);
    }
    // An XZERO whose second byte is past the end (a corrupt value): Redis writes the new
    // ops over it and the NUL after it, and its length grows by the difference counted from
    // the bytes it had, so the last byte written falls off.
    let phantom = at + op.size() > s.len();
    if phantom {
        s.push(0);
    }
    s.splice(at..at + op.size(), seq);
    if phantom {
        s.pop();
    }
    // Merge adjacent VAL runs of the same value, scanning up to 5 ops from the previous one.
    let mut p = prev.unwrap_or(HDR);
    let mut budget = 5;
    while p < s.len() && budget > 0 {
        budget -= 1;
        let Some(op) = Op::read(&s[p..]) else { break };
        let Op::Val(v1, n1) = op else {
            p += op.size();
            continue;
        };
        if let Some(Op::Val(v2, n2)) = s.get(p + 1).and_then(|_| Op::read(&s[p + 1..])) {
            if v1 == v2 && n1 + n2 <= VAL_MAX_LEN {
                let mut merged = Vec::with_capacity(1);
                Op::Val(v1, n1 + n2).write(&mut merged);
                s.splice(p..p + 2, merged);
                continue;
            }
        }
        p += 1;
    }
    invalidate(s);
    Ok(true)
}

fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    let regs = &mut s[HDR..];
    if count > dense_get(regs, index) {
        dense_set(regs, index, count);
    }
    Ok(true)
}

/// PFADD of one element: whether a register changed (the cache is then stale).
pub fn add(s: &mut Vec<u8>, ele: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(ele);
    let changed = set(s, index, count, sparse_max)?;
    if changed {
        invalidate(s);
    }
    Ok(changed)
}

/// Raises `max[i]` to each register of `s` (Redis's `hllMerge`).
pub fn merge_into(max: &mut [u8], s: &[u8]) -> Result<(), Corrupt> {
    if s[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            *m = (*m).max(dense_get(&s[HDR..], i));
        }
        return Ok(());
    }
    let mut i = 0;
    for op in ops(&s[HDR..]) {
        match op? {
            Op::Val(v, n) => {
                if i + n > REGISTERS {
                    return Err(Corrupt);
                }
                for m in &mut max[i..i + n] {
                    *m = (*m).max(v);
                }
                i += n;
            }
            op => i += op.span(),
        }
    }
    if i != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// The estimate from a register histogram (Redis's `hllCount`).
fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histo[Q as usize + 1])) / m);
    for j in (1..=Q as usize).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn histogram(s: &[u8]) -> Result<[u32; 64], Corrupt> {
    let mut h = [0u32; 64];
    if s[4] == DENSE {
        for i in 0..REGISTERS {
            h[dense_get(&s[HDR..], i) as usize] += 1;
        }
        return Ok(h);
    }
    let mut idx = 0;
    for op in ops(&s[HDR..]) {
        let op = op?;
        match op {
            Op::Val(v, n) => h[v as usize] += n as u32,
            op => h[0] += op.span() as u32,
        }
        idx += op.span();
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(h)
}

/// PFCOUNT of one HLL: the cached value, or a fresh estimate (`true`: the cache was
/// refreshed, which changes the string).
pub fn count(s: &mut [u8]) -> Result<(u64, bool), Corrupt> {
    if let Some(c) = cached(s) {
        return Ok((c, false));
    }
    let c = estimate(&histogram(s)?);
    s[8..16].copy_from_slice(&c.to_le_bytes());
    Ok((c, true))
}

/// The estimate of a union given as raw registers (PFCOUNT of several keys).
pub fn count_registers(max: &[u8]) -> u64 {
    let mut h = [0u32; 64];
    for &r in max {
        h[(r & 63) as usize] += 1;
    }
    estimate(&h)
}

/// Every register (PFDEBUG GETREG; the HLL must be dense).
pub fn registers(s: &[u8]) -> Vec<u8> {
    (0..REGISTERS).map(|i| dense_get(&s[HDR..], i)).collect()
}

/// PFDEBUG DECODE: the sparse ops as Redis prints them.
pub fn decode(s: &[u8]) -> Result<String, Corrupt> {
    let mut out = Vec::new();
    for op in ops(&s[HDR..]) {
        out.push(match op? {
            Op::Zero(n) => format!("z:{n}"),
            Op::XZero(n) => format!("Z:{n}"),
            Op::Val(v, n) => format!("v:{v},{n}"),
        });
    }
    Ok(out.join(" "))
}

/// PFSELFTEST: the register accessors and the estimate, checked as Redis checks them.
pub fn selftest() -> Result<(), String> {
    let mut regs = vec![0u8; DENSE_SIZE - HDR];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..1000 {
        let vals: Vec<u8> = (0..REGISTERS).map(|_| (next() & 63) as u8).collect();
        for (i, &v) in vals.iter().enumerate() {
            dense_set(&mut regs, i, v);
        }
        for (i, &v) in vals.iter().enumerate() {
            if dense_get(&regs, i) != v {
                return Err(format!(
                    "TESTFAILED Register error: {} != {}",
                    dense_get(&regs, i),
                    v
                ));
            }
        }
    }
    // The estimate, sparse and dense alike, within 5 standard errors.
    let mut sparse = new();
    let mut dense = new();
    to_dense(&mut dense).map_err(|_| "TESTFAILED dense conversion".to_string())?;
    let rel = 1.04 / (REGISTERS as f64).sqrt();
    for j in 1..=10_000_000u64 {
        let ele = (next()).to_le_bytes();
        let _ = add(&mut dense, &ele, usize::MAX);
        if sparse[4] == SPARSE {
            let _ = add(&mut sparse, &ele, 3000);
        }
        if j % 1000 == 0 || j == 10 || j == 100 {
            let (c, _) = count(&mut dense).map_err(|_| "TESTFAILED count".to_string())?;
            let err = (c as f64 - j as f64).abs() / j as f64;
            if err > rel * 5.0 && j > 100 {
                return Err(format!(
                    "TESTFAILED Too big error. card:{j} abserr:{}",
                    (c as f64 - j as f64).abs()
                ));
            }
        }
        if j == 100_000 {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_hll_is_redis_bytes() {
        let s = new();
        assert_eq!(
            s,
            b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff"
        );
        assert!(is_hll(&s));
        assert_eq!(decode(&s).unwrap(), "Z:16384");
    }

    #[test]
    fn sparse_updates_split_and_merge_runs() {
        let mut s = new();
        assert!(set(&mut s, 5, 3, 3000).unwrap());
        assert_eq!(decode(&s).unwrap(), "z:5 v:3,1 Z:16378");
        assert!(set(&mut s, 6, 3, 3000).unwrap());
        assert_eq!(decode(&s).unwrap(), "z:5 v:3,2 Z:16377");
        assert!(!set(&mut s, 6, 2, 3000).unwrap());
        assert!(set(&mut s, 0, 40, 3000).unwrap());
        assert!(!is_sparse(&s));
        assert_eq!(registers(&s)[..7], [40, 0, 0, 0, 0, 3, 3]);
    }

    #[test]
    fn the_estimate_is_close() {
        let mut s = new();
        for i in 0..10_000u32 {
            add(&mut s, i.to_string().as_bytes(), 3000).unwrap();
        }
        let (c, fresh) = count(&mut s).unwrap();
        assert!(fresh);
        assert!((9_500..10_500).contains(&c), "{c}");
        assert_eq!(count(&mut s).unwrap(), (c, false));
        assert!(selftest().is_ok());
    }
}
