//! What a key holds.

use std::sync::atomic::{AtomicU32, Ordering};

use super::clock::lru_clock;
use super::hash::Hash;
use super::list::List;
use super::set::Set;
use super::stream::Stream;
use super::zset::ZSet;

/// A key's value. A string or a packed hash sits inline; a list's deque of nodes is boxed.
/// Each carries the time it was last used (OBJECT IDLETIME), in the enum's own padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(Vec<u8>, Lru),
    List(Box<List>, Lru),
    Hash(Hash, Lru),
    Set(Set, Lru),
    ZSet(ZSet, Lru),
    Stream(Box<Stream>, Lru),
}

/// How a string is about to change, for OBJECT ENCODING. Redis holds a string changed where
/// it lies (APPEND, SETRANGE, SETBIT, BITFIELD, the HyperLogLogs) raw, whatever it then reads
/// as, until it is replaced; one written whole (INCR, INCRBYFLOAT) is encoded by what it reads
/// as, like a SET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    InPlace,
    Whole,
}

/// When a value was last used, on Redis's LRU clock (seconds, 24 bits). It lives in a value
/// the reader only has a shared reference to, hence the atomic; it is written at most once a
/// second per key.
#[derive(Debug)]
pub struct Lru(AtomicU32);

/// The 24 bits of the LRU clock or LFU counter.
const CLOCK_MASK: u32 = 0x00ff_ffff;
/// Set once a dead key's `expired` event has been sent (see `Lru::announce_expiry`).
const EXPIRY_ANNOUNCED: u32 = 1 << 31;
/// Set on a string changed where it lies (see [`Rewrite`]): OBJECT ENCODING says `raw`.
const IN_PLACE: u32 = 1 << 30;

/// How a key's use is recorded, by `maxmemory-policy`: the LRU clock, or Redis's LFU
/// counter. Both live in the same 24 bits, as in Redis; switching policies reinterprets them
/// (which is why Redis warns the data takes time to adjust).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    #[default]
    Lru,
    /// `lfu-log-factor` and `lfu-decay-time` (minutes).
    Lfu { log_factor: u32, decay_time: u32 },
}

/// A new key's LFU counter (Redis's `LFU_INIT_VAL`): new keys are not evicted at once.
const LFU_INIT_VAL: u32 = 5;

/// Minutes on a 16-bit clock, LFU's "last decrement time" (Redis's `LFUGetTimeInMinutes`).
fn lfu_minutes() -> u32 {
    ((super::clock::cached_unix_ms() / 60_000) & 0xffff) as u32
}

impl Lru {
    fn now() -> Lru {
        Lru(AtomicU32::new(lru_clock()))
    }

    /// Marks the value used now: the LRU clock, or an LFU hit (Redis's `updateLFU`: decay
    /// by the periods passed, then a logarithmic increment).
    pub fn touch(&self, access: Access) {
        match access {
            Access::Lru => {
                let now = lru_clock();
                let v = self.0.load(Ordering::Relaxed);
                if v & CLOCK_MASK != now {
                    self.0
                        .store(now | (v & (EXPIRY_ANNOUNCED | IN_PLACE)), Ordering::Relaxed);
                }
            }
            Access::Lfu { log_factor, .. } => {
                let counter = lfu_log_incr(self.lfu_count(access), log_factor);
                self.set_clock((lfu_minutes() << 8) | counter);
            }
        }
    }

    /// A key just stored: under LFU its counter starts at `LFU_INIT_VAL` (the LRU clock was
    /// set when the value was made).
    pub fn init(&self, access: Access) {
        if let Access::Lfu { .. } = access {
            self.set_clock((lfu_minutes() << 8) | LFU_INIT_VAL);
        }
    }

    /// Stores the 24 bits, keeping the string's `IN_PLACE` mark.
    fn set_clock(&self, bits: u32) {
        let kept = self.0.load(Ordering::Relaxed) & IN_PLACE;
        self.0.store(bits & CLOCK_MASK | kept, Ordering::Relaxed);
    }

    /// Marks a string as changed where it lies, or (false) as written whole again.
    fn set_in_place(&self, on: bool) {
        let v = self.0.load(Ordering::Relaxed);
        if (v & IN_PLACE != 0) != on {
            self.0.store(v ^ IN_PLACE, Ordering::Relaxed);
        }
    }

    fn in_place(&self) -> bool {
        self.0.load(Ordering::Relaxed) & IN_PLACE != 0
    }

    /// Takes over `old`'s use record (Redis keeps the LFU counter of an overwritten key).
    pub fn inherit(&self, old: &Lru) {
        self.set_clock(old.0.load(Ordering::Relaxed));
    }

    /// The 24 bits as stored (DEBUG OBJECT's `lru`).
    pub fn raw(&self) -> u32 {
        self.0.load(Ordering::Relaxed) & CLOCK_MASK
    }

    /// RESTORE ... IDLETIME: last used `secs` seconds ago (Redis's `objectSetLRUOrLFU`).
    pub fn set_idle(&self, secs: u64) {
        let max = i64::from(super::clock::LRU_CLOCK_MAX);
        let idle = i64::try_from(secs).unwrap_or(i64::MAX);
        let abs = (i64::from(lru_clock()) - idle).rem_euclid(max);
        self.set_clock(abs as u32);
    }

    /// RESTORE ... FREQ: the LFU counter, as of now.
    pub fn set_freq(&self, freq: u8) {
        self.set_clock((lfu_minutes() << 8) | u32::from(freq));
    }

    /// Marks an expired key's `expired` event as sent; true the first time. A read that
    /// finds the key expired announces it (it cannot delete it under a read lock) and the
    /// deletion later stays silent, so the event is sent once, when Redis sends it.
    pub fn announce_expiry(&self) -> bool {
        self.0.fetch_or(EXPIRY_ANNOUNCED, Ordering::Relaxed) & EXPIRY_ANNOUNCED == 0
    }

    /// Seconds since the value was last used (Redis's `estimateObjectIdleTime`, with the
    /// clock's wrap-around).
    pub fn idle_secs(&self) -> u64 {
        let (now, then) = (lru_clock(), self.0.load(Ordering::Relaxed) & CLOCK_MASK);
        u64::from(if now >= then {
            now - then
        } else {
            now + (super::clock::LRU_CLOCK_MAX - then)
        })
    }

    /// The LFU counter, decayed by the `lfu-decay-time` periods since it last changed
    /// (Redis's `LFUDecrAndReturn`; OBJECT FREQ).
    pub fn lfu_count(&self, access: Access) -> u32 {
        let v = self.0.load(Ordering::Relaxed) & CLOCK_MASK;
        let (then, counter) = (v >> 8 & 0xffff, v & 0xff);
        let Access::Lfu { decay_time, .. } = access else {
            return counter;
        };
        if decay_time == 0 {
            return counter;
        }
        let now = lfu_minutes();
        let elapsed = if now >= then {
            now - then
        } else {
            0xffff - then + now
        };
        counter.saturating_sub(elapsed / decay_time)
    }

    /// How much the eviction pool wants this key gone (larger: sooner): idle time under
    /// LRU, rarity under LFU (Redis's `evictionPoolPopulate` scores).
    pub fn eviction_score(&self, access: Access) -> u64 {
        match access {
            Access::Lru => self.idle_secs(),
            Access::Lfu { .. } => 255 - u64::from(self.lfu_count(access)),
        }
    }
}

/// Redis's `LFULogIncr`: the counter grows with probability 1/((counter-5)*factor+1), so it
/// takes about a million hits to reach 255 at the default factor 10.
fn lfu_log_incr(counter: u32, log_factor: u32) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let r = (super::rand_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// A copy is a new object: its clock starts now (Redis's `dupStringObject` and friends),
/// and a raw string's copy is raw.
impl Clone for Lru {
    fn clone(&self) -> Self {
        let copy = Lru::now();
        copy.set_in_place(self.in_place());
        copy
    }
}

/// Values are equal by content; when they were used does not matter.
impl PartialEq for Lru {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Lru {}

impl Value {
    /// What freeing the value costs, in allocations, as Redis's `lazyfreeGetFreeEffort`
    /// counts it: a packed form is one; a table, a skiplist or a list its elements or nodes;
    /// a stream its nodes and consumer groups.
    pub fn free_effort(&self) -> usize {
        match self {
            Value::Str(..) => 1,
            Value::List(l, _) => l.nodes(),
            Value::Hash(h, _) if h.is_table() => h.len(),
            Value::Set(s, _) if s.is_table() => s.len(),
            Value::ZSet(z, _) if z.is_big() => z.len(),
            Value::Stream(s, _) => s.free_effort(),
            _ => 1,
        }
    }

    /// DEBUG HTSTATS-KEY: the stats of the hash table the value is kept in, if it is.
    pub fn table_stats(&self) -> Option<String> {
        match self {
            Value::Set(s, _) => s.table_stats(),
            Value::Hash(h, _) => h.table_stats(),
            Value::ZSet(z, _) => z.table_stats(),
            _ => None,
        }
    }

    pub fn str(s: Vec<u8>) -> Value {
        Value::Str(s, Lru::now())
    }

    /// A string made by a command that builds it where it lies (SETRANGE or SETBIT of a new
    /// key, BITOP, a new HyperLogLog): Redis holds it raw.
    pub fn raw_str(s: Vec<u8>) -> Value {
        let lru = Lru::now();
        lru.set_in_place(true);
        Value::Str(s, lru)
    }

    pub fn list(l: List) -> Value {
        Value::List(Box::new(l), Lru::now())
    }

    pub fn hash(h: Hash) -> Value {
        Value::Hash(h, Lru::now())
    }

    pub fn set(s: Set) -> Value {
        Value::Set(s, Lru::now())
    }

    pub fn zset(z: ZSet) -> Value {
        Value::ZSet(z, Lru::now())
    }

    pub fn stream(s: Stream) -> Value {
        Value::Stream(Box::new(s), Lru::now())
    }

    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(..) => "string",
            Value::List(..) => "list",
            Value::Hash(..) => "hash",
            Value::Set(..) => "set",
            Value::ZSet(..) => "zset",
            Value::Stream(..) => "stream",
        }
    }

    /// Its last-use clock.
    pub fn lru(&self) -> &Lru {
        match self {
            Value::Str(_, l)
            | Value::List(_, l)
            | Value::Hash(_, l)
            | Value::Set(_, l)
            | Value::ZSet(_, l)
            | Value::Stream(_, l) => l,
        }
    }

    /// Bytes this value holds on the heap, beyond its slot (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s, _) => s.capacity(),
            Value::List(l, _) => std::mem::size_of::<List>() + l.heap_bytes(),
            Value::Hash(h, _) => h.heap_bytes(),
            Value::Set(s, _) => s.heap_bytes(),
            Value::ZSet(z, _) => z.heap_bytes(),
            Value::Stream(s, _) => s.heap_bytes(),
        }
    }

    /// OBJECT ENCODING, by Redis's rules for each type.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(_, l) if l.in_place() => "raw",
            Value::Str(s, _) => {
                if s.len() <= 20 && crate::protocol::parse_i64(s).is_some() {
                    "int"
                } else if s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            // Redis 7.0 keeps every list as a quicklist.
            Value::List(..) => "quicklist",
            Value::Hash(h, _) => h.encoding(),
            Value::Set(s, _) => s.encoding(),
            Value::ZSet(z, _) => z.encoding(),
            Value::Stream(..) => "stream",
        }
    }
}

impl Value {
    pub fn as_str(&self) -> Result<&[u8], WrongType> {
        match self {
            Value::Str(s, _) => Ok(s),
            _ => Err(WrongType),
        }
    }

    pub fn as_str_mut(&mut self) -> Result<&mut Vec<u8>, WrongType> {
        match self {
            Value::Str(s, _) => Ok(s),
            _ => Err(WrongType),
        }
    }

    /// The string, about to change as `how` says.
    pub fn as_str_rewrite(&mut self, how: Rewrite) -> Result<&mut Vec<u8>, WrongType> {
        match self {
            Value::Str(s, l) => {
                l.set_in_place(how == Rewrite::InPlace);
                Ok(s)
            }
            _ => Err(WrongType),
        }
    }

    pub fn as_list(&self) -> Result<&List, WrongType> {
        match self {
            Value::List(l, _) => Ok(l),
            _ => Err(WrongType),
        }
    }

    pub fn as_list_mut(&mut self) -> Result<&mut List, WrongType> {
        match self {
            Value::List(l, _) => Ok(l),
            _ => Err(WrongType),
        }
    }

    pub fn as_hash(&self) -> Result<&Hash, WrongType> {
        match self {
            Value::Hash(h, _) => Ok(h),
            _ => Err(WrongType),
        }
    }

    pub fn as_hash_mut(&mut self) -> Result<&mut Hash, WrongType> {
        match self {
            Value::Hash(h, _) => Ok(h),
            _ => Err(WrongType),
        }
    }

    pub fn as_set(&self) -> Result<&Set, WrongType> {
        match self {
            Value::Set(s, _) => Ok(s),
            _ => Err(WrongType),
        }
    }

    pub fn as_set_mut(&mut self) -> Result<&mut Set, WrongType> {
        match self {
            Value::Set(s, _) => Ok(s),
            _ => Err(WrongType),
        }
    }

    pub fn as_zset(&self) -> Result<&ZSet, WrongType> {
        match self {
            Value::ZSet(z, _) => Ok(z),
            _ => Err(WrongType),
        }
    }

    pub fn as_zset_mut(&mut self) -> Result<&mut ZSet, WrongType> {
        match self {
            Value::ZSet(z, _) => Ok(z),
            _ => Err(WrongType),
        }
    }

    pub fn as_stream(&self) -> Result<&Stream, WrongType> {
        match self {
            Value::Stream(s, _) => Ok(s),
            _ => Err(WrongType),
        }
    }

    pub fn as_stream_mut(&mut self) -> Result<&mut Stream, WrongType> {
        match self {
            Value::Stream(s, _) => Ok(s),
            _ => Err(WrongType),
        }
    }

    /// A container with nothing in it (such a key must not exist).
    pub fn is_empty_container(&self) -> bool {
        match self {
            Value::Str(..) => false,
            Value::List(l, _) => l.is_empty(),
            Value::Hash(h, _) => h.is_empty(),
            Value::Set(s, _) => s.is_empty(),
            Value::ZSet(z, _) => z.is_empty(),
            // An empty stream is a value of its own (its IDs and groups live on).
            Value::Stream(..) => false,
        }
    }
}

/// A command met a key holding another type (Redis's `-WRONGTYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

#[cfg(test)]
mod tests {
    #[test]
    fn a_value_is_32_bytes() {
        // Every key pays for this slot: a bigger variant would cost every string key too.
        assert_eq!(std::mem::size_of::<super::Value>(), 32);
    }
}
