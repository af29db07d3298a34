//! String commands (Redis's `t_string.c`).

use super::args::{err, Args, CmdError, CmdResult, NOT_INTEGER, OVERFLOW, STRING_TOO_LONG, SYNTAX};
use crate::protocol::{encode, encode_bulk, parse_i64, Reply};
use std::ops::Deref;

use crate::store::notify::{GENERIC, STRING};
use crate::store::{Db, DbMut, DbRef, Keyspace, Op, Rewrite, Value, WrongType};

/// The string at `key`, `None` if missing, WRONGTYPE if another type (through the read door,
/// from a read or a write view).
pub fn get_str<'a, K: Deref<Target = Keyspace>>(
    db: &'a Db<'_, K>,
    key: &[u8],
) -> Result<Option<&'a [u8]>, WrongType> {
    db.get_str(key)
}

fn bulk_or_nil(v: Option<&[u8]>) -> Reply {
    v.map_or(Reply::Nil, |s| Reply::Bulk(s.to_vec()))
}

/// Redis's `checkStringLength`: a string may not grow past `proto-max-bulk-len`.
fn check_len(op: &Op, total: u64) -> Result<(), CmdError> {
    if total > op.max_bulk() {
        Err(STRING_TOO_LONG)
    } else {
        Ok(())
    }
}

/// How a SET/GETEX expiry option was spelled.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Ex,
    Px,
    ExAt,
    PxAt,
}

/// The options of SET (and GETEX), parsed with Redis's exclusions.
#[derive(Default)]
struct SetOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(Unit, &'a [u8])>,
}

const UNITS: [(&str, Unit); 4] = [
    ("EX", Unit::Ex),
    ("PX", Unit::Px),
    ("EXAT", Unit::ExAt),
    ("PXAT", Unit::PxAt),
];

/// Redis's `parseExtendedStringArgumentsOrReply`, for SET (`is_set`) or GETEX.
fn parse_options<'a>(
    args: &Args<'a>,
    from: usize,
    is_set: bool,
) -> Result<SetOptions<'a>, CmdError> {
    let mut o = SetOptions::default();
    let mut j = from;
    while j < args.len() {
        let has_next = j + 1 < args.len();
        let no_expire = o.expire.is_none();
        if is_set && args.is(j, "NX") && !o.xx {
            o.nx = true;
        } else if is_set && args.is(j, "XX") && !o.nx {
            o.xx = true;
        } else if is_set && args.is(j, "GET") {
            o.get = true;
        } else if is_set && args.is(j, "KEEPTTL") && !o.persist && no_expire {
            o.keep_ttl = true;
        } else if !is_set && args.is(j, "PERSIST") && no_expire && !o.keep_ttl {
            o.persist = true;
        } else if let Some(&(_, unit)) = UNITS.iter().find(|(name, unit)| {
            args.is(j, name)
                && !o.keep_ttl
                && !o.persist
                && o.expire.is_none_or(|(cur, _)| cur == *unit)
                && has_next
        }) {
            o.expire = Some((unit, args.get(j + 1)));
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

/// Turns an expiry argument into absolute Unix ms with Redis's checks
/// (`getExpireMillisecondsOrReply`), relative to `now`; `cmd` names the command in the error.
pub fn expire_at(cmd: &str, unit: Unit, raw: &[u8], now: i64) -> Result<i64, CmdError> {
    let n = parse_i64(raw).ok_or(NOT_INTEGER)?;
    let invalid = || CmdError::msg(format!("ERR invalid expire time in '{cmd}' command"));
    let seconds = matches!(unit, Unit::Ex | Unit::ExAt);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut ms = if seconds { n * 1000 } else { n };
    if matches!(unit, Unit::Ex | Unit::Px) {
        ms = ms.checked_add(now).ok_or_else(invalid)?;
    }
    Ok(ms)
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL]
pub fn set(db: &mut DbMut, args: &Args) -> CmdResult {
    let o = parse_options(args, 3, true)?;
    let expire = match o.expire {
        Some((unit, raw)) => Some(expire_at("set", unit, raw, db.now_ms())?),
        None => None,
    };
    set_generic(
        db,
        args.get(1),
        args.get(2),
        o.nx,
        o.xx,
        o.get,
        o.keep_ttl,
        expire,
    )
}

/// The body of SET and its variants (Redis's `setGenericCommand`).
#[allow(clippy::too_many_arguments)]
fn set_generic(
    db: &mut DbMut,
    key: &[u8],
    value: &[u8],
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    expire: Option<i64>,
) -> CmdResult {
    let old = if get {
        Some(bulk_or_nil(get_str(db, key)?))
    } else {
        None
    };
    if (nx && db.contains(key)) || (xx && !db.contains(key)) {
        return Ok(old.unwrap_or(Reply::Nil));
    }
    db.set(key, Value::str(value.to_vec()), keep_ttl);
    db.notify(STRING, "set", key);
    if let Some(at) = expire {
        db.set_expire(key, at);
        db.notify(GENERIC, "expire", key);
    }
    Ok(old.unwrap_or(Reply::ok()))
}

/// GET key
pub fn get(db: &DbRef, args: &Args, proto: u8, out: &mut Vec<u8>) -> Result<(), CmdError> {
    match get_str(db, args.get(1))? {
        Some(s) => encode_bulk(out, s),
        None => encode(&Reply::Nil, proto, out),
    }
    Ok(())
}

/// GETSET key value
pub fn getset(db: &mut DbMut, args: &Args) -> CmdResult {
    set_generic(
        db,
        args.get(1),
        args.get(2),
        false,
        false,
        true,
        false,
        None,
    )
}

/// GETDEL key
pub fn getdel(db: &mut DbMut, args: &Args) -> CmdResult {
    let key = args.get(1);
    let reply = bulk_or_nil(get_str(db, key)?);
    if !matches!(reply, Reply::Nil) {
        db.remove(key);
        db.notify(GENERIC, "del", key);
    }
    Ok(reply)
}

/// GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]
pub fn getex(db: &mut DbMut, args: &Args) -> CmdResult {
    let o = parse_options(args, 2, false)?;
    let key = args.get(1);
    let Some(value) = get_str(db, key)? else {
        return Ok(Reply::Nil);
    };
    let reply = Reply::Bulk(value.to_vec());
    if let Some((unit, raw)) = o.expire {
        let at = expire_at("getex", unit, raw, db.now_ms())?;
        if matches!(unit, Unit::ExAt | Unit::PxAt) && at <= db.expiry_now() {
            db.remove(key);
            db.notify(GENERIC, "del", key);
        } else {
            db.set_expire(key, at);
            db.notify(GENERIC, "expire", key);
        }
    } else if o.persist && db.persist(key) {
        db.notify(GENERIC, "persist", key);
    }
    Ok(reply)
}

/// SETNX key value
pub fn setnx(db: &mut DbMut, args: &Args) -> CmdResult {
    let done = set_generic(
        db,
        args.get(1),
        args.get(2),
        true,
        false,
        false,
        false,
        None,
    )?;
    Ok(Reply::Int(i64::from(!matches!(done, Reply::Nil))))
}

/// SETEX key seconds value
pub fn setex(db: &mut DbMut, args: &Args) -> CmdResult {
    set_with_ttl(db, args, "setex", Unit::Ex)
}

/// PSETEX key milliseconds value
pub fn psetex(db: &mut DbMut, args: &Args) -> CmdResult {
    set_with_ttl(db, args, "psetex", Unit::Px)
}

/// The body of SETEX and PSETEX: `cmd key ttl value`.
fn set_with_ttl(db: &mut DbMut, args: &Args, cmd: &str, unit: Unit) -> CmdResult {
    let at = expire_at(cmd, unit, args.get(2), db.now_ms())?;
    let (key, value) = (args.get(1), args.get(3));
    set_generic(db, key, value, false, false, false, false, Some(at))
}

/// MSET key value [key value ...]
pub fn mset(db: &mut DbMut, args: &Args) -> CmdResult {
    let pairs = key_value_pairs(args)?;
    pairs.for_each(|p| {
        db.set(&p[0], Value::str(p[1].clone()), false);
        db.notify(STRING, "set", &p[0]);
    });
    Ok(Reply::ok())
}

/// MSETNX key value [key value ...]: all or nothing.
pub fn msetnx(db: &mut DbMut, args: &Args) -> CmdResult {
    let pairs = key_value_pairs(args)?;
    if pairs.clone().any(|p| db.contains(&p[0])) {
        return Ok(Reply::Int(0));
    }
    pairs.for_each(|p| {
        db.set(&p[0], Value::str(p[1].clone()), false);
        db.notify(STRING, "set", &p[0]);
    });
    Ok(Reply::Int(1))
}

/// The key/value pairs of MSET and MSETNX; an odd count is an arity error, as in Redis.
fn key_value_pairs<'a>(args: &Args<'a>) -> Result<std::slice::Chunks<'a, Vec<u8>>, CmdError> {
    if args.len().is_multiple_of(2) {
        return Err(super::arity_error(
            args.get(0),
            &args.text(0).to_ascii_lowercase(),
        ));
    }
    Ok(args.from(1).chunks(2))
}

/// MGET key [key ...]: a key of another type reads as nil.
pub fn mget(db: &DbRef, args: &Args) -> CmdResult {
    Ok(Reply::Array(
        args.from(1)
            .iter()
            .map(|k| bulk_or_nil(get_str(db, k).ok().flatten()))
            .collect(),
    ))
}

/// APPEND key value
pub fn append(db: &mut DbMut, args: &Args) -> CmdResult {
    let (key, tail) = (args.get(1), args.get(2));
    let op = db.op();
    match db.str_rewrite(key, Rewrite::InPlace)? {
        Some(s) => {
            check_len(op, s.len() as u64 + tail.len() as u64)?;
            s.extend_from_slice(tail);
            let len = s.len();
            db.notify(STRING, "append", key);
            Ok(Reply::Int(len as i64))
        }
        None => {
            db.set(key, Value::str(tail.to_vec()), false);
            db.notify(STRING, "append", key);
            Ok(Reply::Int(tail.len() as i64))
        }
    }
}

/// STRLEN key
pub fn strlen(db: &DbRef, args: &Args) -> CmdResult {
    Ok(Reply::Int(
        get_str(db, args.get(1))?.map_or(0, |s| s.len() as i64),
    ))
}

/// GETRANGE key start end (also SUBSTR)
pub fn getrange(db: &DbRef, args: &Args) -> CmdResult {
    let (mut start, mut end) = (args.int(2)?, args.int(3)?);
    let s = get_str(db, args.get(1))?.unwrap_or(b"");
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::bulk(""));
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Ok(Reply::bulk(""));
    }
    Ok(Reply::bulk(&s[start as usize..=end as usize]))
}

/// SETRANGE key offset value: pads with zero bytes.
pub fn setrange(db: &mut DbMut, args: &Args) -> CmdResult {
    let (key, value) = (args.get(1), args.get(3));
    let offset = args.int(2)?;
    if offset < 0 {
        return Err(err("ERR offset is out of range"));
    }
    let offset = offset as u64;
    let op = db.op();
    // An empty value changes nothing: the quiet door, and a touch only when writing.
    if value.is_empty() {
        return Ok(Reply::Int(
            db.str_mut_quiet(key)?.map_or(0, |s| s.len() as i64),
        ));
    }
    match db.str_rewrite_quiet(key, Rewrite::InPlace)? {
        None => {
            check_len(op, offset + value.len() as u64)?;
            let mut s = vec![0u8; offset as usize];
            s.extend_from_slice(value);
            let n = s.len() as i64;
            db.set(key, Value::raw_str(s), false);
            db.notify(STRING, "setrange", key);
            Ok(Reply::Int(n))
        }
        Some(s) => {
            check_len(op, offset + value.len() as u64)?;
            let (off, end) = (offset as usize, offset as usize + value.len());
            if s.len() < end {
                s.resize(end, 0);
            }
            s[off..end].copy_from_slice(value);
            let len = s.len();
            db.touch(key);
            db.notify(STRING, "setrange", key);
            Ok(Reply::Int(len as i64))
        }
    }
}

/// The body of INCR, DECR, INCRBY and DECRBY.
fn incr_by(db: &mut DbMut, key: &[u8], by: i64) -> CmdResult {
    // Quiet: a value that is not an integer, or an overflow, changes nothing.
    let slot = db.str_rewrite_quiet(key, Rewrite::Whole)?;
    let current = match &slot {
        Some(s) => parse_i64(s).ok_or(NOT_INTEGER)?,
        None => 0,
    };
    let next = current.checked_add(by).ok_or(OVERFLOW)?;
    match slot {
        Some(s) => {
            // The digits are rewritten in the buffer they replace (no allocation per INCR),
            // unless it is far larger than they need.
            if s.capacity() > 32 {
                *s = Vec::with_capacity(20);
            }
            s.clear();
            crate::protocol::reply::push_i64(s, next);
            db.touch(key);
        }
        None => {
            let mut digits = Vec::with_capacity(20);
            crate::protocol::reply::push_i64(&mut digits, next);
            db.set(key, Value::str(digits), false);
        }
    }
    db.notify(STRING, "incrby", key);
    Ok(Reply::Int(next))
}

/// INCR key
pub fn incr(db: &mut DbMut, args: &Args) -> CmdResult {
    incr_by(db, args.get(1), 1)
}

/// DECR key
pub fn decr(db: &mut DbMut, args: &Args) -> CmdResult {
    incr_by(db, args.get(1), -1)
}

/// INCRBY key increment
pub fn incrby(db: &mut DbMut, args: &Args) -> CmdResult {
    let by = args.int(2)?;
    incr_by(db, args.get(1), by)
}

/// DECRBY key decrement
pub fn decrby(db: &mut DbMut, args: &Args) -> CmdResult {
    let by = args.int(2)?;
    if by == i64::MIN {
        return Err(err("ERR decrement would overflow"));
    }
    incr_by(db, args.get(1), -by)
}

extern "C" {
    fn spindle_ld_add(
        a: *const u8,
        alen: usize,
        b: *const u8,
        blen: usize,
        out: *mut u8,
        outlen: usize,
    ) -> std::ffi::c_long;
}

/// Is `a` a valid `long double` argument (Redis's `getLongDoubleFromObject`)?
pub fn long_double_valid(a: &[u8]) -> bool {
    extern "C" {
        fn spindle_ld_valid(a: *const u8, alen: usize) -> i32;
    }
    // SAFETY: the pointer and length describe a live buffer the C side only reads.
    unsafe { spindle_ld_valid(a.as_ptr(), a.len()) != 0 }
}

/// Adds two decimal strings in C `long double` and formats the sum as Redis does.
pub fn long_double_add(a: &[u8], b: &[u8]) -> Result<Vec<u8>, CmdError> {
    const NOT_FLOAT: CmdError = err("ERR value is not a valid float");
    let mut out = vec![0u8; 6 * 1024];
    // SAFETY: the pointers and lengths describe live buffers; the C side writes at most
    // `out.len()` bytes and never reads past the given lengths.
    let n = unsafe {
        spindle_ld_add(
            a.as_ptr(),
            a.len(),
            b.as_ptr(),
            b.len(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    match n {
        -1 | -2 => Err(NOT_FLOAT),
        -3 => Err(err("ERR increment would produce NaN or Infinity")),
        n if n < 0 => Err(NOT_FLOAT),
        n => {
            out.truncate(n as usize);
            Ok(out)
        }
    }
}

/// INCRBYFLOAT key increment
pub fn incrbyfloat(db: &mut DbMut, args: &Args) -> CmdResult {
    let key = args.get(1);
    let slot = db.str_rewrite_quiet(key, Rewrite::Whole)?;
    let next = long_double_add(slot.as_deref().map_or(b"0", |s| s), args.get(2))?;
    let reply = Reply::Bulk(next.clone());
    match slot {
        Some(s) => {
            *s = next;
            db.touch(key);
        }
        None => db.set(key, Value::str(next), false),
    }
    db.notify(STRING, "incrbyfloat", key);
    Ok(reply)
}

/// Parses a bit offset like Redis's `getBitOffsetFromArgument`: the byte it falls in must be
/// below `proto-max-bulk-len`.
fn bit_offset(op: &Op, args: &Args, i: usize) -> Result<u64, CmdError> {
    const BAD: CmdError = err("ERR bit offset is not an integer or out of range");
    let n = parse_i64(args.get(i)).ok_or(BAD)?;
    if n < 0 || (n as u64 >> 3) >= op.max_bulk() {
        return Err(BAD);
    }
    Ok(n as u64)
}

/// SETBIT key offset value: grows the string with zero bytes; replies the old bit.
pub fn setbit(db: &mut DbMut, args: &Args) -> CmdResult {
    let offset = bit_offset(db.op(), args, 2)?;
    let on = match parse_i64(args.get(3)) {
        Some(v @ (0 | 1)) => v == 1,
        _ => return Err(err("ERR bit is not an integer or out of range")),
    };
    let key = args.get(1);
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    // (the old bit, whether the string changed: it grew, or the bit flipped)
    let flip = |s: &mut Vec<u8>| {
        let grew = s.len() <= byte;
        if grew {
            s.resize(byte + 1, 0);
        }
        let old = s[byte] & mask != 0;
        if on {
            s[byte] |= mask;
        } else {
            s[byte] &= !mask;
        }
        (old, grew || old != on)
    };
    let (old, changed) = match db.str_rewrite_quiet(key, Rewrite::InPlace)? {
        Some(s) => {
            let (old, changed) = flip(s);
            if changed {
                db.touch(key);
            }
            (old, changed)
        }
        None => {
            let mut s = Vec::new();
            let (old, _) = flip(&mut s);
            db.set(key, Value::raw_str(s), false);
            (old, true)
        }
    };
    // Redis signals (and counts) a SETBIT only when it changes the string.
    if changed {
        db.notify(STRING, "setbit", key);
    } else {
        db.op().count_changes(0);
    }
    Ok(Reply::Int(i64::from(old)))
}

/// GETBIT key offset
pub fn getbit(db: &DbRef, args: &Args) -> CmdResult {
    let offset = bit_offset(db.op(), args, 2)?;
    let s = get_str(db, args.get(1))?.unwrap_or(b"");
    let byte = (offset >> 3) as usize;
    let bit = s
        .get(byte)
        .is_some_and(|b| b & (1u8 << (7 - (offset & 7))) != 0);
    Ok(Reply::Int(i64::from(bit)))
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN] (Redis's `lcsCommand`). The
/// table is O(len1 * len2): both strings are copied out and the database lock released
/// before it is built, so a long LCS holds up no other client.
pub fn lcs(ctx: &mut super::Ctx, args: &Args) -> CmdResult {
    let strings = ctx.read_db(ctx.client.db, |db| {
        let mut out = Vec::with_capacity(2);
        let mut wrong = false;
        for key in [args.get(1), args.get(2)] {
            match db.entry(key).map(|e| &e.value) {
                Some(Value::Str(s, _)) => out.push(s.clone()),
                Some(_) => wrong = true,
                None => out.push(Vec::new()),
            }
        }
        (!wrong).then_some(out)
    });
    let Some(strings) = strings else {
        return Err(err("ERR The specified keys must contain string values"));
    };
    let (a, b) = (&strings[0], &strings[1]);
    let (mut getlen, mut getidx, mut withmatchlen, mut minmatchlen) = (false, false, false, 0i64);
    let mut j = 3;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if args.is(j, "IDX") {
            getidx = true;
        } else if args.is(j, "LEN") {
            getlen = true;
        } else if args.is(j, "WITHMATCHLEN") {
            withmatchlen = true;
        } else if args.is(j, "MINMATCHLEN") && more > 0 {
            minmatchlen = args.int(j + 1)?.max(0);
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    if getlen && getidx {
        return Err(err(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    if a.len() as u64 >= u64::from(u32::MAX) - 1 || b.len() as u64 >= u64::from(u32::MAX) - 1 {
        return Err(err("ERR String too long for LCS"));
    }
    let (alen, blen) = (a.len(), b.len());
    let size = (alen as u64 + 1) * (blen as u64 + 1);
    if size * 4 > ctx.op.max_bulk() {
        return Err(err(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(size as usize).is_err() {
        return Err(err(
            "ERR Insufficient memory, failed allocating transient memory for LCS",
        ));
    }
    table.resize(size as usize, 0);
    let at = |i: usize, j: usize| j + i * (blen + 1);
    for i in 1..=alen {
        for j in 1..=blen {
            table[at(i, j)] = if a[i - 1] == b[j - 1] {
                table[at(i - 1, j - 1)] + 1
            } else {
                table[at(i - 1, j)].max(table[at(i, j - 1)])
            };
        }
    }
    let total = table[at(alen, blen)];
    let compute = getidx || !getlen;
    let mut result = vec![0u8; if compute { total as usize } else { 0 }];
    let mut idx = total as usize;
    let mut matches = Vec::new();
    // Redis walks back from the end, tracking the current run of matches (`alen` = none).
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0, 0, 0);
    let (mut i, mut j) = (alen, blen);
    while compute && i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == alen {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[at(i - 1, j)] > table[at(i, j - 1)] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        let match_len = a_end.wrapping_sub(a_start).wrapping_add(1);
        if emit {
            if (minmatchlen == 0 || match_len as i64 >= minmatchlen) && getidx {
                let mut m = vec![
                    Reply::Array(vec![Reply::Int(a_start as i64), Reply::Int(a_end as i64)]),
                    Reply::Array(vec![Reply::Int(b_start as i64), Reply::Int(b_end as i64)]),
                ];
                if withmatchlen {
                    m.push(Reply::Int(match_len as i64));
                }
                matches.push(Reply::Array(m));
            }
            a_start = alen;
        }
    }
    Ok(if getidx {
        Reply::Map(vec![
            (Reply::bulk("matches"), Reply::Array(matches)),
            (Reply::bulk("len"), Reply::Int(i64::from(total))),
        ])
    } else if getlen {
        Reply::Int(i64::from(total))
    } else {
        Reply::Bulk(result)
    })
}

#[cfg(test)]
mod tests {
    use super::long_double_add;

    fn add(a: &str, b: &str) -> String {
        String::from_utf8(long_double_add(a.as_bytes(), b.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn long_double_like_redis() {
        assert_eq!(add("10.5", "0.1"), "10.6");
        assert_eq!(add("0", "3.0e3"), "3000");
        assert_eq!(add("5.0e3", "2.0e3"), "7000");
        assert_eq!(add("0.1", "0.2"), "0.3");
        assert_eq!(add("1", "-1"), "0");
        assert!(long_double_add(b"abc", b"1").is_err());
        assert!(long_double_add(b"1", b" 1").is_err());
        assert!(long_double_add(b"1", b"nan").is_err());
        assert!(long_double_add(b"1", b"inf").is_err());
    }
}
