//! Keyspace commands (Redis's "generic" group: DEL, EXISTS, TYPE, EXPIRE, SCAN, ...).

use super::args::{err, Args, CmdError, CmdResult, DB_INDEX, NO_SUCH_KEY, SYNTAX};
use super::{Ctx, Prep};
use crate::persistence::object;
use crate::protocol::{Bulks, Reply, Shape};
use crate::store::notify::GENERIC;
use crate::store::value::Value;
use crate::store::{glob, rdbstr, Access, Db, DbMut, DbRef, Entry, Op};

const SAME_OBJECT: CmdError = err("ERR source and destination objects are the same");

/// DEL key [key ...]: a big value is freed once the database lock is released, before the
/// reply.
pub fn del(db: &mut DbMut, args: &Args) -> CmdResult {
    delete(db, args, false)
}

/// UNLINK key [key ...]: DEL that leaves freeing a big value to the lazyfree thread.
pub fn unlink(db: &mut DbMut, args: &Args) -> CmdResult {
    delete(db, args, true)
}

fn delete(db: &mut DbMut, args: &Args, lazy: bool) -> CmdResult {
    let mut n = 0;
    for k in args.from(1) {
        if db.delete(k, lazy) {
            db.notify(GENERIC, "del", k);
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

/// EXISTS key [key ...]: a key named twice counts twice. Does not mark keys used.
pub fn exists(db: &DbRef, args: &Args) -> CmdResult {
    let n = args.from(1).iter().filter(|k| db.peek(k).is_some()).count();
    Ok(Reply::Int(n as i64))
}

/// TOUCH key [key ...]: EXISTS that marks the keys used.
pub fn touch(db: &DbRef, args: &Args) -> CmdResult {
    let n = args
        .from(1)
        .iter()
        .filter(|k| db.entry(k).is_some())
        .count();
    Ok(Reply::Int(n as i64))
}

/// TYPE key (does not mark the key used)
pub fn type_(db: &DbRef, args: &Args) -> CmdResult {
    Ok(Reply::simple(
        db.peek(args.get(1)).map_or("none", |e| e.value.type_name()),
    ))
}

/// OBJECT ENCODING key
pub fn object_encoding(db: &DbRef, args: &Args) -> CmdResult {
    Ok(db
        .peek_quiet(args.get(2))
        .map_or(Reply::Nil, |e| Reply::bulk(e.value.encoding())))
}

/// OBJECT IDLETIME key: seconds since the key was last used (not tracked under LFU).
pub fn object_idletime(db: &DbRef, args: &Args) -> CmdResult {
    let Some(e) = db.peek_quiet(args.get(2)) else {
        return Ok(Reply::Nil);
    };
    match db.op().limits().access {
        Access::Lfu { .. } => Err(err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")),
        Access::Lru => Ok(Reply::Int(e.value.lru().idle_secs() as i64)),
    }
}

/// OBJECT REFCOUNT key: small integers are Redis's shared objects.
pub fn object_refcount(db: &DbRef, args: &Args) -> CmdResult {
    Ok(db.peek_quiet(args.get(2)).map_or(Reply::Nil, |e| {
        let shared = matches!(&e.value, crate::store::Value::Str(s, _)
            if crate::protocol::parse_i64(s).is_some_and(|n| (0..10_000).contains(&n)));
        Reply::Int(if shared { i64::from(i32::MAX) } else { 1 })
    }))
}

/// OBJECT FREQ key: the LFU counter, decayed; only an LFU policy tracks it.
pub fn object_freq(db: &DbRef, args: &Args) -> CmdResult {
    let Some(e) = db.peek_quiet(args.get(2)) else {
        return Ok(Reply::Nil);
    };
    match db.op().limits().access {
        access @ Access::Lfu { .. } => Ok(Reply::Int(i64::from(e.value.lru().lfu_count(access)))),
        Access::Lru => Err(err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")),
    }
}

/// OBJECT HELP
pub fn object_help(_db: &DbRef, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    ))
}

/// KEYS pattern
///
/// On its own, KEYS walks the database in chunks, taking the read lock for each and releasing
/// it between them, so a writer (and the readers queued behind a writer) waits one chunk,
/// not the whole walk. What it returns is SCAN's guarantee made exact: every key present for
/// the whole call is returned exactly once (the table may grow meanwhile, but does not
/// shrink, see [`crate::store::db::ShrinkHold`]); a key added or deleted meanwhile may or may
/// not be; a key that was never there is not. With no writer, that is Redis's reply.
pub fn keys(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let pattern = args.get(1);
    let all = pattern == b"*";
    let keep = |k: &[u8]| all || glob::matches(pattern, k, false);
    let i = ctx.client.db;
    if ctx.held.is_some() {
        // Inside EXEC or a script: at once, under the locks the transaction holds.
        return Ok(ctx.read_db(i, |db| {
            Reply::Array(
                db.iter()
                    .filter(|(k, _)| keep(k))
                    .map(|(k, _)| Reply::Bulk(k.to_vec()))
                    .collect(),
            )
        }));
    }
    let mut found = Bulks::new(Shape::Array);
    let (mut cursor, mut hold) = (0u64, None);
    loop {
        // Room first, with no lock held.
        found.make_room();
        let ks = ctx.server.store.read(i);
        let db = Db::new(&*ks, ctx.op);
        hold.get_or_insert_with(|| db.hold_shrink());
        let (mut keys, mut buckets) = (0, 0);
        loop {
            cursor = db.scan_quiet(cursor, |k, _| {
                keys += 1;
                if keep(k) {
                    found.push(k);
                }
            });
            buckets += 1;
            if cursor == 0 || keys >= super::access::CHUNK || buckets >= CHUNK_BUCKETS {
                break;
            }
        }
        drop(ks);
        crate::store::note_chunk(keys);
        if cursor == 0 {
            return Ok(Reply::Bulks(found));
        }
    }
}

/// A chunk of KEYS: at most [`super::access::CHUNK`] keys, or this many buckets (empty ones
/// cost little), per lock hold.
const CHUNK_BUCKETS: usize = 4096;

/// Parses a SCAN cursor like Redis (`strtoul` over the whole string).
pub fn parse_cursor(raw: &[u8]) -> Result<u64, CmdError> {
    const INVALID: CmdError = err("ERR invalid cursor");
    let (neg, digits) = match raw.first() {
        Some(b'-') => (true, &raw[1..]),
        Some(b'+') => (false, &raw[1..]),
        _ => (false, raw),
    };
    if raw.is_empty() {
        return Ok(0);
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(INVALID);
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(INVALID)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// The `[MATCH pattern] [COUNT count] [TYPE type]` options of the SCAN family.
pub struct ScanOptions<'a> {
    /// `None` also for `MATCH *`, which is no filter at all (Redis's `use_pattern`).
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
    pub type_name: Option<&'a [u8]>,
}

impl ScanOptions<'_> {
    pub fn matches(&self, name: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob::matches(p, name, false))
    }
}

/// Parses the SCAN options from argument `at` on (`TYPE` only where `with_type`).
pub fn scan_options<'a>(
    args: &Args<'a>,
    at: usize,
    with_type: bool,
) -> Result<ScanOptions<'a>, CmdError> {
    let mut o = ScanOptions {
        pattern: None,
        count: 10,
        type_name: None,
    };
    let mut i = at;
    while i < args.len() {
        let more = args.len() - i >= 2;
        if args.is(i, "COUNT") && more {
            let count = args.int(i + 1)?;
            if count < 1 {
                return Err(SYNTAX);
            }
            o.count = count as usize;
        } else if args.is(i, "MATCH") && more {
            o.pattern = Some(args.get(i + 1)).filter(|p| *p != b"*");
        } else if with_type && args.is(i, "TYPE") && more {
            o.type_name = Some(args.get(i + 1));
        } else {
            return Err(SYNTAX);
        }
        i += 2;
    }
    Ok(o)
}

/// Redis's scan loop: steps from `cursor` until the scan ends, `count` items are collected
/// (a pair counts as two, as in Redis), or `10 * count` steps are taken. `step` visits one
/// bucket, appending what it finds, and returns the next cursor.
pub fn scan_steps(
    mut cursor: u64,
    count: usize,
    found: &mut Vec<Reply>,
    mut step: impl FnMut(u64, &mut Vec<Reply>) -> u64,
) -> u64 {
    let mut steps = count.saturating_mul(10);
    loop {
        cursor = step(cursor, found);
        if cursor == 0 || steps == 0 || found.len() >= count {
            return cursor;
        }
        steps -= 1;
    }
}

/// The reply of the SCAN family: `[cursor, [items]]`.
pub fn scan_reply(cursor: u64, found: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(cursor.to_string().into_bytes()),
        Reply::Array(found),
    ])
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
pub fn scan(db: &DbRef, args: &Args) -> CmdResult {
    let cursor = parse_cursor(args.get(1))?;
    let o = scan_options(args, 2, true)?;
    let mut found = Vec::new();
    let cursor = scan_steps(cursor, o.count, &mut found, |c, found| {
        db.scan(c, |k, e| {
            let type_ok = o
                .type_name
                .is_none_or(|t| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()));
            if type_ok && o.matches(k) {
                found.push(Reply::Bulk(k.to_vec()));
            }
        })
    });
    Ok(scan_reply(cursor, found))
}

/// RANDOMKEY
pub fn randomkey(db: &DbRef, _args: &Args) -> CmdResult {
    Ok(db
        .random_key()
        .map_or(Reply::Nil, |k| Reply::Bulk(k.to_vec())))
}

/// RENAME key newkey
pub fn rename(db: &mut DbMut, args: &Args) -> CmdResult {
    rename_generic(db, args, false)
}

/// RENAMENX key newkey
pub fn renamenx(db: &mut DbMut, args: &Args) -> CmdResult {
    rename_generic(db, args, true)
}

fn rename_generic(db: &mut DbMut, args: &Args, nx: bool) -> CmdResult {
    let (src, dst) = (args.get(1), args.get(2));
    if !db.contains(src) {
        return Err(NO_SUCH_KEY);
    }
    if src == dst {
        return Ok(if nx { Reply::Int(0) } else { Reply::ok() });
    }
    if nx && db.contains(dst) {
        return Ok(Reply::Int(0));
    }
    let entry = db.remove(src).ok_or(NO_SUCH_KEY)?;
    db.insert_entry(dst, entry);
    db.notify(GENERIC, "rename_from", src);
    db.notify(GENERIC, "rename_to", dst);
    Ok(if nx { Reply::Int(1) } else { Reply::ok() })
}

/// Parses a database index argument against the number of databases.
fn db_index(ctx: &Ctx, args: &Args, i: usize) -> Result<usize, CmdError> {
    let n = args.int32(i)?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n < ctx.server.store.len())
        .ok_or(DB_INDEX)
}

/// COPY source destination [DB destination-db] [REPLACE]
pub fn copy(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (src, dst) = (args.get(1), args.get(2));
    let (mut replace, mut target) = (false, ctx.client.db);
    let mut i = 3;
    while i < args.len() {
        if args.is(i, "REPLACE") {
            replace = true;
        } else if args.is(i, "DB") && i + 1 < args.len() {
            target = db_index(ctx, args, i + 1)?;
            i += 1;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    let here = ctx.client.db;
    if here == target && src == dst {
        return Err(SAME_OBJECT);
    }
    if here == target {
        return Ok(ctx.write_db(here, |db| {
            let entry = db.entry(src).cloned();
            copy_entry(entry, db, dst, replace)
        }));
    }
    Ok(ctx.write_pair(here, target, |from, to| {
        let entry = from.entry(src).cloned();
        copy_entry(entry, to, dst, replace)
    }))
}

/// Stores a copy of the source entry (if any) at `dst` unless it exists and `replace` is off.
fn copy_entry(entry: Option<Entry>, to: &mut DbMut, dst: &[u8], replace: bool) -> Reply {
    match entry {
        Some(entry) if replace || !to.contains(dst) => {
            // A copy is a new object: under LFU its counter starts afresh (RENAME and MOVE
            // keep theirs).
            entry.value.lru().init(to.op().limits().access);
            to.insert_entry(dst, entry);
            to.notify(GENERIC, "copy_to", dst);
            Reply::Int(1)
        }
        _ => Reply::Int(0),
    }
}

/// MOVE key db
pub fn move_(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let key = args.get(1);
    let target = db_index(ctx, args, 2)?;
    let here = ctx.client.db;
    if here == target {
        return Err(SAME_OBJECT);
    }
    Ok(ctx.write_pair(here, target, |from, to| {
        if !from.contains(key) || to.contains(key) {
            return Reply::Int(0);
        }
        let Some(entry) = from.remove(key) else {
            return Reply::Int(0);
        };
        to.insert_entry(key, entry);
        from.notify(GENERIC, "move_from", key);
        to.notify(GENERIC, "move_to", key);
        Reply::Int(1)
    }))
}

/// Which of EXPIRE's NX|XX|GT|LT were given.
#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn expire_flags(args: &Args) -> Result<ExpireFlags, CmdError> {
    let mut f = ExpireFlags::default();
    for i in 3..args.len() {
        if args.is(i, "NX") {
            f.nx = true;
        } else if args.is(i, "XX") {
            f.xx = true;
        } else if args.is(i, "GT") {
            f.gt = true;
        } else if args.is(i, "LT") {
            f.lt = true;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unsupported option {}",
                args.text(i)
            )));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(err(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if f.gt && f.lt {
        return Err(err(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(f)
}

/// The body of EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT (Redis's `expireGenericCommand`).
fn expire_generic(db: &mut DbMut, args: &Args, seconds: bool, relative: bool) -> CmdResult {
    let key = args.get(1);
    let flags = expire_flags(args)?;
    let mut when = args.int(2)?;
    let cmd = args.text(0).to_ascii_lowercase();
    let invalid = || CmdError::msg(format!("ERR invalid expire time in '{cmd}' command"));
    if seconds {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    if relative {
        when = when.checked_add(db.now_ms()).ok_or_else(invalid)?;
    }
    let Some(current) = db.expire_of(key) else {
        return Ok(Reply::Int(0));
    };
    let has_ttl = current != 0;
    let refused = (flags.nx && has_ttl)
        || (flags.xx && !has_ttl)
        || (flags.gt && (!has_ttl || when <= current))
        || (flags.lt && has_ttl && when >= current);
    if refused {
        return Ok(Reply::Int(0));
    }
    if when <= db.expiry_now() {
        db.delete(key, false);
        db.notify(GENERIC, "del", key);
    } else {
        db.set_expire(key, when);
        db.notify(GENERIC, "expire", key);
    }
    Ok(Reply::Int(1))
}

/// EXPIRE key seconds [NX|XX|GT|LT]
pub fn expire(db: &mut DbMut, args: &Args) -> CmdResult {
    expire_generic(db, args, true, true)
}

/// PEXPIRE key milliseconds [NX|XX|GT|LT]
pub fn pexpire(db: &mut DbMut, args: &Args) -> CmdResult {
    expire_generic(db, args, false, true)
}

/// EXPIREAT key unix-time-seconds [NX|XX|GT|LT]
pub fn expireat(db: &mut DbMut, args: &Args) -> CmdResult {
    expire_generic(db, args, true, false)
}

/// PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]
pub fn pexpireat(db: &mut DbMut, args: &Args) -> CmdResult {
    expire_generic(db, args, false, false)
}

/// -2 for a missing key, -1 for no TTL, else what `f` makes of the absolute expiry and the
/// command's instant.
fn ttl_generic(db: &DbRef, args: &Args, f: impl Fn(i64, i64) -> i64) -> CmdResult {
    Ok(Reply::Int(match db.peek(args.get(1)).map(|e| e.expire) {
        None => -2,
        Some(0) => -1,
        Some(at) => f(at, db.now_ms()),
    }))
}

/// TTL key (seconds, rounded)
pub fn ttl(db: &DbRef, args: &Args) -> CmdResult {
    ttl_generic(db, args, |at, now| ((at - now).max(0) + 500) / 1000)
}

/// PTTL key
pub fn pttl(db: &DbRef, args: &Args) -> CmdResult {
    ttl_generic(db, args, |at, now| (at - now).max(0))
}

/// EXPIRETIME key
pub fn expiretime(db: &DbRef, args: &Args) -> CmdResult {
    ttl_generic(db, args, |at, _| (at + 500) / 1000)
}

/// PEXPIRETIME key
pub fn pexpiretime(db: &DbRef, args: &Args) -> CmdResult {
    ttl_generic(db, args, |at, _| at)
}

/// PERSIST key
pub fn persist(db: &mut DbMut, args: &Args) -> CmdResult {
    let key = args.get(1);
    let done = db.persist(key);
    if done {
        db.notify(GENERIC, "persist", key);
    }
    Ok(Reply::Int(i64::from(done)))
}

/// DUMP key: the value in Redis's RDB encoding, with the RDB version and a CRC-64.
pub fn dump(db: &DbRef, args: &Args) -> CmdResult {
    let Some(e) = db.entry(args.get(1)) else {
        return Ok(Reply::Nil);
    };
    let limits = db.op().limits();
    let mut out = Vec::new();
    object::save(
        &mut out,
        &e.value,
        object::SaveOptions {
            compress: limits.rdb_compression,
            list_fill: limits.list_fill,
        },
    );
    rdbstr::seal(&mut out);
    Ok(Reply::Bulk(out))
}

/// What RESTORE decoded before taking the lock: the value, or the error it answers with
/// (and the reason it logs) once the checks that come first in Redis's order have passed.
type Decoded = Result<Value, (CmdError, Option<String>)>;

/// RESTORE's options.
struct RestoreOptions {
    replace: bool,
    absttl: bool,
    idle: Option<i64>,
    freq: Option<i64>,
}

/// RESTORE's options, with Redis's errors.
fn restore_options(args: &Args) -> Result<RestoreOptions, CmdError> {
    let mut o = RestoreOptions {
        replace: false,
        absttl: false,
        idle: None,
        freq: None,
    };
    let mut i = 4;
    while i < args.len() {
        let more = i + 1 < args.len();
        if args.is(i, "REPLACE") {
            o.replace = true;
        } else if args.is(i, "ABSTTL") {
            o.absttl = true;
        } else if args.is(i, "IDLETIME") && more && o.freq.is_none() {
            let v = args.int(i + 1)?;
            if v < 0 {
                return Err(err("ERR Invalid IDLETIME value, must be >= 0"));
            }
            o.idle = Some(v);
            i += 1;
        } else if args.is(i, "FREQ") && more && o.idle.is_none() {
            let v = args.int(i + 1)?;
            if !(0..=255).contains(&v) {
                return Err(err("ERR Invalid FREQ value, must be >= 0 and <= 255"));
            }
            o.freq = Some(v);
            i += 1;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    Ok(o)
}

/// RESTORE's TTL argument, with Redis's errors.
fn restore_ttl(args: &Args) -> Result<i64, CmdError> {
    let ttl = args.int(2)?;
    if ttl < 0 {
        return Err(err("ERR Invalid TTL value, must be >= 0"));
    }
    Ok(ttl)
}

/// RESTORE's first half, with no lock held: checks the payload's version and checksum and
/// decodes it. A value of a million elements takes a good part of a second to decode, and
/// every other client of the database would wait that long behind the write lock. Not when
/// the options or the TTL are refused: the second half answers that before the payload.
pub fn restore_decode(op: &Op, args: &Args) -> Prep {
    if restore_options(args).is_err() || restore_ttl(args).is_err() {
        return Box::new(None::<Decoded>);
    }
    let decoded: Decoded = match rdbstr::unseal(args.get(3)) {
        None => Err((err("ERR DUMP payload version or checksum are wrong"), None)),
        Some(body) => {
            let mut pos = 1;
            let loaded = match body.first() {
                Some(&t) => object::load(t, body, &mut pos, op.limits()),
                None => Err(object::LoadError::Corrupt(
                    "Unexpected EOF reading RDB file",
                )),
            };
            // Redis's rdbReportCorruptRDB: the reason goes to the log, the client gets the
            // generic error.
            loaded.map_err(|e| {
                let why = match e {
                    object::LoadError::Corrupt(why) => Some(format!(
                        "Internal error in RDB reading offset {pos}, RESTORE -> {why}"
                    )),
                    _ => None,
                };
                (err("ERR Bad data format"), why)
            })
        }
    };
    Box::new(Some(decoded))
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency],
/// under the write lock, with the value `restore_decode` made.
pub fn restore(db: &mut DbMut, args: &Args, made: Prep) -> CmdResult {
    let key = args.get(1);
    let o = restore_options(args)?;
    if !o.replace && db.contains(key) {
        return Err(err("BUSYKEY Target key name already exists."));
    }
    let mut ttl = restore_ttl(args)?;
    let limits = *db.op().limits();
    let Some(decoded) = made.downcast::<Option<Decoded>>().ok().and_then(|d| *d) else {
        return Err(err("ERR internal error while running 'restore'"));
    };
    let value = match decoded {
        Ok(v) => v,
        Err((e, why)) => {
            if let Some(why) = why {
                log::warn!("{why}");
            }
            return Err(e);
        }
    };
    // The old value is freed once the lock is released, as DEL frees it.
    let deleted = o.replace && db.delete(key, false);
    if ttl != 0 && !o.absttl {
        ttl = ttl.saturating_add(db.now_ms());
    }
    if ttl != 0 && ttl <= db.expiry_now() {
        if deleted {
            db.notify(GENERIC, "del", key);
        }
        return Ok(Reply::ok());
    }
    value.lru().init(limits.access);
    match limits.access {
        Access::Lfu { .. } => {
            if let Some(f) = o.freq {
                value.lru().set_freq(f as u8);
            }
        }
        Access::Lru => {
            if let Some(s) = o.idle {
                value.lru().set_idle(s as u64);
            }
        }
    }
    db.insert_entry(key, Entry { value, expire: ttl });
    db.notify(GENERIC, "restore", key);
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursor_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b"").ok(), Some(0));
        assert_eq!(parse_cursor(b"+5").ok(), Some(5));
        assert_eq!(parse_cursor(b"-1").ok(), Some(u64::MAX));
        assert!(parse_cursor(b"x").is_err());
        assert!(parse_cursor(b" 1").is_err());
        assert!(parse_cursor(b"99999999999999999999999").is_err());
    }
}
