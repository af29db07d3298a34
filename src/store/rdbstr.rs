//! RDB's length and string encodings (Redis's `rdbSaveLen` / `rdbSaveRawString` and their
//! loaders), shared by DUMP-style payloads and, later, RDB files. A string is written as
//! Redis writes it: as an integer when it is one (11 bytes or less), LZF-compressed when
//! longer than 20 bytes and that saves at least 4, else as it is.

use super::lzf;

/// RDB version of Redis 7.0, written at the end of DUMP payloads.
pub const RDB_VERSION: u16 = 10;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Appends a length.
pub fn save_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Appends a string, LZF-compressed where that pays.
pub fn save_string(out: &mut Vec<u8>, s: &[u8]) {
    save_string_with(out, s, true);
}

/// Appends a string; `compress` is `rdbcompression`.
pub fn save_string_with(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(v) = canonical_int(s) {
            if let Ok(v) = i8::try_from(v) {
                out.extend_from_slice(&[0xc0 | ENC_INT8, v as u8]);
                return;
            }
            if let Ok(v) = i16::try_from(v) {
                out.push(0xc0 | ENC_INT16);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
            if let Ok(v) = i32::try_from(v) {
                out.push(0xc0 | ENC_INT32);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(packed) = lzf::compress(s, s.len() - 4) {
            out.push(0xc0 | ENC_LZF);
            save_len(out, packed.len() as u64);
            save_len(out, s.len() as u64);
            out.extend_from_slice(&packed);
            return;
        }
    }
    save_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// `s` as an integer if it is one written the one way Redis writes it (no sign on 0, no
/// leading zeros or spaces).
fn canonical_int(s: &[u8]) -> Option<i64> {
    let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (v.to_string().as_bytes() == s).then_some(v)
}

/// A length, or an encoded-string marker (`Err(encoding)`).
fn load_len_or_enc(buf: &[u8], pos: &mut usize) -> Option<Result<u64, u8>> {
    let first = *buf.get(*pos)?;
    *pos += 1;
    let mut take = |n: usize| -> Option<&[u8]> {
        let bytes = buf.get(*pos..*pos + n)?;
        *pos += n;
        Some(bytes)
    };
    Some(match first >> 6 {
        0 => Ok(u64::from(first & 0x3f)),
        1 => Ok(u64::from(first & 0x3f) << 8 | u64::from(take(1)?[0])),
        3 => Err(first & 0x3f),
        _ => match first {
            0x80 => Ok(u64::from(u32::from_be_bytes(take(4)?.try_into().ok()?))),
            0x81 => Ok(u64::from_be_bytes(take(8)?.try_into().ok()?)),
            _ => return None,
        },
    })
}

/// Reads a length; `None` at the end of the data or on an encoded-string marker.
pub fn load_len(buf: &[u8], pos: &mut usize) -> Option<u64> {
    load_len_or_enc(buf, pos)?.ok()
}

/// Reads a string in any of its encodings; `None` if the data is short or corrupt.
pub fn load_string(buf: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
    match load_len_or_enc(buf, pos)? {
        Ok(len) => {
            let len = usize::try_from(len).ok()?;
            let s = buf.get(*pos..pos.checked_add(len)?)?.to_vec();
            *pos += len;
            Some(s)
        }
        Err(enc) => {
            let mut int = |n: usize| -> Option<Vec<u8>> {
                let b = buf.get(*pos..*pos + n)?;
                *pos += n;
                let v = match n {
                    1 => i64::from(b[0] as i8),
                    2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
                    _ => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                };
                Some(v.to_string().into_bytes())
            };
            match enc {
                ENC_INT8 => int(1),
                ENC_INT16 => int(2),
                ENC_INT32 => int(4),
                ENC_LZF => {
                    let clen = usize::try_from(load_len(buf, pos)?).ok()?;
                    let len = usize::try_from(load_len(buf, pos)?).ok()?;
                    let packed = buf.get(*pos..pos.checked_add(clen)?)?;
                    *pos += clen;
                    lzf::decompress(packed, len)
                }
                _ => None,
            }
        }
    }
}

/// Appends the footer of a DUMP payload: the RDB version and the CRC-64 of everything
/// before, both little-endian.
pub fn seal(out: &mut Vec<u8>) {
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = super::crc64::crc64(0, out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// DEBUG SET-SKIP-CHECKSUM-VALIDATION: payloads and RDB files are taken whatever their
/// checksum (Redis's `skip_checksum_validation`).
pub static SKIP_CHECKSUM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Redis's `verifyDumpPayload`: the body of a payload whose version is known and whose
/// checksum is right.
pub fn unseal(payload: &[u8]) -> Option<&[u8]> {
    if payload.len() < 10 {
        return None;
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    if u16::from_le_bytes([footer[0], footer[1]]) > RDB_VERSION {
        return None;
    }
    if SKIP_CHECKSUM.load(std::sync::atomic::Ordering::Relaxed) {
        return Some(body);
    }
    let crc = super::crc64::crc64(0, &payload[..payload.len() - 8]);
    (crc.to_le_bytes() == footer[2..]).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        let long = b"#!lua name=x\nredis.register_function('f', function() return 1 end)".repeat(3);
        for s in [
            &b""[..],
            b"0",
            b"-1",
            b"127",
            b"128",
            b"-32768",
            b"70000",
            b"-0",
            b"007",
            b"12345678901",
            &long,
        ] {
            let mut out = Vec::new();
            save_string(&mut out, s);
            let mut pos = 0;
            assert_eq!(load_string(&out, &mut pos).as_deref(), Some(s));
            assert_eq!(pos, out.len());
        }
    }

    #[test]
    fn integer_encodings() {
        let mut out = Vec::new();
        save_string(&mut out, b"-5");
        assert_eq!(out, [0xc0, 0xfb]);
        out.clear();
        save_string(&mut out, b"-0");
        assert_eq!(out, [2, b'-', b'0']);
    }

    #[test]
    fn lengths() {
        for n in [0u64, 63, 64, 16383, 16384, u64::from(u32::MAX), 1 << 40] {
            let mut out = Vec::new();
            save_len(&mut out, n);
            let mut pos = 0;
            assert_eq!(load_len(&out, &mut pos), Some(n));
        }
    }

    #[test]
    fn sealed_payloads() {
        let mut p = b"body".to_vec();
        seal(&mut p);
        assert_eq!(unseal(&p), Some(&b"body"[..]));
        p[0] ^= 1;
        assert_eq!(unseal(&p), None);
    }
}
