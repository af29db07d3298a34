//! FCALL, FCALL_RO and FUNCTION (Redis's `functions.c`). The libraries and their Lua state
//! are in `scripting::functions`; a function runs exactly as an EVAL script does (see
//! `command::scripting`): under the write lock of every database, then the registry's mutex.

use super::args::{err, Args, CmdError, CmdResult};
use super::scripting::{call_script, check_flags, under_all_locks};
use super::Ctx;
use crate::protocol::{parse_i64, Reply};
use crate::scripting::functions::{flag_names, Libraries, RestorePolicy, ENGINE};

/// FCALL function numkeys [key ...] [arg ...]
pub fn fcall(ctx: &mut Ctx, args: &Args) -> CmdResult {
    under_all_locks(ctx, |ctx| run(ctx, args, false))
}

/// FCALL_RO function numkeys [key ...] [arg ...]
pub fn fcall_ro(ctx: &mut Ctx, args: &Args) -> CmdResult {
    under_all_locks(ctx, |ctx| run(ctx, args, true))
}

/// Under every database lock: finds the function and runs it with its keys and arguments.
fn run(ctx: &mut Ctx, args: &Args, ro: bool) -> CmdResult {
    // Shown before the commands it runs, as Redis does.
    super::show_to_monitors(ctx, args.all());
    let functions = &ctx.server.functions;
    let libs = functions.lock();
    let Some((_, f)) = libs.current.find(args.get(1)) else {
        return Err(err("ERR Function not found"));
    };
    let numkeys = parse_i64(args.get(2)).ok_or(err("ERR Bad number of keys provided"))?;
    if numkeys > (args.len() - 3) as i64 {
        return Err(err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(err("ERR Number of keys can't be negative"));
    }
    let (keys, argv) = args.from(3).split_at(numkeys as usize);
    let modes = check_flags(ctx, f.flags, ro)?;
    let name = String::from_utf8_lossy(&f.name);
    let function = Some((&f.name[..], args.all()));
    let out = call_script(ctx, &libs.interp, keys, modes, &name, function, |interp| {
        interp.invoke(Libraries::slot(f), keys, argv, false)
    });
    functions.counted(&libs);
    out
}

/// FUNCTION LOAD [REPLACE] function-code
pub fn function_load(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut replace = false;
    let mut at = 2;
    while at < args.len() - 1 {
        if !args.is(at, "REPLACE") {
            let mut e = b"ERR Unknown option given: ".to_vec();
            e.extend_from_slice(c_str(args.get(at)));
            return Err(CmdError(e.into()));
        }
        replace = true;
        at += 1;
    }
    let functions = &ctx.server.functions;
    let mut libs = functions.lock();
    let out = libs.load(args.get(at), replace);
    functions.counted(&libs);
    match out {
        Ok(name) => Ok(Reply::Bulk(name)),
        Err(e) => Err(CmdError([b"ERR ".as_slice(), &e].concat().into())),
    }
}

/// Up to the first NUL, as C's `%s` prints.
fn c_str(s: &[u8]) -> &[u8] {
    &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
}

/// FUNCTION DELETE library-name
pub fn function_delete(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let functions = &ctx.server.functions;
    let mut libs = functions.lock();
    let found = libs.delete(args.get(2));
    functions.counted(&libs);
    if !found {
        return Err(err("ERR Library not found"));
    }
    Ok(Reply::ok())
}

/// FUNCTION FLUSH [ASYNC|SYNC]
pub fn function_flush(ctx: &mut Ctx, args: &Args) -> CmdResult {
    match args.len() {
        2 => {}
        3 if args.is(2, "ASYNC") || args.is(2, "SYNC") => {}
        3 => return Err(err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")),
        _ => return Err(super::subcommand_syntax_error(args)),
    }
    let functions = &ctx.server.functions;
    let mut libs = functions.lock();
    libs.flush();
    functions.counted(&libs);
    Ok(Reply::ok())
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]
pub fn function_list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        if !with_code && args.is(i, "WITHCODE") {
            with_code = true;
        } else if pattern.is_none() && args.is(i, "LIBRARYNAME") {
            if i + 1 >= args.len() {
                return Err(err("ERR library name argument was not given"));
            }
            i += 1;
            pattern = Some(args.get(i));
        } else {
            let mut e = b"ERR Unknown argument ".to_vec();
            e.extend_from_slice(c_str(args.get(i)));
            return Err(CmdError(e.into()));
        }
        i += 1;
    }
    let libs = ctx.server.functions.lock();
    let s = Reply::bulk;
    let items = libs
        .current
        .libraries
        .values()
        .filter(|lib| pattern.is_none_or(|p| crate::store::glob::matches(p, &lib.name, true)))
        .map(|lib| {
            let functions = lib
                .functions
                .iter()
                .map(|f| {
                    Reply::Map(vec![
                        (s("name"), Reply::Bulk(f.name.clone())),
                        (
                            s("description"),
                            f.desc.clone().map_or(Reply::Nil, Reply::Bulk),
                        ),
                        (
                            s("flags"),
                            Reply::Set(
                                flag_names(f.flags).into_iter().map(Reply::simple).collect(),
                            ),
                        ),
                    ])
                })
                .collect();
            let mut fields = vec![
                (s("library_name"), Reply::Bulk(lib.name.clone())),
                (s("engine"), s(ENGINE)),
                (s("functions"), Reply::Array(functions)),
            ];
            if with_code {
                fields.push((s("library_code"), Reply::Bulk(lib.code.clone())));
            }
            Reply::Map(fields)
        })
        .collect();
    Ok(Reply::Array(items))
}

/// FUNCTION DUMP
pub fn function_dump(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::Bulk(ctx.server.functions.lock().dump()))
}

/// FUNCTION RESTORE serialized-value [FLUSH|APPEND|REPLACE]
pub fn function_restore(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 4 {
        return Err(super::subcommand_syntax_error(args));
    }
    let policy = if args.len() == 4 {
        if args.is(3, "APPEND") {
            RestorePolicy::Append
        } else if args.is(3, "REPLACE") {
            RestorePolicy::Replace
        } else if args.is(3, "FLUSH") {
            RestorePolicy::Flush
        } else {
            return Err(err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ));
        }
    } else {
        RestorePolicy::Append
    };
    let functions = &ctx.server.functions;
    let mut libs = functions.lock();
    let out = libs.restore(args.get(2), policy);
    functions.counted(&libs);
    match out {
        Ok(()) => Ok(Reply::ok()),
        Err(e) => Err(CmdError(e.into())),
    }
}

/// The function running now, for FUNCTION STATS (BUSY while an EVAL script runs).
fn running_script(ctx: &Ctx) -> Result<Reply, CmdError> {
    let running = ctx.server.script_busy.running_function().map_err(err)?;
    let Some(((name, command), ms)) = running else {
        return Ok(Reply::Nil);
    };
    let s = Reply::bulk;
    Ok(Reply::Map(vec![
        (s("name"), Reply::Bulk(name)),
        (
            s("command"),
            Reply::Array(command.into_iter().map(Reply::Bulk).collect()),
        ),
        (s("duration_ms"), Reply::Int(ms as i64)),
    ]))
}

/// FUNCTION STATS
pub fn function_stats(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let running = running_script(ctx)?;
    let functions = &ctx.server.functions;
    let s = Reply::bulk;
    Ok(Reply::Map(vec![
        (s("running_script"), running),
        (
            s("engines"),
            Reply::Map(vec![(
                s(ENGINE),
                Reply::Map(vec![
                    (
                        s("libraries_count"),
                        Reply::Int(functions.library_count() as i64),
                    ),
                    (
                        s("functions_count"),
                        Reply::Int(functions.function_count() as i64),
                    ),
                ]),
            )]),
        ),
    ]))
}

/// FUNCTION KILL: stops a running function that has not written (see `scripting::busy`).
pub fn function_kill(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    match ctx.server.script_busy.kill(false) {
        Ok(()) => Ok(Reply::ok()),
        Err(e) => Err(err(e)),
    }
}

/// FUNCTION HELP
pub fn function_help(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    ))
}
