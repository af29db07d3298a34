//! Server commands: DBSIZE, FLUSHALL, SHUTDOWN, COMMAND, INFO, CONFIG, ...

use super::args::{Args, CmdResult, SYNTAX};
use super::{Ctx, TABLE};
use crate::protocol::Reply;
use crate::store::Db;

/// DBSIZE
pub fn dbsize(db: &Db, _args: &Args) -> CmdResult {
    Ok(Reply::Int(db.len() as i64))
}

/// FLUSHALL [ASYNC|SYNC]
pub fn flushall(ctx: &mut Ctx, args: &Args) -> CmdResult {
    flush_mode(args)?;
    for db in ctx.server.store.dbs() {
        db.write().clear();
    }
    Ok(Reply::ok())
}

/// Checks the optional ASYNC|SYNC of FLUSHALL/FLUSHDB (both free at once here).
pub fn flush_mode(args: &Args) -> Result<(), super::CmdError> {
    match args.len() {
        1 => Ok(()),
        2 if args.is(1, "ASYNC") || args.is(1, "SYNC") => Ok(()),
        _ => Err(SYNTAX),
    }
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: the server stops; the caller gets no reply.
pub fn shutdown(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (mut save, mut nosave, mut abort) = (false, false, false);
    for i in 1..args.len() {
        if args.is(i, "NOSAVE") {
            nosave = true;
        } else if args.is(i, "SAVE") {
            save = true;
        } else if args.is(i, "ABORT") {
            abort = true;
        } else if !(args.is(i, "NOW") || args.is(i, "FORCE")) {
            return Err(SYNTAX);
        }
    }
    if (save && nosave) || (abort && args.len() > 2) {
        return Err(SYNTAX);
    }
    if abort {
        return Err(super::args::err("ERR No shutdown in progress."));
    }
    log::warn!("User requested shutdown...");
    ctx.server.shutdown.trigger();
    ctx.client.close_after_reply = true;
    Ok(crate::client::no_reply())
}

/// COMMAND COUNT
pub fn command_count(_ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::Int(TABLE.len() as i64))
}
