//! LZF, the compression of RDB strings (Redis's `lzf_c.c` / `lzf_d.c` settings: a 2^16
//! entry hash of 3-byte prefixes, "very fast" re-hashing after a match). Compressing gives
//! the same bytes as redis-server, so that payloads (FUNCTION DUMP, RDB) compare equal.
//!
//! The format: a control byte `c`; `c < 32` starts a literal run of `c + 1` bytes; otherwise
//! a back reference of length `(c >> 5) + 2` (7 means an extra length byte follows) at
//! distance `((c & 31) << 8 | next byte) + 1`.

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Compresses `input` into at most `limit` bytes; `None` when it does not fit (Redis then
/// stores the string as it is).
pub fn compress(input: &[u8], limit: usize) -> Option<Vec<u8>> {
    // The hash table is the thread's own, kept zeroed between calls: a fresh 256 KB table
    // per string would cost far more than compressing a short one (an RDB holds millions).
    thread_local! {
        static TABLE: std::cell::RefCell<(Vec<u32>, Vec<usize>)> =
            std::cell::RefCell::new((vec![0u32; HSIZE], Vec::new()));
    }
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        let (table, touched) = &mut *t;
        let out = compress_with(table, touched, input, limit);
        if touched.len() > HSIZE / 4 {
            // A long input set most of the table: clear it whole, and give the list back.
            table.fill(0);
            *touched = Vec::new();
        } else {
            for &slot in touched.iter() {
                table[slot] = 0;
            }
            touched.clear();
        }
        out
    })
}

/// [`compress`] with a zeroed `table`, noting in `touched` every slot it sets.
fn compress_with(
    table: &mut [u32],
    touched: &mut Vec<usize>,
    input: &[u8],
    limit: usize,
) -> Option<Vec<u8>> {
    let len = input.len();
    if len == 0 || limit == 0 {
        return None;
    }
    // Positions + 1 (0: empty slot).
    let mut out: Vec<u8> = Vec::with_capacity(limit);
    // The literal run being written: its control byte's index and its length.
    let mut ctrl = 0usize;
    out.push(0);
    let mut lit = 0usize;
    let mut ip = 0usize;
    let first = |p: usize| (u32::from(input[p]) << 8) | u32::from(input[p + 1]);
    let mut hval = if len >= 2 { first(0) } else { 0 };
    while len > 2 && ip < len - 2 {
        hval = (hval << 8) | u32::from(input[ip + 2]);
        let slot = idx(hval);
        let prev = table[slot] as usize;
        table[slot] = ip as u32 + 1;
        if touched.len() <= HSIZE / 4 {
            touched.push(slot);
        }
        let found = prev.checked_sub(1).filter(|&r| {
            r > 0 && r < ip && ip - r - 1 < MAX_OFF && input[r..r + 3] == input[ip..ip + 3]
        });
        if let Some(r) = found {
            let off = ip - r - 1;
            let maxlen = (len - ip - 2).min(MAX_REF);
            // Room for the reference (up to 3 bytes) and the next run's control byte.
            let at_end = if lit == 0 { out.len() - 1 } else { out.len() };
            if at_end + 3 + 1 >= limit {
                return None;
            }
            out[ctrl] = (lit as u8).wrapping_sub(1);
            if lit == 0 {
                out.pop();
            }
            // liblzf's loop: 16 unbounded steps first when there is room, then bounded ones
            // (a match may so run past `maxlen` to the end of the input, as in Redis).
            let mut l = 2;
            let mut ended = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    l += 1;
                    if input[r + l] != input[ip + l] {
                        ended = true;
                        break;
                    }
                }
            }
            if !ended {
                loop {
                    l += 1;
                    if l >= maxlen || input[r + l] != input[ip + l] {
                        break;
                    }
                }
            }
            let l = l - 2;
            ip += 1;
            if l < 7 {
                out.push(((off >> 8) + (l << 5)) as u8);
            } else {
                out.push(((off >> 8) + (7 << 5)) as u8);
                out.push((l - 7) as u8);
            }
            out.push(off as u8);
            ctrl = out.len();
            out.push(0);
            lit = 0;
            ip += l + 1;
            if ip >= len - 2 {
                break;
            }
            ip -= 2;
            hval = first(ip);
            for _ in 0..2 {
                hval = (hval << 8) | u32::from(input[ip + 2]);
                table[idx(hval)] = ip as u32 + 1;
                if touched.len() <= HSIZE / 4 {
                    touched.push(idx(hval));
                }
                ip += 1;
            }
        } else {
            if out.len() >= limit {
                return None;
            }
            push_literal(&mut out, &mut ctrl, &mut lit, input[ip]);
            ip += 1;
        }
    }
    if out.len() + 3 > limit {
        return None;
    }
    while ip < len {
        push_literal(&mut out, &mut ctrl, &mut lit, input[ip]);
        ip += 1;
    }
    out[ctrl] = (lit as u8).wrapping_sub(1);
    if lit == 0 {
        out.pop();
    }
    (out.len() <= limit).then_some(out)
}

/// Decompresses `input` into exactly `len` bytes; `None` if the data is corrupt.
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    // The claimed length is the sender's word: room grows with what the input really makes.
    let mut out = Vec::with_capacity(len.min(input.len().saturating_mul(4)));
    let mut ip = 0;
    while ip < input.len() {
        let c = usize::from(input[ip]);
        ip += 1;
        if c < 32 {
            let run = c + 1;
            let bytes = input.get(ip..ip + run)?;
            if out.len() + run > len {
                return None;
            }
            out.extend_from_slice(bytes);
            ip += run;
        } else {
            let mut l = c >> 5;
            if l == 7 {
                l += usize::from(*input.get(ip)?);
                ip += 1;
            }
            let back = ((c & 0x1f) << 8) + usize::from(*input.get(ip)?) + 1;
            ip += 1;
            let l = l + 2;
            if back > out.len() || out.len() + l > len {
                return None;
            }
            let start = out.len() - back;
            for i in 0..l {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
    (out.len() == len).then_some(out)
}

/// Appends one literal byte to the run whose length byte is at `ctrl`, starting a new run
/// when this one is full.
fn push_literal(out: &mut Vec<u8>, ctrl: &mut usize, lit: &mut usize, byte: u8) {
    *lit += 1;
    out.push(byte);
    if *lit == MAX_LIT {
        out[*ctrl] = (*lit - 1) as u8;
        *lit = 0;
        *ctrl = out.len();
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let samples: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"#!lua name=lib\nredis.register_function('f', function() return 1 end)\nredis.register_function('g', function() return 1 end)".to_vec(),
            (0..5000u32).map(|i| (i * 7 % 13) as u8).collect(),
            (0..3000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(),
        ];
        for s in samples {
            if let Some(c) = compress(&s, s.len() - 4) {
                assert_eq!(decompress(&c, s.len()).as_deref(), Some(&s[..]));
            }
        }
    }

    #[test]
    fn incompressible_does_not_fit() {
        let s: Vec<u8> = (0..64u8).collect();
        assert!(compress(&s, s.len() - 4).is_none());
    }
}
