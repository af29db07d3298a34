//! Argument access for handlers, and the fixed error texts they reply with (Redis's `shared.*`).

use std::borrow::Cow;

use crate::protocol::{parse_i64, Reply};
use crate::store::WrongType;

/// An error reply: the text without the leading `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, [u8]>);

pub type CmdResult = Result<Reply, CmdError>;

pub const SYNTAX: CmdError = err("ERR syntax error");
pub const NOT_INTEGER: CmdError = err("ERR value is not an integer or out of range");
pub const NOT_FLOAT: CmdError = err("ERR value is not a valid float");
pub const WRONG_TYPE: CmdError =
    err("WRONGTYPE Operation against a key holding the wrong kind of value");
pub const OVERFLOW: CmdError = err("ERR increment or decrement would overflow");
pub const NO_SUCH_KEY: CmdError = err("ERR no such key");
pub const DB_INDEX: CmdError = err("ERR DB index is out of range");
pub const STRING_TOO_LONG: CmdError =
    err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");

/// A fixed error text.
pub const fn err(text: &'static str) -> CmdError {
    CmdError(Cow::Borrowed(text.as_bytes()))
}

impl CmdError {
    /// An error text built at run time.
    pub fn msg(text: impl Into<String>) -> CmdError {
        CmdError(Cow::Owned(text.into().into_bytes()))
    }
}

impl From<WrongType> for CmdError {
    fn from(_: WrongType) -> Self {
        WRONG_TYPE
    }
}

impl From<CmdError> for Reply {
    fn from(e: CmdError) -> Reply {
        Reply::Error(e.0)
    }
}

/// The arguments of one request, `argv[0]` being the command name as sent.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    argv: &'a [Vec<u8>],
}

impl<'a> Args<'a> {
    pub fn new(argv: &'a [Vec<u8>]) -> Self {
        Args { argv }
    }

    /// argc, the command name included.
    pub fn len(&self) -> usize {
        self.argv.len()
    }

    pub fn is_empty(&self) -> bool {
        self.argv.is_empty()
    }

    /// Argument `i` (0 is the command name). Dispatch has checked the arity, so handlers index
    /// freely below it; past the end this is an empty string rather than a panic.
    pub fn get(&self, i: usize) -> &'a [u8] {
        self.argv.get(i).map(Vec::as_slice).unwrap_or(b"")
    }

    pub fn all(&self) -> &'a [Vec<u8>] {
        self.argv
    }

    /// Arguments from `i` on.
    pub fn from(&self, i: usize) -> &'a [Vec<u8>] {
        self.argv.get(i..).unwrap_or(&[])
    }

    /// Argument `i` as text, for error messages.
    pub fn text(&self, i: usize) -> Cow<'a, str> {
        String::from_utf8_lossy(self.get(i))
    }

    /// Is argument `i` the keyword `word` (any case)?
    pub fn is(&self, i: usize, word: &str) -> bool {
        self.get(i).eq_ignore_ascii_case(word.as_bytes())
    }

    /// Argument `i` as an integer, with Redis's strictness.
    pub fn int(&self, i: usize) -> Result<i64, CmdError> {
        parse_i64(self.get(i)).ok_or(NOT_INTEGER)
    }

    /// Argument `i` as a 32-bit integer (Redis's `getIntFromObjectOrReply`).
    pub fn int32(&self, i: usize) -> Result<i64, CmdError> {
        let n = self.int(i)?;
        if n < i64::from(i32::MIN) || n > i64::from(i32::MAX) {
            return Err(err(
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            ));
        }
        Ok(n)
    }

    /// Argument `i` as an integer in `[min, max]`; `msg` is the error for a non-integer and for
    /// one out of range (Redis's `getRangeLongFromObjectOrReply` with a message).
    pub fn range(&self, i: usize, min: i64, max: i64, msg: &'static str) -> Result<i64, CmdError> {
        parse_i64(self.get(i))
            .filter(|n| (min..=max).contains(n))
            .ok_or(err(msg))
    }

    /// Argument `i` as a count that must not be negative (Redis's
    /// `getPositiveLongFromObjectOrReply` without a message).
    pub fn positive(&self, i: usize) -> Result<i64, CmdError> {
        self.range(
            i,
            0,
            i64::MAX,
            "ERR value is out of range, must be positive",
        )
    }

    /// Argument `i` as a blocking timeout in seconds (a float; 0 waits forever): milliseconds,
    /// with Redis's errors.
    pub fn timeout_ms(&self, i: usize) -> Result<i64, CmdError> {
        extern "C" {
            fn spindle_timeout_ms(s: *const u8, len: usize, out: *mut i64) -> i32;
        }
        let arg = self.get(i);
        let mut ms: i64 = 0;
        // SAFETY: `arg` is a live buffer of `arg.len()` bytes and `ms` a writable i64; the C
        // side reads at most that many bytes.
        let rc = unsafe { spindle_timeout_ms(arg.as_ptr(), arg.len(), &mut ms) };
        if rc != 0 {
            return Err(err("ERR timeout is not a float or out of range"));
        }
        if ms < 0 {
            return Err(err("ERR timeout is negative"));
        }
        Ok(ms)
    }

    /// Argument `i` as a finite-or-infinite float (never NaN).
    pub fn float(&self, i: usize) -> Result<f64, CmdError> {
        parse_f64(self.get(i)).ok_or(NOT_FLOAT)
    }
}

/// C's `strtod` on `s` as a C string (it stops at a NUL byte, as Redis's calls do): the value,
/// the bytes it consumed, and whether it over- or underflowed (`ERANGE`). Redis parses every
/// double argument with it, so hex floats, `infinity` and leading spaces mean what they mean
/// there.
pub fn strtod(s: &[u8]) -> (f64, usize, bool) {
    if let Some(v) = plain_decimal(s) {
        return (v, s.len(), false);
    }
    // A short argument is copied to the stack to be NUL-terminated; a long one to the heap.
    let mut stack = [0u8; 64];
    let mut heap = Vec::new();
    let c: &[u8] = if s.len() < stack.len() {
        stack[..s.len()].copy_from_slice(s);
        &stack[..=s.len()]
    } else {
        heap.reserve_exact(s.len() + 1);
        heap.extend_from_slice(s);
        heap.push(0);
        &heap
    };
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `c` is NUL-terminated and outlives the call; `end` is written by strtod to point
    // into `c`; errno is thread-local.
    let (value, erange) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(c.as_ptr().cast(), &mut end);
        (v, *libc::__errno_location() == libc::ERANGE)
    };
    let consumed = (end as usize).saturating_sub(c.as_ptr() as usize);
    (value, consumed.min(s.len()), erange)
}

/// The common case without libc: an optional sign, up to 15 digits, optionally a point and up
/// to 15 more. Such a number can neither overflow nor underflow, and Rust's conversion is
/// correctly rounded, as glibc's strtod is, so both give the same double.
fn plain_decimal(s: &[u8]) -> Option<f64> {
    let body = match s.first()? {
        b'-' | b'+' => &s[1..],
        _ => s,
    };
    let (int, frac) = match body.iter().position(|&b| b == b'.') {
        Some(p) => (&body[..p], Some(&body[p + 1..])),
        None => (body, None),
    };
    let digits = |d: &[u8]| d.len() <= 15 && d.iter().all(u8::is_ascii_digit);
    let ok = !int.is_empty() && digits(int) && frac.is_none_or(|f| !f.is_empty() && digits(f));
    if !ok {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Parses a float exactly as Redis's `getDoubleFromObject`: strtod over the whole argument, no
/// leading space, no NaN, no overflow to infinity or underflow to zero.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s[0] == 0x0b {
        return None;
    }
    let (v, consumed, erange) = strtod(s);
    if consumed != s.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}

/// The `numkeys key [key ...] <which end> [COUNT count]` of LMPOP/BLMPOP and ZMPOP/BZMPOP,
/// starting at `at`, with Redis's checks and texts: the keys, what `end` makes of the end
/// argument, and the count (1 by default).
pub fn mpop_args<'a, T>(
    args: &Args<'a>,
    at: usize,
    end: impl Fn(&Args<'a>, usize) -> Result<T, CmdError>,
) -> Result<(&'a [Vec<u8>], T, usize), CmdError> {
    let numkeys = args.range(at, 1, i64::MAX, "ERR numkeys should be greater than 0")? as usize;
    let where_at = at
        .checked_add(numkeys)
        .and_then(|n| n.checked_add(1))
        .filter(|&n| n < args.len())
        .ok_or(SYNTAX)?;
    let which = end(args, where_at)?;
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && args.is(j, "COUNT") && j + 1 < args.len() {
            j += 1;
            count = Some(args.range(j, 1, i64::MAX, "ERR count should be greater than 0")?);
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    Ok((
        &args.all()[at + 1..where_at],
        which,
        count.unwrap_or(1) as usize,
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_f64;

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-2"), Some(-2.0));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b".5"), Some(0.5));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"1."), Some(1.0));
        assert_eq!(parse_f64(b"+3"), Some(3.0));
        assert_eq!(parse_f64(b"-0.25"), Some(-0.25));
        assert_eq!(parse_f64(b"0.1"), Some(0.1));
        assert_eq!(
            parse_f64(b"123456789012345.123456789012345"),
            "123456789012345.123456789012345".parse().ok()
        );
        assert!(parse_f64(b"-0").is_some_and(|v| v == 0.0 && v.is_sign_negative()));
        for bad in [&b"."[..], b"-", b"+", b"--1", b"1..2"] {
            assert_eq!(parse_f64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_f64(b"infinity"), Some(f64::INFINITY));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"abc",
            b"1e400",
            b"1e-400",
            b"1.5x",
            b"1\0",
        ] {
            assert_eq!(parse_f64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
