//! The byte encoding shared by the packed forms (lists' nodes, small hashes, sets and sorted sets): a string is a
//! LEB128 length and its bytes, as compact as a listpack entry for short strings.

/// Appends `n` as LEB128 (7 bits a byte, least significant first).
pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The LEB128 number at `*pos`, moving past it. The buffers are the store's own, written
/// by `put_varint`, so they are well formed.
pub fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let (mut n, mut shift) = (0u64, 0);
    loop {
        let b = buf[*pos];
        *pos += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

/// Appends a length as LEB128.
pub fn put_len(out: &mut Vec<u8>, n: usize) {
    put_varint(out, n as u64);
}

/// Bytes `put_len(n)` writes.
pub fn len_size(n: usize) -> usize {
    let mut size = 1;
    let mut n = n >> 7;
    while n > 0 {
        size += 1;
        n >>= 7;
    }
    size
}

/// Appends a length-prefixed string.
pub fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len());
    out.extend_from_slice(s);
}

/// The length-prefixed string at `pos` and the position after it. The buffer is the store's
/// own, written by `put_str`, so it is well formed.
pub fn read_str(buf: &[u8], pos: usize) -> (&[u8], usize) {
    let mut p = pos;
    let len = get_varint(buf, &mut p) as usize;
    (&buf[p..p + len], p + len)
}

/// The entry count a packed hash or sorted set keeps in its first two bytes.
pub fn packed_count(buf: &[u8]) -> usize {
    match buf {
        [a, b, ..] => usize::from(u16::from_le_bytes([*a, *b])),
        _ => 0,
    }
}

/// Sets that count.
pub fn set_packed_count(buf: &mut Vec<u8>, n: usize) {
    if buf.len() < 2 {
        buf.resize(2, 0);
    }
    buf[..2].copy_from_slice(&(n as u16).to_le_bytes());
}

/// After a removal: an emptied buffer is freed, and a much too large one is trimmed.
pub fn shrink(b: &mut Vec<u8>, n: usize) {
    if n == 0 {
        *b = Vec::new();
    } else if b.capacity() > b.len() + 64 {
        b.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for n in [0usize, 1, 127, 128, 16_383, 16_384, 1 << 21] {
            let s = vec![b'x'; n];
            let mut b = vec![9];
            put_str(&mut b, &s);
            assert_eq!(b.len(), 1 + len_size(n) + n);
            assert_eq!(read_str(&b, 1), (&s[..], b.len()));
        }
    }
}
