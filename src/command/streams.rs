//! Stream commands (Redis's `t_stream.c`): XADD, XRANGE, XREAD, consumer groups, XINFO.
//!
//! Arguments are checked in Redis's order (some before the key is looked up, some after), so
//! that every error a client can provoke is the one Redis gives. XREAD and XREADGROUP with
//! BLOCK park the client on the same wait queues as BLPOP; an XADD (or a group destroyed, or
//! the stream deleted) signals the key and the waiters are served in arrival order.

use super::args::{err, Args, CmdError, CmdResult, NO_SUCH_KEY, SYNTAX};
use super::{Step, Wait};
use crate::protocol::{encode, parse_i64, reply, Reply};
use crate::store::notify::STREAM;
use crate::store::ready::Request;
use crate::store::stream::{AppendError, Group, Pairs, Trim, INVALID_ENTRIES_READ};
use crate::store::{Db, DbMut, DbRef, Keyspace, Stream, StreamId, Value};

const INVALID_ID: CmdError = err("ERR Invalid stream ID specified as stream command argument");
const BAD_START: CmdError = err("ERR invalid start ID for the interval");
const BAD_END: CmdError = err("ERR invalid end ID for the interval");

// ---- IDs

/// C's `strtoull(s, &end, 10)` accepting the whole of `s` (Redis's `string2ull` fallback):
/// leading white space, a sign (a minus negates, modulo 2^64) and leading zeros are allowed.
fn strtoull(s: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Redis's `string2ull`: a canonical integer (not negative), else `strtoull`'s reading.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return u64::try_from(v).ok();
    }
    strtoull(s)
}

/// Redis's `streamGenericParseIDOrReply`: `ms-seq`, `ms` (the sequence is `missing_seq`),
/// `-` and `+` (unless `strict`), and with `seq_star` the `ms-*` form. Returns the ID and
/// whether its sequence was given.
fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_star: bool,
) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 127 {
        return Err(INVALID_ID);
    }
    // The argument is read as a C string.
    let arg = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    match arg {
        b"-" if !strict => return Ok((StreamId::MIN, true)),
        b"+" if !strict => return Ok((StreamId::MAX, true)),
        b"-" | b"+" => return Err(INVALID_ID),
        _ => {}
    }
    let (ms, seq) = match arg.iter().position(|&b| b == b'-') {
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
        None => (arg, None),
    };
    let ms = string2ull(ms).ok_or(INVALID_ID)?;
    match seq {
        Some(b"*") if seq_star => Ok((StreamId::new(ms, 0), false)),
        Some(seq) => Ok((StreamId::new(ms, string2ull(seq).ok_or(INVALID_ID)?), true)),
        None => Ok((StreamId::new(ms, missing_seq), true)),
    }
}

/// A strict ID (no `-`/`+`), the sequence 0 if missing.
fn strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    parse_id_full(arg, 0, true, false).map(|(id, _)| id)
}

/// A range bound: `-`, `+`, an ID, or `(ID` (exclusive: moved one step inwards).
fn interval(arg: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_id_full(&arg[1..], missing_seq, true, false)?.0;
        return if start {
            id.incr().ok_or(BAD_START)
        } else {
            id.decr().ok_or(BAD_END)
        };
    }
    Ok(parse_id_full(arg, missing_seq, false, false)?.0)
}

/// XCLAIM's and XAUTOCLAIM's claim of pending entry `id` for consumer `cname`, created on
/// the first claim (`consumer`: `None` before it, then whether it was created): delivered
/// at `delivery`, its count set to `retry` or, unless JUSTID, one more.
#[allow(clippy::too_many_arguments)]
fn claim(
    g: &mut crate::store::stream::Group,
    id: StreamId,
    cname: &[u8],
    now: i64,
    delivery: i64,
    retry: Option<u64>,
    justid: bool,
    consumer: &mut Option<bool>,
) {
    if consumer.is_none() {
        *consumer = Some(g.touch_consumer(cname, now));
    }
    g.assign(id, cname);
    if let Some(nack) = g.pel.get_mut(&id) {
        nack.delivery_time = delivery;
        match retry {
            Some(n) => nack.delivery_count = n,
            None if !justid => nack.delivery_count += 1,
            None => {}
        }
    }
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

/// `[id, [field, value, ...]]`
fn entry_reply(id: StreamId, pairs: &[(impl AsRef<[u8]>, impl AsRef<[u8]>)]) -> Reply {
    let mut flat = Vec::with_capacity(pairs.len() * 2);
    for (f, v) in pairs {
        flat.push(Reply::bulk(f.as_ref()));
        flat.push(Reply::bulk(v.as_ref()));
    }
    Reply::Array(vec![id_reply(id), Reply::Array(flat)])
}

fn owned_entries(items: Vec<(StreamId, Pairs)>) -> Reply {
    Reply::Array(items.iter().map(|(id, p)| entry_reply(*id, p)).collect())
}

/// Entries of `s` in `[start, end]` (at most `count`, 0: all), encoded as they are read:
/// an array of `[id, [field, value, ...]]` is the same bytes in RESP2 and RESP3, and a
/// reply tree of ten entries was about eighty blocks made and freed (XREAD COUNT 10).
fn range_reply(s: &Stream, start: StreamId, end: StreamId, rev: bool, count: usize) -> Reply {
    let take = if count == 0 { usize::MAX } else { count };
    let mut body = Vec::new();
    let mut n = 0;
    for item in s.range(start, end, rev).take(take) {
        body.extend_from_slice(b"*2\r\n");
        reply::bulk_pair(&mut body, item.id.ms, b'-', item.id.seq);
        reply::header(&mut body, b'*', 2 * item.pairs.len() as i64);
        for (f, v) in &item.pairs {
            reply::bulk(&mut body, f);
            reply::bulk(&mut body, v);
        }
        n += 1;
    }
    // The count goes in front, moving the entries up in place: a copy into a second buffer
    // would double a long range's peak memory.
    let mut head = Vec::with_capacity(24);
    reply::header(&mut head, b'*', n);
    body.reserve_exact(head.len());
    body.splice(0..0, head);
    Reply::Raw(body.into())
}

/// A Redis `%s` of client bytes in an error text (newlines become spaces, as
/// `addReplyErrorFormat` makes them).
fn shown(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace(['\r', '\n'], " ")
}

fn no_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        shown(key),
        shown(group)
    ))
}

fn stream_for_write<'a>(db: &'a mut DbMut, key: &[u8]) -> Result<&'a mut Stream, CmdError> {
    db.stream_mut_quiet(key)?
        .ok_or_else(|| CmdError::msg("ERR internal error: stream vanished"))
}

// ---- XADD / XTRIM

/// The trimming options of XADD and XTRIM, and XADD's own (Redis's `streamAddTrimArgs`).
#[derive(Default)]
struct AddTrim {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    /// XADD's explicit ID and whether its sequence was given (`ms-*` leaves it out).
    id: Option<(StreamId, bool)>,
    /// Where the ID argument is (XADD's fields follow it).
    id_at: usize,
}

/// XADD or XTRIM as the append-only file records it: the ID the clock chose, and an
/// approximate trim (`~`, which depends on how entries are packed) as the exact one it
/// amounted to (`MAXLEN =` the length left, `MINID =` the first ID left), without LIMIT.
pub(super) fn exact_record(
    db: &DbMut,
    args: &Args,
    xadd: bool,
    reply: Option<&Reply>,
) -> Vec<Vec<u8>> {
    let argv = args.from(0);
    let Ok(a) = add_trim_args(args, xadd, u64::MAX) else {
        return argv.to_vec();
    };
    let key = &argv[1];
    let mut r = vec![argv[0].clone(), key.clone()];
    if a.nomkstream {
        r.push(b"NOMKSTREAM".to_vec());
    }
    if let Some(trim) = a.trim {
        let stream = db.get_stream(key).ok().flatten();
        match trim {
            Trim::MaxLen(n) => {
                let left = if a.approx {
                    stream.map_or(n, |s| s.len())
                } else {
                    n
                };
                r.extend([
                    b"MAXLEN".to_vec(),
                    b"=".to_vec(),
                    left.to_string().into_bytes(),
                ]);
            }
            Trim::MinId(id) => {
                let first = if a.approx {
                    stream.and_then(|s| s.first_valid_id()).unwrap_or(id)
                } else {
                    id
                };
                r.extend([b"MINID".to_vec(), b"=".to_vec(), first.to_bytes()]);
            }
        }
    }
    if xadd {
        match reply {
            Some(Reply::Bulk(id)) => r.push(id.clone()),
            _ => return Vec::new(),
        }
        r.extend(argv[a.id_at + 1..].iter().cloned());
    }
    r
}

/// What a group read (XREADGROUP, at once or served later) records for the append-only
/// file, as Redis propagates it: the consumer's creation, an XCLAIM per entry delivered with
/// its delivery time and count (so a replay gives the same PEL, delivery times included),
/// and the group's last ID and read counter.
pub(super) fn group_read_record(
    db: &DbMut,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    ids: &[Vec<u8>],
) {
    let Some(g) = db
        .get_stream(key)
        .ok()
        .flatten()
        .and_then(|s| s.groups.get(group))
    else {
        return;
    };
    let last = g.last_id.to_bytes();
    db.propagate(&[b"XGROUP", b"CREATECONSUMER", key, group, consumer]);
    for id in ids {
        let Some(n) = strict_id(id).ok().and_then(|i| g.pel.get(&i)) else {
            continue;
        };
        let (time, count) = (n.delivery_time.to_string(), n.delivery_count.to_string());
        db.propagate(&[
            b"XCLAIM",
            key,
            group,
            consumer,
            b"0",
            id,
            b"TIME",
            time.as_bytes(),
            b"RETRYCOUNT",
            count.as_bytes(),
            b"FORCE",
            b"JUSTID",
            b"LASTID",
            &last,
        ]);
    }
    let read = g.entries_read.to_string();
    db.propagate(&[
        b"XGROUP",
        b"SETID",
        key,
        group,
        &last,
        b"ENTRIESREAD",
        read.as_bytes(),
    ]);
}

/// The IDs of a stream read's entries (`[[id, fields], ...]`).
pub(super) fn entry_ids(entries: &Reply) -> Vec<Vec<u8>> {
    match entries {
        Reply::Array(items) => items
            .iter()
            .filter_map(|e| match e {
                Reply::Array(parts) => match parts.first() {
                    Some(Reply::Bulk(id)) => Some(id.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Redis's `streamParseAddOrTrimArgsOrReply`.
fn add_trim_args(args: &Args, xadd: bool, max_entries: u64) -> Result<AddTrim, CmdError> {
    const BOTH: CmdError =
        err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
    let mut a = AddTrim::default();
    let mut limit_given = false;
    let mut limit: i64 = 0;
    let argc = args.len();
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = args.get(i);
        if xadd && opt == b"*" {
            break;
        } else if (args.is(i, "MAXLEN") || args.is(i, "MINID")) && more > 0 {
            if a.trim.is_some() {
                return Err(BOTH);
            }
            let maxlen = args.is(i, "MAXLEN");
            a.approx = false;
            let next = args.get(i + 1);
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if maxlen {
                let n = args.int(i + 1)?;
                if n < 0 {
                    return Err(err("ERR The MAXLEN argument must be >= 0."));
                }
                a.trim = Some(Trim::MaxLen(n as u64));
            } else {
                a.trim = Some(Trim::MinId(strict_id(args.get(i + 1))?));
            }
            i += 1;
        } else if args.is(i, "LIMIT") && more > 0 {
            limit = args.int(i + 1)?;
            if limit < 0 {
                return Err(err("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && args.is(i, "NOMKSTREAM") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some(parse_id_full(opt, 0, true, true)?);
            break;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    a.id_at = i;
    if limit != 0 && a.trim.is_none() {
        return Err(err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && a.trim.is_none() {
        return Err(err(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !a.approx {
            return Err(err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        a.limit = limit as u64;
    } else if a.approx {
        // At most 100 nodes' worth of work, capped both ways.
        let l = max_entries.saturating_mul(100);
        a.limit = if l == 0 { 10_000 } else { l.min(1_000_000) };
    }
    Ok(a)
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]
pub fn xadd(db: &mut DbMut, args: &Args) -> CmdResult {
    let limits = db.op().limits().stream;
    let a = add_trim_args(args, true, limits.node_max_entries)?;
    let fields_at = a.id_at + 1;
    let nfields = args.len() as i64 - fields_at as i64;
    if nfields < 2 || nfields % 2 == 1 {
        return Err(super::arity_error(args.get(0), "xadd"));
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return Err(err("ERR The ID specified in XADD must be greater than 0-0"));
        }
    }
    let key = args.get(1);
    if db.stream_mut_quiet(key)?.is_none() {
        if a.nomkstream {
            return Ok(Reply::Nil);
        }
        db.set(key, Value::stream(Stream::new()), false);
    }
    let now = db.now_ms().max(0) as u64;
    let s = stream_for_write(db, key)?;
    if s.last_id == StreamId::MAX {
        return Err(err(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    const TOO_SMALL: CmdError =
        err("ERR The ID specified in XADD is equal or smaller than the target stream top item");
    let id = match a.id {
        None => s.next_id(now).ok_or(TOO_SMALL)?,
        Some((id, true)) => id,
        Some((id, false)) if s.last_id.ms == id.ms => {
            if s.last_id.seq == u64::MAX {
                // Redis fails here without setting errno, so its reply is the other one.
                return Err(err("ERR Elements are too large to be stored"));
            }
            StreamId::new(id.ms, s.last_id.seq + 1)
        }
        Some((id, false)) => id,
    };
    match s.append(id, args.from(fields_at), limits) {
        Ok(()) => {}
        Err(AppendError::TooSmall) => return Err(TOO_SMALL),
        Err(AppendError::TooLarge) => return Err(err("ERR Elements are too large to be stored")),
    }
    let trimmed = a.trim.map_or(0, |how| s.trim(how, a.approx, a.limit));
    db.touch(key);
    db.notify(STREAM, "xadd", key);
    if trimmed > 0 {
        db.notify(STREAM, "xtrim", key);
    }
    db.signal_ready(key);
    Ok(id_reply(id))
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(db: &mut DbMut, args: &Args) -> CmdResult {
    let a = add_trim_args(args, false, db.op().limits().stream.node_max_entries)?;
    let key = args.get(1);
    let Some(s) = db.stream_mut_quiet(key)? else {
        return Ok(Reply::Int(0));
    };
    let deleted = a.trim.map_or(0, |how| s.trim(how, a.approx, a.limit));
    if deleted > 0 {
        db.notify(STREAM, "xtrim", key);
        db.touch(key);
    }
    Ok(Reply::Int(deleted as i64))
}

// ---- reading

/// XLEN key
pub fn xlen(db: &DbRef, args: &Args) -> CmdResult {
    Ok(Reply::Int(
        db.get_stream(args.get(1))?.map_or(0, |s| s.len() as i64),
    ))
}

fn xrange_generic(db: &DbRef, args: &Args, rev: bool) -> CmdResult {
    let (start_at, end_at) = if rev { (3, 2) } else { (2, 3) };
    let start = interval(args.get(start_at), 0, true)?;
    let end = interval(args.get(end_at), u64::MAX, false)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if args.is(j, "COUNT") && j + 1 < args.len() {
            count = args.int(j + 1)?.max(0);
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let Some(s) = db.get_stream(args.get(1))? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::NilArray);
    }
    let count = if count < 0 { 0 } else { count as usize };
    Ok(range_reply(s, start, end, rev, count))
}

/// XRANGE key start end [COUNT count]
pub fn xrange(db: &DbRef, args: &Args) -> CmdResult {
    xrange_generic(db, args, false)
}

/// XREVRANGE key end start [COUNT count]
pub fn xrevrange(db: &DbRef, args: &Args) -> CmdResult {
    xrange_generic(db, args, true)
}

/// How long a blocked XREAD may make its reply when it gave no COUNT (Redis's
/// `XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_DEFAULT_COUNT: usize = 1000;

/// A consumer group read: group, consumer, NOACK.
#[derive(Clone)]
struct GroupRead {
    group: Vec<u8>,
    consumer: Vec<u8>,
    noack: bool,
}

/// One stream's part of an XREAD reply, as a (key, entries) pair of the top level.
fn keyed(key: &[u8], entries: Reply) -> (Reply, Reply) {
    (Reply::bulk(key), entries)
}

/// The top level of an XREAD reply: an array of `[key, entries]` in RESP2, a map in RESP3.
fn top_level(parts: Vec<(Reply, Reply)>, proto: u8) -> Reply {
    if proto >= 3 {
        Reply::Map(parts)
    } else {
        Reply::Array(
            parts
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![k, v]))
                .collect(),
        )
    }
}

/// Makes sure `consumer` exists in `group` of the stream at `key` (seen now); announces a
/// new one.
fn touch_consumer(db: &mut DbMut, key: &[u8], group: &[u8], consumer: &[u8]) {
    let now = db.now_ms();
    let created = match db.stream_mut_quiet(key) {
        Ok(Some(s)) => s
            .groups
            .get_mut(group)
            .is_some_and(|g| g.touch_consumer(consumer, now)),
        _ => false,
    };
    if created {
        db.notify(STREAM, "xgroup-createconsumer", key);
    }
}

/// What a client blocked in XREAD or XREADGROUP waits for.
struct ReadRequest {
    keys: Vec<Vec<u8>>,
    /// The ID each key's entries must be greater than (XREAD).
    ids: Vec<StreamId>,
    count: usize,
    group: Option<GroupRead>,
    proto: u8,
}

impl Request for ReadRequest {
    fn serve(&self, db: &mut DbMut, key: &[u8]) -> Option<Vec<u8>> {
        let i = self.keys.iter().position(|k| k.as_slice() == key)?;
        let reply = match self.serve_key(db, key, self.ids[i]) {
            Ok(Some(r)) => {
                // A group read records what it delivered, as one served at once does.
                if let Some(g) = &self.group {
                    let entries = match &r {
                        Reply::Array(per_key) => per_key.first().and_then(|kv| match kv {
                            Reply::Array(pair) => pair.get(1),
                            _ => None,
                        }),
                        Reply::Map(per_key) => per_key.first().map(|(_, v)| v),
                        _ => None,
                    };
                    let ids = entries.map(entry_ids).unwrap_or_default();
                    group_read_record(db, key, &g.group, &g.consumer, &ids);
                }
                r
            }
            Ok(None) => return None,
            Err(e) => Reply::from(e),
        };
        let mut out = Vec::new();
        encode(&reply, self.proto, &mut out);
        Some(out)
    }
}

impl ReadRequest {
    fn serve_key(
        &self,
        db: &mut DbMut,
        key: &[u8],
        gt: StreamId,
    ) -> Result<Option<Reply>, CmdError> {
        let now = db.now_ms();
        let s = match db.stream_mut_quiet(key) {
            Ok(Some(s)) => s,
            _ if self.group.is_some() => {
                return Err(err("UNBLOCKED the stream key no longer exists"));
            }
            _ => return Ok(None),
        };
        let gt =
            match &self.group {
                Some(g) => match s.groups.get(g.group.as_slice()) {
                    Some(group) => group.last_id,
                    None => return Err(err(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    )),
                },
                None => gt,
            };
        if s.last_id <= gt {
            return Ok(None);
        }
        let start = gt.incr().unwrap_or(StreamId::MAX);
        let entries = match &self.group {
            Some(g) => {
                touch_consumer(db, key, &g.group, &g.consumer);
                let s = stream_for_write(db, key)?;
                owned_entries(s.deliver_new(&g.group, &g.consumer, start, self.count, g.noack, now))
            }
            None => range_reply(s, start, StreamId::MAX, false, self.count),
        };
        Ok(Some(top_level(vec![keyed(key, entries)], self.proto)))
    }
}

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
pub fn xread(db: &mut DbMut, args: &Args, proto: u8) -> Result<Step, CmdError> {
    read_generic(db, args, proto, false)
}

/// XREAD under the read lock: its answer (entries, nil, or an error) unless it has a
/// `BLOCK` option, `None` then. A read that may block runs [`xread`] under the write lock
/// instead, which looks its keys up once (a second look would count twice in
/// `keyspace_hits`) and parks the client if nothing is there.
pub fn xread_at_once(db: &DbRef, args: &Args, proto: u8) -> Result<Option<Reply>, CmdError> {
    let read = parse_read(args, false)?;
    if read.timeout.is_some() {
        return Ok(None);
    }
    let ids = read_ids(db, args, &read)?;
    let parts = plain_parts(db, read.keys(args), &ids, read.count)?;
    Ok(Some(if parts.is_empty() {
        Reply::NilArray
    } else {
        top_level(parts, proto)
    }))
}

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]
pub fn xreadgroup(db: &mut DbMut, args: &Args, proto: u8) -> Result<Step, CmdError> {
    read_generic(db, args, proto, true)
}

/// XREAD's and XREADGROUP's options.
struct ReadArgs {
    timeout: Option<i64>,
    count: i64,
    streams_at: usize,
    nstreams: usize,
    group: Option<GroupRead>,
    xreadgroup: bool,
}

impl ReadArgs {
    fn keys<'a>(&self, args: &'a Args) -> &'a [Vec<u8>] {
        &args.all()[self.streams_at..self.streams_at + self.nstreams]
    }
}

/// Parses XREAD's or XREADGROUP's options, with Redis's errors (`xreadCommand`).
fn parse_read(args: &Args, xreadgroup: bool) -> Result<ReadArgs, CmdError> {
    let argc = args.len();
    let mut timeout: Option<i64> = None;
    let mut count: i64 = 0;
    let mut streams_at = 0;
    let mut nstreams = 0;
    let mut group: Option<GroupRead> = None;
    let mut noack = false;
    let mut i = 1;
    while i < argc {
        let more = argc - i - 1;
        if args.is(i, "BLOCK") && more > 0 {
            i += 1;
            let t = parse_i64(args.get(i))
                .ok_or(err("ERR timeout is not an integer or out of range"))?;
            if t < 0 {
                return Err(err("ERR timeout is negative"));
            }
            timeout = Some(t);
        } else if args.is(i, "COUNT") && more > 0 {
            i += 1;
            count = args.int(i)?.max(0);
        } else if args.is(i, "STREAMS") && more > 0 {
            streams_at = i + 1;
            let n = argc - streams_at;
            if !n.is_multiple_of(2) {
                return Err(err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            nstreams = n / 2;
            break;
        } else if args.is(i, "GROUP") && more >= 2 {
            if !xreadgroup {
                return Err(err(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some(GroupRead {
                group: args.get(i + 1).to_vec(),
                consumer: args.get(i + 2).to_vec(),
                noack: false,
            });
            i += 2;
        } else if args.is(i, "NOACK") {
            if !xreadgroup {
                return Err(err(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    if streams_at == 0 {
        return Err(SYNTAX);
    }
    if xreadgroup && group.is_none() {
        return Err(err("ERR Missing GROUP option for XREADGROUP"));
    }
    if let Some(g) = group.as_mut() {
        g.noack = noack;
    }
    Ok(ReadArgs {
        timeout,
        count,
        streams_at,
        nstreams,
        group,
        xreadgroup,
    })
}

/// The ID each stream is read after (`$`: its last now; `>`: the group's, as `MAX`).
fn read_ids<K: std::ops::Deref<Target = Keyspace>>(
    db: &Db<K>,
    args: &Args,
    read: &ReadArgs,
) -> Result<Vec<StreamId>, CmdError> {
    let (group, xreadgroup, nstreams) = (&read.group, read.xreadgroup, read.nstreams);
    let keys = read.keys(args);
    let streams_at = read.streams_at;
    let mut ids = Vec::with_capacity(nstreams);
    for (k, key) in keys.iter().enumerate() {
        let arg = args.get(streams_at + nstreams + k);
        let s = db.get_stream(key)?;
        if let Some(g) = &group {
            if !s.is_some_and(|s| s.groups.contains_key(g.group.as_slice())) {
                return Err(CmdError::msg(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    shown(key),
                    shown(&g.group)
                )));
            }
        }
        if arg == b"$" {
            if xreadgroup {
                return Err(err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            ids.push(s.map_or(StreamId::MIN, |s| s.last_id));
        } else if arg == b">" {
            if !xreadgroup {
                return Err(err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
            }
            ids.push(StreamId::MAX);
        } else {
            ids.push(strict_id(arg)?);
        }
    }
    Ok(ids)
}

/// XREAD's entries (no group): for each stream with entries after its ID, its name and
/// up to `count` of them.
fn plain_parts<K: std::ops::Deref<Target = Keyspace>>(
    db: &Db<K>,
    keys: &[Vec<u8>],
    ids: &[StreamId],
    count: i64,
) -> Result<Vec<(Reply, Reply)>, CmdError> {
    let mut parts = Vec::new();
    for (key, &gt) in keys.iter().zip(ids) {
        let Some(s) = db.get_stream(key)? else {
            continue;
        };
        if !s
            .last_valid_id()
            .is_some_and(|max| !s.is_empty() && max > gt)
        {
            continue;
        }
        let start = gt.incr().unwrap_or(StreamId::MIN);
        parts.push(keyed(
            key,
            range_reply(s, start, StreamId::MAX, false, count as usize),
        ));
    }
    Ok(parts)
}

/// Redis's `xreadCommand`, both forms.
fn read_generic(
    db: &mut DbMut,
    args: &Args,
    proto: u8,
    xreadgroup: bool,
) -> Result<Step, CmdError> {
    let mut read = parse_read(args, xreadgroup)?;
    let ids = read_ids(db, args, &read)?;
    let (keys, count, timeout) = (read.keys(args), read.count, read.timeout);
    let Some(g) = read.group.take() else {
        let parts = plain_parts(db, keys, &ids, count)?;
        return Ok(wait_or_reply(
            parts, keys, &ids, count, timeout, None, proto,
        ));
    };
    let now = db.now_ms();
    let mut parts = Vec::new();
    for (key, &id) in keys.iter().zip(&ids) {
        let Some(s) = db.get_stream(key)? else {
            continue;
        };
        // An explicit ID reads the consumer's history; `>` what the group has not seen.
        let history = id != StreamId::MAX;
        let gt = if history {
            id
        } else {
            let last = s
                .groups
                .get(g.group.as_slice())
                .map_or(StreamId::MAX, |g| g.last_id);
            match s.last_valid_id() {
                Some(max) if !s.is_empty() && max > last => last,
                _ => continue,
            }
        };
        let start = gt.incr().unwrap_or(StreamId::MIN);
        touch_consumer(db, key, &g.group, &g.consumer);
        let s = stream_for_write(db, key)?;
        let entries = if history {
            let items = s.deliver_history(&g.group, &g.consumer, start, count as usize, now);
            Reply::Array(
                items
                    .into_iter()
                    .map(|(id, pairs)| match pairs {
                        Some(p) => entry_reply(id, &p),
                        None => Reply::Array(vec![id_reply(id), Reply::NilArray]),
                    })
                    .collect(),
            )
        } else {
            owned_entries(s.deliver_new(&g.group, &g.consumer, start, count as usize, g.noack, now))
        };
        parts.push(keyed(key, entries));
    }
    Ok(wait_or_reply(
        parts,
        keys,
        &ids,
        count,
        timeout,
        Some(g),
        proto,
    ))
}

/// What a read that found `parts` does: answers with them, or with nil if it may not
/// block, or waits on its keys.
fn wait_or_reply(
    parts: Vec<(Reply, Reply)>,
    keys: &[Vec<u8>],
    ids: &[StreamId],
    count: i64,
    timeout: Option<i64>,
    group: Option<GroupRead>,
    proto: u8,
) -> Step {
    if !parts.is_empty() {
        return Step::Reply(top_level(parts, proto));
    }
    let Some(timeout_ms) = timeout else {
        return Step::Reply(Reply::NilArray);
    };
    // Each key once, with the first ID given for it (as Redis's blockForKeys keeps it).
    let mut wait_keys: Vec<Vec<u8>> = Vec::new();
    let mut wait_ids = Vec::new();
    for (key, &id) in keys.iter().zip(ids) {
        if !wait_keys.contains(key) {
            wait_keys.push(key.clone());
            wait_ids.push(id);
        }
    }
    Step::Wait(Wait {
        keys: wait_keys.iter().map(|k| Box::from(k.as_slice())).collect(),
        request: Box::new(ReadRequest {
            keys: wait_keys,
            ids: wait_ids,
            count: if count > 0 {
                count as usize
            } else {
                BLOCKED_DEFAULT_COUNT
            },
            group,
            proto,
        }),
        timeout_ms,
        on_timeout: Reply::NilArray,
        in_multi: None,
    })
}

// ---- deleting

/// XDEL key id [id ...]
pub fn xdel(db: &mut DbMut, args: &Args) -> CmdResult {
    let key = args.get(1);
    let Some(s) = db.stream_mut_quiet(key)? else {
        return Ok(Reply::Int(0));
    };
    let ids = args
        .from(2)
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let deleted: Vec<StreamId> = ids.into_iter().filter(|&id| s.delete(id)).collect();
    s.note_deleted(&deleted);
    if !deleted.is_empty() {
        db.touch(key);
        db.notify(STREAM, "xdel", key);
    }
    Ok(Reply::Int(deleted.len() as i64))
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
pub fn xsetid(db: &mut DbMut, args: &Args) -> CmdResult {
    let id = strict_id(args.get(2))?;
    let mut entries_added: i64 = -1;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if args.is(i, "ENTRIESADDED") && more > 0 {
            entries_added = args.int(i + 1)?;
            if entries_added < 0 {
                return Err(err("ERR entries_added must be positive"));
            }
        } else if args.is(i, "MAXDELETEDID") && more > 0 {
            max_deleted = strict_id(args.get(i + 1))?;
            if id < max_deleted {
                return Err(err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
            }
        } else {
            return Err(SYNTAX);
        }
        i += 2;
    }
    let key = args.get(1);
    let s = db.stream_mut_quiet(key)?.ok_or(NO_SUCH_KEY)?;
    if !s.is_empty() {
        if s.last_valid_id().is_some_and(|max| id < max) {
            return Err(err(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.len() > entries_added as u64 {
            return Err(err("ERR The entries_added specified in XSETID is smaller than the target stream length"));
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_deleted.is_zero() {
        s.max_deleted_id = max_deleted;
    }
    db.notify(STREAM, "xsetid", key);
    Ok(Reply::ok())
}

// ---- consumer groups

/// The options after `XGROUP <sub> key group id` (MKSTREAM, ENTRIESREAD), then the key's
/// stream and group checks shared by the subcommands (Redis's `xgroupCommand` prologue).
struct GroupArgs {
    mkstream: bool,
    entries_read: i64,
}

fn group_args(args: &Args, create: bool, setid: bool) -> Result<GroupArgs, CmdError> {
    let mut a = GroupArgs {
        mkstream: false,
        entries_read: INVALID_ENTRIES_READ,
    };
    let mut i = 5;
    while i < args.len() {
        if create && args.is(i, "MKSTREAM") {
            a.mkstream = true;
            i += 1;
        } else if (create || setid) && args.is(i, "ENTRIESREAD") && i + 1 < args.len() {
            a.entries_read = args.int(i + 1)?;
            if a.entries_read < 0 && a.entries_read != INVALID_ENTRIES_READ {
                return Err(err("ERR value for ENTRIESREAD must be positive or -1"));
            }
            i += 2;
        } else {
            return Err(super::subcommand_syntax_error(args));
        }
    }
    Ok(a)
}

const XGROUP_NO_KEY: CmdError = err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");

/// The stream and group an XGROUP subcommand other than CREATE works on.
fn existing_group<'a>(
    db: &'a mut DbMut,
    args: &Args,
    must_have_group: bool,
) -> Result<(&'a mut Stream, bool), CmdError> {
    let (key, name) = (args.get(2), args.get(3));
    let s = db.stream_mut_quiet(key)?.ok_or(XGROUP_NO_KEY)?;
    let has = s.groups.contains_key(name);
    if !has && must_have_group {
        return Err(CmdError::msg(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            shown(name),
            shown(key)
        )));
    }
    Ok((s, has))
}

/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]
pub fn xgroup_create(db: &mut DbMut, args: &Args) -> CmdResult {
    let a = group_args(args, true, false)?;
    let (key, name) = (args.get(2), args.get(3));
    let exists = db.stream_mut_quiet(key)?.is_some();
    if !exists && !a.mkstream {
        return Err(XGROUP_NO_KEY);
    }
    if args.len() > 8 {
        return Err(super::subcommand_syntax_error(args));
    }
    let id = if args.get(4) == b"$" {
        db.get_stream(key)?.map_or(StreamId::MIN, |s| s.last_id)
    } else {
        strict_id(args.get(4))?
    };
    if !exists {
        db.set(key, Value::stream(Stream::new()), false);
    }
    let s = stream_for_write(db, key)?;
    if s.groups.contains_key(name) {
        return Err(err("BUSYGROUP Consumer Group name already exists"));
    }
    s.groups
        .insert(Box::from(name), Group::new(id, a.entries_read));
    db.notify(STREAM, "xgroup-create", key);
    Ok(Reply::ok())
}

/// XGROUP SETID key group id|$ [ENTRIESREAD entries-read]
pub fn xgroup_setid(db: &mut DbMut, args: &Args) -> CmdResult {
    let a = group_args(args, false, true)?;
    let (s, _) = existing_group(db, args, true)?;
    if args.len() != 5 && args.len() != 7 {
        return Err(super::subcommand_syntax_error(args));
    }
    let id = if args.get(4) == b"$" {
        s.last_id
    } else {
        parse_id_full(args.get(4), 0, false, false)?.0
    };
    if let Some(g) = s.groups.get_mut(args.get(3)) {
        g.last_id = id;
        g.entries_read = a.entries_read;
    }
    db.notify(STREAM, "xgroup-setid", args.get(2));
    Ok(Reply::ok())
}

/// XGROUP DESTROY key group
pub fn xgroup_destroy(db: &mut DbMut, args: &Args) -> CmdResult {
    group_args(args, false, false)?;
    let (s, has) = existing_group(db, args, false)?;
    if !has {
        return Ok(Reply::Int(0));
    }
    s.groups.remove(args.get(3));
    let key = args.get(2);
    db.notify(STREAM, "xgroup-destroy", key);
    // Clients blocked reading through the group are told it is gone.
    db.signal_ready(key);
    Ok(Reply::Int(1))
}

/// XGROUP CREATECONSUMER key group consumer
pub fn xgroup_createconsumer(db: &mut DbMut, args: &Args) -> CmdResult {
    group_args(args, false, false)?;
    let now = db.now_ms();
    let (s, _) = existing_group(db, args, true)?;
    let created = s.groups.get_mut(args.get(3)).is_some_and(|g| {
        !g.consumers.contains_key(args.get(4)) && g.touch_consumer(args.get(4), now)
    });
    if created {
        db.notify(STREAM, "xgroup-createconsumer", args.get(2));
    }
    Ok(Reply::Int(i64::from(created)))
}

/// XGROUP DELCONSUMER key group consumer
pub fn xgroup_delconsumer(db: &mut DbMut, args: &Args) -> CmdResult {
    group_args(args, false, false)?;
    let (s, _) = existing_group(db, args, true)?;
    let pending = s
        .groups
        .get_mut(args.get(3))
        .and_then(|g| g.remove_consumer(args.get(4)));
    if pending.is_some() {
        db.notify(STREAM, "xgroup-delconsumer", args.get(2));
    }
    Ok(Reply::Int(pending.unwrap_or(0) as i64))
}

/// XGROUP HELP
pub fn xgroup_help(_db: &DbRef, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    ))
}

/// XACK key group id [id ...]
pub fn xack(db: &mut DbMut, args: &Args) -> CmdResult {
    let Some(s) = db.stream_mut_quiet(args.get(1))? else {
        return Ok(Reply::Int(0));
    };
    let Some(g) = s.groups.get_mut(args.get(2)) else {
        return Ok(Reply::Int(0));
    };
    let ids = args
        .from(3)
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::Int(
        ids.into_iter().filter(|&id| g.ack(id)).count() as i64
    ))
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
pub fn xpending(db: &DbRef, args: &Args) -> CmdResult {
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(SYNTAX);
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut minidle = 0;
        if args.is(3, "IDLE") {
            minidle = args.int(4)?;
            if argc < 8 {
                return Err(SYNTAX);
            }
            at += 2;
        }
        let count = args.int(at + 2)?.max(0);
        let start = interval(args.get(at), 0, true)?;
        let end = interval(args.get(at + 1), u64::MAX, false)?;
        let consumer = (at + 3 < argc).then(|| args.get(at + 3));
        range = Some((minidle, start, end, count, consumer));
    }
    let (key, name) = (args.get(1), args.get(2));
    let g = db
        .get_stream(key)?
        .and_then(|s| s.groups.get(name))
        .ok_or_else(|| no_group(key, name))?;
    let Some((minidle, start, end, count, consumer)) = range else {
        if g.pel.is_empty() {
            return Ok(Reply::Array(vec![
                Reply::Int(0),
                Reply::Nil,
                Reply::Nil,
                Reply::NilArray,
            ]));
        }
        let first = g.pel.keys().next().copied().unwrap_or_default();
        let last = g.pel.keys().next_back().copied().unwrap_or_default();
        let by_consumer = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(n, c)| {
                Reply::Array(vec![
                    Reply::bulk(&**n),
                    Reply::Bulk(c.pel.len().to_string().into_bytes()),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Int(g.pel.len() as i64),
            id_reply(first),
            id_reply(last),
            Reply::Array(by_consumer),
        ]));
    };
    let now = db.now_ms();
    let ids: Box<dyn Iterator<Item = StreamId>> = match consumer {
        Some(c) => match g.consumers.get(c) {
            Some(c) => Box::new(c.pel.range(start..).copied()),
            None => return Ok(Reply::Array(Vec::new())),
        },
        None => Box::new(g.pel.keys().copied().filter(move |id| *id >= start)),
    };
    let mut out = Vec::new();
    let mut left = count;
    for id in ids {
        if left == 0 || id > end {
            break;
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        if minidle != 0 && now - nack.delivery_time < minidle {
            continue;
        }
        left -= 1;
        out.push(Reply::Array(vec![
            id_reply(id),
            Reply::bulk(&*nack.consumer),
            Reply::Int((now - nack.delivery_time).max(0)),
            Reply::Int(nack.delivery_count as i64),
        ]));
    }
    Ok(Reply::Array(out))
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-ms] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
pub fn xclaim(db: &mut DbMut, args: &Args) -> CmdResult {
    let (key, gname, cname) = (args.get(1), args.get(2), args.get(3));
    let has_group = db
        .stream_mut_quiet(key)?
        .is_some_and(|s| s.groups.contains_key(gname));
    if !has_group {
        return Err(no_group(key, gname));
    }
    let minidle = parse_i64(args.get(4))
        .ok_or(err("ERR Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match strict_id(args.get(j)) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = db.now_ms();
    let (mut force, mut justid) = (false, false);
    let mut retrycount: i64 = -1;
    let mut delivery: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let num = |i: usize, what: &'static str| parse_i64(args.get(i)).ok_or(err(what));
        if args.is(j, "FORCE") {
            force = true;
        } else if args.is(j, "JUSTID") {
            justid = true;
        } else if args.is(j, "IDLE") && more > 0 {
            j += 1;
            delivery = now - num(j, "ERR Invalid IDLE option argument for XCLAIM")?;
        } else if args.is(j, "TIME") && more > 0 {
            j += 1;
            delivery = num(j, "ERR Invalid TIME option argument for XCLAIM")?;
        } else if args.is(j, "RETRYCOUNT") && more > 0 {
            j += 1;
            retrycount = num(j, "ERR Invalid RETRYCOUNT option argument for XCLAIM")?;
        } else if args.is(j, "LASTID") && more > 0 {
            j += 1;
            last_id = strict_id(args.get(j))?;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                shown(args.get(j))
            )));
        }
        j += 1;
    }
    if delivery != -1 {
        if delivery < 0 || delivery > now {
            delivery = now;
        }
    } else {
        delivery = now;
    }
    let s = stream_for_write(db, key)?;
    if let Some(g) = s.groups.get_mut(gname) {
        if last_id > g.last_id {
            g.last_id = last_id;
        }
    }
    let mut out = Vec::new();
    let mut consumer = None;
    for id in ids {
        let exists = s.contains(id);
        let Some(g) = s.groups.get_mut(gname) else {
            break;
        };
        if !exists {
            // Deleted from the stream: it stops being pending.
            g.ack(id);
            continue;
        }
        let mut fresh = false;
        if force && !g.pel.contains_key(&id) {
            g.pel.insert(
                id,
                crate::store::stream::Nack {
                    delivery_time: now,
                    delivery_count: 1,
                    consumer: Box::from(&b""[..]),
                },
            );
            fresh = true;
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        if !fresh && minidle > 0 && now - nack.delivery_time < minidle {
            continue;
        }
        let retry = (retrycount >= 0).then_some(retrycount as u64);
        claim(g, id, cname, now, delivery, retry, justid, &mut consumer);
        out.push(if justid {
            id_reply(id)
        } else {
            match s.get(id) {
                Some(item) => entry_reply(id, &item.pairs),
                None => continue,
            }
        });
    }
    if consumer == Some(true) {
        db.notify(STREAM, "xgroup-createconsumer", key);
    }
    Ok(Reply::Array(out))
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(db: &mut DbMut, args: &Args) -> CmdResult {
    let (key, gname, cname) = (args.get(1), args.get(2), args.get(3));
    let minidle = parse_i64(args.get(4))
        .ok_or(err("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let start = interval(args.get(5), 0, true)?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if args.is(j, "COUNT") && more > 0 {
            count = args.range(j + 1, 1, i64::MAX / 16, "ERR COUNT must be > 0")?;
            j += 1;
        } else if args.is(j, "JUSTID") {
            justid = true;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let has_group = db
        .stream_mut_quiet(key)?
        .is_some_and(|s| s.groups.contains_key(gname));
    if !has_group {
        return Err(no_group(key, gname));
    }
    let now = db.now_ms();
    let s = stream_for_write(db, key)?;
    let mut attempts = count.saturating_mul(10);
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut cursor = Some(start);
    let mut consumer = None;
    let next_pending = |s: &Stream, from: Option<StreamId>| {
        from.and_then(|f| {
            s.groups
                .get(gname)?
                .pel
                .range(f..)
                .next()
                .map(|(id, _)| *id)
        })
    };
    let mut eof = false;
    while attempts > 0 && count > 0 {
        attempts -= 1;
        let Some(id) = next_pending(s, cursor) else {
            eof = true;
            break;
        };
        cursor = id.incr();
        let exists = s.contains(id);
        let Some(g) = s.groups.get_mut(gname) else {
            break;
        };
        if !exists {
            g.ack(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        if minidle > 0 && now - nack.delivery_time < minidle {
            continue;
        }
        claim(g, id, cname, now, now, None, justid, &mut consumer);
        claimed.push(if justid {
            id_reply(id)
        } else {
            match s.get(id) {
                Some(item) => entry_reply(id, &item.pairs),
                None => continue,
            }
        });
        count -= 1;
    }
    let end = if eof {
        StreamId::MIN
    } else {
        next_pending(s, cursor).unwrap_or(StreamId::MIN)
    };
    if consumer == Some(true) {
        db.notify(STREAM, "xgroup-createconsumer", key);
    }
    Ok(Reply::Array(vec![
        id_reply(end),
        Reply::Array(claimed),
        Reply::Array(deleted.into_iter().map(id_reply).collect()),
    ]))
}

// ---- XINFO

fn field(name: &'static str) -> Reply {
    Reply::bulk(name.as_bytes())
}

fn lag_reply(s: &Stream, g: &Group) -> Reply {
    s.lag(g).map_or(Reply::Nil, Reply::Int)
}

fn entries_read_reply(g: &Group) -> Reply {
    if g.entries_read == INVALID_ENTRIES_READ {
        Reply::Nil
    } else {
        Reply::Int(g.entries_read)
    }
}

/// XINFO STREAM key [FULL [COUNT count]]
pub fn xinfo_stream(db: &DbRef, args: &Args) -> CmdResult {
    let opts = args.len() - 3;
    let mut full = false;
    let mut count: i64 = 10;
    if opts > 0 {
        if (opts != 1 && opts != 3) || !args.is(3, "FULL") {
            return Err(super::subcommand_syntax_error(args));
        }
        full = true;
        if opts == 3 {
            if !args.is(4, "COUNT") {
                return Err(super::subcommand_syntax_error(args));
            }
            count = args.int(5)?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let s = db.get_stream(args.get(2))?.ok_or(NO_SUCH_KEY)?;
    let mut m = vec![
        (field("length"), Reply::Int(s.len() as i64)),
        (field("radix-tree-keys"), Reply::Int(s.node_count() as i64)),
        (
            field("radix-tree-nodes"),
            Reply::Int(s.radix_nodes() as i64),
        ),
        (field("last-generated-id"), id_reply(s.last_id)),
        (field("max-deleted-entry-id"), id_reply(s.max_deleted_id)),
        (field("entries-added"), Reply::Int(s.entries_added as i64)),
        (field("recorded-first-entry-id"), id_reply(s.first_id)),
    ];
    if !full {
        let edge = |rev: bool| {
            s.range(StreamId::MIN, StreamId::MAX, rev)
                .next()
                .map_or(Reply::Nil, |i| entry_reply(i.id, &i.pairs))
        };
        m.push((field("groups"), Reply::Int(s.groups.len() as i64)));
        m.push((field("first-entry"), edge(false)));
        m.push((field("last-entry"), edge(true)));
        return Ok(Reply::Map(m));
    }
    let count = count as usize;
    let limit = if count == 0 { usize::MAX } else { count };
    m.push((
        field("entries"),
        range_reply(s, StreamId::MIN, StreamId::MAX, false, count),
    ));
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pel
                .iter()
                .take(limit)
                .map(|(id, n)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::bulk(&*n.consumer),
                        Reply::Int(n.delivery_time),
                        Reply::Int(n.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let pending = c
                        .pel
                        .iter()
                        .take(limit)
                        .filter_map(|id| {
                            let n = g.pel.get(id)?;
                            Some(Reply::Array(vec![
                                id_reply(*id),
                                Reply::Int(n.delivery_time),
                                Reply::Int(n.delivery_count as i64),
                            ]))
                        })
                        .collect();
                    Reply::Map(vec![
                        (field("name"), Reply::bulk(&**cname)),
                        (field("seen-time"), Reply::Int(c.seen_time)),
                        (field("pel-count"), Reply::Int(c.pel.len() as i64)),
                        (field("pending"), Reply::Array(pending)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (field("name"), Reply::bulk(&**name)),
                (field("last-delivered-id"), id_reply(g.last_id)),
                (field("entries-read"), entries_read_reply(g)),
                (field("lag"), lag_reply(s, g)),
                (field("pel-count"), Reply::Int(g.pel.len() as i64)),
                (field("pending"), Reply::Array(pending)),
                (field("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    m.push((field("groups"), Reply::Array(groups)));
    Ok(Reply::Map(m))
}

/// XINFO GROUPS key
pub fn xinfo_groups(db: &DbRef, args: &Args) -> CmdResult {
    let s = db.get_stream(args.get(2))?.ok_or(NO_SUCH_KEY)?;
    Ok(Reply::Array(
        s.groups
            .iter()
            .map(|(name, g)| {
                Reply::Map(vec![
                    (field("name"), Reply::bulk(&**name)),
                    (field("consumers"), Reply::Int(g.consumers.len() as i64)),
                    (field("pending"), Reply::Int(g.pel.len() as i64)),
                    (field("last-delivered-id"), id_reply(g.last_id)),
                    (field("entries-read"), entries_read_reply(g)),
                    (field("lag"), lag_reply(s, g)),
                ])
            })
            .collect(),
    ))
}

/// XINFO CONSUMERS key group
pub fn xinfo_consumers(db: &DbRef, args: &Args) -> CmdResult {
    let (key, name) = (args.get(2), args.get(3));
    let s = db.get_stream(key)?.ok_or(NO_SUCH_KEY)?;
    let g = s.groups.get(name).ok_or_else(|| {
        CmdError::msg(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            shown(name),
            shown(key)
        ))
    })?;
    let now = db.now_ms();
    Ok(Reply::Array(
        g.consumers
            .iter()
            .map(|(cname, c)| {
                Reply::Map(vec![
                    (field("name"), Reply::bulk(&**cname)),
                    (field("pending"), Reply::Int(c.pel.len() as i64)),
                    (field("idle"), Reply::Int((now - c.seen_time).max(0))),
                ])
            })
            .collect(),
    ))
}

/// XINFO HELP
pub fn xinfo_help(_db: &DbRef, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_like_redis() {
        let p = |s: &str| parse_id_full(s.as_bytes(), 0, true, true).ok();
        assert_eq!(p("1-2"), Some((StreamId::new(1, 2), true)));
        assert_eq!(p("5"), Some((StreamId::new(5, 0), true)));
        assert_eq!(p("5-*"), Some((StreamId::new(5, 0), false)));
        assert_eq!(p("-"), None);
        assert_eq!(p("+"), None);
        assert_eq!(p("abc"), None);
        assert_eq!(p("1-"), None);
        assert_eq!(p("-1"), None);
        assert_eq!(p("007-01"), Some((StreamId::new(7, 1), true)));
        assert_eq!(
            p("18446744073709551615-18446744073709551615"),
            Some((StreamId::MAX, true))
        );
        assert_eq!(p("18446744073709551616"), None);
        assert_eq!(
            parse_id_full(b"+", u64::MAX, false, false).ok(),
            Some((StreamId::MAX, true))
        );
        assert_eq!(interval(b"(0-0", 0, false).ok(), None);
        assert_eq!(interval(b"(1-0", 0, true).ok(), Some(StreamId::new(1, 1)));
    }
}
