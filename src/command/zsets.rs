//! Sorted set commands (Redis's `t_zset.c`).

use std::collections::HashMap;

use super::args::{err, strtod, Args, CmdError, CmdResult, NOT_FLOAT, SYNTAX};
use super::keys::{parse_cursor, scan_options, scan_reply, scan_steps};
use super::random::{count_arg, sample};
use super::{Step, Wait};
use crate::protocol::reply::format_double;
use crate::protocol::{encode, Reply};
use crate::store::notify::{GENERIC, ZSET};
use crate::store::ready::Request;
use crate::store::zset::order;
use crate::store::{rand_u64, Db, DbMut, DbRef, Keyspace, Set, Value, ZSet, ZSetLimits};

type Entries = Vec<(Vec<u8>, f64)>;

const NAN_SCORE: CmdError = err("ERR resulting score is not a number (NaN)");
const NOT_FLOAT_RANGE: CmdError = err("ERR min or max is not a float");
const NOT_LEX_RANGE: CmdError = err("ERR min or max not valid string range item");

fn limits<K: std::ops::Deref<Target = Keyspace>>(db: &Db<K>) -> ZSetLimits {
    db.op().limits().zset
}

/// Entries as a reply: members, or (member, score) pairs (flat in RESP2, nested in RESP3).
fn entries_reply(items: Entries, withscores: bool) -> Reply {
    if withscores {
        Reply::Pairs(
            items
                .into_iter()
                .map(|(m, s)| (Reply::Bulk(m), Reply::Double(s)))
                .collect(),
        )
    } else {
        Reply::Array(items.into_iter().map(|(m, _)| Reply::Bulk(m)).collect())
    }
}

/// Stores `items` at `dst` as a new sorted set and answers its size; nothing deletes `dst`.
pub(super) fn store(db: &mut DbMut, dst: &[u8], items: Entries, event: &str) -> Reply {
    let n = items.len();
    if n == 0 {
        if db.delete(dst, false) {
            db.notify(GENERIC, "del", dst);
        }
    } else {
        let z = ZSet::from_items(items, limits(db));
        db.set(dst, Value::zset(z), false);
        db.notify(ZSET, event, dst);
    }
    Reply::Int(n as i64)
}

// ---- ZADD ZINCRBY

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]; ZINCRBY (`incr`).
fn zadd_generic(db: &mut DbMut, args: &Args, mut incr: bool) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt, mut ch) = (false, false, false, false, false);
    let mut at = 2;
    while at < args.len() {
        let flag = match args.get(at) {
            a if a.len() > 4 => break,
            a if a.eq_ignore_ascii_case(b"nx") => &mut nx,
            a if a.eq_ignore_ascii_case(b"xx") => &mut xx,
            a if a.eq_ignore_ascii_case(b"ch") => &mut ch,
            a if a.eq_ignore_ascii_case(b"incr") => &mut incr,
            a if a.eq_ignore_ascii_case(b"gt") => &mut gt,
            a if a.eq_ignore_ascii_case(b"lt") => &mut lt,
            _ => break,
        };
        *flag = true;
        at += 1;
    }
    let elements = args.len() - at;
    if elements == 0 || elements % 2 == 1 {
        return Err(SYNTAX);
    }
    if nx && xx {
        return Err(err(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if ((gt || lt) && nx) || (gt && lt) {
        return Err(err(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && elements > 2 {
        return Err(err(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    // Every score is checked before anything changes.
    let pairs: Vec<(f64, &[u8])> = args
        .from(at)
        .chunks(2)
        .map(|p| super::args::parse_f64(&p[0]).map(|s| (s, &p[1][..])))
        .collect::<Option<_>>()
        .ok_or(NOT_FLOAT)?;
    let key = args.get(1);
    let limits = limits(db);
    // Quiet doors: the key counts as changed only if a member is added or updated.
    let created = match db.zset_mut_quiet(key)? {
        Some(_) => false,
        // XX on a missing key: nothing to do, and no key is made.
        None if xx => return Ok(if incr { Reply::Nil } else { Reply::Int(0) }),
        None => {
            db.set(key, Value::zset(ZSet::new()), false);
            true
        }
    };
    let z = db
        .zset_mut_quiet(key)?
        .ok_or_else(|| CmdError::msg("ERR internal error: sorted set vanished"))?;
    let (mut added, mut updated, mut processed) = (0, 0, 0);
    let mut last = 0.0;
    let mut result = Ok(());
    for (score, member) in pairs {
        match z.score(member) {
            Some(cur) => {
                if nx {
                    continue;
                }
                let new = if incr { score + cur } else { score };
                if new.is_nan() {
                    result = Err(NAN_SCORE);
                    break;
                }
                if (lt && new >= cur) || (gt && new <= cur) {
                    continue;
                }
                last = new;
                if new != cur {
                    z.insert(member, new, limits);
                    updated += 1;
                }
                processed += 1;
            }
            None if xx => {}
            None => {
                z.insert(member, score, limits);
                last = score;
                added += 1;
                processed += 1;
            }
        }
    }
    if created && z.is_empty() {
        db.remove(key);
    } else if added + updated > 0 {
        db.touch(key);
        db.notify(ZSET, if incr { "zincr" } else { "zadd" }, key);
    }
    result?;
    Ok(if incr {
        if processed > 0 {
            Reply::Double(last)
        } else {
            Reply::Nil
        }
    } else {
        Reply::Int(if ch { added + updated } else { added })
    })
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub fn zadd(db: &mut DbMut, args: &Args) -> CmdResult {
    zadd_generic(db, args, false)
}

/// ZINCRBY key increment member
pub fn zincrby(db: &mut DbMut, args: &Args) -> CmdResult {
    zadd_generic(db, args, true)
}

/// ZREM key member [member ...]
pub fn zrem(db: &mut DbMut, args: &Args) -> CmdResult {
    let key = args.get(1);
    let Some(z) = db.zset_mut_quiet(key)? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for m in args.from(2) {
        if z.remove(m).is_some() {
            removed += 1;
        }
        if z.is_empty() {
            break;
        }
    }
    if removed > 0 {
        db.touch(key);
        db.notify(ZSET, "zrem", key);
    }
    db.remove_if_empty(key);
    Ok(Reply::Int(removed))
}

/// ZCARD key
pub fn zcard(db: &DbRef, args: &Args) -> CmdResult {
    Ok(Reply::Int(
        db.get_zset(args.get(1))?.map_or(0, |z| z.len() as i64),
    ))
}

/// ZSCORE key member
pub fn zscore(db: &DbRef, args: &Args) -> CmdResult {
    Ok(db
        .get_zset(args.get(1))?
        .and_then(|z| z.score(args.get(2)))
        .map_or(Reply::Nil, Reply::Double))
}

/// ZMSCORE key member [member ...]
pub fn zmscore(db: &DbRef, args: &Args) -> CmdResult {
    let z = db.get_zset(args.get(1))?;
    Ok(Reply::Array(
        args.from(2)
            .iter()
            .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double))
            .collect(),
    ))
}

fn rank_generic(db: &DbRef, args: &Args, rev: bool) -> CmdResult {
    let Some(z) = db.get_zset(args.get(1))? else {
        return Ok(Reply::Nil);
    };
    Ok(match z.rank(args.get(2)) {
        Some((r, _)) if rev => Reply::Int((z.len() - 1 - r) as i64),
        Some((r, _)) => Reply::Int(r as i64),
        None => Reply::Nil,
    })
}

/// ZRANK key member
pub fn zrank(db: &DbRef, args: &Args) -> CmdResult {
    rank_generic(db, args, false)
}

/// ZREVRANK key member
pub fn zrevrank(db: &DbRef, args: &Args) -> CmdResult {
    rank_generic(db, args, true)
}

// ---- ranges

/// A score interval (Redis's `zrangespec`).
#[derive(Clone, Copy)]
struct ScoreRange {
    min: f64,
    max: f64,
    minex: bool,
    maxex: bool,
}

impl ScoreRange {
    /// Parses `min` and `max` as Redis's `zslParseRange` does: strtod up to the end of the C
    /// string, `(` for an open end, no NaN.
    fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
        fn bound(a: &[u8]) -> Option<(f64, bool)> {
            let (ex, body) = match a.first() {
                Some(b'(') => (true, &a[1..]),
                _ => (false, a),
            };
            let c_len = body.iter().position(|&b| b == 0).unwrap_or(body.len());
            let (v, consumed, _) = strtod(body);
            (consumed == c_len && !v.is_nan()).then_some((v, ex))
        }
        let ((min, minex), (max, maxex)) = bound(min).zip(bound(max)).ok_or(NOT_FLOAT_RANGE)?;
        Ok(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    fn gte_min(&self, s: f64) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }

    fn lte_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }

    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lexicographic range: `-`, `+`, `[x` or `(x`.
#[derive(Clone)]
enum Lex {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl Lex {
    fn parse(a: &[u8]) -> Option<Lex> {
        match a {
            b"+" => Some(Lex::Max),
            b"-" => Some(Lex::Min),
            [b'(', rest @ ..] => Some(Lex::Excl(rest.to_vec())),
            [b'[', rest @ ..] => Some(Lex::Incl(rest.to_vec())),
            _ => None,
        }
    }

    /// Redis's `sdscmplex` of a member against this bound's string.
    fn cmp_member(&self, m: &[u8]) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match self {
            Lex::Min => Greater,
            Lex::Max => Less,
            Lex::Incl(s) | Lex::Excl(s) => m.cmp(s),
        }
    }

    fn exclusive(&self) -> bool {
        !matches!(self, Lex::Incl(_))
    }
}

#[derive(Clone)]
struct LexRange {
    min: Lex,
    max: Lex,
}

impl LexRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
        Lex::parse(min)
            .zip(Lex::parse(max))
            .map(|(min, max)| LexRange { min, max })
            .ok_or(NOT_LEX_RANGE)
    }

    fn gte_min(&self, m: &[u8]) -> bool {
        let c = self.min.cmp_member(m);
        if self.min.exclusive() {
            c.is_gt()
        } else {
            c.is_ge()
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        let c = self.max.cmp_member(m);
        if self.max.exclusive() {
            c.is_lt()
        } else {
            c.is_le()
        }
    }

    fn is_empty(&self) -> bool {
        use std::cmp::Ordering::*;
        let cmp = match (&self.min, &self.max) {
            (Lex::Min, Lex::Min) | (Lex::Max, Lex::Max) => Equal,
            (Lex::Min, _) | (_, Lex::Max) => Less,
            (Lex::Max, _) | (_, Lex::Min) => Greater,
            (Lex::Incl(a) | Lex::Excl(a), Lex::Incl(b) | Lex::Excl(b)) => a.cmp(b),
        };
        cmp.is_gt() || (cmp.is_eq() && (self.min.exclusive() || self.max.exclusive()))
    }
}

/// What a range selects.
#[derive(Clone)]
enum Bounds {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A parsed range request (ZRANGE and its older forms, ZRANGESTORE).
struct RangeReq {
    bounds: Bounds,
    rev: bool,
    withscores: bool,
    offset: i64,
    limit: i64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// Parses `<src> <min> <max> [options]` from `at` (the source key), as Redis's
/// `zrangeGenericCommand`: `by`/`rev` are fixed by the older commands, free in ZRANGE.
fn parse_range(
    args: &Args,
    at: usize,
    store: bool,
    by: Option<By>,
    rev: Option<bool>,
) -> Result<RangeReq, CmdError> {
    let (mut by_opt, mut rev_opt) = (by, rev);
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = at + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        if !store && args.is(j, "WITHSCORES") {
            withscores = true;
        } else if args.is(j, "LIMIT") && left >= 2 {
            offset = args.int(j + 1)?;
            limit = args.int(j + 2)?;
            j += 2;
        } else if rev_opt.is_none() && args.is(j, "REV") {
            rev_opt = Some(true);
        } else if by_opt.is_none() && args.is(j, "BYLEX") {
            by_opt = Some(By::Lex);
        } else if by_opt.is_none() && args.is(j, "BYSCORE") {
            by_opt = Some(By::Score);
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let by = by_opt.unwrap_or(By::Rank);
    let rev = rev_opt.unwrap_or(false);
    if limit != -1 && by == By::Rank {
        return Err(err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == By::Lex {
        return Err(err(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (args.get(at + 1), args.get(at + 2));
    if rev && by != By::Rank {
        // Given as [max, min].
        std::mem::swap(&mut lo, &mut hi);
    }
    let bounds = match by {
        By::Rank => Bounds::Rank(args.int(at + 1)?, args.int(at + 2)?),
        By::Score => Bounds::Score(ScoreRange::parse(lo, hi)?),
        By::Lex => Bounds::Lex(LexRange::parse(lo, hi)?),
    };
    Ok(RangeReq {
        bounds,
        rev,
        withscores,
        offset,
        limit,
    })
}

/// Redis's rank normalization: `(start, end)` inclusive within `len`, or `None` if empty.
fn rank_span(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, end as usize))
}

/// The ranks `[first, last)` of a score range's members.
fn score_span(z: &ZSet, r: &ScoreRange) -> (usize, usize) {
    if r.is_empty() {
        return (0, 0);
    }
    let first = z.count_while(|s, _| !r.gte_min(s));
    let end = z.count_while(|s, _| r.lte_max(s));
    (first, end.max(first))
}

/// The ranks `[first, last)` of a lexicographic range's members.
fn lex_span(z: &ZSet, r: &LexRange) -> (usize, usize) {
    if r.is_empty() {
        return (0, 0);
    }
    let first = z.count_while(|_, m| !r.gte_min(m));
    let end = z.count_while(|_, m| r.lte_max(m));
    (first, end.max(first))
}

/// The entries a range request selects, in reply order.
fn run_range(z: &ZSet, req: &RangeReq) -> Entries {
    let len = z.len();
    let own = |(m, s): (&[u8], f64)| (m.to_vec(), s);
    let (first, end) = match &req.bounds {
        Bounds::Rank(start, stop) => {
            let Some((a, b)) = rank_span(*start, *stop, len) else {
                return Vec::new();
            };
            let n = b - a + 1;
            return if req.rev {
                z.range(len - 1 - a, true).take(n).map(own).collect()
            } else {
                z.range(a, false).take(n).map(own).collect()
            };
        }
        Bounds::Score(r) => score_span(z, r),
        Bounds::Lex(r) => lex_span(z, r),
    };
    // Redis skips `offset` entries one by one: a negative offset skips them all.
    if req.offset < 0 || (req.offset > 0 && req.offset as u64 >= len as u64) || first >= end {
        return Vec::new();
    }
    let offset = req.offset as usize;
    let take = if req.limit < 0 {
        usize::MAX
    } else {
        req.limit as usize
    };
    if req.rev {
        let Some(start) = (end - 1).checked_sub(offset).filter(|&s| s >= first) else {
            return Vec::new();
        };
        z.range(start, true)
            .take((start + 1 - first).min(take))
            .map(own)
            .collect()
    } else {
        let start = first + offset;
        if start >= end {
            return Vec::new();
        }
        z.range(start, false)
            .take((end - start).min(take))
            .map(own)
            .collect()
    }
}

/// The range a request selects from `key`: `None` if the key is missing.
fn range_of<K: std::ops::Deref<Target = Keyspace>>(
    db: &Db<K>,
    key: &[u8],
    req: &RangeReq,
) -> Result<Option<Entries>, CmdError> {
    Ok(db.get_zset(key)?.map(|z| run_range(z, req)))
}

fn zrange_generic(db: &DbRef, args: &Args, by: Option<By>, rev: Option<bool>) -> CmdResult {
    let req = parse_range(args, 1, false, by, rev)?;
    let items = range_of(db, args.get(1), &req)?.unwrap_or_default();
    Ok(entries_reply(items, req.withscores))
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub fn zrange(db: &DbRef, args: &Args) -> CmdResult {
    zrange_generic(db, args, None, None)
}

/// ZREVRANGE key start stop [WITHSCORES]
pub fn zrevrange(db: &DbRef, args: &Args) -> CmdResult {
    zrange_generic(db, args, Some(By::Rank), Some(true))
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
pub fn zrangebyscore(db: &DbRef, args: &Args) -> CmdResult {
    zrange_generic(db, args, Some(By::Score), Some(false))
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
pub fn zrevrangebyscore(db: &DbRef, args: &Args) -> CmdResult {
    zrange_generic(db, args, Some(By::Score), Some(true))
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
pub fn zrangebylex(db: &DbRef, args: &Args) -> CmdResult {
    zrange_generic(db, args, Some(By::Lex), Some(false))
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
pub fn zrevrangebylex(db: &DbRef, args: &Args) -> CmdResult {
    zrange_generic(db, args, Some(By::Lex), Some(true))
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(db: &mut DbMut, args: &Args) -> CmdResult {
    let req = parse_range(args, 2, true, None, None)?;
    let items = range_of(db, args.get(2), &req)?.unwrap_or_default();
    Ok(store(db, args.get(1), items, "zrangestore"))
}

/// ZCOUNT key min max
pub fn zcount(db: &DbRef, args: &Args) -> CmdResult {
    let r = ScoreRange::parse(args.get(2), args.get(3))?;
    let Some(z) = db.get_zset(args.get(1))? else {
        return Ok(Reply::Int(0));
    };
    let (first, end) = score_span(z, &r);
    Ok(Reply::Int((end - first) as i64))
}

/// ZLEXCOUNT key min max
pub fn zlexcount(db: &DbRef, args: &Args) -> CmdResult {
    let r = LexRange::parse(args.get(2), args.get(3))?;
    let Some(z) = db.get_zset(args.get(1))? else {
        return Ok(Reply::Int(0));
    };
    let (first, end) = lex_span(z, &r);
    Ok(Reply::Int((end - first) as i64))
}

fn zremrange_generic(db: &mut DbMut, args: &Args, by: By) -> CmdResult {
    let bounds = match by {
        By::Rank => Bounds::Rank(args.int(2)?, args.int(3)?),
        By::Score => Bounds::Score(ScoreRange::parse(args.get(2), args.get(3))?),
        By::Lex => Bounds::Lex(LexRange::parse(args.get(2), args.get(3))?),
    };
    let key = args.get(1);
    let Some(z) = db.zset_mut_quiet(key)? else {
        return Ok(Reply::Int(0));
    };
    let span = match &bounds {
        Bounds::Rank(a, b) => rank_span(*a, *b, z.len()).map(|(a, b)| (a, b + 1)),
        Bounds::Score(r) => Some(score_span(z, r)),
        Bounds::Lex(r) => Some(lex_span(z, r)),
    };
    let removed = match span {
        Some((first, end)) if first < end => z.remove_ranks(first, end - 1),
        _ => 0,
    };
    if removed > 0 {
        db.touch(key);
        let event = match by {
            By::Rank => "zremrangebyrank",
            By::Score => "zremrangebyscore",
            By::Lex => "zremrangebylex",
        };
        db.notify(ZSET, event, key);
    }
    db.remove_if_empty(key);
    Ok(Reply::Int(removed as i64))
}

/// ZREMRANGEBYRANK key start stop
pub fn zremrangebyrank(db: &mut DbMut, args: &Args) -> CmdResult {
    zremrange_generic(db, args, By::Rank)
}

/// ZREMRANGEBYSCORE key min max
pub fn zremrangebyscore(db: &mut DbMut, args: &Args) -> CmdResult {
    zremrange_generic(db, args, By::Score)
}

/// ZREMRANGEBYLEX key min max
pub fn zremrangebylex(db: &mut DbMut, args: &Args) -> CmdResult {
    zremrange_generic(db, args, By::Lex)
}

// ---- ZUNION ZINTER ZDIFF

/// An input of ZUNION/ZINTER/ZDIFF: a sorted set, a plain set (every score 1), or nothing.
#[derive(Clone, Copy)]
enum Src<'a> {
    Missing,
    ZSet(&'a ZSet),
    Set(&'a Set),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::ZSet(z) => z.len(),
            Src::Set(s) => s.len(),
        }
    }

    fn entries(&self) -> Entries {
        match self {
            Src::Missing => Vec::new(),
            Src::ZSet(z) => z.iter().map(|(m, s)| (m.to_vec(), s)).collect(),
            Src::Set(s) => s.iter().map(|m| (m.into_owned(), 1.0)).collect(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::ZSet(z) => z.score(member),
            Src::Set(s) => s.contains(member).then_some(1.0),
        }
    }

    fn same(&self, other: &Src) -> bool {
        match (self, other) {
            (Src::ZSet(a), Src::ZSet(b)) => std::ptr::eq(*a, *b),
            (Src::Set(a), Src::Set(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Redis's `zunionInterAggregate` (a NaN sum, from inf + -inf, is 0).
fn aggregate(target: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += v;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *target {
                *target = v;
            }
        }
        Aggregate::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

/// What ZUNION, ZINTER, ZDIFF (and their STORE forms) and ZINTERCARD asked for.
struct SetOpReq<'a> {
    srcs: Vec<Src<'a>>,
    weights: Vec<f64>,
    how: Aggregate,
    withscores: bool,
    limit: usize,
}

/// Parses `numkeys key... [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES] [LIMIT n]` from `at`,
/// looking the keys up (with their type check) before the options, in Redis's order.
fn parse_setop<'a, K: std::ops::Deref<Target = Keyspace>>(
    db: &'a Db<K>,
    args: &Args,
    at: usize,
    op: SetOp,
    store: bool,
    card: bool,
) -> Result<SetOpReq<'a>, CmdError> {
    let numkeys = args.int(at)?;
    if numkeys < 1 {
        return Err(CmdError::msg(format!(
            "ERR at least 1 input key is needed for '{}' command",
            args.text(0).to_ascii_lowercase()
        )));
    }
    if numkeys as u64 > (args.len() - at - 1) as u64 {
        return Err(SYNTAX);
    }
    let n = numkeys as usize;
    let mut srcs = Vec::with_capacity(n);
    for key in &args.all()[at + 1..at + 1 + n] {
        srcs.push(match db.get(key) {
            None => Src::Missing,
            Some(Value::ZSet(z, _)) => Src::ZSet(z),
            Some(Value::Set(s, _)) => Src::Set(s),
            Some(_) => return Err(super::args::WRONG_TYPE),
        });
    }
    let mut req = SetOpReq {
        srcs,
        weights: vec![1.0; n],
        how: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = at + 1 + n;
    while j < args.len() {
        let remaining = args.len() - j;
        if op != SetOp::Diff && !card && remaining > n && args.is(j, "WEIGHTS") {
            for i in 0..n {
                req.weights[i] = super::args::parse_f64(args.get(j + 1 + i))
                    .ok_or(err("ERR weight value is not a float"))?;
            }
            j += 1 + n;
        } else if op != SetOp::Diff && !card && remaining >= 2 && args.is(j, "AGGREGATE") {
            req.how = match args.get(j + 1).to_ascii_lowercase().as_slice() {
                b"sum" => Aggregate::Sum,
                b"min" => Aggregate::Min,
                b"max" => Aggregate::Max,
                _ => return Err(SYNTAX),
            };
            j += 2;
        } else if !store && !card && args.is(j, "WITHSCORES") {
            req.withscores = true;
            j += 1;
        } else if card && remaining >= 2 && args.is(j, "LIMIT") {
            req.limit = args.range(j + 1, 0, i64::MAX, "ERR LIMIT can't be negative")? as usize;
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    Ok(req)
}

/// Computes the operation: its entries (unordered), or with `card` only how many there are.
fn run_setop(req: &SetOpReq, op: SetOp, card: bool) -> (Entries, usize) {
    let mut out = Vec::new();
    match op {
        SetOp::Inter => {
            // Smallest input first (Redis sorts by cardinality).
            let mut order: Vec<usize> = (0..req.srcs.len()).collect();
            order.sort_by_key(|&i| req.srcs[i].len());
            let first = order[0];
            let base = req.srcs[first];
            if base.len() == 0 {
                return (out, 0);
            }
            let mut count = 0;
            'members: for (m, s) in base.entries() {
                let mut score = req.weights[first] * s;
                if score.is_nan() {
                    score = 0.0;
                }
                for &i in &order[1..] {
                    let src = &req.srcs[i];
                    let v = if src.same(&base) {
                        s
                    } else {
                        match src.score(&m) {
                            Some(v) => v,
                            None => continue 'members,
                        }
                    };
                    aggregate(&mut score, v * req.weights[i], req.how);
                }
                count += 1;
                if card {
                    if req.limit != 0 && count >= req.limit {
                        break;
                    }
                } else {
                    out.push((m, score));
                }
            }
            return (out, count);
        }
        SetOp::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            let mut order: Vec<usize> = (0..req.srcs.len()).collect();
            order.sort_by_key(|&i| req.srcs[i].len());
            for i in order {
                for (m, s) in req.srcs[i].entries() {
                    let mut score = req.weights[i] * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(&m) {
                        Some(t) => aggregate(t, score, req.how),
                        None => {
                            acc.insert(m, score);
                        }
                    }
                }
            }
            out = acc.into_iter().collect();
        }
        SetOp::Diff => {
            let base = req.srcs[0];
            let rest = &req.srcs[1..];
            if !rest.iter().any(|s| s.same(&base)) {
                out = base
                    .entries()
                    .into_iter()
                    .filter(|(m, _)| rest.iter().all(|s| s.score(m).is_none()))
                    .collect();
            }
        }
    }
    let n = out.len();
    (out, n)
}

fn setop_read(db: &DbRef, args: &Args, op: SetOp) -> CmdResult {
    let req = parse_setop(db, args, 1, op, false, false)?;
    let (mut items, _) = run_setop(&req, op, false);
    items.sort_by(|a, b| order(a.1, &a.0, b.1, &b.0));
    Ok(entries_reply(items, req.withscores))
}

fn setop_store(db: &mut DbMut, args: &Args, op: SetOp) -> CmdResult {
    let req = parse_setop(db, args, 2, op, true, false)?;
    let (items, _) = run_setop(&req, op, false);
    let event = match op {
        SetOp::Union => "zunionstore",
        SetOp::Inter => "zinterstore",
        SetOp::Diff => "zdiffstore",
    };
    Ok(store(db, args.get(1), items, event))
}

/// ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zunion(db: &DbRef, args: &Args) -> CmdResult {
    setop_read(db, args, SetOp::Union)
}

/// ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zinter(db: &DbRef, args: &Args) -> CmdResult {
    setop_read(db, args, SetOp::Inter)
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
pub fn zdiff(db: &DbRef, args: &Args) -> CmdResult {
    setop_read(db, args, SetOp::Diff)
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
pub fn zunionstore(db: &mut DbMut, args: &Args) -> CmdResult {
    setop_store(db, args, SetOp::Union)
}

/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
pub fn zinterstore(db: &mut DbMut, args: &Args) -> CmdResult {
    setop_store(db, args, SetOp::Inter)
}

/// ZDIFFSTORE destination numkeys key [key ...]
pub fn zdiffstore(db: &mut DbMut, args: &Args) -> CmdResult {
    setop_store(db, args, SetOp::Diff)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn zintercard(db: &DbRef, args: &Args) -> CmdResult {
    let req = parse_setop(db, args, 1, SetOp::Inter, false, true)?;
    Ok(Reply::Int(run_setop(&req, SetOp::Inter, true).1 as i64))
}

// ---- pops

/// Pops up to `count` entries from the low (or `max`: high) end of the sorted set at `key`,
/// deleting the key if it empties.
fn pop_n(db: &mut DbMut, key: &[u8], max: bool, count: usize) -> Entries {
    let mut out = Vec::new();
    if let Ok(Some(z)) = db.zset_mut(key) {
        for _ in 0..count {
            let rank = if max { z.len().checked_sub(1) } else { Some(0) };
            match rank.and_then(|r| z.remove_at(r)) {
                Some(e) => out.push(e),
                None => break,
            }
        }
    }
    if !out.is_empty() {
        db.notify(ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    }
    db.remove_if_empty(key);
    out
}

/// `[member, score, ...]`, flat in both protocols (scores as doubles).
fn flat(items: Entries) -> Vec<Reply> {
    items
        .into_iter()
        .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)])
        .collect()
}

/// `[key, [[member, score], ...]]`: nested in both protocols (ZMPOP, BZMPOP).
fn keyed_nested(key: &[u8], items: Entries) -> Reply {
    Reply::Array(vec![
        Reply::bulk(key),
        Reply::Array(
            items
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                .collect(),
        ),
    ])
}

fn zpop_generic(db: &mut DbMut, args: &Args, max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(SYNTAX);
    }
    let count = if args.len() == 3 {
        Some(args.positive(2)? as usize)
    } else {
        None
    };
    let key = args.get(1);
    if db.zset_mut_quiet(key)?.is_none() || count == Some(0) {
        return Ok(Reply::Array(vec![]));
    }
    let items = pop_n(db, key, max, count.unwrap_or(1));
    Ok(match count {
        // With a count: pairs (nested in RESP3); without: one flat pair.
        Some(_) => Reply::Pairs(
            items
                .into_iter()
                .map(|(m, s)| (Reply::Bulk(m), Reply::Double(s)))
                .collect(),
        ),
        None => Reply::Array(flat(items)),
    })
}

/// ZPOPMIN key [count]
pub fn zpopmin(db: &mut DbMut, args: &Args) -> CmdResult {
    zpop_generic(db, args, false)
}

/// ZPOPMAX key [count]
pub fn zpopmax(db: &mut DbMut, args: &Args) -> CmdResult {
    zpop_generic(db, args, true)
}

/// The parsed `numkeys key... MIN|MAX [COUNT count]` of ZMPOP (at `at`) and BZMPOP.
struct MPop<'a> {
    keys: &'a [Vec<u8>],
    max: bool,
    count: usize,
}

fn mpop_args<'a>(args: &Args<'a>, at: usize) -> Result<MPop<'a>, CmdError> {
    let min_max = |args: &Args, i: usize| {
        if args.is(i, "MIN") {
            Ok(false)
        } else if args.is(i, "MAX") {
            Ok(true)
        } else {
            Err(SYNTAX)
        }
    };
    let (keys, max, count) = super::args::mpop_args(args, at, min_max)?;
    Ok(MPop { keys, max, count })
}

/// The first key among `keys` holding a sorted set; WRONGTYPE if one before it holds another
/// type.
fn first_zset(db: &mut DbMut, keys: &[Vec<u8>]) -> Result<Option<Vec<u8>>, CmdError> {
    for key in keys {
        if db.zset_mut(key)?.is_some_and(|z| !z.is_empty()) {
            return Ok(Some(key.clone()));
        }
    }
    Ok(None)
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub fn zmpop(db: &mut DbMut, args: &Args) -> CmdResult {
    let m = mpop_args(args, 1)?;
    Ok(match first_zset(db, m.keys)? {
        Some(key) => {
            let items = pop_n(db, &key, m.max, m.count);
            keyed_nested(&key, items)
        }
        None => Reply::NilArray,
    })
}

/// What a client blocked in BZPOPMIN, BZPOPMAX or BZMPOP waits to do.
struct ZPopRequest {
    max: bool,
    /// BZMPOP's count (its reply is `[key, [[member, score], ...]]`); `None` for BZPOP*.
    count: Option<usize>,
    proto: u8,
}

fn served(key: &[u8], items: Entries, count: Option<usize>) -> Reply {
    match count {
        Some(_) => keyed_nested(key, items),
        None => {
            let mut out = vec![Reply::bulk(key)];
            out.extend(flat(items));
            Reply::Array(out)
        }
    }
}

impl Request for ZPopRequest {
    fn serve(&self, db: &mut DbMut, key: &[u8]) -> Option<Vec<u8>> {
        if !matches!(db.zset_mut(key), Ok(Some(z)) if !z.is_empty()) {
            return None;
        }
        let items = pop_n(db, key, self.max, self.count.unwrap_or(1));
        record_zpop(db, key, self.max, items.len(), self.count.is_some());
        let mut out = Vec::new();
        encode(&served(key, items, self.count), self.proto, &mut out);
        Some(out)
    }
}

/// What a blocking pop records for the append-only file: the plain pop it amounted to.
fn record_zpop(db: &DbMut, key: &[u8], max: bool, popped: usize, counted: bool) {
    let cmd: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
    if counted {
        db.propagate(&[cmd, key, popped.to_string().as_bytes()]);
    } else {
        db.propagate(&[cmd, key]);
    }
}

fn blocking_zpop(
    db: &mut DbMut,
    keys: &[Vec<u8>],
    max: bool,
    count: Option<usize>,
    timeout_ms: i64,
    proto: u8,
) -> Result<Step, CmdError> {
    if let Some(key) = first_zset(db, keys)? {
        let items = pop_n(db, &key, max, count.unwrap_or(1));
        record_zpop(db, &key, max, items.len(), count.is_some());
        return Ok(Step::Reply(served(&key, items, count)));
    }
    Ok(Step::Wait(Wait {
        keys: keys.iter().map(|k| k.clone().into_boxed_slice()).collect(),
        request: Box::new(ZPopRequest { max, count, proto }),
        timeout_ms,
        on_timeout: Reply::NilArray,
        in_multi: None,
    }))
}

/// BZPOPMIN key [key ...] timeout
pub fn bzpopmin(db: &mut DbMut, args: &Args, proto: u8) -> Result<Step, CmdError> {
    let timeout = args.timeout_ms(args.len() - 1)?;
    blocking_zpop(
        db,
        &args.all()[1..args.len() - 1],
        false,
        None,
        timeout,
        proto,
    )
}

/// BZPOPMAX key [key ...] timeout
pub fn bzpopmax(db: &mut DbMut, args: &Args, proto: u8) -> Result<Step, CmdError> {
    let timeout = args.timeout_ms(args.len() - 1)?;
    blocking_zpop(
        db,
        &args.all()[1..args.len() - 1],
        true,
        None,
        timeout,
        proto,
    )
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
pub fn bzmpop(db: &mut DbMut, args: &Args, proto: u8) -> Result<Step, CmdError> {
    let m = mpop_args(args, 2)?;
    let timeout = args.timeout_ms(1)?;
    blocking_zpop(db, m.keys, m.max, Some(m.count), timeout, proto)
}

// ---- ZRANDMEMBER ZSCAN

/// ZRANDMEMBER key [count [WITHSCORES]]
pub fn zrandmember(db: &DbRef, args: &Args) -> CmdResult {
    if args.len() < 3 {
        return Ok(db
            .get_zset(args.get(1))?
            .and_then(|z| z.random(rand_u64))
            .map_or(Reply::Nil, |(m, _)| Reply::bulk(m)));
    }
    let count = count_arg(args, 2)?;
    let withscores = match args.len() {
        3 => false,
        4 if args.is(3, "WITHSCORES") => {
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
                return Err(err("ERR value is out of range"));
            }
            true
        }
        _ => return Err(SYNTAX),
    };
    let Some(z) = db.get_zset(args.get(1))? else {
        return Ok(Reply::Array(vec![]));
    };
    let item = |(m, s): (&[u8], f64)| (m.to_vec(), withscores.then_some(s));
    Ok(sample(
        z.len(),
        count,
        || z.random(rand_u64).map(item).unwrap_or_default(),
        || z.iter().map(item).collect(),
        |s: &f64| Reply::Double(*s),
    ))
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
pub fn zscan(db: &DbRef, args: &Args) -> CmdResult {
    let cursor = parse_cursor(args.get(2))?;
    let Some(z) = db.get_zset(args.get(1))? else {
        return Ok(scan_reply(0, vec![]));
    };
    let o = scan_options(args, 3, false)?;
    let mut found = Vec::new();
    let visit = |found: &mut Vec<Reply>, m: &[u8], s: f64| {
        if o.matches(m) {
            found.push(Reply::bulk(m));
            found.push(Reply::Bulk(format_double(s).into_bytes()));
        }
    };
    let cursor = if z.is_big() {
        // Each step visits a handful of slots, as a dict scan visits a bucket.
        scan_steps(cursor, o.count, &mut found, |c, found| {
            z.scan(c, 1, |m, s| visit(found, m, s))
        })
    } else {
        z.scan(0, 0, |m, s| visit(&mut found, m, s))
    };
    Ok(scan_reply(cursor, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_ranges_parse_like_redis() {
        let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
        assert!(r.minex && !r.maxex && r.max.is_infinite());
        assert!(ScoreRange::parse(b"", b" 2").is_ok(), "strtod takes these");
        assert!(ScoreRange::parse(b"nan", b"1").is_err());
        assert!(ScoreRange::parse(b"1x", b"1").is_err());
        assert!(ScoreRange::parse(b"1\0x", b"2").is_ok(), "C stops at NUL");
        assert!(ScoreRange::parse(b"2", b"(2").unwrap().is_empty());
    }

    #[test]
    fn lex_ranges() {
        let r = LexRange::parse(b"[b", b"(d").unwrap();
        assert!(r.gte_min(b"b") && !r.gte_min(b"a") && r.lte_max(b"c") && !r.lte_max(b"d"));
        assert!(LexRange::parse(b"b", b"+").is_err());
        assert!(LexRange::parse(b"+", b"-").unwrap().is_empty());
        assert!(!LexRange::parse(b"-", b"+").unwrap().is_empty());
        assert!(LexRange::parse(b"-", b"-").unwrap().is_empty());
        assert!(LexRange::parse(b"-x", b"+").is_err());
    }

    #[test]
    fn ranks_like_redis() {
        assert_eq!(rank_span(0, -1, 5), Some((0, 4)));
        assert_eq!(rank_span(-100, 100, 5), Some((0, 4)));
        assert_eq!(rank_span(3, 1, 5), None);
        assert_eq!(rank_span(5, 10, 5), None);
    }
}
