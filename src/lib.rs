//! Spindle: a Redis-compatible in-memory data server.
//!
//! The layers, bottom up (each knows nothing of the ones above it):
//! - [`protocol`]: bytes ⇄ requests and replies (RESP2/RESP3), with Redis's hard limits.
//! - [`store`]: the keyspace (databases, expiry, glob); no sockets, no replies.
//! - [`command`]: the command table, dispatch, and one file per command family.
//! - [`client`]: one connection's read → dispatch → write loop; the only socket code.
//! - [`state`]: what every connection shares (store, settings, statistics, client registry)
//!   and one connection's own state; depends on none of the modules around it.
//! - [`pubsub`], [`outbox`]: who is subscribed to what, and the output queue through which
//!   other threads write to a subscriber without ever waiting on it.
//! - [`server`], [`pool`], [`shutdown`]: accept loop, bounded worker pool, orderly stop.
//! - [`config`]: flags and settings.
//! - [`persistence`]: values in Redis's RDB encodings (DUMP, RESTORE).
//! - [`scripting`]: the Lua interpreter behind EVAL (sandbox, script cache, RESP ⇄ Lua);
//!   its commands, which run under every database's lock, are in `command::scripting`.
//!
//! Tests and embedders start a server in-process with [`server::run`] on a listener bound to
//! port 0.

pub mod acl;
pub mod alloc;
pub mod client;
pub mod cmdstats;
pub mod command;
pub mod config;
pub mod counter;
pub mod crash;
pub mod evict;
pub mod geohash;
pub mod held;
pub mod latency;
pub mod links;
pub mod listen;
pub mod logging;
pub mod monitor;
pub mod os;
pub mod outbox;
pub mod pause;
pub mod persistence;
pub mod pool;
pub mod proctitle;
pub mod protocol;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod shutdown;
pub mod slowlog;
pub mod state;
pub mod store;
pub mod supervise;
pub mod tracking;
pub mod watchdog;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// The Redis version Spindle answers as (HELLO, INFO).
pub const REDIS_VERSION: &str = "7.0.15";
/// Spindle's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
