//! The command table and dispatch, like Redis's `commands.c` + `processCommand`.
//!
//! Every command is one [`CommandSpec`] row. [`execute`] looks the name up (any case), checks
//! the arity, takes the lock the handler kind names, runs the handler under a panic guard and
//! returns its reply. Handlers never re-count their arguments.

pub mod access;
pub mod acl;
pub mod args;
pub mod bitmaps;
pub mod connection;
pub mod debug;
pub mod described;
pub mod functions;
pub mod geo;
pub mod getkeys;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod keyspec;
pub mod lists;
pub mod lolwut;
pub mod migrate;
pub mod modules;
pub mod propagate;
pub mod pubsub;
pub mod random;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod zsets;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

pub use args::{Args, CmdError, CmdResult};
pub use server::CATEGORIES;

use crate::cmdstats::Outcome;
use crate::protocol::Reply;
use crate::state::Blocked;
use crate::state::{ClientState, Shared};
use crate::store::ready::{Request, Waiter, Wake};
use crate::store::{Db, DbMut, DbRef, Op};

/// What a handler may touch. The kind decides the lock dispatch takes, so a read-only command
/// can never get a `&mut Db`.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs under the read lock of the client's database.
    Read(fn(&DbRef, &Args) -> CmdResult),
    /// Runs under the read lock and encodes its reply straight into the connection's output
    /// (protocol version given), saving the copy a `Reply` of a stored value would need (GET).
    ReadInto(fn(&DbRef, &Args, u8, &mut Vec<u8>) -> Result<(), CmdError>),
    /// Runs under the write lock of the client's database.
    Write(fn(&mut DbMut, &Args) -> CmdResult),
    /// May block (BLPOP...): runs under the write lock of the client's database (protocol
    /// version given) and either answers at once or says what it waits for; dispatch then
    /// parks the client in the key's wait queue before the lock is released.
    Blocking(fn(&mut DbMut, &Args, u8) -> Result<Step, CmdError>),
    /// May block but never writes (XREAD): the first runs under the read lock and answers
    /// when the command may not block; when it may (`None`), the second runs as `Blocking`
    /// does, under the write lock. Readers of a stream then share its lock, as GETs do.
    ReadBlocking(
        fn(&DbRef, &Args, u8) -> Result<Option<Reply>, CmdError>,
        fn(&mut DbMut, &Args, u8) -> Result<Step, CmdError>,
    ),
    /// Writes what it builds first with no lock held (RESTORE decoding its payload): the first
    /// runs before the lock is taken, and whatever it made, an error included, is handed to
    /// the second, which runs under the write lock of the client's database as `Write` does
    /// (and answers with the errors that come first in Redis's order).
    Prepared(
        fn(&Op, &Args) -> Prep,
        fn(&mut DbMut, &Args, Prep) -> CmdResult,
    ),
    /// Needs the connection or the server; takes any locks itself, through the store's
    /// methods (which keep the lock order), and sees time only through `Ctx::op`.
    Client(fn(&mut Ctx, &Args) -> CmdResult),
    /// Only dispatches to its subcommands.
    Container,
}

/// What a `Prepared` handler's first half made for its second.
pub type Prep = Box<dyn std::any::Any + Send>;

/// What a blocking handler decided.
pub enum Step {
    /// Answered at once (something was there, or an error).
    Reply(Reply),
    /// Nothing there: wait on these keys.
    Wait(Wait),
}

/// What a blocked client waits for.
pub struct Wait {
    pub keys: Vec<Box<[u8]>>,
    /// Serves the client when one of its keys may be ready.
    pub request: Box<dyn Request>,
    /// Milliseconds; 0 waits forever.
    pub timeout_ms: i64,
    /// The reply on timeout (a null of the command's kind).
    pub on_timeout: Reply,
    /// The reply inside a transaction, where it cannot block (Redis's `CLIENT_DENY_BLOCKING`
    /// answers: a null bulk for BLMOVE, else the timeout's).
    pub in_multi: Option<Reply>,
}

/// One row of the command table.
pub struct CommandSpec {
    /// Lowercase name.
    pub name: &'static str,
    /// Redis's convention: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    pub flags: u32,
    /// First key, last key, step (COMMAND INFO); `(0, 0, 0)` for keyless commands.
    pub keys: (i32, i32, i32),
    /// Redis's command group (`string`, `generic`, `connection`, `server`, ...).
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
}

/// Command flags, as COMMAND INFO names them.
pub mod flags {
    pub const WRITE: u32 = 1;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    /// Served to a cluster client redirected with -ASK (RESTORE-ASKING).
    pub const ASKING: u32 = 1 << 20;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const ALLOW_BUSY: u32 = 1 << 15;
    pub const SENTINEL: u32 = 1 << 16;
    /// Keys are found by the command itself (COMMAND INFO's `movablekeys`).
    pub const MOVABLE_KEYS: u32 = 1 << 17;
    /// Refused while a replica loads its data in the background (Redis 7.0).
    pub const NO_ASYNC_LOADING: u32 = 1 << 18;
    /// Its keys may be zero in number though it declares them (EVAL's numkeys).
    pub const NO_MANDATORY_KEYS: u32 = 1 << 19;
    /// Guarded by `enable-debug-command` (DEBUG) or `enable-module-command` (MODULE LOAD,
    /// LOADEX, UNLOAD): Redis's `CMD_PROTECTED`, which COMMAND INFO does not show either.
    pub const PROTECTED: u32 = 1 << 21;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        // MAY_REPLICATE is not shown (Redis hides it on purpose).
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
        (MOVABLE_KEYS, "movablekeys"),
    ];
}

use flags::*;

/// The state a `Client` handler works with.
pub struct Ctx<'a> {
    pub server: &'a Shared,
    pub client: &'a mut ClientState,
    /// The command's instant and limits; every database view it opens carries them.
    pub op: &'a Op,
    /// Inside EXEC: the write locks the transaction holds (see [`access`]).
    pub held: Option<&'a mut access::Held<'a>>,
}

/// A row of the table; `keys` and docs default to a keyless command.
const fn cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    group: &'static str,
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys,
        group,
        summary: "",
        since: "",
        handler,
        subcommands: &[],
    }
}

const NOKEYS: (i32, i32, i32) = (0, 0, 0);
const KEY1: (i32, i32, i32) = (1, 1, 1);
const ALLKEYS: (i32, i32, i32) = (1, -1, 1);

use Handler::{Blocking, Client, Container, Prepared, Read, ReadBlocking, ReadInto, Write};

/// The command table.
#[rustfmt::skip]
pub static TABLE: &[CommandSpec] = &[
    // connection
    cmd("ping", -1, FAST | SENTINEL, NOKEYS, "connection", Client(connection::ping)),
    cmd("echo", 2, LOADING | STALE | FAST, NOKEYS, "connection", Client(connection::echo)),
    cmd("quit", -1, ALLOW_BUSY | NO_AUTH | FAST | NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::quit)),
    cmd("select", 2, LOADING | STALE | FAST, NOKEYS, "connection", Client(connection::select)),
    cmd("hello", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY, NOKEYS, "connection", Client(connection::hello)),
    cmd("auth", -2, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY, NOKEYS, "connection", Client(connection::auth)),
    cmd("reset", 1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, NOKEYS, "connection", Client(connection::reset)),
    // pub/sub
    cmd("subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "pubsub", Client(pubsub::subscribe)),
    cmd("unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "pubsub", Client(pubsub::unsubscribe)),
    cmd("psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "pubsub", Client(pubsub::psubscribe)),
    cmd("punsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "pubsub", Client(pubsub::punsubscribe)),
    cmd("ssubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, ALLKEYS, "pubsub", Client(pubsub::ssubscribe)),
    cmd("sunsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, ALLKEYS, "pubsub", Client(pubsub::sunsubscribe)),
    cmd("publish", 3, PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE | SENTINEL, NOKEYS, "pubsub", Client(pubsub::publish)),
    cmd("spublish", 3, PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE, KEY1, "pubsub", Client(pubsub::spublish)),
    CommandSpec {
        subcommands: &[
            cmd("channels", -2, PUBSUB | LOADING | STALE, NOKEYS, "pubsub", Client(pubsub::pubsub_channels)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "pubsub", Client(pubsub::pubsub_help)),
            cmd("numpat", 2, PUBSUB | LOADING | STALE, NOKEYS, "pubsub", Client(pubsub::pubsub_numpat)),
            cmd("numsub", -2, PUBSUB | LOADING | STALE, NOKEYS, "pubsub", Client(pubsub::pubsub_numsub)),
            cmd("shardchannels", -2, PUBSUB | LOADING | STALE, NOKEYS, "pubsub", Client(pubsub::pubsub_shardchannels)),
            cmd("shardnumsub", -2, PUBSUB | LOADING | STALE, NOKEYS, "pubsub", Client(pubsub::pubsub_shardnumsub)),
        ],
        ..cmd("pubsub", -2, 0, NOKEYS, "pubsub", Container)
    },
    // hyperloglog: strings in Redis's HLL format
    cmd("pfadd", -2, WRITE | DENYOOM | FAST, KEY1, "hyperloglog", Client(hyperloglog::pfadd)),
    cmd("pfcount", -2, READONLY | MAY_REPLICATE, ALLKEYS, "hyperloglog", Client(hyperloglog::pfcount)),
    cmd("pfdebug", 3, WRITE | DENYOOM | ADMIN, (2, 2, 1), "hyperloglog", Client(hyperloglog::pfdebug)),
    cmd("pfmerge", -2, WRITE | DENYOOM, ALLKEYS, "hyperloglog", Client(hyperloglog::pfmerge)),
    cmd("pfselftest", 1, ADMIN, NOKEYS, "hyperloglog", Client(hyperloglog::pfselftest)),
    // SLOWLOG
    CommandSpec {
        subcommands: &[
            cmd("get", -2, ADMIN | LOADING | STALE, NOKEYS, "server", Client(server::slowlog_get)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "server", Client(server::slowlog_help)),
            cmd("len", 2, ADMIN | LOADING | STALE, NOKEYS, "server", Client(server::slowlog_len)),
            cmd("reset", 2, ADMIN | LOADING | STALE, NOKEYS, "server", Client(server::slowlog_reset)),
        ],
        ..cmd("slowlog", -2, 0, NOKEYS, "server", Container)
    },
    // LATENCY
    CommandSpec {
        subcommands: &[
            cmd("doctor", 2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", Client(server::latency_doctor)),
            cmd("graph", 3, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", Client(server::latency_graph)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "server", Client(server::latency_help)),
            cmd("histogram", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", Client(server::latency_histogram)),
            cmd("history", 3, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", Client(server::latency_history)),
            cmd("latest", 2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", Client(server::latency_latest)),
            cmd("reset", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", Client(server::latency_reset)),
        ],
        ..cmd("latency", -2, 0, NOKEYS, "server", Container)
    },
    // ACL users
    CommandSpec {
        subcommands: &[
            cmd("cat", -2, NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_cat)),
            cmd("deluser", -3, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_deluser)),
            cmd("dryrun", -4, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_dryrun)),
            cmd("genpass", -2, NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_genpass)),
            cmd("getuser", 3, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_getuser)),
            cmd("help", 2, LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_help)),
            cmd("list", 2, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_list)),
            cmd("load", 2, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_load)),
            cmd("log", -2, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_log)),
            cmd("save", 2, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_save)),
            cmd("setuser", -3, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_setuser)),
            cmd("users", 2, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_users)),
            cmd("whoami", 2, NOSCRIPT | LOADING | STALE | SENTINEL, NOKEYS, "server", Client(acl::acl_whoami)),
        ],
        ..cmd("acl", -2, SENTINEL, NOKEYS, "server", Container)
    },
    // cluster: a standalone server answers every subcommand with Redis's refusal
    CommandSpec {
        subcommands: &[
            cmd("addslots", -3, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("addslotsrange", -4, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("bumpepoch", 2, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("count-failure-reports", 3, ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("countkeysinslot", 3, STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("delslots", -3, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("delslotsrange", -4, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("failover", -2, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("flushslots", 2, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("forget", 3, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("getkeysinslot", 4, STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("info", 2, STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("keyslot", 3, STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("links", 2, STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("meet", -4, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("myid", 2, STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("nodes", 2, STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("replicas", 3, ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("replicate", 3, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("reset", -2, ADMIN | STALE | NOSCRIPT, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("saveconfig", 2, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("set-config-epoch", 3, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("setslot", -4, NO_ASYNC_LOADING | ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("shards", 2, STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("slaves", 3, ADMIN | STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
            cmd("slots", 2, STALE, NOKEYS, "cluster", Client(server::cluster_disabled)),
        ],
        ..cmd("cluster", -2, 0, NOKEYS, "cluster", Container)
    },
    // geo: points in sorted sets
    cmd("geoadd", -5, WRITE | DENYOOM, KEY1, "geo", Write(geo::geoadd)),
    cmd("geodist", -4, READONLY, KEY1, "geo", Read(geo::geodist)),
    cmd("geohash", -2, READONLY, KEY1, "geo", Read(geo::geohash_)),
    cmd("geopos", -2, READONLY, KEY1, "geo", Client(geo::geopos)),
    cmd("georadius", -6, WRITE | DENYOOM | MOVABLE_KEYS, KEY1, "geo", Client(geo::georadius)),
    cmd("georadius_ro", -6, READONLY, KEY1, "geo", Client(geo::georadius_ro)),
    cmd("georadiusbymember", -5, WRITE | DENYOOM | MOVABLE_KEYS, KEY1, "geo", Client(geo::georadiusbymember)),
    cmd("georadiusbymember_ro", -5, READONLY, KEY1, "geo", Client(geo::georadiusbymember_ro)),
    cmd("geosearch", -7, READONLY, KEY1, "geo", Client(geo::geosearch)),
    cmd("geosearchstore", -8, WRITE | DENYOOM, (1, 2, 1), "geo", Client(geo::geosearchstore)),
    // transactions
    cmd("multi", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, NOKEYS, "transactions", Client(transactions::multi)),
    cmd("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG, NOKEYS, "transactions", Client(transactions::exec)),
    cmd("discard", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, NOKEYS, "transactions", Client(transactions::discard)),
    cmd("watch", -2, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, ALLKEYS, "transactions", Client(transactions::watch)),
    cmd("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, NOKEYS, "transactions", Client(transactions::unwatch)),
    CommandSpec {
        subcommands: &[
            cmd("id", 2, NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_id)),
            cmd("setname", 3, NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_setname)),
            cmd("getname", 2, NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_getname)),
            cmd("list", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_list)),
            cmd("info", 2, NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_info)),
            cmd("kill", -3, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_kill)),
            cmd("setinfo", 4, NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_setinfo)),
            cmd("no-evict", 3, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_no_evict)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "connection", Client(connection::client_help)),
            cmd("unblock", -3, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_unblock)),
            cmd("reply", 3, NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_reply)),
            cmd("tracking", -3, NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_tracking)),
            cmd("caching", 3, NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_caching)),
            cmd("getredir", 2, NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_getredir)),
            cmd("trackinginfo", 2, NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_trackinginfo)),
            cmd("pause", -3, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_pause)),
            cmd("unpause", 2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "connection", Client(connection::client_unpause)),
        ],
        ..cmd("client", -2, SENTINEL, NOKEYS, "connection", Container)
    },
    // strings
    cmd("set", -3, WRITE | DENYOOM, KEY1, "string", Write(strings::set)),
    cmd("get", 2, READONLY | FAST, KEY1, "string", ReadInto(strings::get)),
    cmd("getset", 3, WRITE | DENYOOM | FAST, KEY1, "string", Write(strings::getset)),
    cmd("getdel", 2, WRITE | FAST, KEY1, "string", Write(strings::getdel)),
    cmd("getex", -2, WRITE | FAST, KEY1, "string", Write(strings::getex)),
    cmd("setnx", 3, WRITE | DENYOOM | FAST, KEY1, "string", Write(strings::setnx)),
    cmd("setex", 4, WRITE | DENYOOM, KEY1, "string", Write(strings::setex)),
    cmd("psetex", 4, WRITE | DENYOOM, KEY1, "string", Write(strings::psetex)),
    cmd("mset", -3, WRITE | DENYOOM, (1, -1, 2), "string", Write(strings::mset)),
    cmd("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), "string", Write(strings::msetnx)),
    cmd("mget", -2, READONLY | FAST, ALLKEYS, "string", Read(strings::mget)),
    cmd("append", 3, WRITE | DENYOOM | FAST, KEY1, "string", Write(strings::append)),
    cmd("strlen", 2, READONLY | FAST, KEY1, "string", Read(strings::strlen)),
    cmd("getrange", 4, READONLY, KEY1, "string", Read(strings::getrange)),
    cmd("lcs", -3, READONLY, (1, 2, 1), "string", Client(strings::lcs)),
    cmd("substr", 4, READONLY, KEY1, "string", Read(strings::getrange)),
    cmd("setrange", 4, WRITE | DENYOOM, KEY1, "string", Write(strings::setrange)),
    cmd("incr", 2, WRITE | DENYOOM | FAST, KEY1, "string", Write(strings::incr)),
    cmd("decr", 2, WRITE | DENYOOM | FAST, KEY1, "string", Write(strings::decr)),
    cmd("incrby", 3, WRITE | DENYOOM | FAST, KEY1, "string", Write(strings::incrby)),
    cmd("decrby", 3, WRITE | DENYOOM | FAST, KEY1, "string", Write(strings::decrby)),
    cmd("incrbyfloat", 3, WRITE | DENYOOM | FAST, KEY1, "string", Write(strings::incrbyfloat)),
    cmd("setbit", 4, WRITE | DENYOOM, KEY1, "bitmap", Write(strings::setbit)),
    cmd("getbit", 3, READONLY | FAST, KEY1, "bitmap", Read(strings::getbit)),
    cmd("bitcount", -2, READONLY, KEY1, "bitmap", Read(bitmaps::bitcount)),
    cmd("bitpos", -3, READONLY, KEY1, "bitmap", Read(bitmaps::bitpos)),
    cmd("bitop", -4, WRITE | DENYOOM, (2, -1, 1), "bitmap", Write(bitmaps::bitop)),
    cmd("bitfield", -2, WRITE | DENYOOM, KEY1, "bitmap", Write(bitmaps::bitfield)),
    cmd("bitfield_ro", -2, READONLY | FAST, KEY1, "bitmap", Read(bitmaps::bitfield_ro)),
    // lists
    cmd("lpush", -3, WRITE | DENYOOM | FAST, KEY1, "list", Write(lists::lpush)),
    cmd("rpush", -3, WRITE | DENYOOM | FAST, KEY1, "list", Write(lists::rpush)),
    cmd("lpushx", -3, WRITE | DENYOOM | FAST, KEY1, "list", Write(lists::lpushx)),
    cmd("rpushx", -3, WRITE | DENYOOM | FAST, KEY1, "list", Write(lists::rpushx)),
    cmd("lpop", -2, WRITE | FAST, KEY1, "list", Write(lists::lpop)),
    cmd("rpop", -2, WRITE | FAST, KEY1, "list", Write(lists::rpop)),
    cmd("llen", 2, READONLY | FAST, KEY1, "list", Read(lists::llen)),
    cmd("lindex", 3, READONLY, KEY1, "list", Read(lists::lindex)),
    cmd("lset", 4, WRITE | DENYOOM, KEY1, "list", Write(lists::lset)),
    cmd("lrange", 4, READONLY, KEY1, "list", Client(lists::lrange)),
    cmd("linsert", 5, WRITE | DENYOOM, KEY1, "list", Write(lists::linsert)),
    cmd("lrem", 4, WRITE, KEY1, "list", Write(lists::lrem)),
    cmd("ltrim", 4, WRITE, KEY1, "list", Write(lists::ltrim)),
    cmd("lpos", -3, READONLY, KEY1, "list", Read(lists::lpos)),
    cmd("lmove", 5, WRITE | DENYOOM, (1, 2, 1), "list", Write(lists::lmove)),
    cmd("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), "list", Write(lists::rpoplpush)),
    cmd("lmpop", -4, WRITE | MOVABLE_KEYS, NOKEYS, "list", Write(lists::lmpop)),
    cmd("blpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), "list", Blocking(lists::blpop)),
    cmd("brpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), "list", Blocking(lists::brpop)),
    cmd("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), "list", Blocking(lists::blmove)),
    cmd("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), "list", Blocking(lists::brpoplpush)),
    cmd("blmpop", -5, WRITE | BLOCKING | MOVABLE_KEYS, NOKEYS, "list", Blocking(lists::blmpop)),
    // hashes
    cmd("hset", -4, WRITE | DENYOOM | FAST, KEY1, "hash", Write(hashes::hset)),
    cmd("hsetnx", 4, WRITE | DENYOOM | FAST, KEY1, "hash", Write(hashes::hsetnx)),
    cmd("hmset", -4, WRITE | DENYOOM | FAST, KEY1, "hash", Write(hashes::hset)),
    cmd("hget", 3, READONLY | FAST, KEY1, "hash", Read(hashes::hget)),
    cmd("hmget", -3, READONLY | FAST, KEY1, "hash", Read(hashes::hmget)),
    cmd("hdel", -3, WRITE | FAST, KEY1, "hash", Write(hashes::hdel)),
    cmd("hlen", 2, READONLY | FAST, KEY1, "hash", Read(hashes::hlen)),
    cmd("hstrlen", 3, READONLY | FAST, KEY1, "hash", Read(hashes::hstrlen)),
    cmd("hexists", 3, READONLY | FAST, KEY1, "hash", Read(hashes::hexists)),
    cmd("hkeys", 2, READONLY, KEY1, "hash", Client(hashes::hkeys)),
    cmd("hvals", 2, READONLY, KEY1, "hash", Client(hashes::hvals)),
    cmd("hgetall", 2, READONLY, KEY1, "hash", Client(hashes::hgetall)),
    cmd("hincrby", 4, WRITE | DENYOOM | FAST, KEY1, "hash", Write(hashes::hincrby)),
    cmd("hincrbyfloat", 4, WRITE | DENYOOM | FAST, KEY1, "hash", Write(hashes::hincrbyfloat)),
    cmd("hrandfield", -2, READONLY, KEY1, "hash", Read(hashes::hrandfield)),
    cmd("hscan", -3, READONLY, KEY1, "hash", Read(hashes::hscan)),
    // sets
    cmd("sadd", -3, WRITE | DENYOOM | FAST, KEY1, "set", Write(sets::sadd)),
    cmd("srem", -3, WRITE | FAST, KEY1, "set", Write(sets::srem)),
    cmd("smembers", 2, READONLY, KEY1, "set", Client(sets::smembers)),
    cmd("sismember", 3, READONLY | FAST, KEY1, "set", Read(sets::sismember)),
    cmd("smismember", -3, READONLY | FAST, KEY1, "set", Read(sets::smismember)),
    cmd("scard", 2, READONLY | FAST, KEY1, "set", Read(sets::scard)),
    cmd("smove", 4, WRITE | FAST, (1, 2, 1), "set", Write(sets::smove)),
    cmd("spop", -2, WRITE | FAST, KEY1, "set", Write(sets::spop)),
    cmd("srandmember", -2, READONLY, KEY1, "set", Read(sets::srandmember)),
    cmd("sinter", -2, READONLY, ALLKEYS, "set", Read(sets::sinter)),
    cmd("sintercard", -3, READONLY | MOVABLE_KEYS, NOKEYS, "set", Read(sets::sintercard)),
    cmd("sinterstore", -3, WRITE | DENYOOM, ALLKEYS, "set", Write(sets::sinterstore)),
    cmd("sunion", -2, READONLY, ALLKEYS, "set", Read(sets::sunion)),
    cmd("sunionstore", -3, WRITE | DENYOOM, ALLKEYS, "set", Write(sets::sunionstore)),
    cmd("sdiff", -2, READONLY, ALLKEYS, "set", Read(sets::sdiff)),
    cmd("sdiffstore", -3, WRITE | DENYOOM, ALLKEYS, "set", Write(sets::sdiffstore)),
    cmd("sscan", -3, READONLY, KEY1, "set", Read(sets::sscan)),
    // sorted sets
    cmd("zadd", -4, WRITE | DENYOOM | FAST, KEY1, "sorted_set", Write(zsets::zadd)),
    cmd("zincrby", 4, WRITE | DENYOOM | FAST, KEY1, "sorted_set", Write(zsets::zincrby)),
    cmd("zrem", -3, WRITE | FAST, KEY1, "sorted_set", Write(zsets::zrem)),
    cmd("zcard", 2, READONLY | FAST, KEY1, "sorted_set", Read(zsets::zcard)),
    cmd("zcount", 4, READONLY | FAST, KEY1, "sorted_set", Read(zsets::zcount)),
    cmd("zlexcount", 4, READONLY | FAST, KEY1, "sorted_set", Read(zsets::zlexcount)),
    cmd("zscore", 3, READONLY | FAST, KEY1, "sorted_set", Read(zsets::zscore)),
    cmd("zmscore", -3, READONLY | FAST, KEY1, "sorted_set", Read(zsets::zmscore)),
    cmd("zrank", 3, READONLY | FAST, KEY1, "sorted_set", Read(zsets::zrank)),
    cmd("zrevrank", 3, READONLY | FAST, KEY1, "sorted_set", Read(zsets::zrevrank)),
    cmd("zrange", -4, READONLY, KEY1, "sorted_set", Read(zsets::zrange)),
    cmd("zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), "sorted_set", Write(zsets::zrangestore)),
    cmd("zrevrange", -4, READONLY, KEY1, "sorted_set", Read(zsets::zrevrange)),
    cmd("zrangebyscore", -4, READONLY, KEY1, "sorted_set", Read(zsets::zrangebyscore)),
    cmd("zrevrangebyscore", -4, READONLY, KEY1, "sorted_set", Read(zsets::zrevrangebyscore)),
    cmd("zrangebylex", -4, READONLY, KEY1, "sorted_set", Read(zsets::zrangebylex)),
    cmd("zrevrangebylex", -4, READONLY, KEY1, "sorted_set", Read(zsets::zrevrangebylex)),
    cmd("zremrangebyrank", 4, WRITE, KEY1, "sorted_set", Write(zsets::zremrangebyrank)),
    cmd("zremrangebyscore", 4, WRITE, KEY1, "sorted_set", Write(zsets::zremrangebyscore)),
    cmd("zremrangebylex", 4, WRITE, KEY1, "sorted_set", Write(zsets::zremrangebylex)),
    cmd("zunion", -3, READONLY | MOVABLE_KEYS, NOKEYS, "sorted_set", Read(zsets::zunion)),
    cmd("zinter", -3, READONLY | MOVABLE_KEYS, NOKEYS, "sorted_set", Read(zsets::zinter)),
    cmd("zdiff", -3, READONLY | MOVABLE_KEYS, NOKEYS, "sorted_set", Read(zsets::zdiff)),
    cmd("zunionstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, KEY1, "sorted_set", Write(zsets::zunionstore)),
    cmd("zinterstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, KEY1, "sorted_set", Write(zsets::zinterstore)),
    cmd("zdiffstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, KEY1, "sorted_set", Write(zsets::zdiffstore)),
    cmd("zintercard", -3, READONLY | MOVABLE_KEYS, NOKEYS, "sorted_set", Read(zsets::zintercard)),
    cmd("zpopmin", -2, WRITE | FAST, KEY1, "sorted_set", Write(zsets::zpopmin)),
    cmd("zpopmax", -2, WRITE | FAST, KEY1, "sorted_set", Write(zsets::zpopmax)),
    cmd("zmpop", -4, WRITE | MOVABLE_KEYS, NOKEYS, "sorted_set", Write(zsets::zmpop)),
    cmd("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, (1, -2, 1), "sorted_set", Blocking(zsets::bzpopmin)),
    cmd("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, (1, -2, 1), "sorted_set", Blocking(zsets::bzpopmax)),
    cmd("bzmpop", -5, WRITE | BLOCKING | MOVABLE_KEYS, NOKEYS, "sorted_set", Blocking(zsets::bzmpop)),
    cmd("zrandmember", -2, READONLY, KEY1, "sorted_set", Read(zsets::zrandmember)),
    cmd("zscan", -3, READONLY, KEY1, "sorted_set", Read(zsets::zscan)),
    // streams
    cmd("xadd", -5, WRITE | DENYOOM | FAST, KEY1, "stream", Write(streams::xadd)),
    cmd("xtrim", -4, WRITE, KEY1, "stream", Write(streams::xtrim)),
    cmd("xdel", -3, WRITE | FAST, KEY1, "stream", Write(streams::xdel)),
    cmd("xlen", 2, READONLY | FAST, KEY1, "stream", Read(streams::xlen)),
    cmd("xrange", -4, READONLY, KEY1, "stream", Read(streams::xrange)),
    cmd("xrevrange", -4, READONLY, KEY1, "stream", Read(streams::xrevrange)),
    cmd("xsetid", -3, WRITE | DENYOOM | FAST, KEY1, "stream", Write(streams::xsetid)),
    cmd("xread", -4, READONLY | BLOCKING | MOVABLE_KEYS, NOKEYS, "stream", ReadBlocking(streams::xread_at_once, streams::xread)),
    cmd("xreadgroup", -7, WRITE | BLOCKING | MOVABLE_KEYS, NOKEYS, "stream", Blocking(streams::xreadgroup)),
    cmd("xack", -4, WRITE | FAST, KEY1, "stream", Write(streams::xack)),
    cmd("xpending", -3, READONLY, KEY1, "stream", Read(streams::xpending)),
    cmd("xclaim", -6, WRITE | FAST, KEY1, "stream", Write(streams::xclaim)),
    cmd("xautoclaim", -6, WRITE | FAST, KEY1, "stream", Write(streams::xautoclaim)),
    CommandSpec {
        subcommands: &[
            cmd("create", -5, WRITE | DENYOOM, (2, 2, 1), "stream", Write(streams::xgroup_create)),
            cmd("createconsumer", 5, WRITE | DENYOOM, (2, 2, 1), "stream", Write(streams::xgroup_createconsumer)),
            cmd("delconsumer", 5, WRITE, (2, 2, 1), "stream", Write(streams::xgroup_delconsumer)),
            cmd("destroy", 4, WRITE, (2, 2, 1), "stream", Write(streams::xgroup_destroy)),
            cmd("setid", -5, WRITE, (2, 2, 1), "stream", Write(streams::xgroup_setid)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "stream", Read(streams::xgroup_help)),
        ],
        ..cmd("xgroup", -2, 0, NOKEYS, "stream", Container)
    },
    CommandSpec {
        subcommands: &[
            cmd("consumers", 4, READONLY, (2, 2, 1), "stream", Read(streams::xinfo_consumers)),
            cmd("groups", 3, READONLY, (2, 2, 1), "stream", Read(streams::xinfo_groups)),
            cmd("stream", -3, READONLY, (2, 2, 1), "stream", Read(streams::xinfo_stream)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "stream", Read(streams::xinfo_help)),
        ],
        ..cmd("xinfo", -2, 0, NOKEYS, "stream", Container)
    },
    // keys
    cmd("del", -2, WRITE, ALLKEYS, "generic", Write(keys::del)),
    cmd("unlink", -2, WRITE | FAST, ALLKEYS, "generic", Write(keys::unlink)),
    cmd("exists", -2, READONLY | FAST, ALLKEYS, "generic", Read(keys::exists)),
    cmd("touch", -2, READONLY | FAST, ALLKEYS, "generic", Read(keys::touch)),
    cmd("type", 2, READONLY | FAST, KEY1, "generic", Read(keys::type_)),
    cmd("keys", 2, READONLY, NOKEYS, "generic", Client(keys::keys)),
    cmd("scan", -2, READONLY, NOKEYS, "generic", Read(keys::scan)),
    cmd("randomkey", 1, READONLY, NOKEYS, "generic", Read(keys::randomkey)),
    cmd("rename", 3, WRITE, (1, 2, 1), "generic", Write(keys::rename)),
    cmd("renamenx", 3, WRITE | FAST, (1, 2, 1), "generic", Write(keys::renamenx)),
    cmd("dump", 2, READONLY, (1, 1, 1), "generic", Read(keys::dump)),
    cmd("restore", -4, WRITE | DENYOOM, (1, 1, 1), "generic", Prepared(keys::restore_decode, keys::restore)),
    cmd("restore-asking", -4, WRITE | DENYOOM | ASKING, (1, 1, 1), "server", Prepared(keys::restore_decode, keys::restore)),
    cmd("role", 1, NOSCRIPT | LOADING | STALE | FAST | SENTINEL, NOKEYS, "server", Client(replication::role)),
    cmd("wait", 3, NOSCRIPT, NOKEYS, "generic", Blocking(replication::wait)),
    cmd("asking", 1, FAST, NOKEYS, "cluster", Client(replication::cluster_only)),
    cmd("readonly", 1, FAST | LOADING | STALE, NOKEYS, "cluster", Client(replication::cluster_only)),
    cmd("readwrite", 1, FAST | LOADING | STALE, NOKEYS, "cluster", Client(replication::cluster_only)),
    cmd("migrate", -6, WRITE | MOVABLE_KEYS, (3, 3, 1), "generic", Client(migrate::migrate)),
    cmd("copy", -3, WRITE | DENYOOM, (1, 2, 1), "generic", Client(keys::copy)),
    cmd("move", 3, WRITE | FAST, KEY1, "generic", Client(keys::move_)),
    cmd("expire", -3, WRITE | FAST, KEY1, "generic", Write(keys::expire)),
    cmd("pexpire", -3, WRITE | FAST, KEY1, "generic", Write(keys::pexpire)),
    cmd("expireat", -3, WRITE | FAST, KEY1, "generic", Write(keys::expireat)),
    cmd("pexpireat", -3, WRITE | FAST, KEY1, "generic", Write(keys::pexpireat)),
    cmd("ttl", 2, READONLY | FAST, KEY1, "generic", Read(keys::ttl)),
    cmd("pttl", 2, READONLY | FAST, KEY1, "generic", Read(keys::pttl)),
    cmd("expiretime", 2, READONLY | FAST, KEY1, "generic", Read(keys::expiretime)),
    cmd("pexpiretime", 2, READONLY | FAST, KEY1, "generic", Read(keys::pexpiretime)),
    cmd("persist", 2, WRITE | FAST, KEY1, "generic", Write(keys::persist)),
    cmd("sort", -2, WRITE | DENYOOM | MOVABLE_KEYS, KEY1, "generic", Write(sort::sort)),
    cmd("sort_ro", -2, READONLY | MOVABLE_KEYS, KEY1, "generic", Read(sort::sort_ro)),
    CommandSpec {
        subcommands: &[
            cmd("encoding", 3, READONLY, (2, 2, 1), "generic", Read(keys::object_encoding)),
            cmd("freq", 3, READONLY, (2, 2, 1), "generic", Read(keys::object_freq)),
            cmd("idletime", 3, READONLY, (2, 2, 1), "generic", Read(keys::object_idletime)),
            cmd("refcount", 3, READONLY, (2, 2, 1), "generic", Read(keys::object_refcount)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "generic", Read(keys::object_help)),
        ],
        ..cmd("object", -2, 0, NOKEYS, "generic", Container)
    },
    // server
    cmd("dbsize", 1, READONLY | FAST, NOKEYS, "server", Read(server::dbsize)),
    cmd("flushdb", -1, WRITE, NOKEYS, "server", Client(server::flushdb)),
    cmd("flushall", -1, WRITE, NOKEYS, "server", Client(server::flushall)),
    cmd("swapdb", 3, WRITE | FAST, NOKEYS, "server", Client(server::swapdb)),
    cmd("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | SENTINEL | ALLOW_BUSY, NOKEYS, "server", Client(server::shutdown)),
    cmd("info", -1, LOADING | STALE | SENTINEL, NOKEYS, "server", Client(server::info)),
    cmd("time", 1, LOADING | STALE | FAST, NOKEYS, "server", Client(server::time)),
    cmd("save", 1, ADMIN | NOSCRIPT | NO_MULTI, NOKEYS, "server", Client(server::save)),
    cmd("bgsave", -1, ADMIN | NOSCRIPT, NOKEYS, "server", Client(server::bgsave)),
    cmd("bgrewriteaof", 1, ADMIN | NOSCRIPT, NOKEYS, "server", Client(server::bgrewriteaof)),
    cmd("lolwut", -1, READONLY | FAST, NOKEYS, "server", Client(lolwut::lolwut)),
    cmd("lastsave", 1, LOADING | STALE | FAST, NOKEYS, "server", Client(server::lastsave)),
    cmd("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE | PROTECTED, NOKEYS, "server", Client(debug::debug)),
    cmd("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", Client(server::monitor)),
    CommandSpec {
        subcommands: &[
            cmd("help", 2, LOADING | STALE, NOKEYS, "server", Client(modules::module_help)),
            cmd("list", 2, ADMIN | NOSCRIPT, NOKEYS, "server", Client(modules::module_list)),
            cmd("load", -3, ADMIN | NOSCRIPT | NO_ASYNC_LOADING | PROTECTED, NOKEYS, "server", Client(modules::module_load)),
            cmd("loadex", -3, ADMIN | NOSCRIPT | NO_ASYNC_LOADING | PROTECTED, NOKEYS, "server", Client(modules::module_loadex)),
            cmd("unload", 3, ADMIN | NOSCRIPT | NO_ASYNC_LOADING | PROTECTED, NOKEYS, "server", Client(modules::module_unload)),
        ],
        ..cmd("module", -2, 0, NOKEYS, "server", Container)
    },
    CommandSpec {
        subcommands: &[
            cmd("doctor", 2, 0, NOKEYS, "server", Client(server::memory_doctor)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "server", Client(server::memory_help)),
            cmd("malloc-stats", 2, 0, NOKEYS, "server", Client(server::memory_malloc_stats)),
            cmd("purge", 2, 0, NOKEYS, "server", Client(server::memory_purge)),
            cmd("stats", 2, 0, NOKEYS, "server", Client(server::memory_stats)),
            cmd("usage", -3, READONLY, (2, 2, 1), "server", Read(server::memory_usage)),
        ],
        ..cmd("memory", -2, 0, NOKEYS, "server", Container)
    },
    CommandSpec {
        subcommands: &[
            cmd("get", -3, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", Client(server::config_get)),
            cmd("set", -4, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", Client(server::config_set)),
            cmd("resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", Client(server::config_resetstat)),
            cmd("rewrite", 2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", Client(server::config_rewrite)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "server", Client(server::config_help)),
        ],
        ..cmd("config", -2, NOKEYS_FLAGS, NOKEYS, "server", Container)
    },
    CommandSpec {
        subcommands: &[
            cmd("count", 2, LOADING | STALE, NOKEYS, "server", Client(server::command_count)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "server", Client(server::command_help)),
            cmd("info", -2, LOADING | STALE, NOKEYS, "server", Client(server::command_info)),
            cmd("docs", -2, LOADING | STALE, NOKEYS, "server", Client(server::command_docs)),
            cmd("getkeys", -4, LOADING | STALE, NOKEYS, "server", Client(getkeys::command_getkeys)),
            cmd("getkeysandflags", -4, LOADING | STALE, NOKEYS, "server", Client(getkeys::command_getkeysandflags)),
            cmd("list", -2, LOADING | STALE, NOKEYS, "server", Client(server::command_list)),
        ],
        ..cmd("command", -1, LOADING | STALE | SENTINEL, NOKEYS, "server", Client(server::command_all))
    },
    // scripting
    cmd("eval", -3, NOSCRIPT | NO_MANDATORY_KEYS | SKIP_MONITOR | MAY_REPLICATE | STALE | MOVABLE_KEYS, NOKEYS, "scripting", Client(scripting::eval)),
    cmd("evalsha", -3, NOSCRIPT | NO_MANDATORY_KEYS | SKIP_MONITOR | MAY_REPLICATE | STALE | MOVABLE_KEYS, NOKEYS, "scripting", Client(scripting::evalsha)),
    cmd("eval_ro", -3, NOSCRIPT | NO_MANDATORY_KEYS | SKIP_MONITOR | STALE | READONLY | MOVABLE_KEYS, NOKEYS, "scripting", Client(scripting::eval_ro)),
    cmd("evalsha_ro", -3, NOSCRIPT | NO_MANDATORY_KEYS | SKIP_MONITOR | STALE | READONLY | MOVABLE_KEYS, NOKEYS, "scripting", Client(scripting::evalsha_ro)),
    cmd("fcall", -3, NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | NO_MANDATORY_KEYS | STALE | MOVABLE_KEYS, NOKEYS, "scripting", Client(functions::fcall)),
    cmd("fcall_ro", -3, NOSCRIPT | SKIP_MONITOR | NO_MANDATORY_KEYS | STALE | READONLY | MOVABLE_KEYS, NOKEYS, "scripting", Client(functions::fcall_ro)),
    CommandSpec {
        subcommands: &[
            cmd("debug", 3, NOSCRIPT, NOKEYS, "scripting", Client(scripting::script_debug)),
            cmd("exists", -3, NOSCRIPT | STALE, NOKEYS, "scripting", Client(scripting::script_exists)),
            cmd("flush", -2, NOSCRIPT | STALE, NOKEYS, "scripting", Client(scripting::script_flush)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "scripting", Client(scripting::script_help)),
            cmd("kill", 2, NOSCRIPT | ALLOW_BUSY, NOKEYS, "scripting", Client(scripting::script_kill)),
            cmd("load", 3, NOSCRIPT | STALE, NOKEYS, "scripting", Client(scripting::script_load)),
        ],
        ..cmd("script", -2, 0, NOKEYS, "scripting", Container)
    },
    CommandSpec {
        subcommands: &[
            cmd("delete", 3, NOSCRIPT | WRITE, NOKEYS, "scripting", Client(functions::function_delete)),
            cmd("dump", 2, NOSCRIPT, NOKEYS, "scripting", Client(functions::function_dump)),
            cmd("flush", -2, NOSCRIPT | WRITE, NOKEYS, "scripting", Client(functions::function_flush)),
            cmd("help", 2, LOADING | STALE, NOKEYS, "scripting", Client(functions::function_help)),
            cmd("kill", 2, NOSCRIPT | ALLOW_BUSY, NOKEYS, "scripting", Client(functions::function_kill)),
            cmd("list", -2, NOSCRIPT, NOKEYS, "scripting", Client(functions::function_list)),
            cmd("load", -3, NOSCRIPT | WRITE | DENYOOM, NOKEYS, "scripting", Client(functions::function_load)),
            cmd("restore", -3, NOSCRIPT | WRITE | DENYOOM, NOKEYS, "scripting", Client(functions::function_restore)),
            cmd("stats", 2, NOSCRIPT | ALLOW_BUSY, NOKEYS, "scripting", Client(functions::function_stats)),
        ],
        ..cmd("function", -2, 0, NOKEYS, "scripting", Container)
    },
];

const NOKEYS_FLAGS: u32 = 0;

use crate::scripting::busy::Admit;
pub use crate::state::NO_COMMAND;

/// The store's keyed hash instead of SipHash: command names are a few bytes and not
/// attacker-chosen keys of a growing map, and SipHash was a visible share of every request.
#[derive(Default)]
struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = crate::store::dict::hash_bytes(self.0, bytes);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type NameIndex = HashMap<&'static [u8], usize, BuildHasherDefault<NameHasher>>;

fn index() -> &'static NameIndex {
    static INDEX: OnceLock<NameIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        TABLE
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes(), i))
            .collect()
    })
}

/// Case-insensitive lookup without allocating (every name is short).
pub fn lookup(name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
    let mut buf = [0u8; 32];
    let lower = buf.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    if RENAMED.load(Ordering::Relaxed) {
        let renames = RENAMES.read();
        if let Some(r) = renames.as_ref() {
            if let Some(&i) = r.added.get(&*lower) {
                return Some((i, &TABLE[i]));
            }
            let i = *index().get(&*lower)?;
            return (!r.gone.contains(&i)).then(|| (i, &TABLE[i]));
        }
    }
    index().get(&*lower).map(|&i| (i, &TABLE[i]))
}

/// `rename-command old new` (config file only): the commands taken away from their names
/// (by table index) and the names they answer to instead (an empty new name removes a
/// command). What the table itself says of a command (COMMAND INFO's name, ACL rules) stays.
#[derive(Default)]
struct Renames {
    gone: std::collections::HashSet<usize>,
    added: HashMap<Vec<u8>, usize>,
}

static RENAMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static RENAMES: parking_lot::RwLock<Option<Renames>> = parking_lot::RwLock::new(None);

/// Checks `rename-command` lines, in order, as Redis's config loader does: the old name must
/// name a command, and the new one must not be taken.
pub fn check_renames(pairs: &[(String, String)]) -> Result<(), String> {
    build_renames(pairs).map(|_| ())
}

/// Makes the `rename-command` lines the server's (at start).
pub fn install_renames(pairs: &[(String, String)]) -> Result<(), String> {
    let r = build_renames(pairs)?;
    let any = !pairs.is_empty();
    *RENAMES.write() = any.then_some(r);
    RENAMED.store(any, Ordering::Relaxed);
    Ok(())
}

fn build_renames(pairs: &[(String, String)]) -> Result<Renames, String> {
    let mut r = Renames::default();
    for (old, new) in pairs {
        let old_l = old.to_ascii_lowercase().into_bytes();
        let i = match r.added.remove(&old_l) {
            Some(i) => i,
            None => match index().get(old_l.as_slice()) {
                Some(&i) if !r.gone.contains(&i) => {
                    r.gone.insert(i);
                    i
                }
                _ => return Err("No such command in rename-command".into()),
            },
        };
        if !new.is_empty() {
            let new_l = new.to_ascii_lowercase().into_bytes();
            let taken = r.added.contains_key(&new_l)
                || index()
                    .get(new_l.as_slice())
                    .is_some_and(|j| !r.gone.contains(j));
            if taken {
                return Err("Target command name already exists".into());
            }
            r.added.insert(new_l, i);
        }
    }
    Ok(r)
}

fn find_sub(spec: &'static CommandSpec, name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
    spec.subcommands
        .iter()
        .enumerate()
        .find(|(_, s)| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// The table row of command `code` (as [`resolve`] made it).
pub fn spec_of(code: u32) -> Option<&'static CommandSpec> {
    let (main, sub) = ((code >> 16) as usize, (code & 0xffff) as usize);
    let spec = TABLE.get(main)?;
    match sub {
        0 => Some(spec),
        j => spec.subcommands.get(j - 1),
    }
}

/// The full name of the command a client last ran (`get`, `config|get`).
pub fn name_of(code: u32) -> String {
    if code == NO_COMMAND {
        return "NULL".into();
    }
    let (main, sub) = ((code >> 16) as usize, (code & 0xffff) as usize);
    match TABLE.get(main) {
        Some(spec) if sub > 0 => match spec.subcommands.get(sub - 1) {
            Some(s) => format!("{}|{}", spec.name, s.name),
            None => spec.name.into(),
        },
        Some(spec) => spec.name.into(),
        None => "NULL".into(),
    }
}

fn arity_ok(arity: i32, argc: usize) -> bool {
    let argc = argc as i64;
    let arity = i64::from(arity);
    if arity >= 0 {
        argc == arity
    } else {
        argc >= -arity
    }
}

/// A HELP subcommand's reply, as Redis's `addReplyHelp` builds it: a header naming the
/// command as sent (uppercased), the lines, and the HELP entry, each a status reply.
pub fn help_reply(args: &Args, lines: &[&'static str]) -> Reply {
    let header = format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        args.text(0).to_ascii_uppercase()
    );
    let mut items = vec![Reply::Simple(header.into())];
    items.extend(lines.iter().map(|l| Reply::simple(l)));
    items.push(Reply::simple("HELP"));
    items.push(Reply::simple("    Prints this help."));
    Reply::Array(items)
}

/// Redis's `addReplySubcommandSyntaxError`, for a subcommand given arguments it does not take.
pub fn subcommand_syntax_error(args: &Args) -> CmdError {
    // `%.128s` of the raw bytes, as Redis prints it.
    let sub = args.get(1);
    let mut msg = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    msg.extend_from_slice(&sub[..sub.len().min(128)]);
    msg.extend_from_slice(b"'. Try ");
    msg.extend_from_slice(args.get(0).to_ascii_uppercase().as_slice());
    msg.extend_from_slice(b" HELP.");
    CmdError(std::borrow::Cow::Owned(msg))
}

/// The one place that formats the arity error: Redis's text, naming the command's full name
/// in lowercase (`... for 'config|set' command`). For SET the lab's transcript wins, and only
/// there: the name as sent, without " command" (`... for 'SET'`).
pub fn arity_error(sent: &[u8], fullname: &str) -> CmdError {
    if fullname == "set" {
        let sent = String::from_utf8_lossy(sent);
        return CmdError::msg(format!("ERR wrong number of arguments for '{sent}'"));
    }
    CmdError::msg(format!(
        "ERR wrong number of arguments for '{fullname}' command"
    ))
}

/// Redis's unknown-command error, built from the raw bytes, cut at 128 bytes like Redis's
/// `%.128s`. (The lab's bare `HELLO` is answered by the HELLO handler.)
fn unknown_command(argv: &[Vec<u8>]) -> CmdError {
    // `%s` stops at a NUL byte, as in C.
    let c_str = |a: &[u8]| a.iter().position(|&b| b == 0).map_or(a.len(), |i| i);
    let name = &argv[0][..c_str(&argv[0]).min(128)];
    let mut msg = b"ERR unknown command '".to_vec();
    msg.extend_from_slice(name);
    msg.extend_from_slice(b"', with args beginning with: ");
    let mut shown = 0;
    for a in &argv[1..] {
        if shown >= 128 {
            break;
        }
        let cut = &a[..c_str(a).min(128 - shown)];
        msg.push(b'\'');
        msg.extend_from_slice(cut);
        msg.extend_from_slice(b"' ");
        shown += cut.len() + 3;
    }
    CmdError(std::borrow::Cow::Owned(msg))
}

/// Runs one request. The reply is returned, or, for a `ReadInto` handler, already appended to
/// `out` (then the returned reply encodes to nothing).
pub fn execute(
    server: &Shared,
    client: &mut ClientState,
    argv: &[Vec<u8>],
    out: &mut Vec<u8>,
) -> Reply {
    // A killed client runs nothing more, even what it had already sent.
    let info = std::sync::Arc::clone(&client.info);
    let Some(_running) = info.begin_command() else {
        client.close_after_reply = true;
        return Reply::none();
    };
    // Dispatch is where a command's instant is made: one per command, read on first use.
    #[allow(clippy::disallowed_methods)]
    let op = Op::new(server.config.limits());
    let mut ctx = Ctx {
        server,
        client,
        op: &op,
        held: None,
    };
    execute_in(&mut ctx, argv, out)
}

/// A command or subcommand as ACL rules see it; its id is its place in this list (the
/// same as its commandstats slot).
pub struct AclCommand {
    pub id: usize,
    /// `get`, `config|get`.
    pub name: String,
    /// Bit `i`: category `server::CATEGORIES[i]`.
    pub cats: u32,
    pub parent: Option<usize>,
    pub subs: Vec<usize>,
}

/// Every command and subcommand, in table order (each command before its subcommands).
pub fn acl_commands() -> &'static [AclCommand] {
    static LIST: OnceLock<Vec<AclCommand>> = OnceLock::new();
    LIST.get_or_init(|| {
        let cats = |spec: &CommandSpec, parent: Option<&CommandSpec>| {
            server::category_names(spec, parent)
                .iter()
                .fold(0u32, |m, c| {
                    m | server::CATEGORIES
                        .iter()
                        .position(|x| x == c)
                        .map_or(0, |i| 1 << i)
                })
        };
        let mut out = Vec::new();
        for spec in TABLE.iter() {
            let id = out.len();
            out.push(AclCommand {
                id,
                name: spec.name.to_string(),
                cats: cats(spec, None),
                parent: None,
                subs: (1..=spec.subcommands.len()).map(|j| id + j).collect(),
            });
            for sub in spec.subcommands {
                out.push(AclCommand {
                    id: out.len(),
                    name: format!("{}|{}", spec.name, sub.name),
                    cats: cats(sub, Some(spec)),
                    parent: Some(id),
                    subs: Vec::new(),
                });
            }
        }
        out
    })
}

/// The command `argv` names, as Redis's `lookupCommand` finds it (a subcommand when the
/// command has them and one is given), without checking arity.
pub fn lookup_code(argv: &[Vec<u8>]) -> Option<(u32, &'static CommandSpec)> {
    let (i, spec) = lookup(argv.first()?)?;
    if spec.subcommands.is_empty() || argv.len() < 2 {
        return Some(((i as u32) << 16, spec));
    }
    let (j, sub) = find_sub(spec, &argv[1])?;
    Some(((i as u32) << 16 | (j as u32 + 1), sub))
}

/// The ACL id of command `code`.
pub fn acl_id(code: u32) -> usize {
    stat_index(code).0
}

/// The channels a pub/sub command names, for ACL checks: (position, is a pattern), for the
/// commands that subscribe or publish (Redis's `getChannelsFromCommand` with its
/// publish/subscribe flags).
pub fn acl_channels(spec: &CommandSpec, argv: &[Vec<u8>]) -> Vec<(usize, bool)> {
    match spec.name {
        "publish" | "spublish" => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..argv.len()).map(|i| (i, false)).collect(),
        "psubscribe" => (1..argv.len()).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

/// Where command `code`'s counters are in INFO commandstats, and how many there are.
fn stat_index(code: u32) -> (usize, usize) {
    static OFFSETS: OnceLock<(Vec<usize>, usize)> = OnceLock::new();
    let (offsets, len) = OFFSETS.get_or_init(|| {
        let mut next = 0;
        let offsets = TABLE
            .iter()
            .map(|c| {
                let at = next;
                next += 1 + c.subcommands.len();
                at
            })
            .collect();
        (offsets, next)
    });
    let (main, sub) = ((code >> 16) as usize, (code & 0xffff) as usize);
    (offsets.get(main).map_or(usize::MAX, |o| o + sub), *len)
}

/// The command an unresolvable request names, if it names one (an arity error), for its
/// `rejected_calls`.
fn named_code(argv: &[Vec<u8>]) -> Option<u32> {
    let (i, spec) = lookup(&argv[0])?;
    let sub = match argv.get(1) {
        // An unknown subcommand names no command (Redis's lookup finds none).
        Some(name) if !spec.subcommands.is_empty() => find_sub(spec, name)?.0 as u32 + 1,
        _ => 0,
    };
    Some((i as u32) << 16 | sub)
}

/// Every command's and subcommand's full name with its commandstats totals.
pub fn command_totals(server: &Shared) -> Vec<(String, crate::cmdstats::Totals)> {
    let mut out = Vec::new();
    for (i, spec) in TABLE.iter().enumerate() {
        for j in 0..=spec.subcommands.len() {
            let code = (i as u32) << 16 | j as u32;
            let (stat, len) = stat_index(code);
            out.push((name_of(code), server.stats.by_command.totals(stat, len)));
        }
    }
    out
}

/// The latency histogram of every command and subcommand that has calls, by full name
/// (INFO latencystats, LATENCY HISTOGRAM); with `only`, of that command (and its
/// subcommands, for a container) alone.
pub fn command_histograms(
    server: &Shared,
    only: Option<usize>,
) -> Vec<(String, &crate::latency::Histogram)> {
    let mut out = Vec::new();
    for (i, spec) in TABLE.iter().enumerate() {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        for j in 0..=spec.subcommands.len() {
            let code = (i as u32) << 16 | j as u32;
            let (stat, len) = stat_index(code);
            if let Some(h) = server.stats.by_command.latency.get(stat, len) {
                out.push((name_of(code), h));
            }
        }
    }
    out
}

/// The histogram of a command named as LATENCY HISTOGRAM takes it (`get`, `client|id`, or a
/// container with its subcommands): the entries, or none if it names no command.
pub fn named_histograms<'a>(
    server: &'a Shared,
    name: &[u8],
) -> Vec<(String, &'a crate::latency::Histogram)> {
    let mut parts = name.splitn(2, |&b| b == b'|');
    let Some((i, spec)) = parts.next().and_then(lookup) else {
        return Vec::new();
    };
    match parts.next() {
        Some(sub) => match find_sub(spec, sub) {
            Some((j, _)) => {
                let code = (i as u32) << 16 | (j as u32 + 1);
                let (stat, len) = stat_index(code);
                server
                    .stats
                    .by_command
                    .latency
                    .get(stat, len)
                    .map(|h| (name_of(code), h))
                    .into_iter()
                    .collect()
            }
            None => Vec::new(),
        },
        None => command_histograms(server, Some(i)),
    }
}

/// Hands a connection's command counts over to INFO commandstats (after each batch of
/// commands, and before the connection waits or goes).
pub fn flush_stats(server: &Shared, client: &mut ClientState) {
    if !client.cmd_stats.is_empty() {
        let (_, len) = stat_index(0);
        server.stats.by_command.add(&mut client.cmd_stats, len);
    }
}

/// Counts an error reply (INFO's `total_error_replies` and errorstats).
/// The client's last command (a blocking one, still counted as run) ended in an error after
/// all: its `failed_calls` (Redis's updateStatsOnUnblock).
pub fn count_failed_last(server: &Shared, client: &ClientState) {
    let (stat, len) = stat_index(client.info.last_cmd.load(Ordering::Relaxed));
    server
        .stats
        .by_command
        .record(stat, len, Outcome::FailedLater);
}

/// Counts command `code` as rejected before it ran (a script's checks of a redis.call).
pub fn count_rejected(server: &Shared, code: u32) {
    let (stat, len) = stat_index(code);
    server.stats.by_command.record(stat, len, Outcome::Rejected);
}

pub fn count_error(server: &Shared, e: &CmdError) {
    server.stats.errors.add(1);
    server.stats.by_command.error(&e.0);
}

/// FUNCTION LOAD, DELETE, FLUSH and RESTORE.
fn is_function_change(spec: &CommandSpec) -> bool {
    matches!(spec.name, "load" | "delete" | "flush" | "restore")
        && spec.flags & NOSCRIPT != 0
        && matches!(spec.handler, Client(_))
        && spec.group == "scripting"
}

/// Runs one command read from the append-only file, as Redis's fake AOF client does: no
/// permission, loading or memory checks, no reply, never blocking (every database lock is
/// held, as inside EXEC). An unknown command, or one with the wrong number of arguments,
/// is an error: the file is not what Spindle or Redis writes.
pub fn replay(server: &Shared, client: &mut ClientState, argv: &[Vec<u8>]) -> Result<(), String> {
    let (_, spec) = resolve(argv).map_err(|_| {
        format!(
            "Unknown command '{}'",
            String::from_utf8_lossy(argv.first().map_or(&b""[..], |a| a))
        )
    })?;
    #[allow(clippy::disallowed_methods)] // each replayed command has its own instant
    let op = Op::replaying(server.config.limits());
    let mut guards = server.store.hold(|_| true);
    let mut held: access::Held = guards.iter_mut().map(|g| g.as_deref_mut()).collect();
    let mut ctx = Ctx {
        server,
        client,
        op: &op,
        held: Some(&mut held),
    };
    let mut fed = true;
    let _ = run(&mut ctx, spec, Args::new(argv), &mut Vec::new(), &mut fed);
    Ok(())
}

/// Runs one request within an operation that may span several (a transaction, a script).
pub fn execute_in(ctx: &mut Ctx, argv: &[Vec<u8>], out: &mut Vec<u8>) -> Reply {
    execute_resolved(ctx, resolve(argv), argv, out)
}

/// [`execute_in`] for a request already looked up (EXEC's queue is resolved when queued).
pub fn execute_resolved(
    ctx: &mut Ctx,
    resolved: Result<(u32, &'static CommandSpec), CmdError>,
    argv: &[Vec<u8>],
    out: &mut Vec<u8>,
) -> Reply {
    let by_command = &ctx.server.stats.by_command;
    match resolved {
        Ok((code, spec)) => {
            let (stat, stats_len) = stat_index(code);
            // Inside EXEC, CLIENT LIST's `cmd` stays `exec`, as in Redis; a refused command is
            // the client's last one too (the ACL LOG's client info shows it).
            if ctx.held.is_none() {
                ctx.client.info.last_cmd.store(code, Ordering::Relaxed);
            }
            if let Err(e) = admit(ctx, code, spec, argv) {
                count_error(ctx.server, &e);
                by_command.record(stat, stats_len, Outcome::Rejected);
                return e.into();
            }
            if ctx.held.is_none() && !wait_out_pause(ctx, spec) {
                // Killed (or shut down) while it waited: it does not run.
                ctx.client.close_after_reply = true;
                return Reply::none();
            }
            // Redis's processCommand keeps the tracking table within `tracking-table-max-keys`
            // before each command, queued ones too (two loads when it is within).
            if ctx.held.is_none() {
                ctx.server.tracking.limit();
            }
            if ctx.client.multi.is_some() && !TRANSACTION_CONTROL.contains(&spec.name) {
                return transactions::queue(ctx, code, spec, argv);
            }
            if ctx.client.tracking {
                // Before it reads: see the note in `tracking`.
                // A script's reads remember its declared keys instead (see `scripting`).
                let keys = (spec.flags & (READONLY | PUBSUB) == READONLY
                    && !matches!(spec.name, "eval_ro" | "evalsha_ro" | "fcall_ro")
                    && !crate::scripting::in_script())
                .then(|| getkeys::key_positions(spec, argv))
                .flatten()
                .map(|at| {
                    at.iter()
                        .filter_map(|&i| argv.get(i))
                        .map(Vec::as_slice)
                        .collect()
                });
                ctx.server.tracking.before_command(&ctx.client.info, keys);
            }
            ctx.server.stats.commands.add(1);
            let started = crate::cmdstats::ticks();
            // The outermost command marks the client busy (EXEC's and a script's commands run
            // inside theirs), for the watchdog.
            let busy = &ctx.client.info.busy_since;
            let outer = busy.load(Ordering::Relaxed) == 0;
            if outer {
                busy.store(started.max(1), Ordering::Relaxed);
            }
            let mut fed = false;
            let result = run(ctx, spec, Args::new(argv), out, &mut fed);
            if outer {
                ctx.client.info.busy_since.store(0, Ordering::Relaxed);
            }
            let ticks = crate::cmdstats::ticks().wrapping_sub(started);
            if !fed {
                feed_monitors(ctx, spec, argv);
            }
            let parked = ctx.client.slow_blocked.is_some();
            latency_after(ctx, spec, stat, stats_len, ticks, parked);
            // A tick is at most a microsecond: fewer ticks than the threshold's microseconds
            // rule the command out without converting.
            let slower_than = ctx.server.config.slowlog_slower_than();
            if (slower_than >= 0 && ticks >= slower_than as u64)
                || ctx.client.slow_blocked.is_some()
            {
                slowlog_after(ctx, spec, argv, ticks, slower_than);
            }
            ctx.server.slowlog.command_ended(&ctx.server.config);
            let failed = result.is_err() || matches!(result, Ok(Reply::Error(_)));
            ctx.client.cmd_stats.ran(stat, ticks, failed);
            let stats = &ctx.server.stats;
            let changes = ctx.op.take_changes();
            match result {
                Ok(reply) => {
                    if spec.flags & WRITE != 0 {
                        stats.dirty.add(changes.unwrap_or(1));
                    }
                    reply
                }
                Err(e) => {
                    // A write that failed part way counts what it said it changed (MIGRATE's
                    // keys deleted before the target failed).
                    if spec.flags & WRITE != 0 {
                        stats.dirty.add(changes.unwrap_or(0));
                    }
                    count_error(ctx.server, &e);
                    e.into()
                }
            }
        }
        Err(e) => {
            count_error(ctx.server, &e);
            if let Some(code) = named_code(argv) {
                let (stat, len) = stat_index(code);
                by_command.record(stat, len, Outcome::Rejected);
            }
            transactions::flag(ctx.client);
            e.into()
        }
    }
}

/// CLIENT PAUSE: a command waits here, before it runs or is queued, while a pause that holds
/// it is in force (ALL: every command; WRITE: those that may write, and EXEC of a queue
/// holding one). It counts as a blocked client meanwhile, as in Redis.
fn wait_out_pause(ctx: &Ctx, spec: &CommandSpec) -> bool {
    let server = ctx.server;
    #[allow(clippy::disallowed_methods)] // the pause's end is wall-clock time
    let now = crate::store::clock::unix_ms;
    if !server.pause.may_be_paused() || server.pause.in_force(now()).is_none() {
        return true;
    }
    let may_write = spec.flags & (WRITE | MAY_REPLICATE) != 0
        || (spec.name == "exec" && ctx.client.multi.as_ref().is_some_and(|m| m.may_write));
    let info = &ctx.client.info;
    let gone = || info.killed.load(Ordering::Relaxed) || server.shutdown.is_triggered();
    server
        .stats
        .net_output
        .add(crate::state::wake_deferred() as u64);
    server.blocked_clients.fetch_add(1, Ordering::Relaxed);
    server.pause.wait(|all| all || may_write, gone, now);
    server.blocked_clients.fetch_sub(1, Ordering::Relaxed);
    !gone()
}

/// The latency part of dispatch: the command's histogram (`latency-tracking`), and a
/// `command` or `fast-command` event for the monitor when it took the threshold or more (not
/// for a command that parked: its time is mostly waiting, as in Redis).
#[inline]
fn latency_after(
    ctx: &Ctx,
    spec: &CommandSpec,
    stat: usize,
    stats_len: usize,
    ticks: u64,
    parked: bool,
) {
    if ctx.server.config.latency_tracking() {
        ctx.server.stats.by_command.latency.record(
            stat,
            stats_len,
            crate::cmdstats::ticks_to_ns(ticks),
        );
    }
    let threshold_ms = crate::latency::threshold();
    // A tick is at most a microsecond (see below).
    if threshold_ms > 0 && !parked && ticks >= threshold_ms * 1000 {
        let event = if spec.flags & FAST != 0 {
            "fast-command"
        } else {
            "command"
        };
        crate::latency::sample_if_needed(event, crate::cmdstats::ticks_to_us(ticks) / 1000);
    }
}

/// The SLOWLOG's part of dispatch, for a command that may qualify or has parked: logged now,
/// or (parked) when its wait ends.
#[inline(never)]
fn slowlog_after(
    ctx: &mut Ctx,
    spec: &CommandSpec,
    argv: &[Vec<u8>],
    ticks: u64,
    slower_than: i64,
) {
    let parked = ctx.client.slow_blocked.take();
    if slower_than < 0 || spec.flags & SKIP_SLOWLOG != 0 {
        return;
    }
    let micros = crate::cmdstats::ticks_to_us(ticks);
    if micros < slower_than as u64 {
        return;
    }
    match parked {
        Some(pending) => {
            #[allow(clippy::disallowed_methods)] // the entry's wall clock
            let now = crate::store::clock::unix_ms() / 1000;
            let info = &ctx.client.info;
            pending.lock().qualify(
                (
                    argv.to_vec(),
                    micros,
                    info.addr_text(),
                    info.name.lock().clone(),
                ),
                &ctx.server.slowlog,
                now,
                ctx.server.config.slowlog_max_len(),
            );
        }
        None => slowlog_push(ctx.server, ctx.client, argv, micros),
    }
}

/// Adds a command to the SLOWLOG.
pub fn slowlog_push(server: &Shared, client: &ClientState, argv: &[Vec<u8>], micros: u64) {
    #[allow(clippy::disallowed_methods)] // the entry's wall-clock time, as Redis's time(NULL)
    let now = crate::store::clock::unix_ms() / 1000;
    server.slowlog.push(
        argv,
        micros,
        now,
        client.info.addr_text(),
        client.info.name.lock().clone(),
        server.config.slowlog_max_len(),
    );
}

/// Shows a command that ran to the clients in MONITOR mode, after it ran, as Redis's `call`
/// does (not the administrative ones, nor those flagged `skip_monitor`).
fn feed_monitors(ctx: &Ctx, spec: &CommandSpec, argv: &[Vec<u8>]) {
    if spec.flags & (ADMIN | SKIP_MONITOR) != 0 {
        return;
    }
    show_to_monitors(ctx, argv);
}

/// Shows `argv` to the clients in MONITOR mode now (EVAL and FCALL, before the commands they
/// run).
pub fn show_to_monitors(ctx: &Ctx, argv: &[Vec<u8>]) {
    let monitors = &ctx.server.monitors;
    if monitors.is_empty() {
        return;
    }
    // The wall clock of the moment it is shown, as Redis's gettimeofday.
    #[allow(clippy::disallowed_methods)]
    let now = crate::store::clock::unix_us();
    monitors.feed(
        (!ctx.client.in_script).then_some(&*ctx.client.info),
        ctx.client.db,
        argv,
        now,
        &ctx.server.config,
    );
}

/// A RESP2 client subscribed to anything may only (un)subscribe, PING, QUIT and RESET.
fn pubsub_context(ctx: &Ctx, spec: &'static CommandSpec) -> Result<(), CmdError> {
    const ALLOWED: &[&str] = &[
        "ping",
        "subscribe",
        "ssubscribe",
        "unsubscribe",
        "sunsubscribe",
        "psubscribe",
        "punsubscribe",
        "quit",
        "reset",
    ];
    if ctx.client.resp == 2 && ctx.client.info.is_subscribed() && !ALLOWED.contains(&spec.name) {
        let name = full_name_of(spec);
        return Err(CmdError::msg(format!(
            "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        )));
    }
    Ok(())
}

/// `get`, or `config|get` for a subcommand.
fn full_name_of(spec: &'static CommandSpec) -> String {
    for parent in TABLE {
        if parent.subcommands.iter().any(|s| std::ptr::eq(s, spec)) {
            return format!("{}|{}", parent.name, spec.name);
        }
    }
    spec.name.to_string()
}

/// Is `argv` a CLIENT command? (CLIENT CACHING's effect outlives only those.)
pub fn is_client_command(argv: &[Vec<u8>]) -> bool {
    argv.first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"client"))
}

/// Commands that run at once between MULTI and EXEC instead of being queued.
const TRANSACTION_CONTROL: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// The checks Redis's `processCommand` makes before running or queueing a command: `no-multi`
/// inside MULTI, and `maxmemory` (for a command that may grow memory, for EXEC of such a
/// queue, and for anything queued). A refusal inside MULTI fails the transaction; a refused
/// EXEC discards it. Commands inside EXEC were checked when EXEC was.
fn admit(
    ctx: &mut Ctx,
    code: u32,
    spec: &'static CommandSpec,
    argv: &[Vec<u8>],
) -> Result<(), CmdError> {
    if ctx.held.is_some() {
        return Ok(());
    }
    // Authentication, then the user's permissions (Redis's order in processCommand).
    // The default user with every permission (the common case) costs one load here.
    let denied = if !ctx.client.authenticated
        && spec.flags & NO_AUTH == 0
        && ctx.server.acl.default_requires_auth()
    {
        Some(NOAUTH)
    } else if ctx.client.user.unrestricted() {
        None
    } else {
        acl::admit(ctx, code, spec, argv).err()
    };
    if let Some(e) = denied {
        // A refused EXEC aborts the transaction in MULTI or not, as Redis's rejectCommand.
        return Err(reject(ctx, spec, e));
    }
    // The startup load: only commands flagged `loading` run meanwhile.
    if ctx.server.snapshots.loading() && spec.flags & LOADING == 0 {
        return Err(reject(ctx, spec, LOADING_ERR));
    }
    // A script past `busy-reply-threshold` leaves room only for `allow-busy` commands;
    // until then, commands wait for it (see `scripting::busy`).
    let beside_script = match ctx.server.script_busy.admit(
        ctx.client.id,
        spec.flags & ALLOW_BUSY != 0,
        || is_script(spec),
        ctx.server.config.busy_reply_threshold(),
    ) {
        Admit::Run => false,
        Admit::Beside => true,
        Admit::Refuse(busy) => return Err(reject(ctx, spec, args::err(busy))),
    };
    // Redis's processCommand evicts before every command when `maxmemory` is set (not
    // beside a busy script, which holds the data); what is still over the limit then
    // refuses the commands that may grow memory.
    let out_of_memory = ctx.server.config.maxmemory() > 0
        && !beside_script
        && crate::evict::perform(ctx.server) == crate::evict::Outcome::Fail;
    // Writes are refused after a failed BGSAVE (`stop-writes-on-bgsave-error`, PING too, as
    // in Redis), and without `min-replicas-to-write` good replicas (Spindle has none).
    let misconf = || ctx.server.snapshots.refuses_writes(&ctx.server.config);
    // A failed write to the append-only file refuses writes until one succeeds.
    let aof_failed = ctx.server.aof.refuses_writes();
    let too_few_replicas = || ctx.server.config.too_few_replicas();
    let write_refused = |write: bool, ping: bool| -> Option<CmdError> {
        if (write || ping) && misconf() {
            Some(MISCONF)
        } else if let (true, Some(e)) = (write || ping, &aof_failed) {
            Some(CmdError::msg(e.clone()))
        } else if write && too_few_replicas() {
            Some(NOREPLICAS)
        } else {
            None
        }
    };
    let (write, ping) = (spec.flags & WRITE != 0, spec.name == "ping");
    let Some(m) = ctx.client.multi.as_ref() else {
        if spec.flags & DENYOOM != 0 && out_of_memory {
            return Err(OOM);
        }
        if let Some(e) = write_refused(write, ping) {
            return Err(e);
        }
        return pubsub_context(ctx, spec);
    };
    let refused = if spec.flags & NO_MULTI != 0 {
        Some(args::err("ERR Command not allowed inside a transaction"))
    } else if let Some(e) = debug::protection_refuses(ctx, spec) {
        // A protected command is refused before it is queued.
        Some(e)
    } else if spec.name == "exec" {
        if m.denyoom && out_of_memory {
            Some(OOM)
        } else {
            write_refused(m.writes, false)
        }
    } else if !matches!(spec.name, "discard" | "quit" | "reset") && out_of_memory {
        Some(OOM)
    } else {
        write_refused(write, ping)
    };
    let refused = match refused {
        Some(e) => Some(e),
        None => pubsub_context(ctx, spec).err(),
    };
    let Some(e) = refused else {
        return Ok(());
    };
    Err(reject(ctx, spec, e))
}

/// Does `spec` run a script (EVAL and FCALL, and their variants)? They wait for a running
/// script at its gate (`scripting::busy::Busy::enter`).
fn is_script(spec: &CommandSpec) -> bool {
    spec.group == "scripting" && (spec.name.starts_with("eval") || spec.name.starts_with("fcall"))
}

/// Redis's `rejectCommand`: the transaction being queued fails, and a refused EXEC discards
/// it with an EXECABORT naming the reason.
fn reject(ctx: &mut Ctx, spec: &CommandSpec, e: CmdError) -> CmdError {
    transactions::flag(ctx.client);
    if spec.name != "exec" {
        return e;
    }
    transactions::discard_transaction(ctx.server, ctx.client);
    let text = String::from_utf8_lossy(&e.0);
    CmdError::msg(format!(
        "EXECABORT Transaction discarded because of: {text}"
    ))
}

const OOM: CmdError = args::err("OOM command not allowed when used memory > 'maxmemory'.");
pub(crate) const LOADING_ERR: CmdError =
    args::err("LOADING Redis is loading the dataset in memory");
pub(crate) const MISCONF: CmdError = args::err("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.");
pub(crate) const NOREPLICAS: CmdError = args::err("NOREPLICAS Not enough good replicas to write.");
const NOAUTH: CmdError = args::err("NOAUTH Authentication required.");

/// Finds the row for `argv` (descending into subcommands) and checks its arity.
pub fn resolve(argv: &[Vec<u8>]) -> Result<(u32, &'static CommandSpec), CmdError> {
    let (i, spec) = lookup(&argv[0]).ok_or_else(|| unknown_command(argv))?;
    if !spec.subcommands.is_empty() && (argv.len() >= 2 || matches!(spec.handler, Container)) {
        if argv.len() < 2 {
            return Err(arity_error(&argv[0], spec.name));
        }
        let Some((j, sub)) = find_sub(spec, &argv[1]) else {
            return Err(CmdError::msg(format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                String::from_utf8_lossy(&argv[1])
                    .chars()
                    .take(128)
                    .collect::<String>(),
                spec.name.to_ascii_uppercase()
            )));
        };
        if !arity_ok(sub.arity, argv.len()) {
            return Err(arity_error(
                &argv[0],
                &format!("{}|{}", spec.name, sub.name),
            ));
        }
        return Ok(((i as u32) << 16 | (j as u32 + 1), sub));
    }
    if !arity_ok(spec.arity, argv.len()) {
        return Err(arity_error(&argv[0], spec.name));
    }
    Ok(((i as u32) << 16, spec))
}

/// Takes the lock the handler kind names and runs it. A panic (a bug) becomes an error reply
/// for this client only; parking_lot locks are not poisoned, so others go on.
/// Runs the handler under the lock its kind names. A command on one database is shown to
/// MONITOR before that lock is released, so clients' commands on a database reach the
/// monitors in the order they ran (`fed` says it was done; others are shown after).
fn run(
    ctx: &mut Ctx,
    spec: &'static CommandSpec,
    args: Args,
    out: &mut Vec<u8>,
    fed: &mut bool,
) -> CmdResult {
    let mark = out.len();
    let server = ctx.server;
    let result = catch_unwind(AssertUnwindSafe(|| {
        if server.monitors.is_empty() || spec.flags & (ADMIN | SKIP_MONITOR) != 0 {
            // The common case: the same code as if MONITOR did not exist.
            return handle(ctx, spec, &args, out, || {});
        }
        let (info, here) = (std::sync::Arc::clone(&ctx.client.info), ctx.client.db);
        let script = ctx.client.in_script;
        handle(ctx, spec, &args, out, || {
            // The wall clock of the moment it is shown, as Redis's gettimeofday.
            #[allow(clippy::disallowed_methods)]
            let now = crate::store::clock::unix_us();
            server.monitors.feed(
                (!script).then_some(&*info),
                here,
                args.from(0),
                now,
                &server.config,
            );
            *fed = true;
        })
    }));
    if !matches!(result, Ok(Ok(_))) {
        // Nothing half-written by a failed handler may reach the client.
        out.truncate(mark);
    }
    result.unwrap_or_else(|_| {
        log::error!(
            "command '{}' panicked (client {})",
            spec.name,
            ctx.client.id
        );
        Err(CmdError::msg(format!(
            "ERR internal error while running '{}'",
            spec.name
        )))
    })
}

/// `f` under a database's write lock: what it changed is recorded for the append-only file
/// (unless it recorded that itself), and `show` runs before the lock is released.
#[inline(always)]
fn propagated(
    db: &mut DbMut,
    spec: &'static CommandSpec,
    args: &Args,
    show: &mut impl FnMut(),
    f: impl FnOnce(&mut DbMut) -> CmdResult,
) -> CmdResult {
    let before = db.changes();
    let r = f(db);
    propagate::after(db, spec.name, args, before, r.as_ref().ok());
    show();
    r
}

/// The handler of `spec` under its lock; `show` runs before a database lock is released.
#[inline(always)]
fn handle(
    ctx: &mut Ctx,
    spec: &'static CommandSpec,
    args: &Args,
    out: &mut Vec<u8>,
    mut show: impl FnMut(),
) -> CmdResult {
    let (here, resp) = (ctx.client.db, ctx.client.resp);
    match spec.handler {
        Read(f) => ctx.read_db(here, |db| {
            let r = f(db, args);
            show();
            r
        }),
        ReadInto(f) => ctx.read_db(here, |db| {
            let r = f(db, args, resp, out).map(|()| Reply::none());
            show();
            r
        }),
        Write(f) => ctx.write_db(here, |db| {
            propagated(db, spec, args, &mut show, |db| f(db, args))
        }),
        Prepared(prepare, f) => {
            let made = prepare(ctx.op, args);
            // A pause that began while it prepared holds the write back, as it would have
            // held the command.
            if ctx.held.is_none() && !wait_out_pause(ctx, spec) {
                ctx.client.close_after_reply = true;
                return Ok(Reply::none());
            }
            ctx.write_db(here, |db| {
                propagated(db, spec, args, &mut show, |db| f(db, args, made))
            })
        }
        // Inside a transaction a blocking command does not block: it times out at once.
        Blocking(f) | ReadBlocking(_, f) if ctx.held.is_some() => ctx.write_db(here, |db| {
            propagated(db, spec, args, &mut show, |db| match f(db, args, resp)? {
                Step::Reply(reply) => Ok(reply),
                Step::Wait(wait) => Ok(wait.in_multi.unwrap_or(wait.on_timeout)),
            })
        }),
        ReadBlocking(at_once, f) => {
            let now = ctx.read_db(here, |db| {
                let r = at_once(db, args, resp);
                if !matches!(r, Ok(None)) {
                    show();
                }
                r
            });
            match now {
                Ok(Some(reply)) => Ok(reply),
                Err(e) => Err(e),
                Ok(None) => block(ctx, spec, f, args, show),
            }
        }
        Blocking(f) => block(ctx, spec, f, args, show),
        Client(f) if spec.flags & WRITE != 0 => {
            let aof = std::sync::Arc::clone(&ctx.server.aof);
            let here = ctx.client.db;
            propagate::as_client_write(&aof, args.from(0), || {
                let r = f(ctx, args);
                // The function libraries live beside the databases: no lock orders their
                // record.
                if r.is_ok() && is_function_change(spec) {
                    propagate::client_write(&aof, here);
                }
                r
            })
        }
        Client(f) => f(ctx, args),
        Container => Err(arity_error(args.get(0), spec.name)),
    }
}

/// A blocking handler under the write lock of the client's database: its answer now, or
/// the client parked in the wait queues of what it waits for before the lock is released.
fn block(
    ctx: &mut Ctx,
    spec: &'static CommandSpec,
    f: fn(&mut DbMut, &Args, u8) -> Result<Step, CmdError>,
    args: &Args,
    mut show: impl FnMut(),
) -> CmdResult {
    let (here, resp) = (ctx.client.db, ctx.client.resp);
    let (store, op) = (&ctx.server.store, ctx.op);
    let mut guard = store.write(here);
    let mut db = Db::new(&mut *guard, op);
    let before = db.changes();
    let r = match f(&mut db, args, resp) {
        Ok(Step::Reply(reply)) => {
            propagate::after(&db, spec.name, args, before, Some(&reply));
            Ok(reply)
        }
        Ok(Step::Wait(wait)) => Ok(park(ctx, &mut db, wait)),
        Err(e) => Err(e),
    };
    show();
    r
}

/// Parks the client in the wait queues of `wait`'s keys, under the lock the blocking handler
/// ran under: no push can come between the handler finding nothing and the client waiting.
/// The connection loop then sleeps until the wait ends.
fn park(ctx: &mut Ctx, db: &mut DbMut, wait: Wait) -> Reply {
    let waker = crate::os::ThreadWaker::current();
    let info = std::sync::Arc::clone(&ctx.client.info);
    let blocked = std::sync::Arc::clone(&ctx.server.blocked_clients);
    let limit = ctx.client.info.output_limit(&ctx.server.config);
    let suppressed = ctx.client.reply_off || ctx.client.reply_skip;
    let slow = std::sync::Arc::new(parking_lot::Mutex::new(crate::slowlog::Pending::default()));
    ctx.client.slow_blocked = Some(std::sync::Arc::clone(&slow));
    let (slowlog, config) = (
        std::sync::Arc::clone(&ctx.server.slowlog),
        std::sync::Arc::clone(&ctx.server.config),
    );
    let waiter = Waiter::new(
        ctx.client.id,
        ctx.client.db,
        wait.keys,
        wait.request,
        Wake {
            wake: Box::new(move || waker.wake()),
            // Under CLIENT REPLY OFF|SKIP the served reply is dropped: "taken" whole. An
            // error is left to the client's own thread, which counts it in the error stats
            // before the client can see it (as Redis counts it when it unblocks the client).
            send: Box::new(move |bytes| {
                if suppressed {
                    bytes.len()
                } else if bytes.starts_with(b"-") {
                    0
                } else {
                    info.send_reply(bytes, limit)
                }
            }),
            ended: Box::new(move |how| {
                blocked.fetch_sub(1, Ordering::Relaxed);
                #[allow(clippy::disallowed_methods)] // the entry's wall clock
                let now = crate::store::clock::unix_ms() / 1000;
                use crate::slowlog::End;
                let end = match how {
                    crate::store::ready::State::Cancelled => End::Gone,
                    crate::store::ready::State::TimedOut => End::Here,
                    _ => End::ByCommand,
                };
                slow.lock()
                    .end(end, &slowlog, now, config.slowlog_max_len());
            }),
            hold: if ctx.client.tracking {
                let (tracking, info) = (
                    std::sync::Arc::clone(&ctx.server.tracking),
                    std::sync::Arc::clone(&ctx.client.info),
                );
                Box::new(move |on| {
                    if on {
                        tracking.hold(&info);
                    } else {
                        tracking.release(&info);
                    }
                })
            } else {
                Box::new(|_| {})
            },
        },
    );
    db.block(&waiter);
    *ctx.client.info.blocked.lock() = Some(std::sync::Arc::clone(&waiter));
    ctx.client
        .info
        .blocked_with_timeout
        .store(wait.timeout_ms > 0, Ordering::Relaxed);
    ctx.server.blocked_clients.fetch_add(1, Ordering::Relaxed);
    // The deadline is Redis's: from when the command ran (a monotonic clock, for the wait).
    #[allow(clippy::disallowed_methods)]
    let deadline = (wait.timeout_ms > 0).then(|| {
        std::time::Instant::now() + std::time::Duration::from_millis(wait.timeout_ms as u64)
    });
    ctx.client.blocked = Some(Blocked {
        waiter,
        deadline,
        on_timeout: wait.on_timeout,
    });
    Reply::none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for spec in TABLE {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(spec.name.len() <= 32);
            assert!(seen.insert(spec.name), "duplicate {}", spec.name);
            assert!(spec.arity != 0);
            assert!(
                !(spec.flags & WRITE != 0 && spec.flags & READONLY != 0),
                "{}",
                spec.name
            );
            if let Read(_) = spec.handler {
                assert!(
                    spec.flags & READONLY != 0,
                    "{} reads but is not readonly",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn lookup_any_case() {
        assert_eq!(lookup(b"GeT").map(|(_, s)| s.name), Some("get"));
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'x'; 100]).is_none());
    }

    #[test]
    fn a_panicking_handler_becomes_an_error_reply() {
        fn boom(_: &mut Ctx, _: &Args) -> CmdResult {
            panic!("deliberate test panic")
        }
        static BOOM: CommandSpec = cmd("boom", 1, 0, NOKEYS, "server", Client(boom));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::sync::Arc::new(
            std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap(),
        );
        let config = crate::config::Config::default();
        let server = Shared::new(config, crate::shutdown::Shutdown::new());
        let info = std::sync::Arc::new(
            crate::state::ClientInfo::new(1, &stream, None, server.acl.default_user()).unwrap(),
        );
        let mut client = ClientState::new(info);
        let op = Op::at_ms(1, crate::store::Limits::default());
        let mut ctx = Ctx {
            server: &server,
            client: &mut client,
            op: &op,
            held: None,
        };
        let argv = vec![b"boom".to_vec()];
        let err = run(
            &mut ctx,
            &BOOM,
            Args::new(&argv),
            &mut Vec::new(),
            &mut false,
        )
        .unwrap_err();
        assert_eq!(&*err.0, b"ERR internal error while running 'boom'");
        // The store's locks are not poisoned: the next command works.
        let set = [b"set".to_vec(), b"k".to_vec(), b"v".to_vec()];
        assert_eq!(
            execute(&server, &mut client, &set, &mut Vec::new()),
            Reply::ok()
        );
    }

    #[test]
    fn arity() {
        assert!(arity_ok(2, 2) && !arity_ok(2, 3));
        assert!(arity_ok(-2, 2) && arity_ok(-2, 5) && !arity_ok(-2, 1));
        let err = resolve(&[b"SET".to_vec(), b"onlykey".to_vec()])
            .err()
            .unwrap();
        assert_eq!(&*err.0, b"ERR wrong number of arguments for 'SET'");
        let err = resolve(&[b"set".to_vec()]).err().unwrap();
        assert_eq!(&*err.0, b"ERR wrong number of arguments for 'set'");
        let err = resolve(&[b"GET".to_vec()]).err().unwrap();
        assert_eq!(&*err.0, b"ERR wrong number of arguments for 'get' command");
        let err = resolve(&[b"CONFIG".to_vec(), b"SET".to_vec(), b"x".to_vec()])
            .err()
            .unwrap();
        assert_eq!(
            &*err.0,
            b"ERR wrong number of arguments for 'config|set' command"
        );
        let err = resolve(&[b"FOOBAR".to_vec()]).err().unwrap();
        assert_eq!(
            &*err.0,
            b"ERR unknown command 'FOOBAR', with args beginning with: "
        );
        let err = resolve(&[b"foo".to_vec(), b"a".to_vec(), b"b".to_vec()])
            .err()
            .unwrap();
        assert_eq!(
            &*err.0,
            b"ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
    }
}
