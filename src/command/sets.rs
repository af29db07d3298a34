//! Set commands (Redis's `t_set.c`).

use std::borrow::Cow;

use super::access::scan_chunk;
use super::args::{err, Args, CmdError, CmdResult, SYNTAX};
use super::keys::{parse_cursor, scan_options, scan_reply, scan_steps};
use super::random::{count_arg, sample};
use super::Ctx;
use crate::protocol::{Bulks, Reply, Shape};
use crate::store::notify::{GENERIC, SET};
use crate::store::{rand_u64, Db, DbMut, DbRef, Keyspace, Set, SetLimits, Value};

/// The set at `key` for writing, created empty if missing; WRONGTYPE if another type.
/// Through the quiet door: the caller touches the key if it adds anything.
fn set_for_write<'a>(db: &'a mut DbMut, key: &[u8]) -> Result<&'a mut Set, CmdError> {
    if db.set_mut_quiet(key)?.is_none() {
        db.set(key, Value::set(Set::new()), false);
    }
    db.set_mut_quiet(key)?
        .ok_or_else(|| CmdError::msg("ERR internal error: set vanished"))
}

fn limits<K: std::ops::Deref<Target = Keyspace>>(db: &Db<K>) -> SetLimits {
    db.op().limits().set
}

/// A set's members as the reply of a set-valued command (a set in RESP3).
fn members_reply<'a>(members: impl Iterator<Item = Cow<'a, [u8]>>) -> Reply {
    Reply::Set(members.map(|m| Reply::bulk(m.into_owned())).collect())
}

/// SADD key member [member ...]
pub fn sadd(db: &mut DbMut, args: &Args) -> CmdResult {
    let limits = limits(db);
    let key = args.get(1);
    let set = set_for_write(db, key)?;
    let added = args
        .from(2)
        .iter()
        .filter(|m| set.insert(m, limits))
        .count();
    if added > 0 {
        db.touch(key);
        db.notify(SET, "sadd", key);
    }
    Ok(Reply::Int(added as i64))
}

/// SREM key member [member ...]
pub fn srem(db: &mut DbMut, args: &Args) -> CmdResult {
    let key = args.get(1);
    let Some(set) = db.set_mut_quiet(key)? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for m in args.from(2) {
        if set.remove(m) {
            removed += 1;
            if set.is_empty() {
                break;
            }
        }
    }
    if removed > 0 {
        db.touch(key);
        db.notify(SET, "srem", key);
    }
    db.remove_if_empty(key);
    Ok(Reply::Int(removed))
}

/// SMEMBERS key: a big set is read in chunks, as one instant's value (see
/// [`Ctx::read_chunked`]).
pub fn smembers(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let key = args.get(1);
    let (_, members) = ctx.read_chunked(
        key,
        || (0u64, Bulks::new(Shape::Set)),
        |db, (cursor, members), counted| {
            let Some(set) = db.get_as(key, counted, Value::as_set)? else {
                return Ok::<_, CmdError>(true);
            };
            Ok(scan_chunk(cursor, |at| {
                let before = members.len();
                let next = set.scan(at, |m| members.push(m));
                (next, members.len() - before)
            }))
        },
        |(_, members)| members.make_room(),
    )?;
    Ok(Reply::Bulks(members))
}

/// SISMEMBER key member
pub fn sismember(db: &DbRef, args: &Args) -> CmdResult {
    let set = db.get_set(args.get(1))?;
    Ok(Reply::Int(i64::from(
        set.is_some_and(|s| s.contains(args.get(2))),
    )))
}

/// SMISMEMBER key member [member ...]
pub fn smismember(db: &DbRef, args: &Args) -> CmdResult {
    let set = db.get_set(args.get(1))?;
    Ok(Reply::Array(
        args.from(2)
            .iter()
            .map(|m| Reply::Int(i64::from(set.is_some_and(|s| s.contains(m)))))
            .collect(),
    ))
}

/// SCARD key
pub fn scard(db: &DbRef, args: &Args) -> CmdResult {
    Ok(Reply::Int(
        db.get_set(args.get(1))?.map_or(0, |s| s.len() as i64),
    ))
}

/// SMOVE source destination member
pub fn smove(db: &mut DbMut, args: &Args) -> CmdResult {
    let (src, dst, member) = (args.get(1), args.get(2), args.get(3));
    // A missing source answers 0 before any type check (Redis's order).
    let Some(from) = db.set_mut_quiet(src)? else {
        return Ok(Reply::Int(0));
    };
    let in_src = from.contains(member);
    db.set_mut_quiet(dst)?;
    if src == dst {
        return Ok(Reply::Int(i64::from(in_src)));
    }
    if !in_src {
        return Ok(Reply::Int(0));
    }
    if let Some(from) = db.set_mut(src)? {
        from.remove(member);
    }
    db.notify(SET, "srem", src);
    db.remove_if_empty(src);
    let limits = limits(db);
    // The destination changes only if the member was not there already.
    if set_for_write(db, dst)?.insert(member, limits) {
        db.touch(dst);
        db.notify(SET, "sadd", dst);
    }
    Ok(Reply::Int(1))
}

/// SPOP key [count]
pub fn spop(db: &mut DbMut, args: &Args) -> CmdResult {
    let key = args.get(1);
    match args.len() {
        2 => {
            let Some(set) = db.set_mut(key)? else {
                return Ok(Reply::Nil);
            };
            let popped = set.pop_random(rand_u64);
            db.notify(SET, "spop", key);
            db.remove_if_empty(key);
            Ok(popped.map_or(Reply::Nil, Reply::Bulk))
        }
        3 => {
            let count = args.positive(2)? as u64;
            let Some(set) = db.set_mut_quiet(key)? else {
                return Ok(Reply::Set(vec![]));
            };
            if count == 0 {
                return Ok(Reply::Set(vec![]));
            }
            if count >= set.len() as u64 {
                // The whole set, in its own order, and the key is gone.
                let reply = members_reply(set.iter());
                db.remove(key);
                db.notify(SET, "spop", key);
                db.notify(GENERIC, "del", key);
                return Ok(reply);
            }
            let popped: Vec<Reply> = (0..count)
                .filter_map(|_| set.pop_random(rand_u64).map(Reply::Bulk))
                .collect();
            db.touch(key);
            db.notify(SET, "spop", key);
            db.remove_if_empty(key);
            Ok(Reply::Set(popped))
        }
        _ => Err(SYNTAX),
    }
}

/// SRANDMEMBER key [count]
pub fn srandmember(db: &DbRef, args: &Args) -> CmdResult {
    match args.len() {
        2 => Ok(db
            .get_set(args.get(1))?
            .and_then(|s| s.random(rand_u64))
            .map_or(Reply::Nil, Reply::Bulk)),
        3 => {
            let count = count_arg(args, 2)?;
            let Some(set) = db.get_set(args.get(1))? else {
                return Ok(Reply::Array(vec![]));
            };
            Ok(sample(
                set.len(),
                count,
                || (set.random(rand_u64).unwrap_or_default(), None),
                || set.iter().map(|m| (m.into_owned(), None)).collect(),
                |_: &()| Reply::Nil,
            ))
        }
        _ => Err(SYNTAX),
    }
}

/// The sets named by `keys` (a missing key is `None`, an empty set); WRONGTYPE if any key
/// holds another type, checked for every key before anything is computed.
fn sets_of<'a, K: std::ops::Deref<Target = Keyspace>>(
    db: &'a Db<K>,
    keys: &[Vec<u8>],
) -> Result<Vec<Option<&'a Set>>, CmdError> {
    keys.iter()
        .map(|k| db.get_set(k).map_err(CmdError::from))
        .collect()
}

/// The intersection of `sets`, walking the smallest and probing the others (Redis's order:
/// smallest first). Stops after `limit` members when it is not 0.
fn inter(sets: &[Option<&Set>], limit: usize) -> Vec<Vec<u8>> {
    if sets.iter().any(Option::is_none) {
        return Vec::new();
    }
    let mut sets: Vec<&Set> = sets.iter().flatten().copied().collect();
    sets.sort_by_key(|s| s.len());
    let Some((first, rest)) = sets.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in first.iter() {
        if rest
            .iter()
            .all(|s| std::ptr::eq(*s, *first) || s.contains(&m))
        {
            out.push(m.into_owned());
            if limit != 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Diff,
}

/// The union or difference of `sets`, as a set (built the way Redis builds its temporary
/// set, so that an all-integer result is an intset and comes out in order).
fn union_diff(sets: &[Option<&Set>], op: Op, limits: SetLimits) -> Set {
    let mut out = Set::new();
    match op {
        Op::Union => {
            for s in sets.iter().flatten() {
                for m in s.iter() {
                    out.insert(&m, limits);
                }
            }
        }
        Op::Diff => {
            let Some(Some(first)) = sets.first() else {
                return out;
            };
            for m in first.iter() {
                let elsewhere = sets[1..]
                    .iter()
                    .flatten()
                    .any(|s| std::ptr::eq(*s, *first) || s.contains(&m));
                if !elsewhere {
                    out.insert(&m, limits);
                }
            }
        }
    }
    out
}

/// Stores `set` at `dst` (replacing whatever is there) and answers its size; an empty result
/// deletes `dst` instead.
fn store(db: &mut DbMut, dst: &[u8], set: Set, event: &str) -> Reply {
    let n = set.len();
    if n == 0 {
        if db.delete(dst, false) {
            db.notify(GENERIC, "del", dst);
        }
    } else {
        db.set(dst, Value::set(set), false);
        db.notify(SET, event, dst);
    }
    Reply::Int(n as i64)
}

fn set_of(members: Vec<Vec<u8>>, limits: SetLimits) -> Set {
    let mut set = Set::new();
    for m in &members {
        set.insert(m, limits);
    }
    set
}

/// SINTER key [key ...]
pub fn sinter(db: &DbRef, args: &Args) -> CmdResult {
    let sets = sets_of(db, args.from(1))?;
    Ok(members_reply(inter(&sets, 0).into_iter().map(Cow::from)))
}

/// SINTERSTORE destination key [key ...]
pub fn sinterstore(db: &mut DbMut, args: &Args) -> CmdResult {
    const EVENT: &str = "sinterstore";
    let limits = limits(db);
    let result = set_of(inter(&sets_of(db, args.from(2))?, 0), limits);
    Ok(store(db, args.get(1), result, EVENT))
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(db: &DbRef, args: &Args) -> CmdResult {
    let numkeys = args.range(1, 1, i64::MAX, "ERR numkeys should be greater than 0")? as usize;
    if numkeys > args.len() - 2 {
        return Err(err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0;
    let mut j = 2 + numkeys;
    while j < args.len() {
        if args.is(j, "LIMIT") && j + 1 < args.len() {
            j += 1;
            limit = args.range(j, 0, i64::MAX, "ERR LIMIT can't be negative")? as usize;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let sets = sets_of(db, &args.all()[2..2 + numkeys])?;
    Ok(Reply::Int(inter(&sets, limit).len() as i64))
}

/// SUNION key [key ...]
pub fn sunion(db: &DbRef, args: &Args) -> CmdResult {
    let sets = sets_of(db, args.from(1))?;
    Ok(members_reply(
        union_diff(&sets, Op::Union, limits(db)).iter(),
    ))
}

/// SUNIONSTORE destination key [key ...]
pub fn sunionstore(db: &mut DbMut, args: &Args) -> CmdResult {
    const EVENT: &str = "sunionstore";
    let result = union_diff(&sets_of(db, args.from(2))?, Op::Union, limits(db));
    Ok(store(db, args.get(1), result, EVENT))
}

/// SDIFF key [key ...]
pub fn sdiff(db: &DbRef, args: &Args) -> CmdResult {
    let sets = sets_of(db, args.from(1))?;
    Ok(members_reply(
        union_diff(&sets, Op::Diff, limits(db)).iter(),
    ))
}

/// SDIFFSTORE destination key [key ...]
pub fn sdiffstore(db: &mut DbMut, args: &Args) -> CmdResult {
    const EVENT: &str = "sdiffstore";
    let result = union_diff(&sets_of(db, args.from(2))?, Op::Diff, limits(db));
    Ok(store(db, args.get(1), result, EVENT))
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
pub fn sscan(db: &DbRef, args: &Args) -> CmdResult {
    let cursor = parse_cursor(args.get(2))?;
    let Some(set) = db.get_set(args.get(1))? else {
        return Ok(scan_reply(0, vec![]));
    };
    let o = scan_options(args, 3, false)?;
    let mut found = Vec::new();
    let visit = |found: &mut Vec<Reply>, m: &[u8]| {
        if o.matches(m) {
            found.push(Reply::bulk(m));
        }
    };
    let cursor = if set.is_table() {
        scan_steps(cursor, o.count, &mut found, |c, found| {
            set.scan(c, |m| visit(found, m))
        })
    } else {
        set.scan(0, |m| visit(&mut found, m))
    };
    Ok(scan_reply(cursor, found))
}
