//! SORT and SORT_RO (Redis's `sort.c`): sort a list, set or sorted set numerically or
//! alphabetically, by itself or by weights found through a key pattern, and fetch values
//! through patterns.

use std::cmp::Ordering;

use super::args::{err, strtod, Args, CmdError, CmdResult, SYNTAX, WRONG_TYPE};
use crate::protocol::Reply;
use crate::store::notify::{GENERIC, LIST};
use crate::store::{Db, DbMut, DbRef, Keyspace, List, Value};

/// What SORT was asked to do.
struct SortReq<'a> {
    desc: bool,
    alpha: bool,
    /// LIMIT offset count (count -1: all).
    limit: (i64, i64),
    store: Option<&'a [u8]>,
    by: Option<&'a [u8]>,
    /// BY a pattern without `*`: no sorting at all.
    dontsort: bool,
    gets: Vec<&'a [u8]>,
}

fn parse<'a>(args: &Args<'a>, readonly: bool) -> Result<SortReq<'a>, CmdError> {
    let mut r = SortReq {
        desc: false,
        alpha: false,
        limit: (0, -1),
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        if args.is(j, "ASC") {
            r.desc = false;
        } else if args.is(j, "DESC") {
            r.desc = true;
        } else if args.is(j, "ALPHA") {
            r.alpha = true;
        } else if args.is(j, "LIMIT") && left >= 2 {
            r.limit = (args.int(j + 1)?, args.int(j + 2)?);
            j += 2;
        } else if !readonly && args.is(j, "STORE") && left >= 1 {
            r.store = Some(args.get(j + 1));
            j += 1;
        } else if args.is(j, "BY") && left >= 1 {
            let by = args.get(j + 1);
            r.dontsort = !by.contains(&b'*');
            r.by = Some(by);
            j += 1;
        } else if args.is(j, "GET") && left >= 1 {
            r.gets.push(args.get(j + 1));
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    Ok(r)
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*` is replaced
/// by the element and the key read as a string, or, with `->field` after the `*`, as a hash
/// field. Anything missing or of another type is `None`.
fn lookup_pattern<K: std::ops::Deref<Target = Keyspace>>(
    db: &Db<K>,
    pattern: &[u8],
    elem: &[u8],
) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let field = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&f| f + 2 < after.len())
        .map(|f| (f, &after[f + 2..]));
    let postfix = match field {
        Some((f, _)) => &after[..f],
        None => after,
    };
    let mut key = Vec::with_capacity(star + elem.len() + postfix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(postfix);
    match (db.get(&key)?, field) {
        (Value::Hash(h, _), Some((_, name))) => h.get(name).map(<[u8]>::to_vec),
        (Value::Str(s, _), None) => Some(s.clone()),
        _ => None,
    }
}

struct Item {
    obj: Vec<u8>,
    score: f64,
    /// The BY value for ALPHA with a pattern (`None`: missing, which sorts first).
    cmp: Option<Vec<u8>>,
}

/// What SORT produced: the reply, or the list to store.
enum Outcome {
    Reply(Reply),
    Store(Vec<Vec<u8>>),
}

fn sort_generic<K: std::ops::Deref<Target = Keyspace>>(
    db: &Db<K>,
    r: &SortReq,
    key: &[u8],
) -> Result<Outcome, CmdError> {
    let value = db.get(key);
    if value.is_some_and(|v| !matches!(v, Value::List(..) | Value::Set(..) | Value::ZSet(..))) {
        return Err(WRONG_TYPE);
    }
    let (mut dontsort, mut alpha, mut by) = (r.dontsort, r.alpha, r.by);
    if dontsort
        && matches!(value, Some(Value::Set(..)))
        && (r.store.is_some() || crate::scripting::in_script())
    {
        // A stored set's order, or one a script sees, must not depend on how the set is
        // kept: sort it.
        dontsort = false;
        alpha = true;
        by = None;
    }
    let len = match value {
        Some(Value::List(l, _)) => l.len(),
        Some(Value::Set(s, _)) => s.len(),
        Some(Value::ZSet(z, _)) => z.len(),
        _ => 0,
    } as i64;
    // Redis's LIMIT sanity rules, in its own arithmetic.
    let mut start = r.limit.0.max(0).min(len);
    let count = r.limit.1.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    let ordered = matches!(value, Some(Value::List(..) | Value::ZSet(..)));
    let mut vector: Vec<Item> = Vec::new();
    let item = |obj: Vec<u8>| Item {
        obj,
        score: 0.0,
        cmp: None,
    };
    if ordered && dontsort {
        // Only the range asked for, in the container's own order (reversed for DESC).
        if end >= start {
            let n = (end - start + 1) as usize;
            let s = start as usize;
            match value {
                Some(Value::List(l, _)) => {
                    vector = list_range(l, s, n, r.desc).into_iter().map(item).collect();
                }
                Some(Value::ZSet(z, _)) => {
                    let from = if r.desc { z.len() - 1 - s } else { s };
                    vector = z
                        .range(from, r.desc)
                        .take(n)
                        .map(|(m, _)| item(m.to_vec()))
                        .collect();
                }
                _ => {}
            }
            end -= start;
            start = 0;
        }
    } else {
        match value {
            Some(Value::List(l, _)) => vector = l.iter().map(|e| item(e.to_vec())).collect(),
            Some(Value::Set(s, _)) => vector = s.iter().map(|m| item(m.into_owned())).collect(),
            Some(Value::ZSet(z, _)) => vector = z.iter().map(|(m, _)| item(m.to_vec())).collect(),
            _ => {}
        }
    }
    if !dontsort {
        let mut bad = false;
        for it in &mut vector {
            let byval = match by {
                Some(p) => match lookup_pattern(db, p, &it.obj) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.obj.clone(),
            };
            if alpha {
                if by.is_some() {
                    it.cmp = Some(byval);
                }
            } else {
                let c_len = byval.iter().position(|&b| b == 0).unwrap_or(byval.len());
                let (v, used, erange) = strtod(&byval);
                it.score = v;
                if used != c_len || erange || v.is_nan() {
                    bad = true;
                }
            }
        }
        let cmp = |a: &Item, b: &Item| -> Ordering {
            let c = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.obj.cmp(&b.obj))
            } else if by.is_some() {
                match (&a.cmp, &b.cmp) {
                    (Some(x), Some(y)) => x.cmp(y),
                    (None, None) => Ordering::Equal,
                    (None, _) => Ordering::Less,
                    (_, None) => Ordering::Greater,
                }
            } else {
                a.obj.cmp(&b.obj)
            };
            if r.desc {
                c.reverse()
            } else {
                c
            }
        };
        vector.sort_by(cmp);
        if bad {
            return Err(err("ERR One or more scores can't be converted into double"));
        }
    }
    let picked = if end >= start {
        &vector[start as usize..=end as usize]
    } else {
        &vector[..0]
    };
    let store = r.store.is_some();
    if !store {
        let mut out = Vec::new();
        for it in picked {
            if r.gets.is_empty() {
                out.push(Reply::bulk(it.obj.clone()));
            }
            for g in &r.gets {
                out.push(lookup_pattern(db, g, &it.obj).map_or(Reply::Nil, Reply::Bulk));
            }
        }
        return Ok(Outcome::Reply(Reply::Array(out)));
    }
    let mut out = Vec::new();
    for it in picked {
        if r.gets.is_empty() {
            out.push(it.obj.clone());
        }
        for g in &r.gets {
            out.push(lookup_pattern(db, g, &it.obj).unwrap_or_default());
        }
    }
    Ok(Outcome::Store(out))
}

/// `n` elements of a list from index `start` (from the tail when `desc`).
fn list_range(l: &List, start: usize, n: usize, desc: bool) -> Vec<Vec<u8>> {
    if desc {
        l.iter()
            .rev()
            .skip(start)
            .take(n)
            .map(<[u8]>::to_vec)
            .collect()
    } else {
        l.iter().skip(start).take(n).map(<[u8]>::to_vec).collect()
    }
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
/// [STORE destination]
pub fn sort(db: &mut DbMut, args: &Args) -> CmdResult {
    let r = parse(args, false)?;
    match sort_generic(db, &r, args.get(1))? {
        Outcome::Reply(reply) => Ok(reply),
        Outcome::Store(items) => {
            let dst = r.store.unwrap_or_default();
            let n = items.len();
            if n == 0 {
                if db.delete(dst, false) {
                    db.notify(GENERIC, "del", dst);
                }
            } else {
                let mut list = List::new();
                let fill = db.op().limits().list_fill;
                for it in &items {
                    list.push(crate::store::list::End::Right, it, fill);
                }
                db.set(dst, Value::list(list), false);
                db.notify(LIST, "sortstore", dst);
            }
            Ok(Reply::Int(n as i64))
        }
    }
}

/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
pub fn sort_ro(db: &DbRef, args: &Args) -> CmdResult {
    let r = parse(args, true)?;
    match sort_generic(db, &r, args.get(1))? {
        Outcome::Reply(reply) => Ok(reply),
        Outcome::Store(_) => Err(SYNTAX),
    }
}
