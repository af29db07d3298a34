//! Hash commands (Redis's `t_hash.c`).

use super::access::scan_chunk;
use super::args::{err, Args, CmdError, CmdResult, OVERFLOW, SYNTAX};
use super::keys::{parse_cursor, scan_options, scan_reply, scan_steps};
use super::Ctx;
use crate::protocol::{parse_i64, Bulks, Reply, Shape};
use crate::store::notify::HASH;
use crate::store::{rand_u64, DbMut, DbRef, Hash, Value};

/// The hash at `key` for writing, created empty if missing (Redis's
/// `hashTypeLookupWriteOrCreate`); WRONGTYPE if another type. A hash created here and left
/// empty by an error is removed by the caller's `remove_if_empty`.
fn hash_for_write<'a>(db: &'a mut DbMut, key: &[u8]) -> Result<&'a mut Hash, CmdError> {
    if db.hash_mut_quiet(key)?.is_none() {
        db.set(key, Value::hash(Hash::new()), false);
    }
    db.hash_mut_quiet(key)?
        .ok_or_else(|| CmdError::msg("ERR internal error: hash vanished"))
}

/// HSET key field value [field value ...]: the number of fields added. Also HMSET (+OK).
pub fn hset(db: &mut DbMut, args: &Args) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(super::arity_error(
            args.get(0),
            &args.text(0).to_ascii_lowercase(),
        ));
    }
    let limits = db.op().limits().hash;
    let key = args.get(1);
    let hash = hash_for_write(db, key)?;
    let added = args
        .from(2)
        .chunks(2)
        .filter(|p| hash.set(&p[0], &p[1], limits))
        .count();
    db.touch(key);
    db.notify(HASH, "hset", key);
    Ok(if args.is(0, "HMSET") {
        Reply::ok()
    } else {
        Reply::Int(added as i64)
    })
}

/// HSETNX key field value
pub fn hsetnx(db: &mut DbMut, args: &Args) -> CmdResult {
    let limits = db.op().limits().hash;
    let key = args.get(1);
    if db.hash_mut_quiet(key)?.is_none() {
        db.set(key, Value::hash(Hash::new()), false);
    }
    let Some(hash) = db.hash_mut_quiet(key)? else {
        return Err(CmdError::msg("ERR internal error: hash vanished"));
    };
    if hash.contains(args.get(2)) {
        return Ok(Reply::Int(0));
    }
    hash.set(args.get(2), args.get(3), limits);
    db.touch(key);
    db.notify(HASH, "hset", key);
    Ok(Reply::Int(1))
}

/// HGET key field
pub fn hget(db: &DbRef, args: &Args) -> CmdResult {
    Ok(db
        .get_hash(args.get(1))?
        .and_then(|h| h.get(args.get(2)))
        .map_or(Reply::Nil, Reply::bulk))
}

/// HMGET key field [field ...]
pub fn hmget(db: &DbRef, args: &Args) -> CmdResult {
    let hash = db.get_hash(args.get(1))?;
    Ok(Reply::Array(
        args.from(2)
            .iter()
            .map(|f| hash.and_then(|h| h.get(f)).map_or(Reply::Nil, Reply::bulk))
            .collect(),
    ))
}

/// HDEL key field [field ...]
pub fn hdel(db: &mut DbMut, args: &Args) -> CmdResult {
    let key = args.get(1);
    let Some(hash) = db.hash_mut_quiet(key)? else {
        return Ok(Reply::Int(0));
    };
    let mut deleted = 0;
    for f in args.from(2) {
        if hash.remove(f) {
            deleted += 1;
            if hash.is_empty() {
                break;
            }
        }
    }
    if deleted > 0 {
        db.touch(key);
        db.notify(HASH, "hdel", key);
    }
    db.remove_if_empty(key);
    Ok(Reply::Int(deleted))
}

/// HLEN key
pub fn hlen(db: &DbRef, args: &Args) -> CmdResult {
    Ok(Reply::Int(
        db.get_hash(args.get(1))?.map_or(0, |h| h.len() as i64),
    ))
}

/// HSTRLEN key field
pub fn hstrlen(db: &DbRef, args: &Args) -> CmdResult {
    Ok(Reply::Int(
        db.get_hash(args.get(1))?
            .and_then(|h| h.get(args.get(2)))
            .map_or(0, |v| v.len() as i64),
    ))
}

/// HEXISTS key field
pub fn hexists(db: &DbRef, args: &Args) -> CmdResult {
    Ok(Reply::Int(i64::from(
        db.get_hash(args.get(1))?
            .is_some_and(|h| h.contains(args.get(2))),
    )))
}

/// The fields and values of the hash at `key`, each pair given to `keep` with the reply so
/// far: a big hash is read in chunks, as one instant's value (see [`Ctx::read_chunked`]).
fn read_hash(
    ctx: &mut Ctx,
    key: &[u8],
    shape: Shape,
    keep: impl Fn(&mut Bulks, &[u8], &[u8]),
) -> CmdResult {
    let (_, items) = ctx.read_chunked(
        key,
        || (0u64, Bulks::new(shape)),
        |db, (cursor, items), counted| {
            let Some(hash) = db.get_as(key, counted, Value::as_hash)? else {
                return Ok::<_, CmdError>(true);
            };
            Ok(scan_chunk(cursor, |at| {
                let mut pairs = 0;
                let next = hash.scan(at, |f, v| {
                    keep(items, f, v);
                    pairs += 1;
                });
                (next, pairs)
            }))
        },
        |(_, items)| items.make_room(),
    )?;
    Ok(Reply::Bulks(items))
}

/// HKEYS key
pub fn hkeys(ctx: &mut Ctx, args: &Args) -> CmdResult {
    read_hash(ctx, args.get(1), Shape::Array, |out, f, _| out.push(f))
}

/// HVALS key
pub fn hvals(ctx: &mut Ctx, args: &Args) -> CmdResult {
    read_hash(ctx, args.get(1), Shape::Array, |out, _, v| out.push(v))
}

/// HGETALL key: a map in RESP3, a flat array in RESP2.
pub fn hgetall(ctx: &mut Ctx, args: &Args) -> CmdResult {
    read_hash(ctx, args.get(1), Shape::Map, |out, f, v| {
        out.push(f);
        out.push(v);
    })
}

/// HINCRBY key field increment
pub fn hincrby(db: &mut DbMut, args: &Args) -> CmdResult {
    let by = args.int(3)?;
    let limits = db.op().limits().hash;
    let (key, field) = (args.get(1), args.get(2));
    let hash = hash_for_write(db, key)?;
    let result = (|| {
        let current = match hash.get(field) {
            Some(v) => parse_i64(v).ok_or(err("ERR hash value is not an integer"))?,
            None => 0,
        };
        let next = current.checked_add(by).ok_or(OVERFLOW)?;
        hash.set(field, next.to_string().as_bytes(), limits);
        Ok(Reply::Int(next))
    })();
    if result.is_ok() {
        db.touch(key);
        db.notify(HASH, "hincrby", key);
    }
    db.remove_if_empty(key);
    result
}

/// HINCRBYFLOAT key field increment: computed in `long double` and printed like INCRBYFLOAT.
pub fn hincrbyfloat(db: &mut DbMut, args: &Args) -> CmdResult {
    let by = args.get(3);
    if !super::strings::long_double_valid(by) {
        return Err(err("ERR value is not a valid float"));
    }
    if super::args::parse_f64(by).is_some_and(f64::is_infinite) {
        return Err(err("ERR value is NaN or Infinity"));
    }
    let limits = db.op().limits().hash;
    let (key, field) = (args.get(1), args.get(2));
    let hash = hash_for_write(db, key)?;
    let result = (|| {
        let current = hash.get(field).unwrap_or(b"0");
        if !super::strings::long_double_valid(current) {
            return Err(err("ERR hash value is not a float"));
        }
        let next = super::strings::long_double_add(current, by)?;
        hash.set(field, &next, limits);
        Ok(Reply::Bulk(next))
    })();
    if result.is_ok() {
        db.touch(key);
        db.notify(HASH, "hincrbyfloat", key);
    }
    db.remove_if_empty(key);
    result
}

/// HRANDFIELD key [count [WITHVALUES]]
pub fn hrandfield(db: &DbRef, args: &Args) -> CmdResult {
    if args.len() < 3 {
        let Some(hash) = db.get_hash(args.get(1))? else {
            return Ok(Reply::Nil);
        };
        return Ok(hash
            .random(rand_u64)
            .map_or(Reply::Nil, |(f, _)| Reply::bulk(f)));
    }
    let count = super::random::count_arg(args, 2)?;
    let with_values = match args.len() {
        3 => false,
        4 if args.is(3, "WITHVALUES") => {
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
                return Err(err("ERR value is out of range"));
            }
            true
        }
        _ => return Err(SYNTAX),
    };
    let Some(hash) = db.get_hash(args.get(1))? else {
        return Ok(Reply::Array(vec![]));
    };
    let items = hash
        .iter()
        .map(|(f, v)| (f.to_vec(), with_values.then(|| v.to_vec())))
        .collect();
    Ok(super::random::random_reply(items, count, |v: &Vec<u8>| {
        Reply::bulk(v.clone())
    }))
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
pub fn hscan(db: &DbRef, args: &Args) -> CmdResult {
    let cursor = parse_cursor(args.get(2))?;
    // A missing key is an empty scan, whatever the options (Redis looks it up first).
    let Some(hash) = db.get_hash(args.get(1))? else {
        return Ok(scan_reply(0, vec![]));
    };
    let o = scan_options(args, 3, false)?;
    let mut found = Vec::new();
    let visit = |found: &mut Vec<Reply>, f: &[u8], v: &[u8]| {
        if o.matches(f) {
            found.push(Reply::bulk(f));
            found.push(Reply::bulk(v));
        }
    };
    let cursor = if hash.is_table() {
        scan_steps(cursor, o.count, &mut found, |c, found| {
            hash.scan(c, |f, v| visit(found, f, v))
        })
    } else {
        // The packed form is returned whole, with cursor 0, as Redis does.
        hash.scan(0, |f, v| visit(&mut found, f, v))
    };
    Ok(scan_reply(cursor, found))
}
