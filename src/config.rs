//! Server settings: the command-line flags, and the parameter table behind CONFIG GET/SET
//! (like Redis's `static_configs` in config.c: name, default, mutability, validation).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use crate::store::evict::Policy;
use std::time::Duration;

use parking_lot::RwLock;

/// Redis's default `maxclients`.
pub const DEFAULT_MAXCLIENTS: usize = 10000;
pub const DEFAULT_PORT: u16 = 6379;
pub const DEFAULT_DATABASES: usize = 16;

/// How a parameter's value is checked, with Redis's ranges and error texts.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// An integer in `[min, max]`.
    Int(i64, i64),
    /// Bytes, with Redis's `1gb`/`100mb`/`10k` suffixes, in `[min, max]`.
    Memory(u64, u64),
    /// Bytes as `Memory`, or a percentage (`10%`, at most 100%).
    MemoryOrPercent(u64, u64),
    Bool,
    Enum(&'static [&'static str]),
    Str,
}

/// One row of the parameter table.
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub mutable: bool,
    /// For an old name (`hash-max-ziplist-entries`), the parameter it stands for.
    pub alias_of: Option<&'static str>,
}

const fn param(name: &'static str, kind: Kind, mutable: bool) -> Param {
    Param {
        name,
        kind,
        mutable,
        alias_of: None,
    }
}

/// An old name Redis still takes for a parameter (listed by CONFIG GET beside it).
const fn alias(name: &'static str, of: &'static Param) -> Param {
    Param {
        name,
        kind: of.kind,
        mutable: of.mutable,
        alias_of: Some(of.name),
    }
}

/// The parameter `name` (lowercase) stands for, resolving an alias.
pub fn canonical(name: &str) -> Option<&'static Param> {
    let p = PARAMS.iter().find(|p| p.name == name)?;
    match p.alias_of {
        Some(of) => PARAMS.iter().find(|q| q.name == of),
        None => Some(p),
    }
}

const LIST_MAX_LISTPACK_SIZE: Param = param(
    "list-max-listpack-size",
    Kind::Int(i32::MIN as i64, INT_MAX),
    true,
);
const HASH_MAX_LISTPACK_ENTRIES: Param = param(
    "hash-max-listpack-entries",
    Kind::Int(0, LONG_MAX as i64),
    true,
);
const HASH_MAX_LISTPACK_VALUE: Param =
    param("hash-max-listpack-value", Kind::Memory(0, LONG_MAX), true);
const ZSET_MAX_LISTPACK_ENTRIES: Param = param(
    "zset-max-listpack-entries",
    Kind::Int(0, LONG_MAX as i64),
    true,
);
const ZSET_MAX_LISTPACK_VALUE: Param =
    param("zset-max-listpack-value", Kind::Memory(0, LONG_MAX), true);

const INT_MAX: i64 = i32::MAX as i64;
const LONG_MAX: u64 = i64::MAX as u64;
/// Redis's `CONFIG_MIN_HZ` / `CONFIG_MAX_HZ`: `hz` is clamped to them.
const HZ_RANGE: (usize, usize) = (1, 500);

/// The settings CONFIG GET/SET know. Each one either takes effect (maxclients, maxmemory, hz,
/// proto-max-bulk-len, client-query-buffer-limit, timeout, tcp-keepalive) or truthfully
/// reports how Spindle runs (save, appendonly: no persistence; maxmemory-policy: noeviction is
/// the only policy).
pub static PARAMS: &[Param] = &[
    param("port", Kind::Int(0, 65535), false),
    param("bind", Kind::Str, false),
    param("databases", Kind::Int(1, INT_MAX), false),
    param("maxclients", Kind::Int(1, u32::MAX as i64), true),
    param("maxmemory", Kind::Memory(0, u64::MAX), true),
    param(
        "maxmemory-policy",
        Kind::Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ]),
        true,
    ),
    param("maxmemory-samples", Kind::Int(1, INT_MAX), true),
    param("maxmemory-eviction-tenacity", Kind::Int(0, 100), true),
    param("lfu-log-factor", Kind::Int(0, INT_MAX), true),
    param("lfu-decay-time", Kind::Int(0, INT_MAX), true),
    param(
        "maxmemory-clients",
        Kind::MemoryOrPercent(0, LONG_MAX),
        true,
    ),
    param("hz", Kind::Int(0, INT_MAX), true),
    param(
        "tracking-table-max-keys",
        Kind::Int(0, LONG_MAX as i64),
        true,
    ),
    param(
        "proto-max-bulk-len",
        Kind::Memory(1024 * 1024, LONG_MAX),
        true,
    ),
    param(
        "client-query-buffer-limit",
        Kind::Memory(1024 * 1024, LONG_MAX),
        true,
    ),
    param("save", Kind::Enum(&[""]), true),
    param("appendonly", Kind::Enum(&["no"]), true),
    param("protected-mode", Kind::Enum(&["no"]), true),
    param("io-threads", Kind::Int(1, 1), false),
    param("timeout", Kind::Int(0, INT_MAX), true),
    param("client-output-buffer-limit", Kind::Str, true),
    param("notify-keyspace-events", Kind::Str, true),
    param("tcp-keepalive", Kind::Int(0, INT_MAX), true),
    param("lazyfree-lazy-user-del", Kind::Bool, true),
    param("lazyfree-lazy-user-flush", Kind::Bool, true),
    param("lazyfree-lazy-expire", Kind::Bool, true),
    param("lazyfree-lazy-server-del", Kind::Bool, true),
    LIST_MAX_LISTPACK_SIZE,
    alias("list-max-ziplist-size", &LIST_MAX_LISTPACK_SIZE),
    param("list-compress-depth", Kind::Int(0, INT_MAX), true),
    HASH_MAX_LISTPACK_ENTRIES,
    alias("hash-max-ziplist-entries", &HASH_MAX_LISTPACK_ENTRIES),
    HASH_MAX_LISTPACK_VALUE,
    alias("hash-max-ziplist-value", &HASH_MAX_LISTPACK_VALUE),
    param(
        "set-max-intset-entries",
        Kind::Int(0, LONG_MAX as i64),
        true,
    ),
    ZSET_MAX_LISTPACK_ENTRIES,
    alias("zset-max-ziplist-entries", &ZSET_MAX_LISTPACK_ENTRIES),
    ZSET_MAX_LISTPACK_VALUE,
    alias("zset-max-ziplist-value", &ZSET_MAX_LISTPACK_VALUE),
];

/// One class's `client-output-buffer-limit`: past `hard` bytes of pending output, or past
/// `soft` for more than `soft_secs` seconds, the client is closed (0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_secs: u64,
}

/// The client classes that have an output limit, in CONFIG GET's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputClass {
    Normal = 0,
    Replica = 1,
    PubSub = 2,
}

const CLASS_NAMES: [&str; 3] = ["normal", "slave", "pubsub"];

/// Redis's defaults: `normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60`.
const DEFAULT_OUTPUT_LIMITS: [OutputLimit; 3] = [
    OutputLimit {
        hard: 0,
        soft: 0,
        soft_secs: 0,
    },
    OutputLimit {
        hard: 256 << 20,
        soft: 64 << 20,
        soft_secs: 60,
    },
    OutputLimit {
        hard: 32 << 20,
        soft: 8 << 20,
        soft_secs: 60,
    },
];

/// Parses a `client-output-buffer-limit` value (groups of `class hard soft seconds`) into
/// the classes it names, all or nothing, with Redis's error texts.
fn parse_output_limits(value: &str) -> Result<Vec<(OutputClass, OutputLimit)>, String> {
    let words: Vec<&str> = value.split_ascii_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    words
        .chunks(4)
        .map(|g| {
            let class = match g[0].to_ascii_lowercase().as_str() {
                "normal" => OutputClass::Normal,
                "slave" | "replica" => OutputClass::Replica,
                "pubsub" => OutputClass::PubSub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad = || {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                    .to_string()
            };
            let hard = parse_memory(g[1]).ok_or_else(bad)?;
            let soft = parse_memory(g[2]).ok_or_else(bad)?;
            let soft_secs = g[3]
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(bad)?;
            Ok((
                class,
                OutputLimit {
                    hard,
                    soft,
                    soft_secs: soft_secs as u64,
                },
            ))
        })
        .collect()
}

/// How long a worker thread with no connection waits for one before it exits (beyond the
/// warm pool that is always kept).
pub const DEFAULT_WORKER_IDLE: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Config {
    pub port: u16,
    pub bind: String,
    pub databases: usize,
    /// Idle worker threads beyond the warm pool exit after this long (`--worker-idle-ms`).
    pub worker_idle: Duration,
    maxclients: AtomicUsize,
    maxmemory: AtomicU64,
    /// An index into `Policy::NAMES`.
    maxmemory_policy: AtomicU8,
    maxmemory_samples: AtomicU32,
    eviction_tenacity: AtomicU32,
    lfu_log_factor: AtomicU32,
    lfu_decay_time: AtomicU32,
    tracking_table_max_keys: AtomicU64,
    hz: AtomicUsize,
    proto_max_bulk_len: AtomicU64,
    client_query_buffer_limit: AtomicU64,
    timeout: AtomicU32,
    tcp_keepalive: AtomicU32,
    list_max_listpack_size: AtomicI64,
    hash_max_listpack_entries: AtomicU64,
    hash_max_listpack_value: AtomicU64,
    set_max_intset_entries: AtomicU64,
    zset_max_listpack_entries: AtomicU64,
    zset_max_listpack_value: AtomicU64,
    /// `notify-keyspace-events`, as flags (see `store::notify`).
    notify_keyspace_events: AtomicU32,
    /// `client-output-buffer-limit`, by class: normal, replica, pubsub.
    output_limits: RwLock<[OutputLimit; 3]>,
    /// The value CONFIG GET shows for parameters that have no live field.
    values: RwLock<BTreeMap<&'static str, String>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: DEFAULT_PORT,
            bind: "127.0.0.1".into(),
            databases: DEFAULT_DATABASES,
            worker_idle: DEFAULT_WORKER_IDLE,
            maxclients: AtomicUsize::new(DEFAULT_MAXCLIENTS),
            maxmemory: AtomicU64::new(0),
            maxmemory_policy: AtomicU8::new(Policy::NoEviction.index()),
            maxmemory_samples: AtomicU32::new(5),
            eviction_tenacity: AtomicU32::new(10),
            lfu_log_factor: AtomicU32::new(10),
            lfu_decay_time: AtomicU32::new(1),
            tracking_table_max_keys: AtomicU64::new(1_000_000),
            hz: AtomicUsize::new(10),
            proto_max_bulk_len: AtomicU64::new(crate::protocol::PROTO_MAX_BULK_LEN as u64),
            client_query_buffer_limit: AtomicU64::new(crate::protocol::QUERY_BUF_LIMIT as u64),
            timeout: AtomicU32::new(0),
            tcp_keepalive: AtomicU32::new(300),
            list_max_listpack_size: AtomicI64::new(crate::store::list::DEFAULT_FILL),
            hash_max_listpack_entries: AtomicU64::new(512),
            hash_max_listpack_value: AtomicU64::new(64),
            set_max_intset_entries: AtomicU64::new(512),
            zset_max_listpack_entries: AtomicU64::new(128),
            zset_max_listpack_value: AtomicU64::new(64),
            output_limits: RwLock::new(DEFAULT_OUTPUT_LIMITS),
            notify_keyspace_events: AtomicU32::new(0),
            values: RwLock::new(BTreeMap::new()),
        }
    }
}

/// Parses `100`, `10k`, `10kb`, `1mb`, `2gb` like Redis's `memtoull`.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(mul)
}

impl Config {
    pub fn maxclients(&self) -> usize {
        self.maxclients.load(Ordering::Relaxed)
    }

    /// Sets `maxclients` without asking the OS (the command line, after the limit was set).
    pub fn set_maxclients(&self, n: usize) {
        self.maxclients.store(n, Ordering::Relaxed);
    }

    /// 0: no limit.
    pub fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Ordering::Relaxed)
    }

    pub fn maxmemory_policy(&self) -> Policy {
        Policy::from_index(self.maxmemory_policy.load(Ordering::Relaxed))
    }

    /// `maxmemory-samples`: keys sampled per database for each LRU/LFU eviction.
    pub fn maxmemory_samples(&self) -> usize {
        self.maxmemory_samples.load(Ordering::Relaxed) as usize
    }

    /// How long one round of eviction may run before it leaves the rest to the background
    /// (Redis's `evictionTimeLimitUs`: 0-500 us linearly up to tenacity 10, then 15% more a
    /// step, no limit at 100).
    pub fn eviction_time_limit(&self) -> Option<Duration> {
        let t = self.eviction_tenacity.load(Ordering::Relaxed);
        match t {
            0..=10 => Some(Duration::from_micros(50 * u64::from(t))),
            11..=99 => Some(Duration::from_micros(
                (500.0 * 1.15f64.powi(t as i32 - 10)) as u64,
            )),
            _ => None,
        }
    }

    /// How key use is recorded, by the policy.
    pub fn access(&self) -> crate::store::Access {
        if self.maxmemory_policy().is_lfu() {
            crate::store::Access::Lfu {
                log_factor: self.lfu_log_factor.load(Ordering::Relaxed),
                decay_time: self.lfu_decay_time.load(Ordering::Relaxed),
            }
        } else {
            crate::store::Access::Lru
        }
    }

    /// Keys the tracking table may hold before keys are invalidated to make room; 0: no
    /// limit.
    pub fn tracking_table_max_keys(&self) -> usize {
        size(&self.tracking_table_max_keys)
    }

    pub fn hz(&self) -> usize {
        self.hz.load(Ordering::Relaxed)
    }

    /// The largest bulk argument, and the largest string a command may create.
    pub fn proto_max_bulk_len(&self) -> u64 {
        self.proto_max_bulk_len.load(Ordering::Relaxed)
    }

    /// Unparsed input beyond this closes the client.
    pub fn client_query_buffer_limit(&self) -> usize {
        usize::try_from(self.client_query_buffer_limit.load(Ordering::Relaxed))
            .unwrap_or(usize::MAX)
    }

    /// Seconds of idleness after which a client is closed; 0: never.
    pub fn timeout(&self) -> u32 {
        self.timeout.load(Ordering::Relaxed)
    }

    /// TCP keepalive interval for new connections, in seconds; 0: off.
    pub fn tcp_keepalive(&self) -> u32 {
        self.tcp_keepalive.load(Ordering::Relaxed)
    }

    /// What a command runs with: the limits the store applies, read once per command.
    pub fn limits(&self) -> crate::store::Limits {
        crate::store::Limits {
            max_bulk: self.proto_max_bulk_len(),
            list_fill: self.list_max_listpack_size.load(Ordering::Relaxed),
            hash: crate::store::HashLimits {
                max_entries: usize::try_from(
                    self.hash_max_listpack_entries.load(Ordering::Relaxed),
                )
                .unwrap_or(usize::MAX),
                max_value: usize::try_from(self.hash_max_listpack_value.load(Ordering::Relaxed))
                    .unwrap_or(usize::MAX),
            },
            set: crate::store::SetLimits {
                max_intset_entries: size(&self.set_max_intset_entries),
            },
            zset: crate::store::ZSetLimits {
                max_entries: size(&self.zset_max_listpack_entries),
                max_value: size(&self.zset_max_listpack_value),
            },
            notify: self.notify_keyspace_events(),
            access: self.access(),
        }
    }

    /// How long an idle worker thread beyond the warm pool waits before it exits.
    pub fn worker_idle_timeout(&self) -> Duration {
        self.worker_idle
    }

    /// The keyspace event classes to publish.
    pub fn notify_keyspace_events(&self) -> u32 {
        self.notify_keyspace_events.load(Ordering::Relaxed)
    }

    /// The output limit of a client class.
    pub fn output_limit(&self, class: OutputClass) -> OutputLimit {
        self.output_limits.read()[class as usize]
    }

    /// The value CONFIG GET shows for `name` (an alias shows its parameter's value).
    pub fn get(&self, name: &str) -> Option<String> {
        let name = canonical(name).map_or(name, |p| p.name);
        Some(match name {
            "port" => self.port.to_string(),
            "bind" => self.bind.clone(),
            "databases" => self.databases.to_string(),
            "maxclients" => self.maxclients().to_string(),
            "maxmemory" => self.maxmemory().to_string(),
            "maxmemory-policy" => self.maxmemory_policy().name().to_string(),
            "maxmemory-samples" => self.maxmemory_samples().to_string(),
            "maxmemory-eviction-tenacity" => {
                self.eviction_tenacity.load(Ordering::Relaxed).to_string()
            }
            "lfu-log-factor" => self.lfu_log_factor.load(Ordering::Relaxed).to_string(),
            "lfu-decay-time" => self.lfu_decay_time.load(Ordering::Relaxed).to_string(),
            "tracking-table-max-keys" => self.tracking_table_max_keys().to_string(),
            "hz" => self.hz().to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len().to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit().to_string(),
            "timeout" => self.timeout().to_string(),
            "tcp-keepalive" => self.tcp_keepalive().to_string(),
            "notify-keyspace-events" => {
                crate::store::notify::to_string(self.notify_keyspace_events())
            }
            "client-output-buffer-limit" => {
                let limits = self.output_limits.read();
                CLASS_NAMES
                    .iter()
                    .zip(limits.iter())
                    .map(|(n, l)| format!("{n} {} {} {}", l.hard, l.soft, l.soft_secs))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            "list-max-listpack-size" => self
                .list_max_listpack_size
                .load(Ordering::Relaxed)
                .to_string(),
            "hash-max-listpack-entries" => self
                .hash_max_listpack_entries
                .load(Ordering::Relaxed)
                .to_string(),
            "hash-max-listpack-value" => self
                .hash_max_listpack_value
                .load(Ordering::Relaxed)
                .to_string(),
            "set-max-intset-entries" => self
                .set_max_intset_entries
                .load(Ordering::Relaxed)
                .to_string(),
            "zset-max-listpack-entries" => self
                .zset_max_listpack_entries
                .load(Ordering::Relaxed)
                .to_string(),
            "zset-max-listpack-value" => self
                .zset_max_listpack_value
                .load(Ordering::Relaxed)
                .to_string(),
            _ => {
                if let Some(v) = self.values.read().get(name) {
                    return Some(v.clone());
                }
                match name {
                    "maxmemory-clients" => "0".into(),
                    "save" => String::new(),
                    "appendonly" | "protected-mode" => "no".into(),
                    "io-threads" => "1".into(),
                    "list-compress-depth" => "0".into(),
                    n if n.starts_with("lazyfree-") => "no".into(),
                    _ => return None,
                }
            }
        })
    }

    /// Validates and applies one CONFIG SET pair; the error is Redis's reason text.
    pub fn set(&self, name: &str, value: &str) -> Result<(), String> {
        let param = canonical(name).ok_or("Unknown option")?;
        let name = param.name;
        if !param.mutable {
            return Err("can't set immutable config".into());
        }
        let canonical = match param.kind {
            Kind::Int(min, max) => {
                let n = crate::protocol::parse_i64(value.as_bytes())
                    .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
                if n < min || n > max {
                    return Err(format!(
                        "argument must be between {min} and {max} inclusive"
                    ));
                }
                n.to_string()
            }
            Kind::Memory(min, max) => {
                let n = parse_memory(value)
                    .ok_or_else(|| "argument must be a memory value".to_string())?;
                if n < min || n > max {
                    return Err(format!(
                        "argument must be between {min} and {max} inclusive"
                    ));
                }
                n.to_string()
            }
            Kind::MemoryOrPercent(min, max) => match value.strip_suffix('%') {
                Some(pct) if !pct.is_empty() => {
                    let n = crate::protocol::parse_i64(pct.as_bytes())
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| "argument must be a memory or percent value".to_string())?;
                    if n > 100 {
                        return Err("percentage argument must be less or equal to 100".into());
                    }
                    format!("{n}%")
                }
                _ => {
                    let n = parse_memory(value)
                        .ok_or_else(|| "argument must be a memory or percent value".to_string())?;
                    if n < min || n > max {
                        return Err(format!(
                            "argument must be between {min} and {max} inclusive"
                        ));
                    }
                    n.to_string()
                }
            },
            Kind::Bool => match value.to_ascii_lowercase().as_str() {
                v @ ("yes" | "no") => v.to_string(),
                _ => return Err("argument must be 'yes' or 'no'".into()),
            },
            Kind::Enum(options) => {
                let v = value.to_ascii_lowercase();
                if !options.contains(&v.as_str()) {
                    return Err("argument(s) must be one of the following: ".to_string()
                        + &options.join(", "));
                }
                v
            }
            Kind::Str => value.to_string(),
        };
        // Numbers were range-checked above, so these parses cannot fail.
        let number = || canonical.parse::<u64>().unwrap_or(0);
        match name {
            "maxclients" => {
                let wanted = number() as usize;
                // Redis's updateMaxclients: the descriptors must be there first.
                let possible = crate::os::adjust_open_files_limit(wanted);
                if possible < wanted {
                    return Err(format!(
                        "The operating system is not able to handle the specified number of clients, try with {possible}"
                    ));
                }
                if wanted > self.maxclients() {
                    crate::os::reserve_descriptor_table(wanted);
                }
                self.set_maxclients(wanted);
            }
            "maxmemory" => self.maxmemory.store(number(), Ordering::Relaxed),
            "maxmemory-policy" => {
                let policy = Policy::from_name(&canonical).unwrap_or(Policy::NoEviction);
                self.maxmemory_policy
                    .store(policy.index(), Ordering::Relaxed);
            }
            "maxmemory-samples" => self
                .maxmemory_samples
                .store(number() as u32, Ordering::Relaxed),
            "maxmemory-eviction-tenacity" => self
                .eviction_tenacity
                .store(number() as u32, Ordering::Relaxed),
            "lfu-log-factor" => self
                .lfu_log_factor
                .store(number() as u32, Ordering::Relaxed),
            "tracking-table-max-keys" => self
                .tracking_table_max_keys
                .store(number(), Ordering::Relaxed),
            "lfu-decay-time" => self
                .lfu_decay_time
                .store(number() as u32, Ordering::Relaxed),
            // Redis's updateHZ: accepted from 0, clamped into 1..=500.
            "hz" => self.hz.store(
                (number() as usize).clamp(HZ_RANGE.0, HZ_RANGE.1),
                Ordering::Relaxed,
            ),
            "proto-max-bulk-len" => self.proto_max_bulk_len.store(number(), Ordering::Relaxed),
            "client-query-buffer-limit" => self
                .client_query_buffer_limit
                .store(number(), Ordering::Relaxed),
            "timeout" => self.timeout.store(number() as u32, Ordering::Relaxed),
            "notify-keyspace-events" => {
                let flags = crate::store::notify::parse(&canonical).ok_or_else(|| {
                    "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
                })?;
                self.notify_keyspace_events.store(flags, Ordering::Relaxed);
            }
            "client-output-buffer-limit" => {
                let parsed = parse_output_limits(&canonical)?;
                let mut limits = self.output_limits.write();
                for (class, limit) in parsed {
                    limits[class as usize] = limit;
                }
            }
            "tcp-keepalive" => self.tcp_keepalive.store(number() as u32, Ordering::Relaxed),
            "list-max-listpack-size" => self
                .list_max_listpack_size
                .store(canonical.parse().unwrap_or(-2), Ordering::Relaxed),
            "hash-max-listpack-entries" => self
                .hash_max_listpack_entries
                .store(number(), Ordering::Relaxed),
            "hash-max-listpack-value" => self
                .hash_max_listpack_value
                .store(number(), Ordering::Relaxed),
            "set-max-intset-entries" => self
                .set_max_intset_entries
                .store(number(), Ordering::Relaxed),
            "zset-max-listpack-entries" => self
                .zset_max_listpack_entries
                .store(number(), Ordering::Relaxed),
            "zset-max-listpack-value" => self
                .zset_max_listpack_value
                .store(number(), Ordering::Relaxed),
            _ => {
                self.values.write().insert(param.name, canonical);
            }
        }
        Ok(())
    }
}

/// A size setting as a `usize` (saturating).
fn size(v: &AtomicU64) -> usize {
    usize::try_from(v.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Cli {
    Run(Box<Config>),
    Help,
    Version,
}

pub const USAGE: &str = "\
Usage: spindle [OPTIONS]

A Redis-compatible in-memory data server.

Options:
  --port N          TCP port to listen on (default 6379; 0 picks a free one)
  --bind ADDR       address to listen on (default 127.0.0.1)
  --maxclients N    connections served at once (default 10000)
  --databases N     number of databases (default 16)
  --timeout S       close clients idle for S seconds (default 0: never)
  --tcp-keepalive S TCP keepalive interval in seconds (default 300; 0: off)
  --NAME VALUE      any other parameter CONFIG SET takes (hz, proto-max-bulk-len, ...)
  --worker-idle-ms N  idle worker threads beyond a warm pool exit after N ms (default 10000)
  -h, --help        print this help
  -v, --version     print the version

Logging follows RUST_LOG (default: info).";

/// Parses `redis-server`-style flags (`--port 6380`, also `--port=6380`).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, String> {
    let mut cfg = Config::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline_value) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Cli::Help),
            "-v" | "--version" => return Ok(Cli::Version),
            "--port" | "--bind" | "--maxclients" | "--databases" | "--worker-idle-ms" => {
                let value = match inline_value.or_else(|| it.next()) {
                    Some(v) => v,
                    None => return Err(format!("{flag} needs a value")),
                };
                match flag.as_str() {
                    "--port" => {
                        cfg.port = value
                            .parse()
                            .map_err(|_| format!("invalid port '{value}'"))?
                    }
                    "--bind" => cfg.bind = value,
                    "--worker-idle-ms" => {
                        cfg.worker_idle = value
                            .parse()
                            .map(Duration::from_millis)
                            .map_err(|_| format!("invalid worker-idle-ms '{value}'"))?
                    }
                    "--maxclients" => {
                        let n: usize = value
                            .parse()
                            .ok()
                            .filter(|&n| n >= 1)
                            .ok_or_else(|| format!("invalid maxclients '{value}'"))?;
                        cfg.set_maxclients(n);
                    }
                    _ => {
                        cfg.databases = value
                            .parse()
                            .ok()
                            .filter(|&n| (1..=1_000_000).contains(&n))
                            .ok_or_else(|| format!("invalid databases '{value}'"))?
                    }
                }
            }
            // Any other settable parameter, as `redis-server --name value` takes it.
            other => {
                let name = other.strip_prefix("--").unwrap_or(other);
                let known = PARAMS.iter().any(|p| p.mutable && p.name == name);
                if !known || name == "maxclients" {
                    return Err(format!("unknown option '{other}' (try --help)"));
                }
                let value = inline_value
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{flag} needs a value"))?;
                cfg.set(name, &value)
                    .map_err(|e| format!("invalid {name} '{value}': {e}"))?;
            }
        }
    }
    Ok(Cli::Run(Box::new(cfg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        match parse_args(args.iter().map(|s| s.to_string()))? {
            Cli::Run(c) => Ok(*c),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn flags() {
        let c = run(&["--port", "7000", "--bind", "0.0.0.0", "--maxclients=5"]).unwrap();
        assert_eq!(
            (c.port, c.bind.as_str(), c.maxclients()),
            (7000, "0.0.0.0", 5)
        );
        assert!(run(&["--port", "x"]).is_err());
        assert!(run(&["--port"]).is_err());
        assert!(run(&["--maxclients", "0"]).is_err());
        assert!(run(&["--nope"]).is_err());
        assert!(matches!(
            parse_args(vec!["--help".to_string()]),
            Ok(Cli::Help)
        ));
    }

    #[test]
    fn config_set_validates_and_applies() {
        let c = Config::default();
        assert!(c.set("maxclients", "50").is_ok());
        assert_eq!(c.maxclients(), 50);
        assert_eq!(c.get("maxclients").as_deref(), Some("50"));
        assert!(c.set("maxclients", "x").is_err());
        assert!(c.set("databases", "4").unwrap_err().contains("immutable"));
        assert!(c.set("maxmemory", "1mb").is_ok());
        assert_eq!(c.maxmemory(), 1024 * 1024);
        assert!(c.set("maxmemory-policy", "allkeys-lru").is_ok());
        assert_eq!(c.get("maxmemory-policy").as_deref(), Some("allkeys-lru"));
        assert!(c.set("maxmemory-policy", "lru").is_err());
        assert!(c.set("nope", "1").is_err());
        assert_eq!(parse_memory("10kb"), Some(10240));
        assert_eq!(parse_memory("x"), None);
    }
}
