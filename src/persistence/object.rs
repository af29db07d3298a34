//! One value in RDB's object encoding (Redis's `rdbSaveObjectType` + `rdbSaveObject`, and
//! `rdbLoadObject`): the body of a DUMP payload and of every key in an RDB file.
//!
//! Writing uses what Redis 7.0 writes for the same value where Spindle's form matches
//! Redis's (listpacks for small hashes and sorted sets, intsets, quicklist-2 lists with
//! Redis's node sizes, stream listpacks), so a DUMP is byte for byte Redis's in those cases;
//! other values use the plain encodings, which every Redis reads. Reading accepts every
//! encoding Redis 7.0 reads, back to the zipmaps of RDB 2, and checks everything it reads:
//! a payload either becomes a whole, valid value or is refused.

use std::collections::HashSet;

use crate::store::clock::Limits;
use crate::store::list::End;
use crate::store::listpack::{self, Elem, LpWriter};
use crate::store::rdbstr::{load_len, load_string, save_len, save_string_with};
use crate::store::stream::{Group, Nack};
use crate::store::{Hash, List, Set, Stream, StreamId, Value, ZSet};

pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;

/// Quicklist-2 node containers.
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// Why a value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// A well-formed but empty collection (Redis skips these in files and refuses them in
    /// RESTORE).
    Empty,
    /// Short, malformed or inconsistent data, with Redis's wording where it has one.
    Corrupt(&'static str),
}

type Load<T> = Result<T, LoadError>;

const SHORT: LoadError = LoadError::Corrupt("Unexpected EOF reading RDB file");

/// How values are written.
#[derive(Debug, Clone, Copy)]
pub struct SaveOptions {
    /// `rdbcompression`: LZF for strings over 20 bytes.
    pub compress: bool,
    /// `list-max-listpack-size`: how lists are cut into nodes.
    pub list_fill: i64,
}

// ---- writing

/// Appends `v`'s type byte and encoding (a DUMP payload's body).
pub fn save(out: &mut Vec<u8>, v: &Value, opts: SaveOptions) {
    out.push(type_byte(v));
    save_body(out, v, opts);
}

/// The RDB type `v` is written as (see [`save_body`]).
pub fn type_byte(v: &Value) -> u8 {
    match v {
        Value::Str(..) => TYPE_STRING,
        Value::List(..) => TYPE_LIST_QUICKLIST_2,
        Value::Hash(h, _) if h.is_table() => TYPE_HASH,
        Value::Hash(..) => TYPE_HASH_LISTPACK,
        Value::Set(s, _) if s.is_intset() => TYPE_SET_INTSET,
        Value::Set(..) => TYPE_SET,
        Value::ZSet(z, _) if z.is_big() => TYPE_ZSET_2,
        Value::ZSet(..) => TYPE_ZSET_LISTPACK,
        Value::Stream(..) => TYPE_STREAM_LISTPACKS_2,
    }
}

/// Appends `v`'s encoding, in the type [`type_byte`] names.
pub fn save_body(out: &mut Vec<u8>, v: &Value, opts: SaveOptions) {
    let string = |out: &mut Vec<u8>, s: &[u8]| save_string_with(out, s, opts.compress);
    match v {
        Value::Str(s, _) => {
            string(out, s);
        }
        Value::List(l, _) => {
            let nodes = list_nodes(l, opts.list_fill);
            save_len(out, nodes.len() as u64);
            for lp in nodes {
                save_len(out, CONTAINER_PACKED);
                string(out, &lp);
            }
        }
        Value::Hash(h, _) => {
            if h.is_table() {
                save_len(out, h.len() as u64);
                for (f, v) in h.iter() {
                    string(out, f);
                    string(out, v);
                }
            } else {
                let mut lp = LpWriter::new();
                for (f, v) in h.iter() {
                    lp.push(f);
                    lp.push(v);
                }
                string(out, &lp.finish());
            }
        }
        Value::Set(s, _) => {
            if s.is_intset() {
                let members: Vec<i64> = s
                    .iter()
                    .filter_map(|m| crate::protocol::parse_i64(&m))
                    .collect();
                string(out, &listpack::intset_write(&members));
            } else {
                save_len(out, s.len() as u64);
                for m in s.iter() {
                    string(out, &m);
                }
            }
        }
        Value::ZSet(z, _) => {
            if z.is_big() {
                // Highest first, as Redis walks its skiplist from the tail, so that loading
                // inserts each element at the head.
                save_len(out, z.len() as u64);
                for (m, score) in z.range(z.len().saturating_sub(1), true) {
                    string(out, m);
                    out.extend_from_slice(&score.to_le_bytes());
                }
            } else {
                let mut lp = LpWriter::new();
                for (m, score) in z.iter() {
                    lp.push(m);
                    lp.push(&d2string(score));
                }
                string(out, &lp.finish());
            }
        }
        Value::Stream(s, _) => {
            save_stream(out, s, opts);
        }
    }
}

/// Cuts a list into listpacks as Redis's quicklist fills its nodes when elements are pushed
/// at the tail (`_quicklistNodeAllowInsert`), so that a list built by RPUSH dumps as Redis
/// dumps it.
pub fn list_nodes(l: &List, fill: i64) -> Vec<Vec<u8>> {
    const LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
    const SAFETY: usize = 8192;
    let fits = |lp: &LpWriter, len: usize| {
        let new_sz = lp.bytes() + len + 8;
        if fill < 0 {
            new_sz <= LEVELS[usize::try_from(-fill - 1).unwrap_or(0).min(4)]
        } else {
            new_sz <= SAFETY && (lp.count() as i64) < fill
        }
    };
    let mut nodes = Vec::new();
    let mut lp = LpWriter::new();
    for e in l.iter() {
        if lp.count() > 0 && !fits(&lp, e.len()) {
            nodes.push(std::mem::take(&mut lp).finish());
        }
        lp.push(e);
    }
    if lp.count() > 0 {
        nodes.push(lp.finish());
    }
    nodes
}

/// A score as Redis writes it into a listpack (`d2string`): integers in decimal while
/// exact, else `%.17g`.
fn d2string(d: f64) -> Vec<u8> {
    const HALF: f64 = (i64::MAX / 2) as f64;
    if d.is_finite() && d != 0.0 && (-HALF..=HALF).contains(&d) && d.fract() == 0.0 {
        return (d as i64).to_string().into_bytes();
    }
    crate::protocol::reply::format_double(d).into_bytes()
}

fn save_id(out: &mut Vec<u8>, id: StreamId) {
    save_len(out, id.ms);
    save_len(out, id.seq);
}

fn raw_id(id: StreamId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&id.ms.to_be_bytes());
    k[8..].copy_from_slice(&id.seq.to_be_bytes());
    k
}

fn save_stream(out: &mut Vec<u8>, s: &Stream, opts: SaveOptions) {
    let nodes: Vec<_> = s.rdb_nodes().collect();
    save_len(out, nodes.len() as u64);
    for (master, lp) in nodes {
        save_string_with(out, &raw_id(master), opts.compress);
        save_string_with(out, &lp, opts.compress);
    }
    save_len(out, s.len());
    save_id(out, s.last_id);
    save_id(out, s.first_id);
    save_id(out, s.max_deleted_id);
    save_len(out, s.entries_added);
    save_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        save_string_with(out, name, opts.compress);
        save_id(out, g.last_id);
        save_len(out, g.entries_read as u64);
        save_len(out, g.pel.len() as u64);
        for (id, nack) in &g.pel {
            out.extend_from_slice(&raw_id(*id));
            out.extend_from_slice(&nack.delivery_time.to_le_bytes());
            save_len(out, nack.delivery_count);
        }
        save_len(out, g.consumers.len() as u64);
        for (name, c) in &g.consumers {
            save_string_with(out, name, opts.compress);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            save_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&raw_id(*id));
            }
        }
    }
}

// ---- reading

fn len(buf: &[u8], pos: &mut usize) -> Load<u64> {
    load_len(buf, pos).ok_or(SHORT)
}

fn string(buf: &[u8], pos: &mut usize) -> Load<Vec<u8>> {
    load_string(buf, pos).ok_or(SHORT)
}

fn bytes<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Load<&'a [u8]> {
    let s = buf
        .get(*pos..pos.checked_add(n).ok_or(SHORT)?)
        .ok_or(SHORT)?;
    *pos += n;
    Ok(s)
}

fn le_i64(buf: &[u8], pos: &mut usize) -> Load<i64> {
    let b = bytes(buf, pos, 8)?;
    Ok(i64::from_le_bytes(b.try_into().map_err(|_| SHORT)?))
}

/// Room for a count read from the data: never more than the data could fill, and at most
/// 64K up front (more comes as elements really arrive).
fn capacity(n: u64, buf: &[u8], pos: usize) -> usize {
    usize::try_from(n)
        .unwrap_or(usize::MAX)
        .min(buf.len().saturating_sub(pos))
        .min(1 << 16)
}

/// Reads a value of type `t` (its type byte already read) at `*pos`, in the forms `limits`
/// call for.
pub fn load(t: u8, buf: &[u8], pos: &mut usize, limits: &Limits) -> Load<Value> {
    match t {
        TYPE_STRING => Ok(Value::str(string(buf, pos)?)),
        TYPE_LIST => {
            let n = len(buf, pos)?;
            let mut l = List::new();
            for _ in 0..n {
                l.push(End::Right, &string(buf, pos)?, limits.list_fill);
            }
            nonempty_list(l)
        }
        TYPE_LIST_ZIPLIST => {
            let zl = string(buf, pos)?;
            let elems = listpack::zl_read(&zl)
                .ok_or(LoadError::Corrupt("List ziplist integrity check failed."))?;
            let mut l = List::new();
            for e in elems {
                l.push(End::Right, &e.to_vec(), limits.list_fill);
            }
            nonempty_list(l)
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let n = len(buf, pos)?;
            if n == 0 {
                return Err(LoadError::Empty);
            }
            let mut l = List::new();
            for _ in 0..n {
                let container = if t == TYPE_LIST_QUICKLIST_2 {
                    len(buf, pos)?
                } else {
                    CONTAINER_PACKED
                };
                let data = string(buf, pos)?;
                if data.is_empty() {
                    return Err(SHORT);
                }
                match container {
                    CONTAINER_PLAIN => l.push(End::Right, &data, limits.list_fill),
                    CONTAINER_PACKED => {
                        let elems = if t == TYPE_LIST_QUICKLIST_2 {
                            listpack::lp_read(&data)
                                .ok_or(LoadError::Corrupt("Listpack integrity check failed."))?
                        } else {
                            listpack::zl_read(&data)
                                .ok_or(LoadError::Corrupt("Ziplist integrity check failed."))?
                        };
                        for e in elems {
                            l.push(End::Right, &e.to_vec(), limits.list_fill);
                        }
                    }
                    _ => return Err(LoadError::Corrupt("Quicklist integrity check failed.")),
                }
            }
            nonempty_list(l)
        }
        TYPE_SET => {
            let n = len(buf, pos)?;
            if n == 0 {
                return Err(LoadError::Empty);
            }
            let mut s = Set::new();
            for _ in 0..n {
                if !s.insert(&string(buf, pos)?, limits.set) {
                    return Err(LoadError::Corrupt("Duplicate set members detected"));
                }
            }
            Ok(Value::set(s))
        }
        TYPE_SET_INTSET => {
            let blob = string(buf, pos)?;
            let members = listpack::intset_read(&blob)
                .ok_or(LoadError::Corrupt("Intset integrity check failed."))?;
            let mut s = Set::new();
            for m in members {
                s.insert(m.to_string().as_bytes(), limits.set);
            }
            if s.is_empty() {
                return Err(LoadError::Empty);
            }
            Ok(Value::set(s))
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = len(buf, pos)?;
            if n == 0 {
                return Err(LoadError::Empty);
            }
            let mut items = Vec::with_capacity(capacity(n, buf, *pos));
            for _ in 0..n {
                let m = string(buf, pos)?;
                let score = if t == TYPE_ZSET_2 {
                    f64::from_bits(le_i64(buf, pos)? as u64)
                } else {
                    text_double(buf, pos)?
                };
                items.push((m, score));
            }
            zset_from(items, limits)
        }
        TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
            let blob = string(buf, pos)?;
            let elems = if t == TYPE_ZSET_LISTPACK {
                listpack::lp_read(&blob)
            } else {
                listpack::zl_read(&blob)
            };
            let bad = LoadError::Corrupt(if t == TYPE_ZSET_LISTPACK {
                "Zset listpack integrity check failed."
            } else {
                "Zset ziplist integrity check failed."
            });
            let elems = elems.ok_or(bad)?;
            if elems.len() % 2 != 0 {
                return Err(bad);
            }
            let mut items = Vec::with_capacity(elems.len() / 2);
            for p in elems.chunks(2) {
                let score = match p[1] {
                    Elem::Int(v) => v as f64,
                    Elem::Str(s) => parse_score(s).ok_or(bad)?,
                };
                items.push((p[0].to_vec(), score));
            }
            zset_from(items, limits)
        }
        TYPE_HASH => {
            let n = len(buf, pos)?;
            if n == 0 {
                return Err(LoadError::Empty);
            }
            // Read whole first, so that the table is sized for the fields there really are,
            // not for a count the payload made up.
            let mut pairs = Vec::with_capacity(capacity(n, buf, *pos));
            for _ in 0..n {
                let f = string(buf, pos)?;
                let v = string(buf, pos)?;
                pairs.push((f, v));
            }
            let mut h = Hash::with_capacity(pairs.len(), limits.hash);
            for (f, v) in pairs {
                if !h.set(&f, &v, limits.hash) {
                    return Err(LoadError::Corrupt("Duplicate hash fields detected"));
                }
            }
            Ok(Value::hash(h))
        }
        TYPE_HASH_ZIPMAP => {
            let blob = string(buf, pos)?;
            let pairs = listpack::zipmap_read(&blob)
                .filter(|p| !p.is_empty())
                .ok_or(LoadError::Corrupt("Zipmap integrity check failed."))?;
            let mut h = Hash::new();
            for (f, v) in pairs {
                if !h.set(f, v, limits.hash) {
                    return Err(LoadError::Corrupt("Hash zipmap with dup elements"));
                }
            }
            nonempty_hash(h)
        }
        TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            let blob = string(buf, pos)?;
            let bad = LoadError::Corrupt(if t == TYPE_HASH_LISTPACK {
                "Hash listpack integrity check failed."
            } else {
                "Hash ziplist integrity check failed."
            });
            let elems = if t == TYPE_HASH_LISTPACK {
                listpack::lp_read(&blob)
            } else {
                listpack::zl_read(&blob)
            }
            .ok_or(bad)?;
            if elems.len() % 2 != 0 {
                return Err(bad);
            }
            let mut h = Hash::new();
            for p in elems.chunks(2) {
                if !h.set(&p[0].to_vec(), &p[1].to_vec(), limits.hash) {
                    return Err(bad);
                }
            }
            nonempty_hash(h)
        }
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => {
            load_stream(t == TYPE_STREAM_LISTPACKS_2, buf, pos).map(Value::stream)
        }
        TYPE_MODULE | TYPE_MODULE_2 => Err(LoadError::Corrupt(
            "The RDB file contains module data I can't load: no matching module",
        )),
        _ => Err(LoadError::Corrupt("Unknown RDB encoding type")),
    }
}

fn nonempty_list(l: List) -> Load<Value> {
    if l.is_empty() {
        Err(LoadError::Empty)
    } else {
        Ok(Value::list(l))
    }
}

fn nonempty_hash(h: Hash) -> Load<Value> {
    if h.is_empty() {
        Err(LoadError::Empty)
    } else {
        Ok(Value::hash(h))
    }
}

fn zset_from(items: Vec<(Vec<u8>, f64)>, limits: &Limits) -> Load<Value> {
    if items.is_empty() {
        return Err(LoadError::Empty);
    }
    if items.iter().any(|(_, s)| s.is_nan()) {
        return Err(LoadError::Corrupt("Zset with NAN score detected"));
    }
    let mut seen = HashSet::with_capacity(items.len());
    if !items.iter().all(|(m, _)| seen.insert(m.as_slice())) {
        return Err(LoadError::Corrupt("Duplicate zset fields detected"));
    }
    Ok(Value::zset(ZSet::from_items(items, limits.zset)))
}

/// A score as Redis writes it in text (RDB's old ZSET type): a length byte, with 253, 254
/// and 255 meaning NaN, +inf and -inf.
fn text_double(buf: &[u8], pos: &mut usize) -> Load<f64> {
    let n = bytes(buf, pos, 1)?[0];
    match n {
        253 => Ok(f64::NAN),
        254 => Ok(f64::INFINITY),
        255 => Ok(f64::NEG_INFINITY),
        n => parse_score(bytes(buf, pos, usize::from(n))?)
            .ok_or(LoadError::Corrupt("Invalid double value")),
    }
}

fn parse_score(s: &[u8]) -> Option<f64> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn load_id(buf: &[u8], pos: &mut usize) -> Load<StreamId> {
    Ok(StreamId::new(len(buf, pos)?, len(buf, pos)?))
}

fn load_raw_id(buf: &[u8], pos: &mut usize) -> Load<StreamId> {
    let b = bytes(buf, pos, 16)?;
    let ms = u64::from_be_bytes(b[..8].try_into().map_err(|_| SHORT)?);
    let seq = u64::from_be_bytes(b[8..].try_into().map_err(|_| SHORT)?);
    Ok(StreamId::new(ms, seq))
}

fn load_stream(v2: bool, buf: &[u8], pos: &mut usize) -> Load<Stream> {
    let corrupt = LoadError::Corrupt;
    let mut s = Stream::new();
    let nodes = len(buf, pos)?;
    for _ in 0..nodes {
        let key = string(buf, pos)?;
        if key.len() != 16 {
            return Err(corrupt(
                "Stream node key entry is not the size of a stream ID",
            ));
        }
        let master = load_raw_id(&key, &mut 0)?;
        let lp = string(buf, pos)?;
        let elems =
            listpack::lp_read(&lp).ok_or(corrupt("Stream listpack integrity check failed."))?;
        if elems.is_empty() {
            return Err(corrupt("Empty listpack inside stream"));
        }
        s.push_rdb_node(master, &elems).map_err(corrupt)?;
    }
    let length = len(buf, pos)?;
    s.check_rdb_len(length).map_err(corrupt)?;
    s.last_id = load_id(buf, pos)?;
    if s.last_node_id().is_some_and(|top| top > s.last_id) {
        return Err(corrupt("Stream last ID below its entries"));
    }
    if v2 {
        s.first_id = load_id(buf, pos)?;
        s.max_deleted_id = load_id(buf, pos)?;
        s.entries_added = len(buf, pos)?;
        if s.entries_added < s.len() || s.entries_added > i64::MAX as u64 {
            return Err(corrupt("Stream entries-added below its length"));
        }
    } else {
        s.max_deleted_id = StreamId::MIN;
        s.entries_added = s.len();
        s.first_id = s.first_valid_id().unwrap_or(StreamId::MIN);
    }
    let groups = len(buf, pos)?;
    for _ in 0..groups {
        let name = string(buf, pos)?;
        let last_id = load_id(buf, pos)?;
        let entries_read = if v2 {
            len(buf, pos)? as i64
        } else {
            s.estimate_distance(last_id)
        };
        // The counters later arithmetic relies on: -1 (unknown) or within what was added.
        if entries_read < -1 || entries_read > s.entries_added as i64 {
            return Err(corrupt("Stream consumer group entries-read out of range"));
        }
        if s.groups.contains_key(name.as_slice()) {
            return Err(corrupt("Duplicated consumer group name"));
        }
        let mut g = Group::new(last_id, entries_read);
        let pel = len(buf, pos)?;
        for _ in 0..pel {
            let id = load_raw_id(buf, pos)?;
            let delivery_time = le_i64(buf, pos)?;
            let delivery_count = len(buf, pos)?;
            if delivery_count > i64::MAX as u64 {
                return Err(corrupt("Stream PEL delivery count out of range"));
            }
            let nack = Nack {
                delivery_time,
                delivery_count,
                consumer: Box::from(&b""[..]),
            };
            if g.pel.insert(id, nack).is_some() {
                return Err(corrupt(
                    "Duplicated global PEL entry loading stream consumer group",
                ));
            }
        }
        let mut owned = HashSet::new();
        let consumers = len(buf, pos)?;
        for _ in 0..consumers {
            let cname = string(buf, pos)?;
            if g.consumers.contains_key(cname.as_slice()) {
                return Err(corrupt("Duplicate stream consumer detected."));
            }
            let seen = le_i64(buf, pos)?;
            g.touch_consumer(&cname, seen);
            let n = len(buf, pos)?;
            for _ in 0..n {
                let id = load_raw_id(buf, pos)?;
                let Some(nack) = g.pel.get_mut(&id) else {
                    return Err(corrupt("Consumer entry not found in group global PEL"));
                };
                if !owned.insert(id) {
                    return Err(corrupt("Stream PEL entry owned by two consumers"));
                }
                nack.consumer = Box::from(cname.as_slice());
                let c = g.consumers.get_mut(cname.as_slice()).ok_or(SHORT)?;
                if !c.pel.insert(id) {
                    return Err(corrupt(
                        "Duplicated consumer PEL entry  loading a stream consumer group",
                    ));
                }
            }
        }
        if owned.len() != g.pel.len() {
            return Err(corrupt("Stream CG PEL entry without consumer"));
        }
        s.groups.insert(Box::from(name.as_slice()), g);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::stream::StreamLimits;

    const OPTS: SaveOptions = SaveOptions {
        compress: true,
        list_fill: -2,
    };

    fn round_trip(v: &Value) -> Value {
        let mut out = Vec::new();
        save(&mut out, v, OPTS);
        let mut pos = 1;
        let back = load(out[0], &out, &mut pos, &Limits::default()).unwrap();
        assert_eq!(pos, out.len());
        back
    }

    #[test]
    fn every_type_round_trips() {
        let limits = Limits::default();
        let mut l = List::new();
        for i in 0..5000 {
            l.push(End::Right, format!("element-{i}").as_bytes(), -2);
        }
        let mut h = Hash::new();
        let mut big = Hash::new();
        for i in 0..1000 {
            if i < 10 {
                h.set(format!("f{i}").as_bytes(), b"v", limits.hash);
            }
            big.set(
                format!("f{i}").as_bytes(),
                format!("{i}").as_bytes(),
                limits.hash,
            );
        }
        let (mut ints, mut strs) = (Set::new(), Set::new());
        for i in 0..600 {
            if i < 100 {
                ints.insert(format!("{}", i * 1000 - 7).as_bytes(), limits.set);
            }
            strs.insert(format!("m{i}").as_bytes(), limits.set);
        }
        let small = ZSet::from_items(
            vec![
                (b"a".to_vec(), 1.5),
                (b"b".to_vec(), 2.0),
                (b"c".to_vec(), f64::INFINITY),
                (b"d".to_vec(), -0.0),
                (b"e".to_vec(), 1e300),
            ],
            limits.zset,
        );
        let large = ZSet::from_items(
            (0..500)
                .map(|i| (format!("m{i}").into_bytes(), f64::from(i) / 3.0))
                .collect(),
            limits.zset,
        );
        let mut st = Stream::new();
        for i in 1..=250u64 {
            let pairs = if i % 7 == 0 {
                vec![b"other".to_vec(), i.to_string().into_bytes()]
            } else {
                vec![
                    b"f".to_vec(),
                    i.to_string().into_bytes(),
                    b"g".to_vec(),
                    b"x".to_vec(),
                ]
            };
            st.append(StreamId::new(i, 0), &pairs, StreamLimits::default())
                .unwrap();
        }
        st.delete(StreamId::new(3, 0));
        st.note_deleted(&[StreamId::new(3, 0)]);
        st.entries_added = 250;
        let mut g = Group::new(StreamId::new(10, 0), 10);
        g.touch_consumer(b"alice", 1234);
        g.pel.insert(
            StreamId::new(5, 0),
            Nack {
                delivery_time: 99,
                delivery_count: 2,
                consumer: Box::from(&b"alice"[..]),
            },
        );
        g.consumers
            .get_mut(&b"alice"[..])
            .unwrap()
            .pel
            .insert(StreamId::new(5, 0));
        st.groups.insert(Box::from(&b"g1"[..]), g);
        for v in [
            Value::str(b"hello".to_vec()),
            Value::str(b"12345".to_vec()),
            Value::str(vec![b'z'; 1000]),
            Value::list(l),
            Value::hash(h),
            Value::hash(big),
            Value::set(ints),
            Value::set(strs),
            Value::zset(small),
            Value::zset(large),
            Value::stream(st),
        ] {
            let back = round_trip(&v);
            assert_eq!(back, v);
            assert_eq!(back.encoding(), v.encoding());
        }
    }

    #[test]
    fn dumps_as_redis_does() {
        // Redis 7.0.15: RPUSH l a 1; HSET h f 1 g hello; ZADD z 1.5 a 2 b; SADD s 1 2 3.
        let limits = Limits::default();
        let mut l = List::new();
        l.push(End::Right, b"a", -2);
        l.push(End::Right, b"1", -2);
        let mut h = Hash::new();
        h.set(b"f", b"1", limits.hash);
        h.set(b"g", b"hello", limits.hash);
        let z = ZSet::from_items(
            vec![(b"a".to_vec(), 1.5), (b"b".to_vec(), 2.0)],
            limits.zset,
        );
        let mut s = Set::new();
        for m in [b"1", b"2", b"3"] {
            s.insert(m, limits.set);
        }
        let cases: [(Value, &[u8]); 4] = [
            (
                Value::list(l),
                b"\x12\x01\x02\x0c\x0c\x00\x00\x00\x02\x00\x81a\x02\x01\x01\xff",
            ),
            (
                Value::hash(h),
                b"\x10\x16\x16\x00\x00\x00\x04\x00\x81f\x02\x01\x01\x81g\x02\x85hello\x06\xff",
            ),
            (
                Value::zset(z),
                b"\x11\x14\x14\x00\x00\x00\x04\x00\x81a\x02\x831.5\x04\x81b\x02\x02\x01\xff",
            ),
            (
                Value::set(s),
                b"\x0b\x0e\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00\x03\x00",
            ),
        ];
        for (v, want) in cases {
            let mut out = Vec::new();
            save(&mut out, &v, OPTS);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn refuses_damage_without_panicking() {
        let mut st = Stream::new();
        for i in 1..=20u64 {
            st.append(
                StreamId::new(i, 1),
                &[b"field".to_vec(), b"value".to_vec()],
                StreamLimits::default(),
            )
            .unwrap();
        }
        let mut out = Vec::new();
        save(&mut out, &Value::stream(st), OPTS);
        let limits = Limits::default();
        for i in 1..out.len() {
            for bit in [0x01, 0x10, 0x80] {
                let mut bad = out.clone();
                bad[i] ^= bit;
                let _ = load(bad[0], &bad, &mut 1, &limits);
            }
            let _ = load(out[0], &out[..i], &mut 1, &limits);
        }
    }

    #[test]
    fn inconsistent_streams_are_refused() {
        let mut st = Stream::new();
        for i in 1..=3u64 {
            st.append(
                StreamId::new(i, 0),
                &[b"f".to_vec(), b"v".to_vec()],
                StreamLimits::default(),
            )
            .unwrap();
        }
        st.entries_added = 3;
        // As built, it loads.
        let mut out = Vec::new();
        save(&mut out, &Value::stream(st.clone()), OPTS);
        assert!(load(out[0], &out, &mut 1, &Limits::default()).is_ok());
        let id = StreamId::new(1, 0);
        let nack = Nack {
            delivery_time: 1,
            delivery_count: 1,
            consumer: Box::from(&b"a"[..]),
        };
        // One pending entry claimed by two consumers.
        let mut g = Group::new(StreamId::new(1, 0), 1);
        g.pel.insert(id, nack.clone());
        g.pel.insert(StreamId::new(2, 0), nack);
        for c in [&b"a"[..], b"b"] {
            g.touch_consumer(c, 0);
            g.consumers.get_mut(c).unwrap().pel.insert(id);
        }
        let mut two = st.clone();
        two.groups.insert(Box::from(&b"g"[..]), g);
        // A read counter past what was ever added.
        let mut far = st.clone();
        far.groups
            .insert(Box::from(&b"g"[..]), Group::new(StreamId::new(1, 0), 99));
        for bad in [two, far] {
            let mut out = Vec::new();
            save(&mut out, &Value::stream(bad), OPTS);
            assert!(matches!(
                load(out[0], &out, &mut 1, &Limits::default()),
                Err(LoadError::Corrupt(_))
            ));
        }
    }

    #[test]
    fn empty_collections_are_refused() {
        let mut out = vec![];
        save_len(&mut out, 0);
        for t in [
            TYPE_LIST,
            TYPE_SET,
            TYPE_HASH,
            TYPE_ZSET_2,
            TYPE_LIST_QUICKLIST_2,
        ] {
            assert_eq!(
                load(t, &out, &mut 0, &Limits::default()).unwrap_err(),
                LoadError::Empty
            );
        }
    }
}
