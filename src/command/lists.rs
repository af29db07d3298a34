//! List commands (Redis's `t_list.c`), the blocking pops among them.
//!
//! Arguments are checked in Redis's order (some before the key is looked up, some after), so
//! that every error a client can provoke is the one Redis gives.

use super::access::CHUNK;
use super::args::{err, Args, CmdError, CmdResult, NO_SUCH_KEY, SYNTAX};
use super::{Ctx, Step, Wait};
use crate::protocol::{encode, Bulks, Reply, Shape};
use crate::store::list::End;
use crate::store::notify::LIST;
use crate::store::ready::Request;
use crate::store::{DbMut, DbRef, List, Value};

const OUT_OF_RANGE: CmdError = err("ERR index out of range");

/// LEFT or RIGHT (Redis's `getListPositionFromObjectOrReply`).
fn end_arg(args: &Args, i: usize) -> Result<End, CmdError> {
    if args.is(i, "LEFT") {
        Ok(End::Left)
    } else if args.is(i, "RIGHT") {
        Ok(End::Right)
    } else {
        Err(SYNTAX)
    }
}

/// A Redis index (negative counts from the end) into a list of `len`, if inside it.
fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i + len as i64 } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// Clamps Redis's `start`/`end` (negative from the end) to the list; `None` if empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { start + len } else { start };
    let mut end = if end < 0 { end + len } else { end };
    start = start.max(0);
    if start > end || start >= len {
        return None;
    }
    end = end.min(len - 1);
    Some((start as usize, end as usize))
}

/// Pushes `values` at `end` of the list at `key`, creating it (unless `only_existing`).
/// Returns the new length, or `None` if the key was missing and `only_existing`.
fn push_values(
    db: &mut DbMut,
    key: &[u8],
    values: &[Vec<u8>],
    end: End,
    only_existing: bool,
) -> Result<Option<usize>, CmdError> {
    let fill = db.op().limits().list_fill;
    if let Some(list) = db.list_mut(key)? {
        for v in values {
            list.push(end, v, fill);
        }
        let n = list.len();
        db.notify(LIST, push_event(end), key);
        return Ok(Some(n));
    }
    if only_existing {
        return Ok(None);
    }
    let mut list = List::new();
    for v in values {
        list.push(end, v, fill);
    }
    let n = list.len();
    db.set(key, Value::list(list), false);
    db.notify(LIST, push_event(end), key);
    Ok(Some(n))
}

/// The keyspace event of a push at `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// The keyspace event of a pop at `end`.
fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

fn push_generic(db: &mut DbMut, args: &Args, end: End, only_existing: bool) -> CmdResult {
    let n = push_values(db, args.get(1), args.from(2), end, only_existing)?;
    Ok(Reply::Int(n.unwrap_or(0) as i64))
}

/// LPUSH key element [element ...]
pub fn lpush(db: &mut DbMut, args: &Args) -> CmdResult {
    push_generic(db, args, End::Left, false)
}

/// RPUSH key element [element ...]
pub fn rpush(db: &mut DbMut, args: &Args) -> CmdResult {
    push_generic(db, args, End::Right, false)
}

/// LPUSHX key element [element ...]
pub fn lpushx(db: &mut DbMut, args: &Args) -> CmdResult {
    push_generic(db, args, End::Left, true)
}

/// RPUSHX key element [element ...]
pub fn rpushx(db: &mut DbMut, args: &Args) -> CmdResult {
    push_generic(db, args, End::Right, true)
}

/// Pops up to `count` elements from `end` of the list at `key` (which the caller found
/// non-empty), in the order they come off, and deletes the key if that empties it.
fn pop_n(db: &mut DbMut, key: &[u8], end: End, count: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(Some(list)) = db.list_mut(key) {
        while out.len() < count {
            match list.pop(end) {
                Some(v) => out.push(v),
                None => break,
            }
        }
    }
    if !out.is_empty() {
        db.notify(LIST, pop_event(end), key);
    }
    db.remove_if_empty(key);
    out
}

fn pop_generic(db: &mut DbMut, args: &Args, end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(super::arity_error(
            args.get(0),
            &args.text(0).to_ascii_lowercase(),
        ));
    }
    let count = if args.len() == 3 {
        Some(args.positive(2)? as usize)
    } else {
        None
    };
    let key = args.get(1);
    if db.list_mut_quiet(key)?.is_none() {
        return Ok(if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    }
    Ok(match count {
        Some(0) => Reply::Array(vec![]),
        None => pop_n(db, key, end, 1).pop().map_or(Reply::Nil, Reply::Bulk),
        Some(n) => Reply::bulks(pop_n(db, key, end, n)),
    })
}

/// LPOP key [count]
pub fn lpop(db: &mut DbMut, args: &Args) -> CmdResult {
    pop_generic(db, args, End::Left)
}

/// RPOP key [count]
pub fn rpop(db: &mut DbMut, args: &Args) -> CmdResult {
    pop_generic(db, args, End::Right)
}

/// LLEN key
pub fn llen(db: &DbRef, args: &Args) -> CmdResult {
    Ok(Reply::Int(
        db.get_list(args.get(1))?.map_or(0, |l| l.len() as i64),
    ))
}

/// LINDEX key index
pub fn lindex(db: &DbRef, args: &Args) -> CmdResult {
    let Some(list) = db.get_list(args.get(1))? else {
        return Ok(Reply::Nil);
    };
    let i = args.int(2)?;
    Ok(index(i, list.len())
        .and_then(|i| list.get(i))
        .map_or(Reply::Nil, Reply::bulk))
}

/// LSET key index element
pub fn lset(db: &mut DbMut, args: &Args) -> CmdResult {
    let key = args.get(1);
    let Some(list) = db.list_mut_quiet(key)? else {
        return Err(NO_SUCH_KEY);
    };
    let i = args.int(2)?;
    match index(i, list.len()) {
        Some(i) if list.set(i, args.get(3)) => {
            db.touch(key);
            db.notify(LIST, "lset", key);
            Ok(Reply::ok())
        }
        _ => Err(OUT_OF_RANGE),
    }
}

/// LRANGE key start stop: a long range is read in chunks, as one instant's value (see
/// [`Ctx::read_chunked`]).
pub fn lrange(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (start, end) = (args.int(2)?, args.int(3)?);
    let key = args.get(1);
    // (the next index, the last one, the elements so far)
    let (_, _, items) = ctx.read_chunked(
        key,
        || (0usize, None, Bulks::new(Shape::Array)),
        |db, (next, last, items), counted| {
            let Some(list) = db.get_as(key, counted, Value::as_list)? else {
                return Ok::<_, CmdError>(true);
            };
            let stop = match *last {
                Some(stop) => stop,
                None => match clamp_range(start, end, list.len()) {
                    Some((s, e)) => {
                        *next = s;
                        *last = Some(e);
                        e
                    }
                    None => return Ok(true),
                },
            };
            let upto = stop.min(*next + CHUNK - 1);
            for v in list.range(*next, upto) {
                items.push(v);
            }
            *next = upto + 1;
            Ok(upto == stop)
        },
        |(_, _, items)| items.make_room(),
    )?;
    Ok(Reply::Bulks(items))
}

/// LINSERT key BEFORE|AFTER pivot element
pub fn linsert(db: &mut DbMut, args: &Args) -> CmdResult {
    let after = if args.is(2, "AFTER") {
        true
    } else if args.is(2, "BEFORE") {
        false
    } else {
        return Err(SYNTAX);
    };
    let fill = db.op().limits().list_fill;
    let key = args.get(1);
    let Some(list) = db.list_mut_quiet(key)? else {
        return Ok(Reply::Int(0));
    };
    let Some(at) = list.iter().position(|v| v == args.get(3)) else {
        return Ok(Reply::Int(-1));
    };
    list.insert(at + usize::from(after), args.get(4), fill);
    let len = list.len();
    db.touch(key);
    db.notify(LIST, "linsert", key);
    Ok(Reply::Int(len as i64))
}

/// LREM key count element: count > 0 from the head, < 0 from the tail, 0 all.
pub fn lrem(db: &mut DbMut, args: &Args) -> CmdResult {
    let count = args.int(2)?;
    let key = args.get(1);
    let Some(list) = db.list_mut_quiet(key)? else {
        return Ok(Reply::Int(0));
    };
    let removed = list.remove_matching(args.get(3), count.unsigned_abs() as usize, count < 0);
    if removed > 0 {
        db.touch(key);
        db.notify(LIST, "lrem", key);
    }
    db.remove_if_empty(key);
    Ok(Reply::Int(removed as i64))
}

/// LTRIM key start stop
pub fn ltrim(db: &mut DbMut, args: &Args) -> CmdResult {
    let (start, end) = (args.int(2)?, args.int(3)?);
    let key = args.get(1);
    let Some(list) = db.list_mut(key)? else {
        return Ok(Reply::ok());
    };
    let len = list.len();
    match clamp_range(start, end, len) {
        Some((s, e)) => list.trim(s, len - 1 - e),
        None => list.trim(len, 0),
    }
    db.notify(LIST, "ltrim", key);
    db.remove_if_empty(key);
    Ok(Reply::ok())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
pub fn lpos(db: &DbRef, args: &Args) -> CmdResult {
    let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        if args.is(j, "RANK") && more {
            j += 1;
            rank = args.int(j)?;
            if rank == 0 {
                return Err(err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
        } else if args.is(j, "COUNT") && more {
            j += 1;
            count = Some(args.range(j, 0, i64::MAX, "ERR COUNT can't be negative")?);
        } else if args.is(j, "MAXLEN") && more {
            j += 1;
            maxlen = args.range(j, 0, i64::MAX, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let Some(list) = db.get_list(args.get(1))? else {
        return Ok(if count.is_some() {
            Reply::Array(vec![])
        } else {
            Reply::Nil
        });
    };
    let element = args.get(2);
    let len = list.len();
    let from_tail = rank < 0;
    // Redis negates a negative rank in a C long: LONG_MIN stays negative, and every match
    // then satisfies it, so it acts as a rank of 1 from the tail.
    let rank = if rank == i64::MIN {
        1
    } else {
        rank.unsigned_abs()
    };
    let limit = if maxlen == 0 { len } else { maxlen as usize };
    let elements: Box<dyn Iterator<Item = &[u8]>> = if from_tail {
        Box::new(list.iter().rev())
    } else {
        Box::new(list.iter())
    };
    let mut matches = 0u64;
    let mut found = Vec::new();
    for (scanned, v) in elements.take(limit).enumerate() {
        if v != element {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        let at = if from_tail {
            len - 1 - scanned
        } else {
            scanned
        };
        found.push(Reply::Int(at as i64));
        match count {
            None => break,
            Some(c) if c > 0 && found.len() as i64 >= c => break,
            _ => {}
        }
    }
    Ok(match count {
        Some(_) => Reply::Array(found),
        None => found.pop().unwrap_or(Reply::Nil),
    })
}

/// Moves one element from `src` (at `from`) to `dst` (at `to`), Redis's
/// `lmoveGenericCommand` after its argument checks: nil if `src` is missing, WRONGTYPE if
/// either key holds another type (checked before anything moves).
fn lmove_generic(db: &mut DbMut, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let fill = db.op().limits().list_fill;
    if db.list_mut_quiet(src)?.is_none() {
        return Ok(Reply::Nil);
    }
    if src == dst {
        let Some(list) = db.list_mut(src)? else {
            return Ok(Reply::Nil);
        };
        let Some(v) = list.pop(from) else {
            return Ok(Reply::Nil);
        };
        list.push(to, &v, fill);
        // Redis's order: the push, then the pop.
        db.notify(LIST, push_event(to), src);
        db.notify(LIST, pop_event(from), src);
        return Ok(Reply::Bulk(v));
    }
    db.list_mut(dst)?;
    let Some(v) = db.list_mut(src)?.and_then(|l| l.pop(from)) else {
        return Ok(Reply::Nil);
    };
    push_values(db, dst, std::slice::from_ref(&v), to, false)?;
    db.notify(LIST, pop_event(from), src);
    db.remove_if_empty(src);
    Ok(Reply::Bulk(v))
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
pub fn lmove(db: &mut DbMut, args: &Args) -> CmdResult {
    let (from, to) = (end_arg(args, 3)?, end_arg(args, 4)?);
    lmove_generic(db, args.get(1), args.get(2), from, to)
}

/// RPOPLPUSH source destination
pub fn rpoplpush(db: &mut DbMut, args: &Args) -> CmdResult {
    lmove_generic(db, args.get(1), args.get(2), End::Right, End::Left)
}

/// The parsed `numkeys key... LEFT|RIGHT [COUNT count]` of LMPOP (at `at`) and BLMPOP.
struct MPop<'a> {
    keys: &'a [Vec<u8>],
    end: End,
    count: usize,
}

fn mpop_args<'a>(args: &Args<'a>, at: usize) -> Result<MPop<'a>, CmdError> {
    let (keys, end, count) = super::args::mpop_args(args, at, end_arg)?;
    Ok(MPop { keys, end, count })
}

/// Pops from the first non-empty list among `keys`: `[key, [elements]]`, or `None` if all
/// are empty; WRONGTYPE if one before it holds another type.
fn mpop_first(
    db: &mut DbMut,
    keys: &[Vec<u8>],
    end: End,
    count: usize,
) -> Result<Option<Reply>, CmdError> {
    for key in keys {
        if db.list_mut(key)?.is_some() {
            let popped = pop_n(db, key, end, count);
            return Ok(Some(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::bulks(popped),
            ])));
        }
    }
    Ok(None)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn lmpop(db: &mut DbMut, args: &Args) -> CmdResult {
    let m = mpop_args(args, 1)?;
    Ok(mpop_first(db, m.keys, m.end, m.count)?.unwrap_or(Reply::NilArray))
}

// ---- blocking pops

/// What a client blocked in BLPOP, BRPOP or BLMPOP waits to do.
struct PopRequest {
    end: End,
    /// BLMPOP's count (its reply is `[key, [elements]]`); `None` for BLPOP/BRPOP.
    count: Option<usize>,
    proto: u8,
}

impl Request for PopRequest {
    fn serve(&self, db: &mut DbMut, key: &[u8]) -> Option<Vec<u8>> {
        if !matches!(db.list_mut(key), Ok(Some(_))) {
            return None;
        }
        let reply = match self.count {
            Some(n) => {
                let popped = pop_n(db, key, self.end, n);
                record_pop(db, key, self.end, popped.len(), true);
                Reply::Array(vec![Reply::bulk(key), Reply::bulks(popped)])
            }
            None => {
                let v = pop_n(db, key, self.end, 1).pop()?;
                record_pop(db, key, self.end, 1, false);
                Reply::Array(vec![Reply::bulk(key), Reply::Bulk(v)])
            }
        };
        let mut out = Vec::new();
        encode(&reply, self.proto, &mut out);
        Some(out)
    }
}

/// What a client blocked in BLMOVE or BRPOPLPUSH waits to do.
struct MoveRequest {
    dst: Vec<u8>,
    from: End,
    to: End,
    proto: u8,
}

impl Request for MoveRequest {
    fn serve(&self, db: &mut DbMut, key: &[u8]) -> Option<Vec<u8>> {
        if !matches!(db.list_mut(key), Ok(Some(_))) {
            return None;
        }
        // A destination of another type ends the wait with WRONGTYPE; the element stays.
        let reply = match lmove_generic(db, key, &self.dst, self.from, self.to) {
            Ok(r) => {
                record_move(db, key, &self.dst, self.from, self.to);
                r
            }
            Err(e) => Reply::from(e),
        };
        let mut out = Vec::new();
        encode(&reply, self.proto, &mut out);
        Some(out)
    }
}

fn boxed_keys(keys: &[Vec<u8>]) -> Vec<Box<[u8]>> {
    keys.iter().map(|k| k.clone().into_boxed_slice()).collect()
}

/// What a blocking pop records for the append-only file: the plain pop it amounted to.
fn record_pop(db: &DbMut, key: &[u8], end: End, popped: usize, counted: bool) {
    let cmd: &[u8] = if matches!(end, End::Left) {
        b"LPOP"
    } else {
        b"RPOP"
    };
    if counted {
        db.propagate(&[cmd, key, popped.to_string().as_bytes()]);
    } else {
        db.propagate(&[cmd, key]);
    }
}

/// What a blocking move records: the LMOVE it amounted to.
fn record_move(db: &DbMut, src: &[u8], dst: &[u8], from: End, to: End) {
    let side = |e: End| -> &'static [u8] {
        if matches!(e, End::Left) {
            b"LEFT"
        } else {
            b"RIGHT"
        }
    };
    db.propagate(&[b"LMOVE", src, dst, side(from), side(to)]);
}

/// The body of BLPOP, BRPOP and BLMPOP: pop at once if a list has elements, else wait.
fn blocking_pop(
    db: &mut DbMut,
    keys: &[Vec<u8>],
    end: End,
    count: Option<usize>,
    timeout_ms: i64,
    proto: u8,
) -> Result<Step, CmdError> {
    for key in keys {
        if db.list_mut(key)?.is_some() {
            let popped = pop_n(db, key, end, count.unwrap_or(1));
            record_pop(db, key, end, popped.len(), count.is_some());
            let reply = match count {
                Some(_) => Reply::Array(vec![Reply::Bulk(key.clone()), Reply::bulks(popped)]),
                None => {
                    let v = popped.into_iter().next().unwrap_or_default();
                    Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(v)])
                }
            };
            return Ok(Step::Reply(reply));
        }
    }
    Ok(Step::Wait(Wait {
        keys: boxed_keys(keys),
        request: Box::new(PopRequest { end, count, proto }),
        timeout_ms,
        on_timeout: Reply::NilArray,
        in_multi: None,
    }))
}

/// BLPOP key [key ...] timeout
pub fn blpop(db: &mut DbMut, args: &Args, proto: u8) -> Result<Step, CmdError> {
    let timeout = args.timeout_ms(args.len() - 1)?;
    let keys = &args.all()[1..args.len() - 1];
    blocking_pop(db, keys, End::Left, None, timeout, proto)
}

/// BRPOP key [key ...] timeout
pub fn brpop(db: &mut DbMut, args: &Args, proto: u8) -> Result<Step, CmdError> {
    let timeout = args.timeout_ms(args.len() - 1)?;
    let keys = &args.all()[1..args.len() - 1];
    blocking_pop(db, keys, End::Right, None, timeout, proto)
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn blmpop(db: &mut DbMut, args: &Args, proto: u8) -> Result<Step, CmdError> {
    let m = mpop_args(args, 2)?;
    let timeout = args.timeout_ms(1)?;
    blocking_pop(db, m.keys, m.end, Some(m.count), timeout, proto)
}

/// The body of BLMOVE and BRPOPLPUSH.
fn blocking_move(
    db: &mut DbMut,
    args: &Args,
    from: End,
    to: End,
    timeout_ms: i64,
    proto: u8,
) -> Result<Step, CmdError> {
    let (src, dst) = (args.get(1), args.get(2));
    if db.list_mut(src)?.is_some() {
        let r = lmove_generic(db, src, dst, from, to)?;
        record_move(db, src, dst, from, to);
        return Ok(Step::Reply(r));
    }
    Ok(Step::Wait(Wait {
        keys: vec![Box::from(src)],
        request: Box::new(MoveRequest {
            dst: dst.to_vec(),
            from,
            to,
            proto,
        }),
        timeout_ms,
        // Redis answers every list wait's timeout with a null array, BLMOVE's too.
        on_timeout: Reply::NilArray,
        in_multi: Some(Reply::Nil),
    }))
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
pub fn blmove(db: &mut DbMut, args: &Args, proto: u8) -> Result<Step, CmdError> {
    let (from, to) = (end_arg(args, 3)?, end_arg(args, 4)?);
    let timeout = args.timeout_ms(5)?;
    blocking_move(db, args, from, to, timeout, proto)
}

/// BRPOPLPUSH source destination timeout
pub fn brpoplpush(db: &mut DbMut, args: &Args, proto: u8) -> Result<Step, CmdError> {
    let timeout = args.timeout_ms(3)?;
    blocking_move(db, args, End::Right, End::Left, timeout, proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_like_redis() {
        assert_eq!(clamp_range(0, -1, 5), Some((0, 4)));
        assert_eq!(clamp_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(clamp_range(3, 1, 5), None);
        assert_eq!(clamp_range(5, 10, 5), None);
        assert_eq!(clamp_range(-2, -1, 5), Some((3, 4)));
        assert_eq!(clamp_range(0, -6, 5), None);
        assert_eq!(index(-1, 3), Some(2));
        assert_eq!(index(3, 3), None);
        assert_eq!(index(-4, 3), None);
        assert_eq!(index(i64::MIN, 3), None);
    }
}
