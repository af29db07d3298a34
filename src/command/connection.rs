//! Connection commands: PING, ECHO, QUIT, ...

use super::args::{Args, CmdResult};
use super::Ctx;
use crate::protocol::Reply;

/// PING [message]
pub fn ping(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 2 {
        return Err(super::arity_error(&args.text(0)));
    }
    Ok(if args.len() == 2 {
        Reply::bulk(args.get(1))
    } else {
        Reply::simple("PONG")
    })
}

/// ECHO message
pub fn echo(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    Ok(Reply::bulk(args.get(1)))
}

/// QUIT: replies +OK, then the connection closes.
pub fn quit(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.client.close_after_reply = true;
    Ok(Reply::ok())
}
