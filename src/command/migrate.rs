//! MIGRATE: the keys' DUMP payloads sent to another server as RESTOREs, and the keys it
//! took deleted here unless COPY (Redis's `migrateCommand`).
//!
//! Redis runs the whole exchange with the server stopped. Here no lock is held while the
//! other server answers (except inside EXEC or a script, which hold theirs throughout, as
//! Redis would): each key is watched from before its payload is read, and one that a client
//! changes meanwhile stays here (the other server has the value it had), so no acknowledged
//! write is lost.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use super::args::{err, Args, CmdError, CmdResult, SYNTAX};
use super::Ctx;
use crate::links::{timed_out, Unreachable};
use crate::persistence::object;
use crate::protocol::reply::{bulk, header};
use crate::protocol::Reply;
use crate::store::notify::GENERIC;
use crate::store::rdbstr;
use crate::store::watch::WatchFlag;

struct Options<'a> {
    copy: bool,
    replace: bool,
    /// AUTH password, or AUTH2 username password.
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    keys: &'a [Vec<u8>],
}

fn options<'a>(args: &Args<'a>) -> Result<Options<'a>, CmdError> {
    let all = args.from(0);
    let mut o = Options {
        copy: false,
        replace: false,
        auth: None,
        keys: &all[3..4],
    };
    let mut i = 6;
    while i < all.len() {
        let more = all.len() - 1 - i;
        if args.is(i, "COPY") {
            o.copy = true;
        } else if args.is(i, "REPLACE") {
            o.replace = true;
        } else if args.is(i, "AUTH") {
            if more < 1 {
                return Err(SYNTAX);
            }
            o.auth = Some((None, &all[i + 1]));
            i += 1;
        } else if args.is(i, "AUTH2") {
            if more < 2 {
                return Err(SYNTAX);
            }
            o.auth = Some((Some(&all[i + 1]), &all[i + 2]));
            i += 2;
        } else if args.is(i, "KEYS") {
            if !all[3].is_empty() {
                return Err(err(
                    "ERR When using MIGRATE KEYS option, the key argument must be \
                                set to the empty string",
                ));
            }
            o.keys = &all[i + 1..];
            break;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    Ok(o)
}

/// A key on its way, and the flag any change to it marks.
struct Outgoing<'a> {
    key: &'a [u8],
    flag: Arc<WatchFlag>,
}

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
/// [AUTH2 username password] [KEYS key [key ...]]
pub fn migrate(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let o = options(args)?;
    let timeout = args.int(5)?;
    let dbid = args.int(4)?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    let here = ctx.client.db;
    // Watched first, under the write lock; then read, all under one read lock.
    let outgoing: Vec<Outgoing> = ctx.write_db(here, |db| {
        let mut found = Vec::new();
        for k in o.keys {
            if db.peek(k).is_some() {
                let flag = WatchFlag::new();
                db.watch_for_read(k, &flag);
                found.push(Outgoing { key: k, flag });
            }
        }
        found
    });
    // The RESTOREs, each payload encoded straight into them (one copy of the data, not two).
    // A key expired or deleted since it was found is not sent (its watch ends below).
    let now = ctx.op.now_ms();
    let replace = o.replace;
    let (body, sending) = ctx.read_db(here, |db| {
        let limits = db.op().limits();
        let options = object::SaveOptions {
            compress: limits.rdb_compression,
            list_fill: limits.list_fill,
        };
        let (mut body, mut sending) = (Vec::new(), Vec::new());
        for (i, out) in outgoing.iter().enumerate() {
            let Some(e) = db.entry_again(out.key) else {
                continue;
            };
            let ttl = if e.expire != 0 {
                (e.expire - now).max(1)
            } else {
                0
            };
            let mut payload = Vec::new();
            object::save(&mut payload, &e.value, options);
            rdbstr::seal(&mut payload);
            header(&mut body, b'*', if replace { 5 } else { 4 });
            bulk(&mut body, b"RESTORE");
            bulk(&mut body, out.key);
            bulk(&mut body, ttl.to_string().as_bytes());
            bulk(&mut body, &payload);
            if replace {
                bulk(&mut body, b"REPLACE");
            }
            sending.push(i);
        }
        (body, sending)
    });
    let result = if outgoing.is_empty() {
        Ok((Reply::simple("NOKEY"), Vec::new()))
    } else {
        exchange(ctx, args, &o, dbid, timeout, &body, &sending)
    };
    drop(body);
    // The keys the other server took go from here, unless COPY or a client changed them.
    let acked: &[usize] = match &result {
        Ok((_, acked)) | Err((_, acked)) => acked,
    };
    let copy = o.copy;
    ctx.write_db(here, |db| {
        let mut deleted: Vec<&[u8]> = vec![b"DEL"];
        for &i in acked {
            let out = &outgoing[i];
            if !copy && !out.flag.is_dirty() && db.delete(out.key, false) {
                db.notify(GENERIC, "del", out.key);
                deleted.push(out.key);
            }
        }
        for out in &outgoing {
            db.end_watch(out.key, &out.flag);
        }
        db.op().count_changes(deleted.len() as u64 - 1);
        if deleted.len() > 1 {
            db.propagate(&deleted);
        }
    });
    match result {
        Ok((reply, _)) => Ok(reply),
        Err((e, _)) => Err(e),
    }
}

/// The reply, with the indices (in `outgoing`) of the keys the other server restored; on
/// an error, the error and those restored before it.
type Exchanged = Result<(Reply, Vec<usize>), (CmdError, Vec<usize>)>;

/// Sends the RESTOREs over the kept connection (or a new one) and reads the replies. A
/// connection that fails before any RESTORE is answered, not by a timeout, is tried once
/// more with a new one (a kept connection the other side closed).
fn exchange(
    ctx: &mut Ctx,
    args: &Args,
    o: &Options,
    dbid: i64,
    timeout: Duration,
    body: &[u8],
    sending: &[usize],
) -> Exchanged {
    let (host, port) = (args.get(1), args.get(2));
    let links = &ctx.server.links;
    let mut retry = true;
    loop {
        let mut link = match links.take(host, port, timeout) {
            Ok(link) => link,
            Err(Unreachable::Address) => {
                let e = err("IOERR error or timeout connecting to the client");
                return Err((e, Vec::new()));
            }
            // Redis learns of a refused connection when it writes, and tries once more.
            Err(Unreachable::Connect(e)) => {
                if retry && !timed_out(&e) {
                    retry = false;
                    continue;
                }
                let e = err("IOERR error or timeout writing to target instance");
                return Err((e, Vec::new()));
            }
        };
        let select = link.db != Some(dbid);
        let mut cmd = Vec::new();
        if let Some((user, pass)) = o.auth {
            header(&mut cmd, b'*', if user.is_some() { 3 } else { 2 });
            bulk(&mut cmd, b"AUTH");
            if let Some(user) = user {
                bulk(&mut cmd, user);
            }
            bulk(&mut cmd, pass);
        }
        if select {
            header(&mut cmd, b'*', 2);
            bulk(&mut cmd, b"SELECT");
            bulk(&mut cmd, dbid.to_string().as_bytes());
        }
        let mut acked = Vec::new();
        let mut target_error: Option<Vec<u8>> = None;
        let outcome = (|| {
            link.set_timeout(timeout).map_err(|e| ("writing", e))?;
            link.send(&cmd).map_err(|e| ("writing", e))?;
            link.send(body).map_err(|e| ("writing", e))?;
            let auth = match o.auth {
                Some(_) => Some(link.read_line().map_err(|e| ("reading", e))?),
                None => None,
            };
            let selected = match select {
                true => Some(link.read_line().map_err(|e| ("reading", e))?),
                false => None,
            };
            let failed = |l: &Option<Vec<u8>>| l.as_ref().is_some_and(|l| l.first() == Some(&b'-'));
            for &i in sending {
                let line = link.read_line().map_err(|e| ("reading", e))?;
                if failed(&auth) || failed(&selected) || line.first() == Some(&b'-') {
                    if target_error.is_none() {
                        let first = [&auth, &selected, &Some(line)]
                            .into_iter()
                            .find(|l| failed(l))
                            .and_then(Option::as_ref)
                            .map_or(Vec::new(), |l| l[1..].to_vec());
                        target_error = Some(first);
                    }
                } else {
                    acked.push(i);
                }
            }
            Ok::<(), (&str, std::io::Error)>(())
        })();
        match outcome {
            Ok(()) => match target_error {
                None => {
                    link.db = Some(dbid);
                    links.keep(host, port, link);
                    return Ok((Reply::ok(), acked));
                }
                Some(text) => {
                    // What the other side has selected is not known after an error.
                    link.db = None;
                    links.keep(host, port, link);
                    let mut msg = b"ERR Target instance replied with error: ".to_vec();
                    msg.extend_from_slice(&text);
                    return Err((CmdError(Cow::Owned(msg)), acked));
                }
            },
            Err((doing, e)) => {
                drop(link);
                if retry && acked.is_empty() && target_error.is_none() && !timed_out(&e) {
                    retry = false;
                    continue;
                }
                let msg = format!("IOERR error or timeout {doing} to target instance");
                return Err((CmdError::msg(msg), acked));
            }
        }
    }
}
