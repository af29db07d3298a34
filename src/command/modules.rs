//! MODULE (Redis's `moduleCommand`). Spindle runs no modules: Redis's are C libraries built
//! against its module API, which Spindle does not provide. So `MODULE LIST` is empty, and
//! `LOAD` and `LOADEX` fail as a module that cannot load fails in Redis: the reason in the
//! log, Redis's error in the reply. `LOAD`, `LOADEX` and `UNLOAD` are protected by
//! `enable-module-command`, as in Redis.

use super::args::{err, Args, CmdError, CmdResult};
use super::Ctx;
use crate::protocol::Reply;

/// Redis's refusal of a protected MODULE subcommand under `enable-module-command no` (its
/// default).
pub const NOT_ALLOWED: CmdError = err("ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");

const LOAD_FAILED: CmdError = err("ERR Error loading the extension. Please check the server logs.");

/// The protection check outside a transaction (inside, `debug::protection_refuses` makes
/// it before queueing).
fn check(ctx: &Ctx) -> Result<(), CmdError> {
    if super::debug::allowed_by(ctx, "enable-module-command") {
        Ok(())
    } else {
        Err(NOT_ALLOWED)
    }
}

/// Logs why the module at `path` cannot load (Redis's "Module ... failed to load").
fn cannot_load(path: &[u8]) -> CmdError {
    let shown = String::from_utf8_lossy(path);
    let why = match std::fs::metadata(std::ffi::OsStr::new(&*shown)) {
        Err(e) => format!("{shown}: cannot open shared object file: {e}"),
        Ok(_) => "Spindle does not provide Redis's module API".to_string(),
    };
    log::warn!("Module {shown} failed to load: {why}");
    LOAD_FAILED
}

/// MODULE LOAD path [arg ...]
pub fn module_load(ctx: &mut Ctx, args: &Args) -> CmdResult {
    check(ctx)?;
    Err(cannot_load(args.get(2)))
}

/// MODULE LOADEX path [CONFIG name value ...] [ARGS arg ...]
pub fn module_loadex(ctx: &mut Ctx, args: &Args) -> CmdResult {
    check(ctx)?;
    let rest = &args.all()[3..];
    let mut i = 0;
    while i < rest.len() {
        if rest[i].eq_ignore_ascii_case(b"CONFIG") {
            if i + 2 >= rest.len() {
                log::info!("CONFIG specified without name value pair");
                return Err(LOAD_FAILED);
            }
            i += 3;
        } else if rest[i].eq_ignore_ascii_case(b"ARGS") {
            break;
        } else {
            log::info!(
                "Syntax Error from arguments to loadex around {}.",
                String::from_utf8_lossy(&rest[i])
            );
            return Err(LOAD_FAILED);
        }
    }
    Err(cannot_load(args.get(2)))
}

/// MODULE UNLOAD name: no module by that name is loaded, since none ever is.
pub fn module_unload(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    check(ctx)?;
    Err(err(
        "ERR Error unloading module: no such module with that name",
    ))
}

/// MODULE LIST: the loaded modules, none.
pub fn module_list(_ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Ok(Reply::Array(Vec::new()))
}

/// MODULE HELP
pub fn module_help(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    Ok(super::help_reply(
        args,
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    ))
}
