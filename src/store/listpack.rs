//! Redis's packed blobs as RDB files and DUMP payloads carry them: listpacks (read and
//! written), and, for files of older versions, ziplists, intsets and zipmaps (intsets are
//! also written). The store keeps its own packed forms; these exist only at the edge, so
//! every reader checks every length against the blob and returns `None` on anything
//! malformed instead of trusting a header.

use crate::protocol::parse_i64;

/// One element of a listpack or ziplist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Elem<'_> {
    /// The element as a string (integers in decimal).
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Elem::Str(s) => s.to_vec(),
            Elem::Int(v) => v.to_string().into_bytes(),
        }
    }
}

// ---- listpack

const LP_HEADER: usize = 6;
const LP_EOF: u8 = 0xff;

/// Builds a listpack as Redis's `lpAppend` does: strings that read as integers are stored
/// as integers, in the smallest encoding.
pub struct LpWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for LpWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl LpWriter {
    pub fn new() -> LpWriter {
        LpWriter {
            buf: vec![0; LP_HEADER],
            count: 0,
        }
    }

    /// Bytes so far, with the terminator the finished listpack will have.
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn push(&mut self, s: &[u8]) {
        match parse_i64(s) {
            Some(v) => self.push_int(v),
            None => {
                let start = self.buf.len();
                let len = s.len();
                if len < 64 {
                    self.buf.push(0x80 | len as u8);
                } else if len < 4096 {
                    self.buf.push(0xe0 | (len >> 8) as u8);
                    self.buf.push(len as u8);
                } else {
                    self.buf.push(0xf0);
                    self.buf.extend_from_slice(&(len as u32).to_le_bytes());
                }
                self.buf.extend_from_slice(s);
                self.end_entry(start);
            }
        }
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u16) & 0x1fff;
            self.buf.push(0xc0 | (u >> 8) as u8);
            self.buf.push(u as u8);
        } else if let Ok(v) = i16::try_from(v) {
            self.buf.push(0xf1);
            self.buf.extend_from_slice(&v.to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            self.buf.push(0xf2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(v) = i32::try_from(v) {
            self.buf.push(0xf3);
            self.buf.extend_from_slice(&v.to_le_bytes());
        } else {
            self.buf.push(0xf4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.end_entry(start);
    }

    /// Appends the back-length of the entry that began at `start` (listpack's `backlen`:
    /// read right to left, 7 bits a byte, the high bit marking another byte to the left).
    fn end_entry(&mut self, start: usize) {
        let l = self.buf.len() - start;
        let size = backlen_size(l);
        for i in (0..size).rev() {
            let byte = ((l >> (7 * i)) & 0x7f) as u8;
            self.buf
                .push(if i == size - 1 { byte } else { byte | 0x80 });
        }
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(65535) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// Bytes of a listpack entry's back-length for an entry of `l` bytes (Redis's
/// `lpEncodeBacklen`).
pub fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// Every element of listpack `lp`, after checking its header, each entry's encoding and
/// back-length, and the terminator.
pub fn lp_read(lp: &[u8]) -> Option<Vec<Elem<'_>>> {
    if lp.len() < LP_HEADER + 1 {
        return None;
    }
    let total = u32::from_le_bytes(lp[..4].try_into().ok()?) as usize;
    let count = usize::from(u16::from_le_bytes([lp[4], lp[5]]));
    if total != lp.len() || lp[total - 1] != LP_EOF {
        return None;
    }
    let mut out = Vec::with_capacity(count.min(lp.len() / 2));
    let mut pos = LP_HEADER;
    loop {
        let b = *lp.get(pos)?;
        if b == LP_EOF {
            break;
        }
        let start = pos;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = lp.get(pos..pos.checked_add(n)?)?;
            pos += n;
            Some(s)
        };
        let elem = if b & 0x80 == 0 {
            take(1)?;
            Elem::Int(i64::from(b))
        } else if b & 0xc0 == 0x80 {
            take(1)?;
            Elem::Str(take(usize::from(b & 0x3f))?)
        } else if b & 0xe0 == 0xc0 {
            let h = take(2)?;
            let u = (i64::from(h[0] & 0x1f) << 8) | i64::from(h[1]);
            Elem::Int(if u >= 1 << 12 { u - (1 << 13) } else { u })
        } else if b & 0xf0 == 0xe0 {
            let h = take(2)?;
            let len = (usize::from(h[0] & 0x0f) << 8) | usize::from(h[1]);
            Elem::Str(take(len)?)
        } else {
            take(1)?;
            match b {
                0xf0 => {
                    let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
                    Elem::Str(take(len)?)
                }
                0xf1 => Elem::Int(i64::from(i16::from_le_bytes(take(2)?.try_into().ok()?))),
                0xf2 => {
                    let t = take(3)?;
                    Elem::Int(i64::from(i32::from_le_bytes([0, t[0], t[1], t[2]]) >> 8))
                }
                0xf3 => Elem::Int(i64::from(i32::from_le_bytes(take(4)?.try_into().ok()?))),
                0xf4 => Elem::Int(i64::from_le_bytes(take(8)?.try_into().ok()?)),
                _ => return None,
            }
        };
        let l = pos - start;
        let size = backlen_size(l);
        let back = lp.get(pos..pos + size)?;
        let mut v = 0usize;
        for (i, &byte) in back.iter().rev().enumerate() {
            if (byte & 0x80 != 0) != (i + 1 < size) {
                return None;
            }
            v |= usize::from(byte & 0x7f) << (7 * i);
        }
        if v != l {
            return None;
        }
        pos += size;
        out.push(elem);
    }
    if pos != total - 1 || (count != 65535 && count != out.len()) {
        return None;
    }
    Some(out)
}

// ---- ziplist (RDB versions before 10)

/// Every element of ziplist `zl`, checking the header, each entry's `prevlen` and the
/// terminator.
pub fn zl_read(zl: &[u8]) -> Option<Vec<Elem<'_>>> {
    if zl.len() < 11 {
        return None;
    }
    let total = u32::from_le_bytes(zl[..4].try_into().ok()?) as usize;
    let tail = u32::from_le_bytes(zl[4..8].try_into().ok()?) as usize;
    let count = usize::from(u16::from_le_bytes([zl[8], zl[9]]));
    if total != zl.len() || zl[total - 1] != 0xff {
        return None;
    }
    let mut out = Vec::with_capacity(count.min(zl.len() / 2));
    let (mut pos, mut prev_len, mut last_start) = (10usize, 0usize, 10usize);
    while *zl.get(pos)? != 0xff {
        let start = pos;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = zl.get(pos..pos.checked_add(n)?)?;
            pos += n;
            Some(s)
        };
        let p = take(1)?[0];
        let prevlen = if p < 254 {
            usize::from(p)
        } else if p == 254 {
            u32::from_le_bytes(take(4)?.try_into().ok()?) as usize
        } else {
            return None;
        };
        if prevlen != prev_len {
            return None;
        }
        let e = take(1)?[0];
        let elem = match e >> 6 {
            0 => Elem::Str(take(usize::from(e & 0x3f))?),
            1 => {
                let b = take(1)?[0];
                Elem::Str(take((usize::from(e & 0x3f) << 8) | usize::from(b))?)
            }
            2 if e == 0x80 => {
                let len = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
                Elem::Str(take(len)?)
            }
            2 => return None,
            _ => match e {
                0xc0 => Elem::Int(i64::from(i16::from_le_bytes(take(2)?.try_into().ok()?))),
                0xd0 => Elem::Int(i64::from(i32::from_le_bytes(take(4)?.try_into().ok()?))),
                0xe0 => Elem::Int(i64::from_le_bytes(take(8)?.try_into().ok()?)),
                0xf0 => {
                    let t = take(3)?;
                    Elem::Int(i64::from(i32::from_le_bytes([0, t[0], t[1], t[2]]) >> 8))
                }
                0xfe => Elem::Int(i64::from(take(1)?[0] as i8)),
                0xf1..=0xfd => Elem::Int(i64::from(e & 0x0f) - 1),
                _ => return None,
            },
        };
        out.push(elem);
        prev_len = pos - start;
        last_start = start;
    }
    if pos != total - 1 || tail != last_start || (count != 65535 && count != out.len()) {
        return None;
    }
    Some(out)
}

// ---- intset

/// An intset of `members` (sorted, distinct), in the narrowest width that holds them all.
pub fn intset_write(members: &[i64]) -> Vec<u8> {
    let width: u32 = if members.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if members.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + members.len() * width as usize);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for &v in members {
        out.extend_from_slice(&v.to_le_bytes()[..width as usize]);
    }
    out
}

/// The members of intset `is`, which must be sorted and distinct.
pub fn intset_read(is: &[u8]) -> Option<Vec<i64>> {
    let width = u32::from_le_bytes(is.get(..4)?.try_into().ok()?) as usize;
    let len = u32::from_le_bytes(is.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || is.len() - 8 != len.checked_mul(width)? {
        return None;
    }
    let out: Vec<i64> = is[8..]
        .chunks_exact(width)
        .map(|c| match width {
            2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
            4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        })
        .collect();
    out.windows(2).all(|w| w[0] < w[1]).then_some(out)
}

// ---- zipmap (RDB versions before 4)

/// The field-value pairs of zipmap `zm`.
pub fn zipmap_read(zm: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut pos = 1;
    let mut out = Vec::new();
    let len = |pos: &mut usize| -> Option<Option<usize>> {
        let b = *zm.get(*pos)?;
        *pos += 1;
        Some(match b {
            255 => None,
            254 => {
                let v = u32::from_le_bytes(zm.get(*pos..*pos + 4)?.try_into().ok()?);
                *pos += 4;
                Some(v as usize)
            }
            b => Some(usize::from(b)),
        })
    };
    while let Some(flen) = len(&mut pos)? {
        let field = zm.get(pos..pos.checked_add(flen)?)?;
        pos += flen;
        let vlen = len(&mut pos)??;
        let free = usize::from(*zm.get(pos)?);
        pos += 1;
        let value = zm.get(pos..pos.checked_add(vlen)?)?;
        pos += vlen + free;
        out.push((field, value));
    }
    (pos == zm.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_round_trip() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let items: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"0",
            b"127",
            b"128",
            b"-1",
            b"-4096",
            b"4095",
            b"-4097",
            b"32767",
            b"-32768",
            b"8388607",
            b"-8388608",
            b"2147483647",
            b"-2147483648",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"007",
            b"-0",
            &mid,
            &long,
        ];
        let mut w = LpWriter::new();
        for s in &items {
            w.push(s);
        }
        let lp = w.finish();
        let back = lp_read(&lp).unwrap();
        let got: Vec<Vec<u8>> = back.into_iter().map(Elem::to_vec).collect();
        assert_eq!(got, items.iter().map(|s| s.to_vec()).collect::<Vec<_>>());
    }

    #[test]
    fn listpack_bytes_as_redis_writes_them() {
        // Redis 7.0: RPUSH l a 1 -> DUMP's listpack body.
        let mut w = LpWriter::new();
        w.push(b"a");
        w.push(b"1");
        assert_eq!(
            w.finish(),
            [0x0c, 0, 0, 0, 2, 0, 0x81, b'a', 2, 0x01, 1, 0xff]
        );
    }

    #[test]
    fn listpack_rejects_damage() {
        let mut w = LpWriter::new();
        w.push(b"hello");
        w.push(b"12345");
        let lp = w.finish();
        for i in 0..lp.len() {
            let mut bad = lp.clone();
            bad[i] ^= 0x40;
            if let Some(v) = lp_read(&bad) {
                // A flipped bit may still be a well-formed listpack; it must at least parse
                // to the same number of elements.
                assert_eq!(v.len(), 2, "byte {i}");
            }
        }
        assert!(lp_read(&lp[..lp.len() - 1]).is_none());
    }

    #[test]
    fn intsets() {
        for set in [
            vec![1i64, 2, 3],
            vec![-70000, 5],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            assert_eq!(intset_read(&intset_write(&set)), Some(set));
        }
        assert!(intset_read(&intset_write(&[3, 1])).is_none());
    }
}
