//! COMMAND GETKEYS: which arguments of a command are keys, by the table's key range or, for
//! commands whose keys move (`movablekeys`), by the command's own rule, as Redis's key specs
//! and `getkeys_proc`s find them.

use super::args::{err, Args, CmdError, CmdResult};
use super::{flags, keyspec, CommandSpec, Ctx};
use crate::protocol::{parse_i64, Reply};

/// The command `argv` names (descending into a subcommand), as Redis's `lookupCommand`, with
/// its full name (`client|kill`).
fn lookup(argv: &[Vec<u8>]) -> Option<(&'static CommandSpec, String)> {
    let (_, spec) = super::lookup(argv.first()?)?;
    if spec.subcommands.is_empty() || argv.len() < 2 {
        return Some((spec, spec.name.to_string()));
    }
    let sub = spec
        .subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(&argv[1]))?;
    Some((sub, format!("{}|{}", spec.name, sub.name)))
}

/// Keys named by a `numkeys` argument at `at`, the keys following it.
fn numkeys(argv: &[Vec<u8>], at: usize) -> Option<Vec<usize>> {
    let n = parse_i64(argv.get(at)?).filter(|&n| n > 0)? as usize;
    let first = at + 1;
    (first.checked_add(n)? <= argv.len()).then(|| (first..first + n).collect())
}

/// The keys of XREAD and XREADGROUP: half of what follows the STREAMS option, found past
/// the options as Redis's `xreadGetKeys` skips them ("STREAMS" may also name a group or key).
fn xread_keys(argv: &[Vec<u8>]) -> Option<Vec<usize>> {
    let mut i = 1;
    let mut streams = None;
    while i < argv.len() {
        let a = argv[i].to_ascii_lowercase();
        match a.as_slice() {
            b"block" | b"count" => i += 1,
            b"group" => i += 2,
            b"noack" => {}
            b"streams" => {
                streams = Some(i);
                break;
            }
            _ => break,
        }
        i += 1;
    }
    let at = streams?;
    let n = argv.len() - at - 1;
    if n == 0 || !n.is_multiple_of(2) {
        return None;
    }
    Some((at + 1..at + 1 + n / 2).collect())
}

/// The positions of the keys in `argv` (`argv[0]` the command name), or `None` if the
/// arguments do not say (Redis's "Invalid arguments").
pub fn key_positions(spec: &CommandSpec, argv: &[Vec<u8>]) -> Option<Vec<usize>> {
    if spec.flags & flags::MOVABLE_KEYS != 0 {
        return match spec.name {
            "sort" => {
                // The key, and the last STORE's destination; LIMIT, GET and BY skip their
                // arguments (Redis's sortGetKeys).
                let mut keys = vec![1];
                let mut store = None;
                let mut i = 2;
                while i < argv.len() {
                    let a = argv[i].to_ascii_lowercase();
                    match a.as_slice() {
                        b"limit" => i += 2,
                        b"get" | b"by" => i += 1,
                        b"store" if i + 1 < argv.len() => store = Some(i + 1),
                        _ => {}
                    }
                    i += 1;
                }
                keys.extend(store);
                Some(keys)
            }
            "sort_ro" => Some(vec![1]),
            // The key, and the last STORE or STOREDIST destination (georadiusGetKeys).
            "georadius" | "georadiusbymember" => {
                let mut store = None;
                let mut i = 5;
                while i < argv.len() {
                    let a = &argv[i];
                    if (a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist"))
                        && i + 1 < argv.len()
                    {
                        store = Some(i + 1);
                        i += 1;
                    }
                    i += 1;
                }
                let mut keys = vec![1];
                keys.extend(store);
                Some(keys)
            }
            "zunionstore" | "zinterstore" | "zdiffstore" => {
                let mut keys = vec![1];
                keys.extend(numkeys(argv, 2)?);
                Some(keys)
            }
            "blmpop" | "bzmpop" => numkeys(argv, 2),
            "migrate" => Some(migrate_keys(argv)),
            "xread" | "xreadgroup" => xread_keys(argv),
            _ => numkeys(argv, 1),
        };
    }
    let (first, last, step) = spec.keys;
    if first <= 0 {
        return None;
    }
    let argc = argv.len() as i64;
    let last = if last < 0 {
        argc + i64::from(last)
    } else {
        i64::from(last)
    };
    let first = i64::from(first);
    if last >= argc || last < first {
        return None;
    }
    Some(
        (first..=last)
            .step_by(step.max(1) as usize)
            .map(|i| i as usize)
            .collect(),
    )
}

/// MIGRATE's keys (Redis's `migrateGetKeys`): the key, or with KEYS (and an empty key) those
/// after it; with KEYS and a key, none (the command answers the syntax error). AUTH's and
/// AUTH2's arguments are skipped, so a password spelled `keys` is no KEYS.
fn migrate_keys(argv: &[Vec<u8>]) -> Vec<usize> {
    let mut i = 6;
    while i < argv.len() {
        let a = &argv[i];
        if a.eq_ignore_ascii_case(b"keys") {
            if !argv[3].is_empty() {
                return Vec::new();
            }
            return (i + 1..argv.len()).collect();
        }
        if a.eq_ignore_ascii_case(b"auth") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"auth2") {
            i += 2;
        }
        i += 1;
    }
    vec![3]
}

/// The keys of `argv` with their key-spec flags (Redis's `getKeysFromCommandWithSpecs`): by
/// the key specs when they are reliable, else by the command's own rule; `None` when the
/// arguments do not say.
pub fn keys_and_flags(
    spec: &CommandSpec,
    name: &str,
    argv: &[Vec<u8>],
) -> Option<Vec<(usize, u16)>> {
    let specs = keyspec::of(name);
    if keyspec::reliable(specs) {
        if let Some(keys) = keyspec::keys(specs, argv, spec.arity < 0) {
            return Some(keys);
        }
    }
    let positions = key_positions(spec, argv)?;
    let flags = keyspec::variable_flags(spec.name, argv, &positions).unwrap_or_else(|| {
        // Not reached for Redis's commands (their specs are reliable, or the rule above
        // gives the flags): the first spec's flags.
        vec![specs.first().map_or(0, |k| k.flags); positions.len()]
    });
    Some(positions.into_iter().zip(flags).collect())
}

/// COMMAND GETKEYS and GETKEYSANDFLAGS (Redis's `getKeysSubcommandImpl`).
fn getkeys(args: &Args, with_flags: bool) -> CmdResult {
    const INVALID_COMMAND: CmdError = err("ERR Invalid command specified");
    let argv = args.from(2);
    let (spec, name) = lookup(argv).ok_or(INVALID_COMMAND)?;
    if spec.keys.0 == 0 && spec.flags & flags::MOVABLE_KEYS == 0 {
        return Err(err("ERR The command has no key arguments"));
    }
    let argc = argv.len() as i64;
    let arity = i64::from(spec.arity);
    if (arity > 0 && arity != argc) || argc < -arity {
        return Err(err("ERR Invalid number of arguments specified for command"));
    }
    let keys = match keys_and_flags(spec, &name, argv).filter(|k| !k.is_empty()) {
        Some(keys) => keys,
        // EVAL and FCALL with no keys: an empty list, not an error.
        None if spec.flags & flags::NO_MANDATORY_KEYS != 0 => Vec::new(),
        None => return Err(err("ERR Invalid arguments specified for command")),
    };
    Ok(Reply::Array(
        keys.into_iter()
            .map(|(i, f)| {
                let key = Reply::bulk(argv[i].clone());
                if with_flags {
                    Reply::Array(vec![key, keyspec::flag_names(f)])
                } else {
                    key
                }
            })
            .collect(),
    ))
}

/// COMMAND GETKEYS command [arg ...]
pub fn command_getkeys(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    getkeys(args, false)
}

/// COMMAND GETKEYSANDFLAGS command [arg ...]
pub fn command_getkeysandflags(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    getkeys(args, true)
}
