//! Resumable RESP request parser: multibulk (`*N\r\n$len\r\n...`) and inline, like Redis's
//! `processMultibulkBuffer` / `processInlineBuffer`.
//!
//! The parser keeps its place between reads: a header line is never rescanned from its start,
//! and a bulk is only copied out once all of its bytes have arrived, so memory grows with the
//! bytes received, never with a length a header announces. A big bulk (Redis's
//! `PROTO_MBULK_BIG_ARG`, 32 KB) is the exception to "once all have arrived": its bytes move
//! into a buffer of its own as they come, so the input buffer never has to hold it whole (a
//! 100 MB `SET` made the input buffer 128 MB, beside the argument and the stored value).

use super::{inline, parse_i64, ProtocolError, ARGV_PREALLOC_MAX, INLINE_MAX, PROTO_MAX_BULK_LEN};

/// One client's parse state. Feed it the unconsumed input; it hands back whole requests.
#[derive(Debug)]
pub struct RequestParser {
    /// Arguments still expected by the multibulk request in progress (0: between requests).
    remaining: usize,
    /// Length of the bulk being waited for, once its `$len` line has been read.
    bulk_len: Option<usize>,
    argv: Vec<Vec<u8>>,
    /// Memory held by `argv` for the request in progress (bytes plus per-argument overhead).
    held: usize,
    /// The big bulk being gathered (see [`BIG_ARG`]); empty otherwise.
    big: Vec<u8>,
    /// Bytes of the line end after a gathered big bulk still to skip.
    big_crlf: usize,
    /// Bytes after the current position already known to hold no line end.
    searched: usize,
    /// Argument buffers handed back by `recycle`, reused so a steady stream of requests
    /// allocates nothing for its arguments. Bounded in count and in each buffer's size.
    spare: Vec<Vec<u8>>,
    spare_argv: Vec<Vec<u8>>,
    /// Largest bulk accepted (`proto-max-bulk-len`).
    max_bulk: usize,
    /// The client has not authenticated: requests and arguments are held to Redis's small
    /// limits for that state.
    unauthenticated: bool,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser {
            remaining: 0,
            bulk_len: None,
            argv: Vec::new(),
            held: 0,
            big: Vec::new(),
            big_crlf: 0,
            searched: 0,
            spare: Vec::new(),
            spare_argv: Vec::new(),
            max_bulk: PROTO_MAX_BULK_LEN as usize,
            unauthenticated: false,
        }
    }
}

/// A bulk at least this long is gathered as it arrives (Redis's `PROTO_MBULK_BIG_ARG`).
const BIG_ARG: usize = 32 * 1024;

/// Argument buffers larger than this are freed rather than kept for reuse.
const RECYCLE_MAX_BYTES: usize = 512;
/// At most this many spare argument buffers are kept.
const RECYCLE_MAX_COUNT: usize = 16;

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest bulk argument to accept from now on (`proto-max-bulk-len`, live).
    pub fn set_max_bulk(&mut self, max: u64) {
        self.max_bulk = usize::try_from(max).unwrap_or(usize::MAX);
    }

    /// Whether the client has yet to authenticate (live, like `set_max_bulk`).
    pub fn set_unauthenticated(&mut self, yes: bool) {
        self.unauthenticated = yes;
    }

    /// True while a request has been started but not completed.
    pub fn in_request(&self) -> bool {
        self.remaining > 0
    }

    /// Between requests, on an idle connection: gives back the spare argument buffers.
    pub fn release(&mut self) {
        self.spare = Vec::new();
        self.spare_argv = Vec::new();
    }

    /// Memory held for the unfinished request's arguments. Completed arguments have left the
    /// input buffer, so the query-buffer limit must count them too.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Takes back a request's arguments once it has run, keeping small buffers for the next.
    pub fn recycle(&mut self, mut argv: Vec<Vec<u8>>) {
        for mut arg in argv.drain(..) {
            if arg.capacity() <= RECYCLE_MAX_BYTES && self.spare.len() < RECYCLE_MAX_COUNT {
                arg.clear();
                self.spare.push(arg);
            }
        }
        if argv.capacity() <= ARGV_PREALLOC_MAX && self.spare_argv.capacity() == 0 {
            self.spare_argv = argv;
        }
    }

    /// Bytes still needed to complete the bulk being read, if one is under way (for a big
    /// one, beyond what it has gathered).
    pub fn pending_bulk(&self) -> Option<usize> {
        self.bulk_len.map(|n| {
            if n >= BIG_ARG {
                n - self.big.len() + if self.big.len() < n { 2 } else { self.big_crlf }
            } else {
                n + 2
            }
        })
    }

    /// Parses the next complete request from `buf[*pos..]`, advancing `*pos` past what it
    /// consumed. `Ok(None)` means more input is needed; empty requests are skipped.
    pub fn parse(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
    ) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        loop {
            if self.remaining == 0 {
                let rest = &buf[*pos..];
                let Some(&first) = rest.first() else {
                    return Ok(None);
                };
                if first == b'*' {
                    let Some(cr) = self.find(rest, b'\r') else {
                        if rest.len() > INLINE_MAX {
                            return Err(ProtocolError::TooBigMbulkCount);
                        }
                        return Ok(None);
                    };
                    if cr + 2 > rest.len() {
                        return Ok(None);
                    }
                    let n = parse_i64(&rest[1..cr])
                        .filter(|&n| n <= i64::from(i32::MAX))
                        .ok_or(ProtocolError::InvalidMultibulkLength)?;
                    if self.unauthenticated && n > 10 {
                        return Err(ProtocolError::UnauthenticatedMultibulkLength);
                    }
                    self.advance(pos, cr + 2);
                    if n <= 0 {
                        continue;
                    }
                    self.remaining = n as usize;
                    self.argv = std::mem::take(&mut self.spare_argv);
                    self.argv.reserve(self.remaining.min(ARGV_PREALLOC_MAX));
                } else {
                    let Some(nl) = self.find(rest, b'\n') else {
                        if rest.len() > INLINE_MAX {
                            return Err(ProtocolError::TooBigInline);
                        }
                        return Ok(None);
                    };
                    let line_end = if nl > 0 && rest[nl - 1] == b'\r' {
                        nl - 1
                    } else {
                        nl
                    };
                    let args = inline::split_args(&rest[..line_end])
                        .ok_or(ProtocolError::UnbalancedQuotes)?;
                    self.advance(pos, nl + 1);
                    if args.is_empty() {
                        continue;
                    }
                    return Ok(Some(args));
                }
            }
            while self.remaining > 0 {
                let rest = &buf[*pos..];
                let len = match self.bulk_len {
                    Some(len) => len,
                    None => {
                        let Some(cr) = self.find(rest, b'\r') else {
                            if rest.len() > INLINE_MAX {
                                return Err(ProtocolError::TooBigBulkCount);
                            }
                            return Ok(None);
                        };
                        if cr + 2 > rest.len() {
                            return Ok(None);
                        }
                        if rest[0] != b'$' {
                            return Err(ProtocolError::ExpectedDollar(rest[0]));
                        }
                        let len = parse_i64(&rest[1..cr])
                            .filter(|&n| n >= 0 && n as u64 <= self.max_bulk as u64)
                            .ok_or(ProtocolError::InvalidBulkLength)?
                            as usize;
                        if self.unauthenticated && len > 16384 {
                            return Err(ProtocolError::UnauthenticatedBulkLength);
                        }
                        self.advance(pos, cr + 2);
                        self.bulk_len = Some(len);
                        len
                    }
                };
                if len >= BIG_ARG {
                    let Some(arg) = self.gather_big(buf, pos, len) else {
                        return Ok(None);
                    };
                    self.argv.push(arg);
                    self.held += std::mem::size_of::<Vec<u8>>();
                    self.bulk_len = None;
                    self.remaining -= 1;
                    continue;
                }
                let rest = &buf[*pos..];
                if rest.len() < len + 2 {
                    return Ok(None);
                }
                // Like Redis, the two bytes after the bulk are skipped, not checked.
                let mut arg = self.spare.pop().unwrap_or_default();
                arg.extend_from_slice(&rest[..len]);
                self.argv.push(arg);
                self.held += len + std::mem::size_of::<Vec<u8>>();
                self.advance(pos, len + 2);
                self.bulk_len = None;
                self.remaining -= 1;
            }
            self.held = 0;
            return Ok(Some(std::mem::take(&mut self.argv)));
        }
    }

    /// Moves what has arrived of a big bulk of `len` bytes into its own buffer, consuming it;
    /// the whole bulk once it and its line end are in. The buffer grows with the bytes that
    /// arrive (doubling, up to `len` exactly), not with the length the header announced.
    fn gather_big(&mut self, buf: &[u8], pos: &mut usize, len: usize) -> Option<Vec<u8>> {
        if self.big.len() < len {
            let rest = &buf[*pos..];
            let take = (len - self.big.len()).min(rest.len());
            let need = self.big.len() + take;
            if need > self.big.capacity() {
                let target = need.max(self.big.capacity() * 2).min(len);
                self.big.reserve_exact(target - self.big.len());
            }
            self.big.extend_from_slice(&rest[..take]);
            self.held += take;
            self.advance(pos, take);
            if self.big.len() < len {
                return None;
            }
            self.big_crlf = 2;
        }
        // Like Redis, the two bytes after the bulk are skipped, not checked.
        let skip = self.big_crlf.min(buf.len() - *pos);
        self.advance(pos, skip);
        self.big_crlf -= skip;
        if self.big_crlf > 0 {
            return None;
        }
        Some(std::mem::take(&mut self.big))
    }

    /// Finds `byte` in `rest`, resuming after the part searched by an earlier call.
    fn find(&mut self, rest: &[u8], byte: u8) -> Option<usize> {
        let from = self.searched.min(rest.len());
        match rest[from..].iter().position(|&c| c == byte) {
            Some(i) => Some(from + i),
            None => {
                self.searched = rest.len();
                None
            }
        }
    }

    fn advance(&mut self, pos: &mut usize, n: usize) {
        *pos += n;
        self.searched = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>) {
        let mut p = RequestParser::new();
        let mut pos = 0;
        let mut out = Vec::new();
        loop {
            match p.parse(input, &mut pos) {
                Ok(Some(cmd)) => out.push(cmd),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    fn strs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_big_bulk_is_gathered_as_it_arrives_into_a_buffer_of_its_own() {
        let len = BIG_ARG * 5 + 3;
        let mut wire = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${len}\r\n").into_bytes();
        let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        wire.extend_from_slice(&body);
        wire.extend_from_slice(b"\r\n*1\r\n$4\r\nPING\r\n");
        for piece in [1, 7, 1000, 4096, BIG_ARG + 1, wire.len()] {
            let mut p = RequestParser::new();
            let (mut input, mut fed, mut got) = (Vec::new(), 0, Vec::new());
            while fed < wire.len() {
                let n = piece.min(wire.len() - fed);
                input.extend_from_slice(&wire[fed..fed + n]);
                fed += n;
                let mut pos = 0;
                while let Some(cmd) = p.parse(&input, &mut pos).unwrap() {
                    got.push(cmd);
                }
                input.drain(..pos);
                // What has arrived of the big bulk has left the input buffer, and counts as
                // held for the query-buffer limit.
                assert!(
                    input.len() < 64 + piece.min(BIG_ARG),
                    "piece {piece}: {}",
                    input.len()
                );
                if got.is_empty() && p.in_request() {
                    let consumed = fed - input.len();
                    assert!(p.held_bytes() + 64 >= consumed, "piece {piece}");
                }
            }
            assert_eq!(got.len(), 2, "piece {piece}");
            assert_eq!(got[0][2], body, "piece {piece}");
            assert_eq!(
                got[0][2].capacity(),
                len,
                "piece {piece}: grown past its length"
            );
            assert_eq!(got[1], strs(&["PING"]));
            assert_eq!(p.held_bytes(), 0);
        }
    }

    #[test]
    fn a_big_bulk_header_alone_allocates_nothing() {
        let mut p = RequestParser::new();
        let mut pos = 0;
        let input = b"*2\r\n$3\r\nGET\r\n$400000000\r\n";
        assert_eq!(p.parse(input, &mut pos).unwrap(), None);
        assert_eq!(p.big.capacity(), 0);
        assert_eq!(p.pending_bulk(), Some(400_000_002));
    }

    #[test]
    fn multibulk_and_inline_mixed() {
        let (cmds, err) = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n\r\n\nSET a b\n");
        assert_eq!(err, None);
        assert_eq!(
            cmds,
            vec![
                strs(&["GET", "k"]),
                strs(&["PING"]),
                strs(&["SET", "a", "b"])
            ]
        );
    }

    #[test]
    fn binary_safe_bulk() {
        let (cmds, _) = parse_all(b"*2\r\n$3\r\nSET\r\n$4\r\na\r\n\0\r\n");
        assert_eq!(cmds, vec![vec![b"SET".to_vec(), b"a\r\n\0".to_vec()]]);
    }

    #[test]
    fn one_byte_at_a_time() {
        let input = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\nGET key\r\n";
        let mut p = RequestParser::new();
        let mut buf = Vec::new();
        let mut pos = 0;
        let mut cmds = Vec::new();
        for &b in input.iter() {
            buf.push(b);
            while let Some(cmd) = p.parse(&buf, &mut pos).unwrap() {
                cmds.push(cmd);
            }
        }
        assert_eq!(
            cmds,
            vec![strs(&["SET", "key", "value"]), strs(&["GET", "key"])]
        );
        assert_eq!(pos, buf.len());
        assert!(!p.in_request());
    }

    #[test]
    fn empty_multibulk_is_skipped() {
        let (cmds, err) = parse_all(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(err, None);
        assert_eq!(cmds, vec![strs(&["PING"])]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_all(b"*x\r\n").1,
            Some(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*\r\n").1,
            Some(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*3000000000\r\n").1,
            Some(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n+x\r\n").1,
            Some(ProtocolError::ExpectedDollar(b'+'))
        );
        assert_eq!(
            parse_all(b"*1\r\n$-1\r\n").1,
            Some(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n$abc\r\n").1,
            Some(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n$536870913\r\n").1,
            Some(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"set \"a\n").1,
            Some(ProtocolError::UnbalancedQuotes)
        );
        let long = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(parse_all(&long).1, Some(ProtocolError::TooBigInline));
        let mut long = b"*".to_vec();
        long.extend(vec![b'1'; INLINE_MAX + 1]);
        assert_eq!(parse_all(&long).1, Some(ProtocolError::TooBigMbulkCount));
        let mut long = b"*1\r\n$".to_vec();
        long.extend(vec![b'1'; INLINE_MAX + 1]);
        assert_eq!(parse_all(&long).1, Some(ProtocolError::TooBigBulkCount));
    }

    #[test]
    fn bulk_limit_is_the_live_setting() {
        let mut p = RequestParser::new();
        p.set_max_bulk(4);
        let mut pos = 0;
        let ok = p.parse(b"*1\r\n$4\r\nPING\r\n", &mut pos).unwrap();
        assert_eq!(ok, Some(vec![b"PING".to_vec()]));
        let mut pos = 0;
        assert_eq!(
            p.parse(b"*1\r\n$5\r\nHELLO\r\n", &mut pos),
            Err(ProtocolError::InvalidBulkLength)
        );
    }

    #[test]
    fn commands_before_an_error_are_returned() {
        let (cmds, err) = parse_all(b"PING\r\n*1\r\n$x\r\n");
        assert_eq!(cmds, vec![strs(&["PING"])]);
        assert_eq!(err, Some(ProtocolError::InvalidBulkLength));
    }

    #[test]
    fn held_bytes_count_parsed_arguments_of_an_unfinished_request() {
        let mut p = RequestParser::new();
        let mut pos = 0;
        let buf = b"*1000\r\n$3\r\nabc\r\n$0\r\n\r\n";
        assert_eq!(p.parse(buf, &mut pos).unwrap(), None);
        assert_eq!(pos, buf.len(), "both arguments left the input buffer");
        assert_eq!(p.held_bytes(), 3 + 2 * std::mem::size_of::<Vec<u8>>());
        let mut p = RequestParser::new();
        let mut pos = 0;
        assert!(p.parse(b"*1\r\n$3\r\nabc\r\n", &mut pos).unwrap().is_some());
        assert_eq!(p.held_bytes(), 0);
    }

    #[test]
    fn header_does_not_trust_announced_length() {
        let mut p = RequestParser::new();
        let mut pos = 0;
        let buf = b"*1000000000\r\n$536870912\r\nabc";
        assert_eq!(p.parse(buf, &mut pos).unwrap(), None);
        assert!(p.argv.capacity() <= ARGV_PREALLOC_MAX);
        // The 3 bytes that came are gathered; the rest (and the line end) are still to come.
        assert_eq!(p.pending_bulk(), Some(536870911));
        assert!(p.big.capacity() < 64);
    }

    #[test]
    fn recycled_buffers_carry_no_stale_bytes_and_stay_small() {
        let mut p = RequestParser::new();
        let big = vec![b'x'; 10_000];
        let mut first = b"*3\r\n$3\r\nabc\r\n$1\r\nx\r\n$10000\r\n".to_vec();
        first.extend_from_slice(&big);
        first.extend_from_slice(b"\r\n");
        let mut pos = 0;
        let argv = p.parse(&first, &mut pos).unwrap().unwrap();
        assert_eq!(argv[2], big);
        p.recycle(argv);
        assert!(p
            .spare
            .iter()
            .all(|b| b.capacity() <= RECYCLE_MAX_BYTES && b.is_empty()));
        assert_eq!(
            p.spare.len(),
            2,
            "the 10,000-byte argument is freed, not kept"
        );
        let mut pos = 0;
        let argv = p
            .parse(b"*2\r\n$1\r\ny\r\n$2\r\nzz\r\n", &mut pos)
            .unwrap()
            .unwrap();
        assert_eq!(argv, vec![b"y".to_vec(), b"zz".to_vec()]);
        for _ in 0..100 {
            p.recycle((0..40).map(|_| Vec::with_capacity(8)).collect());
        }
        assert!(p.spare.len() <= RECYCLE_MAX_COUNT);
    }
}
