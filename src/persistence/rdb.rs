//! RDB files as Redis 7.0 writes and reads them (version 10): the `REDIS0010` magic, aux
//! fields, function libraries, then each database's keys (`SELECTDB`, `RESIZEDB`, expiry
//! in ms, LRU idle time or LFU counter, the value in [`super::object`]'s encoding), `EOF`
//! and a CRC-64 of everything before it.
//!
//! Reading accepts every version Redis 7.0 reads (1 to 10). A file is read whole or not at
//! all: any error names the byte offset it was found at.

use std::io::{self, Write};

use super::object::{self, LoadError, SaveOptions};
use crate::store::clock::Limits;
use crate::store::crc64::crc64;
use crate::store::rdbstr::{load_len, load_string, save_len, save_string_with, RDB_VERSION};
use crate::store::{Entry, Value};

pub const OPCODE_FUNCTION2: u8 = 245;
const OPCODE_FUNCTION: u8 = 246;
const OPCODE_MODULE_AUX: u8 = 247;
const OPCODE_IDLE: u8 = 248;
const OPCODE_FREQ: u8 = 249;
const OPCODE_AUX: u8 = 250;
const OPCODE_RESIZEDB: u8 = 251;
const OPCODE_EXPIRETIME_MS: u8 = 252;
const OPCODE_EXPIRETIME: u8 = 253;
const OPCODE_SELECTDB: u8 = 254;
const OPCODE_EOF: u8 = 255;

/// How a key's use is recorded in the file, by `maxmemory-policy` (Redis writes the LRU idle
/// time under an LRU policy, the LFU counter under an LFU one, neither otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    None,
    Idle,
    Freq,
}

/// Writes an RDB file to `w` as it goes, keeping the running CRC-64.
pub struct Writer<W: Write> {
    w: W,
    buf: Vec<u8>,
    crc: u64,
    checksum: bool,
    opts: SaveOptions,
}

impl<W: Write> Writer<W> {
    /// Starts a file: the magic and the aux fields.
    pub fn new(w: W, opts: SaveOptions, checksum: bool, aux: &[(&str, String)]) -> Writer<W> {
        let mut wr = Writer {
            w,
            buf: Vec::with_capacity(1 << 16),
            crc: 0,
            checksum,
            opts,
        };
        wr.buf
            .extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        for (k, v) in aux {
            wr.buf.push(OPCODE_AUX);
            save_string_with(&mut wr.buf, k.as_bytes(), opts.compress);
            save_string_with(&mut wr.buf, v.as_bytes(), opts.compress);
        }
        wr
    }

    fn spill(&mut self) -> io::Result<()> {
        if self.checksum {
            self.crc = crc64(self.crc, &self.buf);
        }
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn maybe_spill(&mut self) -> io::Result<()> {
        if self.buf.len() >= 1 << 16 {
            self.spill()?;
        }
        Ok(())
    }

    /// Function libraries: Redis's `FUNCTION2` records, already encoded (what
    /// `FUNCTION DUMP` holds before its footer).
    pub fn functions(&mut self, records: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(records);
        self.maybe_spill()
    }

    /// Starts database `index`, which holds `keys` keys, `expires` of them with a TTL.
    pub fn select_db(&mut self, index: usize, keys: usize, expires: usize) -> io::Result<()> {
        self.buf.push(OPCODE_SELECTDB);
        save_len(&mut self.buf, index as u64);
        self.buf.push(OPCODE_RESIZEDB);
        save_len(&mut self.buf, keys as u64);
        save_len(&mut self.buf, expires as u64);
        self.maybe_spill()
    }

    /// One key.
    pub fn key(
        &mut self,
        key: &[u8],
        e: &Entry,
        key_use: KeyUse,
        access: crate::store::Access,
    ) -> io::Result<()> {
        if e.expire != 0 {
            self.buf.push(OPCODE_EXPIRETIME_MS);
            self.buf.extend_from_slice(&e.expire.to_le_bytes());
        }
        match key_use {
            KeyUse::None => {}
            KeyUse::Idle => {
                self.buf.push(OPCODE_IDLE);
                save_len(&mut self.buf, e.value.lru().idle_secs());
            }
            KeyUse::Freq => {
                self.buf.push(OPCODE_FREQ);
                self.buf
                    .push(e.value.lru().lfu_count(access).min(255) as u8);
            }
        }
        self.buf.push(object::type_byte(&e.value));
        save_string_with(&mut self.buf, key, self.opts.compress);
        object::save_body(&mut self.buf, &e.value, self.opts);
        self.maybe_spill()
    }

    /// Ends the file: `EOF` and the checksum (0 with `rdbchecksum no`). Returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(OPCODE_EOF);
        self.spill()?;
        let crc = if self.checksum { self.crc } else { 0 };
        self.w.write_all(&crc.to_le_bytes())?;
        Ok(self.w)
    }
}

/// A file that could not be read: what, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdbError {
    pub offset: usize,
    pub reason: String,
}

/// What a file held besides keys.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The function records (`FUNCTION2`), encoded as `FUNCTION RESTORE` reads them.
    pub functions: Vec<u8>,
    /// Keys read, and keys skipped (already expired, or empty).
    pub keys: u64,
    pub expired: u64,
    pub empty: u64,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Where the file's EOF record (and checksum) ends: an append-only file with an RDB
    /// preamble goes on with commands there.
    pub end: usize,
}

/// A key as read: its database, name, value, expiry (Unix ms, 0: none) and use.
pub struct LoadedKey {
    pub db: usize,
    pub key: Vec<u8>,
    pub value: Value,
    pub expire: i64,
    pub idle: Option<u64>,
    pub freq: Option<u8>,
    /// With the first key after a `RESIZEDB`: how many keys its database holds, within what
    /// the rest of the file could hold (a key takes 3 bytes at least).
    pub db_size: Option<usize>,
}

/// What `redis-check-rdb` reports of an RDB image named `name`, and whether it found the
/// image sound: the key counts, and where and why reading failed if it did. Redis runs its
/// checker on a file that failed to load at startup and prints this report before it exits,
/// so the log says how far it got.
pub fn check(
    name: &str,
    buf: &[u8],
    databases: usize,
    limits: &Limits,
    now_ms: i64,
) -> (Vec<String>, bool) {
    let mut lines = vec![format!("[offset 0] Checking RDB file {name}")];
    // Loaded as of `i64::MIN`, before every expiry, so that every key reaches the counter,
    // which counts the expired ones itself, as the checker counts them: read, with an
    // expiry, and past it.
    let (mut keys, mut expires, mut expired) = (0u64, 0u64, 0u64);
    let result = load(buf, databases, limits, i64::MIN, true, |k| {
        keys += 1;
        expires += u64::from(k.expire != 0);
        expired += u64::from(k.expire != 0 && k.expire < now_ms);
        Ok(())
    });
    let sound = match result {
        Ok(loaded) => {
            lines.push(format!("[offset {}] \\o/ RDB looks OK! \\o/", loaded.end));
            true
        }
        Err(e) => {
            lines.push("--- RDB ERROR DETECTED ---".into());
            lines.push(format!("[offset {}] {}", e.offset, e.reason));
            false
        }
    };
    lines.push(format!("[info] {keys} keys read"));
    lines.push(format!("[info] {expires} expires"));
    lines.push(format!("[info] {expired} already expired"));
    (lines, sound)
}

/// Reads a whole RDB file. Keys already expired at `now_ms` are dropped, as a primary does;
/// `sink` takes every other key (and may refuse it, which stops the load).
pub fn load(
    buf: &[u8],
    databases: usize,
    limits: &Limits,
    now_ms: i64,
    check_crc: bool,
    mut sink: impl FnMut(LoadedKey) -> Result<(), String>,
) -> Result<Loaded, RdbError> {
    let fail = |offset: usize, reason: &str| RdbError {
        offset,
        reason: reason.to_string(),
    };
    let short = |pos: usize| fail(pos, "Unexpected EOF reading RDB file");
    if buf.len() < 9 || &buf[..5] != b"REDIS" {
        return Err(fail(0, "Wrong signature trying to load DB from file"));
    }
    let version: u32 = std::str::from_utf8(&buf[5..9])
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if !(1..=u32::from(RDB_VERSION)).contains(&version) {
        return Err(fail(
            5,
            &format!("Can't handle RDB format version {version}"),
        ));
    }
    let mut pos = 9usize;
    let mut out = Loaded::default();
    let (mut db, mut expire, mut idle, mut freq) = (0usize, 0i64, None, None);
    let mut db_size: Option<usize> = None;
    loop {
        let at = pos;
        let op = *buf.get(pos).ok_or_else(|| short(pos))?;
        pos += 1;
        match op {
            OPCODE_EXPIRETIME => {
                let b = buf.get(pos..pos + 4).ok_or_else(|| short(pos))?;
                expire = i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])) * 1000;
                pos += 4;
            }
            OPCODE_EXPIRETIME_MS => {
                let b = buf.get(pos..pos + 8).ok_or_else(|| short(pos))?;
                expire = i64::from_le_bytes(b.try_into().map_err(|_| short(pos))?);
                pos += 8;
            }
            OPCODE_FREQ => {
                freq = Some(*buf.get(pos).ok_or_else(|| short(pos))?);
                pos += 1;
            }
            OPCODE_IDLE => idle = Some(load_len(buf, &mut pos).ok_or_else(|| short(pos))?),
            OPCODE_EOF => {
                if version >= 5 {
                    let b = buf.get(pos..pos + 8).ok_or_else(|| short(pos))?;
                    let stored = u64::from_le_bytes(b.try_into().map_err(|_| short(pos))?);
                    if check_crc && stored != 0 && stored != crc64(0, &buf[..pos]) {
                        return Err(fail(pos, "RDB CRC error"));
                    }
                    pos += 8;
                }
                out.end = pos;
                return Ok(out);
            }
            OPCODE_SELECTDB => {
                let n = load_len(buf, &mut pos).ok_or_else(|| short(pos))?;
                db = usize::try_from(n).unwrap_or(usize::MAX);
                // A size read for another database (whose keys all expired) is not this one's.
                db_size = None;
                if db >= databases {
                    return Err(fail(
                        at,
                        &format!(
                            "FATAL: Data file was created with a Redis server configured to \
                             handle more than {databases} databases."
                        ),
                    ));
                }
            }
            OPCODE_RESIZEDB => {
                let size = load_len(buf, &mut pos).ok_or_else(|| short(pos))?;
                load_len(buf, &mut pos).ok_or_else(|| short(pos))?;
                let room = buf.len().saturating_sub(pos) / 3;
                db_size = Some(usize::try_from(size).unwrap_or(usize::MAX).min(room));
            }
            OPCODE_AUX => {
                let k = load_string(buf, &mut pos).ok_or_else(|| short(pos))?;
                let v = load_string(buf, &mut pos).ok_or_else(|| short(pos))?;
                out.aux.push((k, v));
            }
            OPCODE_MODULE_AUX => {
                return Err(fail(
                    at,
                    "The RDB file contains AUX module data I can't load: no matching module",
                ))
            }
            OPCODE_FUNCTION => {
                return Err(fail(at, "Pre-release function format not supported."));
            }
            OPCODE_FUNCTION2 => {
                let start = pos;
                load_string(buf, &mut pos).ok_or_else(|| short(pos))?;
                out.functions.push(OPCODE_FUNCTION2);
                out.functions.extend_from_slice(&buf[start..pos]);
            }
            t => {
                let key = load_string(buf, &mut pos).ok_or_else(|| short(pos))?;
                let value_at = pos;
                match object::load(t, buf, &mut pos, limits) {
                    Ok(value) => {
                        if expire != 0 && expire < now_ms {
                            out.expired += 1;
                        } else {
                            out.keys += 1;
                            sink(LoadedKey {
                                db,
                                key,
                                value,
                                expire,
                                idle,
                                freq,
                                db_size: db_size.take(),
                            })
                            .map_err(|e| fail(at, &e))?;
                        }
                    }
                    Err(LoadError::Empty) => {
                        log::warn!(
                            "rdbLoadObject skipping empty key: {}",
                            String::from_utf8_lossy(&key)
                        );
                        out.empty += 1;
                    }
                    Err(LoadError::Corrupt(why)) => {
                        return Err(fail(
                            value_at,
                            &format!("{why} (key '{}', type {t})", String::from_utf8_lossy(&key)),
                        ))
                    }
                }
                expire = 0;
                idle = None;
                freq = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RDB image of `body`, without a checksum.
    fn image(body: &[u8]) -> Vec<u8> {
        let mut b = b"REDIS0010".to_vec();
        b.extend_from_slice(body);
        b.push(OPCODE_EOF);
        b.extend_from_slice(&[0; 8]);
        b
    }

    #[test]
    fn check_reports_the_counts_and_where_reading_failed() {
        let limits = Limits::default();
        // "k" = "v" expiring at 2000 ms, then "a" = "b".
        let mut body = vec![OPCODE_EXPIRETIME_MS];
        body.extend_from_slice(&2000i64.to_le_bytes());
        body.extend_from_slice(&[0, 1, b'k', 1, b'v', 0, 1, b'a', 1, b'b']);
        let (good, sound) = check("dump.rdb", &image(&body), 16, &limits, 1000);
        assert!(sound);
        assert_eq!(good[0], "[offset 0] Checking RDB file dump.rdb");
        assert!(good.iter().any(|l| l.ends_with("\\o/ RDB looks OK! \\o/")));
        assert!(good.contains(&"[info] 2 keys read".to_string()));
        assert!(good.contains(&"[info] 1 expires".to_string()));
        assert!(good.contains(&"[info] 0 already expired".to_string()));
        let (late, _) = check("dump.rdb", &image(&body), 16, &limits, 3000);
        assert!(late.contains(&"[info] 2 keys read".to_string()));
        assert!(late.contains(&"[info] 1 expires".to_string()));
        assert!(late.contains(&"[info] 1 already expired".to_string()));

        // Then a hash ziplist that is three bytes of nothing.
        body.extend_from_slice(&[13, 1, b'h', 3, 1, 2, 3]);
        let (bad, sound) = check("dump.rdb", &image(&body), 16, &limits, 1000);
        assert!(!sound);
        assert!(bad.contains(&"--- RDB ERROR DETECTED ---".to_string()));
        assert!(
            bad.iter().any(|l| l.contains("integrity check failed")),
            "{bad:?}"
        );
        assert!(bad.contains(&"[info] 2 keys read".to_string()));
        assert!(!bad.iter().any(|l| l.contains("looks OK")));
    }
}
