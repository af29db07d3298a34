//! Server commands: DBSIZE, FLUSHDB/FLUSHALL, SWAPDB, SHUTDOWN, INFO, CONFIG, COMMAND, TIME,
//! LASTSAVE, DEBUG.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::args::{err, Args, CmdError, CmdResult, SYNTAX};
use super::{flags, CommandSpec, Ctx, TABLE};
use crate::protocol::Reply;
use crate::store::{glob, Db, DbRef};

/// DBSIZE
pub fn dbsize(db: &DbRef, _args: &Args) -> CmdResult {
    Ok(Reply::Int(db.len() as i64))
}

/// FLUSHALL [ASYNC|SYNC]: every database emptied in one step.
pub fn flushall(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let lazy = flush_mode(args)?;
    ctx.flush_all(lazy);
    // Redis's flushAllDataAndResetRDB: a running BGSAVE is dropped and, with save points,
    // the empty data set is saved at once.
    let server = ctx.server;
    server.snapshots.kill_child();
    if !crate::persistence::snapshot::save_points(&server.config).is_empty() {
        if ctx.held.is_some() {
            // Inside EXEC the transaction holds the databases: the cron saves after it.
            server.snapshots.schedule();
        } else {
            // As in Redis 7.0.15 the save resets the change counter, FLUSHALL's own
            // change (counted once this returns) included.
            let mut job = server.snapshot_job();
            job.dirty += 1;
            let _ = server.snapshots.save(&job);
        }
    }
    Ok(Reply::ok())
}

/// FLUSHDB [ASYNC|SYNC]
pub fn flushdb(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let lazy = flush_mode(args)?;
    ctx.flush_db(ctx.client.db, lazy);
    Ok(Reply::ok())
}

/// The optional ASYNC|SYNC of FLUSHALL/FLUSHDB (Redis's `getFlushCommandFlags`): whether the
/// old keys are freed on the lazyfree thread.
fn flush_mode(args: &Args) -> Result<bool, CmdError> {
    match args.len() {
        1 => Ok(false),
        2 if args.is(1, "ASYNC") => Ok(true),
        2 if args.is(1, "SYNC") => Ok(false),
        _ => Err(SYNTAX),
    }
}

/// SWAPDB index1 index2
pub fn swapdb(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let parse = |i: usize, what: &'static str| -> Result<i64, CmdError> {
        args.int(i)
            .ok()
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or(err(what))
    };
    let a = parse(1, "ERR invalid first DB index")?;
    let b = parse(2, "ERR invalid second DB index")?;
    let n = ctx.server.store.len() as i64;
    if a < 0 || b < 0 || a >= n || b >= n {
        return Err(err("ERR DB index is out of range"));
    }
    ctx.swap_dbs(a as usize, b as usize);
    Ok(Reply::ok())
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: the server stops; the caller gets no reply.
pub fn shutdown(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (mut save, mut nosave, mut abort, mut force) = (false, false, false, false);
    for i in 1..args.len() {
        if args.is(i, "NOSAVE") {
            nosave = true;
        } else if args.is(i, "SAVE") {
            save = true;
        } else if args.is(i, "ABORT") {
            abort = true;
        } else if args.is(i, "FORCE") {
            force = true;
        } else if !args.is(i, "NOW") {
            return Err(SYNTAX);
        }
    }
    if (save && nosave) || (abort && args.len() > 2) {
        return Err(SYNTAX);
    }
    if abort {
        return Err(err("ERR No shutdown in progress."));
    }
    // Beside a busy script only SHUTDOWN NOSAVE goes (Redis's shutdownCommand); it stops
    // the script, even one that wrote.
    let busy = &ctx.server.script_busy;
    if let Some(eval) = busy.timed_out(ctx.server.config.busy_reply_threshold()) {
        if !nosave {
            return Err(err(if eval {
                crate::scripting::busy::BUSY_EVAL
            } else {
                crate::scripting::busy::BUSY_FUNCTION
            }));
        }
    }
    log::warn!("User requested shutdown...");
    prepare_shutdown(ctx.server, save, nosave, force)?;
    busy.shutting_down();
    ctx.server.shutdown.trigger();
    ctx.client.close_after_reply = true;
    Ok(Reply::none())
}

/// Redis's `prepareForShutdown`: a running BGSAVE is killed, and the final snapshot is
/// written when save points are set (or `save`), unless `nosave`. A failed save stops the
/// shutdown unless `force`.
pub fn prepare_shutdown(
    server: &crate::state::Shared,
    save: bool,
    nosave: bool,
    force: bool,
) -> Result<(), CmdError> {
    let snaps = &server.snapshots;
    snaps.kill_child();
    crate::scripting::ldb::kill_sessions();
    // Everything the append-only file buffered goes to disk (Redis's flushAppendOnlyFile
    // and fsync at exit).
    if !snaps.loading() {
        server.aof.flush_all();
    }
    // A half-loaded data set is never saved over the file it came from (Redis's rule).
    let nosave = nosave || snaps.loading();
    let points = !crate::persistence::snapshot::save_points(&server.config).is_empty();
    if !nosave && (save || points) {
        log::info!("Saving the final RDB snapshot before exiting.");
        if snaps.save(&server.snapshot_job()).is_err() {
            if !force {
                log::warn!("Error trying to save the DB, can't exit.");
                return Err(err("ERR Errors trying to SHUTDOWN. Check logs."));
            }
            log::warn!("Error trying to save the DB. Exit anyway.");
        }
    }
    Ok(())
}

/// TIME
pub fn time(_ctx: &mut Ctx, _args: &Args) -> CmdResult {
    // The clock now, not the command's instant: a script that polls TIME sees it move, as
    // in Redis.
    #[allow(clippy::disallowed_methods)]
    let us = crate::store::clock::unix_us();
    Ok(Reply::bulks([
        (us / 1_000_000).to_string(),
        (us % 1_000_000).to_string(),
    ]))
}

/// SAVE: the snapshot written in this thread, every database locked for reading meanwhile
/// (readers go on; writers wait).
pub fn save(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let job = ctx.server.snapshot_job();
    match ctx.server.snapshots.save(&job) {
        Ok(()) => Ok(Reply::ok()),
        Err(e) => Err(CmdError::msg(e)),
    }
}

/// BGSAVE [SCHEDULE]: a forked child writes the snapshot (see `persistence::snapshot`).
pub fn bgsave(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 2 || (args.len() == 2 && !args.is(1, "SCHEDULE")) {
        return Err(SYNTAX);
    }
    let snaps = &ctx.server.snapshots;
    if snaps.in_progress() {
        return Err(err("ERR Background save already in progress"));
    }
    if ctx.server.aof.rewriting() {
        if args.len() == 2 {
            snaps.schedule();
            return Ok(Reply::simple("Background saving scheduled"));
        }
        return Err(err("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."));
    }
    if ctx.held.is_some() {
        // Inside EXEC the transaction holds the databases: the cron starts it after.
        snaps.schedule();
        return Ok(Reply::simple("Background saving scheduled"));
    }
    let job = ctx.server.snapshot_job();
    snaps.bgsave(&job).map_err(err)?;
    Ok(Reply::simple("Background saving started"))
}

/// BGREWRITEAOF: a new base of the append-only file, written by a child while clients go
/// on; scheduled if a BGSAVE runs (or inside EXEC, which holds the databases).
pub fn bgrewriteaof(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let server = ctx.server;
    if server.aof.rewriting() {
        return Err(err(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    if server.snapshots.in_progress() || ctx.held.is_some() {
        server.aof.schedule();
        return Ok(Reply::simple(
            "Background append only file rewriting scheduled",
        ));
    }
    let functions = server.functions.lock().records();
    // With the file off Redis rewrites too: a new base, and the file stays off.
    let mode = if server.aof.is_on() {
        crate::persistence::aof::Mode::Rewrite
    } else {
        crate::persistence::aof::Mode::BaseOnly
    };
    let started = server
        .aof
        .rewrite(&server.store, &server.config, &functions, mode);
    match started {
        Ok(()) => Ok(Reply::simple(
            "Background append only file rewriting started",
        )),
        Err(e) => {
            log::warn!("{e}");
            Err(err("ERR Can't execute an AOF background rewriting. Please check the server logs for more information."))
        }
    }
}

/// LASTSAVE
pub fn lastsave(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::Int(ctx.server.snapshots.last_save_ms() / 1000))
}

/// MONITOR: from now on the client sees every command the server runs.
pub fn monitor(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    if ctx.held.is_some() {
        return Err(err("ERR MONITOR isn't allowed for DENY BLOCKING client"));
    }
    let info = std::sync::Arc::clone(&ctx.client.info);
    if info.monitor.load(Ordering::Relaxed) {
        // Already monitoring: ignored, without a reply, as in Redis.
        return Ok(Reply::none());
    }
    info.monitor.store(true, Ordering::Relaxed);
    // Queued under the monitors' lock, before any command shown.
    let mut ok = Vec::new();
    crate::protocol::encode(&Reply::ok(), ctx.client.resp, &mut ok);
    ctx.server.monitors.add(&info, &ok, &ctx.server.config);
    Ok(Reply::none())
}

// ---- MEMORY ----

/// MEMORY USAGE key [SAMPLES count]: the bytes the key and its value hold (every element is
/// counted; SAMPLES is accepted and checked as in Redis).
pub fn memory_usage(db: &DbRef, args: &Args) -> CmdResult {
    let mut j = 3;
    while j < args.len() {
        if args.is(j, "SAMPLES") && j + 1 < args.len() {
            if args.int(j + 1)? < 0 {
                return Err(SYNTAX);
            }
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    let key = args.get(2);
    Ok(match db.peek_quiet(key) {
        None => Reply::Nil,
        // The key's own bytes and its slot in the table (node and bucket), as Redis counts
        // its dictEntry and key.
        Some(e) => Reply::Int(
            (key.len() + std::mem::size_of::<crate::store::Entry>() + 3 * 8 + e.value.heap_bytes())
                as i64,
        ),
    })
}

/// MEMORY PURGE: hands free allocator pages back to the system.
pub fn memory_purge(_ctx: &mut Ctx, _args: &Args) -> CmdResult {
    crate::alloc::release_free_memory();
    Ok(Reply::ok())
}

/// MEMORY MALLOC-STATS
pub fn memory_malloc_stats(_ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::Verbatim(
        "txt",
        b"Stats not supported for the current allocator".to_vec(),
    ))
}

/// Memory figures MEMORY STATS and MEMORY DOCTOR share.
struct MemFigures {
    used: usize,
    peak: usize,
    rss: usize,
}

fn mem_figures(srv: &crate::state::Shared) -> MemFigures {
    let used = crate::alloc::used_memory();
    let peak = srv
        .stats
        .peak_memory
        .fetch_max(used as u64, Ordering::Relaxed)
        .max(used as u64) as usize;
    MemFigures {
        used,
        peak,
        rss: crate::alloc::rss_bytes(),
    }
}

/// MEMORY DOCTOR: Redis's report, from Spindle's figures.
pub fn memory_doctor(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let m = mem_figures(ctx.server);
    let text = if m.used < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string()
    } else {
        let big_peak = m.peak as f64 / m.used as f64 > 1.5;
        let frag = m.rss as f64 / m.used as f64;
        let high_frag = frag > 1.4 && m.rss.saturating_sub(m.used) > 10 << 20;
        if !big_peak && !high_frag {
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".to_string()
        } else {
            let mut s = "Sam, I detected a few issues in this Redis instance memory implants:\n\n"
                .to_string();
            if big_peak {
                s.push_str(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n");
            }
            if high_frag {
                s.push_str(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"libc\".\n\n");
            }
            s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
            s
        }
    };
    Ok(Reply::Verbatim("txt", text.into_bytes()))
}

/// (live keys, keys with a TTL) of every database, seen at one instant.
fn db_sizes(ctx: &mut Ctx) -> Vec<(usize, usize)> {
    let op = ctx.op;
    ctx.read_all(|all| {
        all.iter()
            .map(|ks| {
                let db: DbRef = Db::new(*ks, op);
                (db.len(), db.expires_len())
            })
            .collect()
    })
}

/// MEMORY STATS: Redis's fields, from Spindle's figures (what Spindle does not have, such
/// as replication buffers, is 0).
pub fn memory_stats(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let srv = ctx.server;
    let m = mem_figures(srv);
    let s = Reply::bulk;
    let int = |n: usize| Reply::Int(n as i64);
    let mut fields = vec![
        (s("peak.allocated"), int(m.peak)),
        (s("total.allocated"), int(m.used)),
        (s("startup.allocated"), int(0)),
        (s("replication.backlog"), int(0)),
        (s("clients.slaves"), int(0)),
        (s("clients.normal"), int(0)),
        (s("cluster.links"), int(0)),
        (s("aof.buffer"), int(0)),
        (s("lua.caches"), int(0)),
        (s("functions.caches"), int(0)),
    ];
    let mut keys = 0usize;
    for (i, (n, expires)) in db_sizes(ctx).into_iter().enumerate() {
        if n > 0 {
            keys += n;
            fields.push((
                Reply::Bulk(format!("db.{i}").into_bytes()),
                Reply::Map(vec![
                    (s("overhead.hashtable.main"), int(n * 8)),
                    (s("overhead.hashtable.expires"), int(expires * 8)),
                ]),
            ));
        }
    }
    let overhead = keys * 8;
    let dataset = m.used.saturating_sub(overhead);
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    fields.extend([
        (s("overhead.total"), int(overhead)),
        (s("keys.count"), int(keys)),
        (
            s("keys.bytes-per-key"),
            int(m.used.checked_div(keys).unwrap_or(0)),
        ),
        (s("dataset.bytes"), int(dataset)),
        (s("dataset.percentage"), Reply::Double(pct(dataset, m.used))),
        (s("peak.percentage"), Reply::Double(pct(m.used, m.peak))),
        (s("allocator.allocated"), int(m.used)),
        (s("allocator.active"), int(m.used)),
        (s("allocator.resident"), int(m.rss)),
        (s("allocator-fragmentation.ratio"), Reply::Double(1.0)),
        (s("allocator-fragmentation.bytes"), int(0)),
        (
            s("allocator.rss-ratio"),
            Reply::Double(ratio(m.rss, m.used)),
        ),
        (s("allocator.rss-bytes"), int(m.rss.saturating_sub(m.used))),
        (s("rss-overhead.ratio"), Reply::Double(1.0)),
        (s("rss-overhead.bytes"), int(0)),
        (s("fragmentation"), Reply::Double(ratio(m.rss, m.used))),
        (s("fragmentation.bytes"), int(m.rss.saturating_sub(m.used))),
    ]);
    Ok(Reply::Map(fields))
}

/// MEMORY HELP
pub fn memory_help(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    ))
}

// ---- CONFIG ----

/// CONFIG GET parameter [parameter ...]: a name (any case, shown as asked) or a glob over
/// names and aliases; hidden parameters only by name.
pub fn config_get(ctx: &mut Ctx, args: &Args) -> CmdResult {
    use crate::config::table::HIDDEN_CONFIG;
    let cfg = &ctx.server.config;
    let mut pairs: Vec<(Reply, Reply)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for pat in args.from(2) {
        let is_glob = pat.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
        if !is_glob {
            let name = String::from_utf8_lossy(pat);
            if let Some(d) = crate::config::lookup(&name) {
                if seen.insert(name.to_ascii_lowercase()) {
                    pairs.push((Reply::Bulk(pat.clone()), Reply::bulk(cfg.get(d))));
                }
            }
            continue;
        }
        for d in crate::config::described::CONFIGS {
            if d.has(HIDDEN_CONFIG) {
                continue;
            }
            for key in std::iter::once(d.name).chain(d.alias) {
                if glob::matches(pat, key.as_bytes(), true) && seen.insert(key.to_string()) {
                    pairs.push((Reply::bulk(key), Reply::bulk(cfg.get(d))));
                }
            }
        }
    }
    Ok(Reply::Map(pairs))
}

/// Redis's `allowProtectedAction`: `yes`, or `local` for a client on loopback or the Unix
/// socket.
pub fn protected_action_allowed(setting: &str, client: &crate::state::ClientInfo) -> bool {
    setting == "yes" || (setting == "local" && client.is_local())
}

/// CONFIG SET parameter value [parameter value ...]: all or nothing. As in Redis, every value
/// is set first, then what must act on the new values (the listening sockets) is applied;
/// a failure at either step puts every parameter back.
pub fn config_set(ctx: &mut Ctx, args: &Args) -> CmdResult {
    use crate::config::table::{IMMUTABLE_CONFIG, PROTECTED_CONFIG};
    if !args.len().is_multiple_of(2) {
        return Err(super::arity_error(args.get(0), "config|set"));
    }
    let cfg = &ctx.server.config;
    let mut pairs: Vec<(&'static crate::config::table::Described, String, String)> = Vec::new();
    let mut failure: Option<(String, &str)> = None;
    let mut deny_loading = false;
    for pair in args.from(2).chunks(2) {
        // The first error found is the one reported.
        if failure.is_some() {
            continue;
        }
        let sent = String::from_utf8_lossy(&pair[0]);
        let Some(d) = crate::config::lookup(&sent) else {
            return Err(CmdError::msg(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{sent}'"
            )));
        };
        let protected = d.has(PROTECTED_CONFIG) && {
            let setting =
                cfg.get(crate::config::lookup("enable-protected-configs").expect("in the table"));
            !protected_action_allowed(&setting, &ctx.client.info)
        };
        // During a load, parameters that may not change then get -LOADING, which takes
        // precedence over any other error (Redis's rule).
        if d.has(crate::config::table::DENY_LOADING_CONFIG) && ctx.server.snapshots.loading() {
            deny_loading = true;
            continue;
        }
        if d.has(IMMUTABLE_CONFIG) || protected {
            let why = if d.has(IMMUTABLE_CONFIG) {
                "can't set immutable config"
            } else {
                "can't set protected config"
            };
            failure = Some((sent.into_owned(), why));
            continue;
        }
        // Redis names the repeated argument as sent; a name and its alias are not repeats
        // (each has its own entry in Redis's table).
        let key = sent.to_ascii_lowercase();
        if pairs.iter().any(|(_, k, _)| *k == key) {
            failure = Some((sent.into_owned(), "duplicate parameter"));
            continue;
        }
        pairs.push((d, key, String::from_utf8_lossy(&pair[1]).into_owned()));
    }
    if deny_loading {
        return Err(super::LOADING_ERR);
    }
    if let Some((name, why)) = failure {
        return Err(CmdError::msg(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
        )));
    }
    let previous: Vec<String> = pairs.iter().map(|(d, _, _)| cfg.get(d)).collect();
    // Backwards, so that a parameter given twice (as name and alias) ends as it was.
    let restore = |upto: usize| {
        for ((d, _, _), old) in pairs.iter().zip(&previous).take(upto).rev() {
            let _ = cfg.set_param(d, old, true);
        }
    };
    let mut changed = Vec::new();
    for (i, (d, key, value)) in pairs.iter().enumerate() {
        if let Err(reason) = cfg.set_param(d, value, false) {
            restore(i + 1);
            // Named as Redis's table names it: an alias is its own entry there.
            let shown = d.alias.filter(|a| a == key).unwrap_or(d.name);
            return Err(CmdError::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument '{shown}') - {reason}"
            )));
        }
        if cfg.get(d) != previous[i] {
            changed.push(d.name);
        }
    }
    // The apply step: the listening sockets, once for port and bind together.
    if let Some(name) = ["port", "bind"].into_iter().find(|n| changed.contains(n)) {
        // Port 0 closes every TCP listener, as Redis's changeListenPort does.
        let addrs = if cfg.port() == 0 {
            Vec::new()
        } else {
            cfg.bind_addrs()
        };
        match ctx.server.listeners.rebind(&addrs, cfg.port()) {
            Ok(port) => cfg.set_port(port),
            Err(e) => {
                log::warn!("Failed applying new configuration. Possibly related to new {name} setting. Restoring previous settings. ({e})");
                restore(pairs.len());
                let why = if name == "port" {
                    "Unable to listen on this port. Check server logs."
                } else {
                    "Failed to bind to specified addresses."
                };
                return Err(CmdError::msg(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
                )));
            }
        }
    }
    // The append-only file: switched on (a base of the data now, records from now on) or
    // off, and its fsync policy.
    if [
        "appendfsync",
        "aof-timestamp-enabled",
        "aof-disable-auto-gc",
    ]
    .iter()
    .any(|n| changed.contains(n))
    {
        ctx.server.aof.refresh(cfg);
    }
    if changed.contains(&"appendonly") {
        let server = ctx.server;
        if crate::persistence::snapshot::setting(cfg, "appendonly") == "yes" {
            if ctx.held.is_some() || server.snapshots.in_progress() {
                // A BGSAVE child runs (one child at a time), or EXEC holds the databases:
                // the cron turns it on after.
                log::info!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
                server.aof.schedule_turn_on();
            } else {
                let functions = server.functions.lock().records();
                if let Err(e) = server.aof.turn_on(&server.store, cfg, &functions) {
                    log::warn!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error. ({e})");
                    restore(pairs.len());
                    return Err(err("ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn on AOF. Check server logs."));
                }
            }
        } else {
            server.aof.turn_off();
        }
    }
    if ["proc-title-template", "port", "bind", "unixsocket"]
        .iter()
        .any(|n| changed.contains(n))
    {
        crate::proctitle::apply(cfg);
    }
    // `requirepass` is the default user's password: applied once nothing can fail any more.
    if changed.contains(&"requirepass") {
        if let Some(d) = crate::config::lookup("requirepass") {
            ctx.server.acl.set_default_password(cfg.get(d).as_bytes());
        }
    }
    // Redis's updateMaxmemory: a lower limit starts eviction in the background (the cron
    // thread; never here, where EXEC may hold the database locks eviction takes).
    if changed.contains(&"maxmemory") && cfg.maxmemory() > 0 {
        let used = crate::alloc::used_memory() as u64;
        if cfg.maxmemory() < used {
            log::warn!(
                "WARNING: the new maxmemory value set via CONFIG SET ({}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.",
                cfg.maxmemory()
            );
        }
        crate::evict::start_in_background(ctx.server);
    }
    Ok(Reply::ok())
}

/// CONFIG HELP
pub fn config_help(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    ))
}

/// CONFIG RESETSTAT
pub fn config_resetstat(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    // This connection's counts of earlier commands in its batch go before the reset.
    super::flush_stats(ctx.server, ctx.client);
    ctx.server.stats.reset();
    ctx.read_all(|all| all.iter().for_each(|db| db.reset_stats()));
    Ok(Reply::ok())
}

/// CONFIG REWRITE: there is no config file to rewrite.
pub fn config_rewrite(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let cfg = &ctx.server.config;
    let Some(path) = cfg.config_file.as_deref() else {
        return Err(err("ERR The server is running without a config file"));
    };
    match crate::config::rewrite::rewrite(cfg, path, false) {
        Ok(()) => {
            log::info!("CONFIG REWRITE executed with success.");
            Ok(Reply::ok())
        }
        Err(e) => {
            let why = crate::os::strerror(&e);
            log::warn!("CONFIG REWRITE failed: {why}");
            Err(CmdError::msg(format!("ERR Rewriting config file: {why}")))
        }
    }
}

// ---- COMMAND ----

/// COMMAND: every command's COMMAND INFO entry.
pub fn command_all(_ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::Array(
        TABLE.iter().map(|c| command_info_entry(c, None)).collect(),
    ))
}

/// COMMAND COUNT
pub fn command_count(_ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::Int(TABLE.len() as i64))
}

/// COMMAND LIST
/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: every command
/// and subcommand (`config|get`) by full name, or those the filter keeps.
pub fn command_list(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    enum Filter<'a> {
        None,
        Module,
        AclCat(String),
        Pattern(&'a [u8]),
    }
    let filter = match args.len() {
        2 => Filter::None,
        5 if args.is(2, "FILTERBY") => {
            if args.is(3, "MODULE") {
                Filter::Module
            } else if args.is(3, "ACLCAT") {
                Filter::AclCat(format!("@{}", args.text(4).to_ascii_lowercase()))
            } else if args.is(3, "PATTERN") {
                Filter::Pattern(args.get(4))
            } else {
                return Err(SYNTAX);
            }
        }
        _ => return Err(SYNTAX),
    };
    let mut names = Vec::new();
    for spec in TABLE {
        let mut consider = |c: &CommandSpec, parent: Option<&CommandSpec>| {
            let name = full_name(c, parent);
            let keep = match &filter {
                Filter::None => true,
                // No modules are loaded.
                Filter::Module => false,
                Filter::AclCat(want) => acl_categories(c, parent)
                    .iter()
                    .any(|r| matches!(r, Reply::Simple(s) if s == want)),
                Filter::Pattern(p) => glob::matches(p, name.as_bytes(), true),
            };
            if keep {
                names.push(name);
            }
        };
        consider(spec, None);
        for sub in spec.subcommands {
            consider(sub, Some(spec));
        }
    }
    Ok(Reply::bulks(names))
}

/// Finds a command (or `container|sub`) by name, any case.
fn find_command(name: &[u8]) -> Option<(&'static CommandSpec, Option<&'static CommandSpec>)> {
    let text = String::from_utf8_lossy(name).to_ascii_lowercase();
    let (main, sub) = match text.split_once('|') {
        Some((m, s)) => (m.to_string(), Some(s.to_string())),
        None => (text, None),
    };
    let (_, spec) = super::lookup(main.as_bytes())?;
    match sub {
        None => Some((spec, None)),
        Some(s) => spec
            .subcommands
            .iter()
            .find(|c| c.name == s)
            .map(|c| (spec, Some(c))),
    }
}

/// COMMAND INFO [command-name ...]
pub fn command_info(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() == 2 {
        return command_all(_ctx, args);
    }
    Ok(Reply::Array(
        args.from(2)
            .iter()
            .map(|name| match find_command(name) {
                Some((main, sub)) => match sub {
                    Some(s) => command_info_entry(s, Some(main)),
                    None => command_info_entry(main, None),
                },
                None => Reply::Nil,
            })
            .collect(),
    ))
}

fn full_name(spec: &CommandSpec, parent: Option<&CommandSpec>) -> String {
    match parent {
        Some(p) => format!("{}|{}", p.name, spec.name),
        None => spec.name.to_string(),
    }
}

fn acl_categories(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Vec<Reply> {
    category_names(spec, parent)
        .into_iter()
        .map(|c| Reply::Simple(format!("@{c}").into()))
        .collect()
}

/// Redis's ACL categories, in the order COMMAND INFO lists them.
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// A command's ACL categories: those its description declares, and those its flags imply
/// (Redis's `setImplicitACLCategories`), in Redis's order.
pub fn category_names(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Vec<&'static str> {
    let declared = super::described::acl_categories(&full_name(spec, parent));
    let has = |c: &str| declared.contains(&c);
    let implied = |c: &str| match c {
        "write" => spec.flags & flags::WRITE != 0,
        "read" => spec.flags & flags::READONLY != 0 && !has("scripting"),
        "admin" | "dangerous" => spec.flags & flags::ADMIN != 0,
        "pubsub" => spec.flags & flags::PUBSUB != 0,
        "fast" => spec.flags & flags::FAST != 0,
        "slow" => spec.flags & flags::FAST == 0 && !has("fast"),
        "blocking" => spec.flags & flags::BLOCKING != 0,
        _ => false,
    };
    CATEGORIES
        .iter()
        .copied()
        .filter(|c| has(c) || implied(c))
        .collect()
}

/// One COMMAND INFO entry (Redis 7.0's ten fields).
fn command_info_entry(spec: &'static CommandSpec, parent: Option<&'static CommandSpec>) -> Reply {
    let flag_names = flags::NAMES
        .iter()
        .filter(|(f, _)| spec.flags & f != 0)
        .map(|(_, n)| Reply::simple(n));
    let (first, last, step) = spec.keys;
    let name = full_name(spec, parent);
    let key_specs = super::keyspec::info(super::keyspec::of(&name));
    Reply::Array(vec![
        Reply::Bulk(name.clone().into_bytes()),
        Reply::Int(spec.arity.into()),
        Reply::Set(flag_names.collect()),
        Reply::Int(first.into()),
        Reply::Int(last.into()),
        Reply::Int(step.into()),
        Reply::Set(acl_categories(spec, parent)),
        Reply::Set(
            super::described::tips(&name)
                .iter()
                .map(|t| Reply::bulk(*t))
                .collect(),
        ),
        key_specs,
        Reply::Array(
            spec.subcommands
                .iter()
                .map(|s| command_info_entry(s, Some(spec)))
                .collect(),
        ),
    ])
}

fn command_docs_entry(spec: &'static CommandSpec, parent: Option<&'static CommandSpec>) -> Reply {
    let s = Reply::bulk;
    let group = parent.map_or(spec.group, |p| p.group);
    let docs = super::described::docs(&full_name(spec, parent));
    let mut fields = Vec::new();
    // Redis's addReplyCommandDocs: each field only when declared, the group always.
    if let Some(d) = docs {
        for (field, v) in [("summary", d.summary), ("since", d.since)] {
            if !v.is_empty() {
                fields.push((s(field), s(v)));
            }
        }
    }
    fields.push((
        s("group"),
        Reply::Bulk(group.replace('_', "-").into_bytes()),
    ));
    if let Some(d) = docs {
        if !d.complexity.is_empty() {
            fields.push((s("complexity"), s(d.complexity)));
        }
        if !d.doc_flags.is_empty() {
            fields.push((
                s("doc_flags"),
                Reply::Set(d.doc_flags.iter().map(|f| Reply::simple(f)).collect()),
            ));
        }
        for (field, v) in [
            ("deprecated_since", d.deprecated_since),
            ("replaced_by", d.replaced_by),
        ] {
            if !v.is_empty() {
                fields.push((s(field), s(v)));
            }
        }
        if !d.history.is_empty() {
            fields.push((
                s("history"),
                Reply::Set(
                    d.history
                        .iter()
                        .map(|(v, c)| Reply::Array(vec![s(v), s(c)]))
                        .collect(),
                ),
            ));
        }
        if let Some(args) = d.args {
            fields.push((s("arguments"), super::keyspec::args_reply(args)));
        }
    }
    if !spec.subcommands.is_empty() {
        fields.push((
            s("subcommands"),
            Reply::Map(
                spec.subcommands
                    .iter()
                    .map(|c| {
                        (
                            Reply::Bulk(full_name(c, Some(spec)).into_bytes()),
                            command_docs_entry(c, Some(spec)),
                        )
                    })
                    .collect(),
            ),
        ));
    }
    Reply::Map(fields)
}

/// COMMAND DOCS [command-name ...]
pub fn command_docs(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut pairs = Vec::new();
    if args.len() == 2 {
        for c in TABLE {
            pairs.push((Reply::bulk(c.name), command_docs_entry(c, None)));
        }
    } else {
        for name in args.from(2) {
            if let Some((main, sub)) = find_command(name) {
                let (spec, parent) = match sub {
                    Some(s) => (s, Some(main)),
                    None => (main, None),
                };
                pairs.push((
                    Reply::Bulk(full_name(spec, parent).into_bytes()),
                    command_docs_entry(spec, parent),
                ));
            }
        }
    }
    Ok(Reply::Map(pairs))
}

// ---- INFO ----

fn human(bytes: usize) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

/// INFO [section ...]
pub fn info(ctx: &mut Ctx, args: &Args) -> CmdResult {
    // Commands sent before INFO in the same batch are counted in what it shows.
    super::flush_stats(ctx.server, ctx.client);
    let wanted: Vec<String> = args
        .from(1)
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let everything = wanted.iter().any(|w| w == "all" || w == "everything");
    let default = wanted.is_empty() || wanted.iter().any(|w| w == "default");
    // commandstats and latencystats are only in ALL/EVERYTHING or when named, as in Redis.
    let want = |name: &str| {
        everything
            || (default && name != "commandstats" && name != "latencystats")
            || wanted
                .iter()
                .any(|w| w == name || (name == "modules" && w == "module_list"))
    };
    let srv = ctx.server;
    let st = &srv.stats;
    let mut out = String::new();
    let mut section = |title: &str, body: String| {
        if want(&title.to_ascii_lowercase()) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            let _ = write!(out, "# {title}\r\n{body}");
        }
    };
    let uptime = (ctx.op.now_ms() - srv.started_ms).max(0) / 1000;
    let (sysname, release, machine) = crate::os::uname();
    section(
        "Server",
        format!(
            "redis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{sysname} {release} {machine}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:threads\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\nspindle_version:{}\r\n",
            crate::REDIS_VERSION,
            std::process::id(),
            crate::supervise::mode_name(),
            srv.run_id,
            srv.config.port(),
            ctx.op.now_us(),
            uptime,
            uptime / 86400,
            srv.config.hz(),
            srv.config.hz(),
            crate::store::clock::lru_clock(),
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            srv.config.config_file.as_deref().unwrap_or(""),
            crate::VERSION,
        ),
    );
    let (tracking_clients, tracking_keys, tracking_items, tracking_prefixes) =
        srv.tracking.totals();
    // What the clients' buffers hold now: the largest input and output, and the total.
    let (mut max_in, mut max_out, mut client_mem) = (0usize, 0usize, 0usize);
    for c in srv.clients.list() {
        let input = c.qbuf.load(Ordering::Relaxed);
        let output = c.outbox.pending();
        max_in = max_in.max(input);
        max_out = max_out.max(output);
        client_mem += input + c.qbuf_free.load(Ordering::Relaxed) + output;
    }
    section(
        "Clients",
        format!(
            "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{max_in}\r\nclient_recent_max_output_buffer:{max_out}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:{}\r\n",
            srv.clients.len(),
            srv.config.maxclients(),
            srv.blocked_clients.load(Ordering::Relaxed),
            tracking_clients,
            srv.clients.timed_waits(),
        ),
    );
    let used = crate::alloc::used_memory();
    let peak = st
        .peak_memory
        .fetch_max(used as u64, Ordering::Relaxed)
        .max(used as u64) as usize;
    let rss = crate::alloc::rss_bytes();
    let maxmem = srv.config.maxmemory() as usize;
    let policy = srv.config.maxmemory_policy().name();
    let startup = st.startup_memory.load(Ordering::Relaxed) as usize;
    let aof_buffer = srv.aof.buffered();
    let overhead = startup + client_mem + aof_buffer;
    let dataset = used.saturating_sub(overhead);
    let (active, resident) = crate::alloc::allocator_stats();
    let (vm_eval, scripts_eval) = srv.scripts.memory();
    let vm_functions = srv.functions.vm_memory();
    let functions_mem = srv.functions.held();
    let ratio = |a: usize, b: usize| if b > 0 { a as f64 / b as f64 } else { 0.0 };
    let system = crate::os::total_system_memory();
    let (lf_pending, lf_freed) = (
        crate::store::lazyfree::pending(),
        crate::store::lazyfree::freed(),
    );
    section(
        "Memory",
        format!(
            "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{overhead}\r\nused_memory_startup:{startup}\r\nused_memory_dataset:{dataset}\r\nused_memory_dataset_perc:{:.2}%\r\nallocator_allocated:{used}\r\nallocator_active:{active}\r\nallocator_resident:{resident}\r\ntotal_system_memory:{system}\r\ntotal_system_memory_human:{}\r\nused_memory_lua:{vm_eval}\r\nused_memory_vm_eval:{vm_eval}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{scripts_eval}\r\nnumber_of_cached_scripts:{}\r\nnumber_of_functions:{}\r\nnumber_of_libraries:{}\r\nused_memory_vm_functions:{vm_functions}\r\nused_memory_vm_total:{}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:{functions_mem}\r\nused_memory_scripts:{}\r\nused_memory_scripts_human:{}\r\nmaxmemory:{maxmem}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{policy}\r\nallocator_frag_ratio:{:.2}\r\nallocator_frag_bytes:{}\r\nallocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:{:.2}\r\nrss_overhead_bytes:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:0\r\nmem_replication_backlog:0\r\nmem_total_replication_buffers:0\r\nmem_clients_slaves:0\r\nmem_clients_normal:{client_mem}\r\nmem_cluster_links:0\r\nmem_aof_buffer:{aof_buffer}\r\nmem_allocator:{}\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:{lf_pending}\r\nlazyfreed_objects:{lf_freed}\r\n",
            human(used),
            human(rss),
            human(peak),
            ratio(used, peak) * 100.0,
            ratio(dataset, used.saturating_sub(startup)) * 100.0,
            human(system),
            human(vm_eval),
            srv.scripts.cached(),
            srv.functions.function_count(),
            srv.functions.library_count(),
            vm_eval + vm_functions,
            human(vm_eval + vm_functions),
            scripts_eval + functions_mem,
            human(scripts_eval + functions_mem),
            human(maxmem),
            ratio(active, used),
            active as i64 - used as i64,
            ratio(resident, active),
            resident as i64 - active as i64,
            ratio(rss, resident),
            rss as i64 - resident as i64,
            ratio(rss, used),
            rss as i64 - used as i64,
            crate::alloc::allocator_name(),
        ),
    );
    section(
        "Persistence",
        srv.snapshots.info(st.dirty.get()) + &srv.aof.info(),
    );
    // Every database at one instant, locked together: a swap or a flush is seen whole.
    let (mut hits, mut misses, mut expired) = (0, 0, 0);
    let mut keyspace = String::new();
    let op = ctx.op;
    let per_db: Vec<_> = ctx.read_all(|all| {
        all.iter()
            .map(|ks| {
                let db: DbRef = Db::new(*ks, op);
                (
                    ks.hits_misses(),
                    ks.expired_count(),
                    db.len(),
                    db.expires_len(),
                )
            })
            .collect()
    });
    for (i, ((h, m), x, keys, expires)) in per_db.into_iter().enumerate() {
        hits += h;
        misses += m;
        expired += x;
        if keys > 0 {
            let _ = write!(
                keyspace,
                "db{i}:keys={keys},expires={expires},avg_ttl=0\r\n"
            );
        }
    }
    let (pubsub_channels, pubsub_patterns, pubsub_shard) =
        srv.pubsub.read(crate::pubsub::Registry::totals);
    let (forks, fork_us) = crate::persistence::forks();
    let migrate_links = srv.links.count();
    let (kbps_in, kbps_out) = st.kbps();
    section(
        "Stats",
        format!(
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:{kbps_in:.2}\r\ninstantaneous_output_kbps:{kbps_out:.2}\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:0\r\nsync_partial_ok:0\r\nsync_partial_err:0\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nevicted_clients:0\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\nkeyspace_hits:{hits}\r\nkeyspace_misses:{misses}\r\npubsub_channels:{pubsub_channels}\r\npubsub_patterns:{pubsub_patterns}\r\npubsubshard_channels:{pubsub_shard}\r\nlatest_fork_usec:{fork_us}\r\ntotal_forks:{forks}\r\nmigrate_cached_sockets:{migrate_links}\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:{tracking_keys}\r\ntracking_total_items:{tracking_items}\r\ntracking_total_prefixes:{tracking_prefixes}\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
            st.connections.load(Ordering::Relaxed),
            st.commands.get(),
            st.ops_per_sec(),
            st.net_input.get(),
            st.net_output.get(),
            st.rejected.load(Ordering::Relaxed),
            expired,
            st.expire_cycle_us.load(Ordering::Relaxed) / 1000,
            st.evicted_keys.load(Ordering::Relaxed),
            st.errors.get(),
            st.reads.get(),
            st.writes.get(),
        ),
    );
    section(
        "Replication",
        format!(
            "role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
            srv.run_id,
            crate::config::lookup("repl-backlog-size")
                .map(|d| srv.config.get(d))
                .unwrap_or_default(),
        ),
    );
    let cpu = crate::os::cpu_times();
    section(
        "CPU",
        format!(
            "used_cpu_sys:{:.6}\r\nused_cpu_user:{:.6}\r\nused_cpu_sys_children:{:.6}\r\nused_cpu_user_children:{:.6}\r\nused_cpu_sys_main_thread:{:.6}\r\nused_cpu_user_main_thread:{:.6}\r\n",
            cpu.process.0,
            cpu.process.1,
            cpu.children.0,
            cpu.children.1,
            cpu.thread.0,
            cpu.thread.1,
        ),
    );
    section("Modules", String::new());
    let mut commandstats = String::new();
    for (name, t) in super::command_totals(srv) {
        if t.calls == 0 && t.rejected == 0 && t.failed == 0 {
            continue;
        }
        let per_call = if t.calls > 0 {
            t.usec as f64 / t.calls as f64
        } else {
            0.0
        };
        let _ = write!(
            commandstats,
            "cmdstat_{name}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
            t.calls, t.usec, t.rejected, t.failed
        );
    }
    section("Commandstats", commandstats);
    let errorstats: String = st
        .by_command
        .errors()
        .into_iter()
        .map(|(prefix, n)| format!("errorstat_{prefix}:count={n}\r\n"))
        .collect();
    section("Errorstats", errorstats);
    let mut latencystats = String::new();
    if srv.config.latency_tracking() {
        let percentiles = srv.config.latency_percentiles();
        for (name, h) in super::command_histograms(srv, None) {
            let shown: Vec<String> = percentiles
                .iter()
                .map(|&p| {
                    format!(
                        "p{}={:.3}",
                        crate::config::trim_double(p),
                        h.percentile(p) as f64 / 1000.0
                    )
                })
                .collect();
            let _ = write!(
                latencystats,
                "latency_percentiles_usec_{name}:{}\r\n",
                shown.join(",")
            );
        }
    }
    section("Latencystats", latencystats);
    section("Cluster", "cluster_enabled:0\r\n".into());
    section("Keyspace", keyspace);
    Ok(Reply::Verbatim("txt", out.into_bytes()))
}

/// Every CLUSTER subcommand of a server not in cluster mode (as redis-server answers with
/// `cluster-enabled no`, its default).
pub fn cluster_disabled(_ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Err(err("ERR This instance has cluster support disabled"))
}

/// COMMAND HELP
pub fn command_help(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    ))
}

// ---- SLOWLOG ----

/// SLOWLOG GET [count]: the newest entries (10 by default, -1 for all).
pub fn slowlog_get(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 3 {
        return Err(super::subcommand_syntax_error(args));
    }
    let mut count = 10usize;
    if args.len() == 3 {
        let n = crate::protocol::parse_i64(args.get(2))
            .filter(|&n| n >= -1)
            .ok_or(err("ERR count should be greater than or equal to -1"))?;
        count = if n == -1 { usize::MAX } else { n as usize };
    }
    Ok(Reply::Array(ctx.server.slowlog.newest(count, |e| {
        Reply::Array(vec![
            Reply::Int(e.id as i64),
            Reply::Int(e.unix_secs),
            Reply::Int(e.micros as i64),
            Reply::Array(e.argv.iter().map(|a| Reply::Bulk(a.clone())).collect()),
            Reply::bulk(e.peer.as_str()),
            Reply::Bulk(e.name.clone()),
        ])
    })))
}

/// SLOWLOG LEN
pub fn slowlog_len(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::Int(ctx.server.slowlog.len() as i64))
}

/// SLOWLOG RESET
pub fn slowlog_reset(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.server.slowlog.reset();
    Ok(Reply::ok())
}

/// SLOWLOG HELP
pub fn slowlog_help(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    ))
}

/// The second of the wall clock, as Redis's `time(NULL)` (latency samples' times).
fn unix_now() -> i64 {
    #[allow(clippy::disallowed_methods)] // a sample's wall-clock second
    let ms = crate::store::clock::unix_ms();
    ms / 1000
}

/// LATENCY LATEST
pub fn latency_latest(_ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::Array(
        crate::latency::monitor()
            .latest()
            .into_iter()
            .map(|(event, time, ms, max)| {
                Reply::Array(vec![
                    Reply::bulk(event),
                    Reply::Int(time),
                    Reply::Int(ms as i64),
                    Reply::Int(max as i64),
                ])
            })
            .collect(),
    ))
}

/// LATENCY HISTORY event
pub fn latency_history(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    let samples = crate::latency::monitor()
        .history(args.get(2))
        .unwrap_or_default();
    Ok(Reply::Array(
        samples
            .into_iter()
            .map(|(time, ms)| Reply::Array(vec![Reply::Int(time), Reply::Int(ms as i64)]))
            .collect(),
    ))
}

/// LATENCY GRAPH event
pub fn latency_graph(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    match crate::latency::monitor().graph(args.get(2), unix_now()) {
        Some(graph) => Ok(Reply::Verbatim("txt", graph.into_bytes())),
        None => Err(CmdError::msg(format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(args.get(2))
        ))),
    }
}

/// LATENCY RESET [event ...]: how many events were forgotten.
pub fn latency_reset(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    let monitor = crate::latency::monitor();
    let n = if args.len() == 2 {
        monitor.reset(None)
    } else {
        args.from(2).iter().map(|e| monitor.reset(Some(e))).sum()
    };
    Ok(Reply::Int(n as i64))
}

/// LATENCY DOCTOR
pub fn latency_doctor(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let cfg = &ctx.server.config;
    let (_, fork_us) = crate::persistence::forks();
    let used = crate::alloc::used_memory() as f64;
    // Redis's stat_fork_rate: GB of memory per second of the last fork.
    let fork_rate = if fork_us > 0 {
        used / (1024.0 * 1024.0 * 1024.0) / (fork_us as f64 / 1e6)
    } else {
        0.0
    };
    let facts = crate::latency::DoctorFacts {
        threshold_ms: crate::latency::threshold(),
        slowlog_slower_than_us: cfg.slowlog_slower_than(),
        fork_rate_gb_s: fork_rate,
        fsync_always: ctx.server.aof.fsync_always(),
        hz: cfg.hz(),
        anon_huge_pages: crate::os::smaps_bytes("AnonHugePages:"),
    };
    let report = crate::latency::monitor().doctor(&facts, unix_now());
    Ok(Reply::Verbatim("txt", report.into_bytes()))
}

/// LATENCY HISTOGRAM [command ...]: each command's calls and cumulative distribution.
pub fn latency_histogram(ctx: &mut Ctx, args: &Args) -> CmdResult {
    super::flush_stats(ctx.server, ctx.client);
    let entries = if args.len() == 2 {
        super::command_histograms(ctx.server, None)
    } else {
        args.from(2)
            .iter()
            .flat_map(|name| super::named_histograms(ctx.server, name))
            .collect()
    };
    Ok(Reply::Map(
        entries
            .into_iter()
            .map(|(name, h)| {
                let cdf = h
                    .cdf()
                    .into_iter()
                    .map(|(us, n)| (Reply::Int(us as i64), Reply::Int(n as i64)))
                    .collect();
                (
                    Reply::bulk(name),
                    Reply::Map(vec![
                        (Reply::bulk("calls"), Reply::Int(h.total() as i64)),
                        (Reply::bulk("histogram_usec"), Reply::Map(cdf)),
                    ]),
                )
            })
            .collect(),
    ))
}

/// LATENCY HELP
pub fn latency_help(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    ))
}
