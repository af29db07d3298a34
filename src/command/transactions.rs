//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH (Redis's `multi.c`).
//!
//! Between MULTI and EXEC, dispatch queues commands instead of running them ([`queue`]); a
//! command refused while queueing (unknown, wrong arity, `no-multi`, over `maxmemory`) makes
//! EXEC answer EXECABORT.
//!
//! **EXEC is atomic under the thread-per-connection design.** Before the first queued command
//! runs, EXEC takes the write lock of every database the transaction may touch, in index
//! order (the store's one lock order), and holds them all until the last reply is built:
//! the client's database and those of its WATCHed keys, or every database if a queued
//! command may reach beyond its own (SELECT, MOVE, SWAPDB, FLUSHALL, INFO ...). No other
//! client can see the transaction half done, and the WATCH check happens under the same
//! locks. Pushes inside the transaction serve blocked clients when the locks are released,
//! at the end of EXEC.

use std::sync::atomic::Ordering;

use super::access::Held;
use super::args::{err, Args, CmdError, CmdResult};
use super::{execute_resolved, CommandSpec, Ctx, Handler};
use crate::protocol::{encode, Reply};
use crate::state::{ClientState, Multi, Shared};
use crate::store::Db;

const EXECABORT: CmdError = err("EXECABORT Transaction discarded because of previous errors.");

/// Extra bytes counted per queued argument (its vector), so that a flood of empty arguments
/// is bounded too.
const ARG_OVERHEAD: usize = 24;

/// MULTI
pub fn multi(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(err("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Multi::default());
    ctx.client.info.multi.store(0, Ordering::Relaxed);
    Ok(Reply::ok())
}

/// Queues `argv` for EXEC (already resolved to `spec`): `+QUEUED`. A queue that outgrows
/// `client-query-buffer-limit` closes the connection, as an oversized query buffer does.
pub fn queue(ctx: &mut Ctx, code: u32, spec: &'static CommandSpec, argv: &[Vec<u8>]) -> Reply {
    let limit = ctx.server.config.client_query_buffer_limit();
    let dirty = ctx.client.info.watch_flag.is_dirty();
    let Some(m) = ctx.client.multi.as_mut() else {
        return Reply::none();
    };
    // A transaction that has already failed keeps nothing more (Redis's queueMultiCommand).
    if m.aborted || dirty {
        return Reply::simple("QUEUED");
    }
    m.bytes += argv.iter().map(|a| a.len() + ARG_OVERHEAD).sum::<usize>();
    if m.bytes > limit {
        log::warn!(
            "closing client {} whose MULTI queue reached the query buffer limit",
            ctx.client.id
        );
        ctx.client.close_after_reply = true;
        return Reply::none();
    }
    m.denyoom |= spec.flags & super::flags::DENYOOM != 0;
    m.writes |= spec.flags & super::flags::WRITE != 0;
    m.may_write |= spec.flags & (super::flags::WRITE | super::flags::MAY_REPLICATE) != 0;
    m.reaches_beyond |= reaches_beyond(spec);
    let argv = Multi::copy_args(&mut ctx.client.spare_argvs, argv);
    m.queue.push((code, argv));
    ctx.client
        .info
        .multi
        .store(m.queue.len() as i64, Ordering::Relaxed);
    Reply::simple("QUEUED")
}

/// A command was refused while queueing (Redis's `flagTransaction`).
pub fn flag(client: &mut ClientState) {
    if let Some(m) = client.multi.as_mut() {
        m.aborted = true;
    }
}

/// Ends the transaction being queued, if any, and forgets every WATCHed key.
pub fn discard_transaction(server: &Shared, client: &mut ClientState) {
    if let Some(m) = client.multi.take() {
        m.recycle(&mut client.spare_argvs);
    }
    client.info.multi.store(-1, Ordering::Relaxed);
    unwatch_all(server, client, None);
}

/// DISCARD
pub fn discard(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err(err("ERR DISCARD without MULTI"));
    }
    discard_transaction(ctx.server, ctx.client);
    Ok(Reply::ok())
}

/// EXEC: aborts a transaction refused while queueing (an error, EXECABORT) or one whose
/// WATCHed keys changed (a null array); otherwise runs every queued command under the write
/// locks of every database it may touch, and answers an array of their replies.
pub fn exec(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let Some(multi) = ctx.client.multi.take() else {
        return Err(err("ERR EXEC without MULTI"));
    };
    if multi.aborted {
        discard_transaction(ctx.server, ctx.client);
        return Err(EXECABORT);
    }
    let store = &ctx.server.store;
    let (everything, here, watching) = (multi.reaches_beyond, ctx.client.db, &ctx.client.watching);
    let mut guards =
        store.hold(|i| everything || i == here || watching.iter().any(|(db, _)| *db == i));
    let aof = std::sync::Arc::clone(&ctx.server.aof);
    // The transaction's records go to the append-only file together, as MULTI ... EXEC,
    // before its locks are released.
    let batch = aof.batch();
    let out = run_held(
        ctx,
        &multi,
        guards.iter_mut().map(|g| g.as_deref_mut()).collect(),
    );
    drop(batch);
    // Releasing the locks serves clients blocked on keys the transaction pushed to.
    drop(guards);
    multi.recycle(&mut ctx.client.spare_argvs);
    ctx.client.info.multi.store(-1, Ordering::Relaxed);
    match out {
        Some(out) => Ok(Reply::Raw(out.into())),
        None => Ok(Reply::NilArray),
    }
}

/// Under the held locks: the WATCH verdict, then every queued command. `None` if a WATCHed
/// key changed.
fn run_held(ctx: &mut Ctx, multi: &Multi, held: Held) -> Option<Vec<u8>> {
    // Shortened to this call (a held lock outlives it), as `Ctx` needs.
    let mut held: Held<'_> = held;
    let (server, op) = (ctx.server, ctx.op);
    let flag = std::sync::Arc::clone(&ctx.client.info.watch_flag);
    let expired = ctx.client.watching.iter().any(|(i, key)| {
        held[*i]
            .as_deref()
            .is_some_and(|ks| Db::new(ks, op).watched_key_expired(key, &flag))
    });
    let dirty = flag.is_dirty() || expired;
    unwatch_all(server, ctx.client, Some(&mut held));
    if dirty {
        return None;
    }
    // Sized for short replies, so that the usual transaction never grows it.
    let mut out = Vec::with_capacity(16 + 32 * multi.queue.len());
    crate::protocol::reply::header(&mut out, b'*', multi.queue.len() as i64);
    let mut inner = Ctx {
        server,
        client: &mut *ctx.client,
        op,
        held: Some(&mut held),
    };
    for (code, argv) in &multi.queue {
        let resolved = match super::spec_of(*code) {
            Some(spec) => Ok((*code, spec)),
            None => super::resolve(argv),
        };
        // Permissions are checked again: the rules may have changed since it was queued.
        if let Ok((code, spec)) = resolved {
            if let Err(e) = super::acl::recheck_queued(&inner, code, spec, argv) {
                super::count_error(server, &e);
                encode(&e.into(), inner.client.resp, &mut out);
                continue;
            }
        }
        let reply = execute_resolved(&mut inner, resolved, argv, &mut out);
        encode(&reply, inner.client.resp, &mut out);
    }
    Some(out)
}

/// May this queued command touch a database other than the client's current one? Commands
/// whose handler works on the client's database alone (every `Read`/`Write`/`Blocking` one)
/// do not; of the rest, only those known not to touch the keyspace are let through.
fn reaches_beyond(spec: &'static CommandSpec) -> bool {
    const KEYSPACE_FREE: &[&str] = &[
        "ping", "echo", "time", "lastsave", "client", "command", "unwatch", "hello", "auth",
    ];
    match spec.handler {
        Handler::Client(_) => {
            // A subcommand is judged by its parent's name (CLIENT LIST, COMMAND INFO).
            let name = super::TABLE
                .iter()
                .find(|p| p.subcommands.iter().any(|s| std::ptr::eq(s, spec)))
                .map_or(spec.name, |p| p.name);
            !KEYSPACE_FREE.contains(&name)
        }
        _ => false,
    }
}

/// WATCH key [key ...]
pub fn watch(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(err("ERR WATCH inside MULTI is not allowed"));
    }
    let flag = std::sync::Arc::clone(&ctx.client.info.watch_flag);
    // No point in watching more once a change has been seen.
    if flag.is_dirty() {
        return Ok(Reply::ok());
    }
    let here = ctx.client.db;
    for key in args.from(1) {
        if ctx
            .client
            .watching
            .iter()
            .any(|(db, k)| *db == here && **k == key[..])
        {
            continue;
        }
        ctx.write_db(here, |db| db.watch(key, &flag));
        ctx.client.watching.push((here, Box::from(&key[..])));
    }
    Ok(Reply::ok())
}

/// UNWATCH
pub fn unwatch(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let held = ctx.held.as_deref_mut();
    unwatch_all(ctx.server, ctx.client, held);
    Ok(Reply::ok())
}

/// Forgets every key the client watches and clears its verdict; through `held` locks when
/// inside EXEC.
pub fn unwatch_all(server: &Shared, client: &mut ClientState, mut held: Option<&mut Held>) {
    let flag = &client.info.watch_flag;
    let mut keys = std::mem::take(&mut client.watching);
    keys.sort_unstable_by_key(|(db, _)| *db);
    for group in keys.chunk_by(|a, b| a.0 == b.0) {
        let db = group[0].0;
        let remove = |ks: &mut crate::store::Keyspace| {
            for (_, key) in group {
                ks.unwatch(key, flag);
            }
        };
        match held.as_deref_mut() {
            Some(h) => match h.get_mut(db).and_then(Option::as_deref_mut) {
                Some(ks) => remove(ks),
                None => remove(&mut server.store.write(db)),
            },
            None => remove(&mut server.store.write(db)),
        }
    }
    flag.clear();
}
