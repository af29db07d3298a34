//! DEBUG, as Redis 7.0's debug.c answers it, where `enable-debug-command` allows it (`no`
//! by default; `local`: from a loopback connection; `yes`). The subcommands are the ones
//! Redis's own tests and tools use: DIGEST and DIGEST-VALUE (Redis's algorithm, so the hex
//! is Redis's for the same data), RELOAD (save, flush, load through the RDB code), OBJECT,
//! POPULATE, SLEEP, SET-ACTIVE-EXPIRE, SET-SKIP-CHECKSUM-VALIDATION, PAUSE-CRON, PROTOCOL,
//! ERROR, LOG, QUICKLIST-PACKED-THRESHOLD, REPLYBUFFER and HELP.

use std::sync::atomic::Ordering;

use super::args::{err, Args, CmdError, CmdResult};
use super::Ctx;
use crate::persistence::object::{self, SaveOptions};
use crate::protocol::Reply;
use crate::scripting::functions::RestorePolicy;
use crate::store::{digest, rdbstr, Db, Entry, Value};

/// Redis's refusal of DEBUG under `enable-debug-command no` (its default).
pub const NOT_ALLOWED: CmdError = err("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");

/// Does `enable-debug-command` let this client run DEBUG?
pub fn allowed(ctx: &Ctx) -> bool {
    allowed_by(ctx, "enable-debug-command")
}

/// The refusal of a command flagged `PROTECTED` whose setting does not let this client run
/// it: DEBUG's `enable-debug-command`, MODULE's `enable-module-command`.
pub fn protection_refuses(ctx: &Ctx, spec: &super::CommandSpec) -> Option<CmdError> {
    if spec.flags & super::flags::PROTECTED == 0 {
        None
    } else if spec.name == "debug" {
        (!allowed(ctx)).then_some(NOT_ALLOWED)
    } else {
        (!allowed_by(ctx, "enable-module-command")).then_some(super::modules::NOT_ALLOWED)
    }
}

/// Does the protection `setting` (`enable-debug-command`, `enable-module-command`) let
/// this client run the command it guards (Redis's `allowProtectedAction`)?
pub fn allowed_by(ctx: &Ctx, setting: &str) -> bool {
    let setting = crate::config::lookup(setting)
        .map(|d| ctx.server.config.get(d))
        .unwrap_or_default();
    super::server::protected_action_allowed(&setting, &ctx.client.info)
}

/// Redis's `atoi`: leading digits with an optional sign, 0 when there are none.
fn atoi(s: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(s);
    let t = text.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n: i64 = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |a, d| {
            a.wrapping_mul(10).wrapping_add(i64::from(d - b'0'))
        });
    if neg {
        n.wrapping_neg()
    } else {
        n
    }
}

/// `getPositiveLongFromObjectOrReply`.
fn positive(args: &Args, i: usize) -> Result<i64, CmdError> {
    match args.int(i) {
        Ok(v) if v >= 0 => Ok(v),
        _ => Err(err("ERR value is out of range, must be positive")),
    }
}

/// DEBUG subcommand [arguments]
pub fn debug(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if !allowed(ctx) {
        return Err(NOT_ALLOWED);
    }
    let sub = String::from_utf8_lossy(args.get(1)).to_ascii_lowercase();
    let n = args.len();
    match (sub.as_str(), n) {
        ("help", 2) => Ok(help(args)),
        // The crash report's own tests (Redis's integration/logging): a fault, or a panic
        // logged as redis-server logs one, then SIGABRT.
        ("segfault", 2) => {
            // SAFETY: raises a signal on this thread; the handler reports and the process
            // dies of it.
            unsafe { libc::raise(libc::SIGSEGV) };
            Ok(Reply::ok())
        }
        ("panic", 2) => {
            #[allow(clippy::disallowed_methods)] // the message's wall-clock second
            let now = crate::store::clock::unix_ms() / 1000;
            log::warn!("------------------------------------------------");
            log::warn!("!!! Software Failure. Press left mouse button to continue");
            log::warn!("Guru Meditation: DEBUG PANIC called at Unix time {now} #debug.rs");
            std::process::abort()
        }
        ("digest", 2) => {
            let op = ctx.op;
            let d = ctx.read_all(|all| {
                let mut fin = [0u8; 20];
                for (i, ks) in all.iter().enumerate() {
                    let db = Db::new(*ks, op);
                    digest::add_db(&mut fin, i, db.iter());
                }
                fin
            });
            Ok(Reply::Simple(digest::hex(&d).into()))
        }
        ("digest-value", _) => {
            let db = ctx.client.db;
            let keys: Vec<Vec<u8>> = args.from(2).to_vec();
            let sums = ctx.read_db(db, |db| {
                keys.iter()
                    .map(|k| db.peek_quiet(k).map_or([0u8; 20], digest::value))
                    .collect::<Vec<_>>()
            });
            Ok(Reply::Array(
                sums.iter()
                    .map(|d| Reply::Simple(digest::hex(d).into()))
                    .collect(),
            ))
        }
        ("reload", _) => reload(ctx, args),
        ("loadaof", 2) => loadaof(ctx),
        ("config-rewrite-force-all", 2) => {
            let cfg = &ctx.server.config;
            let Some(path) = cfg.config_file.as_deref() else {
                return Err(err("ERR The server is running without a config file"));
            };
            crate::config::rewrite::rewrite(cfg, path, true).map_err(|e| {
                CmdError::msg(format!(
                    "ERR CONFIG-REWRITE-FORCE-ALL failed: {}",
                    crate::os::strerror(&e)
                ))
            })?;
            Ok(Reply::ok())
        }
        ("aof-flush-sleep", 3) => {
            let us = args.int(2)?;
            ctx.server.aof.set_flush_sleep(us.max(0) as u64);
            Ok(Reply::ok())
        }
        ("object", 3) => object_info(ctx, args.get(2)),
        ("populate", 3..=5) => populate(ctx, args),
        ("sleep", 3) => {
            let secs = crate::command::args::strtod(args.get(2)).0;
            let dur = std::time::Duration::from_secs_f64(if secs.is_finite() && secs > 0.0 {
                secs.min(1e9)
            } else {
                0.0
            });
            // "Stop the server": no client touches the data meanwhile (connections that do
            // not need it, such as PING, are still answered).
            if ctx.held.is_some() {
                std::thread::sleep(dur);
            } else {
                let store = &ctx.server.store;
                let guards: Vec<_> = (0..store.len()).map(|i| store.write(i)).collect();
                std::thread::sleep(dur);
                drop(guards);
            }
            Ok(Reply::ok())
        }
        // Spindle's own: the longest database lock holds since the last RESET (holds are
        // timed only after the first), and the most keys a walk in chunks (KEYS) visited
        // under one hold.
        ("lockstats", 2) => {
            let (read, write, chunk) = crate::store::lock_stats();
            Ok(Reply::Verbatim(
                "txt",
                format!(
                    "max_read_hold_us:{read}\r\nmax_write_hold_us:{write}\r\nmax_chunk_keys:{chunk}\r\n"
                )
                .into_bytes(),
            ))
        }
        ("lockstats", 3) if args.is(2, "RESET") => {
            crate::store::reset_lock_stats();
            Ok(Reply::ok())
        }
        ("htstats", 3) => {
            let dbid = args.int(2)?;
            if dbid < 0 || dbid as usize >= ctx.server.store.len() {
                return Err(err("ERR Out of range database"));
            }
            let text = ctx.read_db(dbid as usize, |db| db.table_stats());
            Ok(Reply::Verbatim("txt", text.into_bytes()))
        }
        ("htstats-key", 3) => {
            let here = ctx.client.db;
            let stats = ctx.read_db(here, |db| {
                db.peek_quiet(args.get(2)).map(|e| e.value.table_stats())
            });
            match stats {
                None => Err(err("ERR no such key")),
                Some(None) => Err(err(
                    "ERR The value stored at the specified key is not represented using an hash table",
                )),
                Some(Some(text)) => Ok(Reply::Verbatim("txt", text.into_bytes())),
            }
        }
        ("set-disable-deny-scripts", 3) => {
            ctx.server
                .disable_deny_scripts
                .store(atoi(args.get(2)) != 0, Ordering::Relaxed);
            Ok(Reply::ok())
        }
        ("set-active-expire", 3) => {
            ctx.server
                .active_expire
                .store(atoi(args.get(2)) != 0, Ordering::Relaxed);
            Ok(Reply::ok())
        }
        ("set-skip-checksum-validation", 3) => {
            rdbstr::SKIP_CHECKSUM.store(atoi(args.get(2)) != 0, Ordering::Relaxed);
            Ok(Reply::ok())
        }
        ("pause-cron", 3) => {
            ctx.server
                .cron_paused
                .store(atoi(args.get(2)) != 0, Ordering::Relaxed);
            Ok(Reply::ok())
        }
        ("quicklist-packed-threshold", 3) => {
            // Spindle stores every list element in its packed nodes whatever its size; the
            // threshold is checked as Redis checks it and has nothing to change.
            let sz = crate::config::table::memtoull(&args.text(2));
            match sz {
                Some(sz) if sz <= (1u64 << 32) - (1 << 20) => Ok(Reply::ok()),
                _ => Err(err(
                    "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
                )),
            }
        }
        ("replybuffer", 4) => {
            let what = args.text(2).to_ascii_lowercase();
            match what.as_str() {
                // Spindle's reply buffers are sized per write: there is no resize job to
                // time or turn off.
                "peak-reset-time" | "resizing" => Ok(Reply::ok()),
                _ => Err(err("ERR Syntax error")),
            }
        }
        ("protocol", 3) => protocol(ctx, &args.text(2)),
        ("error", 3) => {
            let text: Vec<u8> = args
                .get(2)
                .iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
                .collect();
            Ok(Reply::Error(text.into()))
        }
        ("log", 3) => {
            log::warn!("DEBUG LOG: {}", args.text(2));
            Ok(Reply::ok())
        }
        _ => Err(super::subcommand_syntax_error(args)),
    }
}

fn help(args: &Args) -> Reply {
    super::help_reply(
        args,
        &[
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "ERROR <string>",
            "    Return a Redis protocol error with <string> as message. Useful for clients",
            "    unit tests to simulate Redis errors.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "HTSTATS <dbid>",
            "    Return hash table statistics of the specified Redis database.",
            "HTSTATS-KEY <key>",
            "    Like HTSTATS but for the hash table stored at <key>'s value.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "PANIC",
            "    Crash the server simulating a panic.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix.",
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type. <type> can be: string,",
            "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
            "    true, false.",
            "RELOAD [option ...]",
            "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
            "    * MERGE: conflicting keys will be loaded from RDB.",
            "    * NOFLUSH: the existing database will not be removed before load, but",
            "      conflicting keys will generate an exception and kill the server.",
            "    * NOSAVE: the database will be loaded from an existing RDB file.",
            "SEGFAULT",
            "    Crash the server with sigsegv.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "    Sets the threshold for elements to be inserted as plain vs packed nodes",
            "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
            "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
            "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "PAUSE-CRON <0|1>",
            "    Stop periodic cron job processing.",
            "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
            "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
            "REPLYBUFFER RESIZING <0|1>",
            "    Enable or disable the reply buffer resize cron job",
        ],
    )
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: the snapshot written, the data emptied and read
/// back through the RDB code.
/// DEBUG LOADAOF: the append-only file is flushed, the data emptied and the file read back
/// (Redis exits if it does not load; so does Spindle).
fn loadaof(ctx: &mut Ctx) -> CmdResult {
    if ctx.held.is_some() {
        return Err(err("ERR DEBUG LOADAOF is not allowed inside a transaction"));
    }
    let server = ctx.server;
    ctx.flush_all(false);
    {
        let mut libs = server.functions.lock();
        libs.flush();
        server.functions.counted(&libs);
    }
    // Other clients get -LOADING meanwhile, as during a load at start.
    server.snapshots.set_loading(true);
    let out = crate::server::reload_aof(server);
    server.snapshots.set_loading(false);
    if let Err(e) = out {
        log::warn!("{e}");
        std::process::exit(1);
    }
    server.snapshots.forget_changes(server.stats.dirty.get());
    log::warn!("Append Only File loaded by DEBUG LOADAOF");
    Ok(Reply::ok())
}

fn reload(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for i in 2..args.len() {
        if args.is(i, "MERGE") {
            merge = true;
        } else if args.is(i, "NOFLUSH") {
            flush = false;
        } else if args.is(i, "NOSAVE") {
            save = false;
        } else {
            return Err(err(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    if ctx.held.is_some() {
        return Err(err("ERR DEBUG RELOAD is not allowed inside a transaction"));
    }
    let server = ctx.server;
    if server.snapshots.loading() {
        return Err(err("ERR Error trying to load the RDB dump"));
    }
    if save && server.snapshots.save(&server.snapshot_job()).is_err() {
        return Err(err("ERR"));
    }
    if flush {
        // Redis's emptyData: the keys and the function libraries.
        ctx.flush_all(false);
        let mut libs = server.functions.lock();
        libs.flush();
        server.functions.counted(&libs);
    }
    let failed = err("ERR Error trying to load the RDB dump");
    let loaded = server
        .snapshots
        .load_file(&server.store, &server.config, merge)
        .map_err(|e| {
            log::warn!("{e}");
            failed.clone()
        })?;
    if let Some(loaded) = loaded {
        if !loaded.functions.is_empty() {
            let mut payload = loaded.functions;
            rdbstr::seal(&mut payload);
            let policy = if merge {
                RestorePolicy::Replace
            } else {
                RestorePolicy::Append
            };
            let mut libs = server.functions.lock();
            let r = libs.restore(&payload, policy);
            server.functions.counted(&libs);
            if r.is_err() {
                return Err(failed);
            }
        }
    }
    log::warn!("DB reloaded by DEBUG RELOAD");
    Ok(Reply::ok())
}

/// DEBUG OBJECT key: Redis's low-level line.
fn object_info(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    let db = ctx.client.db;
    let limits = *ctx.op.limits();
    let line = ctx.read_db(db, |db| {
        // As Redis's, it finds a key that has expired but is not deleted yet.
        let e: &Entry = db.stored(key)?;
        let mut body = Vec::new();
        object::save_body(
            &mut body,
            &e.value,
            SaveOptions {
                compress: limits.rdb_compression,
                list_fill: limits.list_fill,
            },
        );
        let mut extra = String::new();
        if let Value::List(l, _) = &e.value {
            // The nodes as Redis's quicklist would hold them (its listpacks' bytes).
            let nodes = object::list_nodes(l, limits.list_fill);
            extra = format!(
                " ql_nodes:{} ql_avg_node:{:.2} ql_listpack_max:{} ql_compressed:0 ql_uncompressed_size:{}",
                nodes.len(),
                l.len() as f64 / nodes.len().max(1) as f64,
                limits.list_fill,
                nodes.iter().map(Vec::len).sum::<usize>()
            );
        }
        // Small integers are Redis's shared objects.
        let shared = matches!(&e.value, Value::Str(s, _)
            if crate::protocol::parse_i64(s).is_some_and(|n| (0..10_000).contains(&n)));
        Some(format!(
            "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}{extra}",
            &e.value,
            if shared { i32::MAX } else { 1 },
            e.value.encoding(),
            body.len(),
            e.value.lru().raw(),
            e.value.lru().idle_secs(),
        ))
    });
    line.map(|l| Reply::Simple(l.into()))
        .ok_or(err("ERR no such key"))
}

/// DEBUG POPULATE count [prefix] [size]: `prefix:N` keys (`key:N` by default) holding
/// `value:N`, cut or zero-padded to `size`; existing keys are left alone.
fn populate(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let count = positive(args, 2)?;
    let size = if args.len() == 5 {
        positive(args, 4)?
    } else {
        0
    };
    let prefix = if args.len() >= 4 {
        args.get(3).to_vec()
    } else {
        b"key".to_vec()
    };
    let db = ctx.client.db;
    ctx.write_db(db, |db| {
        for j in 0..count {
            let mut key = prefix.clone();
            key.extend_from_slice(format!(":{j}").as_bytes());
            if db.contains(&key) {
                continue;
            }
            let mut v = format!("value:{j}").into_bytes();
            if size > 0 {
                v.resize(size as usize, 0);
            }
            db.set(&key, Value::str(v), false);
        }
    });
    Ok(Reply::ok())
}

/// DEBUG PROTOCOL type: a sample of each reply type.
fn protocol(ctx: &Ctx, name: &str) -> CmdResult {
    let resp3 = ctx.client.resp >= 3;
    let ints = || (0..3).map(Reply::Int).collect::<Vec<_>>();
    Ok(match name.to_ascii_lowercase().as_str() {
        "string" => Reply::bulk("Hello World"),
        "integer" => Reply::Int(12345),
        // Redis's sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        "double" => Reply::Double(3.141),
        "bignum" => {
            let n = "1234567999999999999999999999999999999";
            if resp3 {
                Reply::Raw(format!("({n}\r\n").into_bytes().into())
            } else {
                Reply::bulk(n)
            }
        }
        "null" => Reply::Nil,
        "array" => Reply::Array(ints()),
        "set" => Reply::Set(ints()),
        "map" => Reply::Map((0..3).map(|j| (Reply::Int(j), Reply::Bool(j == 1))).collect()),
        "attrib" => {
            let text = "Some real reply following the attribute";
            let mut raw = Vec::new();
            if resp3 {
                raw.extend_from_slice(b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n");
            }
            raw.extend_from_slice(format!("${}\r\n{text}\r\n", text.len()).as_bytes());
            Reply::Raw(raw.into())
        }
        "push" => {
            if !resp3 {
                return Err(err("ERR RESP2 is not supported by this command"));
            }
            let text = "Some real reply following the push reply";
            Reply::Raw(
                format!(
                    ">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n${}\r\n{text}\r\n",
                    text.len()
                )
                .into_bytes()
                .into(),
            )
        }
        "true" => Reply::Bool(true),
        "false" => Reply::Bool(false),
        "verbatim" => Reply::Verbatim("txt", b"This is a verbatim\nstring".to_vec()),
        _ => return Err(err("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")),
    })
}
