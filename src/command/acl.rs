//! ACL and the permission check before every command (the users themselves are in
//! `crate::acl`).

use super::args::{err, Args, CmdError, CmdResult};
use super::{acl_channels, acl_commands, acl_id, CommandSpec, Ctx};
use crate::acl::{Context, Denied, Request};
use crate::protocol::Reply;

/// Writes a refusal to the ACL LOG, with the client's CLIENT LIST line. `username` defaults
/// to the client's user.
pub fn log_denied(
    ctx: &Ctx,
    reason: Denied,
    context: Context,
    object: Vec<u8>,
    username: Option<Vec<u8>>,
) {
    let now = ctx.op.now_ms();
    let mut line = super::connection::client_line(&ctx.client.info, now);
    line.pop();
    let max = ctx
        .server
        .config
        .get(crate::config::lookup("acllog-max-len").expect("in the table"))
        .parse()
        .unwrap_or(128);
    ctx.server.acl.log(
        reason,
        context,
        object,
        username.unwrap_or_else(|| ctx.client.user.name.clone()),
        now,
        line,
        max,
    );
}

/// What the check needs of a command: its id, keys and channels.
fn request<'a>(code: u32, spec: &CommandSpec, argv: &'a [Vec<u8>]) -> Request<'a> {
    let id = acl_id(code);
    let is_sub = acl_commands().get(id).is_some_and(|c| c.parent.is_some());
    // Shard channels are key-like arguments flagged NOT_KEY: they are checked as channels.
    let keys = if spec.keys.0 != 0 || spec.flags & super::flags::MOVABLE_KEYS != 0 {
        let name = &acl_commands()[id].name;
        super::getkeys::keys_and_flags(spec, name, argv).map(|k| {
            k.into_iter()
                .filter(|(_, f)| f & super::keyspec::flags::NOT_KEY == 0)
                .collect()
        })
    } else {
        None
    };
    Request {
        id,
        argv,
        firstarg_at: if is_sub { 2 } else { 1 },
        keys,
        channels: acl_channels(spec, argv),
    }
}

/// Redis's `ACLCheckAllPerm` for the client's user: `Err` with the reason and the position
/// of the key or channel refused.
pub fn check(
    ctx: &Ctx,
    code: u32,
    spec: &CommandSpec,
    argv: &[Vec<u8>],
) -> Result<(), (Denied, usize)> {
    let user = &ctx.client.user;
    if user.unrestricted() {
        return Ok(());
    }
    let req = request(code, spec, argv);
    let no_auth = spec.flags & super::flags::NO_AUTH != 0;
    user.read().check(&req, no_auth)
}

/// SORT's BY (with a pattern) and GET read keys the key specs do not name: Redis refuses
/// them to a user who may not read every key.
fn sort_patterns(
    ctx: &Ctx,
    code: u32,
    spec: &CommandSpec,
    argv: &[Vec<u8>],
) -> Result<(), CmdError> {
    let user = &ctx.client.user;
    if user.unrestricted() || !matches!(spec.name, "sort" | "sort_ro") {
        return Ok(());
    }
    let req = request(code, spec, argv);
    if user.read().may_read_every_key(&req, false) {
        return Ok(());
    }
    // SORT's own option loop: the first BY with a pattern or GET is refused; an unknown
    // option stops it (the command's syntax error comes first).
    let mut j = 2;
    while j < argv.len() {
        let a = &argv[j];
        let left = argv.len() - j - 1;
        if a.eq_ignore_ascii_case(b"asc")
            || a.eq_ignore_ascii_case(b"desc")
            || a.eq_ignore_ascii_case(b"alpha")
        {
            j += 1;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            j += 3;
        } else if a.eq_ignore_ascii_case(b"store") && left >= 1 {
            j += 2;
        } else if a.eq_ignore_ascii_case(b"by") && left >= 1 {
            if argv[j + 1].contains(&b'*') {
                return Err(err(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            j += 2;
        } else if a.eq_ignore_ascii_case(b"get") && left >= 1 {
            return Err(err(
                "ERR GET option of SORT denied due to insufficient ACL permissions.",
            ));
        } else {
            return Ok(());
        }
    }
    Ok(())
}

/// The check before a command runs or is queued, with its NOPERM error and log entry (for a
/// user with restrictions: dispatch skips it for the others).
#[cold]
pub fn admit(ctx: &Ctx, code: u32, spec: &CommandSpec, argv: &[Vec<u8>]) -> Result<(), CmdError> {
    let Err((reason, pos)) = check(ctx, code, spec, argv) else {
        // SORT's patterns are checked when it runs: now, or inside EXEC.
        if ctx.client.multi.is_none() {
            return sort_patterns(ctx, code, spec, argv);
        }
        return Ok(());
    };
    let context = if ctx.client.multi.is_some() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    let fullname = &acl_commands()[acl_id(code)].name;
    let object = match reason {
        Denied::Command => fullname.clone().into_bytes(),
        _ => argv.get(pos).cloned().unwrap_or_default(),
    };
    log_denied(ctx, reason, context, object, None);
    Err(match reason {
        Denied::Command => CmdError::msg(format!(
            "NOPERM this user has no permissions to run the '{fullname}' command"
        )),
        Denied::Key => {
            err("NOPERM this user has no permissions to access one of the keys used as arguments")
        }
        _ => err(
            "NOPERM this user has no permissions to access one of the channels used as arguments",
        ),
    })
}

/// The check EXEC makes again for each queued command, as rules may have changed since it
/// was queued.
pub fn recheck_queued(
    ctx: &Ctx,
    code: u32,
    spec: &CommandSpec,
    argv: &[Vec<u8>],
) -> Result<(), CmdError> {
    let Err((reason, pos)) = check(ctx, code, spec, argv) else {
        return sort_patterns(ctx, code, spec, argv);
    };
    let object = match reason {
        Denied::Command => acl_commands()[acl_id(code)].name.clone().into_bytes(),
        _ => argv.get(pos).cloned().unwrap_or_default(),
    };
    log_denied(ctx, reason, Context::Multi, object, None);
    let why = match reason {
        Denied::Command => "no permission to execute the command or subcommand",
        Denied::Key => "no permission to touch the specified keys",
        _ => "no permission to access one of the channels used as arguments",
    };
    Err(CmdError::msg(format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {why}")))
}

fn pubsub_default_all(ctx: &Ctx) -> bool {
    ctx.server
        .config
        .get(crate::config::lookup("acl-pubsub-default").expect("in the table"))
        == "allchannels"
}

/// Closes a client as CLIENT KILL does: the caller after its reply, any other at once.
fn close(ctx: &mut Ctx, c: &crate::state::ClientInfo) {
    super::connection::kill(ctx, c);
}

/// ACL SETUSER username [rule ...]: all rules or none. Subscribers of the user holding a
/// channel its new rules no longer allow are disconnected, as in Redis.
pub fn acl_setuser(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let name = args.get(2);
    if name.iter().any(|&c| c.is_ascii_whitespace() || c == 0) {
        return Err(err("ERR Usernames can't contain spaces or null characters"));
    }
    let clients = ctx.server.clients.list();
    let doomed = std::cell::RefCell::new(Vec::new());
    let pubsub = &ctx.server.pubsub;
    let result = ctx.server.acl.set_user(
        name,
        args.from(3),
        pubsub_default_all(ctx),
        &|cell, allowed| {
            for c in &clients {
                if !c.is_subscribed() || !std::sync::Arc::ptr_eq(&c.user.lock(), cell) {
                    continue;
                }
                let (channels, patterns) = pubsub.read(|r| r.subscriptions_of(c.id));
                let ch: Vec<&[u8]> = channels.iter().map(Vec::as_slice).collect();
                let pa: Vec<&[u8]> = patterns.iter().map(Vec::as_slice).collect();
                if !allowed(&ch, &pa) {
                    doomed.borrow_mut().push(std::sync::Arc::clone(c));
                }
            }
        },
    );
    result.map_err(|e| CmdError::msg(format!("ERR {e}")))?;
    for c in doomed.into_inner() {
        close(ctx, &c);
    }
    Ok(Reply::ok())
}

/// ACL DELUSER username [username ...]: the number deleted; their clients are closed.
pub fn acl_deluser(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.from(2).iter().any(|n| n == b"default") {
        return Err(err("ERR The 'default' user cannot be removed"));
    }
    let gone = ctx.server.acl.delete(args.from(2));
    for cell in &gone {
        for c in ctx.server.clients.list() {
            if std::sync::Arc::ptr_eq(&c.user.lock(), cell) {
                close(ctx, &c);
            }
        }
    }
    Ok(Reply::Int(gone.len() as i64))
}

/// ACL GETUSER username
pub fn acl_getuser(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let Some(cell) = ctx.server.acl.get(args.get(2)) else {
        return Ok(Reply::Nil);
    };
    let u = cell.read();
    let b = |s: &str| Reply::bulk(s);
    let selector = |f: &[Vec<u8>; 3]| {
        vec![
            (b("commands"), Reply::Bulk(f[0].clone())),
            (b("keys"), Reply::Bulk(f[1].clone())),
            (b("channels"), Reply::Bulk(f[2].clone())),
        ]
    };
    let fields = u.selector_fields();
    let mut map = vec![
        (
            b("flags"),
            Reply::Set(u.flags().into_iter().map(b).collect()),
        ),
        (
            b("passwords"),
            Reply::Array(u.passwords().iter().map(|p| b(p)).collect()),
        ),
    ];
    map.extend(selector(&fields[0]));
    map.push((
        b("selectors"),
        Reply::Array(
            fields[1..]
                .iter()
                .map(|f| Reply::Map(selector(f)))
                .collect(),
        ),
    ));
    Ok(Reply::Map(map))
}

/// ACL LIST: each user in the config file's form.
pub fn acl_list(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::Array(
        ctx.server
            .acl
            .users()
            .iter()
            .map(|u| Reply::Bulk(u.list_line()))
            .collect(),
    ))
}

/// ACL USERS
pub fn acl_users(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::Array(
        ctx.server
            .acl
            .users()
            .iter()
            .map(|u| Reply::bulk(u.name.clone()))
            .collect(),
    ))
}

/// ACL WHOAMI
pub fn acl_whoami(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::bulk(ctx.client.user.name.clone()))
}

const NO_ACL_FILE: CmdError = err("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.");

fn acl_file(ctx: &Ctx) -> String {
    ctx.server
        .config
        .get(crate::config::lookup("aclfile").expect("in the table"))
}

/// ACL LOAD: the users of the `aclfile`, all or nothing; the clients of every user replaced
/// (all but the default one) are closed, as in Redis.
pub fn acl_load(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let path = acl_file(ctx);
    if path.is_empty() {
        return Err(NO_ACL_FILE);
    }
    let replaced = ctx
        .server
        .acl
        .load_file(&path, pubsub_default_all(ctx))
        .map_err(|e| CmdError::msg(format!("ERR {e}")))?;
    for cell in &replaced {
        for c in ctx.server.clients.list() {
            if std::sync::Arc::ptr_eq(&c.user.lock(), cell) {
                close(ctx, &c);
            }
        }
    }
    Ok(Reply::ok())
}

/// ACL SAVE: every user to the `aclfile`.
pub fn acl_save(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let path = acl_file(ctx);
    if path.is_empty() {
        return Err(NO_ACL_FILE);
    }
    if let Err(e) = ctx.server.acl.save_file(&path, ctx.op.now_ms()) {
        log::warn!("Writing ACL file for ACL SAVE: {e}");
        return Err(err("ERR There was an error trying to save the ACLs. Please check the server logs for more information"));
    }
    Ok(Reply::ok())
}

/// ACL CAT [category]
pub fn acl_cat(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() == 2 {
        return Ok(Reply::Array(
            super::CATEGORIES.iter().map(|c| Reply::bulk(*c)).collect(),
        ));
    }
    if args.len() != 3 {
        return Err(super::subcommand_syntax_error(args));
    }
    let Some(i) = super::CATEGORIES
        .iter()
        .position(|c| args.get(2).eq_ignore_ascii_case(c.as_bytes()))
    else {
        let name: String = args.text(2).chars().take(128).collect();
        return Err(CmdError::msg(format!("ERR Unknown category '{name}'")));
    };
    Ok(Reply::Array(
        acl_commands()
            .iter()
            .filter(|c| c.cats & (1 << i) != 0)
            .map(|c| Reply::bulk(c.name.as_str()))
            .collect(),
    ))
}

/// ACL GENPASS [bits]: random hex from the system's generator.
pub fn acl_genpass(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 3 {
        return Err(super::subcommand_syntax_error(args));
    }
    let bits = if args.len() == 3 { args.int(2)? } else { 256 };
    if bits <= 0 || bits > 4096 {
        return Err(err("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"));
    }
    let chars = (bits as usize).div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    crate::os::random_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Reply::bulk(&hex[..chars]))
}

/// ACL LOG [count | RESET]
pub fn acl_log(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 3 {
        return Err(super::subcommand_syntax_error(args));
    }
    let mut count = 10i64;
    if args.len() == 3 {
        if args.is(2, "RESET") {
            ctx.server.acl.log_reset();
            return Ok(Reply::ok());
        }
        count = args.int(2)?.max(0);
    }
    let now = ctx.op.now_ms();
    let b = |s: &str| Reply::bulk(s);
    Ok(Reply::Array(ctx.server.acl.log_entries(
        count as usize,
        |e| {
            Reply::Map(vec![
                (b("count"), Reply::Int(e.count as i64)),
                (b("reason"), b(e.reason)),
                (b("context"), b(e.context)),
                (b("object"), Reply::bulk(e.object.clone())),
                (b("username"), Reply::bulk(e.username.clone())),
                (
                    b("age-seconds"),
                    Reply::Double((now - e.created_ms) as f64 / 1000.0),
                ),
                (b("client-info"), b(&e.client_info)),
            ])
        },
    )))
}

/// ACL DRYRUN username command [arg ...]
pub fn acl_dryrun(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let Some(cell) = ctx.server.acl.get(args.get(2)) else {
        return Err(CmdError::msg(format!(
            "ERR User '{}' not found",
            args.text(2)
        )));
    };
    let argv = args.from(3);
    let Some((code, spec)) = super::lookup_code(argv) else {
        return Err(CmdError::msg(format!(
            "ERR Command '{}' not found",
            args.text(3)
        )));
    };
    let fullname = &acl_commands()[acl_id(code)].name;
    if !super::arity_ok(spec.arity, argv.len()) {
        return Err(CmdError::msg(format!(
            "ERR wrong number of arguments for '{fullname}' command"
        )));
    }
    let req = request(code, spec, argv);
    let result = cell
        .read()
        .check(&req, spec.flags & super::flags::NO_AUTH != 0);
    match result {
        Ok(()) => Ok(Reply::ok()),
        Err((reason, pos)) => {
            let what = String::from_utf8_lossy(argv.get(pos).map_or(&[][..], |a| a)).into_owned();
            Ok(Reply::bulk(match reason {
                Denied::Command => {
                    format!("This user has no permissions to run the '{fullname}' command")
                }
                Denied::Key => format!("This user has no permissions to access the '{what}' key"),
                _ => format!("This user has no permissions to access the '{what}' channel"),
            }))
        }
    }
}

/// ACL HELP
pub fn acl_help(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    ))
}
