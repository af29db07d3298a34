//! Key specs (Redis 7.0's `keySpec`): where a command's keys are among its arguments and how
//! it uses them. COMMAND INFO shows them, COMMAND GETKEYS and GETKEYSANDFLAGS follow them
//! (Redis's `getKeysUsingKeySpecs`), and the few commands whose flags depend on their
//! arguments have Redis's own rules (SET with GET, BITFIELD with only GETs, SORT ... STORE).

use super::described;
use crate::protocol::{parse_i64, Reply};

/// The flags of a key spec, as Redis numbers them (`CMD_KEY_*`).
pub mod flags {
    pub const RO: u16 = 1;
    pub const RW: u16 = 1 << 1;
    pub const OW: u16 = 1 << 2;
    pub const RM: u16 = 1 << 3;
    pub const ACCESS: u16 = 1 << 4;
    pub const UPDATE: u16 = 1 << 5;
    pub const INSERT: u16 = 1 << 6;
    pub const DELETE: u16 = 1 << 7;
    pub const NOT_KEY: u16 = 1 << 8;
    pub const INCOMPLETE: u16 = 1 << 9;
    pub const VARIABLE_FLAGS: u16 = 1 << 10;

    /// COMMAND INFO's names, in Redis's order.
    pub const NAMES: [(u16, &str); 11] = [
        (RO, "RO"),
        (RW, "RW"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];
}

/// Where the search for a spec's keys begins.
#[derive(Debug, Clone, Copy)]
pub enum Begin {
    /// At this argument.
    Index(i32),
    /// After this keyword, searched from this argument (negative: from the end, backwards).
    Keyword(&'static str, i32),
    Unknown,
}

/// Which arguments from there on are keys.
#[derive(Debug, Clone, Copy)]
pub enum Find {
    /// Up to `last` (relative; negative: from the end), every `step`; with `limit`, only
    /// the first 1/limit of the rest.
    Range {
        last: i32,
        step: i32,
        limit: i32,
    },
    /// As many as the argument at `idx` says, starting `first` after it.
    Keynum {
        idx: i32,
        first: i32,
        step: i32,
    },
    Unknown,
}

#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub flags: u16,
    pub begin: Begin,
    pub find: Find,
    pub notes: &'static str,
}

/// The key specs of the command with this full name (`client|kill`).
pub fn of(full_name: &str) -> &'static [KeySpec] {
    described::key_specs(full_name)
}

/// A key spec's flags as COMMAND INFO and GETKEYSANDFLAGS show them (a set).
pub fn flag_names(f: u16) -> Reply {
    Reply::Set(
        flags::NAMES
            .iter()
            .filter(|(bit, _)| f & bit != 0)
            .map(|(_, n)| Reply::simple(n))
            .collect(),
    )
}

/// COMMAND INFO's `key_specs` entry for `specs` (Redis's `addReplyCommandKeySpecs`).
pub fn info(specs: &[KeySpec]) -> Reply {
    let s = Reply::bulk;
    Reply::Set(
        specs
            .iter()
            .map(|k| {
                let mut fields = Vec::with_capacity(4);
                if !k.notes.is_empty() {
                    fields.push((s("notes"), s(k.notes)));
                }
                fields.push((s("flags"), flag_names(k.flags)));
                let begin = match k.begin {
                    Begin::Index(i) => (
                        s("index"),
                        Reply::Map(vec![(s("index"), Reply::Int(i.into()))]),
                    ),
                    Begin::Keyword(kw, from) => (
                        s("keyword"),
                        Reply::Map(vec![
                            (s("keyword"), s(kw)),
                            (s("startfrom"), Reply::Int(from.into())),
                        ]),
                    ),
                    Begin::Unknown => (s("unknown"), Reply::Map(vec![])),
                };
                fields.push((
                    s("begin_search"),
                    Reply::Map(vec![(s("type"), begin.0), (s("spec"), begin.1)]),
                ));
                let find = match k.find {
                    Find::Range { last, step, limit } => (
                        s("range"),
                        Reply::Map(vec![
                            (s("lastkey"), Reply::Int(last.into())),
                            (s("keystep"), Reply::Int(step.into())),
                            (s("limit"), Reply::Int(limit.into())),
                        ]),
                    ),
                    Find::Keynum { idx, first, step } => (
                        s("keynum"),
                        Reply::Map(vec![
                            (s("keynumidx"), Reply::Int(idx.into())),
                            (s("firstkey"), Reply::Int(first.into())),
                            (s("keystep"), Reply::Int(step.into())),
                        ]),
                    ),
                    Find::Unknown => (s("unknown"), Reply::Map(vec![])),
                };
                fields.push((
                    s("find_keys"),
                    Reply::Map(vec![(s("type"), find.0), (s("spec"), find.1)]),
                ));
                Reply::Map(fields)
            })
            .collect(),
    )
}

/// Can `specs` alone find the keys, with their flags? (Redis prefers them then; else the
/// command's own rule.)
pub fn reliable(specs: &[KeySpec]) -> bool {
    specs.iter().any(|k| k.flags & flags::NOT_KEY == 0)
        && specs.iter().all(|k| k.flags & flags::VARIABLE_FLAGS == 0)
}

/// The keys `specs` find in `argv` (`argv[0]` the command), with their flags; `None` when a
/// spec cannot be followed (Redis's `getKeysUsingKeySpecs` without partial results).
pub fn keys(specs: &[KeySpec], argv: &[Vec<u8>], variadic: bool) -> Option<Vec<(usize, u16)>> {
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for k in specs {
        if k.flags & flags::NOT_KEY != 0 {
            continue;
        }
        let mut first = match k.begin {
            Begin::Index(i) => i64::from(i),
            Begin::Keyword(kw, from) => {
                let from = i64::from(from);
                let (start, end) = if from > 0 {
                    (from, argc - 1)
                } else {
                    (argc + from, 1)
                };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if argv[i as usize].eq_ignore_ascii_case(kw.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i += if start <= end { 1 } else { -1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => return None,
        };
        let (last, step) = match k.find {
            Find::Range { last, step, limit } => {
                let last = i64::from(last);
                let end = if last >= 0 {
                    first + last
                } else if limit == 0 {
                    argc + last
                } else {
                    first + ((argc - first) / i64::from(limit) + last)
                };
                (end, i64::from(step))
            }
            Find::Keynum {
                idx,
                first: off,
                step,
            } => {
                let at = first + i64::from(idx);
                if i64::from(idx) >= argc || at >= argc {
                    return None;
                }
                let n = parse_i64(&argv[at as usize]).filter(|n| *n >= 0)?;
                first += i64::from(off);
                (first + n - 1, i64::from(step))
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            if i >= argc || i < first {
                if variadic {
                    i += step.max(1);
                    continue;
                }
                return None;
            }
            out.push((i as usize, k.flags));
            i += step.max(1);
        }
        if k.flags & flags::INCOMPLETE != 0 {
            return None;
        }
    }
    Some(out)
}

/// The flags of the keys at `positions` for the commands whose flags depend on their
/// arguments (Redis's `setGetKeys`, `bitfieldGetKeys`, `sortGetKeys`); `None` for others.
pub fn variable_flags(name: &str, argv: &[Vec<u8>], positions: &[usize]) -> Option<Vec<u16>> {
    use flags::*;
    let is = |i: usize, w: &str| {
        argv.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    match name {
        "set" => {
            let get = (3..argv.len()).any(|i| is(i, "get"));
            Some(vec![
                if get {
                    RW | ACCESS | UPDATE
                } else {
                    OW | UPDATE
                };
                positions.len()
            ])
        }
        "bitfield" => {
            let mut readonly = true;
            let mut i = 2;
            while i < argv.len() {
                let rem = argv.len() - i - 1;
                if is(i, "get") && rem >= 2 {
                    i += 2;
                } else if (is(i, "set") || is(i, "incrby")) && rem >= 3 {
                    readonly = false;
                    break;
                } else if is(i, "overflow") && rem >= 1 {
                    i += 1;
                } else {
                    readonly = false;
                    break;
                }
                i += 1;
            }
            let f = if readonly {
                RO | ACCESS
            } else {
                RW | ACCESS | UPDATE
            };
            Some(vec![f; positions.len()])
        }
        "sort" | "sort_ro" => Some(
            positions
                .iter()
                .enumerate()
                .map(|(n, _)| if n == 0 { RO | ACCESS } else { OW | UPDATE })
                .collect(),
        ),
        _ => None,
    }
}

/// A command's documentation (COMMAND DOCS), as its description declares it.
#[derive(Debug)]
pub struct Docs {
    pub summary: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    pub doc_flags: &'static [&'static str],
    pub deprecated_since: &'static str,
    pub replaced_by: &'static str,
    pub history: &'static [(&'static str, &'static str)],
    /// `None`: the command declares no argument list (not even an empty one).
    pub args: Option<&'static [Arg]>,
}

/// One documented argument.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: &'static str,
    /// -1: not a key.
    pub key_spec_index: i32,
    pub token: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub deprecated_since: &'static str,
    pub flags: &'static [&'static str],
    pub args: &'static [Arg],
}

/// COMMAND DOCS's `arguments` (Redis's `addReplyCommandArgList`).
pub fn args_reply(args: &[Arg]) -> Reply {
    let s = Reply::bulk;
    Reply::Array(
        args.iter()
            .map(|a| {
                let mut m = vec![(s("name"), s(a.name)), (s("type"), s(a.kind))];
                if a.key_spec_index != -1 {
                    m.push((s("key_spec_index"), Reply::Int(a.key_spec_index.into())));
                }
                for (field, v) in [
                    ("token", a.token),
                    ("summary", a.summary),
                    ("since", a.since),
                    ("deprecated_since", a.deprecated_since),
                ] {
                    if !v.is_empty() {
                        m.push((s(field), s(v)));
                    }
                }
                if !a.flags.is_empty() {
                    m.push((
                        s("flags"),
                        Reply::Set(a.flags.iter().map(|f| Reply::simple(f)).collect()),
                    ));
                }
                if a.kind == "oneof" || a.kind == "block" {
                    m.push((s("arguments"), args_reply(a.args)));
                }
                Reply::Map(m)
            })
            .collect(),
    )
}
