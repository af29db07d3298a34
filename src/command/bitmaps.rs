//! Bitmap commands on strings (Redis's `bitops.c`): BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO. (SETBIT and GETBIT live with the strings.)

use super::args::{err, Args, CmdError, CmdResult, NOT_INTEGER, SYNTAX};
use crate::protocol::{parse_i64, Reply};
use crate::store::notify::{GENERIC, STRING};
use crate::store::{DbMut, DbRef, Op, Rewrite, Value};

/// A `start end [BYTE|BIT]` range over `len` bytes, resolved as Redis does: the byte range
/// and, for BIT, the masks of the bits of the first and last bytes that fall outside it.
/// `None`: an empty range.
fn byte_range(len: usize, start: i64, end: i64, bit: bool) -> Option<(usize, usize, u8, u8)> {
    let mut total = len as i64;
    if bit {
        total <<= 3;
    }
    let (mut start, mut end) = (start, end);
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    if bit && start <= end {
        first_mask = !((1u16 << (8 - (start & 7))) - 1) as u8;
        last_mask = ((1u16 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    (start <= end).then_some((start as usize, end as usize, first_mask, last_mask))
}

fn unit_is_bit(args: &Args, i: usize) -> Result<bool, CmdError> {
    if args.is(i, "bit") {
        Ok(true)
    } else if args.is(i, "byte") {
        Ok(false)
    } else {
        Err(SYNTAX)
    }
}

/// BITCOUNT key [start end [BYTE|BIT]]
pub fn bitcount(db: &DbRef, args: &Args) -> CmdResult {
    // A missing key answers 0 before the arguments are looked at, as in Redis.
    let Some(s) = db.get_str(args.get(1))? else {
        return Ok(Reply::Int(0));
    };
    let (start, end, first_mask, last_mask) = match args.len() {
        4 | 5 => {
            let start = args.int(2)?;
            let end = args.int(3)?;
            if start < 0 && end < 0 && start > end {
                return Ok(Reply::Int(0));
            }
            let bit = args.len() == 5 && unit_is_bit(args, 4)?;
            match byte_range(s.len(), start, end, bit) {
                Some(r) => r,
                None => return Ok(Reply::Int(0)),
            }
        }
        2 if s.is_empty() => return Ok(Reply::Int(0)),
        2 => (0, s.len() - 1, 0, 0),
        _ => return Err(SYNTAX),
    };
    let mut count: i64 = s[start..=end]
        .iter()
        .map(|b| i64::from(b.count_ones()))
        .sum();
    if first_mask != 0 {
        count -= i64::from((s[start] & first_mask).count_ones());
    }
    if last_mask != 0 {
        count -= i64::from((s[end] & last_mask).count_ones());
    }
    Ok(Reply::Int(count))
}

/// The position of the first bit equal to `bit` in `bytes` (Redis's `redisBitpos`): -1 if
/// there is no 1; for 0, the bit just past the end if all are 1.
fn first_bit(bytes: &[u8], bit: bool) -> i64 {
    for (i, &b) in bytes.iter().enumerate() {
        let b = if bit { b } else { !b };
        if b != 0 {
            return i as i64 * 8 + i64::from(b.leading_zeros());
        }
    }
    if bit {
        -1
    } else {
        bytes.len() as i64 * 8
    }
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
pub fn bitpos(db: &DbRef, args: &Args) -> CmdResult {
    let bit = match args.int(2)? {
        0 => false,
        1 => true,
        _ => return Err(err("ERR The bit argument must be 1 or 0.")),
    };
    let Some(s) = db.get_str(args.get(1))? else {
        return Ok(Reply::Int(if bit { -1 } else { 0 }));
    };
    let mut end_given = false;
    let (start, end, first_mask, last_mask) = match args.len() {
        4..=6 => {
            let start = args.int(3)?;
            let isbit = args.len() == 6 && unit_is_bit(args, 5)?;
            let end = if args.len() >= 5 {
                end_given = true;
                args.int(4)?
            } else if isbit {
                ((s.len() as i64) << 3) + 7
            } else {
                s.len() as i64 - 1
            };
            match byte_range(s.len(), start, end, isbit) {
                Some(r) => r,
                None => return Ok(Reply::Int(-1)),
            }
        }
        3 if s.is_empty() => return Ok(Reply::Int(-1)),
        3 => (0, s.len() - 1, 0, 0),
        _ => return Err(SYNTAX),
    };
    // The bytes of the range, with the bits outside it set so that they never match.
    let mut bytes = s[start..=end].to_vec();
    let n = bytes.len();
    let hide = |b: &mut u8, mask: u8| {
        if bit {
            *b &= !mask;
        } else {
            *b |= mask;
        }
    };
    if first_mask != 0 {
        hide(&mut bytes[0], first_mask);
    }
    if last_mask != 0 {
        hide(&mut bytes[n - 1], last_mask);
    }
    let pos = first_bit(&bytes, bit);
    // With an explicit end, no 0 past it counts.
    if end_given && !bit && pos == (n as i64) << 3 {
        return Ok(Reply::Int(-1));
    }
    Ok(Reply::Int(if pos == -1 {
        -1
    } else {
        pos + ((start as i64) << 3)
    }))
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
pub fn bitop(db: &mut DbMut, args: &Args) -> CmdResult {
    #[derive(PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = if args.is(1, "and") {
        Op::And
    } else if args.is(1, "or") {
        Op::Or
    } else if args.is(1, "xor") {
        Op::Xor
    } else if args.is(1, "not") {
        Op::Not
    } else {
        return Err(SYNTAX);
    };
    if op == Op::Not && args.len() != 4 {
        return Err(err(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let mut sources: Vec<Vec<u8>> = Vec::with_capacity(args.len() - 3);
    for key in args.from(3) {
        sources.push(db.get_str(key)?.map(<[u8]>::to_vec).unwrap_or_default());
    }
    let maxlen = sources.iter().map(Vec::len).max().unwrap_or(0);
    let dst = args.get(2);
    if maxlen == 0 {
        if db.delete(dst, false) {
            db.notify(GENERIC, "del", dst);
        }
        return Ok(Reply::Int(0));
    }
    let byte = |s: &Vec<u8>, i: usize| s.get(i).copied().unwrap_or(0);
    let result: Vec<u8> = (0..maxlen)
        .map(|i| {
            let first = byte(&sources[0], i);
            match op {
                Op::Not => !first,
                Op::And => sources[1..].iter().fold(first, |a, s| a & byte(s, i)),
                Op::Or => sources[1..].iter().fold(first, |a, s| a | byte(s, i)),
                Op::Xor => sources[1..].iter().fold(first, |a, s| a ^ byte(s, i)),
            }
        })
        .collect();
    db.set(dst, Value::raw_str(result), false);
    db.notify(STRING, "set", dst);
    Ok(Reply::Int(maxlen as i64))
}

/// A BITFIELD type: signed, and its width in bits.
fn field_type(t: &[u8]) -> Result<(bool, u32), CmdError> {
    const BAD: CmdError = err("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.");
    let signed = match t.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BAD),
    };
    let bits = parse_i64(&t[1..]).ok_or(BAD)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(BAD);
    }
    Ok((signed, bits as u32))
}

/// A BITFIELD offset, `#n` meaning n times the width (Redis's `getBitOffsetFromArgument`).
fn field_offset(op: &Op, a: &[u8], bits: u32) -> Result<u64, CmdError> {
    const BAD: CmdError = err("ERR bit offset is not an integer or out of range");
    let (hash, digits) = match a.first() {
        Some(b'#') => (true, &a[1..]),
        _ => (false, a),
    };
    let mut n = parse_i64(digits).ok_or(BAD)?;
    if hash {
        n = n.checked_mul(i64::from(bits)).ok_or(BAD)?;
    }
    if n < 0 || (n as u64 >> 3) >= op.max_bulk() {
        return Err(BAD);
    }
    Ok(n as u64)
}

fn get_bits(s: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..u64::from(bits) {
        let at = offset + i;
        let byte = s.get((at >> 3) as usize).copied().unwrap_or(0);
        let b = (byte >> (7 - (at & 7))) & 1;
        v = (v << 1) | u64::from(b);
    }
    v
}

fn set_bits(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let at = offset + i;
        let b = (value >> (u64::from(bits) - 1 - i)) & 1;
        let byte = &mut s[(at >> 3) as usize];
        let mask = 1u8 << (7 - (at & 7));
        if b == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

fn signed_of(v: u64, bits: u32) -> i64 {
    if bits == 64 {
        v as i64
    } else if v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// Redis's `checkUnsignedBitfieldOverflow`: `Some(limited)` on overflow (the wrapped or
/// saturated value; for FAIL, unused).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max: u64 = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || {
        let mask = if bits == 64 { 0 } else { u64::MAX << bits };
        value.wrapping_add(incr as u64) & !mask
    };
    if value > max || (incr > 0 && incr > maxincr) {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => max,
        })
    } else if incr < 0 && incr < minincr {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => 0,
        })
    } else {
        None
    }
}

/// Redis's `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => max,
        })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => min,
        })
    } else {
        None
    }
}

#[derive(Clone, Copy)]
enum FieldOp {
    Get,
    Set(i64),
    Incr(i64),
}

struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// The operations of a BITFIELD, parsed and checked before any runs.
fn parse_fields(op: &Op, args: &Args) -> Result<Vec<Field>, CmdError> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let rem = args.len() - j - 1;
        let kind = if args.is(j, "get") && rem >= 2 {
            0
        } else if args.is(j, "set") && rem >= 3 {
            1
        } else if args.is(j, "incrby") && rem >= 3 {
            2
        } else if args.is(j, "overflow") && rem >= 1 {
            overflow = if args.is(j + 1, "wrap") {
                Overflow::Wrap
            } else if args.is(j + 1, "sat") {
                Overflow::Sat
            } else if args.is(j + 1, "fail") {
                Overflow::Fail
            } else {
                return Err(err("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(SYNTAX);
        };
        let (signed, bits) = field_type(args.get(j + 1))?;
        let offset = field_offset(op, args.get(j + 2), bits)?;
        let op = match kind {
            0 => FieldOp::Get,
            _ => {
                let v = parse_i64(args.get(j + 3)).ok_or(NOT_INTEGER)?;
                if kind == 1 {
                    FieldOp::Set(v)
                } else {
                    FieldOp::Incr(v)
                }
            }
        };
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if kind == 0 { 3 } else { 4 };
    }
    Ok(fields)
}

/// Runs one SET or INCRBY on `s`: the reply, and whether the field changed.
fn write_field(s: &mut [u8], f: &Field) -> (Reply, bool) {
    let raw = get_bits(s, f.offset, f.bits);
    if f.signed {
        let old = signed_of(raw, f.bits);
        let (new, ret, over) = match f.op {
            FieldOp::Incr(by) => match signed_overflow(old, by, f.bits, f.overflow) {
                Some(limited) => (limited, limited, true),
                None => (old + by, old + by, false),
            },
            FieldOp::Set(v) => match signed_overflow(v, 0, f.bits, f.overflow) {
                Some(limited) => (limited, old, true),
                None => (v, old, false),
            },
            FieldOp::Get => (old, old, false),
        };
        if over && f.overflow == Overflow::Fail {
            return (Reply::Nil, false);
        }
        set_bits(s, f.offset, f.bits, new as u64);
        (Reply::Int(ret), old != new)
    } else {
        let old = raw;
        let (new, ret, over) = match f.op {
            FieldOp::Incr(by) => match unsigned_overflow(old, by, f.bits, f.overflow) {
                Some(limited) => (limited, limited, true),
                None => {
                    let n = old.wrapping_add(by as u64);
                    (n, n, false)
                }
            },
            FieldOp::Set(v) => match unsigned_overflow(v as u64, 0, f.bits, f.overflow) {
                Some(limited) => (limited, old, true),
                None => (v as u64, old, false),
            },
            FieldOp::Get => (old, old, false),
        };
        if over && f.overflow == Overflow::Fail {
            return (Reply::Nil, false);
        }
        set_bits(s, f.offset, f.bits, new);
        (Reply::Int(ret as i64), old != new)
    }
}

/// A GET of a field of `s` (missing bytes read as zeros).
fn read_field(s: &[u8], f: &Field) -> Reply {
    let raw = get_bits(s, f.offset, f.bits);
    Reply::Int(if f.signed {
        signed_of(raw, f.bits)
    } else {
        raw as i64
    })
}

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
/// [OVERFLOW WRAP|SAT|FAIL] ...
pub fn bitfield(db: &mut DbMut, args: &Args) -> CmdResult {
    let fields = parse_fields(db.op(), args)?;
    let key = args.get(1);
    let highest = fields
        .iter()
        .filter(|f| !matches!(f.op, FieldOp::Get))
        .map(|f| f.offset + u64::from(f.bits) - 1)
        .max();
    let Some(highest) = highest else {
        // Only GETs: a read, which changes nothing.
        db.op().count_changes(0);
        let s = db.get_str(key)?.unwrap_or_default();
        return Ok(Reply::Array(
            fields.iter().map(|f| read_field(s, f)).collect(),
        ));
    };
    let need = (highest >> 3) as usize + 1;
    let mut grew = false;
    let mut replies = Vec::with_capacity(fields.len());
    let mut changes = 0;
    let mut run = |s: &mut Vec<u8>, grew: bool| {
        for f in &fields {
            match f.op {
                FieldOp::Get => replies.push(read_field(s, f)),
                _ => {
                    let (reply, changed) = write_field(s, f);
                    let failed = matches!(reply, Reply::Nil);
                    replies.push(reply);
                    if !failed && (grew || changed) {
                        changes += 1;
                    }
                }
            }
        }
    };
    match db.str_rewrite_quiet(key, Rewrite::InPlace)? {
        Some(s) => {
            if s.len() < need {
                s.resize(need, 0);
                grew = true;
            }
            run(s, grew);
        }
        None => {
            let mut s = vec![0u8; need];
            run(&mut s, true);
            db.set(key, Value::raw_str(s), false);
        }
    }
    if changes > 0 {
        db.touch(key);
        db.notify(STRING, "setbit", key);
    }
    // Each field written counts, as in Redis: one that left its bits as they were does not.
    db.op().count_changes(changes);
    Ok(Reply::Array(replies))
}

/// BITFIELD_RO key [GET type offset ...]
pub fn bitfield_ro(db: &DbRef, args: &Args) -> CmdResult {
    let fields = parse_fields(db.op(), args)?;
    if fields.iter().any(|f| !matches!(f.op, FieldOp::Get)) {
        return Err(err("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    let s = db.get_str(args.get(1))?.unwrap_or_default();
    Ok(Reply::Array(
        fields.iter().map(|f| read_field(s, f)).collect(),
    ))
}
