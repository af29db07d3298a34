//! String commands (Redis's `t_string.c`).

use super::args::{Args, CmdError, CmdResult};
use crate::protocol::Reply;
use crate::store::{now_ms, Db, Value, WrongType};

/// The string at `key`, `None` if missing, WRONGTYPE if another type.
pub fn get_str<'a>(db: &'a Db, key: &[u8]) -> Result<Option<&'a [u8]>, WrongType> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
    }
}

fn bulk_or_nil(v: Option<&[u8]>) -> Reply {
    v.map_or(Reply::Nil, |s| Reply::Bulk(s.to_vec()))
}

/// How a SET/GETEX expiry option was spelled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
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
        let unit = |o: &SetOptions, u: Unit| {
            !o.keep_ttl && !o.persist && o.expire.is_none_or(|(cur, _)| cur == u) && has_next
        };
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
        } else if let Some(u) = [
            ("EX", Unit::Ex),
            ("PX", Unit::Px),
            ("EXAT", Unit::ExAt),
            ("PXAT", Unit::PxAt),
        ]
        .iter()
        .find(|(name, u)| args.is(j, name) && unit(&o, *u))
        .map(|(_, u)| *u)
        {
            o.expire = Some((u, args.get(j + 1)));
            j += 1;
        } else {
            return Err(super::args::SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

/// Turns an expiry option into absolute Unix ms, with Redis's checks and error text.
fn expire_at(cmd: &str, unit: Unit, raw: &[u8]) -> Result<i64, CmdError> {
    let n = crate::protocol::parse_i64(raw).ok_or(super::args::NOT_INTEGER)?;
    let invalid = || CmdError::msg(format!("ERR invalid expire time in '{cmd}' command"));
    let seconds = matches!(unit, Unit::Ex | Unit::ExAt);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut ms = if seconds { n * 1000 } else { n };
    if matches!(unit, Unit::Ex | Unit::Px) {
        ms = ms.checked_add(now_ms()).ok_or_else(invalid)?;
    }
    Ok(ms)
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL]
pub fn set(db: &mut Db, args: &Args) -> CmdResult {
    let o = parse_options(args, 3, true)?;
    let key = args.get(1);
    let expire = match o.expire {
        Some((unit, raw)) => Some(expire_at("set", unit, raw)?),
        None => None,
    };
    let old = if o.get {
        Some(bulk_or_nil(get_str(db, key)?))
    } else {
        None
    };
    let found = db.contains(key);
    if (o.nx && found) || (o.xx && !found) {
        return Ok(old.unwrap_or(Reply::Nil));
    }
    db.set(key, Value::Str(args.get(2).to_vec()), o.keep_ttl);
    if let Some(at) = expire {
        db.set_expire(key, at);
    }
    Ok(old.unwrap_or(Reply::ok()))
}

/// GET key
pub fn get(db: &Db, args: &Args) -> CmdResult {
    Ok(bulk_or_nil(get_str(db, args.get(1))?))
}
