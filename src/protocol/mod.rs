//! Bytes in, bytes out: the RESP request parser and the reply encoder.
//!
//! This layer knows no command names. Its limits are Redis's (`networking.c`), so a client
//! can never make the server buffer more than they allow.

pub mod inline;
pub mod reply;
pub mod request;

pub use reply::{bulk as encode_bulk, encode, encode_streaming, Bulks, Reply, ReplyStream, Shape};
pub use request::RequestParser;

/// Longest inline request, and longest `*N` / `$N` header line (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;
/// Largest bulk argument (Redis's `proto-max-bulk-len`, 512 MB).
pub const PROTO_MAX_BULK_LEN: i64 = 512 * 1024 * 1024;
/// Unparsed input beyond this closes the client (Redis's `client-query-buffer-limit`, 1 GB).
pub const QUERY_BUF_LIMIT: usize = 1024 * 1024 * 1024;
/// argv is preallocated to at most this many slots whatever `*N` announces.
pub const ARGV_PREALLOC_MAX: usize = 1024;

/// A request the parser cannot accept. The client gets `-ERR Protocol error: ...` and is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    TooBigInline,
    UnbalancedQuotes,
    TooBigMbulkCount,
    InvalidMultibulkLength,
    TooBigBulkCount,
    ExpectedDollar(u8),
    InvalidBulkLength,
    /// Before AUTH, a request of more than 10 arguments (Redis's guard against unauthenticated
    /// clients making it allocate).
    UnauthenticatedMultibulkLength,
    /// Before AUTH, an argument of more than 16 KiB.
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The error reply's text, without the leading `-`, exactly as Redis 7.0 writes it.
    pub fn message(&self) -> Vec<u8> {
        let text: &[u8] = match self {
            ProtocolError::TooBigInline => b"ERR Protocol error: too big inline request",
            ProtocolError::UnbalancedQuotes => b"ERR Protocol error: unbalanced quotes in request",
            ProtocolError::TooBigMbulkCount => b"ERR Protocol error: too big mbulk count string",
            ProtocolError::InvalidMultibulkLength => {
                b"ERR Protocol error: invalid multibulk length"
            }
            ProtocolError::TooBigBulkCount => b"ERR Protocol error: too big bulk count string",
            ProtocolError::InvalidBulkLength => b"ERR Protocol error: invalid bulk length",
            ProtocolError::UnauthenticatedMultibulkLength => {
                b"ERR Protocol error: unauthenticated multibulk length"
            }
            ProtocolError::UnauthenticatedBulkLength => {
                b"ERR Protocol error: unauthenticated bulk length"
            }
            ProtocolError::ExpectedDollar(c) => {
                let mut m = b"ERR Protocol error: expected '$', got '".to_vec();
                // Redis would print the raw byte; CR/LF would break the reply line.
                m.push(if *c == b'\r' || *c == b'\n' { b' ' } else { *c });
                m.push(b'\'');
                return m;
            }
        };
        text.to_vec()
    }
}

/// Parses a whole byte string as a signed 64-bit integer with Redis's `string2ll` rules:
/// no sign but `-`, no leading zeros, no spaces, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_i64;

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"0x10",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }
}
