//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (Redis's `eval.c`, `script.c`).
//!
//! **A script is atomic as EXEC is.** Before it runs, EVAL takes the write lock of every
//! database, in index order (inside EXEC, the transaction already holds them all), then the
//! interpreter's mutex; `redis.call` runs each command through the normal dispatch
//! (`execute_resolved` with those locks held), so WATCH, keyspace events, tracking and the
//! statistics see it as any other command. A SELECT inside a script changes the database for
//! the script only; blocking commands do not block.

use std::cell::Cell;

use mlua::Value;

use super::access::Held;
use super::args::{err, Args, CmdError, CmdResult};
use super::{execute_resolved, flags, CommandSpec, Ctx};
use crate::protocol::{encode, Reply};
use crate::scripting::{self, error_table, flags as sflags};

const NOSCRIPT: CmdError = err("NOSCRIPT No matching script. Please use EVAL.");

/// EVAL script numkeys [key ...] [arg ...]
pub fn eval(ctx: &mut Ctx, args: &Args) -> CmdResult {
    eval_generic(ctx, args, false, false)
}

/// EVALSHA sha1 numkeys [key ...] [arg ...]
pub fn evalsha(ctx: &mut Ctx, args: &Args) -> CmdResult {
    eval_generic(ctx, args, true, false)
}

/// EVAL_RO script numkeys [key ...] [arg ...]
pub fn eval_ro(ctx: &mut Ctx, args: &Args) -> CmdResult {
    eval_generic(ctx, args, false, true)
}

/// EVALSHA_RO sha1 numkeys [key ...] [arg ...]
pub fn evalsha_ro(ctx: &mut Ctx, args: &Args) -> CmdResult {
    eval_generic(ctx, args, true, true)
}

fn eval_generic(ctx: &mut Ctx, args: &Args, by_sha: bool, ro: bool) -> CmdResult {
    // Shown before the commands it runs (and even when refused), as Redis does.
    super::show_to_monitors(ctx, args.all());
    if let Some(mode) = ctx.client.ldb {
        if by_sha {
            // A SHA-1 of the wrong length is refused first, as Redis's evalShaCommand does.
            if args.get(1).len() != 40 {
                return Err(NOSCRIPT);
            }
            return Err(err("ERR Please use EVAL instead of EVALSHA for debugging"));
        }
        if let Some(stream) = ctx.client.info.stream() {
            return debug_eval(ctx, args, ro, mode, stream);
        }
    }
    eval_checked(ctx, args, by_sha, ro)
}

/// EVAL after the debugger's turn: checks the key count, then runs the script.
fn eval_checked(ctx: &mut Ctx, args: &Args, by_sha: bool, ro: bool) -> CmdResult {
    let numkeys = numkeys(args)?;
    under_all_locks(ctx, |ctx| run(ctx, args, numkeys, by_sha, ro))
}

/// EVAL's key count, checked against its arguments.
fn numkeys(args: &Args) -> Result<usize, CmdError> {
    let numkeys = args.int(2)?;
    if numkeys > (args.len() - 3) as i64 {
        return Err(err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(err("ERR Number of keys can't be negative"));
    }
    Ok(numkeys as usize)
}

/// The debugging client's socket, as the debugger reads and writes it.
struct SocketLink(std::sync::Arc<std::net::TcpStream>);

impl scripting::ldb::Link for SocketLink {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        std::io::Read::read(&mut &*self.0, buf)
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        std::io::Write::write_all(&mut &*self.0, bytes)
    }
}

/// Starts the session on the client's socket. A client that stops reading cannot hold it
/// (and in SYNC mode every other client) in a write for ever: past 5 s a write fails and the
/// script goes on without it, as with Redis's `connSendTimeout`. (The connection ends with
/// the session, so the timeout is never taken off.)
fn start_session(
    stream: std::sync::Arc<std::net::TcpStream>,
    args: &Args,
    threshold: u64,
) -> scripting::ldb::Active {
    let _ = stream.set_write_timeout(Some(std::time::Duration::from_secs(5)));
    scripting::ldb::start(Box::new(SocketLink(stream)), args.get(1), threshold)
}

/// EVAL in a debugging session (Redis's `evalGenericCommandWithDebugging`). In SYNC mode the
/// session runs here, holding every lock as any script does, and its changes stay; with
/// YES a forked child runs it on a copy of the data, which is thrown away, while the server
/// goes on. Either way the connection ends with the session, after the script's reply.
fn debug_eval(
    ctx: &mut Ctx,
    args: &Args,
    ro: bool,
    mode: scripting::ldb::Mode,
    stream: std::sync::Arc<std::net::TcpStream>,
) -> CmdResult {
    let threshold = ctx.server.config.busy_reply_threshold();
    ctx.client.ldb = None;
    if mode == scripting::ldb::Mode::Forked {
        return under_all_locks(ctx, |ctx| fork_session(ctx, args, ro, stream, threshold));
    }
    log::warn!("Redis synchronous debugging eval session started");
    let session = start_session(stream, args, threshold);
    let out = eval_checked(ctx, args, false, ro);
    session.end();
    log::warn!("Redis synchronous debugging eval session ended");
    ctx.client.close_after_reply = true;
    out
}

/// `SCRIPT DEBUG YES`: forks, under every lock and the interpreter's (which FUNCTION and
/// SCRIPT LOAD take without them), so that the child starts from a consistent copy. The
/// child runs the session and exits; the server hands the connection over and forgets it.
fn fork_session(
    ctx: &mut Ctx,
    args: &Args,
    ro: bool,
    stream: std::sync::Arc<std::net::TcpStream>,
    threshold: u64,
) -> CmdResult {
    let mut interp = ctx.server.scripts.lock();
    // SAFETY: the child runs only the session below on this thread, through memory it
    // inherited (the database locks and the interpreter's are this thread's own, and it
    // never releases them: a waiter of the parent's could be handed one), writes only to its
    // client's socket (its other descriptors are closed; see `os::is_forked_child` for the
    // state it shares) and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        crate::os::mark_forked_child();
        // Any lock another thread held at the fork stays held here: the logger's is one.
        log::set_max_level(log::LevelFilter::Off);
        // SAFETY: signal dispositions and closing descriptors have no preconditions. The
        // server's stop signals are its own; its listeners, files and other clients'
        // sockets must not outlive it in this child (nor be written to).
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            crate::os::close_all_but(Some(std::os::fd::AsRawFd::as_raw_fd(&*stream)));
        }
        std::panic::set_hook(Box::new(|_| {
            // SAFETY: leaves the child at once, without touching anything shared.
            unsafe { libc::_exit(1) }
        }));
        let session = start_session(stream, args, threshold);
        let out = numkeys(args).and_then(|n| run_in(ctx, &mut interp, args, n, false, ro));
        if let Some(mut link) = session.end() {
            let reply = out.unwrap_or_else(|e| e.into());
            let mut bytes = Vec::new();
            encode(&reply, ctx.client.resp, &mut bytes);
            let _ = link.write_all(&bytes);
        }
        // SAFETY: ends the child without running the server's destructors or atexit (nor
        // releasing the locks it inherited).
        unsafe { libc::_exit(0) };
    }
    drop(interp);
    if pid < 0 {
        return Err(CmdError::msg(format!(
            "ERR Fork() failed: can't run EVAL in debugging mode: {}",
            std::io::Error::last_os_error()
        )));
    }
    log::warn!("Redis forked for debugging eval (pid {pid})");
    scripting::ldb::forked(pid, stream);
    ctx.client.handed_off = true;
    Ok(Reply::none())
}

/// SCRIPT DEBUG YES|SYNC|NO
pub fn script_debug(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if ctx.client.replies_pending || ctx.held.is_some() {
        return Err(err("ERR SCRIPT DEBUG must be called outside a pipeline"));
    }
    let mode = args.get(2);
    ctx.client.ldb = if mode.eq_ignore_ascii_case(b"no") {
        None
    } else if mode.eq_ignore_ascii_case(b"yes") {
        Some(scripting::ldb::Mode::Forked)
    } else if mode.eq_ignore_ascii_case(b"sync") {
        Some(scripting::ldb::Mode::Sync)
    } else {
        return Err(err("ERR Use SCRIPT DEBUG YES/SYNC/NO"));
    };
    Ok(Reply::ok())
}

/// Runs `f` under the write lock of every database, taken in index order (or those of the
/// transaction around it), as every script runs: the interpreter's mutex comes after.
pub(super) fn under_all_locks(ctx: &mut Ctx, f: impl FnOnce(&mut Ctx) -> CmdResult) -> CmdResult {
    if ctx.held.is_some() {
        return f(ctx);
    }
    // Scripts queue at the gate first, one at a time (see `Busy::enter`); inside EXEC the
    // transaction's locks already exclude everyone.
    let threshold = ctx.server.config.busy_reply_threshold();
    let _gate = ctx.server.script_busy.enter(threshold).map_err(err)?;
    let mut guards = ctx.server.store.hold(|_| true);
    let aof = std::sync::Arc::clone(&ctx.server.aof);
    // The script's effects go to the append-only file together, as MULTI ... EXEC.
    let batch = aof.batch();
    let held: Held = guards.iter_mut().map(|g| g.as_deref_mut()).collect();
    let out = run_held(ctx, held, f);
    drop(batch);
    // Releasing the locks serves clients blocked on keys the script pushed to.
    drop(guards);
    out
}

/// `f` through the locks just taken.
fn run_held(ctx: &mut Ctx, held: Held, f: impl FnOnce(&mut Ctx) -> CmdResult) -> CmdResult {
    // Shortened to this call (a held lock outlives it), as `Ctx` needs.
    let mut held: Held<'_> = held;
    let mut inner = Ctx {
        server: ctx.server,
        client: &mut *ctx.client,
        op: ctx.op,
        held: Some(&mut held),
    };
    f(&mut inner)
}

/// Under every database lock: finds or compiles the script and runs it.
fn run(ctx: &mut Ctx, args: &Args, numkeys: usize, by_sha: bool, ro: bool) -> CmdResult {
    let mut interp = ctx.server.scripts.lock();
    run_in(ctx, &mut interp, args, numkeys, by_sha, ro)
}

/// [`run`] with the interpreter's lock already held.
fn run_in(
    ctx: &mut Ctx,
    interp: &mut scripting::Interp,
    args: &Args,
    numkeys: usize,
    by_sha: bool,
    ro: bool,
) -> CmdResult {
    let server = ctx.server;
    // The SHA-1 in lowercase, without an allocation: most runs are EVALSHA.
    let mut lower = [0u8; 40];
    let created;
    let sha: &str = if by_sha {
        let given = args.get(1);
        if given.len() != 40 {
            return Err(NOSCRIPT);
        }
        for (to, from) in lower.iter_mut().zip(given) {
            *to = from.to_ascii_lowercase();
        }
        std::str::from_utf8(&lower).map_err(|_| NOSCRIPT)?
    } else {
        created = match server.scripts.create(interp, args.get(1)) {
            Ok(sha) => sha,
            Err(reply) => return Ok(reply),
        };
        &created
    };
    let Some(&cached) = interp.scripts.get(sha) else {
        return Err(NOSCRIPT);
    };
    let (readonly, oom) = check_flags(ctx, cached.flags, ro)?;
    let argv = args.from(3);
    let (keys, argv) = argv.split_at(numkeys);
    let out = call_script(ctx, interp, keys, (readonly, oom), sha, None, |interp| {
        interp.invoke(cached.slot, keys, argv, true)
    });
    interp.after_run();
    server.scripts.counted(interp);
    out
}

/// An interpreter error (a bug or out of memory) as a one-line error reply.
pub(super) fn internal(e: mlua::Error) -> CmdError {
    CmdError::msg(format!("ERR {}", e).replace(['\r', '\n'], " "))
}

/// The checks of a script's flags before it runs (Redis's `scriptPrepareForRun`): whether
/// it runs read-only, and whether it starts over `maxmemory` without `allow-oom`.
pub(super) fn check_flags(
    ctx: &Ctx,
    script_flags: u32,
    ro: bool,
) -> Result<(bool, bool), CmdError> {
    let compat = script_flags & sflags::EVAL_COMPAT != 0;
    if ro && !compat && script_flags & sflags::NO_WRITES == 0 {
        return Err(err(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    if !compat && script_flags & sflags::NO_WRITES == 0 {
        if ctx.server.snapshots.refuses_writes(&ctx.server.config) {
            return Err(super::MISCONF);
        }
        if ctx.server.config.too_few_replicas() {
            return Err(super::NOREPLICAS);
        }
    }
    let readonly = ro || (!compat && script_flags & sflags::NO_WRITES != 0);
    // Redis's pre-command OOM state: over `maxmemory` after the eviction dispatch ran.
    let max = ctx.server.config.maxmemory();
    let oom = max > 0 && crate::alloc::used_memory() as u64 > max;
    if oom && !compat && script_flags & (sflags::ALLOW_OOM | sflags::NO_WRITES) == 0 {
        return Err(err(
            "OOM command not allowed when used memory > 'maxmemory'.",
        ));
    }
    // Deny-oom commands are refused until the script's first write.
    Ok((readonly, oom && script_flags & sflags::ALLOW_OOM == 0))
}

/// Runs a script (`invoke` calls it under the error handler: true and its value, or false
/// and the error) with redis.call wired to this client, and turns its result into the
/// reply. `name` is what errors name it by (a SHA-1, a function's name); `function` is a
/// function's name and its caller's command (FCALL), for FUNCTION STATS and KILL.
pub(super) fn call_script(
    ctx: &mut Ctx,
    interp: &scripting::Interp,
    keys: &[Vec<u8>],
    (readonly, oom): (bool, bool),
    name: &str,
    function: Option<crate::scripting::busy::FunctionRef>,
    invoke: impl FnOnce(&scripting::Interp) -> mlua::Result<(bool, Value)>,
) -> CmdResult {
    let run = Run {
        readonly,
        oom,
        resp: Cell::new(2),
        dirty: Cell::new(false),
        keys,
    };
    let lua = &interp.lua;
    let (caller_db, caller_resp) = (ctx.client.db, ctx.client.resp);
    // The script runs on a stack of its own (see `scripting::stack`).
    let running = scripting::Running::start();
    ctx.client.in_script = true;
    // Other clients wait for it, then get BUSY once it passes busy-reply-threshold; the
    // interpreter's hook stops it on SCRIPT KILL or a shutdown.
    let server = ctx.server;
    let eval = function.is_none();
    let _busy = server
        .script_busy
        .begin(function, ctx.client.id, server.shutdown.is_triggered());
    server
        .script_busy
        .warn_after(server.config.busy_reply_threshold(), eval);
    let debugging = scripting::ldb::active();
    if debugging {
        interp.install_debugger_hook();
    } else {
        interp.rearm_hook();
    }
    // A panic (a bug) inside still gives the caller back its database and protocol before
    // dispatch's guard answers it.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scripting::stack::run(|| {
            let mut handler = |req: scripting::Request| {
                let mv = match req {
                    scripting::Request::Call(argv, raise) => {
                        let (reply, raise) = redis_call(ctx, lua, argv, raise, &run, true)?;
                        if !reply.is_nil() {
                            interp.hooks.raw_set(scripting::REPLY_SLOT, reply)?;
                        }
                        return Ok((Value::Nil, raise));
                    }
                    scripting::Request::Lua(mv) => mv,
                };
                let mut it = mv.into_iter();
                let op = match it.next() {
                    Some(Value::Number(n)) => n as i64,
                    Some(Value::Integer(n)) => n,
                    _ => 0,
                };
                let rest: Vec<Value> = it.collect();
                match op {
                    0 | 1 => match lua_argv(lua, &rest) {
                        Ok(argv) => redis_call(ctx, lua, argv, op == 1, &run, false),
                        Err(e) => Ok((e?, op == 1)),
                    },
                    4 => acl_check(ctx, lua, &rest),
                    2 => {
                        let three = match rest.first() {
                            Some(Value::Number(n)) => *n as i64 == 3,
                            Some(Value::Integer(n)) => *n == 3,
                            _ => false,
                        };
                        run.resp.set(if three { 3 } else { 2 });
                        Ok((Value::Nil, false))
                    }
                    _ => Ok((Value::Nil, false)),
                }
            };
            {
                let (ok, value) = scripting::with_handler(&mut handler, || invoke(interp))?;
                // An error already counted (a redis.call error) is not counted again.
                let counted = match &value {
                    Value::Table(t) => t
                        .raw_get::<Value>("ignore_error_stats_update")
                        .is_ok_and(|v| matches!(v, Value::Boolean(true))),
                    _ => false,
                };
                let reply = if ok {
                    scripting::lua_to_reply(&value, run.resp.get(), caller_resp)
                } else {
                    failure(&value, name)
                };
                Ok((reply, counted))
            }
        })
    }));
    drop(running);
    if debugging {
        interp.install_hook();
    }
    ctx.client.in_script = false;
    ctx.client.resp = caller_resp;
    if ctx.client.db != caller_db {
        ctx.client.select(caller_db);
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    match outcome.map_err(internal)? {
        (Reply::Error(text), false) => Err(CmdError(text)),
        (reply, _) => Ok(reply),
    }
}

/// What a running script may do, for its redis.call checks.
struct Run<'k> {
    /// The keys it declared (KEYS): a tracking client is told of changes to these once the
    /// script reads anything, as Redis's `call` remembers the script caller's keys.
    keys: &'k [Vec<u8>],
    readonly: bool,
    /// Over `maxmemory` when it started and not `allow-oom`.
    oom: bool,
    /// The protocol of its redis.call replies (`redis.setresp`).
    resp: Cell<u8>,
    /// It has run a write command.
    dirty: Cell<bool>,
}

/// A script that raised an error: its message, with the script and line when known
/// (`... script: <sha>, on @user_script:1.`).
fn failure(value: &Value, sha: &str) -> Reply {
    let Value::Table(t) = value else {
        return Reply::Error(
            format!("ERR Error running script {sha}, execution failure")
                .into_bytes()
                .into(),
        );
    };
    let field = |k: &str| -> Option<Vec<u8>> {
        match t.get::<Value>(k).ok()? {
            Value::String(s) => Some(s.as_bytes().to_vec()),
            Value::Number(n) => Some(scripting::format_lua_number(n)),
            Value::Integer(n) => Some(n.to_string().into_bytes()),
            _ => None,
        }
    };
    let mut msg = field("err").unwrap_or_default();
    if let (Some(source), Some(line)) = (field("source"), field("line")) {
        msg.extend_from_slice(format!(" script: {sha}, on ").as_bytes());
        msg.extend_from_slice(&source);
        msg.push(b':');
        msg.extend_from_slice(&line);
        msg.push(b'.');
    }
    Reply::Error(scripting::one_line(&msg).into())
}

/// The arguments of a redis lib call (their count and a table of them) as a command line, or
/// the error table.
fn lua_argv(lua: &mlua::Lua, packed: &[Value]) -> Result<Vec<Vec<u8>>, mlua::Result<Value>> {
    let count = match packed.first() {
        Some(Value::Number(n)) => *n as usize,
        Some(Value::Integer(n)) => *n as usize,
        _ => 0,
    };
    let Some(Value::Table(t)) = packed.get(1) else {
        return Err(error_table(
            lua,
            b"Please specify at least one argument for this redis lib call",
        ));
    };
    if count == 0 {
        return Err(error_table(
            lua,
            b"Please specify at least one argument for this redis lib call",
        ));
    }
    // One value at a time: each held value takes one of mlua's reference slots.
    let mut argv = Vec::with_capacity(count.min(1024));
    for i in 1..=count {
        match t.raw_get::<Value>(i).unwrap_or(Value::Nil) {
            Value::Number(n) => argv.push(scripting::format_number(n)),
            Value::Integer(n) => argv.push(scripting::format_number(n as f64)),
            Value::String(s) => argv.push(s.as_bytes().to_vec()),
            _ => {
                return Err(error_table(
                    lua,
                    b"Lua redis lib command arguments must be strings or integers",
                ))
            }
        }
    }
    Ok(argv)
}

/// redis.call / redis.pcall (Redis's `luaRedisGenericCommand` + `scriptCall`): the reply as
/// a Lua value, and whether to raise it.
fn redis_call(
    ctx: &mut Ctx,
    lua: &mlua::Lua,
    argv: Vec<Vec<u8>>,
    raise: bool,
    run: &Run,
    fast: bool,
) -> mlua::Result<(Value, bool)> {
    let resp = run.resp.get();
    let server = ctx.server;
    // A refusal is counted in the error stats here, and flagged so that it is not counted
    // again as the script's reply.
    if scripting::ldb::take_resumed() {
        ctx.op.refresh();
    }
    let tracing = scripting::ldb::tracing();
    if tracing {
        scripting::ldb::log(command_line(&argv));
    }
    let refuse = |text: &[u8]| -> mlua::Result<(Value, bool)> {
        if tracing {
            let mut line = b"<error> ".to_vec();
            line.extend_from_slice(text);
            scripting::ldb::log(line);
        }
        let mut full = b"ERR ".to_vec();
        full.extend_from_slice(text);
        super::count_error(server, &CmdError(full.into()));
        Ok((error_table(lua, text)?, raise))
    };
    let (code, spec) = match super::resolve(&argv) {
        Ok(found) => found,
        Err(_) if super::lookup_code(&argv).is_some() => {
            return refuse(b"Wrong number of args calling Redis command from script")
        }
        Err(_) => return refuse(b"Unknown Redis command called from script"),
    };
    if spec.flags & flags::NOSCRIPT != 0 && !deny_lifted(server, code, spec) {
        super::count_rejected(server, code);
        return refuse(b"This Redis command is not allowed from script");
    }
    if matches!(spec.name, "xread" | "xreadgroup") && blocks(&argv) {
        // The command's own refusal (Redis's xreadCommand for a script client).
        let mut text = b"-ERR ".to_vec();
        text.extend_from_slice(&argv[0]);
        text.extend_from_slice(b" command is not allowed with BLOCK option from scripts\r\n");
        return Ok((scripting::resp_to_lua(lua, &text)?, raise));
    }
    if let Err((reason, pos)) = super::acl::check(ctx, code, spec, &argv) {
        let object = match reason {
            crate::acl::Denied::Command => super::acl_commands()[super::acl_id(code)]
                .name
                .clone()
                .into_bytes(),
            _ => argv.get(pos).cloned().unwrap_or_default(),
        };
        super::acl::log_denied(ctx, reason, crate::acl::Context::Lua, object, None);
        let why: &[u8] = match reason {
            crate::acl::Denied::Command => {
                b"The user executing the script can't run this command or subcommand"
            }
            crate::acl::Denied::Key => {
                b"The user executing the script no permissions to access one of the keys used as arguments"
            }
            _ => b"The user executing the script no permissions to access one of the channels used as arguments",
        };
        super::count_rejected(server, code);
        return refuse(why);
    }
    if run.readonly && spec.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
        super::count_rejected(server, code);
        return refuse(b"Write commands are not allowed from read-only scripts.");
    }
    if run.oom && !run.dirty.get() && spec.flags & flags::DENYOOM != 0 {
        let text = b"OOM command not allowed when used memory > 'maxmemory'.";
        super::count_error(server, &CmdError(text.to_vec().into()));
        super::count_rejected(server, code);
        let mut wire = b"-".to_vec();
        wire.extend_from_slice(text);
        wire.extend_from_slice(b"\r\n");
        return Ok((scripting::resp_to_lua(lua, &wire)?, raise));
    }
    let refusal = if spec.flags & flags::WRITE == 0 {
        None
    } else if server.snapshots.refuses_writes(&server.config) {
        Some(super::MISCONF)
    } else if !run.dirty.get() && server.config.too_few_replicas() {
        Some(super::NOREPLICAS)
    } else {
        None
    };
    if let Some(refused) = refusal {
        let text = refused.0.clone();
        super::count_error(server, &refused);
        super::count_rejected(server, code);
        let mut wire = b"-".to_vec();
        wire.extend_from_slice(&text);
        wire.extend_from_slice(b"\r\n");
        return Ok((scripting::resp_to_lua(lua, &wire)?, raise));
    }
    if spec.flags & flags::WRITE != 0 {
        run.dirty.set(true);
        // From now on SCRIPT KILL refuses: the data would be left half-changed.
        server.script_busy.wrote();
    }
    if ctx.client.tracking && spec.flags & (flags::READONLY | flags::PUBSUB) == flags::READONLY {
        let keys = run.keys.iter().map(Vec::as_slice).collect();
        ctx.server
            .tracking
            .before_command(&ctx.client.info, Some(keys));
    }
    let mut out = scripting::buffer();
    let keep = ctx.client.resp;
    ctx.client.resp = resp;
    let reply = execute_resolved(ctx, Ok((code, spec)), &argv, &mut out);
    scripting::recycle_argv(argv);
    encode(&reply, resp, &mut out);
    ctx.client.resp = keep;
    if tracing {
        if out.first() == Some(&b'-') {
            let mut line = b"<error> ".to_vec();
            line.extend_from_slice(out.strip_suffix(b"\r\n").unwrap_or(&out));
            scripting::ldb::log(line);
        }
        scripting::ldb::log_reply(&out);
    }
    let raise = raise && out.first() == Some(&b'-');
    if fast {
        // `fast_call` makes it a Lua value itself, straight onto the stack.
        scripting::reply_resp(out);
        return Ok((Value::Nil, raise));
    }
    Ok((scripting::resp_to_lua(lua, &out)?, raise))
}

/// The debugger's record of a command a script calls: `<redis>` and its first ten
/// arguments.
fn command_line(argv: &[Vec<u8>]) -> Vec<u8> {
    let mut line = b"<redis>".to_vec();
    for (j, arg) in argv.iter().enumerate() {
        if j == 10 {
            line.extend_from_slice(format!(" ... ({} more)", argv.len() - j - 1).as_bytes());
            break;
        }
        line.push(b' ');
        line.extend_from_slice(arg);
    }
    line
}

/// Does this XREAD / XREADGROUP ask to block (a BLOCK option before STREAMS)?
fn blocks(argv: &[Vec<u8>]) -> bool {
    argv.iter()
        .skip(1)
        .take_while(|a| !a.eq_ignore_ascii_case(b"streams"))
        .any(|a| a.eq_ignore_ascii_case(b"block"))
}

/// redis.acl_check_cmd: may the caller's user run this command?
fn acl_check(ctx: &mut Ctx, lua: &mlua::Lua, values: &[Value]) -> mlua::Result<(Value, bool)> {
    let argv = match lua_argv(lua, values) {
        Ok(argv) => argv,
        Err(e) => return Ok((e?, true)),
    };
    let Some((code, spec)) = super::lookup_code(&argv) else {
        return Ok((
            error_table(lua, b"Invalid command passed to redis.acl_check_cmd()")?,
            true,
        ));
    };
    let allowed = super::acl::check(ctx, code, spec, &argv).is_ok();
    Ok((Value::Boolean(allowed), false))
}

/// SCRIPT LOAD script
pub fn script_load(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut interp = ctx.server.scripts.lock();
    match ctx.server.scripts.create(&mut interp, args.get(2)) {
        Ok(sha) => Ok(Reply::bulk(sha)),
        Err(reply) => Ok(reply),
    }
}

/// SCRIPT EXISTS sha1 [sha1 ...]
pub fn script_exists(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let interp = ctx.server.scripts.lock();
    Ok(Reply::Array(
        args.from(2)
            .iter()
            .map(|sha| {
                let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                Reply::Int(i64::from(interp.scripts.contains_key(&sha)))
            })
            .collect(),
    ))
}

/// SCRIPT FLUSH [ASYNC|SYNC]
pub fn script_flush(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() == 3
        && !args.get(2).eq_ignore_ascii_case(b"sync")
        && !args.get(2).eq_ignore_ascii_case(b"async")
        || args.len() > 3
    {
        return Err(err("ERR SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    ctx.server.scripts.flush();
    Ok(Reply::ok())
}

/// SCRIPT KILL: no script ever runs long enough to be killed yet (no busy scripts).
pub fn script_kill(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    match ctx.server.script_busy.kill(true) {
        Ok(()) => Ok(Reply::ok()),
        Err(e) => Err(err(e)),
    }
}

/// SCRIPT HELP
pub fn script_help(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    ))
}

/// May this `noscript` command run from a script, DEBUG SET-DISABLE-DENY-SCRIPTS being on?
/// Not those that would run a script inside the script, take the locks the script holds
/// (those refused inside MULTI, SHUTDOWN), or change the calling connection's own state
/// (a transaction, subscriptions, MONITOR, the protocol, the user): Redis's script client is
/// a fake one, here the script runs on the caller's.
fn deny_lifted(server: &crate::state::Shared, code: u32, spec: &CommandSpec) -> bool {
    const STILL_REFUSED: &[&str] = &[
        "eval",
        "evalsha",
        "eval_ro",
        "evalsha_ro",
        "fcall",
        "fcall_ro",
        "script",
        "function",
        "subscribe",
        "unsubscribe",
        "psubscribe",
        "punsubscribe",
        "ssubscribe",
        "sunsubscribe",
        "monitor",
        "quit",
        "reset",
        "hello",
        "auth",
        "shutdown",
        "multi",
        "exec",
        "discard",
        "watch",
        "unwatch",
    ];
    let command = super::TABLE
        .get((code >> 16) as usize)
        .map_or(spec.name, |c| c.name);
    server
        .disable_deny_scripts
        .load(std::sync::atomic::Ordering::Relaxed)
        && spec.flags & flags::NO_MULTI == 0
        && !STILL_REFUSED.contains(&command)
}
