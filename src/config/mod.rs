//! Server settings: the command-line flags, and the parameter table behind CONFIG GET/SET
//! (like Redis's `static_configs` in config.c: name, default, mutability, validation).

use std::collections::BTreeMap;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

use crate::store::evict::Policy;
use std::time::Duration;

use parking_lot::RwLock;

/// Redis's default `maxclients`.
pub const DEFAULT_MAXCLIENTS: usize = 10000;
pub const DEFAULT_PORT: u16 = 6379;
pub const DEFAULT_DATABASES: usize = 16;

pub mod described;
pub mod file;
pub mod rewrite;
pub mod table;

pub use table::lookup;
use table::{Described, Type, IMMUTABLE_CONFIG, MULTI_ARG_CONFIG};

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// Redis's `CONFIG_MIN_HZ` / `CONFIG_MAX_HZ`: `hz` is clamped to them.
const HZ_RANGE: (usize, usize) = (1, 500);

/// Parameters Redis has that Spindle takes, stores and reports but does not act on yet, with
/// why; setting one to anything but its default logs a warning saying so.
pub fn inert(name: &str) -> Option<&'static str> {
    if matches!(
        name,
        "rdbcompression" | "rdbchecksum" | "shutdown-on-sigterm"
    ) {
        return None;
    }
    const BY_PREFIX: &[(&str, &str)] = &[
        ("repl-", "Spindle has no replication"),
        ("replica-", "Spindle has no replication"),
        ("master", "Spindle has no replication"),
        ("cluster-", "Spindle has no cluster mode"),
        ("tls-", "Spindle has no TLS"),
        ("active-defrag-", "Spindle does not defragment"),
        (
            "aof-rewrite-incremental-fsync",
            "Spindle fsyncs a rewritten base once, at its end",
        ),
        ("rdb-del-sync-files", "Spindle has no replication"),
        (
            "rdb-save-incremental-fsync",
            "Spindle fsyncs a snapshot once, at its end",
        ),
        ("oom-score-adj", "Spindle does not set its OOM score"),
        ("shutdown-on-sigint", "Spindle treats SIGINT as SIGTERM"),
        (
            "lazyfree-",
            "Spindle frees big values once the lock is released (DEL and eviction on their own thread, UNLINK and ASYNC flushes in the background) and active expiry's inside its cycle, as Redis does by default",
        ),
    ];
    const BY_NAME: &[(&str, &str)] = &[
        (
            "no-appendfsync-on-rewrite",
            "Spindle fsyncs during rewrites too",
        ),
        (
            "list-compress-depth",
            "Spindle does not compress list nodes",
        ),
        ("activedefrag", "Spindle does not defragment"),
        ("dynamic-hz", "Spindle's cron runs at hz"),
        ("jemalloc-bg-thread", "Spindle does not use jemalloc"),
        (
            "active-expire-effort",
            "Spindle's expiry cycle has a fixed effort",
        ),
        (
            "crash-memcheck-enabled",
            "Spindle runs no memory test after a crash",
        ),
        (
            "use-exit-on-panic",
            "Spindle ends a panic with its crash report and SIGABRT",
        ),
        ("set-proc-title", "Spindle does not set its process title"),
        (
            "proc-title-template",
            "Spindle does not set its process title",
        ),
        (
            "sanitize-dump-payload",
            "Spindle checks every RESTORE payload in full, as with yes",
        ),
        ("propagation-error-behavior", "Spindle has no replication"),
        ("replicaof", "Spindle has no replication"),
        ("slave-announce-ip", "Spindle has no replication"),
        (
            "loading-process-events-interval-bytes",
            "Spindle serves clients throughout a load",
        ),
        ("tcp-backlog", "Spindle listens with a backlog of 511"),
        ("bind-source-addr", "Spindle makes no outgoing connections"),
        (
            "ignore-warnings",
            "Spindle has no startup warnings to ignore",
        ),
        ("socket-mark-id", "Spindle does not mark its sockets"),
        ("always-show-logo", "Spindle has no logo"),
        ("server_cpulist", "Spindle does not pin its threads"),
        ("bio_cpulist", "Spindle does not pin its threads"),
        ("aof_rewrite_cpulist", "Spindle does not pin its threads"),
        ("bgsave_cpulist", "Spindle does not pin its threads"),
        (
            "io-threads-do-reads",
            "Spindle reads on each client's own thread",
        ),
        (
            "maxmemory-clients",
            "Spindle does not evict clients for memory",
        ),
    ];
    BY_NAME
        .iter()
        .find(|(n, _)| *n == name)
        .or_else(|| BY_PREFIX.iter().find(|(p, _)| name.starts_with(p)))
        .map(|(_, why)| *why)
}

/// The warning for a parameter Spindle takes but does not act on, set to `value`; a
/// password is not written to the log.
fn inert_warning(d: &Described, value: &str) -> Option<String> {
    let why = inert(d.name)?;
    let shown = if d.flags & table::SENSITIVE_CONFIG != 0 {
        "(redacted)"
    } else {
        value
    };
    Some(format!(
        "{} is set to '{shown}', but {why}: it has no effect",
        d.name
    ))
}

/// Values Spindle refuses, because taking them would promise what it does not do: a TLS
/// or cluster listener. (`masterauth` and `masteruser`, the credentials a replica would
/// give its master, promise nothing of this server: they are kept, and inert, as the other
/// replication settings, so that a redis.conf of a replicated setup still starts.)
fn refused(name: &str, shown: &str) -> Option<&'static str> {
    match (name, shown) {
        ("tls-port" | "cluster-port", v) if v != "0" => {
            Some("Spindle has no TLS or cluster listener")
        }
        _ => None,
    }
}

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
            let hard = table::memtoull(g[1]).ok_or_else(bad)?;
            let soft = table::memtoull(g[2]).ok_or_else(bad)?;
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
    /// The config file it was started with (absolute; CONFIG REWRITE writes it, INFO
    /// `config_file` shows it).
    pub config_file: Option<String>,
    /// The TCP port; with `--port 0`, the port the system picked.
    port: AtomicU16,
    /// The addresses listened on (`-` before one: it may fail to bind).
    bind: RwLock<Vec<String>>,
    pub databases: usize,
    /// Idle worker threads beyond the warm pool exit after this long (`--worker-idle-ms`).
    pub worker_idle: Duration,
    /// `--any-port yes` (Spindle's own, for tests and scripts): TCP on a port the system
    /// picks, whatever `port` says. `port 0` alone means no TCP listener, as in Redis.
    pub any_port: bool,
    /// `rename-command` lines of the config file, in order (see `command::install_renames`).
    pub renames: Vec<(String, String)>,
    maxclients: AtomicUsize,
    maxmemory: AtomicU64,
    /// An index into `Policy::NAMES`.
    maxmemory_policy: AtomicU8,
    maxmemory_samples: AtomicU32,
    eviction_tenacity: AtomicU32,
    lfu_log_factor: AtomicU32,
    lfu_decay_time: AtomicU32,
    tracking_table_max_keys: AtomicU64,
    /// `slowlog-log-slower-than` (µs; negative: off) and `slowlog-max-len`.
    slowlog_slower_than: AtomicI64,
    slowlog_max_len: AtomicU64,
    /// `latency-tracking`: per-command latency histograms (INFO latencystats).
    latency_tracking: AtomicBool,
    /// `busy-reply-threshold` (`lua-time-limit`), ms: a script running longer makes other
    /// clients' commands answer BUSY; 0: never.
    busy_reply_threshold: AtomicU64,
    /// `min-replicas-to-write` and `min-replicas-max-lag`: with both set, writes need that
    /// many good replicas, and Spindle (a primary with no replication) has none.
    min_replicas_to_write: AtomicU64,
    min_replicas_max_lag: AtomicU64,
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
    stream_node_max_entries: AtomicU64,
    stream_node_max_bytes: AtomicU64,
    rdbcompression: AtomicBool,
    /// `notify-keyspace-events`, as flags (see `store::notify`).
    notify_keyspace_events: AtomicU32,
    /// `client-output-buffer-limit`, by class: normal, replica, pubsub.
    output_limits: RwLock<[OutputLimit; 3]>,
    /// The value CONFIG GET shows, by name, for parameters that have no live field and have
    /// been set (the others show their default).
    values: RwLock<BTreeMap<&'static str, String>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            config_file: None,
            port: AtomicU16::new(DEFAULT_PORT),
            // Redis's default: every IPv4 and (if there is any) IPv6 address; protected mode
            // keeps other machines out until a password is set.
            bind: RwLock::new(vec!["*".into(), "-::*".into()]),
            databases: DEFAULT_DATABASES,
            worker_idle: DEFAULT_WORKER_IDLE,
            any_port: false,
            renames: Vec::new(),
            maxclients: AtomicUsize::new(DEFAULT_MAXCLIENTS),
            maxmemory: AtomicU64::new(0),
            maxmemory_policy: AtomicU8::new(Policy::NoEviction.index()),
            maxmemory_samples: AtomicU32::new(5),
            eviction_tenacity: AtomicU32::new(10),
            lfu_log_factor: AtomicU32::new(10),
            lfu_decay_time: AtomicU32::new(1),
            tracking_table_max_keys: AtomicU64::new(1_000_000),
            slowlog_slower_than: AtomicI64::new(10_000),
            slowlog_max_len: AtomicU64::new(128),
            latency_tracking: AtomicBool::new(true),
            busy_reply_threshold: AtomicU64::new(5000),
            min_replicas_to_write: AtomicU64::new(0),
            min_replicas_max_lag: AtomicU64::new(10),
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
            stream_node_max_entries: AtomicU64::new(100),
            stream_node_max_bytes: AtomicU64::new(4096),
            rdbcompression: AtomicBool::new(true),
            output_limits: RwLock::new(DEFAULT_OUTPUT_LIMITS),
            notify_keyspace_events: AtomicU32::new(0),
            values: RwLock::new(BTreeMap::new()),
        }
    }
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

    /// `slowlog-log-slower-than`, in microseconds; negative: the slow log is off.
    pub fn slowlog_slower_than(&self) -> i64 {
        self.slowlog_slower_than.load(Ordering::Relaxed)
    }

    /// `latency-tracking`.
    pub fn latency_tracking(&self) -> bool {
        self.latency_tracking.load(Ordering::Relaxed)
    }

    /// `latency-tracking-info-percentiles`, as numbers.
    pub fn latency_percentiles(&self) -> Vec<f64> {
        lookup("latency-tracking-info-percentiles")
            .map(|d| self.get(d))
            .unwrap_or_default()
            .split_ascii_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Are writes refused for want of good replicas (Redis's `checkGoodReplicasStatus`
    /// failing)? Spindle has no replicas, so whenever both settings are non-zero.
    pub fn too_few_replicas(&self) -> bool {
        self.min_replicas_to_write.load(Ordering::Relaxed) > 0
            && self.min_replicas_max_lag.load(Ordering::Relaxed) > 0
    }

    /// `busy-reply-threshold` in ms (0: scripts never count as busy).
    pub fn busy_reply_threshold(&self) -> u64 {
        self.busy_reply_threshold.load(Ordering::Relaxed)
    }

    pub fn slowlog_max_len(&self) -> usize {
        size(&self.slowlog_max_len)
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
            stream: crate::store::StreamLimits {
                node_max_entries: self.stream_node_max_entries.load(Ordering::Relaxed),
                node_max_bytes: self.stream_node_max_bytes.load(Ordering::Relaxed),
            },
            rdb_compression: self.rdbcompression.load(Ordering::Relaxed),
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

    /// The TCP port listened on.
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }

    /// Records the port actually bound (after `--port 0`, or a rebind).
    pub fn set_port(&self, port: u16) {
        self.port.store(port, Ordering::Relaxed);
    }

    /// The addresses to listen on, as configured.
    pub fn bind_addrs(&self) -> Vec<String> {
        self.bind.read().clone()
    }

    /// The process title `proc-title-template` makes with `title` (Redis's
    /// `expandProcTitleTemplate`); `None` if it does not expand.
    pub fn proc_title(&self, title: &str) -> Option<String> {
        let setting = |name: &str| lookup(name).map(|d| self.get(d)).unwrap_or_default();
        let port = self.port();
        let tls_port = setting("tls-port");
        let var = |v: &str| {
            Some(match v {
                "title" => title.to_string(),
                "listen-addr" if port != 0 => {
                    let bind = self.bind.read().first().cloned();
                    format!("{}:{port}", bind.as_deref().unwrap_or("*"))
                }
                "listen-addr" => format!("unixsocket:{}", setting("unixsocket")),
                "server-mode" => String::new(),
                "config-file" => self.config_file.clone().unwrap_or_else(|| "-".into()),
                "port" => port.to_string(),
                "tls-port" => tls_port.clone(),
                "unixsocket" => setting("unixsocket"),
                _ => return None,
            })
        };
        expand_template(&setting("proc-title-template"), var)
    }

    /// The value CONFIG GET shows for a parameter of the table.
    pub fn get(&self, d: &Described) -> String {
        let name = d.name;
        match name {
            "port" => self.port().to_string(),
            "bind" => self.bind.read().join(" "),
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
            "slowlog-log-slower-than" => self.slowlog_slower_than().to_string(),
            "slowlog-max-len" => self.slowlog_max_len().to_string(),
            "latency-tracking" => yes_no(self.latency_tracking()),
            "latency-monitor-threshold" => crate::latency::threshold().to_string(),
            "crash-log-enabled" => yes_no(crate::crash::enabled()),
            "busy-reply-threshold" => self.busy_reply_threshold().to_string(),
            "min-replicas-to-write" => self
                .min_replicas_to_write
                .load(Ordering::Relaxed)
                .to_string(),
            "min-replicas-max-lag" => self
                .min_replicas_max_lag
                .load(Ordering::Relaxed)
                .to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len().to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit().to_string(),
            "timeout" => self.timeout().to_string(),
            "rdbcompression" => yes_no(self.rdbcompression.load(Ordering::Relaxed)),
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
            "stream-node-max-entries" => self
                .stream_node_max_entries
                .load(Ordering::Relaxed)
                .to_string(),
            "stream-node-max-bytes" => self
                .stream_node_max_bytes
                .load(Ordering::Relaxed)
                .to_string(),
            "dir" => std::env::current_dir()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            _ => {
                if let Some(v) = self.values.read().get(name) {
                    return v.clone();
                }
                d.default_shown()
                    .unwrap_or_else(|| special_default(name).into())
            }
        }
    }

    /// Validates and applies one CONFIG SET pair (or config-file / command-line directive);
    /// the error is Redis's reason text. Immutable parameters are refused unless `startup`.
    pub fn set_param(&self, d: &Described, value: &str, startup: bool) -> Result<(), String> {
        let name = d.name;
        if !startup && d.has(IMMUTABLE_CONFIG) {
            return Err("can't set immutable config".into());
        }
        let canonical = match d.ty {
            Type::Special => special_parse(name, value)?,
            _ => {
                let v = d.parse(value)?;
                special_check(name, &v)?;
                v
            }
        };
        if let Some(why) = refused(name, &canonical) {
            return Err(why.into());
        }
        // Numbers were range-checked above, so these parses cannot fail.
        let number = || canonical.parse::<u64>().unwrap_or(0);
        match name {
            "port" => self.set_port(number() as u16),
            "bind" => {
                *self.bind.write() = table::split_multi(&canonical, true)
                    .into_iter()
                    .map(String::from)
                    .collect();
            }
            // Fixed for the server's life: the command line sets the field itself.
            "databases" => {}
            "maxclients" if startup => self.set_maxclients(number() as usize),
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
            "slowlog-log-slower-than" => self
                .slowlog_slower_than
                .store(canonical.parse().unwrap_or(10_000), Ordering::Relaxed),
            "slowlog-max-len" => self.slowlog_max_len.store(number(), Ordering::Relaxed),
            "latency-tracking" => self
                .latency_tracking
                .store(canonical == "yes", Ordering::Relaxed),
            "latency-monitor-threshold" => crate::latency::set_threshold(number()),
            "crash-log-enabled" => crate::crash::set_enabled(canonical == "yes"),
            "busy-reply-threshold" => self.busy_reply_threshold.store(number(), Ordering::Relaxed),
            "min-replicas-to-write" => self
                .min_replicas_to_write
                .store(number(), Ordering::Relaxed),
            "min-replicas-max-lag" => self.min_replicas_max_lag.store(number(), Ordering::Relaxed),
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
            "rdbcompression" => self
                .rdbcompression
                .store(canonical == "yes", Ordering::Relaxed),
            // The value as given: CONFIG GET's form hides `n` behind `A`.
            "notify-keyspace-events" => {
                let flags = crate::store::notify::parse(value).ok_or_else(|| {
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
            "stream-node-max-entries" => self
                .stream_node_max_entries
                .store(number(), Ordering::Relaxed),
            "stream-node-max-bytes" => self
                .stream_node_max_bytes
                .store(number(), Ordering::Relaxed),
            "dir" => std::env::set_current_dir(&canonical).map_err(|e| crate::os::strerror(&e))?,
            _ => {
                let default = d
                    .default_shown()
                    .unwrap_or_else(|| special_default(name).into());
                if !startup && canonical != default {
                    if let Some(warning) = inert_warning(d, &canonical) {
                        log::warn!("{warning}");
                    }
                }
                self.values.write().insert(d.name, canonical);
            }
        }
        Ok(())
    }

    /// What the startup log warns about: each parameter Spindle takes but does not act on
    /// that is set away from its default, and why it has no effect.
    pub fn inert_warnings(&self) -> Vec<String> {
        let values = self.values.read();
        values
            .iter()
            .filter_map(|(name, v)| {
                let d = lookup(name)?;
                let default = d
                    .default_shown()
                    .unwrap_or_else(|| special_default(name).into());
                (*v != default).then(|| inert_warning(d, v)).flatten()
            })
            .collect()
    }

    /// `set_param` by name (tests, and the command line).
    pub fn set(&self, name: &str, value: &str) -> Result<(), String> {
        let d = lookup(name).ok_or("Unknown option")?;
        self.set_param(d, value, false)
    }
}

/// The default of a special parameter, as CONFIG GET shows it.
fn special_default(name: &str) -> &'static str {
    match name {
        "save" => "3600 1 300 100 60 10000",
        "oom-score-adj-values" => "0 200 800",
        "latency-tracking-info-percentiles" => "50 99 99.9",
        "client-output-buffer-limit" => {
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        }
        "bind" => "* -::*",
        _ => "",
    }
}

/// The checks of Redis's `is_valid` functions on typed parameters.
fn special_check(name: &str, v: &str) -> Result<(), String> {
    let base_name = |v: &str| !v.contains('/');
    match name {
        "dbfilename" if !base_name(v) => Err("dbfilename can't be a path, just a filename".into()),
        "appendfilename" if v.is_empty() => Err("appendfilename can't be empty".into()),
        "appendfilename" if !base_name(v) => {
            Err("appendfilename can't be a path, just a filename".into())
        }
        "appenddirname" if v.is_empty() => Err("appenddirname can't be empty".into()),
        "appenddirname" if !base_name(v) => {
            Err("appenddirname can't be a path, just a dirname".into())
        }
        "shutdown-on-sigint" | "shutdown-on-sigterm"
            if v.split(' ').any(|w| w == "save") && v.split(' ').any(|w| w == "nosave") =>
        {
            Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into())
        }
        "cluster-announce-hostname" if v.len() >= 256 => {
            Err("Hostnames must be less than 256 characters".into())
        }
        "cluster-announce-hostname"
            if !v
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.') =>
        {
            Err("Hostnames may only contain alphanumeric characters, hyphens or dots".into())
        }
        "proc-title-template" if !valid_title_template(v) => {
            Err("template format is invalid or contains unknown variables".into())
        }
        "activedefrag" if v == "yes" => Err("Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution".into()),
        _ => Ok(()),
    }
}

/// Redis's `sdstemplate`, then trimmed of spaces: `{{` is a `{`, every `{name}` is what
/// `var` gives for it; `None` if one is unknown or left open.
fn expand_template(t: &str, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if after.is_empty() {
            return None;
        }
        if let Some(quoted) = after.strip_prefix('{') {
            out.push('{');
            rest = quoted;
            continue;
        }
        let j = after.find('}')?;
        out.push_str(&var(&after[..j])?);
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    Some(out.trim_matches(' ').to_string())
}

/// Redis's `validateProcTitleTemplate`: the template must expand, with an empty title, to
/// something (the address and the ports always give some).
fn valid_title_template(t: &str) -> bool {
    let var = |v: &str| match v {
        "title" | "server-mode" | "unixsocket" | "config-file" => Some(String::new()),
        "listen-addr" | "port" | "tls-port" => Some("0".to_string()),
        _ => None,
    };
    expand_template(t, var).is_some_and(|s| !s.is_empty())
}

/// Redis's set functions of the special parameters: the value as CONFIG GET will show it.
fn special_parse(name: &str, value: &str) -> Result<String, String> {
    let args = table::split_multi(value, lookup(name).is_some_and(|d| d.has(MULTI_ARG_CONFIG)));
    match name {
        "save" => {
            let args: &[&str] = if args.len() == 1 && args[0].is_empty() {
                &[]
            } else {
                &args
            };
            if args.len() % 2 == 1 {
                return Err("Invalid save parameters".into());
            }
            let mut shown = Vec::new();
            for (j, a) in args.iter().enumerate() {
                let v = strtoll(a).ok_or("Invalid save parameters")?;
                if (j % 2 == 0 && v < 1) || (j % 2 == 1 && v < 0) {
                    return Err("Invalid save parameters".into());
                }
                // Changes are an `int` in Redis.
                shown.push(if j % 2 == 1 {
                    (v as i32).to_string()
                } else {
                    v.to_string()
                });
            }
            Ok(shown.join(" "))
        }
        "client-output-buffer-limit" => {
            parse_output_limits(value)?;
            Ok(value.to_string())
        }
        "oom-score-adj-values" => {
            if args.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let mut shown = Vec::new();
            for a in &args {
                let v = strtoll(a).filter(|v| (-2000..=2000).contains(v)).ok_or(
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000.",
                )?;
                shown.push(v.to_string());
            }
            Ok(shown.join(" "))
        }
        "notify-keyspace-events" => {
            let flags = crate::store::notify::parse(value)
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            Ok(crate::store::notify::to_string(flags))
        }
        "bind" => {
            if args.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            if args.len() == 1 && args[0].is_empty() {
                return Ok(String::new());
            }
            Ok(args.join(" "))
        }
        "replicaof" => {
            if args.len() != 2 {
                return Err("wrong number of arguments".into());
            }
            if args[0].eq_ignore_ascii_case("no") && args[1].eq_ignore_ascii_case("one") {
                return Ok(String::new());
            }
            let port = strtoll(args[1])
                .filter(|p| (0..=65535).contains(p))
                .ok_or("Invalid master port")?;
            Ok(format!("{} {port}", args[0]))
        }
        "dir" => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            Ok(value.to_string())
        }
        "latency-tracking-info-percentiles" => {
            if args.len() == 1 && args[0].is_empty() {
                return Ok(String::new());
            }
            let mut shown = Vec::new();
            for a in &args {
                let p = a
                    .parse::<f64>()
                    .ok()
                    .filter(|p| !p.is_nan())
                    .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
                if !(0.0..=100.0).contains(&p) {
                    return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                }
                shown.push(trim_double(p));
            }
            Ok(shown.join(" "))
        }
        _ => Ok(value.to_string()),
    }
}

/// `sprintf("%f")` with its trailing zeros (and a bare point) removed, as Redis's
/// `trimDoubleString` does.
pub fn trim_double(p: f64) -> String {
    let s = format!("{p:.6}");
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

/// `strtoll(s, &end, 10)` that must consume the whole string.
fn strtoll(s: &str) -> Option<i64> {
    let t = s.trim_start();
    if t.is_empty() {
        return if s.is_empty() { Some(0) } else { None };
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    t.parse::<i64>().ok()
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
Usage: spindle [/path/to/redis.conf] [options] [-]
       spindle - (read config from stdin)
       spindle -v or --version
       spindle -h or --help

Any redis-server 7.0 directive is an option: --port 7000, --save 900 1 --save 300 10,
--bind 127.0.0.1 ::1, --dir /var/lib/spindle, --databases 16, --maxclients 10000 ...
Options are appended to the config file's lines, as redis-server does. Spindle's own:
  --worker-idle-ms N  idle worker threads beyond a warm pool exit after N ms (default 10000)
  --any-port yes      listen on a TCP port the system picks (for tests; `--port 0` is no TCP)

Examples:
       spindle (run the server with default config)
       spindle /etc/redis/redis.conf
       spindle --port 7777
       spindle /etc/myredis.conf --loglevel verbose -
       spindle /etc/myredis.conf --loglevel verbose

Logging follows loglevel and logfile (RUST_LOG, when set, overrides loglevel).";

/// Parses `redis-server`'s command line: `[config-file] [--name value ...] [-]`, or `-v` /
/// `--version` / `-h` / `--help` alone (see [`file`]). The error is the whole text to print
/// before exiting with status 1.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, String> {
    let args: Vec<String> = args.into_iter().collect();
    if args.len() == 1 {
        match args[0].as_str() {
            "-h" | "--help" => return Ok(Cli::Help),
            "-v" | "--version" => return Ok(Cli::Version),
            _ => {}
        }
    }
    let cl = file::command_line(&args);
    Ok(Cli::Run(Box::new(file::load(&cl)?)))
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
        let c = run(&["--port", "7000", "--bind", "0.0.0.0", "--maxclients", "5"]).unwrap();
        assert_eq!(
            (c.port(), c.bind_addrs(), c.maxclients()),
            (7000, vec!["0.0.0.0".to_string()], 5)
        );
        assert!(run(&["--port", "x"]).is_err());
        assert!(run(&["--port"]).is_err());
        assert!(run(&["--maxclients", "0"]).is_err());
        assert!(run(&["--nope", "1"]).is_err());
        assert_eq!(
            run(&["--save", "900", "1", "--save", "60", "5"])
                .unwrap()
                .get(lookup("save").unwrap()),
            "900 1 60 5"
        );
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
        assert_eq!(c.get(lookup("maxclients").unwrap()), "50");
        assert!(c.set("maxclients", "x").is_err());
        assert!(c.set("databases", "4").unwrap_err().contains("immutable"));
        assert!(c.set("maxmemory", "1mb").is_ok());
        assert_eq!(c.maxmemory(), 1024 * 1024);
        assert!(c.set("maxmemory-policy", "allkeys-lru").is_ok());
        assert_eq!(c.get(lookup("maxmemory-policy").unwrap()), "allkeys-lru");
        assert!(c.set("maxmemory-policy", "lru").is_err());
        assert!(c.set("nope", "1").is_err());
        assert_eq!(table::memtoull("10kb"), Some(10240));
        assert_eq!(table::memtoull("x"), None);
    }
}
