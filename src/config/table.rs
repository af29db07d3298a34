//! The shape of Redis's parameter table (`described.rs` holds the rows) and the rules its
//! typed parameters share: how a value is parsed, checked and shown, with Redis's texts.

pub const IMMUTABLE_CONFIG: u32 = 1 << 0;
/// Its value is redacted from MONITOR, SLOWLOG and the command log.
pub const SENSITIVE_CONFIG: u32 = 1 << 1;
pub const DEBUG_CONFIG: u32 = 1 << 2;
/// Its value is split on spaces into several arguments.
pub const MULTI_ARG_CONFIG: u32 = 1 << 3;
/// Listed by CONFIG GET only when asked for by name.
pub const HIDDEN_CONFIG: u32 = 1 << 4;
/// Settable only where `enable-protected-configs` allows it.
pub const PROTECTED_CONFIG: u32 = 1 << 5;
pub const DENY_LOADING_CONFIG: u32 = 1 << 6;
/// Set again even when the value does not change (a file it names may have).
pub const VOLATILE_CONFIG: u32 = 1 << 7;

/// The C type a numeric parameter has in Redis: it decides signed or unsigned range checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Num {
    Int,
    UInt,
    Long,
    ULong,
    LongLong,
    ULongLong,
    SizeT,
    SSizeT,
    TimeT,
    OffT,
}

impl Num {
    /// The types Redis's `numericBoundaryCheck` compares as unsigned.
    fn unsigned(self) -> bool {
        matches!(self, Num::UInt | Num::ULongLong | Num::SizeT)
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Type {
    Bool {
        default: bool,
    },
    Str {
        default: Option<&'static str>,
        empty_is_null: bool,
    },
    /// Names and their values; a MULTI_ARG enum is a set of bit flags.
    Enum {
        options: &'static [(&'static str, i32)],
        default: i32,
    },
    Numeric {
        ty: Num,
        min: i128,
        max: i128,
        default: i128,
        /// Takes `1gb`-style sizes.
        memory: bool,
        /// Takes `N%`, kept as `-N`.
        percent: bool,
        /// Written and shown in octal.
        octal: bool,
    },
    /// Parsed and shown by its own code (save, bind, dir, client-output-buffer-limit, ...).
    Special,
}

/// One parameter of Redis's table.
#[derive(Debug)]
pub struct Described {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub flags: u32,
    pub ty: Type,
}

impl Described {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// The value CONFIG GET shows before anything sets it (`None` for special ones).
    pub fn default_shown(&self) -> Option<String> {
        Some(match self.ty {
            Type::Bool { default } => yes_no(default).into(),
            Type::Str { default, .. } => default.unwrap_or("").into(),
            Type::Enum { options, default } => {
                enum_name(options, default, self.has(MULTI_ARG_CONFIG))
            }
            Type::Numeric {
                default,
                percent,
                octal,
                ..
            } => show_number(default, percent, octal),
            Type::Special => return None,
        })
    }

    /// Parses `value` as Redis's typed set functions do and returns it as CONFIG GET will
    /// show it, or Redis's reason for refusing it. Special parameters are not handled here.
    pub fn parse(&self, value: &str) -> Result<String, String> {
        match self.ty {
            Type::Bool { .. } => {
                if value.eq_ignore_ascii_case("yes") {
                    Ok("yes".into())
                } else if value.eq_ignore_ascii_case("no") {
                    Ok("no".into())
                } else {
                    Err("argument must be 'yes' or 'no'".into())
                }
            }
            Type::Str { .. } => Ok(value.to_string()),
            Type::Enum { options, .. } => {
                let multi = self.has(MULTI_ARG_CONFIG);
                let args = split_multi(value, multi);
                let v = enum_value(options, &args, multi).ok_or_else(|| {
                    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                    format!(
                        "argument(s) must be one of the following: {}",
                        names.join(", ")
                    )
                })?;
                Ok(enum_name(options, v, multi))
            }
            Type::Numeric {
                ty,
                min,
                max,
                memory,
                percent,
                octal,
                ..
            } => {
                let n = parse_number(value, memory, percent, octal)?;
                check_bounds(n, ty, min, max, percent, octal)?;
                Ok(show_number(n, percent, octal))
            }
            Type::Special => Ok(value.to_string()),
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A MULTI_ARG value's arguments: split on every single space, as `sdssplitlen` does (an
/// empty value gives none).
pub fn split_multi(value: &str, multi: bool) -> Vec<&str> {
    if !multi {
        vec![value]
    } else if value.is_empty() {
        Vec::new()
    } else {
        value.split(' ').collect()
    }
}

/// Redis's `configEnumGetValue`: each argument must name an option (any case); bit-flag
/// enums OR theirs together.
fn enum_value(options: &[(&str, i32)], args: &[&str], multi: bool) -> Option<i32> {
    if args.is_empty() || (!multi && args.len() != 1) {
        return None;
    }
    let mut v = 0;
    for a in args {
        let mut matched = false;
        for (name, val) in options {
            if a.eq_ignore_ascii_case(name) {
                v |= val;
                matched = true;
            }
        }
        if !matched {
            return None;
        }
    }
    Some(v)
}

/// Redis's `configEnumGetName`: the first name with exactly this value, else for bit flags
/// the names of its bits, else `unknown`.
fn enum_name(options: &[(&str, i32)], value: i32, multi: bool) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut unmatched = value;
    for (name, v) in options {
        if *v == value {
            return (*name).to_string();
        }
        if multi && *v != 0 && *v == (unmatched & v) {
            names.push(name);
            unmatched &= !v;
        }
    }
    if names.is_empty() || unmatched != 0 {
        return "unknown".into();
    }
    names.join(" ")
}

/// Redis's `memtoull`: digits with an optional `b`/`k`/`kb`/`m`/`mb`/`g`/`gb` (any case).
/// No digits reads as 0, as `strtoull` reads it; the product wraps, as in C.
pub fn memtoull(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits.len() >= 128 {
        return None;
    }
    let n = if digits.is_empty() {
        0
    } else {
        digits.parse::<u64>().ok()?
    };
    Some(n.wrapping_mul(mul))
}

/// Redis's `numericParseString`, as a wide integer (a `memtoull` result stays unsigned).
fn parse_number(value: &str, memory: bool, percent: bool, octal: bool) -> Result<i128, String> {
    if memory {
        if let Some(n) = memtoull(value) {
            // Stored in a `long long`: above LLONG_MAX it reads back negative.
            return Ok(i128::from(n as i64));
        }
    }
    if percent && value.len() > 1 {
        if let Some(n) = value
            .strip_suffix('%')
            .and_then(|p| crate::protocol::parse_i64(p.as_bytes()))
            .filter(|n| *n >= 0)
        {
            return Ok(-i128::from(n));
        }
    }
    if octal {
        if let Some(n) = parse_octal(value) {
            return Ok(i128::from(n));
        }
    }
    if !memory && !percent && !octal {
        if let Some(n) = crate::protocol::parse_i64(value.as_bytes()) {
            return Ok(i128::from(n));
        }
    }
    Err(if memory && percent {
        "argument must be a memory or percent value"
    } else if memory {
        "argument must be a memory value"
    } else if octal {
        "argument couldn't be parsed as an octal number"
    } else {
        "argument couldn't be parsed into an integer"
    }
    .into())
}

/// `strtoll(s, &end, 8)` that must consume everything and not overflow.
fn parse_octal(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        // strtoll with no digits consumes nothing: the end is not the string's end (unless
        // the string is empty, which it reads as 0).
        return if s.is_empty() { Some(0) } else { None };
    }
    let n = i64::from_str_radix(digits, 8).ok()?;
    Some(if neg { -n } else { n })
}

/// Redis's `numericBoundaryCheck`, with its texts.
fn check_bounds(
    n: i128,
    ty: Num,
    min: i128,
    max: i128,
    percent: bool,
    octal: bool,
) -> Result<(), String> {
    if ty.unsigned() {
        // The value is a `long long` reinterpreted as unsigned.
        let u = n as i64 as u64 as i128;
        if u > max || u < min {
            return Err(if octal {
                format!("argument must be between {min:o} and {max:o} inclusive")
            } else {
                format!("argument must be between {min} and {max} inclusive")
            });
        }
    } else if percent && n < 0 {
        if n < min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                -min
            ));
        }
    } else if n > max || n < min {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(())
}

/// Redis's `numericConfigGet`: a percentage as `N%`, octal in octal.
fn show_number(n: i128, percent: bool, octal: bool) -> String {
    if percent && n < 0 {
        format!("{}%", -n)
    } else if octal {
        format!("{n:o}")
    } else {
        n.to_string()
    }
}

/// The parameter called `name` (any case), by its name or an alias.
pub fn lookup(name: &str) -> Option<&'static Described> {
    super::described::CONFIGS.iter().find(|d| {
        d.name.eq_ignore_ascii_case(name) || d.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_parse_and_show_as_redis_does() {
        let d = |n| lookup(n).unwrap();
        assert_eq!(d("maxmemory").parse("1mb").unwrap(), "1048576");
        assert_eq!(
            d("maxmemory").parse("x").unwrap_err(),
            "argument must be a memory value"
        );
        assert_eq!(d("maxmemory-clients").parse("10%").unwrap(), "10%");
        assert_eq!(
            d("maxmemory-clients").parse("200%").unwrap_err(),
            "percentage argument must be less or equal to 100"
        );
        assert_eq!(d("unixsocketperm").parse("700").unwrap(), "700");
        assert_eq!(
            d("unixsocketperm").parse("1000").unwrap_err(),
            "argument must be between 0 and 777 inclusive"
        );
        assert_eq!(
            d("port").parse("70000").unwrap_err(),
            "argument must be between 0 and 65535 inclusive"
        );
        assert_eq!(
            d("hz").parse("x").unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(d("activerehashing").parse("YES").unwrap(), "yes");
        assert_eq!(d("loglevel").parse("Verbose").unwrap(), "verbose");
        assert_eq!(d("oom-score-adj").parse("relative").unwrap(), "yes");
        assert_eq!(
            d("shutdown-on-sigterm").parse("now nosave").unwrap(),
            "nosave now"
        );
        assert!(d("loglevel")
            .parse("loud")
            .unwrap_err()
            .starts_with("argument(s) must be one of the following: debug, verbose"));
        assert_eq!(d("SLAVEOF").name, "replicaof");
        assert_eq!(d("lua-time-limit").name, "busy-reply-threshold");
        assert_eq!(
            d("proc-title-template").default_shown().unwrap(),
            "{title} {listen-addr} {server-mode}"
        );
        assert_eq!(memtoull(""), Some(0));
        assert_eq!(memtoull("-1"), None);
    }
}
