//! Connection commands: PING, ECHO, QUIT, SELECT, HELLO, AUTH, CLIENT, RESET.

use std::sync::atomic::Ordering;

use super::args::{err, Args, CmdError, CmdResult, DB_INDEX, SYNTAX};
use super::Ctx;
use crate::protocol::Reply;
use crate::state::ClientInfo;
use crate::store::ready::State as WaitState;

/// PING [message]
pub fn ping(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 2 {
        return Err(super::arity_error(args.get(0), "ping"));
    }
    // A subscribed RESP2 client gets a pong message: its replies and messages look alike.
    if ctx.client.resp == 2 && ctx.client.info.is_subscribed() {
        let message = if args.len() == 2 { args.get(1) } else { b"" };
        return Ok(Reply::Array(vec![
            Reply::bulk("pong"),
            Reply::bulk(message),
        ]));
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

/// SELECT index
pub fn select(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = args.int32(1)?;
    let db = usize::try_from(n)
        .ok()
        .filter(|&n| n < ctx.server.store.len())
        .ok_or(DB_INDEX)?;
    ctx.client.select(db);
    Ok(Reply::ok())
}

const WRONGPASS: CmdError = err("WRONGPASS invalid username-password pair or user is disabled.");

/// Checks credentials and, if they hold, makes the client run as that user; a failure is
/// written to the ACL LOG (Redis's `ACLAuthenticateUser`), with the command as sent.
fn authenticate(ctx: &mut Ctx, user: &[u8], password: &[u8], sent: &[u8]) -> Result<(), CmdError> {
    if let Some(cell) = ctx.server.acl.authenticate(user, password) {
        let previous = (
            std::sync::Arc::clone(&ctx.client.user),
            ctx.client.authenticated,
        );
        ctx.client.set_user(std::sync::Arc::clone(&cell), true);
        // ACL DELUSER may have removed the user between the check and now, after closing
        // its clients: this one must not stay in as a user that no longer exists.
        if !cell.deleted.load(Ordering::Acquire) {
            return Ok(());
        }
        ctx.client.set_user(previous.0, previous.1);
    }
    let context = if ctx.client.multi.is_some() || ctx.held.is_some() {
        crate::acl::Context::Multi
    } else {
        crate::acl::Context::Toplevel
    };
    super::acl::log_denied(
        ctx,
        crate::acl::Denied::Auth,
        context,
        sent.to_vec(),
        Some(user.to_vec()),
    );
    Err(WRONGPASS)
}

/// AUTH [username] password
pub fn auth(ctx: &mut Ctx, args: &Args) -> CmdResult {
    match args.len() {
        2 => {
            if ctx.server.acl.default_user().nopass() {
                return Err(err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
            }
            authenticate(ctx, b"default", args.get(1), args.get(0)).map(|()| Reply::ok())
        }
        3 => authenticate(ctx, args.get(1), args.get(2), args.get(0)).map(|()| Reply::ok()),
        _ => Err(SYNTAX),
    }
}

/// HELLO protover [AUTH username password] [SETNAME clientname]
///
/// A bare `HELLO` (no version) answers as an unknown command: the lab's transcript, which wins
/// over Redis here.
pub fn hello(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() == 1 {
        return Err(CmdError::msg(format!(
            "ERR unknown command '{}'",
            args.text(0)
        )));
    }
    let ver = crate::protocol::parse_i64(args.get(1)).ok_or(err(
        "ERR Protocol version is not an integer or out of range",
    ))?;
    if !(2..=3).contains(&ver) {
        return Err(err("NOPROTO unsupported protocol version"));
    }
    // Like Redis 7.0, each option takes effect as it is read: a later syntax error does not
    // undo an earlier SETNAME.
    let mut j = 2;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if args.is(j, "AUTH") && more >= 2 {
            authenticate(ctx, args.get(j + 1), args.get(j + 2), args.get(0))?;
            j += 2;
        } else if args.is(j, "SETNAME") && more >= 1 {
            set_name(&ctx.client.info, args.get(j + 1))?;
            j += 1;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                args.text(j)
            )));
        }
        j += 1;
    }
    if !ctx.client.authenticated {
        return Err(err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    ctx.client.resp = ver as u8;
    ctx.client.info.resp.store(ver as u8, Ordering::Relaxed);
    let s = |v: &str| Reply::bulk(v);
    Ok(Reply::Map(vec![
        (s("server"), s("redis")),
        (s("version"), s(crate::REDIS_VERSION)),
        (s("proto"), Reply::Int(ver)),
        (s("id"), Reply::Int(ctx.client.id as i64)),
        (s("mode"), s("standalone")),
        (s("role"), s("master")),
        (s("modules"), Reply::Array(vec![])),
    ]))
}

/// Redis's `clientSetNameOrReply`: printable ASCII without spaces; empty clears.
fn set_name(info: &ClientInfo, name: &[u8]) -> Result<(), CmdError> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    *info.name.lock() = name.to_vec();
    Ok(())
}

/// CLIENT HELP
pub fn client_help(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    ))
}

/// CLIENT ID
pub fn client_id(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::Int(ctx.client.id as i64))
}

/// CLIENT SETNAME name
pub fn client_setname(ctx: &mut Ctx, args: &Args) -> CmdResult {
    set_name(&ctx.client.info, args.get(2))?;
    Ok(Reply::ok())
}

/// CLIENT GETNAME
pub fn client_getname(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let name = ctx.client.info.name.lock();
    Ok(if name.is_empty() {
        Reply::Nil
    } else {
        Reply::Bulk(name.clone())
    })
}

/// CLIENT SETINFO LIB-NAME name | LIB-VER version
pub fn client_setinfo(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let value = args.get(3);
    let slot = if args.is(2, "LIB-NAME") {
        &ctx.client.info.lib_name
    } else if args.is(2, "LIB-VER") {
        &ctx.client.info.lib_ver
    } else {
        return Err(CmdError::msg(format!(
            "ERR Unrecognized option '{}'",
            args.text(2)
        )));
    };
    if value.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::msg(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            args.text(2).to_ascii_uppercase()
        )));
    }
    *slot.lock() = value.to_vec();
    Ok(Reply::ok())
}

/// CLIENT NO-EVICT ON|OFF
pub fn client_no_evict(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let on = if args.is(2, "ON") {
        true
    } else if args.is(2, "OFF") {
        false
    } else {
        return Err(SYNTAX);
    };
    ctx.client.info.no_evict.store(on, Ordering::Relaxed);
    Ok(Reply::ok())
}

/// One CLIENT LIST / CLIENT INFO line, in Redis 7.0's field order.
pub fn client_line(c: &ClientInfo, now_ms: i64) -> String {
    let lossy = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let age = (now_ms - c.created_ms).max(0) / 1000;
    let idle = (now_ms - c.last_active_ms.load(Ordering::Relaxed)).max(0) / 1000;
    let blocked = c.blocked.lock().as_ref().is_some_and(|w| w.is_waiting());
    let multi = c.multi.load(Ordering::Relaxed);
    let subs: Vec<usize> = c.subs.iter().map(|n| n.load(Ordering::Relaxed)).collect();
    let (tracking_on, broken_redirect, bcast, redir) = {
        let t = c.tracking.lock();
        let redir = if t.on { t.redirect as i64 } else { -1 };
        (t.on, t.broken_redirect, t.bcast, redir)
    };
    // Redis's order of the letters.
    let mut flags = String::new();
    for (on, letter) in [
        (c.monitor.load(Ordering::Relaxed), 'O'),
        (c.is_subscribed(), 'P'),
        (multi >= 0, 'x'),
        (blocked, 'b'),
        (tracking_on, 't'),
        (broken_redirect, 'R'),
        (bcast, 'B'),
        (c.watch_flag.is_dirty(), 'd'),
        (c.no_evict.load(Ordering::Relaxed), 'e'),
        (c.unix.is_some(), 'U'),
    ] {
        if on {
            flags.push(letter);
        }
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let cmd = super::name_of(c.last_cmd.load(Ordering::Relaxed));
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}\n",
        c.id,
        c.addr_text(),
        c.laddr_text(),
        c.fd,
        lossy(&c.name.lock()),
        age,
        idle,
        flags,
        c.db.load(Ordering::Relaxed),
        subs[0],
        subs[1],
        subs[2],
        multi,
        c.qbuf.load(Ordering::Relaxed),
        c.qbuf_free.load(Ordering::Relaxed),
        c.argv_mem.load(Ordering::Relaxed),
        c.outbox.pending(),
        // Roughly what Redis counts: buffers and the pending output.
        c.qbuf.load(Ordering::Relaxed)
            + c.qbuf_free.load(Ordering::Relaxed)
            + c.argv_mem.load(Ordering::Relaxed)
            + c.outbox.pending(),
        cmd,
        c.user.lock().name_lossy(),
        redir,
        c.resp.load(Ordering::Relaxed),
        lossy(&c.lib_name.lock()),
        lossy(&c.lib_ver.lock()),
    )
}

/// CLIENT LIST [TYPE normal|master|replica|pubsub | ID id [id ...]]: one form or the other,
/// as Redis parses it; with IDs, the clients in argument order (unknown IDs skipped).
pub fn client_list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.op.now_ms();
    // A client killed (CLIENT KILL, ACL changes) is gone, as in Redis, though its thread may
    // not have finished leaving yet. The caller itself is listed even if closing after this.
    let mut clients = ctx.server.clients.list();
    clients.retain(|c| c.id == ctx.client.id || !c.killed.load(Ordering::SeqCst));
    let text: String = if args.len() == 4 && args.is(2, "TYPE") {
        let t = args.text(3).to_ascii_lowercase();
        if !CLIENT_TYPES.contains(&t.as_str()) {
            return Err(CmdError::msg(format!(
                "ERR Unknown client type '{}'",
                args.text(3)
            )));
        }
        if t == "normal" {
            clients.iter().map(|c| client_line(c, now)).collect()
        } else {
            String::new()
        }
    } else if args.len() > 3 && args.is(2, "ID") {
        let mut text = String::new();
        for i in 3..args.len() {
            let id = args.int(i).map_err(|_| err("ERR Invalid client ID"))?;
            // The list is sorted by id.
            if let Ok(at) = clients.binary_search_by_key(&id, |c| c.id as i64) {
                text.push_str(&client_line(&clients[at], now));
            }
        }
        text
    } else if args.len() == 2 {
        clients.iter().map(|c| client_line(c, now)).collect()
    } else {
        return Err(SYNTAX);
    };
    Ok(Reply::Verbatim("txt", text.into_bytes()))
}

/// Client types CLIENT LIST and CLIENT KILL accept (Redis's `getClientTypeByName`).
const CLIENT_TYPES: [&str; 5] = ["normal", "master", "replica", "slave", "pubsub"];

/// CLIENT INFO
pub fn client_info(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let line = client_line(&ctx.client.info, ctx.op.now_ms());
    Ok(Reply::Verbatim("txt", line.into_bytes()))
}

/// CLIENT KILL ip:port | CLIENT KILL [ID id] [ADDR ip:port] [LADDR ip:port] [TYPE t] [USER u] [SKIPME yes|no]
pub fn client_kill(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let clients = ctx.server.clients.list();
    if args.len() == 3 {
        let addr = args.text(2);
        let target = clients.iter().find(|c| c.addr_text() == addr);
        let Some(c) = target else {
            return Err(err("ERR No such client"));
        };
        kill(ctx, c);
        return Ok(Reply::ok());
    }
    if !args.len().is_multiple_of(2) {
        return Err(SYNTAX);
    }
    let (mut id, mut addr, mut laddr, mut skipme, mut user, mut ctype) =
        (None, None, None, true, None, None);
    for pair in (2..args.len()).step_by(2) {
        let v = args.text(pair + 1).into_owned();
        if args.is(pair, "ID") {
            id = Some(
                args.int(pair + 1)
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(err("ERR client-id should be greater than 0"))? as u64,
            );
        } else if args.is(pair, "ADDR") {
            addr = Some(v);
        } else if args.is(pair, "LADDR") {
            laddr = Some(v);
        } else if args.is(pair, "USER") {
            user = Some(v);
        } else if args.is(pair, "TYPE") {
            let t = v.to_ascii_lowercase();
            if !CLIENT_TYPES.contains(&t.as_str()) {
                return Err(CmdError::msg(format!("ERR Unknown client type '{v}'")));
            }
            ctype = Some(t);
        } else if args.is(pair, "SKIPME") {
            skipme = match v.to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                _ => return Err(SYNTAX),
            };
        } else {
            return Err(SYNTAX);
        }
    }
    if let Some(u) = &user {
        if ctx.server.acl.get(u.as_bytes()).is_none() {
            return Err(CmdError::msg(format!("ERR No such user '{u}'")));
        }
    }
    let mut killed = 0;
    for c in &clients {
        let matched = id.is_none_or(|id| c.id == id)
            && addr.as_ref().is_none_or(|a| c.addr_text() == *a)
            && laddr.as_ref().is_none_or(|a| c.laddr_text() == *a)
            && ctype.as_ref().is_none_or(|t| t == "normal")
            && user
                .as_ref()
                .is_none_or(|u| c.user.lock().name == u.as_bytes())
            && !(skipme && c.id == ctx.client.id);
        if matched {
            kill(ctx, c);
            killed += 1;
        }
    }
    Ok(Reply::Int(killed))
}

pub fn kill(ctx: &mut Ctx, c: &ClientInfo) {
    if c.id == ctx.client.id {
        // Redis replies to the caller first, then closes it.
        ctx.client.close_after_reply = true;
    } else if ctx.held.is_some() {
        // Inside EXEC the victim may be waiting for a lock this transaction holds: waiting
        // for it here would never end. Its wait is cancelled (nothing the transaction pushes
        // is served to it), it is closed, and runs nothing it has not started.
        if let Some(w) = c.blocked.lock().clone() {
            w.finish(crate::store::ready::State::Cancelled);
        }
        c.close();
    } else {
        c.kill_and_wait(&ctx.client.info);
    }
}

/// CLIENT UNBLOCK client-id [TIMEOUT|ERROR]: ends another client's blocking wait, as if it
/// timed out (the default) or with an error. 1 if it was blocked, else 0.
pub fn client_unblock(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 4 {
        return Err(super::subcommand_syntax_error(args));
    }
    let error = if args.len() == 4 {
        if args.is(3, "TIMEOUT") {
            false
        } else if args.is(3, "ERROR") {
            true
        } else {
            return Err(err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"));
        }
    } else {
        false
    };
    let id = args.int(2)?;
    let target = ctx
        .server
        .clients
        .list()
        .into_iter()
        .find(|c| c.id as i64 == id);
    let waiter = target.and_then(|c| c.blocked.lock().clone());
    let done = waiter.is_some_and(|w| {
        w.finish(if error {
            WaitState::Unblocked
        } else {
            WaitState::TimedOut
        })
    });
    Ok(Reply::Int(i64::from(done)))
}

/// CLIENT REPLY ON|OFF|SKIP
pub fn client_reply(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let c = &mut *ctx.client;
    if args.is(2, "ON") {
        c.reply_off = false;
        c.reply_skip = false;
        Ok(Reply::ok())
    } else if args.is(2, "OFF") {
        c.reply_off = true;
        Ok(Reply::none())
    } else if args.is(2, "SKIP") {
        if !c.reply_off {
            c.reply_skip_next = true;
        }
        Ok(Reply::none())
    } else {
        Err(super::args::SYNTAX)
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL]
pub fn client_pause(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 4 {
        return Err(super::subcommand_syntax_error(args));
    }
    let all = if args.len() == 4 {
        if args.is(3, "WRITE") {
            false
        } else if args.is(3, "ALL") {
            true
        } else {
            return Err(err("ERR CLIENT PAUSE mode must be WRITE or ALL"));
        }
    } else {
        true
    };
    let ms = crate::protocol::parse_i64(args.get(2))
        .ok_or(err("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(err("ERR timeout is negative"));
    }
    // As Redis adds them: an end past the clock's range wraps into the past (no pause).
    let end = if ms > 0 {
        ms.wrapping_add(ctx.op.now_ms())
    } else {
        0
    };
    ctx.server.pause.pause(end, all);
    Ok(Reply::ok())
}

/// CLIENT UNPAUSE
pub fn client_unpause(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.server.pause.unpause();
    Ok(Reply::ok())
}

/// RESET: back to a fresh connection's state.
pub fn reset(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    super::transactions::discard_transaction(ctx.server, ctx.client);
    super::pubsub::forget_all(ctx.server, ctx.client);
    ctx.server.monitors.remove(ctx.client.id);
    ctx.client.info.monitor.store(false, Ordering::Relaxed);
    ctx.client.reply_off = false;
    ctx.client.reply_skip = false;
    ctx.client.reply_skip_next = false;
    ctx.client.select(0);
    ctx.client.resp = 2;
    ctx.client.info.resp.store(2, Ordering::Relaxed);
    ctx.client.info.name.lock().clear();
    ctx.client.info.no_evict.store(false, Ordering::Relaxed);
    ctx.server.tracking.disable(&ctx.client.info);
    ctx.client.tracking = false;
    // Back to the default user, authenticated only if it needs no password.
    let user = ctx.server.acl.default_user();
    let authenticated = !user.needs_password();
    ctx.client.set_user(user, authenticated);
    Ok(Reply::simple("RESET"))
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
/// (Redis's checks, in its order).
pub fn client_tracking(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut opts = crate::tracking::Options::default();
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if args.is(i, "REDIRECT") && more {
            i += 1;
            if opts.redirect != 0 {
                return Err(err(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = args.int(i)?;
            if id <= 0 || ctx.server.clients.get(id as u64).is_none() {
                return Err(err("ERR The client ID you want redirect to does not exist"));
            }
            opts.redirect = id as u64;
        } else if args.is(i, "BCAST") {
            opts.bcast = true;
        } else if args.is(i, "OPTIN") {
            opts.optin = true;
        } else if args.is(i, "OPTOUT") {
            opts.optout = true;
        } else if args.is(i, "NOLOOP") {
            opts.noloop = true;
        } else if args.is(i, "PREFIX") && more {
            i += 1;
            opts.prefixes.push(args.get(i).to_vec());
        } else {
            return Err(super::args::SYNTAX);
        }
        i += 1;
    }
    let tracking = &ctx.server.tracking;
    if args.is(2, "ON") {
        if !opts.bcast && !opts.prefixes.is_empty() {
            return Err(err("ERR PREFIX option requires BCAST mode to be enabled"));
        }
        {
            let t = ctx.client.info.tracking.lock();
            if t.on && t.bcast != opts.bcast {
                return Err(err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
            }
            if opts.bcast && (opts.optin || opts.optout) {
                return Err(err("ERR OPTIN and OPTOUT are not compatible with BCAST"));
            }
            if opts.optin && opts.optout {
                return Err(err("ERR You can't specify both OPTIN mode and OPTOUT mode"));
            }
            if (opts.optin && t.optout) || (opts.optout && t.optin) {
                return Err(err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
            }
            if opts.bcast {
                check_prefixes(&t.prefixes, &opts.prefixes)?;
            }
        }
        tracking.enable(&ctx.client.info, &opts);
        ctx.client.tracking = true;
    } else if args.is(2, "OFF") {
        tracking.disable(&ctx.client.info);
        ctx.client.tracking = false;
    } else {
        return Err(super::args::SYNTAX);
    }
    Ok(Reply::ok())
}

/// Redis's `checkPrefixCollisionsOrReply`: no new prefix may be a prefix of, or start with,
/// one the client has or another new one.
fn check_prefixes(
    existing: &std::collections::BTreeSet<Box<[u8]>>,
    new: &[Vec<u8>],
) -> Result<(), CmdError> {
    let overlap = |a: &[u8], b: &[u8]| {
        let n = a.len().min(b.len());
        a[..n] == b[..n]
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlap(old, p)) {
            return Err(CmdError::msg(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(old)
            )));
        }
        if let Some(other) = new[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(CmdError::msg(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(other)
            )));
        }
    }
    Ok(())
}

/// CLIENT CACHING YES|NO: whether the next command's keys are tracked, under OPTIN/OPTOUT.
pub fn client_caching(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut t = ctx.client.info.tracking.lock();
    if !t.on {
        return Err(err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    }
    if args.is(2, "YES") {
        if !t.optin {
            return Err(err(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if args.is(2, "NO") {
        if !t.optout {
            return Err(err(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(super::args::SYNTAX);
    }
    t.caching = true;
    Ok(Reply::ok())
}

/// CLIENT GETREDIR: the client invalidations are redirected to, 0 for none, -1 when not
/// tracking.
pub fn client_getredir(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let t = ctx.client.info.tracking.lock();
    Ok(Reply::Int(if t.on { t.redirect as i64 } else { -1 }))
}

/// CLIENT TRACKINGINFO: flags, redirect and prefixes.
pub fn client_trackinginfo(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let t = ctx.client.info.tracking.lock();
    let mut flags = vec![if t.on { "on" } else { "off" }];
    if t.bcast {
        flags.push("bcast");
    }
    if t.optin {
        flags.push("optin");
        if t.caching {
            flags.push("caching-yes");
        }
    }
    if t.optout {
        flags.push("optout");
        if t.caching {
            flags.push("caching-no");
        }
    }
    if t.noloop {
        flags.push("noloop");
    }
    if t.broken_redirect {
        flags.push("broken_redirect");
    }
    Ok(Reply::Map(vec![
        (
            Reply::bulk("flags"),
            Reply::Set(flags.into_iter().map(Reply::bulk).collect()),
        ),
        (
            Reply::bulk("redirect"),
            Reply::Int(if t.on { t.redirect as i64 } else { -1 }),
        ),
        (
            Reply::bulk("prefixes"),
            Reply::Array(t.prefixes.iter().map(|p| Reply::Bulk(p.to_vec())).collect()),
        ),
    ]))
}
